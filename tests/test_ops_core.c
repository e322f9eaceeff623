/* Gradient checks and forward values for the core ops: linear (every fused
 * activation), matmul, add/mul with broadcast, scale, sum, activations and
 * the losses. Several shapes each, batch size 1 and odd sizes included. */
#include "gradcheck.h"
#include "core/core.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* loss = sum(y * r) with r a fixed random input of y's shape, so that every
 * output element gets a different weight. */
static gg_node weigh(gg_graph *g, gg_node y, const char *rname)
{
    gg_shape s = gg_graph_shape(g, y);
    gg_shape ss = {s.ndim - 1, {s.d[1], s.d[2], s.d[3], 0}};
    gg_node r = gg_input(g, rname, ss);
    return gg_sum(g, gg_mul(g, y, r), 1.0f);
}

static void check_linear(int batch, int in, int out, gg_act act, int bias)
{
    char what[96];
    snprintf(what, sizeof what, "linear N=%d %d->%d act=%s bias=%d", batch, in, out, gg_act_name(act), bias);
    gg_graph *g = gg_graph_new(batch);
    gg_node x = gg_input(g, "x", gg_shape1(in));
    gg_graph_requires_grad(g, x);
    gg_graph_scope(g, "fc");
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    gg_node w = gg_param(g, "fc.weight", gg_shape2(out, in), z);
    gg_node b = bias ? gg_param(g, "fc.bias", gg_shape1(out), z) : -1;
    gg_node y = gg_linear(g, x, w, b, act);
    gg_graph_scope(g, NULL);
    gg_node L = weigh(g, y, "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 7 + (uint64_t)in, 0.02f);
    gg_node nodes[3] = {x, w, b};
    gradcheck(g, L, nodes, bias ? 3 : 2, 25, what);
    gg_graph_free(g);
}

static void check_matmul(int batch, int M, int K, int N, int batched_b)
{
    char what[96];
    snprintf(what, sizeof what, "matmul N=%d (%d,%d)x(%d,%d) batched=%d", batch, M, K, K, N, batched_b);
    gg_graph *g = gg_graph_new(batch);
    gg_node a = gg_input(g, "a", gg_shape2(M, K));
    gg_graph_requires_grad(g, a);
    gg_node b;
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    if (batched_b) {
        b = gg_input(g, "b", gg_shape2(K, N));
        gg_graph_requires_grad(g, b);
    } else {
        b = gg_param(g, "m.weight", gg_shape2(K, N), z);
    }
    gg_node L = weigh(g, gg_matmul(g, a, b), "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 3, 0);
    gg_node nodes[2] = {a, b};
    gradcheck(g, L, nodes, 2, 20, what);
    gg_graph_free(g);
}

static void check_binary(int mul, int bcast)
{
    char what[64];
    snprintf(what, sizeof what, "%s bcast=%d", mul ? "mul" : "add", bcast);
    gg_graph *g = gg_graph_new(3);
    gg_node a = gg_input(g, "a", gg_shape2(4, 5));
    gg_graph_requires_grad(g, a);
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    gg_node b;
    if (bcast) {
        b = gg_param(g, "p.weight", gg_shape1(5), z);
    } else {
        b = gg_input(g, "b", gg_shape2(4, 5));
        gg_graph_requires_grad(g, b);
    }
    gg_node y = mul ? gg_mul(g, a, b) : gg_add(g, a, b);
    gg_node L = weigh(g, gg_scale(g, y, -1.5f), "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 5, 0);
    gg_node nodes[2] = {a, b};
    gradcheck(g, L, nodes, 2, 30, what);
    gg_graph_free(g);
}

/* A gradient with several writers in one backward pass: x feeds a linear
 * and an add, h = linear(x) feeds add(h, h), a view of h feeds a mul and a
 * layer norm. The first writer of each stores and the others add (ops
 * marked fresh), or it is zeroed first (the others); checked twice on the
 * same graph, so a gradient left from the first pass would show. */
static void check_shared_grads(void)
{
    gg_graph *g = gg_graph_new(3);
    gg_node x = gg_input(g, "x", gg_shape1(6));
    gg_graph_requires_grad(g, x);
    gg_init z = {GG_INIT_ZEROS, 0, 0}, one = {GG_INIT_CONST, 1, 0};
    gg_graph_scope(g, "fc");
    gg_node w = gg_param(g, "fc.weight", gg_shape2(6, 6), z);
    gg_node h = gg_linear(g, x, w, -1, GG_ACT_NONE);
    gg_graph_scope(g, "ln");
    gg_node ga = gg_param(g, "ln.weight", gg_shape1(6), one), be = gg_param(g, "ln.bias", gg_shape1(6), z);
    gg_graph_scope(g, NULL);
    gg_node hh = gg_add(g, h, h);
    gg_node v = gg_reshape(g, h, gg_shape2(2, 3));
    gg_node m = gg_reshape(g, gg_mul(g, v, v), gg_shape1(6));
    gg_node n = gg_layernorm(g, gg_reshape(g, v, gg_shape1(6)), ga, be, 1e-5f);
    gg_node y = gg_add(g, gg_add(g, gg_add(g, hh, x), m), n);
    gg_node L = weigh(g, y, "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 21, 0.02f);
    gg_node nodes[4] = {x, w, ga, be};
    gradcheck(g, L, nodes, 4, 24, "shared gradients, first pass");
    gradcheck(g, L, nodes, 4, 24, "shared gradients, second pass");
    gg_graph_free(g);
}

static void check_act(gg_act act, int batch, int n)
{
    char what[64];
    snprintf(what, sizeof what, "act %s N=%d", gg_act_name(act), batch);
    gg_graph *g = gg_graph_new(batch);
    gg_node x = gg_input(g, "x", gg_shape2(n, 3));
    gg_graph_requires_grad(g, x);
    gg_node y = act == GG_ACT_LEAKY_RELU ? gg_leaky_relu(g, x, 0.2f) : act == GG_ACT_ELU ? gg_elu(g, x, 0.7f) : gg_activation(g, x, act);
    gg_node L = weigh(g, y, "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 11, 0.05f);
    gradcheck(g, L, &x, 1, 40, what);
    gg_graph_free(g);
}

static void check_losses(int batch)
{
    char what[64];
    for (int kind = 0; kind < 4; kind++) {
        gg_graph *g = gg_graph_new(batch);
        gg_node x = gg_input(g, "x", gg_shape1(7));
        gg_graph_requires_grad(g, x);
        gg_node t, L;
        if (kind == 0) {
            t = gg_input(g, "y", gg_shape1(1));
            L = gg_softmax_xent(g, x, t, 0.1f);
        } else {
            t = gg_input(g, "t", gg_shape1(7));
            if (kind != 1) gg_graph_requires_grad(g, t);
            L = kind == 1 ? gg_bce_logits(g, x, t) : kind == 2 ? gg_mse(g, x, t) : gg_huber(g, x, t, 0.5f);
        }
        GT_OK(gg_graph_compile(g));
        gc_randomize(g, 13, 0);
        float *tv = gg_graph_data(g, t);
        for (int i = 0; i < batch * (kind == 0 ? 1 : 7); i++)
            tv[i] = kind == 0 ? (float)(i % 7) : kind == 1 ? (float)(i % 3) / 2 : tv[i] * 2;
        snprintf(what, sizeof what, "loss %s N=%d", gg_graph_node_op(g, L), batch);
        gg_node nodes[2] = {x, t};
        gradcheck(g, L, nodes, kind <= 1 ? 1 : 2, 30, what);
        gg_graph_free(g);
    }
}

/* Forward values against hand-computed ones. */
static void check_values(void)
{
    gg_graph *g = gg_graph_new(2);
    gg_node x = gg_input(g, "x", gg_shape1(3));
    gg_node y = gg_input(g, "y", gg_shape1(1));
    gg_node L = gg_softmax_xent(g, x, y, 0);
    gg_node A = gg_accuracy(g, x, y);
    GT_OK(gg_graph_compile(g));
    float *xv = gg_graph_data(g, x), *yv = gg_graph_data(g, y);
    float xs[6] = {1, 2, 3, 0, 0, 0};
    memcpy(xv, xs, sizeof xs);
    yv[0] = 2;
    yv[1] = 1;
    GT_OK(gg_graph_forward(g, GG_EVAL, -1));
    /* row 0: lse(1,2,3) - 3 = 0.40760596; row 1: ln 3 */
    GT_NEAR(gg_graph_scalar(g, L), (0.40760596 + 1.09861229) / 2, 1e-6, 1e-6, "cross-entropy value");
    /* row 0 right (argmax 2), row 1 ties -> argmax 0, wrong */
    GT_NEAR(gg_graph_scalar(g, A), 0.5, 0, 1e-7, "accuracy");
    yv[1] = 3; /* out of range */
    gg_status s = gg_graph_forward(g, GG_EVAL, L);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "row 1"), "bad label refused: %s", gg_errmsg());
    yv[1] = 0.5f;
    s = gg_graph_forward(g, GG_EVAL, L);
    GT_CHECK(s == GG_E_ARG, "fractional label refused");
    gg_graph_free(g);
}

static void check_errors(void)
{
    gg_graph *g = gg_graph_new(4);
    gg_node x = gg_input(g, "x", gg_shape1(10));
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    gg_node w = gg_param(g, "fc1.weight", gg_shape2(5, 9), z);
    gg_node y = gg_linear(g, x, w, -1, GG_ACT_RELU);
    GT_CHECK(y == -1, "shape mismatch gives -1");
    GT_CHECK(gg_graph_status(g) == GG_E_SHAPE, "status is shape");
    GT_CHECK(strstr(gg_graph_errmsg(g), "(5, 9)") && strstr(gg_graph_errmsg(g), "(4, 10)"),
             "message names both shapes: %s", gg_graph_errmsg(g));
    gg_status s = gg_graph_compile(g);
    GT_CHECK(s == GG_E_SHAPE && strstr(gg_errmsg(), "fc1.weight"), "compile reports it: %s", gg_errmsg());
    gg_graph_free(g);

    g = gg_graph_new(4);
    gg_param(g, "a", gg_shape1(3), z);
    GT_CHECK(gg_param(g, "a", gg_shape1(3), z) == -1 && strstr(gg_graph_errmsg(g), "already used"), "duplicate name");
    gg_graph_free(g);
    GT_CHECK(gg_graph_new(0) == NULL && strstr(gg_errmsg(), "max_batch"), "bad max_batch");
}

/* Batch sizes below max_batch run without re-planning. */
static void check_batch_change(void)
{
    gg_graph *g = gg_graph_new(8);
    gg_node x = gg_input(g, "x", gg_shape1(4));
    gg_init in = {GG_INIT_NORMAL, 0, 1};
    gg_node w = gg_param(g, "fc.weight", gg_shape2(3, 4), in);
    gg_node y = gg_linear(g, x, w, -1, GG_ACT_NONE);
    gg_node L = gg_sum(g, y, 1);
    GT_OK(gg_graph_compile(g));
    GT_OK(gg_graph_init_params(g, 1));
    float *xv = gg_graph_data(g, x);
    for (int i = 0; i < 32; i++) xv[i] = (float)i / 10;
    GT_OK(gg_graph_set_batch(g, 3));
    GT_OK(gg_graph_forward(g, GG_TRAIN, L));
    double want = 0;
    const float *wv = gg_graph_data(g, w);
    for (int n = 0; n < 3; n++)
        for (int o = 0; o < 3; o++)
            for (int i = 0; i < 4; i++) want += (double)wv[o * 4 + i] * xv[n * 4 + i];
    GT_NEAR(gg_graph_scalar(g, L), want, 1e-5, 1e-5, "sum over 3 of 8 rows");
    GT_CHECK(gg_graph_set_batch(g, 9) == GG_E_ARG, "batch above max refused");
    gg_graph_free(g);
}

/* Every opcode has a row: a name (unique) and a forward; a missing row of
 * the designated-initializer table would be all NULL. */
static void check_op_table(void)
{
    for (int op = 0; op < GG_OP_COUNT; op++) {
        const gg_opdef *d = &gg_opdefs[op];
        GT_CHECK(d->name && *d->name, "opcode %d has no row in gg_opdefs (src/core/ops/table.c)", op);
        GT_CHECK(d->fwd != NULL, "opcode %d (%s) has no forward", op, d->name ? d->name : "?");
        for (int k = 0; k < op && d->name; k++)
            if (gg_opdefs[k].name && strcmp(gg_opdefs[k].name, d->name) == 0)
                GT_CHECK(0, "opcodes %d and %d are both named %s", k, op, d->name);
    }
}

/* The norm pass's two vector forms (core/reduce.c) give the same bits, so
 * the OpenBLAS kernel family, which picks between them, changes no guard
 * decision; and both are the sum of squares in double to 1e-5, the max |x|
 * exact, a NaN or an infinity making the sum non-finite. Every length to
 * past two blocks' tails, values over 20 decades. */
static void check_sumsq_forms(void)
{
    enum { N = 9000 };
    static float x[N];
    const float one = 1;
    /* a build without AVX2 (the sanitizer and valgrind builds) has neither form */
    int has8 = !isnan(gg_sumsq_max_width(&one, 1, NULL, 256)), has16 = !isnan(gg_sumsq_max_width(&one, 1, NULL, 512));
    uint64_t st = 88172645463325252u;
    int same = 1, close = 1, nonfin = 1, arrays = 0;
    for (size_t n = 0; n < N; n += n < 200 ? 1 : 97) {
        for (int kind = 0; kind < 4; kind++) {
            double sc = pow(10.0, ((double)(n % 21) - 10.0)), ref = 0;
            float mref = 0;
            for (size_t i = 0; i < n; i++) {
                st ^= st << 13, st ^= st >> 7, st ^= st << 17;
                x[i] = (float)(((double)(st >> 11) / 9007199254740992.0 - 0.5) * sc);
            }
            if (kind == 1 && n) x[n / 2] = NAN;
            if (kind == 2 && n) x[n - 1] = -INFINITY;
            if (kind == 3 && n) x[0] = 3e38f;
            for (size_t i = 0; i < n; i++) {
                ref += (double)x[i] * x[i];
                if (fabsf(x[i]) > mref) mref = fabsf(x[i]);
            }
            float m = -1, m8 = -1, m16 = -1;
            double s = gg_sumsq_max(x, n, &m);
            double s8 = gg_sumsq_max_width(x, n, &m8, 256), s16 = gg_sumsq_max_width(x, n, &m16, 512);
            if (has8) same &= memcmp(&s8, &s, sizeof s) == 0 && m8 == m;
            if (has16) same &= memcmp(&s16, &s, sizeof s) == 0 && m16 == m;
            arrays++;
            if (kind == 0 || kind == 3 || !n) close &= fabs(s - ref) <= 1e-5 * ref && m == mref;
            else nonfin &= !isfinite(s) && (kind == 2 ? m == INFINITY : m == mref);
        }
    }
    GT_CHECK(same, "the 256-bit (%s) and 512-bit (%s) forms give gg_sumsq_max's bits over %d arrays",
             has8 ? "built" : "not built", has16 ? "built" : "not built", arrays);
    GT_CHECK(close, "the sum of squares within 1e-5 of double's, the max |x| exact");
    GT_CHECK(nonfin, "a NaN or an infinity makes the sum non-finite; the max leaves a NaN out");
}

int main(void)
{
    check_sumsq_forms();
    check_op_table();
    int shapes[][3] = {{1, 1, 1}, {1, 5, 3}, {3, 7, 4}, {5, 2, 9}};
    for (int s = 0; s < 4; s++)
        for (int a = 0; a < GG_ACT_COUNT; a++) check_linear(shapes[s][0], shapes[s][1], shapes[s][2], (gg_act)a, s != 2);
    check_matmul(1, 2, 3, 4, 0);
    check_matmul(3, 5, 2, 3, 0);
    check_matmul(2, 3, 4, 2, 1);
    check_binary(0, 0);
    check_binary(0, 1);
    check_binary(1, 0);
    check_binary(1, 1);
    check_shared_grads();
    for (int a = 1; a < GG_ACT_COUNT; a++) {
        check_act((gg_act)a, 1, 1);
        check_act((gg_act)a, 3, 5);
    }
    check_losses(1);
    check_losses(5);
    check_values();
    check_errors();
    check_batch_change();
    return gt_done("test_ops_core");
}

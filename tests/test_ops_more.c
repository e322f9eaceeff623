/* Gradient checks and forward values for concat, slice, softmax,
 * log-softmax, batch norm (training, both 2-D and 4-D; evaluation),
 * layer norm, dropout and embedding: several shapes each, batch size 1 and
 * odd sizes, every input that takes a gradient. Forward values are checked
 * against hand-computed cases and PyTorch's formulas; error messages must
 * name what was wrong. */
#include "gradcheck.h"

static const gg_init zeros = {GG_INIT_ZEROS, 0, 0};

/* loss = sum(y * r) with r a fixed random input of y's shape, so that
 * every output element gets a different weight. */
static gg_node weigh(gg_graph *g, gg_node y, const char *rname)
{
    gg_shape s = gg_graph_shape(g, y);
    gg_shape ss = {s.ndim - 1, {s.d[1], s.d[2], s.d[3], 0}};
    return gg_sum(g, gg_mul(g, y, gg_input(g, rname, ss)), 1.0f);
}

/* The same for an unbatched y: r is a parameter of y's shape. */
static gg_node weigh_unbatched(gg_graph *g, gg_node y, const char *rname)
{
    return gg_sum(g, gg_mul(g, y, gg_param(g, rname, gg_graph_shape(g, y), zeros)), 1.0f);
}

static gg_shape sh(int nd, const int *d)
{
    gg_shape s = {nd, {0, 0, 0, 0}};
    for (int i = 0; i < nd; i++) s.d[i] = d[i];
    return s;
}

/* ---- concat and slice ---- */

static void check_concat(int batch, int nd, const int *da, const int *db, int axis)
{
    char what[96];
    snprintf(what, sizeof what, "concat N=%d nd=%d axis=%d", batch, nd, axis);
    gg_graph *g = gg_graph_new(batch);
    gg_node a = gg_input(g, "a", sh(nd, da));
    gg_node b = gg_input(g, "b", sh(nd, db));
    gg_graph_requires_grad(g, a);
    gg_graph_requires_grad(g, b);
    gg_node L = weigh(g, gg_concat(g, a, b, axis), "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 17 + (uint64_t)axis, 0);
    gg_node nodes[2] = {a, b};
    gradcheck(g, L, nodes, 2, 30, what);
    gg_graph_free(g);
}

/* concat(x, x) plus a later consumer of x, whose backward runs first: all
 * three contributions must reach x (backward adds, never overwrites). */
static void check_concat_self(void)
{
    gg_graph *g = gg_graph_new(2);
    gg_node x = gg_input(g, "x", gg_shape2(2, 3));
    gg_graph_requires_grad(g, x);
    gg_node L1 = weigh(g, gg_concat(g, x, x, 1), "r");
    gg_node L = gg_add(g, L1, weigh(g, x, "r2"));
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 13, 0);
    gradcheck(g, L, &x, 1, 12, "concat(x, x)");
    gg_graph_free(g);
}

/* Unbatched parameters concatenate too (a weight built from two parts). */
static void check_concat_params(void)
{
    gg_graph *g = gg_graph_new(2);
    gg_node a = gg_param(g, "p.a", gg_shape2(2, 3), zeros);
    gg_node b = gg_param(g, "p.b", gg_shape2(2, 1), zeros);
    gg_node L = weigh_unbatched(g, gg_concat(g, a, b, 1), "r.weight");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 3, 0);
    gg_node nodes[2] = {a, b};
    gradcheck(g, L, nodes, 2, 10, "concat of parameters");
    gg_graph_free(g);
}

static void check_slice(int batch, int nd, const int *d, int axis, int start, int len)
{
    char what[96];
    snprintf(what, sizeof what, "slice N=%d nd=%d axis=%d [%d,+%d)", batch, nd, axis, start, len);
    gg_graph *g = gg_graph_new(batch);
    gg_node x = gg_input(g, "x", sh(nd, d));
    gg_graph_requires_grad(g, x);
    gg_node L = weigh(g, gg_slice(g, x, axis, start, len), "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 19 + (uint64_t)start, 0);
    gradcheck(g, L, &x, 1, 30, what);
    gg_graph_free(g);
}

/* Two overlapping slices of one x, concatenated: x's gradient gets both
 * contributions (backward adds, it does not overwrite). */
static void check_slice_concat(void)
{
    gg_graph *g = gg_graph_new(3);
    gg_node x = gg_input(g, "x", gg_shape2(5, 2));
    gg_graph_requires_grad(g, x);
    gg_node s1 = gg_slice(g, x, 0, 0, 3), s2 = gg_slice(g, x, 0, 2, 3);
    gg_node L = weigh(g, gg_concat(g, s1, s2, 0), "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 23, 0);
    gradcheck(g, L, &x, 1, 30, "slice+slice+concat");
    /* a direct value: y = concat rows 0..2 and 2..4, so row 2 appears twice */
    float *xv = gg_graph_data(g, x);
    for (int i = 0; i < 30; i++) xv[i] = (float)i;
    GT_OK(gg_graph_forward(g, GG_TRAIN, -1));
    const float *y = gg_graph_data(g, gg_graph_find(g, "concat"));
    float want[12] = {0, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9};
    int ok = 1;
    for (int i = 0; i < 12; i++) ok &= y[i] == want[i];
    for (int i = 0; i < 12; i++) ok &= y[24 + i] == want[i] + 20;
    GT_CHECK(ok, "concat of slices: values");
    gg_graph_free(g);
}

static void check_shape_errors(void)
{
    gg_graph *g = gg_graph_new(4);
    gg_node a = gg_input(g, "a", gg_shape2(2, 3));
    gg_node b = gg_input(g, "b", gg_shape2(3, 3));
    GT_CHECK(gg_concat(g, a, b, 1) == -1 && gg_graph_status(g) == GG_E_SHAPE, "concat of (2,3) and (3,3) on axis 1");
    GT_CHECK(strstr(gg_graph_errmsg(g), "(4, 2, 3)") && strstr(gg_graph_errmsg(g), "(4, 3, 3)"),
             "concat error names both shapes: %s", gg_graph_errmsg(g));
    gg_graph_free(g);

    g = gg_graph_new(4);
    a = gg_input(g, "a", gg_shape2(2, 3));
    b = gg_input(g, "b", gg_shape2(3, 3));
    GT_CHECK(gg_concat(g, a, b, 0) >= 0 && gg_graph_status(g) == GG_OK, "concat on axis 0 is fine");
    GT_CHECK(gg_concat(g, a, b, 2) == -1 && strstr(gg_graph_errmsg(g), "axis 2"), "axis out of range: %s",
             gg_graph_errmsg(g));
    gg_graph_free(g);

    g = gg_graph_new(4);
    a = gg_input(g, "a", gg_shape1(3));
    gg_node p = gg_param(g, "p", gg_shape1(3), zeros);
    GT_CHECK(gg_concat(g, a, p, 0) == -1 && strstr(gg_graph_errmsg(g), "(4, 3)") && strstr(gg_graph_errmsg(g), "(3)"),
             "batched with unbatched refused: %s", gg_graph_errmsg(g));
    gg_graph_free(g);

    g = gg_graph_new(2);
    gg_node x = gg_input(g, "x", gg_shape2(4, 5));
    GT_CHECK(gg_slice(g, x, 1, 3, 3) == -1 && gg_graph_status(g) == GG_E_SHAPE, "slice past the end refused");
    GT_CHECK(strstr(gg_graph_errmsg(g), "(2, 4, 5)") && strstr(gg_graph_errmsg(g), "size 5"),
             "slice error names the shape: %s", gg_graph_errmsg(g));
    gg_graph_free(g);
    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape2(4, 5));
    GT_CHECK(gg_slice(g, x, 1, -1, 2) == -1, "negative start refused");
    gg_graph_free(g);
    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape2(4, 5));
    GT_CHECK(gg_slice(g, x, 0, 0, 0) == -1, "empty slice refused");
    gg_graph_free(g);
}

/* ---- softmax ---- */

static void check_softmax(int logp, int batch, int nd, const int *d)
{
    char what[96];
    snprintf(what, sizeof what, "%s N=%d nd=%d last=%d", logp ? "log_softmax" : "softmax", batch, nd, d[nd - 1]);
    gg_graph *g = gg_graph_new(batch);
    gg_node x = gg_input(g, "x", sh(nd, d));
    gg_graph_requires_grad(g, x);
    gg_node y = logp ? gg_log_softmax(g, x) : gg_softmax(g, x);
    gg_node L = weigh(g, gg_scale(g, y, 2.0f), "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 29 + (uint64_t)batch, 0);
    gradcheck(g, L, &x, 1, 30, what);
    gg_graph_free(g);
}

static void check_softmax_values(void)
{
    gg_graph *g = gg_graph_new(3);
    gg_node x = gg_input(g, "x", gg_shape1(3));
    gg_node s = gg_softmax(g, x), ls = gg_log_softmax(g, x);
    GT_OK(gg_graph_compile(g));
    float xs[9] = {1, 2, 3, 1000, 1001, 1002, -0.5f, 0.25f, 7};
    memcpy(gg_graph_data(g, x), xs, sizeof xs);
    GT_OK(gg_graph_forward(g, GG_EVAL, -1));
    const float *sv = gg_graph_data(g, s), *lv = gg_graph_data(g, ls);
    /* softmax(1, 2, 3) = e^k / (e + e^2 + e^3) */
    double want[3] = {0.090030573170380, 0.244728471054798, 0.665240955774822};
    for (int k = 0; k < 3; k++) {
        GT_NEAR(sv[k], want[k], 1e-6, 1e-7, "softmax(1,2,3)[%d]", k);
        GT_NEAR(lv[k], log(want[k]), 1e-6, 1e-6, "log_softmax(1,2,3)[%d]", k);
        /* shifting by 1000 overflows a naive exp(): it must not matter */
        GT_NEAR(sv[3 + k], want[k], 1e-6, 1e-7, "softmax(1000..1002)[%d]", k);
        GT_NEAR(lv[3 + k], log(want[k]), 1e-6, 1e-6, "log_softmax(1000..1002)[%d]", k);
    }
    for (int r = 0; r < 3; r++) {
        double sum = 0;
        for (int k = 0; k < 3; k++) sum += sv[3 * r + k];
        GT_NEAR(sum, 1.0, 0, 1e-6, "softmax row %d sums to 1", r);
        for (int k = 0; k < 3; k++)
            GT_NEAR(exp(lv[3 * r + k]), sv[3 * r + k], 1e-5, 1e-7, "exp(log_softmax) = softmax");
    }
    gg_graph_free(g);
}

/* ---- batch norm ---- */

/* x (N, C, ...): gamma, beta params, running stats buffers (mean 0, var 1). */
static gg_node bn_build(gg_graph *g, gg_node x, int C, float momentum, float eps, gg_node *gam, gg_node *bet,
                        gg_node *rm, gg_node *rv)
{
    gg_init one = {GG_INIT_CONST, 1, 0};
    *gam = gg_param(g, "bn.weight", gg_shape1(C), one);
    *bet = gg_param(g, "bn.bias", gg_shape1(C), zeros);
    *rm = gg_buffer(g, "bn.running_mean", gg_shape1(C), 0);
    *rv = gg_buffer(g, "bn.running_var", gg_shape1(C), 1);
    gg_graph_scope(g, "bn");
    gg_node y = gg_batchnorm(g, x, *gam, *bet, *rm, *rv, momentum, eps);
    gg_graph_scope(g, NULL);
    return y;
}

static void check_batchnorm_grad(int max_batch, int batch, int nd, const int *d)
{
    char what[96];
    snprintf(what, sizeof what, "batchnorm N=%d/%d nd=%d C=%d", batch, max_batch, nd, d[0]);
    gg_graph *g = gg_graph_new(max_batch);
    gg_node x = gg_input(g, "x", sh(nd, d));
    gg_graph_requires_grad(g, x);
    gg_node gam, bet, rm, rv;
    gg_node L = weigh(g, bn_build(g, x, d[0], 0.1f, 1e-5f, &gam, &bet, &rm, &rv), "r");
    GT_OK(gg_graph_compile(g));
    GT_OK(gg_graph_init_params(g, 1));
    GT_OK(gg_graph_set_batch(g, batch));
    gc_randomize(g, 31 + (uint64_t)nd, 0);
    gg_node nodes[3] = {x, gam, bet};
    gradcheck(g, L, nodes, 3, 30, what);
    gg_graph_free(g);
}

/* y = gamma (x - mu) / sqrt(var + eps) + beta of x (N, C, S) with the given
 * per-channel statistics. */
static double bn_ref(double x, double mu, double var, double eps, double gam, double bet)
{
    return gam * (x - mu) / sqrt(var + eps) + bet;
}

static void check_batchnorm_values(void)
{
    /* (N, F) = (4, 2): columns 1 2 3 4 and 2 4 6 8 */
    gg_graph *g = gg_graph_new(4);
    gg_node x = gg_input(g, "x", gg_shape1(2));
    gg_node gam, bet, rm, rv;
    const float eps = 1e-5f, mom = 0.1f;
    gg_node y = bn_build(g, x, 2, mom, eps, &gam, &bet, &rm, &rv);
    GT_OK(gg_graph_compile(g));
    GT_OK(gg_graph_init_params(g, 1));
    float *xv = gg_graph_data(g, x), *gv = gg_graph_data(g, gam), *bv = gg_graph_data(g, bet);
    float *mv = gg_graph_data(g, rm), *vv = gg_graph_data(g, rv);
    float xs[8] = {1, 2, 2, 4, 3, 6, 4, 8};
    memcpy(xv, xs, sizeof xs);
    gv[0] = 2, gv[1] = -1, bv[0] = 0.5f, bv[1] = 3;
    mv[0] = 1, mv[1] = -2, vv[0] = 4, vv[1] = 0.5f;
    GT_OK(gg_graph_forward(g, GG_TRAIN, y));
    /* PyTorch: running = 0.9 running + 0.1 batch, with the unbiased
     * variance (5/3 and 20/3); normalising uses the biased one (1.25, 5). */
    GT_NEAR(mv[0], 0.9 * 1 + 0.1 * 2.5, 1e-6, 1e-7, "running mean 0");
    GT_NEAR(mv[1], 0.9 * -2 + 0.1 * 5, 1e-6, 1e-7, "running mean 1");
    GT_NEAR(vv[0], 0.9 * 4 + 0.1 * (5.0 / 3), 1e-6, 1e-7, "running var 0 (unbiased)");
    GT_NEAR(vv[1], 0.9 * 0.5 + 0.1 * (20.0 / 3), 1e-6, 1e-7, "running var 1 (unbiased)");
    const float *yv = gg_graph_data(g, y);
    for (int n = 0; n < 4; n++) {
        GT_NEAR(yv[2 * n], bn_ref(xs[2 * n], 2.5, 1.25, eps, 2, 0.5), 1e-5, 1e-6, "train y[%d][0]", n);
        GT_NEAR(yv[2 * n + 1], bn_ref(xs[2 * n + 1], 5, 5, eps, -1, 3), 1e-5, 1e-6, "train y[%d][1]", n);
    }
    /* evaluation: the running statistics, which stay as they are */
    float m0 = mv[0], m1 = mv[1], v0 = vv[0], v1 = vv[1];
    GT_OK(gg_graph_forward(g, GG_EVAL, y));
    GT_CHECK(mv[0] == m0 && mv[1] == m1 && vv[0] == v0 && vv[1] == v1, "evaluation leaves running stats alone");
    for (int n = 0; n < 4; n++) {
        GT_NEAR(yv[2 * n], bn_ref(xs[2 * n], m0, v0, eps, 2, 0.5), 1e-5, 1e-6, "eval y[%d][0]", n);
        GT_NEAR(yv[2 * n + 1], bn_ref(xs[2 * n + 1], m1, v1, eps, -1, 3), 1e-5, 1e-6, "eval y[%d][1]", n);
    }
    /* evaluation with batch 1 is fine; training with one value per channel is not */
    GT_OK(gg_graph_set_batch(g, 1));
    GT_OK(gg_graph_forward(g, GG_EVAL, y));
    gg_status s = gg_graph_forward(g, GG_TRAIN, y);
    GT_CHECK(s == GG_E_SHAPE && strstr(gg_errmsg(), "one value per channel") && strstr(gg_errmsg(), "bn/batchnorm"),
             "training batch 1 of (N, F) refused: %s", gg_errmsg());
    gg_graph_free(g);
}

/* (N, C, H, W) = (3, 2, 2, 3): statistics over N, H, W of each channel,
 * against a double-precision reference of PyTorch's formulas; a second
 * forward continues the running average. */
static void check_batchnorm_4d_values(void)
{
    enum { N = 3, C = 2, S = 6 };
    gg_graph *g = gg_graph_new(N);
    gg_node x = gg_input(g, "x", gg_shape3(C, 2, 3));
    gg_node gam, bet, rm, rv;
    const float eps = 1e-3f, mom = 0.25f;
    gg_node y = bn_build(g, x, C, mom, eps, &gam, &bet, &rm, &rv);
    GT_OK(gg_graph_compile(g));
    GT_OK(gg_graph_init_params(g, 1));
    gc_randomize(g, 37, 0);
    float *xv = gg_graph_data(g, x), *gv = gg_graph_data(g, gam), *bv = gg_graph_data(g, bet);
    const float *mv = gg_graph_data(g, rm), *vv = gg_graph_data(g, rv), *yv = gg_graph_data(g, y);
    for (int i = 0; i < N * C * S; i++) xv[i] = xv[i] * 3 + (float)((i / S) % C); /* channel 1 shifted by 1 */
    double rmw[C] = {0, 0}, rvw[C] = {1, 1};
    for (int pass = 0; pass < 2; pass++) {
        GT_OK(gg_graph_forward(g, GG_TRAIN, y));
        for (int c = 0; c < C; c++) {
            double s = 0, ss = 0;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < S; i++) s += xv[(n * C + c) * S + i];
            double mu = s / (N * S);
            for (int n = 0; n < N; n++)
                for (int i = 0; i < S; i++) ss += pow(xv[(n * C + c) * S + i] - mu, 2);
            rmw[c] = (1 - mom) * rmw[c] + mom * mu;
            rvw[c] = (1 - mom) * rvw[c] + mom * ss / (N * S - 1);
            GT_NEAR(mv[c], rmw[c], 1e-5, 1e-6, "4-D running mean %d after %d forwards", c, pass + 1);
            GT_NEAR(vv[c], rvw[c], 1e-5, 1e-6, "4-D running var %d after %d forwards", c, pass + 1);
            for (int n = 0; n < N; n++)
                for (int i = 0; i < S; i++) {
                    int k = (n * C + c) * S + i;
                    GT_NEAR(yv[k], bn_ref(xv[k], mu, ss / (N * S), eps, gv[c], bv[c]), 1e-4, 1e-5, "4-D y[%d]", k);
                }
        }
    }
    gg_graph_free(g);
}

/* A backward after an evaluation forward: the statistics are constants,
 * so dx = dy gamma / sqrt(running_var + eps). */
static void check_batchnorm_eval_grad(void)
{
    gg_graph *g = gg_graph_new(2);
    gg_node x = gg_input(g, "x", gg_shape1(3));
    gg_graph_requires_grad(g, x);
    gg_node gam, bet, rm, rv;
    gg_node L = weigh(g, bn_build(g, x, 3, 0.1f, 1e-5f, &gam, &bet, &rm, &rv), "r");
    GT_OK(gg_graph_compile(g));
    GT_OK(gg_graph_init_params(g, 1));
    gc_randomize(g, 41, 0);
    float *vv = gg_graph_data(g, rv), *mv = gg_graph_data(g, rm);
    for (int c = 0; c < 3; c++) vv[c] = 0.5f + (float)c, mv[c] = (float)c - 1;
    GT_OK(gg_graph_forward(g, GG_EVAL, L));
    gg_graph_zero_grad(g);
    GT_OK(gg_graph_backward(g, L, 1.0f));
    const float *dx = gg_graph_grad(g, x), *r = gg_graph_data(g, gg_graph_find(g, "r"));
    const float *gv = gg_graph_data(g, gam), *xv = gg_graph_data(g, x), *dg = gg_graph_grad(g, gam);
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++) {
            int k = n * 3 + c;
            GT_NEAR(dx[k], r[k] * gv[c] / sqrt(vv[c] + 1e-5), 1e-5, 1e-6, "eval dx[%d]", k);
        }
    for (int c = 0; c < 3; c++) {
        double want = 0;
        for (int n = 0; n < 2; n++) want += r[n * 3 + c] * (xv[n * 3 + c] - mv[c]) / sqrt(vv[c] + 1e-5);
        GT_NEAR(dg[c], want, 1e-5, 1e-6, "eval dgamma[%d]", c);
    }
    gg_graph_free(g);
}

static void check_batchnorm_errors(void)
{
    gg_graph *g = gg_graph_new(2);
    gg_node x = gg_input(g, "x", gg_shape3(4, 5, 5));
    gg_node gm = gg_param(g, "bn.weight", gg_shape1(5), zeros), bt = gg_param(g, "bn.bias", gg_shape1(4), zeros);
    gg_node m = gg_buffer(g, "bn.running_mean", gg_shape1(4), 0), v = gg_buffer(g, "bn.running_var", gg_shape1(4), 1);
    GT_CHECK(gg_batchnorm(g, x, gm, bt, m, v, 0.1f, 1e-5f) == -1 && strstr(gg_graph_errmsg(g), "bn.weight") &&
                 strstr(gg_graph_errmsg(g), "(5)") && strstr(gg_graph_errmsg(g), "(2, 4, 5, 5)"),
             "gamma of the wrong size: %s", gg_graph_errmsg(g));
    gg_graph_free(g);
    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape1(4));
    gm = gg_param(g, "bn.weight", gg_shape1(4), zeros);
    bt = gg_param(g, "bn.bias", gg_shape1(4), zeros);
    m = gg_param(g, "bn.running_mean", gg_shape1(4), zeros);
    v = gg_buffer(g, "bn.running_var", gg_shape1(4), 1);
    GT_CHECK(gg_batchnorm(g, x, gm, bt, m, v, 0.1f, 1e-5f) == -1 && strstr(gg_graph_errmsg(g), "buffer"),
             "running mean must be a buffer: %s", gg_graph_errmsg(g));
    gg_graph_free(g);
    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape1(4));
    gm = gg_param(g, "bn.weight", gg_shape1(4), zeros);
    bt = gg_param(g, "bn.bias", gg_shape1(4), zeros);
    m = gg_buffer(g, "bn.running_mean", gg_shape1(4), 0);
    v = gg_buffer(g, "bn.running_var", gg_shape1(4), 1);
    GT_CHECK(gg_batchnorm(g, x, gm, bt, m, v, 1.5f, 1e-5f) == -1 && strstr(gg_graph_errmsg(g), "momentum"),
             "momentum out of range: %s", gg_graph_errmsg(g));
    gg_graph_free(g);
}

/* ---- layer norm ---- */

static void check_layernorm(int batch, int nd, const int *d)
{
    char what[96];
    int D = d[nd - 1];
    snprintf(what, sizeof what, "layernorm N=%d nd=%d D=%d", batch, nd, D);
    gg_graph *g = gg_graph_new(batch);
    gg_node x = gg_input(g, "x", sh(nd, d));
    gg_graph_requires_grad(g, x);
    gg_node gam = gg_param(g, "ln.weight", gg_shape1(D), zeros), bet = gg_param(g, "ln.bias", gg_shape1(D), zeros);
    gg_node L = weigh(g, gg_layernorm(g, x, gam, bet, 1e-5f), "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 43 + (uint64_t)D, 0);
    gg_node nodes[3] = {x, gam, bet};
    gradcheck(g, L, nodes, 3, 80, what);
    gg_graph_free(g);
}

static void check_layernorm_values(void)
{
    gg_graph *g = gg_graph_new(2);
    gg_node x = gg_input(g, "x", gg_shape1(4));
    gg_node gam = gg_param(g, "ln.weight", gg_shape1(4), zeros), bet = gg_param(g, "ln.bias", gg_shape1(4), zeros);
    gg_node y = gg_layernorm(g, x, gam, bet, 1e-5f);
    GT_OK(gg_graph_compile(g));
    float xs[8] = {1, 2, 3, 4, 10, 10, 10, 10.5f}, gs[4] = {1, 2, -1, 0.5f}, bs[4] = {0, 1, 0, -1};
    memcpy(gg_graph_data(g, x), xs, sizeof xs);
    memcpy(gg_graph_data(g, gam), gs, sizeof gs);
    memcpy(gg_graph_data(g, bet), bs, sizeof bs);
    GT_OK(gg_graph_forward(g, GG_TRAIN, y));
    const float *yv = gg_graph_data(g, y);
    /* row 0: mean 2.5, biased var 1.25; row 1: mean 10.125, var 0.046875 */
    double mu[2] = {2.5, 10.125}, var[2] = {1.25, 0.046875};
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 4; i++)
            GT_NEAR(yv[4 * r + i], gs[i] * (xs[4 * r + i] - mu[r]) / sqrt(var[r] + 1e-5) + bs[i], 1e-5, 1e-6,
                    "layernorm y[%d][%d]", r, i);
    gg_graph_free(g);
}

/* ---- dropout ---- */

static void check_dropout_grad(int batch, int n, float p)
{
    char what[64];
    snprintf(what, sizeof what, "dropout N=%d n=%d p=%g", batch, n, p);
    gg_graph *g = gg_graph_new(batch);
    gg_node x = gg_input(g, "x", gg_shape1(n));
    gg_graph_requires_grad(g, x);
    gg_node L = weigh(g, gg_dropout(g, x, p), "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 47, 0);
    gg_graph_set_rng_step(g, 3);
    gradcheck(g, L, &x, 1, 40, what);
    gg_graph_free(g);
}

static void check_dropout_values(void)
{
    enum { B = 4, F = 5000 };
    const float p = 0.25f;
    gg_graph *g = gg_graph_new(B);
    gg_node x = gg_input(g, "x", gg_shape1(F));
    gg_graph_requires_grad(g, x);
    gg_node y = gg_dropout(g, x, p), y2 = gg_dropout(g, x, p);
    gg_node L = gg_sum(g, y, 1.0f);
    GT_OK(gg_graph_compile(g));
    float *xv = gg_graph_data(g, x);
    const float *yv = gg_graph_data(g, y), *y2v = gg_graph_data(g, y2);
    const size_t n = (size_t)B * F;
    for (size_t i = 0; i < n; i++) xv[i] = 1.0f + (float)(i % 7);

    GT_OK(gg_graph_forward(g, GG_EVAL, -1));
    int same = 1;
    for (size_t i = 0; i < n; i++) same &= yv[i] == xv[i];
    GT_CHECK(same, "evaluation is the identity");

    float *m1 = malloc(n * sizeof *m1);
    gg_graph_set_seed(g, 99);
    gg_graph_set_rng_step(g, 5);
    GT_OK(gg_graph_forward(g, GG_TRAIN, -1));
    size_t zeros_n = 0, scaled = 0, diff_nodes = 0;
    for (size_t i = 0; i < n; i++) {
        if (yv[i] == 0) zeros_n++;
        else if (yv[i] == xv[i] * (1.0f / (1 - p))) scaled++;
        diff_nodes += (yv[i] == 0) != (y2v[i] == 0);
        m1[i] = yv[i];
    }
    GT_CHECK(zeros_n + scaled == n, "every element is dropped or scaled by 1/(1-p): %zu + %zu of %zu", zeros_n, scaled,
             n);
    /* binomial(20000, 0.25): std 0.003 in the fraction; 0.015 is 5 std */
    GT_NEAR((double)zeros_n / n, p, 0, 0.015, "fraction dropped");
    GT_CHECK(diff_nodes > n / 4, "two dropout nodes draw different masks (%zu differ)", diff_nodes);

    /* backward uses the same mask: d sum(y) / dx = y / x */
    gg_graph_zero_grad(g);
    GT_OK(gg_graph_backward(g, L, 1.0f));
    const float *dx = gg_graph_grad(g, x);
    int match = 1;
    for (size_t i = 0; i < n; i++) match &= dx[i] == (yv[i] == 0 ? 0.0f : 1.0f / (1 - p));
    GT_CHECK(match, "backward mask equals the forward mask");

    /* the same step gives the same mask; another step or seed another one */
    GT_OK(gg_graph_forward(g, GG_TRAIN, -1));
    same = 1;
    for (size_t i = 0; i < n; i++) same &= yv[i] == m1[i];
    GT_CHECK(same, "same seed and step, same mask");
    gg_graph_set_rng_step(g, 6);
    GT_OK(gg_graph_forward(g, GG_TRAIN, -1));
    size_t moved = 0;
    for (size_t i = 0; i < n; i++) moved += (yv[i] == 0) != (m1[i] == 0);
    /* two independent masks differ on 2 p (1 - p) = 37.5% of the elements */
    GT_NEAR((double)moved / n, 2 * p * (1 - p), 0, 0.03, "another step, another mask");
    gg_graph_set_rng_step(g, 5);
    gg_graph_set_seed(g, 100);
    GT_OK(gg_graph_forward(g, GG_TRAIN, -1));
    moved = 0;
    for (size_t i = 0; i < n; i++) moved += (yv[i] == 0) != (m1[i] == 0);
    GT_NEAR((double)moved / n, 2 * p * (1 - p), 0, 0.03, "another seed, another mask");

    /* backward after an evaluation forward passes the gradient through */
    GT_OK(gg_graph_forward(g, GG_EVAL, L));
    GT_OK(gg_graph_backward(g, L, 1.0f));
    same = 1;
    for (size_t i = 0; i < n; i++) same &= dx[i] == 1.0f;
    GT_CHECK(same, "evaluation backward is the identity");
    free(m1);

    gg_graph_free(g);
    g = gg_graph_new(1);
    x = gg_input(g, "x", gg_shape1(3));
    GT_CHECK(gg_dropout(g, x, 1.0f) == -1 && strstr(gg_graph_errmsg(g), "[0, 1)"), "p = 1 refused: %s",
             gg_graph_errmsg(g));
    gg_graph_free(g);
}

/* ---- embedding ---- */

static void check_embedding_grad(int batch, int nd, const int *d, int V, int D)
{
    char what[96];
    snprintf(what, sizeof what, "embedding N=%d nd=%d V=%d D=%d", batch, nd, V, D);
    gg_graph *g = gg_graph_new(batch);
    gg_node idx = gg_input(g, "idx", sh(nd, d));
    gg_node tab = gg_param(g, "emb.weight", gg_shape2(V, D), zeros);
    gg_node L = weigh(g, gg_embedding(g, idx, tab), "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 53 + (uint64_t)V, 0);
    float *iv = gg_graph_data(g, idx);
    size_t n = gg_shape_numel(gg_graph_shape(g, idx));
    /* ids repeat (n > V here), so rows of the table gather several terms */
    for (size_t i = 0; i < n; i++) iv[i] = (float)((i * 7 + 3) % (size_t)V);
    gradcheck(g, L, &tab, 1, 40, what);
    gg_graph_free(g);
}

/* Forward copies rows; backward scatter-adds, checked against a plain loop
 * on a size that takes the threaded path. */
static void check_embedding_values(void)
{
    enum { B = 8, T = 40, V = 13, D = 64 };
    gg_graph *g = gg_graph_new(B);
    gg_node idx = gg_input(g, "idx", gg_shape1(T));
    gg_node tab = gg_param(g, "emb.weight", gg_shape2(V, D), zeros);
    gg_node y = gg_embedding(g, idx, tab);
    gg_node L = weigh(g, y, "r");
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 59, 0);
    float *iv = gg_graph_data(g, idx);
    for (int i = 0; i < B * T; i++) iv[i] = (float)((i * i + 5) % V);
    GT_OK(gg_graph_forward(g, GG_TRAIN, L));
    const float *tv = gg_graph_data(g, tab), *yv = gg_graph_data(g, y), *r = gg_graph_data(g, gg_graph_find(g, "r"));
    int ok = 1;
    for (int i = 0; i < B * T; i++) ok &= memcmp(yv + (size_t)i * D, tv + (size_t)iv[i] * D, D * sizeof *yv) == 0;
    GT_CHECK(ok, "embedding rows copied");
    gg_graph_zero_grad(g);
    GT_OK(gg_graph_backward(g, L, 1.0f));
    double want[V * D];
    memset(want, 0, sizeof want);
    for (int i = 0; i < B * T; i++)
        for (int k = 0; k < D; k++) want[(int)iv[i] * D + k] += r[i * D + k];
    const float *dt = gg_graph_grad(g, tab);
    int bad = 0;
    for (int k = 0; k < V * D; k++) bad += fabs(dt[k] - want[k]) > 1e-5 * (1 + fabs(want[k]));
    GT_CHECK(bad == 0, "scatter-add into the table: %d of %d differ", bad, V * D);

    /* ids that are not rows: out of range, negative, fractional, NaN */
    float badv[4] = {13, -1, 2.5f, NAN};
    for (int k = 0; k < 4; k++) {
        iv[1] = badv[k];
        gg_status s = gg_graph_forward(g, GG_TRAIN, L);
        GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "row 1 ") && strstr(gg_errmsg(), "idx"),
                 "bad id %g refused, naming the row: %s", (double)badv[k], gg_errmsg());
    }
    char msg[512];
    iv[1] = 13;
    gg_graph_forward(g, GG_TRAIN, L);
    snprintf(msg, sizeof msg, "%s", gg_errmsg());
    GT_CHECK(strstr(msg, "id 13") && strstr(msg, "0..12"), "message names the value and the range: %s", msg);
    gg_graph_free(g);
}

/* Sizes over GG_PAR_MIN, so the threaded loops run too (a few sampled
 * elements each: the forward is what costs). */
static void check_large(void)
{
    gg_graph *g = gg_graph_new(6);
    gg_node x = gg_input(g, "x", gg_shape3(3, 30, 37));
    gg_graph_requires_grad(g, x);
    gg_node gam, bet, rm, rv;
    gg_node b = bn_build(g, x, 3, 0.1f, 1e-5f, &gam, &bet, &rm, &rv);
    gg_node lg = gg_param(g, "ln.weight", gg_shape1(37), zeros), lb = gg_param(g, "ln.bias", gg_shape1(37), zeros);
    gg_node y = gg_layernorm(g, gg_slice(g, b, 1, 3, 25), lg, lb, 1e-5f);
    gg_node c = gg_concat(g, gg_softmax(g, y), gg_log_softmax(g, gg_dropout(g, x, 0.2f)), 1);
    gg_node L = weigh(g, c, "r");
    GT_OK(gg_graph_compile(g));
    GT_OK(gg_graph_init_params(g, 1));
    gc_randomize(g, 61, 0);
    gg_graph_set_rng_step(g, 1);
    gg_node nodes[5] = {x, gam, bet, lg, lb};
    gradcheck(g, L, nodes, 5, 12, "large chain: batchnorm, slice, layernorm, softmax, dropout, concat");
    gg_graph_free(g);
}

int main(void)
{
    /* concat: batch 1 and odd sizes, every axis of 1-, 2- and 3-D samples */
    check_concat(1, 1, (int[]){3}, (int[]){2}, 0);
    check_concat(3, 2, (int[]){2, 3}, (int[]){2, 4}, 1);
    check_concat(2, 2, (int[]){1, 3}, (int[]){4, 3}, 0);
    check_concat(3, 3, (int[]){2, 3, 1}, (int[]){2, 3, 2}, 2);
    check_concat(1, 3, (int[]){2, 1, 3}, (int[]){2, 2, 3}, 1);
    check_concat_self();
    check_concat_params();
    check_slice(1, 1, (int[]){5}, 0, 1, 3);
    check_slice(3, 2, (int[]){4, 5}, 1, 2, 3);
    check_slice(2, 3, (int[]){3, 2, 5}, 0, 2, 1);
    check_slice(3, 3, (int[]){3, 2, 5}, 2, 0, 4);
    check_slice_concat();
    check_shape_errors();

    check_softmax(0, 1, 1, (int[]){1});
    check_softmax(0, 1, 1, (int[]){5});
    check_softmax(0, 3, 2, (int[]){4, 7});
    check_softmax(1, 1, 1, (int[]){6});
    check_softmax(1, 5, 2, (int[]){3, 3});
    check_softmax(1, 2, 3, (int[]){2, 3, 4});
    check_softmax_values();

    /* batch norm, training: (N, F) and (N, C, H, W), batch 1 in 4-D, and a
     * batch below max_batch */
    check_batchnorm_grad(3, 3, 1, (int[]){4});
    check_batchnorm_grad(7, 5, 1, (int[]){1});
    check_batchnorm_grad(2, 2, 3, (int[]){3, 2, 3});
    check_batchnorm_grad(1, 1, 3, (int[]){2, 3, 3});
    check_batchnorm_grad(4, 3, 2, (int[]){3, 5});
    check_batchnorm_values();
    check_batchnorm_4d_values();
    check_batchnorm_eval_grad();
    check_batchnorm_errors();

    check_layernorm(1, 1, (int[]){5});
    check_layernorm(3, 2, (int[]){4, 7});
    check_layernorm(2, 1, (int[]){70}); /* two column blocks in the gamma/beta sums */
    check_layernorm(1, 1, (int[]){2});
    check_layernorm_values();

    check_dropout_grad(1, 7, 0.3f);
    check_dropout_grad(3, 11, 0.5f);
    check_dropout_grad(2, 5, 0.0f);
    check_dropout_values();

    check_embedding_grad(1, 1, (int[]){3}, 5, 4);
    check_embedding_grad(3, 2, (int[]){2, 3}, 4, 3);
    check_embedding_grad(2, 1, (int[]){7}, 3, 1);
    check_embedding_values();
    check_large();
    return gt_done("test_ops_more");
}

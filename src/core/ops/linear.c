/* linear.c - dense layers and matrix products on CBLAS.
 *
 * linear: x (R, in) [R = all leading dims], W (out, in), b (out)
 *   y (R, out) = act(x W^T + b)
 * The bias and activation are one pass over y right after the GEMM; in
 * backward the activation's derivative is applied in place on dy, then
 *   db += colsum(dy),  dW += dy^T x,  dx += dy W   (dx skipped for data).
 * With GELU the pre-activation is kept in the workspace. */
#include "../core.h"
#include "attr.h"

#include <cblas.h>
#include <string.h>

size_t gg_linear_ws(const gg_graph *g, const gg_tensor *t)
{
    (void)g;
    return gg_act_needs_input(gg_act_of(t)) ? gg_shape_numel(t->shape) : 0;
}

void gg_linear_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *w = gg_IN(g, t, 1);
    gg_tensor *b = t->nin > 2 ? gg_IN(g, t, 2) : NULL;
    gg_act act = gg_act_of(t);
    int R = (int)gg_rows(g, t), O = gg_last(t), Kin = gg_last(x);
    float *pre = gg_act_needs_input(act) ? t->ws : t->val;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, O, Kin, 1.0f, x->val, Kin, w->val, Kin, 0.0f, pre, O);
    if (b) {
        const float *bv = b->val;
#pragma omp parallel for if ((size_t)R * O > GG_PAR_MIN)
        for (int r = 0; r < R; r++) {
            float *row = pre + (size_t)r * O;
            if (act == GG_ACT_RELU) {
#pragma omp simd
                for (int o = 0; o < O; o++) {
                    float v = row[o] + bv[o];
                    row[o] = v < 0 ? 0 : v; /* NaN passes */
                }
            } else {
#pragma omp simd
                for (int o = 0; o < O; o++) row[o] += bv[o];
            }
        }
        if (act == GG_ACT_RELU) return;
    }
    if (act != GG_ACT_NONE) gg_act_forward(act, gg_attr_act_param(t), pre, t->val, (size_t)R * O);
}

void gg_linear_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *w = gg_IN(g, t, 1);
    gg_tensor *b = t->nin > 2 ? gg_IN(g, t, 2) : NULL;
    gg_act act = gg_act_of(t);
    int R = (int)gg_rows(g, t), O = gg_last(t), Kin = gg_last(x);
    float *d = t->grad;
    gg_act_backward_inplace(act, gg_attr_act_param(t), t->ws, t->val, d, (size_t)R * O);
    if (b && b->needs_grad) {
        float *db = b->grad;
        for (int r = 0; r < R; r++) {
            const float *row = d + (size_t)r * O;
#pragma omp simd
            for (int o = 0; o < O; o++) db[o] += row[o];
        }
    }
    if (w->needs_grad)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, Kin, R, 1.0f, d, O, x->val, Kin, 1.0f, w->grad, Kin);
    if (x->needs_grad)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, Kin, O, 1.0f, d, O, w->val, Kin,
                    gg_grad_fresh(g, x) ? 0.0f : 1.0f, x->grad, Kin);
}

gg_node gg_linear(gg_graph *g, gg_node x, gg_node w, gg_node b, gg_act act)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x) || !gg_node_ok(g, w) || (b >= 0 && !gg_node_ok(g, b)) || b < -1)
        return gg_build_fail(g, GG_E_ARG, "linear: bad input node (x %d, w %d, b %d)", x, w, b);
    if (act < 0 || act >= GG_ACT_COUNT) return gg_build_fail(g, GG_E_ARG, "linear: unknown activation %d", (int)act);
    gg_tensor *xt = gg_T(g, x), *wt = gg_T(g, w);
    char s1[64], s2[64], s3[64];
    if (wt->batched || wt->shape.ndim != 2 || wt->shape.d[1] != gg_last(xt))
        return gg_build_fail(g, GG_E_SHAPE, "linear in '%s': weight '%s' %s does not fit input '%s' %s (want (out, %d))",
                             g->scope, wt->name, gg_shape_str(wt->shape, s1, sizeof s1), xt->name,
                             gg_shape_str(xt->shape, s2, sizeof s2), gg_last(xt));
    if (b >= 0) {
        gg_tensor *bt = gg_T(g, b);
        if (bt->batched || bt->shape.ndim != 1 || bt->shape.d[0] != wt->shape.d[0])
            return gg_build_fail(g, GG_E_SHAPE, "linear in '%s': bias '%s' %s does not fit weight %s", g->scope,
                                 bt->name, gg_shape_str(bt->shape, s3, sizeof s3), gg_shape_str(wt->shape, s1, sizeof s1));
    }
    gg_shape s = xt->shape;
    s.d[s.ndim - 1] = wt->shape.d[0];
    gg_node in[3] = {x, w, b};
    gg_node n = gg_add_node(g, GG_OP_LINEAR, "linear", in, b >= 0 ? 3 : 2, s, xt->batched);
    if (n >= 0) gg_attr_act(&g->t[n]) = act;
    return n;
}

/* ---- matmul: a (..., M, K) x b (K, N) or b (..., K, N) batched like a ---- */

static void mm_dims(const gg_graph *g, const gg_tensor *t, const gg_tensor *a, int *M, int *K, int *N, int *B)
{
    int nd = a->shape.ndim;
    *M = a->shape.d[nd - 2];
    *K = a->shape.d[nd - 1];
    *N = gg_last(t);
    *B = (int)(gg_numel(g, a) / ((size_t)*M * *K));
}

void gg_matmul_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *a = gg_IN(g, t, 0), *b = gg_IN(g, t, 1);
    int M, K, N, B;
    mm_dims(g, t, a, &M, &K, &N, &B);
    if (!b->batched) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B * M, N, K, 1.0f, a->val, K, b->val, N, 0.0f,
                    t->val, N);
        return;
    }
    for (int i = 0; i < B; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a->val + (size_t)i * M * K, K,
                    b->val + (size_t)i * K * N, N, 0.0f, t->val + (size_t)i * M * N, N);
}

void gg_matmul_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *a = gg_IN(g, t, 0), *b = gg_IN(g, t, 1);
    int M, K, N, B;
    mm_dims(g, t, a, &M, &K, &N, &B);
    const float *d = t->grad;
    if (!b->batched) {
        if (a->needs_grad) /* da += d b^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B * M, K, N, 1.0f, d, N, b->val, N, 1.0f, a->grad, K);
        if (b->needs_grad) /* db += a^T d */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, B * M, 1.0f, a->val, K, d, N, 1.0f, b->grad, N);
        return;
    }
    for (int i = 0; i < B; i++) {
        const float *di = d + (size_t)i * M * N;
        if (a->needs_grad)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, di, N, b->val + (size_t)i * K * N, N,
                        1.0f, a->grad + (size_t)i * M * K, K);
        if (b->needs_grad)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, a->val + (size_t)i * M * K, K, di, N,
                        1.0f, b->grad + (size_t)i * K * N, N);
    }
}

gg_node gg_matmul(gg_graph *g, gg_node a, gg_node b)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, a) || !gg_node_ok(g, b)) return gg_build_fail(g, GG_E_ARG, "matmul: bad input node (%d, %d)", a, b);
    gg_tensor *at = gg_T(g, a), *bt = gg_T(g, b);
    char s1[64], s2[64];
    int nd = at->shape.ndim;
    int ok = nd >= 2 && (at->batched ? nd >= 3 : 1);
    if (ok) {
        int K = at->shape.d[nd - 1];
        if (!bt->batched)
            ok = bt->shape.ndim == 2 && bt->shape.d[0] == K;
        else {
            ok = at->batched && bt->shape.ndim == nd && bt->shape.d[nd - 2] == K;
            for (int i = 0; i < nd - 2 && ok; i++) ok = bt->shape.d[i] == at->shape.d[i];
        }
    }
    if (!ok)
        return gg_build_fail(g, GG_E_SHAPE, "matmul in '%s': %s '%s' and %s '%s' do not multiply", g->scope,
                             gg_shape_str(at->shape, s1, sizeof s1), at->name, gg_shape_str(bt->shape, s2, sizeof s2),
                             bt->name);
    gg_shape s = at->shape;
    s.d[nd - 1] = gg_last(bt);
    gg_node in[2] = {a, b};
    return gg_add_node(g, GG_OP_MATMUL, "matmul", in, 2, s, at->batched);
}

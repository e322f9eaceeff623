/* attention.c - multi-head scaled-dot-product self-attention.
 *
 * qkv (N, T, 3D) = [Q | K | V] on the last dim; head h uses columns
 * h dh .. (h+1) dh - 1 of each, dh = D / heads; y (N, T, D).
 * Per sample n and head h (Q, K, V are (T, dh) views with leading dim 3D):
 *   S = Q K^T / sqrt(dh)               (T, T)   GEMM
 *   P = softmax_rows(S), causal: S[i][j > i] = -inf, so P[i][j > i] = 0
 *   Y = P V                            (T, dh)  GEMM into y's columns (ld D)
 * P is kept in the workspace (N heads T T) for backward:
 *   dP = dY V^T,  dV += P^T dY,
 *   dS = P * (dP - rowsum(dP * P)) / sqrt(dh)   (the softmax's Jacobian)
 *   dQ += dS K,   dK += dS^T Q
 * Row sums are float: at most T terms, the softmax's in (0, 1] with the
 * largest 1. dS goes through one scratch (T, T) after P. The (n, h) pairs run one
 * after the other and the BLAS threads inside each GEMM: the pthreads
 * OpenBLAS must not be called from inside an OpenMP parallel region.
 * Attributes: ia = {heads, causal}. */
#include "attr.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* SIMD expf from glibc's libmvec for the softmax loops (see rnn.c). */
#if defined(__GLIBC__) && defined(__x86_64__) && defined(_OPENMP) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
extern float expf(float);
#endif

gg_node gg_attention(gg_graph *g, gg_node qkv, int heads, int causal)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, qkv)) return gg_build_fail(g, GG_E_ARG, "attention in '%s': bad input node %d", g->scope, qkv);
    gg_tensor *xt = gg_T(g, qkv);
    char s1[64];
    if (!xt->batched || xt->shape.ndim != 3 || gg_last(xt) % 3 != 0)
        return gg_build_fail(g, GG_E_SHAPE, "attention in '%s': input '%s' %s is not (N, T, 3 D)", g->scope, xt->name,
                             gg_shape_str(xt->shape, s1, sizeof s1));
    int D = gg_last(xt) / 3;
    if (heads < 1 || D % heads != 0)
        return gg_build_fail(g, GG_E_ARG, "attention in '%s': %d heads do not divide the width D = %d of '%s' %s",
                             g->scope, heads, D, xt->name, gg_shape_str(xt->shape, s1, sizeof s1));
    gg_shape s = gg_shape3(xt->shape.d[0], xt->shape.d[1], D);
    gg_node n = gg_add_node(g, GG_OP_ATTENTION, "attention", &qkv, 1, s, 1);
    if (n >= 0) {
        gg_attn_heads(&g->t[n]) = heads;
        gg_attn_causal(&g->t[n]) = causal != 0;
    }
    return n;
}

size_t gg_attention_ws(const gg_graph *g, const gg_tensor *t)
{
    size_t T = (size_t)t->shape.d[1];
    return ((size_t)g->max_batch * (size_t)gg_attn_heads(t) + 1) * T * T;
}

void gg_attention_fwd(gg_graph *g, gg_tensor *t)
{
    const float *qkv = gg_IN(g, t, 0)->val;
    int N = g->batch, T = t->shape.d[1], D = gg_last(t), heads = gg_attn_heads(t), causal = gg_attn_causal(t), dh = D / heads;
    float scale = 1.0f / sqrtf((float)dh);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < heads; h++) {
            const float *q = qkv + (size_t)n * T * 3 * D + (size_t)h * dh, *k = q + D, *v = q + 2 * D;
            float *p = t->ws + ((size_t)n * heads + h) * T * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, scale, q, 3 * D, k, 3 * D, 0.0f, p, T);
            for (int i = 0; i < T; i++) {
                float *row = p + (size_t)i * T;
                int m = causal ? i + 1 : T; /* columns row i may see */
                float mx = row[0];
                for (int j = 1; j < m; j++) mx = row[j] > mx ? row[j] : mx;
                float sum = 0; /* at most T terms in (0, 1], the largest 1 */
#pragma omp simd reduction(+ : sum)
                for (int j = 0; j < m; j++) {
                    row[j] = expf(row[j] - mx);
                    sum += row[j];
                }
                float inv = 1.0f / sum;
#pragma omp simd
                for (int j = 0; j < m; j++) row[j] *= inv;
                for (int j = m; j < T; j++) row[j] = 0;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, 1.0f, p, T, v, 3 * D, 0.0f,
                        t->val + (size_t)n * T * D + (size_t)h * dh, D);
        }
}

void gg_attention_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    if (!x->needs_grad || !x->grad) return;
    const float *qkv = x->val;
    int N = g->batch, T = t->shape.d[1], D = gg_last(t), heads = gg_attn_heads(t), causal = gg_attn_causal(t), dh = D / heads;
    float scale = 1.0f / sqrtf((float)dh);
    float *ds = t->ws + (size_t)g->max_batch * heads * T * T; /* the scratch after every P */
    for (int n = 0; n < N; n++)
        for (int h = 0; h < heads; h++) {
            size_t off = (size_t)n * T * 3 * D + (size_t)h * dh;
            const float *q = qkv + off, *k = q + D, *v = q + 2 * D;
            float *dq = x->grad + off, *dk = dq + D, *dv = dq + 2 * D;
            const float *p = t->ws + ((size_t)n * heads + h) * T * T;
            const float *dy = t->grad + (size_t)n * T * D + (size_t)h * dh;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, 1.0f, dy, D, v, 3 * D, 0.0f, ds, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, 1.0f, p, T, dy, D, 1.0f, dv, 3 * D);
            for (int i = 0; i < T; i++) {
                const float *pr = p + (size_t)i * T;
                float *dr = ds + (size_t)i * T;
                int m = causal ? i + 1 : T;
                float fd = 0;
#pragma omp simd reduction(+ : fd)
                for (int j = 0; j < m; j++) fd += pr[j] * dr[j];
#pragma omp simd
                for (int j = 0; j < m; j++) dr[j] = pr[j] * (dr[j] - fd);
                for (int j = m; j < T; j++) dr[j] = 0;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, scale, ds, T, k, 3 * D, 1.0f, dq, 3 * D);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, scale, ds, T, q, 3 * D, 1.0f, dk, 3 * D);
        }
}

/* attention.c - multi-head scaled-dot-product self-attention.
 *
 * qkv (N, T, 3D) = [Q | K | V] on the last dim; head h uses columns
 * h dh .. (h+1) dh - 1 of each, dh = D / heads; y (N, T, D).
 * Per sample n and head h (Q, K, V are (T, dh) views with leading dim 3D):
 *   S = Q K^T / sqrt(dh)               (T, T)   GEMM
 *   [logit cap c > 0: S <- c tanh(S / c), th = tanh(S / c) kept]
 *   P = softmax_rows(S), causal: S[i][j > i] = -inf, so P[i][j > i] = 0
 *   Y = P V                            (T, dh)  GEMM into y's columns (ld D)
 * P is kept in the workspace (N heads T T) for backward:
 *   dP = dY V^T,  dV += P^T dY,
 *   dS = P * (dP - rowsum(dP * P)) / sqrt(dh)   (the softmax's Jacobian)
 *   [logit cap: dS *= 1 - th^2]
 *   dQ += dS K,   dK += dS^T Q
 * Row sums are float: at most T terms, the softmax's in (0, 1] with the
 * largest 1. dS goes through one scratch (T, T) after P. The (n, h) pairs run one
 * after the other and the BLAS threads inside each GEMM: the pthreads
 * OpenBLAS must not be called from inside an OpenMP parallel region.
 *
 * Monitoring, from the loops the softmax runs anyway: per head, the largest
 * |S| (before the cap) over the batch's visible entries, and the mean row
 * entropy H = log sum_j e_j - sum_j e_j d_j / sum_j e_j with d_j = S_j -
 * max_j S_j, e_j = exp(d_j) (one more multiply-add per entry in the
 * exponential's loop). They sit in the workspace's tail:
 *   [P: max_batch heads T T][scratch: T T][th: max_batch heads T T if capped]
 *   [max |S| per head][entropy per head][1 once a forward ran]
 * Attributes (attr.h): heads, causal, the logit cap, and for QK-clip the
 * nodes of W_qkv and b_qkv and qk_norm. */
#include "../core.h"
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

gg_node gg_attention_capped(gg_graph *g, gg_node qkv, int heads, int causal, float logit_cap)
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
    if (!(logit_cap >= 0 && logit_cap < 1e30f))
        return gg_build_fail(g, GG_E_ARG, "attention in '%s': logit cap %g must be a finite number >= 0 (0: none)",
                             g->scope, (double)logit_cap);
    gg_shape s = gg_shape3(xt->shape.d[0], xt->shape.d[1], D);
    gg_node n = gg_add_node(g, GG_OP_ATTENTION, "attention", &qkv, 1, s, 1);
    if (n >= 0) {
        gg_tensor *t = &g->t[n];
        gg_attn_heads(t) = heads;
        gg_attn_causal(t) = causal != 0;
        gg_attn_w_qkv(t) = gg_attn_b_qkv(t) = -1;
        gg_attn_logit_cap(t) = logit_cap;
    }
    return n;
}

gg_node gg_attention(gg_graph *g, gg_node qkv, int heads, int causal)
{
    return gg_attention_capped(g, qkv, heads, causal, 0);
}

/* floats of P (all samples and heads) */
static size_t p_floats(const gg_graph *g, const gg_tensor *t)
{
    size_t T = (size_t)t->shape.d[1];
    return (size_t)g->max_batch * (size_t)gg_attn_heads(t) * T * T;
}

/* offset of the statistics in the workspace */
static size_t stats_off(const gg_graph *g, const gg_tensor *t)
{
    size_t T = (size_t)t->shape.d[1], pf = p_floats(g, t);
    return pf + T * T + (gg_attn_logit_cap(t) > 0 ? pf : 0);
}

size_t gg_attention_ws(const gg_graph *g, const gg_tensor *t)
{
    return stats_off(g, t) + 2 * (size_t)gg_attn_heads(t) + 1;
}

void gg_attention_fwd(gg_graph *g, gg_tensor *t)
{
    const float *qkv = gg_IN(g, t, 0)->val;
    int N = g->batch, T = t->shape.d[1], D = gg_last(t), heads = gg_attn_heads(t), causal = gg_attn_causal(t),
        dh = D / heads;
    float scale = 1.0f / sqrtf((float)dh), cap = gg_attn_logit_cap(t), icap = cap > 0 ? 1.0f / cap : 0;
    size_t pf = p_floats(g, t);
    float *stats = t->ws + stats_off(g, t);
    for (int h = 0; h < heads; h++) {
        float amax = 0;
        double ent = 0;
        for (int n = 0; n < N; n++) {
            const float *q = qkv + (size_t)n * T * 3 * D + (size_t)h * dh, *k = q + D, *v = q + 2 * D;
            size_t po = ((size_t)n * heads + h) * T * T;
            float *p = t->ws + po;
            float *th = cap > 0 ? t->ws + pf + (size_t)T * T + po : NULL;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, scale, q, 3 * D, k, 3 * D, 0.0f, p, T);
            for (int i = 0; i < T; i++) {
                float *row = p + (size_t)i * T;
                int m = causal ? i + 1 : T; /* columns row i may see */
                float mx = row[0], mn = row[0];
                for (int j = 1; j < m; j++) {
                    mx = row[j] > mx ? row[j] : mx;
                    mn = row[j] < mn ? row[j] : mn;
                }
                float big = fmaxf(mx, -mn);
                /* NaN stays visible: fmaxf would drop it */
                amax = big > amax || big != big ? big : amax;
                if (th) {
                    float *tr = th + (size_t)i * T;
                    for (int j = 0; j < m; j++) {
                        tr[j] = tanhf(row[j] * icap);
                        row[j] = cap * tr[j];
                    }
                    mx = cap * tanhf(mx * icap); /* tanh is increasing: the capped max */
                }
                float sum = 0, sed = 0; /* at most T terms in (0, 1], the largest 1 */
#pragma omp simd reduction(+ : sum, sed)
                for (int j = 0; j < m; j++) {
                    float d = row[j] - mx;
                    row[j] = expf(d);
                    sum += row[j];
                    sed += row[j] * d;
                }
                ent += (double)logf(sum) - (double)sed / sum;
                float inv = 1.0f / sum;
#pragma omp simd
                for (int j = 0; j < m; j++) row[j] *= inv;
                for (int j = m; j < T; j++) row[j] = 0;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, 1.0f, p, T, v, 3 * D, 0.0f,
                        t->val + (size_t)n * T * D + (size_t)h * dh, D);
        }
        stats[h] = amax;
        stats[heads + h] = (float)(ent / ((double)N * T));
    }
    stats[2 * heads] = 1;
}

void gg_attention_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    if (!x->needs_grad || !x->grad) return;
    const float *qkv = x->val;
    int N = g->batch, T = t->shape.d[1], D = gg_last(t), heads = gg_attn_heads(t), causal = gg_attn_causal(t),
        dh = D / heads;
    float scale = 1.0f / sqrtf((float)dh);
    size_t pf = p_floats(g, t);
    float *ds = t->ws + pf; /* the scratch after every P */
    int capped = gg_attn_logit_cap(t) > 0;
    /* each head of each sample writes its own dq, dk, dv once */
    float beta = gg_grad_fresh(g, x) ? 0.0f : 1.0f;
    for (int n = 0; n < N; n++)
        for (int h = 0; h < heads; h++) {
            size_t off = (size_t)n * T * 3 * D + (size_t)h * dh;
            const float *q = qkv + off, *k = q + D, *v = q + 2 * D;
            float *dq = x->grad + off, *dk = dq + D, *dv = dq + 2 * D;
            size_t po = ((size_t)n * heads + h) * T * T;
            const float *p = t->ws + po;
            const float *th = capped ? t->ws + pf + (size_t)T * T + po : NULL;
            const float *dy = t->grad + (size_t)n * T * D + (size_t)h * dh;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, 1.0f, dy, D, v, 3 * D, 0.0f, ds, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, 1.0f, p, T, dy, D, beta, dv, 3 * D);
            for (int i = 0; i < T; i++) {
                const float *pr = p + (size_t)i * T;
                float *dr = ds + (size_t)i * T;
                int m = causal ? i + 1 : T;
                float fd = 0;
#pragma omp simd reduction(+ : fd)
                for (int j = 0; j < m; j++) fd += pr[j] * dr[j];
                if (th) {
                    const float *tr = th + (size_t)i * T;
#pragma omp simd
                    for (int j = 0; j < m; j++) dr[j] = pr[j] * (dr[j] - fd) * (1 - tr[j] * tr[j]);
                } else {
#pragma omp simd
                    for (int j = 0; j < m; j++) dr[j] = pr[j] * (dr[j] - fd);
                }
                for (int j = m; j < T; j++) dr[j] = 0;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, scale, ds, T, k, 3 * D, beta, dq, 3 * D);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, scale, ds, T, q, 3 * D, beta, dk, 3 * D);
        }
}

/* ---- statistics and QK-clip ---------------------------------------------- */

/* The attention op n in *out, or a failure naming fn. */
static gg_status attention_node(const gg_graph *g, gg_node n, const char *fn, gg_tensor **out)
{
    *out = NULL;
    if (!g || !g->compiled) return gg_fail(GG_E_STATE, "%s: the graph is not compiled", fn);
    if (n < 0 || n >= g->n || g->t[n].kind != GG_K_OP || g->t[n].op != GG_OP_ATTENTION)
        return gg_fail(GG_E_ARG, "%s: node %d ('%s') is not an attention op", fn, n,
                       n >= 0 && n < g->n ? g->t[n].name : "none");
    *out = &g->t[n];
    return GG_OK;
}

int gg_graph_attention_heads(const gg_graph *g, gg_node n)
{
    if (!g || n < 0 || n >= g->n || g->t[n].kind != GG_K_OP || g->t[n].op != GG_OP_ATTENTION) return 0;
    return gg_attn_heads(&g->t[n]);
}

gg_node gg_graph_attention_qkv(const gg_graph *g, gg_node n)
{
    if (!g || n < 0 || n >= g->n || g->t[n].kind != GG_K_OP || g->t[n].op != GG_OP_ATTENTION) return -1;
    return gg_attn_w_qkv(&g->t[n]) >= 0 ? (gg_node)gg_attn_w_qkv(&g->t[n]) : -1;
}

gg_status gg_graph_attention_stats(const gg_graph *g, gg_node n, int head, gg_attention_stats *out)
{
    const char *fn = "gg_graph_attention_stats";
    if (!out) return gg_fail(GG_E_ARG, "%s: NULL output", fn);
    memset(out, 0, sizeof *out);
    gg_tensor *t;
    gg_status s = attention_node(g, n, fn, &t);
    if (s) return s;
    int heads = gg_attn_heads(t), T = t->shape.d[1];
    if (head < 0 || head >= heads)
        return gg_fail(GG_E_ARG, "%s: head %d of '%s' is outside 0..%d", fn, head, t->name, heads - 1);
    const float *st = t->ws + stats_off(g, t);
    if (st[2 * heads] != 1) return gg_fail(GG_E_STATE, "%s: '%s' has not run a forward pass yet", fn, t->name);
    out->max_logit = st[head];
    out->entropy = st[heads + head];
    double u = 0;
    if (gg_attn_causal(t))
        for (int i = 1; i <= T; i++) u += log((double)i);
    else
        u = T * log((double)T);
    out->entropy_uniform = (float)(u / T);
    return GG_OK;
}

gg_status gg_attention_qk_clip(gg_graph *g, gg_node n, int head, float tau, float *factor)
{
    const char *fn = "gg_attention_qk_clip";
    if (factor) *factor = 1;
    gg_tensor *t;
    gg_status s = attention_node(g, n, fn, &t);
    if (s) return s;
    int heads = gg_attn_heads(t), D = gg_last(t), dh = D / heads;
    if (head < 0 || head >= heads)
        return gg_fail(GG_E_ARG, "%s: head %d of '%s' is outside 0..%d", fn, head, t->name, heads - 1);
    if (!(tau > 0 && tau < 1e30f)) return gg_fail(GG_E_ARG, "%s: threshold %g must be finite and > 0", fn, (double)tau);
    if (gg_attn_qk_norm(t))
        return gg_fail(GG_E_STATE,
                       "%s: '%s' normalises its queries and keys (qk_norm): rescaling W_q and W_k does not change "
                       "its logits",
                       fn, t->name);
    if (gg_attn_w_qkv(t) < 0)
        return gg_fail(GG_E_STATE, "%s: '%s' was not built by gg_attention_block: its W_q and W_k are not known", fn,
                       t->name);
    float *st = t->ws + stats_off(g, t);
    if (st[2 * heads] != 1) return gg_fail(GG_E_STATE, "%s: '%s' has not run a forward pass yet", fn, t->name);
    float mx = st[head];
    if (!isfinite(mx)) return gg_fail(GG_E_STATE, "%s: head %d of '%s' has a non-finite max logit", fn, head, t->name);
    if (mx <= tau) return GG_OK;
    float f = sqrtf(tau / mx);
    gg_tensor *w = &g->t[gg_attn_w_qkv(t)], *b = gg_attn_b_qkv(t) >= 0 ? &g->t[gg_attn_b_qkv(t)] : NULL;
    int in = w->shape.d[1];
    /* rows h dh .. of the Q block and of the K block (rows D + h dh ..) */
    for (int blk = 0; blk < 2; blk++)
        for (int r = 0; r < dh; r++) {
            size_t row = (size_t)blk * D + (size_t)head * dh + (size_t)r;
            float *wr = w->val + row * (size_t)in;
            for (int c = 0; c < in; c++) wr[c] *= f;
            if (b) b->val[row] *= f;
        }
    st[head] = mx * f * f; /* what the same batch now gives: tau */
    if (factor) *factor = f;
    return GG_OK;
}

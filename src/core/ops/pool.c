/* pool.c - max, average and global average pooling over (N, C, H, W).
 *
 *   maxpool / avgpool: x (N, C, H, W) -> y (N, C, Ho, Wo),
 *     Ho = (H + 2 pad - k) / stride + 1, windows k x k.
 *   global_avgpool:    x (N, C, ...) -> y (N, C), the mean over the rest.
 *
 * Max pooling keeps, per output, the index of the winning input within its
 * (H, W) plane in the workspace (as a float: exact below 2^24, checked at
 * build time); backward adds dy there. Padding never wins: a window's first
 * candidate is a real pixel (pad <= k/2 guarantees each window has one),
 * and a NaN wins over numbers (as in PyTorch) so that it reaches the guard. Average pooling
 * divides by k*k whatever the padding (PyTorch's count_include_pad=True).
 * Every loop runs over the N*C planes, one thread per plane, so backward's
 * scatter-adds never collide. Attributes: ia = {k, stride, pad}. */
#include "../core.h"
#include "attr.h"

#include <string.h>

typedef struct pool_dims {
    int H, W, Ho, Wo, k, stride, pad;
    long planes; /* N*C at the current batch */
} pool_dims;

static pool_dims pool_get(const gg_graph *g, const gg_tensor *t)
{
    const gg_tensor *x = &g->t[t->in[0]];
    pool_dims d;
    d.H = x->shape.d[2];
    d.W = x->shape.d[3];
    d.Ho = t->shape.d[2];
    d.Wo = t->shape.d[3];
    d.k = gg_pool_k(t);
    d.stride = gg_pool_stride(t);
    d.pad = gg_pool_pad(t);
    d.planes = (long)g->batch * x->shape.d[1];
    return d;
}

/* The window of output (oh, ow) clipped to the image: rows [h0, h1), cols [w0, w1). */
static inline void window(const pool_dims *d, int oh, int ow, int *h0, int *h1, int *w0, int *w1)
{
    int hs = oh * d->stride - d->pad, ws = ow * d->stride - d->pad;
    *h0 = hs < 0 ? 0 : hs;
    *w0 = ws < 0 ? 0 : ws;
    *h1 = hs + d->k < d->H ? hs + d->k : d->H;
    *w1 = ws + d->k < d->W ? ws + d->k : d->W;
}

/* ---- max pooling ---- */

size_t gg_maxpool_ws(const gg_graph *g, const gg_tensor *t)
{
    (void)g;
    return gg_shape_numel(t->shape); /* one argmax per output */
}

/* First NaN of the window (there is one), for the rare slow path. */
static int window_nan(const float *xq, int W, int h0, int h1, int w0, int w1)
{
    for (int ih = h0; ih < h1; ih++)
        for (int iw = w0; iw < w1; iw++)
            if (xq[ih * W + iw] != xq[ih * W + iw]) return ih * W + iw;
    return h0 * W + w0;
}

/* Max of the window rows [h0, h1) x cols [w0, w1) of plane xq, and its
 * index (the first one on ties). Selects, not branches: on real data each
 * comparison is a coin flip no branch predictor learns; NaNs are only
 * flagged here and handled off the hot path. */
static inline float window_max(const float *xq, int W, int h0, int h1, int w0, int w1, int *arg)
{
    int bi = h0 * W + w0, nan = 0;
    float best = xq[bi];
    for (int ih = h0; ih < h1; ih++)
        for (int iw = w0; iw < w1; iw++) {
            int i = ih * W + iw;
            float v = xq[i];
            int take = v > best;
            best = take ? v : best;
            bi = take ? i : bi;
            nan |= v != v;
        }
    if (nan) {
        bi = window_nan(xq, W, h0, h1, w0, w1);
        best = xq[bi];
    }
    *arg = bi;
    return best;
}

/* Longest output row of the vectorised 2x2 path's padded copies. */
#define POOL_ROW 256

void gg_maxpool_fwd(gg_graph *g, gg_tensor *t)
{
    pool_dims d = pool_get(g, t);
    const float *x = gg_IN(g, t, 0)->val;
    float *y = t->val, *arg = t->ws;
    size_t xp = (size_t)d.H * d.W, yp = (size_t)d.Ho * d.Wo;
#pragma omp parallel for if ((size_t)d.planes * xp > GG_PAR_MIN)
    for (long q = 0; q < d.planes; q++) {
        const float *xq = x + (size_t)q * xp;
        float *yq = y + (size_t)q * yp, *aq = arg + (size_t)q * yp;
        for (int oh = 0; oh < d.Ho; oh++) {
            float *yr = yq + (size_t)oh * d.Wo, *ar = aq + (size_t)oh * d.Wo;
            if (d.k == 2 && d.stride == 2 && d.pad == 0) {
                /* the common case, unrolled: windows never leave the image */
                const float *r0 = xq + (size_t)2 * oh * d.W, *r1 = r0 + d.W;
                int base = 2 * oh * d.W, nan = 0;
                /* Branch-free so that it vectorises; a NaN anywhere in the
                 * row sends the row through the exact path below. Rows as
                 * short as a CNN's (Wo 7 or 14) are shorter than one AVX-512
                 * vector, so those go through zero-padded copies with a trip
                 * count of whole vectors. */
                float p0[2 * POOL_ROW], p1[2 * POOL_ROW], py[POOL_ROW], pa[POOL_ROW];
                int padded = d.Wo <= POOL_ROW - 16, n = d.Wo;
                float *ty = yr, *ta = ar;
                if (padded) {
                    n = (d.Wo + 15) & ~15;
                    memcpy(p0, r0, (size_t)2 * d.Wo * sizeof *p0);
                    memcpy(p1, r1, (size_t)2 * d.Wo * sizeof *p1);
                    memset(p0 + 2 * d.Wo, 0, (size_t)2 * (n - d.Wo) * sizeof *p0);
                    memset(p1 + 2 * d.Wo, 0, (size_t)2 * (n - d.Wo) * sizeof *p1);
                    r0 = p0;
                    r1 = p1;
                    ty = py;
                    ta = pa;
                }
#pragma omp simd reduction(| : nan)
                for (int ow = 0; ow < n; ow++) {
                    float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], e = r1[2 * ow + 1];
                    /* indices as floats (exact: planes are under 2^24) */
                    float fa = (float)(base + 2 * ow), fb = fa + 1, fc = fa + (float)d.W, fe = fc + 1;
                    float m0 = b > a ? b : a, i0 = b > a ? fb : fa;
                    float m1 = e > c ? e : c, i1 = e > c ? fe : fc;
                    ty[ow] = m1 > m0 ? m1 : m0;
                    ta[ow] = m1 > m0 ? i1 : i0;
                    nan |= (a != a) | (b != b) | (c != c) | (e != e);
                }
                if (padded) {
                    memcpy(yr, py, (size_t)d.Wo * sizeof *yr);
                    memcpy(ar, pa, (size_t)d.Wo * sizeof *ar);
                    r0 = xq + (size_t)2 * oh * d.W;
                    r1 = r0 + d.W;
                }
                if (!nan) continue;
                for (int ow = 0; ow < d.Wo; ow++) {
                    float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], e = r1[2 * ow + 1];
                    if ((a != a) | (b != b) | (c != c) | (e != e)) {
                        int i = window_nan(xq, d.W, 2 * oh, 2 * oh + 2, 2 * ow, 2 * ow + 2);
                        yr[ow] = xq[i];
                        ar[ow] = (float)i;
                    }
                }
                continue;
            }
            for (int ow = 0; ow < d.Wo; ow++) {
                int h0, h1, w0, w1, bi;
                window(&d, oh, ow, &h0, &h1, &w0, &w1);
                yr[ow] = window_max(xq, d.W, h0, h1, w0, w1, &bi);
                ar[ow] = (float)bi;
            }
        }
    }
}

void gg_maxpool_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    if (!x->needs_grad) return;
    pool_dims d = pool_get(g, t);
    const float *dy = t->grad, *arg = t->ws;
    float *dx = x->grad;
    size_t xp = (size_t)d.H * d.W, yp = (size_t)d.Ho * d.Wo;
#pragma omp parallel for if ((size_t)d.planes * yp > GG_PAR_MIN)
    for (long q = 0; q < d.planes; q++) {
        float *dq = dx + (size_t)q * xp;
        const float *gq = dy + (size_t)q * yp, *aq = arg + (size_t)q * yp;
        for (size_t i = 0; i < yp; i++) dq[(size_t)aq[i]] += gq[i];
    }
}

/* ---- average pooling ---- */

void gg_avgpool_fwd(gg_graph *g, gg_tensor *t)
{
    pool_dims d = pool_get(g, t);
    const float *x = gg_IN(g, t, 0)->val;
    float *y = t->val;
    size_t xp = (size_t)d.H * d.W, yp = (size_t)d.Ho * d.Wo;
    float inv = 1.0f / (float)(d.k * d.k);
#pragma omp parallel for if ((size_t)d.planes * xp > GG_PAR_MIN)
    for (long q = 0; q < d.planes; q++) {
        const float *xq = x + (size_t)q * xp;
        float *yq = y + (size_t)q * yp;
        for (int oh = 0; oh < d.Ho; oh++)
            for (int ow = 0; ow < d.Wo; ow++) {
                int h0, h1, w0, w1;
                window(&d, oh, ow, &h0, &h1, &w0, &w1);
                float s = 0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) s += xq[ih * d.W + iw];
                yq[oh * d.Wo + ow] = s * inv;
            }
    }
}

void gg_avgpool_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    if (!x->needs_grad) return;
    pool_dims d = pool_get(g, t);
    const float *dy = t->grad;
    float *dx = x->grad;
    size_t xp = (size_t)d.H * d.W, yp = (size_t)d.Ho * d.Wo;
    float inv = 1.0f / (float)(d.k * d.k);
#pragma omp parallel for if ((size_t)d.planes * xp > GG_PAR_MIN)
    for (long q = 0; q < d.planes; q++) {
        float *dq = dx + (size_t)q * xp;
        const float *gq = dy + (size_t)q * yp;
        for (int oh = 0; oh < d.Ho; oh++)
            for (int ow = 0; ow < d.Wo; ow++) {
                int h0, h1, w0, w1;
                window(&d, oh, ow, &h0, &h1, &w0, &w1);
                float v = gq[oh * d.Wo + ow] * inv;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) dq[ih * d.W + iw] += v;
            }
    }
}

/* Shared builder of max and average pooling. */
static gg_node pool2d(gg_graph *g, int op, const char *name, gg_node x, int k, int stride, int pad)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x)) return gg_build_fail(g, GG_E_ARG, "%s in '%s': bad input node %d", name, g->scope, x);
    gg_tensor *xt = gg_T(g, x);
    char s1[64];
    gg_shape_str(xt->shape, s1, sizeof s1);
    if (!xt->batched || xt->shape.ndim != 4)
        return gg_build_fail(g, GG_E_SHAPE, "%s in '%s': input '%s' is %s, not (N, C, H, W)", name, g->scope,
                             xt->name, s1);
    if (k < 1 || stride < 1 || pad < 0 || pad > k / 2)
        return gg_build_fail(g, GG_E_ARG, "%s in '%s': kernel %d, stride %d, pad %d (want k >= 1, stride >= 1, "
                             "0 <= pad <= k/2)", name, g->scope, k, stride, pad);
    long long ho = (long long)xt->shape.d[2] + 2LL * pad - k, wo = (long long)xt->shape.d[3] + 2LL * pad - k;
    ho = ho < 0 ? 0 : ho / stride + 1;
    wo = wo < 0 ? 0 : wo / stride + 1;
    if (ho < 1 || wo < 1)
        return gg_build_fail(g, GG_E_SHAPE, "%s in '%s': a %dx%d window with pad %d does not fit input '%s' %s", name,
                             g->scope, k, k, pad, xt->name, s1);
    if (op == GG_OP_MAXPOOL && (long long)xt->shape.d[2] * xt->shape.d[3] > (1LL << 24))
        return gg_build_fail(g, GG_E_SHAPE, "%s in '%s': input '%s' %s has over 2^24 pixels per plane", name,
                             g->scope, xt->name, s1);
    gg_shape s = gg_shape4(xt->shape.d[0], xt->shape.d[1], (int)ho, (int)wo);
    gg_node n = gg_add_node(g, op, name, &x, 1, s, 1);
    if (n >= 0) {
        gg_pool_k(&g->t[n]) = k;
        gg_pool_stride(&g->t[n]) = stride;
        gg_pool_pad(&g->t[n]) = pad;
    }
    return n;
}

gg_node gg_maxpool2d(gg_graph *g, gg_node x, int k, int stride, int pad)
{
    return pool2d(g, GG_OP_MAXPOOL, "maxpool2d", x, k, stride, pad);
}

gg_node gg_avgpool2d(gg_graph *g, gg_node x, int k, int stride, int pad)
{
    return pool2d(g, GG_OP_AVGPOOL, "avgpool2d", x, k, stride, pad);
}

/* ---- global average pooling: x (N, C, S...) -> y (N, C), S = the rest ---- */

void gg_global_avgpool_fwd(gg_graph *g, gg_tensor *t)
{
    const gg_tensor *x = gg_IN(g, t, 0);
    long planes = (long)gg_numel(g, t);
    size_t S = x->per / t->per;
    const float *xv = x->val;
    float *y = t->val;
#pragma omp parallel for if ((size_t)planes * S > GG_PAR_MIN)
    for (long q = 0; q < planes; q++) {
        const float *r = xv + (size_t)q * S;
        double s = 0; /* planes can be large: sum in double */
        for (size_t i = 0; i < S; i++) s += r[i];
        y[q] = (float)(s / (double)S);
    }
}

void gg_global_avgpool_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    if (!x->needs_grad) return;
    long planes = (long)gg_numel(g, t);
    size_t S = x->per / t->per;
    const float *dy = t->grad;
    float *dx = x->grad;
    float inv = 1.0f / (float)S;
#pragma omp parallel for if ((size_t)planes * S > GG_PAR_MIN)
    for (long q = 0; q < planes; q++) {
        float v = dy[q] * inv, *r = dx + (size_t)q * S;
#pragma omp simd
        for (size_t i = 0; i < S; i++) r[i] += v;
    }
}

gg_node gg_global_avgpool(gg_graph *g, gg_node x)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x)) return gg_build_fail(g, GG_E_ARG, "global_avgpool in '%s': bad input node %d", g->scope, x);
    gg_tensor *xt = gg_T(g, x);
    char s1[64];
    if (!xt->batched || xt->shape.ndim < 3)
        return gg_build_fail(g, GG_E_SHAPE, "global_avgpool in '%s': input '%s' is %s, not (N, C, H, W) or (N, C, L)",
                             g->scope, xt->name, gg_shape_str(xt->shape, s1, sizeof s1));
    return gg_add_node(g, GG_OP_GLOBAL_AVGPOOL, "global_avgpool", &x, 1, gg_shape2(xt->shape.d[0], xt->shape.d[1]), 1);
}

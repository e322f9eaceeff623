/* conv.c - 2-D convolution as im2col + one CBLAS GEMM per chunk of samples.
 *
 *   x (N, C, H, W), w (O, C, KH, KW) (PyTorch layout), b (O)
 *   y (N, O, Ho, Wo) = act(conv(x, w) + b)
 *   K = C*KH*KW rows of the im2col matrix, P = Ho*Wo output pixels.
 *
 * The batch is cut into chunks of nb samples. A chunk is unrolled into
 * col (K, nb*P), multiplied once, Y (O, nb*P) = W (O, K) col, and the
 * (O, nb, P) result is copied block by block into the NCHW output with the
 * bias added on the way. With nb = 1 the GEMM writes the output directly.
 * nb is picked so that col stays around a few MB: large enough that the
 * GEMM is efficient, small enough that col is still in cache when the GEMM
 * reads it (measured faster than one whole-batch GEMM, and it keeps the
 * workspace small). Backward recomputes col per chunk instead of keeping a
 * whole-batch copy:
 *   dY = dy * act'(.)  (in place on the output gradient, as linear does)
 *   db += sum over (n, p) of dY
 *   dW (O, K) += dY (O, nb*P) col^T         (skipped if w needs no gradient)
 *   dcol (K, nb*P) = W^T dY;  dx += col2im(dcol)  (skipped for data input)
 * Workspace: [col K*nb*P][Ytmp O*nb*P if nb > 1][pre-activation if GELU].
 * Stride-1 square kernels with enough channels take Winograd's algorithm
 * instead (conv_winograd.c; same workspace tail for the pre-activation).
 * Attributes (attr.h): the fused activation, stride, pad, dilation and the
 * gg_conv_algo asked for. */
#include "../core.h"
#include "attr.h"
#include "conv.h"

#include <cblas.h>
#include <string.h>

/* Floats of col per chunk the chunk size aims at. On the small CNN (batch
 * 128, conv 1->32 5x5 and 32->64 5x5 on 28x28 and 14x14), one thread, fwd +
 * bwd of both convs: per-sample GEMMs and 256K..1M-float chunks all ~120 ms,
 * the whole batch in one GEMM ~134 ms with a 110 MB workspace; conv2's GEMMs
 * run at ~70 GFLOP/s either way, so the GEMM is the bound. Overridable at
 * compile time for such measurements. */
#ifndef CONV_COL_TARGET
#define CONV_COL_TARGET ((size_t)1 << 20)
#endif

typedef struct conv_dims {
    int C, H, W, O, KH, KW, Ho, Wo, stride, pad, dil;
    int K, P;
    int nb;     /* samples per chunk */
    int direct; /* 1x1, stride 1, no padding: col is x itself (nb = 1) */
    int wino;   /* Winograd, with plan wp */
    gg_wino_plan wp;
} conv_dims;

/* Whether the node computes by Winograd: asked for, or AUTO and it fits
 * with at least one full vector block of channels on each side. Measured
 * with bench/conv_algos (docs/results.md; 1 thread, forward + backward,
 * im2col time / Winograd time): 8 -> 8 channels 0.64 (3x3) and 0.98 (5x5),
 * 16 -> 16 1.34, 64 -> 64 1.59 (3x3) and 2.80 (5x5), 256 -> 256 on 7x7
 * 1.08. */
static int use_wino(const conv_dims *d, int asked)
{
    if (asked == GG_CONV_IM2COL) return 0;
    if (asked == GG_CONV_WINOGRAD) return 1;
    return d->C >= GG_CONV_WINO_MIN && d->O >= GG_CONV_WINO_MIN;
}

static conv_dims conv_get(const gg_graph *g, const gg_tensor *t)
{
    const gg_tensor *x = &g->t[t->in[0]], *w = &g->t[t->in[1]];
    conv_dims d;
    d.C = x->shape.d[1];
    d.H = x->shape.d[2];
    d.W = x->shape.d[3];
    d.O = w->shape.d[0];
    d.KH = w->shape.d[2];
    d.KW = w->shape.d[3];
    d.Ho = t->shape.d[2];
    d.Wo = t->shape.d[3];
    d.stride = gg_conv_stride(t);
    d.pad = gg_conv_pad(t);
    d.dil = gg_conv_dilation(t);
    d.K = d.C * d.KH * d.KW;
    d.P = d.Ho * d.Wo;
    d.direct = d.KH == 1 && d.KW == 1 && d.stride == 1 && d.pad == 0;
    size_t per = (size_t)d.K * d.P;
    size_t nb = d.direct ? 1 : CONV_COL_TARGET / (per ? per : 1);
    if (nb < 1) nb = 1;
    if (nb > (size_t)g->max_batch) nb = (size_t)g->max_batch;
    d.nb = (int)nb;
    d.wino = gg_wino_plan_make(&d.wp, d.C, d.H, d.W, d.O, d.KH, d.KW, d.stride, d.pad, d.dil, d.Ho, d.Wo,
                               g->max_batch) &&
             use_wino(&d, gg_conv_algo_asked(t));
    return d;
}

size_t gg_conv2d_ws(const gg_graph *g, const gg_tensor *t)
{
    conv_dims d = conv_get(g, t);
    size_t n = d.direct ? 0 : (size_t)d.K * d.nb * d.P;
    if (d.nb > 1) n += (size_t)d.O * d.nb * d.P;
    if (d.wino) n = gg_wino_ws(&d.wp);
    if (gg_act_needs_input(gg_act_of(t))) n += gg_shape_numel(t->shape);
    return n;
}

/* The workspace's parts (NULL where absent): col, Ytmp, pre-activation. */
static void ws_parts(const conv_dims *d, const gg_tensor *t, float **col, float **tmp, float **pre)
{
    float *p = t->ws;
    *col = *tmp = *pre = NULL;
    if (d->wino) {
        *col = p; /* the Winograd workspace */
        p += gg_wino_ws(&d->wp);
    } else if (!d->direct) {
        *col = p;
        p += (size_t)d->K * d->nb * d->P;
    }
    if (!d->wino && d->nb > 1) {
        *tmp = p;
        p += (size_t)d->O * d->nb * d->P;
    }
    if (gg_act_needs_input(gg_act_of(t))) *pre = p;
}

/* First output index o with o*stride + off >= 0, and one past the last with
 * o*stride + off < len, clamped to [0, n]: the outputs whose input index
 * falls inside the image. */
static void valid_range(int off, int stride, int len, int n, int *lo, int *hi)
{
    int a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int b = len - 1 - off < 0 ? 0 : (len - 1 - off) / stride + 1;
    if (a > n) a = n;
    if (b > n) b = n;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

/* x (nb, C, H, W) -> col (K, nb*P): col[(c, ki, kj)][s*P + oh*Wo + ow] =
 * x[s][c][oh*stride - pad + ki*dil][ow*stride - pad + kj*dil], 0 outside. */
static void im2col(const conv_dims *d, const float *x, int nb, float *col)
{
    long rows = (long)d->K * nb;
    size_t ld = (size_t)nb * d->P, plane = (size_t)d->H * d->W;
#pragma omp parallel for if ((size_t)rows * d->P > GG_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        int k = (int)(r / nb), s = (int)(r % nb);
        int c = k / (d->KH * d->KW), ki = k / d->KW % d->KH, kj = k % d->KW;
        const float *xp = x + ((size_t)s * d->C + c) * plane;
        float *out = col + (size_t)k * ld + (size_t)s * d->P;
        int offw = kj * d->dil - d->pad, lo, hi;
        valid_range(offw, d->stride, d->W, d->Wo, &lo, &hi);
        for (int oh = 0; oh < d->Ho; oh++) {
            int ih = oh * d->stride - d->pad + ki * d->dil;
            float *row = out + (size_t)oh * d->Wo;
            if (ih < 0 || ih >= d->H) {
                memset(row, 0, (size_t)d->Wo * sizeof *row);
                continue;
            }
            const float *xr = xp + (size_t)ih * d->W + offw;
            for (int ow = 0; ow < lo; ow++) row[ow] = 0;
            if (d->stride == 1) {
                memcpy(row + lo, xr + lo, (size_t)(hi - lo) * sizeof *row);
            } else {
                for (int ow = lo; ow < hi; ow++) row[ow] = xr[(size_t)ow * d->stride];
            }
            for (int ow = hi; ow < d->Wo; ow++) row[ow] = 0;
        }
    }
}

/* dx (nb, C, H, W) += col2im(dcol (K, nb*P)), the adjoint of im2col. One
 * thread per (sample, channel) plane, so no two threads write one element. */
static void col2im_add(const conv_dims *d, const float *dcol, int nb, float *dx)
{
    long planes = (long)nb * d->C;
    size_t ld = (size_t)nb * d->P, plane = (size_t)d->H * d->W;
#pragma omp parallel for if ((size_t)planes * d->K / d->C * d->P > GG_PAR_MIN)
    for (long q = 0; q < planes; q++) {
        int s = (int)(q / d->C), c = (int)(q % d->C);
        float *xp = dx + (size_t)q * plane;
        for (int ki = 0; ki < d->KH; ki++)
            for (int kj = 0; kj < d->KW; kj++) {
                int k = (c * d->KH + ki) * d->KW + kj;
                const float *in = dcol + (size_t)k * ld + (size_t)s * d->P;
                int offw = kj * d->dil - d->pad, lo, hi;
                valid_range(offw, d->stride, d->W, d->Wo, &lo, &hi);
                for (int oh = 0; oh < d->Ho; oh++) {
                    int ih = oh * d->stride - d->pad + ki * d->dil;
                    if (ih < 0 || ih >= d->H) continue;
                    float *xr = xp + (size_t)ih * d->W + offw;
                    const float *row = in + (size_t)oh * d->Wo;
                    if (d->stride == 1) {
#pragma omp simd
                        for (int ow = lo; ow < hi; ow++) xr[ow] += row[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) xr[(size_t)ow * d->stride] += row[ow];
                    }
                }
            }
    }
}

void gg_conv2d_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *w = gg_IN(g, t, 1);
    gg_tensor *b = t->nin > 2 ? gg_IN(g, t, 2) : NULL;
    gg_act act = gg_act_of(t);
    conv_dims d = conv_get(g, t);
    int N = g->batch, O = d.O, P = d.P, K = d.K;
    size_t xs = (size_t)d.C * d.H * d.W, ys = (size_t)O * P;
    float *col, *tmp, *pre;
    ws_parts(&d, t, &col, &tmp, &pre);
    if (!pre) pre = t->val;
    int fused_relu = act == GG_ACT_RELU;
    if (d.wino) {
        gg_wino_fwd(&d.wp, N, x->val, w->val, b ? b->val : NULL, fused_relu, pre, col);
        if (act != GG_ACT_NONE && !fused_relu) gg_act_forward(act, gg_attr_act_param(t), pre, t->val, (size_t)N * ys);
        return;
    }
    for (int n0 = 0; n0 < N; n0 += d.nb) {
        int nb = N - n0 < d.nb ? N - n0 : d.nb;
        const float *xc = x->val + (size_t)n0 * xs;
        float *yc = pre + (size_t)n0 * ys;
        const float *cm = xc;
        if (!d.direct) {
            im2col(&d, xc, nb, col);
            cm = col;
        }
        /* Y (O, nb*P) = W (O, K) col (K, nb*P); with nb = 1 that is NCHW */
        float *Y = nb == 1 ? yc : tmp;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, nb * P, K, 1.0f, w->val, K, cm, nb * P, 0.0f, Y,
                    nb * P);
        if (nb == 1 && !b && !fused_relu) continue;
        /* (O, nb, P) -> (nb, O, P) with bias (and ReLU) fused */
        long blocks = (long)nb * O;
#pragma omp parallel for if ((size_t)blocks * P > GG_PAR_MIN)
        for (long q = 0; q < blocks; q++) {
            int s = (int)(q / O), o = (int)(q % O);
            const float *src = nb == 1 ? yc + (size_t)o * P : Y + (size_t)o * nb * P + (size_t)s * P;
            float *dst = yc + (size_t)q * P;
            float bv = b ? b->val[o] : 0.0f;
            if (fused_relu) {
#pragma omp simd
                for (int p = 0; p < P; p++) {
                    float v = src[p] + bv;
                    dst[p] = v < 0 ? 0 : v; /* NaN passes */
                }
            } else {
#pragma omp simd
                for (int p = 0; p < P; p++) dst[p] = src[p] + bv;
            }
        }
    }
    if (act != GG_ACT_NONE && !fused_relu) gg_act_forward(act, gg_attr_act_param(t), pre, t->val, (size_t)N * ys);
}

void gg_conv2d_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *w = gg_IN(g, t, 1);
    gg_tensor *b = t->nin > 2 ? gg_IN(g, t, 2) : NULL;
    gg_act act = gg_act_of(t);
    conv_dims d = conv_get(g, t);
    int N = g->batch, O = d.O, P = d.P, K = d.K;
    size_t xs = (size_t)d.C * d.H * d.W, ys = (size_t)O * P;
    float *col, *tmp, *pre;
    ws_parts(&d, t, &col, &tmp, &pre);
    float *dy = t->grad;
    gg_act_backward_inplace(act, gg_attr_act_param(t), pre, t->val, dy, (size_t)N * ys);
    if (b && b->needs_grad) {
        float *db = b->grad;
#pragma omp parallel for if ((size_t)N * ys > GG_PAR_MIN)
        for (int o = 0; o < O; o++) {
            double acc = 0; /* N*P terms: sum in double */
            for (int n = 0; n < N; n++) {
                const float *r = dy + (size_t)n * ys + (size_t)o * P;
                float s = 0;
#pragma omp simd reduction(+ : s)
                for (int p = 0; p < P; p++) s += r[p];
                acc += s;
            }
            db[o] += (float)acc;
        }
    }
    if (!w->needs_grad && !x->needs_grad) return;
    if (d.wino) {
        gg_wino_bwd(&d.wp, N, x->val, dy, w->needs_grad ? w->grad : NULL, x->needs_grad ? x->grad : NULL,
                    col);
        return;
    }
    for (int n0 = 0; n0 < N; n0 += d.nb) {
        int nb = N - n0 < d.nb ? N - n0 : d.nb;
        const float *dc = dy + (size_t)n0 * ys;
        const float *xc = x->val + (size_t)n0 * xs;
        /* dY as (O, nb*P) */
        const float *dY = dc;
        if (nb > 1) {
            long blocks = (long)nb * O;
#pragma omp parallel for if ((size_t)blocks * P > GG_PAR_MIN)
            for (long q = 0; q < blocks; q++) {
                int s = (int)(q / O), o = (int)(q % O);
                memcpy(tmp + (size_t)o * nb * P + (size_t)s * P, dc + (size_t)q * P, (size_t)P * sizeof *tmp);
            }
            dY = tmp;
        }
        if (w->needs_grad) {
            const float *cm = xc;
            if (!d.direct) {
                im2col(&d, xc, nb, col);
                cm = col;
            }
            /* dW (O, K) += dY (O, nb*P) col^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, K, nb * P, 1.0f, dY, nb * P, cm, nb * P, 1.0f,
                        w->grad, K);
        }
        if (x->needs_grad) {
            float *dxc = x->grad + (size_t)n0 * xs;
            if (d.direct) {
                /* dx (C, P) += W^T dY, col2im is the identity */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, O, 1.0f, w->val, K, dY, P, 1.0f, dxc, P);
            } else {
                /* dcol (K, nb*P) = W^T (K, O) dY (O, nb*P), then scatter-add */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, nb * P, O, 1.0f, w->val, K, dY, nb * P, 0.0f,
                            col, nb * P);
                col2im_add(&d, col, nb, dxc);
            }
        }
    }
}

gg_node gg_conv2d(gg_graph *g, gg_node x, gg_node w, gg_node b, int stride, int pad, int dilation, gg_act act)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x) || !gg_node_ok(g, w) || (b >= 0 && !gg_node_ok(g, b)) || b < -1)
        return gg_build_fail(g, GG_E_ARG, "conv2d in '%s': bad input node (x %d, w %d, b %d)", g->scope, x, w, b);
    if (act < 0 || act >= GG_ACT_COUNT)
        return gg_build_fail(g, GG_E_ARG, "conv2d in '%s': unknown activation %d", g->scope, (int)act);
    if (stride < 1 || pad < 0 || dilation < 1)
        return gg_build_fail(g, GG_E_ARG, "conv2d in '%s': stride %d, pad %d, dilation %d (want >= 1, >= 0, >= 1)",
                             g->scope, stride, pad, dilation);
    gg_tensor *xt = gg_T(g, x), *wt = gg_T(g, w);
    char s1[64], s2[64];
    gg_shape_str(xt->shape, s1, sizeof s1);
    gg_shape_str(wt->shape, s2, sizeof s2);
    if (!xt->batched || xt->shape.ndim != 4)
        return gg_build_fail(g, GG_E_SHAPE, "conv2d in '%s': input '%s' is %s, not (N, C, H, W)", g->scope, xt->name,
                             s1);
    if (wt->batched || wt->shape.ndim != 4 || wt->shape.d[1] != xt->shape.d[1])
        return gg_build_fail(g, GG_E_SHAPE,
                             "conv2d in '%s': weight '%s' %s does not fit input '%s' %s (want (out, %d, kh, kw))",
                             g->scope, wt->name, s2, xt->name, s1, xt->shape.d[1]);
    if (b >= 0) {
        gg_tensor *bt = gg_T(g, b);
        char s3[64];
        if (bt->batched || bt->shape.ndim != 1 || bt->shape.d[0] != wt->shape.d[0])
            return gg_build_fail(g, GG_E_SHAPE, "conv2d in '%s': bias '%s' %s does not fit weight '%s' %s (want (%d))",
                                 g->scope, bt->name, gg_shape_str(bt->shape, s3, sizeof s3), wt->name, s2,
                                 wt->shape.d[0]);
    }
    /* in 64 bits: a huge dilation must not overflow before the check */
    long long eh = (long long)dilation * (wt->shape.d[2] - 1) + 1, ew = (long long)dilation * (wt->shape.d[3] - 1) + 1;
    long long ho = ((long long)xt->shape.d[2] + 2LL * pad - eh), wo = ((long long)xt->shape.d[3] + 2LL * pad - ew);
    ho = ho < 0 ? 0 : ho / stride + 1;
    wo = wo < 0 ? 0 : wo / stride + 1;
    if (ho < 1 || wo < 1 || ho > (1 << 28) || wo > (1 << 28))
        return gg_build_fail(g, GG_E_SHAPE,
                             "conv2d in '%s': kernel of weight '%s' %s (dilation %d) does not fit input '%s' %s with "
                             "pad %d: output would be %lldx%lld",
                             g->scope, wt->name, s2, dilation, xt->name, s1, pad, ho, wo);
    if ((long long)wt->shape.d[1] * wt->shape.d[2] * wt->shape.d[3] * ho * wo > (1LL << 31) - 1)
        return gg_build_fail(g, GG_E_SHAPE, "conv2d in '%s': weight %s over input %s unrolls to more than 2^31 floats "
                             "per sample", g->scope, s2, s1);
    gg_shape s = gg_shape4(xt->shape.d[0], wt->shape.d[0], (int)ho, (int)wo);
    gg_node in[3] = {x, w, b};
    gg_node n = gg_add_node(g, GG_OP_CONV2D, "conv2d", in, b >= 0 ? 3 : 2, s, 1);
    if (n >= 0) {
        gg_attr_act(&g->t[n]) = act;
        gg_conv_stride(&g->t[n]) = stride;
        gg_conv_pad(&g->t[n]) = pad;
        gg_conv_dilation(&g->t[n]) = dilation;
        gg_conv_algo_asked(&g->t[n]) = GG_CONV_AUTO;
    }
    return n;
}

gg_status gg_conv2d_set_algo(gg_graph *g, gg_node conv, gg_conv_algo algo)
{
    if (!g) return gg_fail(GG_E_ARG, "gg_conv2d_set_algo: no graph");
    if (g->compiled) return gg_fail(GG_E_STATE, "gg_conv2d_set_algo: the graph is already compiled");
    if (!gg_node_ok(g, conv) || g->t[conv].kind != GG_K_OP || g->t[conv].op != GG_OP_CONV2D)
        return gg_fail(GG_E_ARG, "gg_conv2d_set_algo: node %d is not a conv2d", conv);
    if (algo != GG_CONV_AUTO && algo != GG_CONV_IM2COL && algo != GG_CONV_WINOGRAD)
        return gg_fail(GG_E_ARG, "gg_conv2d_set_algo: unknown algorithm %d", (int)algo);
    gg_tensor *t = &g->t[conv];
    if (algo == GG_CONV_WINOGRAD) {
        const gg_tensor *w = &g->t[t->in[1]];
        gg_wino_plan p;
        if (!gg_wino_plan_make(&p, 1, 1, 1, 1, w->shape.d[2], w->shape.d[3], gg_conv_stride(t), gg_conv_pad(t),
                               gg_conv_dilation(t), 1, 1, 1))
            return gg_fail(GG_E_ARG,
                           "conv2d '%s': Winograd needs stride 1, dilation 1 and a square kernel of 2..7, not a %dx%d "
                           "kernel with stride %d, dilation %d",
                           t->name, w->shape.d[2], w->shape.d[3], gg_conv_stride(t), gg_conv_dilation(t));
    }
    gg_conv_algo_asked(t) = algo;
    return GG_OK;
}

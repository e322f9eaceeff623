/* Convolution and pooling ops: finite-difference gradient checks over many
 * shapes (batch 1, odd sizes, stride 1/2, padding 0..2, dilation 2,
 * non-square kernels, 1x1, with and without bias, fused activations), the
 * forward pass against a direct convolution loop written here, a
 * multi-chunk batch against a direct backward, pools against hand-computed
 * cases, and the build-time shape errors. */
#include "gradcheck.h"

/* loss = sum(y * r) with r a fixed random input of y's shape, so that every
 * output element gets a different weight. */
static gg_node weigh(gg_graph *g, gg_node y, gg_node *rout)
{
    gg_shape s = gg_graph_shape(g, y);
    gg_shape ss = {s.ndim - 1, {s.d[1], s.d[2], s.d[3], 0}};
    gg_node r = gg_input(g, "r", ss);
    if (rout) *rout = r;
    return gg_sum(g, gg_mul(g, y, r), 1.0f);
}

static double act_ref(gg_act a, double v)
{
    switch (a) {
    case GG_ACT_RELU: return v > 0 ? v : 0;
    case GG_ACT_TANH: return tanh(v);
    case GG_ACT_GELU: return 0.5 * v * (1 + erf(v / sqrt(2.0)));
    case GG_ACT_SIGMOID: return 1 / (1 + exp(-v));
    default: return v;
    }
}

typedef struct cspec {
    int N, C, H, W, O, KH, KW, stride, pad, dil, bias;
    gg_act act;
    gg_conv_algo algo; /* 0 = GG_CONV_AUTO */
} cspec;

static int out_size(int n, int k, int s, int p, int d) { return (n + 2 * p - d * (k - 1) - 1) / s + 1; }

/* How far a float32 result may be from the exact one. A float32 sum of n
 * terms, in any order and blocking (a GEMM kernel's, im2col's or Winograd's),
 * is within lambda * sqrt(n) * u * S of the exact sum with high probability,
 * S the sum of the terms' magnitudes and u = 2^-24 the unit roundoff (the
 * probabilistic bound of Higham & Mary, SIAM J. Sci. Comput. 2019; lambda = 1
 * here, which the errors stay far under: worst case n * u * S would hide
 * real faults). Plus one rounding of the result itself.
 *
 * Winograd F(4x4, r x r) first transforms what meets in its sums, which
 * magnifies the magnitudes: per dimension by up to g times those of the
 * direct sum's terms (g = sum_j |G_jk| |Bt_j|_1 |A_j|_1 / r for the forward
 * pass, and likewise for dx and dw, with the matrices of conv_winograd.c at
 * the points 0, +-1, +-2, +-1/2, infinity; the largest of the three: 16.0
 * for r = 3, 19.3 for r = 5), while its sums are shorter than the direct
 * ones by a factor r (or m = 4) per dimension, so sqrt(n) shrinks by that.
 * Together the bound grows by g^2 / min(r, m): 86 for r = 3, 94 for r = 5. */
static double conv_growth(const cspec *c)
{
    if (c->algo != GG_CONV_WINOGRAD) return 1;
    return c->KH <= 3 ? 86 : 94;
}

static double round_bound(double n, double S, double exact, double growth)
{
    const double u = 0x1p-24;
    return growth * sqrt(n) * u * S + u * fabs(exact);
}

/* y (N, O, Ho, Wo) by the definition, in double; mag (optional) the sum of
 * the magnitudes of each output's terms, for round_bound. */
static void conv_ref(const cspec *c, const float *x, const float *w, const float *b, double *y, double *mag)
{
    int Ho = out_size(c->H, c->KH, c->stride, c->pad, c->dil), Wo = out_size(c->W, c->KW, c->stride, c->pad, c->dil);
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->O; o++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double s = b ? b[o] : 0, m = fabs(s);
                    for (int ci = 0; ci < c->C; ci++)
                        for (int i = 0; i < c->KH; i++)
                            for (int j = 0; j < c->KW; j++) {
                                int ih = oh * c->stride - c->pad + i * c->dil;
                                int iw = ow * c->stride - c->pad + j * c->dil;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                double t = (double)x[((n * c->C + ci) * c->H + ih) * c->W + iw] *
                                           w[((o * c->C + ci) * c->KH + i) * c->KW + j];
                                s += t;
                                m += fabs(t);
                            }
                    size_t at = ((size_t)(n * c->O + o) * Ho + oh) * Wo + ow;
                    y[at] = act_ref(c->act, s);
                    if (mag) mag[at] = m;
                }
}

/* ReLU's kink must not fall between x - eps and x + eps. With x in
 * {+-0.5, +-1}, w in {+-0.25, +-0.5} every product is a multiple of 1/8, and
 * a bias in {+-1/16, +-3/16} keeps each pre-activation at least 1/16 from
 * zero; a step of eps = 0.01 in one x, w or b moves it by at most 0.01. */
static void quantize(gg_graph *g, gg_node x, gg_node w, gg_node b)
{
    gg_node nodes[3] = {x, w, b};
    const float lo[3] = {0.5f, 0.25f, 0.0625f}, hi[3] = {1.0f, 0.5f, 0.1875f};
    for (int k = 0; k < 3; k++) {
        float *v = gg_graph_data(g, nodes[k]);
        size_t n = gg_shape_numel(gg_graph_shape(g, nodes[k]));
        for (size_t i = 0; i < n; i++) {
            float m = fabsf(v[i]) > 0.3f ? hi[k] : lo[k];
            v[i] = v[i] < 0 ? -m : m;
        }
    }
}

/* A graph x -> conv -> sum(y * r), with the given spec. */
static gg_graph *conv_graph(const cspec *c, int x_grad, gg_node *x, gg_node *w, gg_node *b, gg_node *y, gg_node *r,
                            gg_node *L)
{
    gg_graph *g = gg_graph_new(c->N);
    *x = gg_input(g, "x", gg_shape3(c->C, c->H, c->W));
    if (x_grad) gg_graph_requires_grad(g, *x);
    gg_graph_scope(g, "conv1");
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    *w = gg_param(g, "conv1.weight", gg_shape4(c->O, c->C, c->KH, c->KW), z);
    *b = c->bias ? gg_param(g, "conv1.bias", gg_shape1(c->O), z) : -1;
    *y = gg_conv2d(g, *x, *w, *b, c->stride, c->pad, c->dil, c->act);
    GT_OK(gg_conv2d_set_algo(g, *y, c->algo));
    gg_graph_scope(g, NULL);
    *L = weigh(g, *y, r);
    return g;
}

static void check_conv(cspec c, int x_grad)
{
    char what[160];
    snprintf(what, sizeof what, "conv2d N=%d C=%d %dx%d O=%d k=%dx%d s=%d p=%d d=%d bias=%d act=%s xgrad=%d%s", c.N,
             c.C, c.H, c.W, c.O, c.KH, c.KW, c.stride, c.pad, c.dil, c.bias, gg_act_name(c.act), x_grad,
             c.algo == GG_CONV_WINOGRAD ? " winograd" : c.algo == GG_CONV_IM2COL ? " im2col" : "");
    gg_node x, w, b, y, r, L;
    gg_graph *g = conv_graph(&c, x_grad, &x, &w, &b, &y, &r, &L);
    gg_status st = gg_graph_compile(g);
    GT_CHECK(st == GG_OK, "%s: compile: %s", what, gg_errmsg());
    if (st) {
        gg_graph_free(g);
        return;
    }
    gc_randomize(g, 17 + (uint64_t)c.C * 31 + (uint64_t)c.KH, 0.02f);
    /* weights scaled down so pre-activations stay O(1) and away from saturation */
    float *wv = gg_graph_data(g, w);
    size_t nw = gg_shape_numel(gg_graph_shape(g, w));
    float sc = 1.0f / sqrtf((float)(c.C * c.KH * c.KW));
    for (size_t i = 0; i < nw; i++) wv[i] *= 2 * sc;
    if (c.act == GG_ACT_RELU) quantize(g, x, w, b);

    /* forward against the direct loop */
    GT_OK(gg_graph_forward(g, GG_TRAIN, L));
    gg_shape ys = gg_graph_shape(g, y);
    size_t ny = gg_shape_numel(ys);
    double *ref = malloc(ny * sizeof *ref), *mag = malloc(ny * sizeof *mag);
    conv_ref(&c, gg_graph_data(g, x), wv, c.bias ? gg_graph_data(g, b) : NULL, ref, mag);
    const float *yv = gg_graph_data(g, y);
    int fbad = 0;
    /* the activations here change a difference by at most 1.13x (GELU's
     * steepest slope), so the pre-activation's bound carries over at 1.2x */
    double nterms = (double)c.C * c.KH * c.KW + c.bias;
    for (size_t i = 0; i < ny && fbad < 3; i++) {
        double tol = 1.2 * round_bound(nterms, mag[i], ref[i], conv_growth(&c));
        if (!(fabs(yv[i] - ref[i]) <= tol)) {
            fbad++;
            GT_CHECK(0, "%s: y[%zu] = %.7g, direct loop %.7g (bound %.3g)", what, i, yv[i], ref[i], tol);
        }
    }
    if (!fbad) gt_pass++;
    free(ref);
    free(mag);

    gg_node nodes[3] = {w, x, b};
    int nn = 1;
    if (x_grad) nodes[nn++] = x;
    if (c.bias) nodes[nn++] = b;
    gradcheck(g, L, nodes, nn, 25, what);
    /* data input: no gradient buffer was planned for x */
    if (!x_grad) GT_CHECK(gg_graph_grad(g, x) == NULL, "%s: x has no gradient", what);
    gg_graph_free(g);
}

/* A batch split into several chunks (im2col's or Winograd's), run at a
 * batch below the maximum (a partial last chunk): forward and all three
 * gradients against direct loops (the loss is sum(y * r), so dy = r), each
 * element within round_bound of its own sum (dW sums 19 * 28 * 28 = 14,896
 * products, dx 8 * 9, y 16 * 9 + 1). */
static void check_conv_chunks(gg_conv_algo algo)
{
    cspec c = {23, 16, 28, 28, 8, 3, 3, 1, 1, 1, 1, GG_ACT_NONE, algo};
    double growth = conv_growth(&c);
    int batch = 19;
    gg_node x, w, b, y, r, L;
    gg_graph *g = conv_graph(&c, 1, &x, &w, &b, &y, &r, &L);
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 99, 0);
    GT_OK(gg_graph_set_batch(g, batch));
    c.N = batch;
    GT_OK(gg_graph_forward(g, GG_TRAIN, L));
    gg_graph_zero_grad(g);
    GT_OK(gg_graph_backward(g, L, 1.0f));
    const float *xv = gg_graph_data(g, x), *wv = gg_graph_data(g, w), *bv = gg_graph_data(g, b);
    const float *rv = gg_graph_data(g, r), *yv = gg_graph_data(g, y);
    int Ho = 28, Wo = 28, K = c.C * 9;
    size_t ny = (size_t)batch * c.O * Ho * Wo, nx = (size_t)batch * c.C * c.H * c.W;
    double *ref = malloc(ny * sizeof *ref), *ymag = malloc(ny * sizeof *ymag);
    /* exact gradients and the magnitudes of their terms */
    double *dx = calloc(nx, sizeof *dx), *dw = calloc((size_t)c.O * K, sizeof *dw);
    double *mx = calloc(nx, sizeof *mx), *mw = calloc((size_t)c.O * K, sizeof *mw);
    double *db = calloc((size_t)c.O, sizeof *db), *mb = calloc((size_t)c.O, sizeof *mb);
    conv_ref(&c, xv, wv, bv, ref, ymag);
    double yerr = 0;
    for (size_t i = 0; i < ny; i++)
        yerr = fmax(yerr, fabs(yv[i] - ref[i]) / round_bound(K + 1, ymag[i], ref[i], growth));
    GT_CHECK(yerr <= 1, "chunked conv (algo %d) forward: max |y - direct| is %.3g of its bound", algo, yerr);
    for (int n = 0; n < batch; n++)
        for (int o = 0; o < c.O; o++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double d = rv[((n * c.O + o) * Ho + oh) * Wo + ow];
                    db[o] += d;
                    mb[o] += fabs(d);
                    for (int ci = 0; ci < c.C; ci++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) {
                                int ih = oh - 1 + i, iw = ow - 1 + j;
                                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                                size_t xi = ((size_t)(n * c.C + ci) * c.H + ih) * c.W + iw;
                                size_t wi = (size_t)((o * c.C + ci) * 3 + i) * 3 + j;
                                dw[wi] += d * xv[xi];
                                mw[wi] += fabs(d * xv[xi]);
                                dx[xi] += d * wv[wi];
                                mx[xi] += fabs(d * wv[wi]);
                            }
                }
    const float *gx = gg_graph_grad(g, x), *gw = gg_graph_grad(g, w), *gb = gg_graph_grad(g, b);
    /* each error as a fraction of its element's bound: <= 1 passes */
    double ex = 0, ew = 0, eb = 0, nsum = (double)batch * Ho * Wo;
    for (size_t i = 0; i < nx; i++) ex = fmax(ex, fabs(gx[i] - dx[i]) / round_bound(c.O * 9, mx[i], dx[i], growth));
    for (int i = 0; i < c.O * K; i++) ew = fmax(ew, fabs(gw[i] - dw[i]) / round_bound(nsum, mw[i], dw[i], growth));
    for (int i = 0; i < c.O; i++) eb = fmax(eb, fabs(gb[i] - db[i]) / round_bound(nsum, mb[i], db[i], 1));
    GT_CHECK(ex <= 1, "chunked conv (algo %d) dx: max error is %.3g of its bound", algo, ex);
    GT_CHECK(ew <= 1, "chunked conv (algo %d) dW: max error is %.3g of its bound", algo, ew);
    GT_CHECK(eb <= 1, "chunked conv (algo %d) db: max error is %.3g of its bound", algo, eb);
    printf("chunked conv (algo %d): largest error / bound: y %.2g, dx %.2g, dW %.2g, db %.2g\n", algo, yerr, ex, ew,
           eb);
    /* the rows past the batch were not touched */
    float *gxall = gg_graph_grad(g, x);
    int clean = 1;
    for (size_t i = nx; i < (size_t)23 * c.C * c.H * c.W; i++) clean &= gxall[i] == 0;
    GT_CHECK(clean, "chunked conv: dx beyond the batch stays zero");
    free(ref);
    free(ymag);
    free(dx);
    free(dw);
    free(db);
    free(mx);
    free(mw);
    free(mb);
    gg_graph_free(g);
}

/* Per plane, a shuffled ladder of values 2/P apart in [-1, 1]: no two values
 * of a window are closer than the finite-difference step could bridge, so
 * the max pooling's arg-max never switches during the check. */
static void fill_distinct(float *x, int planes, int P, gg_rng *r)
{
    for (int q = 0; q < planes; q++) {
        float *xq = x + (size_t)q * P;
        for (int i = 0; i < P; i++) xq[i] = -1.0f + 2.0f * (float)i / (float)P;
        for (int i = P - 1; i > 0; i--) {
            int j = (int)gg_rng_below(r, (uint64_t)i + 1);
            float t = xq[i];
            xq[i] = xq[j];
            xq[j] = t;
        }
    }
}

/* kind 0 max, 1 average, 2 global average. */
static void check_pool(int kind, int N, int C, int H, int W, int k, int s, int p)
{
    char what[128];
    const char *name = kind == 0 ? "maxpool" : kind == 1 ? "avgpool" : "gap";
    snprintf(what, sizeof what, "%s N=%d C=%d %dx%d k=%d s=%d p=%d", name, N, C, H, W, k, s, p);
    gg_graph *g = gg_graph_new(N);
    gg_node x = gg_input(g, "x", gg_shape3(C, H, W));
    gg_graph_requires_grad(g, x);
    gg_graph_scope(g, "pool");
    gg_node y = kind == 0   ? gg_maxpool2d(g, x, k, s, p)
                : kind == 1 ? gg_avgpool2d(g, x, k, s, p)
                            : gg_global_avgpool(g, x);
    gg_graph_scope(g, NULL);
    gg_node L;
    if (kind == 2) {
        gg_node r = gg_input(g, "r", gg_shape1(C));
        L = gg_sum(g, gg_mul(g, y, r), 1.0f);
    } else {
        L = weigh(g, y, NULL);
    }
    GT_OK(gg_graph_compile(g));
    gc_randomize(g, 23 + (uint64_t)H, 0);
    gg_rng r;
    gg_rng_seed(&r, 5 + (uint64_t)W);
    fill_distinct(gg_graph_data(g, x), N * C, H * W, &r);
    gradcheck(g, L, &x, 1, 40, what);
    gg_graph_free(g);
}

static gg_graph *pool_graph(int kind, int k, int s, int p, const float *x16, gg_node *y)
{
    gg_graph *g = gg_graph_new(1);
    gg_node x = gg_input(g, "x", gg_shape3(1, 4, 4));
    *y = kind == 0 ? gg_maxpool2d(g, x, k, s, p) : kind == 1 ? gg_avgpool2d(g, x, k, s, p) : gg_global_avgpool(g, x);
    if (gg_graph_compile(g)) {
        GT_CHECK(0, "pool graph: %s", gg_errmsg());
        gg_graph_free(g);
        return NULL;
    }
    memcpy(gg_graph_data(g, x), x16, 16 * sizeof(float));
    GT_OK(gg_graph_forward(g, GG_EVAL, *y));
    return g;
}

/* Pools on a 4x4 plane holding 1..16 (row-major), by hand. */
static void check_pool_values(void)
{
    float up[16], down[16];
    for (int i = 0; i < 16; i++) {
        up[i] = (float)(i + 1);
        down[i] = -(float)(i + 1);
    }
    gg_node y;
    gg_graph *g = pool_graph(0, 2, 2, 0, up, &y);
    const float *v = gg_graph_data(g, y);
    GT_CHECK(v[0] == 6 && v[1] == 8 && v[2] == 14 && v[3] == 16, "maxpool 2/2: %g %g %g %g", v[0], v[1], v[2], v[3]);
    gg_graph_free(g);
    /* k3 s2 p1: windows rows {0,1},{1,2,3} x cols {0,1},{1,2,3}; with all
     * values negative a zero from the padding must not win */
    g = pool_graph(0, 3, 2, 1, down, &y);
    v = gg_graph_data(g, y);
    GT_CHECK(v[0] == -1 && v[1] == -2 && v[2] == -5 && v[3] == -6, "maxpool 3/2/1 negative: %g %g %g %g", v[0], v[1],
             v[2], v[3]);
    gg_graph_free(g);
    /* a NaN in a window wins, so it reaches the guard */
    float nanx[16];
    memcpy(nanx, up, sizeof nanx);
    nanx[5] = NAN;
    g = pool_graph(0, 2, 2, 0, nanx, &y);
    v = gg_graph_data(g, y);
    GT_CHECK(isnan(v[0]) && v[1] == 8 && v[3] == 16, "maxpool propagates NaN: %g %g", v[0], v[1]);
    gg_graph_free(g);
    /* average k3 s2 p1 divides by 9 with the padding: 14/9, 30/9, 57/9, 99/9 */
    g = pool_graph(1, 3, 2, 1, up, &y);
    v = gg_graph_data(g, y);
    GT_NEAR(v[0], 14.0 / 9, 1e-6, 0, "avgpool [0]");
    GT_NEAR(v[1], 30.0 / 9, 1e-6, 0, "avgpool [1]");
    GT_NEAR(v[2], 57.0 / 9, 1e-6, 0, "avgpool [2]");
    GT_NEAR(v[3], 99.0 / 9, 1e-6, 0, "avgpool [3]");
    gg_graph_free(g);
    g = pool_graph(1, 2, 1, 0, up, &y);
    GT_CHECK(gg_graph_shape(g, y).d[2] == 3 && gg_graph_shape(g, y).d[3] == 3, "avgpool 2/1 is 3x3");
    v = gg_graph_data(g, y);
    GT_NEAR(v[4], (6 + 7 + 10 + 11) / 4.0, 1e-6, 0, "avgpool 2/1 centre");
    gg_graph_free(g);
    g = pool_graph(2, 0, 0, 0, up, &y);
    GT_CHECK(gg_graph_shape(g, y).ndim == 2 && gg_graph_shape(g, y).d[1] == 1, "gap shape (N, C)");
    GT_NEAR(gg_graph_data(g, y)[0], 8.5, 1e-7, 0, "gap mean of 1..16");
    gg_graph_free(g);

    /* maxpool backward: dy lands on the arg-max only */
    g = gg_graph_new(1);
    gg_node x = gg_input(g, "x", gg_shape3(1, 4, 4));
    gg_graph_requires_grad(g, x);
    y = gg_maxpool2d(g, x, 2, 2, 0);
    gg_node L = gg_sum(g, y, 1.0f);
    GT_OK(gg_graph_compile(g));
    float mixed[16] = {1, 9, 2, 3, 4, 0, 8, 5, -1, -2, -7, -3, -4, -6, -8, -5};
    memcpy(gg_graph_data(g, x), mixed, sizeof mixed);
    GT_OK(gg_graph_forward(g, GG_TRAIN, L));
    GT_OK(gg_graph_backward(g, L, 2.0f));
    const float *dx = gg_graph_grad(g, x);
    float want[16] = {0, 2, 0, 0, 0, 0, 2, 0, 2, 0, 0, 2, 0, 0, 0, 0};
    int same = 1;
    for (int i = 0; i < 16; i++) same &= dx[i] == want[i];
    GT_CHECK(same, "maxpool backward routes to the arg-max");
    gg_graph_free(g);
}

static void check_errors(void)
{
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    gg_graph *g = gg_graph_new(2);
    gg_node x = gg_input(g, "x", gg_shape3(3, 8, 8));
    gg_graph_scope(g, "conv1");
    gg_node w = gg_param(g, "conv1.weight", gg_shape4(4, 2, 3, 3), z);
    GT_CHECK(gg_conv2d(g, x, w, -1, 1, 1, 1, GG_ACT_NONE) == -1, "Cin mismatch refused");
    const char *m = gg_graph_errmsg(g);
    GT_CHECK(gg_graph_status(g) == GG_E_SHAPE && strstr(m, "conv2d") && strstr(m, "conv1") &&
                 strstr(m, "(4, 2, 3, 3)") && strstr(m, "(2, 3, 8, 8)"),
             "message names op, layer and both shapes: %s", m);
    gg_graph_free(g);

    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape3(1, 4, 4));
    gg_graph_scope(g, "big");
    w = gg_param(g, "big.weight", gg_shape4(2, 1, 5, 5), z);
    GT_CHECK(gg_conv2d(g, x, w, -1, 1, 0, 1, GG_ACT_NONE) == -1, "kernel larger than input refused");
    m = gg_graph_errmsg(g);
    GT_CHECK(strstr(m, "big") && strstr(m, "(2, 1, 5, 5)") && strstr(m, "(2, 1, 4, 4)") && strstr(m, "0x0"),
             "output-size message: %s", m);
    gg_graph_free(g);

    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape3(1, 9, 9));
    w = gg_param(g, "c.weight", gg_shape4(2, 1, 3, 3), z);
    gg_node b = gg_param(g, "c.bias", gg_shape1(3), z);
    GT_CHECK(gg_conv2d(g, x, w, b, 1, 0, 1, GG_ACT_NONE) == -1 && strstr(gg_graph_errmsg(g), "(3)"),
             "bias size refused: %s", gg_graph_errmsg(g));
    gg_graph_free(g);

    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape3(1, 9, 9));
    w = gg_param(g, "c.weight", gg_shape4(2, 1, 3, 3), z);
    GT_CHECK(gg_conv2d(g, x, w, -1, 0, 0, 1, GG_ACT_NONE) == -1 && gg_graph_status(g) == GG_E_ARG, "stride 0 refused");
    gg_graph_free(g);

    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape1(10));
    w = gg_param(g, "c.weight", gg_shape4(2, 1, 3, 3), z);
    GT_CHECK(gg_conv2d(g, x, w, -1, 1, 0, 1, GG_ACT_NONE) == -1 && strstr(gg_graph_errmsg(g), "(N, C, H, W)"),
             "non-image input refused: %s", gg_graph_errmsg(g));
    gg_graph_free(g);

    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape3(1, 3, 3));
    gg_graph_scope(g, "p");
    GT_CHECK(gg_maxpool2d(g, x, 2, 2, 2) == -1 && strstr(gg_graph_errmsg(g), "maxpool2d"), "pool pad > k/2 refused: %s",
             gg_graph_errmsg(g));
    gg_graph_free(g);

    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape3(1, 3, 3));
    gg_graph_scope(g, "p");
    GT_CHECK(gg_avgpool2d(g, x, 4, 1, 0) == -1 && strstr(gg_graph_errmsg(g), "(2, 1, 3, 3)") &&
                 strstr(gg_graph_errmsg(g), "avgpool2d in 'p'"),
             "window larger than input refused: %s", gg_graph_errmsg(g));
    gg_graph_free(g);

    g = gg_graph_new(2);
    x = gg_input(g, "x", gg_shape1(7));
    GT_CHECK(gg_global_avgpool(g, x) == -1 && gg_graph_status(g) == GG_E_SHAPE, "gap of (N, F) refused");
    gg_graph_free(g);
}

/* The small CNN's second layer (batch 32, 32 -> 64 channels, 14x14, 5x5,
 * pad 2), which GG_CONV_AUTO runs as Winograd F(4x4, 5x5), against the same
 * layer forced to im2col + GEMM: output and the three gradients, relative
 * to each tensor's largest value. Without the ReLU: a pre-activation within
 * rounding of zero would flip its mask between the two and move db by a
 * whole term. */
static void check_wino_vs_im2col(void)
{
    float *res[2][4];
    size_t cnt[4];
    for (int k = 0; k < 2; k++) {
        cspec c = {32, 32, 14, 14, 64, 5, 5, 1, 2, 1, 1, GG_ACT_NONE, k ? GG_CONV_IM2COL : GG_CONV_AUTO};
        gg_node x, w, b, y, r, L;
        gg_graph *g = conv_graph(&c, 1, &x, &w, &b, &y, &r, &L);
        GT_OK(gg_graph_compile(g));
        gc_randomize(g, 5, 0);
        float *wv = gg_graph_data(g, w);
        for (size_t i = 0; i < (size_t)64 * 32 * 25; i++) wv[i] *= 2.0f / 40; /* ~ He scale */
        GT_OK(gg_graph_forward(g, GG_TRAIN, L));
        gg_graph_zero_grad(g);
        GT_OK(gg_graph_backward(g, L, 1.0f));
        const float *src[4] = {gg_graph_data(g, y), gg_graph_grad(g, x), gg_graph_grad(g, w), gg_graph_grad(g, b)};
        gg_node nodes[4] = {y, x, w, b};
        for (int q = 0; q < 4; q++) {
            cnt[q] = gg_shape_numel(gg_graph_shape(g, nodes[q]));
            res[k][q] = malloc(cnt[q] * sizeof(float));
            memcpy(res[k][q], src[q], cnt[q] * sizeof(float));
        }
        gg_graph_free(g);
    }
    const char *names[4] = {"y", "dx", "dw", "db"};
    for (int q = 0; q < 4; q++) {
        double mx = 0, err = 0;
        for (size_t i = 0; i < cnt[q]; i++) {
            mx = fmax(mx, fabs(res[1][q][i]));
            err = fmax(err, fabs(res[0][q][i] - res[1][q][i]));
        }
        GT_CHECK(mx > 0 && err <= 1e-4 * mx, "Winograd F(4x4, 5x5) vs im2col, %s: max error %g of max %g (%.2g)",
                 names[q], err, mx, err / mx);
        printf("Winograd F(4x4, 5x5) vs im2col at the CNN's conv2, %s: max error / max value = %.2g\n", names[q],
               err / mx);
        free(res[0][q]);
        free(res[1][q]);
    }
}

/* Asking for Winograd where it cannot run, or too late, is an error. */
static void check_algo_errors(void)
{
    gg_graph *g = gg_graph_new(2);
    gg_node x = gg_input(g, "x", gg_shape3(3, 8, 8));
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    gg_node w = gg_param(g, "w", gg_shape4(4, 3, 3, 3), z), w2 = gg_param(g, "w2", gg_shape4(4, 4, 3, 2), z);
    gg_node y = gg_conv2d(g, x, w, -1, 2, 1, 1, GG_ACT_NONE);
    gg_node y2 = gg_conv2d(g, y, w2, -1, 1, 1, 1, GG_ACT_NONE);
    GT_CHECK(gg_conv2d_set_algo(g, y, GG_CONV_WINOGRAD) == GG_E_ARG && strstr(gg_errmsg(), "stride 2"),
             "Winograd on a stride-2 conv refused: %s", gg_errmsg());
    GT_CHECK(gg_conv2d_set_algo(g, y2, GG_CONV_WINOGRAD) == GG_E_ARG && strstr(gg_errmsg(), "3x2"),
             "Winograd on a 3x2 kernel refused: %s", gg_errmsg());
    GT_CHECK(gg_conv2d_set_algo(g, x, GG_CONV_IM2COL) == GG_E_ARG, "set_algo on an input refused");
    GT_CHECK(gg_conv2d_set_algo(g, y, (gg_conv_algo)7) == GG_E_ARG, "unknown algorithm refused");
    GT_OK(gg_conv2d_set_algo(g, y, GG_CONV_IM2COL));
    GT_OK(gg_graph_compile(g));
    GT_CHECK(gg_conv2d_set_algo(g, y, GG_CONV_AUTO) == GG_E_STATE, "set_algo after compile refused");
    gg_graph_free(g);
}

int main(void)
{
    /* N, C, H, W, O, KH, KW, stride, pad, dil, bias, act */
    check_conv((cspec){1, 1, 5, 5, 1, 3, 3, 1, 0, 1, 0, GG_ACT_NONE, GG_CONV_AUTO}, 1);
    check_conv((cspec){2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, GG_ACT_NONE, GG_CONV_AUTO}, 1);
    check_conv((cspec){3, 2, 9, 7, 5, 3, 3, 2, 1, 1, 1, GG_ACT_RELU, GG_CONV_AUTO}, 1);
    check_conv((cspec){2, 2, 8, 8, 3, 5, 5, 1, 2, 1, 1, GG_ACT_TANH, GG_CONV_AUTO}, 1);
    check_conv((cspec){2, 3, 9, 10, 2, 3, 3, 1, 2, 2, 0, GG_ACT_NONE, GG_CONV_AUTO}, 1);
    check_conv((cspec){1, 2, 7, 9, 3, 2, 3, 2, 0, 1, 1, GG_ACT_GELU, GG_CONV_AUTO}, 1);
    check_conv((cspec){3, 2, 6, 5, 3, 3, 1, 2, 2, 2, 1, GG_ACT_SIGMOID, GG_CONV_AUTO}, 1);
    check_conv((cspec){3, 2, 6, 6, 3, 3, 3, 1, 1, 1, 1, GG_ACT_GELU, GG_CONV_AUTO}, 1);
    check_conv((cspec){2, 4, 5, 5, 3, 1, 1, 1, 0, 1, 1, GG_ACT_RELU, GG_CONV_AUTO}, 1); /* 1x1: col is x itself */
    check_conv((cspec){2, 4, 6, 6, 3, 1, 1, 2, 1, 1, 0, GG_ACT_NONE, GG_CONV_AUTO}, 1); /* 1x1 with stride and padding */
    check_conv((cspec){3, 1, 8, 8, 4, 5, 5, 1, 2, 1, 1, GG_ACT_RELU, GG_CONV_AUTO}, 0); /* first layer over data */
    check_conv((cspec){1, 3, 4, 4, 2, 4, 4, 1, 0, 1, 1, GG_ACT_NONE, GG_CONV_AUTO}, 1); /* kernel = input: one output */
    /* Winograd, forced even where GG_CONV_AUTO would not take it: maps not
     * a whole number of tiles, channels not a whole number of vector
     * blocks (and more than one block), pad 0 to beyond r-1, every kernel
     * size 2..7, each activation, without x's gradient */
    const gg_conv_algo WG = GG_CONV_WINOGRAD;
    check_conv((cspec){2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, GG_ACT_NONE, WG}, 1);
    check_conv((cspec){1, 17, 6, 5, 18, 3, 3, 1, 0, 1, 1, GG_ACT_RELU, WG}, 1);
    check_conv((cspec){2, 2, 9, 8, 33, 5, 5, 1, 2, 1, 1, GG_ACT_TANH, WG}, 1);
    check_conv((cspec){1, 20, 8, 8, 3, 5, 5, 1, 0, 1, 0, GG_ACT_NONE, WG}, 1);
    check_conv((cspec){2, 3, 5, 6, 4, 5, 5, 1, 4, 1, 1, GG_ACT_GELU, WG}, 1);
    check_conv((cspec){2, 2, 7, 7, 3, 2, 2, 1, 1, 1, 1, GG_ACT_SIGMOID, WG}, 1);
    check_conv((cspec){1, 2, 9, 9, 3, 4, 4, 1, 1, 1, 1, GG_ACT_NONE, WG}, 1);
    check_conv((cspec){1, 2, 10, 8, 2, 6, 6, 1, 2, 1, 0, GG_ACT_NONE, WG}, 1);
    check_conv((cspec){1, 2, 9, 9, 2, 7, 7, 1, 3, 1, 1, GG_ACT_NONE, WG}, 1);
    check_conv((cspec){3, 1, 8, 8, 4, 5, 5, 1, 2, 1, 1, GG_ACT_RELU, WG}, 0);
    check_conv((cspec){2, 16, 6, 6, 16, 3, 3, 1, 1, 1, 1, GG_ACT_NONE, GG_CONV_IM2COL}, 1);
    check_conv_chunks(GG_CONV_IM2COL);
    check_conv_chunks(GG_CONV_WINOGRAD); /* 16 -> 8 channels, 3x3: F(4x4, 3x3) */
    check_wino_vs_im2col();
    check_algo_errors();

    check_pool(0, 2, 3, 6, 6, 2, 2, 0);
    check_pool(0, 1, 2, 7, 5, 3, 2, 1);
    check_pool(0, 3, 1, 5, 6, 3, 1, 1);
    check_pool(1, 2, 3, 6, 6, 2, 2, 0);
    check_pool(1, 1, 2, 7, 5, 3, 2, 1);
    check_pool(1, 3, 2, 5, 4, 4, 3, 2);
    check_pool(2, 2, 3, 5, 7, 0, 0, 0);
    check_pool(2, 1, 4, 1, 1, 0, 0, 0);
    check_pool_values();
    check_errors();
    return gt_done("test_ops_conv");
}

/* norm.c - batch and layer normalisation.
 *
 * batchnorm: x (N, C, S) [S = product of the dims after the channel, 1 for
 *   (N, F)], gamma, beta, running mean, running var (C); M = N S values per
 *   channel.
 *   training: mu, var = mean and biased variance over (N, S) of channel c;
 *             running_mean = (1 - m) running_mean + m mu,
 *             running_var  = (1 - m) running_var  + m var M / (M - 1)
 *             (PyTorch's convention: unbiased variance for the running
 *             estimate, biased for normalising);
 *   eval:     mu, var = running_mean, running_var.
 *   y = gamma (x - mu) istd + beta, istd = 1 / sqrt(var + eps).
 *   Workspace (2C + 1): mu[C], istd[C], then 1 if they were batch
 *   statistics. Backward recomputes xh = (x - mu) istd from them and reads
 *   the flag, so a backward after an evaluation forward is right too:
 *     dbeta += sum dy, dgamma += sum dy xh,
 *     dx += gamma istd (dy - (sum dy + xh sum dy xh) / M)  (batch statistics)
 *     dx += gamma istd dy                                   (running statistics)
 *   One thread per channel: each channel's sums and writes are its own.
 *
 * layernorm: x (R, D) [R = all leading dims], gamma, beta (D).
 *   y = gamma (x - mu_r) istd_r + beta over each row r (biased variance).
 *   Workspace (2R): mu_r, istd_r interleaved. Backward, with g = dy gamma:
 *     dx = istd (g - (sum g + xh sum g xh) / D),
 *     dgamma += sum_r dy xh, dbeta += sum_r dy (blocks of columns per thread).
 * Statistics and reductions are accumulated in double. Attributes: fa =
 * {momentum, eps} (batchnorm), {eps} (layernorm). */
#include "../core.h"
#include "attr.h"

#include <math.h>

/* ---- batch normalisation ---- */

static int is_vec(const gg_tensor *t, int n) { return !t->batched && t->shape.ndim == 1 && t->shape.d[0] == n; }

gg_node gg_batchnorm(gg_graph *g, gg_node x, gg_node gamma, gg_node beta, gg_node mean, gg_node var, float momentum,
                     float eps)
{
    if (!g || g->err) return -1;
    gg_node in[5] = {x, gamma, beta, mean, var};
    for (int i = 0; i < 5; i++)
        if (!gg_node_ok(g, in[i]))
            return gg_build_fail(g, GG_E_ARG, "batchnorm in '%s': input %d is not a node of this graph (%d)",
                                 g->scope, i, in[i]);
    if (!(momentum >= 0 && momentum <= 1))
        return gg_build_fail(g, GG_E_ARG, "batchnorm in '%s': momentum %g is outside [0, 1]", g->scope, momentum);
    if (!(eps > 0)) return gg_build_fail(g, GG_E_ARG, "batchnorm in '%s': eps %g must be > 0", g->scope, eps);
    gg_tensor *xt = gg_T(g, x);
    char s1[64], s2[64];
    if (!xt->batched || xt->shape.ndim < 2)
        return gg_build_fail(g, GG_E_SHAPE, "batchnorm in '%s': input '%s' %s is not a batch (N, C, ...) or (N, F)",
                             g->scope, xt->name, gg_shape_str(xt->shape, s1, sizeof s1));
    int C = xt->shape.d[1];
    static const char *what[5] = {"x", "gamma", "beta", "running mean", "running var"};
    for (int i = 1; i < 5; i++) {
        gg_tensor *p = gg_T(g, in[i]);
        if (!is_vec(p, C))
            return gg_build_fail(g, GG_E_SHAPE, "batchnorm in '%s': %s '%s' %s does not fit input '%s' %s (want (%d))",
                                 g->scope, what[i], p->name, gg_shape_str(p->shape, s1, sizeof s1), xt->name,
                                 gg_shape_str(xt->shape, s2, sizeof s2), C);
        if (i >= 3 && p->kind != GG_K_BUFFER)
            return gg_build_fail(g, GG_E_ARG, "batchnorm in '%s': %s '%s' must be a buffer (gg_buffer)", g->scope,
                                 what[i], p->name);
    }
    gg_node n = gg_add_node(g, GG_OP_BATCHNORM, "batchnorm", in, 5, xt->shape, 1);
    if (n >= 0) {
        gg_bn_momentum(&g->t[n]) = momentum;
        gg_bn_eps(&g->t[n]) = eps;
    }
    return n;
}

size_t gg_batchnorm_ws(const gg_graph *g, const gg_tensor *t)
{
    (void)g;
    return 2 * (size_t)t->shape.d[1] + 1;
}

void gg_batchnorm_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    const float *xv = x->val, *gam = gg_IN(g, t, 1)->val, *bet = gg_IN(g, t, 2)->val;
    float *rm = gg_IN(g, t, 3)->val, *rv = gg_IN(g, t, 4)->val;
    int C = t->shape.d[1], N = g->batch;
    size_t S = t->per / (size_t)C;
    double M = (double)N * (double)S;
    int train = g->mode == GG_TRAIN;
    float mom = gg_bn_momentum(t), eps = gg_bn_eps(t);
    float *mu = t->ws, *istd = t->ws + C;
    if (train && M < 2) {
        /* the unbiased variance needs two values; PyTorch refuses this too */
        gg_run_fail(g, GG_E_SHAPE,
                    "batchnorm '%s': training needs more than one value per channel, got batch %d of sample size %zu "
                    "per channel",
                    t->name, N, S);
        return;
    }
    t->ws[2 * C] = (float)train;
#pragma omp parallel for if (gg_numel(g, t) > GG_PAR_MIN)
    for (int c = 0; c < C; c++) {
        double m, v;
        if (train) {
            double s = 0, ss = 0;
            for (int n = 0; n < N; n++) {
                const float *p = xv + ((size_t)n * C + c) * S;
                for (size_t i = 0; i < S; i++) s += p[i];
            }
            m = s / M;
            for (int n = 0; n < N; n++) {
                const float *p = xv + ((size_t)n * C + c) * S;
                for (size_t i = 0; i < S; i++) {
                    double d = p[i] - m;
                    ss += d * d;
                }
            }
            v = ss / M;
            rm[c] = (float)((1 - (double)mom) * rm[c] + (double)mom * m);
            rv[c] = (float)((1 - (double)mom) * rv[c] + (double)mom * ss / (M - 1));
        } else {
            m = rm[c];
            v = rv[c];
        }
        double is = 1 / sqrt(v + (double)eps);
        mu[c] = (float)m;
        istd[c] = (float)is;
        /* y = a x + b with a = gamma istd, b = beta - mu a */
        float a = (float)(gam[c] * is), b = (float)(bet[c] - m * gam[c] * is);
        for (int n = 0; n < N; n++) {
            const float *p = xv + ((size_t)n * C + c) * S;
            float *y = t->val + ((size_t)n * C + c) * S;
#pragma omp simd
            for (size_t i = 0; i < S; i++) y[i] = a * p[i] + b;
        }
    }
}

void gg_batchnorm_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *gt = gg_IN(g, t, 1), *bt = gg_IN(g, t, 2);
    const float *xv = x->val, *dy = t->grad, *gam = gt->val;
    float *dx = x->needs_grad ? x->grad : NULL;
    float *dg = gt->needs_grad ? gt->grad : NULL, *db = bt->needs_grad ? bt->grad : NULL;
    int C = t->shape.d[1], N = g->batch;
    size_t S = t->per / (size_t)C;
    double M = (double)N * (double)S;
    const float *mu = t->ws, *istd = t->ws + C;
    int batch_stats = t->ws[2 * C] != 0;
#pragma omp parallel for if (gg_numel(g, t) > GG_PAR_MIN)
    for (int c = 0; c < C; c++) {
        float m = mu[c], is = istd[c];
        double sd = 0, sdx = 0;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * S;
            for (size_t i = 0; i < S; i++) {
                sd += dy[o + i];
                sdx += (double)dy[o + i] * ((xv[o + i] - m) * is);
            }
        }
        if (db) db[c] += (float)sd;
        if (dg) dg[c] += (float)sdx;
        if (!dx) continue;
        float k = gam[c] * is;
        /* with batch statistics, mu and istd depend on x too */
        float cd = batch_stats ? (float)(sd / M) : 0, cx = batch_stats ? (float)(sdx / M) : 0;
        for (int n = 0; n < N; n++) {
            size_t o = ((size_t)n * C + c) * S;
#pragma omp simd
            for (size_t i = 0; i < S; i++) dx[o + i] += k * (dy[o + i] - cd - (xv[o + i] - m) * is * cx);
        }
    }
}

/* ---- layer normalisation ---- */

gg_node gg_layernorm(gg_graph *g, gg_node x, gg_node gamma, gg_node beta, float eps)
{
    if (!g || g->err) return -1;
    gg_node in[3] = {x, gamma, beta};
    for (int i = 0; i < 3; i++)
        if (!gg_node_ok(g, in[i]))
            return gg_build_fail(g, GG_E_ARG, "layernorm in '%s': input %d is not a node of this graph (%d)",
                                 g->scope, i, in[i]);
    if (!(eps > 0)) return gg_build_fail(g, GG_E_ARG, "layernorm in '%s': eps %g must be > 0", g->scope, eps);
    gg_tensor *xt = gg_T(g, x);
    int D = gg_last(xt);
    char s1[64], s2[64];
    for (int i = 1; i < 3; i++) {
        gg_tensor *p = gg_T(g, in[i]);
        if (!is_vec(p, D))
            return gg_build_fail(g, GG_E_SHAPE, "layernorm in '%s': %s '%s' %s does not fit input '%s' %s (want (%d))",
                                 g->scope, i == 1 ? "gamma" : "beta", p->name, gg_shape_str(p->shape, s1, sizeof s1),
                                 xt->name, gg_shape_str(xt->shape, s2, sizeof s2), D);
    }
    gg_node n = gg_add_node(g, GG_OP_LAYERNORM, "layernorm", in, 3, xt->shape, xt->batched);
    if (n >= 0) gg_ln_eps(&g->t[n]) = eps;
    return n;
}

size_t gg_layernorm_ws(const gg_graph *g, const gg_tensor *t)
{
    (void)g;
    return 2 * (gg_shape_numel(t->shape) / (size_t)gg_last(t));
}

void gg_layernorm_fwd(gg_graph *g, gg_tensor *t)
{
    const float *xv = gg_IN(g, t, 0)->val, *gam = gg_IN(g, t, 1)->val, *bet = gg_IN(g, t, 2)->val;
    long R = (long)gg_rows(g, t);
    int D = gg_last(t);
    double eps = gg_ln_eps(t);
#pragma omp parallel for if ((size_t)R * D > GG_PAR_MIN)
    for (long r = 0; r < R; r++) {
        const float *p = xv + (size_t)r * D;
        float *y = t->val + (size_t)r * D;
        /* double sums, over the vector lanes (an in-order sum waits on
         * the adder's latency at every element: 9% of a transformer's
         * step with five layer norms) */
        double s = 0, ss = 0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < D; i++) s += p[i];
        double m = s / D;
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < D; i++) {
            double d = p[i] - m;
            ss += d * d;
        }
        float fm = (float)m, is = (float)(1 / sqrt(ss / D + eps));
        t->ws[2 * r] = fm;
        t->ws[2 * r + 1] = is;
#pragma omp simd
        for (int i = 0; i < D; i++) y[i] = (p[i] - fm) * is * gam[i] + bet[i];
    }
}

#define LN_COLS 64 /* columns per thread in the gamma/beta reduction */

void gg_layernorm_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *gt = gg_IN(g, t, 1), *bt = gg_IN(g, t, 2);
    const float *xv = x->val, *dy = t->grad, *gam = gt->val, *ws = t->ws;
    long R = (long)gg_rows(g, t);
    int D = gg_last(t);
    if (x->needs_grad) {
        float *dx = x->grad;
        int acc = !gg_grad_fresh(g, x);
#pragma omp parallel for if ((size_t)R * D > GG_PAR_MIN)
        for (long r = 0; r < R; r++) {
            const float *p = xv + (size_t)r * D, *d = dy + (size_t)r * D;
            float *q = dx + (size_t)r * D;
            float m = ws[2 * r], is = ws[2 * r + 1];
            double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
            for (int i = 0; i < D; i++) {
                double gi = (double)d[i] * gam[i];
                s1 += gi;
                s2 += gi * ((p[i] - m) * is);
            }
            float c1 = (float)(s1 / D), c2 = (float)(s2 / D);
            if (acc) {
#pragma omp simd
                for (int i = 0; i < D; i++) q[i] += is * (d[i] * gam[i] - c1 - (p[i] - m) * is * c2);
            } else {
#pragma omp simd
                for (int i = 0; i < D; i++) q[i] = is * (d[i] * gam[i] - c1 - (p[i] - m) * is * c2);
            }
        }
    }
    float *dg = gt->needs_grad ? gt->grad : NULL, *db = bt->needs_grad ? bt->grad : NULL;
    if (!dg && !db) return;
    /* the sums over rows go column block by column block, so threads never
     * share an output and each reads contiguous runs of a row */
    long nblk = (D + LN_COLS - 1) / LN_COLS;
#pragma omp parallel for if ((size_t)R * D > GG_PAR_MIN && nblk > 1)
    for (long b = 0; b < nblk; b++) {
        int d0 = (int)b * LN_COLS, d1 = d0 + LN_COLS < D ? d0 + LN_COLS : D;
        double sg[LN_COLS] = {0}, sb[LN_COLS] = {0};
        for (long r = 0; r < R; r++) {
            const float *p = xv + (size_t)r * D, *d = dy + (size_t)r * D;
            float m = ws[2 * r], is = ws[2 * r + 1];
            for (int i = d0; i < d1; i++) {
                sg[i - d0] += (double)d[i] * ((p[i] - m) * is);
                sb[i - d0] += d[i];
            }
        }
        for (int i = d0; i < d1; i++) {
            if (dg) dg[i] += (float)sg[i - d0];
            if (db) db[i] += (float)sb[i - d0];
        }
    }
}

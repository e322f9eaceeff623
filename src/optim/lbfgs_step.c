/*
 * lbfgs_step.c - L-BFGS as a per-step optimizer: one iteration of PyTorch's
 * LBFGS (max_iter = 1, no line search) per gg_optim_step, over all
 * parameter tensors at once. A whole-model rule of the table in rules.c.
 *
 * Its state arena: per tensor [d][prev_grad][s_0 .. s_m-1][y_0 .. y_m-1]
 * (m = lbfgs_history), then a tail rho[m], t, H_diag, num_old, head,
 * started. gg_lbfgs_minimize (lbfgs.c) is the other L-BFGS: a whole
 * minimisation with a line search, for objectives that can be re-evaluated.
 */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* PyTorch's LBFGS tolerance_grad and tolerance_change defaults */
#define LBFGS_TOL_GRAD 1e-7
#define LBFGS_TOL_CHANGE 1e-9
#define LBFGS_DEFAULT_M 10
#define LBFGS_M_MAX 1000
enum { LB_T, LB_H, LB_NUM, LB_HEAD, LB_STARTED, LB_SCALARS };

gg_status gg_lbfgs_check(const gg_optim_config *c)
{
    if (c->lbfgs_history < 0 || c->lbfgs_history > LBFGS_M_MAX)
        return gg_optim_bad_field(c, "lbfgs_history", c->lbfgs_history, "is outside 1..1000 (0 means 10)");
    if (c->weight_decay != 0)
        return gg_optim_bad_field(c, "weight_decay", c->weight_decay,
                                  "is not supported by L-BFGS (as in PyTorch); use an L2 penalty (gg_optim_set_penalty)");
    return GG_OK;
}

int gg_lbfgs_slots(const gg_optim_config *c) { return 2 + 2 * (c->lbfgs_history ? c->lbfgs_history : LBFGS_DEFAULT_M); }

gg_status gg_lbfgs_setup(gg_optim *o)
{
    if (o->c.lbfgs_history == 0) o->c.lbfgs_history = LBFGS_DEFAULT_M;
    int m = o->c.lbfgs_history;
    o->nstate = o->tail + (size_t)m + LB_SCALARS;
    o->scratch = calloc((size_t)m, sizeof *o->scratch);
    return o->scratch ? GG_OK : GG_E_NOMEM;
}

gg_status gg_lbfgs_check_group(const gg_optim *o, const char *pattern, float lr_scale, float weight_decay)
{
    (void)o;
    if (lr_scale != 1 || weight_decay != 0)
        return gg_fail(GG_E_ARG, "optimizer group '%s': L-BFGS takes one step over all parameters, so lr_scale "
                                 "(%g) must be 1 and weight_decay (%g) 0; L1/L2 penalties are fine",
                       pattern, (double)lr_scale, (double)weight_decay);
    return GG_OK;
}

static double dot(const float *restrict a, const float *restrict b, long n)
{
    double acc = 0;
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (parallel: n >= GG_PAR_MIN)
    for (long k = 0; k < n; k++) acc += (double)a[k] * b[k];
    return acc;
}

static void axpy(float *restrict y, float a, const float *restrict x, long n)
{
#pragma omp parallel for simd schedule(static) if (parallel: n >= GG_PAR_MIN)
    for (long k = 0; k < n; k++) y[k] += a * x[k];
}

/* Vector `slot` of tensor i's L-BFGS block: 0 d, 1 prev_grad, 2+j s_j, 2+m+j y_j. */
static inline float *lbv(gg_optim *o, int i, int slot) { return o->state + o->t[i].soff + (size_t)slot * o->t[i].n; }

void gg_lbfgs_step(gg_optim *o, float lr, float *P, const float *G)
{
    const int m = o->c.lbfgs_history;
    float *rho = o->state + o->tail, *sc = rho + m;
    double gmax = 0, gsum = 0;
    for (int i = 0; i < o->nt; i++) {
        const float *g = G + o->t[i].off;
        for (size_t k = 0; k < o->t[i].n; k++) {
            double a = fabs((double)g[k]);
            gmax = a > gmax ? a : gmax;
            gsum += a;
        }
        o->unorm[i] = 0;
    }
    if (gmax <= LBFGS_TOL_GRAD) return; /* already optimal: PyTorch returns before touching its state */
    int first = sc[LB_STARTED] == 0;
    if (first) {
        for (int i = 0; i < o->nt; i++) {
            float *d = lbv(o, i, 0);
            const float *g = G + o->t[i].off;
            for (size_t k = 0; k < o->t[i].n; k++) d[k] = -g[k];
        }
        sc[LB_NUM] = sc[LB_HEAD] = 0;
        sc[LB_H] = 1;
        sc[LB_STARTED] = 1;
    } else {
        /* y = g - prev_g, s = t d (the last step); keep the pair if y.s > 1e-10 */
        const float t = sc[LB_T];
        double ys = 0, yy = 0;
        for (int i = 0; i < o->nt; i++) {
            const float *g = G + o->t[i].off, *pg = lbv(o, i, 1), *d = lbv(o, i, 0);
            for (size_t k = 0; k < o->t[i].n; k++) {
                float y = g[k] - pg[k], s = d[k] * t;
                ys += (double)y * s;
                yy += (double)y * y;
            }
        }
        int num = (int)sc[LB_NUM], head = (int)sc[LB_HEAD];
        if (ys > 1e-10) {
            int slot;
            if (num < m) {
                slot = (head + num) % m;
                num++;
            } else { /* full: the oldest pair makes room */
                slot = head;
                head = (head + 1) % m;
            }
            for (int i = 0; i < o->nt; i++) {
                const float *g = G + o->t[i].off, *pg = lbv(o, i, 1), *d = lbv(o, i, 0);
                float *s = lbv(o, i, 2 + slot), *y = lbv(o, i, 2 + m + slot);
                for (size_t k = 0; k < o->t[i].n; k++) {
                    s[k] = d[k] * t;
                    y[k] = g[k] - pg[k];
                }
            }
            rho[slot] = (float)(1.0 / ys);
            sc[LB_H] = (float)(ys / yy);
            sc[LB_NUM] = (float)num;
            sc[LB_HEAD] = (float)head;
        }
        /* two-loop recursion (Nocedal & Wright alg. 7.4): d = -H g, newest pair first */
        for (int i = 0; i < o->nt; i++) {
            float *d = lbv(o, i, 0);
            const float *g = G + o->t[i].off;
            for (size_t k = 0; k < o->t[i].n; k++) d[k] = -g[k];
        }
        for (int q = num - 1; q >= 0; q--) {
            int j = (head + q) % m;
            double sq = 0;
            for (int i = 0; i < o->nt; i++) sq += dot(lbv(o, i, 2 + j), lbv(o, i, 0), (long)o->t[i].n);
            o->scratch[q] = sq * rho[j];
            for (int i = 0; i < o->nt; i++)
                axpy(lbv(o, i, 0), (float)-o->scratch[q], lbv(o, i, 2 + m + j), (long)o->t[i].n);
        }
        const float h = sc[LB_H];
        for (int i = 0; i < o->nt; i++) {
            float *d = lbv(o, i, 0);
            for (size_t k = 0; k < o->t[i].n; k++) d[k] *= h;
        }
        for (int q = 0; q < num; q++) {
            int j = (head + q) % m;
            double yr = 0;
            for (int i = 0; i < o->nt; i++) yr += dot(lbv(o, i, 2 + m + j), lbv(o, i, 0), (long)o->t[i].n);
            double be = yr * rho[j];
            for (int i = 0; i < o->nt; i++)
                axpy(lbv(o, i, 0), (float)(o->scratch[q] - be), lbv(o, i, 2 + j), (long)o->t[i].n);
        }
    }
    double gtd = 0;
    for (int i = 0; i < o->nt; i++) {
        const float *g = G + o->t[i].off;
        memcpy(lbv(o, i, 1), g, o->t[i].n * sizeof(float));
        gtd += dot(g, lbv(o, i, 0), (long)o->t[i].n);
    }
    /* the first step is scaled so that its L1 length is at most lr */
    double t = first ? fmin(1.0, 1.0 / gsum) * lr : lr;
    sc[LB_T] = (float)t;
    if (gtd > -LBFGS_TOL_CHANGE) return; /* not a descent direction: PyTorch stops without a step */
    for (int i = 0; i < o->nt; i++) {
        float *p = P + o->t[i].off;
        const float *d = lbv(o, i, 0);
        const float tf = (float)t;
        const long n = (long)o->t[i].n;
        double acc = 0;
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (parallel: n >= GG_PAR_MIN)
        for (long k = 0; k < n; k++) {
            float p0 = p[k], p1 = p0 + tf * d[k], dd = p1 - p0;
            acc += (double)dd * dd;
            p[k] = p1;
        }
        o->unorm[i] = sqrt(acc);
    }
}


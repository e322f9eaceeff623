/*
 * lbfgs.c - limited-memory BFGS for a deterministic objective (Nocedal &
 * Wright, Numerical Optimization, 2nd ed.): the two-loop recursion of
 * alg. 7.4 inside the outer loop of alg. 7.5, with the strong-Wolfe line
 * search of alg. 3.5 (bracketing) and 3.6 (zoom), trial steps chosen by
 * cubic interpolation (eq. 3.59) and safeguarded. Doubles throughout.
 *
 * Everything is allocated once per call; an evaluation is x + a d, one call
 * of f and one dot product.
 */
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRACKET_MAX 60 /* bracketing trials per line search */
#define ZOOM_MAX 60    /* zoom trials per line search */
#define STEP_MAX 1e20  /* no step beyond this multiple of d */

gg_lbfgs_config gg_lbfgs_defaults(void)
{
    gg_lbfgs_config c;
    c.m = 10;
    c.max_iter = 100;
    c.max_evals = 2500;
    c.gtol = 1e-6;
    c.ftol = 0;
    c.c1 = 1e-4;
    c.c2 = 0.9;
    return c;
}

typedef struct lbfgs {
    int n;
    gg_objective f;
    void *ctx;
    gg_lbfgs_config c;
    int evals, iter;
    double *x, *g, *d;     /* current iterate, its gradient, the direction */
    double *xt, *gt;       /* the last trial point and its gradient */
    double ft, at;         /* its value and step */
    double *S, *Y, *rho, *al; /* m pairs, oldest at head */
    int num, head;
} lbfgs;

static double dotd(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* phi(a) = f(x + a d) into L->ft, L->gt; *dphi = gt . d. Any non-finite value
 * is an error naming the evaluation, the iteration and the step. */
static gg_status eval_at(lbfgs *L, double a, double *dphi)
{
    for (int i = 0; i < L->n; i++) L->xt[i] = L->x[i] + a * L->d[i];
    L->ft = L->f(L->xt, L->gt, L->n, L->ctx);
    L->at = a;
    L->evals++;
    if (!isfinite(L->ft))
        return gg_fail(GG_E_NONFINITE, "gg_lbfgs_minimize: the objective is %g at evaluation %d (iteration %d, step %g "
                                       "along the search direction)", L->ft, L->evals, L->iter, a);
    for (int i = 0; i < L->n; i++)
        if (!isfinite(L->gt[i]))
            return gg_fail(GG_E_NONFINITE, "gg_lbfgs_minimize: gradient element %d is %g at evaluation %d "
                                           "(iteration %d, step %g)", i, L->gt[i], L->evals, L->iter, a);
    *dphi = dotd(L->gt, L->d, L->n);
    return GG_OK;
}

/* Minimiser of the cubic through (a, fa) and (b, fb) with slopes da, db
 * (Nocedal & Wright eq. 3.59); NaN when it has none. */
static double cubic_min(double a, double fa, double da, double b, double fb, double db)
{
    double d1 = da + db - 3 * (fa - fb) / (a - b);
    double disc = d1 * d1 - da * db;
    if (!(disc >= 0)) return NAN;
    double d2 = sqrt(disc) * (b > a ? 1 : -1);
    double den = db - da + 2 * d2;
    if (den == 0) return NAN;
    return b - (b - a) * (db + d2 - d1) / den;
}

enum { LS_FAIL = 0, LS_WOLFE = 1, LS_ARMIJO = 2 };

static int budget_left(const lbfgs *L) { return L->evals < L->c.max_evals; }

/* Alg. 3.6: the interval between lo and hi holds a strong-Wolfe step; lo
 * always satisfies sufficient decrease with the lowest value seen. */
static gg_status zoom(lbfgs *L, double f0, double dphi0, double lo, double flo, double dlo, double hi, double fhi,
                      double dhi, int *how)
{
    const double c1 = L->c.c1, c2 = L->c.c2;
    for (int j = 0; j < ZOOM_MAX && budget_left(L); j++) {
        double left = fmin(lo, hi), right = fmax(lo, hi), w = right - left;
        if (w <= 1e-16 * fmax(1.0, right)) break; /* the interval has collapsed */
        double a = cubic_min(lo, flo, dlo, hi, fhi, dhi);
        /* keep the trial off the ends, where interpolation stalls */
        if (!(a >= left + 0.1 * w && a <= right - 0.1 * w)) a = 0.5 * (lo + hi);
        double da;
        gg_status s = eval_at(L, a, &da);
        if (s) return s;
        if (L->ft > f0 + c1 * a * dphi0 || L->ft >= flo) {
            hi = a, fhi = L->ft, dhi = da;
        } else {
            if (fabs(da) <= -c2 * dphi0) {
                *how = LS_WOLFE;
                return GG_OK;
            }
            if (da * (hi - lo) >= 0) hi = lo, fhi = flo, dhi = dlo;
            lo = a, flo = L->ft, dlo = da;
        }
    }
    /* no Wolfe point found: fall back to lo if it is a real step */
    if (lo <= 0) {
        *how = LS_FAIL;
        return GG_OK;
    }
    if (L->at != lo) {
        double da;
        gg_status s = eval_at(L, lo, &da);
        if (s) return s;
    }
    *how = LS_ARMIJO;
    return GG_OK;
}

/* Alg. 3.5: from a1, grow the step until an interval holding a strong-Wolfe
 * point is bracketed, then zoom. On return the accepted point (if any) is in
 * L->xt, L->gt, L->ft. */
static gg_status line_search(lbfgs *L, double f0, double dphi0, double a1, int *how)
{
    const double c1 = L->c.c1, c2 = L->c.c2;
    double ap = 0, fp = f0, dp = dphi0, a = a1;
    for (int i = 0; i < BRACKET_MAX; i++) {
        double da;
        gg_status s = eval_at(L, a, &da);
        if (s) return s;
        if (L->ft > f0 + c1 * a * dphi0 || (i > 0 && L->ft >= fp))
            return zoom(L, f0, dphi0, ap, fp, dp, a, L->ft, da, how);
        if (fabs(da) <= -c2 * dphi0) {
            *how = LS_WOLFE;
            return GG_OK;
        }
        if (da >= 0) return zoom(L, f0, dphi0, a, L->ft, da, ap, fp, dp, how);
        if (!budget_left(L) || a >= STEP_MAX) {
            /* still going down: a decreases f enough, take it */
            *how = LS_ARMIJO;
            return GG_OK;
        }
        /* extrapolate: the cubic's minimiser, kept within [a + 1.1 (a - ap), a + 4 (a - ap)] */
        double lo_b = a + 1.1 * (a - ap), hi_b = fmin(a + 4 * (a - ap), STEP_MAX);
        double next = cubic_min(ap, fp, dp, a, L->ft, da);
        if (!(next >= lo_b)) next = isnan(next) ? hi_b : lo_b;
        if (next > hi_b) next = hi_b;
        ap = a, fp = L->ft, dp = da;
        a = next;
    }
    *how = LS_ARMIJO; /* decrease all the way out: the last point is a fine step */
    return GG_OK;
}

/* Alg. 7.4: d = -H g with H0 = gamma I, gamma = s'y / y'y of the newest pair. */
static void direction(lbfgs *L)
{
    const int n = L->n, m = L->c.m;
    for (int i = 0; i < n; i++) L->d[i] = -L->g[i];
    for (int q = L->num - 1; q >= 0; q--) {
        int j = (L->head + q) % m;
        const double *s = L->S + (size_t)j * n, *y = L->Y + (size_t)j * n;
        L->al[q] = L->rho[j] * dotd(s, L->d, n);
        for (int i = 0; i < n; i++) L->d[i] -= L->al[q] * y[i];
    }
    if (L->num > 0) {
        int j = (L->head + L->num - 1) % m;
        const double *s = L->S + (size_t)j * n, *y = L->Y + (size_t)j * n;
        double gamma = dotd(s, y, n) / dotd(y, y, n);
        for (int i = 0; i < n; i++) L->d[i] *= gamma;
    }
    for (int q = 0; q < L->num; q++) {
        int j = (L->head + q) % m;
        const double *s = L->S + (size_t)j * n, *y = L->Y + (size_t)j * n;
        double be = L->rho[j] * dotd(y, L->d, n);
        for (int i = 0; i < n; i++) L->d[i] += (L->al[q] - be) * s[i];
    }
}

static double max_abs(const double *v, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

static gg_status check_cfg(const gg_lbfgs_config *c, int n)
{
    if (n < 1) return gg_fail(GG_E_ARG, "gg_lbfgs_minimize: n = %d must be >= 1", n);
    if (c->m < 1 || c->m > 1000) return gg_fail(GG_E_ARG, "gg_lbfgs_minimize: m = %d is outside 1..1000", c->m);
    if (c->max_iter < 1) return gg_fail(GG_E_ARG, "gg_lbfgs_minimize: max_iter = %d must be >= 1", c->max_iter);
    if (c->max_evals < 0) return gg_fail(GG_E_ARG, "gg_lbfgs_minimize: max_evals = %d must be >= 0", c->max_evals);
    if (!(c->gtol >= 0) || !isfinite(c->gtol))
        return gg_fail(GG_E_ARG, "gg_lbfgs_minimize: gtol = %g must be a finite number >= 0", c->gtol);
    if (!(c->ftol >= 0) || !isfinite(c->ftol))
        return gg_fail(GG_E_ARG, "gg_lbfgs_minimize: ftol = %g must be a finite number >= 0", c->ftol);
    if (!(c->c1 > 0 && c->c1 < c->c2 && c->c2 < 1))
        return gg_fail(GG_E_ARG, "gg_lbfgs_minimize: Wolfe constants c1 = %g, c2 = %g must satisfy 0 < c1 < c2 < 1",
                       c->c1, c->c2);
    return GG_OK;
}

gg_status gg_lbfgs_minimize(double *x, int n, gg_objective f, void *ctx, const gg_lbfgs_config *cfg,
                            gg_lbfgs_result *res)
{
    if (!x || !f) return gg_fail(GG_E_ARG, "gg_lbfgs_minimize: %s is NULL", x ? "the objective" : "x");
    lbfgs L;
    memset(&L, 0, sizeof L);
    L.c = cfg ? *cfg : gg_lbfgs_defaults();
    gg_status st = check_cfg(&L.c, n);
    if (st) return st;
    if (L.c.max_evals == 0) L.c.max_evals = 25 * L.c.max_iter;
    L.n = n;
    L.f = f;
    L.ctx = ctx;
    L.x = x;
    const size_t nn = (size_t)n, mm = (size_t)L.c.m;
    /* one block: g, d, xt, gt (n each), S and Y (m n each), rho and al (m each) */
    double *mem = malloc(sizeof(double) * (4 * nn + 2 * mm * nn + 2 * mm));
    if (!mem) return gg_fail(GG_E_NOMEM, "gg_lbfgs_minimize: out of memory for n = %d, m = %d", n, L.c.m);
    L.g = mem;
    L.d = L.g + nn;
    L.xt = L.d + nn;
    L.gt = L.xt + nn;
    L.S = L.gt + nn;
    L.Y = L.S + mm * nn;
    L.rho = L.Y + mm * nn;
    L.al = L.rho + mm;

    gg_lbfgs_result r;
    memset(&r, 0, sizeof r);
    double fx = f(x, L.g, n, ctx);
    L.evals = 1;
    if (!isfinite(fx)) {
        st = gg_fail(GG_E_NONFINITE, "gg_lbfgs_minimize: the objective is %g at the starting point", fx);
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (!isfinite(L.g[i])) {
            st = gg_fail(GG_E_NONFINITE, "gg_lbfgs_minimize: gradient element %d is %g at the starting point", i,
                         L.g[i]);
            goto out;
        }
    for (;;) {
        double gmax = max_abs(L.g, n);
        if (gmax <= L.c.gtol) {
            r.converged = 1;
            snprintf(r.reason, sizeof r.reason, "max |g| %.3g <= gtol", gmax);
            break;
        }
        if (L.iter >= L.c.max_iter) {
            snprintf(r.reason, sizeof r.reason, "max_iter (%d) reached", L.c.max_iter);
            break;
        }
        if (!budget_left(&L)) {
            snprintf(r.reason, sizeof r.reason, "max_evals (%d) reached", L.c.max_evals);
            break;
        }
        direction(&L);
        double dphi0 = dotd(L.g, L.d, n);
        if (!(dphi0 < 0)) {
            /* the model lost positive curvature (round-off): start over from steepest descent */
            L.num = L.head = 0;
            for (int i = 0; i < n; i++) L.d[i] = -L.g[i];
            dphi0 = -dotd(L.g, L.g, n);
        }
        /* a quasi-Newton step has natural length 1; without history, try a step of length min(1, |g|) */
        double a1 = L.num > 0 ? 1.0 : fmin(1.0, 1.0 / sqrt(-dphi0));
        int how = LS_FAIL;
        st = line_search(&L, fx, dphi0, a1, &how);
        if (st) goto out;
        if (how == LS_FAIL) {
            if (L.num > 0) { /* the history misled the search: forget it and retry */
                L.num = L.head = 0;
                continue;
            }
            snprintf(r.reason, sizeof r.reason, "line search found no decrease");
            break;
        }
        /* the new pair s = x+ - x, y = g+ - g; kept only with positive curvature */
        const int m = L.c.m;
        double sy = 0, yy = 0;
        for (int i = 0; i < n; i++) {
            double si = L.xt[i] - x[i], yi = L.gt[i] - L.g[i];
            sy += si * yi;
            yy += yi * yi;
        }
        if (sy > 1e-12 * yy && sy > 0) {
            /* a full history gives up its oldest pair */
            int slot = L.num < m ? (L.head + L.num) % m : L.head;
            double *s = L.S + (size_t)slot * nn, *y = L.Y + (size_t)slot * nn;
            for (int i = 0; i < n; i++) {
                s[i] = L.xt[i] - x[i];
                y[i] = L.gt[i] - L.g[i];
            }
            L.rho[slot] = 1 / sy;
            if (L.num < m) L.num++;
            else L.head = (L.head + 1) % m;
        }
        double fprev = fx;
        memcpy(x, L.xt, nn * sizeof *x);
        memcpy(L.g, L.gt, nn * sizeof *L.g);
        fx = L.ft;
        L.iter++;
        if (L.c.ftol > 0 && fabs(fprev - fx) <= L.c.ftol * fmax(fmax(fabs(fprev), fabs(fx)), 1.0)) {
            r.converged = 1;
            snprintf(r.reason, sizeof r.reason, "relative change of f <= ftol");
            break;
        }
    }
out:
    r.iters = L.iter;
    r.evals = L.evals;
    r.f = fx;
    r.gmax = max_abs(L.g, n);
    if (st) snprintf(r.reason, sizeof r.reason, "error: %s", gg_status_name(st));
    if (res) *res = r;
    free(mem);
    return st;
}

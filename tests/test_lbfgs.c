/* L-BFGS with the strong-Wolfe line search: the 5-D Rosenbrock function
 * from the classic start point, a convex quadratic with a known minimiser,
 * stopping rules, and errors for non-finite values and bad arguments. */
#include "gradguard.h"
#include "gt.h"

#include <string.h>

/* f = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; minimum 0 at all ones. */
static double rosenbrock(const double *x, double *g, int n, void *ctx)
{
    int *calls = ctx;
    if (calls) (*calls)++;
    double f = 0;
    for (int i = 0; i < n; i++) g[i] = 0;
    for (int i = 0; i + 1 < n; i++) {
        double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
        f += 100 * a * a + b * b;
        g[i] += -400 * x[i] * a - 2 * b;
        g[i + 1] += 200 * a;
    }
    return f;
}

/* f = 1/2 x'Ax - b'x with A tridiagonal (4 on the diagonal, -1 off it, SPD
 * by diagonal dominance, condition number about 3) and b = A x* for a
 * chosen x*, so the minimiser is x*. */
#define QN 12
static double xstar[QN];
static void tri_mul(const double *x, double *y, int n)
{
    for (int i = 0; i < n; i++) y[i] = 4 * x[i] - (i > 0 ? x[i - 1] : 0) - (i + 1 < n ? x[i + 1] : 0);
}
static double quadratic(const double *x, double *g, int n, void *ctx)
{
    (void)ctx;
    double ax[QN], b[QN];
    tri_mul(x, ax, n);
    tri_mul(xstar, b, n);
    double f = 0;
    for (int i = 0; i < n; i++) {
        f += 0.5 * x[i] * ax[i] - b[i] * x[i];
        g[i] = ax[i] - b[i];
    }
    return f;
}
/* A badly scaled quadratic: sum_i 10^(i/2) (x_i - 1)^2 / 2 (condition 10^4.5). */
static double scaled(const double *x, double *g, int n, void *ctx)
{
    (void)ctx;
    double f = 0;
    for (int i = 0; i < n; i++) {
        double c = pow(10, 0.5 * i);
        f += 0.5 * c * (x[i] - 1) * (x[i] - 1);
        g[i] = c * (x[i] - 1);
    }
    return f;
}

static double always_nan(const double *x, double *g, int n, void *ctx)
{
    (void)ctx;
    for (int i = 0; i < n; i++) g[i] = x[i];
    return NAN;
}
/* (x - 3)^2, but non-finite past x = 0.5: the first trial step (x = 1) lands there. */
static double nan_far(const double *x, double *g, int n, void *ctx)
{
    (void)ctx;
    (void)n;
    g[0] = 2 * (x[0] - 3);
    return x[0] > 0.5 ? NAN : (x[0] - 3) * (x[0] - 3);
}
/* Finite value, but a gradient that is infinite in element 1. */
static double inf_grad(const double *x, double *g, int n, void *ctx)
{
    (void)ctx;
    for (int i = 0; i < n; i++) g[i] = x[i];
    g[1] = INFINITY;
    return 1;
}

static void test_rosenbrock(void)
{
    double x[5] = {1.3, 0.7, 0.8, 1.9, 1.2};
    int calls = 0;
    gg_lbfgs_config c = gg_lbfgs_defaults();
    GT_CHECK(c.m == 10 && c.max_iter == 100 && c.gtol == 1e-6 && c.c1 == 1e-4 && c.c2 == 0.9, "defaults");
    gg_lbfgs_result r;
    GT_OK(gg_lbfgs_minimize(x, 5, rosenbrock, &calls, &c, &r));
    GT_CHECK(r.converged == 1, "rosenbrock did not converge: %s after %d iterations", r.reason, r.iters);
    GT_CHECK(r.iters < 100, "rosenbrock took %d iterations", r.iters);
    GT_CHECK(r.evals == calls, "evals %d, objective called %d times", r.evals, calls);
    /* with H0 scaled by s'y/y'y the unit step is nearly always accepted: few extra evaluations */
    GT_CHECK(r.evals <= r.iters + 15, "rosenbrock used %d evaluations for %d iterations", r.evals, r.iters);
    /* check the gradient at the returned x ourselves */
    double g[5];
    double f = rosenbrock(x, g, 5, NULL);
    double gmax = 0;
    for (int i = 0; i < 5; i++) gmax = fmax(gmax, fabs(g[i]));
    GT_CHECK(gmax < 1e-6, "max |grad| %g at the returned x", gmax);
    GT_NEAR(r.gmax, gmax, 1e-9, 1e-15, "reported gmax");
    GT_NEAR(r.f, f, 1e-12, 1e-20, "reported f");
    for (int i = 0; i < 5; i++) GT_NEAR(x[i], 1.0, 0, 1e-5, "rosenbrock x[%d]", i);
    printf("rosenbrock 5-D: %d iterations, %d evaluations, f %.3g, max|g| %.3g\n", r.iters, r.evals, r.f, r.gmax);

    /* a small history still gets there; m = 1 too */
    double x2[5] = {1.3, 0.7, 0.8, 1.9, 1.2};
    c.m = 3;
    c.max_iter = 200;
    GT_OK(gg_lbfgs_minimize(x2, 5, rosenbrock, NULL, &c, &r));
    GT_CHECK(r.converged, "m = 3: %s", r.reason);
    for (int i = 0; i < 5; i++) GT_NEAR(x2[i], 1.0, 0, 1e-5, "m = 3: x[%d]", i);

    /* the classic 2-D start (-1.2, 1) with the default config */
    double x3[2] = {-1.2, 1};
    GT_OK(gg_lbfgs_minimize(x3, 2, rosenbrock, NULL, NULL, &r));
    GT_CHECK(r.converged && r.iters < 100, "2-D: %s after %d", r.reason, r.iters);
    GT_NEAR(x3[0], 1.0, 0, 1e-5, "2-D x0");
    GT_NEAR(x3[1], 1.0, 0, 1e-5, "2-D x1");
}

static void test_quadratic(void)
{
    for (int i = 0; i < QN; i++) xstar[i] = sin(1.0 + i) * 3 - 0.5 * i;
    double x[QN] = {0};
    gg_lbfgs_config c = gg_lbfgs_defaults();
    c.gtol = 1e-8; /* f - f* ~ 1e-17 there: near the end of what double f can resolve */
    gg_lbfgs_result r;
    GT_OK(gg_lbfgs_minimize(x, QN, quadratic, NULL, &c, &r));
    GT_CHECK(r.converged, "quadratic: %s", r.reason);
    /* condition number ~3: quasi-Newton needs only a handful of steps */
    GT_CHECK(r.iters <= 20, "quadratic took %d iterations", r.iters);
    for (int i = 0; i < QN; i++) GT_NEAR(x[i], xstar[i], 0, 1e-8, "quadratic x[%d]", i);

    double y[6] = {0};
    c.gtol = 1e-8;
    GT_OK(gg_lbfgs_minimize(y, 6, scaled, NULL, &c, &r));
    GT_CHECK(r.converged && r.iters < 60, "scaled quadratic: %s after %d", r.reason, r.iters);
    for (int i = 0; i < 6; i++) GT_NEAR(y[i], 1.0, 0, 1e-6, "scaled y[%d]", i);

    /* ftol stops early, and says so */
    double z[QN] = {0};
    c.gtol = 0;
    c.ftol = 1e-3;
    GT_OK(gg_lbfgs_minimize(z, QN, quadratic, NULL, &c, &r));
    GT_CHECK(r.converged && strstr(r.reason, "ftol"), "ftol: converged %d, reason %s", r.converged, r.reason);

    /* max_iter ends the run without an error */
    double w[5] = {1.3, 0.7, 0.8, 1.9, 1.2};
    c = gg_lbfgs_defaults();
    c.max_iter = 3;
    GT_OK(gg_lbfgs_minimize(w, 5, rosenbrock, NULL, &c, &r));
    GT_CHECK(!r.converged && r.iters == 3 && strstr(r.reason, "max_iter"), "max_iter: %d iterations, %s", r.iters,
             r.reason);
    /* ... and every iteration decreased f (Armijo) */
    double g0[5], x0[5] = {1.3, 0.7, 0.8, 1.9, 1.2};
    GT_CHECK(r.f < rosenbrock(x0, g0, 5, NULL), "f did not decrease: %g", r.f);
    c.max_iter = 100;
    c.max_evals = 5;
    double v[5] = {1.3, 0.7, 0.8, 1.9, 1.2};
    GT_OK(gg_lbfgs_minimize(v, 5, rosenbrock, NULL, &c, &r));
    GT_CHECK(!r.converged && r.evals <= 6 && strstr(r.reason, "max_evals"), "max_evals: %d evals, %s", r.evals,
             r.reason);
}

static void test_errors(void)
{
    double x[3] = {1, 2, 3};
    gg_lbfgs_result r;
    gg_status s = gg_lbfgs_minimize(x, 3, always_nan, NULL, NULL, &r);
    GT_CHECK(s == GG_E_NONFINITE, "NaN objective gave %d", (int)s);
    GT_CHECK(strstr(gg_errmsg(), "starting point") != NULL, "message: %s", gg_errmsg());

    double y[1] = {0};
    s = gg_lbfgs_minimize(y, 1, nan_far, NULL, NULL, &r);
    GT_CHECK(s == GG_E_NONFINITE, "NaN during the line search gave %d", (int)s);
    GT_CHECK(strstr(gg_errmsg(), "evaluation") != NULL, "message: %s", gg_errmsg());
    GT_CHECK(y[0] == 0, "x should stay at the last accepted iterate, got %g", y[0]);

    s = gg_lbfgs_minimize(x, 3, inf_grad, NULL, NULL, &r);
    GT_CHECK(s == GG_E_NONFINITE && strstr(gg_errmsg(), "element 1"), "inf gradient: %d %s", (int)s, gg_errmsg());

    gg_lbfgs_config c = gg_lbfgs_defaults();
    s = gg_lbfgs_minimize(x, 0, rosenbrock, NULL, &c, &r);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "n = 0"), "n = 0: %s", gg_errmsg());
    c.c1 = 0.95;
    s = gg_lbfgs_minimize(x, 3, rosenbrock, NULL, &c, &r);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "c1 = 0.95"), "c1 > c2: %s", gg_errmsg());
    c = gg_lbfgs_defaults();
    c.m = 0;
    s = gg_lbfgs_minimize(x, 3, rosenbrock, NULL, &c, &r);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "m = 0"), "m = 0: %s", gg_errmsg());
    c = gg_lbfgs_defaults();
    c.gtol = -1;
    s = gg_lbfgs_minimize(x, 3, rosenbrock, NULL, &c, &r);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "gtol"), "gtol < 0: %s", gg_errmsg());
    s = gg_lbfgs_minimize(NULL, 3, rosenbrock, NULL, NULL, &r);
    GT_CHECK(s == GG_E_ARG, "x NULL: %d", (int)s);
}

int main(void)
{
    test_rosenbrock();
    test_quadratic();
    test_errors();
    return gt_done("test_lbfgs");
}

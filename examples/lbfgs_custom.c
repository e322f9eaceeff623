/*
 * lbfgs_custom.c - minimising objectives of your own with gg_lbfgs_minimize
 * (L-BFGS with a strong-Wolfe line search), through the public header only.
 *
 *   lbfgs_custom [N]
 *
 * 1. The Rosenbrock function in N dimensions (default 100),
 *      f(x) = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2,
 *    from the classic start (-1.2, 1, -1.2, 1, ...); its minimum is 0 at
 *    (1, ..., 1), at the end of a long curved valley.
 * 2. L2-regularised logistic regression on synthetic data: 2000 points in 20
 *    dimensions whose labels are drawn from a known weight vector w*; the
 *    fit should point the way w* does.
 *
 * An objective is one function: it returns f(x) and writes the gradient. A
 * finite-difference check of the gradient comes first (the commonest bug in
 * a hand-written objective). Progress is printed at evaluations 1, 2, 4, 8,
 * ... (the line search evaluates f more than once per iteration). Exits 0
 * when both problems converge to the known answers.
 */
#include <gradguard.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Counts evaluations and prints the best value at powers of two. */
typedef struct trace {
    const char *name;
    long evals;
    double best;
} trace;

static void trace_eval(trace *t, double f)
{
    t->evals++;
    if (t->evals == 1 || f < t->best) t->best = f;
    if (t->name && (t->evals & (t->evals - 1)) == 0) printf("  %s: evaluation %4ld  best f %.6e\n", t->name, t->evals, t->best);
}

/* ---- 1. Rosenbrock ------------------------------------------------------- */

static double rosenbrock(const double *x, double *g, int n, void *ctx)
{
    double f = 0;
    for (int i = 0; i < n; i++) g[i] = 0;
    for (int i = 0; i + 1 < n; i++) {
        double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
        f += 100 * a * a + b * b;
        g[i] += -400 * x[i] * a - 2 * b;
        g[i + 1] += 200 * a;
    }
    trace_eval(ctx, f);
    return f;
}

/* ---- 2. logistic regression ------------------------------------------------ */

typedef struct logreg {
    int m, d;
    const double *X; /* (m, d) */
    const double *s; /* labels as signs, +1 or -1 */
    double lambda;
    trace tr;
} logreg;

/* mean_i log(1 + exp(-s_i x_i.w)) + lambda/2 |w|^2 */
static double logreg_f(const double *w, double *g, int d, void *ctx)
{
    logreg *p = ctx;
    double f = 0;
    for (int j = 0; j < d; j++) g[j] = p->lambda * w[j];
    for (int i = 0; i < p->m; i++) {
        const double *xi = p->X + (size_t)i * d;
        double z = 0;
        for (int j = 0; j < d; j++) z += xi[j] * w[j];
        double t = -p->s[i] * z;
        /* log(1 + e^t) without overflow, and its derivative sigmoid(t) */
        f += t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
        double sg = t > 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t));
        for (int j = 0; j < d; j++) g[j] += -p->s[i] * sg * xi[j] / p->m;
    }
    f /= p->m;
    for (int j = 0; j < d; j++) f += 0.5 * p->lambda * w[j] * w[j];
    trace_eval(&p->tr, f);
    return f;
}

/* Largest relative difference between the gradient and central differences. */
static double grad_check(gg_objective f, double *x, int n, void *ctx)
{
    double *g = malloc(sizeof *g * (size_t)n), *tmp = malloc(sizeof *tmp * (size_t)n);
    double worst = 0;
    if (!g || !tmp) return INFINITY;
    f(x, g, n, ctx);
    for (int i = 0; i < n; i++) {
        double h = 1e-6 * fmax(1, fabs(x[i])), keep = x[i];
        x[i] = keep + h;
        double fp = f(x, tmp, n, ctx);
        x[i] = keep - h;
        double fm = f(x, tmp, n, ctx);
        x[i] = keep;
        double num = (fp - fm) / (2 * h);
        double rel = fabs(num - g[i]) / fmax(1e-8, fabs(num) + fabs(g[i]));
        if (rel > worst) worst = rel;
    }
    free(g);
    free(tmp);
    return worst;
}

static void report(const char *name, gg_status st, const gg_lbfgs_result *r)
{
    if (st) printf("%s: failed: %s\n", name, gg_errmsg());
    else
        printf("%s: %s after %d iterations and %d evaluations: f = %.6e, max |g_i| = %.2e (%s)\n", name,
               r->converged ? "converged" : "stopped", r->iters, r->evals, r->f, r->gmax, r->reason);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    if (n < 2 || n > 1000000) return fprintf(stderr, "usage: lbfgs_custom [N >= 2]\n"), 2;
    int ok = 1;

    /* 1. Rosenbrock */
    double *x = malloc(sizeof *x * (size_t)n);
    if (!x) return 1;
    for (int i = 0; i < n; i++) x[i] = i % 2 ? 1.0 : -1.2;
    trace tr = {NULL, 0, 0}; /* silent during the gradient check */
    printf("Rosenbrock, %d dimensions: gradient check %.1e (relative)\n", n, grad_check(rosenbrock, x, n > 10 ? 10 : n, &tr));
    tr = (trace){"rosenbrock", 0, 0};
    gg_lbfgs_config c = gg_lbfgs_defaults();
    c.max_iter = 2000;
    c.max_evals = 10000;
    c.gtol = 1e-8;
    gg_lbfgs_result r;
    gg_status st = gg_lbfgs_minimize(x, n, rosenbrock, &tr, &c, &r);
    report("rosenbrock", st, &r);
    double err = 0;
    for (int i = 0; i < n; i++) err = fmax(err, fabs(x[i] - 1));
    printf("rosenbrock: max |x_i - 1| = %.2e\n", err);
    ok &= !st && r.converged && err < 1e-5;
    free(x);

    /* 2. logistic regression on data drawn from a known w* */
    enum { M = 2000, D = 20 };
    static double X[M * D], s[M];
    double wstar[D], w[D] = {0};
    gg_rng rng;
    gg_rng_seed(&rng, 11);
    for (int j = 0; j < D; j++) wstar[j] = gg_rng_normal(&rng);
    for (int i = 0; i < M; i++) {
        double z = 0;
        for (int j = 0; j < D; j++) z += (X[i * D + j] = gg_rng_normal(&rng)) * wstar[j];
        s[i] = gg_rng_uniform(&rng) < 1 / (1 + exp(-z)) ? 1 : -1;
    }
    logreg p = {M, D, X, s, 1e-3, {NULL, 0, 0}};
    printf("logistic regression, %d points in %d dimensions: gradient check %.1e (relative)\n", M, D,
           grad_check(logreg_f, w, D, &p));
    for (int j = 0; j < D; j++) w[j] = 0;
    p.tr = (trace){"logreg", 0, 0};
    st = gg_lbfgs_minimize(w, D, logreg_f, &p, NULL, &r); /* the defaults */
    report("logreg", st, &r);
    double dot = 0, nw = 0, ns = 0;
    int right = 0;
    for (int j = 0; j < D; j++) dot += w[j] * wstar[j], nw += w[j] * w[j], ns += wstar[j] * wstar[j];
    for (int i = 0; i < M; i++) {
        double z = 0;
        for (int j = 0; j < D; j++) z += X[i * D + j] * w[j];
        right += (z > 0) == (s[i] > 0);
    }
    double cosine = dot / sqrt(nw * ns);
    printf("logreg: training accuracy %.4f, cosine(w, w*) = %.4f\n", (double)right / M, cosine);
    ok &= !st && r.converged && cosine > 0.95;
    return ok ? 0 : 1;
}

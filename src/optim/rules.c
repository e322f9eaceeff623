/*
 * rules.c - the optimizers: for each, its checks, its state and its update
 * kernel, and gg_optim_rules, the table of them indexed by gg_optim_kind.
 * The step loop (optim.c) knows no optimizer by name: adding one is its
 * kernel and a row here, and its gg_optim_kind in gradguard/optim.h.
 *
 * The formulas are PyTorch's torch.optim ones, written element by element so
 * that each tensor is updated in one pass: read p, g and the state, write p
 * and the state, and add the squared change of p to a double accumulator
 * (the update norm costs no extra pass).
 *
 * Each tensor's state block is `slots` vectors of the tensor's numel:
 *   SGD          [momentum_buffer]                  (no state at all without momentum)
 *   Adam(W)      [exp_avg][exp_avg_sq]
 *   StableAdamW  [exp_avg][exp_avg_sq]
 *   RMSprop      [square_avg][grad_avg if centered][momentum_buffer if momentum > 0]
 *   Adagrad      [sum]
 *   L-BFGS       [d][prev_grad][s_0 .. s_m-1][y_0 .. y_m-1]   (lbfgs_step.c)
 */
#include "optim.h"

#include <math.h>
#include <stddef.h>

/* ---- kernels: one pass per tensor, returning the squared update norm -------- */

/* PyTorch's lerp: a + w (b - a), computed from the nearer end. */
static inline float lerpf(float a, float b, float w) { return w < 0.5f ? a + w * (b - a) : b - (b - a) * (1 - w); }

/* p, g, buf: (n). g' = g + wd p; buf = g' on the tensor's first step, else
 * momentum buf + (1 - dampening) g'; p -= lr (nesterov ? g' + momentum buf : buf).
 * buf NULL: plain SGD, p -= lr g'. */
static inline double k_sgd_block(float *restrict p, const float *restrict g, float *restrict buf, long b, long e,
                                  float lr, float wd, float mom, float damp, int nesterov, int first)
{
    double acc = 0;
    const float keep = 1 - damp;
#pragma omp simd reduction(+ : acc)
    for (long k = b; k < e; k++) {
        float p0 = p[k];
        float gk = wd != 0 ? g[k] + wd * p0 : g[k];
        float u = gk;
        if (buf) {
            float bk = first ? gk : buf[k] * mom + keep * gk;
            buf[k] = bk;
            u = nesterov ? gk + mom * bk : bk;
        }
        float p1 = p0 - lr * u;
        float d = p1 - p0;
        acc += (double)d * d;
        p[k] = p1;
    }
    return acc;
}

static double k_sgd(float *restrict p, const float *restrict g, float *restrict buf, long n, float lr, float wd,
                    float mom, float damp, int nesterov, int first)
{
    double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (n >= GG_PAR_MIN)
    for (long b = 0; b < n; b += GG_BLOCK)
        acc += k_sgd_block(p, g, buf, b, b + GG_BLOCK < n ? b + GG_BLOCK : n, lr, wd, mom, damp, nesterov, first);
    return acc;
}

/* p, g, m, v: (n). Adam: g' = g + wd p (coupled L2); AdamW: p *= decay first.
 * m = lerp(m, g', 1 - b1); v = b2 v + (1 - b2) g'^2;
 * p -= step_size m / (sqrt(v) / bc2_sqrt + eps), step_size = lr / (1 - b1^t). */
/* One simd loop over [b, e). `general` is a constant at each call, so the
 * loop is compiled twice: the common case (no coupled L2 term, lerp from
 * the near end: Adam's usual beta1 = 0.9 gives w = 0.1) without the
 * choices, which gcc otherwise kept per element in a scalar loop version,
 * and the general case with them. `norm` (also a constant) chooses what
 * the loop returns: the squared norm of the update in double, or, at the
 * steps no one asked for the norms, only a float sum of d - d (0, or NaN
 * when some d is not finite); widening every d to double and squaring it
 * was a quarter of the update's time. */
static inline __attribute__((always_inline)) double
k_adam_loop(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, long b, long e,
            float step_size, float bc2_sqrt, float b1, float b2, float eps, float wd, float decay, const int general,
            const int norm)
{
    double acc = 0;
    float z = 0;
    const float w1 = 1 - b1, w2 = 1 - b2;
#pragma omp simd reduction(+ : acc, z)
    for (long k = b; k < e; k++) {
        float p0 = p[k];
        float gk = general && wd != 0 ? g[k] + wd * p0 : g[k];
        float mk = general ? lerpf(m[k], gk, w1) : m[k] + w1 * (gk - m[k]);
        float vk = v[k] * b2 + w2 * gk * gk;
        m[k] = mk;
        v[k] = vk;
        float p1 = p0 * decay - step_size * mk / (sqrtf(vk) / bc2_sqrt + eps);
        float d = p1 - p0;
        if (norm)
            acc += (double)d * d;
        else
            z += d - d;
        p[k] = p1;
    }
    return norm ? acc : (double)z;
}

static inline double k_adam_block(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                                  long b, long e, float step_size, float bc2_sqrt, float b1, float b2, float eps,
                                  float wd, float decay, int norm)
{
    if (1 - b1 < 0.5f && wd == 0) {
        if (norm) return k_adam_loop(p, g, m, v, b, e, step_size, bc2_sqrt, b1, b2, eps, 0, decay, 0, 1);
        return k_adam_loop(p, g, m, v, b, e, step_size, bc2_sqrt, b1, b2, eps, 0, decay, 0, 0);
    }
    if (norm) return k_adam_loop(p, g, m, v, b, e, step_size, bc2_sqrt, b1, b2, eps, wd, decay, 1, 1);
    return k_adam_loop(p, g, m, v, b, e, step_size, bc2_sqrt, b1, b2, eps, wd, decay, 1, 0);
}

/* The squared norm of the update (norm 0: 0, or NaN if it is not finite). */
static double k_adam(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, long n,
                     float step_size, float bc2_sqrt, float b1, float b2, float eps, float wd, float decay, int norm)
{
    double acc = 0;
    /* blocks across threads, one simd loop per block (see GG_BLOCK) */
#pragma omp parallel for reduction(+ : acc) schedule(static) if (n >= GG_PAR_MIN)
    for (long b = 0; b < n; b += GG_BLOCK)
        acc += k_adam_block(p, g, m, v, b, b + GG_BLOCK < n ? b + GG_BLOCK : n, step_size, bc2_sqrt, b1, b2, eps, wd,
                          decay, norm);
    return acc;
}

/* p, g, sa, ga, buf: (n); ga NULL unless centered, buf NULL without momentum.
 * sa = alpha sa + (1 - alpha) g'^2; centered: ga = lerp(ga, g', 1 - alpha),
 * avg = sqrt(sa - ga^2) + eps, else sqrt(sa) + eps;
 * momentum: buf = momentum buf + g' / avg, p -= lr buf; else p -= lr g' / avg. */
static inline double k_rmsprop_block(float *restrict p, const float *restrict g, float *restrict sa,
                                      float *restrict ga, float *restrict buf, long b, long e, float lr, float alpha, float eps, float mom, float wd)
{
    double acc = 0;
    const float w = 1 - alpha;
#pragma omp simd reduction(+ : acc)
    for (long k = b; k < e; k++) {
        float p0 = p[k];
        float gk = wd != 0 ? g[k] + wd * p0 : g[k];
        float s = sa[k] * alpha + w * gk * gk;
        sa[k] = s;
        float var = s;
        if (ga) {
            float a = lerpf(ga[k], gk, w);
            ga[k] = a;
            var = s - a * a;
            /* mathematically >= 0; rounding must not turn it into a NaN */
            var = var > 0 ? var : 0;
        }
        float avg = sqrtf(var) + eps;
        float u;
        if (buf) {
            u = buf[k] * mom + gk / avg;
            buf[k] = u;
        } else {
            u = gk / avg;
        }
        float p1 = p0 - lr * u;
        float d = p1 - p0;
        acc += (double)d * d;
        p[k] = p1;
    }
    return acc;
}

static double k_rmsprop(float *restrict p, const float *restrict g, float *restrict sa, float *restrict ga,
                        float *restrict buf, long n, float lr, float alpha, float eps, float mom, float wd)
{
    double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (n >= GG_PAR_MIN)
    for (long b = 0; b < n; b += GG_BLOCK)
        acc += k_rmsprop_block(p, g, sa, ga, buf, b, b + GG_BLOCK < n ? b + GG_BLOCK : n, lr, alpha, eps, mom, wd);
    return acc;
}

/* p, g, sum: (n). sum += g'^2; p -= clr g' / (sqrt(sum) + eps). */
static inline double k_adagrad_block(float *restrict p, const float *restrict g, float *restrict sum, long b, long e,
                                      float clr, float eps, float wd)
{
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (long k = b; k < e; k++) {
        float p0 = p[k];
        float gk = wd != 0 ? g[k] + wd * p0 : g[k];
        float s = sum[k] + gk * gk;
        sum[k] = s;
        float p1 = p0 - clr * gk / (sqrtf(s) + eps);
        float d = p1 - p0;
        acc += (double)d * d;
        p[k] = p1;
    }
    return acc;
}

static double k_adagrad(float *restrict p, const float *restrict g, float *restrict sum, long n, float clr, float eps,
                        float wd)
{
    double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (n >= GG_PAR_MIN)
    for (long b = 0; b < n; b += GG_BLOCK)
        acc += k_adagrad_block(p, g, sum, b, b + GG_BLOCK < n ? b + GG_BLOCK : n, clr, eps, wd);
    return acc;
}


/* ---- the rules: checks, state slots, one tensor's update -------------------- */

static gg_status check_eps(const gg_optim_config *c)
{
    if (!(c->eps > 0) || !isfinite(c->eps)) return gg_optim_bad_field(c, "eps", c->eps, "must be > 0");
    return GG_OK;
}

static gg_status sgd_check(const gg_optim_config *c)
{
    GG_TRY(gg_optim_check_range(c, "momentum", c->momentum, 0, 1, 1, "is outside [0, 1)"));
    GG_TRY(gg_optim_check_range(c, "dampening", c->dampening, 0, 1, 0, "is outside [0, 1]"));
    if (c->nesterov != 0 && c->nesterov != 1) return gg_optim_bad_field(c, "nesterov", c->nesterov, "must be 0 or 1");
    if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
        return gg_fail(GG_E_ARG, "optimizer sgd: nesterov needs momentum > 0 and dampening = 0 (momentum = %g, "
                                 "dampening = %g)", (double)c->momentum, (double)c->dampening);
    return GG_OK;
}

static int sgd_slots(const gg_optim_config *c) { return c->momentum != 0; }

static double sgd_update(const gg_optim_config *c, const gg_optim_update *u)
{
    return k_sgd(u->p, u->g, u->s, u->n, u->lr, u->wd, c->momentum, c->dampening, c->nesterov, u->step == 1);
}

static gg_status adam_check(const gg_optim_config *c)
{
    GG_TRY(gg_optim_check_range(c, "beta1", c->beta1, 0, 1, 1, "is outside [0, 1)"));
    GG_TRY(gg_optim_check_range(c, "beta2", c->beta2, 0, 1, 1, "is outside [0, 1)"));
    return check_eps(c);
}

static int two_slots(const gg_optim_config *c)
{
    (void)c;
    return 2;
}

/* Adam (decoupled 0: weight decay as an L2 term of g) and AdamW (1: p *= 1 - lr wd first). */
static double adam_update(const gg_optim_config *c, const gg_optim_update *u, int decoupled)
{
    double bc1 = 1 - pow((double)c->beta1, u->step), bc2 = 1 - pow((double)c->beta2, u->step);
    float step_size = (float)(u->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float decay = decoupled ? (float)(1.0 - (double)u->lr * u->wd) : 1.0f;
    return k_adam(u->p, u->g, u->s, u->s + u->n, u->n, step_size, bc2_sqrt, c->beta1, c->beta2, c->eps,
                  decoupled ? 0 : u->wd, decay, u->measure);
}

static double adam_coupled(const gg_optim_config *c, const gg_optim_update *u) { return adam_update(c, u, 0); }
static double adamw_update(const gg_optim_config *c, const gg_optim_update *u) { return adam_update(c, u, 1); }

static gg_status rmsprop_check(const gg_optim_config *c)
{
    GG_TRY(gg_optim_check_range(c, "alpha", c->alpha, 0, 1, 1, "is outside [0, 1)"));
    GG_TRY(gg_optim_check_range(c, "momentum", c->momentum, 0, 1, 1, "is outside [0, 1)"));
    GG_TRY(check_eps(c));
    if (c->centered != 0 && c->centered != 1) return gg_optim_bad_field(c, "centered", c->centered, "must be 0 or 1");
    return GG_OK;
}

static int rmsprop_slots(const gg_optim_config *c) { return 1 + (c->centered != 0) + (c->momentum > 0); }

static double rmsprop_update(const gg_optim_config *c, const gg_optim_update *u)
{
    float *ga = c->centered ? u->s + u->n : NULL;
    float *buf = c->momentum > 0 ? u->s + (size_t)(1 + (c->centered != 0)) * (size_t)u->n : NULL;
    return k_rmsprop(u->p, u->g, u->s, ga, buf, u->n, u->lr, c->alpha, c->eps, c->momentum, u->wd);
}

static gg_status adagrad_check(const gg_optim_config *c)
{
    GG_TRY(gg_optim_check_range(c, "lr_decay", c->lr_decay, 0, INFINITY, 0, "must be a finite number >= 0"));
    GG_TRY(gg_optim_check_range(c, "initial_accumulator", c->initial_accumulator, 0, INFINITY, 0,
                               "must be a finite number >= 0"));
    return check_eps(c);
}

static int one_slot(const gg_optim_config *c)
{
    (void)c;
    return 1;
}

static float adagrad_initial(const gg_optim_config *c) { return c->initial_accumulator; }

static double adagrad_update(const gg_optim_config *c, const gg_optim_update *u)
{
    float clr = (float)(u->lr / (1 + (u->step - 1) * c->lr_decay));
    return k_adagrad(u->p, u->g, u->s, u->n, clr, c->eps, u->wd);
}

/* StableAdamW (Wortsman et al., "Stable and low-precision training for
 * large-scale vision-language models", 2023): AdamW whose rate is divided,
 * per tensor and step, by max(1, RMS(g^2 / max(v^, eps^2))), v^ = v / (1 - b2^t)
 * the updated second moment. Where a gradient jumps above what v has seen,
 * the tensor's step shrinks instead of m / sqrt(v) running ahead of it.
 * Two passes: the moments (as k_adam) with the ratio's sum, then p. */

/* g, m, v: (n); returns the sum of g^2 / max(v^, eps2) over [b, e). */
static inline double k_stable_moments_block(const float *restrict g, float *restrict m, float *restrict v, long b,
                                            long e, float b1, float b2, double bc2, double eps2)
{
    double acc = 0;
    const float w1 = 1 - b1, w2 = 1 - b2;
#pragma omp simd reduction(+ : acc)
    for (long k = b; k < e; k++) {
        float gk = g[k];
        float vk = v[k] * b2 + w2 * gk * gk;
        m[k] = lerpf(m[k], gk, w1);
        v[k] = vk;
        double vh = (double)vk / bc2;
        acc += (double)gk * gk / (vh > eps2 ? vh : eps2);
    }
    return acc;
}

/* p, m, v: (n); p = p decay - step_size m / (sqrt(v) / bc2_sqrt + eps), as k_adam_loop. */
static inline __attribute__((always_inline)) double
k_stable_apply_loop(float *restrict p, const float *restrict m, const float *restrict v, long b, long e,
                    float step_size, float bc2_sqrt, float eps, float decay, const int norm)
{
    double acc = 0;
    float z = 0;
#pragma omp simd reduction(+ : acc, z)
    for (long k = b; k < e; k++) {
        float p0 = p[k];
        float p1 = p0 * decay - step_size * m[k] / (sqrtf(v[k]) / bc2_sqrt + eps);
        float d = p1 - p0;
        if (norm)
            acc += (double)d * d;
        else
            z += d - d;
        p[k] = p1;
    }
    return norm ? acc : (double)z;
}

static double stableadamw_update(const gg_optim_config *c, const gg_optim_update *u)
{
    const long n = u->n;
    float *p = u->p, *m = u->s, *v = u->s + n;
    const float *g = u->g;
    double bc1 = 1 - pow((double)c->beta1, u->step), bc2 = 1 - pow((double)c->beta2, u->step);
    double eps2 = (double)c->eps * c->eps, ratio = 0;
#pragma omp parallel for reduction(+ : ratio) schedule(static) if (n >= GG_PAR_MIN)
    for (long b = 0; b < n; b += GG_BLOCK)
        ratio += k_stable_moments_block(g, m, v, b, b + GG_BLOCK < n ? b + GG_BLOCK : n, c->beta1, c->beta2, bc2,
                                        eps2);
    double rms = sqrt(ratio / (double)(n > 0 ? n : 1));
    double lr = u->lr / fmax(1.0, rms);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2), decay = (float)(1.0 - lr * u->wd);
    double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (n >= GG_PAR_MIN)
    for (long b = 0; b < n; b += GG_BLOCK) {
        long e = b + GG_BLOCK < n ? b + GG_BLOCK : n;
        acc += u->measure ? k_stable_apply_loop(p, m, v, b, e, step_size, bc2_sqrt, c->eps, decay, 1)
                          : k_stable_apply_loop(p, m, v, b, e, step_size, bc2_sqrt, c->eps, decay, 0);
    }
    return acc;
}

/* ---- the table ----------------------------------------------------------------- */

/* Defaults are PyTorch's but for SGD's lr (PyTorch: 1e-3) and L-BFGS's
 * history (gg_optim_defaults: 10; PyTorch: 100). */
const gg_optim_rule gg_optim_rules[] = {
    [GG_OPT_SGD] = {.name = "sgd", .lr = 1e-2f, .check = sgd_check, .slots = sgd_slots, .update = sgd_update},
    [GG_OPT_ADAM] = {.name = "adam", .lr = 1e-3f, .check = adam_check, .slots = two_slots, .update = adam_coupled,
                     .lazy_norms = 1},
    [GG_OPT_ADAMW] = {.name = "adamw", .lr = 1e-3f, .weight_decay = 1e-2f, .check = adam_check, .slots = two_slots,
                      .update = adamw_update, .lazy_norms = 1},
    [GG_OPT_RMSPROP] = {.name = "rmsprop", .lr = 1e-2f, .check = rmsprop_check, .slots = rmsprop_slots,
                        .update = rmsprop_update},
    [GG_OPT_ADAGRAD] = {.name = "adagrad", .lr = 1e-2f, .eps = 1e-10f, .check = adagrad_check, .slots = one_slot,
                        .initial = adagrad_initial, .update = adagrad_update},
    [GG_OPT_LBFGS] = {.name = "lbfgs", .lr = 1, .check = gg_lbfgs_check, .slots = gg_lbfgs_slots,
                      .setup = gg_lbfgs_setup, .step_all = gg_lbfgs_step, .check_group = gg_lbfgs_check_group},
    [GG_OPT_STABLEADAMW] = {.name = "stableadamw", .lr = 1e-3f, .weight_decay = 1e-2f, .check = adam_check,
                            .slots = two_slots, .update = stableadamw_update, .lazy_norms = 1},
};
/* A kind without a row is a compile error here (the last one) or a NULL
 * name, which tests/test_optim.c's test_names catches (the others). */
_Static_assert(sizeof gg_optim_rules / sizeof gg_optim_rules[0] == GG_OPT_COUNT,
               "gg_optim_rules needs one row per gg_optim_kind");

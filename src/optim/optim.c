/*
 * optim.c - SGD, Adam, AdamW, RMSprop, Adagrad and L-BFGS (one iteration per
 * step) over the graph's parameter and gradient arenas, with parameter
 * groups, L1/L2 penalties and per-tensor update norms.
 *
 * The formulas are PyTorch's torch.optim ones, written element by element so
 * that each tensor is updated in one pass: read p, g and the state, write p
 * and the state, and add the squared change of p to a double accumulator
 * (the update norm costs no extra pass).
 *
 * State arena layout (floats), one block per parameter tensor in parameter
 * order, each block `slots` vectors of that tensor's numel:
 *   SGD       [momentum_buffer]                  (no state at all without momentum)
 *   Adam(W)   [exp_avg][exp_avg_sq]
 *   RMSprop   [square_avg][grad_avg if centered][momentum_buffer if momentum > 0]
 *   Adagrad   [sum]
 *   L-BFGS    [d][prev_grad][s_0 .. s_m-1][y_0 .. y_m-1]
 * followed by a tail:
 *   all but L-BFGS: one step count per tensor (PyTorch's per-parameter
 *                   state['step']), so resetting one tensor restarts its bias
 *                   correction and its first-step rule too;
 *   L-BFGS:         rho[m], then t, H_diag, num_old, head, started.
 * Counts are floats so the whole state stays one float arena (one memcpy for
 * a snapshot, one tensor in a checkpoint); they saturate at 2^24, where every
 * bias correction with beta <= 1 - 1e-6 is 1 to float precision.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"
#include "io/schema.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT_MAX 16777216.0f /* 2^24, the largest integer run a float counts exactly */
#define GROUPS_MAX 1024
/* PyTorch's LBFGS tolerance_grad and tolerance_change defaults */
#define LBFGS_TOL_GRAD 1e-7
#define LBFGS_TOL_CHANGE 1e-9
#define LBFGS_DEFAULT_M 10
#define LBFGS_M_MAX 1000
enum { LB_T, LB_H, LB_NUM, LB_HEAD, LB_STARTED, LB_SCALARS };

typedef struct ptensor {
    const char *name; /* owned by the graph */
    size_t off;       /* into the parameter and gradient arenas */
    size_t n;
    size_t soff;      /* into the state arena */
    int no_decay;
    float lr_scale, wd, l1, l2; /* resolved from the defaults and the groups */
} ptensor;

typedef struct pgroup {
    char pattern[2 * GG_NAME_MAX];
    float lr_scale, wd, l1, l2;
} pgroup;

struct gg_optim {
    gg_graph *g;
    gg_optim_config c;
    int nt;
    ptensor *t;
    int slots;        /* state vectors per tensor */
    float *state;
    size_t nstate;
    size_t tail;      /* start of the counts (or of the L-BFGS scalars) */
    double *unorm;    /* update norm per tensor, last step it was measured */
    int norms_every_step; /* 0: Adam(W) measures them only when asked (gg_optim_want_update_norms) */
    int norms_wanted;
    int bad_update;   /* first tensor whose last update was not finite, -1 none */
    double *al;       /* L-BFGS two-loop coefficients, m of them */
    uint64_t steps;
    float l1, l2;     /* default penalties of decayed tensors */
    pgroup *groups;
    int ngroups;
};

/* ---- names and defaults ------------------------------------------------- */

static const char *const optim_names[GG_OPT_COUNT] = {"sgd", "adam", "adamw", "rmsprop", "adagrad", "lbfgs"};

const char *gg_optim_name(gg_optim_kind kind)
{
    return (int)kind >= 0 && kind < GG_OPT_COUNT ? optim_names[kind] : NULL;
}

gg_optim_kind gg_optim_parse(const char *name)
{
    for (int k = 0; name && k < GG_OPT_COUNT; k++)
        if (strcmp(name, optim_names[k]) == 0) return (gg_optim_kind)k;
    return GG_OPT_COUNT;
}

gg_optim_config gg_optim_defaults(gg_optim_kind kind)
{
    gg_optim_config c;
    memset(&c, 0, sizeof c);
    gg_schema_defaults(gg_optim_keys, &c); /* keys.c: Adam's, and what every kind shares */
    c.kind = kind;
    switch (kind) {
    case GG_OPT_SGD: c.lr = 1e-2f; break;
    case GG_OPT_ADAM: c.lr = 1e-3f; break;
    case GG_OPT_ADAMW: c.lr = 1e-3f; c.weight_decay = 1e-2f; break;
    case GG_OPT_RMSPROP: c.lr = 1e-2f; break;
    case GG_OPT_ADAGRAD: c.lr = 1e-2f; c.eps = 1e-10f; break;
    case GG_OPT_LBFGS: c.lr = 1; break;
    default: break;
    }
    return c;
}

/* ---- validation ----------------------------------------------------------- */

static gg_status bad_field(const gg_optim_config *c, const char *field, double v, const char *want)
{
    return gg_fail(GG_E_ARG, "optimizer %s: %s = %g %s", optim_names[c->kind], field, v, want);
}

/* lo <= v (< or <=) hi, finite */
static gg_status check_range(const gg_optim_config *c, const char *field, float v, double lo, double hi, int hi_open,
                             const char *want)
{
    if (!isfinite(v) || v < lo || v > hi || (hi_open && v >= hi)) return bad_field(c, field, v, want);
    return GG_OK;
}

#define CHECK(call)                                                                                                    \
    do {                                                                                                               \
        gg_status s_ = (call);                                                                                         \
        if (s_) return s_;                                                                                             \
    } while (0)

static gg_status check_config(const gg_optim_config *c)
{
    if ((int)c->kind < 0 || c->kind >= GG_OPT_COUNT)
        return gg_fail(GG_E_ARG, "optimizer: kind %d is not one of sgd, adam, adamw, rmsprop, adagrad, lbfgs",
                       (int)c->kind);
    CHECK(check_range(c, "lr", c->lr, 0, INFINITY, 0, "must be a finite number >= 0"));
    CHECK(check_range(c, "weight_decay", c->weight_decay, 0, INFINITY, 0, "must be a finite number >= 0"));
    switch (c->kind) {
    case GG_OPT_SGD:
        CHECK(check_range(c, "momentum", c->momentum, 0, 1, 1, "is outside [0, 1)"));
        CHECK(check_range(c, "dampening", c->dampening, 0, 1, 0, "is outside [0, 1]"));
        if (c->nesterov != 0 && c->nesterov != 1) return bad_field(c, "nesterov", c->nesterov, "must be 0 or 1");
        if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
            return gg_fail(GG_E_ARG, "optimizer sgd: nesterov needs momentum > 0 and dampening = 0 (momentum = %g, "
                                     "dampening = %g)", (double)c->momentum, (double)c->dampening);
        break;
    case GG_OPT_ADAM:
    case GG_OPT_ADAMW:
        CHECK(check_range(c, "beta1", c->beta1, 0, 1, 1, "is outside [0, 1)"));
        CHECK(check_range(c, "beta2", c->beta2, 0, 1, 1, "is outside [0, 1)"));
        if (!(c->eps > 0) || !isfinite(c->eps)) return bad_field(c, "eps", c->eps, "must be > 0");
        break;
    case GG_OPT_RMSPROP:
        CHECK(check_range(c, "alpha", c->alpha, 0, 1, 1, "is outside [0, 1)"));
        CHECK(check_range(c, "momentum", c->momentum, 0, 1, 1, "is outside [0, 1)"));
        if (!(c->eps > 0) || !isfinite(c->eps)) return bad_field(c, "eps", c->eps, "must be > 0");
        if (c->centered != 0 && c->centered != 1) return bad_field(c, "centered", c->centered, "must be 0 or 1");
        break;
    case GG_OPT_ADAGRAD:
        CHECK(check_range(c, "lr_decay", c->lr_decay, 0, INFINITY, 0, "must be a finite number >= 0"));
        CHECK(check_range(c, "initial_accumulator", c->initial_accumulator, 0, INFINITY, 0,
                          "must be a finite number >= 0"));
        if (!(c->eps > 0) || !isfinite(c->eps)) return bad_field(c, "eps", c->eps, "must be > 0");
        break;
    case GG_OPT_LBFGS:
        if (c->lbfgs_history < 0 || c->lbfgs_history > LBFGS_M_MAX)
            return bad_field(c, "lbfgs_history", c->lbfgs_history, "is outside 1..1000 (0 means 10)");
        if (c->weight_decay != 0)
            return bad_field(c, "weight_decay", c->weight_decay,
                             "is not supported by L-BFGS (as in PyTorch); use an L2 penalty (gg_optim_set_penalty)");
        break;
    default: break;
    }
    return GG_OK;
}

/* ---- set-up ----------------------------------------------------------------- */

static int kind_slots(const gg_optim_config *c)
{
    switch (c->kind) {
    case GG_OPT_SGD: return c->momentum != 0;
    case GG_OPT_ADAM:
    case GG_OPT_ADAMW: return 2;
    case GG_OPT_RMSPROP: return 1 + (c->centered != 0) + (c->momentum > 0);
    case GG_OPT_ADAGRAD: return 1;
    case GG_OPT_LBFGS: return 2 + 2 * c->lbfgs_history;
    default: return 0;
    }
}

/* A pattern names a parameter "explicitly" when its last dot-separated part
 * has no wildcard: "*.bias" and "bn1.weight" do, "fc1.*" and "*" do not. */
static int names_leaf(const char *pattern)
{
    const char *dot = strrchr(pattern, '.');
    const char *leaf = dot ? dot + 1 : pattern;
    return strpbrk(leaf, "*?[") == NULL;
}

/* Per-tensor settings from scratch: defaults, then each group in order. */
static void resolve(gg_optim *o)
{
    for (int i = 0; i < o->nt; i++) {
        ptensor *t = &o->t[i];
        int decay = !t->no_decay;
        t->lr_scale = 1;
        t->wd = decay ? o->c.weight_decay : 0;
        t->l1 = decay ? o->l1 : 0;
        t->l2 = decay ? o->l2 : 0;
        for (int k = 0; k < o->ngroups; k++) {
            const pgroup *gr = &o->groups[k];
            if (fnmatch(gr->pattern, t->name, 0) != 0) continue;
            t->lr_scale = gr->lr_scale;
            if (decay || names_leaf(gr->pattern)) {
                t->wd = gr->wd;
                t->l1 = gr->l1;
                t->l2 = gr->l2;
            }
        }
    }
}

static void init_tensor_state(gg_optim *o, int i)
{
    ptensor *t = &o->t[i];
    float *s = o->state + t->soff;
    size_t len = (size_t)o->slots * t->n;
    if (o->c.kind == GG_OPT_ADAGRAD) {
        for (size_t k = 0; k < len; k++) s[k] = o->c.initial_accumulator;
    } else {
        memset(s, 0, len * sizeof *s);
    }
    if (o->c.kind != GG_OPT_LBFGS && o->nstate) o->state[o->tail + (size_t)i] = 0;
}

gg_optim *gg_optim_new(gg_graph *g, const gg_optim_config *cfg)
{
    if (!g || !cfg) {
        gg_fail(GG_E_ARG, "gg_optim_new: %s is NULL", g ? "the config" : "the graph");
        return NULL;
    }
    if (!g->compiled) {
        gg_fail(GG_E_STATE, "gg_optim_new: the graph is not compiled (call gg_graph_compile first)");
        return NULL;
    }
    if (check_config(cfg)) return NULL;
    gg_optim *o = calloc(1, sizeof *o);
    if (!o) goto nomem;
    o->g = g;
    o->c = *cfg;
    if (o->c.kind == GG_OPT_LBFGS && o->c.lbfgs_history == 0) o->c.lbfgs_history = LBFGS_DEFAULT_M;
    o->slots = kind_slots(&o->c);
    o->nt = gg_graph_num_params(g);
    o->t = calloc((size_t)(o->nt ? o->nt : 1), sizeof *o->t);
    o->unorm = calloc((size_t)(o->nt ? o->nt : 1), sizeof *o->unorm);
    if (!o->t || !o->unorm) goto nomem;
    o->norms_every_step = 1;
    o->bad_update = -1;
    size_t soff = 0;
    for (int i = 0; i < o->nt; i++) {
        gg_param_info pi;
        if (gg_graph_param(g, i, &pi)) {
            gg_optim_free(o);
            return NULL;
        }
        ptensor *t = &o->t[i];
        t->name = pi.name;
        t->off = pi.offset;
        t->n = pi.numel;
        t->soff = soff;
        t->no_decay = pi.no_decay;
        soff += (size_t)o->slots * pi.numel;
    }
    o->tail = soff;
    if (o->c.kind == GG_OPT_LBFGS) {
        int m = o->c.lbfgs_history;
        o->nstate = soff + (size_t)m + LB_SCALARS;
        o->al = calloc((size_t)m, sizeof *o->al);
        if (!o->al) goto nomem;
    } else {
        o->nstate = o->slots ? soff + (size_t)o->nt : 0;
    }
    if (o->nstate) {
        o->state = malloc(o->nstate * sizeof *o->state);
        if (!o->state) goto nomem;
        gg_optim_reset(o, -1);
    }
    resolve(o);
    return o;
nomem:
    gg_optim_free(o);
    gg_fail(GG_E_NOMEM, "gg_optim_new: out of memory for the optimizer state");
    return NULL;
}

void gg_optim_free(gg_optim *o)
{
    if (!o) return;
    free(o->t);
    free(o->unorm);
    free(o->al);
    free(o->state);
    free(o->groups);
    free(o);
}

const gg_optim_config *gg_optim_get_config(const gg_optim *o) { return o ? &o->c : NULL; }
const double *gg_optim_update_norms(const gg_optim *o) { return o ? o->unorm : NULL; }
void gg_optim_set_update_norms(gg_optim *o, int every_step) { if (o) o->norms_every_step = every_step != 0; }
void gg_optim_want_update_norms(gg_optim *o) { if (o) o->norms_wanted = 1; }
int gg_optim_bad_update(const gg_optim *o) { return o ? o->bad_update : -1; }
uint64_t gg_optim_steps(const gg_optim *o) { return o ? o->steps : 0; }
void gg_optim_set_steps(gg_optim *o, uint64_t t)
{
    if (o) o->steps = t;
}

float *gg_optim_state(gg_optim *o, size_t *n)
{
    if (n) *n = o ? o->nstate : 0;
    return o ? o->state : NULL;
}

gg_status gg_optim_state_view(const gg_optim *o, int i, size_t *offset, size_t *n)
{
    if (!o) return gg_fail(GG_E_ARG, "gg_optim_state_view: the optimizer is NULL");
    if (i < 0 || i >= o->nt)
        return gg_fail(GG_E_ARG, "gg_optim_state_view: tensor %d is outside 0..%d", i, o->nt - 1);
    if (offset) *offset = o->t[i].soff;
    if (n) *n = (size_t)o->slots * o->t[i].n;
    return GG_OK;
}

gg_status gg_optim_reset(gg_optim *o, int i)
{
    if (!o) return gg_fail(GG_E_ARG, "gg_optim_reset: the optimizer is NULL");
    if (i < -1 || i >= o->nt)
        return gg_fail(GG_E_ARG, "gg_optim_reset: tensor %d is outside -1..%d", i, o->nt - 1);
    if (!o->nstate) return GG_OK;
    if (o->c.kind == GG_OPT_LBFGS) {
        /* the history couples every tensor: forget all of it */
        memset(o->state, 0, o->nstate * sizeof *o->state);
        return GG_OK;
    }
    for (int k = (i < 0 ? 0 : i); k < (i < 0 ? o->nt : i + 1); k++) init_tensor_state(o, k);
    return GG_OK;
}

/* ---- groups and penalties --------------------------------------------------- */

static gg_status check_coef(const char *what, const char *pattern, const char *field, float v)
{
    if (!isfinite(v) || v < 0)
        return gg_fail(GG_E_ARG, "%s '%s': %s = %g must be a finite number >= 0", what, pattern, field, (double)v);
    return GG_OK;
}

gg_status gg_optim_add_group(gg_optim *o, const char *pattern, float lr_scale, float weight_decay, float l1, float l2)
{
    if (!o) return gg_fail(GG_E_ARG, "gg_optim_add_group: the optimizer is NULL");
    if (!pattern || !*pattern) return gg_fail(GG_E_ARG, "optimizer group: empty parameter pattern");
    if (strlen(pattern) >= sizeof o->groups[0].pattern)
        return gg_fail(GG_E_ARG, "optimizer group '%.40s...': pattern longer than %zu characters", pattern,
                       sizeof o->groups[0].pattern - 1);
    CHECK(check_coef("optimizer group", pattern, "lr_scale", lr_scale));
    CHECK(check_coef("optimizer group", pattern, "weight_decay", weight_decay));
    CHECK(check_coef("optimizer group", pattern, "l1", l1));
    CHECK(check_coef("optimizer group", pattern, "l2", l2));
    if (o->c.kind == GG_OPT_LBFGS && (lr_scale != 1 || weight_decay != 0))
        return gg_fail(GG_E_ARG, "optimizer group '%s': L-BFGS takes one step over all parameters, so lr_scale "
                                 "(%g) must be 1 and weight_decay (%g) 0; L1/L2 penalties are fine",
                       pattern, (double)lr_scale, (double)weight_decay);
    int hit = 0;
    for (int i = 0; i < o->nt && !hit; i++) hit = fnmatch(pattern, o->t[i].name, 0) == 0;
    if (!hit)
        return gg_fail(GG_E_ARG, "optimizer group '%s' matches no parameter (names look like '%s')", pattern,
                       o->nt ? o->t[0].name : "none: the graph has no parameters");
    if (o->ngroups >= GROUPS_MAX)
        return gg_fail(GG_E_ARG, "optimizer group '%s': more than %d groups", pattern, GROUPS_MAX);
    pgroup *gs = realloc(o->groups, (size_t)(o->ngroups + 1) * sizeof *gs);
    if (!gs) return gg_fail(GG_E_NOMEM, "optimizer group '%s': out of memory", pattern);
    o->groups = gs;
    pgroup *gr = &gs[o->ngroups++];
    snprintf(gr->pattern, sizeof gr->pattern, "%s", pattern);
    gr->lr_scale = lr_scale;
    gr->wd = weight_decay;
    gr->l1 = l1;
    gr->l2 = l2;
    resolve(o);
    return GG_OK;
}

gg_status gg_optim_set_penalty(gg_optim *o, float l1, float l2)
{
    if (!o) return gg_fail(GG_E_ARG, "gg_optim_set_penalty: the optimizer is NULL");
    CHECK(check_coef("penalty", "default", "l1", l1));
    CHECK(check_coef("penalty", "default", "l2", l2));
    o->l1 = l1;
    o->l2 = l2;
    resolve(o);
    return GG_OK;
}

double gg_optim_penalty(gg_optim *o)
{
    if (!o) return 0;
    float *P = gg_graph_params(o->g, NULL), *G = gg_graph_grads(o->g, NULL);
    double total = 0;
    for (int i = 0; i < o->nt; i++) {
        const ptensor *t = &o->t[i];
        if (t->l1 == 0 && t->l2 == 0) continue;
        /* p, g: (n); g += l1 sign(p) + l2 p; value l1 |p| + l2/2 p^2 */
        float *restrict g = G + t->off;
        const float *restrict p = P + t->off;
        const float l1 = t->l1, l2 = t->l2;
        const long n = (long)t->n;
        double acc = 0;
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (parallel: n >= GG_PAR_MIN)
        for (long k = 0; k < n; k++) {
            float pk = p[k];
            float sg = (float)((pk > 0) - (pk < 0));
            g[k] += l1 * sg + l2 * pk;
            acc += (double)l1 * fabs((double)pk) + 0.5 * (double)l2 * (double)pk * (double)pk;
        }
        total += acc;
    }
    return total;
}

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

/* ---- L-BFGS: one iteration of PyTorch's LBFGS (max_iter = 1, no line search) --- */

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

static void step_lbfgs(gg_optim *o, float lr, float *P, const float *G)
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
            o->al[q] = sq * rho[j];
            for (int i = 0; i < o->nt; i++) axpy(lbv(o, i, 0), (float)-o->al[q], lbv(o, i, 2 + m + j), (long)o->t[i].n);
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
                axpy(lbv(o, i, 0), (float)(o->al[q] - be), lbv(o, i, 2 + j), (long)o->t[i].n);
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

/* ---- the step ------------------------------------------------------------------- */

gg_status gg_optim_step(gg_optim *o, float lr)
{
    if (!o) return gg_fail(GG_E_ARG, "gg_optim_step: the optimizer is NULL");
    if (!isfinite(lr) || lr < 0)
        return gg_fail(GG_E_ARG, "gg_optim_step (%s): lr = %g must be a finite number >= 0", optim_names[o->c.kind],
                       (double)lr);
    float *P = gg_graph_params(o->g, NULL), *G = gg_graph_grads(o->g, NULL);
    const gg_optim_config *c = &o->c;
    if (c->kind == GG_OPT_LBFGS) {
        step_lbfgs(o, lr, P, G);
        o->norms_wanted = 0;
        o->bad_update = -1;
        for (int i = 0; i < o->nt && o->bad_update < 0; i++)
            if (!isfinite(o->unorm[i])) o->bad_update = i;
        o->steps++;
        return GG_OK;
    }
    float *counts = o->nstate ? o->state + o->tail : NULL;
    const int measure = o->norms_every_step || o->norms_wanted;
    o->norms_wanted = 0;
    o->bad_update = -1;
    for (int i = 0; i < o->nt; i++) {
        const ptensor *t = &o->t[i];
        float *p = P + t->off;
        const float *g = G + t->off;
        float *s = o->nstate ? o->state + t->soff : NULL;
        const long n = (long)t->n;
        const float lri = lr * t->lr_scale;
        /* the tensor's own step number, 1 on its first step (PyTorch's state['step']) */
        float cnt = counts ? counts[i] : 0;
        double step = (double)cnt + 1;
        if (counts) counts[i] = cnt < COUNT_MAX ? cnt + 1 : COUNT_MAX;
        double sq = 0;
        switch (c->kind) {
        case GG_OPT_SGD:
            sq = k_sgd(p, g, s, n, lri, t->wd, c->momentum, c->dampening, c->nesterov, step == 1);
            break;
        case GG_OPT_ADAM:
        case GG_OPT_ADAMW: {
            double bc1 = 1 - pow((double)c->beta1, step), bc2 = 1 - pow((double)c->beta2, step);
            float step_size = (float)(lri / bc1), bc2_sqrt = (float)sqrt(bc2);
            int decoupled = c->kind == GG_OPT_ADAMW;
            float decay = decoupled ? (float)(1.0 - (double)lri * t->wd) : 1.0f;
            sq = k_adam(p, g, s, s + n, n, step_size, bc2_sqrt, c->beta1, c->beta2, c->eps, decoupled ? 0 : t->wd,
                        decay, measure);
            if (!measure) {
                /* the norm keeps its last measured value */
                if (!isfinite(sq) && o->bad_update < 0) o->bad_update = i;
                continue;
            }
            break;
        }
        case GG_OPT_RMSPROP: {
            float *ga = c->centered ? s + n : NULL;
            float *buf = c->momentum > 0 ? s + (size_t)(1 + (c->centered != 0)) * t->n : NULL;
            sq = k_rmsprop(p, g, s, ga, buf, n, lri, c->alpha, c->eps, c->momentum, t->wd);
            break;
        }
        case GG_OPT_ADAGRAD: {
            float clr = (float)(lri / (1 + (step - 1) * c->lr_decay));
            sq = k_adagrad(p, g, s, n, clr, c->eps, t->wd);
            break;
        }
        default: return gg_fail(GG_E_INTERNAL, "gg_optim_step: kind %d", (int)c->kind);
        }
        o->unorm[i] = sqrt(sq);
        if (!isfinite(sq) && o->bad_update < 0) o->bad_update = i;
    }
    o->steps++;
    return GG_OK;
}

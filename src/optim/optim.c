/*
 * optim.c - the optimizer over the graph's parameter and gradient arenas:
 * the state arena, parameter groups, L1/L2 penalties, per-tensor update
 * norms and the step loop. The optimizers themselves are rows of
 * gg_optim_rules (rules.c): this file knows none of them by name.
 *
 * State arena layout (floats): one block per parameter tensor in parameter
 * order, each block `slots` vectors of that tensor's numel (what each
 * optimizer keeps there: rules.c), followed by a tail:
 *   per-tensor rules: one step count per tensor (PyTorch's per-parameter
 *                     state['step']), so resetting one tensor restarts its
 *                     bias correction and its first-step rule too;
 *   whole-model rules (L-BFGS): their own scalars (lbfgs_step.c).
 * Counts are floats so the whole state stays one float arena (one memcpy for
 * a snapshot, one tensor in a checkpoint); they saturate at 2^24, where every
 * bias correction with beta <= 1 - 1e-6 is 1 to float precision.
 */
#define _POSIX_C_SOURCE 200809L
#include "optim.h"

#include "core/node.h" /* the graph's compiled flag */
#include "io/schema.h" /* gg_optim_keys: the defaults every kind shares */

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT_MAX 16777216.0f /* 2^24, the largest integer run a float counts exactly */
#define GROUPS_MAX 1024

/* ---- names and defaults ------------------------------------------------- */

static int kind_ok(gg_optim_kind kind) { return (int)kind >= 0 && kind < GG_OPT_COUNT; }

const char *gg_optim_name(gg_optim_kind kind) { return kind_ok(kind) ? gg_optim_rules[kind].name : NULL; }

gg_optim_kind gg_optim_parse(const char *name)
{
    for (int k = 0; name && k < GG_OPT_COUNT; k++)
        if (strcmp(name, gg_optim_rules[k].name) == 0) return (gg_optim_kind)k;
    return GG_OPT_COUNT;
}

gg_optim_config gg_optim_defaults(gg_optim_kind kind)
{
    gg_optim_config c;
    memset(&c, 0, sizeof c);
    gg_schema_defaults(gg_optim_keys, &c); /* keys.c: what every kind shares; the rule sets its own below */
    c.kind = kind;
    if (kind_ok(kind)) {
        const gg_optim_rule *r = &gg_optim_rules[kind];
        c.lr = r->lr;
        c.weight_decay = r->weight_decay;
        if (r->eps != 0) c.eps = r->eps;
    }
    return c;
}

/* ---- validation ----------------------------------------------------------- */

gg_status gg_optim_bad_field(const gg_optim_config *c, const char *field, double v, const char *want)
{
    return gg_fail(GG_E_ARG, "optimizer %s: %s = %g %s", gg_optim_rules[c->kind].name, field, v, want);
}

gg_status gg_optim_check_range(const gg_optim_config *c, const char *field, float v, double lo, double hi,
                               int hi_open, const char *want)
{
    if (!isfinite(v) || v < lo || v > hi || (hi_open && v >= hi)) return gg_optim_bad_field(c, field, v, want);
    return GG_OK;
}

static gg_status check_config(const gg_optim_config *c)
{
    if (!kind_ok(c->kind)) {
        char names[256] = "";
        for (int k = 0; k < GG_OPT_COUNT; k++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "",
                     gg_optim_rules[k].name);
        return gg_fail(GG_E_ARG, "optimizer: kind %d is not one of %s", (int)c->kind, names);
    }
    GG_TRY(gg_optim_check_range(c, "lr", c->lr, 0, INFINITY, 0, "must be a finite number >= 0"));
    GG_TRY(gg_optim_check_range(c, "weight_decay", c->weight_decay, 0, INFINITY, 0, "must be a finite number >= 0"));
    const gg_optim_rule *r = &gg_optim_rules[c->kind];
    return r->check ? r->check(c) : GG_OK;
}

/* ---- set-up ----------------------------------------------------------------- */

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
        gg_optim_tensor *t = &o->t[i];
        int decay = !t->no_decay;
        t->lr_scale = 1;
        t->wd = decay ? o->c.weight_decay : 0;
        t->l1 = decay ? o->l1 : 0;
        t->l2 = decay ? o->l2 : 0;
        for (int k = 0; k < o->ngroups; k++) {
            const gg_optim_group *gr = &o->groups[k];
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
    gg_optim_tensor *t = &o->t[i];
    float *s = o->state + t->soff;
    size_t len = (size_t)o->slots * t->n;
    if (o->rule->initial) {
        const float v = o->rule->initial(&o->c);
        for (size_t k = 0; k < len; k++) s[k] = v;
    } else {
        memset(s, 0, len * sizeof *s);
    }
    o->state[o->tail + (size_t)i] = 0; /* its step count */
}

gg_optim *gg_optim_new(gg_graph *g, const gg_optim_config *cfg)
{
    if (!g || !cfg) {
        gg_fail(GG_E_ARG, "gg_optim_new: %s is NULL", g ? "the config" : "the graph");
        return NULL;
    }
    if (!gg_graph_compiled(g)) {
        gg_fail(GG_E_STATE, "gg_optim_new: the graph is not compiled (call gg_graph_compile first)");
        return NULL;
    }
    if (check_config(cfg)) return NULL;
    gg_optim *o = calloc(1, sizeof *o);
    if (!o) goto nomem;
    o->g = g;
    o->c = *cfg;
    o->rule = &gg_optim_rules[cfg->kind];
    o->slots = o->rule->slots ? o->rule->slots(&o->c) : 0;
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
        gg_optim_tensor *t = &o->t[i];
        t->name = pi.name;
        t->off = pi.offset;
        t->n = pi.numel;
        t->soff = soff;
        t->no_decay = pi.no_decay;
        t->run_scale = 1;
        soff += (size_t)o->slots * pi.numel;
    }
    o->tail = soff;
    if (o->rule->setup) {
        if (o->rule->setup(o)) goto nomem;
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
    free(o->scratch);
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
    if (o->rule->step_all) {
        /* the state couples every tensor: forget all of it */
        memset(o->state, 0, o->nstate * sizeof *o->state);
        return GG_OK;
    }
    for (int k = (i < 0 ? 0 : i); k < (i < 0 ? o->nt : i + 1); k++) init_tensor_state(o, k);
    return GG_OK;
}

gg_status gg_optim_set_tensor_lr(gg_optim *o, int i, float scale)
{
    if (!o) return gg_fail(GG_E_ARG, "gg_optim_set_tensor_lr: the optimizer is NULL");
    if (i < 0 || i >= o->nt)
        return gg_fail(GG_E_ARG, "gg_optim_set_tensor_lr: tensor %d is outside 0..%d", i, o->nt - 1);
    if (!(isfinite(scale) && scale >= 0))
        return gg_fail(GG_E_ARG, "gg_optim_set_tensor_lr: scale %g of '%s' must be a finite number >= 0", (double)scale,
                       o->t[i].name);
    if (o->rule->step_all && scale != 1)
        return gg_fail(GG_E_STATE, "gg_optim_set_tensor_lr: %s takes one step over all parameters: '%s' cannot have a "
                       "rate of its own", o->rule->name, o->t[i].name);
    o->t[i].run_scale = scale;
    return GG_OK;
}

float gg_optim_tensor_lr(const gg_optim *o, int i) { return o && i >= 0 && i < o->nt ? o->t[i].run_scale : 0; }

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
    GG_TRY(check_coef("optimizer group", pattern, "lr_scale", lr_scale));
    GG_TRY(check_coef("optimizer group", pattern, "weight_decay", weight_decay));
    GG_TRY(check_coef("optimizer group", pattern, "l1", l1));
    GG_TRY(check_coef("optimizer group", pattern, "l2", l2));
    if (o->rule->check_group) GG_TRY(o->rule->check_group(o, pattern, lr_scale, weight_decay));
    int hit = 0;
    for (int i = 0; i < o->nt && !hit; i++) hit = fnmatch(pattern, o->t[i].name, 0) == 0;
    if (!hit)
        return gg_fail(GG_E_ARG, "optimizer group '%s' matches no parameter (names look like '%s')", pattern,
                       o->nt ? o->t[0].name : "none: the graph has no parameters");
    if (o->ngroups >= GROUPS_MAX)
        return gg_fail(GG_E_ARG, "optimizer group '%s': more than %d groups", pattern, GROUPS_MAX);
    gg_optim_group *gs = realloc(o->groups, (size_t)(o->ngroups + 1) * sizeof *gs);
    if (!gs) return gg_fail(GG_E_NOMEM, "optimizer group '%s': out of memory", pattern);
    o->groups = gs;
    gg_optim_group *gr = &gs[o->ngroups++];
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
    GG_TRY(check_coef("penalty", "default", "l1", l1));
    GG_TRY(check_coef("penalty", "default", "l2", l2));
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
        const gg_optim_tensor *t = &o->t[i];
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

/* ---- the step ------------------------------------------------------------------- */

gg_status gg_optim_step(gg_optim *o, float lr)
{
    if (!o) return gg_fail(GG_E_ARG, "gg_optim_step: the optimizer is NULL");
    if (!isfinite(lr) || lr < 0)
        return gg_fail(GG_E_ARG, "gg_optim_step (%s): lr = %g must be a finite number >= 0", o->rule->name,
                       (double)lr);
    float *P = gg_graph_params(o->g, NULL), *G = gg_graph_grads(o->g, NULL);
    const gg_optim_rule *r = o->rule;
    if (r->step_all) {
        r->step_all(o, lr, P, G);
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
        const gg_optim_tensor *t = &o->t[i];
        /* the tensor's own step number, 1 on its first step (PyTorch's state['step']) */
        float cnt = counts ? counts[i] : 0;
        if (counts) counts[i] = cnt < COUNT_MAX ? cnt + 1 : COUNT_MAX;
        const gg_optim_update u = {
            .p = P + t->off,
            .g = G + t->off,
            .s = o->nstate ? o->state + t->soff : NULL,
            .n = (long)t->n,
            .lr = lr * t->lr_scale * t->run_scale,
            .wd = t->wd,
            .step = (double)cnt + 1,
            .measure = measure,
        };
        double sq = r->update(&o->c, &u);
        if (!measure && r->lazy_norms) {
            /* the norm keeps its last measured value */
            if (!isfinite(sq) && o->bad_update < 0) o->bad_update = i;
            continue;
        }
        o->unorm[i] = sqrt(sq);
        if (!isfinite(sq) && o->bad_update < 0) o->bad_update = i;
    }
    o->steps++;
    return GG_OK;
}

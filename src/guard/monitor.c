/*
 * monitor.c - the per-layer statistics the guard's quiet-failure detectors
 * read, measured on gradguard's own graph (see monitor.h).
 *
 * Layers are found once, in one pass over the graph in build order (= depth
 * order): a layer is a run of nodes with the same layer name that owns
 * parameters or an activation worth watching (ReLU: dead units; tanh and
 * sigmoid: saturation). A measurement costs one pass over those activations
 * (for the MLP, batch x 384 floats) and one over the weights (the
 * update/weight ratio); it allocates nothing.
 */
#include "monitor.h"

#include "core/error.h"
#include "core/node.h"
#include "core/ops/attr.h"
#include "core/reduce.h"
#include "detect.h"
#include "quiet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a unit is saturated when this share of the batch is beyond the threshold */
#define SAT_BATCH GG_QUIET_SAT_BATCH

enum { ACT_RELU, ACT_TANH, ACT_SIGMOID };

typedef struct qact {
    gg_node node;
    int kind, layer;
    long units, inner; /* per sample: units x inner values (x rows of the batch) */
    long off;          /* its units' slots in the tallies */
    long seen;         /* rows in its tally */
} qact;

struct gg_monitor {
    gg_guard_config c;
    gg_graph *g;
    const gg_param_info *pi; /* the caller's, which outlives the monitor */
    int np, nl, na;
    gg_guard_layer *L;
    int *lidx;          /* layer of each parameter tensor */
    int *has_params;    /* per layer */
    int *ndim;          /* per parameter tensor */
    double *lsq, *lw, *lu;
    qact *acts;
    /* the tallies, per watched unit: a small batch's steps are gathered
     * until GG_GUARD_ACT_SAMPLES rows are in (gg_monitor_observe) */
    unsigned char *alive; /* ReLU: non-zero somewhere */
    long *count;          /* tanh/sigmoid: values beyond the threshold */
};

static int act_kind(gg_act a)
{
    if (a == GG_ACT_RELU) return ACT_RELU;
    if (a == GG_ACT_TANH) return ACT_TANH;
    if (a == GG_ACT_SIGMOID) return ACT_SIGMOID;
    return -1;
}

/* The watched activation of op node t, or -1. */
static int watched(const gg_tensor *t)
{
    if (t->kind != GG_K_OP) return -1;
    if (t->op != GG_OP_LINEAR && t->op != GG_OP_CONV2D && t->op != GG_OP_ACT) return -1;
    return act_kind(gg_act_of(t));
}

gg_monitor *gg_monitor_new(gg_graph *g, const gg_guard_config *c, const gg_param_info *pi, int np)
{
    gg_monitor *q = calloc(1, sizeof *q);
    if (!q) goto oom;
    q->c = *c;
    q->g = g;
    q->pi = pi;
    q->np = np;
    int n = gg_graph_num_nodes(g);
    /* upper bounds: every node its own layer */
    q->L = calloc((size_t)n + 1, sizeof *q->L);
    q->has_params = calloc((size_t)n + 1, sizeof *q->has_params);
    q->acts = calloc((size_t)n + 1, sizeof *q->acts);
    q->lidx = calloc((size_t)np + 1, sizeof *q->lidx);
    q->ndim = calloc((size_t)np + 1, sizeof *q->ndim);
    if (!q->L || !q->has_params || !q->acts || !q->lidx || !q->ndim) goto oom;
    long total_units = 1;
    for (int i = 0; i < n; i++) {
        const gg_tensor *t = &g->t[i];
        int k = watched(t);
        if (t->kind != GG_K_PARAM && k < 0) continue;
        const char *ln = t->layer[0] ? t->layer : t->name;
        if (q->nl == 0 || strcmp(q->L[q->nl - 1].layer, ln) != 0) {
            gg_guard_layer *l = &q->L[q->nl++];
            snprintf(l->layer, sizeof l->layer, "%s", ln);
            l->grad_norm = l->dead_fraction = l->saturated_fraction = l->update_ratio = NAN;
        }
        if (t->kind == GG_K_PARAM) q->has_params[q->nl - 1] = 1;
        if (k >= 0) {
            qact *a = &q->acts[q->na++];
            a->node = i;
            a->kind = k;
            a->layer = q->nl - 1;
            gg_shape s = gg_sample_shape(t);
            /* a (C, H, W) output is a conv layer's: a unit is a channel */
            a->units = s.ndim == 3 ? s.d[0] : s.d[s.ndim - 1];
            a->inner = s.ndim == 3 ? (long)s.d[1] * s.d[2] : 1;
            a->off = total_units;
            total_units += a->units;
        }
    }
    /* parameter tensors come in the same order as their layers */
    for (int i = 0, l = 0; i < np; i++) {
        const char *ln = pi[i].layer[0] ? pi[i].layer : pi[i].name;
        while (l < q->nl && strcmp(q->L[l].layer, ln) != 0) l++;
        if (l == q->nl) l = 0; /* not found after the previous one: cannot happen for a graph built in order */
        q->lidx[i] = strcmp(q->L[l].layer, ln) == 0 ? l : -1;
        q->ndim[i] = pi[i].shape.ndim;
    }
    q->lsq = calloc((size_t)q->nl + 1, sizeof *q->lsq);
    q->lw = calloc((size_t)q->nl + 1, sizeof *q->lw);
    q->lu = calloc((size_t)q->nl + 1, sizeof *q->lu);
    q->alive = calloc((size_t)total_units, 1);
    q->count = calloc((size_t)total_units, sizeof *q->count);
    if (!q->lsq || !q->lw || !q->lu || !q->alive || !q->count) goto oom;
    return q;
oom:
    gg_monitor_free(q);
    gg_fail(GG_E_NOMEM, "guard: out of memory for the layer monitor");
    return NULL;
}

void gg_monitor_free(gg_monitor *q)
{
    if (!q) return;
    free(q->L);
    free(q->has_params);
    free(q->acts);
    free(q->lidx);
    free(q->ndim);
    free(q->lsq);
    free(q->lw);
    free(q->lu);
    free(q->alive);
    free(q->count);
    free(q);
}

const gg_guard_layer *gg_monitor_layers(const gg_monitor *q, int *n)
{
    *n = q ? q->nl : 0;
    return q ? q->L : NULL;
}

int gg_monitor_layer_of(const gg_monitor *q, int i) { return q && i >= 0 && i < q->np ? q->lidx[i] : -1; }

int gg_monitor_activations(const gg_monitor *q) { return q ? q->na : 0; }

/* ---- measuring ---------------------------------------------------------- */

/* rows of the watched activation in the last forward (0: none) */
static long rows_of(const gg_monitor *q, const qact *a)
{
    const gg_tensor *t = &q->g->t[a->node];
    return t->val ? (long)(gg_numel(q->g, t) / (size_t)(a->units * a->inner)) : 0;
}

static void tally(gg_monitor *q, qact *a, long rows)
{
    const float *y = q->g->t[a->node].val;
    if (a->kind == ACT_RELU) {
        gg_tally_alive(y, rows, a->units, a->inner, q->alive + a->off);
    } else {
        /* from the output: |x| > th is |tanh x| > tanh th; a sigmoid's
         * slope at 2 th, relative to its peak, is tanh's at th */
        double th = q->c.saturation_threshold;
        float lo, hi;
        if (a->kind == ACT_TANH) {
            hi = (float)tanh(th);
            lo = -hi;
        } else {
            hi = (float)(1 / (1 + exp(-2 * th)));
            lo = 1 - hi;
        }
        gg_tally_beyond(y, rows, a->units, a->inner, lo, hi, q->count + a->off);
    }
    a->seen += rows;
}

static void clear(gg_monitor *q, qact *a)
{
    memset(q->alive + a->off, 0, (size_t)a->units);
    memset(q->count + a->off, 0, sizeof *q->count * (size_t)a->units);
    a->seen = 0;
}

void gg_monitor_observe(gg_monitor *q)
{
    if (!q) return;
    for (int k = 0; k < q->na; k++) {
        long rows = rows_of(q, &q->acts[k]);
        if (rows > 0 && rows < GG_GUARD_ACT_SAMPLES) tally(q, &q->acts[k], rows);
    }
}

static void measure_acts(gg_monitor *q)
{
    for (int l = 0; l < q->nl; l++) {
        q->L[l].dead_fraction = q->L[l].saturated_fraction = NAN;
        q->L[l].act_samples = 0;
    }
    for (int k = 0; k < q->na; k++) {
        qact *a = &q->acts[k];
        long rows = rows_of(q, a);
        if (rows <= 0) continue;
        /* a batch large enough is judged alone; a small one's tally holds
         * this step's rows already (gg_monitor_observe) */
        if (rows >= GG_GUARD_ACT_SAMPLES) {
            clear(q, a);
            tally(q, a, rows);
        }
        gg_guard_layer *l = &q->L[a->layer];
        if (a->kind == ACT_RELU) {
            long d = 0;
            for (long u = 0; u < a->units; u++) d += !q->alive[a->off + u];
            l->dead_fraction = (double)d / (double)a->units;
        } else {
            long s = gg_saturated_of(q->count + a->off, a->seen, a->units, a->inner, SAT_BATCH);
            l->saturated_fraction = (double)s / (double)a->units;
        }
        l->act_samples = a->seen;
        if (a->seen >= GG_GUARD_ACT_SAMPLES) clear(q, a);
    }
}

static void measure_params(gg_monitor *q, const double *sq, const double *un)
{
    size_t n;
    const float *p = gg_graph_params(q->g, &n);
    for (int l = 0; l < q->nl; l++) q->lsq[l] = q->lw[l] = q->lu[l] = 0;
    for (int i = 0; i < q->np; i++) {
        int l = q->lidx[i];
        if (l < 0) continue;
        q->lsq[l] += isfinite(sq[i]) ? sq[i] : 0;
        /* the ratio of the weights proper: biases and norm gains start at
         * 0 or 1 and say nothing about the step size */
        if (q->ndim[i] < 2 || !un) continue;
        const float *w = p + q->pi[i].offset;
        long len = (long)q->pi[i].numel;
        /* one vector pass in double (a plain double reduction stays a
         * scalar loop, 0.3 ms for the MLP's weights) */
        q->lw[l] += gg_sumsq_max(w, (size_t)len, NULL);
        q->lu[l] += un[i] * un[i];
    }
    for (int l = 0; l < q->nl; l++) {
        q->L[l].grad_norm = q->has_params[l] ? sqrt(q->lsq[l]) : NAN;
        /* no update yet (step 0) or a frozen layer: no ratio */
        q->L[l].update_ratio = q->lw[l] > 0 && q->lu[l] > 0 ? sqrt(q->lu[l] / q->lw[l]) : NAN;
    }
}

void gg_monitor_measure(gg_monitor *q, const double *sq, const double *un)
{
    if (!q) return;
    measure_acts(q);
    measure_params(q, sq, un);
}

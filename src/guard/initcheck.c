/* initcheck.c - the poor-initialisation check, run once on the first batch
 * before training: the RMS of every weighted layer's output (linear,
 * conv2d), and the factor by which it grows per layer (a least-squares fit
 * of log RMS against depth). A scale that grows or shrinks geometrically
 * through a deep stack is what makes gradients explode or vanish from the
 * first step. The fix rescales each layer's weights in order so that its
 * output has RMS 1 on that batch (layer-sequential unit variance, Mishkin &
 * Matas 2016); it touches nothing when the check passes.
 *
 * A tanh or sigmoid hides that growth: its output is bounded whatever the
 * scale of its input. So for the squashing layers the check also reads the
 * pre-activation, recovered from the output (atanh, logit), and calls the
 * initialisation saturated when most of them start with a pre-activation
 * RMS beyond the units' linear range (2 for tanh, 4 for sigmoid: a quarter
 * or more of the units then sit where the derivative is under 0.07). Its
 * fix is the same layer-sequential rescaling, to pre-activation RMS 1 for
 * those layers.
 *
 * Dead units: a ReLU layer whose units are zero for the whole batch from
 * the start (a bias shifted far below the inputs' reach) passes no
 * gradient to them, ever; neither scale nor growth shows it (an all-zero
 * output has no RMS to fit). Half or more of a layer's units dead on the
 * first batch is poor too; the fix resets that layer's bias to 0 (where
 * the initialisers start it) before the rescaling. */
#include "core/error.h"
#include "core/node.h"
#include "core/ops/attr.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int weighted(const gg_graph *g, gg_node n)
{
    const char *op = gg_graph_node_op(g, n);
    return strcmp(op, "linear") == 0 || strcmp(op, "conv2d") == 0;
}

/* The squashing activation fused into weighted node n: 1 tanh, 2 sigmoid,
 * 0 anything else. */
static int squash_of(const gg_graph *g, gg_node n)
{
    const gg_tensor *t = &g->t[n];
    gg_act a = gg_act_of(t);
    return a == GG_ACT_TANH ? 1 : a == GG_ACT_SIGMOID ? 2 : 0;
}

/* RMS of a squashing layer's pre-activation, recovered from its output:
 * where a float output has rounded to the bound, the inverse is pinned at
 * the last representable value (|x| ~ 9 for tanh, ~17 for sigmoid). */
static double pre_rms_of(gg_graph *g, gg_node n, int kind)
{
    gg_shape s = gg_graph_shape(g, n);
    size_t numel = gg_shape_numel(s) / (size_t)s.d[0] * (size_t)gg_graph_batch(g);
    const float *v = gg_graph_data(g, n);
    double acc = 0;
    for (size_t i = 0; i < numel; i++) {
        double y = v[i], x;
        if (kind == 1) {
            y = fmin(fmax(y, -1 + 1e-7), 1 - 1e-7);
            x = atanh(y);
        } else {
            y = fmin(fmax(y, 1e-7), 1 - 1e-7);
            x = log(y / (1 - y));
        }
        acc += x * x;
    }
    return sqrt(acc / (double)(numel ? numel : 1));
}

/* The share of a ReLU layer's units that are zero for the whole batch
 * (a dense unit: one output column; a conv unit: one channel), or -1 for a
 * layer without a fused ReLU. */
static double dead_share(gg_graph *g, gg_node n)
{
    const gg_tensor *t = &g->t[n];
    if (gg_act_of(t) != GG_ACT_RELU) return -1;
    gg_shape s = gg_graph_shape(g, n);
    long rows = gg_graph_batch(g), units = s.ndim == 4 ? s.d[1] : s.d[s.ndim - 1];
    long inner = s.ndim == 4 ? (long)s.d[2] * s.d[3] : 1;
    long per = (long)(gg_shape_numel(s) / (size_t)s.d[0]); /* values per sample */
    if (units <= 0 || per % (units * inner) != 0) return -1;
    long steps = per / (units * inner); /* a sequence's positions */
    /* zero for every one of a few samples is a ReLU's ordinary sparsity,
     * not death: at batch 1 half the units are zero (a healthy batch-1 CSV
     * run was "revived" for it) */
    if (rows * steps * inner < 16) return -1;
    const float *v = gg_graph_data(g, n);
    long dead = 0;
    for (long u = 0; u < units; u++) {
        int alive = 0;
        for (long r = 0; r < rows * steps && !alive; r++)
            for (long i = 0; i < inner && !alive; i++) alive = v[(r * units + u) * inner + i] != 0;
        dead += !alive;
    }
    return (double)dead / (double)units;
}

static double rms_of(gg_graph *g, gg_node n)
{
    gg_shape s = gg_graph_shape(g, n);
    size_t numel = gg_shape_numel(s) / (size_t)s.d[0] * (size_t)gg_graph_batch(g);
    const float *v = gg_graph_data(g, n);
    double acc = 0;
    for (size_t i = 0; i < numel; i++) acc += (double)v[i] * v[i];
    return sqrt(acc / (double)(numel ? numel : 1));
}

static void scale_node(gg_graph *g, gg_node p, double c)
{
    if (p < 0) return;
    float *v = gg_graph_data(g, p);
    size_t n = gg_shape_numel(gg_graph_shape(g, p));
    for (size_t i = 0; i < n; i++) v[i] = (float)(v[i] * c);
}

static double fit_growth(const double *rms, int n)
{
    double mx = (n - 1) / 2.0, sxy = 0, sxx = 0, my = 0;
    for (int i = 0; i < n; i++) my += log(rms[i]);
    my /= n;
    for (int i = 0; i < n; i++) {
        sxy += (i - mx) * (log(rms[i]) - my);
        sxx += (i - mx) * (i - mx);
    }
    return sxx > 0 ? exp(sxy / sxx) : 1;
}

static gg_status fix_layers(gg_graph *g, const gg_node *nodes, int n, gg_init_report *rep);

void gg_init_assess(gg_init_report *rep, const int *squash)
{
    int n = rep->n;
    rep->growth = rep->ratio = 0;
    rep->squashing = rep->saturated = rep->dead = 0;
    rep->poor = rep->poor_growth = rep->poor_saturated = rep->poor_dead = 0;
    int finite = 1, zero = 0;
    for (int l = 0; l < n; l++) {
        if (!isfinite(rep->rms[l])) finite = 0;
        if (rep->rms[l] <= 0) zero = 1;
        if (rep->dead_share[l] >= 0.5) rep->dead++;
    }
    rep->poor_dead = rep->dead > 0;
    if (n < 4) { /* too shallow for a geometric trend */
        rep->poor = rep->poor_dead;
        return;
    }
    /* an all-zero layer has no scale to fit: when it is a dead ReLU layer,
     * the dead-unit rule speaks for it */
    int fit = finite && !zero;
    rep->ratio = fit ? rep->rms[n - 1] / rep->rms[0] : INFINITY;
    rep->growth = fit ? fit_growth(rep->rms, n) : INFINITY;
    rep->poor = !finite || (zero && !rep->poor_dead) ||
                (fit && (rep->growth > 1.25 || rep->growth < 0.8) && (rep->ratio > 10 || rep->ratio < 0.1));
    rep->poor_growth = rep->poor;
    for (int l = 0; l < n && squash; l++) {
        int k = squash[l];
        if (!k) continue;
        rep->squashing++;
        if (rep->pre_rms[l] > (k == 1 ? 2.0 : 4.0)) rep->saturated++;
    }
    /* most of the squashing layers, and at least two: one saturated layer
     * in a wide net can be a choice */
    rep->poor_saturated = rep->saturated >= 2 && 2 * rep->saturated >= rep->squashing;
    if (rep->poor_saturated || rep->poor_dead) rep->poor = 1;
}

gg_status gg_init_check(gg_graph *g, int fix, gg_init_report *rep)
{
    memset(rep, 0, sizeof *rep);
    if (!g) return gg_fail(GG_E_ARG, "gg_init_check: no graph");
    gg_node nodes[GG_INIT_MAX_LAYERS];
    int n = 0;
    for (int i = 0; i < gg_graph_num_nodes(g) && n < GG_INIT_MAX_LAYERS; i++)
        if (weighted(g, i)) nodes[n++] = i;
    rep->n = n;
    for (int l = 0; l < n; l++) {
        snprintf(rep->layer[l], GG_NAME_MAX, "%s", gg_graph_node_layer(g, nodes[l]));
    }
    gg_status st = gg_graph_forward(g, GG_EVAL, -1);
    if (st) return st;
    int squash[GG_INIT_MAX_LAYERS];
    for (int l = 0; l < n; l++) {
        rep->rms[l] = rms_of(g, nodes[l]);
        rep->dead_share[l] = dead_share(g, nodes[l]);
        squash[l] = squash_of(g, nodes[l]);
        rep->pre_rms[l] = squash[l] ? pre_rms_of(g, nodes[l], squash[l]) : NAN;
    }
    gg_init_assess(rep, squash);
    if (!rep->poor || !fix) return GG_OK;
    return fix_layers(g, nodes, n, rep);
}

/* The fix: dead layers' biases back to 0, then layer-sequential rescaling
 * (each layer sees the fixed ones before it) to output RMS 1, or to
 * pre-activation RMS 1 for tanh and sigmoid layers. */
static gg_status fix_layers(gg_graph *g, const gg_node *nodes, int n, gg_init_report *rep)
{
    gg_status st;
    for (int l = 0; l < n; l++) {
        if (rep->dead_share[l] >= 0.5) scale_node(g, gg_graph_node_input(g, nodes[l], 2), 0);
        int k = squash_of(g, nodes[l]);
        for (int it = 0; it < 4; it++) {
            st = gg_graph_forward(g, GG_EVAL, nodes[l]);
            if (st) return st;
            double r = k ? pre_rms_of(g, nodes[l], k) : rms_of(g, nodes[l]);
            if (!isfinite(r) || r <= 0) break;
            if (fabs(r - 1) < 0.02) break;
            scale_node(g, gg_graph_node_input(g, nodes[l], 1), 1 / r);
            scale_node(g, gg_graph_node_input(g, nodes[l], 2), 1 / r);
        }
    }
    st = gg_graph_forward(g, GG_EVAL, -1);
    if (st) return st;
    for (int l = 0; l < n; l++) {
        int k = squash_of(g, nodes[l]);
        rep->rms_fixed[l] = k ? pre_rms_of(g, nodes[l], k) : rms_of(g, nodes[l]);
        rep->dead_share_fixed[l] = dead_share(g, nodes[l]);
    }
    rep->fixed = 1;
    return GG_OK;
}

/*
 * guard_act.c - gg_guard: the guard's decision core (src/guard/core.c)
 * driven by gradguard's own graph and optimizers.
 *
 * Each step it measures the gradient arena (one pass: each tensor's squared
 * norm, max |g|, non-finite count) and, when the core asks, the layers
 * (src/guard/monitor.c); hands the statistics to the core; and carries the
 * verdict out: scales the gradients, clips by value or unit-wise, adds the
 * noise, resets optimizer moments, asks the optimizer for its update
 * norms, and takes and restores snapshots of the parameter, buffer and
 * optimizer arenas (one memcpy each, into buffers allocated once here).
 * The trainer (trainer.c) carries out the rest: skipping the update,
 * scaling the rate, rewinding the data.
 */
#include "core/error.h"
#include "core/reduce.h"
#include "guard/monitor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gg_guard {
    gg_guard_core *core;
    gg_monitor *mon;   /* per-layer statistics for the quiet detectors; NULL when they are off */
    gg_graph *g;
    gg_optim *o;
    int np;
    gg_param_info *pi;
    double *sq;        /* per-tensor squared gradient norms of the step */
    gg_rng noise_rng;
    double lr_now;
    struct {
        float *p, *b, *o;
        uint64_t optim_steps;
    } sn[GG_GUARD_SLOTS]; /* the trial's slot only with plateau_window > 0 */
    size_t np_n, nb_n, no_n;
    /* the transformer detectors' statistics (gg_guard_watch) */
    int nheads;
    gg_guard_head *heads;
    gg_node *head_op;  /* the attention op of heads[i] */
    gg_node out_loss;  /* the softmax_xent op watched, -1 none */
    float qk_tau;      /* the step's QK-clip threshold, carried out after the update */
    gg_guard_act act;  /* the last check's act, which a probe (gg_guard_probe) finishes */
};

gg_guard *gg_guard_new(gg_graph *g, gg_optim *o, const gg_guard_config *cfg)
{
    if (!g || !o || !cfg) {
        gg_fail(GG_E_ARG, "gg_guard_new: graph, optimizer and config are required");
        return NULL;
    }
    gg_guard *gd = calloc(1, sizeof *gd);
    if (!gd) {
        gg_fail(GG_E_NOMEM, "guard: out of memory");
        return NULL;
    }
    gd->g = g;
    gd->o = o;
    gd->out_loss = -1;
    gd->np = gg_graph_num_params(g);
    gd->pi = calloc((size_t)gd->np + 1, sizeof *gd->pi);
    gd->sq = calloc((size_t)gd->np + 1, sizeof *gd->sq);
    gg_guard_tensor *ts = calloc((size_t)gd->np + 1, sizeof *ts);
    gg_graph_params(g, &gd->np_n);
    gg_graph_buffers(g, &gd->nb_n);
    gg_optim_state(o, &gd->no_n);
    int ok = gd->pi && gd->sq && ts;
    for (int k = 0; k < (cfg->plateau_window > 0 ? GG_GUARD_SLOTS : 2) && ok; k++) {
        gd->sn[k].p = malloc(sizeof(float) * (gd->np_n + 1));
        gd->sn[k].b = malloc(sizeof(float) * (gd->nb_n + 1));
        gd->sn[k].o = malloc(sizeof(float) * (gd->no_n + 1));
        ok &= gd->sn[k].p && gd->sn[k].b && gd->sn[k].o;
    }
    if (!ok) {
        free(ts);
        gg_guard_free(gd);
        gg_fail(GG_E_NOMEM, "guard: out of memory for its snapshot (%zu parameters)", gd->np_n);
        return NULL;
    }
    for (int i = 0; i < gd->np; i++) {
        gg_graph_param(g, i, &gd->pi[i]);
        ts[i].name = gd->pi[i].name;
        ts[i].layer = gd->pi[i].layer;
    }
    /* every node its own layer is the upper bound of the layer table */
    gd->core = gg_guard_core_new(cfg, gd->np, ts, gg_graph_num_nodes(g) + 1);
    free(ts);
    if (!gd->core || (cfg->quiet && !(gd->mon = gg_monitor_new(g, cfg, gd->pi, gd->np)))) {
        gg_guard_free(gd);
        return NULL;
    }
    gg_rng_seed(&gd->noise_rng, 0x6e6f697365ull);
    return gd;
}

void gg_guard_free(gg_guard *gd)
{
    if (!gd) return;
    gg_guard_core_free(gd->core);
    gg_monitor_free(gd->mon);
    free(gd->pi);
    free(gd->sq);
    free(gd->heads);
    free(gd->head_op);
    for (int k = 0; k < GG_GUARD_SLOTS; k++) {
        free(gd->sn[k].p);
        free(gd->sn[k].b);
        free(gd->sn[k].o);
    }
    free(gd);
}

gg_guard_core *gg_guard_get_core(gg_guard *gd) { return gd ? gd->core : NULL; }

/* ---- measuring ------------------------------------------------------------- */

/* One pass: per-tensor squared norms, max |g|, non-finite count. The sums
 * are in double (gg_sumsq_max); a non-finite value makes its tensor's sum
 * non-finite, and only then are the values counted. */
static void measure(gg_guard *gd, double *maxabs, long *bad)
{
    size_t n;
    const float *gr = gg_graph_grads(gd->g, &n);
    double mx = 0;
    long nb = 0;
    for (int i = 0; i < gd->np; i++) {
        const float *x = gr + gd->pi[i].offset;
        float m;
        double s = gg_sumsq_max(x, gd->pi[i].numel, &m);
        long b = isfinite(s) ? 0 : gg_count_nonfinite(x, gd->pi[i].numel);
        gd->sq[i] = b ? NAN : s;
        if (m > mx) mx = m;
        nb += b;
    }
    *maxabs = mx;
    *bad = nb;
}

/* ---- carrying a verdict out on the gradient arena ---------------------------- */

static void scale_grads(gg_guard *gd, int i, float c)
{
    size_t n;
    float *gr = gg_graph_grads(gd->g, &n) + gd->pi[i].offset;
    size_t len = gd->pi[i].numel;
    gg_guard_scale(1, &gr, &len, &c);
}

static int clip_value(gg_guard *gd, float v)
{
    size_t n;
    float *gr = gg_graph_grads(gd->g, &n);
    long ln = (long)n;
    int ch = 0;
#pragma omp parallel for reduction(| : ch) if (n > GG_PAR_MIN)
    for (long k = 0; k < ln; k++) {
        if (gr[k] > v) gr[k] = v, ch = 1;
        else if (gr[k] < -v) gr[k] = -v, ch = 1;
    }
    return ch;
}

/* Unit-wise adaptive clipping: row r of a weight (units along dim 0). */
static int clip_agc(gg_guard *gd, double lam, double eps, int until)
{
    size_t n;
    float *gr = gg_graph_grads(gd->g, &n);
    const float *p = gg_graph_params(gd->g, &n);
    int changed = 0;
    for (int i = 0; i < gd->np && i < until; i++) {
        const gg_param_info *pi = &gd->pi[i];
        long rows = pi->shape.ndim > 1 ? pi->shape.d[0] : (long)pi->numel;
        long cols = (long)pi->numel / rows;
        float *g = gr + pi->offset;
        const float *w = p + pi->offset;
        int ch = 0;
#pragma omp parallel for reduction(| : ch) if (pi->numel > GG_PAR_MIN)
        for (long r = 0; r < rows; r++) {
            double gs = 0, ws = 0;
            for (long k = 0; k < cols; k++) {
                gs += (double)g[r * cols + k] * g[r * cols + k];
                ws += (double)w[r * cols + k] * w[r * cols + k];
            }
            double wn = sqrt(ws), gnorm = sqrt(gs);
            double maxn = lam * (wn > eps ? wn : eps);
            if (gnorm > maxn) {
                float c = (float)(maxn / (gnorm + 1e-6));
                for (long k = 0; k < cols; k++) g[r * cols + k] *= c;
                ch = 1;
            }
        }
        changed |= ch;
    }
    return changed;
}

static void add_noise(gg_guard *gd, double sd, uint64_t key)
{
    /* keyed on the schedule's step, so a resumed run draws the same noise */
    gg_rng_seed(&gd->noise_rng, 0x6e6f697365ull ^ key * 0x9e3779b97f4a7c15ull);
    size_t n;
    float *gr = gg_graph_grads(gd->g, &n);
    float s = (float)sd;
    /* sequential: one generator, so the noise is the same for any thread count */
    for (size_t k = 0; k < n; k++) gr[k] += s * (float)gg_rng_normal(&gd->noise_rng);
}

gg_status gg_guard_watch(gg_guard *gd, int attention, gg_node loss)
{
    if (!gd) return gg_fail(GG_E_ARG, "gg_guard_watch: no guard");
    if (loss >= 0 && gg_graph_z_loss(gd->g, loss) < 0)
        return gg_fail(GG_E_ARG, "gg_guard_watch: node %d is not a softmax_xent op", loss);
    gd->out_loss = loss;
    free(gd->heads);
    free(gd->head_op);
    gd->heads = NULL;
    gd->head_op = NULL;
    gd->nheads = 0;
    int nn = gg_graph_num_nodes(gd->g), total = 0;
    for (gg_node n = 0; attention && n < nn; n++) total += gg_graph_attention_heads(gd->g, n);
    if (total == 0) return GG_OK;
    gd->heads = calloc((size_t)total, sizeof *gd->heads);
    gd->head_op = calloc((size_t)total, sizeof *gd->head_op);
    if (!gd->heads || !gd->head_op) return gg_fail(GG_E_NOMEM, "guard: out of memory for %d attention heads", total);
    for (gg_node n = 0; n < nn; n++) {
        /* the parameter tensor of the op's Q/K/V projection, whose rate the
         * core may back off */
        gg_node w = gg_graph_attention_qkv(gd->g, n);
        int qkv = -1;
        for (int i = 0; i < gd->np && w >= 0; i++)
            if (gd->pi[i].node == w) qkv = i;
        for (int h = 0; h < gg_graph_attention_heads(gd->g, n); h++) {
            gd->heads[gd->nheads] = (gg_guard_head){gg_graph_node_name(gd->g, n), h, NAN, NAN, NAN, qkv};
            gd->head_op[gd->nheads++] = n;
        }
    }
    return GG_OK;
}

/* The heads' statistics of the step's forward, and the output's log Z. */
static void watch(gg_guard *gd, gg_guard_obs *obs)
{
    for (int i = 0; i < gd->nheads; i++) {
        gg_attention_stats as;
        int ok = gg_graph_attention_stats(gd->g, gd->head_op[i], gd->heads[i].head, &as) == GG_OK;
        gd->heads[i].max_logit = ok ? as.max_logit : NAN;
        gd->heads[i].entropy = ok ? as.entropy : NAN;
        gd->heads[i].entropy_uniform = ok ? as.entropy_uniform : NAN;
    }
    obs->heads = gd->heads;
    obs->nheads = gd->nheads;
    obs->has_logz = gd->out_loss >= 0 && gg_graph_output_logz(gd->g, gd->out_loss, &obs->logz, NULL) == GG_OK;
}

/* The z-loss the core switched on, in force from the next forward (never
 * lowering a coefficient the model was built with). */
static void set_z_loss(gg_guard *gd, float z)
{
    if (z > 0 && gd->out_loss >= 0 && gg_graph_z_loss(gd->g, gd->out_loss) < z)
        (void)gg_graph_set_z_loss(gd->g, gd->out_loss, z);
}

/* QK-clip after the update: each head over the threshold of the step's
 * forward back to it (a head with qk_norm cannot be rescaled and is left). */
static void qk_clip(gg_guard *gd)
{
    for (int i = 0; i < gd->nheads; i++)
        if (gd->heads[i].max_logit > gd->qk_tau)
            (void)gg_attention_qk_clip(gd->g, gd->head_op[i], gd->heads[i].head, gd->qk_tau, NULL);
    gd->qk_tau = 0;
}

gg_guard_decision gg_guard_check(gg_guard *gd, long step, int epoch, double loss)
{
    double maxabs;
    long bad;
    measure(gd, &maxabs, &bad);
    gg_guard_obs obs = {step, epoch, loss, gd->sq, maxabs, bad, gd->lr_now, NULL, 0, NULL, 0, 0, 0};
    watch(gd, &obs);
    gg_monitor_observe(gd->mon);
    if (gd->mon && gg_guard_core_wants_layers(gd->core, step)) {
        gg_monitor_measure(gd->mon, gd->sq, gg_optim_update_norms(gd->o));
        obs.layers = gg_monitor_layers(gd->mon, &obs.nlayers);
    }
    gg_guard_act a;
    gg_guard_decision d = {GG_GUARD_PROCEED, 1.0f, 0, 0, 0, 0, 0};
    if (gg_guard_core_check(gd->core, &obs, &a)) {
        d.verdict = GG_GUARD_STOP;
        return d;
    }
    if (a.verdict == GG_GUARD_PROCEED) {
        for (int i = 0; i < gd->np && a.scaled; i++)
            if (a.scale[i] != 1) scale_grads(gd, i, a.scale[i]);
        int ch = 0;
        if (a.clip_value > 0) ch = clip_value(gd, a.clip_value);
        if (a.agc_lambda > 0) ch = clip_agc(gd, a.agc_lambda, a.agc_eps, a.agc_until);
        if (ch && a.agc_lambda > 0) gg_guard_core_clipped(gd->core);
        if (a.agc_lambda > 0) a.clipped = ch;
        if (a.noise_sigma > 0) add_noise(gd, a.noise_sigma, a.noise_key);
    }
    for (int i = 0; i < gd->np && a.any_reset; i++)
        if (a.reset[i]) gg_optim_reset(gd->o, i);
    /* a per-tensor factor the optimizer cannot take (L-BFGS) leaves that
     * tensor at its rate; QK-clip still holds the logits */
    for (int i = 0; i < gd->np && a.tensor_lr; i++) (void)gg_optim_set_tensor_lr(gd->o, i, a.tensor_lr[i]);
    if (a.want_update_norms) gg_optim_want_update_norms(gd->o);
    gd->qk_tau = a.verdict == GG_GUARD_PROCEED ? a.qk_clip_tau : 0;
    set_z_loss(gd, a.z_loss);
    d.verdict = a.verdict;
    d.lr_scale = a.lr_scale;
    d.diagnose = a.diagnose;
    d.clipped = a.clipped;
    d.stalled = a.stalled;
    d.probe = a.probe;
    d.undo_trial = a.undo_trial;
    gd->act = a;
    return d;
}

gg_guard_decision gg_guard_probe(gg_guard *gd, double loss)
{
    gg_guard_act *a = &gd->act;
    gg_guard_decision d = {a->verdict, a->lr_scale, a->diagnose, a->clipped, a->stalled, 0, 0};
    if (!a->probe || gg_guard_core_probe(gd->core, loss, a)) return d; /* the rollback stands */
    /* a skip's moments of outsized tensors are forgotten, as gg_guard_check does */
    for (int i = 0; i < gd->np && a->any_reset; i++)
        if (a->reset[i]) gg_optim_reset(gd->o, i);
    d.verdict = a->verdict;
    d.lr_scale = a->lr_scale;
    return d;
}

/* ---- snapshots ------------------------------------------------------------------ */

static void take(gg_guard *gd, int k)
{
    size_t n;
    memcpy(gd->sn[k].p, gg_graph_params(gd->g, &n), gd->np_n * sizeof(float));
    memcpy(gd->sn[k].b, gg_graph_buffers(gd->g, &n), gd->nb_n * sizeof(float));
    float *os = gg_optim_state(gd->o, &n);
    if (n) memcpy(gd->sn[k].o, os, gd->no_n * sizeof(float));
    /* the optimizer's step count belongs to its state */
    gd->sn[k].optim_steps = gg_optim_steps(gd->o);
}

gg_guard_decision gg_guard_after_step(gg_guard *gd, const gg_train_pos *pos, int applied)
{
    gg_guard_decision d = {GG_GUARD_PROCEED, 1.0f, 0, 0, 0, 0, 0};
    /* the optimizer measured each tensor's update in its own pass: a
     * non-finite update means non-finite weights now */
    int bad = applied ? gg_optim_bad_update(gd->o) : -1;
    double bad_norm = NAN;
    if (bad >= 0 && bad < gd->np) {
        const double *un = gg_optim_update_norms(gd->o);
        /* the norm itself when this step measured it */
        if (un && !isfinite(un[bad])) bad_norm = un[bad];
    }
    if (applied && bad < 0 && gd->qk_tau > 0) qk_clip(gd);
    gd->qk_tau = 0;
    gg_guard_act a;
    if (gg_guard_core_after(gd->core, pos, applied, bad, bad_norm, &a)) {
        d.verdict = GG_GUARD_STOP;
        return d;
    }
    if (a.snapshot >= 0) take(gd, a.snapshot);
    if (a.trial_snapshot >= 0 && gd->sn[a.trial_snapshot].p) take(gd, a.trial_snapshot);
    d.verdict = a.verdict;
    d.lr_scale = a.lr_scale;
    return d;
}

void gg_guard_snapshot(gg_guard *gd, const gg_train_pos *pos)
{
    int k = gg_guard_core_snapshot(gd->core, pos);
    if (k >= 0) take(gd, k);
}

gg_status gg_guard_rollback(gg_guard *gd, gg_train_pos *pos)
{
    int k = gg_guard_core_rollback(gd->core, pos);
    if (k < 0) return GG_E_STATE; /* the core set the message */
    if (!gd->sn[k].p) return gg_fail(GG_E_STATE, "guard: snapshot slot %d was never allocated", k);
    size_t n;
    memcpy(gg_graph_params(gd->g, &n), gd->sn[k].p, gd->np_n * sizeof(float));
    memcpy(gg_graph_buffers(gd->g, &n), gd->sn[k].b, gd->nb_n * sizeof(float));
    float *os = gg_optim_state(gd->o, &n);
    if (n) memcpy(os, gd->sn[k].o, gd->no_n * sizeof(float));
    gg_optim_set_steps(gd->o, gd->sn[k].optim_steps);
    gg_graph_zero_grad(gd->g);
    return GG_OK;
}

/* ---- what the core says, through the guard ------------------------------------------ */

void gg_guard_set_chance(gg_guard *gd, double loss) { if (gd) gg_guard_core_set_chance(gd->core, loss); }
void gg_guard_set_lr(gg_guard *gd, double lr) { if (gd) gd->lr_now = lr; }
const gg_guard_stats *gg_guard_last(const gg_guard *gd) { return gd ? gg_guard_core_last(gd->core) : NULL; }
const gg_guard_counters *gg_guard_counts(const gg_guard *gd) { return gd ? gg_guard_core_counts(gd->core) : NULL; }
void gg_guard_clear_events(gg_guard *gd) { if (gd) gg_guard_core_clear_events(gd->core); }
const gg_guard_event *gg_guard_events(const gg_guard *gd, int *n)
{
    *n = 0;
    return gd ? gg_guard_core_events(gd->core, n) : NULL;
}
void gg_guard_diagnosis(gg_guard *gd, const gg_check_info *ci, const char *batch_desc)
{
    if (gd) gg_guard_core_diagnosis(gd->core, ci, batch_desc);
}

const gg_guard_layer *gg_guard_layers(const gg_guard *gd, int *n)
{
    *n = 0;
    return gd ? gg_monitor_layers(gd->mon, n) : NULL;
}

int gg_guard_layer_of(const gg_guard *gd, int i) { return gd ? gg_monitor_layer_of(gd->mon, i) : -1; }

int gg_guard_state_count(const gg_guard *gd) { return gd ? gg_guard_core_state_count(gd->core) : 0; }
int gg_guard_state_get(const gg_guard *gd, int i, const char **name, char *buf, size_t cap)
{
    return gd ? gg_guard_core_state_get(gd->core, i, name, buf, cap) : -1;
}
gg_status gg_guard_state_set(gg_guard *gd, const char *name, const char *text)
{
    if (!gd) return gg_fail(GG_E_ARG, "gg_guard_state_set: no guard");
    gg_status st = gg_guard_core_state_set(gd->core, name, text);
    /* a restored state's z-loss holds from the first forward after it */
    if (!st) set_z_loss(gd, gg_guard_core_z_loss(gd->core));
    return st;
}

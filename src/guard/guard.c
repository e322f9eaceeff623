/*
 * guard.c - the inspect / decide / act stage between backward and the
 * optimizer.
 *
 * Monitor: one pass over the gradient arena gives each tensor's squared
 * norm, the max |g| and the count of non-finite values.
 * Detect: non-finite loss or gradient; spikes of the log gradient norm and
 * log loss against their own EMA mean/variance (after a warm-up); a steady
 * growth of the log norm over a window (least-squares slope).
 * Act: clip every step by the configured method; on a signal, respond by
 * policy (clip, skip, back off the learning rate, roll back, stop); a
 * non-finite update (seen in the optimizer's per-tensor update norms, so at
 * no extra cost) rolls back too.
 * Snapshots are one memcpy per arena into buffers allocated once here.
 */
#include "core/core.h"
#include "detect.h"
#include "quiet.h"
#include "state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GG_MAX_EVENTS 64

struct gg_guard {
    gg_guard_config c;
    gg_graph *g;
    gg_optim *o;
    int np;
    gg_param_info *pi;
    double *sq;        /* per-tensor squared gradient norms */
    double *wn;        /* per-tensor weight norms (AGC, diagnosis) */
    double *scratch;   /* AutoClip's percentile scratch */
    int ring_n;        /* the trend window's length */
    gg_guard_hist h;   /* the trajectory's statistics: snapshots copy it, a rollback restores it (state.h) */
    gg_guard_memory m; /* the decisions over the whole run: a rollback keeps it (state.h) */
    gg_rng noise_rng;
    /* snapshots: the confirmed one is the rollback target; a pending one
     * becomes confirmed only after snapshot_every healthy steps, so a state
     * taken just as a run began to fail is never what it returns to. Each
     * keeps the guard's history as it was then. */
    struct gg_snap {
        float *p, *b, *o;
        gg_train_pos pos;
        uint64_t optim_steps;
        int valid;
        gg_guard_hist h;
    } sn[2];
    int confirmed;
    int pending_healthy;
    size_t np_n, nb_n, no_n;
    /* collapse and stall: the loss back at (or stuck at) chance level */
    double chance;
    int collapse_window;
    int last_layer; /* index of the first tensor of the final layer */
    gg_guard_stats st;
    gg_guard_event ev[GG_MAX_EVENTS];
    int nev;
    /* quiet failures (quiet.c): the monitor and its findings */
    gg_quiet *q;
    gg_quiet_finding qf[8];
    double lr_now;
};

static const char *clip_names[GG_CLIP_COUNT] = {"none", "value", "norm", "tensor", "agc", "percentile", "zscore"};
static const char *resp_names[GG_DO_COUNT] = {"warn", "clip", "skip", "backoff", "rollback", "stop", "noise"};

const char *gg_clip_name(gg_clip_kind k) { return k >= 0 && k < GG_CLIP_COUNT ? clip_names[k] : NULL; }
const char *gg_response_name(gg_response r) { return r >= 0 && r < GG_DO_COUNT ? resp_names[r] : NULL; }

gg_clip_kind gg_clip_parse(const char *name)
{
    for (int i = 0; i < GG_CLIP_COUNT; i++)
        if (name && strcmp(name, clip_names[i]) == 0) return (gg_clip_kind)i;
    return GG_CLIP_COUNT;
}

gg_response gg_response_parse(const char *name)
{
    for (int i = 0; i < GG_DO_COUNT; i++)
        if (name && strcmp(name, resp_names[i]) == 0) return (gg_response)i;
    if (name && strcmp(name, "nothing") == 0) return GG_DO_NOTHING;
    return GG_DO_COUNT;
}

gg_guard_config gg_guard_defaults(void)
{
    gg_guard_config c;
    memset(&c, 0, sizeof c);
    c.enabled = 1;
    c.clip = GG_CLIP_ZSCORE;
    c.clip_value = 1;
    c.max_norm = 1;
    c.agc_lambda = 0.01f;
    c.agc_eps = 1e-3f;
    c.agc_exclude_last = 1;
    c.percentile = 10;
    c.history = 1000;
    c.clip_z = 1.5f; /* by measurement on the gauntlet (docs/results.md, "Why the default policy") */
    c.warmup = 25;
    c.ema_alpha = 0.02f;
    c.spike_z = 6;
    c.loss_z = 6;
    c.trend_window = 50;
    c.trend_growth = 100;
    c.on_nonfinite = GG_DO_ROLLBACK;
    c.on_spike = GG_DO_CLIP;
    c.on_loss_spike = GG_DO_NOTHING;
    c.on_trend = GG_DO_BACKOFF;
    c.backoff_factor = 0.5f;
    c.backoff_recover = 500;
    c.backoff_min = 1e-3f;
    c.snapshot_every = 100;
    c.rollback_budget = 10;
    c.skip_batches = 1;
    c.max_skips = 10;
    c.noise_gamma = 0.55f;
    c.diagnose = 1;
    c.layer_every = 100;
    c.init_check = 2;
    c.loss_blowup = 10;
    /* a regression loss that has fallen to 1e-3 jumps 10x on an ordinary
     * batch; those jumps stay far below where the run began */
    c.loss_blowup_floor = 0.25f;
    c.on_blowup = GG_DO_ROLLBACK;
    c.on_collapse = GG_DO_ROLLBACK;
    c.quiet = 1;
    c.monitor_every = 0;
    c.stall_window = 300;
    c.progress_window = 5000;
    c.min_progress = 0.01f;
    c.chance_margin = 0.03f;
    c.vanish_ratio = 1e-4f;
    c.dead_fraction = 0.7f;
    c.saturation_fraction = 0.5f;
    c.saturation_threshold = 3;
    c.update_ratio_low = 1e-5f;
    c.update_ratio_high = 0.1f;
    c.quiet_persist = 3;
    c.report_every = 1000;
    c.on_stall = GG_DO_NOTHING;
    c.on_vanishing = GG_DO_NOTHING;
    c.remedy_noise_eta = 0.3f;
    return c;
}

static gg_status check_config(const gg_guard_config *c)
{
    if (c->clip < 0 || c->clip >= GG_CLIP_COUNT) return gg_fail(GG_E_CONFIG, "guard: unknown clip method %d", c->clip);
    if (!(c->max_norm > 0) || !(c->clip_value > 0)) return gg_fail(GG_E_CONFIG, "guard: max_norm and clip_value must be > 0");
    if (!(c->ema_alpha > 0 && c->ema_alpha < 1)) return gg_fail(GG_E_CONFIG, "guard.ema_alpha %g must be in (0, 1)", c->ema_alpha);
    if (!(c->percentile > 0 && c->percentile <= 100))
        return gg_fail(GG_E_CONFIG, "guard.percentile %g must be in (0, 100]", c->percentile);
    if (c->history < 1) return gg_fail(GG_E_CONFIG, "guard.history %d must be >= 1", c->history);
    if (!(c->backoff_factor > 0 && c->backoff_factor <= 1))
        return gg_fail(GG_E_CONFIG, "guard.backoff_factor %g must be in (0, 1]", c->backoff_factor);
    if (c->snapshot_every < 1) return gg_fail(GG_E_CONFIG, "guard.snapshot_every %d must be >= 1", c->snapshot_every);
    /* NaN would switch the blow-up detector off without a word */
    if (!(c->loss_blowup >= 0 && c->loss_blowup < INFINITY && c->loss_blowup_floor >= 0 &&
          c->loss_blowup_floor < INFINITY))
        return gg_fail(GG_E_CONFIG, "guard.loss_blowup %g and loss_blowup_floor %g must be finite and >= 0",
                       c->loss_blowup, c->loss_blowup_floor);
    if (c->trend_window < 0 || c->trend_window == 1)
        return gg_fail(GG_E_CONFIG, "guard.trend_window %d must be 0 (off) or >= 2", c->trend_window);
    if (c->quiet) {
        if (c->monitor_every < 0 || c->stall_window < 1 || c->progress_window < 0 || c->quiet_persist < 1 ||
            c->report_every < 1)
            return gg_fail(GG_E_CONFIG, "guard: monitor_every %d, stall_window %d, progress_window %d, quiet_persist %d "
                           "and report_every %d must be >= 0, >= 1, >= 0, >= 1, >= 1", c->monitor_every, c->stall_window,
                           c->progress_window, c->quiet_persist, c->report_every);
        if (!(c->update_ratio_low < c->update_ratio_high))
            return gg_fail(GG_E_CONFIG, "guard.update_ratio_low %g must be below update_ratio_high %g",
                           c->update_ratio_low, c->update_ratio_high);
    }
    return GG_OK;
}

gg_guard *gg_guard_new(gg_graph *g, gg_optim *o, const gg_guard_config *cfg)
{
    if (!g || !o || !cfg) {
        gg_fail(GG_E_ARG, "gg_guard_new: graph, optimizer and config are required");
        return NULL;
    }
    if (check_config(cfg)) return NULL;
    gg_guard *gd = calloc(1, sizeof *gd);
    if (!gd) {
        gg_fail(GG_E_NOMEM, "guard: out of memory");
        return NULL;
    }
    gd->c = *cfg;
    gd->g = g;
    gd->o = o;
    gd->np = gg_graph_num_params(g);
    gd->pi = calloc((size_t)gd->np + 1, sizeof *gd->pi);
    gd->sq = calloc((size_t)gd->np + 1, sizeof *gd->sq);
    gd->wn = calloc((size_t)gd->np + 1, sizeof *gd->wn);
    gd->ring_n = cfg->trend_window;
    int hist_ok = gg_guard_hist_alloc(&gd->h, cfg);
    gd->scratch = calloc((size_t)cfg->history, sizeof *gd->scratch);
    gg_graph_params(g, &gd->np_n);
    gg_graph_buffers(g, &gd->nb_n);
    gg_optim_state(o, &gd->no_n);
    int snaps_ok = 1;
    for (int k = 0; k < 2; k++) {
        gd->sn[k].p = malloc(sizeof(float) * (gd->np_n + 1));
        gd->sn[k].b = malloc(sizeof(float) * (gd->nb_n + 1));
        gd->sn[k].o = malloc(sizeof(float) * (gd->no_n + 1));
        snaps_ok &= gd->sn[k].p && gd->sn[k].b && gd->sn[k].o && gg_guard_hist_alloc(&gd->sn[k].h, cfg);
    }
    gg_guard_hist_init(&gd->h);
    gg_guard_memory_init(&gd->m);
    gd->collapse_window = 50;
    if (!gd->pi || !gd->sq || !gd->wn || !hist_ok || !gd->scratch || !snaps_ok) {
        gg_guard_free(gd);
        gg_fail(GG_E_NOMEM, "guard: out of memory for its snapshot (%zu parameters)", gd->np_n);
        return NULL;
    }
    for (int i = 0; i < gd->np; i++) gg_graph_param(g, i, &gd->pi[i]);
    /* the final layer: the layer of the last parameter tensor */
    gd->last_layer = gd->np;
    for (int i = gd->np - 1; i >= 0 && strcmp(gd->pi[i].layer, gd->pi[gd->np - 1].layer) == 0; i--) gd->last_layer = i;
    gg_rng_seed(&gd->noise_rng, 0x6e6f697365ull);
    if (cfg->quiet && !(gd->q = gg_quiet_new(g, cfg, gd->pi, gd->np))) {
        gg_guard_free(gd);
        return NULL;
    }
    return gd;
}

void gg_guard_free(gg_guard *gd)
{
    if (!gd) return;
    free(gd->pi);
    free(gd->sq);
    free(gd->wn);
    gg_guard_hist_free(&gd->h);
    free(gd->scratch);
    gg_quiet_free(gd->q);
    for (int k = 0; k < 2; k++) {
        free(gd->sn[k].p);
        free(gd->sn[k].b);
        free(gd->sn[k].o);
        gg_guard_hist_free(&gd->sn[k].h);
    }
    free(gd);
}

/* ---- events ---------------------------------------------------------------- */

static gg_guard_event *event(gg_guard *gd, long step, int epoch, const char *signal, double v, double th,
                             const char *action)
{
    if (gd->nev == GG_MAX_EVENTS) return NULL;
    gg_guard_event *e = &gd->ev[gd->nev++];
    memset(e, 0, sizeof *e);
    e->step = step;
    e->epoch = epoch;
    snprintf(e->signal, sizeof e->signal, "%s", signal);
    snprintf(e->action, sizeof e->action, "%s", action);
    e->value = v;
    e->threshold = th;
    return e;
}

const gg_guard_event *gg_guard_events(const gg_guard *gd, int *n)
{
    *n = gd ? gd->nev : 0;
    return gd ? gd->ev : NULL;
}
void gg_guard_clear_events(gg_guard *gd) { if (gd) gd->nev = 0; }
const gg_guard_counters *gg_guard_counts(const gg_guard *gd) { return gd ? &gd->m.cnt : NULL; }
const gg_guard_stats *gg_guard_last(const gg_guard *gd) { return gd ? &gd->st : NULL; }

/* The tensors ranked by their share of the squared norm, "fc3.weight 81%,
 * fc2.weight 12%, ..." (top 3), for a spike's diagnosis. */
static void rank_layers(const gg_guard *gd, char *out, size_t cap)
{
    double total = 0;
    for (int i = 0; i < gd->np; i++) total += isfinite(gd->sq[i]) ? gd->sq[i] : 0;
    int used[3] = {-1, -1, -1};
    size_t k = 0;
    out[0] = 0;
    for (int r = 0; r < 3 && r < gd->np; r++) {
        int best = -1;
        for (int i = 0; i < gd->np; i++) {
            if (i == used[0] || i == used[1] || !isfinite(gd->sq[i])) continue;
            if (best < 0 || gd->sq[i] > gd->sq[best]) best = i;
        }
        if (best < 0) break;
        used[r] = best;
        k += (size_t)snprintf(out + k, cap - k, "%s%s %.0f%%", r ? ", " : "largest shares of the norm: ",
                              gd->pi[best].name, total > 0 ? 100 * gd->sq[best] / total : 0);
        if (k >= cap) break;
    }
}

/* Names of the tensors with non-finite gradients (up to 3). */
static void nonfinite_tensors(const gg_guard *gd, char *out, size_t cap)
{
    size_t k = 0;
    int n = 0;
    out[0] = 0;
    for (int i = 0; i < gd->np && n < 3 && k < cap; i++)
        if (!isfinite(gd->sq[i])) k += (size_t)snprintf(out + k, cap - k, "%s%s", n++ ? ", " : "non-finite gradient in ", gd->pi[i].name);
}

/* ---- monitor ------------------------------------------------------------- */

/* One pass: per-tensor squared norms, max |g|, non-finite count. The sums
 * are in double (gg_sumsq_max); a non-finite value makes its tensor's sum
 * non-finite, and only then are the values counted. */
static void measure(gg_guard *gd, double *total, double *maxabs, long *bad)
{
    size_t n;
    const float *gr = gg_graph_grads(gd->g, &n);
    double tot = 0, mx = 0;
    long nb = 0;
    for (int i = 0; i < gd->np; i++) {
        const float *x = gr + gd->pi[i].offset;
        float m;
        double s = gg_sumsq_max(x, gd->pi[i].numel, &m);
        long b = isfinite(s) ? 0 : gg_count_nonfinite(x, gd->pi[i].numel);
        gd->sq[i] = b ? NAN : s;
        tot += s;
        if (m > mx) mx = m;
        nb += b;
    }
    *total = nb ? NAN : sqrt(tot);
    *maxabs = mx;
    *bad = nb;
}

static void scale_grads(gg_guard *gd, int i, float c)
{
    size_t n;
    float *gr = gg_graph_grads(gd->g, &n) + gd->pi[i].offset;
    long len = (long)gd->pi[i].numel;
#pragma omp parallel for simd if (parallel: len > GG_PAR_MIN)
    for (long k = 0; k < len; k++) gr[k] *= c;
    gd->sq[i] *= (double)c * c;
}

static double clip_global(gg_guard *gd, double norm, double max_norm)
{
    double c = gg_clip_coef(norm, max_norm);
    if (c >= 1) return norm;
    for (int i = 0; i < gd->np; i++) scale_grads(gd, i, (float)c);
    return norm * c;
}

/* Unit-wise adaptive clipping: row r of a weight (units along dim 0). */
static int clip_agc(gg_guard *gd)
{
    size_t n;
    float *gr = gg_graph_grads(gd->g, &n);
    const float *p = gg_graph_params(gd->g, &n);
    int changed = 0;
    double lam = gd->c.agc_lambda, eps = gd->c.agc_eps;
    for (int i = 0; i < gd->np; i++) {
        if (gd->c.agc_exclude_last && i >= gd->last_layer) continue;
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

/* Applies the configured clip; returns the threshold in force (0: none). */
static double apply_clip(gg_guard *gd, double norm, int *clipped)
{
    gg_guard_config *c = &gd->c;
    double th = 0, after = norm;
    *clipped = 0;
    switch (c->clip) {
    case GG_CLIP_NONE:
        break;
    case GG_CLIP_VALUE: {
        size_t n;
        float *gr = gg_graph_grads(gd->g, &n);
        float v = c->clip_value;
        long ln = (long)n;
        int ch = 0;
#pragma omp parallel for reduction(| : ch) if (n > GG_PAR_MIN)
        for (long k = 0; k < ln; k++) {
            if (gr[k] > v) gr[k] = v, ch = 1;
            else if (gr[k] < -v) gr[k] = -v, ch = 1;
        }
        th = v;
        *clipped = ch;
        break;
    }
    case GG_CLIP_NORM:
        th = c->max_norm;
        after = clip_global(gd, norm, th);
        *clipped = after < norm;
        break;
    case GG_CLIP_TENSOR:
        th = c->max_norm;
        for (int i = 0; i < gd->np; i++) {
            double tn = sqrt(gd->sq[i]);
            double k = gg_clip_coef(tn, th);
            if (k < 1) {
                scale_grads(gd, i, (float)k);
                *clipped = 1;
            }
        }
        break;
    case GG_CLIP_AGC:
        th = c->agc_lambda;
        *clipped = clip_agc(gd);
        break;
    case GG_CLIP_PERCENTILE:
        if (gd->h.hist_n > 0) {
            th = gg_percentile(gd->h.hist, gd->h.hist_n, c->percentile, gd->scratch);
            after = clip_global(gd, norm, th);
            *clipped = after < norm;
        }
        /* AutoClip keeps the unclipped norms */
        gd->h.hist[gd->h.hist_pos] = norm;
        gd->h.hist_pos = (gd->h.hist_pos + 1) % c->history;
        if (gd->h.hist_n < c->history) gd->h.hist_n++;
        break;
    case GG_CLIP_ZSCORE:
        if (gd->h.ema_clip.n >= c->warmup && gd->h.ema_clip.n > 1) {
            double sd = gg_ema_std(&gd->h.ema_clip);
            th = gd->h.ema_clip.mean + c->clip_z * sd;
            after = clip_global(gd, norm, th);
            *clipped = after < norm;
        }
        /* the statistics follow the clipped value, so one spike does not
         * raise the bar for the next (ZClip) */
        gg_ema_push(&gd->h.ema_clip, after, c->ema_alpha);
        break;
    case GG_CLIP_COUNT:
        break;
    }
    return th;
}

static void add_noise(gg_guard *gd, double eta, long step)
{
    double var = gg_noise_var(eta, gd->c.noise_gamma, step);
    float sd = (float)sqrt(var);
    /* keyed on the step, so a resumed run draws the same noise */
    gg_rng_seed(&gd->noise_rng, 0x6e6f697365ull ^ (uint64_t)step * 0x9e3779b97f4a7c15ull);
    size_t n;
    float *gr = gg_graph_grads(gd->g, &n);
    /* sequential: one generator, so the noise is the same for any thread count */
    for (size_t k = 0; k < n; k++) gr[k] += sd * (float)gg_rng_normal(&gd->noise_rng);
}

/* ---- decide ------------------------------------------------------------ */

/* reset_moments on a skipped step: the optimizer forgets the moments of the
 * tensors the bad gradient sat in (non-finite ones; for a finite spike,
 * those holding more than their even share of the squared norm), so an
 * Adam second moment inflated by earlier large gradients does not keep
 * their steps small long after. */
static void reset_bad_moments(gg_guard *gd)
{
    double tot = 0;
    int nonfinite = 0;
    for (int i = 0; i < gd->np; i++) {
        if (!isfinite(gd->sq[i])) nonfinite = 1;
        else tot += gd->sq[i];
    }
    for (int i = 0; i < gd->np; i++) {
        int bad = nonfinite ? !isfinite(gd->sq[i]) : gd->sq[i] * gd->np > tot;
        if (bad) gg_optim_reset(gd->o, i);
    }
}

static void backoff(gg_guard *gd)
{
    gd->m.lr_scale *= gd->c.backoff_factor;
    if (gd->m.lr_scale < gd->c.backoff_min) gd->m.lr_scale = gd->c.backoff_min;
    gd->m.good_since_backoff = 0;
    gd->m.cnt.backoffs++;
}

/* Turns a response into a verdict; records the event. */
static gg_verdict respond(gg_guard *gd, gg_response r, long step, int epoch, const char *signal, double v, double th,
                          const char *detail, double norm)
{
    gg_verdict vd = GG_GUARD_PROCEED;
    const char *act = resp_names[r];
    switch (r) {
    case GG_DO_NOTHING:
        break;
    case GG_DO_CLIP: {
        /* clip to the threshold in the norm's own units (the EMA's level) */
        double to = exp(gd->h.ema_g.mean + gd->c.spike_z * gg_ema_std(&gd->h.ema_g));
        if (isfinite(norm) && norm > to) {
            clip_global(gd, norm, to);
            gd->m.cnt.clipped++;
        }
        break;
    }
    case GG_DO_SKIP:
        vd = GG_GUARD_SKIP;
        break;
    case GG_DO_BACKOFF:
        backoff(gd);
        vd = GG_GUARD_SKIP;
        break;
    case GG_DO_ROLLBACK:
        vd = GG_GUARD_ROLLBACK;
        break;
    case GG_DO_STOP:
        vd = GG_GUARD_STOP;
        break;
    case GG_DO_NOISE:
        /* annealed from its full strength at the step it was switched on;
         * an always-on noise (noise_eta) is already there */
        if (!gd->m.noise_on && !(gd->c.noise_eta > 0)) gd->h.noise_t = 0;
        gd->m.noise_on = 1;
        break;
    case GG_DO_COUNT:
        break;
    }
    if (vd == GG_GUARD_SKIP && ++gd->m.consecutive_skips > gd->c.max_skips) {
        vd = GG_GUARD_ROLLBACK;
        act = "rollback";
    }
    if (r != GG_DO_NOTHING) gd->pending_healthy = 0;
    if (vd == GG_GUARD_ROLLBACK && !gd->sn[gd->confirmed].valid) {
        vd = GG_GUARD_STOP;
        act = "stop";
    }
    if (vd == GG_GUARD_ROLLBACK && gd->m.rollbacks_used >= gd->c.rollback_budget) {
        vd = GG_GUARD_STOP;
        act = "stop";
    }
    gg_guard_event *e = event(gd, step, epoch, signal, v, th, act);
    if (e && detail) snprintf(e->detail, sizeof e->detail, "%s", detail);
    if (e && vd == GG_GUARD_STOP && gd->m.rollbacks_used >= gd->c.rollback_budget && r == GG_DO_ROLLBACK) {
        size_t l = strlen(e->detail);
        snprintf(e->detail + l, sizeof e->detail - l, "%srollback budget of %d used up", l ? "; " : "",
                 gd->c.rollback_budget);
    }
    return vd;
}

static gg_verdict worse(gg_verdict a, gg_verdict b) { return a > b ? a : b; }

/* One pass of the quiet-failure monitor; its findings become events and
 * responses: a stall or a vanishing profile by on_stall / on_vanishing, a
 * collapse by on_collapse, the per-layer signals are warnings. *stalled is
 * set when a stall's response stops the run. */
static gg_verdict quiet_pass(gg_guard *gd, long step, int epoch, double norm, int *stalled)
{
    gg_guard_config *c = &gd->c;
    int nf = gg_quiet_monitor(gd->q, step, gd->sq, gg_optim_update_norms(gd->o), gd->h.ema_s.n ? gd->h.ema_s.mean : NAN,
                              gd->chance, gd->lr_now * gd->m.lr_scale, gd->qf, (int)(sizeof gd->qf / sizeof gd->qf[0]));
    /* a pending snapshot taken since the last pass may hold a dead or
     * stalled network: it must not become the rollback target */
    if (gg_quiet_unhealthy(gd->q)) gd->pending_healthy = 0;
    gg_verdict v = GG_GUARD_PROCEED;
    for (int i = 0; i < nf; i++) {
        const gg_quiet_finding *f = &gd->qf[i];
        const char *name = gg_quiet_name(f->sig);
        gg_response r = GG_DO_NOTHING;
        switch (f->sig) {
        case GG_Q_STALL:
            gd->m.cnt.stalls++;
            r = c->on_stall;
            break;
        case GG_Q_VANISHING:
            gd->m.cnt.vanishing++;
            r = c->on_vanishing;
            break;
        case GG_Q_COLLAPSE:
            gd->m.cnt.collapses++;
            gd->m.collapse_ceiling = 1;
            r = c->on_collapse;
            break;
        case GG_Q_DEAD:
            gd->m.cnt.dead++;
            break;
        case GG_Q_SATURATION:
            gd->m.cnt.saturated++;
            break;
        case GG_Q_UPDATE_RATIO:
            gd->m.cnt.update_ratio++;
            break;
        case GG_Q_STALL_END: {
            gg_guard_event *e = event(gd, step, epoch, name, f->value, f->threshold, "info");
            if (e) snprintf(e->detail, sizeof e->detail, "%s%s", f->detail,
                            gd->m.noise_on ? "; the gradient noise anneals on" : "");
            continue;
        }
        case GG_Q_COUNT:
            continue;
        }
        gg_verdict fv = respond(gd, r, step, epoch, name, f->value, f->threshold, f->detail, norm);
        if (fv == GG_GUARD_STOP && (f->sig == GG_Q_STALL || f->sig == GG_Q_VANISHING)) *stalled = 1;
        v = worse(v, fv);
    }
    return v;
}

gg_guard_decision gg_guard_check(gg_guard *gd, long step, int epoch, double loss)
{
    gg_guard_decision d = {GG_GUARD_PROCEED, 1.0f, 0, 0, 0};
    gg_guard_config *c = &gd->c;
    double norm, maxabs;
    long bad;
    measure(gd, &norm, &maxabs, &bad);
    gg_guard_stats *st = &gd->st;
    memset(st, 0, sizeof *st);
    st->loss = loss;
    st->grad_norm = norm;
    st->max_abs_grad = maxabs;
    st->nonfinite = bad;
    char detail[256];
    gg_verdict v = GG_GUARD_PROCEED;
    if (bad || !isfinite(loss)) {
        gd->m.cnt.nonfinite++;
        if (bad) nonfinite_tensors(gd, detail, sizeof detail);
        else snprintf(detail, sizeof detail, "the loss is %g", loss);
        gg_response r = c->on_nonfinite == GG_DO_CLIP || c->on_nonfinite == GG_DO_NOTHING ? GG_DO_SKIP : c->on_nonfinite;
        v = respond(gd, r, step, epoch, "nonfinite", bad ? (double)bad : loss, 0, detail, norm);
        d.diagnose = 1;
        d.verdict = v;
        d.lr_scale = (float)gd->m.lr_scale;
        st->lr_scale = gd->m.lr_scale;
        if (v == GG_GUARD_SKIP) {
            gd->m.cnt.skipped++;
            if (c->reset_moments) reset_bad_moments(gd);
        }
        return d;
    }
    double lg = log(norm + 1e-30), ll = loss > 0 ? log(loss) : NAN;
    int warm = gd->h.ema_g.n >= c->warmup;
    st->z_grad = warm ? gg_ema_z(&gd->h.ema_g, lg) : 0;
    st->z_loss = warm && isfinite(ll) && gd->h.ema_l.n > 0 ? gg_ema_z(&gd->h.ema_l, ll) : 0;
    int spike = warm && st->z_grad > c->spike_z;
    int lspike = warm && st->z_loss > c->loss_z;
    /* a loss far above its own running level is a divergence, warm-up or
     * not: the first steps of a too-brave run are where it happens */
    if (gd->h.loss_first == 0 && isfinite(ll)) gd->h.loss_first = loss;
    int blowup = c->loss_blowup > 0 && gd->h.ema_l.n > 0 && isfinite(ll) && ll > gd->h.ema_l.mean + log(c->loss_blowup) &&
                 loss > c->loss_blowup_floor * gd->h.loss_first;
    if (blowup) {
        snprintf(detail, sizeof detail, "loss %.4g is over %gx its running level %.4g (and over %g of the first loss %.4g)",
                 loss, c->loss_blowup, exp(gd->h.ema_l.mean), c->loss_blowup_floor, gd->h.loss_first);
        v = worse(v, respond(gd, c->on_blowup, step, epoch, "loss_blowup", loss,
                             c->loss_blowup * exp(gd->h.ema_l.mean), detail, norm));
        lspike = 1; /* not part of the statistics */
    }
    if (spike) {
        gd->m.cnt.spikes++;
        rank_layers(gd, detail, sizeof detail);
        v = worse(v, respond(gd, c->on_spike, step, epoch, "grad_spike", norm,
                             exp(gd->h.ema_g.mean + c->spike_z * gg_ema_std(&gd->h.ema_g)), detail, norm));
    }
    if (lspike && !blowup) {
        gd->m.cnt.spikes++;
        snprintf(detail, sizeof detail, "loss %.4g against a running mean of %.4g", loss, exp(gd->h.ema_l.mean));
        v = worse(v, respond(gd, c->on_loss_spike, step, epoch, "loss_spike", loss,
                             exp(gd->h.ema_l.mean + c->loss_z * gg_ema_std(&gd->h.ema_l)), detail, norm));
    }
    /* the statistics learn a spike as its clipped value (as ZClip does): one
     * spike barely moves them, while a lasting shift of the norm's level
     * (after a rollback or a change of rate) is learned in a few dozen steps
     * instead of being clipped for ever */
    gg_ema_push(&gd->h.ema_g, spike ? gd->h.ema_g.mean + c->spike_z * gg_ema_std(&gd->h.ema_g) : lg, c->ema_alpha);
    if (!lspike && isfinite(ll)) gg_ema_push(&gd->h.ema_l, ll, c->ema_alpha);
    /* slow blow-up: a steady climb of the log norm over the window */
    if (gd->ring_n > 0) {
        gd->h.ring[gd->h.ring_pos % gd->ring_n] = lg;
        gd->h.ring_pos++;
        if (gd->h.trend_cool > 0) gd->h.trend_cool--;
        if (gd->h.ring_pos >= gd->ring_n && gd->h.trend_cool == 0 && warm) {
            double slope = gg_trend_slope(gd->h.ring, gd->ring_n, gd->h.ring_pos % gd->ring_n);
            double growth = exp(slope * (gd->ring_n - 1));
            if (growth > c->trend_growth) {
                gd->m.cnt.trends++;
                snprintf(detail, sizeof detail, "gradient norm grew %.3gx over %d steps", growth, gd->ring_n);
                v = worse(v, respond(gd, c->on_trend, step, epoch, "trend", growth, c->trend_growth, detail, norm));
                gd->h.trend_cool = gd->ring_n;
            }
        }
    }
    /* collapse: the smoothed loss back at chance level for a window after
     * it had been well below it (dead units, a silent divergence) */
    if (isfinite(loss)) gg_ema_push(&gd->h.ema_s, loss, 0.1);
    if (gd->chance > 0 && isfinite(loss)) {
        double ls = gd->h.ema_s.mean;
        if (gd->h.ema_s.n >= 10 && ls < gd->h.best_s) gd->h.best_s = ls;
        gd->h.near_chance = gg_collapsed(ls, gd->h.best_s, gd->chance, 0.03, 0.75) ? gd->h.near_chance + 1 : 0;
        if (gd->h.near_chance == gd->collapse_window) {
            gd->m.cnt.collapses++;
            gd->m.collapse_ceiling = 1;
            snprintf(detail, sizeof detail, "loss %.4g is back at the chance level %.4g for %d steps (it had reached %.4g)",
                     ls, gd->chance, gd->collapse_window, gd->h.best_s);
            v = worse(v, respond(gd, c->on_collapse, step, epoch, "collapse", ls, gd->chance, detail, norm));
            gd->h.near_chance = 0;
        }
    }
    /* the quiet failures, at the monitor interval */
    if (gd->q && step % (c->monitor_every > 0 ? c->monitor_every : 50) == 0)
        v = worse(v, quiet_pass(gd, step, epoch, norm, &d.stalled));
    if (v != GG_GUARD_STOP) d.stalled = 0;
    if (v == GG_GUARD_PROCEED) {
        int clipped;
        st->clip_threshold = apply_clip(gd, norm, &clipped);
        if (clipped) gd->m.cnt.clipped++;
        d.clipped = clipped;
        if (c->noise_eta > 0) add_noise(gd, c->noise_eta, gd->h.noise_t++);
        else if (gd->m.noise_on) add_noise(gd, c->remedy_noise_eta, gd->h.noise_t++);
    }
    if (v == GG_GUARD_SKIP) {
        gd->m.cnt.skipped++;
        if (c->reset_moments) reset_bad_moments(gd);
    } else if (v == GG_GUARD_PROCEED) {
        gd->m.consecutive_skips = 0;
    }
    double after = 0;
    for (int i = 0; i < gd->np; i++) after += gd->sq[i];
    st->grad_norm_clipped = sqrt(after);
    /* the learning rate climbs back geometrically after a back-off */
    if (v == GG_GUARD_PROCEED && gd->m.lr_scale < gd->m.lr_ceiling && c->backoff_recover > 0) {
        gd->m.good_since_backoff++;
        gd->m.lr_scale *= pow(1.0 / c->backoff_factor, 1.0 / c->backoff_recover);
        if (gd->m.lr_scale > gd->m.lr_ceiling) gd->m.lr_scale = gd->m.lr_ceiling;
    }
    st->lr_scale = gd->m.lr_scale;
    d.verdict = v;
    d.lr_scale = (float)gd->m.lr_scale;
    /* the update norms of this step are read by the quiet monitor at the
     * next step and by the per-layer statistics (layers.csv) after it: an
     * optimizer that measures them on request measures them then */
    long next = step + 1;
    if ((gd->q && next % (c->monitor_every > 0 ? c->monitor_every : 50) == 0) ||
        (c->layer_every > 0 && next % c->layer_every == 0))
        gg_optim_want_update_norms(gd->o);
    return d;
}

static void snapshot_due(gg_guard *gd, const gg_train_pos *pos);

gg_guard_decision gg_guard_after_step(gg_guard *gd, const gg_train_pos *pos, int applied)
{
    gg_guard_decision d = {GG_GUARD_PROCEED, (float)gd->m.lr_scale, 0, 0, 0};
    if (!applied) return d;
    /* the optimizer measured each tensor's update in its own pass: a
     * non-finite update means non-finite weights now */
    int bad = gg_optim_bad_update(gd->o);
    if (bad >= 0 && bad < gd->np) {
        const double *un = gg_optim_update_norms(gd->o);
        char detail[256];
        snprintf(detail, sizeof detail, "the update of %s is not finite", gd->pi[bad].name);
        gd->m.cnt.nonfinite++;
        /* the norm itself when this step measured it */
        double v = un && !isfinite(un[bad]) ? un[bad] : NAN;
        d.verdict = respond(gd, GG_DO_ROLLBACK, pos->step - 1, pos->epoch, "nonfinite_weights", v, 0, detail, NAN);
        return d;
    }
    gd->h.good_steps++;
    if (gd->h.good_steps % gd->c.snapshot_every == 0) snapshot_due(gd, pos);
    return d;
}

static void take(gg_guard *gd, int k, const gg_train_pos *pos)
{
    size_t n;
    struct gg_snap *sp = &gd->sn[k];
    memcpy(sp->p, gg_graph_params(gd->g, &n), gd->np_n * sizeof(float));
    memcpy(sp->b, gg_graph_buffers(gd->g, &n), gd->nb_n * sizeof(float));
    float *os = gg_optim_state(gd->o, &n);
    if (n) memcpy(sp->o, os, gd->no_n * sizeof(float));
    sp->pos = *pos;
    /* the optimizer's step count belongs to its state */
    sp->optim_steps = gg_optim_steps(gd->o);
    /* and the guard's history belongs to the state it was measured on */
    gg_guard_hist_copy(&sp->h, &gd->h, &gd->c);
    sp->valid = 1;
}

void gg_guard_snapshot(gg_guard *gd, const gg_train_pos *pos)
{
    take(gd, gd->confirmed, pos);
    gd->sn[1 - gd->confirmed].valid = 0;
    gd->pending_healthy = 0;
}

/* Every snapshot_every good steps: promote the pending snapshot if the run
 * stayed healthy since it was taken, then take a new pending one. */
static void snapshot_due(gg_guard *gd, const gg_train_pos *pos)
{
    int pend = 1 - gd->confirmed;
    if (gd->sn[pend].valid && gd->pending_healthy) {
        gd->confirmed = pend;
        pend = 1 - pend;
    }
    gd->sn[pend].valid = 0;
    /* no new pending state while the loss sits at chance after progress,
     * or while the quiet monitor sees a stall or dead units */
    if (gd->h.near_chance == 0 && !gg_quiet_unhealthy(gd->q)) {
        take(gd, pend, pos);
        gd->pending_healthy = 1;
    }
}

gg_status gg_guard_rollback(gg_guard *gd, gg_train_pos *pos)
{
    struct gg_snap *sp = &gd->sn[gd->confirmed];
    if (!sp->valid) return gg_fail(GG_E_STATE, "guard: no snapshot to roll back to");
    /* a failure soon after the last one says the rate is too high, and the
     * backed-off rate becomes a ceiling; an isolated one (a bad batch,
     * skipped on replay) only backs off for a while */
    long failed_at = pos->step;
    int repeated = gd->m.last_failure >= 0 && failed_at - gd->m.last_failure <= 2L * gd->c.snapshot_every;
    /* failures spread out in time are isolated one by one, but a run that
     * keeps failing is at a rate it cannot hold: from half the budget on,
     * each rollback lowers the ceiling, so the run slows down before the
     * budget would stop it (a tanh RNN at Adam lr 0.3 rolled back ten times,
     * 600 to 2,000 steps apart, climbing back to 0.3 after each) */
    int persistent = gd->m.rollbacks_used >= (gd->c.rollback_budget + 1) / 2;
    gd->m.last_failure = failed_at;
    size_t n;
    memcpy(gg_graph_params(gd->g, &n), sp->p, gd->np_n * sizeof(float));
    memcpy(gg_graph_buffers(gd->g, &n), sp->b, gd->nb_n * sizeof(float));
    float *os = gg_optim_state(gd->o, &n);
    if (n) memcpy(os, sp->o, gd->no_n * sizeof(float));
    gg_optim_set_steps(gd->o, sp->optim_steps);
    *pos = sp->pos;
    gd->sn[1 - gd->confirmed].valid = 0;
    gd->pending_healthy = 0;
    gd->m.rollbacks_used++;
    gd->m.cnt.rollbacks++;
    gd->m.consecutive_skips = 0;
    backoff(gd);
    /* a rate that killed the network's units is more than twice too high,
     * and finding it out took a detection window: back off twice */
    if (gd->m.collapse_ceiling) backoff(gd);
    /* a collapse is a rate that silently diverged: not tried again either */
    if (repeated || persistent || gd->m.collapse_ceiling) gd->m.lr_ceiling = gd->m.lr_scale;
    gd->m.collapse_ceiling = 0;
    /* the detectors compare against the history of the restored state, not
     * the failed branch's (a loss judged against a trained run's level
     * after a rollback to its first step would be a "blow-up" at once) */
    gg_guard_hist_copy(&gd->h, &sp->h, &gd->c);
    gg_quiet_reset(gd->q);
    gg_graph_zero_grad(gd->g);
    return GG_OK;
}

void gg_guard_set_chance(gg_guard *gd, double loss) { if (gd) gd->chance = loss; }
void gg_guard_set_lr(gg_guard *gd, double lr) { if (gd) gd->lr_now = lr; }

const gg_guard_layer *gg_guard_layers(const gg_guard *gd, int *n)
{
    *n = 0;
    return gd ? gg_quiet_layers(gd->q, n) : NULL;
}

int gg_guard_layer_of(const gg_guard *gd, int i) { return gd ? gg_quiet_layer_of(gd->q, i) : -1; }

void gg_guard_diagnosis(gg_guard *gd, const gg_check_info *ci, const char *batch_desc)
{
    /* attach to the newest event (the one that asked for the diagnosis) */
    if (gd->nev == 0) return;
    gg_guard_event *e = &gd->ev[gd->nev - 1];
    size_t l = strlen(e->detail);
    if (ci && ci->found) {
        if (ci->input[0] && !ci->backward && strcmp(ci->name, ci->input) == 0)
            snprintf(e->detail + l, sizeof e->detail - l, "%sfirst non-finite value: input '%s' (element %ld = %g) in %s",
                     l ? "; " : "", ci->input, ci->index, (double)ci->value, batch_desc);
        else
            snprintf(e->detail + l, sizeof e->detail - l, "%sfirst non-finite value: op '%s' (%s) of layer '%s' in the %s pass%s%s, in %s",
                     l ? "; " : "", ci->name, ci->op, ci->layer[0] ? ci->layer : "-", ci->backward ? "backward" : "forward",
                     ci->backward && ci->input[0] ? ", gradient of " : "", ci->backward ? ci->input : "", batch_desc);
    } else {
        snprintf(e->detail + l, sizeof e->detail - l, "%sre-run of %s in check mode found no non-finite op (the values overflow only in the optimizer or the loss)",
                 l ? "; " : "", batch_desc);
    }
}

/* ---- state for checkpoints (the named-field table is in state.c) ---------- */

static gg_guard_state_parts parts(const gg_guard *gd)
{
    gg_guard *m = (gg_guard *)gd;
    gg_guard_state_parts p = {&m->h, &m->m, gg_quiet_history(m->q), gd->c.trend_window, gd->c.history,
                              gg_quiet_ring_len(m->q)};
    return p;
}

int gg_guard_state_count(const gg_guard *gd)
{
    if (!gd) return 0;
    gg_guard_state_parts p = parts(gd);
    return gg_guard_parts_count(&p);
}

int gg_guard_state_get(const gg_guard *gd, int i, const char **name, char *buf, size_t cap)
{
    if (!gd || !name) return -1;
    gg_guard_state_parts p = parts(gd);
    return gg_guard_parts_get(&p, i, name, buf, cap);
}

gg_status gg_guard_state_set(gg_guard *gd, const char *name, const char *text)
{
    if (!gd || !name || !text) return gg_fail(GG_E_ARG, "gg_guard_state_set: guard, name and text are required");
    gg_guard_state_parts p = parts(gd);
    return gg_guard_parts_set(&p, name, text);
}

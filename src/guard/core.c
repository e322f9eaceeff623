/*
 * core.c - the guard's decision core: statistics in, a verdict with its
 * reasons out.
 *
 * It knows no graph and no optimizer. Each step a trainer hands it what it
 * measured (gg_guard_obs: the loss, per-tensor squared gradient norms, max
 * |g|, non-finite count, per-layer statistics when measured, the rate);
 * the core detects (non-finite values; spikes of the log gradient norm and
 * log loss against their own EMA mean/variance after a warm-up; a loss far
 * above its running level; a steady growth of the log norm over a window;
 * a collapse to chance level; the quiet failures of quiet.c), decides by
 * policy, and returns the verdict and what carrying it out takes
 * (gg_guard_act: per-tensor gradient scale factors, an element or
 * unit-wise clip, gradient noise, optimizer moments to reset, the rate's
 * scale, a snapshot to take or restore). Carrying it out is the trainer's:
 * src/train/guard_act.c does it for gradguard's graph and optimizers, the
 * Python package for PyTorch's.
 *
 * All of its state is in state.h's structs: the history (restored with a
 * snapshot), the memory (kept across rollbacks) and the quiet monitor's
 * windows; the snapshots themselves are the trainer's, the core keeps
 * their bookkeeping (which is confirmed, their positions, their history).
 */
#include "core/error.h"
#include "core/reduce.h"
#include "detect.h"
#include "io/schema.h"
#include "quiet.h"
#include "state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GG_MAX_EVENTS 64

/* the detector table's rows (below, "detectors") that others read */
enum { DET_COLLAPSE = 0, DET_PLATEAU = 5 };
struct gg_guard_core;
static double smoothed_loss(const struct gg_guard_core *gd);

struct gg_guard_core {
    gg_guard_config c;
    int n;               /* parameter tensors */
    char (*name)[GG_NAME_MAX];
    char (*layer)[GG_NAME_MAX];
    double *sq;          /* per-tensor squared gradient norms, as scaled by this step's clips */
    float *scale;        /* per-tensor factors of this step's clips (the act's) */
    unsigned char *reset;/* per-tensor: reset its optimizer moments (the act's) */
    double *scratch;     /* AutoClip's percentile scratch */
    int ring_n;          /* the trend window's length */
    int last_layer;      /* index of the first tensor of the final layer */
    gg_guard_hist h;     /* the trajectory's statistics: snapshots copy it, a rollback restores it (state.h) */
    gg_guard_memory m;   /* the decisions over the whole run: a rollback keeps it (state.h) */
    /* snapshot bookkeeping: the confirmed one is the rollback target; a
     * pending one becomes confirmed only after snapshot_every healthy
     * steps, so a state taken just as a run began to fail is never what it
     * returns to. Each keeps the guard's history as it was then; the
     * trainer keeps the arenas in slots of the same numbers. Slot
     * GG_GUARD_TRIAL_SLOT holds a trial's start (below). */
    struct gg_snap {
        gg_train_pos pos;
        int valid;
        gg_guard_hist h;
    } sn[GG_GUARD_SLOTS];
    int confirmed;
    int pending_healthy;
    /* the plateau watch's trial as a branch (trial_due, undo_trial): the
     * state before the step its window ends at, in slot GG_GUARD_TRIAL_SLOT
     * with the rest of the guard's state then (its memory but the counters,
     * the snapshot bookkeeping, the quiet monitor's windows). While a trial
     * is open no snapshot is taken, so the slots it would restore are still
     * those of its start; a trial that did not help returns the run there,
     * and the replay at the old rate is the run the trial interrupted */
    struct gg_trial {
        int taken;             /* sn[GG_GUARD_TRIAL_SLOT] holds the state before step `at` */
        int open;              /* the watch fired at `at`: the trial runs from that state */
        int undo;              /* this check undoes it (act.undo_trial) */
        long at;
        double level, window;  /* the watch's level and next window as its firing set them */
        gg_guard_memory m;     /* m.tensor_lr is the trial's own array */
        int confirmed, pending_healthy, valid[2];
        gg_quiet_hist q;       /* q.ring is the trial's own array */
    } trial;
    /* collapse and stall: the loss back at (or stuck at) chance level */
    double chance;
    gg_guard_stats st;
    gg_guard_event ev[GG_MAX_EVENTS];
    int nev;
    /* quiet failures (quiet.c), from the per-layer statistics */
    gg_quiet *q;
    gg_quiet_finding qf[8];
    double lr_now;
    double qk_tau;     /* this step's QK-clip threshold (0: none) */
    double raise_by;   /* the factor a raise response puts on the rate (slow_rate) */
    float *tensor_lr;  /* the act's copy of m.tensor_lr */
    int tensor_lr_new; /* m.tensor_lr changed (or was loaded) since the last act */
    /* this check's rollbacks: those max_skips escalated (their events; two
     * skipping responses in one step escalate twice), and whether another
     * response asked for one; a probe may turn only escalations back into a
     * skip (one whose event found no room is not probed) */
    int esc_event[4], nesc, other_rollback;
    int skip_counted; /* this check's step is already counted in m.consecutive_skips */
    const char *esc_act[4]; /* the response each escalation replaced ("skip", "backoff") */
};

static const char *clip_names[GG_CLIP_COUNT] = {"none", "value", "norm", "tensor", "agc", "percentile", "zscore"};
static const char *resp_names[GG_DO_COUNT] = {"warn", "clip", "skip", "backoff", "rollback", "stop", "noise",
                                              "qk_clip", "z_loss", "raise"};

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

size_t gg_abi_size(const char *type)
{
#define ABI(T) {#T, sizeof(T)}
    static const struct { const char *name; size_t size; } sizes[] = {
        ABI(gg_guard_config), ABI(gg_guard_obs),   ABI(gg_guard_act),      ABI(gg_guard_head),
        ABI(gg_guard_layer),  ABI(gg_guard_tensor), ABI(gg_guard_stats),   ABI(gg_guard_event),
        ABI(gg_guard_counters), ABI(gg_train_pos), ABI(gg_init_report),
    };
#undef ABI
    for (size_t i = 0; type && i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(type, sizes[i].name) == 0) return sizes[i].size;
    return 0;
}

/* The defaults are the key table's (keys.c). */
gg_guard_config gg_guard_defaults(void)
{
    gg_guard_config c;
    memset(&c, 0, sizeof c);
    gg_schema_defaults(gg_guard_keys, &c);
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
          c->loss_blowup_floor < INFINITY && c->loss_blowup_z >= 0 && c->loss_blowup_z < INFINITY))
        return gg_fail(GG_E_CONFIG, "guard.loss_blowup %g, loss_blowup_floor %g and loss_blowup_z %g must be finite and >= 0",
                       c->loss_blowup, c->loss_blowup_floor, c->loss_blowup_z);
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
    /* qk_clip rescales attention heads: only attention-logit growth names them */
    static const struct { const char *key; size_t off; } resp_keys[] = {
        {"on_nonfinite", offsetof(gg_guard_config, on_nonfinite)}, {"on_spike", offsetof(gg_guard_config, on_spike)},
        {"on_loss_spike", offsetof(gg_guard_config, on_loss_spike)}, {"on_trend", offsetof(gg_guard_config, on_trend)},
        {"on_blowup", offsetof(gg_guard_config, on_blowup)}, {"on_collapse", offsetof(gg_guard_config, on_collapse)},
        {"on_max_spike", offsetof(gg_guard_config, on_max_spike)}, {"on_stall", offsetof(gg_guard_config, on_stall)},
        {"on_vanishing", offsetof(gg_guard_config, on_vanishing)}, {"on_dead", offsetof(gg_guard_config, on_dead)},
        {"on_saturation", offsetof(gg_guard_config, on_saturation)},
        {"on_vanished", offsetof(gg_guard_config, on_vanished)},
        {"on_logit_drift", offsetof(gg_guard_config, on_logit_drift)}, {"on_slow", offsetof(gg_guard_config, on_slow)},
        {"on_rate_jump", offsetof(gg_guard_config, on_rate_jump)}, {"on_worse", offsetof(gg_guard_config, on_worse)},
        {"on_update_ratio", offsetof(gg_guard_config, on_update_ratio)},
        {"on_attention", offsetof(gg_guard_config, on_attention)},
    };
    for (size_t i = 0; i < sizeof resp_keys / sizeof resp_keys[0]; i++) {
        gg_response r = *(const gg_response *)((const char *)c + resp_keys[i].off);
        int attn = resp_keys[i].off == offsetof(gg_guard_config, on_attention);
        int slow = resp_keys[i].off == offsetof(gg_guard_config, on_slow);
        if (r == GG_DO_QK_CLIP && !attn)
            return gg_fail(GG_E_CONFIG, "guard.%s: qk_clip answers attention-logit growth only (guard.on_attention)",
                           resp_keys[i].key);
        if (r == GG_DO_RAISE && !slow)
            return gg_fail(GG_E_CONFIG, "guard.%s: raise answers a rate far too small only (guard.on_slow)",
                           resp_keys[i].key);
    }
    /* a factor of 1 or less would put every rate on probation, or every
     * classifier near chance over the line */
    if (c->rate_jump != 0 && !(c->rate_jump > 1))
        return gg_fail(GG_E_CONFIG, "guard.rate_jump %g must be 0 (off) or over 1", c->rate_jump);
    if (c->worse_factor != 0 && !(c->worse_factor > 1))
        return gg_fail(GG_E_CONFIG, "guard.worse_factor %g must be 0 (off) or over 1", c->worse_factor);
    if (!(c->slow_target >= c->slow_ratio))
        return gg_fail(GG_E_CONFIG, "guard.slow_target %g must be at least slow_ratio %g", c->slow_target, c->slow_ratio);
    /* every field in the range a config may give it (keys.c) */
    return gg_schema_check(gg_guard_keys, c, "guard");
}

gg_guard_core *gg_guard_core_new(const gg_guard_config *cfg, int n, const gg_guard_tensor *tensors, int max_layers)
{
    if (!cfg || n < 0 || (n > 0 && !tensors)) {
        gg_fail(GG_E_ARG, "gg_guard_core_new: a config and the %d tensors' descriptions are required", n);
        return NULL;
    }
    if (check_config(cfg)) return NULL;
    gg_guard_core *gd = calloc(1, sizeof *gd);
    if (!gd) {
        gg_fail(GG_E_NOMEM, "guard: out of memory");
        return NULL;
    }
    gd->c = *cfg;
    gd->n = n;
    gd->name = calloc((size_t)n + 1, sizeof *gd->name);
    gd->layer = calloc((size_t)n + 1, sizeof *gd->layer);
    gd->tensor_lr = calloc((size_t)n + 1, sizeof *gd->tensor_lr);
    gd->m.tensor_lr = calloc((size_t)n + 1, sizeof *gd->m.tensor_lr);
    gd->m.n_tensors = n;
    gd->sq = calloc((size_t)n + 1, sizeof *gd->sq);
    gd->scale = calloc((size_t)n + 1, sizeof *gd->scale);
    gd->reset = calloc((size_t)n + 1, 1);
    gd->ring_n = cfg->trend_window;
    int hist_ok = gg_guard_hist_alloc(&gd->h, cfg);
    gd->scratch = calloc((size_t)cfg->history, sizeof *gd->scratch);
    for (int k = 0; k < GG_GUARD_SLOTS; k++) hist_ok &= gg_guard_hist_alloc(&gd->sn[k].h, cfg);
    gd->trial.m.tensor_lr = calloc((size_t)n + 1, sizeof *gd->trial.m.tensor_lr);
    gg_guard_hist_init(&gd->h);
    gg_guard_memory_init(&gd->m);
    if (!gd->name || !gd->layer || !gd->tensor_lr || !gd->m.tensor_lr || !gd->sq || !gd->scale || !gd->reset ||
        !hist_ok || !gd->scratch || !gd->trial.m.tensor_lr) {
        gg_guard_core_free(gd);
        gg_fail(GG_E_NOMEM, "guard: out of memory for its state (%d tensors)", n);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!tensors[i].name) {
            gg_guard_core_free(gd);
            gg_fail(GG_E_ARG, "gg_guard_core_new: tensor %d has no name", i);
            return NULL;
        }
        snprintf(gd->name[i], GG_NAME_MAX, "%s", tensors[i].name);
        snprintf(gd->layer[i], GG_NAME_MAX, "%s", tensors[i].layer ? tensors[i].layer : "");
    }
    /* the final layer: the layer of the last parameter tensor */
    gd->last_layer = n;
    for (int i = n - 1; i >= 0; i--) {
        const char *li = tensors[i].layer ? tensors[i].layer : "", *ll = tensors[n - 1].layer ? tensors[n - 1].layer : "";
        if (strcmp(li, ll) != 0) break;
        gd->last_layer = i;
    }
    if (cfg->quiet && !(gd->q = gg_quiet_new(cfg, max_layers))) {
        gg_guard_core_free(gd);
        return NULL;
    }
    if (gd->q && !(gd->trial.q.ring = calloc((size_t)gg_quiet_ring_len(gd->q) + 1, sizeof *gd->trial.q.ring))) {
        gg_guard_core_free(gd);
        gg_fail(GG_E_NOMEM, "guard: out of memory for its state (%d tensors)", n);
        return NULL;
    }
    return gd;
}

void gg_guard_core_free(gg_guard_core *gd)
{
    if (!gd) return;
    free(gd->name);
    free(gd->layer);
    free(gd->tensor_lr);
    free(gd->m.tensor_lr);
    free(gd->sq);
    free(gd->scale);
    free(gd->reset);
    gg_guard_hist_free(&gd->h);
    for (int k = 0; k < GG_GUARD_SLOTS; k++) gg_guard_hist_free(&gd->sn[k].h);
    free(gd->trial.m.tensor_lr);
    free(gd->trial.q.ring);
    free(gd->scratch);
    gg_quiet_free(gd->q);
    free(gd);
}

/* ---- events ---------------------------------------------------------------- */

static gg_guard_event *event(gg_guard_core *gd, long step, int epoch, const char *signal, double v, double th,
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

const gg_guard_event *gg_guard_core_events(const gg_guard_core *gd, int *n)
{
    *n = gd ? gd->nev : 0;
    return gd ? gd->ev : NULL;
}
void gg_guard_core_clear_events(gg_guard_core *gd) { if (gd) gd->nev = 0; }
const gg_guard_counters *gg_guard_core_counts(const gg_guard_core *gd) { return gd ? &gd->m.cnt : NULL; }
const gg_guard_stats *gg_guard_core_last(const gg_guard_core *gd) { return gd ? &gd->st : NULL; }

/* The tensors ranked by their share of the squared norm, "fc3.weight 81%,
 * fc2.weight 12%, ..." (top 3), for a spike's diagnosis. */
static void rank_layers(const gg_guard_core *gd, char *out, size_t cap)
{
    double total = 0;
    for (int i = 0; i < gd->n; i++) total += isfinite(gd->sq[i]) ? gd->sq[i] : 0;
    int used[3] = {-1, -1, -1};
    size_t k = 0;
    out[0] = 0;
    for (int r = 0; r < 3 && r < gd->n; r++) {
        int best = -1;
        for (int i = 0; i < gd->n; i++) {
            if (i == used[0] || i == used[1] || !isfinite(gd->sq[i])) continue;
            if (best < 0 || gd->sq[i] > gd->sq[best]) best = i;
        }
        if (best < 0) break;
        used[r] = best;
        k += (size_t)snprintf(out + k, cap - k, "%s%s %.0f%%", r ? ", " : "largest shares of the norm: ",
                              gd->name[best], total > 0 ? 100 * gd->sq[best] / total : 0);
        if (k >= cap) break;
    }
}

/* Names of the tensors with non-finite gradients (up to 3). */
static void nonfinite_tensors(const gg_guard_core *gd, char *out, size_t cap)
{
    size_t k = 0;
    int n = 0;
    out[0] = 0;
    for (int i = 0; i < gd->n && n < 3 && k < cap; i++)
        if (!isfinite(gd->sq[i])) k += (size_t)snprintf(out + k, cap - k, "%s%s", n++ ? ", " : "non-finite gradient in ", gd->name[i]);
}

/* ---- clipping, as factors the trainer applies ------------------------------- */

/* Scales tensor i's gradient by c: into the act's factor, and into its
 * squared norm (the later clips of the step see the scaled norm). */
static void scale_tensor(gg_guard_core *gd, int i, float c)
{
    gd->scale[i] *= c;
    gd->sq[i] *= (double)c * c;
}

static double clip_global(gg_guard_core *gd, double norm, double max_norm)
{
    double c = gg_clip_coef(norm, max_norm);
    if (c >= 1) return norm;
    for (int i = 0; i < gd->n; i++) scale_tensor(gd, i, (float)c);
    return norm * c;
}

/* The configured clip; returns the threshold in force (0: none). Element-
 * and unit-wise clips are the trainer's to apply (they need the values);
 * the others become factors. */
static double apply_clip(gg_guard_core *gd, double norm, double maxabs, gg_guard_act *a, int *clipped)
{
    gg_guard_config *c = &gd->c;
    double th = 0, after = norm;
    *clipped = 0;
    switch (c->clip) {
    case GG_CLIP_NONE:
        break;
    case GG_CLIP_VALUE:
        th = c->clip_value;
        a->clip_value = c->clip_value;
        *clipped = maxabs > c->clip_value;
        break;
    case GG_CLIP_NORM:
        th = c->max_norm;
        after = clip_global(gd, norm, th);
        *clipped = after < norm;
        break;
    case GG_CLIP_TENSOR:
        th = c->max_norm;
        for (int i = 0; i < gd->n; i++) {
            double k = gg_clip_coef(sqrt(gd->sq[i]), th);
            if (k < 1) {
                scale_tensor(gd, i, (float)k);
                *clipped = 1;
            }
        }
        break;
    case GG_CLIP_AGC:
        th = c->agc_lambda;
        a->agc_lambda = c->agc_lambda;
        a->agc_eps = c->agc_eps;
        a->agc_until = c->agc_exclude_last ? gd->last_layer : gd->n;
        /* whether a unit was clipped only the trainer sees: gg_guard_core_clipped */
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

/* Annealed gradient noise: its standard deviation, and the key (its step
 * in the schedule) the trainer seeds its draw with, so a resumed run draws
 * the same noise. */
static void noise(gg_guard_core *gd, double eta, gg_guard_act *a)
{
    long t = gd->h.noise_t++;
    a->noise_sigma = sqrt(gg_noise_var(eta, gd->c.noise_gamma, t));
    a->noise_key = (uint64_t)t;
}

/* ---- decide ------------------------------------------------------------ */

/* reset_moments on a skipped step: the optimizer forgets the moments of the
 * tensors the bad gradient sat in (non-finite ones; for a finite spike,
 * those holding more than their even share of the squared norm), so an
 * Adam second moment inflated by earlier large gradients does not keep
 * their steps small long after. */
static void reset_bad_moments(gg_guard_core *gd, gg_guard_act *a)
{
    double tot = 0;
    int nonfinite = 0;
    for (int i = 0; i < gd->n; i++) {
        if (!isfinite(gd->sq[i])) nonfinite = 1;
        else tot += gd->sq[i];
    }
    for (int i = 0; i < gd->n; i++) {
        gd->reset[i] = nonfinite ? !isfinite(gd->sq[i]) : gd->sq[i] * gd->n > tot;
        a->any_reset |= gd->reset[i];
    }
}

static void backoff(gg_guard_core *gd)
{
    gd->m.lr_scale *= gd->c.backoff_factor;
    if (gd->m.lr_scale < gd->c.backoff_min) gd->m.lr_scale = gd->c.backoff_min;
    gd->m.good_since_backoff = 0;
    gd->m.cnt.backoffs++;
}

/* Backs off the learning rate of every tensor of parameter tensor p's layer
 * (an attention block's Q/K/V projection: its weight and bias); returns
 * the new factor, 0 when p is not known. */
static double backoff_layer(gg_guard_core *gd, int p)
{
    if (p < 0 || p >= gd->n) return 0;
    double f = 0;
    for (int i = 0; i < gd->n; i++) {
        if (i != p && (!gd->layer[p][0] || strcmp(gd->layer[i], gd->layer[p]) != 0)) continue;
        double *t = &gd->m.tensor_lr[i];
        *t = fmax(*t * gd->c.backoff_factor, gd->c.backoff_min);
        if (i == p) f = *t;
    }
    gd->tensor_lr_new = 1;
    return f;
}

/* QK-clip is carried out after the update, on the heads over the lowest
 * threshold asked for this step. */
static void qk_threshold(gg_guard_core *gd, double th)
{
    if (th > 0 && (gd->qk_tau == 0 || th < gd->qk_tau)) gd->qk_tau = th;
}

/* Turns a response into a verdict; records the event. */
static gg_verdict respond(gg_guard_core *gd, gg_response r, long step, int epoch, const char *signal, double v,
                          double th, const char *detail, double norm)
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
    case GG_DO_QK_CLIP:
        qk_threshold(gd, th);
        break;
    case GG_DO_Z_LOSS:
        gd->m.z_loss_on = 1;
        break;
    case GG_DO_RAISE:
        /* the raised rate is the new ceiling: a back-off after it climbs
         * back to it, and a rollback's repeated failure lowers it */
        gd->m.lr_scale *= gd->raise_by;
        if (gd->m.lr_ceiling < gd->m.lr_scale) gd->m.lr_ceiling = gd->m.lr_scale;
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
    const char *escalated = NULL;
    /* a step counts once, however many of its findings skip it; each probe
     * the weights passed allows max_skips more in this run */
    if (vd == GG_GUARD_SKIP && !gd->skip_counted) {
        gd->m.consecutive_skips++;
        gd->skip_counted = 1;
    }
    if (vd == GG_GUARD_SKIP && gd->m.consecutive_skips > gd->c.max_skips * (1 + gd->m.skip_probes)) {
        vd = GG_GUARD_ROLLBACK;
        escalated = act;
        act = "rollback";
    } else if (vd == GG_GUARD_ROLLBACK) {
        gd->other_rollback = 1;
    }
    if (r != GG_DO_NOTHING) gd->pending_healthy = 0;
    int wants_rollback = vd == GG_GUARD_ROLLBACK;
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
    if (escalated && vd == GG_GUARD_ROLLBACK && e && gd->nesc < (int)(sizeof gd->esc_event / sizeof gd->esc_event[0])) {
        gd->esc_act[gd->nesc] = escalated;
        gd->esc_event[gd->nesc++] = (int)(e - gd->ev);
    }
    if (e && vd == GG_GUARD_STOP && gd->m.rollbacks_used >= gd->c.rollback_budget && wants_rollback) {
        size_t l = strlen(e->detail);
        snprintf(e->detail + l, sizeof e->detail - l, "%srollback budget of %d used up", l ? "; " : "",
                 gd->c.rollback_budget);
    }
    return vd;
}

static gg_verdict worse(gg_verdict a, gg_verdict b) { return a > b ? a : b; }

/* skip_first: a blow-up or a non-finite step answered by a rollback is
 * skipped first. No update was made from it, so the weights are the last
 * good step's, and a bad batch (or a burst of them) is all it may be:
 * rolling back for it cost gauntlet-like runs a backed-off rate for the
 * rest of the run. Failing steps in a row are skipped until max_skips
 * escalates them to the rollback (the weights themselves are bad then);
 * a failure soon after an earlier skipped one, with good steps between,
 * is the rate's and rolls back at once, and so is one whose next finite
 * batch is still far above the level (check's after-skip test), and one
 * within half an interval of the last rollback's failure (the replay of a
 * state that failed: the rollback's own "repeated" rule). */
static gg_response skip_first(gg_guard_core *gd, gg_response r, long step)
{
    if (r != GG_DO_ROLLBACK || !gd->c.skip_first) return r;
    long last = gd->m.last_skipped, half = gd->c.snapshot_every / 2;
    int again = gd->m.consecutive_skips == 0 && last >= 0 && step > last && step - last <= half;
    int replay = gd->m.consecutive_skips == 0 && gd->m.last_failure >= 0 && step - gd->m.last_failure <= half;
    if (again || replay) return GG_DO_ROLLBACK;
    gd->m.last_skipped = step;
    gd->m.after_skip = 1;
    return GG_DO_SKIP;
}

/* A rollback that answers max_skips failures in a row and nothing else:
 * the weights are those of the last step that passed (no update since),
 * and either its update broke them or the batches are bad, a burst longer
 * than max_skips (the doctor's 16 mislabelled batches: rolled back five
 * times into the same burst, 0.70 against a floor of 0.75). The loss of
 * that step's batch on them tells which (gg_guard_core_probe). */
static int wants_probe(const gg_guard_core *gd, gg_verdict v)
{
    return v == GG_GUARD_ROLLBACK && gd->nesc > 0 && !gd->other_rollback && !gd->trial.undo &&
           gd->m.skip_probes < GG_SKIP_PROBES;
}

gg_status gg_guard_core_probe(gg_guard_core *gd, double loss, gg_guard_act *a)
{
    if (!gd || !a || !a->probe || a->verdict != GG_GUARD_ROLLBACK)
        return gg_fail(GG_E_ARG, "gg_guard_core_probe: no probe was asked for (act.probe)");
    a->probe = 0;
    double level = gd->h.ema_l.n > 0 ? exp(gd->h.ema_l.mean) : NAN;
    double factor = sqrt(gd->c.loss_blowup > 1 ? gd->c.loss_blowup : 10);
    int pass = isfinite(loss) && isfinite(level) && loss <= factor * level;
    /* the first escalation's event carries the probe's finding */
    gg_guard_event *e = gd->nesc > 0 && gd->esc_event[0] < gd->nev ? &gd->ev[gd->esc_event[0]] : NULL;
    size_t l = e ? strlen(e->detail) : 0;
    if (!pass) {
        gd->m.skip_probes = GG_SKIP_PROBES; /* not asked again in this run of skips */
        if (e && isfinite(loss))
            snprintf(e->detail + l, sizeof e->detail - l, "; the last good batch fails too (loss %.4g, over %.3gx "
                     "level %.4g)", loss, factor, level);
        return GG_OK;
    }
    gd->m.skip_probes++;
    gd->m.blowup_pending = 0;
    gd->m.cnt.skipped++;
    a->verdict = GG_GUARD_SKIP;
    if (gd->c.reset_moments) reset_bad_moments(gd, a);
    for (int i = 0; i < gd->nesc; i++)
        if (gd->esc_event[i] < gd->nev) snprintf(gd->ev[gd->esc_event[i]].action, sizeof e->action, "%s", gd->esc_act[i]);
    if (e) {
        snprintf(e->detail + l, sizeof e->detail - l, "; %d failures in a row, but the last good batch still passes "
                 "(loss %.4g, level %.4g): bad batches, skipped", gd->m.consecutive_skips, loss, level);
    }
    return GG_OK;
}

static int monitor_due(const gg_guard_core *gd, long step)
{
    return gd->q && step % (gd->c.monitor_every > 0 ? gd->c.monitor_every : 50) == 0;
}

int gg_guard_core_wants_layers(const gg_guard_core *gd, long step) { return gd && monitor_due(gd, step); }

/* Dead or saturated units, or a vanished gradient profile, that training made (f->killed): a rate that made
 * them is too high, and a rollback it asks for makes the backed-off rate
 * the ceiling. Units there from the start are the init check's: a warning;
 * so are those the state a rollback restored already had (the first pass
 * after a rollback raises the baseline, quiet.c). */
static gg_response made_in_training(gg_guard_core *gd, const gg_quiet_finding *f, gg_response r)
{
    if (!f->killed) return GG_DO_NOTHING;
    if (r == GG_DO_ROLLBACK) gd->m.collapse_ceiling = 1;
    return r;
}

/* The factor on the schedule's rate the trainer applies: the guard's scale,
 * and under a rate-jump cap the share of the schedule's rate (lr_now, this
 * step's) the cap lets through. */
static double out_scale(const gg_guard_core *gd)
{
    double cap = gd->m.jump_cap, lr = gd->lr_now;
    return gd->m.lr_scale * (cap > 0 && lr > cap ? cap / lr : 1);
}

/* A rate far too small (slow_ratio): the fastest layer's update/weight
 * ratio under slow_ratio at quiet_persist passes in a row while the loss is
 * still over half its first. A rate 100x too small moves every weight by
 * about 1e-5 to 1e-4 of its norm a step; the doctor's healthy runs sit at
 * 1.3e-3 and up (docs/results.md). Ended for the run (decided) by a loss
 * under half its first (the run learns at its rate: a converged run's
 * small updates are meant), a back-off or a rollback (a rate a failure
 * lowered), a pass whose other findings skip or roll back the step (units
 * killed by a rate too high), and a gradient profile that vanishes with
 * depth: the small updates of a deep stalled net are its vanishing
 * gradient's, which the stall's remedies answer (gauntlet case 6b, the
 * doctor's stall family). Passes at which the schedule's rate rose (a
 * warm-up) or is under half its peak (a decay) do not count. The response
 * `raise` multiplies the rate by slow_target / ratio, at most 10x a pass
 * and slow_max_raise in all, and goes on raising at the next passes while
 * the fastest ratio is under half of slow_target. Returns the response and
 * fills the event's value and detail; GG_DO_COUNT for none. */
static gg_response slow_rate(gg_guard_core *gd, const gg_guard_obs *o, double *value, char *detail, size_t cap)
{
    const gg_guard_config *c = &gd->c;
    gg_guard_memory *m = &gd->m;
    int which;
    double fast = gg_quiet_fastest_update(gd->q, &which);
    double lr = o->lr, prev = m->slow_lr;
    m->slow_lr = lr;
    if (lr > m->slow_peak) m->slow_peak = lr;
    if (m->slow_state == 2 || !(c->slow_ratio > 0) || !isfinite(fast)) return GG_DO_COUNT;
    if (m->cnt.backoffs > 0 || m->rollbacks_used > 0 || m->lr_scale < 1 || gg_quiet_vanishes(gd->q)) {
        m->slow_state = 2;
        return GG_DO_COUNT;
    }
    /* a loss under half its first: the run learns at this rate (a converged
     * run's updates are small, and meant to be) */
    double sl = smoothed_loss(gd), first = gd->h.loss_first;
    if (m->slow_state == 0 && first > 0 && isfinite(sl) && sl < 0.5 * first) {
        m->slow_state = 2;
        return GG_DO_COUNT;
    }
    /* a warm-up raising the rate, or a schedule past half its peak (small
     * steps are its design): these passes do not count */
    if ((prev > 0 && lr > prev * (1 + 1e-6)) || lr < 0.5 * m->slow_peak) {
        m->slow_passes = 0;
        return GG_DO_COUNT;
    }
    if (m->slow_state == 0) {
        /* an optimizer's first steps may be fast (RMSprop's second moment
         * starts small): a fast pass restarts the count, it decides nothing */
        if (fast >= c->slow_ratio) {
            m->slow_passes = 0;
            return GG_DO_COUNT;
        }
        if (++m->slow_passes < c->quiet_persist) return GG_DO_COUNT;
        m->slow_state = 1;
    }
    /* raising (state 1): done at the limit, or once a raise brought the
     * ratio within 2x of the target */
    double by = fmin(c->slow_target / fmax(fast, 1e-30), 10);
    if (m->lr_scale * by > c->slow_max_raise) by = c->slow_max_raise / m->lr_scale;
    if (m->lr_scale >= c->slow_max_raise || (m->cnt.slow_rate > 0 && by < 2)) {
        m->slow_state = 2;
        return GG_DO_COUNT;
    }
    gd->raise_by = by;
    m->cnt.slow_rate++;
    if (c->on_slow != GG_DO_RAISE) m->slow_state = 2; /* reported once */
    *value = fast;
    if (m->cnt.slow_rate == 1)
        snprintf(detail, cap,
                 "the largest update/weight norm ratio of any layer is %.2g (%s), under %.2g at %d passes in a row: "
                 "the learning rate is far too small; its scale x%.3g -> %.3g",
                 fast, gg_quiet_layer(gd->q, which), c->slow_ratio, m->slow_passes, by, m->lr_scale * by);
    else
        snprintf(detail, cap,
                 "the largest update/weight norm ratio of any layer is %.2g (%s), still under half of %.2g: the "
                 "learning rate is still too small; its scale x%.3g -> %.3g",
                 fast, gg_quiet_layer(gd->q, which), c->slow_target, by, m->lr_scale * by);
    return c->on_slow;
}

/* One pass of the quiet-failure detectors over the step's per-layer
 * statistics; their findings become events and responses: a stall or a
 * vanishing profile by on_stall / on_vanishing, a collapse by on_collapse,
 * dead or saturated units that training made by on_dead / on_saturation,
 * the other per-layer signals are warnings. *stalled is set when a stall's
 * response stops the run. */
static gg_verdict quiet_pass(gg_guard_core *gd, const gg_guard_obs *o, double norm, int *stalled)
{
    gg_guard_config *c = &gd->c;
    long step = o->step;
    int epoch = o->epoch;
    int nf = gg_quiet_monitor(gd->q, step, o->layers, o->nlayers, smoothed_loss(gd), gd->chance,
                              o->lr * out_scale(gd), gd->qf, (int)(sizeof gd->qf / sizeof gd->qf[0]));
    /* a pending snapshot taken since the last pass may hold a dead or
     * stalled network: it must not become the rollback target */
    if (gg_quiet_unhealthy(gd->q)) gd->pending_healthy = 0;
    gg_verdict v = GG_GUARD_PROCEED;
    for (int i = 0; i < nf; i++) {
        gg_quiet_finding *f = &gd->qf[i];
        const char *name = gg_quiet_name(f->sig);
        gg_response r = GG_DO_NOTHING;
        switch (f->sig) {
        case GG_Q_STALL:
            gd->m.cnt.stalls++;
            r = c->on_stall;
            break;
        case GG_Q_VANISHING:
            gd->m.cnt.vanishing++;
            r = f->killed ? made_in_training(gd, f, c->on_vanished) : c->on_vanishing;
            break;
        case GG_Q_COLLAPSE:
            gd->m.cnt.collapses++;
            gd->m.collapse_ceiling = 1;
            r = c->on_collapse;
            break;
        case GG_Q_DEAD:
            gd->m.cnt.dead++;
            r = made_in_training(gd, f, c->on_dead);
            break;
        case GG_Q_SATURATION:
            gd->m.cnt.saturated++;
            r = made_in_training(gd, f, c->on_saturation);
            break;
        case GG_Q_UPDATE_RATIO:
            gd->m.cnt.update_ratio++;
            /* over the band's high end a layer moves a tenth of its norm a
             * step: the rate is far too large for it (the doctor's
             * character models at RMSprop x10 and x100, a deep tanh net at
             * SGD-momentum x100; no healthy twin comes near it). Under the
             * low end it is only reported: slow_rate owns a rate too small */
            if (f->value > f->threshold) r = c->on_update_ratio;
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
        /* the back-off for a rate far too large is not climbed back: once
         * more, and the ceiling (as a rollback's for the rate's failure) */
        if (f->sig == GG_Q_UPDATE_RATIO && r == GG_DO_BACKOFF) {
            backoff(gd);
            gd->m.lr_ceiling = gd->m.lr_scale;
        }
        if (fv == GG_GUARD_STOP && (f->sig == GG_Q_STALL || (f->sig == GG_Q_VANISHING && !f->killed))) *stalled = 1;
        v = worse(v, fv);
    }
    double sv = 0;
    char sd[256];
    /* a pass that acts on a failure (dead units, a collapse: a rate too
     * high, not too small) ends the slow-rate rule */
    if (v != GG_GUARD_PROCEED) gd->m.slow_state = 2;
    gg_response sr = slow_rate(gd, o, &sv, sd, sizeof sd);
    if (sr != GG_DO_COUNT) {
        gg_verdict fv = respond(gd, sr, step, epoch, "slow_rate", sv, c->slow_ratio, sd, norm);
        if (fv == GG_GUARD_STOP) *stalled = 1;
        v = worse(v, fv);
    }
    return v;
}

static void act_init(gg_guard_core *gd, gg_guard_act *a)
{
    memset(a, 0, sizeof *a);
    a->verdict = GG_GUARD_PROCEED;
    a->lr_scale = (float)out_scale(gd);
    a->scale = gd->scale;
    a->reset = gd->reset;
    a->snapshot = -1;
    a->trial_snapshot = -1;
    /* once switched on, the z-loss stays on (it is part of the objective) */
    a->z_loss = gd->m.z_loss_on ? gd->c.z_loss_remedy : 0;
    for (int i = 0; i < gd->n; i++) {
        gd->scale[i] = 1;
        gd->reset[i] = 0;
    }
}

/* ---- detectors ---------------------------------------------------------------
 * A detector of the table watches one signal against the run's own
 * history. observe gets the step's statistics and the detector's own state
 * (the values its row names: saved in checkpoints as hist.<signal>.<name>,
 * kept by snapshots and restored by rollbacks with the rest of the
 * history) and returns 1 when the signal fires, with the value, the
 * threshold and a readable detail; the config gives the response. Adding a
 * detector: a function and a row here, and its response key in the config.
 * The gradient and loss spikes, the blow-up and the trend are the core's
 * own statistics, not rows: the clips read the same EMAs, and a blow-up
 * replaces that step's loss spike. */

typedef struct det_in {
    double loss, norm, maxabs;
    double chance;   /* the chance-level loss, 0 for none */
    int spike;       /* the global gradient norm spiked this step */
    int outlier;     /* the loss blew up or spiked: not part of the loss statistics */
    int rate_capped; /* the guard has made a backed-off rate the ceiling: the rate failed once */
    double scale;    /* the guard's factor on the rate (memory.lr_scale) */
    const gg_guard_obs *o; /* the step's statistics as given (attention heads, log Z) */
} det_in;

typedef struct det_out {
    double value, threshold;
    char detail[256];
    int repeat;      /* a firing that continues the last one: responded to, counted, not logged again */
    long streak;     /* steps the firing has continued without a break */
    int severe;      /* past what the response can repair in place: roll back instead */
    int which;       /* the attention head it names (an index into the obs's heads), -1 none */
    double undo;     /* a back-off of its own that did not help: the rate factor to return to (0: none) */
} det_out;

typedef struct gg_detector {
    const char *signal;
    size_t response;                 /* offsetof(gg_guard_config, its on_* response) */
    size_t counter;                  /* offsetof(gg_guard_counters, the count of its firings) */
    int ceiling;                     /* a rollback it asks for makes the backed-off rate the ceiling, a back-off the new rate */
    const char *state[GG_DET_STATE + 1];
    double init[GG_DET_STATE];
    int (*observe)(const gg_guard_config *c, const det_in *in, double *s, det_out *out);
} gg_detector;

static gg_ema ema_of(const double *s) { return (gg_ema){s[0], s[1], (long)s[2]}; }
static void ema_to(double *s, const gg_ema *e)
{
    s[0] = e->mean;
    s[1] = e->var;
    s[2] = (double)e->n;
}

#define COLLAPSE_WINDOW 50

/* Collapse: the smoothed loss back at chance level for COLLAPSE_WINDOW steps
 * after it had been well below it (dead units, a silent divergence). */
static int collapse(const gg_guard_config *c, const det_in *in, double *s, det_out *out)
{
    (void)c;
    if (!isfinite(in->loss)) return 0;
    gg_ema e = ema_of(s);
    gg_ema_push(&e, in->loss, 0.1);
    ema_to(s, &e);
    if (!(in->chance > 0)) return 0;
    double ls = e.mean;
    if (e.n >= 10 && ls < s[3]) s[3] = ls;
    s[4] = gg_collapsed(ls, s[3], in->chance, 0.03, 0.75) ? s[4] + 1 : 0;
    if (s[4] != COLLAPSE_WINDOW) return 0;
    s[4] = 0;
    out->value = ls;
    out->threshold = in->chance;
    snprintf(out->detail, sizeof out->detail, "loss %.4g is back at the chance level %.4g for %d steps (it had reached %.4g)",
             ls, in->chance, COLLAPSE_WINDOW, s[3]);
    return 1;
}

/* Worse than guessing: a classifier's smoothed loss (EMA weight 0.1) over
 * worse_factor times the chance level ln C for worse_steps steps in a row,
 * in a run whose first loss was under that: training made the model
 * confidently wrong. A rate far too high does it without a jump the
 * blow-up test sees (the doctor's char-LSTM at 1000x its Adam rate climbs
 * from ln C to 8x it over ten steps, never 10x its running level in one).
 * Steps whose loss blew up or spiked are left out. */
static int worse_than_chance(const gg_guard_config *c, const det_in *in, double *s, det_out *out)
{
    /* a blown-up batch is skipped, and kept out of the level as out of the
     * blow-up's own: three x1e6 batches would hold it over the line for 20
     * steps after they were skipped */
    if (!isfinite(in->loss) || in->outlier) return 0;
    gg_ema e = ema_of(s);
    gg_ema_push(&e, in->loss, 0.1);
    ema_to(s, &e);
    if (e.n == 1) s[4] = in->loss; /* the first loss: a start already that high is the init check's */
    double th = c->worse_factor * in->chance;
    if (!(in->chance > 0) || !(c->worse_factor > 0) || !(s[4] < th)) return 0;
    s[3] = e.mean > th ? s[3] + 1 : 0;
    if (s[3] < c->worse_steps) return 0;
    s[3] = 0;
    out->value = e.mean;
    out->threshold = th;
    snprintf(out->detail, sizeof out->detail, "the smoothed loss %.4g is over %gx the chance level %.4g for %d steps: "
             "the model is far worse than a uniform guess (a rate too high)", e.mean, c->worse_factor, in->chance,
             c->worse_steps);
    return 1;
}

/* One element far out: the largest |g| over spike_z standard deviations
 * of its log above its running level while the global norm is not (an
 * exploding embedding row or one outlier sample, which the global norm
 * averages away). Learns a firing as its threshold, as the norm's spike
 * statistics do. */
static int max_spike(const gg_guard_config *c, const det_in *in, double *s, det_out *out)
{
    if (!(in->maxabs > 0) || !isfinite(in->maxabs)) return 0;
    gg_ema e = ema_of(s);
    double lm = log(in->maxabs), sd = gg_ema_std(&e);
    int warm = e.n >= c->warmup;
    int fire = warm && !in->spike && gg_ema_z(&e, lm) > c->spike_z;
    double th = e.mean + c->spike_z * sd;
    gg_ema_push(&e, fire ? th : lm, c->ema_alpha);
    ema_to(s, &e);
    if (!fire) return 0;
    out->value = in->maxabs;
    out->threshold = exp(th);
    snprintf(out->detail, sizeof out->detail, "the largest |g| %.3g is over %gx its running level's spread (threshold %.3g) "
             "while the global norm %.3g is not", in->maxabs, c->spike_z, exp(th), in->norm);
    return 1;
}

/* Attention-logit growth (Wortsman et al. 2023: logits grow until attention
 * is one-hot and the loss stalls or diverges): the largest scaled logit of
 * any head over attn_logit_max, or over attn_logit_floor and spike_z
 * standard deviations of its log above its running level. The threshold
 * crossed is the response's: QK-clip brings each head over it back to it.
 * The event names the worst head, with its entropy against uniform
 * attention's. */
#define LEAP_ALPHA 0.25 /* the weight of a step in the short level a leap under the bound is measured against */
static int attention(const gg_guard_config *c, const det_in *in, double *s, det_out *out)
{
    const gg_guard_obs *o = in->o;
    int w = -1;
    double m = 0;
    for (int i = 0; i < o->nheads; i++)
        if (isfinite(o->heads[i].max_logit) && o->heads[i].max_logit > m) m = o->heads[i].max_logit, w = i;
    if (w < 0) return 0;
    gg_ema e = ema_of(s);
    double lm = log(m), grow = e.mean + c->spike_z * gg_ema_std(&e);
    int over = c->attn_logit_max > 0 && m > c->attn_logit_max;
    /* over the bound at attn_logit_jump times the running level: the logits
     * leapt (a rate too high for W_q and W_k), they did not creep up. Under
     * the bound, over attn_logit_floor, a leap must be sudden: that many
     * times the level of the last few steps (s[7], the log's average with
     * weight LEAP_ALPHA). This is how a too-high rate shows in its first
     * steps: one update of an adaptive optimizer moves every weight of W_q
     * and W_k by about the rate, and the logits go from their initial 2 to
     * 25-50 in two or three steps, attention one-hot, before the running
     * level has the warm-up the growth test needs. A healthy run's logits
     * can double within the running level's 50 steps (at the end of a
     * warm-up) but not within four */
    double short_mean = e.n > 0 ? s[7] : lm;
    s[7] = e.n > 0 ? short_mean + LEAP_ALPHA * (lm - short_mean) : lm;
    double jump_th = c->attn_logit_jump > 0 && e.n > 0 ? c->attn_logit_jump * exp(over ? e.mean : short_mean) : INFINITY;
    int leapt = (over || (c->attn_logit_floor > 0 && m > c->attn_logit_floor)) && m > jump_th;
    int grew = e.n >= c->warmup && c->attn_logit_floor > 0 && m > c->attn_logit_floor && lm > grow;
    double th = grew ? fmax(exp(grow), c->attn_logit_floor) : INFINITY;
    if (over && c->attn_logit_max < th) th = c->attn_logit_max;
    if (leapt && !over && !grew) th = fmax(jump_th, c->attn_logit_floor);
    /* a firing is learned as its threshold, as the other spike statistics */
    gg_ema_push(&e, over || grew || leapt ? log(th) : lm, c->ema_alpha);
    ema_to(s, &e);
    if (!over && !grew && !leapt) return 0;
    /* QK-clip may act every step of a too-high rate: one event when it
     * starts, then one every report_every steps while it lasts */
    double step = (double)o->step;
    int cont = s[3] == step - 1;
    out->repeat = cont && step - s[4] < (c->report_every > 0 ? c->report_every : 100);
    if (!cont) s[5] = step;
    out->streak = (long)(step - s[5]);
    s[3] = step;
    if (!out->repeat) s[4] = step;
    const gg_guard_head *h = &o->heads[w];
    out->which = w;
    out->severe = (c->attn_logit_blowup > 0 && m > c->attn_logit_blowup) || leapt;
    out->value = m;
    out->threshold = th;
    snprintf(out->detail, sizeof out->detail, "%s head %d: largest attention logit %.4g %s (threshold %.4g); its attention "
             "entropy %.3g nats of a uniform %.3g", h->layer ? h->layer : "attention", h->head, m,
             over ? "over the bound" : grew ? "rose far above its running level" : "leapt over its running level", th,
             h->entropy, h->entropy_uniform);
    return 1;
}

/* Output-logit drift (Wortsman et al. 2023): |mean log Z| of the softmax
 * output over logz_max and spike_z standard deviations of its log above its
 * running level; the z-loss pulls log Z back to 0. */
static int logit_drift(const gg_guard_config *c, const det_in *in, double *s, det_out *out)
{
    if (!in->o->has_logz || !isfinite(in->o->logz)) return 0;
    double a = fabs(in->o->logz);
    if (!(a > 0)) return 0;
    gg_ema e = ema_of(s);
    double la = log(a), th = e.mean + c->spike_z * gg_ema_std(&e);
    int fire = e.n >= c->warmup && c->logz_max > 0 && a > c->logz_max && la > th;
    gg_ema_push(&e, fire ? th : la, c->ema_alpha);
    ema_to(s, &e);
    if (!fire) return 0;
    out->value = in->o->logz;
    out->threshold = exp(th);
    snprintf(out->detail, sizeof out->detail, "mean log Z of the output %.4g: |log Z| over %g and far above its running "
             "level %.4g", in->o->logz, c->logz_max, exp(e.mean));
    return 1;
}

/* A plateau at a rate already found too high: once a rollback or back-off
 * has capped the rate (memory.lr_ceiling under 1), the log loss smoothed
 * with weight PLATEAU_ALPHA must fall by plateau_drop within
 * plateau_window steps, the next window twice as long. A deep net rolled
 * back from 10-100x its rate replays at 2-3x it: it no longer fails, but
 * its loss stalls on a noisy plateau and the run ends under a healthy
 * one's (the doctor's deep ReLU and tanh nets at SGD-momentum x10, at
 * momentum 0.99); halving the rate from there rescued most of them
 * (bench/doctor/late_decay.py). A run whose rate never failed is not
 * watched: a healthy LSTM sits on a plateau for 2,000 steps before it
 * solves the adding problem, and its rate is right. Nor while the
 * schedule decays the rate (under 0.9x its peak): that is an anneal
 * already.
 * Each back-off is a trial: a rate too high for the plateau's noise shows
 * it by a lower loss soon after (the noise floor falls with the rate
 * within tens of steps); a saddle does not (a tanh RNN on the adding
 * problem, whose rate the early blow-ups capped, sat there through eight
 * back-offs). A window after the back-off, the smoothed loss must be under
 * the plateau's level (its lowest smoothed value since the last progress)
 * by plateau_drop and by more than the batches' noise could make it;
 * if not, and nothing else has changed the rate since, the back-off is
 * undone (out.undo: the factor it backed off from) and the next window is
 * twice as long again.
 * State: the smoothed log loss (an EMA), its level at the last progress
 * and the step of it, the current window, the schedule's peak, the trial's
 * end, the level it is measured from and the factor before it. */
#define PLATEAU_ALPHA 0.05
#define PLATEAU_WARM 20 /* losses in the average before it is a level */
static int plateau(const gg_guard_config *c, const det_in *in, double *s, det_out *out)
{
    if (!isfinite(in->loss) || !(in->loss > 0) || in->outlier) return 0;
    gg_ema e = ema_of(s);
    gg_ema_push(&e, log(in->loss), PLATEAU_ALPHA);
    ema_to(s, &e);
    double lr = in->o->lr, step = (double)in->o->step;
    if (isfinite(lr) && lr > s[6]) s[6] = lr;
    if (s[7] > 0 && step >= s[7]) {
        /* the trial's end: the back-off stands if the loss fell, or if the
         * rate has moved since for another reason */
        double from = s[9], to = fmax(from * c->backoff_factor, c->backoff_min), level = s[8];
        s[7] = 0;
        /* a fall over the batches' noise: one standard error of the
         * difference of two smoothed levels (each sqrt(alpha / (2 - alpha))
         * of the log loss's spread), and at least plateau_drop. Two (a 95%
         * test) kept one rescue fewer of the doctor's deep nets, under
         * SkylakeX, and changed no twin */
        double noise = sqrt(2 * PLATEAU_ALPHA / (2 - PLATEAU_ALPHA)) * gg_ema_std(&e);
        double need = fmax(-log(1 - c->plateau_drop), noise);
        int fell = e.mean < level - need;
        if (!fell && fabs(in->scale - to) <= 1e-9 * to && from > in->scale) {
            out->undo = from;
            out->value = exp(e.mean);
            out->threshold = exp(level - need);
            snprintf(out->detail, sizeof out->detail, "the back-off for the plateau did not help: the smoothed loss "
                     "went from %.4g to %.4g in %.0f steps, not %.3g%% lower (the batches' noise, or plateau_drop): not "
                     "a rate too high (a saddle, or the model's limit); the rate factor returns to %.3g", exp(level),
                     exp(e.mean), s[5] / 2, 100 * (1 - exp(-need)), from);
            /* the next watch waits twice as long again */
            s[3] = e.mean;
            s[4] = step;
            s[5] *= 2;
            return 1;
        }
    }
    int watch = c->plateau_window > 0 && in->rate_capped && e.n >= PLATEAU_WARM && !(lr < 0.9 * s[6]) && !(s[7] > 0);
    /* unwatched (the window back to its first length), or progress (the
     * level to the lower loss): the watch (re)starts here */
    if (!watch || e.mean < s[3] + log(1 - c->plateau_drop) || step < s[4]) {
        s[3] = watch ? fmin(s[3], e.mean) : e.mean;
        s[4] = step;
        if (!watch && !(s[7] > 0)) s[5] = c->plateau_window;
        return 0;
    }
    if (step - s[4] < s[5]) return 0;
    out->value = exp(e.mean);
    out->threshold = exp(s[3] + log(1 - c->plateau_drop));
    snprintf(out->detail, sizeof out->detail, "the smoothed loss %.4g has not fallen %g%% under %.4g in %.0f steps, "
             "at a rate the guard has already capped as too high: it is still too high (a trial, undone unless "
             "the loss falls by more than its noise and %g%% in %.0f steps)", exp(e.mean), 100 * c->plateau_drop,
             exp(s[3]), s[5], 100 * c->plateau_drop, s[5]);
    s[8] = s[3]; /* the trial is measured from the plateau's level, not from this moment's noise */
    s[3] = e.mean;
    s[4] = step;
    s[7] = step + s[5];
    s[9] = in->scale;
    s[5] *= 2;
    return 1;
}

/* Whether the plateau watch's window ends at step `next` (it fires then
 * unless the loss makes progress): the state before it is a trial's start,
 * taken after the step before (gg_guard_core_after). Only for the back-off
 * response, whose trial a failed test undoes. */
static int trial_due(const gg_guard_core *gd, long next)
{
    const double *s = gd->h.det[DET_PLATEAU];
    return gd->c.plateau_window > 0 && gd->c.on_plateau == GG_DO_BACKOFF && gd->m.lr_ceiling < 1 && !(s[7] > 0) &&
           s[2] + 1 >= PLATEAU_WARM && (double)next - s[4] >= s[5];
}

#define NO_COUNTER ((size_t)-1)
/* DET_* rows by designator: a row inserted before one of them overrides
 * an initialised element, which -Woverride-init (-Wextra) makes an error */
static const gg_detector detectors[] = {
    [DET_COLLAPSE] = {"collapse", offsetof(gg_guard_config, on_collapse), offsetof(gg_guard_counters, collapses), 1,
     {"ema.mean", "ema.var", "ema.n", "best", "near_chance", NULL}, {0, 0, 0, INFINITY, 0, 0}, collapse},
    {"worse_than_chance", offsetof(gg_guard_config, on_worse), offsetof(gg_guard_counters, worse_than_chance), 1,
     {"ema.mean", "ema.var", "ema.n", "over", "first", NULL}, {0}, worse_than_chance},
    {"max_spike", offsetof(gg_guard_config, on_max_spike), offsetof(gg_guard_counters, spikes), 0,
     {"ema.mean", "ema.var", "ema.n", NULL}, {0}, max_spike},
    {"attention_logit_growth", offsetof(gg_guard_config, on_attention), offsetof(gg_guard_counters, attention), 0,
     {"ema.mean", "ema.var", "ema.n", "last_firing", "last_event", "streak_start", "last_backoff", "short_mean", NULL},
     {0, 0, 0, -2, -1e30, 0, -1e30, 0},
     attention},
    {"output_logit_drift", offsetof(gg_guard_config, on_logit_drift), offsetof(gg_guard_counters, logit_drift), 0,
     {"ema.mean", "ema.var", "ema.n", NULL}, {0}, logit_drift},
    [DET_PLATEAU] = {"plateau", offsetof(gg_guard_config, on_plateau), offsetof(gg_guard_counters, plateau), 1,
     {"ema.mean", "ema.var", "ema.n", "level", "since", "window", "peak_lr", "trial_end", "trial_level", "trial_from",
      NULL},
     {0, 0, 0, INFINITY, 0, 0, 0, 0, 0, 0},
     plateau},
};
#define NDETECTORS ((int)(sizeof detectors / sizeof detectors[0]))
_Static_assert(sizeof detectors / sizeof detectors[0] <= GG_DETECTORS, "GG_DETECTORS (state.h) is too small");

const char *gg_guard_detector(int d, const char *const **names)
{
    if (d < 0 || d >= NDETECTORS) return NULL;
    *names = detectors[d].state;
    return detectors[d].signal;
}

void gg_guard_detectors_init(gg_guard_hist *h)
{
    for (int d = 0; d < NDETECTORS; d++) memcpy(h->det[d], detectors[d].init, sizeof h->det[d]);
}

/* The loss as the collapse detector smooths it (NaN before the first). */
static double smoothed_loss(const gg_guard_core *gd)
{
    const double *s = gd->h.det[DET_COLLAPSE];
    return s[2] > 0 ? s[0] : NAN;
}

/* Runs the table's detectors in order; each firing is an event and a response. */
static gg_verdict run_detectors(gg_guard_core *gd, const gg_guard_obs *o, const det_in *in, double norm)
{
    gg_verdict v = GG_GUARD_PROCEED;
    for (int d = 0; d < NDETECTORS; d++) {
        const gg_detector *k = &detectors[d];
        det_out out = {0, 0, "", 0, 0, 0, -1, 0};
        if (!k->observe(&gd->c, in, gd->h.det[d], &out)) continue;
        if (out.undo > 0 && d == DET_PLATEAU && gd->trial.open) {
            /* the trial as a branch: back to the state it began from
             * (gg_guard_core_rollback), unless a failure asks for a
             * rollback of its own in this check */
            gd->trial.undo = 1;
            v = worse(v, GG_GUARD_ROLLBACK);
            gg_guard_event *e = event(gd, o->step, o->epoch, k->signal, out.value, out.threshold, "restore");
            if (e)
                snprintf(e->detail, sizeof e->detail, "%s; rolled back to step %ld, where the trial began: the run goes "
                         "on as it would have without it", out.detail, gd->trial.at);
            continue;
        }
        if (out.undo > 0) {
            /* a back-off of the detector's own undone in place (a trial
             * begun before a resume, whose start is not kept): the rate
             * returns */
            gd->m.lr_scale = out.undo;
            if (gd->m.lr_ceiling < out.undo) gd->m.lr_ceiling = out.undo;
            gg_guard_event *e = event(gd, o->step, o->epoch, k->signal, out.value, out.threshold, "restore");
            if (e) snprintf(e->detail, sizeof e->detail, "%s", out.detail);
            continue;
        }
        if (k->counter != NO_COUNTER) (*(long *)((char *)&gd->m.cnt + k->counter))++;
        gg_response r = *(const gg_response *)((const char *)&gd->c + k->response);
        if (k->ceiling && r == GG_DO_ROLLBACK) gd->m.collapse_ceiling = 1;
        /* a back-off for the plateau whose start was taken: a trial that can be undone as a branch */
        if (d == DET_PLATEAU && r == GG_DO_BACKOFF && gd->trial.taken && gd->trial.at == o->step) {
            gd->trial.open = 1;
            gd->trial.level = gd->h.det[d][3];
            gd->trial.window = gd->h.det[d][5];
        }
        /* the head's Q/K/V projection, whose rate drives its logits up */
        int qkv = r == GG_DO_QK_CLIP && out.which >= 0 ? o->heads[out.which].qkv_param : -1;
        if (r == GG_DO_QK_CLIP && out.severe) {
            /* logits this far out: the update that made them has moved the
             * rest of the model too, which rescaling W_q and W_k does not
             * undo; the snapshot does (and a young or repeated failure backs
             * the rate off), and the projection's own rate backs off */
            double f = backoff_layer(gd, qkv);
            size_t l = strlen(out.detail);
            const char *why = out.value > gd->c.attn_logit_blowup && gd->c.attn_logit_blowup > 0 ? "over the blow-up bound"
                                                                                                : "a leap over its level";
            if (f > 0)
                snprintf(out.detail + l, sizeof out.detail - l, "; %s: rolled back, the rate of %s x%.3g", why,
                         gd->layer[qkv], f);
            else
                snprintf(out.detail + l, sizeof out.detail - l, "; %s: rolled back", why);
            v = worse(v, respond(gd, GG_DO_ROLLBACK, o->step, o->epoch, k->signal, out.value, out.threshold, out.detail,
                                 norm));
            continue;
        }
        double *last_backoff = &gd->h.det[d][6], now = (double)o->step;
        if (r == GG_DO_QK_CLIP && gd->c.attn_persist > 0 && out.streak % gd->c.attn_persist == 0 &&
            (qkv >= 0 || out.streak > 0) && (now - *last_backoff >= gd->c.attn_persist || now < *last_backoff)) {
            /* the logits grow with the square of W_q and W_k's scale, which
             * the rate drives: QK-clip holds them, the back-off removes the
             * cause. The head's projection (its layer's tensors) backs off
             * when the growth starts and again every attn_persist steps
             * QK-clip keeps acting (a growth that stops and starts again
             * backs it off at most once every attn_persist steps); the rest
             * of the model keeps its rate.
             * When the projection is not known, the whole rate backs off
             * after attn_persist steps. The step proceeds, clipped */
            double f = backoff_layer(gd, qkv);
            if (!(f > 0)) backoff(gd);
            *last_backoff = now;
            gg_guard_event *e = event(gd, o->step, o->epoch, k->signal, out.value, out.threshold, "backoff");
            if (e && f > 0)
                snprintf(e->detail, sizeof e->detail, "%s: the learning rate of %s drives the attention logits up "
                         "(QK-clip acting for %ld steps); its factor is now %.3g", o->heads[out.which].layer
                         ? o->heads[out.which].layer : "attention", gd->layer[qkv], out.streak + 1, f);
            else if (e)
                snprintf(e->detail, sizeof e->detail, "QK-clip has acted on every step for %ld steps: the learning rate "
                         "drives the attention logits up; its scale is now %.3g", out.streak, gd->m.lr_scale);
        }
        if (out.repeat && r == GG_DO_QK_CLIP) {
            /* the same answer as the logged firing, without an event */
            qk_threshold(gd, out.threshold);
            continue;
        }
        v = worse(v, respond(gd, r, o->step, o->epoch, k->signal, out.value, out.threshold, out.detail, norm));
        /* a back-off it asks for is not climbed back */
        if (k->ceiling && r == GG_DO_BACKOFF) gd->m.lr_ceiling = gd->m.lr_scale;
    }
    return v;
}

/* Slow blow-up: a steady climb of the log gradient norm lg over the
 * window (trend_window steps), once warm and not cooling down from the last
 * finding. */
static gg_verdict trend_pass(gg_guard_core *gd, double lg, int warm, long step, int epoch, double norm)
{
    const gg_guard_config *c = &gd->c;
    gg_verdict v = GG_GUARD_PROCEED;
    if (gd->ring_n <= 0) return v;
    gd->h.ring[gd->h.ring_pos % gd->ring_n] = lg;
    gd->h.ring_pos++;
    if (gd->h.trend_cool > 0) gd->h.trend_cool--;
    if (gd->h.ring_pos >= gd->ring_n && gd->h.trend_cool == 0 && warm) {
        /* the growth must also stand out of the window's own scatter: at
         * batch 1 the norm spans decades from step to step, and a fitted
         * slope of a converged run read 200x growth at t 3 (a healthy CSV
         * twin of the doctor benchmark backed off for nothing; real
         * blow-ups fit at t 10 and more) */
        double slope, t = gg_trend_t(gd->h.ring, gd->ring_n, gd->h.ring_pos % gd->ring_n, &slope);
        double growth = exp(slope * (gd->ring_n - 1));
        if (growth > c->trend_growth && t >= c->trend_t) {
            char detail[256];
            gd->m.cnt.trends++;
            snprintf(detail, sizeof detail, "gradient norm grew %.3gx over %d steps (t %.3g)", growth, gd->ring_n, t);
            v = respond(gd, c->on_trend, step, epoch, "trend", growth, c->trend_growth, detail, norm);
            gd->h.trend_cool = gd->ring_n;
        }
    }
    return v;
}

/* Stuck at chance after a back-off: a rollback that backed the rate off
 * for the rate's failure starts a watch; the smoothed loss over 0.95 of the
 * chance level ln C for STUCK_WINDOW steps in a row since then says the
 * backed-off rate still kills the net (the doctor's deep ReLU nets at
 * 2.5-10x their rate sat at chance for 50-70 steps after the last rollback,
 * their twins leave that band by step 20-30; its deep tanh net at 6x sat
 * over chance, saturated, at 1.5-2 ln C). The loss under 0.75 ln C
 * ends the watch, as does the noise remedy. The answer is the collapse's:
 * roll back, the rate backed off twice and made the ceiling. */
#define STUCK_WINDOW 40
#define STUCK_TRIES 2
static gg_verdict stuck_at_chance(gg_guard_core *gd, const gg_guard_obs *o, gg_verdict v, double norm)
{
    gg_guard_memory *m = &gd->m;
    double sl = smoothed_loss(gd), ch = gd->chance;
    if (m->stuck_from < 0 || !(ch > 0) || !isfinite(sl) || v != GG_GUARD_PROCEED) return GG_GUARD_PROCEED;
    /* a learned loss ends the watch; so does the stall's noise remedy, whose
     * net sits at chance while the noise works (the doctor's stalled 24-deep
     * ReLU net, rescued by it, was rolled back to a stop) */
    if (sl < 0.75 * ch || m->noise_on) {
        m->stuck_from = -1;
        if (sl < 0.75 * ch) m->stuck_tries = 0;
        return GG_GUARD_PROCEED;
    }
    m->stuck_steps = sl > 0.95 * ch ? m->stuck_steps + 1 : 0;
    if (m->stuck_steps < STUCK_WINDOW) return GG_GUARD_PROCEED;
    m->stuck_steps = 0;
    char detail[256];
    /* two rollbacks for it (each a quarter of the rate) that left the net at
     * chance say the rate is not what holds it there: the watch ends, said
     * once, and the run goes on (the doctor's stalled deep nets, too deep or
     * too small at init, were rolled back to a stop and ended "diverged") */
    if (m->stuck_tries >= STUCK_TRIES) {
        m->stuck_from = -1;
        if (m->stuck_tries++ == STUCK_TRIES) {
            snprintf(detail, sizeof detail, "the smoothed loss %.4g is still at the chance level %.4g after %d "
                     "rollbacks that backed the rate off: the rate is not the cause; the watch ends", sl, ch,
                     STUCK_TRIES);
            respond(gd, GG_DO_NOTHING, o->step, o->epoch, "stuck_at_chance", sl, ch, detail, norm);
        }
        return GG_GUARD_PROCEED;
    }
    m->stuck_tries++;
    snprintf(detail, sizeof detail, "the smoothed loss %.4g has sat at or above the chance level %.4g for %d steps "
             "since the rollback to step %ld backed the rate off: the rate is still too high", sl, ch, STUCK_WINDOW,
             m->stuck_from);
    m->cnt.collapses++;
    m->collapse_ceiling = 1;
    return respond(gd, gd->c.on_collapse, o->step, o->epoch, "stuck_at_chance", sl, ch, detail, norm);
}

/* A failure at this step is the jump's: its probation failed, or it is
 * still on (rate_jump). */
static int on_probation(const gg_guard_memory *m, long step)
{
    return m->jump_pending || (m->jump_step >= 0 && step >= m->jump_step);
}

/* A rollback asked for while a jump of the schedule's rate is on probation
 * caps the rate (gg_guard_core_rollback): the event that asked says so. */
static void jump_note(gg_guard_core *gd, gg_verdict v, long step)
{
    const gg_guard_memory *m = &gd->m;
    if (v != GG_GUARD_ROLLBACK || gd->nev == 0 || !on_probation(m, step)) return;
    gg_guard_event *e = &gd->ev[gd->nev - 1];
    size_t l = strlen(e->detail);
    snprintf(e->detail + l, sizeof e->detail - l, "%sthe schedule's rate jumped to %.3g at step %ld: the replay caps it "
             "at %.3g, the highest that held", l ? "; " : "", m->jump_rate, m->jump_step, m->jump_held);
}

/* A jump of the schedule's rate (a warm restart, a milestone with gamma > 1,
 * a schedule mistyped): a rate over rate_jump times the highest the run has
 * held has not shown it holds, and is on probation for jump_window steps.
 * The smoothed loss rising over jump_rise times its level before the jump
 * fails it (the doctor's harmful jumps: 1.6x to 4.7x in ten steps; its
 * benign ones, on tasks the higher rate does not hurt, at most 1.3x), and
 * so does any rollback in the window (gg_guard_core_rollback): the rate is
 * then capped at the highest that held, and the replay goes on under the
 * cap, which lets a later decay through. A probation the window ends without
 * a failure makes the new rate one that held. A warm-up's rising rate is
 * held step by step (it rises by less than rate_jump a step), and before
 * the loss statistics are warm every rate counts as held. v is the step's
 * verdict so far: a step that already fails is not judged again. */
static gg_verdict rate_jump(gg_guard_core *gd, const gg_guard_obs *o, gg_verdict v, double norm)
{
    const gg_guard_config *c = &gd->c;
    gg_guard_memory *m = &gd->m;
    double lr = o->lr, sl = smoothed_loss(gd);
    if (!(c->rate_jump > 0) || !(lr > 0) || !isfinite(lr)) return GG_GUARD_PROCEED;
    if (m->jump_step >= 0 && (o->step < m->jump_step || o->step - m->jump_step > c->jump_window)) {
        /* a window over is passed; a replay from before the jump (a rollback
         * on other grounds) starts over and meets the jump again */
        if (o->step >= m->jump_step && m->jump_rate > m->jump_held) m->jump_held = m->jump_rate;
        m->jump_step = -1;
    }
    if (m->jump_step >= 0) {
        if (lr > m->jump_rate) m->jump_rate = lr;
        if (v != GG_GUARD_PROCEED || !isfinite(sl) || !(sl > c->jump_rise * m->jump_loss)) return GG_GUARD_PROCEED;
        char detail[256];
        snprintf(detail, sizeof detail, "the smoothed loss %.4g is over %gx its %.4g before the schedule's rate rose to "
                 "%.3g at step %ld (%.3gx the highest that held, %.3g)", sl, c->jump_rise, m->jump_loss, m->jump_rate,
                 m->jump_step, m->jump_rate / m->jump_held, m->jump_held);
        m->cnt.rate_jump++;
        gg_verdict r = respond(gd, c->on_rate_jump, o->step, o->epoch, "rate_jump", sl, c->jump_rise * m->jump_loss,
                               detail, norm);
        if (r == GG_GUARD_ROLLBACK) {
            m->jump_pending = 1;
        } else { /* reported once: the rate is the run's now */
            m->jump_held = m->jump_rate;
            m->jump_step = -1;
        }
        return r;
    }
    double in_force = m->jump_cap > 0 ? fmin(lr, m->jump_cap) : lr;
    if (m->jump_held > 0 && in_force > c->rate_jump * m->jump_held && gd->h.ema_l.n >= c->warmup && isfinite(sl)) {
        m->jump_step = o->step;
        m->jump_loss = sl;
        m->jump_rate = in_force;
    } else if (in_force > m->jump_held) {
        m->jump_held = in_force;
    }
    return GG_GUARD_PROCEED;
}

/* The act of a finite step with verdict v: on PROCEED the clip and the
 * noise, the counters, the clipped norm, the rate's recovery after a
 * back-off, and whether the optimizer should measure its update norms. */
static void settle(gg_guard_core *gd, gg_verdict v, long step, double norm, double maxabs, gg_guard_act *a)
{
    const gg_guard_config *c = &gd->c;
    gg_guard_stats *st = &gd->st;
    if (v != GG_GUARD_STOP) a->stalled = 0;
    if (v == GG_GUARD_PROCEED) {
        int clipped;
        st->clip_threshold = apply_clip(gd, norm, maxabs, a, &clipped);
        if (clipped) gd->m.cnt.clipped++;
        a->clipped = clipped;
        if (c->noise_eta > 0) noise(gd, c->noise_eta, a);
        else if (gd->m.noise_on) noise(gd, c->remedy_noise_eta, a);
        a->qk_clip_tau = (float)gd->qk_tau;
    }
    if (v == GG_GUARD_SKIP) {
        gd->m.cnt.skipped++;
        if (c->reset_moments) reset_bad_moments(gd, a);
    } else if (v == GG_GUARD_PROCEED) {
        gd->m.consecutive_skips = 0;
        gd->m.skip_probes = 0;
    }
    double after = 0;
    for (int i = 0; i < gd->n; i++) after += gd->sq[i];
    st->grad_norm_clipped = sqrt(after);
    /* the learning rate climbs back geometrically after a back-off */
    if (v == GG_GUARD_PROCEED && gd->m.lr_scale < gd->m.lr_ceiling && c->backoff_recover > 0) {
        gd->m.good_since_backoff++;
        gd->m.lr_scale *= pow(1.0 / c->backoff_factor, 1.0 / c->backoff_recover);
        if (gd->m.lr_scale > gd->m.lr_ceiling) gd->m.lr_scale = gd->m.lr_ceiling;
    }
    st->lr_scale = out_scale(gd);
    a->verdict = v;
    a->lr_scale = (float)out_scale(gd);
    for (int i = 0; i < gd->n && !a->scaled; i++) a->scaled = gd->scale[i] != 1;
    /* the update norms of this step are read by the quiet monitor at the
     * next step and by the per-layer statistics (layers.csv) after it: an
     * optimizer that measures them on request measures them then */
    long next = step + 1;
    a->want_update_norms = monitor_due(gd, next) || (c->layer_every > 0 && next % c->layer_every == 0);
    /* gg_guard_core_after considers a snapshot every snapshot_every good steps */
    a->verify_update = v == GG_GUARD_PROCEED && ((gd->h.good_steps + 1) % c->snapshot_every == 0 || trial_due(gd, next));
}

/* the loss jump's statistics: steps before it may fire, the weights of the
 * newest step in the level and in the usual change */
#define JUMP_WARM 50
#define JUMP_LEVEL_ALPHA 0.25
#define JUMP_CHANGE_ALPHA 0.1
/* the usual change is taken as at least this (5% a step): a loss without
 * noise (one batch, the same every step) must jump by 1.65x, and such a
 * jump is the weights', which the probe then finds */
#define JUMP_MIN_CHANGE 0.05

static gg_status check(gg_guard_core *gd, const gg_guard_obs *o, gg_guard_act *a)
{
    if (!gd || !o || !a || (gd->n > 0 && !o->sq)) return gg_fail(GG_E_ARG, "gg_guard_core_check: core, statistics (with sq) and act are required");
    act_init(gd, a);
    gd->qk_tau = 0;
    gd->other_rollback = gd->nesc = gd->skip_counted = gd->trial.undo = 0;
    gg_guard_config *c = &gd->c;
    long step = o->step;
    int epoch = o->epoch;
    double loss = o->loss;
    gd->lr_now = o->lr;
    /* the total norm from the per-tensor squares; a non-finite tensor makes
     * it NaN */
    double tot = 0;
    long bad = o->nonfinite;
    for (int i = 0; i < gd->n; i++) {
        gd->sq[i] = isfinite(o->sq[i]) ? o->sq[i] : NAN;
        tot += o->sq[i];
        if (!isfinite(o->sq[i]) && bad == 0) bad = 1;
    }
    double norm = bad ? NAN : sqrt(tot), maxabs = o->max_abs;
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
        r = skip_first(gd, r, step);
        v = respond(gd, r, step, epoch, "nonfinite", bad ? (double)bad : loss, 0, detail, norm);
        a->diagnose = 1;
        a->verdict = v;
        a->probe = wants_probe(gd, v);
        jump_note(gd, v, step);
        a->lr_scale = (float)out_scale(gd);
        st->lr_scale = out_scale(gd);
        if (v == GG_GUARD_SKIP) {
            gd->m.cnt.skipped++;
            if (c->reset_moments) reset_bad_moments(gd, a);
        }
        return GG_OK;
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
    /* a classifier's batch far worse than guessing (over worse_factor x ln C)
     * needs only sqrt(loss_blowup) over the running level: a trained model
     * confidently wrong on a whole batch is a bad batch (corrupted labels:
     * the doctor's deep ReLU net at loss 0.82 met its first one at 6.1, 7.4x)
     * or weights gone bad, and skip_first tells which. Only after the
     * warm-up and for a model that has learned (its level under 0.75 ln C,
     * the collapse detector's mark): at batch 1 one sample's confident miss
     * is that high (before the warm-up a CSV task at batch 1 rolled back to
     * divergence; a deep ReLU twin at batch 1 stuck at chance, whose
     * samples' losses barely vary, skipped one and lost 6 points) */
    double over = warm && c->worse_factor > 0 && gd->chance > 0 && loss > c->worse_factor * gd->chance &&
                  gd->h.ema_l.n > 0 && exp(gd->h.ema_l.mean) < 0.75 * gd->chance ? 0.5 : 1;
    int blowup = c->loss_blowup > 0 && gd->h.ema_l.n > 0 && isfinite(ll) &&
                 ll > gd->h.ema_l.mean + over * log(c->loss_blowup) && loss > c->loss_blowup_floor * gd->h.loss_first &&
                 (!warm || ll - gd->h.ema_l.mean > c->loss_blowup_z * gg_ema_std(&gd->h.ema_l));
    /* the first batch after failures skip_first skipped: back near the
     * level, the failures were the batches'; still over the square root of
     * the blow-up factor above it, the weights had gone bad before them
     * (a rate too high whose loss swings) and the rollback comes now */
    int after_skip = gd->m.after_skip && !blowup;
    if (after_skip) gd->m.after_skip = 0;
    int still_high = after_skip && isfinite(ll) && ll > gd->h.ema_l.mean + 0.5 * log(c->loss_blowup) &&
                     loss > c->loss_blowup_floor * gd->h.loss_first;
    if (blowup || still_high) {
        double factor = blowup ? pow(c->loss_blowup, over) : sqrt(c->loss_blowup);
        if (blowup && over < 1)
            snprintf(detail, sizeof detail, "loss %.4g is over %.3gx its running level %.4g and over %gx the chance "
                     "level %.4g: far worse than guessing on this batch", loss, factor, exp(gd->h.ema_l.mean),
                     c->worse_factor, gd->chance);
        else if (blowup)
            snprintf(detail, sizeof detail, "loss %.4g is over %gx its running level %.4g (and over %g of the first loss %.4g)",
                     loss, c->loss_blowup, exp(gd->h.ema_l.mean), c->loss_blowup_floor, gd->h.loss_first);
        else
            snprintf(detail, sizeof detail, "loss %.4g on the first batch after the skipped ones is still over %.3gx "
                     "its running level %.4g: the weights, not the batches", loss, factor, exp(gd->h.ema_l.mean));
        gg_response r = blowup ? skip_first(gd, c->on_blowup, step) : c->on_blowup;
        gg_verdict bv = respond(gd, r, step, epoch, "loss_blowup", loss, factor * exp(gd->h.ema_l.mean), detail, norm);
        if (bv == GG_GUARD_ROLLBACK) gd->m.blowup_pending = 1;
        v = worse(v, bv);
        lspike = 1; /* not part of the statistics */
    }
    /* a batch unlike the others (loss_jump): a mislabelled batch in a model
     * still learning is 2x its level, under the blow-up's 10x, yet far
     * outside the loss's usual change from one step to the next (the
     * doctor's char-LSTM: 2.9 -> 6.0, 24 such changes). Measured against
     * the level of the last few steps, so a falling loss does not widen
     * the yardstick as it widens the z-score's variance. A batch that
     * jumped stays out of these statistics and of the loss's EMA, so a
     * burst keeps jumping; the skips it gets count towards max_skips, and
     * the probe tells a burst from weights gone bad. */
    int jumped = 0;
    if (isfinite(ll) && !blowup && !still_high) {
        gg_guard_hist *h = &gd->h;
        double d = ll - h->jump_level.mean;
        double change = fmax(h->jump_change.mean, JUMP_MIN_CHANGE);
        jumped = c->loss_jump > 0 && h->jump_level.n >= JUMP_WARM && d > c->loss_jump * change && d > log(1.5);
        if (jumped) {
            gd->m.cnt.spikes++;
            snprintf(detail, sizeof detail, "loss %.4g is %.3gx its level %.4g of the last few steps, %.3g times its "
                     "usual change from one step to the next: a batch unlike the others", loss, exp(d),
                     exp(h->jump_level.mean), d / change);
            v = worse(v, respond(gd, c->on_loss_jump, step, epoch, "loss_jump", loss,
                                 exp(h->jump_level.mean + c->loss_jump * change), detail, norm));
        } else {
            if (h->jump_level.n > 0) gg_ema_push(&h->jump_change, fabs(ll - h->jump_last), JUMP_CHANGE_ALPHA);
            gg_ema_push(&h->jump_level, ll, JUMP_LEVEL_ALPHA);
            h->jump_last = ll;
        }
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
    if (!lspike && !jumped && isfinite(ll)) gg_ema_push(&gd->h.ema_l, ll, c->ema_alpha);
    v = worse(v, trend_pass(gd, lg, warm, step, epoch, norm));
    /* the table's detectors: collapse, one element far out, ... */
    det_in din = {loss, norm, maxabs, gd->chance, spike, lspike, gd->m.lr_ceiling < 1, gd->m.lr_scale, o};
    v = worse(v, run_detectors(gd, o, &din, norm));
    v = worse(v, rate_jump(gd, o, v, norm));
    v = worse(v, stuck_at_chance(gd, o, v, norm));
    jump_note(gd, v, step);
    if (gd->m.z_loss_on) a->z_loss = c->z_loss_remedy;
    /* the quiet failures, at the monitor interval, when the layers were measured */
    if (monitor_due(gd, step) && o->layers) v = worse(v, quiet_pass(gd, o, norm, &a->stalled));
    settle(gd, v, step, norm, maxabs, a);
    a->probe = wants_probe(gd, v);
    gd->trial.undo = v == GG_GUARD_ROLLBACK && gd->trial.undo && !gd->other_rollback && gd->nesc == 0;
    a->undo_trial = gd->trial.undo;
    return GG_OK;
}

long gg_guard_measure(int n, const float *const *x, const size_t *len, double *sq, double *max_abs)
{
    if (n > 0 && (!x || !len || !sq)) {
        gg_fail(GG_E_ARG, "gg_guard_measure: %d arrays, but no %s", n, !x ? "data" : !len ? "lengths" : "output");
        return -1;
    }
    float mx = 0;
    long bad = 0;
    for (int i = 0; i < n; i++) {
        float m = 0;
        double s = len[i] ? gg_sumsq_max(x[i], len[i], &m) : 0;
        long b = isfinite(s) ? 0 : gg_count_nonfinite(x[i], len[i]);
        sq[i] = b ? NAN : s;
        if (m > mx) mx = m;
        bad += b;
    }
    if (max_abs) *max_abs = mx;
    return bad;
}

void gg_guard_scale(int n, float *const *x, const size_t *len, const float *scale)
{
    if (n <= 0 || !x || !len || !scale) return;
    for (int i = 0; i < n; i++) {
        float c = scale[i], *p = x[i];
        long m = (long)len[i];
        if (c == 1 || !p) continue;
#pragma omp parallel for simd if (parallel: m > GG_PAR_MIN)
        for (long k = 0; k < m; k++) p[k] *= c;
    }
}

float gg_guard_core_z_loss(const gg_guard_core *gd) { return gd && gd->m.z_loss_on ? gd->c.z_loss_remedy : 0; }

void gg_guard_core_clipped(gg_guard_core *gd)
{
    if (gd) gd->m.cnt.clipped++;
}

static void take(gg_guard_core *gd, int k, const gg_train_pos *pos)
{
    struct gg_snap *sp = &gd->sn[k];
    sp->pos = *pos;
    /* the guard's history belongs to the state it was measured on */
    gg_guard_hist_copy(&sp->h, &gd->h, &gd->c);
    sp->valid = 1;
}

/* A trial's start: the state before step pos->step, with the memory, the
 * snapshot bookkeeping and the quiet monitor's windows of that moment. */
static void trial_take(gg_guard_core *gd, const gg_train_pos *pos)
{
    struct gg_trial *tr = &gd->trial;
    take(gd, GG_GUARD_TRIAL_SLOT, pos);
    gg_guard_memory_copy(&tr->m, &gd->m);
    tr->confirmed = gd->confirmed;
    tr->pending_healthy = gd->pending_healthy;
    for (int k = 0; k < 2; k++) tr->valid[k] = gd->sn[k].valid;
    if (gd->q) gg_quiet_save(gd->q, &tr->q);
    tr->taken = 1;
    tr->open = 0;
    tr->at = pos->step;
}

/* Undoes a trial that did not help: everything as it was at its start but
 * the counters (the trial happened: its events and counts stay), and the
 * watch's memory of it: its level, and the next window from the start,
 * twice the last. The replay runs at the rate the trial interrupted. */
static int undo_trial(gg_guard_core *gd, gg_train_pos *pos)
{
    struct gg_trial *tr = &gd->trial;
    struct gg_snap *sp = &gd->sn[GG_GUARD_TRIAL_SLOT];
    *pos = sp->pos;
    gg_guard_hist_copy(&gd->h, &sp->h, &gd->c);
    double *s = gd->h.det[DET_PLATEAU];
    s[3] = tr->level;
    s[4] = (double)tr->at;
    s[5] = tr->window;
    s[7] = 0;
    gg_guard_counters cnt = gd->m.cnt;
    gg_guard_memory_copy(&gd->m, &tr->m);
    gd->m.cnt = cnt;
    gd->tensor_lr_new = 1;
    gd->confirmed = tr->confirmed;
    gd->pending_healthy = tr->pending_healthy;
    for (int k = 0; k < 2; k++) gd->sn[k].valid = tr->valid[k];
    if (gd->q) gg_quiet_load(gd->q, &tr->q);
    tr->taken = tr->open = tr->undo = 0;
    sp->valid = 0;
    return GG_GUARD_TRIAL_SLOT;
}

int gg_guard_core_snapshot(gg_guard_core *gd, const gg_train_pos *pos)
{
    if (!gd || !pos) return -1;
    take(gd, gd->confirmed, pos);
    gd->sn[1 - gd->confirmed].valid = 0;
    gd->pending_healthy = 0;
    /* the slots a trial's undo would restore are not its start's any more */
    gd->trial.taken = gd->trial.open = gd->trial.undo = 0;
    return gd->confirmed;
}

/* Every snapshot_every good steps: promote the pending snapshot if the run
 * stayed healthy since it was taken, then take a new pending one (its slot,
 * or -1 for none). */
static int snapshot_due(gg_guard_core *gd, const gg_train_pos *pos)
{
    int pend = 1 - gd->confirmed;
    if (gd->sn[pend].valid && gd->pending_healthy) {
        gd->confirmed = pend;
        pend = 1 - pend;
    }
    gd->sn[pend].valid = 0;
    /* no new pending state while the loss sits at chance after progress,
     * or while the quiet monitor sees a stall or dead units */
    if (gd->h.det[DET_COLLAPSE][4] == 0 && !gg_quiet_unhealthy(gd->q)) {
        take(gd, pend, pos);
        gd->pending_healthy = 1;
        return pend;
    }
    return -1;
}

static gg_status after(gg_guard_core *gd, const gg_train_pos *pos, int applied, int bad_tensor, double bad_norm,
                       gg_guard_act *a)
{
    if (!gd || !pos || !a) return gg_fail(GG_E_ARG, "gg_guard_core_after: core, position and act are required");
    act_init(gd, a);
    gd->trial.undo = 0;
    /* a trial that ended kept: from here on, open means running */
    if (gd->trial.open && !(gd->h.det[DET_PLATEAU][7] > 0)) gd->trial.open = gd->trial.taken = 0;
    if (!applied) return GG_OK;
    /* the optimizer measured each tensor's update in its own pass: a
     * non-finite update means non-finite weights now */
    if (bad_tensor >= 0 && bad_tensor < gd->n) {
        char detail[256];
        snprintf(detail, sizeof detail, "the update of %s is not finite", gd->name[bad_tensor]);
        gd->m.cnt.nonfinite++;
        a->verdict = respond(gd, GG_DO_ROLLBACK, pos->step - 1, pos->epoch, "nonfinite_weights", bad_norm, 0, detail, NAN);
        jump_note(gd, a->verdict, pos->step - 1);
        return GG_OK;
    }
    gd->h.good_steps++;
    /* none while a trial runs: its undo restores the slots of its start */
    if (gd->h.good_steps % gd->c.snapshot_every == 0 && !gd->trial.open) a->snapshot = snapshot_due(gd, pos);
    if (trial_due(gd, pos->step)) {
        trial_take(gd, pos);
        a->trial_snapshot = GG_GUARD_TRIAL_SLOT;
    }
    return GG_OK;
}

/* the public forms tell the actuator whether there are events to read */
gg_status gg_guard_core_check(gg_guard_core *gd, const gg_guard_obs *o, gg_guard_act *a)
{
    gg_status st = check(gd, o, a);
    if (st != GG_OK) return st;
    a->nevents = gd->nev;
    if (gd->tensor_lr_new) {
        for (int i = 0; i < gd->n; i++) gd->tensor_lr[i] = (float)gd->m.tensor_lr[i];
        a->tensor_lr = gd->tensor_lr;
        gd->tensor_lr_new = 0;
    }
    return st;
}

gg_status gg_guard_core_after(gg_guard_core *gd, const gg_train_pos *pos, int applied, int bad_tensor,
                              double bad_norm, gg_guard_act *a)
{
    gg_status st = after(gd, pos, applied, bad_tensor, bad_norm, a);
    if (st == GG_OK) a->nevents = gd->nev;
    return st;
}

int gg_guard_core_rollback(gg_guard_core *gd, gg_train_pos *pos)
{
    if (!gd || !pos) return gg_fail(GG_E_ARG, "gg_guard_core_rollback: core and position are required"), -1;
    if (gd->trial.undo && gd->trial.open && gd->sn[GG_GUARD_TRIAL_SLOT].valid) return undo_trial(gd, pos);
    /* any other rollback ends a trial: the state it returns to is older */
    gd->trial.taken = gd->trial.open = gd->trial.undo = 0;
    int k = gd->confirmed;
    struct gg_snap *sp = &gd->sn[k];
    if (!sp->valid) return gg_fail(GG_E_STATE, "guard: no snapshot to roll back to"), -1;
    /* a failure again by the time the replay is half a snapshot interval
     * past the last one says the rate is too high: the rate backs off and
     * the backed-off rate becomes a ceiling. A failure within half an
     * interval of the state it goes back to backs off too: the rate has not
     * shown it holds (gauntlet case 2 fails at step 3); when that failure
     * is the loss blowing up (the rate's own signal, where a non-finite
     * batch may be the data's), the backed-off rate is a ceiling as well:
     * climbing back to the rate that blew up within a few steps killed
     * most ReLU units of case 2 by step 150 in some draws, and the rollback
     * that answered it went back to step 0. An isolated one, after a
     * healthy stretch, is a bad batch until shown otherwise: it is skipped
     * on replay, and the replay tests the rate, which is kept (a run with
     * bad batches 150 to 200 steps apart, gauntlet case 5, ended with its
     * rate capped at 1/16 when each of them counted as the rate's failure) */
    long failed_at = pos->step;
    int repeated = gd->m.last_failure >= 0 && failed_at - gd->m.last_failure <= gd->c.snapshot_every / 2;
    int young = failed_at - sp->pos.step < gd->c.snapshot_every / 2;
    int young_blowup = young && gd->m.blowup_pending;
    /* failures spread out in time are isolated one by one, but a run that
     * keeps failing is at a rate it cannot hold: from half the budget on,
     * each rollback lowers the ceiling, so the run slows down before the
     * budget would stop it (a tanh RNN at Adam lr 0.3 rolled back ten times,
     * 600 to 2,000 steps apart, climbing back to 0.3 after each) */
    int persistent = gd->m.rollbacks_used >= (gd->c.rollback_budget + 1) / 2;
    gd->m.last_failure = failed_at;
    gd->m.last_skipped = -1;
    gd->m.after_skip = 0;
    *pos = sp->pos;
    gd->sn[1 - k].valid = 0;
    gd->pending_healthy = 0;
    gd->m.rollbacks_used++;
    gd->m.cnt.rollbacks++;
    gd->m.consecutive_skips = 0;
    gd->m.skip_probes = 0;
    /* a failure while a jump of the schedule's rate is on probation is the
     * jump's: the rate is capped at the highest that held, which is the
     * back-off (rate_jump) */
    if (on_probation(&gd->m, failed_at)) {
        gd->m.jump_cap = gd->m.jump_held;
        gd->m.jump_step = -1;
        if (!gd->m.jump_pending) gd->m.cnt.rate_jump++;
    } else {
        if (repeated || young || persistent || gd->m.collapse_ceiling) {
            backoff(gd);
            gd->m.stuck_from = sp->pos.step;
            gd->m.stuck_steps = 0;
        }
        /* a rate that killed the network's units is more than twice too
         * high, and finding it out took a detection window: back off twice */
        if (gd->m.collapse_ceiling) backoff(gd);
        /* a collapse is a rate that silently diverged: not tried again either */
        if (repeated || young_blowup || persistent || gd->m.collapse_ceiling) gd->m.lr_ceiling = gd->m.lr_scale;
    }
    gd->m.jump_pending = 0;
    gd->m.collapse_ceiling = 0;
    gd->m.blowup_pending = 0;
    /* the detectors compare against the history of the restored state, not
     * the failed branch's (a loss judged against a trained run's level
     * after a rollback to its first step would be a "blow-up" at once) */
    gg_guard_hist_copy(&gd->h, &sp->h, &gd->c);
    gg_quiet_reset(gd->q);
    return k;
}

void gg_guard_core_set_chance(gg_guard_core *gd, double loss) { if (gd) gd->chance = loss; }

void gg_guard_core_diagnosis(gg_guard_core *gd, const gg_check_info *ci, const char *batch_desc)
{
    /* attach to the newest event (the one that asked for the diagnosis) */
    if (!gd || gd->nev == 0) return;
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

static gg_guard_state_parts parts(const gg_guard_core *gd)
{
    gg_guard_core *m = (gg_guard_core *)gd;
    gg_guard_state_parts p = {&m->h, &m->m, gg_quiet_history(m->q), gd->c.trend_window, gd->c.history,
                              gg_quiet_ring_len(m->q)};
    return p;
}

int gg_guard_core_state_count(const gg_guard_core *gd)
{
    if (!gd) return 0;
    gg_guard_state_parts p = parts(gd);
    return gg_guard_parts_count(&p);
}

int gg_guard_core_state_get(const gg_guard_core *gd, int i, const char **name, char *buf, size_t cap)
{
    if (!gd || !name) return -1;
    gg_guard_state_parts p = parts(gd);
    return gg_guard_parts_get(&p, i, name, buf, cap);
}

gg_status gg_guard_core_state_set(gg_guard_core *gd, const char *name, const char *text)
{
    if (!gd || !name || !text) return gg_fail(GG_E_ARG, "gg_guard_core_state_set: guard, name and text are required");
    gg_guard_state_parts p = parts(gd);
    gg_status st = gg_guard_parts_set(&p, name, text);
    /* a loaded factor reaches the optimizer with the next act */
    if (st == GG_OK && strcmp(name, "memory.tensor_lr") == 0) gd->tensor_lr_new = 1;
    /* a loaded state is not the one a trial's start was taken on: a trial
     * in it is undone in place */
    gd->trial.taken = gd->trial.open = gd->trial.undo = 0;
    return st;
}

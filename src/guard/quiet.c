/*
 * quiet.c - the monitor for the quiet failures (see quiet.h).
 *
 * Layers are found once, in one pass over the graph in build order (= depth
 * order): a layer is a run of nodes with the same layer name that owns
 * parameters or an activation worth watching (ReLU: dead units; tanh and
 * sigmoid: saturation). A monitor pass then costs one pass over those
 * activations (for the MLP, batch x 384 floats) and one over the weights
 * (the update/weight ratio), every monitor_every steps; the per-step work
 * stays in guard.c (the smoothed loss it already keeps).
 *
 * Detectors, each on the pure functions of detect.c:
 *   stall      smoothed loss within chance_margin of ln C at every pass over
 *              stall_window steps; or (with or without a chance level) its
 *              fitted relative progress over progress_window below
 *              min_progress while the learning rate is not in a schedule's
 *              tail. With a layer of dead units at the same time it is a
 *              collapse instead.
 *   vanishing  first-to-last layer gradient-norm ratio below vanish_ratio,
 *   dead       a ReLU layer with dead_fraction of its units dead,
 *   saturation a tanh/sigmoid layer with saturation_fraction saturated,
 *   update     a layer's update/weight ratio outside the band,
 * the last four for quiet_persist passes in a row. A stall's event carries
 * the diagnosis: which of the others the numbers point to.
 */
#include "quiet.h"

#include "core/error.h"
#include "detect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a unit is saturated when this share of the batch is beyond the threshold */
#define SAT_BATCH GG_QUIET_SAT_BATCH
/* below this share of the largest learning rate seen, a schedule is in its
 * tail: small updates and a flat loss are intended there */
#define LR_TAIL 0.1

/* Units or a profile that training made: the baseline (the first measured
 * pass, raised after a rollback) clearly on the healthy side of the
 * threshold, by this share of units or a decade of profile ratio. A state
 * snapshotted at 68% dead units that reaches 73% on replay was at the edge
 * already; rolling it back again at a lower rate met the same units at the
 * same step until the budget stopped the run (the docs' PyTorch example). */
#define MADE_MARGIN 0.1
#define MADE_DECADES 1.0

/* a layer with parameters has a gradient norm; the others NaN */
#define HAS_PARAMS(q, l) (!isnan((q)->L[l].grad_norm))

struct gg_quiet {
    gg_guard_config c;
    int ring_n, stall_pts;
    int max_layers;
    double *prof;       /* scratch: the gradient profile, max_layers long */
    gg_guard_layer *lm; /* scratch: the pass's layers, shares over too few samples masked */
    gg_quiet_hist h;    /* the windows and report state (quiet.h) */
    /* the layers of the pass under way (the caller's) */
    const gg_guard_layer *L;
    double profile;     /* the last pass's gradient profile ratio (NaN: none) */
    int nl, na;
};

static const char *const names[GG_Q_COUNT] = {"stall", "collapse", "vanishing_gradient", "dead_units",
                                              "saturation", "update_ratio", "stall_end"};

const char *gg_quiet_name(gg_quiet_signal s) { return s >= 0 && s < GG_Q_COUNT ? names[s] : "?"; }

double gg_quiet_fastest_update(const gg_quiet *q, int *which)
{
    double m = NAN;
    *which = -1;
    for (int l = 0; q && q->L && l < q->nl; l++) {
        double r = q->L[l].update_ratio;
        if (isfinite(r) && !(r <= m)) m = r, *which = l;
    }
    return m;
}

int gg_quiet_vanishes(const gg_quiet *q)
{
    return q && ((isfinite(q->profile) && q->profile < q->c.vanish_ratio) || q->h.ratio0 < q->c.vanish_ratio);
}

const char *gg_quiet_layer(const gg_quiet *q, int l) { return q && q->L && l >= 0 && l < q->nl ? q->L[l].layer : "?"; }

gg_quiet *gg_quiet_new(const gg_guard_config *c, int max_layers)
{
    gg_quiet *q = calloc(1, sizeof *q);
    if (!q) goto oom;
    q->c = *c;
    q->profile = NAN;
    if (q->c.monitor_every <= 0) q->c.monitor_every = 50;
    q->max_layers = max_layers > 0 ? max_layers : 1;
    q->prof = calloc((size_t)q->max_layers, sizeof *q->prof);
    q->lm = calloc((size_t)q->max_layers, sizeof *q->lm);
    int me = q->c.monitor_every;
    /* passes spanning stall_window steps, both ends included */
    q->stall_pts = (c->stall_window + me - 1) / me + 1;
    if (q->stall_pts < 2) q->stall_pts = 2;
    q->ring_n = c->progress_window > 0 ? (c->progress_window + me - 1) / me + 1 : 0;
    if (q->ring_n < q->stall_pts) q->ring_n = q->stall_pts;
    q->h.ring = calloc((size_t)q->ring_n, sizeof *q->h.ring);
    if (!q->prof || !q->lm || !q->h.ring) goto oom;
    for (int s = 0; s < GG_Q_COUNT; s++) q->h.last_report[s] = -1;
    q->h.ratio0 = NAN;
    q->h.dead0 = NAN;
    q->h.sat0 = NAN;
    return q;
oom:
    gg_quiet_free(q);
    gg_fail(GG_E_NOMEM, "guard: out of memory for the quiet-failure monitor");
    return NULL;
}

void gg_quiet_free(gg_quiet *q)
{
    if (!q) return;
    free(q->prof);
    free(q->lm);
    free(q->h.ring);
    free(q);
}

int gg_quiet_unhealthy(const gg_quiet *q) { return q ? q->h.unhealthy : 0; }

gg_quiet_hist *gg_quiet_history(gg_quiet *q) { return q ? &q->h : NULL; }
int gg_quiet_ring_len(const gg_quiet *q) { return q ? q->ring_n : 0; }

void gg_quiet_save(const gg_quiet *q, gg_quiet_hist *dst)
{
    if (!q || !dst) return;
    double *ring = dst->ring;
    *dst = q->h;
    dst->ring = ring;
    memcpy(ring, q->h.ring, sizeof *ring * (size_t)q->ring_n);
}

void gg_quiet_load(gg_quiet *q, const gg_quiet_hist *src)
{
    if (!q || !src) return;
    double *ring = q->h.ring;
    q->h = *src;
    q->h.ring = ring;
    memcpy(ring, src->ring, sizeof *ring * (size_t)q->ring_n);
}

void gg_quiet_reset(gg_quiet *q)
{
    if (!q) return;
    q->h.unhealthy = 0;
    q->h.rebase = 1;
    q->h.ring_pos = q->h.ring_fill = 0;
    /* what was reported before is history now; no "moves again" for it */
    for (int s = 0; s < GG_Q_COUNT; s++) q->h.persist[s] = q->h.active[s] = 0;
}

/* ---- measuring ---------------------------------------------------------- */

/* ---- describing --------------------------------------------------------- */

/* "fc1 3.1e-09 ... fc21 0.002 (ratio 1.5e-06)": first, middle, last. */
static size_t profile_text(const gg_quiet *q, double ratio, char *out, size_t cap)
{
    int idx[3], m = 0;
    for (int l = 0; l < q->nl && m < 1; l++)
        if (HAS_PARAMS(q, l)) idx[m++] = l;
    int last = -1;
    for (int l = q->nl - 1; l >= 0 && last < 0; l--)
        if (HAS_PARAMS(q, l)) last = l;
    int mid = -1, seen = 0, total = 0;
    for (int l = 0; l < q->nl; l++) total += HAS_PARAMS(q, l);
    for (int l = 0; l < q->nl && mid < 0; l++)
        if (HAS_PARAMS(q, l) && seen++ == total / 2) mid = l;
    if (mid >= 0 && mid != idx[0] && mid != last) idx[m++] = mid;
    if (last >= 0 && last != idx[0]) idx[m++] = last;
    size_t k = 0;
    for (int i = 0; i < m && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%s %.2g", i ? " ... " : "", q->L[idx[i]].layer, q->L[idx[i]].grad_norm);
    if (k < cap) k += (size_t)snprintf(out + k, cap - k, " (ratio %.2g)", ratio);
    return k < cap ? k : cap;
}

/* The layers whose value (dead or saturated share) is highest: "fc2 81%,
 * fc3 64%" (up to 2 at or above th), and the count of flagged layers. */
static int worst_layers(const gg_quiet *q, int dead, double th, char *out, size_t cap)
{
    int first = -1, second = -1, flagged = 0;
    for (int l = 0; l < q->nl; l++) {
        double v = dead ? q->L[l].dead_fraction : q->L[l].saturated_fraction;
        if (!(v >= th)) continue;
        flagged++;
        double vf = first >= 0 ? (dead ? q->L[first].dead_fraction : q->L[first].saturated_fraction) : -1;
        double vs = second >= 0 ? (dead ? q->L[second].dead_fraction : q->L[second].saturated_fraction) : -1;
        if (v > vf) {
            second = first;
            first = l;
        } else if (v > vs) {
            second = l;
        }
    }
    out[0] = 0;
    if (first >= 0) {
        size_t k = (size_t)snprintf(out, cap, "%s %.0f%%", q->L[first].layer,
                                    100 * (dead ? q->L[first].dead_fraction : q->L[first].saturated_fraction));
        if (second >= 0 && k < cap)
            snprintf(out + k, cap - k, ", %s %.0f%%", q->L[second].layer,
                     100 * (dead ? q->L[second].dead_fraction : q->L[second].saturated_fraction));
    }
    return flagged;
}

/* Largest share of dead units over the ReLU layers (0 when none). */
static double max_dead(const gg_quiet *q, int *which)
{
    double m = 0;
    *which = -1;
    for (int l = 0; l < q->nl; l++)
        if (q->L[l].dead_fraction > m) m = q->L[l].dead_fraction, *which = l;
    return m;
}

/* The layer whose update ratio is furthest outside the band (log
 * distance), or -1; *low says on which side. */
static int worst_update(const gg_quiet *q, int *low)
{
    int w = -1;
    double far = 0;
    for (int l = 0; l < q->nl; l++) {
        double r = q->L[l].update_ratio;
        if (!isfinite(r)) continue;
        double d = 0;
        if (r < q->c.update_ratio_low) d = log(q->c.update_ratio_low / (r > 1e-300 ? r : 1e-300));
        else if (r > q->c.update_ratio_high) d = log(r / q->c.update_ratio_high);
        if (d > far) far = d, w = l, *low = r < q->c.update_ratio_low;
    }
    return w;
}

/* The diagnosis of a stall: which of the known causes the numbers point
 * to. Appends to out. */
static void diagnose_stall(const gg_quiet *q, double ratio, char *out, size_t cap)
{
    size_t k = strlen(out);
    char buf[160];
    if (isfinite(ratio) && ratio < q->c.vanish_ratio) {
        profile_text(q, ratio, buf, sizeof buf);
        k += (size_t)snprintf(out + k, k < cap ? cap - k : 0, "; gradient vanishes with depth: %s", buf);
    }
    int wd;
    double md = max_dead(q, &wd);
    if (k < cap) {
        if (wd >= 0 && md >= q->c.dead_fraction)
            k += (size_t)snprintf(out + k, cap - k, "; dead units: %s %.0f%%", q->L[wd].layer, 100 * md);
        else if (wd >= 0 || q->na > 0)
            k += (size_t)snprintf(out + k, cap - k, "; %.0f%% dead units at most", 100 * md);
    }
    if (k < cap && worst_layers(q, 0, q->c.saturation_fraction, buf, sizeof buf) > 0)
        k += (size_t)snprintf(out + k, cap - k, "; saturated: %s", buf);
    int low = 0, wu = worst_update(q, &low);
    if (k < cap && wu >= 0)
        snprintf(out + k, cap - k, "; learning rate far too %s for %s (update/weight %.2g)", low ? "small" : "large",
                 q->L[wu].layer, q->L[wu].update_ratio);
}

/* Rate limit: report a signal when it starts, then every report_every
 * steps while it lasts. */
static int due(gg_quiet *q, gg_quiet_signal s, long step)
{
    int first = !q->h.active[s];
    q->h.active[s] = 1;
    if (first || q->h.last_report[s] < 0 || step - q->h.last_report[s] >= q->c.report_every) {
        q->h.last_report[s] = step;
        return 1;
    }
    return 0;
}

static gg_quiet_finding *add(gg_quiet_finding *out, int *nf, int cap, gg_quiet_signal s, double v, double th)
{
    if (*nf >= cap) return NULL;
    gg_quiet_finding *f = &out[(*nf)++];
    f->sig = s;
    f->value = v;
    f->threshold = th;
    f->killed = 0;
    f->detail[0] = 0;
    return f;
}

/* ---- the pass ------------------------------------------------------------- */

/* Pushes the smoothed loss onto its series; returns 1 when the series has
 * sat at the chance level for stall_pts passes. *prog is the loss's
 * progress over the window (NaN until the window is full, and in the
 * rate's tail) and *flat 1 when it is below min_progress. */
static int loss_series(gg_quiet *q, double smoothed, double chance, int tail, double *prog, int *flat)
{
    const gg_guard_config *c = &q->c;
    if (isfinite(smoothed)) {
        q->h.ring[q->h.ring_pos] = smoothed;
        q->h.ring_pos = (q->h.ring_pos + 1) % q->ring_n;
        if (q->h.ring_fill < q->ring_n) q->h.ring_fill++;
    }
    int start = q->h.ring_fill < q->ring_n ? 0 : q->h.ring_pos;
    int at_chance = q->h.ring_fill >= q->stall_pts &&
                    gg_at_chance(q->h.ring, q->h.ring_fill, start, q->stall_pts, chance, c->chance_margin);
    *prog = NAN;
    *flat = 0;
    if (c->progress_window > 0 && q->h.ring_fill == q->ring_n && !tail) {
        *prog = gg_loss_progress(q->h.ring, q->ring_n, start);
        *flat = *prog < c->min_progress;
    }
    return at_chance;
}

int gg_quiet_monitor(gg_quiet *q, long step, const gg_guard_layer *layers, int nlayers, double smoothed,
                     double chance, double lr, gg_quiet_finding *out, int cap)
{
    if (!q || !layers) return 0;
    q->nl = nlayers < q->max_layers ? nlayers : q->max_layers;
    /* a unit zero for one sample, or beyond the threshold for it, says
     * little: shares over too few samples are not judged (at batch 1 half
     * the units of a healthy ReLU layer are zero) */
    q->na = 0;
    int has_acts = 0;
    for (int l = 0; l < q->nl; l++) {
        has_acts |= layers[l].act_samples > 0 || isfinite(layers[l].dead_fraction) ||
                    isfinite(layers[l].saturated_fraction);
        q->lm[l] = layers[l];
        if (layers[l].act_samples < GG_GUARD_ACT_SAMPLES) q->lm[l].dead_fraction = q->lm[l].saturated_fraction = NAN;
        q->na += isfinite(q->lm[l].dead_fraction) || isfinite(q->lm[l].saturated_fraction);
    }
    q->L = q->lm;
    int measured = q->na > 0;
    const gg_guard_config *c = &q->c;
    int nf = 0;
    if (lr > q->h.peak_lr) q->h.peak_lr = lr;
    int tail = lr < LR_TAIL * q->h.peak_lr;
    /* the gradient profile over the layers with parameters */
    int np = 0;
    for (int l = 0; l < q->nl; l++)
        if (HAS_PARAMS(q, l)) q->prof[np++] = q->L[l].grad_norm;
    double ratio = gg_profile_ratio(q->prof, np);
    q->profile = ratio;
    if (q->h.passes++ == 0) q->h.ratio0 = ratio;
    double prog;
    int flat, at_chance = loss_series(q, smoothed, chance, tail, &prog, &flat);
    /* per-layer signals, each for quiet_persist passes in a row */
    int dl;
    double md = max_dead(q, &dl);
    double ms = 0;
    for (int l = 0; l < q->nl; l++)
        if (q->L[l].saturated_fraction > ms) ms = q->L[l].saturated_fraction;
    /* the baseline that "made in training" is judged against: the first
     * measured pass, raised by the first one after each rollback (units the
     * restored state already had are not the replay's doing) */
    if (measured && isnan(q->h.dead0)) q->h.dead0 = md, q->h.sat0 = ms;
    else if (measured && q->h.rebase) q->h.dead0 = fmax(q->h.dead0, md), q->h.sat0 = fmax(q->h.sat0, ms);
    if (q->h.rebase && isfinite(ratio) && !(ratio >= q->h.ratio0)) q->h.ratio0 = ratio;
    if (measured || !has_acts) q->h.rebase = 0;
    int van = np >= 2 && isfinite(ratio) && ratio < c->vanish_ratio;
    char sat_txt[96];
    int nsat = worst_layers(q, 0, c->saturation_fraction, sat_txt, sizeof sat_txt);
    int low = 0, wu = tail ? -1 : worst_update(q, &low);
    int on[GG_Q_COUNT] = {0};
    on[GG_Q_VANISHING] = van;
    on[GG_Q_DEAD] = dl >= 0 && md >= c->dead_fraction;
    on[GG_Q_SATURATION] = nsat > 0;
    on[GG_Q_UPDATE_RATIO] = wu >= 0;
    int held[GG_Q_COUNT] = {0};
    held[GG_Q_DEAD] = held[GG_Q_SATURATION] = !measured;
    for (int s = GG_Q_VANISHING; s <= GG_Q_UPDATE_RATIO; s++) {
        /* a signal not measured this pass stays as it was */
        if (!held[s]) q->h.persist[s] = on[s] ? q->h.persist[s] + 1 : 0;
        on[s] = q->h.persist[s] >= c->quiet_persist;
    }
    /* saturation that training made, as the dead units it killed below */
    int sat_made = on[GG_Q_SATURATION] && q->h.sat0 + MADE_MARGIN < c->saturation_fraction;
    int stall = at_chance || flat;
    q->h.unhealthy = at_chance || stall || on[GG_Q_DEAD] || sat_made;
    /* dead units at chance level are a collapse when the network could
     * learn at the start: its first gradient profile did not vanish.
     * Otherwise the dead units are one more symptom of the stall. */
    int collapse = at_chance && on[GG_Q_DEAD] && !(q->h.ratio0 < c->vanish_ratio);
    if (collapse && due(q, GG_Q_COLLAPSE, step)) {
        gg_quiet_finding *f = add(out, &nf, cap, GG_Q_COLLAPSE, smoothed, chance);
        if (f) {
            snprintf(f->detail, sizeof f->detail, "loss %.4f at the chance level %.4f for %d steps with dead units",
                     smoothed, chance, (q->stall_pts - 1) * c->monitor_every);
            diagnose_stall(q, ratio, f->detail, sizeof f->detail);
        }
    } else if (stall && !collapse && due(q, GG_Q_STALL, step)) {
        gg_quiet_finding *f = add(out, &nf, cap, GG_Q_STALL, at_chance ? smoothed : prog,
                                  at_chance ? chance : c->min_progress);
        if (f) {
            if (at_chance)
                snprintf(f->detail, sizeof f->detail, "stalled at chance level (loss %.4f = ln %.0f) for %d steps",
                         smoothed, exp(chance), (q->stall_pts - 1) * c->monitor_every);
            else
                snprintf(f->detail, sizeof f->detail, "no progress: loss %.4g %s %.2g%% over %d steps", smoothed,
                         prog < 0 ? "rose" : "fell only", fabs(100 * prog), (q->ring_n - 1) * c->monitor_every);
            diagnose_stall(q, ratio, f->detail, sizeof f->detail);
        }
    }
    if (!stall && !collapse && (q->h.active[GG_Q_STALL] || q->h.active[GG_Q_COLLAPSE])) {
        q->h.active[GG_Q_STALL] = q->h.active[GG_Q_COLLAPSE] = 0;
        gg_quiet_finding *f = add(out, &nf, cap, GG_Q_STALL_END, smoothed, chance);
        if (f) snprintf(f->detail, sizeof f->detail, "the loss moves again (%.4g)", smoothed);
    }
    if (!stall) q->h.active[GG_Q_STALL] = 0;
    if (!collapse) q->h.active[GG_Q_COLLAPSE] = 0;
    /* the per-layer signals on their own, so they show before a stall does */
    if (on[GG_Q_VANISHING] && due(q, GG_Q_VANISHING, step)) {
        gg_quiet_finding *f = add(out, &nf, cap, GG_Q_VANISHING, ratio, c->vanish_ratio);
        if (f) {
            /* a profile the first pass did not have: training made it vanish */
            f->killed = q->h.ratio0 >= c->vanish_ratio * pow(10, MADE_DECADES);
            size_t k = (size_t)snprintf(f->detail, sizeof f->detail, "gradient norm through depth: ");
            k += profile_text(q, ratio, f->detail + k, sizeof f->detail - k);
            if (f->killed && k < sizeof f->detail)
                snprintf(f->detail + k, sizeof f->detail - k, " (vanished in training: the first pass's ratio was %.2g)",
                         q->h.ratio0);
        }
    }
    if (on[GG_Q_DEAD] && !held[GG_Q_DEAD] && due(q, GG_Q_DEAD, step)) {
        gg_quiet_finding *f = add(out, &nf, cap, GG_Q_DEAD, md, c->dead_fraction);
        char buf[96];
        int nl = worst_layers(q, 1, c->dead_fraction, buf, sizeof buf);
        /* units that training killed, in a net that could learn at the
         * start; a collapse answers for them when the loss is at chance */
        if (f) f->killed = !collapse && q->h.dead0 + MADE_MARGIN < c->dead_fraction && !(q->h.ratio0 < c->vanish_ratio);
        if (f) snprintf(f->detail, sizeof f->detail, "dead ReLU units (zero for the whole batch): %s; %d layer%s over %.0f%%%s",
                        buf, nl, nl == 1 ? "" : "s", 100 * c->dead_fraction,
                        f->killed ? " (killed in training: the first pass had fewer)" : "");
    }
    if (on[GG_Q_SATURATION] && !held[GG_Q_SATURATION] && due(q, GG_Q_SATURATION, step)) {
        gg_quiet_finding *f = add(out, &nf, cap, GG_Q_SATURATION, ms, c->saturation_fraction);
        if (f) f->killed = sat_made;
        if (f) snprintf(f->detail, sizeof f->detail, "saturated units (|pre-activation| > %.3g for %.0f%% of the batch): %s%s",
                        c->saturation_threshold, 100 * SAT_BATCH, sat_txt,
                        sat_made ? " (saturated in training: the first pass had fewer)" : "");
    }
    if (on[GG_Q_UPDATE_RATIO] && due(q, GG_Q_UPDATE_RATIO, step)) {
        gg_quiet_finding *f = add(out, &nf, cap, GG_Q_UPDATE_RATIO, q->L[wu].update_ratio,
                                  low ? c->update_ratio_low : c->update_ratio_high);
        if (f) snprintf(f->detail, sizeof f->detail, "update/weight norm of %s is %.2g, %s the band [%.2g, %.2g]: learning rate far too %s there",
                        q->L[wu].layer, q->L[wu].update_ratio, low ? "below" : "above", c->update_ratio_low,
                        c->update_ratio_high, low ? "small" : "large");
    }
    for (int s = GG_Q_VANISHING; s <= GG_Q_UPDATE_RATIO; s++)
        if (!on[s] && !held[s]) q->h.active[s] = 0;
    return nf;
}

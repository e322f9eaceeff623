/*
 * quiet.h - the guard's monitor for the quiet failures: a run whose loss
 * stays finite but which stops learning (a stall at chance level or on a
 * plateau), gradients that vanish with depth, dead ReLUs, saturated
 * tanh/sigmoid units, updates far too small or too large for the weights.
 *
 * It decides from per-layer statistics alone (monitor.c measures them on
 * gradguard's graph; another trainer can measure its own), so it knows no
 * graph. It allocates its scratch once in gg_quiet_new; a pass allocates
 * nothing. The decision core (core.c) turns its findings into responses
 * and events.
 */
#ifndef GG_QUIET_H
#define GG_QUIET_H

#include "gradguard.h"

typedef enum gg_quiet_signal {
    GG_Q_STALL,        /* at chance level, or no progress, over the window */
    GG_Q_COLLAPSE,     /* a stall at chance level with a layer of dead units */
    GG_Q_VANISHING,    /* the gradient-norm profile falls by orders of magnitude towards the input */
    GG_Q_DEAD,         /* a ReLU layer with many dead units */
    GG_Q_SATURATION,   /* a tanh/sigmoid layer with many saturated units */
    GG_Q_UPDATE_RATIO, /* update / weight norm far outside the band around 1e-3 */
    GG_Q_STALL_END,    /* a reported stall is over: the loss moves again */
    GG_Q_COUNT
} gg_quiet_signal;

typedef struct gg_quiet_finding {
    gg_quiet_signal sig;
    double value, threshold;
    int killed;       /* dead or saturated units that training made (the first measured pass had
                         fewer; for dead units also: its gradient profile did not vanish, and no
                         collapse answers for them), so the rate did */
    char detail[256]; /* one readable line: what, where, the numbers */
} gg_quiet_finding;

/* The monitor's windows and report state, named for checkpoints (the
 * guard's state table, state.c). A rollback resets it (gg_quiet_reset). */
typedef struct gg_quiet_hist {
    double *ring;                  /* smoothed loss at each pass: progress window (gg_quiet_ring_len long) */
    int ring_pos, ring_fill;       /* next slot, values held */
    int persist[GG_Q_COUNT];       /* consecutive passes each signal has lasted */
    int active[GG_Q_COUNT];        /* the signal was reported and is not over */
    long last_report[GG_Q_COUNT];  /* step it was last reported, -1 never */
    double peak_lr;                /* the largest learning rate seen */
    double ratio0;                 /* the gradient profile at the first pass: NaN before it */
    double dead0;                  /* the largest dead share of a layer at the first measured pass: NaN before it */
    double sat0;                   /* the largest saturated share at the first measured pass: NaN before it */
    int rebase;                    /* a rollback restored an earlier state: the next measured pass is a
                                      first pass too, its shares raising dead0 and sat0 */
    int unhealthy;                 /* the last pass saw the loss at chance, a stall, a dead layer or one
                                      training saturated */
    int passes;
} gg_quiet_hist;

typedef struct gg_quiet gg_quiet;

/* The monitor's state, for the guard's state table; NULL for no monitor. */
gg_quiet_hist *gg_quiet_history(gg_quiet *q);
int gg_quiet_ring_len(const gg_quiet *q);

/* The quiet-failure detectors for layer tables of up to max_layers layers.
 * NULL on failure (out of memory; the message is set). */
gg_quiet *gg_quiet_new(const gg_guard_config *c, int max_layers);
void gg_quiet_free(gg_quiet *q);

/* A unit is saturated when this share of the batch is beyond the threshold. */
#define GG_QUIET_SAT_BATCH 0.9

/* One pass at `step` over per-layer statistics in depth order (layers[l]:
 * its gradient norm, NaN for a layer without parameters; its dead and
 * saturated shares, NaN where not measured, not judged when measured over
 * fewer than GG_GUARD_ACT_SAMPLES samples (a pass without them leaves the
 * two signals' persistence as it was); its update/weight ratio, NaN where
 * none), smoothed the EMA-smoothed loss, chance the chance-level loss
 * (0: none), lr the learning rate in force. Writes at most cap findings to
 * out (rate-limited: a signal that persists is repeated once every
 * report_every steps) and returns their number. */
int gg_quiet_monitor(gg_quiet *q, long step, const gg_guard_layer *layers, int nlayers, double smoothed,
                     double chance, double lr, gg_quiet_finding *out, int cap);

/* 1 when the last pass saw the loss at chance level, a stall or a dead
 * layer: no state taken now should become a rollback target. */
int gg_quiet_unhealthy(const gg_quiet *q);

/* Copies the windows into *dst (whose ring, gg_quiet_ring_len long, is the
 * caller's) and back: the state a trial began from, restored when it is
 * undone (core.c). */
void gg_quiet_save(const gg_quiet *q, gg_quiet_hist *dst);
void gg_quiet_load(gg_quiet *q, const gg_quiet_hist *src);

/* Forgets the loss history (after a rollback the run restarts from an
 * earlier state). */
void gg_quiet_reset(gg_quiet *q);

const char *gg_quiet_name(gg_quiet_signal s);

/* The largest update/weight ratio of the last pass's layers (NaN when none
 * was measured), *which its layer (-1 none): the layer the rate moves
 * fastest. gg_quiet_layer names layer l of the last pass. */
double gg_quiet_fastest_update(const gg_quiet *q, int *which);
const char *gg_quiet_layer(const gg_quiet *q, int l);
/* 1 when the gradient profile vanishes with depth, at the last pass or at
 * the first (small updates there are the vanishing gradient's, not the
 * rate's). */
int gg_quiet_vanishes(const gg_quiet *q);

#endif

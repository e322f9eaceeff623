/*
 * quiet.h - the guard's monitor for the quiet failures: a run whose loss
 * stays finite but which stops learning (a stall at chance level or on a
 * plateau), gradients that vanish with depth, dead ReLUs, saturated
 * tanh/sigmoid units, updates far too small or too large for the weights.
 *
 * It runs at the monitor interval, on what the graph already holds after
 * backward (every op's output stays in its own slot of the activation
 * arena) and on the guard's per-tensor squared gradient norms. It allocates
 * its scratch once in gg_quiet_new; a monitor pass allocates nothing.
 * guard.c turns its findings into responses and events.
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
    int unhealthy;                 /* the last pass saw the loss at chance, a stall or a dead layer */
    int passes;
} gg_quiet_hist;

typedef struct gg_quiet gg_quiet;

/* The monitor's state, for the guard's state table; NULL for no monitor. */
gg_quiet_hist *gg_quiet_history(gg_quiet *q);
int gg_quiet_ring_len(const gg_quiet *q);

/* A monitor over g's layers (pi[0..np) are its parameter tensors). NULL on
 * failure (out of memory; the message is set). */
gg_quiet *gg_quiet_new(gg_graph *g, const gg_guard_config *c, const gg_param_info *pi, int np);
void gg_quiet_free(gg_quiet *q);

/* One monitor pass at `step`: sq[i] the squared gradient norm of tensor i
 * (before clipping), un[i] the update norm of tensor i's last step (NULL if
 * none yet), smoothed the EMA-smoothed loss, chance the chance-level loss
 * (0: none), lr the learning rate in force. Writes at most cap findings to
 * out (rate-limited: a signal that persists is repeated once every
 * report_every steps) and returns their number. */
int gg_quiet_monitor(gg_quiet *q, long step, const double *sq, const double *un, double smoothed, double chance,
                     double lr, gg_quiet_finding *out, int cap);

/* Per-layer statistics of the last pass, in depth order. */
const gg_guard_layer *gg_quiet_layers(const gg_quiet *q, int *n);

/* The layer index (into gg_quiet_layers) of parameter tensor i. */
int gg_quiet_layer_of(const gg_quiet *q, int i);

/* 1 when the last pass saw the loss at chance level, a stall or a dead
 * layer: no state taken now should become a rollback target. */
int gg_quiet_unhealthy(const gg_quiet *q);

/* Forgets the loss history (after a rollback the run restarts from an
 * earlier state). */
void gg_quiet_reset(gg_quiet *q);

const char *gg_quiet_name(gg_quiet_signal s);

#endif

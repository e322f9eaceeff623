/*
 * state.h - the guard's state: every statistic, window, history and counter
 * it keeps, in three structs with named fields.
 *
 * gg_guard_hist: what the guard has learned from the run's trajectory, the
 *   history its detectors compare each step against. It belongs to a point
 *   of the run: every snapshot keeps a copy, and a rollback restores the
 *   snapshot's, so after a rollback each comparison is against the history
 *   of the state the run returned to, never against the failed branch's.
 * gg_guard_memory: what the guard has decided over the whole run, failed
 *   branches included (the rate's back-off and ceiling, rollbacks used, the
 *   counters). A rollback keeps it and adds to it: that is how a rate that
 *   failed is not tried again.
 * gg_quiet_hist (quiet.h): the quiet monitor's windows. A rollback resets
 *   them (stated rule: the stall and progress windows start again from the
 *   restored state, and what was reported before is not reported as over).
 *
 * A checkpoint carries all three, field by field under the names of the
 * table in state.c (gg_guard_state_get / gg_guard_state_set), so a resumed
 * run's guard is the uninterrupted run's guard.
 */
#ifndef GG_GUARD_STATE_H
#define GG_GUARD_STATE_H

#include "detect.h"
#include "gradguard.h"

/* The detector table's size and each detector's room for state. */
#define GG_DETECTORS 8
#define GG_DET_STATE 10

typedef struct gg_guard_hist {
    gg_ema ema_g;      /* log gradient norm: gradient spikes */
    gg_ema ema_l;      /* log loss: loss spikes and blow-ups */
    gg_ema ema_clip;   /* gradient norm after clipping: the z-score clip */
    /* the loss jump: log loss's level of the last few steps, its usual
     * change from one step to the next, the last one */
    gg_ema jump_level, jump_change;
    double jump_last;
    double loss_first; /* the first finite loss, 0 before it */
    int ring_pos;      /* log norms pushed into the trend window */
    int trend_cool;    /* steps before the trend detector may fire again */
    int hist_n, hist_pos; /* AutoClip: norms kept, the next slot */
    long good_steps;   /* applied healthy steps: the snapshot schedule */
    long noise_t;      /* the gradient noise's annealing step */
    double *ring;      /* the trend window: trend_window log norms, a ring */
    double *hist;      /* AutoClip's norms: `history` of them, a ring */
    /* the table's detectors' own state (core.c, "detectors"): detector d's
     * values, named by its row; saved as hist.<signal>.<name> */
    double det[GG_DETECTORS][GG_DET_STATE];
} gg_guard_hist;

typedef struct gg_guard_memory {
    double lr_scale;         /* the factor on the schedule's rate */
    double lr_ceiling;       /* lr_scale climbs back to at most this */
    long last_failure;       /* step of the last rollback's failure, -1 none */
    long last_skipped;       /* step of the last failure skip_first skipped, -1 none */
    int after_skip;          /* skip_first skipped a failure and no finite step has followed */
    long good_since_backoff; /* healthy steps since the last back-off */
    long rollbacks_used;
    int consecutive_skips;
    int skip_probes;         /* probes the weights passed in this run of skipped steps (gg_guard_core_probe) */
    int noise_on;            /* the noise response switched gradient noise on */
    int z_loss_on;           /* the z_loss response switched the output's z-loss on */
    int collapse_ceiling;    /* the coming rollback answers a collapse */
    int blowup_pending;      /* the coming rollback answers a loss blow-up */
    /* the slow-rate rule (core.c, slow_rate): 0 undecided, 1 raising the
     * rate, 2 decided (the loss fell under half its first, the rule raised
     * the rate to its target or limit, or a failure backed it off) */
    int slow_state;
    int slow_passes;         /* monitor passes in a row with every layer's update ratio under slow_ratio */
    double slow_lr;          /* the schedule's rate at the last pass: a rising one is a warm-up */
    double slow_peak;        /* the schedule's largest rate at a pass: under half of it, a decay */
    /* the rate-jump rule (core.c, rate_jump): a schedule rate over rate_jump
     * times the highest one the run has held is on probation for
     * jump_window steps; a failure in them caps the rate at that highest */
    double jump_held;        /* the schedule's highest rate that held (reached outside a probation, or survived one) */
    double jump_cap;         /* the schedule rate let through at most (0: none) */
    long jump_step;          /* the step the probation began, -1 none */
    double jump_loss;        /* the smoothed loss before it */
    double jump_rate;        /* the highest schedule rate of the probation */
    int jump_pending;        /* the coming rollback answers a failure on probation: the cap is its back-off */
    /* after a rollback that backed the rate off: the step it returned to
     * (-1 none, or the run learned since) and the steps in a row the
     * smoothed loss has sat at chance since (core.c, stuck_at_chance) */
    long stuck_from;
    int stuck_steps;
    int stuck_tries; /* its rollbacks since the net last learned; STUCK_TRIES + 1 once it gave up */
    gg_guard_counters cnt;
    /* per tensor, the factor on its learning rate (1, or backed off for an
     * attention block whose logits grew); allocated by the core with n */
    double *tensor_lr;
    int n_tensors;
} gg_guard_memory;

/* Array lengths come from the config (trend_window, history); the arrays of
 * a copy are its own, allocated once. */
int gg_guard_hist_alloc(gg_guard_hist *h, const gg_guard_config *c);
void gg_guard_hist_free(gg_guard_hist *h);
void gg_guard_hist_copy(gg_guard_hist *dst, const gg_guard_hist *src, const gg_guard_config *c);
void gg_guard_hist_init(gg_guard_hist *h);
void gg_guard_memory_init(gg_guard_memory *m);
/* *dst = *src, dst keeping its own tensor_lr array (as long as src's). */
void gg_guard_memory_copy(gg_guard_memory *dst, const gg_guard_memory *src);


/* The table's detectors, for the state's names (core.c): detector d's
 * signal, or NULL past the last; *names its state's names, NULL-terminated. */
const char *gg_guard_detector(int d, const char *const **names);
/* Sets detector state to the rows' initial values. */
void gg_guard_detectors_init(gg_guard_hist *h);

/* The three parts of one guard, for the named-field table. */
typedef struct gg_guard_state_parts {
    gg_guard_hist *hist;
    gg_guard_memory *memory;
    struct gg_quiet_hist *quiet; /* NULL without the quiet monitor */
    int trend_len, history_len, quiet_ring_len;
} gg_guard_state_parts;

/* The number of named fields that apply (the quiet ones only with a
 * monitor). */
int gg_guard_parts_count(const gg_guard_state_parts *s);
/* Field i: *name, and its value as text into buf (numbers with 17
 * significant digits, arrays comma-separated). Returns the text's length
 * (as snprintf: a larger cap is needed when it is >= cap), -1 when i is out
 * of range. */
int gg_guard_parts_get(const gg_guard_state_parts *s, int i, const char **name, char *buf, size_t cap);
/* Sets the field called name from its text; GG_E_FORMAT naming the field
 * for an unknown name, a malformed number or an array of another length. */
gg_status gg_guard_parts_set(gg_guard_state_parts *s, const char *name, const char *text);

#endif

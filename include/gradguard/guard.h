/*
 * gradguard/guard.h - the guard (src/guard, src/train/guard_act.c): its
 * configuration, events and statistics, gg_guard on gradguard's graph and
 * optimizer, the initialisation check, and the decision core another
 * trainer can drive with its own tensors.
 *
 * Part of the public API; include "gradguard.h" for all of it, or this file
 * alone (it includes gradguard/graph.h and gradguard/optim.h).
 */
#ifndef GRADGUARD_GUARD_H
#define GRADGUARD_GUARD_H

#include "graph.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== guard (src/guard) ================================================== */
/*
 * The guard is a stage of every training step, between backward (and the
 * MPI allreduce) and the optimizer: it measures the gradients (one pass
 * over the gradient arena), detects non-finite values, spikes and trends
 * against the run's own history, acts by policy (clip, add noise, skip the
 * step, back off the learning rate, roll back to a snapshot) and records
 * every decision as an event with its reason.
 */

typedef enum gg_clip_kind {
    GG_CLIP_NONE,
    GG_CLIP_VALUE,      /* g <- clamp(g, -value, value) */
    GG_CLIP_NORM,       /* global L2 norm to at most max_norm */
    GG_CLIP_TENSOR,     /* each tensor's L2 norm to at most max_norm */
    GG_CLIP_AGC,        /* unit-wise: ||g_i|| <= lambda max(||w_i||, eps) (NFNets) */
    GG_CLIP_PERCENTILE, /* global norm to the p-th percentile of the norms seen (AutoClip) */
    GG_CLIP_ZSCORE,     /* global norm to mean + z std of its EMA when above (ZClip) */
    GG_CLIP_COUNT
} gg_clip_kind;

typedef enum gg_response {
    GG_DO_NOTHING,  /* only log */
    GG_DO_CLIP,     /* clip with the configured method (or max_norm) and go on */
    GG_DO_SKIP,     /* do not apply this step */
    GG_DO_BACKOFF,  /* skip, and back off the learning rate */
    GG_DO_ROLLBACK, /* restore the last snapshot, skip the batches, back off */
    GG_DO_STOP,     /* end the run with status diverged (stalled, for a stall) */
    GG_DO_NOISE,    /* switch on annealed gradient noise (remedy_noise_eta) and go on */
    GG_DO_QK_CLIP,  /* attention: after the update, rescale W_q and W_k of each head whose largest
                       logit is over the threshold so that it is back at the threshold (QK-clip) */
    GG_DO_Z_LOSS,   /* output logits: switch on the z-loss (z_loss_remedy x mean (log Z)^2) and go on */
    GG_DO_RAISE,    /* a rate far too small: raise the learning-rate scale towards slow_target (docs/guard.md) */
    GG_DO_COUNT
} gg_response;

typedef struct gg_guard_config {
    int enabled;
    /* clipping applied every step */
    gg_clip_kind clip;
    float clip_value, max_norm;
    float agc_lambda, agc_eps;
    int agc_exclude_last;      /* leave the final layer out of AGC */
    float percentile;          /* AutoClip p, in (0, 100] */
    int history;               /* norms kept for AutoClip (ring) */
    float clip_z;              /* ZClip threshold */
    /* detection */
    int warmup;                /* steps before spike statistics count */
    float ema_alpha;           /* EMA weight of the newest value, (0, 1) */
    float spike_z;             /* z-score of log grad norm that is a spike */
    float loss_z;              /* z-score of log loss that is a spike */
    int trend_window;          /* steps in the slow-blow-up detector (0: off) */
    float trend_growth;        /* fitted growth of the norm over the window that counts */
    float trend_t;             /* ... and the fit's t-statistic it needs (0: any) */
    /* responses */
    gg_response on_nonfinite, on_spike, on_loss_spike, on_trend;
    int reset_moments;         /* a skipped step also resets the optimizer state of the bad tensors */
    float backoff_factor;      /* lr scale multiplied by this on a back-off */
    int backoff_recover;       /* good steps to restore the lr scale (geometrically) */
    float backoff_min;         /* lower bound of the lr scale */
    int snapshot_every;        /* good steps between rollback snapshots */
    int rollback_budget;       /* rollbacks allowed before stopping (diverged) */
    int skip_batches;          /* batches before a rollback's trigger to skip on replay */
    int max_skips;             /* consecutive skipped steps before escalating to a rollback */
    int skip_first;            /* a blow-up or non-finite step answered by a rollback is skipped first */
    /* annealed Gaussian gradient noise, sigma^2 = eta / (1 + t)^gamma */
    float noise_eta, noise_gamma;
    int diagnose;              /* re-run a non-finite batch in check mode */
    int init_check;            /* 0 off, 1 warn, 2 fix (rescale a poor initialisation) */
    float loss_blowup;         /* loss above this times its running (geometric) mean is a divergence */
    float loss_blowup_floor;   /* ... if also above this fraction of the run's first loss */
    float loss_blowup_z;       /* ... and, once the loss statistics are warm, this many standard deviations of log loss above its mean (0: no such test) */
    gg_response on_blowup;
    gg_response on_collapse;   /* the loss fell back to chance level after progress */
    gg_response on_max_spike;  /* the largest |g| far above its level while the global norm is not */
    int layer_every;           /* per-layer statistics to layers.csv every so many steps */
    /* quiet failures: stalls, vanishing gradients, dead and saturated units
     * (docs/guard.md, "Quiet failures") */
    int quiet;                 /* the quiet-failure monitor */
    int monitor_every;         /* steps between its passes (0: the trainer's log interval; 50 from C) */
    int stall_window;          /* steps with the smoothed loss at chance level that are a stall */
    int progress_window;       /* steps over which the smoothed loss must improve (0: off) */
    float min_progress;        /* relative improvement over progress_window below which it is a stall */
    float chance_margin;       /* relative distance to the chance level that counts as at chance */
    float vanish_ratio;        /* first-to-last layer gradient-norm ratio below which the gradient vanishes */
    float dead_fraction;       /* share of dead units that flags a ReLU layer */
    float saturation_fraction; /* share of saturated units that flags a tanh/sigmoid layer */
    float saturation_threshold;/* |pre-activation| beyond which a tanh unit is saturated (sigmoid: twice it) */
    float update_ratio_low, update_ratio_high; /* band of update norm / weight norm per layer */
    int quiet_persist;         /* consecutive passes a layer signal must last to be reported */
    int report_every;          /* steps between repeats of a signal that persists */
    gg_response on_stall, on_vanishing;
    gg_response on_dead;       /* a ReLU layer's units killed in training (dead at the monitor, alive at its first pass) */
    gg_response on_saturation; /* a tanh/sigmoid layer saturated in training (saturated at the monitor, not at its first pass) */
    gg_response on_vanished;   /* a gradient profile that vanished in training (its first pass's did not) */
    float remedy_noise_eta;    /* eta of the noise that the noise response switches on */
    float slow_ratio;          /* every layer's update/weight ratio under this from the first pass on: the rate is far too small */
    float slow_target;         /* ... raised by this / the fastest layer's ratio (x10 at most a pass) while under half of it */
    float slow_max_raise;      /* ... up to this factor on the schedule's rate */
    gg_response on_slow;       /* response to a rate far too small */
    float rate_jump;           /* the schedule's rate over this times the highest it has held is on probation (0: off) */
    int jump_window;           /* ... for this many steps */
    float jump_rise;           /* the smoothed loss over this times its level before the jump fails the probation */
    gg_response on_rate_jump;  /* response to that failure */
    float worse_factor;        /* a classifier's smoothed loss over this times ln C ... (0: off) */
    int worse_steps;           /* ... for this many steps in a row is worse than guessing */
    gg_response on_worse;      /* response to it */
    gg_response on_update_ratio; /* response to a layer's update ratio over update_ratio_high (under the low end: reported) */
    /* transformers (read only when the model has attention ops or a softmax
     * output the trainer measures: docs/guard.md, "Attention and output logits") */
    float attn_logit_max;      /* a head's largest scaled logit q.k / sqrt(dh) over this is attention-logit growth */
    float attn_logit_floor;    /* ... and so is one over this that rose spike_z deviations above its running level */
    gg_response on_attention;  /* response to attention-logit growth */
    float logz_max;            /* |mean log Z| of the output over this that rose spike_z deviations above its level */
    gg_response on_logit_drift;/* response to output-logit drift */
    float z_loss_remedy;       /* coefficient of the z-loss that the z_loss response switches on */
    int attn_persist;          /* QK-clip acting on every step for this many steps backs the rate off (0: never) */
    float attn_logit_blowup;   /* a head's largest logit over this is past QK-clip's repair: roll back (0: never) */
    float attn_logit_jump;     /* ... and so is one over attn_logit_max at this many times its running level, or over
                                  attn_logit_floor at this many times its level of the last few steps (0: never) */
    float loss_jump;           /* a batch's loss over its level of the last few steps by this many times the loss's usual
                                  step-to-step change (and by 1.5x) is a batch unlike the others (0: off) */
    gg_response on_loss_jump;  /* response to it */
    int plateau_window;        /* once the guard has capped the rate as too high, a smoothed loss that has not fallen by
                                  plateau_drop in this many steps is a rate still too high (0: off); the next window
                                  is twice as long */
    float plateau_drop;        /* the relative fall of the smoothed loss that counts as progress */
    gg_response on_plateau;    /* response to it (a back-off lowers the ceiling with the rate) */
} gg_guard_config;

/* The default policy (docs/results.md has the measurements behind it). */
GG_API gg_guard_config gg_guard_defaults(void);

/* Poor initialisation, checked once on the first batch (filled in by the
 * caller) before training: the RMS of every linear/conv2d output and its
 * fitted growth factor per layer. `poor` when the scale grows or shrinks
 * geometrically (more than 1.25x or under 0.8x per layer, and more than 10x
 * or under 0.1x over the stack, in a stack of 4 or more) or overflows. With
 * fix, a poor initialisation is rescaled layer by layer so each output has
 * RMS 1 on that batch (layer-sequential unit variance); a good one is left
 * untouched. Runs in evaluation mode. Saturation: tanh and sigmoid bound
 * their output and so hide that growth; a net whose tanh (sigmoid) layers,
 * most of them and at least two, start with a pre-activation RMS over 2
 * (4) is poor too (poor_saturated), and the fix rescales those layers to
 * pre-activation RMS 1. Dead units: a ReLU layer (any depth) with half or
 * more of its units zero for the whole batch is poor (poor_dead); the fix
 * resets its bias to 0 before rescaling. */
#define GG_INIT_MAX_LAYERS 256
typedef struct gg_init_report {
    int n;
    char layer[GG_INIT_MAX_LAYERS][GG_NAME_MAX];
    double rms[GG_INIT_MAX_LAYERS];       /* before any fix */
    double rms_fixed[GG_INIT_MAX_LAYERS]; /* after the fix, if fixed (pre-activation RMS for tanh/sigmoid layers) */
    double pre_rms[GG_INIT_MAX_LAYERS];   /* tanh/sigmoid layers: pre-activation RMS before any fix; NaN for others */
    double growth, ratio;
    int squashing, saturated; /* tanh/sigmoid layers, and those with pre-activation RMS > 2 (sigmoid: > 4) */
    int poor_growth;          /* poor because the output scale grows or shrinks geometrically (or overflows) */
    int poor_saturated;       /* poor because most squashing layers (>= 2) start saturated */
    double dead_share[GG_INIT_MAX_LAYERS];       /* ReLU layers: share of units zero for the whole batch; -1 for others */
    double dead_share_fixed[GG_INIT_MAX_LAYERS]; /* ... after the fix */
    int dead;                 /* ReLU layers with half or more of their units dead */
    int poor_dead;            /* poor because a ReLU layer starts with half its units dead (the fix resets its bias to 0) */
    int poor, fixed;
} gg_init_report;
GG_API gg_status gg_init_check(gg_graph *g, int fix, gg_init_report *rep);
/* gg_init_check's verdict from statistics a trainer measured itself (the
 * Python package measures a PyTorch model's first batch): the caller fills
 * rep->n (at most GG_INIT_MAX_LAYERS), rep->layer, rep->rms (each weighted
 * layer's output RMS, in depth order), for the layers whose squash[l] is 1
 * (tanh) or 2 (sigmoid) rep->pre_rms (their pre-activation RMS), and
 * rep->dead_share (ReLU layers: the share of units zero for the whole
 * batch; -1 for the others); squash may be NULL (none). Fills growth,
 * ratio, squashing, saturated, dead and the poor flags as gg_init_check
 * does; fixing is the caller's (see gg_init_check). */
GG_API void gg_init_assess(gg_init_report *rep, const int *squash);
GG_API const char *gg_clip_name(gg_clip_kind k);
GG_API gg_clip_kind gg_clip_parse(const char *name);
GG_API const char *gg_response_name(gg_response r);
GG_API gg_response gg_response_parse(const char *name);

typedef enum gg_verdict {
    GG_GUARD_PROCEED,  /* apply the (possibly clipped) step */
    GG_GUARD_SKIP,     /* do not apply it */
    GG_GUARD_ROLLBACK, /* call gg_guard_rollback and continue from there */
    GG_GUARD_STOP      /* end the run: diverged */
} gg_verdict;

typedef struct gg_guard_decision {
    gg_verdict verdict;
    float lr_scale;  /* multiply the schedule's learning rate by this */
    int diagnose;    /* the trainer should re-run the batch in check mode */
    int clipped;
    int stalled;     /* with GG_GUARD_STOP: the run stalled (status stalled, not diverged) */
    int probe;       /* with GG_GUARD_ROLLBACK: measure the last good batch's loss first (gg_guard_probe) */
    int undo_trial;  /* with GG_GUARD_ROLLBACK: a trial is undone: no batch failed (none is marked bad) */
} gg_guard_decision;

/* Per-step statistics, valid after gg_guard_check. */
typedef struct gg_guard_stats {
    double loss, grad_norm, grad_norm_clipped, max_abs_grad;
    long nonfinite;          /* non-finite gradient elements */
    double z_grad, z_loss;   /* z-scores against the history (0 in warm-up) */
    double clip_threshold;   /* the threshold in force (0 when none) */
    double lr_scale;
} gg_guard_stats;

/* The position of the data stream, saved with snapshots so a rollback can
 * rewind it. */
typedef struct gg_train_pos {
    long step;      /* optimizer steps taken */
    int epoch;      /* 0-based */
    long batch;     /* batches consumed in this epoch */
    gg_schedule_state sched; /* the schedule's state at this position (gg_schedule_save) */
} gg_train_pos;

typedef struct gg_guard gg_guard;
/* A guard over g and o (both must outlive it). Allocates its snapshot
 * arenas here, once. NULL on failure. */
GG_API gg_guard *gg_guard_new(gg_graph *g, gg_optim *o, const gg_guard_config *cfg);
GG_API void gg_guard_free(gg_guard *gd);
/* The inspect-decide-act stage. Call after backward with the step's mean
 * loss; clips and adds noise in the gradient arena in place. */
GG_API gg_guard_decision gg_guard_check(gg_guard *gd, long step, int epoch, double loss);
/* When gg_guard_check's decision has probe set: the loss of the last batch
 * whose step was applied, on the current weights (forward only; NaN when
 * it cannot be measured). Returns the decision to carry out instead (a
 * skip when the weights still pass that batch; see gg_guard_core_probe). */
GG_API gg_guard_decision gg_guard_probe(gg_guard *gd, double loss);
/* Call after the optimizer step was applied (or skipped) with the position
 * after it; takes a snapshot when one is due and checks the parameters. */
GG_API gg_guard_decision gg_guard_after_step(gg_guard *gd, const gg_train_pos *pos, int applied);
/* Restores the last snapshot (parameters, buffers, optimizer state).
 * *pos is in and out: in, the position where the run failed (its step
 * tells a repeated failure from an isolated one); out, the snapshot's
 * position. GG_E_STATE if there is none. */
GG_API gg_status gg_guard_rollback(gg_guard *gd, gg_train_pos *pos);
/* Takes a snapshot now as the rollback target (the trainer takes one
 * before the first step). Later ones are taken every snapshot_every good
 * steps and become the target only after as many healthy steps. */
GG_API void gg_guard_snapshot(gg_guard *gd, const gg_train_pos *pos);
/* The chance-level loss (ln C for C-class cross-entropy), 0 for none:
 * enables the collapse detector. */
GG_API void gg_guard_set_chance(gg_guard *gd, double loss);
/* What the transformer detectors read: with attention 1, every attention
 * op's heads (their largest logit and entropy, each step; QK-clip acts on
 * them); loss >= 0, the softmax_xent op whose log Z is watched and whose
 * z-loss the z_loss response switches on (-1: none). Off by default; the
 * statistics are each process's own, so a data-parallel run leaves them off
 * (every rank must decide alike). GG_E_ARG for a loss that is not a
 * softmax_xent op. */
GG_API gg_status gg_guard_watch(gg_guard *gd, int attention, gg_node loss);
GG_API const gg_guard_stats *gg_guard_last(const gg_guard *gd);
/* The learning rate the coming step uses before the guard's scale: the
 * quiet monitor does not call a decaying schedule's tail a stall, nor its
 * small updates out of band, below 0.1 of the largest rate seen. */
GG_API void gg_guard_set_lr(gg_guard *gd, double lr);

/* Per-layer statistics of the quiet monitor's last pass, in depth order
 * (layers with parameters or an activation): gradient norm, share of dead
 * ReLU units (zero output for every sample of the batch), share of
 * saturated tanh/sigmoid units (|pre-activation| beyond the threshold for
 * 90% of the batch), update/weight norm ratio of its weight tensors. NaN
 * where a value does not apply or was not measured yet. act_samples: the
 * samples the two shares were measured over (the monitor gathers the
 * steps of a small batch until it has GG_GUARD_ACT_SAMPLES of them; the
 * core judges no share measured over fewer). Owned by the guard; NULL with
 * *n = 0 when the monitor is off. */
#define GG_GUARD_ACT_SAMPLES 32
typedef struct gg_guard_layer {
    char layer[GG_NAME_MAX];
    double grad_norm, dead_fraction, saturated_fraction, update_ratio;
    long act_samples;
} gg_guard_layer;
GG_API const gg_guard_layer *gg_guard_layers(const gg_guard *gd, int *n);
/* The index into gg_guard_layers of parameter tensor i (-1 if none). */
GG_API int gg_guard_layer_of(const gg_guard *gd, int i);

/* Records a check-mode diagnosis for the events. */
GG_API void gg_guard_diagnosis(gg_guard *gd, const gg_check_info *ci, const char *batch_desc);

typedef struct gg_guard_event {
    long step;
    int epoch;
    char signal[32];    /* "nonfinite", "grad_spike", "loss_spike", "trend", "budget", "clip" ... */
    double value, threshold;
    char action[32];    /* "clip", "skip", "backoff", "rollback", "stop", "warn" */
    char detail[512];   /* layers concerned, diagnosis, in one readable line */
} gg_guard_event;
/* Events since the last clear, owned by the guard. */
GG_API const gg_guard_event *gg_guard_events(const gg_guard *gd, int *n);
GG_API void gg_guard_clear_events(gg_guard *gd);

typedef struct gg_guard_counters {
    long clipped, skipped, backoffs, rollbacks, nonfinite, spikes, trends, collapses;
    /* quiet failures reported (each signal is rate-limited) */
    long stalls, vanishing, dead, saturated, update_ratio;
    long attention, logit_drift; /* attention-logit growth and output-logit drift */
    long slow_rate;              /* a rate far too small (each raise of it) */
    long rate_jump;              /* a failure while a jump of the schedule's rate was on probation */
    long worse_than_chance;      /* a classifier trained to far worse than a uniform guess */
    long plateau;                /* a plateau at a rate the guard had already capped as too high */
} gg_guard_counters;
GG_API const gg_guard_counters *gg_guard_counts(const gg_guard *gd);
/* The guard's state, for a checkpoint: every statistic, window, history
 * and counter it keeps, as named fields ("hist.ema_log_loss.mean",
 * "memory.lr_scale", "quiet.loss_window", ...). The history part is what a
 * snapshot keeps and a rollback restores; the memory part outlives
 * rollbacks (docs/guard.md, "State"). gg_guard_state_count gives the number
 * of fields; gg_guard_state_get sets *name to field i's name (owned by the
 * library) and writes its value as text into buf (numbers with 17
 * significant digits, arrays comma-separated), returning the text's length
 * as snprintf does (cap too small when it is >= cap), -1 when i is out of
 * range. gg_guard_state_set restores one field from that text: GG_E_FORMAT,
 * naming the field, for an unknown name, a malformed number, or an array
 * whose length the guard's config does not give. */
GG_API int gg_guard_state_count(const gg_guard *gd);
GG_API int gg_guard_state_get(const gg_guard *gd, int i, const char **name, char *buf, size_t cap);
GG_API gg_status gg_guard_state_set(gg_guard *gd, const char *name, const char *text);

/* ---- the decision core --------------------------------------------------
 * What the gg_guard functions above do, apart from the graph and the
 * optimizer: statistics in, a verdict with its reasons and what carrying it
 * out takes out. gg_guard (src/train/guard_act.c) is one trainer of it: it
 * measures gradguard's graph, calls the core and carries the verdict out on
 * the gradient arena, the optimizer and the snapshots. Another trainer (the
 * Python package does this for PyTorch) measures its own tensors and
 * carries the verdict out on its own. The core allocates once, in
 * gg_guard_core_new; no call after allocates. */

typedef struct gg_guard_tensor {
    const char *name;  /* "fc1.weight": for the events */
    const char *layer; /* "fc1": the final layer's tensors are those of the last tensor's layer (AGC leaves them out) */
} gg_guard_tensor;

/* One attention head's statistics of the step's forward (gg_attention_stats). */
typedef struct gg_guard_head {
    const char *layer;   /* the attention op's name */
    int head;
    double max_logit;    /* the largest scaled |q.k| of the head */
    double entropy, entropy_uniform; /* its mean attention entropy, and that of uniform attention (nats) */
    int qkv_param;       /* the parameter tensor (an index into the core's tensors) holding the head's W_q and
                            W_k, -1 when not known: its layer's rate is what the guard backs off */
} gg_guard_head;

typedef struct gg_guard_obs {
    long step;
    int epoch;
    double loss;       /* the step's mean loss; NaN or Inf is a non-finite step */
    const double *sq;  /* per tensor: squared L2 norm of its gradient, NaN or Inf when it holds a non-finite value */
    double max_abs;    /* the largest |g| over all tensors (the value clip's test) */
    long nonfinite;    /* non-finite gradient elements (0 when not counted: a non-finite sq counts) */
    double lr;         /* the schedule's learning rate for this step, before the guard's scale */
    const gg_guard_layer *layers; /* per-layer statistics in depth order when measured for this step
                                     (gg_guard_core_wants_layers), else NULL: the quiet monitor reads them */
    int nlayers;
    const gg_guard_head *heads; /* the model's attention heads, when it has any (else NULL) */
    int nheads;
    int has_logz;        /* logz was measured (a softmax output) */
    double logz;         /* mean over the output rows of log Z, the logsumexp of the logits */
} gg_guard_obs;

typedef struct gg_guard_act {
    gg_verdict verdict;
    float lr_scale;       /* multiply the schedule's rate by this */
    int diagnose;         /* re-run the batch in check mode to find the first non-finite op */
    int clipped;          /* a clip changed the gradient (value and unit-wise clips: see gg_guard_core_clipped) */
    int stalled;          /* with GG_GUARD_STOP: the run stalled (status stalled, not diverged) */
    /* with GG_GUARD_PROCEED, in this order, before the update: */
    const float *scale;   /* per tensor: multiply its gradient by scale[i] (1: leave it); owned by the core */
    int scaled;           /* some scale[i] != 1 */
    float clip_value;     /* > 0: clamp every gradient element to [-clip_value, clip_value] */
    float agc_lambda, agc_eps; /* agc_lambda > 0: unit-wise clip ||g_row|| <= lambda max(||w_row||, eps) */
    int agc_until;        /* ... for tensors [0, agc_until) */
    double noise_sigma;   /* > 0: add N(0, noise_sigma^2) to every element, drawn from a generator keyed on noise_key */
    uint64_t noise_key;
    /* with GG_GUARD_SKIP (reset_moments): */
    const unsigned char *reset; /* per tensor: forget its optimizer moments; owned by the core */
    int any_reset;
    int want_update_norms; /* the next step's per-tensor update norms will be read */
    int snapshot;          /* after gg_guard_core_after: >= 0, copy the current state into snapshot slot `snapshot` */
    /* with GG_GUARD_PROCEED, after the update: */
    float qk_clip_tau;     /* > 0: QK-clip every head whose largest logit this step was over qk_clip_tau (to it) */
    float z_loss;          /* > 0: the output's z-loss coefficient is at least this from now on */
    /* with any verdict: when non-NULL, per tensor, the factor on its
     * learning rate from now on (gg_optim_set_tensor_lr); set on the steps
     * it changes and on the first check after a state load; owned by the core */
    const float *tensor_lr;
    /* with GG_GUARD_PROCEED: gg_guard_core_after may take a snapshot at this
     * step, so its bad_tensor must come from a check of every parameter
     * after the update. On the other steps an actuator that cannot measure
     * the update for free (PyTorch's optimizers) may leave the check out:
     * weights that went non-finite make the next step's loss or gradient
     * non-finite, and it then reports the update that failed late (see
     * gg_guard_core_after). */
    int verify_update;
    int nevents;           /* events waiting in gg_guard_core_events after this call */
    /* with GG_GUARD_ROLLBACK: the rollback answers max_skips failing steps
     * in a row, on weights no update has changed since the last step that
     * passed. An actuator that can, measures the loss of that step's batch
     * on the current weights (forward only) and gives it to
     * gg_guard_core_probe before carrying the verdict out: weights that
     * still pass it turn the rollback into a skip (the batches are at
     * fault, a long burst of bad data). Left out, the rollback stands. */
    int probe;
    /* after gg_guard_core_after: >= 0 (GG_GUARD_TRIAL_SLOT), also copy the
     * current state into that slot: the state a trial (the plateau watch's
     * back-off) begins from, taken the step before the watch's window ends */
    int trial_snapshot;
    /* with GG_GUARD_ROLLBACK: the rollback undoes a trial that did not help;
     * gg_guard_core_rollback returns GG_GUARD_TRIAL_SLOT, and no batch
     * failed (none is to be skipped on the replay) */
    int undo_trial;
} gg_guard_act;

/* Snapshot slots an actuator keeps: 0 and 1 the confirmed and pending
 * rollback targets, GG_GUARD_TRIAL_SLOT a trial's start (used only with
 * plateau_window > 0). */
#define GG_GUARD_SLOTS 3
#define GG_GUARD_TRIAL_SLOT 2

/* sizeof the named public struct ("gg_guard_config", "gg_guard_obs",
 * "gg_guard_act", "gg_guard_head", "gg_guard_layer", "gg_guard_tensor",
 * "gg_guard_stats", "gg_guard_event", "gg_guard_counters", "gg_train_pos",
 * "gg_init_report"), 0 for another name: a binding that declares these
 * structs itself (the Python package) checks its layout against the
 * library it loaded. */
GG_API size_t gg_abi_size(const char *type);

typedef struct gg_guard_core gg_guard_core;
/* A core for n parameter tensors (their names are copied) and per-layer
 * tables of up to max_layers layers. NULL on failure (a bad config names
 * the key; out of memory). */
GG_API gg_guard_core *gg_guard_core_new(const gg_guard_config *cfg, int n, const gg_guard_tensor *tensors, int max_layers);
GG_API void gg_guard_core_free(gg_guard_core *gd);
/* 1 when the check of `step` will read per-layer statistics (measure them
 * before calling gg_guard_core_check with obs.layers). */
GG_API int gg_guard_core_wants_layers(const gg_guard_core *gd, long step);
/* The inspect-decide stage, after backward: fills *act. GG_E_ARG for a
 * missing argument. */
GG_API gg_status gg_guard_core_check(gg_guard_core *gd, const gg_guard_obs *obs, gg_guard_act *act);
/* A value or unit-wise clip changed elements this step (counted). */
GG_API void gg_guard_core_clipped(gg_guard_core *gd);
/* After the update was applied (or skipped), with the position after it:
 * bad_tensor >= 0 names a tensor whose update was not finite (its norm
 * bad_norm): a rollback. Otherwise act->snapshot may ask for a snapshot.
 * An update left unchecked (act->verify_update 0) that shows as non-finite
 * in the next step's loss or gradient is reported late, instead of that
 * step's check: a second call for the same position, applied 1 and the
 * tensor found non-finite (the good step the first call counted is undone
 * by the rollback, which restores the snapshot's history). */
GG_API gg_status gg_guard_core_after(gg_guard_core *gd, const gg_train_pos *pos, int applied, int bad_tensor, double bad_norm,
                              gg_guard_act *act);
/* The probe asked for by act->probe: loss is that of the last batch that
 * passed, measured on the current weights (forward only, as that step's
 * training loss was, penalties included; NaN: not measured). Within
 * sqrt(loss_blowup) of the running level the weights pass: act->verdict
 * becomes GG_GUARD_SKIP (the escalation's event says so, moments of
 * outsized tensors are reset as for a skip) and max_skips more failing
 * steps may be skipped (at most GG_SKIP_PROBES probes in a row); otherwise
 * the rollback stands. GG_E_ARG when no probe was asked for. */
#define GG_SKIP_PROBES 3
GG_API gg_status gg_guard_core_probe(gg_guard_core *gd, double loss, gg_guard_act *act);
/* Takes the rollback target now (before the first step): returns the slot
 * (0 or 1) to copy the state into. */
GG_API int gg_guard_core_snapshot(gg_guard_core *gd, const gg_train_pos *pos);
/* A rollback: *pos in, where the run failed; out, the snapshot's position.
 * Returns the slot to restore the state from, or -1 (GG_E_STATE: none).
 * For act->undo_trial, the trial's slot and the position it began at. */
GG_API int gg_guard_core_rollback(gg_guard_core *gd, gg_train_pos *pos);
GG_API void gg_guard_core_set_chance(gg_guard_core *gd, double loss);
/* The z-loss coefficient the z_loss response has switched on (0: none): an
 * actuator whose state was just restored (a resumed run) sets it before its
 * first forward. */
GG_API float gg_guard_core_z_loss(const gg_guard_core *gd);
GG_API void gg_guard_core_diagnosis(gg_guard_core *gd, const gg_check_info *ci, const char *batch_desc);
GG_API const gg_guard_stats *gg_guard_core_last(const gg_guard_core *gd);
GG_API const gg_guard_event *gg_guard_core_events(const gg_guard_core *gd, int *n);
GG_API void gg_guard_core_clear_events(gg_guard_core *gd);
GG_API const gg_guard_counters *gg_guard_core_counts(const gg_guard_core *gd);
GG_API int gg_guard_core_state_count(const gg_guard_core *gd);
GG_API int gg_guard_core_state_get(const gg_guard_core *gd, int i, const char **name, char *buf, size_t cap);
GG_API gg_status gg_guard_core_state_set(gg_guard_core *gd, const char *name, const char *text);
/* The core a gg_guard drives (owned by it). */
GG_API gg_guard_core *gg_guard_get_core(gg_guard *gd);
/* The per-step measurement of gg_guard_obs for tensors that live outside
 * gradguard's arenas (the Python package hands it the data of PyTorch's
 * .grad and parameter tensors): for n float32 arrays, x[i] holding len[i]
 * contiguous values, sq[i] = their squared L2 norm (one vector pass, as
 * gg_guard measures its arena: float sums within blocks of 4096 values, the
 * blocks in double, a relative error under 4e-6; a finite array's sum is
 * finite however large its values), NaN when the array
 * holds a NaN or an infinity; *max_abs (may be NULL) = the largest |x|
 * over all arrays, NaNs left out. Returns the number of non-finite values
 * (counted only in the arrays that hold one), or -1 when x, len or sq is
 * NULL with n > 0 (GG_E_ARG). Writes nothing else, allocates nothing. */
GG_API long gg_guard_measure(int n, const float *const *x, const size_t *len, double *sq, double *max_abs);
/* Carries out a clip's per-tensor scales on arrays as gg_guard_measure
 * reads them: x[i][k] *= scale[i] for every array whose scale is not 1
 * (scale: act->scale after gg_guard_core_check). Nothing for a NULL
 * argument. */
GG_API void gg_guard_scale(int n, float *const *x, const size_t *len, const float *scale);

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_GUARD_H */

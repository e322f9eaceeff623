/*
 * gradguard/optim.h - optimizers, learning-rate schedules, regularisation
 * and pruning (src/optim).
 *
 * Part of the public API; include "gradguard.h" for all of it, or this file
 * alone (it includes gradguard/graph.h).
 */
#ifndef GRADGUARD_OPTIM_H
#define GRADGUARD_OPTIM_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== optimizers, schedules, regularisation (src/optim) ================== */
/*
 * An optimizer updates the graph's parameter arena from its gradient arena
 * in one pass; its own state (momenta, moments) is one contiguous arena, so
 * a snapshot or checkpoint is one copy. Hyper-parameters follow PyTorch's
 * definitions, so the same settings give the same steps.
 */

typedef enum gg_optim_kind {
    GG_OPT_SGD,     /* momentum, dampening, nesterov; weight_decay adds wd*p to g */
    GG_OPT_ADAM,    /* weight_decay adds wd*p to g (L2, coupled) */
    GG_OPT_ADAMW,   /* decoupled: p -= lr*wd*p before the Adam step */
    GG_OPT_RMSPROP, /* alpha, eps, momentum, centered */
    GG_OPT_ADAGRAD, /* lr_decay, eps, initial_accumulator */
    GG_OPT_LBFGS,   /* as an optimizer: one PyTorch LBFGS iteration per step (see gg_optim_step);
                     * gg_lbfgs_minimize for a deterministic objective with a line search */
    GG_OPT_STABLEADAMW, /* AdamW with the rate divided per tensor by max(1, RMS(g^2 / max(v^, eps^2))),
                         * v^ the bias-corrected second moment (Wortsman et al. 2023) */
    GG_OPT_COUNT
} gg_optim_kind;

typedef struct gg_optim_config {
    gg_optim_kind kind;
    float lr;
    float momentum, dampening;
    int nesterov;
    float beta1, beta2, eps;
    float alpha;        /* RMSprop smoothing constant */
    int centered;       /* RMSprop */
    float lr_decay;     /* Adagrad */
    float initial_accumulator; /* Adagrad */
    float weight_decay; /* meaning per kind, as above */
    int lbfgs_history;  /* L-BFGS memory m, 1..1000 (0 means 10) */
} gg_optim_config;

/* PyTorch's defaults for kind: lr 1e-3 Adam(W) and StableAdamW, 1e-2 RMSprop and Adagrad,
 * 1 L-BFGS; betas 0.9/0.999, eps 1e-8 (Adagrad 1e-10), alpha 0.99, AdamW
 * and StableAdamW weight_decay 1e-2, everything else 0. Two exceptions: SGD's lr is 1e-2
 * (PyTorch: 1e-3) and L-BFGS's history 10 (PyTorch: 100). Every field gets a
 * sane value whatever the kind, so a config can switch kinds. */
GG_API gg_optim_config gg_optim_defaults(gg_optim_kind kind);
/* The kind's name in configs: its enum name after GG_OPT_ in lower case
 * (GG_OPT_ADAMW: "adamw"); NULL if unknown. */
GG_API const char *gg_optim_name(gg_optim_kind kind);
/* GG_OPT_COUNT if unknown. */
GG_API gg_optim_kind gg_optim_parse(const char *name);

typedef struct gg_optim gg_optim;

/* An optimizer over every parameter of the compiled graph g (which must
 * outlive it). NULL on failure: GG_E_STATE if g is not compiled, GG_E_ARG for
 * a bad hyper-parameter, the message naming the field and its value ("optimizer
 * adam: beta2 = 1 is outside [0, 1)"). Checked, for the kinds that use them:
 * lr >= 0, weight_decay >= 0, momentum in [0, 1), dampening in [0, 1],
 * nesterov only with momentum > 0 and dampening 0, betas and alpha in [0, 1),
 * eps > 0, lr_decay >= 0, initial_accumulator >= 0; L-BFGS refuses
 * weight_decay (use an L2 penalty), as PyTorch's LBFGS has none. */
GG_API gg_optim *gg_optim_new(gg_graph *g, const gg_optim_config *cfg);
GG_API void gg_optim_free(gg_optim *o);
/* A parameter group: parameters whose name matches the glob `pattern`
 * (fnmatch: "fc1.*", "*.bias") get lr * lr_scale and this weight_decay, L1
 * and L2. Later groups win. By default biases and normalisation parameters
 * (gg_param_info.no_decay) get no weight decay, L1 or L2; a group that
 * names them explicitly overrides that. "Explicitly" means the pattern's last
 * dot-separated part has no wildcard: "*.bias" and "bn1.weight" give their
 * matches the group's decay and penalties, "fc1.*" and "*" only its lr_scale.
 * GG_E_ARG if a coefficient is negative or not finite, or the pattern
 * matches no parameter (a typo is an error, not a silent no-op). L-BFGS
 * takes one step over all parameters: its groups need lr_scale 1 and
 * weight_decay 0 (L1/L2 are fine). Groups and gg_optim_set_penalty may come
 * in any order; settings are resolved again after each call. */
GG_API gg_status gg_optim_add_group(gg_optim *o, const char *pattern, float lr_scale, float weight_decay, float l1,
                                    float l2);
/* Default L1 and L2 penalty coefficients for all decayed parameters. */
GG_API gg_status gg_optim_set_penalty(gg_optim *o, float l1, float l2);
/* Adds the L1/L2 penalties' gradient (l1 sign(p) + l2 p, sign(0) = 0) to the
 * gradient arena and returns the penalty (sum l1|p| + l2/2 p^2, accumulated
 * in double), to be added to the reported loss. 0 when no penalty is set.
 * Call it once per step, after backward and before the guard. */
GG_API double gg_optim_penalty(gg_optim *o);
/* One update with learning rate lr (the schedule's; each tensor uses lr *
 * its group's lr_scale), from the gradient arena, with PyTorch's formulas.
 * One pass per tensor, no allocation; big tensors are split over OpenMP
 * threads. Also measures, per parameter tensor, the L2 norm of the change
 * actually applied to it (gg_optim_update_norms), in the same pass, in
 * double. GG_E_ARG if lr is negative or not finite. The gradient is not
 * checked for NaN/Inf here: that is the guard's job, before the step.
 * L-BFGS: one iteration of PyTorch's LBFGS with max_iter 1 and no line
 * search (tolerance_grad 1e-7, tolerance_change 1e-9): the curvature pair
 * (s, y) comes from this step's gradient and the previous step's, the
 * direction from the two-loop recursion, the step is lr times it (the first
 * one scaled by min(1, 1/|g|_1)); its history lives in the state arena.
 * Deterministic problems that can re-evaluate the objective should use
 * gg_lbfgs_minimize, which has a strong-Wolfe line search. */
GG_API gg_status gg_optim_step(gg_optim *o, float lr);
/* Update norm of each parameter tensor in the last step (num_params
 * entries, owned by the optimizer). */
GG_API const double *gg_optim_update_norms(const gg_optim *o);
/* every_step 1 (the default): gg_optim_step measures the update norms at
 * every step. 0: Adam, AdamW and StableAdamW measure them only at a step announced by
 * gg_optim_want_update_norms before it (the guard announces the steps its
 * monitor and layers.csv read them), and skip the double-precision pass at
 * the others (about a quarter of the update's time); gg_optim_update_norms
 * then keeps the values last measured. Other optimizers always measure. */
GG_API void gg_optim_set_update_norms(gg_optim *o, int every_step);
GG_API void gg_optim_want_update_norms(gg_optim *o);
/* The first parameter tensor whose update in the last step was not finite
 * (NaN or Inf), -1 if none: known at every step, measured or not. */
GG_API int gg_optim_bad_update(const gg_optim *o);
/* The state arena (moments), *n elements, owned by the optimizer; NULL with
 * *n = 0 for plain SGD. One block per parameter tensor, in parameter order,
 * of k vectors of the tensor's size: SGD [momentum buffer]; Adam(W), StableAdamW
 * [exp_avg][exp_avg_sq]; RMSprop [square_avg][grad_avg if centered]
 * [momentum buffer if momentum > 0]; Adagrad [sum]; L-BFGS [d][previous
 * grad][s_0..s_m-1][y_0..y_m-1]. Then a tail: one step count per tensor
 * (PyTorch's per-parameter state['step'], as a float, saturating at 2^24),
 * or for L-BFGS rho[m] and five scalars. Copying the whole arena (snapshot,
 * checkpoint) therefore carries everything the next step depends on. */
GG_API float *gg_optim_state(gg_optim *o, size_t *n);
/* Where tensor i's block starts in the state arena and its length (both in
 * floats; the tail is not included). GG_E_ARG if i is out of range. */
GG_API gg_status gg_optim_state_view(const gg_optim *o, int i, size_t *offset, size_t *n);
/* Steps taken (calls of gg_optim_step); settable for resume. The bias
 * corrections of Adam(W), StableAdamW and Adagrad's lr decay use each tensor's own count
 * in the state arena, which equals this unless the tensor was reset, and
 * which travels with the arena: set_steps does not change them. */
GG_API uint64_t gg_optim_steps(const gg_optim *o);
GG_API void gg_optim_set_steps(gg_optim *o, uint64_t t);
/* Returns the state of parameter tensor i (or all, i = -1) to its initial
 * value (zeros; Adagrad's sum to initial_accumulator) and its step count to
 * 0, so its next step is a first step (SGD's buffer = g, Adam's bias
 * correction from t = 1): the guard uses it to forget moments poisoned by a
 * bad step. L-BFGS's history couples all tensors, so any reset clears all of
 * it (the next step is a steepest-descent one). GG_E_ARG if i is outside
 * -1..num_params-1. */
GG_API gg_status gg_optim_reset(gg_optim *o, int i);
/* A factor on parameter tensor i's learning rate set while training (1 at
 * the start), on top of its group's lr_scale and kept when groups change:
 * the guard's back-off of one layer's rate (an attention block whose logits
 * grow). Not part of the state arena: a snapshot restored leaves it.
 * GG_E_ARG for i out of range or a scale not finite and >= 0; GG_E_STATE
 * for a scale other than 1 under L-BFGS (one step over all tensors). */
GG_API gg_status gg_optim_set_tensor_lr(gg_optim *o, int i, float scale);
/* Tensor i's factor (0 for i out of range). */
GG_API float gg_optim_tensor_lr(const gg_optim *o, int i);
GG_API const gg_optim_config *gg_optim_get_config(const gg_optim *o);

/* Pruning (src/optim/prune.c): masks that zero weights and keep them zero.
 * The masks are one float arena parallel to the parameter arena (1 keeps an
 * element, 0 prunes it), allocated with the pruner, never in a step. Which
 * elements go is decided by a score: |w| (magnitude, L1 of each weight), the
 * L2 norm of each row (structured: a dense layer's output unit, a
 * convolution's filter, a recurrent gate row) divided by sqrt(row length) so
 * rows of different widths compare, or a seeded uniform draw (random).
 * Elements already pruned always score lowest, so masks only grow: a weight
 * once pruned stays pruned. Scope layer: every prunable tensor is pruned to
 * the target on its own; scope global: one ranking over all of them (the
 * target is then the fraction of all prunable elements). By default only
 * weights of two or more dims are prunable: biases and normalisation
 * parameters (gg_param_info.no_decay) are not. Structured pruning never
 * touches 1-D tensors' rows (each element is its own row) and, with
 * keep_last, leaves the model's last prunable tensor whole (its rows are the
 * outputs: the classes).
 * Gradual pruning follows Zhu & Gupta (2017): at steps start, start + every,
 * ... up to end the target is
 *   s(t) = s1 + (s0 - s1) (1 - (t - start) / (end - start))^3,
 * s1 after end; end <= start prunes once, to s1, at step start.
 * The trainer calls gg_pruner_step before each step, gg_pruner_mask_grads
 * after backward and gg_pruner_apply after each optimizer step, so masked
 * weights stay exactly 0 through any optimizer's momentum. */
typedef enum gg_prune_method { GG_PRUNE_MAGNITUDE, GG_PRUNE_RANDOM, GG_PRUNE_COUNT } gg_prune_method;

typedef struct gg_prune_config {
    gg_prune_method method;
    int global;             /* 1: one ranking over all prunable tensors; 0: per tensor */
    int structured;         /* prune whole rows by their (normalised) L2 norm */
    int keep_last;          /* never prune the last prunable tensor */
    int include_biases;     /* also prune biases and normalisation parameters */
    float initial_sparsity; /* s0, in [0, 1) */
    float sparsity;         /* s1, the final target, in [0, 1) */
    long start, end, every; /* steps; every >= 1 */
    uint64_t seed;          /* random pruning */
} gg_prune_config;

/* Defaults: magnitude, global, unstructured, s0 0, s1 0, one-shot at step 0,
 * every 1, keep_last 0, biases excluded. */
GG_API gg_prune_config gg_prune_defaults(void);
/* "magnitude", "random"; NULL / GG_PRUNE_COUNT if unknown. */
GG_API const char *gg_prune_method_name(gg_prune_method m);
GG_API gg_prune_method gg_prune_method_parse(const char *name);
/* The schedule's target at step: 0 before start, s(t) in the ramp, s1
 * after end. */
GG_API double gg_prune_target(const gg_prune_config *c, long step);
/* 1 if the schedule prunes at step: start, start + k every, and end. */
GG_API int gg_prune_due(const gg_prune_config *c, long step);

typedef struct gg_pruner gg_pruner;
/* A pruner over the compiled graph g (which must outlive it); every mask
 * starts at 1. NULL on failure: GG_E_STATE if g is not compiled, GG_E_ARG
 * naming the field for a sparsity outside [0, 1), s0 > s1, every < 1,
 * start < 0, an unknown method, or a graph with nothing to prune. */
GG_API gg_pruner *gg_pruner_new(gg_graph *g, const gg_prune_config *cfg);
GG_API void gg_pruner_free(gg_pruner *p);
/* Prunes to `sparsity` now (scores from the current weights), zeroes the
 * pruned weights, and returns the sparsity reached. Deterministic: ties
 * go to the lower index; random scores come from (seed, step). */
GG_API double gg_pruner_prune(gg_pruner *p, double sparsity, long step);
/* Prunes to the schedule's target if gg_prune_due(step) and the target is
 * above the sparsity reached so far; returns 1 if it pruned. */
GG_API int gg_pruner_step(gg_pruner *p, long step);
/* params *= mask (after every optimizer step, and after anything that
 * overwrites the weights: a rollback, a restore, a load). */
GG_API void gg_pruner_apply(gg_pruner *p);
/* grads *= mask (after backward, before the guard and the optimizer). */
GG_API void gg_pruner_mask_grads(gg_pruner *p);
/* The mask arena (the parameter arena's size), owned by the pruner; writable
 * so a checkpoint can restore it (then call gg_pruner_sync). */
GG_API float *gg_pruner_masks(gg_pruner *p, size_t *n);
/* Recounts the sparsity after the masks were written from outside. */
GG_API void gg_pruner_sync(gg_pruner *p);
/* Pruned fraction of all prunable elements. */
GG_API double gg_pruner_sparsity(const gg_pruner *p);
/* Parameter tensors the pruner may prune, and for the k-th of them
 * (0 .. count-1) its parameter index (gg_graph_param) and pruned fraction. */
GG_API int gg_pruner_count(const gg_pruner *p);
GG_API gg_status gg_pruner_tensor(const gg_pruner *p, int k, int *param_index, double *sparsity);
/* One line "0.800 of 235008 weights: fc1.weight 0.812, fc2.weight 0.701, ..."
 * into buf (always terminated). */
GG_API void gg_pruner_describe(const gg_pruner *p, char *buf, size_t cap);

/* Learning-rate schedules: a pure function of the step, except
 * reduce-on-plateau, which also watches a metric given once per epoch.
 * The formulas are PyTorch's (StepLR, MultiStepLR, ExponentialLR,
 * CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR, ReduceLROnPlateau)
 * in closed form. Below, k is the step after the warm-up (step - warmup_steps)
 * and T = total_steps - warmup_steps: total_steps counts the warm-up.
 * Warm-up (PyTorch's LinearLR then SequentialLR): for step < warmup_steps
 * the rate is sched(0) * (warmup_start + (1 - warmup_start) step / warmup_steps). */
typedef enum gg_sched_kind {
    GG_SCHED_CONSTANT,
    GG_SCHED_STEP,        /* lr * gamma^floor(k / step_size) */
    GG_SCHED_MULTISTEP,   /* lr * gamma^(number of milestones <= k) */
    GG_SCHED_EXPONENTIAL, /* lr * gamma^k */
    GG_SCHED_COSINE,      /* min_lr + (lr - min_lr)(1 + cos(pi t / T))/2, t = min(k, T): min_lr after T.
                           * restarts (t0 > 0): periods t0, t0 t_mult, t0 t_mult^2 ..., t counted from
                           * the start of the current period, total_steps unused */
    GG_SCHED_ONECYCLE,    /* max_lr = lr; from lr/div_factor up to lr over pct_start T - 1 steps, then down
                           * to lr/(div_factor final_div_factor) at step T - 1 (cosine both ways), held
                           * there after. Only the rate: momentum is not cycled */
    GG_SCHED_PLATEAU,     /* lr * factor when the metric has not improved for more than `patience` epochs */
    GG_SCHED_COUNT
} gg_sched_kind;

#define GG_SCHED_MAX_MILESTONES 32

typedef struct gg_schedule_config {
    gg_sched_kind kind;
    float lr;                 /* base (peak, for one-cycle) learning rate */
    long step_size;           /* STEP, in steps */
    float gamma;              /* STEP, MULTISTEP, EXPONENTIAL */
    long milestones[GG_SCHED_MAX_MILESTONES];
    int n_milestones;
    long total_steps;         /* COSINE (T without restarts), ONECYCLE */
    long t0;                  /* COSINE with restarts: first period (0: no restarts) */
    float t_mult;             /* COSINE restarts: period growth (>= 1) */
    float min_lr;             /* COSINE; PLATEAU floor */
    float pct_start, div_factor, final_div_factor; /* ONECYCLE */
    float factor;             /* PLATEAU */
    int patience, cooldown;   /* PLATEAU, in epochs */
    float threshold;          /* PLATEAU: relative improvement that counts */
    int mode_max;             /* PLATEAU: 1 if the metric should grow (accuracy) */
    long warmup_steps;        /* linear warm-up in front of any schedule */
    float warmup_start;       /* warm-up starts at lr * warmup_start */
} gg_schedule_config;

typedef struct gg_schedule {
    gg_schedule_config c;
    double plateau_scale; /* PLATEAU state (gg_schedule_save / gg_schedule_restore) */
    double best;
    int bad_epochs, cooldown_left, seen;
} gg_schedule;

/* The part of a schedule that is not a function of the step (the plateau
 * schedule's state, gg_schedule_observe), by name: saved with the guard's
 * snapshots (gg_train_pos) and in checkpoints, so a rollback or a resume
 * restores it. */
typedef struct gg_schedule_state {
    double plateau_scale; /* the rate's factor so far (1 at the start) */
    double best;          /* the best metric observed */
    int bad_epochs, cooldown_left, seen;
} gg_schedule_state;

/* Defaults: gamma 0.1, factor 0.1, patience 10, threshold 1e-4,
 * pct_start 0.3, div_factor 25, final_div_factor 1e4, t_mult 1, everything
 * else 0 (step_size, milestones and total_steps must then be set for the
 * kinds that need them). */
GG_API gg_schedule_config gg_schedule_defaults(gg_sched_kind kind, float lr);
/* "constant", "step", "multistep", "exponential", "cosine", "onecycle",
 * "plateau"; NULL / GG_SCHED_COUNT if unknown. */
GG_API const char *gg_sched_name(gg_sched_kind k);
GG_API gg_sched_kind gg_sched_parse(const char *name);
/* Checks the config and sets up state (plateau_scale 1, best +-inf). GG_E_ARG
 * with the schedule, the field and its value on: lr < 0; warmup_steps < 0;
 * warmup_start outside [0, 1]; STEP step_size <= 0; MULTISTEP no milestones,
 * one <= 0 or not increasing; gamma <= 0; COSINE total_steps <= warmup_steps
 * (without restarts), t0 < 0, t_mult < 1, min_lr outside [0, lr]; ONECYCLE
 * total_steps <= warmup_steps, pct_start outside (0, 1) or pct_start T <= 1,
 * div factors <= 0; PLATEAU factor outside (0, 1), patience, cooldown,
 * threshold or min_lr < 0. */
GG_API gg_status gg_schedule_init(gg_schedule *s, const gg_schedule_config *c);
/* The learning rate at step (0-based; negative counts as 0), warm-up included. */
GG_API float gg_schedule_lr(const gg_schedule *s, long step);
/* Reduce-on-plateau (PyTorch's ReduceLROnPlateau, 'rel' threshold mode): the
 * epoch's validation metric. It improves when below best (1 - threshold)
 * (above best (1 + threshold) with mode_max); a NaN never does. After more
 * than `patience` epochs without improvement the rate becomes max(rate
 * factor, min_lr) and `cooldown` epochs follow in which bad epochs are not
 * counted. Returns 1 if the rate was reduced (a change under 1e-8 is not
 * made). A no-op returning 0 for the other kinds. `seen` counts the calls. */
GG_API int gg_schedule_observe(gg_schedule *s, double metric);
/* The schedule's state now, and back: after gg_schedule_restore(s, &st)
 * with st = gg_schedule_save(s), s gives the same rates and observes
 * alike. Never fail (s and st must not be NULL). */
GG_API gg_schedule_state gg_schedule_save(const gg_schedule *s);
GG_API void gg_schedule_restore(gg_schedule *s, const gg_schedule_state *st);

/* L-BFGS (Nocedal & Wright, alg. 7.4/7.5) with a strong-Wolfe line search
 * (alg. 3.5/3.6: bracketing, then zoom with safeguarded cubic interpolation),
 * on any differentiable objective: f returns the value at x and writes the
 * gradient into grad. Doubles throughout. H0 = (s'y / y'y) I from the newest
 * pair; the first step (and any after the history was dropped) is tried at
 * length min(1, |g|). Pairs with s'y <= 0 are not kept. If the line search finds no
 * decrease along the quasi-Newton direction the history is dropped and the
 * iteration retried along -g. */
typedef double (*gg_objective)(const double *x, double *grad, int n, void *ctx);

typedef struct gg_lbfgs_config {
    int m;          /* history size (default 10) */
    int max_iter;   /* iterations (default 100) */
    int max_evals;  /* objective evaluations (default 2500; 0 means 25 * max_iter) */
    double gtol;    /* stop when max |g_i| <= gtol (default 1e-6) */
    double ftol;    /* stop when |f_prev - f| <= ftol max(|f_prev|, |f|, 1) (default 0: off) */
    double c1, c2;  /* Wolfe constants (default 1e-4, 0.9) */
} gg_lbfgs_config;

typedef struct gg_lbfgs_result {
    int iters, evals;   /* accepted iterations, objective evaluations */
    double f, gmax;     /* at the returned x */
    int converged;      /* 1 if gtol or ftol was met */
    char reason[64];    /* why it stopped, one line */
} gg_lbfgs_result;

GG_API gg_lbfgs_config gg_lbfgs_defaults(void);
/* Minimises f from x (n values, overwritten with the minimiser). cfg NULL
 * means the defaults. Returns GG_OK also when it stopped without converging
 * (max_iter, max_evals, no decrease): res says which. Fails with GG_E_ARG on
 * bad arguments (n < 1, m outside 1..1000, not 0 < c1 < c2 < 1 ...) and with
 * GG_E_NONFINITE on a non-finite f or gradient element at any evaluation (the
 * message gives the evaluation, the iteration, the element); x then holds
 * the last accepted iterate. Allocates its work space (2 m n + 4 n doubles)
 * per call. res may be NULL. */
GG_API gg_status gg_lbfgs_minimize(double *x, int n, gg_objective f, void *ctx, const gg_lbfgs_config *cfg,
                                   gg_lbfgs_result *res);

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_OPTIM_H */

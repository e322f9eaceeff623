/*
 * keys.c - the optimizer and schedule sections of a config: one row per
 * field of gg_optim_config and gg_schedule_config, with its range, default
 * and meaning (io/schema.h). gg_optim_defaults() and gg_schedule_defaults()
 * start from these defaults; the trainer reads `optimizer:` and
 * `schedule:` through them; docs/config.md's tables are generated from
 * them. The names are gg_optim_rules' (optim/rules.c), as are each kind's
 * own defaults (lr, weight_decay, eps) and checks; schedule.c checks what
 * depends on the schedule's kind.
 */
#include "io/schema.h"

#include "core/error.h"

#include <stdio.h>

static const char *optim_name(int i) { return gg_optim_name((gg_optim_kind)i); }
static int optim_parse(const char *s) { return (int)gg_optim_parse(s); }
static const char *sched_name(int i) { return gg_sched_name((gg_sched_kind)i); }
static int sched_parse(const char *s) { return (int)gg_sched_parse(s); }

#define O(ty, k, f, ...) GG_KEY_ROW(ty, gg_optim_config, k, f, __VA_ARGS__)
#define OF(k, lo_, hi_, def_, ...) O(GG_KEY_F32, #k, k, .lo = (lo_), .hi = (hi_), .def = (def_), __VA_ARGS__)

const gg_key gg_optim_keys[] = {
    O(GG_KEY_ENUM, "name", kind, .def = GG_OPT_ADAM, .name_of = optim_name, .nnames = GG_OPT_COUNT,
      .parse = optim_parse,
      .doc = "the optimizer; PyTorch's update rules and defaults, except SGD's lr (1e-2) and L-BFGS's history (10). "
             "stableadamw: AdamW whose rate is divided, per tensor and step, by max(1, RMS(g^2 / max(v^, eps^2))), "
             "v^ the bias-corrected second moment (Wortsman et al. 2023): a tensor whose gradient jumps above its "
             "history takes a smaller step"),
    OF(lr, 0, 1e3, 1e-3,
       .def_doc = "1e-3 for adam, adamw and stableadamw, 1e-2 for sgd, rmsprop and adagrad, 1 for lbfgs",
       .doc = "the (peak) learning rate; the schedule starts from it"),
    OF(momentum, 0, 1, 0, .range_doc = "[0, 1] (the optimizer refuses 1)", .doc = "sgd, rmsprop"),
    OF(dampening, 0, 1, 0, .doc = "sgd"),
    O(GG_KEY_BOOL, "nesterov", nesterov, .def = 0,
      .doc = "sgd: Nesterov momentum (needs momentum > 0 and dampening 0)"),
    OF(beta1, 0, 0.999999, 0.9, .doc = "adam, adamw, stableadamw"),
    OF(beta2, 0, 0.9999999, 0.999, .doc = "adam, adamw, stableadamw"),
    OF(eps, 1e-30, 1, 1e-8, .def_doc = "1e-8 (adagrad 1e-10)", .doc = "adam, adamw, stableadamw, rmsprop, adagrad"),
    OF(alpha, 0, 1, 0.99, .range_doc = "[0, 1] (the optimizer refuses 1)", .doc = "rmsprop: smoothing constant"),
    O(GG_KEY_BOOL, "centered", centered, .def = 0, .doc = "rmsprop: centred variant"),
    OF(lr_decay, 0, 1e3, 0, .doc = "adagrad"),
    OF(initial_accumulator, 0, 1e6, 0, .doc = "adagrad"),
    OF(weight_decay, 0, 1e3, 0, .def_doc = "0 (adamw, stableadamw 0.01)",
       .doc = "sgd, adam, rmsprop, adagrad: L2 added to the gradient; adamw, stableadamw: decoupled decay "
              "(stableadamw's at the clipped rate); lbfgs refuses it. "
              "Biases and normalisation parameters get none unless a group names them"),
    O(GG_KEY_INT, "history", lbfgs_history, .lo = 1, .hi = 1000, .def = 10, .doc = "lbfgs: curvature pairs kept"),
    {0},
};

/* schedule.milestones: an increasing list of steps */
static gg_status read_milestones(gg_cfg_node *map, const gg_key *k, void *base)
{
    gg_schedule_config *c = base;
    gg_cfg_node *ms = gg_cfg_get(map, k->key);
    if (!ms || gg_cfg_node_type(ms) == GG_CFG_NULL) return GG_OK;
    char w[512];
    if (gg_cfg_node_type(ms) != GG_CFG_SEQ || gg_cfg_len(ms) > GG_SCHED_MAX_MILESTONES)
        return gg_fail(GG_E_CONFIG, "%s: schedule.milestones must be a list of at most %d steps",
                       gg_cfg_where(ms, w, sizeof w), GG_SCHED_MAX_MILESTONES);
    c->n_milestones = gg_cfg_len(ms);
    for (int i = 0; i < c->n_milestones; i++) {
        long v = 0;
        gg_status st = gg_cfg_as_int(gg_cfg_at(ms, i), 1, 1L << 40, &v);
        if (st) return st;
        if (i > 0 && v <= c->milestones[i - 1])
            return gg_fail(GG_E_CONFIG, "%s: schedule.milestones must increase", gg_cfg_where(ms, w, sizeof w));
        c->milestones[i] = v;
    }
    return GG_OK;
}

#define S(ty, k, f, ...) GG_KEY_ROW(ty, gg_schedule_config, k, f, __VA_ARGS__)
#define SF(k, lo_, hi_, def_, ...) S(GG_KEY_F32, #k, k, .lo = (lo_), .hi = (hi_), .def = (def_), __VA_ARGS__)
#define SL(k, lo_, hi_, def_, ...) S(GG_KEY_LONG, #k, k, .lo = (lo_), .hi = (hi_), .def = (def_), __VA_ARGS__)
#define SI(k, lo_, hi_, def_, ...) S(GG_KEY_INT, #k, k, .lo = (lo_), .hi = (hi_), .def = (def_), __VA_ARGS__)
#define STEPS ((double)(1L << 40))

const gg_key gg_schedule_keys[] = {
    S(GG_KEY_ENUM, "name", kind, .def = GG_SCHED_CONSTANT, .name_of = sched_name, .nnames = GG_SCHED_COUNT,
      .parse = sched_parse,
      .doc = "constant: lr; step: lr gamma^floor(k / step_size); multistep: lr gamma^(milestones passed); "
             "exponential: lr gamma^k; cosine: min_lr + (lr - min_lr)(1 + cos(pi k / T)) / 2, or with restarts when "
             "t0 > 0; onecycle: up from lr / div_factor to lr over pct_start T steps, down to lr / (div_factor "
             "final_div_factor) (cosine both ways); plateau: lr x factor when the validation loss has not improved "
             "for more than `patience` epochs"),
    SL(step_size, 1, STEPS, 0, .def_doc = "(required by step)", .doc = "step: steps between decays"),
    SF(gamma, 0, 10, 0.1, .doc = "step, multistep, exponential: the decay factor"),
    S(GG_KEY_LIST, "milestones", milestones, .read = read_milestones, .type_doc = "list of int",
      .range_doc = "increasing, each in [1, 2^40], at most 32", .def_doc = "(required by multistep)",
      .doc = "multistep: the steps at which to decay"),
    SL(total_steps, 1, STEPS, 0,
       .def_doc = "the run's steps (epochs x steps per epoch, or `train.max_steps`) for cosine and onecycle",
       .doc = "cosine, onecycle: T plus the warm-up"),
    SL(t0, 0, STEPS, 0, .doc = "cosine: the first restart period (0: no restarts)"),
    SF(t_mult, 1, 100, 1, .doc = "cosine: each restart period is this times the last"),
    SF(min_lr, 0, 1e3, 0, .doc = "cosine: the floor (at most lr); plateau: the lowest rate"),
    SF(pct_start, 0, 1, 0.3, .range_doc = "[0, 1] (the schedule needs (0, 1))", .doc = "onecycle: the rising fraction"),
    SF(div_factor, 1, 1e9, 25, .doc = "onecycle: starting rate = lr / div_factor"),
    SF(final_div_factor, 1, 1e12, 1e4, .doc = "onecycle: final rate = start / final_div_factor"),
    SF(factor, 0, 1, 0.1, .range_doc = "[0, 1] (the schedule needs (0, 1))", .doc = "plateau: the reduction"),
    SI(patience, 0, 100000, 10, .doc = "plateau: epochs without improvement before a reduction"),
    SI(cooldown, 0, 100000, 0, .doc = "plateau: epochs after a reduction in which bad epochs are not counted"),
    SF(threshold, 0, 1, 1e-4, .doc = "plateau: the relative improvement that counts"),
    S(GG_KEY_ENUM, "mode", mode_max, .def = 0, .names = (const char *const[]){"min", "max"}, .nnames = 2,
      .doc = "plateau: whether the metric should fall or rise. The trainer gives it the validation loss (the "
             "training loss without a validation set), so keep `min`"),
    SL(warmup_steps, 0, STEPS, 0,
       .doc = "a linear warm-up before any schedule (halved to fit when `train.max_steps` cuts a cosine or onecycle "
              "run shorter than it)"),
    SF(warmup_start, 0, 1, 0, .doc = "the warm-up starts at lr x warmup_start"),
    {0},
};

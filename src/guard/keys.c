/*
 * keys.c - the guard section of a config: one row per field of
 * gg_guard_config, with its range, default and meaning. gg_guard_defaults()
 * is this table's defaults, the guard's check_config uses its ranges, the
 * trainer reads `guard:` through it and docs/config.md's guard table is
 * generated from it (io/schema.h). A new key is a field in gg_guard_config
 * and a row here.
 */
#include "io/schema.h"

static const char *resp_name(int i) { return gg_response_name((gg_response)i); }
static int resp_parse(const char *s) { return (int)gg_response_parse(s); }
static const char *clip_name(int i) { return gg_clip_name((gg_clip_kind)i); }
static int clip_parse(const char *s) { return (int)gg_clip_parse(s); }
static const char *const init_check_names[] = {"off", "warn", "fix"};

#define G(ty, k, ...) GG_KEY_ROW(ty, gg_guard_config, #k, k, __VA_ARGS__)
#define F(k, lo_, hi_, def_, ...) G(GG_KEY_F32, k, .lo = (lo_), .hi = (hi_), .def = (def_), __VA_ARGS__)
#define I(k, lo_, hi_, def_, ...) G(GG_KEY_INT, k, .lo = (lo_), .hi = (hi_), .def = (def_), __VA_ARGS__)
#define B(k, def_, ...) G(GG_KEY_BOOL, k, .def = (def_), __VA_ARGS__)
#define R(k, def_, ...)                                                                                                \
    G(GG_KEY_ENUM, k, .def = (def_), .name_of = resp_name, .nnames = GG_DO_COUNT, .parse = resp_parse,                 \
      .type_doc = "response", __VA_ARGS__)

const gg_key gg_guard_keys[] = {
    B(enabled, 1,
      .doc = "the guard stage at all; off means plain training (no clipping, no detection, and no `layers.csv` unless "
             "the config sets `layer_every` itself)"),
    G(GG_KEY_ENUM, clip, .def = GG_CLIP_ZSCORE, .name_of = clip_name, .nnames = GG_CLIP_COUNT, .parse = clip_parse,
      .doc = "the clipping method applied every step"),
    F(clip_value, 1e-12, 1e12, 1, .doc = "`value`: the element bound"),
    F(max_norm, 1e-12, 1e12, 1, .doc = "`norm`, `tensor`: the norm bound"),
    F(agc_lambda, 1e-9, 1e3, 0.01, .doc = "`agc`: lambda, the largest gradient-to-weight norm ratio per unit"),
    F(agc_eps, 0, 1, 1e-3, .doc = "`agc`: floor on a unit's weight norm (zero-initialised units can still move)"),
    B(agc_exclude_last, 1, .doc = "`agc`: leave the final layer (the layer of the last parameter tensor) unclipped"),
    F(percentile, 0.01, 100, 10, .doc = "`percentile`: p"),
    I(history, 1, 1000000, 1000, .doc = "`percentile`: norms kept (a ring)"),
    /* by measurement on the gauntlet (docs/results.md, "Why the default policy") */
    F(clip_z, 0.1, 100, 1.5,
      .doc = "`zscore`: the threshold in standard deviations (ZClip's published default is 2.5; 1.5 measured better "
             "on the gauntlet: [guard.md](guard.md#the-default-policy))"),
    I(warmup, 0, 1000000, 25, .doc = "steps of statistics before spikes count and `zscore` clips"),
    F(ema_alpha, 1e-6, 0.999999, 0.02,
      .doc = "weight of the newest value in the moving statistics (about a 50-step memory)"),
    F(spike_z, 0.1, 1000, 6, .doc = "z-score of log(grad norm) that is a gradient spike"),
    F(loss_z, 0.1, 1000, 6, .doc = "z-score of log(loss) that is a loss spike"),
    I(trend_window, 0, 100000, 50, .range_doc = "0 or [2, 100000]",
      .doc = "steps in the slow-blow-up detector (0: off)"),
    F(trend_growth, 1, 1e12, 100, .doc = "growth of the norm over the window that counts as a trend"),
    F(trend_t, 0, 1e6, 5,
      .doc = "t-statistic the fitted growth must also reach: a rise out of the noise, not a noisy window's "
             "slope (0: any)"),
    F(loss_blowup, 0, 1e12, 10,
      .doc = "a loss above this multiple of its running geometric mean is a blow-up (0: off)"),
    /* a regression loss that has fallen to 1e-3 jumps 10x on an ordinary
     * batch; those jumps stay far below where the run began */
    F(loss_blowup_floor, 0, 1e6, 0.25,
      .doc = "... when it is also above this multiple of the run's first loss (0: no floor)"),
    /* at batch 1 to 4 one sample's loss is often 10x the running level: a
     * jump inside the run's own noise is not a divergence */
    F(loss_blowup_z, 0, 1000, 3,
      .doc = "... and, after the warm-up, more than this many standard deviations of log(loss) above its running "
             "mean (0: no such test)"),
    R(on_nonfinite, GG_DO_ROLLBACK, .doc = "response to a NaN/Inf loss or gradient (`warn`/`clip` act as `skip`)"),
    R(on_spike, GG_DO_CLIP, .doc = "response to a gradient spike"),
    R(on_loss_spike, GG_DO_NOTHING, .doc = "response to a loss spike"),
    R(on_trend, GG_DO_BACKOFF, .doc = "response to a slow blow-up"),
    R(on_blowup, GG_DO_ROLLBACK, .doc = "response to a loss blow-up"),
    /* a mislabelled batch in a model still learning is 2x its level, under
     * the blow-up's 10x; the doctor's healthy runs' batches reach at most
     * 7 step-to-step changes above their level (after 50 steps), its
     * label bursts 8 to 29 */
    F(loss_jump, 0, 1e6, 10,
      .doc = "a batch's loss above its level of the last few steps by more than this many times the loss's usual "
             "change from one step to the next (and by 1.5x), after 50 steps, is a batch unlike the others (0: off)"),
    R(on_loss_jump, GG_DO_SKIP, .doc = "response to such a batch: `skip` it (in a row, max_skips and the probe apply)"),
    R(on_collapse, GG_DO_ROLLBACK, .doc = "response to a collapse to chance level (classification only)"),
    R(on_max_spike, GG_DO_NOTHING,
      .doc = "response to the largest \\|g\\| more than `spike_z` standard deviations of its log above its running "
             "level while the global norm is not"),
    F(attn_logit_max, 0, 1e30, 100,
      .doc = "a head's largest scaled attention logit q.k/sqrt(d_head) over this is attention-logit growth (0: no bound)"),
    F(attn_logit_floor, 0, 1e30, 20,
      .doc = "... and so is one over this that rose `spike_z` standard deviations of its log above its running level "
             "(0: no such test)"),
    R(on_attention, GG_DO_QK_CLIP,
      .doc = "response to attention-logit growth (`qk_clip`: after the update, rescale W_q and W_k of each head over the "
             "threshold back to it)"),
    F(logz_max, 0, 1e30, 20,
      .doc = "\\|mean log Z\\| of a softmax output over this that rose `spike_z` standard deviations above its running "
             "level is output-logit drift (0: off)"),
    R(on_logit_drift, GG_DO_Z_LOSS, .doc = "response to output-logit drift (`z_loss`: switch the z-loss on)"),
    F(z_loss_remedy, 0, 1, 1e-4, .doc = "coefficient of the z-loss that the `z_loss` response switches on"),
    I(attn_persist, 0, 100000000, 50,
      .doc = "steps of QK-clip acting on every step after which the learning rate is backed off (and again every as "
             "many; 0: never)"),
    F(attn_logit_blowup, 0, 1e30, 200,
      .doc = "with `on_attention: qk_clip`, a head's largest attention logit over this rolls back instead (the update "
             "that made it moved the rest of the model too; 0: never)"),
    F(attn_logit_jump, 0, 1e30, 2,
      .doc = "with `on_attention: qk_clip`, a head's largest attention logit over `attn_logit_max` at more than this "
             "times its running level, or over `attn_logit_floor` at more than this times its level of the last few "
             "steps, rolls back too: logits that leap grew with the rate, not with learning (0: never)"),
    F(backoff_factor, 1e-6, 1, 0.5, .doc = "learning-rate scale multiplier of a back-off (and of a rollback)"),
    I(backoff_recover, 0, 100000000, 500,
      .doc = "good steps over which the scale climbs back to its ceiling (0: it never does)"),
    F(backoff_min, 0, 1, 1e-3, .doc = "lowest learning-rate scale"),
    /* the doctor's deep nets rolled back from a rate 10-100x too high to
     * one still 2-3x too high end on a noisy plateau under their floor; a
     * decay late in the run would have rescued most of them
     * (bench/doctor/late_decay.py). Each back-off is a trial, undone when
     * the loss does not answer it, so a saddle keeps its rate (the
     * gauntlet's tanh RNN on the adding problem, which eight kept
     * back-offs left unsolved). An undone trial rolls back to its start,
     * so it costs time and nothing else. On by default: over the doctor
     * and draws it was not made on, the guarded results it moves get
     * better four times as often as worse (bench/doctor/paired.py,
     * docs/results.md) */
    I(plateau_window, 0, 100000000, 50,
      .doc = "once the guard has capped the rate as too high (a rollback or back-off that made its rate the "
             "ceiling), a smoothed loss (EMA weight 0.05 of its log) that has not fallen by `plateau_drop` in this "
             "many steps says the capped rate may still be too high: the rate backs off as a trial, undone after as "
             "many steps again unless the loss has fallen by more than the batches' noise could make it (a saddle "
             "is not a rate too high). Each next window is twice as long. Not while the schedule decays the rate "
             "(under 0.9x its peak). A trial that did not help rolls back to where it began. 0: off"),
    F(plateau_drop, 0, 0.99, 0.01, .doc = "the relative fall of the smoothed loss that counts as progress on that watch"),
    R(on_plateau, GG_DO_BACKOFF,
      .doc = "response to such a plateau (`backoff`: the rate backed off and made the ceiling, as a trial the "
             "guard undoes when the loss does not answer it)"),
    I(snapshot_every, 1, 100000000, 100,
      .doc = "good steps between snapshots (a snapshot becomes the rollback target after as many healthy steps)"),
    I(rollback_budget, 0, 1000000, 10, .doc = "rollbacks allowed before the run is stopped as diverged"),
    I(skip_batches, 0, 1000000, 1,
      .doc = "batches ending at a rollback's trigger that the replay skips (0 counts as 1)"),
    I(max_skips, 1, 1000000, 10, .doc = "consecutive skipped steps before escalating to a rollback"),
    B(skip_first, 1,
      .doc = "a loss blow-up or a non-finite loss or gradient whose response is `rollback` skips its step first: "
             "no update was made from it, so the weights are still the last good step's and a bad batch is all "
             "it may be. The rollback follows when `max_skips` steps in a row fail, when the first finite batch after "
             "them is still over sqrt(`loss_blowup`) times the running level, or when a failure comes within "
             "`snapshot_every`/2 steps of the last skipped one or of the last rollback's failure"),
    B(reset_moments, 0,
      .doc = "a skipped step also resets the optimizer state (moments, step count) of the tensors the bad gradient "
             "sat in: the non-finite ones, or for a finite spike those holding more than their even share of the "
             "squared norm"),
    F(noise_eta, 0, 1e6, 0, .doc = "gradient noise eta (0: off)"),
    F(noise_gamma, 0, 10, 0.55, .doc = "gradient noise decay gamma"),
    B(diagnose, 1, .doc = "re-run a non-finite step's batch in check mode to name the first bad op"),
    G(GG_KEY_ENUM, init_check, .def = 2, .names = init_check_names, .nnames = 3,
      .doc = "the initialisation check before the first step"),
    I(layer_every, 0, 100000000, 100, .doc = "steps between per-tensor rows in `layers.csv` (0: none)"),
    /* quiet failures (docs/guard.md, "Quiet failures") */
    B(quiet, 1, .doc = "the quiet-failure monitor (docs/guard.md, \"Quiet failures\")"),
    I(monitor_every, 0, 100000000, 0,
      .doc = "steps between its passes; 0: the trainer's `train.log_every` (50 from C)"),
    I(stall_window, 1, 100000000, 300,
      .doc = "steps with the smoothed loss within `chance_margin` of ln C that are a stall"),
    I(progress_window, 0, 100000000, 5000,
      .doc = "steps over which the smoothed loss must improve by `min_progress` (0: off); long, because a healthy "
             "LSTM on the adding problem sits on a plateau for about 2,000 steps before it solves the task"),
    F(min_progress, 0, 1, 0.01,
      .doc = "relative improvement of the fitted smoothed loss over `progress_window` below which the run stalls"),
    F(chance_margin, 0, 1, 0.03, .doc = "relative distance to ln C that counts as at chance"),
    F(vanish_ratio, 0, 1, 1e-4, .doc = "first-to-last layer gradient-norm ratio below which the gradient vanishes"),
    F(dead_fraction, 0, 1, 0.7,
      .doc = "share of dead units that flags a ReLU layer (the healthy CNN's fc1 has up to 45% of its units dead "
             "for a batch)"),
    F(saturation_fraction, 0, 1, 0.5, .doc = "share of saturated units that flags a tanh or sigmoid layer"),
    F(saturation_threshold, 0.01, 100, 3,
      .doc = "\\|pre-activation\\| beyond which a tanh unit is saturated; a sigmoid's at twice it"),
    F(update_ratio_low, 0, 1e6, 1e-5,
      .doc = "the low end of the band of a layer's update/weight norm ratio (the usual value is about 1e-3)"),
    F(update_ratio_high, 0, 1e6, 0.1, .doc = "the high end of that band"),
    I(quiet_persist, 1, 1000000, 3, .doc = "passes in a row a per-layer signal must last to be reported"),
    I(report_every, 1, 100000000, 1000, .doc = "steps between repeats of a signal that persists"),
    R(on_stall, GG_DO_NOTHING, .doc = "response to a stall"),
    R(on_vanishing, GG_DO_NOTHING, .doc = "response to a gradient profile that vanished from the first pass on"),
    R(on_dead, GG_DO_ROLLBACK,
      .doc = "response to a ReLU layer whose units training killed: dead (zero for the whole batch) at "
             "`quiet_persist` monitor passes in a row after being alive at the first pass, in a net whose gradient "
             "did not vanish at the start; a rollback also makes the backed-off rate the ceiling. Units dead from "
             "the start are the init check's, and a warning here"),
    R(on_saturation, GG_DO_ROLLBACK,
      .doc = "response to a tanh or sigmoid layer that training saturated: saturated at `quiet_persist` monitor "
             "passes in a row when the first pass had fewer (a rate too high for the net drives it there); a "
             "rollback also makes the backed-off rate the ceiling. Saturation from the start is the init check's, "
             "and a warning here"),
    R(on_vanished, GG_DO_ROLLBACK,
      .doc = "response to a gradient profile that training made vanish: below `vanish_ratio` at `quiet_persist` "
             "monitor passes in a row when the first pass's was not (a rate too high drove the layers into "
             "saturation or death); a rollback also makes the backed-off rate the ceiling. A profile vanished from "
             "the start is answered by `on_vanishing`"),
    F(remedy_noise_eta, 0, 1e6, 0.3, .doc = "eta of the gradient noise the `noise` response switches on"),
    F(slow_ratio, 0, 1, 3e-4,
      .doc = "every layer's update/weight norm ratio under this at `quiet_persist` monitor passes in a row, while "
             "the loss is over half its first, no warm-up is raising the rate and no decay has halved it, in a net "
             "whose gradient profile does not vanish, is a rate far too small (the doctor's healthy runs: 1.3e-3 "
             "and up at step 100; 0: off)"),
    F(slow_target, 0, 1, 2e-3,
      .doc = "the `raise` response multiplies the rate by this over the fastest layer's ratio, at most 10x a pass, "
             "and again at later passes while that ratio is under half of this (the low end of healthy runs)"),
    F(slow_max_raise, 1, 1e6, 100, .doc = "the largest factor the `raise` response puts on the schedule's rate"),
    R(on_slow, GG_DO_RAISE,
      .doc = "response to a rate far too small (`raise`: raise it); a run with `train.init_from` (a fine-tune, "
             "small rate on purpose) gets `warn` unless this is given"),
    F(rate_jump, 0, 1e6, 2,
      .doc = "a schedule rate over this many times the highest one the run has held (a warm restart or a milestone "
             "with gamma > 1) is on probation for `jump_window` steps: a failure in them, or the smoothed loss over "
             "`jump_rise` times its level before the jump, caps the rate at the one that held (0: off; else over 1)"),
    I(jump_window, 1, 100000000, 50, .doc = "steps a jump of the schedule's rate is on probation"),
    F(jump_rise, 1, 1e6, 1.4,
      .doc = "the smoothed loss over this times its level before a jump fails the probation (the doctor's benign "
             "jumps: at most 1.3x; the harmful ones: 1.6x and more)"),
    R(on_rate_jump, GG_DO_ROLLBACK,
      .doc = "response to a failed probation (`rollback`: back to the last confirmed state, the rate capped at the one "
             "that held; `warn`: report it)"),
    F(worse_factor, 0, 1e6, 2,
      .doc = "a classifier's loss, smoothed (EMA weight 0.1), over this many times the chance level ln C for "
             "`worse_steps` steps in a row, having started under it, is worse than guessing: training made the model "
             "confidently wrong, as a rate far too high does (0: off; else over 1)"),
    I(worse_steps, 1, 100000000, 20, .doc = "steps in a row the loss must stay that high"),
    R(on_worse, GG_DO_ROLLBACK,
      .doc = "response to a loss worse than guessing (`rollback` also backs the rate off twice and makes it the "
             "ceiling, as for a collapse)"),
    R(on_update_ratio, GG_DO_BACKOFF,
      .doc = "response to a layer whose update/weight ratio is over `update_ratio_high` for `quiet_persist` passes "
             "(`backoff`: the rate backed off twice and made the ceiling; a ratio under the low end is only "
             "reported, `slow_rate` owns a rate too small)"),
    {0},
};

/*
 * setup.c - reading a run's settings from its config, and building the
 * model graph from the config's `model` list. Every key is read through the
 * strict typed getters, so a wrong type or range names file, line and key;
 * gg_cfg_unused() afterwards turns any key left unread into an error.
 */
#include "train.h"

#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *gg_setup_at(const gg_cfg_node *n)
{
    static _Thread_local char buf[4][300];
    static _Thread_local int k;
    k = (k + 1) % 4;
    return gg_cfg_where(n, buf[k], sizeof buf[k]);
}

static const char *loss_names[GG_LOSS_COUNT] = {"softmax_xent", "bce_logits", "mse", "huber"};
const char *gg_loss_name(gg_loss_kind k) { return k < GG_LOSS_COUNT ? loss_names[k] : "?"; }

static gg_status get_path(gg_cfg_node *m, const char *key, char *out)
{
    const char *v = NULL;
    GG_TRY(gg_cfg_str(m, key, &v));
    if (v) {
        gg_cfg_node *n = gg_cfg_get(m, key);
        if (!*v)
            return gg_fail(GG_E_CONFIG, "%s: key '%s': an empty path (a file or directory name is needed)",
                           gg_setup_at(n), gg_cfg_path(n));
        if (strlen(v) >= GG_PATH_MAX)
            return gg_fail(GG_E_CONFIG, "%s: key '%s': a path of %zu characters, longer than %d", gg_setup_at(n),
                           gg_cfg_path(n), strlen(v), GG_PATH_MAX - 1);
        snprintf(out, GG_PATH_MAX, "%s", v);
    }
    return GG_OK;
}

static gg_status get_f(gg_cfg_node *m, const char *key, double lo, double hi, float *out)
{
    return gg_cfg_f32(m, key, lo, hi, out);
}

static gg_status get_i(gg_cfg_node *m, const char *key, long lo, long hi, int *out)
{
    long v = *out;
    GG_TRY(gg_cfg_int(m, key, lo, hi, &v));
    *out = (int)v;
    return GG_OK;
}

static gg_status need_map(gg_cfg_node *n, const char *what)
{
    if (n && gg_cfg_node_type(n) != GG_CFG_MAP)
        return gg_fail(GG_E_CONFIG, "%s: '%s' must be a map of keys", gg_setup_at(n), what);
    return GG_OK;
}

static gg_status read_data(gg_cfg_node *d, gg_settings *s)
{
    snprintf(s->format, sizeof s->format, "idx");
    snprintf(s->train_path, GG_PATH_MAX, "/usr/share/datasets/fashion-mnist");
    snprintf(s->test_path, GG_PATH_MAX, "/usr/share/datasets/fashion-mnist");
    s->val_fraction = 0.1;
    s->normalize = GG_NORMALIZE_SCALE;
    s->csv_header = 1;
    if (!d) return GG_OK;
    GG_TRY(need_map(d, "data"));
    static const char *const formats[] = {"idx", "csv", "npy", "adding", "temporal_order", "text"};
    int f = 0;
    GG_TRY(gg_cfg_enum(d, "format", formats, 6, &f));
    snprintf(s->format, sizeof s->format, "%s", formats[f]);
    GG_TRY(get_path(d, "train", s->train_path));
    GG_TRY(get_path(d, "train_labels", s->train_labels));
    /* `test: none` (or an empty value) trains without a test set */
    gg_cfg_node *tn = gg_cfg_get(d, "test");
    if (tn && (gg_cfg_node_type(tn) == GG_CFG_NULL || (gg_cfg_scalar(tn) && strcmp(gg_cfg_scalar(tn), "none") == 0)))
        s->test_path[0] = 0;
    else
        GG_TRY(get_path(d, "test", s->test_path));
    GG_TRY(get_path(d, "test_labels", s->test_labels));
    const char *lc = NULL;
    GG_TRY(gg_cfg_str(d, "label", &lc));
    if (lc) snprintf(s->label_col, sizeof s->label_col, "%s", lc);
    GG_TRY(gg_cfg_bool(d, "header", &s->csv_header));
    GG_TRY(gg_cfg_float(d, "val_fraction", 0, 0.9, &s->val_fraction));
    static const char *const norms[] = {"none", "scale", "standardize"};
    int nm = (int)s->normalize;
    GG_TRY(gg_cfg_enum(d, "normalize", norms, 3, &nm));
    s->normalize = (gg_norm_mode)nm;
    GG_TRY(gg_cfg_int(d, "limit_train", 0, 1L << 40, &s->limit_train));
    s->length = 100;
    s->train_size = 100000;
    s->test_size = 10000;
    s->stride = 0;
    GG_TRY(get_i(d, "length", 2, 1 << 20, &s->length));
    GG_TRY(gg_cfg_int(d, "train_size", 1, 1L << 32, &s->train_size));
    GG_TRY(gg_cfg_int(d, "test_size", 0, 1L << 32, &s->test_size));
    GG_TRY(gg_cfg_int(d, "stride", 0, 1L << 30, &s->stride));
    static const char *const variants[] = {"uniform", "original"};
    GG_TRY(gg_cfg_enum(d, "variant", variants, 2, &s->variant));
    if (f >= 3 && !gg_cfg_get(d, "normalize")) s->normalize = GG_NORMALIZE_NONE;
    GG_TRY(gg_cfg_int(d, "limit_test", 0, 1L << 40, &s->limit_test));
    return GG_OK;
}

static gg_status read_optim(gg_cfg_node *o, gg_settings *s)
{
    s->opt = gg_optim_defaults(GG_OPT_ADAM);
    if (!o) return GG_OK;
    GG_TRY(need_map(o, "optimizer"));
    const char *name = NULL;
    GG_TRY(gg_cfg_str(o, "name", &name));
    if (name) {
        gg_optim_kind k = gg_optim_parse(name);
        if (k == GG_OPT_COUNT) {
            char names[256] = "";
            for (int i = 0; i < GG_OPT_COUNT; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                         gg_optim_name((gg_optim_kind)i));
            return gg_fail(GG_E_CONFIG, "%s: optimizer.name '%s' is not one of %s", gg_setup_at(gg_cfg_get(o, "name")),
                           name, names);
        }
        s->opt = gg_optim_defaults(k);
    }
    gg_optim_config *c = &s->opt;
    GG_TRY(get_f(o, "lr", 0, 1e3, &c->lr));
    GG_TRY(get_f(o, "momentum", 0, 1, &c->momentum));
    GG_TRY(get_f(o, "dampening", 0, 1, &c->dampening));
    GG_TRY(gg_cfg_bool(o, "nesterov", &c->nesterov));
    GG_TRY(get_f(o, "beta1", 0, 0.999999, &c->beta1));
    GG_TRY(get_f(o, "beta2", 0, 0.9999999, &c->beta2));
    GG_TRY(get_f(o, "eps", 1e-30, 1, &c->eps));
    GG_TRY(get_f(o, "alpha", 0, 1, &c->alpha));
    GG_TRY(gg_cfg_bool(o, "centered", &c->centered));
    GG_TRY(get_f(o, "lr_decay", 0, 1e3, &c->lr_decay));
    GG_TRY(get_f(o, "initial_accumulator", 0, 1e6, &c->initial_accumulator));
    GG_TRY(get_f(o, "weight_decay", 0, 1e3, &c->weight_decay));
    GG_TRY(get_i(o, "history", 1, 1000, &c->lbfgs_history));
    gg_cfg_node *gs = gg_cfg_get(o, "groups");
    if (gs) {
        if (gg_cfg_node_type(gs) != GG_CFG_SEQ)
            return gg_fail(GG_E_CONFIG, "%s: optimizer.groups must be a list", gg_setup_at(gs));
        int n = gg_cfg_len(gs);
        if (n > GG_MAX_GROUPS)
            return gg_fail(GG_E_CONFIG, "%s: optimizer.groups has %d entries, at most %d", gg_setup_at(gs), n,
                           GG_MAX_GROUPS);
        for (int i = 0; i < n; i++) {
            gg_cfg_node *e = gg_cfg_at(gs, i);
            GG_TRY(need_map(e, "optimizer.groups entry"));
            gg_group_cfg *gc = &s->groups[i];
            const char *pat = NULL;
            GG_TRY(gg_cfg_str(e, "params", &pat));
            if (!pat || !*pat || strlen(pat) >= GG_NAME_MAX)
                return gg_fail(GG_E_CONFIG, "%s: optimizer.groups entry needs 'params' (a name pattern like fc1.*)",
                               gg_setup_at(e));
            snprintf(gc->pattern, sizeof gc->pattern, "%s", pat);
            gc->lr_scale = 1;
            gc->weight_decay = c->weight_decay;
            gc->l1 = -1;
            gc->l2 = -1;
            GG_TRY(get_f(e, "lr_scale", 0, 1e6, &gc->lr_scale));
            GG_TRY(get_f(e, "weight_decay", 0, 1e3, &gc->weight_decay));
            GG_TRY(get_f(e, "l1", 0, 1e3, &gc->l1));
            GG_TRY(get_f(e, "l2", 0, 1e3, &gc->l2));
        }
        s->ngroups = n;
    }
    return GG_OK;
}

static gg_status read_schedule(gg_cfg_node *c, gg_settings *s)
{
    s->sched = gg_schedule_defaults(GG_SCHED_CONSTANT, s->opt.lr);
    if (!c) return GG_OK;
    GG_TRY(need_map(c, "schedule"));
    const char *name = NULL;
    GG_TRY(gg_cfg_str(c, "name", &name));
    if (name) {
        gg_sched_kind k = gg_sched_parse(name);
        if (k == GG_SCHED_COUNT)
            return gg_fail(GG_E_CONFIG,
                           "%s: schedule.name '%s' is not one of constant, step, multistep, exponential, cosine, onecycle, plateau",
                           gg_setup_at(gg_cfg_get(c, "name")), name);
        s->sched = gg_schedule_defaults(k, s->opt.lr);
    }
    gg_schedule_config *k = &s->sched;
    GG_TRY(gg_cfg_int(c, "step_size", 1, 1L << 40, &k->step_size));
    GG_TRY(get_f(c, "gamma", 0, 10, &k->gamma));
    gg_cfg_node *ms = gg_cfg_get(c, "milestones");
    if (ms) {
        if (gg_cfg_node_type(ms) != GG_CFG_SEQ || gg_cfg_len(ms) > GG_SCHED_MAX_MILESTONES)
            return gg_fail(GG_E_CONFIG, "%s: schedule.milestones must be a list of at most %d steps",
                           gg_setup_at(ms), GG_SCHED_MAX_MILESTONES);
        k->n_milestones = gg_cfg_len(ms);
        for (int i = 0; i < k->n_milestones; i++) {
            long v = 0;
            GG_TRY(gg_cfg_as_int(gg_cfg_at(ms, i), 1, 1L << 40, &v));
            if (i > 0 && v <= k->milestones[i - 1])
                return gg_fail(GG_E_CONFIG, "%s: schedule.milestones must increase", gg_setup_at(ms));
            k->milestones[i] = v;
        }
    }
    GG_TRY(gg_cfg_int(c, "total_steps", 1, 1L << 40, &k->total_steps));
    GG_TRY(gg_cfg_int(c, "t0", 0, 1L << 40, &k->t0));
    GG_TRY(get_f(c, "t_mult", 1, 100, &k->t_mult));
    GG_TRY(get_f(c, "min_lr", 0, 1e3, &k->min_lr));
    GG_TRY(get_f(c, "pct_start", 0, 1, &k->pct_start));
    GG_TRY(get_f(c, "div_factor", 1, 1e9, &k->div_factor));
    GG_TRY(get_f(c, "final_div_factor", 1, 1e12, &k->final_div_factor));
    GG_TRY(get_f(c, "factor", 0, 1, &k->factor));
    GG_TRY(get_i(c, "patience", 0, 100000, &k->patience));
    GG_TRY(get_i(c, "cooldown", 0, 100000, &k->cooldown));
    GG_TRY(get_f(c, "threshold", 0, 1, &k->threshold));
    static const char *const modes[] = {"min", "max"};
    GG_TRY(gg_cfg_enum(c, "mode", modes, 2, &k->mode_max));
    GG_TRY(gg_cfg_int(c, "warmup_steps", 0, 1L << 40, &k->warmup_steps));
    GG_TRY(get_f(c, "warmup_start", 0, 1, &k->warmup_start));
    return GG_OK;
}

static gg_status read_regularize(gg_cfg_node *r, gg_settings *s)
{
    s->es_restore = 1;
    if (!r) return GG_OK;
    GG_TRY(need_map(r, "regularize"));
    GG_TRY(get_f(r, "l1", 0, 1e3, &s->l1));
    GG_TRY(get_f(r, "l2", 0, 1e3, &s->l2));
    gg_cfg_node *es = gg_cfg_get(r, "early_stopping");
    if (es) {
        GG_TRY(need_map(es, "regularize.early_stopping"));
        GG_TRY(get_i(es, "patience", 0, 100000, &s->es_patience));
        GG_TRY(gg_cfg_float(es, "min_delta", 0, 1e9, &s->es_min_delta));
        GG_TRY(gg_cfg_bool(es, "restore_best", &s->es_restore));
    }
    return GG_OK;
}

static gg_status read_response(gg_cfg_node *m, const char *key, gg_response *out)
{
    const char *v = NULL;
    GG_TRY(gg_cfg_str(m, key, &v));
    if (!v) return GG_OK;
    gg_response r = gg_response_parse(v);
    if (r == GG_DO_COUNT)
        return gg_fail(GG_E_CONFIG, "%s: guard.%s '%s' is not one of warn, clip, skip, backoff, rollback, stop, noise",
                       gg_setup_at(gg_cfg_get(m, key)), key, v);
    *out = r;
    return GG_OK;
}

static gg_status read_guard(gg_cfg_node *m, gg_settings *s)
{
    s->guard = gg_guard_defaults();
    if (!m) return GG_OK;
    GG_TRY(need_map(m, "guard"));
    gg_guard_config *c = &s->guard;
    GG_TRY(gg_cfg_bool(m, "enabled", &c->enabled));
    const char *clip = NULL;
    GG_TRY(gg_cfg_str(m, "clip", &clip));
    if (clip) {
        c->clip = gg_clip_parse(clip);
        if (c->clip == GG_CLIP_COUNT)
            return gg_fail(GG_E_CONFIG, "%s: guard.clip '%s' is not one of none, value, norm, tensor, agc, percentile, zscore",
                           gg_setup_at(gg_cfg_get(m, "clip")), clip);
    }
    GG_TRY(get_f(m, "clip_value", 1e-12, 1e12, &c->clip_value));
    GG_TRY(get_f(m, "max_norm", 1e-12, 1e12, &c->max_norm));
    GG_TRY(get_f(m, "agc_lambda", 1e-9, 1e3, &c->agc_lambda));
    GG_TRY(get_f(m, "agc_eps", 0, 1, &c->agc_eps));
    GG_TRY(gg_cfg_bool(m, "agc_exclude_last", &c->agc_exclude_last));
    GG_TRY(get_f(m, "percentile", 0.01, 100, &c->percentile));
    GG_TRY(get_i(m, "history", 1, 1000000, &c->history));
    GG_TRY(get_f(m, "clip_z", 0.1, 100, &c->clip_z));
    GG_TRY(get_i(m, "warmup", 0, 1000000, &c->warmup));
    GG_TRY(get_f(m, "ema_alpha", 1e-6, 0.999999, &c->ema_alpha));
    GG_TRY(get_f(m, "spike_z", 0.1, 1000, &c->spike_z));
    GG_TRY(get_f(m, "loss_z", 0.1, 1000, &c->loss_z));
    GG_TRY(get_i(m, "trend_window", 0, 100000, &c->trend_window));
    GG_TRY(get_f(m, "trend_growth", 1, 1e12, &c->trend_growth));
    GG_TRY(read_response(m, "on_nonfinite", &c->on_nonfinite));
    GG_TRY(read_response(m, "on_spike", &c->on_spike));
    GG_TRY(read_response(m, "on_loss_spike", &c->on_loss_spike));
    GG_TRY(read_response(m, "on_trend", &c->on_trend));
    GG_TRY(gg_cfg_bool(m, "reset_moments", &c->reset_moments));
    GG_TRY(get_f(m, "backoff_factor", 1e-6, 1, &c->backoff_factor));
    GG_TRY(get_i(m, "backoff_recover", 0, 100000000, &c->backoff_recover));
    GG_TRY(get_f(m, "backoff_min", 0, 1, &c->backoff_min));
    GG_TRY(get_i(m, "snapshot_every", 1, 100000000, &c->snapshot_every));
    GG_TRY(get_i(m, "rollback_budget", 0, 1000000, &c->rollback_budget));
    GG_TRY(get_i(m, "skip_batches", 0, 1000000, &c->skip_batches));
    GG_TRY(get_i(m, "max_skips", 1, 1000000, &c->max_skips));
    GG_TRY(get_f(m, "noise_eta", 0, 1e6, &c->noise_eta));
    GG_TRY(get_f(m, "noise_gamma", 0, 10, &c->noise_gamma));
    GG_TRY(gg_cfg_bool(m, "diagnose", &c->diagnose));
    static const char *const ic[] = {"off", "warn", "fix"};
    GG_TRY(gg_cfg_enum(m, "init_check", ic, 3, &c->init_check));
    GG_TRY(get_f(m, "loss_blowup", 0, 1e12, &c->loss_blowup));
    GG_TRY(get_f(m, "loss_blowup_floor", 0, 1e6, &c->loss_blowup_floor));
    GG_TRY(get_f(m, "loss_blowup_z", 0, 1000, &c->loss_blowup_z));
    GG_TRY(read_response(m, "on_blowup", &c->on_blowup));
    GG_TRY(read_response(m, "on_collapse", &c->on_collapse));
    GG_TRY(read_response(m, "on_max_spike", &c->on_max_spike));
    GG_TRY(read_response(m, "on_dead", &c->on_dead));
    GG_TRY(get_i(m, "layer_every", 0, 100000000, &c->layer_every));
    s->layer_every_set = gg_cfg_get(m, "layer_every") != NULL;
    /* quiet failures (docs/guard.md, "Quiet failures") */
    GG_TRY(gg_cfg_bool(m, "quiet", &c->quiet));
    GG_TRY(get_i(m, "monitor_every", 0, 100000000, &c->monitor_every));
    GG_TRY(get_i(m, "stall_window", 1, 100000000, &c->stall_window));
    GG_TRY(get_i(m, "progress_window", 0, 100000000, &c->progress_window));
    GG_TRY(get_f(m, "min_progress", 0, 1, &c->min_progress));
    GG_TRY(get_f(m, "chance_margin", 0, 1, &c->chance_margin));
    GG_TRY(get_f(m, "vanish_ratio", 0, 1, &c->vanish_ratio));
    GG_TRY(get_f(m, "dead_fraction", 0, 1, &c->dead_fraction));
    GG_TRY(get_f(m, "saturation_fraction", 0, 1, &c->saturation_fraction));
    GG_TRY(get_f(m, "saturation_threshold", 0.01, 100, &c->saturation_threshold));
    GG_TRY(get_f(m, "update_ratio_low", 0, 1e6, &c->update_ratio_low));
    GG_TRY(get_f(m, "update_ratio_high", 0, 1e6, &c->update_ratio_high));
    GG_TRY(get_i(m, "quiet_persist", 1, 1000000, &c->quiet_persist));
    GG_TRY(get_i(m, "report_every", 1, 100000000, &c->report_every));
    GG_TRY(read_response(m, "on_stall", &c->on_stall));
    GG_TRY(read_response(m, "on_vanishing", &c->on_vanishing));
    GG_TRY(get_f(m, "remedy_noise_eta", 0, 1e6, &c->remedy_noise_eta));
    gg_cfg_node *fl = gg_cfg_get(m, "faults");
    if (fl) {
        if (gg_cfg_node_type(fl) != GG_CFG_SEQ || gg_cfg_len(fl) > GG_MAX_FAULTS)
            return gg_fail(GG_E_CONFIG, "%s: guard.faults must be a list of at most %d entries", gg_setup_at(fl),
                           GG_MAX_FAULTS);
        s->nfaults = gg_cfg_len(fl);
        for (int i = 0; i < s->nfaults; i++) {
            gg_cfg_node *e = gg_cfg_at(fl, i);
            GG_TRY(need_map(e, "guard.faults entry"));
            gg_fault *f = &s->faults[i];
            f->step = -1;
            f->scale = 1;
            /* the global batch index: epoch * steps_per_epoch + batch */
            GG_TRY(gg_cfg_int(e, "batch", 0, 1L << 40, &f->step));
            GG_TRY(gg_cfg_bool(e, "nan", &f->nan));
            GG_TRY(gg_cfg_bool(e, "inf", &f->inf));
            GG_TRY(gg_cfg_bool(e, "labels", &f->labels));
            GG_TRY(get_f(e, "scale", -1e30, 1e30, &f->scale));
            const char *node = NULL;
            GG_TRY(gg_cfg_str(e, "node", &node));
            if (node) {
                if (strlen(node) >= GG_NAME_MAX)
                    return gg_fail(GG_E_CONFIG, "%s: guard.faults node name too long", gg_setup_at(e));
                snprintf(f->node, sizeof f->node, "%s", node);
            }
            GG_TRY(gg_cfg_bool(e, "backward", &f->backward));
            /* data-parallel runs: the fault hits only this rank's shard */
            f->rank = -1;
            GG_TRY(get_i(e, "rank", 0, 1 << 20, &f->rank));
            if (f->step < 0) return gg_fail(GG_E_CONFIG, "%s: guard.faults entry needs 'batch'", gg_setup_at(e));
        }
    }
    return GG_OK;
}

static gg_status read_train(gg_cfg_node *m, gg_settings *s)
{
    s->epochs = 5;
    s->batch = 128;
    s->accumulate = 1;
    s->seed = 1;
    s->log_every = 50;
    s->checkpoint_every = 1;
    s->keep_checkpoints = 3;
    if (!m) return GG_OK;
    GG_TRY(need_map(m, "train"));
    GG_TRY(get_i(m, "epochs", 1, 1000000, &s->epochs));
    GG_TRY(get_i(m, "batch", 1, 1 << 20, &s->batch));
    GG_TRY(get_i(m, "accumulate", 1, 65536, &s->accumulate));
    GG_TRY(get_i(m, "threads", 0, 4096, &s->threads));
    long seed = (long)s->seed;
    GG_TRY(gg_cfg_int(m, "seed", 0, LONG_MAX, &seed));
    s->seed = (uint64_t)seed;
    GG_TRY(get_i(m, "log_every", 1, 100000000, &s->log_every));
    GG_TRY(get_i(m, "eval_every", 0, 100000000, &s->eval_every));
    GG_TRY(get_i(m, "checkpoint_every", 0, 1000000, &s->checkpoint_every));
    GG_TRY(get_i(m, "keep_checkpoints", 1, 1000, &s->keep_checkpoints));
    GG_TRY(get_i(m, "stop_after", 0, 1000000, &s->stop_after));
    GG_TRY(gg_cfg_int(m, "max_steps", 0, 1L << 40, &s->max_steps));
    GG_TRY(get_path(m, "init_from", s->init_from));
    if (s->init_from[0]) snprintf(s->init_from_at, sizeof s->init_from_at, "%s", gg_setup_at(gg_cfg_get(m, "init_from")));
    return GG_OK;
}

/* dist: how the ranks of an MPI run talk (src/parallel). Read, and harmless,
 * in a single-process run too, so one config serves both. */
static gg_status read_dist(gg_cfg_node *m, gg_settings *s)
{
    s->bucket_mb = 0;
    s->dist_timeout = 300;
    if (!m) return GG_OK;
    GG_TRY(need_map(m, "dist"));
    GG_TRY(gg_cfg_float(m, "bucket_mb", 0, 1 << 20, &s->bucket_mb));
    GG_TRY(gg_cfg_float(m, "timeout", 0, 1e7, &s->dist_timeout));
    return GG_OK;
}

gg_status gg_settings_read(gg_cfg *cfg, gg_settings *s)
{
    memset(s, 0, sizeof *s);
    gg_cfg_node *root = gg_cfg_root(cfg);
    if (!root || gg_cfg_node_type(root) != GG_CFG_MAP)
        return gg_fail(GG_E_CONFIG, "%s: the config must be a map with sections data, model, loss, optimizer, ... "
                       "(it is %s)", gg_setup_at(root),
                       gg_cfg_node_type(root) == GG_CFG_SEQ ? "a list" : gg_cfg_node_type(root) == GG_CFG_NULL ? "null" : "a single value");
    GG_TRY(read_data(gg_cfg_get(root, "data"), s));
    gg_cfg_node *loss = gg_cfg_get(root, "loss");
    s->huber_delta = 1;
    if (loss) {
        GG_TRY(need_map(loss, "loss"));
        int k = 0;
        GG_TRY(gg_cfg_enum(loss, "name", loss_names, GG_LOSS_COUNT, &k));
        s->loss = (gg_loss_kind)k;
        GG_TRY(get_f(loss, "smoothing", 0, 0.999, &s->smoothing));
        GG_TRY(get_f(loss, "delta", 1e-9, 1e9, &s->huber_delta));
        GG_TRY(get_f(loss, "z_loss", 0, 1, &s->z_loss));
        if (s->z_loss > 0 && s->loss != GG_LOSS_XENT)
            return gg_fail(GG_E_CONFIG, "%s: loss.z_loss needs loss.name softmax_xent (it penalises the softmax's log Z)",
                           gg_setup_at(gg_cfg_get(loss, "z_loss")));
    }
    GG_TRY(read_optim(gg_cfg_get(root, "optimizer"), s));
    GG_TRY(read_schedule(gg_cfg_get(root, "schedule"), s));
    GG_TRY(read_regularize(gg_cfg_get(root, "regularize"), s));
    GG_TRY(read_guard(gg_cfg_get(root, "guard"), s));
    GG_TRY(read_train(gg_cfg_get(root, "train"), s));
    GG_TRY(gg_read_prune(gg_cfg_get(root, "prune"), s));
    GG_TRY(gg_read_augment(gg_cfg_get(root, "augment"), s));
    GG_TRY(read_dist(gg_cfg_get(root, "dist"), s));
    return GG_OK;
}

/* ---- the model ----------------------------------------------------------- */

static gg_status read_act(gg_cfg_node *e, const char *key, gg_act *out)
{
    const char *v = NULL;
    GG_TRY(gg_cfg_str(e, key, &v));
    if (!v) return GG_OK;
    gg_act a = gg_act_parse(v);
    if (a == GG_ACT_COUNT)
        return gg_fail(GG_E_CONFIG, "%s: %s.%s '%s' is not one of none, relu, leaky_relu, elu, gelu, tanh, sigmoid",
                       gg_setup_at(gg_cfg_get(e, key)), gg_cfg_path(e), key, v);
    *out = a;
    return GG_OK;
}

static const char *const init_names[GG_INIT_COUNT] = {
    "zeros", "constant", "uniform", "normal", "xavier_uniform", "xavier_normal", "he_uniform",
    "he_normal", "orthogonal", "lecun_uniform", "identity", "spectral"};

static gg_status read_init(gg_cfg_node *e, gg_init *in)
{
    gg_cfg_node *n = gg_cfg_get(e, "init");
    if (!n) return GG_OK;
    int k = 0;
    GG_TRY(gg_cfg_enum(e, "init", init_names, GG_INIT_COUNT, &k));
    in->kind = (gg_init_kind)k;
    in->a = in->b = 0;
    if (k == GG_INIT_NORMAL) in->b = 1;
    GG_TRY(get_f(e, "init_a", -1e6, 1e6, &in->a));
    GG_TRY(get_f(e, "init_b", -1e6, 1e6, &in->b));
    /* "gain" reads better for the scaled initialisers */
    GG_TRY(get_f(e, "gain", 0, 1e6, &in->a));
    GG_TRY(get_f(e, "std", 0, 1e6, &in->b));
    return GG_OK;
}

/* `bias_init: v` on a dense or conv2d layer: its bias starts at v instead of
 * 0 (the weights draw the same numbers either way). A negative value shifts
 * ReLU units off for every input: a way to start a run with dead units. */
static gg_status read_bias_init(gg_graph *g, gg_cfg_node *e, const char *layer)
{
    float v = 0;
    if (!gg_cfg_get(e, "bias_init")) return GG_OK;
    GG_TRY(get_f(e, "bias_init", -1e6, 1e6, &v));
    char bn[GG_NAME_MAX];
    snprintf(bn, sizeof bn, "%s.bias", layer);
    gg_node b = gg_graph_find(g, bn);
    if (b < 0) return GG_OK; /* the build already failed; its error is reported */
    g->t[b].init = (gg_init){GG_INIT_CONST, v, 0};
    return GG_OK;
}

gg_status gg_model_build(gg_trainer *t, gg_cfg *cfg)
{
    gg_settings *s = &t->s;
    gg_cfg_node *model = gg_cfg_get(gg_cfg_root(cfg), "model");
    if (!model || gg_cfg_node_type(model) != GG_CFG_SEQ || gg_cfg_len(model) == 0)
        return gg_fail(GG_E_CONFIG, "%s: %s'model' must be a list of layers (e.g. - {type: dense, units: 128, act: relu})%s",
                       gg_setup_at(model ? model : gg_cfg_root(cfg)), model ? "" : "missing section: ",
                       model && gg_cfg_node_type(model) == GG_CFG_SEQ ? ", not an empty list" : "");
    gg_dataset *d = &t->train;
    gg_graph *g = gg_graph_new(s->batch);
    if (!g) return GG_E_NOMEM;
    t->g = g;
    gg_shape in = {d->ndim, {d->shape[0], d->shape[1], d->shape[2], 0}};
    /* images arrive as (H, W): give them a channel axis */
    if (d->ndim == 2 && d->u8) in = gg_shape3(1, d->shape[0], d->shape[1]);
    t->x = gg_input(g, "input", in);
    gg_node h = t->x;
    int n = gg_cfg_len(model);
    t->layer_recs = calloc((size_t)n + 1, sizeof *t->layer_recs);
    if (!t->layer_recs) return gg_fail(GG_E_NOMEM, "model: out of memory for %d layers", n);
    snprintf(t->layer_recs[0].name, GG_NAME_MAX, "input");
    t->layer_recs[0].type = "input";
    t->layer_recs[0].out = t->x;
    t->nlayer_recs = 1;
    static const char *const types[] = {"dense",    "conv2d",    "maxpool",       "avgpool",   "global_avgpool",
                                        "flatten",  "dropout",   "batchnorm",     "layernorm", "activation",
                                        "residual", "residual_conv", "embedding", "rnn",       "lstm",
                                        "gru",      "attention", "mlp_block",     "position"};
    enum {
        L_DENSE, L_CONV, L_MAXPOOL, L_AVGPOOL, L_GAP, L_FLATTEN, L_DROPOUT, L_BN, L_LN, L_ACT, L_RES, L_RESCONV,
        L_EMBED, L_RNN, L_LSTM, L_GRU, L_ATTN, L_MLPB, L_POS, L_COUNT
    };
    int counts[L_COUNT] = {0};
    static const char *const prefixes[L_COUNT] = {"fc", "conv", "pool", "pool", "gap", "flatten", "dropout",
                                                  "bn", "ln", "act", "res", "resconv", "embed", "rnn",
                                                  "lstm", "gru", "attn", "mlp", "pos"};
    for (int i = 0; i < n; i++) {
        gg_cfg_node *e = gg_cfg_at(model, i);
        if (gg_cfg_node_type(e) != GG_CFG_MAP)
            return gg_fail(GG_E_CONFIG, "%s: model[%d] must be a map like {type: dense, units: 128}", gg_setup_at(e), i);
        int type = -1;
        if (!gg_cfg_get(e, "type"))
            return gg_fail(GG_E_CONFIG, "%s: model[%d] has no 'type'", gg_setup_at(e), i);
        GG_TRY(gg_cfg_enum(e, "type", types, L_COUNT, &type));
        char name[GG_NAME_MAX];
        const char *nm = NULL;
        GG_TRY(gg_cfg_str(e, "name", &nm));
        counts[type]++;
        if (nm) {
            if (strlen(nm) >= GG_NAME_MAX - 20 || strchr(nm, '.') || strchr(nm, '/'))
                return gg_fail(GG_E_CONFIG, "%s: model[%d].name '%s' must be short and have no '.' or '/'",
                               gg_setup_at(e), i, nm);
            snprintf(name, sizeof name, "%s", nm);
        } else {
            snprintf(name, sizeof name, "%s%d", prefixes[type], counts[type]);
        }
        int last = i == n - 1;
        gg_act act = GG_ACT_NONE;
        if (type == L_DENSE || type == L_CONV || type == L_RES || type == L_RESCONV) act = last ? GG_ACT_NONE : GG_ACT_RELU;
        /* only the layers that have an activation or weights read those
         * keys: anywhere else they are unknown keys, and an error */
        int has_act = type == L_DENSE || type == L_CONV || type == L_RES || type == L_RESCONV || type == L_ACT ||
                      type == L_RNN;
        if (has_act) GG_TRY(read_act(e, "act", &act));
        gg_init init = gg_init_default(act);
        if (type == L_DENSE || type == L_CONV) GG_TRY(read_init(e, &init));
        switch (type) {
        case L_DENSE: {
            int units = last && s->loss == GG_LOSS_XENT ? t->train.num_classes : 0;
            if (last && s->loss != GG_LOSS_XENT) units = t->train.label_per;
            GG_TRY(get_i(e, "units", 1, 1 << 24, &units));
            if (units < 1 && last && s->loss == GG_LOSS_XENT && t->train.labels) {
                /* the class count comes from the labels, and they are not
                 * all class ids: name the first that is not, where it is */
                gg_status cs = gg_dataset_check_classes(&t->train, 0);
                if (!cs && t->have_val) cs = gg_dataset_check_classes(&t->val, 0);
                if (!cs && t->have_test) cs = gg_dataset_check_classes(&t->test, 0);
                if (cs) {
                    char why[1024];
                    snprintf(why, sizeof why, "%s", gg_errmsg());
                    return gg_fail(cs, "%s: model[%d] (dense) has no 'units', so the class ids of the labels size "
                                   "it, but %s", gg_setup_at(e), i, why);
                }
            }
            if (units < 1)
                return gg_fail(GG_E_CONFIG, "%s: model[%d] (dense) needs 'units'", gg_setup_at(e), i);
            int bias = 1;
            GG_TRY(gg_cfg_bool(e, "bias", &bias));
            h = gg_dense(g, h, name, units, act, init, bias);
            if (bias) GG_TRY(read_bias_init(g, e, name));
            break;
        }
        case L_CONV: {
            int filters = 0, k = 3, stride = 1, pad = -1;
            GG_TRY(get_i(e, "filters", 1, 1 << 16, &filters));
            GG_TRY(get_i(e, "kernel", 1, 64, &k));
            GG_TRY(get_i(e, "stride", 1, 64, &stride));
            GG_TRY(get_i(e, "pad", 0, 64, &pad));
            if (filters < 1)
                return gg_fail(GG_E_CONFIG, "%s: model[%d] (conv2d) needs 'filters'", gg_setup_at(e), i);
            static const char *const algos[] = {"auto", "im2col", "winograd"};
            int algo = GG_CONV_AUTO;
            GG_TRY(gg_cfg_enum(e, "algo", algos, 3, &algo));
            h = gg_conv(g, h, name, filters, k, stride, pad, act, init);
            GG_TRY(read_bias_init(g, e, name));
            if (h >= 0 && gg_conv2d_set_algo(g, h, (gg_conv_algo)algo)) {
                char why[256];
                snprintf(why, sizeof why, "%s", gg_errmsg());
                return gg_fail(GG_E_CONFIG, "%s: model[%d] (conv2d) algo: %s", gg_setup_at(e), i, why);
            }
            break;
        }
        case L_MAXPOOL:
        case L_AVGPOOL: {
            int k = 2, stride = 0, pad = 0;
            GG_TRY(get_i(e, "size", 1, 64, &k));
            GG_TRY(get_i(e, "stride", 1, 64, &stride));
            GG_TRY(get_i(e, "pad", 0, 32, &pad));
            gg_graph_scope(g, name);
            h = type == L_MAXPOOL ? gg_maxpool2d(g, h, k, stride ? stride : k, pad)
                                  : gg_avgpool2d(g, h, k, stride ? stride : k, pad);
            break;
        }
        case L_GAP:
            gg_graph_scope(g, name);
            h = gg_global_avgpool(g, h);
            break;
        case L_FLATTEN:
            gg_graph_scope(g, name);
            h = gg_flatten(g, h);
            break;
        case L_DROPOUT: {
            float p = 0.5f;
            GG_TRY(get_f(e, "p", 0, 0.999, &p));
            gg_graph_scope(g, name);
            h = gg_dropout(g, h, p);
            break;
        }
        case L_BN: {
            float mom = 0.1f, eps = 1e-5f;
            GG_TRY(get_f(e, "momentum", 0, 1, &mom));
            GG_TRY(get_f(e, "eps", 1e-12, 1, &eps));
            h = gg_batchnorm_layer(g, h, name, mom, eps);
            break;
        }
        case L_LN: {
            float eps = 1e-5f;
            GG_TRY(get_f(e, "eps", 1e-12, 1, &eps));
            h = gg_layernorm_layer(g, h, name, eps);
            break;
        }
        case L_ACT:
            if (!gg_cfg_get(e, "act"))
                return gg_fail(GG_E_CONFIG, "%s: model[%d] (activation) needs 'act'", gg_setup_at(e), i);
            gg_graph_scope(g, name);
            h = gg_activation(g, h, act);
            break;
        case L_EMBED: {
            int vocab = t->train.num_classes, dim = 0;
            GG_TRY(get_i(e, "vocab", 1, 1 << 24, &vocab));
            GG_TRY(get_i(e, "dim", 1, 1 << 16, &dim));
            if (vocab < 1 || dim < 1)
                return gg_fail(GG_E_CONFIG, "%s: model[%d] (embedding) needs 'dim' (and 'vocab' unless the data gives it)",
                               gg_setup_at(e), i);
            char wn[GG_NAME_MAX + 8];
            snprintf(wn, sizeof wn, "%s.weight", name);
            gg_init ein = {GG_INIT_NORMAL, 0, 1};
            GG_TRY(read_init(e, &ein));
            gg_graph_scope(g, name);
            h = gg_embedding(g, h, gg_param(g, wn, gg_shape2(vocab, dim), ein));
            break;
        }
        case L_POS: {
            /* a learned position embedding (T, D) added to (N, T, D) */
            gg_shape xs = gg_graph_shape(g, h);
            if (xs.ndim != 3)
                return gg_fail(GG_E_CONFIG, "%s: model[%d] (position) needs (N, T, D) input", gg_setup_at(e), i);
            char wn[GG_NAME_MAX + 8];
            snprintf(wn, sizeof wn, "%s.weight", name);
            gg_init pin = {GG_INIT_NORMAL, 0, 0.02f};
            gg_graph_scope(g, name);
            h = gg_add(g, h, gg_param(g, wn, gg_shape2(xs.d[1], xs.d[2]), pin));
            break;
        }
        case L_RNN:
        case L_LSTM:
        case L_GRU: {
            int hidden = 0, last_only = 0, relu = 0;
            float fb = 1.0f;
            GG_TRY(get_i(e, "hidden", 1, 1 << 16, &hidden));
            if (hidden < 1) return gg_fail(GG_E_CONFIG, "%s: model[%d] (%s) needs 'hidden'", gg_setup_at(e), i, types[type]);
            GG_TRY(gg_cfg_bool(e, "last", &last_only));
            gg_init hh = {GG_INIT_LECUN_UNIFORM, 0, 0}; /* PyTorch's default */
            gg_cfg_node *ri = gg_cfg_get(e, "recurrent_init");
            if (ri) {
                int k = 0;
                GG_TRY(gg_cfg_enum(e, "recurrent_init", init_names, GG_INIT_COUNT, &k));
                hh.kind = (gg_init_kind)k;
                GG_TRY(get_f(e, "recurrent_gain", 0, 1e6, &hh.a));
                if (hh.kind == GG_INIT_NORMAL) hh.b = 1;
            }
            int flags = last_only ? GG_RNN_LAST : 0;
            if (type == L_RNN) {
                if (act != GG_ACT_NONE && act != GG_ACT_TANH && act != GG_ACT_RELU)
                    return gg_fail(GG_E_CONFIG, "%s: model[%d] (rnn) act must be tanh or relu", gg_setup_at(e), i);
                relu = act == GG_ACT_RELU;
                h = gg_rnn_layer(g, h, name, hidden, relu, -1, hh, flags);
            } else if (type == L_LSTM) {
                GG_TRY(get_f(e, "forget_bias", -100, 100, &fb));
                h = gg_lstm_layer(g, h, name, hidden, -1, hh, fb, flags);
            } else {
                h = gg_gru_layer(g, h, name, hidden, -1, hh, flags);
            }
            break;
        }
        case L_ATTN: {
            gg_attention_opts ao = {1, 1, 0, 0};
            GG_TRY(get_i(e, "heads", 1, 1024, &ao.heads));
            GG_TRY(gg_cfg_bool(e, "causal", &ao.causal));
            GG_TRY(gg_cfg_bool(e, "qk_norm", &ao.qk_norm));
            GG_TRY(get_f(e, "logit_cap", 0, 1e6, &ao.logit_cap));
            h = gg_attention_block_ex(g, h, name, &ao);
            break;
        }
        case L_MLPB: {
            gg_shape xs = gg_graph_shape(g, h);
            int hidden = 4 * xs.d[xs.ndim - 1];
            GG_TRY(get_i(e, "hidden", 1, 1 << 20, &hidden));
            h = gg_mlp_block(g, h, name, hidden);
            break;
        }
        case L_RES:
        case L_RESCONV: {
            static const char *const norms[] = {"none", "batchnorm", "layernorm"};
            int nk = 0, k = 3;
            GG_TRY(gg_cfg_enum(e, "norm", norms, 3, &nk));
            if (type == L_RES) {
                h = gg_residual_dense(g, h, name, (gg_norm_kind)nk, act);
            } else {
                GG_TRY(get_i(e, "kernel", 1, 63, &k));
                h = gg_residual_conv(g, h, name, k, (gg_norm_kind)nk, act);
            }
            break;
        }
        }
        gg_graph_scope(g, NULL);
        if (h < 0)
            return gg_fail(gg_graph_status(g), "%s: model[%d] (%s '%s'): %s", gg_setup_at(e), i, types[type], name,
                           gg_graph_errmsg(g));
        struct gg_layer_rec *lr = &t->layer_recs[t->nlayer_recs++];
        snprintf(lr->name, sizeof lr->name, "%s", name);
        lr->type = types[type];
        lr->out = h;
    }
    t->logits = h;
    gg_shape ls = gg_graph_shape(g, h);
    char sb[64];
    switch (s->loss) {
    case GG_LOSS_XENT: {
        int classes = ls.d[ls.ndim - 1];
        GG_TRY(gg_dataset_check_classes(&t->train, classes));
        if (t->have_val) GG_TRY(gg_dataset_check_classes(&t->val, classes));
        if (t->have_test) GG_TRY(gg_dataset_check_classes(&t->test, classes));
        if (t->train.num_classes > classes)
            return gg_fail(GG_E_CONFIG, "the model's output has %d classes but the labels of %s go up to %d", classes,
                           t->train.source, t->train.num_classes - 1);
        size_t rows = gg_shape_numel(ls) / (size_t)ls.d[0] / (size_t)classes;
        if ((size_t)t->train.label_per != rows)
            return gg_fail(GG_E_CONFIG, "softmax_xent needs %zu class id(s) per sample (one per row of the logits %s); %s has %d",
                           rows, gg_shape_str(ls, sb, sizeof sb), t->train.source, t->train.label_per);
        t->y = gg_input(g, "labels", gg_shape1(t->train.label_per));
        t->loss = gg_softmax_xent_z(g, h, t->y, s->smoothing, s->z_loss);
        t->acc = gg_accuracy(g, h, t->y);
        break;
    }
    default: {
        if (gg_shape_numel(ls) / (size_t)ls.d[0] != (size_t)t->train.label_per)
            return gg_fail(GG_E_CONFIG, "the model's output %s does not fit %d target values per sample of %s",
                           gg_shape_str(ls, sb, sizeof sb), t->train.label_per, t->train.source);
        gg_shape ss = {ls.ndim - 1, {ls.d[1], ls.d[2], ls.d[3], 0}};
        t->y = gg_input(g, "targets", ss);
        t->loss = s->loss == GG_LOSS_BCE ? gg_bce_logits(g, h, t->y)
                  : s->loss == GG_LOSS_MSE ? gg_mse(g, h, t->y)
                                           : gg_huber(g, h, t->y, s->huber_delta);
        t->acc = -1;
        break;
    }
    }
    GG_TRY(gg_train_mixup_loss(t));
    if (gg_graph_compile(g)) return gg_fail(gg_graph_status(g) ? gg_graph_status(g) : GG_E_NOMEM, "model: %s", gg_errmsg());
    /* Training keeps about five more copies of the parameters than the plan
     * (two optimizer moments; the guard's snapshot of parameters and
     * moments): refuse a run that cannot fit before its pages are touched,
     * where the kernel would kill it instead (measured: peak RSS is about
     * 7.3 times the parameter bytes for an MLP trained with Adam). */
    uint64_t need = ((uint64_t)(7 * g->nparams + g->nbufs + g->nacts + g->nact_grads + g->nws)) * sizeof(float);
    if (need > gg_mem_physical())
        return gg_fail(GG_E_NOMEM,
                       "model: training %zu parameters needs about %llu MiB (weights, gradients, optimizer state, "
                       "snapshots and activations), more than the %llu MiB of memory this process may use",
                       g->nparams, (unsigned long long)(need >> 20), (unsigned long long)(gg_mem_physical() >> 20));
    GG_TRY(gg_graph_init_params(g, s->seed));
    return gg_graph_init_recurrent(g, s->seed ^ 0x7265637572ull);
}

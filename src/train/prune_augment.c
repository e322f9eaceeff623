/*
 * prune_augment.c - the trainer's side of pruning and augmentation: reading
 * the `prune` and `augment` config sections, building the pruner and the
 * augmenter at setup, the hooks the training step calls, and the sparsity
 * lines of events.jsonl and summary.json.
 *
 * In a step:  prune (when the schedule says) -> batch -> augment -> forward
 *             -> backward -> mask gradients -> guard -> optimizer -> re-apply masks
 */
#include "train.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static gg_status get_f(gg_cfg_node *m, const char *key, double lo, double hi, float *out)
{
    return gg_cfg_f32(m, key, lo, hi, out);
}

gg_status gg_read_prune(gg_cfg_node *m, gg_settings *s)
{
    s->prune = gg_prune_defaults();
    s->prune_on = 0;
    if (!m) return GG_OK;
    if (gg_cfg_node_type(m) != GG_CFG_MAP)
        return gg_fail(GG_E_CONFIG, "%s: 'prune' must be a map of keys (method, scope, sparsity, ...)", gg_setup_at(m));
    gg_prune_config *c = &s->prune;
    static const char *const methods[] = {"magnitude", "random"};
    static const char *const scopes[] = {"global", "layer"};
    int k = (int)c->method, scope = 0;
    GG_TRY(gg_cfg_enum(m, "method", methods, 2, &k));
    c->method = (gg_prune_method)k;
    GG_TRY(gg_cfg_enum(m, "scope", scopes, 2, &scope));
    c->global = scope == 0;
    GG_TRY(gg_cfg_bool(m, "structured", &c->structured));
    /* structured pruning of the output layer would remove classes */
    c->keep_last = c->structured;
    GG_TRY(gg_cfg_bool(m, "keep_last", &c->keep_last));
    GG_TRY(gg_cfg_bool(m, "include_biases", &c->include_biases));
    gg_cfg_node *sp = gg_cfg_get(m, "sparsity");
    if (!sp) return gg_fail(GG_E_CONFIG, "%s: prune needs 'sparsity' (the final fraction of weights pruned, e.g. 0.8)", gg_setup_at(m));
    GG_TRY(get_f(m, "sparsity", 0, 0.999, &c->sparsity));
    GG_TRY(get_f(m, "initial_sparsity", 0, 0.999, &c->initial_sparsity));
    GG_TRY(gg_cfg_int(m, "start", 0, 1L << 40, &c->start));
    c->end = c->start;
    GG_TRY(gg_cfg_int(m, "end", 0, 1L << 40, &c->end));
    c->every = 100;
    GG_TRY(gg_cfg_int(m, "every", 1, 1L << 40, &c->every));
    if (c->initial_sparsity > c->sparsity)
        return gg_fail(GG_E_CONFIG, "%s: prune.initial_sparsity %g is above prune.sparsity %g", gg_setup_at(gg_cfg_get(m, "initial_sparsity")),
                       (double)c->initial_sparsity, (double)c->sparsity);
    if (gg_cfg_get(m, "end") && c->end < c->start)
        return gg_fail(GG_E_CONFIG, "%s: prune.end %ld is before prune.start %ld", gg_setup_at(gg_cfg_get(m, "end")), c->end,
                       c->start);
    if (c->initial_sparsity > 0 && c->end == c->start)
        return gg_fail(GG_E_CONFIG, "%s: prune.initial_sparsity needs a gradual schedule (prune.end after prune.start)",
                       gg_setup_at(gg_cfg_get(m, "initial_sparsity")));
    s->prune_on = 1;
    return GG_OK;
}

gg_status gg_read_augment(gg_cfg_node *m, gg_settings *s)
{
    memset(&s->aug, 0, sizeof s->aug);
    if (!m) return GG_OK;
    if (gg_cfg_node_type(m) != GG_CFG_MAP)
        return gg_fail(GG_E_CONFIG, "%s: 'augment' must be a map of keys (shift, flip, noise, mixup)", gg_setup_at(m));
    gg_augment_config *c = &s->aug;
    long shift = 0;
    GG_TRY(gg_cfg_int(m, "shift", 0, 64, &shift));
    c->shift = (int)shift;
    GG_TRY(gg_cfg_bool(m, "flip", &c->flip));
    GG_TRY(get_f(m, "noise", 0, 1e3, &c->noise));
    GG_TRY(get_f(m, "mixup", 0, 1e3, &c->mixup));
    if (gg_augment_active(c) && strcmp(s->format, "text") == 0)
        return gg_fail(GG_E_CONFIG, "%s: augment does not apply to text: the inputs are byte ids, not features", gg_setup_at(m));
    return GG_OK;
}

/* Builds the pruner and the augmenter (after the model and the optimizer). */
gg_status gg_train_extras_setup(gg_trainer *t)
{
    gg_settings *s = &t->s;
    if (s->prune_on) {
        s->prune.seed = s->seed ^ 0x7072756e65ull;
        t->pr = gg_pruner_new(t->g, &s->prune);
        if (!t->pr) return gg_fail(GG_E_CONFIG, "%s: %s", gg_setup_at(gg_cfg_get(gg_cfg_root(t->cfg), "prune")), gg_errmsg());
    }
    if (gg_augment_active(&s->aug)) {
        s->aug.seed = s->seed ^ 0x6175676d656e74ull;
        /* padding takes the value a zero pixel has after normalisation */
        s->aug.pad_value = t->train.std > 0 ? -t->train.mean / t->train.std : 0;
        gg_shape xs = gg_graph_shape(t->g, t->x), sample = {xs.ndim - 1, {xs.d[1], xs.d[2], xs.d[3], 0}};
        int classes = 0;
        if (s->loss == GG_LOSS_XENT) {
            gg_shape ls = gg_graph_shape(t->g, t->logits);
            classes = ls.d[ls.ndim - 1];
        }
        t->aug = gg_augment_new(&s->aug, sample, gg_graph_max_batch(t->g), t->train.label_per, classes, s->smoothing);
        if (!t->aug) return gg_fail(GG_E_CONFIG, "%s: %s", gg_setup_at(gg_cfg_get(gg_cfg_root(t->cfg), "augment")), gg_errmsg());
    }
    if (t->loss_soft > 0) {
        /* evaluation runs every op: keep the unused soft targets finite */
        gg_shape ys = gg_graph_shape(t->g, t->ysoft);
        memset(gg_graph_data(t->g, t->ysoft), 0, sizeof(float) * gg_shape_numel(ys));
    }
    return GG_OK;
}

void gg_train_extras_free(gg_trainer *t)
{
    gg_pruner_free(t->pr);
    gg_augment_free(t->aug);
    t->pr = NULL;
    t->aug = NULL;
}

/* The soft-target input and loss that mixup trains a classifier with;
 * called by the model builder right after the loss. */
gg_status gg_train_mixup_loss(gg_trainer *t)
{
    t->ysoft = t->loss_soft = -1;
    if (!(t->s.aug.mixup > 0) || t->s.loss != GG_LOSS_XENT) return GG_OK;
    gg_shape ls = gg_graph_shape(t->g, t->logits);
    gg_shape ss = {ls.ndim - 1, {ls.d[1], ls.d[2], ls.d[3], 0}};
    t->ysoft = gg_input(t->g, "soft_targets", ss);
    t->loss_soft = gg_softmax_xent_soft(t->g, t->logits, t->ysoft);
    if (t->loss_soft < 0) return gg_fail(gg_graph_status(t->g), "augment.mixup: %s", gg_graph_errmsg(t->g));
    return GG_OK;
}

void gg_train_augment(gg_trainer *t, float *x, float *y, int n, uint64_t key)
{
    if (!t->aug) return;
    float *soft = t->loss_soft > 0 ? gg_graph_data(t->g, t->ysoft) : NULL;
    gg_augment_batch(t->aug, key, x, y, soft, n);
}

static void report_prune(gg_trainer *t, const char *what)
{
    char d[480];
    gg_pruner_describe(t->pr, d, sizeof d);
    gg_runlog_info(t, "prune", d);
    snprintf(t->msg, sizeof t->msg, "step %ld: %s to sparsity %.440s", t->pos.step, what, d);
    gg_train_emit(t, GG_EV_INFO, t->msg);
}

void gg_train_prune_before_step(gg_trainer *t)
{
    if (!t->pr) return;
    if (gg_pruner_step(t->pr, t->pos.step)) report_prune(t, "pruned");
    /* weights a rollback or restore brought back stay pruned */
    gg_pruner_apply(t->pr);
}

gg_status gg_trainer_prune(gg_trainer *t, double *sparsity)
{
    if (!t || !t->pr) return gg_fail(GG_E_STATE, "prune: the run has no prune section");
    if (gg_pruner_step(t->pr, t->pos.step)) report_prune(t, "pruned");
    if (sparsity) *sparsity = gg_pruner_sparsity(t->pr);
    return GG_OK;
}

gg_pruner *gg_trainer_pruner(gg_trainer *t) { return t ? t->pr : NULL; }

/* `"sparsity": {...}` for summary.json (empty without pruning). */
void gg_train_sparsity_json(gg_trainer *t, char *buf, size_t cap)
{
    buf[0] = 0;
    if (!t->pr || cap == 0) return;
    size_t o = (size_t)snprintf(buf, cap, ",\n  \"sparsity\": {\"total\": %.6f", gg_pruner_sparsity(t->pr));
    for (int k = 0; k < gg_pruner_count(t->pr) && o < cap; k++) {
        int pi;
        double sp;
        gg_param_info info;
        gg_pruner_tensor(t->pr, k, &pi, &sp);
        gg_graph_param(t->g, pi, &info);
        char name[GG_NAME_MAX * 2];
        gg_json_escape(name, sizeof name, info.name);
        o += (size_t)snprintf(buf + o, cap - o, ", \"%s\": %.6f", name, sp);
    }
    if (o < cap) snprintf(buf + o, cap - o, "}");
}

/*
 * prune_augment.c - the trainer's side of pruning and augmentation: reading
 * building the pruner and the augmenter at setup (their config sections are
 * read by schema.c), the hooks the training step calls, and the sparsity
 * lines of events.jsonl and summary.json.
 *
 * In a step:  prune (when the schedule says) -> batch -> augment -> forward
 *             -> backward -> mask gradients -> guard -> optimizer -> re-apply masks
 */
#include "train.h"

#include "io/json.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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

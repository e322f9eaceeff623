/*
 * setup.c - building the model graph from the config's `model` list: the
 * input from the training set's shape, the layers through the layer-kind
 * table (src/nn/model.c, which reads each entry's keys), the loss head
 * from the `loss` section, then the plan and the initial weights.
 */
#include "train.h"

#include "core/node.h" /* a bias's first value, the memory plan's size */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *loss_names[GG_LOSS_COUNT] = {"softmax_xent", "bce_logits", "mse", "huber"};
const char *gg_loss_name(gg_loss_kind k) { return k < GG_LOSS_COUNT ? loss_names[k] : "?"; }

/* The last dense layer sized by the class ids of the labels finds them not
 * all class ids: the first that is not, where it is, in any set. */
static gg_status check_classes(void *arg)
{
    const gg_trainer *t = arg;
    if (!t->train.labels) return GG_OK;
    gg_status cs = gg_dataset_check_classes(&t->train, 0);
    if (!cs && t->have_val) cs = gg_dataset_check_classes(&t->val, 0);
    if (!cs && t->have_test) cs = gg_dataset_check_classes(&t->test, 0);
    return cs;
}

/* The loss (and accuracy) on the model's output h, checked against the
 * labels: softmax cross-entropy over the last axis's classes, or a
 * regression loss on as many values as the targets. */
static gg_status loss_head(gg_trainer *t, gg_node h)
{
    const gg_settings *s = &t->s;
    gg_graph *g = t->g;
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
    gg_model_data md = {t->train.num_classes, t->train.label_per, s->loss == GG_LOSS_XENT, check_classes, t};
    GG_TRY(gg_model_layers(g, model, t->x, &md, t->layer_recs + 1, &h));
    t->nlayer_recs = 1 + n;
    t->logits = h;
    GG_TRY(loss_head(t, h));
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

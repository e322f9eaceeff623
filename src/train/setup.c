/*
 * setup.c - building the model graph from the config's `model` list (the
 * other sections are read through their key tables, schema.c). Every key
 * is read through the strict typed getters, so a wrong type or range names
 * file, line and key; gg_cfg_unused() afterwards turns any key left unread
 * into an error.
 */
#include "train.h"

#include "core/node.h" /* a bias's first value, the memory plan's size */

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

/*
 * model.c - the layer kinds of a config's `model:` list, one row each:
 * its name, default name prefix, the keys it reads and its build function.
 * Adding a kind is a function here and a row of `kinds`. Every key is read
 * through the config's strict typed getters, so a wrong type or range
 * names file, line and key; the trainer's gg_cfg_unused() afterwards turns
 * any key left unread into an error.
 */
#include "nn.h"

#include "core/error.h"
#include "core/node.h"

#include <stdio.h>
#include <string.h>

const char *gg_setup_at(const gg_cfg_node *n)
{
    static _Thread_local char buf[4][300];
    static _Thread_local int k;
    k = (k + 1) % 4;
    return gg_cfg_where(n, buf[k], sizeof buf[k]);
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

/* ---- the kinds ------------------------------------------------------------- */

static gg_status dense(const gg_layer_ctx *c, gg_node *h)
{
    const gg_model_data *d = c->data;
    int units = c->last ? (d->xent ? d->classes : d->out_per) : 0;
    GG_TRY(get_i(c->e, "units", 1, 1 << 24, &units));
    if (units < 1 && c->last && d->xent && d->check_classes) {
        /* the class count comes from the labels, and they are not all
         * class ids: name the first that is not, where it is */
        gg_status cs = d->check_classes(d->arg);
        if (cs) {
            char why[1024];
            snprintf(why, sizeof why, "%s", gg_errmsg());
            return gg_fail(cs, "%s: model[%d] (dense) has no 'units', so the class ids of the labels size it, but %s",
                           gg_setup_at(c->e), c->i, why);
        }
    }
    if (units < 1) return gg_fail(GG_E_CONFIG, "%s: model[%d] (dense) needs 'units'", gg_setup_at(c->e), c->i);
    int bias = 1;
    GG_TRY(gg_cfg_bool(c->e, "bias", &bias));
    *h = gg_dense(c->g, *h, c->name, units, c->act, c->init, bias);
    if (bias) GG_TRY(read_bias_init(c->g, c->e, c->name));
    return GG_OK;
}

static gg_status conv2d(const gg_layer_ctx *c, gg_node *h)
{
    int filters = 0, k = 3, stride = 1, pad = -1;
    GG_TRY(get_i(c->e, "filters", 1, 1 << 16, &filters));
    GG_TRY(get_i(c->e, "kernel", 1, 64, &k));
    GG_TRY(get_i(c->e, "stride", 1, 64, &stride));
    GG_TRY(get_i(c->e, "pad", 0, 64, &pad));
    if (filters < 1) return gg_fail(GG_E_CONFIG, "%s: model[%d] (conv2d) needs 'filters'", gg_setup_at(c->e), c->i);
    static const char *const algos[] = {"auto", "im2col", "winograd"};
    int algo = GG_CONV_AUTO;
    GG_TRY(gg_cfg_enum(c->e, "algo", algos, 3, &algo));
    *h = gg_conv(c->g, *h, c->name, filters, k, stride, pad, c->act, c->init);
    GG_TRY(read_bias_init(c->g, c->e, c->name));
    if (*h >= 0 && gg_conv2d_set_algo(c->g, *h, (gg_conv_algo)algo)) {
        char why[256];
        snprintf(why, sizeof why, "%s", gg_errmsg());
        return gg_fail(GG_E_CONFIG, "%s: model[%d] (conv2d) algo: %s", gg_setup_at(c->e), c->i, why);
    }
    return GG_OK;
}

static gg_status pool(const gg_layer_ctx *c, gg_node *h, int max)
{
    int k = 2, stride = 0, pad = 0;
    GG_TRY(get_i(c->e, "size", 1, 64, &k));
    GG_TRY(get_i(c->e, "stride", 1, 64, &stride));
    GG_TRY(get_i(c->e, "pad", 0, 32, &pad));
    gg_graph_scope(c->g, c->name);
    *h = max ? gg_maxpool2d(c->g, *h, k, stride ? stride : k, pad) : gg_avgpool2d(c->g, *h, k, stride ? stride : k, pad);
    return GG_OK;
}

static gg_status maxpool(const gg_layer_ctx *c, gg_node *h) { return pool(c, h, 1); }
static gg_status avgpool(const gg_layer_ctx *c, gg_node *h) { return pool(c, h, 0); }

static gg_status global_avgpool(const gg_layer_ctx *c, gg_node *h)
{
    gg_graph_scope(c->g, c->name);
    *h = gg_global_avgpool(c->g, *h);
    return GG_OK;
}

static gg_status flatten(const gg_layer_ctx *c, gg_node *h)
{
    gg_graph_scope(c->g, c->name);
    *h = gg_flatten(c->g, *h);
    return GG_OK;
}

static gg_status dropout(const gg_layer_ctx *c, gg_node *h)
{
    float p = 0.5f;
    GG_TRY(get_f(c->e, "p", 0, 0.999, &p));
    gg_graph_scope(c->g, c->name);
    *h = gg_dropout(c->g, *h, p);
    return GG_OK;
}

static gg_status batchnorm(const gg_layer_ctx *c, gg_node *h)
{
    float mom = 0.1f, eps = 1e-5f;
    GG_TRY(get_f(c->e, "momentum", 0, 1, &mom));
    GG_TRY(get_f(c->e, "eps", 1e-12, 1, &eps));
    *h = gg_batchnorm_layer(c->g, *h, c->name, mom, eps);
    return GG_OK;
}

static gg_status layernorm(const gg_layer_ctx *c, gg_node *h)
{
    float eps = 1e-5f;
    GG_TRY(get_f(c->e, "eps", 1e-12, 1, &eps));
    *h = gg_layernorm_layer(c->g, *h, c->name, eps);
    return GG_OK;
}

static gg_status activation(const gg_layer_ctx *c, gg_node *h)
{
    if (!gg_cfg_get(c->e, "act"))
        return gg_fail(GG_E_CONFIG, "%s: model[%d] (activation) needs 'act'", gg_setup_at(c->e), c->i);
    gg_graph_scope(c->g, c->name);
    *h = gg_activation(c->g, *h, c->act);
    return GG_OK;
}

static gg_status residual_block(const gg_layer_ctx *c, gg_node *h, int conv)
{
    static const char *const norms[] = {"none", "batchnorm", "layernorm"};
    int nk = 0, k = 3;
    GG_TRY(gg_cfg_enum(c->e, "norm", norms, 3, &nk));
    if (!conv) {
        *h = gg_residual_dense(c->g, *h, c->name, (gg_norm_kind)nk, c->act);
    } else {
        GG_TRY(get_i(c->e, "kernel", 1, 63, &k));
        *h = gg_residual_conv(c->g, *h, c->name, k, (gg_norm_kind)nk, c->act);
    }
    return GG_OK;
}

static gg_status residual(const gg_layer_ctx *c, gg_node *h) { return residual_block(c, h, 0); }
static gg_status residual_conv(const gg_layer_ctx *c, gg_node *h) { return residual_block(c, h, 1); }

static gg_status embedding(const gg_layer_ctx *c, gg_node *h)
{
    int vocab = c->data->classes, dim = 0;
    GG_TRY(get_i(c->e, "vocab", 1, 1 << 24, &vocab));
    GG_TRY(get_i(c->e, "dim", 1, 1 << 16, &dim));
    if (vocab < 1 || dim < 1)
        return gg_fail(GG_E_CONFIG, "%s: model[%d] (embedding) needs 'dim' (and 'vocab' unless the data gives it)",
                       gg_setup_at(c->e), c->i);
    char wn[GG_NAME_MAX + 8];
    snprintf(wn, sizeof wn, "%s.weight", c->name);
    gg_init ein = {GG_INIT_NORMAL, 0, 1};
    GG_TRY(read_init(c->e, &ein));
    gg_graph_scope(c->g, c->name);
    *h = gg_embedding(c->g, *h, gg_param(c->g, wn, gg_shape2(vocab, dim), ein));
    return GG_OK;
}

/* a learned position embedding (T, D) added to (N, T, D) */
static gg_status position(const gg_layer_ctx *c, gg_node *h)
{
    gg_shape xs = gg_graph_shape(c->g, *h);
    if (xs.ndim != 3) return gg_fail(GG_E_CONFIG, "%s: model[%d] (position) needs (N, T, D) input", gg_setup_at(c->e), c->i);
    char wn[GG_NAME_MAX + 8];
    snprintf(wn, sizeof wn, "%s.weight", c->name);
    gg_init pin = {GG_INIT_NORMAL, 0, 0.02f};
    gg_graph_scope(c->g, c->name);
    *h = gg_add(c->g, *h, gg_param(c->g, wn, gg_shape2(xs.d[1], xs.d[2]), pin));
    return GG_OK;
}

enum { CELL_RNN, CELL_LSTM, CELL_GRU };

static gg_status recurrent(const gg_layer_ctx *c, gg_node *h, int cell)
{
    int hidden = 0, last_only = 0;
    float fb = 1.0f;
    GG_TRY(get_i(c->e, "hidden", 1, 1 << 16, &hidden));
    if (hidden < 1) return gg_fail(GG_E_CONFIG, "%s: model[%d] (%s) needs 'hidden'", gg_setup_at(c->e), c->i, c->kind);
    GG_TRY(gg_cfg_bool(c->e, "last", &last_only));
    gg_init hh = {GG_INIT_LECUN_UNIFORM, 0, 0}; /* PyTorch's default */
    if (gg_cfg_get(c->e, "recurrent_init")) {
        int k = 0;
        GG_TRY(gg_cfg_enum(c->e, "recurrent_init", init_names, GG_INIT_COUNT, &k));
        hh.kind = (gg_init_kind)k;
        GG_TRY(get_f(c->e, "recurrent_gain", 0, 1e6, &hh.a));
        if (hh.kind == GG_INIT_NORMAL) hh.b = 1;
    }
    int flags = last_only ? GG_RNN_LAST : 0;
    if (cell == CELL_RNN) {
        if (c->act != GG_ACT_NONE && c->act != GG_ACT_TANH && c->act != GG_ACT_RELU)
            return gg_fail(GG_E_CONFIG, "%s: model[%d] (rnn) act must be tanh or relu", gg_setup_at(c->e), c->i);
        *h = gg_rnn_layer(c->g, *h, c->name, hidden, c->act == GG_ACT_RELU, -1, hh, flags);
    } else if (cell == CELL_LSTM) {
        GG_TRY(get_f(c->e, "forget_bias", -100, 100, &fb));
        *h = gg_lstm_layer(c->g, *h, c->name, hidden, -1, hh, fb, flags);
    } else {
        *h = gg_gru_layer(c->g, *h, c->name, hidden, -1, hh, flags);
    }
    return GG_OK;
}

static gg_status rnn(const gg_layer_ctx *c, gg_node *h) { return recurrent(c, h, CELL_RNN); }
static gg_status lstm(const gg_layer_ctx *c, gg_node *h) { return recurrent(c, h, CELL_LSTM); }
static gg_status gru(const gg_layer_ctx *c, gg_node *h) { return recurrent(c, h, CELL_GRU); }

static gg_status attention(const gg_layer_ctx *c, gg_node *h)
{
    gg_attention_opts ao = {1, 1, 0, 0};
    GG_TRY(get_i(c->e, "heads", 1, 1024, &ao.heads));
    GG_TRY(gg_cfg_bool(c->e, "causal", &ao.causal));
    GG_TRY(gg_cfg_bool(c->e, "qk_norm", &ao.qk_norm));
    GG_TRY(get_f(c->e, "logit_cap", 0, 1e6, &ao.logit_cap));
    *h = gg_attention_block_ex(c->g, *h, c->name, &ao);
    return GG_OK;
}

static gg_status mlp_block(const gg_layer_ctx *c, gg_node *h)
{
    gg_shape xs = gg_graph_shape(c->g, *h);
    int hidden = 4 * xs.d[xs.ndim - 1];
    GG_TRY(get_i(c->e, "hidden", 1, 1 << 20, &hidden));
    *h = gg_mlp_block(c->g, *h, c->name, hidden);
    return GG_OK;
}

#define RECURRENT_KEYS "hidden", "last", "recurrent_init", "recurrent_gain"

static const gg_layer_kind kinds[] = {
    {"dense", "fc", GG_LK_ACT | GG_LK_RELU | GG_LK_INIT, {"units", "bias", "bias_init"}, dense},
    {"conv2d", "conv", GG_LK_ACT | GG_LK_RELU | GG_LK_INIT, {"filters", "kernel", "stride", "pad", "algo", "bias_init"},
     conv2d},
    {"maxpool", "pool", 0, {"size", "stride", "pad"}, maxpool},
    {"avgpool", "pool", 0, {"size", "stride", "pad"}, avgpool},
    {"global_avgpool", "gap", 0, {NULL}, global_avgpool},
    {"flatten", "flatten", 0, {NULL}, flatten},
    {"dropout", "dropout", 0, {"p"}, dropout},
    {"batchnorm", "bn", 0, {"momentum", "eps"}, batchnorm},
    {"layernorm", "ln", 0, {"eps"}, layernorm},
    {"activation", "act", GG_LK_ACT, {NULL}, activation},
    {"residual", "res", GG_LK_ACT | GG_LK_RELU, {"norm"}, residual},
    {"residual_conv", "resconv", GG_LK_ACT | GG_LK_RELU, {"norm", "kernel"}, residual_conv},
    {"embedding", "embed", 0, {"vocab", "dim", "init", "init_a", "init_b", "gain", "std"}, embedding},
    {"rnn", "rnn", GG_LK_ACT, {RECURRENT_KEYS}, rnn},
    {"lstm", "lstm", 0, {RECURRENT_KEYS, "forget_bias"}, lstm},
    {"gru", "gru", 0, {RECURRENT_KEYS}, gru},
    {"attention", "attn", 0, {"heads", "causal", "qk_norm", "logit_cap"}, attention},
    {"mlp_block", "mlp", 0, {"hidden"}, mlp_block},
    {"position", "pos", 0, {NULL}, position},
};
#define NKINDS (int)(sizeof kinds / sizeof kinds[0])

const gg_layer_kind *gg_layer_kinds(int *n)
{
    if (n) *n = NKINDS;
    return kinds;
}

/* ---- the list -------------------------------------------------------------- */

/* The entry's kind and name (given, or the kind's prefix and its count so
 * far: fc1, fc2, conv1, ...). */
static gg_status kind_and_name(gg_cfg_node *e, int i, int counts[NKINDS], int *kind, char name[GG_NAME_MAX])
{
    if (gg_cfg_node_type(e) != GG_CFG_MAP)
        return gg_fail(GG_E_CONFIG, "%s: model[%d] must be a map like {type: dense, units: 128}", gg_setup_at(e), i);
    if (!gg_cfg_get(e, "type")) return gg_fail(GG_E_CONFIG, "%s: model[%d] has no 'type'", gg_setup_at(e), i);
    const char *names[NKINDS];
    for (int k = 0; k < NKINDS; k++) names[k] = kinds[k].name;
    GG_TRY(gg_cfg_enum(e, "type", names, NKINDS, kind));
    const char *nm = NULL;
    GG_TRY(gg_cfg_str(e, "name", &nm));
    counts[*kind]++;
    if (nm) {
        if (strlen(nm) >= GG_NAME_MAX - 20 || strchr(nm, '.') || strchr(nm, '/'))
            return gg_fail(GG_E_CONFIG, "%s: model[%d].name '%s' must be short and have no '.' or '/'", gg_setup_at(e), i,
                           nm);
        snprintf(name, GG_NAME_MAX, "%s", nm);
    } else {
        snprintf(name, GG_NAME_MAX, "%s%d", kinds[*kind].prefix, counts[*kind]);
    }
    return GG_OK;
}

gg_status gg_model_layers(gg_graph *g, gg_cfg_node *model, gg_node x, const gg_model_data *data, gg_layer_rec *recs,
                          gg_node *out)
{
    int counts[NKINDS] = {0};
    int n = gg_cfg_len(model);
    gg_node h = x;
    for (int i = 0; i < n; i++) {
        gg_layer_ctx c = {.g = g, .e = gg_cfg_at(model, i), .i = i, .last = i == n - 1, .data = data};
        int kind = -1;
        GG_TRY(kind_and_name(c.e, i, counts, &kind, recs[i].name));
        const gg_layer_kind *k = &kinds[kind];
        c.kind = k->name;
        c.name = recs[i].name;
        c.act = (k->flags & GG_LK_RELU) && !c.last ? GG_ACT_RELU : GG_ACT_NONE;
        /* only the kinds that have an activation or weights read those
         * keys: anywhere else they are unknown keys, and an error */
        if (k->flags & GG_LK_ACT) GG_TRY(read_act(c.e, "act", &c.act));
        c.init = gg_init_default(c.act);
        if (k->flags & GG_LK_INIT) GG_TRY(read_init(c.e, &c.init));
        GG_TRY(k->build(&c, &h));
        gg_graph_scope(g, NULL);
        if (h < 0)
            return gg_fail(gg_graph_status(g), "%s: model[%d] (%s '%s'): %s", gg_setup_at(c.e), i, k->name, c.name,
                           gg_graph_errmsg(g));
        recs[i].type = k->name;
        recs[i].out = h;
    }
    *out = h;
    return GG_OK;
}

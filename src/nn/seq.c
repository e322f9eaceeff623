/* seq.c - sequence layers: RNN, LSTM and GRU with PyTorch's parameter
 * names and layouts, and pre-norm transformer blocks (attention, MLP).
 *
 * A recurrent layer's weight_hh (G H, H) stacks G square gate blocks, and
 * the initialisers that matter for long sequences (orthogonal, identity,
 * spectral radius) are meant per block, which gg_graph_init_params cannot
 * do on the stacked matrix. So the builder gives weight_hh PyTorch's default
 * and records the request on the op node (gg_rnn_hh_kind1, gg_rnn_hh_a/b,
 * gg_rnn_forget_bias in core/ops/attr.h); gg_graph_init_recurrent carries it out after
 * gg_graph_init_params. A vanilla RNN's weight_hh is one square block and
 * gets its initialiser directly. */
#include "core/error.h"
#include "core/ops/attr.h"
#include "nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* "name.suffix" into buf; fails the build if it does not fit. */
static int pname(gg_graph *g, char *buf, const char *name, const char *suffix)
{
    return gg_nn_name(g, buf, name, suffix, "name");
}

/* x must be a sequence batch (N, T, F). */
static int seq_input_ok(gg_graph *g, gg_node x, const char *name, const char *what)
{
    if (!gg_nn_layer_ok(g, x, name, what)) return 0;
    gg_tensor *xt = gg_T(g, x);
    if (!xt->batched || xt->shape.ndim != 3) {
        char sb[64];
        gg_build_fail(g, GG_E_SHAPE, "%s layer '%s': input '%s' %s is not a sequence batch (N, T, F)", what, name,
                      xt->name, gg_shape_str(xt->shape, sb, sizeof sb));
        return 0;
    }
    return 1;
}

static int is_default_hh(gg_init in) { return in.kind == GG_INIT_LECUN_UNIFORM && in.a == 0; }

static gg_node recurrent_layer(gg_graph *g, gg_node x, const char *name, int op, int hidden, int relu,
                               gg_node lengths, gg_init hh_init, float forget_bias, int flags)
{
    static const char *const kinds[3] = {"rnn", "lstm", "gru"};
    int G = op == GG_OP_LSTM ? 4 : op == GG_OP_GRU ? 3 : 1;
    const char *what = kinds[op == GG_OP_LSTM ? 1 : op == GG_OP_GRU ? 2 : 0];
    if (!seq_input_ok(g, x, name, what)) return -1;
    if (hidden < 1) return gg_build_fail(g, GG_E_ARG, "%s layer '%s': hidden %d must be >= 1", what, name, hidden);
    if (hh_init.kind < 0 || hh_init.kind >= GG_INIT_COUNT)
        return gg_build_fail(g, GG_E_ARG, "%s layer '%s': unknown weight_hh initialiser %d", what, name,
                             (int)hh_init.kind);
    if (!isfinite(forget_bias))
        return gg_build_fail(g, GG_E_ARG, "%s layer '%s': forget bias %g is not finite", what, name, forget_bias);
    int H = hidden, GH = G * H, F = gg_last(gg_T(g, x));
    /* PyTorch's default for every recurrent parameter: U(-1/sqrt(H), 1/sqrt(H)) */
    float k = 1.0f / sqrtf((float)H);
    gg_init uni = {GG_INIT_UNIFORM, -k, k}, dflt = {GG_INIT_LECUN_UNIFORM, 0, 0};
    char n1[GG_NAME_MAX], n2[GG_NAME_MAX], n3[GG_NAME_MAX], n4[GG_NAME_MAX], n5[GG_NAME_MAX], n6[GG_NAME_MAX];
    if (!pname(g, n1, name, "weight_ih") || !pname(g, n2, name, "weight_hh") || !pname(g, n3, name, "bias_ih") ||
        !pname(g, n4, name, "bias_hh") || !pname(g, n5, name, "h0") || !pname(g, n6, name, "c0"))
        return -1;
    gg_graph_scope(g, name);
    gg_node wih = gg_param(g, n1, gg_shape2(GH, F), uni);
    gg_node whh = gg_param(g, n2, gg_shape2(GH, H), G == 1 ? hh_init : dflt);
    gg_node bih = gg_param(g, n3, gg_shape1(GH), uni);
    gg_node bhh = gg_param(g, n4, gg_shape1(GH), uni);
    gg_node h0 = -1, c0 = -1;
    if (flags & GG_RNN_CARRY) {
        h0 = gg_buffer(g, n5, gg_shape2(g->max_batch, H), 0);
        if (op == GG_OP_LSTM) c0 = gg_buffer(g, n6, gg_shape2(g->max_batch, H), 0);
    }
    gg_node y = op == GG_OP_LSTM ? gg_lstm(g, x, wih, whh, bih, bhh, h0, c0, lengths, flags)
                : op == GG_OP_GRU ? gg_gru(g, x, wih, whh, bih, bhh, h0, lengths, flags)
                                  : gg_rnn(g, x, wih, whh, bih, bhh, h0, lengths, relu, flags);
    gg_graph_scope(g, NULL);
    if (y < 0) return -1;
    /* "bias_ih" does not end in ".bias", but it is one: no weight decay */
    g->t[bih].no_decay = g->t[bhh].no_decay = 1;
    gg_tensor *t = &g->t[y];
    if (G > 1 && !is_default_hh(hh_init)) {
        gg_rnn_hh_kind1(t) = (int)hh_init.kind + 1;
        gg_rnn_hh_a(t) = hh_init.a;
        gg_rnn_hh_b(t) = hh_init.b;
    }
    gg_rnn_forget_bias(t) = op == GG_OP_LSTM ? forget_bias : 0;
    return y;
}

gg_node gg_rnn_layer(gg_graph *g, gg_node x, const char *name, int hidden, int relu, gg_node lengths, gg_init hh_init,
                     int flags)
{
    return recurrent_layer(g, x, name, GG_OP_RNN, hidden, relu, lengths, hh_init, 0, flags);
}

gg_node gg_lstm_layer(gg_graph *g, gg_node x, const char *name, int hidden, gg_node lengths, gg_init hh_init,
                      float forget_bias, int flags)
{
    return recurrent_layer(g, x, name, GG_OP_LSTM, hidden, 0, lengths, hh_init, forget_bias, flags);
}

gg_node gg_gru_layer(gg_graph *g, gg_node x, const char *name, int hidden, gg_node lengths, gg_init hh_init, int flags)
{
    return recurrent_layer(g, x, name, GG_OP_GRU, hidden, 0, lengths, hh_init, 0, flags);
}

/* ---- initialisation after gg_graph_init_params ---- */

/* Each (H, H) block of w (G H, H) from init. */
static gg_status fill_blocks(gg_tensor *w, gg_init init, uint64_t seed)
{
    int H = w->shape.d[1], G = w->shape.d[0] / H;
    gg_rng r;
    gg_rng_seed(&r, seed);
    for (int b = 0; b < G; b++) {
        gg_status s = gg_init_fill(w->val + (size_t)b * H * H, gg_shape2(H, H), init, &r);
        if (s) return gg_fail(s, "initialising gate block %d of '%s': %s", b, w->name, gg_errmsg());
    }
    return GG_OK;
}

/* Forget block [H, 2H) of the LSTM biases: total bias = value. */
static void forget_bias(gg_tensor *bih, gg_tensor *bhh, int H, float value)
{
    for (int j = H; j < 2 * H; j++) {
        if (bih) bih->val[j] = value;
        if (bhh) bhh->val[j] = 0;
    }
}

gg_status gg_graph_init_recurrent(gg_graph *g, uint64_t seed)
{
    if (!g || !g->compiled) return gg_fail(GG_E_STATE, "gg_graph_init_recurrent: the graph is not compiled");
    for (int i = 0; i < g->n; i++) {
        gg_tensor *t = &g->t[i];
        if (t->kind != GG_K_OP || (t->op != GG_OP_RNN && t->op != GG_OP_LSTM && t->op != GG_OP_GRU)) continue;
        gg_tensor *whh = &g->t[t->in[2]];
        if (gg_rnn_hh_kind1(t) > 0 && whh->kind == GG_K_PARAM) {
            gg_init in = {(gg_init_kind)(gg_rnn_hh_kind1(t) - 1), gg_rnn_hh_a(t), gg_rnn_hh_b(t)};
            /* a stream per layer, apart from gg_graph_init_params' streams */
            gg_status s = fill_blocks(whh, in, seed ^ (0x9fb21c651e98df25ull * (uint64_t)(i + 1)));
            if (s) return s;
        }
        if (t->op == GG_OP_LSTM && gg_rnn_forget_bias(t) != 0) {
            int kih = gg_rnn_role(t, GG_RNN_R_BIH), khh = gg_rnn_role(t, GG_RNN_R_BHH);
            gg_tensor *bih = kih >= 0 ? &g->t[kih] : NULL, *bhh = khh >= 0 ? &g->t[khh] : NULL;
            if (bih && bih->kind != GG_K_PARAM) bih = NULL;
            if (bhh && bhh->kind != GG_K_PARAM) bhh = NULL;
            forget_bias(bih, bhh, whh->shape.d[1], gg_rnn_forget_bias(t));
        }
    }
    return GG_OK;
}

/* The parameter layer.suffix, or NULL with a message naming it. */
static gg_tensor *layer_param(gg_graph *g, const char *fn, const char *layer, const char *suffix, int required)
{
    char nm[GG_NAME_MAX];
    if (!layer || snprintf(nm, sizeof nm, "%s.%s", layer, suffix) >= (int)sizeof nm) {
        gg_fail(GG_E_ARG, "%s: bad layer name '%s'", fn, layer ? layer : "(null)");
        return NULL;
    }
    gg_node n = gg_graph_find(g, nm);
    if (n < 0 || (g->t[n].kind != GG_K_PARAM && g->t[n].kind != GG_K_BUFFER)) {
        if (required) gg_fail(GG_E_ARG, "%s: the graph has no '%s'", fn, nm);
        return NULL;
    }
    return &g->t[n];
}

gg_status gg_init_recurrent(gg_graph *g, const char *layer, gg_init init, uint64_t seed)
{
    if (!g || !g->compiled) return gg_fail(GG_E_STATE, "gg_init_recurrent: the graph is not compiled");
    gg_tensor *w = layer_param(g, "gg_init_recurrent", layer, "weight_hh", 1);
    if (!w) return GG_E_ARG;
    char sb[64];
    if (w->shape.ndim != 2 || w->shape.d[0] % w->shape.d[1] != 0)
        return gg_fail(GG_E_SHAPE, "gg_init_recurrent: '%s' %s is not a stack of square blocks (G H, H)", w->name,
                       gg_shape_str(w->shape, sb, sizeof sb));
    return fill_blocks(w, init, seed);
}

gg_status gg_lstm_set_forget_bias(gg_graph *g, const char *layer, float value)
{
    if (!g || !g->compiled) return gg_fail(GG_E_STATE, "gg_lstm_set_forget_bias: the graph is not compiled");
    const char *fn = "gg_lstm_set_forget_bias";
    gg_tensor *w = layer_param(g, fn, layer, "weight_hh", 1);
    if (!w) return GG_E_ARG;
    char sb[64];
    if (w->shape.ndim != 2 || w->shape.d[0] != 4 * w->shape.d[1])
        return gg_fail(GG_E_SHAPE, "%s: '%s' %s is not an LSTM's (4 H, H)", fn, w->name,
                       gg_shape_str(w->shape, sb, sizeof sb));
    gg_tensor *bih = layer_param(g, fn, layer, "bias_ih", 0), *bhh = layer_param(g, fn, layer, "bias_hh", 0);
    if (!bih && !bhh) return gg_fail(GG_E_ARG, "%s: LSTM layer '%s' has no biases", fn, layer);
    forget_bias(bih, bhh, w->shape.d[1], value);
    return GG_OK;
}

gg_status gg_rnn_reset_state(gg_graph *g, const char *layer)
{
    if (!g || !g->compiled) return gg_fail(GG_E_STATE, "gg_rnn_reset_state: the graph is not compiled");
    const char *fn = "gg_rnn_reset_state";
    gg_tensor *h = layer_param(g, fn, layer, "h0", 0), *c = layer_param(g, fn, layer, "c0", 0);
    if (!h && !c)
        return gg_fail(GG_E_ARG, "%s: layer '%s' has no carried state (%s.h0)", fn, layer ? layer : "",
                       layer ? layer : "");
    if (h) memset(h->val, 0, gg_shape_numel(h->shape) * sizeof *h->val);
    if (c) memset(c->val, 0, gg_shape_numel(c->shape) * sizeof *c->val);
    return GG_OK;
}

/* ---- transformer blocks ---- */

gg_node gg_attention_block_ex(gg_graph *g, gg_node x, const char *name, const gg_attention_opts *o)
{
    if (!seq_input_ok(g, x, name, "attention block")) return -1;
    if (!o) return gg_build_fail(g, GG_E_ARG, "attention block '%s': NULL options", name);
    int D = gg_last(gg_T(g, x)), heads = o->heads, T = gg_T(g, x)->shape.d[1];
    if (heads < 1 || D % heads != 0)
        return gg_build_fail(g, GG_E_ARG, "attention block '%s': %d heads do not divide the width %d", name, heads, D);
    int dh = D / heads;
    char ln[GG_NAME_MAX], qkv[GG_NAME_MAX], out[GG_NAME_MAX], qn[GG_NAME_MAX], kn[GG_NAME_MAX];
    if (!pname(g, ln, name, "ln") || !pname(g, qkv, name, "qkv") || !pname(g, out, name, "out") ||
        !pname(g, qn, name, "q_norm") || !pname(g, kn, name, "k_norm"))
        return -1;
    gg_init xav = {GG_INIT_XAVIER_UNIFORM, 0, 0}, half = {GG_INIT_XAVIER_UNIFORM, 0.5f, 0};
    gg_node h = gg_layernorm_layer(g, x, ln, 1e-5f);
    h = gg_dense(g, h, qkv, 3 * D, GG_ACT_NONE, xav, 1);
    if (h < 0) return -1;
    /* the linear's weight and bias, for QK-clip */
    gg_node wq = gg_T(g, h)->in[1], bq = gg_T(g, h)->nin > 2 ? gg_T(g, h)->in[2] : -1;
    if (o->qk_norm) {
        /* (N, T, 3 D) as (N, T, 3 heads, dh): Q heads, K heads, V heads */
        gg_graph_scope(g, name);
        gg_node h4 = gg_reshape(g, h, gg_shape3(T, 3 * heads, dh));
        gg_node q = gg_slice(g, h4, 1, 0, heads), k = gg_slice(g, h4, 1, heads, heads);
        gg_node v = gg_slice(g, h4, 1, 2 * heads, heads);
        q = gg_layernorm_layer(g, q, qn, 1e-5f);
        k = gg_layernorm_layer(g, k, kn, 1e-5f);
        gg_graph_scope(g, name);
        h = gg_reshape(g, gg_concat(g, gg_concat(g, q, k, 1), v, 1), gg_shape2(T, 3 * D));
    }
    gg_graph_scope(g, name);
    h = gg_attention_capped(g, h, heads, o->causal, o->logit_cap);
    if (h >= 0) {
        gg_attn_w_qkv(&g->t[h]) = wq;
        gg_attn_b_qkv(&g->t[h]) = bq;
        gg_attn_qk_norm(&g->t[h]) = o->qk_norm != 0;
    }
    h = gg_dense(g, h, out, D, GG_ACT_NONE, half, 1);
    gg_graph_scope(g, name);
    gg_node y = gg_add(g, x, h);
    gg_graph_scope(g, NULL);
    return y;
}

gg_node gg_attention_block(gg_graph *g, gg_node x, const char *name, int heads, int causal)
{
    gg_attention_opts o = {heads, causal, 0, 0};
    return gg_attention_block_ex(g, x, name, &o);
}

gg_node gg_mlp_block(gg_graph *g, gg_node x, const char *name, int hidden)
{
    if (!seq_input_ok(g, x, name, "mlp block")) return -1;
    if (hidden < 1) return gg_build_fail(g, GG_E_ARG, "mlp block '%s': hidden %d must be >= 1", name, hidden);
    int D = gg_last(gg_T(g, x));
    char ln[GG_NAME_MAX], f1[GG_NAME_MAX], f2[GG_NAME_MAX];
    if (!pname(g, ln, name, "ln") || !pname(g, f1, name, "fc1") || !pname(g, f2, name, "fc2")) return -1;
    gg_init half = {GG_INIT_XAVIER_UNIFORM, 0.5f, 0};
    gg_node h = gg_layernorm_layer(g, x, ln, 1e-5f);
    h = gg_dense(g, h, f1, hidden, GG_ACT_GELU, gg_init_default(GG_ACT_GELU), 1);
    h = gg_dense(g, h, f2, D, GG_ACT_NONE, half, 1);
    gg_graph_scope(g, name);
    gg_node y = gg_add(g, x, h);
    gg_graph_scope(g, NULL);
    return y;
}

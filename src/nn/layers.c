/* layers.c - layer builders: parameters named "<layer>.<param>" in
 * PyTorch's layouts, ops named by scope so a diagnosis names the layer. */
#include "nn.h"

#include <stdio.h>
#include <string.h>

gg_init gg_init_default(gg_act act)
{
    gg_init in = {GG_INIT_XAVIER_UNIFORM, 0, 0};
    if (act == GG_ACT_RELU || act == GG_ACT_LEAKY_RELU || act == GG_ACT_ELU || act == GG_ACT_GELU)
        in.kind = GG_INIT_HE_UNIFORM;
    return in;
}

int gg_nn_name(gg_graph *g, char *buf, const char *name, const char *suffix, const char *word)
{
    int n = snprintf(buf, GG_NAME_MAX, "%s.%s", name, suffix);
    if (n < 0 || n >= GG_NAME_MAX) {
        gg_build_fail(g, GG_E_ARG, "layer '%s': %s '%s.%s' is too long", name, word, name, suffix);
        return 0;
    }
    return 1;
}

/* "name.suffix" into buf; fails the build if it does not fit. */
static int pname(gg_graph *g, char *buf, const char *name, const char *suffix)
{
    return gg_nn_name(g, buf, name, suffix, "parameter name");
}

int gg_nn_layer_ok(gg_graph *g, gg_node x, const char *name, const char *what)
{
    if (!g || g->err) return 0;
    if (!name || !*name) {
        gg_build_fail(g, GG_E_ARG, "%s layer: empty name", what);
        return 0;
    }
    if (!gg_node_ok(g, x)) {
        gg_build_fail(g, GG_E_ARG, "%s layer '%s': bad input node %d", what, name, x);
        return 0;
    }
    return 1;
}

gg_node gg_dense(gg_graph *g, gg_node x, const char *name, int units, gg_act act, gg_init init, int bias)
{
    if (!gg_nn_layer_ok(g, x, name, "dense")) return -1;
    if (units < 1) return gg_build_fail(g, GG_E_ARG, "dense layer '%s': units %d must be >= 1", name, units);
    gg_graph_scope(g, name);
    gg_tensor *xt = gg_T(g, x);
    if (xt->batched && xt->shape.ndim > 2 && xt->shape.ndim != 3) x = gg_flatten(g, x);
    /* (N, T, F) sequences keep their time axis: the layer applies per step */
    int in = gg_last(gg_T(g, x));
    char wn[GG_NAME_MAX], bn[GG_NAME_MAX];
    gg_node w = -1, b = -1;
    if (pname(g, wn, name, "weight")) w = gg_param(g, wn, gg_shape2(units, in), init);
    if (bias && pname(g, bn, name, "bias")) {
        gg_init z = {GG_INIT_ZEROS, 0, 0};
        b = gg_param(g, bn, gg_shape1(units), z);
    }
    gg_node y = gg_linear(g, x, w, b, act);
    gg_graph_scope(g, NULL);
    return y;
}

gg_node gg_conv(gg_graph *g, gg_node x, const char *name, int filters, int k, int stride, int pad, gg_act act,
                gg_init init)
{
    if (!gg_nn_layer_ok(g, x, name, "conv2d")) return -1;
    gg_tensor *xt = gg_T(g, x);
    char sb[64];
    if (!xt->batched || xt->shape.ndim != 4)
        return gg_build_fail(g, GG_E_SHAPE, "conv2d layer '%s': input '%s' is %s, not (N, C, H, W)", name, xt->name,
                             gg_shape_str(xt->shape, sb, sizeof sb));
    if (filters < 1 || k < 1 || stride < 1)
        return gg_build_fail(g, GG_E_ARG, "conv2d layer '%s': filters %d, kernel %d, stride %d must be >= 1", name,
                             filters, k, stride);
    if (pad < 0) pad = (k - 1) / 2;
    gg_graph_scope(g, name);
    char wn[GG_NAME_MAX], bn[GG_NAME_MAX];
    gg_node w = -1, b = -1;
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    if (pname(g, wn, name, "weight")) w = gg_param(g, wn, gg_shape4(filters, xt->shape.d[1], k, k), init);
    if (pname(g, bn, name, "bias")) b = gg_param(g, bn, gg_shape1(filters), z);
    gg_node y = gg_conv2d(g, x, w, b, stride, pad, 1, act);
    gg_graph_scope(g, NULL);
    return y;
}

gg_node gg_batchnorm_layer(gg_graph *g, gg_node x, const char *name, float momentum, float eps)
{
    if (!gg_nn_layer_ok(g, x, name, "batchnorm")) return -1;
    gg_tensor *xt = gg_T(g, x);
    if (!xt->batched || xt->shape.ndim < 2)
        return gg_build_fail(g, GG_E_SHAPE, "batchnorm layer '%s': input '%s' has no channel dim", name, xt->name);
    int c = xt->shape.d[1];
    gg_graph_scope(g, name);
    char n1[GG_NAME_MAX], n2[GG_NAME_MAX], n3[GG_NAME_MAX], n4[GG_NAME_MAX];
    gg_init one = {GG_INIT_CONST, 1, 0}, z = {GG_INIT_ZEROS, 0, 0};
    gg_node ga = -1, be = -1, rm = -1, rv = -1;
    if (pname(g, n1, name, "weight")) ga = gg_param(g, n1, gg_shape1(c), one);
    if (pname(g, n2, name, "bias")) be = gg_param(g, n2, gg_shape1(c), z);
    if (pname(g, n3, name, "running_mean")) rm = gg_buffer(g, n3, gg_shape1(c), 0);
    if (pname(g, n4, name, "running_var")) rv = gg_buffer(g, n4, gg_shape1(c), 1);
    gg_node y = gg_batchnorm(g, x, ga, be, rm, rv, momentum, eps);
    gg_graph_scope(g, NULL);
    return y;
}

gg_node gg_layernorm_layer(gg_graph *g, gg_node x, const char *name, float eps)
{
    if (!gg_nn_layer_ok(g, x, name, "layernorm")) return -1;
    int d = gg_last(gg_T(g, x));
    gg_graph_scope(g, name);
    char n1[GG_NAME_MAX], n2[GG_NAME_MAX];
    gg_init one = {GG_INIT_CONST, 1, 0}, z = {GG_INIT_ZEROS, 0, 0};
    gg_node ga = -1, be = -1;
    if (pname(g, n1, name, "weight")) ga = gg_param(g, n1, gg_shape1(d), one);
    if (pname(g, n2, name, "bias")) be = gg_param(g, n2, gg_shape1(d), z);
    gg_node y = gg_layernorm(g, x, ga, be, eps);
    gg_graph_scope(g, NULL);
    return y;
}

static gg_node norm_layer(gg_graph *g, gg_node x, const char *name, const char *sub, gg_norm_kind norm)
{
    if (norm == GG_NORM_NONE) return x;
    char nn[GG_NAME_MAX];
    if (!pname(g, nn, name, sub)) return -1;
    return norm == GG_NORM_BATCH ? gg_batchnorm_layer(g, x, nn, 0.1f, 1e-5f) : gg_layernorm_layer(g, x, nn, 1e-5f);
}

/* A residual block's first layer h, normalised ("<name>.norm1"), then its
 * activation (the first layer applies act itself when there is no norm). */
static gg_node norm_then_act(gg_graph *g, gg_node h, const char *name, gg_norm_kind norm, gg_act act)
{
    h = norm_layer(g, h, name, "norm1", norm);
    gg_graph_scope(g, name);
    return gg_activation(g, h, act);
}

/* A residual block's output: act(x + norm2(h)), h its second layer. */
static gg_node residual_out(gg_graph *g, gg_node x, gg_node h, const char *name, gg_norm_kind norm, gg_act act)
{
    h = norm_layer(g, h, name, "norm2", norm);
    gg_graph_scope(g, name);
    gg_node y = gg_activation(g, gg_add(g, x, h), act);
    gg_graph_scope(g, NULL);
    return y;
}

gg_node gg_residual_dense(gg_graph *g, gg_node x, const char *name, gg_norm_kind norm, gg_act act)
{
    if (!gg_nn_layer_ok(g, x, name, "residual")) return -1;
    gg_tensor *xt = gg_T(g, x);
    if (xt->batched && xt->shape.ndim != 2) x = gg_flatten(g, x);
    int d = gg_last(gg_T(g, x));
    char n1[GG_NAME_MAX], n2[GG_NAME_MAX];
    if (!pname(g, n1, name, "fc1") || !pname(g, n2, name, "fc2")) return -1;
    /* the activation moves after the norm when there is one */
    gg_node h = gg_dense(g, x, n1, d, norm == GG_NORM_NONE ? act : GG_ACT_NONE, gg_init_default(act), 1);
    if (norm != GG_NORM_NONE) h = norm_then_act(g, h, name, norm, act);
    /* the second layer starts small so the block starts near the identity */
    gg_init in2 = gg_init_default(GG_ACT_NONE);
    in2.a = 0.5f;
    h = gg_dense(g, h, n2, d, GG_ACT_NONE, in2, 1);
    return residual_out(g, x, h, name, norm, act);
}

gg_node gg_residual_conv(gg_graph *g, gg_node x, const char *name, int k, gg_norm_kind norm, gg_act act)
{
    if (!gg_nn_layer_ok(g, x, name, "residual_conv")) return -1;
    gg_tensor *xt = gg_T(g, x);
    if (!xt->batched || xt->shape.ndim != 4)
        return gg_build_fail(g, GG_E_SHAPE, "residual_conv layer '%s': input '%s' is not (N, C, H, W)", name, xt->name);
    if (k < 1 || k % 2 == 0)
        return gg_build_fail(g, GG_E_ARG, "residual_conv layer '%s': kernel %d must be odd", name, k);
    int c = xt->shape.d[1];
    char n1[GG_NAME_MAX], n2[GG_NAME_MAX];
    if (!pname(g, n1, name, "conv1") || !pname(g, n2, name, "conv2")) return -1;
    gg_node h = gg_conv(g, x, n1, c, k, 1, -1, norm == GG_NORM_NONE ? act : GG_ACT_NONE, gg_init_default(act));
    if (norm != GG_NORM_NONE) h = norm_then_act(g, h, name, norm, act);
    gg_init in2 = gg_init_default(GG_ACT_NONE);
    in2.a = 0.5f;
    h = gg_conv(g, h, n2, c, k, 1, -1, GG_ACT_NONE, in2);
    return residual_out(g, x, h, name, norm, act);
}

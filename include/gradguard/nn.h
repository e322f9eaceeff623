/*
 * gradguard/nn.h - layer builders (src/nn): dense, convolution, norms,
 * residual blocks, recurrent layers, attention and MLP blocks, built from
 * the graph's ops with PyTorch's parameter names and layouts.
 *
 * Part of the public API; include "gradguard.h" for all of it, or this file
 * alone (it includes gradguard/graph.h).
 */
#ifndef GRADGUARD_NN_H
#define GRADGUARD_NN_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== layers (src/nn) ==================================================== */
/*
 * Layer builders add ops to a graph and name their parameters
 * "<layer>.<param>" (fc1.weight (out, in), fc1.bias, bn1.weight, bn1.bias,
 * bn1.running_mean ...) with PyTorch's names and layouts, so weights move
 * between the two. Each returns the layer's output node, or -1 with the
 * graph's sticky error set (naming the layer).
 */

/* The default initialiser of a weight feeding activation act: He (Kaiming)
 * uniform for the ReLU family and GELU, Xavier uniform otherwise. */
GG_API gg_init gg_init_default(gg_act act);

/* Dense: act(x W^T + b), W (units, in). A (C, H, W) sample is flattened
 * first; a (T, F) sample is a sequence and the layer applies at every step.
 * bias 0 leaves the bias out. */
GG_API gg_node gg_dense(gg_graph *g, gg_node x, const char *name, int units, gg_act act, gg_init init, int bias);
/* Conv2d with a square kernel k, "same" padding when pad < 0. */
GG_API gg_node gg_conv(gg_graph *g, gg_node x, const char *name, int filters, int k, int stride, int pad, gg_act act,
                       gg_init init);
/* Batch norm (weight = gamma 1, bias = beta 0, running mean 0 / var 1). */
GG_API gg_node gg_batchnorm_layer(gg_graph *g, gg_node x, const char *name, float momentum, float eps);
/* Layer norm over the last dim (weight 1, bias 0). */
GG_API gg_node gg_layernorm_layer(gg_graph *g, gg_node x, const char *name, float eps);

typedef enum gg_norm_kind { GG_NORM_NONE, GG_NORM_BATCH, GG_NORM_LAYER } gg_norm_kind;
/* Residual block of two dense layers of x's width:
 *   y = act(x + norm2(W2 act(norm1(W1 x))))
 * (norm optional). Parameters name.fc1.*, name.norm1.*, name.fc2.*, ... */
GG_API gg_node gg_residual_dense(gg_graph *g, gg_node x, const char *name, gg_norm_kind norm, gg_act act);
/* The same with two k x k convolutions (same padding, x's channels). */
GG_API gg_node gg_residual_conv(gg_graph *g, gg_node x, const char *name, int k, gg_norm_kind norm, gg_act act);

/* Sequence layers (src/nn/seq.c) over x (N, T, F).
 * Recurrent layers: parameters name.weight_ih (G H, F), name.weight_hh
 * (G H, H), name.bias_ih, name.bias_hh (G H), initialised like PyTorch
 * (U(-1/sqrt(H), 1/sqrt(H))) except weight_hh, whose G square (H, H) gate
 * blocks each get hh_init: {GG_INIT_LECUN_UNIFORM, 0, 0} is PyTorch's
 * default; GG_INIT_ORTHOGONAL, GG_INIT_IDENTITY (IRNN, with relu) and
 * GG_INIT_SPECTRAL keep the recurrence near norm-preserving, which is what
 * keeps gradients through long sequences from exploding or vanishing.
 * Biases are excluded from weight decay. lengths (or -1) and flags are the
 * op's (gg_rnn); with GG_RNN_CARRY the layer owns zeroed state buffers
 * name.h0 (and name.c0) of shape (max_batch, H).
 * Per-block initialisation of an LSTM/GRU weight_hh and the LSTM forget
 * bias cannot be expressed by gg_graph_init_params alone: call
 * gg_graph_init_recurrent right after it (a no-op when there is nothing to
 * do; a vanilla RNN and the default hh_init never need it). */
GG_API gg_node gg_rnn_layer(gg_graph *g, gg_node x, const char *name, int hidden, int relu, gg_node lengths,
                            gg_init hh_init, int flags);
/* forget_bias != 0 sets the forget gate's total bias to that value
 * (bias_ih f-block = forget_bias, bias_hh f-block = 0) at
 * gg_graph_init_recurrent; 1 is the usual choice. */
GG_API gg_node gg_lstm_layer(gg_graph *g, gg_node x, const char *name, int hidden, gg_node lengths, gg_init hh_init,
                             float forget_bias, int flags);
GG_API gg_node gg_gru_layer(gg_graph *g, gg_node x, const char *name, int hidden, gg_node lengths, gg_init hh_init,
                            int flags);
/* Applies what the recurrent layer builders recorded (per-block hh_init,
 * forget bias) to every recurrent layer of the compiled graph g, from seed
 * (one stream per layer). Call after gg_graph_init_params. */
GG_API gg_status gg_graph_init_recurrent(gg_graph *g, uint64_t seed);
/* Fills each (H, H) gate block of layer.weight_hh with init, from seed.
 * GG_E_ARG naming the layer if it has no weight_hh; the graph must be
 * compiled. */
GG_API gg_status gg_init_recurrent(gg_graph *g, const char *layer, gg_init init, uint64_t seed);
/* Sets the forget gate's total bias of LSTM layer `layer` to value (bias_ih
 * f-block = value, bias_hh f-block = 0). */
GG_API gg_status gg_lstm_set_forget_bias(gg_graph *g, const char *layer, float value);
/* Zeroes the carried state (layer.h0, layer.c0) of a GG_RNN_CARRY layer:
 * call at the start of each independent stream. */
GG_API gg_status gg_rnn_reset_state(gg_graph *g, const char *layer);
/* Pre-norm transformer blocks over x (N, T, D), each a residual:
 *   attention: y = x + out(attention(qkv(layernorm(x))))
 *     name.ln.weight/bias (D), name.qkv.weight (3 D, D), name.qkv.bias,
 *     name.out.weight (D, D), name.out.bias; D % heads == 0.
 *   mlp: y = x + fc2(gelu(fc1(layernorm(x))))
 *     name.ln.*, name.fc1.weight (hidden, D), name.fc1.bias,
 *     name.fc2.weight (D, hidden), name.fc2.bias.
 * The projection into the residual (out, fc2) starts at half the Xavier
 * scale, so each block starts near the identity; biases start at 0. */
GG_API gg_node gg_attention_block(gg_graph *g, gg_node x, const char *name, int heads, int causal);
/* Options of an attention block beyond gg_attention_block's. */
typedef struct gg_attention_opts {
    int heads, causal;
    /* layer norm on each head's queries and keys before the logits
     * (Dehghani et al. 2023; Wortsman et al. 2023): qkv's output is viewed as
     * (N, T, 3 heads, dh), and the Q and K heads go through layer norms over
     * dh with their own parameters name.q_norm.weight/bias and
     * name.k_norm.weight/bias (dh each, shared by the heads; PyTorch's
     * nn.LayerNorm(dh), eps 1e-5) */
    int qk_norm;
    /* tanh soft cap on the attention logits (gg_attention_capped); 0: none */
    float logit_cap;
} gg_attention_opts;
/* The attention block with options; gg_attention_block(g, x, name, h, c) is
 * gg_attention_block_ex with {h, c, 0, 0}. */
GG_API gg_node gg_attention_block_ex(gg_graph *g, gg_node x, const char *name, const gg_attention_opts *opts);
GG_API gg_node gg_mlp_block(gg_graph *g, gg_node x, const char *name, int hidden);

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_NN_H */

/* attr.h - the attributes of op nodes by name. An op node keeps its
 * attributes in two small arrays (gg_tensor's fa[] and ia[]); which slot
 * means what is written here once, per op family, and read and written
 * everywhere else through these macros. Each expands to the slot itself,
 * so a builder assigns to it and a kernel reads it:
 *     gg_attn_heads(t) = heads;        int h = gg_attn_heads(t);
 * Nothing outside this file names a slot by its number. */
#ifndef GG_OPS_ATTR_H
#define GG_OPS_ATTR_H

#include "../node.h"

/* linear, conv2d, act: the activation applied to the output (a gg_act) and
 * its parameter (leaky ReLU's slope, ELU's alpha; 0 the default) */
#define gg_attr_act(t) ((t)->ia[0])
#define gg_attr_act_param(t) ((t)->fa[0])
static inline gg_act gg_act_of(const gg_tensor *t) { return (gg_act)gg_attr_act(t); }

/* conv2d (the activation above), its geometry and the algorithm (gg_conv_algo) */
#define gg_conv_stride(t) ((t)->ia[1])
#define gg_conv_pad(t) ((t)->ia[2])
#define gg_conv_dilation(t) ((t)->ia[3])
#define gg_conv_algo_asked(t) ((t)->ia[4])

/* maxpool2d, avgpool2d */
#define gg_pool_k(t) ((t)->ia[0])
#define gg_pool_stride(t) ((t)->ia[1])
#define gg_pool_pad(t) ((t)->ia[2])

/* scale: y = s x; sum: y = s sum(x) */
#define gg_scale_factor(t) ((t)->fa[0])

/* dropout: the drop probability */
#define gg_dropout_p(t) ((t)->fa[0])

/* softmax_xent: label smoothing and the z-loss coefficient (training mode
 * only); huber: the threshold delta */
#define gg_xent_smoothing(t) ((t)->fa[0])
#define gg_xent_z(t) ((t)->fa[1])
#define gg_huber_delta(t) ((t)->fa[0])

/* batchnorm: running-statistics momentum and eps; layernorm: eps */
#define gg_bn_momentum(t) ((t)->fa[0])
#define gg_bn_eps(t) ((t)->fa[1])
#define gg_ln_eps(t) ((t)->fa[0])

/* concat: the axis; slice: the axis, the first index and the length */
#define gg_concat_axis(t) ((t)->ia[0])
#define gg_slice_axis(t) ((t)->ia[0])
#define gg_slice_start(t) ((t)->ia[1])
#define gg_slice_len(t) ((t)->ia[2])

/* attention: heads (D % heads == 0), causal masking (0/1), the logit cap
 * (0: none); and what gg_attention_block records for QK-clip: the nodes of
 * W_qkv and b_qkv (-1: unknown) and whether queries and keys are normalised */
#define gg_attn_heads(t) ((t)->ia[0])
#define gg_attn_causal(t) ((t)->ia[1])
#define gg_attn_w_qkv(t) ((t)->ia[2])
#define gg_attn_b_qkv(t) ((t)->ia[3])
#define gg_attn_qk_norm(t) ((t)->ia[4])
#define gg_attn_logit_cap(t) ((t)->fa[0])

/* rnn, lstm, gru: relu (RNN's activation 1, tanh 0) and the GG_RNN_* flags;
 * the node of each optional input by role (-1 if none), kept here because
 * a node that did not fit into in[] is only here; and what a layer builder
 * (src/nn/seq.c) records for gg_graph_init_recurrent, which the kernels
 * ignore: weight_hh's per-block initialiser (kind + 1, 0 for none, and its
 * a, b) and the LSTM forget gate's bias. */
enum { GG_RNN_R_BIH, GG_RNN_R_BHH, GG_RNN_R_H0, GG_RNN_R_C0, GG_RNN_R_LEN, GG_RNN_R_COUNT };
#define gg_rnn_relu(t) ((t)->ia[0])
#define gg_rnn_flags(t) ((t)->ia[1])
#define gg_rnn_role(t, r) ((t)->ia[2 + (r)])
#define gg_rnn_hh_kind1(t) ((t)->ia[7])
#define gg_rnn_hh_a(t) ((t)->fa[0])
#define gg_rnn_hh_b(t) ((t)->fa[1])
#define gg_rnn_forget_bias(t) ((t)->fa[2])

#endif

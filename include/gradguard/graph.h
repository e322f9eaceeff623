/*
 * gradguard/graph.h - the static graph (src/core): building it, its ops,
 * compiling and running it (forward, backward, batch size, checks), its
 * parameter, gradient and buffer arenas, and the initialisers.
 *
 * Part of the public API; include "gradguard.h" for all of it, or this file
 * alone (it includes gradguard/core.h).
 */
#ifndef GRADGUARD_GRAPH_H
#define GRADGUARD_GRAPH_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== graph: build (src/core/graph.c) =================================== */
/*
 * A static graph: built once with the functions below, compiled once
 * (topological order, memory plan, arenas), then run many times with no
 * allocation. Builder functions return a node handle (>= 0). A builder that
 * fails returns -1 and records the error in the graph; builders given a -1
 * input return -1 too, so a model can be built without checking every call
 * and gg_graph_compile() (or gg_graph_status()) reports the first error.
 *
 * Batch: activations are built with the shape of one sample; the graph adds
 * the batch dimension (max_batch). gg_graph_set_batch() runs any batch size
 * from 1 to max_batch without re-planning.
 */

typedef struct gg_graph gg_graph;
typedef int gg_node;

/* A new, empty graph for batches of up to max_batch samples. NULL on
 * failure (gg_errmsg says why). Free with gg_graph_free. */
GG_API gg_graph *gg_graph_new(int max_batch);
GG_API void gg_graph_free(gg_graph *g);
/* The first build error (GG_OK if none); its message is gg_graph_errmsg. */
GG_API gg_status gg_graph_status(const gg_graph *g);
GG_API const char *gg_graph_errmsg(const gg_graph *g);

/* Name scope for the nodes built next: a layer builder sets it to the layer
 * name ("fc1") so that ops are named "fc1/linear" and a diagnosis can name
 * the layer. NULL or "" clears it. */
GG_API void gg_graph_scope(gg_graph *g, const char *layer);

/* Initialiser of a parameter tensor. fan_in/fan_out are taken from the
 * shape: (out, in) for dense weights, (out, in, kh, kw) for convolutions. */
typedef enum gg_init_kind {
    GG_INIT_ZEROS,
    GG_INIT_CONST,          /* a */
    GG_INIT_UNIFORM,        /* U(a, b) */
    GG_INIT_NORMAL,         /* N(a, b^2): mean a, std b */
    GG_INIT_XAVIER_UNIFORM, /* U(-r, r), r = a * sqrt(6 / (fan_in + fan_out)); a = gain (0 means 1) */
    GG_INIT_XAVIER_NORMAL,  /* N(0, a^2 * 2 / (fan_in + fan_out)) */
    GG_INIT_HE_UNIFORM,     /* U(-r, r), r = a sqrt(6 / fan); fan = fan_in, or fan_out if b != 0; a = gain (0 means 1) */
    GG_INIT_HE_NORMAL,      /* N(0, a^2 2 / fan), fan and gain as above */
    GG_INIT_ORTHOGONAL,     /* an orthogonal matrix (rows x cols), times gain a (0 means 1) */
    GG_INIT_LECUN_UNIFORM,  /* U(-r, r), r = a / sqrt(fan_in) (a = 0 means 1): PyTorch's default for Linear */
    GG_INIT_IDENTITY,       /* a times the identity (square matrices) */
    GG_INIT_SPECTRAL,       /* N(0,1) rescaled to spectral radius a (square matrices) */
    GG_INIT_COUNT
} gg_init_kind;

typedef struct gg_init {
    gg_init_kind kind;
    float a, b;
} gg_init;

/* A trainable parameter named `name` (unique in the graph), a view into the
 * graph's parameter arena. Initialised by gg_graph_init_params. */
GG_API gg_node gg_param(gg_graph *g, const char *name, gg_shape shape, gg_init init);
/* A non-trainable state tensor (batch-norm running statistics), kept in the
 * buffer arena and saved with checkpoints; every element starts at value. */
GG_API gg_node gg_buffer(gg_graph *g, const char *name, gg_shape shape, float value);
/* A data input with the shape of one sample. Filled before each forward
 * through gg_graph_data(). Inputs carry no gradient unless
 * gg_graph_requires_grad() says so. */
GG_API gg_node gg_input(gg_graph *g, const char *name, gg_shape sample_shape);
/* Ask for the gradient of an input (used by gradient checks). */
GG_API gg_status gg_graph_requires_grad(gg_graph *g, gg_node input);

/* ==== ops (src/core/ops/) ================================================ */
/* Each op adds one node. Shapes are checked here, at build time; the error
 * names the op and both shapes. "x" is an activation (batched). */

typedef enum gg_act {
    GG_ACT_NONE,
    GG_ACT_RELU,
    GG_ACT_LEAKY_RELU, /* slope 0.01 */
    GG_ACT_ELU,        /* alpha 1 */
    GG_ACT_GELU,       /* exact, x * Phi(x), as PyTorch's default */
    GG_ACT_TANH,
    GG_ACT_SIGMOID,
    GG_ACT_COUNT
} gg_act;
/* "relu", "tanh", ...; NULL for an unknown value. */
GG_API const char *gg_act_name(gg_act a);
/* Parses a name; returns GG_ACT_COUNT if unknown. */
GG_API gg_act gg_act_parse(const char *name);

/* y = act(x W^T + b) over the last dim of x: x (..., in), W (out, in),
 * b (out) or -1 for none. Bias and activation are fused with the GEMM. */
GG_API gg_node gg_linear(gg_graph *g, gg_node x, gg_node w, gg_node b, gg_act act);
/* Matrix product over the last two dims: a (..., M, K) x b (..., K, N).
 * b may be an unbatched (K, N) parameter, or batched like a. */
GG_API gg_node gg_matmul(gg_graph *g, gg_node a, gg_node b);
/* Element-wise a + b and a * b. b has a's shape, or is unbatched with the
 * shape of a's trailing dims (broadcast over the leading ones). */
GG_API gg_node gg_add(gg_graph *g, gg_node a, gg_node b);
GG_API gg_node gg_mul(gg_graph *g, gg_node a, gg_node b);
/* s * x. */
GG_API gg_node gg_scale(gg_graph *g, gg_node x, float s);
/* Concatenation of a and b along `axis` of the sample shape (0 = first dim
 * after the batch); the other dims must agree. */
GG_API gg_node gg_concat(gg_graph *g, gg_node a, gg_node b, int axis);
/* x[..., start:start+len, ...] along `axis` of the sample shape. */
GG_API gg_node gg_slice(gg_graph *g, gg_node x, int axis, int start, int len);
/* The same data with another sample shape (same element count); a view. */
GG_API gg_node gg_reshape(gg_graph *g, gg_node x, gg_shape sample_shape);
/* (N, ...) -> (N, prod(...)); a view. */
GG_API gg_node gg_flatten(gg_graph *g, gg_node x);
/* Activations. */
GG_API gg_node gg_activation(gg_graph *g, gg_node x, gg_act act);
GG_API gg_node gg_relu(gg_graph *g, gg_node x);
GG_API gg_node gg_leaky_relu(gg_graph *g, gg_node x, float slope);
GG_API gg_node gg_elu(gg_graph *g, gg_node x, float alpha);
GG_API gg_node gg_gelu(gg_graph *g, gg_node x);
GG_API gg_node gg_tanh(gg_graph *g, gg_node x);
GG_API gg_node gg_sigmoid(gg_graph *g, gg_node x);
/* Softmax and log-softmax over the last dim. */
GG_API gg_node gg_softmax(gg_graph *g, gg_node x);
GG_API gg_node gg_log_softmax(gg_graph *g, gg_node x);
/* 2-D convolution: x (N, Cin, H, W), w (Cout, Cin, kh, kw), b (Cout) or -1.
 * Output (N, Cout, Ho, Wo), Ho = (H + 2 pad - dil (kh - 1) - 1) / stride + 1. */
GG_API gg_node gg_conv2d(gg_graph *g, gg_node x, gg_node w, gg_node b, int stride, int pad, int dilation, gg_act act);
/* How a conv2d node computes. GG_CONV_AUTO (the default) takes Winograd's
 * algorithm (F(4x4, 5x5), F(4x4, 3x3): 6.25x and 4x fewer multiplications,
 * results within ~1e-5 of direct convolution, relative to the output's
 * scale) for stride-1,
 * dilation-1 square kernels of 2..7 with at least GG_CONV_WINO_MIN input and
 * output channels, and im2col + one GEMM otherwise. GG_CONV_WINOGRAD on a
 * conv that cannot take it is an error. Set before gg_graph_compile. */
typedef enum gg_conv_algo { GG_CONV_AUTO = 0, GG_CONV_IM2COL = 1, GG_CONV_WINOGRAD = 2 } gg_conv_algo;
#define GG_CONV_WINO_MIN 16
GG_API gg_status gg_conv2d_set_algo(gg_graph *g, gg_node conv, gg_conv_algo algo);
/* Max and average pooling over k x k windows; global average pooling to
 * (N, C). Average pooling divides by k*k (padding counts). pad <= k/2 (as
 * PyTorch), so a window always holds a real pixel: padding never wins a max. */
GG_API gg_node gg_maxpool2d(gg_graph *g, gg_node x, int k, int stride, int pad);
GG_API gg_node gg_avgpool2d(gg_graph *g, gg_node x, int k, int stride, int pad);
GG_API gg_node gg_global_avgpool(gg_graph *g, gg_node x);
/* Batch normalisation over all dims but the channel (dim 1 of (N, C, ...),
 * or features of (N, F)). gamma, beta: (C) params; mean, var: (C) buffers,
 * updated in training mode with `momentum` (PyTorch convention: new =
 * (1 - momentum) old + momentum batch; unbiased batch variance), used in
 * evaluation mode. Training with one value per channel (batch 1 of an
 * (N, F) input) fails at run time, as in PyTorch. */
GG_API gg_node gg_batchnorm(gg_graph *g, gg_node x, gg_node gamma, gg_node beta, gg_node mean, gg_node var,
                            float momentum, float eps);
/* Layer normalisation over the last dim; gamma, beta of that size. */
GG_API gg_node gg_layernorm(gg_graph *g, gg_node x, gg_node gamma, gg_node beta, float eps);
/* Inverted dropout with drop probability p in [0, 1) (training mode only;
 * the identity in evaluation mode). The mask is a pure function of the
 * graph seed, the node and gg_graph_set_rng_step(). */
GG_API gg_node gg_dropout(gg_graph *g, gg_node x, float p);
/* Rows of table (V, D) picked by idx (N, ...) holding integer ids stored as
 * floats: output (N, ..., D). An id that is not an integer in [0, V) is an
 * error at run time (the message names its row). */
GG_API gg_node gg_embedding(gg_graph *g, gg_node idx, gg_node table);
/* Sum of all elements of x (over the batch too) times s: a scalar. */
GG_API gg_node gg_sum(gg_graph *g, gg_node x, float s);

/* Losses: scalars, the mean over the batch (and time, for sequences). */
/* Softmax cross-entropy of logits (N, C) or (N, T, C) against class ids
 * (N) or (N, T) stored as floats; label smoothing eps in [0, 1). An id
 * outside [0, C) is an error at run time (gg_graph_forward fails). */
GG_API gg_node gg_softmax_xent(gg_graph *g, gg_node logits, gg_node labels, float smoothing);
/* gg_softmax_xent plus a z-loss (PaLM; Wortsman et al. 2023): in training
 * mode the loss gains z_coef times the mean over rows of (log Z)^2, log Z =
 * logsumexp of the row's logits, which pulls log Z toward 0 and keeps the
 * output logits from drifting; its gradient adds 2 z_coef log Z softmax(x)
 * / rows. Evaluation mode reports the cross-entropy alone, so validation
 * losses compare across runs with and without it. z_coef in [0, 1e3)
 * (GG_E_ARG otherwise); 0 is gg_softmax_xent. */
GG_API gg_node gg_softmax_xent_z(gg_graph *g, gg_node logits, gg_node labels, float smoothing, float z_coef);
/* Sets the z-loss coefficient of softmax_xent op `loss` at any time, before
 * or after compiling (the workspace does not depend on it): a monitor can
 * switch the z-loss on in the middle of a run. It applies from the next
 * forward. GG_E_ARG if loss is not a softmax_xent op or z_coef is outside
 * [0, 1e3). */
GG_API gg_status gg_graph_set_z_loss(gg_graph *g, gg_node loss, float z_coef);
/* The z-loss coefficient of softmax_xent op `loss`, -1 if it is not one. */
GG_API float gg_graph_z_loss(const gg_graph *g, gg_node loss);
/* Softmax cross-entropy against soft targets of the logits' shape (rows of
 * probabilities, e.g. mixup's mixed one-hot rows): mean over rows of
 * -sum_c t_c log softmax(x)_c; gradient (softmax(x) sum_c t_c - t) / rows. */
GG_API gg_node gg_softmax_xent_soft(gg_graph *g, gg_node logits, gg_node targets);
/* Binary cross-entropy with logits; targets in [0, 1], x's shape. */
GG_API gg_node gg_bce_logits(gg_graph *g, gg_node logits, gg_node targets);
/* Mean squared error, mean over all elements. */
GG_API gg_node gg_mse(gg_graph *g, gg_node pred, gg_node target);
/* Huber loss with threshold delta, mean over all elements. */
GG_API gg_node gg_huber(gg_graph *g, gg_node pred, gg_node target, float delta);
/* Fraction of rows whose arg-max equals the label (no gradient). */
GG_API gg_node gg_accuracy(gg_graph *g, gg_node logits, gg_node labels);

/* Sequence ops (src/core/ops/rnn.c, attention.c). Fused over the whole
 * sequence: x (N, T, F); H hidden units; G gate blocks (RNN 1, LSTM 4 in
 * PyTorch's order i, f, g, o, GRU 3 in the order r, z, n). Parameters have
 * PyTorch's layout, so weights interchange with torch.nn.RNN/LSTM/GRU:
 * w_ih (G*H, F), w_hh (G*H, H), b_ih (G*H) and b_hh (G*H), either bias -1
 * for none. The GRU is PyTorch's: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
 * h' = (1 - z) n + z h.
 * Output: every hidden state (N, T, H), or with GG_RNN_LAST only the final
 * one (N, H) (for a many-to-one model).
 * h0 (and c0 for the LSTM), or -1 for zeros: the initial state, either a
 * buffer (max_batch, H) (row n is sample n's state) or a batched node of
 * sample shape (H), which receives a gradient if it carries one.
 * GG_RNN_CARRY: each forward writes the final state back into the h0 (and
 * c0) buffers, so the next forward continues the stream (truncated BPTT: no
 * gradient flows through the carried state); both must be buffers. It
 * carries in either mode: reset (gg_rnn_reset_state) or save the buffers
 * around an evaluation on another stream.
 * lengths, or -1: a data input of sample shape (1) holding each sample's
 * length as a float, an integer in 0..T (a bad value fails the forward with
 * GG_E_ARG naming the sample). From step lengths[n] on, sample n's state is
 * held and its output is 0, so the final state is the one after its last
 * real step; backward follows the same rule.
 * Op nodes take at most 6 inputs: x, the weights, the biases, then h0, c0
 * and lengths as long as they fit. One that does not fit is read directly
 * and must then be a leaf (buffer, input or parameter), not an op output:
 * the builder fails otherwise.
 * Cost: one GEMM (N T, F) x (F, G H) for the input projection, one (N, H) x
 * (H, G H) per step, and in backward one per step plus single GEMMs over all
 * steps for the weight gradients; gates and states are kept in the op's
 * planned workspace ((2 G + 3) N T H floats; GRU (3 G + 2) N T H). */
typedef enum gg_rnn_flag {
    GG_RNN_LAST = 1, /* output only the final hidden state (N, H) */
    GG_RNN_CARRY = 2 /* write the final state back into the h0/c0 buffers */
} gg_rnn_flag;
/* Vanilla RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh, or ReLU
 * when relu != 0. */
GG_API gg_node gg_rnn(gg_graph *g, gg_node x, gg_node w_ih, gg_node w_hh, gg_node b_ih, gg_node b_hh, gg_node h0,
                      gg_node lengths, int relu, int flags);
GG_API gg_node gg_lstm(gg_graph *g, gg_node x, gg_node w_ih, gg_node w_hh, gg_node b_ih, gg_node b_hh, gg_node h0,
                       gg_node c0, gg_node lengths, int flags);
GG_API gg_node gg_gru(gg_graph *g, gg_node x, gg_node w_ih, gg_node w_hh, gg_node b_ih, gg_node b_hh, gg_node h0,
                      gg_node lengths, int flags);
/* Multi-head scaled-dot-product self-attention. qkv (N, T, 3 D) holds the
 * queries, keys and values side by side on the last dim (the output of one
 * linear layer, as PyTorch's in_proj); each of the `heads` heads takes
 * D / heads consecutive columns of each. Output (N, T, D), before the output
 * projection: softmax(Q K^T / sqrt(D / heads)) V per head, with position t
 * seeing only positions <= t when causal != 0. The probabilities are kept
 * in the workspace (N heads T T floats) for backward. */
GG_API gg_node gg_attention(gg_graph *g, gg_node qkv, int heads, int causal);
/* gg_attention with a tanh soft cap on the logits: the softmax sees
 * cap tanh(s / cap) for each scaled logit s = q.k / sqrt(D / heads), so no
 * logit exceeds cap in size (Gemma 2's attention softcapping); cap 0 is
 * gg_attention. The capped op keeps tanh(s / cap) for backward (another
 * N heads T T floats of workspace). GG_E_ARG (a build error) for a cap
 * that is negative or not finite. */
GG_API gg_node gg_attention_capped(gg_graph *g, gg_node qkv, int heads, int causal, float logit_cap);

/* ==== graph: run (src/core/graph.c) ===================================== */

typedef enum gg_mode { GG_TRAIN = 0, GG_EVAL = 1 } gg_mode;

/* Sorts the graph, plans every buffer and allocates the arenas. After this
 * no node may be added and no run call allocates. Fails with the first
 * build error, or GG_E_NOMEM if the plan does not fit. */
GG_API gg_status gg_graph_compile(gg_graph *g);
/* Initialises every parameter with its initialiser and every buffer with
 * its value, from seed (the same seed gives the same weights). */
GG_API gg_status gg_graph_init_params(gg_graph *g, uint64_t seed);
/* Seed of dropout masks and other run-time randomness. */
GG_API void gg_graph_set_seed(gg_graph *g, uint64_t seed);
/* The step counter the run-time randomness is keyed on. */
GG_API void gg_graph_set_rng_step(gg_graph *g, uint64_t step);
/* The batch size of the next runs, 1..max_batch. */
GG_API gg_status gg_graph_set_batch(gg_graph *g, int n);
GG_API int gg_graph_batch(const gg_graph *g);
GG_API int gg_graph_max_batch(const gg_graph *g);
/* The value buffer of a node (max_batch samples for activations), owned by
 * the graph. Write inputs here before a forward. NULL before compile. */
GG_API float *gg_graph_data(gg_graph *g, gg_node n);
/* The gradient buffer of a node, or NULL if it has none. */
GG_API float *gg_graph_grad(gg_graph *g, gg_node n);
/* Shape of a node (with the batch dim at max_batch for activations). */
GG_API gg_shape gg_graph_shape(const gg_graph *g, gg_node n);
GG_API const char *gg_graph_node_name(const gg_graph *g, gg_node n);
/* The op name of a node ("linear", "param", ...). */
GG_API const char *gg_graph_node_op(const gg_graph *g, gg_node n);
GG_API int gg_graph_num_nodes(const gg_graph *g);
/* The k-th input of node n, or -1 (k out of range, or a leaf). */
GG_API gg_node gg_graph_node_input(const gg_graph *g, gg_node n, int k);
/* The layer a node belongs to ("fc2"), "" if none. */
GG_API const char *gg_graph_node_layer(const gg_graph *g, gg_node n);
/* Looks a node up by name; -1 if absent. */
GG_API gg_node gg_graph_find(const gg_graph *g, const char *name);
/* Runs every op that `out` depends on (or all ops if out < 0). Fails only
 * on bad run-time data (a class id out of range) or, in check mode, on the
 * first non-finite value. */
GG_API gg_status gg_graph_forward(gg_graph *g, gg_mode mode, gg_node out);
/* The scalar value of a one-element node after a forward. */
GG_API float gg_graph_scalar(const gg_graph *g, gg_node n);
/* Zeroes the gradient arena (one memset). */
GG_API void gg_graph_zero_grad(gg_graph *g);
/* Reverse-mode differentiation of scalar `loss` (times `scale`) after a
 * training forward. Parameter gradients are ADDED to the gradient arena,
 * so k backward calls accumulate k micro-batches. */
GG_API gg_status gg_graph_backward(gg_graph *g, gg_node loss, float scale);

/* Check mode (the guard's diagnosis): every op's output is tested for
 * NaN/Inf after it runs, in forward and backward; the first one found stops
 * the pass with GG_E_NONFINITE and is reported by gg_graph_check_result. */
typedef struct gg_check_info {
    int found;                   /* 1 if a non-finite value was found */
    int backward;                /* 0: forward pass, 1: backward pass */
    gg_node node;                /* the op whose output went non-finite */
    char op[GG_NAME_MAX];        /* its op name ("linear") */
    char name[GG_NAME_MAX];      /* its node name ("fc2/linear") */
    char layer[GG_NAME_MAX];     /* its layer ("fc2"), "" if none */
    char input[GG_NAME_MAX];     /* for an input/parameter found bad: its name */
    long index;                  /* flat index of the first bad element */
    float value;                 /* the bad value */
} gg_check_info;
GG_API void gg_graph_set_check(gg_graph *g, int on);
GG_API const gg_check_info *gg_graph_check_result(const gg_graph *g);
/* Fault injection for tests and the guard's own checks: after node n runs
 * in the given pass (0 forward, 1 backward), element 0 of its output (or its
 * input gradient, in backward) is overwritten with value. n = -1 clears. */
GG_API void gg_graph_inject(gg_graph *g, gg_node n, int backward, float value);

/* Attention and output statistics, measured by the forward pass from what it
 * computes anyway (no extra pass over the T x T logits): what a monitor
 * reads to see a transformer's attention logits grow and its output
 * logits drift (Wortsman et al. 2023). Values are those of the last forward
 * (training or evaluation) at the batch it ran. */
typedef struct gg_attention_stats {
    /* max |s| over the batch's samples and visible (query, key) pairs of
     * the head, s = q.k / sqrt(D / heads) as the softmax uses it, before a
     * logit cap (with a cap the softmax sees cap tanh(s / cap)) */
    float max_logit;
    /* mean over samples and query positions of the attention row's entropy
     * -sum_j p_j log p_j, in nats; 0 means one-hot attention */
    float entropy;
    /* the same mean for uniform attention (log T; causal: the mean of
     * log(i + 1) over positions i): the ceiling to compare entropy with */
    float entropy_uniform;
} gg_attention_stats;
/* Heads of attention op n (0 if n is not an attention op). */
GG_API int gg_graph_attention_heads(const gg_graph *g, gg_node n);
/* The parameter node holding attention op n's W_q, W_k and W_v (its block's
 * qkv.weight), -1 when n is not an attention op or was not built by
 * gg_attention_block. */
GG_API gg_node gg_graph_attention_qkv(const gg_graph *g, gg_node n);
/* The statistics of head `head` of attention op n. GG_E_ARG if n is not an
 * attention op or head is outside 0..heads-1; GG_E_STATE before the graph is
 * compiled or before the op's first forward. *out is zeroed on failure. */
GG_API gg_status gg_graph_attention_stats(const gg_graph *g, gg_node n, int head, gg_attention_stats *out);
/* QK-clip (Kimi K2's MuonClip, applied by hand): when head `head` of
 * attention op n had a max logit m > tau in the last forward, its query
 * rows and key rows of the block's qkv.weight (rows h dh .. h dh + dh - 1
 * and D + h dh ..) and the same entries of qkv.bias are multiplied by
 * f = sqrt(tau / m) each, so the head's logits shrink by f^2 = tau / m and
 * its max on the same batch becomes tau (the recorded max is set to tau);
 * other heads and V are untouched. Nothing happens when m <= tau. *factor
 * (may be NULL) gets f, or 1 when nothing was done. Optimizer moments are
 * not touched. GG_E_ARG for a node that is not attention, a head out of
 * range or tau not finite and > 0; GG_E_STATE before a forward, for an op
 * not built by gg_attention_block (its W_q and W_k are not known), for one
 * with qk_norm (the norm undoes any rescaling) or a non-finite max. */
GG_API gg_status gg_attention_qk_clip(gg_graph *g, gg_node n, int head, float tau, float *factor);
/* Output statistics of softmax_xent op `loss`: log Z = logsumexp of each
 * row of the logits, its mean and max over the rows (samples, and time for
 * sequences) of the last forward. GG_E_ARG if loss is not a softmax_xent
 * op, GG_E_STATE before its first forward. */
GG_API gg_status gg_graph_output_logz(const gg_graph *g, gg_node loss, double *mean, double *max);

/* ==== parameters ========================================================= */

typedef struct gg_param_info {
    const char *name;   /* "fc1.weight", owned by the graph */
    const char *layer;  /* "fc1" */
    gg_node node;
    gg_shape shape;
    size_t offset;      /* in floats, into the parameter and gradient arenas */
    size_t numel;
    int no_decay;       /* 1 for biases and normalisation parameters */
} gg_param_info;

GG_API int gg_graph_num_params(const gg_graph *g);
/* Info on parameter i (0 .. num_params-1, in build order). */
GG_API gg_status gg_graph_param(const gg_graph *g, int i, gg_param_info *info);
/* The parameter, gradient and buffer arenas: one contiguous float buffer
 * each, owned by the graph; *n gets the element count. */
GG_API float *gg_graph_params(gg_graph *g, size_t *n);
GG_API float *gg_graph_grads(gg_graph *g, size_t *n);
GG_API int gg_graph_num_buffers(const gg_graph *g);
GG_API gg_status gg_graph_buffer(const gg_graph *g, int i, gg_param_info *info);
GG_API float *gg_graph_buffers(gg_graph *g, size_t *n);

/* ==== initialisers (src/core/init.c) ===================================== */
/* Fills x (numel of shape) by init, drawing from r. */
GG_API gg_status gg_init_fill(float *x, gg_shape shape, gg_init init, gg_rng *r);

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_GRAPH_H */

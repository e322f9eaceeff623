/*
 * gradguard.h - the public API of libgradguard.
 *
 * gradguard trains neural networks whose training does not blow up. This one
 * header is the library's documentation: every function says what it does,
 * who owns what it returns and how it fails.
 *
 * Conventions
 *  - Functions that can fail return gg_status; GG_OK (0) is success. On
 *    failure gg_errmsg() returns a message for the calling thread that names
 *    what was wrong and where (file, line, key, tensor, both shapes).
 *  - Objects come in gg_X_new / gg_X_free pairs; gg_X_free(NULL) is a no-op.
 *  - The library never prints, aborts or exits on bad input.
 *  - Tensors are float32, row-major, at most 4-D. Activations carry a batch
 *    dimension first: (N, features), (N, time, features) or (N, C, H, W).
 *
 * Sections: errors, shapes, graph (build), ops, graph (run), parameters,
 * initialisers, layers, optimizers, schedules, data, checkpoints, guard,
 * trainer. Each section names the source folder that implements it.
 */
#ifndef GRADGUARD_H
#define GRADGUARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GG_VERSION_MAJOR 0
#define GG_VERSION_MINOR 1
#define GG_VERSION_PATCH 0
#define GG_VERSION_STRING "0.1.0"

/* GG_API marks the functions of the public API. The library is compiled with
 * -fvisibility=hidden, so libgradguard.so exports exactly the functions
 * declared with GG_API here (tests/public_symbols.sh checks it) and nothing
 * of the internals under src/. Every function added to this header needs it. */
#if defined(__GNUC__) || defined(__clang__)
#define GG_API __attribute__((visibility("default")))
#else
#define GG_API
#endif

/* ==== errors (src/core/error.c) ======================================== */

typedef enum gg_status {
    GG_OK = 0,
    GG_E_ARG,       /* a bad argument: NULL, out of range, wrong node */
    GG_E_SHAPE,     /* shapes that do not fit together */
    GG_E_NOMEM,     /* an allocation failed or a size is over a limit */
    GG_E_IO,        /* a file could not be opened, read or written */
    GG_E_FORMAT,    /* a file's contents are malformed */
    GG_E_CONFIG,    /* a configuration key or value is wrong */
    GG_E_STATE,     /* a call made in the wrong state (e.g. before compile) */
    GG_E_NONFINITE, /* a NaN or Inf where a finite number is required */
    GG_E_INTERNAL   /* a bug in gradguard */
} gg_status;

/* The message of the last failure on the calling thread ("" if none). The
 * string is owned by the library and valid until the next failing call. */
GG_API const char *gg_errmsg(void);
/* A short constant name for a status ("ok", "shape", ...). */
GG_API const char *gg_status_name(gg_status s);

/* The OpenBLAS kernel family in use ("Haswell", "SkylakeX", ...), as
 * OpenBLAS chose it for this CPU or as OPENBLAS_CORETYPE named it. Results
 * differ in the last bits between families. A constant string. */
GG_API const char *gg_blas_kernel(void);

/* ==== shapes ============================================================ */

#define GG_MAX_DIMS 4
#define GG_NAME_MAX 64

typedef struct gg_shape {
    int ndim;
    int d[GG_MAX_DIMS];
} gg_shape;

GG_API gg_shape gg_shape1(int a);
GG_API gg_shape gg_shape2(int a, int b);
GG_API gg_shape gg_shape3(int a, int b, int c);
GG_API gg_shape gg_shape4(int a, int b, int c, int d);
/* Number of elements of a shape (product of its dims). */
GG_API size_t gg_shape_numel(gg_shape s);
/* Writes "(a, b, c)" into buf; returns buf. */
GG_API char *gg_shape_str(gg_shape s, char *buf, size_t cap);

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

/* ==== random numbers (src/core/rng.c) ===================================== */
/* xoshiro256** seeded through splitmix64: one generator per purpose. */
typedef struct gg_rng { uint64_t s[4]; } gg_rng;
GG_API void gg_rng_seed(gg_rng *r, uint64_t seed);
GG_API uint64_t gg_rng_next(gg_rng *r);
/* Uniform in [0, 1). */
GG_API double gg_rng_uniform(gg_rng *r);
/* Standard normal. */
GG_API double gg_rng_normal(gg_rng *r);
/* Uniform integer in [0, n). */
GG_API uint64_t gg_rng_below(gg_rng *r, uint64_t n);
/* A stateless hash of (key, counter) to a uniform float in [0, 1). */
GG_API float gg_hash_uniform(uint64_t key, uint64_t counter);

/* ==== initialisers (src/core/init.c) ===================================== */
/* Fills x (numel of shape) by init, drawing from r. */
GG_API gg_status gg_init_fill(float *x, gg_shape shape, gg_init init, gg_rng *r);

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

/* ==== optimizers, schedules, regularisation (src/optim) ================== */
/*
 * An optimizer updates the graph's parameter arena from its gradient arena
 * in one pass; its own state (momenta, moments) is one contiguous arena, so
 * a snapshot or checkpoint is one copy. Hyper-parameters follow PyTorch's
 * definitions, so the same settings give the same steps.
 */

typedef enum gg_optim_kind {
    GG_OPT_SGD,     /* momentum, dampening, nesterov; weight_decay adds wd*p to g */
    GG_OPT_ADAM,    /* weight_decay adds wd*p to g (L2, coupled) */
    GG_OPT_ADAMW,   /* decoupled: p -= lr*wd*p before the Adam step */
    GG_OPT_RMSPROP, /* alpha, eps, momentum, centered */
    GG_OPT_ADAGRAD, /* lr_decay, eps, initial_accumulator */
    GG_OPT_LBFGS,   /* as an optimizer: one PyTorch LBFGS iteration per step (see gg_optim_step);
                     * gg_lbfgs_minimize for a deterministic objective with a line search */
    GG_OPT_STABLEADAMW, /* AdamW with the rate divided per tensor by max(1, RMS(g^2 / max(v^, eps^2))),
                         * v^ the bias-corrected second moment (Wortsman et al. 2023) */
    GG_OPT_COUNT
} gg_optim_kind;

typedef struct gg_optim_config {
    gg_optim_kind kind;
    float lr;
    float momentum, dampening;
    int nesterov;
    float beta1, beta2, eps;
    float alpha;        /* RMSprop smoothing constant */
    int centered;       /* RMSprop */
    float lr_decay;     /* Adagrad */
    float initial_accumulator; /* Adagrad */
    float weight_decay; /* meaning per kind, as above */
    int lbfgs_history;  /* L-BFGS memory m, 1..1000 (0 means 10) */
} gg_optim_config;

/* PyTorch's defaults for kind: lr 1e-3 Adam(W) and StableAdamW, 1e-2 RMSprop and Adagrad,
 * 1 L-BFGS; betas 0.9/0.999, eps 1e-8 (Adagrad 1e-10), alpha 0.99, AdamW
 * and StableAdamW weight_decay 1e-2, everything else 0. Two exceptions: SGD's lr is 1e-2
 * (PyTorch: 1e-3) and L-BFGS's history 10 (PyTorch: 100). Every field gets a
 * sane value whatever the kind, so a config can switch kinds. */
GG_API gg_optim_config gg_optim_defaults(gg_optim_kind kind);
/* The kind's name in configs: its enum name after GG_OPT_ in lower case
 * (GG_OPT_ADAMW: "adamw"); NULL if unknown. */
GG_API const char *gg_optim_name(gg_optim_kind kind);
/* GG_OPT_COUNT if unknown. */
GG_API gg_optim_kind gg_optim_parse(const char *name);

typedef struct gg_optim gg_optim;

/* An optimizer over every parameter of the compiled graph g (which must
 * outlive it). NULL on failure: GG_E_STATE if g is not compiled, GG_E_ARG for
 * a bad hyper-parameter, the message naming the field and its value ("optimizer
 * adam: beta2 = 1 is outside [0, 1)"). Checked, for the kinds that use them:
 * lr >= 0, weight_decay >= 0, momentum in [0, 1), dampening in [0, 1],
 * nesterov only with momentum > 0 and dampening 0, betas and alpha in [0, 1),
 * eps > 0, lr_decay >= 0, initial_accumulator >= 0; L-BFGS refuses
 * weight_decay (use an L2 penalty), as PyTorch's LBFGS has none. */
GG_API gg_optim *gg_optim_new(gg_graph *g, const gg_optim_config *cfg);
GG_API void gg_optim_free(gg_optim *o);
/* A parameter group: parameters whose name matches the glob `pattern`
 * (fnmatch: "fc1.*", "*.bias") get lr * lr_scale and this weight_decay, L1
 * and L2. Later groups win. By default biases and normalisation parameters
 * (gg_param_info.no_decay) get no weight decay, L1 or L2; a group that
 * names them explicitly overrides that. "Explicitly" means the pattern's last
 * dot-separated part has no wildcard: "*.bias" and "bn1.weight" give their
 * matches the group's decay and penalties, "fc1.*" and "*" only its lr_scale.
 * GG_E_ARG if a coefficient is negative or not finite, or the pattern
 * matches no parameter (a typo is an error, not a silent no-op). L-BFGS
 * takes one step over all parameters: its groups need lr_scale 1 and
 * weight_decay 0 (L1/L2 are fine). Groups and gg_optim_set_penalty may come
 * in any order; settings are resolved again after each call. */
GG_API gg_status gg_optim_add_group(gg_optim *o, const char *pattern, float lr_scale, float weight_decay, float l1,
                                    float l2);
/* Default L1 and L2 penalty coefficients for all decayed parameters. */
GG_API gg_status gg_optim_set_penalty(gg_optim *o, float l1, float l2);
/* Adds the L1/L2 penalties' gradient (l1 sign(p) + l2 p, sign(0) = 0) to the
 * gradient arena and returns the penalty (sum l1|p| + l2/2 p^2, accumulated
 * in double), to be added to the reported loss. 0 when no penalty is set.
 * Call it once per step, after backward and before the guard. */
GG_API double gg_optim_penalty(gg_optim *o);
/* One update with learning rate lr (the schedule's; each tensor uses lr *
 * its group's lr_scale), from the gradient arena, with PyTorch's formulas.
 * One pass per tensor, no allocation; big tensors are split over OpenMP
 * threads. Also measures, per parameter tensor, the L2 norm of the change
 * actually applied to it (gg_optim_update_norms), in the same pass, in
 * double. GG_E_ARG if lr is negative or not finite. The gradient is not
 * checked for NaN/Inf here: that is the guard's job, before the step.
 * L-BFGS: one iteration of PyTorch's LBFGS with max_iter 1 and no line
 * search (tolerance_grad 1e-7, tolerance_change 1e-9): the curvature pair
 * (s, y) comes from this step's gradient and the previous step's, the
 * direction from the two-loop recursion, the step is lr times it (the first
 * one scaled by min(1, 1/|g|_1)); its history lives in the state arena.
 * Deterministic problems that can re-evaluate the objective should use
 * gg_lbfgs_minimize, which has a strong-Wolfe line search. */
GG_API gg_status gg_optim_step(gg_optim *o, float lr);
/* Update norm of each parameter tensor in the last step (num_params
 * entries, owned by the optimizer). */
GG_API const double *gg_optim_update_norms(const gg_optim *o);
/* every_step 1 (the default): gg_optim_step measures the update norms at
 * every step. 0: Adam, AdamW and StableAdamW measure them only at a step announced by
 * gg_optim_want_update_norms before it (the guard announces the steps its
 * monitor and layers.csv read them), and skip the double-precision pass at
 * the others (about a quarter of the update's time); gg_optim_update_norms
 * then keeps the values last measured. Other optimizers always measure. */
GG_API void gg_optim_set_update_norms(gg_optim *o, int every_step);
GG_API void gg_optim_want_update_norms(gg_optim *o);
/* The first parameter tensor whose update in the last step was not finite
 * (NaN or Inf), -1 if none: known at every step, measured or not. */
GG_API int gg_optim_bad_update(const gg_optim *o);
/* The state arena (moments), *n elements, owned by the optimizer; NULL with
 * *n = 0 for plain SGD. One block per parameter tensor, in parameter order,
 * of k vectors of the tensor's size: SGD [momentum buffer]; Adam(W), StableAdamW
 * [exp_avg][exp_avg_sq]; RMSprop [square_avg][grad_avg if centered]
 * [momentum buffer if momentum > 0]; Adagrad [sum]; L-BFGS [d][previous
 * grad][s_0..s_m-1][y_0..y_m-1]. Then a tail: one step count per tensor
 * (PyTorch's per-parameter state['step'], as a float, saturating at 2^24),
 * or for L-BFGS rho[m] and five scalars. Copying the whole arena (snapshot,
 * checkpoint) therefore carries everything the next step depends on. */
GG_API float *gg_optim_state(gg_optim *o, size_t *n);
/* Where tensor i's block starts in the state arena and its length (both in
 * floats; the tail is not included). GG_E_ARG if i is out of range. */
GG_API gg_status gg_optim_state_view(const gg_optim *o, int i, size_t *offset, size_t *n);
/* Steps taken (calls of gg_optim_step); settable for resume. The bias
 * corrections of Adam(W), StableAdamW and Adagrad's lr decay use each tensor's own count
 * in the state arena, which equals this unless the tensor was reset, and
 * which travels with the arena: set_steps does not change them. */
GG_API uint64_t gg_optim_steps(const gg_optim *o);
GG_API void gg_optim_set_steps(gg_optim *o, uint64_t t);
/* Returns the state of parameter tensor i (or all, i = -1) to its initial
 * value (zeros; Adagrad's sum to initial_accumulator) and its step count to
 * 0, so its next step is a first step (SGD's buffer = g, Adam's bias
 * correction from t = 1): the guard uses it to forget moments poisoned by a
 * bad step. L-BFGS's history couples all tensors, so any reset clears all of
 * it (the next step is a steepest-descent one). GG_E_ARG if i is outside
 * -1..num_params-1. */
GG_API gg_status gg_optim_reset(gg_optim *o, int i);
GG_API const gg_optim_config *gg_optim_get_config(const gg_optim *o);

/* Pruning (src/optim/prune.c): masks that zero weights and keep them zero.
 * The masks are one float arena parallel to the parameter arena (1 keeps an
 * element, 0 prunes it), allocated with the pruner, never in a step. Which
 * elements go is decided by a score: |w| (magnitude, L1 of each weight), the
 * L2 norm of each row (structured: a dense layer's output unit, a
 * convolution's filter, a recurrent gate row) divided by sqrt(row length) so
 * rows of different widths compare, or a seeded uniform draw (random).
 * Elements already pruned always score lowest, so masks only grow: a weight
 * once pruned stays pruned. Scope layer: every prunable tensor is pruned to
 * the target on its own; scope global: one ranking over all of them (the
 * target is then the fraction of all prunable elements). By default only
 * weights of two or more dims are prunable: biases and normalisation
 * parameters (gg_param_info.no_decay) are not. Structured pruning never
 * touches 1-D tensors' rows (each element is its own row) and, with
 * keep_last, leaves the model's last prunable tensor whole (its rows are the
 * outputs: the classes).
 * Gradual pruning follows Zhu & Gupta (2017): at steps start, start + every,
 * ... up to end the target is
 *   s(t) = s1 + (s0 - s1) (1 - (t - start) / (end - start))^3,
 * s1 after end; end <= start prunes once, to s1, at step start.
 * The trainer calls gg_pruner_step before each step, gg_pruner_mask_grads
 * after backward and gg_pruner_apply after each optimizer step, so masked
 * weights stay exactly 0 through any optimizer's momentum. */
typedef enum gg_prune_method { GG_PRUNE_MAGNITUDE, GG_PRUNE_RANDOM, GG_PRUNE_COUNT } gg_prune_method;

typedef struct gg_prune_config {
    gg_prune_method method;
    int global;             /* 1: one ranking over all prunable tensors; 0: per tensor */
    int structured;         /* prune whole rows by their (normalised) L2 norm */
    int keep_last;          /* never prune the last prunable tensor */
    int include_biases;     /* also prune biases and normalisation parameters */
    float initial_sparsity; /* s0, in [0, 1) */
    float sparsity;         /* s1, the final target, in [0, 1) */
    long start, end, every; /* steps; every >= 1 */
    uint64_t seed;          /* random pruning */
} gg_prune_config;

/* Defaults: magnitude, global, unstructured, s0 0, s1 0, one-shot at step 0,
 * every 1, keep_last 0, biases excluded. */
GG_API gg_prune_config gg_prune_defaults(void);
/* "magnitude", "random"; NULL / GG_PRUNE_COUNT if unknown. */
GG_API const char *gg_prune_method_name(gg_prune_method m);
GG_API gg_prune_method gg_prune_method_parse(const char *name);
/* The schedule's target at step: 0 before start, s(t) in the ramp, s1
 * after end. */
GG_API double gg_prune_target(const gg_prune_config *c, long step);
/* 1 if the schedule prunes at step: start, start + k every, and end. */
GG_API int gg_prune_due(const gg_prune_config *c, long step);

typedef struct gg_pruner gg_pruner;
/* A pruner over the compiled graph g (which must outlive it); every mask
 * starts at 1. NULL on failure: GG_E_STATE if g is not compiled, GG_E_ARG
 * naming the field for a sparsity outside [0, 1), s0 > s1, every < 1,
 * start < 0, an unknown method, or a graph with nothing to prune. */
GG_API gg_pruner *gg_pruner_new(gg_graph *g, const gg_prune_config *cfg);
GG_API void gg_pruner_free(gg_pruner *p);
/* Prunes to `sparsity` now (scores from the current weights), zeroes the
 * pruned weights, and returns the sparsity reached. Deterministic: ties
 * go to the lower index; random scores come from (seed, step). */
GG_API double gg_pruner_prune(gg_pruner *p, double sparsity, long step);
/* Prunes to the schedule's target if gg_prune_due(step) and the target is
 * above the sparsity reached so far; returns 1 if it pruned. */
GG_API int gg_pruner_step(gg_pruner *p, long step);
/* params *= mask (after every optimizer step, and after anything that
 * overwrites the weights: a rollback, a restore, a load). */
GG_API void gg_pruner_apply(gg_pruner *p);
/* grads *= mask (after backward, before the guard and the optimizer). */
GG_API void gg_pruner_mask_grads(gg_pruner *p);
/* The mask arena (the parameter arena's size), owned by the pruner; writable
 * so a checkpoint can restore it (then call gg_pruner_sync). */
GG_API float *gg_pruner_masks(gg_pruner *p, size_t *n);
/* Recounts the sparsity after the masks were written from outside. */
GG_API void gg_pruner_sync(gg_pruner *p);
/* Pruned fraction of all prunable elements. */
GG_API double gg_pruner_sparsity(const gg_pruner *p);
/* Parameter tensors the pruner may prune, and for the k-th of them
 * (0 .. count-1) its parameter index (gg_graph_param) and pruned fraction. */
GG_API int gg_pruner_count(const gg_pruner *p);
GG_API gg_status gg_pruner_tensor(const gg_pruner *p, int k, int *param_index, double *sparsity);
/* One line "0.800 of 235008 weights: fc1.weight 0.812, fc2.weight 0.701, ..."
 * into buf (always terminated). */
GG_API void gg_pruner_describe(const gg_pruner *p, char *buf, size_t cap);

/* Learning-rate schedules: a pure function of the step, except
 * reduce-on-plateau, which also watches a metric given once per epoch.
 * The formulas are PyTorch's (StepLR, MultiStepLR, ExponentialLR,
 * CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR, ReduceLROnPlateau)
 * in closed form. Below, k is the step after the warm-up (step - warmup_steps)
 * and T = total_steps - warmup_steps: total_steps counts the warm-up.
 * Warm-up (PyTorch's LinearLR then SequentialLR): for step < warmup_steps
 * the rate is sched(0) * (warmup_start + (1 - warmup_start) step / warmup_steps). */
typedef enum gg_sched_kind {
    GG_SCHED_CONSTANT,
    GG_SCHED_STEP,        /* lr * gamma^floor(k / step_size) */
    GG_SCHED_MULTISTEP,   /* lr * gamma^(number of milestones <= k) */
    GG_SCHED_EXPONENTIAL, /* lr * gamma^k */
    GG_SCHED_COSINE,      /* min_lr + (lr - min_lr)(1 + cos(pi t / T))/2, t = min(k, T): min_lr after T.
                           * restarts (t0 > 0): periods t0, t0 t_mult, t0 t_mult^2 ..., t counted from
                           * the start of the current period, total_steps unused */
    GG_SCHED_ONECYCLE,    /* max_lr = lr; from lr/div_factor up to lr over pct_start T - 1 steps, then down
                           * to lr/(div_factor final_div_factor) at step T - 1 (cosine both ways), held
                           * there after. Only the rate: momentum is not cycled */
    GG_SCHED_PLATEAU,     /* lr * factor when the metric has not improved for more than `patience` epochs */
    GG_SCHED_COUNT
} gg_sched_kind;

#define GG_SCHED_MAX_MILESTONES 32

typedef struct gg_schedule_config {
    gg_sched_kind kind;
    float lr;                 /* base (peak, for one-cycle) learning rate */
    long step_size;           /* STEP, in steps */
    float gamma;              /* STEP, MULTISTEP, EXPONENTIAL */
    long milestones[GG_SCHED_MAX_MILESTONES];
    int n_milestones;
    long total_steps;         /* COSINE (T without restarts), ONECYCLE */
    long t0;                  /* COSINE with restarts: first period (0: no restarts) */
    float t_mult;             /* COSINE restarts: period growth (>= 1) */
    float min_lr;             /* COSINE; PLATEAU floor */
    float pct_start, div_factor, final_div_factor; /* ONECYCLE */
    float factor;             /* PLATEAU */
    int patience, cooldown;   /* PLATEAU, in epochs */
    float threshold;          /* PLATEAU: relative improvement that counts */
    int mode_max;             /* PLATEAU: 1 if the metric should grow (accuracy) */
    long warmup_steps;        /* linear warm-up in front of any schedule */
    float warmup_start;       /* warm-up starts at lr * warmup_start */
} gg_schedule_config;

typedef struct gg_schedule {
    gg_schedule_config c;
    double plateau_scale; /* PLATEAU state (gg_schedule_save / gg_schedule_restore) */
    double best;
    int bad_epochs, cooldown_left, seen;
} gg_schedule;

/* The part of a schedule that is not a function of the step (the plateau
 * schedule's state, gg_schedule_observe), by name: saved with the guard's
 * snapshots (gg_train_pos) and in checkpoints, so a rollback or a resume
 * restores it. */
typedef struct gg_schedule_state {
    double plateau_scale; /* the rate's factor so far (1 at the start) */
    double best;          /* the best metric observed */
    int bad_epochs, cooldown_left, seen;
} gg_schedule_state;

/* Defaults: gamma 0.1, factor 0.1, patience 10, threshold 1e-4,
 * pct_start 0.3, div_factor 25, final_div_factor 1e4, t_mult 1, everything
 * else 0 (step_size, milestones and total_steps must then be set for the
 * kinds that need them). */
GG_API gg_schedule_config gg_schedule_defaults(gg_sched_kind kind, float lr);
/* "constant", "step", "multistep", "exponential", "cosine", "onecycle",
 * "plateau"; NULL / GG_SCHED_COUNT if unknown. */
GG_API const char *gg_sched_name(gg_sched_kind k);
GG_API gg_sched_kind gg_sched_parse(const char *name);
/* Checks the config and sets up state (plateau_scale 1, best +-inf). GG_E_ARG
 * with the schedule, the field and its value on: lr < 0; warmup_steps < 0;
 * warmup_start outside [0, 1]; STEP step_size <= 0; MULTISTEP no milestones,
 * one <= 0 or not increasing; gamma <= 0; COSINE total_steps <= warmup_steps
 * (without restarts), t0 < 0, t_mult < 1, min_lr outside [0, lr]; ONECYCLE
 * total_steps <= warmup_steps, pct_start outside (0, 1) or pct_start T <= 1,
 * div factors <= 0; PLATEAU factor outside (0, 1), patience, cooldown,
 * threshold or min_lr < 0. */
GG_API gg_status gg_schedule_init(gg_schedule *s, const gg_schedule_config *c);
/* The learning rate at step (0-based; negative counts as 0), warm-up included. */
GG_API float gg_schedule_lr(const gg_schedule *s, long step);
/* Reduce-on-plateau (PyTorch's ReduceLROnPlateau, 'rel' threshold mode): the
 * epoch's validation metric. It improves when below best (1 - threshold)
 * (above best (1 + threshold) with mode_max); a NaN never does. After more
 * than `patience` epochs without improvement the rate becomes max(rate
 * factor, min_lr) and `cooldown` epochs follow in which bad epochs are not
 * counted. Returns 1 if the rate was reduced (a change under 1e-8 is not
 * made). A no-op returning 0 for the other kinds. `seen` counts the calls. */
GG_API int gg_schedule_observe(gg_schedule *s, double metric);
/* The schedule's state now, and back: after gg_schedule_restore(s, &st)
 * with st = gg_schedule_save(s), s gives the same rates and observes
 * alike. Never fail (s and st must not be NULL). */
GG_API gg_schedule_state gg_schedule_save(const gg_schedule *s);
GG_API void gg_schedule_restore(gg_schedule *s, const gg_schedule_state *st);

/* L-BFGS (Nocedal & Wright, alg. 7.4/7.5) with a strong-Wolfe line search
 * (alg. 3.5/3.6: bracketing, then zoom with safeguarded cubic interpolation),
 * on any differentiable objective: f returns the value at x and writes the
 * gradient into grad. Doubles throughout. H0 = (s'y / y'y) I from the newest
 * pair; the first step (and any after the history was dropped) is tried at
 * length min(1, |g|). Pairs with s'y <= 0 are not kept. If the line search finds no
 * decrease along the quasi-Newton direction the history is dropped and the
 * iteration retried along -g. */
typedef double (*gg_objective)(const double *x, double *grad, int n, void *ctx);

typedef struct gg_lbfgs_config {
    int m;          /* history size (default 10) */
    int max_iter;   /* iterations (default 100) */
    int max_evals;  /* objective evaluations (default 2500; 0 means 25 * max_iter) */
    double gtol;    /* stop when max |g_i| <= gtol (default 1e-6) */
    double ftol;    /* stop when |f_prev - f| <= ftol max(|f_prev|, |f|, 1) (default 0: off) */
    double c1, c2;  /* Wolfe constants (default 1e-4, 0.9) */
} gg_lbfgs_config;

typedef struct gg_lbfgs_result {
    int iters, evals;   /* accepted iterations, objective evaluations */
    double f, gmax;     /* at the returned x */
    int converged;      /* 1 if gtol or ftol was met */
    char reason[64];    /* why it stopped, one line */
} gg_lbfgs_result;

GG_API gg_lbfgs_config gg_lbfgs_defaults(void);
/* Minimises f from x (n values, overwritten with the minimiser). cfg NULL
 * means the defaults. Returns GG_OK also when it stopped without converging
 * (max_iter, max_evals, no decrease): res says which. Fails with GG_E_ARG on
 * bad arguments (n < 1, m outside 1..1000, not 0 < c1 < c2 < 1 ...) and with
 * GG_E_NONFINITE on a non-finite f or gradient element at any evaluation (the
 * message gives the evaluation, the iteration, the element); x then holds
 * the last accepted iterate. Allocates its work space (2 m n + 4 n doubles)
 * per call. res may be NULL. */
GG_API gg_status gg_lbfgs_minimize(double *x, int n, gg_objective f, void *ctx, const gg_lbfgs_config *cfg,
                                   gg_lbfgs_result *res);

/* ==== data (src/data) ==================================================== */
/*
 * A data set in memory: n samples of `per` features, stored as uint8 (raw
 * image bytes, converted per batch) or float32, and one label row per
 * sample. Loaders check headers against the file's real size before
 * allocating, refuse NaN/Inf features, and name the file and the place
 * (byte offset, line and column) of anything wrong.
 */

typedef struct gg_dataset {
    size_t n;            /* samples */
    int ndim;            /* sample shape, e.g. (28, 28) for IDX images or (784) */
    int shape[3];
    size_t per;          /* features per sample */
    uint8_t *u8;         /* n * per, or NULL */
    float *f32;          /* n * per, or NULL */
    float scale;         /* feature = (raw * scale - mean) / std */
    float mean, std;
    float *labels;       /* n * label_per: class ids or regression targets */
    int label_per;       /* values per label row (1 for classes) */
    int num_classes;     /* 1 + the largest label if all are integers >= 0, else 0 (regression targets) */
    char source[256];    /* file name for messages */
    char label_source[256]; /* the file that holds the labels (the CSV file itself), "" if none */
    size_t *origin;      /* where sample i's label is in label_source: a 1-based line (CSV) or a 0-based index;
                            NULL: index i (a set as loaded from an IDX or npy file). Owned; split keeps it */
    int origin_is_line;  /* origin holds file lines */
} gg_dataset;

/* Every loader overwrites *ds (it need not be initialised), sets mean 0,
 * std 1, and num_classes as above; on failure *ds is left empty (zeroed,
 * nothing to free). Every file may be plain or gzip (told by its magic).
 * Bad data is GG_E_FORMAT (GG_E_NONFINITE for NaN/Inf, GG_E_IO when a file
 * cannot be read, GG_E_NOMEM over the 16 GiB per-array limit). */
/* IDX files (MNIST, Fashion-MNIST): images 0x00000803 (n, rows, cols) uint8
 * and labels 0x00000801 (n) uint8 (labels may be NULL). The sample shape is
 * (rows, cols), kept as uint8 with scale 1/255. Wrong magic, truncation,
 * trailing bytes and an image/label count mismatch are errors. */
GG_API gg_status gg_dataset_load_idx(gg_dataset *ds, const char *images, const char *labels);
/* CSV with optional header; label_col is a column name (needs a header) or
 * a 0-based index as text ("0", "-1" for the last); NULL for no labels.
 * Every other column is a float feature (sample shape (per)). Quoted fields
 * (one line each) and blank lines are accepted; an empty or non-numeric
 * cell, NaN/Inf, a value outside float32 and a row with another number of
 * fields are errors naming the line and 1-based column. */
GG_API gg_status gg_dataset_load_csv(gg_dataset *ds, const char *path, const char *label_col, int has_header);
/* NumPy .npy (format 1.0-3.0): features (n, ...) with 1 to 3 dims per
 * sample, descr <f4, <f8, |u1, <i8 or <i4, C order (fortran_order True is
 * refused); uint8 stays uint8 with scale 1/255, the rest become float32
 * (non-finite or out-of-range values are refused). labels (n) or (n, k) of
 * any of those types (label_per = k), or NULL for none. */
GG_API gg_status gg_dataset_load_npy(gg_dataset *ds, const char *features, const char *labels);
/* GG_OK if every label is an integer class id in [0, num_classes) (any id
 * >= 0 if num_classes <= 0), one per sample; otherwise GG_E_FORMAT naming
 * the file that holds the label and its place there (the label's index in
 * an IDX or npy labels file, its line in a CSV file; after a split the
 * place in the file, not in the part) and the value (negative,
 * non-integer, out of range). Call it before a classification loss: a
 * negative or fractional label only makes num_classes 0 at load time,
 * since it may be a target. */
GG_API gg_status gg_dataset_check_classes(const gg_dataset *ds, int num_classes);
/* Frees the arrays and zeroes *ds; NULL is a no-op. */
GG_API void gg_dataset_free(gg_dataset *ds);
/* Splits src into train and val (round(val_fraction * n) samples, chosen
 * by a shuffle seeded with seed); both are new copies keeping src's order,
 * normalisation and num_classes; src is left as it was. val_fraction must
 * be in [0, 1]. On failure neither output needs freeing. */
GG_API gg_status gg_dataset_split(const gg_dataset *src, double val_fraction, uint64_t seed, gg_dataset *train,
                                  gg_dataset *val);
/* Sets mean and std from the data (over all features, after scale;
 * population std, 1 if the data are constant). */
GG_API void gg_dataset_standardize(gg_dataset *ds);
/* Writes samples idx[0..n) (each < ds->n, unchecked) into x (n * per
 * floats, (raw * scale - mean) / std) and their labels into y (n *
 * label_per floats; y may be NULL). One pass, no allocation: it runs
 * inside the training step. */
GG_API void gg_dataset_batch(const gg_dataset *ds, const size_t *idx, int n, float *x, float *y);
/* Fisher-Yates shuffle of perm[0..n) (filled with 0..n-1 first if fill). */
GG_API void gg_shuffle(size_t *perm, size_t n, int fill, gg_rng *r);

/* -- augmentation (src/data/augment.c) --
 * Random transforms of a training batch, applied in place after it is
 * gathered (gg_dataset_batch) and before the forward; evaluation batches
 * are never augmented. Each batch's draws are a pure function of (seed,
 * key), the key being the trainer's micro-batch counter, so every epoch sees
 * new draws and a resumed or rolled-back run replays the same ones. Per
 * sample, in this order: a random shift of up to `shift` pixels in each
 * direction (a random crop of the image padded by `shift` pixels of
 * pad_value on every side), a left-right flip with probability 1/2, and
 * Gaussian noise of std `noise` on every feature. Then, over the batch,
 * mixup (Zhang et al. 2018): one lambda ~ Beta(mixup, mixup) per batch and a
 * random pairing perm of the batch, x_i <- lambda x_i + (1 - lambda)
 * x_perm(i), and the same mix of the targets: regression targets are mixed
 * in place; class ids become soft targets (the mixed one-hot rows, with
 * label smoothing) for gg_softmax_xent_soft. */
typedef struct gg_augment_config {
    int shift;       /* images: pixels, 0 off */
    int flip;        /* images: mirror left-right */
    float noise;     /* std of additive Gaussian noise, 0 off */
    float mixup;     /* Beta(alpha, alpha) alpha, 0 off */
    float pad_value; /* the value of padding pixels (a zero pixel after normalisation) */
    uint64_t seed;
} gg_augment_config;

typedef struct gg_augment gg_augment;
/* An augmenter for batches of up to max_batch samples of shape `sample`
 * (shift and flip need an image, (C, H, W)); label_per label values per
 * sample; classes > 0 when the labels are class ids (mixup then writes soft
 * targets of label_per x classes values per sample, smoothed by
 * `smoothing`), 0 for regression targets. Allocates its scratch here: the
 * batch step never allocates. NULL on failure (GG_E_ARG naming the field:
 * shift/flip on a sample that is not (C, H, W), shift >= H or W, a negative
 * or non-finite noise or mixup). */
GG_API gg_augment *gg_augment_new(const gg_augment_config *cfg, gg_shape sample, int max_batch, int label_per,
                                  int classes, float smoothing);
GG_API void gg_augment_free(gg_augment *a);
/* 1 if the config changes anything (all zero: a no-op). */
GG_API int gg_augment_active(const gg_augment_config *cfg);
/* Augments x (n samples) and, with mixup, the targets y (n * label_per)
 * in place or into soft (n * label_per * classes; may be NULL without
 * mixup or for regression). n <= max_batch. No allocation. */
GG_API void gg_augment_batch(gg_augment *a, uint64_t key, float *x, float *y, float *soft, int n);
/* A Beta(alpha, alpha) draw (Marsaglia & Tsang gamma draws), for tests. */
GG_API double gg_rng_beta(gg_rng *r, double alpha);

/* -- sequence data (src/data/synthetic.c, src/data/text.c) --
 * Samples for sequence models have the sample shape (T, F): the graph sees
 * (N, T, F). Synthetic sets are deterministic by seed (sample i depends only
 * on the seed and i, not on n or the thread count); like the loaders they
 * overwrite *ds and leave it empty on failure, and fail with GG_E_ARG for a
 * bad argument (naming it and the allowed range), GG_E_NOMEM over the 16 GiB
 * per-array limit. */

/* Variants of the adding problem. */
#define GG_ADDING_UNIFORM 0  /* A: Le, Jaitly & Hinton 2015; Arjovsky et al. 2016 */
#define GG_ADDING_ORIGINAL 1 /* B: Hochreiter & Schmidhuber 1997, experiment 4 */
/* The adding problem: n samples of (T, 2) float features, column 0 a value
 * and column 1 a marker; one label, a regression target (num_classes 0).
 * A (GG_ADDING_UNIFORM, T >= 2): values U(0, 1); markers 1 at one step
 * uniform in [0, T/2) and one uniform in [T/2, T), 0 elsewhere; target the
 * sum of the two marked values (mean 1, variance 1/6: predicting 1 scores
 * MSE 0.167). B (GG_ADDING_ORIGINAL, T >= 20): values U(-1, 1); the first
 * marker on one of steps 0..9, the second on one of the other steps in
 * [0, T/2); the markers of steps 0 and T-1 are -1 unless marked; a marked
 * step 0 has its value set to 0; target 0.5 + (x1 + x2) / 4, in [0, 1].
 * The paper draws lengths in [T, T + T/10]; here every sequence has length T. */
GG_API gg_status gg_dataset_adding(gg_dataset *ds, size_t n, int T, int variant, uint64_t seed);

/* Symbol ids (one-hot columns) of the temporal order problem. */
#define GG_TEMPORAL_VOCAB 8 /* a, b, c, d (distractors 0..3), X 4, Y 5, E 6 (start), B 7 (end, the trigger) */
#define GG_TEMPORAL_X 4
#define GG_TEMPORAL_Y 5
#define GG_TEMPORAL_E 6
#define GG_TEMPORAL_B 7
#define GG_TEMPORAL_MIN_T 10
/* The temporal order problem (Hochreiter & Schmidhuber 1997, experiment 6a;
 * used by Pascanu, Mikolov & Bengio 2013): n samples of (T, 8) one-hot
 * rows, T >= GG_TEMPORAL_MIN_T. Step 0 is E, step T-1 is B, one step
 * uniform in [T/10, 2T/10] and one uniform in [T/2, 6T/10] (integer
 * division, inclusive: the paper's 10..20 and 50..60 at T = 100) each hold
 * X or Y (equally likely), every other step a uniform distractor a..d. One
 * label, the class of the order: XX 0, XY 1, YX 2, YY 3 (num_classes 4).
 * As for the adding problem, the length is T rather than drawn from
 * [100, 110]. */
GG_API gg_status gg_dataset_temporal_order(gg_dataset *ds, size_t n, int T, uint64_t seed);

/* A text for byte-level language models: the bytes of a file and its
 * vocabulary, the distinct bytes that occur in increasing order (id =
 * index in that order, so ids are stable for a given set of bytes). */
typedef struct gg_text gg_text;
#define GG_TEXT_MAX_BYTES ((uint64_t)1 << 30)
/* Reads a whole text file (plain, or gzip told by its magic) into a new
 * gg_text (*out; free with gg_text_free). Any bytes are accepted, valid
 * UTF-8 or not (gg_text_utf8_error tells), except that GG_E_FORMAT refuses
 * an empty file and a file holding a NUL byte (binary or UTF-16; the
 * message gives the offset of the first). GG_E_IO if it cannot be read,
 * GG_E_NOMEM over GG_TEXT_MAX_BYTES (checked before allocating) or out of
 * memory. Messages name the file. *out is NULL on failure.
 * A directory is read as one text: the concatenation of its regular files
 * (plain or gzip) in byte order of their names, leaving out symbolic links,
 * subdirectories, names starting with '.' and names ending in ".dat" (so
 * Debian's /usr/share/games/fortunes reads as its fortune files once each:
 * NAME.u8 links to NAME, NAME.dat is a binary index); each file is checked
 * as above, the 1 GiB limit applies to the sum, and a directory with no such
 * file is GG_E_FORMAT. */
GG_API gg_status gg_text_load(const char *path, gg_text **out);
/* NULL is a no-op. */
GG_API void gg_text_free(gg_text *tx);
/* Bytes of text held (0 for a vocabulary read by gg_text_load_vocab or NULL). */
GG_API size_t gg_text_size(const gg_text *tx);
/* Byte offset of the first byte that does not begin or continue a valid
 * UTF-8 sequence (RFC 3629: no overlong forms, surrogates or code points
 * over U+10FFFF; a sequence cut off by the end counts), or -1 if the whole
 * text is valid UTF-8 (or tx holds no text). */
GG_API long long gg_text_utf8_error(const gg_text *tx);
/* The vocabulary size, 1 to 256 (0 for NULL). */
GG_API int gg_text_vocab_size(const gg_text *tx);
/* The id of a byte, or -1 if it is not in the vocabulary. */
GG_API int gg_text_id(const gg_text *tx, unsigned char byte);
/* The byte of an id; 0 (a byte no vocabulary holds) if id is out of range. */
GG_API unsigned char gg_text_byte(const gg_text *tx, int id);
/* Windows of the text as a data set for next-byte prediction: features T
 * ids (sample shape (T), float32; feed them to gg_embedding), labels the T
 * ids that follow each (label_per T, class ids, num_classes the vocabulary
 * size, so that every part of one text agrees). Only the bytes [floor(
 * start_frac size), floor(end_frac size)) are used, and a window starts
 * every `stride` bytes from the first of them for as long as its T + 1
 * bytes fit inside: parts [0, 0.9) and [0.9, 1) of a text are contiguous,
 * disjoint training and validation sets that share no byte. Needs
 * 0 <= start_frac < end_frac <= 1, T >= 1, stride >= 1 (GG_E_ARG), a text
 * with bytes (GG_E_STATE for a vocabulary-only one), a part long enough for
 * one window (GG_E_ARG giving its length) and both arrays under the limit
 * (GG_E_NOMEM; a larger stride makes fewer windows). Overwrites *ds, empty
 * on failure. */
GG_API gg_status gg_text_dataset(const gg_text *tx, int T, size_t stride, double start_frac, double end_frac,
                                 gg_dataset *ds);
/* Writes the vocabulary to path atomically (gg_write_atomic): 8 bytes
 * "GGVOCAB" and version 1, the count (u16 little-endian, 1..256), the bytes
 * in increasing order, and the zlib CRC-32 of everything before it (u32
 * little-endian). GG_E_IO naming path if it cannot be written. */
GG_API gg_status gg_text_save_vocab(const gg_text *tx, const char *path);
/* Reads a vocabulary written by gg_text_save_vocab into a new gg_text with
 * no text (gg_text_size 0; ids and bytes as when it was saved). GG_E_IO if
 * it cannot be read; GG_E_FORMAT naming the file and byte offset for a bad
 * magic, version, count, size, order (bytes must strictly increase and not
 * be 0) or checksum. *out is NULL on failure. */
GG_API gg_status gg_text_load_vocab(const char *path, gg_text **out);

/* ==== checkpoints (src/io) =============================================== */
/*
 * Tensors on disk in the safetensors format (an 8-byte little-endian header
 * length, a JSON header of names, dtypes, shapes and offsets, padded with
 * spaces to a multiple of 8, then the raw data), readable by other tools.
 * gradguard adds to the header's __metadata__: gg_format ("gradguard-1"),
 * gg_crc32 (zlib CRC-32 of the data buffer, 8 lowercase hex digits) and
 * gg_header_crc32 (CRC-32 of the names, dtypes, shapes and metadata), and
 * checks them on load, so a flipped bit anywhere in a gradguard file is
 * refused. Files are written to a temporary name (.NAME.tmp.PID.N in the
 * same directory), fsynced, renamed, and the directory fsynced.
 */

typedef struct gg_st_entry {
    const char *name;
    gg_shape shape;
    const float *data;   /* float32, numel(shape) values */
} gg_st_entry;

/* Writes entries[0..n) (F32, in this order) and metadata pairs
 * meta[0..2*nmeta) (key, value UTF-8 strings) to path atomically. Names
 * must be unique, non-empty and not "__metadata__"; 0 to 4 dims (0: a
 * scalar); data may be NULL only for empty tensors. Keys gg_crc32,
 * gg_format and gg_header_crc32 in meta are replaced by fresh values.
 * GG_E_ARG for bad entries, GG_E_IO (naming the path and the system's
 * reason) if the file cannot be written; either way the old file, if any,
 * is untouched and no temporary is left. Streams the data: no copy of the
 * tensors is made. */
GG_API gg_status gg_safetensors_write(const char *path, const gg_st_entry *entries, int n, const char *const *meta,
                                      int nmeta);

typedef struct gg_safetensors gg_safetensors;
/* Reads and validates a whole file: the header length against the file size
 * (before allocating), strict JSON, no duplicate names, at most 4 dims,
 * dtype sizes, offsets that tile the data buffer exactly (no overlap, gap or
 * trailing bytes), and the checksums when present. F32, F64, F16, BF16, I64,
 * I32, U8 tensors load as float32. GG_E_IO if the file cannot be read,
 * GG_E_FORMAT if it is malformed; the message names the file and the tensor
 * or byte offset. Free with gg_safetensors_close. */
GG_API gg_status gg_safetensors_open(const char *path, gg_safetensors **out);
/* Reads and validates only the header of path (length, strict JSON, names,
 * shapes, offsets against the file size, format and header checksum), not
 * the data: a cheap look at a file's metadata (e.g. which run a checkpoint
 * belongs to). Its tensors have no data (gg_safetensors_get/find give
 * NULL); a damaged data buffer is not noticed. Fails like
 * gg_safetensors_open; free with gg_safetensors_close. */
GG_API gg_status gg_safetensors_open_header(const char *path, gg_safetensors **out);
GG_API void gg_safetensors_close(gg_safetensors *st);
GG_API int gg_safetensors_count(const gg_safetensors *st);
/* The i-th tensor (header order): name and shape; data owned by st. Any
 * output pointer may be NULL. GG_E_ARG if i is out of range. */
GG_API gg_status gg_safetensors_get(const gg_safetensors *st, int i, const char **name, gg_shape *shape,
                                    const float **data);
/* Looks a tensor up by name: GG_E_FORMAT naming it if absent. */
GG_API gg_status gg_safetensors_find(const gg_safetensors *st, const char *name, gg_shape *shape, const float **data);
/* A metadata value (owned by st), or NULL. */
GG_API const char *gg_safetensors_meta(const gg_safetensors *st, const char *key);
/* The dtype tensor i has in the file ("F32", "F64", "F16", "BF16", "I64",
 * "I32" or "U8"; its data was converted to float32 on load), a constant
 * string; NULL if i is out of range. Lets a reader give the tensor its
 * type back (an I64 counter stays an integer). */
GG_API const char *gg_safetensors_dtype(const gg_safetensors *st, int i);
/* The metadata pairs in file order: count, then the i-th key (returned) and
 * value (*value, may be NULL), both owned by st; NULL if i is out of range.
 * gradguard's own keys (gg_format, gg_crc32, gg_header_crc32) are listed
 * like any other. */
GG_API int gg_safetensors_meta_count(const gg_safetensors *st);
GG_API const char *gg_safetensors_meta_at(const gg_safetensors *st, int i, const char **value);

/* Imports weights written by another tool (a PyTorch state_dict saved as
 * safetensors, by name) into the compiled model g (src/io/import.c),
 * strictly, as torch's load_state_dict(strict=True): every parameter and
 * buffer of g must be in the file with its shape, and every tensor of the
 * file must be one of g's. PyTorch's single-layer recurrent names are
 * accepted for gradguard's ("lstm1.weight_ih_l0" for "lstm1.weight_ih", the
 * same for weight_hh, bias_ih, bias_hh); BatchNorm's num_batches_tracked,
 * and the optimizer and early-stopping tensors of a gradguard checkpoint,
 * are skipped. Any dtype gg_safetensors_open reads converts to float32.
 * Fails, leaving g untouched, with GG_E_SHAPE naming the tensor and both
 * shapes, GG_E_FORMAT naming a missing, unexpected or doubled tensor (or
 * the file's own defect), GG_E_IO if it cannot be read, GG_E_STATE if g is
 * not compiled. */
GG_API gg_status gg_model_import(gg_graph *g, const char *path);

/* Writes a whole file atomically: temp file in the same directory, write,
 * fsync, rename over path, fsync the directory. On failure (GG_E_IO naming
 * path and the system's reason) the temp file is removed and the old file
 * is untouched. */
GG_API gg_status gg_write_atomic(const char *path, const void *data, size_t n);

/* ==== configuration (src/io/config.c) ===================================== */
/*
 * A YAML document (libyaml) as a tree with line numbers. Access is strict:
 * typed getters fail with the key path, the line and the expected type
 * ("cfg.yaml:12: key 'train.epochs': expected an integer in [1, 100000],
 * got 'abc'"), and gg_cfg_unused() names any key nobody read, so typos are
 * errors. Duplicate keys, a second document and syntax errors (with line
 * and column) fail the parse. Scalars keep their text and are typed by the
 * getter that reads them; a quoted scalar is always a string ("5" is not a
 * number). A plain empty value, ~ or null is GG_CFG_NULL, which the typed
 * getters treat as absent. The core-schema tags are honoured: !!str makes
 * a string (like quotes), !!int, !!float and !!bool fix the type (the text
 * must be one; only a getter of that type takes it, and an integer is a
 * number too), !!null makes null, !!map and !!seq must match the node; any
 * other tag (!!python/object:..., !!binary, !local) fails the parse naming
 * it, the file and the line. Aliases are copied; merge keys (`<<: *base` or
 * `<<: [*a, *b]`) copy in the entries of the merged maps that the map does
 * not write itself (the map's own keys win, then the earlier merged map).
 * Nodes, keys and strings are
 * owned by the gg_cfg and valid until gg_cfg_free (or a gg_cfg_set that
 * replaces them).
 */

typedef struct gg_cfg gg_cfg;
typedef struct gg_cfg_node gg_cfg_node;
typedef enum gg_cfg_type { GG_CFG_NULL, GG_CFG_SCALAR, GG_CFG_MAP, GG_CFG_SEQ } gg_cfg_type;

/* Parses a file (GG_E_IO if unreadable, GG_E_CONFIG if malformed) or a
 * text; source_name is the file name used in messages. An empty document
 * is an empty map. */
GG_API gg_status gg_cfg_load(const char *path, gg_cfg **out);
GG_API gg_status gg_cfg_parse(const char *text, size_t len, const char *source_name, gg_cfg **out);
GG_API void gg_cfg_free(gg_cfg *c);
/* Applies "a.b.c=value". The value is parsed as YAML (64, 1e-3, "text",
 * [32, 64]; empty is null); a missing map key is created (with any missing
 * maps on the way, or in place of a null); a sequence element is addressed
 * by its index (model.2.units=64), which must exist. Set values have line 0
 * and messages about them say "--set"; a set key nobody reads is reported
 * by gg_cfg_unused like any other. */
GG_API gg_status gg_cfg_set(gg_cfg *c, const char *assignment);
/* The root node (a map for any config file). */
GG_API gg_cfg_node *gg_cfg_root(gg_cfg *c);
/* Child of a map by key (marks it used), or NULL (also for a NULL or
 * non-map node). */
GG_API gg_cfg_node *gg_cfg_get(gg_cfg_node *map, const char *key);
/* The type of a node; GG_CFG_NULL for NULL. */
GG_API gg_cfg_type gg_cfg_node_type(const gg_cfg_node *n);
/* Entries of a map or sequence; 0 for anything else. */
GG_API int gg_cfg_len(const gg_cfg_node *seq_or_map);
/* The i-th element of a sequence, or NULL (out of range, not a sequence). */
GG_API gg_cfg_node *gg_cfg_at(gg_cfg_node *seq, int i);
/* Key and value of the i-th entry of a map (marks it used); NULL if out of
 * range. value may be NULL. */
GG_API const char *gg_cfg_key_at(gg_cfg_node *map, int i, gg_cfg_node **value);
/* The line of a node (of its key, for a map entry); 0 for --set values and
 * for NULL. */
GG_API int gg_cfg_line(const gg_cfg_node *n);
/* "train.epochs", "model.layers.2"; "" for the root and for NULL. */
GG_API const char *gg_cfg_path(const gg_cfg_node *n);
/* "cfg.yaml:12" (or "--set" for a value given on the command line) into
 * buf, for messages; returns buf. */
GG_API const char *gg_cfg_where(const gg_cfg_node *n, char *buf, size_t cap);
/* Typed reads of map[key]: absent or null keys (and a NULL map) leave *out
 * alone and return GG_OK; a value of the wrong type or out of [lo, hi] is
 * GG_E_CONFIG with file, line, key path and what was expected. Integers are
 * decimal (strtol, whole text); numbers are decimal or .inf/-.inf; booleans
 * are true/false, yes/no, on/off (any case). */
GG_API gg_status gg_cfg_int(gg_cfg_node *map, const char *key, long lo, long hi, long *out);
GG_API gg_status gg_cfg_float(gg_cfg_node *map, const char *key, double lo, double hi, double *out);
/* gg_cfg_float for a setting kept as a 32-bit float: also GG_E_CONFIG when
 * float32 cannot hold the value (beyond FLT_MAX, or nonzero and below
 * FLT_MIN, where it would become 0 or lose its precision). Numbers a
 * 64-bit double cannot hold (1e-400, 1e400) fail in both getters. Choose
 * bounds a float can tell apart from what they exclude (not 0.999999999,
 * which is 1.0f). */
GG_API gg_status gg_cfg_f32(gg_cfg_node *map, const char *key, double lo, double hi, float *out);
GG_API gg_status gg_cfg_bool(gg_cfg_node *map, const char *key, int *out);
/* The string stays owned by the config. */
GG_API gg_status gg_cfg_str(gg_cfg_node *map, const char *key, const char **out);
/* One of choices[0..n): *out gets its index. */
GG_API gg_status gg_cfg_enum(gg_cfg_node *map, const char *key, const char *const *choices, int n, int *out);
/* Typed reads of a scalar node itself (a sequence element); errors name
 * the file, line and path like the getters above ("item 'model.layers.0'").
 * A NULL or null node is GG_E_CONFIG. */
GG_API gg_status gg_cfg_as_int(gg_cfg_node *n, long lo, long hi, long *out);
GG_API gg_status gg_cfg_as_float(gg_cfg_node *n, double lo, double hi, double *out);
GG_API gg_status gg_cfg_as_bool(gg_cfg_node *n, int *out);
/* The text of a scalar node, or NULL for other types. */
GG_API const char *gg_cfg_scalar(const gg_cfg_node *n);
/* GG_E_CONFIG naming the first key, in document order, that was never read
 * by gg_cfg_get, a typed getter or gg_cfg_key_at: "cfg.yaml:12: unknown key
 * 'train.epoks'" ("--set: unknown key ..." for a set key). Keys under an
 * unread key are not reported separately. */
GG_API gg_status gg_cfg_unused(gg_cfg *c);
/* Writes the document, with its --set values, back as YAML (the resolved
 * config of a run) atomically, through libyaml's emitter: quoted strings
 * stay quoted, plain values plain, flow lists flow; comments are not kept.
 * Re-reading the file gives the same tree. */
GG_API gg_status gg_cfg_write(gg_cfg *c, const char *path);

/* ==== guard (src/guard) ================================================== */
/*
 * The guard is a stage of every training step, between backward (and the
 * MPI allreduce) and the optimizer: it measures the gradients (one pass
 * over the gradient arena), detects non-finite values, spikes and trends
 * against the run's own history, acts by policy (clip, add noise, skip the
 * step, back off the learning rate, roll back to a snapshot) and records
 * every decision as an event with its reason.
 */

typedef enum gg_clip_kind {
    GG_CLIP_NONE,
    GG_CLIP_VALUE,      /* g <- clamp(g, -value, value) */
    GG_CLIP_NORM,       /* global L2 norm to at most max_norm */
    GG_CLIP_TENSOR,     /* each tensor's L2 norm to at most max_norm */
    GG_CLIP_AGC,        /* unit-wise: ||g_i|| <= lambda max(||w_i||, eps) (NFNets) */
    GG_CLIP_PERCENTILE, /* global norm to the p-th percentile of the norms seen (AutoClip) */
    GG_CLIP_ZSCORE,     /* global norm to mean + z std of its EMA when above (ZClip) */
    GG_CLIP_COUNT
} gg_clip_kind;

typedef enum gg_response {
    GG_DO_NOTHING,  /* only log */
    GG_DO_CLIP,     /* clip with the configured method (or max_norm) and go on */
    GG_DO_SKIP,     /* do not apply this step */
    GG_DO_BACKOFF,  /* skip, and back off the learning rate */
    GG_DO_ROLLBACK, /* restore the last snapshot, skip the batches, back off */
    GG_DO_STOP,     /* end the run with status diverged (stalled, for a stall) */
    GG_DO_NOISE,    /* switch on annealed gradient noise (remedy_noise_eta) and go on */
    GG_DO_QK_CLIP,  /* attention: after the update, rescale W_q and W_k of each head whose largest
                       logit is over the threshold so that it is back at the threshold (QK-clip) */
    GG_DO_Z_LOSS,   /* output logits: switch on the z-loss (z_loss_remedy x mean (log Z)^2) and go on */
    GG_DO_COUNT
} gg_response;

typedef struct gg_guard_config {
    int enabled;
    /* clipping applied every step */
    gg_clip_kind clip;
    float clip_value, max_norm;
    float agc_lambda, agc_eps;
    int agc_exclude_last;      /* leave the final layer out of AGC */
    float percentile;          /* AutoClip p, in (0, 100] */
    int history;               /* norms kept for AutoClip (ring) */
    float clip_z;              /* ZClip threshold */
    /* detection */
    int warmup;                /* steps before spike statistics count */
    float ema_alpha;           /* EMA weight of the newest value, (0, 1) */
    float spike_z;             /* z-score of log grad norm that is a spike */
    float loss_z;              /* z-score of log loss that is a spike */
    int trend_window;          /* steps in the slow-blow-up detector (0: off) */
    float trend_growth;        /* fitted growth of the norm over the window that counts */
    /* responses */
    gg_response on_nonfinite, on_spike, on_loss_spike, on_trend;
    int reset_moments;         /* a skipped step also resets the optimizer state of the bad tensors */
    float backoff_factor;      /* lr scale multiplied by this on a back-off */
    int backoff_recover;       /* good steps to restore the lr scale (geometrically) */
    float backoff_min;         /* lower bound of the lr scale */
    int snapshot_every;        /* good steps between rollback snapshots */
    int rollback_budget;       /* rollbacks allowed before stopping (diverged) */
    int skip_batches;          /* batches before a rollback's trigger to skip on replay */
    int max_skips;             /* consecutive skipped steps before escalating to a rollback */
    /* annealed Gaussian gradient noise, sigma^2 = eta / (1 + t)^gamma */
    float noise_eta, noise_gamma;
    int diagnose;              /* re-run a non-finite batch in check mode */
    int init_check;            /* 0 off, 1 warn, 2 fix (rescale a poor initialisation) */
    float loss_blowup;         /* loss above this times its running (geometric) mean is a divergence */
    float loss_blowup_floor;   /* ... if also above this fraction of the run's first loss */
    float loss_blowup_z;       /* ... and, once the loss statistics are warm, this many standard deviations of log loss above its mean (0: no such test) */
    gg_response on_blowup;
    gg_response on_collapse;   /* the loss fell back to chance level after progress */
    gg_response on_max_spike;  /* the largest |g| far above its level while the global norm is not */
    int layer_every;           /* per-layer statistics to layers.csv every so many steps */
    /* quiet failures: stalls, vanishing gradients, dead and saturated units
     * (docs/guard.md, "Quiet failures") */
    int quiet;                 /* the quiet-failure monitor */
    int monitor_every;         /* steps between its passes (0: the trainer's log interval; 50 from C) */
    int stall_window;          /* steps with the smoothed loss at chance level that are a stall */
    int progress_window;       /* steps over which the smoothed loss must improve (0: off) */
    float min_progress;        /* relative improvement over progress_window below which it is a stall */
    float chance_margin;       /* relative distance to the chance level that counts as at chance */
    float vanish_ratio;        /* first-to-last layer gradient-norm ratio below which the gradient vanishes */
    float dead_fraction;       /* share of dead units that flags a ReLU layer */
    float saturation_fraction; /* share of saturated units that flags a tanh/sigmoid layer */
    float saturation_threshold;/* |pre-activation| beyond which a tanh unit is saturated (sigmoid: twice it) */
    float update_ratio_low, update_ratio_high; /* band of update norm / weight norm per layer */
    int quiet_persist;         /* consecutive passes a layer signal must last to be reported */
    int report_every;          /* steps between repeats of a signal that persists */
    gg_response on_stall, on_vanishing;
    gg_response on_dead;       /* a ReLU layer's units killed in training (dead at the monitor, alive at its first pass) */
    float remedy_noise_eta;    /* eta of the noise that the noise response switches on */
    /* transformers (read only when the model has attention ops or a softmax
     * output the trainer measures: docs/guard.md, "Attention and output logits") */
    float attn_logit_max;      /* a head's largest scaled logit q.k / sqrt(dh) over this is attention-logit growth */
    float attn_logit_floor;    /* ... and so is one over this that rose spike_z deviations above its running level */
    gg_response on_attention;  /* response to attention-logit growth */
    float logz_max;            /* |mean log Z| of the output over this that rose spike_z deviations above its level */
    gg_response on_logit_drift;/* response to output-logit drift */
    float z_loss_remedy;       /* coefficient of the z-loss that the z_loss response switches on */
} gg_guard_config;

/* The default policy (docs/results.md has the measurements behind it). */
GG_API gg_guard_config gg_guard_defaults(void);

/* Poor initialisation, checked once on the first batch (filled in by the
 * caller) before training: the RMS of every linear/conv2d output and its
 * fitted growth factor per layer. `poor` when the scale grows or shrinks
 * geometrically (more than 1.25x or under 0.8x per layer, and more than 10x
 * or under 0.1x over the stack, in a stack of 4 or more) or overflows. With
 * fix, a poor initialisation is rescaled layer by layer so each output has
 * RMS 1 on that batch (layer-sequential unit variance); a good one is left
 * untouched. Runs in evaluation mode. Saturation: tanh and sigmoid bound
 * their output and so hide that growth; a net whose tanh (sigmoid) layers,
 * most of them and at least two, start with a pre-activation RMS over 2
 * (4) is poor too (poor_saturated), and the fix rescales those layers to
 * pre-activation RMS 1. Dead units: a ReLU layer (any depth) with half or
 * more of its units zero for the whole batch is poor (poor_dead); the fix
 * resets its bias to 0 before rescaling. */
#define GG_INIT_MAX_LAYERS 256
typedef struct gg_init_report {
    int n;
    char layer[GG_INIT_MAX_LAYERS][GG_NAME_MAX];
    double rms[GG_INIT_MAX_LAYERS];       /* before any fix */
    double rms_fixed[GG_INIT_MAX_LAYERS]; /* after the fix, if fixed (pre-activation RMS for tanh/sigmoid layers) */
    double pre_rms[GG_INIT_MAX_LAYERS];   /* tanh/sigmoid layers: pre-activation RMS before any fix; NaN for others */
    double growth, ratio;
    int squashing, saturated; /* tanh/sigmoid layers, and those with pre-activation RMS > 2 (sigmoid: > 4) */
    int poor_growth;          /* poor because the output scale grows or shrinks geometrically (or overflows) */
    int poor_saturated;       /* poor because most squashing layers (>= 2) start saturated */
    double dead_share[GG_INIT_MAX_LAYERS];       /* ReLU layers: share of units zero for the whole batch; -1 for others */
    double dead_share_fixed[GG_INIT_MAX_LAYERS]; /* ... after the fix */
    int dead;                 /* ReLU layers with half or more of their units dead */
    int poor_dead;            /* poor because a ReLU layer starts with half its units dead (the fix resets its bias to 0) */
    int poor, fixed;
} gg_init_report;
GG_API gg_status gg_init_check(gg_graph *g, int fix, gg_init_report *rep);
/* gg_init_check's verdict from statistics a trainer measured itself (the
 * Python package measures a PyTorch model's first batch): the caller fills
 * rep->n (at most GG_INIT_MAX_LAYERS), rep->layer, rep->rms (each weighted
 * layer's output RMS, in depth order), for the layers whose squash[l] is 1
 * (tanh) or 2 (sigmoid) rep->pre_rms (their pre-activation RMS), and
 * rep->dead_share (ReLU layers: the share of units zero for the whole
 * batch; -1 for the others); squash may be NULL (none). Fills growth,
 * ratio, squashing, saturated, dead and the poor flags as gg_init_check
 * does; fixing is the caller's (see gg_init_check). */
GG_API void gg_init_assess(gg_init_report *rep, const int *squash);
GG_API const char *gg_clip_name(gg_clip_kind k);
GG_API gg_clip_kind gg_clip_parse(const char *name);
GG_API const char *gg_response_name(gg_response r);
GG_API gg_response gg_response_parse(const char *name);

typedef enum gg_verdict {
    GG_GUARD_PROCEED,  /* apply the (possibly clipped) step */
    GG_GUARD_SKIP,     /* do not apply it */
    GG_GUARD_ROLLBACK, /* call gg_guard_rollback and continue from there */
    GG_GUARD_STOP      /* end the run: diverged */
} gg_verdict;

typedef struct gg_guard_decision {
    gg_verdict verdict;
    float lr_scale;  /* multiply the schedule's learning rate by this */
    int diagnose;    /* the trainer should re-run the batch in check mode */
    int clipped;
    int stalled;     /* with GG_GUARD_STOP: the run stalled (status stalled, not diverged) */
} gg_guard_decision;

/* Per-step statistics, valid after gg_guard_check. */
typedef struct gg_guard_stats {
    double loss, grad_norm, grad_norm_clipped, max_abs_grad;
    long nonfinite;          /* non-finite gradient elements */
    double z_grad, z_loss;   /* z-scores against the history (0 in warm-up) */
    double clip_threshold;   /* the threshold in force (0 when none) */
    double lr_scale;
} gg_guard_stats;

/* The position of the data stream, saved with snapshots so a rollback can
 * rewind it. */
typedef struct gg_train_pos {
    long step;      /* optimizer steps taken */
    int epoch;      /* 0-based */
    long batch;     /* batches consumed in this epoch */
    gg_schedule_state sched; /* the schedule's state at this position (gg_schedule_save) */
} gg_train_pos;

typedef struct gg_guard gg_guard;
/* A guard over g and o (both must outlive it). Allocates its snapshot
 * arenas here, once. NULL on failure. */
GG_API gg_guard *gg_guard_new(gg_graph *g, gg_optim *o, const gg_guard_config *cfg);
GG_API void gg_guard_free(gg_guard *gd);
/* The inspect-decide-act stage. Call after backward with the step's mean
 * loss; clips and adds noise in the gradient arena in place. */
GG_API gg_guard_decision gg_guard_check(gg_guard *gd, long step, int epoch, double loss);
/* Call after the optimizer step was applied (or skipped) with the position
 * after it; takes a snapshot when one is due and checks the parameters. */
GG_API gg_guard_decision gg_guard_after_step(gg_guard *gd, const gg_train_pos *pos, int applied);
/* Restores the last snapshot (parameters, buffers, optimizer state).
 * *pos is in and out: in, the position where the run failed (its step
 * tells a repeated failure from an isolated one); out, the snapshot's
 * position. GG_E_STATE if there is none. */
GG_API gg_status gg_guard_rollback(gg_guard *gd, gg_train_pos *pos);
/* Takes a snapshot now as the rollback target (the trainer takes one
 * before the first step). Later ones are taken every snapshot_every good
 * steps and become the target only after as many healthy steps. */
GG_API void gg_guard_snapshot(gg_guard *gd, const gg_train_pos *pos);
/* The chance-level loss (ln C for C-class cross-entropy), 0 for none:
 * enables the collapse detector. */
GG_API void gg_guard_set_chance(gg_guard *gd, double loss);
/* What the transformer detectors read: with attention 1, every attention
 * op's heads (their largest logit and entropy, each step; QK-clip acts on
 * them); loss >= 0, the softmax_xent op whose log Z is watched and whose
 * z-loss the z_loss response switches on (-1: none). Off by default; the
 * statistics are each process's own, so a data-parallel run leaves them off
 * (every rank must decide alike). GG_E_ARG for a loss that is not a
 * softmax_xent op. */
GG_API gg_status gg_guard_watch(gg_guard *gd, int attention, gg_node loss);
GG_API const gg_guard_stats *gg_guard_last(const gg_guard *gd);
/* The learning rate the coming step uses before the guard's scale: the
 * quiet monitor does not call a decaying schedule's tail a stall, nor its
 * small updates out of band, below 0.1 of the largest rate seen. */
GG_API void gg_guard_set_lr(gg_guard *gd, double lr);

/* Per-layer statistics of the quiet monitor's last pass, in depth order
 * (layers with parameters or an activation): gradient norm, share of dead
 * ReLU units (zero output for every sample of the batch), share of
 * saturated tanh/sigmoid units (|pre-activation| beyond the threshold for
 * 90% of the batch), update/weight norm ratio of its weight tensors. NaN
 * where a value does not apply or was not measured yet. Owned by the
 * guard; NULL with *n = 0 when the monitor is off. */
typedef struct gg_guard_layer {
    char layer[GG_NAME_MAX];
    double grad_norm, dead_fraction, saturated_fraction, update_ratio;
} gg_guard_layer;
GG_API const gg_guard_layer *gg_guard_layers(const gg_guard *gd, int *n);
/* The index into gg_guard_layers of parameter tensor i (-1 if none). */
GG_API int gg_guard_layer_of(const gg_guard *gd, int i);

/* Records a check-mode diagnosis for the events. */
GG_API void gg_guard_diagnosis(gg_guard *gd, const gg_check_info *ci, const char *batch_desc);

typedef struct gg_guard_event {
    long step;
    int epoch;
    char signal[32];    /* "nonfinite", "grad_spike", "loss_spike", "trend", "budget", "clip" ... */
    double value, threshold;
    char action[32];    /* "clip", "skip", "backoff", "rollback", "stop", "warn" */
    char detail[256];   /* layers concerned, diagnosis, in one readable line */
} gg_guard_event;
/* Events since the last clear, owned by the guard. */
GG_API const gg_guard_event *gg_guard_events(const gg_guard *gd, int *n);
GG_API void gg_guard_clear_events(gg_guard *gd);

typedef struct gg_guard_counters {
    long clipped, skipped, backoffs, rollbacks, nonfinite, spikes, trends, collapses;
    /* quiet failures reported (each signal is rate-limited) */
    long stalls, vanishing, dead, saturated, update_ratio;
    long attention, logit_drift; /* attention-logit growth and output-logit drift */
} gg_guard_counters;
GG_API const gg_guard_counters *gg_guard_counts(const gg_guard *gd);
/* The guard's state, for a checkpoint: every statistic, window, history
 * and counter it keeps, as named fields ("hist.ema_log_loss.mean",
 * "memory.lr_scale", "quiet.loss_window", ...). The history part is what a
 * snapshot keeps and a rollback restores; the memory part outlives
 * rollbacks (docs/guard.md, "State"). gg_guard_state_count gives the number
 * of fields; gg_guard_state_get sets *name to field i's name (owned by the
 * library) and writes its value as text into buf (numbers with 17
 * significant digits, arrays comma-separated), returning the text's length
 * as snprintf does (cap too small when it is >= cap), -1 when i is out of
 * range. gg_guard_state_set restores one field from that text: GG_E_FORMAT,
 * naming the field, for an unknown name, a malformed number, or an array
 * whose length the guard's config does not give. */
GG_API int gg_guard_state_count(const gg_guard *gd);
GG_API int gg_guard_state_get(const gg_guard *gd, int i, const char **name, char *buf, size_t cap);
GG_API gg_status gg_guard_state_set(gg_guard *gd, const char *name, const char *text);

/* ---- the decision core --------------------------------------------------
 * What the gg_guard functions above do, apart from the graph and the
 * optimizer: statistics in, a verdict with its reasons and what carrying it
 * out takes out. gg_guard (src/train/guard_act.c) is one trainer of it: it
 * measures gradguard's graph, calls the core and carries the verdict out on
 * the gradient arena, the optimizer and the snapshots. Another trainer (the
 * Python package does this for PyTorch) measures its own tensors and
 * carries the verdict out on its own. The core allocates once, in
 * gg_guard_core_new; no call after allocates. */

typedef struct gg_guard_tensor {
    const char *name;  /* "fc1.weight": for the events */
    const char *layer; /* "fc1": the final layer's tensors are those of the last tensor's layer (AGC leaves them out) */
} gg_guard_tensor;

/* One attention head's statistics of the step's forward (gg_attention_stats). */
typedef struct gg_guard_head {
    const char *layer;   /* the attention op's name */
    int head;
    double max_logit;    /* the largest scaled |q.k| of the head */
    double entropy, entropy_uniform; /* its mean attention entropy, and that of uniform attention (nats) */
} gg_guard_head;

typedef struct gg_guard_obs {
    long step;
    int epoch;
    double loss;       /* the step's mean loss; NaN or Inf is a non-finite step */
    const double *sq;  /* per tensor: squared L2 norm of its gradient, NaN or Inf when it holds a non-finite value */
    double max_abs;    /* the largest |g| over all tensors (the value clip's test) */
    long nonfinite;    /* non-finite gradient elements (0 when not counted: a non-finite sq counts) */
    double lr;         /* the schedule's learning rate for this step, before the guard's scale */
    const gg_guard_layer *layers; /* per-layer statistics in depth order when measured for this step
                                     (gg_guard_core_wants_layers), else NULL: the quiet monitor reads them */
    int nlayers;
    const gg_guard_head *heads; /* the model's attention heads, when it has any (else NULL) */
    int nheads;
    int has_logz;        /* logz was measured (a softmax output) */
    double logz;         /* mean over the output rows of log Z, the logsumexp of the logits */
} gg_guard_obs;

typedef struct gg_guard_act {
    gg_verdict verdict;
    float lr_scale;       /* multiply the schedule's rate by this */
    int diagnose;         /* re-run the batch in check mode to find the first non-finite op */
    int clipped;          /* a clip changed the gradient (value and unit-wise clips: see gg_guard_core_clipped) */
    int stalled;          /* with GG_GUARD_STOP: the run stalled (status stalled, not diverged) */
    /* with GG_GUARD_PROCEED, in this order, before the update: */
    const float *scale;   /* per tensor: multiply its gradient by scale[i] (1: leave it); owned by the core */
    int scaled;           /* some scale[i] != 1 */
    float clip_value;     /* > 0: clamp every gradient element to [-clip_value, clip_value] */
    float agc_lambda, agc_eps; /* agc_lambda > 0: unit-wise clip ||g_row|| <= lambda max(||w_row||, eps) */
    int agc_until;        /* ... for tensors [0, agc_until) */
    double noise_sigma;   /* > 0: add N(0, noise_sigma^2) to every element, drawn from a generator keyed on noise_key */
    uint64_t noise_key;
    /* with GG_GUARD_SKIP (reset_moments): */
    const unsigned char *reset; /* per tensor: forget its optimizer moments; owned by the core */
    int any_reset;
    int want_update_norms; /* the next step's per-tensor update norms will be read */
    int snapshot;          /* after gg_guard_core_after: >= 0, copy the current state into snapshot slot `snapshot` */
    /* with GG_GUARD_PROCEED, after the update: */
    float qk_clip_tau;     /* > 0: QK-clip every head whose largest logit this step was over qk_clip_tau (to it) */
    float z_loss;          /* > 0: the output's z-loss coefficient is at least this from now on */
} gg_guard_act;

/* sizeof the named public struct ("gg_guard_config", "gg_guard_obs",
 * "gg_guard_act", "gg_guard_head", "gg_guard_layer", "gg_guard_tensor",
 * "gg_guard_stats", "gg_guard_event", "gg_guard_counters", "gg_train_pos",
 * "gg_init_report"), 0 for another name: a binding that declares these
 * structs itself (the Python package) checks its layout against the
 * library it loaded. */
GG_API size_t gg_abi_size(const char *type);

typedef struct gg_guard_core gg_guard_core;
/* A core for n parameter tensors (their names are copied) and per-layer
 * tables of up to max_layers layers. NULL on failure (a bad config names
 * the key; out of memory). */
GG_API gg_guard_core *gg_guard_core_new(const gg_guard_config *cfg, int n, const gg_guard_tensor *tensors, int max_layers);
GG_API void gg_guard_core_free(gg_guard_core *gd);
/* 1 when the check of `step` will read per-layer statistics (measure them
 * before calling gg_guard_core_check with obs.layers). */
GG_API int gg_guard_core_wants_layers(const gg_guard_core *gd, long step);
/* The inspect-decide stage, after backward: fills *act. GG_E_ARG for a
 * missing argument. */
GG_API gg_status gg_guard_core_check(gg_guard_core *gd, const gg_guard_obs *obs, gg_guard_act *act);
/* A value or unit-wise clip changed elements this step (counted). */
GG_API void gg_guard_core_clipped(gg_guard_core *gd);
/* After the update was applied (or skipped), with the position after it:
 * bad_tensor >= 0 names a tensor whose update was not finite (its norm
 * bad_norm): a rollback. Otherwise act->snapshot may ask for a snapshot. */
GG_API gg_status gg_guard_core_after(gg_guard_core *gd, const gg_train_pos *pos, int applied, int bad_tensor, double bad_norm,
                              gg_guard_act *act);
/* Takes the rollback target now (before the first step): returns the slot
 * (0 or 1) to copy the state into. */
GG_API int gg_guard_core_snapshot(gg_guard_core *gd, const gg_train_pos *pos);
/* A rollback: *pos in, where the run failed; out, the snapshot's position.
 * Returns the slot to restore the state from, or -1 (GG_E_STATE: none). */
GG_API int gg_guard_core_rollback(gg_guard_core *gd, gg_train_pos *pos);
GG_API void gg_guard_core_set_chance(gg_guard_core *gd, double loss);
/* The z-loss coefficient the z_loss response has switched on (0: none): an
 * actuator whose state was just restored (a resumed run) sets it before its
 * first forward. */
GG_API float gg_guard_core_z_loss(const gg_guard_core *gd);
GG_API void gg_guard_core_diagnosis(gg_guard_core *gd, const gg_check_info *ci, const char *batch_desc);
GG_API const gg_guard_stats *gg_guard_core_last(const gg_guard_core *gd);
GG_API const gg_guard_event *gg_guard_core_events(const gg_guard_core *gd, int *n);
GG_API void gg_guard_core_clear_events(gg_guard_core *gd);
GG_API const gg_guard_counters *gg_guard_core_counts(const gg_guard_core *gd);
GG_API int gg_guard_core_state_count(const gg_guard_core *gd);
GG_API int gg_guard_core_state_get(const gg_guard_core *gd, int i, const char **name, char *buf, size_t cap);
GG_API gg_status gg_guard_core_state_set(gg_guard_core *gd, const char *name, const char *text);
/* The core a gg_guard drives (owned by it). */
GG_API gg_guard_core *gg_guard_get_core(gg_guard *gd);
/* The per-step measurement of gg_guard_obs for tensors that live outside
 * gradguard's arenas (the Python package hands it the data of PyTorch's
 * .grad and parameter tensors): for n float32 arrays, x[i] holding len[i]
 * contiguous values, sq[i] = their squared L2 norm accumulated in double
 * (one vector pass, as gg_guard measures its arena), NaN when the array
 * holds a NaN or an infinity; *max_abs (may be NULL) = the largest |x|
 * over all arrays, NaNs left out. Returns the number of non-finite values
 * (counted only in the arrays that hold one), or -1 when x, len or sq is
 * NULL with n > 0 (GG_E_ARG). Writes nothing else, allocates nothing. */
GG_API long gg_guard_measure(int n, const float *const *x, const size_t *len, double *sq, double *max_abs);

/* ==== report (src/report) ================================================ */
/*
 * The HTML training report: one self-contained file (inline CSS and SVG,
 * no scripts, nothing loaded from the network) with the loss, accuracy,
 * learning-rate and gradient-norm curves, every guard event marked with a
 * tooltip, the per-tensor gradient heat map, the update-to-weight ratios,
 * the event table, the summary and the config. Long series are decimated
 * (min and max per bucket, so spikes survive) to keep the page small.
 *
 * A run that died early has missing or partial files: a missing file is a
 * note and a malformed line a warning naming the file and line, shown on
 * the page; the report is still written. Files over 256 MiB are skipped
 * with a warning.
 */

/* Reads run_dir (metrics.csv, layers.csv, events.jsonl, summary.json,
 * config.yaml) and writes the report to out_html, or to
 * run_dir/report.html when out_html is NULL (atomically: temp file, fsync,
 * rename). GG_E_IO if run_dir is not a readable directory or the page
 * cannot be written; GG_E_NOMEM if memory runs out. */
GG_API gg_status gg_report_write(const char *run_dir, const char *out_html);
/* The loss, accuracy, learning-rate and gradient-norm charts of n runs
 * (1 to 20) overlaid, one colour per run, with a table of their results;
 * the legend names runs by directory name (the whole path when two share
 * one). Fails as gg_report_write; GG_E_ARG for n out of range or a NULL
 * out_html. */
GG_API gg_status gg_report_compare(const char *const *run_dirs, int n, const char *out_html);

/* ==== trainer (src/train) ================================================ */
/*
 * A training run as the gradguard command does it, from a parsed config:
 * data, model, loss, optimizer, schedule, regularisation, guard, logs,
 * checkpoints and the run directory (config.yaml, metrics.csv,
 * layers.csv, events.jsonl, summary.json, checkpoints/, model.safetensors).
 * The library never prints: progress goes to an optional callback.
 */

typedef enum gg_event_kind {
    GG_EV_START,  /* the run is set up; message says what was built */
    GG_EV_STEP,   /* at the log interval */
    GG_EV_EPOCH,  /* an epoch ended (validation metrics filled in) */
    GG_EV_GUARD,  /* the guard acted or diagnosed; message is one line */
    GG_EV_INFO,   /* anything else worth a line (checkpoint written, early stop) */
    GG_EV_DONE,   /* the run ended; message gives the status */
    GG_EV_TICK    /* between log intervals, about every half second of training: the
                     running means of the interval so far, for a live display; nothing
                     was logged (a consumer that prints lines ignores it) */
} gg_event_kind;

typedef struct gg_progress {
    gg_event_kind kind;
    long step, total_steps;
    int epoch, epochs;
    double loss, accuracy, lr, grad_norm;
    double samples_per_second, eta_seconds;
    double val_loss, val_accuracy; /* NAN when there is no validation set */
    const char *message;           /* NULL or one line, owned by the trainer */
    /* GG_EV_STEP and GG_EV_TICK: seconds since the epoch began (in this
     * process) and the share of the epoch's steps done, in (0, 1];
     * GG_EV_EPOCH: the epoch's duration and 1; otherwise 0 */
    double epoch_seconds, epoch_fraction;
} gg_progress;

typedef void (*gg_progress_fn)(const gg_progress *p, void *ctx);

typedef struct gg_trainer gg_trainer;

/* Sets up a run from cfg into run_dir (created if missing; NULL for no
 * files). Every config key is read and checked here; an unknown key or a
 * bad value fails with file, line and key. cfg must outlive the trainer. */
GG_API gg_status gg_trainer_new(gg_cfg *cfg, const char *run_dir, gg_trainer **out);
/* gg_trainer_new with flags (GG_RUN_*). The run directory belongs to one
 * run at a time:
 * - A directory that already holds a run (any of config.yaml, metrics.csv,
 *   layers.csv, events.jsonl, summary.json, model.safetensors,
 *   report.html, run_id, vocab.bin, prune.json, checkpoints/) is refused
 *   (GG_E_STATE, the message names the directory and the files found)
 *   unless flags has GG_RUN_OVERWRITE, which removes those files (and only
 *   those) once the run is set up, before anything new is written. An
 *   empty or missing directory is fine (created).
 * - The trainer holds a lock on RUN_DIR/run.lock (pid, host, start time
 *   and run id in the file, flock(2) on it) from here until
 *   gg_trainer_free; a directory locked by a live process is refused at
 *   once (GG_E_STATE naming its pid and host). A lock left by a process
 *   that died (its flock is gone with it) is taken over, which the run
 *   notes on its progress callback and in events.jsonl.
 * - The run gets a new id (UTC start time and random hex), written to
 *   RUN_DIR/run_id, summary.json and every checkpoint's metadata
 *   (run_id); retention and gg_trainer_resume touch only checkpoints with
 *   the run's id (a directory made before run ids: only checkpoints
 *   without one).
 * Under MPI only rank 0 does these; the others never touch the directory. */
#define GG_RUN_OVERWRITE 1u
GG_API gg_status gg_trainer_new_ex(gg_cfg *cfg, const char *run_dir, unsigned flags, gg_trainer **out);
/* Continues the run in run_dir from its newest readable checkpoint of that
 * run (an unreadable newest one is reported and the one before it used;
 * checkpoints of another run are left alone and named). Takes the run
 * directory's lock as gg_trainer_new_ex does (refused while a live process
 * holds it; a dead holder's lock is taken over with a note).
 * overrides[0..n) are "key=value" assignments applied to its config. */
GG_API gg_status gg_trainer_resume(const char *run_dir, const char *const *overrides, int n, gg_trainer **out);
GG_API void gg_trainer_free(gg_trainer *t);
GG_API void gg_trainer_set_progress(gg_trainer *t, gg_progress_fn fn, void *ctx);
/* Trains to the end (or early stop, or a stop request) and writes the run
 * directory. Returns GG_OK also when the run ended diverged or stalled:
 * gg_trainer_status says how it ended. */
GG_API gg_status gg_trainer_run(gg_trainer *t);
/* Where a run is: running (set up, or inside gg_trainer_run), or how it
 * ended. gg_run_status_name gives the word that summary.json's "status",
 * the events and the command's last line use. */
typedef enum gg_run_status {
    GG_RUN_RUNNING,   /* "running" */
    GG_RUN_COMPLETED, /* "completed": every epoch, or early stopping */
    GG_RUN_STOPPED,   /* "stopped": a stop request or train.stop_after */
    GG_RUN_DIVERGED,  /* "diverged": the guard stopped it, or the weights ended non-finite */
    GG_RUN_STALLED,   /* "stalled": the guard stopped it for a stall */
    GG_RUN_FAILED,    /* "failed": an error ended it (gg_trainer_run returned it) */
    GG_RUN_COUNT
} gg_run_status;
/* The status's word ("completed", ...); NULL if s is not a gg_run_status. */
GG_API const char *gg_run_status_name(gg_run_status s);
/* t's status; GG_RUN_COUNT if t is NULL. */
GG_API gg_run_status gg_trainer_run_status(const gg_trainer *t);
/* gg_run_status_name of t's status ("none" if t is NULL). */
GG_API const char *gg_trainer_status(const gg_trainer *t);
/* Asks a running gg_trainer_run to finish its step, checkpoint and return
 * with status "stopped" (safe to call from a signal handler). */
GG_API void gg_trainer_request_stop(gg_trainer *t);
/* The model graph, its loss node and the input/label nodes. */
GG_API gg_graph *gg_trainer_graph(gg_trainer *t);
/* Evaluates the model on the test set (or validation set if which = 1):
 * mean loss and accuracy. Under MPI each rank evaluates its share and the
 * sums are reduced: every rank must call it. */
GG_API gg_status gg_trainer_evaluate(gg_trainer *t, int which, double *loss, double *accuracy);
/* Loads weights (and buffers) from a safetensors file into the model; every
 * tensor of the model must be present with its shape (errors name it), and
 * every value finite (GG_E_FORMAT naming the tensor and element). */
GG_API gg_status gg_model_load(gg_graph *g, const char *path);
/* Saves the model's parameters and buffers as safetensors. */
GG_API gg_status gg_model_save(gg_graph *g, const char *path);
/* The model's layers as the config lists them, the input first: for a
 * summary like Keras's model.summary(). name ("fc1") and type ("dense",
 * "conv2d", ...; "input" for the input) are owned by the trainer; output is
 * one sample's output shape (no batch dimension); params counts the
 * trainable values of the layer's tensors (named "LAYER.*"), tensors their
 * number, buffers the non-trainable values (batch-norm statistics, carried
 * recurrent states). GG_E_ARG if i is out of [0, gg_trainer_num_layers). */
typedef struct gg_layer_info {
    const char *name;
    const char *type;
    gg_shape output;
    size_t params, buffers;
    int tensors;
} gg_layer_info;
GG_API int gg_trainer_num_layers(const gg_trainer *t);
GG_API gg_status gg_trainer_layer(const gg_trainer *t, int i, gg_layer_info *out);
/* The number of classes of a classifier (loss softmax_xent: the last dim of
 * the logits), 0 for any other loss. */
GG_API int gg_trainer_classes(const gg_trainer *t);
/* Output values per sample (the logits' size without the batch dim). */
GG_API int gg_trainer_outputs(const gg_trainer *t);
/* Loads a data file to predict on, in the run's data.format (idx, csv or
 * npy; labels: the IDX labels or .npy labels file, or NULL), into *out,
 * with the training set's normalisation. A CSV file may hold the label
 * column (data.label) or not; its column count tells. Fails (with *out
 * empty) as the loaders do, with GG_E_CONFIG for another data.format,
 * GG_E_SHAPE naming the file and both feature counts when they differ from
 * the training set's, GG_E_FORMAT for uint8 against float data or a bad
 * class id. Free *out with gg_dataset_free. */
GG_API gg_status gg_trainer_load_samples(gg_trainer *t, const char *path, const char *labels, gg_dataset *out);
/* Runs the model on every sample of d (evaluation mode) and writes
 * d->n * gg_trainer_outputs(t) floats to out: class probabilities (softmax
 * of the logits) for a classifier, sigmoid probabilities for bce_logits,
 * the outputs themselves for mse and huber. Fails only on bad data (as
 * gg_graph_forward), naming the samples. */
GG_API gg_status gg_trainer_predict(gg_trainer *t, const gg_dataset *d, float *out);
/* gg_trainer_predict written as CSV to out_csv (atomically), one row per
 * sample: "index", the labels when d has them ("label" for a classifier,
 * "target" or "target0".. otherwise), then for a classifier "class" (the
 * arg-max) and "p0".."p{C-1}", for bce_logits "p0"..; for regression
 * "value" (or "value0".. for several outputs). GG_E_SHAPE for a classifier
 * with more than one row of logits per sample (sequence labelling). */
GG_API gg_status gg_trainer_predict_csv(gg_trainer *t, const gg_dataset *d, const char *out_csv);
/* The confusion matrix of a classifier on the test set (which = 0) or the
 * validation set (1): counts[true * C + predicted], C = gg_trainer_classes,
 * one count per row of logits (each step of a sequence model). The caller
 * owns counts (C * C longs). GG_E_STATE for a model that is not a
 * classifier or a missing set. This process's samples only: no MPI. */
GG_API gg_status gg_trainer_confusion(gg_trainer *t, int which, long *counts);
/* Generates n bytes after prompt from a character model (input: T byte ids,
 * output: (T, V) logits, causal), sampling softmax(logits / temperature)
 * with seed; writes prompt + generated text into out (cap bytes, always
 * terminated). */
GG_API gg_status gg_trainer_sample(gg_trainer *t, const gg_text *vocab, const char *prompt, int n, float temperature,
                                   uint64_t seed, char *out, size_t cap);

/* ==== data parallel (src/parallel) ======================================== */
/*
 * `mpirun -np N gradguard train CONFIG`: every rank builds the same model
 * from the same seed and reads its share of every global batch; the
 * gradient arena is summed over the ranks with one MPI_Allreduce per
 * optimizer step (dist.bucket_mb splits it), before the guard, so each
 * rank's guard sees identical numbers and takes the same decision; the
 * loss, accuracy and any failure are reduced too. Only rank 0 writes the
 * run directory. A program that trains over MPI calls gg_dist_init before
 * anything else and gg_dist_finalize at the end; the trainer asks this
 * layer for its rank and world size. Without gg_dist_init, or in a library
 * built without MPI (gg_dist_built() == 0), the world is one rank and
 * nothing else changes. The trainer's rules under N ranks (train.batch is
 * the global batch, batch norm per rank, ...) are in docs/distributed.md.
 */

/* 1 if the library was built with MPI. */
GG_API int gg_dist_built(void);
/* 1 if an MPI launcher started this process (OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_RANK in the environment). */
GG_API int gg_dist_launched(void);
/* Joins the MPI job when gg_dist_launched() (MPI_Init_thread, funneled:
 * only the calling thread may train); a no-op otherwise, so one binary
 * serves both. GG_E_STATE in a build without MPI started by a launcher
 * with more than one process (each would train alone); GG_E_IO if MPI
 * fails to start. */
GG_API gg_status gg_dist_init(int *argc, char ***argv);
/* Leaves the job (MPI_Finalize) if gg_dist_init joined it. Collective:
 * every rank calls it. */
GG_API void gg_dist_finalize(void);
/* This process's rank (0 .. size-1) and the number of ranks (1 without MPI). */
GG_API int gg_dist_rank(void);
GG_API int gg_dist_size(void);
/* Ends the whole job (MPI_Abort) with code, for a rank that failed on its
 * own while the others may be waiting for it. Returns only when there is no
 * job of several ranks. */
GG_API void gg_dist_abort(int code);
/* Seconds the current collective call has been waiting, 0 when none is in
 * progress. Safe from any thread: a watchdog thread compares it with
 * gg_dist_timeout() (the config's dist.timeout, 0 for none) to end a
 * process whose peers stopped answering without dying. */
GG_API double gg_dist_waiting(void);
GG_API double gg_dist_timeout(void);
/* Pruning a run (a config with a `prune` section): prunes now to the
 * schedule's target at the run's current step (a one-shot schedule: its
 * final sparsity), as the training loop would before its next step, logs
 * it, and gives the sparsity reached. GG_E_STATE without a prune section.
 * Used to measure a loaded model right after pruning, before fine-tuning. */
GG_API gg_status gg_trainer_prune(gg_trainer *t, double *sparsity);
/* The run's pruner (per-tensor sparsity), or NULL without pruning. */
GG_API gg_pruner *gg_trainer_pruner(gg_trainer *t);

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_H */

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
const char *gg_errmsg(void);
/* A short constant name for a status ("ok", "shape", ...). */
const char *gg_status_name(gg_status s);

/* ==== shapes ============================================================ */

#define GG_MAX_DIMS 4
#define GG_NAME_MAX 64

typedef struct gg_shape {
    int ndim;
    int d[GG_MAX_DIMS];
} gg_shape;

gg_shape gg_shape1(int a);
gg_shape gg_shape2(int a, int b);
gg_shape gg_shape3(int a, int b, int c);
gg_shape gg_shape4(int a, int b, int c, int d);
/* Number of elements of a shape (product of its dims). */
size_t gg_shape_numel(gg_shape s);
/* Writes "(a, b, c)" into buf; returns buf. */
char *gg_shape_str(gg_shape s, char *buf, size_t cap);

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
gg_graph *gg_graph_new(int max_batch);
void gg_graph_free(gg_graph *g);
/* The first build error (GG_OK if none); its message is gg_graph_errmsg. */
gg_status gg_graph_status(const gg_graph *g);
const char *gg_graph_errmsg(const gg_graph *g);

/* Name scope for the nodes built next: a layer builder sets it to the layer
 * name ("fc1") so that ops are named "fc1/linear" and a diagnosis can name
 * the layer. NULL or "" clears it. */
void gg_graph_scope(gg_graph *g, const char *layer);

/* Initialiser of a parameter tensor. fan_in/fan_out are taken from the
 * shape: (out, in) for dense weights, (out, in, kh, kw) for convolutions. */
typedef enum gg_init_kind {
    GG_INIT_ZEROS,
    GG_INIT_CONST,          /* a */
    GG_INIT_UNIFORM,        /* U(a, b) */
    GG_INIT_NORMAL,         /* N(a, b^2): mean a, std b */
    GG_INIT_XAVIER_UNIFORM, /* U(-r, r), r = a * sqrt(6 / (fan_in + fan_out)); a = gain (0 means 1) */
    GG_INIT_XAVIER_NORMAL,  /* N(0, a^2 * 2 / (fan_in + fan_out)) */
    GG_INIT_HE_UNIFORM,     /* U(-r, r), r = sqrt(6 / fan); fan = fan_in, or fan_out if b != 0 */
    GG_INIT_HE_NORMAL,      /* N(0, 2 / fan), fan as above */
    GG_INIT_ORTHOGONAL,     /* an orthogonal matrix (rows x cols), times gain a (0 means 1) */
    GG_INIT_LECUN_UNIFORM,  /* U(-r, r), r = sqrt(3 / fan_in): PyTorch's default for Linear */
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
gg_node gg_param(gg_graph *g, const char *name, gg_shape shape, gg_init init);
/* A non-trainable state tensor (batch-norm running statistics), kept in the
 * buffer arena and saved with checkpoints; every element starts at value. */
gg_node gg_buffer(gg_graph *g, const char *name, gg_shape shape, float value);
/* A data input with the shape of one sample. Filled before each forward
 * through gg_graph_data(). Inputs carry no gradient unless
 * gg_graph_requires_grad() says so. */
gg_node gg_input(gg_graph *g, const char *name, gg_shape sample_shape);
/* Ask for the gradient of an input (used by gradient checks). */
gg_status gg_graph_requires_grad(gg_graph *g, gg_node input);

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
const char *gg_act_name(gg_act a);
/* Parses a name; returns GG_ACT_COUNT if unknown. */
gg_act gg_act_parse(const char *name);

/* y = act(x W^T + b) over the last dim of x: x (..., in), W (out, in),
 * b (out) or -1 for none. Bias and activation are fused with the GEMM. */
gg_node gg_linear(gg_graph *g, gg_node x, gg_node w, gg_node b, gg_act act);
/* Matrix product over the last two dims: a (..., M, K) x b (..., K, N).
 * b may be an unbatched (K, N) parameter, or batched like a. */
gg_node gg_matmul(gg_graph *g, gg_node a, gg_node b);
/* Element-wise a + b and a * b. b has a's shape, or is unbatched with the
 * shape of a's trailing dims (broadcast over the leading ones). */
gg_node gg_add(gg_graph *g, gg_node a, gg_node b);
gg_node gg_mul(gg_graph *g, gg_node a, gg_node b);
/* s * x. */
gg_node gg_scale(gg_graph *g, gg_node x, float s);
/* Concatenation of a and b along `axis` of the sample shape (0 = first dim
 * after the batch); the other dims must agree. */
gg_node gg_concat(gg_graph *g, gg_node a, gg_node b, int axis);
/* x[..., start:start+len, ...] along `axis` of the sample shape. */
gg_node gg_slice(gg_graph *g, gg_node x, int axis, int start, int len);
/* The same data with another sample shape (same element count); a view. */
gg_node gg_reshape(gg_graph *g, gg_node x, gg_shape sample_shape);
/* (N, ...) -> (N, prod(...)); a view. */
gg_node gg_flatten(gg_graph *g, gg_node x);
/* Activations. */
gg_node gg_activation(gg_graph *g, gg_node x, gg_act act);
gg_node gg_relu(gg_graph *g, gg_node x);
gg_node gg_leaky_relu(gg_graph *g, gg_node x, float slope);
gg_node gg_elu(gg_graph *g, gg_node x, float alpha);
gg_node gg_gelu(gg_graph *g, gg_node x);
gg_node gg_tanh(gg_graph *g, gg_node x);
gg_node gg_sigmoid(gg_graph *g, gg_node x);
/* Softmax and log-softmax over the last dim. */
gg_node gg_softmax(gg_graph *g, gg_node x);
gg_node gg_log_softmax(gg_graph *g, gg_node x);
/* 2-D convolution: x (N, Cin, H, W), w (Cout, Cin, kh, kw), b (Cout) or -1.
 * Output (N, Cout, Ho, Wo), Ho = (H + 2 pad - dil (kh - 1) - 1) / stride + 1. */
gg_node gg_conv2d(gg_graph *g, gg_node x, gg_node w, gg_node b, int stride, int pad, int dilation, gg_act act);
/* Max and average pooling over k x k windows; global average pooling to
 * (N, C). Average pooling divides by k*k (padding counts). */
gg_node gg_maxpool2d(gg_graph *g, gg_node x, int k, int stride, int pad);
gg_node gg_avgpool2d(gg_graph *g, gg_node x, int k, int stride, int pad);
gg_node gg_global_avgpool(gg_graph *g, gg_node x);
/* Batch normalisation over all dims but the channel (dim 1 of (N, C, ...),
 * or features of (N, F)). gamma, beta: (C) params; mean, var: (C) buffers,
 * updated in training mode with `momentum` (PyTorch convention: new =
 * (1 - momentum) old + momentum batch; unbiased batch variance), used in
 * evaluation mode. */
gg_node gg_batchnorm(gg_graph *g, gg_node x, gg_node gamma, gg_node beta, gg_node mean, gg_node var, float momentum, float eps);
/* Layer normalisation over the last dim; gamma, beta of that size. */
gg_node gg_layernorm(gg_graph *g, gg_node x, gg_node gamma, gg_node beta, float eps);
/* Inverted dropout with drop probability p (training mode only). The mask
 * is a pure function of the graph seed, the node and gg_graph_set_rng_step(). */
gg_node gg_dropout(gg_graph *g, gg_node x, float p);
/* Rows of table (V, D) picked by idx (N, ...) holding integer ids stored as
 * floats: output (N, ..., D). An id outside [0, V) is an error at run time. */
gg_node gg_embedding(gg_graph *g, gg_node idx, gg_node table);
/* Sum of all elements of x (over the batch too) times s: a scalar. */
gg_node gg_sum(gg_graph *g, gg_node x, float s);

/* Losses: scalars, the mean over the batch (and time, for sequences). */
/* Softmax cross-entropy of logits (N, C) or (N, T, C) against class ids
 * (N) or (N, T) stored as floats; label smoothing eps in [0, 1). An id
 * outside [0, C) is an error at run time (gg_graph_forward fails). */
gg_node gg_softmax_xent(gg_graph *g, gg_node logits, gg_node labels, float smoothing);
/* Binary cross-entropy with logits; targets in [0, 1], x's shape. */
gg_node gg_bce_logits(gg_graph *g, gg_node logits, gg_node targets);
/* Mean squared error, mean over all elements. */
gg_node gg_mse(gg_graph *g, gg_node pred, gg_node target);
/* Huber loss with threshold delta, mean over all elements. */
gg_node gg_huber(gg_graph *g, gg_node pred, gg_node target, float delta);
/* Fraction of rows whose arg-max equals the label (no gradient). */
gg_node gg_accuracy(gg_graph *g, gg_node logits, gg_node labels);

/* ==== graph: run (src/core/graph.c) ===================================== */

typedef enum gg_mode { GG_TRAIN = 0, GG_EVAL = 1 } gg_mode;

/* Sorts the graph, plans every buffer and allocates the arenas. After this
 * no node may be added and no run call allocates. Fails with the first
 * build error, or GG_E_NOMEM if the plan does not fit. */
gg_status gg_graph_compile(gg_graph *g);
/* Initialises every parameter with its initialiser and every buffer with
 * its value, from seed (the same seed gives the same weights). */
gg_status gg_graph_init_params(gg_graph *g, uint64_t seed);
/* Seed of dropout masks and other run-time randomness. */
void gg_graph_set_seed(gg_graph *g, uint64_t seed);
/* The step counter the run-time randomness is keyed on. */
void gg_graph_set_rng_step(gg_graph *g, uint64_t step);
/* The batch size of the next runs, 1..max_batch. */
gg_status gg_graph_set_batch(gg_graph *g, int n);
int gg_graph_batch(const gg_graph *g);
int gg_graph_max_batch(const gg_graph *g);
/* The value buffer of a node (max_batch samples for activations), owned by
 * the graph. Write inputs here before a forward. NULL before compile. */
float *gg_graph_data(gg_graph *g, gg_node n);
/* The gradient buffer of a node, or NULL if it has none. */
float *gg_graph_grad(gg_graph *g, gg_node n);
/* Shape of a node (with the batch dim at max_batch for activations). */
gg_shape gg_graph_shape(const gg_graph *g, gg_node n);
const char *gg_graph_node_name(const gg_graph *g, gg_node n);
/* The op name of a node ("linear", "param", ...). */
const char *gg_graph_node_op(const gg_graph *g, gg_node n);
int gg_graph_num_nodes(const gg_graph *g);
/* Looks a node up by name; -1 if absent. */
gg_node gg_graph_find(const gg_graph *g, const char *name);
/* Runs every op that `out` depends on (or all ops if out < 0). Fails only
 * on bad run-time data (a class id out of range) or, in check mode, on the
 * first non-finite value. */
gg_status gg_graph_forward(gg_graph *g, gg_mode mode, gg_node out);
/* The scalar value of a one-element node after a forward. */
float gg_graph_scalar(const gg_graph *g, gg_node n);
/* Zeroes the gradient arena (one memset). */
void gg_graph_zero_grad(gg_graph *g);
/* Reverse-mode differentiation of scalar `loss` (times `scale`) after a
 * training forward. Parameter gradients are ADDED to the gradient arena,
 * so k backward calls accumulate k micro-batches. */
gg_status gg_graph_backward(gg_graph *g, gg_node loss, float scale);

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
void gg_graph_set_check(gg_graph *g, int on);
const gg_check_info *gg_graph_check_result(const gg_graph *g);
/* Fault injection for tests and the guard's own checks: after node n runs
 * in the given pass (0 forward, 1 backward), element 0 of its output (or its
 * input gradient, in backward) is overwritten with value. n = -1 clears. */
void gg_graph_inject(gg_graph *g, gg_node n, int backward, float value);

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

int gg_graph_num_params(const gg_graph *g);
/* Info on parameter i (0 .. num_params-1, in build order). */
gg_status gg_graph_param(const gg_graph *g, int i, gg_param_info *info);
/* The parameter, gradient and buffer arenas: one contiguous float buffer
 * each, owned by the graph; *n gets the element count. */
float *gg_graph_params(gg_graph *g, size_t *n);
float *gg_graph_grads(gg_graph *g, size_t *n);
int gg_graph_num_buffers(const gg_graph *g);
gg_status gg_graph_buffer(const gg_graph *g, int i, gg_param_info *info);
float *gg_graph_buffers(gg_graph *g, size_t *n);

/* ==== random numbers (src/core/rng.c) ===================================== */
/* xoshiro256** seeded through splitmix64: one generator per purpose. */
typedef struct gg_rng { uint64_t s[4]; } gg_rng;
void gg_rng_seed(gg_rng *r, uint64_t seed);
uint64_t gg_rng_next(gg_rng *r);
/* Uniform in [0, 1). */
double gg_rng_uniform(gg_rng *r);
/* Standard normal. */
double gg_rng_normal(gg_rng *r);
/* Uniform integer in [0, n). */
uint64_t gg_rng_below(gg_rng *r, uint64_t n);
/* A stateless hash of (key, counter) to a uniform float in [0, 1). */
float gg_hash_uniform(uint64_t key, uint64_t counter);

/* ==== initialisers (src/core/init.c) ===================================== */
/* Fills x (numel of shape) by init, drawing from r. */
gg_status gg_init_fill(float *x, gg_shape shape, gg_init init, gg_rng *r);

/* ==== layers (src/nn) ==================================================== */

/* ==== optimizers, schedules, regularisation (src/optim) ================== */

/* ==== data (src/data) ==================================================== */

/* ==== checkpoints (src/train/checkpoint.c) =============================== */

/* ==== guard (src/guard) ================================================== */

/* ==== trainer (src/train) ================================================ */

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_H */

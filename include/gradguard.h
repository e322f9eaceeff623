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
/*
 * Layer builders add ops to a graph and name their parameters
 * "<layer>.<param>" (fc1.weight (out, in), fc1.bias, bn1.weight, bn1.bias,
 * bn1.running_mean ...) with PyTorch's names and layouts, so weights move
 * between the two. Each returns the layer's output node, or -1 with the
 * graph's sticky error set (naming the layer).
 */

/* The default initialiser of a weight feeding activation act: He (Kaiming)
 * uniform for the ReLU family and GELU, Xavier uniform otherwise. */
gg_init gg_init_default(gg_act act);

/* Dense: act(x W^T + b), W (units, in). An x with a sample of more than one
 * dim is flattened first. bias 0 leaves the bias out. */
gg_node gg_dense(gg_graph *g, gg_node x, const char *name, int units, gg_act act, gg_init init, int bias);
/* Conv2d with a square kernel k, "same" padding when pad < 0. */
gg_node gg_conv(gg_graph *g, gg_node x, const char *name, int filters, int k, int stride, int pad, gg_act act,
                gg_init init);
/* Batch norm (weight = gamma 1, bias = beta 0, running mean 0 / var 1). */
gg_node gg_batchnorm_layer(gg_graph *g, gg_node x, const char *name, float momentum, float eps);
/* Layer norm over the last dim (weight 1, bias 0). */
gg_node gg_layernorm_layer(gg_graph *g, gg_node x, const char *name, float eps);

typedef enum gg_norm_kind { GG_NORM_NONE, GG_NORM_BATCH, GG_NORM_LAYER } gg_norm_kind;
/* Residual block of two dense layers of x's width:
 *   y = act(x + norm2(W2 act(norm1(W1 x))))
 * (norm optional). Parameters name.fc1.*, name.norm1.*, name.fc2.*, ... */
gg_node gg_residual_dense(gg_graph *g, gg_node x, const char *name, gg_norm_kind norm, gg_act act);
/* The same with two k x k convolutions (same padding, x's channels). */
gg_node gg_residual_conv(gg_graph *g, gg_node x, const char *name, int k, gg_norm_kind norm, gg_act act);

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
    GG_OPT_LBFGS,   /* see gg_lbfgs_minimize; as an optimizer: one iteration per batch */
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
    int lbfgs_history;  /* L-BFGS memory m */
} gg_optim_config;

/* PyTorch's defaults for kind (lr 1e-3 for Adam(W)/RMSprop, 1e-2 Adagrad,
 * 1e-2 SGD, 1 L-BFGS; betas 0.9/0.999, eps 1e-8, alpha 0.99 ...). */
gg_optim_config gg_optim_defaults(gg_optim_kind kind);
/* "sgd", "adam", "adamw", "rmsprop", "adagrad", "lbfgs"; NULL if unknown. */
const char *gg_optim_name(gg_optim_kind kind);
/* GG_OPT_COUNT if unknown. */
gg_optim_kind gg_optim_parse(const char *name);

typedef struct gg_optim gg_optim;

/* An optimizer over every parameter of the compiled graph g (which must
 * outlive it). NULL on failure (bad hyper-parameter: the message names it). */
gg_optim *gg_optim_new(gg_graph *g, const gg_optim_config *cfg);
void gg_optim_free(gg_optim *o);
/* A parameter group: parameters whose name matches the glob `pattern`
 * (fnmatch: "fc1.*", "*.bias") get lr * lr_scale and this weight_decay, L1
 * and L2. Later groups win. By default biases and normalisation parameters
 * (gg_param_info.no_decay) get no weight decay, L1 or L2; a group that
 * names them explicitly overrides that. */
gg_status gg_optim_add_group(gg_optim *o, const char *pattern, float lr_scale, float weight_decay, float l1, float l2);
/* Default L1 and L2 penalty coefficients for all decayed parameters. */
gg_status gg_optim_set_penalty(gg_optim *o, float l1, float l2);
/* Adds the L1/L2 penalties' gradient (l1 sign(p) + l2 p) to the gradient
 * arena and returns the penalty (sum l1|p| + l2/2 p^2), to be added to the
 * reported loss. 0 when no penalty is set. */
double gg_optim_penalty(gg_optim *o);
/* One update with learning rate lr (the schedule's), from the gradient
 * arena. Also measures, per parameter tensor, the L2 norm of the update
 * applied (gg_optim_update_norms). */
gg_status gg_optim_step(gg_optim *o, float lr);
/* Update norm of each parameter tensor in the last step (num_params
 * entries, owned by the optimizer). */
const double *gg_optim_update_norms(const gg_optim *o);
/* The state arena (moments), *n elements; NULL with *n = 0 for plain SGD. */
float *gg_optim_state(gg_optim *o, size_t *n);
/* Steps taken (Adam's bias correction uses it); settable for resume. */
uint64_t gg_optim_steps(const gg_optim *o);
void gg_optim_set_steps(gg_optim *o, uint64_t t);
/* Zeroes the state of parameter tensor i (or all, i = -1): the guard uses it
 * to forget moments poisoned by a bad step. */
gg_status gg_optim_reset(gg_optim *o, int i);
const gg_optim_config *gg_optim_get_config(const gg_optim *o);

/* Learning-rate schedules: a pure function of the step, except
 * reduce-on-plateau, which also watches a metric given once per epoch. */
typedef enum gg_sched_kind {
    GG_SCHED_CONSTANT,
    GG_SCHED_STEP,        /* lr * gamma^floor(step / step_size) */
    GG_SCHED_MULTISTEP,   /* lr * gamma^(milestones passed) */
    GG_SCHED_EXPONENTIAL, /* lr * gamma^step */
    GG_SCHED_COSINE,      /* min_lr + (lr - min_lr)(1 + cos(pi t / T))/2; restarts: T0, T_mult */
    GG_SCHED_ONECYCLE,    /* max_lr = lr; pct_start, div_factor, final_div_factor (cosine) */
    GG_SCHED_PLATEAU,     /* lr * factor after `patience` epochs without improvement */
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
    double plateau_scale; /* PLATEAU state (checkpointed) */
    double best;
    int bad_epochs, cooldown_left, seen;
} gg_schedule;

/* Defaults: constant, gamma 0.1, factor 0.1, patience 10, threshold 1e-4,
 * pct_start 0.3, div_factor 25, final_div_factor 1e4, t_mult 1. */
gg_schedule_config gg_schedule_defaults(gg_sched_kind kind, float lr);
const char *gg_sched_name(gg_sched_kind k);
gg_sched_kind gg_sched_parse(const char *name);
/* Checks the config (message names the bad field) and sets up state. */
gg_status gg_schedule_init(gg_schedule *s, const gg_schedule_config *c);
/* The learning rate at step (0-based), warm-up included. */
float gg_schedule_lr(const gg_schedule *s, long step);
/* Reduce-on-plateau: the epoch's validation metric; returns 1 if the rate
 * was reduced. A no-op returning 0 for the other kinds. */
int gg_schedule_observe(gg_schedule *s, double metric);

/* L-BFGS (Nocedal & Wright, alg. 7.4/7.5) with a strong-Wolfe line search,
 * on any differentiable objective: f returns the value at x and writes the
 * gradient into grad. Doubles throughout. */
typedef double (*gg_objective)(const double *x, double *grad, int n, void *ctx);

typedef struct gg_lbfgs_config {
    int m;          /* history size (default 10) */
    int max_iter;   /* iterations (default 100) */
    int max_evals;  /* objective evaluations (default 25 * max_iter) */
    double gtol;    /* stop when max |g_i| <= gtol (default 1e-6) */
    double ftol;    /* stop when the relative change of f <= ftol (default 0: off) */
    double c1, c2;  /* Wolfe constants (default 1e-4, 0.9) */
} gg_lbfgs_config;

typedef struct gg_lbfgs_result {
    int iters, evals;
    double f, gmax;
    int converged;
    char reason[64];
} gg_lbfgs_result;

gg_lbfgs_config gg_lbfgs_defaults(void);
/* Minimises f from x (n values, overwritten with the minimiser). Fails on
 * bad arguments or a non-finite f or gradient (message says where). */
gg_status gg_lbfgs_minimize(double *x, int n, gg_objective f, void *ctx, const gg_lbfgs_config *cfg,
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
    int ndim;            /* sample shape, e.g. (1, 28, 28) or (784) */
    int shape[3];
    size_t per;          /* features per sample */
    uint8_t *u8;         /* n * per, or NULL */
    float *f32;          /* n * per, or NULL */
    float scale;         /* feature = (raw * scale - mean) / std */
    float mean, std;
    float *labels;       /* n * label_per: class ids or regression targets */
    int label_per;       /* values per label row (1 for classes) */
    int num_classes;     /* 1 + the largest class id, 0 for regression targets */
    char source[256];    /* file name for messages */
} gg_dataset;

/* IDX files (MNIST, Fashion-MNIST), plain or gzip (detected by magic):
 * images (n, rows, cols) uint8 and labels (n) uint8. scale is set to 1/255. */
gg_status gg_dataset_load_idx(gg_dataset *ds, const char *images, const char *labels);
/* CSV with optional header; label_col is a column name (needs a header) or
 * a 0-based index as text ("0", "-1" for the last); NULL for no labels.
 * Every other column is a float feature. */
gg_status gg_dataset_load_csv(gg_dataset *ds, const char *path, const char *label_col, int has_header);
/* NumPy .npy: features (n, ...) float32/float64/uint8/int64 in C order; labels
 * (n) or (n, k) of any of those types, or NULL for none. */
gg_status gg_dataset_load_npy(gg_dataset *ds, const char *features, const char *labels);
void gg_dataset_free(gg_dataset *ds);
/* Splits src into train and val (val_fraction of the samples, chosen by
 * seed); both are new copies; src is left as it was. */
gg_status gg_dataset_split(const gg_dataset *src, double val_fraction, uint64_t seed, gg_dataset *train,
                           gg_dataset *val);
/* Sets mean and std from the data (over all features, after scale). */
void gg_dataset_standardize(gg_dataset *ds);
/* Writes samples idx[0..n) into x (n * per floats, normalised) and their
 * labels into y (n * label_per floats; y may be NULL). */
void gg_dataset_batch(const gg_dataset *ds, const size_t *idx, int n, float *x, float *y);
/* Fisher-Yates shuffle of perm[0..n) (filled with 0..n-1 first if fill). */
void gg_shuffle(size_t *perm, size_t n, int fill, gg_rng *r);

/* ==== checkpoints (src/io) =============================================== */
/*
 * Tensors on disk in the safetensors format (an 8-byte little-endian header
 * length, a JSON header of names, dtypes, shapes and offsets, then the raw
 * data), readable by other tools. gradguard adds a CRC-32 of the data to
 * the header's __metadata__ and checks it on load. Files are written to a
 * temporary name, fsynced, renamed, and the directory fsynced.
 */

typedef struct gg_st_entry {
    const char *name;
    gg_shape shape;
    const float *data;   /* float32, numel(shape) values */
} gg_st_entry;

/* Writes entries[0..n) (F32) and metadata pairs meta[0..2*nmeta) (key,
 * value strings) to path atomically. On failure the old file is untouched. */
gg_status gg_safetensors_write(const char *path, const gg_st_entry *entries, int n, const char *const *meta, int nmeta);

typedef struct gg_safetensors gg_safetensors;
/* Reads and validates a whole file (header bounds, offsets, dtypes, CRC if
 * present). F32, F64, F16, BF16, I64, I32, U8 tensors load as float32. */
gg_status gg_safetensors_open(const char *path, gg_safetensors **out);
void gg_safetensors_close(gg_safetensors *st);
int gg_safetensors_count(const gg_safetensors *st);
/* The i-th tensor (file order): name and shape; data owned by st. */
gg_status gg_safetensors_get(const gg_safetensors *st, int i, const char **name, gg_shape *shape, const float **data);
/* Looks a tensor up by name: GG_E_FORMAT naming it if absent. */
gg_status gg_safetensors_find(const gg_safetensors *st, const char *name, gg_shape *shape, const float **data);
/* A metadata value, or NULL. */
const char *gg_safetensors_meta(const gg_safetensors *st, const char *key);

/* Writes a whole file atomically: temp file in the same directory, write,
 * fsync, rename over path, fsync the directory. */
gg_status gg_write_atomic(const char *path, const void *data, size_t n);

/* ==== configuration (src/io/config.c) ===================================== */
/*
 * A YAML document (libyaml) as a tree with line numbers. Access is strict:
 * typed getters fail with the key path, the line and the expected type, and
 * gg_cfg_unused() names any key nobody read, so typos are errors.
 */

typedef struct gg_cfg gg_cfg;
typedef struct gg_cfg_node gg_cfg_node;
typedef enum gg_cfg_type { GG_CFG_NULL, GG_CFG_SCALAR, GG_CFG_MAP, GG_CFG_SEQ } gg_cfg_type;

gg_status gg_cfg_load(const char *path, gg_cfg **out);
gg_status gg_cfg_parse(const char *text, size_t len, const char *source_name, gg_cfg **out);
void gg_cfg_free(gg_cfg *c);
/* Applies "a.b.c=value" (value parsed as YAML scalar; a missing map key is
 * created; a sequence element is addressed by its index: model.2.units=64). */
gg_status gg_cfg_set(gg_cfg *c, const char *assignment);
gg_cfg_node *gg_cfg_root(gg_cfg *c);
/* Child of a map by key (marks it used), or NULL. */
gg_cfg_node *gg_cfg_get(gg_cfg_node *map, const char *key);
gg_cfg_type gg_cfg_node_type(const gg_cfg_node *n);
int gg_cfg_len(const gg_cfg_node *seq_or_map);
gg_cfg_node *gg_cfg_at(gg_cfg_node *seq, int i);
/* Key and value of the i-th entry of a map (marks it used). */
const char *gg_cfg_key_at(gg_cfg_node *map, int i, gg_cfg_node **value);
int gg_cfg_line(const gg_cfg_node *n);
/* "train.epochs" */
const char *gg_cfg_path(const gg_cfg_node *n);
/* Typed reads of map[key]: absent keys leave *out alone and return GG_OK;
 * a value of the wrong type or out of [lo, hi] is GG_E_CONFIG with file,
 * line, key path and what was expected. */
gg_status gg_cfg_int(gg_cfg_node *map, const char *key, long lo, long hi, long *out);
gg_status gg_cfg_float(gg_cfg_node *map, const char *key, double lo, double hi, double *out);
gg_status gg_cfg_bool(gg_cfg_node *map, const char *key, int *out);
/* The string stays owned by the config. */
gg_status gg_cfg_str(gg_cfg_node *map, const char *key, const char **out);
/* One of choices[0..n): *out gets its index. */
gg_status gg_cfg_enum(gg_cfg_node *map, const char *key, const char *const *choices, int n, int *out);
/* Typed reads of a scalar node itself (a sequence element); errors name
 * the file, line and path like the getters above. */
gg_status gg_cfg_as_int(gg_cfg_node *n, long lo, long hi, long *out);
gg_status gg_cfg_as_float(gg_cfg_node *n, double lo, double hi, double *out);
/* The text of a scalar node, or NULL for other types. */
const char *gg_cfg_scalar(const gg_cfg_node *n);
/* GG_E_CONFIG naming the first key (with its line) that was never read. */
gg_status gg_cfg_unused(gg_cfg *c);
/* Writes the document back as YAML (the resolved config of a run). */
gg_status gg_cfg_write(gg_cfg *c, const char *path);

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
    GG_DO_STOP,     /* end the run with status diverged */
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
    int reset_moments;         /* a skipped step also zeroes the moments of the bad tensors */
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
    int layer_every;           /* per-layer statistics to layers.csv every so many steps */
} gg_guard_config;

/* The default policy (see the README for the measurements behind it). */
gg_guard_config gg_guard_defaults(void);
const char *gg_clip_name(gg_clip_kind k);
gg_clip_kind gg_clip_parse(const char *name);
const char *gg_response_name(gg_response r);
gg_response gg_response_parse(const char *name);

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
    double sched_state[4];
} gg_train_pos;

typedef struct gg_guard gg_guard;
/* A guard over g and o (both must outlive it). Allocates its snapshot
 * arenas here, once. NULL on failure. */
gg_guard *gg_guard_new(gg_graph *g, gg_optim *o, const gg_guard_config *cfg);
void gg_guard_free(gg_guard *gd);
/* The inspect-decide-act stage. Call after backward with the step's mean
 * loss; clips and adds noise in the gradient arena in place. */
gg_guard_decision gg_guard_check(gg_guard *gd, long step, int epoch, double loss);
/* Call after the optimizer step was applied (or skipped) with the position
 * after it; takes a snapshot when one is due and checks the parameters. */
gg_guard_decision gg_guard_after_step(gg_guard *gd, const gg_train_pos *pos, int applied);
/* Restores the last snapshot (parameters, buffers, optimizer state) and
 * writes its position to *pos. GG_E_STATE if there is none. */
gg_status gg_guard_rollback(gg_guard *gd, gg_train_pos *pos);
/* Takes a snapshot now (the trainer takes one before the first step). */
void gg_guard_snapshot(gg_guard *gd, const gg_train_pos *pos);
const gg_guard_stats *gg_guard_last(const gg_guard *gd);
/* Records a check-mode diagnosis for the events. */
void gg_guard_diagnosis(gg_guard *gd, const gg_check_info *ci, const char *batch_desc);

typedef struct gg_guard_event {
    long step;
    int epoch;
    char signal[32];    /* "nonfinite", "grad_spike", "loss_spike", "trend", "budget", "clip" ... */
    double value, threshold;
    char action[32];    /* "clip", "skip", "backoff", "rollback", "stop", "warn" */
    char detail[256];   /* layers concerned, diagnosis, in one readable line */
} gg_guard_event;
/* Events since the last clear, owned by the guard. */
const gg_guard_event *gg_guard_events(const gg_guard *gd, int *n);
void gg_guard_clear_events(gg_guard *gd);

typedef struct gg_guard_counters {
    long clipped, skipped, backoffs, rollbacks, nonfinite, spikes, trends;
} gg_guard_counters;
const gg_guard_counters *gg_guard_counts(const gg_guard *gd);
/* Guard state that a checkpoint must carry (EMA statistics, lr scale ...):
 * *n doubles, owned by the guard; set_state restores it. */
const double *gg_guard_state(const gg_guard *gd, int *n);
gg_status gg_guard_set_state(gg_guard *gd, const double *s, int n);

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
    GG_EV_DONE    /* the run ended; message gives the status */
} gg_event_kind;

typedef struct gg_progress {
    gg_event_kind kind;
    long step, total_steps;
    int epoch, epochs;
    double loss, accuracy, lr, grad_norm;
    double samples_per_second, eta_seconds;
    double val_loss, val_accuracy; /* NAN when there is no validation set */
    const char *message;           /* NULL or one line, owned by the trainer */
} gg_progress;

typedef void (*gg_progress_fn)(const gg_progress *p, void *ctx);

typedef struct gg_trainer gg_trainer;

/* Sets up a run from cfg into run_dir (created if missing; NULL for no
 * files). Every config key is read and checked here; an unknown key or a
 * bad value fails with file, line and key. cfg must outlive the trainer. */
gg_status gg_trainer_new(gg_cfg *cfg, const char *run_dir, gg_trainer **out);
/* Continues the run in run_dir from its newest readable checkpoint (an
 * unreadable newest one is reported and the one before it used).
 * overrides[0..n) are "key=value" assignments applied to its config. */
gg_status gg_trainer_resume(const char *run_dir, const char *const *overrides, int n, gg_trainer **out);
void gg_trainer_free(gg_trainer *t);
void gg_trainer_set_progress(gg_trainer *t, gg_progress_fn fn, void *ctx);
/* Trains to the end (or early stop, or a stop request) and writes the run
 * directory. Returns GG_OK also when the run ended diverged or stalled:
 * gg_trainer_status says how it ended. */
gg_status gg_trainer_run(gg_trainer *t);
/* "completed", "stopped", "diverged", "stalled" or "running". */
const char *gg_trainer_status(const gg_trainer *t);
/* Asks a running gg_trainer_run to finish its step, checkpoint and return
 * with status "stopped" (safe to call from a signal handler). */
void gg_trainer_request_stop(gg_trainer *t);
/* The model graph, its loss node and the input/label nodes. */
gg_graph *gg_trainer_graph(gg_trainer *t);
/* Evaluates the model on the test set (or validation set if which = 1):
 * mean loss and accuracy. */
gg_status gg_trainer_evaluate(gg_trainer *t, int which, double *loss, double *accuracy);
/* Loads weights (and buffers) from a safetensors file into the model; every
 * tensor of the model must be present with its shape (errors name it). */
gg_status gg_model_load(gg_graph *g, const char *path);
/* Saves the model's parameters and buffers as safetensors. */
gg_status gg_model_save(gg_graph *g, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_H */

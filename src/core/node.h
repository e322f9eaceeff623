/*
 * node.h - the graph as modules outside src/core see it: its nodes (kind,
 * op, inputs, shape, attributes through ops/attr.h), the graph's state and
 * memory plan, and the helpers of builders. For code that builds or reads
 * nodes: the layer builders (src/nn), the guard's monitor and
 * initialisation check, the trainer's model set-up (a bias's first value,
 * the plan's size), and the two checks of the compiled flag (optim.c,
 * io/import.c). Everything else goes through the public API. Not installed;
 * core.h includes it for src/core.
 */
#ifndef GG_NODE_H
#define GG_NODE_H

#include "gradguard.h"

#define GG_MAX_IN 8
#define GG_MAX_ATTR 8

typedef enum gg_kind { GG_K_PARAM, GG_K_BUFFER, GG_K_INPUT, GG_K_OP } gg_kind;

/* Op numbers; the table in ops/table.c is indexed by them. */
typedef enum gg_opcode {
    GG_OP_LEAF = 0, /* param, buffer or input: no computation */
    GG_OP_LINEAR,
    GG_OP_MATMUL,
    GG_OP_ADD,
    GG_OP_MUL,
    GG_OP_SCALE,
    GG_OP_CONCAT,
    GG_OP_SLICE,
    GG_OP_RESHAPE,
    GG_OP_ACT,
    GG_OP_SOFTMAX,
    GG_OP_LOG_SOFTMAX,
    GG_OP_CONV2D,
    GG_OP_MAXPOOL,
    GG_OP_AVGPOOL,
    GG_OP_GLOBAL_AVGPOOL,
    GG_OP_BATCHNORM,
    GG_OP_LAYERNORM,
    GG_OP_DROPOUT,
    GG_OP_EMBEDDING,
    GG_OP_SUM,
    GG_OP_SOFTMAX_XENT,
    GG_OP_BCE_LOGITS,
    GG_OP_MSE,
    GG_OP_HUBER,
    GG_OP_ACCURACY,
    /* sequence models (src/core/ops/rnn.c, attention.c) */
    GG_OP_RNN,
    GG_OP_LSTM,
    GG_OP_GRU,
    GG_OP_ATTENTION,
    GG_OP_SOFTMAX_XENT_SOFT, /* soft targets (mixup), src/core/ops/loss.c */
    GG_OP_COUNT
} gg_opcode;

typedef struct gg_tensor {
    char name[GG_NAME_MAX];
    char layer[GG_NAME_MAX];
    gg_kind kind;
    int op;
    int nin;
    int in[GG_MAX_IN];
    gg_shape shape;   /* full shape; dim 0 is max_batch if batched */
    int batched;      /* dim 0 is the batch */
    size_t per;       /* elements per sample if batched, else numel */
    int needs_grad;   /* a gradient flows into this node */
    int no_decay;     /* parameter excluded from weight decay by default */
    gg_init init;     /* parameters */
    float fill;       /* buffers */
    float fa[GG_MAX_ATTR]; /* op attributes: read and written by name (ops/attr.h) */
    int ia[GG_MAX_ATTR];
    size_t off;       /* offset into the param / buffer arena */
    size_t ws_n;      /* workspace floats (per max batch) */
    float *val, *grad, *ws;
    int alias;        /* val/grad are the first input's (views) */
    int needed;       /* on the path to the requested output */
    uint64_t gpass;   /* the backward pass that first wrote (or zeroed) this activation gradient */
} gg_tensor;

struct gg_graph {
    gg_tensor *t;
    int n, cap;
    int max_batch, batch;
    gg_mode mode;
    int compiled;
    gg_status err;
    char errmsg[512];
    char scope[GG_NAME_MAX];
    int *order; /* topological order (build order is one already) */
    float *params, *grads, *bufs;
    size_t nparams, nbufs;
    float *acts, *act_grads, *wsmem;
    size_t nacts, nact_grads, nws;
    uint64_t seed, rng_step;
    int check;
    uint64_t bwd_pass; /* backward passes run (graph.c: each activation gradient starts a pass unwritten) */
    gg_check_info check_info;
    int inject_node, inject_bwd;
    float inject_val;
    int nparam_t, nbuf_t;
    int *param_idx, *buf_idx; /* node index of the i-th param / buffer */
    gg_status run_err;        /* set by an op at run time (bad label) */
};

/* 1 once gg_graph_compile has planned the graph. */
static inline int gg_graph_compiled(const gg_graph *g) { return g->compiled; }

/* Builder helpers (graph.c). */
/* Records a build error (first one wins) and returns -1. */
gg_node gg_build_fail(gg_graph *g, gg_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Valid, compiled-before check for a handle given to a builder. */
int gg_node_ok(gg_graph *g, gg_node n);
static inline gg_tensor *gg_T(gg_graph *g, gg_node n) { return &g->t[n]; }
static inline gg_tensor *gg_IN(gg_graph *g, gg_tensor *t, int i) { return &g->t[t->in[i]]; }

/* Run-time element counts with the current batch. */
static inline size_t gg_numel(const gg_graph *g, const gg_tensor *t)
{
    return t->batched ? (size_t)g->batch * t->per : t->per;
}
/* Rows = product of all dims but the last, at the current batch. */
static inline size_t gg_rows(const gg_graph *g, const gg_tensor *t)
{
    int last = t->shape.d[t->shape.ndim - 1];
    return gg_numel(g, t) / (size_t)(last > 0 ? last : 1);
}
static inline int gg_last(const gg_tensor *t) { return t->shape.d[t->shape.ndim - 1]; }

/* Sample shape (without the batch) of a batched node. */
gg_shape gg_sample_shape(const gg_tensor *t);

/* Bytes of memory this process can use: physical memory, lowered by a
 * cgroup's memory.max and by RLIMIT_AS (src/core/mem.c). Large plans are
 * checked against it before allocation (lazily committed pages would
 * otherwise end the process through the OOM killer, not an error). */
uint64_t gg_mem_physical(void);


#endif

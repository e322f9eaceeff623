/*
 * core.h - what graph.c and the op files (src/core/ops/) share: the op table,
 * adding an op node, the activation kernels of the fused ops, run-time
 * failures. Nothing outside src/core includes it (tests may). Other modules
 * include what src/core offers them: node.h (the graph and its nodes, for
 * code that builds or reads nodes), error.h, file.h, reduce.h.
 */
#ifndef GG_CORE_H
#define GG_CORE_H

#include "gradguard.h"
#include "error.h"
#include "file.h"
#include "node.h"
#include "reduce.h"

#include <stdarg.h>
#include <stdio.h>

/* The op table: forward and backward side by side in each family's file. */
typedef struct gg_opdef {
    const char *name;
    /* workspace floats needed for batch max_batch (NULL: none) */
    size_t (*ws)(const gg_graph *g, const gg_tensor *t);
    void (*fwd)(gg_graph *g, gg_tensor *t);
    /* adds into the grads of the inputs that need one (NULL: no gradient) */
    void (*bwd)(gg_graph *g, gg_tensor *t);
    int alias; /* output is a view of input 0 */
    /* bwd asks gg_grad_fresh for each input gradient it writes and, when it
     * is the pass's first writer, stores (every element) instead of adding;
     * the others' input gradients are zeroed before their bwd runs */
    int fresh;
} gg_opdef;

/* One row per gg_opcode, written with designated initializers in
 * ops/table.c. Declared without a size so that table.c's _Static_assert
 * sees the size of its initializer: a missing last row does not compile,
 * and a missing row elsewhere is a NULL name or forward that
 * tests/test_ops_core.c's check_op_table finds. */
extern const gg_opdef gg_opdefs[];

/* For a bwd of an op marked `fresh`, just before it writes x's gradient: 1
 * when nothing has written it yet in this backward pass (its contents are
 * stale: store every element), 0 when it holds this pass's sum (add to
 * it). Each call counts as a write (graph.c). */
int gg_grad_fresh(gg_graph *g, gg_tensor *x);

/* Adds an op node; checks inputs are valid; returns -1 on a sticky error. */
gg_node gg_add_node(gg_graph *g, int op, const char *opname, const gg_node *in, int nin, gg_shape shape, int batched);
/* Activation functions shared by linear, conv and act ops; p is the slope
 * of leaky ReLU or the alpha of ELU (0 means the default). y may be x. */
void gg_act_forward(gg_act a, float p, const float *x, float *y, size_t n);
/* d <- d * act'(x), from the output y; GELU also needs the pre-activation
 * x (NULL is fine for the others). */
void gg_act_backward_inplace(gg_act a, float p, const float *x, const float *y, float *d, size_t n);
/* 1 if act's derivative needs the pre-activation (GELU). */
int gg_act_needs_input(gg_act a);
/* Records a run-time failure (first wins). */
void gg_run_fail(gg_graph *g, gg_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

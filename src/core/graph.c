/*
 * graph.c - building, planning and running the static graph.
 *
 * Nodes are stored in build order, which is already a topological order
 * (an op can only take nodes built before it). compile() sizes the three
 * arenas (parameters, gradients, buffers) and one block each for
 * activations, their gradients and op workspaces; run calls only index
 * into them.
 */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound on the planned memory, so a mistaken shape is an error and
 * not an attempt to allocate terabytes. */
#define GG_PLAN_MAX_FLOATS ((size_t)1 << 33) /* 32 GiB */

gg_shape gg_shape1(int a) { gg_shape s = {1, {a, 0, 0, 0}}; return s; }
gg_shape gg_shape2(int a, int b) { gg_shape s = {2, {a, b, 0, 0}}; return s; }
gg_shape gg_shape3(int a, int b, int c) { gg_shape s = {3, {a, b, c, 0}}; return s; }
gg_shape gg_shape4(int a, int b, int c, int d) { gg_shape s = {4, {a, b, c, d}}; return s; }

size_t gg_shape_numel(gg_shape s)
{
    size_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= (size_t)(s.d[i] > 0 ? s.d[i] : 0);
    return n;
}

char *gg_shape_str(gg_shape s, char *buf, size_t cap)
{
    size_t k = 0;
    if (cap == 0) return buf;
    k += (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < s.ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %d" : "%d", s.d[i]);
    if (k < cap) snprintf(buf + k, cap - k, ")");
    return buf;
}

gg_shape gg_sample_shape(const gg_tensor *t)
{
    gg_shape s = {0, {0, 0, 0, 0}};
    if (!t->batched) return t->shape;
    for (int i = 1; i < t->shape.ndim; i++) s.d[s.ndim++] = t->shape.d[i];
    return s;
}

gg_graph *gg_graph_new(int max_batch)
{
    if (max_batch < 1 || max_batch > (1 << 24)) {
        gg_fail(GG_E_ARG, "gg_graph_new: max_batch %d is outside 1..%d", max_batch, 1 << 24);
        return NULL;
    }
    gg_graph *g = calloc(1, sizeof *g);
    if (!g) {
        gg_fail(GG_E_NOMEM, "gg_graph_new: out of memory");
        return NULL;
    }
    g->max_batch = g->batch = max_batch;
    g->inject_node = -1;
    g->seed = 0x9e3779b97f4a7c15ull;
    return g;
}

void gg_graph_free(gg_graph *g)
{
    if (!g) return;
    free(g->t);
    free(g->order);
    free(g->params);
    free(g->grads);
    free(g->bufs);
    free(g->acts);
    free(g->act_grads);
    free(g->wsmem);
    free(g->param_idx);
    free(g->buf_idx);
    free(g);
}

gg_status gg_graph_status(const gg_graph *g) { return g ? g->err : GG_E_ARG; }
const char *gg_graph_errmsg(const gg_graph *g) { return g ? g->errmsg : "no graph"; }

gg_node gg_build_fail(gg_graph *g, gg_status s, const char *fmt, ...)
{
    if (g->err == GG_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->errmsg, sizeof g->errmsg, fmt, ap);
        va_end(ap);
        g->err = s;
    }
    return -1;
}

void gg_run_fail(gg_graph *g, gg_status s, const char *fmt, ...)
{
    if (g->run_err != GG_OK) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g->run_err = s;
    gg_fail(s, "%s", msg);
}

void gg_graph_scope(gg_graph *g, const char *layer)
{
    if (!g) return;
    snprintf(g->scope, sizeof g->scope, "%s", layer ? layer : "");
}

int gg_node_ok(gg_graph *g, gg_node n) { return g && n >= 0 && n < g->n; }

static gg_node new_node(gg_graph *g, gg_kind kind, const char *name, gg_shape shape, int batched)
{
    if (g->compiled) return gg_build_fail(g, GG_E_STATE, "cannot add '%s': the graph is already compiled", name);
    if (shape.ndim < 1 || shape.ndim > GG_MAX_DIMS)
        return gg_build_fail(g, GG_E_SHAPE, "'%s': %d dimensions (1..%d allowed)", name, shape.ndim, GG_MAX_DIMS);
    for (int i = 0; i < shape.ndim; i++)
        if (shape.d[i] < 1 || shape.d[i] > (1 << 28))
            return gg_build_fail(g, GG_E_SHAPE, "'%s': dim %d is %d (must be 1..%d)", name, i, shape.d[i], 1 << 28);
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 64;
        gg_tensor *t = realloc(g->t, (size_t)cap * sizeof *t);
        if (!t) return gg_build_fail(g, GG_E_NOMEM, "out of memory adding '%s'", name);
        g->t = t;
        g->cap = cap;
    }
    gg_tensor *t = &g->t[g->n];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->layer, sizeof t->layer, "%s", g->scope);
    t->kind = kind;
    t->batched = batched;
    t->shape = shape;
    t->per = gg_shape_numel(shape) / (batched ? (size_t)shape.d[0] : 1);
    if (gg_shape_numel(shape) > GG_PLAN_MAX_FLOATS)
        return gg_build_fail(g, GG_E_NOMEM, "'%s' has %zu elements, over the limit %zu", name,
                             gg_shape_numel(shape), GG_PLAN_MAX_FLOATS);
    return g->n++;
}

static int name_taken(const gg_graph *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (g->t[i].kind != GG_K_OP && strcmp(g->t[i].name, name) == 0) return 1;
    return 0;
}

static int leaf_name_ok(gg_graph *g, const char *what, const char *name)
{
    if (!name || !*name) {
        gg_build_fail(g, GG_E_ARG, "%s: empty name", what);
        return 0;
    }
    if (strlen(name) >= GG_NAME_MAX) {
        gg_build_fail(g, GG_E_ARG, "%s '%s': name longer than %d characters", what, name, GG_NAME_MAX - 1);
        return 0;
    }
    if (name_taken(g, name)) {
        gg_build_fail(g, GG_E_ARG, "%s '%s': the name is already used", what, name);
        return 0;
    }
    return 1;
}

/* "fc1.bias" and normalisation parameters are excluded from decay. */
static int is_no_decay(const char *name, gg_shape s)
{
    const char *dot = strrchr(name, '.');
    const char *last = dot ? dot + 1 : name;
    if (strcmp(last, "bias") == 0 || strcmp(last, "gamma") == 0 || strcmp(last, "beta") == 0) return 1;
    /* a 1-D weight is a normalisation scale */
    return s.ndim == 1 && strcmp(last, "weight") == 0;
}

gg_node gg_param(gg_graph *g, const char *name, gg_shape shape, gg_init init)
{
    if (!g || g->err) return -1;
    if (!leaf_name_ok(g, "parameter", name)) return -1;
    if (init.kind < 0 || init.kind >= GG_INIT_COUNT)
        return gg_build_fail(g, GG_E_ARG, "parameter '%s': unknown initialiser %d", name, (int)init.kind);
    gg_node n = new_node(g, GG_K_PARAM, name, shape, 0);
    if (n < 0) return n;
    g->t[n].init = init;
    g->t[n].needs_grad = 1;
    g->t[n].no_decay = is_no_decay(name, shape);
    /* the layer of "fc1.weight" is "fc1" whatever the scope */
    const char *dot = strrchr(name, '.');
    if (dot) snprintf(g->t[n].layer, sizeof g->t[n].layer, "%.*s", (int)(dot - name), name);
    return n;
}

gg_node gg_buffer(gg_graph *g, const char *name, gg_shape shape, float value)
{
    if (!g || g->err) return -1;
    if (!leaf_name_ok(g, "buffer", name)) return -1;
    gg_node n = new_node(g, GG_K_BUFFER, name, shape, 0);
    if (n < 0) return n;
    g->t[n].fill = value;
    const char *dot = strrchr(name, '.');
    if (dot) snprintf(g->t[n].layer, sizeof g->t[n].layer, "%.*s", (int)(dot - name), name);
    return n;
}

gg_node gg_input(gg_graph *g, const char *name, gg_shape sample_shape)
{
    if (!g || g->err) return -1;
    if (!leaf_name_ok(g, "input", name)) return -1;
    if (sample_shape.ndim < 1 || sample_shape.ndim > GG_MAX_DIMS - 1)
        return gg_build_fail(g, GG_E_SHAPE, "input '%s': a sample has %d dims (1..%d allowed)", name,
                             sample_shape.ndim, GG_MAX_DIMS - 1);
    gg_shape s = {sample_shape.ndim + 1, {g->max_batch, 0, 0, 0}};
    for (int i = 0; i < sample_shape.ndim; i++) s.d[i + 1] = sample_shape.d[i];
    gg_node n = new_node(g, GG_K_INPUT, name, s, 1);
    if (n >= 0) g->t[n].layer[0] = 0;
    return n;
}

gg_status gg_graph_requires_grad(gg_graph *g, gg_node n)
{
    if (!g) return gg_fail(GG_E_ARG, "gg_graph_requires_grad: no graph");
    if (g->compiled) return gg_fail(GG_E_STATE, "gg_graph_requires_grad: the graph is already compiled");
    if (!gg_node_ok(g, n) || g->t[n].kind != GG_K_INPUT)
        return gg_fail(GG_E_ARG, "gg_graph_requires_grad: node %d is not an input", n);
    g->t[n].needs_grad = 1;
    return GG_OK;
}

gg_node gg_add_node(gg_graph *g, int op, const char *opname, const gg_node *in, int nin, gg_shape shape, int batched)
{
    if (!g || g->err) return -1;
    for (int i = 0; i < nin; i++)
        if (!gg_node_ok(g, in[i]))
            return gg_build_fail(g, GG_E_ARG, "%s: input %d is not a node of this graph (%d)", opname, i, in[i]);
    char name[GG_NAME_MAX];
    int k = 0;
    /* "fc1/linear", "fc1/linear.2" for a second one in the same scope */
    for (;;) {
        if (g->scope[0])
            snprintf(name, sizeof name, k ? "%.30s/%.20s.%d" : "%.30s/%.20s", g->scope, opname, k + 1);
        else
            snprintf(name, sizeof name, k ? "%.20s.%d" : "%.20s", opname, k + 1);
        int dup = 0;
        for (int i = g->n - 1; i >= 0 && !dup; i--)
            if (g->t[i].kind == GG_K_OP && strcmp(g->t[i].name, name) == 0) dup = 1;
        if (!dup) break;
        k++;
    }
    gg_node n = new_node(g, GG_K_OP, name, shape, batched);
    if (n < 0) return n;
    gg_tensor *t = &g->t[n];
    t->op = op;
    t->nin = nin;
    for (int i = 0; i < nin; i++) {
        t->in[i] = in[i];
        if (g->t[in[i]].needs_grad && gg_opdefs[op].bwd) t->needs_grad = 1;
    }
    return n;
}

/* ---- compile ------------------------------------------------------------ */

static float *alloc_floats(size_t n)
{
    if (n == 0) n = 1;
    return calloc(n, sizeof(float));
}

gg_status gg_graph_compile(gg_graph *g)
{
    if (!g) return gg_fail(GG_E_ARG, "gg_graph_compile: no graph");
    if (g->err) return gg_fail(g->err, "%s", g->errmsg);
    if (g->compiled) return GG_OK;
    if (g->n == 0) return gg_fail(GG_E_STATE, "gg_graph_compile: the graph is empty");
    size_t np = 0, nb = 0, na = 0, nag = 0, nw = 0;
    int npt = 0, nbt = 0;
    for (int i = 0; i < g->n; i++) {
        gg_tensor *t = &g->t[i];
        size_t full = gg_shape_numel(t->shape);
        if (t->kind == GG_K_PARAM) {
            t->off = np;
            np += full;
            npt++;
        } else if (t->kind == GG_K_BUFFER) {
            t->off = nb;
            nb += full;
            nbt++;
        } else if (t->kind == GG_K_OP && gg_opdefs[t->op].alias) {
            t->alias = 1;
        } else {
            na += full;
            if (t->needs_grad) nag += full;
        }
        if (t->kind == GG_K_OP && gg_opdefs[t->op].ws) {
            t->ws_n = gg_opdefs[t->op].ws(g, t);
            nw += t->ws_n;
        }
        if (np + nb + na + nag + nw > GG_PLAN_MAX_FLOATS)
            return gg_fail(GG_E_NOMEM, "gg_graph_compile: the plan needs more than %zu floats (at '%s')",
                           GG_PLAN_MAX_FLOATS, t->name);
    }
    /* calloc of a plan larger than memory succeeds (the pages are committed
     * lazily) and the first step is killed: refuse it here, by size */
    uint64_t plan = (uint64_t)(2 * np + nb + na + nag + nw) * sizeof(float), mem = gg_mem_physical();
    if (plan > mem)
        return gg_fail(GG_E_NOMEM,
                       "gg_graph_compile: the plan needs %llu MiB of arenas (%zu parameters, %zu activation floats), "
                       "more than the %llu MiB of memory this process may use",
                       (unsigned long long)(plan >> 20), np, na, (unsigned long long)(mem >> 20));
    g->params = alloc_floats(np);
    g->grads = alloc_floats(np);
    g->bufs = alloc_floats(nb);
    g->acts = alloc_floats(na);
    g->act_grads = alloc_floats(nag);
    g->wsmem = alloc_floats(nw);
    g->param_idx = malloc(sizeof(int) * (size_t)(npt ? npt : 1));
    g->buf_idx = malloc(sizeof(int) * (size_t)(nbt ? nbt : 1));
    if (!g->params || !g->grads || !g->bufs || !g->acts || !g->act_grads || !g->wsmem || !g->param_idx ||
        !g->buf_idx) {
        size_t mib = (2 * np + nb + na + nag + nw) * sizeof(float) >> 20;
        return gg_fail(GG_E_NOMEM, "gg_graph_compile: out of memory allocating %zu MiB of arenas", mib);
    }
    g->nparams = np;
    g->nbufs = nb;
    g->nacts = na;
    g->nact_grads = nag;
    g->nws = nw;
    size_t oa = 0, og = 0, ow = 0;
    for (int i = 0; i < g->n; i++) {
        gg_tensor *t = &g->t[i];
        size_t full = gg_shape_numel(t->shape);
        if (t->kind == GG_K_PARAM) {
            t->val = g->params + t->off;
            t->grad = g->grads + t->off;
            g->param_idx[g->nparam_t++] = i;
        } else if (t->kind == GG_K_BUFFER) {
            t->val = g->bufs + t->off;
            g->buf_idx[g->nbuf_t++] = i;
        } else if (t->alias) {
            gg_tensor *src = &g->t[t->in[0]];
            t->val = src->val;
            t->grad = src->grad;
        } else {
            t->val = g->acts + oa;
            oa += full;
            if (t->needs_grad) {
                t->grad = g->act_grads + og;
                og += full;
            }
        }
        if (t->ws_n) {
            t->ws = g->wsmem + ow;
            ow += t->ws_n;
        }
    }
    g->compiled = 1;
    return GG_OK;
}

gg_status gg_graph_init_params(gg_graph *g, uint64_t seed)
{
    if (!g || !g->compiled) return gg_fail(GG_E_STATE, "gg_graph_init_params: the graph is not compiled");
    gg_rng r;
    for (int i = 0; i < g->n; i++) {
        gg_tensor *t = &g->t[i];
        if (t->kind == GG_K_PARAM) {
            /* one stream per parameter, keyed by its position, so adding a
             * layer at the end does not change the others' weights */
            gg_rng_seed(&r, seed ^ (0x632be59bd9b4e019ull * (uint64_t)(i + 1)));
            gg_status s = gg_init_fill(t->val, t->shape, t->init, &r);
            if (s) return gg_fail(s, "initialising '%s': %s", t->name, gg_errmsg());
        } else if (t->kind == GG_K_BUFFER) {
            size_t n = gg_shape_numel(t->shape);
            for (size_t k = 0; k < n; k++) t->val[k] = t->fill;
        }
    }
    return GG_OK;
}

void gg_graph_set_seed(gg_graph *g, uint64_t seed) { if (g) g->seed = seed; }
void gg_graph_set_rng_step(gg_graph *g, uint64_t step) { if (g) g->rng_step = step; }

gg_status gg_graph_set_batch(gg_graph *g, int n)
{
    if (!g) return gg_fail(GG_E_ARG, "gg_graph_set_batch: no graph");
    if (n < 1 || n > g->max_batch)
        return gg_fail(GG_E_ARG, "gg_graph_set_batch: batch %d is outside 1..%d", n, g->max_batch);
    g->batch = n;
    return GG_OK;
}
int gg_graph_batch(const gg_graph *g) { return g ? g->batch : 0; }
int gg_graph_max_batch(const gg_graph *g) { return g ? g->max_batch : 0; }

float *gg_graph_data(gg_graph *g, gg_node n) { return g && g->compiled && gg_node_ok(g, n) ? g->t[n].val : NULL; }
float *gg_graph_grad(gg_graph *g, gg_node n) { return g && g->compiled && gg_node_ok(g, n) ? g->t[n].grad : NULL; }

gg_shape gg_graph_shape(const gg_graph *g, gg_node n)
{
    gg_shape z = {0, {0, 0, 0, 0}};
    return g && n >= 0 && n < g->n ? g->t[n].shape : z;
}
const char *gg_graph_node_name(const gg_graph *g, gg_node n) { return g && n >= 0 && n < g->n ? g->t[n].name : ""; }
const char *gg_graph_node_op(const gg_graph *g, gg_node n)
{
    if (!g || n < 0 || n >= g->n) return "";
    const gg_tensor *t = &g->t[n];
    if (t->kind == GG_K_PARAM) return "param";
    if (t->kind == GG_K_BUFFER) return "buffer";
    if (t->kind == GG_K_INPUT) return "input";
    return gg_opdefs[t->op].name;
}
int gg_graph_num_nodes(const gg_graph *g) { return g ? g->n : 0; }

gg_node gg_graph_node_input(const gg_graph *g, gg_node n, int k)
{
    if (!g || n < 0 || n >= g->n || k < 0 || k >= g->t[n].nin) return -1;
    return g->t[n].in[k];
}

const char *gg_graph_node_layer(const gg_graph *g, gg_node n) { return g && n >= 0 && n < g->n ? g->t[n].layer : ""; }

gg_node gg_graph_find(const gg_graph *g, const char *name)
{
    if (!g || !name) return -1;
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->t[i].name, name) == 0) return i;
    return -1;
}

/* ---- run ---------------------------------------------------------------- */

/* Marks the nodes `out` depends on; all nodes if out < 0. */
static void mark_needed(gg_graph *g, gg_node out)
{
    if (out < 0) {
        for (int i = 0; i < g->n; i++) g->t[i].needed = 1;
        return;
    }
    for (int i = 0; i < g->n; i++) g->t[i].needed = 0;
    g->t[out].needed = 1;
    for (int i = out; i >= 0; i--) {
        if (!g->t[i].needed) continue;
        for (int k = 0; k < g->t[i].nin; k++) g->t[g->t[i].in[k]].needed = 1;
    }
}

/* First non-finite element of x[0..n), or -1. */
static long first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

static void record_bad(gg_graph *g, gg_tensor *t, int bwd, const char *input, long idx, float v)
{
    gg_check_info *c = &g->check_info;
    c->found = 1;
    c->backward = bwd;
    c->node = (gg_node)(t - g->t);
    snprintf(c->op, sizeof c->op, "%s", gg_graph_node_op(g, c->node));
    snprintf(c->name, sizeof c->name, "%s", t->name);
    snprintf(c->layer, sizeof c->layer, "%s", t->layer);
    snprintf(c->input, sizeof c->input, "%s", input ? input : "");
    c->index = idx;
    c->value = v;
}

static size_t leaf_numel(const gg_graph *g, const gg_tensor *t) { return gg_numel(g, t); }

/* Checks leaves (inputs, parameters) before the forward pass so a bad
 * input is reported as such, not as the first op that read it. */
static int check_leaves(gg_graph *g)
{
    for (int i = 0; i < g->n; i++) {
        gg_tensor *t = &g->t[i];
        if (!t->needed || t->kind == GG_K_OP) continue;
        long k = first_nonfinite(t->val, leaf_numel(g, t));
        if (k >= 0) {
            record_bad(g, t, 0, t->name, k, t->val[k]);
            return 1;
        }
    }
    return 0;
}

gg_status gg_graph_forward(gg_graph *g, gg_mode mode, gg_node out)
{
    if (!g || !g->compiled) return gg_fail(GG_E_STATE, "gg_graph_forward: the graph is not compiled");
    if (out >= g->n) return gg_fail(GG_E_ARG, "gg_graph_forward: node %d is not in the graph", out);
    g->mode = mode;
    g->run_err = GG_OK;
    mark_needed(g, out);
    if (g->check) {
        memset(&g->check_info, 0, sizeof g->check_info);
        if (check_leaves(g))
            return gg_fail(GG_E_NONFINITE, "non-finite value in input '%s' at element %ld",
                           g->check_info.name, g->check_info.index);
    }
    for (int i = 0; i < g->n; i++) {
        gg_tensor *t = &g->t[i];
        if (t->kind != GG_K_OP || !t->needed) continue;
        gg_opdefs[t->op].fwd(g, t);
        if (g->run_err) return g->run_err;
        if (g->inject_node == i && !g->inject_bwd) t->val[0] = g->inject_val;
        if (g->check && !t->alias) {
            long k = first_nonfinite(t->val, gg_numel(g, t));
            if (k >= 0) {
                record_bad(g, t, 0, NULL, k, t->val[k]);
                return gg_fail(GG_E_NONFINITE, "forward: op '%s' produced %g at element %ld", t->name,
                               (double)t->val[k], k);
            }
        }
    }
    return GG_OK;
}

float gg_graph_scalar(const gg_graph *g, gg_node n)
{
    if (!g || !g->compiled || n < 0 || n >= g->n) return NAN;
    return g->t[n].val[0];
}

void gg_graph_zero_grad(gg_graph *g)
{
    if (g && g->compiled) memset(g->grads, 0, g->nparams * sizeof(float));
}

/* One op's backward, with the check mode's tests of what goes in and out. */
static gg_status backward_op(gg_graph *g, int i)
{
    gg_tensor *t = &g->t[i];
    if (g->check && !(g->inject_node == i && g->inject_bwd)) {
        long k = first_nonfinite(t->grad, gg_numel(g, t));
        if (k >= 0) {
            /* the gradient arriving here is bad: blame the op that
             * wrote it last, which is the consumer run just before */
            record_bad(g, t, 1, NULL, k, t->grad[k]);
            return gg_fail(GG_E_NONFINITE, "backward: gradient into '%s' is %g at element %ld", t->name,
                           (double)t->grad[k], k);
        }
    }
    gg_opdefs[t->op].bwd(g, t);
    if (g->inject_node == i && g->inject_bwd) {
        for (int k = 0; k < t->nin; k++) {
            gg_tensor *x = &g->t[t->in[k]];
            if (x->grad) {
                x->grad[0] = g->inject_val;
                break;
            }
        }
    }
    if (g->check) {
        for (int k = 0; k < t->nin; k++) {
            gg_tensor *x = &g->t[t->in[k]];
            if (!x->grad || !x->needs_grad) continue;
            long j = first_nonfinite(x->grad, gg_numel(g, x));
            if (j >= 0) {
                record_bad(g, t, 1, x->name, j, x->grad[j]);
                return gg_fail(GG_E_NONFINITE, "backward: op '%s' produced %g in the gradient of '%s'",
                               t->name, (double)x->grad[j], x->name);
            }
        }
    }
    return GG_OK;
}

/* Activation gradients start each backward pass at zero without a sweep
 * of their own over the arena (tens of MB for a small transformer, 6% of
 * its step, which the ops then read back from memory): the first op to
 * write one in a pass stores into it (ops marked `fresh`, through
 * gg_grad_fresh), or it is zeroed just before that op's bwd adds into it.
 * A gradient is its owner's through views (reshape). Parameter gradients
 * accumulate across passes (gg_graph_zero_grad). */
static gg_tensor *grad_owner(gg_graph *g, gg_tensor *t)
{
    while (t->alias) t = &g->t[t->in[0]];
    return t->kind == GG_K_PARAM || !t->grad ? NULL : t;
}

int gg_grad_fresh(gg_graph *g, gg_tensor *x)
{
    gg_tensor *o = grad_owner(g, x);
    if (!o || o->gpass == g->bwd_pass) return 0;
    o->gpass = g->bwd_pass;
    return 1;
}

/* zero it if nothing has written it in this pass */
static void grad_zero_unwritten(gg_graph *g, gg_tensor *x)
{
    gg_tensor *o = grad_owner(g, x);
    if (!o || o->gpass == g->bwd_pass) return;
    o->gpass = g->bwd_pass;
    memset(o->grad, 0, gg_numel(g, o) * sizeof(float));
}

gg_status gg_graph_backward(gg_graph *g, gg_node loss, float scale)
{
    if (!g || !g->compiled) return gg_fail(GG_E_STATE, "gg_graph_backward: the graph is not compiled");
    if (!gg_node_ok(g, loss) || g->t[loss].kind != GG_K_OP || gg_numel(g, &g->t[loss]) != 1)
        return gg_fail(GG_E_ARG, "gg_graph_backward: node %d is not a scalar op output", loss);
    if (!g->t[loss].needs_grad)
        return gg_fail(GG_E_STATE, "gg_graph_backward: '%s' depends on no parameter", g->t[loss].name);
    mark_needed(g, loss);
    g->bwd_pass++;
    grad_zero_unwritten(g, &g->t[loss]);
    g->t[loss].grad[0] = scale;
    gg_status st = GG_OK;
    for (int i = loss; i >= 0 && st == GG_OK; i--) {
        gg_tensor *t = &g->t[i];
        if (t->kind != GG_K_OP || !t->needed || !t->needs_grad || t->alias) continue;
        grad_zero_unwritten(g, t); /* no consumer wrote it: it is zero */
        int fresh = gg_opdefs[t->op].fresh;
        if (!fresh)
            for (int k = 0; k < t->nin; k++) grad_zero_unwritten(g, &g->t[t->in[k]]);
        st = backward_op(g, i);
        /* an input the op did not write (it needs no gradient there) */
        if (fresh)
            for (int k = 0; k < t->nin; k++) grad_zero_unwritten(g, &g->t[t->in[k]]);
    }
    /* the gradients this pass did not reach (off the loss's path; inputs
     * asked to carry one) read zero, as after a full sweep */
    for (int i = 0; i < g->n; i++) grad_zero_unwritten(g, &g->t[i]);
    return st;
}


void gg_graph_set_check(gg_graph *g, int on) { if (g) g->check = on; }
const gg_check_info *gg_graph_check_result(const gg_graph *g) { return g ? &g->check_info : NULL; }

void gg_graph_inject(gg_graph *g, gg_node n, int backward, float value)
{
    if (!g) return;
    g->inject_node = n;
    g->inject_bwd = backward;
    g->inject_val = value;
}

/* ---- parameters ---------------------------------------------------------- */

int gg_graph_num_params(const gg_graph *g) { return g && g->compiled ? g->nparam_t : 0; }
int gg_graph_num_buffers(const gg_graph *g) { return g && g->compiled ? g->nbuf_t : 0; }

static void fill_info(const gg_tensor *t, gg_node n, gg_param_info *info)
{
    info->name = t->name;
    info->layer = t->layer;
    info->node = n;
    info->shape = t->shape;
    info->offset = t->off;
    info->numel = gg_shape_numel(t->shape);
    info->no_decay = t->no_decay;
}

gg_status gg_graph_param(const gg_graph *g, int i, gg_param_info *info)
{
    if (!g || !g->compiled || !info) return gg_fail(GG_E_STATE, "gg_graph_param: graph not compiled");
    if (i < 0 || i >= g->nparam_t)
        return gg_fail(GG_E_ARG, "gg_graph_param: index %d outside 0..%d", i, g->nparam_t - 1);
    fill_info(&g->t[g->param_idx[i]], g->param_idx[i], info);
    return GG_OK;
}

gg_status gg_graph_buffer(const gg_graph *g, int i, gg_param_info *info)
{
    if (!g || !g->compiled || !info) return gg_fail(GG_E_STATE, "gg_graph_buffer: graph not compiled");
    if (i < 0 || i >= g->nbuf_t)
        return gg_fail(GG_E_ARG, "gg_graph_buffer: index %d outside 0..%d", i, g->nbuf_t - 1);
    fill_info(&g->t[g->buf_idx[i]], g->buf_idx[i], info);
    return GG_OK;
}

float *gg_graph_params(gg_graph *g, size_t *n)
{
    if (n) *n = g && g->compiled ? g->nparams : 0;
    return g && g->compiled ? g->params : NULL;
}
float *gg_graph_grads(gg_graph *g, size_t *n)
{
    if (n) *n = g && g->compiled ? g->nparams : 0;
    return g && g->compiled ? g->grads : NULL;
}
float *gg_graph_buffers(gg_graph *g, size_t *n)
{
    if (n) *n = g && g->compiled ? g->nbufs : 0;
    return g && g->compiled ? g->bufs : NULL;
}

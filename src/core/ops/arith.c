/* arith.c - add, mul (with broadcast of an unbatched b over a's leading
 * dims), scale, sum, and the reshape view. */
#include "../core.h"
#include "attr.h"

#include <string.h>

/* b broadcasts if its element count divides a's: b (trailing shape of a). */
static gg_node binary(gg_graph *g, int op, const char *name, gg_node a, gg_node b)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, a) || !gg_node_ok(g, b)) return gg_build_fail(g, GG_E_ARG, "%s: bad input node (%d, %d)", name, a, b);
    gg_tensor *at = gg_T(g, a), *bt = gg_T(g, b);
    int same = at->batched == bt->batched && at->shape.ndim == bt->shape.ndim;
    for (int i = 0; i < at->shape.ndim && same; i++) same = at->shape.d[i] == bt->shape.d[i];
    int bcast = !same && !bt->batched && bt->shape.ndim <= at->shape.ndim;
    for (int i = 0; i < bt->shape.ndim && bcast; i++)
        bcast = bt->shape.d[bt->shape.ndim - 1 - i] == at->shape.d[at->shape.ndim - 1 - i];
    if (bcast && at->batched && bt->shape.ndim == at->shape.ndim) bcast = 0;
    if (!same && !bcast) {
        char s1[64], s2[64];
        return gg_build_fail(g, GG_E_SHAPE, "%s in '%s': '%s' %s and '%s' %s do not match", name, g->scope, at->name,
                             gg_shape_str(at->shape, s1, sizeof s1), bt->name, gg_shape_str(bt->shape, s2, sizeof s2));
    }
    gg_node in[2] = {a, b};
    return gg_add_node(g, op, name, in, 2, at->shape, at->batched);
}

gg_node gg_add(gg_graph *g, gg_node a, gg_node b) { return binary(g, GG_OP_ADD, "add", a, b); }
gg_node gg_mul(gg_graph *g, gg_node a, gg_node b) { return binary(g, GG_OP_MUL, "mul", a, b); }

void gg_add_fwd(gg_graph *g, gg_tensor *t)
{
    const float *a = gg_IN(g, t, 0)->val, *b = gg_IN(g, t, 1)->val;
    float *y = t->val;
    size_t n = gg_numel(g, t), m = gg_numel(g, gg_IN(g, t, 1));
    long ln = (long)n;
    if (m == n) {
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < ln; i++) y[i] = a[i] + b[i];
    } else {
        for (size_t r = 0; r < n; r += m)
#pragma omp simd
            for (size_t k = 0; k < m; k++) y[r + k] = a[r + k] + b[k];
    }
}

void gg_add_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *a = gg_IN(g, t, 0), *b = gg_IN(g, t, 1);
    const float *d = t->grad;
    size_t n = gg_numel(g, t), m = gg_numel(g, b);
    long ln = (long)n;
    if (a->needs_grad) {
        float *da = a->grad;
        if (gg_grad_fresh(g, a)) {
            memcpy(da, d, n * sizeof(float));
        } else {
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
            for (long i = 0; i < ln; i++) da[i] += d[i];
        }
    }
    if (b->needs_grad) {
        float *db = b->grad;
        size_t r0 = 0;
        if (gg_grad_fresh(g, b)) {
            memcpy(db, d, m * sizeof(float));
            r0 = m;
        }
        for (size_t r = r0; r < n; r += m)
#pragma omp simd
            for (size_t k = 0; k < m; k++) db[k] += d[r + k];
    }
}

void gg_mul_fwd(gg_graph *g, gg_tensor *t)
{
    const float *a = gg_IN(g, t, 0)->val, *b = gg_IN(g, t, 1)->val;
    float *y = t->val;
    size_t n = gg_numel(g, t), m = gg_numel(g, gg_IN(g, t, 1));
    for (size_t r = 0; r < n; r += m)
#pragma omp simd
        for (size_t k = 0; k < m; k++) y[r + k] = a[r + k] * b[k];
}

void gg_mul_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *a = gg_IN(g, t, 0), *b = gg_IN(g, t, 1);
    const float *d = t->grad;
    size_t n = gg_numel(g, t), m = gg_numel(g, b);
    for (size_t r = 0; r < n; r += m) {
        if (a->needs_grad)
            for (size_t k = 0; k < m; k++) a->grad[r + k] += d[r + k] * b->val[k];
        if (b->needs_grad)
            for (size_t k = 0; k < m; k++) b->grad[k] += d[r + k] * a->val[r + k];
    }
}

gg_node gg_scale(gg_graph *g, gg_node x, float s)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x)) return gg_build_fail(g, GG_E_ARG, "scale: bad input node %d", x);
    gg_node n = gg_add_node(g, GG_OP_SCALE, "scale", &x, 1, gg_T(g, x)->shape, gg_T(g, x)->batched);
    if (n >= 0) gg_scale_factor(&g->t[n]) = s;
    return n;
}

void gg_scale_fwd(gg_graph *g, gg_tensor *t)
{
    const float *x = gg_IN(g, t, 0)->val;
    float s = gg_scale_factor(t), *y = t->val;
    long n = (long)gg_numel(g, t);
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = s * x[i];
}

void gg_scale_bwd(gg_graph *g, gg_tensor *t)
{
    float *dx = gg_IN(g, t, 0)->grad, s = gg_scale_factor(t);
    const float *d = t->grad;
    long n = (long)gg_numel(g, t);
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
    for (long i = 0; i < n; i++) dx[i] += s * d[i];
}

gg_node gg_sum(gg_graph *g, gg_node x, float s)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x)) return gg_build_fail(g, GG_E_ARG, "sum: bad input node %d", x);
    gg_node n = gg_add_node(g, GG_OP_SUM, "sum", &x, 1, gg_shape1(1), 0);
    if (n >= 0) gg_scale_factor(&g->t[n]) = s;
    return n;
}

void gg_sum_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    size_t n = gg_numel(g, x);
    double acc = 0;
    for (size_t i = 0; i < n; i++) acc += x->val[i];
    t->val[0] = (float)(acc * gg_scale_factor(t));
}

void gg_sum_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    size_t n = gg_numel(g, x);
    float d = t->grad[0] * gg_scale_factor(t);
    for (size_t i = 0; i < n; i++) x->grad[i] += d;
}

/* ---- reshape / flatten: views, no computation ---- */

void gg_nop(gg_graph *g, gg_tensor *t) { (void)g, (void)t; }

gg_node gg_reshape(gg_graph *g, gg_node x, gg_shape ss)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x)) return gg_build_fail(g, GG_E_ARG, "reshape: bad input node %d", x);
    gg_tensor *xt = gg_T(g, x);
    int b = xt->batched;
    if (ss.ndim < 1 || ss.ndim + b > GG_MAX_DIMS)
        return gg_build_fail(g, GG_E_SHAPE, "reshape in '%s': %d dims asked for", g->scope, ss.ndim);
    gg_shape s = {0, {0, 0, 0, 0}};
    if (b) s.d[s.ndim++] = xt->shape.d[0];
    for (int i = 0; i < ss.ndim; i++) s.d[s.ndim++] = ss.d[i];
    if (gg_shape_numel(ss) != xt->per) {
        char s1[64], s2[64];
        return gg_build_fail(g, GG_E_SHAPE, "reshape in '%s': '%s' has sample shape %s, which cannot become %s",
                             g->scope, xt->name, gg_shape_str(gg_sample_shape(xt), s1, sizeof s1),
                             gg_shape_str(ss, s2, sizeof s2));
    }
    return gg_add_node(g, GG_OP_RESHAPE, "reshape", &x, 1, s, b);
}

gg_node gg_flatten(gg_graph *g, gg_node x)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x)) return gg_build_fail(g, GG_E_ARG, "flatten: bad input node %d", x);
    gg_tensor *xt = gg_T(g, x);
    if (xt->per > (size_t)1 << 28) return gg_build_fail(g, GG_E_SHAPE, "flatten: '%s' is too large", xt->name);
    return gg_reshape(g, x, gg_shape1((int)xt->per));
}

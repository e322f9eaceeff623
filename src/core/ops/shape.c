/* shape.c - concatenation and slicing along one axis of the sample shape.
 *
 * Both are copies of contiguous blocks: with the tensor seen as
 * (outer, len, inner) around the axis (outer includes the batch),
 *   concat: a (outer, La, inner), b (outer, Lb, inner) -> y (outer, La + Lb, inner)
 *           y[o] = [a[o] | b[o]]            da[o] += dy[o][:La], db[o] += dy[o][La:]
 *   slice:  x (outer, L, inner) -> y (outer, len, inner)
 *           y[o] = x[o][start : start + len]   dx[o][start : start + len] += dy[o]
 * so each is one pass of memcpy-sized runs. Attributes: ia = {axis (full
 * shape), start, len} (start/len for slice only). */
#include "../core.h"
#include "attr.h"

#include <string.h>

/* Product of the dims of s after `axis`. */
static size_t inner_of(gg_shape s, int axis)
{
    size_t n = 1;
    for (int i = axis + 1; i < s.ndim; i++) n *= (size_t)s.d[i];
    return n;
}

/* Number of (outer) blocks of x at the current batch: its elements over
 * the run length of one block of `len` rows of `inner` elements. */
static long outer_of(const gg_graph *g, const gg_tensor *x, int axis)
{
    return (long)(gg_numel(g, x) / ((size_t)x->shape.d[axis] * inner_of(x->shape, axis)));
}

/* The full-shape axis for a sample axis, or -1 if out of range. */
static int full_axis(const gg_tensor *t, int axis)
{
    int ns = t->shape.ndim - (t->batched ? 1 : 0);
    if (axis < 0 || axis >= ns) return -1;
    return axis + (t->batched ? 1 : 0);
}

/* ---- concat ---- */

gg_node gg_concat(gg_graph *g, gg_node a, gg_node b, int axis)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, a) || !gg_node_ok(g, b))
        return gg_build_fail(g, GG_E_ARG, "concat: bad input node (%d, %d)", a, b);
    gg_tensor *at = gg_T(g, a), *bt = gg_T(g, b);
    char s1[64], s2[64];
    int fa = full_axis(at, axis);
    if (fa < 0)
        return gg_build_fail(g, GG_E_SHAPE, "concat in '%s': axis %d is outside the sample shape %s of '%s'", g->scope,
                             axis, gg_shape_str(gg_sample_shape(at), s1, sizeof s1), at->name);
    int ok = at->batched == bt->batched && at->shape.ndim == bt->shape.ndim;
    for (int i = 0; i < at->shape.ndim && ok; i++) ok = i == fa || at->shape.d[i] == bt->shape.d[i];
    if (!ok)
        return gg_build_fail(g, GG_E_SHAPE,
                             "concat in '%s' along axis %d: '%s' %s and '%s' %s do not fit (all other dims must agree)",
                             g->scope, axis, at->name, gg_shape_str(at->shape, s1, sizeof s1), bt->name,
                             gg_shape_str(bt->shape, s2, sizeof s2));
    gg_shape s = at->shape;
    s.d[fa] += bt->shape.d[fa];
    gg_node in[2] = {a, b};
    gg_node n = gg_add_node(g, GG_OP_CONCAT, "concat", in, 2, s, at->batched);
    if (n >= 0) gg_concat_axis(&g->t[n]) = fa;
    return n;
}

void gg_concat_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *a = gg_IN(g, t, 0), *b = gg_IN(g, t, 1);
    int ax = gg_concat_axis(t);
    size_t inner = inner_of(t->shape, ax);
    size_t na = (size_t)a->shape.d[ax] * inner, nb = (size_t)b->shape.d[ax] * inner, ny = na + nb;
    long outer = outer_of(g, t, ax);
    const float *av = a->val, *bv = b->val;
    float *y = t->val;
#pragma omp parallel for if ((size_t)outer * ny > GG_PAR_MIN)
    for (long o = 0; o < outer; o++) {
        memcpy(y + (size_t)o * ny, av + (size_t)o * na, na * sizeof *y);
        memcpy(y + (size_t)o * ny + na, bv + (size_t)o * nb, nb * sizeof *y);
    }
}

void gg_concat_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *a = gg_IN(g, t, 0), *b = gg_IN(g, t, 1);
    int ax = gg_concat_axis(t);
    size_t inner = inner_of(t->shape, ax);
    size_t na = (size_t)a->shape.d[ax] * inner, nb = (size_t)b->shape.d[ax] * inner, ny = na + nb;
    long outer = outer_of(g, t, ax);
    const float *dy = t->grad;
    float *da = a->needs_grad ? a->grad : NULL, *db = b->needs_grad ? b->grad : NULL;
#pragma omp parallel for if ((size_t)outer * ny > GG_PAR_MIN)
    for (long o = 0; o < outer; o++) {
        const float *d = dy + (size_t)o * ny;
        if (da) {
            float *p = da + (size_t)o * na;
#pragma omp simd
            for (size_t i = 0; i < na; i++) p[i] += d[i];
        }
        if (db) {
            float *p = db + (size_t)o * nb;
#pragma omp simd
            for (size_t i = 0; i < nb; i++) p[i] += d[na + i];
        }
    }
}

/* ---- slice ---- */

gg_node gg_slice(gg_graph *g, gg_node x, int axis, int start, int len)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x)) return gg_build_fail(g, GG_E_ARG, "slice: bad input node %d", x);
    gg_tensor *xt = gg_T(g, x);
    char s1[64];
    int fa = full_axis(xt, axis);
    if (fa < 0)
        return gg_build_fail(g, GG_E_SHAPE, "slice in '%s': axis %d is outside the sample shape %s of '%s'", g->scope,
                             axis, gg_shape_str(gg_sample_shape(xt), s1, sizeof s1), xt->name);
    int L = xt->shape.d[fa];
    if (start < 0 || len < 1 || start > L - len)
        return gg_build_fail(g, GG_E_SHAPE, "slice in '%s': [%d, %d + %d) is not inside axis %d (size %d) of '%s' %s",
                             g->scope, start, start, len, axis, L, xt->name, gg_shape_str(xt->shape, s1, sizeof s1));
    gg_shape s = xt->shape;
    s.d[fa] = len;
    gg_node n = gg_add_node(g, GG_OP_SLICE, "slice", &x, 1, s, xt->batched);
    if (n >= 0) {
        gg_slice_axis(&g->t[n]) = fa;
        gg_slice_start(&g->t[n]) = start;
        gg_slice_len(&g->t[n]) = len;
    }
    return n;
}

void gg_slice_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    int ax = gg_slice_axis(t);
    size_t inner = inner_of(t->shape, ax);
    size_t nx = (size_t)x->shape.d[ax] * inner, ny = (size_t)gg_slice_len(t) * inner, off = (size_t)gg_slice_start(t) * inner;
    long outer = outer_of(g, t, ax);
    const float *xv = x->val;
    float *y = t->val;
#pragma omp parallel for if ((size_t)outer * ny > GG_PAR_MIN)
    for (long o = 0; o < outer; o++) memcpy(y + (size_t)o * ny, xv + (size_t)o * nx + off, ny * sizeof *y);
}

void gg_slice_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0);
    if (!x->needs_grad) return;
    int ax = gg_slice_axis(t);
    size_t inner = inner_of(t->shape, ax);
    size_t nx = (size_t)x->shape.d[ax] * inner, ny = (size_t)gg_slice_len(t) * inner, off = (size_t)gg_slice_start(t) * inner;
    long outer = outer_of(g, t, ax);
    const float *dy = t->grad;
    float *dx = x->grad;
#pragma omp parallel for if ((size_t)outer * ny > GG_PAR_MIN)
    for (long o = 0; o < outer; o++) {
        float *p = dx + (size_t)o * nx + off;
        const float *d = dy + (size_t)o * ny;
#pragma omp simd
        for (size_t i = 0; i < ny; i++) p[i] += d[i];
    }
}

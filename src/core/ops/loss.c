/* loss.c - losses (scalar means over the batch) and accuracy.
 *
 * softmax_xent: logits (R, C), labels (R) class ids stored as floats.
 *   loss = mean_r [ lse(x_r) - (1 - eps) x_r[y_r] - eps/C sum_c x_r[c] ]
 *   dx_r = (softmax(x_r) - q_r) / R, q = (1 - eps) onehot(y) + eps / C
 * The softmax is kept in the workspace for backward. Sums in double.
 * z-loss (gg_xent_z = z > 0, training mode only): loss += z mean_r lse_r^2,
 *   dx_r += 2 z lse_r softmax(x_r) / R.
 * Workspace: [softmax (R, C)][lse (R)][mean lse, max lse, 1 once run]. */
#include "../core.h"
#include "attr.h"

#include <math.h>

static gg_node loss_node(gg_graph *g, int op, const char *name, gg_node a, gg_node b, int same_shape)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, a) || !gg_node_ok(g, b)) return gg_build_fail(g, GG_E_ARG, "%s: bad input node (%d, %d)", name, a, b);
    gg_tensor *at = gg_T(g, a), *bt = gg_T(g, b);
    char s1[64], s2[64];
    if (same_shape) {
        int ok = at->batched == bt->batched && at->per == bt->per && at->shape.d[0] == bt->shape.d[0];
        if (!ok)
            return gg_build_fail(g, GG_E_SHAPE, "%s: prediction '%s' %s and target '%s' %s differ", name, at->name,
                                 gg_shape_str(at->shape, s1, sizeof s1), bt->name, gg_shape_str(bt->shape, s2, sizeof s2));
    } else {
        /* class ids: one per row of the logits */
        size_t rows = gg_shape_numel(at->shape) / (size_t)gg_last(at);
        if (at->batched != bt->batched || gg_shape_numel(bt->shape) != rows || at->shape.ndim < 2)
            return gg_build_fail(g, GG_E_SHAPE, "%s: logits '%s' %s need one class id per row, labels '%s' are %s", name,
                                 at->name, gg_shape_str(at->shape, s1, sizeof s1), bt->name,
                                 gg_shape_str(bt->shape, s2, sizeof s2));
    }
    gg_node in[2] = {a, b};
    return gg_add_node(g, op, name, in, 2, gg_shape1(1), 0);
}

gg_node gg_softmax_xent_z(gg_graph *g, gg_node logits, gg_node labels, float smoothing, float z_coef)
{
    if (g && !g->err && !(smoothing >= 0 && smoothing < 1))
        return gg_build_fail(g, GG_E_ARG, "softmax_xent: label smoothing %g is outside [0, 1)", smoothing);
    if (g && !g->err && !(z_coef >= 0 && z_coef < 1e3f))
        return gg_build_fail(g, GG_E_ARG, "softmax_xent: z-loss coefficient %g is outside [0, 1000)", z_coef);
    gg_node n = loss_node(g, GG_OP_SOFTMAX_XENT, "softmax_xent", logits, labels, 0);
    if (n >= 0) {
        gg_xent_smoothing(&g->t[n]) = smoothing;
        gg_xent_z(&g->t[n]) = z_coef;
    }
    return n;
}

gg_status gg_graph_set_z_loss(gg_graph *g, gg_node loss, float z_coef)
{
    if (!g || loss < 0 || loss >= g->n || g->t[loss].kind != GG_K_OP || g->t[loss].op != GG_OP_SOFTMAX_XENT)
        return gg_fail(GG_E_ARG, "gg_graph_set_z_loss: node %d ('%s') is not a softmax_xent op", loss,
                       g && loss >= 0 && loss < g->n ? g->t[loss].name : "none");
    if (!(z_coef >= 0 && z_coef < 1e3f))
        return gg_fail(GG_E_ARG, "gg_graph_set_z_loss: coefficient %g is outside [0, 1000)", (double)z_coef);
    gg_xent_z(&g->t[loss]) = z_coef;
    return GG_OK;
}

float gg_graph_z_loss(const gg_graph *g, gg_node loss)
{
    if (!g || loss < 0 || loss >= g->n || g->t[loss].kind != GG_K_OP || g->t[loss].op != GG_OP_SOFTMAX_XENT) return -1;
    return gg_xent_z(&g->t[loss]);
}

gg_node gg_softmax_xent(gg_graph *g, gg_node logits, gg_node labels, float smoothing)
{
    return gg_softmax_xent_z(g, logits, labels, smoothing, 0);
}

/* the softmax, then lse per row, then the statistics; the soft-target loss
 * uses only the first part */
static size_t xent_rows(const gg_graph *g, const gg_tensor *t)
{
    const gg_tensor *x = &g->t[t->in[0]];
    return gg_shape_numel(x->shape) / (size_t)gg_last(x);
}

size_t gg_xent_ws(const gg_graph *g, const gg_tensor *t)
{
    return gg_shape_numel(g->t[t->in[0]].shape) + xent_rows(g, t) + 3;
}

gg_status gg_graph_output_logz(const gg_graph *g, gg_node loss, double *mean, double *max)
{
    if (mean) *mean = NAN;
    if (max) *max = NAN;
    if (!g || !g->compiled) return gg_fail(GG_E_STATE, "gg_graph_output_logz: the graph is not compiled");
    if (loss < 0 || loss >= g->n || g->t[loss].kind != GG_K_OP || g->t[loss].op != GG_OP_SOFTMAX_XENT)
        return gg_fail(GG_E_ARG, "gg_graph_output_logz: node %d ('%s') is not a softmax_xent op", loss,
                       loss >= 0 && loss < g->n ? g->t[loss].name : "none");
    const gg_tensor *t = &g->t[loss];
    const float *st = t->ws + gg_shape_numel(g->t[t->in[0]].shape) + xent_rows(g, t);
    if (st[2] != 1) return gg_fail(GG_E_STATE, "gg_graph_output_logz: '%s' has not run a forward pass yet", t->name);
    if (mean) *mean = st[0];
    if (max) *max = st[1];
    return GG_OK;
}

/* Class id from a float label; -1 if it is not an integer in [0, C). */
static int class_id(float v, int C)
{
    if (!(v >= 0 && v < C)) return -1;
    int k = (int)v;
    return (float)k == v ? k : -1;
}

void gg_xent_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    int C = gg_last(x);
    long R = (long)gg_rows(g, x);
    float eps = gg_xent_smoothing(t), z = g->mode == GG_TRAIN ? gg_xent_z(t) : 0;
    float *lses = t->ws + gg_shape_numel(x->shape);
    double total = 0, zsum = 0, lsum = 0, lmax = -INFINITY;
    long bad = -1;
#pragma omp parallel for reduction(+ : total, zsum, lsum) reduction(max : lmax) if (R * C > GG_PAR_MIN)
    for (long r = 0; r < R; r++) {
        const float *xr = x->val + (size_t)r * C;
        float *p = t->ws + (size_t)r * C;
        int k = class_id(y->val[r], C);
        if (k < 0) {
#pragma omp critical
            if (bad < 0 || r < bad) bad = r;
            continue;
        }
        float m = xr[0];
        for (int c = 1; c < C; c++) m = xr[c] > m ? xr[c] : m;
        double s = 0, sx = 0;
        for (int c = 0; c < C; c++) {
            p[c] = expf(xr[c] - m);
            s += p[c];
            sx += xr[c];
        }
        float inv = (float)(1.0 / s);
        for (int c = 0; c < C; c++) p[c] *= inv;
        double lse = m + log(s);
        lses[r] = (float)lse;
        lsum += lse;
        lmax = lse > lmax ? lse : lmax;
        zsum += lse * lse;
        total += lse - (1 - eps) * xr[k] - (eps > 0 ? eps / C * sx : 0);
    }
    float *st = lses + xent_rows(g, t);
    st[0] = (float)(lsum / (double)R);
    st[1] = (float)lmax;
    st[2] = 1;
    if (bad >= 0) {
        gg_run_fail(g, GG_E_ARG, "softmax_xent: label %g of row %ld is not a class id in 0..%d", (double)y->val[bad], bad,
                    C - 1);
        t->val[0] = NAN;
        return;
    }
    t->val[0] = (float)((total + z * zsum) / (double)R);
}

void gg_xent_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    int C = gg_last(x);
    long R = (long)gg_rows(g, x);
    float eps = gg_xent_smoothing(t), sc = t->grad[0] / (float)R, off = eps / C,
          z = g->mode == GG_TRAIN ? gg_xent_z(t) : 0;
    const float *lses = t->ws + gg_shape_numel(x->shape);
    int acc = !gg_grad_fresh(g, x);
#pragma omp parallel for if (R * C > GG_PAR_MIN)
    for (long r = 0; r < R; r++) {
        const float *p = t->ws + (size_t)r * C;
        float *dx = x->grad + (size_t)r * C;
        int k = (int)y->val[r];
        float pz = 1 + 2 * z * lses[r]; /* softmax's weight: cross-entropy 1, z-loss 2 z lse */
        for (int c = 0; c < C; c++) dx[c] = (acc ? dx[c] : 0) + sc * (pz * p[c] - off - (c == k ? 1 - eps : 0));
    }
}

/* ---- softmax cross-entropy against soft targets ----
 * logits x (R, C), targets t (R, C), rows of (usually) probabilities:
 *   loss = mean_r sum_c t_rc (lse(x_r) - x_rc)
 *   dx_r = (softmax(x_r) sum_c t_rc - t_r) / R,  dt_rc = (lse(x_r) - x_rc) / R
 * The softmax is kept in the workspace, as for softmax_xent. */

gg_node gg_softmax_xent_soft(gg_graph *g, gg_node logits, gg_node targets)
{
    return loss_node(g, GG_OP_SOFTMAX_XENT_SOFT, "softmax_xent_soft", logits, targets, 1);
}

void gg_xent_soft_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    int C = gg_last(x);
    long R = (long)gg_rows(g, x);
    double total = 0;
#pragma omp parallel for reduction(+ : total) if (R * C > GG_PAR_MIN)
    for (long r = 0; r < R; r++) {
        const float *xr = x->val + (size_t)r * C, *yr = y->val + (size_t)r * C;
        float *p = t->ws + (size_t)r * C;
        float m = xr[0];
        for (int c = 1; c < C; c++) m = xr[c] > m ? xr[c] : m;
        double s = 0, ty = 0, txy = 0;
        for (int c = 0; c < C; c++) {
            p[c] = expf(xr[c] - m);
            s += p[c];
            ty += yr[c];
            txy += (double)yr[c] * xr[c];
        }
        float inv = (float)(1.0 / s);
        for (int c = 0; c < C; c++) p[c] *= inv;
        total += (m + log(s)) * ty - txy;
    }
    t->val[0] = (float)(total / (double)R);
}

void gg_xent_soft_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    int C = gg_last(x);
    long R = (long)gg_rows(g, x);
    float sc = t->grad[0] / (float)R;
#pragma omp parallel for if (R * C > GG_PAR_MIN)
    for (long r = 0; r < R; r++) {
        const float *p = t->ws + (size_t)r * C, *yr = y->val + (size_t)r * C, *xr = x->val + (size_t)r * C;
        if (x->needs_grad) {
            float ty = 0;
            for (int c = 0; c < C; c++) ty += yr[c];
            float *dx = x->grad + (size_t)r * C;
            for (int c = 0; c < C; c++) dx[c] += sc * (p[c] * ty - yr[c]);
        }
        if (y->needs_grad) {
            /* -log softmax(x)_c = lse(x) - x_c, recomputed so that tiny
             * probabilities keep their precision */
            float m = xr[0];
            for (int c = 1; c < C; c++) m = xr[c] > m ? xr[c] : m;
            double s = 0;
            for (int c = 0; c < C; c++) s += exp((double)xr[c] - m);
            double lse = m + log(s);
            float *dy = y->grad + (size_t)r * C;
            for (int c = 0; c < C; c++) dy[c] += sc * (float)(lse - xr[c]);
        }
    }
}

/* ---- binary cross-entropy with logits ---- */

gg_node gg_bce_logits(gg_graph *g, gg_node logits, gg_node targets)
{
    return loss_node(g, GG_OP_BCE_LOGITS, "bce_logits", logits, targets, 1);
}

void gg_bce_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    size_t n = gg_numel(g, x);
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        float v = x->val[i];
        s += (v > 0 ? v : 0) - v * y->val[i] + log1pf(expf(-fabsf(v)));
    }
    t->val[0] = (float)(s / (double)n);
}

void gg_bce_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    size_t n = gg_numel(g, x);
    float sc = t->grad[0] / (float)n;
    for (size_t i = 0; i < n; i++) {
        float v = x->val[i];
        float sig = v >= 0 ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
        if (x->needs_grad) x->grad[i] += sc * (sig - y->val[i]);
        if (y->needs_grad) y->grad[i] += -sc * v;
    }
}

/* ---- mean squared error and Huber ---- */

gg_node gg_mse(gg_graph *g, gg_node pred, gg_node target)
{
    return loss_node(g, GG_OP_MSE, "mse", pred, target, 1);
}

gg_node gg_huber(gg_graph *g, gg_node pred, gg_node target, float delta)
{
    if (g && !g->err && !(delta > 0)) return gg_build_fail(g, GG_E_ARG, "huber: delta %g must be > 0", delta);
    gg_node n = loss_node(g, GG_OP_HUBER, "huber", pred, target, 1);
    if (n >= 0) gg_huber_delta(&g->t[n]) = delta;
    return n;
}

void gg_mse_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    size_t n = gg_numel(g, x);
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x->val[i] - y->val[i];
        s += d * d;
    }
    t->val[0] = (float)(s / (double)n);
}

void gg_mse_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    size_t n = gg_numel(g, x);
    float sc = 2 * t->grad[0] / (float)n;
    for (size_t i = 0; i < n; i++) {
        float d = sc * (x->val[i] - y->val[i]);
        if (x->needs_grad) x->grad[i] += d;
        if (y->needs_grad) y->grad[i] -= d;
    }
}

void gg_huber_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    size_t n = gg_numel(g, x);
    double s = 0, dl = gg_huber_delta(t);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x->val[i] - y->val[i]);
        s += d <= dl ? 0.5 * d * d : dl * (d - 0.5 * dl);
    }
    t->val[0] = (float)(s / (double)n);
}

void gg_huber_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    size_t n = gg_numel(g, x);
    float sc = t->grad[0] / (float)n, dl = gg_huber_delta(t);
    for (size_t i = 0; i < n; i++) {
        float d = x->val[i] - y->val[i];
        float gd = sc * (d > dl ? dl : d < -dl ? -dl : d);
        if (x->needs_grad) x->grad[i] += gd;
        if (y->needs_grad) y->grad[i] -= gd;
    }
}

/* ---- accuracy: no gradient ---- */

gg_node gg_accuracy(gg_graph *g, gg_node logits, gg_node labels)
{
    return loss_node(g, GG_OP_ACCURACY, "accuracy", logits, labels, 0);
}

void gg_accuracy_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *x = gg_IN(g, t, 0), *y = gg_IN(g, t, 1);
    int C = gg_last(x);
    size_t R = gg_rows(g, x), hit = 0;
    for (size_t r = 0; r < R; r++) {
        const float *xr = x->val + r * C;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (xr[c] > xr[best]) best = c;
        hit += (float)best == y->val[r];
    }
    t->val[0] = (float)((double)hit / (double)R);
}

/* softmax.c - softmax and log-softmax over the last dim.
 *
 *   x (R, C) [R = all leading dims] -> y (R, C)
 *   softmax:     y = exp(x - m) / s,    m = max_c x, s = sum_c exp(x - m)
 *   log_softmax: y = x - m - log s
 * Subtracting the row max keeps exp() from overflowing. Backward needs only
 * the output, so nothing is kept beside it:
 *   softmax:     dx = y * (dy - sum_c dy y)
 *   log_softmax: dx = dy - exp(y) * sum_c dy
 * Row sums are accumulated in double. */
#include "../core.h"

#include <math.h>

static gg_node softmax_node(gg_graph *g, int op, const char *name, gg_node x)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x)) return gg_build_fail(g, GG_E_ARG, "%s: bad input node %d", name, x);
    gg_tensor *xt = gg_T(g, x);
    return gg_add_node(g, op, name, &x, 1, xt->shape, xt->batched);
}

gg_node gg_softmax(gg_graph *g, gg_node x) { return softmax_node(g, GG_OP_SOFTMAX, "softmax", x); }
gg_node gg_log_softmax(gg_graph *g, gg_node x) { return softmax_node(g, GG_OP_LOG_SOFTMAX, "log_softmax", x); }

/* y (R, C) from x (R, C); logp selects log-softmax. */
static void softmax_rows(const float *x, float *y, long R, int C, int logp)
{
#pragma omp parallel for if ((size_t)R * C > GG_PAR_MIN)
    for (long r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * C;
        float *yr = y + (size_t)r * C;
        float m = xr[0];
        for (int c = 1; c < C; c++) m = xr[c] > m ? xr[c] : m;
        double s = 0;
        if (logp) {
            for (int c = 0; c < C; c++) s += expf(xr[c] - m);
            /* (x - m) - log s, not x - (m + log s): m + log s would round
             * away the small part when m is large */
            float ls = (float)log(s);
            for (int c = 0; c < C; c++) yr[c] = (xr[c] - m) - ls;
        } else {
            for (int c = 0; c < C; c++) {
                yr[c] = expf(xr[c] - m);
                s += yr[c];
            }
            float inv = (float)(1.0 / s);
            for (int c = 0; c < C; c++) yr[c] *= inv;
        }
    }
}

void gg_softmax_fwd(gg_graph *g, gg_tensor *t)
{
    softmax_rows(gg_IN(g, t, 0)->val, t->val, (long)gg_rows(g, t), gg_last(t), 0);
}

void gg_log_softmax_fwd(gg_graph *g, gg_tensor *t)
{
    softmax_rows(gg_IN(g, t, 0)->val, t->val, (long)gg_rows(g, t), gg_last(t), 1);
}

void gg_softmax_bwd(gg_graph *g, gg_tensor *t)
{
    float *dx = gg_IN(g, t, 0)->grad;
    const float *y = t->val, *dy = t->grad;
    long R = (long)gg_rows(g, t);
    int C = gg_last(t);
#pragma omp parallel for if ((size_t)R * C > GG_PAR_MIN)
    for (long r = 0; r < R; r++) {
        const float *yr = y + (size_t)r * C, *dr = dy + (size_t)r * C;
        float *xr = dx + (size_t)r * C;
        double dot = 0;
        for (int c = 0; c < C; c++) dot += (double)dr[c] * yr[c];
        float fd = (float)dot;
        for (int c = 0; c < C; c++) xr[c] += yr[c] * (dr[c] - fd);
    }
}

void gg_log_softmax_bwd(gg_graph *g, gg_tensor *t)
{
    float *dx = gg_IN(g, t, 0)->grad;
    const float *y = t->val, *dy = t->grad;
    long R = (long)gg_rows(g, t);
    int C = gg_last(t);
#pragma omp parallel for if ((size_t)R * C > GG_PAR_MIN)
    for (long r = 0; r < R; r++) {
        const float *yr = y + (size_t)r * C, *dr = dy + (size_t)r * C;
        float *xr = dx + (size_t)r * C;
        double s = 0;
        for (int c = 0; c < C; c++) s += dr[c];
        float fs = (float)s;
        for (int c = 0; c < C; c++) xr[c] += dr[c] - expf(yr[c]) * fs;
    }
}

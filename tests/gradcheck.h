/* gradcheck.h - central finite differences against the analytic backward.
 *
 * The graph's scalar `loss` is differentiated by gg_graph_backward; every
 * checked node (parameters and inputs marked with gg_graph_requires_grad)
 * then has up to `samples` of its elements perturbed by +-eps, and the
 * numeric slope (L(x+eps) - L(x-eps)) / 2eps is compared with the
 * gradient. Losses are float32, so eps and tolerances are loose enough for
 * rounding and tight enough to catch a wrong formula (a factor, a sign, a
 * transposed index all fail by far more). */
#ifndef GRADCHECK_H
#define GRADCHECK_H

#include "gradguard.h"
#include "gt.h"

#include <string.h>

/* Fills a buffer with values uniform in +-scale, kept at least `gap` away
 * from zero so that ReLU-like kinks are not crossed by the perturbation. */
static inline void gc_fill(float *x, size_t n, gg_rng *r, float scale, float gap)
{
    for (size_t i = 0; i < n; i++) {
        float v = (float)(2 * gg_rng_uniform(r) - 1) * scale;
        if (v > -gap && v < gap) v = v < 0 ? -gap - (float)gg_rng_uniform(r) * scale : gap + (float)gg_rng_uniform(r) * scale;
        x[i] = v;
    }
}

/* Fills every input and parameter (not the buffers) with values in +-1, at
 * least gap from 0, drawn in node order from seed. */
static inline void gc_randomize(gg_graph *g, uint64_t seed, float gap)
{
    gg_rng r;
    gg_rng_seed(&r, seed);
    for (int i = 0; i < gg_graph_num_nodes(g); i++) {
        const char *op = gg_graph_node_op(g, i);
        if (strcmp(op, "input") == 0 || strcmp(op, "param") == 0) {
            gg_shape s = gg_graph_shape(g, i);
            gc_fill(gg_graph_data(g, i), gg_shape_numel(s), &r, 1.0f, gap);
        }
    }
}

static inline double gc_loss(gg_graph *g, gg_node loss)
{
    gg_status s = gg_graph_forward(g, GG_TRAIN, loss);
    if (s) return NAN;
    return gg_graph_scalar(g, loss);
}

/* Checks the gradient of every node in nodes[0..n). Returns the number of
 * mismatches (also counted in the harness). */
static inline int gradcheck(gg_graph *g, gg_node loss, const gg_node *nodes, int n, int samples, const char *what)
{
    int bad = 0;
    if (gg_graph_forward(g, GG_TRAIN, loss)) {
        GT_CHECK(0, "%s: forward failed: %s", what, gg_errmsg());
        return 1;
    }
    gg_graph_zero_grad(g);
    if (gg_graph_backward(g, loss, 1.0f)) {
        GT_CHECK(0, "%s: backward failed: %s", what, gg_errmsg());
        return 1;
    }
    gg_rng r;
    gg_rng_seed(&r, 12345);
    for (int k = 0; k < n; k++) {
        float *x = gg_graph_data(g, nodes[k]);
        const float *gr = gg_graph_grad(g, nodes[k]);
        gg_shape s = gg_graph_shape(g, nodes[k]);
        size_t numel = gg_shape_numel(s);
        const char *op = gg_graph_node_op(g, nodes[k]);
        if (strcmp(op, "input") == 0) numel = numel / (size_t)s.d[0] * (size_t)gg_graph_batch(g);
        if (!gr) {
            GT_CHECK(0, "%s: node '%s' has no gradient", what, gg_graph_node_name(g, nodes[k]));
            bad++;
            continue;
        }
        /* the analytic gradient is read before perturbing: copy it */
        float *ana = malloc(numel * sizeof *ana);
        memcpy(ana, gr, numel * sizeof *ana);
        int m = samples < (int)numel ? samples : (int)numel;
        for (int j = 0; j < m; j++) {
            size_t i = m == (int)numel ? (size_t)j : (size_t)gg_rng_below(&r, numel);
            float x0 = x[i];
            float eps = 1e-2f * (fabsf(x0) > 1 ? fabsf(x0) : 1);
            x[i] = x0 + eps;
            double lp = gc_loss(g, loss);
            x[i] = x0 - eps;
            double lm = gc_loss(g, loss);
            x[i] = x0;
            double num = (lp - lm) / ((double)(x0 + eps) - (double)(x0 - eps));
            double a = ana[i];
            double m2 = fabs(num) > fabs(a) ? fabs(num) : fabs(a);
            if (!(fabs(num - a) <= 2e-3 + 3e-2 * m2)) {
                bad++;
                GT_CHECK(0, "%s: d loss / d %s[%zu]: analytic %.6g, numeric %.6g", what,
                         gg_graph_node_name(g, nodes[k]), i, a, num);
            } else {
                gt_pass++;
            }
        }
        free(ana);
    }
    gc_loss(g, loss);
    return bad;
}

#endif

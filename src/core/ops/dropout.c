/* dropout.c - inverted dropout.
 *
 *   x (n) -> y (n): training: y_i = x_i / (1 - p) if u_i >= p, else 0;
 *                   evaluation: y = x.
 *   u_i = gg_hash_uniform(key, i), key = mix(graph seed, node index, rng step).
 * The mask is a pure function of (seed, node, step, element), so it costs no
 * memory and no generator state: backward recomputes it, a re-run of the
 * same step (diagnosis, gradient accumulation replay) draws the same mask,
 * and threads can draw in any order. Backward follows the mode of the last
 * forward (g->mode):
 *   dx_i += dy_i / (1 - p) if kept, 0 if dropped (training); dx += dy (evaluation).
 * The mask multiplies (x * 0, not 0), so a NaN stays visible to the guard
 * as it does in PyTorch. Attributes: fa = {p}. */
#include "../core.h"
#include "attr.h"

#include <string.h>

gg_node gg_dropout(gg_graph *g, gg_node x, float p)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, x)) return gg_build_fail(g, GG_E_ARG, "dropout: bad input node %d", x);
    if (!(p >= 0 && p < 1))
        return gg_build_fail(g, GG_E_ARG, "dropout in '%s': drop probability %g is outside [0, 1)", g->scope, p);
    gg_tensor *xt = gg_T(g, x);
    gg_node n = gg_add_node(g, GG_OP_DROPOUT, "dropout", &x, 1, xt->shape, xt->batched);
    if (n >= 0) gg_dropout_p(&g->t[n]) = p;
    return n;
}

/* splitmix64's finaliser: spreads the three inputs over all 64 bits so
 * that nearby nodes and steps get unrelated masks. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t mask_key(const gg_graph *g, const gg_tensor *t)
{
    uint64_t node = (uint64_t)(t - g->t);
    return mix64(mix64(g->seed ^ 0x5851f42d4c957f2dull) + 0x9e3779b97f4a7c15ull * (node + 1) +
                 0xda942042e4dd58b5ull * mix64(g->rng_step + 1));
}

void gg_dropout_fwd(gg_graph *g, gg_tensor *t)
{
    const float *x = gg_IN(g, t, 0)->val;
    float *y = t->val, p = gg_dropout_p(t);
    long n = (long)gg_numel(g, t);
    if (g->mode != GG_TRAIN || p == 0) {
        memcpy(y, x, (size_t)n * sizeof *y);
        return;
    }
    uint64_t key = mask_key(g, t);
    float sc = 1 / (1 - p);
#pragma omp parallel for if (n > GG_PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = x[i] * (gg_hash_uniform(key, (uint64_t)i) >= p ? sc : 0.0f);
}

void gg_dropout_bwd(gg_graph *g, gg_tensor *t)
{
    float *dx = gg_IN(g, t, 0)->grad, p = gg_dropout_p(t);
    const float *dy = t->grad;
    long n = (long)gg_numel(g, t);
    if (g->mode != GG_TRAIN || p == 0) {
#pragma omp parallel for simd if (parallel: n > GG_PAR_MIN)
        for (long i = 0; i < n; i++) dx[i] += dy[i];
        return;
    }
    uint64_t key = mask_key(g, t);
    float sc = 1 / (1 - p);
#pragma omp parallel for if (n > GG_PAR_MIN)
    for (long i = 0; i < n; i++) dx[i] += dy[i] * (gg_hash_uniform(key, (uint64_t)i) >= p ? sc : 0.0f);
}

/* embed.c - embedding lookup.
 *
 *   idx (R) [R = all elements of idx, class ids stored as floats],
 *   table (V, D) -> y (R, D), y[r] = table[idx[r]]
 *   backward: dtable[idx[r]] += dy[r]  (no gradient for the ids)
 * Ids are checked before anything is written: one that is not an integer in
 * [0, V) fails the forward with gg_run_fail naming its row. The scatter-add
 * splits the columns among threads, so rows that share an id never race and
 * the sum order is the same whatever the thread count. */
#include "../core.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

gg_node gg_embedding(gg_graph *g, gg_node idx, gg_node table)
{
    if (!g || g->err) return -1;
    if (!gg_node_ok(g, idx) || !gg_node_ok(g, table))
        return gg_build_fail(g, GG_E_ARG, "embedding: bad input node (idx %d, table %d)", idx, table);
    gg_tensor *it = gg_T(g, idx), *tt = gg_T(g, table);
    char s1[64], s2[64];
    if (tt->batched || tt->shape.ndim != 2)
        return gg_build_fail(g, GG_E_SHAPE, "embedding in '%s': table '%s' %s is not a (V, D) matrix", g->scope,
                             tt->name, gg_shape_str(tt->shape, s1, sizeof s1));
    if (it->shape.ndim >= GG_MAX_DIMS)
        return gg_build_fail(g, GG_E_SHAPE, "embedding in '%s': ids '%s' %s have too many dims for a %s table (max %d)",
                             g->scope, it->name, gg_shape_str(it->shape, s1, sizeof s1),
                             gg_shape_str(tt->shape, s2, sizeof s2), GG_MAX_DIMS - 1);
    if (tt->shape.d[0] > (1 << 24))
        return gg_build_fail(g, GG_E_SHAPE, "embedding in '%s': table '%s' has %d rows; float ids are exact to 2^24",
                             g->scope, tt->name, tt->shape.d[0]);
    gg_shape s = it->shape;
    s.d[s.ndim++] = tt->shape.d[1];
    gg_node in[2] = {idx, table};
    return gg_add_node(g, GG_OP_EMBEDDING, "embedding", in, 2, s, it->batched);
}

/* The row of table for id value v, or -1 if v is not an integer in [0, V). */
static long row_id(float v, int V)
{
    if (!(v >= 0 && v < (float)V)) return -1;
    long k = (long)v;
    return (float)k == v ? k : -1;
}

void gg_embedding_fwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *ix = gg_IN(g, t, 0), *tb = gg_IN(g, t, 1);
    const float *id = ix->val, *tv = tb->val;
    int V = tb->shape.d[0], D = tb->shape.d[1];
    long R = (long)gg_numel(g, ix);
    for (long r = 0; r < R; r++)
        if (row_id(id[r], V) < 0) {
            gg_run_fail(g, GG_E_ARG, "embedding '%s': id %g in row %ld of '%s' is not an integer in 0..%d", t->name,
                        (double)id[r], r, ix->name, V - 1);
            return;
        }
    float *y = t->val;
#pragma omp parallel for if ((size_t)R * D > GG_PAR_MIN)
    for (long r = 0; r < R; r++) memcpy(y + (size_t)r * D, tv + (size_t)row_id(id[r], V) * D, (size_t)D * sizeof *y);
}

void gg_embedding_bwd(gg_graph *g, gg_tensor *t)
{
    gg_tensor *ix = gg_IN(g, t, 0), *tb = gg_IN(g, t, 1);
    if (!tb->needs_grad) return;
    const float *id = ix->val, *dy = t->grad;
    float *dt = tb->grad;
    int V = tb->shape.d[0], D = tb->shape.d[1];
    long R = (long)gg_numel(g, ix);
#pragma omp parallel if ((size_t)R * D > GG_PAR_MIN && D > 1)
    {
#ifdef _OPENMP
        int nt = omp_get_num_threads(), me = omp_get_thread_num();
#else
        int nt = 1, me = 0;
#endif
        int d0 = (int)((long)D * me / nt), d1 = (int)((long)D * (me + 1) / nt);
        for (long r = 0; r < R; r++) {
            long k = row_id(id[r], V);
            if (k < 0) continue; /* only after a forward that failed on it */
            float *q = dt + (size_t)k * D;
            const float *d = dy + (size_t)r * D;
            for (int i = d0; i < d1; i++) q[i] += d[i];
        }
    }
}

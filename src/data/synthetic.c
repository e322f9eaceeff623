/* synthetic.c - the long-time-lag tasks that RNN papers test on, generated
 * in memory: the adding problem and the temporal order problem.
 *
 * Both are from Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural
 * Computation 9(8), 1997 (experiments 4 and 6a). The adding problem's
 * variant A is the form used by Le, Jaitly & Hinton 2015 ("A simple way to
 * initialize recurrent networks of rectified linear units", the IRNN) and
 * Arjovsky, Shah & Bengio 2016 ("Unitary evolution recurrent neural
 * networks"); Pascanu, Mikolov & Bengio 2013 ("On the difficulty of training
 * recurrent neural networks") use both tasks to show exploding gradients.
 *
 * Every sample draws from its own generator, seeded from (seed, sample
 * index), so the set is the same for a seed whatever the thread count, and
 * sample i does not change when n does. */
#include "data.h"
#include "../core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Below this many floats a set is made on one thread. */
#define SYN_OMP_MIN (1 << 18)

/* The generator of sample i: a hash of (key, i) through splitmix seeding,
 * as gg_hash_uniform does, so neighbouring samples share no state. */
static void sample_rng(gg_rng *r, uint64_t key, size_t i)
{
    gg_rng_seed(r, key ^ ((uint64_t)i * 0xd1342543de82ef95ull));
}

/* Allocates n samples of (T, F) f32 features and n * label_per labels after
 * checking the sizes against the data limits. `what` names the task. */
static gg_status alloc_set(gg_dataset *ds, const char *what, size_t n, int T, int F, int label_per)
{
    memset(ds, 0, sizeof *ds);
    uint64_t per = (uint64_t)T * (uint64_t)F, fbytes, lbytes;
    if (per > GG_DATA_MAX_DIM || !gg_mul_ok(n, per * sizeof(float), &fbytes) || fbytes > GG_DATA_MAX_BYTES)
        return gg_fail(GG_E_NOMEM, "%s: %zu samples of (%d, %d) floats are over the limit of %llu bytes", what, n, T,
                       F, (unsigned long long)GG_DATA_MAX_BYTES);
    if (!gg_mul_ok(n, (uint64_t)label_per * sizeof(float), &lbytes) || lbytes > GG_DATA_MAX_BYTES)
        return gg_fail(GG_E_NOMEM, "%s: %zu label rows are over the limit of %llu bytes", what, n,
                       (unsigned long long)GG_DATA_MAX_BYTES);
    ds->f32 = malloc((size_t)fbytes);
    ds->labels = malloc((size_t)lbytes);
    if (!ds->f32 || !ds->labels) {
        gg_dataset_free(ds);
        return gg_fail(GG_E_NOMEM, "%s: out of memory for %zu samples of (%d, %d) floats", what, n, T, F);
    }
    ds->n = n;
    ds->ndim = 2;
    ds->shape[0] = T;
    ds->shape[1] = F;
    ds->per = (size_t)per;
    ds->label_per = label_per;
    ds->scale = 1;
    ds->mean = 0;
    ds->std = 1;
    snprintf(ds->source, sizeof ds->source, "%s", what);
    return GG_OK;
}

/* Variant A (Le et al. 2015; Arjovsky et al. 2016): x (T, 2), values U(0, 1),
 * one marker uniform in [0, T/2), the other uniform in [T/2, T); y = sum. */
static void adding_a(gg_rng *r, int T, float *x, float *y)
{
    // x is (T, 2): column 0 the value, column 1 the marker
    for (int t = 0; t < T; t++) {
        x[2 * t] = (float)gg_rng_uniform(r);
        x[2 * t + 1] = 0;
    }
    int h = T / 2;
    int p1 = (int)gg_rng_below(r, (uint64_t)h);
    int p2 = h + (int)gg_rng_below(r, (uint64_t)(T - h));
    x[2 * p1 + 1] = 1;
    x[2 * p2 + 1] = 1;
    /* the sum of the float values as stored, so the target is exact */
    y[0] = x[2 * p1] + x[2 * p2];
}

/* Variant B (Hochreiter & Schmidhuber 1997, experiment 4): values U(-1, 1);
 * the first marker on one of the first 10 pairs, the second on one of the
 * first T/2 pairs other than that one; the markers of the first and last
 * pairs are -1 unless marked; a marked first pair has its value set to 0;
 * y = 0.5 + (x1 + x2) / 4. */
static void adding_b(gg_rng *r, int T, float *x, float *y)
{
    // x is (T, 2): column 0 the value, column 1 the marker
    for (int t = 0; t < T; t++) {
        x[2 * t] = (float)(2.0 * gg_rng_uniform(r) - 1.0);
        x[2 * t + 1] = 0;
    }
    int h = T / 2; /* >= 10, so the first marker is always inside [0, T/2) */
    int p1 = (int)gg_rng_below(r, 10);
    int p2 = (int)gg_rng_below(r, (uint64_t)(h - 1));
    if (p2 >= p1) p2++; /* one of the first T/2 - 1 still unmarked pairs */
    x[1] = -1;
    x[2 * (T - 1) + 1] = -1;
    x[2 * p1 + 1] = 1;
    x[2 * p2 + 1] = 1;
    if (p1 == 0 || p2 == 0) x[0] = 0;
    y[0] = 0.5f + (x[2 * p1] + x[2 * p2]) / 4.0f;
}

gg_status gg_dataset_adding(gg_dataset *ds, size_t n, int T, int variant, uint64_t seed)
{
    if (!ds) return gg_fail(GG_E_ARG, "gg_dataset_adding: NULL data set");
    memset(ds, 0, sizeof *ds);
    if (variant != GG_ADDING_UNIFORM && variant != GG_ADDING_ORIGINAL)
        return gg_fail(GG_E_ARG, "adding problem: unknown variant %d (GG_ADDING_UNIFORM %d or GG_ADDING_ORIGINAL %d)",
                       variant, GG_ADDING_UNIFORM, GG_ADDING_ORIGINAL);
    int tmin = variant == GG_ADDING_UNIFORM ? 2 : 20;
    if (T < tmin)
        return gg_fail(GG_E_ARG, "adding problem (variant %s): sequence length T = %d, but it must be at least %d%s",
                       variant == GG_ADDING_UNIFORM ? "A" : "B", T, tmin,
                       variant == GG_ADDING_UNIFORM ? " (one marker in each half)"
                                                    : " (the first marker is in the first 10 steps, the second in "
                                                      "the first half)");
    if (n < 1) return gg_fail(GG_E_ARG, "adding problem: n = 0 samples (at least 1 is needed)");
    char what[96];
    snprintf(what, sizeof what, "adding problem (variant %s, T %d, seed %llu)",
             variant == GG_ADDING_UNIFORM ? "A" : "B", T, (unsigned long long)seed);
    gg_status st = alloc_set(ds, what, n, T, 2, 1);
    if (st) return st;
    const int par = (uint64_t)n * (uint64_t)T * 2 >= SYN_OMP_MIN;
    float *x = ds->f32, *y = ds->labels;
#pragma omp parallel for if (par) schedule(static)
    for (long long i = 0; i < (long long)n; i++) {
        gg_rng r;
        sample_rng(&r, seed, (size_t)i);
        if (variant == GG_ADDING_UNIFORM)
            adding_a(&r, T, x + (size_t)i * 2 * (size_t)T, y + i);
        else
            adding_b(&r, T, x + (size_t)i * 2 * (size_t)T, y + i);
    }
    ds->num_classes = 0; /* regression targets, even if one happened to be an integer */
    return GG_OK;
}

/* The windows of the two relevant symbols for length T: [T/10, 2T/10] and
 * [T/2, 6T/10] (0-based, inclusive), which at T = 100 are the paper's
 * t1 in 10..20 and t2 in 50..60. */
static void temporal_windows(int T, int w[4])
{
    w[0] = T / 10;
    w[1] = (int)((2LL * T) / 10);
    w[2] = T / 2;
    w[3] = (int)((6LL * T) / 10);
}

gg_status gg_dataset_temporal_order(gg_dataset *ds, size_t n, int T, uint64_t seed)
{
    if (!ds) return gg_fail(GG_E_ARG, "gg_dataset_temporal_order: NULL data set");
    memset(ds, 0, sizeof *ds);
    if (T < GG_TEMPORAL_MIN_T)
        return gg_fail(GG_E_ARG,
                       "temporal order problem: sequence length T = %d, but it must be at least %d (the relevant "
                       "symbols sit in steps T/10..2T/10 and T/2..6T/10, after the start symbol)",
                       T, GG_TEMPORAL_MIN_T);
    if (n < 1) return gg_fail(GG_E_ARG, "temporal order problem: n = 0 samples (at least 1 is needed)");
    char what[96];
    snprintf(what, sizeof what, "temporal order problem (T %d, seed %llu)", T, (unsigned long long)seed);
    gg_status st = alloc_set(ds, what, n, T, GG_TEMPORAL_VOCAB, 1);
    if (st) return st;
    int w[4];
    temporal_windows(T, w);
    const size_t per = ds->per;
    const int par = (uint64_t)n * per >= SYN_OMP_MIN;
    float *x = ds->f32, *y = ds->labels;
#pragma omp parallel for if (par) schedule(static)
    for (long long i = 0; i < (long long)n; i++) {
        // x is (T, V) one-hot rows; y is the class 2 first + second (X 0, Y 1)
        gg_rng r;
        sample_rng(&r, seed, (size_t)i);
        float *s = x + (size_t)i * per;
        memset(s, 0, per * sizeof(float));
        int sym[2], pos[2];
        pos[0] = w[0] + (int)gg_rng_below(&r, (uint64_t)(w[1] - w[0] + 1));
        pos[1] = w[2] + (int)gg_rng_below(&r, (uint64_t)(w[3] - w[2] + 1));
        sym[0] = (int)gg_rng_below(&r, 2);
        sym[1] = (int)gg_rng_below(&r, 2);
        for (int t = 0; t < T; t++) {
            int v = t == 0        ? GG_TEMPORAL_E
                    : t == T - 1  ? GG_TEMPORAL_B
                    : t == pos[0] ? GG_TEMPORAL_X + sym[0]
                    : t == pos[1] ? GG_TEMPORAL_X + sym[1]
                                  : (int)gg_rng_below(&r, 4); /* a distractor a..d */
            s[(size_t)t * GG_TEMPORAL_VOCAB + (size_t)v] = 1;
        }
        y[i] = (float)(2 * sym[0] + sym[1]);
    }
    ds->num_classes = 4; /* whatever classes this draw happened to hold */
    return GG_OK;
}

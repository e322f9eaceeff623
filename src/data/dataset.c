/* dataset.c - a data set in memory: freeing, splitting, standardising,
 * shuffling, and the per-batch conversion to normalised float32. */
#ifdef __linux__
#define _DEFAULT_SOURCE /* madvise */
#endif
#include "data.h"
#include "../core/error.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1; older C library headers lack the name */
#endif
#endif

/* Below this many values a batch is converted on one thread: the loop is
 * vectorised and memory-bound, and a fork costs more than it saves. */
#define BATCH_OMP_MIN (1 << 19)

long gg_first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

/* Batches read rows at random from all over the training set (47 MB for
 * Fashion-MNIST). With 4 KiB pages nearly every row is a TLB miss, and the
 * step's own working set has evicted the page-table entries by the next
 * batch: the page walks were most of the batch conversion's time. Asks the
 * kernel to back the set with 2 MiB pages, at once (MADV_COLLAPSE) rather
 * than whenever khugepaged gets to it. Best effort: without transparent
 * huge pages, or the memory for them, the small pages stay. */
static void huge_pages(void *p, size_t bytes)
{
#ifdef __linux__
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (!p || bytes < 4 * huge) return;
    uintptr_t b = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (madvise((void *)b, e - b, MADV_HUGEPAGE) == 0) (void)madvise((void *)b, e - b, MADV_COLLAPSE);
#else
    (void)p;
    (void)bytes;
#endif
}

const char *gg_label_where(const gg_dataset *ds, size_t i, int j, char *buf, size_t cap)
{
    const char *file = ds->label_source[0] ? ds->label_source : ds->source;
    size_t at = ds->origin ? ds->origin[i] : i;
    char val[48] = "";
    if (ds->label_per > 1) snprintf(val, sizeof val, ", value %d", j);
    if (ds->origin && ds->origin_is_line) snprintf(buf, cap, "%s: line %zu%s", file, at, val);
    else if (ds->label_source[0]) snprintf(buf, cap, "%s: label %zu%s", file, at, val);
    else snprintf(buf, cap, "%s: sample %zu%s", file, at, val); /* generated: no labels file */
    return buf;
}

gg_status gg_dataset_finish(gg_dataset *ds, const char *label_source)
{
    if (ds->labels && label_source && !ds->label_source[0])
        snprintf(ds->label_source, sizeof ds->label_source, "%s", label_source);
    huge_pages(ds->u8 ? (void *)ds->u8 : (void *)ds->f32, ds->n * ds->per * (ds->u8 ? 1 : sizeof(float)));
    ds->mean = 0;
    ds->std = 1;
    if (ds->scale == 0) ds->scale = 1;
    ds->num_classes = 0;
    if (!ds->labels) return GG_OK;
    size_t m = ds->n * (size_t)ds->label_per;
    long bad = gg_first_nonfinite(ds->labels, m);
    if (bad >= 0) {
        char w[400];
        return gg_fail(GG_E_NONFINITE, "%s: the label is %g (labels must be finite)",
                       gg_label_where(ds, (size_t)bad / (size_t)ds->label_per, (int)((size_t)bad % (size_t)ds->label_per),
                                      w, sizeof w),
                       (double)ds->labels[bad]);
    }
    /* class ids are integers >= 0; anything else makes regression targets */
    float mx = 0;
    for (size_t i = 0; i < m; i++) {
        float v = ds->labels[i];
        if (v < 0 || v != floorf(v) || v >= (float)GG_DATA_MAX_CLASSES) return GG_OK;
        if (v > mx) mx = v;
    }
    ds->num_classes = m ? (int)mx + 1 : 0;
    return GG_OK;
}

gg_status gg_dataset_check_classes(const gg_dataset *ds, int num_classes)
{
    if (!ds) return gg_fail(GG_E_ARG, "gg_dataset_check_classes: NULL data set");
    if (!ds->labels || ds->label_per < 1)
        return gg_fail(GG_E_FORMAT, "%s has no labels, but class ids are needed", ds->source);
    /* several class ids per sample are one per time step (sequence labels) */
    size_t total = ds->n * (size_t)ds->label_per;
    for (size_t j = 0; j < total; j++) {
        size_t i = j / (size_t)ds->label_per;
        float v = ds->labels[j];
        const char *why = !isfinite(v) ? "is not finite"
                          : v != floorf(v) ? "is not an integer"
                          : v < 0          ? "is negative"
                          : num_classes > 0 && v >= (float)num_classes ? "is out of range"
                          : v >= (float)GG_DATA_MAX_CLASSES ? "is over the limit of 16777216 classes"
                                                            : NULL;
        if (why) {
            char w[400];
            gg_label_where(ds, i, (int)(j % (size_t)ds->label_per), w, sizeof w);
            if (num_classes > 0)
                return gg_fail(GG_E_FORMAT, "%s: class id %.9g %s (class ids must be integers in [0, %d))", w,
                               (double)v, why, num_classes);
            return gg_fail(GG_E_FORMAT, "%s: class id %.9g %s (class ids must be integers >= 0)", w, (double)v, why);
        }
    }
    return GG_OK;
}

void gg_dataset_free(gg_dataset *ds)
{
    if (!ds) return;
    free(ds->u8);
    free(ds->f32);
    free(ds->labels);
    free(ds->origin);
    memset(ds, 0, sizeof *ds);
}

/* Copies the samples marked `want` in pick[0..src->n) into dst (allocated
 * here; its count is k). */
static gg_status copy_subset(const gg_dataset *src, const unsigned char *pick, unsigned char want, size_t k,
                             gg_dataset *dst)
{
    memset(dst, 0, sizeof *dst);
    dst->n = k;
    dst->ndim = src->ndim;
    memcpy(dst->shape, src->shape, sizeof dst->shape);
    dst->per = src->per;
    dst->scale = src->scale;
    dst->mean = src->mean;
    dst->std = src->std;
    dst->label_per = src->label_per;
    dst->num_classes = src->num_classes; /* the class count is the whole set's */
    memcpy(dst->source, src->source, sizeof dst->source);
    memcpy(dst->label_source, src->label_source, sizeof dst->label_source);
    dst->origin_is_line = src->origin_is_line;
    size_t per = src->per, lp = (size_t)src->label_per, m = k ? k : 1;
    if (src->u8) dst->u8 = malloc(m * per);
    if (src->f32) dst->f32 = malloc(m * per * sizeof(float));
    if (src->labels) dst->labels = malloc(m * lp * sizeof(float));
    /* each part remembers where its samples were, for messages */
    dst->origin = malloc(m * sizeof *dst->origin);
    if ((src->u8 && !dst->u8) || (src->f32 && !dst->f32) || (src->labels && !dst->labels) || !dst->origin) {
        gg_dataset_free(dst);
        return gg_fail(GG_E_NOMEM, "out of memory splitting %s (%zu samples of %zu features)", src->source, k, per);
    }
    size_t j = 0;
    for (size_t i = 0; i < src->n; i++) {
        if (pick[i] != want) continue;
        if (src->u8) memcpy(dst->u8 + j * per, src->u8 + i * per, per);
        if (src->f32) memcpy(dst->f32 + j * per, src->f32 + i * per, per * sizeof(float));
        if (src->labels) memcpy(dst->labels + j * lp, src->labels + i * lp, lp * sizeof(float));
        dst->origin[j] = src->origin ? src->origin[i] : i;
        j++;
    }
    return GG_OK;
}

gg_status gg_dataset_split(const gg_dataset *src, double val_fraction, uint64_t seed, gg_dataset *train,
                           gg_dataset *val)
{
    if (!src || !train || !val || train == val || src == train || src == val)
        return gg_fail(GG_E_ARG, "gg_dataset_split: NULL or aliased data sets");
    if (!(val_fraction >= 0 && val_fraction <= 1))
        return gg_fail(GG_E_ARG, "gg_dataset_split: val_fraction %g of %s is not in [0, 1]", val_fraction,
                       src->source);
    size_t n = src->n;
    size_t nval = (size_t)floor((double)n * val_fraction + 0.5);
    if (nval > n) nval = n;
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    unsigned char *pick = calloc(n ? n : 1, 1);
    if (!perm || !pick) {
        free(perm);
        free(pick);
        return gg_fail(GG_E_NOMEM, "out of memory splitting %s (%zu samples)", src->source, n);
    }
    gg_rng r;
    gg_rng_seed(&r, seed);
    gg_shuffle(perm, n, 1, &r);
    for (size_t i = 0; i < nval; i++) pick[perm[i]] = 1;
    free(perm);
    /* both parts keep the samples in their original order */
    gg_status st = copy_subset(src, pick, 0, n - nval, train);
    if (st == GG_OK) {
        st = copy_subset(src, pick, 1, nval, val);
        if (st) gg_dataset_free(train);
    }
    free(pick);
    return st;
}

void gg_dataset_standardize(gg_dataset *ds)
{
    size_t m = ds->n * ds->per;
    double mean = 0, var = 0;
    if (m == 0) {
        ds->mean = 0;
        ds->std = 1;
        return;
    }
    if (ds->u8) {
        /* a histogram makes it exact and one cheap pass */
        uint64_t h[256] = {0};
        for (size_t i = 0; i < m; i++) h[ds->u8[i]]++;
        for (int v = 0; v < 256; v++) mean += (double)h[v] * v;
        mean /= (double)m;
        for (int v = 0; v < 256; v++) var += (double)h[v] * (v - mean) * (v - mean);
        var /= (double)m;
    } else if (ds->f32) {
        /* two passes in double (no cancellation for large offsets), each
         * summed over fixed blocks and then in block order, so the result
         * does not depend on the number of threads */
        enum { NB = 256 };
        double part[NB];
        const float *x = ds->f32;
        size_t bs = (m + NB - 1) / NB;
        for (int pass = 0; pass < 2; pass++) {
#pragma omp parallel for if (m >= BATCH_OMP_MIN)
            for (int b = 0; b < NB; b++) {
                size_t lo = (size_t)b * bs, hi = lo + bs < m ? lo + bs : m;
                double acc = 0;
                for (size_t i = lo; i < hi; i++) {
                    double v = pass ? (double)x[i] - mean : (double)x[i];
                    acc += pass ? v * v : v;
                }
                part[b] = acc;
            }
            double t = 0;
            for (int b = 0; b < NB; b++) t += part[b];
            if (pass)
                var = t / (double)m;
            else
                mean = t / (double)m;
        }
    }
    double sc = ds->scale;
    ds->mean = (float)(mean * sc);
    double sd = sqrt(var) * fabs(sc);
    /* a constant feature set would divide by zero */
    ds->std = sd > 1e-12 ? (float)sd : 1.0f;
}

/* Rows a batch's conversion fetches ahead of the one it converts. */
#define BATCH_PREFETCH 4

/* Asks for every cache line of p[0, bytes) without waiting for them. */
static inline void prefetch_row(const void *p, size_t bytes)
{
    /* from the line that holds the first byte to the one that holds the last */
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + bytes;
    for (; a < end; a += 64) __builtin_prefetch((const void *)a, 0, 3);
}

void gg_dataset_batch(const gg_dataset *ds, const size_t *idx, int n, float *x, float *y)
{
    // x is (n, per), y is (n, label_per); sample i is row idx[i] of ds
    const size_t per = ds->per;
    const float sc = ds->scale, mu = ds->mean, sd = ds->std;
    const int par = (size_t)n * per >= BATCH_OMP_MIN;
    if (ds->u8) {
        /* the plain formula vectorises (byte -> float conversion, SIMD
         * divide); a 256-entry table would need a gather per value. With
         * mean 0 and std 1 (every data set not standardised) the subtraction
         * and the division are exact no-ops and are left out: the same
         * values without the divides. */
        const int plain = mu == 0.0f && sd == 1.0f;
#pragma omp parallel for if (par)
        for (int i = 0; i < n; i++) {
            /* the rows are scattered over the whole training set (47 MB for
             * Fashion-MNIST) and each began with a cache miss the loop waited
             * for: fetch the rows BATCH_PREFETCH ahead while this one converts */
            if (i + BATCH_PREFETCH < n) prefetch_row(ds->u8 + idx[i + BATCH_PREFETCH] * per, per);
            if (i == 0)
                for (int k = 1; k < BATCH_PREFETCH && k < n; k++) prefetch_row(ds->u8 + idx[k] * per, per);
            const uint8_t *s = ds->u8 + idx[i] * per;
            float *d = x + (size_t)i * per;
            if (plain)
                for (size_t j = 0; j < per; j++) d[j] = (float)s[j] * sc;
            else
                for (size_t j = 0; j < per; j++) d[j] = ((float)s[j] * sc - mu) / sd;
        }
    } else if (ds->f32) {
        const int plain = sc == 1.0f && mu == 0.0f && sd == 1.0f;
#pragma omp parallel for if (par)
        for (int i = 0; i < n; i++) {
            const float *s = ds->f32 + idx[i] * per;
            float *d = x + (size_t)i * per;
            if (plain)
                memcpy(d, s, per * sizeof(float));
            else
                for (size_t j = 0; j < per; j++) d[j] = (s[j] * sc - mu) / sd;
        }
    }
    if (y && ds->labels) {
        const size_t lp = (size_t)ds->label_per;
        for (int i = 0; i < n; i++) memcpy(y + (size_t)i * lp, ds->labels + idx[i] * lp, lp * sizeof(float));
    }
}

void gg_shuffle(size_t *perm, size_t n, int fill, gg_rng *r)
{
    if (fill)
        for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)gg_rng_below(r, i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

/*
 * gemm_floor.c - what OpenBLAS alone needs for the GEMMs of a training step.
 *
 *   gemm_floor mlp --dims 784,256,128,10 --batch 128 [--threads N] [--time S] [--reps R]
 *   gemm_floor square --n 2048 [--threads N] [--time S] [--reps R]
 *
 * mlp: the forward and backward GEMMs of a dense stack with exactly the
 * shapes, transposes and betas gradguard's linear op uses (src/core/ops/
 * linear.c), nothing else: no bias, activation, loss or optimizer. Its time
 * is a floor for a training step of that model on this BLAS.
 *   forward   y_l (B, O) = x_{l-1} (B, K) W_l^T            NoTrans, Trans
 *   backward  dW_l (O, K) += dy_l^T (O, B) x_{l-1} (B, K)   Trans, NoTrans
 *             dx_{l-1} (B, K) += dy_l (B, O) W_l (O, K)     NoTrans, NoTrans, layers 2..L only
 * square: C (n, n) = A B, the machine's sgemm rate.
 *
 * After a warm-up, R repetitions (default 7) of as many steps as fill S
 * seconds (default 0.25) each. Prints one JSON object: ms per step (median
 * over repetitions), its spread,
 * the FLOPs of a step and GFLOP/s. Links the same OpenBLAS as gradguard.
 */
#include "clock.h"

#include <cblas.h>
#include <omp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LAYERS 16
#define MAX_REPS 32

static float *filled(size_t n, unsigned *seed)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "gemm_floor: out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = (float)(*seed >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct mlp {
    int L, B, d[MAX_LAYERS + 1];
    float *w[MAX_LAYERS], *dw[MAX_LAYERS], *act[MAX_LAYERS + 1], *dact[MAX_LAYERS + 1];
} mlp;

/* One step: L forward GEMMs, then per layer from the top dW and (below the
 * first layer) dx. act[0] is the data, act[l] layer l's output (B, d[l]). */
static void mlp_step(mlp *m)
{
    int B = m->B;
    for (int l = 1; l <= m->L; l++) {
        int K = m->d[l - 1], O = m->d[l];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, O, K, 1.0f, m->act[l - 1], K, m->w[l - 1], K, 0.0f,
                    m->act[l], O);
    }
    for (int l = m->L; l >= 1; l--) {
        int K = m->d[l - 1], O = m->d[l];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, K, B, 1.0f, m->dact[l], O, m->act[l - 1], K, 1.0f,
                    m->dw[l - 1], K);
        if (l > 1)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, K, O, 1.0f, m->dact[l], O, m->w[l - 1], K, 1.0f,
                        m->dact[l - 1], K);
    }
}

static double mlp_flops(const mlp *m)
{
    double f = 0;
    for (int l = 1; l <= m->L; l++) {
        double one = 2.0 * m->B * m->d[l - 1] * m->d[l];
        f += one * (l > 1 ? 3 : 2);
    }
    return f;
}

static int parse_dims(const char *s, mlp *m)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1000000 || n > MAX_LAYERS) return -1;
        m->d[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    m->L = n - 1;
    return m->L >= 1 ? 0 : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: gemm_floor mlp --dims 784,256,128,10 --batch 128 [--threads N] [--time S] [--reps R]\n"
                    "       gemm_floor square --n 2048 [--threads N] [--time S] [--reps R]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    const char *mode = argv[1];
    const char *dims = "784,256,128,10";
    int batch = 128, n = 2048, threads = 1, reps = 7;
    double budget = 0.25; /* seconds per repetition */
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (!strcmp(argv[i], "--dims")) dims = argv[++i];
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--n")) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--time")) budget = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
        else usage();
    }
    if (threads <= 0) threads = omp_get_num_procs();
    if (batch < 1 || n < 1 || !(budget > 0) || reps < 1 || reps > MAX_REPS) usage();
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    unsigned seed = 12345;

    mlp m;
    memset(&m, 0, sizeof m);
    float *a = NULL, *b = NULL, *c = NULL;
    double flops;
    int is_mlp = !strcmp(mode, "mlp");
    if (is_mlp) {
        if (parse_dims(dims, &m)) usage();
        m.B = batch;
        for (int l = 0; l <= m.L; l++) {
            m.act[l] = filled((size_t)batch * m.d[l], &seed);
            m.dact[l] = filled((size_t)batch * m.d[l], &seed);
            if (l < m.L) {
                m.w[l] = filled((size_t)m.d[l + 1] * m.d[l], &seed);
                m.dw[l] = filled((size_t)m.d[l + 1] * m.d[l], &seed);
            }
        }
        flops = mlp_flops(&m);
    } else if (!strcmp(mode, "square")) {
        a = filled((size_t)n * n, &seed);
        b = filled((size_t)n * n, &seed);
        c = filled((size_t)n * n, &seed);
        flops = 2.0 * n * n * (double)n;
    } else {
        usage();
        return 2;
    }

    /* warm up (thread pool, pages, caches), then size a repetition so that
     * it lasts about `budget` seconds */
    double t0 = now();
    int warm = 0;
    do {
        if (is_mlp) mlp_step(&m);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        warm++;
    } while (now() - t0 < 0.1 && warm < 1000);
    double per = (now() - t0) / warm;
    int iters = (int)(budget / (per > 1e-9 ? per : 1e-9));
    if (iters < 1) iters = 1;
    double ms[MAX_REPS], cms[MAX_REPS];
    for (int r = 0; r < reps; r++) {
        double s = now(), cs = cpu_now();
        for (int k = 0; k < iters; k++) {
            if (is_mlp) mlp_step(&m);
            else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        }
        ms[r] = (now() - s) * 1e3 / iters;
        cms[r] = (cpu_now() - cs) * 1e3 / iters;
    }
    qsort(ms, (size_t)reps, sizeof ms[0], cmp_double);
    qsort(cms, (size_t)reps, sizeof cms[0], cmp_double);
    double cmed = reps % 2 ? cms[reps / 2] : 0.5 * (cms[reps / 2 - 1] + cms[reps / 2]);
    double med = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
    printf("{\"mode\": \"%s\", \"threads\": %d, ", mode, threads);
    if (is_mlp) printf("\"dims\": \"%s\", \"batch\": %d, ", dims, batch);
    else printf("\"n\": %d, ", n);
    printf("\"cpu_ms_median\": %.6f, ", cmed);
    printf("\"iters_per_rep\": %d, \"reps\": %d, \"ms_median\": %.6f, \"ms_min\": %.6f, \"ms_max\": %.6f, "
           "\"flops\": %.0f, \"gflops\": %.3f, \"openblas_config\": \"%s\", \"openblas_core\": \"%s\"}\n",
           iters, reps, med, ms[0], ms[reps - 1], flops, flops / (med * 1e-3) / 1e9, openblas_get_config(),
           openblas_get_corename());
    for (int l = 0; l <= m.L && is_mlp; l++) {
        free(m.act[l]);
        free(m.dact[l]);
        if (l < m.L) {
            free(m.w[l]);
            free(m.dw[l]);
        }
    }
    free(a);
    free(b);
    free(c);
    return 0;
}

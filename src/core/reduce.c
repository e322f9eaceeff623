/* reduce.c - reductions over float arrays: the sum of squares (norms of
 * gradients, weights and updates) with the max |x|.
 *
 * The guard takes one such pass over the whole gradient arena every step, so
 * it is written for the vector unit. The squares are summed in float within
 * a block of SQ_BLOCK values, over 64 independent accumulators (a single
 * one leaves the loop waiting on the adder's latency, and each of the 64
 * adds only 64 terms: a relative error under 4e-6, typically 1e-7), and
 * the blocks' sums in double. Widening every value to double first cost
 * twice the instructions: the guard's pass was 2.5% of the MLP's step.
 * The max |x| rides along. Non-finite values need no test of their own: a
 * NaN or an infinity makes the sum non-finite, and a block whose float sum
 * is infinite is summed again in double, where the square of a finite
 * float cannot overflow (FLT_MAX^2 is 1.2e77); so a finite sum proves every
 * value finite, and only then, rarely, does gg_count_nonfinite count them. */
#include "core.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { SQ_BLOCK = 4096 };

/* The sum of squares of a block in double, every term and partial sum a
 * double: the rare second pass over a block whose float sum overflowed. */
static double block_double(const float *x, size_t n)
{
    double acc[4] = {0, 0, 0, 0};
    size_t k = 0;
    for (; k + 4 <= n; k += 4)
        for (int j = 0; j < 4; j++) acc[j] += (double)x[k + j] * x[k + j];
    for (; k < n; k++) acc[0] += (double)x[k] * x[k];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include <string.h>

/* Two forms, the same bits: 256-bit and 512-bit vectors. An AVX2 CPU has
 * the first (before it, the portable loop below ran there, scalar: gcc does
 * not vectorise its max |x|, and the guard's calls were 15% of the MLP's
 * step). A pass of 512-bit FMAs every step lowers an Intel AVX-512 core's
 * clock for the next milliseconds: under OpenBLAS's AVX2 (Haswell) kernels
 * the guarded MLP step cost 7% more than the unguarded, the guard's own
 * calls 1.6% of it. Where the BLAS runs 512-bit kernels itself (SkylakeX,
 * Cooperlake, SapphireRapids) there is no clock to lose, and the 512-bit
 * form reads the gradients faster (the guard's share 2.2% against 2.7%);
 * elsewhere the 256-bit form runs (the step +2.3%). Element j of a 64-value
 * stretch goes to accumulator j in both (four vectors of sixteen, eight of
 * eight), the rest 16 at a time to accumulators 0-15, and the accumulators
 * are added in the same order (lanes l, l + 16, l + 32, l + 48; then l and
 * l + 8 in double; then halves, as _mm512_reduce_add_pd), so the kernel
 * family changes nothing in the result (docs/results.md, the sixth
 * session). */
static inline __m256 abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

/* One block (n <= SQ_BLOCK): its float sum of squares, returned in double;
 * *m takes the max |x| (_mm256_max_ps(v, m) returns m when v is NaN: NaN
 * is left out of the max, as the scalar form (a > m ? a : m) does). */
static double block8(const float *x, size_t n, __m256 *m)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    __m256 m0 = *m, m1 = a0;
    size_t k = 0;
    for (; k + 64 <= n; k += 64) {
        __m256 v0 = _mm256_loadu_ps(x + k), v1 = _mm256_loadu_ps(x + k + 8);
        __m256 v2 = _mm256_loadu_ps(x + k + 16), v3 = _mm256_loadu_ps(x + k + 24);
        __m256 v4 = _mm256_loadu_ps(x + k + 32), v5 = _mm256_loadu_ps(x + k + 40);
        __m256 v6 = _mm256_loadu_ps(x + k + 48), v7 = _mm256_loadu_ps(x + k + 56);
        a0 = _mm256_fmadd_ps(v0, v0, a0);
        a1 = _mm256_fmadd_ps(v1, v1, a1);
        a2 = _mm256_fmadd_ps(v2, v2, a2);
        a3 = _mm256_fmadd_ps(v3, v3, a3);
        a4 = _mm256_fmadd_ps(v4, v4, a4);
        a5 = _mm256_fmadd_ps(v5, v5, a5);
        a6 = _mm256_fmadd_ps(v6, v6, a6);
        a7 = _mm256_fmadd_ps(v7, v7, a7);
        m0 = _mm256_max_ps(abs8(v0), m0);
        m1 = _mm256_max_ps(abs8(v1), m1);
        m0 = _mm256_max_ps(abs8(v2), m0);
        m1 = _mm256_max_ps(abs8(v3), m1);
        m0 = _mm256_max_ps(abs8(v4), m0);
        m1 = _mm256_max_ps(abs8(v5), m1);
        m0 = _mm256_max_ps(abs8(v6), m0);
        m1 = _mm256_max_ps(abs8(v7), m1);
    }
    /* the rest, 16 at a time; the last piece padded with zeros (they add nothing) */
    for (; k < n; k += 16) {
        float pad[16] = {0};
        const float *p = x + k;
        if (n - k < 16) {
            memcpy(pad, p, (n - k) * sizeof *pad);
            p = pad;
        }
        __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
        a0 = _mm256_fmadd_ps(v0, v0, a0);
        a1 = _mm256_fmadd_ps(v1, v1, a1);
        m0 = _mm256_max_ps(abs8(v0), m0);
        m1 = _mm256_max_ps(abs8(v1), m1);
    }
    /* max_ps of two NaN-free operands: m0, m1 never take a NaN */
    *m = _mm256_max_ps(m0, m1);
    __m256 lo = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a4, a6));
    __m256 hi = _mm256_add_ps(_mm256_add_ps(a1, a3), _mm256_add_ps(a5, a7));
    __m256d d03 = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(lo)), _mm256_cvtps_pd(_mm256_castps256_ps128(hi)));
    __m256d d47 = _mm256_add_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(lo, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(hi, 1)));
    __m256d t = _mm256_add_pd(d47, d03);
    __m128d u = _mm_add_pd(_mm256_extractf128_pd(t, 1), _mm256_castpd256_pd128(t));
    return _mm_cvtsd_f64(u) + _mm_cvtsd_f64(_mm_unpackhi_pd(u, u));
}

static double sumsq_max8(const float *x, size_t n, float *maxabs)
{
    __m256 m = _mm256_setzero_ps();
    double s = 0;
    for (size_t k = 0; k < n; k += SQ_BLOCK) {
        size_t len = n - k < SQ_BLOCK ? n - k : SQ_BLOCK;
        double b = block8(x + k, len, &m);
        s += isinf(b) ? block_double(x + k, len) : b;
    }
    if (maxabs) {
        __m128 h = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        *maxabs = _mm_cvtss_f32(h);
    }
    return s;
}

#if defined(__AVX512F__)
#include "gradguard.h" /* gg_blas_kernel */

#include <stdatomic.h>
#include <strings.h>

/* One block (n <= SQ_BLOCK): its float sum of squares, returned in double;
 * *m takes the max |x| (_mm512_max_ps(v, m) returns m when v is NaN: NaN
 * is left out of the max, as the scalar form (a > m ? a : m) does). */
static double block16(const float *x, size_t n, __m512 *m)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, m0 = *m, m1 = a0;
    size_t k = 0;
    for (; k + 64 <= n; k += 64) {
        __m512 v0 = _mm512_loadu_ps(x + k), v1 = _mm512_loadu_ps(x + k + 16);
        __m512 v2 = _mm512_loadu_ps(x + k + 32), v3 = _mm512_loadu_ps(x + k + 48);
        a0 = _mm512_fmadd_ps(v0, v0, a0);
        a1 = _mm512_fmadd_ps(v1, v1, a1);
        a2 = _mm512_fmadd_ps(v2, v2, a2);
        a3 = _mm512_fmadd_ps(v3, v3, a3);
        m0 = _mm512_max_ps(_mm512_abs_ps(v0), m0);
        m1 = _mm512_max_ps(_mm512_abs_ps(v1), m1);
        m0 = _mm512_max_ps(_mm512_abs_ps(v2), m0);
        m1 = _mm512_max_ps(_mm512_abs_ps(v3), m1);
    }
    /* the rest, 16 at a time; the last piece masked (zeros add nothing) */
    for (; k < n; k += 16) {
        __mmask16 mk = n - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - k)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(mk, x + k);
        a0 = _mm512_fmadd_ps(v, v, a0);
        m0 = _mm512_max_ps(_mm512_abs_ps(v), m0);
    }
    /* max_ps of two NaN-free operands: m0, m1 never take a NaN */
    *m = _mm512_max_ps(m0, m1);
    __m512 a = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(a));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

static double sumsq_max16(const float *x, size_t n, float *maxabs)
{
    __m512 m = _mm512_setzero_ps();
    double s = 0;
    for (size_t k = 0; k < n; k += SQ_BLOCK) {
        size_t len = n - k < SQ_BLOCK ? n - k : SQ_BLOCK;
        double b = block16(x + k, len, &m);
        s += isinf(b) ? block_double(x + k, len) : b;
    }
    if (maxabs) *maxabs = _mm512_reduce_max_ps(m);
    return s;
}

/* The BLAS's GEMMs run 512-bit vectors: its kernel family says so. */
static int wide_blas(void)
{
    static _Atomic int wide = -1;
    int w = atomic_load(&wide);
    if (w < 0) {
        const char *k = gg_blas_kernel(), *fams[] = {"skylakex", "cooperlake", "sapphirerapids"};
        w = 0;
        for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) w |= strcasecmp(k, fams[i]) == 0;
        atomic_store(&wide, w);
    }
    return w;
}
#endif

double gg_sumsq_max_width(const float *x, size_t n, float *maxabs, int bits)
{
#if defined(__AVX512F__)
    if (bits == 512) return sumsq_max16(x, n, maxabs);
#endif
    return bits == 256 ? sumsq_max8(x, n, maxabs) : NAN;
}

static double sumsq_max(const float *x, size_t n, float *maxabs)
{
#if defined(__AVX512F__)
    if (wide_blas()) return sumsq_max16(x, n, maxabs);
#endif
    return sumsq_max8(x, n, maxabs);
}

#else

static double block_float(const float *x, size_t n, float *m)
{
    /* 16 independent sums: the compiler keeps them in vector registers */
    float acc[16] = {0};
    float mx = *m;
    size_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; j++) {
            float v = x[k + j];
            acc[j] += v * v;
            float a = fabsf(v);
            mx = a > mx ? a : mx;
        }
    for (; k < n; k++) {
        float v = x[k];
        acc[0] += v * v;
        float a = fabsf(v);
        mx = a > mx ? a : mx;
    }
    *m = mx;
    double s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    return s;
}

static double sumsq_max(const float *x, size_t n, float *maxabs)
{
    float m = 0;
    double s = 0;
    for (size_t k = 0; k < n; k += SQ_BLOCK) {
        size_t len = n - k < SQ_BLOCK ? n - k : SQ_BLOCK;
        double b = block_float(x + k, len, &m);
        s += isinf(b) ? block_double(x + k, len) : b;
    }
    if (maxabs) *maxabs = m;
    return s;
}

double gg_sumsq_max_width(const float *x, size_t n, float *maxabs, int bits)
{
    (void)x, (void)n, (void)maxabs, (void)bits;
    return NAN;
}

#endif

double gg_sumsq_max(const float *x, size_t n, float *maxabs)
{
#ifdef _OPENMP
    /* long arrays: GG_BLOCK-sized pieces spread over the threads */
    if (n > GG_PAR_MIN && omp_get_max_threads() > 1) {
        const long len = (long)n;
        double s = 0;
        float m = 0;
#pragma omp parallel for reduction(+ : s) reduction(max : m)
        for (long k0 = 0; k0 < len; k0 += GG_BLOCK) {
            float bm;
            s += sumsq_max(x + k0, (size_t)((k0 + GG_BLOCK < len ? k0 + GG_BLOCK : len) - k0), &bm);
            m = bm > m ? bm : m;
        }
        if (maxabs) *maxabs = m;
        return s;
    }
#endif
    return sumsq_max(x, n, maxabs);
}

long gg_count_nonfinite(const float *x, size_t n)
{
    long c = 0;
    for (size_t k = 0; k < n; k++) c += !isfinite(x[k]);
    return c;
}

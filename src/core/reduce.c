/* reduce.c - reductions over float arrays accumulated in double: the sum of
 * squares (norms of gradients, weights and updates) with the max |x|.
 *
 * The guard takes one such pass over the whole gradient arena every step, so
 * it is written for the vector unit: each float is widened to double and
 * squared into one of several independent accumulators (a single one leaves
 * the loop waiting on the adder's latency), and the max |x| rides along in
 * float. Non-finite values need no test of their own: a NaN or an infinity
 * makes the sum non-finite, and the square of a finite float cannot
 * overflow a double (FLT_MAX^2 is 1.2e77), so a finite sum proves every
 * value finite; only then, rarely, does gg_count_nonfinite count them. The
 * order of the additions differs from a sequential loop (floating-point
 * reassociation), never the precision: every term and partial sum is a
 * double. */
#include "core.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
#include <immintrin.h>

static double sumsq_max(const float *x, size_t n, float *maxabs)
{
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    __m512 m0 = _mm512_setzero_ps(), m1 = m0;
    size_t k = 0;
    /* _mm512_max_ps(v, m) returns m when v is NaN: NaN is left out of the
     * max, as the scalar form (a > m ? a : m) does */
    for (; k + 64 <= n; k += 64) {
        /* the conversions read the halves from memory (no extracts) */
        __m512d d0 = _mm512_cvtps_pd(_mm256_loadu_ps(x + k)), d1 = _mm512_cvtps_pd(_mm256_loadu_ps(x + k + 8));
        __m512d d2 = _mm512_cvtps_pd(_mm256_loadu_ps(x + k + 16)), d3 = _mm512_cvtps_pd(_mm256_loadu_ps(x + k + 24));
        __m512d d4 = _mm512_cvtps_pd(_mm256_loadu_ps(x + k + 32)), d5 = _mm512_cvtps_pd(_mm256_loadu_ps(x + k + 40));
        __m512d d6 = _mm512_cvtps_pd(_mm256_loadu_ps(x + k + 48)), d7 = _mm512_cvtps_pd(_mm256_loadu_ps(x + k + 56));
        a0 = _mm512_fmadd_pd(d0, d0, a0);
        a1 = _mm512_fmadd_pd(d1, d1, a1);
        a2 = _mm512_fmadd_pd(d2, d2, a2);
        a3 = _mm512_fmadd_pd(d3, d3, a3);
        a4 = _mm512_fmadd_pd(d4, d4, a4);
        a5 = _mm512_fmadd_pd(d5, d5, a5);
        a6 = _mm512_fmadd_pd(d6, d6, a6);
        a7 = _mm512_fmadd_pd(d7, d7, a7);
        m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + k)), m0);
        m1 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + k + 16)), m1);
        m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + k + 32)), m0);
        m1 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + k + 48)), m1);
    }
    /* the rest, 16 at a time; the last piece masked (zeros add nothing) */
    for (; k < n; k += 16) {
        __mmask16 mk = n - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - k)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(mk, x + k);
        __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d d1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        a0 = _mm512_fmadd_pd(d0, d0, a0);
        a1 = _mm512_fmadd_pd(d1, d1, a1);
        m0 = _mm512_max_ps(_mm512_abs_ps(v), m0);
    }
    a0 = _mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3));
    a4 = _mm512_add_pd(_mm512_add_pd(a4, a5), _mm512_add_pd(a6, a7));
    /* max_ps of two NaN-free operands: m0, m1 never take a NaN */
    if (maxabs) *maxabs = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
    return _mm512_reduce_add_pd(_mm512_add_pd(a0, a4));
}

#else

static double sumsq_max(const float *x, size_t n, float *maxabs)
{
    /* eight independent sums: the compiler keeps them in vector registers */
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float mx = 0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) {
            float v = x[k + j];
            acc[j] += (double)v * v;
            float a = fabsf(v);
            mx = a > mx ? a : mx;
        }
    for (; k < n; k++) {
        float v = x[k];
        acc[0] += (double)v * v;
        float a = fabsf(v);
        mx = a > mx ? a : mx;
    }
    if (maxabs) *maxabs = mx;
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
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

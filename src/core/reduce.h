/* reduce.h - walking an arena: when element-wise loops go parallel, and the
 * double-precision norm pass (reduce.c). For every module that reads or
 * updates parameters, gradients or state element by element. Not installed. */
#ifndef GG_REDUCE_H
#define GG_REDUCE_H

#include <stddef.h>

/* Sum of the squares of x[0, n), accumulated in double, and (maxabs not
 * NULL) the max |x| with NaN left out (reduce.c); over the OpenMP
 * threads above GG_PAR_MIN values. The sum is non-finite exactly when some
 * x is; gg_count_nonfinite then counts them. */
double gg_sumsq_max(const float *x, size_t n, float *maxabs);
long gg_count_nonfinite(const float *x, size_t n);
/* gg_sumsq_max on one thread in the 256- or 512-bit form (bits); NAN where
 * this build has not that form. gg_sumsq_max picks the 512-bit one where
 * the BLAS's kernels are 512-bit too; both give the same bits (a test's). */
double gg_sumsq_max_width(const float *x, size_t n, float *maxabs, int bits);

/* Element-wise loops go parallel above this many elements. On a combined
 * `parallel for simd` the clause must be written `if (parallel: n >
 * GG_PAR_MIN)`: a plain `if (...)` applies to the simd construct as well
 * (OpenMP 5.0), and gcc then runs the loop scalar whenever it stays serial
 * (the MLP's 128x128 ReLU backward was a branchy scalar loop, 5% of the
 * step). */
#define GG_PAR_MIN 16384
/* Long element-wise loops run as blocks of GG_BLOCK elements spread over the
 * threads, each block one `omp simd` loop. A single `parallel for simd` over
 * the whole range left gcc a scalar loop at run time in the hot kernels
 * (Adam's update ran at a quarter of the vector rate). */
#define GG_BLOCK 4096

#endif

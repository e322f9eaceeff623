/* blas.c - what the BLAS underneath says of itself. */
#include "gradguard.h"

#include <cblas.h>

/* OpenBLAS picks its kernels for the CPU as it loads, unless
 * OPENBLAS_CORETYPE names a family: results differ in the last bits between
 * families, so runs and benchmarks record which one ran. */
const char *gg_blas_kernel(void)
{
    const char *k = openblas_get_corename();
    return k && *k ? k : "unknown";
}

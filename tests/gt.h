/* gt.h - the test harness: plain checks that count, print the failing
 * expression with file and line, and a closing "N passed, N failed" line. */
#ifndef GT_H
#define GT_H

#include "gradguard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int gt_pass, gt_fail;

#define GT_CHECK(cond, ...)                                                                                            \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            gt_pass++;                                                                                                 \
        } else {                                                                                                       \
            gt_fail++;                                                                                                 \
            fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
        }                                                                                                              \
    } while (0)

/* |a - b| <= atol + rtol * max(|a|, |b|) */
#define GT_NEAR(a, b, rtol, atol, ...)                                                                                 \
    do {                                                                                                               \
        double gt_a = (a), gt_b = (b);                                                                                 \
        double gt_m = fabs(gt_a) > fabs(gt_b) ? fabs(gt_a) : fabs(gt_b);                                              \
        if (!(fabs(gt_a - gt_b) <= (atol) + (rtol)*gt_m)) fprintf(stderr, "  got %.9g, want %.9g\n", gt_a, gt_b);        \
        GT_CHECK(fabs(gt_a - gt_b) <= (atol) + (rtol)*gt_m, __VA_ARGS__);                                              \
    } while (0)

/* A status call that must succeed; prints gg_errmsg() otherwise. */
#define GT_OK(call)                                                                                                    \
    do {                                                                                                               \
        gg_status gt_s = (call);                                                                                       \
        GT_CHECK(gt_s == GG_OK, "status %d: %s", (int)gt_s, gg_errmsg());                                              \
    } while (0)

/* The closing line, after the OpenBLAS kernel family the checks ran on
 * (tests/kernel_env.bash, scripts/test-kernels.sh). */
static inline int gt_done(const char *name)
{
    printf("%s ran on OpenBLAS's %s kernels\n", name, gg_blas_kernel());
    printf("%s: %d passed, %d failed\n", name, gt_pass, gt_fail);
    return gt_fail ? 1 : 0;
}

#endif

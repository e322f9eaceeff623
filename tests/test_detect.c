/* The guard's detectors as pure functions: EMA statistics and z-scores,
 * trend slopes, percentiles and clip coefficients against hand-computed
 * values. */
#include "gt.h"

#include "guard/detect.h"

#include <string.h>

static void test_ema(void)
{
    gg_ema e;
    memset(&e, 0, sizeof e);
    gg_ema_push(&e, 1.0, 0.5);
    GT_NEAR(e.mean, 1.0, 0, 1e-12, "first value is the mean");
    GT_NEAR(e.var, 0.0, 0, 1e-12, "no spread yet");
    gg_ema_push(&e, 3.0, 0.5);
    /* d = 2, incr = 1: mean 2, var = 0.5 (0 + 2 * 1) = 1 */
    GT_NEAR(e.mean, 2.0, 0, 1e-12, "mean after two");
    GT_NEAR(e.var, 1.0, 0, 1e-12, "variance after two");
    GT_NEAR(gg_ema_z(&e, 4.0), 2.0, 0, 1e-12, "z of 4 is (4-2)/1");
    /* a flat history has a floor on the spread: z stays finite */
    gg_ema f;
    memset(&f, 0, sizeof f);
    for (int i = 0; i < 100; i++) gg_ema_push(&f, 5.0, 0.1);
    double z = gg_ema_z(&f, 5.0001);
    GT_CHECK(z < 1 && z > 0, "tiny change on a flat history is no spike (z %g)", z);
    GT_CHECK(gg_ema_z(&f, 50.0) > 100, "a 10x jump on a flat history is");
}

static void test_trend(void)
{
    double ring[5] = {3, 5, 7, 1, 1}; /* oldest at index 3: 1, 1, 3, 5, 7 */
    /* x = 0..4, y = 1,1,3,5,7: mean y 3.4; slope = sum dx dy / sum dx^2 =
     * (-2*-2.4 + -1*-2.4 + 0 + 1*1.6 + 2*3.6) / 10 = 1.6 */
    GT_NEAR(gg_trend_slope(ring, 5, 3), 1.6, 0, 1e-12, "slope over the ring");
    double flat[4] = {2, 2, 2, 2};
    GT_NEAR(gg_trend_slope(flat, 4, 1), 0, 0, 1e-12, "flat has no trend");
}

static void test_percentile(void)
{
    double x[10] = {9, 1, 8, 2, 7, 3, 6, 4, 5, 10}, s[10];
    GT_NEAR(gg_percentile(x, 10, 10, s), 1, 0, 0, "10th percentile of 1..10 (nearest rank)");
    GT_NEAR(gg_percentile(x, 10, 50, s), 5, 0, 0, "median");
    GT_NEAR(gg_percentile(x, 10, 100, s), 10, 0, 0, "max");
    GT_NEAR(gg_percentile(x, 10, 91, s), 10, 0, 0, "ceil(9.1) = 10th");
    double same[6] = {4, 4, 4, 4, 4, 4};
    GT_NEAR(gg_percentile(same, 6, 30, s), 4, 0, 0, "all equal");
    GT_CHECK(x[0] == 9 && x[9] == 10, "input left as it was");
}

static void test_clip_coef(void)
{
    GT_NEAR(gg_clip_coef(0.5, 1.0), 1.0, 0, 0, "below the bound: no change");
    GT_NEAR(gg_clip_coef(4.0, 1.0), 1.0 / (4.0 + 1e-6), 1e-12, 0, "above: max/(norm+1e-6) as PyTorch");
}

int main(void)
{
    test_ema();
    test_trend();
    test_percentile();
    test_clip_coef();
    return gt_done("test_detect");
}

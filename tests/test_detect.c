/* The guard's detectors as pure functions: EMA statistics and z-scores,
 * trend slopes, percentiles and clip coefficients against hand-computed
 * values. */
#include "gt.h"

#include "guard/detect.h"

#include <math.h>
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
    /* residuals from y = 3.4 + 1.6 (x - 2): 0.8 -0.8 -0.4 0 0.4, sse 1.6;
     * se = sqrt(1.6 / 3 / 10), t = 1.6 / se = 6.9282 */
    double b;
    GT_NEAR(gg_trend_t(ring, 5, 3, &b), 1.6 / sqrt(1.6 / 30), 0, 1e-12, "t-statistic of the slope");
    GT_NEAR(b, 1.6, 0, 1e-12, "... with the slope");
    double line[4] = {1, 2, 3, 4};
    GT_CHECK(isinf(gg_trend_t(line, 4, 0, &b)) && b == 1, "a perfect line: t infinite");
    GT_CHECK(gg_trend_t(flat, 4, 1, &b) == 0 && b == 0, "flat: t 0");
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

/* ---- quiet failures: synthetic smoothed-loss series at the monitor interval */

#define LN10 2.302585092994046

static void test_stalled(void)
{
    double r[11];
    for (int i = 0; i < 11; i++) r[i] = LN10 + 0.002 * (i % 2 ? 1 : -1); /* flat at chance, jittering */
    GT_CHECK(gg_at_chance(r, 11, 0, 7, LN10, 0.03), "a flat series at ln 10 is at chance");
    double p = gg_loss_progress(r, 11, 0);
    GT_CHECK(fabs(p) < 0.01, "and makes no progress (%g)", p);
    GT_CHECK(!gg_collapsed(r[10], LN10 - 0.002, LN10, 0.03, 0.75), "never having learned is no collapse");
    /* a plateau away from chance: no progress, not at chance */
    double pl[11];
    for (int i = 0; i < 11; i++) pl[i] = 0.167 + 0.003 * ((i * 7) % 3 - 1);
    GT_CHECK(!gg_at_chance(pl, 11, 0, 7, LN10, 0.03), "a plateau at 0.167 is not at chance");
    GT_CHECK(gg_loss_progress(pl, 11, 0) < 0.01, "but it makes no progress (%g)", gg_loss_progress(pl, 11, 0));
    GT_CHECK(!gg_at_chance(pl, 11, 0, 7, 0, 0.03), "no chance level (regression): never at chance");
}

static void test_improving(void)
{
    double r[11];
    for (int i = 0; i < 11; i++) r[i] = LN10 * exp(-0.1 * i);
    GT_CHECK(!gg_at_chance(r, 11, 0, 7, LN10, 0.03), "a falling loss has left chance");
    /* exact fit would give 1 - e^-1 = 0.63; the line through an exponential a bit less */
    double p = gg_loss_progress(r, 11, 0);
    GT_CHECK(p > 0.5 && p < 0.7, "progress of an improving series (%g)", p);
    /* starting at chance and still falling: the newest points are not at chance */
    double s[8] = {LN10, LN10, LN10, LN10, 2.1, 1.8, 1.5, 1.2};
    GT_CHECK(!gg_at_chance(s, 8, 0, 5, LN10, 0.03), "the newest 5 have left chance");
    GT_CHECK(gg_at_chance(s, 8, 0, 4, LN10, 0.03) == 0 && gg_at_chance(s, 4, 0, 4, LN10, 0.03) == 1,
             "the first four alone are at chance");
}

static void test_noisy_improving(void)
{
    /* a slow fall (0.005 per pass) under noise ten times larger: point to
     * point it often rises, the fitted line falls */
    double r[21];
    for (int i = 0; i < 21; i++) r[i] = 1.0 - 0.005 * i + 0.05 * ((i * 37) % 7 - 3) / 3.0;
    int rises = 0;
    for (int i = 1; i < 21; i++) rises += r[i] > r[i - 1];
    GT_CHECK(rises >= 5, "the series does rise often (%d times)", rises);
    double p = gg_loss_progress(r, 21, 0);
    GT_CHECK(p > 0.05, "and still counts as progress (%g)", p);
    /* the same series in a ring that wrapped: oldest at index 5 */
    double w[21];
    for (int i = 0; i < 21; i++) w[(5 + i) % 21] = r[i];
    GT_NEAR(gg_loss_progress(w, 21, 5), p, 1e-12, 0, "ring order");
}

static void test_collapsed(void)
{
    /* learned to 0.6, then back at chance after a too-brave step */
    double r[12] = {2.30, 1.6, 1.0, 0.7, 0.6, 0.62, 2.29, 2.30, 2.31, 2.30, 2.30, 2.30};
    GT_CHECK(gg_at_chance(r, 12, 0, 6, LN10, 0.03), "the newest 6 are at chance");
    GT_CHECK(!gg_at_chance(r, 12, 0, 7, LN10, 0.03), "the newest 7 are not");
    GT_CHECK(gg_collapsed(r[11], 0.6, LN10, 0.03, 0.75), "back at chance after reaching 0.6: collapse");
    GT_CHECK(!gg_collapsed(1.0, 0.6, LN10, 0.03, 0.75), "above the best but far from chance: no collapse");
    double p = gg_loss_progress(r + 6, 6, 0);
    GT_CHECK(fabs(p) < 0.01, "no progress after the collapse (%g)", p);
}

static void test_profile(void)
{
    double v[4] = {3.1e-9, 1e-6, 4e-4, 2e-3};
    GT_NEAR(gg_profile_ratio(v, 4), 3.1e-9 / 2e-3, 1e-18, 0, "first over last");
    double h[3] = {0.5, 0.8, 0.4};
    GT_NEAR(gg_profile_ratio(h, 3), 1.25, 1e-12, 0, "a healthy profile is near 1");
    GT_CHECK(isnan(gg_profile_ratio(h, 1)), "one layer has no profile");
    double z[2] = {1, 0};
    GT_CHECK(isnan(gg_profile_ratio(z, 2)), "a zero last layer gives no ratio");
}

static void test_dead(void)
{
    unsigned char alive[4];
    /* dense: 3 samples x 4 units; units 0 and 2 are zero for every sample */
    float d[12] = {0, 1, 0, 0, /**/ 0, 2, 0, 0, /**/ 0, 0, 0, 3};
    GT_CHECK(gg_count_dead(d, 3, 4, 1, alive) == 2, "units 0 and 2 are dead");
    /* a unit that fires for one sample only is alive */
    d[2] = 0.5f;
    GT_CHECK(gg_count_dead(d, 3, 4, 1, alive) == 1, "unit 2 fires once: alive");
    /* conv: 2 samples x 2 channels x 3 positions; channel 0 all zero,
     * channel 1 non-zero at one position of the second sample */
    float c[12] = {0, 0, 0, /**/ 0, 0, 0, /**/ 0, 0, 0, /**/ 0, 0, 7};
    GT_CHECK(gg_count_dead(c, 2, 2, 3, alive) == 1, "channel 0 dead, channel 1 alive");
    float z[6] = {0};
    GT_CHECK(gg_count_dead(z, 2, 3, 1, alive) == 3, "all zero: all dead");
}

static void test_saturated(void)
{
    long cnt[3];
    /* tanh outputs, threshold |x| > 2.65 <=> |y| > 0.99; 10 samples x 3 units:
     * unit 0 saturated everywhere, unit 1 in 9 of 10, unit 2 in 8 of 10 */
    float y[30];
    for (int r = 0; r < 10; r++) {
        y[r * 3 + 0] = r % 2 ? 0.995f : -0.999f;
        y[r * 3 + 1] = r < 9 ? -0.9999f : 0.2f;
        y[r * 3 + 2] = r < 8 ? 0.999f : -0.5f;
    }
    GT_CHECK(gg_count_saturated(y, 10, 3, 1, -0.99f, 0.99f, 0.9, cnt) == 2, "units 0 and 1 (9 of 10 = 90%%)");
    GT_CHECK(cnt[0] == 10 && cnt[1] == 9 && cnt[2] == 8, "counts %ld %ld %ld", cnt[0], cnt[1], cnt[2]);
    GT_CHECK(gg_count_saturated(y, 10, 3, 1, -0.99f, 0.99f, 0.8, cnt) == 3, "at 80%% all three");
    /* sigmoid outputs near 0 and 1, conv layout: 1 sample x 2 channels x 4 positions */
    float s[8] = {0.001f, 0.999f, 0.9999f, 0.0001f, /**/ 0.5f, 0.999f, 0.3f, 0.7f};
    GT_CHECK(gg_count_saturated(s, 1, 2, 4, 0.0025f, 0.9975f, 0.9, cnt) == 1, "channel 0 saturated, channel 1 not");
}

static void test_noise_schedule(void)
{
    GT_NEAR(gg_noise_var(1.0, 0.55, 0), 1.0, 0, 0, "t = 0: eta");
    GT_NEAR(gg_noise_var(0.3, 0.55, 99), 0.3 / pow(100, 0.55), 1e-15, 0, "eta / (1 + t)^gamma");
    GT_CHECK(gg_noise_var(0.3, 0.55, 1000) < gg_noise_var(0.3, 0.55, 999), "it anneals");
    GT_NEAR(gg_noise_var(0.01, 0, 12345), 0.01, 0, 0, "gamma 0: constant");
}

int main(void)
{
    test_stalled();
    test_improving();
    test_noisy_improving();
    test_collapsed();
    test_profile();
    test_dead();
    test_saturated();
    test_noise_schedule();
    test_ema();
    test_trend();
    test_percentile();
    test_clip_coef();
    return gt_done("test_detect");
}

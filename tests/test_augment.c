/* test_augment.c - augmentation: shift, flip, noise and mixup checked by
 * hand, the same draws for the same (seed, key), the soft-target
 * cross-entropy mixup trains with (finite differences, and equal to the
 * hard-label loss on one-hot targets), and no augmentation in evaluation. */
#include "gradcheck.h"
#include "gradguard.h"
#include "gt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* one 1x3x3 image 1..9, shifted and flipped by hand */
static void test_shift_flip(void)
{
    gg_augment_config c;
    memset(&c, 0, sizeof c);
    c.shift = 1;
    c.pad_value = -5;
    c.seed = 3;
    gg_augment *a = gg_augment_new(&c, gg_shape3(1, 3, 3), 64, 1, 10, 0);
    GT_CHECK(a != NULL, "new: %s", gg_errmsg());
    if (!a) return;
    /* 64 copies of the image: every shift (dy, dx) in [-1, 1]^2 turns up, and
     * each output is the image moved, with -5 where it came from outside */
    float x[64 * 9];
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < 9; k++) x[i * 9 + k] = (float)(k + 1);
    gg_augment_batch(a, 11, x, NULL, NULL, 64);
    int seen[9] = {0}, ok = 1;
    for (int i = 0; i < 64; i++) {
        int found = 0;
        for (int dy = -1; dy <= 1 && !found; dy++)
            for (int dx = -1; dx <= 1 && !found; dx++) {
                int match = 1;
                for (int r = 0; r < 3; r++)
                    for (int q = 0; q < 3; q++) {
                        int sr = r - dy, sq = q - dx;
                        float want = sr >= 0 && sr < 3 && sq >= 0 && sq < 3 ? (float)(sr * 3 + sq + 1) : -5;
                        match &= x[i * 9 + r * 3 + q] == want;
                    }
                if (match) {
                    seen[(dy + 1) * 3 + dx + 1]++;
                    found = 1;
                }
            }
        ok &= found;
    }
    GT_CHECK(ok, "every output is the image shifted by at most 1 pixel, padded with pad_value");
    int all = 1;
    for (int k = 0; k < 9; k++) all &= seen[k] > 0;
    GT_CHECK(all, "all nine shifts occur in 64 draws");
    gg_augment_free(a);

    /* flip: 2x2x3 image; about half the samples come out mirrored */
    memset(&c, 0, sizeof c);
    c.flip = 1;
    a = gg_augment_new(&c, gg_shape3(2, 2, 3), 100, 1, 0, 0);
    float y[100 * 12];
    for (int i = 0; i < 100; i++)
        for (int k = 0; k < 12; k++) y[i * 12 + k] = (float)k;
    gg_augment_batch(a, 5, y, NULL, NULL, 100);
    int flipped = 0, good = 1;
    for (int i = 0; i < 100; i++) {
        int same = 1, mirror = 1;
        for (int row = 0; row < 4; row++)
            for (int j = 0; j < 3; j++) {
                same &= y[i * 12 + row * 3 + j] == (float)(row * 3 + j);
                mirror &= y[i * 12 + row * 3 + j] == (float)(row * 3 + 2 - j);
            }
        good &= same || mirror;
        flipped += mirror;
    }
    GT_CHECK(good && flipped > 30 && flipped < 70, "flip mirrors every row of every channel (%d of 100 flipped)", flipped);
    gg_augment_free(a);
}

static void test_noise_and_seed(void)
{
    gg_augment_config c;
    memset(&c, 0, sizeof c);
    c.noise = 0.5f;
    c.seed = 9;
    gg_augment *a = gg_augment_new(&c, gg_shape1(1000), 4, 1, 0, 0);
    static float x[4000], x2[4000], x3[4000];
    gg_augment_batch(a, 7, x, NULL, NULL, 4);
    gg_augment_batch(a, 7, x2, NULL, NULL, 4);
    gg_augment_batch(a, 8, x3, NULL, NULL, 4);
    double s = 0, ss = 0;
    for (int i = 0; i < 4000; i++) {
        s += x[i];
        ss += (double)x[i] * x[i];
    }
    double mean = s / 4000, sd = sqrt(ss / 4000 - mean * mean);
    GT_CHECK(fabs(mean) < 0.05 && fabs(sd - 0.5) < 0.03, "noise mean %g, std %g (want 0, 0.5)", mean, sd);
    GT_CHECK(!memcmp(x, x2, sizeof x), "the same key gives the same draws");
    GT_CHECK(memcmp(x, x3, sizeof x) != 0, "another key (the next batch, the next epoch) gives others");
    gg_augment_free(a);
    c.seed = 10;
    a = gg_augment_new(&c, gg_shape1(1000), 4, 1, 0, 0);
    memset(x2, 0, sizeof x2);
    gg_augment_batch(a, 7, x2, NULL, NULL, 4);
    GT_CHECK(memcmp(x, x2, sizeof x) != 0, "another seed gives other draws");
    gg_augment_free(a);
}

static void test_mixup(void)
{
    /* Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) */
    gg_rng r;
    gg_rng_seed(&r, 1);
    static const double alphas[] = {0.2, 1, 4};
    for (int k = 0; k < 3; k++) {
        double s = 0, ss = 0;
        int n = 20000, inside = 1;
        for (int i = 0; i < n; i++) {
            double b = gg_rng_beta(&r, alphas[k]);
            inside &= b >= 0 && b <= 1;
            s += b;
            ss += b * b;
        }
        double m = s / n, v = ss / n - m * m, want = 1 / (4 * (2 * alphas[k] + 1));
        GT_CHECK(inside && fabs(m - 0.5) < 0.01 && fabs(v - want) < 0.1 * want, "Beta(%g): mean %g var %g (want %g)",
                 alphas[k], m, v, want);
    }
    /* classes: x mixes as the soft targets say; each target row sums to 1 */
    gg_augment_config c;
    memset(&c, 0, sizeof c);
    c.mixup = 0.4f;
    c.seed = 2;
    int n = 8, C = 4, F = 3;
    gg_augment *a = gg_augment_new(&c, gg_shape1(F), n, 1, C, 0.1f);
    float x[24], x0[24], y[8], soft[32];
    for (int i = 0; i < n; i++) {
        y[i] = (float)(i % C);
        for (int f = 0; f < F; f++) x[i * F + f] = x0[i * F + f] = (float)(10 * sin(7.0 * i + 3.0 * f + 1));
    }
    gg_augment_batch(a, 1, x, y, soft, n);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        float sum = 0;
        for (int k = 0; k < C; k++) sum += soft[i * C + k];
        ok &= fabsf(sum - 1) < 1e-5f;
        /* the partner j and lambda from the features: x_i = l x0_i + (1 - l) x0_j */
        int found = 0;
        for (int j = 0; j < n && !found; j++) {
            float l = j == i ? 1 : (x[i * F] - x0[j * F]) / (x0[i * F] - x0[j * F]);
            int fits = l >= -1e-4f && l <= 1 + 1e-4f;
            for (int f = 1; f < F && fits; f++) fits = fabsf(l * x0[i * F + f] + (1 - l) * x0[j * F + f] - x[i * F + f]) < 1e-3f;
            if (!fits) continue;
            found = 1;
            /* the soft target: 0.9 (l onehot(y_i) + (1 - l) onehot(y_j)) + 0.1 / 4 */
            for (int k = 0; k < C; k++) {
                float want = 0.025f + 0.9f * (l * (k == (int)y[i]) + (1 - l) * (k == (int)y[j]));
                ok &= fabsf(soft[i * C + k] - want) < 1e-3f;
            }
        }
        ok &= found;
    }
    GT_CHECK(ok, "mixed features and soft targets agree (lambda, partner, smoothing)");
    GT_CHECK(y[3] == 3, "the hard labels stay (for the accuracy)");
    gg_augment_free(a);
    /* regression targets are mixed like the features */
    a = gg_augment_new(&c, gg_shape1(1), n, 1, 0, 0);
    float xr[8], yr[8];
    for (int i = 0; i < n; i++) xr[i] = yr[i] = (float)i;
    gg_augment_batch(a, 3, xr, yr, NULL, n);
    ok = 1;
    for (int i = 0; i < n; i++) ok &= fabsf(xr[i] - yr[i]) < 1e-5f;
    GT_CHECK(ok, "regression targets mix with the features");
    gg_augment_free(a);
}

static void test_bad(void)
{
    gg_augment_config c;
    memset(&c, 0, sizeof c);
    c.shift = 3;
    GT_CHECK(!gg_augment_new(&c, gg_shape3(1, 3, 8), 4, 1, 0, 0) && strstr(gg_errmsg(), "augment.shift 3 must be in [0, 3)"),
             "%s", gg_errmsg());
    c.shift = 0;
    c.noise = NAN;
    GT_CHECK(!gg_augment_new(&c, gg_shape1(4), 4, 1, 0, 0) && strstr(gg_errmsg(), "augment.noise"), "%s", gg_errmsg());
    memset(&c, 0, sizeof c);
    GT_CHECK(!gg_augment_active(&c), "all zero is off");
}

/* softmax_xent_soft: finite differences for logits and targets, and the
 * hard-label loss on one-hot targets */
static void test_soft_xent(void)
{
    for (int seq = 0; seq < 2; seq++) {
        gg_graph *g = gg_graph_new(3);
        gg_shape s = seq ? gg_shape2(4, 5) : gg_shape1(5);
        gg_node x = gg_input(g, "x", s), t = gg_input(g, "t", s), lab = gg_input(g, "lab", seq ? gg_shape1(4) : gg_shape1(1));
        gg_graph_requires_grad(g, x);
        gg_graph_requires_grad(g, t);
        gg_node L = gg_softmax_xent_soft(g, x, t), H = gg_softmax_xent(g, x, lab, 0);
        GT_OK(gg_graph_compile(g));
        gg_rng r;
        gg_rng_seed(&r, 5);
        int rows = seq ? 12 : 3;
        float *xv = gg_graph_data(g, x), *tv = gg_graph_data(g, t), *lv = gg_graph_data(g, lab);
        gc_fill(xv, (size_t)rows * 5, &r, 2, 0);
        for (int i = 0; i < rows * 5; i++) tv[i] = (float)gg_rng_uniform(&r) * 0.4f;
        gradcheck(g, L, (gg_node[]){x, t}, 2, 30, seq ? "softmax_xent_soft (N, T, C)" : "softmax_xent_soft (N, C)");
        /* one-hot targets: the same loss and gradient as softmax_xent */
        for (int i = 0; i < rows; i++) {
            lv[i] = (float)(i % 5);
            for (int k = 0; k < 5; k++) tv[i * 5 + k] = k == i % 5;
        }
        GT_OK(gg_graph_forward(g, GG_TRAIN, -1));
        GT_NEAR(gg_graph_scalar(g, L), gg_graph_scalar(g, H), 1e-5, 1e-6, "one-hot soft targets = hard labels");
        gg_graph_zero_grad(g);
        GT_OK(gg_graph_backward(g, L, 1));
        float ga[60];
        memcpy(ga, gg_graph_grad(g, x), sizeof(float) * (size_t)rows * 5);
        gg_graph_zero_grad(g);
        GT_OK(gg_graph_backward(g, H, 1));
        int same = 1;
        for (int i = 0; i < rows * 5; i++) same &= fabsf(ga[i] - gg_graph_grad(g, x)[i]) < 1e-6f;
        GT_CHECK(same, "one-hot soft targets: the hard-label gradient");
        gg_graph_free(g);
    }
    gg_graph *g = gg_graph_new(2);
    gg_node x = gg_input(g, "x", gg_shape1(5)), t = gg_input(g, "t", gg_shape1(4));
    GT_CHECK(gg_softmax_xent_soft(g, x, t) < 0 && strstr(gg_graph_errmsg(g), "differ"), "shape mismatch: %s",
             gg_graph_errmsg(g));
    gg_graph_free(g);
}

/* Evaluation is never augmented: the same weights give the same test loss
 * with and without an augment section; training is (its loss moves). */
static double run_eval(const char *aug, int train, double *train_loss)
{
    char text[1024];
    snprintf(text, sizeof text,
             "data: {format: adding, length: 8, train_size: 256, test_size: 64, test: generated, val_fraction: 0}\n"
             "model:\n  - {type: flatten}\n  - {type: dense, units: 8, act: tanh}\n  - {type: dense, units: 1}\n"
             "loss: {name: mse}\ntrain: {epochs: 1, batch: 32, threads: 1, checkpoint_every: 0}\n%s",
             aug);
    gg_cfg *c = NULL;
    gg_trainer *t = NULL;
    double loss = NAN, acc;
    if (gg_cfg_parse(text, strlen(text), "aug.yaml", &c) || gg_trainer_new(c, NULL, &t)) {
        GT_CHECK(0, "setup: %s", gg_errmsg());
        gg_cfg_free(c);
        return NAN;
    }
    if (train) GT_OK(gg_trainer_run(t));
    GT_OK(gg_trainer_evaluate(t, 0, &loss, &acc));
    if (train_loss) *train_loss = loss;
    gg_trainer_free(t);
    gg_cfg_free(c);
    return loss;
}

static void test_eval_off(void)
{
    double plain = run_eval("", 0, NULL), aug = run_eval("augment: {noise: 0.5, mixup: 0.4}\n", 0, NULL);
    GT_CHECK(isfinite(plain) && plain == aug, "untrained: test loss %.9g without, %.9g with augment", plain, aug);
    double a1 = run_eval("augment: {noise: 0.5, mixup: 0.4}\n", 1, NULL),
           a2 = run_eval("augment: {noise: 0.5, mixup: 0.4}\n", 1, NULL), p1 = run_eval("", 1, NULL);
    GT_CHECK(a1 == a2, "augmented training is deterministic: %.9g vs %.9g", a1, a2);
    GT_CHECK(a1 != p1, "augmentation changes training: %.9g vs %.9g", a1, p1);
}

int main(void)
{
    test_shift_flip();
    test_noise_and_seed();
    test_mixup();
    test_bad();
    test_soft_xent();
    test_eval_off();
    return gt_done("test_augment");
}

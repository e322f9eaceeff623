/*
 * augment.c - random transforms of a training batch: shift (random crop
 * with padding), left-right flip, Gaussian noise, mixup.
 *
 * Every draw of a batch comes from one generator seeded by (seed, key), so a
 * batch is augmented the same way however often it is replayed (resume,
 * rollback, a diagnosis re-run). Scratch memory (one image, a copy of the
 * batch and its labels, the pairing) is allocated in gg_augment_new.
 */
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gg_augment {
    gg_augment_config c;
    int C, H, W;       /* image dims when the sample is (C, H, W), else 0 */
    size_t per;        /* features per sample */
    int max_batch, label_per, classes;
    float smoothing;
    float *img;        /* per: one sample, for the shift */
    float *xcopy;      /* max_batch * per: the batch before mixing */
    float *ycopy;      /* max_batch * label_per */
    size_t *perm;      /* max_batch: mixup partners */
};

int gg_augment_active(const gg_augment_config *c)
{
    return c && (c->shift > 0 || c->flip || c->noise > 0 || c->mixup > 0);
}

gg_augment *gg_augment_new(const gg_augment_config *cfg, gg_shape sample, int max_batch, int label_per, int classes,
                           float smoothing)
{
    char sb[64];
    if (!cfg || max_batch < 1 || label_per < 0 || classes < 0) {
        gg_fail(GG_E_ARG, "gg_augment_new: bad arguments");
        return NULL;
    }
    int image = sample.ndim == 3;
    if ((cfg->shift > 0 || cfg->flip) && !image) {
        gg_fail(GG_E_ARG, "augment.%s needs image samples (C, H, W); the input is %s", cfg->shift > 0 ? "shift" : "flip",
                gg_shape_str(sample, sb, sizeof sb));
        return NULL;
    }
    if (cfg->shift < 0 || (image && (cfg->shift >= sample.d[1] || cfg->shift >= sample.d[2]))) {
        gg_fail(GG_E_ARG, "augment.shift %d must be in [0, %d) for images %s", cfg->shift,
                image ? (sample.d[1] < sample.d[2] ? sample.d[1] : sample.d[2]) : 0, gg_shape_str(sample, sb, sizeof sb));
        return NULL;
    }
    if (!(cfg->noise >= 0 && isfinite(cfg->noise))) {
        gg_fail(GG_E_ARG, "augment.noise %g must be a finite number >= 0", (double)cfg->noise);
        return NULL;
    }
    if (!(cfg->mixup >= 0 && isfinite(cfg->mixup))) {
        gg_fail(GG_E_ARG, "augment.mixup %g must be a finite number >= 0", (double)cfg->mixup);
        return NULL;
    }
    gg_augment *a = calloc(1, sizeof *a);
    if (!a) goto nomem;
    a->c = *cfg;
    a->per = gg_shape_numel(sample);
    if (image) {
        a->C = sample.d[0];
        a->H = sample.d[1];
        a->W = sample.d[2];
    }
    a->max_batch = max_batch;
    a->label_per = label_per;
    a->classes = classes;
    a->smoothing = smoothing;
    if (cfg->shift > 0 && !(a->img = malloc(sizeof(float) * a->per))) goto nomem;
    if (cfg->mixup > 0) {
        a->xcopy = malloc(sizeof(float) * a->per * (size_t)max_batch);
        a->ycopy = malloc(sizeof(float) * (size_t)(label_per ? label_per : 1) * (size_t)max_batch);
        a->perm = malloc(sizeof(size_t) * (size_t)max_batch);
        if (!a->xcopy || !a->ycopy || !a->perm) goto nomem;
    }
    return a;
nomem:
    gg_augment_free(a);
    gg_fail(GG_E_NOMEM, "augment: out of memory");
    return NULL;
}

void gg_augment_free(gg_augment *a)
{
    if (!a) return;
    free(a->img);
    free(a->xcopy);
    free(a->ycopy);
    free(a->perm);
    free(a);
}

/* Gamma(k, 1), Marsaglia & Tsang (2000); k < 1 through Gamma(k + 1) U^(1/k). */
static double gamma_draw(gg_rng *r, double k)
{
    if (k < 1) {
        double u = gg_rng_uniform(r);
        return gamma_draw(r, k + 1) * pow(u > 0 ? u : 1e-300, 1.0 / k);
    }
    double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9 * d);
    for (;;) {
        double x = gg_rng_normal(r), v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = gg_rng_uniform(r);
        if (u < 1 - 0.0331 * x * x * x * x) return d * v;
        if (u > 0 && log(u) < 0.5 * x * x + d * (1 - v + log(v))) return d * v;
    }
}

double gg_rng_beta(gg_rng *r, double alpha)
{
    double a = gamma_draw(r, alpha), b = gamma_draw(r, alpha);
    return a + b > 0 ? a / (a + b) : 0.5;
}

/* x (C, H, W) moved by (dy, dx) pixels; what comes in from outside is pad.
 * Equal to cropping H x W at (shift - dy, shift - dx) from the image padded
 * by `shift` on every side. */
static void shift_image(gg_augment *a, float *x, int dy, int dx)
{
    int H = a->H, W = a->W;
    memcpy(a->img, x, sizeof(float) * a->per);
    for (int c = 0; c < a->C; c++) {
        const float *src = a->img + (size_t)c * H * W;
        float *dst = x + (size_t)c * H * W;
        for (int i = 0; i < H; i++) {
            int si = i - dy;
            for (int j = 0; j < W; j++) {
                int sj = j - dx;
                dst[(size_t)i * W + j] = si >= 0 && si < H && sj >= 0 && sj < W ? src[(size_t)si * W + sj] : a->c.pad_value;
            }
        }
    }
}

static void flip_image(gg_augment *a, float *x)
{
    for (int r = 0; r < a->C * a->H; r++) {
        float *row = x + (size_t)r * a->W;
        for (int j = 0, k = a->W - 1; j < k; j++, k--) {
            float t = row[j];
            row[j] = row[k];
            row[k] = t;
        }
    }
}

void gg_augment_batch(gg_augment *a, uint64_t key, float *x, float *y, float *soft, int n)
{
    if (!a || n <= 0) return;
    if (n > a->max_batch) n = a->max_batch;
    gg_rng r;
    gg_rng_seed(&r, a->c.seed * 0x9e3779b97f4a7c15ull ^ (key + 0x6175676dull));
    const gg_augment_config *c = &a->c;
    for (int i = 0; i < n; i++) {
        float *xi = x + (size_t)i * a->per;
        if (c->shift > 0) {
            int span = 2 * c->shift + 1;
            int dy = (int)gg_rng_below(&r, (uint64_t)span) - c->shift;
            int dx = (int)gg_rng_below(&r, (uint64_t)span) - c->shift;
            if (dy || dx) shift_image(a, xi, dy, dx);
        }
        if (c->flip && gg_rng_uniform(&r) < 0.5) flip_image(a, xi);
        if (c->noise > 0)
            for (size_t k = 0; k < a->per; k++) xi[k] += c->noise * (float)gg_rng_normal(&r);
    }
    if (!(c->mixup > 0)) return;
    /* mixup: one lambda for the batch, each sample paired with perm(i) */
    float lam = (float)gg_rng_beta(&r, c->mixup);
    gg_shuffle(a->perm, (size_t)n, 1, &r);
    memcpy(a->xcopy, x, sizeof(float) * a->per * (size_t)n);
    for (int i = 0; i < n; i++) {
        float *xi = x + (size_t)i * a->per;
        const float *xj = a->xcopy + a->perm[i] * a->per;
        for (size_t k = 0; k < a->per; k++) xi[k] = lam * xi[k] + (1 - lam) * xj[k];
    }
    if (!y || a->label_per == 0) return;
    size_t L = (size_t)a->label_per;
    if (a->classes == 0) {
        memcpy(a->ycopy, y, sizeof(float) * L * (size_t)n);
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < L; k++)
                y[(size_t)i * L + k] = lam * y[(size_t)i * L + k] + (1 - lam) * a->ycopy[a->perm[i] * L + k];
        return;
    }
    if (!soft) return;
    /* soft targets: lambda onehot(y_i) + (1 - lambda) onehot(y_perm(i)),
     * smoothed as softmax_xent smooths: (1 - eps) q + eps / C */
    int C = a->classes;
    float eps = a->smoothing, base = eps / (float)C;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < L; k++) {
            float *q = soft + ((size_t)i * L + k) * (size_t)C;
            for (int cc = 0; cc < C; cc++) q[cc] = base;
            int ya = (int)y[(size_t)i * L + k], yb = (int)y[a->perm[i] * L + k];
            if (ya >= 0 && ya < C) q[ya] += (1 - eps) * lam;
            if (yb >= 0 && yb < C) q[yb] += (1 - eps) * (1 - lam);
        }
}

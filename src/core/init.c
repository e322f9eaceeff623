/* init.c - parameter initialisers. Fans follow PyTorch: a weight of shape
 * (out, in, k...) has fan_in = in * prod(k), fan_out = out * prod(k). */
#include "core.h"

#include <math.h>
#include <stdlib.h>

static void fans(gg_shape s, double *fan_in, double *fan_out)
{
    if (s.ndim == 1) {
        *fan_in = *fan_out = s.d[0];
        return;
    }
    double recept = 1;
    for (int i = 2; i < s.ndim; i++) recept *= s.d[i];
    *fan_in = s.d[1] * recept;
    *fan_out = s.d[0] * recept;
}

/* Rows x cols orthogonal (orthonormal rows if rows <= cols, else columns)
 * by modified Gram-Schmidt on a Gaussian matrix, in double. */
static gg_status orthogonal(float *x, int rows, int cols, double gain, gg_rng *r)
{
    int tr = rows < cols; /* orthonormalise the longer side's vectors */
    int nv = tr ? rows : cols, len = tr ? cols : rows;
    double *q = malloc(sizeof(double) * (size_t)nv * (size_t)len);
    if (!q) return gg_fail(GG_E_NOMEM, "orthogonal init: out of memory");
    for (size_t i = 0; i < (size_t)nv * (size_t)len; i++) q[i] = gg_rng_normal(r);
    for (int v = 0; v < nv; v++) {
        double *a = q + (size_t)v * len;
        for (int pass = 0; pass < 2; pass++) /* twice is enough (Kahan) */
            for (int u = 0; u < v; u++) {
                double *b = q + (size_t)u * len, d = 0;
                for (int k = 0; k < len; k++) d += a[k] * b[k];
                for (int k = 0; k < len; k++) a[k] -= d * b[k];
            }
        double nrm = 0;
        for (int k = 0; k < len; k++) nrm += a[k] * a[k];
        nrm = sqrt(nrm);
        if (nrm < 1e-12) nrm = 1;
        for (int k = 0; k < len; k++) a[k] /= nrm;
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            x[(size_t)i * cols + j] = (float)(gain * (tr ? q[(size_t)i * len + j] : q[(size_t)j * len + i]));
    free(q);
    return GG_OK;
}

/* Largest |eigenvalue| of a square matrix by power iteration on A^T A
 * would give the spectral norm; the spectral radius needs eigenvalues.
 * For a Gaussian N(0, 1/n) matrix the radius is close to 1 (circular law),
 * so scaling by a / sqrt(n) sets the radius to about a; we then refine
 * with power iteration on A for the dominant eigenvalue's modulus. */
static double spectral_radius(const float *x, int n, gg_rng *r)
{
    double *v = malloc(sizeof(double) * (size_t)n * 2);
    if (!v) return -1;
    double *w = v + n;
    for (int i = 0; i < n; i++) v[i] = gg_rng_normal(r);
    double est = 0;
    /* The modulus grows like rho^k: average the log growth over many
     * iterations, which handles complex dominant pairs too. */
    double logsum = 0;
    int iters = 400, burn = 50;
    for (int it = 0; it < iters; it++) {
        double nrm = 0;
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < n; j++) s += (double)x[(size_t)i * n + j] * v[j];
            w[i] = s;
            nrm += s * s;
        }
        nrm = sqrt(nrm);
        if (nrm == 0) break;
        for (int i = 0; i < n; i++) v[i] = w[i] / nrm;
        if (it >= burn) logsum += log(nrm);
    }
    est = exp(logsum / (iters - burn));
    free(v);
    return est;
}

gg_status gg_init_fill(float *x, gg_shape s, gg_init in, gg_rng *r)
{
    size_t n = gg_shape_numel(s);
    double fi, fo;
    fans(s, &fi, &fo);
    double gain = in.a != 0 ? in.a : 1.0;
    switch (in.kind) {
    case GG_INIT_ZEROS:
        for (size_t i = 0; i < n; i++) x[i] = 0;
        return GG_OK;
    case GG_INIT_CONST:
        for (size_t i = 0; i < n; i++) x[i] = in.a;
        return GG_OK;
    case GG_INIT_UNIFORM:
        if (!(in.b >= in.a)) return gg_fail(GG_E_ARG, "uniform init: b (%g) < a (%g)", in.b, in.a);
        for (size_t i = 0; i < n; i++) x[i] = (float)(in.a + (in.b - in.a) * gg_rng_uniform(r));
        return GG_OK;
    case GG_INIT_NORMAL:
        if (!(in.b >= 0)) return gg_fail(GG_E_ARG, "normal init: std %g < 0", in.b);
        for (size_t i = 0; i < n; i++) x[i] = (float)(in.a + in.b * gg_rng_normal(r));
        return GG_OK;
    case GG_INIT_XAVIER_UNIFORM: {
        double b = gain * sqrt(6.0 / (fi + fo));
        for (size_t i = 0; i < n; i++) x[i] = (float)(b * (2 * gg_rng_uniform(r) - 1));
        return GG_OK;
    }
    case GG_INIT_XAVIER_NORMAL: {
        double sd = gain * sqrt(2.0 / (fi + fo));
        for (size_t i = 0; i < n; i++) x[i] = (float)(sd * gg_rng_normal(r));
        return GG_OK;
    }
    case GG_INIT_HE_UNIFORM:
    case GG_INIT_HE_NORMAL: {
        double fan = in.b != 0 ? fo : fi;
        if (in.kind == GG_INIT_HE_UNIFORM) {
            double b = gain * sqrt(6.0 / fan);
            for (size_t i = 0; i < n; i++) x[i] = (float)(b * (2 * gg_rng_uniform(r) - 1));
        } else {
            double sd = gain * sqrt(2.0 / fan);
            for (size_t i = 0; i < n; i++) x[i] = (float)(sd * gg_rng_normal(r));
        }
        return GG_OK;
    }
    case GG_INIT_LECUN_UNIFORM: {
        double b = gain / sqrt(fi);
        for (size_t i = 0; i < n; i++) x[i] = (float)(b * (2 * gg_rng_uniform(r) - 1));
        return GG_OK;
    }
    case GG_INIT_ORTHOGONAL: {
        if (s.ndim < 2) return gg_fail(GG_E_SHAPE, "orthogonal init needs at least 2 dims, got %d", s.ndim);
        int rows = s.d[0];
        size_t cols = n / (size_t)rows;
        if (cols > (1u << 20)) return gg_fail(GG_E_SHAPE, "orthogonal init: %zu columns is too many", cols);
        return orthogonal(x, rows, (int)cols, gain, r);
    }
    case GG_INIT_IDENTITY:
    case GG_INIT_SPECTRAL: {
        if (s.ndim != 2 || s.d[0] != s.d[1]) {
            char b[64];
            return gg_fail(GG_E_SHAPE, "%s init needs a square matrix, got %s",
                           in.kind == GG_INIT_IDENTITY ? "identity" : "spectral", gg_shape_str(s, b, sizeof b));
        }
        int k = s.d[0];
        if (in.kind == GG_INIT_IDENTITY) {
            for (size_t i = 0; i < n; i++) x[i] = 0;
            for (int i = 0; i < k; i++) x[(size_t)i * k + i] = (float)gain;
            return GG_OK;
        }
        if (!(in.a > 0)) return gg_fail(GG_E_ARG, "spectral init: radius %g must be > 0", in.a);
        for (size_t i = 0; i < n; i++) x[i] = (float)(gg_rng_normal(r) / sqrt((double)k));
        double rho = spectral_radius(x, k, r);
        if (rho <= 0) return gg_fail(GG_E_NOMEM, "spectral init: could not estimate the radius");
        for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] * in.a / rho);
        return GG_OK;
    }
    case GG_INIT_COUNT:
        break;
    }
    return gg_fail(GG_E_ARG, "unknown initialiser %d", (int)in.kind);
}

/* detect.c - pure detector arithmetic: EMA statistics, z-scores, trends,
 * percentiles, clip coefficients; and for the quiet failures, progress and
 * chance level of a loss series, the gradient profile ratio, dead and
 * saturated unit counts, the gradient-noise schedule. */
#include "detect.h"

#include <math.h>
#include <string.h>

void gg_ema_push(gg_ema *e, double x, double alpha)
{
    if (e->n == 0) {
        e->mean = x;
        e->var = 0;
    } else {
        double d = x - e->mean;
        double incr = alpha * d;
        e->mean += incr;
        e->var = (1 - alpha) * (e->var + d * incr);
    }
    e->n++;
}

double gg_ema_std(const gg_ema *e) { return e->var > 0 ? sqrt(e->var) : 0; }

double gg_ema_z(const gg_ema *e, double x)
{
    double sd = gg_ema_std(e);
    /* a floor on the spread: a perfectly flat history must not turn
     * floating-point noise into an infinite z */
    double floor_sd = 1e-3 * (fabs(e->mean) > 1 ? fabs(e->mean) : 1);
    if (sd < floor_sd) sd = floor_sd;
    return e->n > 0 ? (x - e->mean) / sd : 0;
}

/* The least-squares line through the ring; returns the slope, *sse the
 * sum of squared residuals. The guard calls this every step: the ring
 * index wraps by a compare, not a division per element. */
static double fit(const double *ring, int n, int start, double *sse, double *sxx_out)
{
    double mx = (n - 1) / 2.0, sxy = 0, sxx = 0, my = 0;
    start %= n;
    for (int i = 0, j = start; i < n; i++, j = j + 1 == n ? 0 : j + 1) my += ring[j];
    my /= n;
    for (int i = 0, j = start; i < n; i++, j = j + 1 == n ? 0 : j + 1) {
        double dx = i - mx;
        sxy += dx * (ring[j] - my);
        sxx += dx * dx;
    }
    double b = sxy / sxx;
    if (sse) {
        double e = 0;
        for (int i = 0, j = start; i < n; i++, j = j + 1 == n ? 0 : j + 1) {
            double r = ring[j] - my - b * (i - mx);
            e += r * r;
        }
        *sse = e;
        *sxx_out = sxx;
    }
    return b;
}

double gg_trend_slope(const double *ring, int n, int start) { return n < 2 ? 0 : fit(ring, n, start, NULL, NULL); }

double gg_trend_t(const double *ring, int n, int start, double *slope)
{
    *slope = 0;
    if (n < 3) return 0;
    double sse, sxx, b = fit(ring, n, start, &sse, &sxx);
    *slope = b;
    double se = sqrt(sse / (n - 2) / sxx);
    return se > 0 ? b / se : b > 0 ? INFINITY : b < 0 ? -INFINITY : 0;
}

static void swapd(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

double gg_percentile(const double *x, int n, double p, double *s)
{
    if (n <= 0) return NAN;
    for (int i = 0; i < n; i++) s[i] = x[i];
    /* nearest rank: the ceil(p/100 n)-th smallest */
    int k = (int)ceil(p / 100.0 * n) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        /* median-of-three pivot keeps sorted input linear */
        int mid = lo + (hi - lo) / 2;
        if (s[mid] < s[lo]) swapd(&s[mid], &s[lo]);
        if (s[hi] < s[lo]) swapd(&s[hi], &s[lo]);
        if (s[hi] < s[mid]) swapd(&s[hi], &s[mid]);
        double pv = s[mid];
        int i = lo, j = hi;
        while (i <= j) {
            while (s[i] < pv) i++;
            while (s[j] > pv) j--;
            if (i <= j) {
                swapd(&s[i], &s[j]);
                i++;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return s[k];
}

double gg_clip_coef(double norm, double max_norm)
{
    double c = max_norm / (norm + 1e-6);
    return c < 1 ? c : 1;
}

/* ---- quiet failures --------------------------------------------------- */

double gg_loss_progress(const double *ring, int n, int start)
{
    if (n < 2) return 0;
    double slope = gg_trend_slope(ring, n, start);
    double my = 0;
    for (int i = 0; i < n; i++) my += ring[(start + i) % n];
    my /= n;
    /* the fitted line at the first and last point */
    double first = my - slope * (n - 1) / 2.0;
    double drop = -slope * (n - 1);
    return first > 0 && isfinite(drop) ? drop / first : 0;
}

int gg_at_chance(const double *ring, int n, int start, int last, double chance, double margin)
{
    if (!(chance > 0) || last < 1 || last > n) return 0;
    for (int i = n - last; i < n; i++) {
        double v = ring[(start + i) % n];
        if (!(fabs(v - chance) <= margin * chance)) return 0;
    }
    return 1;
}

int gg_collapsed(double smoothed, double best, double chance, double margin, double fell)
{
    return chance > 0 && fabs(smoothed - chance) < margin * chance && best < fell * chance;
}

double gg_profile_ratio(const double *layer_norms, int n)
{
    if (n < 2 || !(layer_norms[n - 1] > 0)) return NAN;
    return layer_norms[0] / layer_norms[n - 1];
}

void gg_tally_alive(const float *y, long rows, long units, long inner, unsigned char *alive)
{
    for (long r = 0; r < rows; r++) {
        const float *row = y + r * units * inner;
        if (inner == 1) {
            /* dense: one pass along the row, no branch per unit */
            for (long u = 0; u < units; u++) alive[u] |= row[u] != 0;
        } else {
            for (long u = 0; u < units; u++) {
                if (alive[u]) continue;
                const float *v = row + u * inner;
                for (long i = 0; i < inner; i++)
                    if (v[i] != 0) {
                        alive[u] = 1;
                        break;
                    }
            }
        }
    }
}

long gg_count_dead(const float *y, long rows, long units, long inner, unsigned char *alive)
{
    memset(alive, 0, (size_t)units);
    gg_tally_alive(y, rows, units, inner, alive);
    long dead = 0;
    for (long u = 0; u < units; u++) dead += !alive[u];
    return dead;
}

void gg_tally_beyond(const float *y, long rows, long units, long inner, float lo, float hi, long *count)
{
    for (long r = 0; r < rows; r++) {
        const float *row = y + r * units * inner;
        for (long u = 0; u < units; u++) {
            const float *v = row + u * inner;
            long c = 0;
            for (long i = 0; i < inner; i++) c += v[i] <= lo || v[i] >= hi;
            count[u] += c;
        }
    }
}

long gg_saturated_of(const long *count, long rows, long units, long inner, double frac)
{
    double need = frac * (double)rows * (double)inner;
    long sat = 0;
    for (long u = 0; u < units; u++) sat += (double)count[u] >= need && count[u] > 0;
    return sat;
}

long gg_count_saturated(const float *y, long rows, long units, long inner, float lo, float hi, double frac,
                        long *count)
{
    memset(count, 0, sizeof *count * (size_t)units);
    gg_tally_beyond(y, rows, units, inner, lo, hi, count);
    return gg_saturated_of(count, rows, units, inner, frac);
}

double gg_noise_var(double eta, double gamma, long t) { return eta / pow(1.0 + (double)t, gamma); }

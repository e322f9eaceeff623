/*
 * detect.h - the guard's detectors and clipping rules as small pure
 * functions over a few numbers, unit-tested on their own (tests/test_detect.c).
 */
#ifndef GG_DETECT_H
#define GG_DETECT_H

#include <stddef.h>

/* Exponential moving mean and variance (West's EMA form). */
typedef struct gg_ema {
    double mean, var;
    long n;
} gg_ema;

void gg_ema_push(gg_ema *e, double x, double alpha);
/* z-score of x against e; 0 when there is no spread yet. */
double gg_ema_z(const gg_ema *e, double x);
double gg_ema_std(const gg_ema *e);

/* Least-squares slope of y[0..n) against 0..n-1 (a ring: y[(start+i) % n]). */
double gg_trend_slope(const double *ring, int n, int start);
/* The t-statistic of that slope (slope over its standard error from the
 * fit's residuals; +-inf for a perfect line), the slope in *slope. */
double gg_trend_t(const double *ring, int n, int start, double *slope);

/* The p-th percentile (0 < p <= 100, nearest rank) of x[0..n); scratch has
 * room for n values and is overwritten. O(n) on average (quickselect). */
double gg_percentile(const double *x, int n, double p, double *scratch);

/* Scale factor that brings norm down to max_norm (1 if already below), as
 * torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6). */
double gg_clip_coef(double norm, double max_norm);

/* ---- quiet failures: stalls, vanishing gradients, dead and saturated units */

/* The series below are rings of n values sampled at the monitor interval,
 * the oldest at ring[start]. */

/* Relative progress of a (smoothed) loss over the ring: the least-squares
 * fitted drop from the first to the last point, over the fitted first
 * value. Positive when the loss falls; noise around a falling line still
 * counts as progress. 0 for n < 2 or a non-positive fitted start. */
double gg_loss_progress(const double *ring, int n, int start);

/* 1 if the newest `last` values of the ring (last <= n) are all within
 * margin * chance of the chance level (chance > 0). */
int gg_at_chance(const double *ring, int n, int start, int last, double chance, double margin);

/* Collapse: the smoothed loss is within margin * chance of chance after it
 * had come down to best < fell * chance (it learned, then lost it). */
int gg_collapsed(double smoothed, double best, double chance, double margin, double fell);

/* The gradient-norm profile through depth: norm of the first layer over
 * that of the last (layer_norms in depth order, n >= 2). 0 when the first is
 * 0; NaN when the last is 0 or n < 2. A ratio far below 1 is a gradient
 * that vanishes on its way back to the input. */
double gg_profile_ratio(const double *layer_norms, int n);

/* Dead units of a ReLU output y laid out (rows, units, inner): unit u is
 * dead when y[r][u][i] == 0 for every row r and inner position i (a dense
 * layer has inner 1, a conv layer's unit is a channel with inner H*W).
 * alive is scratch for `units` flags. Returns the number of dead units. */
long gg_count_dead(const float *y, long rows, long units, long inner, unsigned char *alive);

/* Saturated units of a squashing output y laid out as above: unit u is
 * saturated when at least frac of its rows * inner values lie outside the
 * open interval (lo, hi). count is scratch for `units` counters. Returns the
 * number of saturated units. */
long gg_count_saturated(const float *y, long rows, long units, long inner, float lo, float hi, double frac,
                        long *count);

/* The same over several batches: gg_tally_alive sets alive[u] where unit u
 * is non-zero somewhere in y; gg_tally_beyond adds each unit's values
 * outside (lo, hi) to count[u]; gg_saturated_of counts the units of a tally
 * over `rows` rows in all that reach frac. Neither clears its tally. */
void gg_tally_alive(const float *y, long rows, long units, long inner, unsigned char *alive);
void gg_tally_beyond(const float *y, long rows, long units, long inner, float lo, float hi, long *count);
long gg_saturated_of(const long *count, long rows, long units, long inner, double frac);

/* The gradient noise variance at step t (t = 0 first): eta / (1 + t)^gamma
 * (Neelakantan et al. 2015). */
double gg_noise_var(double eta, double gamma, long t);

#endif

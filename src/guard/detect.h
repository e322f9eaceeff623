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

/* The p-th percentile (0 < p <= 100, nearest rank) of x[0..n); scratch has
 * room for n values and is overwritten. O(n) on average (quickselect). */
double gg_percentile(const double *x, int n, double p, double *scratch);

/* Scale factor that brings norm down to max_norm (1 if already below), as
 * torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6). */
double gg_clip_coef(double norm, double max_norm);

#endif

/*
 * schedule.c - learning-rate schedules as pure functions of the step (so a
 * resumed or rolled-back run needs only the step), plus reduce-on-plateau,
 * whose state lives in gg_schedule and leaves and returns through
 * gg_schedule_save / gg_schedule_restore (snapshots, checkpoints).
 *
 * The formulas are PyTorch's lr_scheduler ones (StepLR, MultiStepLR,
 * ExponentialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR
 * with cosine annealing, ReduceLROnPlateau in 'rel' threshold mode), in their
 * closed forms. A linear warm-up (PyTorch's LinearLR from warmup_start to 1)
 * may run in front of any of them; the schedule then starts at step
 * warmup_steps, as with SequentialLR.
 */
#include "core/error.h"
#include "io/schema.h"

#include <math.h>
#include <string.h>

static const char *const sched_names[GG_SCHED_COUNT] = {"constant", "step",     "multistep", "exponential",
                                                         "cosine",   "onecycle", "plateau"};

const char *gg_sched_name(gg_sched_kind k) { return (int)k >= 0 && k < GG_SCHED_COUNT ? sched_names[k] : NULL; }

gg_sched_kind gg_sched_parse(const char *name)
{
    for (int k = 0; name && k < GG_SCHED_COUNT; k++)
        if (strcmp(name, sched_names[k]) == 0) return (gg_sched_kind)k;
    return GG_SCHED_COUNT;
}

gg_schedule_config gg_schedule_defaults(gg_sched_kind kind, float lr)
{
    gg_schedule_config c;
    memset(&c, 0, sizeof c);
    gg_schema_defaults(gg_schedule_keys, &c); /* keys.c */
    c.kind = kind;
    c.lr = lr;
    return c;
}

static gg_status bad(const gg_schedule_config *c, const char *field, double v, const char *want)
{
    return gg_fail(GG_E_ARG, "schedule %s: %s = %g %s", sched_names[c->kind], field, v, want);
}

#define CHECK(cond, field, v, want)                                                                                    \
    do {                                                                                                               \
        if (!(cond)) return bad(c, field, (double)(v), want);                                                          \
    } while (0)

static gg_status check(const gg_schedule_config *c)
{
    if ((int)c->kind < 0 || c->kind >= GG_SCHED_COUNT)
        return gg_fail(GG_E_ARG, "schedule: kind %d is not one of constant, step, multistep, exponential, cosine, "
                                 "onecycle, plateau", (int)c->kind);
    CHECK(isfinite(c->lr) && c->lr >= 0, "lr", c->lr, "must be a finite number >= 0");
    CHECK(c->warmup_steps >= 0, "warmup_steps", c->warmup_steps, "must be >= 0");
    CHECK(c->warmup_start >= 0 && c->warmup_start <= 1, "warmup_start", c->warmup_start, "is outside [0, 1]");
    /* the span the schedule proper runs over when total_steps counts the warm-up */
    long span = c->total_steps - c->warmup_steps;
    switch (c->kind) {
    case GG_SCHED_CONSTANT: break;
    case GG_SCHED_STEP:
        CHECK(c->step_size > 0, "step_size", c->step_size, "must be > 0");
        CHECK(isfinite(c->gamma) && c->gamma > 0, "gamma", c->gamma, "must be a finite number > 0");
        break;
    case GG_SCHED_MULTISTEP:
        CHECK(c->n_milestones >= 1 && c->n_milestones <= GG_SCHED_MAX_MILESTONES, "n_milestones", c->n_milestones,
              "is outside 1..32");
        for (int i = 0; i < c->n_milestones; i++) {
            if (c->milestones[i] <= 0)
                return gg_fail(GG_E_ARG, "schedule multistep: milestones[%d] = %ld must be > 0", i, c->milestones[i]);
            if (i > 0 && c->milestones[i] <= c->milestones[i - 1])
                return gg_fail(GG_E_ARG, "schedule multistep: milestones must increase, but milestones[%d] = %ld "
                                         "follows %ld", i, c->milestones[i], c->milestones[i - 1]);
        }
        CHECK(isfinite(c->gamma) && c->gamma > 0, "gamma", c->gamma, "must be a finite number > 0");
        break;
    case GG_SCHED_EXPONENTIAL:
        CHECK(isfinite(c->gamma) && c->gamma > 0, "gamma", c->gamma, "must be a finite number > 0");
        break;
    case GG_SCHED_COSINE:
        CHECK(c->t0 >= 0, "t0", c->t0, "must be >= 0 (0: no restarts)");
        if (c->t0 == 0) {
            if (span <= 0)
                return gg_fail(GG_E_ARG, "schedule cosine: total_steps = %ld must be > warmup_steps = %ld",
                               c->total_steps, c->warmup_steps);
        } else {
            CHECK(isfinite(c->t_mult) && c->t_mult >= 1, "t_mult", c->t_mult, "must be a finite number >= 1");
        }
        CHECK(isfinite(c->min_lr) && c->min_lr >= 0 && c->min_lr <= c->lr, "min_lr", c->min_lr,
              "is outside [0, lr]");
        break;
    case GG_SCHED_ONECYCLE:
        if (span <= 0)
            return gg_fail(GG_E_ARG, "schedule onecycle: total_steps = %ld must be > warmup_steps = %ld",
                           c->total_steps, c->warmup_steps);
        CHECK(c->pct_start > 0 && c->pct_start < 1, "pct_start", c->pct_start, "is outside (0, 1)");
        if (!((double)c->pct_start * (double)span > 1))
            return gg_fail(GG_E_ARG, "schedule onecycle: pct_start = %g of %ld steps leaves no rising phase "
                                     "(pct_start * steps must be > 1)", (double)c->pct_start, span);
        CHECK(isfinite(c->div_factor) && c->div_factor > 0, "div_factor", c->div_factor, "must be > 0");
        CHECK(isfinite(c->final_div_factor) && c->final_div_factor > 0, "final_div_factor", c->final_div_factor,
              "must be > 0");
        break;
    case GG_SCHED_PLATEAU:
        CHECK(c->factor > 0 && c->factor < 1, "factor", c->factor, "is outside (0, 1)");
        CHECK(c->patience >= 0, "patience", c->patience, "must be >= 0");
        CHECK(c->cooldown >= 0, "cooldown", c->cooldown, "must be >= 0");
        CHECK(isfinite(c->threshold) && c->threshold >= 0, "threshold", c->threshold, "must be a finite number >= 0");
        CHECK(isfinite(c->min_lr) && c->min_lr >= 0, "min_lr", c->min_lr, "must be a finite number >= 0");
        CHECK(c->mode_max == 0 || c->mode_max == 1, "mode_max", c->mode_max, "must be 0 (min) or 1 (max)");
        break;
    default: break;
    }
    return GG_OK;
}

gg_status gg_schedule_init(gg_schedule *s, const gg_schedule_config *c)
{
    if (!s || !c) return gg_fail(GG_E_ARG, "gg_schedule_init: NULL %s", s ? "config" : "schedule");
    gg_status st = check(c);
    if (st) return st;
    memset(s, 0, sizeof *s);
    s->c = *c;
    s->plateau_scale = 1;
    s->best = c->mode_max ? -INFINITY : INFINITY;
    return GG_OK;
}

/* cos annealing from a (pct 0) to b (pct 1) */
static double anneal(double a, double b, double pct)
{
    const double pi = 3.14159265358979323846;
    return b + (a - b) * 0.5 * (1 + cos(pi * pct));
}

/* The schedule proper at step k >= 0 (after the warm-up). */
static double sched_at(const gg_schedule *s, long k)
{
    const gg_schedule_config *c = &s->c;
    const double lr = c->lr;
    switch (c->kind) {
    case GG_SCHED_STEP: return lr * pow(c->gamma, (double)(k / c->step_size));
    case GG_SCHED_MULTISTEP: {
        int passed = 0;
        while (passed < c->n_milestones && c->milestones[passed] <= k) passed++;
        return lr * pow(c->gamma, passed);
    }
    case GG_SCHED_EXPONENTIAL: return lr * pow(c->gamma, (double)k);
    case GG_SCHED_COSINE: {
        double tc, ti;
        if (c->t0 == 0) {
            ti = (double)(c->total_steps - c->warmup_steps);
            tc = k < (long)ti ? (double)k : ti; /* stays at min_lr after the end */
        } else if (c->t_mult == 1) {
            ti = (double)c->t0;
            tc = (double)(k % c->t0);
        } else {
            /* periods t0, t0 m, t0 m^2 ...: cycle n starts at t0 (m^n - 1)/(m - 1) */
            double m = c->t_mult, t0 = (double)c->t0;
            double n = floor(log((double)k / t0 * (m - 1) + 1) / log(m));
            double start = t0 * (pow(m, n) - 1) / (m - 1);
            /* the logarithm may land one cycle off at a boundary */
            if (start > (double)k) {
                n -= 1;
                start = t0 * (pow(m, n) - 1) / (m - 1);
            } else if ((double)k >= start + t0 * pow(m, n)) {
                start += t0 * pow(m, n);
                n += 1;
            }
            ti = t0 * pow(m, n);
            tc = (double)k - start;
        }
        return anneal(lr, c->min_lr, tc / ti);
    }
    case GG_SCHED_ONECYCLE: {
        double total = (double)(c->total_steps - c->warmup_steps);
        double initial = lr / c->div_factor, final = initial / c->final_div_factor;
        double kk = (double)k < total - 1 ? (double)k : total - 1; /* the last value holds after the end */
        double up_end = (double)c->pct_start * total - 1, down_end = total - 1;
        if (kk <= up_end) return anneal(initial, lr, kk / up_end);
        return anneal(lr, final, (kk - up_end) / (down_end - up_end));
    }
    case GG_SCHED_PLATEAU: return lr * s->plateau_scale;
    default: return lr;
    }
}

float gg_schedule_lr(const gg_schedule *s, long step)
{
    if (!s) return 0;
    if (step < 0) step = 0;
    const long w = s->c.warmup_steps;
    if (step < w) {
        double f = s->c.warmup_start + (1.0 - s->c.warmup_start) * (double)step / (double)w;
        return (float)(sched_at(s, 0) * f);
    }
    return (float)sched_at(s, step - w);
}

int gg_schedule_observe(gg_schedule *s, double metric)
{
    if (!s || s->c.kind != GG_SCHED_PLATEAU) return 0;
    const gg_schedule_config *c = &s->c;
    s->seen++;
    /* 'rel' mode: an improvement must beat best by the fraction threshold; a NaN never does */
    int better = c->mode_max ? metric > s->best * (1 + (double)c->threshold)
                             : metric < s->best * (1 - (double)c->threshold);
    if (better) {
        s->best = metric;
        s->bad_epochs = 0;
    } else {
        s->bad_epochs++;
    }
    if (s->cooldown_left > 0) {
        s->cooldown_left--;
        s->bad_epochs = 0;
    }
    if (s->bad_epochs <= c->patience) return 0;
    s->cooldown_left = c->cooldown;
    s->bad_epochs = 0;
    double old = (double)c->lr * s->plateau_scale;
    double lr_new = fmax(old * c->factor, (double)c->min_lr);
    /* PyTorch's eps: changes smaller than 1e-8 are not made */
    if (c->lr > 0 && old - lr_new > 1e-8) {
        s->plateau_scale = lr_new / c->lr;
        return 1;
    }
    return 0;
}

gg_schedule_state gg_schedule_save(const gg_schedule *s)
{
    gg_schedule_state st = {s->plateau_scale, s->best, s->bad_epochs, s->cooldown_left, s->seen};
    return st;
}

void gg_schedule_restore(gg_schedule *s, const gg_schedule_state *st)
{
    s->plateau_scale = st->plateau_scale;
    s->best = st->best;
    s->bad_epochs = st->bad_epochs;
    s->cooldown_left = st->cooldown_left;
    s->seen = st->seen;
}

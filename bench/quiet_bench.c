/*
 * quiet_bench.c - the cost of the guard's quiet-failure monitor on a
 * training step, measured in thread CPU time so that other jobs on a shared
 * machine disturb it little (wall-clock runs there differ by +-30%).
 *
 * The default MLP (784-256-128-10, ReLU, batch 128, Adam), random inputs,
 * at 1 thread: forward, backward, gg_guard_check, optimizer step. Three
 * settings, interleaved in rounds of `steps` steps each: the guard with the
 * monitor off (guard.quiet false), on at the default interval of 50 steps,
 * and on at every step (which magnifies one pass 50 times). Prints the
 * median CPU time per step of each, and the overhead.
 *
 *   quiet_bench [ROUNDS] [STEPS]        (default 15 rounds of 200 steps)
 */
#include "gradguard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct model {
    gg_graph *g;
    gg_node x, y, loss;
    gg_optim *o;
    gg_guard *gd;
} model;

static int build(model *m, int quiet, int every)
{
    m->g = gg_graph_new(128);
    m->x = gg_input(m->g, "x", gg_shape1(784));
    m->y = gg_input(m->g, "y", gg_shape1(1));
    gg_node h = gg_dense(m->g, m->x, "fc1", 256, GG_ACT_RELU, gg_init_default(GG_ACT_RELU), 1);
    h = gg_dense(m->g, h, "fc2", 128, GG_ACT_RELU, gg_init_default(GG_ACT_RELU), 1);
    gg_node z = gg_dense(m->g, h, "fc3", 10, GG_ACT_NONE, gg_init_default(GG_ACT_NONE), 1);
    m->loss = gg_softmax_xent(m->g, z, m->y, 0);
    if (gg_graph_compile(m->g) || gg_graph_init_params(m->g, 1)) return 1;
    gg_rng r;
    gg_rng_seed(&r, 7);
    float *xv = gg_graph_data(m->g, m->x), *yv = gg_graph_data(m->g, m->y);
    for (int i = 0; i < 128 * 784; i++) xv[i] = (float)gg_rng_uniform(&r);
    for (int i = 0; i < 128; i++) yv[i] = (float)(i % 10);
    gg_optim_config oc = gg_optim_defaults(GG_OPT_ADAM);
    oc.lr = 1e-3f;
    m->o = gg_optim_new(m->g, &oc);
    gg_guard_config c = gg_guard_defaults();
    c.quiet = quiet;
    c.monitor_every = every;
    m->gd = m->o ? gg_guard_new(m->g, m->o, &c) : NULL;
    if (!m->gd) return 1;
    gg_guard_set_chance(m->gd, 2.302585092994046);
    return 0;
}

static void teardown(model *m)
{
    gg_guard_free(m->gd);
    gg_optim_free(m->o);
    gg_graph_free(m->g);
}

/* CPU seconds per step over `steps` steps starting at *step. */
static double run(model *m, long *step, int steps)
{
    double t0 = cpu_seconds();
    for (int k = 0; k < steps; k++, (*step)++) {
        gg_graph_zero_grad(m->g);
        gg_graph_forward(m->g, GG_TRAIN, m->loss);
        gg_graph_backward(m->g, m->loss, 1);
        double loss = gg_graph_scalar(m->g, m->loss);
        gg_guard_set_lr(m->gd, 1e-3);
        gg_guard_decision d = gg_guard_check(m->gd, *step, 0, loss);
        if (d.verdict == GG_GUARD_PROCEED) gg_optim_step(m->o, 1e-3f * d.lr_scale);
        gg_guard_clear_events(m->gd);
    }
    return (cpu_seconds() - t0) / steps;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 15, steps = argc > 2 ? atoi(argv[2]) : 200;
    if (rounds < 1 || rounds > 1000 || steps < 50) {
        fprintf(stderr, "usage: quiet_bench [ROUNDS 1..1000] [STEPS >= 50]\n");
        return 2;
    }
    /* run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1: thread CPU time counts this thread only */
    static const char *const names[3] = {"monitor off", "monitor every 50 steps", "monitor every step"};
    model m[3];
    if (build(&m[0], 0, 50) || build(&m[1], 1, 50) || build(&m[2], 1, 1)) {
        fprintf(stderr, "quiet_bench: setup failed: %s\n", gg_errmsg());
        return 1;
    }
    long step[3] = {0, 0, 0};
    double *t = calloc((size_t)rounds * 3, sizeof *t);
    if (!t) return 1;
    for (int k = 0; k < 3; k++) run(&m[k], &step[k], steps); /* warm up caches and the allocator */
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 3; k++) t[k * rounds + r] = run(&m[k], &step[k], steps);
    double med[3];
    for (int k = 0; k < 3; k++) {
        med[k] = median(t + k * rounds, rounds);
        printf("%-24s %8.1f us CPU per step (median of %d rounds of %d steps)\n", names[k], 1e6 * med[k], rounds, steps);
    }
    printf("overhead at the default interval (50): %+.2f%% of step time (direct)\n", 100 * (med[1] / med[0] - 1));
    printf("one monitor pass: %.1f us = %.1f%% of a step; per step at interval 50: %+.2f%% (from the every-step run)\n",
           1e6 * (med[2] - med[0]), 100 * (med[2] / med[0] - 1), 100 * (med[2] / med[0] - 1) / 50);
    for (int k = 0; k < 3; k++) teardown(&m[k]);
    free(t);
    return 0;
}

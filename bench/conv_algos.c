/*
 * conv_algos.c - one convolution layer, forward and backward, computed as
 * im2col + GEMM and as Winograd, taking turns: the measurement behind
 * GG_CONV_AUTO's choice (include/gradguard/graph.h).
 *
 *   conv_algos [ROUNDS]          (default 7; 1 thread: run with OMP_NUM_THREADS=1)
 *
 * For each shape (batch, channels in -> out, map size, kernel; stride 1,
 * "same" padding, bias, ReLU) it times forward + backward (input and weight
 * gradients) of each algorithm in alternating rounds, in process CPU time,
 * and prints the medians, the ratio im2col / Winograd (> 1: Winograd is
 * faster) and the largest difference between the two outputs relative to
 * the output's largest value.
 */
#include "gradguard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct shape {
    int N, C, O, H, k;
} shape;

static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct net {
    gg_graph *g;
    gg_node x, y, L;
} net;

static int build(net *n, const shape *s, gg_conv_algo algo)
{
    n->g = gg_graph_new(s->N);
    n->x = gg_input(n->g, "x", gg_shape3(s->C, s->H, s->H));
    gg_graph_requires_grad(n->g, n->x);
    gg_init he = {GG_INIT_HE_NORMAL, 0, 0};
    gg_node w = gg_param(n->g, "w", gg_shape4(s->O, s->C, s->k, s->k), he);
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    gg_node b = gg_param(n->g, "b", gg_shape1(s->O), z);
    n->y = gg_conv2d(n->g, n->x, w, b, 1, (s->k - 1) / 2, 1, GG_ACT_RELU);
    if (n->y < 0 || gg_conv2d_set_algo(n->g, n->y, algo)) return -1;
    n->L = gg_sum(n->g, n->y, 1.0f);
    if (gg_graph_compile(n->g) || gg_graph_init_params(n->g, 7)) return -1;
    float *xv = gg_graph_data(n->g, n->x);
    size_t nx = (size_t)s->N * s->C * s->H * s->H;
    uint64_t r = 12345;
    for (size_t i = 0; i < nx; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        xv[i] = (float)((r >> 40) & 0xffff) / 65536.0f - 0.5f;
    }
    return 0;
}

static double step(net *n)
{
    double t0 = cpu_ms();
    gg_graph_forward(n->g, GG_TRAIN, n->L);
    gg_graph_zero_grad(n->g);
    gg_graph_backward(n->g, n->L, 1.0f);
    return cpu_ms() - t0;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 7;
    if (rounds < 1 || rounds > 101) {
        fprintf(stderr, "conv_algos: ROUNDS must be 1..101\n");
        return 2;
    }
    static const shape shapes[] = {
        {128, 32, 64, 14, 5}, /* the small CNN's conv2 */
        {128, 8, 8, 28, 5},   {128, 8, 8, 28, 3},   {128, 16, 16, 28, 3}, {64, 32, 32, 28, 3},
        {64, 24, 24, 28, 3},  {64, 64, 64, 14, 3},  {32, 128, 128, 14, 3}, {32, 256, 256, 7, 3}, {64, 64, 64, 14, 5},
    };
    printf("| batch | C -> O | map | kernel | im2col ms | Winograd ms | im2col / Winograd | max |diff| / max |y| |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (size_t q = 0; q < sizeof shapes / sizeof *shapes; q++) {
        const shape *s = &shapes[q];
        net a, b;
        if (build(&a, s, GG_CONV_IM2COL) || build(&b, s, GG_CONV_WINOGRAD)) {
            fprintf(stderr, "conv_algos: %s\n", gg_errmsg());
            return 1;
        }
        double ta[101], tb[101];
        step(&a);
        step(&b);
        for (int i = 0; i < rounds; i++) {
            ta[i] = step(&a);
            tb[i] = step(&b);
        }
        const float *ya = gg_graph_data(a.g, a.y), *yb = gg_graph_data(b.g, b.y);
        size_t ny = (size_t)s->N * s->O * s->H * s->H;
        double mx = 0, err = 0;
        for (size_t i = 0; i < ny; i++) {
            mx = fmax(mx, fabs(ya[i]));
            err = fmax(err, fabs(ya[i] - yb[i]));
        }
        qsort(ta, (size_t)rounds, sizeof *ta, cmp);
        qsort(tb, (size_t)rounds, sizeof *tb, cmp);
        double ma = ta[rounds / 2], mb = tb[rounds / 2];
        printf("| %d | %d -> %d | %dx%d | %dx%d | %.2f | %.2f | **%.2f** | %.1e |\n", s->N, s->C, s->O, s->H, s->H, s->k,
               s->k, ma, mb, ma / mb, mx > 0 ? err / mx : 0);
        fflush(stdout);
        gg_graph_free(a.g);
        gg_graph_free(b.g);
    }
    return 0;
}

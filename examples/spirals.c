/*
 * spirals.c - the smallest complete use of libgradguard, through the public
 * header only: a 2-layer MLP (one hidden layer of tanh units, then logits)
 * learns the two-spirals problem with plain SGD.
 *
 *   cc spirals.c $(pkg-config --cflags --libs gradguard) -o spirals && ./spirals
 *
 * Prints the training accuracy and exits 0 when it reaches 99%.
 */
#include <gradguard.h>

#include <math.h>
#include <stdio.h>

#define N 400     /* points: 200 per spiral */
#define PI 3.14159265358979323846
#define HIDDEN 64
#define STEPS 6000

/* Two interleaved spirals, points of class k at angle t and radius t/(4 pi). */
static void make_spirals(float *x, float *y, gg_rng *r)
{
    for (int i = 0; i < N; i++) {
        int k = i % 2;
        double t = 0.5 + 3.5 * PI * gg_rng_uniform(r);
        double rad = t / (4 * PI);
        double a = t + k * PI;
        x[2 * i] = (float)(rad * cos(a) * 2);
        x[2 * i + 1] = (float)(rad * sin(a) * 2);
        y[i] = (float)k;
    }
}

static int fail(const char *what)
{
    fprintf(stderr, "spirals: %s: %s\n", what, gg_errmsg());
    return 1;
}

int main(void)
{
    gg_graph *g = gg_graph_new(N);
    if (!g) return fail("graph");
    gg_node x = gg_input(g, "x", gg_shape1(2));
    gg_node y = gg_input(g, "y", gg_shape1(1));
    gg_node h = gg_dense(g, x, "fc1", HIDDEN, GG_ACT_TANH, gg_init_default(GG_ACT_TANH), 1);
    gg_node h2 = gg_dense(g, h, "fc2", HIDDEN, GG_ACT_TANH, gg_init_default(GG_ACT_TANH), 1);
    gg_node logits = gg_dense(g, h2, "out", 2, GG_ACT_NONE, gg_init_default(GG_ACT_NONE), 1);
    gg_node loss = gg_softmax_xent(g, logits, y, 0);
    gg_node acc = gg_accuracy(g, logits, y);
    /* builders record the first error; compile reports it */
    if (gg_graph_compile(g) || gg_graph_init_params(g, 42)) return fail("build");

    gg_rng r;
    gg_rng_seed(&r, 7);
    make_spirals(gg_graph_data(g, x), gg_graph_data(g, y), &r);

    gg_optim_config oc = gg_optim_defaults(GG_OPT_SGD);
    oc.lr = 0.5f;
    gg_optim *opt = gg_optim_new(g, &oc);
    if (!opt) return fail("optimizer");

    /* full-batch plain SGD */
    for (int step = 0; step < STEPS; step++) {
        gg_graph_zero_grad(g);
        if (gg_graph_forward(g, GG_TRAIN, loss) || gg_graph_backward(g, loss, 1.0f)) return fail("step");
        if (gg_optim_step(opt, oc.lr)) return fail("update");
        if (step % 1000 == 0) printf("step %d loss %.4f\n", step, gg_graph_scalar(g, loss));
    }
    if (gg_graph_forward(g, GG_EVAL, -1)) return fail("eval");
    double a = gg_graph_scalar(g, acc);
    printf("training accuracy %.4f (loss %.4f)\n", a, gg_graph_scalar(g, loss));
    gg_optim_free(opt);
    gg_graph_free(g);
    return a >= 0.99 ? 0 : 1;
}

/* test_prune.c - pruning: the gradual schedule's values, global and
 * per-layer magnitude pruning on a hand-checked case, structured rows,
 * random pruning, masks that survive optimizer steps, and the config
 * section's messages. */
#include "gradguard.h"
#include "gt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void test_schedule(void)
{
    gg_prune_config c = gg_prune_defaults();
    c.sparsity = 0.8f;
    c.start = 100;
    c.end = 500;
    c.every = 100;
    /* s(t) = 0.8 + (0 - 0.8) (1 - (t - 100) / 400)^3 */
    GT_NEAR(gg_prune_target(&c, 50), 0, 0, 1e-12, "before start");
    GT_NEAR(gg_prune_target(&c, 100), 0, 0, 1e-7, "at start: s0");
    GT_NEAR(gg_prune_target(&c, 200), 0.8 - 0.8 * 0.421875, 1e-6, 1e-7, "a quarter in: 0.4625");
    GT_NEAR(gg_prune_target(&c, 300), 0.7, 1e-6, 1e-7, "half way: 0.7");
    GT_NEAR(gg_prune_target(&c, 400), 0.7875, 1e-6, 1e-7, "three quarters: 0.7875");
    GT_NEAR(gg_prune_target(&c, 500), 0.8, 1e-6, 1e-7, "at end: s1");
    GT_NEAR(gg_prune_target(&c, 9999), 0.8, 1e-6, 1e-7, "after end: s1");
    int due[] = {100, 200, 300, 400, 500}, notdue[] = {0, 99, 150, 501, 600};
    for (int i = 0; i < 5; i++) {
        GT_CHECK(gg_prune_due(&c, due[i]), "due at %d", due[i]);
        GT_CHECK(!gg_prune_due(&c, notdue[i]), "not due at %d", notdue[i]);
    }
    c.initial_sparsity = 0.2f;
    GT_NEAR(gg_prune_target(&c, 100), 0.2, 1e-6, 1e-7, "s0 = 0.2 at start");
    GT_NEAR(gg_prune_target(&c, 300), 0.8 - 0.6 * 0.125, 1e-6, 1e-7, "s0 = 0.2 half way: 0.725");
    /* an end that is not on the grid is still a pruning step */
    c.end = 450;
    GT_CHECK(gg_prune_due(&c, 450) && gg_prune_due(&c, 400) && !gg_prune_due(&c, 500), "off-grid end");
    /* one-shot */
    gg_prune_config o = gg_prune_defaults();
    o.sparsity = 0.5f;
    GT_CHECK(gg_prune_due(&o, 0) && !gg_prune_due(&o, 1) && gg_prune_target(&o, 0) == 0.5f, "one-shot at step 0");
    GT_CHECK(gg_prune_method_parse("random") == GG_PRUNE_RANDOM && gg_prune_method_parse("l3") == GG_PRUNE_COUNT &&
                 !strcmp(gg_prune_method_name(GG_PRUNE_MAGNITUDE), "magnitude"),
             "method names");
}

/* input (3) -> fc1 (2x3) -> fc2 (2x2) -> mse against targets (2) */
typedef struct net {
    gg_graph *g;
    gg_node x, y, loss, w1, b1, w2, b2;
} net;

static net make_net(void)
{
    net n;
    n.g = gg_graph_new(4);
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    n.x = gg_input(n.g, "x", gg_shape1(3));
    n.y = gg_input(n.g, "y", gg_shape1(2));
    n.w1 = gg_param(n.g, "fc1.weight", gg_shape2(2, 3), z);
    n.b1 = gg_param(n.g, "fc1.bias", gg_shape1(2), z);
    n.w2 = gg_param(n.g, "fc2.weight", gg_shape2(2, 2), z);
    n.b2 = gg_param(n.g, "fc2.bias", gg_shape1(2), z);
    gg_node h = gg_linear(n.g, n.x, n.w1, n.b1, GG_ACT_TANH);
    h = gg_linear(n.g, h, n.w2, n.b2, GG_ACT_NONE);
    n.loss = gg_mse(n.g, h, n.y);
    GT_OK(gg_graph_compile(n.g));
    /* |w|: fc1 0.1 .. 0.6 (rows [.1 -.2 .3], [-.4 .5 -.6]), fc2 1 .. 4 */
    static const float w1[6] = {0.1f, -0.2f, 0.3f, -0.4f, 0.5f, -0.6f}, w2[4] = {-1, 2, 3, -4};
    memcpy(gg_graph_data(n.g, n.w1), w1, sizeof w1);
    memcpy(gg_graph_data(n.g, n.w2), w2, sizeof w2);
    gg_graph_data(n.g, n.b1)[0] = 0.01f;
    gg_graph_data(n.g, n.b1)[1] = 0.02f;
    gg_graph_data(n.g, n.b2)[0] = 0.03f;
    gg_graph_data(n.g, n.b2)[1] = 0.04f;
    return n;
}

static int zeros(const float *x, int n)
{
    int z = 0;
    for (int i = 0; i < n; i++) z += x[i] == 0;
    return z;
}

static void test_global_vs_layer(void)
{
    net n = make_net();
    gg_prune_config c = gg_prune_defaults();
    gg_pruner *p = gg_pruner_new(n.g, &c);
    GT_CHECK(p && gg_pruner_count(p) == 2, "two prunable tensors (biases excluded)");
    /* global 50% of 10 weights: the five smallest |w| are 0.1 .. 0.5, all in fc1 */
    double s = gg_pruner_prune(p, 0.5, 0);
    const float *w1 = gg_graph_data(n.g, n.w1), *w2 = gg_graph_data(n.g, n.w2);
    GT_NEAR(s, 0.5, 0, 1e-12, "global sparsity reached");
    GT_CHECK(zeros(w1, 6) == 5 && w1[5] == -0.6f && zeros(w2, 4) == 0, "global: fc1 loses 0.1..0.5, fc2 kept");
    double s1, s2;
    gg_pruner_tensor(p, 0, NULL, &s1);
    gg_pruner_tensor(p, 1, NULL, &s2);
    GT_NEAR(s1, 5.0 / 6, 0, 1e-12, "fc1 sparsity 5/6");
    GT_NEAR(s2, 0, 0, 1e-12, "fc2 sparsity 0");
    GT_CHECK(gg_graph_data(n.g, n.b1)[0] == 0.01f && gg_graph_data(n.g, n.b2)[1] == 0.04f, "biases untouched");
    char d[256];
    gg_pruner_describe(p, d, sizeof d);
    GT_CHECK(contains(d, "0.500 of 10 weights: fc1.weight 0.833, fc2.weight 0.000"), "describe: %s", d);
    gg_pruner_free(p);
    gg_graph_free(n.g);

    n = make_net();
    c.global = 0;
    p = gg_pruner_new(n.g, &c);
    gg_pruner_prune(p, 0.5, 0);
    w1 = gg_graph_data(n.g, n.w1);
    w2 = gg_graph_data(n.g, n.w2);
    /* per layer: 3 of fc1 (0.1, 0.2, 0.3) and 2 of fc2 (1, 2) */
    static const float e1[6] = {0, 0, 0, -0.4f, 0.5f, -0.6f}, e2[4] = {0, 0, 3, -4};
    int same = 1;
    for (int i = 0; i < 6; i++) same &= w1[i] == e1[i] && (i >= 4 || w2[i] == e2[i]);
    GT_CHECK(same, "per layer: the smallest half of each");
    /* masks only grow: pruning to less changes nothing, to more adds */
    gg_pruner_prune(p, 0.2, 1);
    GT_CHECK(zeros(w1, 6) == 3 && zeros(w2, 4) == 2, "a lower target keeps the masks");
    gg_pruner_prune(p, 0.75, 2);
    GT_CHECK(zeros(w1, 6) == 5 && zeros(w2, 4) == 3 && w1[5] != 0 && w2[3] != 0, "a higher target adds to them");
    gg_pruner_free(p);
    gg_graph_free(n.g);

    /* biases included on request */
    n = make_net();
    c = gg_prune_defaults();
    c.include_biases = 1;
    p = gg_pruner_new(n.g, &c);
    GT_CHECK(gg_pruner_count(p) == 4, "biases are prunable with include_biases");
    gg_pruner_prune(p, 0.25, 0); /* 14 elements, 4 go: the biases (0.01 .. 0.04) are the smallest */
    GT_CHECK(zeros(gg_graph_data(n.g, n.b1), 2) == 2 && zeros(gg_graph_data(n.g, n.b2), 2) == 2 &&
                 zeros(gg_graph_data(n.g, n.w1), 6) == 0, "the biases go first");
    gg_pruner_free(p);
    gg_graph_free(n.g);
}

/* A larger case: whatever the order of the weights, every pruned |w| is at
 * most every kept one, and the count is exact. */
static void test_order(void)
{
    gg_graph *g = gg_graph_new(1);
    gg_init u = {GG_INIT_UNIFORM, -1, 1};
    gg_node x = gg_input(g, "x", gg_shape1(40));
    gg_node a = gg_param(g, "a.weight", gg_shape2(50, 40), u), b = gg_param(g, "b.weight", gg_shape2(7, 50), u);
    gg_node h = gg_linear(g, gg_linear(g, x, a, -1, GG_ACT_NONE), b, -1, GG_ACT_NONE);
    gg_sum(g, h, 1);
    GT_OK(gg_graph_compile(g));
    GT_OK(gg_graph_init_params(g, 3));
    size_t np;
    float *w = gg_graph_params(g, &np);
    float *orig = malloc(sizeof(float) * np);
    memcpy(orig, w, sizeof(float) * np);
    /* a run of equal magnitudes: ties sort by position */
    for (int i = 100; i < 140; i++) w[i] = orig[i] = i % 2 ? 0.25f : -0.25f;
    gg_prune_config c = gg_prune_defaults();
    gg_pruner *p = gg_pruner_new(g, &c);
    gg_pruner_prune(p, 0.3, 0);
    double maxp = 0, mink = 1e9;
    size_t pruned = 0;
    for (size_t i = 0; i < np; i++) {
        if (w[i] == 0) {
            pruned++;
            maxp = fabs(orig[i]) > maxp ? fabs(orig[i]) : maxp;
        } else {
            mink = fabs(orig[i]) < mink ? fabs(orig[i]) : mink;
        }
    }
    GT_CHECK(pruned == (size_t)llround(0.3 * (double)np), "exact count: %zu of %zu", pruned, np);
    GT_CHECK(maxp <= mink, "largest pruned |w| %g <= smallest kept %g", maxp, mink);
    free(orig);
    gg_pruner_free(p);
    gg_graph_free(g);
}

static void test_structured(void)
{
    net n = make_net();
    gg_prune_config c = gg_prune_defaults();
    c.structured = 1;
    c.global = 0;
    gg_pruner *p = gg_pruner_new(n.g, &c);
    gg_pruner_prune(p, 0.5, 0);
    const float *w1 = gg_graph_data(n.g, n.w1), *w2 = gg_graph_data(n.g, n.w2);
    /* fc1 row 0 (rms 0.216) < row 1 (0.507); fc2 row 0 |(-1, 2)| < row 1 |(3, -4)| */
    GT_CHECK(w1[0] == 0 && w1[1] == 0 && w1[2] == 0 && w1[3] != 0 && w1[4] != 0 && w1[5] != 0, "fc1 row 0 zeroed whole");
    GT_CHECK(w2[0] == 0 && w2[1] == 0 && w2[2] == 3 && w2[3] == -4, "fc2 row 0 zeroed whole");
    gg_pruner_free(p);
    gg_graph_free(n.g);

    /* keep_last: the output layer stays whole; global structured over fc1 only */
    n = make_net();
    c.keep_last = 1;
    c.global = 1;
    p = gg_pruner_new(n.g, &c);
    GT_CHECK(gg_pruner_count(p) == 1, "keep_last leaves one prunable tensor");
    gg_pruner_prune(p, 0.5, 0);
    GT_CHECK(zeros(gg_graph_data(n.g, n.w1), 6) == 3 && zeros(gg_graph_data(n.g, n.w2), 4) == 0, "only fc1's weak row");
    gg_pruner_free(p);
    gg_graph_free(n.g);
}

static void test_random(void)
{
    float first[6];
    for (int rep = 0; rep < 2; rep++) {
        net n = make_net();
        gg_prune_config c = gg_prune_defaults();
        c.method = GG_PRUNE_RANDOM;
        c.global = 0;
        c.seed = 42;
        gg_pruner *p = gg_pruner_new(n.g, &c);
        gg_pruner_prune(p, 0.5, 7);
        GT_CHECK(zeros(gg_graph_data(n.g, n.w1), 6) == 3 && zeros(gg_graph_data(n.g, n.w2), 4) == 2, "random: half of each");
        if (rep == 0) memcpy(first, gg_graph_data(n.g, n.w1), sizeof first);
        else GT_CHECK(!memcmp(first, gg_graph_data(n.g, n.w1), sizeof first), "random pruning is deterministic by seed");
        gg_pruner_free(p);
        gg_graph_free(n.g);
    }
}

/* Masks hold through optimizer steps: Adam's moments, built up before the
 * prune, would move the pruned weights off 0 without the re-application. */
static void test_masks_hold(void)
{
    static const char *const opts[] = {"adam", "sgd", "rmsprop", "adamw"};
    for (int k = 0; k < 4; k++) {
        net n = make_net();
        gg_optim_config oc = gg_optim_defaults(gg_optim_parse(opts[k]));
        if (!strcmp(opts[k], "sgd")) oc.momentum = 0.9f;
        gg_optim *o = gg_optim_new(n.g, &oc);
        gg_prune_config c = gg_prune_defaults();
        c.global = 0;
        gg_pruner *p = gg_pruner_new(n.g, &c);
        float *x = gg_graph_data(n.g, n.x), *y = gg_graph_data(n.g, n.y);
        for (int i = 0; i < 12; i++) x[i] = (float)sin(i + 1.0);
        for (int i = 0; i < 8; i++) y[i] = (float)cos(i + 1.0);
        int ok_grad = 1, ok_w = 1;
        size_t np, nm;
        const float *m = gg_pruner_masks(p, &nm);
        const float *w = gg_graph_params(n.g, &np), *gr = gg_graph_grads(n.g, &np);
        for (int step = 0; step < 20; step++) {
            if (step == 5) gg_pruner_prune(p, 0.5, step);
            gg_graph_zero_grad(n.g);
            GT_OK(gg_graph_forward(n.g, GG_TRAIN, n.loss));
            GT_OK(gg_graph_backward(n.g, n.loss, 1));
            gg_pruner_mask_grads(p);
            for (size_t i = 0; i < np; i++) ok_grad &= m[i] != 0 || gr[i] == 0;
            GT_OK(gg_optim_step(o, 0.05f));
            gg_pruner_apply(p);
            for (size_t i = 0; i < np; i++) ok_w &= m[i] != 0 || w[i] == 0;
        }
        GT_CHECK(ok_grad, "%s: pruned weights get no gradient", opts[k]);
        GT_CHECK(ok_w, "%s: pruned weights stay 0 after every step", opts[k]);
        /* the masks are the arena's size and say what is pruned: 3 + 2 */
        GT_CHECK(nm == np && zeros(m, (int)nm) == 5, "%s: mask arena", opts[k]);
        GT_CHECK(zeros(w, (int)np) == 5, "%s: the kept weights still train (none is 0)", opts[k]);
        gg_pruner_free(p);
        gg_optim_free(o);
        gg_graph_free(n.g);
    }
}

/* the gradual schedule through gg_pruner_step, and the catch-up of a run
 * that starts past a due step */
static void test_step(void)
{
    net n = make_net();
    gg_prune_config c = gg_prune_defaults();
    c.sparsity = 0.8f;
    c.start = 0;
    c.end = 4;
    c.every = 2;
    gg_pruner *p = gg_pruner_new(n.g, &c);
    GT_CHECK(!gg_pruner_step(p, 0), "s(0) = s0 = 0: nothing to prune");
    GT_CHECK(!gg_pruner_step(p, 1), "not due at 1");
    GT_CHECK(gg_pruner_step(p, 2) && fabs(gg_pruner_sparsity(p) - 0.7) < 1e-9, "step 2: 0.8 - 0.8/8 = 0.7 (7 of 10)");
    GT_CHECK(gg_pruner_step(p, 4) && fabs(gg_pruner_sparsity(p) - 0.8) < 1e-9, "step 4: 0.8");
    GT_CHECK(!gg_pruner_step(p, 6), "nothing after end");
    gg_pruner_free(p);
    gg_graph_free(n.g);
    n = make_net();
    p = gg_pruner_new(n.g, &c);
    GT_CHECK(gg_pruner_step(p, 3) && fabs(gg_pruner_sparsity(p) - 0.7) < 1e-9, "catch-up at step 3: step 2's 0.7");
    /* a resumed run: masks restored from a checkpoint taken at step 3 (after
     * the step-2 prune) must not be pruned further before step 4 */
    size_t nm = 0;
    float saved[16];
    const float *m = gg_pruner_masks(p, &nm);
    memcpy(saved, m, sizeof(float) * nm);
    gg_pruner_free(p);
    p = gg_pruner_new(n.g, &c);
    memcpy(gg_pruner_masks(p, NULL), saved, sizeof(float) * nm);
    gg_pruner_sync(p);
    GT_CHECK(!gg_pruner_step(p, 3) && fabs(gg_pruner_sparsity(p) - 0.7) < 1e-9, "resumed at step 3: nothing to catch up");
    GT_CHECK(gg_pruner_step(p, 4) && fabs(gg_pruner_sparsity(p) - 0.8) < 1e-9, "resumed: step 4 prunes to 0.8");
    gg_pruner_free(p);
    gg_graph_free(n.g);
}

static void test_bad_args(void)
{
    net n = make_net();
    gg_prune_config c = gg_prune_defaults();
    c.sparsity = 1;
    GT_CHECK(!gg_pruner_new(n.g, &c) && contains(gg_errmsg(), "sparsity 1 is outside [0, 1)"), "%s", gg_errmsg());
    c.sparsity = 0.5f;
    c.initial_sparsity = 0.6f;
    GT_CHECK(!gg_pruner_new(n.g, &c) && contains(gg_errmsg(), "initial_sparsity 0.6 is above"), "%s", gg_errmsg());
    c.initial_sparsity = 0;
    c.every = 0;
    GT_CHECK(!gg_pruner_new(n.g, &c) && contains(gg_errmsg(), "every 0 must be >= 1"), "%s", gg_errmsg());
    gg_graph_free(n.g);
}

/* The config section, through the trainer (a tiny adding task) */
static const char *base = "data: {format: adding, length: 8, train_size: 64, test_size: 16, test: generated}\n"
                          "model:\n  - {type: flatten}\n  - {type: dense, units: 4}\n  - {type: dense, units: 1}\n"
                          "loss: {name: mse}\ntrain: {epochs: 1, batch: 16, threads: 1}\n";

static gg_status try_cfg(const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", base, extra);
    gg_cfg *c = NULL;
    gg_status st = gg_cfg_parse(text, strlen(text), "p.yaml", &c);
    if (st) return st;
    gg_trainer *t = NULL;
    st = gg_trainer_new(c, NULL, &t);
    if (!st && !strstr(extra, "no-run")) st = gg_trainer_run(t);
    gg_trainer_free(t);
    gg_cfg_free(c);
    return st;
}

#define GT_CFG(extra, sub)                                                                                            \
    do {                                                                                                               \
        gg_status gt_st = try_cfg(extra);                                                                              \
        GT_CHECK(gt_st != GG_OK && contains(gg_errmsg(), sub), "'%s': status %d, message '%s', want '%s'", extra,      \
                 (int)gt_st, gg_errmsg(), sub);                                                                        \
    } while (0)

static void test_config(void)
{
    GT_OK(try_cfg("prune: {sparsity: 0.5, start: 1, end: 3, every: 1}\n"));
    GT_CFG("prune: {method: magnitude}\n", "p.yaml:8: prune needs 'sparsity'");
    GT_CFG("prune: {sparsity: 1.5}\n", "p.yaml:8: key 'prune.sparsity': expected a number in [0, 0.999], got '1.5'");
    GT_CFG("prune: {sparsity: 0.5, sparsty: 0.2}\n", "unknown key 'prune.sparsty'");
    GT_CFG("prune: {sparsity: 0.5, method: l3}\n", "key 'prune.method': expected one of");
    GT_CFG("prune: {sparsity: 0.5, scope: all}\n", "key 'prune.scope': expected one of");
    GT_CFG("prune: {sparsity: 0.5, start: 10, end: 5}\n", "p.yaml:8: prune.end 5 is before prune.start 10");
    GT_CFG("prune: {sparsity: 0.5, initial_sparsity: 0.6, end: 9}\n", "prune.initial_sparsity 0.6 is above prune.sparsity 0.5");
    GT_CFG("prune: {sparsity: 0.5, initial_sparsity: 0.1}\n", "prune.initial_sparsity needs a gradual schedule");
    GT_CFG("prune: {sparsity: 0.5, every: 0}\n", "key 'prune.every': expected an integer in [1,");
    GT_CFG("prune: 0.5\n", "p.yaml:8: 'prune' must be a map");
    GT_CFG("augment: {shift: 2}\n", "p.yaml:8: augment.shift needs image samples (C, H, W); the input is (8, 2)");
    {
        /* one weight tensor, kept whole: nothing left to prune */
        const char *one = "data: {format: adding, length: 8, train_size: 64, test_size: 16, test: generated}\n"
                          "model:\n  - {type: flatten}\n  - {type: dense, units: 1}\nloss: {name: mse}\n"
                          "prune: {sparsity: 0.5, keep_last: true}\n";
        gg_cfg *c = NULL;
        gg_trainer *t = NULL;
        GT_OK(gg_cfg_parse(one, strlen(one), "one.yaml", &c));
        GT_CHECK(gg_trainer_new(c, NULL, &t) == GG_E_CONFIG &&
                     contains(gg_errmsg(), "one.yaml:6: prune: the model has no prunable weights besides its last layer"),
                 "%s", gg_errmsg());
        gg_trainer_free(t);
        gg_cfg_free(c);
    }
    GT_CFG("augment: {flip: true}\n", "augment.flip needs image samples");
    GT_CFG("augment: {noise: -1}\n", "key 'augment.noise': expected a number in [0, 1000], got '-1'");
    GT_CFG("augment: {mixup: 0.2, cutout: 3}\n", "unknown key 'augment.cutout'");
    GT_CFG("augment: [noise]\n", "'augment' must be a map");
}

int main(void)
{
    test_schedule();
    test_global_vs_layer();
    test_order();
    test_structured();
    test_random();
    test_masks_hold();
    test_step();
    test_bad_args();
    test_config();
    return gt_done("test_prune");
}

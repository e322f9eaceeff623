/* The guard's quiet-failure side through its API: the gradient noise has the
 * scheduled variance, always on and as a remedy; dead and saturated units
 * are counted in the right layers; a stall at chance level is reported (and
 * stops the run as stalled when told), an improving run is not; dead units
 * appearing at chance level after a healthy start are a collapse that rolls
 * back; the initialisation check flags a mis-scaled deep stack and leaves a
 * He-initialised one untouched. */
#include "tinynet.h"

#include <math.h>

#define LN3 1.0986122886681098

/* x (16) -> fc1 32 relu -> fc2 8 tanh -> fc3 3 -> softmax cross-entropy; SGD 0.01 */
static void net_build(net *n, int batch)
{
    net_spec s = {16, 3, {32, 8, 3}, {GG_ACT_RELU, GG_ACT_TANH, GG_ACT_NONE}, 5, 11, 1, GG_OPT_SGD, 0.01f};
    net_make(n, batch, &s);
}

static void pass(net *n) { GT_OK(net_pass(n)); }

static float *param(net *n, const char *name)
{
    return gg_graph_data(n->g, gg_graph_find(n->g, name));
}

/* Only the quiet monitor: no clipping, no spike or blow-up detection. */
static gg_guard_config quiet_only(void)
{
    gg_guard_config c = gg_guard_defaults();
    c.clip = GG_CLIP_NONE;
    c.warmup = 1000000;
    c.trend_window = 0;
    c.loss_blowup = 0;
    c.monitor_every = 10;
    c.stall_window = 100;
    c.progress_window = 0;
    c.quiet_persist = 1;
    return c;
}

static double sample_var(const float *v, size_t n)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s += v[i], s2 += (double)v[i] * v[i];
    double m = s / (double)n;
    return s2 / (double)n - m * m;
}

static double grad_var(gg_graph *g)
{
    size_t n;
    const float *v = gg_graph_grads(g, &n);
    return sample_var(v, n);
}

/* A wider net, so the gradient arena is a large sample of the noise. */
static void test_noise(void)
{
    gg_graph *g = gg_graph_new(4);
    gg_node x = gg_input(g, "x", gg_shape1(64)), y = gg_input(g, "y", gg_shape1(1));
    gg_node z = gg_dense(g, x, "fc1", 64, GG_ACT_NONE, gg_init_default(GG_ACT_NONE), 1);
    gg_softmax_xent(g, z, y, 0);
    GT_OK(gg_graph_compile(g));
    GT_OK(gg_graph_init_params(g, 1));
    gg_optim_config oc = gg_optim_defaults(GG_OPT_SGD);
    gg_optim *o = gg_optim_new(g, &oc);
    gg_guard_config c = quiet_only();
    c.quiet = 0;
    c.noise_eta = 0.5f;
    c.noise_gamma = 0.55f;
    gg_guard *gd = gg_guard_new(g, o, &c);
    GT_CHECK(gd != NULL, "guard: %s", gg_errmsg());
    for (long t = 0; t < 3; t++) {
        gg_graph_zero_grad(g);
        gg_guard_check(gd, t, 0, 1.0);
        double want = 0.5 / pow(1.0 + (double)t, 0.55);
        double got = grad_var(g);
        /* 4160 samples: the variance estimate is within about 2% (1 sd) */
        GT_NEAR(got, want, 0.1, 0, "always-on noise at t=%ld: variance %g, want eta/(1+t)^gamma = %g", t, got, want);
    }
    gg_guard_free(gd);

    /* the noise response: nothing before the signal, then the remedy's eta
     * from t = 0 */
    c.noise_eta = 0;
    c.remedy_noise_eta = 0.2f;
    c.warmup = 5;
    c.loss_z = 3;
    c.on_loss_spike = GG_DO_NOISE;
    gd = gg_guard_new(g, o, &c);
    for (long t = 0; t < 10; t++) {
        gg_graph_zero_grad(g);
        gg_guard_check(gd, t, 0, 1.0);
        GT_CHECK(grad_var(g) == 0, "no noise before the signal (step %ld)", t);
    }
    gg_guard_clear_events(gd);
    gg_graph_zero_grad(g);
    gg_guard_decision d = gg_guard_check(gd, 10, 0, 50.0);
    GT_CHECK(d.verdict == GG_GUARD_PROCEED, "noise lets the step proceed");
    int ne;
    const gg_guard_event *ev = gg_guard_events(gd, &ne);
    GT_CHECK(ne == 1 && strcmp(ev[0].action, "noise") == 0, "the event says noise (%d events)", ne);
    GT_NEAR(grad_var(g), 0.2, 0.1, 0, "remedy noise starts at remedy_noise_eta");
    gg_graph_zero_grad(g);
    gg_guard_check(gd, 11, 0, 1.0);
    GT_NEAR(grad_var(g), 0.2 / pow(2, 0.55), 0.1, 0, "and anneals");
    gg_guard_free(gd);
    gg_optim_free(o);
    gg_graph_free(g);
}

/* fc1's bias far below zero: every ReLU of fc1 is zero for every sample;
 * fc2's weights x100: its tanh units sit at +-1. */
static void test_dead_saturated(void)
{
    net n;
    net_build(&n, 32);
    gg_guard_config c = quiet_only();
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    GT_CHECK(gd != NULL, "guard: %s", gg_errmsg());
    pass(&n);
    gg_guard_check(gd, 0, 0, 1.0);
    int nl;
    const gg_guard_layer *L = gg_guard_layers(gd, &nl);
    GT_CHECK(nl == 3 && strcmp(L[0].layer, "fc1") == 0 && strcmp(L[2].layer, "fc3") == 0, "three layers in order (%d)", nl);
    GT_CHECK(L[0].dead_fraction < 0.2, "He init: few dead units (%g)", L[0].dead_fraction);
    GT_CHECK(isnan(L[0].saturated_fraction) && isnan(L[1].dead_fraction) && isnan(L[2].dead_fraction),
             "dead applies to ReLU layers only, saturation to tanh only");
    GT_CHECK(count_signal(gd, "dead_units", NULL) == 0 && count_signal(gd, "saturation", NULL) == 0,
             "a healthy net raises neither");
    gg_guard_clear_events(gd);

    float *b1 = param(&n, "fc1.bias");
    for (int i = 0; i < 32; i++) b1[i] = i < 24 ? -100.0f : b1[i]; /* 24 of 32 dead: 75% */
    float *w2 = param(&n, "fc2.weight");
    for (int i = 0; i < 8 * 32; i++) w2[i] *= 100;
    pass(&n);
    gg_guard_check(gd, 10, 0, 1.0);
    L = gg_guard_layers(gd, &nl);
    /* units 24..31 alive for some sample of 32 gaussian inputs (He init);
     * check it rather than assume it */
    const float *h1 = gg_graph_data(n.g, gg_graph_find(n.g, "fc1/linear"));
    int alive = 0;
    for (int u = 24; u < 32; u++) {
        int any = 0;
        for (int r = 0; r < 32; r++) any |= h1[r * 32 + u] != 0;
        alive += any;
    }
    GT_NEAR(L[0].dead_fraction, (32.0 - alive) / 32.0, 0, 1e-12, "fc1: %d alive of 32", alive);
    GT_CHECK(alive >= 6, "the untouched units fire");
    const float *h2 = gg_graph_data(n.g, gg_graph_find(n.g, "fc2/linear"));
    int sat = 0;
    double hi = tanh(3.0);
    for (int u = 0; u < 8; u++) {
        int k = 0;
        for (int r = 0; r < 32; r++) k += fabs(h2[r * 8 + u]) >= hi;
        sat += k >= 0.9 * 32;
    }
    GT_NEAR(L[1].saturated_fraction, sat / 8.0, 0, 1e-12, "fc2: %d of 8 saturated (hand count)", sat);
    GT_CHECK(sat >= 6, "x100 weights saturate most tanh units (%d)", sat);
    const char *det = NULL;
    GT_CHECK(count_signal(gd, "dead_units", &det) == 1 && strstr(det, "fc1"), "dead units named in fc1: %s", det ? det : "");
    GT_CHECK(count_signal(gd, "saturation", &det) == 1 && strstr(det, "fc2"), "saturation named in fc2: %s", det ? det : "");
    /* both made since the first pass: the rate's doing, answered by
     * on_dead / on_saturation (rollback; no snapshot here, so a stop) */
    int ne;
    const gg_guard_event *ev = gg_guard_events(gd, &ne);
    for (int i = 0; i < ne; i++)
        if (!strcmp(ev[i].signal, "saturation") || !strcmp(ev[i].signal, "dead_units"))
            GT_CHECK(!strcmp(ev[i].action, "stop") && strstr(ev[i].detail, "in training"),
                     "%s made in training is acted on: %s (%s)", ev[i].signal, ev[i].action, ev[i].detail);
    /* rate limit: the same signals the next pass are not repeated */
    gg_guard_clear_events(gd);
    pass(&n);
    gg_guard_check(gd, 20, 0, 1.0);
    GT_CHECK(count_signal(gd, "dead_units", NULL) == 0, "not repeated within report_every");
    gg_guard_free(gd);
    net_free(&n);
}

/* A batch of 4 is too few samples to call a unit dead or saturated (a
 * healthy ReLU unit is zero for a given sample about half the time): the
 * monitor gathers the steps between its passes until it has
 * GG_GUARD_ACT_SAMPLES of them, and the core judges no share over fewer. */
static void test_small_batch(void)
{
    net n;
    net_build(&n, 4);
    gg_guard_config c = quiet_only();
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    GT_CHECK(gd != NULL, "guard: %s", gg_errmsg());
    float *b1 = param(&n, "fc1.bias");
    for (int i = 0; i < 24; i++) b1[i] = -100.0f; /* 24 of 32 dead */
    float *w2 = param(&n, "fc2.weight");
    for (int i = 0; i < 8 * 32; i++) w2[i] *= 100;
    pass(&n);
    gg_guard_check(gd, 0, 0, 1.0);
    int nl;
    const gg_guard_layer *L = gg_guard_layers(gd, &nl);
    GT_CHECK(L[0].act_samples == 4 && L[1].act_samples == 4, "the first pass saw 4 samples (%ld)", L[0].act_samples);
    GT_CHECK(count_signal(gd, "dead_units", NULL) == 0 && count_signal(gd, "saturation", NULL) == 0,
             "4 samples: neither share is judged");
    for (long step = 1; step <= 10; step++) {
        pass(&n);
        gg_guard_check(gd, step, 0, 1.0);
    }
    L = gg_guard_layers(gd, &nl);
    GT_CHECK(L[0].act_samples == 44, "the pass at step 10 judges the 44 samples of steps 0-10 (%ld)", L[0].act_samples);
    GT_CHECK(L[0].dead_fraction >= 0.75 && L[0].dead_fraction < 0.9, "fc1: the 24 killed units dead (%g)",
             L[0].dead_fraction);
    GT_CHECK(count_signal(gd, "dead_units", NULL) == 1 && count_signal(gd, "saturation", NULL) == 1,
             "then both are reported");
    /* there from the first judged pass on: the init check's, a warning */
    int ne;
    const gg_guard_event *ev = gg_guard_events(gd, &ne);
    for (int i = 0; i < ne; i++)
        GT_CHECK(!strcmp(ev[i].action, "warn"), "%s there from the start: a warning (%s)", ev[i].signal, ev[i].action);
    for (long step = 11; step <= 20; step++) {
        pass(&n);
        gg_guard_check(gd, step, 0, 1.0);
    }
    GT_CHECK(gg_guard_layers(gd, &nl)[0].act_samples == 40, "a judged tally starts again (%ld)",
             gg_guard_layers(gd, &nl)[0].act_samples);
    gg_guard_free(gd);
    net_free(&n);
}

/* Units killed in training roll back; a restored state that was at the
 * edge already (two thirds of fc1 dead) is the new baseline, and the same
 * units dead again on its replay are a warning, not another rollback. */
static void test_made_baseline(void)
{
    net n;
    net_build(&n, 32);
    gg_guard_config c = quiet_only();
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    gg_train_pos pos = {0, 0, 0, {0}};
    gg_guard_snapshot(gd, &pos);
    float *b1 = param(&n, "fc1.bias");
    pass(&n);
    gg_guard_check(gd, 0, 0, 1.0);
    for (int i = 0; i < 28; i++) b1[i] = -100.0f;
    pass(&n);
    GT_CHECK(gg_guard_check(gd, 10, 0, 1.0).verdict == GG_GUARD_ROLLBACK, "28 of 32 killed since the first pass: rollback");
    gg_train_pos back = pos;
    back.step = 10;
    GT_OK(gg_guard_rollback(gd, &back));
    for (int i = 0; i < 32; i++) b1[i] = i < 21 ? -100.0f : 0.0f; /* the restored state: 21 of 32 dead */
    pass(&n);
    gg_guard_check(gd, 0, 0, 1.0);
    gg_guard_clear_events(gd);
    for (int i = 0; i < 28; i++) b1[i] = -100.0f;
    pass(&n);
    gg_guard_decision d = gg_guard_check(gd, 10, 0, 1.0);
    const char *det = NULL;
    GT_CHECK(d.verdict == GG_GUARD_PROCEED && count_signal(gd, "dead_units", &det) == 1,
             "the replay of a state at the edge: a warning (verdict %d): %s", d.verdict, det ? det : "");
    gg_guard_free(gd);
    net_free(&n);
}

/* A loss at ln 3 for the whole stall window is a stall; with on_stall:
 * stop, the run stops as stalled. A falling loss is never one. */
static void test_stall(void)
{
    net n;
    net_build(&n, 32);
    gg_guard_config c = quiet_only();
    c.on_stall = GG_DO_STOP;
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    gg_guard_set_chance(gd, LN3);
    pass(&n);
    long stopped = -1;
    int stalled = 0;
    for (long t = 0; t <= 300 && stopped < 0; t++) {
        gg_guard_decision d = gg_guard_check(gd, t, 0, LN3 + 0.01 * ((t * 7) % 3 - 1));
        if (d.verdict == GG_GUARD_STOP) stopped = t, stalled = d.stalled;
        if (stopped < 0) gg_guard_clear_events(gd);
    }
    /* passes every 10 steps; the window's 11 passes are all in once the EMA
     * has settled, so at step 100 or soon after */
    GT_CHECK(stopped >= 100 && stopped <= 150, "stall at chance level stops at step %ld", stopped);
    GT_CHECK(stalled, "with status stalled, not diverged");
    const char *det = NULL;
    GT_CHECK(count_signal(gd, "stall", &det) == 1 && strstr(det, "chance level"), "the event: %s", det ? det : "");
    GT_CHECK(gg_guard_counts(gd)->stalls == 1, "counted");
    gg_guard_free(gd);

    gd = gg_guard_new(n.g, n.o, &c);
    gg_guard_set_chance(gd, LN3);
    for (long t = 0; t <= 400; t++) {
        double loss = LN3 * exp(-t / 100.0) + 0.05 * ((t * 7) % 3 - 1); /* falling, noisy */
        gg_guard_decision d = gg_guard_check(gd, t, 0, loss);
        GT_CHECK(d.verdict == GG_GUARD_PROCEED, "an improving run proceeds (step %ld)", t);
    }
    GT_CHECK(gg_guard_counts(gd)->stalls == 0, "and raises no stall");
    gg_guard_free(gd);
    net_free(&n);
}

/* Healthy at step 0, then fc1 dies and the loss sits at chance: collapse,
 * rolled back by the default response (with the dead-unit and vanished-
 * profile responses off: by default they answer first, below). */
static void test_collapse(void)
{
    net n;
    net_build(&n, 32);
    gg_guard_config c = quiet_only();
    c.on_dead = GG_DO_NOTHING;
    c.on_vanished = GG_DO_NOTHING;
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    gg_guard_set_chance(gd, LN3);
    gg_train_pos pos = {0, 0, 0, {0}};
    gg_guard_snapshot(gd, &pos);
    pass(&n);
    gg_guard_check(gd, 0, 0, LN3);
    float *b1 = param(&n, "fc1.bias");
    for (int i = 0; i < 32; i++) b1[i] = -100.0f;
    pass(&n);
    long rolled = -1;
    for (long t = 1; t <= 300 && rolled < 0; t++) {
        gg_guard_decision d = gg_guard_check(gd, t, 0, LN3);
        if (d.verdict == GG_GUARD_ROLLBACK) rolled = t;
        else gg_guard_clear_events(gd);
    }
    GT_CHECK(rolled >= 100 && rolled <= 150, "collapse detected at step %ld", rolled);
    const char *det = NULL;
    GT_CHECK(count_signal(gd, "collapse", &det) == 1 && strstr(det, "dead units"), "the event: %s", det ? det : "");
    GT_CHECK(count_signal(gd, "stall", NULL) == 0, "a collapse, not a plain stall");
    gg_guard_free(gd);
    /* with on_vanished (the default): fc1's gradient, alive at the first
     * pass, is zero from the second: a profile training made vanish, rolled
     * back at once; on_vanishing (a profile vanished from the start) would
     * only warn */
    c.on_vanished = GG_DO_ROLLBACK;
    gd = gg_guard_new(n.g, n.o, &c);
    gg_guard_snapshot(gd, &pos);
    for (int i = 0; i < 32; i++) b1[i] = 0;
    pass(&n);
    gg_guard_check(gd, 0, 0, LN3);
    for (int i = 0; i < 32; i++) b1[i] = -100.0f;
    pass(&n);
    rolled = -1;
    for (long t = 1; t <= 300 && rolled < 0; t++)
        if (gg_guard_check(gd, t, 0, LN3).verdict == GG_GUARD_ROLLBACK) rolled = t;
    GT_CHECK(rolled == 10 && count_signal(gd, "vanishing_gradient", &det) == 1 && strstr(det, "in training"),
             "a profile vanished in training: rolled back at the second pass (step %ld): %s", rolled, det ? det : "");
    gg_guard_free(gd);
    /* the default: units alive at the first pass and dead for quiet_persist
     * passes after were killed in training: rolled back as soon as that is
     * established (quiet_persist 1: the second pass, step 10), long before
     * the loss's stall window */
    c = quiet_only();
    gd = gg_guard_new(n.g, n.o, &c);
    gg_guard_set_chance(gd, LN3);
    gg_guard_snapshot(gd, &pos);
    for (int i = 0; i < 32; i++) b1[i] = 0.1f;
    pass(&n);
    gg_guard_check(gd, 0, 0, LN3);
    for (int i = 0; i < 32; i++) b1[i] = -100.0f;
    pass(&n);
    rolled = -1;
    for (long t = 1; t <= 300 && rolled < 0; t++) {
        gg_guard_decision d = gg_guard_check(gd, t, 0, LN3);
        if (d.verdict == GG_GUARD_ROLLBACK) rolled = t;
        else gg_guard_clear_events(gd);
    }
    GT_CHECK(rolled == 10, "units killed in training: rolled back at step %ld", rolled);
    GT_CHECK(count_signal(gd, "dead_units", &det) == 1 && strstr(det, "killed in training"), "the event: %s",
             det ? det : "");
    gg_guard_free(gd);
    /* units dead from the first pass are the init check's (or a stall's),
     * not a rate's: warned, not rolled back */
    gd = gg_guard_new(n.g, n.o, &c);
    gg_guard_snapshot(gd, &pos);
    rolled = -1;
    for (long t = 0; t <= 60 && rolled < 0; t++) {
        gg_guard_decision d = gg_guard_check(gd, t, 0, 0.5);
        if (d.verdict == GG_GUARD_ROLLBACK) rolled = t;
    }
    GT_CHECK(rolled < 0 && count_signal(gd, "dead_units", NULL) >= 1, "dead from the start: a warning only (rolled %ld)",
             rolled);
    gg_guard_free(gd);
    net_free(&n);
}

/* The initialisation check: 6 ReLU layers at He x 0.5 shrink 2x per
 * layer (poor, rescaled to RMS 1); at He they keep their scale (left
 * untouched, bit for bit). */
static void check_init_act(gg_act act, float gain, int *poor, int *fixed, double *last_rms, int *untouched,
                           gg_init_report *out)
{
    gg_graph *g = gg_graph_new(64);
    gg_node x = gg_input(g, "x", gg_shape1(64));
    gg_node h = x;
    char name[16];
    gg_init init = {act == GG_ACT_RELU ? GG_INIT_HE_NORMAL : GG_INIT_XAVIER_NORMAL, gain, 0};
    for (int l = 0; l < 6; l++) {
        snprintf(name, sizeof name, "fc%d", l + 1);
        h = gg_dense(g, h, name, 64, act, init, 1);
    }
    GT_OK(gg_graph_compile(g));
    GT_OK(gg_graph_init_params(g, 3));
    gg_rng r;
    gg_rng_seed(&r, 4);
    float *xv = gg_graph_data(g, x);
    for (int i = 0; i < 64 * 64; i++) xv[i] = (float)gg_rng_normal(&r);
    size_t np;
    float *p = gg_graph_params(g, &np);
    float before[6 * (64 * 64 + 64)];
    GT_CHECK(np == sizeof before / sizeof before[0], "parameter count");
    memcpy(before, p, sizeof before);
    static gg_init_report rep;
    GT_OK(gg_init_check(g, 1, &rep));
    *poor = rep.poor;
    *fixed = rep.fixed;
    *last_rms = rep.fixed ? rep.rms_fixed[rep.n - 1] : rep.rms[rep.n - 1];
    *untouched = memcmp(before, p, sizeof before) == 0;
    GT_CHECK(rep.n == 6, "six weighted layers (%d)", rep.n);
    if (out) *out = rep;
    gg_graph_free(g);
}

static void check_init(float gain, int *poor, int *fixed, double *last_rms, int *untouched)
{
    check_init_act(GG_ACT_RELU, gain, poor, fixed, last_rms, untouched, NULL);
}

/* A ReLU net whose biases start at -3 (a shifted bias): every unit of the
 * first layer is zero for the whole batch, and no scale or growth shows it.
 * The check calls it dead (at any depth: two layers here) and the fix
 * brings the units back; with biases at 0 the same net is left alone. */
static void check_dead_init(float bias, int *poor_dead, int *fixed, double *dead_after)
{
    gg_graph *g = gg_graph_new(64);
    gg_node x = gg_input(g, "x", gg_shape1(32));
    gg_init he = {GG_INIT_HE_NORMAL, 1, 0};
    gg_node h = gg_dense(g, x, "fc1", 64, GG_ACT_RELU, he, 1);
    gg_dense(g, h, "fc2", 10, GG_ACT_NONE, he, 1);
    GT_OK(gg_graph_compile(g));
    GT_OK(gg_graph_init_params(g, 3));
    gg_param_info pi;
    for (int i = 0; i < gg_graph_num_params(g); i++) {
        gg_graph_param(g, i, &pi);
        if (strcmp(pi.name, "fc1.bias") == 0) {
            size_t np;
            float *b = gg_graph_params(g, &np) + pi.offset;
            for (size_t k = 0; k < pi.numel; k++) b[k] = bias;
        }
    }
    gg_rng r;
    gg_rng_seed(&r, 4);
    float *xv = gg_graph_data(g, x);
    for (int i = 0; i < 64 * 32; i++) xv[i] = (float)(0.3 * gg_rng_normal(&r));
    static gg_init_report rep;
    GT_OK(gg_init_check(g, 1, &rep));
    *poor_dead = rep.poor_dead;
    *fixed = rep.fixed;
    *dead_after = rep.fixed ? rep.dead_share_fixed[0] : rep.dead_share[0];
    gg_graph_free(g);
}

static void test_init_check(void)
{
    int pd, fx;
    double da;
    check_dead_init(-3.0f, &pd, &fx, &da);
    GT_CHECK(pd && fx && da < 0.5, "biases at -3: dead units found and revived (%d, %d, %.2f dead after)", pd, fx, da);
    check_dead_init(0.0f, &pd, &fx, &da);
    GT_CHECK(!pd && !fx, "biases at 0: no dead layer, untouched (%.2f dead)", da);

    int poor, fixed, untouched;
    double last;
    check_init(0.5f, &poor, &fixed, &last, &untouched);
    GT_CHECK(poor && fixed && !untouched, "He x 0.5 is poor and rescaled");
    GT_NEAR(last, 1.0, 0.05, 0, "the last layer's output RMS is 1 after the fix (%g)", last);
    check_init(1.0f, &poor, &fixed, &last, &untouched);
    GT_CHECK(!poor && !fixed && untouched, "He is fine and left untouched");
    /* tanh at Xavier x 3: the outputs stay bounded (no growth to see) but
     * the pre-activations sit far outside the linear range: saturated,
     * rescaled to pre-activation RMS 1; at Xavier x 1, untouched */
    static gg_init_report rep;
    check_init_act(GG_ACT_TANH, 3.0f, &poor, &fixed, &last, &untouched, &rep);
    GT_CHECK(poor && rep.poor_saturated && !rep.poor_growth && fixed && !untouched,
             "tanh at Xavier x 3 is saturated (%d of %d layers; growth %.3g) and rescaled", rep.saturated,
             rep.squashing, rep.growth);
    GT_NEAR(last, 1.0, 0.05, 0, "the last layer's pre-activation RMS is 1 after the fix (%g)", last);
    check_init_act(GG_ACT_TANH, 1.0f, &poor, &fixed, &last, &untouched, &rep);
    GT_CHECK(!poor && rep.saturated == 0 && untouched, "tanh at Xavier is fine and left untouched (%d saturated)",
             rep.saturated);
    check_init_act(GG_ACT_SIGMOID, 10.0f, &poor, &fixed, &last, &untouched, &rep);
    GT_CHECK(poor && rep.poor_saturated && fixed, "sigmoid at Xavier x 10 is saturated (%d of %d)", rep.saturated,
             rep.squashing);
}

int main(void)
{
    test_noise();
    test_dead_saturated();
    test_small_batch();
    test_made_baseline();
    test_stall();
    test_collapse();
    test_init_check();
    return gt_done("test_quiet");
}

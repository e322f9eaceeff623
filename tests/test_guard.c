/* The guard stage: each clipping method against a hand-computed case; a
 * gradient spike injected at step k moves the parameters by no more than
 * the clip allows; non-finite values injected in a named layer's forward
 * and backward are traced to that layer and op; rollback restores the exact
 * state, the guard's history included (the snapshot's, not the failed
 * branch's); a guard restored field by field decides as the original; the
 * rollback budget ends in a stop with the reason. */
#include "tinynet.h"

#include <math.h>
#include <string.h>

/* x (4) -> fc1 5 tanh -> fc2 3 -> softmax cross-entropy; SGD 0.1, or opt */
static void net_build_opt(net *n, int batch, gg_optim_kind opt)
{
    net_spec s = {4, 2, {5, 3}, {GG_ACT_TANH, GG_ACT_NONE}, 3, 9, 0, opt, opt == GG_OPT_SGD ? 0.1f : 0};
    net_make(n, batch, &s);
}

static void net_build(net *n, int batch) { net_build_opt(n, batch, GG_OPT_SGD); }

static double backward(net *n)
{
    net_pass(n); /* some tests inject faults: the status is theirs to read */
    return gg_graph_scalar(n->g, n->loss);
}

/* A config that only clips: no spikes, no trends. */
static gg_guard_config clip_only(gg_clip_kind k)
{
    gg_guard_config c = gg_guard_defaults();
    c.clip = k;
    c.warmup = 0;
    c.spike_z = 1e6f;
    c.loss_z = 1e6f;
    c.trend_window = 0;
    return c;
}

static double norm_of(const float *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

static void set_grads(net *n, float v)
{
    size_t k;
    float *gr = gg_graph_grads(n->g, &k);
    for (size_t i = 0; i < k; i++) gr[i] = (i % 2 ? -v : v) * (float)(1 + i % 3);
}

/* The core's events named `signal` since the last clear, counted; the
 * events are cleared. */
static int take_signal(gg_guard_core *core, const char *signal)
{
    int n, found = 0;
    const gg_guard_event *e = gg_guard_core_events(core, &n);
    for (int i = 0; i < n; i++) found += strcmp(e[i].signal, signal) == 0;
    gg_guard_core_clear_events(core);
    return found;
}

static void test_clip_value_norm_tensor(void)
{
    net n;
    net_build(&n, 6);
    size_t k;
    float *gr = gg_graph_grads(n.g, &k);
    /* value: every element into [-0.5, 0.5] */
    gg_guard_config c = clip_only(GG_CLIP_VALUE);
    c.clip_value = 0.5f;
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    set_grads(&n, 0.4f); /* elements 0.4, -0.8, 1.2, ... */
    gg_guard_decision d = gg_guard_check(gd, 0, 0, 1.0);
    GT_CHECK(d.verdict == GG_GUARD_PROCEED && d.clipped, "value clip acted");
    GT_NEAR(gr[0], 0.4, 1e-7, 0, "0.4 stays");
    GT_NEAR(gr[1], -0.5, 0, 0, "-0.8 becomes -0.5");
    GT_NEAR(gr[2], 0.5, 0, 0, "1.2 becomes 0.5");
    gg_guard_free(gd);

    /* global norm: scaled by max_norm / (norm + 1e-6), as PyTorch */
    c = clip_only(GG_CLIP_NORM);
    c.max_norm = 1;
    gd = gg_guard_new(n.g, n.o, &c);
    set_grads(&n, 0.4f);
    float g1 = gr[1];
    double before = norm_of(gr, k);
    gg_guard_check(gd, 0, 0, 1.0);
    GT_NEAR(gr[1], g1 * (1.0 / (before + 1e-6)), 1e-6, 0, "element scaled by the coefficient");
    GT_NEAR(norm_of(gr, k), 1.0, 1e-5, 0, "norm clipped to 1");
    GT_NEAR(gg_guard_last(gd)->grad_norm, before, 1e-6, 0, "reported norm is the unclipped one");
    /* under the bound: untouched */
    set_grads(&n, 0.001f);
    g1 = gr[1];
    gg_guard_decision d2 = gg_guard_check(gd, 1, 0, 1.0);
    GT_CHECK(!d2.clipped && gr[1] == g1, "a small gradient is not clipped");
    gg_guard_free(gd);

    /* per tensor: each tensor's norm to at most max_norm */
    c = clip_only(GG_CLIP_TENSOR);
    c.max_norm = 0.3f;
    gd = gg_guard_new(n.g, n.o, &c);
    set_grads(&n, 0.4f);
    gg_guard_check(gd, 0, 0, 1.0);
    for (int i = 0; i < gg_graph_num_params(n.g); i++) {
        gg_param_info pi;
        gg_graph_param(n.g, i, &pi);
        GT_NEAR(norm_of(gr + pi.offset, pi.numel), 0.3, 1e-5, 0, "tensor %s at 0.3", pi.name);
    }
    gg_guard_free(gd);
    net_free(&n);
}

static void test_clip_agc(void)
{
    net n;
    net_build(&n, 6);
    size_t k;
    float *gr = gg_graph_grads(n.g, &k), *p = gg_graph_params(n.g, &k);
    gg_guard_config c = clip_only(GG_CLIP_AGC);
    c.agc_lambda = 0.1f;
    c.agc_eps = 1e-3f;
    c.agc_exclude_last = 1;
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    set_grads(&n, 0.4f);
    gg_param_info w1, w2;
    gg_graph_param(n.g, 0, &w1); /* fc1.weight (5, 4) */
    gg_graph_param(n.g, 2, &w2); /* fc2.weight: the final layer, excluded */
    float last_before = gr[w2.offset];
    /* expected: row r of fc1.weight scaled to 0.1 * ||w_r|| when above it */
    double want[5];
    for (int r = 0; r < 5; r++) {
        double gs = 0, ws = 0;
        for (int j = 0; j < 4; j++) {
            gs += (double)gr[w1.offset + r * 4 + j] * gr[w1.offset + r * 4 + j];
            ws += (double)p[w1.offset + r * 4 + j] * p[w1.offset + r * 4 + j];
        }
        double mx = 0.1 * (sqrt(ws) > 1e-3 ? sqrt(ws) : 1e-3);
        want[r] = sqrt(gs) > mx ? mx : sqrt(gs);
    }
    gg_guard_check(gd, 0, 0, 1.0);
    for (int r = 0; r < 5; r++) GT_NEAR(norm_of(gr + w1.offset + r * 4, 4), want[r], 1e-5, 1e-9, "AGC row %d", r);
    GT_CHECK(gr[w2.offset] == last_before, "the final layer is left out");
    gg_guard_free(gd);
    net_free(&n);
}

static void test_clip_percentile_zscore(void)
{
    net n;
    net_build(&n, 6);
    size_t k;
    float *gr = gg_graph_grads(n.g, &k);
    gg_guard_config c = clip_only(GG_CLIP_PERCENTILE);
    c.percentile = 50;
    c.history = 100;
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    /* norms 1..9 recorded; the 10th step (norm 20) is clipped to the median
     * of what came before it: 5 */
    for (int s = 1; s <= 9; s++) {
        set_grads(&n, 1);
        double nn = norm_of(gr, k);
        for (size_t i = 0; i < k; i++) gr[i] *= (float)(s / nn);
        gg_guard_check(gd, s, 0, 1.0);
    }
    set_grads(&n, 1);
    double nn = norm_of(gr, k);
    for (size_t i = 0; i < k; i++) gr[i] *= (float)(20 / nn);
    gg_guard_check(gd, 10, 0, 1.0);
    GT_NEAR(gg_guard_last(gd)->clip_threshold, 5, 0, 1e-6, "median of 1..9");
    GT_NEAR(norm_of(gr, k), 5, 1e-5, 0, "clipped to the percentile");
    gg_guard_free(gd);

    /* z-score: after a steady history of norm 2 with a small wobble, a norm
     * of 50 is cut to mean + z std */
    c = clip_only(GG_CLIP_ZSCORE);
    c.clip_z = 2;
    c.ema_alpha = 0.1f;
    c.warmup = 5;
    gd = gg_guard_new(n.g, n.o, &c);
    double mean = 0, var = 0;
    for (int s = 0; s < 40; s++) {
        double target = 2 + 0.1 * (s % 2 ? 1 : -1);
        set_grads(&n, 1);
        nn = norm_of(gr, k);
        for (size_t i = 0; i < k; i++) gr[i] *= (float)(target / nn);
        double got = norm_of(gr, k);
        gg_guard_check(gd, s, 0, 1.0);
        /* the same EMA, computed here: after the warm-up it follows the
         * clipped value */
        if (s >= 5 && got > mean + 2 * sqrt(var)) got = mean + 2 * sqrt(var);
        if (s == 0) {
            mean = got;
            var = 0;
        } else {
            double dd = got - mean, inc = 0.1 * dd;
            mean += inc;
            var = 0.9 * (var + dd * inc);
        }
    }
    set_grads(&n, 1);
    nn = norm_of(gr, k);
    for (size_t i = 0; i < k; i++) gr[i] *= (float)(50 / nn);
    gg_guard_check(gd, 40, 0, 1.0);
    double th = mean + 2 * sqrt(var);
    GT_NEAR(gg_guard_last(gd)->clip_threshold, th, 1e-5, 0, "threshold mean + z std");
    GT_NEAR(norm_of(gr, k), th, 1e-4, 0, "a norm of 50 cut to the threshold");
    gg_guard_free(gd);
    net_free(&n);
}

/* A spike (gradient x100) at step k under the default policy moves the
 * parameters by at most lr * the threshold the guard reports. */
static void test_spike(void)
{
    net n;
    net_build(&n, 8);
    gg_guard_config c = gg_guard_defaults();
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    size_t np;
    float *p = gg_graph_params(n.g, &np), *gr;
    float *before = malloc(np * sizeof *before);
    int k = 60;
    double typical = 0;
    for (int s = 0; s <= k; s++) {
        backward(&n);
        gr = gg_graph_grads(n.g, &np);
        if (s == k - 1) typical = norm_of(gr, np);
        if (s == k)
            for (size_t i = 0; i < np; i++) gr[i] *= 100;
        double raw = norm_of(gr, np);
        gg_guard_decision d = gg_guard_check(gd, s, 0, gg_graph_scalar(n.g, n.loss));
        memcpy(before, p, np * sizeof *p);
        if (d.verdict == GG_GUARD_PROCEED) gg_optim_step(n.o, 0.1f * d.lr_scale);
        if (s == k) {
            double moved = 0;
            for (size_t i = 0; i < np; i++) moved += (double)(p[i] - before[i]) * (p[i] - before[i]);
            moved = sqrt(moved);
            const gg_guard_stats *st = gg_guard_last(gd);
            GT_CHECK(raw > 50 * typical, "the spike is there (%g vs %g)", raw, typical);
            GT_CHECK(st->z_grad > c.spike_z, "detected as a spike (z %g)", st->z_grad);
            GT_CHECK(moved <= 0.1 * st->grad_norm_clipped * 1.0001, "moved %g <= lr * clipped norm %g", moved,
                     0.1 * st->grad_norm_clipped);
            GT_CHECK(st->grad_norm_clipped < 5 * typical, "clipped to the run's scale (%g, typical %g)",
                     st->grad_norm_clipped, typical);
            int ne;
            const gg_guard_event *ev = gg_guard_events(gd, &ne);
            int found = 0;
            for (int i = 0; i < ne; i++) found |= strcmp(ev[i].signal, "grad_spike") == 0 && ev[i].step == k;
            GT_CHECK(found, "a grad_spike event at step %d", k);
            if (ne) GT_CHECK(strstr(ev[ne - 1].detail, "fc") != NULL, "the event names layers: %s", ev[ne - 1].detail);
        }
        gg_guard_clear_events(gd);
    }
    free(before);
    gg_guard_free(gd);
    net_free(&n);
}

/* The loss blow-up needs the loss above loss_blowup x its running level and
 * above loss_blowup_floor x the first loss: a run whose loss has fallen from
 * 2 to 0.004 meets a batch at 0.05 (12x its level, ordinary noise there)
 * without a blow-up, and one at 3 with one. */
static void test_blowup_floor(void)
{
    net n;
    net_build(&n, 8);
    gg_guard_config c = gg_guard_defaults();
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    long s = 0;
    backward(&n);
    gg_guard_check(gd, s++, 0, 2.0);
    for (; s < 400; s++) {
        backward(&n);
        gg_guard_check(gd, s, 0, 0.004);
    }
    GT_CHECK(count_signal(gd, "loss_blowup", NULL) == 0, "no blow-up on the way down");
    backward(&n);
    gg_guard_decision d = gg_guard_check(gd, s++, 0, 0.05);
    GT_CHECK(count_signal(gd, "loss_blowup", NULL) == 0 && d.verdict != GG_GUARD_ROLLBACK,
             "0.05 after 0.004 (first loss 2) is no blow-up (verdict %d)", d.verdict);
    backward(&n);
    d = gg_guard_check(gd, s++, 0, 3.0);
    /* (no step was committed, so there is no snapshot: the answer is stop) */
    GT_CHECK(count_signal(gd, "loss_blowup", NULL) == 1 && d.verdict != GG_GUARD_PROCEED,
             "3 after 0.004 is a blow-up, acted on (verdict %d)", d.verdict);
    gg_guard_free(gd);
    /* without the floor, the noise is a blow-up, as before it existed */
    c.loss_blowup_floor = 0;
    gd = gg_guard_new(n.g, n.o, &c);
    for (s = 0; s < 400; s++) {
        backward(&n);
        gg_guard_check(gd, s, 0, s ? 0.004 : 2.0);
    }
    backward(&n);
    gg_guard_check(gd, s, 0, 0.05);
    GT_CHECK(count_signal(gd, "loss_blowup", NULL) == 1, "floor 0: 0.05 after 0.004 is a blow-up");
    gg_guard_free(gd);
    /* batch-1 noise: log(loss) with a standard deviation of 1.2 around
     * log 0.3; a sample at 12x the level is inside that noise (2 sd), one
     * at 1000x is not */
    c = gg_guard_defaults();
    gd = gg_guard_new(n.g, n.o, &c);
    gg_rng r;
    gg_rng_seed(&r, 5);
    for (s = 0; s < 400; s++) {
        backward(&n);
        gg_guard_check(gd, s, 0, s ? 0.3 * exp(1.2 * gg_rng_normal(&r)) : 1.1);
    }
    int before = count_signal(gd, "loss_blowup", NULL);
    backward(&n);
    gg_guard_check(gd, s++, 0, 0.3 * exp(2.5));
    GT_CHECK(count_signal(gd, "loss_blowup", NULL) == before, "12x inside the run's own noise is no blow-up");
    backward(&n);
    gg_guard_check(gd, s++, 0, 300.0);
    GT_CHECK(count_signal(gd, "loss_blowup", NULL) == before + 1, "1000x is a blow-up whatever the noise");
    c.loss_blowup_z = 0;
    gg_guard_free(gd);
    gd = gg_guard_new(n.g, n.o, &c);
    gg_rng_seed(&r, 5);
    for (s = 0; s < 400; s++) {
        backward(&n);
        gg_guard_check(gd, s, 0, s ? 0.3 * exp(1.2 * gg_rng_normal(&r)) : 1.1);
    }
    before = count_signal(gd, "loss_blowup", NULL);
    backward(&n);
    gg_guard_check(gd, s, 0, 0.3 * exp(2.5));
    GT_CHECK(count_signal(gd, "loss_blowup", NULL) == before + 1, "loss_blowup_z 0: 12x is a blow-up, as before");
    gg_guard_free(gd);
    net_free(&n);
}

/* reset_moments: a skipped spike forgets the optimizer moments of the
 * tensors that held it and leaves the others' untouched. */
static void test_reset_moments(void)
{
    net n;
    net_build_opt(&n, 8, GG_OPT_ADAM);
    gg_guard_config c = gg_guard_defaults();
    c.on_spike = GG_DO_SKIP;
    c.reset_moments = 1;
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    int np = gg_graph_num_params(n.g);
    gg_param_info p0;
    GT_OK(gg_graph_param(n.g, 0, &p0));
    size_t ng, ns;
    for (int s = 0; s < 40; s++) {
        backward(&n);
        GT_CHECK(gg_guard_check(gd, s, 0, gg_graph_scalar(n.g, n.loss)).verdict == GG_GUARD_PROCEED, "step %d", s);
        gg_optim_step(n.o, 1e-2f);
    }
    float *os = gg_optim_state(n.o, &ns);
    float *before = malloc(ns * sizeof *before);
    memcpy(before, os, ns * sizeof *os);
    /* a spike in fc1.weight alone (tensor 0): 1000x its gradient */
    backward(&n);
    float *gr = gg_graph_grads(n.g, &ng);
    for (size_t k = p0.offset; k < p0.offset + p0.numel; k++) gr[k] *= 1000;
    gg_guard_decision d = gg_guard_check(gd, 40, 0, gg_graph_scalar(n.g, n.loss));
    GT_CHECK(d.verdict == GG_GUARD_SKIP, "the spike is skipped (verdict %d)", (int)d.verdict);
    /* each tensor's block of the state arena (Adam: m, v and its step count) */
    int zeroed = 1, kept = 1;
    for (int i = 0; i < np; i++) {
        size_t off, cnt;
        GT_OK(gg_optim_state_view(n.o, i, &off, &cnt));
        GT_CHECK(cnt >= 2 * (i == 0 ? p0.numel : 1), "tensor %d has a state block (%zu floats)", i, cnt);
        for (size_t k = off; k < off + cnt && k < ns; k++) {
            if (i == 0) zeroed &= os[k] == 0;
            else kept &= os[k] == before[k];
        }
    }
    GT_CHECK(zeroed, "fc1.weight's moments were reset");
    GT_CHECK(kept, "the other tensors' moments were left alone");
    free(before);
    gg_guard_free(gd);
    net_free(&n);
}

/* Non-finite values injected in a named layer are traced to it. */
static void test_trace(void)
{
    net n;
    net_build(&n, 4);
    gg_node fc2 = gg_graph_find(n.g, "fc2/linear"), fc1 = gg_graph_find(n.g, "fc1/linear");
    GT_CHECK(fc2 >= 0 && fc1 >= 0, "ops named by layer");
    gg_graph_set_check(n.g, 1);
    gg_graph_inject(n.g, fc2, 0, NAN);
    gg_status s = gg_graph_forward(n.g, GG_TRAIN, n.loss);
    const gg_check_info *ci = gg_graph_check_result(n.g);
    GT_CHECK(s == GG_E_NONFINITE && ci->found && !ci->backward, "forward stops at the bad op");
    GT_CHECK(strcmp(ci->layer, "fc2") == 0 && strcmp(ci->op, "linear") == 0, "layer %s op %s", ci->layer, ci->op);
    gg_graph_inject(n.g, fc1, 1, INFINITY);
    GT_OK(gg_graph_forward(n.g, GG_TRAIN, n.loss));
    gg_graph_zero_grad(n.g);
    s = gg_graph_backward(n.g, n.loss, 1);
    ci = gg_graph_check_result(n.g);
    GT_CHECK(s == GG_E_NONFINITE && ci->found && ci->backward, "backward stops at the bad op");
    GT_CHECK(strcmp(ci->layer, "fc1") == 0 && strcmp(ci->op, "linear") == 0, "layer %s op %s", ci->layer, ci->op);
    /* a bad input is named as the input */
    gg_graph_inject(n.g, -1, 0, 0);
    gg_graph_data(n.g, n.x)[5] = NAN;
    s = gg_graph_forward(n.g, GG_TRAIN, n.loss);
    ci = gg_graph_check_result(n.g);
    GT_CHECK(s == GG_E_NONFINITE && strcmp(ci->input, "x") == 0 && ci->index == 5, "input x element 5");
    net_free(&n);
}

/* The learning-rate ceiling: failures far apart are isolated (the rate
 * climbs back to 1 after each) until half the budget is used; from then on
 * (the 4th rollback of 6) each lowers the ceiling, so the rate stays down. */
static void test_ceiling(void)
{
    net n;
    net_build(&n, 8);
    gg_guard_config c = gg_guard_defaults();
    c.rollback_budget = 6;
    c.backoff_recover = 4;
    c.skip_first = 0; /* each failure rolls back at once (test_skip_first has the skips) */
    c.snapshot_every = 1; /* failures 2 steps apart count as repeated; these are 30 apart */
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    gg_train_pos pos = {0, 0, 0, {1, 0, 0, 0, 0}};
    gg_guard_snapshot(gd, &pos);
    long step = 0;
    const double expect[6] = {1, 1, 1, 1, 0.5, 0.25}; /* the scale the run climbs back to */
    for (int r = 0; r < 6; r++) {
        gg_guard_decision d = {0};
        for (int s = 0; s < 30; s++, step++) {
            double loss = backward(&n);
            d = gg_guard_check(gd, step, 0, loss);
            GT_CHECK(d.verdict == GG_GUARD_PROCEED, "round %d step %ld proceeds", r, step);
        }
        GT_NEAR(d.lr_scale, expect[r], 0, 1e-6, "scale after round %d", r);
        size_t k;
        backward(&n);
        gg_graph_grads(n.g, &k)[1] = NAN;
        d = gg_guard_check(gd, step, 0, 1.0);
        GT_CHECK(d.verdict == GG_GUARD_ROLLBACK, "failure %d asks for a rollback", r + 1);
        gg_train_pos back = pos;
        back.step = step++;
        GT_OK(gg_guard_rollback(gd, &back));
    }
    backward(&n);
    size_t k;
    gg_graph_grads(n.g, &k)[1] = NAN;
    GT_CHECK(gg_guard_check(gd, step, 0, 1.0).verdict == GG_GUARD_STOP, "the seventh failure stops the run");
    gg_guard_free(gd);
    net_free(&n);
}

/* The slow blow-up: a norm growing 134x over the window steadily is a
 * trend; the same fitted growth through a window that scatters over decades
 * step to step (batch 1 near convergence) is not (trend_t). */
static int trend_events(double scatter)
{
    gg_guard_config c = gg_guard_defaults();
    c.clip = GG_CLIP_NONE;
    c.on_spike = c.on_loss_spike = GG_DO_NOTHING;
    c.on_trend = GG_DO_NOTHING; /* an event with action warn */
    gg_guard_tensor ts[1] = {{"w", "l"}};
    gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 4);
    GT_CHECK(core != NULL, "core: %s", gg_errmsg());
    if (!core) return -1;
    double sq[1];
    gg_guard_obs o = {0, 0, 2.0, sq, 0.1, 0, 1e-3, NULL, 0, NULL, 0, 0, 0};
    gg_guard_act a;
    gg_train_pos pos = {0};
    int trends = 0;
    for (long step = 0; step < 150; step++) {
        /* log norm: flat for 100 steps, then rising 0.1 a step (e^4.9 = 134x over 50) */
        double lg = (step < 100 ? 0 : 0.1 * (double)(step - 100)) + (step % 2 ? scatter : -scatter);
        sq[0] = exp(2 * lg);
        o.step = step;
        GT_OK(gg_guard_core_check(core, &o, &a));
        trends += take_signal(core, "trend");
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    }
    gg_guard_core_free(core);
    return trends;
}

static void test_trend_t(void)
{
    GT_CHECK(trend_events(0.05) == 1, "a steady 134x rise is one trend (%d)", trend_events(0.05));
    GT_CHECK(trend_events(6) == 0, "the same rise through a window scattering over 5 decades is none (%d)",
             trend_events(6));
}

/* A failure within half a snapshot interval of the state it goes back to
 * backs the rate off; a loss blow-up (the rate's signal) also caps it there,
 * a non-finite gradient (which may be the batch's) lets it climb back. From
 * statistics alone, through the core. */
static double young_failure_scale(int blowup)
{
    gg_guard_config c = gg_guard_defaults();
    c.backoff_recover = 4;
    c.skip_first = 0;
    gg_guard_tensor ts[1] = {{"w", "l"}};
    gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 4);
    GT_CHECK(core != NULL, "core: %s", gg_errmsg());
    double sq[1] = {1};
    gg_guard_obs o = {0, 0, 2.0, sq, 0.1, 0, 1e-3, NULL, 0, NULL, 0, 0, 0};
    gg_guard_act a;
    gg_train_pos pos = {0};
    GT_CHECK(gg_guard_core_snapshot(core, &pos) >= 0, "the first snapshot");
    long step = 0;
    for (; step < 3; step++) {
        o.step = step;
        GT_OK(gg_guard_core_check(core, &o, &a));
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    }
    o.step = step;
    if (blowup) o.loss = 150;
    else sq[0] = NAN;
    GT_OK(gg_guard_core_check(core, &o, &a));
    GT_CHECK(a.verdict == GG_GUARD_ROLLBACK, "%s at step 3: rollback (%d)", blowup ? "blow-up" : "NaN", a.verdict);
    pos.step = step;
    GT_CHECK(gg_guard_core_rollback(core, &pos) >= 0 && pos.step == 0, "back to step 0");
    o.loss = 2.0;
    sq[0] = 1;
    for (step = 0; step < 40; step++) {
        o.step = step;
        GT_OK(gg_guard_core_check(core, &o, &a));
        GT_CHECK(a.verdict == GG_GUARD_PROCEED, "replay step %ld proceeds", step);
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    }
    double scale = gg_guard_core_last(core)->lr_scale;
    gg_guard_core_free(core);
    return scale;
}

static void test_young_failure(void)
{
    double b = young_failure_scale(1), n = young_failure_scale(0);
    GT_NEAR(b, 0.5, 0, 1e-12, "a blow-up at step 3: the rate backed off and capped (scale after 40 steps)");
    GT_NEAR(n, 1.0, 0, 1e-12, "a NaN at step 3: backed off, then back to the full rate (scale after 40 steps)");
}

/* skip_first, from statistics alone: a burst of blow-ups and a NaN after
 * good steps are skipped with the rate untouched; a failure soon after a
 * skipped one, with good steps between, rolls back at once, and so does a
 * batch still far above the level right after a skip; failing steps in a
 * row roll back when they pass max_skips. */
/* One step: loss, a NaN gradient when nan; when the check asks for a probe
 * (*asked) and probe is not NaN, that loss is given to it. */
static gg_verdict probe_step(gg_guard_core *core, gg_guard_obs *o, double *sq, gg_train_pos *pos, long step,
                             double loss, int nan, double probe, int *asked)
{
    gg_guard_act a;
    o->step = step;
    o->loss = loss;
    sq[0] = nan ? NAN : 1;
    GT_OK(gg_guard_core_check(core, o, &a));
    if (asked) *asked = a.probe;
    if (a.probe && !isnan(probe)) GT_OK(gg_guard_core_probe(core, probe, &a));
    gg_verdict v = a.verdict; /* gg_guard_core_after writes its own act */
    pos->step = step + 1;
    GT_OK(gg_guard_core_after(core, pos, v == GG_GUARD_PROCEED, -1, NAN, &a));
    return v;
}

static gg_verdict sf_step(gg_guard_core *core, gg_guard_obs *o, double *sq, gg_train_pos *pos, long step, double loss,
                          int nan)
{
    return probe_step(core, o, sq, pos, step, loss, nan, NAN, NULL);
}

/* A core with a first snapshot, through 250 good steps of a falling loss
 * (from 2.0 to 1.0): the level the failures below stand against. */
static gg_guard_core *sf_core(const gg_guard_config *c, gg_guard_obs *o, double *sq, gg_train_pos *pos, long *step)
{
    static gg_guard_tensor ts[1] = {{"w", "l"}};
    gg_guard_core *core = gg_guard_core_new(c, 1, ts, 4);
    GT_CHECK(core != NULL, "core: %s", gg_errmsg());
    pos->step = 0;
    GT_CHECK(gg_guard_core_snapshot(core, pos) >= 0, "the first snapshot");
    for (*step = 0; *step < 250; ++*step) sf_step(core, o, sq, pos, *step, 2.0 - (double)*step * 0.004, 0);
    return core;
}

/* The probe of a rollback for failures in a row: the 5th blow-up in a row
 * (max_skips 4) asks for it; weights that pass the last good batch (loss
 * at the level) make it a skip, the event says so, and 4 more may be
 * skipped before the next probe; at most GG_SKIP_PROBES pass in a row,
 * then the rollback stands. Weights that fail it (or no probe given, as
 * an actuator that cannot measure) leave the rollback, as does a NaN
 * probe; a good step ends the run of skips and its probes; a rollback
 * another detector asked for is not probed. */
static void skip_probe_checks(gg_guard_config c, gg_guard_obs o, double *sq)
{
    gg_train_pos pos = {0};
    long step;
    int asked;
    /* passing probes: a burst of 4 x (4 + 1) = 20 blow-ups skipped through three probes */
    gg_guard_core *core = sf_core(&c, &o, sq, &pos, &step);
    int skips = 0, probes = 0, last_asked_at = -1;
    gg_verdict v = GG_GUARD_SKIP;
    for (int k = 0; k < 40 && v == GG_GUARD_SKIP; k++, step++) {
        v = probe_step(core, &o, sq, &pos, step, 150, 0, 1.05, &asked);
        if (asked) probes++, last_asked_at = k;
        if (v == GG_GUARD_SKIP) skips++;
        if (k == 4) {
            int n;
            const gg_guard_event *e = gg_guard_core_events(core, &n);
            GT_CHECK(asked && v == GG_GUARD_SKIP && n >= 1 && strcmp(e[n - 1].action, "skip") == 0 &&
                         strstr(e[n - 1].detail, "the last good batch still passes"),
                     "the 5th blow-up in a row: probed, passed, skipped (%s: %s)", n ? e[n - 1].action : "-",
                     n ? e[n - 1].detail : "");
        }
        gg_guard_core_clear_events(core);
    }
    GT_CHECK(probes == GG_SKIP_PROBES && skips == c.max_skips * (GG_SKIP_PROBES + 1) && v == GG_GUARD_ROLLBACK &&
                 last_asked_at == c.max_skips * GG_SKIP_PROBES,
             "%d probes passed, %d skips, then the rollback unprobed (verdict %d, last probe at %d)", probes, skips, v,
             last_asked_at);
    GT_CHECK(gg_guard_core_counts(core)->skipped == skips, "every skip counted (%ld)", gg_guard_core_counts(core)->skipped);
    gg_guard_core_free(core);

    /* a failing probe, a NaN probe, none given: the rollback stands */
    const double bad[3] = {5.0, NAN, NAN};
    for (int i = 0; i < 3; i++) {
        core = sf_core(&c, &o, sq, &pos, &step);
        for (int k = 0; k < c.max_skips; k++, step++) probe_step(core, &o, sq, &pos, step, 150, 0, 1.0, &asked);
        gg_guard_core_clear_events(core);
        gg_guard_act a;
        o.step = step;
        o.loss = 150;
        GT_OK(gg_guard_core_check(core, &o, &a));
        GT_CHECK(a.probe && a.verdict == GG_GUARD_ROLLBACK, "the 5th in a row asks for a probe");
        if (i < 2) GT_OK(gg_guard_core_probe(core, bad[i], &a));
        int n;
        const gg_guard_event *e = gg_guard_core_events(core, &n);
        GT_CHECK(a.verdict == GG_GUARD_ROLLBACK && n >= 1 && strcmp(e[n - 1].action, "rollback") == 0 &&
                     (i != 0 || strstr(e[n - 1].detail, "the last good batch fails too")),
                 "probe %s: the rollback stands (%s)", i == 0 ? "5x the level" : i == 1 ? "NaN" : "not given",
                 n ? e[n - 1].detail : "");
        GT_CHECK(i == 2 || gg_guard_core_probe(core, 1.0, &a) == GG_E_ARG, "a second probe is refused");
        gg_guard_core_free(core);
    }

    /* a good step between: the count of probes starts again */
    core = sf_core(&c, &o, sq, &pos, &step);
    for (int round = 0; round < 2; round++) {
        int ok = 1;
        for (int k = 0; k < c.max_skips; k++, step++) ok &= probe_step(core, &o, sq, &pos, step, 150, 0, 1.0, &asked) == GG_GUARD_SKIP;
        v = probe_step(core, &o, sq, &pos, step++, 150, 0, 1.0, &asked);
        GT_CHECK(ok && asked && v == GG_GUARD_SKIP, "round %d: probed and skipped", round);
        for (int k = 0; k < 60; k++, step++) probe_step(core, &o, sq, &pos, step, 1.0, 0, 1.0, &asked);
    }
    gg_guard_core_free(core);

    /* skip_first off: a blow-up rolls back at once, no probe */
    c.skip_first = 0;
    core = sf_core(&c, &o, sq, &pos, &step);
    v = probe_step(core, &o, sq, &pos, step, 150, 0, 1.0, &asked);
    GT_CHECK(v == GG_GUARD_ROLLBACK && !asked, "a rollback not for failures in a row is not probed");
    gg_guard_core_free(core);
}

static void test_skip_first(void)
{
    gg_guard_config c = gg_guard_defaults();
    c.max_skips = 4;
    double sq[1] = {1};
    gg_guard_obs o = {0, 0, 2.0, sq, 0.1, 0, 1e-3, NULL, 0, NULL, 0, 0, 0};
    skip_probe_checks(c, o, sq);
    gg_train_pos pos = {0};
    long step;
    gg_guard_core *core = sf_core(&c, &o, sq, &pos, &step);
    int skipped = 1;
    for (int k = 0; k < 3; k++, step++) skipped &= sf_step(core, &o, sq, &pos, step, 150, 0) == GG_GUARD_SKIP;
    GT_CHECK(skipped, "a burst of three blow-ups: three skips");
    GT_CHECK(sf_step(core, &o, sq, &pos, step++, 1.0, 0) == GG_GUARD_PROCEED, "then the run goes on");
    for (int k = 0; k < 60; k++, step++) sf_step(core, &o, sq, &pos, step, 1.0, 0);
    GT_CHECK(sf_step(core, &o, sq, &pos, step++, 1.0, 1) == GG_GUARD_SKIP, "a NaN gradient long after: skipped");
    GT_NEAR(gg_guard_core_last(core)->lr_scale, 1.0, 0, 0, "the rate untouched");
    for (int k = 0; k < 10; k++, step++) sf_step(core, &o, sq, &pos, step, 1.0, 0);
    GT_CHECK(sf_step(core, &o, sq, &pos, step, 150, 0) == GG_GUARD_ROLLBACK,
             "a blow-up 10 good steps after a skipped failure: rollback");
    gg_train_pos back = pos;
    back.step = step;
    GT_CHECK(gg_guard_core_rollback(core, &back) >= 0, "rolled back (to step %ld)", back.step);
    step = back.step;
    GT_CHECK(sf_step(core, &o, sq, &pos, step, 150, 0) == GG_GUARD_ROLLBACK,
             "the replay fails again within half an interval of that failure: rollback at once");
    gg_guard_core_free(core);

    core = sf_core(&c, &o, sq, &pos, &step);
    gg_verdict v[6];
    for (int k = 0; k < 6; k++) v[k] = sf_step(core, &o, sq, &pos, step + k, 150, 0);
    GT_CHECK(v[0] == GG_GUARD_SKIP && v[3] == GG_GUARD_SKIP && v[4] == GG_GUARD_ROLLBACK,
             "blow-ups in a row: max_skips (4) skips, then a rollback (%d %d %d)", v[0], v[3], v[4]);
    gg_guard_core_free(core);

    /* the batch after a skipped blow-up: 5x the level is the weights, 1.5x
     * a batch's own noise */
    const double next[2] = {5.0, 1.5};
    const gg_verdict want[2] = {GG_GUARD_ROLLBACK, GG_GUARD_PROCEED};
    for (int i = 0; i < 2; i++) {
        core = sf_core(&c, &o, sq, &pos, &step);
        GT_CHECK(sf_step(core, &o, sq, &pos, step++, 150, 0) == GG_GUARD_SKIP, "a blow-up: skipped");
        GT_CHECK(sf_step(core, &o, sq, &pos, step, next[i], 0) == want[i], "the next batch %gx the level: verdict %d",
                 next[i], want[i]);
        gg_guard_core_free(core);
    }

    /* a step two findings skip (a blow-up and, with on_spike skip, a
     * gradient spike) counts once towards max_skips */
    c.on_spike = GG_DO_SKIP;
    core = sf_core(&c, &o, sq, &pos, &step);
    gg_verdict both[5];
    int nsig = 0;
    for (int k = 0; k < 5; k++, step++) {
        gg_guard_act a;
        o.step = step;
        o.loss = 150;
        sq[0] = 1e6;
        GT_OK(gg_guard_core_check(core, &o, &a));
        both[k] = a.verdict;
        nsig += take_signal(core, "grad_spike");
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 0, -1, NAN, &a));
    }
    GT_CHECK(nsig >= 4 && both[3] == GG_GUARD_SKIP && both[4] == GG_GUARD_ROLLBACK,
             "blow-up and spike on each step: max_skips (4) steps skipped, the 5th rolls back (%d %d; %d spikes)",
             both[3], both[4], nsig);
    gg_guard_core_free(core);
    c.on_spike = GG_DO_CLIP;

    c.skip_first = 0;
    core = sf_core(&c, &o, sq, &pos, &step);
    GT_CHECK(sf_step(core, &o, sq, &pos, step, 150, 0) == GG_GUARD_ROLLBACK, "skip_first off: a rollback at once");
    gg_guard_core_free(core);
}

/* The loss jump, from statistics alone: a noisy loss (3% a step) whose
 * batch comes in at 2.1x its level is skipped, and so is every batch of a
 * burst (they stay out of the level); the run then goes on. Before 50
 * steps, at 1.4x (under the 1.5x floor), off (loss_jump 0): no event. A
 * loss with no noise must jump 1.65x (the 5% floor on the usual change):
 * 1.8x is skipped, 1.55x is not. */
static double jitter(long k) { return 0.03 * sin(1.7 * (double)k) + 0.02 * cos(5.3 * (double)k); }

static void test_loss_jump(void)
{
    for (int variant = 0; variant < 6; variant++) {
        gg_guard_config c = gg_guard_defaults();
        c.quiet = 0;
        if (variant == 3) c.loss_jump = 0;
        double sq[1] = {1};
        gg_guard_obs o = {0, 0, 2.0, sq, 0.1, 0, 1e-3, NULL, 0, NULL, 0, 0, 0};
        gg_train_pos pos = {0};
        gg_guard_tensor ts[1] = {{"w", "l"}};
        gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 4);
        GT_CHECK(core != NULL && gg_guard_core_snapshot(core, &pos) >= 0, "core: %s", gg_errmsg());
        int quiet = variant >= 4; /* no noise at all */
        long warm = variant == 2 ? 30 : 120, step = 0;
        int events = 0;
        for (; step < warm; step++) {
            double base = 1.5 - 0.002 * (double)step;
            events += probe_step(core, &o, sq, &pos, step, base * exp(quiet ? 0 : jitter(step)), 0, NAN, NULL) !=
                      GG_GUARD_PROCEED;
        }
        double base = 1.5 - 0.002 * (double)step;
        double f = variant == 1 ? 1.4 : variant == 4 ? 1.8 : variant == 5 ? 1.55 : 2.1;
        gg_verdict v[6];
        for (int k = 0; k < 5; k++) v[k] = probe_step(core, &o, sq, &pos, step + k, base * f, 0, NAN, NULL);
        v[5] = probe_step(core, &o, sq, &pos, step + 5, base, 0, NAN, NULL);
        int n;
        const gg_guard_event *e = gg_guard_core_events(core, &n);
        int jumps = 0;
        for (int i = 0; i < n; i++) jumps += strcmp(e[i].signal, "loss_jump") == 0;
        if (variant == 0 || variant == 4)
            GT_CHECK(events == 0 && v[0] == GG_GUARD_SKIP && v[4] == GG_GUARD_SKIP && v[5] == GG_GUARD_PROCEED &&
                         jumps == 5 && strstr(e[0].detail, "a batch unlike the others"),
                     "%s: a burst of five at %gx skipped, then on (%d %d %d, %d jumps: %s)",
                     quiet ? "no noise" : "3% noise", f, v[0], v[4], v[5], jumps, n ? e[0].detail : "");
        else
            GT_CHECK(events == 0 && jumps == 0 && v[0] == GG_GUARD_PROCEED,
                     "%s: no loss jump (%d jumps, verdict %d)",
                     variant == 1 ? "1.4x" : variant == 2 ? "before 50 steps" : variant == 3 ? "loss_jump 0" : "no noise, 1.55x",
                     jumps, v[0]);
        gg_guard_core_free(core);
    }
}

/* Rollback restores parameters, buffers and optimizer state bit for bit;
 * the budget then turns the next rollback into a stop. */
static void test_rollback(void)
{
    net n;
    net_build_opt(&n, 8, GG_OPT_ADAM);
    gg_guard_config c = gg_guard_defaults();
    c.rollback_budget = 2;
    c.skip_first = 0;
    gg_guard *gd = gg_guard_new(n.g, n.o, &c);
    for (int s = 0; s < 5; s++) {
        backward(&n);
        gg_optim_step(n.o, 1e-2f);
    }
    size_t np, ns;
    float *p = gg_graph_params(n.g, &np), *os = gg_optim_state(n.o, &ns);
    float *p0 = malloc(np * sizeof *p0), *o0 = malloc(ns * sizeof *o0);
    memcpy(p0, p, np * sizeof *p);
    memcpy(o0, os, ns * sizeof *os);
    uint64_t t0 = gg_optim_steps(n.o);
    gg_train_pos pos = {5, 0, 5, {1, 0, 0, 0, 0}}, back;
    gg_guard_snapshot(gd, &pos);
    for (int s = 0; s < 3; s++) {
        backward(&n);
        gg_optim_step(n.o, 1e-2f);
    }
    GT_CHECK(memcmp(p, p0, np * sizeof *p) != 0, "training moved the weights");
    for (int r = 0; r < 2; r++) {
        size_t kk;
        gg_graph_grads(n.g, &kk)[3] = NAN;
        gg_guard_decision d = gg_guard_check(gd, 8, 0, 1.0);
        GT_CHECK(d.verdict == GG_GUARD_ROLLBACK && d.diagnose, "non-finite gradient asks for a rollback");
        back = pos; /* in: where the run failed; out: where it goes back to */
        back.step = 8;
        GT_OK(gg_guard_rollback(gd, &back));
        GT_CHECK(memcmp(p, p0, np * sizeof *p) == 0, "parameters restored bit for bit");
        GT_CHECK(memcmp(os, o0, ns * sizeof *os) == 0, "optimizer state restored bit for bit");
        GT_CHECK(gg_optim_steps(n.o) == t0, "step count restored");
        GT_CHECK(back.step == 5 && back.batch == 5, "position restored");
        /* 3 steps after the snapshot: too soon for the rate to have shown it
         * holds, so each rollback backs off */
        GT_NEAR(d.lr_scale, r == 0 ? 1.0 : 0.5, 0, 1e-7, "lr scale before rollback %d", r);
    }
    GT_NEAR(gg_guard_last(gd)->lr_scale, 0.5, 0, 1e-7, "stats before the second back-off");
    size_t kk;
    gg_graph_grads(n.g, &kk)[0] = INFINITY;
    gg_guard_decision d = gg_guard_check(gd, 9, 0, 1.0);
    GT_CHECK(d.verdict == GG_GUARD_STOP, "budget of 2 used: stop");
    int ne;
    const gg_guard_event *ev = gg_guard_events(gd, &ne);
    GT_CHECK(ne > 0 && strstr(ev[ne - 1].detail, "budget") && strcmp(ev[ne - 1].action, "stop") == 0,
             "the stop says why: %s", ne ? ev[ne - 1].detail : "");
    GT_CHECK(gg_guard_counts(gd)->rollbacks == 2, "two rollbacks counted");
    free(p0);
    free(o0);
    gg_guard_free(gd);
    net_free(&n);
}

/* Every field of the guard's state whose name starts with prefix, as one
 * "name=value;" text (malloc'd). */
static char *state_text(const gg_guard *gd, const char *prefix)
{
    size_t cap = 1 << 16, at = 0;
    char *out = malloc(cap);
    out[0] = 0;
    int n = gg_guard_state_count(gd);
    for (int i = 0; i < n; i++) {
        const char *name;
        int len = gg_guard_state_get(gd, i, &name, NULL, 0);
        if (strncmp(name, prefix, strlen(prefix)) != 0) continue;
        if (at + strlen(name) + (size_t)len + 4 > cap) break;
        at += (size_t)snprintf(out + at, cap - at, "%s=", name);
        gg_guard_state_get(gd, i, &name, out + at, cap - at);
        at += (size_t)len;
        out[at++] = ';';
        out[at] = 0;
    }
    return out;
}

/* One guarded step of the tiny net at pos->step; a NaN gradient when bad.
 * Returns the verdict (after the update when the check passed). */
static gg_verdict guarded_step(net *n, gg_guard *gd, gg_train_pos *pos, int bad)
{
    double loss = backward(n);
    size_t k;
    if (bad) gg_graph_grads(n->g, &k)[2] = NAN;
    gg_guard_decision d = gg_guard_check(gd, pos->step, 0, loss);
    if (d.verdict != GG_GUARD_PROCEED) return d.verdict;
    gg_optim_step(n->o, 0.1f * d.lr_scale);
    pos->step++;
    pos->batch++;
    return gg_guard_after_step(gd, pos, 1).verdict;
}

/* The guard's state is one thing. (1) A rollback restores the history the
 * snapshot was taken with: after a NaN at step 25 sends the run back to the
 * snapshot of step 10, every hist.* field equals the uninterrupted run's at
 * step 10, while the memory (the rollback, the back-off) is kept. (2) A
 * guard restored field by field (a checkpoint's resume) is the same guard:
 * the same fields, and the same statistics and verdicts on the same steps. */
static void test_state_restore(void)
{
    gg_guard_config c = gg_guard_defaults();
    c.snapshot_every = 10;
    c.skip_first = 0;
    c.clip = GG_CLIP_PERCENTILE; /* AutoClip's history is part of the state too */
    c.history = 16;
    c.warmup = 3;
    net a, b;
    net_build(&a, 8);
    net_build(&b, 8);
    gg_guard *ga = gg_guard_new(a.g, a.o, &c), *gb = gg_guard_new(b.g, b.o, &c);
    gg_train_pos pa = {0, 0, 0, {1, 0, 0, 0, 0}}, pb = pa;
    gg_guard_snapshot(ga, &pa);
    gg_guard_snapshot(gb, &pb);
    char *at10 = NULL;
    for (int s = 0; s < 25; s++) {
        GT_CHECK(guarded_step(&a, ga, &pa, 0) == GG_GUARD_PROCEED, "healthy step %d of the uninterrupted run", s);
        guarded_step(&b, gb, &pb, 0);
        if (pa.step == 10) at10 = state_text(ga, "hist.");
    }
    char *ha = state_text(ga, "hist."), *hb = state_text(gb, "hist.");
    GT_CHECK(strcmp(ha, hb) == 0, "two identical runs have identical guard histories");
    GT_CHECK(strcmp(ha, at10) != 0, "the history moved between step 10 and step 25");
    free(ha);
    free(hb);
    /* run b fails at step 25: the confirmed snapshot is step 10's */
    GT_CHECK(guarded_step(&b, gb, &pb, 1) == GG_GUARD_ROLLBACK, "a NaN gradient asks for a rollback");
    gg_train_pos back = pb;
    GT_OK(gg_guard_rollback(gb, &back));
    GT_CHECK(back.step == 10, "back to the snapshot of step 10 (at %ld)", back.step);
    hb = state_text(gb, "hist.");
    GT_CHECK(strcmp(hb, at10) == 0, "after the rollback the history is step 10's:\n  %.300s\nnot\n  %.300s", hb, at10);
    free(hb);
    char *mb = state_text(gb, "memory.");
    GT_CHECK(strstr(mb, "memory.rollbacks_used=1;") && strstr(mb, "memory.last_failure=25;"),
             "the memory keeps the rollback and where it failed: %.300s", mb);
    /* 15 healthy steps after the snapshot and no failure before: a bad batch
     * until shown otherwise, the rate kept */
    GT_CHECK(strstr(mb, "memory.lr_scale=1;") && strstr(mb, "memory.count.backoffs=0;"),
             "an isolated failure keeps the rate: %.300s", mb);
    free(mb);

    /* (2) a guard restored from a's fields */
    net r;
    net_build(&r, 8);
    size_t np;
    const float *pa_w = gg_graph_params(a.g, &np);
    memcpy(gg_graph_params(r.g, &np), pa_w, np * sizeof(float));
    gg_guard *gr = gg_guard_new(r.g, r.o, &c);
    int nf = gg_guard_state_count(ga);
    GT_CHECK(nf > 40 && nf == gg_guard_state_count(gr), "%d named fields", nf);
    char *buf = malloc(1 << 16);
    for (int i = 0; i < nf; i++) {
        const char *name;
        gg_guard_state_get(ga, i, &name, buf, 1 << 16);
        GT_OK(gg_guard_state_set(gr, name, buf));
    }
    char *all_a = state_text(ga, ""), *all_r = state_text(gr, "");
    GT_CHECK(strcmp(all_a, all_r) == 0, "every field restored");
    free(all_a);
    free(all_r);
    gg_train_pos pr = pa;
    gg_guard_snapshot(gr, &pr);
    gg_guard_snapshot(ga, &pa);
    /* sgd without momentum: the optimizer holds no state to carry */
    int same = 1;
    for (int s = 0; s < 12; s++) {
        gg_verdict va = guarded_step(&a, ga, &pa, 0), vr = guarded_step(&r, gr, &pr, 0);
        same &= va == vr && gg_guard_last(ga)->grad_norm_clipped == gg_guard_last(gr)->grad_norm_clipped &&
                gg_guard_last(ga)->clip_threshold == gg_guard_last(gr)->clip_threshold;
    }
    all_a = state_text(ga, "hist.");
    all_r = state_text(gr, "hist.");
    GT_CHECK(same && strcmp(all_a, all_r) == 0, "the restored guard decides as the original, step by step");
    free(all_a);
    free(all_r);
    /* bad input names the field */
    GT_CHECK(gg_guard_state_set(gr, "hist.nope", "1") == GG_E_FORMAT && strstr(gg_errmsg(), "hist.nope"),
             "unknown field refused: %s", gg_errmsg());
    GT_CHECK(gg_guard_state_set(gr, "hist.autoclip_norms", "1,2,3") == GG_E_FORMAT &&
                 strstr(gg_errmsg(), "needs 16"), "an array of another length refused: %s", gg_errmsg());
    GT_CHECK(gg_guard_state_set(gr, "memory.lr_scale", "0.5x") == GG_E_FORMAT && strstr(gg_errmsg(), "memory.lr_scale"),
             "a malformed number refused: %s", gg_errmsg());
    free(buf);
    free(at10);
    gg_guard_free(ga);
    gg_guard_free(gb);
    gg_guard_free(gr);
    net_free(&a);
    net_free(&b);
    net_free(&r);
}

static void test_names(void)
{
    GT_CHECK(gg_clip_parse("agc") == GG_CLIP_AGC && gg_clip_parse("nope") == GG_CLIP_COUNT, "clip names");
    GT_CHECK(gg_response_parse("rollback") == GG_DO_ROLLBACK && gg_response_parse("x") == GG_DO_COUNT, "responses");
    gg_guard_config c = gg_guard_defaults();
    c.ema_alpha = 2;
    net n;
    net_build(&n, 2);
    GT_CHECK(gg_guard_new(n.g, n.o, &c) == NULL && strstr(gg_errmsg(), "ema_alpha"), "bad config named");
    c = gg_guard_defaults();
    c.loss_blowup_floor = NAN;
    GT_CHECK(gg_guard_new(n.g, n.o, &c) == NULL && strstr(gg_errmsg(), "loss_blowup_floor nan"),
             "a NaN blow-up floor refused: %s", gg_errmsg());
    c.loss_blowup_floor = -1;
    GT_CHECK(gg_guard_new(n.g, n.o, &c) == NULL, "a negative blow-up floor refused");
    net_free(&n);
}

/* gg_guard_measure: the per-tensor squared norms in double, the max |x|,
 * the non-finite count, for arrays outside any arena (as the Python
 * package hands it PyTorch's tensors). */
static void test_measure(void)
{
    enum { A = 1003, B = 70 };
    static float a[A], b[B], c[1];
    double ra = 0, rb = 0;
    for (int k = 0; k < A; k++) {
        a[k] = (float)((k % 17) - 8) * 0.37f + 1e-3f * (float)k;
        ra += (double)a[k] * a[k];
    }
    for (int k = 0; k < B; k++) {
        b[k] = (float)(k + 1) * -0.5f;
        rb += (double)b[k] * b[k];
    }
    const float *x[3] = {a, b, c};
    size_t len[3] = {A, B, 0};
    double sq[3] = {-1, -1, -1}, mx = -1;
    long bad = gg_guard_measure(3, x, len, sq, &mx);
    GT_CHECK(bad == 0, "no non-finite values (%ld)", bad);
    /* float sums within blocks of 4096, the blocks in double */
    GT_NEAR(sq[0], ra, 4e-6, 0, "sum of squares of a");
    GT_NEAR(sq[1], rb, 4e-6, 0, "sum of squares of b");
    GT_CHECK(sq[2] == 0, "an empty array: 0 (%g)", sq[2]);
    GT_NEAR(mx, 35.0, 0, 0, "max |x| is |b[69]| = 35");
    /* finite values whose float squares overflow: the block is summed
     * again in double, so the sum stays finite (1e40 and more) */
    static float big[5000];
    big[17] = 1e20f;
    big[4500] = -3e19f;
    const float *xb[1] = {big};
    size_t lb[1] = {5000};
    GT_CHECK(gg_guard_measure(1, xb, lb, sq, &mx) == 0 && isfinite(sq[0]), "1e20 is finite: so is its sum (%g)", sq[0]);
    GT_NEAR(sq[0], 1e40 + 9e38, 1e-6, 0, "the sum of 1e20^2 and 3e19^2");
    GT_NEAR(mx, 1e20, 1e-6, 0, "max |x| 1e20");
    big[4500] = NAN;
    GT_CHECK(gg_guard_measure(1, xb, lb, sq, NULL) == 1 && isnan(sq[0]), "a NaN beside 1e20: counted, NaN");
    a[5] = NAN;
    a[9] = INFINITY;
    b[3] = -INFINITY;
    bad = gg_guard_measure(2, x, len, sq, NULL);
    GT_CHECK(bad == 3 && isnan(sq[0]) && isnan(sq[1]), "non-finite: counted (%ld), their sums NaN", bad);
    GT_CHECK(gg_guard_measure(1, NULL, len, sq, NULL) == -1 && strstr(gg_errmsg(), "gg_guard_measure"),
             "no data: -1 with a message (%s)", gg_errmsg());
    GT_CHECK(gg_guard_measure(0, NULL, NULL, NULL, NULL) == 0, "nothing to measure: 0");
}

/* gg_init_assess: the initialisation check's verdict from statistics. */
static void test_init_assess(void)
{
    static gg_init_report rep;
    memset(&rep, 0, sizeof rep);
    rep.n = 8;
    for (int l = 0; l < 8; l++) rep.rms[l] = pow(1.5, l), rep.pre_rms[l] = NAN;
    gg_init_assess(&rep, NULL);
    GT_CHECK(rep.poor && rep.poor_growth && !rep.poor_saturated, "1.5x per layer over 8 layers is poor");
    GT_NEAR(rep.growth, 1.5, 1e-12, 0, "the fitted growth");
    GT_NEAR(rep.ratio, pow(1.5, 7), 1e-12, 0, "last over first");
    for (int l = 0; l < 8; l++) rep.rms[l] = 1 + 0.01 * l;
    gg_init_assess(&rep, NULL);
    GT_CHECK(!rep.poor, "a flat profile is not poor (growth %g)", rep.growth);
    int squash[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    for (int l = 0; l < 4; l++) rep.pre_rms[l] = l == 0 ? 1.0 : 3.0;
    gg_init_assess(&rep, squash);
    GT_CHECK(rep.poor && rep.poor_saturated && rep.squashing == 4 && rep.saturated == 3,
             "3 of 4 tanh layers past pre-activation RMS 2: saturated (%d of %d)", rep.saturated, rep.squashing);
    rep.n = 3;
    gg_init_assess(&rep, squash);
    GT_CHECK(!rep.poor, "3 layers: too shallow to judge");
}


/* The transformer detectors from statistics alone: a head's largest logit
 * over attn_logit_max is attention-logit growth, answered by QK-clip at the
 * bound (one event, then the firings it continues counted without one); a
 * logit rising far above its running level over the floor fires too, at
 * the growth threshold; steady heads and a steady log Z never fire; log Z
 * jumping far above its level switches the z-loss on, which stays on and
 * is part of the guard's state; qk_clip is refused for other signals. The
 * logits here leap in one step; a leap rolls back (test_attention_backoff),
 * so attn_logit_jump is off to see QK-clip answer them. */
static void test_transformer_signals(void)
{
    gg_guard_config c = gg_guard_defaults();
    c.clip = GG_CLIP_NONE;
    c.attn_logit_jump = 0;
    gg_guard_tensor ts[1] = {{"w", "l"}};
    gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 4);
    GT_CHECK(core != NULL, "core: %s", gg_errmsg());
    double sq[1] = {1};
    /* the projection not known (-1): QK-clip, and the whole rate backs off
     * after attn_persist steps */
    gg_guard_head heads[2] = {{"blk/attention", 0, 5, 2.0, 3.0, -1}, {"blk/attention", 1, 6, 2.0, 3.0, -1}};
    gg_guard_obs o = {0, 0, 2.0, sq, 0.1, 0, 1e-3, NULL, 0, heads, 2, 1, 4.0};
    gg_guard_act a;
    gg_train_pos pos = {0};
    int events = 0, fired_at = -1;
    long step = 0;
    for (; step < 60; step++) {
        o.step = step;
        heads[0].max_logit = 5 + 0.2 * sin((double)step);
        heads[1].max_logit = 6 + 0.2 * cos((double)step);
        o.logz = 4 + 0.05 * sin(0.7 * (double)step);
        GT_OK(gg_guard_core_check(core, &o, &a));
        int n;
        gg_guard_core_events(core, &n);
        events += n;
        gg_guard_core_clear_events(core);
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    }
    GT_CHECK(events == 0 && a.qk_clip_tau == 0 && a.z_loss == 0, "steady heads and log Z: no event (%d)", events);
    /* over the bound */
    for (int k = 0; k < 3; k++, step++) {
        o.step = step;
        heads[1].max_logit = 80 + k;
        GT_OK(gg_guard_core_check(core, &o, &a));
        int n;
        const gg_guard_event *e = gg_guard_core_events(core, &n);
        if (k == 0) {
            GT_CHECK(n == 1 && strcmp(e[0].signal, "attention_logit_growth") == 0 && strcmp(e[0].action, "qk_clip") == 0 &&
                         strstr(e[0].detail, "blk/attention head 1"),
                     "over the bound: one event naming the head (%d: %s)", n, n ? e[0].detail : "");
            fired_at = (int)step;
        } else {
            GT_CHECK(n == 0, "the firing continues: no new event (%d)", n);
        }
        /* 80 is over the bound and far above the level too: the lower threshold */
        GT_CHECK(a.verdict == GG_GUARD_PROCEED && a.qk_clip_tau >= c.attn_logit_floor && a.qk_clip_tau <= c.attn_logit_max,
                 "QK-clip to a threshold in [%g, %g] (%g)", c.attn_logit_floor, c.attn_logit_max, a.qk_clip_tau);
        gg_guard_core_clear_events(core);
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    }
    GT_CHECK(gg_guard_core_counts(core)->attention == 3, "every firing counted (%ld)", gg_guard_core_counts(core)->attention);
    /* a rise over the floor far above the running level, under the bound */
    heads[1].max_logit = 6;
    for (int k = 0; k < 40; k++, step++) {
        o.step = step;
        GT_OK(gg_guard_core_check(core, &o, &a));
        gg_guard_core_clear_events(core);
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    }
    o.step = step;
    heads[0].max_logit = 40;
    GT_OK(gg_guard_core_check(core, &o, &a));
    int n;
    const gg_guard_event *e = gg_guard_core_events(core, &n);
    GT_CHECK(n == 1 && strstr(e[0].detail, "head 0") && strstr(e[0].detail, "running level") &&
                 a.qk_clip_tau >= c.attn_logit_floor && a.qk_clip_tau < 40,
             "growth over the floor: QK-clip at the growth threshold %g (%s)", a.qk_clip_tau, n ? e[0].detail : "");
    gg_guard_core_clear_events(core);
    pos.step = ++step;
    GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    heads[0].max_logit = 5;
    /* log Z drifting */
    o.step = step;
    o.logz = -60;
    GT_OK(gg_guard_core_check(core, &o, &a));
    e = gg_guard_core_events(core, &n);
    GT_CHECK(n == 1 && strcmp(e[0].signal, "output_logit_drift") == 0 && strcmp(e[0].action, "z_loss") == 0 &&
                 a.z_loss == c.z_loss_remedy,
             "log Z -60: output-logit drift, the z-loss %g on (%d events)", a.z_loss, n);
    gg_guard_core_clear_events(core);
    GT_CHECK(gg_guard_core_z_loss(core) == c.z_loss_remedy, "the core reports the z-loss on");
    o.step = ++step;
    o.logz = 4;
    GT_OK(gg_guard_core_check(core, &o, &a));
    GT_CHECK(a.z_loss == c.z_loss_remedy && a.qk_clip_tau == 0, "the z-loss stays on; no QK-clip on a steady step");
    /* the state carries the z-loss and the detectors' history */
    gg_guard_core *copy = gg_guard_core_new(&c, 1, ts, 4);
    char buf[8192];
    for (int i = 0; i < gg_guard_core_state_count(core); i++) {
        const char *name;
        GT_CHECK(gg_guard_core_state_get(core, i, &name, buf, sizeof buf) >= 0, "state %d", i);
        GT_OK(gg_guard_core_state_set(copy, name, buf));
    }
    GT_CHECK(gg_guard_core_z_loss(copy) == c.z_loss_remedy, "a restored guard has the z-loss on");
    gg_guard_core_free(copy);
    gg_guard_core_free(core);
    (void)fired_at;

    /* the bound alone (no growth test): QK-clip to the bound */
    c = gg_guard_defaults();
    c.attn_logit_floor = 0;
    core = gg_guard_core_new(&c, 1, ts, 4);
    o.step = 0;
    heads[0].max_logit = 1.2 * c.attn_logit_max;
    GT_OK(gg_guard_core_check(core, &o, &a));
    GT_CHECK(a.qk_clip_tau == c.attn_logit_max, "over the bound only: QK-clip to it (%g)", a.qk_clip_tau);
    gg_guard_core_free(core);

    /* logits past attn_logit_blowup: QK-clip cannot repair what the update
     * did to the rest of the model; roll back to the snapshot */
    c = gg_guard_defaults();
    core = gg_guard_core_new(&c, 1, ts, 4);
    gg_train_pos p0 = {0};
    GT_CHECK(gg_guard_core_snapshot(core, &p0) >= 0, "a snapshot at step 0");
    o.step = 1;
    heads[0].max_logit = 5;
    heads[1].max_logit = 300;
    GT_OK(gg_guard_core_check(core, &o, &a));
    e = gg_guard_core_events(core, &n);
    GT_CHECK(a.verdict == GG_GUARD_ROLLBACK && n == 1 && strcmp(e[0].action, "rollback") == 0 &&
                 strstr(e[0].detail, "rolled back"),
             "a logit of 300 (over %g): rolled back (%d events%s%s)", c.attn_logit_blowup, n, n ? ": " : "",
             n ? e[0].detail : "");
    gg_guard_core_free(core);

    c = gg_guard_defaults();
    c.on_spike = GG_DO_QK_CLIP;
    GT_CHECK(gg_guard_core_new(&c, 1, ts, 4) == NULL && strstr(gg_errmsg(), "guard.on_spike: qk_clip"),
             "qk_clip for a gradient spike refused: %s", gg_errmsg());
}

/* Attention-logit growth backs off the rate of the head's Q/K/V projection
 * (the tensors of its layer), not the model's: when the growth starts and
 * every attn_persist steps it continues; the act carries the factors on the
 * steps they change; the factors survive a rollback (memory) and travel in
 * the state; past attn_logit_blowup the rollback backs the projection off too. */
static void test_attention_backoff(void)
{
    gg_guard_config c = gg_guard_defaults();
    c.clip = GG_CLIP_NONE;
    c.attn_persist = 5;
    gg_guard_tensor ts[4] = {{"embed.weight", "embed"}, {"attn1.qkv.weight", "attn1.qkv"},
                             {"attn1.qkv.bias", "attn1.qkv"}, {"attn1.out.weight", "attn1.out"}};
    gg_guard_core *core = gg_guard_core_new(&c, 4, ts, 4);
    GT_CHECK(core != NULL, "core: %s", gg_errmsg());
    double sq[4] = {1, 1, 1, 1};
    gg_guard_head heads[1] = {{"attn1/attention", 0, 5, 2.0, 3.0, 1}};
    gg_guard_obs o = {0, 0, 2.0, sq, 0.1, 0, 1e-3, NULL, 0, heads, 1, 0, 0};
    gg_guard_act a;
    gg_train_pos pos = {0};
    long step = 0;
    int any = 0;
    for (; step < 40; step++) {
        o.step = step;
        heads[0].max_logit = 0.9 * c.attn_logit_max + 0.2 * sin((double)step);
        GT_OK(gg_guard_core_check(core, &o, &a));
        any |= a.tensor_lr != NULL;
        gg_guard_core_clear_events(core);
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    }
    GT_CHECK(!any, "steady logits under the bound: no factor sent");
    /* near the bound for a while, then just over it: a creep (QK-clip),
     * not a leap (a rollback, below) */
    float want = 1;
    for (int k = 0; k < 12; k++, step++) {
        o.step = step;
        heads[0].max_logit = 1.1 * c.attn_logit_max;
        GT_OK(gg_guard_core_check(core, &o, &a));
        int n;
        const gg_guard_event *e = gg_guard_core_events(core, &n);
        if (k % c.attn_persist == 0) {
            want *= c.backoff_factor;
            GT_CHECK(a.tensor_lr && a.tensor_lr[1] == want && a.tensor_lr[2] == want && a.tensor_lr[0] == 1 &&
                         a.tensor_lr[3] == 1,
                     "step %d of the growth: the projection's tensors at %g, the others at 1 (%g %g %g %g)", k,
                     (double)want, a.tensor_lr ? (double)a.tensor_lr[0] : -1, a.tensor_lr ? (double)a.tensor_lr[1] : -1,
                     a.tensor_lr ? (double)a.tensor_lr[2] : -1, a.tensor_lr ? (double)a.tensor_lr[3] : -1);
            GT_CHECK(n >= 1 && strcmp(e[0].action, "backoff") == 0 && strstr(e[0].detail, "attn1.qkv"),
                     "an event names the projection (%d: %s)", n, n ? e[0].detail : "");
        } else {
            GT_CHECK(a.tensor_lr == NULL, "step %d: no change, no factors sent", k);
        }
        GT_CHECK(a.verdict == GG_GUARD_PROCEED && a.qk_clip_tau > 0 && a.lr_scale == 1,
                 "QK-clip holds the logits; the model's rate is untouched (%g)", (double)a.lr_scale);
        gg_guard_core_clear_events(core);
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    }
    /* the state: a guard restored from it sends the factors with its first act */
    gg_guard_core *copy = gg_guard_core_new(&c, 4, ts, 4);
    char buf[8192];
    int found = 0;
    for (int i = 0; i < gg_guard_core_state_count(core); i++) {
        const char *name;
        GT_CHECK(gg_guard_core_state_get(core, i, &name, buf, sizeof buf) >= 0, "state %d", i);
        found |= strcmp(name, "memory.tensor_lr") == 0;
        GT_OK(gg_guard_core_state_set(copy, name, buf));
    }
    GT_CHECK(found, "the state names memory.tensor_lr");
    heads[0].max_logit = 5;
    o.step = step;
    GT_OK(gg_guard_core_check(copy, &o, &a));
    GT_CHECK(a.tensor_lr && a.tensor_lr[1] == want && a.tensor_lr[0] == 1, "restored: the factors sent (%g)",
             a.tensor_lr ? (double)a.tensor_lr[1] : -1);
    GT_OK(gg_guard_core_check(copy, &o, &a));
    GT_CHECK(a.tensor_lr == NULL, "sent once");
    gg_guard_core_free(copy);
    gg_guard_core_free(core);

    /* a leap over the bound (attn_logit_jump times the running level, under
     * attn_logit_blowup): the logits grew with the rate; a rollback, and the
     * projection backs off; with attn_logit_jump 0 the same logits are
     * QK-clipped; past attn_logit_blowup, a rollback either way; a leap
     * under the bound but over attn_logit_floor (a too-high rate's first
     * steps) rolls back as well */
    for (int variant = 0; variant < 4; variant++) {
        c = gg_guard_defaults();
        if (variant == 1) c.attn_logit_jump = 0;
        core = gg_guard_core_new(&c, 4, ts, 4);
        gg_train_pos p0 = {0};
        GT_CHECK(gg_guard_core_snapshot(core, &p0) >= 0, "a snapshot at step 0");
        for (step = 0; step < 5; step++) {
            o.step = step;
            heads[0].max_logit = 5;
            GT_OK(gg_guard_core_check(core, &o, &a));
            pos.step = step + 1;
            GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
        }
        o.step = step;
        heads[0].max_logit = variant < 2 ? 1.5 * c.attn_logit_max
                             : variant == 2 ? 1.1 * c.attn_logit_blowup
                                            : 0.5 * (c.attn_logit_floor + c.attn_logit_max);
        if (variant == 2) c.attn_logit_jump = 0;
        GT_OK(gg_guard_core_check(core, &o, &a));
        int n;
        const gg_guard_event *e = gg_guard_core_events(core, &n);
        if (variant == 1)
            GT_CHECK(a.verdict == GG_GUARD_PROCEED && a.qk_clip_tau > 0 && n >= 1 &&
                         strcmp(e[n - 1].action, "qk_clip") == 0,
                     "attn_logit_jump 0: the leap is QK-clipped (%d events%s%s)", n, n ? ": " : "",
                     n ? e[n - 1].detail : "");
        else
            GT_CHECK(a.verdict == GG_GUARD_ROLLBACK && a.tensor_lr && a.tensor_lr[1] == c.backoff_factor &&
                         a.tensor_lr[0] == 1 && n == 1 && strstr(e[0].detail, "the rate of attn1.qkv") &&
                         strstr(e[0].detail, variant == 2 ? "over the blow-up bound" : "a leap over its level") &&
                         (variant != 3 || strstr(e[0].detail, "leapt over its running level")),
                     "logit %g after 5: rolled back, the projection at %g (%s)", heads[0].max_logit,
                     (double)c.backoff_factor, n ? e[0].detail : "");
        gg_guard_core_clear_events(core);
        gg_guard_core_free(core);
    }

    /* a creep: 1% a step from 5 to 60, over the floor and under the bound,
     * never twice its running level: no event */
    c = gg_guard_defaults();
    core = gg_guard_core_new(&c, 4, ts, 4);
    int creep_events = 0;
    heads[0].max_logit = 5;
    for (step = 0; heads[0].max_logit < 60; step++) {
        o.step = step;
        if (step >= 20) heads[0].max_logit *= 1.01;
        GT_OK(gg_guard_core_check(core, &o, &a));
        int n;
        gg_guard_core_events(core, &n);
        creep_events += n;
        gg_guard_core_clear_events(core);
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    }
    GT_CHECK(creep_events == 0 && a.verdict == GG_GUARD_PROCEED,
             "a creep to %g over %ld steps: no event (%d)", heads[0].max_logit, step, creep_events);
    gg_guard_core_free(core);
}

/* Runs a core over `steps` steps from *step with the nl layers of L (up to
 * 4): layer l's update ratio is ratio[l] x the guard's scale (an update
 * proportional to the rate), the schedule's rate lr(step), the loss
 * loss(step). Returns the events of signal sig seen, their last action in
 * action; *scale the last act's scale. */
static int layer_run(gg_guard_core *core, const char *sig, long *step, long steps, gg_guard_layer *L,
                     const double *ratio, int nl, double (*lr)(long), double (*loss)(long), float *scale, char *action,
                     size_t cap)
{
    double sq[1] = {1};
    gg_guard_obs o = {0, 0, 2.0, sq, 0.1, 0, 1e-3, NULL, 0, NULL, 0, 0, 0};
    gg_guard_act a;
    gg_train_pos pos = {0};
    int seen = 0;
    for (long end = *step + steps; *step < end; (*step)++) {
        o.step = *step;
        o.loss = loss(*step);
        o.lr = lr(*step);
        for (int l = 0; l < nl; l++) L[l].update_ratio = ratio[l] * (double)*scale * o.lr / 1e-3;
        int want = gg_guard_core_wants_layers(core, *step);
        o.layers = want ? L : NULL;
        o.nlayers = want ? nl : 0;
        GT_OK(gg_guard_core_check(core, &o, &a));
        int n;
        const gg_guard_event *e = gg_guard_core_events(core, &n);
        for (int i = 0; i < n; i++)
            if (strcmp(e[i].signal, sig) == 0) {
                seen++;
                snprintf(action, cap, "%s", e[i].action);
            }
        gg_guard_core_clear_events(core);
        *scale = a.lr_scale;
        pos.step = *step + 1;
        GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
    }
    return seen;
}

static int slow_run(gg_guard_core *core, long *step, long steps, gg_guard_layer *L, const double *ratio, int nl,
                    double (*lr)(long), double (*loss)(long), float *scale, char *action, size_t cap)
{
    return layer_run(core, "slow_rate", step, steps, L, ratio, nl, lr, loss, scale, action, cap);
}

static double lr_flat(long s) { (void)s; return 1e-3; }
static double lr_decay(long s) { return 1e-3 * (1 - (double)s / 400); }
static double loss_slow(long s) { return 2.0 - 1e-4 * (double)s; }
static double loss_learnt(long s) { return s < 50 ? 2.0 - 0.035 * (double)s : 0.25; }
static double lr_warm(long s) { return s < 100 ? 1e-3 * (double)(s + 1) / 100 : 1e-3; }

/* A rate far too small: every layer's update ratio under slow_ratio from
 * the first pass on is raised towards slow_target, x10 at most a pass;
 * a warm-up, a run that was ever fast enough and a warn policy are not. */
static void test_slow_rate(void)
{
    gg_guard_config c = gg_guard_defaults();
    c.monitor_every = 10;
    gg_guard_tensor ts[1] = {{"fc1.weight", "fc1"}};
    char act[32] = "";
    gg_guard_layer L1[1] = {{"fc1", 1.0, NAN, NAN, 0, 0}};
    double slow[1] = {5e-5}, fast[1] = {1e-3};
    /* 5e-5: passes at 0, 10, 20 -> x10 at step 20; 5e-4 then -> x4; 2e-3: done */
    gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 4);
    GT_CHECK(core != NULL, "core: %s", gg_errmsg());
    long step = 0;
    float scale = 1;
    int n = slow_run(core, &step, 21, L1, slow, 1, lr_flat, loss_slow, &scale, act, sizeof act);
    GT_CHECK(n == 1 && strcmp(act, "raise") == 0 && fabs(scale - 10) < 1e-4,
             "three slow passes: one raise, x10 at most (%d %s, scale %g)", n, act, (double)scale);
    n = slow_run(core, &step, 200, L1, slow, 1, lr_flat, loss_slow, &scale, act, sizeof act);
    GT_CHECK(n == 1 && fabs(scale - 40) < 1e-3, "the next pass raises to the target, then no more (%d, scale %g)", n,
             (double)scale);
    const gg_guard_counters *k = gg_guard_core_counts(core);
    GT_CHECK(k->slow_rate == 2 && k->backoffs == 0, "counted: %ld raises", k->slow_rate);
    gg_guard_core_free(core);

    /* a warm-up raises the rate itself: no pass counts while it does */
    core = gg_guard_core_new(&c, 1, ts, 4);
    step = 0, scale = 1;
    n = slow_run(core, &step, 100, L1, slow, 1, lr_warm, loss_slow, &scale, act, sizeof act);
    GT_CHECK(n == 0 && scale == 1, "no raise during a warm-up (%d, %g)", n, (double)scale);
    n = slow_run(core, &step, 31, L1, slow, 1, lr_warm, loss_slow, &scale, act, sizeof act);
    GT_CHECK(n == 1 && scale > 1, "after it, three slow passes raise (%d, %g)", n, (double)scale);
    gg_guard_core_free(core);

    /* two phases on a new core, a fast ratio then the slow one:
     * a run whose loss fell under half its first learns at its rate (its
     * small updates later, a converged run's, are left alone); fast first
     * passes with the loss still high (RMSprop's first steps) decide
     * nothing, and the slow passes after them raise; a schedule past half
     * its peak takes small steps by design */
    static const struct {
        long fast_steps, slow_steps;
        double (*lr)(long), (*loss)(long);
        int raises;
        float scale;
        const char *what;
    } two[] = {{50, 300, lr_flat, loss_learnt, 0, 1, "a run that learnt is not raised"},
               {30, 40, lr_flat, loss_slow, 2, 40, "fast first passes, then slow ones: raised"},
               {200, 199, lr_decay, loss_slow, 0, 1, "no raise in a decay's second half"}};
    for (size_t i = 0; i < sizeof two / sizeof two[0]; i++) {
        core = gg_guard_core_new(&c, 1, ts, 4);
        step = 0, scale = 1;
        n = slow_run(core, &step, two[i].fast_steps, L1, fast, 1, two[i].lr, two[i].loss, &scale, act, sizeof act);
        n += slow_run(core, &step, two[i].slow_steps, L1, slow, 1, two[i].lr, two[i].loss, &scale, act, sizeof act);
        GT_CHECK(n == two[i].raises && fabs(scale - two[i].scale) < 1e-3, "%s (%d raises, scale %g)", two[i].what, n,
                 (double)scale);
        gg_guard_core_free(core);
    }

    /* a gradient profile that vanishes with depth: its small updates are
     * the vanishing gradient's, not the rate's */
    core = gg_guard_core_new(&c, 1, ts, 4);
    step = 0, scale = 1;
    gg_guard_layer L2[2] = {{"fc1", 1e-9, NAN, NAN, 0, 0}, {"fc2", 1e-2, NAN, NAN, 0, 0}};
    double r2[2] = {1e-7, 5e-5};
    n = slow_run(core, &step, 200, L2, r2, 2, lr_flat, loss_slow, &scale, act, sizeof act);
    GT_CHECK(n == 0 && scale == 1, "a vanishing profile is not a slow rate (%d, %g)", n, (double)scale);
    gg_guard_core_free(core);

    /* under warn: reported once, the rate untouched */
    c.on_slow = GG_DO_NOTHING;
    core = gg_guard_core_new(&c, 1, ts, 4);
    step = 0, scale = 1;
    n = slow_run(core, &step, 300, L1, slow, 1, lr_flat, loss_slow, &scale, act, sizeof act);
    GT_CHECK(n == 1 && strcmp(act, "warn") == 0 && scale == 1, "warn: one event, no raise (%d %s %g)", n, act,
             (double)scale);
    gg_guard_core_free(core);

    /* raise answers on_slow only */
    c = gg_guard_defaults();
    c.on_stall = GG_DO_RAISE;
    GT_CHECK(gg_guard_core_new(&c, 1, ts, 4) == NULL && strstr(gg_errmsg(), "guard.on_stall"),
             "raise under another key is refused: %s", gg_errmsg());
}

/* A layer whose update ratio is over update_ratio_high (0.1) for
 * quiet_persist passes: the rate backed off twice and made the ceiling, so
 * it does not climb back; a ratio inside the band, and the warn policy,
 * leave the rate alone; under the low end it is reported only. */
static void test_update_ratio(void)
{
    gg_guard_config c = gg_guard_defaults();
    c.monitor_every = 10;
    c.plateau_window = 0; /* the watch the ceiling arms over this slow loss is test_plateau's */
    gg_guard_tensor ts[1] = {{"fc1.weight", "fc1"}};
    gg_guard_layer L1[1] = {{"fc1", 1.0, NAN, NAN, 0, 0}};
    double high[1] = {0.3}, inside[1] = {0.05}, low[1] = {1e-7};
    float quarter = c.backoff_factor * c.backoff_factor;
    char act[32] = "";
    for (int variant = 0; variant < 4; variant++) {
        c.on_update_ratio = variant == 2 ? GG_DO_NOTHING : GG_DO_BACKOFF;
        c.on_slow = variant == 3 ? GG_DO_NOTHING : GG_DO_RAISE;
        gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 4);
        GT_CHECK(core != NULL, "core: %s", gg_errmsg());
        long step = 0;
        float scale = 1;
        act[0] = 0;
        const double *r = variant == 1 ? inside : variant == 3 ? low : high;
        int n = layer_run(core, "update_ratio", &step, 400, L1, r, 1, lr_flat, loss_slow, &scale, act, sizeof act);
        const gg_guard_counters *k = gg_guard_core_counts(core);
        if (variant == 0)
            GT_CHECK(n == 1 && strcmp(act, "backoff") == 0 && fabs(scale - quarter) < 1e-6 && k->backoffs == 2,
                     "a ratio of 0.3: one back-off, twice, not climbed back over 400 steps (%d %s, scale %g, %ld "
                     "back-offs)", n, act, (double)scale, k->backoffs);
        else if (variant == 1)
            GT_CHECK(n == 0 && scale == 1, "inside the band: nothing (%d, scale %g)", n, (double)scale);
        else
            GT_CHECK(n == 1 && strcmp(act, "warn") == 0 && scale == 1, "%s: reported, the rate alone (%d %s, %g)",
                     variant == 2 ? "on_update_ratio: warn" : "under the low end", n, act, (double)scale);
        gg_guard_core_free(core);
    }
}

/* Stuck at chance after a back-off: a run that fails at once (the loss
 * 50x its level at step 30) rolls back with its rate backed off; a replay
 * whose loss then sits at or over ln C for 40 steps is rolled back again,
 * the rate backed off twice more, twice at most; a replay that learns is
 * left alone, and a run that sits at chance without a back-off before it
 * is not watched. */
static void test_stuck_at_chance(void)
{
    gg_guard_config c = gg_guard_defaults();
    c.quiet = 0;
    gg_guard_tensor ts[1] = {{"fc1.weight", "fc1"}};
    /* variant 0: the replay at chance; 1: a replay that learns; 2: at chance
     * without a failure; 3: the replay over chance (1.6 ln C, a saturated
     * net that neither blows up nor reaches worse_than_chance's 2 ln C) */
    for (int variant = 0; variant < 4; variant++) {
        gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 0);
        GT_CHECK(core != NULL, "core: %s", gg_errmsg());
        gg_guard_core_set_chance(core, log(10.0));
        double sq[1] = {1};
        gg_guard_obs o = {0, 0, 0, sq, 0.1, 0, 1e-3, NULL, 0, NULL, 0, 0, 0};
        gg_guard_act a;
        gg_train_pos pos = {0};
        GT_CHECK(gg_guard_core_snapshot(core, &pos) >= 0, "a snapshot at step 0");
        int rollbacks = 0, stuck = 0, replay = 0, gave_up = 0, stopped = 0;
        float scale = 1;
        for (long step = 0; step < 400;) {
            o.step = step;
            /* variant 2: no failure, the loss at chance throughout */
            double at = log(10.0) * (1 + 0.01 * sin(1.7 * (double)step));
            double learns = log(10.0) * exp(-0.02 * (double)step);
            o.loss = variant != 2 && !replay && step >= 30 ? 50 * log(10.0)
                     : replay && variant == 1 ? learns
                     : replay && variant == 3 ? 1.6 * at
                                              : at;
            GT_OK(gg_guard_core_check(core, &o, &a));
            int n;
            const gg_guard_event *e = gg_guard_core_events(core, &n);
            for (int i = 0; i < n; i++) {
                if (strcmp(e[i].signal, "stuck_at_chance") != 0) continue;
                stuck += strcmp(e[i].action, "rollback") == 0;
                gave_up += strcmp(e[i].action, "warn") == 0;
            }
            gg_guard_core_clear_events(core);
            scale = a.lr_scale;
            if (a.verdict == GG_GUARD_ROLLBACK) {
                pos.step = step;
                GT_CHECK(gg_guard_core_rollback(core, &pos) >= 0, "rolled back");
                rollbacks++;
                replay = 1;
                step = pos.step;
                continue;
            }
            if (a.verdict == GG_GUARD_STOP) {
                stopped = 1;
                break;
            }
            pos.step = ++step;
            GT_OK(gg_guard_core_after(core, &pos, a.verdict == GG_GUARD_PROCEED, -1, NAN, &a));
        }
        if (variant == 0 || variant == 3) {
            GT_CHECK(stuck >= 1 && rollbacks >= 2 && scale <= 0.5f * 0.25f * 0.25f + 1e-6,
                     "at chance after the back-off: rolled back again, backed off twice more (%d events, %d rollbacks, "
                     "scale %g)", stuck, rollbacks, (double)scale);
            /* two tries, then the rate is not the cause: said once, no stop */
            GT_CHECK(stuck == 2 && gave_up == 1 && !stopped, "still at chance after two stuck rollbacks: the watch "
                     "ends, said once, the run goes on (%d rollbacks for it, %d notes, stopped %d)", stuck, gave_up,
                     stopped);
        } else
            GT_CHECK(stuck == 0 && gave_up == 0 && rollbacks == (variant == 1),
                     "%s: no stuck_at_chance (%d events, %d rollbacks)",
                     variant == 1 ? "a replay that learns" : "at chance without a back-off", stuck, rollbacks);
        gg_guard_core_free(core);
    }
}

/* Feeds a core `steps` steps whose loss and schedule rate the
 * callbacks give, applying each step that proceeds; records the steps of
 * `signal`'s events (at most cap into at, which may be NULL) and returns
 * their count, the last one's action in act. Stops at a rollback or stop. */
typedef struct feed {
    double (*loss)(const struct feed *f, long step);
    double lr_from;    /* the schedule's rate halves at this step (< 0: never) */
    double fall;       /* loss_falling: the loss's fall a step, as exp(-fall step) */
    long from;         /* loss_rising: the step the rise begins */
    double first, high; /* loss_rising: the first loss, the level it rises to; loss_at_rate: first, the scale */
    /* loss_at_rate: the level floor + per_scale x the guard's rate scale, +-noise */
    double floor, per_scale, noise;
    const gg_guard_core *core; /* loss_at_rate: the guard whose rate scale the loss follows */
    int replay;        /* carry rollbacks out (the run goes on from the snapshot's step) instead of ending */
    int undone;        /* out: trials undone, each checked against the state its start had */
} feed;

/* A digest of the core's state, FNV-1a over "name=value" of every field
 * but the counters and the plateau watch's own (an undone trial keeps
 * those: it happened, and the watch remembers it). */
static uint64_t state_digest(const gg_guard_core *core)
{
    static char buf[1 << 16];
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < gg_guard_core_state_count(core); i++) {
        const char *name;
        if (gg_guard_core_state_get(core, i, &name, buf, sizeof buf) < 0) continue;
        if (strncmp(name, "memory.count.", 13) == 0 || strncmp(name, "hist.plateau.", 13) == 0) continue;
        for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
        for (const char *c = buf; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    }
    return h;
}

static int feed_run(gg_guard_core *core, long steps, const feed *f, const char *signal, long *at, int cap, char *act,
                    size_t acap)
{
    double sq[1] = {1};
    gg_guard_obs o = {0, 0, 0, sq, 0.1, 0, 1e-3, NULL, 0, NULL, 0, 0, 0};
    gg_guard_act a;
    gg_train_pos pos = {0};
    int seen = 0, rollbacks = 0;
    uint64_t trial_start = 0;
    long trial_at = -1;
    GT_CHECK(gg_guard_core_snapshot(core, &pos) >= 0, "a snapshot at step 0");
    for (long step = 0; step < steps; step++) {
        o.step = step;
        o.lr = f->lr_from >= 0 && step >= f->lr_from ? 5e-4 : 1e-3;
        o.loss = f->loss(f, step);
        GT_OK(gg_guard_core_check(core, &o, &a));
        int n;
        const gg_guard_event *e = gg_guard_core_events(core, &n);
        for (int i = 0; i < n; i++)
            if (strcmp(e[i].signal, signal) == 0) {
                if (at && seen < cap) at[seen] = step;
                seen++;
                size_t l = strlen(act); /* the actions in order, "backoff,restore" */
                snprintf(act + l, acap - l, "%s%s", l ? "," : "", e[i].action);
            }
        gg_guard_core_clear_events(core);
        if (a.verdict == GG_GUARD_ROLLBACK && f->replay && rollbacks++ < 20) {
            int undo = a.undo_trial;
            pos.step = step;
            int k = gg_guard_core_rollback(core, &pos);
            GT_CHECK(k == (undo ? GG_GUARD_TRIAL_SLOT : k) && k >= 0, "step %ld: rollback to slot %d", step, k);
            if (undo) {
                /* back where the trial began, with the state of that moment */
                ((feed *)f)->undone++;
                GT_CHECK(pos.step == trial_at, "the undo returns to step %ld, the trial's start (%ld)", pos.step,
                         trial_at);
                GT_CHECK(state_digest(core) == trial_start, "the undo at step %ld restores the state of step %ld",
                         step, trial_at);
            }
            step = pos.step - 1;
            continue;
        }
        if (a.verdict == GG_GUARD_ROLLBACK || a.verdict == GG_GUARD_STOP) break;
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(core, &pos, a.verdict == GG_GUARD_PROCEED, -1, NAN, &a));
        if (a.trial_snapshot >= 0) {
            GT_CHECK(a.trial_snapshot == GG_GUARD_TRIAL_SLOT, "the trial's slot");
            trial_start = state_digest(core);
            trial_at = pos.step;
        }
    }
    return seen;
}

/* +-10% batch noise around exp(-fall step), as a minibatch loss has it */
static double loss_falling(const feed *f, long step)
{
    return exp(-f->fall * (double)step) * (1 + 0.1 * sin(1.7 * (double)step));
}

/* a level the guard's rate scale sets (memory.lr_scale: after a rollback,
 * the restored one): floor + per_scale x the scale, +-noise */
static double loss_at_rate(const feed *f, long step)
{
    char buf[64];
    double k = 0;
    for (int i = 0; i < gg_guard_core_state_count(f->core); i++) {
        const char *name;
        if (gg_guard_core_state_get(f->core, i, &name, buf, sizeof buf) >= 0 && strcmp(name, "memory.lr_scale") == 0)
            k = atof(buf);
    }
    return (f->floor + f->per_scale * (k > 0 ? k : f->first)) * (1 + f->noise * sin(1.7 * (double)step));
}

/* ln 10 until `from`, rising to `high` over 30 steps after it (as a rate too
 * high makes it), +-10% noise; `first` at step 0 */
static double loss_rising(const feed *f, long step)
{
    double base = step < f->from ? log(10.0)
                                 : log(10.0) + (f->high - log(10.0)) * fmin(1, (double)(step - f->from) / 30);
    return step == 0 ? f->first : base * (1 + 0.1 * sin(1.7 * (double)step));
}

/* The worse_than_chance events of such a rising run. */
static int worse_run(gg_guard_core *core, long steps, long from, double first, double high, char *act, size_t cap)
{
    feed f = {.loss = loss_rising, .lr_from = -1, .from = from, .first = first, .high = high};
    return feed_run(core, steps, &f, "worse_than_chance", NULL, 0, act, cap);
}

/* A plateau at a rate the guard has capped as too high backs it off and
 * lowers the ceiling with it, as a trial: a loss that falls with the rate
 * keeps each back-off; a loss the rate does not move (a saddle) has the
 * back-off undone a window later, and the next watch waits twice as long.
 * A run whose rate never failed, a loss still falling by more than
 * plateau_drop a window, a schedule decaying the rate, and plateau_window 0
 * see none. */
static void test_plateau(void)
{
    gg_guard_tensor ts[1] = {{"fc1.weight", "fc1"}};
    static const struct {
        int capped, window;
        double fall;
        long decay_at;
        double floor, per_scale, noise; /* per_scale > 0: a level the rate sets (loss_at_rate) */
        int events;
        const char *acts;
        double scale;
        const char *what;
    } cases[] = {
        {1, 50, 0, -1, 0, 0, 0, 5, "backoff,restore,backoff,restore,backoff", 0.125,
         "capped, flat for 400 steps: a back-off, undone 50 steps later (back to its start), the next trial 100 "
         "steps after the first began and twice as long, the third 200 steps after the second"},
        {1, 50, 0, -1, 0.3, 2, 0.1, 2, "backoff,backoff", 0.25 / 4,
         "capped, a loss the rate makes: two back-offs, each kept"},
        /* halving 0.25 lowers 0.8 + 0.12 x 0.25 by 1.8%: over plateau_drop,
         * under one standard error of the smoothed level's change at +-20% */
        {1, 50, 0, -1, 0.8, 0.12, 0.2, 5, "backoff,restore,backoff,restore,backoff", 0.125,
         "capped, a loss the rate moves by less than its noise: the back-off undone"},
        {0, 50, 0, -1, 0, 0, 0, 0, "", 1, "a rate that never failed: not watched"},
        {1, 50, 4e-4, -1, 0, 0, 0, 0, "", 0.25, "a loss falling 2% a window: progress"},
        {1, 50, 0, 30, 0, 0, 0, 0, "", 0.25, "the schedule decays the rate: an anneal already"},
        {1, 0, 0, -1, 0, 0, 0, 0, "", 0.25, "plateau_window 0: off"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gg_guard_config c = gg_guard_defaults();
        c.quiet = 0;
        c.backoff_recover = 10; /* a back-off without a ceiling would climb back within the test */
        c.plateau_window = cases[i].window;
        gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 0);
        GT_CHECK(core != NULL, "core: %s", gg_errmsg());
        if (cases[i].capped) {
            GT_OK(gg_guard_core_state_set(core, "memory.lr_scale", "0.25"));
            GT_OK(gg_guard_core_state_set(core, "memory.lr_ceiling", "0.25"));
        }
        long at[8] = {0};
        char act[64] = "";
        feed f = {.loss = cases[i].per_scale > 0 ? loss_at_rate : loss_falling, .lr_from = (double)cases[i].decay_at,
                  .fall = cases[i].fall, .first = 0.25, .floor = cases[i].floor, .per_scale = cases[i].per_scale,
                  .noise = cases[i].noise, .core = core, .replay = 1};
        int n = feed_run(core, 400, &f, "plateau", at, 8, act, sizeof act);
        GT_CHECK(n == cases[i].events && strcmp(act, cases[i].acts) == 0, "%s: %d events %s (want %d, %s)",
                 cases[i].what, n, act, cases[i].events, cases[i].acts);
        int undo = strstr(cases[i].acts, "restore") != NULL;
        /* each trial a window long, the next watch twice as long from the
         * trial's start (later when the noise made progress meanwhile:
         * exactly so for the flat loss) */
        int flat = cases[i].per_scale == 0;
        if (undo)
            GT_CHECK(at[1] - at[0] == 50 && at[3] - at[2] == 100 && (at[2] - at[0] == 100 || (!flat && at[2] - at[0] > 100)) &&
                         (at[4] - at[2] == 200 || (!flat && at[4] - at[2] > 200)),
                     "%s: at %ld, %ld, %ld, %ld, %ld", cases[i].what, at[0], at[1], at[2], at[3], at[4]);
        GT_CHECK(f.undone == (undo ? 2 : 0), "%s: %d trials undone as branches", cases[i].what, f.undone);
        /* the undone back-offs are not counted as plateaus */
        if (n > 0) GT_CHECK(gg_guard_core_counts(core)->plateau == n - 2 * undo, "%s: counted", cases[i].what);
        GT_NEAR(gg_guard_core_last(core)->lr_scale, cases[i].scale, 0, 1e-9, "%s: the rate's scale", cases[i].what);
        gg_guard_core_free(core);
    }
}

/* A trial running when the state is saved (a checkpoint): the resumed
 * guard has the trial in its state but not its start, and undoes a
 * back-off that did not help in place (the rate returns, no rollback). */
static void test_plateau_resumed(void)
{
    gg_guard_tensor ts[1] = {{"fc1.weight", "fc1"}};
    gg_guard_config c = gg_guard_defaults();
    c.quiet = 0;
    c.backoff_recover = 10;
    c.plateau_window = 50;
    gg_guard_core *a = gg_guard_core_new(&c, 1, ts, 0), *b = gg_guard_core_new(&c, 1, ts, 0);
    GT_CHECK(a && b, "cores: %s", gg_errmsg());
    GT_OK(gg_guard_core_state_set(a, "memory.lr_scale", "0.25"));
    GT_OK(gg_guard_core_state_set(a, "memory.lr_ceiling", "0.25"));
    double sq[1] = {1};
    gg_guard_obs o = {0, 0, 1.0, sq, 0.1, 0, 1e-3, NULL, 0, NULL, 0, 0, 0};
    gg_guard_act act;
    gg_train_pos pos = {0};
    GT_CHECK(gg_guard_core_snapshot(a, &pos) >= 0, "a snapshot at step 0");
    gg_guard_core *g = a;
    int backoff = 0, restore = 0, rollback = 0;
    static char buf[1 << 16];
    for (long step = 0; step < 130; step++) {
        if (step == 90) {
            /* the checkpoint: every named field into a fresh core */
            for (int i = 0; i < gg_guard_core_state_count(a); i++) {
                const char *name;
                GT_CHECK(gg_guard_core_state_get(a, i, &name, buf, sizeof buf) >= 0, "field %d", i);
                GT_OK(gg_guard_core_state_set(b, name, buf));
            }
            pos.step = step;
            GT_CHECK(gg_guard_core_snapshot(b, &pos) >= 0, "the resumed run's snapshot");
            g = b;
        }
        o.step = step;
        GT_OK(gg_guard_core_check(g, &o, &act));
        int n;
        const gg_guard_event *e = gg_guard_core_events(g, &n);
        for (int i = 0; i < n; i++) {
            backoff += strcmp(e[i].signal, "plateau") == 0 && strcmp(e[i].action, "backoff") == 0;
            restore += strcmp(e[i].signal, "plateau") == 0 && strcmp(e[i].action, "restore") == 0;
        }
        gg_guard_core_clear_events(g);
        rollback += act.verdict == GG_GUARD_ROLLBACK;
        if (act.verdict == GG_GUARD_ROLLBACK || act.verdict == GG_GUARD_STOP) break;
        pos.step = step + 1;
        GT_OK(gg_guard_core_after(g, &pos, act.verdict == GG_GUARD_PROCEED, -1, NAN, &act));
    }
    GT_CHECK(backoff == 1 && restore == 1 && rollback == 0, "resumed in a trial: %d back-off, %d restore in place, %d "
             "rollbacks (want 1, 1, 0)", backoff, restore, rollback);
    GT_NEAR(gg_guard_core_last(b)->lr_scale, 0.25, 0, 1e-9, "resumed in a trial: the rate returns");
    gg_guard_core_free(a);
    gg_guard_core_free(b);
}

/* A classifier's smoothed loss over worse_factor x ln C for worse_steps
 * steps, having started under it, is worse than guessing: rolled back by
 * default; a loss rising slowly (no 10x jump the blow-up test would see) is
 * caught; a start already that high, a loss without a chance level and a
 * shorter excursion are not. */
static void test_worse_than_chance(void)
{
    gg_guard_config c = gg_guard_defaults();
    c.quiet = 0;
    gg_guard_tensor ts[1] = {{"fc1.weight", "fc1"}};
    char act[32] = "";
    static const struct {
        double first, high, chance;
        long steps;
        int events;
        const char *what;
    } cases[] = {
        {2.3, 6.0, 2.302585, 200, 1, "ln 10 then 6: worse than guessing"},
        {9.0, 9.0, 2.302585, 200, 0, "a start already over 2 ln C is the init check's"},
        {2.3, 6.0, 0, 200, 0, "no chance level (a regression): no test"},
        {2.3, 4.4, 2.302585, 200, 0, "under 2 ln C: no event"},
        {2.3, 6.0, 2.302585, 90, 0, "fewer than worse_steps steps over the line: no event"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 0);
        GT_CHECK(core != NULL, "core: %s", gg_errmsg());
        if (cases[i].chance > 0) gg_guard_core_set_chance(core, cases[i].chance);
        act[0] = 0;
        int n = worse_run(core, cases[i].steps, 50, cases[i].first, cases[i].high, act, sizeof act);
        GT_CHECK(n == cases[i].events && (n == 0 || strcmp(act, "rollback") == 0), "%s (%d events, %s)", cases[i].what,
                 n, act);
        if (n) GT_CHECK(gg_guard_core_counts(core)->worse_than_chance == 1, "counted");
        gg_guard_core_free(core);
    }
    /* one batch 5x the running level: for a classifier over 2 ln C (a batch
     * far worse than guessing, as corrupted labels make it) skipped as a
     * blow-up; without a chance level under the blow-up's 10x, proceeded */
    for (int classifier = 0; classifier < 2; classifier++) {
        gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 0);
        if (classifier) gg_guard_core_set_chance(core, 2.302585);
        double sq[1] = {1};
        gg_guard_obs o = {0, 0, 0, sq, 0.1, 0, 1e-3, NULL, 0, NULL, 0, 0, 0};
        gg_guard_act a;
        gg_train_pos pos = {0};
        GT_CHECK(gg_guard_core_snapshot(core, &pos) >= 0, "a snapshot at step 0");
        for (long step = 0; step <= 60; step++) {
            o.step = step;
            o.loss = step < 60 ? 1.0 + 0.2 * sin(1.7 * (double)step) : 5.0;
            GT_OK(gg_guard_core_check(core, &o, &a));
            gg_guard_core_clear_events(core);
            pos.step = step + 1;
            if (step < 60) GT_OK(gg_guard_core_after(core, &pos, 1, -1, NAN, &a));
        }
        GT_CHECK(a.verdict == (classifier ? GG_GUARD_SKIP : GG_GUARD_PROCEED),
                 "a batch at 5x the level %s: verdict %d", classifier ? "over 2 ln C is skipped" : "of a regression proceeds",
                 (int)a.verdict);
        gg_guard_core_free(core);
    }

    c.on_worse = GG_DO_NOTHING;
    gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 0);
    gg_guard_core_set_chance(core, 2.302585);
    act[0] = 0;
    int n = worse_run(core, 200, 50, 2.3, 6.0, act, sizeof act);
    GT_CHECK(n >= 1 && strncmp(act, "warn", 4) == 0 && !strstr(act, "rollback"), "warn: reported (%d, %s)", n, act);
    gg_guard_core_free(core);
}

/* The rate-jump rule's runs: the schedule's rate lr(step); the loss is
 * 2 while the rate in force (the schedule's x the last act's scale) is over
 * limit and about 0.8 under it, NaN at the steps of [nan_from, nan_to). A
 * rollback goes back to the core's snapshot and replays. Returns the
 * rate_jump events and the rollbacks; *scale is the act's scale at the last
 * step, *detail the last rollback event's detail. */
static double jump_lr;
static int jump_run(gg_guard_core *core, long steps, double (*lr)(long), double limit, long nan_from, long nan_to,
                    float *scale, int *rollbacks, char *detail, size_t cap)
{
    double sq[1] = {1};
    gg_guard_obs o = {0, 0, 0.8, sq, 0.1, 0, 1e-3, NULL, 0, NULL, 0, 0, 0};
    gg_guard_act a;
    gg_train_pos pos = {0};
    int seen = 0;
    float sc = 1;
    *rollbacks = 0;
    GT_CHECK(gg_guard_core_snapshot(core, &pos) >= 0, "a snapshot at step 0");
    for (long step = 0; step < steps;) {
        o.step = step;
        o.lr = lr(step);
        o.loss = step >= nan_from && step < nan_to ? NAN : o.lr * sc > limit ? 2.0 : 0.8 - 1e-4 * (double)step;
        GT_OK(gg_guard_core_check(core, &o, &a));
        int n;
        const gg_guard_event *e = gg_guard_core_events(core, &n);
        for (int i = 0; i < n; i++) {
            if (strcmp(e[i].signal, "rate_jump") == 0) seen++;
            if (strcmp(e[i].action, "rollback") == 0) snprintf(detail, cap, "%s", e[i].detail);
        }
        gg_guard_core_clear_events(core);
        sc = a.lr_scale;
        jump_lr = o.lr * sc;
        if (a.verdict == GG_GUARD_ROLLBACK) {
            pos.step = step;
            GT_CHECK(gg_guard_core_rollback(core, &pos) >= 0, "rolled back at step %ld", step);
            (*rollbacks)++;
            nan_to = nan_from; /* the bad batches are not met again */
            step = pos.step;
            continue;
        }
        pos.step = ++step;
        GT_OK(gg_guard_core_after(core, &pos, a.verdict == GG_GUARD_PROCEED, -1, NAN, &a));
    }
    *scale = sc;
    return seen;
}

static double lr_jump(long s) { return s < 120 ? 1e-3 : s < 300 ? 1e-2 : 5e-4; }
static double lr_jump2(long s) { return s < 120 ? 1e-3 : s < 250 ? 1e-2 : 1e-1; }
static double lr_ramp(long s) { return 1e-3 * (double)(s + 1) / 200; }

/* A jump of the schedule's rate is on probation: the loss rising over
 * jump_rise times its level, or any rollback in the window, caps the rate
 * at the highest that held (no halving: the cap is the back-off), and a
 * later decay under the cap passes through; a jump the loss bears becomes
 * a rate that held; a warm-up's rise is never a jump; warn only reports. */
static void test_rate_jump(void)
{
    gg_guard_config c = gg_guard_defaults();
    c.quiet = 0;
    /* the losses here have no noise, so the loss-jump rule (test_loss_jump)
     * would skip the step the rate's rule is to judge */
    c.loss_jump = 0;
    gg_guard_tensor ts[1] = {{"fc1.weight", "fc1"}};
    char detail[256] = "";
    float scale;
    int rb;

    gg_guard_core *core = gg_guard_core_new(&c, 1, ts, 0);
    GT_CHECK(core != NULL, "core: %s", gg_errmsg());
    int n = jump_run(core, 300, lr_jump, 5e-3, -1, -1, &scale, &rb, detail, sizeof detail);
    const gg_guard_counters *k = gg_guard_core_counts(core);
    GT_CHECK(n == 1 && rb == 1 && k->rate_jump == 1 && k->backoffs == 0 && fabs(scale - 0.1) < 1e-6 &&
                 strstr(detail, "caps it at 0.001"),
             "a jump the loss does not bear: one event, one rollback, the rate capped at 1e-3 (%d, %d, scale %g: %s)", n,
             rb, (double)scale, detail);
    n = jump_run(core, 310, lr_jump, 5e-3, -1, -1, &scale, &rb, detail, sizeof detail);
    GT_CHECK(n == 0 && rb == 0 && scale == 1, "a decay under the cap passes (%d, %d, scale %g)", n, rb, (double)scale);
    gg_guard_core_free(core);

    /* the loss bears the first jump: it holds, and the second is capped at it */
    core = gg_guard_core_new(&c, 1, ts, 0);
    n = jump_run(core, 249, lr_jump2, 5e-2, -1, -1, &scale, &rb, detail, sizeof detail);
    GT_CHECK(n == 0 && rb == 0 && scale == 1, "a jump the loss bears is kept (%d, %d, scale %g)", n, rb, (double)scale);
    gg_guard_core_free(core);
    core = gg_guard_core_new(&c, 1, ts, 0);
    n = jump_run(core, 320, lr_jump2, 5e-2, -1, -1, &scale, &rb, detail, sizeof detail);
    GT_CHECK(n == 1 && rb == 1 && fabs(scale - 0.1) < 1e-6 && strstr(detail, "caps it at 0.01"),
             "the next jump, which it does not bear, is capped at the first (%d, %d, scale %g: %s)", n, rb,
             (double)scale, detail);
    gg_guard_core_free(core);

    /* a warm-up's rising rate holds step by step */
    core = gg_guard_core_new(&c, 1, ts, 0);
    n = jump_run(core, 200, lr_ramp, 5e-3, -1, -1, &scale, &rb, detail, sizeof detail);
    GT_CHECK(n == 0 && rb == 0 && scale == 1 && fabs(jump_lr - 1e-3) < 1e-9, "a warm-up is no jump (%d, %d, rate %g)", n, rb,
             jump_lr);
    gg_guard_core_free(core);

    /* any failure in the window is the jump's: a burst of NaN batches on
     * probation, at a rate the loss would bear, rolls back under the cap */
    core = gg_guard_core_new(&c, 1, ts, 0);
    n = jump_run(core, 200, lr_jump, 1, 125, 140, &scale, &rb, detail, sizeof detail);
    k = gg_guard_core_counts(core);
    GT_CHECK(n == 0 && rb == 1 && k->rate_jump == 1 && k->backoffs == 0 && fabs(scale - 0.1) < 1e-6 &&
                 strstr(detail, "caps it"),
             "NaN batches on probation: capped without a halving (%d, %d, %ld, scale %g: %s)", n, rb, k->backoffs,
             (double)scale, detail);
    gg_guard_core_free(core);

    /* warn: reported once, the rate left alone */
    c.on_rate_jump = GG_DO_NOTHING;
    core = gg_guard_core_new(&c, 1, ts, 0);
    n = jump_run(core, 300, lr_jump, 5e-3, -1, -1, &scale, &rb, detail, sizeof detail);
    GT_CHECK(n == 1 && rb == 0, "warn: one event, no rollback (%d, %d)", n, rb);
    gg_guard_core_free(core);

    /* a factor of 1 or less is refused, naming the key; so is worse_factor's */
    c = gg_guard_defaults();
    c.rate_jump = 0.5f;
    GT_CHECK(gg_guard_core_new(&c, 1, ts, 0) == NULL && strstr(gg_errmsg(), "guard.rate_jump 0.5"),
             "rate_jump 0.5 refused: %s", gg_errmsg());
    c = gg_guard_defaults();
    c.worse_factor = 1;
    GT_CHECK(gg_guard_core_new(&c, 1, ts, 0) == NULL && strstr(gg_errmsg(), "guard.worse_factor 1"),
             "worse_factor 1 refused: %s", gg_errmsg());

    /* off */
    c = gg_guard_defaults();
    c.quiet = 0;
    c.loss_jump = 0;
    c.rate_jump = 0;
    core = gg_guard_core_new(&c, 1, ts, 0);
    n = jump_run(core, 300, lr_jump, 5e-3, -1, -1, &scale, &rb, detail, sizeof detail);
    GT_CHECK(n == 0 && rb == 0 && scale == 1, "rate_jump 0: no event, no cap (%d, %d, %g)", n, rb, (double)scale);
    gg_guard_core_free(core);
}

int main(void)
{
    test_stuck_at_chance();
    test_update_ratio();
    test_worse_than_chance();
    test_plateau();
    test_plateau_resumed();
    test_rate_jump();
    test_slow_rate();
    test_transformer_signals();
    test_attention_backoff();
    test_init_assess();
    test_measure();
    test_clip_value_norm_tensor();
    test_clip_agc();
    test_clip_percentile_zscore();
    test_blowup_floor();
    test_spike();
    test_reset_moments();
    test_trace();
    test_rollback();
    test_ceiling();
    test_young_failure();
    test_skip_first();
    test_loss_jump();
    test_trend_t();
    test_state_restore();
    test_names();
    return gt_done("test_guard");
}

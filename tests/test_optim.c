/* Optimizers against the textbook: a tiny graph of three parameter tensors
 * (fc1.weight (2,2), fc1.bias (3), fc2.weight (1,3)), gradients written
 * straight into the gradient arena, three steps, every element compared
 * with the update rule of PyTorch's documentation written out here in
 * double precision, element by element. Plus a few steps worked out by hand,
 * parameter groups, the no-decay default for biases, L1/L2 penalties, state
 * reset, update norms, the state layout, L-BFGS as a per-step optimizer and
 * the messages for bad hyper-parameters. */
#include "gradguard.h"
#include "gt.h"

#include <string.h>

#define NT 3
#define NMAX 40000

typedef struct fixture {
    gg_graph *g;
    float *p, *gr;
    size_t n;
    gg_param_info info[NT + 1];
    int nt;
    int nodecay[NMAX]; /* per element: 1 for elements of a no-decay tensor */
    int tensor[NMAX];  /* per element: its tensor */
} fixture;

static fixture F;

/* big != 0 adds a 4th tensor "big.weight" (200, 150) = 30000 elements, over
 * the size where the step goes parallel. */
static void make(int big)
{
    gg_graph_free(F.g);
    memset(&F, 0, sizeof F);
    F.g = gg_graph_new(1);
    gg_init z = {GG_INIT_ZEROS, 0, 0};
    gg_param(F.g, "fc1.weight", gg_shape2(2, 2), z);
    gg_param(F.g, "fc1.bias", gg_shape1(3), z);
    gg_param(F.g, "fc2.weight", gg_shape2(1, 3), z);
    if (big) gg_param(F.g, "big.weight", gg_shape2(200, 150), z);
    GT_OK(gg_graph_compile(F.g));
    F.p = gg_graph_params(F.g, &F.n);
    F.gr = gg_graph_grads(F.g, NULL);
    F.nt = gg_graph_num_params(F.g);
    for (int i = 0; i < F.nt; i++) {
        GT_OK(gg_graph_param(F.g, i, &F.info[i]));
        for (size_t k = 0; k < F.info[i].numel; k++) {
            F.nodecay[F.info[i].offset + k] = F.info[i].no_decay;
            F.tensor[F.info[i].offset + k] = i;
        }
    }
    for (size_t k = 0; k < F.n; k++) F.p[k] = (float)(0.5 - 0.3 * (double)(k % 7) + 0.01 * (double)(k % 13));
}

/* the gradient of step s (0-based), element k: varied signs and sizes */
static double grad_at(int s, size_t k) { return sin(1.3 * (double)(k % 101) + 0.7 * s) * (1 + 0.5 * s) + 0.1; }

static void set_grads(int s, double *gd)
{
    for (size_t k = 0; k < F.n; k++) {
        F.gr[k] = (float)grad_at(s, k);
        gd[k] = F.gr[k];
    }
}

static void compare(const double *ref, const char *what, int step)
{
    int bad = 0;
    for (size_t k = 0; k < F.n && bad < 3; k++) {
        double a = F.p[k], b = ref[k];
        if (fabs(a - b) > 1e-6 + 1e-5 * fabs(b)) {
            bad++;
            GT_CHECK(0, "%s step %d element %zu (%s): got %.9g, want %.9g", what, step + 1, k,
                     F.info[F.tensor[k]].name, a, b);
        }
    }
    if (!bad) GT_CHECK(1, "ok");
}

/* ---- reference rules (PyTorch documentation pseudo-code), double ------------- */

typedef struct ref_state {
    double p[NMAX], b[NMAX], m[NMAX], v[NMAX], ga[NMAX];
} ref_state;
static ref_state R;

static void ref_load(void)
{
    memset(&R, 0, sizeof R);
    for (size_t k = 0; k < F.n; k++) R.p[k] = F.p[k];
}

/* SGD: g += wd p; b = t > 1 ? mu b + (1 - tau) g : g; g = nesterov ? g + mu b : b; p -= lr g */
static void ref_sgd(const double *g0, int t, double lr, double mu, double tau, int nest, double wd)
{
    for (size_t k = 0; k < F.n; k++) {
        double w = F.nodecay[k] ? 0 : wd;
        double g = g0[k] + w * R.p[k];
        if (mu != 0) {
            R.b[k] = t > 1 ? mu * R.b[k] + (1 - tau) * g : g;
            g = nest ? g + mu * R.b[k] : R.b[k];
        }
        R.p[k] -= lr * g;
    }
}

/* Adam / AdamW: (AdamW: p -= lr wd p); (Adam: g += wd p); m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) */
static void ref_adam(const double *g0, int t, double lr, double b1, double b2, double eps, double wd, int decoupled)
{
    for (size_t k = 0; k < F.n; k++) {
        double w = F.nodecay[k] ? 0 : wd;
        double g = g0[k];
        if (decoupled) R.p[k] -= lr * w * R.p[k];
        else g += w * R.p[k];
        R.m[k] = b1 * R.m[k] + (1 - b1) * g;
        R.v[k] = b2 * R.v[k] + (1 - b2) * g * g;
        double mh = R.m[k] / (1 - pow(b1, t)), vh = R.v[k] / (1 - pow(b2, t));
        R.p[k] -= lr * mh / (sqrt(vh) + eps);
    }
}

/* RMSprop: g += wd p; v = a v + (1-a) g^2; vt = v; centered: ga = a ga + (1-a) g,
 * vt -= ga^2; mu > 0: b = mu b + g / (sqrt(vt) + eps), p -= lr b; else p -= lr g / (sqrt(vt) + eps) */
static void ref_rmsprop(const double *g0, double lr, double a, double eps, double mu, int centered, double wd)
{
    for (size_t k = 0; k < F.n; k++) {
        double w = F.nodecay[k] ? 0 : wd;
        double g = g0[k] + w * R.p[k];
        R.v[k] = a * R.v[k] + (1 - a) * g * g;
        double vt = R.v[k];
        if (centered) {
            R.ga[k] = a * R.ga[k] + (1 - a) * g;
            vt -= R.ga[k] * R.ga[k];
        }
        if (mu > 0) {
            R.b[k] = mu * R.b[k] + g / (sqrt(vt) + eps);
            R.p[k] -= lr * R.b[k];
        } else {
            R.p[k] -= lr * g / (sqrt(vt) + eps);
        }
    }
}

/* Adagrad: clr = lr / (1 + (t-1) decay); g += wd p; sum += g^2; p -= clr g / (sqrt(sum) + eps) */
static void ref_adagrad(const double *g0, int t, double lr, double decay, double eps, double wd)
{
    double clr = lr / (1 + (t - 1) * decay);
    for (size_t k = 0; k < F.n; k++) {
        double w = F.nodecay[k] ? 0 : wd;
        double g = g0[k] + w * R.p[k];
        R.v[k] += g * g;
        R.p[k] -= clr * g / (sqrt(R.v[k]) + eps);
    }
}

/* StableAdamW: AdamW with, per tensor, lr_t = lr / max(1, RMS(g^2 / max(v^, eps^2)))
 * over the tensor's elements, v^ = v / (1-b2^t) the updated second moment;
 * p -= lr_t wd p; p -= lr_t m^ / (sqrt(v^) + eps). Returns the smallest
 * lr_t / lr of the step (1: no tensor was clipped). */
static double ref_stableadamw(const double *g0, int t, double lr, double b1, double b2, double eps, double wd)
{
    double sum[NT + 2] = {0}, cnt[NT + 2] = {0}, bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t), least = 1;
    for (size_t k = 0; k < F.n; k++) {
        double g = g0[k];
        R.m[k] = b1 * R.m[k] + (1 - b1) * g;
        R.v[k] = b2 * R.v[k] + (1 - b2) * g * g;
        sum[F.tensor[k]] += g * g / fmax(R.v[k] / bc2, eps * eps);
        cnt[F.tensor[k]] += 1;
    }
    for (size_t k = 0; k < F.n; k++) {
        int i = F.tensor[k];
        double lrt = lr / fmax(1, sqrt(sum[i] / cnt[i]));
        least = fmin(least, lrt / lr);
        double w = F.nodecay[k] ? 0 : wd;
        R.p[k] -= lrt * w * R.p[k];
        R.p[k] -= lrt * (R.m[k] / bc1) / (sqrt(R.v[k] / bc2) + eps);
    }
    return least;
}

/* ---- each optimizer, three steps --------------------------------------------- */

static void run_case(const char *what, gg_optim_config c, int big)
{
    make(big);
    gg_optim *o = gg_optim_new(F.g, &c);
    GT_CHECK(o != NULL, "%s: %s", what, gg_errmsg());
    if (!o) return;
    ref_load();
    if (c.kind == GG_OPT_ADAGRAD)
        for (size_t k = 0; k < F.n; k++) R.v[k] = c.initial_accumulator;
    static double g[NMAX];
    int clipped = 0;
    for (int s = 0; s < 3; s++) {
        set_grads(s, g);
        /* the schedule's rate changes from step to step */
        double lr = c.lr * (1 - 0.2 * s);
        GT_OK(gg_optim_step(o, (float)lr));
        switch (c.kind) {
        case GG_OPT_SGD: ref_sgd(g, s + 1, lr, c.momentum, c.dampening, c.nesterov, c.weight_decay); break;
        case GG_OPT_ADAM: ref_adam(g, s + 1, lr, c.beta1, c.beta2, c.eps, c.weight_decay, 0); break;
        case GG_OPT_ADAMW: ref_adam(g, s + 1, lr, c.beta1, c.beta2, c.eps, c.weight_decay, 1); break;
        case GG_OPT_RMSPROP: ref_rmsprop(g, lr, c.alpha, c.eps, c.momentum, c.centered, c.weight_decay); break;
        case GG_OPT_ADAGRAD: ref_adagrad(g, s + 1, lr, c.lr_decay, c.eps, c.weight_decay); break;
        case GG_OPT_STABLEADAMW:
            clipped |= ref_stableadamw(g, s + 1, lr, c.beta1, c.beta2, c.eps, c.weight_decay) < 0.99;
            break;
        default: break;
        }
        compare(R.p, what, s);
    }
    GT_CHECK(gg_optim_steps(o) == 3, "%s: steps %llu", what, (unsigned long long)gg_optim_steps(o));
    /* the growing gradients must make StableAdamW clip, or its case tests only AdamW */
    if (c.kind == GG_OPT_STABLEADAMW) GT_CHECK(clipped, "%s: no step was clipped", what);
    gg_optim_free(o);
}

static void test_against_reference(void)
{
    gg_optim_config c = gg_optim_defaults(GG_OPT_SGD);
    c.lr = 0.1f;
    run_case("sgd", c, 0);
    c.momentum = 0.9f;
    c.dampening = 0.3f;
    run_case("sgd momentum dampening", c, 0);
    c.dampening = 0;
    c.nesterov = 1;
    c.weight_decay = 0.05f;
    run_case("sgd nesterov weight_decay", c, 0);

    c = gg_optim_defaults(GG_OPT_ADAM);
    c.lr = 0.01f;
    run_case("adam", c, 0);
    c.beta1 = 0.8f;
    c.beta2 = 0.95f;
    c.eps = 1e-3f;
    c.weight_decay = 0.1f;
    run_case("adam betas eps weight_decay", c, 0);
    c = gg_optim_defaults(GG_OPT_ADAMW);
    c.lr = 0.01f;
    c.weight_decay = 0.5f;
    run_case("adamw", c, 0);
    run_case("adamw, a big tensor (parallel)", c, 1);

    c = gg_optim_defaults(GG_OPT_STABLEADAMW);
    c.lr = 0.01f;
    run_case("stableadamw", c, 0);
    c.beta1 = 0.8f;
    c.beta2 = 0.95f;
    c.weight_decay = 0.5f;
    run_case("stableadamw betas weight_decay, a big tensor (parallel)", c, 1);

    c = gg_optim_defaults(GG_OPT_RMSPROP);
    run_case("rmsprop", c, 0);
    c.alpha = 0.9f;
    c.momentum = 0.5f;
    c.centered = 1;
    c.weight_decay = 0.01f;
    c.eps = 1e-4f;
    run_case("rmsprop centered momentum weight_decay", c, 0);
    c.centered = 0;
    run_case("rmsprop momentum", c, 1);

    c = gg_optim_defaults(GG_OPT_ADAGRAD);
    c.lr = 0.1f;
    run_case("adagrad", c, 0);
    c.lr_decay = 0.5f;
    c.initial_accumulator = 0.2f;
    c.weight_decay = 0.1f;
    run_case("adagrad lr_decay initial_accumulator weight_decay", c, 1);
}

/* ---- a few steps by hand ---------------------------------------------------------- */

static void fill(float v, float gv)
{
    for (size_t k = 0; k < F.n; k++) {
        F.p[k] = v;
        F.gr[k] = gv;
    }
}

static void test_by_hand(void)
{
    make(0);
    /* SGD, momentum 0.9, lr 0.1, p = 1, g = 1 twice:
     * step 1: buf = 1, p = 1 - 0.1 = 0.9; step 2: buf = 0.9 + 1 = 1.9, p = 0.9 - 0.19 = 0.71 */
    gg_optim_config c = gg_optim_defaults(GG_OPT_SGD);
    c.lr = 0.1f;
    c.momentum = 0.9f;
    gg_optim *o = gg_optim_new(F.g, &c);
    fill(1, 1);
    GT_OK(gg_optim_step(o, 0.1f));
    GT_NEAR(F.p[0], 0.9, 1e-6, 0, "sgd momentum step 1");
    GT_OK(gg_optim_step(o, 0.1f));
    GT_NEAR(F.p[0], 0.71, 1e-6, 0, "sgd momentum step 2");
    /* nesterov: step 1 p -= 0.1 (1 + 0.9 * 1) = 1 - 0.19 = 0.81 */
    gg_optim_free(o);
    c.nesterov = 1;
    o = gg_optim_new(F.g, &c);
    fill(1, 1);
    GT_OK(gg_optim_step(o, 0.1f));
    GT_NEAR(F.p[0], 0.81, 1e-6, 0, "sgd nesterov step 1");
    gg_optim_free(o);

    /* Adam step 1: m^ = g, v^ = g^2, p -= lr g / (|g| + eps) = lr sign(g) (almost) */
    c = gg_optim_defaults(GG_OPT_ADAM);
    o = gg_optim_new(F.g, &c);
    fill(1, -3);
    GT_OK(gg_optim_step(o, 0.01f));
    GT_NEAR(F.p[0], 1.01, 1e-6, 0, "adam step 1");
    /* step 2 with g = 1: m = 0.9 (-0.3) + 0.1 = -0.17, m^ = -0.17 / 0.19;
     * v = 0.999 (0.009) + 0.001 = 0.009991, v^ = 0.009991 / 0.001999;
     * p = 1.01 - 0.01 (-0.894737) / 2.235618 = 1.01 + 0.004002 */
    for (size_t k = 0; k < F.n; k++) F.gr[k] = 1;
    GT_OK(gg_optim_step(o, 0.01f));
    GT_NEAR(F.p[0], 1.01 + 0.01 * (0.17 / 0.19) / sqrt(0.009991 / 0.001999), 1e-6, 0, "adam step 2");
    gg_optim_free(o);

    /* AdamW decays before the step: p = 2 (1 - 0.1 * 0.5) - 0.1 * 1 = 1.8 for fc1.weight,
     * fc1.bias (no decay) p = 2 - 0.1 = 1.9 */
    c = gg_optim_defaults(GG_OPT_ADAMW);
    c.weight_decay = 0.5f;
    o = gg_optim_new(F.g, &c);
    fill(2, 4);
    GT_OK(gg_optim_step(o, 0.1f));
    GT_NEAR(F.p[F.info[0].offset], 1.8, 1e-6, 0, "adamw weight");
    GT_NEAR(F.p[F.info[1].offset], 1.9, 1e-6, 0, "adamw bias is not decayed");
    gg_optim_free(o);

    /* StableAdamW, lr 0.01, no decay, every g = 1 then every g = 10 (so RMS is the per-element ratio):
     * step 1: m = 0.1, v = 0.001, v^ = 1 = g^2: ratio 1, no clipping, p = 1 - 0.01 / (1 + 1e-8);
     * step 2: m = 0.09 + 1 = 1.09, v = 0.000999 + 0.1 = 0.100999, 1 - b2^2 = 0.001999,
     *   v^ = 50.52476, ratio = 100 / v^ = 1.979228, RMS = 1.406850, lr_t = 0.01 / 1.406850;
     *   m^ = 1.09 / 0.19 = 5.736842, p -= lr_t 5.736842 / (7.108077 + 1e-8) = 0.005736842.
     * AdamW's step 2 would be 0.01 5.736842 / 7.108077 = 0.008070878: RMS times larger. */
    c = gg_optim_defaults(GG_OPT_STABLEADAMW);
    c.weight_decay = 0;
    o = gg_optim_new(F.g, &c);
    fill(1, 1);
    GT_OK(gg_optim_step(o, 0.01f));
    GT_NEAR(F.p[0], 0.99, 1e-6, 0, "stableadamw step 1");
    for (size_t k = 0; k < F.n; k++) F.gr[k] = 10;
    GT_OK(gg_optim_step(o, 0.01f));
    GT_NEAR(F.p[0], 0.99 - 0.005736842, 2e-7, 0, "stableadamw step 2 is clipped");
    /* the norm is of float differences near 0.99: 1e-5 relative */
    GT_NEAR(gg_optim_update_norms(o)[0], 0.005736842 * 2, 1e-5, 0, "stableadamw update norm (fc1.weight, 4 elements)");
    gg_optim_free(o);

    /* Adagrad, lr 1, lr_decay 1, g = 2 twice: step 1 sum 4, p -= 1 * 2 / 2 = 1;
     * step 2 clr = 1/2, sum 8, p -= 0.5 * 2 / sqrt(8) */
    c = gg_optim_defaults(GG_OPT_ADAGRAD);
    c.lr = 1;
    c.lr_decay = 1;
    o = gg_optim_new(F.g, &c);
    fill(5, 2);
    GT_OK(gg_optim_step(o, 1));
    GT_NEAR(F.p[0], 4, 1e-6, 0, "adagrad step 1");
    GT_OK(gg_optim_step(o, 1));
    GT_NEAR(F.p[0], 4 - 1 / sqrt(8.0), 1e-6, 0, "adagrad step 2");
    gg_optim_free(o);

    /* RMSprop alpha 0.5, g = 2: v = 0.5 * 4 = 2, p -= 0.1 * 2 / sqrt(2) */
    c = gg_optim_defaults(GG_OPT_RMSPROP);
    c.alpha = 0.5f;
    o = gg_optim_new(F.g, &c);
    fill(1, 2);
    GT_OK(gg_optim_step(o, 0.1f));
    GT_NEAR(F.p[0], 1 - 0.2 / sqrt(2.0), 1e-6, 0, "rmsprop step 1");
    gg_optim_free(o);
    /* centered: ga = 1, v = 2, avg = sqrt(2 - 1) = 1, p -= 0.1 * 2 */
    c.centered = 1;
    o = gg_optim_new(F.g, &c);
    fill(1, 2);
    GT_OK(gg_optim_step(o, 0.1f));
    GT_NEAR(F.p[0], 0.8, 1e-6, 0, "rmsprop centered step 1");
    gg_optim_free(o);
}

/* ---- groups, no-decay default, penalties -------------------------------------------- */

static float pv(int tensor, int k) { return F.p[F.info[tensor].offset + (size_t)k]; }

static void test_groups(void)
{
    make(0);
    gg_optim_config c = gg_optim_defaults(GG_OPT_SGD);
    c.weight_decay = 0.1f;
    gg_optim *o = gg_optim_new(F.g, &c);
    GT_CHECK(F.info[1].no_decay == 1 && F.info[0].no_decay == 0, "no_decay flags");
    GT_OK(gg_optim_add_group(o, "fc1.*", 0.1f, 0.1f, 0, 0));
    /* p = 1, g = 1, lr 1: fc1.weight: 1 - 0.1 (1 + 0.1) = 0.89; fc1.bias (no decay,
     * the pattern does not name it): 1 - 0.1 = 0.9; fc2.weight: 1 - (1 + 0.1) = -0.1 */
    fill(1, 1);
    GT_OK(gg_optim_step(o, 1));
    GT_NEAR(pv(0, 0), 0.89, 1e-6, 0, "fc1.weight in the group");
    GT_NEAR(pv(1, 2), 0.9, 1e-6, 0, "fc1.bias in the group, not decayed");
    GT_NEAR(pv(2, 1), -0.1, 1e-6, 1e-7, "fc2.weight, default group");
    /* a later group that names biases explicitly decays them; it wins for fc1.bias */
    GT_OK(gg_optim_add_group(o, "*.bias", 2, 0.5f, 0, 0));
    fill(1, 1);
    GT_OK(gg_optim_step(o, 1));
    GT_NEAR(pv(1, 0), 1 - 2 * 1.5, 1e-6, 0, "*.bias group: lr 2, decay 0.5");
    GT_NEAR(pv(0, 0), 0.89, 1e-6, 0, "fc1.weight unchanged by the bias group");
    /* errors: a pattern matching nothing, negative coefficients */
    gg_status s = gg_optim_add_group(o, "fc3.*", 1, 0, 0, 0);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "fc3.*") && strstr(gg_errmsg(), "matches no parameter"), "%s",
             gg_errmsg());
    s = gg_optim_add_group(o, "fc1.*", -1, 0, 0, 0);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "lr_scale = -1"), "%s", gg_errmsg());
    s = gg_optim_add_group(o, "fc1.*", 1, 0, NAN, 0);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "l1 = nan"), "%s", gg_errmsg());
    s = gg_optim_add_group(o, "", 1, 0, 0, 0);
    GT_CHECK(s == GG_E_ARG, "empty pattern");
    /* a factor set while training multiplies the group's rate, decay
     * included (decay is lr * wd), and outlives a group added later */
    GT_CHECK(gg_optim_tensor_lr(o, 2) == 1, "the factor starts at 1");
    GT_OK(gg_optim_set_tensor_lr(o, 2, 0.5f));
    GT_OK(gg_optim_add_group(o, "fc1.*", 0.1f, 0.1f, 0, 0));
    fill(1, 1);
    GT_OK(gg_optim_step(o, 1));
    GT_NEAR(pv(2, 1), 1 - 0.5 * 1.1, 1e-6, 0, "fc2.weight at half its rate");
    GT_NEAR(pv(0, 0), 0.89, 1e-6, 0, "fc1.weight at its group's rate");
    GT_CHECK(gg_optim_tensor_lr(o, 2) == 0.5f && gg_optim_tensor_lr(o, 9) == 0, "the factors read back");
    GT_CHECK(gg_optim_set_tensor_lr(o, 3, 1) == GG_E_ARG && strstr(gg_errmsg(), "tensor 3"), "%s", gg_errmsg());
    GT_CHECK(gg_optim_set_tensor_lr(o, 0, NAN) == GG_E_ARG && strstr(gg_errmsg(), "fc1.weight"), "%s", gg_errmsg());
    gg_optim_free(o);
}

static void test_penalty(void)
{
    make(0);
    gg_optim_config c = gg_optim_defaults(GG_OPT_SGD);
    gg_optim *o = gg_optim_new(F.g, &c);
    GT_CHECK(gg_optim_penalty(o) == 0, "no penalty set");
    GT_OK(gg_optim_set_penalty(o, 0.1f, 0.2f));
    /* p = k - 3 (0 at k = 3: sign 0), grads zero */
    static double wantg[NMAX]; /* static: large arrays stay off the stack */
    double want = 0;
    for (size_t k = 0; k < F.n; k++) {
        double p = (double)k - 3;
        F.p[k] = (float)p;
        F.gr[k] = 0.5f;
        int decay = !F.nodecay[k];
        double sg = p > 0 ? 1 : p < 0 ? -1 : 0;
        want += decay ? 0.1 * fabs(p) + 0.1 * p * p : 0; /* l2/2 p^2 = 0.1 p^2 */
        wantg[k] = 0.5 + (decay ? 0.1 * sg + 0.2 * p : 0);
    }
    double got = gg_optim_penalty(o);
    GT_NEAR(got, want, 1e-6, 0, "penalty value");
    for (size_t k = 0; k < F.n; k++) GT_NEAR(F.gr[k], wantg[k], 1e-6, 1e-7, "penalty gradient element %zu", k);
    /* by hand for fc1.weight = (-3, -2, -1, 0): 0.1 * 6 + 0.1 * 14 = 2.0; fc2.weight = (4, 5, 6):
     * 0.1 * 15 + 0.1 * 77 = 9.2; fc1.bias excluded */
    GT_NEAR(got, 11.2, 1e-6, 0, "penalty by hand");
    /* an explicit group gives the bias an L2 of its own; the rest keeps the default */
    GT_OK(gg_optim_add_group(o, "fc1.bias", 1, 0, 0, 1));
    for (size_t k = 0; k < F.n; k++) F.gr[k] = 0;
    got = gg_optim_penalty(o);
    /* fc1.bias = (1, 2, 3): 1/2 (1 + 4 + 9) = 7 */
    GT_NEAR(got, 11.2 + 7, 1e-6, 0, "penalty with the bias group");
    GT_NEAR(pv(1, 2), 3, 0, 0, "params untouched");
    GT_NEAR(F.gr[F.info[1].offset + 2], 3, 1e-6, 0, "bias L2 gradient");
    gg_status s = gg_optim_set_penalty(o, -0.1f, 0);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "l1 = -0.1"), "%s", gg_errmsg());
    gg_optim_free(o);
}

/* ---- state: layout, reset, update norms ------------------------------------------------- */

static void test_state(void)
{
    make(0);
    gg_optim_config c = gg_optim_defaults(GG_OPT_SGD);
    gg_optim *o = gg_optim_new(F.g, &c);
    size_t ns = 99;
    GT_CHECK(gg_optim_state(o, &ns) == NULL && ns == 0, "plain SGD has no state (%zu)", ns);
    gg_optim_free(o);

    c = gg_optim_defaults(GG_OPT_ADAM);
    o = gg_optim_new(F.g, &c);
    float *st = gg_optim_state(o, &ns);
    GT_CHECK(st && ns == 2 * F.n + NT, "adam state %zu floats, want %zu", ns, 2 * F.n + NT);
    size_t off, len;
    GT_OK(gg_optim_state_view(o, 1, &off, &len));
    GT_CHECK(off == 2 * F.info[0].numel && len == 2 * F.info[1].numel, "view of tensor 1: %zu + %zu", off, len);
    GT_CHECK(gg_optim_state_view(o, NT, &off, &len) == GG_E_ARG, "view out of range");

    static double g[NMAX];
    ref_load();
    static float before[NMAX];
    for (int s = 0; s < 2; s++) {
        set_grads(s, g);
        memcpy(before, F.p, F.n * sizeof(float));
        GT_OK(gg_optim_step(o, 0.01f));
        ref_adam(g, s + 1, 0.01, 0.9, 0.999, 1e-8, 0, 0);
        /* update norms: the change of each tensor, measured here */
        const double *un = gg_optim_update_norms(o);
        for (int i = 0; i < NT; i++) {
            double sq = 0;
            for (size_t k = 0; k < F.info[i].numel; k++) {
                double d = (double)F.p[F.info[i].offset + k] - before[F.info[i].offset + k];
                sq += d * d;
            }
            GT_NEAR(un[i], sqrt(sq), 1e-6, 1e-12, "update norm of tensor %d, step %d", i, s + 1);
        }
    }
    compare(R.p, "adam before reset", 1);
    /* per-tensor step counts in the tail */
    GT_CHECK(st[2 * F.n] == 2 && st[2 * F.n + 1] == 2 && st[2 * F.n + 2] == 2, "counts %g %g %g", st[2 * F.n],
             st[2 * F.n + 1], st[2 * F.n + 2]);
    /* forget fc1.bias: its moments are zero and its next step is a first step */
    GT_OK(gg_optim_reset(o, 1));
    int zero = 1;
    for (size_t k = 0; k < len; k++) zero &= st[off + k] == 0;
    GT_CHECK(zero && st[2 * F.n + 1] == 0, "tensor 1's state was not cleared");
    GT_CHECK(st[0] != 0 && st[2 * F.n] == 2, "tensor 0's state was touched");
    set_grads(2, g);
    GT_OK(gg_optim_step(o, 0.01f));
    for (size_t k = 0; k < F.n; k++)
        if (F.tensor[k] == 1) R.m[k] = R.v[k] = 0;
    /* the reference: step 3 for tensors 0 and 2, step 1 for tensor 1 */
    static double keep[NMAX];
    memcpy(keep, R.p, sizeof(double) * F.n);
    ref_adam(g, 3, 0.01, 0.9, 0.999, 1e-8, 0, 0);
    static double p3[NMAX];
    memcpy(p3, R.p, sizeof(double) * F.n);
    for (size_t k = 0; k < F.n; k++) {
        if (F.tensor[k] != 1) continue;
        /* the first Adam step moves by lr * sign(g) */
        p3[k] = keep[k] - 0.01 * (g[k] > 0 ? 1 : -1);
    }
    compare(p3, "adam after resetting fc1.bias", 2);
    GT_CHECK(gg_optim_reset(o, 3) == GG_E_ARG && strstr(gg_errmsg(), "tensor 3"), "%s", gg_errmsg());
    GT_OK(gg_optim_reset(o, -1));
    for (size_t k = 0; k < ns; k++) zero &= st[k] == 0;
    GT_CHECK(zero, "reset(-1) left state behind");
    /* steps: global, settable, and not the per-tensor counts */
    GT_CHECK(gg_optim_steps(o) == 3, "steps %llu", (unsigned long long)gg_optim_steps(o));
    gg_optim_set_steps(o, 41);
    GT_CHECK(gg_optim_steps(o) == 41, "set_steps");
    gg_optim_free(o);

    /* Adagrad's state starts (and resets) at initial_accumulator */
    c = gg_optim_defaults(GG_OPT_ADAGRAD);
    c.initial_accumulator = 0.25f;
    o = gg_optim_new(F.g, &c);
    st = gg_optim_state(o, &ns);
    GT_CHECK(ns == F.n + NT && st[0] == 0.25f && st[F.n - 1] == 0.25f && st[F.n] == 0, "adagrad initial state");
    set_grads(0, g);
    GT_OK(gg_optim_step(o, 0.1f));
    GT_OK(gg_optim_reset(o, 0));
    GT_CHECK(st[0] == 0.25f && st[F.n] == 0 && st[F.n + 1] == 1, "adagrad reset");
    gg_optim_free(o);

    /* RMSprop centered with momentum keeps three vectors per element */
    c = gg_optim_defaults(GG_OPT_RMSPROP);
    c.centered = 1;
    c.momentum = 0.9f;
    o = gg_optim_new(F.g, &c);
    gg_optim_state(o, &ns);
    GT_CHECK(ns == 3 * F.n + NT, "rmsprop centered momentum state %zu", ns);
    gg_optim_free(o);
}

/* ---- L-BFGS, one iteration per step ------------------------------------------------------- */

/* f = 1/2 sum c_k p_k^2, so g = c p */
static double lb_c(size_t k) { return 1 + (double)(k % 5); }
static void lb_grads(void)
{
    for (size_t k = 0; k < F.n; k++) F.gr[k] = (float)(lb_c(k) * F.p[k]);
}

static void test_lbfgs_step(void)
{
    make(0);
    gg_optim_config c = gg_optim_defaults(GG_OPT_LBFGS);
    GT_CHECK(c.lr == 1 && c.lbfgs_history == 10, "lbfgs defaults");
    gg_optim *o = gg_optim_new(F.g, &c);
    size_t ns;
    gg_optim_state(o, &ns);
    GT_CHECK(ns == 22 * F.n + 10 + 5, "lbfgs state %zu", ns);
    static double p0[NMAX], g0[NMAX];
    for (size_t k = 0; k < F.n; k++) p0[k] = F.p[k];
    lb_grads();
    double g1 = 0;
    for (size_t k = 0; k < F.n; k++) g1 += fabs(F.gr[k]), g0[k] = F.gr[k];
    /* step 1: p -= min(1, 1/|g|_1) lr g */
    double t = fmin(1, 1 / g1) * 0.5;
    GT_OK(gg_optim_step(o, 0.5f));
    static double p1[NMAX];
    for (size_t k = 0; k < F.n; k++) {
        p1[k] = p0[k] - t * g0[k];
        GT_NEAR(F.p[k], p1[k], 1e-5, 1e-7, "lbfgs step 1 element %zu", k);
    }
    /* step 2: one pair s = p1 - p0, y = g1 - g0; H = (I - r s y') H0 (I - r y s') + r s s',
     * H0 = s'y / y'y, r = 1 / s'y; p2 = p1 - lr H g1, written as matrix algebra here */
    lb_grads();
    static double s[NMAX], y[NMAX], gg[NMAX];
    double sy = 0, yy = 0;
    for (size_t k = 0; k < F.n; k++) {
        s[k] = (double)F.p[k] - p0[k];
        gg[k] = F.gr[k];
        y[k] = gg[k] - g0[k];
        sy += s[k] * y[k];
        yy += y[k] * y[k];
    }
    double r = 1 / sy, h0 = sy / yy;
    /* H g = h0 (g - r y (s'g)) - r s (y' h0 (g - r y s'g)) + r s (s'g) */
    double sg = 0, yv = 0;
    for (size_t k = 0; k < F.n; k++) sg += s[k] * gg[k];
    static double v[NMAX];
    for (size_t k = 0; k < F.n; k++) {
        v[k] = h0 * (gg[k] - r * y[k] * sg);
        yv += y[k] * v[k];
    }
    static double p2[NMAX];
    for (size_t k = 0; k < F.n; k++) {
        double hg = v[k] - r * s[k] * yv + r * s[k] * sg;
        p2[k] = F.p[k] - 0.5 * hg;
    }
    GT_OK(gg_optim_step(o, 0.5f));
    for (size_t k = 0; k < F.n; k++) GT_NEAR(F.p[k], p2[k], 1e-5, 1e-7, "lbfgs step 2 element %zu", k);
    /* keep going with lr 1: the quadratic's minimum is 0 */
    double f0 = 0, f = 0;
    for (size_t k = 0; k < F.n; k++) f0 += 0.5 * lb_c(k) * p0[k] * p0[k];
    for (int i = 0; i < 30; i++) {
        lb_grads();
        GT_OK(gg_optim_step(o, 1));
    }
    for (size_t k = 0; k < F.n; k++) f += 0.5 * lb_c(k) * F.p[k] * F.p[k];
    GT_CHECK(f < 1e-8 * f0, "lbfgs steps did not minimise the quadratic: f %g from %g", f, f0);
    /* a reset forgets the history: the next step is a scaled steepest-descent one */
    for (size_t k = 0; k < F.n; k++) F.p[k] = (float)p0[k];
    GT_OK(gg_optim_reset(o, 2));
    lb_grads();
    GT_OK(gg_optim_step(o, 0.5f));
    for (size_t k = 0; k < F.n; k++) GT_NEAR(F.p[k], p1[k], 1e-5, 1e-7, "lbfgs after reset, element %zu", k);
    const double *un = gg_optim_update_norms(o);
    double sq = 0;
    for (size_t k = F.info[0].offset; k < F.info[0].offset + F.info[0].numel; k++)
        sq += (p1[k] - p0[k]) * (p1[k] - p0[k]);
    GT_NEAR(un[0], sqrt(sq), 1e-5, 1e-9, "lbfgs update norm");
    /* groups: L-BFGS has one step for everything */
    gg_status st = gg_optim_add_group(o, "fc1.*", 0.5f, 0, 0, 0);
    GT_CHECK(st == GG_E_ARG && strstr(gg_errmsg(), "lr_scale"), "%s", gg_errmsg());
    GT_OK(gg_optim_add_group(o, "fc1.*", 1, 0, 0, 0.1f));
    gg_optim_free(o);
}

/* ---- update norms on request ------------------------------------------------------------- */

/* gg_optim_set_update_norms(o, 0): Adam measures the norms only at a step
 * announced by gg_optim_want_update_norms, the same values as when it
 * measures every step; a non-finite update is reported at every step. */
static void test_norms_on_request(void)
{
    make(1);
    gg_optim_config c = gg_optim_defaults(GG_OPT_ADAM);
    gg_optim *a = gg_optim_new(F.g, &c);
    static double g[NMAX];
    static float p0[NMAX], pa[NMAX], before[NMAX];
    memcpy(p0, F.p, F.n * sizeof(float));
    /* a: every step (the default) */
    for (int s = 0; s < 3; s++) {
        set_grads(s, g);
        GT_OK(gg_optim_step(a, 0.01f));
    }
    double ref[NT + 1];
    memcpy(ref, gg_optim_update_norms(a), (NT + 1) * sizeof(double));
    memcpy(pa, F.p, F.n * sizeof(float));
    gg_optim_free(a);
    /* b: on request, asked before the third step only */
    memcpy(F.p, p0, F.n * sizeof(float));
    gg_optim *b = gg_optim_new(F.g, &c);
    gg_optim_set_update_norms(b, 0);
    for (int s = 0; s < 3; s++) {
        set_grads(s, g);
        if (s == 2) gg_optim_want_update_norms(b);
        memcpy(before, F.p, F.n * sizeof(float));
        GT_OK(gg_optim_step(b, 0.01f));
        GT_CHECK(gg_optim_bad_update(b) == -1, "step %d: a finite update reported as bad", s + 1);
        const double *un = gg_optim_update_norms(b);
        for (int i = 0; i <= NT; i++) {
            if (s < 2) {
                GT_CHECK(un[i] == 0, "step %d: tensor %d's norm %g measured unasked", s + 1, i, un[i]);
                continue;
            }
            double sq = 0;
            for (size_t k = F.info[i].offset; k < F.info[i].offset + F.info[i].numel; k++)
                sq += ((double)F.p[k] - before[k]) * ((double)F.p[k] - before[k]);
            GT_NEAR(un[i], sqrt(sq), 1e-6, 1e-12, "asked-for norm of tensor %d", i);
            GT_NEAR(un[i], ref[i], 0, 1e-12, "tensor %d: the norm measured every step", i);
        }
    }
    /* the weights do not depend on the mode */
    GT_CHECK(memcmp(F.p, pa, F.n * sizeof(float)) == 0, "weights differ between the two modes");
    /* unasked, with a NaN gradient in tensor 2: reported, the norms kept */
    set_grads(3, g);
    F.gr[F.info[2].offset] = NAN;
    GT_OK(gg_optim_step(b, 0.01f));
    GT_CHECK(gg_optim_bad_update(b) == 2, "bad update in tensor %d, want 2", gg_optim_bad_update(b));
    GT_CHECK(isfinite(gg_optim_update_norms(b)[2]), "an unasked step overwrote the norm");
    set_grads(4, g);
    gg_optim_want_update_norms(b);
    GT_OK(gg_optim_step(b, 0.01f));
    GT_CHECK(gg_optim_bad_update(b) == 2 && !isfinite(gg_optim_update_norms(b)[2]),
             "asked: bad update %d, norm %g", gg_optim_bad_update(b), gg_optim_update_norms(b)[2]);
    gg_optim_free(b);
}

/* ---- bad hyper-parameters ---------------------------------------------------------------- */

static void expect_bad(gg_optim_config c, const char *needle1, const char *needle2)
{
    gg_optim *o = gg_optim_new(F.g, &c);
    GT_CHECK(o == NULL, "accepted a config that should fail with '%s'", needle1);
    gg_optim_free(o);
    GT_CHECK(strstr(gg_errmsg(), needle1) && strstr(gg_errmsg(), needle2), "message '%s' lacks '%s' / '%s'",
             gg_errmsg(), needle1, needle2);
}

static void test_bad_config(void)
{
    make(0);
    gg_optim_config c = gg_optim_defaults(GG_OPT_SGD);
    c.lr = -0.1f;
    expect_bad(c, "lr = -0.1", "sgd");
    c = gg_optim_defaults(GG_OPT_SGD);
    c.momentum = -0.5f;
    expect_bad(c, "momentum = -0.5", "[0, 1)");
    c = gg_optim_defaults(GG_OPT_SGD);
    c.nesterov = 1;
    expect_bad(c, "nesterov", "momentum = 0");
    c.momentum = 0.9f;
    c.dampening = 0.1f;
    expect_bad(c, "nesterov", "dampening = 0.1");
    c = gg_optim_defaults(GG_OPT_SGD);
    c.weight_decay = -1;
    expect_bad(c, "weight_decay = -1", ">= 0");
    c = gg_optim_defaults(GG_OPT_ADAM);
    c.beta1 = 1;
    expect_bad(c, "beta1 = 1", "[0, 1)");
    c = gg_optim_defaults(GG_OPT_ADAMW);
    c.beta2 = -0.1f;
    expect_bad(c, "beta2 = -0.1", "adamw");
    c = gg_optim_defaults(GG_OPT_ADAM);
    c.eps = 0;
    expect_bad(c, "eps = 0", "> 0");
    c = gg_optim_defaults(GG_OPT_ADAM);
    c.lr = NAN;
    expect_bad(c, "lr = nan", "finite");
    c = gg_optim_defaults(GG_OPT_STABLEADAMW);
    c.beta2 = 1;
    expect_bad(c, "beta2 = 1", "stableadamw");
    c = gg_optim_defaults(GG_OPT_RMSPROP);
    c.alpha = 1;
    expect_bad(c, "alpha = 1", "rmsprop");
    c = gg_optim_defaults(GG_OPT_RMSPROP);
    c.eps = -1e-8f;
    expect_bad(c, "eps = -1e-08", "rmsprop");
    c = gg_optim_defaults(GG_OPT_ADAGRAD);
    c.lr_decay = -1;
    expect_bad(c, "lr_decay = -1", "adagrad");
    c = gg_optim_defaults(GG_OPT_ADAGRAD);
    c.initial_accumulator = -0.5f;
    expect_bad(c, "initial_accumulator = -0.5", "adagrad");
    c = gg_optim_defaults(GG_OPT_LBFGS);
    c.lbfgs_history = -3;
    expect_bad(c, "lbfgs_history = -3", "lbfgs");
    c = gg_optim_defaults(GG_OPT_LBFGS);
    c.weight_decay = 0.1f;
    expect_bad(c, "weight_decay = 0.1", "penalty");
    c = gg_optim_defaults(GG_OPT_SGD);
    c.kind = GG_OPT_COUNT;
    char kind_msg[32];
    snprintf(kind_msg, sizeof kind_msg, "kind %d is not one of sgd, adam", (int)GG_OPT_COUNT);
    expect_bad(c, kind_msg, "lbfgs");
    /* fields a kind does not use are not checked */
    c = gg_optim_defaults(GG_OPT_SGD);
    c.beta1 = 7;
    gg_optim *o = gg_optim_new(F.g, &c);
    GT_CHECK(o != NULL, "sgd refused an Adam field: %s", gg_errmsg());
    /* the step's lr */
    gg_status s = gg_optim_step(o, -1);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "lr = -1"), "%s", gg_errmsg());
    s = gg_optim_step(o, INFINITY);
    GT_CHECK(s == GG_E_ARG && strstr(gg_errmsg(), "lr = inf"), "%s", gg_errmsg());
    gg_optim_free(o);
    /* an uncompiled graph */
    gg_graph *g = gg_graph_new(1);
    o = gg_optim_new(g, &c);
    GT_CHECK(o == NULL && strstr(gg_errmsg(), "not compiled"), "%s", gg_errmsg());
    gg_graph_free(g);
    gg_optim_free(NULL);
}

static void test_names(void)
{
    /* every kind has a row in the rule table (a missing one has no name) */
    for (int k = 0; k < GG_OPT_COUNT; k++)
        GT_CHECK(gg_optim_parse(gg_optim_name((gg_optim_kind)k)) == (gg_optim_kind)k, "round trip %d", k);
    GT_CHECK(gg_optim_parse("adamw") == GG_OPT_ADAMW && gg_optim_parse("Adam") == GG_OPT_COUNT, "parse");
    GT_CHECK(gg_optim_name(GG_OPT_COUNT) == NULL && gg_optim_parse(NULL) == GG_OPT_COUNT, "unknown");
    gg_optim_config c = gg_optim_defaults(GG_OPT_ADAMW);
    GT_CHECK(c.lr == 1e-3f && c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f && c.weight_decay == 1e-2f,
             "adamw defaults");
    c = gg_optim_defaults(GG_OPT_ADAGRAD);
    GT_CHECK(c.lr == 1e-2f && c.eps == 1e-10f && c.lr_decay == 0 && c.initial_accumulator == 0, "adagrad defaults");
    c = gg_optim_defaults(GG_OPT_STABLEADAMW);
    GT_CHECK(c.lr == 1e-3f && c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f && c.weight_decay == 1e-2f,
             "stableadamw defaults");
    GT_CHECK(gg_optim_parse("stableadamw") == GG_OPT_STABLEADAMW, "parse stableadamw");
    c = gg_optim_defaults(GG_OPT_RMSPROP);
    GT_CHECK(c.lr == 1e-2f && c.alpha == 0.99f && c.eps == 1e-8f && c.momentum == 0 && !c.centered,
             "rmsprop defaults");
}

int main(void)
{
    test_names();
    test_against_reference();
    test_by_hand();
    test_groups();
    test_penalty();
    test_state();
    test_lbfgs_step();
    test_norms_on_request();
    test_bad_config();
    gg_graph_free(F.g);
    return gt_done("test_optim");
}

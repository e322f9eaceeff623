/*
 * test_parity_driver.c - the C side of the PyTorch comparisons
 * (tests/parity.sh, tests/interop.sh; the Python side is tests/parity/).
 * Every model is built through the public API only, with PyTorch's
 * parameter names, so the same safetensors file loads on both sides.
 *
 *   test_parity_driver run MODEL DIR [STEPS [SEED]]
 *       writes DIR/init.safetensors (the initial weights), DIR/x.bin and
 *       DIR/y.bin (NB fixed batches, raw float32), DIR/manifest.txt, and for
 *       SGD-momentum and AdamW DIR/<opt>.log (per step: loss, global gradient
 *       norm, whether the guard's norm clipping clipped), DIR/<opt>_w.bin
 *       (the parameter arena before each step, raw float32; offsets in the
 *       manifest) and DIR/<opt>_final.safetensors. max_norm is set so that 30-70% of the
 *       steps clip: both decisions occur.
 *   test_parity_driver eval MODEL WEIGHTS X N OUT [import]
 *       loads WEIGHTS (gg_model_load, or gg_model_import with "import"), runs
 *       the model in evaluation mode on the N samples of X and writes its
 *       outputs (raw float32) to OUT.
 *   test_parity_driver save MODEL SEED PATH
 *       initialises MODEL from SEED, trains it 5 AdamW steps on its batches
 *       and saves it with gg_model_save.
 *   test_parity_driver load MODEL PATH [import]
 *       loads PATH into MODEL; prints "ok" (exit 0) or the error (exit 1).
 *
 * MODEL: mlp (784-64-10), cnn (conv 8, pool, conv 16, pool, 32, 10), lstm
 * (hidden 16 on the adding problem, T 20, MSE), rnn (the same with a tanh
 * RNN at spectral radius 1.2, as in gauntlet case 4), attn (pre-norm
 * attention and MLP blocks, D 16, 2 heads, T 8, dense head), fashion-mlp and
 * fashion-cnn
 * (the graphs that configs/fashion-*.yaml build, for CLI-trained weights).
 *
 * Without arguments (as ctest runs it) it checks itself: a saved model
 * loads bit-exactly into a graph initialised from another seed and gives
 * the same outputs; the guard's norm clipping measures the norm that a
 * direct sum over the gradient arena gives and clips to max_norm exactly
 * when the norm is above it; gg_model_import takes PyTorch's LSTM names,
 * names a missing, unexpected, doubled or misshapen tensor (both shapes),
 * leaves the model untouched when it fails, and skips BatchNorm's counter
 * and a checkpoint's optimizer state.
 */
#include "gt.h"

#include "gradguard.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NB 8 /* distinct batches, used in turn */

typedef struct model {
    gg_graph *g;
    gg_node x, y, out, loss;
    int batch;   /* samples per training batch */
    size_t per;  /* input floats per sample */
    int yper;    /* label floats per sample */
    int classes; /* 0: regression */
    int outper;  /* output floats per sample */
} model;

/* The driver's own failures, reported by die() in place of gg_errmsg(). */
static char own_err[512];
static gg_status say(gg_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static gg_status say(gg_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(own_err, sizeof own_err, fmt, ap);
    va_end(ap);
    return s;
}

static int die(const char *what)
{
    fprintf(stderr, "test_parity_driver: %s: %s\n", what, own_err[0] ? own_err : gg_errmsg());
    return 1;
}

/* The graph of `kind` for batches of up to max_batch; initialised from
 * seed, with every 1-D parameter (biases, norm scales) moved off its
 * constant start so that the comparison sees it. */
static gg_status build(const char *kind, int max_batch, uint64_t seed, model *m)
{
    memset(m, 0, sizeof *m);
    gg_graph *g = gg_graph_new(max_batch);
    if (!g) return GG_E_NOMEM;
    m->g = g;
    gg_init relu = gg_init_default(GG_ACT_RELU), lin = gg_init_default(GG_ACT_NONE);
    gg_node h;
    m->yper = 1;
    m->classes = 10;
    if (strcmp(kind, "mlp") == 0) {
        m->batch = 32;
        m->x = gg_input(g, "x", gg_shape1(784));
        h = gg_dense(g, m->x, "fc1", 64, GG_ACT_RELU, relu, 1);
        h = gg_dense(g, h, "fc2", 10, GG_ACT_NONE, lin, 1);
    } else if (strcmp(kind, "cnn") == 0 || strcmp(kind, "fashion-cnn") == 0) {
        int big = kind[0] == 'f';
        m->batch = 16;
        m->x = gg_input(g, big ? "input" : "x", gg_shape3(1, 28, 28));
        h = gg_conv(g, m->x, "conv1", big ? 32 : 8, 5, 1, 2, GG_ACT_RELU, relu);
        gg_graph_scope(g, "pool1");
        h = gg_maxpool2d(g, h, 2, 2, 0);
        h = gg_conv(g, h, "conv2", big ? 64 : 16, 5, 1, 2, GG_ACT_RELU, relu);
        gg_graph_scope(g, "pool2");
        h = gg_maxpool2d(g, h, 2, 2, 0);
        gg_graph_scope(g, NULL);
        h = gg_dense(g, h, "fc1", big ? 128 : 32, GG_ACT_RELU, relu, 1);
        h = gg_dense(g, h, "fc2", 10, GG_ACT_NONE, lin, 1);
    } else if (strcmp(kind, "fashion-mlp") == 0) {
        m->batch = 32;
        m->x = gg_input(g, "input", gg_shape3(1, 28, 28));
        h = gg_dense(g, m->x, "fc1", 256, GG_ACT_RELU, relu, 1);
        h = gg_dense(g, h, "fc2", 128, GG_ACT_RELU, relu, 1);
        h = gg_dense(g, h, "fc3", 10, GG_ACT_NONE, lin, 1);
    } else if (strcmp(kind, "lstm") == 0) {
        m->batch = 32;
        m->classes = 0;
        m->x = gg_input(g, "x", gg_shape2(20, 2));
        gg_init hh = {GG_INIT_LECUN_UNIFORM, 0, 0};
        h = gg_lstm_layer(g, m->x, "lstm1", 16, -1, hh, 1.0f, GG_RNN_LAST);
        h = gg_dense(g, h, "fc", 1, GG_ACT_NONE, lin, 1);
    } else if (strcmp(kind, "rnn") == 0) {
        /* gauntlet case 4's layer, shorter: a tanh RNN whose recurrent
         * weights start at spectral radius 1.2, so the gradient grows with
         * the length */
        m->batch = 32;
        m->classes = 0;
        m->x = gg_input(g, "x", gg_shape2(20, 2));
        gg_init hh = {GG_INIT_SPECTRAL, 1.2f, 0};
        h = gg_rnn_layer(g, m->x, "rnn1", 16, 0, -1, hh, GG_RNN_LAST);
        h = gg_dense(g, h, "fc", 1, GG_ACT_NONE, lin, 1);
    } else if (strcmp(kind, "attn") == 0) {
        m->batch = 32;
        m->classes = 4;
        m->x = gg_input(g, "x", gg_shape2(8, 16));
        h = gg_attention_block(g, m->x, "attn1", 2, 1);
        h = gg_mlp_block(g, h, "mlp1", 32);
        h = gg_flatten(g, h);
        h = gg_dense(g, h, "head", 4, GG_ACT_NONE, lin, 1);
    } else {
        return say(GG_E_ARG, "unknown model '%s' (mlp, cnn, lstm, rnn, attn, fashion-mlp, fashion-cnn)", kind);
    }
    m->out = h;
    m->y = gg_input(g, "y", gg_shape1(1));
    m->loss = m->classes ? gg_softmax_xent(g, h, m->y, 0) : gg_mse(g, h, m->y);
    gg_status s = gg_graph_compile(g);
    if (!s) s = gg_graph_init_params(g, seed);
    if (!s) s = gg_graph_init_recurrent(g, seed ^ 0x5eedull);
    if (s) return s;
    gg_shape xs = gg_graph_shape(g, m->x), os = gg_graph_shape(g, m->out);
    m->per = gg_shape_numel(xs) / (size_t)xs.d[0];
    m->outper = (int)(gg_shape_numel(os) / (size_t)os.d[0]);
    gg_rng r;
    gg_rng_seed(&r, seed + 1);
    size_t n;
    float *p = gg_graph_params(g, &n);
    for (int i = 0; i < gg_graph_num_params(g); i++) {
        gg_param_info pi;
        gg_graph_param(g, i, &pi);
        if (pi.shape.ndim == 1)
            for (size_t k = 0; k < pi.numel; k++) p[pi.offset + k] += (float)(0.1 * gg_rng_normal(&r));
    }
    return GG_OK;
}

/* NB * batch samples: N(0, 1) features labelled by a fixed random linear
 * teacher (argmax), or the adding problem for the LSTM. */
static gg_status make_data(const model *m, uint64_t seed, float *x, float *y)
{
    size_t n = (size_t)NB * (size_t)m->batch;
    if (!m->classes) {
        gg_dataset ds;
        gg_status s = gg_dataset_adding(&ds, n, 20, GG_ADDING_UNIFORM, seed);
        if (s) return s;
        memcpy(x, ds.f32, n * m->per * sizeof *x);
        memcpy(y, ds.labels, n * sizeof *y);
        gg_dataset_free(&ds);
        return GG_OK;
    }
    gg_rng r;
    gg_rng_seed(&r, seed);
    for (size_t i = 0; i < n * m->per; i++) x[i] = (float)gg_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        int best = 0;
        double bv = -1e300;
        for (int c = 0; c < m->classes; c++) {
            double v = 0;
            for (size_t k = 0; k < m->per; k++)
                v += x[i * m->per + k] * (gg_hash_uniform(seed ^ 0x7eac4e2ull, (uint64_t)c * m->per + k) - 0.5);
            if (v > bv) bv = v, best = c;
        }
        y[i] = (float)best;
    }
    return GG_OK;
}

static gg_guard_config clip_norm_only(float max_norm)
{
    gg_guard_config c = gg_guard_defaults();
    c.clip = max_norm > 0 ? GG_CLIP_NORM : GG_CLIP_NONE;
    c.max_norm = max_norm > 0 ? max_norm : 1;
    c.warmup = INT_MAX; /* no spike or trend statistics ever count */
    c.spike_z = c.loss_z = 1e30f;
    c.trend_window = 0;
    c.loss_blowup = 0;
    c.on_spike = c.on_loss_spike = c.on_trend = c.on_blowup = c.on_collapse = GG_DO_NOTHING;
    c.noise_eta = 0;
    c.diagnose = 0;
    c.init_check = 0;
    c.layer_every = 0;
    return c;
}

static gg_optim_config opt_config(int adamw)
{
    gg_optim_config oc = gg_optim_defaults(adamw ? GG_OPT_ADAMW : GG_OPT_SGD);
    if (adamw) {
        oc.lr = 1e-3f;
        oc.weight_decay = 0.01f;
    } else {
        oc.lr = 0.01f;
        oc.momentum = 0.9f;
    }
    return oc;
}

/* `steps` steps from the current weights on batch (step % NB); norms[step]
 * gets the global gradient norm before clipping. log may be NULL. */
static gg_status train(model *m, int adamw, float max_norm, int steps, const float *x, const float *y, FILE *log,
                       FILE *dump, double *norms, int *nclipped)
{
    gg_graph *g = m->g;
    gg_optim_config oc = opt_config(adamw);
    gg_optim *o = gg_optim_new(g, &oc);
    if (!o) return GG_E_ARG;
    gg_guard_config gc = clip_norm_only(max_norm);
    gg_guard *gd = gg_guard_new(g, o, &gc);
    if (!gd) {
        gg_optim_free(o);
        return GG_E_ARG;
    }
    gg_status s = gg_graph_set_batch(g, m->batch);
    if (log) fprintf(log, "max_norm %.9g\nstep loss grad_norm clipped grad_norm_after\n", (double)max_norm);
    size_t bx = (size_t)m->batch * m->per, by = (size_t)m->batch * (size_t)m->yper, np;
    const float *params = gg_graph_params(g, &np);
    for (int t = 0; t < steps && !s; t++) {
        if (dump && fwrite(params, sizeof *params, np, dump) != np) {
            s = say(GG_E_IO, "cannot write the weights of step %d", t);
            break;
        }
        int b = t % NB;
        memcpy(gg_graph_data(g, m->x), x + (size_t)b * bx, bx * sizeof *x);
        memcpy(gg_graph_data(g, m->y), y + (size_t)b * by, by * sizeof *y);
        gg_graph_zero_grad(g);
        s = gg_graph_forward(g, GG_TRAIN, m->loss);
        if (!s) s = gg_graph_backward(g, m->loss, 1.0f);
        if (s) break;
        double loss = gg_graph_scalar(g, m->loss);
        gg_guard_decision d = gg_guard_check(gd, t, 0, loss);
        const gg_guard_stats *st = gg_guard_last(gd);
        if (d.verdict != GG_GUARD_PROCEED) {
            s = say(GG_E_STATE, "step %d: the guard did not proceed (verdict %d)", t, (int)d.verdict);
            break;
        }
        if (norms) norms[t] = st->grad_norm;
        if (nclipped) *nclipped += d.clipped;
        if (log) fprintf(log, "%d %.9g %.17g %d %.17g\n", t, loss, st->grad_norm, d.clipped, st->grad_norm_clipped);
        s = gg_optim_step(o, oc.lr * d.lr_scale);
    }
    gg_guard_free(gd);
    gg_optim_free(o);
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static gg_status write_floats(const char *path, const float *v, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return say(GG_E_IO, "cannot write '%s'", path);
    size_t w = fwrite(v, sizeof *v, n, f);
    if (fclose(f) != 0 || w != n) return say(GG_E_IO, "cannot write '%s'", path);
    return GG_OK;
}

static gg_status read_floats(const char *path, float *v, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return say(GG_E_IO, "cannot read '%s'", path);
    size_t r = fread(v, sizeof *v, n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (r != n || extra) return say(GG_E_FORMAT, "'%s' does not hold exactly %zu float32 values", path, n);
    return GG_OK;
}

static void free_model(model *m) { gg_graph_free(m->g); }

/* ---- run: the parity data for one model ---- */
static int cmd_run(const char *kind, const char *dir, int steps, uint64_t seed)
{
    model m;
    if (steps < 1 || steps > 100000) {
        fprintf(stderr, "test_parity_driver: run: STEPS %d out of range\n", steps);
        return 2;
    }
    if (build(kind, 32, seed, &m)) return die("build");
    char path[4096];
    size_t n = (size_t)NB * (size_t)m.batch, np, nb;
    float *x = malloc(n * m.per * sizeof *x), *y = malloc(n * sizeof *y);
    float *p = gg_graph_params(m.g, &np), *b = gg_graph_buffers(m.g, &nb);
    float *p0 = malloc((np + 1) * sizeof *p0), *b0 = malloc((nb + 1) * sizeof *b0);
    double *norms = malloc((size_t)steps * sizeof *norms);
    if (!x || !y || !p0 || !b0 || !norms) return die("out of memory");
    memcpy(p0, p, np * sizeof *p);
    if (nb) memcpy(b0, b, nb * sizeof *b);
    if (make_data(&m, seed * 31 + 99, x, y)) return die("data");
    snprintf(path, sizeof path, "%s/init.safetensors", dir);
    if (gg_model_save(m.g, path)) return die("save");
    snprintf(path, sizeof path, "%s/x.bin", dir);
    if (write_floats(path, x, n * m.per)) return die("x");
    snprintf(path, sizeof path, "%s/y.bin", dir);
    if (write_floats(path, y, n)) return die("y");
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return die("manifest");
    fprintf(f, "model %s\nbatch %d\nnbatches %d\nsteps %d\nper %zu\nclasses %d\n", kind, m.batch, NB, steps, m.per,
            m.classes);
    for (int i = 0; i < gg_graph_num_params(m.g); i++) {
        gg_param_info pi;
        gg_graph_param(m.g, i, &pi);
        fprintf(f, "param %s %s %zu %zu\n", pi.name, pi.no_decay ? "no_decay" : "decay", pi.offset, pi.numel);
    }
    fclose(f);
    static const char *const names[2] = {"sgd", "adamw"};
    for (int adamw = 0; adamw < 2; adamw++) {
        /* max_norm where some steps clip and others do not: from the median
         * norm of a run without clipping, bisected (geometrically, between
         * that run's extremes) until 30-70% of the clipped run's steps clip */
        if (train(&m, adamw, 0, steps, x, y, NULL, NULL, norms, NULL)) return die("pilot run");
        qsort(norms, (size_t)steps, sizeof *norms, cmp_double);
        double lo = norms[0], hi = norms[steps - 1] * 1.01, mid = norms[steps / 2];
        float max_norm = (float)mid;
        for (int it = 0; it < 10; it++) {
            int clipped = 0;
            memcpy(p, p0, np * sizeof *p);
            if (nb) memcpy(b, b0, nb * sizeof *b);
            max_norm = (float)mid;
            if (train(&m, adamw, max_norm, steps, x, y, NULL, NULL, NULL, &clipped)) return die("calibration run");
            if (clipped > 0.7 * steps) lo = mid;
            else if (clipped < 0.3 * steps) hi = mid;
            else break;
            mid = sqrt(lo * hi);
        }
        memcpy(p, p0, np * sizeof *p);
        if (nb) memcpy(b, b0, nb * sizeof *b);
        snprintf(path, sizeof path, "%s/%s.log", dir, names[adamw]);
        FILE *lf = fopen(path, "w");
        snprintf(path, sizeof path, "%s/%s_w.bin", dir, names[adamw]);
        FILE *wf = fopen(path, "wb");
        if (!lf || !wf) return die("log");
        gg_status s = train(&m, adamw, max_norm, steps, x, y, lf, wf, NULL, NULL);
        if (fclose(lf) != 0 || fclose(wf) != 0) s = say(GG_E_IO, "cannot write the logs in %s", dir);
        if (s) return die("run");
        snprintf(path, sizeof path, "%s/%s_final.safetensors", dir, names[adamw]);
        if (gg_model_save(m.g, path)) return die("save");
        memcpy(p, p0, np * sizeof *p);
        if (nb) memcpy(b, b0, nb * sizeof *b);
    }
    free(x);
    free(y);
    free(p0);
    free(b0);
    free(norms);
    free_model(&m);
    return 0;
}

/* ---- eval: outputs of a loaded model ---- */
static int cmd_eval(const char *kind, const char *weights, const char *xpath, int n, const char *out, int import)
{
    model m;
    if (n < 1 || n > 4096) {
        fprintf(stderr, "test_parity_driver: eval: N %d out of range\n", n);
        return 2;
    }
    if (build(kind, n, 1, &m)) return die("build");
    if (import ? gg_model_import(m.g, weights) : gg_model_load(m.g, weights)) return die("load");
    if (gg_graph_set_batch(m.g, n) || read_floats(xpath, gg_graph_data(m.g, m.x), (size_t)n * m.per)) return die("x");
    if (gg_graph_forward(m.g, GG_EVAL, m.out)) return die("forward");
    if (write_floats(out, gg_graph_data(m.g, m.out), (size_t)n * (size_t)m.outper)) return die("out");
    free_model(&m);
    return 0;
}

static int cmd_save(const char *kind, uint64_t seed, const char *path)
{
    model m;
    if (build(kind, 32, seed, &m)) return die("build");
    size_t n = (size_t)NB * (size_t)m.batch;
    float *x = malloc(n * m.per * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) return die("out of memory");
    if (make_data(&m, seed + 7, x, y) || train(&m, 1, 1e9f, 5, x, y, NULL, NULL, NULL, NULL)) return die("train");
    if (gg_model_save(m.g, path)) return die("save");
    free(x);
    free(y);
    free_model(&m);
    return 0;
}

static int cmd_load(const char *kind, const char *path, int import)
{
    model m;
    if (build(kind, 1, 1, &m)) return die("build");
    gg_status s = import ? gg_model_import(m.g, path) : gg_model_load(m.g, path);
    if (s) printf("error: %s: %s\n", gg_status_name(s), gg_errmsg());
    else printf("ok\n");
    free_model(&m);
    return s ? 1 : 0;
}

/* ---- without arguments: the driver's own checks ---- */
static void self_check(const char *kind)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/gg_parity_self_%ld_%s.safetensors", (long)getpid(), kind);
    model a, b;
    GT_OK(build(kind, 4, 11, &a));
    GT_OK(build(kind, 4, 12, &b));
    size_t na, nb;
    float *pa = gg_graph_params(a.g, &na), *pb = gg_graph_params(b.g, &nb);
    GT_CHECK(na == nb && na > 0 && memcmp(pa, pb, na * sizeof *pa) != 0, "%s: two seeds, %zu and %zu params", kind,
             na, nb);
    GT_OK(gg_model_save(a.g, path));
    GT_OK(gg_model_load(b.g, path));
    GT_CHECK(memcmp(pa, pb, na * sizeof *pa) == 0, "%s: loaded weights differ from the saved ones", kind);
    /* the same weights and inputs give the same outputs */
    size_t nx = (size_t)NB * (size_t)a.batch;
    float *x = malloc(nx * a.per * sizeof *x), *y = malloc(nx * sizeof *y);
    GT_OK(make_data(&a, 5, x, y));
    GT_OK(gg_graph_set_batch(a.g, 4));
    GT_OK(gg_graph_set_batch(b.g, 4));
    memcpy(gg_graph_data(a.g, a.x), x, 4 * a.per * sizeof *x);
    memcpy(gg_graph_data(b.g, b.x), x, 4 * b.per * sizeof *x);
    GT_OK(gg_graph_forward(a.g, GG_EVAL, a.out));
    GT_OK(gg_graph_forward(b.g, GG_EVAL, b.out));
    GT_CHECK(memcmp(gg_graph_data(a.g, a.out), gg_graph_data(b.g, b.out), 4 * (size_t)a.outper * sizeof(float)) == 0,
             "%s: the same weights give other outputs", kind);
    /* the guard's norm against a direct sum, and its clip decision either side of max_norm */
    for (int side = 0; side < 2; side++) {
        memcpy(gg_graph_data(a.g, a.y), y, 4 * sizeof *y);
        gg_graph_zero_grad(a.g);
        GT_OK(gg_graph_forward(a.g, GG_TRAIN, a.loss));
        GT_OK(gg_graph_backward(a.g, a.loss, 1));
        size_t ng;
        const float *gr = gg_graph_grads(a.g, &ng);
        double sq = 0;
        for (size_t k = 0; k < ng; k++) sq += (double)gr[k] * gr[k];
        double norm = sqrt(sq);
        float max_norm = (float)(side ? 2 * norm : 0.5 * norm);
        gg_optim_config oc = opt_config(0);
        gg_optim *o = gg_optim_new(a.g, &oc);
        gg_guard_config gc = clip_norm_only(max_norm);
        gg_guard *gd = gg_guard_new(a.g, o, &gc);
        GT_CHECK(gd != NULL, "guard: %s", gg_errmsg());
        if (!gd) break;
        gg_guard_decision d = gg_guard_check(gd, 0, 0, gg_graph_scalar(a.g, a.loss));
        const gg_guard_stats *st = gg_guard_last(gd);
        /* the guard sums squares in float within blocks of 4096 (reduce.c) */
        GT_NEAR(st->grad_norm, norm, 4e-6, 0, "%s: guard norm", kind);
        GT_CHECK(d.verdict == GG_GUARD_PROCEED && d.clipped == !side, "%s: max_norm %g x the norm: clipped %d",
                 kind, side ? 2.0 : 0.5, d.clipped);
        sq = 0;
        for (size_t k = 0; k < ng; k++) sq += (double)gr[k] * gr[k];
        /* clip_grad_norm_'s coefficient: max_norm / (norm + 1e-6) */
        GT_NEAR(sqrt(sq), side ? norm : max_norm * norm / (norm + 1e-6), 1e-6, 0, "%s: norm after the guard", kind);
        gg_guard_free(gd);
        gg_optim_free(o);
    }
    free(x);
    free(y);
    unlink(path);
    free_model(&a);
    free_model(&b);
}

/* Writes model m's parameters to path under PyTorch's names (lstm1.*_l0),
 * with `drop` left out (NULL: none), `reshape` given the shape `as`, and
 * n_extra extra entries after them. */
static gg_status write_torch_names(const char *path, const model *m, const char *drop, const char *reshape, gg_shape as,
                                   const gg_st_entry *extra, int n_extra, const char *const *meta, int nmeta)
{
    gg_st_entry e[24];
    char names[24][GG_NAME_MAX + 4];
    size_t n;
    const float *p = gg_graph_params(m->g, &n);
    int k = 0;
    for (int i = 0; i < gg_graph_num_params(m->g) && k < 16; i++) {
        gg_param_info pi;
        gg_graph_param(m->g, i, &pi);
        if (drop && strcmp(pi.name, drop) == 0) continue;
        int rec = strncmp(pi.name, "lstm1.", 6) == 0;
        snprintf(names[k], sizeof names[k], "%s%s", pi.name, rec ? "_l0" : "");
        e[k] = (gg_st_entry){names[k], reshape && strcmp(pi.name, reshape) == 0 ? as : pi.shape, p + pi.offset};
        k++;
    }
    for (int i = 0; i < n_extra && k < 24; i++) e[k++] = extra[i];
    return gg_safetensors_write(path, e, k, meta, nmeta);
}

static int same_params(const model *a, const model *b)
{
    size_t na, nb;
    const float *p = gg_graph_params(a->g, &na), *q = gg_graph_params(b->g, &nb);
    return na == nb && memcmp(p, q, na * sizeof *p) == 0;
}

/* gg_model_import: PyTorch's recurrent names, strictness, messages, and a
 * model left as it was by a failed import. */
static void self_check_import(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/gg_parity_self_%ld_import.safetensors", (long)getpid());
    model a, b, c;
    GT_OK(build("lstm", 2, 3, &a));
    GT_OK(build("lstm", 2, 4, &b));
    GT_OK(build("lstm", 2, 5, &c));
    GT_OK(write_torch_names(path, &a, NULL, NULL, gg_shape1(0), NULL, 0, NULL, 0));
    GT_OK(gg_model_import(b.g, path));
    GT_CHECK(same_params(&a, &b), "imported weights differ");
    /* from c's weights, each file with one defect: b must stay equal to a */
    float one = 1;
    const float *cw = gg_graph_params(c.g, &(size_t){0});
    gg_st_entry l1 = {"lstm1.weight_ih_l1", gg_shape1(1), &one}, twice = {"lstm1.weight_ih", gg_shape2(64, 2), cw};
    GT_OK(write_torch_names(path, &c, NULL, NULL, gg_shape1(0), &l1, 1, NULL, 0));
    GT_CHECK(gg_model_import(b.g, path) == GG_E_FORMAT &&
                 strstr(gg_errmsg(), "tensor 'lstm1.weight_ih_l1' (1) is not in the model"),
             "unexpected tensor: %s", gg_errmsg());
    GT_OK(write_torch_names(path, &c, "fc.bias", NULL, gg_shape1(0), NULL, 0, NULL, 0));
    GT_CHECK(gg_model_import(b.g, path) == GG_E_FORMAT &&
                 strstr(gg_errmsg(), "the model's tensor 'fc.bias' (1) is missing"),
             "missing tensor: %s", gg_errmsg());
    GT_OK(write_torch_names(path, &c, NULL, "fc.weight", gg_shape2(16, 1), NULL, 0, NULL, 0));
    GT_CHECK(gg_model_import(b.g, path) == GG_E_SHAPE &&
                 strstr(gg_errmsg(), "tensor 'fc.weight' has shape (16, 1), the model's 'fc.weight' is (1, 16)"),
             "wrong shape: %s", gg_errmsg());
    GT_OK(write_torch_names(path, &c, NULL, NULL, gg_shape1(0), &twice, 1, NULL, 0));
    GT_CHECK(gg_model_import(b.g, path) == GG_E_FORMAT && strstr(gg_errmsg(), "are both the model's 'lstm1.weight_ih'"),
             "one tensor under two names: %s", gg_errmsg());
    GT_CHECK(same_params(&a, &b), "a failed import changed the model");
    /* BatchNorm's counter is skipped, and so is a checkpoint's optimizer state */
    const char *meta[2] = {"gg_kind", "checkpoint"};
    gg_st_entry skip[2] = {{"bn1.num_batches_tracked", gg_shape1(1), &one}, {"optimizer.state", gg_shape1(1), &one}};
    GT_OK(write_torch_names(path, &c, NULL, NULL, gg_shape1(0), skip, 2, meta, 1));
    GT_OK(gg_model_import(b.g, path));
    GT_CHECK(same_params(&c, &b), "import with skipped tensors");
    GT_OK(write_torch_names(path, &c, NULL, NULL, gg_shape1(0), skip + 1, 1, NULL, 0));
    GT_CHECK(gg_model_import(b.g, path) == GG_E_FORMAT && strstr(gg_errmsg(), "'optimizer.state'"),
             "optimizer.state outside a checkpoint: %s", gg_errmsg());
    gg_graph *raw = gg_graph_new(1);
    GT_CHECK(gg_model_import(raw, path) == GG_E_STATE, "uncompiled graph: %s", gg_errmsg());
    GT_CHECK(gg_model_import(NULL, path) == GG_E_ARG, "NULL graph");
    gg_graph_free(raw);
    unlink(path);
    free_model(&a);
    free_model(&b);
    free_model(&c);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "run") == 0)
        return cmd_run(argv[2], argc > 3 ? argv[3] : ".", argc > 4 ? atoi(argv[4]) : 100,
                       argc > 5 ? strtoull(argv[5], NULL, 10) : 1234);
    if (argc >= 7 && strcmp(argv[1], "eval") == 0)
        return cmd_eval(argv[2], argv[3], argv[4], atoi(argv[5]), argv[6],
                        argc > 7 && strcmp(argv[7], "import") == 0);
    if (argc == 5 && strcmp(argv[1], "save") == 0) return cmd_save(argv[2], strtoull(argv[3], NULL, 10), argv[4]);
    if (argc >= 4 && strcmp(argv[1], "load") == 0)
        return cmd_load(argv[2], argv[3], argc > 4 && strcmp(argv[4], "import") == 0);
    if (argc > 1) {
        fprintf(stderr, "usage: test_parity_driver [run MODEL DIR [STEPS [SEED]] |\n"
                        "                           eval MODEL WEIGHTS X N OUT [import] |\n"
                        "                           save MODEL SEED PATH | load MODEL PATH [import]]\n");
        return 2;
    }
    printf("test_parity_driver: self-checks (tests/parity.sh and tests/interop.sh compare with PyTorch)\n");
    self_check("mlp");
    self_check("cnn");
    self_check("lstm");
    self_check("attn");
    self_check_import();
    return gt_done("test_parity_driver");
}

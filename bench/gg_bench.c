/*
 * gg_bench.c - times gradguard training steps, for bench/run.py.
 *
 *   gg_bench mlp|cnn|lstm|transformer [--threads N] [--batch B] [--warmup W] [--steps N] [--reps R]
 *            [--guard off|default|layers] [--dir DIR] [--data DIR] [--seed S] [--max-time S]
 *            [--conv auto|im2col|winograd]
 *   gg_bench sweep --widths 256,1024 --batches 32,128 [--threads N] [--time S]
 *
 * A model run builds the model through the public API, writes into DIR what
 * bench/torch_peer.py needs to train the very same thing (init.safetensors:
 * the initial weights; perm.bin: the batch order, int64 sample indices;
 * for lstm also adding_x.f32 / adding_y.f32, for transformer text_x.f32 /
 * text_y.f32: the data set), runs W warm-up
 * steps and R repetitions of N timed steps, and prints one JSON object.
 * Batch k is samples perm[(k mod nb) B .. + B), nb = n / B, on both sides.
 * --max-time S caps the timed part on a slow (or busy) machine: when the
 * warm-up steps say R x N steps would take longer than S seconds, N is cut
 * (to no fewer than 3); the JSON gives the N used.
 *
 * Workloads (Adam 1e-3, PyTorch's formulas, on both sides):
 *   mlp   Fashion-MNIST 784-256-128-10, ReLU, softmax cross-entropy, batch 128
 *   cnn   conv5x5 32 pad 2, maxpool 2, conv5x5 64 pad 2, maxpool 2, dense 128, dense 10
 *   lstm  the adding problem: T = 100 steps of (value, marker), LSTM 128, the
 *         last hidden state into dense 1, mean squared error, batch 32
 *   transformer  configs/char-transformer.yaml's model on the GPL-3 text
 *         (--text): byte embedding 128 + positions, 2 pre-norm blocks of
 *         4-head causal attention and a GELU MLP (512), layer norm, dense to
 *         the vocabulary; windows of T = 64 (--seq) every 16 bytes, batch 32;
 *         softmax cross-entropy over every position
 *
 * A step is what src/train/trainer.c does for one batch: zero the gradient
 * arena, fill the batch (uint8 pixels * 1/255), forward, backward, the L1/L2
 * penalty call, [guard check], optimizer step, [guard after-step, per-layer
 * statistics every layer_every steps]. --guard off leaves the guard out,
 * default uses gg_guard_defaults(), layers adds per-layer statistics (the
 * trainer's layers.csv rows, written to DIR/layers.csv) every step.
 *
 * FLOPs count the GEMMs and convolutions of forward and backward (2 per
 * multiply-add; no input gradient for the data), not the element-wise work;
 * a convolution counts as direct convolution, whatever algorithm runs it
 * (Winograd does fewer multiplications: its GFLOP/s are an equivalent rate).
 * --conv forces the CNN's convolutions' algorithm (bench/run.py's
 * cross-check runs im2col, the same arithmetic as PyTorch's).
 */
#include <gradguard.h>

#include "clock.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_LIST 16
#define MAX_REPS 64
#define NLOSS 6 /* losses of the first steps printed for the cross-check */

enum { M_MLP, M_CNN, M_LSTM, M_TRANSFORMER };
enum { G_OFF, G_DEFAULT, G_LAYERS };

typedef struct opts {
    int model, threads, batch, warmup, steps, reps, guard, width, depth, hidden, seq;
    gg_conv_algo conv; /* the CNN's convolutions: auto (Winograd for conv2) or forced */
    int nwidths, nbatches, widths[MAX_LIST], batches[MAX_LIST];
    double budget, max_time;
    unsigned long long seed;
    const char *dir, *data, *text;
    int vocab; /* transformer: the text's vocabulary size */
} opts;

typedef struct bench {
    gg_graph *g;
    gg_node x, y, loss;
    gg_optim *o;
    gg_guard *gd;
    double guard_cpu; /* process CPU seconds inside the guard's calls (check, after-step, rollback) */
    int layer_every;
    FILE *layers;
    gg_train_pos pos;
    const gg_dataset *ds;
    size_t *perm, nb;
    int B;
} bench;

static int die(const char *what)
{
    fprintf(stderr, "gg_bench: %s: %s\n", what, gg_errmsg());
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[MAX_REPS * 64];
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static void set_threads(int n)
{
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

/* ---- models ---------------------------------------------------------------- */

/* Hidden layers of the MLP: 256, 128 by default, or depth layers of width. */
static int mlp_hidden(const opts *op, int *h)
{
    if (op->width <= 0) {
        h[0] = 256;
        h[1] = 128;
        return 2;
    }
    for (int i = 0; i < op->depth; i++) h[i] = op->width;
    return op->depth;
}

static double model_flops(const opts *op, int B)
{
    double f = 0;
    if (op->model == M_MLP) {
        int h[MAX_LIST], n = mlp_hidden(op, h), in = 784;
        for (int i = 0; i <= n; i++) {
            int out = i < n ? h[i] : 10;
            f += 2.0 * B * in * out * (i ? 3 : 2); /* forward, dW, and dx above the first layer */
            in = out;
        }
    } else if (op->model == M_CNN) {
        f += 2.0 * B * 32 * 28 * 28 * (1 * 25) * 2;  /* conv1: forward, dW */
        f += 2.0 * B * 64 * 14 * 14 * (32 * 25) * 3; /* conv2: forward, dW, dx */
        f += 2.0 * B * 3136 * 128 * 3 + 2.0 * B * 128 * 10 * 3;
    } else if (op->model == M_TRANSFORMER) {
        /* per token: per block qkv 3 D^2, out D^2, MLP 8 D^2 multiply-adds and the
         * two T x T x dh GEMMs (QK^T, PV) per head, 2 T D; the output D V;
         * backward twice forward (the embedding's gather is not counted) */
        double D = op->width, T = op->seq, V = op->vocab, L = op->depth;
        f += 3.0 * B * T * (L * (2 * 12 * D * D + 4 * T * D) + 2 * D * V);
    } else {
        double H = op->hidden, T = op->seq, F = 2;
        /* forward x W_ih^T and h W_hh^T; backward dW_ih, dW_hh and dh (no dx) */
        f += 2.0 * B * T * 4 * H * (2 * F + 3 * H) + 2.0 * B * H * 3;
    }
    return f;
}

static gg_node build_model(gg_graph *g, const opts *op, gg_node *x, gg_node *y)
{
    gg_act relu = GG_ACT_RELU;
    gg_node h, out;
    if (op->model == M_MLP) {
        int hid[MAX_LIST], n = mlp_hidden(op, hid);
        h = *x = gg_input(g, "input", gg_shape1(784));
        for (int i = 0; i < n; i++) {
            char name[16];
            snprintf(name, sizeof name, "fc%d", i + 1);
            h = gg_dense(g, h, name, hid[i], relu, gg_init_default(relu), 1);
        }
        char name[16];
        snprintf(name, sizeof name, "fc%d", n + 1);
        out = gg_dense(g, h, name, 10, GG_ACT_NONE, gg_init_default(GG_ACT_NONE), 1);
    } else if (op->model == M_CNN) {
        h = *x = gg_input(g, "input", gg_shape3(1, 28, 28));
        h = gg_conv(g, h, "conv1", 32, 5, 1, 2, relu, gg_init_default(relu));  /* (N, 32, 28, 28) */
        if (op->conv != GG_CONV_WINOGRAD) gg_conv2d_set_algo(g, h, op->conv);  /* (1 channel: im2col) */
        h = gg_maxpool2d(g, h, 2, 2, 0);                                       /* (N, 32, 14, 14) */
        h = gg_conv(g, h, "conv2", 64, 5, 1, 2, relu, gg_init_default(relu));  /* (N, 64, 14, 14) */
        gg_conv2d_set_algo(g, h, op->conv);
        h = gg_maxpool2d(g, h, 2, 2, 0);                                       /* (N, 64, 7, 7) */
        h = gg_dense(g, h, "fc1", 128, relu, gg_init_default(relu), 1);        /* flattens (N, 3136) */
        out = gg_dense(g, h, "fc2", 10, GG_ACT_NONE, gg_init_default(GG_ACT_NONE), 1);
    } else if (op->model == M_TRANSFORMER) {
        /* as src/train/setup.c builds configs/char-transformer.yaml */
        int D = op->width, T = op->seq, V = op->vocab;
        gg_init emb = {GG_INIT_NORMAL, 0, 1}, pos = {GG_INIT_NORMAL, 0, 0.02f};
        h = *x = gg_input(g, "input", gg_shape1(T));
        gg_graph_scope(g, "embed1");
        h = gg_embedding(g, h, gg_param(g, "embed1.weight", gg_shape2(V, D), emb)); /* (N, T, D) */
        gg_graph_scope(g, "pos1");
        h = gg_add(g, h, gg_param(g, "pos1.weight", gg_shape2(T, D), pos));
        gg_graph_scope(g, NULL);
        for (int i = 0; i < op->depth; i++) {
            char an[16], mn[16];
            snprintf(an, sizeof an, "attn%d", i + 1);
            snprintf(mn, sizeof mn, "mlp%d", i + 1);
            h = gg_attention_block(g, h, an, 4, 1);
            h = gg_mlp_block(g, h, mn, 4 * D);
        }
        h = gg_layernorm_layer(g, h, "ln1", 1e-5f);
        out = gg_dense(g, h, "fc1", V, GG_ACT_NONE, gg_init_default(GG_ACT_NONE), 1); /* (N, T, V) */
        *y = gg_input(g, "labels", gg_shape1(T));
        return gg_softmax_xent(g, out, *y, 0);
    } else {
        gg_init dflt = {GG_INIT_LECUN_UNIFORM, 0, 0}; /* PyTorch's default weight_hh */
        h = *x = gg_input(g, "input", gg_shape2(op->seq, 2));
        h = gg_lstm_layer(g, h, "lstm1", op->hidden, -1, dflt, 0, GG_RNN_LAST); /* (N, H) */
        out = gg_dense(g, h, "fc", 1, GG_ACT_NONE, gg_init_default(GG_ACT_NONE), 1);
    }
    if (op->model == M_LSTM) {
        *y = gg_input(g, "targets", gg_shape1(1));
        return gg_mse(g, out, *y);
    }
    *y = gg_input(g, "labels", gg_shape1(1));
    return gg_softmax_xent(g, out, *y, 0);
}

/* ---- data ------------------------------------------------------------------ */

/* The adding problem: x[t] = (v_t ~ U(0, 1), marker), one marker in each
 * half of the sequence, target = the sum of the two marked values. */
static int make_adding(gg_dataset *ds, int n, int T, unsigned long long seed)
{
    memset(ds, 0, sizeof *ds);
    ds->f32 = malloc(sizeof(float) * (size_t)n * T * 2);
    ds->labels = malloc(sizeof(float) * (size_t)n);
    if (!ds->f32 || !ds->labels) return -1;
    gg_rng r;
    gg_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        float *s = ds->f32 + (size_t)i * T * 2;
        for (int t = 0; t < T; t++) {
            s[2 * t] = (float)gg_rng_uniform(&r);
            s[2 * t + 1] = 0;
        }
        int a = (int)gg_rng_below(&r, (uint64_t)(T / 2)), b = T / 2 + (int)gg_rng_below(&r, (uint64_t)(T - T / 2));
        s[2 * a + 1] = s[2 * b + 1] = 1;
        ds->labels[i] = s[2 * a] + s[2 * b];
    }
    ds->n = (size_t)n;
    ds->ndim = 2;
    ds->shape[0] = T;
    ds->shape[1] = 2;
    ds->per = (size_t)T * 2;
    ds->scale = 1;
    ds->mean = 0;
    ds->std = 1;
    ds->label_per = 1;
    snprintf(ds->source, sizeof ds->source, "adding problem");
    return 0;
}

static int write_file(const char *dir, const char *name, const void *p, size_t bytes)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, bytes, f) != bytes || fclose(f)) {
        fprintf(stderr, "gg_bench: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int write_perm(const char *dir, const size_t *perm, size_t n)
{
    int64_t *v = malloc(sizeof *v * n);
    if (!v) return -1;
    for (size_t i = 0; i < n; i++) v[i] = (int64_t)perm[i];
    int rc = write_file(dir, "perm.bin", v, sizeof *v * n);
    free(v);
    return rc;
}

/* ---- one step, as the trainer takes it ---------------------------------------- */

/* Sum of squares in double, eight independent sums so the loop vectorises:
 * what runlog.c computes with gg_sumsq_max (not public). */
static double sumsq(const float *x, size_t n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)x[k + j] * x[k + j];
    for (; k < n; k++) acc[0] += (double)x[k] * x[k];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* The trainer's layers.csv row for every parameter tensor (runlog.c). */
static void layer_stats(bench *b)
{
    size_t n;
    const float *gr = gg_graph_grads(b->g, &n);
    const float *p = gg_graph_params(b->g, &n);
    const double *un = gg_optim_update_norms(b->o);
    for (int i = 0; i < gg_graph_num_params(b->g); i++) {
        gg_param_info pi;
        gg_graph_param(b->g, i, &pi);
        double gs = sumsq(gr + pi.offset, pi.numel), ws = sumsq(p + pi.offset, pi.numel);
        double u = un ? un[i] : NAN, w = sqrt(ws);
        fprintf(b->layers, "%ld,%s,%s,%.6g,%.6g,%.6g,%.6g\n", b->pos.step, pi.name, pi.layer, sqrt(gs), w, u,
                w > 0 ? u / w : NAN);
    }
    fflush(b->layers);
}

static int step(bench *b, long k, float lr, double *loss_out)
{
    gg_graph *g = b->g;
    gg_graph_zero_grad(g);
    size_t start = (size_t)(k % (long)b->nb) * (size_t)b->B;
    gg_dataset_batch(b->ds, b->perm + start, b->B, gg_graph_data(g, b->x), gg_graph_data(g, b->y));
    if (gg_graph_forward(g, GG_TRAIN, -1)) return die("forward");
    double loss = gg_graph_scalar(g, b->loss);
    if (gg_graph_backward(g, b->loss, 1.0f)) return die("backward");
    loss += gg_optim_penalty(b->o);
    int apply = 1;
    double gc0 = b->gd ? cpu_now() : 0;
    if (b->gd) {
        gg_guard_decision d = gg_guard_check(b->gd, b->pos.step, 0, loss);
        b->guard_cpu += cpu_now() - gc0;
        lr *= d.lr_scale;
        if (d.verdict == GG_GUARD_STOP) {
            fprintf(stderr, "gg_bench: the guard stopped the run at step %ld\n", b->pos.step);
            return 1;
        }
        if (d.verdict == GG_GUARD_ROLLBACK) {
            if (gg_guard_rollback(b->gd, &b->pos)) return die("rollback");
            gg_guard_clear_events(b->gd);
            *loss_out = loss;
            return 0;
        }
        apply = d.verdict == GG_GUARD_PROCEED;
    }
    if (apply && gg_optim_step(b->o, lr)) return die("optimizer step");
    b->pos.step++;
    if (b->gd) {
        gg_train_pos after = b->pos;
        after.batch++;
        gc0 = cpu_now();
        gg_guard_decision d = gg_guard_after_step(b->gd, &after, apply);
        gg_guard_clear_events(b->gd);
        if (d.verdict == GG_GUARD_ROLLBACK && gg_guard_rollback(b->gd, &b->pos)) return die("rollback");
        b->guard_cpu += cpu_now() - gc0;
        if (b->layer_every > 0 && b->pos.step % b->layer_every == 0) layer_stats(b);
    }
    b->pos.batch = b->pos.step;
    *loss_out = loss;
    return 0;
}

static int setup_bench(bench *b, const opts *op, const gg_dataset *ds, size_t *perm, int write)
{
    memset(b, 0, sizeof *b);
    b->B = op->batch;
    b->ds = ds;
    b->perm = perm;
    b->nb = ds->n / (size_t)op->batch;
    if (b->nb == 0) {
        fprintf(stderr, "gg_bench: batch %d is larger than the data set (%zu)\n", op->batch, ds->n);
        return 1;
    }
    b->g = gg_graph_new(op->batch);
    if (!b->g) return die("graph");
    b->loss = build_model(b->g, op, &b->x, &b->y);
    if (gg_graph_compile(b->g)) return die("build");
    if (gg_graph_init_params(b->g, op->seed) || gg_graph_init_recurrent(b->g, op->seed ^ 0x7265637572ull))
        return die("init");
    if (write) {
        char path[1024];
        snprintf(path, sizeof path, "%s/init.safetensors", op->dir);
        if (gg_model_save(b->g, path)) return die("saving the initial weights");
    }
    gg_optim_config oc = gg_optim_defaults(GG_OPT_ADAM);
    oc.lr = 1e-3f;
    b->o = gg_optim_new(b->g, &oc);
    if (!b->o) return die("optimizer");
    gg_optim_set_update_norms(b->o, 0); /* as the trainer: measured when the guard asks */
    if (op->guard != G_OFF) {
        gg_guard_config gc = gg_guard_defaults();
        if (op->guard == G_LAYERS) gc.layer_every = 1;
        b->layer_every = gc.layer_every;
        b->gd = gg_guard_new(b->g, b->o, &gc);
        if (!b->gd) return die("guard");
        char path[1024];
        snprintf(path, sizeof path, "%s/layers.csv", op->dir);
        b->layers = fopen(path, "w");
        if (!b->layers) {
            fprintf(stderr, "gg_bench: cannot write %s\n", path);
            return 1;
        }
        fprintf(b->layers, "step,tensor,layer,grad_norm,weight_norm,update_norm,update_ratio\n");
        gg_guard_snapshot(b->gd, &b->pos); /* the trainer takes one before the first step */
    }
    return 0;
}

static void free_bench(bench *b)
{
    if (b->layers) fclose(b->layers);
    gg_guard_free(b->gd);
    gg_optim_free(b->o);
    gg_graph_free(b->g);
}

/* ---- the two modes ------------------------------------------------------------ */

static int load_fashion(gg_dataset *ds, const char *dir)
{
    char img[1024], lab[1024];
    snprintf(img, sizeof img, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lab, sizeof lab, "%s/train-labels-idx1-ubyte.gz", dir);
    if (gg_dataset_load_idx(ds, img, lab)) return die("loading Fashion-MNIST");
    return 0;
}

static const char *model_name(int m)
{
    return m == M_MLP ? "mlp" : m == M_CNN ? "cnn" : m == M_LSTM ? "lstm" : "transformer";
}

static int run_model(opts *op)
{
    gg_dataset ds;
    int own_adding = op->model == M_LSTM;
    if (op->model == M_TRANSFORMER) {
        gg_text *tx;
        if (gg_text_load(op->text, &tx)) return die("loading the text");
        op->vocab = gg_text_vocab_size(tx);
        gg_status st = gg_text_dataset(tx, op->seq, 16, 0, 1, &ds);
        gg_text_free(tx);
        if (st) return die("cutting the text into windows");
        if (write_file(op->dir, "text_x.f32", ds.f32, sizeof(float) * ds.n * ds.per) ||
            write_file(op->dir, "text_y.f32", ds.labels, sizeof(float) * ds.n * (size_t)ds.label_per))
            return 1;
    } else if (own_adding) {
        if (make_adding(&ds, 4096, op->seq, op->seed + 17)) return die("out of memory");
        if (write_file(op->dir, "adding_x.f32", ds.f32, sizeof(float) * ds.n * ds.per) ||
            write_file(op->dir, "adding_y.f32", ds.labels, sizeof(float) * ds.n))
            return 1;
    } else if (load_fashion(&ds, op->data)) {
        return 1;
    }
    size_t *perm = malloc(sizeof *perm * ds.n);
    if (!perm) return die("out of memory");
    gg_rng r;
    gg_rng_seed(&r, op->seed * 0x9e3779b97f4a7c15ull + 1);
    gg_shuffle(perm, ds.n, 1, &r);
    if (write_perm(op->dir, perm, ds.n)) return 1;

    bench b;
    if (setup_bench(&b, op, &ds, perm, 1)) return 1;
    const float lr = 1e-3f;
    double losses[NLOSS], loss = 0;
    int nloss = 0;
    long k = 0;
    double tw = 0;
    int steps = op->steps;
    for (; k < op->warmup; k++) {
        if (k == op->warmup / 2) tw = now(); /* the first steps fault their pages in */
        if (step(&b, k, lr, &loss)) return 1;
        if (nloss < NLOSS) losses[nloss++] = loss;
    }
    if (op->max_time > 0 && op->warmup >= 2) {
        double per = (now() - tw) / (op->warmup - op->warmup / 2);
        if (per * steps * op->reps > op->max_time) steps = (int)(op->max_time / (per * op->reps));
        if (steps < 3) steps = 3;
        if (steps > op->steps) steps = op->steps;
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double ms[MAX_REPS], cms[MAX_REPS], gshare[MAX_REPS];
    for (int rep = 0; rep < op->reps; rep++) {
        b.guard_cpu = 0;
        double t0 = now(), c0 = cpu_now();
        for (int s = 0; s < steps; s++, k++) {
            if (step(&b, k, lr, &loss)) return 1;
            if (nloss < NLOSS) losses[nloss++] = loss;
        }
        ms[rep] = (now() - t0) * 1e3 / steps;
        cms[rep] = (cpu_now() - c0) * 1e3 / steps;
        /* the guard's share of the step, both timed in this repetition */
        gshare[rep] = b.guard_cpu * 1e3 / steps / cms[rep];
    }
    getrusage(RUSAGE_SELF, &ru1);
    double med = median(ms, op->reps), fl = model_flops(op, op->batch);
    size_t np;
    gg_graph_params(b.g, &np);
    printf("{\"side\": \"gradguard\", \"model\": \"%s\", \"threads\": %d, \"batch\": %d, \"guard\": \"%s\", "
           "\"warmup\": %d, \"steps\": %d, \"reps\": %d, \"params\": %zu, \"ms_per_step\": [",
           model_name(op->model), op->threads, op->batch,
           op->guard == G_OFF ? "off" : op->guard == G_DEFAULT ? "default" : "layers", op->warmup, steps, op->reps,
           np);
    for (int i = 0; i < op->reps; i++) printf("%s%.6f", i ? ", " : "", ms[i]);
    printf("], \"cpu_ms_median\": %.6f", median(cms, op->reps));
    if (b.gd) printf(", \"guard_share_median\": %.6f", median(gshare, op->reps));
    printf(", \"ms_median\": %.6f, \"samples_per_s\": %.3f, \"flops_per_step\": %.0f, \"gflops\": %.3f, "
           "\"peak_rss_mib\": %.2f, \"minflt_per_step\": %.4f, \"final_loss\": %.6g, \"losses\": [",
           med, op->batch / (med * 1e-3), fl, fl / (med * 1e-3) / 1e9, ru1.ru_maxrss / 1024.0,
           (double)(ru1.ru_minflt - ru0.ru_minflt) / ((double)op->reps * steps), loss);
    for (int i = 0; i < nloss; i++) printf("%s%.9g", i ? ", " : "", losses[i]);
    printf("]");
    if (b.gd) {
        const gg_guard_counters *c = gg_guard_counts(b.gd);
        printf(", \"guard_counts\": {\"clipped\": %ld, \"skipped\": %ld, \"rollbacks\": %ld}", c->clipped, c->skipped,
               c->rollbacks);
    }
    printf(", \"omp_max_threads\": %d, \"openblas_threads\": %d, \"openblas_config\": \"%s\", "
           "\"openblas_core\": \"%s\", \"gradguard_version\": \"%s\"}\n",
           omp_get_max_threads(), openblas_get_num_threads(), openblas_get_config(), openblas_get_corename(),
           GG_VERSION_STRING);
    free_bench(&b);
    free(perm);
    if (own_adding) {
        free(ds.f32);
        free(ds.labels);
    } else {
        gg_dataset_free(&ds);
    }
    return 0;
}

/* MLPs 784-W-W-10 (depth layers of width W) at each batch: the median step
 * time over about `budget` seconds of steps (at least 3), one line each. */
static int run_sweep(opts *op)
{
    gg_dataset ds;
    if (load_fashion(&ds, op->data)) return 1;
    size_t *perm = malloc(sizeof *perm * ds.n);
    if (!perm) return die("out of memory");
    gg_rng r;
    gg_rng_seed(&r, op->seed);
    gg_shuffle(perm, ds.n, 1, &r);
    op->model = M_MLP;
    for (int wi = 0; wi < op->nwidths; wi++) {
        for (int bi = 0; bi < op->nbatches; bi++) {
            op->width = op->widths[wi];
            op->batch = op->batches[bi];
            bench b;
            if (setup_bench(&b, op, &ds, perm, 0)) return 1;
            double loss, ms[MAX_REPS * 64];
            long k = 0;
            for (; k < 2; k++)
                if (step(&b, k, 1e-3f, &loss)) return 1;
            int n = 0;
            double t_end = now() + op->budget;
            while (n < MAX_REPS * 64 && (n < 3 || now() < t_end)) {
                double t0 = now();
                if (step(&b, k++, 1e-3f, &loss)) return 1;
                ms[n++] = (now() - t0) * 1e3;
            }
            double med = median(ms, n), fl = model_flops(op, op->batch);
            printf("{\"width\": %d, \"depth\": %d, \"batch\": %d, \"threads\": %d, \"steps\": %d, \"ms_median\": %.6f, "
                   "\"flops_per_step\": %.0f, \"gflops\": %.3f, \"samples_per_s\": %.3f}\n",
                   op->width, op->depth, op->batch, op->threads, n, med, fl, fl / (med * 1e-3) / 1e9,
                   op->batch / (med * 1e-3));
            fflush(stdout);
            free_bench(&b);
        }
    }
    free(perm);
    gg_dataset_free(&ds);
    return 0;
}

/* ---- arguments ---------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: gg_bench mlp|cnn|lstm|transformer [--threads N] [--batch B] [--warmup W] [--steps N] [--reps R]\n"
            "                [--guard off|default|layers] [--dir DIR] [--data DIR] [--seed S] [--max-time S]\n"
            "                [--conv auto|im2col|winograd]\n"
            "                [--width W --depth D (mlp)] [--hidden H --seq T (lstm)]\n"
            "                [--width D --depth L --seq T --text PATH (transformer)]\n"
            "       gg_bench sweep --widths 256,1024 --batches 32,128 [--depth D] [--threads N] [--time S]\n");
    exit(2);
}

static long num(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "gg_bench: '%s' is not an integer in [%ld, %ld]\n", s, lo, hi);
        exit(2);
    }
    return v;
}

static int list(const char *s, int *out)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == MAX_LIST) usage();
        out[n++] = (int)num(tok, 1, 1 << 20);
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    opts op;
    memset(&op, 0, sizeof op);
    int sweep = !strcmp(argv[1], "sweep");
    if (sweep) op.model = M_MLP;
    else if (!strcmp(argv[1], "mlp")) op.model = M_MLP;
    else if (!strcmp(argv[1], "cnn")) op.model = M_CNN;
    else if (!strcmp(argv[1], "lstm")) op.model = M_LSTM;
    else if (!strcmp(argv[1], "transformer")) op.model = M_TRANSFORMER;
    else usage();
    op.threads = 1;
    op.batch = op.model == M_LSTM || op.model == M_TRANSFORMER ? 32 : 128;
    op.warmup = 10;
    op.steps = 100;
    op.reps = 5;
    op.depth = 2;
    op.hidden = 128;
    op.seq = 100;
    op.budget = 1.0;
    op.seed = 1;
    op.dir = ".";
    op.data = "/usr/share/datasets/fashion-mnist";
    op.text = "/usr/share/common-licenses/GPL-3";
    if (op.model == M_TRANSFORMER) {
        op.width = 128;
        op.seq = 64;
    }
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) usage();
        const char *a = argv[i], *v = argv[++i];
        if (!strcmp(a, "--threads")) op.threads = (int)num(v, 0, 1024);
        else if (!strcmp(a, "--batch")) op.batch = (int)num(v, 1, 1 << 16);
        else if (!strcmp(a, "--warmup")) op.warmup = (int)num(v, 0, 1 << 20);
        else if (!strcmp(a, "--steps")) op.steps = (int)num(v, 1, 1 << 20);
        else if (!strcmp(a, "--reps")) op.reps = (int)num(v, 1, MAX_REPS);
        else if (!strcmp(a, "--width")) op.width = (int)num(v, 1, 1 << 16);
        else if (!strcmp(a, "--depth")) op.depth = (int)num(v, 1, MAX_LIST);
        else if (!strcmp(a, "--hidden")) op.hidden = (int)num(v, 1, 1 << 14);
        else if (!strcmp(a, "--seq")) op.seq = (int)num(v, 2, 1 << 14);
        else if (!strcmp(a, "--seed")) op.seed = (unsigned long long)num(v, 0, 1L << 40);
        else if (!strcmp(a, "--time")) op.budget = atof(v);
        else if (!strcmp(a, "--max-time")) op.max_time = atof(v);
        else if (!strcmp(a, "--dir")) op.dir = v;
        else if (!strcmp(a, "--data")) op.data = v;
        else if (!strcmp(a, "--text")) op.text = v;
        else if (!strcmp(a, "--widths")) op.nwidths = list(v, op.widths);
        else if (!strcmp(a, "--batches")) op.nbatches = list(v, op.batches);
        else if (!strcmp(a, "--conv")) {
            if (!strcmp(v, "auto")) op.conv = GG_CONV_AUTO;
            else if (!strcmp(v, "im2col")) op.conv = GG_CONV_IM2COL;
            else if (!strcmp(v, "winograd")) op.conv = GG_CONV_WINOGRAD;
            else usage();
        } else if (!strcmp(a, "--guard")) {
            if (!strcmp(v, "off")) op.guard = G_OFF;
            else if (!strcmp(v, "default")) op.guard = G_DEFAULT;
            else if (!strcmp(v, "layers")) op.guard = G_LAYERS;
            else usage();
        } else usage();
    }
    if (op.threads == 0) op.threads = omp_get_num_procs();
    set_threads(op.threads);
    if (sweep) {
        if (!op.nwidths || !op.nbatches || !(op.budget > 0)) usage();
        return run_sweep(&op);
    }
    return run_model(&op);
}

/*
 * mlp_fashion.c - a 784-256-128-10 MLP trained on Fashion-MNIST through the
 * public C API alone: IDX loading, a graph of dense layers, Adam, the guard
 * with a policy of its own, and a custom guard callback on top of it.
 *
 *   mlp_fashion [EPOCHS] [--limit N] [--data DIR] [--faults]
 *
 *   EPOCHS      passes over the training set (default 1)
 *   --limit N   train on the first N training images only (default: all 60000)
 *   --data DIR  the directory of the IDX files (default /usr/share/datasets/fashion-mnist)
 *   --faults    corrupt four batches of the first epoch (a NaN pixel in three,
 *               features x 1e4 in one) to watch the guard and the callback act
 *               (the third NaN ends the run)
 *
 * Prints the progress, every guard event, and the test accuracy; exits 0 when
 * the test accuracy is above 0.80 (one epoch gives about 0.85).
 *
 * The custom guard callback. The guard has no hook to register a function:
 * gg_guard_check() returns its decision (proceed, skip, roll back or stop,
 * plus the learning-rate scale) and gg_guard_last() the step's statistics,
 * and the caller carries the decision out. So a policy of your own is a
 * function the training loop calls between the two, with the statistics and
 * the decision, which it may keep, veto or change before the loop acts on
 * it. my_policy() below does three things:
 *  - logs a line when the guard clipped the gradient (the first few times,
 *    then every 100th);
 *  - vetoes a step the guard would apply if its gradient norm, after
 *    clipping, is still above an absolute cap: it is skipped instead;
 *  - ends the run at the third step whose loss or gradient is not finite
 *    (the guard itself would roll back each time, up to its rollback
 *    budget of 10).
 * This is the same place where the gradguard trainer (src/train/trainer.c)
 * carries out the guard's decision.
 *
 * Carrying out a rollback takes three things, all below: gg_guard_rollback
 * gets the position where the run failed (it tells a repeated failure from
 * an isolated one) and gives back the snapshot's; the loop rewinds its data
 * stream to that position (same epoch order: each epoch's shuffle is seeded
 * by its number); and it skips the batch that failed when it comes again,
 * or the run would fail on it once more. gg_guard_set_chance turns on the
 * detector of a collapse to chance level.
 */
#include <gradguard.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 128
#define LR 1e-3f

/* ---- the custom guard callback --------------------------------------------- */

typedef struct policy {
    double hard_cap;     /* largest gradient norm a step may be applied with */
    int max_nonfinite;   /* non-finite steps before the run ends */
    int nonfinite;       /* seen so far */
    long clips, vetoes;
} policy;

/* Called after every gg_guard_check with its statistics and decision; may
 * change the decision. */
static void my_policy(policy *p, long step, const gg_guard_stats *st, gg_guard_decision *d)
{
    if (!isfinite(st->loss) || st->nonfinite > 0) {
        p->nonfinite++;
        printf("policy: step %ld: loss %g, %ld non-finite gradient values (non-finite step %d of %d allowed)\n", step,
               st->loss, st->nonfinite, p->nonfinite, p->max_nonfinite);
        if (p->nonfinite >= p->max_nonfinite) {
            printf("policy: step %ld: too many non-finite steps, stopping\n", step);
            d->verdict = GG_GUARD_STOP;
        }
        return;
    }
    if (d->clipped && (++p->clips <= 3 || p->clips % 100 == 0))
        printf("policy: step %ld: the guard clipped |g| %.4g -> %.4g (threshold %.4g; clip #%ld)\n", step,
               st->grad_norm, st->grad_norm_clipped, st->clip_threshold, p->clips);
    if (d->verdict == GG_GUARD_PROCEED && st->grad_norm_clipped > p->hard_cap) {
        p->vetoes++;
        printf("policy: step %ld: |g| %.4g after clipping is over the cap %g: skipping the step\n", step,
               st->grad_norm_clipped, p->hard_cap);
        d->verdict = GG_GUARD_SKIP;
    }
}

/* ---- the rest of the program ------------------------------------------------ */

typedef struct model {
    gg_graph *g;
    gg_node x, y, logits, loss, acc;
} model;

static int fail(const char *what)
{
    fprintf(stderr, "mlp_fashion: %s: %s\n", what, gg_errmsg());
    return 1;
}

/* dir/prefix-kind-idxN-ubyte, gzipped or not. */
static void idx_path(char *out, size_t cap, const char *dir, const char *prefix, const char *kind)
{
    snprintf(out, cap, "%s/%s-%s.gz", dir, prefix, kind);
    FILE *f = fopen(out, "rb");
    if (f) fclose(f);
    else snprintf(out, cap, "%s/%s-%s", dir, prefix, kind);
}

static gg_status load(gg_dataset *ds, const char *dir, const char *prefix)
{
    char img[1024], lab[1024];
    idx_path(img, sizeof img, dir, prefix, "images-idx3-ubyte");
    idx_path(lab, sizeof lab, dir, prefix, "labels-idx1-ubyte");
    return gg_dataset_load_idx(ds, img, lab);
}

static gg_status build(model *m)
{
    gg_graph *g = m->g = gg_graph_new(BATCH);
    if (!g) return GG_E_NOMEM;
    m->x = gg_input(g, "x", gg_shape1(784)); /* a flat image; the dataset scales pixels by 1/255 */
    m->y = gg_input(g, "y", gg_shape1(1));   /* the class id, as a float */
    gg_node h = gg_dense(g, m->x, "fc1", 256, GG_ACT_RELU, gg_init_default(GG_ACT_RELU), 1);
    h = gg_dense(g, h, "fc2", 128, GG_ACT_RELU, gg_init_default(GG_ACT_RELU), 1);
    m->logits = gg_dense(g, h, "fc3", 10, GG_ACT_NONE, gg_init_default(GG_ACT_NONE), 1);
    m->loss = gg_softmax_xent(g, m->logits, m->y, 0);
    m->acc = gg_accuracy(g, m->logits, m->y);
    /* the builders record the first error; compile reports it */
    gg_status s = gg_graph_compile(g);
    return s ? s : gg_graph_init_params(g, 1);
}

/* Mean loss and accuracy over a whole data set, in evaluation mode. */
static gg_status evaluate(model *m, const gg_dataset *ds, double *loss, double *acc)
{
    size_t idx[BATCH];
    double ls = 0, as = 0;
    for (size_t i = 0; i < ds->n; i += BATCH) {
        int nb = ds->n - i < BATCH ? (int)(ds->n - i) : BATCH;
        for (int k = 0; k < nb; k++) idx[k] = i + (size_t)k;
        gg_graph_set_batch(m->g, nb);
        gg_dataset_batch(ds, idx, nb, gg_graph_data(m->g, m->x), gg_graph_data(m->g, m->y));
        gg_status s = gg_graph_forward(m->g, GG_EVAL, -1);
        if (s) return s;
        ls += gg_graph_scalar(m->g, m->loss) * nb;
        as += gg_graph_scalar(m->g, m->acc) * nb;
    }
    gg_graph_set_batch(m->g, BATCH);
    *loss = ls / (double)ds->n;
    *acc = as / (double)ds->n;
    return GG_OK;
}

/* The guard asked for a diagnosis of a non-finite step: re-run the batch
 * (still in the input buffers) with every op checked; the first op whose
 * output is not finite is attached to the guard's newest event. */
static void diagnose(model *m, gg_guard *gd, int epoch, long batch)
{
    char desc[64];
    snprintf(desc, sizeof desc, "epoch %d batch %ld", epoch + 1, batch);
    gg_graph_set_check(m->g, 1);
    gg_graph_zero_grad(m->g);
    gg_status s = gg_graph_forward(m->g, GG_TRAIN, -1);
    if (!s) s = gg_graph_backward(m->g, m->loss, 1);
    gg_graph_set_check(m->g, 0);
    gg_graph_zero_grad(m->g);
    gg_guard_diagnosis(gd, s == GG_E_NONFINITE ? gg_graph_check_result(m->g) : NULL, desc);
}

/* Prints and clears the guard's events. */
static void print_events(gg_guard *gd)
{
    int n;
    const gg_guard_event *ev = gg_guard_events(gd, &n);
    for (int i = 0; i < n; i++)
        printf("guard: step %ld: %s %.4g -> %s%s%s\n", ev[i].step, ev[i].signal, ev[i].value, ev[i].action,
               ev[i].detail[0] ? ": " : "", ev[i].detail);
    gg_guard_clear_events(gd);
}

/* --faults: four corrupted batches of the first epoch (a fault belongs to
 * the data, so a rewound run meets it at the same batch); the third NaN
 * makes my_policy end the run. */
static void corrupt(int epoch, long batch, float *x, int nb)
{
    if (epoch != 0) return;
    if (batch == 150 || batch == 300 || batch == 400) x[(size_t)nb * 784 / 2] = NAN;
    if (batch == 200)
        for (size_t k = 0; k < (size_t)nb * 784; k++) x[k] *= 1e4f;
}

/* The batches that made the guard roll back: skipped when the rewound data
 * stream reaches them again. */
#define MAX_BAD 64
typedef struct bad_list {
    int n;
    int epoch[MAX_BAD];
    long batch[MAX_BAD];
} bad_list;

static int is_bad(const bad_list *l, int epoch, long batch)
{
    for (int i = 0; i < l->n; i++)
        if (l->epoch[i] == epoch && l->batch[i] == batch) return 1;
    return 0;
}

static void add_bad(bad_list *l, int epoch, long batch)
{
    if (l->n < MAX_BAD && !is_bad(l, epoch, batch)) l->epoch[l->n] = epoch, l->batch[l->n++] = batch;
}

/* Rolls back after a failure at position `failed`, caused by batch
 * (epoch, batch): restores the snapshot, records the batch as bad, and
 * sets *step, *epoch, *batch to the snapshot's position (the next batch
 * to read). An undone trial (the guard's plateau watch: a back-off that did
 * not lower the loss) is a rollback too, with no batch at fault. Returns 0
 * on success. */
static int roll_back(gg_guard *gd, gg_train_pos failed, int undo_trial, bad_list *bad, long *step, int *epoch,
                     long *batch)
{
    if (!undo_trial) add_bad(bad, *epoch, *batch);
    gg_train_pos back = failed; /* in: where it failed; out: the snapshot's position */
    if (gg_guard_rollback(gd, &back)) return 1;
    if (undo_trial)
        printf("a trial of a lower rate undone: back to step %ld (epoch %d, batch %ld)\n", back.step, back.epoch + 1,
               back.batch);
    else
        printf("rolled back to the snapshot taken after step %ld (epoch %d, batch %ld); batch %ld of epoch %d will be "
               "skipped\n", back.step, back.epoch + 1, back.batch, *batch, *epoch + 1);
    *step = back.step;
    *epoch = back.epoch;
    *batch = back.batch;
    return 0;
}

int main(int argc, char **argv)
{
    int epochs = 1, faults = 0;
    long limit = 0;
    const char *dir = "/usr/share/datasets/fashion-mnist";
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            limit = strtol(argv[++i], &end, 10);
            if (*end || limit < 1) return fprintf(stderr, "mlp_fashion: --limit %s is not a count\n", argv[i]), 2;
        } else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--faults") == 0) {
            faults = 1;
        } else {
            epochs = (int)strtol(argv[i], &end, 10);
            if (*end || epochs < 1 || epochs > 1000)
                return fprintf(stderr, "usage: mlp_fashion [EPOCHS] [--limit N] [--data DIR] [--faults]\n"), 2;
        }
    }

    gg_dataset train, test;
    if (load(&train, dir, "train")) return fail("training set");
    if (load(&test, dir, "t10k")) return fail("test set");
    if (limit > 0 && (size_t)limit < train.n) train.n = (size_t)limit; /* the first N samples */

    model m;
    if (build(&m)) return fail("model");
    gg_optim_config oc = gg_optim_defaults(GG_OPT_ADAM);
    oc.lr = LR;
    gg_optim *opt = gg_optim_new(m.g, &oc);
    if (!opt) return fail("optimizer");

    /* The guard's policy: the default (z-score clipping, rollback on a
     * non-finite gradient, a loss blow-up or a collapse to chance level,
     * back-off on a slow climb) with
     * a loss spike skipping its step instead of only being logged, and a
     * rollback snapshot every 50 good steps instead of 100. */
    gg_guard_config gc = gg_guard_defaults();
    gc.on_loss_spike = GG_DO_SKIP;
    gc.snapshot_every = 50;
    gg_guard *gd = gg_guard_new(m.g, opt, &gc);
    if (!gd) return fail("guard");
    gg_guard_set_chance(gd, log(10.0)); /* 10 classes: turns on the collapse detector */
    policy pol = {.hard_cap = 100, .max_nonfinite = 3};

    size_t *perm = malloc(sizeof *perm * train.n);
    if (!perm) return fprintf(stderr, "mlp_fashion: out of memory\n"), 1;
    long steps_per_epoch = (long)((train.n + BATCH - 1) / BATCH);
    printf("%zu training and %zu test images, %d epoch(s) of %ld steps\n", train.n, test.n, epochs, steps_per_epoch);
    /* the data position: optimizer steps taken, the epoch, the next batch */
    long step = 0, b = 0;
    int epoch = 0, perm_epoch = -1, stop = 0;
    gg_train_pos pos = {0};
    gg_guard_snapshot(gd, &pos); /* a rollback needs a snapshot to go back to */
    bad_list bad = {0};
    double run_loss = 0;
    int run_n = 0;
    while (epoch < epochs && !stop) {
        if (b == steps_per_epoch) {
            epoch++, b = 0;
            continue;
        }
        if (perm_epoch != epoch) {
            /* seeded by the epoch: a rewind to an earlier epoch sees its order again */
            gg_rng rng;
            gg_rng_seed(&rng, 2 + (uint64_t)epoch);
            gg_shuffle(perm, train.n, 1, &rng);
            perm_epoch = epoch;
        }
        if (is_bad(&bad, epoch, b)) {
            printf("skipping batch %ld of epoch %d, which made the guard roll back\n", b, epoch + 1);
            b++;
            continue;
        }
        size_t start = (size_t)b * BATCH;
        int nb = train.n - start < BATCH ? (int)(train.n - start) : BATCH;
        gg_graph_set_batch(m.g, nb);
        float *x = gg_graph_data(m.g, m.x);
        gg_dataset_batch(&train, perm + start, nb, x, gg_graph_data(m.g, m.y));
        if (faults) corrupt(epoch, b, x, nb);
        gg_graph_zero_grad(m.g);
        if (gg_graph_forward(m.g, GG_TRAIN, -1) || gg_graph_backward(m.g, m.loss, 1)) return fail("step");
        double loss = gg_graph_scalar(m.g, m.loss);

        /* inspect, decide, act: the guard, then our callback, then us */
        gg_guard_decision d = gg_guard_check(gd, step, epoch, loss);
        if (d.diagnose) diagnose(&m, gd, epoch, b);
        my_policy(&pol, step, gg_guard_last(gd), &d);
        print_events(gd);
        int applied = 0;
        if (d.verdict == GG_GUARD_STOP) {
            stop = 1;
            break;
        }
        if (d.verdict == GG_GUARD_ROLLBACK) {
            /* failed before the update, at the current position */
            pos = (gg_train_pos){.step = step, .epoch = epoch, .batch = b};
            if (roll_back(gd, pos, d.undo_trial, &bad, &step, &epoch, &b)) return fail("rollback");
            continue;
        }
        if (d.verdict == GG_GUARD_PROCEED) {
            if (gg_optim_step(opt, LR * d.lr_scale)) return fail("update");
            applied = 1;
        }
        /* the position after this batch */
        pos = (gg_train_pos){.step = step + 1, .epoch = epoch, .batch = b + 1};
        gg_guard_decision after = gg_guard_after_step(gd, &pos, applied);
        print_events(gd);
        if (after.verdict == GG_GUARD_STOP) {
            stop = 1;
            break;
        }
        if (after.verdict == GG_GUARD_ROLLBACK) {
            /* the update made the weights bad: this batch goes too */
            if (roll_back(gd, pos, after.undo_trial, &bad, &step, &epoch, &b)) return fail("rollback");
            continue;
        }
        step++, b++;
        if (isfinite(loss) && applied) run_loss += loss, run_n++;
        if (step % 100 == 0 && run_n) {
            printf("step %ld epoch %d loss %.4f lr %.3g\n", step, epoch + 1, run_loss / run_n, LR * d.lr_scale);
            run_loss = 0, run_n = 0;
        }
    }

    double tl, ta;
    if (evaluate(&m, &test, &tl, &ta)) return fail("evaluation");
    const gg_guard_counters *c = gg_guard_counts(gd);
    printf("guard: %ld clipped, %ld skipped, %ld back-offs, %ld rollbacks, %ld non-finite; policy: %ld vetoes%s\n",
           c->clipped, c->skipped, c->backoffs, c->rollbacks, c->nonfinite, pol.vetoes, stop ? "; stopped early" : "");
    printf("test loss %.4f, test accuracy %.4f\n", tl, ta);
    free(perm);
    gg_guard_free(gd);
    gg_optim_free(opt);
    gg_graph_free(m.g);
    gg_dataset_free(&train);
    gg_dataset_free(&test);
    return ta > 0.80 ? 0 : 1;
}

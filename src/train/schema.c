/*
 * schema.c - a run's settings from its config, through key tables
 * (io/schema.h): the sections of the trainer's own settings (data, loss,
 * regularize, train, dist, prune, augment, the entries of optimizer.groups
 * and guard.faults) are tables here; the optimizer, schedule and guard
 * sections include the library's tables (src/optim/keys.c,
 * src/guard/keys.c). gg_settings_read reads every section through its
 * table; gg_config_keys gives the tables to the docs generator
 * (tests/config_docs.c) and the tests. A new key is a struct field and a row.
 */
#include "train.h"

#include "io/schema.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY(ty, k, f, ...) GG_KEY_ROW(ty, gg_settings, k, f, __VA_ARGS__)
#define KI(k, f, lo_, hi_, def_, ...) KEY(GG_KEY_INT, k, f, .lo = (lo_), .hi = (hi_), .def = (def_), __VA_ARGS__)
#define KL(k, f, lo_, hi_, def_, ...) KEY(GG_KEY_LONG, k, f, .lo = (lo_), .hi = (hi_), .def = (def_), __VA_ARGS__)
#define KF(k, f, lo_, hi_, def_, ...) KEY(GG_KEY_F32, k, f, .lo = (lo_), .hi = (hi_), .def = (def_), __VA_ARGS__)
#define KD(k, f, lo_, hi_, def_, ...) KEY(GG_KEY_F64, k, f, .lo = (lo_), .hi = (hi_), .def = (def_), __VA_ARGS__)
#define KB(k, f, def_, ...) KEY(GG_KEY_BOOL, k, f, .def = (def_), __VA_ARGS__)
#define P40 ((double)(1L << 40))
#define FASHION "/usr/share/datasets/fashion-mnist"

/* ---- data ------------------------------------------------------------------ */

static const char *const formats[] = {"idx", "csv", "npy", "adding", "temporal_order", "text"};

/* `test: none` (or an empty value) trains without a test set */
static gg_status read_test(gg_cfg_node *m, const gg_key *k, void *base)
{
    gg_cfg_node *tn = gg_cfg_get(m, k->key);
    if (tn && (gg_cfg_node_type(tn) == GG_CFG_NULL || (gg_cfg_scalar(tn) && strcmp(gg_cfg_scalar(tn), "none") == 0))) {
        ((char *)base + k->off)[0] = 0;
        return GG_OK;
    }
    gg_key path = *k;
    path.read = NULL;
    return gg_schema_read_key(m, &path, base);
}

static const gg_key data_keys[] = {
    KEY(GG_KEY_NAME, "format", format, .names = formats, .nnames = 6, .doc = "the kind of data (below)"),
    KEY(GG_KEY_PATH, "train", train_path, .sdef = FASHION,
        .doc = "the training data: idx, a directory holding `train-images-idx3-ubyte[.gz]` and `train-labels-"
               "idx1-ubyte[.gz]`, or an images file; csv, the CSV file; npy, the features file; text, the text "
               "file (plain or gzip) or a directory of them, read as one text (below); not used by adding and "
               "temporal_order"),
    KEY(GG_KEY_PATH, "train_labels", train_labels, .def_doc = "(derived)",
        .doc = "idx: the labels file when `train` is an images file (default: its name with `images-idx3` "
               "replaced by `labels-idx1`); npy: the labels file (default: none)"),
    KEY(GG_KEY_PATH, "test", test_path, .sdef = FASHION, .read = read_test, .type_doc = "path, or `none`",
        .doc = "the test set, as `train` (a directory gives its `t10k-*` files); `none` or an empty value trains"
               " without one. For adding and temporal_order any value other than `none` means \"generate one\" "
               "(`test: generated` reads well); text runs have no test set (use `none`)"),
    KEY(GG_KEY_PATH, "test_labels", test_labels, .def_doc = "(derived)", .doc = "as `train_labels`, for the test set"),
    KEY(GG_KEY_STR, "label", label_col, .def_doc = "the last column",
        .doc = "csv: the label column, a name from the header or a 0-based index as text (`\"0\"`, `\"-1\"` for "
               "the last)"),
    KB("header", csv_header, 1, .doc = "csv: the first line is a header"),
    KD("val_fraction", val_fraction, 0, 0.9, 0.1,
       .doc = "held out for validation. idx, csv, npy: that fraction of the (limited) training set, chosen at "
              "random by the seed; text: the last part of the text; adding, temporal_order: if > 0, a "
              "separately generated validation set of `test_size` / 5 samples (at least 100; 2000 when "
              "`test_size` is 0)"),
    KEY(GG_KEY_ENUM, "normalize", normalize, .def = GG_NORMALIZE_SCALE,
        .names = (const char *const[]){"none", "scale", "standardize"}, .nnames = 3,
        .doc = "scale: the loader's scale (pixels / 255 for uint8 data; float data unchanged); none: raw values "
               "(0-255 for bytes); standardize: scale, then subtract the training set's mean and divide by its "
               "standard deviation (one mean and std over all features), applied to all sets. Not used by "
               "adding, temporal_order and text, whose features are used as they are"),
    KL("limit_train", limit_train, 0, P40, 0,
       .doc = "use only the first N training samples (before the validation split; 0: all)"),
    KL("limit_test", limit_test, 0, P40, 0, .doc = "use only the first N test samples (0: all)"),
    KI("length", length, 2, 1 << 20, 100,
       .doc = "adding, temporal_order: the sequence length T (temporal_order needs T >= 10; the original adding"
              " variant T >= 20); text: the window length"),
    KL("train_size", train_size, 1, 1L << 32, 100000, .doc = "adding, temporal_order: generated training samples"),
    KL("test_size", test_size, 0, 1L << 32, 10000, .doc = "adding, temporal_order: generated test samples (0: none)"),
    KL("stride", stride, 0, 1L << 30, 0,
       .doc = "text: a window starts every `stride` bytes (0: `length`, windows that do not overlap)"),
    KEY(GG_KEY_ENUM, "variant", variant, .names = (const char *const[]){"uniform", "original"}, .nnames = 2,
        .doc = "adding: `uniform`, values U(0, 1) and the target their sum (Le et al. 2015); `original`, "
               "Hochreiter & Schmidhuber's 1997 version"),
    {0},
};

static gg_status data_post(gg_cfg_node *m, gg_settings *s)
{
    /* the synthetic tasks and text use their features as they are */
    int synthetic =
        strcmp(s->format, "adding") == 0 || strcmp(s->format, "temporal_order") == 0 || strcmp(s->format, "text") == 0;
    if (synthetic && !gg_cfg_get(m, "normalize")) s->normalize = GG_NORMALIZE_NONE;
    return GG_OK;
}

/* ---- loss ------------------------------------------------------------------ */

static const char *loss_name(int i) { return gg_loss_name((gg_loss_kind)i); }

static const gg_key loss_keys[] = {
    KEY(GG_KEY_ENUM, "name", loss, .name_of = loss_name, .nnames = GG_LOSS_COUNT,
        .doc = "softmax cross-entropy on class ids (the model outputs logits; accuracy is reported); binary "
               "cross-entropy with logits on targets in [0, 1]; mean squared error; Huber"),
    KF("smoothing", smoothing, 0, 0.999, 0, .doc = "softmax_xent: label smoothing"),
    KF("delta", huber_delta, 1e-9, 1e9, 1, .doc = "huber: the threshold between the quadratic and the linear part"),
    KF("z_loss", z_loss, 0, 1, 0,
       .doc = "softmax_xent: adds z_loss x the mean over rows of (log Z)^2, log Z the logsumexp of the row's logits, "
              "to the training loss (PaLM's z-loss; 1e-4 in Wortsman et al. 2023): it holds the output logits' scale "
              "down. Training only: validation and test losses are the cross-entropy alone, comparable with runs "
              "without it. Not applied to mixup's soft targets"),
    {0},
};

static gg_status loss_post(gg_cfg_node *m, gg_settings *s)
{
    if (s->z_loss > 0 && s->loss != GG_LOSS_XENT)
        return gg_fail(GG_E_CONFIG, "%s: loss.z_loss needs loss.name softmax_xent (it penalises the softmax's log Z)",
                       gg_setup_at(gg_cfg_get(m, "z_loss")));
    return GG_OK;
}

/* ---- optimizer --------------------------------------------------------------- */

static const gg_key group_keys[] = {
    GG_KEY_ROW(GG_KEY_STR, gg_group_cfg, "params", pattern, .range_doc = "a glob, under 64 characters",
               .def_doc = "(required)",
               .doc = "parameter names it applies to (`fc1.*`, `*.bias`, `conv1.weight`); a pattern that matches "
                      "nothing is an error"),
    GG_KEY_ROW(GG_KEY_F32, gg_group_cfg, "lr_scale", lr_scale, .lo = 0, .hi = 1e6, .def = 1,
               .doc = "the learning rate times this"),
    GG_KEY_ROW(GG_KEY_F32, gg_group_cfg, "weight_decay", weight_decay, .lo = 0, .hi = 1e3,
               .def_doc = "`optimizer.weight_decay`", .doc = "the group's weight decay"),
    GG_KEY_ROW(GG_KEY_F32, gg_group_cfg, "l1", l1, .lo = 0, .hi = 1e3, .def = -1, .def_doc = "`regularize.l1`",
               .doc = "the group's L1 penalty"),
    GG_KEY_ROW(GG_KEY_F32, gg_group_cfg, "l2", l2, .lo = 0, .hi = 1e3, .def = -1, .def_doc = "`regularize.l2`",
               .doc = "the group's L2 penalty"),
    {0},
};

static gg_status read_groups(gg_cfg_node *o, const gg_key *k, void *base)
{
    gg_settings *s = base;
    gg_cfg_node *gs = gg_cfg_get(o, k->key);
    if (!gs || gg_cfg_node_type(gs) == GG_CFG_NULL) return GG_OK;
    if (gg_cfg_node_type(gs) != GG_CFG_SEQ)
        return gg_fail(GG_E_CONFIG, "%s: optimizer.groups must be a list", gg_setup_at(gs));
    int n = gg_cfg_len(gs);
    if (n > GG_MAX_GROUPS)
        return gg_fail(GG_E_CONFIG, "%s: optimizer.groups has %d entries, at most %d", gg_setup_at(gs), n,
                       GG_MAX_GROUPS);
    for (int i = 0; i < n; i++) {
        gg_cfg_node *e = gg_cfg_at(gs, i);
        gg_group_cfg *gc = &s->groups[i];
        gg_schema_defaults(group_keys, gc);
        gc->weight_decay = s->opt.weight_decay;
        if (gg_cfg_node_type(e) == GG_CFG_MAP) {
            const char *pat = NULL;
            GG_TRY(gg_cfg_str(e, "params", &pat));
            if (!pat || !*pat || strlen(pat) >= GG_NAME_MAX)
                return gg_fail(GG_E_CONFIG, "%s: optimizer.groups entry needs 'params' (a name pattern like fc1.*)",
                               gg_setup_at(e));
        }
        GG_TRY(gg_schema_read(e ? e : gs, group_keys, gc));
    }
    s->ngroups = n;
    return GG_OK;
}

static const gg_key optimizer_keys[] = {
    {.key = "", .type = GG_KEY_INCLUDE, .off = offsetof(gg_settings, opt), .sub = gg_optim_keys},
    KEY(GG_KEY_LIST, "groups", groups, .read = read_groups, .range_doc = "at most 16",
        .doc = "parameter groups (below)"),
    {0},
};

/* `name` first: a named optimizer starts from its own defaults, so a
 * config can switch optimizers with one --set */
static gg_status optimizer_init(gg_cfg_node *m, gg_settings *s)
{
    gg_optim_config c = gg_optim_defaults(GG_OPT_ADAM);
    if (gg_cfg_node_type(m) == GG_CFG_MAP)
        GG_TRY(gg_schema_read_key(m, gg_schema_find(gg_optim_keys, "name", NULL), &c));
    s->opt = gg_optim_defaults(c.kind);
    return GG_OK;
}

/* ---- schedule ---------------------------------------------------------------- */

static const gg_key schedule_keys[] = {
    {.key = "", .type = GG_KEY_INCLUDE, .off = offsetof(gg_settings, sched), .sub = gg_schedule_keys},
    {0},
};

static gg_status schedule_init(gg_cfg_node *m, gg_settings *s)
{
    gg_schedule_config c = gg_schedule_defaults(GG_SCHED_CONSTANT, s->opt.lr);
    if (gg_cfg_node_type(m) == GG_CFG_MAP)
        GG_TRY(gg_schema_read_key(m, gg_schema_find(gg_schedule_keys, "name", NULL), &c));
    s->sched = gg_schedule_defaults(c.kind, s->opt.lr);
    return GG_OK;
}

/* ---- regularize ---------------------------------------------------------------- */

static const gg_key early_stopping_keys[] = {
    KI("patience", es_patience, 0, 100000, 0, .def_doc = "0 (off)",
       .doc = "epochs without an improvement before the run stops"),
    KD("min_delta", es_min_delta, 0, 1e9, 0, .doc = "the decrease that counts as an improvement"),
    KB("restore_best", es_restore, 1, .doc = "on stopping, restore the weights of the best epoch"),
    {0},
};

static const gg_key regularize_keys[] = {
    KF("l1", l1, 0, 1e3, 0,
       .doc = "L1 penalty l1 sum\\|p\\| on weights (not biases or normalisation parameters, unless a group says"
              " so), added to the gradient and to the reported loss"),
    KF("l2", l2, 0, 1e3, 0, .doc = "L2 penalty l2/2 sum p^2, likewise"),
    {.key = "early_stopping",
     .type = GG_KEY_MAP,
     .sub = early_stopping_keys,
     .doc = "early stopping on the validation loss (the training loss without a validation set)"},
    {0},
};

/* ---- guard ------------------------------------------------------------------- */

static const gg_key fault_keys[] = {
    GG_KEY_ROW(GG_KEY_LONG, gg_fault, "batch", step, .lo = 0, .hi = P40, .def = -1, .def_doc = "(required)",
               .doc = "which batch: the global batch index, epoch x steps_per_epoch + batch"),
    GG_KEY_ROW(GG_KEY_BOOL, gg_fault, "nan", nan, .doc = "put a NaN into the batch's features (the middle element)"),
    GG_KEY_ROW(GG_KEY_BOOL, gg_fault, "inf", inf, .doc = "put +Inf into the batch's features (the middle element)"),
    GG_KEY_ROW(GG_KEY_F32, gg_fault, "scale", scale, .lo = -1e30, .hi = 1e30, .def = 1,
               .doc = "multiply the batch's features by this"),
    GG_KEY_ROW(GG_KEY_BOOL, gg_fault, "labels", labels,
               .doc = "give every sample of the batch a wrong class (label y becomes (y + 1 + k mod (C - 1)) mod C for "
                      "the k-th label): a mislabelled shard; classifiers only (an error for a regression loss)"),
    GG_KEY_ROW(GG_KEY_STR, gg_fault, "node", node,
               .doc = "instead, make element 0 of this op's output NaN (`fc2/linear`; ops are named layer/op)"),
    GG_KEY_ROW(GG_KEY_BOOL, gg_fault, "backward", backward,
               .doc = "with `node`: corrupt the op's input gradient in the backward pass instead"),
    GG_KEY_ROW(GG_KEY_INT, gg_fault, "rank", rank, .lo = 0, .hi = 1 << 20, .def = -1, .def_doc = "every rank",
               .doc = "in a data-parallel run, inject the fault only into that rank's shard of the batch"),
    {0},
};

static gg_status read_faults(gg_cfg_node *m, const gg_key *k, void *base)
{
    gg_settings *s = base;
    gg_cfg_node *fl = gg_cfg_get(m, k->key);
    if (!fl || gg_cfg_node_type(fl) == GG_CFG_NULL) return GG_OK;
    if (gg_cfg_node_type(fl) != GG_CFG_SEQ || gg_cfg_len(fl) > GG_MAX_FAULTS)
        return gg_fail(GG_E_CONFIG, "%s: guard.faults must be a list of at most %d entries", gg_setup_at(fl),
                       GG_MAX_FAULTS);
    s->nfaults = gg_cfg_len(fl);
    for (int i = 0; i < s->nfaults; i++) {
        gg_cfg_node *e = gg_cfg_at(fl, i);
        gg_fault *f = &s->faults[i];
        gg_schema_defaults(fault_keys, f);
        GG_TRY(gg_schema_read(e ? e : fl, fault_keys, f));
        if (f->step < 0) return gg_fail(GG_E_CONFIG, "%s: guard.faults entry needs 'batch'", gg_setup_at(e));
    }
    return GG_OK;
}

/* guard.layer_every given: layers.csv even with the guard off */
static gg_status guard_post(gg_cfg_node *m, gg_settings *s)
{
    s->layer_every_set = gg_cfg_get(m, "layer_every") != NULL;
    s->on_slow_set = gg_cfg_get(m, "on_slow") != NULL;
    return GG_OK;
}

static const gg_key guard_keys[] = {
    {.key = "", .type = GG_KEY_INCLUDE, .off = offsetof(gg_settings, guard), .sub = gg_guard_keys},
    KEY(GG_KEY_LIST, "faults", faults, .read = read_faults, .range_doc = "at most 16",
        .doc = "fault injection, for tests and demonstrations: a list of entries (below)"),
    {0},
};

/* ---- train ------------------------------------------------------------------- */

static const gg_key train_keys[] = {
    KI("epochs", epochs, 1, 1000000, 5, .doc = "passes over the training set"),
    KI("batch", batch, 1, 1 << 20, 128,
       .doc = "samples per micro-batch (the graph is planned for this size; the last batch of an epoch may be "
              "smaller)"),
    KI("accumulate", accumulate, 1, 65536, 1,
       .doc = "micro-batches per optimizer step: a step sees batch x accumulate samples, with the gradient of "
              "one batch that large"),
    KI("threads", threads, 0, 4096, 0,
       .doc = "OpenMP and OpenBLAS threads; 0: every core. Overrides OMP_NUM_THREADS and OPENBLAS_NUM_THREADS"),
    KEY(GG_KEY_U64, "seed", seed, .lo = 0, .hi = (double)LONG_MAX, .def = 1,
        .doc = "seeds the initialisation, the data order, the validation split, dropout and generated data; the "
               "same seed and thread count give the same run"),
    KI("log_every", log_every, 1, 100000000, 50,
       .doc = "steps between `step` rows of metrics.csv and progress lines in a pipe (on a terminal the progress "
              "line is also redrawn between them, about twice a second)"),
    KI("eval_every", eval_every, 0, 100000000, 0,
       .doc = "also validate every N steps within an epoch (0: only at each epoch's end); the values go on that"
              " step's `metrics.csv` row and to the terminal"),
    KI("checkpoint_every", checkpoint_every, 0, 1000000, 1,
       .doc = "epochs between checkpoints (0: only at the end of the run)"),
    KI("keep_checkpoints", keep_checkpoints, 1, 1000, 3, .doc = "checkpoints kept (the newest)"),
    KI("stop_after", stop_after, 0, 1000000, 0,
       .doc = "stop (status `stopped`, resumable) after this many epochs of the run (0: never); `resume` clears"
              " it"),
    KL("max_steps", max_steps, 0, P40, 0,
       .doc = "end the run after this many optimizer steps, even mid-epoch (0: no limit); also shortens cosine "
              "and onecycle schedules"),
    KEY(GG_KEY_PATH, "init_from", init_from,
        .doc = "start from these weights instead of the initialisers: a safetensors file (a gradguard "
               "`model.safetensors` or checkpoint, or a PyTorch `state_dict` saved with "
               "`gradguard.save_weights`), imported by name as `gg_model_import` does: every parameter and "
               "buffer of the model must be in the file with its shape, every tensor of the file must be the "
               "model's (PyTorch's `lstm1.weight_ih_l0` names, BatchNorm's `num_batches_tracked` and a "
               "checkpoint's optimizer state are accepted), and every value finite. An error names the file, the"
               " tensor and both shapes: `cfg.yaml:9: train.init_from: w.safetensors: tensor 'fc1.weight' has "
               "shape (784, 64), the model's 'fc1.weight' is (64, 784)`. Only a new run reads it (`resume` "
               "continues from the checkpoint; `eval`, `predict`, `sample` and `prune` use the run's own "
               "weights, so the file may be gone by then). The optimizer starts fresh"),
    {0},
};

/* A run started from trained weights (a fine-tune) takes a small rate on
 * purpose, and a trained net's small gradients move its weights little: the
 * slow-rate rule only reports there, unless guard.on_slow is given. */
static gg_status train_post(gg_cfg_node *m, gg_settings *s)
{
    if (s->init_from[0]) {
        snprintf(s->init_from_at, sizeof s->init_from_at, "%s", gg_setup_at(gg_cfg_get(m, "init_from")));
        if (!s->on_slow_set && s->guard.on_slow == GG_DO_RAISE) s->guard.on_slow = GG_DO_NOTHING;
    }
    return GG_OK;
}

/* ---- dist -------------------------------------------------------------------- */

/* how the ranks of an MPI run talk (src/parallel); read, and harmless, in a
 * single-process run too, so one config serves both */
static const gg_key dist_keys[] = {
    KD("bucket_mb", bucket_mb, 0, 1 << 20, 0,
       .doc = "allreduce the gradient in pieces of this many MiB, one `MPI_Allreduce` each; 0: one call over "
              "the whole arena (faster here: no overlap to gain)"),
    KD("timeout", dist_timeout, 0, 1e7, 300, .type_doc = "float (seconds)",
       .doc = "a rank that waits this long in one collective (a peer hung) ends itself, and mpirun the job; 0: "
              "wait forever"),
    {0},
};

/* ---- prune ------------------------------------------------------------------- */

static const gg_key prune_keys[] = {
    KF("sparsity", prune.sparsity, 0, 0.999, 0, .def_doc = "(required)",
       .doc = "the final fraction of prunable weights set to 0 (s1)"),
    KEY(GG_KEY_ENUM, "method", prune.method, .def = GG_PRUNE_MAGNITUDE,
        .names = (const char *const[]){"magnitude", "random"}, .nnames = 2,
        .doc = "magnitude: the smallest \\|w\\| go (L1 of each weight; with `structured`, the L2 norm of each "
               "row divided by sqrt of its length); random: seeded uniform choice"),
    /* gg_prune_config.global is 1 for "global" */
    KEY(GG_KEY_ENUM, "scope", prune.global, .def = 1, .names = (const char *const[]){"layer", "global"}, .nnames = 2,
        .doc = "global: one ranking over all prunable tensors (`sparsity` is a fraction of all of them, layers "
               "end up unequal); layer: every tensor pruned to `sparsity` on its own"),
    KB("structured", prune.structured, 0,
       .doc = "remove whole rows: a dense layer's output units, a convolution's filters, a recurrent layer's "
              "gate rows"),
    KB("keep_last", prune.keep_last, 0, .def_doc = "true if `structured`, else false",
       .doc = "leave the model's last weight tensor (its outputs, the classes) whole"),
    KB("include_biases", prune.include_biases, 0, .doc = "also prune biases and normalisation parameters"),
    KL("start", prune.start, 0, P40, 0, .doc = "the step of the first pruning"),
    KL("end", prune.end, 0, P40, 0, .range_doc = "[start, 2^40]", .def_doc = "`start`",
       .doc = "the step the final sparsity is reached; `end` = `start` prunes once, at `start`"),
    KL("every", prune.every, 1, P40, 100, .doc = "steps between pruning steps of a gradual schedule"),
    KF("initial_sparsity", prune.initial_sparsity, 0, 0.999, 0, .range_doc = "[0, `sparsity`]",
       .doc = "s0, the target at `start` of a gradual schedule"),
    {0},
};

/* without a prune section the settings hold the library's defaults (the
 * table's are a config's: every 100 steps) */
static gg_status prune_init(gg_cfg_node *m, gg_settings *s)
{
    if (gg_cfg_node_type(m) == GG_CFG_NULL) s->prune = gg_prune_defaults();
    return GG_OK;
}

static int absent(gg_cfg_node *m, const char *key) { return gg_cfg_node_type(gg_cfg_get(m, key)) == GG_CFG_NULL; }

static gg_status prune_post(gg_cfg_node *m, gg_settings *s)
{
    gg_prune_config *c = &s->prune;
    if (!gg_cfg_get(m, "sparsity"))
        return gg_fail(GG_E_CONFIG, "%s: prune needs 'sparsity' (the final fraction of weights pruned, e.g. 0.8)",
                       gg_setup_at(m));
    /* structured pruning of the output layer would remove classes */
    if (absent(m, "keep_last")) c->keep_last = c->structured;
    if (absent(m, "end")) c->end = c->start;
    if (c->initial_sparsity > c->sparsity)
        return gg_fail(GG_E_CONFIG, "%s: prune.initial_sparsity %g is above prune.sparsity %g",
                       gg_setup_at(gg_cfg_get(m, "initial_sparsity")), (double)c->initial_sparsity,
                       (double)c->sparsity);
    if (gg_cfg_get(m, "end") && c->end < c->start)
        return gg_fail(GG_E_CONFIG, "%s: prune.end %ld is before prune.start %ld", gg_setup_at(gg_cfg_get(m, "end")),
                       c->end, c->start);
    if (c->initial_sparsity > 0 && c->end == c->start)
        return gg_fail(GG_E_CONFIG, "%s: prune.initial_sparsity needs a gradual schedule (prune.end after prune.start)",
                       gg_setup_at(gg_cfg_get(m, "initial_sparsity")));
    s->prune_on = 1;
    return GG_OK;
}

/* ---- augment ----------------------------------------------------------------- */

static const gg_key augment_keys[] = {
    KI("shift", aug.shift, 0, 64, 0, .range_doc = "[0, 64], below the image size",
       .doc = "images: move each image by up to `shift` pixels in x and y (a random crop of the image padded by"
              " `shift`; the padding is a zero pixel after normalisation)"),
    KB("flip", aug.flip, 0, .doc = "images: mirror left-right with probability 1/2"),
    KF("noise", aug.noise, 0, 1e3, 0,
       .doc = "add Gaussian noise of this standard deviation to every feature (after normalisation)"),
    KF("mixup", aug.mixup, 0, 1e3, 0,
       .doc = "mixup's alpha: each batch is mixed with a shuffled copy of itself, x = l x_i + (1 - l) x_j with "
              "l ~ Beta(alpha, alpha) drawn per batch; the targets are mixed alike (a classifier trains on the "
              "soft targets l onehot(y_i) + (1 - l) onehot(y_j), label smoothing applied, through a soft-target"
              " cross-entropy)"),
    {0},
};

static gg_status augment_post(gg_cfg_node *m, gg_settings *s)
{
    if (gg_augment_active(&s->aug) && strcmp(s->format, "text") == 0)
        return gg_fail(GG_E_CONFIG, "%s: augment does not apply to text: the inputs are byte ids, not features",
                       gg_setup_at(m));
    return GG_OK;
}

/* ---- the sections -------------------------------------------------------------- */

/* A section: its table (offsets from gg_settings), what it needs beyond
 * the table's defaults (init: present or not) and the checks across its
 * keys (post: when the section is given). In the order they are read: the
 * schedule's defaults need the optimizer's rate. */
typedef struct section {
    const char *name;
    const gg_key *keys;
    gg_status (*init)(gg_cfg_node *m, gg_settings *s);
    gg_status (*post)(gg_cfg_node *m, gg_settings *s);
} section;

static const section sections[] = {
    {"data", data_keys, NULL, data_post},
    {"loss", loss_keys, NULL, loss_post},
    {"optimizer", optimizer_keys, optimizer_init, NULL},
    {"schedule", schedule_keys, schedule_init, NULL},
    {"regularize", regularize_keys, NULL, NULL},
    {"guard", guard_keys, NULL, guard_post},
    {"train", train_keys, NULL, train_post},
    {"prune", prune_keys, prune_init, prune_post},
    {"augment", augment_keys, NULL, augment_post},
    {"dist", dist_keys, NULL, NULL},
};
#define NSECTIONS ((int)(sizeof sections / sizeof *sections))

gg_status gg_settings_read(gg_cfg *cfg, gg_settings *s)
{
    memset(s, 0, sizeof *s);
    gg_cfg_node *root = gg_cfg_root(cfg);
    if (!root || gg_cfg_node_type(root) != GG_CFG_MAP)
        return gg_fail(GG_E_CONFIG,
                       "%s: the config must be a map with sections data, model, loss, optimizer, ... "
                       "(it is %s)",
                       gg_setup_at(root),
                       gg_cfg_node_type(root) == GG_CFG_SEQ    ? "a list"
                       : gg_cfg_node_type(root) == GG_CFG_NULL ? "null"
                                                               : "a single value");
    const char *names[NSECTIONS + 1];
    for (int i = 0; i < NSECTIONS; i++) {
        const section *sec = &sections[i];
        gg_cfg_node *m = gg_cfg_get(root, sec->name);
        names[i] = sec->name;
        gg_schema_defaults(sec->keys, s);
        if (sec->init) GG_TRY(sec->init(m, s));
        if (!m || gg_cfg_node_type(m) == GG_CFG_NULL) continue;
        GG_TRY(gg_schema_read(m, sec->keys, s));
        if (sec->post) GG_TRY(sec->post(m, s));
    }
    names[NSECTIONS] = "model"; /* read by gg_model_build */
    return gg_schema_unknown(root, names, NSECTIONS + 1);
}

/* the lists whose entries have a table of their own */
static const struct {
    const char *name;
    const gg_key *keys;
} lists[] = {{"optimizer.groups", group_keys}, {"guard.faults", fault_keys}};
#define NLISTS ((int)(sizeof lists / sizeof *lists))

const char *gg_config_doc_name(int i)
{
    if (i >= 0 && i < NSECTIONS) return sections[i].name;
    if (i >= NSECTIONS && i < NSECTIONS + NLISTS) return lists[i - NSECTIONS].name;
    return NULL;
}

const gg_key *gg_config_keys(const char *name)
{
    for (int i = 0; i < NSECTIONS; i++)
        if (strcmp(name, sections[i].name) == 0) return sections[i].keys;
    for (int i = 0; i < NLISTS; i++)
        if (strcmp(name, lists[i].name) == 0) return lists[i].keys;
    return NULL;
}

/*
 * train.h - the trainer's internals: settings read from the config, the
 * trainer object, and the run-directory writers.
 */
#ifndef GG_TRAIN_H
#define GG_TRAIN_H

#include "core/error.h"
#include "data/data.h"
#include "nn/nn.h"
#include "gradguard.h"

#include <limits.h>
#include <stdio.h>

#define GG_PATH_MAX 1024
#define GG_MAX_GROUPS 16
#define GG_MAX_BAD_BATCHES 4096
#define GG_RUN_ID_MAX 48 /* "20250101T120000Z-1a2b3c4d" and its terminator, with room */
#define GG_MAX_NOTES 4

typedef enum gg_loss_kind { GG_LOSS_XENT, GG_LOSS_BCE, GG_LOSS_MSE, GG_LOSS_HUBER, GG_LOSS_COUNT } gg_loss_kind;

typedef struct gg_group_cfg {
    char pattern[GG_NAME_MAX];
    float lr_scale, weight_decay, l1, l2;
} gg_group_cfg;

/* Fault injection for tests and benchmarks: at the listed steps the batch
 * features are multiplied by `scale`, or one feature is set to NaN or +Inf;
 * `labels` (classifiers) makes every label of the batch a wrong class. */
#define GG_MAX_FAULTS 16
typedef struct gg_fault {
    long step;
    int nan, inf, labels;
    float scale;
    char node[GG_NAME_MAX]; /* an op ("fc2/linear") whose output (or input gradient) turns NaN */
    int backward;
    gg_node id;
    int rank; /* data-parallel runs: only this rank's shard (-1: every rank) */
} gg_fault;

typedef struct gg_settings {
    /* data */
    char format[16];
    char train_path[GG_PATH_MAX], train_labels[GG_PATH_MAX];
    char test_path[GG_PATH_MAX], test_labels[GG_PATH_MAX];
    char label_col[64];
    int csv_header;
    double val_fraction;
    gg_norm_mode normalize;
    long limit_train, limit_test; /* use only the first N samples (0: all) */
    /* synthetic tasks and text */
    int length;                   /* sequence length T */
    long train_size, test_size;   /* synthetic samples */
    int variant;                  /* adding problem variant */
    long stride;                  /* text: bytes between window starts */
    /* loss */
    gg_loss_kind loss;
    float smoothing, huber_delta;
    float z_loss; /* softmax_xent: coefficient of mean (log Z)^2 in training (0: none) */
    /* optimizer and schedule */
    gg_optim_config opt;
    gg_group_cfg groups[GG_MAX_GROUPS];
    int ngroups;
    gg_schedule_config sched;
    float l1, l2;
    int es_patience;
    double es_min_delta;
    int es_restore;
    /* guard */
    gg_guard_config guard;
    int layer_every_set; /* guard.layer_every given: layers.csv even with the guard off */
    int on_slow_set;     /* guard.on_slow given (train.init_from otherwise makes it warn) */
    gg_fault faults[GG_MAX_FAULTS];
    int nfaults;
    /* train */
    int epochs, batch, accumulate, threads;
    uint64_t seed;
    int log_every, eval_every, checkpoint_every, keep_checkpoints, stop_after;
    long max_steps;
    int deterministic;
    char init_from[GG_PATH_MAX]; /* train.init_from: weights to start from ("" for none) */
    char init_from_at[64];       /* its place in the config, for messages */
    /* pruning and augmentation (prune_augment.c) */
    gg_prune_config prune;
    int prune_on;
    gg_augment_config aug;
    /* dist: data parallelism over MPI (src/parallel) */
    double bucket_mb; /* gradient allreduce in pieces of this many MiB (0: one call) */
    double dist_timeout; /* seconds a rank waits for the others before its watchdog ends it (0: forever) */
} gg_settings;

struct gg_trainer {
    gg_cfg *cfg;
    int own_cfg;
    gg_settings s;
    char run_dir[GG_PATH_MAX];
    gg_dataset train, val, test;
    gg_text *text;                /* the text of a text run (for sample) */
    int have_val, have_test;
    gg_graph *g;
    gg_node x, y, logits, loss, acc;
    gg_node ysoft, loss_soft; /* mixup: soft targets and their loss (-1 without) */
    gg_pruner *pr;            /* NULL without a prune section */
    gg_augment *aug;          /* NULL without augmentation */
    /* the model's layers in config order (the input first), for the
     * summary: name, config type and output node */
    gg_layer_rec *layer_recs;
    int nlayer_recs;
    gg_optim *o;
    gg_schedule sched;
    gg_guard *gd;
    gg_progress_fn progress;
    void *progress_ctx;
    /* position */
    gg_train_pos pos;
    long steps_per_epoch, total_steps;
    size_t *perm;
    int perm_epoch;
    /* the data position of the last step whose update was applied (batch
     * -1: none since the start, a rollback or a resume): a guard's probe
     * measures that batch again */
    long good_batch;
    int good_epoch;
    /* batches a rollback marked to skip: (epoch << 32 | batch) */
    uint64_t bad[GG_MAX_BAD_BATCHES];
    int nbad;
    /* early stopping */
    double best_metric;
    int best_epoch, bad_epochs;
    float *best_params, *best_bufs;
    float *diag_bufs; /* buffer arena saved around a diagnosis re-run */
    /* run state */
    volatile int stop_requested;
    gg_run_status status;
    double wall_seconds, samples_seen_time;
    long samples_seen;
    double last_train_loss, last_train_acc, last_val_loss, last_val_acc;
    double test_loss, test_acc;
    double first_loss, max_loss; /* of the steps' losses: a divergence shows here */
    long nonfinite_steps;
    /* terminal lines for grad_spike / loss_spike events: the step of the
     * last one shown and how many were not shown since (events.jsonl has
     * every event) */
    long spike_shown_at[2], spike_hidden[2];
    FILE *metrics, *layers, *events;
    char msg[512];
    int resumed;
    long last_ckpt_step; /* -1 before the first checkpoint of this process */
    /* data parallelism: this process's rank and the number of ranks; only
     * rank 0 keeps run_dir (the others clear it after reading what they
     * need), so every file write is rank 0's */
    int rank, world;
    int stop_agreed;      /* a stop request seen by any rank, agreed at a step's reduction */
    size_t bucket;        /* allreduce piece in floats (0: whole arena) */
    double comm_seconds;  /* in the gradient allreduce, this process */
    double step_seconds;  /* in training steps (batch to optimizer), this process */
    double run_t0;        /* monotonic clock at the start of gg_trainer_run (0 before) */
    double lr_last;       /* the rate of the last step the guard let through (NAN: none yet on this branch) */
    /* the run directory (rundir.c): rank 0 holds its lock; run_id is in
     * run_id, summary.json and every checkpoint ("" for a directory made
     * before run ids) */
    int lock_fd;          /* -1 when not held */
    char run_id[GG_RUN_ID_MAX];
    int overwrite;        /* the directory held a run that is to be removed */
    int made_dir;         /* gg_trainer_new created the directory: the length of the outermost created path */
    /* lines for the progress callback and events.jsonl about the directory
     * (a stale lock taken over, an old run removed, foreign checkpoints) */
    struct {
        char kind[32];
        char text[720];
    } notes[GG_MAX_NOTES];
    int nnotes;
};

/* schema.c: every section but `model`, through its key table */
gg_status gg_settings_read(gg_cfg *cfg, gg_settings *s);
/* The key table (io/schema.h) of a section ("train", "guard", ...; offsets
 * from gg_settings) or of a list's entries ("optimizer.groups": gg_group_cfg,
 * "guard.faults": gg_fault); NULL for another name. */
typedef struct gg_key gg_key;
const gg_key *gg_config_keys(const char *name);
/* The names gg_config_keys knows, i = 0, 1, ... (NULL after the last), in
 * the order the reader reads the sections. */
const char *gg_config_doc_name(int i);

/* setup.c */
gg_status gg_model_build(gg_trainer *t, gg_cfg *cfg);
const char *gg_loss_name(gg_loss_kind k);

/* runlog.c */
gg_status gg_runlog_open(gg_trainer *t, int append);
void gg_runlog_close(gg_trainer *t);
void gg_runlog_metrics(gg_trainer *t, const char *kind, double loss, double acc, double lr, double gnorm, double vloss,
                       double vacc, double sps);
/* The same at another step than the trainer's position: the rate's rows
 * ("lr": the rate from this step on; "rollback": the abandoned branch's
 * last step and rate). */
void gg_runlog_row(gg_trainer *t, const char *kind, long step, double loss, double acc, double lr, double gnorm,
                   double vloss, double vacc, double sps);
void gg_runlog_layers(gg_trainer *t);
void gg_runlog_event(gg_trainer *t, const gg_guard_event *e);
void gg_runlog_info(gg_trainer *t, const char *what, const char *detail);
gg_status gg_runlog_summary(gg_trainer *t);

/* rundir.c */
gg_status gg_mkdir_p(const char *dir);
/* Takes RUN_DIR/run.lock for t (command: "train", "resume"; for the lock
 * file): GG_E_STATE naming the holder if a live process has it; a dead
 * holder's lock is taken over with a note. */
gg_status gg_rundir_lock(gg_trainer *t, const char *command);
/* Removes run.lock and releases it (no-op when not held). */
void gg_rundir_unlock(gg_trainer *t);
/* GG_E_STATE naming the files if the directory holds a run and !overwrite;
 * with overwrite, marks the run for gg_rundir_clear. */
gg_status gg_rundir_check_fresh(gg_trainer *t, int overwrite);
/* Removes the run files that gg_rundir_check_fresh found (overwrite). */
gg_status gg_rundir_clear(gg_trainer *t);
/* Makes a new run id and writes RUN_DIR/run_id. */
gg_status gg_rundir_new_id(gg_trainer *t);
/* Reads RUN_DIR/run_id (absent: "", a directory made before run ids). */
gg_status gg_rundir_read_id(gg_trainer *t);
/* Keeps a line for the progress callback and events.jsonl (printf-like). */
void gg_rundir_note(gg_trainer *t, const char *kind, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Writes the notes to events.jsonl (the run log must be open). */
void gg_rundir_log_notes(gg_trainer *t);

/* checkpoint.c */
gg_status gg_ckpt_save(gg_trainer *t);
/* gg_setup_at (nn/nn.h): "cfg.yaml:12" for messages about a config node. */
/* GG_TRY (core/error.h) returns a failed call's status. */

/* One message to the progress callback (trainer.c). */
void gg_train_emit(gg_trainer *t, gg_event_kind kind, const char *msg);
/* 1 if every parameter is finite (trainer.c) */
int gg_train_params_finite(const gg_trainer *t);
gg_status gg_ckpt_load_latest(gg_trainer *t, char *used, size_t cap);

/* predict.c */
/* Imports train.init_from into the new run's model (gg_trainer_new only:
 * a resumed run takes its weights from the checkpoint). */
gg_status gg_train_init_from(gg_trainer *t);

/* prune_augment.c */
gg_status gg_train_mixup_loss(gg_trainer *t);
gg_status gg_train_extras_setup(gg_trainer *t);
void gg_train_extras_free(gg_trainer *t);
void gg_train_augment(gg_trainer *t, float *x, float *y, int n, uint64_t key);
void gg_train_prune_before_step(gg_trainer *t);
void gg_train_sparsity_json(gg_trainer *t, char *buf, size_t cap);
/* Restores the run's state from one checkpoint file (the path rank 0 chose
 * for a data-parallel resume). */
gg_status gg_ckpt_load(gg_trainer *t, const char *path);

#endif

/*
 * gradguard/train.h - a training run as the gradguard command does it
 * (src/train), the HTML report of its run directory (src/report), and data
 * parallelism over MPI (src/parallel).
 *
 * Part of the public API; include "gradguard.h" for all of it, or this file
 * alone (it includes the other headers it needs).
 */
#ifndef GRADGUARD_TRAIN_H
#define GRADGUARD_TRAIN_H

#include "graph.h"
#include "optim.h"
#include "data.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== trainer (src/train) ================================================ */
/*
 * A training run as the gradguard command does it, from a parsed config:
 * data, model, loss, optimizer, schedule, regularisation, guard, logs,
 * checkpoints and the run directory (config.yaml, metrics.csv,
 * layers.csv, events.jsonl, summary.json, checkpoints/, model.safetensors).
 * The library never prints: progress goes to an optional callback.
 */

typedef enum gg_event_kind {
    GG_EV_START,  /* the run is set up; message says what was built */
    GG_EV_STEP,   /* at the log interval */
    GG_EV_EPOCH,  /* an epoch ended (validation metrics filled in) */
    GG_EV_GUARD,  /* the guard acted or diagnosed; message is one line */
    GG_EV_INFO,   /* anything else worth a line (checkpoint written, early stop) */
    GG_EV_DONE,   /* the run ended; message gives the status */
    GG_EV_TICK    /* between log intervals, about every half second of training: the
                     running means of the interval so far, for a live display; nothing
                     was logged (a consumer that prints lines ignores it) */
} gg_event_kind;

typedef struct gg_progress {
    gg_event_kind kind;
    long step, total_steps;
    int epoch, epochs;
    double loss, accuracy, lr, grad_norm;
    double samples_per_second, eta_seconds;
    double val_loss, val_accuracy; /* NAN when there is no validation set */
    const char *message;           /* NULL or one line, owned by the trainer */
    /* GG_EV_STEP and GG_EV_TICK: seconds since the epoch began (in this
     * process) and the share of the epoch's steps done, in (0, 1];
     * GG_EV_EPOCH: the epoch's duration and 1; otherwise 0 */
    double epoch_seconds, epoch_fraction;
} gg_progress;

typedef void (*gg_progress_fn)(const gg_progress *p, void *ctx);

typedef struct gg_trainer gg_trainer;

/* Sets up a run from cfg into run_dir (created if missing; NULL for no
 * files). Every config key is read and checked here; an unknown key or a
 * bad value fails with file, line and key. cfg must outlive the trainer. */
GG_API gg_status gg_trainer_new(gg_cfg *cfg, const char *run_dir, gg_trainer **out);
/* gg_trainer_new with flags (GG_RUN_*). The run directory belongs to one
 * run at a time:
 * - A directory that already holds a run (any of config.yaml, metrics.csv,
 *   layers.csv, events.jsonl, summary.json, model.safetensors,
 *   report.html, run_id, vocab.bin, prune.json, checkpoints/) is refused
 *   (GG_E_STATE, the message names the directory and the files found)
 *   unless flags has GG_RUN_OVERWRITE, which removes those files (and only
 *   those) once the run is set up, before anything new is written. An
 *   empty or missing directory is fine (created).
 * - The trainer holds a lock on RUN_DIR/run.lock (pid, host, start time
 *   and run id in the file, flock(2) on it) from here until
 *   gg_trainer_free; a directory locked by a live process is refused at
 *   once (GG_E_STATE naming its pid and host). A lock left by a process
 *   that died (its flock is gone with it) is taken over, which the run
 *   notes on its progress callback and in events.jsonl.
 * - The run gets a new id (UTC start time and random hex), written to
 *   RUN_DIR/run_id, summary.json and every checkpoint's metadata
 *   (run_id); retention and gg_trainer_resume touch only checkpoints with
 *   the run's id (a directory made before run ids: only checkpoints
 *   without one).
 * Under MPI only rank 0 does these; the others never touch the directory. */
#define GG_RUN_OVERWRITE 1u
GG_API gg_status gg_trainer_new_ex(gg_cfg *cfg, const char *run_dir, unsigned flags, gg_trainer **out);
/* Continues the run in run_dir from its newest readable checkpoint of that
 * run (an unreadable newest one is reported and the one before it used;
 * checkpoints of another run are left alone and named). Takes the run
 * directory's lock as gg_trainer_new_ex does (refused while a live process
 * holds it; a dead holder's lock is taken over with a note).
 * overrides[0..n) are "key=value" assignments applied to its config. */
GG_API gg_status gg_trainer_resume(const char *run_dir, const char *const *overrides, int n, gg_trainer **out);
GG_API void gg_trainer_free(gg_trainer *t);
GG_API void gg_trainer_set_progress(gg_trainer *t, gg_progress_fn fn, void *ctx);
/* Trains to the end (or early stop, or a stop request) and writes the run
 * directory. Returns GG_OK also when the run ended diverged or stalled:
 * gg_trainer_status says how it ended. */
GG_API gg_status gg_trainer_run(gg_trainer *t);
/* Where a run is: running (set up, or inside gg_trainer_run), or how it
 * ended. gg_run_status_name gives the word that summary.json's "status",
 * the events and the command's last line use. */
typedef enum gg_run_status {
    GG_RUN_RUNNING,   /* "running" */
    GG_RUN_COMPLETED, /* "completed": every epoch, or early stopping */
    GG_RUN_STOPPED,   /* "stopped": a stop request or train.stop_after */
    GG_RUN_DIVERGED,  /* "diverged": the guard stopped it, or the weights ended non-finite */
    GG_RUN_STALLED,   /* "stalled": the guard stopped it for a stall */
    GG_RUN_FAILED,    /* "failed": an error ended it (gg_trainer_run returned it) */
    GG_RUN_COUNT
} gg_run_status;
/* The status's word ("completed", ...); NULL if s is not a gg_run_status. */
GG_API const char *gg_run_status_name(gg_run_status s);
/* t's status; GG_RUN_COUNT if t is NULL. */
GG_API gg_run_status gg_trainer_run_status(const gg_trainer *t);
/* gg_run_status_name of t's status ("none" if t is NULL). */
GG_API const char *gg_trainer_status(const gg_trainer *t);
/* Asks a running gg_trainer_run to finish its step, checkpoint and return
 * with status "stopped" (safe to call from a signal handler). */
GG_API void gg_trainer_request_stop(gg_trainer *t);
/* The model graph, its loss node and the input/label nodes. */
GG_API gg_graph *gg_trainer_graph(gg_trainer *t);
/* Evaluates the model on the test set (or validation set if which = 1):
 * mean loss and accuracy. Under MPI each rank evaluates its share and the
 * sums are reduced: every rank must call it. */
GG_API gg_status gg_trainer_evaluate(gg_trainer *t, int which, double *loss, double *accuracy);
/* Loads weights (and buffers) from a safetensors file into the model; every
 * tensor of the model must be present with its shape (errors name it), and
 * every value finite (GG_E_FORMAT naming the tensor and element). */
GG_API gg_status gg_model_load(gg_graph *g, const char *path);
/* Saves the model's parameters and buffers as safetensors. */
GG_API gg_status gg_model_save(gg_graph *g, const char *path);
/* The model's layers as the config lists them, the input first: for a
 * summary like Keras's model.summary(). name ("fc1") and type ("dense",
 * "conv2d", ...; "input" for the input) are owned by the trainer; output is
 * one sample's output shape (no batch dimension); params counts the
 * trainable values of the layer's tensors (named "LAYER.*"), tensors their
 * number, buffers the non-trainable values (batch-norm statistics, carried
 * recurrent states). GG_E_ARG if i is out of [0, gg_trainer_num_layers). */
typedef struct gg_layer_info {
    const char *name;
    const char *type;
    gg_shape output;
    size_t params, buffers;
    int tensors;
} gg_layer_info;
GG_API int gg_trainer_num_layers(const gg_trainer *t);
GG_API gg_status gg_trainer_layer(const gg_trainer *t, int i, gg_layer_info *out);
/* The number of classes of a classifier (loss softmax_xent: the last dim of
 * the logits), 0 for any other loss. */
GG_API int gg_trainer_classes(const gg_trainer *t);
/* Output values per sample (the logits' size without the batch dim). */
GG_API int gg_trainer_outputs(const gg_trainer *t);
/* Loads a data file to predict on, in the run's data.format (idx, csv or
 * npy; labels: the IDX labels or .npy labels file, or NULL), into *out,
 * with the training set's normalisation. A CSV file may hold the label
 * column (data.label) or not; its column count tells. Fails (with *out
 * empty) as the loaders do, with GG_E_CONFIG for another data.format,
 * GG_E_SHAPE naming the file and both feature counts when they differ from
 * the training set's, GG_E_FORMAT for uint8 against float data or a bad
 * class id. Free *out with gg_dataset_free. */
GG_API gg_status gg_trainer_load_samples(gg_trainer *t, const char *path, const char *labels, gg_dataset *out);
/* Runs the model on every sample of d (evaluation mode) and writes
 * d->n * gg_trainer_outputs(t) floats to out: class probabilities (softmax
 * of the logits) for a classifier, sigmoid probabilities for bce_logits,
 * the outputs themselves for mse and huber. Fails only on bad data (as
 * gg_graph_forward), naming the samples. */
GG_API gg_status gg_trainer_predict(gg_trainer *t, const gg_dataset *d, float *out);
/* gg_trainer_predict written as CSV to out_csv (atomically), one row per
 * sample: "index", the labels when d has them ("label" for a classifier,
 * "target" or "target0".. otherwise), then for a classifier "class" (the
 * arg-max) and "p0".."p{C-1}", for bce_logits "p0"..; for regression
 * "value" (or "value0".. for several outputs). GG_E_SHAPE for a classifier
 * with more than one row of logits per sample (sequence labelling). */
GG_API gg_status gg_trainer_predict_csv(gg_trainer *t, const gg_dataset *d, const char *out_csv);
/* The confusion matrix of a classifier on the test set (which = 0) or the
 * validation set (1): counts[true * C + predicted], C = gg_trainer_classes,
 * one count per row of logits (each step of a sequence model). The caller
 * owns counts (C * C longs). GG_E_STATE for a model that is not a
 * classifier or a missing set. This process's samples only: no MPI. */
GG_API gg_status gg_trainer_confusion(gg_trainer *t, int which, long *counts);
/* Generates n bytes after prompt from a character model (input: T byte ids,
 * output: (T, V) logits, causal), sampling softmax(logits / temperature)
 * with seed; writes prompt + generated text into out (cap bytes, always
 * terminated). */
GG_API gg_status gg_trainer_sample(gg_trainer *t, const gg_text *vocab, const char *prompt, int n, float temperature,
                                   uint64_t seed, char *out, size_t cap);
/* Pruning a run (a config with a `prune` section): prunes now to the
 * schedule's target at the run's current step (a one-shot schedule: its
 * final sparsity), as the training loop would before its next step, logs
 * it, and gives the sparsity reached. GG_E_STATE without a prune section.
 * Used to measure a loaded model right after pruning, before fine-tuning. */
GG_API gg_status gg_trainer_prune(gg_trainer *t, double *sparsity);
/* The run's pruner (per-tensor sparsity), or NULL without pruning. */
GG_API gg_pruner *gg_trainer_pruner(gg_trainer *t);

/* ==== report (src/report) ================================================ */
/*
 * The HTML training report: one self-contained file (inline CSS and SVG,
 * no scripts, nothing loaded from the network) with the loss, accuracy,
 * learning-rate and gradient-norm curves, every guard event marked with a
 * tooltip, the per-tensor gradient heat map, the update-to-weight ratios,
 * the event table, the summary and the config. Long series are decimated
 * (min and max per bucket, so spikes survive) to keep the page small.
 *
 * A run that died early has missing or partial files: a missing file is a
 * note and a malformed line a warning naming the file and line, shown on
 * the page; the report is still written. Files over 256 MiB are skipped
 * with a warning.
 */

/* Reads run_dir (metrics.csv, layers.csv, events.jsonl, summary.json,
 * config.yaml) and writes the report to out_html, or to
 * run_dir/report.html when out_html is NULL (atomically: temp file, fsync,
 * rename). GG_E_IO if run_dir is not a readable directory or the page
 * cannot be written; GG_E_NOMEM if memory runs out. */
GG_API gg_status gg_report_write(const char *run_dir, const char *out_html);
/* The loss, accuracy, learning-rate and gradient-norm charts of n runs
 * (1 to 20) overlaid, one colour per run, with a table of their results;
 * the legend names runs by directory name (the whole path when two share
 * one). Fails as gg_report_write; GG_E_ARG for n out of range or a NULL
 * out_html. */
GG_API gg_status gg_report_compare(const char *const *run_dirs, int n, const char *out_html);

/* ==== data parallel (src/parallel) ======================================== */
/*
 * `mpirun -np N gradguard train CONFIG`: every rank builds the same model
 * from the same seed and reads its share of every global batch; the
 * gradient arena is summed over the ranks with one MPI_Allreduce per
 * optimizer step (dist.bucket_mb splits it), before the guard, so each
 * rank's guard sees identical numbers and takes the same decision; the
 * loss, accuracy and any failure are reduced too. Only rank 0 writes the
 * run directory. A program that trains over MPI calls gg_dist_init before
 * anything else and gg_dist_finalize at the end; the trainer asks this
 * layer for its rank and world size. Without gg_dist_init, or in a library
 * built without MPI (gg_dist_built() == 0), the world is one rank and
 * nothing else changes. The trainer's rules under N ranks (train.batch is
 * the global batch, batch norm per rank, ...) are in docs/distributed.md.
 */

/* 1 if the library was built with MPI. */
GG_API int gg_dist_built(void);
/* 1 if an MPI launcher started this process (OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_RANK in the environment). */
GG_API int gg_dist_launched(void);
/* Joins the MPI job when gg_dist_launched() (MPI_Init_thread, funneled:
 * only the calling thread may train); a no-op otherwise, so one binary
 * serves both. GG_E_STATE in a build without MPI started by a launcher
 * with more than one process (each would train alone); GG_E_IO if MPI
 * fails to start. */
GG_API gg_status gg_dist_init(int *argc, char ***argv);
/* Leaves the job (MPI_Finalize) if gg_dist_init joined it. Collective:
 * every rank calls it. */
GG_API void gg_dist_finalize(void);
/* This process's rank (0 .. size-1) and the number of ranks (1 without MPI). */
GG_API int gg_dist_rank(void);
GG_API int gg_dist_size(void);
/* Ends the whole job (MPI_Abort) with code, for a rank that failed on its
 * own while the others may be waiting for it. Returns only when there is no
 * job of several ranks. */
GG_API void gg_dist_abort(int code);
/* Seconds the current collective call has been waiting, 0 when none is in
 * progress. Safe from any thread: a watchdog thread compares it with
 * gg_dist_timeout() (the config's dist.timeout, 0 for none) to end a
 * process whose peers stopped answering without dying. */
GG_API double gg_dist_waiting(void);
GG_API double gg_dist_timeout(void);

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_TRAIN_H */

/*
 * run.h - the run directory's format, in one place: the trainer writes it
 * through these functions (src/train/runlog.c gathers the values), the
 * report (src/report/) renders what gg_run_read returns, and the Python
 * package writes the same files (python/gradguard/torch.py) and has them
 * rendered through gg_report_write. Not installed.
 *
 *   metrics.csv   one row per logged step and per epoch, and rows where the
 *                 rate jumps ("lr") or a rollback abandons a branch
 *   layers.csv    per-tensor statistics; attention heads' and the output's rows
 *   events.jsonl  one JSON object per guard or trainer event
 *   summary.json  the run's end: status, losses, times, guard counters
 *   config.yaml   the configuration the run used (read for the clip threshold)
 *
 * Writers append one row and flush, so a killed run keeps its log. Reading
 * is strict about each line and tolerant about the run: a missing file is
 * a note, a malformed line a warning naming file and line (column for
 * JSON), and the rest is still read. JSON is read by io/json.h.
 */
#ifndef GG_RUN_H
#define GG_RUN_H

#include "gradguard.h"

#include <stdio.h>

/* The files a run writes at the top of its directory (checkpoints/ apart). */
extern const char *const gg_run_files[];
extern const int gg_run_nfiles;

/* ---- writing ---------------------------------------------------------------- */

/* One row of metrics.csv; NaN values are written as empty cells. */
typedef struct gg_run_metrics {
    const char *kind; /* "step", "epoch", "lr", "rollback" */
    long step;
    int epoch; /* 1-based */
    double loss, acc, lr, gnorm, vloss, vacc, sps, wall;
    long branch; /* rollbacks before this row */
} gg_run_metrics;

void gg_run_metrics_header(FILE *f);
void gg_run_metrics_write(FILE *f, const gg_run_metrics *m);

void gg_run_layers_header(FILE *f);
/* A tensor's row of layers.csv (ratio, dead, sat: NaN when unknown). */
void gg_run_layer_write(FILE *f, long step, const char *tensor, const char *layer, double grad_norm,
                        double weight_norm, double update_norm, double update_ratio, double dead, double saturated);
/* An attention head's row (max |logit|, entropy) and the output's (log Z). */
void gg_run_head_write(FILE *f, long step, const char *node, const char *layer, int head, double max_logit,
                       double entropy);
void gg_run_logz_write(FILE *f, long step, const char *node, const char *layer, double log_z);
void gg_run_flush(FILE *f);

/* events.jsonl: a guard event (epoch as the trainer counts, 0-based) and a
 * trainer event ("checkpoint", "overwrite", ...; epoch already 1-based). */
void gg_run_event_write(FILE *f, const gg_guard_event *e);
void gg_run_info_write(FILE *f, const char *type, long step, int epoch, const char *detail);

/* summary.json: NaN numbers are written as null. */
typedef struct gg_run_summary {
    const char *status, *run_id; /* run_id NULL or "": null */
    int epochs;
    long steps, nonfinite_steps;
    double train_loss, train_acc, val_loss, val_acc, test_loss, test_acc;
    double wall_seconds, samples_per_second, first_loss, max_loss;
    const char *blas_kernel;
    int world_size;
    double step_seconds, allreduce_seconds, allreduce_share;
    int guard_enabled;
    const gg_guard_counters *guard; /* NULL: all zero */
    const char *extra;              /* more members, ",\n  \"k\": v..." (pruning's sparsity), or NULL */
} gg_run_summary;

/* Writes RUN_DIR/summary.json atomically. */
gg_status gg_run_summary_write(const char *run_dir, const gg_run_summary *s);

/* ---- reading ---------------------------------------------------------------- */

typedef struct gg_run_mrow {
    double step, epoch, loss, acc, lr, gn, vloss, vacc, sps, wall, branch;
    long seq;   /* line number: the rows' order in the file */
    int rate;   /* rate rows: 1 "lr" (the rate from this step on), 2 "rollback" (a branch's end) */
    int rb;     /* on a branch a rollback discarded */
} gg_run_mrow;

typedef struct gg_run_lrow { /* 24 bytes: a long run has millions of these */
    double step;
    float gn, wn, un; /* a norm beyond float range is as good as infinite here */
    int tensor;
} gg_run_lrow;

/* An attention row of layers.csv (series = one head of one layer) or an
 * output row (series -1: log Z in a). */
typedef struct gg_run_arow {
    double step;
    float a, b; /* max |logit|, entropy */
    int series;
} gg_run_arow;

enum { GG_RUN_NULL, GG_RUN_NUM, GG_RUN_STR, GG_RUN_BOOL };

/* A summary value flattened to "a.b" = value; text is the string, or the
 * number in its shortest form that reads back the same, or true/false/null. */
typedef struct gg_run_kv {
    char *key, *text;
    int type;
    double num;
} gg_run_kv;

typedef struct gg_run_event {
    int guard;
    double step, epoch, value, threshold; /* NaN when absent */
    char *type, *signal, *action, *detail; /* "" when absent */
} gg_run_event;

/* A run directory as read. */
typedef struct gg_run {
    const char *dir;
    char name[256]; /* the directory's last component */
    int have_metrics, have_layers, have_events, have_summary, have_config;
    gg_run_mrow *st, *ep, *rt; /* step rows, epoch rows, rate rows ("lr" and "rollback") */
    size_t nst, cst, nep, cep, nrt, crt;
    size_t nrb;                /* rows on discarded branches */
    gg_run_lrow *lr;
    size_t nl, cl;
    gg_run_arow *ar; /* attention and output rows */
    size_t na, ca;
    char **aname; /* "attn1 head 0" */
    int nan_, can_;
    char **tname; /* tensor names and their layer index */
    int *tlayer;
    int nt, ct;
    char **lname;
    int nly, cly;
    gg_run_event *ev;
    size_t nev, cev, nguard;
    gg_run_kv *sum;
    size_t nsum, csum;
    char *config;
    size_t config_len;
    double clip; /* the clip threshold in force (guard.clip norm), or NaN */
    char **warn;
    int nwarn;
    long warn_more;
    int oom;
} gg_run;

/* Reads the run directory dir (kept by pointer: it must outlive r). Fails
 * only when dir is no run directory or memory runs out; everything else
 * is a warning in r->warn. Free r with gg_run_free, also after a failure. */
gg_status gg_run_read(gg_run *r, const char *dir);
void gg_run_free(gg_run *r);
/* A summary value: the number (NaN when absent or not a number), the
 * string (NULL when absent or not a string). */
double gg_run_sum_num(const gg_run *r, const char *key);
const char *gg_run_sum_str(const gg_run *r, const char *key);
/* s[0..n) for a message, cut to cap with "..." */
void gg_run_show(char *out, size_t cap, const char *s, size_t n);

#endif

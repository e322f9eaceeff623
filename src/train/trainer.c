/*
 * trainer.c - the training loop:
 *
 *   batch -> forward -> loss -> backward -> guard -> optimizer -> schedule
 *
 * One optimizer step consumes `accumulate` micro-batches of up to `batch`
 * samples; each micro-batch's gradient is scaled by its share of the step's
 * samples, so k micro-batches give the gradient of one k-times larger batch.
 * The data order of epoch e is a pure function of (seed, e), and dropout is
 * keyed on the micro-batch counter, so a resumed or rolled-back run replays
 * exactly the same batches.
 *
 * Data parallel (N ranks under MPI, src/parallel): train.batch stays the global
 * batch. Every rank walks the same global order and takes its slice of each
 * micro-batch (rank r of N: samples [nb r / N, nb (r + 1) / N) of a
 * micro-batch of nb), weighting its gradient by its share of the step's
 * samples, so the sum over ranks is the single-process gradient. Per step:
 * one reduction of (loss, accuracy, failure, stop request), one allreduce
 * of the gradient arena, then the guard on identical data on every rank,
 * whose verdicts are checked to agree.
 */
#include "train.h"

#include "core/error.h"
#include "core/file.h"
#include "core/reduce.h"
#include "parallel/parallel.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A progress message (for the callback: the terminal, for the command) with
 * the run's position filled in. */
static gg_progress progress_at(const gg_trainer *t, gg_event_kind kind)
{
    gg_progress p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.step = t->pos.step;
    p.total_steps = t->total_steps;
    p.epoch = t->pos.epoch;
    p.epochs = t->s.epochs;
    return p;
}

void gg_train_emit(gg_trainer *t, gg_event_kind kind, const char *msg)
{
    if (!t->progress) return;
    gg_progress p = progress_at(t, kind);
    p.val_loss = p.val_accuracy = NAN;
    p.message = msg;
    t->progress(&p, t->progress_ctx);
}

/* The progress callback at a step: a logged step (GG_EV_STEP) or a redraw
 * between log rows (GG_EV_TICK), with the means of the interval so far.
 * On the stack: called inside the step loop, it allocates nothing. */
static void emit_step(gg_trainer *t, gg_event_kind kind, double loss, double acc, double lr, double gn, double sps,
                      double vl, double va, double epoch_seconds)
{
    gg_progress p = progress_at(t, kind);
    p.loss = loss;
    p.accuracy = acc;
    p.lr = lr;
    p.grad_norm = gn;
    p.samples_per_second = sps;
    p.eta_seconds = (double)(t->total_steps - t->pos.step) * (double)t->s.batch * t->s.accumulate / sps;
    p.val_loss = vl;
    p.val_accuracy = va;
    p.epoch_seconds = epoch_seconds;
    p.epoch_fraction = t->steps_per_epoch > 0 ? (double)(t->pos.batch + 1) / (double)t->steps_per_epoch : 0;
    t->progress(&p, t->progress_ctx);
}

/* The rate's rows of metrics.csv: one where the rate jumps (the first step
 * of a run or of a branch after a rollback, a guard back-off, a step
 * schedule's drop: more than 5% from the step before), so the report draws
 * the change at its step; gradual change (a cosine schedule, the back-off's
 * slow recovery) shows in the step rows. */
static void note_lr(gg_trainer *t, double lr)
{
    double was = t->lr_last;
    if (isnan(was) || (lr != was && (was == 0 || fabs(lr / was - 1) > 0.05)))
        gg_runlog_row(t, "lr", t->pos.step, NAN, NAN, lr, NAN, NAN, NAN, NAN);
    t->lr_last = lr;
}

/* A rollback abandons the branch at `step`: its last row, with the rate it
 * ran at; the next step starts the next branch with an "lr" row. */
static void end_branch(gg_trainer *t, long step)
{
    gg_runlog_row(t, "rollback", step, NAN, NAN, t->lr_last, NAN, NAN, NAN, NAN);
    t->lr_last = NAN;
}

/* ---- data ----------------------------------------------------------------- */

/* The data sets of the run's data section (src/data/load.c). */
static gg_status load_data(gg_trainer *t)
{
    const gg_settings *s = &t->s;
    gg_data_spec spec = {
        .format = s->format,
        .train_path = s->train_path,
        .train_labels = s->train_labels,
        .test_path = s->test_path,
        .test_labels = s->test_labels,
        .label_col = s->label_col,
        .csv_header = s->csv_header,
        .val_fraction = s->val_fraction,
        .normalize = s->normalize,
        .limit_train = s->limit_train,
        .limit_test = s->limit_test,
        .length = s->length,
        .train_size = s->train_size,
        .test_size = s->test_size,
        .variant = s->variant,
        .stride = s->stride,
        .seed = s->seed,
    };
    gg_data_sets sets = {&t->train, &t->val, &t->test, &t->text, &t->have_val, &t->have_test};
    return gg_data_load_for(&spec, &sets);
}

/* ---- setup ---------------------------------------------------------------- */

static void set_threads(int n)
{
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

static gg_status setup(gg_trainer *t)
{
    gg_settings *s = &t->s;
    gg_status st;
    set_threads(s->threads);
    t->rank = gg_dist_rank();
    t->world = gg_dist_size();
    if (t->world > s->batch)
        return gg_fail(GG_E_CONFIG,
                       "train.batch %d is smaller than the %d ranks: the global batch is split across the ranks and each "
                       "needs at least one sample (raise train.batch or use fewer ranks)",
                       s->batch, t->world);
    t->bucket = (size_t)(s->bucket_mb * 1048576.0 / sizeof(float));
    gg_dist_set_timeout(s->dist_timeout);
    if ((st = load_data(t))) return st;
    if ((st = gg_model_build(t, t->cfg))) return st;
    if ((st = gg_cfg_unused(t->cfg))) return st;
    for (int i = 0; i < s->nfaults; i++) {
        gg_fault *f = &s->faults[i];
        if (f->labels && (s->loss != GG_LOSS_XENT || t->train.num_classes < 2))
            return gg_fail(GG_E_CONFIG, "guard.faults[%d].labels: wrong labels need a classifier (loss softmax_xent, "
                           "at least 2 classes); this run's loss is %s", i, gg_loss_name(s->loss));
        if (!f->node[0]) continue;
        f->id = gg_graph_find(t->g, f->node);
        if (f->id < 0 || strcmp(gg_graph_node_op(t->g, f->id), "param") == 0 ||
            strcmp(gg_graph_node_op(t->g, f->id), "input") == 0)
            return gg_fail(GG_E_CONFIG, "guard.faults[%d].node: the model has no op named '%s' (ops are named like fc2/linear)",
                           i, f->node);
    }
    gg_graph_set_seed(t->g, s->seed ^ 0xd1b54a32d192ed03ull);
    s->opt.lbfgs_history = s->opt.lbfgs_history ? s->opt.lbfgs_history : 10;
    t->o = gg_optim_new(t->g, &s->opt);
    if (!t->o) return gg_fail(GG_E_CONFIG, "optimizer: %s", gg_errmsg());
    /* the update norms are read only by the guard's monitor and layers.csv,
     * at steps the guard announces to the optimizer */
    gg_optim_set_update_norms(t->o, 0);
    if (s->l1 > 0 || s->l2 > 0)
        if ((st = gg_optim_set_penalty(t->o, s->l1, s->l2))) return st;
    for (int i = 0; i < s->ngroups; i++) {
        gg_group_cfg *c = &s->groups[i];
        if ((st = gg_optim_add_group(t->o, c->pattern, c->lr_scale, c->weight_decay, c->l1 >= 0 ? c->l1 : s->l1,
                                     c->l2 >= 0 ? c->l2 : s->l2)))
            return st;
    }
    long per_step = (long)s->batch * s->accumulate;
    t->steps_per_epoch = ((long)t->train.n + per_step - 1) / per_step;
    t->total_steps = t->steps_per_epoch * s->epochs;
    if (s->max_steps > 0 && s->max_steps < t->total_steps) t->total_steps = s->max_steps;
    s->sched.lr = s->opt.lr;
    if ((s->sched.kind == GG_SCHED_COSINE || s->sched.kind == GG_SCHED_ONECYCLE) && s->sched.total_steps <= 0) {
        s->sched.total_steps = t->total_steps;
        /* a run shortened by max_steps keeps a warm-up that fits in it */
        if (s->max_steps > 0 && s->sched.warmup_steps >= s->sched.total_steps)
            s->sched.warmup_steps = s->sched.total_steps / 2;
    }
    if ((st = gg_schedule_init(&t->sched, &s->sched))) return gg_fail(st, "schedule: %s", gg_errmsg());
    if (s->guard.enabled) {
        /* the quiet-failure monitor runs at the log interval unless told */
        if (s->guard.monitor_every <= 0) s->guard.monitor_every = s->log_every;
        t->gd = gg_guard_new(t->g, t->o, &s->guard);
        if (!t->gd) return gg_fail(GG_E_CONFIG, "guard: %s", gg_errmsg());
        if (s->loss == GG_LOSS_XENT) {
            gg_shape ls = gg_graph_shape(t->g, t->logits);
            gg_guard_set_chance(t->gd, log((double)ls.d[ls.ndim - 1]));
        }
        /* the transformer detectors watch a model with attention: its heads,
         * and its output's log Z (a classifier's log Z grows as it becomes
         * confident, which is no failure). The statistics are each rank's
         * own: a data-parallel run's ranks must decide alike, so only one
         * process watches them. */
        int attention = 0;
        for (gg_node n = 0; n < gg_graph_num_nodes(t->g); n++) attention |= gg_graph_attention_heads(t->g, n) > 0;
        if (t->world == 1 && attention &&
            (st = gg_guard_watch(t->gd, 1, s->loss == GG_LOSS_XENT ? t->loss : -1)))
            return gg_fail(st, "guard: %s", gg_errmsg());
    }
    if ((st = gg_train_extras_setup(t))) return st;
    t->perm = malloc(sizeof(size_t) * t->train.n);
    size_t np = 0, nb = 0;
    gg_graph_params(t->g, &np);
    gg_graph_buffers(t->g, &nb);
    if (s->es_patience > 0) {
        t->best_params = malloc(sizeof(float) * (np ? np : 1));
        t->best_bufs = malloc(sizeof(float) * (nb ? nb : 1));
    }
    t->diag_bufs = malloc(sizeof(float) * (nb ? nb : 1));
    if (!t->perm || !t->diag_bufs || (s->es_patience > 0 && (!t->best_params || !t->best_bufs)))
        return gg_fail(GG_E_NOMEM, "trainer: out of memory");
    t->perm_epoch = -1;
    t->good_batch = -1;
    t->last_ckpt_step = -1;
    t->first_loss = t->max_loss = NAN;
    /* no epoch finished yet: these do not exist (null in summary.json) */
    t->last_train_loss = t->last_train_acc = t->last_val_loss = t->last_val_acc = NAN;
    t->best_metric = INFINITY;
    t->status = GG_RUN_RUNNING;
    return GG_OK;
}

static gg_trainer *trainer_alloc(void)
{
    gg_trainer *t = calloc(1, sizeof *t);
    if (!t) gg_fail(GG_E_NOMEM, "trainer: out of memory");
    else t->lock_fd = -1;
    return t;
}

/* Rank 0 claims the run directory before the (slow) setup, so that a
 * directory in use or holding a run is refused at once: created if missing,
 * locked, and checked for a run. */
static gg_status claim_dir(gg_trainer *t, unsigned flags)
{
    /* the outermost directory this creates: removed again on failure */
    t->made_dir = 0;
    if (!gg_path_exists(t->run_dir)) {
        size_t n = strlen(t->run_dir), top = n;
        char tmp[GG_PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", t->run_dir);
        for (size_t i = n; i-- > 1;)
            if (tmp[i] == '/' && tmp[i - 1] != '/') {
                tmp[i] = 0;
                if (gg_path_exists(tmp)) break;
                top = i;
            }
        t->made_dir = (int)top;
    }
    gg_status st = gg_mkdir_p(t->run_dir);
    if (!st) st = gg_rundir_lock(t, "train");
    if (!st) st = gg_rundir_check_fresh(t, (flags & GG_RUN_OVERWRITE) != 0);
    return st;
}

/* A trainer that failed to start leaves the directory as it found it: no
 * lock, and no directory it created (if nothing else went in). */
static void abandon(gg_trainer *t)
{
    gg_runlog_close(t);
    gg_rundir_unlock(t);
    /* from the run directory up to the outermost one created (made_dir:
     * the length of its path); rmdir leaves any that is not empty */
    if (t->made_dir > 0) {
        char tmp[GG_PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", t->run_dir);
        for (size_t i = strlen(tmp); i >= (size_t)t->made_dir; i--) {
            if (tmp[i] != '/' && tmp[i] != 0) continue;
            tmp[i] = 0;
            if (tmp[0] && rmdir(tmp) != 0) break;
        }
    }
    gg_trainer_free(t);
}

gg_status gg_trainer_new(gg_cfg *cfg, const char *run_dir, gg_trainer **out)
{
    return gg_trainer_new_ex(cfg, run_dir, 0, out);
}

gg_status gg_trainer_new_ex(gg_cfg *cfg, const char *run_dir, unsigned flags, gg_trainer **out)
{
    if (!out) return gg_fail(GG_E_ARG, "gg_trainer_new: no output pointer");
    *out = NULL;
    if (!cfg) return gg_fail(GG_E_ARG, "gg_trainer_new: no config");
    if (flags & ~GG_RUN_OVERWRITE) return gg_fail(GG_E_ARG, "gg_trainer_new_ex: unknown flags 0x%x", flags);
    gg_trainer *t = trainer_alloc();
    if (!t) return GG_E_NOMEM;
    t->cfg = cfg;
    gg_status st = gg_settings_read(cfg, &t->s);
    if (!st && run_dir) {
        if (strlen(run_dir) >= GG_PATH_MAX - 64) st = gg_fail(GG_E_ARG, "run directory path is too long");
        else snprintf(t->run_dir, sizeof t->run_dir, "%s", run_dir);
    }
    if (!st && t->run_dir[0] && gg_dist_rank() == 0) st = claim_dir(t, flags);
    if (!st) st = setup(t);
    if (!st && t->s.init_from[0]) st = gg_train_init_from(t);
    if (!st && t->rank != 0) t->run_dir[0] = 0; /* rank 0 writes the run */
    if (!st && t->run_dir[0]) {
        char p[GG_PATH_MAX + 32];
        /* the old run goes only now that the new one is set up: a config
         * error leaves it as it was */
        st = gg_rundir_clear(t);
        if (!st) st = gg_rundir_new_id(t);
        if (!st) {
            snprintf(p, sizeof p, "%s/checkpoints", t->run_dir);
            st = gg_mkdir_p(p);
        }
        if (!st) {
            snprintf(p, sizeof p, "%s/config.yaml", t->run_dir);
            st = gg_cfg_write(cfg, p);
        }
        if (!st && t->text) {
            snprintf(p, sizeof p, "%s/vocab.bin", t->run_dir);
            st = gg_text_save_vocab(t->text, p);
        }
        if (!st) st = gg_runlog_open(t, 0);
        if (!st) gg_rundir_log_notes(t);
    }
    if (st) {
        abandon(t);
        return st;
    }
    *out = t;
    return GG_OK;
}

/* Rank 0 picks the checkpoint (the newest that reads back intact) and tells
 * the others its path, so every rank starts from the same state even if a
 * file is damaged or appears meanwhile; the run directory must be visible
 * to every rank (a shared file system). The checkpoint holds only global
 * state, so any number of ranks can resume it. */
static gg_status resume_load(gg_trainer *t, char *used, size_t cap)
{
    char path[GG_PATH_MAX + 64] = "";
    gg_status st = GG_OK;
    if (t->rank == 0) {
        st = gg_ckpt_load_latest(t, used, cap);
        if (!st) snprintf(path, sizeof path, "%s", used);
    }
    gg_status s2 = gg_dist_bcast(path, sizeof path, 0, "agreeing on the checkpoint to resume from");
    if (st) return st;
    if (s2) return s2;
    if (t->rank == 0) return GG_OK;
    if (!path[0]) return gg_fail(GG_E_IO, "resume: rank 0 found no readable checkpoint in %s/checkpoints", t->run_dir);
    snprintf(used, cap, "%s", path);
    return gg_ckpt_load(t, path);
}

gg_status gg_trainer_resume(const char *run_dir, const char *const *overrides, int n, gg_trainer **out)
{
    *out = NULL;
    char p[GG_PATH_MAX + 32];
    if (!run_dir || strlen(run_dir) >= GG_PATH_MAX - 64) return gg_fail(GG_E_ARG, "resume: bad run directory");
    gg_trainer *t = trainer_alloc();
    if (!t) return GG_E_NOMEM;
    snprintf(t->run_dir, sizeof t->run_dir, "%s", run_dir);
    gg_status st = GG_OK;
    /* rank 0 takes the lock first, before even the config: a run still
     * going (or still starting) in another process is refused at once */
    if (gg_dist_rank() == 0 && gg_path_is_dir(run_dir)) {
        st = gg_rundir_lock(t, "resume");
        if (!st) st = gg_rundir_read_id(t);
    }
    gg_cfg *cfg = NULL;
    if (!st) {
        snprintf(p, sizeof p, "%s/config.yaml", run_dir);
        st = gg_cfg_load(p, &cfg);
        if (st) gg_fail(st, "resume %s: %s", run_dir, gg_errmsg());
        t->cfg = cfg;
        t->own_cfg = 1;
    }
    /* a split run's stop point is not carried over into the resumed part */
    if (!st) gg_cfg_set(cfg, "train.stop_after=0");
    for (int i = 0; i < n && !st; i++) st = gg_cfg_set(cfg, overrides[i]);
    if (!st) st = gg_settings_read(cfg, &t->s);
    if (!st) st = setup(t);
    char used[GG_PATH_MAX + 64];
    if (!st) st = resume_load(t, used, sizeof used);
    if (!st && t->rank != 0) t->run_dir[0] = 0; /* rank 0 writes the run */
    if (!st && t->run_dir[0]) st = gg_runlog_open(t, 1);
    if (!st && t->run_dir[0]) gg_rundir_log_notes(t);
    if (st) {
        gg_trainer_free(t);
        return st;
    }
    t->resumed = 1;
    snprintf(t->msg, sizeof t->msg, "resumed from %s at step %ld (epoch %d)", used, t->pos.step, t->pos.epoch + 1);
    *out = t;
    return GG_OK;
}

void gg_trainer_free(gg_trainer *t)
{
    if (!t) return;
    gg_runlog_close(t);
    gg_rundir_unlock(t);
    gg_guard_free(t->gd);
    gg_optim_free(t->o);
    gg_graph_free(t->g);
    gg_dataset_free(&t->train);
    gg_dataset_free(&t->val);
    gg_dataset_free(&t->test);
    gg_text_free(t->text);
    free(t->perm);
    free(t->best_params);
    free(t->best_bufs);
    free(t->diag_bufs);
    gg_train_extras_free(t);
    free(t->layer_recs);
    if (t->own_cfg) gg_cfg_free(t->cfg);
    free(t);
}

void gg_trainer_set_progress(gg_trainer *t, gg_progress_fn fn, void *ctx)
{
    t->progress = fn;
    t->progress_ctx = ctx;
}

const char *gg_run_status_name(gg_run_status s)
{
    static const char *const names[GG_RUN_COUNT] = {
        [GG_RUN_RUNNING] = "running",   [GG_RUN_COMPLETED] = "completed", [GG_RUN_STOPPED] = "stopped",
        [GG_RUN_DIVERGED] = "diverged", [GG_RUN_STALLED] = "stalled",     [GG_RUN_FAILED] = "failed",
    };
    return (int)s >= 0 && s < GG_RUN_COUNT ? names[s] : NULL;
}

gg_run_status gg_trainer_run_status(const gg_trainer *t) { return t ? t->status : GG_RUN_COUNT; }
const char *gg_trainer_status(const gg_trainer *t) { return t ? gg_run_status_name(t->status) : "none"; }
void gg_trainer_request_stop(gg_trainer *t) { if (t) t->stop_requested = 1; }
gg_graph *gg_trainer_graph(gg_trainer *t) { return t ? t->g : NULL; }

/* ---- evaluation ---------------------------------------------------------- */

static gg_status evaluate(gg_trainer *t, const gg_dataset *d, double *loss, double *acc)
{
    gg_graph *g = t->g;
    int B = gg_graph_max_batch(g);
    double ls = 0, as = 0;
    size_t n = d->n;
    /* data parallel: each rank evaluates one contiguous share of the set,
     * then the sums (and any failure) are added over the ranks */
    size_t lo = n * (size_t)t->rank / (size_t)t->world, hi = n * (size_t)(t->rank + 1) / (size_t)t->world;
    size_t *tmp = malloc(sizeof(size_t) * (size_t)B);
    if (!tmp) return gg_fail(GG_E_NOMEM, "evaluate: out of memory");
    gg_status st = GG_OK;
    for (size_t i = lo; i < hi; i += (size_t)B) {
        int nb = (int)(hi - i < (size_t)B ? hi - i : (size_t)B);
        for (int k = 0; k < nb; k++) tmp[k] = i + (size_t)k;
        gg_graph_set_batch(g, nb);
        gg_dataset_batch(d, tmp, nb, gg_graph_data(g, t->x), gg_graph_data(g, t->y));
        st = gg_graph_forward(g, GG_EVAL, t->acc >= 0 ? -1 : t->loss);
        if (st) break;
        ls += (double)gg_graph_scalar(g, t->loss) * nb;
        if (t->acc >= 0) as += (double)gg_graph_scalar(g, t->acc) * nb;
    }
    free(tmp);
    gg_graph_set_batch(g, B);
    if (st) gg_fail(st, "evaluating on %s: %s", d->source, gg_errmsg());
    double sums[3] = {ls, as, st ? 1 : 0};
    gg_status s2 = gg_dist_sum_d(sums, 3, "reducing the evaluation");
    if (st) return st;
    if (s2) return s2;
    if (sums[2] > 0) return gg_fail(GG_E_STATE, "evaluating on %s failed on another rank (see its message)", d->source);
    ls = sums[0];
    as = sums[1];
    *loss = n ? ls / (double)n : NAN;
    *acc = n && t->acc >= 0 ? as / (double)n : NAN;
    return GG_OK;
}

gg_status gg_trainer_evaluate(gg_trainer *t, int which, double *loss, double *accuracy)
{
    const gg_dataset *d = which == 1 ? &t->val : &t->test;
    if ((which == 1 && !t->have_val) || (which != 1 && !t->have_test))
        return gg_fail(GG_E_STATE, "no %s set to evaluate on", which == 1 ? "validation" : "test");
    return evaluate(t, d, loss, accuracy);
}

/* ---- one step --------------------------------------------------------------- */

static void make_perm(gg_trainer *t, int epoch)
{
    if (t->perm_epoch == epoch) return;
    gg_rng r;
    gg_rng_seed(&r, t->s.seed * 0x9e3779b97f4a7c15ull + (uint64_t)epoch + 1);
    gg_shuffle(t->perm, t->train.n, 1, &r);
    t->perm_epoch = epoch;
}

static int is_bad_batch(const gg_trainer *t, int epoch, long batch)
{
    uint64_t key = (uint64_t)epoch << 32 | (uint64_t)batch;
    for (int i = 0; i < t->nbad; i++)
        if (t->bad[i] == key) return 1;
    return 0;
}

/* Faults are keyed on the data position (epoch * steps_per_epoch + batch),
 * like a corrupted batch in a real data set. x is (nb, per) features, y
 * (nb, label_per) class ids as floats. */
static void apply_faults(gg_trainer *t, long step, float *x, float *y, int nb)
{
    gg_graph_inject(t->g, -1, 0, 0);
    for (int i = 0; i < t->s.nfaults; i++) {
        const gg_fault *f = &t->s.faults[i];
        if (f->step != step || (f->rank >= 0 && f->rank != t->rank)) continue;
        if (f->node[0]) {
            gg_graph_inject(t->g, f->id, f->backward, NAN);
            continue;
        }
        size_t n = (size_t)nb * t->train.per;
        if (f->labels) {
            /* every label moves to another class, by an offset that varies
             * along the batch (a mislabelled shard, not a relabelling) */
            size_t ny = (size_t)nb * (size_t)t->train.label_per;
            long C = t->train.num_classes;
            for (size_t k = 0; k < ny; k++) y[k] = (float)(((long)y[k] + 1 + (long)(k % (size_t)(C - 1))) % C);
        }
        if (f->nan) {
            x[n / 2] = NAN;
        } else if (f->inf) {
            x[n / 2] = INFINITY;
        } else {
            for (size_t k = 0; k < n; k++) x[k] *= f->scale;
        }
    }
}

/* The samples of batch b of the epoch: [*start, *end) in its order. */
static void batch_range(const gg_trainer *t, long b, size_t *start, size_t *end)
{
    size_t per_step = (size_t)t->s.batch * (size_t)t->s.accumulate;
    *start = (size_t)b * per_step;
    *end = *start + per_step;
    if (*end > t->train.n) *end = t->train.n;
}

/* Loads this rank's slice of the micro-batch of batch b that starts at
 * sample i (of [i, end)) into the graph, with the batch's faults; returns
 * its size. Only a final short micro-batch can leave a rank without
 * samples (setup demands batch >= ranks): 0, nothing loaded. */
static int load_micro(gg_trainer *t, long b, size_t i, size_t end)
{
    gg_graph *g = t->g;
    int mb = (int)(end - i < (size_t)t->s.batch ? end - i : (size_t)t->s.batch);
    size_t lo = i + (size_t)mb * (size_t)t->rank / (size_t)t->world;
    int nb = (int)(i + (size_t)mb * (size_t)(t->rank + 1) / (size_t)t->world - lo);
    if (nb == 0) return 0;
    gg_graph_set_batch(g, nb);
    float *x = gg_graph_data(g, t->x);
    gg_dataset_batch(&t->train, t->perm + lo, nb, x, gg_graph_data(g, t->y));
    apply_faults(t, (long)t->pos.epoch * t->steps_per_epoch + b, x, gg_graph_data(g, t->y), nb);
    return nb;
}

/* Forward and backward of the micro-batches of batch `b` of the epoch, on
 * this rank's slice of each. Returns this rank's part of the mean loss (and
 * accuracy) over the step's samples (the ranks' parts add up to the mean)
 * and the step's sample count over all ranks. */
static gg_status run_batch(gg_trainer *t, long b, double *loss, double *acc, int *nsamples, int check)
{
    gg_graph *g = t->g;
    gg_settings *s = &t->s;
    size_t start, end;
    batch_range(t, b, &start, &end);
    int total = (int)(end - start);
    double ls = 0, as = 0;
    gg_graph_set_check(g, check);
    gg_status st = GG_OK;
    int m = 0;
    for (size_t i = start; i < end; i += (size_t)s->batch, m++) {
        int nb = load_micro(t, b, i, end);
        if (nb == 0) continue;
        float *x = gg_graph_data(g, t->x);
        /* training batches only; keyed like dropout (per rank), so a replay
         * augments alike */
        gg_train_augment(t, x, gg_graph_data(g, t->y), nb,
                         ((uint64_t)t->pos.step * (uint64_t)s->accumulate + (uint64_t)m) * (uint64_t)t->world +
                             (uint64_t)t->rank);
        /* dropout masks differ between ranks, and equal the single-process
         * ones with one rank */
        gg_graph_set_rng_step(g, ((uint64_t)t->pos.step * (uint64_t)s->accumulate + (uint64_t)m) * (uint64_t)t->world +
                                     (uint64_t)t->rank);
        st = gg_graph_forward(g, GG_TRAIN, -1);
        if (st) break;
        float w = (float)nb / (float)total;
        /* mixup trains on its soft targets */
        gg_node L = t->loss_soft > 0 ? t->loss_soft : t->loss;
        ls += (double)gg_graph_scalar(g, L) * w;
        if (t->acc >= 0) as += (double)gg_graph_scalar(g, t->acc) * w;
        st = gg_graph_backward(g, L, w);
        if (st) break;
    }
    gg_graph_set_check(g, 0);
    gg_graph_set_batch(g, gg_graph_max_batch(g));
    *loss = ls;
    *acc = t->acc >= 0 ? as : NAN;
    *nsamples = total;
    return st;
}

/* Re-runs the step's batch with every op checked and reports the first
 * op that produced a non-finite value. */
static void diagnose(gg_trainer *t, long b)
{
    double l, a;
    int n;
    size_t nbuf;
    float *bufs = gg_graph_buffers(t->g, &nbuf);
    /* a training forward moves batch-norm statistics: keep them as they were */
    memcpy(t->diag_bufs, bufs, nbuf * sizeof *bufs);
    gg_graph_zero_grad(t->g);
    gg_status st = run_batch(t, b, &l, &a, &n, 1);
    memcpy(bufs, t->diag_bufs, nbuf * sizeof *bufs);
    /* each rank checked its own slice; the lowest rank that found the bad
     * op tells the others, so every rank's event reads the same */
    gg_check_info found = *gg_graph_check_result(t->g);
    int who = -1;
    (void)gg_dist_first(st == GG_E_NONFINITE && found.found, &found, sizeof found, &who, "sharing the diagnosis");
    long per_step = (long)t->s.batch * t->s.accumulate;
    size_t start = (size_t)(b * per_step);
    char desc[160], shard[32] = "";
    if (t->world > 1 && who >= 0) snprintf(shard, sizeof shard, "rank %d's share of ", who);
    snprintf(desc, sizeof desc, "%sepoch %d batch %ld (samples %zu..%zu of the shuffled order, first index %zu)", shard,
             t->pos.epoch + 1, b, start, start + (size_t)n - 1, t->perm[start]);
    if (who >= 0 && found.found) gg_guard_diagnosis(t->gd, &found, desc);
    else gg_guard_diagnosis(t->gd, NULL, desc);
    gg_graph_zero_grad(t->g);
}

static double grad_norm(gg_graph *g)
{
    size_t n;
    const float *gr = gg_graph_grads(g, &n);
    /* every step without the guard: the vector pass, not a scalar double
     * reduction (0.3 ms a step for the 235k-parameter MLP) */
    return sqrt(gg_sumsq_max(gr, n, NULL));
}

static void flush_events(gg_trainer *t)
{
    if (!t->gd) return;
    int n;
    const gg_guard_event *ev = gg_guard_events(t->gd, &n);
    for (int i = 0; i < n; i++) {
        gg_runlog_event(t, &ev[i]);
        /* a run whose norm sits above the clip level for a while would print
         * a spike line every step: the terminal gets one per signal every
         * SPIKE_LINE_EVERY steps, with the count of those not shown */
        enum { SPIKE_LINE_EVERY = 100 };
        int sp = strcmp(ev[i].signal, "grad_spike") == 0 ? 0 : strcmp(ev[i].signal, "loss_spike") == 0 ? 1 : -1;
        char more[96] = "";
        if (sp >= 0) {
            if (t->spike_hidden[sp] >= 0 && t->spike_shown_at[sp] > 0 &&
                ev[i].step - t->spike_shown_at[sp] < SPIKE_LINE_EVERY) {
                t->spike_hidden[sp]++;
                continue;
            }
            if (t->spike_hidden[sp] > 0)
                snprintf(more, sizeof more, " [%ld more %s events since step %ld: events.jsonl]", t->spike_hidden[sp],
                         ev[i].signal, t->spike_shown_at[sp]);
            t->spike_shown_at[sp] = ev[i].step > 0 ? ev[i].step : 1;
            t->spike_hidden[sp] = 0;
        }
        char line[600], val[96] = "";
        if (isfinite(ev[i].threshold) && ev[i].threshold > 0)
            snprintf(val, sizeof val, " %.4g (threshold %.4g)", ev[i].value, ev[i].threshold);
        snprintf(line, sizeof line, "step %ld: %s%s -> %s%s%s%s", ev[i].step, ev[i].signal, val, ev[i].action,
                 ev[i].detail[0] ? ": " : "", ev[i].detail, more);
        gg_train_emit(t, GG_EV_GUARD, line);
    }
    gg_guard_clear_events(t->gd);
}

/* Whether every parameter is finite (one pass; at checkpoints and the end). */
int gg_train_params_finite(const gg_trainer *t)
{
    size_t n;
    const float *p = gg_graph_params(t->g, &n);
    long bad = 0;
#pragma omp parallel for reduction(+ : bad) if (n > GG_PAR_MIN)
    for (size_t i = 0; i < n; i++) bad += (p[i] - p[i]) != 0;
    return bad == 0;
}

/* The poor-initialisation check on the run's first batch, before step 0. */
/* The event of a poor initialisation: the output scale's geometric growth
 * (saturation 0), or tanh/sigmoid layers saturated from the start (1). */
static void init_event(gg_trainer *t, const gg_init_report *rep, int saturation)
{
    gg_guard_event e;
    memset(&e, 0, sizeof e);
    snprintf(e.signal, sizeof e.signal, "%s", saturation ? "saturation" : "poor_init");
    snprintf(e.action, sizeof e.action, "%s", rep->fixed ? "rescale" : "warn");
    e.value = saturation ? (double)rep->saturated : rep->growth;
    e.threshold = saturation ? (double)(rep->squashing + 1) / 2 : 1.25;
    size_t k = saturation ? (size_t)snprintf(e.detail, sizeof e.detail,
                                             "%d of %d tanh/sigmoid layers start saturated (pre-activation RMS over "
                                             "their linear range): ", rep->saturated, rep->squashing)
                          : (size_t)snprintf(e.detail, sizeof e.detail, "output scale %s %.2fx per layer: ",
                                             rep->growth > 1 ? "grows" : "shrinks", rep->growth);
    /* the first two layers, "...", the last one */
    int shown = 0, last = -1;
    for (int i = 0; i < rep->n; i++)
        if (!saturation || isfinite(rep->pre_rms[i])) last = i;
    for (int i = 0; i < rep->n && k < sizeof e.detail; i++) {
        double v = saturation ? rep->pre_rms[i] : rep->rms[i];
        if (saturation && !isfinite(v)) continue;
        if (shown >= 2 && i != last) {
            if (shown++ == 2) k += (size_t)snprintf(e.detail + k, sizeof e.detail - k, "... ");
            continue;
        }
        shown++;
        k += (size_t)snprintf(e.detail + k, sizeof e.detail - k, "%s %.3g%s", rep->layer[i], v, i < last ? ", " : "");
    }
    if (rep->fixed && k < sizeof e.detail)
        snprintf(e.detail + k, sizeof e.detail - k, "; weights rescaled layer by layer to %s RMS 1",
                 saturation ? "pre-activation" : "output");
    gg_runlog_event(t, &e);
    char line[400];
    snprintf(line, sizeof line, "step 0: %s -> %s: %s", saturation ? "saturated initialisation" : "poor initialisation",
             e.action, e.detail);
    gg_train_emit(t, GG_EV_GUARD, line);
}

/* The event of ReLU layers that start with half or more of their units dead. */
static void dead_init_event(gg_trainer *t, const gg_init_report *rep)
{
    gg_guard_event e;
    memset(&e, 0, sizeof e);
    snprintf(e.signal, sizeof e.signal, "dead_units");
    snprintf(e.action, sizeof e.action, "%s", rep->fixed ? "rescale" : "warn");
    double worst = 0;
    size_t k = (size_t)snprintf(e.detail, sizeof e.detail, "ReLU units dead on the first batch (zero for every sample): ");
    int shown = 0;
    for (int i = 0; i < rep->n && k < sizeof e.detail; i++) {
        if (!(rep->dead_share[i] >= 0.5)) continue;
        if (rep->dead_share[i] > worst) worst = rep->dead_share[i];
        if (shown++ < 3)
            k += (size_t)snprintf(e.detail + k, sizeof e.detail - k, "%s%s %.0f%%", shown > 1 ? ", " : "", rep->layer[i],
                                  100 * rep->dead_share[i]);
    }
    if (rep->fixed && k < sizeof e.detail) {
        double after = 0;
        for (int i = 0; i < rep->n; i++)
            if (rep->dead_share_fixed[i] > after) after = rep->dead_share_fixed[i];
        snprintf(e.detail + k, sizeof e.detail - k, "; their biases reset to 0 and the layers rescaled (at most %.0f%% dead after)",
                 100 * after);
    }
    e.value = worst;
    e.threshold = 0.5;
    gg_runlog_event(t, &e);
    char line[400];
    snprintf(line, sizeof line, "step 0: dead units -> %s: %s", e.action, e.detail);
    gg_train_emit(t, GG_EV_GUARD, line);
}

static void check_init(gg_trainer *t)
{
    static gg_init_report rep; /* large; one run at a time per process */
    gg_graph *g = t->g;
    make_perm(t, 0);
    int nb = (int)(t->train.n < (size_t)t->s.batch ? t->train.n : (size_t)t->s.batch);
    gg_graph_set_batch(g, nb);
    gg_dataset_batch(&t->train, t->perm, nb, gg_graph_data(g, t->x), gg_graph_data(g, t->y));
    gg_status st = gg_init_check(g, t->s.guard.init_check == 2, &rep);
    gg_graph_set_batch(g, gg_graph_max_batch(g));
    if (st || !rep.poor) return;
    if (rep.poor_dead) dead_init_event(t, &rep);
    if (rep.poor_growth) init_event(t, &rep, 0);
    if (rep.poor_saturated) init_event(t, &rep, 1);
}

static void save_best(gg_trainer *t)
{
    size_t np, nb;
    float *p = gg_graph_params(t->g, &np), *b = gg_graph_buffers(t->g, &nb);
    memcpy(t->best_params, p, np * sizeof *p);
    memcpy(t->best_bufs, b, nb * sizeof *b);
}

static void restore_best(gg_trainer *t)
{
    size_t np, nb;
    float *p = gg_graph_params(t->g, &np), *b = gg_graph_buffers(t->g, &nb);
    memcpy(p, t->best_params, np * sizeof *p);
    memcpy(b, t->best_bufs, nb * sizeof *b);
    if (t->pr) gg_pruner_apply(t->pr);
}

/* End of an epoch: validation, plateau schedule, early stopping, a
 * checkpoint. Returns 1 if training should stop early. */
static int end_epoch(gg_trainer *t, double tr_loss, double tr_acc, double sps, double seconds)
{
    gg_settings *s = &t->s;
    double vl = NAN, va = NAN;
    if (t->have_val && evaluate(t, &t->val, &vl, &va) == GG_OK) {
        t->last_val_loss = vl;
        t->last_val_acc = va;
    }
    t->last_train_loss = tr_loss;
    t->last_train_acc = tr_acc;
    /* the rate in force: the last step's, with the guard's back-off */
    double lr = isfinite(t->lr_last) ? t->lr_last : gg_schedule_lr(&t->sched, t->pos.step);
    gg_runlog_metrics(t, "epoch", tr_loss, tr_acc, lr, NAN, vl, va, sps);
    if (t->progress) {
        gg_progress p = progress_at(t, GG_EV_EPOCH);
        p.loss = tr_loss;
        p.accuracy = tr_acc;
        p.val_loss = vl;
        p.val_accuracy = va;
        p.samples_per_second = sps;
        p.epoch_seconds = seconds;
        p.epoch_fraction = 1;
        t->progress(&p, t->progress_ctx);
    }
    double metric = t->have_val ? vl : tr_loss;
    if (gg_schedule_observe(&t->sched, metric)) {
        snprintf(t->msg, sizeof t->msg, "reduce-on-plateau: learning rate now %.3g", gg_schedule_lr(&t->sched, t->pos.step));
        gg_runlog_info(t, "plateau", t->msg);
        gg_train_emit(t, GG_EV_INFO, t->msg);
    }
    int stop = 0;
    if (s->es_patience > 0 && isfinite(metric)) {
        if (metric < t->best_metric - s->es_min_delta) {
            t->best_metric = metric;
            t->best_epoch = t->pos.epoch;
            t->bad_epochs = 0;
            save_best(t);
        } else if (++t->bad_epochs >= s->es_patience) {
            stop = 1;
            if (s->es_restore) restore_best(t);
            snprintf(t->msg, sizeof t->msg, "early stop after epoch %d: no improvement for %d epochs; %s epoch %d",
                     t->pos.epoch + 1, t->bad_epochs, s->es_restore ? "restored the weights of" : "best was",
                     t->best_epoch + 1);
            gg_runlog_info(t, "early_stop", t->msg);
            gg_train_emit(t, GG_EV_INFO, t->msg);
        }
    }
    return stop;
}

/* ---- data parallel (src/parallel) -------------------------------------- */

/* Whether the run should stop now. With several ranks a stop request (a
 * signal on one of them) counts only once a step's reduction has shared
 * it, so all ranks leave the loop after the same step. */
static int stopping(const gg_trainer *t) { return t->world > 1 ? t->stop_agreed : t->stop_requested; }

/* Rank 0's parameters and buffers to every rank before the first step.
 * They agree already (same seed, or the same checkpoint); this keeps it so
 * whatever the thread counts, and waits until every rank is set up. */
static gg_status sync_model(gg_trainer *t)
{
    size_t np, nb;
    float *p = gg_graph_params(t->g, &np), *b = gg_graph_buffers(t->g, &nb);
    gg_status st = gg_dist_bcast(p, np * sizeof *p, 0, "sending rank 0's weights");
    if (!st) st = gg_dist_bcast(b, nb * sizeof *b, 0, "sending rank 0's buffers");
    return st;
}

/* Batch-norm running statistics are per rank (each sees only its slice);
 * before an evaluation or a checkpoint they are averaged over the ranks so
 * every rank (and the file) holds one set. Recurrent carried states stay
 * per rank: they belong to each rank's own stream of samples. */
static gg_status sync_stats(gg_trainer *t)
{
    if (t->world == 1) return GG_OK;
    size_t n;
    float *b = gg_graph_buffers(t->g, &n);
    for (int i = 0; i < gg_graph_num_buffers(t->g); i++) {
        gg_param_info pi;
        gg_graph_buffer(t->g, i, &pi);
        size_t len = strlen(pi.name);
        int bn = (len > 13 && strcmp(pi.name + len - 13, ".running_mean") == 0) ||
                 (len > 12 && strcmp(pi.name + len - 12, ".running_var") == 0);
        if (!bn) continue;
        gg_status st = gg_dist_sum_f(b + pi.offset, pi.numel, 0, "averaging batch-norm statistics");
        if (st) return st;
        for (size_t k = 0; k < pi.numel; k++) b[pi.offset + k] /= (float)t->world;
    }
    return GG_OK;
}

/* The step's reductions after backward: (loss, accuracy, failure, stop
 * request) in one call, then the gradient arena summed in place (each
 * rank's gradient is already weighted by its share of the samples). A
 * failure on any rank fails every rank, with the lowest failing rank's
 * message, so none is left waiting. */
static gg_status reduce_step(gg_trainer *t, gg_status local, double *loss, double *acc)
{
    double c0 = now_seconds();
    char msg[512] = "";
    if (local) snprintf(msg, sizeof msg, "%s", gg_errmsg());
    double v[4] = {local ? 0 : *loss, local ? 0 : *acc, local ? 1 : 0, t->stop_requested ? 1 : 0};
    gg_status st = gg_dist_sum_d(v, 4, "reducing the step's loss");
    if (!st && v[2] > 0) {
        int who = -1;
        st = gg_dist_first(local != GG_OK, msg, sizeof msg, &who, "sharing a rank's failure");
        if (!st) st = gg_fail(local ? local : GG_E_STATE, "rank %d of %d: %s", who, t->world, msg);
    }
    if (!st && v[3] > 0) t->stop_agreed = 1;
    if (!st) {
        size_t n;
        float *gr = gg_graph_grads(t->g, &n);
        st = gg_dist_sum_f(gr, n, t->bucket, "the allreduce of the gradients");
    }
    *loss = v[0];
    *acc = v[1];
    t->comm_seconds += now_seconds() - c0;
    return st;
}

/* Every rank's guard saw the same numbers; this checks that they decided
 * the same, so a divergence between ranks is an error, never a hang. */
static gg_status agree(gg_trainer *t, int verdict, const char *what, int after_step)
{
    if (t->world == 1) return GG_OK;
    double c0 = now_seconds();
    gg_status st = gg_dist_agree(verdict, what, t->pos.step);
    double el = now_seconds() - c0;
    t->comm_seconds += el;
    /* the check after the update falls outside the timed step: count it in
     * both, so the share stays a fraction of the step */
    if (after_step) t->step_seconds += el;
    return st;
}

static void record_bad_batches(gg_trainer *t, long last_batch, int epoch)
{
    int k = t->s.guard.skip_batches > 0 ? t->s.guard.skip_batches : 1;
    for (long b = last_batch; b > last_batch - k && b >= 0; b--) {
        if (t->nbad >= GG_MAX_BAD_BATCHES) break;
        t->bad[t->nbad++] = (uint64_t)epoch << 32 | (uint64_t)b;
    }
}

/* ---- the run: epochs of steps ------------------------------------------------ */

/* The running means between log rows and over the epoch, and the clocks
 * that time them. */
typedef struct run_log {
    double t0, tlog, tep, ttick; /* the run's start, the last log row, the epoch's start, the last live redraw */
    double te;                   /* the end of the current step's timed part */
    long samples, steps, finite; /* since the last log row; finite: steps with a finite loss */
    double loss, acc, gn;        /* sums over those steps (loss and accuracy over the finite ones) */
    double ep_loss, ep_acc;      /* over the epoch's finite steps, weighted by their samples */
    long ep_n;
} run_log;

enum { TICK_MS = 500 }; /* the live display's redraw interval */

/* Whether a verdict ends the step before (or after) its update. */
static int ends_step(gg_guard_decision d) { return d.verdict == GG_GUARD_STOP || d.verdict == GG_GUARD_ROLLBACK; }

/* Carries out a guard verdict that ends the step, for both places it is
 * taken (after the check, before the update; after the update; `last` is
 * the step the branch ends at): the events that led to it are written
 * first; a stop sets the status (stalled or diverged) and *stop; a
 * rollback ends the branch in metrics.csv, marks the batches that led to
 * it as bad (none for an undone trial), restores the snapshot (parameters, buffers, optimizer state,
 * the guard's history) and the schedule's state saved with it, rewinds
 * the data stream to its position and starts the log interval's means
 * again on the new branch. */
static gg_status carry_out(gg_trainer *t, gg_guard_decision d, long last, run_log *rl, int *stop)
{
    flush_events(t);
    if (d.verdict == GG_GUARD_STOP) {
        t->status = d.stalled ? GG_RUN_STALLED : GG_RUN_DIVERGED;
        *stop = 1;
        return GG_OK;
    }
    end_branch(t, last);
    t->good_batch = -1;
    /* an undone trial (the plateau watch's back-off) replays its batches */
    if (!d.undo_trial) record_bad_batches(t, t->pos.batch, t->pos.epoch);
    GG_TRY(gg_guard_rollback(t->gd, &t->pos));
    gg_schedule_restore(&t->sched, &t->pos.sched);
    make_perm(t, t->pos.epoch);
    t->pos.batch--; /* the loop's increment brings it back */
    rl->steps = rl->finite = 0;
    rl->loss = rl->acc = rl->gn = 0;
    return GG_OK;
}

/* Batch, forward, backward and, with several ranks, the reductions: the
 * step's gradient in the gradient arena, the penalties added to its loss,
 * the pruned weights' gradients zeroed. */
static gg_status forward_backward(gg_trainer *t, double *loss, double *acc, int *n)
{
    gg_train_prune_before_step(t);
    gg_graph_zero_grad(t->g);
    gg_status st = run_batch(t, t->pos.batch, loss, acc, n, 0);
    if (t->world > 1) st = reduce_step(t, st, loss, acc);
    if (st) return st;
    if (t->o) *loss += gg_optim_penalty(t->o);
    if (t->pr) gg_pruner_mask_grads(t->pr); /* pruned weights get no gradient */
    return GG_OK;
}

/* The loss of the last applied step's batch on the current weights, as
 * that step's training loss was taken (its faults, the penalty), forward
 * only and in evaluation mode (no dropout, no batch-norm statistics
 * updated), summed over the ranks. NaN when there is none in this epoch's
 * order (the guard's rollback then stands). */
static gg_status probe_loss(gg_trainer *t, double *loss)
{
    double v[3] = {0, 0, 0}; /* loss x samples, samples, a rank failed */
    gg_status st = GG_OK;
    if (t->good_batch >= 0 && t->good_epoch == t->pos.epoch) {
        gg_graph *g = t->g;
        size_t start, end;
        batch_range(t, t->good_batch, &start, &end);
        for (size_t i = start; i < end && !st; i += (size_t)t->s.batch) {
            int nb = load_micro(t, t->good_batch, i, end);
            if (nb == 0) continue;
            st = gg_graph_forward(g, GG_EVAL, t->acc >= 0 ? -1 : t->loss);
            if (!st) {
                v[0] += (double)gg_graph_scalar(g, t->loss) * nb;
                v[1] += nb;
            }
        }
        gg_graph_inject(g, -1, 0, 0);
        gg_graph_set_batch(g, gg_graph_max_batch(g));
    } else {
        v[1] = -1e300; /* none on any rank: the sum stays negative */
    }
    v[2] = st ? 1 : 0;
    GG_TRY(gg_dist_sum_d(v, 3, "reducing the guard's probe"));
    if (st) return gg_fail(st, "the guard's probe of the last good batch: %s", gg_errmsg());
    if (v[2] > 0) return gg_fail(GG_E_STATE, "the guard's probe failed on another rank (see its message)");
    *loss = v[1] > 0 ? v[0] / v[1] + (t->o ? gg_optim_penalty(t->o) : 0) : NAN;
    return GG_OK;
}

/* The guard's check of the gradient (clips and noise applied in place),
 * agreed over the ranks, and a diagnosis re-run when it asks for one;
 * without a guard, a verdict to proceed. *gn: the norm for the log. A
 * rollback for failures in a row on unchanged weights is probed first. */
static gg_status guard_check(gg_trainer *t, double loss, float lr, gg_guard_decision *d, double *gn)
{
    if (!t->gd) {
        memset(d, 0, sizeof *d);
        d->verdict = GG_GUARD_PROCEED;
        d->lr_scale = 1;
        *gn = t->s.log_every ? grad_norm(t->g) : 0;
        return GG_OK;
    }
    gg_guard_set_lr(t->gd, lr);
    *d = gg_guard_check(t->gd, t->pos.step, t->pos.epoch, loss);
    if (d->probe) {
        double pl = NAN;
        GG_TRY(probe_loss(t, &pl));
        *d = gg_guard_probe(t->gd, pl);
    }
    GG_TRY(agree(t, (int)d->verdict, "the guard's verdict", 0));
    *gn = gg_guard_last(t->gd)->grad_norm;
    if (d->diagnose && t->s.guard.diagnose) diagnose(t, t->pos.batch);
    return GG_OK;
}

/* The optimizer's update at rate lr (skipped when the guard said so; the
 * rate is logged either way), then the pruning masks again. */
static gg_status apply_update(gg_trainer *t, float lr, int apply)
{
    /* without a guard to announce them, the steps layers.csv reads the
     * update norms at */
    if (!t->gd && t->layers && (t->pos.step + 1) % t->s.guard.layer_every == 0) gg_optim_want_update_norms(t->o);
    note_lr(t, lr);
    if (!apply) return GG_OK;
    GG_TRY(gg_optim_step(t->o, lr));
    if (t->pr) gg_pruner_apply(t->pr); /* momentum must not revive pruned weights */
    return GG_OK;
}

/* After the update: the guard checks the new weights and takes a snapshot
 * when one is due, with the position after this step and the schedule's
 * state; its events are written. Without a guard, a verdict to proceed. */
static gg_status after_update(gg_trainer *t, int applied, gg_guard_decision *d)
{
    d->verdict = GG_GUARD_PROCEED;
    if (!t->gd) return GG_OK;
    t->pos.sched = gg_schedule_save(&t->sched);
    gg_train_pos after = t->pos;
    after.batch++;
    *d = gg_guard_after_step(t->gd, &after, applied);
    flush_events(t);
    return agree(t, (int)d->verdict, "the guard's verdict after the update", 1);
}

/* The step's statistics: layers.csv when due, the run's first and largest
 * loss, and the sums behind the log interval's and the epoch's means. */
static void record_step(gg_trainer *t, run_log *rl, double loss, double acc, double gn, int n)
{
    if (t->layers && t->pos.step % t->s.guard.layer_every == 0) gg_runlog_layers(t);
    if (!isfinite(loss)) t->nonfinite_steps++;
    else if (isnan(t->first_loss)) t->first_loss = t->max_loss = loss;
    else if (loss > t->max_loss) t->max_loss = loss;
    if (isfinite(loss)) {
        rl->finite++;
        rl->loss += loss;
        rl->acc += acc;
        rl->ep_loss += loss * n;
        rl->ep_acc += acc * n;
        rl->ep_n += n;
    }
    rl->gn += gn;
    rl->samples += n;
    rl->steps++;
}

/* A metrics.csv row and a progress line every train.log_every steps, at
 * the run's last step and with a validation due (train.eval_every: between
 * epochs too, written on that step's row; the epoch's own comes at its
 * end); between rows a live redraw every TICK_MS. */
static gg_status log_step(gg_trainer *t, run_log *rl, float lr)
{
    gg_settings *s = &t->s;
    int eval_due = s->eval_every > 0 && t->have_val && t->pos.step % s->eval_every == 0 &&
                   t->pos.batch < t->steps_per_epoch;
    if (t->pos.step % s->log_every == 0 || t->pos.step == t->total_steps || eval_due) {
        double tn = now_seconds();
        double sps = (double)rl->samples / (tn - rl->tlog > 1e-9 ? tn - rl->tlog : 1e-9);
        /* the mean of the finite losses; none finite: NaN, not 0 */
        double ml = rl->finite ? rl->loss / (double)rl->finite : NAN;
        double ma = rl->finite ? rl->acc / (double)rl->finite : NAN;
        double evl = NAN, eva = NAN;
        if (eval_due) GG_TRY(evaluate(t, &t->val, &evl, &eva));
        gg_runlog_metrics(t, "step", ml, ma, lr, rl->gn / (double)rl->steps, evl, eva, sps);
        if (t->progress) emit_step(t, GG_EV_STEP, ml, ma, lr, rl->gn / (double)rl->steps, sps, evl, eva, tn - rl->tep);
        rl->ttick = tn;
        rl->tlog = tn;
        rl->samples = rl->steps = rl->finite = 0;
        rl->loss = rl->acc = rl->gn = 0;
    } else if (t->progress && rl->te - rl->ttick >= TICK_MS * 1e-3) {
        /* a live redraw between log rows, whatever train.log_every is */
        double sps = (double)rl->samples / (rl->te - rl->tlog > 1e-9 ? rl->te - rl->tlog : 1e-9);
        emit_step(t, GG_EV_TICK, rl->finite ? rl->loss / (double)rl->finite : NAN,
                  rl->finite ? rl->acc / (double)rl->finite : NAN, lr, rl->gn / (double)rl->steps, sps, NAN, NAN,
                  rl->te - rl->tep);
        rl->ttick = rl->te;
    }
    return GG_OK;
}

/* One optimizer step on batch t->pos.batch of the epoch: batch -> forward
 * and backward -> reduce -> guard -> update -> after the update -> log.
 * A verdict that ends the step (stop, rollback) is carried out instead of
 * the rest; *stop is set when the run is to end. */
static gg_status train_step(gg_trainer *t, run_log *rl, int *stop)
{
    double loss, acc, gn, ts = now_seconds();
    int n;
    gg_guard_decision d;
    GG_TRY(forward_backward(t, &loss, &acc, &n));
    float lr = gg_schedule_lr(&t->sched, t->pos.step);
    GG_TRY(guard_check(t, loss, lr, &d, &gn));
    if (ends_step(d)) return carry_out(t, d, t->pos.step, rl, stop);
    lr *= d.lr_scale;
    int applied = d.verdict == GG_GUARD_PROCEED;
    GG_TRY(apply_update(t, lr, applied));
    if (applied) {
        t->good_batch = t->pos.batch;
        t->good_epoch = t->pos.epoch;
    }
    t->pos.step++;
    t->samples_seen += n;
    rl->te = now_seconds();
    t->step_seconds += rl->te - ts;
    GG_TRY(after_update(t, applied, &d));
    if (ends_step(d)) return carry_out(t, d, t->pos.step - 1, rl, stop);
    record_step(t, rl, loss, acc, gn, n);
    return log_step(t, rl, lr);
}

/* The rest of the epoch from t->pos.batch, then, if it ran to its end, its
 * evaluation, the plateau schedule, early stopping and a checkpoint when
 * due. *stop is set when the run is to end (a verdict, a stop request,
 * max_steps, early stopping, train.stop_after). */
static gg_status run_epoch(gg_trainer *t, run_log *rl, int *stop)
{
    gg_settings *s = &t->s;
    make_perm(t, t->pos.epoch);
    for (; t->pos.batch < t->steps_per_epoch && t->pos.step < t->total_steps; t->pos.batch++) {
        if (stopping(t)) break;
        if (is_bad_batch(t, t->pos.epoch, t->pos.batch)) continue;
        GG_TRY(train_step(t, rl, stop));
        if (*stop) break;
    }
    /* stopped, or max_steps reached mid-epoch */
    if (*stop || stopping(t) || t->pos.batch < t->steps_per_epoch) {
        *stop = 1;
        return GG_OK;
    }
    GG_TRY(sync_stats(t));
    double el = now_seconds() - rl->tep;
    *stop = end_epoch(t, rl->ep_n ? rl->ep_loss / (double)rl->ep_n : NAN, rl->ep_n ? rl->ep_acc / (double)rl->ep_n : NAN,
                      (double)rl->ep_n / (el > 1e-9 ? el : 1e-9), el);
    rl->tep = now_seconds();
    rl->ep_loss = rl->ep_acc = 0;
    rl->ep_n = 0;
    t->pos.epoch++;
    t->pos.batch = 0;
    if (s->checkpoint_every > 0 && t->pos.epoch % s->checkpoint_every == 0 && t->run_dir[0]) GG_TRY(gg_ckpt_save(t));
    if (s->stop_after > 0 && t->pos.epoch >= s->stop_after && t->pos.epoch < s->epochs) {
        t->status = GG_RUN_STOPPED;
        *stop = 1;
    }
    return GG_OK;
}

/* Before the first step: the run's opening lines, the initialisation
 * check, rank 0's weights to every rank, the first snapshot. */
static gg_status start_run(gg_trainer *t, run_log *rl)
{
    memset(rl, 0, sizeof *rl);
    rl->t0 = rl->tlog = rl->tep = now_seconds();
    rl->ttick = rl->t0 - 1; /* the first step draws at once */
    t->run_t0 = rl->t0;
    t->lr_last = NAN;
    t->status = GG_RUN_RUNNING;
    char m[256];
    size_t np;
    gg_graph_params(t->g, &np);
    snprintf(m, sizeof m, "%zu parameters in %d tensors; %zu training, %zu validation, %zu test samples; %ld steps", np,
             gg_graph_num_params(t->g), t->train.n, t->have_val ? t->val.n : 0, t->have_test ? t->test.n : 0,
             t->total_steps);
    gg_train_emit(t, GG_EV_START, t->resumed ? t->msg : m);
    if (t->resumed) gg_train_emit(t, GG_EV_INFO, m);
    for (int i = 0; i < t->nnotes; i++) gg_train_emit(t, GG_EV_INFO, t->notes[i].text);
    t->nnotes = 0; /* said once, not again by a second gg_trainer_run */
    if (t->gd && !t->resumed && t->pos.step == 0 && t->s.guard.init_check > 0) check_init(t);
    if (t->world > 1) GG_TRY(sync_model(t));
    t->pos.sched = gg_schedule_save(&t->sched);
    if (t->gd) gg_guard_snapshot(t->gd, &t->pos);
    return GG_OK;
}

/* After the last step: the run's status, the statistics of a run that
 * ended mid-epoch averaged over the ranks, and the last checkpoint. */
static gg_status end_run(gg_trainer *t)
{
    if (stopping(t)) t->status = GG_RUN_STOPPED;
    if (t->status == GG_RUN_RUNNING) t->status = GG_RUN_COMPLETED;
    /* without a guard nothing stops a run whose weights went non-finite:
     * it has diverged, whatever the loop did */
    if (t->status == GG_RUN_COMPLETED && !gg_train_params_finite(t)) {
        t->status = GG_RUN_DIVERGED;
        snprintf(t->msg, sizeof t->msg, "the weights are not finite at the end of the run (%ld steps had a non-finite loss)",
                 t->nonfinite_steps);
        gg_runlog_info(t, "diverged", t->msg);
        gg_train_emit(t, GG_EV_INFO, t->msg);
    }
    if (t->status != GG_RUN_DIVERGED && t->pos.batch != 0) GG_TRY(sync_stats(t));
    if (t->run_dir[0] && t->status != GG_RUN_DIVERGED && t->last_ckpt_step != t->pos.step) GG_TRY(gg_ckpt_save(t));
    return GG_OK;
}

/* The run's outputs: on a failure its message in events.jsonl and
 * summary.json; otherwise the test set's figures, the model, summary.json,
 * the report and the closing line. */
static gg_status finish_run(gg_trainer *t, const run_log *rl, gg_status st)
{
    t->wall_seconds += now_seconds() - rl->t0;
    if (st) {
        t->status = GG_RUN_FAILED;
        char m[600];
        snprintf(m, sizeof m, "%s", gg_errmsg());
        if (t->run_dir[0]) {
            gg_runlog_info(t, "error", m);
            gg_runlog_summary(t);
        }
        gg_fail(st, "%s", m);
        return st;
    }
    t->test_loss = t->test_acc = NAN;
    if (t->have_test && (t->status == GG_RUN_COMPLETED || t->status == GG_RUN_DIVERGED || t->status == GG_RUN_STALLED))
        evaluate(t, &t->test, &t->test_loss, &t->test_acc);
    if (t->run_dir[0]) {
        char p[GG_PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/model.safetensors", t->run_dir);
        if (t->status != GG_RUN_DIVERGED) GG_TRY(gg_model_save(t->g, p));
        GG_TRY(gg_runlog_summary(t));
        gg_runlog_close(t);
        if (gg_report_write(t->run_dir, NULL) == GG_OK) {
            snprintf(t->msg, sizeof t->msg, "report %.480s/report.html", t->run_dir);
            gg_train_emit(t, GG_EV_INFO, t->msg);
        }
    }
    snprintf(t->msg, sizeof t->msg, "%s after %ld steps (%d epochs) in %.1f s", gg_run_status_name(t->status),
             t->pos.step, t->pos.epoch, t->wall_seconds);
    gg_train_emit(t, GG_EV_DONE, t->msg);
    return GG_OK;
}

gg_status gg_trainer_run(gg_trainer *t)
{
    if (!t) return gg_fail(GG_E_ARG, "gg_trainer_run: no trainer");
    run_log rl;
    gg_status st = start_run(t, &rl);
    int stop = 0;
    while (!st && !stop && t->pos.epoch < t->s.epochs && t->pos.step < t->total_steps) st = run_epoch(t, &rl, &stop);
    if (!st) st = end_run(t);
    return finish_run(t, &rl, st);
}

/* ---- sampling from a character model ------------------------------------ */

gg_status gg_trainer_sample(gg_trainer *t, const gg_text *vocab, const char *prompt, int n, float temperature,
                            uint64_t seed, char *out, size_t cap)
{
    gg_graph *g = t->g;
    if (!vocab || !prompt || !out || cap == 0 || n < 0) return gg_fail(GG_E_ARG, "sample: bad arguments");
    if (!(temperature > 0)) return gg_fail(GG_E_ARG, "sample: temperature %g must be > 0", temperature);
    gg_shape xs = gg_graph_shape(g, t->x), ls = gg_graph_shape(g, t->logits);
    if (xs.ndim != 2 || ls.ndim != 3 || ls.d[1] != xs.d[1])
        return gg_fail(GG_E_STATE, "sample: the model is not a sequence model over character ids (input %d-D, output %d-D)",
                       xs.ndim, ls.ndim);
    int T = xs.d[1], V = ls.d[2];
    if (V != gg_text_vocab_size(vocab))
        return gg_fail(GG_E_STATE, "sample: the model has %d output classes, the vocabulary %d", V,
                       gg_text_vocab_size(vocab));
    size_t plen = strlen(prompt);
    if (plen == 0) return gg_fail(GG_E_ARG, "sample: empty prompt");
    size_t total = plen + (size_t)n;
    int *ids = malloc(sizeof(int) * total);
    double *p = malloc(sizeof(double) * (size_t)V);
    if (!ids || !p) {
        free(ids);
        free(p);
        return gg_fail(GG_E_NOMEM, "sample: out of memory");
    }
    for (size_t i = 0; i < plen; i++) {
        int id = gg_text_id(vocab, (unsigned char)prompt[i]);
        ids[i] = id >= 0 ? id : 0; /* a byte the model never saw: the first symbol */
    }
    gg_rng r;
    gg_rng_seed(&r, seed);
    gg_graph_set_batch(g, 1);
    gg_status st = GG_OK;
    size_t len = plen;
    for (int k = 0; k < n && !st; k++) {
        /* the last T ids at the start of the window; a causal model's
         * position j sees only positions <= j, so what follows is ignored */
        size_t from = len > (size_t)T ? len - (size_t)T : 0;
        int used = (int)(len - from);
        float *x = gg_graph_data(g, t->x);
        for (int j = 0; j < T; j++) x[j] = (float)(j < used ? ids[from + (size_t)j] : 0);
        st = gg_graph_forward(g, GG_EVAL, t->logits);
        if (st) break;
        const float *lg = gg_graph_data(g, t->logits) + (size_t)(used - 1) * (size_t)V;
        double mx = lg[0], sum = 0;
        for (int c = 1; c < V; c++) mx = lg[c] > mx ? lg[c] : mx;
        for (int c = 0; c < V; c++) sum += p[c] = exp((lg[c] - mx) / temperature);
        double u = gg_rng_uniform(&r) * sum;
        int pick = V - 1;
        for (int c = 0; c < V; c++) {
            u -= p[c];
            if (u < 0) {
                pick = c;
                break;
            }
        }
        ids[len++] = pick;
    }
    gg_graph_set_batch(g, gg_graph_max_batch(g));
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) out[o++] = (char)gg_text_byte(vocab, ids[i]);
    out[o] = 0;
    free(ids);
    free(p);
    return st;
}

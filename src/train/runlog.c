/* runlog.c - the trainer's side of the run directory: opens its files and
 * gathers what each row holds from the trainer (the position, the guard's
 * counters, the graph's statistics). The format itself, writing and
 * reading, is src/run/ (run.h). */
#include "train.h"

#include "core/error.h"
#include "core/reduce.h"
#include "run/run.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

static FILE *open_in(gg_trainer *t, const char *name, const char *mode, gg_status *st)
{
    char p[GG_PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", t->run_dir, name);
    FILE *f = fopen(p, mode);
    if (!f) *st = gg_fail(GG_E_IO, "cannot open %s: %s", p, strerror(errno));
    return f;
}

gg_status gg_runlog_open(gg_trainer *t, int append)
{
    gg_status st = GG_OK;
    const char *mode = append ? "a" : "w";
    t->metrics = open_in(t, "metrics.csv", mode, &st);
    if (t->metrics && !append) gg_run_metrics_header(t->metrics);
    if (!st) t->events = open_in(t, "events.jsonl", mode, &st);
    /* with the guard off, only when guard.layer_every was asked for */
    if (!st && (t->s.guard.enabled || t->s.layer_every_set) && t->s.guard.layer_every > 0) {
        t->layers = open_in(t, "layers.csv", mode, &st);
        if (t->layers && !append) gg_run_layers_header(t->layers);
    }
    return st;
}

void gg_runlog_close(gg_trainer *t)
{
    if (t->metrics) fclose(t->metrics);
    if (t->events) fclose(t->events);
    if (t->layers) fclose(t->layers);
    t->metrics = t->events = t->layers = NULL;
}

/* Seconds of training up to now: the earlier processes' share (a resumed
 * run's checkpoint carries it) and this one's since gg_trainer_run began. */
static double wall_now(const gg_trainer *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    return t->wall_seconds + (t->run_t0 > 0 ? now - t->run_t0 : 0);
}

/* The branch a row belongs to: the number of rollbacks before it (the
 * guard's counter, which checkpoints carry, so a resumed run goes on
 * counting). */
static long branch_of(const gg_trainer *t) { return t->gd ? gg_guard_counts(t->gd)->rollbacks : 0; }

void gg_runlog_metrics(gg_trainer *t, const char *kind, double loss, double acc, double lr, double gnorm, double vloss,
                       double vacc, double sps)
{
    gg_runlog_row(t, kind, t->pos.step, loss, acc, lr, gnorm, vloss, vacc, sps);
}

void gg_runlog_row(gg_trainer *t, const char *kind, long step, double loss, double acc, double lr, double gnorm,
                   double vloss, double vacc, double sps)
{
    if (!t->metrics) return;
    gg_run_metrics m = {kind, step, t->pos.epoch + 1, loss, acc, lr, gnorm, vloss, vacc, sps, wall_now(t),
                        branch_of(t)};
    gg_run_metrics_write(t->metrics, &m);
}

/* The attention rows (one per attention op and head: the max |logit| and
 * the entropy of the step's forward) and the output row (mean log Z). */
static void attention_rows(gg_trainer *t)
{
    gg_graph *g = t->g;
    for (int n = 0; n < gg_graph_num_nodes(g); n++) {
        int heads = gg_graph_attention_heads(g, n);
        for (int h = 0; h < heads; h++) {
            gg_attention_stats as;
            if (gg_graph_attention_stats(g, n, h, &as)) continue;
            gg_run_head_write(t->layers, t->pos.step, gg_graph_node_name(g, n), gg_graph_node_layer(g, n), h,
                              as.max_logit, as.entropy);
        }
    }
    double lz;
    if (gg_graph_output_logz(g, t->loss, &lz, NULL) == GG_OK)
        gg_run_logz_write(t->layers, t->pos.step, gg_graph_node_name(g, t->loss), gg_graph_node_layer(g, t->logits),
                          lz);
}

void gg_runlog_layers(gg_trainer *t)
{
    if (!t->layers) return;
    gg_graph *g = t->g;
    size_t n;
    const float *gr = gg_graph_grads(g, &n);
    const float *p = gg_graph_params(g, &n);
    const double *un = gg_optim_update_norms(t->o);
    int nql = 0;
    const gg_guard_layer *ql = t->gd ? gg_guard_layers(t->gd, &nql) : NULL;
    for (int i = 0; i < gg_graph_num_params(g); i++) {
        gg_param_info pi;
        gg_graph_param(g, i, &pi);
        double gs = gg_sumsq_max(gr + pi.offset, pi.numel, NULL), ws = gg_sumsq_max(p + pi.offset, pi.numel, NULL);
        double u = un ? un[i] : NAN, w = sqrt(ws);
        /* the layer's dead and saturated shares from the quiet monitor's last pass */
        int li = t->gd ? gg_guard_layer_of(t->gd, i) : -1;
        int q = li >= 0 && li < nql;
        gg_run_layer_write(t->layers, t->pos.step, pi.name, pi.layer, sqrt(gs), w, u, w > 0 ? u / w : NAN,
                           q ? ql[li].dead_fraction : NAN, q ? ql[li].saturated_fraction : NAN);
    }
    attention_rows(t);
    gg_run_flush(t->layers);
}

void gg_runlog_event(gg_trainer *t, const gg_guard_event *e)
{
    if (t->events) gg_run_event_write(t->events, e);
}

void gg_runlog_info(gg_trainer *t, const char *what, const char *detail)
{
    if (!t->events) return;
    /* at an epoch boundary the position already points at the next epoch's
     * first batch: the event (an end-of-epoch checkpoint) belongs to the
     * epoch just finished */
    int epoch = t->pos.batch == 0 && t->pos.epoch > 0 ? t->pos.epoch : t->pos.epoch + 1;
    gg_run_info_write(t->events, what, t->pos.step, epoch, detail);
}

gg_status gg_runlog_summary(gg_trainer *t)
{
    /* a value that does not exist is null, never a made-up 0: the losses of
     * a run with no finished epoch (NaN until then), the rate and times of
     * a run that took no step (of this process, for the step times) */
    int stepped = t->samples_seen > 0, here = t->step_seconds > 0;
    char sp[2048];
    if (t->pr) gg_train_sparsity_json(t, sp, sizeof sp);
    gg_run_summary s = {
        .status = gg_run_status_name(t->status),
        .run_id = t->run_id,
        .epochs = t->pos.epoch,
        .steps = t->pos.step,
        .nonfinite_steps = t->nonfinite_steps,
        .train_loss = t->last_train_loss,
        .train_acc = t->last_train_acc,
        .val_loss = t->have_val ? t->last_val_loss : NAN,
        .val_acc = t->have_val ? t->last_val_acc : NAN,
        .test_loss = t->test_loss,
        .test_acc = t->test_acc,
        .wall_seconds = stepped ? round(t->wall_seconds * 1e3) / 1e3 : NAN,
        .samples_per_second = stepped && t->wall_seconds > 0 ? (double)t->samples_seen / t->wall_seconds : NAN,
        .first_loss = t->first_loss,
        .max_loss = t->max_loss,
        .blas_kernel = gg_blas_kernel(),
        .world_size = t->world,
        .step_seconds = here ? round(t->step_seconds * 1e3) / 1e3 : NAN,
        .allreduce_seconds = here ? round(t->comm_seconds * 1e3) / 1e3 : NAN,
        /* data parallel: rank 0's time in the step's reductions (waiting
         * for slower ranks included) over its time in steps, of this process */
        .allreduce_share = here ? t->comm_seconds / t->step_seconds : NAN,
        .guard_enabled = t->gd != NULL,
        .guard = t->gd ? gg_guard_counts(t->gd) : NULL,
        .extra = t->pr ? sp : NULL,
    };
    return gg_run_summary_write(t->run_dir, &s);
}

/* runlog.c - the run directory's text files: metrics.csv (one row per
 * logged step and per epoch, and rows where the learning rate jumps or a
 * rollback abandons a branch), layers.csv (per-tensor statistics),
 * events.jsonl (guard and trainer events) and summary.json. Rows are
 * flushed as they are written so a killed run keeps its log. */
#include "train.h"

#include "core/error.h"
#include "core/reduce.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

void gg_json_escape(char *out, size_t cap, const char *in)
{
    size_t k = 0;
    for (; in && *in && k + 7 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[k++] = '\\';
            out[k++] = (char)c;
        } else if (c < 0x20) {
            k += (size_t)snprintf(out + k, cap - k, "\\u%04x", c);
        } else {
            out[k++] = (char)c;
        }
    }
    out[k] = 0;
}

/* A number for JSON/CSV: non-finite values become null / empty. */
static void num(char *buf, size_t cap, double v, int json)
{
    if (isfinite(v)) snprintf(buf, cap, "%.9g", v);
    else snprintf(buf, cap, "%s", json ? "null" : "");
}

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
    if (t->metrics && !append)
        fprintf(t->metrics, "kind,step,epoch,loss,accuracy,lr,grad_norm,val_loss,val_accuracy,samples_per_second,"
                            "wall_seconds,branch\n");
    if (!st) t->events = open_in(t, "events.jsonl", mode, &st);
    /* with the guard off, only when guard.layer_every was asked for */
    if (!st && (t->s.guard.enabled || t->s.layer_every_set) && t->s.guard.layer_every > 0) {
        t->layers = open_in(t, "layers.csv", mode, &st);
        if (t->layers && !append)
            fprintf(t->layers, "step,tensor,layer,grad_norm,weight_norm,update_norm,update_ratio,dead_fraction,"
                               "saturated_fraction,head,max_logit,entropy,log_z\n");
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
    char a[32], b[32], c[32], d[32], e[32], f[32], h[32];
    num(a, sizeof a, loss, 0);
    num(b, sizeof b, acc, 0);
    num(c, sizeof c, lr, 0);
    num(d, sizeof d, gnorm, 0);
    num(e, sizeof e, vloss, 0);
    num(f, sizeof f, vacc, 0);
    num(h, sizeof h, sps, 0);
    fprintf(t->metrics, "%s,%ld,%d,%s,%s,%s,%s,%s,%s,%s,%.3f,%ld\n", kind, step, t->pos.epoch + 1, a, b, c, d, e, f, h,
            wall_now(t), branch_of(t));
    fflush(t->metrics);
}

/* The attention rows (one per attention op and head: the max |logit| and
 * the entropy of the step's forward) and the output row (mean log Z). */
static void attention_rows(gg_trainer *t)
{
    gg_graph *g = t->g;
    char a[32], b[32];
    for (int n = 0; n < gg_graph_num_nodes(g); n++) {
        int heads = gg_graph_attention_heads(g, n);
        for (int h = 0; h < heads; h++) {
            gg_attention_stats as;
            if (gg_graph_attention_stats(g, n, h, &as)) continue;
            num(a, sizeof a, as.max_logit, 0);
            num(b, sizeof b, as.entropy, 0);
            fprintf(t->layers, "%ld,%s,%s,,,,,,,%d,%s,%s,\n", t->pos.step, gg_graph_node_name(g, n),
                    gg_graph_node_layer(g, n), h, a, b);
        }
    }
    double lz;
    if (gg_graph_output_logz(g, t->loss, &lz, NULL) == GG_OK) {
        num(a, sizeof a, lz, 0);
        fprintf(t->layers, "%ld,%s,%s,,,,,,,,,,%s\n", t->pos.step, gg_graph_node_name(g, t->loss),
                gg_graph_node_layer(g, t->logits), a);
    }
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
        char a[32], b[32], c[32], d[32], e[32], f[32];
        num(a, sizeof a, sqrt(gs), 0);
        num(b, sizeof b, w, 0);
        num(c, sizeof c, u, 0);
        num(d, sizeof d, w > 0 ? u / w : NAN, 0);
        /* the layer's dead and saturated shares from the quiet monitor's last pass */
        int li = t->gd ? gg_guard_layer_of(t->gd, i) : -1;
        num(e, sizeof e, li >= 0 && li < nql ? ql[li].dead_fraction : NAN, 0);
        num(f, sizeof f, li >= 0 && li < nql ? ql[li].saturated_fraction : NAN, 0);
        fprintf(t->layers, "%ld,%s,%s,%s,%s,%s,%s,%s,%s,,,,\n", t->pos.step, pi.name, pi.layer, a, b, c, d, e, f);
    }
    attention_rows(t);
    fflush(t->layers);
}

void gg_runlog_event(gg_trainer *t, const gg_guard_event *e)
{
    if (!t->events) return;
    char sig[64], act[64], det[600], v[32], th[32];
    gg_json_escape(sig, sizeof sig, e->signal);
    gg_json_escape(act, sizeof act, e->action);
    gg_json_escape(det, sizeof det, e->detail);
    num(v, sizeof v, e->value, 1);
    num(th, sizeof th, e->threshold, 1);
    fprintf(t->events, "{\"type\":\"guard\",\"step\":%ld,\"epoch\":%d,\"signal\":\"%s\",\"value\":%s,\"threshold\":%s,"
                       "\"action\":\"%s\",\"detail\":\"%s\"}\n",
            e->step, e->epoch + 1, sig, v, th, act, det);
    fflush(t->events);
}

void gg_runlog_info(gg_trainer *t, const char *what, const char *detail)
{
    if (!t->events) return;
    char w[64], d[600];
    gg_json_escape(w, sizeof w, what);
    gg_json_escape(d, sizeof d, detail);
    /* at an epoch boundary the position already points at the next epoch's
     * first batch: the event (an end-of-epoch checkpoint) belongs to the
     * epoch just finished */
    int epoch = t->pos.batch == 0 && t->pos.epoch > 0 ? t->pos.epoch : t->pos.epoch + 1;
    fprintf(t->events, "{\"type\":\"%s\",\"step\":%ld,\"epoch\":%d,\"detail\":\"%s\"}\n", w, t->pos.step, epoch,
            d);
    fflush(t->events);
}

gg_status gg_runlog_summary(gg_trainer *t)
{
    char buf[4096];
    char tl[32], ta[32], vl[32], va[32], sl[32], sa[32], sps[32];
    num(tl, sizeof tl, t->last_train_loss, 1);
    num(ta, sizeof ta, t->last_train_acc, 1);
    num(vl, sizeof vl, t->have_val ? t->last_val_loss : NAN, 1);
    num(va, sizeof va, t->have_val ? t->last_val_acc : NAN, 1);
    num(sl, sizeof sl, t->test_loss, 1);
    num(sa, sizeof sa, t->test_acc, 1);
    /* a value that does not exist is null, never a made-up 0: the losses of
     * a run with no finished epoch (NaN until then), the rate and times of
     * a run that took no step (of this process, for the step times) */
    int stepped = t->samples_seen > 0, here = t->step_seconds > 0;
    char wall[32], sts[32], ars[32];
    num(sps, sizeof sps, stepped && t->wall_seconds > 0 ? (double)t->samples_seen / t->wall_seconds : NAN, 1);
    num(wall, sizeof wall, stepped ? round(t->wall_seconds * 1e3) / 1e3 : NAN, 1);
    num(sts, sizeof sts, here ? round(t->step_seconds * 1e3) / 1e3 : NAN, 1);
    num(ars, sizeof ars, here ? round(t->comm_seconds * 1e3) / 1e3 : NAN, 1);
    char fl[32], ml[32];
    num(fl, sizeof fl, t->first_loss, 1);
    num(ml, sizeof ml, t->max_loss, 1);
    /* data parallel: rank 0's time in the step's reductions (waiting for
     * slower ranks included) over its time in steps, of this process */
    char share[32];
    num(share, sizeof share, here ? t->comm_seconds / t->step_seconds : NAN, 1);
    /* a directory made before run ids has none: null */
    char rid[GG_RUN_ID_MAX + 8];
    if (t->run_id[0]) {
        char esc[GG_RUN_ID_MAX * 2];
        gg_json_escape(esc, sizeof esc, t->run_id);
        snprintf(rid, sizeof rid, "\"%s\"", esc);
    } else {
        snprintf(rid, sizeof rid, "null");
    }
    const gg_guard_counters *c = t->gd ? gg_guard_counts(t->gd) : NULL;
    gg_guard_counters z;
    memset(&z, 0, sizeof z);
    if (!c) c = &z;
    snprintf(buf, sizeof buf,
             "{\n  \"status\": \"%s\",\n  \"run_id\": %s,\n  \"epochs\": %d,\n  \"steps\": %ld,\n  \"train_loss\": %s,\n"
             "  \"train_accuracy\": %s,\n  \"val_loss\": %s,\n  \"val_accuracy\": %s,\n  \"test_loss\": %s,\n"
             "  \"test_accuracy\": %s,\n  \"wall_seconds\": %s,\n  \"samples_per_second\": %s,\n"
             "  \"first_loss\": %s,\n  \"max_loss\": %s,\n  \"nonfinite_steps\": %ld,\n"
             "  \"blas_kernel\": \"%s\",\n  \"world_size\": %d,\n  \"step_seconds\": %s,\n  \"allreduce_seconds\": %s,\n  \"allreduce_share\": %s,\n"
             "  \"guard\": {\"enabled\": %s, \"clipped\": %ld, \"skipped\": %ld, "
             "\"backoffs\": %ld, \"rollbacks\": %ld, \"nonfinite\": %ld, \"spikes\": %ld, \"trends\": %ld, "
             "\"collapses\": %ld, \"stalls\": %ld, \"vanishing\": %ld, \"dead\": %ld, "
             "\"saturated\": %ld, \"update_ratio\": %ld, \"attention\": %ld, \"logit_drift\": %ld}\n}\n",
             gg_run_status_name(t->status), rid, t->pos.epoch, t->pos.step, tl, ta, vl, va, sl, sa, wall, sps, fl, ml,
             t->nonfinite_steps,
             gg_blas_kernel(), t->world, sts, ars, share, t->gd ? "true" : "false", c->clipped, c->skipped, c->backoffs, c->rollbacks, c->nonfinite, c->spikes,
             c->trends, c->collapses, c->stalls, c->vanishing, c->dead, c->saturated, c->update_ratio, c->attention,
             c->logit_drift);
    /* pruning: the sparsity per tensor, before the closing brace */
    size_t bl = strlen(buf);
    if (t->pr && bl > 3) {
        char sp[2048];
        gg_train_sparsity_json(t, sp, sizeof sp);
        size_t sl2 = strlen(sp);
        if (bl + sl2 < sizeof buf) {
            memmove(buf + bl - 3 + sl2, buf + bl - 3, 4);
            memcpy(buf + bl - 3, sp, sl2);
        }
    }
    char p[GG_PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/summary.json", t->run_dir);
    return gg_write_atomic(p, buf, strlen(buf));
}

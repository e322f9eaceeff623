/* write.c - writing a run directory's files (run.h). Rows are flushed as
 * they are written so a killed run keeps its log. */
#include "run/run.h"

#include "core/error.h"
#include "io/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const gg_run_files[] = {"config.yaml",  "metrics.csv",       "layers.csv",  "events.jsonl",
                                    "summary.json", "model.safetensors", "report.html", "run_id",
                                    "vocab.bin",    "prune.json"};
const int gg_run_nfiles = (int)(sizeof gg_run_files / sizeof gg_run_files[0]);

/* A number for JSON/CSV: non-finite values become null / empty. */
static void num(char *buf, size_t cap, double v, int json)
{
    if (isfinite(v)) snprintf(buf, cap, "%.9g", v);
    else snprintf(buf, cap, "%s", json ? "null" : "");
}

void gg_run_flush(FILE *f) { fflush(f); }

void gg_run_metrics_header(FILE *f)
{
    fprintf(f, "kind,step,epoch,loss,accuracy,lr,grad_norm,val_loss,val_accuracy,samples_per_second,"
               "wall_seconds,branch\n");
}

void gg_run_metrics_write(FILE *f, const gg_run_metrics *m)
{
    char a[32], b[32], c[32], d[32], e[32], g[32], h[32];
    num(a, sizeof a, m->loss, 0);
    num(b, sizeof b, m->acc, 0);
    num(c, sizeof c, m->lr, 0);
    num(d, sizeof d, m->gnorm, 0);
    num(e, sizeof e, m->vloss, 0);
    num(g, sizeof g, m->vacc, 0);
    num(h, sizeof h, m->sps, 0);
    fprintf(f, "%s,%ld,%d,%s,%s,%s,%s,%s,%s,%s,%.3f,%ld\n", m->kind, m->step, m->epoch, a, b, c, d, e, g, h, m->wall,
            m->branch);
    fflush(f);
}

void gg_run_layers_header(FILE *f)
{
    fprintf(f, "step,tensor,layer,grad_norm,weight_norm,update_norm,update_ratio,dead_fraction,"
               "saturated_fraction,head,max_logit,entropy,log_z\n");
}

void gg_run_layer_write(FILE *f, long step, const char *tensor, const char *layer, double grad_norm,
                        double weight_norm, double update_norm, double update_ratio, double dead, double saturated)
{
    char a[32], b[32], c[32], d[32], e[32], g[32];
    num(a, sizeof a, grad_norm, 0);
    num(b, sizeof b, weight_norm, 0);
    num(c, sizeof c, update_norm, 0);
    num(d, sizeof d, update_ratio, 0);
    num(e, sizeof e, dead, 0);
    num(g, sizeof g, saturated, 0);
    fprintf(f, "%ld,%s,%s,%s,%s,%s,%s,%s,%s,,,,\n", step, tensor, layer, a, b, c, d, e, g);
}

void gg_run_head_write(FILE *f, long step, const char *node, const char *layer, int head, double max_logit,
                       double entropy)
{
    char a[32], b[32];
    num(a, sizeof a, max_logit, 0);
    num(b, sizeof b, entropy, 0);
    fprintf(f, "%ld,%s,%s,,,,,,,%d,%s,%s,\n", step, node, layer, head, a, b);
}

void gg_run_logz_write(FILE *f, long step, const char *node, const char *layer, double log_z)
{
    char a[32];
    num(a, sizeof a, log_z, 0);
    fprintf(f, "%ld,%s,%s,,,,,,,,,,%s\n", step, node, layer, a);
}

void gg_run_event_write(FILE *f, const gg_guard_event *e)
{
    char sig[64], act[64], det[600], v[32], th[32];
    gg_json_escape(sig, sizeof sig, e->signal);
    gg_json_escape(act, sizeof act, e->action);
    gg_json_escape(det, sizeof det, e->detail);
    num(v, sizeof v, e->value, 1);
    num(th, sizeof th, e->threshold, 1);
    fprintf(f, "{\"type\":\"guard\",\"step\":%ld,\"epoch\":%d,\"signal\":\"%s\",\"value\":%s,\"threshold\":%s,"
               "\"action\":\"%s\",\"detail\":\"%s\"}\n",
            e->step, e->epoch + 1, sig, v, th, act, det);
    fflush(f);
}

void gg_run_info_write(FILE *f, const char *type, long step, int epoch, const char *detail)
{
    char w[64], d[600];
    gg_json_escape(w, sizeof w, type);
    gg_json_escape(d, sizeof d, detail);
    fprintf(f, "{\"type\":\"%s\",\"step\":%ld,\"epoch\":%d,\"detail\":\"%s\"}\n", w, step, epoch, d);
    fflush(f);
}

gg_status gg_run_summary_write(const char *run_dir, const gg_run_summary *s)
{
    char buf[4096];
    char tl[32], ta[32], vl[32], va[32], sl[32], sa[32], sps[32], wall[32], sts[32], ars[32], fl[32], ml[32],
        share[32];
    num(tl, sizeof tl, s->train_loss, 1);
    num(ta, sizeof ta, s->train_acc, 1);
    num(vl, sizeof vl, s->val_loss, 1);
    num(va, sizeof va, s->val_acc, 1);
    num(sl, sizeof sl, s->test_loss, 1);
    num(sa, sizeof sa, s->test_acc, 1);
    num(sps, sizeof sps, s->samples_per_second, 1);
    num(wall, sizeof wall, s->wall_seconds, 1);
    num(sts, sizeof sts, s->step_seconds, 1);
    num(ars, sizeof ars, s->allreduce_seconds, 1);
    num(share, sizeof share, s->allreduce_share, 1);
    num(fl, sizeof fl, s->first_loss, 1);
    num(ml, sizeof ml, s->max_loss, 1);
    /* a directory made before run ids has none: null */
    char rid[340];
    if (s->run_id && s->run_id[0]) {
        char esc[320];
        gg_json_escape(esc, sizeof esc, s->run_id);
        snprintf(rid, sizeof rid, "\"%s\"", esc);
    } else {
        snprintf(rid, sizeof rid, "null");
    }
    gg_guard_counters z;
    memset(&z, 0, sizeof z);
    const gg_guard_counters *c = s->guard ? s->guard : &z;
    snprintf(buf, sizeof buf,
             "{\n  \"status\": \"%s\",\n  \"run_id\": %s,\n  \"epochs\": %d,\n  \"steps\": %ld,\n  \"train_loss\": %s,\n"
             "  \"train_accuracy\": %s,\n  \"val_loss\": %s,\n  \"val_accuracy\": %s,\n  \"test_loss\": %s,\n"
             "  \"test_accuracy\": %s,\n  \"wall_seconds\": %s,\n  \"samples_per_second\": %s,\n"
             "  \"first_loss\": %s,\n  \"max_loss\": %s,\n  \"nonfinite_steps\": %ld,\n"
             "  \"blas_kernel\": \"%s\",\n  \"world_size\": %d,\n  \"step_seconds\": %s,\n  \"allreduce_seconds\": %s,\n  \"allreduce_share\": %s,\n"
             "  \"guard\": {\"enabled\": %s, \"clipped\": %ld, \"skipped\": %ld, "
             "\"backoffs\": %ld, \"rollbacks\": %ld, \"nonfinite\": %ld, \"spikes\": %ld, \"trends\": %ld, "
             "\"collapses\": %ld, \"stalls\": %ld, \"vanishing\": %ld, \"dead\": %ld, "
             "\"saturated\": %ld, \"update_ratio\": %ld, \"attention\": %ld, \"logit_drift\": %ld, \"slow_rate\": %ld, \"rate_jump\": %ld, \"worse_than_chance\": %ld, \"plateau\": %ld}\n}\n",
             s->status, rid, s->epochs, s->steps, tl, ta, vl, va, sl, sa, wall, sps, fl, ml, s->nonfinite_steps,
             s->blas_kernel, s->world_size, sts, ars, share, s->guard_enabled ? "true" : "false", c->clipped,
             c->skipped, c->backoffs, c->rollbacks, c->nonfinite, c->spikes, c->trends, c->collapses, c->stalls,
             c->vanishing, c->dead, c->saturated, c->update_ratio, c->attention, c->logit_drift, c->slow_rate, c->rate_jump, c->worse_than_chance, c->plateau);
    /* more members (pruning's sparsity) before the closing brace */
    size_t bl = strlen(buf);
    if (s->extra && bl > 3) {
        size_t sl2 = strlen(s->extra);
        if (bl + sl2 < sizeof buf) {
            memmove(buf + bl - 3 + sl2, buf + bl - 3, 4);
            memcpy(buf + bl - 3, s->extra, sl2);
        }
    }
    size_t pl = strlen(run_dir) + 16;
    char *p = malloc(pl);
    if (!p) return gg_fail(GG_E_NOMEM, "out of memory writing %s/summary.json", run_dir);
    snprintf(p, pl, "%s/summary.json", run_dir);
    gg_status st = gg_write_atomic(p, buf, strlen(buf));
    free(p);
    return st;
}

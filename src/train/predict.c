/*
 * predict.c - what a trained model is and what it says, outside training:
 * the model summary (layers, output shapes, parameter counts), a run
 * started from imported weights (train.init_from), per-sample predictions
 * on a data file, and the confusion matrix of a classifier.
 */
#include "train.h"

#include "core/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- train.init_from ------------------------------------------------------ */

gg_status gg_train_init_from(gg_trainer *t)
{
    const char *path = t->s.init_from;
    gg_status st = gg_model_import(t->g, path);
    if (st) return gg_fail(st, "%s: train.init_from: %s", t->s.init_from_at, gg_errmsg());
    /* a NaN in the starting weights would only show as a diverged first
     * step: refuse it here, naming the tensor and the element */
    size_t n;
    const float *p = gg_graph_params(t->g, &n), *b = gg_graph_buffers(t->g, &n);
    int np = gg_graph_num_params(t->g), nb = gg_graph_num_buffers(t->g);
    for (int i = 0; i < np + nb; i++) {
        gg_param_info pi;
        if (i < np) gg_graph_param(t->g, i, &pi);
        else gg_graph_buffer(t->g, i - np, &pi);
        const float *x = (i < np ? p : b) + pi.offset;
        for (size_t k = 0; k < pi.numel; k++)
            if (!isfinite(x[k]))
                return gg_fail(GG_E_NONFINITE, "%s: train.init_from: %s: tensor '%s' element %zu is %g", t->s.init_from_at,
                               path, pi.name, k, (double)x[k]);
    }
    return GG_OK;
}

/* ---- model summary ---------------------------------------------------------- */

int gg_trainer_num_layers(const gg_trainer *t) { return t ? t->nlayer_recs : 0; }

/* 1 if tensor `name` belongs to layer `layer`: "fc1.weight" and
 * "res1.fc1.weight" to fc1 and res1, never "fc10.weight" to fc1. */
static int owned_by(const char *name, const char *layer)
{
    size_t k = strlen(layer);
    return strncmp(name, layer, k) == 0 && name[k] == '.';
}

gg_status gg_trainer_layer(const gg_trainer *t, int i, gg_layer_info *out)
{
    if (!t || !out || i < 0 || i >= t->nlayer_recs)
        return gg_fail(GG_E_ARG, "gg_trainer_layer: layer %d out of range [0, %d)", i, t ? t->nlayer_recs : 0);
    const struct gg_layer_rec *r = &t->layer_recs[i];
    memset(out, 0, sizeof *out);
    out->name = r->name;
    out->type = r->type;
    gg_shape s = gg_graph_shape(t->g, r->out);
    /* one sample's shape: drop the batch dimension */
    out->output.ndim = s.ndim - 1;
    for (int k = 1; k < s.ndim; k++) out->output.d[k - 1] = s.d[k];
    int np = gg_graph_num_params(t->g), nb = gg_graph_num_buffers(t->g);
    for (int k = 0; k < np + nb; k++) {
        gg_param_info pi;
        if (k < np) gg_graph_param(t->g, k, &pi);
        else gg_graph_buffer(t->g, k - np, &pi);
        if (!owned_by(pi.name, r->name)) continue;
        if (k < np) {
            out->params += pi.numel;
            out->tensors++;
        } else {
            out->buffers += pi.numel;
        }
    }
    return GG_OK;
}

/* ---- predictions ---------------------------------------------------------- */

int gg_trainer_classes(const gg_trainer *t)
{
    if (!t || !t->g || t->s.loss != GG_LOSS_XENT) return 0;
    gg_shape ls = gg_graph_shape(t->g, t->logits);
    return ls.d[ls.ndim - 1];
}

int gg_trainer_outputs(const gg_trainer *t)
{
    if (!t || !t->g) return 0;
    gg_shape ls = gg_graph_shape(t->g, t->logits);
    return (int)(gg_shape_numel(ls) / (size_t)ls.d[0]);
}

gg_status gg_trainer_load_samples(gg_trainer *t, const char *path, const char *labels, gg_dataset *out)
{
    if (!t || !path || !out) return gg_fail(GG_E_ARG, "gg_trainer_load_samples: NULL argument");
    memset(out, 0, sizeof *out);
    const gg_settings *s = &t->s;
    const gg_dataset *tr = &t->train;
    gg_status st;
    if (strcmp(s->format, "idx") == 0) {
        st = gg_dataset_load_idx(out, path, labels);
    } else if (strcmp(s->format, "npy") == 0) {
        st = gg_dataset_load_npy(out, path, labels);
    } else if (strcmp(s->format, "csv") == 0) {
        if (labels)
            return gg_fail(GG_E_ARG, "%s: a CSV file holds its labels in a column (data.label), not in a second file",
                           path);
        /* the file may hold the label column or not: without it, every
         * column is a feature and the count says which it is */
        st = gg_dataset_load_csv(out, path, NULL, s->csv_header);
        if (!st && out->per == tr->per + 1) {
            gg_dataset_free(out);
            st = gg_dataset_load_csv(out, path, s->label_col[0] ? s->label_col : "-1", s->csv_header);
        }
    } else {
        return gg_fail(GG_E_CONFIG,
                       "this run's data.format is %s: predictions are made on idx, csv or npy files", s->format);
    }
    if (st) return st;
    if (out->per != tr->per) {
        st = gg_fail(GG_E_SHAPE, "%s has %zu features per sample, the model takes %zu (as the training set %s)", path,
                     out->per, tr->per, tr->source);
    } else if (!out->u8 != !tr->u8) {
        st = gg_fail(GG_E_FORMAT, "%s holds %s values, the training set %s holds %s: give the same type (its scaling "
                     "follows the training set)",
                     path, out->u8 ? "uint8" : "float", tr->source, tr->u8 ? "uint8" : "float");
    } else if (out->labels && out->label_per != tr->label_per) {
        st = gg_fail(GG_E_SHAPE, "%s has %d label values per sample, the training set %s has %d", path, out->label_per,
                     tr->source, tr->label_per);
    } else if (out->labels && gg_trainer_classes(t) > 0) {
        st = gg_dataset_check_classes(out, gg_trainer_classes(t));
    }
    if (st) {
        gg_dataset_free(out);
        return st;
    }
    /* the training set's normalisation */
    out->scale = tr->scale;
    out->mean = tr->mean;
    out->std = tr->std;
    return GG_OK;
}

/* Runs the model on samples [lo, lo + nb) of d in evaluation mode and
 * leaves the logits in the graph (nb rows). */
static gg_status forward_rows(gg_trainer *t, const gg_dataset *d, size_t lo, int nb, size_t *idx)
{
    for (int k = 0; k < nb; k++) idx[k] = lo + (size_t)k;
    gg_graph_set_batch(t->g, nb);
    gg_dataset_batch(d, idx, nb, gg_graph_data(t->g, t->x), NULL);
    gg_status st = gg_graph_forward(t->g, GG_EVAL, t->logits);
    if (st) return gg_fail(st, "predicting on %s (samples %zu..%zu): %s", d->source, lo, lo + (size_t)nb - 1,
                           gg_errmsg());
    return GG_OK;
}

gg_status gg_trainer_predict(gg_trainer *t, const gg_dataset *d, float *out)
{
    if (!t || !d || !out) return gg_fail(GG_E_ARG, "gg_trainer_predict: NULL argument");
    gg_graph *g = t->g;
    int B = gg_graph_max_batch(g), per = gg_trainer_outputs(t), classes = gg_trainer_classes(t);
    size_t *idx = malloc(sizeof *idx * (size_t)B);
    if (!idx) return gg_fail(GG_E_NOMEM, "predict: out of memory");
    gg_status st = GG_OK;
    for (size_t i = 0; i < d->n && !st; i += (size_t)B) {
        int nb = (int)(d->n - i < (size_t)B ? d->n - i : (size_t)B);
        if ((st = forward_rows(t, d, i, nb, idx))) break;
        const float *z = gg_graph_data(g, t->logits);
        float *o = out + i * (size_t)per;
        size_t m = (size_t)nb * (size_t)per;
        if (classes > 0) {
            /* softmax over each row of C logits, in double */
            for (size_t r = 0; r < m; r += (size_t)classes) {
                double mx = z[r], sum = 0;
                for (int c = 1; c < classes; c++) mx = z[r + c] > mx ? z[r + c] : mx;
                for (int c = 0; c < classes; c++) sum += exp((double)z[r + c] - mx);
                for (int c = 0; c < classes; c++) o[r + c] = (float)(exp((double)z[r + c] - mx) / sum);
            }
        } else if (t->s.loss == GG_LOSS_BCE) {
            for (size_t k = 0; k < m; k++) o[k] = (float)(1.0 / (1.0 + exp(-(double)z[k])));
        } else {
            memcpy(o, z, m * sizeof *o);
        }
    }
    gg_graph_set_batch(g, B);
    free(idx);
    return st;
}

/* ---- the CSV of predictions ------------------------------------------------- */

typedef struct cbuf {
    char *p;
    size_t n, cap;
} cbuf;

static int cb_printf(cbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cb_printf(cbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) return -1;
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return 0;
        }
        size_t cap = b->cap * 2 + (size_t)k;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
}

gg_status gg_trainer_predict_csv(gg_trainer *t, const gg_dataset *d, const char *out_csv)
{
    if (!t || !d || !out_csv) return gg_fail(GG_E_ARG, "gg_trainer_predict_csv: NULL argument");
    int per = gg_trainer_outputs(t), classes = gg_trainer_classes(t);
    if (classes > 0 && per != classes) {
        char sb[64];
        return gg_fail(GG_E_SHAPE,
                       "predict: the model gives %d class rows per sample (logits %s); one row per sample is written, "
                       "so only models with (N, C) logits can predict to CSV",
                       per / classes, gg_shape_str(gg_graph_shape(t->g, t->logits), sb, sizeof sb));
    }
    float *o = malloc(sizeof *o * (d->n ? d->n : 1) * (size_t)per);
    cbuf b = {malloc(65536), 0, 65536};
    gg_status st = GG_OK;
    if (!o || !b.p) {
        st = gg_fail(GG_E_NOMEM, "predict: out of memory for %zu samples", d->n);
        goto done;
    }
    if ((st = gg_trainer_predict(t, d, o))) goto done;
    int lp = d->labels ? d->label_per : 0, oom = 0;
    /* header */
    oom |= cb_printf(&b, "index");
    for (int k = 0; k < lp; k++)
        oom |= classes > 0 ? cb_printf(&b, ",label") : lp == 1 ? cb_printf(&b, ",target") : cb_printf(&b, ",target%d", k);
    if (classes > 0) oom |= cb_printf(&b, ",class");
    const char *col = classes > 0 || t->s.loss == GG_LOSS_BCE ? "p" : "value";
    for (int k = 0; k < per; k++)
        oom |= per == 1 && classes == 0 ? cb_printf(&b, ",%s", col) : cb_printf(&b, ",%s%d", col, k);
    oom |= cb_printf(&b, "\n");
    for (size_t i = 0; i < d->n && !oom; i++) {
        const float *r = o + i * (size_t)per;
        oom |= cb_printf(&b, "%zu", i);
        for (int k = 0; k < lp; k++)
            oom |= classes > 0 ? cb_printf(&b, ",%d", (int)d->labels[i * (size_t)lp + (size_t)k])
                               : cb_printf(&b, ",%.9g", (double)d->labels[i * (size_t)lp + (size_t)k]);
        if (classes > 0) {
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (r[c] > r[best]) best = c;
            oom |= cb_printf(&b, ",%d", best);
        }
        for (int k = 0; k < per; k++) oom |= cb_printf(&b, ",%.6g", (double)r[k]);
        oom |= cb_printf(&b, "\n");
    }
    if (oom) st = gg_fail(GG_E_NOMEM, "predict: out of memory writing %s", out_csv);
    else st = gg_write_atomic(out_csv, b.p, b.n);
done:
    free(o);
    free(b.p);
    return st;
}

/* ---- confusion matrix ---------------------------------------------------------- */

gg_status gg_trainer_confusion(gg_trainer *t, int which, long *counts)
{
    if (!t || !counts) return gg_fail(GG_E_ARG, "gg_trainer_confusion: NULL argument");
    int C = gg_trainer_classes(t);
    if (C <= 0) return gg_fail(GG_E_STATE, "a confusion matrix needs a classifier (loss softmax_xent)");
    const gg_dataset *d = which == 1 ? &t->val : &t->test;
    if ((which == 1 && !t->have_val) || (which != 1 && !t->have_test))
        return gg_fail(GG_E_STATE, "no %s set to evaluate on", which == 1 ? "validation" : "test");
    memset(counts, 0, sizeof *counts * (size_t)C * (size_t)C);
    gg_graph *g = t->g;
    int B = gg_graph_max_batch(g), rows = gg_trainer_outputs(t) / C;
    size_t *idx = malloc(sizeof *idx * (size_t)B);
    if (!idx) return gg_fail(GG_E_NOMEM, "confusion matrix: out of memory");
    gg_status st = GG_OK;
    for (size_t i = 0; i < d->n && !st; i += (size_t)B) {
        int nb = (int)(d->n - i < (size_t)B ? d->n - i : (size_t)B);
        if ((st = forward_rows(t, d, i, nb, idx))) break;
        const float *z = gg_graph_data(g, t->logits);
        /* one count per row of logits: a sequence model counts each step */
        for (size_t r = 0; r < (size_t)nb * (size_t)rows; r++) {
            const float *zr = z + r * (size_t)C;
            int best = 0;
            for (int c = 1; c < C; c++)
                if (zr[c] > zr[best]) best = c;
            int truth = (int)d->labels[i * (size_t)rows + r];
            counts[(size_t)truth * (size_t)C + (size_t)best]++;
        }
    }
    gg_graph_set_batch(g, B);
    free(idx);
    return st;
}

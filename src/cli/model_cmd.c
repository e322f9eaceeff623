/*
 * model_cmd.c - the command's views of a model: the summary table printed
 * at the start of `train`, the confusion matrix printed by `eval`, and the
 * `predict` command (per-sample predictions as CSV).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1234567 -> "1,234,567" */
static const char *grouped(size_t v, char *buf, size_t cap)
{
    char raw[32];
    int n = snprintf(raw, sizeof raw, "%zu", v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = 0;
    return buf;
}

/* (N, a, b): the batch dimension first, as the header writes shapes */
static const char *batched(gg_shape s, char *buf, size_t cap)
{
    int o = snprintf(buf, cap, "(N");
    for (int k = 0; k < s.ndim && o > 0 && (size_t)o < cap; k++) o += snprintf(buf + o, cap - (size_t)o, ", %d", s.d[k]);
    if (o > 0 && (size_t)o < cap) snprintf(buf + o, cap - (size_t)o, ")");
    return buf;
}

void gg_cli_summary(gg_trainer *t, FILE *f)
{
    static const char rule[] = "----------------------------------------------------------------------";
    int n = gg_trainer_num_layers(t), tensors = 0;
    size_t params = 0, buffers = 0;
    char a[64], b[64];
    fprintf(f, "%-20s %-15s %-20s %12s\n%s\n", "layer", "type", "output shape", "parameters", rule);
    for (int i = 0; i < n; i++) {
        gg_layer_info li;
        if (gg_trainer_layer(t, i, &li)) continue;
        fprintf(f, "%-20s %-15s %-20s %12s\n", li.name, li.type, batched(li.output, a, sizeof a),
                grouped(li.params, b, sizeof b));
        params += li.params;
        buffers += li.buffers;
        tensors += li.tensors;
    }
    fprintf(f, "%s\n", rule);
    fprintf(f, "parameters: %s in %d tensors (%.1f KiB)", grouped(params, a, sizeof a), tensors,
            (double)params * 4 / 1024);
    if (buffers) fprintf(f, "; non-trainable state: %s values", grouped(buffers, b, sizeof b));
    fputc('\n', f);
}

/* Rows are the true classes, columns the predicted ones; each row ends with
 * its recall (the class's accuracy). Up to 20 classes fit a terminal. */
int gg_cli_confusion(gg_trainer *t, FILE *f)
{
    int C = gg_trainer_classes(t);
    if (C <= 0) return 0;
    if (C > 20) {
        fprintf(f, "confusion matrix: %d classes, too many to print (up to 20 are)\n", C);
        return 0;
    }
    long *m = calloc((size_t)C * (size_t)C, sizeof *m);
    if (!m) return fprintf(stderr, "gradguard: out of memory for the confusion matrix\n"), 1;
    if (gg_trainer_confusion(t, 0, m)) {
        fprintf(stderr, "gradguard: %s\n", gg_errmsg());
        free(m);
        return 1;
    }
    long mx = 1;
    for (int i = 0; i < C * C; i++) mx = m[i] > mx ? m[i] : mx;
    int w = snprintf(NULL, 0, "%ld", mx) + 1;
    if (w < 4) w = 4;
    fprintf(f, "confusion matrix (test set; rows: true class, columns: predicted)\n%5s", "");
    for (int c = 0; c < C; c++) fprintf(f, "%*d", w, c);
    fprintf(f, "  recall\n");
    for (int r = 0; r < C; r++) {
        long row = 0;
        fprintf(f, "%5d", r);
        for (int c = 0; c < C; c++) {
            fprintf(f, "%*ld", w, m[r * C + c]);
            row += m[r * C + c];
        }
        if (row) fprintf(f, "  %.3f\n", (double)m[r * C + r] / (double)row);
        else fprintf(f, "  -\n");
    }
    free(m);
    return 0;
}

static const char *const usage_predict =
    "usage: gradguard predict RUN_DIR --data FILE [--labels FILE] -o PREDS.csv [--checkpoint FILE]\n"
    "                         [--set key=value ...]\n"
    "\n"
    "Rebuilds the model of RUN_DIR, loads RUN_DIR/model.safetensors (or FILE given by\n"
    "--checkpoint) and writes one CSV row per sample of the data file (in the run's\n"
    "data.format: idx, csv or npy; normalised as the training set was):\n"
    "  classifier   index[,label],class,p0,p1,...    (class probabilities)\n"
    "  bce_logits   index[,target...],p0,...         (sigmoid probabilities)\n"
    "  regression   index[,target...],value          (value0,value1,... for several outputs)\n"
    "The label columns appear when the file has labels (a CSV's label column, --labels\n"
    "for idx and npy).\n";

int gg_cli_predict(int argc, char **argv)
{
    const char *run = NULL, *data = NULL, *labels = NULL, *out = NULL, *ckpt = NULL;
    const char *sets[256];
    int nsets = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char **val = NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) return fputs(usage_predict, stdout), 0;
        if (!strcmp(s, "--data")) val = &data;
        else if (!strcmp(s, "--labels")) val = &labels;
        else if (!strcmp(s, "-o") || !strcmp(s, "--out")) val = &out;
        else if (!strcmp(s, "--checkpoint")) val = &ckpt;
        else if (!strcmp(s, "--set") || !strcmp(s, "-s")) {
            if (i + 1 >= argc || !strchr(argv[i + 1], '='))
                return fprintf(stderr, "gradguard predict: --set needs key=value\n"), 2;
            if (nsets == 256) return fprintf(stderr, "gradguard predict: more than 256 --set\n"), 2;
            sets[nsets++] = argv[++i];
            continue;
        } else if (s[0] == '-' && s[1]) {
            return fprintf(stderr, "gradguard predict: unknown option '%s' (see gradguard predict --help)\n", s), 2;
        } else if (!run) {
            run = s;
            continue;
        } else {
            return fprintf(stderr, "gradguard predict: one RUN_DIR only ('%s' is a second)\n", s), 2;
        }
        if (i + 1 >= argc) return fprintf(stderr, "gradguard predict: %s needs a file\n", s), 2;
        *val = argv[++i];
    }
    if (!run || !data || !out) return fputs(usage_predict, stderr), 2;
    char p[1200];
    snprintf(p, sizeof p, "%s/config.yaml", run);
    gg_cfg *cfg = NULL;
    if (gg_cfg_load(p, &cfg)) return fprintf(stderr, "gradguard: %s\n", gg_errmsg()), 1;
    /* the weights come from the run: its starting point and its test set
     * are not needed */
    gg_cfg_set(cfg, "train.init_from=");
    gg_cfg_set(cfg, "data.test=none");
    for (int i = 0; i < nsets; i++)
        if (gg_cfg_set(cfg, sets[i])) {
            fprintf(stderr, "gradguard: --set %s: %s\n", sets[i], gg_errmsg());
            gg_cfg_free(cfg);
            return 1;
        }
    gg_trainer *t = NULL;
    gg_dataset d;
    memset(&d, 0, sizeof d);
    int rc = 0;
    snprintf(p, sizeof p, "%s/model.safetensors", run);
    const char *weights = ckpt ? ckpt : p;
    if (gg_trainer_new(cfg, NULL, &t) || gg_model_load(gg_trainer_graph(t), weights) ||
        gg_trainer_load_samples(t, data, labels, &d) || gg_trainer_predict_csv(t, &d, out)) {
        fprintf(stderr, "gradguard: %s\n", gg_errmsg());
        rc = 1;
    } else {
        printf("wrote %s: %zu predictions from %s (%s)\n", out, d.n, weights,
               gg_trainer_classes(t) ? "classes and probabilities" : "values");
    }
    gg_dataset_free(&d);
    gg_trainer_free(t);
    gg_cfg_free(cfg);
    return rc;
}

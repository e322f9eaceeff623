/*
 * prune_cmd.c - `gradguard prune RUN_DIR --sparsity S`: prune a trained
 * model and fine-tune it into a new run directory.
 *
 * The new run is RUN_DIR's config with a one-shot `prune` section (and
 * train.epochs set to the fine-tuning epochs), started from RUN_DIR's
 * model.safetensors. The dense model, the model right after pruning and the
 * fine-tuned one are evaluated on the test set (the validation set if the
 * run has none); the three results and the sparsity per tensor are printed
 * and written to OUT_DIR/prune.json.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const usage_prune =
    "usage: gradguard prune RUN_DIR --sparsity S [--structured] [--method magnitude|random]\n"
    "                       [--scope global|layer] [--epochs N] [-o OUT_DIR] [--set key=value ...] [--quiet]\n"
    "\n"
    "Prunes the trained model of RUN_DIR to sparsity S (the fraction of weights set to 0,\n"
    "in [0, 1)), fine-tunes it for N epochs (default 1) with the pruned weights held at 0,\n"
    "and writes the result as a new run directory (default RUN_DIR-pruned). Prints the test\n"
    "accuracy of the dense model, of the pruned one before and after fine-tuning, and the\n"
    "sparsity of each weight tensor; OUT_DIR/prune.json has the same numbers.\n"
    "\n"
    "options:\n"
    "  --sparsity S       the fraction of prunable weights to remove (required)\n"
    "  --structured       remove whole rows (output units, filters) by their L2 norm; the last\n"
    "                     layer (the outputs) is kept whole\n"
    "  --method M         magnitude (default: the smallest |w| go) or random\n"
    "  --scope S          global (default: one ranking over all layers) or layer (each layer to S)\n"
    "  --epochs N         fine-tuning epochs (default 1; 0 only prunes)\n"
    "  -o, --out OUT_DIR  the new run directory (refused if it holds a run, unless --overwrite)\n"
    "  --overwrite        remove the run in OUT_DIR first (never RUN_DIR itself)\n"
    "  --set key=value    override a key of RUN_DIR's config for the fine-tuning (e.g. optimizer.lr=1e-4)\n"
    "Biases and normalisation parameters are never pruned (prune.include_biases in a config).\n";

typedef struct ui {
    int quiet;
} ui;

static void progress(const gg_progress *p, void *ctx)
{
    const ui *u = ctx;
    if (u->quiet) return;
    switch (p->kind) {
    case GG_EV_EPOCH:
        if (isfinite(p->val_loss))
            printf("epoch %d/%d: train loss %.4f acc %.4f | val loss %.4f acc %.4f\n", p->epoch + 1, p->epochs, p->loss,
                   p->accuracy, p->val_loss, p->val_accuracy);
        else
            printf("epoch %d/%d: train loss %.4f acc %.4f\n", p->epoch + 1, p->epochs, p->loss, p->accuracy);
        break;
    case GG_EV_GUARD:
        printf("guard: %s\n", p->message ? p->message : "");
        break;
    case GG_EV_START:
    case GG_EV_INFO:
        if (p->message) printf("%s\n", p->message);
        break;
    default:
        break;
    }
    fflush(stdout);
}

/* A number argument: strtod, whole text, within [lo, hi]. */
static int number(const char *opt, const char *v, double lo, double hi, int integer, double *out)
{
    char *end;
    double d = v ? strtod(v, &end) : NAN;
    if (!v || end == v || *end || !(d >= lo && d <= hi) || (integer && d != floor(d))) {
        fprintf(stderr, "gradguard prune: %s '%s' is not %s in [%g, %g]\n", opt, v ? v : "", integer ? "an integer" : "a number",
                lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

static int set(gg_cfg *cfg, const char *kv)
{
    if (gg_cfg_set(cfg, kv) == GG_OK) return 0;
    fprintf(stderr, "gradguard prune: --set %s: %s\n", kv, gg_errmsg());
    return -1;
}

static int eval(gg_trainer *t, int which, double *loss, double *acc)
{
    if (gg_trainer_evaluate(t, which, loss, acc) == GG_OK) return 0;
    fprintf(stderr, "gradguard prune: %s\n", gg_errmsg());
    return -1;
}

/* One function (about 150 lines): the command reads top to bottom as the
 * user sees it (arguments, the dense model's result, pruning, fine-tuning,
 * the table and prune.json), and every stage after the arguments shares the
 * trainer, the config and the three results, released at one `done`. */
int gg_cli_prune(int argc, char **argv)
{
    const char *run = NULL, *out = NULL, *method = NULL, *scope = NULL;
    const char *sets[256];
    int nsets = 0, structured = 0, quiet = 0, overwrite = 0;
    double sparsity = -1, epochs = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return fputs(usage_prune, stdout), 0;
        if (strcmp(a, "--structured") == 0) {
            structured = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--overwrite") == 0) {
            overwrite = 1;
        } else if (strcmp(a, "--sparsity") == 0) {
            if (number(a, v, 0, 0.999, 0, &sparsity)) return 2;
            i++;
        } else if (strcmp(a, "--epochs") == 0) {
            if (number(a, v, 0, 1000000, 1, &epochs)) return 2;
            i++;
        } else if (strcmp(a, "--method") == 0 || strcmp(a, "--scope") == 0 || strcmp(a, "-o") == 0 ||
                   strcmp(a, "--out") == 0 || strcmp(a, "--set") == 0 || strcmp(a, "-s") == 0) {
            if (!v) return fprintf(stderr, "gradguard prune: %s needs a value\n", a), 2;
            if (a[1] == 'o' || strcmp(a, "--out") == 0) out = v;
            else if (strcmp(a, "--method") == 0) method = v;
            else if (strcmp(a, "--scope") == 0) scope = v;
            else if (nsets < 256) sets[nsets++] = v;
            i++;
        } else if (a[0] == '-' && a[1]) {
            return fprintf(stderr, "gradguard prune: unknown option '%s' (see gradguard prune --help)\n", a), 2;
        } else if (!run) {
            run = a;
        } else {
            return fprintf(stderr, "gradguard prune: one RUN_DIR only ('%s' is a second)\n", a), 2;
        }
    }
    if (!run)
        return fprintf(stderr, "gradguard prune: missing RUN_DIR (%.*s)\n", (int)strcspn(usage_prune, "\n"), usage_prune), 2;
    if (sparsity < 0) return fprintf(stderr, "gradguard prune: --sparsity S is required (e.g. --sparsity 0.8)\n"), 2;
    if (method && gg_prune_method_parse(method) == GG_PRUNE_COUNT)
        return fprintf(stderr, "gradguard prune: --method '%s' is not magnitude or random\n", method), 2;
    if (scope && strcmp(scope, "global") != 0 && strcmp(scope, "layer") != 0)
        return fprintf(stderr, "gradguard prune: --scope '%s' is not global or layer\n", scope), 2;
    if (strlen(run) > 900) return fprintf(stderr, "gradguard prune: RUN_DIR path too long\n"), 2;
    char dir[1000], p[1100], kv[160];
    size_t rl = strlen(run);
    while (rl > 1 && run[rl - 1] == '/') rl--;
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else snprintf(dir, sizeof dir, "%.*s-pruned", (int)rl, run);
    /* the new run must not replace the one it starts from */
    struct stat a, b;
    if (stat(run, &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return fprintf(stderr, "gradguard prune: OUT_DIR %s is RUN_DIR itself; choose another directory\n", dir), 2;

    snprintf(p, sizeof p, "%s/config.yaml", run);
    gg_cfg *cfg = NULL;
    if (gg_cfg_load(p, &cfg)) return fprintf(stderr, "gradguard prune: %s (is %s a run directory?)\n", gg_errmsg(), run), 1;
    /* one-shot pruning at the first step of the fine-tuning run */
    snprintf(kv, sizeof kv, "prune.sparsity=%.17g", sparsity);
    int bad = set(cfg, kv) || set(cfg, structured ? "prune.structured=true" : "prune.structured=false") ||
              set(cfg, "prune.start=0") || set(cfg, "prune.end=0") || set(cfg, "prune.initial_sparsity=0") ||
              set(cfg, "train.stop_after=0") || set(cfg, "train.max_steps=0") ||
              /* the trained weights are the starting point: no re-initialisation */
              set(cfg, "guard.init_check=off") || set(cfg, "train.init_from=");
    if (!bad && method) {
        snprintf(kv, sizeof kv, "prune.method=%s", method);
        bad = set(cfg, kv);
    }
    if (!bad && scope) {
        snprintf(kv, sizeof kv, "prune.scope=%s", scope);
        bad = set(cfg, kv);
    }
    if (!bad) {
        snprintf(kv, sizeof kv, "train.epochs=%d", epochs > 0 ? (int)epochs : 1);
        bad = set(cfg, kv);
    }
    if (!bad && epochs == 0) bad = set(cfg, "train.max_steps=1");
    for (int i = 0; i < nsets && !bad; i++) bad = set(cfg, sets[i]);
    if (bad) {
        gg_cfg_free(cfg);
        return 1;
    }
    gg_trainer *t = NULL;
    if (gg_trainer_new_ex(cfg, dir, overwrite ? GG_RUN_OVERWRITE : 0, &t)) {
        fprintf(stderr, "gradguard prune: %s\n", gg_errmsg());
        gg_cfg_free(cfg);
        return 1;
    }
    ui u = {quiet};
    gg_trainer_set_progress(t, progress, &u);
    int rc = 1, which = 0;
    double dl = NAN, da = NAN, pl = NAN, pa = NAN, fl = NAN, fa = NAN, sp = 0;
    snprintf(p, sizeof p, "%s/model.safetensors", run);
    if (gg_model_load(gg_trainer_graph(t), p)) {
        fprintf(stderr, "gradguard prune: %s\n", gg_errmsg());
        goto done;
    }
    if (gg_trainer_evaluate(t, 0, &dl, &da) != GG_OK) which = 1; /* no test set: the validation set */
    if (eval(t, which, &dl, &da)) goto done;
    if (gg_trainer_prune(t, &sp)) {
        fprintf(stderr, "gradguard prune: %s\n", gg_errmsg());
        goto done;
    }
    if (eval(t, which, &pl, &pa)) goto done;
    if (epochs > 0) {
        if (gg_trainer_run(t)) {
            fprintf(stderr, "gradguard prune: fine-tuning: %s\n", gg_errmsg());
            goto done;
        }
        if (eval(t, which, &fl, &fa)) goto done;
    } else {
        fl = pl;
        fa = pa;
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        if (gg_model_save(gg_trainer_graph(t), p)) {
            fprintf(stderr, "gradguard prune: %s\n", gg_errmsg());
            goto done;
        }
    }
    char desc[2048];
    gg_pruner_describe(gg_trainer_pruner(t), desc, sizeof desc);
    const char *set_name = which ? "validation" : "test";
    int cls = isfinite(da);
    char ft[64];
    snprintf(ft, sizeof ft, "pruned + %d epoch%s fine-tuning", (int)epochs, epochs == 1 ? "" : "s");
    const char *rows[3] = {"dense", "pruned", ft};
    double ls[3] = {dl, pl, fl}, as[3] = {da, pa, fa};
    printf("\non the %s set:\n%-30s %-10s  %s\n", set_name, "model", "loss", cls ? "accuracy" : "");
    for (int i = 0; i < 3; i++) {
        if (cls) printf("%-30s %-10.4f  %.4f\n", rows[i], ls[i], as[i]);
        else printf("%-30s %.6g\n", rows[i], ls[i]);
    }
    printf("sparsity %s\n", desc);
    printf("%s: run directory %s\n", gg_trainer_status(t), dir);
    /* the same numbers for scripts */
    char js[4096];
    int n = snprintf(js, sizeof js,
                     "{\n  \"source\": \"%s\",\n  \"set\": \"%s\",\n  \"sparsity\": %.6f,\n  \"structured\": %s,\n"
                     "  \"fine_tune_epochs\": %d,\n  \"dense\": {\"loss\": %.6g, \"accuracy\": %.6g},\n"
                     "  \"pruned\": {\"loss\": %.6g, \"accuracy\": %.6g},\n  \"fine_tuned\": {\"loss\": %.6g, \"accuracy\": %.6g}\n}\n",
                     run, set_name, sp, structured ? "true" : "false", (int)epochs, dl, cls ? da : -1, pl, cls ? pa : -1, fl,
                     cls ? fa : -1);
    snprintf(p, sizeof p, "%s/prune.json", dir);
    if (n > 0 && (size_t)n < sizeof js && gg_write_atomic(p, js, (size_t)n)) {
        fprintf(stderr, "gradguard prune: %s\n", gg_errmsg());
        goto done;
    }
    rc = gg_trainer_run_status(t) == GG_RUN_DIVERGED ? 3 : 0;
done:
    gg_trainer_free(t);
    gg_cfg_free(cfg);
    return rc;
}

/*
 * main.c - the gradguard command: a thin layer over the library. It parses
 * arguments, prints progress (a bar on a terminal, plain lines otherwise)
 * and turns failures into one clear line on stderr and a non-zero exit.
 *
 * Exit status: 0 completed (or stopped on request), 1 error, 2 usage,
 * 3 diverged, 4 stalled.
 */
#include "gradguard.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SETS 256

static const char *const usage_main =
    "usage: gradguard COMMAND [ARGS]\n"
    "\n"
    "Train neural networks whose training does not blow up.\n"
    "\n"
    "commands:\n"
    "  train CONFIG [-o RUN_DIR] [--set key=value ...]   train a model from a YAML config\n"
    "  resume RUN_DIR [--set key=value ...]              continue a run from its newest good checkpoint\n"
    "  eval RUN_DIR [--checkpoint FILE]                  evaluate a run's model on its test set\n"
    "  --help, COMMAND --help                            explain a command and its options\n"
    "  --version                                         print the version\n"
    "\n"
    "exit status: 0 completed or stopped, 1 error, 2 usage, 3 diverged, 4 stalled\n";

static const char *const usage_train =
    "usage: gradguard train CONFIG [-o RUN_DIR] [--set key=value ...] [--quiet]\n"
    "\n"
    "Trains the model that CONFIG (YAML) describes and writes the run directory:\n"
    "  config.yaml        the resolved config (with every --set applied)\n"
    "  metrics.csv        one row per logged step and per epoch\n"
    "  layers.csv         per-tensor gradient, weight and update norms (guard.layer_every)\n"
    "  events.jsonl       guard and trainer events, one JSON object per line\n"
    "  summary.json       status, steps, final losses and accuracies, speed, guard counters\n"
    "  checkpoints/       full training state, for resume\n"
    "  model.safetensors  the final weights\n"
    "\n"
    "options:\n"
    "  -o, --out RUN_DIR  where to write the run (default: runs/<config name>)\n"
    "  --set key=value    override a config key, e.g. --set train.epochs=3 --set optimizer.lr=3e-4\n"
    "                     (list items by index: --set model.0.units=512); may be repeated\n"
    "  --quiet            print only the final line\n"
    "\n"
    "Config sections: data, model, loss, optimizer, schedule, regularize, guard, train.\n"
    "See docs/config.md for every key, its type and default; configs/ has commented examples.\n"
    "Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes a checkpoint and exits\n"
    "with status 'stopped'; 'gradguard resume RUN_DIR' continues it.\n";

static const char *const usage_resume =
    "usage: gradguard resume RUN_DIR [--set key=value ...] [--quiet]\n"
    "\n"
    "Continues the run in RUN_DIR from its newest checkpoint that reads back intact\n"
    "(a damaged newest checkpoint is reported and the one before it is used). The run\n"
    "continues exactly as if it had not stopped: same data order, same random streams.\n"
    "--set overrides keys of the saved config (e.g. --set train.epochs=10 to train longer).\n";

static const char *const usage_eval =
    "usage: gradguard eval RUN_DIR [--checkpoint FILE] [--set key=value ...]\n"
    "\n"
    "Rebuilds the model of RUN_DIR from its config.yaml, loads RUN_DIR/model.safetensors\n"
    "(or FILE: a model file or a checkpoint) and prints the test loss and accuracy.\n";

static gg_trainer *g_running;
static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
    (void)sig;
    g_signals++;
    if (g_running) gg_trainer_request_stop(g_running);
    /* a second Ctrl-C means now */
    if (g_signals > 1) _exit(130);
}

typedef struct cli_ui {
    int tty, quiet;
    int bar_open;
} cli_ui;

static void fmt_time(char *buf, size_t cap, double s)
{
    if (!isfinite(s) || s < 0) snprintf(buf, cap, "--:--");
    else if (s < 3600) snprintf(buf, cap, "%02d:%02d", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
}

static void end_bar(cli_ui *ui)
{
    if (ui->bar_open) {
        fputc('\n', stdout);
        ui->bar_open = 0;
    }
}

static void progress(const gg_progress *p, void *ctx)
{
    cli_ui *ui = ctx;
    if (ui->quiet && p->kind != GG_EV_DONE) return;
    char eta[32];
    switch (p->kind) {
    case GG_EV_START:
    case GG_EV_INFO:
        end_bar(ui);
        printf("%s\n", p->message ? p->message : "");
        break;
    case GG_EV_STEP: {
        fmt_time(eta, sizeof eta, p->eta_seconds);
        double frac = p->total_steps ? (double)p->step / (double)p->total_steps : 0;
        if (ui->tty) {
            char bar[31];
            int fill = (int)(frac * 30);
            for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
            bar[30] = 0;
            printf("\r\033[Kepoch %d/%d [%s] %3.0f%% step %ld loss %.4f acc %.3f lr %.2e |g| %.3g %.0f/s eta %s",
                   p->epoch + 1, p->epochs, bar, 100 * frac, p->step, p->loss, p->accuracy, p->lr, p->grad_norm,
                   p->samples_per_second, eta);
            ui->bar_open = 1;
        } else {
            printf("step %ld/%ld epoch %d loss %.4f acc %.4f lr %.3g grad_norm %.4g samples/s %.0f eta %s\n", p->step,
                   p->total_steps, p->epoch + 1, p->loss, p->accuracy, p->lr, p->grad_norm, p->samples_per_second, eta);
        }
        break;
    }
    case GG_EV_EPOCH:
        end_bar(ui);
        if (isfinite(p->val_loss))
            printf("epoch %d/%d: train loss %.4f acc %.4f | val loss %.4f acc %.4f | %.0f samples/s\n", p->epoch + 1,
                   p->epochs, p->loss, p->accuracy, p->val_loss, p->val_accuracy, p->samples_per_second);
        else
            printf("epoch %d/%d: train loss %.4f acc %.4f | %.0f samples/s\n", p->epoch + 1, p->epochs, p->loss,
                   p->accuracy, p->samples_per_second);
        break;
    case GG_EV_GUARD:
        end_bar(ui);
        printf("guard: %s\n", p->message ? p->message : "");
        break;
    case GG_EV_DONE:
        end_bar(ui);
        break;
    }
    fflush(stdout);
}

/* Collects --set, -o, --quiet, --checkpoint; returns the positional count. */
typedef struct cli_args {
    const char *pos[4];
    int npos;
    const char *sets[MAX_SETS];
    int nsets;
    const char *out, *checkpoint;
    int quiet, help;
} cli_args;

static int parse_args(int argc, char **argv, cli_args *a, const char *cmd)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
        } else if (strcmp(s, "--set") == 0 || strcmp(s, "-s") == 0) {
            if (i + 1 >= argc) return fprintf(stderr, "gradguard %s: --set needs key=value\n", cmd), -1;
            if (a->nsets == MAX_SETS) return fprintf(stderr, "gradguard %s: more than %d --set\n", cmd, MAX_SETS), -1;
            if (!strchr(argv[i + 1], '='))
                return fprintf(stderr, "gradguard %s: --set '%s' is not key=value\n", cmd, argv[i + 1]), -1;
            a->sets[a->nsets++] = argv[++i];
        } else if (strncmp(s, "--set=", 6) == 0) {
            if (a->nsets == MAX_SETS) return fprintf(stderr, "gradguard %s: more than %d --set\n", cmd, MAX_SETS), -1;
            a->sets[a->nsets++] = s + 6;
        } else if (strcmp(s, "-o") == 0 || strcmp(s, "--out") == 0) {
            if (i + 1 >= argc) return fprintf(stderr, "gradguard %s: %s needs a directory\n", cmd, s), -1;
            a->out = argv[++i];
        } else if (strcmp(s, "--checkpoint") == 0) {
            if (i + 1 >= argc) return fprintf(stderr, "gradguard %s: --checkpoint needs a file\n", cmd), -1;
            a->checkpoint = argv[++i];
        } else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
            a->quiet = 1;
        } else if (s[0] == '-' && s[1]) {
            return fprintf(stderr, "gradguard %s: unknown option '%s' (see gradguard %s --help)\n", cmd, s, cmd), -1;
        } else {
            if (a->npos == 4) return fprintf(stderr, "gradguard %s: too many arguments\n", cmd), -1;
            a->pos[a->npos++] = s;
        }
    }
    return 0;
}

static int exit_for(const char *status)
{
    if (strcmp(status, "diverged") == 0) return 3;
    if (strcmp(status, "stalled") == 0) return 4;
    if (strcmp(status, "failed") == 0) return 1;
    return 0;
}

static int run_trainer(gg_trainer *t, const char *run_dir, int quiet)
{
    cli_ui ui = {isatty(STDOUT_FILENO), quiet, 0};
    gg_trainer_set_progress(t, progress, &ui);
    g_running = t;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    gg_status st = gg_trainer_run(t);
    g_running = NULL;
    if (st) {
        end_bar(&ui);
        fprintf(stderr, "gradguard: %s\n", gg_errmsg());
        return 1;
    }
    const char *status = gg_trainer_status(t);
    double loss = NAN, acc = NAN;
    gg_trainer_evaluate(t, 0, &loss, &acc);
    if (isfinite(acc))
        printf("%s: test loss %.4f, test accuracy %.4f; run directory %s\n", status, loss, acc, run_dir);
    else if (isfinite(loss))
        printf("%s: test loss %.6g; run directory %s\n", status, loss, run_dir);
    else
        printf("%s; run directory %s\n", status, run_dir);
    return exit_for(status);
}

static int cmd_train(int argc, char **argv)
{
    cli_args a;
    if (parse_args(argc, argv, &a, "train")) return 2;
    if (a.help) return fputs(usage_train, stdout), 0;
    if (a.npos != 1) return fputs(usage_train, stderr), 2;
    gg_cfg *cfg = NULL;
    if (gg_cfg_load(a.pos[0], &cfg)) return fprintf(stderr, "gradguard: %s\n", gg_errmsg()), 1;
    for (int i = 0; i < a.nsets; i++)
        if (gg_cfg_set(cfg, a.sets[i])) {
            fprintf(stderr, "gradguard: --set %s: %s\n", a.sets[i], gg_errmsg());
            gg_cfg_free(cfg);
            return 1;
        }
    char out[1024];
    if (a.out) {
        snprintf(out, sizeof out, "%s", a.out);
    } else {
        const char *base = strrchr(a.pos[0], '/');
        base = base ? base + 1 : a.pos[0];
        const char *dot = strrchr(base, '.');
        snprintf(out, sizeof out, "runs/%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
    }
    gg_trainer *t = NULL;
    if (gg_trainer_new(cfg, out, &t)) {
        fprintf(stderr, "gradguard: %s\n", gg_errmsg());
        gg_cfg_free(cfg);
        return 1;
    }
    int rc = run_trainer(t, out, a.quiet);
    gg_trainer_free(t);
    gg_cfg_free(cfg);
    return rc;
}

static int cmd_resume(int argc, char **argv)
{
    cli_args a;
    if (parse_args(argc, argv, &a, "resume")) return 2;
    if (a.help) return fputs(usage_resume, stdout), 0;
    if (a.npos != 1) return fputs(usage_resume, stderr), 2;
    gg_trainer *t = NULL;
    if (gg_trainer_resume(a.pos[0], a.sets, a.nsets, &t)) return fprintf(stderr, "gradguard: %s\n", gg_errmsg()), 1;
    int rc = run_trainer(t, a.pos[0], a.quiet);
    gg_trainer_free(t);
    return rc;
}

static int cmd_eval(int argc, char **argv)
{
    cli_args a;
    if (parse_args(argc, argv, &a, "eval")) return 2;
    if (a.help) return fputs(usage_eval, stdout), 0;
    if (a.npos != 1) return fputs(usage_eval, stderr), 2;
    char p[1200];
    snprintf(p, sizeof p, "%s/config.yaml", a.pos[0]);
    gg_cfg *cfg = NULL;
    if (gg_cfg_load(p, &cfg)) return fprintf(stderr, "gradguard: %s\n", gg_errmsg()), 1;
    for (int i = 0; i < a.nsets; i++)
        if (gg_cfg_set(cfg, a.sets[i])) {
            fprintf(stderr, "gradguard: --set %s: %s\n", a.sets[i], gg_errmsg());
            gg_cfg_free(cfg);
            return 1;
        }
    gg_trainer *t = NULL;
    int rc = 0;
    if (gg_trainer_new(cfg, NULL, &t)) {
        fprintf(stderr, "gradguard: %s\n", gg_errmsg());
        gg_cfg_free(cfg);
        return 1;
    }
    snprintf(p, sizeof p, "%s/model.safetensors", a.pos[0]);
    const char *file = a.checkpoint ? a.checkpoint : p;
    double loss, acc;
    if (gg_model_load(gg_trainer_graph(t), file) || gg_trainer_evaluate(t, 0, &loss, &acc)) {
        fprintf(stderr, "gradguard: %s\n", gg_errmsg());
        rc = 1;
    } else if (isfinite(acc)) {
        printf("%s: test loss %.4f, test accuracy %.4f\n", file, loss, acc);
    } else {
        printf("%s: test loss %.6g\n", file, loss);
    }
    gg_trainer_free(t);
    gg_cfg_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) return fputs(usage_main, stderr), 2;
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2) {
            const char *sub = argv[2];
            if (strcmp(sub, "train") == 0) return fputs(usage_train, stdout), 0;
            if (strcmp(sub, "resume") == 0) return fputs(usage_resume, stdout), 0;
            if (strcmp(sub, "eval") == 0) return fputs(usage_eval, stdout), 0;
        }
        return fputs(usage_main, stdout), 0;
    }
    if (strcmp(cmd, "--version") == 0) return printf("gradguard %s\n", GG_VERSION_STRING), 0;
    if (strcmp(cmd, "train") == 0) return cmd_train(argc - 2, argv + 2);
    if (strcmp(cmd, "resume") == 0) return cmd_resume(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 2, argv + 2);
    fprintf(stderr, "gradguard: unknown command '%s'\n\n%s", cmd, usage_main);
    return 2;
}

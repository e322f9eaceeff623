/*
 * main.c - the gradguard command: a thin layer over the library. It parses
 * arguments, prints progress (one live line on a terminal, cut to its width
 * and redrawn about twice a second; plain lines at the log interval
 * otherwise, with the same names and numbers) and turns failures into one clear line on stderr and a non-zero exit.
 *
 * Exit status: 0 completed (or stopped on request), 1 error (a run
 * directory that holds a run or is in use included), 2 usage, 3 diverged,
 * 4 stalled.
 */
#include "cli.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_SETS 256

static const char *const usage_main =
    "usage: gradguard COMMAND [ARGS]\n"
    "\n"
    "Train neural networks whose training does not blow up.\n"
    "\n"
    "commands:\n"
    "  train CONFIG [-o RUN_DIR] [--overwrite] [--set key=value ...]\n"
    "                                                    train a model from a YAML config\n"
    "  resume RUN_DIR [--set key=value ...]              continue a run from its newest good checkpoint\n"
    "  eval RUN_DIR [--checkpoint FILE]                  evaluate a run's model on its test set\n"
    "  predict RUN_DIR --data FILE -o PREDS.csv          per-sample predictions of a run's model\n"
    "  report RUN_DIR [-o FILE]                          write RUN_DIR/report.html (charts of the run)\n"
    "  compare RUN_DIR RUN_DIR... -o FILE                overlay several runs in one report\n"
    "  sample RUN_DIR [--prompt TEXT] [--length N]       generate text from a character model\n"
    "  prune RUN_DIR --sparsity S [--structured]        prune a trained model and fine-tune it\n"
    "  --help, COMMAND --help                            explain a command and its options\n"
    "  --version                                         print the version\n"
    "\n"
    "exit status: 0 completed or stopped, 1 error, 2 usage, 3 diverged, 4 stalled\n";

static const char *const usage_train =
    "usage: gradguard train CONFIG [-o RUN_DIR] [--overwrite] [--set key=value ...] [--quiet]\n"
    "\n"
    "Trains the model that CONFIG (YAML) describes and writes the run directory:\n"
    "  config.yaml        the resolved config (with every --set applied)\n"
    "  metrics.csv        one row per logged step and per epoch\n"
    "  layers.csv         per-tensor gradient, weight and update norms (guard.layer_every)\n"
    "  events.jsonl       guard and trainer events, one JSON object per line\n"
    "  summary.json       status, steps, final losses and accuracies, speed, guard counters\n"
    "  checkpoints/       full training state, for resume\n"
    "  model.safetensors  the final weights\n"
    "  report.html        the run's charts, written at its end (gradguard report RUN_DIR redraws it)\n"
    "  vocab.bin          text runs: the byte vocabulary, for gradguard sample\n"
    "  run_id             the run's id (time and random hex), also in summary.json and every checkpoint\n"
    "  run.lock           while the run is going: its pid, host and start time (removed at the end)\n"
    "\n"
    "One run per directory: a RUN_DIR that already holds a run (any file above but run.lock) is\n"
    "refused (exit 1) unless --overwrite is given; a RUN_DIR in use by a live train or resume\n"
    "is refused at once, naming its pid; the lock of a killed run is taken over with a note.\n"
    "Resume and checkpoint retention touch only checkpoints with the run's id.\n"
    "\n"
    "options:\n"
    "  -o, --out RUN_DIR  where to write the run (default: runs/<config name>)\n"
    "  --overwrite        RUN_DIR may hold an earlier run: its files (those above, nothing else)\n"
    "                     are removed once the new run is set up, before anything is written\n"
    "  --set key=value    override a config key, e.g. --set train.epochs=3 --set optimizer.lr=3e-4\n"
    "                     (list items by index: --set model.0.units=512); may be repeated\n"
    "  --quiet            print only the final line\n"
    "  --all-ranks        under mpirun: every rank prints its guard events, not only rank 0\n"
    "\n"
    "Data parallel: mpirun -np N gradguard train CONFIG trains one model on N processes;\n"
    "train.batch is the global batch, rank 0 writes the run directory (docs/distributed.md).\n"
    "As root mpirun needs --allow-run-as-root; --oversubscribe allows more ranks than cores.\n"
    "\n"
    "Config sections: data, model, loss, optimizer, schedule, regularize, guard, train, dist.\n"
    "See docs/config.md for every key, its type and default; configs/ has commented examples.\n"
    "Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes a checkpoint and exits\n"
    "with status 'stopped'; 'gradguard resume RUN_DIR' continues it.\n";

static const char *const usage_resume =
    "usage: gradguard resume RUN_DIR [--set key=value ...] [--quiet]\n"
    "\n"
    "Continues the run in RUN_DIR from its newest checkpoint that reads back intact\n"
    "(a damaged newest checkpoint is reported and the one before it is used; checkpoints\n"
    "of another run, by run_id, are never loaded nor removed). It takes the run's lock: a\n"
    "run still going in another process is refused at once. The run\n"
    "continues exactly as if it had not stopped: same data order, same random streams.\n"
    "--set overrides keys of the saved config (e.g. --set train.epochs=10 to train longer).\n"
    "Under mpirun any number of ranks can resume a run, whatever number wrote it.\n";

static const char *const usage_eval =
    "usage: gradguard eval RUN_DIR [--checkpoint FILE] [--set key=value ...]\n"
    "\n"
    "Rebuilds the model of RUN_DIR from its config.yaml, loads RUN_DIR/model.safetensors\n"
    "(or FILE: a model file or a checkpoint) and prints the test loss and accuracy; for a\n"
    "classifier also the confusion matrix (rows: true class, columns: predicted).\n";

static const char *const usage_report =
    "usage: gradguard report RUN_DIR [-o FILE]\n"
    "\n"
    "Writes one self-contained HTML page (default RUN_DIR/report.html; no network) with SVG\n"
    "charts of the run: loss and accuracy, the learning rate with every jump (a guard back-off\n"
    "at its step), the gradient norm on a log axis with every guard event marked, branches the\n"
    "guard rolled back drawn faded, a per-layer gradient-norm heat map, update/weight ratios,\n"
    "the guard's events, the summary and the config. A small inline script smooths the curves,\n"
    "switches their y axes between log and linear, zooms on the step axis and plots against\n"
    "wall time. Every run writes one at its end.\n";

static const char *const usage_compare =
    "usage: gradguard compare RUN_DIR RUN_DIR... -o FILE\n"
    "\n"
    "Draws loss, accuracy, learning rate (on a log axis) and gradient norm of several runs\n"
    "(up to 20) overlaid in one HTML page, e.g. the same config with the guard on and off;\n"
    "each run can be hidden and shown again.\n";

static const char *const usage_sample =
    "usage: gradguard sample RUN_DIR [--prompt TEXT] [--length N] [--temperature T] [--seed S]\n"
    "\n"
    "Prints text generated by the character language model of RUN_DIR (a run of a\n"
    "`data.format: text` config): the prompt (default \"The \"), then N (default 300) more\n"
    "bytes, each sampled from softmax(logits / T) (default T 0.8).\n";

static gg_trainer *volatile g_running;
static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
    (void)sig;
    g_signals++;
    gg_trainer *t = g_running;
    if (t) gg_trainer_request_stop(t);
    /* a second Ctrl-C means now */
    if (g_signals > 1) _exit(130);
}

/* Installed before the (slow) setup, so a SIGINT or SIGTERM that comes
 * while the data loads still ends in a checkpoint and "stopped", not in a
 * killed process. A file-size limit (ulimit -f) must fail the write with
 * EFBIG, which the library reports, instead of killing the run with SIGXFSZ. */
static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
}

typedef struct cli_ui {
    int tty, quiet;
    int bar_open;
    int all_ranks;     /* ranks other than 0 print their guard events */
    double epoch_secs; /* the last finished epoch's duration (0: none yet) */
    char live[512];    /* the live line as last drawn */
} cli_ui;

/* Under mpirun: 1 if this process speaks (rank 0; every rank for errors). */
static int speaks(void) { return gg_dist_rank() == 0; }

/* A rank waits in a collective for the others; one that died makes the MPI
 * launcher end the job, but one that hangs (or a lost link) would keep the
 * rest waiting forever. This thread ends the process after dist.timeout
 * seconds in one wait; the launcher then ends the others. */
static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        sleep(1);
        double lim = gg_dist_timeout(), w = gg_dist_waiting();
        if (lim > 0 && w > lim) {
            fprintf(stderr,
                    "gradguard: rank %d of %d: no answer from the other ranks for %.0f s (dist.timeout): one of them "
                    "died or hangs; ending this rank (resume from the last checkpoint)\n",
                    gg_dist_rank(), gg_dist_size(), w);
            _exit(1);
        }
    }
    return NULL;
}

static void start_watchdog(void)
{
    if (gg_dist_size() < 2) return;
    pthread_t th;
    if (pthread_create(&th, NULL, watchdog, NULL) == 0) pthread_detach(th);
}

static void fmt_time(char *buf, size_t cap, double s)
{
    if (!isfinite(s) || s < 0) snprintf(buf, cap, "--:--");
    else if (s < 3600) snprintf(buf, cap, "%02d:%02d", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
}

/* Every number the progress shows, on a terminal or not: four significant
 * digits from 0.001 to 10000, else three in exponent form ("9.07e-5"), so
 * a learning rate reads alike whether it is 1e-3 or 1e-4. */
static void fmt_val(char *buf, size_t cap, double v)
{
    double a = fabs(v);
    if (isnan(v)) snprintf(buf, cap, "nan");
    else if (isinf(v)) snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    else if (a == 0) snprintf(buf, cap, "0");
    else if (a >= 1e-3 && a < 1e4) snprintf(buf, cap, "%.4g", v);
    else {
        char t[32], *e;
        snprintf(t, sizeof t, "%.2e", v);
        e = strchr(t, 'e');
        /* "9.07e-05" -> "9.07e-5", "1.20e+06" -> "1.20e6" */
        if (e) {
            int x = atoi(e + 1);
            snprintf(e, sizeof t - (size_t)(e - t), "e%d", x);
        }
        snprintf(buf, cap, "%s", t);
    }
}

/* The terminal's width: the tty's own (it follows a resize), else $COLUMNS,
 * else 80. */
static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    if (c && *c) {
        char *end;
        long v = strtol(c, &end, 10);
        if (!*end && v > 0 && v < 10000) return (int)v;
    }
    return 80;
}

/* The live line stays at the end of a run (or before an error) ... */
static void end_bar(cli_ui *ui)
{
    if (ui->bar_open) {
        fputc('\n', stdout);
        ui->bar_open = 0;
    }
}

/* ... and gives its row to any other line meanwhile (a guard event, an
 * epoch's summary): one live line, never a stack of stale ones. */
static void clear_bar(cli_ui *ui)
{
    if (ui->bar_open) {
        fputs("\r\033[K", stdout);
        ui->bar_open = 0;
    }
}

/* The fields of a progress line as "name value" pairs, in display order;
 * the same names on a terminal and in a pipe. */
enum { F_EPOCH, F_BAR, F_PCT, F_STEP, F_LOSS, F_ACC, F_LR, F_GNORM, F_SPEED, F_ETA, F_EPTIME, F_COUNT };
/* which to drop first when the terminal is too narrow: the last of this list */
static const int keep_order[F_COUNT] = {F_EPOCH, F_PCT, F_ETA, F_LOSS, F_BAR, F_EPTIME,
                                        F_ACC,   F_STEP, F_LR, F_GNORM, F_SPEED};
#define BAR_MIN 10
#define BAR_MAX 30

static void step_fields(const gg_progress *p, const cli_ui *ui, char f[F_COUNT][48])
{
    char v[32], w[32];
    for (int i = 0; i < F_COUNT; i++) f[i][0] = 0;
    snprintf(f[F_EPOCH], 48, "epoch %d/%d", p->epoch + 1, p->epochs);
    double frac = p->total_steps ? (double)p->step / (double)p->total_steps : 0;
    snprintf(f[F_PCT], 48, "%3.0f%%", 100 * frac);
    snprintf(f[F_STEP], 48, "step %ld/%ld", p->step, p->total_steps);
    fmt_val(v, sizeof v, p->loss);
    snprintf(f[F_LOSS], 48, "loss %s", v);
    if (isfinite(p->accuracy)) {
        fmt_val(v, sizeof v, p->accuracy);
        snprintf(f[F_ACC], 48, "acc %s", v);
    }
    fmt_val(v, sizeof v, p->lr);
    snprintf(f[F_LR], 48, "lr %s", v);
    fmt_val(v, sizeof v, p->grad_norm);
    snprintf(f[F_GNORM], 48, "grad_norm %s", v);
    if (isfinite(p->samples_per_second)) snprintf(f[F_SPEED], 48, "samples/s %.0f", p->samples_per_second);
    fmt_time(w, sizeof w, p->eta_seconds);
    snprintf(f[F_ETA], 48, "eta %s", w);
    /* time per epoch: the last one's, or in the first an estimate once a
     * little of it is done */
    double ep = ui->epoch_secs;
    if (!(ep > 0) && p->epoch_fraction >= 0.02 && p->epoch_seconds > 0) ep = p->epoch_seconds / p->epoch_fraction;
    if (ep > 0) {
        fmt_time(w, sizeof w, ep);
        snprintf(f[F_EPTIME], 48, "epoch_time %s", w);
    }
}

/* The live line: the fields that fit in width - 1 columns (the last column
 * is left free so no terminal wraps), dropped in keep_order's reverse; the
 * bar takes what is left, up to BAR_MAX. */
static void live_line(const gg_progress *p, const cli_ui *ui, int width, char *out, size_t cap)
{
    char f[F_COUNT][48];
    step_fields(p, ui, f);
    int on[F_COUNT], room = width - 1;
    for (int i = 0; i < F_COUNT; i++) on[i] = i == F_BAR || f[i][0];
    for (;;) {
        int len = -1;
        for (int i = 0; i < F_COUNT; i++)
            if (on[i]) len += 1 + (i == F_BAR ? BAR_MIN + 2 : (int)strlen(f[i]));
        if (len <= room) {
            /* the bar grows into the room left */
            int bw = BAR_MIN + (room - len);
            if (bw > BAR_MAX) bw = BAR_MAX;
            double frac = p->total_steps ? (double)p->step / (double)p->total_steps : 0;
            int fill = (int)(frac * bw);
            snprintf(f[F_BAR], 48, "[");
            for (int k = 0; k < bw; k++) f[F_BAR][1 + k] = k < fill ? '#' : '.';
            f[F_BAR][1 + bw] = ']';
            f[F_BAR][2 + bw] = 0;
            break;
        }
        int dropped = 0;
        for (int k = F_COUNT - 1; k > 0 && !dropped; k--)
            if (on[keep_order[k]]) on[keep_order[k]] = 0, dropped = 1;
        if (!dropped) break; /* only the epoch is left: cut it below */
    }
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < F_COUNT && n + 1 < cap; i++)
        if (on[i] && f[i][0]) n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? " " : "", f[i]);
    if (room > 0 && strlen(out) > (size_t)room) out[room] = 0;
}

/* A message above the live line, which is drawn again below it. */
static void message_line(cli_ui *ui, const char *prefix, const char *msg)
{
    int open = ui->bar_open;
    clear_bar(ui);
    printf("%s%s\n", prefix, msg ? msg : "");
    if (open) {
        fputs(ui->live, stdout);
        ui->bar_open = 1;
    }
}

static void progress(const gg_progress *p, void *ctx)
{
    cli_ui *ui = ctx;
    if (!speaks()) {
        if (ui->all_ranks && p->kind == GG_EV_GUARD) {
            printf("[rank %d] guard: %s\n", gg_dist_rank(), p->message ? p->message : "");
            fflush(stdout);
        }
        return;
    }
    if (ui->quiet && p->kind != GG_EV_DONE) return;
    char a[32], b[32], c[32], d[32], e[32];
    switch (p->kind) {
    case GG_EV_START:
    case GG_EV_INFO:
        message_line(ui, "", p->message);
        break;
    case GG_EV_TICK:
    case GG_EV_STEP: {
        if (ui->tty) {
            live_line(p, ui, term_width(), ui->live, sizeof ui->live);
            printf("\r\033[K%s", ui->live);
            ui->bar_open = 1;
        } else if (p->kind == GG_EV_STEP) {
            char f[F_COUNT][48];
            step_fields(p, ui, f);
            static const int order[] = {F_EPOCH, F_STEP, F_LOSS, F_ACC, F_LR, F_GNORM, F_SPEED, F_ETA, F_EPTIME};
            size_t n = 0;
            char line[512] = "";
            for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
                if (f[order[i]][0]) n += (size_t)snprintf(line + n, sizeof line - n, "%s%s", n ? " " : "", f[order[i]]);
            printf("%s\n", line);
        }
        /* a validation between epochs (train.eval_every) */
        if (p->kind == GG_EV_STEP && isfinite(p->val_loss)) {
            clear_bar(ui);
            fmt_val(a, sizeof a, p->val_loss);
            fmt_val(b, sizeof b, p->val_accuracy);
            if (isfinite(p->val_accuracy)) printf("step %ld: val_loss %s val_acc %s\n", p->step, a, b);
            else printf("step %ld: val_loss %s\n", p->step, a);
        }
        break;
    }
    case GG_EV_EPOCH:
        clear_bar(ui);
        if (p->epoch_seconds > 0) ui->epoch_secs = p->epoch_seconds;
        fmt_val(a, sizeof a, p->loss);
        fmt_val(b, sizeof b, p->accuracy);
        fmt_val(c, sizeof c, p->val_loss);
        fmt_val(d, sizeof d, p->val_accuracy);
        fmt_time(e, sizeof e, p->epoch_seconds);
        printf("epoch %d/%d: loss %s", p->epoch + 1, p->epochs, a);
        if (isfinite(p->accuracy)) printf(" acc %s", b);
        if (isfinite(p->val_loss)) printf(" | val_loss %s", c);
        if (isfinite(p->val_accuracy)) printf(" val_acc %s", d);
        printf(" | samples/s %.0f epoch_time %s\n", p->samples_per_second, e);
        break;
    case GG_EV_GUARD:
        message_line(ui, "guard: ", p->message);
        break;
    case GG_EV_DONE:
        end_bar(ui);
        break;
    }
    fflush(stdout);
}

/* Collects --set, -o, --quiet, --checkpoint; returns the positional count. */
typedef struct cli_args {
    const char *pos[32];
    int npos;
    const char *sets[MAX_SETS];
    int nsets;
    const char *out, *checkpoint, *prompt;
    long length, seed;
    double temperature;
    int quiet, help, all_ranks, overwrite;
    int have_length, have_temperature;
} cli_args;

/* The options each command takes (anything else is refused by name). */
enum { O_SET = 1, O_OUT = 2, O_QUIET = 4, O_RANKS = 8, O_CKPT = 16, O_SAMPLE = 32 };

static int cmd_options(const char *cmd)
{
    if (!strcmp(cmd, "train")) return O_SET | O_OUT | O_QUIET | O_RANKS;
    if (!strcmp(cmd, "resume")) return O_SET | O_QUIET | O_RANKS;
    if (!strcmp(cmd, "eval")) return O_SET | O_CKPT;
    if (!strcmp(cmd, "report") || !strcmp(cmd, "compare")) return O_OUT;
    if (!strcmp(cmd, "sample")) return O_SAMPLE;
    return 0;
}

/* An option given to a command that does not take it. */
static int not_taken(const char *cmd, const char *opt)
{
    fprintf(stderr, "gradguard %s: option '%s' is not one of %s's (see gradguard %s --help)\n", cmd, opt, cmd, cmd);
    return -1;
}

/* An option that takes one value, given twice. */
static int twice(const char *cmd, const char *opt, const char *first, const char *second)
{
    fprintf(stderr, "gradguard %s: %s given twice ('%s', then '%s'); give it once\n", cmd, opt, first, second);
    return -1;
}

static int parse_args(int argc, char **argv, cli_args *a, const char *cmd)
{
    memset(a, 0, sizeof *a);
    int ok = cmd_options(cmd);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        int takes = strcmp(s, "--set") == 0 || strcmp(s, "-s") == 0 || strncmp(s, "--set=", 6) == 0 ? O_SET
                    : strcmp(s, "-o") == 0 || strcmp(s, "--out") == 0                               ? O_OUT
                    : strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0                             ? O_QUIET
                    : strcmp(s, "--all-ranks") == 0                                                 ? O_RANKS
                    : strcmp(s, "--checkpoint") == 0                                                ? O_CKPT
                    : strcmp(s, "--prompt") == 0 || strcmp(s, "--length") == 0 || strcmp(s, "--seed") == 0 ||
                            strcmp(s, "--temperature") == 0
                        ? O_SAMPLE
                        : 0;
        if (takes && !(ok & takes)) return not_taken(cmd, s);
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
        } else if (strcmp(s, "--") == 0) {
            /* the rest are arguments, even if they start with '-' */
            for (i++; i < argc; i++) {
                if (a->npos == 32) return fprintf(stderr, "gradguard %s: too many arguments\n", cmd), -1;
                a->pos[a->npos++] = argv[i];
            }
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
            if (i + 1 >= argc || !argv[i + 1][0])
                return fprintf(stderr, "gradguard %s: %s needs a %s\n", cmd, s, strcmp(cmd, "train") ? "file" : "directory"), -1;
            if (a->out) return twice(cmd, s, a->out, argv[i + 1]);
            a->out = argv[++i];
        } else if (strcmp(s, "--checkpoint") == 0) {
            if (i + 1 >= argc || !argv[i + 1][0]) return fprintf(stderr, "gradguard %s: --checkpoint needs a file\n", cmd), -1;
            if (a->checkpoint) return twice(cmd, s, a->checkpoint, argv[i + 1]);
            a->checkpoint = argv[++i];
        } else if (strcmp(s, "--prompt") == 0) {
            if (i + 1 >= argc) return fprintf(stderr, "gradguard %s: --prompt needs text\n", cmd), -1;
            if (a->prompt) return twice(cmd, s, a->prompt, argv[i + 1]);
            a->prompt = argv[++i];
        } else if (strcmp(s, "--length") == 0 || strcmp(s, "--seed") == 0 || strcmp(s, "--temperature") == 0) {
            if (i + 1 >= argc) return fprintf(stderr, "gradguard %s: %s needs a number\n", cmd, s), -1;
            char *end;
            const char *t = argv[i + 1];
            double v = strtod(t, &end);
            int length = strcmp(s, "--length") == 0, temp = strcmp(s, "--temperature") == 0;
            /* decimal only: strtod also takes hex, "inf", "nan" and leading spaces */
            int form = *t && strspn(t, "0123456789+-.eE") == strlen(t) && end != t && !*end;
            const char *want = length ? "an integer in [1, 100000000]"
                               : temp ? "a number in (0, 1000]"
                                      : "an integer in [0, 1000000000]";
            if (!form || !(v >= (length ? 1 : 0)) || v > (length ? 1e8 : temp ? 1e3 : 1e9) || (temp && v == 0) ||
                (!temp && v != (double)(long)v))
                return fprintf(stderr, "gradguard %s: %s '%s': expected %s\n", cmd, s, t, want), -1;
            i++;
            if (length) a->length = (long)v, a->have_length = 1;
            else if (temp) a->temperature = v, a->have_temperature = 1;
            else a->seed = (long)v;
        } else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
            a->quiet = 1;
        } else if (strcmp(s, "--all-ranks") == 0) {
            a->all_ranks = 1;
        } else if (strcmp(s, "--overwrite") == 0 && strcmp(cmd, "train") == 0) {
            a->overwrite = 1;
        } else if (s[0] == '-' && s[1]) {
            return fprintf(stderr, "gradguard %s: unknown option '%s' (see gradguard %s --help)\n", cmd, s, cmd), -1;
        } else if (!s[0]) {
            return fprintf(stderr, "gradguard %s: an empty argument ('')\n", cmd), -1;
        } else {
            if (a->npos == 32) return fprintf(stderr, "gradguard %s: too many arguments\n", cmd), -1;
            a->pos[a->npos++] = s;
        }
    }
    return 0;
}

/* Checks the positional count: a missing one or an extra one is named on
 * one line with the command's usage line. Returns 0 if fine. */
static int check_pos(const cli_args *a, int lo, int hi, const char *cmd, const char *usage, const char *what)
{
    int ul = (int)strcspn(usage, "\n");
    if (a->npos < lo) {
        fprintf(stderr, "gradguard %s: missing %s (%.*s)\n", cmd, what, ul, usage);
        return 1;
    }
    if (hi >= 0 && a->npos > hi) {
        if (hi == 1)
            fprintf(stderr, "gradguard %s: unexpected argument '%s': %s takes one %s (%.*s)\n", cmd, a->pos[hi], cmd,
                    what, ul, usage);
        else
            fprintf(stderr, "gradguard %s: unexpected argument '%s': %s takes at most %d %ss\n", cmd, a->pos[hi], cmd,
                    hi, what);
        return 1;
    }
    return 0;
}

static int exit_for(gg_run_status status)
{
    switch (status) {
    case GG_RUN_DIVERGED: return 3;
    case GG_RUN_STALLED: return 4;
    case GG_RUN_FAILED: return 1;
    default: return 0;
    }
}

/* An error line; with several ranks it names the rank. */
static void print_error(void)
{
    if (gg_dist_size() > 1) fprintf(stderr, "gradguard: rank %d of %d: %s\n", gg_dist_rank(), gg_dist_size(), gg_errmsg());
    else fprintf(stderr, "gradguard: %s\n", gg_errmsg());
}

static int run_trainer(gg_trainer *t, const char *run_dir, int quiet, int all_ranks)
{
    cli_ui ui = {isatty(STDOUT_FILENO), quiet, 0, all_ranks, 0, ""};
    gg_trainer_set_progress(t, progress, &ui);
    start_watchdog();
    g_running = t;
    if (g_signals) gg_trainer_request_stop(t); /* one came during setup */
    gg_status st = gg_trainer_run(t);
    g_running = NULL;
    if (st) {
        end_bar(&ui);
        print_error();
        return 1;
    }
    const char *status = gg_trainer_status(t);
    double loss = NAN, acc = NAN;
    gg_trainer_evaluate(t, 0, &loss, &acc);
    if (!speaks())
        ;
    else if (isfinite(acc) && !isfinite(loss)) /* NaN outputs: argmax still picks a class */
        printf("%s: test loss non-finite, test accuracy %.4f; run directory %s\n", status, acc, run_dir);
    else if (isfinite(acc))
        printf("%s: test loss %.4f, test accuracy %.4f; run directory %s\n", status, loss, acc, run_dir);
    else if (isfinite(loss))
        printf("%s: test loss %.6g; run directory %s\n", status, loss, run_dir);
    else
        printf("%s; run directory %s\n", status, run_dir);
    return exit_for(gg_trainer_run_status(t));
}

static int cmd_train(int argc, char **argv)
{
    cli_args a;
    if (parse_args(argc, argv, &a, "train")) return 2;
    if (a.help) return fputs(usage_train, stdout), 0;
    if (check_pos(&a, 1, 1, "train", usage_train, "CONFIG")) return 2;
    install_signals();
    gg_cfg *cfg = NULL;
    if (gg_cfg_load(a.pos[0], &cfg)) return fprintf(stderr, "gradguard: %s\n", gg_errmsg()), 1;
    for (int i = 0; i < a.nsets; i++)
        if (gg_cfg_set(cfg, a.sets[i])) {
            fprintf(stderr, "gradguard: %s\n", gg_errmsg()); /* it names the --set */
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
    if (gg_trainer_new_ex(cfg, out, a.overwrite ? GG_RUN_OVERWRITE : 0, &t)) {
        print_error();
        gg_cfg_free(cfg);
        return 1;
    }
    if (!a.quiet && speaks()) gg_cli_summary(t, stdout);
    int rc = run_trainer(t, out, a.quiet, a.all_ranks);
    gg_trainer_free(t);
    gg_cfg_free(cfg);
    return rc;
}

static int cmd_resume(int argc, char **argv)
{
    cli_args a;
    if (parse_args(argc, argv, &a, "resume")) return 2;
    if (a.help) return fputs(usage_resume, stdout), 0;
    if (check_pos(&a, 1, 1, "resume", usage_resume, "RUN_DIR")) return 2;
    install_signals();
    gg_trainer *t = NULL;
    if (gg_trainer_resume(a.pos[0], a.sets, a.nsets, &t)) return print_error(), 1;
    int rc = run_trainer(t, a.pos[0], a.quiet, a.all_ranks);
    gg_trainer_free(t);
    return rc;
}

static int cmd_eval(int argc, char **argv)
{
    cli_args a;
    if (parse_args(argc, argv, &a, "eval")) return 2;
    if (a.help) return fputs(usage_eval, stdout), 0;
    if (check_pos(&a, 1, 1, "eval", usage_eval, "RUN_DIR")) return 2;
    char p[1200];
    snprintf(p, sizeof p, "%s/config.yaml", a.pos[0]);
    gg_cfg *cfg = NULL;
    if (gg_cfg_load(p, &cfg)) return fprintf(stderr, "gradguard: %s\n", gg_errmsg()), 1;
    gg_cfg_set(cfg, "train.init_from="); /* the weights come from the run */
    for (int i = 0; i < a.nsets; i++)
        if (gg_cfg_set(cfg, a.sets[i])) {
            fprintf(stderr, "gradguard: %s\n", gg_errmsg()); /* it names the --set */
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
        rc = gg_cli_confusion(t, stdout);
    } else {
        printf("%s: test loss %.6g\n", file, loss);
    }
    gg_trainer_free(t);
    gg_cfg_free(cfg);
    return rc;
}

static int cmd_report(int argc, char **argv)
{
    cli_args a;
    if (parse_args(argc, argv, &a, "report")) return 2;
    if (a.help) return fputs(usage_report, stdout), 0;
    if (check_pos(&a, 1, 1, "report", usage_report, "RUN_DIR")) return 2;
    if (gg_report_write(a.pos[0], a.out)) return fprintf(stderr, "gradguard: %s\n", gg_errmsg()), 1;
    printf("wrote %s%s\n", a.out ? a.out : a.pos[0], a.out ? "" : "/report.html");
    return 0;
}

static int cmd_compare(int argc, char **argv)
{
    cli_args a;
    if (parse_args(argc, argv, &a, "compare")) return 2;
    if (a.help) return fputs(usage_compare, stdout), 0;
    if (check_pos(&a, 1, 20, "compare", usage_compare, "RUN_DIR")) return 2;
    if (!a.out) {
        fprintf(stderr, "gradguard compare: missing -o FILE, the page to write (%.*s)\n",
                (int)strcspn(usage_compare, "\n"), usage_compare);
        return 2;
    }
    if (gg_report_compare(a.pos, a.npos, a.out)) return fprintf(stderr, "gradguard: %s\n", gg_errmsg()), 1;
    printf("wrote %s\n", a.out);
    return 0;
}

static int cmd_sample(int argc, char **argv)
{
    cli_args a;
    if (parse_args(argc, argv, &a, "sample")) return 2;
    if (a.help) return fputs(usage_sample, stdout), 0;
    if (check_pos(&a, 1, 1, "sample", usage_sample, "RUN_DIR")) return 2;
    char p[1200];
    snprintf(p, sizeof p, "%s/config.yaml", a.pos[0]);
    gg_cfg *cfg = NULL;
    if (gg_cfg_load(p, &cfg)) return fprintf(stderr, "gradguard: %s\n", gg_errmsg()), 1;
    /* only a character model generates text: say so before loading any data */
    const char *fmt = gg_cfg_scalar(gg_cfg_get(gg_cfg_get(gg_cfg_root(cfg), "data"), "format"));
    if (!fmt || strcmp(fmt, "text") != 0) {
        fprintf(stderr, "gradguard: sample: %s is not a character model: its config.yaml has data.format: %s, and "
                "sample needs a run of a data.format: text config\n", a.pos[0], fmt ? fmt : "idx (the default)");
        gg_cfg_free(cfg);
        return 1;
    }
    /* the model needs no test set to generate, nor its starting weights */
    if (gg_cfg_set(cfg, "data.test=none") || gg_cfg_set(cfg, "train.init_from=")) {
        fprintf(stderr, "gradguard: %s/config.yaml: %s\n", a.pos[0], gg_errmsg());
        gg_cfg_free(cfg);
        return 1;
    }
    gg_trainer *t = NULL;
    gg_text *vocab = NULL;
    int rc = 0;
    long n = a.have_length ? a.length : 300;
    char *out = NULL;
    snprintf(p, sizeof p, "%s/vocab.bin", a.pos[0]);
    if (gg_trainer_new(cfg, NULL, &t) || gg_text_load_vocab(p, &vocab)) {
        rc = 1;
    } else {
        snprintf(p, sizeof p, "%s/model.safetensors", a.pos[0]);
        const char *prompt = a.prompt ? a.prompt : "The ";
        size_t cap = strlen(prompt) + (size_t)n + 1;
        out = malloc(cap);
        if (!out || gg_model_load(gg_trainer_graph(t), p) ||
            gg_trainer_sample(t, vocab, prompt, (int)n, a.have_temperature ? (float)a.temperature : 0.8f,
                              (uint64_t)a.seed, out, cap))
            rc = 1;
        else
            printf("%s\n", out);
    }
    if (rc) fprintf(stderr, "gradguard: %s\n", gg_errmsg());
    free(out);
    gg_text_free(vocab);
    gg_trainer_free(t);
    gg_cfg_free(cfg);
    return rc;
}

/* Two settings that the libraries read only as they load, so the command
 * sets them and starts itself again (same pid, same arguments); a variable
 * the user set is left alone, and under mpirun, which owns the process,
 * nothing is changed.
 * - OMP_WAIT_POLICY=passive: OpenMP threads that wait between parallel
 *   regions spin by default; on a machine shared with other work a spinning
 *   waiter takes the core from the thread with work (a 2-thread MLP step
 *   measured 10x slower than with sleeping waiters).
 * - OPENBLAS_CORETYPE=SkylakeX on a CPU with AVX-512 (F, BW, DQ, VL):
 *   OpenBLAS 0.3.21 gives AMD Zen 4 its AVX2 kernels; its AVX-512 ones ran
 *   the MLP step's GEMMs 2x faster there. Intel CPUs with AVX-512 get these
 *   kernels anyway. GG_NO_TUNE=1 turns both off. */
static void tune_runtime(char **argv)
{
    if (getenv("GG_NO_TUNE") || getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_RANK")) return;
    int again = 0;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT") && setenv("OMP_WAIT_POLICY", "passive", 1) == 0)
        again = 1;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (!getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) == 0)
        again = 1;
#endif
    if (!again) return;
    /* the next start finds the variables set and goes on */
    setenv("GG_NO_TUNE", "1", 1);
    execv("/proc/self/exe", argv);
    /* no /proc (or exec refused): run on with the libraries' defaults */
}

int main(int argc, char **argv)
{
    if (argc < 2) return fputs(usage_main, stderr), fputs("gradguard: missing COMMAND\n", stderr), 2;
    tune_runtime(argv);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2) {
            const char *sub = argv[2];
            if (strcmp(sub, "train") == 0) return fputs(usage_train, stdout), 0;
            if (strcmp(sub, "resume") == 0) return fputs(usage_resume, stdout), 0;
            if (strcmp(sub, "eval") == 0) return fputs(usage_eval, stdout), 0;
            if (strcmp(sub, "report") == 0) return fputs(usage_report, stdout), 0;
            if (strcmp(sub, "compare") == 0) return fputs(usage_compare, stdout), 0;
            if (strcmp(sub, "sample") == 0) return fputs(usage_sample, stdout), 0;
            if (strcmp(sub, "prune") == 0) return gg_cli_prune(1, (char *[]){"--help"});
            if (strcmp(sub, "predict") == 0) return gg_cli_predict(1, (char *[]){"--help"});
            fprintf(stderr, "gradguard help: no command '%s' (the commands: train, resume, eval, report, compare, "
                    "sample, prune, predict)\n", sub);
            return 2;
        }
        return fputs(usage_main, stdout), 0;
    }
    if (strcmp(cmd, "--version") == 0)
        return printf("gradguard %s\ndata parallel: %s\nblas kernels: %s\n", GG_VERSION_STRING,
                      gg_dist_built() ? "MPI (mpirun -np N gradguard train CONFIG)" : "no (built without MPI)",
                      gg_blas_kernel()),
               0;
    if (strcmp(cmd, "train") == 0 || strcmp(cmd, "resume") == 0) {
        /* under mpirun: join the job (a no-op when started alone) */
        if (gg_dist_init(&argc, &argv)) return fprintf(stderr, "gradguard: %s\n", gg_errmsg()), 1;
        int rc = strcmp(argv[1], "train") == 0 ? cmd_train(argc - 2, argv + 2) : cmd_resume(argc - 2, argv + 2);
        /* a rank that failed may have failed alone, with the others waiting
         * for it in a collective: end the whole job */
        if (rc == 1) gg_dist_abort(1);
        gg_dist_finalize();
        return rc;
    }
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "report") == 0) return cmd_report(argc - 2, argv + 2);
    if (strcmp(cmd, "compare") == 0) return cmd_compare(argc - 2, argv + 2);
    if (strcmp(cmd, "sample") == 0) return cmd_sample(argc - 2, argv + 2);
    if (strcmp(cmd, "prune") == 0) return gg_cli_prune(argc - 2, argv + 2);
    if (strcmp(cmd, "predict") == 0) return gg_cli_predict(argc - 2, argv + 2);
    fprintf(stderr, "gradguard: unknown command '%s' (the commands: train, resume, eval, report, compare, sample, "
            "prune, predict; see gradguard --help)\n", cmd);
    return 2;
}

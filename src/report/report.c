/* report.c - the HTML training report: renders a run directory as read by
 * gg_run_read (src/run/: metrics.csv, layers.csv, events.jsonl,
 * summary.json, config.yaml) as one self-contained page of charts and
 * tables; or overlays several runs. A run that died early has missing or
 * partial files: the reader's warnings (file and line) are shown at the top
 * of the page, and the report is still written. */
#include "report.h"

#include "run/run.h"

#include "core/error.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_SHOW_MAX ((size_t)1 << 20)
#define HEAT_ROWS_MAX 128
#define HEAT_COLS_MAX 240
#define RATIO_LINES_MAX 16
#define EVENT_ROWS_MAX 1000
#define MARKERS_MAX 20000
#define COMPARE_MAX 20

/* short names inside this file for the run as read (run/run.h) */
typedef gg_run run;
typedef gg_run_mrow mrow;
typedef gg_run_lrow lrow;
typedef gg_run_event event;

/* ---- the page ------------------------------------------------------------------------------- */

static const char *const palette[10] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
#define C_TRAIN "#4e79a7"
#define C_TRAIN_EP "#1f3f66"
#define C_VAL "#f28e2b"
#define C_TEST "#59a14f"
#define C_CLIP "#d62728"
#define C_GRAY "#8c8c8c"

static const char *css =
    ":root{--fg:#1d2330;--mut:#5f6b7a;--line:#dde2e8;--bg:#f3f5f8}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;"
    "color:var(--fg);background:var(--bg)}"
    "main{max-width:1320px;margin:0 auto;padding:22px 28px 40px}"
    "h1{font-size:24px;margin:0 10px 0 0;display:inline-block;vertical-align:middle}"
    "h2{font-size:18px;margin:30px 0 10px}"
    "h3{font-size:15px;margin:0 0 2px}"
    ".sub{color:var(--mut);margin:4px 0 18px;word-break:break-all}"
    ".badge{display:inline-block;vertical-align:middle;border-radius:11px;padding:2px 11px;font-weight:600;"
    "font-size:13px}"
    ".ok{background:#e2f3e5;color:#1c6b2d}.bad{background:#fde3e3;color:#a31b1b}"
    ".mid{background:#fff0d4;color:#8a5a00}.unk{background:#e7e9ee;color:#4b5563}"
    ".kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:12px}"
    ".kpi{background:#fff;border:1px solid var(--line);border-radius:8px;padding:9px 14px}"
    ".kpi span{display:block;color:var(--mut);font-size:11.5px;text-transform:uppercase;letter-spacing:.04em}"
    ".kpi b{display:block;font-size:20px;font-weight:600;margin-top:2px}"
    ".kpi i{display:block;font-style:normal;color:var(--mut);font-size:12px}"
    ".warn{background:#fff7e3;border:1px solid #efc46b;border-radius:8px;padding:8px 16px;margin:16px 0 0}"
    ".warn h3{color:#7a4e00}.warn ul{margin:4px 0;padding-left:20px}.warn li{font-size:13px}"
    ".grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}"
    "@media (max-width:960px){.grid,.two{grid-template-columns:1fr!important}}"
    "figure,.card{background:#fff;border:1px solid var(--line);border-radius:8px;margin:0;padding:14px 16px 10px}"
    ".wide{grid-column:1/-1}"
    ".cap{color:var(--mut);font-size:12.5px;margin:0 0 8px}"
    ".note{color:var(--mut);font-style:italic}"
    "svg.chart{width:100%;height:auto;display:block}"
    "svg text{font-family:inherit;fill:#30363f}"
    ".tk{font-size:11px;fill:#59616c}.sm{font-size:9px}.al{font-size:12px;font-weight:600}.lg{font-size:11.5px}"
    ".gr{stroke:#e4e7ec;stroke-width:1}.gx{stroke:#eff1f4}.ax{stroke:#8a9099;stroke-width:1}"
    ".bg{fill:#fff}.band{fill:#59a14f;fill-opacity:.13}.bl{font-size:11px;fill:#3b7a32}"
    ".hl{font-size:11px;font-weight:600}.empty{font-size:13px;fill:#8a9099}"
    ".ev:hover line{opacity:1;stroke-width:2}.pt:hover>*,.ev:hover>path{stroke:#222}"
    "table{border-collapse:collapse;width:100%;font-size:13px}"
    "th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eceff3;vertical-align:top}"
    "th{color:var(--mut);font-weight:600;font-size:11.5px;text-transform:uppercase;letter-spacing:.03em}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.d{word-break:break-word}th.k{text-transform:none;letter-spacing:0;font-size:13px;font-weight:500;"
    "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}"
    ".scroll{max-height:560px;overflow:auto}"
    ".act{display:inline-block;padding:0 8px;border-radius:9px;color:#fff;font-size:12px;font-weight:600}"
    ".sw{display:inline-block;width:12px;height:12px;border-radius:3px;vertical-align:-1px;margin-right:6px}"
    "pre{background:#f7f8fa;border:1px solid var(--line);border-radius:6px;padding:10px 12px;overflow:auto;"
    "font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;max-height:560px;margin:0}"
    ".two{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1.35fr);gap:16px}"
    "footer{color:var(--mut);font-size:12px;margin-top:30px}"
    ".ctl{display:flex;flex-wrap:wrap;gap:8px 20px;align-items:center;background:#fff;border:1px solid var(--line);"
    "border-radius:8px;padding:8px 14px;margin:0 0 14px;font-size:13px}.ctl[hidden]{display:none}"
    ".ctl label{display:inline-flex;align-items:center;gap:6px}.ctl output{min-width:2.4em;"
    "font-variant-numeric:tabular-nums}.hint{color:var(--mut);font-size:12px}"
    "button{font:inherit;font-size:12px;border:1px solid #c9cfd8;background:#f7f8fa;border-radius:6px;"
    "padding:1px 9px;cursor:pointer;color:var(--fg)}button:disabled{opacity:.5;cursor:default}"
    "h3 .tog{float:right;font-weight:400}.tog[aria-pressed=true]{background:#dde7f3;border-color:#4e79a7;color:#1f3f66}.plot{cursor:crosshair;user-select:none}"
    ".zsel{fill:#4e79a7;fill-opacity:.15;stroke:#4e79a7;stroke-width:1}";

static void page_begin(gg_sb *b, const char *title)
{
    gg_sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<meta name=\"generator\" content=\"gradguard " GG_VERSION_STRING "\">\n<title>");
    gg_sb_htmls(b, title);
    gg_sb_puts(b, "</title>\n<style>");
    gg_sb_puts(b, css);
    gg_sb_puts(b, "</style>\n</head>\n<body>\n<main>\n");
}

static void page_end(gg_sb *b)
{
    gg_sb_puts(b, "<footer>Written by gradguard " GG_VERSION_STRING
                  ". This page is self-contained: the charts are inline SVG, the script that smooths, zooms and "
                  "switches their axes is inline too, and nothing is loaded from elsewhere. Hover a marker or a "
                  "point for its values.</footer>\n</main>\n<script>\n");
    gg_sb_puts(b, gg_report_js);
    gg_sb_puts(b, "</script>\n</body>\n</html>\n");
}

static const char *status_class(const char *s)
{
    if (!s) return "unk";
    if (strcmp(s, "completed") == 0) return "ok";
    if (strcmp(s, "diverged") == 0 || strcmp(s, "error") == 0) return "bad";
    if (strcmp(s, "stopped") == 0 || strcmp(s, "stalled") == 0 || strcmp(s, "running") == 0) return "mid";
    return "unk";
}

static void action_style(const char *a, const char **color, gg_shape_kind *shape)
{
    static const struct {
        const char *name, *color;
        gg_shape_kind shape;
    } st[] = {{"clip", "#f28e2b", GG_MK_TRIANGLE},    {"warn", "#7f7f7f", GG_MK_CIRCLE},
              {"skip", "#b07aa1", GG_MK_SQUARE},      {"backoff", "#9c755f", GG_MK_DIAMOND},
              {"rollback", "#d62728", GG_MK_STAR},    {"stop", "#111111", GG_MK_CROSS}};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        if (a && strcmp(a, st[i].name) == 0) {
            *color = st[i].color;
            *shape = st[i].shape;
            return;
        }
    *color = "#5f6b7a";
    *shape = GG_MK_CIRCLE;
}

static void fmt_opt(char *buf, size_t cap, double v, const char *fmt)
{
    if (isfinite(v)) snprintf(buf, cap, fmt, v);
    else snprintf(buf, cap, "\xe2\x80\x94"); /* an em dash */
}

static void fmt_duration(char *buf, size_t cap, double s)
{
    if (!isfinite(s) || s < 0) snprintf(buf, cap, "\xe2\x80\x94");
    else if (s < 60) snprintf(buf, cap, "%.1f s", s);
    else if (s < 3600) snprintf(buf, cap, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, cap, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* A column of rows as an array (scale times the field; NaN for a row a
 * rollback discarded); NULL on OOM. */
static double *column(const mrow *rows, size_t n, size_t off, double scale)
{
    double *a = malloc((n + 1) * sizeof *a);
    if (!a) return NULL;
    for (size_t i = 0; i < n; i++) a[i] = rows[i].rb ? NAN : *(const double *)((const char *)&rows[i] + off) * scale;
    return a;
}

/* Points of a line: step, value, wall time. */
typedef struct pts {
    double *x, *y, *t;
    size_t n;
} pts;

static void pts_free(pts *p)
{
    free(p->x);
    free(p->y);
    free(p->t);
}

static void pts_push(pts *p, double x, double y, double t)
{
    p->x[p->n] = x;
    p->y[p->n] = y;
    p->t[p->n++] = t;
}

/* A run's per-step values of one field, as the kept line and the lines of
 * the branches rollbacks discarded (a gap between two branches). With rate
 * set the rate rows join in, and the rate jumps at an "lr" row's step. */
static int step_lines(const run *r, size_t off, double scale, int rate, pts *keep, pts *gone)
{
    size_t nrt = rate ? r->nrt : 0, cap = 2 * (r->nst + nrt) + 2;
    pts *ls[2] = {keep, gone};
    for (int k = 0; k < 2; k++) {
        ls[k]->n = 0;
        ls[k]->x = malloc(cap * sizeof(double));
        ls[k]->y = malloc(cap * sizeof(double));
        ls[k]->t = malloc(cap * sizeof(double));
        if (!ls[k]->x || !ls[k]->y || !ls[k]->t) return -1;
    }
    double last[2] = {NAN, NAN}, gone_branch = -1;
    /* the step rows and the rate rows, merged in file order */
    for (size_t i = 0, j = 0; i < r->nst || j < nrt;) {
        const mrow *m = j >= nrt || (i < r->nst && r->st[i].seq < r->rt[j].seq) ? &r->st[i++] : &r->rt[j++];
        double v = *(const double *)((const char *)m + off) * scale;
        int g = m->rb;
        if (g && m->branch != gone_branch) {
            if (gone->n) pts_push(gone, m->step, NAN, NAN);
            last[1] = NAN;
            gone_branch = m->branch;
        }
        if (m->rate == 1 && isfinite(last[g]) && last[g] != v && ls[g]->n)
            pts_push(ls[g], m->step, last[g], m->wall); /* the old rate up to this step */
        pts_push(ls[g], m->step, v, m->wall);
        if (isfinite(v)) last[g] = v;
    }
    return 0;
}

/* The wall time at a step, from a line's points (steps rising); NaN when
 * the run logged none. */
static double wall_at(const pts *p, double step)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->x[mid] < step) lo = mid + 1;
        else hi = mid;
    }
    if (lo < p->n && p->x[lo] == step) return p->t[lo];
    if (lo == 0 || lo == p->n) return lo < p->n ? p->t[lo] : p->n ? p->t[p->n - 1] : NAN;
    double a = p->x[lo - 1], b = p->x[lo];
    return b > a ? p->t[lo - 1] + (p->t[lo] - p->t[lo - 1]) * (step - a) / (b - a) : p->t[lo];
}

/* Steps of the run: the last logged step, or the summary's count. */
static double last_step(const run *r)
{
    double s = gg_run_sum_num(r, "steps");
    if (isfinite(s)) return s;
    s = NAN;
    if (r->nst) s = r->st[r->nst - 1].step;
    if (r->nep) s = fmax(isfinite(s) ? s : 0, r->ep[r->nep - 1].step);
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A loss curve whose largest value dwarfs its median (a blow-up) is drawn on
 * a log axis so the rest of the curve stays readable. */
static int spiky(run *const *rs, int n, size_t off)
{
    size_t cnt = 0;
    for (int k = 0; k < n; k++) cnt += rs[k]->nst + rs[k]->nep;
    double *v = malloc((cnt + 1) * sizeof *v);
    if (!v) return 0;
    size_t m = 0;
    int nonpos = 0;
    for (int k = 0; k < n; k++) {
        for (size_t i = 0; i < rs[k]->nst + rs[k]->nep; i++) {
            const mrow *row = i < rs[k]->nst ? &rs[k]->st[i] : &rs[k]->ep[i - rs[k]->nst];
            double x = *(const double *)((const char *)row + off);
            if (!isfinite(x)) continue;
            if (x <= 0) nonpos = 1;
            v[m++] = x;
        }
    }
    int r = 0;
    if (m >= 8 && !nonpos) {
        qsort(v, m, sizeof *v, cmp_double);
        r = v[m - 1] > 30 * v[m / 2];
    }
    free(v);
    return r;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

typedef struct chart_kind {
    const char *title, *caption, *ylabel;
    const char *caption_compare; /* NULL: the caption */
    size_t off;      /* the field of mrow */
    size_t val_off;  /* the validation field, or (size_t)-1 */
    const char *test_key;
    double scale;    /* 100 for accuracy in percent */
    double ymin, ymax;
    int log;         /* 0 linear, 1 log, 2 log when spiky, 3 log in a comparison */
    int zero;        /* a linear axis starts at 0 */
    int events;      /* 1: guard markers and the clip threshold; 2: the markers of rate changes */
    const char *what;
    const char *step_name; /* legend name of the per-step line of one run */
} chart_kind;

/* What one of charts (1)-(4) is being built from: the series, the arrays
 * they point into, the event markers and threshold lines, all freed by
 * chart_free. The builders below add one run's part each. */
typedef struct chart_parts {
    const chart_kind *ck;
    int single, is_rate;
    gg_plot_series *s;
    int ns;
    char (*names)[300];
    double **arrays;
    int na, cap;
    pts *lines;
    int nlines;
    gg_plot_marker *mk;
    char **tips;
    int nm;
    size_t nmark;
    gg_plot_hline *hl;
    char (*hnames)[96];
    int nh, any_gone;
} chart_parts;

static void chart_free(chart_parts *c)
{
    if (c->arrays)
        for (int i = 0; i < c->cap * 4; i++) free(c->arrays[i]);
    if (c->lines)
        for (int i = 0; i < c->nlines; i++) pts_free(&c->lines[i]);
    if (c->tips)
        for (size_t i = 0; i < c->nmark; i++) free(c->tips[i]);
    free(c->arrays);
    free(c->lines);
    free(c->tips);
    free(c->s);
    free(c->names);
    free(c->mk);
    free(c->hl);
    free(c->hnames);
}

static gg_status chart_oom(const chart_parts *c)
{
    return gg_fail(GG_E_NOMEM, "report: out of memory drawing '%s'", c->ck->title);
}

/* An array of n doubles that chart_free frees; NULL on OOM. */
static double *chart_array(chart_parts *c, size_t n)
{
    double *a = malloc((n ? n : 1) * sizeof *a);
    c->arrays[c->na++] = a;
    return a;
}

/* Adds series v, named by the format (the name lives in c->names). */
static void add_series(chart_parts *c, gg_plot_series v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_series(chart_parts *c, gg_plot_series v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->names[c->ns], sizeof c->names[c->ns], fmt, ap);
    va_end(ap);
    v.name = c->names[c->ns];
    c->s[c->ns++] = v;
}

/* The rate's jumps (diamonds) and the branches' ends (crosses), each with
 * its step in the tooltip: the rate chart of one run. */
static gg_status rate_marks(chart_parts *c, const run *r, int k, const char *col)
{
    double *jx = chart_array(c, r->nrt), *jy = chart_array(c, r->nrt), *jt = chart_array(c, r->nrt);
    double *ex = chart_array(c, r->nrt), *ey = chart_array(c, r->nrt), *et = chart_array(c, r->nrt);
    if (!jx || !jy || !jt || !ex || !ey || !et) return chart_oom(c);
    size_t nj = 0, ne = 0;
    for (size_t i = 0; i < r->nrt; i++) {
        const mrow *m = &r->rt[i];
        if (m->rate == 2) ex[ne] = m->step, ey[ne] = m->lr, et[ne++] = m->wall;
        else if (i > 0) jx[nj] = m->step, jy[nj] = m->lr, jt[nj++] = m->wall; /* not the run's first rate */
    }
    if (nj)
        add_series(c, (gg_plot_series){.color = col, .x = jx, .y = jy, .n = nj, .dot = GG_MK_DIAMOND, .dots = 1,
                                       .t = jt, .run = k},
                   "new rate");
    if (ne)
        add_series(c, (gg_plot_series){.color = C_GRAY, .x = ex, .y = ey, .n = ne, .dot = GG_MK_CROSS, .dots = 1,
                                       .t = et, .run = k},
                   "rolled back here");
    return GG_OK;
}

/* Run k's lines: per step (kept and rolled back), the rate's marks, per
 * epoch, validation, and the final test value as a star at the last step. */
static gg_status run_lines(chart_parts *c, const run *r, int k)
{
    const chart_kind *ck = c->ck;
    int single = c->single;
    const char *col = single ? C_TRAIN : palette[k % 10];
    pts *keep = &c->lines[2 * k], *gone = &c->lines[2 * k + 1];
    c->nlines = 2 * k + 2;
    if (step_lines(r, ck->off, ck->scale, c->is_rate, keep, gone)) return chart_oom(c);
    double *xe = c->arrays[c->na++] = column(r->ep, r->nep, offsetof(mrow, step), 1);
    double *ye = c->arrays[c->na++] = column(r->ep, r->nep, ck->off, ck->scale);
    double *we = c->arrays[c->na++] = column(r->ep, r->nep, offsetof(mrow, wall), 1);
    double *te = c->arrays[c->na++] = column(r->ep, r->nep, offsetof(mrow, epoch), 1);
    double *ve = ck->val_off != (size_t)-1 ? c->arrays[c->na++] = column(r->ep, r->nep, ck->val_off, ck->scale) : NULL;
    if (!xe || !ye || !we || !te || (ck->val_off != (size_t)-1 && !ve)) return chart_oom(c);
    /* per-step values; a run that logged no step rows falls back to its epochs */
    double width = single ? 1.2 : 1.6;
    if (keep->n)
        add_series(c, (gg_plot_series){.color = col, .x = keep->x, .y = keep->y, .n = keep->n, .line = 1,
                                       .width = width, .t = keep->t, .run = k, .smooth = !c->is_rate},
                   "%s", single ? ck->step_name : r->name);
    /* the branches rollbacks discarded: faded, one legend entry for all */
    if (gone->n) {
        c->any_gone = 1;
        add_series(c, (gg_plot_series){.color = col, .x = gone->x, .y = gone->y, .n = gone->n, .line = 1,
                                       .width = width, .nolegend = 1, .opacity = 0.35, .t = gone->t, .run = k,
                                       .smooth = !c->is_rate},
                   "%s%srolled back", single ? "" : r->name, single ? "" : ": ");
    }
    gg_status st;
    if (c->is_rate && single && r->nrt && (st = rate_marks(c, r, k, col))) return st;
    gg_plot_series epochs = {.x = xe, .y = ye, .n = r->nep, .line = 1, .width = 1.6, .dot = GG_MK_CIRCLE,
                             .dots = 1, .tag = te, .tag_name = "epoch", .t = we, .run = k};
    if (single && r->nep && (!c->is_rate || !keep->n)) {
        epochs.color = C_TRAIN_EP;
        add_series(c, epochs, "train (epoch mean)");
    } else if (!single && !keep->n && r->nep) {
        epochs.color = col;
        add_series(c, epochs, "%s", r->name);
    }
    int any = 0;
    for (size_t i = 0; ve && i < r->nep; i++) any |= isfinite(ve[i]);
    if (any) {
        /* in a comparison the run's colour names it and the style key says "validation" */
        epochs.y = ve;
        epochs.color = single ? C_VAL : col;
        epochs.line = 2;
        epochs.width = 1.8;
        epochs.nolegend = !single;
        if (single) add_series(c, epochs, "validation (epoch)");
        else add_series(c, epochs, "%s validation", r->name);
    }
    double tv = ck->test_key ? gg_run_sum_num(r, ck->test_key) * ck->scale : NAN, ls = last_step(r);
    if (isfinite(tv) && isfinite(ls)) {
        double *tx = chart_array(c, 1), *ty = chart_array(c, 1), *tt = chart_array(c, 1);
        if (!tx || !ty || !tt) return chart_oom(c);
        *tx = ls, *ty = tv, *tt = gg_run_sum_num(r, "wall_seconds");
        gg_plot_series v = {.color = single ? C_TEST : col, .x = tx, .y = ty, .n = 1, .dot = GG_MK_STAR,
                            .dots = 1, .nolegend = !single, .t = tt, .run = k};
        if (single) add_series(c, v, "test (final)");
        else add_series(c, v, "%s test (final)", r->name);
    }
    return GG_OK;
}

/* Run k's clip threshold and guard events (on the rate's chart, only the
 * events that changed the rate), each marker with its tooltip. */
static gg_status run_events(chart_parts *c, const run *r, int k)
{
    const chart_kind *ck = c->ck;
    int single = c->single;
    const char *col = single ? C_TRAIN : palette[k % 10];
    if (isfinite(r->clip) && ck->events == 1) {
        snprintf(c->hnames[c->nh], sizeof c->hnames[c->nh], "%s%sclip threshold (max_norm %g)", single ? "" : r->name,
                 single ? "" : ": ", r->clip);
        c->hl[c->nh] = (gg_plot_hline){r->clip, c->hnames[c->nh], single ? C_CLIP : col, k};
        c->nh++;
    }
    for (size_t i = 0; i < r->nev && (size_t)c->nm < c->nmark; i++) {
        const event *e = &r->ev[i];
        if (!e->guard) continue;
        if (ck->events == 2 && strcmp(e->action, "backoff") != 0 && strcmp(e->action, "rollback") != 0 &&
            strcmp(e->action, "stop") != 0)
            continue;
        const char *ec;
        gg_shape_kind sh;
        action_style(e->action, &ec, &sh);
        char v[40], t[40], ep[40];
        fmt_opt(v, sizeof v, e->value, "%.6g");
        fmt_opt(t, sizeof t, e->threshold, "%.6g");
        fmt_opt(ep, sizeof ep, e->epoch, ", epoch %.0f");
        if (!isfinite(e->epoch)) ep[0] = 0;
        size_t tl = strlen(e->signal) + strlen(e->action) + strlen(e->detail) + strlen(r->name) + 200;
        char *tip = malloc(tl);
        if (!tip) return chart_oom(c);
        snprintf(tip, tl, "%s%sstep %.0f%s\nsignal: %s\nvalue: %s, threshold: %s\naction: %s%s%s",
                 single ? "" : r->name, single ? "" : "\n", e->step, ep, e->signal, v, t, e->action,
                 e->detail[0] ? "\n" : "", e->detail);
        c->tips[c->nm] = tip;
        c->mk[c->nm++] = (gg_plot_marker){e->step, single ? ec : col, sh, tip, wall_at(&c->lines[2 * k], e->step), k};
    }
    return GG_OK;
}

/* The legend's style key: in a comparison the runs come from the series;
 * the faded branches, validation and test styles, the event shapes. */
static int legend_key(const chart_parts *c, gg_legend_item extra[12])
{
    int nx = 0, single = c->single;
    if (c->any_gone)
        extra[nx++] = (gg_legend_item){"rolled back (discarded branch)", single ? C_TRAIN : C_GRAY, GG_MK_LINE, 0,
                                       0.35};
    if (!single) {
        int have_val = 0, have_test = 0;
        for (int q = 0; q < c->ns; q++) {
            if (c->s[q].line == 2) have_val = 1;
            if (c->s[q].dot == GG_MK_STAR) have_test = 1;
        }
        if (have_val) extra[nx++] = (gg_legend_item){"validation (dashed)", C_GRAY, GG_MK_LINE, 1, 0};
        if (have_test) extra[nx++] = (gg_legend_item){"test (final)", C_GRAY, GG_MK_STAR, 0, 0};
    }
    if (c->ck->events) {
        /* one legend entry per action that occurs (markers are keyed by shape) */
        static const char *const acts[] = {"clip", "warn", "skip", "backoff", "rollback", "stop"};
        for (size_t a = 0; a < 6 && nx < 11; a++) {
            const char *ac;
            gg_shape_kind sh;
            action_style(acts[a], &ac, &sh);
            int seen = 0;
            for (int q = 0; q < c->nm && !seen; q++) seen = c->mk[q].shape == sh;
            if (seen) extra[nx++] = (gg_legend_item){acts[a], single ? ac : C_GRAY, sh, 0, 0};
        }
    }
    return nx;
}

/* One of charts (1)-(4), for one run or overlaid for several. */
static gg_status chart(gg_sb *b, run *const *rs, int n, const chart_kind *ck)
{
    chart_parts c = {.ck = ck, .single = n == 1, .is_rate = ck->off == offsetof(mrow, lr), .cap = 8 * n + 1};
    c.s = calloc((size_t)c.cap, sizeof *c.s);
    c.arrays = calloc((size_t)c.cap * 4, sizeof *c.arrays);
    c.lines = calloc((size_t)n * 2 + 1, sizeof *c.lines);
    c.names = calloc((size_t)c.cap, sizeof *c.names);
    for (int k = 0; k < n; k++) c.nmark += ck->events ? rs[k]->nguard : 0;
    if (c.nmark > MARKERS_MAX) c.nmark = MARKERS_MAX;
    c.mk = calloc(c.nmark + 1, sizeof *c.mk);
    c.tips = calloc(c.nmark + 1, sizeof *c.tips);
    c.hl = calloc((size_t)n + 1, sizeof *c.hl);
    c.hnames = calloc((size_t)n + 1, sizeof *c.hnames);
    gg_status st = GG_OK;
    if (!c.s || !c.arrays || !c.lines || !c.names || !c.mk || !c.tips || !c.hl || !c.hnames) st = chart_oom(&c);
    int log = ck->log == 1 || (ck->log == 2 && spiky(rs, n, ck->off)) || (ck->log == 3 && n > 1);
    for (int k = 0; k < n && !st; k++) {
        st = run_lines(&c, rs[k], k);
        if (!st && ck->events) st = run_events(&c, rs[k], k);
    }
    if (st) {
        chart_free(&c);
        return st;
    }
    gg_legend_item extra[12];
    int nx = legend_key(&c, extra);
    char ylabel[128];
    snprintf(ylabel, sizeof ylabel, "%s%s", ck->ylabel, log && ck->log >= 2 ? " (log scale)" : "");
    gg_plot p = {.title = ck->title, .xlabel = "step", .ylabel = ylabel, .logy = log, .zero = ck->zero,
                 .ymin = ck->ymin, .ymax = ck->ymax, .s = c.s, .ns = c.ns, .m = c.mk, .nm = c.nm, .h = c.hl,
                 .nh = c.nh, .extra = extra, .nextra = nx, .empty_text = ck->what, .interactive = 1};
    gg_sb_puts(b, "<figure><h3>");
    gg_sb_htmls(b, ck->title);
    gg_sb_puts(b, "</h3><p class=\"cap\">");
    gg_sb_htmls(b, c.single || !ck->caption_compare ? ck->caption : ck->caption_compare);
    if (log && ck->log == 2) gg_sb_puts(b, " Drawn on a log axis: the largest values are far above the rest.");
    if (c.any_gone)
        gg_sb_puts(b, " Faded lines are branches the guard rolled back: it went back to an earlier step and "
                      "trained again from there.");
    gg_sb_puts(b, "</p>");
    gg_plot_svg(b, &p);
    gg_sb_puts(b, "</figure>\n");
    chart_free(&c);
    return GG_OK;
}

static const chart_kind k_loss = {
    .title = "Loss",
    .caption = "Training loss at each logged step (the mean over the log interval) and per epoch, with the "
               "validation loss per epoch.",
    .ylabel = "loss",
    .off = offsetof(mrow, loss),
    .val_off = offsetof(mrow, vloss),
    .test_key = "test_loss",
    .scale = 1,
    .ymin = NAN,
    .ymax = NAN,
    .log = 2,
    .zero = 1,
    .what = "no loss logged",
    .step_name = "train (logged steps)",
};
static const chart_kind k_acc = {
    .title = "Accuracy",
    .caption = "Fraction of samples classified correctly, in percent.",
    .ylabel = "accuracy (%)",
    .off = offsetof(mrow, acc),
    .val_off = offsetof(mrow, vacc),
    .test_key = "test_accuracy",
    .scale = 100,
    .ymin = 0,
    .ymax = 100,
    .what = "no accuracy logged (not a classification loss?)",
    .step_name = "train (logged steps)",
};
static const chart_kind k_lr = {
    .title = "Learning rate",
    .caption = "The learning rate in force, after the schedule and any guard back-off: at each logged step and "
               "at every step where it jumps (diamonds). Markers above are the guard's back-offs and rollbacks.",
    .caption_compare = "The learning rate in force (after the schedule and any guard back-off), on a log axis so "
                       "that rates of different sizes can be told apart.",
    .ylabel = "learning rate",
    .off = offsetof(mrow, lr),
    .val_off = (size_t)-1,
    .scale = 1,
    .ymin = 0,
    .ymax = NAN,
    .log = 3,
    .zero = 1,
    .events = 2,
    .what = "no learning rate logged",
    .step_name = "learning rate",
};
static const chart_kind k_grad = {
    .title = "Global gradient norm",
    .caption = "L2 norm of all gradients (the mean over each log interval), on a log axis. Markers above the plot "
               "are the guard's events: hover one for what it saw and did.",
    .ylabel = "gradient L2 norm (log scale)",
    .off = offsetof(mrow, gn),
    .val_off = (size_t)-1,
    .scale = 1,
    .ymin = NAN,
    .ymax = NAN,
    .log = 1,
    .events = 1,
    .what = "no gradient norm logged",
    .step_name = "global norm (logged steps)",
};

static void warnings(gg_sb *b, run *const *rs, int n)
{
    int total = 0;
    for (int k = 0; k < n; k++) total += rs[k]->nwarn + (rs[k]->warn_more > 0);
    if (!total) return;
    gg_sb_puts(b, "<section class=\"warn\"><h3>Warnings</h3><ul>\n");
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < rs[k]->nwarn; i++) {
            gg_sb_puts(b, "<li>");
            if (n > 1) {
                gg_sb_puts(b, "<b>");
                gg_sb_htmls(b, rs[k]->name);
                gg_sb_puts(b, "</b>: ");
            }
            gg_sb_htmls(b, rs[k]->warn[i]);
            gg_sb_puts(b, "</li>\n");
        }
        if (rs[k]->warn_more) gg_sb_printf(b, "<li>and %ld more warnings</li>\n", rs[k]->warn_more);
    }
    gg_sb_puts(b, "</ul></section>\n");
}

static void kpi(gg_sb *b, const char *label, const char *value, const char *sub)
{
    gg_sb_puts(b, "<div class=\"kpi\"><span>");
    gg_sb_htmls(b, label);
    gg_sb_puts(b, "</span><b>");
    gg_sb_htmls(b, value);
    gg_sb_puts(b, "</b>");
    if (sub) {
        gg_sb_puts(b, "<i>");
        gg_sb_htmls(b, sub);
        gg_sb_puts(b, "</i>");
    }
    gg_sb_puts(b, "</div>");
}

/* The last finite value of a field over the epoch rows, else the step rows. */
static double last_of(const run *r, size_t off, int epochs_only)
{
    for (size_t i = r->nep; i-- > 0;) {
        double v = *(const double *)((const char *)&r->ep[i] + off);
        if (isfinite(v)) return v;
    }
    if (epochs_only) return NAN;
    for (size_t i = r->nst; i-- > 0;) {
        double v = *(const double *)((const char *)&r->st[i] + off);
        if (isfinite(v)) return v;
    }
    return NAN;
}

static double pick(const run *r, const char *key, size_t off, int epochs_only)
{
    double v = gg_run_sum_num(r, key);
    return isfinite(v) ? v : last_of(r, off, epochs_only);
}

/* What the guard did: steps clipped (a counter in summary.json: a clip by
 * norm is no event), then the events by action. */
static void guard_breakdown(const run *r, char *out, size_t cap)
{
    static const char *const acts[] = {"clip", "warn", "skip", "backoff", "rollback", "stop"};
    size_t k = 0;
    out[0] = 0;
    double clipped = gg_run_sum_num(r, "guard.clipped");
    if (clipped > 0) k += (size_t)snprintf(out, cap, "%.0f step%s clipped", clipped, clipped == 1 ? "" : "s");
    for (int a = 0; a < 6 && k < cap; a++) {
        long c = 0;
        for (size_t i = 0; i < r->nev; i++) c += r->ev[i].guard && strcmp(r->ev[i].action, acts[a]) == 0;
        if (c && k < cap) k += (size_t)snprintf(out + k, cap - k, "%s%ld %s", k ? ", " : "", c, acts[a]);
    }
    if (!k) snprintf(out, cap, "none");
}

static void kpis(gg_sb *b, const run *r)
{
    char v[64], s[160];
    gg_sb_puts(b, "<section class=\"kpis\">");
    double steps = last_step(r), epochs = gg_run_sum_num(r, "epochs");
    if (!isfinite(epochs) && r->nep) epochs = r->ep[r->nep - 1].epoch;
    fmt_opt(v, sizeof v, steps, "%.0f");
    fmt_opt(s, sizeof s, epochs, epochs == 1 ? "%.0f epoch" : "%.0f epochs");
    kpi(b, "Steps", v, isfinite(epochs) ? s : NULL);
    fmt_opt(v, sizeof v, pick(r, "train_loss", offsetof(mrow, loss), 0), "%.4g");
    double ta = pick(r, "train_accuracy", offsetof(mrow, acc), 0);
    fmt_opt(s, sizeof s, ta * 100, "accuracy %.2f%%");
    kpi(b, "Train loss", v, isfinite(ta) ? s : NULL);
    fmt_opt(v, sizeof v, pick(r, "val_loss", offsetof(mrow, vloss), 1), "%.4g");
    double va = pick(r, "val_accuracy", offsetof(mrow, vacc), 1);
    fmt_opt(s, sizeof s, va * 100, "accuracy %.2f%%");
    kpi(b, "Validation loss", v, isfinite(va) ? s : NULL);
    double tl = gg_run_sum_num(r, "test_loss"), tacc = gg_run_sum_num(r, "test_accuracy");
    if (isfinite(tacc)) {
        fmt_opt(v, sizeof v, tacc * 100, "%.2f%%");
        fmt_opt(s, sizeof s, tl, "loss %.4g");
        kpi(b, "Test accuracy", v, isfinite(tl) ? s : NULL);
    } else {
        fmt_opt(v, sizeof v, tl, "%.4g");
        kpi(b, "Test loss", v, NULL);
    }
    fmt_duration(v, sizeof v, gg_run_sum_num(r, "wall_seconds"));
    double sps = pick(r, "samples_per_second", offsetof(mrow, sps), 0);
    fmt_opt(s, sizeof s, sps, "%.0f samples/s");
    kpi(b, "Wall time", v, isfinite(sps) ? s : NULL);
    /* the share of steps clipped first: clipping by norm writes no event */
    double clipped = gg_run_sum_num(r, "guard.clipped");
    if (clipped > 0 && steps > 0) snprintf(v, sizeof v, "%.3g%% clipped", 100 * clipped / steps);
    else snprintf(v, sizeof v, "%zu event%s", r->nguard, r->nguard == 1 ? "" : "s");
    guard_breakdown(r, s, sizeof s);
    if (clipped > 0 && r->nguard) {
        size_t l = strlen(s);
        snprintf(s + l, sizeof s - l, " (%zu event%s)", r->nguard, r->nguard == 1 ? "" : "s");
    }
    kpi(b, "Guard", v, s);
    gg_sb_puts(b, "</section>\n");
}

/* (5) per-tensor gradient norms over time as a heat map */
static gg_status heat(gg_sb *b, const run *r)
{
    gg_sb_puts(b, "<figure class=\"wide\"><h3>Gradient norm per tensor</h3>");
    if (!r->have_layers || r->nl == 0) {
        gg_sb_puts(b, "<p class=\"note\">No per-layer statistics: layers.csv is absent or empty (the guard writes it "
                      "every guard.layer_every steps).</p></figure>\n");
        return GG_OK;
    }
    double x0 = INFINITY, x1 = -INFINITY;
    size_t distinct = 0;
    for (size_t i = 0; i < r->nl; i++) {
        x0 = fmin(x0, r->lr[i].step);
        x1 = fmax(x1, r->lr[i].step);
        distinct += i == 0 || r->lr[i].step != r->lr[i - 1].step;
    }
    int rows = r->nt < HEAT_ROWS_MAX ? r->nt : HEAT_ROWS_MAX;
    int cols = distinct < HEAT_COLS_MAX ? (int)distinct : HEAT_COLS_MAX;
    if (cols < 1) cols = 1;
    /* one column per logged step when they fit; the span is widened by one
     * interval so the last step gets a column of its own */
    double span = x1 - x0, w = distinct > 1 ? span / (double)(distinct - 1) : 1;
    double hx1 = x1 + (cols == (int)distinct ? w : 0);
    if (hx1 <= x0) hx1 = x0 + 1;
    size_t cells = (size_t)rows * (size_t)cols;
    double *v = malloc(cells * sizeof *v);
    unsigned char *bad = calloc(cells, 1);
    gg_plot_marker *mk = calloc(r->nguard + 1, sizeof *mk);
    if (!v || !bad || !mk) {
        free(v);
        free(bad);
        free(mk);
        return gg_fail(GG_E_NOMEM, "report: out of memory drawing the heat map");
    }
    for (size_t i = 0; i < cells; i++) v[i] = NAN;
    for (size_t i = 0; i < r->nl; i++) {
        const lrow *l = &r->lr[i];
        if (l->tensor >= rows) continue;
        int c = (int)((l->step - x0) / (hx1 - x0) * cols);
        if (c >= cols) c = cols - 1;
        if (c < 0) c = 0;
        size_t at = (size_t)l->tensor * (size_t)cols + (size_t)c;
        /* the largest norm in the cell, so a spike is never averaged away */
        if (!isfinite(l->gn)) bad[at] = 1;
        else if (!(v[at] >= l->gn)) v[at] = l->gn;
    }
    int nm = 0;
    for (size_t i = 0; i < r->nev; i++) {
        if (!r->ev[i].guard) continue;
        const char *c;
        gg_shape_kind sh;
        action_style(r->ev[i].action, &c, &sh);
        mk[nm++] = (gg_plot_marker){r->ev[i].step, c, sh, NULL, NAN, 0};
    }
    gg_heat h = {"gradient norm per tensor over steps", "step", "gradient L2 norm", (const char *const *)r->tname,
                 rows, cols, x0, hx1, v, bad, mk, nm};
    gg_sb_printf(b, "<p class=\"cap\">Each row is a parameter tensor (model order, top to bottom), each column a "
                    "range of steps; the colour is the largest gradient norm logged in it, on a log scale. Red cells "
                    "had a non-finite gradient; grey means not logged.%s</p>",
                 nm ? " Triangles above the map are guard events." : "");
    gg_heat_svg(b, &h);
    if (r->nt > rows) gg_sb_printf(b, "<p class=\"note\">%d more tensors are not shown.</p>", r->nt - rows);
    gg_sb_puts(b, "</figure>\n");
    free(v);
    free(bad);
    free(mk);
    return GG_OK;
}

/* A plain line of a per-layer chart: solid, or dashed (dash 2) once the
 * palette's ten colours repeat. */
static gg_plot_series layer_line(const char *name, const char *color, const double *x, const double *y, size_t n,
                                 int dash)
{
    return (gg_plot_series){.name = name, .color = color, .x = x, .y = y, .n = n, .line = dash, .width = 1.5};
}

/* A full-width chart of the per-layer section over steps. */
static gg_plot wide_plot(const char *title, const char *ylabel, int logy, int height, const gg_plot_series *s, int ns,
                         const char *empty)
{
    return (gg_plot){.title = title, .xlabel = "step", .ylabel = ylabel, .logy = logy, .ymin = NAN, .ymax = NAN,
                     .width = 1200, .height = height, .s = s, .ns = ns, .empty_text = empty};
}

/* (6) update-to-weight ratio per layer: ||update|| / ||weight|| over the
 * layer's tensors together, at each logged step */
static gg_status ratio(gg_sb *b, const run *r)
{
    gg_sb_puts(b, "<figure class=\"wide\"><h3>Update-to-weight ratio per layer</h3>");
    if (!r->have_layers || r->nl == 0) {
        gg_sb_puts(b, "<p class=\"note\">No per-layer statistics (layers.csv is absent or empty).</p></figure>\n");
        return GG_OK;
    }
    int L = r->nly;
    size_t nsteps = 0;
    for (size_t i = 0; i < r->nl; i++) nsteps += i == 0 || r->lr[i].step != r->lr[i - 1].step;
    double *x = malloc((nsteps + 1) * sizeof *x), *y = malloc(((size_t)L * nsteps + 1) * sizeof *y);
    double *uu = calloc((size_t)L + 1, sizeof *uu), *ww = calloc((size_t)L + 1, sizeof *ww);
    double *peak = calloc((size_t)L + 1, sizeof *peak);
    int *order = malloc(((size_t)L + 1) * sizeof *order);
    gg_plot_series *s = calloc((size_t)L + 1, sizeof *s);
    gg_status st = GG_OK;
    if (!x || !y || !uu || !ww || !peak || !order || !s) {
        st = gg_fail(GG_E_NOMEM, "report: out of memory drawing the update ratios");
        goto done;
    }
    size_t col = 0;
    int any = 0;
    for (size_t i = 0; i <= r->nl; i++) {
        if (i > 0 && (i == r->nl || r->lr[i].step != r->lr[i - 1].step)) {
            /* the block of rows of one logged step ends: one point per layer */
            x[col] = r->lr[i - 1].step;
            for (int l = 0; l < L; l++) {
                double v = ww[l] > 0 && isfinite(uu[l]) ? sqrt(uu[l] / ww[l]) : NAN;
                y[(size_t)l * nsteps + col] = v;
                if (isfinite(v) && v > 0) {
                    any = 1;
                    peak[l] = fmax(peak[l], v);
                }
                uu[l] = ww[l] = 0;
            }
            col++;
        }
        if (i == r->nl) break;
        int l = r->tlayer[r->lr[i].tensor];
        uu[l] += (double)r->lr[i].un * r->lr[i].un;
        ww[l] += (double)r->lr[i].wn * r->lr[i].wn;
    }
    if (!any) {
        gg_sb_puts(b, "<p class=\"note\">No update norms were logged (the optimizer does not report them).</p>");
        gg_sb_puts(b, "</figure>\n");
        goto done;
    }
    /* with many layers, show the ones that move most */
    for (int l = 0; l < L; l++) order[l] = l;
    int shown = L;
    if (L > RATIO_LINES_MAX) {
        for (int a = 0; a < RATIO_LINES_MAX; a++)
            for (int c = a + 1; c < L; c++)
                if (peak[order[c]] > peak[order[a]]) {
                    int t = order[a];
                    order[a] = order[c];
                    order[c] = t;
                }
        shown = RATIO_LINES_MAX;
        qsort(order, (size_t)shown, sizeof *order, cmp_int); /* back to model order for the legend */
    }
    int ns = 0;
    for (int q = 0; q < shown; q++) {
        int l = order[q];
        s[ns++] = layer_line(r->lname[l], palette[q % 10], x, y + (size_t)l * nsteps, nsteps, q < 10 ? 1 : 2);
    }
    gg_plot p = wide_plot("update-to-weight ratio per layer", "||update|| / ||weight|| (log scale)", 1, 360, s, ns,
                          "no update ratios");
    p.band_lo = 3.1623e-4;
    p.band_hi = 3.1623e-3;
    p.band_label = "typical: about 1e-3 per step";
    gg_sb_puts(b, "<p class=\"cap\">How far each step moves a layer's weights, relative to their size. Around "
                  "1e-3 (the shaded band) is the usual healthy range; far above it the learning rate is too high "
                  "for that layer, far below it the layer barely learns.");
    if (shown < L) gg_sb_printf(b, " Showing the %d layers with the largest ratios of %d.", shown, L);
    gg_sb_puts(b, "</p>");
    gg_plot_svg(b, &p);
    gg_sb_puts(b, "</figure>\n");
done:
    free(x);
    free(y);
    free(uu);
    free(ww);
    free(peak);
    free(order);
    free(s);
    return st;
}

/* (6b) attention: each head's max |logit| and entropy, and the output's
 * log Z, over steps (transformers only; nothing when layers.csv has none) */
static gg_status attention(gg_sb *b, const run *r)
{
    if (r->na == 0) return GG_OK;
    int H = r->nan_;
    size_t cap = r->na + 1;
    double *x = malloc(cap * sizeof *x), *y1 = malloc(cap * sizeof *y1), *y2 = malloc(cap * sizeof *y2);
    size_t *start = calloc((size_t)H + 2, sizeof *start), *cnt = calloc((size_t)H + 2, sizeof *cnt);
    gg_plot_series *s1 = calloc((size_t)H + 1, sizeof *s1), *s2 = calloc((size_t)H + 1, sizeof *s2);
    gg_status st = GG_OK;
    if (!x || !y1 || !y2 || !start || !cnt || !s1 || !s2) {
        st = gg_fail(GG_E_NOMEM, "report: out of memory drawing the attention statistics");
        goto done;
    }
    /* group the rows by series (series -1, the output, last) in step order */
    for (size_t i = 0; i < r->na; i++) cnt[r->ar[i].series >= 0 ? r->ar[i].series : H]++;
    for (int k = 1; k <= H + 1; k++) start[k] = start[k - 1] + cnt[k - 1];
    for (int k = 0; k <= H; k++) cnt[k] = 0;
    for (size_t i = 0; i < r->na; i++) {
        int k = r->ar[i].series >= 0 ? r->ar[i].series : H;
        size_t at = start[k] + cnt[k]++;
        x[at] = r->ar[i].step;
        y1[at] = r->ar[i].a;
        y2[at] = r->ar[i].b;
    }
    for (int k = 0; k < H; k++) {
        const char *c = palette[k % 10];
        int dash = k < 10 ? 1 : 2;
        s1[k] = layer_line(r->aname[k], c, x + start[k], y1 + start[k], cnt[k], dash);
        s2[k] = layer_line(r->aname[k], c, x + start[k], y2 + start[k], cnt[k], dash);
    }
    gg_sb_puts(b, "<figure class=\"wide\"><h3>Attention logits and entropy per head</h3>");
    gg_sb_puts(b, "<p class=\"cap\">The largest |q.k| / sqrt(d) each head computed in the logged step's forward "
                  "(before any logit cap), and the mean entropy of its attention rows in nats. Logits that keep "
                  "growing while the entropy falls toward 0 are attention collapsing onto single positions, the "
                  "way small transformers diverge at high learning rates.</p>");
    gg_plot p = wide_plot("max attention logit per head", "max |logit| (log scale)", 1, 300, s1, H,
                          "no attention logits");
    gg_plot_svg(b, &p);
    p = wide_plot("attention entropy per head", "entropy (nats)", 0, 300, s2, H, "no attention entropies");
    p.zero = 1;
    gg_plot_svg(b, &p);
    if (cnt[H]) {
        gg_plot_series z = layer_line("mean log Z", C_TRAIN, x + start[H], y1 + start[H], cnt[H], 1);
        gg_sb_puts(b, "<p class=\"cap\">The output's log Z (the logsumexp of the logits, mean over the batch): "
                      "a drift away from 0 is what a z-loss holds back.</p>");
        p = wide_plot("output log Z", "mean log Z", 0, 240, &z, 1, "no log Z");
        gg_plot_svg(b, &p);
    }
    gg_sb_puts(b, "</figure>\n");
done:
    free(x);
    free(y1);
    free(y2);
    free(start);
    free(cnt);
    free(s1);
    free(s2);
    return st;
}

static void td_num(gg_sb *b, double v, const char *fmt)
{
    char buf[48];
    fmt_opt(buf, sizeof buf, v, fmt);
    gg_sb_printf(b, "<td class=\"n\">%s</td>", buf);
}

/* (7) the guard's events, and the trainer's other events */
static void event_tables(gg_sb *b, const run *r)
{
    gg_sb_puts(b, "<h2>Guard events</h2>\n<div class=\"card\">");
    if (!r->have_events) {
        gg_sb_puts(b, "<p class=\"note\">events.jsonl is absent.</p></div>\n");
        return;
    }
    if (!r->nguard) {
        gg_sb_puts(b, "<p class=\"note\">The guard recorded no events: no non-finite values, spikes or trends.</p>");
    } else {
        gg_sb_puts(b, "<div class=\"scroll\"><table><thead><tr><th>#</th><th>step</th><th>epoch</th><th>signal</th>"
                      "<th>value</th><th>threshold</th><th>action</th><th>detail</th></tr></thead><tbody>\n");
        size_t k = 0;
        for (size_t i = 0; i < r->nev && k < EVENT_ROWS_MAX; i++) {
            const event *e = &r->ev[i];
            if (!e->guard) continue;
            const char *c;
            gg_shape_kind sh;
            action_style(e->action, &c, &sh);
            gg_sb_printf(b, "<tr><td class=\"n\">%zu</td>", ++k);
            td_num(b, e->step, "%.0f");
            td_num(b, e->epoch, "%.0f");
            gg_sb_puts(b, "<td>");
            gg_sb_htmls(b, e->signal);
            gg_sb_puts(b, "</td>");
            td_num(b, e->value, "%.5g");
            td_num(b, e->threshold, "%.5g");
            gg_sb_printf(b, "<td><span class=\"act\" style=\"background:%s\">", c);
            gg_sb_htmls(b, e->action[0] ? e->action : "?");
            gg_sb_puts(b, "</span></td><td class=\"d\">");
            gg_sb_htmls(b, e->detail);
            gg_sb_puts(b, "</td></tr>\n");
        }
        gg_sb_puts(b, "</tbody></table></div>");
        if (r->nguard > EVENT_ROWS_MAX)
            gg_sb_printf(b, "<p class=\"note\">The first %d of %zu events are listed.</p>", EVENT_ROWS_MAX,
                         r->nguard);
    }
    gg_sb_puts(b, "</div>\n");
    if (r->nev > r->nguard) {
        gg_sb_puts(b, "<h2>Run events</h2>\n<div class=\"card\"><div class=\"scroll\"><table><thead><tr><th>type</th>"
                      "<th>step</th><th>epoch</th><th>detail</th></tr></thead><tbody>\n");
        size_t k = 0;
        for (size_t i = 0; i < r->nev && k < EVENT_ROWS_MAX; i++) {
            const event *e = &r->ev[i];
            if (e->guard) continue;
            k++;
            gg_sb_puts(b, "<tr><td>");
            gg_sb_htmls(b, e->type);
            gg_sb_puts(b, "</td>");
            td_num(b, e->step, "%.0f");
            td_num(b, e->epoch, "%.0f");
            gg_sb_puts(b, "<td class=\"d\">");
            gg_sb_htmls(b, e->detail);
            gg_sb_puts(b, "</td></tr>\n");
        }
        gg_sb_puts(b, "</tbody></table></div></div>\n");
    }
}

/* (8) summary.json as a table, config.yaml verbatim */
static void summary_config(gg_sb *b, const run *r)
{
    gg_sb_puts(b, "<h2>Summary and configuration</h2>\n<div class=\"two\"><div class=\"card\"><h3>summary.json</h3>");
    if (!r->have_summary) {
        gg_sb_puts(b, "<p class=\"note\">No summary (see the warnings).</p>");
    } else {
        gg_sb_puts(b, "<table><tbody>\n");
        for (size_t i = 0; i < r->nsum; i++) {
            gg_sb_puts(b, "<tr><th class=\"k\">");
            gg_sb_htmls(b, r->sum[i].key);
            gg_sb_printf(b, "</th><td%s>", r->sum[i].type == GG_RUN_NUM ? " class=\"n\"" : "");
            gg_sb_htmls(b, r->sum[i].text);
            gg_sb_puts(b, "</td></tr>\n");
        }
        gg_sb_puts(b, "</tbody></table>");
    }
    gg_sb_puts(b, "</div><div class=\"card\"><h3>config.yaml</h3>");
    if (!r->have_config) {
        gg_sb_puts(b, "<p class=\"note\">No config.yaml in the run directory.</p>");
    } else {
        size_t n = r->config_len < CONFIG_SHOW_MAX ? r->config_len : CONFIG_SHOW_MAX;
        gg_sb_puts(b, "<pre>");
        gg_sb_html(b, r->config, n);
        gg_sb_puts(b, "</pre>");
        if (n < r->config_len) gg_sb_printf(b, "<p class=\"note\">Only the first %zu bytes are shown.</p>", n);
    }
    gg_sb_puts(b, "</div></div>\n");
}

/* The controls of the training curves, shown by the page's script (hidden
 * without it): smoothing, the x axis, zoom, and in a comparison the runs. */
static void controls(gg_sb *b, run *const *rs, int n)
{
    gg_sb_puts(b, "<div class=\"ctl\" id=\"gg-ctl\" hidden>"
                  "<label>smoothing <input type=\"range\" id=\"gg-smooth\" min=\"0\" max=\"0.99\" step=\"0.01\" "
                  "value=\"0\"><output id=\"gg-smooth-v\">0.00</output></label>"
                  "<label>x axis <select id=\"gg-x\"><option value=\"step\">step</option>"
                  "<option value=\"time\">wall time</option></select></label>"
                  "<span><button type=\"button\" id=\"gg-zoom-reset\" disabled>reset zoom</button> "
                  "<span class=\"hint\">drag across a chart to zoom in; double-click to zoom out</span></span>");
    if (n > 1) {
        gg_sb_puts(b, "<span>runs:");
        for (int k = 0; k < n; k++) {
            gg_sb_printf(b, " <label><input type=\"checkbox\" data-run=\"%d\" checked><span class=\"sw\" "
                            "style=\"background:%s\"></span>", k, palette[k % 10]);
            gg_sb_htmls(b, rs[k]->name);
            gg_sb_puts(b, "</label>");
        }
        gg_sb_puts(b, "</span>");
    }
    gg_sb_puts(b, "</div>\n");
}

static gg_status charts_1_to_4(gg_sb *b, run *const *rs, int n)
{
    gg_status st;
    gg_sb_puts(b, "<h2>Training curves</h2>\n");
    controls(b, rs, n);
    gg_sb_puts(b, "<section class=\"grid\">\n");
    if ((st = chart(b, rs, n, &k_loss)) || (st = chart(b, rs, n, &k_acc)) || (st = chart(b, rs, n, &k_lr)) ||
        (st = chart(b, rs, n, &k_grad)))
        return st;
    gg_sb_puts(b, "</section>\n");
    return GG_OK;
}

static gg_status finish(gg_sb *b, const char *out)
{
    if (b->oom) return gg_fail(GG_E_NOMEM, "report: out of memory writing %s", out);
    return gg_write_atomic(out, b->p, b->n);
}

gg_status gg_report_write(const char *run_dir, const char *out_html)
{
    if (!run_dir || !*run_dir) return gg_fail(GG_E_ARG, "gg_report_write: no run directory");
    run r;
    gg_status st = gg_run_read(&r, run_dir);
    char *defpath = NULL;
    if (!st && !out_html) {
        size_t l = strlen(run_dir) + 16;
        if ((defpath = malloc(l))) snprintf(defpath, l, "%s/report.html", run_dir);
        else st = gg_fail(GG_E_NOMEM, "report: out of memory");
        out_html = defpath;
    }
    gg_sb b = {0};
    if (!st) {
        char title[320];
        snprintf(title, sizeof title, "%s \xe2\x80\x94 gradguard training report", r.name);
        page_begin(&b, title);
        const char *status = gg_run_sum_str(&r, "status");
        gg_sb_puts(&b, "<header><h1>");
        gg_sb_htmls(&b, r.name);
        gg_sb_printf(&b, "</h1><span class=\"badge %s\">", status_class(status));
        gg_sb_htmls(&b, status ? status : r.have_summary ? "unknown" : "no summary");
        gg_sb_puts(&b, "</span><p class=\"sub\">Training report of ");
        gg_sb_htmls(&b, run_dir);
        gg_sb_puts(&b, "</p></header>\n");
        kpis(&b, &r);
        run *rs[1] = {&r};
        warnings(&b, rs, 1);
        st = charts_1_to_4(&b, rs, 1);
        if (!st) {
            gg_sb_puts(&b, "<h2>Per-layer statistics</h2>\n<section class=\"grid\">\n");
            st = heat(&b, &r);
        }
        if (!st) st = ratio(&b, &r);
        if (!st) st = attention(&b, &r);
        if (!st) {
            gg_sb_puts(&b, "</section>\n");
            event_tables(&b, &r);
            summary_config(&b, &r);
            page_end(&b);
            st = finish(&b, out_html);
        }
    }
    gg_sb_free(&b);
    free(defpath);
    gg_run_free(&r);
    return st;
}

static void compare_table(gg_sb *b, run *const *rs, int n)
{
    gg_sb_puts(b, "<div class=\"card\"><table><thead><tr><th>run</th><th>status</th><th>steps</th><th>train "
                  "loss</th><th>val loss</th><th>val acc.</th><th>test acc.</th><th>wall time</th><th>guard "
                  "events</th></tr></thead><tbody>\n");
    for (int k = 0; k < n; k++) {
        const run *r = rs[k];
        const char *status = gg_run_sum_str(r, "status");
        gg_sb_printf(b, "<tr><td><span class=\"sw\" style=\"background:%s\"></span>", palette[k % 10]);
        gg_sb_htmls(b, r->name);
        gg_sb_printf(b, "</td><td><span class=\"badge %s\">", status_class(status));
        gg_sb_htmls(b, status ? status : "no summary");
        gg_sb_puts(b, "</span></td>");
        td_num(b, last_step(r), "%.0f");
        td_num(b, pick(r, "train_loss", offsetof(mrow, loss), 0), "%.4g");
        td_num(b, pick(r, "val_loss", offsetof(mrow, vloss), 1), "%.4g");
        td_num(b, pick(r, "val_accuracy", offsetof(mrow, vacc), 1) * 100, "%.2f%%");
        td_num(b, gg_run_sum_num(r, "test_accuracy") * 100, "%.2f%%");
        char d[48], g[160];
        fmt_duration(d, sizeof d, gg_run_sum_num(r, "wall_seconds"));
        gg_sb_printf(b, "<td class=\"n\">%s</td><td>", d);
        guard_breakdown(r, g, sizeof g);
        gg_sb_htmls(b, g);
        gg_sb_puts(b, "</td></tr>\n");
    }
    gg_sb_puts(b, "</tbody></table></div>\n");
}

gg_status gg_report_compare(const char *const *run_dirs, int n, const char *out_html)
{
    if (!run_dirs || n < 1) return gg_fail(GG_E_ARG, "gg_report_compare: no run directories");
    if (n > COMPARE_MAX)
        return gg_fail(GG_E_ARG, "gg_report_compare: %d runs; at most %d fit one chart", n, COMPARE_MAX);
    if (!out_html || !*out_html) return gg_fail(GG_E_ARG, "gg_report_compare: no output file");
    for (int k = 0; k < n; k++)
        if (!run_dirs[k] || !*run_dirs[k]) return gg_fail(GG_E_ARG, "gg_report_compare: run directory %d is empty", k);
    run *runs = calloc((size_t)n, sizeof *runs);
    run *rs[COMPARE_MAX];
    if (!runs) return gg_fail(GG_E_NOMEM, "report: out of memory");
    gg_status st = GG_OK;
    int nread = 0;
    for (int k = 0; k < n && !st; k++, nread++) {
        st = gg_run_read(&runs[k], run_dirs[k]);
        rs[k] = &runs[k];
    }
    /* runs of the same name (a/x and b/x) are named by their whole path */
    for (int k = 0; k < n && !st; k++)
        for (int q = 0; q < n; q++)
            if (q != k && strcmp(runs[k].name, runs[q].name) == 0 && strcmp(run_dirs[k], run_dirs[q]) != 0) {
                gg_run_show(runs[k].name, sizeof runs[k].name, run_dirs[k], strlen(run_dirs[k]));
                break;
            }
    gg_sb b = {0};
    if (!st) {
        char title[160];
        snprintf(title, sizeof title, "Comparison of %d runs \xe2\x80\x94 gradguard", n);
        page_begin(&b, title);
        gg_sb_printf(&b, "<header><h1>Comparison of %d run%s</h1><p class=\"sub\">", n, n == 1 ? "" : "s");
        for (int k = 0; k < n; k++) {
            if (k) gg_sb_puts(&b, " \xc2\xb7 ");
            gg_sb_htmls(&b, run_dirs[k]);
        }
        gg_sb_puts(&b, "</p></header>\n");
        compare_table(&b, rs, n);
        warnings(&b, rs, n);
        st = charts_1_to_4(&b, rs, n);
        if (!st) {
            page_end(&b);
            st = finish(&b, out_html);
        }
    }
    gg_sb_free(&b);
    for (int k = 0; k < nread; k++) gg_run_free(&runs[k]);
    free(runs);
    return st;
}

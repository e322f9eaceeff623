/* read.c - reading a run directory (run.h): metrics.csv, layers.csv,
 * events.jsonl, summary.json and config.yaml into a gg_run, with a warning
 * naming file and line for everything that could not be used. */
#include "run/run.h"

#include "core/error.h"
#include "core/file.h"
#include "io/json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX ((size_t)256 << 20) /* larger files are refused, not read */
#define WARN_KEEP 40                 /* warnings kept per run; the rest are counted */
#define MAX_TENSORS 4096
#define JSON_DEPTH_MAX 8

/* short names inside this file */
typedef gg_run run;
typedef gg_run_mrow mrow;
typedef gg_run_lrow lrow;
typedef gg_run_arow arow;
typedef gg_run_kv kv;
typedef gg_run_event event;

static int grow(void *pp, size_t *cap, size_t n, size_t size)
{
    void **p = (void **)pp;
    if (n < *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 64;
    if (nc > SIZE_MAX / size) return 0;
    void *q = realloc(*p, nc * size);
    if (!q) return 0;
    *p = q;
    *cap = nc;
    return 1;
}

static void warnf(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(run *r, const char *fmt, ...)
{
    if (r->nwarn >= WARN_KEEP) {
        r->warn_more++;
        return;
    }
    if (!r->warn && !(r->warn = calloc(WARN_KEEP, sizeof *r->warn))) {
        r->oom = 1;
        return;
    }
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!(r->warn[r->nwarn] = strndup(buf, strlen(buf)))) {
        r->oom = 1;
        return;
    }
    r->nwarn++;
}

/* Reads dir/name whole. 0: read; 1: absent; -1: unreadable (warned). */
static int slurp(run *r, const char *name, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t pl = strlen(r->dir) + strlen(name) + 2;
    char *path = malloc(pl);
    if (!path) {
        r->oom = 1;
        return -1;
    }
    snprintf(path, pl, "%s/%s", r->dir, name);
    int odd;
    FILE *f = gg_fopen_regular(path, &odd);
    free(path);
    if (!f && odd) {
        warnf(r, "%s: not a regular file", name);
        return -1;
    }
    if (!f) {
        if (errno == ENOENT) return 1;
        warnf(r, "%s: cannot open: %s", name, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        warnf(r, "%s: not a regular file", name);
        fclose(f);
        return -1;
    }
    if ((uint64_t)sb.st_size > FILE_MAX) {
        warnf(r, "%s: %lld bytes is over the report's limit of %zu MiB; file skipped", name, (long long)sb.st_size,
              FILE_MAX >> 20);
        fclose(f);
        return -1;
    }
    /* a running trainer may append meanwhile: read what was there at fstat */
    size_t want = (size_t)sb.st_size, got = 0;
    char *buf = malloc(want + 1);
    if (!buf) {
        r->oom = 1;
        fclose(f);
        return -1;
    }
    while (got < want) {
        size_t k = fread(buf + got, 1, want - got, f);
        if (k == 0) break;
        got += k;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        warnf(r, "%s: read error after %zu bytes", name, got);
        free(buf);
        return -1;
    }
    buf[got] = 0;
    *out = buf;
    *len = got;
    return 0;
}

/* The next line of [*p, end) without its "\n" or "\r\n"; 0 at the end. */
static int next_line(const char **p, const char *end, const char **line, size_t *len)
{
    if (*p >= end) return 0;
    const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (e > s && e[-1] == '\r') e--;
    *line = s;
    *len = (size_t)(e - s);
    return 1;
}

#define MAX_FIELDS 16

/* Splits a CSV line at commas (the run files quote nothing); returns the
 * number of fields, or MAX_FIELDS + 1 if there are more. */
static int split_csv(const char *s, size_t n, const char **f, size_t *fl)
{
    int k = 0;
    size_t a = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ',') {
            if (k == MAX_FIELDS) return MAX_FIELDS + 1;
            f[k] = s + a;
            fl[k++] = i - a;
            a = i + 1;
        }
    }
    return k;
}

/* A CSV number: empty is a missing value (NaN); otherwise a finite decimal
 * number and nothing else. 0 on success. */
static int csv_num(const char *s, size_t n, double *out)
{
    if (n == 0) {
        *out = NAN;
        return 0;
    }
    if (n > 63) return -1;
    char buf[64];
    memcpy(buf, s, n);
    buf[n] = 0;
    if (!(buf[0] == '-' || buf[0] == '+' || buf[0] == '.' || (buf[0] >= '0' && buf[0] <= '9'))) return -1;
    char *e;
    errno = 0;
    double v = strtod(buf, &e);
    if (e != buf + n || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

void gg_run_show(char *out, size_t cap, const char *s, size_t n)
{
    if (n > cap - 4) snprintf(out, cap, "%.*s...", (int)(cap - 4), s);
    else snprintf(out, cap, "%.*s", (int)n, s);
}

/* Maps the header's names to the expected columns: col[k] is the field
 * index of names[k], or -1. Returns the number of header fields, or -1 if
 * the line is no header (its first field is not names[0]). */
static int read_header(run *r, const char *file, const char *line, size_t len, const char *const *names, int nn,
                       int *col)
{
    const char *f[MAX_FIELDS];
    size_t fl[MAX_FIELDS];
    int nf = split_csv(line, len, f, fl);
    for (int k = 0; k < nn; k++) col[k] = -1;
    if (nf < 1 || nf > MAX_FIELDS || fl[0] != strlen(names[0]) || memcmp(f[0], names[0], fl[0]) != 0) return -1;
    for (int i = 0; i < nf; i++) {
        int k = 0;
        while (k < nn && !(strlen(names[k]) == fl[i] && memcmp(names[k], f[i], fl[i]) == 0)) k++;
        char sh[64];
        gg_run_show(sh, sizeof sh, f[i], fl[i]);
        if (k == nn) warnf(r, "%s line 1: unknown column '%s' ignored", file, sh);
        else if (col[k] >= 0) warnf(r, "%s line 1: column '%s' appears twice; the first is used", file, sh);
        else col[k] = i;
    }
    return nf;
}

/* ---- metrics.csv --------------------------------------------------------------------- */

static const char *const metric_cols[] = {"kind",     "step",     "epoch",        "loss",
                                          "accuracy", "lr",       "grad_norm",    "val_loss",
                                          "val_accuracy", "samples_per_second", "wall_seconds", "branch"};
#define NMETRIC 12
#define NMETRIC_V1 10 /* the columns before wall_seconds and branch */

/* Which rows a rollback discarded. A row's branch counts the rollbacks
 * before it, and a branch's first row is at the step training went back
 * to. A row of branch b at step s was discarded if a later branch began
 * before s; a "rollback" row (a branch's end) always was. */
static void mark_rolled_back(run *r)
{
    double maxb = 0;
    mrow *sets[3] = {r->st, r->ep, r->rt};
    size_t ns[3] = {r->nst, r->nep, r->nrt};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < ns[k]; i++) maxb = fmax(maxb, sets[k][i].branch);
    if (maxb < 1) return;
    size_t nb = (size_t)maxb + 2;
    double *start = malloc(nb * sizeof *start);
    long *first = malloc(nb * sizeof *first);
    if (!start || !first) {
        free(start);
        free(first);
        r->oom = 1;
        return;
    }
    for (size_t b = 0; b < nb; b++) start[b] = INFINITY, first[b] = LONG_MAX;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < ns[k]; i++) {
            size_t b = (size_t)sets[k][i].branch;
            if (sets[k][i].seq < first[b]) first[b] = sets[k][i].seq, start[b] = sets[k][i].step;
        }
    /* start[b]: the earliest step any branch from b on went back to */
    start[0] = INFINITY;
    for (size_t b = nb - 1; b-- > 1;) start[b] = fmin(start[b], start[b + 1]);
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < ns[k]; i++) {
            mrow *m = &sets[k][i];
            /* a rate row at the step a later branch began at is replaced by that branch's */
            double from = start[(size_t)m->branch + 1];
            m->rb = m->rate == 2 || m->step > from || (m->rate == 1 && m->step >= from);
            r->nrb += (size_t)m->rb;
        }
    free(start);
    free(first);
}

static void read_metrics(run *r)
{
    char *text;
    size_t len;
    int rc = slurp(r, "metrics.csv", &text, &len);
    if (rc == 1) warnf(r, "metrics.csv: not found; the loss, accuracy, learning-rate and gradient charts are empty");
    if (rc) return;
    r->have_metrics = 1;
    const char *p = text, *end = text + len, *line;
    size_t ll;
    int col[NMETRIC], nhead = NMETRIC;
    long lineno = 0;
    int header_done = 0;
    while (next_line(&p, end, &line, &ll)) {
        lineno++;
        if (!header_done) {
            header_done = 1;
            nhead = read_header(r, "metrics.csv", line, ll, metric_cols, NMETRIC, col);
            if (nhead >= 0) {
                if (col[0] < 0 || col[1] < 0) {
                    warnf(r, "metrics.csv line 1: the header lacks 'kind' or 'step'; file skipped");
                    break;
                }
                continue;
            }
            warnf(r, "metrics.csv line 1: no header; the standard columns are assumed");
            nhead = -1;
            for (int k = 0; k < NMETRIC; k++) col[k] = k;
        }
        if (ll == 0) continue;
        const char *f[MAX_FIELDS];
        size_t fl[MAX_FIELDS];
        int nf = split_csv(line, ll, f, fl);
        if (nhead < 0) { /* no header: the columns of either version */
            col[10] = nf == NMETRIC ? 10 : -1;
            col[11] = nf == NMETRIC ? 11 : -1;
        }
        if (nhead < 0 && (nf == NMETRIC || nf == NMETRIC_V1)) nhead = nf;
        if (nf != nhead) {
            warnf(r, "metrics.csv line %ld: %s%d fields where the header has %d; line skipped", lineno,
                  nf > MAX_FIELDS ? "more than " : "", nf > MAX_FIELDS ? MAX_FIELDS : nf,
                  nhead < 0 ? NMETRIC_V1 : nhead);
            continue;
        }
        double v[NMETRIC];
        int bad = -1;
        for (int k = 1; k < NMETRIC && bad < 0; k++) {
            v[k] = NAN;
            if (col[k] >= 0 && csv_num(f[col[k]], fl[col[k]], &v[k])) bad = k;
        }
        if (bad >= 0) {
            char sh[64];
            gg_run_show(sh, sizeof sh, f[col[bad]], fl[col[bad]]);
            warnf(r, "metrics.csv line %ld: column '%s': '%s' is not a number; line skipped", lineno, metric_cols[bad],
                  sh);
            continue;
        }
        if (!(v[1] >= 0)) {
            warnf(r, "metrics.csv line %ld: the step is missing or negative; line skipped", lineno);
            continue;
        }
        const char *kind = f[col[0]];
        size_t kl = fl[col[0]];
        int is_step = kl == 4 && memcmp(kind, "step", 4) == 0, is_epoch = kl == 5 && memcmp(kind, "epoch", 5) == 0;
        int rate = kl == 2 && memcmp(kind, "lr", 2) == 0 ? 1 : kl == 8 && memcmp(kind, "rollback", 8) == 0 ? 2 : 0;
        if (!is_step && !is_epoch && !rate) {
            char sh[64];
            gg_run_show(sh, sizeof sh, kind, kl);
            warnf(r, "metrics.csv line %ld: kind '%s' is none of step, epoch, lr, rollback; line skipped", lineno, sh);
            continue;
        }
        if (!(isnan(v[11]) || (v[11] >= 0 && v[11] < 1e6 && v[11] == floor(v[11])))) {
            warnf(r, "metrics.csv line %ld: the branch is not a whole number in [0, 1e6); line skipped", lineno);
            continue;
        }
        mrow m = {v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], isnan(v[11]) ? 0 : v[11], lineno, rate, 0};
        if (rate) {
            if (!grow(&r->rt, &r->crt, r->nrt, sizeof *r->rt)) {
                r->oom = 1;
                break;
            }
            r->rt[r->nrt++] = m;
        } else if (is_step) {
            if (!grow(&r->st, &r->cst, r->nst, sizeof *r->st)) {
                r->oom = 1;
                break;
            }
            r->st[r->nst++] = m;
        } else {
            if (!grow(&r->ep, &r->cep, r->nep, sizeof *r->ep)) {
                r->oom = 1;
                break;
            }
            r->ep[r->nep++] = m;
        }
    }
    if (lineno == 0) warnf(r, "metrics.csv: empty");
    free(text);
    mark_rolled_back(r);
}

/* ---- layers.csv ------------------------------------------------------------------------- */

/* dead_fraction and saturated_fraction (the quiet monitor's share of dead
 * and saturated units) are known but not drawn: empty for tensors that are
 * not an activation's. head, max_logit, entropy: the rows of attention
 * heads; log_z: the output row. Older files lack the last four. */
static const char *const layer_cols[] = {"step",        "tensor",       "layer",         "grad_norm",
                                         "weight_norm", "update_norm",  "update_ratio",  "dead_fraction",
                                         "saturated_fraction", "head", "max_logit", "entropy", "log_z"};
#define NLAYERCOL 13
#define NLAYERNUM 7 /* columns read as numbers, and those from C_HEAD on */
enum { C_HEAD = 9, C_MAXLOGIT, C_ENTROPY, C_LOGZ };

/* Series index of "layer head h", added if new; -1 out of memory. */
static int intern_head(run *r, const char *layer, size_t ln, int head)
{
    char nm[160];
    snprintf(nm, sizeof nm, "%.*s head %d", (int)(ln < 100 ? ln : 100), layer, head);
    for (int i = 0; i < r->nan_; i++)
        if (strcmp(r->aname[i], nm) == 0) return i;
    size_t c = (size_t)r->can_;
    if (!grow(&r->aname, &c, (size_t)r->nan_, sizeof *r->aname)) return -1;
    r->can_ = (int)c;
    if (!(r->aname[r->nan_] = strndup(nm, strlen(nm)))) return -1;
    return r->nan_++;
}

static int intern_layer(run *r, const char *s, size_t n)
{
    for (int i = r->nly - 1; i >= 0; i--)
        if (strlen(r->lname[i]) == n && memcmp(r->lname[i], s, n) == 0) return i;
    size_t c = (size_t)r->cly;
    if (!grow(&r->lname, &c, (size_t)r->nly, sizeof *r->lname)) return -1;
    r->cly = (int)c;
    if (!(r->lname[r->nly] = strndup(s, n))) return -1;
    return r->nly++;
}

/* Tensor index of a name; rows come in the model's order, so the tensor
 * after the previous one is tried first and the lookup is O(1) in practice. */
static int intern_tensor(run *r, const char *s, size_t n, const char *layer, size_t ln, int *hint)
{
    for (int k = 0; k < 2 && r->nt > 0; k++) {
        int i = (*hint + 1 - k + r->nt) % r->nt;
        if (strlen(r->tname[i]) == n && memcmp(r->tname[i], s, n) == 0) return *hint = i;
    }
    for (int i = 0; i < r->nt; i++)
        if (strlen(r->tname[i]) == n && memcmp(r->tname[i], s, n) == 0) return *hint = i;
    if (r->nt == MAX_TENSORS) return -2;
    size_t c = (size_t)r->ct;
    if (!grow(&r->tname, &c, (size_t)r->nt, sizeof *r->tname)) return -1;
    size_t c2 = (size_t)r->ct;
    if (!grow(&r->tlayer, &c2, (size_t)r->nt, sizeof *r->tlayer)) return -1;
    r->ct = (int)(c < c2 ? c : c2);
    if (!(r->tname[r->nt] = strndup(s, n))) return -1;
    /* a tensor without a layer is its own layer */
    int li = ln ? intern_layer(r, layer, ln) : intern_layer(r, s, n);
    if (li < 0) {
        free(r->tname[r->nt]);
        return -1;
    }
    r->tlayer[r->nt] = li;
    return *hint = r->nt++;
}

static void read_layers(run *r)
{
    char *text;
    size_t len;
    if (slurp(r, "layers.csv", &text, &len)) return;
    r->have_layers = 1;
    const char *p = text, *end = text + len, *line;
    size_t ll;
    int col[NLAYERCOL], nhead = -1, hint = -1, over = 0;
    long lineno = 0;
    while (next_line(&p, end, &line, &ll)) {
        lineno++;
        if (lineno == 1) {
            nhead = read_header(r, "layers.csv", line, ll, layer_cols, NLAYERCOL, col);
            if (nhead < 0 || col[1] < 0) {
                warnf(r, "layers.csv line 1: expected the header 'step,tensor,layer,...'; file skipped");
                r->have_layers = 0;
                break;
            }
            continue;
        }
        if (ll == 0) continue;
        const char *f[MAX_FIELDS];
        size_t fl[MAX_FIELDS];
        int nf = split_csv(line, ll, f, fl);
        if (nf != nhead) {
            warnf(r, "layers.csv line %ld: %s%d fields where the header has %d; line skipped", lineno,
                  nf > MAX_FIELDS ? "more than " : "", nf > MAX_FIELDS ? MAX_FIELDS : nf, nhead);
            continue;
        }
        double v[NLAYERCOL];
        int bad = -1;
        for (int k = 0; k < NLAYERCOL && bad < 0; k++) {
            v[k] = NAN;
            if (k == 1 || k == 2 || (k >= NLAYERNUM && k < C_HEAD) || col[k] < 0) continue;
            if (csv_num(f[col[k]], fl[col[k]], &v[k])) bad = k;
        }
        if (bad >= 0) {
            char sh[64];
            gg_run_show(sh, sizeof sh, f[col[bad]], fl[col[bad]]);
            warnf(r, "layers.csv line %ld: column '%s': '%s' is not a number; line skipped", lineno, layer_cols[bad],
                  sh);
            continue;
        }
        if (!(v[0] >= 0) || fl[col[1]] == 0) {
            warnf(r, "layers.csv line %ld: the step or tensor name is missing; line skipped", lineno);
            continue;
        }
        if (isfinite(v[C_HEAD]) || isfinite(v[C_LOGZ])) {
            /* an attention head's row, or the output's */
            int si = -1;
            if (isfinite(v[C_HEAD])) {
                si = intern_head(r, col[2] >= 0 ? f[col[2]] : "", col[2] >= 0 ? fl[col[2]] : 0, (int)v[C_HEAD]);
                if (si < 0) {
                    r->oom = 1;
                    break;
                }
            }
            if (!grow(&r->ar, &r->ca, r->na, sizeof *r->ar)) {
                r->oom = 1;
                break;
            }
            r->ar[r->na++] = si >= 0 ? (arow){v[0], (float)v[C_MAXLOGIT], (float)v[C_ENTROPY], si}
                                     : (arow){v[0], (float)v[C_LOGZ], NAN, -1};
            continue;
        }
        int ti = intern_tensor(r, f[col[1]], fl[col[1]], col[2] >= 0 ? f[col[2]] : "", col[2] >= 0 ? fl[col[2]] : 0,
                               &hint);
        if (ti == -1) {
            r->oom = 1;
            break;
        }
        if (ti == -2) {
            if (!over++)
                warnf(r, "layers.csv line %ld: more than %d tensors; the rest are left out", lineno, MAX_TENSORS);
            continue;
        }
        if (!grow(&r->lr, &r->cl, r->nl, sizeof *r->lr)) {
            r->oom = 1;
            break;
        }
        r->lr[r->nl++] = (lrow){v[0], (float)v[3], (float)v[4], (float)v[5], ti};
    }
    free(text);
}


/* ---- JSON values ------------------------------------------------------------------ */

/* Nesting depth of v: 0 for a scalar. */
static int depth_of(const json_t *v)
{
    int d = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c) {
            int e = depth_of(c);
            if (e > d) d = e;
        }
        return d + 1;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int e = depth_of(json_array_get(v, i));
            if (e > d) d = e;
        }
        return d + 1;
    }
    return 0;
}

/* A real in its shortest form that reads back as the same double, with
 * ".0" when that looks like an integer (how it was written: the trainer's
 * %.9g reads back unchanged, and so does Python's repr). */
static void real_text(char *buf, size_t cap, double v)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) {
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, ".0");
    }
}

static int kv_add(run *r, const char *key, const json_t *v)
{
    char num[40];
    const char *text;
    int type;
    double x = NAN;
    if (json_is_string(v)) type = GG_RUN_STR, text = json_string_value(v);
    else if (json_is_integer(v)) {
        type = GG_RUN_NUM;
        x = (double)json_integer_value(v);
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        text = num;
    } else if (json_is_real(v)) {
        type = GG_RUN_NUM;
        x = json_real_value(v);
        real_text(num, sizeof num, x);
        text = num;
    } else if (json_is_boolean(v)) {
        type = GG_RUN_BOOL;
        x = json_is_true(v);
        text = json_is_true(v) ? "true" : "false";
    } else {
        type = GG_RUN_NULL;
        text = "null";
    }
    if (!grow(&r->sum, &r->csum, r->nsum, sizeof *r->sum)) return -1;
    char *k = strndup(key, strlen(key)), *t = strndup(text, strlen(text));
    if (!k || !t) {
        free(k);
        free(t);
        return -1;
    }
    r->sum[r->nsum++] = (kv){k, t, type, x};
    return 0;
}

/* The summary's values flattened into key paths ("guard.clipped", "a.0"),
 * in the file's order. */
static int flatten(run *r, const char *prefix, const json_t *v)
{
    char key[160];
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c) {
            snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
            if (flatten(r, key, c)) return -1;
        }
        return 0;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            snprintf(key, sizeof key, "%s.%zu", prefix, i);
            if (flatten(r, key, json_array_get(v, i))) return -1;
        }
        return 0;
    }
    return kv_add(r, prefix, v);
}

static char *get_str(run *r, const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    char *d = strndup(s, strlen(s));
    if (!d) r->oom = 1;
    return d;
}

static double get_num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* ---- events.jsonl --------------------------------------------------------------------- */

static void read_events(run *r)
{
    char *text;
    size_t len;
    int rc = slurp(r, "events.jsonl", &text, &len);
    if (rc) return;
    r->have_events = 1;
    const char *p = text, *end = text + len, *line;
    size_t ll;
    long lineno = 0;
    while (next_line(&p, end, &line, &ll)) {
        lineno++;
        size_t i = 0;
        while (i < ll && (line[i] == ' ' || line[i] == '\t')) i++;
        if (i == ll) continue;
        gg_json_err je;
        json_t *o = gg_json_parse(line, ll, "the object", &je);
        if (o && (!json_is_object(o) || depth_of(o) > JSON_DEPTH_MAX)) {
            snprintf(je.msg, sizeof je.msg, "%s", json_is_object(o) ? "nested too deeply" : "expected a JSON object");
            je.col = (long)i + 1;
            json_decref(o);
            o = NULL;
        }
        if (!o) {
            warnf(r, "events.jsonl line %ld, column %ld: %s; line skipped", lineno, je.col, je.msg);
            continue;
        }
        const json_t *type = json_object_get(o, "type"), *step = json_object_get(o, "step");
        const json_t *val = json_object_get(o, "value"), *th = json_object_get(o, "threshold");
        const char *bad = NULL;
        if (!json_is_string(type)) bad = "no \"type\" string";
        else if (!json_is_number(step) || !(json_number_value(step) >= 0)) bad = "no \"step\" number";
        else if ((val && !json_is_number(val) && !json_is_null(val)) || (th && !json_is_number(th) && !json_is_null(th)))
            bad = "\"value\" and \"threshold\" must be numbers or null";
        if (bad) {
            warnf(r, "events.jsonl line %ld: %s; line skipped", lineno, bad);
            json_decref(o);
            continue;
        }
        if (!grow(&r->ev, &r->cev, r->nev, sizeof *r->ev)) {
            r->oom = 1;
            json_decref(o);
            break;
        }
        event *e = &r->ev[r->nev++];
        e->guard = strcmp(json_string_value(type), "guard") == 0;
        e->step = json_number_value(step);
        e->epoch = get_num(o, "epoch");
        e->value = get_num(o, "value");
        e->threshold = get_num(o, "threshold");
        e->type = get_str(r, o, "type");
        e->signal = get_str(r, o, "signal");
        e->action = get_str(r, o, "action");
        e->detail = get_str(r, o, "detail");
        if (e->guard) r->nguard++;
        json_decref(o);
    }
    free(text);
}

/* ---- summary.json and config.yaml ------------------------------------------------------- */

static void read_summary(run *r)
{
    char *text;
    size_t len;
    int rc = slurp(r, "summary.json", &text, &len);
    if (rc == 1) warnf(r, "summary.json: not found (the run is still going, or it ended before writing it)");
    if (rc) return;
    gg_json_err je;
    json_t *o = gg_json_parse(text, len, "the object", &je);
    if (o && (!json_is_object(o) || depth_of(o) > JSON_DEPTH_MAX)) {
        snprintf(je.msg, sizeof je.msg, "%s", json_is_object(o) ? "nested too deeply" : "expected a JSON object");
        je.line = je.col = 1;
        json_decref(o);
        o = NULL;
    }
    if (!o) {
        warnf(r, "summary.json line %ld, column %ld: %s; summary not shown", je.line, je.col, je.msg);
    } else if (flatten(r, "", o)) {
        r->oom = 1;
    } else {
        r->have_summary = 1;
    }
    json_decref(o);
    free(text);
}

double gg_run_sum_num(const gg_run *r, const char *key)
{
    for (size_t i = 0; i < r->nsum; i++)
        if (strcmp(r->sum[i].key, key) == 0) return r->sum[i].type == GG_RUN_NUM ? r->sum[i].num : NAN;
    return NAN;
}

const char *gg_run_sum_str(const gg_run *r, const char *key)
{
    for (size_t i = 0; i < r->nsum; i++)
        if (strcmp(r->sum[i].key, key) == 0) return r->sum[i].type == GG_RUN_STR ? r->sum[i].text : NULL;
    return NULL;
}

static void read_config(run *r)
{
    char *text;
    size_t len;
    int rc = slurp(r, "config.yaml", &text, &len);
    if (rc == 1) warnf(r, "config.yaml: not found");
    if (rc) return;
    r->have_config = 1;
    r->config = text;
    r->config_len = len;
    /* the clip threshold, when clipping is by global norm */
    gg_cfg *cfg = NULL;
    if (gg_cfg_parse(text, len, "config.yaml", &cfg)) {
        warnf(r, "%s", gg_errmsg());
        return;
    }
    gg_cfg_node *g = gg_cfg_get(gg_cfg_root(cfg), "guard");
    if (g && gg_cfg_node_type(g) == GG_CFG_MAP) {
        gg_guard_config d = gg_guard_defaults();
        int enabled = d.enabled;
        double max_norm = d.max_norm;
        const char *clip = gg_clip_name(d.clip);
        if (gg_cfg_bool(g, "enabled", &enabled) || gg_cfg_str(g, "clip", &clip) ||
            gg_cfg_float(g, "max_norm", 1e-12, 1e12, &max_norm))
            warnf(r, "%s", gg_errmsg());
        else if (enabled && clip && strcmp(clip, "norm") == 0)
            r->clip = max_norm;
    }
    gg_cfg_free(cfg);
}

void gg_run_free(gg_run *r)
{
    free(r->st);
    free(r->ep);
    free(r->rt);
    free(r->lr);
    free(r->ar);
    for (int i = 0; i < r->nan_; i++) free(r->aname[i]);
    free(r->aname);
    for (int i = 0; i < r->nt; i++) free(r->tname[i]);
    free(r->tname);
    free(r->tlayer);
    for (int i = 0; i < r->nly; i++) free(r->lname[i]);
    free(r->lname);
    for (size_t i = 0; i < r->nev; i++) {
        free(r->ev[i].type);
        free(r->ev[i].signal);
        free(r->ev[i].action);
        free(r->ev[i].detail);
    }
    free(r->ev);
    for (size_t i = 0; i < r->nsum; i++) {
        free(r->sum[i].key);
        free(r->sum[i].text);
    }
    free(r->sum);
    free(r->config);
    for (int i = 0; i < r->nwarn; i++) free(r->warn[i]);
    free(r->warn);
}

/* The directory's last component ("runs/mlp/" -> "mlp"). */
static void base_name(const char *dir, char *out, size_t cap)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t a = n;
    while (a > 0 && dir[a - 1] != '/') a--;
    if (n - a == 0 || (n - a == 1 && dir[a] == '.')) a = 0;
    gg_run_show(out, cap, dir + a, n - a);
}

gg_status gg_run_read(gg_run *r, const char *dir)
{
    memset(r, 0, sizeof *r);
    r->dir = dir;
    r->clip = NAN;
    base_name(dir, r->name, sizeof r->name);
    struct stat sb;
    if (stat(dir, &sb) != 0) return gg_fail(GG_E_IO, "report: run directory '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return gg_fail(GG_E_IO, "report: '%s' is not a directory", dir);
    /* a run directory has at least one of the files a run writes as it
     * starts or ends; a page of "not found" for any other directory (and a
     * report.html left in it) would help no one */
    static const char *const marks[] = {"config.yaml", "metrics.csv", "events.jsonl", "summary.json"};
    int found = 0;
    for (int i = 0; i < 4 && !found; i++) {
        size_t pl = strlen(dir) + strlen(marks[i]) + 2;
        char *p = malloc(pl);
        if (!p) return gg_fail(GG_E_NOMEM, "report: out of memory");
        snprintf(p, pl, "%s/%s", dir, marks[i]);
        found = access(p, F_OK) == 0;
        free(p);
    }
    if (!found)
        return gg_fail(GG_E_IO,
                       "report: '%s' is not a run directory: it has none of config.yaml, metrics.csv, events.jsonl, "
                       "summary.json (gradguard train writes them)",
                       dir);
    read_metrics(r);
    read_layers(r);
    read_events(r);
    read_summary(r);
    read_config(r);
    if (r->oom) return gg_fail(GG_E_NOMEM, "report: out of memory reading '%s'", dir);
    return GG_OK;
}


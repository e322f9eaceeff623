/* csv.c - comma-separated numbers, plain or gzip.
 *
 * One sample per line; an optional header line names the columns. Fields
 * may be quoted ("a, b" and "" for a quote inside), but a quoted field may
 * not span lines. Blank lines are skipped, \r\n endings and a UTF-8 byte
 * order mark are accepted. Every cell is a number parsed with strtod and
 * checked to the end of the cell and to the float32 range; NaN and Inf are
 * refused. Messages give the file, the 1-based line and column, the
 * column's name when there is a header, and the cell's text. */
#include "data.h"
#include "../core/error.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv_ctx {
    const char *path;
    char **name;  /* header names (NUL-terminated in the buffer), or NULL */
    long line;    /* 1-based line being parsed */
} csv_ctx;

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* Splits the line [p, end) into fields, NUL-terminating each in place (the
 * comma or closing quote after it is overwritten) and unescaping "" in
 * quoted ones. Stores up to maxf field starts in f; returns the number of
 * fields, or -1 with *bad set to the 1-based column of a quoting error. */
static long split(char *p, char *end, char **f, long maxf, long *bad, const char **why)
{
    long k = 0;
    for (;;) {
        while (p < end && is_blank(*p)) p++;
        char *s = p, *e;
        if (p < end && *p == '"') {
            char *w = ++p;
            s = w;
            for (;;) {
                if (p >= end) {
                    *bad = k + 1;
                    *why = "unterminated quote (a quoted field may not span lines)";
                    return -1;
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    break;
                }
                *w++ = *p++;
            }
            e = w;
            p++; /* the closing quote */
            while (p < end && is_blank(*p)) p++;
            if (p < end && *p != ',') {
                *bad = k + 1;
                *why = "text after a closing quote";
                return -1;
            }
        } else {
            while (p < end && *p != ',') p++;
            e = p;
            while (e > s && is_blank(e[-1])) e--;
        }
        if (k < maxf) f[k] = s;
        k++;
        int more = p < end; /* p is at a comma */
        *e = '\0';
        if (!more) return k;
        p++;
    }
}

static void col_name(const csv_ctx *c, long col, char *buf, size_t cap)
{
    if (c->name)
        snprintf(buf, cap, " ('%.48s')", c->name[col]);
    else
        buf[0] = '\0';
}

/* The cell text s of column col (0-based) as a finite float32. */
static gg_status cell(const csv_ctx *c, long col, const char *s, float *out)
{
    char nm[64];
    if (!*s) {
        col_name(c, col, nm, sizeof nm);
        return gg_fail(GG_E_FORMAT, "%s: line %ld, column %ld%s: empty cell", c->path, c->line, col + 1, nm);
    }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    /* decimal only: strtod also takes hex ("0x1A" as 26), which no CSV writer means */
    if (end == s || *end || strpbrk(s, "xX")) {
        col_name(c, col, nm, sizeof nm);
        return gg_fail(GG_E_FORMAT, "%s: line %ld, column %ld%s: '%.40s' is not a number", c->path, c->line, col + 1,
                       nm, s);
    }
    if ((errno == ERANGE && isinf(v)) || (isfinite(v) && fabs(v) > FLT_MAX)) {
        col_name(c, col, nm, sizeof nm);
        return gg_fail(GG_E_FORMAT, "%s: line %ld, column %ld%s: '%.40s' is out of the float32 range", c->path,
                       c->line, col + 1, nm, s);
    }
    if (!isfinite(v)) {
        col_name(c, col, nm, sizeof nm);
        return gg_fail(GG_E_NONFINITE, "%s: line %ld, column %ld%s: '%.40s' is not finite (NaN or Inf are refused)",
                       c->path, c->line, col + 1, nm, s);
    }
    *out = (float)v;
    return GG_OK;
}

/* Next line from *p: [*ls, *le) without its \r\n; returns 0 at the end. */
static int next_line(char **p, char *end, char **ls, char **le)
{
    if (*p >= end) return 0;
    char *s = *p;
    char *nl = memchr(s, '\n', (size_t)(end - s));
    char *e = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (e > s && e[-1] == '\r') e--;
    *ls = s;
    *le = e;
    return 1;
}

static int blank_line(const char *s, const char *e)
{
    for (; s < e; s++)
        if (!is_blank(*s)) return 0;
    return 1;
}

/* The label column (0-based) named or numbered by spec, or -1 for none. */
static gg_status find_label(const csv_ctx *c, const char *spec, long ncol, long *out)
{
    *out = -1;
    if (!spec) return GG_OK;
    if (c->name)
        for (long i = 0; i < ncol; i++)
            if (strcmp(c->name[i], spec) == 0) {
                /* a name given to two columns leaves the label ambiguous */
                for (long j = i + 1; j < ncol; j++)
                    if (strcmp(c->name[j], spec) == 0)
                        return gg_fail(GG_E_FORMAT, "%s: line 1: the header names columns %ld and %ld '%s': which is "
                                       "the label? (give its 0-based index as data.label)", c->path, i + 1, j + 1, spec);
                *out = i;
                return GG_OK;
            }
    errno = 0;
    char *end;
    long v = strtol(spec, &end, 10);
    if (*spec && end != spec && !*end && errno == 0) {
        if (v < -ncol || v >= ncol)
            return gg_fail(GG_E_ARG, "%s: label column %ld is out of range: the file has %ld columns (0..%ld, or -1..-%ld)",
                           c->path, v, ncol, ncol - 1, ncol);
        *out = v < 0 ? ncol + v : v;
        return GG_OK;
    }
    if (!c->name)
        return gg_fail(GG_E_ARG, "%s: label column '%s' is a name, but the file is read without a header; give a "
                       "0-based index", c->path, spec);
    char cols[200];
    size_t k = 0;
    for (long i = 0; i < ncol && k + 1 < sizeof cols; i++)
        k += (size_t)snprintf(cols + k, sizeof cols - k, "%s%s", i ? ", " : "", c->name[i]);
    return gg_fail(GG_E_ARG, "%s: no column named '%s' in the header (line 1: %s)", c->path, spec, cols);
}

/* One function (about 160 lines): one pass over the file's bytes in stages
 * (the first line fixes the columns, the header names them, the rows are
 * counted, then parsed into the data set) that share the cursor, the column
 * count, the field array and the line numbers the messages name, with one
 * `fail` that releases the buffer, the fields and a half-filled data set;
 * the helpers above hold everything that needs none of that. */
gg_status gg_dataset_load_csv(gg_dataset *ds, const char *path, const char *label_col, int has_header)
{
    if (!ds) return gg_fail(GG_E_ARG, "gg_dataset_load_csv: NULL data set");
    memset(ds, 0, sizeof *ds);
    gg_reader r;
    gg_status st = gg_reader_open(&r, path);
    if (st) return st;
    char *buf = NULL;
    size_t len = 0;
    st = gg_reader_slurp(&r, GG_DATA_MAX_BYTES, &buf, &len);
    gg_reader_close(&r);
    if (st) return st;
    /* strtod stops at a NUL: a binary file would parse partly */
    const char *nul = memchr(buf, '\0', len);
    if (nul) {
        st = gg_fail(GG_E_FORMAT, "%s: a NUL byte at byte offset %zu: not a text file", path, (size_t)(nul - buf));
        free(buf);
        return st;
    }
    char **f = NULL, **names = NULL;
    csv_ctx c = {path, NULL, 0};
    char *p = buf, *end = buf + len, *ls, *le;
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) p += 3;
    /* the first non-blank line fixes the column count */
    long ncol = 0, bad = 0;
    const char *why = NULL;
    char *first = NULL, *first_end = NULL;
    long first_line = 0;
    for (long ln = 1; next_line(&p, end, &ls, &le); ln++)
        if (!blank_line(ls, le)) {
            first = ls;
            first_end = le;
            first_line = ln;
            break;
        }
    if (!first) {
        st = gg_fail(GG_E_FORMAT, "%s: no data (the file is empty)", path);
        goto fail;
    }
    char *rest = p;
    /* count the fields on a copy: split writes into the line it splits */
    {
        size_t n1 = (size_t)(first_end - first);
        char *tmp = malloc(n1 + 1);
        if (!tmp) {
            st = gg_fail(GG_E_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        memcpy(tmp, first, n1);
        tmp[n1] = '\0';
        ncol = split(tmp, tmp + n1, NULL, 0, &bad, &why);
        free(tmp);
        if (ncol < 0) {
            st = gg_fail(GG_E_FORMAT, "%s: line %ld, column %ld: %s", path, first_line, bad, why);
            goto fail;
        }
    }
    f = malloc((size_t)(ncol + 1) * sizeof *f);
    if (!f) {
        st = gg_fail(GG_E_NOMEM, "%s: out of memory for %ld columns", path, ncol);
        goto fail;
    }
    /* the data rows: every non-blank line after the header */
    size_t rows = 0;
    for (char *q = has_header ? rest : first; next_line(&q, end, &ls, &le);) rows += !blank_line(ls, le);
    c.line = first_line;
    if (has_header) {
        names = malloc((size_t)ncol * sizeof *names);
        if (!names) {
            st = gg_fail(GG_E_NOMEM, "%s: out of memory for %ld column names", path, ncol);
            goto fail;
        }
        long k = split(first, first_end, names, ncol, &bad, &why);
        if (k < 0) {
            st = gg_fail(GG_E_FORMAT, "%s: line %ld, column %ld: %s", path, c.line, bad, why);
            goto fail;
        }
        (void)k; /* the same line as counted above */
        c.name = names;
    }
    long lab = -1;
    st = find_label(&c, label_col, ncol, &lab);
    if (st) goto fail;
    size_t per = (size_t)(ncol - (lab >= 0));
    if (per == 0) {
        st = gg_fail(GG_E_FORMAT, "%s: no feature columns: the only column is the label", path);
        goto fail;
    }
    if (rows == 0) {
        st = gg_fail(GG_E_FORMAT, "%s: no data rows%s", path, has_header ? " after the header" : "");
        goto fail;
    }
    uint64_t fbytes;
    if (!gg_mul_ok(rows, per * sizeof(float), &fbytes) || fbytes > GG_DATA_MAX_BYTES) {
        st = gg_fail(GG_E_NOMEM, "%s: %zu rows of %zu features are over the limit of %llu bytes", path, rows, per,
                     (unsigned long long)GG_DATA_MAX_BYTES);
        goto fail;
    }
    ds->f32 = malloc((size_t)fbytes);
    if (lab >= 0) {
        ds->labels = malloc(rows * sizeof(float));
        ds->origin = malloc(rows * sizeof *ds->origin); /* each label's line, for messages */
        ds->origin_is_line = 1;
    }
    if (!ds->f32 || (lab >= 0 && (!ds->labels || !ds->origin))) {
        st = gg_fail(GG_E_NOMEM, "%s: out of memory for %zu rows of %zu features", path, rows, per);
        goto fail;
    }
    long hdr_cols = ncol;
    size_t row = 0;
    p = has_header ? rest : first;
    for (long ln = has_header ? first_line + 1 : first_line; next_line(&p, end, &ls, &le); ln++) {
        if (blank_line(ls, le)) continue;
        c.line = ln;
        long k = split(ls, le, f, ncol + 1, &bad, &why);
        if (k < 0) {
            st = gg_fail(GG_E_FORMAT, "%s: line %ld, column %ld: %s", path, ln, bad, why);
            goto fail;
        }
        if (k != hdr_cols) {
            st = gg_fail(GG_E_FORMAT, "%s: line %ld: ragged row: %ld fields, but line %ld has %ld", path, ln, k,
                         first_line, hdr_cols);
            goto fail;
        }
        float *x = ds->f32 + row * per;
        for (long j = 0; j < ncol; j++) {
            float v = 0;
            st = cell(&c, j, f[j], &v);
            if (st) goto fail;
            if (j == lab) {
                ds->labels[row] = v;
                ds->origin[row] = (size_t)ln;
            }
            else
                *x++ = v;
        }
        row++;
    }
    ds->n = row;
    ds->ndim = 1;
    ds->shape[0] = (int)per;
    ds->per = per;
    ds->scale = 1;
    ds->label_per = lab >= 0 ? 1 : 0;
    snprintf(ds->source, sizeof ds->source, "%s", path);
    st = gg_dataset_finish(ds, path);
    if (st) goto fail;
    free(f);
    free(names);
    free(buf);
    return GG_OK;
fail:
    free(f);
    free(names);
    free(buf);
    gg_dataset_free(ds);
    return st;
}

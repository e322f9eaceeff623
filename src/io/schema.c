/*
 * schema.c - reading, defaults, checks and docs from config key tables
 * (schema.h). The typed reading itself is config.c's getters; this file
 * walks the rows, puts the values into the struct at each row's offset and
 * knows which keys a section has.
 */
#include "schema.h"

#include "../core/error.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAMES_MAX 64 /* names of one ENUM row */

#define TRY(call)                                                                                                      \
    do {                                                                                                               \
        gg_status s_ = (call);                                                                                         \
        if (s_) return s_;                                                                                             \
    } while (0)

const char *gg_schema_name(const gg_key *k, int i)
{
    if (i < 0 || i >= k->nnames) return NULL;
    return k->names ? k->names[i] : k->name_of ? k->name_of(i) : NULL;
}

static long to_long(double v)
{
    if (v >= (double)LONG_MAX) return LONG_MAX;
    if (v <= (double)LONG_MIN) return LONG_MIN;
    return (long)v;
}

static void set_text(char *dst, size_t cap, const char *src)
{
    if (cap) snprintf(dst, cap, "%s", src ? src : "");
}

void gg_schema_defaults(const gg_key *rows, void *base)
{
    for (const gg_key *k = rows; k->key; k++) {
        char *p = (char *)base + k->off;
        switch (k->type) {
        case GG_KEY_INT:
        case GG_KEY_BOOL:
        case GG_KEY_ENUM: *(int *)p = (int)k->def; break;
        case GG_KEY_LONG: *(long *)p = to_long(k->def); break;
        case GG_KEY_U64: *(uint64_t *)p = (uint64_t)k->def; break;
        case GG_KEY_F32: *(float *)p = (float)k->def; break;
        case GG_KEY_F64: *(double *)p = k->def; break;
        case GG_KEY_NAME: set_text(p, k->size, k->sdef ? k->sdef : gg_schema_name(k, (int)k->def)); break;
        case GG_KEY_STR:
        case GG_KEY_PATH: set_text(p, k->size, k->sdef); break;
        case GG_KEY_MAP:
        case GG_KEY_INCLUDE: gg_schema_defaults(k->sub, p); break;
        case GG_KEY_LIST: break;
        }
    }
}

const gg_key *gg_schema_find(const gg_key *rows, const char *key, size_t *off)
{
    for (const gg_key *k = rows; k->key; k++) {
        if (k->type == GG_KEY_INCLUDE) {
            const gg_key *r = gg_schema_find(k->sub, key, off);
            if (r) {
                if (off) *off += k->off;
                return r;
            }
        } else if (strcmp(k->key, key) == 0) {
            if (off) *off = 0;
            return k;
        }
    }
    return NULL;
}

/* ---- reading ---------------------------------------------------------- */

static const char *where(const gg_cfg_node *n, char *buf, size_t cap) { return gg_cfg_where(n, buf, cap); }

/* "a, b, c" */
static void join_names(const gg_key *k, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < k->nnames && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", gg_schema_name(k, i));
}

static gg_status read_enum(gg_cfg_node *map, const gg_key *k, int *out)
{
    if (!k->parse) {
        const char *names[NAMES_MAX];
        int n = k->nnames < NAMES_MAX ? k->nnames : NAMES_MAX;
        for (int i = 0; i < n; i++)
            names[i] = gg_schema_name(k, i);
        return gg_cfg_enum(map, k->key, names, n, out);
    }
    const char *v = NULL;
    TRY(gg_cfg_str(map, k->key, &v));
    if (!v) return GG_OK;
    int i = k->parse(v);
    if (i < 0 || i >= k->nnames) {
        gg_cfg_node *n = gg_cfg_get(map, k->key);
        char w[512], list[512];
        join_names(k, list, sizeof list);
        return gg_fail(GG_E_CONFIG, "%s: %s '%s' is not one of %s", where(n, w, sizeof w), gg_cfg_path(n), v, list);
    }
    *out = i;
    return GG_OK;
}

static gg_status read_text(gg_cfg_node *map, const gg_key *k, char *out)
{
    const char *v = NULL;
    TRY(gg_cfg_str(map, k->key, &v));
    if (!v) return GG_OK;
    gg_cfg_node *n = gg_cfg_get(map, k->key);
    char w[512];
    if (k->type == GG_KEY_PATH && !*v)
        return gg_fail(GG_E_CONFIG, "%s: key '%s': an empty path (a file or directory name is needed)",
                       where(n, w, sizeof w), gg_cfg_path(n));
    if (strlen(v) >= k->size)
        return gg_fail(GG_E_CONFIG, "%s: key '%s': a %s of %zu characters, longer than %zu", where(n, w, sizeof w),
                       gg_cfg_path(n), k->type == GG_KEY_PATH ? "path" : "string", strlen(v), k->size - 1);
    set_text(out, k->size, v);
    return GG_OK;
}

gg_status gg_schema_read_key(gg_cfg_node *map, const gg_key *k, void *base)
{
    if (k->read) return k->read(map, k, base);
    char *p = (char *)base + k->off;
    switch (k->type) {
    case GG_KEY_INT: {
        long v = *(int *)p;
        TRY(gg_cfg_int(map, k->key, to_long(k->lo), to_long(k->hi), &v));
        *(int *)p = (int)v;
        return GG_OK;
    }
    case GG_KEY_LONG: return gg_cfg_int(map, k->key, to_long(k->lo), to_long(k->hi), (long *)p);
    case GG_KEY_U64: {
        long v = (long)*(uint64_t *)p;
        TRY(gg_cfg_int(map, k->key, to_long(k->lo), to_long(k->hi), &v));
        *(uint64_t *)p = (uint64_t)v;
        return GG_OK;
    }
    case GG_KEY_F32: return gg_cfg_f32(map, k->key, k->lo, k->hi, (float *)p);
    case GG_KEY_F64: return gg_cfg_float(map, k->key, k->lo, k->hi, (double *)p);
    case GG_KEY_BOOL: return gg_cfg_bool(map, k->key, (int *)p);
    case GG_KEY_ENUM: return read_enum(map, k, (int *)p);
    case GG_KEY_NAME: {
        int i = -1;
        TRY(read_enum(map, k, &i));
        if (i >= 0) set_text(p, k->size, gg_schema_name(k, i));
        return GG_OK;
    }
    case GG_KEY_STR:
    case GG_KEY_PATH: return read_text(map, k, p);
    case GG_KEY_MAP: return gg_schema_read(gg_cfg_get(map, k->key), k->sub, p);
    case GG_KEY_INCLUDE: return gg_schema_read(map, k->sub, p);
    case GG_KEY_LIST: return gg_fail(GG_E_ARG, "config key table: list '%s' has no read function", k->key);
    }
    return GG_OK;
}

/* Reads the rows without the unknown-key check (an included table's rows
 * are checked with the map's own). */
static gg_status read_rows(gg_cfg_node *map, const gg_key *rows, void *base)
{
    for (const gg_key *k = rows; k->key; k++) {
        if (k->type == GG_KEY_INCLUDE)
            TRY(read_rows(map, k->sub, (char *)base + k->off));
        else
            TRY(gg_schema_read_key(map, k, base));
    }
    return GG_OK;
}

static int collect(const gg_key *rows, const char **out, int n, int cap)
{
    for (const gg_key *k = rows; k->key && n < cap; k++)
        if (k->type == GG_KEY_INCLUDE)
            n = collect(k->sub, out, n, cap);
        else
            out[n++] = k->key;
    return n;
}

/* Optimal string alignment distance (edits, with swaps of neighbours), up
 * to 63 characters; longer words are "far". */
static int distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
                c = d[i - 2][j - 2] + 1;
            d[i][j] = c;
        }
    return d[n][m];
}

/* The name nearest to word, if it is near enough to be a typo of it. */
static const char *nearest(const char *word, const char *const *names, int n)
{
    size_t len = strlen(word);
    int best = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    const char *pick = NULL;
    for (int i = 0; i < n; i++) {
        int dd = distance(word, names[i]);
        if (dd <= best) {
            best = dd - 1;
            pick = names[i];
        }
    }
    return pick;
}

gg_status gg_schema_unknown(gg_cfg_node *map, const char *const *names, int n)
{
    int len = gg_cfg_len(map);
    for (int i = 0; i < len; i++) {
        gg_cfg_node *v;
        const char *key = gg_cfg_key_at(map, i, &v);
        int known = 0;
        for (int j = 0; j < n && !known; j++)
            known = strcmp(key, names[j]) == 0;
        if (known) continue;
        char w[512], hint[300] = "";
        const char *near = nearest(key, names, n);
        if (near) {
            const char *mp = gg_cfg_path(map);
            snprintf(hint, sizeof hint, " (did you mean '%s%s%s'?)", mp, *mp ? "." : "", near);
        }
        return gg_fail(GG_E_CONFIG, "%s: unknown key '%s'%s", where(v, w, sizeof w), gg_cfg_path(v), hint);
    }
    return GG_OK;
}

gg_status gg_schema_read(gg_cfg_node *map, const gg_key *rows, void *base)
{
    if (!map || gg_cfg_node_type(map) == GG_CFG_NULL) return GG_OK;
    if (gg_cfg_node_type(map) != GG_CFG_MAP) {
        char w[512];
        const char *names[4];
        int n = collect(rows, names, 0, 4);
        char some[256] = "";
        for (int i = 0, o = 0; i < n && i < 3; i++)
            o += snprintf(some + o, sizeof some - (size_t)o, "%s%s", i ? ", " : " (", names[i]);
        return gg_fail(GG_E_CONFIG, "%s: '%s' must be a map of keys%s%s", where(map, w, sizeof w), gg_cfg_path(map),
                       some,
                       !n      ? ""
                       : n > 3 ? ", ...)"
                               : ")");
    }
    TRY(read_rows(map, rows, base));
    const char *names[256];
    int n = collect(rows, names, 0, 256);
    return gg_schema_unknown(map, names, n);
}

/* ---- checks for C callers ----------------------------------------------- */

gg_status gg_schema_check(const gg_key *rows, const void *base, const char *what)
{
    for (const gg_key *k = rows; k->key; k++) {
        const char *p = (const char *)base + k->off;
        double v;
        switch (k->type) {
        case GG_KEY_INT: v = *(const int *)p; break;
        case GG_KEY_LONG: v = (double)*(const long *)p; break;
        case GG_KEY_U64: v = (double)*(const uint64_t *)p; break;
        case GG_KEY_F32: v = *(const float *)p; break;
        case GG_KEY_F64: v = *(const double *)p; break;
        case GG_KEY_BOOL: {
            int b = *(const int *)p;
            if (b != 0 && b != 1) return gg_fail(GG_E_CONFIG, "%s.%s = %d must be 0 or 1", what, k->key, b);
            continue;
        }
        case GG_KEY_ENUM: {
            int e = *(const int *)p;
            if (e < 0 || e >= k->nnames) {
                char list[512];
                join_names(k, list, sizeof list);
                return gg_fail(GG_E_CONFIG, "%s.%s = %d is not one of %s (0 to %d)", what, k->key, e, list,
                               k->nnames - 1);
            }
            continue;
        }
        case GG_KEY_MAP:
        case GG_KEY_INCLUDE: TRY(gg_schema_check(k->sub, p, what)); continue;
        default: continue;
        }
        if (!(v >= k->lo))
            return gg_fail(GG_E_CONFIG, "%s.%s = %g must be >= %g (as in a config: [%g, %g])", what, k->key, v, k->lo,
                           k->lo, k->hi);
    }
    return GG_OK;
}

/* ---- docs ----------------------------------------------------------------- */

typedef struct buf {
    char *s;
    size_t n, cap;
    int bad;
} buf;

static void put(buf *b, const char *fmt, ...)
{
    if (b->bad) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->bad = 1;
            return;
        }
        if (b->s && b->n + (size_t)w < b->cap) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)w;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->bad = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* A number as the docs write it: integers in full, or 2^k, or 2^63 - 1;
 * other numbers in the fewest digits that give the value back, with
 * exponents below 0.001 and from 1e5 up ("1e-5", "1e12"). */
static void fmt_num(double v, int integer, char *out, size_t cap)
{
    if (integer) {
        if (v >= (double)LONG_MAX) {
            snprintf(out, cap, "2^63 - 1");
            return;
        }
        int e;
        if (v >= (1 << 20) && frexp(v, &e) == 0.5) {
            snprintf(out, cap, "2^%d", e - 1);
            return;
        }
        snprintf(out, cap, "%.0f", v);
        return;
    }
    double a = fabs(v);
    int e2;
    if (a >= (1 << 20) && frexp(a, &e2) == 0.5) {
        snprintf(out, cap, "%s2^%d", v < 0 ? "-" : "", e2 - 1);
        return;
    }
    if (a == 0 || (a >= 1e-3 && a < 1e5 && a == floor(a))) {
        snprintf(out, cap, "%.0f", v);
        return;
    }
    int expo = a < 1e-3 || a >= 1e5;
    for (int p = 1; p <= 17; p++) {
        if (expo)
            snprintf(out, cap, "%.*e", p - 1, v);
        else
            snprintf(out, cap, "%.*g", p, v);
        if (strtod(out, NULL) == v) break;
    }
    if (!expo) return;
    /* 1e+12 -> 1e12, 1e-05 -> 1e-5 */
    char *e = strchr(out, 'e');
    if (!e) return;
    char *q = e + 1, *r = e + 1;
    if (*r == '+')
        r++;
    else if (*r == '-')
        *q++ = *r++;
    while (*r == '0' && r[1])
        r++;
    memmove(q, r, strlen(r) + 1);
}

static const char *type_word(const gg_key *k)
{
    if (k->type_doc) return k->type_doc;
    switch (k->type) {
    case GG_KEY_INT:
    case GG_KEY_LONG:
    case GG_KEY_U64: return "int";
    case GG_KEY_F32:
    case GG_KEY_F64: return "float";
    case GG_KEY_BOOL: return "bool";
    case GG_KEY_ENUM:
    case GG_KEY_NAME: return "enum";
    case GG_KEY_STR: return "string";
    case GG_KEY_PATH: return "path";
    case GG_KEY_MAP: return "map";
    case GG_KEY_LIST: return "list";
    case GG_KEY_INCLUDE: return "";
    }
    return "";
}

static int is_number(const gg_key *k)
{
    return k->type == GG_KEY_INT || k->type == GG_KEY_LONG || k->type == GG_KEY_U64 || k->type == GG_KEY_F32 ||
           k->type == GG_KEY_F64;
}

static void render(buf *b, const gg_key *rows, const char *prefix)
{
    for (const gg_key *k = rows; k->key; k++) {
        if (k->type == GG_KEY_INCLUDE) {
            render(b, k->sub, prefix);
            continue;
        }
        int integer = k->type == GG_KEY_INT || k->type == GG_KEY_LONG || k->type == GG_KEY_U64;
        char range[600] = "", def[300] = "";
        if (k->range_doc) {
            snprintf(range, sizeof range, "%s", k->range_doc);
        } else if (is_number(k)) {
            char lo[64], hi[64];
            fmt_num(k->lo, integer, lo, sizeof lo);
            fmt_num(k->hi, integer, hi, sizeof hi);
            snprintf(range, sizeof range, "[%s, %s]", lo, hi);
        } else if (k->type == GG_KEY_ENUM || k->type == GG_KEY_NAME) {
            join_names(k, range, sizeof range);
        }
        if (k->def_doc)
            snprintf(def, sizeof def, "%s", k->def_doc);
        else if (is_number(k))
            fmt_num(k->def, integer, def, sizeof def);
        else if (k->type == GG_KEY_BOOL)
            snprintf(def, sizeof def, "%s", k->def ? "true" : "false");
        else if (k->type == GG_KEY_ENUM || (k->type == GG_KEY_NAME && !k->sdef))
            snprintf(def, sizeof def, "%s", gg_schema_name(k, (int)k->def));
        else
            snprintf(def, sizeof def, "%s", k->sdef ? k->sdef : "none");
        put(b, "| `%s%s` | %s | %s | %s | %s |\n", prefix, k->key, type_word(k), range, def, k->doc ? k->doc : "");
        if (k->type == GG_KEY_MAP) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s%s.", prefix, k->key);
            render(b, k->sub, sub);
        }
    }
}

char *gg_schema_markdown(const gg_key *rows)
{
    buf b = {0};
    put(&b, "| Key | Type | Range | Default | Meaning |\n|---|---|---|---|---|\n");
    render(&b, rows, "");
    if (b.bad) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

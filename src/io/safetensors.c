/* safetensors.c - tensors on disk in the safetensors format.
 *
 * Layout: u64 N (little-endian) | N bytes of JSON header, padded with
 * spaces to a multiple of 8 | data buffer. The header maps each tensor name
 * to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
 * the data buffer) and may hold "__metadata__": {string: string}.
 *
 * gradguard adds to the metadata: gg_format ("gradguard-1"), gg_crc32 (zlib
 * CRC-32 of the data buffer, 8 hex digits) and gg_header_crc32 (CRC-32 of
 * the names, dtypes, shapes and metadata in a canonical order), so a
 * flipped bit anywhere in a gradguard file is refused, not loaded.
 *
 * The reader trusts nothing: the header length is checked against the file
 * size before any allocation, the JSON is parsed strictly (io/json.h),
 * and every tensor's offsets, size, and place in the buffer are checked
 * before its data is read. */
#define _POSIX_C_SOURCE 200809L
#include "io.h"
#include "../core/error.h"
#include "../core/file.h"
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define ST_FORMAT "gradguard-1"
#define ST_HEADER_MAX 100000000ull /* the reference implementation's limit */
#define ST_CHUNK 65536

static int host_le(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* zlib's crc32 takes 32-bit lengths; crc32_z takes size_t. A NULL buffer
 * would restart the CRC in zlib, so empty tensors are skipped here. */
static uint32_t crc_update(uint32_t crc, const void *p, size_t n)
{
    if (!n) return crc;
    return (uint32_t)crc32_z(crc, (const Bytef *)p, n);
}

static uint32_t crc_init(void) { return (uint32_t)crc32_z(0, Z_NULL, 0); }

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned cp, min;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* ---- dtypes ------------------------------------------------------------ */

typedef enum st_dtype { ST_F32, ST_F64, ST_F16, ST_BF16, ST_I64, ST_I32, ST_U8, ST_NDTYPES } st_dtype;
static const char *const dtype_names[ST_NDTYPES] = {"F32", "F64", "F16", "BF16", "I64", "I32", "U8"};
static const size_t dtype_size[ST_NDTYPES] = {4, 8, 2, 2, 8, 4, 1};

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

/* IEEE half to float, subnormals, infinities and NaN included. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man) {
        /* subnormal: normalise the mantissa */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FF) << 13);
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* n elements of dtype dt from little-endian bytes src to floats dst. */
static void convert(st_dtype dt, const unsigned char *src, size_t n, float *dst)
{
    switch (dt) {
    case ST_F32:
        for (size_t i = 0; i < n; i++) {
            uint32_t b = rd32(src + 4 * i);
            memcpy(dst + i, &b, 4);
        }
        break;
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t b = rd64(src + 8 * i);
            double d;
            memcpy(&d, &b, 8);
            dst[i] = (float)d;
        }
        break;
    case ST_F16:
        for (size_t i = 0; i < n; i++) dst[i] = half_to_float(rd16(src + 2 * i));
        break;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t b = (uint32_t)rd16(src + 2 * i) << 16;
            memcpy(dst + i, &b, 4);
        }
        break;
    case ST_I64:
        for (size_t i = 0; i < n; i++) dst[i] = (float)(int64_t)rd64(src + 8 * i);
        break;
    case ST_I32:
        for (size_t i = 0; i < n; i++) dst[i] = (float)(int32_t)rd32(src + 4 * i);
        break;
    case ST_U8:
        for (size_t i = 0; i < n; i++) dst[i] = src[i];
        break;
    case ST_NDTYPES: break;
    }
}

/* ---- the header checksum ------------------------------------------------ */
/* Over names, dtypes and shapes (tensors sorted by name) and the metadata
 * (sorted by key, gg_header_crc32 left out). Offsets are not included: the
 * reader's contiguity and size checks already pin them down. */

typedef struct st_desc {
    const char *name;
    const char *dtype;
    gg_shape shape;
} st_desc;

typedef struct st_kv {
    const char *k, *v;
} st_kv;

static int cmp_desc_ptr(const void *a, const void *b)
{
    return strcmp((*(const st_desc *const *)a)->name, (*(const st_desc *const *)b)->name);
}
static int cmp_kv(const void *a, const void *b) { return strcmp(((const st_kv *)a)->k, ((const st_kv *)b)->k); }

static uint32_t header_crc(const st_desc *const *by_name, int n, const st_kv *meta_sorted, int nmeta)
{
    uint32_t crc = crc_init();
    for (int i = 0; i < n; i++) {
        const st_desc *d = by_name[i];
        crc = crc_update(crc, d->name, strlen(d->name) + 1);
        crc = crc_update(crc, d->dtype, strlen(d->dtype) + 1);
        char buf[16];
        for (int k = 0; k < d->shape.ndim; k++) {
            int len = snprintf(buf, sizeof buf, "%d,", d->shape.d[k]);
            crc = crc_update(crc, buf, (size_t)len);
        }
        crc = crc_update(crc, "", 1);
    }
    crc = crc_update(crc, "\1", 1);
    for (int i = 0; i < nmeta; i++) {
        if (!strcmp(meta_sorted[i].k, "gg_header_crc32")) continue;
        crc = crc_update(crc, meta_sorted[i].k, strlen(meta_sorted[i].k) + 1);
        crc = crc_update(crc, meta_sorted[i].v, strlen(meta_sorted[i].v) + 1);
    }
    return crc;
}

static int reserved_key(const char *k)
{
    return !strcmp(k, "gg_crc32") || !strcmp(k, "gg_format") || !strcmp(k, "gg_header_crc32");
}

/* ---- writer ------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_str(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p == '\n' || *p == '\t' || *p == '\r') {
            esc[0] = '\\';
            esc[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static void sb_kv(sbuf *b, const char *k, const char *v, int *first)
{
    if (!*first) sb_put(b, ",", 1);
    *first = 0;
    sb_json_str(b, k);
    sb_put(b, ":", 1);
    sb_json_str(b, v);
}

/* Writes n floats as little-endian F32 (a copy only on big-endian hosts). */
static gg_status write_f32(gg_atomic *a, const float *x, size_t n, unsigned char *chunk)
{
    if (host_le()) return gg_atomic_write(a, x, n * 4);
    for (size_t i = 0; i < n;) {
        size_t m = n - i < ST_CHUNK / 4 ? n - i : ST_CHUNK / 4;
        for (size_t k = 0; k < m; k++) {
            uint32_t v;
            memcpy(&v, x + i + k, 4);
            for (int j = 0; j < 4; j++) chunk[4 * k + j] = (unsigned char)(v >> (8 * j));
        }
        gg_status st = gg_atomic_write(a, chunk, m * 4);
        if (st) return st;
        i += m;
    }
    return GG_OK;
}

static uint32_t crc_f32(uint32_t crc, const float *x, size_t n, unsigned char *chunk)
{
    if (host_le()) return crc_update(crc, x, n * 4);
    for (size_t i = 0; i < n;) {
        size_t m = n - i < ST_CHUNK / 4 ? n - i : ST_CHUNK / 4;
        for (size_t k = 0; k < m; k++) {
            uint32_t v;
            memcpy(&v, x + i + k, 4);
            for (int j = 0; j < 4; j++) chunk[4 * k + j] = (unsigned char)(v >> (8 * j));
        }
        crc = crc_update(crc, chunk, m * 4);
        i += m;
    }
    return crc;
}

static gg_status check_entries(const char *path, const gg_st_entry *e, int n, const st_desc **by_name, st_desc *descs)
{
    for (int i = 0; i < n; i++) {
        const char *name = e[i].name;
        if (!name || !*name) return gg_fail(GG_E_ARG, "writing '%s': tensor %d has no name", path, i);
        if (!strcmp(name, "__metadata__") || !utf8_valid(name))
            return gg_fail(GG_E_ARG, "writing '%s': '%s' cannot be a tensor name", path, name);
        gg_shape s = e[i].shape;
        if (s.ndim < 0 || s.ndim > GG_MAX_DIMS)
            return gg_fail(GG_E_ARG, "writing '%s': tensor '%s' has %d dims (0 to %d allowed)", path, name, s.ndim,
                           GG_MAX_DIMS);
        for (int k = 0; k < s.ndim; k++)
            if (s.d[k] < 0) return gg_fail(GG_E_ARG, "writing '%s': tensor '%s' has dim %d = %d", path, name, k, s.d[k]);
        if (!e[i].data && gg_shape_numel(s))
            return gg_fail(GG_E_ARG, "writing '%s': tensor '%s' has no data", path, name);
        descs[i].name = name;
        descs[i].dtype = "F32";
        descs[i].shape = s;
        by_name[i] = &descs[i];
    }
    qsort(by_name, (size_t)n, sizeof *by_name, cmp_desc_ptr);
    for (int i = 1; i < n; i++)
        if (!strcmp(by_name[i]->name, by_name[i - 1]->name))
            return gg_fail(GG_E_ARG, "writing '%s': two tensors are named '%s'", path, by_name[i]->name);
    return GG_OK;
}

gg_status gg_safetensors_write(const char *path, const gg_st_entry *entries, int n, const char *const *meta, int nmeta)
{
    if (!path) return gg_fail(GG_E_ARG, "gg_safetensors_write: no path");
    if (n < 0 || nmeta < 0 || (n && !entries) || (nmeta && !meta))
        return gg_fail(GG_E_ARG, "writing '%s': bad entry or metadata count (%d, %d)", path, n, nmeta);
    gg_status st = GG_OK;
    sbuf h = {0};
    gg_atomic a = {0};
    a.fd = -1;
    st_desc *descs = malloc(sizeof *descs * (size_t)(n ? n : 1));
    const st_desc **by_name = malloc(sizeof *by_name * (size_t)(n ? n : 1));
    st_kv *kv = malloc(sizeof *kv * (size_t)(nmeta + 3));
    unsigned char *chunk = host_le() ? NULL : malloc(ST_CHUNK);
    if (!descs || !by_name || !kv || (!host_le() && !chunk)) {
        st = gg_fail(GG_E_NOMEM, "writing '%s': out of memory", path);
        goto done;
    }
    if ((st = check_entries(path, entries, n, by_name, descs))) goto done;

    /* user metadata (gradguard's own keys are replaced by fresh values) */
    int m = 0;
    for (int i = 0; i < nmeta; i++) {
        const char *k = meta[2 * i], *v = meta[2 * i + 1];
        if (!k || !v || !utf8_valid(k) || !utf8_valid(v)) {
            st = gg_fail(GG_E_ARG, "writing '%s': metadata pair %d is NULL or not UTF-8", path, i);
            goto done;
        }
        if (reserved_key(k)) continue;
        kv[m].k = k;
        kv[m].v = v;
        m++;
    }
    int nuser = m;

    /* the data CRC: one pass over the tensors as they will be written */
    uint32_t crc = crc_init();
    for (int i = 0; i < n; i++) crc = crc_f32(crc, entries[i].data, gg_shape_numel(entries[i].shape), chunk);
    char crc_hex[16], hcrc_hex[16];
    snprintf(crc_hex, sizeof crc_hex, "%08x", (unsigned)crc);
    kv[m++] = (st_kv){"gg_crc32", crc_hex};
    kv[m++] = (st_kv){"gg_format", ST_FORMAT};
    st_kv *sorted = malloc(sizeof *sorted * (size_t)m);
    if (!sorted) {
        st = gg_fail(GG_E_NOMEM, "writing '%s': out of memory", path);
        goto done;
    }
    memcpy(sorted, kv, sizeof *sorted * (size_t)m);
    qsort(sorted, (size_t)m, sizeof *sorted, cmp_kv);
    for (int i = 1; i < m; i++)
        if (!strcmp(sorted[i].k, sorted[i - 1].k)) {
            st = gg_fail(GG_E_ARG, "writing '%s': metadata key '%s' given twice", path, sorted[i].k);
            free(sorted);
            goto done;
        }
    snprintf(hcrc_hex, sizeof hcrc_hex, "%08x", (unsigned)header_crc(by_name, n, sorted, m));
    free(sorted);

    /* the header: compact JSON, metadata first, tensors in entry order */
    int first = 1;
    sb_puts(&h, "{\"__metadata__\":{");
    for (int i = 0; i < nuser; i++) sb_kv(&h, kv[i].k, kv[i].v, &first);
    sb_kv(&h, "gg_crc32", crc_hex, &first);
    sb_kv(&h, "gg_format", ST_FORMAT, &first);
    sb_kv(&h, "gg_header_crc32", hcrc_hex, &first);
    sb_puts(&h, "}");
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        char buf[64];
        uint64_t bytes = (uint64_t)gg_shape_numel(entries[i].shape) * 4;
        sb_put(&h, ",", 1);
        sb_json_str(&h, entries[i].name);
        sb_puts(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int k = 0; k < entries[i].shape.ndim; k++) {
            snprintf(buf, sizeof buf, "%s%d", k ? "," : "", entries[i].shape.d[k]);
            sb_puts(&h, buf);
        }
        snprintf(buf, sizeof buf, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + bytes));
        sb_puts(&h, buf);
        off += bytes;
    }
    sb_puts(&h, "}");
    while (h.n % 8) sb_put(&h, " ", 1);
    if (h.oom) {
        st = gg_fail(GG_E_NOMEM, "writing '%s': out of memory for the header", path);
        goto done;
    }

    unsigned char len8[8];
    for (int j = 0; j < 8; j++) len8[j] = (unsigned char)((uint64_t)h.n >> (8 * j));
    if ((st = gg_atomic_begin(&a, path))) goto done;
    if ((st = gg_atomic_write(&a, len8, 8))) goto done;
    if ((st = gg_atomic_write(&a, h.p, h.n))) goto done;
    for (int i = 0; i < n; i++)
        if ((st = write_f32(&a, entries[i].data, gg_shape_numel(entries[i].shape), chunk))) goto done;
    st = gg_atomic_commit(&a);
done:
    gg_atomic_abort(&a);
    free(h.p);
    free(descs);
    free(by_name);
    free(kv);
    free(chunk);
    return st;
}

/* ---- reader -------------------------------------------------------------- */

typedef struct st_tensor {
    st_desc d;
    st_dtype dt;
    uint64_t begin, end;
    size_t numel;
    float *data;
} st_tensor;

struct gg_safetensors {
    char *path;
    int n, nmeta;
    st_tensor *t;    /* header order */
    int *by_name;    /* indices sorted by name */
    st_kv *meta;     /* header order */
    float *mem;      /* all tensors' data */
    json_t *header;  /* the parsed header; names and metadata point into it */
};

void gg_safetensors_close(gg_safetensors *st)
{
    if (!st) return;
    free(st->path);
    free(st->t);
    free(st->by_name);
    free(st->meta);
    free(st->mem);
    json_decref(st->header);
    free(st);
}

static int cmp_tensor_ptr(const void *a, const void *b)
{
    return strcmp((*(const st_tensor *const *)a)->d.name, (*(const st_tensor *const *)b)->d.name);
}

static int cmp_tensor_off(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* A header integer (a dim or an offset): >= 0 and whole. NULL if it is
 * one, else what it is instead. */
static const char *not_size(const json_t *v)
{
    if (json_is_real(v)) return "expected an integer, found a fraction or exponent";
    if (!json_is_integer(v)) return "not an integer";
    if (json_integer_value(v) < 0) return "negative number (sizes and offsets are >= 0)";
    return NULL;
}

/* One tensor entry {"dtype", "shape", "data_offsets"} of the header. Its
 * place is named by the tensor and the field (the JSON reader keeps no
 * byte offsets of values; syntax errors have theirs). */
static gg_status read_entry(gg_safetensors *st, const char *name, json_t *v, st_tensor *t)
{
    const char *path = st->path;
    if (!json_is_object(v)) return gg_fail(GG_E_FORMAT, "%s: tensor '%s': its entry is not an object", path, name);
    const char *key;
    json_t *m, *dtype = NULL, *shape = NULL, *offs = NULL;
    json_object_foreach(v, key, m) {
        if (!strcmp(key, "dtype")) dtype = m;
        else if (!strcmp(key, "shape")) shape = m;
        else if (!strcmp(key, "data_offsets")) offs = m;
        else return gg_fail(GG_E_FORMAT, "%s: tensor '%s': unknown field '%s'", path, name, key);
    }
    if (!dtype || !shape || !offs)
        return gg_fail(GG_E_FORMAT, "%s: tensor '%s': missing '%s'", path, name,
                       !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!json_is_string(dtype)) return gg_fail(GG_E_FORMAT, "%s: tensor '%s': dtype is not a string", path, name);
    const char *dts = json_string_value(dtype);
    t->dt = ST_NDTYPES;
    for (int k = 0; k < ST_NDTYPES; k++)
        if (!strcmp(dts, dtype_names[k])) t->dt = (st_dtype)k;
    if (t->dt == ST_NDTYPES)
        return gg_fail(GG_E_FORMAT,
                       "%s: tensor '%s': dtype '%s' is not supported (F32, F64, F16, BF16, I64, I32, U8 are)", path,
                       name, dts);
    if (!json_is_array(shape)) return gg_fail(GG_E_FORMAT, "%s: tensor '%s': shape is not an array", path, name);
    size_t nd = json_array_size(shape);
    if (nd > GG_MAX_DIMS)
        return gg_fail(GG_E_FORMAT, "%s: tensor '%s' has %zu dims; gradguard supports at most %d", path, name, nd,
                       GG_MAX_DIMS);
    t->d.name = name;
    t->d.dtype = dtype_names[t->dt];
    t->d.shape.ndim = (int)nd;
    uint64_t numel = 1;
    for (size_t k = 0; k < nd; k++) {
        const json_t *dim = json_array_get(shape, k);
        const char *no = not_size(dim);
        if (no || json_integer_value(dim) > INT_MAX)
            return gg_fail(GG_E_FORMAT, "%s: tensor '%s': shape dim %zu is not an integer in [0, %d]%s%s", path, name,
                           k, INT_MAX, no ? ": " : "", no ? no : "");
        uint64_t d = (uint64_t)json_integer_value(dim);
        t->d.shape.d[k] = (int)d;
        if (d && numel > UINT64_MAX / 16 / d)
            return gg_fail(GG_E_FORMAT, "%s: tensor '%s': its shape is too large", path, name);
        numel *= d;
    }
    for (size_t k = nd; k < GG_MAX_DIMS; k++) t->d.shape.d[k] = 0;
    const json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
    if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_number(b) || !json_is_number(e))
        return gg_fail(GG_E_FORMAT, "%s: tensor '%s': data_offsets is not [begin, end]", path, name);
    const char *no = not_size(b) ? not_size(b) : not_size(e);
    if (no) return gg_fail(GG_E_FORMAT, "%s: tensor '%s': data_offsets: %s", path, name, no);
    t->begin = (uint64_t)json_integer_value(b);
    t->end = (uint64_t)json_integer_value(e);
    t->numel = (size_t)numel;
    if (t->begin > t->end)
        return gg_fail(GG_E_FORMAT, "%s: tensor '%s': data_offsets begin %llu > end %llu", path, name,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end - t->begin != numel * dtype_size[t->dt])
        return gg_fail(GG_E_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %llu %s elements need %llu",
                       path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)(t->end - t->begin), (unsigned long long)numel, t->d.dtype,
                       (unsigned long long)(numel * dtype_size[t->dt]));
    return GG_OK;
}

/* Exactly 8 lowercase hex digits, as written: accepting upper case too
 * would let a flipped case bit through unnoticed. */
static int parse_hex32(const char *s, uint32_t *out)
{
    if (strlen(s) != 8) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        unsigned c = (unsigned char)s[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else return 0;
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

/* Parses the header text and fills st's tensors and metadata. */
static gg_status read_header(gg_safetensors *st, const char *text, size_t n, uint64_t data_size)
{
    const char *path = st->path;
    gg_json_err je;
    json_t *r = st->header = gg_json_parse(text, n, "the header object", &je);
    if (!r) return gg_fail(GG_E_FORMAT, "%s: bad safetensors header at byte %zu: %s", path, 8 + je.at, je.msg);
    if (!json_is_object(r)) return gg_fail(GG_E_FORMAT, "%s: bad safetensors header at byte 8: the header is not a "
                                           "JSON object", path);
    int nt = (int)json_object_size(r);
    json_t *meta = json_object_get(r, "__metadata__");
    if (meta) nt--;
    size_t nm = json_is_object(meta) ? json_object_size(meta) : 0;
    st->t = calloc((size_t)(nt ? nt : 1), sizeof *st->t);
    st->by_name = malloc(sizeof *st->by_name * (size_t)(nt ? nt : 1));
    st->meta = malloc(sizeof *st->meta * (nm ? nm : 1));
    const st_tensor **ptr = malloc(sizeof *ptr * (size_t)(nt ? nt : 1));
    if (!st->t || !st->by_name || !st->meta || !ptr) {
        free(ptr);
        return gg_fail(GG_E_NOMEM, "%s: out of memory for %d tensors", path, nt);
    }
    gg_status s = GG_OK;
    const char *key;
    json_t *v;
    if (meta) {
        if (!json_is_object(meta)) {
            free(ptr);
            return gg_fail(GG_E_FORMAT, "%s: header: __metadata__ is not an object", path);
        }
        json_object_foreach(meta, key, v) {
            if (!json_is_string(v)) {
                free(ptr);
                return gg_fail(GG_E_FORMAT, "%s: header: metadata '%s' is not a string", path, key);
            }
            st->meta[st->nmeta++] = (st_kv){key, json_string_value(v)};
        }
    }
    json_object_foreach(r, key, v) {
        if (v == meta) continue;
        if ((s = read_entry(st, key, v, &st->t[st->n]))) {
            free(ptr);
            return s;
        }
        ptr[st->n] = &st->t[st->n];
        st->n++;
    }

    /* the data buffer: tensors in offset order must tile it exactly */
    qsort(ptr, (size_t)nt, sizeof *ptr, cmp_tensor_off);
    uint64_t at = 0;
    for (int i = 0; i < nt && !s; i++) {
        const st_tensor *t = ptr[i];
        if (t->end > data_size)
            s = gg_fail(GG_E_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] go past the %llu-byte "
                        "data buffer (a truncated file?)",
                        path, t->d.name, (unsigned long long)t->begin, (unsigned long long)t->end,
                        (unsigned long long)data_size);
        else if (t->begin < at)
            s = gg_fail(GG_E_FORMAT, "%s: tensor '%s' (data bytes [%llu, %llu]) overlaps tensor '%s' (ends at %llu)",
                        path, t->d.name, (unsigned long long)t->begin, (unsigned long long)t->end, ptr[i - 1]->d.name,
                        (unsigned long long)at);
        else if (t->begin > at)
            s = gg_fail(GG_E_FORMAT, "%s: tensor '%s' starts at data byte %llu, leaving a gap after byte %llu", path,
                        t->d.name, (unsigned long long)t->begin, (unsigned long long)at);
        at = t->end;
    }
    if (!s && at != data_size)
        s = gg_fail(GG_E_FORMAT, "%s: the tensors end at data byte %llu but the data buffer has %llu bytes (file "
                    "truncated or padded)",
                    path, (unsigned long long)at, (unsigned long long)data_size);

    /* names sorted: for find (binary search) and the header checksum */
    if (!s) {
        qsort(ptr, (size_t)nt, sizeof *ptr, cmp_tensor_ptr);
        for (int i = 0; i < nt; i++) st->by_name[i] = (int)(ptr[i] - st->t);
    }
    free(ptr);
    return s;
}

/* Reads the data buffer in offset order, converting to float32 and
 * computing its CRC as it goes. */
static gg_status read_data(gg_safetensors *st, FILE *f, uint32_t *crc_out)
{
    size_t total = 0;
    for (int i = 0; i < st->n; i++) total += st->t[i].numel;
    st->mem = malloc(sizeof(float) * (total ? total : 1));
    unsigned char *chunk = malloc(ST_CHUNK);
    const st_tensor **ord = malloc(sizeof *ord * (size_t)(st->n ? st->n : 1));
    gg_status s = GG_OK;
    if (!st->mem || !chunk || !ord) {
        s = gg_fail(GG_E_NOMEM, "%s: out of memory for %zu floats", st->path, total);
        goto done;
    }
    size_t off = 0;
    for (int i = 0; i < st->n; i++) {
        st->t[i].data = st->mem + off;
        off += st->t[i].numel;
        ord[i] = &st->t[i];
    }
    qsort(ord, (size_t)st->n, sizeof *ord, cmp_tensor_off);
    uint32_t crc = crc_init();
    for (int i = 0; i < st->n && !s; i++) {
        const st_tensor *t = ord[i];
        size_t es = dtype_size[t->dt], per = ST_CHUNK / es;
        if (t->dt == ST_F32 && host_le()) {
            /* straight into place */
            if (t->numel && fread(t->data, 4, t->numel, f) != t->numel) goto short_read;
            crc = crc_update(crc, t->data, t->numel * 4);
            continue;
        }
        for (size_t k = 0; k < t->numel; k += per) {
            size_t m = t->numel - k < per ? t->numel - k : per;
            if (fread(chunk, es, m, f) != m) goto short_read;
            crc = crc_update(crc, chunk, m * es);
            convert(t->dt, chunk, m, t->data + k);
        }
        continue;
    short_read:
        s = gg_fail(GG_E_IO, "%s: cannot read the data of tensor '%s' (data bytes [%llu, %llu]): %s", st->path,
                    t->d.name, (unsigned long long)t->begin, (unsigned long long)t->end,
                    ferror(f) ? strerror(errno) : "the file ended early");
    }
    *crc_out = crc;
done:
    free(chunk);
    free(ord);
    return s;
}

/* A checksum stored under metadata key `key` as text hex, against the one
 * computed: a mismatch means the `whole` is corrupt. */
static gg_status check_crc(const gg_safetensors *st, const char *key, const char *hex, uint32_t got, const char *what,
                           const char *whole)
{
    uint32_t want;
    if (!parse_hex32(hex, &want))
        return gg_fail(GG_E_FORMAT, "%s: metadata %s '%s' is not 8 lowercase hex digits", st->path, key, hex);
    if (got != want)
        return gg_fail(GG_E_FORMAT, "%s: the %s checksum does not match (computed %08x, stored %08x): the %s is corrupt",
                       st->path, what, (unsigned)got, (unsigned)want, whole);
    return GG_OK;
}

/* The format name and the header checksum: what can be checked without
 * reading the data buffer. */
static gg_status check_header_sum(gg_safetensors *st)
{
    const char *fmt = gg_safetensors_meta(st, "gg_format");
    const char *c = gg_safetensors_meta(st, "gg_crc32");
    const char *hc = gg_safetensors_meta(st, "gg_header_crc32");
    if (fmt && strncmp(fmt, "gradguard-", 10) == 0 && strcmp(fmt, ST_FORMAT) != 0)
        return gg_fail(GG_E_FORMAT, "%s: format '%s' is not supported (this gradguard reads '%s')", st->path, fmt,
                       ST_FORMAT);
    if (fmt && !strcmp(fmt, ST_FORMAT) && (!c || !hc))
        return gg_fail(GG_E_FORMAT, "%s: a gradguard file without its %s in the metadata (corrupt header)", st->path,
                       !c ? "gg_crc32" : "gg_header_crc32");
    if (hc) {
        const st_desc **by = malloc(sizeof *by * (size_t)(st->n ? st->n : 1));
        st_kv *kv = malloc(sizeof *kv * (size_t)(st->nmeta ? st->nmeta : 1));
        if (!by || !kv) {
            free(by);
            free(kv);
            return gg_fail(GG_E_NOMEM, "%s: out of memory", st->path);
        }
        for (int i = 0; i < st->n; i++) by[i] = &st->t[st->by_name[i]].d;
        memcpy(kv, st->meta, sizeof *kv * (size_t)st->nmeta);
        qsort(kv, (size_t)st->nmeta, sizeof *kv, cmp_kv);
        uint32_t got = header_crc(by, st->n, kv, st->nmeta);
        free(by);
        free(kv);
        return check_crc(st, "gg_header_crc32", hc, got, "header", "header");
    }
    return GG_OK;
}

static gg_status check_sums(gg_safetensors *st, uint32_t data_crc)
{
    gg_status s = check_header_sum(st);
    if (s) return s;
    const char *c = gg_safetensors_meta(st, "gg_crc32");
    return c ? check_crc(st, "gg_crc32", c, data_crc, "data", "file") : GG_OK;
}

static gg_status open_file(const char *path, int header_only, gg_safetensors **out)
{
    if (!out) return gg_fail(GG_E_ARG, "gg_safetensors_open: no output pointer");
    *out = NULL;
    if (!path) return gg_fail(GG_E_ARG, "gg_safetensors_open: no path");
    int odd;
    FILE *f = gg_fopen_regular(path, &odd);
    if (!f && odd) return gg_fail(GG_E_IO, "'%s' is not a regular file", path);
    if (!f) return gg_fail(GG_E_IO, "cannot open '%s': %s", path, strerror(errno));
    gg_status s = GG_OK;
    char *header = NULL;
    gg_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = dup_str(path))) {
        s = gg_fail(GG_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        s = gg_fail(GG_E_IO, "cannot stat '%s': %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        s = gg_fail(GG_E_IO, "'%s' is not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char len8[8];
    if (size < 8) {
        s = gg_fail(GG_E_FORMAT, "%s: the file has %llu bytes, too short for a safetensors header (8-byte length)",
                    path, (unsigned long long)size);
        goto done;
    }
    if (fread(len8, 1, 8, f) != 8) {
        s = gg_fail(GG_E_IO, "cannot read '%s': %s", path, ferror(f) ? strerror(errno) : "the file ended early");
        goto done;
    }
    uint64_t hn = rd64(len8);
    /* checked before allocating: a corrupt length must not ask for memory */
    if (hn > size - 8) {
        s = gg_fail(GG_E_FORMAT, "%s: the header length %llu is larger than the file (%llu bytes after the length)",
                    path, (unsigned long long)hn, (unsigned long long)(size - 8));
        goto done;
    }
    if (hn > ST_HEADER_MAX) {
        s = gg_fail(GG_E_FORMAT, "%s: the header length %llu is over the limit %llu", path, (unsigned long long)hn,
                    ST_HEADER_MAX);
        goto done;
    }
    if (hn < 2) {
        s = gg_fail(GG_E_FORMAT, "%s: the header length %llu is too small for a JSON object", path,
                    (unsigned long long)hn);
        goto done;
    }
    header = malloc((size_t)hn);
    if (!header) {
        s = gg_fail(GG_E_NOMEM, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hn);
        goto done;
    }
    if (fread(header, 1, (size_t)hn, f) != hn) {
        s = gg_fail(GG_E_IO, "cannot read the header of '%s': %s", path,
                    ferror(f) ? strerror(errno) : "the file ended early");
        goto done;
    }
    if ((s = read_header(st, header, (size_t)hn, size - 8 - hn))) goto done;
    if (header_only) {
        s = check_header_sum(st);
        goto done;
    }
    uint32_t crc = 0;
    if ((s = read_data(st, f, &crc))) goto done;
    s = check_sums(st, crc);
done:
    free(header);
    fclose(f);
    if (s) gg_safetensors_close(st);
    else *out = st;
    return s;
}

gg_status gg_safetensors_open(const char *path, gg_safetensors **out) { return open_file(path, 0, out); }

gg_status gg_safetensors_open_header(const char *path, gg_safetensors **out) { return open_file(path, 1, out); }

int gg_safetensors_count(const gg_safetensors *st) { return st ? st->n : 0; }

gg_status gg_safetensors_get(const gg_safetensors *st, int i, const char **name, gg_shape *shape, const float **data)
{
    if (!st || i < 0 || i >= st->n)
        return gg_fail(GG_E_ARG, "safetensors: tensor index %d out of range [0, %d)", i, st ? st->n : 0);
    const st_tensor *t = &st->t[i];
    if (name) *name = t->d.name;
    if (shape) *shape = t->d.shape;
    if (data) *data = t->data;
    return GG_OK;
}

gg_status gg_safetensors_find(const gg_safetensors *st, const char *name, gg_shape *shape, const float **data)
{
    if (!st || !name) return gg_fail(GG_E_ARG, "gg_safetensors_find: NULL argument");
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const st_tensor *t = &st->t[st->by_name[mid]];
        int c = strcmp(name, t->d.name);
        if (c == 0) {
            if (shape) *shape = t->d.shape;
            if (data) *data = t->data;
            return GG_OK;
        }
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return gg_fail(GG_E_FORMAT, "%s has no tensor named '%s'", st->path, name);
}

const char *gg_safetensors_meta(const gg_safetensors *st, const char *key)
{
    if (!st || !key) return NULL;
    for (int i = 0; i < st->nmeta; i++)
        if (!strcmp(st->meta[i].k, key)) return st->meta[i].v;
    return NULL;
}

const char *gg_safetensors_dtype(const gg_safetensors *st, int i)
{
    if (!st || i < 0 || i >= st->n) return NULL;
    return st->t[i].d.dtype;
}

int gg_safetensors_meta_count(const gg_safetensors *st) { return st ? st->nmeta : 0; }

const char *gg_safetensors_meta_at(const gg_safetensors *st, int i, const char **value)
{
    if (!st || i < 0 || i >= st->nmeta) return NULL;
    if (value) *value = st->meta[i].v;
    return st->meta[i].k;
}

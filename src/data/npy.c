/* npy.c - NumPy .npy arrays (format versions 1.0, 2.0 and 3.0).
 *
 * Layout: "\x93NUMPY", major, minor, a little-endian header length (u16 for
 * version 1, u32 for 2 and 3), then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }
 * padded with spaces and ended by '\n', then the raw data. The dict is
 * parsed by hand, strictly: exactly these three keys, each once; descr one
 * of <f4 <f8 |u1 <i8 <i4; C order only. The data's length must equal what
 * the shape claims before anything is allocated for it. */
#include "data.h"
#include "../core/error.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c reads little-endian data straight into memory"
#endif

#define NPY_HEADER_MAX (1u << 20) /* numpy itself writes a few hundred bytes */
#define NPY_MAX_NDIM 8
#define NPY_CHUNK ((size_t)1 << 20)

typedef enum npy_type { NPY_F4, NPY_F8, NPY_U1, NPY_I8, NPY_I4 } npy_type;

typedef struct npy_head {
    npy_type type;
    size_t item;
    char descr[16];
    int ndim;
    uint64_t dim[NPY_MAX_NDIM];
    uint64_t numel, bytes;
    char shape_str[96];
} npy_head;

typedef struct npy_parse {
    const char *path;
    const char *s;
    size_t n, i;
    size_t base; /* byte offset of the header text in the file */
} npy_parse;

static gg_status perr(const npy_parse *p, const char *what)
{
    size_t k = p->i < p->n ? p->i : p->n;
    int show = p->n - k < 24 ? (int)(p->n - k) : 24; /* the header text has no NUL */
    /* a message is one line: stop the excerpt at the header's newline or any control byte */
    for (int j = 0; j < show; j++)
        if ((unsigned char)p->s[k + j] < 0x20 || p->s[k + j] == 0x7f) show = j;
    return gg_fail(GG_E_FORMAT, "%s: .npy header at byte offset %zu: %s (at \"%.*s\")", p->path, p->base + k, what,
                   show, p->s + k);
}

static void skip_ws(npy_parse *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t')) p->i++;
}

static int eat(npy_parse *p, char c)
{
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == c) {
        p->i++;
        return 1;
    }
    return 0;
}

/* A quoted string (no escapes) into out[0..cap). */
static gg_status pstring(npy_parse *p, char *out, size_t cap)
{
    skip_ws(p);
    if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"')) return perr(p, "expected a quoted string");
    char q = p->s[p->i++];
    size_t k = 0;
    while (p->i < p->n && p->s[p->i] != q) {
        if (p->s[p->i] == '\\') return perr(p, "escapes are not expected in a .npy header string");
        /* numpy writes repr() text, never a raw control byte; refusing them
         * here also keeps the keys and dtypes quoted in messages on one line */
        unsigned char c = (unsigned char)p->s[p->i];
        if (c < 0x20 || c == 0x7f) {
            char m[64];
            snprintf(m, sizeof m, "control byte 0x%02x in a quoted string", c);
            return perr(p, m);
        }
        if (k + 1 >= cap) return perr(p, "string too long");
        out[k++] = p->s[p->i++];
    }
    if (p->i >= p->n) return perr(p, "unterminated string");
    p->i++;
    out[k] = '\0';
    return GG_OK;
}

static int word(npy_parse *p, const char *w)
{
    skip_ws(p);
    size_t k = strlen(w);
    if (p->n - p->i >= k && memcmp(p->s + p->i, w, k) == 0) {
        char c = p->i + k < p->n ? p->s[p->i + k] : ' ';
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
            p->i += k;
            return 1;
        }
    }
    return 0;
}

static gg_status pshape(npy_parse *p, npy_head *h)
{
    if (!eat(p, '(')) return perr(p, "'shape' must be a tuple like (60000, 784)");
    h->ndim = 0;
    for (;;) {
        skip_ws(p);
        if (eat(p, ')')) break;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return perr(p, "expected a dimension in 'shape'");
        uint64_t v = 0;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
            if (v > ((uint64_t)1 << 56)) return perr(p, "a dimension in 'shape' is absurdly large");
            v = v * 10 + (uint64_t)(p->s[p->i++] - '0');
        }
        if (p->i < p->n && p->s[p->i] == 'L') p->i++; /* Python 2 long */
        if (h->ndim >= NPY_MAX_NDIM) return perr(p, "too many dimensions in 'shape'");
        h->dim[h->ndim++] = v;
        if (eat(p, ',')) continue;
        if (eat(p, ')')) break;
        return perr(p, "expected ',' or ')' in 'shape'");
    }
    return GG_OK;
}

static gg_status parse_dict(npy_parse *p, npy_head *h)
{
    int seen_descr = 0, seen_fo = 0, seen_shape = 0;
    if (!eat(p, '{')) return perr(p, "expected '{'");
    for (;;) {
        if (eat(p, '}')) break;
        char key[32];
        size_t at = p->i;
        gg_status st = pstring(p, key, sizeof key);
        if (st) return st;
        if (!eat(p, ':')) return perr(p, "expected ':' after a key");
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            seen_descr = 1;
            size_t vat = p->i;
            st = pstring(p, h->descr, sizeof h->descr);
            if (st) return st;
            static const struct { const char *d; npy_type t; size_t item; } types[] = {
                {"<f4", NPY_F4, 4}, {"<f8", NPY_F8, 8}, {"|u1", NPY_U1, 1}, {"<u1", NPY_U1, 1},
                {"<i8", NPY_I8, 8}, {"<i4", NPY_I4, 4}};
            int found = 0;
            for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
                if (strcmp(h->descr, types[k].d) == 0) {
                    h->type = types[k].t;
                    h->item = types[k].item;
                    found = 1;
                }
            if (!found) {
                p->i = vat;
                char m[128];
                snprintf(m, sizeof m, "'descr' %s'%s' is not supported (use <f4, <f8, |u1, <i8 or <i4)",
                         h->descr[0] == '>' ? "big-endian " : "", h->descr);
                return perr(p, m);
            }
        } else if (strcmp(key, "fortran_order") == 0 && !seen_fo) {
            seen_fo = 1;
            skip_ws(p);
            size_t vat = p->i;
            if (word(p, "True")) {
                p->i = vat;
                return perr(p, "'fortran_order': True is not supported: save the array in C order "
                               "(numpy.ascontiguousarray)");
            }
            if (!word(p, "False")) return perr(p, "'fortran_order' must be False");
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            seen_shape = 1;
            st = pshape(p, h);
            if (st) return st;
        } else {
            p->i = at;
            char m[96];
            int known = !strcmp(key, "descr") || !strcmp(key, "fortran_order") || !strcmp(key, "shape");
            snprintf(m, sizeof m, "%s key '%s'", known ? "duplicate" : "unknown", key);
            return perr(p, m);
        }
        if (eat(p, ',')) continue;
        if (eat(p, '}')) break;
        return perr(p, "expected ',' or '}'");
    }
    skip_ws(p);
    if (p->i + 1 != p->n || p->s[p->i] != '\n') return perr(p, "the header must end with spaces and a newline");
    if (!seen_descr || !seen_fo || !seen_shape)
        return perr(p, !seen_descr ? "missing key 'descr'" : !seen_fo ? "missing key 'fortran_order'"
                                                                      : "missing key 'shape'");
    return GG_OK;
}

/* Opens path and reads its header; checks the data length. */
static gg_status npy_open(gg_reader *r, const char *path, npy_head *h)
{
    memset(h, 0, sizeof *h);
    gg_status st = gg_reader_open(r, path);
    if (st) return st;
    unsigned char pre[12];
    size_t got = 0;
    st = gg_reader_read(r, pre, 8, &got);
    if (st) return st;
    if (got < 8 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return gg_fail(GG_E_FORMAT, "%s: byte offset 0: not a .npy file (no \\x93NUMPY magic%s)", path,
                       got < 8 ? "; the file is too short" : "");
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3)
        return gg_fail(GG_E_FORMAT, "%s: byte offset 6: .npy format version %d.%d is not supported (1.0 to 3.0)", path,
                       major, minor);
    size_t lw = major == 1 ? 2 : 4;
    st = gg_reader_read(r, pre + 8, lw, &got);
    if (st) return st;
    if (got < lw) return gg_fail(GG_E_FORMAT, "%s: truncated .npy preamble (%zu bytes)", path, 8 + got);
    uint64_t hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    if (lw == 4) hlen |= (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
    if (hlen > NPY_HEADER_MAX)
        return gg_fail(GG_E_FORMAT, "%s: byte offset 8: a .npy header of %llu bytes is over the limit of %u", path,
                       (unsigned long long)hlen, NPY_HEADER_MAX);
    st = gg_reader_check_claim(r, hlen, "the .npy header", 8, 0);
    if (st) return st;
    char *text = NULL;
    st = gg_reader_read_alloc(r, hlen, "the .npy header", 0, (void **)&text);
    if (st) return st;
    npy_parse p = {path, text, (size_t)hlen, 0, 8 + lw};
    st = parse_dict(&p, h);
    free(text);
    if (st) return st;
    h->numel = 1;
    size_t k = (size_t)snprintf(h->shape_str, sizeof h->shape_str, "(");
    for (int i = 0; i < h->ndim; i++) {
        if (!gg_mul_ok(h->numel, h->dim[i], &h->numel)) h->numel = UINT64_MAX;
        if (k < sizeof h->shape_str)
            k += (size_t)snprintf(h->shape_str + k, sizeof h->shape_str - k, "%s%llu", i ? ", " : "",
                                  (unsigned long long)h->dim[i]);
    }
    if (k < sizeof h->shape_str) snprintf(h->shape_str + k, sizeof h->shape_str - k, ")");
    if (!gg_mul_ok(h->numel, h->item, &h->bytes)) h->bytes = UINT64_MAX;
    char what[160];
    snprintf(what, sizeof what, "the header's shape %s of %s", h->shape_str, h->descr);
    return gg_reader_check_claim(r, h->bytes, what, 8 + lw, 1);
}

/* The data of h as float32 (*out) or, for uint8 features when keep_u8, as
 * bytes (*out_u8). Features must be finite and within the float32 range;
 * per is the values per sample for messages. */
static gg_status npy_data(gg_reader *r, const npy_head *h, size_t per, int keep_u8, float **out, uint8_t **out_u8)
{
    *out = NULL;
    if (out_u8) *out_u8 = NULL;
    const char *what = "the array data";
    uint64_t start = r->pos;
    if (h->type == NPY_U1 && keep_u8) return gg_reader_read_alloc(r, h->bytes, what, 1, (void **)out_u8);
    if (h->type == NPY_F4) {
        gg_status st = gg_reader_read_alloc(r, h->bytes, what, 1, (void **)out);
        if (st) return st;
        long bad = gg_first_nonfinite(*out, (size_t)h->numel);
        if (bad >= 0) {
            float v = (*out)[bad];
            free(*out);
            *out = NULL;
            return gg_fail(GG_E_NONFINITE, "%s: sample %zu, value %zu (byte offset %llu): %g is not finite", r->path,
                           (size_t)bad / per, (size_t)bad % per, (unsigned long long)(start + (uint64_t)bad * 4),
                           (double)v);
        }
        return GG_OK;
    }
    /* converted types: the float array is checked against the limit too */
    uint64_t fbytes = h->numel * sizeof(float);
    if (fbytes > GG_DATA_MAX_BYTES)
        return gg_fail(GG_E_NOMEM, "%s: %s as float32 needs %llu bytes, over the limit", r->path, h->shape_str,
                       (unsigned long long)fbytes);
    float *x = malloc(fbytes ? (size_t)fbytes : 1);
    unsigned char *tmp = malloc(NPY_CHUNK);
    if (!x || !tmp) {
        free(x);
        free(tmp);
        return gg_fail(GG_E_NOMEM, "%s: out of memory for %s", r->path, h->shape_str);
    }
    size_t done = 0, n = (size_t)h->numel, per_chunk = NPY_CHUNK / h->item;
    gg_status st = GG_OK;
    while (done < n && !st) {
        size_t k = n - done < per_chunk ? n - done : per_chunk, got = 0;
        st = gg_reader_read(r, tmp, k * h->item, &got);
        if (st) break;
        if (got < k * h->item) {
            st = gg_fail(GG_E_FORMAT, "%s: truncated: the data ends at byte offset %llu, %s needs %llu bytes from %llu",
                         r->path, (unsigned long long)r->pos, h->shape_str, (unsigned long long)h->bytes,
                         (unsigned long long)start);
            break;
        }
        for (size_t i = 0; i < k; i++) {
            double v;
            switch (h->type) {
            case NPY_F8: memcpy(&v, tmp + i * 8, 8); break;
            case NPY_I8: { int64_t t; memcpy(&t, tmp + i * 8, 8); v = (double)t; break; }
            case NPY_I4: { int32_t t; memcpy(&t, tmp + i * 4, 4); v = t; break; }
            default: v = tmp[i]; break;
            }
            size_t j = done + i;
            if (!isfinite(v) || fabs(v) > FLT_MAX) {
                st = gg_fail(isfinite(v) ? GG_E_FORMAT : GG_E_NONFINITE,
                             "%s: sample %zu, value %zu (byte offset %llu): %g is %s", r->path, j / per, j % per,
                             (unsigned long long)(start + (uint64_t)j * h->item), v,
                             isfinite(v) ? "out of the float32 range" : "not finite");
                break;
            }
            x[j] = (float)v;
        }
        done += k;
    }
    free(tmp);
    if (st) {
        free(x);
        return st;
    }
    *out = x;
    return GG_OK;
}

gg_status gg_dataset_load_npy(gg_dataset *ds, const char *features, const char *labels)
{
    if (!ds) return gg_fail(GG_E_ARG, "gg_dataset_load_npy: NULL data set");
    memset(ds, 0, sizeof *ds);
    gg_reader rf, rl;
    memset(&rf, 0, sizeof rf);
    memset(&rl, 0, sizeof rl);
    npy_head hf, hl;
    gg_status st = npy_open(&rf, features, &hf);
    if (st) goto done;
    if (hf.ndim < 1 || hf.ndim > 4) {
        st = gg_fail(GG_E_FORMAT, "%s: features of shape %s: need (n, ...) with 1 to 3 dims per sample", features,
                     hf.shape_str);
        goto done;
    }
    if (hf.dim[0] == 0) {
        st = gg_fail(GG_E_FORMAT, "%s: shape %s holds no samples", features, hf.shape_str);
        goto done;
    }
    uint64_t per = hf.numel / hf.dim[0];
    for (int i = 1; i < hf.ndim; i++)
        if (hf.dim[i] == 0 || hf.dim[i] > GG_DATA_MAX_DIM) {
            st = gg_fail(GG_E_FORMAT, "%s: dim %d of shape %s is out of range (1..%llu)", features, i, hf.shape_str,
                         (unsigned long long)GG_DATA_MAX_DIM);
            goto done;
        }
    if (per > GG_DATA_MAX_DIM) {
        st = gg_fail(GG_E_FORMAT, "%s: %llu values per sample in shape %s are over the limit", features,
                     (unsigned long long)per, hf.shape_str);
        goto done;
    }
    uint64_t lper = 0;
    if (labels) {
        st = npy_open(&rl, labels, &hl);
        if (st) goto done;
        if (hl.ndim < 1 || hl.ndim > 2) {
            st = gg_fail(GG_E_FORMAT, "%s: labels of shape %s: need (n) or (n, k)", labels, hl.shape_str);
            goto done;
        }
        if (hl.dim[0] != hf.dim[0]) {
            st = gg_fail(GG_E_FORMAT, "count mismatch: %s has %llu samples (shape %s) but %s has %llu labels (shape %s)",
                         features, (unsigned long long)hf.dim[0], hf.shape_str, labels, (unsigned long long)hl.dim[0],
                         hl.shape_str);
            goto done;
        }
        lper = hl.ndim == 2 ? hl.dim[1] : 1;
        if (lper == 0 || lper > GG_DATA_MAX_DIM) {
            st = gg_fail(GG_E_FORMAT, "%s: %llu values per label in shape %s are out of range", labels,
                         (unsigned long long)lper, hl.shape_str);
            goto done;
        }
    }
    st = npy_data(&rf, &hf, (size_t)per, 1, &ds->f32, &ds->u8);
    if (st) goto done;
    if (labels) {
        st = npy_data(&rl, &hl, (size_t)lper, 0, &ds->labels, NULL);
        if (st) goto done;
        ds->label_per = (int)lper;
    }
    ds->n = (size_t)hf.dim[0];
    ds->per = (size_t)per;
    ds->ndim = hf.ndim > 1 ? hf.ndim - 1 : 1;
    for (int i = 0; i < 3; i++) ds->shape[i] = i + 1 < hf.ndim ? (int)hf.dim[i + 1] : 0;
    if (hf.ndim == 1) ds->shape[0] = 1;
    /* uint8 features are taken for image bytes, like IDX */
    ds->scale = ds->u8 ? 1.0f / 255.0f : 1.0f;
    snprintf(ds->source, sizeof ds->source, "%s", features);
    st = gg_dataset_finish(ds, labels ? labels : features);
done:
    gg_reader_close(&rf);
    gg_reader_close(&rl);
    if (st) gg_dataset_free(ds);
    return st;
}

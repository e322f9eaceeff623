/* text.c - texts for byte-level language models: a file's bytes, its
 * vocabulary of distinct bytes, windows of ids with next-byte labels, and
 * the vocabulary file a sampler needs to turn ids back into bytes.
 *
 * A byte-level model reads any bytes, so invalid UTF-8 is accepted (and
 * reported by gg_text_utf8_error); a NUL byte is not, because text never
 * holds one while binary files and UTF-16 text nearly always do.
 *
 * A directory is read as one text: its regular files in byte order of their
 * names, concatenated. Symbolic links are left out (Debian's fortune
 * directories link NAME.u8 to NAME: each text would count twice), and so are
 * hidden files and NAME.dat (fortune's binary strfile indexes). */
#include "data.h"
#include "../core/error.h"
#include "../core/file.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

struct gg_text {
    unsigned char *data;    /* n bytes, or NULL for a vocabulary only */
    size_t n;
    long long utf8_error;   /* offset of the first invalid UTF-8 byte, or -1 */
    int vocab;
    unsigned char byte[256]; /* id -> byte, increasing */
    short id[256];           /* byte -> id, or -1 */
    char source[256];
};

/* Vocabulary file: magic and version, u16 count, the bytes, u32 CRC-32. */
static const char VOCAB_MAGIC[7] = {'G', 'G', 'V', 'O', 'C', 'A', 'B'};
#define VOCAB_VERSION 1
#define VOCAB_HEAD 10 /* magic 7, version 1, count 2 */
#define VOCAB_MAX (VOCAB_HEAD + 256 + 4)

/* Below this many ids a data set is filled on one thread. */
#define TEXT_OMP_MIN (1 << 18)

static gg_text *text_new(const char *source)
{
    gg_text *tx = calloc(1, sizeof *tx);
    if (!tx) return NULL;
    tx->utf8_error = -1;
    for (int b = 0; b < 256; b++) tx->id[b] = -1;
    snprintf(tx->source, sizeof tx->source, "%s", source);
    return tx;
}

/* The offset of the first byte that is not part of a valid UTF-8 sequence
 * (RFC 3629, table 3-7 of the Unicode standard), or -1. */
static long long utf8_first_error(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        unsigned lo = 0x80, hi = 0xbf; /* the range of the second byte */
        if (c >= 0xc2 && c <= 0xdf)
            len = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0; /* no overlong forms */
            if (c == 0xed) hi = 0x9f; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90; /* no overlong forms */
            if (c == 0xf4) hi = 0x8f; /* nothing over U+10FFFF */
        } else
            return (long long)i;
        if (n - i < (size_t)len) return (long long)i; /* cut off by the end */
        if (s[i + 1] < lo || s[i + 1] > hi) return (long long)i;
        for (int k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return (long long)i;
        i += (size_t)len;
    }
    return -1;
}

/* The bytes of one file (plain or gzip), checked: not empty, no NUL, at
 * most `limit` bytes. */
static gg_status load_file(const char *path, uint64_t limit, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    gg_reader r;
    gg_status st = gg_reader_open(&r, path);
    if (st) return st;
    /* a plain file's size is known: refuse it before allocating anything
     * (gzip data is capped by the reader as it arrives) */
    if (r.f && r.disk_size > limit) {
        gg_reader_close(&r);
        return gg_fail(GG_E_NOMEM, "text file %s is %llu bytes, over the limit of %llu bytes (%s)", path,
                       (unsigned long long)r.disk_size, (unsigned long long)limit,
                       limit == GG_TEXT_MAX_BYTES ? "1 GiB" : "what is left of 1 GiB after the directory's other files");
    }
    char *buf = NULL;
    size_t n = 0;
    st = gg_reader_slurp(&r, limit, &buf, &n);
    int gz = r.gz != NULL;
    gg_reader_close(&r);
    if (st) return st;
    if (n == 0) {
        free(buf);
        return gg_fail(GG_E_FORMAT, "text file %s is empty (0 bytes%s): a language model needs text", path,
                       gz ? " after decompression" : "");
    }
    const unsigned char *nul = memchr(buf, 0, n);
    if (nul) {
        size_t at = (size_t)(nul - (const unsigned char *)buf);
        free(buf);
        return gg_fail(GG_E_FORMAT,
                       "text file %s (%zu bytes) holds a NUL byte at byte offset %zu%s: it looks like a binary file "
                       "or UTF-16 text, not a text to train on",
                       path, n, at, gz ? " of the decompressed data" : "");
    }
    *out = buf;
    *len = n;
    return GG_OK;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A directory's text files: regular files (not symbolic links) whose names
 * neither start with '.' nor end in ".dat", in byte order of their names. */
static int text_file_name(const char *dir, const char *name)
{
    size_t l = strlen(name);
    if (name[0] == '.' || (l >= 4 && strcmp(name + l - 4, ".dat") == 0)) return 0;
    char p[4096];
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p) return 0;
    struct stat st;
    return lstat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The concatenation of a directory's text files into *out. */
static gg_status load_dir(const char *dir, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    DIR *d = opendir(dir);
    if (!d) return gg_fail(GG_E_IO, "cannot open text directory %s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t nn = 0, cap = 0;
    gg_status st = GG_OK;
    for (struct dirent *e; (e = readdir(d));) {
        if (!text_file_name(dir, e->d_name)) continue;
        if (nn == cap) {
            size_t c = cap ? 2 * cap : 64;
            char **p = c < 1000000 ? realloc(names, c * sizeof *p) : NULL;
            if (!p) {
                st = gg_fail(GG_E_NOMEM, "text directory %s: out of memory listing its files", dir);
                break;
            }
            names = p;
            cap = c;
        }
        if (!(names[nn] = strdup(e->d_name))) {
            st = gg_fail(GG_E_NOMEM, "text directory %s: out of memory listing its files", dir);
            break;
        }
        nn++;
    }
    closedir(d);
    if (!st && nn == 0)
        st = gg_fail(GG_E_FORMAT,
                     "text directory %s holds no text file (regular files, not links, whose names neither start "
                     "with '.' nor end in '.dat')",
                     dir);
    if (!st) qsort(names, nn, sizeof *names, cmp_name);
    char *all = NULL;
    size_t total = 0;
    for (size_t i = 0; i < nn && !st; i++) {
        char p[4096], *buf;
        size_t n;
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        st = load_file(p, GG_TEXT_MAX_BYTES - total, &buf, &n);
        if (st) break;
        char *grown = realloc(all, total + n);
        if (!grown) {
            free(buf);
            st = gg_fail(GG_E_NOMEM, "text directory %s: out of memory at %s (%zu bytes so far)", dir, p, total);
            break;
        }
        all = grown;
        memcpy(all + total, buf, n);
        total += n;
        free(buf);
    }
    for (size_t i = 0; i < nn; i++) free(names[i]);
    free(names);
    if (st) {
        free(all);
        return st;
    }
    *out = all;
    *len = total;
    return GG_OK;
}

gg_status gg_text_load(const char *path, gg_text **out)
{
    if (!out) return gg_fail(GG_E_ARG, "gg_text_load: NULL output");
    *out = NULL;
    if (!path || !*path) return gg_fail(GG_E_ARG, "gg_text_load: no text file name given");
    struct stat sb;
    int dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    char *buf = NULL;
    size_t n = 0;
    gg_status st = dir ? load_dir(path, &buf, &n) : load_file(path, GG_TEXT_MAX_BYTES, &buf, &n);
    if (st) return st;
    gg_text *tx = text_new(path);
    if (!tx) {
        free(buf);
        return gg_fail(GG_E_NOMEM, "text file %s: out of memory", path);
    }
    tx->data = (unsigned char *)buf;
    tx->n = n;
    tx->utf8_error = utf8_first_error(tx->data, n);
    size_t count[256] = {0};
    for (size_t i = 0; i < n; i++) count[tx->data[i]]++;
    for (int b = 0; b < 256; b++)
        if (count[b]) {
            tx->id[b] = (short)tx->vocab;
            tx->byte[tx->vocab++] = (unsigned char)b;
        }
    *out = tx;
    return GG_OK;
}

void gg_text_free(gg_text *tx)
{
    if (!tx) return;
    free(tx->data);
    free(tx);
}

size_t gg_text_size(const gg_text *tx) { return tx ? tx->n : 0; }

long long gg_text_utf8_error(const gg_text *tx) { return tx ? tx->utf8_error : -1; }

int gg_text_vocab_size(const gg_text *tx) { return tx ? tx->vocab : 0; }

int gg_text_id(const gg_text *tx, unsigned char byte) { return tx ? tx->id[byte] : -1; }

unsigned char gg_text_byte(const gg_text *tx, int id)
{
    return tx && id >= 0 && id < tx->vocab ? tx->byte[id] : 0;
}

/* The byte offset where fraction f of n bytes ends: floor(f n), so two
 * parts meeting at f share the boundary exactly. */
static size_t frac_offset(double f, size_t n)
{
    if (f >= 1) return n;
    size_t k = (size_t)floor(f * (double)n);
    return k < n ? k : n;
}

gg_status gg_text_dataset(const gg_text *tx, int T, size_t stride, double start_frac, double end_frac, gg_dataset *ds)
{
    if (!ds) return gg_fail(GG_E_ARG, "gg_text_dataset: NULL data set");
    memset(ds, 0, sizeof *ds);
    if (!tx) return gg_fail(GG_E_ARG, "gg_text_dataset: NULL text");
    if (!tx->data)
        return gg_fail(GG_E_STATE, "gg_text_dataset: %s holds only a vocabulary, no text to make windows of",
                       tx->source);
    if (T < 1) return gg_fail(GG_E_ARG, "text %s: window length T = %d, but it must be at least 1", tx->source, T);
    if (stride < 1) return gg_fail(GG_E_ARG, "text %s: window stride 0, but it must be at least 1", tx->source);
    if (!(start_frac >= 0 && start_frac < end_frac && end_frac <= 1))
        return gg_fail(GG_E_ARG, "text %s: part [%g, %g) of the text is not a range with 0 <= start < end <= 1",
                       tx->source, start_frac, end_frac);
    size_t lo = frac_offset(start_frac, tx->n), hi = frac_offset(end_frac, tx->n);
    size_t len = hi > lo ? hi - lo : 0, need = (size_t)T + 1;
    if (len < need)
        return gg_fail(GG_E_ARG,
                       "text %s: part [%g, %g) is bytes %zu..%zu (%zu bytes), too short for one window of T + 1 = %zu "
                       "bytes (T inputs and the byte after the last)",
                       tx->source, start_frac, end_frac, lo, hi, len, need);
    size_t k = (len - need) / stride + 1;
    uint64_t bytes;
    if (!gg_mul_ok(k, (uint64_t)T * sizeof(float), &bytes) || bytes > GG_DATA_MAX_BYTES)
        return gg_fail(GG_E_NOMEM,
                       "text %s: %zu windows of %d ids (stride %zu) need %llu bytes per array, over the limit of %llu "
                       "(use a larger stride)",
                       tx->source, k, T, stride, (unsigned long long)bytes, (unsigned long long)GG_DATA_MAX_BYTES);
    ds->f32 = malloc((size_t)bytes);
    ds->labels = malloc((size_t)bytes);
    if (!ds->f32 || !ds->labels) {
        gg_dataset_free(ds);
        return gg_fail(GG_E_NOMEM, "text %s: out of memory for %zu windows of %d ids (%llu bytes per array)",
                       tx->source, k, T, (unsigned long long)bytes);
    }
    ds->n = k;
    ds->ndim = 1;
    ds->shape[0] = T;
    ds->per = (size_t)T;
    ds->label_per = T;
    ds->num_classes = tx->vocab;
    ds->scale = 1;
    ds->mean = 0;
    ds->std = 1;
    snprintf(ds->source, sizeof ds->source, "%s [bytes %zu..%zu)", tx->source, lo, hi);
    const unsigned char *text = tx->data;
    const short *id = tx->id;
    float *x = ds->f32, *y = ds->labels;
    const size_t t = (size_t)T;
    const int par = (uint64_t)k * t >= TEXT_OMP_MIN;
#pragma omp parallel for if (par) schedule(static)
    for (long long w = 0; w < (long long)k; w++) {
        // x row w is the ids of text[s, s+T), y row w those of text[s+1, s+T+1)
        const unsigned char *s = text + lo + (size_t)w * stride;
        float *xr = x + (size_t)w * t, *yr = y + (size_t)w * t;
        for (size_t j = 0; j < t; j++) {
            xr[j] = (float)id[s[j]];
            yr[j] = (float)id[s[j + 1]];
        }
    }
    return GG_OK;
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le(const unsigned char *p, int bytes)
{
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint32_t crc_of(const unsigned char *p, size_t n)
{
    return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), p, n);
}

gg_status gg_text_save_vocab(const gg_text *tx, const char *path)
{
    if (!tx || !path || !*path) return gg_fail(GG_E_ARG, "gg_text_save_vocab: NULL text or no file name");
    if (tx->vocab < 1) return gg_fail(GG_E_STATE, "gg_text_save_vocab: %s has an empty vocabulary", tx->source);
    unsigned char buf[VOCAB_MAX];
    memcpy(buf, VOCAB_MAGIC, sizeof VOCAB_MAGIC);
    buf[7] = VOCAB_VERSION;
    put_le(buf + 8, (uint32_t)tx->vocab, 2);
    memcpy(buf + VOCAB_HEAD, tx->byte, (size_t)tx->vocab);
    size_t n = VOCAB_HEAD + (size_t)tx->vocab;
    put_le(buf + n, crc_of(buf, n), 4);
    return gg_write_atomic(path, buf, n + 4);
}

gg_status gg_text_load_vocab(const char *path, gg_text **out)
{
    if (!out) return gg_fail(GG_E_ARG, "gg_text_load_vocab: NULL output");
    *out = NULL;
    if (!path || !*path) return gg_fail(GG_E_ARG, "gg_text_load_vocab: no vocabulary file name given");
    int odd;
    FILE *f = gg_fopen_regular(path, &odd);
    if (!f && odd) return gg_fail(GG_E_IO, "vocabulary file %s is not a regular file", path);
    if (!f) return gg_fail(GG_E_IO, "cannot open vocabulary file %s: %s", path, strerror(errno));
    /* one byte more than the largest valid file tells an oversized one */
    unsigned char buf[VOCAB_MAX + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err) return gg_fail(GG_E_IO, "cannot read vocabulary file %s: %s", path, strerror(err));
    if (n < 8 || memcmp(buf, VOCAB_MAGIC, sizeof VOCAB_MAGIC) != 0)
        return gg_fail(GG_E_FORMAT, "%s: not a gradguard vocabulary file (no \"GGVOCAB\" magic at byte offset 0)",
                       path);
    if (buf[7] != VOCAB_VERSION)
        return gg_fail(GG_E_FORMAT, "%s: vocabulary format version %d at byte offset 7; this gradguard reads %d",
                       path, buf[7], VOCAB_VERSION);
    if (n < VOCAB_HEAD)
        return gg_fail(GG_E_FORMAT, "%s: truncated: %zu bytes, the header alone is %d", path, n, VOCAB_HEAD);
    unsigned count = get_le(buf + 8, 2);
    if (count < 1 || count > 256)
        return gg_fail(GG_E_FORMAT, "%s: byte count %u at byte offset 8 is not in 1..256", path, count);
    size_t want = VOCAB_HEAD + count + 4;
    if (n != want)
        return gg_fail(GG_E_FORMAT, "%s: %s: %zu bytes, but a vocabulary of %u bytes is a file of %zu", path,
                       n < want ? "truncated" : "trailing data", n, count, want);
    uint32_t crc = crc_of(buf, VOCAB_HEAD + count), have = get_le(buf + VOCAB_HEAD + count, 4);
    if (crc != have)
        return gg_fail(GG_E_FORMAT, "%s: checksum mismatch at byte offset %u: stored CRC-32 %08x, data gives %08x",
                       path, VOCAB_HEAD + count, (unsigned)have, (unsigned)crc);
    const unsigned char *v = buf + VOCAB_HEAD;
    for (unsigned i = 0; i < count; i++) {
        if (v[i] == 0)
            return gg_fail(GG_E_FORMAT, "%s: byte 0x00 at byte offset %u: a text vocabulary never holds NUL", path,
                           VOCAB_HEAD + i);
        if (i > 0 && v[i] <= v[i - 1])
            return gg_fail(GG_E_FORMAT, "%s: byte 0x%02x at byte offset %u does not follow 0x%02x in increasing order",
                           path, v[i], VOCAB_HEAD + i, v[i - 1]);
    }
    gg_text *tx = text_new(path);
    if (!tx) return gg_fail(GG_E_NOMEM, "vocabulary file %s: out of memory", path);
    for (unsigned i = 0; i < count; i++) {
        tx->byte[i] = v[i];
        tx->id[v[i]] = (short)i;
    }
    tx->vocab = (int)count;
    *out = tx;
    return GG_OK;
}

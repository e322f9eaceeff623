/*
 * targets.h - the fuzz targets: one function per parser of outside input,
 * shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c, built by
 * scripts/fuzz.sh with clang) and the replay test (tests/test_fuzz_regress.c,
 * a normal ctest program), so a crashing input found once stays tested.
 *
 * Each target takes the fuzzer's bytes, writes the files a loader reads
 * (into a private temporary directory), calls the library and checks what
 * a caller relies on: a failure comes with a non-empty message, a failed
 * load leaves the data set zeroed, a loaded data set is self-consistent,
 * a written file reads back the same. A target returns the number of such
 * violations (0 is good) and prints each one; a harness aborts on any, so
 * libFuzzer saves the input. Memory errors are the sanitizers' to find.
 *
 * Input layouts (the first byte is a mode; see each target):
 *   idx, npy      mode, u16 LE length L, L bytes of the first file, the rest is the second file
 *   csv           mode, the file
 *   safetensors   mode, the file
 *   config        YAML text, then optionally a NUL and '\n'-separated --set assignments
 *   text          mode, T byte, stride byte, the file (a text or a vocabulary file)
 */
#ifndef GG_FUZZ_TARGETS_H
#define GG_FUZZ_TARGETS_H

#include "gradguard.h"
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* ---- plumbing --------------------------------------------------------------- */

static char fz_dir_buf[256];
/* The status of the last target's main call (the load, open or parse):
 * the replay test checks that the seed files really load. */
static gg_status fz_last;

static void fz_cleanup(void)
{
    static const char *const names[] = {"a", "b", "c", "d"};
    char p[300];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", fz_dir_buf, names[i]);
        unlink(p);
    }
    rmdir(fz_dir_buf);
}

/* A private directory for the files of one process (memory-backed when
 * /dev/shm exists: the fuzzer writes them thousands of times a second). */
static const char *fz_dir(void)
{
    if (fz_dir_buf[0]) return fz_dir_buf;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(fz_dir_buf, sizeof fz_dir_buf, "%s/ggfuzz.XXXXXX", base);
    if (!mkdtemp(fz_dir_buf)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fz_cleanup);
    return fz_dir_buf;
}

static const char *fz_path(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", fz_dir(), name);
    return buf;
}

/* Writes data[0..n) to path, plain or gzip-compressed. */
static void fz_write(const char *path, const void *data, size_t n, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f || (n && gzwrite(f, data, (unsigned)n) != (int)n) || gzclose(f) != Z_OK) {
            fprintf(stderr, "fuzz: cannot write %s\n", path);
            abort();
        }
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
}

static int fz_violation(const char *target, const char *what)
{
    fprintf(stderr, "fuzz %s: VIOLATION: %s\n", target, what);
    return 1;
}

/* A failing status must leave a message: non-empty, bounded, terminated,
 * and for the data loaders one line (the command prints it as one; config
 * and safetensors messages may quote a value or name that holds a newline). */
static int fz_status(const char *target, gg_status st, const char *call)
{
    if (st == GG_OK) return 0;
    const char *m = gg_errmsg();
    size_t n = strnlen(m, 2048);
    const char *why = n == 0 ? "an empty" : n >= 1024 ? "an unterminated" : NULL;
    if (!why && strchr(m, '\n') && (!strcmp(target, "idx") || !strcmp(target, "csv") || !strcmp(target, "npy")))
        why = "a multi-line";
    if (why) {
        char w[1200];
        snprintf(w, sizeof w, "%s failed (%s) with %s message: %.1000s", call, gg_status_name(st), why, m);
        return fz_violation(target, w);
    }
    return 0;
}

/* Splits "mode, u16 length, first, second" (the idx and npy layout). */
static int fz_split2(const uint8_t *d, size_t n, unsigned *mode, const uint8_t **a, size_t *na, const uint8_t **b,
                     size_t *nb)
{
    if (n < 3) return 0;
    *mode = d[0];
    size_t l = (size_t)d[1] | (size_t)d[2] << 8;
    d += 3;
    n -= 3;
    if (l > n) l = n;
    *a = d;
    *na = l;
    *b = d + l;
    *nb = n - l;
    return 1;
}

/* ---- data sets ------------------------------------------------------------ */

static int fz_all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i]) return 0;
    return 1;
}

/* What every loader promises: zeroed on failure; on success a consistent
 * data set whose every sample converts to finite floats. */
static int fz_check_dataset(const char *target, gg_status st, gg_dataset *ds, const char *call)
{
    int bad = fz_status(target, st, call);
    if (st != GG_OK) {
        if (!fz_all_zero(ds, sizeof *ds)) bad += fz_violation(target, "a failed load left the data set non-empty");
        return bad;
    }
    if (ds->n == 0 || ds->per == 0) bad += fz_violation(target, "a loaded data set has no samples or no features");
    if ((ds->u8 == NULL) == (ds->f32 == NULL)) bad += fz_violation(target, "not exactly one of u8 and f32 is set");
    size_t prod = 1;
    if (ds->ndim < 1 || ds->ndim > 3) bad += fz_violation(target, "sample ndim out of 1..3");
    for (int i = 0; i < ds->ndim && i < 3; i++) {
        if (ds->shape[i] <= 0) bad += fz_violation(target, "a sample dim is not positive");
        prod *= (size_t)(ds->shape[i] > 0 ? ds->shape[i] : 0);
    }
    if (prod != ds->per) bad += fz_violation(target, "per is not the product of the sample shape");
    if (ds->labels && ds->label_per < 1) bad += fz_violation(target, "labels with label_per < 1");
    if (!(ds->scale > 0 && isfinite(ds->scale)) || ds->mean != 0 || ds->std != 1)
        bad += fz_violation(target, "bad default normalisation");
    if (bad) return bad;
    /* every label finite; num_classes as documented */
    size_t m = ds->labels ? ds->n * (size_t)ds->label_per : 0;
    for (size_t i = 0; i < m; i++)
        if (!isfinite(ds->labels[i])) return fz_violation(target, "a non-finite label was accepted");
    if (ds->num_classes > 0 && gg_dataset_check_classes(ds, ds->num_classes) != GG_OK && ds->label_per == 1)
        bad += fz_violation(target, "num_classes > 0 but the labels are not class ids below it");
    gg_status cs = gg_dataset_check_classes(ds, 0);
    bad += fz_status(target, cs, "gg_dataset_check_classes");
    /* a batch of the first, last and a middle sample: touches both ends of every array */
    size_t idx[3] = {0, ds->n / 2, ds->n - 1};
    size_t per = ds->per > 4096 ? 0 : ds->per; /* the fuzzer's inputs are small; stay bounded anyway */
    if (per) {
        float *x = malloc(3 * per * sizeof(float));
        float *y = malloc(3 * (size_t)(ds->label_per > 0 ? ds->label_per : 1) * sizeof(float));
        if (!x || !y) abort();
        gg_dataset_batch(ds, idx, 3, x, ds->labels ? y : NULL);
        for (size_t i = 0; i < 3 * per; i++)
            if (!isfinite(x[i])) {
                bad += fz_violation(target, "a batch holds a non-finite feature");
                break;
            }
        gg_dataset_standardize(ds);
        if (!(ds->std > 0 && isfinite(ds->std) && isfinite(ds->mean)))
            bad += fz_violation(target, "standardize gave a bad mean or std");
        gg_dataset_batch(ds, idx, 3, x, NULL);
        free(x);
        free(y);
        gg_dataset tr, va;
        gg_status sp = gg_dataset_split(ds, 0.5, 7, &tr, &va);
        bad += fz_status(target, sp, "gg_dataset_split");
        if (sp == GG_OK) {
            if (tr.n + va.n != ds->n) bad += fz_violation(target, "a split lost samples");
            gg_dataset_free(&tr);
            gg_dataset_free(&va);
        }
    }
    return bad;
}

/* Features and labels in two files, loaded by load (named fn in the
 * findings). mode bit 0: gzip the features, bit 1: gzip the labels, bit 2:
 * no labels file, bit 3: labels path missing. */
static int fz_pair(const uint8_t *d, size_t n, const char *target,
                   gg_status (*load)(gg_dataset *, const char *, const char *), const char *fn)
{
    unsigned mode;
    const uint8_t *a, *b;
    size_t na, nb;
    if (!fz_split2(d, n, &mode, &a, &na, &b, &nb)) return 0;
    char pa[300], pb[300];
    fz_write(fz_path("a", pa, sizeof pa), a, na, mode & 1);
    const char *labels = NULL;
    if (!(mode & 4)) {
        fz_write(fz_path("b", pb, sizeof pb), b, nb, (mode >> 1) & 1);
        labels = pb;
    }
    if (mode & 8) labels = fz_path("missing", pb, sizeof pb);
    gg_dataset ds;
    memset(&ds, 0x5a, sizeof ds); /* loaders need not get an initialised one */
    fz_last = load(&ds, pa, labels);
    int bad = fz_check_dataset(target, fz_last, &ds, fn);
    gg_dataset_free(&ds);
    return bad;
}

/* IDX images and labels; the mode bits as fz_pair's. */
static int fz_idx(const uint8_t *d, size_t n)
{
    return fz_pair(d, n, "idx", gg_dataset_load_idx, "gg_dataset_load_idx");
}

/* .npy features and labels; the mode bits as fz_pair's. */
static int fz_npy(const uint8_t *d, size_t n)
{
    return fz_pair(d, n, "npy", gg_dataset_load_npy, "gg_dataset_load_npy");
}

/* CSV. mode bit 0: gzip, bit 1: header, bits 2-4: the label column. */
static int fz_csv(const uint8_t *d, size_t n)
{
    if (n < 1) return 0;
    static const char *const labels[8] = {NULL, "0", "-1", "label", "1", "2", "x", "-99"};
    unsigned mode = d[0];
    char pa[300];
    fz_write(fz_path("a", pa, sizeof pa), d + 1, n - 1, mode & 1);
    gg_dataset ds;
    memset(&ds, 0x5a, sizeof ds);
    fz_last = gg_dataset_load_csv(&ds, pa, labels[(mode >> 2) & 7], (mode >> 1) & 1);
    int bad = fz_check_dataset("csv", fz_last, &ds, "gg_dataset_load_csv");
    gg_dataset_free(&ds);
    return bad;
}

/* ---- safetensors ------------------------------------------------------------ */

/* The file (mode bit 0: also load it into a two-tensor model). Whatever
 * opens is read whole, written back and must read back the same. */
static int fz_safetensors(const uint8_t *d, size_t n)
{
    if (n < 1) return 0;
    unsigned mode = d[0];
    char pa[300], pb[300];
    fz_write(fz_path("a", pa, sizeof pa), d + 1, n - 1, 0);
    gg_safetensors *st = NULL;
    gg_status s = fz_last = gg_safetensors_open(pa, &st);
    int bad = fz_status("safetensors", s, "gg_safetensors_open");
    if (s) {
        if (st) bad += fz_violation("safetensors", "a failed open returned a handle");
        return bad;
    }
    int cnt = gg_safetensors_count(st);
    gg_st_entry *e = calloc((size_t)(cnt ? cnt : 1), sizeof *e);
    if (!e) abort();
    double sum = 0;
    for (int i = 0; i < cnt; i++) {
        const char *name;
        gg_shape sh;
        const float *data;
        if (gg_safetensors_get(st, i, &name, &sh, &data)) {
            bad += fz_violation("safetensors", "gg_safetensors_get failed on an index below the count");
            continue;
        }
        if (sh.ndim < 0 || sh.ndim > GG_MAX_DIMS) bad += fz_violation("safetensors", "a tensor with a bad ndim");
        size_t ne = gg_shape_numel(sh);
        for (size_t k = 0; k < ne; k++) sum += data[k]; /* reads all of it: ASan checks the bounds */
        gg_shape sh2;
        const float *d2;
        if (gg_safetensors_find(st, name, &sh2, &d2) || d2 != data)
            bad += fz_violation("safetensors", "gg_safetensors_find does not find a listed tensor");
        e[i].name = name;
        e[i].shape = sh;
        e[i].data = data;
    }
    (void)sum;
    bad += fz_status("safetensors", gg_safetensors_find(st, "no such tensor", NULL, NULL), "gg_safetensors_find");
    if (gg_safetensors_get(st, cnt, NULL, NULL, NULL) == GG_OK)
        bad += fz_violation("safetensors", "gg_safetensors_get accepted an index past the end");
    (void)gg_safetensors_meta(st, "gg_format");
    /* round trip: what was read, written as F32, reads back bit for bit */
    s = gg_safetensors_write(fz_path("b", pb, sizeof pb), e, cnt, NULL, 0);
    bad += fz_status("safetensors", s, "gg_safetensors_write");
    if (s == GG_OK) {
        gg_safetensors *st2 = NULL;
        s = gg_safetensors_open(pb, &st2);
        bad += fz_status("safetensors", s, "gg_safetensors_open (round trip)");
        if (s) bad += fz_violation("safetensors", "a file written from a loaded one does not load");
        else if (gg_safetensors_count(st2) != cnt)
            bad += fz_violation("safetensors", "the round trip changed the tensor count");
        else
            for (int i = 0; i < cnt; i++) {
                gg_shape sh2;
                const float *d2;
                if (gg_safetensors_find(st2, e[i].name, &sh2, &d2) || sh2.ndim != e[i].shape.ndim ||
                    memcmp(sh2.d, e[i].shape.d, sizeof(int) * (size_t)sh2.ndim) != 0 ||
                    (gg_shape_numel(sh2) && memcmp(d2, e[i].data, gg_shape_numel(sh2) * sizeof(float)) != 0)) {
                    bad += fz_violation("safetensors", "the round trip changed a tensor");
                    break;
                }
            }
        gg_safetensors_close(st2);
    }
    free(e);
    gg_safetensors_close(st);
    if (mode & 1) {
        /* a model with "w" (2, 3) and "b" (3): names and shapes must match */
        gg_graph *g = gg_graph_new(1);
        gg_param(g, "w", gg_shape2(2, 3), (gg_init){GG_INIT_ZEROS, 0, 0});
        gg_param(g, "b", gg_shape1(3), (gg_init){GG_INIT_ZEROS, 0, 0});
        if (gg_graph_compile(g)) abort();
        fz_last = gg_model_load(g, pa);
        bad += fz_status("safetensors", fz_last, "gg_model_load");
        gg_graph_free(g);
    }
    return bad;
}

/* ---- the YAML config -------------------------------------------------------- */

/* Every typed getter on every key and item: none may fail without a
 * message, and a node's path and place must be printable. */
static int fz_cfg_walk(gg_cfg_node *n, int depth)
{
    int bad = 0;
    char w[600];
    gg_cfg_where(n, w, sizeof w);
    (void)gg_cfg_path(n);
    (void)gg_cfg_line(n);
    if (depth > 100) return fz_violation("config", "a tree deeper than the parser's limit");
    gg_cfg_type ty = gg_cfg_node_type(n);
    if (ty == GG_CFG_SCALAR) {
        long l;
        double f;
        bad += fz_status("config", gg_cfg_as_int(n, -1000, 1000, &l), "gg_cfg_as_int");
        bad += fz_status("config", gg_cfg_as_float(n, -1e30, 1e30, &f), "gg_cfg_as_float");
        if (!gg_cfg_scalar(n)) bad += fz_violation("config", "a scalar without text");
    } else if (ty == GG_CFG_SEQ) {
        for (int i = 0; i < gg_cfg_len(n); i++) bad += fz_cfg_walk(gg_cfg_at(n, i), depth + 1);
        if (gg_cfg_at(n, gg_cfg_len(n))) bad += fz_violation("config", "gg_cfg_at past the end");
    } else if (ty == GG_CFG_MAP) {
        static const char *const ch[] = {"a", "relu", "sgd"};
        for (int i = 0; i < gg_cfg_len(n); i++) {
            gg_cfg_node *v;
            const char *key = gg_cfg_key_at(n, i, &v);
            if (!key) {
                bad += fz_violation("config", "gg_cfg_key_at gave no key below the length");
                continue;
            }
            long l;
            double f;
            int b, e;
            const char *s;
            bad += fz_status("config", gg_cfg_int(n, key, 0, 100000, &l), "gg_cfg_int");
            bad += fz_status("config", gg_cfg_float(n, key, 0, 1000, &f), "gg_cfg_float");
            bad += fz_status("config", gg_cfg_bool(n, key, &b), "gg_cfg_bool");
            bad += fz_status("config", gg_cfg_str(n, key, &s), "gg_cfg_str");
            bad += fz_status("config", gg_cfg_enum(n, key, ch, 3, &e), "gg_cfg_enum");
            if (gg_cfg_get(n, key) != v) bad += fz_violation("config", "gg_cfg_get disagrees with gg_cfg_key_at");
            bad += fz_cfg_walk(v, depth + 1);
        }
    }
    return bad;
}

/* Same tree: types, keys, texts; quoted text stays quoted, and plain text
 * may only become quoted where no typed getter would read it as a number. */
static int fz_cfg_same(gg_cfg_node *a, gg_cfg_node *b)
{
    gg_cfg_type ta = gg_cfg_node_type(a), tb = gg_cfg_node_type(b);
    if (ta != tb) return 0;
    if (ta == GG_CFG_SCALAR) {
        if (strcmp(gg_cfg_scalar(a), gg_cfg_scalar(b)) != 0) return 0;
        /* a number read back as a string (or the reverse) changes what a getter sees */
        double fa, fb;
        int na = gg_cfg_as_float(a, -INFINITY, INFINITY, &fa) == GG_OK;
        int nb = gg_cfg_as_float(b, -INFINITY, INFINITY, &fb) == GG_OK;
        return na == nb;
    }
    if (gg_cfg_len(a) != gg_cfg_len(b)) return 0;
    for (int i = 0; i < gg_cfg_len(a); i++) {
        if (ta == GG_CFG_SEQ) {
            if (!fz_cfg_same(gg_cfg_at(a, i), gg_cfg_at(b, i))) return 0;
        } else {
            gg_cfg_node *va, *vb;
            const char *ka = gg_cfg_key_at(a, i, &va), *kb = gg_cfg_key_at(b, i, &vb);
            if (strcmp(ka, kb) != 0 || !fz_cfg_same(va, vb)) return 0;
        }
    }
    return 1;
}

/* YAML text, then after a NUL up to 8 '\n'-separated --set assignments:
 * parse, set, the trainer's own strict reads (gg_settings_read), the
 * unknown-key check, every getter, and the write/read round trip. */
static int fz_config(const uint8_t *d, size_t n)
{
    const uint8_t *nul = memchr(d, 0, n);
    size_t tlen = nul ? (size_t)(nul - d) : n;
    gg_cfg *c = NULL;
    gg_status s = fz_last = gg_cfg_parse((const char *)d, tlen, "fuzz.yaml", &c);
    int bad = fz_status("config", s, "gg_cfg_parse");
    if (s) {
        if (c) bad += fz_violation("config", "a failed parse returned a config");
        return bad;
    }
    if (nul) {
        char *sets = malloc(n - tlen);
        if (!sets) abort();
        memcpy(sets, nul + 1, n - tlen - 1);
        sets[n - tlen - 1] = 0;
        char *line = sets;
        for (int k = 0; k < 8 && line; k++) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = 0;
            bad += fz_status("config", gg_cfg_set(c, line), "gg_cfg_set");
            line = nl ? nl + 1 : NULL;
        }
        free(sets);
    }
    gg_settings *st = malloc(sizeof *st);
    if (!st) abort();
    bad += fz_status("config", gg_settings_read(c, st), "gg_settings_read");
    free(st);
    bad += fz_status("config", gg_cfg_unused(c), "gg_cfg_unused");
    bad += fz_cfg_walk(gg_cfg_root(c), 0);
    char pa[300];
    s = gg_cfg_write(c, fz_path("c", pa, sizeof pa));
    bad += fz_status("config", s, "gg_cfg_write");
    if (s == GG_OK) {
        gg_cfg *c2 = NULL;
        s = gg_cfg_load(pa, &c2);
        bad += fz_status("config", s, "gg_cfg_load (round trip)");
        if (s) bad += fz_violation("config", "a written config does not parse again");
        else if (!fz_cfg_same(gg_cfg_root(c), gg_cfg_root(c2)))
            bad += fz_violation("config", "the written config reads back as a different tree");
        gg_cfg_free(c2);
    }
    gg_cfg_free(c);
    return bad;
}

/* ---- texts and vocabulary files ------------------------------------------- */

/* The same vocabulary: size, and the same byte for every id both ways. */
static int fz_vocab_same(const gg_text *a, const gg_text *b)
{
    if (gg_text_vocab_size(a) != gg_text_vocab_size(b)) return 0;
    for (int b8 = 0; b8 < 256; b8++)
        if (gg_text_id(a, (unsigned char)b8) != gg_text_id(b, (unsigned char)b8)) return 0;
    for (int i = 0; i < gg_text_vocab_size(a); i++)
        if (gg_text_byte(a, i) != gg_text_byte(b, i)) return 0;
    return 1;
}

/* A vocabulary is consistent: 1..256 ids, bytes strictly increasing and
 * never NUL, id and byte inverse to each other, every other byte -1. */
static int fz_vocab_check(const gg_text *tx)
{
    int v = gg_text_vocab_size(tx), bad = 0, seen = 0;
    if (v < 1 || v > 256) return fz_violation("text", "a vocabulary size outside 1..256");
    for (int i = 0; i < v; i++) {
        unsigned char b = gg_text_byte(tx, i);
        if (b == 0) bad += fz_violation("text", "NUL in a vocabulary");
        if (i > 0 && b <= gg_text_byte(tx, i - 1)) bad += fz_violation("text", "vocabulary bytes not increasing");
        if (gg_text_id(tx, b) != i) bad += fz_violation("text", "gg_text_id is not the inverse of gg_text_byte");
    }
    for (int b = 0; b < 256; b++) seen += gg_text_id(tx, (unsigned char)b) >= 0;
    if (seen != v) bad += fz_violation("text", "more bytes have ids than the vocabulary size");
    if (gg_text_byte(tx, v) != 0 || gg_text_byte(tx, -1) != 0) bad += fz_violation("text", "gg_text_byte past the end");
    return bad;
}

/* A text file (mode bit 1 clear) or a vocabulary file (set); bit 0: gzip
 * the text. A text that loads must have every byte in its vocabulary, make
 * windows whose ids match its bytes, and save a vocabulary that reads back
 * the same; a vocabulary that loads must save and read back the same and
 * refuse to make windows. T = 1 + (byte 1 mod 64), stride 1 + (byte 2 mod 16). */
static int fz_text(const uint8_t *d, size_t n)
{
    if (n < 3) return 0;
    unsigned mode = d[0];
    int T = 1 + d[1] % 64;
    size_t stride = 1 + d[2] % 16;
    const uint8_t *f = d + 3;
    size_t nf = n - 3;
    char pa[300], pb[300];
    fz_write(fz_path("a", pa, sizeof pa), f, nf, (mode & 1) && !(mode & 2));
    gg_text *tx = NULL;
    int bad = 0;
    if (mode & 2) {
        gg_status s = fz_last = gg_text_load_vocab(pa, &tx);
        bad += fz_status("text", s, "gg_text_load_vocab");
        if (s) {
            if (tx) bad += fz_violation("text", "a failed vocabulary load returned a text");
            return bad;
        }
        if (gg_text_size(tx) != 0) bad += fz_violation("text", "a vocabulary file holds text");
        bad += fz_vocab_check(tx);
        gg_dataset ds;
        gg_status w = gg_text_dataset(tx, T, stride, 0, 1, &ds);
        bad += fz_status("text", w, "gg_text_dataset");
        if (w != GG_E_STATE) bad += fz_violation("text", "windows from a vocabulary-only text");
        if (w == GG_OK) gg_dataset_free(&ds);
    } else {
        gg_status s = fz_last = gg_text_load(pa, &tx);
        bad += fz_status("text", s, "gg_text_load");
        if (s) {
            if (tx) bad += fz_violation("text", "a failed text load returned a text");
            return bad;
        }
        if (gg_text_size(tx) != nf) bad += fz_violation("text", "the text's size is not the file's");
        bad += fz_vocab_check(tx);
        if (memchr(f, 0, nf)) bad += fz_violation("text", "a text with a NUL byte was accepted");
        for (size_t i = 0; i < nf; i++)
            if (gg_text_id(tx, f[i]) < 0) {
                bad += fz_violation("text", "a byte of the text has no id");
                break;
            }
        long long u = gg_text_utf8_error(tx);
        if (u < -1 || u >= (long long)nf) bad += fz_violation("text", "the UTF-8 error offset is outside the text");
        /* the whole text, then two parts meeting at 0.5 */
        static const double parts[3][2] = {{0, 1}, {0, 0.5}, {0.5, 1}};
        for (int p = 0; p < 3; p++) {
            gg_dataset ds;
            memset(&ds, 0x5a, sizeof ds);
            gg_status w = gg_text_dataset(tx, T, stride, parts[p][0], parts[p][1], &ds);
            bad += fz_check_dataset("text", w, &ds, "gg_text_dataset");
            if (w == GG_OK) {
                size_t lo = (size_t)(parts[p][0] * (double)nf);
                if (ds.num_classes != gg_text_vocab_size(tx))
                    bad += fz_violation("text", "num_classes is not the vocabulary size");
                if (lo + (ds.n - 1) * stride + (size_t)T + 1 > nf)
                    bad += fz_violation("text", "a window reaches past the end of the text");
                /* the last window: its ids are the text's bytes, its labels the next ones */
                size_t w0 = lo + (ds.n - 1) * stride, r = (ds.n - 1) * (size_t)T;
                for (int j = 0; j < T && w0 + (size_t)j + 1 < nf; j++)
                    if (ds.f32[r + (size_t)j] != (float)gg_text_id(tx, f[w0 + (size_t)j]) ||
                        ds.labels[r + (size_t)j] != (float)gg_text_id(tx, f[w0 + (size_t)j + 1])) {
                        bad += fz_violation("text", "a window's ids are not the text's bytes");
                        break;
                    }
            }
            gg_dataset_free(&ds);
        }
    }
    /* the vocabulary round trip, through the file a sampler reads */
    gg_status s = gg_text_save_vocab(tx, fz_path("b", pb, sizeof pb));
    bad += fz_status("text", s, "gg_text_save_vocab");
    if (s == GG_OK) {
        gg_text *v2 = NULL;
        s = gg_text_load_vocab(pb, &v2);
        bad += fz_status("text", s, "gg_text_load_vocab (round trip)");
        if (s) bad += fz_violation("text", "a saved vocabulary does not load");
        else if (!fz_vocab_same(tx, v2))
            bad += fz_violation("text", "the vocabulary round trip changed it");
        gg_text_free(v2);
    }
    gg_text_free(tx);
    return bad;
}

/* ---- the table ------------------------------------------------------------ */

typedef int (*fz_target_fn)(const uint8_t *d, size_t n);
typedef struct fz_target {
    const char *name;
    fz_target_fn fn;
} fz_target;

static const fz_target fz_targets[] = {
    {"idx", fz_idx}, {"csv", fz_csv}, {"npy", fz_npy}, {"safetensors", fz_safetensors}, {"config", fz_config},
    {"text", fz_text},
};

static inline fz_target_fn fz_find(const char *name)
{
    for (size_t i = 0; i < sizeof fz_targets / sizeof fz_targets[0]; i++)
        if (strcmp(fz_targets[i].name, name) == 0) return fz_targets[i].fn;
    return NULL;
}

#endif

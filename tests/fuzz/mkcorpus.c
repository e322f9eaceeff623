/*
 * mkcorpus.c - writes the seed corpus tests/fuzz/corpus/<target>/: a few
 * small valid inputs per target, in the layouts tests/fuzz/targets.h
 * documents (a mode byte, then the files). Run by scripts/fuzz.sh
 * --regen-corpus; the output is committed, so a normal build never runs it.
 *
 *   mkcorpus OUT_DIR CONFIGS_DIR
 */
#include "gradguard.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *out_dir;

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_s(buf *b, const char *s) { put(b, s, strlen(s)); }
static void put_u8(buf *b, unsigned v) { unsigned char c = (unsigned char)v; put(b, &c, 1); }
static void put_be32(buf *b, uint32_t v)
{
    unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    put(b, c, 4);
}
static void put_le(buf *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) put_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void save(const char *target, const char *name, const buf *b)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", out_dir, target);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f)) {
        perror(p);
        exit(1);
    }
}

/* the two-file layout: mode, u16 LE length of the first, first, second */
static void save2(const char *target, const char *name, unsigned mode, const buf *a, const buf *b)
{
    buf o = {0};
    put_u8(&o, mode);
    put_le(&o, a->n, 2);
    put(&o, a->p, a->n);
    if (b) put(&o, b->p, b->n);
    save(target, name, &o);
    free(o.p);
}

/* a gzip stream of b (so the fuzzer also mutates compressed bytes) */
static buf gzip_of(const buf *b)
{
    buf o = {0};
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    o.cap = deflateBound(&z, b->n) + 32;
    o.p = malloc(o.cap);
    z.next_in = b->p;
    z.avail_in = (uInt)b->n;
    z.next_out = o.p;
    z.avail_out = (uInt)o.cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    o.n = z.total_out;
    deflateEnd(&z);
    return o;
}

static buf idx_images(int n, int r, int c)
{
    buf b = {0};
    put_be32(&b, 0x00000803);
    put_be32(&b, (uint32_t)n);
    put_be32(&b, (uint32_t)r);
    put_be32(&b, (uint32_t)c);
    for (int i = 0; i < n * r * c; i++) put_u8(&b, (unsigned)(i * 37) & 0xff);
    return b;
}

static buf idx_labels(int n)
{
    buf b = {0};
    put_be32(&b, 0x00000801);
    put_be32(&b, (uint32_t)n);
    for (int i = 0; i < n; i++) put_u8(&b, (unsigned)i % 10);
    return b;
}

static void idx(void)
{
    buf a = idx_images(3, 4, 4), l = idx_labels(3);
    save2("idx", "plain-3x4x4", 0, &a, &l);
    free(a.p), free(l.p);
    a = idx_images(2, 2, 3), l = idx_labels(2);
    save2("idx", "gzip-both-2x2x3", 3, &a, &l);
    free(a.p), free(l.p);
    a = idx_images(1, 5, 7);
    save2("idx", "images-only-1x5x7", 4, &a, NULL);
    free(a.p);
    a = idx_images(10, 3, 3), l = idx_labels(10);
    save2("idx", "gzip-images-10x3x3", 1, &a, &l);
    buf ga = gzip_of(&a), gl = gzip_of(&l);
    save2("idx", "pregzipped-10x3x3", 0, &ga, &gl); /* written as is: the reader sees the gzip magic */
    free(a.p), free(l.p), free(ga.p), free(gl.p);
}

static void csv(void)
{
    buf b = {0};
    /* mode: bit 0 gzip, bit 1 header, bits 2-4 label index {NULL,"0","-1","label","1","2","x","-99"} */
    put_u8(&b, 2 | 3 << 2);
    put_s(&b, "a,b,label\n1,2,0\n3.5,-4e2,1\n0.25,1e-3,2\n");
    save("csv", "header-label", &b);
    b.n = 0;
    put_u8(&b, 0 | 1 << 2);
    put_s(&b, "1,0.5,0.25\n0,1.5,2.5\n2,3,4\n");
    save("csv", "noheader-col0", &b);
    b.n = 0;
    put_u8(&b, 2 | 2 << 2);
    put_s(&b, "\xef\xbb\xbf\"x, 1\",\"y\"\"q\",lab\r\n\r\n\"1\", 2 ,3\r\n 4,\"5\",6\r\n\n");
    save("csv", "bom-quoted-crlf", &b);
    b.n = 0;
    put_u8(&b, 1);
    put_s(&b, "0.1,0.2,0.3,0.4\n-1,-2,-3,-4\n");
    save("csv", "gzip-nolabel", &b);
    b.n = 0;
    put_u8(&b, 2 | 4 << 2);
    put_s(&b, "f,g\n1e38,-3.4e38\n1.5e-45,0\n");
    save("csv", "header-extremes", &b);
    free(b.p);
}

/* a .npy file: version major, descr, shape text, count*item bytes of data */
static buf npy(int major, const char *descr, const char *shape, const void *data, size_t bytes)
{
    char dict[256];
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    size_t pre = major == 1 ? 10 : 12;
    size_t total = pre + (size_t)k + 1;
    size_t pad = (64 - total % 64) % 64;
    buf b = {0};
    put(&b, "\x93NUMPY", 6);
    put_u8(&b, (unsigned)major);
    put_u8(&b, 0);
    put_le(&b, (uint64_t)k + pad + 1, major == 1 ? 2 : 4);
    put(&b, dict, (size_t)k);
    for (size_t i = 0; i < pad; i++) put_u8(&b, ' ');
    put_u8(&b, '\n');
    put(&b, data, bytes);
    return b;
}

static void npys(void)
{
    float f[12] = {0, 1, -2.5f, 3, 4e-3f, 5, 6, 7, 8, 9, 10, 11};
    int64_t l8[3] = {0, 2, 1};
    buf a = npy(1, "<f4", "(3, 2, 2)", f, sizeof f), l = npy(1, "<i8", "(3,)", l8, sizeof l8);
    save2("npy", "f4-3x2x2-i8", 0, &a, &l);
    free(a.p), free(l.p);
    unsigned char u[18], lu[2] = {1, 0};
    for (int i = 0; i < 18; i++) u[i] = (unsigned char)(i * 14);
    a = npy(2, "|u1", "(2, 3, 3)", u, sizeof u), l = npy(2, "|u1", "(2,)", lu, sizeof lu);
    save2("npy", "u1-v2-2x3x3", 0, &a, &l);
    free(a.p), free(l.p);
    double d[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -12.5};
    float lf[8] = {0.5f, 1, 2, 3, 4, 5, 6, 7};
    a = npy(1, "<f8", "(4, 3)", d, sizeof d), l = npy(1, "<f4", "(4, 2)", lf, sizeof lf);
    save2("npy", "f8-4x3-f4-4x2", 0, &a, &l);
    free(a.p), free(l.p);
    int32_t i4[10] = {1, -2, 3, -4, 5, 6, 7, 8, 9, 10};
    a = npy(3, "<i4", "(2, 5)", i4, sizeof i4);
    save2("npy", "i4-v3-nolabels", 4, &a, NULL);
    free(a.p);
    int32_t li[2] = {3, 4};
    a = npy(1, "<f4", "(2, 2)", f, 16), l = npy(1, "<i4", "(2,)", li, sizeof li);
    save2("npy", "gzip-f4-2x2", 3, &a, &l);
    free(a.p), free(l.p);
}

/* a plain safetensors file from a header text and data */
static buf st_plain(const char *json, const void *data, size_t bytes)
{
    size_t n = strlen(json), pad = (8 - n % 8) % 8;
    buf b = {0};
    put_le(&b, n + pad, 8);
    put(&b, json, n);
    for (size_t i = 0; i < pad; i++) put_u8(&b, ' ');
    put(&b, data, bytes);
    return b;
}

static void safetensors(const char *tmp)
{
    float w[6] = {1, 2, 3, 4, 5, 6}, bb[3] = {-1, 0.5f, 2};
    gg_st_entry e[2] = {{"w", gg_shape2(2, 3), w}, {"b", gg_shape1(3), bb}};
    const char *meta[2] = {"gg_kind", "model"};
    if (gg_safetensors_write(tmp, e, 2, meta, 1)) {
        fprintf(stderr, "mkcorpus: %s\n", gg_errmsg());
        exit(1);
    }
    FILE *f = fopen(tmp, "rb");
    buf file = {0};
    unsigned char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) put(&file, chunk, k);
    fclose(f);
    remove(tmp);
    for (int mode = 0; mode < 2; mode++) {
        buf b = {0};
        put_u8(&b, (unsigned)mode);
        put(&b, file.p, file.n);
        save("safetensors", mode ? "gradguard-model-load" : "gradguard-model", &b);
        free(b.p);
    }
    free(file.p);
    /* no gradguard metadata: no checksums, so mutations reach the model load */
    unsigned char data[36];
    memcpy(data, w, 24);
    memcpy(data + 24, bb, 12);
    buf s = st_plain("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}",
                     data, sizeof data);
    buf b = {0};
    put_u8(&b, 1);
    put(&b, s.p, s.n);
    save("safetensors", "plain-model-load", &b);
    free(s.p);
    /* every dtype, a scalar and an empty tensor, metadata and escapes */
    unsigned char all[8 + 8 + 4 + 4 + 8 + 4 + 2 + 4];
    size_t o = 0;
    double f64 = -2.5;
    memcpy(all + o, &f64, 8), o += 8;
    int64_t i64 = -7;
    memcpy(all + o, &i64, 8), o += 8;
    uint16_t f16[2] = {0x3c00, 0x8001}; /* 1.0 and the smallest negative subnormal */
    memcpy(all + o, f16, 4), o += 4;
    uint16_t bf16[2] = {0x3f80, 0x7f80}; /* 1.0 and +inf */
    memcpy(all + o, bf16, 4), o += 4;
    int32_t i32[2] = {123, -456};
    memcpy(all + o, i32, 8), o += 8;
    float sc = 3.25f;
    memcpy(all + o, &sc, 4), o += 4;
    unsigned char u8[2] = {0, 255};
    memcpy(all + o, u8, 2), o += 2;
    memcpy(all + o, &sc, 4), o += 4;
    s = st_plain("{\"__metadata__\":{\"note\":\"caf\\u00e9 \\ud83d\\ude00\",\"k\":\"v\"},"
                 "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                 "\"i\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[8,16]},"
                 "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]},"
                 "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2,1],\"data_offsets\":[20,24]},"
                 "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[24,32]},"
                 "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[32,36]},"
                 "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[36,36]},"
                 "\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[36,38]},"
                 "\"x\\ty\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1],\"data_offsets\":[38,42]}}",
                 all, o);
    b.n = 0;
    put_u8(&b, 0);
    put(&b, s.p, s.n);
    save("safetensors", "plain-every-dtype", &b);
    free(s.p);
    free(b.p);
}

/* reads a whole small file into a buffer (exits on failure) */
static buf slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    buf b = {0};
    unsigned char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, k);
    fclose(f);
    return b;
}

static void config(const char *configs)
{
    static const char *const files[] = {"fashion-mlp.yaml", "fashion-cnn.yaml", "gauntlet/5-faults.yaml",
                                        "gauntlet/1-deep-mlp.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", configs, files[i]);
        buf b = slurp(p);
        const char *base = strrchr(files[i], '/');
        save("config", base ? base + 1 : files[i], &b);
        free(b.p);
    }
    buf b = {0};
    put_s(&b, "base: &b {units: 64, act: relu}\n"
              "model:\n  - *b\n  - {<<: *b, units: 10}\n"
              "data: {format: csv, train: \"a b.csv\", label: 'label', header: yes, test: ~}\n"
              "optimizer:\n  name: sgd\n  lr: .inf\n  momentum: 0.9\n"
              "schedule: {name: step, step_size: 3, gamma: 0.5}\n"
              "text: |\n  two\n  lines\n"
              "train: {epochs: 2, seed: 0x10, batch: -1}\n");
    put_u8(&b, 0);
    put_s(&b, "train.epochs=3\nmodel.1.units=[1, 2]\noptimizer.lr=\"1e-3\"\nnew.key.path={a: 1}\ndata.test=");
    save("config", "anchors-and-sets", &b);
    b.n = 0;
    put_s(&b, "guard:\n  enabled: true\n  clip: norm\n  max_norm: 1.0\n  on_nonfinite: rollback\n"
              "  faults:\n    - {batch: 3, nan: true}\n    - {batch: 6, node: fc2/linear, backward: true}\n"
              "regularize: {l1: 0, l2: 1e-4}\nloss: {name: huber, delta: 2}\n---\n");
    save("config", "bad-second-document", &b);
    free(b.p);
}


/* text: mode (bit 0 gzip, bit 1 vocabulary file), T byte, stride byte, the
 * file. Texts in ASCII, UTF-8 and not-quite UTF-8; vocabulary files as
 * gg_text_save_vocab writes them (made from a text through the library). */
static void text(const char *tmp)
{
    static const struct {
        const char *name, *s;
        unsigned mode, T, stride;
    } texts[] = {
        {"ascii-lines", "to be, or not to be,\nthat is the question:\nwhether 'tis nobler in the mind\n", 0, 15, 3},
        {"utf8-multibyte", "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82 end\n", 0, 7,
         0},
        {"gzip-ascii", "the quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX.\n", 1, 31, 1},
        {"invalid-utf8-tail", "latin-1 caf\xe9 and a cut-off \xe2\x80", 0, 4, 2},
        {"one-window", "ab", 0, 0, 0},
    };
    char vpath[1100];
    snprintf(vpath, sizeof vpath, "%s.vocab", tmp);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        buf b = {0};
        put_u8(&b, texts[i].mode);
        put_u8(&b, texts[i].T);
        put_u8(&b, texts[i].stride);
        put_s(&b, texts[i].s);
        save("text", texts[i].name, &b);
        free(b.p);
        if (i > 1) continue;
        /* the vocabulary of the first two texts, as a vocabulary seed */
        FILE *f = fopen(tmp, "wb");
        if (!f || fputs(texts[i].s, f) < 0 || fclose(f)) {
            perror(tmp);
            exit(1);
        }
        gg_text *tx = NULL;
        if (gg_text_load(tmp, &tx) || gg_text_save_vocab(tx, vpath)) {
            fprintf(stderr, "mkcorpus: %s\n", gg_errmsg());
            exit(1);
        }
        gg_text_free(tx);
        buf v = slurp(vpath);
        buf o = {0};
        put_u8(&o, 2);
        put_u8(&o, 8);
        put_u8(&o, 1);
        put(&o, v.p, v.n);
        save("text", i == 0 ? "vocab-ascii" : "vocab-utf8", &o);
        free(v.p);
        free(o.p);
    }
    remove(tmp);
    remove(vpath);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mkcorpus OUT_DIR CONFIGS_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0755);
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s/.tmp.safetensors", out_dir);
    idx();
    csv();
    npys();
    safetensors(tmp);
    config(argv[2]);
    snprintf(tmp, sizeof tmp, "%s/.tmp.text", out_dir);
    text(tmp);
    return 0;
}

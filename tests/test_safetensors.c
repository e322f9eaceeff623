/* test_safetensors.c - the safetensors writer and reader, byte by byte, and
 * the atomic writer: round trips, the exact layout on disk, other tools'
 * dtypes, and every kind of damage a file can take (each refused with a
 * message that names the file and the place). */
#define _POSIX_C_SOURCE 200809L
#include "gradguard.h"
#include "gt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];

static char *pathof(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

/* A file with this header (padded to 8 with spaces) and data. */
static void make_file(const char *path, const char *json, const void *data, size_t n)
{
    size_t h = strlen(json), hp = (h + 7) / 8 * 8;
    unsigned char *b = calloc(1, 8 + hp + n + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hp >> (8 * i));
    memcpy(b + 8, json, h);
    memset(b + 8 + h, ' ', hp - h);
    if (n) memcpy(b + 8 + hp, data, n);
    spit(path, b, 8 + hp + n);
    free(b);
}

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static const unsigned char *find_bytes(const unsigned char *h, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(h + i, s, k)) return h + i;
    return NULL;
}

/* Opening must fail with status want and a message holding every one of
 * the substrings. */
static void expect_fail(const char *path, gg_status want, const char *s1, const char *s2)
{
    gg_safetensors *st = (gg_safetensors *)1;
    gg_status s = gg_safetensors_open(path, &st);
    GT_CHECK(s == want, "%s: status %d, want %d (%s)", path, (int)s, (int)want, gg_errmsg());
    GT_CHECK(st == NULL, "%s: no object on failure", path);
    GT_CHECK(contains(gg_errmsg(), path), "message names the file: %s", gg_errmsg());
    if (s1) GT_CHECK(contains(gg_errmsg(), s1), "message has '%s': %s", s1, gg_errmsg());
    if (s2) GT_CHECK(contains(gg_errmsg(), s2), "message has '%s': %s", s2, gg_errmsg());
    if (s == GG_OK) gg_safetensors_close(st);
}

static int count_temps(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* Values that a bit-exact round trip must keep: signs, subnormals, inf. */
static float a_vals[12], b_vals[4], c_vals[12], s_val[1];

static gg_status write_sample(const char *path)
{
    for (int i = 0; i < 12; i++) a_vals[i] = (float)(i * 0.25 - 1.5);
    a_vals[3] = 1e-40f; /* subnormal */
    a_vals[4] = -0.0f;
    for (int i = 0; i < 4; i++) b_vals[i] = (float)(100 + i);
    b_vals[2] = INFINITY;
    for (int i = 0; i < 12; i++) c_vals[i] = (float)(i * i) / 7.0f;
    s_val[0] = 3.5f;
    gg_st_entry e[5] = {
        {"fc1.weight", gg_shape2(3, 4), a_vals},
        {"fc1.bias", gg_shape1(4), b_vals},
        {"conv \"odd\\name\"", gg_shape4(2, 1, 2, 3), c_vals},
        {"scalar", {0, {0}}, s_val},
        {"empty", gg_shape2(0, 5), NULL},
    };
    const char *meta[] = {"gg_kind", "model", "note", "quote \" backslash \\ newline \n tab \t end", "step", "42"};
    return gg_safetensors_write(path, e, 5, meta, 3);
}

static void test_round_trip(void)
{
    const char *p = pathof("model.safetensors");
    GT_OK(write_sample(p));
    gg_safetensors *st = NULL;
    GT_OK(gg_safetensors_open(p, &st));
    if (!st) return;
    GT_CHECK(gg_safetensors_count(st) == 5, "count %d", gg_safetensors_count(st));
    const char *names[5] = {"fc1.weight", "fc1.bias", "conv \"odd\\name\"", "scalar", "empty"};
    const float *vals[5] = {a_vals, b_vals, c_vals, s_val, NULL};
    gg_shape shapes[5] = {gg_shape2(3, 4), gg_shape1(4), gg_shape4(2, 1, 2, 3), {0, {0}}, gg_shape2(0, 5)};
    for (int i = 0; i < 5; i++) {
        const char *name;
        gg_shape sh;
        const float *d;
        GT_OK(gg_safetensors_get(st, i, &name, &sh, &d));
        GT_CHECK(!strcmp(name, names[i]), "tensor %d is '%s', want '%s'", i, name, names[i]);
        GT_CHECK(sh.ndim == shapes[i].ndim, "'%s' ndim %d want %d", names[i], sh.ndim, shapes[i].ndim);
        for (int k = 0; k < sh.ndim; k++) GT_CHECK(sh.d[k] == shapes[i].d[k], "'%s' dim %d", names[i], k);
        size_t n = gg_shape_numel(sh);
        if (vals[i]) GT_CHECK(!memcmp(d, vals[i], n * 4), "'%s' data differs", names[i]);
        /* find gives the same tensor */
        const float *d2;
        gg_shape sh2;
        GT_OK(gg_safetensors_find(st, names[i], &sh2, &d2));
        GT_CHECK(d2 == d && sh2.ndim == sh.ndim, "find '%s'", names[i]);
    }
    GT_CHECK(gg_safetensors_get(st, 5, NULL, NULL, NULL) == GG_E_ARG, "index out of range");
    GT_CHECK(gg_safetensors_find(st, "fc2.weight", NULL, NULL) == GG_E_FORMAT, "absent tensor");
    GT_CHECK(contains(gg_errmsg(), "fc2.weight") && contains(gg_errmsg(), p), "absent: %s", gg_errmsg());
    const char *m = gg_safetensors_meta(st, "note");
    GT_CHECK(m && !strcmp(m, "quote \" backslash \\ newline \n tab \t end"), "meta note '%s'", m ? m : "(null)");
    m = gg_safetensors_meta(st, "gg_kind");
    GT_CHECK(m && !strcmp(m, "model"), "meta gg_kind");
    m = gg_safetensors_meta(st, "gg_format");
    GT_CHECK(m && !strcmp(m, "gradguard-1"), "meta gg_format");
    GT_CHECK(gg_safetensors_meta(st, "absent") == NULL, "absent meta");
    /* gg_crc32 is zlib's CRC-32 of the data buffer: all tensors, in order */
    uLong crc = crc32(0, Z_NULL, 0);
    crc = crc32(crc, (const Bytef *)a_vals, 48);
    crc = crc32(crc, (const Bytef *)b_vals, 16);
    crc = crc32(crc, (const Bytef *)c_vals, 48);
    crc = crc32(crc, (const Bytef *)s_val, 4);
    char hex[16];
    snprintf(hex, sizeof hex, "%08lx", crc);
    m = gg_safetensors_meta(st, "gg_crc32");
    GT_CHECK(m && !strcmp(m, hex), "gg_crc32 %s, want %s", m ? m : "(null)", hex);
    gg_safetensors_close(st);
    gg_safetensors_close(NULL);
}

/* The bytes on disk, read directly: a safetensors file any tool can read. */
static void test_layout(void)
{
    const char *p = pathof("model.safetensors");
    size_t n;
    unsigned char *b = slurp(p, &n);
    GT_CHECK(b && n > 8, "file read");
    if (!b) return;
    uint64_t hn = 0;
    for (int i = 0; i < 8; i++) hn |= (uint64_t)b[i] << (8 * i);
    GT_CHECK(hn % 8 == 0, "header length %llu is a multiple of 8", (unsigned long long)hn);
    size_t data = (12 + 4 + 12 + 1) * 4;
    GT_CHECK(8 + hn + data == n, "8 + %llu + %zu == file size %zu", (unsigned long long)hn, data, n);
    char *h = malloc(hn + 1);
    memcpy(h, b + 8, hn);
    h[hn] = 0;
    GT_CHECK(!strncmp(h, "{\"__metadata__\":{\"gg_kind\":\"model\",", 35), "header starts: %.60s", h);
    GT_CHECK(contains(h, "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}"), "fc1.weight: %s",
             h);
    GT_CHECK(contains(h, "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[48,64]}"), "fc1.bias");
    GT_CHECK(contains(h, "\"conv \\\"odd\\\\name\\\"\":{\"dtype\":\"F32\",\"shape\":[2,1,2,3],\"data_offsets\":[64,112]}"),
             "escaped name: %s", h);
    GT_CHECK(contains(h, "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[112,116]}"), "scalar");
    GT_CHECK(contains(h, "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[116,116]}"), "empty");
    GT_CHECK(contains(h, "\"note\":\"quote \\\" backslash \\\\ newline \\n tab \\t end\""), "escaped meta: %s", h);
    GT_CHECK(contains(h, "\"gg_format\":\"gradguard-1\""), "gg_format");
    /* the JSON ends with '}' and only spaces pad it */
    size_t end = strlen(h);
    while (end > 0 && h[end - 1] == ' ') end--;
    GT_CHECK(end > 0 && h[end - 1] == '}' && hn - end < 8, "padding: %zu spaces", hn - end);
    /* data: little-endian F32 in tensor order (this host is little-endian) */
    GT_CHECK(!memcmp(b + 8 + hn, a_vals, 48) && !memcmp(b + 8 + hn + 48, b_vals, 16), "data bytes");
    GT_CHECK(!memcmp(b + 8 + hn + 112, s_val, 4), "scalar bytes");
    free(h);
    free(b);
}

/* Files other tools write: no gradguard metadata, every supported dtype,
 * loaded as float32. */
static void test_dtypes(void)
{
    unsigned char d[256];
    size_t k = 0;
    double f64[2] = {1.5, -2.25};
    memcpy(d + k, f64, 16), k += 16;
    uint16_t f16[4] = {0x3C00, 0xC000, 0x0001, 0x7C00}; /* 1, -2, smallest subnormal 2^-24, inf */
    memcpy(d + k, f16, 8), k += 8;
    uint16_t bf16[2] = {0x3FC0, 0xC120}; /* 1.5, -10 */
    memcpy(d + k, bf16, 4), k += 4;
    int64_t i64[2] = {-7, 1234567};
    memcpy(d + k, i64, 16), k += 16;
    int32_t i32[3] = {-1, 0, 65536};
    memcpy(d + k, i32, 12), k += 12;
    uint8_t u8[4] = {0, 1, 200, 255};
    memcpy(d + k, u8, 4), k += 4;
    const char *json = "{\"a\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": [0, 16]},\n"
                       " \"b\": {\"dtype\": \"F16\", \"shape\": [2, 2], \"data_offsets\": [16, 24]},\n"
                       " \"c\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [24, 28]},\n"
                       " \"d\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [28, 44]},\n"
                       " \"e\": {\"dtype\": \"I32\", \"shape\": [3], \"data_offsets\": [44, 56]},\n"
                       " \"f\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [56, 60]},\n"
                       " \"__metadata__\": {\"format\": \"pt\", \"uni\": \"caf\\u00e9 \\ud83d\\ude00\"}}";
    const char *p = pathof("foreign.safetensors");
    make_file(p, json, d, k);
    gg_safetensors *st = NULL;
    GT_OK(gg_safetensors_open(p, &st));
    if (!st) return;
    float want[6][4] = {{1.5f, -2.25f}, {1, -2, 5.9604645e-08f, INFINITY}, {1.5f, -10}, {-7, 1234567},
                        {-1, 0, 65536}, {0, 1, 200, 255}};
    int len[6] = {2, 4, 2, 2, 3, 4};
    const char *names = "abcdef";
    for (int i = 0; i < 6; i++) {
        char nm[2] = {names[i], 0};
        const float *x;
        gg_shape sh;
        GT_OK(gg_safetensors_find(st, nm, &sh, &x));
        GT_CHECK((int)gg_shape_numel(sh) == len[i], "'%s' numel", nm);
        for (int j = 0; j < len[i]; j++) GT_CHECK(x[j] == want[i][j], "'%s'[%d] = %g, want %g", nm, j, x[j], want[i][j]);
    }
    const char *u = gg_safetensors_meta(st, "uni");
    GT_CHECK(u && !strcmp(u, "caf\xc3\xa9 \xf0\x9f\x98\x80"), "\\u escapes decode to UTF-8");
    /* the file's types, in header order, and the metadata in file order */
    const char *types[6] = {"F64", "F16", "BF16", "I64", "I32", "U8"};
    for (int i = 0; i < 6; i++) {
        const char *dt = gg_safetensors_dtype(st, i);
        GT_CHECK(dt && !strcmp(dt, types[i]), "tensor %d dtype %s, want %s", i, dt ? dt : "(null)", types[i]);
    }
    GT_CHECK(gg_safetensors_dtype(st, 6) == NULL && gg_safetensors_dtype(st, -1) == NULL && gg_safetensors_dtype(NULL, 0) == NULL,
             "dtype out of range");
    GT_CHECK(gg_safetensors_meta_count(st) == 2, "2 metadata pairs, got %d", gg_safetensors_meta_count(st));
    const char *v = NULL, *k0 = gg_safetensors_meta_at(st, 0, &v);
    GT_CHECK(k0 && !strcmp(k0, "format") && v && !strcmp(v, "pt"), "pair 0 format=pt");
    const char *k1 = gg_safetensors_meta_at(st, 1, NULL);
    GT_CHECK(k1 && !strcmp(k1, "uni"), "pair 1 is uni");
    v = "unchanged";
    GT_CHECK(gg_safetensors_meta_at(st, 2, &v) == NULL && gg_safetensors_meta_at(st, -1, NULL) == NULL &&
                 gg_safetensors_meta_count(NULL) == 0,
             "meta out of range");
    gg_safetensors_close(st);
}

static void test_bad_files(void)
{
    float d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const char *p;

    p = pathof("short.safetensors");
    spit(p, "\x10\0\0", 3);
    expect_fail(p, GG_E_FORMAT, "too short", NULL);

    p = pathof("hugelen.safetensors");
    make_file(p, "{}", NULL, 0);
    {
        size_t n;
        unsigned char *b = slurp(p, &n);
        b[5] = 0x01; /* header length 2^40 + 8 */
        spit(p, b, n);
        free(b);
    }
    expect_fail(p, GG_E_FORMAT, "header length", "larger than the file");

    p = pathof("missing.safetensors");
    expect_fail(p, GG_E_IO, "No such file", NULL);

    /* truncated: a valid gradguard file missing its last bytes */
    {
        const char *good = pathof("model.safetensors");
        size_t n;
        unsigned char *b = slurp(good, &n);
        p = pathof("truncated.safetensors");
        spit(p, b, n - 6);
        expect_fail(p, GG_E_FORMAT, "truncated", NULL);
        spit(p, b, 8 + 20); /* cut inside the header */
        expect_fail(p, GG_E_FORMAT, "larger than the file", NULL);
        free(b);
    }

    p = pathof("badjson.safetensors");
    make_file(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],}", d, 8);
    expect_fail(p, GG_E_FORMAT, "bad safetensors header at byte 40", "expected a key");
    make_file(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", d, 8);
    expect_fail(p, GG_E_FORMAT, "after the header object", NULL);
    make_file(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", d, 8);
    expect_fail(p, GG_E_FORMAT, "expected an integer", NULL);
    make_file(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", d, 8);
    expect_fail(p, GG_E_FORMAT, "negative", NULL);
    make_file(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", d, 8);
    expect_fail(p, GG_E_FORMAT, "unexpected end", NULL);
    make_file(p, "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8);
    expect_fail(p, GG_E_FORMAT, "UTF-8", NULL);
    make_file(p, "[1,2]", NULL, 0);
    expect_fail(p, GG_E_FORMAT, "not a JSON object", NULL);

    p = pathof("range.safetensors");
    make_file(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", d, 16);
    expect_fail(p, GG_E_FORMAT, "'w'", "go past the 16-byte data buffer");
    make_file(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", d, 8);
    expect_fail(p, GG_E_FORMAT, "'w'", "begin 8 > end 4");

    p = pathof("overlap.safetensors");
    make_file(p,
              "{\"first\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"second\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              d, 12);
    expect_fail(p, GG_E_FORMAT, "'second'", "overlaps tensor 'first'");
    make_file(p,
              "{\"first\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"second\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
              d, 12);
    expect_fail(p, GG_E_FORMAT, "'second'", "gap");

    p = pathof("size.safetensors");
    make_file(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d, 8);
    expect_fail(p, GG_E_FORMAT, "'w'", "hold 8 bytes, but 3 F32 elements need 12");
    make_file(p, "{\"w\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8);
    expect_fail(p, GG_E_FORMAT, "'w'", "2 F64 elements need 16");

    p = pathof("dims.safetensors");
    make_file(p, "{\"w5\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", d, 8);
    expect_fail(p, GG_E_FORMAT, "'w5' has 5 dims", "at most 4");

    p = pathof("dtype.safetensors");
    make_file(p, "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", d, 8);
    expect_fail(p, GG_E_FORMAT, "'w'", "dtype 'F8_E4M3' is not supported");

    p = pathof("dup.safetensors");
    make_file(p,
              "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
              d, 8);
    expect_fail(p, GG_E_FORMAT, "duplicate key 'w'", NULL);

    p = pathof("field.safetensors");
    make_file(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", d, 8);
    expect_fail(p, GG_E_FORMAT, "'w'", "unknown field 'extra'");
    make_file(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", d, 8);
    expect_fail(p, GG_E_FORMAT, "'w'", "missing 'data_offsets'");
    make_file(p, "{\"__metadata__\":{\"k\":1}}", NULL, 0);
    expect_fail(p, GG_E_FORMAT, "metadata 'k' is not a string", NULL);
}

/* Every single-bit flip in a gradguard file is refused: in the data by the
 * data CRC, in the length and header by the parser, the size checks and
 * the header CRC. */
/* Flips bit `bit` of byte i of the file in place (pwrite: the file stays
 * otherwise as written). */
static void flip(int fd, const unsigned char *b, size_t i, int bit)
{
    unsigned char c = (unsigned char)(b[i] ^ (1 << bit));
    if (pwrite(fd, &c, 1, (off_t)i) != 1) perror("pwrite");
}

static void unflip(int fd, const unsigned char *b, size_t i)
{
    if (pwrite(fd, b + i, 1, (off_t)i) != 1) perror("pwrite");
}

static void test_bit_flips(void)
{
    const char *good = pathof("model.safetensors");
    const char *p = pathof("flipped.safetensors");
    size_t n;
    unsigned char *b = slurp(good, &n);
    if (!b) return;
    spit(p, b, n);
    int fd = open(p, O_WRONLY);
    uint64_t hn = 0;
    for (int i = 0; i < 8; i++) hn |= (uint64_t)b[i] << (8 * i);
    /* the data: one bit of every byte, each bit position in turn */
    int refused_data = 0, data_bits = 0, checksum_msgs = 0;
    for (size_t i = 8 + hn; i < n; i++) {
        flip(fd, b, i, (int)(i % 8));
        gg_safetensors *st = NULL;
        gg_status s = gg_safetensors_open(p, &st);
        unflip(fd, b, i);
        data_bits++;
        refused_data += s == GG_E_FORMAT;
        checksum_msgs += contains(gg_errmsg(), "checksum does not match") && contains(gg_errmsg(), p);
        gg_safetensors_close(st);
    }
    GT_CHECK(refused_data == data_bits, "data flips refused: %d of %d", refused_data, data_bits);
    GT_CHECK(checksum_msgs == data_bits, "data flips reported as a checksum mismatch: %d of %d", checksum_msgs,
             data_bits);

    /* the length and the header: every bit */
    int refused = 0, bits = 0;
    for (size_t i = 0; i < 8 + hn; i++)
        for (int bit = 0; bit < 8; bit++) {
            flip(fd, b, i, bit);
            gg_safetensors *st = NULL;
            gg_status s = gg_safetensors_open(p, &st);
            unflip(fd, b, i);
            bits++;
            if (s != GG_OK && contains(gg_errmsg(), p)) refused++;
            else if (s == GG_OK) fprintf(stderr, "  accepted a flip of bit %d of byte %zu\n", bit, i);
            gg_safetensors_close(st);
        }
    GT_CHECK(refused == bits, "header flips refused: %d of %d", refused, bits);

    /* one flip in a tensor name ('fc1.weight' -> 'fc1.weighu') keeps valid
     * JSON: only the header checksum catches it */
    const unsigned char *at = find_bytes(b + 8, hn, "fc1.weight");
    GT_CHECK(at != NULL, "name in header");
    if (at) {
        size_t i = (size_t)(at - b) + 9;
        flip(fd, b, i, 0);
        expect_fail(p, GG_E_FORMAT, "header checksum does not match", NULL);
        unflip(fd, b, i);
    }
    gg_safetensors *st = NULL;
    GT_OK(gg_safetensors_open(p, &st));
    gg_safetensors_close(st);
    close(fd);
    free(b);
}

static void test_atomic(void)
{
    const char *p = pathof("model.safetensors");
    size_t n0;
    unsigned char *before = slurp(p, &n0);

    /* a target in a directory that does not exist: the error names the path */
    const char *bad = "/nonexistent-gradguard-dir/sub/out.safetensors";
    float x[2] = {1, 2};
    gg_st_entry e = {"x", gg_shape1(2), x};
    gg_status s = gg_safetensors_write(bad, &e, 1, NULL, 0);
    GT_CHECK(s == GG_E_IO, "status %d", (int)s);
    GT_CHECK(contains(gg_errmsg(), bad) && contains(gg_errmsg(), "No such file or directory"), "message: %s",
             gg_errmsg());
    s = gg_write_atomic(bad, "abc", 3);
    GT_CHECK(s == GG_E_IO && contains(gg_errmsg(), bad), "gg_write_atomic: %s", gg_errmsg());

    /* bad arguments fail before anything is written */
    gg_st_entry two[2] = {{"x", gg_shape1(2), x}, {"x", gg_shape1(1), x}};
    s = gg_safetensors_write(p, two, 2, NULL, 0);
    GT_CHECK(s == GG_E_ARG && contains(gg_errmsg(), "two tensors are named 'x'"), "dup: %s", gg_errmsg());
    gg_st_entry nodata = {"y", gg_shape1(2), NULL};
    s = gg_safetensors_write(p, &nodata, 1, NULL, 0);
    GT_CHECK(s == GG_E_ARG && contains(gg_errmsg(), "'y' has no data"), "no data: %s", gg_errmsg());

    /* a write that fails half-way (the file size limit: EFBIG even for root)
     * leaves the old file untouched and no temporary behind */
    size_t big = 1 << 16;
    float *z = calloc(big, sizeof *z);
    gg_st_entry ez = {"big", gg_shape1((int)big), z};
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        s = gg_safetensors_write(p, &ez, 1, NULL, 0);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", gg_errmsg());
        setrlimit(RLIMIT_FSIZE, &old);
        GT_CHECK(s == GG_E_IO, "over the size limit: status %d", (int)s);
        GT_CHECK(contains(msg, p) && contains(msg, "too large"), "message: %s", msg);
    }
    free(z);
    size_t n1;
    unsigned char *after = slurp(p, &n1);
    GT_CHECK(before && after && n0 == n1 && !memcmp(before, after, n0), "old file intact");
    GT_CHECK(count_temps() == 0, "no temporary files left: %d", count_temps());
    gg_safetensors *st = NULL;
    GT_OK(gg_safetensors_open(p, &st));
    gg_safetensors_close(st);
    free(before);
    free(after);

    /* gg_write_atomic replaces a file whole */
    const char *q = pathof("plain.txt");
    GT_OK(gg_write_atomic(q, "first version\n", 14));
    GT_OK(gg_write_atomic(q, "second\n", 7));
    size_t nq;
    unsigned char *bq = slurp(q, &nq);
    GT_CHECK(bq && nq == 7 && !memcmp(bq, "second\n", 7), "replaced content");
    free(bq);
    GT_OK(gg_write_atomic(q, NULL, 0));
    bq = slurp(q, &nq);
    GT_CHECK(bq && nq == 0, "empty file");
    free(bq);
    s = gg_write_atomic(pathof(""), "x", 1);
    GT_CHECK(s == GG_E_ARG && contains(gg_errmsg(), "directory"), "a directory path: %s", gg_errmsg());
    GT_CHECK(count_temps() == 0, "no temporary files left");
}

/* The header alone: metadata and shapes without the data; a damaged data
 * buffer goes unnoticed, a damaged header or a short file does not. */
static void test_header_only(void)
{
    const char *good = pathof("model.safetensors");
    gg_safetensors *st = NULL;
    GT_OK(gg_safetensors_open_header(good, &st));
    if (!st) return;
    GT_CHECK(gg_safetensors_count(st) == 5, "header only: count %d", gg_safetensors_count(st));
    const char *m = gg_safetensors_meta(st, "gg_kind");
    GT_CHECK(m && !strcmp(m, "model"), "header only: meta gg_kind");
    gg_shape sh;
    const float *d = a_vals;
    GT_OK(gg_safetensors_find(st, "fc1.weight", &sh, &d));
    GT_CHECK(d == NULL && sh.ndim == 2 && sh.d[0] == 3 && sh.d[1] == 4, "header only: fc1.weight has data or a wrong shape");
    gg_safetensors_close(st);

    size_t n;
    unsigned char *b = slurp(good, &n);
    if (!b) return;
    uint64_t hn = 0;
    for (int i = 0; i < 8; i++) hn |= (uint64_t)b[i] << (8 * i);
    const char *p = pathof("header-only.safetensors");
    /* a flipped data byte: only the full read sees it */
    b[n - 3] ^= 1;
    spit(p, b, n);
    st = NULL;
    GT_OK(gg_safetensors_open_header(p, &st));
    gg_safetensors_close(st);
    expect_fail(p, GG_E_FORMAT, "data checksum does not match", NULL);
    b[n - 3] ^= 1;
    /* a flipped name in the header: the header checksum */
    const unsigned char *at = find_bytes(b + 8, hn, "fc1.weight");
    if (at) {
        size_t i = (size_t)(at - b) + 9;
        b[i] ^= 1;
        spit(p, b, n);
        st = NULL;
        GT_CHECK(gg_safetensors_open_header(p, &st) == GG_E_FORMAT && contains(gg_errmsg(), "header checksum") &&
                     contains(gg_errmsg(), p),
                 "header only: a flipped name: %s", gg_errmsg());
        gg_safetensors_close(st);
        b[i] ^= 1;
    }
    /* cut inside the data: the offsets no longer fit the file */
    spit(p, b, n - 4);
    st = NULL;
    GT_CHECK(gg_safetensors_open_header(p, &st) == GG_E_FORMAT && contains(gg_errmsg(), p),
             "header only: a truncated file: %s", gg_errmsg());
    gg_safetensors_close(st);
    free(b);
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(pathof(e->d_name));
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/gg_st_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_layout();
    test_dtypes();
    test_bad_files();
    test_bit_flips();
    test_header_only();
    test_atomic();
    cleanup();
    return gt_done("test_safetensors");
}

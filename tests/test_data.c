/* test_data.c - the data loaders (IDX plain/gzip, CSV, .npy) on fixture
 * files written here, their refusals of bad data (each message must name
 * the file and the place), split, standardisation, batches and shuffling;
 * and, when it is installed, the real Fashion-MNIST. */
#include "gradguard.h"
#include "fixture.h"
#include "gt.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* The call failed with status want (or any failure if want is GG_OK) and its
 * message holds every one of the NULL-terminated strings. */
static void expect_fail_(int line, gg_status got, gg_status want, ...)
{
    const char *msg = gg_errmsg();
    GT_CHECK(got != GG_OK && (want == GG_OK || got == want), "line %d: status %d (want %d): %s", line, (int)got,
             (int)want, msg);
    va_list ap;
    va_start(ap, want);
    for (const char *s; (s = va_arg(ap, const char *));)
        GT_CHECK(strstr(msg, s) != NULL, "line %d: message lacks '%s': %s", line, s, msg);
    va_end(ap);
}
#define EXPECT_FAIL(call, want, ...) expect_fail_(__LINE__, (call), (want), __VA_ARGS__, (const char *)NULL)

/* The dataset left by a failed load is empty. */
static int is_empty(const gg_dataset *d) { return d->n == 0 && !d->u8 && !d->f32 && !d->labels; }

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* ---- IDX ------------------------------------------------------------------ */

enum { IN = 5, IR = 3, IC = 4 };
static unsigned char img_file[16 + IN * IR * IC], lab_file[8 + IN];
static const unsigned char idx_labels[IN] = {0, 3, 1, 2, 3};

static void make_idx(void)
{
    be32(img_file, 0x803);
    be32(img_file + 4, IN);
    be32(img_file + 8, IR);
    be32(img_file + 12, IC);
    for (int i = 0; i < IN * IR * IC; i++) img_file[16 + i] = (unsigned char)(i * 37 + 11);
    be32(lab_file, 0x801);
    be32(lab_file + 4, IN);
    memcpy(lab_file + 8, idx_labels, IN);
}

static void check_idx(const gg_dataset *d, const char *img_name)
{
    GT_CHECK(d->n == IN && d->ndim == 2 && d->shape[0] == IR && d->shape[1] == IC && d->per == IR * IC,
             "n %zu ndim %d shape %dx%d per %zu", d->n, d->ndim, d->shape[0], d->shape[1], d->per);
    GT_CHECK(d->u8 && !d->f32 && memcmp(d->u8, img_file + 16, IN * IR * IC) == 0, "image bytes round-trip");
    int ok = d->labels && d->label_per == 1;
    for (int i = 0; ok && i < IN; i++) ok = d->labels[i] == idx_labels[i];
    GT_CHECK(ok, "labels round-trip");
    GT_CHECK(d->num_classes == 4, "num_classes %d", d->num_classes);
    GT_NEAR(d->scale, 1.0 / 255, 1e-7, 0, "scale");
    GT_CHECK(d->mean == 0 && d->std == 1, "default normalisation");
    GT_CHECK(strstr(d->source, img_name) != NULL, "source %s", d->source);
}

static void test_idx(void)
{
    make_idx();
    gg_dataset d;
    write_file("img.idx", img_file, sizeof img_file);
    write_file("lab.idx", lab_file, sizeof lab_file);
    write_gz("img.idx.gz", img_file, sizeof img_file);
    write_gz("lab.idx.gz", lab_file, sizeof lab_file);

    GT_OK(gg_dataset_load_idx(&d, path_of("img.idx"), path_of("lab.idx")));
    check_idx(&d, "img.idx");
    /* a batch is raw * scale (mean 0, std 1) */
    size_t idx[2] = {4, 0};
    float x[2 * IR * IC], y[2];
    gg_dataset_batch(&d, idx, 2, x, y);
    GT_NEAR(x[0], img_file[16 + 4 * IR * IC] / 255.0, 1e-6, 0, "batch x[0]");
    GT_NEAR(x[IR * IC + 5], img_file[16 + 5] / 255.0, 1e-6, 0, "batch x[1, 5]");
    GT_CHECK(y[0] == 3 && y[1] == 0, "batch labels %g %g", y[0], y[1]);
    gg_dataset_free(&d);
    GT_CHECK(is_empty(&d), "free zeroes");
    gg_dataset_free(NULL);

    GT_OK(gg_dataset_load_idx(&d, path_of("img.idx.gz"), path_of("lab.idx.gz")));
    check_idx(&d, "img.idx.gz");
    gg_dataset_free(&d);
    /* mixed plain and gzip */
    GT_OK(gg_dataset_load_idx(&d, path_of("img.idx.gz"), path_of("lab.idx")));
    check_idx(&d, "img.idx.gz");
    gg_dataset_free(&d);
    /* no labels */
    GT_OK(gg_dataset_load_idx(&d, path_of("img.idx"), NULL));
    GT_CHECK(d.n == IN && !d.labels && d.num_classes == 0, "unlabelled");
    gg_dataset_free(&d);

    /* truncated data (plain): names the file, says truncated and where */
    write_file("trunc.idx", img_file, sizeof img_file - 5);
    EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("trunc.idx"), path_of("lab.idx")), GG_E_FORMAT, "trunc.idx",
                "truncated", "byte offset 16");
    GT_CHECK(is_empty(&d), "failed load leaves it empty");
    /* truncated header */
    write_file("trunch.idx", img_file, 10);
    EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("trunch.idx"), NULL), GG_E_FORMAT, "trunch.idx", "truncated");
    /* a complete gzip stream with too little data for its header */
    write_gz("short.idx.gz", img_file, sizeof img_file - 7);
    EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("short.idx.gz"), path_of("lab.idx")), GG_E_FORMAT, "short.idx.gz",
                "truncated", "7 bytes short");
    /* a gzip file cut in the middle of its compressed stream */
    {
        static unsigned char big[16 + 200 * 28 * 28];
        be32(big, 0x803);
        be32(big + 4, 200);
        be32(big + 8, 28);
        be32(big + 12, 28);
        uint32_t s = 12345;
        for (size_t i = 16; i < sizeof big; i++) big[i] = (unsigned char)((s = s * 1103515245u + 12345u) >> 24);
        write_gz("cut.idx.gz", big, sizeof big);
        FILE *f = fopen(path_of("cut.idx.gz"), "rb");
        static unsigned char gz[sizeof big + 1024];
        size_t n = fread(gz, 1, sizeof gz, f);
        fclose(f);
        write_file("cut.idx.gz", gz, n / 2);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("cut.idx.gz"), NULL), GG_E_FORMAT, "cut.idx.gz", "truncated");
        GT_CHECK(is_empty(&d), "failed gz load leaves it empty");
        /* flipped bits in the compressed stream: corrupt or a CRC mismatch */
        for (size_t i = n / 2; i < n / 2 + 64; i++) gz[i] ^= 0x5a;
        write_file("bad.idx.gz", gz, n);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("bad.idx.gz"), NULL), GG_E_FORMAT, "bad.idx.gz", "gzip");
    }
    /* trailing bytes after the data */
    {
        unsigned char more[sizeof img_file + 3];
        memcpy(more, img_file, sizeof img_file);
        memset(more + sizeof img_file, 0, 3);
        write_file("more.idx", more, sizeof more);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("more.idx"), NULL), GG_E_FORMAT, "more.idx", "unexpected data",
                    "byte offset 76");
        write_gz("more.idx.gz", more, sizeof more);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("more.idx.gz"), NULL), GG_E_FORMAT, "more.idx.gz",
                    "unexpected data");
    }
    /* wrong magic */
    {
        unsigned char bad[sizeof img_file];
        memcpy(bad, img_file, sizeof bad);
        be32(bad, 0x804);
        write_file("magic.idx", bad, sizeof bad);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("magic.idx"), path_of("lab.idx")), GG_E_FORMAT, "magic.idx",
                    "wrong magic 0x00000804", "byte offset 0");
        be32(bad, 0x0D03); /* float32 IDX */
        write_file("magic.idx", bad, sizeof bad);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("magic.idx"), NULL), GG_E_FORMAT, "magic.idx", "float32");
        /* files swapped */
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("lab.idx"), path_of("img.idx")), GG_E_FORMAT, "lab.idx",
                    "wrong magic", "label file");
    }
    /* count mismatch between images and labels */
    {
        unsigned char lab4[8 + 4];
        be32(lab4, 0x801);
        be32(lab4 + 4, 4);
        memcpy(lab4 + 8, idx_labels, 4);
        write_file("lab4.idx", lab4, sizeof lab4);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("img.idx"), path_of("lab4.idx")), GG_E_FORMAT, "count mismatch",
                    "img.idx", "lab4.idx", "5 images", "4 labels");
    }
    /* a header claiming 2^31 images in a tiny file: refused before any
     * allocation (ASan would abort on a 1.6 TB malloc) */
    {
        unsigned char huge[sizeof img_file];
        memcpy(huge, img_file, sizeof huge);
        be32(huge + 4, 0x80000000u);
        be32(huge + 8, 28);
        be32(huge + 12, 28);
        write_file("huge.idx", huge, sizeof huge);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("huge.idx"), NULL), GG_E_FORMAT, "huge.idx", "2147483648",
                    "truncated", "byte offset 4");
        write_gz("huge.idx.gz", huge, sizeof huge);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("huge.idx.gz"), NULL), GG_E_FORMAT, "huge.idx.gz", "2147483648",
                    "cannot hold");
        /* 2^31 labels against 5 images: the count mismatch comes first */
        unsigned char hl[sizeof lab_file];
        memcpy(hl, lab_file, sizeof hl);
        be32(hl + 4, 0x80000000u);
        write_file("hugel.idx", hl, sizeof hl);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("img.idx"), path_of("hugel.idx")), GG_E_FORMAT, "count mismatch");
        /* a zero dim */
        be32(huge + 4, 0);
        write_file("zero.idx", huge, sizeof huge);
        EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("zero.idx"), NULL), GG_E_FORMAT, "zero.idx", "byte offset 4");
    }
    EXPECT_FAIL(gg_dataset_load_idx(&d, path_of("absent.idx"), NULL), GG_E_IO, "absent.idx");
    EXPECT_FAIL(gg_dataset_load_idx(&d, dir, NULL), GG_E_IO, "not a regular file");
}

/* ---- CSV ------------------------------------------------------------------ */

static void test_csv(void)
{
    gg_dataset d;
    const char *good = "a,b,label\n1,2,0\n3.5 , -4e1,2\n\n5,\"6\",1\r\n";
    write_text("good.csv", good);
    const char *specs[3] = {"label", "2", "-1"};
    for (int s = 0; s < 3; s++) {
        GT_OK(gg_dataset_load_csv(&d, path_of("good.csv"), specs[s], 1));
        GT_CHECK(d.n == 3 && d.per == 2 && d.ndim == 1 && d.shape[0] == 2 && d.f32 && !d.u8 && d.label_per == 1,
                 "%s: n %zu per %zu", specs[s], d.n, d.per);
        const float want[6] = {1, 2, 3.5f, -40, 5, 6}, lw[3] = {0, 2, 1};
        int ok = d.n == 3;
        for (int i = 0; ok && i < 6; i++) ok = d.f32[i] == want[i];
        for (int i = 0; ok && i < 3; i++) ok = d.labels[i] == lw[i];
        GT_CHECK(ok, "label %s: values", specs[s]);
        GT_CHECK(d.num_classes == 3 && d.scale == 1 && d.mean == 0 && d.std == 1, "num_classes %d", d.num_classes);
        gg_dataset_free(&d);
    }
    /* the first column as label */
    GT_OK(gg_dataset_load_csv(&d, path_of("good.csv"), "a", 1));
    GT_CHECK(d.n == 3 && d.per == 2 && d.labels[1] == 3.5f && d.f32[1] == 0 && d.f32[3] == 2, "label a");
    GT_CHECK(d.num_classes == 0, "non-integer labels are regression targets: %d", d.num_classes);
    gg_dataset_free(&d);
    /* no labels: every column a feature */
    GT_OK(gg_dataset_load_csv(&d, path_of("good.csv"), NULL, 1));
    GT_CHECK(d.n == 3 && d.per == 3 && !d.labels && d.label_per == 0 && d.f32[5] == 2, "no labels");
    gg_dataset_free(&d);
    /* no header, quoted names, a BOM, gzip */
    write_text("nohdr.csv", "\xef\xbb\xbf" "1,2,3\n4,5,6\n");
    GT_OK(gg_dataset_load_csv(&d, path_of("nohdr.csv"), "-1", 0));
    GT_CHECK(d.n == 2 && d.per == 2 && d.labels[0] == 3 && d.labels[1] == 6 && d.f32[2] == 4, "no header");
    gg_dataset_free(&d);
    write_text("quoted.csv", "\"x, y\",\"say \"\"hi\"\"\",z\n1,2,3\n");
    GT_OK(gg_dataset_load_csv(&d, path_of("quoted.csv"), "say \"hi\"", 1));
    GT_CHECK(d.n == 1 && d.per == 2 && d.labels[0] == 2 && d.f32[0] == 1 && d.f32[1] == 3, "quoted header");
    gg_dataset_free(&d);
    write_gz("good.csv.gz", good, strlen(good));
    GT_OK(gg_dataset_load_csv(&d, path_of("good.csv.gz"), "label", 1));
    GT_CHECK(d.n == 3 && d.per == 2 && d.f32[3] == -40, "gzip csv");
    gg_dataset_free(&d);

    /* a bad cell: line and 1-based column, the column's name and the text */
    write_text("bad.csv", "a,b,c\n1,2,3\n4,zz,6\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("bad.csv"), "c", 1), GG_E_FORMAT, "bad.csv", "line 3", "column 2",
                "('b')", "'zz'", "not a number");
    GT_CHECK(is_empty(&d), "failed csv leaves it empty");
    write_text("bad2.csv", "1,2,3\n4,5,6x\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("bad2.csv"), "0", 0), GG_E_FORMAT, "bad2.csv", "line 2", "column 3",
                "'6x'");
    /* a bad label cell is reported the same way */
    write_text("badl.csv", "a,b\n1,cat\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("badl.csv"), "b", 1), GG_E_FORMAT, "line 2", "column 2", "'cat'");
    /* NaN and Inf */
    write_text("nan.csv", "a,b,c\n1,2,3\n4,nan,6\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("nan.csv"), "c", 1), GG_E_NONFINITE, "nan.csv", "line 3", "column 2",
                "'nan'", "NaN or Inf");
    write_text("inf.csv", "1,2,-Inf\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("inf.csv"), "0", 0), GG_E_NONFINITE, "inf.csv", "line 1", "column 3",
                "'-Inf'");
    write_text("nanl.csv", "1,2,nan\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("nanl.csv"), "-1", 0), GG_E_NONFINITE, "line 1", "column 3");
    /* out of the float32 range, empty cells */
    write_text("range.csv", "1,2\n3,1e39\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("range.csv"), NULL, 0), GG_E_FORMAT, "line 2", "column 2",
                "float32 range");
    write_text("empty.csv", "a,b,c\n1,,3\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("empty.csv"), NULL, 1), GG_E_FORMAT, "line 2", "column 2", "empty");
    /* ragged rows, both ways */
    write_text("ragged.csv", "a,b,c\n1,2,3\n4,5\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("ragged.csv"), "c", 1), GG_E_FORMAT, "ragged.csv", "line 3",
                "ragged", "2 fields");
    write_text("ragged2.csv", "1,2\n3,4,5\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("ragged2.csv"), NULL, 0), GG_E_FORMAT, "line 2", "3 fields");
    /* quoting errors */
    write_text("quote.csv", "1,\"2\n3,4\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("quote.csv"), NULL, 0), GG_E_FORMAT, "line 1", "column 2",
                "unterminated quote");
    /* label column specs that do not fit */
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("good.csv"), "nope", 1), GG_E_ARG, "no column named 'nope'",
                "a, b, label");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("nohdr.csv"), "label", 0), GG_E_ARG, "without a header");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("good.csv"), "3", 1), GG_E_ARG, "out of range");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("good.csv"), "-4", 1), GG_E_ARG, "out of range");
    write_text("one.csv", "y\n1\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("one.csv"), "y", 1), GG_E_FORMAT, "no feature columns");
    write_text("hdronly.csv", "a,b\n\n");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("hdronly.csv"), NULL, 1), GG_E_FORMAT, "no data rows");
    write_file("nul.csv", "1,2\n3,4\0junk\n", 14);
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("nul.csv"), NULL, 0), GG_E_FORMAT, "nul.csv", "NUL byte at byte offset 7");
    write_text("nothing.csv", "");
    EXPECT_FAIL(gg_dataset_load_csv(&d, path_of("nothing.csv"), NULL, 0), GG_E_FORMAT, "empty");
}

/* ---- .npy ----------------------------------------------------------------- */

/* Writes an .npy file of the given version with the dict text `dict` and
 * `n` data bytes (the header padded to 64 as numpy does). */
static void write_npy(const char *name, int version, const char *dict, const void *data, size_t n)
{
    static unsigned char buf[1 << 16];
    size_t pre = version == 1 ? 10 : 12, dl = strlen(dict);
    size_t hl = dl + 1;
    while ((pre + hl) % 64) hl++;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)version;
    buf[7] = 0;
    buf[8] = (unsigned char)hl;
    buf[9] = (unsigned char)(hl >> 8);
    if (version > 1) buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hl - dl - 1);
    buf[pre + hl - 1] = '\n';
    memcpy(buf + pre + hl, data, n);
    write_file(name, buf, pre + hl + n);
}

static void test_npy(void)
{
    gg_dataset d;
    /* float32 features (4, 3), int64 labels */
    float f4[12];
    for (int i = 0; i < 12; i++) f4[i] = (float)i * 0.5f - 2;
    int64_t l8[4] = {0, 2, 1, 2};
    write_npy("f4.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }", f4, sizeof f4);
    write_npy("l8.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", l8, sizeof l8);
    GT_OK(gg_dataset_load_npy(&d, path_of("f4.npy"), path_of("l8.npy")));
    GT_CHECK(d.n == 4 && d.per == 3 && d.ndim == 1 && d.shape[0] == 3 && d.f32 && !d.u8 &&
                 memcmp(d.f32, f4, sizeof f4) == 0, "float32 round trip");
    GT_CHECK(d.label_per == 1 && d.labels[1] == 2 && d.labels[3] == 2 && d.num_classes == 3 && d.scale == 1,
             "int64 labels, num_classes %d", d.num_classes);
    gg_dataset_free(&d);
    /* float64 (4, 2, 2), version 2 header, double quotes and Python 2 longs */
    double f8[16];
    for (int i = 0; i < 16; i++) f8[i] = 1.0 / (i + 1);
    write_npy("f8.npy", 2, "{\"descr\": \"<f8\", \"shape\": (4L, 2L, 2L), \"fortran_order\": False}", f8, sizeof f8);
    int32_t l4[4] = {3, 0, 1, 1};
    write_npy("l4.npy", 3, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,)}", l4, sizeof l4);
    GT_OK(gg_dataset_load_npy(&d, path_of("f8.npy"), path_of("l4.npy")));
    int ok = d.n == 4 && d.per == 4 && d.ndim == 2 && d.shape[0] == 2 && d.shape[1] == 2 && d.f32;
    for (int i = 0; ok && i < 16; i++) ok = d.f32[i] == (float)f8[i];
    GT_CHECK(ok, "float64 round trip (4, 2, 2)");
    GT_CHECK(d.labels && d.labels[0] == 3 && d.num_classes == 4, "int32 labels");
    gg_dataset_free(&d);
    /* uint8 features stay bytes; (4, 2) float32 labels are targets */
    unsigned char u1[4 * 6];
    for (int i = 0; i < 24; i++) u1[i] = (unsigned char)(i * 10);
    float t2[8] = {0.5f, 1, 2, 3, 4, 5, 6, 7};
    write_npy("u1.npy", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4, 6), }", u1, sizeof u1);
    write_npy("t2.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }", t2, sizeof t2);
    GT_OK(gg_dataset_load_npy(&d, path_of("u1.npy"), path_of("t2.npy")));
    GT_CHECK(d.u8 && !d.f32 && d.n == 4 && d.per == 6 && memcmp(d.u8, u1, sizeof u1) == 0, "uint8 round trip");
    GT_NEAR(d.scale, 1.0 / 255, 1e-7, 0, "uint8 scale");
    GT_CHECK(d.label_per == 2 && d.labels[7] == 7 && d.num_classes == 0, "(n, 2) targets, num_classes %d",
             d.num_classes);
    gg_dataset_free(&d);
    /* int64 features, one per sample: shape (n,) */
    write_npy("i8.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", l8, sizeof l8);
    GT_OK(gg_dataset_load_npy(&d, path_of("i8.npy"), NULL));
    GT_CHECK(d.n == 4 && d.per == 1 && d.ndim == 1 && d.shape[0] == 1 && d.f32[1] == 2 && !d.labels, "int64 features");
    gg_dataset_free(&d);

    /* refusals */
    write_npy("fo.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 3), }", f4, sizeof f4);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("fo.npy"), NULL), GG_E_FORMAT, "fo.npy", "fortran_order", "byte offset");
    GT_CHECK(is_empty(&d), "failed npy leaves it empty");
    write_npy("tr.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }", f4, sizeof f4 - 4);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("tr.npy"), NULL), GG_E_FORMAT, "tr.npy", "truncated", "(4, 3)",
                "byte offset 128");
    write_npy("ex.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3), }", f4, sizeof f4);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("ex.npy"), NULL), GG_E_FORMAT, "ex.npy", "unexpected data");
    write_npy("huge.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 784), }", f4, sizeof f4);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("huge.npy"), NULL), GG_E_FORMAT, "huge.npy", "truncated",
                "(2147483648, 784)");
    write_npy("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4, 3), }", f4, sizeof f4);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("be.npy"), NULL), GG_E_FORMAT, "be.npy", "big-endian");
    write_npy("c8.npy", 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (4, 3), }", f4, sizeof f4);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("c8.npy"), NULL), GG_E_FORMAT, "'<c8' is not supported");
    write_npy("key.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), 'x': 1}", f4, sizeof f4);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("key.npy"), NULL), GG_E_FORMAT, "unknown key 'x'");
    write_npy("dup.npy", 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4, 3)}", f4,
              sizeof f4);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("dup.npy"), NULL), GG_E_FORMAT, "duplicate key 'descr'");
    write_npy("miss.npy", 1, "{'descr': '<f4', 'fortran_order': False}", f4, sizeof f4);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("miss.npy"), NULL), GG_E_FORMAT, "missing key 'shape'");
    write_npy("shp.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, -3)}", f4, sizeof f4);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("shp.npy"), NULL), GG_E_FORMAT, "shp.npy", "shape");
    write_file("notnpy.npy", "hello world, this is text", 25);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("notnpy.npy"), NULL), GG_E_FORMAT, "notnpy.npy", "not a .npy file");
    /* a header length past the end of the file */
    {
        unsigned char h[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0x0f, 0};
        write_file("hlen.npy", h, sizeof h);
        EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("hlen.npy"), NULL), GG_E_FORMAT, "hlen.npy", "header");
    }
    /* non-finite features: the sample and the byte offset */
    float fn[12];
    memcpy(fn, f4, sizeof fn);
    fn[4] = NAN;
    write_npy("nan.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }", fn, sizeof fn);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("nan.npy"), NULL), GG_E_NONFINITE, "nan.npy", "sample 1, value 1",
                "byte offset 144");
    double dn[16];
    memcpy(dn, f8, sizeof dn);
    dn[9] = INFINITY;
    write_npy("inf8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4), }", dn, sizeof dn);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("inf8.npy"), NULL), GG_E_NONFINITE, "inf8.npy", "sample 2, value 1");
    dn[9] = 1e300;
    write_npy("big8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4), }", dn, sizeof dn);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("big8.npy"), NULL), GG_E_FORMAT, "float32 range");
    /* labels that do not fit the features */
    write_npy("l3.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", l8, 24);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("f4.npy"), path_of("l3.npy")), GG_E_FORMAT, "count mismatch",
                "f4.npy", "l3.npy", "4 samples", "3 labels");
    float ln[4] = {0, 1, NAN, 0};
    write_npy("lnan.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", ln, sizeof ln);
    EXPECT_FAIL(gg_dataset_load_npy(&d, path_of("f4.npy"), path_of("lnan.npy")), GG_E_NONFINITE, "lnan.npy",
                "sample 2");
}

/* ---- class checks, split, normalisation, batches, shuffle ---------------- */

static void test_classes(void)
{
    gg_dataset d;
    write_text("cls.csv", "1,0\n2,1.5\n3,-1\n4,7\n");
    GT_OK(gg_dataset_load_csv(&d, path_of("cls.csv"), "-1", 0));
    GT_CHECK(d.num_classes == 0, "mixed labels: regression");
    /* a CSV label is named by its file line */
    EXPECT_FAIL(gg_dataset_check_classes(&d, 10), GG_E_FORMAT, "cls.csv: line 2: class id 1.5 is not an integer");
    d.labels[1] = 1;
    EXPECT_FAIL(gg_dataset_check_classes(&d, 10), GG_E_FORMAT, "cls.csv: line 3: class id -1 is negative");
    d.labels[2] = 2;
    EXPECT_FAIL(gg_dataset_check_classes(&d, 5), GG_E_FORMAT, "cls.csv: line 4: class id 7 is out of range", "[0, 5)");
    GT_OK(gg_dataset_check_classes(&d, 8));
    GT_OK(gg_dataset_check_classes(&d, 0));
    gg_dataset_free(&d);
    GT_OK(gg_dataset_load_csv(&d, path_of("cls.csv"), NULL, 0));
    EXPECT_FAIL(gg_dataset_check_classes(&d, 3), GG_E_FORMAT, "no labels");
    gg_dataset_free(&d);

    /* after a split, a bad label is still named by its place in the file
     * that holds it: the labels file and index for IDX and npy, the line
     * for CSV (with a header and blank lines), not the sample of the part */
    enum { N = 40, BAD = 33 };
    static unsigned char img[16 + N * 4], lab[8 + N];
    be32(img, 0x803), be32(img + 4, N), be32(img + 8, 2), be32(img + 12, 2);
    be32(lab, 0x801), be32(lab + 4, N);
    for (int i = 0; i < N; i++) lab[8 + i] = (unsigned char)(i % 3);
    lab[8 + BAD] = 9;
    write_file("sp-img.idx", img, sizeof img);
    write_file("sp-lab.idx", lab, sizeof lab);
    char csv[2048] = "a,b,label\n\n";
    for (int i = 0; i < N; i++)
        snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%d,%d,%s\n", i, i, i == BAD ? "9" : i % 3 ? "1" : "0");
    write_text("sp.csv", csv); /* sample i is on line i + 3 */
    float lf[N];
    for (int i = 0; i < N; i++) lf[i] = (float)(i % 3);
    lf[BAD] = 2.5f;
    write_npy("sp-l.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (40,), }", lf, sizeof lf);
    float ff[N];
    for (int i = 0; i < N; i++) ff[i] = (float)i;
    write_npy("sp-x.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (40, 1), }", ff, sizeof ff);
    for (int kind = 0; kind < 3; kind++) {
        gg_dataset all, tr, va;
        gg_status st = kind == 0 ? gg_dataset_load_idx(&all, path_of("sp-img.idx"), path_of("sp-lab.idx"))
                       : kind == 1 ? gg_dataset_load_csv(&all, path_of("sp.csv"), "label", 1)
                                   : gg_dataset_load_npy(&all, path_of("sp-x.npy"), path_of("sp-l.npy"));
        GT_OK(st);
        if (st) continue;
        GT_OK(gg_dataset_split(&all, 0.25, 7, &tr, &va));
        /* the bad sample is in one part, at another index than in the file */
        const gg_dataset *has = NULL;
        size_t at = 0;
        for (int p = 0; p < 2 && !has; p++) {
            const gg_dataset *x = p ? &va : &tr;
            for (size_t i = 0; i < x->n; i++)
                if (x->labels[i] == 9 || x->labels[i] == 2.5f) has = x, at = i;
        }
        GT_CHECK(has && at != BAD, "the bad label moved to index %zu of its part", at);
        const char *want[3] = {"sp-lab.idx: label 33: class id 9 is out of range",
                               "sp.csv: line 36: class id 9 is out of range",
                               "sp-l.npy: label 33: class id 2.5 is not an integer"};
        if (has) EXPECT_FAIL(gg_dataset_check_classes(has, 3), GG_E_FORMAT, want[kind]);
        gg_dataset_free(&tr);
        gg_dataset_free(&va);
        gg_dataset_free(&all);
    }
}

static void test_split(void)
{
    /* 10 samples whose first feature is their index */
    enum { N = 10, P = 3 };
    float f[N * P];
    int64_t l[N];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < P; j++) f[i * P + j] = (float)(i * 100 + j);
        l[i] = i % 4;
    }
    write_npy("s.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 3), }", f, sizeof f);
    write_npy("sl.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (10,), }", l, sizeof l);
    gg_dataset src, tr, va, tr2, va2;
    GT_OK(gg_dataset_load_npy(&src, path_of("s.npy"), path_of("sl.npy")));
    GT_OK(gg_dataset_split(&src, 0.3, 42, &tr, &va));
    GT_CHECK(tr.n == 7 && va.n == 3, "sizes %zu %zu", tr.n, va.n);
    GT_CHECK(tr.per == P && va.per == P && va.num_classes == 4 && tr.num_classes == 4 && va.label_per == 1,
             "metadata copied");
    int seen[N] = {0}, ok = 1;
    const gg_dataset *parts[2] = {&tr, &va};
    for (int k = 0; k < 2; k++) {
        int prev = -1;
        for (size_t i = 0; i < parts[k]->n; i++) {
            int id = (int)(parts[k]->f32[i * P] / 100);
            ok = ok && id > prev && parts[k]->f32[i * P + 2] == (float)(id * 100 + 2) && parts[k]->labels[i] == id % 4;
            prev = id;
            seen[id]++;
        }
    }
    for (int i = 0; i < N; i++) ok = ok && seen[i] == 1;
    GT_CHECK(ok, "every sample lands once, in order, with its label");
    GT_OK(gg_dataset_split(&src, 0.3, 42, &tr2, &va2));
    GT_CHECK(va2.n == 3 && memcmp(va.f32, va2.f32, 3 * P * sizeof(float)) == 0 &&
                 memcmp(tr.f32, tr2.f32, 7 * P * sizeof(float)) == 0, "same seed, same split");
    gg_dataset_free(&tr2);
    gg_dataset_free(&va2);
    int differ = 0;
    for (uint64_t s = 1; s < 6 && !differ; s++) {
        GT_OK(gg_dataset_split(&src, 0.3, s, &tr2, &va2));
        differ = memcmp(va.f32, va2.f32, 3 * P * sizeof(float)) != 0;
        gg_dataset_free(&tr2);
        gg_dataset_free(&va2);
    }
    GT_CHECK(differ, "other seeds give other splits");
    GT_CHECK(src.n == N && memcmp(src.f32, f, sizeof f) == 0, "source untouched");
    gg_dataset_free(&tr);
    gg_dataset_free(&va);
    /* edge fractions */
    GT_OK(gg_dataset_split(&src, 0, 1, &tr, &va));
    GT_CHECK(tr.n == N && va.n == 0, "fraction 0");
    gg_dataset_free(&tr);
    gg_dataset_free(&va);
    GT_OK(gg_dataset_split(&src, 1, 1, &tr, &va));
    GT_CHECK(tr.n == 0 && va.n == N, "fraction 1");
    gg_dataset_free(&tr);
    gg_dataset_free(&va);
    EXPECT_FAIL(gg_dataset_split(&src, 1.5, 1, &tr, &va), GG_E_ARG, "1.5");
    EXPECT_FAIL(gg_dataset_split(&src, NAN, 1, &tr, &va), GG_E_ARG, "val_fraction");
    gg_dataset_free(&src);
    /* a uint8 set splits too */
    GT_OK(gg_dataset_load_idx(&src, path_of("img.idx"), path_of("lab.idx")));
    GT_OK(gg_dataset_split(&src, 0.4, 7, &tr, &va));
    GT_CHECK(tr.n == 3 && va.n == 2 && tr.u8 && va.u8 && !tr.f32, "uint8 split sizes");
    size_t total = 0;
    for (size_t i = 0; i < va.n; i++)
        for (size_t j = 0; j < src.n; j++)
            total += memcmp(va.u8 + i * src.per, src.u8 + j * src.per, src.per) == 0 && va.labels[i] == src.labels[j];
    GT_CHECK(total == va.n, "uint8 val samples are samples of src");
    gg_dataset_free(&tr);
    gg_dataset_free(&va);
    gg_dataset_free(&src);
}

static void test_normalise(void)
{
    /* float32: values 1..8 (mean 4.5, population std sqrt(5.25)) */
    gg_dataset d;
    write_text("norm.csv", "1,2,0\n3,4,1\n5,6,0\n7,8,1\n");
    GT_OK(gg_dataset_load_csv(&d, path_of("norm.csv"), "-1", 0));
    gg_dataset_standardize(&d);
    GT_NEAR(d.mean, 4.5, 1e-7, 0, "mean");
    GT_NEAR(d.std, sqrt(5.25), 1e-6, 0, "std");
    size_t idx[3] = {3, 0, 3};
    float x[6], y[3];
    gg_dataset_batch(&d, idx, 3, x, y);
    const float raw[6] = {7, 8, 1, 2, 7, 8};
    for (int i = 0; i < 6; i++) GT_NEAR(x[i], (raw[i] - 4.5) / sqrt(5.25), 1e-6, 1e-7, "standardised x[%d]", i);
    GT_CHECK(y[0] == 1 && y[1] == 0 && y[2] == 1, "labels");
    gg_dataset_batch(&d, idx, 3, x, NULL); /* y may be NULL */
    /* a scale on float data applies before the statistics */
    d.scale = 0.5f;
    gg_dataset_standardize(&d);
    GT_NEAR(d.mean, 2.25, 1e-7, 0, "scaled mean");
    GT_NEAR(d.std, sqrt(5.25) / 2, 1e-6, 0, "scaled std");
    gg_dataset_batch(&d, idx, 1, x, NULL);
    GT_NEAR(x[0], (7 * 0.5 - 2.25) / (sqrt(5.25) / 2), 1e-6, 0, "scaled batch");
    gg_dataset_free(&d);
    /* constant data: std 1, not a division by zero */
    write_text("const.csv", "3,3\n3,3\n");
    GT_OK(gg_dataset_load_csv(&d, path_of("const.csv"), NULL, 0));
    gg_dataset_standardize(&d);
    GT_CHECK(d.mean == 3 && d.std == 1, "constant: mean %g std %g", d.mean, d.std);
    gg_dataset_free(&d);
    /* uint8: bytes 0 and 255 half each -> after 1/255: mean 0.5, std 0.5 */
    unsigned char u[4 * 2] = {0, 255, 255, 0, 0, 0, 255, 255};
    write_npy("bw.npy", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4, 2), }", u, sizeof u);
    GT_OK(gg_dataset_load_npy(&d, path_of("bw.npy"), NULL));
    gg_dataset_standardize(&d);
    GT_NEAR(d.mean, 0.5, 1e-6, 0, "uint8 mean");
    GT_NEAR(d.std, 0.5, 1e-6, 0, "uint8 std");
    size_t id2[2] = {1, 3};
    gg_dataset_batch(&d, id2, 2, x, NULL);
    GT_CHECK(fabsf(x[0] - 1) < 1e-6f && fabsf(x[1] + 1) < 1e-6f && fabsf(x[2] - 1) < 1e-6f && fabsf(x[3] - 1) < 1e-6f,
             "uint8 batch %g %g %g %g", x[0], x[1], x[2], x[3]);
    gg_dataset_free(&d);
}

static void test_shuffle(void)
{
    enum { N = 1000 };
    static size_t a[N], b[N], c[N];
    gg_rng r;
    gg_rng_seed(&r, 9);
    gg_shuffle(a, N, 1, &r);
    gg_rng_seed(&r, 9);
    gg_shuffle(b, N, 1, &r);
    gg_rng_seed(&r, 10);
    gg_shuffle(c, N, 1, &r);
    static int cnt[N];
    int fixed = 0, ok = 1;
    for (int i = 0; i < N; i++) {
        ok = ok && a[i] < N;
        if (a[i] < N) cnt[a[i]]++;
        fixed += a[i] == (size_t)i;
    }
    for (int i = 0; i < N; i++) ok = ok && cnt[i] == 1;
    GT_CHECK(ok, "a permutation of 0..N-1");
    GT_CHECK(fixed < 10, "shuffled (%d fixed points)", fixed);
    GT_CHECK(memcmp(a, b, sizeof a) == 0, "same seed, same order");
    GT_CHECK(memcmp(a, c, sizeof a) != 0, "another seed, another order");
    /* fill = 0 shuffles the given contents */
    for (int i = 0; i < N; i++) b[i] = (size_t)(2 * i);
    gg_shuffle(b, N, 0, &r);
    long sum = 0;
    int even = 1;
    for (int i = 0; i < N; i++) {
        sum += (long)b[i];
        even = even && b[i] % 2 == 0;
    }
    GT_CHECK(even && sum == (long)N * (N - 1), "contents kept");
    /* every position is reachable: over many shuffles of 3 elements each of
     * the 6 orders comes up about 1/6 of the time */
    int orders[6] = {0};
    gg_rng_seed(&r, 1);
    for (int t = 0; t < 6000; t++) {
        size_t p[3];
        gg_shuffle(p, 3, 1, &r);
        orders[p[0] * 2 + (p[1] > p[2])]++;
    }
    for (int i = 0; i < 6; i++) GT_CHECK(orders[i] > 850 && orders[i] < 1150, "order %d: %d of 6000", i, orders[i]);
    gg_shuffle(a, 0, 1, &r);
    gg_shuffle(a, 1, 1, &r);
    GT_CHECK(a[0] == 0, "n = 1");
}

/* ---- Fashion-MNIST ---------------------------------------------------------- */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void test_fashion(void)
{
    const char *root = "/usr/share/datasets/fashion-mnist";
    char img[256], lab[256];
    snprintf(img, sizeof img, "%s/train-images-idx3-ubyte.gz", root);
    snprintf(lab, sizeof lab, "%s/train-labels-idx1-ubyte.gz", root);
    if (access(img, R_OK) != 0) {
        printf("test_data: %s is absent; skipping the Fashion-MNIST checks\n", root);
        return;
    }
    gg_dataset tr, te;
    double t0 = now();
    clock_t c0 = clock();
    GT_OK(gg_dataset_load_idx(&tr, img, lab));
    double t1 = now();
    printf("test_data: Fashion-MNIST training set loaded in %.3f s (%.3f s of CPU)\n", t1 - t0,
           (double)(clock() - c0) / CLOCKS_PER_SEC);
    GT_CHECK(tr.n == 60000 && tr.ndim == 2 && tr.shape[0] == 28 && tr.shape[1] == 28 && tr.per == 784,
             "train n %zu shape %dx%d", tr.n, tr.shape[0], tr.shape[1]);
    GT_CHECK(tr.num_classes == 10 && tr.u8, "train classes %d", tr.num_classes);
    int counts[10] = {0}, ok = 1;
    for (size_t i = 0; i < tr.n; i++) counts[(int)tr.labels[i]]++;
    for (int c = 0; c < 10; c++) ok = ok && counts[c] == 6000;
    GT_CHECK(ok && tr.labels[0] == 9 && tr.labels[1] == 0, "balanced labels, the first an ankle boot");
    long s = 0;
    for (int j = 0; j < 784; j++) s += tr.u8[j];
    GT_CHECK(s == 76247, "pixel sum of image 0: %ld", s);
    gg_dataset_standardize(&tr);
    GT_NEAR(tr.mean, 72.94035223214286 / 255, 1e-6, 0, "pixel mean");
    /* a full batch through the threaded path against the formula */
    enum { B = 256 };
    static size_t idx[B];
    static float x[B * 784], y[B];
    gg_rng r;
    gg_rng_seed(&r, 3);
    for (int i = 0; i < B; i++) idx[i] = (size_t)gg_rng_below(&r, tr.n);
    gg_dataset_batch(&tr, idx, B, x, y);
    double maxerr = 0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < 784; j++) {
            double want = (tr.u8[idx[i] * 784 + j] / 255.0 - tr.mean) / tr.std;
            double e = fabs(x[i * 784 + j] - want);
            if (e > maxerr) maxerr = e;
        }
    GT_CHECK(maxerr < 1e-5, "batch max error %g", maxerr);
    GT_CHECK(y[B - 1] == tr.labels[idx[B - 1]], "batch labels");
    double t2 = now();
    for (int k = 0; k < 100; k++) gg_dataset_batch(&tr, idx, B, x, y);
    printf("test_data: a batch of %d images converts in %.1f us\n", B, (now() - t2) / 100 * 1e6);
    gg_dataset_free(&tr);

    snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte.gz", root);
    snprintf(lab, sizeof lab, "%s/t10k-labels-idx1-ubyte.gz", root);
    GT_OK(gg_dataset_load_idx(&te, img, lab));
    GT_CHECK(te.n == 10000 && te.shape[0] == 28 && te.shape[1] == 28 && te.num_classes == 10, "test n %zu", te.n);
    GT_CHECK(te.labels[0] == 9 && te.labels[1] == 2, "test labels");
    gg_dataset_free(&te);
    /* the real labels against the real images: a count mismatch */
    snprintf(lab, sizeof lab, "%s/train-labels-idx1-ubyte.gz", root);
    EXPECT_FAIL(gg_dataset_load_idx(&te, img, lab), GG_E_FORMAT, "count mismatch", "10000 images", "60000 labels");
}

int main(void)
{
    if (fixture_begin("gg_test_data")) return 2;
    test_idx();
    test_csv();
    test_npy();
    test_classes();
    test_split();
    test_normalise();
    test_shuffle();
    test_fashion();
    fixture_end();
    return gt_done("test_data");
}

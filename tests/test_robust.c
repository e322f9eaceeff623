/* test_robust.c - the fixes that fuzzing and the bad-input survey led to
 * (docs/robustness.md), each checked on the input that showed it, with the
 * exact status and the words of the message. */
#include "gt.h"
#include "fuzz/targets.h"

#include <stdarg.h>

/* the status, and every given word in the message */
static void expect_fail_(int line, gg_status got, gg_status want, ...)
{
    const char *m = gg_errmsg();
    GT_CHECK(got == want, "line %d: status %s, want %s (%s)", line, gg_status_name(got), gg_status_name(want), m);
    va_list ap;
    va_start(ap, want);
    for (const char *w; (w = va_arg(ap, const char *));)
        GT_CHECK(strstr(m, w) != NULL, "line %d: message '%s' lacks '%s'", line, m, w);
    va_end(ap);
}
#define EXPECT_FAIL(call, want, ...) expect_fail_(__LINE__, (call), (want), __VA_ARGS__, (const char *)NULL)

static const char *put(const char *name, const void *data, size_t n)
{
    static char buf[4][300];
    static int k;
    char *p = buf[k++ % 4];
    fz_path(name, p, 300);
    fz_write(p, data, n, 0);
    return p;
}

/* CSV cells are decimal: strtod alone took "0x1A" as 26 and "0x1p3" as 8. */
static void csv_hex(void)
{
    gg_dataset d;
    const char *t = "a,b,label\n1,0x1A,0\n";
    EXPECT_FAIL(gg_dataset_load_csv(&d, put("a", t, strlen(t)), "label", 1), GG_E_FORMAT, "line 2", "column 2",
                "('b')", "'0x1A' is not a number");
    t = "1,0x1p3\n";
    EXPECT_FAIL(gg_dataset_load_csv(&d, put("a", t, strlen(t)), NULL, 0), GG_E_FORMAT, "line 1", "column 2", "'0x1p3'");
    /* decimal exponents still read, and the value is right */
    t = "1.5e1,-2E-1\n";
    GT_OK(gg_dataset_load_csv(&d, put("a", t, strlen(t)), NULL, 0));
    GT_CHECK(d.n == 1 && d.per == 2 && d.f32[0] == 15.0f && d.f32[1] == -0.2f, "decimal exponents");
    gg_dataset_free(&d);
}

/* A version-1 .npy file in f (128 bytes at least): the header dict as
 * given (under 100 bytes), its '\n', then one float32 of zeros; its size. */
static size_t npy_file(const char *dict, char *f)
{
    size_t dl = strlen(dict), hl = dl + 1;
    memcpy(f, "\x93NUMPY\x01\x00", 8);
    f[8] = (char)hl;
    f[9] = 0;
    memcpy(f + 10, dict, dl);
    f[10 + hl - 1] = '\n';
    memset(f + 10 + hl, 0, 4);
    return 10 + hl + 4;
}

/* A .npy header error quoted the header up to the newline that ends it,
 * so the command's one-line message ran onto a second line. */
static void npy_one_line(void)
{
    char f[128];
    size_t n = npy_file("{'descr': '<f4', 'shape': (1,), }", f);
    gg_dataset d;
    EXPECT_FAIL(gg_dataset_load_npy(&d, put("a", f, n), NULL), GG_E_FORMAT, "missing key 'fortran_order'",
                "byte offset");
    GT_CHECK(strchr(gg_errmsg(), '\n') == NULL, "one line: '%s'", gg_errmsg());
    /* a control byte inside the header text is not echoed either */
    n = npy_file("{'descr': '<f4',\r'shape': (1,), }", f);
    EXPECT_FAIL(gg_dataset_load_npy(&d, put("a", f, n), NULL), GG_E_FORMAT, ".npy header");
    GT_CHECK(strchr(gg_errmsg(), '\r') == NULL && strchr(gg_errmsg(), '\n') == NULL, "no control bytes: '%s'",
             gg_errmsg());
}

/* A --set key that is not UTF-8 was taken, and the resolved config that
 * gg_cfg_write made of it did not parse again (libyaml escaped it as a code
 * point past U+10FFFF): the run directory could not be resumed. */
static void cfg_set_utf8(void)
{
    gg_cfg *c = NULL;
    GT_OK(gg_cfg_parse("train: {epochs: 1}\n", 19, "t.yaml", &c));
    EXPECT_FAIL(gg_cfg_set(c, "\xf7\x8b\x8d\x9ein.epochs=3"), GG_E_CONFIG, "not UTF-8", "byte 1 is 0xf7");
    EXPECT_FAIL(gg_cfg_set(c, "train.\xc0\xafx=3"), GG_E_CONFIG, "byte 7 is 0xc0"); /* overlong '/' */
    EXPECT_FAIL(gg_cfg_set(c, "train.\xed\xa0\x80=3"), GG_E_CONFIG, "byte 7 is 0xed"); /* a surrogate */
    EXPECT_FAIL(gg_cfg_set(c, "train.x\xe2\x82=3"), GG_E_CONFIG, "byte 8 is 0xe2"); /* cut short */
    /* real UTF-8 keys and values go through and read back */
    GT_OK(gg_cfg_set(c, "train.caf\xc3\xa9=\xe2\x82\xac\xf0\x9f\x98\x80"));
    char p[300];
    GT_OK(gg_cfg_write(c, fz_path("c", p, sizeof p)));
    gg_cfg *c2 = NULL;
    GT_OK(gg_cfg_load(p, &c2));
    const char *v = NULL;
    GT_OK(gg_cfg_str(gg_cfg_get(gg_cfg_root(c2), "train"), "caf\xc3\xa9", &v));
    GT_CHECK(v && strcmp(v, "\xe2\x82\xac\xf0\x9f\x98\x80") == 0, "UTF-8 value read back: %s", v ? v : "(none)");
    gg_cfg_free(c2);
    gg_cfg_free(c);
}

/* Fuzzing (npy): a 'descr' value holding a newline was quoted whole in the
 * "is not supported" message, which then ran over two lines. Header
 * strings may not hold control bytes at all now. */
static void npy_control_in_string(void)
{
    char f[128];
    size_t n = npy_file("{'descr': '  \n  ', 'fortran_order': False, 'shape': (1,), }", f);
    gg_dataset d;
    EXPECT_FAIL(gg_dataset_load_npy(&d, put("a", f, n), NULL), GG_E_FORMAT, "control byte 0x0a",
                "quoted string", "byte offset 23");
    GT_CHECK(strchr(gg_errmsg(), '\n') == NULL, "one line: '%s'", gg_errmsg());
}

/* Fuzzing (config): a --set key path of 75 components nested the value
 * deeper than the parser allows, so the config.yaml written from it did not
 * parse again. A path and value deeper than 64 levels are refused now. */
static void cfg_set_depth(void)
{
    gg_cfg *c = NULL;
    GT_OK(gg_cfg_parse("train: {epochs: 1}\n", 19, "t.yaml", &c));
    char a[400];
    size_t o = 0;
    for (int i = 0; i < 64; i++) o += (size_t)snprintf(a + o, sizeof a - o, i ? ".k" : "k");
    snprintf(a + o, sizeof a - o, "=1");
    /* 64 levels and a scalar: the deepest a config may be, and it reads back */
    GT_OK(gg_cfg_set(c, a));
    char p[300];
    GT_OK(gg_cfg_write(c, fz_path("c", p, sizeof p)));
    gg_cfg *c2 = NULL;
    GT_OK(gg_cfg_load(p, &c2));
    gg_cfg_free(c2);
    /* one more level, in the path or in the value, is an error */
    snprintf(a + o, sizeof a - o, ".k=1");
    EXPECT_FAIL(gg_cfg_set(c, a), GG_E_CONFIG, "the key path (65 levels)", "more than the 64 a config may");
    snprintf(a + o, sizeof a - o, "=[1]");
    EXPECT_FAIL(gg_cfg_set(c, a), GG_E_CONFIG, "the key path (64 levels) and its value nest 65 levels deep");
    gg_cfg_free(c);
}

int main(void)
{
    cfg_set_depth();
    npy_control_in_string();
    cfg_set_utf8();
    csv_hex();
    npy_one_line();
    return gt_done("test_robust");
}

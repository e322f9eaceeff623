/* test_config.c - the YAML config reader: the tree and its lines, typed
 * getters with their messages, unknown and duplicate keys, syntax errors,
 * --set overrides and the write / re-read round trip. */
#define _POSIX_C_SOURCE 200809L
#include "gradguard.h"
#include "gt.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

#define GT_MSG(call, status, sub)                                                                                     \
    do {                                                                                                               \
        gg_status gt_st = (call);                                                                                      \
        GT_CHECK(gt_st == (status), "status %d, want %d: %s", (int)gt_st, (int)(status), gg_errmsg());                 \
        GT_CHECK(contains(gg_errmsg(), sub), "message '%s' lacks '%s'", gg_errmsg(), sub);                             \
    } while (0)

/* line numbers below are part of the test: keep them in step */
static const char *doc = "# an experiment\n"            /* 1 */
                         "model:\n"                     /* 2 */
                         "  layers: [64, 32]   # flow\n" /* 3 */
                         "  act: relu\n"                /* 4 */
                         "  blocks:\n"                  /* 5 */
                         "    - units: 128\n"           /* 6 */
                         "      dropout: 0.1\n"         /* 7 */
                         "    - units: 64\n"            /* 8 */
                         "\n"                           /* 9 */
                         "train:\n"                     /* 10 */
                         "  epochs: 10\n"               /* 11 */
                         "  lr: 1e-3\n"                 /* 12 */
                         "  shuffle: yes\n"             /* 13 */
                         "  name: \"run 1\"\n"          /* 14 */
                         "  count: \"5\"\n"             /* 15 */
                         "  empty:\n"                   /* 16 */
                         "  big: 99999999999999999999\n" /* 17 */
                         "  neg: -3\n"                  /* 18 */
                         "  inf: .inf\n"                /* 19 */
                         "  hex: 0x10\n"                /* 20 */
                         "  off: Off\n";                /* 21 */

static void test_tree_and_getters(void)
{
    gg_cfg *c = NULL;
    GT_OK(gg_cfg_parse(doc, strlen(doc), "exp.yaml", &c));
    if (!c) return;
    gg_cfg_node *root = gg_cfg_root(c);
    GT_CHECK(gg_cfg_node_type(root) == GG_CFG_MAP && gg_cfg_len(root) == 2, "root map of 2");
    GT_CHECK(!strcmp(gg_cfg_path(root), ""), "root path");

    gg_cfg_node *model = gg_cfg_get(root, "model"), *train = gg_cfg_get(root, "train");
    GT_CHECK(model && gg_cfg_line(model) == 2 && !strcmp(gg_cfg_path(model), "model"), "model at line 2");
    GT_CHECK(train && gg_cfg_line(train) == 10, "train at line %d", gg_cfg_line(train));
    GT_CHECK(gg_cfg_get(root, "absent") == NULL && gg_cfg_get(NULL, "x") == NULL, "absent keys");

    /* sequences */
    gg_cfg_node *layers = gg_cfg_get(model, "layers");
    GT_CHECK(gg_cfg_node_type(layers) == GG_CFG_SEQ && gg_cfg_len(layers) == 2, "layers list");
    long v = 0;
    GT_OK(gg_cfg_as_int(gg_cfg_at(layers, 1), 1, 1000, &v));
    GT_CHECK(v == 32, "layers[1] = %ld", v);
    GT_CHECK(!strcmp(gg_cfg_path(gg_cfg_at(layers, 1)), "model.layers.1"), "element path %s",
             gg_cfg_path(gg_cfg_at(layers, 1)));
    GT_CHECK(gg_cfg_at(layers, 2) == NULL && gg_cfg_at(layers, -1) == NULL, "out-of-range element");
    GT_MSG(gg_cfg_as_int(gg_cfg_at(layers, 0), 1, 50, &v), GG_E_CONFIG,
           "exp.yaml:3: item 'model.layers.0': expected an integer in [1, 50], got '64'");
    gg_cfg_node *blocks = gg_cfg_get(model, "blocks");
    GT_CHECK(gg_cfg_len(blocks) == 2, "blocks");
    gg_cfg_node *b0 = gg_cfg_at(blocks, 0), *b1 = gg_cfg_at(blocks, 1);
    GT_CHECK(gg_cfg_line(b0) == 6 && gg_cfg_line(b1) == 8, "block lines %d %d", gg_cfg_line(b0), gg_cfg_line(b1));
    GT_OK(gg_cfg_int(b0, "units", 1, 4096, &v));
    GT_CHECK(v == 128, "units %ld", v);
    double f = 0;
    GT_OK(gg_cfg_float(b0, "dropout", 0, 1, &f));
    GT_CHECK(f == 0.1, "dropout %g", f);
    GT_OK(gg_cfg_int(b1, "units", 1, 4096, &v));
    GT_MSG(gg_cfg_as_int(b0, 0, 10, &v), GG_E_CONFIG, "item 'model.blocks.0': expected an integer in [0, 10], got a map");
    GT_CHECK(gg_cfg_scalar(b0) == NULL && !strcmp(gg_cfg_scalar(gg_cfg_at(layers, 0)), "64"), "gg_cfg_scalar");
    GT_MSG(gg_cfg_int(layers, "x", 0, 1, &v), GG_E_CONFIG, "exp.yaml:3: key 'model.layers': expected a map holding 'x'");

    /* enums and strings */
    int k = -1;
    const char *acts[] = {"tanh", "relu"};
    GT_OK(gg_cfg_enum(model, "act", acts, 2, &k));
    GT_CHECK(k == 1, "act index %d", k);
    const char *acts2[] = {"tanh", "gelu"};
    GT_MSG(gg_cfg_enum(model, "act", acts2, 2, &k), GG_E_CONFIG,
           "exp.yaml:4: key 'model.act': expected one of 'tanh', 'gelu', got 'relu'");
    const char *s = NULL;
    GT_OK(gg_cfg_str(train, "name", &s));
    GT_CHECK(s && !strcmp(s, "run 1"), "name '%s'", s ? s : "(null)");
    GT_MSG(gg_cfg_str(model, "blocks", &s), GG_E_CONFIG, "exp.yaml:5: key 'model.blocks': expected a string, got a list");

    /* integers: value, range, type */
    v = 0;
    GT_OK(gg_cfg_int(train, "epochs", 1, 100000, &v));
    GT_CHECK(v == 10, "epochs %ld", v);
    GT_MSG(gg_cfg_int(train, "epochs", 1, 5, &v), GG_E_CONFIG,
           "exp.yaml:11: key 'train.epochs': expected an integer in [1, 5], got '10'");
    GT_CHECK(v == 10, "a failed read leaves the value");
    GT_MSG(gg_cfg_int(train, "name", 1, 5, &v), GG_E_CONFIG,
           "exp.yaml:14: key 'train.name': expected an integer in [1, 5], got the quoted string 'run 1'");
    GT_MSG(gg_cfg_int(train, "count", 0, 10, &v), GG_E_CONFIG, "got the quoted string '5'");
    GT_MSG(gg_cfg_int(train, "lr", 0, 10, &v), GG_E_CONFIG, "exp.yaml:12: key 'train.lr': expected an integer");
    GT_MSG(gg_cfg_int(train, "big", 0, LONG_MAX, &v), GG_E_CONFIG, "got '99999999999999999999'");
    GT_MSG(gg_cfg_int(train, "hex", 0, 100, &v), GG_E_CONFIG, "exp.yaml:20:");
    GT_OK(gg_cfg_int(train, "neg", -5, 5, &v));
    GT_CHECK(v == -3, "neg %ld", v);
    v = 77;
    GT_OK(gg_cfg_int(train, "absent", 0, 100, &v));
    GT_OK(gg_cfg_int(train, "empty", 0, 100, &v));
    GT_CHECK(v == 77, "absent and null keys leave the default");
    GT_OK(gg_cfg_int(NULL, "x", 0, 1, &v));

    /* floats */
    GT_OK(gg_cfg_float(train, "lr", 0, 1, &f));
    GT_CHECK(f == 1e-3, "lr %g", f);
    GT_MSG(gg_cfg_float(train, "lr", 0.01, 1, &f), GG_E_CONFIG, "exp.yaml:12: key 'train.lr': expected a number in [0.01, 1], got '1e-3'");
    GT_OK(gg_cfg_float(train, "epochs", 0, 100, &f));
    GT_CHECK(f == 10, "an integer reads as a number");
    GT_OK(gg_cfg_float(train, "inf", 0, INFINITY, &f));
    GT_CHECK(isinf(f), ".inf");
    GT_MSG(gg_cfg_float(train, "inf", 0, 1e30, &f), GG_E_CONFIG, "got '.inf'");
    GT_MSG(gg_cfg_float(train, "hex", 0, 100, &f), GG_E_CONFIG, "got '0x10'");
    GT_MSG(gg_cfg_float(train, "name", 0, 100, &f), GG_E_CONFIG, "expected a number");

    /* booleans */
    int bv = -1;
    GT_OK(gg_cfg_bool(train, "shuffle", &bv));
    GT_CHECK(bv == 1, "yes is true");
    GT_OK(gg_cfg_bool(train, "off", &bv));
    GT_CHECK(bv == 0, "Off is false");
    GT_MSG(gg_cfg_bool(train, "epochs", &bv), GG_E_CONFIG, "exp.yaml:11: key 'train.epochs': expected true or false");
    gg_cfg_free(c);
    gg_cfg_free(NULL);
}

/* gg_cfg_as_bool: a scalar node itself, as gg_cfg_bool reads map values;
 * a quoted "true" is a string. */
static void test_as_bool(void)
{
    gg_cfg *c = NULL;
    const char *text = "a: [true, Off, yes, \"true\", 3]\n";
    GT_OK(gg_cfg_parse(text, strlen(text), "b.yaml", &c));
    if (!c) return;
    gg_cfg_node *a = gg_cfg_get(gg_cfg_root(c), "a");
    int b = -1;
    GT_OK(gg_cfg_as_bool(gg_cfg_at(a, 0), &b));
    GT_CHECK(b == 1, "true -> %d", b);
    GT_OK(gg_cfg_as_bool(gg_cfg_at(a, 1), &b));
    GT_CHECK(b == 0, "Off -> %d", b);
    GT_OK(gg_cfg_as_bool(gg_cfg_at(a, 2), &b));
    GT_CHECK(b == 1, "yes -> %d", b);
    b = 7;
    GT_MSG(gg_cfg_as_bool(gg_cfg_at(a, 3), &b), GG_E_CONFIG,
           "b.yaml:1: item 'a.3': expected true or false (yes/no, on/off), got the quoted string 'true'");
    GT_MSG(gg_cfg_as_bool(gg_cfg_at(a, 4), &b), GG_E_CONFIG, "item 'a.4': expected true or false");
    GT_CHECK(b == 7, "a failed read leaves the value");
    GT_CHECK(gg_cfg_as_bool(NULL, &b) == GG_E_CONFIG, "NULL node");
    gg_cfg_free(c);
}

static void test_unused(void)
{
    const char *t = "train:\n"
                    "  epochs: 3\n"
                    "  batch: 8\n"
                    "model:\n"
                    "  - units: 4\n"
                    "    act: relu\n"
                    "other: 1\n";
    gg_cfg *c = NULL;
    GT_OK(gg_cfg_parse(t, strlen(t), "u.yaml", &c));
    if (!c) return;
    gg_cfg_node *root = gg_cfg_root(c);
    GT_MSG(gg_cfg_unused(c), GG_E_CONFIG, "u.yaml:1: unknown key 'train'");
    gg_cfg_node *train = gg_cfg_get(root, "train");
    long v;
    GT_OK(gg_cfg_int(train, "epochs", 1, 10, &v));
    GT_MSG(gg_cfg_unused(c), GG_E_CONFIG, "u.yaml:3: unknown key 'train.batch'");
    GT_OK(gg_cfg_int(train, "batch", 1, 10, &v));
    gg_cfg_node *model = gg_cfg_get(root, "model");
    GT_MSG(gg_cfg_unused(c), GG_E_CONFIG, "u.yaml:5: unknown key 'model.0.units'");
    gg_cfg_node *e0 = gg_cfg_at(model, 0);
    /* gg_cfg_key_at marks what it returns as read */
    for (int i = 0; i < gg_cfg_len(e0); i++) {
        gg_cfg_node *val;
        const char *key = gg_cfg_key_at(e0, i, &val);
        GT_CHECK(key && val, "entry %d", i);
        if (i == 1) GT_CHECK(!strcmp(key, "act") && !strcmp(gg_cfg_scalar(val), "relu"), "key_at 1");
    }
    GT_CHECK(gg_cfg_key_at(e0, 2, NULL) == NULL, "key_at out of range");
    GT_MSG(gg_cfg_unused(c), GG_E_CONFIG, "u.yaml:7: unknown key 'other'");
    gg_cfg_get(root, "other");
    GT_OK(gg_cfg_unused(c));
    gg_cfg_free(c);
}

static void test_errors(void)
{
    gg_cfg *c = (gg_cfg *)1;
    const char *dup = "a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n";
    GT_MSG(gg_cfg_parse(dup, strlen(dup), "dup.yaml", &c), GG_E_CONFIG, "dup.yaml:5: duplicate key 'b.c' (first given on line 3)");
    GT_CHECK(c == NULL, "no config on failure");

    const char *syn = "a: 1\nb: [1, 2\nc: 3\n";
    GT_MSG(gg_cfg_parse(syn, strlen(syn), "syn.yaml", &c), GG_E_CONFIG, "syn.yaml:3:");
    GT_CHECK(contains(gg_errmsg(), "YAML syntax error"), "%s", gg_errmsg());
    const char *syn2 = "a:\n  b: 1\n c: 2\n";
    GT_MSG(gg_cfg_parse(syn2, strlen(syn2), "syn2.yaml", &c), GG_E_CONFIG, "syn2.yaml:3:");
    const char *syn3 = "a: b: c\n";
    GT_MSG(gg_cfg_parse(syn3, strlen(syn3), "syn3.yaml", &c), GG_E_CONFIG,
           "syn3.yaml:1:5: YAML syntax error: mapping values are not allowed in this context");
    const char *two = "a: 1\n---\nb: 2\n";
    GT_MSG(gg_cfg_parse(two, strlen(two), "two.yaml", &c), GG_E_CONFIG, "two.yaml:3: a second YAML document");
    const char *utf = "a: \xff\n";
    GT_MSG(gg_cfg_parse(utf, strlen(utf), "utf.yaml", &c), GG_E_CONFIG, "utf.yaml: byte 3");
    const char *cplx = "? [a, b]\n: 1\n";
    GT_MSG(gg_cfg_parse(cplx, strlen(cplx), "k.yaml", &c), GG_E_CONFIG, "k.yaml:1: a map key must be plain text");
    GT_MSG(gg_cfg_load("/nonexistent-gradguard/cfg.yaml", &c), GG_E_IO, "/nonexistent-gradguard/cfg.yaml");

    /* aliases are copied (and bounded) */
    const char *al = "base: &b {x: 1, y: [2, 3]}\nother: *b\n";
    GT_OK(gg_cfg_parse(al, strlen(al), "al.yaml", &c));
    long v = 0;
    GT_OK(gg_cfg_as_int(gg_cfg_at(gg_cfg_get(gg_cfg_get(gg_cfg_root(c), "other"), "y"), 1), 0, 9, &v));
    GT_CHECK(v == 3, "alias value %ld", v);
    gg_cfg_free(c);
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    GT_MSG(gg_cfg_parse(bomb, strlen(bomb), "bomb.yaml", &c), GG_E_CONFIG, "bomb.yaml:");

    /* an empty file is an empty map */
    GT_OK(gg_cfg_parse("", 0, "empty.yaml", &c));
    GT_CHECK(c && gg_cfg_node_type(gg_cfg_root(c)) == GG_CFG_MAP && gg_cfg_len(gg_cfg_root(c)) == 0, "empty");
    gg_cfg_free(c);
}

/* Core-schema tags fix a scalar's type; any other tag is refused by name. */
static void test_tags(void)
{
    const char *t = "train:\n"                         /* 1 */
                    "  epochs: !!str 2\n"              /* 2 */
                    "  batch: !!int 8\n"               /* 3 */
                    "  lr: !!float 1\n"                /* 4 */
                    "  shuffle: !!bool yes\n"          /* 5 */
                    "  gone: !!null\n"                 /* 6 */
                    "  name: !!int 5\n"                /* 7 */
                    "  quoted: !!int \"7\"\n"          /* 8 */
                    "  empty: !!str\n"                 /* 9 */
                    "  plain: ! 3\n"                   /* 10 */
                    "  list: !!seq [1, 2]\n"           /* 11 */
                    "  map: !!map {a: 1}\n";           /* 12 */
    gg_cfg *c = NULL;
    GT_OK(gg_cfg_parse(t, strlen(t), "tag.yaml", &c));
    if (!c) return;
    gg_cfg_node *train = gg_cfg_get(gg_cfg_root(c), "train");
    long v = 0;
    double f = 0;
    int b = 0;
    const char *s = NULL;
    /* !!str 2 is a string: an integer getter names file, line and key */
    GT_MSG(gg_cfg_int(train, "epochs", 1, 100, &v), GG_E_CONFIG,
           "tag.yaml:2: key 'train.epochs': expected an integer in [1, 100], got the !!str string '2'");
    GT_OK(gg_cfg_str(train, "epochs", &s));
    GT_CHECK(s && !strcmp(s, "2"), "!!str text");
    GT_OK(gg_cfg_int(train, "batch", 1, 100, &v));
    GT_CHECK(v == 8, "!!int %ld", v);
    GT_OK(gg_cfg_float(train, "batch", 0, 100, &f)); /* an integer is a number */
    GT_CHECK(f == 8, "!!int as a number");
    GT_MSG(gg_cfg_str(train, "batch", &s), GG_E_CONFIG, "expected a string, got the !!int '8'");
    GT_MSG(gg_cfg_int(train, "lr", 0, 10, &v), GG_E_CONFIG, "tag.yaml:4: key 'train.lr': expected an integer in [0, 10], got the !!float '1'");
    GT_OK(gg_cfg_float(train, "lr", 0, 10, &f));
    GT_CHECK(f == 1, "!!float");
    GT_OK(gg_cfg_bool(train, "shuffle", &b));
    GT_CHECK(b == 1, "!!bool");
    GT_MSG(gg_cfg_int(train, "shuffle", 0, 10, &v), GG_E_CONFIG, "got the !!bool 'yes'");
    GT_CHECK(gg_cfg_node_type(gg_cfg_get(train, "gone")) == GG_CFG_NULL, "!!null is null");
    GT_MSG(gg_cfg_str(train, "name", &s), GG_E_CONFIG, "tag.yaml:7: key 'train.name': expected a string, got the !!int '5'");
    GT_OK(gg_cfg_int(train, "quoted", 0, 10, &v)); /* the tag decides, not the quotes */
    GT_CHECK(v == 7, "!!int \"7\"");
    gg_cfg_node *e = gg_cfg_get(train, "empty");
    GT_CHECK(gg_cfg_node_type(e) == GG_CFG_SCALAR && !strcmp(gg_cfg_scalar(e), ""), "!!str with no text is \"\"");
    GT_MSG(gg_cfg_int(train, "plain", 0, 10, &v), GG_E_CONFIG, "got the !!str string '3'"); /* ! is a string */
    GT_CHECK(gg_cfg_len(gg_cfg_get(train, "list")) == 2 && gg_cfg_len(gg_cfg_get(train, "map")) == 1, "!!seq, !!map");

    /* the tags survive the write and re-read */
    char path[] = "/tmp/gg_cfg_tag_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    GT_OK(gg_cfg_write(c, path));
    gg_cfg *c2 = NULL;
    GT_OK(gg_cfg_load(path, &c2));
    if (c2) {
        gg_cfg_node *t2 = gg_cfg_get(gg_cfg_root(c2), "train");
        GT_MSG(gg_cfg_int(t2, "epochs", 1, 100, &v), GG_E_CONFIG, "got the quoted string '2'");
        GT_MSG(gg_cfg_str(t2, "name", &s), GG_E_CONFIG, "got the !!int '5'");
        GT_MSG(gg_cfg_int(t2, "lr", 0, 10, &v), GG_E_CONFIG, "got the !!float '1'");
        GT_OK(gg_cfg_int(t2, "quoted", 0, 10, &v));
        GT_CHECK(gg_cfg_node_type(gg_cfg_get(t2, "gone")) == GG_CFG_NULL, "null written back");
        gg_cfg_free(c2);
    }
    unlink(path);
    gg_cfg_free(c);

    /* refused: unknown tags by name, tags that do not fit, tags on keys */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"a:\n  b: !!python/object:os.system 2\n", "t.yaml:2: key 'a.b': unknown YAML tag !!python/object:os.system"},
        {"a: !!python/object/apply:os.system [ls]\n", "unknown YAML tag !!python/object/apply:os.system"},
        {"a: !!binary aGVsbG8=\n", "t.yaml:1: key 'a': unknown YAML tag !!binary"},
        {"a: !!set {x: ~}\n", "unknown YAML tag !!set"},
        {"a: !local 1\n", "unknown YAML tag !local"},
        {"a: !<tag:example.com,2000:x> 1\n", "unknown YAML tag !<tag:example.com,2000:x>"},
        {"a: !!int abc\n", "t.yaml:1: key 'a': the tag !!int does not fit the value 'abc' (not a decimal integer)"},
        {"a: !!int 0x10\n", "not a decimal integer"},
        {"a: !!float x1\n", "not a decimal number"},
        {"a: !!bool maybe\n", "not true or false"},
        {"a: !!null 3\n", "not empty, ~ or null"},
        {"a: !!map [1]\n", "key 'a': the tag !!map on a list"},
        {"a: !!seq {b: 1}\n", "the tag !!seq on a map"},
        {"a: !!int [1]\n", "the tag !!int on a list"},
        {"a: !!map 3\n", "the tag !!map on the value '3', not a map"},
        {"- !!foo 1\n", "t.yaml:1: item '0': unknown YAML tag !!foo"},
        {"!!int a: 1\n", "t.yaml:1: the map key 'a' has the tag !!int; a key is plain text"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = (gg_cfg *)1;
        GT_MSG(gg_cfg_parse(bad[i].text, strlen(bad[i].text), "t.yaml", &c), GG_E_CONFIG, bad[i].msg);
        GT_CHECK(c == NULL, "no config on failure (%s)", bad[i].text);
    }
    /* a tag on a --set value counts too */
    GT_OK(gg_cfg_parse("a: 1\n", 5, "s.yaml", &c));
    GT_MSG(gg_cfg_set(c, "a=!!python/object:os.system 1"), GG_E_CONFIG, "--set: key 'a': unknown YAML tag !!python/object:os.system");
    GT_MSG(gg_cfg_set(c, "b.c=!!int 1.5"), GG_E_CONFIG, "'b.c': the tag !!int does not fit the value '1.5'");
    GT_OK(gg_cfg_set(c, "a=!!str 3"));
    GT_MSG(gg_cfg_int(gg_cfg_root(c), "a", 0, 9, &v), GG_E_CONFIG, "--set: key 'a': expected an integer in [0, 9], got the !!str string '3'");
    gg_cfg_free(c);
}

/* Merge keys: the map's own keys win, then the earlier merged map. */
static void test_merge(void)
{
    const char *t = "base: &b {units: 64, act: relu, init: he}\n"   /* 1 */
                    "more: &m {act: tanh, bias: false, init: xavier}\n" /* 2 */
                    "one:\n"                                        /* 3 */
                    "  units: 10\n"                                 /* 4 */
                    "  <<: *b\n"                                    /* 5 */
                    "two:\n"                                        /* 6 */
                    "  <<: [*m, *b]\n"                              /* 7 */
                    "  name: x\n"                                   /* 8 */
                    "flow: {<<: *b, act: none}\n";                  /* 9 */
    gg_cfg *c = NULL;
    GT_OK(gg_cfg_parse(t, strlen(t), "m.yaml", &c));
    if (!c) return;
    gg_cfg_node *root = gg_cfg_root(c), *one = gg_cfg_get(root, "one"), *two = gg_cfg_get(root, "two"),
                *flow = gg_cfg_get(root, "flow");
    long v = 0;
    const char *s = NULL;
    int b = 1;
    GT_CHECK(gg_cfg_len(one) == 3, "one has %d keys", gg_cfg_len(one));
    GT_OK(gg_cfg_int(one, "units", 1, 1000, &v));
    GT_CHECK(v == 10, "an explicit key wins over the merged one, even written before the merge: %ld", v);
    GT_OK(gg_cfg_str(one, "act", &s));
    GT_CHECK(s && !strcmp(s, "relu"), "merged act");
    GT_CHECK(!strcmp(gg_cfg_path(gg_cfg_get(one, "act")), "one.act"), "a merged key has its new path");
    GT_CHECK(gg_cfg_line(gg_cfg_get(one, "act")) == 1, "and the line it was written on");
    GT_CHECK(gg_cfg_len(two) == 5, "two has %d keys", gg_cfg_len(two));
    GT_OK(gg_cfg_str(two, "act", &s));
    GT_CHECK(s && !strcmp(s, "tanh"), "the earlier merged map wins: %s", s ? s : "");
    GT_OK(gg_cfg_str(two, "init", &s));
    GT_CHECK(s && !strcmp(s, "xavier"), "init from the earlier map");
    GT_OK(gg_cfg_bool(two, "bias", &b));
    GT_OK(gg_cfg_int(two, "units", 1, 1000, &v));
    GT_CHECK(b == 0 && v == 64, "keys of both maps");
    GT_OK(gg_cfg_str(flow, "act", &s));
    GT_CHECK(s && !strcmp(s, "none") && gg_cfg_len(flow) == 3, "flow map merge");
    /* a merged key is read like any other: unread, it is an unknown key where it landed */
    gg_cfg_get(root, "base");
    gg_cfg_get(root, "more");
    GT_MSG(gg_cfg_unused(c), GG_E_CONFIG, "unknown key 'base.units'");
    gg_cfg_free(c);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"a: {<<: 3}\n", "m.yaml:1: the merge key '<<' takes a map or a list of maps (an alias such as *defaults), not a value"},
        {"a:\n  <<: [1, 2]\n", "m.yaml:2: the merge key '<<' takes a map or a list of maps"},
        {"a:\n  <<: ~\n", "not null"},
        {"b: &b {x: 1}\na:\n  <<: *b\n  <<: *b\n", "m.yaml:4: a second merge key '<<' in one map (the first is on line 3)"},
        {"b: &b {x: 1}\na:\n  <<: *b\n  y: 1\n  y: 2\n", "m.yaml:5: duplicate key 'a.y'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = (gg_cfg *)1;
        GT_MSG(gg_cfg_parse(bad[i].text, strlen(bad[i].text), "m.yaml", &c), GG_E_CONFIG, bad[i].msg);
        GT_CHECK(c == NULL, "no config on failure (%s)", bad[i].text);
    }
    /* a quoted "<<" is an ordinary key, and stays one through a write */
    const char *q = "a: {\"<<\": 1}\n";
    GT_OK(gg_cfg_parse(q, strlen(q), "q.yaml", &c));
    if (c) {
        GT_OK(gg_cfg_int(gg_cfg_get(gg_cfg_root(c), "a"), "<<", 0, 9, &v));
        char path[] = "/tmp/gg_cfg_merge_XXXXXX";
        int fd = mkstemp(path);
        close(fd);
        GT_OK(gg_cfg_write(c, path));
        gg_cfg *c2 = NULL;
        GT_OK(gg_cfg_load(path, &c2));
        if (c2) GT_OK(gg_cfg_int(gg_cfg_get(gg_cfg_root(c2), "a"), "<<", 0, 9, &v));
        gg_cfg_free(c2);
        unlink(path);
        gg_cfg_free(c);
    }
}

/* Numbers a double or a float32 cannot hold are errors, not 0 or inf. */
static void test_number_range(void)
{
    const char *t = "o:\n"
                    "  tiny: 1e-400\n"     /* 2: below the smallest double */
                    "  huge: 1e400\n"      /* 3 */
                    "  sub: 1e-40\n"       /* 4: a double, but no normal float32 */
                    "  big: 1e39\n"        /* 5: a double, over FLT_MAX */
                    "  nearly: 0.999999999\n" /* 6: 1.0f as a float */
                    "  zero: 0.0e-400\n"   /* 7: a zero written oddly is still 0 */
                    "  edge: 1e-12\n"      /* 8: a bound as written */
                    "  negsub: -1e-45\n";  /* 9 */
    gg_cfg *c = NULL;
    GT_OK(gg_cfg_parse(t, strlen(t), "n.yaml", &c));
    if (!c) return;
    gg_cfg_node *o = gg_cfg_get(gg_cfg_root(c), "o");
    double d = -1;
    float f = -1;
    GT_MSG(gg_cfg_float(o, "tiny", 0, 1000, &d), GG_E_CONFIG,
           "n.yaml:2: key 'o.tiny': '1e-400' is closer to 0 than a 64-bit number can hold");
    GT_MSG(gg_cfg_f32(o, "tiny", 0, 1000, &f), GG_E_CONFIG, "'1e-400' is closer to 0");
    GT_MSG(gg_cfg_float(o, "huge", 0, INFINITY, &d), GG_E_CONFIG, "n.yaml:3: key 'o.huge': '1e400' is larger than a 64-bit number can hold");
    GT_OK(gg_cfg_float(o, "sub", 0, 1, &d));
    GT_MSG(gg_cfg_f32(o, "sub", 0, 1, &f), GG_E_CONFIG,
           "n.yaml:4: key 'o.sub': '1e-40' is closer to 0 than a 32-bit float holds in full precision");
    GT_MSG(gg_cfg_f32(o, "negsub", -1, 1, &f), GG_E_CONFIG, "'-1e-45' is closer to 0");
    GT_MSG(gg_cfg_f32(o, "big", 0, 1e300, &f), GG_E_CONFIG, "n.yaml:5: key 'o.big': '1e39' is larger than a 32-bit float can hold");
    GT_OK(gg_cfg_f32(o, "nearly", 0, 1, &f));
    GT_CHECK(f == 1.0f, "0.999999999 is 1.0f");
    GT_MSG(gg_cfg_f32(o, "nearly", 0, 0.9999999, &f), GG_E_CONFIG, "expected a number in [0, 0.9999999], got '0.999999999'");
    GT_OK(gg_cfg_f32(o, "zero", 0, 1, &f));
    GT_CHECK(f == 0, "0.0e-400 is 0");
    GT_OK(gg_cfg_f32(o, "edge", 1e-12, 1e12, &f));
    GT_CHECK(f > 0, "a bound as written passes though 1e-12f < 1e-12");
    GT_CHECK(f == 1e-12f, "edge %g", (double)f);
    gg_cfg_free(c);
}

static void test_set(void)
{
    gg_cfg *c = NULL;
    GT_OK(gg_cfg_parse(doc, strlen(doc), "exp.yaml", &c));
    if (!c) return;
    gg_cfg_node *root = gg_cfg_root(c);
    long v = 0;

    /* an existing key: the new value, from line 0 ("--set") */
    GT_OK(gg_cfg_set(c, "train.epochs=20"));
    gg_cfg_node *train = gg_cfg_get(root, "train");
    GT_OK(gg_cfg_int(train, "epochs", 1, 100, &v));
    GT_CHECK(v == 20, "epochs %ld", v);
    GT_CHECK(gg_cfg_line(gg_cfg_get(train, "epochs")) == 0, "a --set value has line 0");
    GT_OK(gg_cfg_set(c, "train.epochs=abc"));
    GT_MSG(gg_cfg_int(train, "epochs", 1, 100, &v), GG_E_CONFIG,
           "--set: key 'train.epochs': expected an integer in [1, 100], got 'abc'");
    GT_OK(gg_cfg_set(c, "train.name=\"quoted # not a comment\""));
    const char *s = NULL;
    GT_OK(gg_cfg_str(train, "name", &s));
    GT_CHECK(s && !strcmp(s, "quoted # not a comment"), "quoted value '%s'", s ? s : "(null)");

    /* a new key, in a new map: unknown until read */
    GT_OK(gg_cfg_set(c, "optim.momentum=0.9"));
    gg_cfg_node *optim = gg_cfg_get(root, "optim");
    GT_CHECK(gg_cfg_node_type(optim) == GG_CFG_MAP && !strcmp(gg_cfg_path(optim), "optim"), "optim created");
    double f = 0;
    GT_OK(gg_cfg_float(optim, "momentum", 0, 1, &f));
    GT_CHECK(f == 0.9, "momentum %g", f);
    GT_CHECK(!strcmp(gg_cfg_path(gg_cfg_get(optim, "momentum")), "optim.momentum"), "new path");
    GT_OK(gg_cfg_set(c, "train.epoks=5"));
    /* the null key 'empty' becomes a map when a key is set below it */
    GT_OK(gg_cfg_set(c, "train.empty.x=1"));
    GT_OK(gg_cfg_int(gg_cfg_get(train, "empty"), "x", 0, 9, &v));
    GT_CHECK(v == 1, "under a null key");

    /* sequence elements by index */
    GT_OK(gg_cfg_set(c, "model.layers.1=16"));
    gg_cfg_node *model = gg_cfg_get(root, "model");
    gg_cfg_node *layers = gg_cfg_get(model, "layers");
    GT_OK(gg_cfg_as_int(gg_cfg_at(layers, 1), 1, 100, &v));
    GT_CHECK(v == 16 && gg_cfg_len(layers) == 2, "layers[1] = %ld", v);
    GT_CHECK(!strcmp(gg_cfg_path(gg_cfg_at(layers, 1)), "model.layers.1"), "element path after set");
    GT_OK(gg_cfg_set(c, "model.blocks.1.units=256"));
    GT_OK(gg_cfg_int(gg_cfg_at(gg_cfg_get(model, "blocks"), 1), "units", 1, 1000, &v));
    GT_CHECK(v == 256, "blocks[1].units %ld", v);
    GT_MSG(gg_cfg_set(c, "model.layers.5=1"), GG_E_CONFIG, "index 5 is out of range: 'model.layers' (exp.yaml:3) has 2 items");
    GT_MSG(gg_cfg_set(c, "model.layers.x=1"), GG_E_CONFIG, "'x' is not an index");
    GT_MSG(gg_cfg_set(c, "model.act.x=1"), GG_E_CONFIG, "'model.act' (exp.yaml:4) is a value, not a map or a list");
    GT_MSG(gg_cfg_set(c, "noequals"), GG_E_CONFIG, "expected key.path=value");
    GT_MSG(gg_cfg_set(c, "a..b=1"), GG_E_CONFIG, "empty component");
    GT_MSG(gg_cfg_set(c, "a=[1, 2"), GG_E_CONFIG, "not valid YAML");
    /* a whole list as the value */
    GT_OK(gg_cfg_set(c, "model.layers=[8, 16, 32]"));
    layers = gg_cfg_get(model, "layers");
    GT_CHECK(gg_cfg_len(layers) == 3, "new list of %d", gg_cfg_len(layers));
    GT_OK(gg_cfg_as_int(gg_cfg_at(layers, 2), 1, 100, &v));
    GT_CHECK(v == 32 && !strcmp(gg_cfg_path(gg_cfg_at(layers, 2)), "model.layers.2"), "new list element");
    GT_OK(gg_cfg_set(c, "train.lr="));
    GT_CHECK(gg_cfg_node_type(gg_cfg_get(train, "lr")) == GG_CFG_NULL, "empty value is null");

    /* a --set key nobody reads is reported as coming from --set */
    gg_cfg_node *tmp;
    for (int i = 0; i < gg_cfg_len(root); i++) gg_cfg_key_at(root, i, &tmp);
    for (int i = 0; i < gg_cfg_len(model); i++) gg_cfg_key_at(model, i, &tmp);
    gg_cfg_node *blocks = gg_cfg_get(model, "blocks");
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < gg_cfg_len(gg_cfg_at(blocks, b)); i++) gg_cfg_key_at(gg_cfg_at(blocks, b), i, &tmp);
    const char *keys[] = {"epochs", "lr", "shuffle", "name", "count", "empty", "big", "neg", "inf", "hex", "off"};
    for (int i = 0; i < 11; i++) gg_cfg_get(train, keys[i]);
    gg_cfg_get(gg_cfg_get(train, "empty"), "x");
    gg_cfg_get(optim, "momentum");
    GT_MSG(gg_cfg_unused(c), GG_E_CONFIG, "--set: unknown key 'train.epoks'");
    gg_cfg_free(c);
}

/* Compares two trees through the public API. */
static int same_tree(gg_cfg_node *a, gg_cfg_node *b)
{
    if (gg_cfg_node_type(a) != gg_cfg_node_type(b) || gg_cfg_len(a) != gg_cfg_len(b)) return 0;
    switch (gg_cfg_node_type(a)) {
    case GG_CFG_NULL: return 1;
    case GG_CFG_SCALAR: return !strcmp(gg_cfg_scalar(a), gg_cfg_scalar(b));
    case GG_CFG_SEQ:
        for (int i = 0; i < gg_cfg_len(a); i++)
            if (!same_tree(gg_cfg_at(a, i), gg_cfg_at(b, i))) return 0;
        return 1;
    case GG_CFG_MAP:
        for (int i = 0; i < gg_cfg_len(a); i++) {
            gg_cfg_node *va, *vb;
            const char *ka = gg_cfg_key_at(a, i, &va), *kb = gg_cfg_key_at(b, i, &vb);
            if (strcmp(ka, kb) || !same_tree(va, vb)) return 0;
        }
        return 1;
    }
    return 0;
}

static void test_write(void)
{
    const char *t = "model:\n"
                    "  layers: [64, 32]\n"
                    "  name: \"a: b\"\n"
                    "  hash: '#not a comment'\n"
                    "  yes_str: \"yes\"\n"
                    "  num_str: \"5\"\n"
                    "  empty_str: \"\"\n"
                    "  spaces: \"  padded  \"\n"
                    "  multi: \"line one\\nline two\"\n"
                    "  unicode: h\xc3\xa9llo\n"
                    "  nothing: ~\n"
                    "  weird key: 1\n"
                    "list:\n"
                    "  - {a: 1, b: [x, y]}\n"
                    "  - - nested\n"
                    "    - 2.5\n";
    gg_cfg *c = NULL, *c2 = NULL;
    GT_OK(gg_cfg_parse(t, strlen(t), "w.yaml", &c));
    if (!c) return;
    GT_OK(gg_cfg_set(c, "model.layers.0=128"));
    GT_OK(gg_cfg_set(c, "train.seed=7"));
    char path[] = "/tmp/gg_cfg_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    GT_OK(gg_cfg_write(c, path));
    GT_OK(gg_cfg_load(path, &c2));
    if (c2) {
        GT_CHECK(same_tree(gg_cfg_root(c), gg_cfg_root(c2)), "the re-read tree is the same");
        gg_cfg_node *m = gg_cfg_get(gg_cfg_root(c2), "model");
        long v = 0;
        GT_OK(gg_cfg_as_int(gg_cfg_at(gg_cfg_get(m, "layers"), 0), 1, 1000, &v));
        GT_CHECK(v == 128, "the override was written: %ld", v);
        /* strings stay strings: a quoted "5" is still not a number */
        GT_MSG(gg_cfg_int(m, "num_str", 0, 10, &v), GG_E_CONFIG, "quoted string '5'");
        int bv;
        GT_MSG(gg_cfg_bool(m, "yes_str", &bv), GG_E_CONFIG, "quoted string 'yes'");
        const char *s;
        GT_OK(gg_cfg_str(m, "multi", &s));
        GT_CHECK(!strcmp(s, "line one\nline two"), "multi-line");
        GT_OK(gg_cfg_str(m, "spaces", &s));
        GT_CHECK(!strcmp(s, "  padded  "), "spaces kept");
        GT_OK(gg_cfg_int(gg_cfg_get(gg_cfg_root(c2), "train"), "seed", 0, 100, &v));
        GT_CHECK(v == 7, "new key written");
        /* lines in the written file are real lines */
        GT_CHECK(gg_cfg_line(m) == 1, "model on line 1 of the written file");
        gg_cfg_free(c2);
    }
    GT_MSG(gg_cfg_write(c, "/nonexistent-gradguard/out.yaml"), GG_E_IO, "/nonexistent-gradguard/out.yaml");
    unlink(path);
    gg_cfg_free(c);
}

/* The run status's words are summary.json's and the command's: fixed. */
static void test_run_status_names(void)
{
    static const char *const want[GG_RUN_COUNT] = {"running", "completed", "stopped", "diverged", "stalled", "failed"};
    for (int s = 0; s < GG_RUN_COUNT; s++) {
        const char *n = gg_run_status_name((gg_run_status)s);
        GT_CHECK(n && strcmp(n, want[s]) == 0, "status %d is '%s', want '%s'", s, n ? n : "(null)", want[s]);
    }
    GT_CHECK(gg_run_status_name(GG_RUN_COUNT) == NULL, "unknown status has a name");
    GT_CHECK(gg_trainer_run_status(NULL) == GG_RUN_COUNT && strcmp(gg_trainer_status(NULL), "none") == 0,
             "NULL trainer");
}

int main(void)
{
    test_run_status_names();
    test_tree_and_getters();
    test_unused();
    test_as_bool();
    test_errors();
    test_set();
    test_write();
    test_tags();
    test_merge();
    test_number_range();
    return gt_done("test_config");
}

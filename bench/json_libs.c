/* json_libs.c - jansson against cJSON on gradguard's JSON: the safetensors
 * headers of the fuzz corpus, the run directories' events.jsonl lines and
 * summary.json files, and a list of malformed inputs. Prints how many
 * inputs each library accepts, where they disagree, the parse time per
 * input, and which malformed inputs each accepts (docs/results.md, "One
 * owner per format"). Not part of the build (cJSON is no dependency):
 *
 *   apt-get install libjansson-dev libcjson-dev
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L bench/json_libs.c -ljansson -lcjson -o /tmp/json_libs
 *   /tmp/json_libs [-r REPEATS] [-f DIR ...] [-s DIR ...] [-e RUN_DIR ...]
 *
 * -f DIR: a fuzz corpus of the safetensors target (a mode byte, then the
 * file; tests/fuzz/targets.h); -s DIR: safetensors files; the header is the
 * JSON. -e RUN_DIR: a run directory (each events.jsonl line, and
 * summary.json). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct input {
    char *p;
    size_t n;
} input;

typedef struct set {
    const char *name;
    input *in;
    size_t n, cap;
} set;

static void add(set *s, const char *p, size_t n)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->in = realloc(s->in, s->cap * sizeof *s->in);
    }
    char *c = malloc(n + 1);
    memcpy(c, p, n);
    c[n] = 0;
    s->in[s->n++] = (input){c, n};
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

static void safetensors_dir(set *s, const char *dir, size_t skip)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        size_t n;
        char *b = slurp(p, &n);
        if (!b || n < 8 + skip) {
            free(b);
            continue;
        }
        const char *f = b + skip;
        n -= skip;
        uint64_t h = 0;
        for (int i = 7; i >= 0; i--) h = h << 8 | (unsigned char)f[i];
        if (h > n - 8) h = n - 8; /* as much of the header as the file holds */
        add(s, f + 8, (size_t)h);
        free(b);
    }
    if (d) closedir(d);
}

static void run_dir(set *ev, set *sum, const char *dir)
{
    char p[4096];
    size_t n;
    snprintf(p, sizeof p, "%s/events.jsonl", dir);
    char *b = slurp(p, &n);
    for (char *l = b; b && l < b + n;) {
        char *nl = memchr(l, '\n', (size_t)(b + n - l));
        size_t len = nl ? (size_t)(nl - l) : (size_t)(b + n - l);
        if (len) add(ev, l, len);
        l += len + 1;
    }
    free(b);
    snprintf(p, sizeof p, "%s/summary.json", dir);
    if ((b = slurp(p, &n))) add(sum, b, n);
    free(b);
}

static int jansson_ok(const input *in)
{
    json_error_t e;
    json_t *j = json_loadb(in->p, in->n, JSON_REJECT_DUPLICATES, &e);
    json_decref(j);
    return j != NULL;
}

/* strict as cJSON can be: nothing but whitespace after the value (the
 * copy's terminating NUL is inside the length for that check) */
static int cjson_ok(const input *in)
{
    const char *end;
    cJSON *j = cJSON_ParseWithLengthOpts(in->p, in->n + 1, &end, 1);
    cJSON_Delete(j);
    return j != NULL;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void measure(const set *s, int reps)
{
    if (!s->n) return;
    size_t bytes = 0, okj = 0, okc = 0, differ = 0;
    for (size_t i = 0; i < s->n; i++) {
        int a = jansson_ok(&s->in[i]), b = cjson_ok(&s->in[i]);
        bytes += s->in[i].n;
        okj += a;
        okc += b;
        differ += a != b;
    }
    double t[2];
    for (int lib = 0; lib < 2; lib++) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            for (size_t i = 0; i < s->n; i++) lib ? cjson_ok(&s->in[i]) : jansson_ok(&s->in[i]);
        t[lib] = (now() - t0) / reps;
    }
    printf("| %s | %zu | %zu | %zu / %zu | %zu | %.2f us, %.0f MB/s | %.2f us, %.0f MB/s |\n", s->name, s->n, bytes,
           okj, okc, differ, 1e6 * t[0] / (double)s->n, (double)bytes / t[0] / 1e6, 1e6 * t[1] / (double)s->n,
           (double)bytes / t[1] / 1e6);
}

static char *nest(int depth)
{
    char *s = malloc(2 * (size_t)depth + 1);
    for (int i = 0; i < depth; i++) s[i] = '[', s[2 * depth - 1 - i] = ']';
    s[2 * depth] = 0;
    return s;
}

int main(int argc, char **argv)
{
    int reps = 200;
    set st = {"safetensors headers"}, ev = {"events.jsonl lines"}, sum = {"summary.json"};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) safetensors_dir(&st, argv[++i], 0);
        else if (!strcmp(argv[i], "-f") && i + 1 < argc) safetensors_dir(&st, argv[++i], 1);
        else if (!strcmp(argv[i], "-e") && i + 1 < argc) run_dir(&ev, &sum, argv[++i]);
    }
    printf("jansson %s, cJSON %s; %d repeats\n\n", JANSSON_VERSION, cJSON_Version(), reps);
    printf("| inputs | count | bytes | accepted (jansson / cJSON) | disagree | jansson per input | cJSON per input |\n");
    printf("|---|---|---|---|---|---|---|\n");
    measure(&st, reps);
    measure(&ev, reps);
    measure(&sum, reps);

    char *d100 = nest(100), *d3000 = nest(3000);
    static const struct {
        const char *what, *text;
        size_t n; /* 0: strlen */
    } cases[] = {
        {"duplicate key", "{\"a\":1,\"a\":2}", 0},
        {"text after the value", "{\"a\":1} x", 0},
        {"a second object after the first", "{\"a\":1}{\"b\":2}", 0},
        {"NaN literal", "{\"a\":NaN}", 0},
        {"Infinity literal", "{\"a\":-Infinity}", 0},
        {"invalid UTF-8 (0xff) in a string", "{\"a\xff\":1}", 0},
        {"overlong UTF-8 (0xc0 0xaf)", "{\"a\":\"\xc0\xaf\"}", 0},
        {"UTF-8-encoded surrogate (ed a0 80)", "{\"a\":\"\xed\xa0\x80\"}", 0},
        {"lone surrogate escape \\ud800", "{\"a\":\"\\ud800\"}", 0},
        {"\\u0000 in a string", "{\"a\":\"x\\u0000y\"}", 0},
        {"raw NUL byte in a string", "{\"a\":\"x\0y\"}", 11},
        {"raw tab in a string", "{\"a\":\"x\ty\"}", 0},
        {"integer 2^64 (too big for 64 bits)", "{\"a\":18446744073709551616}", 0},
        {"number 1e400 (overflows a double)", "{\"a\":1e400}", 0},
        {"leading zero 01", "{\"a\":01}", 0},
        {"leading + (+1)", "{\"a\":+1}", 0},
        {"fraction without digits (1.)", "{\"a\":1.}", 0},
        {"hex 0x10", "{\"a\":0x10}", 0},
        {"trailing comma in an object", "{\"a\":1,}", 0},
        {"trailing comma in an array", "[1,2,]", 0},
        {"single-quoted string", "{'a':1}", 0},
        {"comment", "{\"a\":1 /* c */}", 0},
        {"unterminated string", "{\"a\":\"x}", 0},
        {"empty input", "", 0},
        {"top-level scalar 1 (valid JSON)", "1", 0},
    };
    printf("\n| malformed input | jansson | cJSON |\n|---|---|---|\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        input in = {(char *)cases[i].text, cases[i].n ? cases[i].n : strlen(cases[i].text)};
        char *c = malloc(in.n + 1);
        memcpy(c, in.p, in.n);
        c[in.n] = 0;
        in.p = c;
        printf("| %s | %s | %s |\n", cases[i].what, jansson_ok(&in) ? "accepts" : "refuses",
               cjson_ok(&in) ? "accepts" : "refuses");
        free(c);
    }
    input deep[2] = {{d100, strlen(d100)}, {d3000, strlen(d3000)}};
    printf("| nesting 100 deep | %s | %s |\n", jansson_ok(&deep[0]) ? "accepts" : "refuses",
           cjson_ok(&deep[0]) ? "accepts" : "refuses");
    printf("| nesting 3000 deep | %s | %s |\n", jansson_ok(&deep[1]) ? "accepts" : "refuses",
           cjson_ok(&deep[1]) ? "accepts" : "refuses");
    /* 2^53 + 1: a data offset past 8 PiB, to see whether the value survives */
    const char *big = "{\"a\":9007199254740993}";
    json_t *j = json_loads(big, 0, NULL);
    cJSON *c = cJSON_Parse(big);
    printf("| 2^53 + 1 read back | %lld | %.17g |\n", (long long)json_integer_value(json_object_get(j, "a")),
           cJSON_GetObjectItem(c, "a")->valuedouble);
    json_decref(j);
    cJSON_Delete(c);
    return 0;
}

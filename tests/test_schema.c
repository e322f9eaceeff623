/* test_schema.c - the config key tables (io/schema.h): every table's rows
 * are sound, every key reads into its field through a config and refuses a
 * value out of its range, unknown keys are named with a suggestion, the
 * library's defaults and checks come from the same rows, and the docs
 * render numbers as documented. */
#include "gt.h"
#include "io/schema.h"
#include "train/train.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

static int contains(const char *s, const char *sub) { return s && sub && strstr(s, sub) != NULL; }

/* w appears in s as a whole word (not as the start of a longer one) */
static int has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = s; p && (p = strstr(p, w)) != NULL; p++) {
        int before = p == s || !(p[-1] >= 'a' && p[-1] <= 'z');
        int after = !(p[n] >= 'a' && p[n] <= 'z');
        if (before && after) return 1;
    }
    return 0;
}

#define GT_MSG(call, sub)                                                                                              \
    do {                                                                                                               \
        gg_status gt_st = (call);                                                                                      \
        GT_CHECK(gt_st == GG_E_CONFIG && contains(gg_errmsg(), sub), "status %d, message '%s', want '%s'", (int)gt_st, \
                 gg_errmsg(), sub);                                                                                    \
    } while (0)

static gg_status read_text(const char *text, gg_settings *s)
{
    gg_cfg *c = NULL;
    gg_status st = gg_cfg_parse(text, strlen(text), "s.yaml", &c);
    if (!st) st = gg_settings_read(c, s);
    gg_cfg_free(c);
    return st;
}

static int is_number(const gg_key *k)
{
    return k->type == GG_KEY_INT || k->type == GG_KEY_LONG || k->type == GG_KEY_U64 || k->type == GG_KEY_F32 ||
           k->type == GG_KEY_F64;
}

/* Rows are sound: a key, a doc, a default in range (unless the docs say
 * what it means instead), names for enums, no key twice in one map. */
static void check_rows(const char *where, const gg_key *rows, const char **seen, int *nseen)
{
    for (const gg_key *k = rows; k->key; k++) {
        if (k->type == GG_KEY_INCLUDE) {
            check_rows(where, k->sub, seen, nseen);
            continue;
        }
        GT_CHECK(*k->key && k->doc && *k->doc, "%s: a row without its key or doc ('%s')", where, k->key);
        for (int i = 0; i < *nseen; i++) GT_CHECK(strcmp(seen[i], k->key) != 0, "%s.%s: twice", where, k->key);
        if (*nseen < 256) seen[(*nseen)++] = k->key;
        if (is_number(k)) {
            GT_CHECK(k->lo <= k->hi, "%s.%s: empty range", where, k->key);
            GT_CHECK(k->def_doc || (k->def >= k->lo && k->def <= k->hi), "%s.%s: default %g outside [%g, %g]", where,
                     k->key, k->def, k->lo, k->hi);
        }
        if (k->type == GG_KEY_ENUM || k->type == GG_KEY_NAME) {
            GT_CHECK(k->nnames > 0 && (int)k->def >= 0 && (int)k->def < k->nnames, "%s.%s: names or default", where,
                     k->key);
            for (int i = 0; i < k->nnames; i++) GT_CHECK(gg_schema_name(k, i), "%s.%s: name %d", where, k->key, i);
        }
        if (k->type == GG_KEY_ENUM || k->type == GG_KEY_BOOL) GT_CHECK(k->size == sizeof(int), "%s.%s: size", where, k->key);
        if (k->type == GG_KEY_LIST) GT_CHECK(k->read != NULL, "%s.%s: a list needs its reader", where, k->key);
        if (k->type == GG_KEY_MAP) {
            const char *sub[256];
            int nsub = 0;
            check_rows(where, k->sub, sub, &nsub);
        }
    }
}

/* No two rows fill the same bytes (a row copied without its field). */
typedef struct span {
    size_t off, size;
    const char *key;
} span;

static int spans(const gg_key *rows, size_t base, span *out, int n)
{
    for (const gg_key *k = rows; k->key && n < 512; k++) {
        if (k->type == GG_KEY_INCLUDE || k->type == GG_KEY_MAP)
            n = spans(k->sub, base + k->off, out, n);
        else
            out[n++] = (span){base + k->off, k->size, k->key};
    }
    return n;
}

static void check_overlap(const char *where, const gg_key *rows)
{
    static span sp[512];
    int n = spans(rows, 0, sp, 0);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            GT_CHECK(sp[i].off + sp[i].size <= sp[j].off || sp[j].off + sp[j].size <= sp[i].off,
                     "%s: '%s' and '%s' share bytes", where, sp[i].key, sp[j].key);
}

static void test_rows(void)
{
    int n = 0;
    for (int i = 0; gg_config_doc_name(i); i++, n++) {
        const char *seen[256];
        int nseen = 0;
        const gg_key *rows = gg_config_keys(gg_config_doc_name(i));
        GT_CHECK(rows != NULL, "%s: no table", gg_config_doc_name(i));
        if (rows) check_rows(gg_config_doc_name(i), rows, seen, &nseen);
        if (rows) check_overlap(gg_config_doc_name(i), rows);
    }
    GT_CHECK(n == 12, "%d tables", n);
    GT_CHECK(gg_config_keys("model") == NULL, "model's keys are the layers'");
}

/* Every field of the library's config structs has a row: a new field
 * without one fails here. */
static size_t row_bytes(const gg_key *rows)
{
    size_t n = 0;
    for (const gg_key *k = rows; k->key; k++) n += k->size;
    return n;
}

static void test_coverage(void)
{
    GT_CHECK(row_bytes(gg_guard_keys) == sizeof(gg_guard_config), "gg_guard_config: %zu of %zu bytes have a row",
             row_bytes(gg_guard_keys), sizeof(gg_guard_config));
    GT_CHECK(row_bytes(gg_optim_keys) == sizeof(gg_optim_config), "gg_optim_config: %zu of %zu bytes have a row",
             row_bytes(gg_optim_keys), sizeof(gg_optim_config));
    /* gg_schedule_config has padding, and two fields that are no keys
     * (lr, from the optimizer; n_milestones, from the list) */
}

/* A value through a config, and read back from the field. */
static double field(const gg_key *k, const void *base)
{
    const char *p = (const char *)base + k->off;
    switch (k->type) {
    case GG_KEY_INT: return *(const int *)p;
    case GG_KEY_LONG: return (double)*(const long *)p;
    case GG_KEY_U64: return (double)*(const uint64_t *)p;
    case GG_KEY_F32: return *(const float *)p;
    case GG_KEY_F64: return *(const double *)p;
    default: return 0;
    }
}

static void fmt_value(const gg_key *k, double v, char *buf, size_t cap)
{
    if (k->type == GG_KEY_F32 || k->type == GG_KEY_F64)
        snprintf(buf, cap, "%.17g", v);
    else if (v >= (double)LONG_MAX)
        snprintf(buf, cap, "%ld", LONG_MAX);
    else
        snprintf(buf, cap, "%.0f", v);
}

static void read_bounds(const char *section, const char *prefix, const gg_key *rows, size_t base, int *tried)
{
    static gg_settings s;
    for (const gg_key *k = rows; k->key; k++) {
        if (k->type == GG_KEY_INCLUDE) {
            read_bounds(section, prefix, k->sub, base + k->off, tried);
            continue;
        }
        if (k->type == GG_KEY_MAP) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s%s: {", prefix, k->key);
            read_bounds(section, sub, k->sub, base + k->off, tried);
            continue;
        }
        if (!is_number(k)) continue;
        const char *close = *prefix ? "}" : "";
        char text[512], val[64], want[256];
        double ends[2] = {k->lo, k->hi};
        for (int e = 0; e < 2; e++) {
            fmt_value(k, ends[e], val, sizeof val);
            /* prune needs its sparsity */
            snprintf(text, sizeof text, "%s: {%s%s%s: %s%s}\n", section,
                     strcmp(section, "prune") == 0 && strcmp(k->key, "sparsity") ? "sparsity: 0.5, " : "", prefix,
                     k->key, val, close);
            gg_status st = read_text(text, &s);
            /* a bound that breaks a rule across keys (prune.end before start) is refused by that rule */
            if (st && strcmp(section, "prune") == 0) continue;
            GT_CHECK(st == GG_OK, "'%s': %s", text, gg_errmsg());
            if (!st) {
                double got = field(k, (const char *)&s + base);
                double exp = k->type == GG_KEY_F32 ? (double)(float)ends[e] : ends[e];
                if (k->type == GG_KEY_U64 || k->type == GG_KEY_LONG) exp = ends[e] >= (double)LONG_MAX ? (double)LONG_MAX : exp;
                GT_CHECK(got == exp, "'%s': the field holds %g", text, got);
            }
        }
        /* below the range, and a word */
        snprintf(want, sizeof want, "key '%s.%s%s'", section, *prefix ? "early_stopping." : "", k->key);
        if (k->lo > -1e30) {
            fmt_value(k, k->lo - (k->lo == 0 ? 1 : fabs(k->lo) / 2), val, sizeof val);
            snprintf(text, sizeof text, "%s: {%s%s: %s%s}\n", section, prefix, k->key, val, close);
            GT_MSG(read_text(text, &s), want);
        }
        snprintf(text, sizeof text, "%s: {%s%s: many%s}\n", section, prefix, k->key, close);
        GT_MSG(read_text(text, &s), want);
        (*tried)++;
    }
}

static void test_read(void)
{
    int tried = 0;
    for (int i = 0; gg_config_doc_name(i); i++) {
        const char *name = gg_config_doc_name(i);
        if (strchr(name, '.')) continue; /* list entries: read below */
        read_bounds(name, "", gg_config_keys(name), 0, &tried);
    }
    GT_CHECK(tried >= 100, "%d numeric keys tried", tried);

    static gg_settings s;
    /* enums by name, the response alias, a path, a nested map, the lists */
    GT_MSG(read_text("guard2: 1\n", &s), "s.yaml:1: unknown key 'guard2' (did you mean 'guard'?)");
    GT_OK(read_text("guard: {on_spike: nothing, clip: agc, init_check: warn}\nprune: {sparsity: 0.5, scope: layer}\n"
                    "data: {format: csv, train: a.csv, test: none}\nregularize: {early_stopping: {patience: 4}}\n"
                    "optimizer: {name: adamw, groups: [{params: 'fc1.*', lr_scale: 0.5}]}\n",
                    &s));
    GT_CHECK(s.guard.on_spike == GG_DO_NOTHING && s.guard.clip == GG_CLIP_AGC && s.guard.init_check == 1, "guard enums");
    GT_CHECK(s.prune_on && s.prune.global == 0 && s.prune.every == 100 && s.prune.end == 0, "prune");
    GT_CHECK(strcmp(s.format, "csv") == 0 && strcmp(s.train_path, "a.csv") == 0 && s.test_path[0] == 0, "data");
    GT_CHECK(s.es_patience == 4 && s.es_restore == 1, "early stopping");
    GT_CHECK(s.opt.kind == GG_OPT_ADAMW && s.opt.weight_decay == 0.01f && s.ngroups == 1 &&
                 s.groups[0].lr_scale == 0.5f && s.groups[0].weight_decay == 0.01f && s.groups[0].l1 == -1,
             "optimizer and its group");
    GT_CHECK(s.guard.spike_z == 6 && s.epochs == 5 && s.batch == 128 && s.seed == 1 && s.dist_timeout == 300,
             "defaults");
    /* the synthetic tasks use their features as they are, unless told */
    GT_OK(read_text("data: {format: adding}\n", &s));
    GT_CHECK(s.normalize == GG_NORMALIZE_NONE, "adding: no normalisation");
    GT_OK(read_text("data: {format: adding, normalize: scale}\n", &s));
    GT_CHECK(s.normalize == GG_NORMALIZE_SCALE, "adding: as told");
    GT_OK(read_text("guard: {faults: [{batch: 3, nan: true}, {batch: 5, scale: 100, rank: 1}]}\n", &s));
    GT_CHECK(s.nfaults == 2 && s.faults[0].step == 3 && s.faults[0].nan && s.faults[0].rank == -1 &&
                 s.faults[0].scale == 1 && s.faults[1].scale == 100 && s.faults[1].rank == 1,
             "faults");
    GT_OK(read_text("schedule: {name: multistep, milestones: [3, 5]}\noptimizer: {lr: 0.5}\n", &s));
    GT_CHECK(s.sched.kind == GG_SCHED_MULTISTEP && s.sched.n_milestones == 2 && s.sched.milestones[1] == 5 &&
                 s.sched.lr == 0.5f && s.sched.gamma == 0.1f,
             "schedule");
    /* null counts as absent, for a section too */
    GT_OK(read_text("train:\nguard: {enabled: ~}\n", &s));
    GT_CHECK(s.epochs == 5 && s.guard.enabled == 1, "null sections and keys keep the defaults");
}

static void test_errors(void)
{
    static gg_settings s;
    GT_MSG(read_text("train: {epoks: 3}\n", &s), "s.yaml:1: unknown key 'train.epoks' (did you mean 'train.epochs'?)");
    GT_MSG(read_text("guard:\n  spike_zz: 3\n", &s), "s.yaml:2: unknown key 'guard.spike_zz' (did you mean 'guard.spike_z'?)");
    GT_MSG(read_text("regularize: {early_stopping: {patiense: 3}}\n", &s),
           "unknown key 'regularize.early_stopping.patiense' (did you mean 'regularize.early_stopping.patience'?)");
    GT_MSG(read_text("optimiser: {lr: 1}\n", &s), "unknown key 'optimiser' (did you mean 'optimizer'?)");
    GT_MSG(read_text("guard: {faults: [{batch: 1, nann: true}]}\n", &s),
           "unknown key 'guard.faults.0.nann' (did you mean 'guard.faults.0.nan'?)");
    /* nothing near: no suggestion */
    GT_MSG(read_text("train: {colour: red}\n", &s), "s.yaml:1: unknown key 'train.colour'");
    GT_CHECK(!contains(gg_errmsg(), "did you mean"), "no suggestion for a word far from every key: %s", gg_errmsg());
    GT_MSG(read_text("train: [1]\n", &s), "s.yaml:1: 'train' must be a map of keys (epochs, batch, accumulate, ...)");
    GT_MSG(read_text("guard: {on_spike: maybe}\n", &s),
           "guard.on_spike 'maybe' is not one of warn, clip, skip, backoff, rollback, stop, noise");
    GT_MSG(read_text("data: {format: parquet}\n", &s), "key 'data.format': expected one of 'idx', 'csv'");
    GT_MSG(read_text("data: {train: ''}\n", &s), "key 'data.train': an empty path");
    GT_MSG(read_text("optimizer: {groups: [{lr_scale: 2}]}\n", &s), "optimizer.groups entry needs 'params'");
    GT_MSG(read_text("guard: {faults: [{nan: true}]}\n", &s), "guard.faults entry needs 'batch'");
}

/* The library's defaults and checks come from the rows. */
static void test_library(void)
{
    gg_guard_config g = gg_guard_defaults();
    GT_CHECK(g.enabled == 1 && g.clip == GG_CLIP_ZSCORE && g.clip_z == 1.5f && g.spike_z == 6 && g.warmup == 25 &&
                 g.ema_alpha == 0.02f && g.loss_blowup == 10 && g.loss_blowup_floor == 0.25f &&
                 g.loss_blowup_z == 3 && g.on_nonfinite == GG_DO_ROLLBACK && g.on_spike == GG_DO_CLIP &&
                 g.on_loss_spike == GG_DO_NOTHING && g.init_check == 2 && g.vanish_ratio == 1e-4f &&
                 g.remedy_noise_eta == 0.3f && g.monitor_every == 0 && g.noise_eta == 0,
             "guard defaults");
    gg_guard_core *gd = gg_guard_core_new(&g, 0, NULL, 0);
    GT_CHECK(gd != NULL, "the defaults pass the guard's check: %s", gg_errmsg());
    gg_guard_core_free(gd);
    /* from C too: spike_z below its range, or NaN, is refused */
    g.spike_z = 0;
    GT_CHECK(gg_guard_core_new(&g, 0, NULL, 0) == NULL && contains(gg_errmsg(), "guard.spike_z = 0 must be >= 0.1"),
             "spike_z 0: %s", gg_errmsg());
    g.spike_z = NAN;
    GT_CHECK(gg_guard_core_new(&g, 0, NULL, 0) == NULL && contains(gg_errmsg(), "guard.spike_z = nan"),
             "spike_z NaN: %s", gg_errmsg());
    g = gg_guard_defaults();
    g.on_spike = (gg_response)42;
    GT_CHECK(gg_guard_core_new(&g, 0, NULL, 0) == NULL && contains(gg_errmsg(), "guard.on_spike = 42 is not one of"),
             "a response out of range: %s", gg_errmsg());
    /* above a config's range is a C caller's way to switch a test off */
    g = gg_guard_defaults();
    g.spike_z = 1e30f;
    g.warmup = INT_MAX;
    gd = gg_guard_core_new(&g, 0, NULL, 0);
    GT_CHECK(gd != NULL, "spike_z 1e30 from C: %s", gg_errmsg());
    gg_guard_core_free(gd);

    gg_optim_config o = gg_optim_defaults(GG_OPT_ADAGRAD);
    GT_CHECK(o.kind == GG_OPT_ADAGRAD && o.lr == 1e-2f && o.eps == 1e-10f && o.beta1 == 0.9f && o.alpha == 0.99f &&
                 o.lbfgs_history == 10 && o.weight_decay == 0,
             "adagrad defaults");
    o = gg_optim_defaults(GG_OPT_ADAMW);
    GT_CHECK(o.lr == 1e-3f && o.weight_decay == 1e-2f && o.eps == 1e-8f && o.beta2 == 0.999f, "adamw defaults");
    o = gg_optim_defaults(GG_OPT_STABLEADAMW);
    GT_CHECK(o.lr == 1e-3f && o.weight_decay == 1e-2f && o.eps == 1e-8f && o.beta1 == 0.9f, "stableadamw defaults");
    /* optimizer.name takes the optimizers' own names, and the lr row's
     * default (written by hand in keys.c) names every one of them */
    const gg_key *name_row = gg_schema_find(gg_optim_keys, "name", NULL);
    const gg_key *lr_row = gg_schema_find(gg_optim_keys, "lr", NULL);
    GT_CHECK(name_row && name_row->nnames == GG_OPT_COUNT && lr_row && lr_row->def_doc, "optimizer rows");
    for (int k = 0; name_row && lr_row && lr_row->def_doc && k < GG_OPT_COUNT; k++) {
        const char *nm = gg_optim_name((gg_optim_kind)k);
        GT_CHECK(nm && strcmp(name_row->name_of(k), nm) == 0, "optimizer.name %d: %s", k, name_row->name_of(k));
        GT_CHECK(nm && has_word(lr_row->def_doc, nm),
                 "optimizer.lr's default doc does not name %s: %s", nm, lr_row->def_doc);
    }
    gg_schedule_config sc = gg_schedule_defaults(GG_SCHED_PLATEAU, 0.5f);
    GT_CHECK(sc.kind == GG_SCHED_PLATEAU && sc.lr == 0.5f && sc.gamma == 0.1f && sc.factor == 0.1f &&
                 sc.patience == 10 && sc.threshold == 1e-4f && sc.pct_start == 0.3f && sc.div_factor == 25 &&
                 sc.final_div_factor == 1e4f && sc.t_mult == 1 && sc.total_steps == 0,
             "schedule defaults");
}

/* The docs' numbers and columns. */
typedef struct demo {
    int i;
    long l;
    float f;
    double d;
    int e;
} demo;

static const char *const modes[] = {"min", "max"};

static void test_markdown(void)
{
    static const gg_key rows[] = {
        GG_KEY_ROW(GG_KEY_LONG, demo, "steps", l, .lo = 0, .hi = (double)(1L << 40), .def = 0, .doc = "a"),
        GG_KEY_ROW(GG_KEY_INT, demo, "n", i, .lo = 1, .hi = 100000000, .def = 1000, .doc = "b"),
        GG_KEY_ROW(GG_KEY_F32, demo, "eps", f, .lo = 1e-30, .hi = 0.999999, .def = 1e-5, .doc = "c"),
        GG_KEY_ROW(GG_KEY_F64, demo, "big", d, .lo = -1e30, .hi = 1e12, .def = 0.25, .doc = "d"),
        GG_KEY_ROW(GG_KEY_ENUM, demo, "mode", e, .names = modes, .nnames = 2, .def = 1,
                   .doc = "e"),
        {0},
    };
    char *md = gg_schema_markdown(rows);
    const char *want = "| Key | Type | Range | Default | Meaning |\n|---|---|---|---|---|\n"
                       "| `steps` | int | [0, 2^40] | 0 | a |\n"
                       "| `n` | int | [1, 100000000] | 1000 | b |\n"
                       "| `eps` | float | [1e-30, 0.999999] | 1e-5 | c |\n"
                       "| `big` | float | [-1e30, 1e12] | 0.25 | d |\n"
                       "| `mode` | enum | min, max | max | e |\n";
    GT_CHECK(md && strcmp(md, want) == 0, "markdown:\n%s", md ? md : "(null)");
    free(md);
    demo d;
    memset(&d, 0, sizeof d);
    gg_schema_defaults(rows, &d);
    GT_CHECK(d.i == 1000 && d.f == 1e-5f && d.d == 0.25 && d.e == 1, "defaults from the rows");
}

int main(void)
{
    test_rows();
    test_coverage();
    test_read();
    test_errors();
    test_library();
    test_markdown();
    return gt_done("test_schema");
}

/*
 * schema.h - config key tables. A config section is described by one table
 * of rows, each naming a key, the struct field it fills (offset and size),
 * its type, the range it must be in, its default and its documentation. The
 * table drives everything a key needs:
 *
 *   reading      gg_schema_read: every key typed and range checked, with the
 *                file, line and key in the message; a key no row names is
 *                an error (with the nearest row's key as a suggestion)
 *   defaults     gg_schema_defaults: gg_guard_defaults() and friends are
 *                the table's defaults
 *   C callers    gg_schema_check: the same lower bounds for a struct filled in C
 *   docs         gg_schema_markdown: the tables of docs/config.md, which a
 *                test compares with the committed file
 *
 * Not installed. The library's tables are declared at the end; the
 * trainer's (data, train, ...) live in src/train/schema.c.
 */
#ifndef GG_SCHEMA_H
#define GG_SCHEMA_H

#include "gradguard.h"

#include <stddef.h>

typedef enum gg_key_type {
    GG_KEY_INT,     /* int */
    GG_KEY_LONG,    /* long */
    GG_KEY_U64,     /* uint64_t, written as an integer in [lo, hi] */
    GG_KEY_F32,     /* float: also refused when a float cannot hold it */
    GG_KEY_F64,     /* double */
    GG_KEY_BOOL,    /* int, 0 or 1 */
    GG_KEY_ENUM,    /* an int-sized enum: the index of one of the names */
    GG_KEY_NAME,    /* char[size]: one of the names, kept as text */
    GG_KEY_STR,     /* char[size] */
    GG_KEY_PATH,    /* char[size], not empty */
    GG_KEY_MAP,     /* a nested map: sub's rows, their offsets from this row's */
    GG_KEY_INCLUDE, /* no key of its own: sub's rows belong to this map, their offsets from this row's */
    GG_KEY_LIST     /* a list, read by the row's read function */
} gg_key_type;

typedef struct gg_key gg_key;
struct gg_key {
    const char *key; /* NULL ends a table */
    gg_key_type type;
    size_t off, size; /* the field in the struct the table describes */
    double lo, hi;    /* numbers: the accepted range */
    double def;       /* numbers, BOOL, ENUM (an index): the default */
    const char *sdef; /* NAME, STR, PATH: the default text (NULL: empty) */
    /* ENUM, NAME: the names, from an array or a function (index -> name) */
    const char *const *names;
    const char *(*name_of)(int i);
    int nnames;
    /* ENUM: a parser of its own (an index, or -1), for aliases; the error
     * then reads "guard.clip 'x' is not one of none, value, ..." */
    int (*parse)(const char *text);
    const gg_key *sub; /* MAP, INCLUDE */
    /* reads the key instead of the typed reader (LIST; or a value with a
     * special word, like data.test's `none`); map is the section, base the
     * struct the table describes */
    gg_status (*read)(gg_cfg_node *map, const gg_key *k, void *base);
    /* the docs columns when the row's own values do not say it well */
    const char *type_doc, *range_doc, *def_doc;
    const char *doc; /* the meaning, one markdown line */
};

/* A row for field f of struct st; the rest as designated initialisers:
 *   GG_KEY_ROW(GG_KEY_F32, gg_guard_config, "spike_z", spike_z, .lo = 0.1, .hi = 1000, .def = 6, .doc = "...") */
#define GG_KEY_ROW(ty, st, k, f, ...)                                                                                  \
    {                                                                                                                  \
        .key = (k), .type = (ty), .off = offsetof(st, f), .size = sizeof(((st *)0)->f), __VA_ARGS__                    \
    }

/* Writes every row's default into base (nested and included rows too;
 * LIST rows and rows without a default are left alone). */
void gg_schema_defaults(const gg_key *rows, void *base);

/* Reads the section map into base: every row's key, in table order, then
 * refuses any key of map that no row names ("cfg.yaml:4: unknown key
 * 'train.epoks' (did you mean 'train.epochs'?)"). A NULL or null map reads
 * nothing; a map that is not a map is "cfg.yaml:3: 'train' must be a map of
 * keys". Errors are GG_E_CONFIG with file, line and key. */
gg_status gg_schema_read(gg_cfg_node *map, const gg_key *rows, void *base);
/* One row's key of map (absent or null: base is unchanged). */
gg_status gg_schema_read_key(gg_cfg_node *map, const gg_key *k, void *base);
/* The row for key among rows and the rows they include (NULL if none);
 * *off, if given, gets the offset the includes add to the row's. */
const gg_key *gg_schema_find(const gg_key *rows, const char *key, size_t *off);
/* GG_E_CONFIG naming the first key of map (a map) that is not in names[n]
 * (what the top level of a config checks its sections with). */
gg_status gg_schema_unknown(gg_cfg_node *map, const char *const *names, int n);

/* The table's rules for a struct filled in C: numbers at least lo (NaN is
 * not), BOOL 0 or 1, ENUM a valid index. The upper bounds are a config's
 * guard against typos; a C caller may go above them (spike_z = 1e30 or
 * warmup = INT_MAX switch a test off), and a bound above which a value
 * means nothing is the library's own check. GG_E_CONFIG "guard.spike_z =
 * 0 must be >= 0.1 (as in a config: [0.1, 1000])" for the first field that
 * breaks one. */
gg_status gg_schema_check(const gg_key *rows, const void *base, const char *what);

/* A markdown table of the rows (| Key | Type | Range | Default | Meaning |),
 * keys of MAP rows as `map.key`. malloc'd, the caller frees; NULL when out
 * of memory. */
char *gg_schema_markdown(const gg_key *rows);
/* The name of index i of an ENUM or NAME row (NULL if out of range). */
const char *gg_schema_name(const gg_key *k, int i);

/* ---- the library's tables ---------------------------------------------- */

extern const gg_key gg_guard_keys[];    /* gg_guard_config: the guard section (src/guard/keys.c) */
extern const gg_key gg_optim_keys[];    /* gg_optim_config: the optimizer section (src/optim/keys.c) */
extern const gg_key gg_schedule_keys[]; /* gg_schedule_config: the schedule section (src/optim/keys.c) */

#endif

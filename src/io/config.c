/* config.c - YAML configuration as a tree with line numbers.
 *
 * libyaml parses the text into a document; we copy it into our own nodes,
 * which carry the line, the key path ("train.epochs") and whether the key
 * was read. Access is strict: typed getters check type and range, and
 * gg_cfg_unused() reports any key nobody read, so a typo is an error with
 * a line number instead of a silently ignored setting.
 *
 * Scalars keep their text; types are decided by the getter that reads
 * them. A quoted scalar is always a string ("5" is not a number). A plain
 * empty scalar, ~ and null are null, which the getters treat as absent.
 *
 * Tags of the YAML core schema are honoured: !!str makes a string (like
 * quotes), !!int, !!float and !!bool fix the type (the text must be one,
 * and only a getter of that type takes it; an integer is also a number),
 * !!null makes null, !!map and !!seq must match the node. Any other tag
 * (!!python/object:..., !!binary, !local) is refused by name: a config is
 * data, and a tag the reader does not know would be silently ignored.
 * libyaml's document API gives every untagged node its default tag, so
 * the explicit tags come from a first pass over the parser's events.
 *
 * Merge keys (`<<: *defaults`, or `<<: [*a, *b]`) copy the entries of the
 * merged maps that the map does not give itself: keys written in the map
 * win, and among the merged maps the earlier one wins. */
#define _POSIX_C_SOURCE 200809L
#include "io.h"
#include "../core/error.h"
#include "../core/file.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#define CFG_FILE_MAX (16u << 20) /* configs are small; refuse anything huge before reading it */
#define CFG_DEPTH_MAX 64
#define CFG_NODES_MAX 1000000 /* bounds alias expansion ("billion laughs") */

/* The explicit type of a scalar (from a core-schema tag). */
enum { TAG_NONE, TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL };

struct gg_cfg_node {
    gg_cfg_type type;
    int line;     /* 1-based; for a map entry the key's line; 0 for --set */
    int quoted;   /* scalar written in quotes or as a block, or tagged !!str: a string */
    int tag;      /* TAG_*: a scalar's explicit type */
    int merged;   /* map entry copied in by a merge key (only while building) */
    int flow;     /* collection written in flow style ([a, b], {k: v}) */
    int used;     /* map entry: the key was read */
    char *key;    /* the key under its map, NULL otherwise */
    char *text;   /* scalar text ("" for null) */
    char *path;   /* "train.epochs", "model.layers.2"; "" for the root */
    char *rawtag; /* the explicit YAML tag as written (expanded), until check_tree resolves it */
    gg_cfg_node **kids;
    int n, cap;
    gg_cfg *cfg;
};

/* An explicit tag of the text being built: the node it belongs to is
 * known by its start mark (the same in the event and the document APIs)
 * and its kind (a block map starts where its first key does). */
typedef struct tag_at {
    size_t index;
    int kind; /* yaml_node_type_t */
    char *tag;
} tag_at;

typedef struct tag_list {
    tag_at *v;
    size_t n, cap;
} tag_list;

struct gg_cfg {
    char *source; /* file name for messages */
    gg_cfg_node *root;
    long nodes;
    const tag_list *tags; /* while building: the explicit tags of the text */
};

#define YTAG "tag:yaml.org,2002:"

static char *dup_str(const char *s) { return strndup(s, strlen(s)); }

static void node_free(gg_cfg_node *n)
{
    if (!n) return;
    if (n->cfg) n->cfg->nodes--;
    for (int i = 0; i < n->n; i++) node_free(n->kids[i]);
    free(n->kids);
    free(n->key);
    free(n->text);
    free(n->path);
    free(n->rawtag);
    free(n);
}

void gg_cfg_free(gg_cfg *c)
{
    if (!c) return;
    node_free(c->root);
    free(c->source);
    free(c);
}

/* "cfg.yaml:12" or "--set": where a node came from, for messages. */
static const char *where(const gg_cfg_node *n, char *buf, size_t cap)
{
    if (!n || n->line <= 0) snprintf(buf, cap, "--set");
    else snprintf(buf, cap, "%s:%d", n->cfg && n->cfg->source ? n->cfg->source : "<config>", n->line);
    return buf;
}

const char *gg_cfg_where(const gg_cfg_node *n, char *buf, size_t cap) { return where(n, buf, cap); }

static gg_cfg_node *node_new(gg_cfg *c, gg_cfg_type type, int line)
{
    if (c->nodes >= CFG_NODES_MAX) return NULL;
    gg_cfg_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->type = type;
    n->line = line;
    n->cfg = c;
    c->nodes++;
    return n;
}

static int add_kid(gg_cfg_node *p, gg_cfg_node *k)
{
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 8;
        gg_cfg_node **kids = realloc(p->kids, sizeof *kids * (size_t)cap);
        if (!kids) return 0;
        p->kids = kids;
        p->cap = cap;
    }
    p->kids[p->n++] = k;
    return 1;
}

/* Sets the path of n under parent path pp (key or index) and of its subtree. */
static int set_paths(gg_cfg_node *n, const char *pp, const char *comp)
{
    free(n->path);
    size_t a = strlen(pp), b = strlen(comp);
    n->path = malloc(a + b + 2);
    if (!n->path) return 0;
    if (a) snprintf(n->path, a + b + 2, "%s.%s", pp, comp);
    else memcpy(n->path, comp, b + 1);
    for (int i = 0; i < n->n; i++) {
        char idx[24];
        const char *kc = n->kids[i]->key;
        if (!kc) {
            snprintf(idx, sizeof idx, "%d", i);
            kc = idx;
        }
        if (!set_paths(n->kids[i], n->path, kc)) return 0;
    }
    return 1;
}

/* ---- explicit tags --------------------------------------------------------- */

static int cmp_tag_at(const void *a, const void *b)
{
    const tag_at *x = a, *y = b;
    if (x->index != y->index) return x->index < y->index ? -1 : 1;
    return (x->kind > y->kind) - (x->kind < y->kind);
}

static void tags_free(tag_list *tl)
{
    for (size_t i = 0; i < tl->n; i++) free(tl->v[i].tag);
    free(tl->v);
    memset(tl, 0, sizeof *tl);
}

/* The explicit tags of text, from libyaml's events. A syntax error ends the
 * pass quietly: the document load that follows reports it. */
static gg_status collect_tags(const char *text, size_t len, const char *src, tag_list *tl)
{
    yaml_parser_t p;
    yaml_event_t ev;
    memset(tl, 0, sizeof *tl);
    if (!yaml_parser_initialize(&p)) return gg_fail(GG_E_NOMEM, "%s: out of memory", src);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    gg_status st = GG_OK;
    while (!st && yaml_parser_parse(&p, &ev)) {
        const yaml_char_t *tag = NULL;
        int kind = 0, end = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type == YAML_SCALAR_EVENT) tag = ev.data.scalar.tag, kind = YAML_SCALAR_NODE;
        else if (ev.type == YAML_SEQUENCE_START_EVENT) tag = ev.data.sequence_start.tag, kind = YAML_SEQUENCE_NODE;
        else if (ev.type == YAML_MAPPING_START_EVENT) tag = ev.data.mapping_start.tag, kind = YAML_MAPPING_NODE;
        if (tag) {
            if (tl->n == tl->cap) {
                size_t cap = tl->cap ? 2 * tl->cap : 16;
                tag_at *v = realloc(tl->v, cap * sizeof *v);
                if (!v) st = gg_fail(GG_E_NOMEM, "%s: out of memory", src);
                else tl->v = v, tl->cap = cap;
            }
            if (!st) {
                tag_at *t = &tl->v[tl->n];
                t->index = ev.start_mark.index;
                t->kind = kind;
                if (!(t->tag = dup_str((const char *)tag))) st = gg_fail(GG_E_NOMEM, "%s: out of memory", src);
                else tl->n++;
            }
        }
        yaml_event_delete(&ev);
        if (end) break;
    }
    yaml_parser_delete(&p);
    if (st) tags_free(tl);
    else if (tl->n > 1) qsort(tl->v, tl->n, sizeof *tl->v, cmp_tag_at);
    return st;
}

/* The explicit tag of a document node, or NULL. */
static const char *tag_of(const gg_cfg *c, const yaml_node_t *yn)
{
    if (!c->tags || !c->tags->n) return NULL;
    tag_at key = {yn->start_mark.index, (int)yn->type, NULL};
    const tag_at *t = bsearch(&key, c->tags->v, c->tags->n, sizeof key, cmp_tag_at);
    return t ? t->tag : NULL;
}

/* A tag as the user wrote it: "!!str" for the core schema's long form. */
static const char *tag_name(const char *tag, char *buf, size_t cap)
{
    size_t k = strlen(YTAG);
    if (!strncmp(tag, YTAG, k)) snprintf(buf, cap, "!!%.200s", tag + k);
    else if (tag[0] == '!') snprintf(buf, cap, "%.200s", tag);
    else snprintf(buf, cap, "!<%.200s>", tag);
    return buf;
}

static int is_tag(const char *tag, const char *core) { return !strncmp(tag, YTAG, strlen(YTAG)) && !strcmp(tag + strlen(YTAG), core); }

/* ---- building the tree from a libyaml document --------------------------- */

static int plain_null(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int cmp_key_ptr(const void *a, const void *b)
{
    return strcmp((*(gg_cfg_node *const *)a)->key, (*(gg_cfg_node *const *)b)->key);
}

/* Duplicate keys in one map are errors (sorted copy: O(n log n)). */
static gg_status check_dups(gg_cfg_node *m)
{
    if (m->n < 2) return GG_OK;
    gg_cfg_node **s = malloc(sizeof *s * (size_t)m->n);
    if (!s) return gg_fail(GG_E_NOMEM, "config: out of memory");
    memcpy(s, m->kids, sizeof *s * (size_t)m->n);
    qsort(s, (size_t)m->n, sizeof *s, cmp_key_ptr);
    gg_status st = GG_OK;
    for (int i = 1; i < m->n && !st; i++)
        if (!strcmp(s[i]->key, s[i - 1]->key)) {
            const gg_cfg_node *first = s[i]->line < s[i - 1]->line ? s[i] : s[i - 1];
            const gg_cfg_node *second = first == s[i] ? s[i - 1] : s[i];
            char w[512];
            st = gg_fail(GG_E_CONFIG, "%s: duplicate key '%s' (first given on line %d)", where(second, w, sizeof w),
                         second->path ? second->path : second->key, first->line);
        }
    free(s);
    return st;
}

static gg_status build(gg_cfg *c, yaml_document_t *doc, yaml_node_t *yn, int line0, int depth, gg_cfg_node **out);

/* A merge key `<<` at line kline of map n, with value vn: a map or a list
 * of maps. Their entries are appended to n marked `merged`; which of a
 * doubled key stays is decided at the end of the map (drop_merged_dups). */
static gg_status merge_into(gg_cfg *c, yaml_document_t *doc, gg_cfg_node *n, yaml_node_t *vn, int kline,
                            int *merge_line, int depth)
{
    const char *src = kline ? c->source : "--set";
    if (*merge_line >= 0)
        return gg_fail(GG_E_CONFIG, "%s:%d: a second merge key '<<' in one map (the first is on line %d); merge "
                       "several maps with one: <<: [*a, *b]", src, kline, *merge_line);
    *merge_line = kline;
    gg_cfg_node *m;
    gg_status st = build(c, doc, vn, kline, depth + 1, &m);
    if (st) return st;
    /* the maps to merge, in order: the value itself, or its items */
    int nsrc = m->type == GG_CFG_SEQ ? m->n : 1;
    for (int s = 0; s < nsrc && !st; s++) {
        gg_cfg_node *from = m->type == GG_CFG_SEQ ? m->kids[s] : m;
        if (from->type != GG_CFG_MAP || (from->rawtag && strcmp(from->rawtag, "!") && !is_tag(from->rawtag, "map"))) {
            st = gg_fail(GG_E_CONFIG, "%s:%d: the merge key '<<' takes a map or a list of maps (an alias such as "
                         "*defaults), not %s", src, kline,
                         from->type == GG_CFG_MAP ? "a tagged map"
                         : from->type == GG_CFG_SEQ ? "a list of lists"
                         : from->type == GG_CFG_NULL ? "null" : m->type == GG_CFG_SEQ ? "a list of values" : "a value");
            break;
        }
        for (int i = 0; i < from->n; i++) {
            if (!add_kid(n, from->kids[i])) {
                st = gg_fail(GG_E_NOMEM, "%s:%d: out of memory", src, kline);
                break;
            }
            from->kids[i]->merged = 1;
            from->kids[i] = NULL;
        }
        /* what was moved is n's now; what was not is freed with m */
        int k = 0;
        for (int i = 0; i < from->n; i++)
            if (from->kids[i]) from->kids[k++] = from->kids[i];
        from->n = k;
    }
    node_free(m);
    return st;
}

static int cmp_key_order(const void *a, const void *b)
{
    const gg_cfg_node *x = *(gg_cfg_node *const *)a, *y = *(gg_cfg_node *const *)b;
    int k = strcmp(x->key, y->key);
    if (k) return k;
    /* the map's own entry first, then merged ones in merge order */
    if (x->merged != y->merged) return x->merged - y->merged;
    return 0;
}

/* Removes the merged entries of map n whose key the map gives itself or an
 * earlier merged map gave; keeps the document order of the rest. Doubled
 * keys the map writes itself stay, for check_dups to report. */
static gg_status drop_merged_dups(gg_cfg_node *n)
{
    if (n->n < 2) goto unmark;
    gg_cfg_node **s = malloc(sizeof *s * (size_t)n->n);
    if (!s) return gg_fail(GG_E_NOMEM, "config: out of memory");
    /* a stable sort: qsort is not, so the merge order rides in `merged` */
    for (int i = 0; i < n->n; i++) {
        s[i] = n->kids[i];
        if (s[i]->merged) s[i]->merged = 1 + i;
    }
    qsort(s, (size_t)n->n, sizeof *s, cmp_key_order);
    for (int i = 1; i < n->n; i++)
        if (s[i]->merged && !strcmp(s[i]->key, s[i - 1]->key)) s[i]->merged = -1; /* loses */
    free(s);
    int k = 0;
    for (int i = 0; i < n->n; i++) {
        if (n->kids[i]->merged == -1) node_free(n->kids[i]);
        else n->kids[k++] = n->kids[i];
    }
    n->n = k;
unmark:
    for (int i = 0; i < n->n; i++) n->kids[i]->merged = 0;
    return GG_OK;
}

static gg_status build(gg_cfg *c, yaml_document_t *doc, yaml_node_t *yn, int line0, int depth, gg_cfg_node **out)
{
    *out = NULL;
    int line = line0 < 0 ? (int)yn->start_mark.line + 1 : line0;
    gg_cfg_node *n = NULL;
    gg_status st = GG_OK;
    /* nodes built for --set values carry line 0 */
    int set_mode = line0 == 0;
    if (depth > CFG_DEPTH_MAX)
        return gg_fail(GG_E_CONFIG, "%s:%d: nested more than %d levels deep", set_mode ? "--set" : c->source, line,
                       CFG_DEPTH_MAX);
    switch (yn->type) {
    case YAML_SCALAR_NODE: {
        const char *v = (const char *)yn->data.scalar.value;
        size_t len = yn->data.scalar.length;
        if (memchr(v, 0, len))
            return gg_fail(GG_E_CONFIG, "%s:%d: a NUL character in a value", set_mode ? "--set" : c->source, line);
        int quoted = yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        const char *tag = tag_of(c, yn);
        n = node_new(c, GG_CFG_SCALAR, line);
        if (!n || !(n->text = strndup(v, len)) || (tag && !(n->rawtag = dup_str(tag)))) goto oom;
        n->quoted = quoted;
        /* a tagged scalar is typed by its tag, in check_tree */
        if (!tag && !quoted && plain_null(n->text)) n->type = GG_CFG_NULL;
        break;
    }
    case YAML_SEQUENCE_NODE: {
        const char *tag = tag_of(c, yn);
        n = node_new(c, GG_CFG_SEQ, line);
        if (!n || (tag && !(n->rawtag = dup_str(tag)))) goto oom;
        n->flow = yn->data.sequence.style == YAML_FLOW_SEQUENCE_STYLE;
        for (yaml_node_item_t *it = yn->data.sequence.items.start; it < yn->data.sequence.items.top; it++) {
            gg_cfg_node *k;
            yaml_node_t *kn = yaml_document_get_node(doc, *it);
            if (!kn) goto oom;
            if ((st = build(c, doc, kn, set_mode ? 0 : -1, depth + 1, &k))) goto fail;
            if (!add_kid(n, k)) {
                node_free(k);
                goto oom;
            }
        }
        break;
    }
    case YAML_MAPPING_NODE: {
        const char *tag = tag_of(c, yn);
        n = node_new(c, GG_CFG_MAP, line);
        if (!n || (tag && !(n->rawtag = dup_str(tag)))) goto oom;
        n->flow = yn->data.mapping.style == YAML_FLOW_MAPPING_STYLE;
        int merge_line = -1;
        for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top; p++) {
            yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
            if (!kn || !vn) goto oom;
            int kline = set_mode ? 0 : (int)kn->start_mark.line + 1;
            const char *src = set_mode ? "--set" : c->source;
            if (kn->type != YAML_SCALAR_NODE || memchr(kn->data.scalar.value, 0, kn->data.scalar.length)) {
                st = gg_fail(GG_E_CONFIG, "%s:%d: a map key must be plain text", src, kline);
                goto fail;
            }
            const char *ktext = (const char *)kn->data.scalar.value, *ktag = tag_of(c, kn);
            int merge = kn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(ktext, "<<") &&
                        (!ktag || is_tag(ktag, "merge"));
            if (ktag && !merge && strcmp(ktag, "!") && !is_tag(ktag, "str")) {
                char tb[256];
                st = gg_fail(GG_E_CONFIG, "%s:%d: the map key '%.200s' has the tag %s; a key is plain text", src,
                             kline, ktext, tag_name(ktag, tb, sizeof tb));
                goto fail;
            }
            if (merge) {
                if ((st = merge_into(c, doc, n, vn, kline, &merge_line, depth))) goto fail;
                continue;
            }
            gg_cfg_node *k;
            if ((st = build(c, doc, vn, kline, depth + 1, &k))) goto fail;
            if (!(k->key = strndup(ktext, kn->data.scalar.length)) || !add_kid(n, k)) {
                node_free(k);
                goto oom;
            }
        }
        if (merge_line >= 0 && (st = drop_merged_dups(n))) goto fail;
        break;
    }
    default:
        return gg_fail(GG_E_CONFIG, "%s:%d: an empty YAML node", c->source, line);
    }
    *out = n;
    return GG_OK;
oom:
    st = c->nodes >= CFG_NODES_MAX
             ? gg_fail(GG_E_CONFIG, "%s:%d: more than %d values (aliases expanding without bound?)", c->source, line,
                       CFG_NODES_MAX)
             : gg_fail(GG_E_NOMEM, "%s:%d: out of memory", c->source, line);
fail:
    node_free(n);
    return st;
}

/* Text forms the tags take (the getters' own forms: decimal only). */
static int int_text(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    return *s && strspn(s, "0123456789") == strlen(s);
}

static int float_text(const char *s)
{
    const char *u = s + (*s == '-' || *s == '+');
    static const char *const special[] = {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(u, special[i])) return i < 3 || u == s;
    return *s && strspn(s, "0123456789+-.eE") == strlen(s) && strpbrk(s, "0123456789");
}

static int bool_word(const char *s, int *v)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(s, yes[i])) return *v = 1, 1;
        if (!strcasecmp(s, no[i])) return *v = 0, 1;
    }
    return 0;
}

/* Gives an explicitly tagged node its type, or fails naming the tag. */
static gg_status resolve_tag(gg_cfg_node *n)
{
    char *t = n->rawtag;
    if (!t) return GG_OK;
    n->rawtag = NULL;
    char w[512], tb[256];
    const char *tn = tag_name(t, tb, sizeof tb), *what = n->key ? "key" : "item", *path = gg_cfg_path(n);
    static const char *const core[] = {"str", "int", "float", "bool", "null", "map", "seq"};
    int known = !strcmp(t, "!");
    for (int i = 0; i < 7; i++) known |= is_tag(t, core[i]);
    gg_status st = GG_OK;
    if (!known) {
        st = gg_fail(GG_E_CONFIG, "%s: %s '%s': unknown YAML tag %s (a config takes only the core-schema tags "
                     "!!str, !!int, !!float, !!bool, !!null, !!map and !!seq)", where(n, w, sizeof w), what, path, tn);
    } else if (n->type == GG_CFG_MAP || n->type == GG_CFG_SEQ) {
        if (strcmp(t, "!") && !is_tag(t, n->type == GG_CFG_MAP ? "map" : "seq"))
            st = gg_fail(GG_E_CONFIG, "%s: %s '%s': the tag %s on %s", where(n, w, sizeof w), what, path, tn,
                         n->type == GG_CFG_MAP ? "a map" : "a list");
    } else if (!strcmp(t, "!") || is_tag(t, "str")) {
        n->quoted = 1; /* a string, even if empty or a number */
        n->tag = TAG_STR;
    } else if (is_tag(t, "map") || is_tag(t, "seq")) {
        st = gg_fail(GG_E_CONFIG, "%s: %s '%s': the tag %s on the value '%.120s', not a %s", where(n, w, sizeof w),
                     what, path, tn, n->text, is_tag(t, "map") ? "map" : "list");
    } else {
        int b, ok = 0, tag = TAG_NONE;
        if (is_tag(t, "null")) ok = plain_null(n->text);
        else if (is_tag(t, "bool")) ok = bool_word(n->text, &b), tag = TAG_BOOL;
        else if (is_tag(t, "int")) ok = int_text(n->text), tag = TAG_INT;
        else ok = float_text(n->text), tag = TAG_FLOAT;
        if (!ok)
            st = gg_fail(GG_E_CONFIG, "%s: %s '%s': the tag %s does not fit the value '%.120s' (%s)",
                         where(n, w, sizeof w), what, path, tn, n->text,
                         tag == TAG_BOOL ? "not true or false" : tag == TAG_INT ? "not a decimal integer"
                         : tag == TAG_FLOAT ? "not a decimal number" : "not empty, ~ or null");
        n->quoted = 0; /* the tag decides, not the quotes */
        n->tag = tag;
        if (is_tag(t, "null")) n->type = GG_CFG_NULL;
    }
    free(t);
    return st;
}

/* Tags and duplicate keys are checked once paths exist, so messages can
 * name them. */
static gg_status check_tree(gg_cfg_node *n)
{
    gg_status st;
    if ((st = resolve_tag(n))) return st;
    if (n->type == GG_CFG_MAP && (st = check_dups(n))) return st;
    for (int i = 0; i < n->n; i++)
        if ((st = check_tree(n->kids[i]))) return st;
    return GG_OK;
}

static gg_status yaml_error(const yaml_parser_t *p, const char *src)
{
    if (p->error == YAML_MEMORY_ERROR) return gg_fail(GG_E_NOMEM, "%s: out of memory parsing YAML", src);
    if (p->error == YAML_READER_ERROR)
        return gg_fail(GG_E_CONFIG, "%s: byte %zu: %s (the file must be UTF-8 text)", src, p->problem_offset,
                       p->problem ? p->problem : "unreadable text");
    char ctx[256] = "";
    if (p->context)
        snprintf(ctx, sizeof ctx, " (%s at line %zu, column %zu)", p->context, p->context_mark.line + 1,
                 p->context_mark.column + 1);
    return gg_fail(GG_E_CONFIG, "%s:%zu:%zu: YAML syntax error: %s%s", src, p->problem_mark.line + 1,
                   p->problem_mark.column + 1, p->problem ? p->problem : "invalid YAML", ctx);
}

/* Parses one YAML document from text into a tree of c's nodes. line0 < 0:
 * take lines from the text; 0: --set values. *out is NULL for an empty text. */
static gg_status parse_tree(gg_cfg *c, const char *text, size_t len, const char *src, int line0, gg_cfg_node **out)
{
    *out = NULL;
    yaml_parser_t parser;
    yaml_document_t doc, doc2;
    tag_list tags;
    gg_status st = collect_tags(text, len, src, &tags);
    if (st) return st;
    if (!yaml_parser_initialize(&parser)) {
        tags_free(&tags);
        return gg_fail(GG_E_NOMEM, "%s: out of memory", src);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        st = yaml_error(&parser, src);
        yaml_parser_delete(&parser);
        tags_free(&tags);
        return st;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        c->tags = &tags;
        st = build(c, &doc, root, line0, 0, out);
        c->tags = NULL;
        if (!st) {
            /* a second document is a mistake, not something to ignore */
            if (!yaml_parser_load(&parser, &doc2)) {
                st = yaml_error(&parser, src);
            } else {
                yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
                if (r2)
                    st = gg_fail(GG_E_CONFIG, "%s:%zu: a second YAML document; a config holds one", src,
                                 r2->start_mark.line + 1);
                yaml_document_delete(&doc2);
            }
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    tags_free(&tags);
    if (st) {
        node_free(*out);
        *out = NULL;
    }
    return st;
}

gg_status gg_cfg_parse(const char *text, size_t len, const char *source_name, gg_cfg **out)
{
    if (!out) return gg_fail(GG_E_ARG, "gg_cfg_parse: no output pointer");
    *out = NULL;
    if (!text && len) return gg_fail(GG_E_ARG, "gg_cfg_parse: no text");
    gg_cfg *c = calloc(1, sizeof *c);
    if (!c || !(c->source = dup_str(source_name ? source_name : "<string>"))) {
        free(c);
        return gg_fail(GG_E_NOMEM, "config: out of memory");
    }
    gg_status st = parse_tree(c, text ? text : "", len, c->source, -1, &c->root);
    if (!st && !c->root) {
        /* an empty file is an empty map */
        c->root = node_new(c, GG_CFG_MAP, 1);
        if (!c->root) st = gg_fail(GG_E_NOMEM, "config: out of memory");
    }
    if (!st && !set_paths(c->root, "", "")) st = gg_fail(GG_E_NOMEM, "config: out of memory");
    if (!st) st = check_tree(c->root);
    if (st) {
        gg_cfg_free(c);
        return st;
    }
    *out = c;
    return GG_OK;
}

gg_status gg_cfg_load(const char *path, gg_cfg **out)
{
    if (!out) return gg_fail(GG_E_ARG, "gg_cfg_load: no output pointer");
    *out = NULL;
    if (!path) return gg_fail(GG_E_ARG, "gg_cfg_load: no path");
    int odd;
    FILE *f = gg_fopen_regular(path, &odd);
    if (!f && odd) return gg_fail(GG_E_IO, "config '%s' is not a regular file", path);
    if (!f) return gg_fail(GG_E_IO, "cannot open config '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return gg_fail(GG_E_IO, "config '%s' is not a regular file", path);
    }
    if ((unsigned long long)sb.st_size > CFG_FILE_MAX) {
        fclose(f);
        return gg_fail(GG_E_CONFIG, "config '%s' has %lld bytes, over the limit %u", path, (long long)sb.st_size,
                       CFG_FILE_MAX);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return gg_fail(GG_E_NOMEM, "config '%s': out of memory", path);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return gg_fail(GG_E_IO, "cannot read config '%s': %s", path, err ? strerror(errno) : "the file changed size");
    }
    buf[n] = 0;
    gg_status st = gg_cfg_parse(buf, n, path, out);
    free(buf);
    return st;
}

/* ---- access -------------------------------------------------------------- */

gg_cfg_node *gg_cfg_root(gg_cfg *c) { return c ? c->root : NULL; }
gg_cfg_type gg_cfg_node_type(const gg_cfg_node *n) { return n ? n->type : GG_CFG_NULL; }
int gg_cfg_len(const gg_cfg_node *n) { return n && (n->type == GG_CFG_MAP || n->type == GG_CFG_SEQ) ? n->n : 0; }
int gg_cfg_line(const gg_cfg_node *n) { return n ? n->line : 0; }
const char *gg_cfg_path(const gg_cfg_node *n) { return n && n->path ? n->path : ""; }
const char *gg_cfg_scalar(const gg_cfg_node *n) { return n && n->type == GG_CFG_SCALAR ? n->text : NULL; }

/* Linear: config maps hold tens of keys. */
static gg_cfg_node *find_key(const gg_cfg_node *map, const char *key)
{
    for (int i = 0; i < map->n; i++)
        if (!strcmp(map->kids[i]->key, key)) return map->kids[i];
    return NULL;
}

gg_cfg_node *gg_cfg_get(gg_cfg_node *map, const char *key)
{
    if (!map || map->type != GG_CFG_MAP || !key) return NULL;
    gg_cfg_node *v = find_key(map, key);
    if (v) v->used = 1;
    return v;
}

gg_cfg_node *gg_cfg_at(gg_cfg_node *seq, int i)
{
    if (!seq || seq->type != GG_CFG_SEQ || i < 0 || i >= seq->n) return NULL;
    return seq->kids[i];
}

const char *gg_cfg_key_at(gg_cfg_node *map, int i, gg_cfg_node **value)
{
    if (value) *value = NULL;
    if (!map || map->type != GG_CFG_MAP || i < 0 || i >= map->n) return NULL;
    gg_cfg_node *v = map->kids[i];
    v->used = 1;
    if (value) *value = v;
    return v->key;
}

static const char *type_word(const gg_cfg_node *n)
{
    switch (n->type) {
    case GG_CFG_MAP: return "a map";
    case GG_CFG_SEQ: return "a list";
    case GG_CFG_NULL: return "null";
    case GG_CFG_SCALAR: return "a value";
    }
    return "?";
}

/* "FILE:LINE: key 'a.b': expected ..., got ..." */
static gg_status bad_value(const gg_cfg_node *n, const char *expected)
{
    char w[512], got[160];
    static const char *const tagged[] = {"", "the !!str string", "the !!int", "the !!float", "the !!bool"};
    if (n->type == GG_CFG_SCALAR && n->tag)
        snprintf(got, sizeof got, "%s '%.120s'", tagged[n->tag], n->text);
    else if (n->type == GG_CFG_SCALAR)
        snprintf(got, sizeof got, n->quoted ? "the quoted string '%.120s'" : "'%.120s'", n->text);
    else
        snprintf(got, sizeof got, "%s", type_word(n));
    return gg_fail(GG_E_CONFIG, "%s: %s '%s': expected %s, got %s", where(n, w, sizeof w), n->key ? "key" : "item",
                   gg_cfg_path(n), expected, got);
}

/* The value of map[key] for a typed getter: NULL (absent, or null) leaves
 * the caller's default. A map argument that is not a map is an error. */
static gg_status lookup(gg_cfg_node *map, const char *key, gg_cfg_node **out)
{
    *out = NULL;
    if (!key) return gg_fail(GG_E_ARG, "config: NULL key");
    if (!map) return GG_OK;
    if (map->type != GG_CFG_MAP) {
        char what[256];
        snprintf(what, sizeof what, "a map holding '%s'", key);
        return bad_value(map, what);
    }
    gg_cfg_node *v = gg_cfg_get(map, key);
    if (v && v->type != GG_CFG_NULL) *out = v;
    return GG_OK;
}

static gg_status parse_int(gg_cfg_node *n, long lo, long hi, long *out)
{
    char exp[128];
    snprintf(exp, sizeof exp, "an integer in [%ld, %ld]", lo, hi);
    if (n->type != GG_CFG_SCALAR || n->quoted || (n->tag && n->tag != TAG_INT)) return bad_value(n, exp);
    const char *s = n->text;
    if (!((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9')))
        return bad_value(n, exp);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno == ERANGE || v < lo || v > hi) return bad_value(n, exp);
    *out = v;
    return GG_OK;
}

static int yaml_inf(const char *s, double *v)
{
    int neg = *s == '-';
    if (*s == '-' || *s == '+') s++;
    if (strcmp(s, ".inf") && strcmp(s, ".Inf") && strcmp(s, ".INF")) return 0;
    *v = neg ? -INFINITY : INFINITY;
    return 1;
}

/* A decimal literal whose digits are not all zero (before any exponent). */
static int nonzero_literal(const char *s)
{
    for (; *s && *s != 'e' && *s != 'E'; s++)
        if (*s >= '1' && *s <= '9') return 1;
    return 0;
}

static gg_status parse_float(gg_cfg_node *n, double lo, double hi, double *out)
{
    char exp[128];
    snprintf(exp, sizeof exp, "a number in [%.10g, %.10g]", lo, hi);
    if (n->type != GG_CFG_SCALAR || n->quoted || n->tag == TAG_BOOL) return bad_value(n, exp);
    const char *s = n->text;
    double v;
    if (!yaml_inf(s, &v)) {
        /* decimal only: strtod would also take hex, "inf", "nan" and leading spaces */
        if (!*s || strspn(s, "0123456789+-.eE") != strlen(s) || !strpbrk(s, "0123456789")) return bad_value(n, exp);
        char *end;
        errno = 0;
        v = strtod(s, &end);
        if (*end) return bad_value(n, exp);
        if (errno == ERANGE || (v == 0 && nonzero_literal(s))) {
            char w[512];
            /* 1e-400 is not 0, and 1e400 is not infinity: say so rather than train with either */
            return gg_fail(GG_E_CONFIG, "%s: %s '%s': '%.120s' is %s a 64-bit number can hold (expected %s)",
                           where(n, w, sizeof w), n->key ? "key" : "item", gg_cfg_path(n), s,
                           fabs(v) > 1 ? "larger than" : "closer to 0 than", exp);
        }
    }
    if (!(v >= lo && v <= hi)) return bad_value(n, exp);
    *out = v;
    return GG_OK;
}

/* parse_float for a value kept as a 32-bit float: the float must hold it
 * (no overflow to infinity, no nonzero value that becomes 0 or a
 * subnormal). Rounding is monotonic, so a value in [lo, hi] stays in
 * [(float)lo, (float)hi]: a bound the float cannot tell from a forbidden
 * value (0.999999999 is 1.0f) must not be used as a bound. */
static gg_status parse_f32(gg_cfg_node *n, double lo, double hi, float *out)
{
    double v;
    gg_status st = parse_float(n, lo, hi, &v);
    if (st) return st;
    float f = (float)v;
    char w[512], why[160] = "";
    if (isfinite(v) && !isfinite(f))
        snprintf(why, sizeof why, "is larger than a 32-bit float can hold (%g)", (double)FLT_MAX);
    else if (v != 0 && fabs(v) < FLT_MIN)
        snprintf(why, sizeof why, "is closer to 0 than a 32-bit float holds in full precision (%g); write 0 for zero",
                 (double)FLT_MIN);
    if (*why)
        return gg_fail(GG_E_CONFIG, "%s: %s '%s': '%.120s' %s", where(n, w, sizeof w), n->key ? "key" : "item",
                       gg_cfg_path(n), n->text, why);
    *out = f;
    return GG_OK;
}

gg_status gg_cfg_int(gg_cfg_node *map, const char *key, long lo, long hi, long *out)
{
    gg_cfg_node *v;
    gg_status st = lookup(map, key, &v);
    if (st || !v) return st;
    return parse_int(v, lo, hi, out);
}

gg_status gg_cfg_float(gg_cfg_node *map, const char *key, double lo, double hi, double *out)
{
    gg_cfg_node *v;
    gg_status st = lookup(map, key, &v);
    if (st || !v) return st;
    return parse_float(v, lo, hi, out);
}

gg_status gg_cfg_f32(gg_cfg_node *map, const char *key, double lo, double hi, float *out)
{
    gg_cfg_node *v;
    gg_status st = lookup(map, key, &v);
    if (st || !v) return st;
    return parse_f32(v, lo, hi, out);
}

gg_status gg_cfg_as_int(gg_cfg_node *n, long lo, long hi, long *out)
{
    if (!n) return gg_fail(GG_E_CONFIG, "config: a missing value where an integer is expected");
    return parse_int(n, lo, hi, out);
}

gg_status gg_cfg_as_float(gg_cfg_node *n, double lo, double hi, double *out)
{
    if (!n) return gg_fail(GG_E_CONFIG, "config: a missing value where a number is expected");
    return parse_float(n, lo, hi, out);
}

static gg_status parse_bool(gg_cfg_node *v, int *out)
{
    int b;
    if (v->type == GG_CFG_SCALAR && !v->quoted && (!v->tag || v->tag == TAG_BOOL) && bool_word(v->text, &b)) {
        *out = b;
        return GG_OK;
    }
    return bad_value(v, "true or false (yes/no, on/off)");
}

gg_status gg_cfg_bool(gg_cfg_node *map, const char *key, int *out)
{
    gg_cfg_node *v;
    gg_status st = lookup(map, key, &v);
    if (st || !v) return st;
    return parse_bool(v, out);
}

gg_status gg_cfg_as_bool(gg_cfg_node *n, int *out)
{
    if (!n) return gg_fail(GG_E_CONFIG, "config: a missing value where true or false is expected");
    return parse_bool(n, out);
}

gg_status gg_cfg_str(gg_cfg_node *map, const char *key, const char **out)
{
    gg_cfg_node *v;
    gg_status st = lookup(map, key, &v);
    if (st || !v) return st;
    if (v->type != GG_CFG_SCALAR || (v->tag && v->tag != TAG_STR)) return bad_value(v, "a string");
    *out = v->text;
    return GG_OK;
}

gg_status gg_cfg_enum(gg_cfg_node *map, const char *key, const char *const *choices, int n, int *out)
{
    if (n < 0 || (n && !choices)) return gg_fail(GG_E_ARG, "gg_cfg_enum: bad choices for key '%s'", key ? key : "");
    gg_cfg_node *v;
    gg_status st = lookup(map, key, &v);
    if (st || !v) return st;
    if (v->type == GG_CFG_SCALAR)
        for (int i = 0; i < n; i++)
            if (choices[i] && !strcmp(v->text, choices[i])) {
                *out = i;
                return GG_OK;
            }
    char exp[512];
    size_t k = (size_t)snprintf(exp, sizeof exp, "one of");
    for (int i = 0; i < n && k < sizeof exp; i++)
        k += (size_t)snprintf(exp + k, sizeof exp - k, "%s '%s'", i ? "," : "", choices[i] ? choices[i] : "");
    return bad_value(v, exp);
}

/* Depth first in document order: the first key nobody read. */
static const gg_cfg_node *first_unused(const gg_cfg_node *n)
{
    for (int i = 0; i < n->n; i++) {
        const gg_cfg_node *k = n->kids[i];
        if (n->type == GG_CFG_MAP && !k->used) return k;
        const gg_cfg_node *u = first_unused(k);
        if (u) return u;
    }
    return NULL;
}

gg_status gg_cfg_unused(gg_cfg *c)
{
    if (!c || !c->root) return GG_OK;
    const gg_cfg_node *u = first_unused(c->root);
    if (!u) return GG_OK;
    char w[512];
    return gg_fail(GG_E_CONFIG, "%s: unknown key '%s'", where(u, w, sizeof w), gg_cfg_path(u));
}

/* ---- --set overrides -------------------------------------------------------- */

/* An index into a list: digits only, in range. */
static int parse_index(const char *s, int *out)
{
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9) return 0;
    *out = atoi(s);
    return 1;
}

/* Replaces slot *slot (an element or map value of parent) by v, keeping the
 * key and its used mark. */
static gg_status replace(gg_cfg_node **slot, gg_cfg_node *v, const char *parent_path, const char *comp)
{
    gg_cfg_node *old = *slot;
    if (old->key) {
        v->key = old->key;
        old->key = NULL;
        v->used = old->used;
    }
    *slot = v;
    node_free(old);
    if (!set_paths(v, parent_path, comp)) return gg_fail(GG_E_NOMEM, "--set: out of memory");
    return GG_OK;
}

/* The offset of the first byte that is not well-formed UTF-8 (overlong
 * forms, surrogates and code points past U+10FFFF included), or -1. */
static long utf8_bad_at(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (const unsigned char *q = p; *q;) {
        unsigned c = *q, len, cp, min;
        if (c < 0x80) {
            q++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
        else return (long)(q - p);
        for (unsigned i = 1; i < len; i++) {
            if ((q[i] & 0xC0) != 0x80) return (long)(q - p); /* also stops at the NUL */
            cp = cp << 6 | (q[i] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return (long)(q - p);
        q += len;
    }
    return -1;
}

/* Levels below n (0 for a scalar or an empty collection). */
static int node_height(const gg_cfg_node *n)
{
    int h = 0;
    for (int i = 0; i < n->n; i++) {
        int k = 1 + node_height(n->kids[i]);
        if (k > h) h = k;
    }
    return h;
}

/* The value of `--set keypath=vt` as a tree of its own (*out; a null node
 * for an empty value), checked as the config's values are: the value is
 * YAML too (64, 1e-3, true, "text", [32, 64]). */
static gg_status set_value(gg_cfg *c, const char *assignment, const char *keypath, const char *vt, gg_cfg_node **out)
{
    gg_cfg_node *val = NULL;
    gg_status st = parse_tree(c, vt, strlen(vt), "--set", 0, &val);
    if (st) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", gg_errmsg());
        st = gg_fail(GG_E_CONFIG, "--set '%s': the value is not valid YAML (%s)", assignment, msg);
        goto fail;
    }
    /* path and key first, so a bad tag or a duplicate key in the value is
     * named; the key goes again before the value is placed */
    if (val) {
        const char *lastc = strrchr(keypath, '.');
        lastc = lastc ? lastc + 1 : keypath;
        int idx;
        if (!set_paths(val, "", keypath) || (!parse_index(lastc, &idx) && !(val->key = dup_str(lastc)))) {
            st = gg_fail(GG_E_NOMEM, "--set: out of memory");
            goto fail;
        }
        st = check_tree(val);
        free(val->key);
        val->key = NULL;
        if (st) goto fail;
    }
    if (!val) {
        val = node_new(c, GG_CFG_NULL, 0);
        if (!val || !(val->text = dup_str(""))) {
            st = gg_fail(GG_E_NOMEM, "--set: out of memory");
            goto fail;
        }
    }
    *out = val;
    return GG_OK;
fail:
    node_free(val);
    return st;
}

gg_status gg_cfg_set(gg_cfg *c, const char *assignment)
{
    if (!c || !assignment) return gg_fail(GG_E_ARG, "gg_cfg_set: NULL argument");
    /* libyaml checks the value, but the key path is ours: a key that is not
     * UTF-8 would be written to config.yaml as an escape no YAML reader
     * takes back, and the run could not be resumed */
    long bad = utf8_bad_at(assignment);
    if (bad >= 0)
        return gg_fail(GG_E_CONFIG, "--set: the assignment is not UTF-8 text (byte %ld is 0x%02x)", bad + 1,
                       (unsigned)(unsigned char)assignment[bad]);
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return gg_fail(GG_E_CONFIG, "--set '%s': expected key.path=value", assignment);
    char *keypath = strndup(assignment, (size_t)(eq - assignment));
    if (!keypath) return gg_fail(GG_E_NOMEM, "--set: out of memory");
    gg_cfg_node *val = NULL;
    gg_status st = set_value(c, assignment, keypath, eq + 1, &val);
    if (st) goto done;

    /* the value lands one level below the root per key component: a long
     * path would nest deeper than a config may, and config.yaml, written
     * from the tree, would not parse again (found by fuzzing) */
    int levels = 1;
    for (const char *q = keypath; *q; q++) levels += *q == '.';
    if (levels + node_height(val) > CFG_DEPTH_MAX) {
        st = gg_fail(GG_E_CONFIG, "--set '%s': the key path (%d levels) and its value nest %d levels deep, more than "
                     "the %d a config may", assignment, levels, levels + node_height(val), CFG_DEPTH_MAX);
        goto done;
    }
    gg_cfg_node *cur = c->root;
    char *comp = keypath;
    for (;;) {
        char *dot = strchr(comp, '.');
        if (dot) *dot = 0;
        if (!*comp) {
            st = gg_fail(GG_E_CONFIG, "--set '%s': an empty component in the key path", assignment);
            goto done;
        }
        int last = dot == NULL;
        char w[512];
        if (cur->type == GG_CFG_SEQ) {
            int idx;
            if (!parse_index(comp, &idx)) {
                st = gg_fail(GG_E_CONFIG, "--set '%s': '%s' (%s) is a list; '%s' is not an index", assignment,
                             gg_cfg_path(cur), where(cur, w, sizeof w), comp);
                goto done;
            }
            if (idx >= cur->n) {
                st = gg_fail(GG_E_CONFIG, "--set '%s': index %d is out of range: '%s' (%s) has %d items", assignment,
                             idx, gg_cfg_path(cur), where(cur, w, sizeof w), cur->n);
                goto done;
            }
            if (last) {
                st = replace(&cur->kids[idx], val, cur->path, comp);
                val = NULL;
                goto done;
            }
            cur = cur->kids[idx];
        } else if (cur->type == GG_CFG_MAP) {
            int i = 0;
            while (i < cur->n && strcmp(cur->kids[i]->key, comp)) i++;
            if (last) {
                if (i < cur->n) {
                    st = replace(&cur->kids[i], val, cur->path, comp);
                } else if (!(val->key = dup_str(comp)) || !add_kid(cur, val) || !set_paths(val, cur->path, comp)) {
                    if (cur->n && cur->kids[cur->n - 1] == val) cur->n--;
                    st = gg_fail(GG_E_NOMEM, "--set: out of memory");
                    goto done;
                }
                val = NULL;
                goto done;
            }
            if (i == cur->n || cur->kids[i]->type == GG_CFG_NULL) {
                /* a missing (or null) intermediate key becomes a map */
                gg_cfg_node *m = node_new(c, GG_CFG_MAP, 0);
                if (!m) {
                    st = gg_fail(GG_E_NOMEM, "--set: out of memory");
                    goto done;
                }
                if (i == cur->n) {
                    if (!(m->key = dup_str(comp)) || !add_kid(cur, m) || !set_paths(m, cur->path, comp)) {
                        if (cur->n && cur->kids[cur->n - 1] == m) cur->n--;
                        node_free(m);
                        st = gg_fail(GG_E_NOMEM, "--set: out of memory");
                        goto done;
                    }
                } else if ((st = replace(&cur->kids[i], m, cur->path, comp))) {
                    goto done;
                }
            }
            cur = cur->kids[i];
        } else {
            st = gg_fail(GG_E_CONFIG, "--set '%s': '%s' (%s) is %s, not a map or a list", assignment, gg_cfg_path(cur),
                         where(cur, w, sizeof w), type_word(cur));
            goto done;
        }
        comp = dot + 1;
    }
done:
    node_free(val);
    free(keypath);
    return st;
}

/* ---- writing back ----------------------------------------------------------- */

typedef struct outbuf {
    char *p;
    size_t n, cap;
} outbuf;

static int out_write(void *ctx, unsigned char *buf, size_t size)
{
    outbuf *o = ctx;
    if (o->n + size > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->n + size) cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) return 0;
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, buf, size);
    o->n += size;
    return 1;
}

static int emit_scalar(yaml_emitter_t *e, const char *text, int quoted, int tag)
{
    yaml_event_t ev;
    /* plain text stays plain (libyaml quotes it if plain would change its
     * meaning); quoted text stays a string; !!int, !!float and !!bool stay
     * tagged (a !!str value is quoted) */
    static const char *const tags[] = {NULL, NULL, YTAG "int", YTAG "float", YTAG "bool"};
    const char *t = tag >= 0 && tag <= TAG_BOOL ? tags[tag] : NULL;
    if (!yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)t, (yaml_char_t *)text, (int)strlen(text),
                                      !quoted && !t, !t, quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE))
        return 0;
    return yaml_emitter_emit(e, &ev);
}

static int emit_node(yaml_emitter_t *e, const gg_cfg_node *n)
{
    yaml_event_t ev;
    switch (n->type) {
    case GG_CFG_NULL: return emit_scalar(e, "null", 0, TAG_NONE);
    case GG_CFG_SCALAR: return emit_scalar(e, n->text, n->quoted, n->tag);
    case GG_CFG_SEQ:
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                  n->flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(e, &ev))
            return 0;
        for (int i = 0; i < n->n; i++)
            if (!emit_node(e, n->kids[i])) return 0;
        return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
    case GG_CFG_MAP:
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                 n->flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(e, &ev))
            return 0;
        for (int i = 0; i < n->n; i++)
            /* a key written "<<" must not come back as a merge key */
            if (!emit_scalar(e, n->kids[i]->key, !strcmp(n->kids[i]->key, "<<"), TAG_NONE) || !emit_node(e, n->kids[i]))
                return 0;
        return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
    }
    return 0;
}

gg_status gg_cfg_write(gg_cfg *c, const char *path)
{
    if (!c || !path) return gg_fail(GG_E_ARG, "gg_cfg_write: NULL argument");
    yaml_emitter_t e;
    yaml_event_t ev;
    outbuf o = {0};
    if (!yaml_emitter_initialize(&e)) return gg_fail(GG_E_NOMEM, "writing '%s': out of memory", path);
    yaml_emitter_set_output(&e, out_write, &o);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1); /* never fold long values */
    yaml_emitter_set_indent(&e, 2);
    int ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&e, &ev) &&
             yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) && yaml_emitter_emit(&e, &ev) &&
             emit_node(&e, c->root) && yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&e, &ev) &&
             yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&e, &ev) && yaml_emitter_flush(&e);
    gg_status st = GG_OK;
    if (!ok)
        st = gg_fail(e.error == YAML_MEMORY_ERROR || e.error == YAML_WRITER_ERROR ? GG_E_NOMEM : GG_E_INTERNAL,
                     "writing '%s': YAML emitter: %s", path, e.problem ? e.problem : "failed");
    yaml_emitter_delete(&e);
    if (!st) st = gg_write_atomic(path, o.p ? o.p : "", o.n);
    free(o.p);
    return st;
}

/*
 * config_docs - the key tables of docs/config.md, generated from the
 * config's key tables (src/train/schema.c, src/optim/keys.c,
 * src/guard/keys.c).
 *
 *   config_docs docs/config.md           exit 1 (naming the tables) if the
 *                                        file's tables differ from the code's
 *   config_docs --write docs/config.md   rewrites them
 *
 * A table sits between "<!-- keys: NAME -->" and "<!-- end keys -->"; every
 * section and list the code has must have one, exactly once.
 */
#include "io/schema.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BEGIN "<!-- keys: "
#define END "<!-- end keys -->"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

int main(int argc, char **argv)
{
    int write = argc == 3 && strcmp(argv[1], "--write") == 0;
    if (argc != 2 + write) {
        fprintf(stderr, "usage: config_docs [--write] docs/config.md\n");
        return 2;
    }
    const char *path = argv[1 + write];
    char *doc = slurp(path);
    if (!doc) {
        fprintf(stderr, "config_docs: cannot read %s\n", path);
        return 2;
    }
    size_t cap = strlen(doc) * 2 + (1u << 20), o = 0;
    char *out = malloc(cap);
    int seen[64] = {0}, stale = 0, bad = 0;
    const char *p = doc;
    for (;;) {
        const char *b = strstr(p, BEGIN);
        if (!b) break;
        const char *nl = strchr(b, '\n'), *e = strstr(b, END);
        char name[64];
        if (!nl || !e || e < nl || sscanf(b + strlen(BEGIN), "%63[^ -]", name) != 1) {
            fprintf(stderr, "%s: a '%s' line without its name or its '%s'\n", path, BEGIN, END);
            return 2;
        }
        const gg_key *keys = gg_config_keys(name);
        char *table = keys ? gg_schema_markdown(keys) : NULL;
        if (!table) {
            fprintf(stderr, "%s: '%s': no section or list of that name in the key tables\n", path, name);
            bad = 1;
            p = e;
            continue;
        }
        for (int i = 0; gg_config_doc_name(i); i++)
            if (strcmp(gg_config_doc_name(i), name) == 0 && seen[i]++) {
                fprintf(stderr, "%s: the table '%s' is there twice\n", path, name);
                bad = 1;
            }
        /* copy up to and including the BEGIN line, then the table */
        size_t keep = (size_t)(nl + 1 - p), old = (size_t)(e - (nl + 1));
        if (old != strlen(table) || memcmp(nl + 1, table, old) != 0) {
            fprintf(stderr, "%s: the table '%s' differs from the key tables%s\n", path, name,
                    write ? " (rewritten)" : "");
            stale = 1;
        }
        o += (size_t)snprintf(out + o, cap - o, "%.*s%s", (int)keep, p, table);
        free(table);
        p = e;
    }
    o += (size_t)snprintf(out + o, cap - o, "%s", p);
    for (int i = 0; gg_config_doc_name(i); i++)
        if (!seen[i]) {
            fprintf(stderr, "%s: no table for '%s' (add \"%s%s -->\" and \"%s\" where it belongs)\n", path,
                    gg_config_doc_name(i), BEGIN, gg_config_doc_name(i), END);
            bad = 1;
        }
    if (write && stale) {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(out, 1, o, f) != o || fclose(f)) {
            fprintf(stderr, "config_docs: cannot write %s\n", path);
            return 2;
        }
    }
    free(out);
    free(doc);
    if (bad) return 1;
    if (stale && !write) {
        fprintf(stderr, "regenerate them: config_docs --write %s\n", path);
        return 1;
    }
    printf(stale ? "%s: the key tables rewritten\n" : "%s: the key tables are up to date\n", path);
    return 0;
}

/* test_fuzz_regress.c - replays every fuzz input kept in the tree through
 * the same targets the libFuzzer harnesses call (tests/fuzz/targets.h):
 * the seed corpus tests/fuzz/corpus/<target>/ and the inputs that once
 * crashed or broke a check, tests/fuzz/regress/<target>/. Each must run
 * without a crash (the sanitizer build catches memory errors) and without
 * a violated check: every failure carries a message, a failed load leaves
 * nothing behind, what loads is consistent and round-trips. */
#include "gt.h"
#include "fuzz/targets.h"

#include <dirent.h>
#include <sys/stat.h>

static int load_file(const char *path, uint8_t **out, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t cap = 4096, len = 0;
    uint8_t *b = malloc(cap);
    size_t k;
    while (b && (k = fread(b + len, 1, cap - len, f)) > 0) {
        len += k;
        if (len == cap) {
            uint8_t *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    *out = b;
    *n = len;
    return b != NULL;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs the target on every file of dir (in name order); returns the count. */
static int replay_dir(const char *dir, const char *target, fz_target_fn fn, int seeds)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    int count = 0;
    for (int i = 0; i < n; i++) {
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        struct stat sb;
        uint8_t *buf = NULL;
        size_t len = 0;
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            GT_CHECK(load_file(p, &buf, &len), "cannot read %s", p);
            if (buf) {
                fz_last = GG_E_INTERNAL;
                int bad = fn(buf, len);
                GT_CHECK(bad == 0, "%s: target %s: %d violated check(s)", p, target, bad);
                /* seeds are valid files unless named bad-*: they must load */
                if (seeds && strncmp(names[i], "bad-", 4) != 0)
                    GT_CHECK(fz_last == GG_OK, "seed %s does not load: %s", p, gg_errmsg());
                count++;
            }
            free(buf);
        }
        free(names[i]);
    }
    return count;
}

int main(void)
{
    const char *src = getenv("GG_SRC");
    if (!src) src = ".";
    for (size_t i = 0; i < sizeof fz_targets / sizeof fz_targets[0]; i++) {
        const char *t = fz_targets[i].name;
        GT_CHECK(fz_find(t) == fz_targets[i].fn, "fz_find(%s)", t);
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src, t);
        int seeds = replay_dir(dir, t, fz_targets[i].fn, 1);
        /* every target has seeds: an empty corpus would test nothing */
        GT_CHECK(seeds >= 3, "%s: %d seed files (GG_SRC=%s)", dir, seeds, src);
        snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/%s", src, t);
        int regs = replay_dir(dir, t, fz_targets[i].fn, 0);
        printf("fuzz target %-12s %3d seeds, %3d regression inputs replayed\n", t, seeds, regs);
    }
    return gt_done("test_fuzz_regress");
}

/* fixture.h - fixture files in a temporary directory for the tests that
 * read files: fixture_begin makes the directory (/tmp/<prefix>_XXXXXX),
 * path_of names a file in it, write_file, write_gz and write_text write one
 * (a test that cannot write its fixture exits with status 2), read_file
 * reads one back, fixture_end removes the files and the directory. */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];

/* dir/name; eight calls may be in use at once (one expression's paths) */
static inline const char *path_of(const char *name)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static inline void write_file(const char *name, const void *data, size_t n)
{
    FILE *f = fopen(path_of(name), "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        fprintf(stderr, "cannot write fixture %s\n", name);
        exit(2);
    }
    fclose(f);
}

static inline void write_gz(const char *name, const void *data, size_t n)
{
    gzFile g = gzopen(path_of(name), "wb");
    if (!g || gzwrite(g, data, (unsigned)n) != (int)n) {
        fprintf(stderr, "cannot write fixture %s\n", name);
        exit(2);
    }
    gzclose(g);
}

static inline void write_text(const char *name, const char *text) { write_file(name, text, strlen(text)); }

/* Reads up to cap bytes of the fixture name; 0 if it cannot be opened. */
static inline size_t read_file(const char *name, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path_of(name), "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* 0, or -1 (after perror) when the directory cannot be made. */
static inline int fixture_begin(const char *prefix)
{
    snprintf(dir, sizeof dir, "/tmp/%s_XXXXXX", prefix);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

/* Removes the directory's files (not its subdirectories: a test that makes
 * one removes it) and the directory. */
static inline void fixture_end(void)
{
    DIR *dp = opendir(dir);
    if (!dp) return;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (e->d_name[0] != '.') unlink(path_of(e->d_name));
    closedir(dp);
    rmdir(dir);
}

#endif

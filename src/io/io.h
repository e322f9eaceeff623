/*
 * io.h - internals of src/io shared by its files: a file written by
 * streaming into a temporary that becomes `path` only when complete.
 * Not installed.
 */
#ifndef GG_IO_H
#define GG_IO_H

#include "gradguard.h"

/* An atomic file being written: .NAME.tmp.PID.N in the directory of path. */
typedef struct gg_atomic {
    char *path;   /* the final name */
    char *tmp;    /* the temporary being written */
    int fd;       /* -1 once closed */
} gg_atomic;

/* Creates the temporary for path. On failure nothing is left behind. */
gg_status gg_atomic_begin(gg_atomic *a, const char *path);
/* Appends n bytes (retries short writes and EINTR). On failure the
 * temporary is removed and a is reset, so the caller only returns. */
gg_status gg_atomic_write(gg_atomic *a, const void *data, size_t n);
/* fsync, close, rename over path, fsync the directory. a is reset either
 * way; on failure the temporary is removed and path is untouched. */
gg_status gg_atomic_commit(gg_atomic *a);
/* Removes the temporary and resets a (safe on a reset or failed a). */
void gg_atomic_abort(gg_atomic *a);

#endif

/* atomic.c - files that appear complete or not at all: written to a
 * temporary in the same directory, fsynced, renamed over the target, and the
 * directory fsynced so the rename itself survives a crash. */
#define _POSIX_C_SOURCE 200809L
#include "io.h"
#include "../core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Distinguishes temporaries of one process (threads writing the same path). */
static atomic_ulong tmp_counter;

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void reset(gg_atomic *a)
{
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
    a->fd = -1;
}

gg_status gg_atomic_begin(gg_atomic *a, const char *path)
{
    a->path = a->tmp = NULL;
    a->fd = -1;
    if (!path || !*path) return gg_fail(GG_E_ARG, "atomic write: empty path");
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return gg_fail(GG_E_ARG, "cannot write '%s': it names a directory, not a file", path);
    size_t dirlen = slash ? (size_t)(slash - path) : 0;
    size_t cap = strlen(path) + 64;
    a->tmp = malloc(cap);
    a->path = dup_str(path);
    if (!a->tmp || !a->path) {
        reset(a);
        return gg_fail(GG_E_NOMEM, "cannot write '%s': out of memory", path);
    }
    unsigned long k = atomic_fetch_add(&tmp_counter, 1);
    if (slash)
        snprintf(a->tmp, cap, "%.*s/.%s.tmp.%ld.%lu", (int)dirlen, path, base, (long)getpid(), k);
    else
        snprintf(a->tmp, cap, ".%s.tmp.%ld.%lu", base, (long)getpid(), k);
    do {
        a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    } while (a->fd < 0 && errno == EINTR);
    if (a->fd < 0) {
        int e = errno;
        gg_status st = gg_fail(GG_E_IO, "cannot write '%s': cannot create the temporary file '%s': %s", path, a->tmp,
                               strerror(e));
        reset(a);
        return st;
    }
    return GG_OK;
}

void gg_atomic_abort(gg_atomic *a)
{
    if (!a) return;
    if (a->fd >= 0) close(a->fd);
    if (a->tmp) unlink(a->tmp);
    reset(a);
}

gg_status gg_atomic_write(gg_atomic *a, const void *data, size_t n)
{
    if (a->fd < 0) return gg_fail(GG_E_STATE, "atomic write: the file is not open");
    const char *p = data;
    while (n > 0) {
        /* keep each call under SSIZE_MAX and the Linux 2 GiB per-call limit */
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t w = write(a->fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            gg_status st = gg_fail(GG_E_IO, "cannot write '%s': %s", a->path, strerror(e));
            gg_atomic_abort(a);
            return st;
        }
        p += w;
        n -= (size_t)w;
    }
    return GG_OK;
}

/* fsync of the directory makes the rename durable; file systems that cannot
 * sync a directory say EINVAL (or ENOTSUP), which is not a failure. */
static gg_status sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = dup_str(".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = 0;
        }
    }
    if (!dir) return gg_fail(GG_E_NOMEM, "cannot write '%s': out of memory", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    gg_status st = GG_OK;
    if (fd < 0) {
        st = gg_fail(GG_E_IO, "wrote '%s' but cannot open its directory '%s' to sync it: %s", path, dir,
                     strerror(errno));
    } else {
        if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP && errno != EROFS)
            st = gg_fail(GG_E_IO, "wrote '%s' but cannot sync its directory '%s': %s", path, dir, strerror(errno));
        close(fd);
    }
    free(dir);
    return st;
}

gg_status gg_atomic_commit(gg_atomic *a)
{
    if (a->fd < 0) return gg_fail(GG_E_STATE, "atomic write: the file is not open");
    if (fsync(a->fd) != 0) {
        gg_status st = gg_fail(GG_E_IO, "cannot write '%s': fsync: %s", a->path, strerror(errno));
        gg_atomic_abort(a);
        return st;
    }
    int fd = a->fd;
    a->fd = -1;
    if (close(fd) != 0) {
        gg_status st = gg_fail(GG_E_IO, "cannot write '%s': close: %s", a->path, strerror(errno));
        gg_atomic_abort(a);
        return st;
    }
    if (rename(a->tmp, a->path) != 0) {
        gg_status st = gg_fail(GG_E_IO, "cannot write '%s': cannot rename '%s' over it: %s", a->path, a->tmp,
                               strerror(errno));
        gg_atomic_abort(a);
        return st;
    }
    gg_status st = sync_dir(a->path);
    reset(a);
    return st;
}

gg_status gg_write_atomic(const char *path, const void *data, size_t n)
{
    if (!data && n) return gg_fail(GG_E_ARG, "cannot write '%s': no data", path ? path : "(null)");
    gg_atomic a;
    gg_status st = gg_atomic_begin(&a, path);
    if (st) return st;
    if ((st = gg_atomic_write(&a, data, n))) return st;
    return gg_atomic_commit(&a);
}

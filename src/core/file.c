/* file.c - opening an input file without hanging on what is not a file.
 *
 * fopen() of a FIFO blocks until a writer comes, and a device can block
 * too: a config, data or checkpoint path that names one would hang the
 * command instead of failing. The file is opened non-blocking, checked to
 * be a regular file, and only then read normally. */
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *gg_fopen_regular(const char *path, int *not_regular)
{
    *not_regular = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        *not_regular = 1;
        errno = e;
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    FILE *f = fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ? NULL : fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

int gg_path_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

int gg_path_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

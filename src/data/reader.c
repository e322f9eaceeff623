/* reader.c - reading data files, plain or gzip, without trusting their
 * headers: every claimed size is checked against what the file can hold
 * before anything is allocated. */
#include "data.h"
#include "../core/error.h"
#include "../core/file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Deflate cannot do better than about 1032:1 (a 258-byte match in 2 bits);
 * the slack covers tiny files and gzip's own framing. */
#define GZ_MAX_RATIO 1032u
#define GZ_SLACK 4096u
/* gzread takes an unsigned length; a gzip buffer starts at this and grows
 * only as real data arrives. */
#define GZ_CHUNK ((size_t)1 << 30)
#define GZ_FIRST ((uint64_t)64 << 20)

int gg_mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

gg_status gg_reader_open(gg_reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    if (!path || !*path) return gg_fail(GG_E_ARG, "no data file name given");
    int odd;
    FILE *f = gg_fopen_regular(path, &odd);
    if (!f && odd) return gg_fail(GG_E_IO, "%s is not a regular file", path);
    if (!f) return gg_fail(GG_E_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return gg_fail(GG_E_IO, "%s is not a regular file", path);
    }
    r->disk_size = (uint64_t)st.st_size;
    unsigned char m[2] = {0, 0};
    size_t k = fread(m, 1, 2, f);
    if (k == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        fclose(f);
        r->gz = gzopen(path, "rb");
        if (!r->gz) return gg_fail(GG_E_IO, "cannot open %s with zlib: %s", path, strerror(errno));
        gzbuffer(r->gz, 1u << 17); /* fewer, larger reads of the compressed file */
        return GG_OK;
    }
    if (fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return gg_fail(GG_E_IO, "cannot read %s: %s", path, strerror(errno));
    }
    r->f = f;
    return GG_OK;
}

void gg_reader_close(gg_reader *r)
{
    if (r->f) fclose(r->f);
    if (r->gz) gzclose(r->gz);
    r->f = NULL;
    r->gz = NULL;
}

gg_status gg_reader_read(gg_reader *r, void *buf, size_t n, size_t *got)
{
    char *p = buf;
    size_t done = 0;
    *got = 0;
    if (r->f) {
        done = fread(p, 1, n, r->f);
        if (done < n && ferror(r->f))
            return gg_fail(GG_E_IO, "%s: read error at byte offset %llu: %s", r->path,
                           (unsigned long long)(r->pos + done), strerror(errno));
    } else {
        while (done < n) {
            size_t want = n - done < GZ_CHUNK ? n - done : GZ_CHUNK;
            int k = gzread(r->gz, p + done, (unsigned)want);
            if (k > 0) done += (size_t)k;
            if ((size_t)(k > 0 ? k : 0) < want) {
                int err = Z_OK;
                const char *msg = gzerror(r->gz, &err);
                size_t pl = strlen(r->path); /* zlib puts the path in front */
                if (strncmp(msg, r->path, pl) == 0 && msg[pl] == ':') msg += pl + (msg[pl + 1] == ' ' ? 2 : 1);
                if (err == Z_BUF_ERROR)
                    return gg_fail(GG_E_FORMAT, "%s: truncated gzip data: it ends after %llu decompressed bytes", r->path,
                                   (unsigned long long)(r->pos + done));
                /* the trailer's CRC-32 and length are checked after the
                 * whole stream has inflated: a damaged byte anywhere ends
                 * there, and no offset would point at it */
                if (err == Z_DATA_ERROR && (strstr(msg, "data check") || strstr(msg, "length check")))
                    return gg_fail(GG_E_FORMAT,
                                   "%s: corrupt gzip data: the decompressed data does not match the gzip trailer's %s "
                                   "(zlib: %s)",
                                   r->path, strstr(msg, "data check") ? "CRC-32" : "length", msg);
                if (err != Z_OK && err != Z_STREAM_END) {
                    /* gzread drops the bytes of a failed call; gztell counts those it had produced */
                    long long at = (long long)gztell(r->gz);
                    unsigned long long off = at > (long long)(r->pos + done) ? (unsigned long long)at : r->pos + done;
                    return gg_fail(err == Z_ERRNO ? GG_E_IO : GG_E_FORMAT,
                                   "%s: corrupt gzip data at or after decompressed byte offset %llu: %s", r->path, off,
                                   err == Z_ERRNO ? strerror(errno) : msg);
                }
                break; /* a clean end of the stream */
            }
        }
    }
    r->pos += done;
    *got = done;
    return GG_OK;
}

static const char *where(const gg_reader *r) { return r->gz ? " of the decompressed data" : ""; }

gg_status gg_reader_check_claim(gg_reader *r, uint64_t bytes, const char *what, uint64_t at, int exact)
{
    unsigned long long b = bytes;
    if (r->f) {
        uint64_t left = r->disk_size > r->pos ? r->disk_size - r->pos : 0;
        if (bytes > left)
            return gg_fail(GG_E_FORMAT,
                           "%s: truncated: %s (claimed at byte offset %llu) need %llu bytes after byte offset %llu, "
                           "but the file has only %llu bytes left (its size is %llu)",
                           r->path, what, (unsigned long long)at, b, (unsigned long long)r->pos,
                           (unsigned long long)left, (unsigned long long)r->disk_size);
        if (exact && bytes < left)
            return gg_fail(GG_E_FORMAT, "%s: %llu bytes of unexpected data after %s, from byte offset %llu", r->path,
                           (unsigned long long)(left - bytes), what, (unsigned long long)(r->pos + bytes));
    } else {
        uint64_t most;
        if (!gg_mul_ok(r->disk_size + GZ_SLACK, GZ_MAX_RATIO, &most)) most = UINT64_MAX;
        if (bytes > most)
            return gg_fail(GG_E_FORMAT,
                           "%s: %s (claimed at byte offset %llu%s) need %llu bytes, but a gzip file of %llu bytes "
                           "cannot hold more than %llu",
                           r->path, what, (unsigned long long)at, where(r), b, (unsigned long long)r->disk_size,
                           (unsigned long long)most);
    }
    if (bytes > GG_DATA_MAX_BYTES)
        return gg_fail(GG_E_NOMEM, "%s: %s (claimed at byte offset %llu%s) need %llu bytes, over the limit of %llu",
                       r->path, what, (unsigned long long)at, where(r), b, (unsigned long long)GG_DATA_MAX_BYTES);
    return GG_OK;
}

gg_status gg_reader_read_alloc(gg_reader *r, uint64_t bytes, const char *what, int exact, void **out)
{
    *out = NULL;
    uint64_t start = r->pos;
    /* plain files were checked against their size: allocate once; gzip
     * buffers double as data arrives, capped by the claim */
    uint64_t cap = r->f ? bytes : (bytes < GZ_FIRST ? bytes : GZ_FIRST);
    char *buf = malloc(cap ? (size_t)cap : 1);
    if (!buf) return gg_fail(GG_E_NOMEM, "%s: out of memory for %s (%llu bytes)", r->path, what,
                             (unsigned long long)cap);
    uint64_t have = 0;
    while (have < bytes) {
        if (have == cap) {
            cap = cap * 2 < bytes ? cap * 2 : bytes;
            char *nb = realloc(buf, (size_t)cap);
            if (!nb) {
                free(buf);
                return gg_fail(GG_E_NOMEM, "%s: out of memory for %s (%llu bytes)", r->path, what,
                               (unsigned long long)cap);
            }
            buf = nb;
        }
        size_t got = 0;
        gg_status st = gg_reader_read(r, buf + have, (size_t)(cap - have), &got);
        if (st) {
            free(buf);
            return st;
        }
        if (got == 0) {
            free(buf);
            return gg_fail(GG_E_FORMAT,
                           "%s: truncated: %s need %llu bytes from byte offset %llu%s, but the data ends at byte "
                           "offset %llu (%llu bytes short)",
                           r->path, what, (unsigned long long)bytes, (unsigned long long)start, where(r),
                           (unsigned long long)r->pos, (unsigned long long)(bytes - have));
        }
        have += got;
    }
    if (exact) {
        unsigned char extra;
        size_t got = 0;
        gg_status st = gg_reader_read(r, &extra, 1, &got);
        if (st || got) {
            free(buf);
            return st ? st
                      : gg_fail(GG_E_FORMAT, "%s: unexpected data after %s, at byte offset %llu%s", r->path, what,
                                (unsigned long long)(r->pos - 1), where(r));
        }
    }
    *out = buf;
    return GG_OK;
}

gg_status gg_reader_slurp(gg_reader *r, uint64_t limit, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    uint64_t cap = r->f ? (r->disk_size > r->pos ? r->disk_size - r->pos : 0) : ((uint64_t)1 << 20);
    if (r->f && cap > limit)
        return gg_fail(GG_E_NOMEM, "%s: %llu bytes, over the limit of %llu", r->path, (unsigned long long)cap,
                       (unsigned long long)limit);
    char *buf = malloc((size_t)cap + 1);
    if (!buf) return gg_fail(GG_E_NOMEM, "%s: out of memory (%llu bytes)", r->path, (unsigned long long)cap);
    uint64_t have = 0;
    for (;;) {
        if (have == cap) {
            if (r->f) break; /* the whole file is in */
            if (cap >= limit) {
                free(buf);
                return gg_fail(GG_E_NOMEM, "%s: more than %llu bytes of decompressed data, over the limit", r->path,
                               (unsigned long long)limit);
            }
            cap = cap * 2 < limit ? cap * 2 : limit;
            char *nb = realloc(buf, (size_t)cap + 1);
            if (!nb) {
                free(buf);
                return gg_fail(GG_E_NOMEM, "%s: out of memory (%llu bytes)", r->path, (unsigned long long)cap);
            }
            buf = nb;
        }
        size_t got = 0;
        gg_status st = gg_reader_read(r, buf + have, (size_t)(cap - have), &got);
        if (st) {
            free(buf);
            return st;
        }
        have += got;
        if (got == 0) break;
    }
    if (r->f && have != cap) {
        free(buf);
        return gg_fail(GG_E_IO, "%s: the file shrank while it was read (%llu of %llu bytes)", r->path,
                       (unsigned long long)have, (unsigned long long)cap);
    }
    buf[have] = '\0';
    *out = buf;
    *len = (size_t)have;
    return GG_OK;
}

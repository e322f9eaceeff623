/* rundir.c - one run per run directory.
 *
 * - The lock: RUN_DIR/run.lock holds the owner's pid, host, start time,
 *   command and run id, and an flock(2) on it for the owner's whole life.
 *   The kernel drops the flock when the owner dies however it dies (SIGKILL
 *   included), so a lock file whose flock is free is stale: the next run
 *   takes it over and says so. The owner removes the file when it ends.
 * - The run files: a directory that holds any of them holds a run; train
 *   refuses it unless told to overwrite, and then removes exactly these
 *   (and their unfinished temporaries), nothing else the user keeps there.
 * - The run id: made at train start (UTC time and random hex), kept in
 *   RUN_DIR/run_id and in every checkpoint's metadata, so resume and
 *   retention tell this run's checkpoints from anyone else's.
 */
#define _DEFAULT_SOURCE /* flock */
#include "train.h"

#include "core/error.h"
#include "core/file.h"
#include "run/run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_NAME "run.lock"

/* Files a run writes at the top of its directory (checkpoints/ apart): run/run.h */
#define run_files gg_run_files
#define NRUN_FILES gg_run_nfiles

gg_status gg_mkdir_p(const char *dir)
{
    char tmp[GG_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return gg_fail(GG_E_IO, "cannot create directory %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return gg_fail(GG_E_IO, "cannot create directory %s: %s", tmp, strerror(errno));
    if (!gg_path_is_dir(tmp)) return gg_fail(GG_E_IO, "run directory %s exists and is not a directory", tmp);
    return GG_OK;
}

/* ---- the lock ------------------------------------------------------------ */

static void utc_now(char *buf, size_t cap, const char *fmt)
{
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(buf, cap, fmt, &tm);
    else snprintf(buf, cap, "unknown");
}

typedef struct holder {
    long pid;
    char host[128], started[40], command[16];
} holder;

/* The owner a lock file names (fields left empty when absent). */
static void read_holder(int fd, holder *h)
{
    memset(h, 0, sizeof *h);
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *sp = strchr(line, ' ');
        if (sp) {
            *sp = 0;
            const char *v = sp + 1;
            if (!strcmp(line, "pid")) h->pid = strtol(v, NULL, 10);
            else if (!strcmp(line, "host")) snprintf(h->host, sizeof h->host, "%s", v);
            else if (!strcmp(line, "started")) snprintf(h->started, sizeof h->started, "%s", v);
            else if (!strcmp(line, "command")) snprintf(h->command, sizeof h->command, "%s", v);
        }
        line = nl ? nl + 1 : NULL;
    }
}

static void describe_holder(const holder *h, char *out, size_t cap)
{
    if (h->pid <= 0) {
        snprintf(out, cap, "a process that left no pid in the file");
        return;
    }
    snprintf(out, cap, "pid %ld on host %s (gradguard %s, started %s)", h->pid, h->host[0] ? h->host : "?",
             h->command[0] ? h->command : "?", h->started[0] ? h->started : "?");
}

static void my_host(char *buf, size_t cap)
{
    if (gethostname(buf, cap) != 0) snprintf(buf, cap, "unknown");
    buf[cap - 1] = 0;
}

/* Without working flock (some network file systems): a holder on this host
 * whose pid is alive (or one on another host, which cannot be checked)
 * keeps the directory; a dead one's lock is stale. */
static int holder_alive(const holder *h)
{
    char me[128];
    my_host(me, sizeof me);
    if (h->pid <= 0) return 0;
    if (strcmp(h->host, me) != 0) return 1;
    return kill((pid_t)h->pid, 0) == 0 || errno == EPERM;
}

gg_status gg_rundir_lock(gg_trainer *t, const char *command)
{
    char path[GG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/" LOCK_NAME, t->run_dir);
    holder old;
    memset(&old, 0, sizeof old);
    int fd = -1, stale = 0;
    /* The owner removes the file as it ends: an flock won on a file that
     * was removed (or replaced) meanwhile locks nothing; open it again. */
    for (int tries = 0; tries < 50; tries++) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return gg_fail(GG_E_IO, "cannot create the lock file %s: %s", path, strerror(errno));
        read_holder(fd, &old);
        int r;
        do r = flock(fd, LOCK_EX | LOCK_NB);
        while (r != 0 && errno == EINTR);
        if (r != 0) {
            int e = errno;
            /* a holder that has just started may not have written its name
             * yet: give it a moment, to name it */
            for (int k = 0; k < 10 && e == EWOULDBLOCK && old.pid <= 0; k++) {
                struct timespec ts = {0, 20000000};
                nanosleep(&ts, NULL);
                read_holder(fd, &old);
            }
            char who[300];
            describe_holder(&old, who, sizeof who);
            if (e == EWOULDBLOCK || holder_alive(&old)) {
                close(fd);
                return gg_fail(GG_E_STATE,
                               "run directory %s is in use by another run: %s holds its lock %s; wait for it to end "
                               "or choose another directory",
                               t->run_dir, who, path);
            }
            /* no flock here (e): the pid check above found the holder gone */
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            /* won: a file with an owner in it is a dead owner's lock */
            stale = old.pid > 0 || old.started[0];
            break;
        }
        close(fd);
        fd = -1;
    }
    if (fd < 0) return gg_fail(GG_E_IO, "cannot take the lock %s: it keeps being replaced", path);
    char host[128], started[40], buf[512];
    my_host(host, sizeof host);
    utc_now(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ");
    int n = snprintf(buf, sizeof buf, "pid %ld\nhost %s\nstarted %s\ncommand %s\n", (long)getpid(), host, started,
                     command);
    t->lock_fd = fd;
    /* The flock is the lock; the text only names the holder. On a full disk
     * it may not fit: the run goes on (and meets the full disk where it
     * writes, with the error of that file) under a lock that names no one. */
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        gg_rundir_note(t, "lock_unnamed", "could not write the owner into the lock file %s (%s): the lock holds, but "
                       "a second process cannot be told this pid", path, strerror(errno));
    if (stale) {
        char who[300];
        describe_holder(&old, who, sizeof who);
        gg_rundir_note(t, "lock_taken_over", "took over the stale lock %s of %s: that process ended without releasing it",
                       path, who);
    }
    return GG_OK;
}

void gg_rundir_unlock(gg_trainer *t)
{
    if (t->lock_fd < 0) return;
    char path[GG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/" LOCK_NAME, t->run_dir);
    /* removed while still held, so no one takes a lock on a file that is
     * about to disappear (see the inode check in gg_rundir_lock) */
    unlink(path);
    close(t->lock_fd);
    t->lock_fd = -1;
}

/* ---- notes ----------------------------------------------------------------- */

void gg_rundir_note(gg_trainer *t, const char *kind, const char *fmt, ...)
{
    if (t->nnotes >= GG_MAX_NOTES) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->notes[t->nnotes].text, sizeof t->notes[t->nnotes].text, fmt, ap);
    va_end(ap);
    snprintf(t->notes[t->nnotes].kind, sizeof t->notes[t->nnotes].kind, "%s", kind);
    t->nnotes++;
}

void gg_rundir_log_notes(gg_trainer *t)
{
    for (int i = 0; i < t->nnotes; i++) gg_runlog_info(t, t->notes[i].kind, t->notes[i].text);
}

/* ---- the run's files --------------------------------------------------------- */

static int is_ckpt_name(const char *s)
{
    size_t len = strlen(s);
    return strncmp(s, "ckpt-", 5) == 0 && len >= 17 && strcmp(s + len - 12, ".safetensors") == 0;
}

/* ".NAME.tmp.PID.N": an unfinished temporary of NAME (src/io/atomic.c). */
static int is_tmp_of(const char *s, const char *name)
{
    size_t n = strlen(name);
    return s[0] == '.' && strncmp(s + 1, name, n) == 0 && strncmp(s + 1 + n, ".tmp.", 5) == 0;
}

static int is_run_file(const char *s)
{
    for (int i = 0; i < NRUN_FILES; i++)
        if (!strcmp(s, run_files[i]) || is_tmp_of(s, run_files[i])) return 1;
    return 0;
}

/* Checkpoint files (finished or not) in dir; removes them if del. -1 with
 * the error set if one cannot be removed. */
static int ckpt_files(const char *dir, int del)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        int tmp = s[0] == '.' && strncmp(s + 1, "ckpt-", 5) == 0 && strstr(s, ".tmp.");
        if (!is_ckpt_name(s) && !tmp) continue;
        n++;
        if (del) {
            char p[GG_PATH_MAX + 320];
            snprintf(p, sizeof p, "%s/%s", dir, s);
            if (unlink(p) != 0 && errno != ENOENT) {
                gg_fail(GG_E_IO, "--overwrite: cannot remove %s: %s", p, strerror(errno));
                closedir(d);
                return -1;
            }
        }
    }
    closedir(d);
    return n;
}

/* The run files present in the run directory, as "config.yaml, ...,
 * checkpoints/ (2 checkpoint files)"; the count of them. */
static int find_run(const gg_trainer *t, char *list, size_t cap)
{
    list[0] = 0;
    int n = 0, ntmp = 0;
    size_t l;
    char p[GG_PATH_MAX + 320];
    for (int i = 0; i < NRUN_FILES; i++) {
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", t->run_dir, run_files[i]);
        if (lstat(p, &sb) != 0) continue;
        n++;
        l = strlen(list);
        snprintf(list + l, cap - l, "%s%s", l ? ", " : "", run_files[i]);
    }
    DIR *d = opendir(t->run_dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] == '.' && is_run_file(e->d_name)) ntmp++;
    if (d) closedir(d);
    if (ntmp) {
        n += ntmp;
        l = strlen(list);
        snprintf(list + l, cap - l, "%s%d unfinished temporar%s", l ? ", " : "", ntmp, ntmp == 1 ? "y" : "ies");
    }
    snprintf(p, sizeof p, "%s/checkpoints", t->run_dir);
    if (gg_path_is_dir(p)) {
        int k = ckpt_files(p, 0);
        n++;
        l = strlen(list);
        snprintf(list + l, cap - l, "%scheckpoints/ (%d checkpoint file%s)", l ? ", " : "", k, k == 1 ? "" : "s");
    }
    return n;
}

static void read_id_file(const char *dir, char *id, size_t cap)
{
    char p[GG_PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/run_id", dir);
    id[0] = 0;
    FILE *f = fopen(p, "r");
    if (!f) return;
    if (!fgets(id, (int)cap, f)) id[0] = 0;
    fclose(f);
    id[strcspn(id, "\r\n")] = 0;
}

gg_status gg_rundir_check_fresh(gg_trainer *t, int overwrite)
{
    char list[1024], id[GG_RUN_ID_MAX];
    if (find_run(t, list, sizeof list) == 0) return GG_OK;
    read_id_file(t->run_dir, id, sizeof id);
    if (!overwrite)
        return gg_fail(GG_E_STATE,
                       "run directory %s already holds a run%s%s%s: %s; pass --overwrite to replace it (those files "
                       "are removed), or choose another directory",
                       t->run_dir, id[0] ? " (run_id " : "", id, id[0] ? ")" : "", list);
    t->overwrite = 1;
    return GG_OK;
}

gg_status gg_rundir_clear(gg_trainer *t)
{
    if (!t->overwrite) return GG_OK;
    char list[1024], id[GG_RUN_ID_MAX];
    if (find_run(t, list, sizeof list) == 0) return GG_OK;
    read_id_file(t->run_dir, id, sizeof id);
    DIR *d = opendir(t->run_dir);
    if (!d) return gg_fail(GG_E_IO, "--overwrite: cannot read directory %s: %s", t->run_dir, strerror(errno));
    struct dirent *e;
    gg_status st = GG_OK;
    while (!st && (e = readdir(d))) {
        if (!is_run_file(e->d_name)) continue;
        char p[GG_PATH_MAX + 320];
        snprintf(p, sizeof p, "%s/%s", t->run_dir, e->d_name);
        if (unlink(p) != 0 && errno != ENOENT)
            st = gg_fail(GG_E_IO, "--overwrite: cannot remove %s: %s", p, strerror(errno));
    }
    closedir(d);
    if (st) return st;
    char cd[GG_PATH_MAX + 32];
    snprintf(cd, sizeof cd, "%s/checkpoints", t->run_dir);
    if (ckpt_files(cd, 1) < 0) return GG_E_IO;
    /* anything else in checkpoints/ is not the run's: the directory stays */
    if (rmdir(cd) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
        return gg_fail(GG_E_IO, "--overwrite: cannot remove %s: %s", cd, strerror(errno));
    gg_rundir_note(t, "overwrite", "--overwrite: removed the previous run%s%s%s from %s: %s", id[0] ? " (run_id " : "",
                   id, id[0] ? ")" : "", t->run_dir, list);
    return GG_OK;
}

/* ---- the run id ---------------------------------------------------------------- */

gg_status gg_rundir_new_id(gg_trainer *t)
{
    unsigned char r[4] = {0};
    int got = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        got = fread(r, 1, sizeof r, f) == sizeof r;
        fclose(f);
    }
    if (!got) {
        /* no /dev/urandom: the clock's nanoseconds and the pid */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint32_t x = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() * 2654435761u);
        for (int i = 0; i < 4; i++) r[i] = (unsigned char)(x >> (8 * i));
    }
    char when[32];
    utc_now(when, sizeof when, "%Y%m%dT%H%M%SZ");
    snprintf(t->run_id, sizeof t->run_id, "%s-%02x%02x%02x%02x", when, r[0], r[1], r[2], r[3]);
    /* the lock file names the run that holds it too */
    if (t->lock_fd >= 0) {
        char line[GG_RUN_ID_MAX + 16];
        int n = snprintf(line, sizeof line, "run_id %s\n", t->run_id);
        struct stat sb;
        /* best effort, as in gg_rundir_lock: the id in the lock only informs */
        if (fstat(t->lock_fd, &sb) == 0 && pwrite(t->lock_fd, line, (size_t)n, sb.st_size) != n) line[0] = 0;
    }
    char p[GG_PATH_MAX + 32], buf[GG_RUN_ID_MAX + 2];
    snprintf(p, sizeof p, "%s/run_id", t->run_dir);
    int n = snprintf(buf, sizeof buf, "%s\n", t->run_id);
    return gg_write_atomic(p, buf, (size_t)n);
}

gg_status gg_rundir_read_id(gg_trainer *t)
{
    char p[GG_PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/run_id", t->run_dir);
    t->run_id[0] = 0;
    FILE *f = fopen(p, "rb");
    if (!f) {
        /* a run directory from before run ids: its checkpoints have none */
        if (errno == ENOENT) return GG_OK;
        return gg_fail(GG_E_IO, "cannot open %s: %s", p, strerror(errno));
    }
    char buf[GG_RUN_ID_MAX + 2];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n > 0 && buf[n - 1] == '\n') n--;
    int ok = n > 0 && n < GG_RUN_ID_MAX;
    for (size_t i = 0; i < n && ok; i++) {
        char c = buf[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
             c == '.';
    }
    if (!ok)
        return gg_fail(GG_E_FORMAT, "%s: not a run id (want one line of at most %d letters, digits, '-', '_' or '.')",
                       p, GG_RUN_ID_MAX - 1);
    memcpy(t->run_id, buf, n);
    t->run_id[n] = 0;
    return GG_OK;
}

/*
 * parallel.c - data parallelism over MPI, and its single-process stand-in.
 *
 * Built with GG_HAVE_MPI (CMake found MPI and GG_MPI is on), the functions
 * wrap a few MPI collectives on a private duplicate of MPI_COMM_WORLD whose
 * error handler returns codes instead of aborting, so an MPI failure
 * becomes a gg_status with a message. Without MPI the same functions exist
 * and behave as a world of one rank.
 *
 * Every blocking collective records when it began (g_wait_since), so a
 * watchdog thread outside the library can see a wait that never ends (a
 * peer that hangs instead of dying) and end the process; the library itself
 * never exits. Blocking MPI_Allreduce is used rather than MPI_Iallreduce
 * polled against a deadline: on this machine the nonblocking form took up
 * to 3x longer for 0.25-2 MiB arrays.
 */
#include "parallel/parallel.h"

#include "core/error.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef GG_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;
static double g_timeout = 0;
/* CLOCK_MONOTONIC nanoseconds when the current collective began; 0 when
 * none is in progress. Read by the watchdog thread. */
static _Atomic long long g_wait_since;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double gg_dist_waiting(void)
{
    long long t = atomic_load(&g_wait_since);
    return t ? (double)(now_ns() - t) * 1e-9 : 0;
}

void gg_dist_set_timeout(double seconds) { g_timeout = seconds > 0 ? seconds : 0; }
double gg_dist_timeout(void) { return g_timeout; }
int gg_dist_rank(void) { return g_rank; }
int gg_dist_size(void) { return g_size; }

/* The launchers of OpenMPI and MPICH (Hydra) set the world size in every
 * process they start; PMIx-based ones (srun --mpi=pmix, PRRTE) set
 * PMIX_RANK. */
static int launcher_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v) continue;
        char *end;
        long n = strtol(v, &end, 10);
        if (*end == 0 && n >= 1 && n <= INT_MAX) return (int)n;
    }
    /* PMIx without a size variable still says it launched us */
    return getenv("PMIX_RANK") ? 1 : 0;
}

int gg_dist_launched(void) { return launcher_size() > 0; }

#ifdef GG_HAVE_MPI

static void wait_begin(void) { atomic_store(&g_wait_since, now_ns()); }
static void wait_end(void) { atomic_store(&g_wait_since, 0); }

static MPI_Comm g_comm = MPI_COMM_NULL;
static int g_we_initialised;

int gg_dist_built(void) { return 1; }

static gg_status mpi_fail(int rc, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", rc);
    return gg_fail(GG_E_IO, "rank %d of %d: %s failed: %s (a rank probably died or lost its connection)", g_rank,
                   g_size, what, s);
}

gg_status gg_dist_init(int *argc, char ***argv)
{
    if (g_comm != MPI_COMM_NULL) return GG_OK;
    if (!gg_dist_launched()) return GG_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0;
        /* only the thread that calls the trainer makes MPI calls */
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return gg_fail(GG_E_IO, "MPI_Init_thread failed: cannot join the MPI job");
        g_we_initialised = 1;
    }
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &g_comm);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(g_comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(g_comm, &g_rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(g_comm, &g_size);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "setting up the communicator");
    return GG_OK;
}

void gg_dist_finalize(void)
{
    if (g_comm != MPI_COMM_NULL) MPI_Comm_free(&g_comm);
    g_comm = MPI_COMM_NULL;
    if (g_we_initialised) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin) MPI_Finalize();
        g_we_initialised = 0;
    }
    g_rank = 0;
    g_size = 1;
}

void gg_dist_abort(int code)
{
    if (g_comm != MPI_COMM_NULL && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

/* MPI counts are ints: larger arrays go in pieces of at most this many. */
#define GG_MPI_CHUNK (1 << 30)

gg_status gg_dist_sum_f(float *x, size_t n, size_t bucket, const char *what)
{
    if (g_size == 1 || n == 0) return GG_OK;
    size_t step = bucket > 0 && bucket < GG_MPI_CHUNK ? bucket : GG_MPI_CHUNK;
    wait_begin();
    for (size_t o = 0; o < n; o += step) {
        int len = (int)(n - o < step ? n - o : step);
        int rc = MPI_Allreduce(MPI_IN_PLACE, x + o, len, MPI_FLOAT, MPI_SUM, g_comm);
        if (rc != MPI_SUCCESS) {
            wait_end();
            return mpi_fail(rc, what);
        }
    }
    wait_end();
    return GG_OK;
}

gg_status gg_dist_sum_d(double *x, int n, const char *what)
{
    if (g_size == 1 || n <= 0) return GG_OK;
    wait_begin();
    int rc = MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, g_comm);
    wait_end();
    return rc == MPI_SUCCESS ? GG_OK : mpi_fail(rc, what);
}

gg_status gg_dist_bcast(void *buf, size_t bytes, int root, const char *what)
{
    if (g_size == 1 || bytes == 0) return GG_OK;
    wait_begin();
    for (size_t o = 0; o < bytes; o += GG_MPI_CHUNK) {
        int len = (int)(bytes - o < GG_MPI_CHUNK ? bytes - o : GG_MPI_CHUNK);
        int rc = MPI_Bcast((char *)buf + o, len, MPI_BYTE, root, g_comm);
        if (rc != MPI_SUCCESS) {
            wait_end();
            return mpi_fail(rc, what);
        }
    }
    wait_end();
    return GG_OK;
}

gg_status gg_dist_first(int have, void *buf, size_t bytes, int *who, const char *what)
{
    *who = have ? 0 : -1;
    if (g_size == 1) return GG_OK;
    int mine = have ? g_rank : INT_MAX, first = INT_MAX;
    wait_begin();
    int rc = MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, g_comm);
    wait_end();
    if (rc != MPI_SUCCESS) return mpi_fail(rc, what);
    if (first == INT_MAX) {
        *who = -1;
        return GG_OK;
    }
    *who = first;
    return gg_dist_bcast(buf, bytes, first, what);
}

gg_status gg_dist_agree(long value, const char *what, long step)
{
    if (g_size == 1) return GG_OK;
    /* one call gives both extremes: max of v and max of -v */
    long v[2] = {value, -value}, r[2];
    wait_begin();
    int rc = MPI_Allreduce(v, r, 2, MPI_LONG, MPI_MAX, g_comm);
    wait_end();
    if (rc != MPI_SUCCESS) return mpi_fail(rc, what);
    if (r[0] != -r[1])
        return gg_fail(GG_E_INTERNAL,
                       "step %ld: the ranks disagree on %s (values from %ld to %ld; this rank %d has %ld): they no longer "
                       "hold the same model, a bug in gradguard",
                       step, what, -r[1], r[0], g_rank, value);
    return GG_OK;
}

#else /* no MPI: one rank */

int gg_dist_built(void) { return 0; }

gg_status gg_dist_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    int n = launcher_size();
    /* N copies that each train alone and write the same run directory
     * would be worse than no run at all */
    if (n > 1)
        return gg_fail(GG_E_STATE,
                       "started by an MPI launcher with %d processes, but this gradguard was built without MPI: each "
                       "would train alone (install libopenmpi-dev and rebuild; CMake option GG_MPI)",
                       n);
    return GG_OK;
}

void gg_dist_finalize(void) {}
void gg_dist_abort(int code) { (void)code; }

gg_status gg_dist_sum_f(float *x, size_t n, size_t bucket, const char *what)
{
    (void)x, (void)n, (void)bucket, (void)what;
    return GG_OK;
}

gg_status gg_dist_sum_d(double *x, int n, const char *what)
{
    (void)x, (void)n, (void)what;
    return GG_OK;
}

gg_status gg_dist_bcast(void *buf, size_t bytes, int root, const char *what)
{
    (void)buf, (void)bytes, (void)root, (void)what;
    return GG_OK;
}

gg_status gg_dist_first(int have, void *buf, size_t bytes, int *who, const char *what)
{
    (void)buf, (void)bytes, (void)what;
    *who = have ? 0 : -1;
    return GG_OK;
}

gg_status gg_dist_agree(long value, const char *what, long step)
{
    (void)value, (void)what, (void)step;
    return GG_OK;
}

#endif

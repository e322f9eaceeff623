/* clock.h - the benchmarks' clocks: wall time (now) and the process's CPU
 * time over all its threads (cpu_now; at 1 thread, the measured code's own
 * cost without the time other programs held the core), in seconds. */
#ifndef GG_BENCH_CLOCK_H
#define GG_BENCH_CLOCK_H

#include <time.h>

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif

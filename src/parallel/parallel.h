/*
 * parallel.h - the data-parallel layer's internals, used by the trainer.
 *
 * Every function is a collective: all ranks call it in the same order with
 * the same sizes. With one rank (no MPI, or mpirun -np 1) they return at
 * once and leave the data alone, so the trainer calls them unconditionally.
 * Failures (an MPI error, a peer that answered with a different decision)
 * return a status with a message naming the collective and the rank.
 */
#ifndef GG_PARALLEL_H
#define GG_PARALLEL_H

#include "gradguard.h"

#include <stddef.h>

/* Sums x[0..n) over the ranks in place. bucket > 0 splits the call into
 * pieces of at most that many floats (one MPI_Allreduce each). */
gg_status gg_dist_sum_f(float *x, size_t n, size_t bucket, const char *what);
/* Sums x[0..n) (n small) over the ranks in place. */
gg_status gg_dist_sum_d(double *x, int n, const char *what);
/* Broadcasts bytes from rank root. */
gg_status gg_dist_bcast(void *buf, size_t bytes, int root, const char *what);
/* The lowest rank with have != 0 broadcasts buf (bytes) to all; *who gets
 * that rank, or -1 if no rank had one (buf is then untouched). */
gg_status gg_dist_first(int have, void *buf, size_t bytes, int *who, const char *what);
/* GG_OK if every rank passed the same value; otherwise GG_E_INTERNAL naming
 * what, the step, and the lowest and highest values seen. */
gg_status gg_dist_agree(long value, const char *what, long step);
/* Sets the bound that gg_dist_timeout reports (seconds, 0 for none). */
void gg_dist_set_timeout(double seconds);

#endif

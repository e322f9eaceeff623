/*
 * error.h - how the library reports a failure, for every module: record a
 * message (gg_errmsg() returns it) and return a status. The library never
 * prints or exits; errors are values whose message names what failed and
 * where (file, line, key, tensor, both shapes).
 * Not installed; core/core.h includes it for src/core.
 */
#ifndef GG_ERROR_H
#define GG_ERROR_H

#include "gradguard.h"

/* Records a failure message for gg_errmsg() and returns s (error.c). */
gg_status gg_fail(gg_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns from the calling function with the status of a failed call. */
#define GG_TRY(call)                                                                                                   \
    do {                                                                                                               \
        gg_status s_ = (call);                                                                                         \
        if (s_) return s_;                                                                                             \
    } while (0)

#endif

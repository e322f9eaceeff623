/*
 * gradguard/core.h - what every part of the API uses: the version, GG_API,
 * the status codes and the calling thread's error message, shapes, and the
 * random number generator (src/core).
 *
 * Part of the public API; include "gradguard.h" for all of it (its comment
 * gives the conventions every function follows), or this file alone.
 */
#ifndef GRADGUARD_CORE_H
#define GRADGUARD_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GG_VERSION_MAJOR 0
#define GG_VERSION_MINOR 1
#define GG_VERSION_PATCH 0
#define GG_VERSION_STRING "0.1.0"

/* GG_API marks the functions of the public API. The library is compiled with
 * -fvisibility=hidden, so libgradguard.so exports exactly the functions
 * declared with GG_API in gradguard.h's headers (tests/public_symbols.sh
 * checks it) and nothing of the internals under src/. Every function added
 * to a public header needs it. */
#if defined(__GNUC__) || defined(__clang__)
#define GG_API __attribute__((visibility("default")))
#else
#define GG_API
#endif

/* ==== errors (src/core/error.c) ======================================== */

typedef enum gg_status {
    GG_OK = 0,
    GG_E_ARG,       /* a bad argument: NULL, out of range, wrong node */
    GG_E_SHAPE,     /* shapes that do not fit together */
    GG_E_NOMEM,     /* an allocation failed or a size is over a limit */
    GG_E_IO,        /* a file could not be opened, read or written */
    GG_E_FORMAT,    /* a file's contents are malformed */
    GG_E_CONFIG,    /* a configuration key or value is wrong */
    GG_E_STATE,     /* a call made in the wrong state (e.g. before compile) */
    GG_E_NONFINITE, /* a NaN or Inf where a finite number is required */
    GG_E_INTERNAL   /* a bug in gradguard */
} gg_status;

/* The message of the last failure on the calling thread ("" if none). The
 * string is owned by the library and valid until the next failing call. */
GG_API const char *gg_errmsg(void);
/* A short constant name for a status ("ok", "shape", ...). */
GG_API const char *gg_status_name(gg_status s);

/* The OpenBLAS kernel family in use ("Haswell", "SkylakeX", ...), as
 * OpenBLAS chose it for this CPU or as OPENBLAS_CORETYPE named it. Results
 * differ in the last bits between families. A constant string. */
GG_API const char *gg_blas_kernel(void);

/* ==== shapes ============================================================ */

#define GG_MAX_DIMS 4
#define GG_NAME_MAX 64

typedef struct gg_shape {
    int ndim;
    int d[GG_MAX_DIMS];
} gg_shape;

GG_API gg_shape gg_shape1(int a);
GG_API gg_shape gg_shape2(int a, int b);
GG_API gg_shape gg_shape3(int a, int b, int c);
GG_API gg_shape gg_shape4(int a, int b, int c, int d);
/* Number of elements of a shape (product of its dims). */
GG_API size_t gg_shape_numel(gg_shape s);
/* Writes "(a, b, c)" into buf; returns buf. */
GG_API char *gg_shape_str(gg_shape s, char *buf, size_t cap);

/* ==== random numbers (src/core/rng.c) ===================================== */
/* xoshiro256** seeded through splitmix64: one generator per purpose. */
typedef struct gg_rng { uint64_t s[4]; } gg_rng;
GG_API void gg_rng_seed(gg_rng *r, uint64_t seed);
GG_API uint64_t gg_rng_next(gg_rng *r);
/* Uniform in [0, 1). */
GG_API double gg_rng_uniform(gg_rng *r);
/* Standard normal. */
GG_API double gg_rng_normal(gg_rng *r);
/* Uniform integer in [0, n). */
GG_API uint64_t gg_rng_below(gg_rng *r, uint64_t n);
/* A stateless hash of (key, counter) to a uniform float in [0, 1). */
GG_API float gg_hash_uniform(uint64_t key, uint64_t counter);

#ifdef __cplusplus
}
#endif
#endif /* GRADGUARD_CORE_H */

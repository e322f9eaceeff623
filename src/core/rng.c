/* rng.c - xoshiro256** (Blackman & Vigna) seeded by splitmix64, and a
 * stateless hash for masks that must not depend on the order of draws. */
#include "core.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void gg_rng_seed(gg_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t gg_rng_next(gg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double gg_rng_uniform(gg_rng *r) { return (double)(gg_rng_next(r) >> 11) * 0x1.0p-53; }

double gg_rng_normal(gg_rng *r)
{
    /* Box-Muller; u1 in (0, 1] so the log is finite */
    double u1 = 1.0 - gg_rng_uniform(r), u2 = gg_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t gg_rng_below(gg_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    /* rejection keeps it unbiased */
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = gg_rng_next(r);
    while (x >= lim);
    return x % n;
}

float gg_hash_uniform(uint64_t key, uint64_t counter)
{
    uint64_t x = key ^ (counter * 0xd1342543de82ef95ull);
    uint64_t z = splitmix64(&x);
    return (float)(z >> 40) * 0x1.0p-24f;
}

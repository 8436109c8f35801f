/* rng.c -- xoshiro256** seeded by splitmix64, and a counter-based hash for dropout masks.
 * The state is always passed in: the engine has no global random state. */
#include "nn_internal.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void nn_rng_seed(struct nn_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nn_rng_next(struct nn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double nn_rng_uniform(struct nn_rng *r)
{
    return (double)(nn_rng_next(r) >> 11) * 0x1.0p-53;
}

double rng_normal(struct nn_rng *r)
{
    /* Box-Muller; 1 - u keeps the logarithm finite. */
    double u = 1.0 - nn_rng_uniform(r), v = nn_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

uint64_t rng_stream_key(uint64_t key, uint64_t stream)
{
    uint64_t x = key ^ ((stream + 1) * 0x9e3779b97f4a7c15ull);
    return splitmix64(&x);
}

float rng_hash_uniform(uint64_t key, uint64_t i)
{
    uint64_t x = key ^ (i * 0xd1342543de82ef95ull);
    return (float)(splitmix64(&x) >> 40) * 0x1.0p-24f;
}

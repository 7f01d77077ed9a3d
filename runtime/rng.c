/* rng.c — Philox4x32-10 and the distributions built on it (see rng.h).
 * Uniform floats take the top 24 bits (exact in float32, never 0 or 1);
 * normals use Box-Muller in double on one pair of words per value, so value i
 * depends on counter block i/2 only. */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

uint64_t rng_mix(uint64_t h, uint64_t v) {
    uint64_t z = h ^ (v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2));
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t rng_hash_string(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

uint64_t rng_stream(const char *purpose, uint64_t a, uint64_t b) {
    return rng_mix(rng_mix(rng_hash_string(purpose), a), b);
}

void rng_block(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    philox4x32_10(ctr, key, out);
}

void rng_blocks(uint64_t seed, uint64_t stream, uint64_t first, uint32_t w[4][RNG_LANES]) {
    uint32_t *c0 = w[0], *c1 = w[1], *c2 = w[2], *c3 = w[3];
    for (int l = 0; l < RNG_LANES; l++) {
        uint64_t block = first + (uint64_t)l;
        c0[l] = (uint32_t)block, c1[l] = (uint32_t)(block >> 32);
        c2[l] = (uint32_t)stream, c3[l] = (uint32_t)(stream >> 32);
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) { /* philox4x32_10's rounds, lane by lane */
        for (int l = 0; l < RNG_LANES; l++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l], p1 = (uint64_t)PHILOX_M1 * c2[l];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c0[l] = n0, c1[l] = (uint32_t)p1, c2[l] = n2, c3[l] = (uint32_t)p0;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

static inline float u32_to_unit_float(uint32_t x) { return ((float)(x >> 8) + 0.5f) * (1.0f / 16777216.0f); }

void rng_uniform(float *out, int64_t n, uint64_t seed, uint64_t stream, uint64_t start) {
    uint32_t w[4][RNG_LANES];
    for (int64_t i = 0; i < n;) { /* element idx is word idx % 4 of block idx / 4 */
        uint64_t idx = start + (uint64_t)i, first = idx / 4;
        rng_blocks(seed, stream, first, w);
        int64_t k = (int64_t)(idx - 4 * first), m = 4 * RNG_LANES - k < n - i ? 4 * RNG_LANES - k : n - i;
        for (int64_t q = k; q < k + m; q++) out[i + q - k] = u32_to_unit_float(w[q % 4][q / 4]);
        i += m;
    }
}

void rng_normal(float *out, int64_t n, uint64_t seed, uint64_t stream, uint64_t start) {
    uint32_t w[4];
    uint64_t cached = UINT64_MAX;
    for (int64_t i = 0; i < n; i++) {
        uint64_t idx = start + (uint64_t)i;
        if (idx / 2 != cached) {
            cached = idx / 2;
            rng_block(seed, stream, cached, w);
        }
        int h = (int)(idx % 2) * 2;
        double u1 = ((double)w[h] + 0.5) / 4294967296.0;
        double u2 = ((double)w[h + 1] + 0.5) / 4294967296.0;
        out[i] = (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
    }
}

/* The i-th 64-bit word of a stream (two 32-bit words of one block). */
static uint64_t stream_u64(uint64_t seed, uint64_t stream, uint64_t i) {
    uint32_t w[4];
    rng_block(seed, stream, i / 2, w);
    int h = (int)(i % 2) * 2;
    return (uint64_t)w[h] | ((uint64_t)w[h + 1] << 32);
}

/* Uniform in [0, range) by rejection (Lemire's bound); consumes words from *pos. */
static uint64_t bounded(uint64_t range, uint64_t seed, uint64_t stream, uint64_t *pos) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % range; /* accept x < limit */
    for (;;) {
        uint64_t x = stream_u64(seed, stream, (*pos)++);
        if (x < limit) return x % range;
    }
}

void rng_integers(int64_t *out, int64_t n, int64_t lo, int64_t hi, uint64_t seed, uint64_t stream) {
    uint64_t range = (uint64_t)(hi - lo) + 1, pos = 0;
    for (int64_t i = 0; i < n; i++)
        out[i] = range == 0 ? (int64_t)stream_u64(seed, stream, pos++) : lo + (int64_t)bounded(range, seed, stream, &pos);
}

void rng_permutation(int64_t *out, int64_t n, uint64_t seed, uint64_t stream) {
    uint64_t pos = 0;
    for (int64_t i = 0; i < n; i++) out[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)bounded((uint64_t)i + 1, seed, stream, &pos);
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

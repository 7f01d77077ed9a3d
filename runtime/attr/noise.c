/* noise.c — keyed standard normals for the noisy attribution methods
 * (noise.h): Philox4x32-10 over 16 counters at once (the same words as
 * rng_block), then Box-Muller with polynomial ln, sin and cos. No libm. */
#include "attr/noise.h"

#include <math.h>
#include <string.h>

#define LANES 16

/* Philox4x32-10 as rng.c, on LANES counters with one key. */
static void philox_lanes(uint32_t c0[LANES], uint32_t c1[LANES], uint32_t c2[LANES], uint32_t c3[LANES], uint32_t k0,
                         uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        for (int l = 0; l < LANES; l++) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0[l], p1 = (uint64_t)0xCD9E8D57u * c2[l];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c0[l] = n0, c1[l] = (uint32_t)p1, c2[l] = n2, c3[l] = (uint32_t)p0;
        }
        k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    }
}

static inline float unit(uint32_t w) { return ((float)(w >> 8) + 0.5f) * (1.0f / 16777216.0f); }

/* Branch-free helpers (selects by bit masks) so the lane loop vectorizes. */
static inline uint32_t fbits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}
static inline float bitsf(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* ln u for u in (0, 1]: u = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m by the
 * odd series of atanh(s), s = (m - 1)/(m + 1), |s| < 0.172 (5 terms). */
static inline float ln_unit(float u) {
    uint32_t b = fbits(u);
    int32_t e = (int32_t)(b >> 23) - 127;
    float m = bitsf((b & 0x7FFFFFu) | 0x3F800000u); /* in [1, 2) */
    uint32_t big = m > 1.41421356f ? 0xFFFFFFFFu : 0;
    m = bitsf((fbits(m * 0.5f) & big) | (fbits(m) & ~big));
    e += (int32_t)(big & 1);
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float p = 1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
    return (float)e * 0.693147180559945f + 2.0f * s * p;
}

/* sin and cos of 2 pi t, t in [0, 1]: quadrant q = round(4t), then Taylor
 * series on x = 2 pi (t - q/4) in [-pi/4, pi/4], rotated by q quarter turns. */
static inline void sincos_turn(float t, float *sn, float *cs) {
    uint32_t q = (uint32_t)(t * 4.0f + 0.5f);
    float x = (t - (float)q * 0.25f) * 6.28318530717959f, x2 = x * x;
    float s = x * (1.0f + x2 * (-1.0f / 6 + x2 * (1.0f / 120 + x2 * (-1.0f / 5040 + x2 * (1.0f / 362880)))));
    float c = 1.0f + x2 * (-0.5f + x2 * (1.0f / 24 + x2 * (-1.0f / 720 + x2 * (1.0f / 40320 + x2 * (-1.0f / 3628800)))));
    uint32_t odd = 0u - (q & 1u); /* odd quadrants swap sin and cos */
    uint32_t a = (fbits(c) & odd) | (fbits(s) & ~odd), b = (fbits(s) & odd) | (fbits(c) & ~odd);
    *sn = bitsf(a ^ ((q & 2u) << 30));        /* quadrants 2, 3: -sin */
    *cs = bitsf(b ^ (((q + 1u) & 2u) << 30)); /* quadrants 1, 2: -cos */
}

void attr_normal(float *out, int64_t n, uint64_t seed, uint64_t stream) {
    for (int64_t b0 = 0; b0 * 4 < n; b0 += LANES) {
        uint32_t c0[LANES], c1[LANES], c2[LANES], c3[LANES];
        for (int l = 0; l < LANES; l++) {
            uint64_t block = (uint64_t)(b0 + l);
            c0[l] = (uint32_t)block, c1[l] = (uint32_t)(block >> 32);
            c2[l] = (uint32_t)stream, c3[l] = (uint32_t)(stream >> 32);
        }
        philox_lanes(c0, c1, c2, c3, (uint32_t)seed, (uint32_t)(seed >> 32));
        float v[LANES][4];
        for (int l = 0; l < LANES; l++) {
            float r0 = sqrtf(-2.0f * ln_unit(unit(c0[l]))), r1 = sqrtf(-2.0f * ln_unit(unit(c2[l])));
            float s0, k0, s1, k1;
            sincos_turn(unit(c1[l]), &s0, &k0);
            sincos_turn(unit(c3[l]), &s1, &k1);
            v[l][0] = r0 * k0, v[l][1] = r0 * s0, v[l][2] = r1 * k1, v[l][3] = r1 * s1;
        }
        int64_t m = n - b0 * 4 < 4 * LANES ? n - b0 * 4 : 4 * LANES;
        memcpy(out + b0 * 4, v, sizeof(float) * (size_t)m);
    }
}

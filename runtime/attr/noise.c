/* noise.c — keyed standard normals for the noisy attribution methods
 * (noise.h): Philox words RNG_LANES blocks at a time (rng_blocks), then
 * Box-Muller with polynomial ln, sin and cos. No libm. */
#include "attr/noise.h"

#include <math.h>
#include <string.h>

#include "nn/layer.h"
#include "rng.h"

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

/* With an AVX2 copy (sqrtf is exact, so it gives the same bits). */
NN_WIDE_LOOPS void attr_normal(float *out, int64_t n, uint64_t seed, uint64_t stream) {
    for (int64_t b0 = 0; b0 * 4 < n; b0 += RNG_LANES) {
        uint32_t w[4][RNG_LANES];
        rng_blocks(seed, stream, (uint64_t)b0, w);
        float v[RNG_LANES][4];
        for (int l = 0; l < RNG_LANES; l++) {
            float r0 = sqrtf(-2.0f * ln_unit(unit(w[0][l]))), r1 = sqrtf(-2.0f * ln_unit(unit(w[2][l])));
            float s0, k0, s1, k1;
            sincos_turn(unit(w[1][l]), &s0, &k0);
            sincos_turn(unit(w[3][l]), &s1, &k1);
            v[l][0] = r0 * k0, v[l][1] = r0 * s0, v[l][2] = r1 * k1, v[l][3] = r1 * s1;
        }
        int64_t m = n - b0 * 4 < 4 * RNG_LANES ? n - b0 * 4 : 4 * RNG_LANES;
        memcpy(out + b0 * 4, v, sizeof(float) * (size_t)m);
    }
}

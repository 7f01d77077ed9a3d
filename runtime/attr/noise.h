/* attr/noise.h — the Gaussian noise of SmoothGrad and GradientShap: keyed
 * standard normals, fast enough not to matter next to the model (on LeNet
 * with libm's logf/sincosf the noise took ~20% of SmoothGrad's time).
 *
 * attr_normal(out, n, seed, stream): element 4b + k comes from Philox block
 * b of (seed, stream) (rng_block: words w0..w3) by Box-Muller on both word
 * pairs, in float: u(w) = ((w >> 8) + 1/2) / 2^24 in float (rng_uniform's),
 * r = sqrt(-2 ln u(w0 or w2)), t = 2 pi u(w1 or w3); elements r0 cos t0,
 * r0 sin t0, r1 cos t1, r1 sin t1. The 24-bit uniforms cut the tails at 5.9
 * standard deviations (probability 4e-9). ln, sin and cos are polynomial
 * approximations here (values within 6e-7 of the exact formula), plain float arithmetic over
 * 16 blocks at a time so the compiler vectorizes it; the values are the same
 * on every run, thread count and batch split. These are not rng_normal's
 * values (one block pair and a double log and cos per value: ~3x slower). */
#ifndef SANITY_ATTR_NOISE_H
#define SANITY_ATTR_NOISE_H

#include <stdint.h>

void attr_normal(float *out, int64_t n, uint64_t seed, uint64_t stream);

#endif

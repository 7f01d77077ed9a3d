/* rng.h — counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 * Every draw is addressed by (seed, stream, index): no generator state, so
 * the numbers for sample 17 of layer 3 are the same whatever the thread
 * count, batch split or what was drawn before. Streams are 64-bit ids,
 * usually derived with rng_stream("purpose", a, b). */
#ifndef SANITY_RNG_H
#define SANITY_RNG_H

#include <stdint.h>

/* The raw bijection: 4x32-bit counter, 2x32-bit key, 10 rounds. */
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* A stream id for (purpose, a, b), e.g. ("reinit", layer, 0). */
uint64_t rng_stream(const char *purpose, uint64_t a, uint64_t b);
/* 64-bit FNV-1a of a string (how string streams from Lua become ids). */
uint64_t rng_hash_string(const char *s);
/* Mixes an id with further integers (splitmix64 finalizer). */
uint64_t rng_mix(uint64_t h, uint64_t v);

/* The 4 words of counter block `block` of (seed, stream). */
void rng_block(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4]);
/* RNG_LANES consecutive blocks at once (the same words as rng_block, in a
 * loop over the blocks that the compiler vectorizes), word-major so that
 * callers vectorize too: w[k][l] = word k of block first + l. */
#define RNG_LANES 16
void rng_blocks(uint64_t seed, uint64_t stream, uint64_t first, uint32_t w[4][RNG_LANES]);
/* Element i (i >= start) of the stream's sequences: */
void rng_uniform(float *out, int64_t n, uint64_t seed, uint64_t stream, uint64_t start); /* in (0,1) */
void rng_normal(float *out, int64_t n, uint64_t seed, uint64_t stream, uint64_t start);  /* N(0,1) */
/* Uniform integers in [lo, hi], unbiased. */
void rng_integers(int64_t *out, int64_t n, int64_t lo, int64_t hi, uint64_t seed, uint64_t stream);
/* A uniformly random permutation of 0..n-1 (Fisher-Yates on the stream). */
void rng_permutation(int64_t *out, int64_t n, uint64_t seed, uint64_t stream);

#endif

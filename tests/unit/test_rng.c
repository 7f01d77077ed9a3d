/* test_rng.c — Philox4x32-10 against the Random123 known-answer vectors, and
 * the properties the rest of sanity relies on: addressability, moments,
 * permutations. */
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "test.h"

TEST(rng_philox_known_answers) {
    /* Random123 kat_vectors: counter[4] key[2] -> output[4] */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
         0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
         0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        philox4x32_10(kat[i], kat[i] + 4, out);
        for (int j = 0; j < 4; j++) CHECK_MSG(out[j] == kat[i][6 + j], "vector %d word %d: %08x != %08x", i, j, out[j], kat[i][6 + j]);
    }
}

TEST(rng_addressable_draws) {
    /* element i of a stream is the same whether drawn alone or in a run */
    float all[100], part[10], n_all[100], n_part[7];
    rng_uniform(all, 100, 42, 7, 0);
    rng_uniform(part, 10, 42, 7, 33);
    CHECK(memcmp(all + 33, part, sizeof part) == 0);
    rng_normal(n_all, 100, 42, 7, 0);
    rng_normal(n_part, 7, 42, 7, 51);
    CHECK(memcmp(n_all + 51, n_part, sizeof n_part) == 0);
    /* other seeds and streams give other numbers */
    float other[100];
    rng_uniform(other, 100, 43, 7, 0);
    CHECK(memcmp(all, other, sizeof all) != 0);
    rng_uniform(other, 100, 42, 8, 0);
    CHECK(memcmp(all, other, sizeof all) != 0);
}

/* rng_blocks gives rng_block's words (seeds and counters with high bits),
 * and rng_uniform, which reads them RNG_LANES blocks at a time, gives
 * element i from word i % 4 of block i / 4 at every start and length. */
TEST(rng_blocks_and_uniform_follow_rng_block) {
    const uint64_t seed = 0x123456789abcdefull, stream = 0xfedcba9876543210ull, first = 0xfffffffffull;
    uint32_t lanes[4][RNG_LANES], one[4];
    rng_blocks(seed, stream, first, lanes);
    for (int l = 0; l < RNG_LANES; l++) {
        rng_block(seed, stream, first + (uint64_t)l, one);
        for (int k = 0; k < 4; k++) CHECK_MSG(one[k] == lanes[k][l], "block %d word %d", l, k);
    }
    float ref[300], got[300];
    for (int i = 0; i < 300; i++) {
        rng_block(seed, stream, (uint64_t)i / 4, one);
        ref[i] = ((float)(one[i % 4] >> 8) + 0.5f) * (1.0f / 16777216.0f);
    }
    const int starts[] = {0, 1, 3, 63, 64, 65, 130}, lens[] = {1, 5, 64, 67, 150};
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 5; b++) {
            rng_uniform(got, lens[b], seed, stream, (uint64_t)starts[a]);
            CHECK_MSG(memcmp(got, ref + starts[a], sizeof(float) * (size_t)lens[b]) == 0, "start %d, n %d", starts[a],
                      lens[b]);
        }
}

TEST(rng_uniform_and_normal_moments) {
    enum { N = 200000 };
    float *u = malloc(sizeof(float) * N), *z = malloc(sizeof(float) * N);
    rng_uniform(u, N, 1, rng_stream("test", 0, 0), 0);
    rng_normal(z, N, 1, rng_stream("test", 1, 0), 0);
    double su = 0, suu = 0, sz = 0, szz = 0, sz4 = 0;
    float lo = 1, hi = 0;
    for (int i = 0; i < N; i++) {
        su += u[i], suu += (double)u[i] * u[i];
        sz += z[i], szz += (double)z[i] * z[i], sz4 += (double)z[i] * z[i] * z[i] * z[i];
        if (u[i] < lo) lo = u[i];
        if (u[i] > hi) hi = u[i];
    }
    CHECK(lo > 0.0f && hi < 1.0f);
    CHECK_NEAR(su / N, 0.5, 0.005);
    CHECK_NEAR(suu / N - (su / N) * (su / N), 1.0 / 12, 0.002);
    CHECK_NEAR(sz / N, 0.0, 0.01);
    CHECK_NEAR(szz / N, 1.0, 0.01);
    CHECK_NEAR(sz4 / N, 3.0, 0.1); /* kurtosis of a normal */
    free(u);
    free(z);
}

TEST(rng_permutation_is_a_permutation) {
    enum { N = 1000 };
    int64_t p[N], q[N];
    int seen[N] = {0};
    rng_permutation(p, N, 5, 9);
    for (int i = 0; i < N; i++) {
        CHECK(p[i] >= 0 && p[i] < N);
        if (p[i] >= 0 && p[i] < N) seen[p[i]]++;
    }
    for (int i = 0; i < N; i++) CHECK(seen[i] == 1);
    rng_permutation(q, N, 5, 9);
    CHECK(memcmp(p, q, sizeof p) == 0);
    int fixed = 0;
    for (int i = 0; i < N; i++) fixed += p[i] == i;
    CHECK(fixed < 10); /* expected 1 fixed point */
}

TEST(rng_integers_in_range_and_uniform) {
    enum { N = 60000 };
    static int64_t v[N];
    int counts[6] = {0};
    rng_integers(v, N, -2, 3, 11, 3);
    for (int i = 0; i < N; i++) {
        CHECK(v[i] >= -2 && v[i] <= 3);
        if (v[i] >= -2 && v[i] <= 3) counts[v[i] + 2]++;
    }
    for (int k = 0; k < 6; k++) CHECK_NEAR(counts[k], N / 6, 400);
}

TEST(rng_streams_are_distinct) {
    CHECK(rng_stream("reinit", 0, 0) != rng_stream("reinit", 1, 0));
    CHECK(rng_stream("reinit", 0, 1) != rng_stream("reinit", 1, 0));
    CHECK(rng_stream("reinit", 3, 0) != rng_stream("noise", 3, 0));
    CHECK(rng_stream("reinit", 3, 4) == rng_stream("reinit", 3, 4));
}

/* nn/gemm.c — the position-independent GEMM of gemm.h: a register-blocked
 * AVX2+FMA microkernel (6 x 16 tiles, one fused multiply-add chain per
 * element in k order), a portable fmaf kernel with the same arithmetic,
 * B packing and the loops over tiles. Edge tiles run the same chains (fewer
 * rows, or columns computed on padding and dropped), so no element's bits
 * depend on where it sits. Not here: threads, K splitting, alpha/beta. */
#include "nn/gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define GEMM_HAVE_AVX2 1
#include <immintrin.h>
#else
#define GEMM_HAVE_AVX2 0
#endif

int gemm_kernel_available(GemmKernel k) {
    if (k != GEMM_AVX2) return 1;
#if GEMM_HAVE_AVX2
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* The CPU's features do not change while a process runs, so GEMM_AUTO picks
 * the same kernel for every call. */
static GemmKernel resolve(GemmKernel k) {
    if (k == GEMM_AUTO) return gemm_kernel_available(GEMM_AVX2) ? GEMM_AVX2 : GEMM_PORTABLE;
    return k;
}

const char *gemm_kernel_name(void) {
    return resolve(GEMM_AUTO) == GEMM_AVX2 ? "avx2+fma" : "portable";
}

int64_t gemm_packed_floats(int64_t n, int64_t k) {
    return (n + GEMM_NR - 1) / GEMM_NR * GEMM_NR * k;
}

void gemm_pack_b(float *pb, const float *b, int64_t k, int64_t n, int64_t rs, int64_t cs) {
    for (int64_t j0 = 0; j0 < n; j0 += GEMM_NR) {
        int64_t w = n - j0 < GEMM_NR ? n - j0 : GEMM_NR;
        float *p = pb + j0 * k;
        if (cs == 1) {
            for (int64_t r = 0; r < k; r++) {
                const float *s = b + r * rs + j0;
                float *d = p + r * GEMM_NR;
                int64_t j = 0;
                for (; j < w; j++) d[j] = s[j];
                for (; j < GEMM_NR; j++) d[j] = 0;
            }
        } else {
            /* B transposed: read each column of the panel contiguously. */
            if (w < GEMM_NR) memset(p, 0, sizeof(float) * (size_t)(k * GEMM_NR));
            for (int64_t j = 0; j < w; j++) {
                const float *s = b + (j0 + j) * cs;
                for (int64_t r = 0; r < k; r++) p[r * GEMM_NR + j] = s[r * rs];
            }
        }
    }
}

/* One tile: c[i, j] for i < m, j < n (m <= GEMM_MR, n <= 8 * vectors) from
 * A rows at a (strides ars, acs) and B rows at b + boff[r] (or b + r * ldb). */
typedef struct {
    int64_t k;
    const float *a;
    const int64_t *aoff; /* NULL: A rows at a + i * ars; else row i at a + aoff[i] (acs = 1) */
    int64_t ars, acs;
    const float *b;
    const int64_t *boff; /* NULL: rows at b + r * ldb */
    int64_t ldb;
    float *c;
    int64_t ldc;
    int m, n, load_c;
} Tile;

static void tile_portable(const Tile *t) {
    float acc[GEMM_WMAX];
    for (int i = 0; i < t->m; i++) {
        for (int j = 0; j < t->n; j++) acc[j] = 0.0f;
        for (int64_t r = 0; r < t->k; r++) {
            const float av = t->aoff ? t->a[t->aoff[i] + r] : t->a[i * t->ars + r * t->acs];
            const float *br = t->b + (t->boff ? t->boff[r] : r * t->ldb);
            for (int j = 0; j < t->n; j++) acc[j] = fmaf(av, br[j], acc[j]);
        }
        float *c = t->c + i * t->ldc;
        for (int j = 0; j < t->n; j++) c[j] = t->load_c ? c[j] + acc[j] : acc[j];
    }
}

#if GEMM_HAVE_AVX2
/* MR rows x NV vectors of 8 columns in registers; MR, NV, OFFS (B rows at
 * offsets) and PART (the last vector is partial: masked loads, so nothing
 * past column n is read) are constants after inlining, so each instance is
 * a straight-line kernel. Every lane's multiply-add is _mm256_fmadd_ps, i.e.
 * fmaf, in k order. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile_avx2_body(const Tile *t, const int MR, const int NV, const int OFFS, const int PART, const int AROWS) {
    __m256 acc[GEMM_MR][GEMM_WMAX / 8];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 6
        for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(t->n - (NV - 1) * 8), lanes);
    const float *a = t->a, *b = t->b;
    const int64_t ars = t->ars, acs = t->acs, ldb = t->ldb, *boff = t->boff;
    const float *arow[GEMM_MR]; /* AROWS: row i of A */
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) arow[i] = AROWS ? a + t->aoff[i] : a;
    for (int64_t r = 0; r < t->k; r++) {
        const float *br = OFFS ? b + boff[r] : b + r * ldb;
        const float *ar = a + r * acs;
        /* Hold whichever operand set is smaller in registers, so that the
         * accumulators, it and one more vector fit the 16 ymm registers. */
        if (NV <= MR) {
            __m256 bv[GEMM_WMAX / 8];
#pragma GCC unroll 6
            for (int v = 0; v < NV; v++)
                bv[v] = PART && v == NV - 1 ? _mm256_maskload_ps(br + v * 8, mask) : _mm256_loadu_ps(br + v * 8);
#pragma GCC unroll 6
            for (int i = 0; i < MR; i++) {
                const __m256 av = _mm256_broadcast_ss(AROWS ? arow[i] + r : ar + i * ars);
#pragma GCC unroll 6
                for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
            }
        } else {
            __m256 av[GEMM_MR];
#pragma GCC unroll 6
            for (int i = 0; i < MR; i++) av[i] = _mm256_broadcast_ss(AROWS ? arow[i] + r : ar + i * ars);
#pragma GCC unroll 6
            for (int v = 0; v < NV; v++) {
                const __m256 bv =
                    PART && v == NV - 1 ? _mm256_maskload_ps(br + v * 8, mask) : _mm256_loadu_ps(br + v * 8);
#pragma GCC unroll 6
                for (int i = 0; i < MR; i++) acc[i][v] = _mm256_fmadd_ps(av[i], bv, acc[i][v]);
            }
        }
    }
    if (t->n == NV * 8) {
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 6
            for (int v = 0; v < NV; v++) {
                float *c = t->c + i * t->ldc + v * 8;
                _mm256_storeu_ps(c, t->load_c ? _mm256_add_ps(_mm256_loadu_ps(c), acc[i][v]) : acc[i][v]);
            }
        return;
    }
    float tmp[GEMM_MR * GEMM_WMAX];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 6
        for (int v = 0; v < NV; v++) _mm256_storeu_ps(tmp + i * GEMM_WMAX + v * 8, acc[i][v]);
    for (int i = 0; i < MR; i++) {
        float *c = t->c + i * t->ldc;
        for (int j = 0; j < t->n; j++) c[j] = t->load_c ? c[j] + tmp[i * GEMM_WMAX + j] : tmp[i * GEMM_WMAX + j];
    }
}

#define TILE_FN(MR, NV, OFFS, PART, AROWS)                                                                             \
    __attribute__((target("avx2,fma"))) static void tile_avx2_##MR##_##NV##_##OFFS##PART##AROWS(const Tile *t) {     \
        tile_avx2_body(t, MR, NV, OFFS, PART, AROWS);                                                                  \
    }
#define TILE_FNS_NV(MR, NV)                                                                                            \
    TILE_FN(MR, NV, 0, 0, 0) TILE_FN(MR, NV, 1, 0, 0) TILE_FN(MR, NV, 1, 1, 0) TILE_FN(MR, NV, 0, 0, 1)
#define TILE_FNS(MR)                                                                                                   \
    TILE_FNS_NV(MR, 1) TILE_FNS_NV(MR, 2) TILE_FNS_NV(MR, 3) TILE_FNS_NV(MR, 4) TILE_FNS_NV(MR, 5) TILE_FNS_NV(MR, 6)
TILE_FNS(1)
TILE_FNS(2)
TILE_FNS(3)
TILE_FNS(4)
TILE_FNS(5)
TILE_FNS(6)

/* [rows - 1][vectors - 1][packed B | in place, full | in place, partial | packed B, A rows at offsets] */
typedef void (*TileFn)(const Tile *t);
#define TILE_ENTRY(MR, NV)                                                                                             \
    {tile_avx2_##MR##_##NV##_000, tile_avx2_##MR##_##NV##_100, tile_avx2_##MR##_##NV##_110,                           \
     tile_avx2_##MR##_##NV##_001}
#define TILE_ROW(MR)                                                                                                   \
    {TILE_ENTRY(MR, 1), TILE_ENTRY(MR, 2), TILE_ENTRY(MR, 3), TILE_ENTRY(MR, 4), TILE_ENTRY(MR, 5), TILE_ENTRY(MR, 6)}
static const TileFn tile_avx2_fns[GEMM_MR][GEMM_WMAX / 8][4] = {TILE_ROW(1), TILE_ROW(2), TILE_ROW(3),
                                                               TILE_ROW(4), TILE_ROW(5), TILE_ROW(6)};

static void tile_avx2(const Tile *t) {
    int nv = (t->n + 7) / 8, kind = t->aoff ? 3 : t->boff ? 1 + (t->n % 8 != 0) : 0;
    tile_avx2_fns[t->m - 1][nv - 1][kind](t);
}
#endif

/* Columns per tile for B rows in place: wide tiles for few rows, so there are
 * always >= 8 independent accumulator chains (FMA latency x 2 pipes). */
static int tile_width(int64_t m) {
    return m <= 2 ? 48 : m == 3 ? 32 : m == 4 ? 24 : 16;
}

/* Rows are split into ceil(m / MR) tiles of nearly equal height (16 = 6+5+5,
 * not 6+6+4): short last tiles would have too few accumulators. */
static void run_tiles(GemmKernel kern, int64_t m, int64_t n, int64_t k, const float *a, const int64_t *aoff,
                      int64_t ars, int64_t acs, const float *b, const int64_t *boff, int width, int64_t panel_stride,
                      float *c, int64_t ldc, int accumulate) {
    void (*tile)(const Tile *) = tile_portable;
#if GEMM_HAVE_AVX2
    if (resolve(kern) == GEMM_AVX2) tile = tile_avx2;
#else
    (void)kern;
#endif
    const int64_t ntiles = (m + GEMM_MR - 1) / GEMM_MR;
    Tile t = {.k = k, .ars = ars, .acs = acs, .boff = boff, .ldb = width, .ldc = ldc, .load_c = accumulate};
    for (int64_t j0 = 0; j0 < n; j0 += width) {
        t.b = b + (j0 / width) * panel_stride;
        t.n = (int)(n - j0 < width ? n - j0 : width);
        for (int64_t ti = 0; ti < ntiles; ti++) {
            int64_t i0 = ti * m / ntiles, i1 = (ti + 1) * m / ntiles;
            t.m = (int)(i1 - i0);
            t.a = aoff ? a : a + i0 * ars;
            t.aoff = aoff ? aoff + i0 : NULL;
            t.c = c + i0 * ldc + j0;
            tile(&t);
        }
    }
}

void gemm_run(GemmKernel kern, int64_t m, int64_t n, int64_t k, const float *a, int64_t ars, int64_t acs,
              const float *pb, float *c, int64_t ldc, int accumulate) {
    run_tiles(kern, m, n, k, a, NULL, ars, acs, pb, NULL, GEMM_NR, k * GEMM_NR, c, ldc, accumulate);
}

void gemm_run_arows(GemmKernel kern, int64_t m, int64_t n, int64_t k, const float *a, const int64_t *aoff,
                    const float *pb, float *c, int64_t ldc, int accumulate) {
    run_tiles(kern, m, n, k, a, aoff, 0, 1, pb, NULL, GEMM_NR, k * GEMM_NR, c, ldc, accumulate);
}

void gemm_run_rows(GemmKernel kern, int64_t m, int64_t n, int64_t k, const float *a, int64_t ars, int64_t acs,
                   const float *b, const int64_t *boff, float *c, int64_t ldc, int accumulate) {
    const int w = tile_width(m);
    run_tiles(kern, m, n, k, a, NULL, ars, acs, b, boff, w, w, c, ldc, accumulate);
}

int gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
         float *c, int64_t ldc, int accumulate) {
    if (m <= 0 || n <= 0) return SN_OK;
    float *pb = NULL;
    if (k > 0) {
        pb = aligned_alloc(64, (size_t)(gemm_packed_floats(n, k) * (int64_t)sizeof(float) + 63) / 64 * 64);
        if (!pb) return sn_errorf("out of memory packing a %lldx%lld matrix", (long long)k, (long long)n);
        gemm_pack_b(pb, b, k, n, tb ? 1 : ldb, tb ? ldb : 1);
    }
    gemm_run(GEMM_AUTO, m, n, k, a, ta ? 1 : lda, ta ? lda : 1, pb, c, ldc, accumulate);
    free(pb);
    return SN_OK;
}

/* test_gemm.c — nn/gemm against independent references: a double-precision
 * product (within 1e-5 of sum |a||b|), and the arithmetic gemm.h promises,
 * one fmaf chain per element in k order, written out as a scalar loop here
 * (bitwise, for every available kernel, every tile shape and edge). Then
 * the property OpenBLAS lacks, directly: a block of rows or columns gives
 * the same bits at every offset, in every total size, and however the rows
 * are split over threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "nn/gemm.h"
#include "nn/layer.h"
#include "nn_test.h"
#include "test.h"

/* Values of mixed magnitude, so that different summation orders would
 * round differently. */
static float *randv(int64_t n, uint32_t salt) {
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    nt_pattern_fill(v, n, salt, 1.0f);
    for (int64_t i = 0; i < n; i++)
        if (i % 7 == 3) v[i] *= 1000.0f;
        else if (i % 5 == 1) v[i] *= 1e-3f;
    return v;
}

/* C[i, j] as gemm.h defines it. A[i, r] = a[i*ars + r*acs], B[r, j] = b[boff[r] + j]. */
static void ref_chain(int64_t m, int64_t n, int64_t k, const float *a, int64_t ars, int64_t acs, const float *b,
                      const int64_t *boff, float *c, int64_t ldc, int accumulate) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float s = 0.0f;
            for (int64_t r = 0; r < k; r++) s = fmaf(a[i * ars + r * acs], b[boff[r] + j], s);
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + s : s;
        }
}

static const GemmKernel KERNELS[] = {GEMM_PORTABLE, GEMM_AVX2};

/* B given as rows at offsets that overlap (as in a convolution's planes), in
 * a buffer that ends right after the last element read: ASan catches reads
 * past column n. */
typedef struct {
    float *buf;
    int64_t *boff;
} RowsB;

static RowsB rows_b(int64_t k, int64_t n, uint32_t salt) {
    RowsB r = {NULL, malloc(sizeof(int64_t) * (size_t)(k > 0 ? k : 1))};
    int64_t span = 0;
    for (int64_t i = 0; i < k; i++) {
        r.boff[i] = (i * 37) % (n + 11);
        if (r.boff[i] + n > span) span = r.boff[i] + n;
    }
    r.buf = randv(span, salt);
    return r;
}

static void rows_free(RowsB *r) {
    free(r->buf), free(r->boff);
}

TEST(gemm_is_one_fmaf_chain_per_element) {
    const int ms[] = {1, 2, 3, 4, 5, 6, 7, 11, 16}, ns[] = {1, 5, 8, 9, 16, 17, 24, 33, 47, 48, 49, 100},
              ks[] = {0, 1, 3, 16, 150};
    int checked = 0;
    for (size_t kk = 0; kk < sizeof KERNELS / sizeof KERNELS[0]; kk++) {
        GemmKernel kern = KERNELS[kk];
        if (!gemm_kernel_available(kern)) continue;
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
                for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
                    int64_t m = ms[mi], n = ns[ni], k = ks[ki], ldc = n + 3;
                    float *a = randv(m * k + 1, 1), *c0 = randv(m * ldc, 2);
                    float *c = malloc(sizeof(float) * (size_t)(m * ldc)), *r = malloc(sizeof(float) * (size_t)(m * ldc));
                    RowsB rb = rows_b(k, n, 3), ra = rows_b(m, k, 5); /* ra: m rows of k at offsets */
                    float *pb = malloc(sizeof(float) * (size_t)(gemm_packed_floats(n, k) + 1));
                    float *bd = randv(k * n + 1, 4); /* B dense [k, n] for the packed path */
                    int64_t *dense = malloc(sizeof(int64_t) * (size_t)(k + 1));
                    for (int64_t q = 0; q < k; q++) dense[q] = q * n;
                    gemm_pack_b(pb, bd, k, n, n, 1);
                    for (int acc = 0; acc < 2; acc++) {
                        /* A as stored and transposed, B in place */
                        for (int ta = 0; ta < 2; ta++) {
                            int64_t ars = ta ? 1 : k, acs = ta ? m : 1;
                            memcpy(c, c0, sizeof(float) * (size_t)(m * ldc));
                            memcpy(r, c0, sizeof(float) * (size_t)(m * ldc));
                            gemm_run_rows(kern, m, n, k, a, ars, acs, rb.buf, rb.boff, c, ldc, acc);
                            ref_chain(m, n, k, a, ars, acs, rb.buf, rb.boff, r, ldc, acc);
                            CHECK_MSG(!memcmp(c, r, sizeof(float) * (size_t)(m * ldc)),
                                      "rows: kernel %d m %lld n %lld k %lld acc %d ta %d", (int)kern, (long long)m,
                                      (long long)n, (long long)k, acc, ta);
                        }
                        memcpy(c, c0, sizeof(float) * (size_t)(m * ldc));
                        memcpy(r, c0, sizeof(float) * (size_t)(m * ldc));
                        gemm_run(kern, m, n, k, a, k, 1, pb, c, ldc, acc);
                        ref_chain(m, n, k, a, k, 1, bd, dense, r, ldc, acc);
                        CHECK_MSG(!memcmp(c, r, sizeof(float) * (size_t)(m * ldc)),
                                  "packed: kernel %d m %lld n %lld k %lld acc %d", (int)kern, (long long)m,
                                  (long long)n, (long long)k, acc);
                        /* A rows at overlapping offsets (im2col rows in place), packed B */
                        memcpy(c, c0, sizeof(float) * (size_t)(m * ldc));
                        memcpy(r, c0, sizeof(float) * (size_t)(m * ldc));
                        gemm_run_arows(kern, m, n, k, ra.buf, ra.boff, pb, c, ldc, acc);
                        for (int64_t i = 0; i < m; i++) /* the reference reads row i at ra.boff[i] */
                            ref_chain(1, n, k, ra.buf + ra.boff[i], 0, 1, bd, dense, r + i * ldc, ldc, acc);
                        CHECK_MSG(!memcmp(c, r, sizeof(float) * (size_t)(m * ldc)),
                                  "A rows: kernel %d m %lld n %lld k %lld acc %d", (int)kern, (long long)m,
                                  (long long)n, (long long)k, acc);
                        checked++;
                    }
                    free(a), free(c0), free(c), free(r), free(pb), free(bd), free(dense);
                    rows_free(&ra);
                    rows_free(&rb);
                }
    }
    CHECK(checked >= 9 * 12 * 5 * 2); /* at least the portable kernel ran */
}

TEST(gemm_kernel_choice) {
    CHECK(gemm_kernel_available(GEMM_PORTABLE) && gemm_kernel_available(GEMM_AUTO));
    const char *name = gemm_kernel_name();
    CHECK(!strcmp(name, gemm_kernel_available(GEMM_AVX2) ? "avx2+fma" : "portable"));
}

/* The convenience entry with all four transpose combinations. */
TEST(gemm_transposes) {
    const int64_t m = 13, n = 29, k = 41;
    float *a = randv(m * k, 5), *b = randv(k * n, 6), *c0 = randv(m * n, 7);
    float *c = malloc(sizeof(float) * m * n), *r = malloc(sizeof(float) * m * n), *bt = malloc(sizeof(float) * k * n);
    int64_t boff[41];
    for (int64_t q = 0; q < k; q++) boff[q] = q * n;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int acc = 0; acc < 2; acc++) {
                /* tb: B is stored as [n, k]; the reference reads its transpose */
                for (int64_t i = 0; i < k; i++)
                    for (int64_t j = 0; j < n; j++) bt[j * k + i] = b[i * n + j];
                memcpy(c, c0, sizeof(float) * m * n);
                memcpy(r, c0, sizeof(float) * m * n);
                CHECK(gemm(ta, tb, m, n, k, a, ta ? m : k, tb ? bt : b, tb ? k : n, c, n, acc) == SN_OK);
                ref_chain(m, n, k, a, ta ? 1 : k, ta ? m : 1, b, boff, r, n, acc);
                CHECK_MSG(!memcmp(c, r, sizeof(float) * m * n), "ta %d tb %d acc %d", ta, tb, acc);
            }
    free(a), free(b), free(c0), free(c), free(r), free(bt);
}

TEST(gemm_near_double_reference) {
    const int64_t m = 37, n = 53, k = 301;
    float *a = randv(m * k, 8), *b = randv(k * n, 9), *c = malloc(sizeof(float) * m * n);
    CHECK(gemm(0, 0, m, n, k, a, k, b, n, c, n, 0) == SN_OK);
    double worst = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int64_t r = 0; r < k; r++) {
                s += (double)a[i * k + r] * b[r * n + j];
                mag += fabs((double)a[i * k + r] * b[r * n + j]);
            }
            double e = fabs(c[i * n + j] - s) / mag;
            if (e > worst) worst = e;
        }
    CHECK_MSG(worst <= 1e-5, "relative error %.3g", worst);
    CHECK(worst > 0); /* float arithmetic really happened */
    free(a), free(b), free(c);
}

/* Rows 0..4 of a 5-row block placed at every offset of A matrices of many
 * heights (the other rows random): the block's results never change. */
TEST(gemm_row_block_position_independent) {
    const int64_t n = 45, k = 77, bm = 5, heights[] = {5, 6, 7, 12, 13, 17, 37, 64};
    float *blk = randv(bm * k, 10), *b = randv(k * n, 11), *pb = malloc(sizeof(float) * gemm_packed_floats(n, k));
    gemm_pack_b(pb, b, k, n, n, 1);
    int64_t boff[77];
    for (int64_t q = 0; q < k; q++) boff[q] = q * n;
    for (size_t kk = 0; kk < sizeof KERNELS / sizeof KERNELS[0]; kk++) {
        GemmKernel kern = KERNELS[kk];
        if (!gemm_kernel_available(kern)) continue;
        float want[5 * 45];
        gemm_run(kern, bm, n, k, blk, k, 1, pb, want, n, 0);
        for (size_t hi = 0; hi < sizeof heights / sizeof heights[0]; hi++) {
            int64_t m = heights[hi];
            float *a = randv(m * k, 12 + (uint32_t)hi), *c = malloc(sizeof(float) * m * n);
            for (int64_t off = 0; off + bm <= m; off++) {
                float *a2 = malloc(sizeof(float) * m * k);
                memcpy(a2, a, sizeof(float) * m * k);
                memcpy(a2 + off * k, blk, sizeof(float) * bm * k);
                for (int mode = 0; mode < 2; mode++) {
                    if (mode == 0) gemm_run(kern, m, n, k, a2, k, 1, pb, c, n, 0);
                    else gemm_run_rows(kern, m, n, k, a2, k, 1, b, boff, c, n, 0);
                    CHECK_MSG(!memcmp(c + off * n, want, sizeof want), "kernel %d height %lld offset %lld mode %d",
                              (int)kern, (long long)m, (long long)off, mode);
                }
                free(a2);
            }
            free(a), free(c);
        }
    }
    free(blk), free(b), free(pb);
}

/* A 19-column block of B at every offset of B matrices of many widths. */
TEST(gemm_column_block_position_independent) {
    const int64_t m = 11, k = 60, bn = 19, widths[] = {19, 20, 27, 31, 48, 64, 100, 113};
    float *a = randv(m * k, 20), *blk = randv(k * bn, 21);
    for (size_t kk = 0; kk < sizeof KERNELS / sizeof KERNELS[0]; kk++) {
        GemmKernel kern = KERNELS[kk];
        if (!gemm_kernel_available(kern)) continue;
        float want[11 * 19];
        CHECK(gemm(0, 0, m, bn, k, a, k, blk, bn, want, bn, 0) == SN_OK);
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
            int64_t n = widths[wi];
            float *b = randv(k * n, 22 + (uint32_t)wi), *c = malloc(sizeof(float) * m * n);
            float *pb = malloc(sizeof(float) * gemm_packed_floats(n, k));
            int64_t boff[60];
            for (int64_t q = 0; q < k; q++) boff[q] = q * n;
            for (int64_t off = 0; off + bn <= n; off++) {
                for (int64_t r = 0; r < k; r++) memcpy(b + r * n + off, blk + r * bn, sizeof(float) * bn);
                for (int mode = 0; mode < 2; mode++) {
                    if (mode == 0) {
                        gemm_pack_b(pb, b, k, n, n, 1);
                        gemm_run(kern, m, n, k, a, k, 1, pb, c, n, 0);
                    } else {
                        gemm_run_rows(kern, m, n, k, a, k, 1, b, boff, c, n, 0);
                    }
                    int same = 1;
                    for (int64_t i = 0; i < m; i++) same &= !memcmp(c + i * n + off, want + i * bn, sizeof(float) * bn);
                    CHECK_MSG(same, "kernel %d width %lld offset %lld mode %d", (int)kern, (long long)n,
                              (long long)off, mode);
                }
            }
            free(b), free(c), free(pb);
        }
    }
    free(a), free(blk);
}

/* Rows split over threads the way the layers do (nn_parallel ranges):
 * the same bits for 1, 2 and 3 threads and any grain. */
typedef struct {
    int64_t n, k;
    const float *a, *pb;
    float *c;
} SplitJob;

static int split_range(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    SplitJob *j = ctx;
    gemm_run(GEMM_AUTO, e - b, j->n, j->k, j->a + b * j->k, j->k, 1, j->pb, j->c + b * j->n, j->n, 0);
    return SN_OK;
}

TEST(gemm_thread_split_independent) {
    const int64_t m = 101, n = 70, k = 90;
    float *a = randv(m * k, 30), *b = randv(k * n, 31), *pb = malloc(sizeof(float) * gemm_packed_floats(n, k));
    float *want = malloc(sizeof(float) * m * n), *c = malloc(sizeof(float) * m * n);
    gemm_pack_b(pb, b, k, n, n, 1);
    gemm_run(GEMM_AUTO, m, n, k, a, k, 1, pb, want, n, 0);
    const int threads[] = {1, 2, 3};
    const int64_t grains[] = {1, 5, 7, 50, 101};
    for (int t = 0; t < 3; t++)
        for (int g = 0; g < 5; g++) {
            memset(c, 0, sizeof(float) * m * n);
            SplitJob j = {n, k, a, pb, c};
            CHECK(nn_parallel(threads[t], m, grains[g], split_range, &j) == SN_OK);
            CHECK_MSG(!memcmp(c, want, sizeof(float) * m * n), "threads %d grain %lld", threads[t],
                      (long long)grains[g]);
        }
    free(a), free(b), free(pb), free(want), free(c);
}

/* nn/gemm.h — a deterministic, position-independent single-precision GEMM
 * for the layer kernels:
 *
 *   s = 0; for k = 0, 1, ..., K-1: s = fmaf(A[i, k], B[k, j], s)
 *   C[i, j] = accumulate ? C[i, j] + s : s
 *
 * Every output element is that one chain of fused multiply-adds, in that
 * order, whatever its row or column, the matrix sizes, the tiling and the
 * thread count: a row of A (a sample) gives the same bits at any position of
 * any batch. This is the property OpenBLAS's sgemm lacks (its results depend
 * on a row's position and on the shape, measured on its Zen kernels), and it
 * lets a layer put a whole block of samples into one product.
 *
 * Kernels: an AVX2+FMA microkernel (6 rows x 16 columns of C in registers)
 * when the CPU has both, else portable C with fmaf. Both compute the chain
 * above, so they give the same bits (the tests check it); the portable one is
 * slow where fmaf is not an instruction.
 *
 * B is read in panels of GEMM_NR columns: row k of a panel is GEMM_NR
 * consecutive floats, all readable (columns past n are computed and dropped).
 * Callers either pack B (gemm_pack_b: zero-padded panels, any layout) or give
 * rows of B in place at offsets (gemm_run_rows: B[k, j] = b[boff[k] + j],
 * used by convolutions on padded planes). A is read in place with any
 * strides, or as rows at offsets (gemm_run_arows). Nothing here allocates except gemm() itself; nothing is threaded:
 * callers split rows or panels over threads, which cannot change any bit. */
#ifndef SANITY_NN_GEMM_H
#define SANITY_NN_GEMM_H

#include <stdint.h>

#define GEMM_MR 6  /* rows of C per microkernel call */
#define GEMM_NR 16 /* columns of a packed B panel */
#define GEMM_WMAX 48 /* widest tile (few rows, B in place) */

typedef enum GemmKernel {
    GEMM_AUTO,     /* AVX2+FMA when the CPU has it, else portable */
    GEMM_PORTABLE, /* plain C (fmaf) */
    GEMM_AVX2,     /* only where gemm_kernel_available(GEMM_AVX2) */
} GemmKernel;

/* Whether kernel `k` runs on this CPU (GEMM_AUTO and GEMM_PORTABLE always). */
int gemm_kernel_available(GemmKernel k);
/* "avx2+fma" or "portable": what GEMM_AUTO uses in this process. */
const char *gemm_kernel_name(void);

/* Floats of a packed B of k rows and n columns: ceil(n / NR) panels of k x NR. */
int64_t gemm_packed_floats(int64_t n, int64_t k);
/* pb = B[k, n] in panels, columns past n zero; B[r, j] = b[r * rs + j * cs]
 * (rs = ldb, cs = 1 for B as stored; rs = 1, cs = ldb for B transposed). */
void gemm_pack_b(float *pb, const float *b, int64_t k, int64_t n, int64_t rs, int64_t cs);

/* C[m, n] (+)= A[m, k] x packed B[k, n] (gemm_pack_b), as in the header.
 * A[i, r] = a[i * ars + r * acs]; C[i, j] = c[i * ldc + j]. */
void gemm_run(GemmKernel kern, int64_t m, int64_t n, int64_t k, const float *a, int64_t ars, int64_t acs,
              const float *pb, float *c, int64_t ldc, int accumulate);

/* The same with B in place: B[r, j] = b[boff[r] + j] (only j < n is read).
 * Tiles are up to GEMM_WMAX columns wide when m is small. */
void gemm_run_rows(GemmKernel kern, int64_t m, int64_t n, int64_t k, const float *a, int64_t ars, int64_t acs,
                   const float *b, const int64_t *boff, float *c, int64_t ldc, int accumulate);

/* The same with A rows at offsets: A[i, r] = a[aoff[i] + r] (weight
 * gradients read the im2col rows of a convolution in place this way). */
void gemm_run_arows(GemmKernel kern, int64_t m, int64_t n, int64_t k, const float *a, const int64_t *aoff,
                    const float *pb, float *c, int64_t ldc, int accumulate);

/* Convenience: C[m, n] (+)= op(A) op(B), row-major, op = transpose when ta/tb;
 * A is [m, k] (ta = 0, lda >= k) or stored [k, m] (ta = 1); B is [k, n] or
 * stored [n, k]. Allocates the packed B. SN_OK, or SN_ERR out of memory. */
int gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
         float *c, int64_t ldc, int accumulate);

#endif

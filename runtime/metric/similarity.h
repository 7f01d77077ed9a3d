/* similarity.h — per-sample similarity of two batches of explanation maps.
 *
 * a and b are float32 tensors of the same shape [N, ...]; sample i is the
 * contiguous row a[i] of D = numel / N values. Every measure writes one value
 * per sample into out [N], computed in double, one task per sample on
 * parallel_for: results are bit-identical for any thread count and do not
 * depend on a sample's position in the batch.
 *
 * Definitions and conventions (the Lua docs in l_metric.c repeat them):
 *   spearman   Pearson correlation of the ranks; ties get the average of the
 *              ranks they span (scipy.stats.spearmanr). -0.0 and +0.0 tie.
 *   pearson    scipy.stats.pearsonr's r, clipped to [-1, 1].
 *   cosine     <a,b> / (|a| |b|).
 *   mse, mae   mean of (a-b)^2, of |a-b| (lower = more similar).
 *   ssim       skimage.metrics.structural_similarity(a, b,
 *              gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
 *              data_range=R) on 2-D maps: Gaussian window truncated at 3.5
 *              sigma (11 taps), K1 = 0.01, K2 = 0.03, mean of the SSIM image
 *              cropped by the window radius (5) on every side. Maps are
 *              [N, H, W] or [N, C, H, W]; with C channels the per-channel
 *              means are averaged (skimage with channel_axis). R is
 *              opts.data_range when > 0, else inferred per sample pair as
 *              max(a, b) - min(a, b) over both maps and all channels (as
 *              Quantus does; skimage's dtype-based default does not apply to
 *              float maps). If the inferred R is 0 both maps are the same
 *              constant and ssim is 1. Needs H, W >= 11.
 *   hog        Pearson correlation of the two HOG descriptors, each computed
 *              as skimage.feature.hog(map, orientations, pixels_per_cell,
 *              cells_per_block, block_norm, transform_sqrt=False) on float64
 *              input: central-difference gradients (0 on the border rows and
 *              columns), unsigned orientations in [0, 180), cell histograms
 *              summed in float32 and divided by the cell area (as skimage's
 *              Cython does), block normalization with eps = 1e-5, descriptor
 *              order (block row, block col, cell row, cell col, orientation).
 *              With C > 1 channels each pixel takes the gradient of the
 *              channel with the largest magnitude (skimage with channel_axis;
 *              first channel on ties). Needs H >= cell_rows * block_rows and
 *              W >= cell_cols * block_cols.
 *   topk_intersection
 *              |top_k(|a|) intersect top_k(|b|)| / k, where top_k takes the k
 *              features of largest absolute value and, among equal values,
 *              the lower flat index first. Always on absolute values.
 *
 * Constant maps: a correlation (spearman, pearson, hog) whose either side has
 * zero variance is defined as 0, and cosine with an all-zero side is 0, so
 * results never hold NaN. With opts.abs every measure compares |a| with |b|.
 * Inputs must be finite: a NaN or Inf fails with the sample named. */
#ifndef SANITY_METRIC_SIMILARITY_H
#define SANITY_METRIC_SIMILARITY_H

#include <stdint.h>

#include "tensor.h"

typedef enum {
    SIM_SPEARMAN,
    SIM_PEARSON,
    SIM_COSINE,
    SIM_MSE,
    SIM_MAE,
    SIM_SSIM,
    SIM_HOG,
    SIM_TOPK,
    SIM_COUNT
} SimKind;

typedef enum { HOG_L1, HOG_L1_SQRT, HOG_L2, HOG_L2_HYS } HogNorm;

typedef struct HogOptions {
    int orientations; /* >= 1; default 9 */
    int cell[2];      /* pixels per cell (rows, cols); default 8x8 */
    int block[2];     /* cells per block (rows, cols); default 3x3 */
    HogNorm norm;     /* default HOG_L2_HYS */
} HogOptions;

typedef struct SimOptions {
    int abs;           /* compare |a| and |b| */
    double data_range; /* ssim: > 0 given, 0 = inferred per sample pair */
    int64_t k;         /* topk_intersection: 1 <= k <= D */
    HogOptions hog;
} SimOptions;

#define SSIM_SIGMA 1.5
#define SSIM_RADIUS 5 /* int(3.5 * sigma + 0.5), as scipy.ndimage */

/* Names in SimKind order ("spearman", ..., "topk_intersection"), NULL-terminated. */
extern const char *const similarity_names[];
/* SimKind of `name`, or -1. */
int similarity_find(const char *name);
void similarity_default_options(SimOptions *o);
void hog_default_options(HogOptions *o);

/* Validates shapes and options for `kind`: SN_ERR with a sentence naming
 * what was expected (both shapes on a mismatch). Call before allocating. */
int similarity_check(SimKind kind, const Tensor *a, const Tensor *b, const SimOptions *o);

/* out[N] = similarity of a[i] and b[i]. Assumes similarity_check passed and
 * out is a float tensor of N elements. SN_ERR on a non-finite input value or
 * out of memory. */
int similarity_batch(SimKind kind, const Tensor *a, const Tensor *b, const SimOptions *o, Tensor *out, int nthreads);

/* HOG descriptors: maps [N, H, W] or [N, C, H, W] -> out [N, hog_length].
 * hog_check validates the map size and options; abs takes |x| first. */
int hog_check(const Tensor *x, const HogOptions *o);
int64_t hog_length(int64_t h, int64_t w, const HogOptions *o);
int hog_batch(const Tensor *x, const HogOptions *o, int abs, Tensor *out, int nthreads);

#endif

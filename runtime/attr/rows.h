/* attr/rows.h — streaming synthetic rows through the model: the engine of
 * every method that explains many inputs derived from each sample
 * (integrated gradients: one row per step, SmoothGrad: one per draw,
 * GradientShap, Grad-CAM: one per sample).
 *
 * Rows are numbered sample-major: row q explains sample q / per_sample, so a
 * sample's rows are consecutive. attr_rows_run() goes through them in chunks
 * of at most r->chunk rows: fill() writes the chunk's model inputs, the
 * model runs forward and backward (d score / d input, with optional backward
 * rules), and consume() receives the chunk's input gradients and scores.
 * Chunks are visited in row order, so a consumer that accumulates per sample
 * adds each sample's rows in the same order whatever r->chunk is; with the
 * model's per-row determinism (nn/layer.h) the results are then bit-identical
 * for any chunk size and thread count. */
#ifndef SANITY_ATTR_ROWS_H
#define SANITY_ATTR_ROWS_H

#include "attr/attr.h"

typedef struct AttrRows {
    int64_t nrows;      /* total rows (>= 1) */
    int64_t per_sample; /* consecutive rows per sample (>= 1) */
    int64_t row_numel;  /* elements of one model input row */
    int ndim;           /* model input shape without the batch dimension */
    int64_t shape[TENSOR_MAX_DIMS - 1];
    const BackwardRule *rules; /* NULL (plain gradients) or one per model node */
    /* Writes rows [r0, r0+len) of the model input into in[len, row_numel];
     * called on the main thread (it may use nn_parallel). */
    int (*fill)(void *ctx, int64_t r0, int64_t len, float *in);
    /* grad[len, row_numel]: d score / d input of rows [r0, r0+len);
     * score[len]: their explained scores. The model's activations and node
     * gradients of this chunk are readable during the call (r->model). */
    int (*consume)(void *ctx, int64_t r0, int64_t len, const float *grad, const float *score);
    void *ctx;
} AttrRows;

/* Fills in nrows/per_sample and the row shape from x [N, ...]. */
void attr_rows_init(AttrRows *s, const Tensor *x, int64_t per_sample);

/* Runs every row. targets[N] are the classes of the samples (checked against
 * the model's output: SN_ERR naming the first bad one). */
int attr_rows_run(const AttrRun *r, const float *targets, const AttrRows *s);

/* Standard normals for the noise of SmoothGrad and GradientShap, keyed by
 * (seed, stream): Box-Muller on both halves of each Philox block, in float.
 * Block b (words w0..w3; u(w) = ((w >> 8) + 1/2) / 2^24, the uniform of
 * rng_uniform) gives elements 4b..4b+3 = r0 cos t0, r0 sin t0, r1 cos t1,
 * r1 sin t1, r = sqrt(-2 ln u(w0 or w2)), t = 2 pi u(w1 or w3). The 24-bit
 * uniforms cut the tails at 5.9 standard deviations (probability 4e-9).
 * About 3x faster than rng_normal (one Philox block and one double-precision
 * log and cos per value), whose values these are not: noise is a large
 * share of SmoothGrad's time on small models. */
void attr_normal(float *out, int64_t n, uint64_t seed, uint64_t stream);

/* The range of each sample of x[N, D]: lo[i] = min, hi[i] = max. */
void attr_sample_range(const float *x, int64_t n, int64_t d, float *lo, float *hi);

#endif

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
    int head;                  /* -1, or the linear head (below): consume then gets the head's output gradients */
    /* Writes rows [r0, r0+len) of the model input into in[len, row_numel],
     * using up to nthreads threads (nn_parallel). For rowwise rows it runs
     * on the engine's worker threads, several chunks at once with
     * nthreads = 1, so it must not write ctx. NULL: row q is a copy of
     * sample q / per_sample of `source`. */
    int (*fill)(void *ctx, int64_t r0, int64_t len, float *in, int nthreads);
    const float *source; /* [N, row_numel], for fill NULL (attr_rows_init: x) */
    /* Optional, with a head: writes the head's outputs [len, head numel] of
     * rows [r0, r0+len) instead (fill is then not called) and the model runs
     * from the node after the head (model_forward_from). For rows whose
     * head output is cheaper to form than to compute (integrated gradients:
     * affine in the step). Same threading rules as fill. */
    int (*fill_head)(void *ctx, int64_t r0, int64_t len, float *z, int nthreads);
    /* grad[len, row_numel]: d score / d input of rows [r0, r0+len) (with a
     * head: d score / d head output, [len, head numel]);
     * score[len]: their explained scores. The model's activations and node
     * gradients of this chunk are readable during the call (r->model).
     * Up to nthreads threads (nn_parallel). */
    int (*consume)(void *ctx, int64_t r0, int64_t len, const float *grad, const float *score, int nthreads);
    void *ctx;
    /* consume reads only grad, score and its row range: not r->model, nor
     * anything fill left for the same chunk; it writes only what belongs to
     * the samples of its rows, and neither it nor fill writes ctx. With
     * several threads and no rules, rows then run on one copy of the model
     * per thread, fill and consume included, several chunks at once with
     * nthreads = 1 (attr_rows_run). */
    int rowwise;
} AttrRows;

/* Fills in nrows/per_sample, the row shape and the source from x [N, ...];
 * no rules, no head, fill NULL (rows are copies of x's samples). */
void attr_rows_init(AttrRows *s, const Tensor *x, int64_t per_sample);

/* Runs every row. targets[N] are the classes of the samples (checked against
 * the model's output: SN_ERR naming the first bad one).
 * Threads: rowwise rows without rules run on private copies of the model,
 * one per worker (with fold_relu_pool, model.h): each worker fills, runs
 * and consumes whole chunks of whole samples (one thread start per call
 * instead of one per layer call, each worker's activations in its own
 * cache), or, when a sample's rows exceed what one pass may hold (16
 * cache-sized chunks, or r->chunk rows), rounds of one chunk per worker are
 * consumed on the calling thread in row order. Other rows run
 * on r->model, a chunk's layers split over r->nthreads. Every sample's rows
 * are consumed in row order either way, so the results are the same bits. */
int attr_rows_run(const AttrRun *r, const float *targets, const AttrRows *s);

/* Rows per pass actually used: at most r->chunk, fewer when that is faster.
 * Small chunks keep a pass's activations and gradients in cache (ResNet8
 * holds 1.7 MB per row: 256 rows stream ~430 MB through memory per layer
 * sweep), but each layer call with several threads costs a thread start,
 * which enough work per thread must amortize. So: the rows whose
 * activations and gradients fit ATTR_CHUNK_BYTES, at least the rows that
 * give each thread ATTR_CHUNK_MACS multiply-adds of conv/linear work (only
 * with nthreads > 1), at least 4. Measured on the 2-core EPYC test machine:
 * ResNet8 -25% CPU time at 1 thread (8 rows against 256), -14% wall at 2
 * (32 rows); 4 rows another ~10% (IG-32 on 64 images, 1.6 s against 1.8 s;
 * the convolutions run per sample anyway, so fewer rows only cost layer
 * calls); LeNet -28% at 1 thread (32 rows), unchanged at 2 (256 rows).
 * Rowwise rows on per-thread copies (attr_rows_run) use the 1-thread size.
 * r->chunk when the model does not know its shapes. Results never depend
 * on it. */
#define ATTR_CHUNK_BYTES (4.0 * 1024 * 1024)
#define ATTR_CHUNK_MACS 150e6
int64_t attr_chunk_rows(const AttrRun *r, int64_t row_numel); /* row_numel: model input elements per row */

/* ---- the linear head ----------------------------------------------------
 * The head is the model's first layer when the input reaches it through
 * reshapes only (flatten, identity) and it is conv2d or linear. Its input
 * gradient is linear in its output gradient and independent of the input,
 * so a method that keeps only a weighted sum of each sample's input
 * gradients (integrated gradients, SmoothGrad) can sum the head's output
 * gradients instead and apply the head's transpose once per sample: every
 * row then skips the head's input gradient (for LeNet, conv1's: ~15% of a
 * row's forward and backward; for the MLP, fc1's: most of the backward).
 * The sums are as exact as before up to float rounding (W^T sum vs sum W^T). */

/* The head's node index, or -1 (no head, or its output gradients would
 * take more than `max_ratio` times the memory of the input's). *numel gets
 * the head's output elements per sample. x gives the input shape; a
 * one-sample forward learns the shapes when the model does not know them. */
int attr_linear_head(const AttrRun *r, const Tensor *x, double max_ratio, int64_t *numel);
/* The ratio the methods use: summing a head output row (in double) costs
 * about as much as the head's input gradient saves when the head has ~16x
 * the input's elements (ResNet8's stem); LeNet's conv1 has 6x. */
#define ATTR_HEAD_RATIO 8.0
/* dx[N, ...] (x's row size; overwritten) = the head's input gradient for
 * output gradients dz[N, head numel]. */
int attr_head_backward(const AttrRun *r, int head, const Tensor *x, const float *dz, float *dx);
/* z[N, head numel] = the head's output for x (its own layer kernel, the
 * same numbers as inside the model's forward). */
int attr_head_forward(const AttrRun *r, int head, const Tensor *x, float *z);

/* A BackwardRule that computes nothing (the node's input gradients stay 0):
 * for nodes whose gradients a method does not need. */
int attr_skip_rule(void *ctx, const Model *m, int node, const Tensor *const *inputs, const Tensor *output,
                   const Tensor *d_out, Tensor *const *d_in, int nthreads);

/* Per-sample output shape of node `node` (forwarding one sample of x when
 * the model does not know it); SN_ERR when the forward fails. */
int attr_node_shape(const AttrRun *r, const Tensor *x, int node, Shape *s);

/* The range of each sample of x[N, D]: lo[i] = min, hi[i] = max. */
void attr_sample_range(const float *x, int64_t n, int64_t d, float *lo, float *hi);

#endif

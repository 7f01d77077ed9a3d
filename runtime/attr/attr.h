/* attr/attr.h — what every attribution method shares: the score being
 * explained (a target class's logit, softmax or log-softmax, as in Captum
 * and Quantus), running a model over many rows in chunks, and the common
 * post-processing (abs, channel reduction, normalisation).
 *
 * Conventions for methods (one family per file in runtime/attr/):
 *  - `int attr_<method>(const AttrRun *r, const Tensor *x, const float *targets, <options>, Tensor *out)`;
 *    x is [N, ...] (images [N, C, H, W]); targets[N] are 0-based classes;
 *    out is initialised by the method (tensor_init), shaped like x unless
 *    the method says otherwise (CAM: [N, 1, H, W]). Post-processing is NOT
 *    applied by methods: the binding applies attr_postprocess() once.
 *  - every method processes the whole batch; rows (samples x steps x draws)
 *    go through the model in chunks of at most r->chunk rows, and the result
 *    never depends on r->chunk or r->nthreads (the model computes each row
 *    independently, see nn/layer.h);
 *  - randomness: rng draws keyed by (r->seed, rng_stream("<method>", sample, draw));
 *  - arguments are validated by the binding; methods check only what the
 *    binding cannot know cheaply (e.g. a target out of range) and return
 *    SN_ERR with a clear message. */
#ifndef SANITY_ATTR_H
#define SANITY_ATTR_H

#include <stdint.h>

#include "model.h"
#include "tensor.h"

typedef enum { ATTR_LOGIT, ATTR_SOFTMAX, ATTR_LOG_SOFTMAX } AttrOutput;

typedef struct AttrRun {
    Model *model;      /* eval mode; its activations are overwritten */
    int nthreads;
    uint64_t seed;
    int64_t chunk;     /* at most this many rows per forward/backward pass (>= 1) */
    AttrOutput output; /* the explained score */
} AttrRun;

/* ---- scores and gradients over many rows ---------------------------- */

/* The model's output for rows of x, in chunks: logits [M, K] (a new tensor). */
int attr_logits(const AttrRun *r, const Tensor *x, Tensor *logits);
/* scores[i] = explained score of row i of x for class targets[i]. */
int attr_scores(const AttrRun *r, const Tensor *x, const float *targets, float *scores);
/* targets[i] = argmax of the logits of row i (0-based). */
int attr_predict(const AttrRun *r, const Tensor *x, float *targets);

/* grad (a new tensor shaped like x) = d score_i / d x_i for every row i,
 * with backward rules (NULL = plain gradients; else one entry per model node,
 * see model.h). scores (may be NULL) receives score_i. */
int attr_gradient_rows(const AttrRun *r, const Tensor *x, const float *targets, const BackwardRule *rules,
                       Tensor *grad, float *scores);

/* Gradient of the explained score with respect to the logits of one row:
 * one-hot for ATTR_LOGIT, p_t (e_t - p) for softmax, e_t - p for
 * log-softmax. logits[k], d[k]; *score receives the score. */
void attr_output_grad(AttrOutput o, const float *logits, int64_t k, int target, float *d, float *score);

/* Checks 0 <= targets[i] < nclasses and integral: SN_ERR naming the first
 * bad one ("target 12 (sample 3) out of range for 10 classes"). */
int attr_check_targets(const float *targets, int64_t n, int64_t nclasses);
/* The same for samples [first, first+count) only (numbered as in targets):
 * what a task of rows checks, so that N tasks cost O(N), not O(N^2). */
int attr_check_target_range(const float *targets, int64_t first, int64_t count, int64_t nclasses);

/* out[0..n) = private copies of m for n workers, with fold_relu_pool,
 * fold_conv_bn and fold_add_relu set (model.h): their passes are the engine's own, never
 * inspected. head: a node the passes start at and stop at (rows.h), or -1;
 * when it is a conv that would run its batch norm, fold_conv_bn stays off
 * (the head's own output is what the engine reads and writes). SN_ERR
 * (nothing left allocated) when out of memory. Free with
 * attr_free_worker_models. */
int attr_worker_models(const Model *m, int n, int head, Model **out);
void attr_free_worker_models(Model **models, int n);

/* ---- post-processing ------------------------------------------------- */

typedef enum { ATTR_REDUCE_NONE, ATTR_REDUCE_SUM, ATTR_REDUCE_MEAN, ATTR_REDUCE_MAX, ATTR_REDUCE_MAX_ABS } AttrReduce;
typedef enum { ATTR_NORM_NONE, ATTR_NORM_MAX_ABS, ATTR_NORM_MIN_MAX, ATTR_NORM_STD, ATTR_NORM_RMS } AttrNorm;

typedef struct AttrPost {
    int abs;           /* |map| first */
    AttrReduce reduce; /* over the channel dimension (dim 1) of [N, C, ...]: keeps dim 1 with size 1 */
    AttrNorm norm;     /* per sample, last: max_abs -> [-1, 1]; min_max -> [0, 1]; std -> x / std;
                        * rms -> x / sqrt(mean(x^2)) (Quantus' normalise_by_average_second_moment_estimate,
                        * the sMPRT/eMPRT default). Constant (or zero) maps stay as they are. */
} AttrPost;

/* out (a new tensor) = post-processed map; order: abs, reduce, normalise. */
int attr_postprocess(const Tensor *map, const AttrPost *p, Tensor *out);

#endif

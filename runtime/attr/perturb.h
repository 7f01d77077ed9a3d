/* attr/perturb.h — perturbation-based attribution: occlusion (Zeiler &
 * Fergus 2014, Captum's Occlusion semantics), feature ablation, LIME
 * (Ribeiro et al. 2016), KernelSHAP (Lundberg & Lee 2017) and RISE
 * (Petsiuk et al. 2018). Signatures follow attr.h.
 *
 * Every method builds perturbed copies of each sample (rows = samples x
 * draws), generates them chunk by chunk (at most r->chunk rows at a time,
 * in parallel) and runs them through the model with attr_scores; nothing of
 * size samples x draws x pixels is ever held. Random draws are keyed by
 * (r->seed, rng_stream("<method>", sample, draw)), regressions are solved
 * per sample in double with LAPACK (Cholesky of the normal equations), so
 * maps are bit-identical for any thread count and chunk size.
 *
 * Outputs are shaped like x: a segment's (or patch's) value is painted on
 * every element of the segment, in every channel (Captum's convention). The
 * explained score is r->output of the target class (attr.h).
 *
 * Segment ids (LIME, KernelSHAP, feature ablation): a tensor [N or 1, ...]
 * whose per-sample element count is either x's row (one id per element) or
 * the row divided by x->shape[1] (one id per position, shared by all
 * channels: [N, 1, H, W] for images). Ids are non-negative integers (as
 * floats), not necessarily consecutive; a sample's segments are its distinct
 * ids. Validated by the binding. */
#ifndef SANITY_ATTR_PERTURB_H
#define SANITY_ATTR_PERTURB_H

#include "attr/attr.h"

/* What replaces a removed (occluded, switched-off) element. */
typedef enum {
    BASELINE_VALUE,  /* a constant */
    BASELINE_TENSOR, /* tensor [N or 1, ...] with x's per-sample shape */
    BASELINE_BLUR,   /* the sample blurred with a Gaussian (images [N, C, H, W]) */
    BASELINE_MEAN    /* the sample's per-channel mean (images) or mean (other shapes) */
} BaselineKind;

typedef struct Baseline {
    BaselineKind kind;
    float value;          /* BASELINE_VALUE */
    const Tensor *tensor; /* BASELINE_TENSOR */
    double sigma;         /* BASELINE_BLUR: standard deviation in pixels (> 0) */
} Baseline;

/* Warnings the binding reports (the kernels never print). */
typedef struct PerturbReport {
    int64_t nsingular;      /* samples whose regression was singular and got regularized */
    int64_t first_singular; /* 0-based sample index of the first, -1 if none */
    double ridge;           /* the largest ridge added */
} PerturbReport;

/* Occlusion: a patch (all channels) slides over [N, C, H, W] with the
 * given stride (positions 0, s, 2s, ... while the patch fits); each
 * position's f(x) - f(x with the patch replaced by the baseline) is added to
 * the pixels under the patch, and each pixel's sum divided by the number of
 * patches covering it (pixels no patch covers get 0). 1 <= patch <= image,
 * stride >= 1. */
typedef struct OcclusionOptions {
    int64_t patch[2], stride[2];
    Baseline baseline;
} OcclusionOptions;
int attr_occlusion(const AttrRun *r, const Tensor *x, const float *targets, const OcclusionOptions *o, Tensor *out);

/* Feature ablation: f(x) - f(x with segment m set to the baseline), one
 * model row per segment, painted on segment m. */
typedef struct AblationOptions {
    const Tensor *segments;
    Baseline baseline;
} AblationOptions;
int attr_feature_ablation(const AttrRun *r, const Tensor *x, const float *targets, const AblationOptions *o,
                          Tensor *out);

/* LIME: n_samples binary vectors z over a sample's M segments (draw 0 is
 * all ones, as the lime package does; the others are Bernoulli(1/2) per
 * segment), rows = x where z = 1 and the baseline where z = 0; weights
 * exp(-d^2 / (2 kernel_width^2)) with d the cosine distance between z and
 * the all-ones vector (1 for z = 0); weighted ridge regression of the
 * scores on z with an unpenalized intercept and penalty alpha on the
 * coefficients. Output: the coefficients painted on their segments.
 * Needs n_samples >= M + 1 (SN_ERR naming the minimum otherwise). */
typedef struct LimeOptions {
    const Tensor *segments;
    Baseline baseline;
    int64_t n_samples;
    double kernel_width;   /* > 0 */
    double alpha;          /* >= 0 */
    PerturbReport *report; /* may be NULL */
} LimeOptions;
int attr_lime(const AttrRun *r, const Tensor *x, const float *targets, const LimeOptions *o, Tensor *out);

/* KernelSHAP: coalitions z over M segments with the Shapley kernel
 * weights, sampled as the shap package's KernelExplainer does (subset sizes
 * enumerated completely, smallest and largest first, while the budget
 * allows; the remaining sizes sampled, each sample paired with its
 * complement, repeats merged into weights); the efficiency constraint
 * sum(phi) = f(x) - f(baseline) is enforced exactly by eliminating the last
 * segment's variable from the weighted least squares. With every coalition
 * enumerated (exact, or n_samples >= 2^M - 2) the result equals the exact
 * Shapley values of the game v(S) = f(x on S, baseline elsewhere).
 * Needs n_samples >= min(2 (M - 1), 2^M - 2); exact needs M <= 20. */
typedef struct KernelShapOptions {
    const Tensor *segments;
    Baseline baseline;
    int64_t n_samples;
    int exact;
    PerturbReport *report; /* may be NULL */
} KernelShapOptions;
#define KERNEL_SHAP_MAX_EXACT 20
int attr_kernel_shap(const AttrRun *r, const Tensor *x, const float *targets, const KernelShapOptions *o, Tensor *out);

/* RISE: n_masks random masks per sample: a grid of ceil(H/cell)+1 x
 * ceil(W/cell)+1 cells, each 1 with probability p, upsampled bilinearly
 * (half-pixel centres, as torch's interpolate with align_corners=False) by
 * the cell size and cropped at a random shift in [0, cell); rows =
 * baseline + (x - baseline) * mask; saliency = sum_n f(row_n) mask_n /
 * (n_masks p). 1 <= cell <= image, 0 < p <= 1. */
typedef struct RiseOptions {
    int64_t n_masks;
    int64_t cell[2];
    double p;
    Baseline baseline;
} RiseOptions;
int attr_rise(const AttrRun *r, const Tensor *x, const float *targets, const RiseOptions *o, Tensor *out);

/* ---- pieces exposed for tests -------------------------------------------- */

/* Gaussian blur of img[c][h][w] into out (separable, scipy.ndimage's
 * gaussian_filter: truncate 4, mode "reflect"). */
int perturb_blur(const float *img, int64_t c, int64_t h, int64_t w, double sigma, float *out);

/* One RISE mask from a grid[gh][gw] of 0/1: the grid upsampled to
 * (gh*ch) x (gw*cw) and cropped to mask[h][w] at offset (dy, dx), which
 * must fit; tmp: gh*w floats of scratch. */
void rise_mask_from_grid(const uint8_t *grid, int64_t gh, int64_t gw, int64_t ch, int64_t cw, int64_t dy, int64_t dx,
                         int64_t h, int64_t w, float *tmp, float *mask);

#endif

/* metric/faithfulness.h — faithfulness and robustness of explanation maps:
 * infidelity (Yeh et al. 2019), max/avg sensitivity (Yeh et al. 2019),
 * faithfulness correlation (Bhatt et al. 2020), pixel flipping / region
 * perturbation (Bach et al. 2015, Samek et al. 2017), sufficiency
 * (Dasgupta et al. 2022) and completeness (Sundararajan et al. 2017).
 *
 * Shapes. x is [N, ...] and every map is shaped exactly like x (the binding
 * checks it). A FEATURE is what perturbations remove or flip together:
 *   x [N, C, H, W]  a pixel (h, w) across all C channels   (F = H*W)
 *   x [N, H, W]     a pixel                                 (F = H*W)
 *   other ranks     one element of the row                  (F = row size)
 * The attribution of a feature is the sum of the map over its elements.
 *
 * The explained score f is the target's logit (or softmax / log-softmax,
 * AttrRun.output) as for attribution methods. Every perturbed input goes
 * through the model in chunks of r->chunk rows via attr_scores (never one
 * at a time); the model computes each row independently of its position
 * in a chunk, so results are bit-identical for any chunk size and thread
 * count. Sums over features and draws are in double, in a fixed order.
 *
 * Randomness (rng.h), all keyed by the run seed:
 *   infidelity perturbation d of sample i: stream rng_stream("infidelity", i, d)
 *     gaussian, noisy_baseline: z = attr_normal(seed, stream) (attr/noise.h): z_j,
 *                    j = element, from Philox block b = j / 4 of (seed, stream),
 *                    words w0..w3 (rng_block): for the pairs (w0, w1) -> z_4b, z_4b+1
 *                    and (w2, w3) -> z_4b+2, z_4b+3, u = ((w >> 8) + 0.5) / 2^24 as
 *                    float, r = sqrt(-2 ln u_a), (s, c) = sin, cos of 2 pi u_b,
 *                    z = r c, r s (float Box-Muller on both outputs, |z| < 5.9;
 *                    ln, sin and cos are noise.c's polynomials, not libm's)
 *     masking:       u_p = rng_uniform(seed, stream, index p), p = feature; masked iff u_p < fraction
 *     square_removal, blur: side = rng_integers([smin, smax], rng_mix(stream, 1)),
 *                    top = rng_integers([0, H - side], rng_mix(stream, 2)),
 *                    left = rng_integers([0, W - side], rng_mix(stream, 3))
 *   sensitivity draw d of sample i: stream rng_stream("sensitivity", i, d);
 *     x'_j = x_j + radius * (2 u_j - 1), u_j = rng_uniform(seed, stream, j), in double, rounded to float
 *   faithfulness correlation subset k of sample i: stream rng_stream("faithfulness_correlation", i, k);
 *     a partial Fisher-Yates shuffle of 0..F-1: for t = 0..s-1, m = F-1-t,
 *     j_t = rng_integers([0, m], rng_mix(stream, t)), swap(perm[m], perm[j_t]);
 *     the subset is perm[F-s .. F-1] (a uniform s-subset).
 * (scripts/fixtures/make_faith_fixtures.py reproduces these draws in Python.)
 *
 * Errors: SN_ERR with a message (a target out of range, out of memory, a
 * model error); arguments are validated by the binding (l_metric_faith.c). */
#ifndef SANITY_METRIC_FAITHFULNESS_H
#define SANITY_METRIC_FAITHFULNESS_H

#include <stdint.h>

#include "attr/attr.h"
#include "tensor.h"

/* Feature geometry of a batch x (see above). */
typedef struct FaithGeom {
    int64_t n;       /* samples */
    int64_t row;     /* elements per sample = c * f */
    int64_t c, h, w; /* channels and plane (h = 1, w = row, c = 1 for non-images) */
    int64_t f;       /* features per sample = h * w */
    int image;       /* x is [N, C, H, W] or [N, H, W] */
} FaithGeom;

void faith_geom(const Tensor *x, FaithGeom *g);

/* The value a removed element takes: a constant, or data[i * stride + j]
 * for element j of sample i (stride 0: one row shared by all samples). */
typedef struct FaithBaseline {
    float value;
    const float *data; /* NULL: the constant `value` */
    int64_t stride;
} FaithBaseline;

/* ---- infidelity --------------------------------------------------------- */

typedef enum {
    PERTURB_GAUSSIAN,       /* I = sigma z,            x' = x - I          */
    PERTURB_NOISY_BASELINE, /* x' = baseline + sigma z, I = x - x'          */
    PERTURB_SQUARE,         /* x' = x with a random square (all channels) set to the baseline */
    PERTURB_MASKING,        /* x' = x with each feature set to the baseline with probability `fraction` */
    PERTURB_BLUR,           /* x' = x with a random square replaced by the Gaussian-blurred image */
    PERTURB_COUNT
} PerturbKind;
extern const char *const perturb_names[]; /* "gaussian", "noisy_baseline", "square_removal", "masking", "blur" */

typedef struct PerturbOptions {
    PerturbKind kind;
    double sigma;                   /* noise std (gaussian, noisy_baseline); blur std in pixels (blur) */
    int64_t square_min, square_max; /* side range of squares (square_removal, blur); 1 <= min <= max <= min(H, W) */
    double fraction;                /* masking probability per feature, in [0, 1] */
    int indicator;                  /* removal kinds (square_removal, masking): I = the 0/1 mask of removed
                                     * elements instead of x - x' (Captum's multiply_by_inputs convention,
                                     * for maps that already include the input: input x gradient, IG, LRP) */
    int64_t n;                      /* perturbations per sample, >= 1 */
} PerturbOptions;

/* Perturbation d of sample i: xp[row] = x', I[row] = the perturbation used
 * in I^T Phi. blurred: the blurred sample (faith_blur), only for blur.
 * xi is sample i of x. */
void faith_perturb(const PerturbOptions *p, const FaithGeom *g, const FaithBaseline *b, uint64_t seed, int64_t i,
                   int64_t d, const float *xi, const float *blurred, float *xp, float *I);

/* Every perturbation of every sample: xp and I are [N, p->n, row] floats
 * (perturbation d of sample i at (i * n + d) * row). */
int faith_perturbations(const Tensor *x, const PerturbOptions *p, const FaithBaseline *b, uint64_t seed, float *xp,
                        float *I, int nthreads);

/* Gaussian blur of every channel plane of x (images only): separable,
 * kernel exp(-k^2 / (2 sigma^2)) for |k| <= floor(4 sigma + 0.5), normalised,
 * borders mirrored as scipy.ndimage's mode "reflect" (d c b a | a b c d).
 * out: [N, row] floats. */
int faith_blur(const Tensor *x, const FaithGeom *g, double sigma, float *out, int nthreads);

/* Infidelity conventions, side by side (x' = x - I is the perturbed input):
 *                     Yeh et al. 2019                 Captum (captum.metrics.infidelity)
 *   definition        E_I[(I^T Phi - (f(x) - f(x')))^2], the mean over n_perturb draws
 *   scaling           the paper's code rescales Phi   normalize=False (default): none;
 *                     by the optimal beta first       normalize=True: the same beta
 *   I for removals    I = x - x0 (x0: the perturbed   perturb_func returns I; its decorator
 *                     input)                          with multiply_by_inputs=True gives
 *                                                     I = (x - x') / (x - baseline), the mask
 * Here: normalize = 0 (default) is Captum's default and the paper's Eq.;
 * normalize = 1 is the paper's optimal scaling (= Captum normalize=True);
 * indicator = 0 (default) is I = x - x'; indicator = 1 is the removal mask
 * (= Captum's decorator wherever x != baseline), the right I for maps that
 * already contain the input (input x gradient, IG, LRP): for f = w^T x and
 * Phi = w * x, square removal with the mask gives infidelity 0, as does
 * Phi = w with I = x - x' for every perturbation.
 *
 * infidelity[i] = mean_d (beta * I_d^T Phi_i - (f(x_i) - f(x_i - I_d)))^2
 * with beta = 1 (normalize = 0: Yeh et al.'s definition, Captum's default),
 * or the beta minimising it (normalize = 1: Yeh et al.'s optimal scaling,
 * Captum's normalize=True): beta = sum_d s_d df_d / sum_d s_d^2, s_d = I_d^T Phi,
 * df_d = f(x) - f(x'); beta = 0 when every s_d is 0 (an all-zero map), so
 * the result is then mean_d df_d^2. maps shaped like x; out[N]. */
int faith_infidelity(const AttrRun *r, const Tensor *x, const float *targets, const Tensor *maps,
                     const FaithBaseline *b, const PerturbOptions *p, int normalize, float *out);

/* ---- sensitivity -------------------------------------------------------- */

typedef enum { SENS_NORM_L2, SENS_NORM_LINF } SensNorm;

/* out (shaped like x) = x + uniform noise in the L-inf ball of `radius`,
 * draw d (see the stream above). */
int faith_linf_noise(const Tensor *x, double radius, uint64_t seed, int64_t d, Tensor *out, int nthreads);

/* For each sample i: v = ||phi_d[i] - phi0[i]|| (/ ||phi0[i]|| when normalize;
 * 0/0 = 0, v/0 = +inf), then maxv[i] = max(maxv[i], v) and sumv[i] += v.
 * maxv starts at 0. */
void faith_sensitivity_update(const Tensor *phi0, const Tensor *phid, SensNorm norm, int normalize, double *maxv,
                              double *sumv);

/* ---- faithfulness correlation ------------------------------------------ */

/* out[i] = Pearson over k = 0..n-1 of (sum of Phi over subset S_k,
 * f(x) - f(x with S_k at the baseline)); S_k: `subset` features. A constant
 * side (e.g. an all-zero map) gives 0, never NaN. n >= 2, 1 <= subset <= F. */
int faith_correlation(const AttrRun *r, const Tensor *x, const float *targets, const Tensor *maps,
                      const FaithBaseline *b, int64_t subset, int64_t n, float *out);

/* ---- pixel flipping ----------------------------------------------------- */

/* Features are grouped in patch x patch tiles of the plane (edge tiles
 * smaller; patch must be 1 for non-images), P tiles, each with the sum of
 * the map over its elements. Tiles are ordered by that sum, descending
 * (morf = 1, most relevant first) or ascending (lerf); ties keep the lower
 * tile index first. curve[i, k] = f(x_i with its first floor(k P / steps)
 * tiles at the baseline), k = 0..steps (curve[i, 0] = f(x_i), curve[i, steps]
 * = f(all removed)). auc[i] = trapezoid rule over k / steps in [0, 1].
 * curve: [N * (steps + 1)], auc: [N]. 1 <= steps <= P. */
int faith_pixel_flipping(const AttrRun *r, const Tensor *x, const float *targets, const Tensor *maps,
                         const FaithBaseline *b, int morf, int64_t patch, int64_t steps, float *curve, float *auc);

/* Number of patch x patch tiles of a sample (P above). */
int64_t faith_num_patches(const FaithGeom *g, int64_t patch);

/* ---- sufficiency -------------------------------------------------------- */

typedef enum { SUFF_EUCLIDEAN, SUFF_COSINE } SuffDistance;

/* Dasgupta et al. 2022 local sufficiency, with the batch as the data
 * distribution: out[i] = #{j : d(i,j) <= t, pred_j = pred_i} / #{j : d(i,j) <= t},
 * j over all samples including i (so the denominator is >= 1), pred = argmax
 * of the logits, d = distance between maps (Euclidean, or 1 - cosine with
 * 0-norm maps at distance 0 from each other and 1 from the rest), and
 * t = threshold * max_{a,b} d(a, b) (the distance matrix normalised by its
 * maximum, as Quantus does; threshold in [0, 1]). */
int faith_sufficiency(const AttrRun *r, const Tensor *x, const Tensor *maps, double threshold, SuffDistance dist,
                      float *out);

/* ---- completeness ------------------------------------------------------- */

/* signed_gap[i] = sum_j Phi_ij - (f(x_i) - f(baseline_i)); abs_gap = |signed_gap|. */
int faith_completeness(const AttrRun *r, const Tensor *x, const float *targets, const Tensor *maps,
                       const FaithBaseline *b, float *abs_gap, float *signed_gap);

#endif

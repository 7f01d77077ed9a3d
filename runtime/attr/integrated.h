/* attr/integrated.h — path-integral attributions: integrated gradients
 * (Sundararajan et al. 2017) with Captum's quadrature rules, and
 * GradientShap / expected gradients (Erion et al. 2021; Captum's
 * GradientShap). Every step of every sample is a row of one chunked
 * forward/backward stream (attr/noise.h). Signatures follow attr.h. */
#ifndef SANITY_ATTR_INTEGRATED_H
#define SANITY_ATTR_INTEGRATED_H

#include "attr/attr.h"

/* Captum's rules, on [0, 1] with `steps` nodes:
 *   riemann_left      alpha_k = k/n,             weight 1/n
 *   riemann_right     alpha_k = (k+1)/n,         weight 1/n
 *   riemann_middle    alpha_k = (k+1/2)/n,       weight 1/n
 *   riemann_trapezoid alpha_k = k/(n-1),         weight 1/n, halved at both ends
 *                     (Captum's weights: they sum to 1 - 1/n, not 1, so the
 *                     completeness gap shrinks like 1/n, not 1/n^2; n >= 2)
 *   gausslegendre     Gauss-Legendre nodes and weights mapped from [-1, 1]. */
typedef enum {
    ATTR_IG_RIEMANN_LEFT,
    ATTR_IG_RIEMANN_RIGHT,
    ATTR_IG_RIEMANN_MIDDLE,
    ATTR_IG_RIEMANN_TRAPEZOID,
    ATTR_IG_GAUSS_LEGENDRE
} AttrIgRule;

/* alpha[steps], weight[steps] of a rule (steps >= 1; >= 2 for trapezoid). */
void attr_ig_rule(AttrIgRule rule, int steps, double *alpha, double *weight);

/* Gauss-Legendre quadrature on [-1, 1]: nodes x[n] ascending, weights w[n]
 * (Newton's method on the Legendre recurrence, in double; n >= 1). */
void gauss_legendre(int n, double *x, double *w);

typedef struct AttrIgOptions {
    int steps;
    AttrIgRule rule;
    const Tensor *baseline; /* [N, ...] like x, or [1, ...] for every sample */
} AttrIgOptions;

/* out (shaped like x) = (x - x') * sum_k weight_k * grad f(x' + alpha_k (x - x')).
 * gap[N] (may be NULL) = sum of the sample's attributions - (f(x) - f(x')),
 * the completeness gap, in double. */
int attr_integrated_gradients(const AttrRun *r, const Tensor *x, const float *targets, const AttrIgOptions *o,
                              Tensor *out, float *gap);

/* Baselines for integrated gradients (new tensors shaped like x):
 * uniform: element j of sample i = lo_i + (hi_i - lo_i) u_j, [lo_i, hi_i] the
 *   sample's range, u = rng_uniform(seed, rng_stream("integrated_gradients.uniform", i, 0));
 * blur: each [H, W] plane (the last two dims) filtered with a Gaussian of
 *   standard deviation sigma pixels, as scipy.ndimage.gaussian_filter with its
 *   defaults (kernel radius int(4 sigma + 0.5), mode "reflect": the border
 *   pixel repeated, d c b a | a b c d | d c b a); x needs >= 3 dims. */
int attr_ig_baseline_uniform(const Tensor *x, uint64_t seed, Tensor *out);
int attr_ig_baseline_blur(const Tensor *x, double sigma, Tensor *out);

typedef struct AttrShapOptions {
    int n;                   /* draws per sample */
    float stdev;             /* Gaussian noise added to the input, absolute */
    const Tensor *baselines; /* [B, ...]: the set baselines are drawn from */
} AttrShapOptions;

/* GradientShap: out = mean over draws j of grad f(b + a (x~ - b)) * (x~ - b),
 * x~ = x + stdev * eps, for draw j of sample i: eps = attr_normal(seed,
 * rng_stream("gradient_shap.noise", i, j)) (attr/noise.h), b = baselines[rng_integers over
 * [0, B) of rng_stream("gradient_shap.baseline", i, j)], a = first
 * rng_uniform of rng_stream("gradient_shap.alpha", i, j). */
int attr_gradient_shap(const AttrRun *r, const Tensor *x, const float *targets, const AttrShapOptions *o, Tensor *out);

#endif

/* attr/smooth.h — gradients averaged over noisy copies of the input:
 * SmoothGrad (Smilkov et al. 2017), its squared variant and VarGrad
 * (Adebayo et al. 2018), as Captum's NoiseTunnel computes them. All draws of
 * all samples are rows of one chunked forward/backward stream (attr/noise.h).
 * Signatures follow attr.h.
 *
 * Noise: draw j of sample i is x_i + sd_i * eps, eps = attr_normal(seed,
 * rng_stream("smoothgrad", i, j)) (attr/noise.h), sd_i = sigma *
 * (max(x_i) - min(x_i)): sigma is a fraction of the sample's range, as in
 * the paper. The same draws serve all three kinds and the generic noise
 * tunnel (attr.smooth in Lua), so their results are comparable draw for
 * draw. */
#ifndef SANITY_ATTR_SMOOTH_H
#define SANITY_ATTR_SMOOTH_H

#include "attr/attr.h"

typedef enum {
    ATTR_SMOOTH_MEAN, /* smoothgrad:    mean_j g_j */
    ATTR_SMOOTH_SQ,   /* smoothgrad_sq: mean_j g_j^2 */
    ATTR_SMOOTH_VAR   /* vargrad:       mean_j g_j^2 - (mean_j g_j)^2 (population variance) */
} AttrSmoothKind;

typedef struct AttrSmoothOptions {
    int n;       /* draws per sample (>= 1) */
    float sigma; /* noise level as a fraction of each sample's range (>= 0) */
    AttrSmoothKind kind;
} AttrSmoothOptions;

int attr_smoothgrad(const AttrRun *r, const Tensor *x, const float *targets, const AttrSmoothOptions *o, Tensor *out);

/* Draw `draw` of every sample of x (a new tensor shaped like x), as above. */
int attr_smooth_noisy(const Tensor *x, float sigma, uint64_t seed, int64_t draw, int nthreads, Tensor *out);

/* Running sums of maps over draws (also for the generic noise tunnel):
 * s1 += m and/or s2 += m^2 (in double, in draw order; a NULL sum is not
 * kept), then the kind's statistic over n draws into out[numel]. */
void attr_smooth_accumulate(double *s1, double *s2, const float *m, int64_t numel);
void attr_smooth_finish(AttrSmoothKind kind, const double *s1, const double *s2, int64_t n, int64_t numel, float *out);

#endif

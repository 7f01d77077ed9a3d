/* attr/perturb_impl.h — what the perturbation methods share (perturb.c):
 * baselines, segment labels, evaluating many perturbed rows in chunks, and
 * weighted least squares through LAPACK. Internal to runtime/attr/. */
#ifndef SANITY_ATTR_PERTURB_IMPL_H
#define SANITY_ATTR_PERTURB_IMPL_H

#include <stddef.h>

#include "attr/perturb.h"

/* out[N * row] = the baseline of every sample (x [N, ...]). */
int perturb_baseline(const Baseline *b, const Tensor *x, int nthreads, float *out);

/* Consecutive labels per sample (segment_compact on each sample's ids). */
typedef struct SegLabels {
    int32_t *labels; /* [N or 1][per] */
    int64_t *count;  /* [N] segments of each sample */
    int64_t per;     /* ids per sample: row, or row / channels */
    int shared;      /* one segmentation for every sample (labels has one row) */
} SegLabels;
int perturb_labels(const Tensor *x, const Tensor *segments, int nthreads, SegLabels *s);
void perturb_labels_free(SegLabels *s);
static inline const int32_t *seg_row(const SegLabels *s, int64_t i) {
    return s->labels + (s->shared ? 0 : i * s->per);
}

/* dst[e] = on[lab[e % per]] ? x[e] : b[e] for the row's `row` elements. */
void perturb_apply(const float *x, const float *b, const int32_t *lab, int64_t per, int64_t row, const uint8_t *on,
                   float *dst);
/* out row i: value[i][lab[e % per]] for every element (painting). */
void perturb_paint(const double *value, const int32_t *lab, int64_t per, int64_t row, float *out);

/* Rows of perturbed inputs: sample `first + i` has rows off[i]..off[i+1]-1,
 * draw d = row - off[i]. fill writes one input row (x's per-sample size);
 * it runs on worker threads, with `scratch` bytes of per-worker space. */
typedef void (*PerturbFillFn)(const void *ctx, int64_t sample, int64_t draw, float *dst, void *scratch);
typedef struct PerturbRows {
    int64_t first, n;
    const int64_t *off; /* [n + 1], off[0] = 0 */
    PerturbFillFn fill;
    const void *ctx;
    size_t scratch;
} PerturbRows;
/* scores[off[n]]: the explained score of every row, built and evaluated at
 * most r->chunk rows at a time. */
int perturb_scores(const AttrRun *r, const Tensor *x, const float *targets, const PerturbRows *rows, float *scores);

/* Weighted least squares for one sample, in double:
 *   beta = argmin sum_j w[j] (y[j] - a_j . beta)^2 + sum_k pen[k] beta_k^2
 * with a_j the j-th of m design rows (p entries, written by row()). The
 * normal equations are accumulated in fixed blocks of rows (dsyrk, so the
 * result depends only on this sample's data) and solved by Cholesky
 * (dpotrf/dpotrs); when the matrix is singular or its reciprocal condition
 * number (dpocon) is below 1e-12, a ridge is added (and *ridge set to it):
 * never NaN. SN_ERR only when out of memory. */
typedef void (*WlsRowFn)(const void *ctx, int64_t j, double *a);
int perturb_wls(int64_t m, int p, WlsRowFn row, const void *ctx, const double *w, const double *y, const double *pen,
                double *beta, double *ridge);

/* Records a regularized sample in a report (thread-safe: one writer per
 * sample, merged by the caller in sample order). */
void perturb_report_merge(PerturbReport *rep, const double *ridge, int64_t first, int64_t n);

#endif

/* smooth.c — SmoothGrad, SmoothGrad^2 and VarGrad (smooth.h): rows are the
 * noisy copies (sample-major: the n draws of sample 0, then of sample 1...),
 * their gradients are summed per sample in draw order, in double. The
 * generic noise tunnel's Lua loop uses the same noise and sums. */
#include "attr/smooth.h"

#include <stdlib.h>
#include <string.h>

#include "attr/noise.h"
#include "attr/rows.h"
#include "error.h"
#include "nn/layer.h"
#include "rng.h"

/* out[d] = x[d] + sd * eps, eps the draw's normals */
static void noisy_row(float *out, const float *x, int64_t d, float sd, uint64_t seed, int64_t i, int64_t j) {
    if (sd == 0) { /* no draw needed: exactly x */
        memcpy(out, x, sizeof(float) * (size_t)d);
        return;
    }
    attr_normal(out, d, seed, rng_stream("smoothgrad", (uint64_t)i, (uint64_t)j));
    for (int64_t k = 0; k < d; k++) out[k] = x[k] + sd * out[k];
}

typedef struct {
    const float *x, *sd; /* [N, D], [N] */
    int64_t d, gd, draws; /* gd: elements of a gradient row (D, or the head's) */
    uint64_t seed;
    float *fill_dst;
    int64_t r0;
    double *s1, *s2; /* [N, D] sums of g and g^2; NULL when the kind needs none */
} SmoothCtx;

static int smooth_fill_range(void *p, int64_t b, int64_t e, int worker) {
    (void)worker;
    SmoothCtx *c = p;
    for (int64_t q = b; q < e; q++) {
        int64_t row = c->r0 + q, i = row / c->draws;
        noisy_row(c->fill_dst + q * c->d, c->x + i * c->d, c->d, c->sd[i], c->seed, i, row % c->draws);
    }
    return SN_OK;
}

/* Reentrant (rows.h): the range function gets a copy of the context. */
static int smooth_fill(void *p, int64_t r0, int64_t len, float *in, int nthreads) {
    SmoothCtx c = *(const SmoothCtx *)p;
    c.fill_dst = in, c.r0 = r0;
    return nn_parallel(nthreads, len, 16, smooth_fill_range, &c);
}

static int smooth_consume(void *p, int64_t r0, int64_t len, const float *g, const float *score, int nthreads) {
    (void)score, (void)nthreads;
    SmoothCtx *c = p;
    for (int64_t q = 0; q < len; q++) {
        int64_t off = (r0 + q) / c->draws * c->gd;
        attr_smooth_accumulate(c->s1 ? c->s1 + off : NULL, c->s2 ? c->s2 + off : NULL, g + q * c->gd, c->gd);
    }
    return SN_OK;
}

void attr_smooth_accumulate(double *s1, double *s2, const float *m, int64_t numel) {
    if (!s2) {
        for (int64_t k = 0; k < numel; k++) s1[k] += m[k];
    } else if (!s1) {
        for (int64_t k = 0; k < numel; k++) s2[k] += (double)m[k] * m[k];
    } else {
        for (int64_t k = 0; k < numel; k++) s1[k] += m[k], s2[k] += (double)m[k] * m[k];
    }
}

void attr_smooth_finish(AttrSmoothKind kind, const double *s1, const double *s2, int64_t n, int64_t numel, float *out) {
    for (int64_t k = 0; k < numel; k++) {
        if (kind == ATTR_SMOOTH_MEAN) {
            out[k] = (float)(s1[k] / (double)n);
        } else if (kind == ATTR_SMOOTH_SQ) {
            out[k] = (float)(s2[k] / (double)n);
        } else {
            double mean = s1[k] / (double)n, v = s2[k] / (double)n - mean * mean;
            out[k] = (float)(v > 0 ? v : 0); /* rounding can make a zero variance slightly negative */
        }
    }
}

int attr_smoothgrad(const AttrRun *r, const Tensor *x, const float *targets, const AttrSmoothOptions *o, Tensor *out) {
    int64_t n = x->shape[0], d = tensor_row_numel(x), gd = d;
    memset(out, 0, sizeof *out);
    /* the mean of gradients can go through the head's transpose once; squares cannot */
    int head = o->kind == ATTR_SMOOTH_MEAN ? attr_linear_head(r, x, ATTR_HEAD_RATIO, &gd) : -1;
    if (head < 0) gd = d;
    int two = o->kind == ATTR_SMOOTH_VAR;
    double *s = calloc((size_t)(n * gd) * (two ? 2 : 1), sizeof(double));
    float *sd = malloc(sizeof(float) * (size_t)n * 2);
    int rc = s && sd ? SN_OK : sn_errorf("out of memory");
    double *s1 = o->kind == ATTR_SMOOTH_SQ ? NULL : s, *s2 = o->kind == ATTR_SMOOTH_SQ ? s : two ? s + n * gd : NULL;
    if (rc == SN_OK) {
        attr_sample_range(tensor_data(x), n, d, sd, sd + n);
        for (int64_t i = 0; i < n; i++) sd[i] = o->sigma * (sd[n + i] - sd[i]);
        SmoothCtx c = {tensor_data(x), sd, d, gd, o->n, r->seed, NULL, 0, s1, s2};
        AttrRows rows;
        attr_rows_init(&rows, x, o->n);
        rows.head = head, rows.fill = smooth_fill, rows.consume = smooth_consume, rows.ctx = &c, rows.rowwise = 1;
        rc = attr_rows_run(r, targets, &rows);
    }
    if (rc == SN_OK) rc = tensor_init_like(out, x);
    if (rc == SN_OK && head >= 0) { /* mean of the head's output gradients, then its transpose */
        float *dz = malloc(sizeof(float) * (size_t)(n * gd));
        if (!dz) rc = sn_errorf("out of memory");
        if (rc == SN_OK) attr_smooth_finish(ATTR_SMOOTH_MEAN, s1, NULL, o->n, n * gd, dz);
        if (rc == SN_OK) rc = attr_head_backward(r, head, x, dz, tensor_data(out));
        free(dz);
    } else if (rc == SN_OK) {
        attr_smooth_finish(o->kind, s1, s2, o->n, n * d, tensor_data(out));
    }
    if (rc != SN_OK) tensor_release(out);
    free(s), free(sd);
    return rc;
}

typedef struct {
    const float *x, *sd;
    float *out;
    int64_t d, draw;
    uint64_t seed;
} NoisyCtx;

static int noisy_range(void *p, int64_t b, int64_t e, int worker) {
    (void)worker;
    NoisyCtx *c = p;
    for (int64_t i = b; i < e; i++) noisy_row(c->out + i * c->d, c->x + i * c->d, c->d, c->sd[i], c->seed, i, c->draw);
    return SN_OK;
}

int attr_smooth_noisy(const Tensor *x, float sigma, uint64_t seed, int64_t draw, int nthreads, Tensor *out) {
    int64_t n = x->shape[0], d = tensor_row_numel(x);
    float *sd = malloc(sizeof(float) * (size_t)n * 2);
    if (!sd) return sn_errorf("out of memory");
    if (tensor_init_like(out, x) != SN_OK) {
        free(sd);
        return SN_ERR;
    }
    attr_sample_range(tensor_data(x), n, d, sd, sd + n);
    for (int64_t i = 0; i < n; i++) sd[i] = sigma * (sd[n + i] - sd[i]);
    NoisyCtx c = {tensor_data(x), sd, tensor_data(out), d, draw, seed};
    int rc = nn_parallel(nthreads, n, 4, noisy_range, &c);
    free(sd);
    if (rc != SN_OK) tensor_release(out);
    return rc;
}

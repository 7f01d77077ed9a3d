/* integrated.c — integrated gradients and GradientShap (integrated.h), the
 * quadrature rules and the uniform and blurred baselines. The methods only
 * say what each row is (fill) and how its gradient is kept (consume); the
 * rows go through the model in runtime/attr/rows.c. Per-sample sums are
 * kept in double, added in row order. */
#include "attr/integrated.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attr/noise.h"
#include "attr/rows.h"
#include "error.h"
#include "nn/layer.h"
#include "rng.h"

/* ---- quadrature ------------------------------------------------------ */

void gauss_legendre(int n, double *x, double *w) {
    for (int i = 0; i < (n + 1) / 2; i++) {
        /* Newton from the usual asymptotic guess of the i-th largest root */
        double z = cos(M_PI * (i + 0.75) / (n + 0.5)), dp = 1;
        for (int it = 0; it < 100; it++) {
            double p1 = 1, p0 = 0; /* P_j(z), P_{j-1}(z) by the three-term recurrence */
            for (int j = 1; j <= n; j++) {
                double pm = p0;
                p0 = p1;
                p1 = ((2.0 * j - 1.0) * z * p0 - (j - 1.0) * pm) / j;
            }
            dp = n * (z * p1 - p0) / (z * z - 1.0); /* P_n'(z) */
            double step = p1 / dp;
            z -= step;
            if (fabs(step) <= 1e-16) break;
        }
        x[i] = -z, x[n - 1 - i] = z;
        w[i] = w[n - 1 - i] = 2.0 / ((1.0 - z * z) * dp * dp);
    }
    if (n % 2) x[n / 2] = 0.0; /* the middle root is exactly 0 */
}

void attr_ig_rule(AttrIgRule rule, int n, double *alpha, double *weight) {
    if (rule == ATTR_IG_GAUSS_LEGENDRE) {
        gauss_legendre(n, alpha, weight);
        for (int k = 0; k < n; k++) alpha[k] = 0.5 * (1.0 + alpha[k]), weight[k] *= 0.5;
        return;
    }
    for (int k = 0; k < n; k++) {
        weight[k] = 1.0 / n;
        switch (rule) {
        case ATTR_IG_RIEMANN_LEFT: alpha[k] = (double)k / n; break;
        case ATTR_IG_RIEMANN_RIGHT: alpha[k] = (k + 1.0) / n; break;
        case ATTR_IG_RIEMANN_MIDDLE: alpha[k] = (k + 0.5) / n; break;
        default: alpha[k] = n > 1 ? (double)k / (n - 1) : 0.0; break;
        }
    }
    if (rule == ATTR_IG_RIEMANN_TRAPEZOID) weight[0] *= 0.5, weight[n - 1] *= 0.5;
}

/* ---- baselines ------------------------------------------------------- */

int attr_ig_baseline_uniform(const Tensor *x, uint64_t seed, Tensor *out) {
    if (tensor_init_like(out, x) != SN_OK) return SN_ERR;
    int64_t n = x->shape[0], d = tensor_row_numel(x);
    const float *src = tensor_data(x);
    float *dst = tensor_data(out);
    for (int64_t i = 0; i < n; i++) {
        float lo, hi;
        attr_sample_range(src + i * d, 1, d, &lo, &hi);
        rng_uniform(dst + i * d, d, seed, rng_stream("integrated_gradients.uniform", (uint64_t)i, 0), 0);
        for (int64_t j = 0; j < d; j++) dst[i * d + j] = lo + (hi - lo) * dst[i * d + j];
    }
    return SN_OK;
}

/* scipy.ndimage's "reflect" border: ... c b a | a b c ... | c b a ... */
static int64_t reflect(int64_t p, int64_t n) {
    int64_t period = 2 * n;
    p %= period;
    if (p < 0) p += period;
    return p < n ? p : period - 1 - p;
}

/* dst[i*stride] = sum_t k[t] src[reflect(i + t - rad) * stride], i < n */
static void correlate1d(float *dst, const float *src, int64_t n, int64_t stride, const double *k, int rad) {
    for (int64_t i = 0; i < n; i++) {
        double acc = 0;
        for (int t = -rad; t <= rad; t++) acc += k[t + rad] * src[reflect(i + t, n) * stride];
        dst[i * stride] = (float)acc;
    }
}

int attr_ig_baseline_blur(const Tensor *x, double sigma, Tensor *out) {
    if (tensor_clone(out, x) != SN_OK) return SN_ERR;
    if (sigma <= 0) return SN_OK; /* as scipy: no filtering */
    int64_t h = x->shape[x->ndim - 2], w = x->shape[x->ndim - 1], planes = tensor_numel(x) / (h * w);
    int rad = (int)(4.0 * sigma + 0.5);
    double *k = malloc(sizeof(double) * (size_t)(2 * rad + 1));
    float *tmp = malloc(sizeof(float) * (size_t)(h * w));
    if (!k || !tmp) {
        free(k), free(tmp);
        tensor_release(out);
        return sn_errorf("out of memory");
    }
    double sum = 0;
    for (int t = -rad; t <= rad; t++) sum += k[t + rad] = exp(-0.5 * t * t / (sigma * sigma));
    for (int t = 0; t <= 2 * rad; t++) k[t] /= sum;
    float *p = tensor_data(out);
    for (int64_t q = 0; q < planes; q++) {
        float *plane = p + q * h * w;
        for (int64_t c = 0; c < w; c++) correlate1d(tmp + c, plane + c, h, w, k, rad); /* along H */
        for (int64_t r = 0; r < h; r++) correlate1d(plane + r * w, tmp + r * w, w, 1, k, rad); /* along W */
    }
    free(k), free(tmp);
    return SN_OK;
}

/* ---- integrated gradients ------------------------------------------- */

typedef struct {
    const float *x, *base; /* [N, D]; base [N or 1, D]: the inputs, or the head's outputs for them (then D = gd) */
    int64_t d, gd, steps, base_stride; /* gd: elements of a gradient row (D, or the head's) */
    const double *alpha, *weight;
    float *fill_dst; /* nn_parallel target of the current fill */
    int64_t r0;      /* first row of the current fill or consume */
    int64_t consume_len;
    const float *consume_grad;
    double *acc; /* [N, D] */
} IgCtx;

static int ig_fill_range(void *p, int64_t b, int64_t e, int worker) {
    (void)worker;
    IgCtx *c = p;
    for (int64_t q = b; q < e; q++) {
        int64_t row = c->r0 + q, i = row / c->steps;
        float a = (float)c->alpha[row % c->steps];
        const float *x = c->x + i * c->d, *bs = c->base + i * c->base_stride;
        float *dst = c->fill_dst + q * c->d;
        for (int64_t j = 0; j < c->d; j++) dst[j] = bs[j] + a * (x[j] - bs[j]);
    }
    return SN_OK;
}

/* Reentrant (rows.h): the range function gets a copy of the context. */
static int ig_fill(void *p, int64_t r0, int64_t len, float *in, int nthreads) {
    IgCtx c = *(const IgCtx *)p;
    c.fill_dst = in, c.r0 = r0;
    return nn_parallel(nthreads, len, 16, ig_fill_range, &c);
}

/* acc[sample] += w_step * grad over the chunk's rows, in row order for every
 * feature; threads take feature ranges, so no sum depends on the split. */
static int ig_consume_range(void *p, int64_t b, int64_t e, int worker) {
    (void)worker;
    IgCtx *c = p;
    for (int64_t q = 0; q < c->consume_len; q++) {
        int64_t row = c->r0 + q;
        const double wk = c->weight[row % c->steps];
        double *restrict acc = c->acc + row / c->steps * c->gd;
        const float *restrict gq = c->consume_grad + q * c->gd;
        for (int64_t j = b; j < e; j++) acc[j] += wk * gq[j];
    }
    return SN_OK;
}

/* Reentrant (rows.h): the range function gets a copy of the context. */
static int ig_consume(void *p, int64_t r0, int64_t len, const float *g, const float *score, int nthreads) {
    (void)score;
    IgCtx c = *(const IgCtx *)p;
    c.r0 = r0, c.consume_len = len, c.consume_grad = g;
    return nn_parallel(nthreads, c.gd, 2048, ig_consume_range, &c);
}

/* gap[i] = sum_j attr[i, j] - (f(x_i) - f(x'_i)) */
static int ig_gap(const AttrRun *r, const Tensor *x, const Tensor *baseline, const float *targets, const float *attr,
                  float *gap) {
    int64_t n = x->shape[0], d = tensor_row_numel(x);
    Tensor base = {0};
    float *f = malloc(sizeof(float) * (size_t)n * 2);
    int rc = f ? SN_OK : sn_errorf("out of memory");
    if (rc == SN_OK && baseline->shape[0] == n) {
        tensor_share(&base, baseline);
    } else if (rc == SN_OK && (rc = tensor_init_like(&base, x)) == SN_OK) {
        for (int64_t i = 0; i < n; i++) memcpy(tensor_data(&base) + i * d, tensor_data(baseline), sizeof(float) * (size_t)d);
    }
    if (rc == SN_OK) rc = attr_scores(r, x, targets, f);
    if (rc == SN_OK) rc = attr_scores(r, &base, targets, f + n);
    for (int64_t i = 0; rc == SN_OK && i < n; i++) {
        double sum = 0;
        for (int64_t j = 0; j < d; j++) sum += attr[i * d + j];
        gap[i] = (float)(sum - ((double)f[i] - (double)f[n + i]));
    }
    tensor_release(&base);
    free(f);
    return rc;
}

int attr_integrated_gradients(const AttrRun *r, const Tensor *x, const float *targets, const AttrIgOptions *o,
                              Tensor *out, float *gap) {
    int64_t n = x->shape[0], d = tensor_row_numel(x), bstride = o->baseline->shape[0] == 1 ? 0 : d, gd = d;
    memset(out, 0, sizeof *out);
    int head = attr_linear_head(r, x, ATTR_HEAD_RATIO, &gd);
    if (head < 0) gd = d;
    double *alpha = malloc(sizeof(double) * (size_t)o->steps * 2), *acc = calloc((size_t)(n * gd), sizeof(double));
    int rc = alpha && acc ? SN_OK : sn_errorf("out of memory");
    const float *xv = tensor_data(x), *bv = tensor_data(o->baseline);
    /* With a linear head h, h(b + a (x - b)) = h(b) + a (h(x) - h(b)): the
     * rows start after the head, from h(x) and h(b) computed once. */
    float *zx = NULL, *zb = NULL;
    int64_t nb = o->baseline->shape[0];
    if (rc == SN_OK && head >= 0) {
        zx = malloc(sizeof(float) * (size_t)((n + nb) * gd));
        zb = zx ? zx + n * gd : NULL;
        rc = zx ? attr_head_forward(r, head, x, zx) : sn_errorf("out of memory");
        if (rc == SN_OK) rc = attr_head_forward(r, head, o->baseline, zb);
    }
    if (rc == SN_OK) {
        attr_ig_rule(o->rule, o->steps, alpha, alpha + o->steps);
        IgCtx c = {.x = xv, .base = bv, .d = d, .gd = gd, .steps = o->steps, .base_stride = bstride, .alpha = alpha,
                   .weight = alpha + o->steps, .acc = acc};
        if (head >= 0) c.x = zx, c.base = zb, c.d = gd, c.base_stride = nb == 1 ? 0 : gd;
        AttrRows s;
        attr_rows_init(&s, x, o->steps);
        s.head = head, s.fill = ig_fill, s.fill_head = head >= 0 ? ig_fill : NULL, s.consume = ig_consume, s.ctx = &c;
        s.rowwise = 1;
        rc = attr_rows_run(r, targets, &s);
    }
    free(zx);
    if (rc == SN_OK) rc = tensor_init_like(out, x);
    float *ov = rc == SN_OK ? tensor_data(out) : NULL;
    if (rc == SN_OK && head >= 0) { /* out = sum_k w_k grad_k through the head's transpose, once */
        float *dz = malloc(sizeof(float) * (size_t)(n * gd));
        if (!dz) rc = sn_errorf("out of memory");
        for (int64_t q = 0; rc == SN_OK && q < n * gd; q++) dz[q] = (float)acc[q];
        if (rc == SN_OK) rc = attr_head_backward(r, head, x, dz, ov);
        free(dz);
        for (int64_t i = 0; rc == SN_OK && i < n; i++)
            for (int64_t j = 0; j < d; j++) ov[i * d + j] *= xv[i * d + j] - bv[i * bstride + j];
    } else if (rc == SN_OK) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < d; j++)
                ov[i * d + j] = (float)((double)(xv[i * d + j] - bv[i * bstride + j]) * acc[i * d + j]);
    }
    if (rc == SN_OK && gap) rc = ig_gap(r, x, o->baseline, targets, ov, gap);
    if (rc != SN_OK) tensor_release(out);
    free(alpha), free(acc);
    return rc;
}

/* ---- GradientShap ------------------------------------------------------ */

typedef struct {
    const float *x, *bases; /* [N, D], [B, D] */
    int64_t d, draws, nbases;
    float stdev;
    uint64_t seed;
    float *fill_dst, *delta; /* delta[chunk, D] = x~ - b of the chunk's rows */
    int64_t r0;
    double *acc;
    int nthreads;
} ShapCtx;

static int shap_fill_range(void *p, int64_t b, int64_t e, int worker) {
    (void)worker;
    ShapCtx *c = p;
    for (int64_t q = b; q < e; q++) {
        int64_t row = c->r0 + q, i = row / c->draws, j = row % c->draws, k;
        float a, *dst = c->fill_dst + q * c->d, *delta = c->delta + q * c->d;
        const float *x = c->x + i * c->d;
        rng_integers(&k, 1, 0, c->nbases - 1, c->seed, rng_stream("gradient_shap.baseline", (uint64_t)i, (uint64_t)j));
        rng_uniform(&a, 1, c->seed, rng_stream("gradient_shap.alpha", (uint64_t)i, (uint64_t)j), 0);
        const float *bs = c->bases + k * c->d;
        if (c->stdev > 0) { /* x~ = x + stdev eps, kept in dst for now */
            attr_normal(dst, c->d, c->seed, rng_stream("gradient_shap.noise", (uint64_t)i, (uint64_t)j));
            for (int64_t t = 0; t < c->d; t++) dst[t] = x[t] + c->stdev * dst[t];
        } else {
            memcpy(dst, x, sizeof(float) * (size_t)c->d);
        }
        for (int64_t t = 0; t < c->d; t++) {
            delta[t] = dst[t] - bs[t];
            dst[t] = bs[t] + a * delta[t];
        }
    }
    return SN_OK;
}

static int shap_fill(void *p, int64_t r0, int64_t len, float *in, int nthreads) {
    ShapCtx *c = p;
    c->fill_dst = in, c->r0 = r0;
    return nn_parallel(nthreads, len, 16, shap_fill_range, c);
}

static int shap_consume(void *p, int64_t r0, int64_t len, const float *g, const float *score, int nthreads) {
    (void)nthreads;
    (void)score;
    ShapCtx *c = p;
    for (int64_t q = 0; q < len; q++) {
        double *acc = c->acc + (r0 + q) / c->draws * c->d;
        const float *gq = g + q * c->d, *dq = c->delta + q * c->d;
        for (int64_t t = 0; t < c->d; t++) acc[t] += (double)(gq[t] * dq[t]);
    }
    return SN_OK;
}

int attr_gradient_shap(const AttrRun *r, const Tensor *x, const float *targets, const AttrShapOptions *o, Tensor *out) {
    int64_t n = x->shape[0], d = tensor_row_numel(x), rows = n * o->n;
    int64_t chunk = attr_chunk_rows(r, d), cap = rows < chunk ? rows : chunk;
    memset(out, 0, sizeof *out);
    double *acc = calloc((size_t)(n * d), sizeof(double));
    float *delta = malloc(sizeof(float) * (size_t)(cap * d));
    int rc = acc && delta ? SN_OK : sn_errorf("out of memory");
    if (rc == SN_OK) {
        ShapCtx c = {tensor_data(x), tensor_data(o->baselines), d, o->n, o->baselines->shape[0], o->stdev, r->seed,
                     NULL, delta, 0, acc, r->nthreads};
        AttrRows s;
        attr_rows_init(&s, x, o->n);
        s.fill = shap_fill, s.consume = shap_consume, s.ctx = &c; /* not rowwise: consume reads the chunk's delta */
        rc = attr_rows_run(r, targets, &s);
    }
    if (rc == SN_OK && (rc = tensor_init_like(out, x)) == SN_OK) {
        float *ov = tensor_data(out);
        for (int64_t q = 0; q < n * d; q++) ov[q] = (float)(acc[q] / o->n);
    }
    free(acc), free(delta);
    return rc;
}

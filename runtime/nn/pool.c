/* nn/pool.c — max, average and adaptive average 2-d pooling (see pool.h)
 * and their LayerOps. Each (sample, channel) plane is independent, so the
 * kernels loop over planes in parallel; windows follow PyTorch exactly
 * (floor mode, padding at most half the kernel). */
#include "nn/pool.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "error.h"

void pool_geom(PoolGeom *g, const LayerConfig *c, LayerKind kind, const Shape *in) {
    g->planes = in->dim[0] * in->dim[1];
    g->h = (int)in->dim[2], g->w = (int)in->dim[3];
    g->kh = c->kernel[0], g->kw = c->kernel[1];
    g->sh = c->stride[0], g->sw = c->stride[1];
    g->ph = c->padding[0], g->pw = c->padding[1];
    g->count_include_pad = c->count_include_pad;
    if (kind == LAYER_ADAPTIVE_AVGPOOL2D) {
        g->oh = c->output_size[0], g->ow = c->output_size[1];
    } else {
        g->oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1;
        g->ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
    }
}

static int64_t grain_for(int64_t n, int nthreads) {
    int64_t g = n / (8 * (int64_t)(nthreads > 0 ? nthreads : 1));
    return g < 1 ? 1 : g;
}

typedef struct {
    const PoolGeom *g;
    float *out, *argmax;
    const float *x, *dout, *idx;
    int relu;     /* max forward: pool relu(x) (maxpool2d_forward) */
    int adaptive; /* averaging windows of adaptive_avgpool2d, not avgpool2d */
    int assign;   /* backward: dx is uninitialized (each plane is zeroed first, in cache) */
} PoolJob;

static void zero_plane(float *dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = 0;
}

static int is_2x2(const PoolGeom *g) {
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0;
}

/* The ReLU of activation.c, NaN to 0 included. */
static inline float relu_of(float v) {
    return v > 0 ? v : 0.0f;
}

#ifdef __SSE2__
/* Windows ow..ow+3 with SSE2 selects (and/andnot/or): the scalar selects
 * below compile to branches once a ReLU precedes the comparisons, and the
 * comparisons of real activations are unpredictable. Same scan order, tie
 * and NaN rules. */
static inline void max_fwd_2x2_sse(const float *r0, const float *r1, int w, int base, int ow, float *orow,
                                   float *arow, const int RELU) {
    const __m128 zero = _mm_setzero_ps();
    __m128 a = _mm_loadu_ps(r0 + 2 * ow), b = _mm_loadu_ps(r0 + 2 * ow + 4);
    __m128 c = _mm_loadu_ps(r1 + 2 * ow), d = _mm_loadu_ps(r1 + 2 * ow + 4);
    __m128 v[4] = {_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)),
                   _mm_shuffle_ps(c, d, _MM_SHUFFLE(2, 0, 2, 0)), _mm_shuffle_ps(c, d, _MM_SHUFFLE(3, 1, 3, 1))};
    const int offs[4] = {0, 1, w, w + 1};
    if (RELU)
        for (int q = 0; q < 4; q++) v[q] = _mm_and_ps(v[q], _mm_cmpgt_ps(v[q], zero));
    __m128 best = v[0];
    __m128i bi = _mm_setzero_si128();
    for (int q = 1; q < 4; q++) {
        __m128 t = _mm_cmpgt_ps(v[q], best);
        if (!RELU) t = _mm_or_ps(t, _mm_cmpunord_ps(v[q], v[q]));
        best = _mm_or_ps(_mm_and_ps(t, v[q]), _mm_andnot_ps(t, best));
        __m128i ti = _mm_castps_si128(t);
        bi = _mm_or_si128(_mm_and_si128(ti, _mm_set1_epi32(offs[q])), _mm_andnot_si128(ti, bi));
    }
    _mm_storeu_ps(orow + ow, best);
    if (arow) {
        __m128i idx = _mm_add_epi32(_mm_set1_epi32(base + 2 * ow), _mm_add_epi32(_mm_setr_epi32(0, 2, 4, 6), bi));
        __m128 f = _mm_cvtepi32_ps(idx);
        if (RELU) { /* -1 where the maximum is 0: the ReLU passes no gradient */
            __m128 pos = _mm_cmpgt_ps(best, zero);
            f = _mm_or_ps(_mm_and_ps(pos, f), _mm_andnot_ps(pos, _mm_set1_ps(-1.0f)));
        }
        _mm_storeu_ps(arow + ow, f);
    }
}
#endif

/* The common 2x2 stride-2 unpadded case, same scan order and tie/NaN rule
 * as the general loop below, written with selects instead of branches (the
 * comparisons of real activations are unpredictable). The first element
 * always starts the scan: it beats -inf or equals it. RELU: of relu(x). */
static inline void max_fwd_2x2_body(const PoolGeom *g, float *restrict o, float *restrict am, const float *restrict x,
                                    const int RELU) {
    for (int oh = 0; oh < g->oh; oh++) {
        const float *r0 = x + (int64_t)2 * oh * g->w, *r1 = r0 + g->w;
        const int base = 2 * oh * g->w;
        float *orow = o + oh * g->ow, *arow = am ? am + oh * g->ow : NULL;
        int ow = 0;
#ifdef __SSE2__
        if (g->ow >= 4) { /* groups of four, the last one overlapping (it rewrites the same values) */
            for (; ow + 4 <= g->ow; ow += 4) max_fwd_2x2_sse(r0, r1, g->w, base, ow, orow, arow, RELU);
            if (ow < g->ow) max_fwd_2x2_sse(r0, r1, g->w, base, g->ow - 4, orow, arow, RELU);
            continue;
        }
#endif
        for (; ow < g->ow; ow++) {
            float v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
            if (RELU) /* no NaN is left to win */
                v0 = relu_of(v0), v1 = relu_of(v1), v2 = relu_of(v2), v3 = relu_of(v3);
            float best = v0;
            int bi = 0, t;
            t = v1 > best || (!RELU && v1 != v1), best = t ? v1 : best, bi = t ? 1 : bi;
            t = v2 > best || (!RELU && v2 != v2), best = t ? v2 : best, bi = t ? g->w : bi;
            t = v3 > best || (!RELU && v3 != v3), best = t ? v3 : best, bi = t ? g->w + 1 : bi;
            orow[ow] = best;
            if (arow) arow[ow] = RELU && !(best > 0) ? -1.0f : (float)(base + 2 * ow + bi);
        }
    }
}

static void max_fwd_2x2(const PoolGeom *g, float *restrict o, float *restrict am, const float *restrict x, int relu) {
    if (relu)
        max_fwd_2x2_body(g, o, am, x, 1);
    else
        max_fwd_2x2_body(g, o, am, x, 0);
}

static int max_fwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    PoolJob *j = ctx;
    const PoolGeom *g = j->g;
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    if (is_2x2(g)) {
        for (int64_t p = b; p < e; p++)
            max_fwd_2x2(g, j->out + p * ohw, j->argmax ? j->argmax + p * ohw : NULL, j->x + p * hw, j->relu);
        return SN_OK;
    }
    for (int64_t p = b; p < e; p++) {
        const float *x = j->x + p * hw;
        float *o = j->out + p * ohw, *am = j->argmax ? j->argmax + p * ohw : NULL;
        for (int oh = 0; oh < g->oh; oh++) {
            int hs = oh * g->sh - g->ph, he = hs + g->kh < g->h ? hs + g->kh : g->h;
            if (hs < 0) hs = 0;
            for (int ow = 0; ow < g->ow; ow++) {
                int ws = ow * g->sw - g->pw, we = ws + g->kw < g->w ? ws + g->kw : g->w;
                if (ws < 0) ws = 0;
                float best = -INFINITY;
                int bi = hs * g->w + ws;
                for (int ih = hs; ih < he; ih++)
                    for (int iw = ws; iw < we; iw++) {
                        float v = j->relu ? relu_of(x[ih * g->w + iw]) : x[ih * g->w + iw];
                        if (v > best || isnan(v)) best = v, bi = ih * g->w + iw; /* as PyTorch: NaN wins */
                    }
                o[oh * g->ow + ow] = best;
                if (am) am[oh * g->ow + ow] = j->relu && !(best > 0) ? -1.0f : (float)bi;
            }
        }
    }
    return SN_OK;
}

int maxpool2d_forward(float *out, float *argmax, const float *x, const PoolGeom *g, int relu, int nthreads) {
    PoolJob j = {.g = g, .out = out, .argmax = argmax, .x = x, .relu = relu};
    return nn_parallel(nthreads, g->planes, grain_for(g->planes, nthreads), max_fwd, &j);
}

#ifdef __SSE2__
/* Windows ow..ow+3 of a row pair: each cell gets dy where it won, else +0
 * (and-masks: the bits of the scalar selects). */
static inline void max_bwd_2x2_sse(float *r0, float *r1, const float *dy, const float *am, int w, int base, int ow) {
    const __m128 v = _mm_loadu_ps(dy + ow);
    const __m128i k = _mm_sub_epi32(_mm_cvttps_epi32(_mm_loadu_ps(am + ow)),
                                    _mm_add_epi32(_mm_set1_epi32(base + 2 * ow), _mm_setr_epi32(0, 2, 4, 6)));
    const __m128 e0 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_setzero_si128())), v),
                 e1 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_set1_epi32(1))), v),
                 e2 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_set1_epi32(w))), v),
                 e3 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_set1_epi32(w + 1))), v);
    _mm_storeu_ps(r0 + 2 * ow, _mm_unpacklo_ps(e0, e1));
    _mm_storeu_ps(r0 + 2 * ow + 4, _mm_unpackhi_ps(e0, e1));
    _mm_storeu_ps(r1 + 2 * ow, _mm_unpacklo_ps(e2, e3));
    _mm_storeu_ps(r1 + 2 * ow + 4, _mm_unpackhi_ps(e2, e3));
}
#endif

/* The 2x2 stride-2 case writing each window's four gradients (the winner
 * gets dy, the others 0; all 0 for argmax -1) instead of zeroing the plane
 * and scattering; cells outside every window (odd sizes) are zeroed. */
static void max_bwd_2x2_assign(const PoolGeom *g, float *restrict dx, const float *restrict dy,
                               const float *restrict am) {
    if (g->h != 2 * g->oh || g->w != 2 * g->ow) zero_plane(dx, (int64_t)g->h * g->w);
    for (int oh = 0; oh < g->oh; oh++) {
        float *r0 = dx + (int64_t)2 * oh * g->w, *r1 = r0 + g->w;
        const int base = 2 * oh * g->w;
        int ow = 0;
#ifdef __SSE2__
        if (g->ow >= 4) { /* groups of four, the last one overlapping (it rewrites the same values) */
            for (; ow + 4 <= g->ow; ow += 4) max_bwd_2x2_sse(r0, r1, dy + oh * g->ow, am + oh * g->ow, g->w, base, ow);
            if (ow < g->ow) max_bwd_2x2_sse(r0, r1, dy + oh * g->ow, am + oh * g->ow, g->w, base, g->ow - 4);
            continue;
        }
#endif
        for (; ow < g->ow; ow++) {
            const int k = (int)am[oh * g->ow + ow] - (base + 2 * ow);
            const float v = dy[oh * g->ow + ow];
            r0[2 * ow] = k == 0 ? v : 0.0f;
            r0[2 * ow + 1] = k == 1 ? v : 0.0f;
            r1[2 * ow] = k == g->w ? v : 0.0f;
            r1[2 * ow + 1] = k == g->w + 1 ? v : 0.0f;
        }
    }
}

static int max_bwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    PoolJob *j = ctx;
    const PoolGeom *g = j->g;
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    if (j->assign && is_2x2(g)) {
        for (int64_t p = b; p < e; p++) max_bwd_2x2_assign(g, j->out + p * hw, j->dout + p * ohw, j->idx + p * ohw);
        return SN_OK;
    }
    for (int64_t p = b; p < e; p++) {
        float *dx = j->out + p * hw;
        const float *dy = j->dout + p * ohw, *am = j->idx + p * ohw;
        if (j->assign) zero_plane(dx, hw);
        for (int64_t k = 0; k < ohw; k++)
            if (am[k] >= 0) dx[(int64_t)am[k]] += dy[k];
    }
    return SN_OK;
}

static int run_max_bwd(float *dx, const float *dout, const float *argmax, const PoolGeom *g, int assign, int nthreads) {
    PoolJob j = {.g = g, .out = dx, .dout = dout, .idx = argmax, .assign = assign};
    return nn_parallel(nthreads, g->planes, grain_for(g->planes, nthreads), max_bwd, &j);
}

int maxpool2d_backward(float *dx, const float *dout, const float *argmax, const PoolGeom *g, int nthreads) {
    return run_max_bwd(dx, dout, argmax, g, 0, nthreads);
}

/* Window of output (oh, ow) for average pooling: [hs, he) x [ws, we) and
 * the divisor PyTorch uses. */
static inline float avg_window(const PoolGeom *g, int oh, int ow, int *hs, int *he, int *ws, int *we) {
    int h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
    int h1 = h0 + g->kh < g->h + g->ph ? h0 + g->kh : g->h + g->ph;
    int w1 = w0 + g->kw < g->w + g->pw ? w0 + g->kw : g->w + g->pw;
    int padded = (h1 - h0) * (w1 - w0);
    if (h0 < 0) h0 = 0;
    if (w0 < 0) w0 = 0;
    if (h1 > g->h) h1 = g->h;
    if (w1 > g->w) w1 = g->w;
    *hs = h0, *he = h1, *ws = w0, *we = w1;
    return (float)(g->count_include_pad ? padded : (h1 - h0) * (w1 - w0));
}

static inline void adaptive_range(int i, int in, int out, int *s, int *e) {
    *s = (int)(((int64_t)i * in) / out);
    *e = (int)(((int64_t)(i + 1) * in + out - 1) / out);
}

/* The window of output (oh, ow) and the divisor of its average. */
static inline float window(const PoolJob *j, int oh, int ow, int *hs, int *he, int *ws, int *we) {
    if (!j->adaptive) return avg_window(j->g, oh, ow, hs, he, ws, we);
    adaptive_range(oh, j->g->h, j->g->oh, hs, he);
    adaptive_range(ow, j->g->w, j->g->ow, ws, we);
    return (float)((*he - *hs) * (*we - *ws));
}

static int avg_fwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    PoolJob *j = ctx;
    const PoolGeom *g = j->g;
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    for (int64_t p = b; p < e; p++) {
        const float *x = j->x + p * hw;
        float *o = j->out + p * ohw;
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                int hs, he, ws, we;
                float div = window(j, oh, ow, &hs, &he, &ws, &we), s = 0;
                for (int ih = hs; ih < he; ih++)
                    for (int iw = ws; iw < we; iw++) s += x[ih * g->w + iw];
                o[oh * g->ow + ow] = s / div;
            }
    }
    return SN_OK;
}

int avgpool2d_forward(float *out, const float *x, const PoolGeom *g, int nthreads) {
    PoolJob j = {.g = g, .out = out, .x = x};
    return nn_parallel(nthreads, g->planes, grain_for(g->planes, nthreads), avg_fwd, &j);
}

static int avg_bwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    PoolJob *j = ctx;
    const PoolGeom *g = j->g;
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    for (int64_t p = b; p < e; p++) {
        float *dx = j->out + p * hw;
        const float *dy = j->dout + p * ohw;
        if (j->assign) zero_plane(dx, hw);
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                int hs, he, ws, we;
                float v = dy[oh * g->ow + ow] / window(j, oh, ow, &hs, &he, &ws, &we);
                for (int ih = hs; ih < he; ih++)
                    for (int iw = ws; iw < we; iw++) dx[ih * g->w + iw] += v;
            }
    }
    return SN_OK;
}

static int run_avg_bwd(float *dx, const float *dout, const PoolGeom *g, int adaptive, int assign, int nthreads) {
    PoolJob j = {.g = g, .out = dx, .dout = dout, .adaptive = adaptive, .assign = assign};
    return nn_parallel(nthreads, g->planes, grain_for(g->planes, nthreads), avg_bwd, &j);
}

int avgpool2d_backward(float *dx, const float *dout, const PoolGeom *g, int nthreads) {
    return run_avg_bwd(dx, dout, g, 0, 0, nthreads);
}

int adaptive_avgpool2d_forward(float *out, const float *x, const PoolGeom *g, int nthreads) {
    PoolJob j = {.g = g, .out = out, .x = x, .adaptive = 1};
    return nn_parallel(nthreads, g->planes, grain_for(g->planes, nthreads), avg_fwd, &j);
}

int adaptive_avgpool2d_backward(float *dx, const float *dout, const PoolGeom *g, int nthreads) {
    return run_avg_bwd(dx, dout, g, 1, 0, nthreads);
}

/* ---- LayerOps ---- */

static int pool_check(const LayerConfig *c) {
    for (int i = 0; i < 2; i++) {
        if (c->kernel[i] < 1) return sn_errorf("kernel_size must be at least 1, got %d", c->kernel[i]);
        if (c->stride[i] < 1) return sn_errorf("stride must be at least 1, got %d", c->stride[i]);
        if (c->padding[i] < 0) return sn_errorf("padding must be non-negative, got %d", c->padding[i]);
        if (c->padding[i] > c->kernel[i] / 2)
            return sn_errorf("padding (%d) must be at most half the kernel size (%d)", c->padding[i], c->kernel[i]);
    }
    return SN_OK;
}

static int adaptive_check(const LayerConfig *c) {
    if (c->output_size[0] < 1 || c->output_size[1] < 1)
        return sn_errorf("output_size must be at least 1, got %dx%d", c->output_size[0], c->output_size[1]);
    return SN_OK;
}

/* Planes are indexed with int, and maxpool's argmax is kept as a float
 * (exact below 2^24). */
static int expect_4d(const Shape *in) {
    char buf[160];
    if (in->ndim != 4) return sn_errorf("expected a 4-d input [N, C, H, W], got %s", shape_fmt(in, buf, sizeof buf));
    if (in->dim[2] * in->dim[3] > (INT64_C(1) << 24))
        return sn_errorf("input plane %lldx%lld is too large (at most 2^24 elements)", (long long)in->dim[2],
                         (long long)in->dim[3]);
    return SN_OK;
}

static int pool_out_shape(const LayerConfig *c, const Shape *in, Shape *out) {
    if (expect_4d(in) != SN_OK) return SN_ERR;
    int64_t oh = (in->dim[2] + 2 * c->padding[0] - c->kernel[0]), ow = (in->dim[3] + 2 * c->padding[1] - c->kernel[1]);
    if (oh < 0 || ow < 0) {
        char buf[160];
        return sn_errorf("input %s is too small for kernel %dx%d with padding %dx%d", shape_fmt(in, buf, sizeof buf),
                         c->kernel[0], c->kernel[1], c->padding[0], c->padding[1]);
    }
    *out = (Shape){4, {in->dim[0], in->dim[1], oh / c->stride[0] + 1, ow / c->stride[1] + 1}};
    return SN_OK;
}

static int adaptive_out_shape(const LayerConfig *c, const Shape *in, Shape *out) {
    if (expect_4d(in) != SN_OK) return SN_ERR;
    if (in->dim[2] < 1 || in->dim[3] < 1) {
        char buf[160];
        return sn_errorf("input %s has an empty plane", shape_fmt(in, buf, sizeof buf));
    }
    *out = (Shape){4, {in->dim[0], in->dim[1], c->output_size[0], c->output_size[1]}};
    return SN_OK;
}

static void geom_of(PoolGeom *g, const Node *n, const Tensor *x) {
    Shape s = shape_of(x);
    pool_geom(g, &n->cfg, n->kind, &s);
}

static int max_forward(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    PoolGeom g;
    geom_of(&g, n, in[0]);
    Shape s = shape_of(out);
    if (nn_ensure(&n->saved, &s, 0) != SN_OK) return SN_ERR;
    return maxpool2d_forward(tensor_data(out), tensor_data(&n->saved), tensor_data(in[0]), &g, run->relu_input,
                             run->nthreads);
}

static int max_backward(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,
                        const LayerRun *run) {
    if (!d_in[0]) return SN_OK;
    PoolGeom g;
    geom_of(&g, n, in[0]);
    return run_max_bwd(tensor_data(d_in[0]), tensor_data(d_out), tensor_data(&n->saved), &g, run->fresh & 1,
                       run->nthreads);
}

static int avg_forward(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    PoolGeom g;
    geom_of(&g, n, in[0]);
    return avgpool2d_forward(tensor_data(out), tensor_data(in[0]), &g, run->nthreads);
}

static int avg_backward(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,
                        const LayerRun *run) {
    if (!d_in[0]) return SN_OK;
    PoolGeom g;
    geom_of(&g, n, in[0]);
    return run_avg_bwd(tensor_data(d_in[0]), tensor_data(d_out), &g, 0, run->fresh & 1, run->nthreads);
}

static int adaptive_forward(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    PoolGeom g;
    geom_of(&g, n, in[0]);
    return adaptive_avgpool2d_forward(tensor_data(out), tensor_data(in[0]), &g, run->nthreads);
}

static int adaptive_backward(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,
                             const LayerRun *run) {
    if (!d_in[0]) return SN_OK;
    PoolGeom g;
    geom_of(&g, n, in[0]);
    return run_avg_bwd(tensor_data(d_in[0]), tensor_data(d_out), &g, 1, run->fresh & 1, run->nthreads);
}

const LayerOps layer_maxpool2d_ops = {"maxpool2d",  1,      0, pool_check, layer_no_params, pool_out_shape, max_forward,
                                      max_backward, layer_no_init, 1};
const LayerOps layer_avgpool2d_ops = {"avgpool2d",  1,      0, pool_check, layer_no_params, pool_out_shape, avg_forward,
                                      avg_backward, layer_no_init, 1};
const LayerOps layer_adaptive_avgpool2d_ops = {
    "adaptive_avgpool2d", 1,      0, adaptive_check, layer_no_params, adaptive_out_shape, adaptive_forward,
    adaptive_backward,    layer_no_init, 1};

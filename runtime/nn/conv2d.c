/* nn/conv2d.c — 2-d convolution by im2col + cblas_sgemm, one GEMM per sample
 * and group (see conv2d.h), and the LayerOps of kind "conv2d".
 * Not here: transposed convolution, padding modes other than zeros. */
#include "nn/conv2d.h"

#include <cblas.h>
#include <string.h>

#include "error.h"

int64_t conv_out_size(int64_t in, int k, int s, int p, int d) {
    int64_t num = in + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1;
    return num < 0 ? 0 : num / s + 1;
}

void conv2d_geom(Conv2dGeom *g, const LayerConfig *c, const Shape *in) {
    g->n = in->dim[0];
    g->c = (int)in->dim[1];
    g->h = (int)in->dim[2];
    g->w = (int)in->dim[3];
    g->oc = c->out;
    g->kh = c->kernel[0], g->kw = c->kernel[1];
    g->sh = c->stride[0], g->sw = c->stride[1];
    g->ph = c->padding[0], g->pw = c->padding[1];
    g->dh = c->dilation[0], g->dw = c->dilation[1];
    g->groups = c->groups;
    g->oh = (int)conv_out_size(g->h, g->kh, g->sh, g->ph, g->dh);
    g->ow = (int)conv_out_size(g->w, g->kw, g->sw, g->pw, g->dw);
}

/* Short runs (a row of a small image) are copied and zeroed with unrolled
 * loops: library memcpy/memset calls cost more than the copy itself here. */
static inline void copy_run(float *restrict d, const float *restrict s, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        d[i] = s[i], d[i + 1] = s[i + 1], d[i + 2] = s[i + 2], d[i + 3] = s[i + 3];
        d[i + 4] = s[i + 4], d[i + 5] = s[i + 5], d[i + 6] = s[i + 6], d[i + 7] = s[i + 7];
    }
    if (i + 4 <= n) {
        d[i] = s[i], d[i + 1] = s[i + 1], d[i + 2] = s[i + 2], d[i + 3] = s[i + 3];
        i += 4;
    }
    for (; i < n; i++) d[i] = s[i];
}

static inline void zero_run(float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) d[i] = 0, d[i + 1] = 0, d[i + 2] = 0, d[i + 3] = 0;
    for (; i < n; i++) d[i] = 0;
}

int64_t conv2d_pad_floats(const Conv2dGeom *g) {
    if (g->ph == 0 && g->pw == 0) return 0;
    return (int64_t)(g->c / g->groups) * (g->h + 2 * g->ph) * (g->w + 2 * g->pw);
}

/* Channels [c0, c0+cg) of one sample as zero-padded planes [cg, Hp, Wp] in
 * xp, so the row copies below need no bounds logic. Returns the planes to
 * read: xp, or x itself when there is no padding. */
static const float *padded(float *xp, const float *x, int c0, int cg, const Conv2dGeom *g) {
    const float *xc = x + (int64_t)c0 * g->h * g->w;
    if (g->ph == 0 && g->pw == 0) return xc;
    const int hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
    for (int c = 0; c < cg; c++) {
        float *p = xp + (int64_t)c * hp * wp;
        const float *src = xc + (int64_t)c * g->h * g->w;
        zero_run(p, (int64_t)g->ph * wp);
        for (int i = 0; i < g->h; i++) {
            float *r = p + (int64_t)(i + g->ph) * wp;
            zero_run(r, g->pw);
            copy_run(r + g->pw, src + (int64_t)i * g->w, g->w);
            zero_run(r + g->pw + g->w, g->pw);
        }
        zero_run(p + (int64_t)(g->h + g->ph) * wp, (int64_t)g->ph * wp);
    }
    return xp;
}

/* Rows [oh0, oh1) of the columns, from planes already padded (base, with
 * padded width wp): col[cg*KH*KW, (oh1-oh0)*OW]. */
static void im2col_rows(float *col, const float *base, int cg, const Conv2dGeom *g, int oh0, int oh1) {
    const int64_t n = (int64_t)(oh1 - oh0) * g->ow;
    const int hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
    for (int c = 0; c < cg; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                float *row = col + ((int64_t)(c * g->kh + ki) * g->kw + kj) * n;
                const float *src = base + (int64_t)c * hp * wp + (int64_t)ki * g->dh * wp + (int64_t)kj * g->dw;
                for (int oh = oh0; oh < oh1; oh++) {
                    float *r = row + (int64_t)(oh - oh0) * g->ow;
                    const float *s = src + (int64_t)oh * g->sh * wp;
                    if (g->sw == 1)
                        copy_run(r, s, g->ow);
                    else
                        for (int o = 0; o < g->ow; o++) r[o] = s[(int64_t)o * g->sw];
                }
            }
}

/* The adjoint of im2col_rows: base (padded planes) += scattered columns. */
static void col2im_rows(float *base, const float *col, int cg, const Conv2dGeom *g, int oh0, int oh1) {
    const int64_t n = (int64_t)(oh1 - oh0) * g->ow;
    const int hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
    for (int c = 0; c < cg; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                const float *row = col + ((int64_t)(c * g->kh + ki) * g->kw + kj) * n;
                float *dst = base + (int64_t)c * hp * wp + (int64_t)ki * g->dh * wp + (int64_t)kj * g->dw;
                for (int oh = oh0; oh < oh1; oh++) {
                    const float *r = row + (int64_t)(oh - oh0) * g->ow;
                    float *d = dst + (int64_t)oh * g->sh * wp;
                    if (g->sw == 1)
                        for (int o = 0; o < g->ow; o++) d[o] += r[o];
                    else
                        for (int o = 0; o < g->ow; o++) d[(int64_t)o * g->sw] += r[o];
                }
            }
}

/* Gradient planes for col2im: the zeroed padded scratch, or dx itself. */
static float *grad_planes(float *dxp, float *dx, int c0, int cg, const Conv2dGeom *g) {
    if (!g->ph && !g->pw) return dx + (int64_t)c0 * g->h * g->w;
    zero_run(dxp, (int64_t)cg * (g->h + 2 * g->ph) * (g->w + 2 * g->pw));
    return dxp;
}

/* dx += the interior of the padded gradient planes (no-op without padding). */
static void unpad_add(float *dx, const float *dxp, int c0, int cg, const Conv2dGeom *g) {
    if (!g->ph && !g->pw) return;
    const int hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
    for (int c = 0; c < cg; c++)
        for (int i = 0; i < g->h; i++) {
            float *d = dx + ((int64_t)(c0 + c) * g->h + i) * g->w;
            const float *p = dxp + ((int64_t)c * hp + i + g->ph) * wp + g->pw;
            for (int k = 0; k < g->w; k++) d[k] += p[k];
        }
}

void conv2d_im2col(float *col, float *xp, const float *x, int c0, int cg, const Conv2dGeom *g) {
    im2col_rows(col, padded(xp, x, c0, cg, g), cg, g, 0, g->oh);
}

void conv2d_col2im(float *dx, float *dxp, const float *col, int c0, int cg, const Conv2dGeom *g) {
    col2im_rows(grad_planes(dxp, dx, c0, cg, g), col, cg, g, 0, g->oh);
    unpad_add(dx, dxp, c0, cg, g);
}

/* 1x1, stride 1, no padding: the input planes are the columns already. */
static int is_pointwise(const Conv2dGeom *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* Output rows per tile: the columns of one tile stay within ~128 KB, so
 * im2col writes them to L2 and the GEMM reads them back from there. The
 * tiling depends on the layer only, so GEMM shapes stay per-sample fixed. */
static int tile_rows(const Conv2dGeom *g) {
    int64_t k = (int64_t)(g->c / g->groups) * g->kh * g->kw;
    int64_t r = 32768 / (k * g->ow > 0 ? k * g->ow : 1);
    return r < 1 ? 1 : r > g->oh ? g->oh : (int)r;
}

static int64_t col_floats(const Conv2dGeom *g) {
    return (int64_t)(g->c / g->groups) * g->kh * g->kw * tile_rows(g) * g->ow;
}

/* Per-worker scratch: one tile's columns, then one group's padded planes. */
static int64_t scratch_floats(const Conv2dGeom *g) {
    return nn_scratch_stride(col_floats(g)) + conv2d_pad_floats(g);
}

typedef struct {
    const Conv2dGeom *g;
    float *out;
    const float *x, *w, *b, *dout;
    float *scratch; /* per worker/slot: scratch_floats() */
    int64_t stride;
    int accumulate; /* forward_range adds into out (backward as a convolution) */
} ConvJob;

static int forward_range(void *ctx, int64_t b, int64_t e, int worker) {
    ConvJob *j = ctx;
    const Conv2dGeom *g = j->g;
    const int cg = g->c / g->groups, ocg = g->oc / g->groups, K = cg * g->kh * g->kw, tr = tile_rows(g);
    const int64_t ohw = (int64_t)g->oh * g->ow, hw = (int64_t)g->h * g->w;
    float *col = j->scratch + worker * j->stride, *xp = col + nn_scratch_stride(col_floats(g));
    for (int64_t s = b; s < e; s++) {
        const float *xs = j->x + s * g->c * hw;
        float *os = j->out + s * g->oc * ohw;
        for (int gi = 0; gi < g->groups; gi++) {
            const float *wg = j->w + (int64_t)gi * ocg * K;
            float *og = os + (int64_t)gi * ocg * ohw;
            if (j->b)
                for (int o = 0; o < ocg; o++) {
                    float v = j->b[gi * ocg + o], *r = og + o * ohw;
                    for (int64_t p = 0; p < ohw; p++) r[p] = v;
                }
            float beta = j->b || j->accumulate ? 1.0f : 0.0f;
            if (is_pointwise(g)) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ocg, (int)ohw, K, 1.0f, wg, K,
                            xs + (int64_t)gi * cg * hw, (int)ohw, beta, og, (int)ohw);
                continue;
            }
            const float *base = padded(xp, xs, gi * cg, cg, g);
            for (int oh0 = 0; oh0 < g->oh; oh0 += tr) {
                int oh1 = oh0 + tr < g->oh ? oh0 + tr : g->oh, n = (oh1 - oh0) * g->ow;
                im2col_rows(col, base, cg, g, oh0, oh1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ocg, n, K, 1.0f, wg, K, col, n, beta,
                            og + (int64_t)oh0 * g->ow, (int)ohw);
            }
        }
    }
    return SN_OK;
}

static int64_t grain_for(int64_t n, int nthreads) {
    int64_t g = n / (4 * (int64_t)(nthreads > 0 ? nthreads : 1));
    return g < 1 ? 1 : g;
}

int conv2d_forward(float *out, const float *x, const float *w, const float *b, const Conv2dGeom *g, int nthreads) {
    int64_t grain = grain_for(g->n, nthreads);
    int workers = nn_workers(nthreads, g->n, grain);
    ConvJob j = {.g = g, .out = out, .x = x, .w = w, .b = b, .stride = nn_scratch_stride(scratch_floats(g))};
    j.scratch = nn_scratch_alloc(is_pointwise(g) ? 1 : workers, is_pointwise(g) ? 1 : scratch_floats(g));
    if (!j.scratch) return SN_ERR;
    int rc = nn_parallel(nthreads, g->n, grain, forward_range, &j);
    nn_scratch_free(j.scratch);
    return rc;
}

static int backward_input_range(void *ctx, int64_t b, int64_t e, int worker) {
    ConvJob *j = ctx;
    const Conv2dGeom *g = j->g;
    const int cg = g->c / g->groups, ocg = g->oc / g->groups, K = cg * g->kh * g->kw, tr = tile_rows(g);
    const int64_t ohw = (int64_t)g->oh * g->ow, hw = (int64_t)g->h * g->w;
    float *col = j->scratch + worker * j->stride, *dxp = col + nn_scratch_stride(col_floats(g));
    for (int64_t s = b; s < e; s++) {
        float *dxs = j->out + s * g->c * hw;
        const float *ds = j->dout + s * g->oc * ohw;
        for (int gi = 0; gi < g->groups; gi++) {
            const float *wg = j->w + (int64_t)gi * ocg * K, *dg = ds + (int64_t)gi * ocg * ohw;
            if (is_pointwise(g)) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)ohw, ocg, 1.0f, wg, K, dg, (int)ohw, 1.0f,
                            dxs + (int64_t)gi * cg * hw, (int)ohw);
                continue;
            }
            float *planes = grad_planes(dxp, dxs, gi * cg, cg, g);
            for (int oh0 = 0; oh0 < g->oh; oh0 += tr) {
                int oh1 = oh0 + tr < g->oh ? oh0 + tr : g->oh, n = (oh1 - oh0) * g->ow;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, n, ocg, 1.0f, wg, K, dg + (int64_t)oh0 * g->ow,
                            (int)ohw, 0.0f, col, n);
                col2im_rows(planes, col, cg, g, oh0, oh1);
            }
            unpad_add(dxs, dxp, gi * cg, cg, g);
        }
    }
    return SN_OK;
}

/* Stride 1: the input gradient is itself a convolution of dout, padded by
 * d(k-1)-p, with the weights flipped and in/out channels swapped. Running
 * it through the forward path writes GEMM results straight into dx: no
 * col2im scatter and no zeroing of a column buffer. Used where it costs no
 * more arithmetic ("same" padding: H*W <= OH*OW) and its GEMMs have enough
 * rows (C/groups >= 8); a 5x5 unpadded layer would compute over a border of
 * zeros instead. */
static int transposable(const Conv2dGeom *g) {
    return g->sh == 1 && g->sw == 1 && !is_pointwise(g) && g->dh * (g->kh - 1) >= g->ph &&
           g->dw * (g->kw - 1) >= g->pw && (int64_t)g->h * g->w <= (int64_t)g->oh * g->ow && g->c / g->groups >= 8;
}

static int backward_input_as_conv(float *dx, const float *dout, const float *w, const Conv2dGeom *g, int nthreads) {
    Conv2dGeom t = *g;
    t.c = g->oc, t.h = g->oh, t.w = g->ow;
    t.oc = g->c, t.oh = g->h, t.ow = g->w;
    t.ph = g->dh * (g->kh - 1) - g->ph, t.pw = g->dw * (g->kw - 1) - g->pw;
    const int cg = g->c / g->groups, ocg = g->oc / g->groups, kk = g->kh * g->kw;
    float *wt = nn_scratch_alloc(1, (int64_t)g->c * ocg * kk); /* [C, OC/g, KH, KW] */
    if (!wt) return SN_ERR;
    for (int gi = 0; gi < g->groups; gi++)
        for (int o = 0; o < ocg; o++)
            for (int c = 0; c < cg; c++)
                for (int a = 0; a < kk; a++)
                    wt[(((int64_t)(gi * cg + c) * ocg + o) * kk) + a] =
                        w[(((int64_t)(gi * ocg + o) * cg + c) * kk) + (kk - 1 - a)];
    int64_t grain = grain_for(t.n, nthreads);
    ConvJob j = {
        .g = &t, .out = dx, .x = dout, .w = wt, .stride = nn_scratch_stride(scratch_floats(&t)), .accumulate = 1};
    j.scratch = nn_scratch_alloc(nn_workers(nthreads, t.n, grain), scratch_floats(&t));
    int rc = j.scratch ? nn_parallel(nthreads, t.n, grain, forward_range, &j) : SN_ERR;
    nn_scratch_free(j.scratch);
    nn_scratch_free(wt);
    return rc;
}

int conv2d_backward_input(float *dx, const float *dout, const float *w, const Conv2dGeom *g, int nthreads) {
    if (transposable(g)) return backward_input_as_conv(dx, dout, w, g, nthreads);
    int64_t grain = grain_for(g->n, nthreads);
    int workers = nn_workers(nthreads, g->n, grain);
    ConvJob j = {.g = g, .out = dx, .w = w, .dout = dout, .stride = nn_scratch_stride(scratch_floats(g))};
    j.scratch = nn_scratch_alloc(is_pointwise(g) ? 1 : workers, is_pointwise(g) ? 1 : scratch_floats(g));
    if (!j.scratch) return SN_ERR;
    int rc = nn_parallel(nthreads, g->n, grain, backward_input_range, &j);
    nn_scratch_free(j.scratch);
    return rc;
}

static int weight_block(void *ctx, int64_t s0, int64_t s1, float *acc, int slot) {
    ConvJob *j = ctx;
    const Conv2dGeom *g = j->g;
    const int cg = g->c / g->groups, ocg = g->oc / g->groups, K = cg * g->kh * g->kw, tr = tile_rows(g);
    const int64_t ohw = (int64_t)g->oh * g->ow, hw = (int64_t)g->h * g->w;
    float *col = j->scratch + slot * j->stride, *xp = col + nn_scratch_stride(col_floats(g));
    for (int64_t s = s0; s < s1; s++) {
        const float *xs = j->x + s * g->c * hw, *ds = j->dout + s * g->oc * ohw;
        for (int gi = 0; gi < g->groups; gi++) {
            const float *dg = ds + (int64_t)gi * ocg * ohw;
            float *ag = acc + (int64_t)gi * ocg * K;
            if (is_pointwise(g)) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ocg, K, (int)ohw, 1.0f, dg, (int)ohw,
                            xs + (int64_t)gi * cg * hw, (int)ohw, 1.0f, ag, K);
                continue;
            }
            const float *base = padded(xp, xs, gi * cg, cg, g);
            for (int oh0 = 0; oh0 < g->oh; oh0 += tr) {
                int oh1 = oh0 + tr < g->oh ? oh0 + tr : g->oh, n = (oh1 - oh0) * g->ow;
                im2col_rows(col, base, cg, g, oh0, oh1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ocg, K, n, 1.0f, dg + (int64_t)oh0 * g->ow,
                            (int)ohw, col, n, 1.0f, ag, K);
            }
        }
    }
    return SN_OK;
}

typedef struct {
    float *db;
    const float *dout;
    int64_t n, oc, ohw;
} BiasJob;

/* Each channel sums over samples and pixels in a fixed order (in double). */
static int bias_range(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    BiasJob *j = ctx;
    for (int64_t o = b; o < e; o++) {
        double s = 0;
        for (int64_t i = 0; i < j->n; i++) {
            const float *p = j->dout + (i * j->oc + o) * j->ohw;
            for (int64_t k = 0; k < j->ohw; k++) s += p[k];
        }
        j->db[o] += (float)s;
    }
    return SN_OK;
}

int conv2d_backward_params(float *dw, float *db, const float *dout, const float *x, const Conv2dGeom *g, int nthreads) {
    if (db) {
        BiasJob bj = {db, dout, g->n, g->oc, (int64_t)g->oh * g->ow};
        if (nn_parallel(nthreads, g->oc, 1, bias_range, &bj) != SN_OK) return SN_ERR;
    }
    if (!dw) return SN_OK;
    int slots = nn_sum_slots(nthreads, g->n);
    ConvJob j = {.g = g, .x = x, .dout = dout, .stride = nn_scratch_stride(scratch_floats(g))};
    j.scratch = nn_scratch_alloc(is_pointwise(g) ? 1 : slots, is_pointwise(g) ? 1 : scratch_floats(g));
    if (!j.scratch) return SN_ERR;
    int64_t size = (int64_t)g->oc * (g->c / g->groups) * g->kh * g->kw;
    int rc = nn_sum_blocks(nthreads, g->n, size, dw, weight_block, &j);
    nn_scratch_free(j.scratch);
    return rc;
}

/* ---- LayerOps ---- */

static int conv_check(const LayerConfig *c) {
    if (c->in < 1) return sn_errorf("in_channels must be at least 1, got %d", c->in);
    if (c->out < 1) return sn_errorf("out_channels must be at least 1, got %d", c->out);
    for (int i = 0; i < 2; i++) {
        if (c->kernel[i] < 1) return sn_errorf("kernel_size must be at least 1, got %d", c->kernel[i]);
        if (c->stride[i] < 1) return sn_errorf("stride must be at least 1, got %d", c->stride[i]);
        if (c->padding[i] < 0) return sn_errorf("padding must be non-negative, got %d", c->padding[i]);
        if (c->dilation[i] < 1) return sn_errorf("dilation must be at least 1, got %d", c->dilation[i]);
    }
    if (c->groups < 1) return sn_errorf("groups must be at least 1, got %d", c->groups);
    if (c->in % c->groups) return sn_errorf("in_channels (%d) must be divisible by groups (%d)", c->in, c->groups);
    if (c->out % c->groups) return sn_errorf("out_channels (%d) must be divisible by groups (%d)", c->out, c->groups);
    if (!(c->init_std >= 0)) return sn_errorf("init_std must be non-negative, got %g", (double)c->init_std);
    return SN_OK;
}

static void conv_param_shapes(const LayerConfig *c, int *np, Shape *p, int *nb, Shape *b) {
    (void)b;
    *np = c->bias ? 2 : 1;
    p[0] = (Shape){4, {c->out, c->in / c->groups, c->kernel[0], c->kernel[1]}};
    p[1] = (Shape){1, {c->out}};
    *nb = 0;
}

static int conv_out_shape(const LayerConfig *c, const Shape *in, Shape *out) {
    char buf[160];
    if (in->ndim != 4) return sn_errorf("expected a 4-d input [N, C, H, W], got %s", shape_fmt(in, buf, sizeof buf));
    if (in->dim[1] != c->in)
        return sn_errorf("input has %lld channels, weight expects %d (input %s, weight [%d, %d, %d, %d])",
                         (long long)in->dim[1], c->in, shape_fmt(in, buf, sizeof buf), c->out, c->in / c->groups,
                         c->kernel[0], c->kernel[1]);
    if (in->dim[2] * in->dim[3] > INT32_MAX / 4) /* kernels index planes with int */
        return sn_errorf("input plane %lldx%lld is too large", (long long)in->dim[2], (long long)in->dim[3]);
    int64_t oh = conv_out_size(in->dim[2], c->kernel[0], c->stride[0], c->padding[0], c->dilation[0]);
    int64_t ow = conv_out_size(in->dim[3], c->kernel[1], c->stride[1], c->padding[1], c->dilation[1]);
    if (oh < 1 || ow < 1)
        return sn_errorf("input %s is too small for kernel %dx%d with padding %dx%d and dilation %dx%d",
                         shape_fmt(in, buf, sizeof buf), c->kernel[0], c->kernel[1], c->padding[0], c->padding[1],
                         c->dilation[0], c->dilation[1]);
    *out = (Shape){4, {in->dim[0], c->out, oh, ow}};
    return SN_OK;
}

static int conv_forward(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    Conv2dGeom g;
    Shape s = shape_of(in[0]);
    conv2d_geom(&g, &n->cfg, &s);
    return conv2d_forward(tensor_data(out), tensor_data(in[0]), tensor_data(&n->param[0]),
                          n->nparams > 1 ? tensor_data(&n->param[1]) : NULL, &g, run->nthreads);
}

static int conv_backward(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,
                         const LayerRun *run) {
    Conv2dGeom g;
    Shape s = shape_of(in[0]);
    conv2d_geom(&g, &n->cfg, &s);
    if (d_in[0] && conv2d_backward_input(tensor_data(d_in[0]), tensor_data(d_out), tensor_data(&n->param[0]), &g,
                                         run->nthreads) != SN_OK)
        return SN_ERR;
    if (!run->want_param_grads) return SN_OK;
    return conv2d_backward_params(tensor_data(&n->grad[0]), n->nparams > 1 ? tensor_data(&n->grad[1]) : NULL,
                                  tensor_data(d_out), tensor_data(in[0]), &g, run->nthreads);
}

static void conv_init(Node *n, uint64_t seed, const char *purpose) {
    const LayerConfig *c = &n->cfg;
    double rf = (double)c->kernel[0] * c->kernel[1];
    double fan_in = (double)(c->in / c->groups) * rf, fan_out = (double)c->out * rf; /* as torch.nn.init */
    layer_init_fill(tensor_data(&n->param[0]), tensor_numel(&n->param[0]), c->init, fan_in, fan_out, c->init_std, seed,
                    layer_param_stream(purpose, n->name, "weight"));
    if (n->nparams > 1)
        layer_init_bias(tensor_data(&n->param[1]), tensor_numel(&n->param[1]), c->init, fan_in, seed,
                        layer_param_stream(purpose, n->name, "bias"));
}

const LayerOps layer_conv2d_ops = {
    "conv2d", 1, 0, conv_check, conv_param_shapes, conv_out_shape, conv_forward, conv_backward, conv_init};

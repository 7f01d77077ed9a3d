/* nn/conv2d.c — 2-d convolution (see conv2d.h): forward and input gradient
 * as position-independent GEMMs on padded phase planes, one per sample and
 * group; weight gradients from the same planes in sample blocks; an eval
 * batch norm and ReLU run in the output copy; the LayerOps of kind "conv2d".
 * Not here: transposed convolution, padding modes other than zeros. */
#include "nn/conv2d.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "nn/batchnorm.h"
#include "nn/gemm.h"

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

/* ---- forward: implicit GEMM on phase planes ----
 * The padded input of a sample is split into sh x sw phase planes
 * (phase (qr, qc) holds padded pixels (y*sh + qr, x*sw + qc)), so the
 * window element (ki, kj) of every output pixel (oh, ow) is phase
 * ((ki*dh) % sh, (kj*dw) % sw) at (oh + ki*dh/sh, ow + kj*dw/sw): on a grid
 * of rows of the phase width wq, row k of the im2col matrix is a contiguous
 * run of the planes starting at boff[k]. The GEMM reads it in place (no
 * im2col copy) and computes wq - OW garbage columns per output row, which
 * are dropped when the grid is copied to the output. */
typedef struct {
    int hq, wq;         /* phase plane height, width */
    int64_t plane, chan; /* floats per phase plane; per channel (sh*sw planes) */
    int64_t n;          /* grid columns: (OH-1)*wq + OW */
    int tail;           /* zero floats after the last channel's planes (shared padding) */
} Planes;

/* Column stride 1: a row's right padding is the next row's left padding
 * (wq = W + pw, not W + 2 pw), since a window reading past the row's end
 * reads at most pw cells further, i.e. the next row's leading zeros; the
 * last row reads `tail` cells past its plane. Fewer garbage columns (28x28,
 * pad 1: 1 of 29 instead of 2 of 30; 7x7: 6 of 55 instead of 12 of 61), the
 * same chains. Needs OW <= wq, i.e. (KW-1) dw >= pw. */
static void planes_geom(Planes *p, const Conv2dGeom *g) {
    const int hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
    const int shared = g->sw == 1 && (g->kw - 1) * g->dw >= g->pw;
    p->hq = (hp + g->sh - 1) / g->sh;
    p->wq = shared ? g->w + g->pw : (wp + g->sw - 1) / g->sw;
    p->tail = shared ? g->pw : 0;
    p->plane = (int64_t)p->hq * p->wq;
    p->chan = (int64_t)g->sh * g->sw * p->plane;
    p->n = (int64_t)(g->oh - 1) * p->wq + g->ow;
}

/* Floats of the planes of cg channels (fill_planes). */
static int64_t planes_floats(const Planes *p, int cg) {
    return (int64_t)cg * p->chan + p->tail;
}

static int ceil_div0(int a, int b) {
    return a <= 0 ? 0 : (a + b - 1) / b;
}

/* The window elements that fall in phase q along an axis (kernel size k,
 * dilation d, stride s): tap[i] = ki (tap may be NULL); their count. */
static int phase_taps(int *tap, int q, int k, int d, int s) {
    int n = 0;
    for (int i = 0; i < k; i++)
        if (i * d % s == q) {
            if (tap) tap[n] = i;
            n++;
        }
    return n;
}

/* Whether phase q is read at all: 1x1 stride-2 convolutions read one of four. */
static int phase_used(int q, int k, int d, int s) {
    return phase_taps(NULL, q, k, d, s) > 0;
}

/* The plane fills, grid copies and row additions around the GEMMs are plain
 * loops, so their functions are NN_WIDE_LOOPS (nn/layer.h). */

/* The input gradient of a conv that runs an eval batch norm (and ReLU)
 * after it (LayerRun.post_bn) arrives at their output; where the gradient
 * is first copied (plane fill, grid copy), each value becomes
 * 0 + (relu ? (y > 0 ? dy : 0) : dy) * scale[channel], what the ReLU's and
 * the batch norm's backward write into zeroed gradients. */
typedef struct {
    const float *scale; /* per channel of the gradient */
    const float *y;     /* the conv's activation (the ReLU's output), laid out as the gradient */
    int relu;
} ConvPre;

/* An eval batch norm (scale, shift per channel: batchnorm_eval_affine) and
 * optionally a ReLU after the conv, run in its output copy. With bn_out
 * NULL (model.h: fold_conv_bn) the conv's output holds the last of them;
 * otherwise the conv's, the batch norm's and the ReLU's outputs are all
 * written (relu_out NULL: no ReLU), each as its own layer would. */
typedef struct {
    const float *scale, *shift;
    int relu;
    float *bn_out, *relu_out;
} ConvPost;

/* Every output kept: dc = (bias +) r, dbn = dc * scale + shift, drelu = relu(dbn). */
static inline void keep_run(float *dc, float *restrict dbn, float *restrict drelu, const float *r, int n,
                            const float *bias, float scale, float shift) {
    const float b = bias ? *bias : 0.0f;
    for (int i = 0; i < n; i++) {
        float c = bias ? b + r[i] : r[i];
        dc[i] = c;
        dbn[i] = c * scale + shift;
    }
    if (drelu)
        for (int i = 0; i < n; i++) {
            float v = dbn[i];
            drelu[i] = v > 0 ? v : 0.0f;
        }
}

static inline void pre_run(float *restrict d, const float *restrict dy, const float *restrict y, int n, float k,
                           int relu) {
    if (relu)
        for (int i = 0; i < n; i++) d[i] = 0.0f + (y[i] > 0 ? dy[i] : 0.0f) * k;
    else
        for (int i = 0; i < n; i++) d[i] = 0.0f + dy[i] * k;
}

/* Channels [c0, c0+cg) of one sample x[C, H, W] into phase planes [cg,
 * sh*sw, hq, wq] whose padding cells are zero already: they depend only on
 * the geometry and no sample writes them, so zeroing the scratch once per
 * call (run_forward) serves every sample, and only the input is copied. */
NN_WIDE_LOOPS static void fill_planes(float *dst, const float *x, int c0, int cg, const Conv2dGeom *g, const Planes *p,
                                      const ConvPre *pre, const float *y_sample) {
    /* Column stride 2 with both column phases read (3x3 stride 2): each
     * input row is split into its two phase rows in one pass. */
    const int split2 = g->sw == 2 && phase_used(0, g->kw, g->dw, 2) && phase_used(1, g->kw, g->dw, 2);
    for (int c = 0; c < cg; c++) {
        const float *src = x + (int64_t)(c0 + c) * g->h * g->w;
        if (pre) { /* transposed convolutions only: stride 1, one phase */
            const float *ys = y_sample + (int64_t)(c0 + c) * g->h * g->w;
            const float k = pre->scale[c0 + c];
            for (int y = 0; y < g->h; y++)
                pre_run(dst + c * p->chan + (int64_t)(y + g->ph) * p->wq + g->pw, src + (int64_t)y * g->w,
                        ys + (int64_t)y * g->w, g->w, k, pre->relu);
            continue;
        }
        for (int qr = 0; split2 && qr < g->sh; qr++) {
            if (!phase_used(qr, g->kh, g->dh, g->sh)) continue;
            /* input column i is padded column i + pw: phase (i + pw) % 2, column (i + pw) / 2 */
            const int qa = g->pw % 2, half = g->w / 2;
            float *pa = dst + c * p->chan + (int64_t)(qr * 2 + qa) * p->plane + g->pw / 2,
                  *pb = dst + c * p->chan + (int64_t)(qr * 2 + 1 - qa) * p->plane + (g->pw + 1) / 2;
            for (int y = 0; y < p->hq; y++) {
                const int yi = y * g->sh + qr - g->ph;
                if (yi < 0 || yi >= g->h) continue;
                const float *restrict s = src + (int64_t)yi * g->w;
                float *restrict ra = pa + (int64_t)y * p->wq, *restrict rb = pb + (int64_t)y * p->wq;
                for (int i = 0; i < half; i++) ra[i] = s[2 * i], rb[i] = s[2 * i + 1];
                if (g->w & 1) ra[half] = s[g->w - 1];
            }
        }
        for (int qr = 0; !split2 && qr < g->sh; qr++)
            for (int qc = 0; qc < g->sw; qc++) {
                if (!phase_used(qr, g->kh, g->dh, g->sh) || !phase_used(qc, g->kw, g->dw, g->sw)) continue;
                float *pl = dst + c * p->chan + (int64_t)(qr * g->sw + qc) * p->plane;
                /* phase columns x with input column x*sw + qc - pw in [0, W) */
                int xlo = ceil_div0(g->pw - qc, g->sw), xhi = ceil_div0(g->w + g->pw - qc, g->sw);
                if (xhi > p->wq) xhi = p->wq;
                if (xlo > xhi) xlo = xhi;
                for (int y = 0; y < p->hq; y++) {
                    float *row = pl + (int64_t)y * p->wq;
                    int yi = y * g->sh + qr - g->ph;
                    if (yi < 0 || yi >= g->h || xlo == xhi) continue;
                    const float *s = src + (int64_t)yi * g->w + (xlo * g->sw + qc - g->pw);
                    if (g->sw == 1)
                        copy_run(row + xlo, s, xhi - xlo);
                    else if (g->sw == 2) /* a constant stride: vectorized (two loads, a permute) */
                        for (int i = 0; i < xhi - xlo; i++) row[xlo + i] = s[2 * i];
                    else
                        for (int i = 0; i < xhi - xlo; i++) row[xlo + i] = s[(int64_t)i * g->sw];
                }
            }
    }
}

/* boff[k] for k = (c, ki, kj) of one group: where row k of the im2col matrix
 * starts in the planes of fill_planes. */
static void plane_offsets(int64_t *boff, const Conv2dGeom *g, const Planes *p) {
    const int cg = g->c / g->groups;
    for (int c = 0; c < cg; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                int y0 = ki * g->dh, x0 = kj * g->dw;
                boff[(c * g->kh + ki) * g->kw + kj] = c * p->chan + (int64_t)((y0 % g->sh) * g->sw + x0 % g->sw) * p->plane +
                                                      (int64_t)(y0 / g->sh) * p->wq + x0 / g->sw;
            }
}

typedef struct {
    const Conv2dGeom *g;
    Planes p;
    float *out;
    const float *x, *w, *b, *dout;
    const int64_t *boff, *doff;
    float *scratch; /* per worker/slot */
    int64_t stride;
    int accumulate; /* forward_range adds into out (backward as a convolution) */
    int assign;     /* backward_grid_range: dx is uninitialized (zeroed per sample, in cache) */
    const ConvPost *post;       /* forward: layers after the conv run in its output copy, or NULL */
    const ConvPre *pre;         /* the input (a gradient) is transformed where first copied, or NULL */
} ConvJob;

/* d = relu?((bias +) r) * scale + shift), the operations the separate conv,
 * batch norm and ReLU layers make, in their order. d may be r. */
static inline void post_run(float *d, const float *r, int n, const float *bias, float scale, float shift, int relu) {
    if (bias) {
        const float b = *bias;
        if (relu)
            for (int i = 0; i < n; i++) {
                float v = (b + r[i]) * scale + shift;
                d[i] = v > 0 ? v : 0.0f;
            }
        else
            for (int i = 0; i < n; i++) d[i] = (b + r[i]) * scale + shift;
    } else if (relu)
        for (int i = 0; i < n; i++) {
            float v = r[i] * scale + shift;
            d[i] = v > 0 ? v : 0.0f;
        }
    else
        for (int i = 0; i < n; i++) d[i] = r[i] * scale + shift;
}

/* Output channel oc's run of n values r (its row of the grid, or, with
 * r == d, the output itself): the layers after the conv (j->post). */
static inline void post_rows(const ConvJob *j, float *d, const float *r, int n, int oc, const float *bias) {
    const ConvPost *po = j->post;
    if (po->bn_out)
        keep_run(d, po->bn_out + (d - j->out), po->relu_out ? po->relu_out + (d - j->out) : NULL, r, n, bias,
                 po->scale[oc], po->shift[oc]);
    else
        post_run(d, r, n, bias, po->scale[oc], po->shift[oc], po->relu);
}

/* Per-worker floats of the forward: one group's planes, then its output grid. */
static int64_t forward_floats(const Conv2dGeom *g, const Planes *p) {
    return nn_scratch_stride(planes_floats(p, g->c / g->groups)) + (int64_t)(g->oc / g->groups) * p->n;
}

NN_WIDE_LOOPS static int forward_range(void *ctx, int64_t b, int64_t e, int worker) {
    ConvJob *j = ctx;
    const Conv2dGeom *g = j->g;
    const Planes *p = &j->p;
    const int cg = g->c / g->groups, ocg = g->oc / g->groups, K = cg * g->kh * g->kw;
    const int64_t ohw = (int64_t)g->oh * g->ow, hw = (int64_t)g->h * g->w;
    float *planes = j->scratch + worker * j->stride, *grid = planes + nn_scratch_stride(planes_floats(p, cg));
    for (int64_t s = b; s < e; s++) {
        const float *xs = j->x + s * g->c * hw;
        float *os = j->out + s * g->oc * ohw;
        for (int gi = 0; gi < g->groups; gi++) {
            /* Stride 1 without padding: the sample's channels are the planes. */
            const float *src = xs + (int64_t)gi * cg * hw;
            if (g->sh != 1 || g->sw != 1 || g->ph != 0 || g->pw != 0 || j->pre) {
                fill_planes(planes, xs, gi * cg, cg, g, p, j->pre, j->pre ? j->pre->y + s * g->c * hw : NULL);
                src = planes;
            }
            const float *wg = j->w + (int64_t)gi * ocg * K;
            float *og = os + (int64_t)gi * ocg * ohw;
            if (p->wq == g->ow) { /* no garbage columns: the grid is the output */
                if (j->b && !j->accumulate)
                    for (int o = 0; o < ocg; o++)
                        for (int64_t q = 0; q < ohw; q++) og[o * ohw + q] = j->b[gi * ocg + o];
                gemm_run_rows(GEMM_AUTO, ocg, ohw, K, wg, K, 1, src, j->boff, og, ohw, j->b || j->accumulate);
                for (int o = 0; j->post && o < ocg; o++) /* the output is the grid, bias included */
                    post_rows(j, og + o * ohw, og + o * ohw, (int)ohw, gi * ocg + o, NULL);
                continue;
            }
            gemm_run_rows(GEMM_AUTO, ocg, p->n, K, wg, K, 1, src, j->boff, grid, p->n, 0);
            for (int o = 0; o < ocg; o++) {
                const int oc = gi * ocg + o;
                for (int oh = 0; oh < g->oh; oh++) {
                    float *d = og + (int64_t)o * ohw + (int64_t)oh * g->ow;
                    const float *r = grid + o * p->n + (int64_t)oh * p->wq;
                    if (j->accumulate)
                        for (int i = 0; i < g->ow; i++) d[i] += r[i];
                    else if (j->post)
                        post_rows(j, d, r, g->ow, oc, j->b ? j->b + oc : NULL);
                    else if (j->b) {
                        const float bias = j->b[oc];
                        for (int i = 0; i < g->ow; i++) d[i] = bias + r[i];
                    } else
                        copy_run(d, r, g->ow);
                }
            }
        }
    }
    return SN_OK;
}

static int64_t grain_for(int64_t n, int nthreads) {
    int64_t g = n / (4 * (int64_t)(nthreads > 0 ? nthreads : 1));
    return g < 1 ? 1 : g;
}

/* out (+)= conv(x) through forward_range; w: [OC, C/g, KH, KW]. */
static int run_forward(float *out, const float *x, const float *w, const float *b, const Conv2dGeom *g, int accumulate,
                       const ConvPost *post, const ConvPre *pre, int nthreads) {
    ConvJob j = {.g = g, .out = out, .x = x, .w = w, .b = b, .accumulate = accumulate, .post = post, .pre = pre};
    planes_geom(&j.p, g);
    const int K = g->c / g->groups * g->kh * g->kw;
    int64_t grain = grain_for(g->n, nthreads), *boff = malloc(sizeof(int64_t) * (size_t)K);
    if (!boff) return sn_errorf("out of memory");
    plane_offsets(boff, g, &j.p);
    j.boff = boff;
    j.stride = nn_scratch_stride(forward_floats(g, &j.p));
    const int workers = nn_workers(nthreads, g->n, grain);
    j.scratch = nn_scratch_alloc(workers, forward_floats(g, &j.p));
    /* zero once: each worker's planes then keep their padding cells at zero
     * (its grid needs none: the GEMM writes every cell read) */
    const int64_t plane_floats = nn_scratch_stride(planes_floats(&j.p, g->c / g->groups));
    for (int w = 0; j.scratch && w < workers; w++)
        memset(j.scratch + w * j.stride, 0, sizeof(float) * (size_t)plane_floats);
    int rc = j.scratch ? nn_parallel(nthreads, g->n, grain, forward_range, &j) : SN_ERR;
    nn_scratch_free(j.scratch);
    free(boff);
    return rc;
}

int conv2d_forward(float *out, const float *x, const float *w, const float *b, const Conv2dGeom *g, int nthreads) {
    return run_forward(out, x, w, b, g, 0, NULL, NULL, nthreads);
}

/* ---- input gradient ----
 * Stride 1: the input gradient is itself a convolution of dout, padded by
 * d(k-1)-p, with the weights flipped and in/out channels swapped; run
 * through the forward path it adds straight into dx. Timed per layer during
 * development against the grid path below and against col = W^T x dout +
 * col2im: fastest for every stride-1 layer of LeNet and ResNet-8 but the two
 * first layers (C = 1), whose input gradient attribution skips (attr/rows.c:
 * linear head). */
static int transposable(const Conv2dGeom *g) {
    return g->sh == 1 && g->sw == 1 && g->dh * (g->kh - 1) >= g->ph && g->dw * (g->kw - 1) >= g->pw;
}

/* The weights of the input gradient as a convolution: [C, OC/g, KH, KW],
 * in and out channels swapped, the window flipped. */
static float *flipped_weights(const float *w, const Conv2dGeom *g) {
    const int cg = g->c / g->groups, ocg = g->oc / g->groups, kk = g->kh * g->kw;
    float *wt = nn_scratch_alloc(1, (int64_t)g->c * ocg * kk);
    for (int gi = 0; wt && gi < g->groups; gi++)
        for (int o = 0; o < ocg; o++)
            for (int c = 0; c < cg; c++)
                for (int a = 0; a < kk; a++)
                    wt[(((int64_t)(gi * cg + c) * ocg + o) * kk) + a] =
                        w[(((int64_t)(gi * ocg + o) * cg + c) * kk) + (kk - 1 - a)];
    return wt;
}

static int backward_input_as_conv(float *dx, const float *dout, const float *wt, const Conv2dGeom *g, int assign,
                                  const ConvPre *pre, int nthreads) {
    Conv2dGeom t = *g;
    t.c = g->oc, t.h = g->oh, t.w = g->ow;
    t.oc = g->c, t.oh = g->h, t.ow = g->w;
    t.ph = g->dh * (g->kh - 1) - g->ph, t.pw = g->dw * (g->kw - 1) - g->pw;
    return run_forward(dx, dout, wt, NULL, &t, !assign, NULL, pre, nthreads);
}

/* Otherwise (stride 1 with padding beyond d(k-1), or where the transposed
 * convolution would mostly multiply padding: grid_pays): per sample,
 * col[K, grid] = W_g^T x dout_g with dout placed on the grid of the
 * forward's padded planes (zeros in the garbage columns), then every row k
 * of col added into zeroed planes at boff[k], i.e. the adjoint of reading it
 * there, and the planes' interior added into dx. The additions run over
 * whole rows (no per-pixel scatter). Strided convolutions take the per-phase
 * path below. */

static void add_run(float *restrict d, const float *restrict c, int64_t n) {
    for (int64_t q = 0; q < n; q++) d[q] += c[q];
}

/* dx[C, H, W] (channels c0..) += the interior of the planes of fill_planes
 * at stride 1 (one plane per channel): its adjoint. */
static void unfill_planes(float *dx, const float *planes, int c0, int cg, const Conv2dGeom *g, const Planes *p) {
    for (int c = 0; c < cg; c++)
        for (int y = 0; y < g->h; y++)
            add_run(dx + ((int64_t)(c0 + c) * g->h + y) * g->w,
                    planes + c * p->chan + (int64_t)(y + g->ph) * p->wq + g->pw, g->w);
}

static int64_t grid_backward_floats(const Conv2dGeom *g, const Planes *p) {
    const int cg = g->c / g->groups, ocg = g->oc / g->groups;
    return nn_scratch_stride(ocg * p->n) + nn_scratch_stride((int64_t)cg * g->kh * g->kw * p->n) + planes_floats(p, cg);
}

/* Group gi of sample s's output gradient, with pre applied when given, into
 * rows at dst + o * chan + oh * wq; zero_gap: zero the wq - OW cells after
 * each row but the last (a grid's garbage columns). */
static inline void place_dout(float *dst, int64_t chan, int wq, int zero_gap, const float *dout,
                              const ConvPre *pre, const Conv2dGeom *g, int64_t s, int gi) {
    const int ocg = g->oc / g->groups;
    const int64_t ohw = (int64_t)g->oh * g->ow;
    for (int o = 0; o < ocg; o++)
        for (int oh = 0; oh < g->oh; oh++) {
            float *d = dst + o * chan + (int64_t)oh * wq;
            const int64_t at = s * g->oc * ohw + (int64_t)(gi * ocg + o) * ohw + (int64_t)oh * g->ow;
            if (pre)
                pre_run(d, dout + at, pre->y + at, g->ow, pre->scale[gi * ocg + o], pre->relu);
            else
                copy_run(d, dout + at, g->ow);
            if (zero_gap && oh < g->oh - 1) zero_run(d + g->ow, wq - g->ow);
        }
}

NN_WIDE_LOOPS static int backward_grid_range(void *ctx, int64_t b, int64_t e, int worker) {
    ConvJob *j = ctx;
    const Conv2dGeom *g = j->g;
    const Planes *p = &j->p;
    const int cg = g->c / g->groups, ocg = g->oc / g->groups, K = cg * g->kh * g->kw;
    const int64_t hw = (int64_t)g->h * g->w;
    float *dgrid = j->scratch + worker * j->stride, *col = dgrid + nn_scratch_stride(ocg * p->n),
          *planes = col + nn_scratch_stride((int64_t)K * p->n);
    for (int64_t s = b; s < e; s++) {
        float *dxs = j->out + s * g->c * hw;
        if (j->assign) zero_run(dxs, g->c * hw);
        for (int gi = 0; gi < g->groups; gi++) {
            place_dout(dgrid, p->n, p->wq, 1, j->dout, j->pre, g, s, gi);
            gemm_run_rows(GEMM_AUTO, K, p->n, ocg, j->w + (int64_t)gi * ocg * K, 1, K, dgrid, j->doff, col, p->n, 0);
            /* Stride 1 without padding: the planes are the sample's channels. */
            const int direct = g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
            float *target = direct ? dxs + (int64_t)gi * cg * hw : planes;
            if (!direct) zero_run(planes, planes_floats(p, cg));
            for (int k = 0; k < K; k++) add_run(target + j->boff[k], col + (int64_t)k * p->n, p->n);
            if (!direct) unfill_planes(dxs, planes, gi * cg, cg, g, p);
        }
    }
    return SN_OK;
}

static int backward_input_grid(float *dx, const float *dout, const float *w, const Conv2dGeom *g, int assign,
                               const ConvPre *pre, int nthreads) {
    ConvJob j = {.g = g, .out = dx, .w = w, .dout = dout, .assign = assign, .pre = pre};
    planes_geom(&j.p, g);
    const int K = g->c / g->groups * g->kh * g->kw, ocg = g->oc / g->groups;
    int64_t grain = grain_for(g->n, nthreads), *boff = malloc(sizeof(int64_t) * (size_t)(K + ocg));
    if (!boff) return sn_errorf("out of memory");
    plane_offsets(boff, g, &j.p);
    for (int o = 0; o < ocg; o++) boff[K + o] = o * j.p.n;
    j.boff = boff, j.doff = boff + K;
    j.stride = nn_scratch_stride(grid_backward_floats(g, &j.p));
    j.scratch = nn_scratch_alloc(nn_workers(nthreads, g->n, grain), grid_backward_floats(g, &j.p));
    int rc = j.scratch ? nn_parallel(nthreads, g->n, grain, backward_grid_range, &j) : SN_ERR;
    nn_scratch_free(j.scratch);
    free(boff);
    return rc;
}

/* ---- input gradient of strided convolutions: one stride-1 GEMM per phase ----
 * dx's padded pixel (Y, X) = (u sh + a, v sw + b) receives W[o, c, ki, kj]
 * dout[o, u - mi, v - mj] from the window elements with ki dh = a + mi sh
 * and kj dw = b + mj sw. Per phase (a, b) that is a stride-1 correlation of
 * dout with the phase's taps: a GEMM [C/g] x [OC/g x taps] x (the phase's
 * grid) on dout padded once per sample (pr rows above, pc columns left),
 * chains OC/g x taps long, every dx pixel written once (phases without taps,
 * e.g. three of four of a 1x1 stride-2 conv, get zeros). The grid path
 * above does the same products with chains of OC/g and adds K rows into
 * planes; ResNet-8's stride-2 convolutions run ~2x faster this way. */
typedef struct {
    int a, b;           /* padded row Y = a (mod sh), column X = b (mod sw) */
    int u0, nu, v0, nv; /* its dx pixels: y = u sh + a - ph, u in [u0, u0 + nu); x likewise */
    int64_t k, n;       /* chain (OC/g x taps); grid columns (nu - 1) wq + nv */
    float *w;           /* [groups][C/g][k] */
    int64_t *boff;      /* [k]: tap (o, i, j) in the padded dout planes */
} Phase;

/* What the phases need besides dout: built from the weights and geometry. */
typedef struct {
    int pr, pc, hq, wq; /* dout planes: zero rows above, columns left; height, width */
    int64_t chan, maxn; /* floats per dout plane; the longest phase grid */
    int nphase;
    Phase *ph;
} PhasePlan;

typedef struct {
    const Conv2dGeom *g;
    const PhasePlan *pl;
    float *dx, *scratch;
    const float *dout;
    const ConvPre *pre;
    int64_t stride;
    int assign;
} PhaseJob;

/* One dx row of a stride-2 conv from its two column phases: even columns
 * from e, odd ones from o (w columns). Both phases are written in one
 * contiguous pass (vectorizable), not as two strided ones. */
static inline void interleave_row(float *restrict d, const float *restrict e, const float *restrict o, int w,
                                  int assign) {
    const int h = w / 2;
    if (assign)
        for (int i = 0; i < h; i++) d[2 * i] = e[i], d[2 * i + 1] = o[i];
    else
        for (int i = 0; i < h; i++) d[2 * i] += e[i], d[2 * i + 1] += o[i];
    if (w & 1) d[w - 1] = assign ? e[h] : d[w - 1] + e[h];
}

NN_WIDE_LOOPS static int backward_phase_range(void *ctx, int64_t b, int64_t e, int worker) {
    PhaseJob *j = ctx;
    const Conv2dGeom *g = j->g;
    const PhasePlan *pl = j->pl;
    const int cg = g->c / g->groups, ocg = g->oc / g->groups, sw = g->sw;
    const int64_t hw = (int64_t)g->h * g->w, gsz = (int64_t)cg * pl->maxn;
    /* scratch: dout planes, a zero row (phases without taps), one grid per column phase */
    float *planes = j->scratch + worker * j->stride, *zero = planes + nn_scratch_stride((int64_t)ocg * pl->chan),
          *grids = zero + nn_scratch_stride(pl->maxn);
    for (int64_t s = b; s < e; s++) {
        float *dxs = j->dx + s * g->c * hw;
        for (int gi = 0; gi < g->groups; gi++) {
            place_dout(planes + (int64_t)pl->pr * pl->wq + pl->pc, pl->chan, pl->wq, 0, j->dout, j->pre, g, s, gi);
            for (int a = 0; a < g->sh; a++) {
                const Phase *row = &pl->ph[a * sw]; /* the row phase's sw column phases (same u0, nu) */
                int any = 0;
                for (int q = 0; q < sw; q++)
                    if (row[q].k) {
                        any = 1;
                        gemm_run_rows(GEMM_AUTO, cg, row[q].n, row[q].k, row[q].w + (int64_t)gi * cg * row[q].k,
                                      row[q].k, 1, planes, row[q].boff, grids + q * gsz, row[q].n, 0);
                    }
                if (!any && !j->assign) continue;
                for (int c = 0; c < cg; c++)
                    for (int u = 0; u < row->nu; u++) {
                        float *d = dxs + (int64_t)(gi * cg + c) * hw +
                                   (int64_t)((row->u0 + u) * g->sh + a - g->ph) * g->w;
                        const float *r[2];
                        for (int q = 0; q < sw; q++) {
                            const Phase *f = &row[q];
                            const float *src = f->k ? grids + q * gsz + c * f->n + (int64_t)u * pl->wq : zero;
                            const int x0 = f->v0 * sw + f->b - g->pw; /* its first dx column */
                            if (sw == 2) {
                                r[x0] = src;
                                continue;
                            }
                            if (!f->k && !j->assign) continue;
                            if (j->assign)
                                for (int v = 0; v < f->nv; v++) d[x0 + (int64_t)v * sw] = src[v];
                            else
                                for (int v = 0; v < f->nv; v++) d[x0 + (int64_t)v * sw] += src[v];
                        }
                        if (sw == 2) interleave_row(d, r[0], r[1], g->w, j->assign);
                    }
            }
        }
    }
    return SN_OK;
}

static void phase_plan_free(PhasePlan *pl) {
    for (int q = 0; pl->ph && q < pl->nphase; q++) free(pl->ph[q].w), free(pl->ph[q].boff);
    free(pl->ph);
    pl->ph = NULL;
}

static int phase_plan_build(PhasePlan *pl, const float *w, const Conv2dGeom *g) {
    const int cg = g->c / g->groups, ocg = g->oc / g->groups, kk = g->kh * g->kw;
    *pl = (PhasePlan){.nphase = g->sh * g->sw};
    pl->pr = (g->kh - 1) * g->dh / g->sh, pl->pc = (g->kw - 1) * g->dw / g->sw;
    pl->hq = pl->pr + g->oh, pl->wq = pl->pc + g->ow;
    int *ti = malloc(sizeof(int) * (size_t)(g->kh + g->kw)), *tj = ti ? ti + g->kh : NULL;
    pl->ph = calloc((size_t)pl->nphase, sizeof(Phase));
    if (!ti || !pl->ph) goto oom;
    for (int q = 0; q < pl->nphase; q++) { /* the dx pixels of each phase fix the planes' size */
        Phase *f = &pl->ph[q];
        f->a = q / g->sw, f->b = q % g->sw;
        f->u0 = ceil_div0(g->ph - f->a, g->sh), f->nu = ceil_div0(g->h + g->ph - f->a, g->sh) - f->u0;
        f->v0 = ceil_div0(g->pw - f->b, g->sw), f->nv = ceil_div0(g->w + g->pw - f->b, g->sw) - f->v0;
        if (f->nu > 0 && pl->hq < pl->pr + f->u0 + f->nu) pl->hq = pl->pr + f->u0 + f->nu;
        if (f->nv > 0 && pl->wq < pl->pc + f->v0 + f->nv) pl->wq = pl->pc + f->v0 + f->nv;
    }
    pl->chan = (int64_t)pl->hq * pl->wq;
    for (int q = 0; q < pl->nphase; q++) {
        Phase *f = &pl->ph[q];
        const int nti = phase_taps(ti, f->a, g->kh, g->dh, g->sh), ntj = phase_taps(tj, f->b, g->kw, g->dw, g->sw);
        if (!f->nu || !f->nv) continue; /* no dx pixel in this phase (k stays 0) */
        f->n = (int64_t)(f->nu - 1) * pl->wq + f->nv;
        if (f->n > pl->maxn) pl->maxn = f->n;
        f->k = (int64_t)ocg * nti * ntj;
        if (!f->k) continue;
        f->w = malloc(sizeof(float) * (size_t)(g->groups * cg * f->k));
        f->boff = malloc(sizeof(int64_t) * (size_t)f->k);
        if (!f->w || !f->boff) goto oom;
        for (int o = 0; o < ocg; o++)
            for (int i = 0; i < nti; i++)
                for (int t = 0; t < ntj; t++) {
                    const int64_t k = ((int64_t)o * nti + i) * ntj + t;
                    const int mi = ti[i] * g->dh / g->sh, mj = tj[t] * g->dw / g->sw;
                    f->boff[k] = o * pl->chan + (int64_t)(pl->pr - mi + f->u0) * pl->wq + (pl->pc - mj + f->v0);
                    for (int gi = 0; gi < g->groups; gi++)
                        for (int c = 0; c < cg; c++)
                            f->w[((int64_t)gi * cg + c) * f->k + k] =
                                w[((int64_t)(gi * ocg + o) * cg + c) * kk + ti[i] * g->kw + tj[t]];
                }
    }
    free(ti);
    return SN_OK;
oom:
    free(ti);
    phase_plan_free(pl);
    return sn_errorf("out of memory");
}

static int backward_input_phases(float *dx, const float *dout, const PhasePlan *pl, const Conv2dGeom *g, int assign,
                                 const ConvPre *pre, int nthreads) {
    const int cg = g->c / g->groups, ocg = g->oc / g->groups;
    PhaseJob j = {.g = g, .pl = pl, .dx = dx, .dout = dout, .pre = pre, .assign = assign};
    const int64_t grain = grain_for(g->n, nthreads),
                  zeroed = nn_scratch_stride((int64_t)ocg * pl->chan) + nn_scratch_stride(pl->maxn),
                  floats = zeroed + (int64_t)g->sw * cg * pl->maxn;
    const int workers = nn_workers(nthreads, g->n, grain);
    j.stride = nn_scratch_stride(floats);
    j.scratch = nn_scratch_alloc(workers, floats);
    if (!j.scratch) return SN_ERR;
    /* zero once: the planes' padding cells stay zero (only dout is copied
     * in), and so does the zero row */
    for (int wk = 0; wk < workers; wk++) zero_run(j.scratch + wk * j.stride, zeroed);
    int rc = nn_parallel(nthreads, g->n, grain, backward_phase_range, &j);
    nn_scratch_free(j.scratch);
    return rc;
}

/* The transposed convolution computes C x (OC/g x KH x KW) x (its grid of
 * about H x (OW + 2 (KW-1) dw - 2 pw)) products, mostly on padding when the
 * forward has little of it; the grid path K x OC/g x (the forward's grid,
 * about OH x W) with chains of only OC/g and a pass of row additions,
 * hence the margin. LeNet's conv2 (14x14 -> 10x10, 5x5, no padding): 595k
 * against 326k multiply-adds per sample. */
static int grid_pays(const Conv2dGeom *g) {
    if (g->oc / g->groups < 8) return 0;
    const int tpw = g->dw * (g->kw - 1) - g->pw;
    const double as_conv = (double)(g->h - 1) * (g->ow + 2 * tpw) + g->w;
    const double grid = (double)(g->oh - 1) * (g->w + 2 * g->pw) + g->ow;
    return as_conv > 1.5 * grid;
}

/* The input gradient's weights (stride 1 as a convolution: flipped;
 * strided: per phase), kept on a node while its parameters are frozen. */
typedef struct {
    Conv2dGeom g; /* what they were built for (batch size aside) */
    float *wt;
    PhasePlan plan;
} ConvDerived;

static void conv_derived_free(void *p) {
    ConvDerived *d = p;
    nn_scratch_free(d->wt);
    phase_plan_free(&d->plan);
    free(d);
}

static int same_geometry(const Conv2dGeom *a, const Conv2dGeom *b) {
    return a->c == b->c && a->h == b->h && a->w == b->w && a->oc == b->oc && a->kh == b->kh && a->kw == b->kw &&
           a->sh == b->sh && a->sw == b->sw && a->ph == b->ph && a->pw == b->pw && a->dh == b->dh && a->dw == b->dw &&
           a->groups == b->groups;
}

/* dx (+)= conv^T(pre(dout)); pre may be NULL. With `keep` (a node whose
 * parameters are frozen) the derived weights are built once and kept there. */
static int backward_input(float *dx, const float *dout, const float *w, const Conv2dGeom *g, int assign,
                          const ConvPre *pre, int nthreads, Node *keep) {
    const int strided = g->sh > 1 || g->sw > 1;
    if (!strided && !(transposable(g) && !grid_pays(g)))
        return backward_input_grid(dx, dout, w, g, assign, pre, nthreads);
    ConvDerived *d = keep ? keep->derived : NULL;
    if (d && !same_geometry(&d->g, g)) {
        conv_derived_free(d);
        keep->derived = d = NULL;
    }
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d) return sn_errorf("out of memory");
        d->g = *g;
        if (strided ? phase_plan_build(&d->plan, w, g) != SN_OK : !(d->wt = flipped_weights(w, g))) {
            conv_derived_free(d);
            return SN_ERR;
        }
        if (keep) keep->derived = d, keep->derived_free = conv_derived_free;
    }
    int rc = strided ? backward_input_phases(dx, dout, &d->plan, g, assign, pre, nthreads)
                     : backward_input_as_conv(dx, dout, d->wt, g, assign, pre, nthreads);
    if (!keep) conv_derived_free(d);
    return rc;
}

int conv2d_backward_input(float *dx, const float *dout, const float *w, const Conv2dGeom *g, int nthreads) {
    return backward_input(dx, dout, w, g, 0, NULL, nthreads, NULL);
}

/* ---- weight gradient ----
 * Per sample and group, dW_g^T[K, OC/g] += cols[K, grid] x dout_g^T[grid,
 * OC/g]: the im2col rows read in place in the forward's phase planes (rows
 * at boff, gemm_run_arows), dout packed transposed onto the forward's grid
 * with zeros in its garbage columns. A block's samples are summed in order
 * into its own [K, OC/g] (one fmaf chain over the grid per sample and
 * element, added in sample order), then added into the block's [OC, K]. */
static int64_t wgrad_floats(const Conv2dGeom *g, const Planes *p) {
    const int cg = g->c / g->groups, ocg = g->oc / g->groups;
    return nn_scratch_stride(planes_floats(p, cg)) + nn_scratch_stride(gemm_packed_floats(ocg, p->n)) +
           (int64_t)cg * g->kh * g->kw * ocg;
}

/* pb = packed panels of B[q, o] = dout_g[o] at grid column q = oh * wq + ow,
 * zero at the grid's garbage columns and past OC/g: those cells are never
 * written, so zeroing pb once (with the scratch) serves every sample. */
static void pack_dout_grid(float *pb, const float *dg, int ocg, const Conv2dGeom *g, const Planes *p) {
    const int64_t ohw = (int64_t)g->oh * g->ow;
    for (int o = 0; o < ocg; o++) {
        float *col = pb + (int64_t)(o / GEMM_NR) * GEMM_NR * p->n + o % GEMM_NR;
        const float *src = dg + o * ohw;
        for (int oh = 0; oh < g->oh; oh++) {
            float *d = col + (int64_t)oh * p->wq * GEMM_NR;
            const float *r = src + (int64_t)oh * g->ow;
            for (int ow = 0; ow < g->ow; ow++) d[(int64_t)ow * GEMM_NR] = r[ow];
        }
    }
}

static int weight_block(void *ctx, int64_t s0, int64_t s1, float *acc, int slot) {
    ConvJob *j = ctx;
    const Conv2dGeom *g = j->g;
    const Planes *p = &j->p;
    const int cg = g->c / g->groups, ocg = g->oc / g->groups, K = cg * g->kh * g->kw;
    const int64_t ohw = (int64_t)g->oh * g->ow, hw = (int64_t)g->h * g->w;
    float *planes = j->scratch + slot * j->stride, *pb = planes + nn_scratch_stride(planes_floats(p, cg)),
          *ct = pb + nn_scratch_stride(gemm_packed_floats(ocg, p->n));
    /* Stride 1 without padding: the sample's channels are the planes. */
    const int direct = g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
    for (int gi = 0; gi < g->groups; gi++) {
        for (int64_t s = s0; s < s1; s++) {
            const float *xs = j->x + s * g->c * hw;
            if (!direct) fill_planes(planes, xs, gi * cg, cg, g, p, NULL, NULL);
            pack_dout_grid(pb, j->dout + s * g->oc * ohw + (int64_t)gi * ocg * ohw, ocg, g, p);
            gemm_run_arows(GEMM_AUTO, K, ocg, p->n, direct ? xs + (int64_t)gi * cg * hw : planes, j->boff, pb, ct, ocg,
                           s > s0);
        }
        float *ag = acc + (int64_t)gi * ocg * K;
        for (int o = 0; o < ocg; o++)
            for (int k = 0; k < K; k++) ag[(int64_t)o * K + k] += ct[(int64_t)k * ocg + o];
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
    const int K = g->c / g->groups * g->kh * g->kw;
    ConvJob j = {.g = g, .x = x, .dout = dout};
    planes_geom(&j.p, g);
    j.stride = nn_scratch_stride(wgrad_floats(g, &j.p));
    int64_t *boff = malloc(sizeof(int64_t) * (size_t)K);
    j.scratch = boff ? nn_scratch_alloc(slots, wgrad_floats(g, &j.p)) : NULL;
    if (!boff) sn_errorf("out of memory");
    int rc = SN_ERR;
    if (j.scratch) {
        /* zero once: the planes' padding cells and the packed dout's
         * garbage cells stay zero (fill_planes, pack_dout_grid) */
        memset(j.scratch, 0, sizeof(float) * (size_t)(slots * j.stride));
        plane_offsets(boff, g, &j.p);
        j.boff = boff;
        rc = nn_sum_blocks(nthreads, g->n, (int64_t)g->oc * K, dw, weight_block, &j);
    }
    nn_scratch_free(j.scratch);
    free(boff);
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

/* A batch norm run inside the conv (LayerRun.post_bn): its eval scale and
 * shift per channel, in one allocation (scale, then shift). */
static float *post_affine(const Node *bn, int oc) {
    float *a = malloc(sizeof(float) * 2 * (size_t)oc);
    if (!a) {
        sn_errorf("out of memory");
        return NULL;
    }
    batchnorm_eval_affine(a, a + oc, tensor_data(&bn->param[0]), tensor_data(&bn->param[1]),
                          tensor_data(&bn->buffer[0]), tensor_data(&bn->buffer[1]), oc, bn->cfg.eps);
    return a;
}

static int conv_forward(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    Conv2dGeom g;
    Shape s = shape_of(in[0]);
    conv2d_geom(&g, &n->cfg, &s);
    const float *w = tensor_data(&n->param[0]), *b = n->nparams > 1 ? tensor_data(&n->param[1]) : NULL;
    if (!run->post_bn) return conv2d_forward(tensor_data(out), tensor_data(in[0]), w, b, &g, run->nthreads);
    float *a = post_affine(run->post_bn, g.oc);
    if (!a) return SN_ERR;
    ConvPost post = {a, a + g.oc, run->post_relu, run->post_bn_out, run->post_relu_out};
    int rc = run_forward(tensor_data(out), tensor_data(in[0]), w, b, &g, 0, &post, NULL, run->nthreads);
    free(a);
    return rc;
}

static int conv_backward(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,
                         const LayerRun *run) {
    Conv2dGeom g;
    Shape s = shape_of(in[0]);
    conv2d_geom(&g, &n->cfg, &s);
    const float *w = tensor_data(&n->param[0]);
    if (run->post_bn) { /* the gradient arrives at the batch norm's (ReLU's) output */
        if (run->want_param_grads) /* model.c refuses these passes */
            return sn_errorf("parameter gradients through a batch norm run inside the conv");
        if (!d_in[0]) return SN_OK;
        float *a = post_affine(run->post_bn, g.oc);
        if (!a) return SN_ERR;
        ConvPre pre = {a, tensor_data(&n->output), run->post_relu};
        int rc = backward_input(tensor_data(d_in[0]), tensor_data(d_out), w, &g, run->fresh & 1, &pre, run->nthreads,
                                run->frozen ? n : NULL);
        free(a);
        return rc;
    }
    if (d_in[0] &&
        backward_input(tensor_data(d_in[0]), tensor_data(d_out), w, &g, run->fresh & 1, NULL, run->nthreads,
                       run->frozen ? n : NULL) != SN_OK)
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
    "conv2d", 1, 0, conv_check, conv_param_shapes, conv_out_shape, conv_forward, conv_backward, conv_init, 1};

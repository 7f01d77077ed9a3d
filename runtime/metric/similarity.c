/* similarity.c — batched per-sample similarity measures (see similarity.h).
 * One parallel_for task per sample, each with its own scratch slice, so a
 * sample's value never depends on the thread count or on its neighbours.
 * Ranks come from a stable LSD radix sort (O(D) per map); SSIM filters only
 * the region that survives skimage's crop; HOG follows skimage 0.19's Cython
 * loop arithmetic (including its float32 cell sums). No Lua, no file I/O. */
#include "metric/similarity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "parallel.h"

const char *const similarity_names[] = {"spearman", "pearson",           "cosine", "mse", "mae", "ssim",
                                        "hog",      "topk_intersection", NULL};

int similarity_find(const char *name) {
    for (int i = 0; similarity_names[i]; i++)
        if (strcmp(similarity_names[i], name) == 0) return i;
    return -1;
}

void hog_default_options(HogOptions *o) {
    o->orientations = 9;
    o->cell[0] = o->cell[1] = 8;
    o->block[0] = o->block[1] = 3;
    o->norm = HOG_L2_HYS;
}

void similarity_default_options(SimOptions *o) {
    memset(o, 0, sizeof *o);
    hog_default_options(&o->hog);
}

/* ---- validation -------------------------------------------------------- */

static int check_spatial(const Tensor *x) {
    char s[128];
    if (x->ndim != 3 && x->ndim != 4)
        return sn_errorf("expected 2-D maps batched as [N, H, W] or [N, C, H, W], got %s",
                         tensor_shape_str(x, s, sizeof s));
    if (x->ndim == 4 && x->shape[1] < 1)
        return sn_errorf("expected at least one channel, got %s", tensor_shape_str(x, s, sizeof s));
    return SN_OK;
}

int64_t hog_length(int64_t h, int64_t w, const HogOptions *o) {
    int64_t nbr = h / o->cell[0] - o->block[0] + 1, nbc = w / o->cell[1] - o->block[1] + 1;
    return nbr * nbc * o->block[0] * o->block[1] * o->orientations;
}

int hog_check(const Tensor *x, const HogOptions *o) {
    if (check_spatial(x) != SN_OK) return SN_ERR;
    if (o->orientations < 1 || o->orientations > 360)
        return sn_errorf("orientations must be in 1..360, got %d", o->orientations);
    for (int i = 0; i < 2; i++) {
        if (o->cell[i] < 1 || o->cell[i] > 4096)
            return sn_errorf("pixels_per_cell must be positive, got %dx%d", o->cell[0], o->cell[1]);
        if (o->block[i] < 1 || o->block[i] > 4096)
            return sn_errorf("cells_per_block must be positive, got %dx%d", o->block[0], o->block[1]);
    }
    int64_t h = x->shape[x->ndim - 2], w = x->shape[x->ndim - 1];
    int64_t need_h = (int64_t)o->cell[0] * o->block[0], need_w = (int64_t)o->cell[1] * o->block[1];
    if (h < need_h || w < need_w)
        return sn_errorf("maps are %lldx%lld but need at least %lldx%lld (pixels_per_cell %dx%d times "
                         "cells_per_block %dx%d)",
                         (long long)h, (long long)w, (long long)need_h, (long long)need_w, o->cell[0], o->cell[1],
                         o->block[0], o->block[1]);
    return SN_OK;
}

int similarity_check(SimKind kind, const Tensor *a, const Tensor *b, const SimOptions *o) {
    char sa[128], sb[128];
    if (!tensor_same_shape(a, b))
        return sn_errorf("a and b must have the same shape, got a %s and b %s", tensor_shape_str(a, sa, sizeof sa),
                         tensor_shape_str(b, sb, sizeof sb));
    if (a->ndim < 2)
        return sn_errorf("expected maps batched as [N, ...] (at least 2 dimensions), got %s",
                         tensor_shape_str(a, sa, sizeof sa));
    int64_t d = tensor_row_numel(a);
    if (d < 1) return sn_errorf("maps have no elements: %s", tensor_shape_str(a, sa, sizeof sa));
    if (d >= (INT64_C(1) << 31)) return sn_errorf("maps are too large (%lld elements per sample)", (long long)d);
    switch (kind) {
    case SIM_SSIM: {
        if (check_spatial(a) != SN_OK) return SN_ERR;
        int64_t h = a->shape[a->ndim - 2], w = a->shape[a->ndim - 1], win = 2 * SSIM_RADIUS + 1;
        if (h < win || w < win)
            return sn_errorf("maps are %lldx%lld but the Gaussian window (sigma 1.5, truncated at 3.5 sigma) "
                             "needs at least %lldx%lld",
                             (long long)h, (long long)w, (long long)win, (long long)win);
        if (!(o->data_range >= 0) || !isfinite(o->data_range))
            return sn_errorf("data_range must be positive (or 0 to infer it), got %g", o->data_range);
        return SN_OK;
    }
    case SIM_HOG:
        return hog_check(a, &o->hog);
    case SIM_TOPK:
        if (o->k < 1 || o->k > d)
            return sn_errorf("k = %lld is out of range: expected 1..%lld (features per map)", (long long)o->k,
                             (long long)d);
        return SN_OK;
    default:
        return SN_OK;
    }
}

/* ---- shared pieces ----------------------------------------------------- */

static inline double ld(const float *x, int64_t j, int abs) {
    return abs ? fabs((double)x[j]) : (double)x[j];
}

static int check_finite(const float *x, int64_t d, const char *which, int64_t sample) {
    for (int64_t j = 0; j < d; j++)
        if (!isfinite(x[j]))
            return sn_errorf("%s holds NaN or Inf in sample %lld (0-based), element %lld", which, (long long)sample,
                             (long long)j);
    return SN_OK;
}

/* Pearson r of two double vectors (two passes, index order), clipped to
 * [-1, 1]; 0 when either side has zero variance. */
static double pearson_d(const double *x, const double *y, int64_t n) {
    double mx = 0, my = 0;
    for (int64_t j = 0; j < n; j++) mx += x[j], my += y[j];
    mx /= (double)n, my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t j = 0; j < n; j++) {
        double dx = x[j] - mx, dy = y[j] - my;
        sxy += dx * dy, sxx += dx * dx, syy += dy * dy;
    }
    if (sxx == 0 || syy == 0) return 0;
    double r = sxy / sqrt(sxx * syy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

static double pearson_f(const float *a, const float *b, int64_t n, int abs) {
    double ma = 0, mb = 0;
    for (int64_t j = 0; j < n; j++) ma += ld(a, j, abs), mb += ld(b, j, abs);
    ma /= (double)n, mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (int64_t j = 0; j < n; j++) {
        double da = ld(a, j, abs) - ma, db = ld(b, j, abs) - mb;
        sab += da * db, saa += da * da, sbb += db * db;
    }
    if (saa == 0 || sbb == 0) return 0;
    double r = sab / sqrt(saa * sbb);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

/* Order-preserving map of a float to uint32 (negatives flipped). */
static inline uint32_t float_key(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u ^ ((uint32_t) - (int32_t)(u >> 31) | 0x80000000u); /* branch-free: negatives flip all bits */
}

/* Stable LSD radix sort of v[0..n) by the high 32 bits (the key); the low 32
 * bits carry the element index. tmp holds n entries. One counting pass for
 * all four key bytes; a byte every key shares is skipped. */
static void radix_sort(uint64_t *v, uint64_t *tmp, int64_t n) {
    int64_t cnt[4][256];
    memset(cnt, 0, sizeof cnt);
    for (int64_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)(v[i] >> 32);
        cnt[0][k & 255]++, cnt[1][k >> 8 & 255]++, cnt[2][k >> 16 & 255]++, cnt[3][k >> 24]++;
    }
    uint64_t *src = v, *dst = tmp;
    for (int pass = 0; pass < 4; pass++) {
        int shift = 32 + 8 * pass;
        int64_t *c = cnt[pass];
        if (c[(src[0] >> shift) & 255] == n) continue;
        int64_t pos = 0;
        for (int k = 0; k < 256; k++) {
            int64_t m = c[k];
            c[k] = pos;
            pos += m;
        }
        for (int64_t i = 0; i < n; i++) dst[c[(src[i] >> shift) & 255]++] = src[i];
        uint64_t *t = src;
        src = dst, dst = t;
    }
    if (src != v) memcpy(v, src, (size_t)n * sizeof *v);
}

/* The sort key of x[j] (|x[j]| with abs); -0 becomes +0 so the two tie, as
 * they compare equal. */
static inline uint64_t rank_key(const float *x, int64_t j, int abs) {
    float f = abs ? fabsf(x[j]) : x[j];
    if (f == 0) f = 0;
    return (uint64_t)float_key(f) << 32 | (uint64_t)j;
}

/* rank[j] = 1-based rank of x[j] (|x[j]| with abs), ties averaged. Equal
 * keys are equal values, so ties are found on the sorted keys alone. */
static void average_ranks(const float *x, int64_t n, int abs, uint64_t *v, uint64_t *tmp, double *rank) {
    for (int64_t j = 0; j < n; j++) v[j] = rank_key(x, j, abs);
    radix_sort(v, tmp, n);
    for (int64_t i = 0; i < n;) {
        uint64_t key = v[i] >> 32;
        int64_t j = i + 1;
        while (j < n && v[j] >> 32 == key) j++;
        double r = (double)(i + j + 1) * 0.5;
        for (int64_t k = i; k < j; k++) rank[(uint32_t)v[k]] = r;
        i = j;
    }
}

/* Sorts by |x| descending, lower index first among equals. */
static void topk_sorted(const float *x, int64_t n, uint64_t *v, uint64_t *tmp) {
    for (int64_t j = 0; j < n; j++) v[j] = (uint64_t)(~float_key(fabsf(x[j]))) << 32 | (uint64_t)j;
    radix_sort(v, tmp, n); /* ascending ~key = descending |x|; stable keeps index order */
}

/* ---- SSIM -------------------------------------------------------------- */

static void ssim_window(double *g) {
    /* scipy.ndimage._gaussian_kernel1d: exp(-0.5 / sigma^2 * x^2), normalized */
    double sum = 0, s2 = SSIM_SIGMA * SSIM_SIGMA;
    for (int k = -SSIM_RADIUS; k <= SSIM_RADIUS; k++) sum += g[k + SSIM_RADIUS] = exp(-0.5 / s2 * (double)(k * k));
    for (int k = 0; k <= 2 * SSIM_RADIUS; k++) g[k] /= sum;
}

/* Mean SSIM of one [h, w] channel over the cropped region. buf holds
 * 5*h*w + 5*(h-2r)*w + 5*(w-2r) doubles. */
static double ssim_channel(const float *x, const float *y, int64_t h, int64_t w, int abs, double c1, double c2,
                           const double *g, double *buf) {
    const int K = 2 * SSIM_RADIUS + 1;
    int64_t hw = h * w, ho = h - 2 * SSIM_RADIUS, wo = w - 2 * SSIM_RADIUS;
    double *p[5], *v[5];
    for (int q = 0; q < 5; q++) p[q] = buf + q * hw, v[q] = buf + 5 * hw + q * ho * w;
    for (int64_t j = 0; j < hw; j++) {
        double xv = ld(x, j, abs), yv = ld(y, j, abs);
        p[0][j] = xv, p[1][j] = yv, p[2][j] = xv * xv, p[3][j] = yv * yv, p[4][j] = xv * yv;
    }
    /* vertical pass over the rows whose windows stay inside the map */
    for (int q = 0; q < 5; q++)
        for (int64_t i = 0; i < ho; i++) {
            double *o = v[q] + i * w;
            const double *mid = p[q] + (i + SSIM_RADIUS) * w, gm = g[SSIM_RADIUS];
            for (int64_t j = 0; j < w; j++) o[j] = gm * mid[j];
            for (int k = 0; k < SSIM_RADIUS; k++) { /* symmetric window: taps k and K-1-k share a weight */
                const double *s1 = p[q] + (i + k) * w, *s2 = p[q] + (i + K - 1 - k) * w;
                double gk = g[k];
                for (int64_t j = 0; j < w; j++) o[j] += gk * (s1[j] + s2[j]);
            }
        }
    /* horizontal pass row by row (j innermost: independent sums), then SSIM */
    double total = 0, *hr = v[4] + ho * w; /* 5 rows of wo */
    for (int64_t i = 0; i < ho; i++) {
        for (int q = 0; q < 5; q++) {
            double *o = hr + q * wo;
            const double *s = v[q] + i * w;
            double gm = g[SSIM_RADIUS];
            for (int64_t j = 0; j < wo; j++) o[j] = gm * s[j + SSIM_RADIUS];
            for (int k = 0; k < SSIM_RADIUS; k++) {
                double gk = g[k];
                for (int64_t j = 0; j < wo; j++) o[j] += gk * (s[j + k] + s[j + K - 1 - k]);
            }
        }
        for (int64_t j = 0; j < wo; j++) {
            double ux = hr[j], uy = hr[wo + j];
            double vx = hr[2 * wo + j] - ux * ux, vy = hr[3 * wo + j] - uy * uy, vxy = hr[4 * wo + j] - ux * uy;
            double a1 = 2 * ux * uy + c1, a2 = 2 * vxy + c2, b1 = ux * ux + uy * uy + c1, b2 = vx + vy + c2;
            total += (a1 * a2) / (b1 * b2);
        }
    }
    return total / (double)(ho * wo);
}

/* ---- HOG --------------------------------------------------------------- */

typedef struct {
    const HogOptions *o;
    int64_t c, h, w, ncr, ncc, len;
    const double *bin_lo, *bin_hi; /* bin i holds lo[i] <= angle < hi[i] */
} HogShape;

static void hog_shape(HogShape *s, const HogOptions *o, int64_t c, int64_t h, int64_t w, const double *lo,
                      const double *hi) {
    s->o = o, s->c = c, s->h = h, s->w = w;
    s->ncr = h / o->cell[0], s->ncc = w / o->cell[1];
    s->len = hog_length(h, w, o);
    s->bin_lo = lo, s->bin_hi = hi;
}

static void hog_bins(int n, double *lo, double *hi) {
    double per = 180.0 / n; /* as skimage: start = per * (i + 1), end = per * i */
    for (int i = 0; i < n; i++) lo[i] = per * i, hi[i] = per * (i + 1);
}

/* numpy's float remainder (sign of the divisor). */
static inline double np_mod(double a, double b) {
    double m = fmod(a, b);
    if (m != 0) {
        if ((b < 0) != (m < 0)) m += b;
    } else {
        m = copysign(0.0, b);
    }
    return m;
}

static size_t hog_scratch_doubles(const HogShape *s) {
    return (size_t)(2 * s->h * s->w + s->ncr * s->ncc * s->o->orientations + s->o->orientations);
}

/* desc[len] = skimage.feature.hog of one [c, h, w] map. buf: hog_scratch_doubles. */
static void hog_one(const HogShape *s, const float *x, int abs, double *buf, double *desc) {
    const HogOptions *o = s->o;
    int64_t h = s->h, w = s->w, hw = h * w;
    int nb = o->orientations;
    double *mag = buf, *ori = buf + hw, *hist = buf + 2 * hw;
    float *tot = (float *)(hist + s->ncr * s->ncc * nb);
    for (int64_t r = 0; r < h; r++)
        for (int64_t col = 0; col < w; col++) {
            double gr = 0, gc = 0, best = -1;
            for (int64_t ch = 0; ch < s->c; ch++) {
                const float *p = x + ch * hw;
                double r1 = (r > 0 && r < h - 1) ? ld(p, (r + 1) * w + col, abs) - ld(p, (r - 1) * w + col, abs) : 0.0;
                double c1 = (col > 0 && col < w - 1) ? ld(p, r * w + col + 1, abs) - ld(p, r * w + col - 1, abs) : 0.0;
                double m = s->c > 1 ? hypot(r1, c1) : 0;
                if (m > best) best = m, gr = r1, gc = c1; /* first channel of largest magnitude */
            }
            mag[r * w + col] = hypot(gc, gr);
            ori[r * w + col] = np_mod(atan2(gr, gc) * (180.0 / M_PI), 180.0);
        }
    int cr = o->cell[0], cc = o->cell[1];
    float area = (float)(cr * cc);
    for (int64_t ri = 0; ri < s->ncr; ri++)
        for (int64_t ci = 0; ci < s->ncc; ci++) {
            for (int b = 0; b < nb; b++) tot[b] = 0;
            for (int64_t r = ri * cr; r < (ri + 1) * cr; r++)
                for (int64_t col = ci * cc; col < (ci + 1) * cc; col++) {
                    double a = ori[r * w + col];
                    for (int b = 0; b < nb; b++)
                        if (a >= s->bin_lo[b] && a < s->bin_hi[b]) {
                            tot[b] = (float)((double)tot[b] + mag[r * w + col]); /* skimage sums in float32 */
                            break;
                        }
                }
            for (int b = 0; b < nb; b++) hist[(ri * s->ncc + ci) * nb + b] = (double)(tot[b] / area);
        }
    int br = o->block[0], bc = o->block[1];
    int64_t nbr = s->ncr - br + 1, nbc = s->ncc - bc + 1, bl = (int64_t)br * bc * nb;
    const double eps = 1e-5;
    for (int64_t i = 0; i < nbr; i++)
        for (int64_t j = 0; j < nbc; j++) {
            double *d = desc + (i * nbc + j) * bl;
            for (int u = 0; u < br; u++)
                for (int v = 0; v < bc; v++)
                    memcpy(d + (u * bc + v) * nb, hist + ((i + u) * s->ncc + j + v) * nb, (size_t)nb * sizeof *d);
            double sum = 0;
            switch (o->norm) {
            case HOG_L1:
            case HOG_L1_SQRT:
                for (int64_t k = 0; k < bl; k++) sum += fabs(d[k]);
                for (int64_t k = 0; k < bl; k++) d[k] = d[k] / (sum + eps);
                if (o->norm == HOG_L1_SQRT)
                    for (int64_t k = 0; k < bl; k++) d[k] = sqrt(d[k]);
                break;
            case HOG_L2:
            case HOG_L2_HYS:
                for (int64_t k = 0; k < bl; k++) sum += d[k] * d[k];
                sum = sqrt(sum + eps * eps);
                for (int64_t k = 0; k < bl; k++) d[k] /= sum;
                if (o->norm == HOG_L2_HYS) {
                    sum = 0;
                    for (int64_t k = 0; k < bl; k++) {
                        if (d[k] > 0.2) d[k] = 0.2;
                        sum += d[k] * d[k];
                    }
                    sum = sqrt(sum + eps * eps);
                    for (int64_t k = 0; k < bl; k++) d[k] /= sum;
                }
                break;
            }
        }
}

/* ---- batch driver ------------------------------------------------------ */

typedef struct {
    SimKind kind;
    const SimOptions *o;
    const float *a, *b; /* [n, d] */
    int64_t d;
    float *out;
    int64_t c, h, w; /* spatial measures */
    double g[2 * SSIM_RADIUS + 1];
    HogShape hog;
    char *scratch;
    size_t per_worker; /* bytes */
} SimJob;

static size_t align64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

static size_t scratch_bytes(const SimJob *j) {
    size_t d = (size_t)j->d;
    switch (j->kind) {
    case SIM_SPEARMAN:
        return align64(d * (2 * sizeof(uint64_t) + 2 * sizeof(double)));
    case SIM_TOPK:
        return align64(d * (2 * sizeof(uint64_t) + 1));
    case SIM_SSIM:
        return align64(sizeof(double) *
                       (size_t)(5 * j->h * j->w + 5 * (j->h - 2 * SSIM_RADIUS) * j->w + 5 * (j->w - 2 * SSIM_RADIUS)));
    case SIM_HOG:
        return align64(sizeof(double) * (hog_scratch_doubles(&j->hog) + 2 * (size_t)j->hog.len));
    default:
        return 0;
    }
}

static int sim_task(void *ctx, int64_t i, int worker) {
    SimJob *j = ctx;
    int64_t d = j->d;
    const float *a = j->a + i * d, *b = j->b + i * d;
    if (check_finite(a, d, "a", i) != SN_OK || check_finite(b, d, "b", i) != SN_OK) return SN_ERR;
    char *scr = j->scratch + (size_t)worker * j->per_worker;
    int abs = j->o->abs;
    double r = 0;
    switch (j->kind) {
    case SIM_SPEARMAN: {
        uint64_t *v = (uint64_t *)scr, *tmp = v + d;
        double *ra = (double *)(tmp + d), *rb = ra + d;
        average_ranks(a, d, abs, v, tmp, ra);
        average_ranks(b, d, abs, v, tmp, rb);
        r = pearson_d(ra, rb, d);
        break;
    }
    case SIM_PEARSON:
        r = pearson_f(a, b, d, abs);
        break;
    case SIM_COSINE: {
        double ab = 0, aa = 0, bb = 0;
        for (int64_t k = 0; k < d; k++) {
            double x = ld(a, k, abs), y = ld(b, k, abs);
            ab += x * y, aa += x * x, bb += y * y;
        }
        r = (aa == 0 || bb == 0) ? 0 : ab / sqrt(aa * bb);
        r = r > 1 ? 1 : r < -1 ? -1 : r;
        break;
    }
    case SIM_MSE:
    case SIM_MAE: {
        double s = 0;
        for (int64_t k = 0; k < d; k++) {
            double e = ld(a, k, abs) - ld(b, k, abs);
            s += j->kind == SIM_MSE ? e * e : fabs(e);
        }
        r = s / (double)d;
        break;
    }
    case SIM_SSIM: {
        double range = j->o->data_range;
        if (range <= 0) {
            double lo = ld(a, 0, abs), hi = lo;
            for (int64_t k = 0; k < d; k++) {
                double x = ld(a, k, abs), y = ld(b, k, abs);
                lo = fmin(lo, fmin(x, y)), hi = fmax(hi, fmax(x, y));
            }
            range = hi - lo;
        }
        if (range == 0) { /* both maps are the same constant */
            r = 1;
            break;
        }
        double c1 = (0.01 * range) * (0.01 * range), c2 = (0.03 * range) * (0.03 * range);
        int64_t hw = j->h * j->w;
        for (int64_t ch = 0; ch < j->c; ch++)
            r += ssim_channel(a + ch * hw, b + ch * hw, j->h, j->w, abs, c1, c2, j->g, (double *)scr);
        r /= (double)j->c;
        break;
    }
    case SIM_HOG: {
        double *buf = (double *)scr, *da = buf + hog_scratch_doubles(&j->hog), *db = da + j->hog.len;
        hog_one(&j->hog, a, abs, buf, da);
        hog_one(&j->hog, b, abs, buf, db);
        r = pearson_d(da, db, j->hog.len);
        break;
    }
    case SIM_TOPK: {
        uint64_t *v = (uint64_t *)scr, *tmp = v + d;
        unsigned char *mark = (unsigned char *)(tmp + d);
        int64_t k = j->o->k, hits = 0;
        memset(mark, 0, (size_t)d);
        topk_sorted(a, d, v, tmp);
        for (int64_t q = 0; q < k; q++) mark[(uint32_t)v[q]] = 1;
        topk_sorted(b, d, v, tmp);
        for (int64_t q = 0; q < k; q++) hits += mark[(uint32_t)v[q]];
        r = (double)hits / (double)k;
        break;
    }
    default:
        return sn_errorf("unknown similarity %d", (int)j->kind);
    }
    j->out[i] = (float)r;
    return SN_OK;
}

static void spatial_dims(const Tensor *x, int64_t *c, int64_t *h, int64_t *w) {
    *c = x->ndim == 4 ? x->shape[1] : 1;
    *h = x->shape[x->ndim - 2];
    *w = x->shape[x->ndim - 1];
}

static int alloc_scratch(SimJob *j, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    j->per_worker = scratch_bytes(j);
    j->scratch = NULL;
    if (j->per_worker == 0) return SN_OK;
    j->scratch = aligned_alloc(64, j->per_worker * (size_t)nthreads);
    if (!j->scratch) return sn_errorf("out of memory (%zu bytes of scratch)", j->per_worker * (size_t)nthreads);
    return SN_OK;
}

int similarity_batch(SimKind kind, const Tensor *a, const Tensor *b, const SimOptions *o, Tensor *out, int nthreads) {
    int64_t n = a->shape[0];
    SimJob j = {.kind = kind,
                .o = o,
                .a = tensor_data(a),
                .b = tensor_data(b),
                .d = tensor_row_numel(a),
                .out = tensor_data(out)};
    double lo[360], hi[360];
    if (kind == SIM_SSIM || kind == SIM_HOG) spatial_dims(a, &j.c, &j.h, &j.w);
    if (kind == SIM_SSIM) ssim_window(j.g);
    if (kind == SIM_HOG) {
        hog_bins(o->hog.orientations, lo, hi);
        hog_shape(&j.hog, &o->hog, j.c, j.h, j.w, lo, hi);
    }
    if (n == 0) return SN_OK;
    if (nthreads > n) nthreads = (int)n;
    if (alloc_scratch(&j, nthreads) != SN_OK) return SN_ERR;
    int rc = parallel_for(nthreads, n, sim_task, &j);
    free(j.scratch);
    return rc;
}

typedef struct {
    const float *x;
    int64_t d;
    int abs;
    HogShape hog;
    float *out;
    char *scratch;
    size_t per_worker;
} HogJob;

static int hog_task(void *ctx, int64_t i, int worker) {
    HogJob *j = ctx;
    const float *x = j->x + i * j->d;
    if (check_finite(x, j->d, "x", i) != SN_OK) return SN_ERR;
    double *buf = (double *)(j->scratch + (size_t)worker * j->per_worker), *desc = buf + hog_scratch_doubles(&j->hog);
    hog_one(&j->hog, x, j->abs, buf, desc);
    float *o = j->out + i * j->hog.len;
    for (int64_t k = 0; k < j->hog.len; k++) o[k] = (float)desc[k];
    return SN_OK;
}

int hog_batch(const Tensor *x, const HogOptions *o, int abs, Tensor *out, int nthreads) {
    int64_t n = x->shape[0], c, h, w;
    double lo[360], hi[360];
    spatial_dims(x, &c, &h, &w);
    hog_bins(o->orientations, lo, hi);
    HogJob j = {.x = tensor_data(x), .d = tensor_row_numel(x), .abs = abs, .out = tensor_data(out)};
    hog_shape(&j.hog, o, c, h, w, lo, hi);
    if (n == 0) return SN_OK;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > n) nthreads = (int)n;
    j.per_worker = align64(sizeof(double) * (hog_scratch_doubles(&j.hog) + (size_t)j.hog.len));
    j.scratch = aligned_alloc(64, j.per_worker * (size_t)nthreads);
    if (!j.scratch) return sn_errorf("out of memory (%zu bytes of scratch)", j.per_worker * (size_t)nthreads);
    int rc = parallel_for(nthreads, n, hog_task, &j);
    free(j.scratch);
    return rc;
}

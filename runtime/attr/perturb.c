/* perturb.c — the pieces every perturbation method uses (perturb_impl.h):
 * baselines (constant, tensor, Gaussian blur, mean), segment labels,
 * building and scoring perturbed rows chunk by chunk, and weighted least
 * squares solved with LAPACK (OpenBLAS ships it; the Fortran prototypes are
 * declared here since Debian's OpenBLAS has no lapacke.h). No method lives
 * here: see occlusion.c (occlusion, ablation, RISE) and surrogate.c (LIME,
 * KernelSHAP). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attr/perturb_impl.h"
#include "attr/segment.h"
#include "error.h"
#include "parallel.h"

/* LAPACK (Fortran ABI: arguments by reference, hidden string lengths last). */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b,
                    const int *ldb, int *info, size_t uplo_len);
extern void dpocon_(const char *uplo, const int *n, const double *a, const int *lda, const double *anorm, double *rcond,
                    double *work, int *iwork, int *info, size_t uplo_len);
extern double dlansy_(const char *norm, const char *uplo, const int *n, const double *a, const int *lda, double *work,
                      size_t norm_len, size_t uplo_len);

/* ---- baselines ---------------------------------------------------------- */

static int64_t reflect(int64_t i, int64_t n) {
    int64_t period = 2 * n;
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - 1 - i;
}

int perturb_blur(const float *img, int64_t c, int64_t h, int64_t w, double sigma, float *out) {
    int64_t r = (int64_t)(4.0 * sigma + 0.5), len = 2 * r + 1, hw = h * w;
    double *k = malloc(sizeof(double) * (size_t)len), *tmp = malloc(sizeof(double) * (size_t)hw);
    if (!k || !tmp) {
        free(k), free(tmp);
        return sn_errorf("out of memory blurring a %lld x %lld image", (long long)h, (long long)w);
    }
    double ks = 0;
    for (int64_t i = -r; i <= r; i++) ks += k[i + r] = exp(-0.5 * (double)(i * i) / (sigma * sigma));
    for (int64_t i = 0; i < len; i++) k[i] /= ks;
    for (int64_t ch = 0; ch < c; ch++) {
        const float *src = img + ch * hw;
        for (int64_t y = 0; y < h; y++) /* along H (scipy's axis order) */
            for (int64_t x = 0; x < w; x++) {
                double acc = 0;
                for (int64_t i = -r; i <= r; i++) acc += k[i + r] * src[reflect(y + i, h) * w + x];
                tmp[y * w + x] = acc;
            }
        for (int64_t y = 0; y < h; y++) /* then along W */
            for (int64_t x = 0; x < w; x++) {
                double acc = 0;
                for (int64_t i = -r; i <= r; i++) acc += k[i + r] * tmp[y * w + reflect(x + i, w)];
                out[ch * hw + y * w + x] = (float)acc;
            }
    }
    free(k), free(tmp);
    return SN_OK;
}

typedef struct {
    const Baseline *b;
    const Tensor *x;
    float *out;
} BaseCtx;

static int baseline_task(void *p, int64_t i, int worker) {
    (void)worker;
    const BaseCtx *c = p;
    int64_t row = tensor_row_numel(c->x);
    const float *xi = tensor_data(c->x) + i * row;
    float *o = c->out + i * row;
    switch (c->b->kind) {
    case BASELINE_VALUE:
        for (int64_t e = 0; e < row; e++) o[e] = c->b->value;
        return SN_OK;
    case BASELINE_TENSOR: {
        const Tensor *t = c->b->tensor;
        memcpy(o, tensor_data(t) + (t->shape[0] == 1 ? 0 : i * row), sizeof(float) * (size_t)row);
        return SN_OK;
    }
    case BASELINE_BLUR:
        return perturb_blur(xi, c->x->shape[1], c->x->shape[2], c->x->shape[3], c->b->sigma, o);
    case BASELINE_MEAN: {
        int64_t ch = c->x->ndim >= 3 ? c->x->shape[1] : 1, plane = row / ch;
        for (int64_t k = 0; k < ch; k++) {
            double s = 0;
            for (int64_t e = 0; e < plane; e++) s += xi[k * plane + e];
            for (int64_t e = 0; e < plane; e++) o[k * plane + e] = (float)(s / (double)plane);
        }
        return SN_OK;
    }
    }
    return SN_OK;
}

int perturb_baseline(const Baseline *b, const Tensor *x, int nthreads, float *out) {
    BaseCtx c = {b, x, out};
    return parallel_for(nthreads, x->shape[0], baseline_task, &c);
}

/* ---- segments ------------------------------------------------------------ */

typedef struct {
    const Tensor *seg;
    SegLabels *s;
} LabelCtx;

static int label_task(void *p, int64_t i, int worker) {
    (void)worker;
    const LabelCtx *c = p;
    int64_t k = segment_compact(tensor_data(c->seg) + i * c->s->per, c->s->per, c->s->labels + i * c->s->per);
    if (k < 0) return SN_ERR;
    c->s->count[i] = k;
    return SN_OK;
}

int perturb_labels(const Tensor *x, const Tensor *segments, int nthreads, SegLabels *s) {
    int64_t n = x->shape[0], ns = segments->shape[0];
    memset(s, 0, sizeof *s);
    s->per = tensor_row_numel(segments);
    s->shared = ns == 1 && n > 1;
    s->labels = malloc(sizeof(int32_t) * (size_t)(ns * s->per));
    s->count = malloc(sizeof(int64_t) * (size_t)n);
    if (!s->labels || !s->count) {
        perturb_labels_free(s);
        return sn_errorf("out of memory for the segment labels of %lld samples", (long long)n);
    }
    LabelCtx c = {segments, s};
    if (parallel_for(nthreads, ns, label_task, &c) != SN_OK) {
        perturb_labels_free(s);
        return SN_ERR;
    }
    for (int64_t i = 1; s->shared && i < n; i++) s->count[i] = s->count[0];
    return SN_OK;
}

void perturb_labels_free(SegLabels *s) {
    free(s->labels);
    free(s->count);
    s->labels = NULL, s->count = NULL;
}

void perturb_apply(const float *x, const float *b, const int32_t *lab, int64_t per, int64_t row, const uint8_t *on,
                   float *dst) {
    for (int64_t base = 0; base < row; base += per)
        for (int64_t e = 0; e < per; e++) dst[base + e] = on[lab[e]] ? x[base + e] : b[base + e];
}

void perturb_paint(const double *value, const int32_t *lab, int64_t per, int64_t row, float *out) {
    for (int64_t base = 0; base < row; base += per)
        for (int64_t e = 0; e < per; e++) out[base + e] = (float)value[lab[e]];
}

/* ---- scoring perturbed rows ---------------------------------------------- */

#define FILL_BLOCK 8 /* rows per fill task */

typedef struct {
    const PerturbRows *rows;
    float *buf;
    int64_t start, len, rowlen;
    char *scratch;
    size_t sstride;
} FillCtx;

static int fill_task(void *p, int64_t t, int worker) {
    const FillCtx *c = p;
    const PerturbRows *pr = c->rows;
    int64_t lo = t * FILL_BLOCK, hi = lo + FILL_BLOCK < c->len ? lo + FILL_BLOCK : c->len;
    int64_t g = c->start + lo, s = 0, e = pr->n;
    while (s + 1 < e) { /* last sample whose first row is <= g */
        int64_t mid = (s + e) / 2;
        if (pr->off[mid] <= g)
            s = mid;
        else
            e = mid;
    }
    for (int64_t j = lo; j < hi; j++, g++) {
        while (g >= pr->off[s + 1]) s++;
        pr->fill(pr->ctx, pr->first + s, g - pr->off[s], c->buf + j * c->rowlen,
                 c->scratch ? c->scratch + (size_t)worker * c->sstride : NULL);
    }
    return SN_OK;
}

int perturb_scores(const AttrRun *r, const Tensor *x, const float *targets, const PerturbRows *rows, float *scores) {
    int64_t total = rows->off[rows->n];
    if (total == 0) return SN_OK;
    int64_t chunk = r->chunk < total ? r->chunk : total, rowlen = tensor_row_numel(x);
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = chunk;
    Tensor buf;
    if (tensor_init(&buf, x->ndim, shape) != SN_OK) return SN_ERR;
    int nth = r->nthreads < 1 ? 1 : r->nthreads > 64 ? 64 : r->nthreads;
    float *tg = malloc(sizeof(float) * (size_t)chunk);
    size_t sstride = (rows->scratch + 63) & ~(size_t)63; /* per worker, aligned */
    char *scratch = rows->scratch ? malloc(sstride * (size_t)nth) : NULL;
    int rc = SN_OK;
    if (!tg || (rows->scratch && !scratch))
        rc = sn_errorf("out of memory for a chunk of %lld perturbed rows", (long long)chunk);
    int64_t s_idx = 0;
    for (int64_t start = 0; rc == SN_OK && start < total; start += chunk) {
        int64_t len = total - start < chunk ? total - start : chunk;
        FillCtx fc = {rows, tensor_data(&buf), start, len, rowlen, scratch, sstride};
        rc = parallel_for(nth, (len + FILL_BLOCK - 1) / FILL_BLOCK, fill_task, &fc);
        for (int64_t j = 0; rc == SN_OK && j < len; j++) {
            while (start + j >= rows->off[s_idx + 1]) s_idx++;
            tg[j] = targets[rows->first + s_idx];
        }
        Tensor view;
        if (rc == SN_OK) rc = tensor_narrow(&view, &buf, 0, len);
        if (rc == SN_OK) {
            rc = attr_scores(r, &view, tg, scores + start);
            tensor_release(&view);
        }
    }
    free(tg);
    free(scratch);
    tensor_release(&buf);
    return rc;
}

/* ---- weighted least squares ---------------------------------------------- */

#define WLS_BLOCK 256 /* rows per dsyrk: fixed, so sums do not depend on anything else */

int perturb_wls(int64_t m, int p, WlsRowFn row, const void *ctx, const double *w, const double *y, const double *pen,
                double *beta, double *ridge) {
    size_t pp = (size_t)p * (size_t)p;
    double *blk = malloc(sizeof(double) * (size_t)p * WLS_BLOCK), *yb = malloc(sizeof(double) * WLS_BLOCK);
    double *g = calloc(pp, sizeof(double)), *gf = malloc(sizeof(double) * pp), *rhs = calloc((size_t)p, sizeof(double));
    double *work = malloc(sizeof(double) * 3 * (size_t)p);
    int *iwork = malloc(sizeof(int) * (size_t)p);
    *ridge = 0;
    if (!blk || !yb || !g || !gf || !rhs || !work || !iwork) {
        free(blk), free(yb), free(g), free(gf), free(rhs), free(work), free(iwork);
        return sn_errorf("out of memory for a %d-parameter regression", p);
    }
    /* G = A^T W A, rhs = A^T W y: blk holds sqrt(w_j) a_j as columns (column-major p x nb) */
    for (int64_t j0 = 0; j0 < m; j0 += WLS_BLOCK) {
        int nb = (int)(m - j0 < WLS_BLOCK ? m - j0 : WLS_BLOCK);
        for (int j = 0; j < nb; j++) {
            double sw = sqrt(w[j0 + j]);
            row(ctx, j0 + j, blk + (size_t)j * (size_t)p);
            for (int k = 0; k < p; k++) blk[(size_t)j * (size_t)p + (size_t)k] *= sw;
            yb[j] = sw * y[j0 + j];
        }
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, p, nb, 1.0, blk, p, 1.0, g, p);
        cblas_dgemv(CblasColMajor, CblasNoTrans, p, nb, 1.0, blk, p, yb, 1, 1.0, rhs, 1);
    }
    double diag = 0;
    for (int k = 0; k < p; k++) {
        if (pen) g[(size_t)k * (size_t)p + (size_t)k] += pen[k];
        diag += fabs(g[(size_t)k * (size_t)p + (size_t)k]);
    }
    diag = diag > 0 ? diag / p : 1.0;
    /* Cholesky; on failure or a condition number beyond 1e12, add a growing ridge */
    double lam = 0;
    int info = 0;
    for (int attempt = 0; attempt < 12; attempt++) {
        memcpy(gf, g, sizeof(double) * pp);
        for (int k = 0; k < p; k++) gf[(size_t)k * (size_t)p + (size_t)k] += lam;
        double anorm = dlansy_("1", "U", &p, gf, &p, work, 1, 1), rcond = 0;
        dpotrf_("U", &p, gf, &p, &info, 1);
        if (info == 0) dpocon_("U", &p, gf, &p, &anorm, &rcond, work, iwork, &info, 1);
        if (info == 0 && rcond >= 1e-12 && isfinite(anorm)) break;
        info = 1;
        lam = lam == 0 ? 1e-10 * diag : lam * 10;
    }
    int one = 1;
    if (info == 0) {
        memcpy(beta, rhs, sizeof(double) * (size_t)p);
        dpotrs_("U", &p, &one, gf, &p, beta, &p, &info, 1);
    }
    if (info != 0) { /* a non-finite matrix (weights): nothing sensible to fit */
        for (int k = 0; k < p; k++) beta[k] = 0;
        lam = INFINITY;
    }
    *ridge = lam;
    free(blk), free(yb), free(g), free(gf), free(rhs), free(work), free(iwork);
    return SN_OK;
}

void perturb_report_merge(PerturbReport *rep, const double *ridge, int64_t first, int64_t n) {
    if (!rep) return;
    for (int64_t i = 0; i < n; i++) {
        if (ridge[i] == 0) continue;
        if (rep->nsingular++ == 0) rep->first_singular = first + i;
        if (ridge[i] > rep->ridge) rep->ridge = ridge[i];
    }
}

/* occlusion.c — the methods that read scores off directly, without a
 * regression: occlusion (sliding patch), feature ablation (one segment at a
 * time) and RISE (random smooth masks). Rows are built by perturb_scores
 * in chunks; the maps are reduced per sample in draw order, in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attr/perturb_impl.h"
#include "error.h"
#include "parallel.h"
#include "rng.h"

/* The baseline of every sample, as a tensor shaped like x. */
static int make_baseline(const AttrRun *r, const Baseline *b, const Tensor *x, Tensor *base) {
    if (tensor_init_like(base, x) != SN_OK) return SN_ERR;
    if (perturb_baseline(b, x, r->nthreads, tensor_data(base)) != SN_OK) {
        tensor_release(base);
        return SN_ERR;
    }
    return SN_OK;
}

/* ---- occlusion ------------------------------------------------------------ */

typedef struct {
    const float *x, *base;
    int64_t c, h, w, nx;
    const OcclusionOptions *o;
    const float *fx, *scores;
    const int32_t *cover; /* [h*w] patches covering each pixel */
    float *out;
} OccCtx;

static void occ_fill(const void *p, int64_t i, int64_t d, float *dst, void *scratch) {
    (void)scratch;
    const OccCtx *c = p;
    int64_t hw = c->h * c->w, row = c->c * hw;
    int64_t py = (d / c->nx) * c->o->stride[0], px = (d % c->nx) * c->o->stride[1];
    const float *b = c->base + i * row;
    memcpy(dst, c->x + i * row, sizeof(float) * (size_t)row);
    for (int64_t ch = 0; ch < c->c; ch++)
        for (int64_t y = py; y < py + c->o->patch[0]; y++)
            memcpy(dst + ch * hw + y * c->w + px, b + ch * hw + y * c->w + px, sizeof(float) * (size_t)c->o->patch[1]);
}

static int occ_reduce(void *p, int64_t i, int worker) {
    (void)worker;
    const OccCtx *c = p;
    int64_t hw = c->h * c->w, ny = (c->h - c->o->patch[0]) / c->o->stride[0] + 1, np = ny * c->nx;
    double *acc = calloc((size_t)hw, sizeof(double));
    if (!acc) return sn_errorf("out of memory for an occlusion map");
    for (int64_t d = 0; d < np; d++) {
        double diff = (double)c->fx[i] - (double)c->scores[i * np + d];
        int64_t py = (d / c->nx) * c->o->stride[0], px = (d % c->nx) * c->o->stride[1];
        for (int64_t y = py; y < py + c->o->patch[0]; y++)
            for (int64_t x = px; x < px + c->o->patch[1]; x++) acc[y * c->w + x] += diff;
    }
    float *o = c->out + i * c->c * hw;
    for (int64_t e = 0; e < hw; e++) o[e] = c->cover[e] ? (float)(acc[e] / c->cover[e]) : 0.0f;
    for (int64_t ch = 1; ch < c->c; ch++) memcpy(o + ch * hw, o, sizeof(float) * (size_t)hw);
    free(acc);
    return SN_OK;
}

int attr_occlusion(const AttrRun *r, const Tensor *x, const float *targets, const OcclusionOptions *o, Tensor *out) {
    int64_t n = x->shape[0], h = x->shape[2], w = x->shape[3];
    int64_t ny = (h - o->patch[0]) / o->stride[0] + 1, nx = (w - o->patch[1]) / o->stride[1] + 1, np = ny * nx;
    Tensor base = {0};
    memset(out, 0, sizeof *out);
    float *fx = malloc(sizeof(float) * (size_t)n), *scores = malloc(sizeof(float) * (size_t)(n * np));
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int32_t *cover = calloc((size_t)(h * w), sizeof(int32_t));
    int rc =
        fx && scores && off && cover ? SN_OK : sn_errorf("out of memory for %lld occlusion rows", (long long)(n * np));
    if (rc == SN_OK) rc = make_baseline(r, &o->baseline, x, &base);
    if (rc == SN_OK) rc = attr_scores(r, x, targets, fx);
    OccCtx c = {
        tensor_data(x), rc == SN_OK ? tensor_data(&base) : NULL, x->shape[1], h, w, nx, o, fx, scores, cover, NULL};
    if (rc == SN_OK) {
        for (int64_t i = 0; i <= n; i++) off[i] = i * np;
        PerturbRows rows = {0, n, off, occ_fill, &c, 0};
        rc = perturb_scores(r, x, targets, &rows, scores);
    }
    if (rc == SN_OK) rc = tensor_init_like(out, x);
    if (rc == SN_OK) {
        for (int64_t d = 0; d < np; d++) {
            int64_t py = (d / nx) * o->stride[0], px = (d % nx) * o->stride[1];
            for (int64_t y = py; y < py + o->patch[0]; y++)
                for (int64_t xx = px; xx < px + o->patch[1]; xx++) cover[y * w + xx]++;
        }
        c.out = tensor_data(out);
        rc = parallel_for(r->nthreads, n, occ_reduce, &c);
        if (rc != SN_OK) tensor_release(out);
    }
    tensor_release(&base);
    free(fx), free(scores), free(off), free(cover);
    return rc;
}

/* ---- feature ablation ------------------------------------------------------ */

typedef struct {
    const float *x, *base;
    int64_t row;
    const SegLabels *sl;
    const int64_t *off;
    const float *fx, *scores;
    float *out;
} AblCtx;

static void abl_fill(const void *p, int64_t i, int64_t m, float *dst, void *scratch) {
    (void)scratch;
    const AblCtx *c = p;
    const int32_t *lab = seg_row(c->sl, i);
    const float *x = c->x + i * c->row, *b = c->base + i * c->row;
    int64_t per = c->sl->per;
    for (int64_t base = 0; base < c->row; base += per)
        for (int64_t e = 0; e < per; e++) dst[base + e] = lab[e] == m ? b[base + e] : x[base + e];
}

static int abl_reduce(void *p, int64_t i, int worker) {
    (void)worker;
    const AblCtx *c = p;
    int64_t k = c->sl->count[i];
    double *v = malloc(sizeof(double) * (size_t)k);
    if (!v) return sn_errorf("out of memory for %lld segment values", (long long)k);
    for (int64_t m = 0; m < k; m++) v[m] = (double)c->fx[i] - (double)c->scores[c->off[i] + m];
    perturb_paint(v, seg_row(c->sl, i), c->sl->per, c->row, c->out + i * c->row);
    free(v);
    return SN_OK;
}

int attr_feature_ablation(const AttrRun *r, const Tensor *x, const float *targets, const AblationOptions *o,
                          Tensor *out) {
    int64_t n = x->shape[0];
    Tensor base = {0};
    SegLabels sl = {0};
    memset(out, 0, sizeof *out);
    float *fx = malloc(sizeof(float) * (size_t)n), *scores = NULL;
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int rc = fx && off ? SN_OK : sn_errorf("out of memory for feature ablation");
    if (rc == SN_OK) rc = perturb_labels(x, o->segments, r->nthreads, &sl);
    if (rc == SN_OK) {
        off[0] = 0;
        for (int64_t i = 0; i < n; i++) off[i + 1] = off[i] + sl.count[i];
        scores = malloc(sizeof(float) * (size_t)(off[n] ? off[n] : 1));
        if (!scores) rc = sn_errorf("out of memory for %lld ablation rows", (long long)off[n]);
    }
    if (rc == SN_OK) rc = make_baseline(r, &o->baseline, x, &base);
    if (rc == SN_OK) rc = attr_scores(r, x, targets, fx);
    AblCtx c = {
        tensor_data(x), rc == SN_OK ? tensor_data(&base) : NULL, tensor_row_numel(x), &sl, off, fx, scores, NULL};
    if (rc == SN_OK) {
        PerturbRows rows = {0, n, off, abl_fill, &c, 0};
        rc = perturb_scores(r, x, targets, &rows, scores);
    }
    if (rc == SN_OK) rc = tensor_init_like(out, x);
    if (rc == SN_OK) {
        c.out = tensor_data(out);
        rc = parallel_for(r->nthreads, n, abl_reduce, &c);
        if (rc != SN_OK) tensor_release(out);
    }
    tensor_release(&base);
    perturb_labels_free(&sl);
    free(fx), free(scores), free(off);
    return rc;
}

/* ---- RISE -------------------------------------------------------------------- */

void rise_mask_from_grid(const uint8_t *grid, int64_t gh, int64_t gw, int64_t ch, int64_t cw, int64_t dy, int64_t dx,
                         int64_t h, int64_t w, float *tmp, float *mask) {
    /* separable: interpolate every grid row along x into tmp[gh][w], then rows along y */
    for (int64_t x = 0; x < w; x++) {
        double sx = ((double)(x + dx) + 0.5) / (double)cw - 0.5;
        if (sx < 0) sx = 0;
        int64_t x0 = (int64_t)sx, x1 = x0 + (x0 < gw - 1);
        float lx = (float)(sx - (double)x0);
        for (int64_t gy = 0; gy < gh; gy++) tmp[gy * w + x] = (1 - lx) * grid[gy * gw + x0] + lx * grid[gy * gw + x1];
    }
    for (int64_t y = 0; y < h; y++) {
        double sy = ((double)(y + dy) + 0.5) / (double)ch - 0.5;
        if (sy < 0) sy = 0;
        int64_t y0 = (int64_t)sy, y1 = y0 + (y0 < gh - 1);
        float ly = (float)(sy - (double)y0);
        const float *r0 = tmp + y0 * w, *r1 = tmp + y1 * w;
        float *o = mask + y * w;
        for (int64_t x = 0; x < w; x++) o[x] = (1 - ly) * r0[x] + ly * r1[x];
    }
}

typedef struct {
    const float *x, *base;
    int64_t c, h, w, gh, gw;
    const RiseOptions *o;
    uint64_t seed;
    const float *scores;
    float *out;
} RiseCtx;

/* scratch: h*w mask floats, gh*w interpolated rows, gh*gw+2 uniforms, gh*gw grid bytes */
static size_t rise_scratch(const RiseCtx *c) {
    int64_t g = c->gh * c->gw;
    return sizeof(float) * (size_t)(c->h * c->w + c->gh * c->w + g + 2) + (size_t)g;
}

static void rise_mask(const RiseCtx *c, int64_t i, int64_t d, void *scratch) {
    int64_t g = c->gh * c->gw;
    float *mask = scratch, *tmp = mask + c->h * c->w, *u = tmp + c->gh * c->w;
    uint8_t *grid = (uint8_t *)(u + g + 2);
    rng_uniform(u, g + 2, c->seed, rng_stream("rise", (uint64_t)i, (uint64_t)d), 0);
    for (int64_t k = 0; k < g; k++) grid[k] = u[k] < c->o->p;
    int64_t dy = (int64_t)(u[g] * (float)c->o->cell[0]), dx = (int64_t)(u[g + 1] * (float)c->o->cell[1]);
    if (dy >= c->o->cell[0]) dy = c->o->cell[0] - 1;
    if (dx >= c->o->cell[1]) dx = c->o->cell[1] - 1;
    rise_mask_from_grid(grid, c->gh, c->gw, c->o->cell[0], c->o->cell[1], dy, dx, c->h, c->w, tmp, mask);
}

static void rise_fill(const void *p, int64_t i, int64_t d, float *dst, void *scratch) {
    const RiseCtx *c = p;
    int64_t hw = c->h * c->w, row = c->c * hw;
    rise_mask(c, i, d, scratch);
    const float *m = scratch, *x = c->x + i * row, *b = c->base + i * row;
    for (int64_t ch = 0; ch < c->c; ch++)
        for (int64_t e = 0; e < hw; e++) dst[ch * hw + e] = b[ch * hw + e] + (x[ch * hw + e] - b[ch * hw + e]) * m[e];
}

static int rise_reduce(void *p, int64_t i, int worker) {
    (void)worker;
    const RiseCtx *c = p;
    int64_t hw = c->h * c->w, nm = c->o->n_masks;
    double *acc = calloc((size_t)hw, sizeof(double));
    void *scratch = malloc(rise_scratch(c));
    if (!acc || !scratch) {
        free(acc), free(scratch);
        return sn_errorf("out of memory for a RISE map");
    }
    const float *m = scratch;
    for (int64_t d = 0; d < nm; d++) {
        rise_mask(c, i, d, scratch);
        double s = c->scores[i * nm + d];
        for (int64_t e = 0; e < hw; e++) acc[e] += s * m[e];
    }
    double norm = 1.0 / ((double)nm * c->o->p);
    float *o = c->out + i * c->c * hw;
    for (int64_t e = 0; e < hw; e++) o[e] = (float)(acc[e] * norm);
    for (int64_t ch = 1; ch < c->c; ch++) memcpy(o + ch * hw, o, sizeof(float) * (size_t)hw);
    free(acc), free(scratch);
    return SN_OK;
}

int attr_rise(const AttrRun *r, const Tensor *x, const float *targets, const RiseOptions *o, Tensor *out) {
    int64_t n = x->shape[0], h = x->shape[2], w = x->shape[3], nm = o->n_masks;
    Tensor base = {0};
    memset(out, 0, sizeof *out);
    float *scores = malloc(sizeof(float) * (size_t)(n * nm));
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int rc = scores && off ? SN_OK : sn_errorf("out of memory for %lld RISE rows", (long long)(n * nm));
    if (rc == SN_OK) rc = make_baseline(r, &o->baseline, x, &base);
    if (rc == SN_OK) rc = attr_scores(r, x, targets, scores); /* checks the targets, naming the sample */
    RiseCtx c = {tensor_data(x),
                 rc == SN_OK ? tensor_data(&base) : NULL,
                 x->shape[1],
                 h,
                 w,
                 (h + o->cell[0] - 1) / o->cell[0] + 1,
                 (w + o->cell[1] - 1) / o->cell[1] + 1,
                 o,
                 r->seed,
                 scores,
                 NULL};
    if (rc == SN_OK) {
        for (int64_t i = 0; i <= n; i++) off[i] = i * nm;
        PerturbRows rows = {0, n, off, rise_fill, &c, rise_scratch(&c)};
        rc = perturb_scores(r, x, targets, &rows, scores);
    }
    if (rc == SN_OK) rc = tensor_init_like(out, x);
    if (rc == SN_OK) {
        c.out = tensor_data(out);
        rc = parallel_for(r->nthreads, n, rise_reduce, &c);
        if (rc != SN_OK) tensor_release(out);
    }
    tensor_release(&base);
    free(scores), free(off);
    return rc;
}

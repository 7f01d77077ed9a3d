/* faithfulness.c — infidelity, sensitivity, faithfulness correlation, pixel
 * flipping, sufficiency and completeness (faithfulness.h). Perturbed inputs
 * are generated in parallel, a chunk of rows at a time, and scored by the
 * model through attr_scores; per-sample reductions then run in a fixed
 * order. Re-explaining (sensitivity) is the binding's job: this file only
 * draws the noisy inputs and compares maps. No Lua, no file formats. */
#include "metric/faithfulness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attr/noise.h"
#include "error.h"
#include "parallel.h"
#include "rng.h"

const char *const perturb_names[] = {"gaussian", "noisy_baseline", "square_removal", "masking", "blur", NULL};

void faith_geom(const Tensor *x, FaithGeom *g) {
    g->n = x->shape[0];
    g->row = tensor_row_numel(x);
    g->image = x->ndim == 3 || x->ndim == 4;
    g->c = x->ndim == 4 ? x->shape[1] : 1;
    g->h = g->image ? x->shape[x->ndim - 2] : 1;
    g->w = g->image ? x->shape[x->ndim - 1] : g->row;
    g->f = g->h * g->w;
}

static inline float base_at(const FaithBaseline *b, int64_t i, int64_t j) {
    return b->data ? b->data[i * b->stride + j] : b->value;
}

/* ---- perturbations ------------------------------------------------------ */

/* The random square of perturbation `stream` (side, top, left). */
static void draw_square(const PerturbOptions *p, const FaithGeom *g, uint64_t seed, uint64_t stream, int64_t *side,
                        int64_t *top, int64_t *left) {
    rng_integers(side, 1, p->square_min, p->square_max, seed, rng_mix(stream, 1));
    rng_integers(top, 1, 0, g->h - *side, seed, rng_mix(stream, 2));
    rng_integers(left, 1, 0, g->w - *side, seed, rng_mix(stream, 3));
}

void faith_perturb(const PerturbOptions *p, const FaithGeom *g, const FaithBaseline *b, uint64_t seed, int64_t i,
                   int64_t d, const float *xi, const float *blurred, float *xp, float *I) {
    uint64_t stream = rng_stream("infidelity", (uint64_t)i, (uint64_t)d);
    int64_t row = g->row;
    switch (p->kind) {
    case PERTURB_GAUSSIAN:
        attr_normal(I, row, seed, stream);
        for (int64_t j = 0; j < row; j++) {
            I[j] = (float)(p->sigma * (double)I[j]);
            xp[j] = xi[j] - I[j];
        }
        return;
    case PERTURB_NOISY_BASELINE:
        attr_normal(xp, row, seed, stream);
        for (int64_t j = 0; j < row; j++) {
            xp[j] = (float)((double)base_at(b, i, j) + p->sigma * (double)xp[j]);
            I[j] = xi[j] - xp[j];
        }
        return;
    case PERTURB_MASKING: {
        /* the draws go to xp first (scratch), then xp is rebuilt per channel */
        rng_uniform(xp, g->f, seed, stream, 0);
        for (int64_t q = 0; q < g->f; q++) xp[q] = (double)xp[q] < p->fraction ? 1.0f : 0.0f;
        /* channel 0 last: it overwrites the mask entries it reads */
        for (int64_t ch = g->c - 1; ch >= 0; ch--)
            for (int64_t q = 0; q < g->f; q++) {
                int64_t j = ch * g->f + q;
                int on = xp[q] != 0.0f;
                xp[j] = on ? base_at(b, i, j) : xi[j];
                I[j] = !on ? 0.0f : p->indicator ? 1.0f : xi[j] - xp[j];
            }
        return;
    }
    case PERTURB_SQUARE:
    case PERTURB_BLUR: {
        int64_t side, top, left;
        draw_square(p, g, seed, stream, &side, &top, &left);
        memcpy(xp, xi, sizeof(float) * (size_t)row);
        memset(I, 0, sizeof(float) * (size_t)row);
        for (int64_t ch = 0; ch < g->c; ch++)
            for (int64_t y = top; y < top + side; y++)
                for (int64_t x = left; x < left + side; x++) {
                    int64_t j = ch * g->f + y * g->w + x;
                    xp[j] = p->kind == PERTURB_BLUR ? blurred[j] : base_at(b, i, j);
                    I[j] = p->indicator && p->kind == PERTURB_SQUARE ? 1.0f : xi[j] - xp[j];
                }
        return;
    }
    default:
        return;
    }
}

/* scipy.ndimage "reflect": ... c b a | a b c ... (period 2n). */
static inline int64_t reflect(int64_t k, int64_t n) {
    int64_t m = k % (2 * n);
    if (m < 0) m += 2 * n;
    return m < n ? m : 2 * n - 1 - m;
}

typedef struct {
    const float *x;
    const FaithGeom *g;
    const double *kern;
    int64_t radius;
    float *out;
} BlurCtx;

/* Blurs one channel plane (task = sample * c + channel). */
static int blur_task(void *ctx, int64_t t, int worker) {
    (void)worker;
    const BlurCtx *c = ctx;
    int64_t h = c->g->h, w = c->g->w, r = c->radius;
    const float *src = c->x + t * c->g->f;
    double *tmp = malloc(sizeof(double) * (size_t)c->g->f);
    if (!tmp) return sn_errorf("out of memory");
    for (int64_t y = 0; y < h; y++) /* along rows */
        for (int64_t x = 0; x < w; x++) {
            double acc = 0;
            for (int64_t k = -r; k <= r; k++) acc += c->kern[k + r] * src[y * w + reflect(x + k, w)];
            tmp[y * w + x] = acc;
        }
    for (int64_t y = 0; y < h; y++) /* then along columns */
        for (int64_t x = 0; x < w; x++) {
            double acc = 0;
            for (int64_t k = -r; k <= r; k++) acc += c->kern[k + r] * tmp[reflect(y + k, h) * w + x];
            c->out[t * c->g->f + y * w + x] = (float)acc;
        }
    free(tmp);
    return SN_OK;
}

int faith_blur(const Tensor *x, const FaithGeom *g, double sigma, float *out, int nthreads) {
    int64_t radius = (int64_t)(4.0 * sigma + 0.5);
    double *kern = malloc(sizeof(double) * (size_t)(2 * radius + 1));
    if (!kern) return sn_errorf("out of memory");
    double sum = 0;
    for (int64_t k = -radius; k <= radius; k++) sum += kern[k + radius] = exp(-0.5 * (double)(k * k) / (sigma * sigma));
    for (int64_t k = 0; k <= 2 * radius; k++) kern[k] /= sum;
    BlurCtx c = {tensor_data(x), g, kern, radius, out};
    int rc = parallel_for(nthreads, g->n * g->c, blur_task, &c);
    free(kern);
    return rc;
}

typedef struct {
    const PerturbOptions *p;
    const FaithGeom *g;
    const FaithBaseline *b;
    uint64_t seed;
    const float *x, *blurred;
    float *xp, *I;
} PerturbCtx;

static int perturb_task(void *ctx, int64_t q, int worker) {
    (void)worker;
    const PerturbCtx *c = ctx;
    int64_t i = q / c->p->n, d = q % c->p->n, row = c->g->row;
    faith_perturb(c->p, c->g, c->b, c->seed, i, d, c->x + i * row, c->blurred ? c->blurred + i * row : NULL,
                  c->xp + q * row, c->I + q * row);
    return SN_OK;
}

int faith_perturbations(const Tensor *x, const PerturbOptions *p, const FaithBaseline *b, uint64_t seed, float *xp,
                        float *I, int nthreads) {
    FaithGeom g;
    faith_geom(x, &g);
    float *blurred = NULL;
    if (p->kind == PERTURB_BLUR) {
        if (!(blurred = malloc(sizeof(float) * (size_t)(g.n * g.row)))) return sn_errorf("out of memory");
        if (faith_blur(x, &g, p->sigma, blurred, nthreads) != SN_OK) {
            free(blurred);
            return SN_ERR;
        }
    }
    PerturbCtx c = {p, &g, b, seed, tensor_data(x), blurred, xp, I};
    int rc = parallel_for(nthreads, g.n * p->n, perturb_task, &c);
    free(blurred);
    return rc;
}

/* ---- scoring many perturbed rows ---------------------------------------- */

/* Fills the perturbed input of row q (sample q / per) into xrow. */
typedef int (*RowGen)(void *ctx, int64_t q, float *xrow, int worker);

typedef struct {
    RowGen gen;
    void *ctx;
    float *block;
    int64_t row, start;
} GenTask;

static int gen_task(void *ctx, int64_t t, int worker) {
    GenTask *g = ctx;
    return g->gen(g->ctx, g->start + t, g->block + t * g->row, worker);
}

/* scores[q] = f(row q) for q in [0, nrows): rows are generated (in parallel)
 * a chunk at a time into one reused block and scored with attr_scores; row q
 * is explained for targets[q / per]. */
static int score_rows(const AttrRun *r, const Tensor *x, const float *targets, int64_t nrows, int64_t per, RowGen gen,
                      void *ctx, float *scores) {
    int64_t row = tensor_row_numel(x), bs = nrows < r->chunk ? nrows : r->chunk;
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = bs;
    Tensor block;
    if (tensor_init(&block, x->ndim, shape) != SN_OK) return SN_ERR;
    float *tg = malloc(sizeof(float) * (size_t)bs);
    int rc = tg ? SN_OK : sn_errorf("out of memory");
    GenTask gt = {gen, ctx, tensor_data(&block), row, 0};
    for (int64_t start = 0; rc == SN_OK && start < nrows; start += bs) {
        int64_t len = nrows - start < bs ? nrows - start : bs;
        gt.start = start;
        rc = parallel_for(r->nthreads, len, gen_task, &gt);
        if (rc != SN_OK) break;
        for (int64_t q = 0; q < len; q++) tg[q] = targets[(start + q) / per];
        Tensor part;
        if ((rc = tensor_narrow(&part, &block, 0, len)) != SN_OK) break;
        rc = attr_scores(r, &part, tg, scores + start);
        tensor_release(&part);
    }
    free(tg);
    tensor_release(&block);
    return rc;
}

/* Per-worker scratch: nthreads * per floats. */
static float *scratch_new(const AttrRun *r, int64_t per) {
    float *s = malloc(sizeof(float) * (size_t)(per * (r->nthreads > 0 ? r->nthreads : 1)));
    if (!s) sn_errorf("out of memory");
    return s;
}

/* ---- infidelity --------------------------------------------------------- */

typedef struct {
    const PerturbOptions *p;
    const FaithGeom *g;
    const FaithBaseline *b;
    uint64_t seed;
    const float *x, *maps, *blurred;
    float *scratch; /* [nthreads, row] */
    double *s;      /* [N * n]: I^T Phi */
} InfCtx;

static int infidelity_row(void *ctx, int64_t q, float *xrow, int worker) {
    InfCtx *c = ctx;
    int64_t row = c->g->row, i = q / c->p->n, d = q % c->p->n;
    float *I = c->scratch + worker * row;
    faith_perturb(c->p, c->g, c->b, c->seed, i, d, c->x + i * row, c->blurred ? c->blurred + i * row : NULL, xrow, I);
    const float *phi = c->maps + i * row;
    double s = 0;
    for (int64_t j = 0; j < row; j++) s += (double)I[j] * (double)phi[j];
    c->s[q] = s;
    return SN_OK;
}

int faith_infidelity(const AttrRun *r, const Tensor *x, const float *targets, const Tensor *maps,
                     const FaithBaseline *b, const PerturbOptions *p, int normalize, float *out) {
    FaithGeom g;
    faith_geom(x, &g);
    int64_t n = g.n, rows = g.n * p->n;
    float *f0 = malloc(sizeof(float) * (size_t)n), *fp = malloc(sizeof(float) * (size_t)rows);
    double *s = malloc(sizeof(double) * (size_t)rows);
    float *blurred = p->kind == PERTURB_BLUR ? malloc(sizeof(float) * (size_t)(n * g.row)) : NULL;
    float *scratch = scratch_new(r, g.row);
    int rc = SN_OK;
    if (!f0 || !fp || !s || !scratch || (p->kind == PERTURB_BLUR && !blurred)) rc = sn_errorf("out of memory");
    if (rc == SN_OK) rc = attr_scores(r, x, targets, f0);
    if (rc == SN_OK && blurred) rc = faith_blur(x, &g, p->sigma, blurred, r->nthreads);
    if (rc == SN_OK) {
        InfCtx c = {p, &g, b, r->seed, tensor_data(x), tensor_data(maps), blurred, scratch, s};
        rc = score_rows(r, x, targets, rows, p->n, infidelity_row, &c, fp);
    }
    for (int64_t i = 0; rc == SN_OK && i < n; i++) {
        const double *si = s + i * p->n;
        const float *fi = fp + i * p->n;
        double num = 0, den = 0, acc = 0;
        for (int64_t d = 0; d < p->n; d++) {
            double df = (double)f0[i] - (double)fi[d];
            num += si[d] * df;
            den += si[d] * si[d];
        }
        double beta = !normalize ? 1.0 : den > 0 ? num / den : 0.0;
        for (int64_t d = 0; d < p->n; d++) {
            double e = beta * si[d] - ((double)f0[i] - (double)fi[d]);
            acc += e * e;
        }
        out[i] = (float)(acc / (double)p->n);
    }
    free(f0), free(fp), free(s), free(blurred), free(scratch);
    return rc;
}

/* ---- sensitivity -------------------------------------------------------- */

typedef struct {
    const float *x;
    float *out;
    int64_t row, d;
    double radius;
    uint64_t seed;
} NoiseCtx;

static int noise_task(void *ctx, int64_t i, int worker) {
    (void)worker;
    const NoiseCtx *c = ctx;
    float *o = c->out + i * c->row;
    const float *xi = c->x + i * c->row;
    rng_uniform(o, c->row, c->seed, rng_stream("sensitivity", (uint64_t)i, (uint64_t)c->d), 0);
    for (int64_t j = 0; j < c->row; j++) o[j] = (float)((double)xi[j] + c->radius * (2.0 * (double)o[j] - 1.0));
    return SN_OK;
}

int faith_linf_noise(const Tensor *x, double radius, uint64_t seed, int64_t d, Tensor *out, int nthreads) {
    if (tensor_init_like(out, x) != SN_OK) return SN_ERR;
    NoiseCtx c = {tensor_data(x), tensor_data(out), tensor_row_numel(x), d, radius, seed};
    int rc = parallel_for(nthreads, x->shape[0], noise_task, &c);
    if (rc != SN_OK) tensor_release(out);
    return rc;
}

void faith_sensitivity_update(const Tensor *phi0, const Tensor *phid, SensNorm norm, int normalize, double *maxv,
                              double *sumv) {
    int64_t n = phi0->shape[0], row = tensor_row_numel(phi0);
    const float *a = tensor_data(phi0), *b = tensor_data(phid);
    for (int64_t i = 0; i < n; i++) {
        double num = 0, den = 0;
        for (int64_t j = i * row; j < (i + 1) * row; j++) {
            double e = (double)b[j] - (double)a[j], v = a[j];
            if (norm == SENS_NORM_L2) {
                num += e * e;
                den += v * v;
            } else {
                if (fabs(e) > num) num = fabs(e);
                if (fabs(v) > den) den = fabs(v);
            }
        }
        if (norm == SENS_NORM_L2) num = sqrt(num), den = sqrt(den);
        double r = !normalize ? num : den > 0 ? num / den : num == 0 ? 0.0 : INFINITY;
        if (r > maxv[i]) maxv[i] = r;
        sumv[i] += r;
    }
}

/* ---- faithfulness correlation ------------------------------------------ */

typedef struct {
    const FaithGeom *g;
    const FaithBaseline *b;
    uint64_t seed;
    const float *x, *maps;
    int64_t subset, n;
    int64_t *perm; /* [nthreads, F] */
    double *s;     /* [N * n]: attribution sum of the subset */
} CorrCtx;

static int correlation_row(void *ctx, int64_t q, float *xrow, int worker) {
    CorrCtx *c = ctx;
    const FaithGeom *g = c->g;
    int64_t i = q / c->n, k = q % c->n, F = g->f;
    int64_t *perm = c->perm + worker * F;
    uint64_t stream = rng_stream("faithfulness_correlation", (uint64_t)i, (uint64_t)k);
    for (int64_t t = 0; t < F; t++) perm[t] = t;
    for (int64_t t = 0; t < c->subset; t++) { /* the first steps of Fisher-Yates (rng_permutation's order) */
        int64_t m = F - 1 - t, j;
        rng_integers(&j, 1, 0, m, c->seed, rng_mix(stream, (uint64_t)t));
        int64_t tmp = perm[m];
        perm[m] = perm[j];
        perm[j] = tmp;
    }
    const float *xi = c->x + i * g->row, *phi = c->maps + i * g->row;
    memcpy(xrow, xi, sizeof(float) * (size_t)g->row);
    double s = 0;
    for (int64_t t = F - c->subset; t < F; t++)
        for (int64_t ch = 0; ch < g->c; ch++) {
            int64_t j = ch * F + perm[t];
            xrow[j] = base_at(c->b, i, j);
            s += phi[j];
        }
    c->s[q] = s;
    return SN_OK;
}

/* Pearson correlation of a[n], b[n]; 0 when either side is constant. */
static double pearson(const double *a, const float *b0, double f0, int64_t n) {
    double ma = 0, mb = 0;
    for (int64_t k = 0; k < n; k++) ma += a[k], mb += f0 - (double)b0[k];
    ma /= (double)n, mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (int64_t k = 0; k < n; k++) {
        double da = a[k] - ma, db = (f0 - (double)b0[k]) - mb;
        sab += da * db, saa += da * da, sbb += db * db;
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0.0;
}

int faith_correlation(const AttrRun *r, const Tensor *x, const float *targets, const Tensor *maps,
                      const FaithBaseline *b, int64_t subset, int64_t n, float *out) {
    FaithGeom g;
    faith_geom(x, &g);
    int64_t rows = g.n * n, nt = r->nthreads > 0 ? r->nthreads : 1;
    float *f0 = malloc(sizeof(float) * (size_t)g.n), *fp = malloc(sizeof(float) * (size_t)rows);
    double *s = malloc(sizeof(double) * (size_t)rows);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)(g.f * nt));
    int rc = f0 && fp && s && perm ? SN_OK : sn_errorf("out of memory");
    if (rc == SN_OK) rc = attr_scores(r, x, targets, f0);
    if (rc == SN_OK) {
        CorrCtx c = {&g, b, r->seed, tensor_data(x), tensor_data(maps), subset, n, perm, s};
        rc = score_rows(r, x, targets, rows, n, correlation_row, &c, fp);
    }
    for (int64_t i = 0; rc == SN_OK && i < g.n; i++) out[i] = (float)pearson(s + i * n, fp + i * n, f0[i], n);
    free(f0), free(fp), free(s), free(perm);
    return rc;
}

/* ---- pixel flipping ----------------------------------------------------- */

int64_t faith_num_patches(const FaithGeom *g, int64_t patch) {
    return ((g->h + patch - 1) / patch) * ((g->w + patch - 1) / patch);
}

typedef struct {
    double v;
    int64_t idx;
} Ranked;

static int cmp_desc(const void *pa, const void *pb) {
    const Ranked *a = pa, *b = pb;
    if (a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int cmp_asc(const void *pa, const void *pb) {
    const Ranked *a = pa, *b = pb;
    if (a->v != b->v) return a->v < b->v ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

typedef struct {
    const FaithGeom *g;
    const FaithBaseline *b;
    const float *x, *maps;
    int64_t patch, ntx, P, steps;
    int morf;
    int64_t *order; /* [N, P] */
} FlipCtx;

/* Runs body with j = the index of every element of tile t (all channels). */
#define FOR_TILE(c, t, j, body)                                                                                        \
    do {                                                                                                               \
        int64_t ty_ = (t) / (c)->ntx, tx_ = (t) % (c)->ntx, p_ = (c)->patch;                                           \
        int64_t y1_ = (ty_ + 1) * p_ < (c)->g->h ? (ty_ + 1) * p_ : (c)->g->h;                                         \
        int64_t x1_ = (tx_ + 1) * p_ < (c)->g->w ? (tx_ + 1) * p_ : (c)->g->w;                                         \
        for (int64_t ch_ = 0; ch_ < (c)->g->c; ch_++)                                                                  \
            for (int64_t y_ = ty_ * p_; y_ < y1_; y_++)                                                                \
                for (int64_t x_ = tx_ * p_; x_ < x1_; x_++) {                                                          \
                    int64_t j = ch_ * (c)->g->f + y_ * (c)->g->w + x_;                                                 \
                    body;                                                                                              \
                }                                                                                                      \
    } while (0)

static int flip_order_task(void *ctx, int64_t i, int worker) {
    (void)worker;
    FlipCtx *c = ctx;
    Ranked *rk = malloc(sizeof(Ranked) * (size_t)c->P);
    if (!rk) return sn_errorf("out of memory");
    const float *phi = c->maps + i * c->g->row;
    for (int64_t t = 0; t < c->P; t++) {
        double s = 0;
        FOR_TILE(c, t, j, s += phi[j]);
        rk[t] = (Ranked){s, t};
    }
    qsort(rk, (size_t)c->P, sizeof *rk, c->morf ? cmp_desc : cmp_asc);
    for (int64_t t = 0; t < c->P; t++) c->order[i * c->P + t] = rk[t].idx;
    free(rk);
    return SN_OK;
}

static int flip_row(void *ctx, int64_t q, float *xrow, int worker) {
    (void)worker;
    FlipCtx *c = ctx;
    int64_t i = q / (c->steps + 1), k = q % (c->steps + 1), count = k * c->P / c->steps;
    memcpy(xrow, c->x + i * c->g->row, sizeof(float) * (size_t)c->g->row);
    for (int64_t t = 0; t < count; t++) FOR_TILE(c, c->order[i * c->P + t], j, xrow[j] = base_at(c->b, i, j));
    return SN_OK;
}

int faith_pixel_flipping(const AttrRun *r, const Tensor *x, const float *targets, const Tensor *maps,
                         const FaithBaseline *b, int morf, int64_t patch, int64_t steps, float *curve, float *auc) {
    FaithGeom g;
    faith_geom(x, &g);
    FlipCtx c = {.g = &g,
                 .b = b,
                 .x = tensor_data(x),
                 .maps = tensor_data(maps),
                 .patch = patch,
                 .ntx = (g.w + patch - 1) / patch,
                 .P = faith_num_patches(&g, patch),
                 .steps = steps,
                 .morf = morf};
    c.order = malloc(sizeof(int64_t) * (size_t)(g.n * c.P));
    float *f0 = malloc(sizeof(float) * (size_t)g.n);
    int rc = c.order && f0 ? SN_OK : sn_errorf("out of memory");
    if (rc == SN_OK) rc = attr_scores(r, x, targets, f0); /* checks the targets with sample numbers */
    if (rc == SN_OK) rc = parallel_for(r->nthreads, g.n, flip_order_task, &c);
    if (rc == SN_OK) rc = score_rows(r, x, targets, g.n * (steps + 1), steps + 1, flip_row, &c, curve);
    for (int64_t i = 0; rc == SN_OK && i < g.n; i++) {
        const float *ci = curve + i * (steps + 1);
        double a = 0;
        for (int64_t k = 1; k <= steps; k++) a += 0.5 * ((double)ci[k - 1] + (double)ci[k]);
        auc[i] = (float)(a / (double)steps);
    }
    free(c.order), free(f0);
    return rc;
}

/* ---- sufficiency -------------------------------------------------------- */

typedef struct {
    const float *maps;
    const float *pred;
    const double *norms; /* cosine: ||Phi_i|| */
    int64_t n, row;
    SuffDistance dist;
    double cut;     /* pass 2: the absolute threshold */
    double *rowmax; /* pass 1 output */
    float *out;     /* pass 2 output */
} SuffCtx;

static double map_distance(const SuffCtx *c, int64_t i, int64_t j) {
    const float *a = c->maps + i * c->row, *b = c->maps + j * c->row;
    if (c->dist == SUFF_EUCLIDEAN) {
        double s = 0;
        for (int64_t k = 0; k < c->row; k++) {
            double e = (double)a[k] - (double)b[k];
            s += e * e;
        }
        return sqrt(s);
    }
    double na = c->norms[i], nb = c->norms[j];
    if (na == 0 || nb == 0) return na == 0 && nb == 0 ? 0.0 : 1.0;
    double s = 0;
    for (int64_t k = 0; k < c->row; k++) s += (double)a[k] * (double)b[k];
    return 1.0 - s / (na * nb);
}

static int suff_max_task(void *ctx, int64_t i, int worker) {
    (void)worker;
    SuffCtx *c = ctx;
    double m = 0;
    for (int64_t j = 0; j < c->n; j++) {
        double d = map_distance(c, i, j);
        if (d > m) m = d;
    }
    c->rowmax[i] = m;
    return SN_OK;
}

static int suff_count_task(void *ctx, int64_t i, int worker) {
    (void)worker;
    SuffCtx *c = ctx;
    int64_t near = 0, same = 0;
    for (int64_t j = 0; j < c->n; j++)
        if (j == i || map_distance(c, i, j) <= c->cut) {
            near++;
            same += c->pred[j] == c->pred[i];
        }
    c->out[i] = (float)((double)same / (double)near);
    return SN_OK;
}

int faith_sufficiency(const AttrRun *r, const Tensor *x, const Tensor *maps, double threshold, SuffDistance dist,
                      float *out) {
    int64_t n = x->shape[0], row = tensor_row_numel(maps);
    float *pred = malloc(sizeof(float) * (size_t)n);
    double *rowmax = malloc(sizeof(double) * (size_t)n), *norms = malloc(sizeof(double) * (size_t)n);
    int rc = pred && rowmax && norms ? SN_OK : sn_errorf("out of memory");
    if (rc == SN_OK) rc = attr_predict(r, x, pred);
    if (rc == SN_OK) {
        const float *m = tensor_data(maps);
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t k = i * row; k < (i + 1) * row; k++) s += (double)m[k] * (double)m[k];
            norms[i] = sqrt(s);
        }
        SuffCtx c = {m, pred, norms, n, row, dist, 0, rowmax, out};
        rc = parallel_for(r->nthreads, n, suff_max_task, &c);
        if (rc == SN_OK) {
            double dmax = 0;
            for (int64_t i = 0; i < n; i++)
                if (rowmax[i] > dmax) dmax = rowmax[i];
            c.cut = threshold * dmax;
            rc = parallel_for(r->nthreads, n, suff_count_task, &c);
        }
    }
    free(pred), free(rowmax), free(norms);
    return rc;
}

/* ---- completeness ------------------------------------------------------- */

int faith_completeness(const AttrRun *r, const Tensor *x, const float *targets, const Tensor *maps,
                       const FaithBaseline *b, float *abs_gap, float *signed_gap) {
    int64_t n = x->shape[0], row = tensor_row_numel(x);
    Tensor base;
    if (tensor_init_like(&base, x) != SN_OK) return SN_ERR;
    float *bd = tensor_data(&base);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < row; j++) bd[i * row + j] = base_at(b, i, j);
    float *f = malloc(sizeof(float) * (size_t)(2 * n));
    int rc = f ? SN_OK : sn_errorf("out of memory");
    if (rc == SN_OK) rc = attr_scores(r, x, targets, f);
    if (rc == SN_OK) rc = attr_scores(r, &base, targets, f + n);
    const float *m = tensor_data(maps);
    for (int64_t i = 0; rc == SN_OK && i < n; i++) {
        double s = 0;
        for (int64_t j = i * row; j < (i + 1) * row; j++) s += m[j];
        double gap = s - ((double)f[i] - (double)f[n + i]);
        signed_gap[i] = (float)gap;
        abs_gap[i] = (float)fabs(gap);
    }
    free(f);
    tensor_release(&base);
    return rc;
}

/* surrogate.c — LIME and KernelSHAP: methods that fit a weighted linear
 * model on binary segment vectors z. Samples are processed in groups whose
 * vectors z fit a fixed memory budget: for each group, every sample's z and
 * weights are generated (keyed draws, one task per sample), the rows are
 * scored chunk by chunk (perturb_scores), then each sample's regression is
 * solved with LAPACK (perturb_wls) and painted. Groups, chunks and threads
 * never change the result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attr/perturb_impl.h"
#include "error.h"
#include "parallel.h"
#include "rng.h"

#define GROUP_BYTES ((int64_t)64 << 20) /* z, weights and scores of one group of samples */

typedef enum { SUR_LIME, SUR_SHAP } SurKind;

typedef struct Sur {
    SurKind kind;
    const AttrRun *r;
    const float *x, *base; /* [N, row] */
    int64_t row;
    SegLabels sl;
    int64_t n_samples;
    int exact;
    double kernel_width, alpha;
    const float *fx, *fb; /* KernelSHAP: f(x), f(baseline) */
    /* the current group: samples [first, first + n) */
    int64_t first, n;
    int64_t *zoff, *woff; /* [n + 1]: offsets of each sample's z bytes and rows */
    int64_t *nrows;       /* [n] rows generated */
    int64_t *off;         /* [n + 1] offsets of each sample's scores */
    uint8_t *z;
    double *w, *ridge;
    float *scores, *out;
} Sur;

static int64_t two_pow_minus_2(int64_t m) {
    return ((int64_t)1 << m) - 2;
}

static int shap_full(const Sur *s, int64_t m) {
    return s->exact || (m <= 40 && s->n_samples >= two_pow_minus_2(m));
}

/* Rows a sample with m segments can need. */
static int64_t capacity(const Sur *s, int64_t m) {
    if (s->kind == SUR_LIME) return s->n_samples;
    if (m <= 1) return 0;
    return shap_full(s, m) ? two_pow_minus_2(m) : s->n_samples;
}

static double binom(int64_t n, int64_t k) {
    double c = 1;
    for (int64_t j = 1; j <= k; j++) c = c * (double)(n - k + j) / (double)j;
    return c;
}

/* ---- LIME draws ------------------------------------------------------------ */

static int lime_generate(const Sur *s, int64_t i, int64_t m, uint8_t *z, double *w, int64_t *rows) {
    float *u = malloc(sizeof(float) * (size_t)m);
    if (!u) return sn_errorf("out of memory for LIME draws");
    double kw2 = 2 * s->kernel_width * s->kernel_width;
    for (int64_t d = 0; d < s->n_samples; d++) {
        uint8_t *zd = z + d * m;
        int64_t on = 0;
        if (d == 0) {
            memset(zd, 1, (size_t)m);
        } else {
            rng_uniform(u, m, s->r->seed, rng_stream("lime", (uint64_t)i, (uint64_t)d), 0);
            for (int64_t k = 0; k < m; k++) zd[k] = u[k] < 0.5f;
        }
        for (int64_t k = 0; k < m; k++) on += zd[k];
        double dist = on == 0 ? 1.0 : 1.0 - sqrt((double)on / (double)m); /* cosine distance to all-ones */
        w[d] = exp(-dist * dist / kw2);
    }
    *rows = s->n_samples;
    free(u);
    return SN_OK;
}

/* ---- KernelSHAP draws (the shap package's KernelExplainer scheme) -------- */

typedef struct {
    int64_t m, n;   /* segments, rows so far */
    uint8_t *z;     /* [rows][m] */
    double *w;      /* [rows] */
    int32_t *table; /* open addressing over rows of the random part, -1 = empty */
    uint64_t mask;  /* table size - 1 */
} Coalitions;

static uint64_t hash_bytes(const uint8_t *p, int64_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Adds coalition v with weight wt (merged into an equal earlier one when
 * `dedup`); returns 1 when a new row was added. */
static int add_coalition(Coalitions *c, const uint8_t *v, double wt, int dedup) {
    if (dedup) {
        uint64_t h = hash_bytes(v, c->m) & c->mask;
        for (; c->table[h] >= 0; h = (h + 1) & c->mask)
            if (memcmp(c->z + (int64_t)c->table[h] * c->m, v, (size_t)c->m) == 0) {
                c->w[c->table[h]] += wt;
                return 0;
            }
        c->table[h] = (int32_t)c->n;
    }
    memcpy(c->z + c->n * c->m, v, (size_t)c->m);
    c->w[c->n++] = wt;
    return 1;
}

/* Word t of the draw stream (sample, attempt). */
static uint32_t draw_word(uint64_t seed, uint64_t stream, uint64_t t, uint32_t blk[4], uint64_t *cached) {
    if (t / 4 != *cached) {
        *cached = t / 4;
        rng_block(seed, stream, *cached, blk);
    }
    return blk[t % 4];
}

static int shap_generate(const Sur *s, int64_t i, int64_t m, uint8_t *z, double *w, int64_t *rows) {
    *rows = 0;
    if (m <= 1) return SN_OK;
    if (shap_full(s, m)) { /* every coalition but the empty and the full one, Shapley kernel weights */
        int64_t total = two_pow_minus_2(m);
        for (int64_t c = 1; c <= total; c++) {
            uint8_t *zc = z + (c - 1) * m;
            int64_t k = 0;
            for (int64_t b = 0; b < m; b++) k += zc[b] = (uint8_t)((c >> b) & 1);
            w[c - 1] = (double)(m - 1) / (binom(m, k) * (double)k * (double)(m - k));
        }
        *rows = total;
        return SN_OK;
    }
    int64_t S = s->n_samples, nss = m / 2, npss = (m - 1) / 2;
    size_t tsize = 1;
    while (tsize < 2 * (size_t)S) tsize <<= 1;
    double *wv = malloc(sizeof(double) * (size_t)nss * 3), *rem = wv + nss, *rw = rem + nss;
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)m);
    uint8_t *v = malloc((size_t)m * 2), *vc = v + m;
    int32_t *table = malloc(sizeof(int32_t) * tsize);
    if (!wv || !perm || !v || !table) {
        free(wv), free(perm), free(v), free(table);
        return sn_errorf("out of memory for KernelSHAP draws");
    }
    for (size_t k = 0; k < tsize; k++) table[k] = -1;
    Coalitions c = {m, 0, z, w, table, tsize - 1};

    double tot = 0;
    for (int64_t k = 1; k <= nss; k++) {
        wv[k - 1] = (double)(m - 1) / ((double)k * (double)(m - k)) * (k <= npss ? 2 : 1);
        tot += wv[k - 1];
    }
    for (int64_t k = 0; k < nss; k++) rem[k] = wv[k] /= tot;

    /* sizes k (and m - k) enumerated completely while the budget covers them */
    int64_t left = S, nfull = 0;
    for (int64_t k = 1; k <= nss; k++) {
        int paired = k <= npss;
        double nsub = binom(m, k) * (paired ? 2 : 1);
        if (!((double)left * rem[k - 1] / nsub >= 1 - 1e-8) || nsub > (double)left) break;
        nfull++;
        left -= (int64_t)nsub;
        double used = rem[k - 1]; /* rescale what is left to sum to 1 */
        if (used < 1)
            for (int64_t j = 0; j < nss; j++) rem[j] /= 1 - used;
        double wk = wv[k - 1] / binom(m, k) / (paired ? 2 : 1);
        for (int64_t j = 0; j < k; j++) perm[j] = j; /* perm = the current combination */
        for (;;) {
            memset(v, 0, (size_t)m);
            for (int64_t j = 0; j < k; j++) v[perm[j]] = 1;
            add_coalition(&c, v, wk, 0);
            if (paired) {
                for (int64_t j = 0; j < m; j++) vc[j] = 1 - v[j];
                add_coalition(&c, vc, wk, 0);
            }
            int64_t j = k - 1;
            while (j >= 0 && perm[j] == m - k + j) j--;
            if (j < 0) break;
            perm[j]++;
            for (int64_t q = j + 1; q < k; q++) perm[q] = perm[q - 1] + 1;
        }
    }

    /* the other sizes: random coalitions (size from the kernel, then a
     * uniform subset), each followed by its complement; repeats add weight */
    int64_t nfixed = c.n;
    if (nfull < nss && left > 0) {
        double rtot = 0, wleft = 0;
        for (int64_t k = nfull; k < nss; k++) {
            rw[k] = wv[k] / (k < npss ? 2 : 1);
            rtot += rw[k];
            wleft += wv[k];
        }
        for (int64_t attempt = 0; left > 0 && attempt < 4 * S + 64; attempt++) {
            uint64_t stream = rng_stream("kernel_shap", (uint64_t)i, (uint64_t)attempt), cached = UINT64_MAX;
            uint32_t blk[4];
            double u = ((double)draw_word(s->r->seed, stream, 0, blk, &cached) + 0.5) / 4294967296.0 * rtot, cum = 0;
            int64_t k = nss;
            for (int64_t q = nfull; q < nss; q++) {
                cum += rw[q];
                if (u < cum) {
                    k = q + 1;
                    break;
                }
            }
            for (int64_t j = 0; j < m; j++) perm[j] = j;
            for (int64_t t = 0; t < k; t++) { /* partial Fisher-Yates */
                uint64_t word = draw_word(s->r->seed, stream, (uint64_t)t + 1, blk, &cached);
                int64_t q = t + (int64_t)((word * (uint64_t)(m - t)) >> 32), tmp = perm[t];
                perm[t] = perm[q], perm[q] = tmp;
            }
            memset(v, 0, (size_t)m);
            for (int64_t t = 0; t < k; t++) v[perm[t]] = 1;
            left -= add_coalition(&c, v, 1.0, 1);
            if (left > 0 && k <= npss) {
                for (int64_t j = 0; j < m; j++) vc[j] = 1 - v[j];
                left -= add_coalition(&c, vc, 1.0, 1);
            }
        }
        double sum = 0;
        for (int64_t j = nfixed; j < c.n; j++) sum += w[j];
        for (int64_t j = nfixed; j < c.n; j++) w[j] *= wleft / sum;
    }
    *rows = c.n;
    free(wv), free(perm), free(v), free(table);
    return SN_OK;
}

/* ---- generation, rows, regression ---------------------------------------- */

static int generate_task(void *p, int64_t t, int worker) {
    (void)worker;
    Sur *s = p;
    int64_t i = s->first + t, m = s->sl.count[i];
    uint8_t *z = s->z + s->zoff[t];
    double *w = s->w + s->woff[t];
    return s->kind == SUR_LIME ? lime_generate(s, i, m, z, w, &s->nrows[t])
                               : shap_generate(s, i, m, z, w, &s->nrows[t]);
}

static void sur_fill(const void *p, int64_t i, int64_t d, float *dst, void *scratch) {
    (void)scratch;
    const Sur *s = p;
    int64_t t = i - s->first, m = s->sl.count[i];
    perturb_apply(s->x + i * s->row, s->base + i * s->row, seg_row(&s->sl, i), s->sl.per, s->row,
                  s->z + s->zoff[t] + d * m, dst);
}

typedef struct {
    const uint8_t *z;
    int64_t m;
} DesignCtx;

static void lime_design(const void *p, int64_t j, double *a) { /* [z, 1] */
    const DesignCtx *c = p;
    const uint8_t *z = c->z + j * c->m;
    for (int64_t k = 0; k < c->m; k++) a[k] = z[k];
    a[c->m] = 1;
}

static void shap_design(const void *p, int64_t j, double *a) { /* z_k - z_last: phi_last eliminated */
    const DesignCtx *c = p;
    const uint8_t *z = c->z + j * c->m;
    for (int64_t k = 0; k < c->m - 1; k++) a[k] = (double)z[k] - (double)z[c->m - 1];
}

static int solve_task(void *p, int64_t t, int worker) {
    (void)worker;
    Sur *s = p;
    int64_t i = s->first + t, m = s->sl.count[i], rows = s->nrows[t];
    const uint8_t *z = s->z + s->zoff[t];
    const double *w = s->w + s->woff[t];
    const float *sc = s->scores + s->off[t];
    double *beta = malloc(sizeof(double) * (size_t)(2 * (m + 1))), *pen = beta + m + 1;
    double *y = malloc(sizeof(double) * (size_t)(rows ? rows : 1));
    int rc = SN_OK;
    s->ridge[t] = 0;
    if (!beta || !y) {
        rc = sn_errorf("out of memory for a regression over %lld segments", (long long)m);
        goto done;
    }
    DesignCtx dc = {z, m};
    if (s->kind == SUR_LIME) {
        for (int64_t j = 0; j < rows; j++) y[j] = sc[j];
        for (int64_t k = 0; k < m; k++) pen[k] = s->alpha;
        pen[m] = 0; /* the intercept is not penalized */
        rc = perturb_wls(rows, (int)m + 1, lime_design, &dc, w, y, pen, beta, &s->ridge[t]);
    } else {
        double f0 = s->fb[i], delta = (double)s->fx[i] - f0;
        if (m == 1) {
            beta[0] = delta;
        } else {
            for (int64_t j = 0; j < rows; j++) y[j] = (double)sc[j] - f0 - (double)z[j * m + m - 1] * delta;
            rc = perturb_wls(rows, (int)m - 1, shap_design, &dc, w, y, NULL, beta, &s->ridge[t]);
            double sum = 0;
            for (int64_t k = 0; k < m - 1; k++) sum += beta[k];
            beta[m - 1] = delta - sum;
        }
    }
    if (rc == SN_OK) perturb_paint(beta, seg_row(&s->sl, i), s->sl.per, s->row, s->out + i * s->row);
done:
    free(beta), free(y);
    return rc;
}

/* Processes samples [first, first + n): generate, score, solve, paint. */
static int run_group(Sur *s, const Tensor *x, const float *targets, PerturbReport *rep) {
    int64_t n = s->n;
    s->zoff = malloc(sizeof(int64_t) * (size_t)(4 * (n + 1)));
    s->ridge = malloc(sizeof(double) * (size_t)n);
    int rc = s->zoff && s->ridge ? SN_OK : sn_errorf("out of memory for %lld samples' draws", (long long)n);
    if (rc == SN_OK) {
        s->woff = s->zoff + (n + 1), s->nrows = s->woff + (n + 1), s->off = s->nrows + (n + 1);
        s->zoff[0] = s->woff[0] = 0;
        for (int64_t t = 0; t < n; t++) {
            int64_t m = s->sl.count[s->first + t], cap = capacity(s, m);
            s->zoff[t + 1] = s->zoff[t] + cap * m;
            s->woff[t + 1] = s->woff[t] + cap;
        }
        s->z = malloc((size_t)(s->zoff[n] ? s->zoff[n] : 1));
        s->w = malloc(sizeof(double) * (size_t)(s->woff[n] ? s->woff[n] : 1));
        s->scores = malloc(sizeof(float) * (size_t)(s->woff[n] ? s->woff[n] : 1));
        if (!s->z || !s->w || !s->scores)
            rc = sn_errorf("out of memory for %lld perturbation rows", (long long)s->woff[n]);
    }
    if (rc == SN_OK) rc = parallel_for(s->r->nthreads, n, generate_task, s);
    if (rc == SN_OK) {
        s->off[0] = 0;
        for (int64_t t = 0; t < n; t++) s->off[t + 1] = s->off[t] + s->nrows[t];
        PerturbRows rows = {s->first, n, s->off, sur_fill, s, 0};
        rc = perturb_scores(s->r, x, targets, &rows, s->scores);
    }
    if (rc == SN_OK) rc = parallel_for(s->r->nthreads, n, solve_task, s);
    if (rc == SN_OK) perturb_report_merge(rep, s->ridge, s->first, n);
    free(s->zoff), free(s->ridge), free(s->z), free(s->w), free(s->scores);
    s->zoff = NULL, s->ridge = NULL, s->z = NULL, s->w = NULL, s->scores = NULL;
    return rc;
}

/* Checks n_samples against every sample's segment count. */
static int check_budget(const Sur *s, int64_t n) {
    int64_t worst = 0;
    for (int64_t i = 1; i < n; i++)
        if (s->sl.count[i] > s->sl.count[worst]) worst = i;
    int64_t m = s->sl.count[worst], S = s->n_samples;
    if (s->kind == SUR_LIME) {
        if (S < m + 1)
            return sn_errorf("lime: n_samples = %lld is too small for the %lld segments of sample %lld: at least %lld "
                             "are needed (one per segment plus the intercept)",
                             (long long)S, (long long)m, (long long)worst + 1, (long long)m + 1);
        return SN_OK;
    }
    if (s->exact) {
        if (m > KERNEL_SHAP_MAX_EXACT)
            return sn_errorf("kernel_shap: exact=true enumerates 2^M - 2 coalitions and allows at most %d segments; "
                             "sample %lld has %lld (use n_samples for an estimate)",
                             KERNEL_SHAP_MAX_EXACT, (long long)worst + 1, (long long)m);
        return SN_OK;
    }
    int64_t need = 2 * (m - 1);
    if (m <= 40 && two_pow_minus_2(m) < need) need = two_pow_minus_2(m);
    if (S < need)
        return sn_errorf("kernel_shap: n_samples = %lld is too small for the %lld segments of sample %lld: at least "
                         "%lld are needed (2 x (segments - 1): each coalition is paired with its complement)",
                         (long long)S, (long long)m, (long long)worst + 1, (long long)need);
    return SN_OK;
}

static int surrogate(Sur *s, const Tensor *x, const float *targets, const Tensor *segments, const Baseline *b,
                     PerturbReport *rep, Tensor *out) {
    int64_t n = x->shape[0];
    Tensor base = {0};
    float *fx = NULL;
    memset(out, 0, sizeof *out);
    if (rep) memset(rep, 0, sizeof *rep), rep->first_singular = -1;
    s->x = tensor_data(x);
    s->row = tensor_row_numel(x);
    int rc = perturb_labels(x, segments, s->r->nthreads, &s->sl);
    if (rc != SN_OK) return rc;
    rc = check_budget(s, n);
    if (rc == SN_OK) rc = tensor_init_like(&base, x);
    if (rc == SN_OK) rc = perturb_baseline(b, x, s->r->nthreads, tensor_data(&base));
    /* f(x) and f(baseline): KernelSHAP's constraint; for LIME, f(x) only
     * checks the targets first, so a bad one is named by its sample */
    if (rc == SN_OK) {
        fx = malloc(sizeof(float) * (size_t)(2 * n));
        if (!fx) rc = sn_errorf("out of memory");
        if (rc == SN_OK) rc = attr_scores(s->r, x, targets, fx);
        if (rc == SN_OK && s->kind == SUR_SHAP) rc = attr_scores(s->r, &base, targets, fx + n);
        s->fx = fx, s->fb = fx + n;
    }
    if (rc == SN_OK) rc = tensor_init_like(out, x);
    if (rc == SN_OK) {
        s->base = tensor_data(&base);
        s->out = tensor_data(out);
    }
    for (int64_t first = 0; rc == SN_OK && first < n;) {
        int64_t last = first, bytes = 0;
        do { /* at least one sample per group */
            int64_t m = s->sl.count[last];
            bytes += capacity(s, m) * (m + (int64_t)sizeof(double) + (int64_t)sizeof(float));
            last++;
        } while (last < n && bytes + capacity(s, s->sl.count[last]) * (s->sl.count[last] + 12) <= GROUP_BYTES);
        s->first = first, s->n = last - first;
        rc = run_group(s, x, targets, rep);
        first = last;
    }
    if (rc != SN_OK) tensor_release(out);
    tensor_release(&base);
    perturb_labels_free(&s->sl);
    free(fx);
    return rc;
}

int attr_lime(const AttrRun *r, const Tensor *x, const float *targets, const LimeOptions *o, Tensor *out) {
    Sur s = {.kind = SUR_LIME, .r = r, .n_samples = o->n_samples, .kernel_width = o->kernel_width, .alpha = o->alpha};
    return surrogate(&s, x, targets, o->segments, &o->baseline, o->report, out);
}

int attr_kernel_shap(const AttrRun *r, const Tensor *x, const float *targets, const KernelShapOptions *o, Tensor *out) {
    Sur s = {.kind = SUR_SHAP, .r = r, .n_samples = o->n_samples, .exact = o->exact};
    return surrogate(&s, x, targets, o->segments, &o->baseline, o->report, out);
}

/* stats.c — t-tests, permutation test and bootstrap intervals (see stats.h).
 * Distribution functions come from GSL, not from approximations of our own.
 * Resampling runs in fixed blocks of resamples on parallel_for; each
 * resample's draws are keyed by its index, and blocks write disjoint counts,
 * so the answer does not depend on the thread count. No Lua, no file I/O. */
#include "metric/stats.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "parallel.h"
#include "rng.h"

const char *const stats_alternatives[] = {"two-sided", "less", "greater", NULL};
const char *const stats_boot_statistics[] = {"mean", "median", NULL};

/* ---- t-tests ----------------------------------------------------------- */

double stats_t_pvalue(double t, double df, Alternative alt) {
    if (isinf(t)) {
        if (alt == ALT_TWO_SIDED) return 0;
        return (alt == ALT_LESS) == (t < 0) ? 0 : 1;
    }
    double p;
    switch (alt) {
    case ALT_LESS:
        p = gsl_cdf_tdist_P(t, df);
        break;
    case ALT_GREATER:
        p = gsl_cdf_tdist_Q(t, df);
        break;
    default:
        p = 2 * gsl_cdf_tdist_Q(fabs(t), df);
        break;
    }
    return p > 1 ? 1 : p;
}

static void mean_var(const double *x, int64_t n, double *mean, double *var) {
    double m = 0, s = 0;
    for (int64_t i = 0; i < n; i++) m += x[i];
    m /= (double)n;
    for (int64_t i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    *mean = m;
    *var = s / (double)(n - 1);
}

/* t = diff / se with the zero-variance convention of stats.h. */
static double t_stat(double diff, double se) {
    if (se > 0) return diff / se;
    return diff == 0 ? 0 : copysign(INFINITY, diff);
}

void stats_ttest_1samp(const double *x, int64_t n, double mu, Alternative alt, TTest *r) {
    double m, v;
    mean_var(x, n, &m, &v);
    r->t = t_stat(m - mu, sqrt(v / (double)n));
    r->df = (double)(n - 1);
    r->p = stats_t_pvalue(r->t, r->df, alt);
}

void stats_ttest_paired(const double *x, const double *y, int64_t n, Alternative alt, TTest *r) {
    double m = 0, s = 0;
    for (int64_t i = 0; i < n; i++) m += x[i] - y[i];
    m /= (double)n;
    for (int64_t i = 0; i < n; i++) s += (x[i] - y[i] - m) * (x[i] - y[i] - m);
    r->t = t_stat(m, sqrt(s / (double)(n - 1) / (double)n));
    r->df = (double)(n - 1);
    r->p = stats_t_pvalue(r->t, r->df, alt);
}

void stats_ttest_welch(const double *x, int64_t nx, const double *y, int64_t ny, Alternative alt, TTest *r) {
    double mx, vx, my, vy;
    mean_var(x, nx, &mx, &vx);
    mean_var(y, ny, &my, &vy);
    double ax = vx / (double)nx, ay = vy / (double)ny;
    r->t = t_stat(mx - my, sqrt(ax + ay));
    if (ax + ay > 0)
        r->df = (ax + ay) * (ax + ay) / (ax * ax / (double)(nx - 1) + ay * ay / (double)(ny - 1));
    else
        r->df = (double)(nx + ny - 2);
    r->p = stats_t_pvalue(r->t, r->df, alt);
}

/* ---- permutation test -------------------------------------------------- */

#define RESAMPLE_BLOCK 64

typedef struct {
    const PermOptions *o;
    const double *z; /* pooled x then y, or the differences when paired */
    int64_t nx, ny;
    double obs, gamma;
    int64_t *n_less, *n_greater; /* per block */
    char *scratch;
    size_t per_worker;
} PermJob;

static double perm_stat(const PermJob *j, int64_t r, void *scr) {
    uint64_t stream = rng_mix(j->o->stream, (uint64_t)r);
    if (j->o->paired) {
        double s = 0;
        uint32_t w[4];
        for (int64_t i = 0; i < j->nx; i++) {
            if (i % 128 == 0) rng_block(j->o->seed, stream, (uint64_t)i / 128, w);
            int bit = (int)(i % 128);
            s += (w[bit / 32] >> (bit % 32) & 1) ? -j->z[i] : j->z[i];
        }
        return s / (double)j->nx;
    }
    int64_t m = j->nx + j->ny, *perm = scr;
    rng_permutation(perm, m, j->o->seed, stream);
    double sx = 0, sy = 0;
    for (int64_t i = 0; i < j->nx; i++) sx += j->z[perm[i]];
    for (int64_t i = j->nx; i < m; i++) sy += j->z[perm[i]];
    return sx / (double)j->nx - sy / (double)j->ny;
}

static int perm_task(void *ctx, int64_t block, int worker) {
    PermJob *j = ctx;
    void *scr = j->scratch + (size_t)worker * j->per_worker;
    int64_t end = (block + 1) * RESAMPLE_BLOCK, less = 0, greater = 0;
    if (end > j->o->n) end = j->o->n;
    for (int64_t r = block * RESAMPLE_BLOCK; r < end; r++) {
        double s = perm_stat(j, r, scr);
        less += s <= j->obs + j->gamma;
        greater += s >= j->obs - j->gamma;
    }
    j->n_less[block] = less;
    j->n_greater[block] = greater;
    return SN_OK;
}

int stats_permutation_test(const double *x, int64_t nx, const double *y, int64_t ny, const PermOptions *o, double *p,
                           int nthreads) {
    int64_t m = o->paired ? nx : nx + ny, nblocks = (o->n + RESAMPLE_BLOCK - 1) / RESAMPLE_BLOCK;
    if (nthreads < 1) nthreads = 1;
    PermJob j = {.o = o, .nx = nx, .ny = ny};
    j.per_worker = o->paired ? 0 : (size_t)m * sizeof(int64_t);
    double *z = malloc((size_t)m * sizeof *z);
    j.n_less = calloc((size_t)nblocks * 2, sizeof(int64_t));
    j.scratch = malloc(j.per_worker * (size_t)nthreads + 1);
    if (!z || !j.n_less || !j.scratch) {
        free(z), free(j.n_less), free(j.scratch);
        return sn_errorf("permutation_test: out of memory");
    }
    j.n_greater = j.n_less + nblocks;
    if (o->paired) {
        double s = 0;
        for (int64_t i = 0; i < nx; i++) s += z[i] = x[i] - y[i];
        j.obs = s / (double)nx;
    } else {
        double sx = 0, sy = 0;
        for (int64_t i = 0; i < nx; i++) sx += z[i] = x[i];
        for (int64_t i = 0; i < ny; i++) sy += z[nx + i] = y[i];
        j.obs = sx / (double)nx - sy / (double)ny;
    }
    j.z = z;
    j.gamma = fmax(1e-14, fabs(1e-14 * j.obs));
    int rc = parallel_for(nthreads, nblocks, perm_task, &j);
    if (rc == SN_OK) {
        int64_t less = 0, greater = 0;
        for (int64_t b = 0; b < nblocks; b++) less += j.n_less[b], greater += j.n_greater[b];
        double pl = (double)(less + 1) / (double)(o->n + 1), pg = (double)(greater + 1) / (double)(o->n + 1);
        double v = o->alt == ALT_LESS ? pl : o->alt == ALT_GREATER ? pg : 2 * fmin(pl, pg);
        *p = v > 1 ? 1 : v;
    }
    free(z), free(j.n_less), free(j.scratch);
    return rc;
}

/* ---- bootstrap --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double stats_median(double *x, int64_t n) {
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

double stats_quantile_sorted(const double *s, int64_t n, double q) {
    double h = (double)(n - 1) * q, f = floor(h);
    int64_t i = (int64_t)f;
    if (i >= n - 1) return s[n - 1];
    if (i < 0) return s[0];
    double a = s[i], b = s[i + 1], t = h - f, d = b - a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t; /* numpy's _lerp */
}

typedef struct {
    const BootOptions *o;
    const double *x;
    int64_t nx;
    double *reps;
    char *scratch;
    size_t per_worker;
} BootJob;

static int boot_task(void *ctx, int64_t block, int worker) {
    BootJob *j = ctx;
    int64_t *idx = (int64_t *)(j->scratch + (size_t)worker * j->per_worker);
    double *v = (double *)(idx + j->nx);
    int64_t end = (block + 1) * RESAMPLE_BLOCK;
    if (end > j->o->n) end = j->o->n;
    for (int64_t r = block * RESAMPLE_BLOCK; r < end; r++) {
        rng_integers(idx, j->nx, 0, j->nx - 1, j->o->seed, rng_mix(j->o->stream, (uint64_t)r));
        if (j->o->statistic == BOOT_MEAN) {
            double s = 0;
            for (int64_t i = 0; i < j->nx; i++) s += j->x[idx[i]];
            j->reps[r] = s / (double)j->nx;
        } else {
            for (int64_t i = 0; i < j->nx; i++) v[i] = j->x[idx[i]];
            j->reps[r] = stats_median(v, j->nx);
        }
    }
    return SN_OK;
}

int stats_bootstrap_ci(const double *x, int64_t nx, const BootOptions *o, double *lo, double *hi, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    BootJob j = {.o = o, .x = x, .nx = nx, .per_worker = (size_t)nx * (sizeof(int64_t) + sizeof(double))};
    j.reps = malloc((size_t)o->n * sizeof(double));
    j.scratch = malloc(j.per_worker * (size_t)nthreads);
    if (!j.reps || !j.scratch) {
        free(j.reps), free(j.scratch);
        return sn_errorf("bootstrap_ci: out of memory");
    }
    int rc = parallel_for(nthreads, (o->n + RESAMPLE_BLOCK - 1) / RESAMPLE_BLOCK, boot_task, &j);
    if (rc == SN_OK) {
        qsort(j.reps, (size_t)o->n, sizeof(double), cmp_double);
        *lo = stats_quantile_sorted(j.reps, o->n, (1 - o->level) / 2);
        *hi = stats_quantile_sorted(j.reps, o->n, (1 + o->level) / 2);
    }
    free(j.reps), free(j.scratch);
    return rc;
}

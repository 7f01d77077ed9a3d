/* stats.h — tests and intervals for comparing similarity scores.
 *
 * t-tests follow scipy.stats (ttest_ind(equal_var=False), ttest_rel,
 * ttest_1samp): sample variances with ddof = 1, Welch-Satterthwaite degrees
 * of freedom, p-values from GSL's Student t distribution (gsl_cdf_tdist_P/Q).
 * alternative: "two-sided" p = 2 Q(|t|); "less" p = P(T <= t) (the first
 * sample's mean below the second's / below mu); "greater" p = P(T >= t).
 * Zero variance (scipy gives NaN): t = 0 when the mean difference is 0 too,
 * else +-Inf, with the matching limit p (two-sided: 1 for t = 0, 0 for Inf);
 * Welch's df is then nx + ny - 2 when both variances are 0. Never NaN.
 *
 * permutation_test: statistic mean(x) - mean(y). Unpaired: each resample
 * permutes the pooled sample (first nx values to x); paired: each resample
 * flips the sign of every difference x[i] - y[i] with probability 1/2.
 * p-values as scipy.stats.permutation_test (randomized): less
 * (1 + #{null <= obs + g}) / (n + 1), greater (1 + #{null >= obs - g}) /
 * (n + 1), two-sided min(1, 2 min(less, greater)), with the tolerance
 * g = max(1e-14, 1e-14 |obs|) so a resample equal to the observation counts.
 * The +1 counts the observed arrangement itself, so p is never 0 and the test
 * is exact (valid) at every n.
 *
 * bootstrap_ci: percentile method. n resamples of x with replacement; the
 * interval is the (1-level)/2 and (1+level)/2 quantiles of the n resampled
 * statistics (mean or median), with numpy's default linear interpolation
 * between order statistics (virtual index (n-1) q).
 *
 * Every draw is keyed: resample j uses stream rng_mix(stream, j) of `seed`,
 * so results are bit-identical for any thread count. Kernels assume valid
 * sizes (documented per function); bindings check them first. */
#ifndef SANITY_METRIC_STATS_H
#define SANITY_METRIC_STATS_H

#include <stdint.h>

typedef enum { ALT_TWO_SIDED, ALT_LESS, ALT_GREATER } Alternative;
/* {"two-sided", "less", "greater", NULL}, in Alternative order. */
extern const char *const stats_alternatives[];

typedef struct TTest {
    double t, df, p;
} TTest;

/* p-value of t with df degrees of freedom (t may be +-Inf). */
double stats_t_pvalue(double t, double df, Alternative alt);
/* n >= 2. */
void stats_ttest_1samp(const double *x, int64_t n, double mu, Alternative alt, TTest *r);
/* n >= 2 pairs: the one-sample test of x - y against 0. */
void stats_ttest_paired(const double *x, const double *y, int64_t n, Alternative alt, TTest *r);
/* nx, ny >= 2. */
void stats_ttest_welch(const double *x, int64_t nx, const double *y, int64_t ny, Alternative alt, TTest *r);

typedef struct PermOptions {
    int64_t n;  /* resamples, >= 1 */
    int paired; /* then nx == ny */
    Alternative alt;
    uint64_t seed, stream;
} PermOptions;

/* nx, ny >= 1. SN_ERR only when out of memory. */
int stats_permutation_test(const double *x, int64_t nx, const double *y, int64_t ny, const PermOptions *o, double *p,
                           int nthreads);

typedef enum { BOOT_MEAN, BOOT_MEDIAN } BootStatistic;
/* {"mean", "median", NULL}. */
extern const char *const stats_boot_statistics[];

typedef struct BootOptions {
    int64_t n;    /* resamples, >= 1 */
    double level; /* in (0, 1) */
    BootStatistic statistic;
    uint64_t seed, stream;
} BootOptions;

/* nx >= 1. SN_ERR only when out of memory. */
int stats_bootstrap_ci(const double *x, int64_t nx, const BootOptions *o, double *lo, double *hi, int nthreads);

/* Quantile q in [0, 1] of sorted s[0..n), n >= 1, numpy's "linear" method. */
double stats_quantile_sorted(const double *s, int64_t n, double q);
/* Median of x[0..n), n >= 1 (reorders x). */
double stats_median(double *x, int64_t n);

#endif

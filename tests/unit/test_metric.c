/* test_metric.c — runtime/metric against scipy/skimage references
 * (tests/fixtures/metrics.h5, written by scripts/fixtures/
 * make_metric_fixtures.py) and hand-computed cases: similarities to 1e-5,
 * t-test p-values to 1e-8, HOG descriptors to 1e-5, thread-count and
 * batch-position invariance (bitwise), and the validation messages. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fixture.h"
#include "metric/similarity.h"
#include "metric/stats.h"
#include "rng.h"
#include "test.h"

#define FIX "metrics.h5"

static int load(const char *name, Tensor *t) {
    if (fixture_read(FIX, name, t) != SN_OK) {
        test_fail(__FILE__, __LINE__, "%s", sn_errmsg());
        return 0;
    }
    return 1;
}

static double attr(const char *obj, const char *name) {
    double v = NAN;
    if (fixture_attr(FIX, obj, name, &v) != SN_OK) test_fail(__FILE__, __LINE__, "%s", sn_errmsg());
    return v;
}

/* Runs `kind` on a, b and compares with the fixture dataset `want`. */
static void check_sim(SimKind kind, const SimOptions *o, const Tensor *a, const Tensor *b, const char *want,
                      double tol) {
    Tensor ref, out;
    if (!load(want, &ref)) return;
    int64_t n = a->shape[0];
    CHECK_MSG(similarity_check(kind, a, b, o) == SN_OK, "%s: %s", want, sn_errmsg());
    tensor_init(&out, 1, &n);
    CHECK_MSG(similarity_batch(kind, a, b, o, &out, 2) == SN_OK, "%s: %s", want, sn_errmsg());
    CHECK_EQ_INT(tensor_numel(&ref), n);
    for (int64_t i = 0; i < n && i < tensor_numel(&ref); i++) {
        double got = tensor_data(&out)[i], exp = tensor_data(&ref)[i];
        CHECK_MSG(fabs(got - exp) <= tol, "%s[%lld] (%s, abs=%d): got %.9g, scipy/skimage %.9g", want, (long long)i,
                  similarity_names[kind], o->abs, got, exp);
    }
    tensor_release(&ref);
    tensor_release(&out);
}

TEST(metric_correlations_match_scipy) {
    Tensor a, b;
    if (!load("corr/a", &a) || !load("corr/b", &b)) return;
    SimOptions o;
    similarity_default_options(&o);
    check_sim(SIM_SPEARMAN, &o, &a, &b, "corr/spearman", 1e-5);
    check_sim(SIM_PEARSON, &o, &a, &b, "corr/pearson", 1e-5);
    check_sim(SIM_COSINE, &o, &a, &b, "corr/cosine", 1e-5);
    check_sim(SIM_MSE, &o, &a, &b, "corr/mse", 1e-5);
    check_sim(SIM_MAE, &o, &a, &b, "corr/mae", 1e-5);
    o.abs = 1;
    check_sim(SIM_SPEARMAN, &o, &a, &b, "corr/spearman_abs", 1e-5);
    check_sim(SIM_PEARSON, &o, &a, &b, "corr/pearson_abs", 1e-5);
    tensor_release(&a);
    tensor_release(&b);
}

TEST(metric_ssim_matches_skimage) {
    const char *tags[] = {"28", "32", "c"};
    for (int t = 0; t < 3; t++) {
        char na[32], nb[32], ns[32], nr[32];
        snprintf(na, sizeof na, "maps/a%s", tags[t]);
        snprintf(nb, sizeof nb, "maps/b%s", tags[t]);
        snprintf(ns, sizeof ns, "ssim/s%s", tags[t]);
        snprintf(nr, sizeof nr, "ssim/s%s_r2", tags[t]);
        Tensor a, b;
        if (!load(na, &a) || !load(nb, &b)) return;
        SimOptions o;
        similarity_default_options(&o);
        check_sim(SIM_SSIM, &o, &a, &b, ns, 1e-5);
        o.data_range = 2.0;
        check_sim(SIM_SSIM, &o, &a, &b, nr, 1e-5);
        tensor_release(&a);
        tensor_release(&b);
    }
}

static void check_hog(const char *maps, const char *want, const HogOptions *o) {
    Tensor x, ref, out;
    if (!load(maps, &x) || !load(want, &ref)) return;
    CHECK_MSG(hog_check(&x, o) == SN_OK, "%s", sn_errmsg());
    int64_t len = hog_length(x.shape[x.ndim - 2], x.shape[x.ndim - 1], o), shape[2] = {x.shape[0], len};
    CHECK_EQ_INT(len, ref.shape[1]);
    tensor_init(&out, 2, shape);
    CHECK(hog_batch(&x, o, 0, &out, 3) == SN_OK);
    double worst = 0;
    for (int64_t i = 0; i < tensor_numel(&out) && len == ref.shape[1]; i++)
        worst = fmax(worst, fabs(tensor_data(&out)[i] - tensor_data(&ref)[i]));
    CHECK_MSG(worst <= 1e-5, "%s: max |diff| %.3g vs skimage", want, worst);
    tensor_release(&x);
    tensor_release(&ref);
    tensor_release(&out);
}

TEST(metric_hog_descriptors_match_skimage) {
    HogOptions o;
    hog_default_options(&o);
    check_hog("maps/a28", "hog/d28", &o);
    check_hog("maps/a32", "hog/d32", &o);
    check_hog("maps/ac", "hog/dc", &o);
    /* the variants written by make_metric_fixtures.py (also in the attributes) */
    HogOptions A = {6, {4, 5}, {2, 3}, HOG_L1}, B = {12, {7, 7}, {2, 2}, HOG_L2}, C = {8, {6, 6}, {1, 2}, HOG_L1_SQRT};
    CHECK_NEAR(attr("hog/d28_A", "orientations"), 6, 0);
    CHECK_NEAR(attr("hog/d28_B", "orientations"), 12, 0);
    CHECK_NEAR(attr("hog/d32_C", "orientations"), 8, 0);
    check_hog("maps/a28", "hog/d28_A", &A);
    check_hog("maps/a28", "hog/d28_B", &B);
    check_hog("maps/a32", "hog/d32_C", &C);
}

TEST(metric_hog_similarity_matches_skimage) {
    const char *tags[] = {"28", "32", "c"};
    for (int t = 0; t < 3; t++) {
        char na[32], nb[32], ns[32];
        snprintf(na, sizeof na, "maps/a%s", tags[t]);
        snprintf(nb, sizeof nb, "maps/b%s", tags[t]);
        snprintf(ns, sizeof ns, "hog/s%s", tags[t]);
        Tensor a, b;
        if (!load(na, &a) || !load(nb, &b)) return;
        SimOptions o;
        similarity_default_options(&o);
        check_sim(SIM_HOG, &o, &a, &b, ns, 1e-5);
        tensor_release(&a);
        tensor_release(&b);
    }
}

/* ---- hand-computed cases ---------------------------------------------- */

static double sim1(SimKind kind, const float *a, const float *b, int64_t h, int64_t w, const SimOptions *o) {
    Tensor ta, tb, out;
    int64_t shape[3] = {1, h, w}, one = 1;
    tensor_init(&ta, 3, shape);
    tensor_init(&tb, 3, shape);
    tensor_init(&out, 1, &one);
    memcpy(tensor_data(&ta), a, (size_t)(h * w) * sizeof(float));
    memcpy(tensor_data(&tb), b, (size_t)(h * w) * sizeof(float));
    double r = NAN;
    if (similarity_check(kind, &ta, &tb, o) != SN_OK || similarity_batch(kind, &ta, &tb, o, &out, 1) != SN_OK)
        test_fail(__FILE__, __LINE__, "%s: %s", similarity_names[kind], sn_errmsg());
    else
        r = tensor_data(&out)[0];
    tensor_release(&ta);
    tensor_release(&tb);
    tensor_release(&out);
    return r;
}

TEST(metric_hand_cases) {
    SimOptions o;
    similarity_default_options(&o);
    float a[6] = {3, -1, 2, 7, 0, 5}, rev[6], cst[6] = {2, 2, 2, 2, 2, 2}, zero[6] = {0};
    for (int i = 0; i < 6; i++) rev[i] = -a[i];
    CHECK_NEAR(sim1(SIM_SPEARMAN, a, a, 2, 3, &o), 1, 0);
    CHECK_NEAR(sim1(SIM_SPEARMAN, a, rev, 2, 3, &o), -1, 0);
    CHECK_NEAR(sim1(SIM_SPEARMAN, a, cst, 2, 3, &o), 0, 0);
    CHECK_NEAR(sim1(SIM_SPEARMAN, cst, cst, 2, 3, &o), 0, 0);
    CHECK_NEAR(sim1(SIM_PEARSON, a, rev, 2, 3, &o), -1, 1e-12);
    CHECK_NEAR(sim1(SIM_PEARSON, cst, a, 2, 3, &o), 0, 0);
    CHECK_NEAR(sim1(SIM_COSINE, zero, a, 2, 3, &o), 0, 0);
    CHECK_NEAR(sim1(SIM_COSINE, a, a, 2, 3, &o), 1, 1e-7);
    /* mse of a vs -a: mean(4 a^2) = 4 * 88 / 6 */
    CHECK_NEAR(sim1(SIM_MSE, a, rev, 2, 3, &o), 4.0 * 88 / 6, 1e-5);
    CHECK_NEAR(sim1(SIM_MAE, a, rev, 2, 3, &o), 2.0 * 18 / 6, 1e-6);
    /* ties: ranks of {1,2,2,3} = {1,2.5,2.5,4}; of {4,3,2,1} reversed;
     * r = -(sum of centred products) / sqrt(...) = -4.5/sqrt(4.5*5) */
    float t1[4] = {1, 2, 2, 3}, t2[4] = {4, 3, 2, 1};
    CHECK_NEAR(sim1(SIM_SPEARMAN, t1, t2, 2, 2, &o), -4.5 / sqrt(4.5 * 5), 1e-7);
    /* abs=true: |{-3,1,-2,4}| = {3,1,2,4} vs {3,1,2,4} */
    float s1[4] = {-3, 1, -2, 4}, s2[4] = {3, 1, 2, 4};
    CHECK(sim1(SIM_SPEARMAN, s1, s2, 2, 2, &o) < 0.5);
    o.abs = 1;
    CHECK_NEAR(sim1(SIM_SPEARMAN, s1, s2, 2, 2, &o), 1, 0);
    o.abs = 0;
    /* top-k: |a| order 7,5,3,2,-1,0 -> top2 {3,5} (0-based idx 3,5); b's top2 */
    float b[6] = {7, 0, 0, 6, 0, 1};
    o.k = 2;
    CHECK_NEAR(sim1(SIM_TOPK, a, b, 2, 3, &o), 0.5, 0); /* a: idx 3,5; b: idx 0,3 */
    o.k = 6;
    CHECK_NEAR(sim1(SIM_TOPK, a, b, 2, 3, &o), 1, 0);
    /* ties by index: all equal -> top-3 are indices 0,1,2 for both maps */
    float e1[6] = {1, 1, 1, 1, 1, 1}, e2[6] = {-1, -1, -1, 1, 1, 1};
    o.k = 3;
    CHECK_NEAR(sim1(SIM_TOPK, e1, e2, 2, 3, &o), 1, 0);
    /* ssim(a, a) = 1 and the constant conventions */
    float m[16 * 16], m2[16 * 16], c1[16 * 16], c2[16 * 16];
    rng_normal(m, 256, 1, 2, 0);
    rng_normal(m2, 256, 1, 3, 0);
    for (int i = 0; i < 256; i++) c1[i] = 0.5f, c2[i] = -0.5f;
    similarity_default_options(&o);
    CHECK_NEAR(sim1(SIM_SSIM, m, m, 16, 16, &o), 1, 1e-12);
    CHECK(sim1(SIM_SSIM, m, m2, 16, 16, &o) < 0.5);
    CHECK_NEAR(sim1(SIM_SSIM, c1, c1, 16, 16, &o), 1, 0);
    /* different constants, inferred range 1: ux=.5, uy=-.5, no variance:
     * (2 ux uy + C1) / (ux^2 + uy^2 + C1) with C1 = 1e-4 */
    CHECK_NEAR(sim1(SIM_SSIM, c1, c2, 16, 16, &o), (-0.5 + 1e-4) / (0.5 + 1e-4), 1e-7);
    float h1[24 * 24];
    rng_normal(h1, 576, 1, 4, 0);
    CHECK_NEAR(sim1(SIM_HOG, h1, h1, 24, 24, &o), 1, 1e-12);
    float hc[24 * 24];
    for (int i = 0; i < 576; i++) hc[i] = 3;
    CHECK_NEAR(sim1(SIM_HOG, h1, hc, 24, 24, &o), 0, 0);
}

TEST(metric_results_independent_of_threads_and_position) {
    int64_t n = 37, shape[4] = {37, 2, 28, 28};
    Tensor a, b, o1, o3, part, pa, pb;
    tensor_init(&a, 4, shape);
    tensor_init(&b, 4, shape);
    rng_normal(tensor_data(&a), tensor_numel(&a), 9, 1, 0);
    rng_normal(tensor_data(&b), tensor_numel(&b), 9, 2, 0);
    for (int64_t i = 0; i < tensor_numel(&a); i += 7) tensor_data(&a)[i] = 0; /* ties */
    tensor_init(&o1, 1, &n);
    tensor_init(&o3, 1, &n);
    for (int kind = 0; kind < SIM_COUNT; kind++) {
        for (int abs = 0; abs < 2; abs++) {
            SimOptions o;
            similarity_default_options(&o);
            o.abs = abs, o.k = 100;
            CHECK(similarity_check((SimKind)kind, &a, &b, &o) == SN_OK);
            CHECK(similarity_batch((SimKind)kind, &a, &b, &o, &o1, 1) == SN_OK);
            CHECK(similarity_batch((SimKind)kind, &a, &b, &o, &o3, 3) == SN_OK);
            CHECK_MSG(memcmp(tensor_data(&o1), tensor_data(&o3), (size_t)n * sizeof(float)) == 0,
                      "%s abs=%d differs between 1 and 3 threads", similarity_names[kind], abs);
            int64_t m = 5;
            tensor_narrow(&pa, &a, 11, m);
            tensor_narrow(&pb, &b, 11, m);
            tensor_init(&part, 1, &m);
            CHECK(similarity_batch((SimKind)kind, &pa, &pb, &o, &part, 2) == SN_OK);
            CHECK_MSG(memcmp(tensor_data(&part), tensor_data(&o1) + 11, (size_t)m * sizeof(float)) == 0,
                      "%s: a sample's value depends on its batch", similarity_names[kind]);
            for (int64_t i = 0; i < n; i++) CHECK(isfinite(tensor_data(&o1)[i]));
            tensor_release(&pa);
            tensor_release(&pb);
            tensor_release(&part);
        }
    }
    /* HOG descriptors too */
    HogOptions ho;
    hog_default_options(&ho);
    int64_t ds[2] = {n, hog_length(28, 28, &ho)};
    Tensor d1, d3;
    tensor_init(&d1, 2, ds);
    tensor_init(&d3, 2, ds);
    CHECK(hog_batch(&a, &ho, 0, &d1, 1) == SN_OK);
    CHECK(hog_batch(&a, &ho, 0, &d3, 3) == SN_OK);
    CHECK(memcmp(tensor_data(&d1), tensor_data(&d3), (size_t)tensor_numel(&d1) * sizeof(float)) == 0);
    tensor_release(&d1);
    tensor_release(&d3);
    tensor_release(&a);
    tensor_release(&b);
    tensor_release(&o1);
    tensor_release(&o3);
}

TEST(metric_similarity_errors) {
    SimOptions o;
    similarity_default_options(&o);
    Tensor a, b, c, out;
    int64_t sa[3] = {2, 28, 28}, sb[3] = {2, 28, 27}, sc[3] = {2, 10, 30}, two = 2;
    tensor_init(&a, 3, sa);
    tensor_init(&b, 3, sb);
    tensor_init(&c, 3, sc);
    CHECK(similarity_check(SIM_SPEARMAN, &a, &b, &o) == SN_ERR);
    CHECK_MSG(strstr(sn_errmsg(), "[2, 28, 28]") && strstr(sn_errmsg(), "[2, 28, 27]"), "%s", sn_errmsg());
    CHECK(similarity_check(SIM_SSIM, &c, &c, &o) == SN_ERR);
    CHECK_MSG(strstr(sn_errmsg(), "10x30") && strstr(sn_errmsg(), "11x11"), "%s", sn_errmsg());
    CHECK(similarity_check(SIM_HOG, &c, &c, &o) == SN_ERR);
    CHECK_MSG(strstr(sn_errmsg(), "24x24"), "%s", sn_errmsg());
    o.k = 0;
    CHECK(similarity_check(SIM_TOPK, &a, &a, &o) == SN_ERR);
    CHECK_MSG(strstr(sn_errmsg(), "1..784"), "%s", sn_errmsg());
    o.k = 785;
    CHECK(similarity_check(SIM_TOPK, &a, &a, &o) == SN_ERR);
    CHECK(similarity_find("spearman") == SIM_SPEARMAN && similarity_find("nope") == -1);
    /* a NaN is reported with its sample, never turned into a score */
    tensor_init(&out, 1, &two);
    tensor_data(&a)[784 + 5] = NAN;
    CHECK(similarity_batch(SIM_PEARSON, &a, &a, &o, &out, 2) == SN_ERR);
    CHECK_MSG(strstr(sn_errmsg(), "sample 1"), "%s", sn_errmsg());
    tensor_release(&a);
    tensor_release(&b);
    tensor_release(&c);
    tensor_release(&out);
}

/* ---- statistics ------------------------------------------------------- */

static double *load_d(const char *name, int64_t *n) {
    Tensor t;
    if (!load(name, &t)) return NULL;
    *n = tensor_numel(&t);
    double *d = malloc((size_t)*n * sizeof *d);
    for (int64_t i = 0; i < *n; i++) d[i] = tensor_data(&t)[i];
    tensor_release(&t);
    return d;
}

static void check_ttest(const char *group, const TTest *r, Alternative alt) {
    char pname[32];
    snprintf(pname, sizeof pname, "p_%s", stats_alternatives[alt]);
    double t = attr(group, "t"), df = attr(group, "df"), p = attr(group, pname);
    CHECK_MSG(fabs(r->t - t) <= 1e-9 * fmax(1, fabs(t)), "%s: t %.12g vs scipy %.12g", group, r->t, t);
    CHECK_MSG(fabs(r->df - df) <= 1e-9 * df, "%s: df %.12g vs scipy %.12g", group, r->df, df);
    CHECK_MSG(fabs(r->p - p) <= 1e-8, "%s %s: p %.12g vs scipy %.12g", group, pname, r->p, p);
}

TEST(metric_ttests_match_scipy) {
    int64_t nx, ny, nxp, nyp, nxs, nys;
    double *x = load_d("ttest/x", &nx), *y = load_d("ttest/y", &ny), *xp = load_d("ttest/xp", &nxp),
           *yp = load_d("ttest/yp", &nyp), *xs = load_d("ttest/xs", &nxs), *ys = load_d("ttest/ys", &nys);
    if (!x || !y || !xp || !yp || !xs || !ys) return;
    double mu = attr("ttest/onesamp", "mu");
    for (int alt = 0; alt < 3; alt++) {
        TTest r;
        stats_ttest_welch(x, nx, y, ny, (Alternative)alt, &r);
        check_ttest("ttest/welch", &r, (Alternative)alt);
        stats_ttest_welch(xs, nxs, ys, nys, (Alternative)alt, &r);
        check_ttest("ttest/welch_small", &r, (Alternative)alt);
        stats_ttest_paired(xp, yp, nxp, (Alternative)alt, &r);
        check_ttest("ttest/paired", &r, (Alternative)alt);
        stats_ttest_1samp(x, nx, mu, (Alternative)alt, &r);
        check_ttest("ttest/onesamp", &r, (Alternative)alt);
    }
    free(x), free(y), free(xp), free(yp), free(xs), free(ys);
}

TEST(metric_ttest_zero_variance_conventions) {
    double c[4] = {2, 2, 2, 2}, d[4] = {3, 3, 3, 3};
    TTest r;
    stats_ttest_1samp(c, 4, 2, ALT_TWO_SIDED, &r);
    CHECK(r.t == 0 && r.p == 1);
    stats_ttest_1samp(c, 4, 1, ALT_TWO_SIDED, &r);
    CHECK(isinf(r.t) && r.t > 0 && r.p == 0);
    stats_ttest_1samp(c, 4, 1, ALT_LESS, &r);
    CHECK(r.p == 1);
    stats_ttest_welch(c, 4, d, 4, ALT_LESS, &r);
    CHECK(isinf(r.t) && r.t < 0 && r.p == 0 && r.df == 6);
    stats_ttest_paired(c, d, 4, ALT_GREATER, &r);
    CHECK(r.p == 1);
    stats_ttest_paired(c, c, 4, ALT_GREATER, &r);
    CHECK(r.t == 0 && fabs(r.p - 0.5) < 1e-15);
}

TEST(metric_permutation_test_converges_to_exact) {
    int64_t nx, ny, npx, npy;
    double *x = load_d("perm/x", &nx), *y = load_d("perm/y", &ny), *px = load_d("perm/px", &npx),
           *py = load_d("perm/py", &npy);
    if (!x || !y || !px || !py) return;
    for (int alt = 0; alt < 3; alt++) {
        char name[32];
        PermOptions o = {.n = 20000, .alt = (Alternative)alt, .seed = 5, .stream = 77};
        double p1, p3;
        CHECK(stats_permutation_test(x, nx, y, ny, &o, &p1, 1) == SN_OK);
        CHECK(stats_permutation_test(x, nx, y, ny, &o, &p3, 3) == SN_OK);
        CHECK(p1 == p3);
        snprintf(name, sizeof name, "p_ind_%s", stats_alternatives[alt]);
        CHECK_NEAR(p1, attr("perm", name), 0.01); /* Monte Carlo sd ~0.002 */
        o.paired = 1;
        CHECK(stats_permutation_test(px, npx, py, npy, &o, &p1, 1) == SN_OK);
        CHECK(stats_permutation_test(px, npx, py, npy, &o, &p3, 3) == SN_OK);
        CHECK(p1 == p3);
        snprintf(name, sizeof name, "p_paired_%s", stats_alternatives[alt]);
        CHECK_NEAR(p1, attr("perm", name), 0.01);
    }
    /* +1 correction: fully separated samples give exactly 1 / (n + 1) */
    double lo[5] = {1, 2, 3, 4, 5}, hi[5] = {11, 12, 13, 14, 15}, p;
    PermOptions o = {.n = 99, .alt = ALT_GREATER, .seed = 1, .stream = 2};
    CHECK(stats_permutation_test(hi, 5, lo, 5, &o, &p, 2) == SN_OK);
    CHECK_NEAR(p, 1.0 / 100, 1e-12 + 1.0 / 100); /* at least 1/(n+1), rarely a few more */
    CHECK(p >= 1.0 / 100);
    o.n = 1;
    CHECK(stats_permutation_test(hi, 5, lo, 5, &o, &p, 2) == SN_OK);
    CHECK(p >= 0.5);
    free(x), free(y), free(px), free(py);
}

TEST(metric_bootstrap_ci) {
    int64_t n;
    double *x = load_d("boot/x", &n);
    if (!x) return;
    const char *stats[2] = {"mean", "median"};
    for (int s = 0; s < 2; s++) {
        BootOptions o = {
            .n = 20000, .level = attr("boot", "level"), .statistic = (BootStatistic)s, .seed = 3, .stream = 4};
        double lo1, hi1, lo3, hi3;
        CHECK(stats_bootstrap_ci(x, n, &o, &lo1, &hi1, 1) == SN_OK);
        CHECK(stats_bootstrap_ci(x, n, &o, &lo3, &hi3, 3) == SN_OK);
        CHECK(lo1 == lo3 && hi1 == hi3);
        char nl[32], nh[32];
        snprintf(nl, sizeof nl, "%s_lo", stats[s]);
        snprintf(nh, sizeof nh, "%s_hi", stats[s]);
        /* scipy's interval is itself Monte Carlo (200000 resamples) */
        CHECK_NEAR(lo1, attr("boot", nl), 0.02);
        CHECK_NEAR(hi1, attr("boot", nh), 0.02);
        o.seed = 4;
        CHECK(stats_bootstrap_ci(x, n, &o, &lo3, &hi3, 2) == SN_OK);
        if (s == 0) CHECK(lo1 != lo3); /* the seed matters (medians take few distinct values) */
    }
    /* numpy.percentile([1, 2, 4, 7], q) for q = 0, 10, 50, 95, 100 */
    double s4[4] = {1, 2, 4, 7};
    CHECK_NEAR(stats_quantile_sorted(s4, 4, 0), 1, 0);
    CHECK_NEAR(stats_quantile_sorted(s4, 4, 0.10), 1.3, 1e-15);
    CHECK_NEAR(stats_quantile_sorted(s4, 4, 0.50), 3, 1e-15);
    CHECK_NEAR(stats_quantile_sorted(s4, 4, 0.95), 6.55, 1e-14);
    CHECK_NEAR(stats_quantile_sorted(s4, 4, 1), 7, 0);
    double m5[5] = {5, 1, 4, 2, 3}, m4[4] = {4, 1, 3, 2};
    CHECK_NEAR(stats_median(m5, 5), 3, 0);
    CHECK_NEAR(stats_median(m4, 4), 2.5, 0);
    free(x);
}

/* test_attr.c — the numeric pieces of the attribution methods in C:
 * Gauss-Legendre quadrature (closed forms, polynomial exactness, NumPy's
 * leggauss), the integrated-gradients rules (Captum's nodes and weights by
 * hand), the blur baseline (scipy.ndimage.gaussian_filter), the Sobel map
 * (scipy.ndimage.sobel), the noise generator (its definition computed
 * here from rng_block with libm in double) and the bilinear resize (torch F.interpolate) on
 * tests/fixtures/attr_numeric.h5 (scripts/fixtures/make_attr_fixtures.py).
 * The methods themselves are tested from Lua (tests/lua/test_attr_methods.lua). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attr/baseline.h"
#include "attr/cam.h"
#include "attr/integrated.h"
#include "attr/noise.h"
#include "error.h"
#include "fixture.h"
#include "rng.h"
#include "test.h"

#define NUMERIC "attr_numeric.h5"

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

TEST(gauss_legendre_closed_forms) {
    double x[3], w[3];
    gauss_legendre(1, x, w);
    CHECK_NEAR(x[0], 0, 0);
    CHECK_NEAR(w[0], 2, 1e-15);
    gauss_legendre(2, x, w);
    CHECK_NEAR(x[0], -1 / sqrt(3), 1e-15);
    CHECK_NEAR(x[1], 1 / sqrt(3), 1e-15);
    CHECK_NEAR(w[0], 1, 1e-15);
    CHECK_NEAR(w[1], 1, 1e-15);
    gauss_legendre(3, x, w);
    CHECK_NEAR(x[0], -sqrt(0.6), 1e-15);
    CHECK_NEAR(x[1], 0, 0);
    CHECK_NEAR(x[2], sqrt(0.6), 1e-15);
    CHECK_NEAR(w[0], 5.0 / 9, 1e-15);
    CHECK_NEAR(w[1], 8.0 / 9, 1e-15);
}

/* n nodes integrate x^k exactly for k <= 2n - 1 (in double, to rounding) */
TEST(gauss_legendre_polynomial_exactness) {
    static double x[200], w[200];
    int ns[] = {4, 7, 16, 33, 100, 200};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        int n = ns[t];
        gauss_legendre(n, x, w);
        for (int i = 1; i < n; i++) CHECK_MSG(x[i] > x[i - 1], "n=%d: nodes ascending at %d", n, i);
        int kmax = 2 * n - 1 < 40 ? 2 * n - 1 : 40;
        for (int k = 0; k <= kmax; k++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += w[i] * pow(x[i], k);
            double exact = k % 2 ? 0 : 2.0 / (k + 1);
            CHECK_MSG(fabs(s - exact) < 1e-13, "n=%d k=%d: %.17g vs %.17g", n, k, s, exact);
        }
    }
}

TEST(gauss_legendre_matches_numpy) {
    int ns[] = {1, 2, 3, 4, 5, 8, 16, 33, 64, 128};
    static double x[128], w[128];
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        int n = ns[t];
        char px[64], pw[64];
        snprintf(px, sizeof px, "gauss_legendre/%d/x", n);
        snprintf(pw, sizeof pw, "gauss_legendre/%d/w", n);
        Tensor rx, rw;
        if (fixture_read(NUMERIC, px, &rx) != SN_OK || fixture_read(NUMERIC, pw, &rw) != SN_OK) {
            CHECK_MSG(0, "%s", sn_errmsg());
            return;
        }
        gauss_legendre(n, x, w);
        for (int i = 0; i < n; i++) { /* the fixture holds float32 copies of NumPy's doubles */
            CHECK_MSG(fabs(x[i] - tensor_data(&rx)[i]) <= 6e-8, "n=%d node %d: %.10g vs %.10g", n, i, x[i],
                      tensor_data(&rx)[i]);
            CHECK_MSG(fabs(w[i] - tensor_data(&rw)[i]) <= 6e-8 * fmax(w[i], 1e-3), "n=%d weight %d", n, i);
        }
        tensor_release(&rx);
        tensor_release(&rw);
    }
}

TEST(ig_rules_as_captum) {
    double a[4], w[4];
    attr_ig_rule(ATTR_IG_RIEMANN_LEFT, 4, a, w);
    CHECK(a[0] == 0 && a[1] == 0.25 && a[3] == 0.75 && w[0] == 0.25 && w[3] == 0.25);
    attr_ig_rule(ATTR_IG_RIEMANN_RIGHT, 4, a, w);
    CHECK(a[0] == 0.25 && a[3] == 1 && w[2] == 0.25);
    attr_ig_rule(ATTR_IG_RIEMANN_MIDDLE, 4, a, w);
    CHECK(a[0] == 0.125 && a[3] == 0.875 && w[1] == 0.25);
    attr_ig_rule(ATTR_IG_RIEMANN_TRAPEZOID, 4, a, w);
    CHECK_NEAR(a[1], 1.0 / 3, 1e-16);
    CHECK(a[0] == 0 && a[3] == 1 && w[0] == 0.125 && w[1] == 0.25 && w[3] == 0.125); /* sums to 3/4 */
    attr_ig_rule(ATTR_IG_GAUSS_LEGENDRE, 2, a, w);
    CHECK_NEAR(a[0], 0.5 - 0.5 / sqrt(3), 1e-15);
    CHECK_NEAR(w[0] + w[1], 1, 1e-15);
}

TEST(blur_baseline_matches_scipy) {
    Tensor x, want, got;
    if (fixture_read(NUMERIC, "blur/x", &x) != SN_OK) {
        CHECK_MSG(0, "%s", sn_errmsg());
        return;
    }
    const double sigmas[] = {0.7, 1.0, 2.5, 5.0, 12.0};
    const char *names[] = {"blur/sigma_0.7", "blur/sigma_1", "blur/sigma_2.5", "blur/sigma_5", "blur/sigma_12"};
    for (int s = 0; s < 5; s++) {
        if (fixture_read(NUMERIC, names[s], &want) != SN_OK) {
            CHECK_MSG(0, "%s", sn_errmsg());
            continue;
        }
        CHECK(attr_ig_baseline_blur(&x, sigmas[s], &got) == SN_OK);
        double d = max_abs_diff(tensor_data(&got), tensor_data(&want), tensor_numel(&x));
        CHECK_MSG(d < 2e-6, "%s: max |diff| %.3g", names[s], d);
        tensor_release(&got);
        tensor_release(&want);
    }
    CHECK(attr_ig_baseline_blur(&x, 0, &got) == SN_OK); /* sigma 0: x itself, as scipy */
    CHECK(max_abs_diff(tensor_data(&got), tensor_data(&x), tensor_numel(&x)) == 0);
    tensor_release(&got);
    tensor_release(&x);
}

TEST(sobel_matches_scipy) {
    Tensor x, want, got;
    if (fixture_read(NUMERIC, "sobel/x", &x) != SN_OK || fixture_read(NUMERIC, "sobel/y", &want) != SN_OK) {
        CHECK_MSG(0, "%s", sn_errmsg());
        return;
    }
    CHECK(attr_sobel(&x, &got) == SN_OK);
    double d = max_abs_diff(tensor_data(&got), tensor_data(&want), tensor_numel(&x));
    CHECK_MSG(d < 2e-6, "max |diff| %.3g", d);
    tensor_release(&got), tensor_release(&want), tensor_release(&x);
}

TEST(bilinear_upsample_matches_torch) {
    const char *cases[][2] = {{"upsample/in_7x7", "upsample/out_7x7_28x28"},
                              {"upsample/in_7x7", "upsample/out_7x7_9x11"},
                              {"upsample/in_10x10", "upsample/out_10x10_28x28"},
                              {"upsample/in_3x5", "upsample/out_3x5_4x13"},
                              {"upsample/in_3x5", "upsample/out_3x5_3x5"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Tensor in, want;
        if (fixture_read(NUMERIC, cases[c][0], &in) != SN_OK || fixture_read(NUMERIC, cases[c][1], &want) != SN_OK) {
            CHECK_MSG(0, "%s", sn_errmsg());
            continue;
        }
        Tensor got;
        CHECK(tensor_init_like(&got, &want) == SN_OK);
        attr_upsample_bilinear(tensor_data(&got), tensor_data(&in), in.shape[0] * in.shape[1], in.shape[2], in.shape[3],
                               want.shape[2], want.shape[3]);
        double d = max_abs_diff(tensor_data(&got), tensor_data(&want), tensor_numel(&want));
        CHECK_MSG(d < 1e-6, "%s: max |diff| %.3g", cases[c][1], d);
        tensor_release(&got), tensor_release(&want), tensor_release(&in);
    }
}

/* attr_normal = Box-Muller on rng_block's words as documented in noise.h,
 * within the accuracy of its float ln/sin/cos; every tail length. */
TEST(attr_normal_matches_its_definition) {
    static float got[1003];
    const int64_t lens[] = {1003, 64, 5, 1};
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
        int64_t n = lens[t];
        uint64_t seed = 0x123456789ABCull + (uint64_t)t, stream = rng_stream("smoothgrad", 7, (uint64_t)t);
        for (int64_t k = 0; k < 1003; k++) got[k] = 1e9f; /* untouched past n */
        attr_normal(got, n, seed, stream);
        double worst = 0;
        for (int64_t k = 0; k < n; k++) {
            uint32_t w[4];
            rng_block(seed, stream, (uint64_t)(k / 4), w);
            int h = (int)(k % 4) / 2 * 2;
            /* u exactly as rng_uniform makes it (float: k + 1/2 rounds to even above 2^23) */
            double u = ((float)(w[h] >> 8) + 0.5f) * (1.0f / 16777216.0f);
            double v = ((float)(w[h + 1] >> 8) + 0.5f) * (1.0f / 16777216.0f);
            double r = sqrt(-2 * log(u)), a = 2 * M_PI * v, want = k % 2 ? r * sin(a) : r * cos(a);
            worst = fmax(worst, fabs(got[k] - want));
        }
        CHECK_MSG(worst < 1e-6, "n=%lld: worst error %.3g", (long long)n, worst);
        CHECK(n == 1003 || got[n] == 1e9f);
    }
}

/* test_perturb.c — the pieces under the perturbation methods: Gaussian
 * blur against scipy, RISE mask upsampling against torch's bilinear
 * interpolate (tests/fixtures/perturb.h5, scripts/fixtures/
 * make_perturb_fixtures.py), grid labels and id compaction by hand, SLIC on
 * synthetic images (edges respected, 4-connected consecutive labels,
 * deterministic), and the LAPACK least squares (exact fits, a singular
 * system regularized to the minimum-norm split, no NaN). The methods
 * themselves are tested through Lua (tests/lua/test_attr_perturbation.lua). */
#include <stdlib.h>
#include <string.h>

#include "attr/perturb_impl.h"
#include "attr/segment.h"
#include "error.h"
#include "fixture.h"
#include "test.h"

#define FIX "perturb.h5"

static int load(const char *name, Tensor *t) {
    if (fixture_read(FIX, name, t) != SN_OK) {
        test_fail(__FILE__, __LINE__, "%s", sn_errmsg());
        return 0;
    }
    return 1;
}

TEST(perturb_blur_matches_scipy) {
    Tensor img, ref;
    const char *names[] = {"blur/s1", "blur/s2_5"};
    double sigmas[] = {1.0, 2.5};
    if (!load("blur/img", &img)) return;
    int64_t n = img.shape[0], c = img.shape[1], h = img.shape[2], w = img.shape[3], row = c * h * w;
    float *out = malloc(sizeof(float) * (size_t)(n * row));
    for (int k = 0; k < 2; k++) {
        if (!load(names[k], &ref)) continue;
        for (int64_t i = 0; i < n; i++)
            CHECK(perturb_blur(tensor_data(&img) + i * row, c, h, w, sigmas[k], out + i * row) == SN_OK);
        double worst = 0;
        for (int64_t e = 0; e < n * row; e++) {
            double d = fabs((double)out[e] - tensor_data(&ref)[e]);
            if (d > worst) worst = d;
        }
        CHECK_MSG(worst <= 1e-6, "%s: max |diff| %.3g", names[k], worst);
        tensor_release(&ref);
    }
    free(out);
    tensor_release(&img);
}

TEST(perturb_rise_mask_matches_torch_bilinear) {
    for (int k = 0; k < 4; k++) {
        char gname[32], mname[32];
        snprintf(gname, sizeof gname, "rise/grid_%d", k);
        snprintf(mname, sizeof mname, "rise/mask_%d", k);
        Tensor grid, ref;
        if (!load(gname, &grid) || !load(mname, &ref)) return;
        double a[6];
        const char *an[6] = {"ch", "cw", "dy", "dx", "h", "w"};
        for (int j = 0; j < 6; j++) CHECK(fixture_attr(FIX, gname, an[j], &a[j]) == SN_OK);
        int64_t gh = grid.shape[0], gw = grid.shape[1], h = (int64_t)a[4], w = (int64_t)a[5];
        uint8_t *g = malloc((size_t)(gh * gw));
        float *m = malloc(sizeof(float) * (size_t)(h * w)), *tmp = malloc(sizeof(float) * (size_t)(gh * w));
        for (int64_t e = 0; e < gh * gw; e++) g[e] = tensor_data(&grid)[e] != 0;
        rise_mask_from_grid(g, gh, gw, (int64_t)a[0], (int64_t)a[1], (int64_t)a[2], (int64_t)a[3], h, w, tmp, m);
        CHECK_EQ_INT(tensor_numel(&ref), h * w);
        double worst = 0;
        for (int64_t e = 0; e < h * w; e++) {
            double d = fabs((double)m[e] - tensor_data(&ref)[e]);
            if (d > worst) worst = d;
        }
        CHECK_MSG(worst <= 1e-6, "%s: max |diff| %.3g", mname, worst);
        free(g), free(m), free(tmp);
        tensor_release(&grid), tensor_release(&ref);
    }
}

TEST(perturb_grid_and_compact_by_hand) {
    int32_t lab[5 * 7];
    CHECK_EQ_INT(segment_grid(5, 7, 2, 3, lab), 9); /* 3 x 3 cells, the last ones smaller */
    int32_t want_row0[7] = {0, 0, 0, 1, 1, 1, 2}, want_row4[7] = {6, 6, 6, 7, 7, 7, 8};
    for (int x = 0; x < 7; x++) {
        CHECK_EQ_INT(lab[x], want_row0[x]);
        CHECK_EQ_INT(lab[4 * 7 + x], want_row4[x]);
    }
    float ids[8] = {7, 3, 3, 100, 0, 7, 100, 3};
    int32_t got[8], want[8] = {2, 1, 1, 3, 0, 2, 3, 1};
    CHECK_EQ_INT(segment_compact(ids, 8, got), 4);
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(got[i], want[i]);
}

/* Every label 0..count-1 is used and forms one 4-connected region. */
static void check_connected(const int32_t *lab, int64_t h, int64_t w, int64_t count) {
    int32_t *seen = calloc((size_t)count, sizeof(int32_t)), *q = malloc(sizeof(int32_t) * (size_t)(h * w));
    uint8_t *vis = calloc((size_t)(h * w), 1);
    for (int64_t p = 0; p < h * w; p++) {
        CHECK(lab[p] >= 0 && lab[p] < count);
        if (lab[p] < 0 || lab[p] >= count || vis[p]) continue;
        CHECK_MSG(!seen[lab[p]], "segment %d has two components", lab[p]);
        seen[lab[p]] = 1;
        int64_t head = 0, tail = 0;
        q[tail++] = (int32_t)p, vis[p] = 1;
        while (head < tail) {
            int64_t r = q[head++], y = r / w, x = r % w;
            int64_t nb[4] = {y > 0 ? r - w : -1, x > 0 ? r - 1 : -1, x + 1 < w ? r + 1 : -1, y + 1 < h ? r + w : -1};
            for (int k = 0; k < 4; k++)
                if (nb[k] >= 0 && !vis[nb[k]] && lab[nb[k]] == lab[p]) vis[nb[k]] = 1, q[tail++] = (int32_t)nb[k];
        }
    }
    for (int64_t k = 0; k < count; k++) CHECK_MSG(seen[k], "label %lld unused", (long long)k);
    free(seen), free(q), free(vis);
}

TEST(perturb_slic_follows_edges_connected_deterministic) {
    /* two flat regions split by a diagonal-ish step, plus a second channel */
    int64_t h = 24, w = 30, c = 2;
    float *img = malloc(sizeof(float) * (size_t)(c * h * w));
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            img[y * w + x] = x + y / 2 < 17 ? 0.0f : 1.0f;
            img[h * w + y * w + x] = 0.25f;
        }
    SlicOptions o = {20, 0.05, 10, 1, 0.5};
    int32_t *a = malloc(sizeof(int32_t) * (size_t)(h * w)), *b = malloc(sizeof(int32_t) * (size_t)(h * w));
    int64_t na = 0, nb = 0;
    CHECK(segment_slic(img, c, h, w, &o, a, &na) == SN_OK);
    CHECK(segment_slic(img, c, h, w, &o, b, &nb) == SN_OK);
    CHECK_EQ_INT(na, nb);
    CHECK(memcmp(a, b, sizeof(int32_t) * (size_t)(h * w)) == 0);
    CHECK_MSG(na >= 10 && na <= 30, "%lld segments for 20 requested", (long long)na);
    check_connected(a, h, w, na);
    /* low compactness: no segment straddles the step */
    int *side = malloc(sizeof(int) * (size_t)na);
    for (int64_t k = 0; k < na; k++) side[k] = -1;
    int straddle = 0;
    for (int64_t p = 0; p < h * w; p++) {
        int s = img[p] > 0.5f;
        if (side[a[p]] < 0)
            side[a[p]] = s;
        else
            straddle += side[a[p]] != s;
    }
    CHECK_MSG(straddle == 0, "%d pixels on the wrong side of the edge", straddle);
    /* without connectivity enforcement labels are still consecutive */
    o.connectivity = 0;
    CHECK(segment_slic(img, c, h, w, &o, b, &nb) == SN_OK);
    int32_t mx = 0;
    for (int64_t p = 0; p < h * w; p++) mx = b[p] > mx ? b[p] : mx;
    CHECK_EQ_INT(mx + 1, nb);
    /* a single requested segment covers everything */
    o.n_segments = 1, o.connectivity = 1;
    CHECK(segment_slic(img, c, h, w, &o, b, &nb) == SN_OK);
    CHECK_EQ_INT(nb, 1);
    free(img), free(a), free(b), free(side);
}

typedef struct {
    const double *a;
    int p;
} Design;

static void design_row(const void *ctx, int64_t j, double *out) {
    const Design *d = ctx;
    memcpy(out, d->a + j * d->p, sizeof(double) * (size_t)d->p);
}

TEST(perturb_wls_exact_and_singular) {
    /* 300 rows (more than one 256-row block), 3 parameters, exact fit */
    int64_t m = 300;
    double *a = malloc(sizeof(double) * (size_t)(m * 3)), *y = malloc(sizeof(double) * (size_t)m);
    double *w = malloc(sizeof(double) * (size_t)m), beta[3], ridge;
    for (int64_t j = 0; j < m; j++) {
        a[j * 3] = (double)(j % 7), a[j * 3 + 1] = (double)((j * 5) % 11) - 5, a[j * 3 + 2] = 1;
        y[j] = 0.5 * a[j * 3] - 2 * a[j * 3 + 1] + 3;
        w[j] = 0.1 + (double)(j % 3);
    }
    Design d = {a, 3};
    CHECK(perturb_wls(m, 3, design_row, &d, w, y, NULL, beta, &ridge) == SN_OK);
    CHECK_NEAR(beta[0], 0.5, 1e-10);
    CHECK_NEAR(beta[1], -2, 1e-10);
    CHECK_NEAR(beta[2], 3, 1e-10);
    CHECK(ridge == 0);
    /* ridge penalty on the first two, by the normal equations in closed form:
     * one column, y = 2 a, penalty 4: beta = sum(w a y) / (sum(w a^2) + 4) */
    double num = 0, den = 0;
    for (int64_t j = 0; j < m; j++) {
        a[j] = (double)(j % 4);
        y[j] = 2 * a[j];
        num += w[j] * a[j] * y[j], den += w[j] * a[j] * a[j];
    }
    Design d1 = {a, 1};
    double pen = 4;
    CHECK(perturb_wls(m, 1, design_row, &d1, w, y, &pen, beta, &ridge) == SN_OK);
    CHECK_NEAR(beta[0], num / (den + 4), 1e-12);
    /* two identical columns: singular; regularized to the equal split, finite */
    for (int64_t j = 0; j < m; j++) a[j * 2] = a[j * 2 + 1] = (double)(j % 5), y[j] = 2 * (double)(j % 5);
    Design d2 = {a, 2};
    CHECK(perturb_wls(m, 2, design_row, &d2, w, y, NULL, beta, &ridge) == SN_OK);
    CHECK_MSG(ridge > 0, "ridge %g", ridge);
    CHECK(isfinite(beta[0]) && isfinite(beta[1]));
    CHECK_NEAR(beta[0], 1, 1e-6);
    CHECK_NEAR(beta[1], 1, 1e-6);
    /* all weights zero: nothing to fit, still finite (zeros) */
    for (int64_t j = 0; j < m; j++) w[j] = 0;
    CHECK(perturb_wls(m, 2, design_row, &d2, w, y, NULL, beta, &ridge) == SN_OK);
    CHECK(ridge > 0 && isfinite(beta[0]) && isfinite(beta[1]));
    free(a), free(y), free(w);
}

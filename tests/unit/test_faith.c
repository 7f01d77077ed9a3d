/* test_faith.c — runtime/metric/faithfulness.c and complexity.c from C:
 * every metric is bit-identical for 1 and 3 threads and for chunks of 256
 * and 7 rows (the Lua tests cover values against the NumPy/PyTorch fixture,
 * closed forms and bad input); perturbations keep to their definition
 * (square shape, masking rate, noise moments). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "metric/complexity.h"
#include "metric/faithfulness.h"
#include "model.h"
#include "rng.h"
#include "test.h"

static const char *NET_JSON =
    "{\"format\": \"sanity.model\", \"version\": 1, \"seed\": 3, \"input_shape\": [2, 9, 10], \"nodes\": ["
    "{\"name\": \"conv1\", \"type\": \"conv2d\", \"config\": {\"in_channels\": 2, \"out_channels\": 4, "
    "\"kernel_size\": 3, \"padding\": 1}},"
    "{\"name\": \"relu1\", \"type\": \"relu\"},"
    "{\"name\": \"pool1\", \"type\": \"maxpool2d\", \"config\": {\"kernel_size\": 2}},"
    "{\"name\": \"flatten\", \"type\": \"flatten\"},"
    "{\"name\": \"fc\", \"type\": \"linear\", \"config\": {\"in_features\": 80, \"out_features\": 5}}]}";

#define NS 11

typedef struct {
    Model *m;
    Tensor x, maps;
    float targets[NS];
} Setup;

static int setup(Setup *s) {
    memset(s, 0, sizeof *s);
    s->m = model_from_json(NET_JSON);
    CHECK_MSG(s->m != NULL, "model: %s", sn_errmsg());
    if (!s->m) return 0;
    int64_t shape[4] = {NS, 2, 9, 10};
    tensor_init(&s->x, 4, shape);
    tensor_init(&s->maps, 4, shape);
    rng_uniform(tensor_data(&s->x), tensor_numel(&s->x), 1, rng_stream("test_faith", 0, 0), 0);
    rng_normal(tensor_data(&s->maps), tensor_numel(&s->maps), 1, rng_stream("test_faith", 1, 0), 0);
    for (int i = 0; i < NS; i++) s->targets[i] = (float)(i % 5);
    return 1;
}

static void teardown(Setup *s) {
    tensor_release(&s->x);
    tensor_release(&s->maps);
    model_free(s->m);
}

static AttrRun run(Model *m, int threads, int64_t chunk) {
    return (AttrRun){m, threads, 42, chunk, ATTR_LOGIT};
}

static int same(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

TEST(faith_infidelity_threads_and_chunks) {
    Setup s;
    if (!setup(&s)) return;
    FaithBaseline b = {0.25f, NULL, 0};
    for (int k = 0; k < PERTURB_COUNT; k++) {
        PerturbOptions p = {(PerturbKind)k, k == PERTURB_BLUR ? 1.5 : 0.2, 2, 5, 0.3, k == PERTURB_MASKING, 9};
        float a[NS], c[NS];
        AttrRun r1 = run(s.m, 1, 256), r3 = run(s.m, 3, 7);
        CHECK_MSG(faith_infidelity(&r1, &s.x, s.targets, &s.maps, &b, &p, k % 2, a) == SN_OK, "%s", sn_errmsg());
        CHECK_MSG(faith_infidelity(&r3, &s.x, s.targets, &s.maps, &b, &p, k % 2, c) == SN_OK, "%s", sn_errmsg());
        CHECK_MSG(same(a, c, NS), "infidelity '%s' differs across threads/chunks", perturb_names[k]);
        for (int i = 0; i < NS; i++) CHECK(isfinite(a[i]) && a[i] >= 0);
    }
    teardown(&s);
}

TEST(faith_other_metrics_threads_and_chunks) {
    Setup s;
    if (!setup(&s)) return;
    FaithBaseline b = {0.0f, NULL, 0};
    AttrRun r1 = run(s.m, 1, 256), r3 = run(s.m, 3, 7);
    float a[NS], c[NS], a2[NS], c2[NS];
    CHECK(faith_correlation(&r1, &s.x, s.targets, &s.maps, &b, 9, 17, a) == SN_OK);
    CHECK(faith_correlation(&r3, &s.x, s.targets, &s.maps, &b, 9, 17, c) == SN_OK);
    CHECK_MSG(same(a, c, NS), "faithfulness correlation");
    float curve1[NS * 11], curve3[NS * 11];
    CHECK(faith_pixel_flipping(&r1, &s.x, s.targets, &s.maps, &b, 1, 3, 10, curve1, a) == SN_OK);
    CHECK(faith_pixel_flipping(&r3, &s.x, s.targets, &s.maps, &b, 1, 3, 10, curve3, c) == SN_OK);
    CHECK_MSG(same(curve1, curve3, NS * 11) && same(a, c, NS), "pixel flipping");
    CHECK(faith_sufficiency(&r1, &s.x, &s.maps, 0.7, SUFF_EUCLIDEAN, a) == SN_OK);
    CHECK(faith_sufficiency(&r3, &s.x, &s.maps, 0.7, SUFF_EUCLIDEAN, c) == SN_OK);
    CHECK_MSG(same(a, c, NS), "sufficiency");
    CHECK(faith_completeness(&r1, &s.x, s.targets, &s.maps, &b, a, a2) == SN_OK);
    CHECK(faith_completeness(&r3, &s.x, s.targets, &s.maps, &b, c, c2) == SN_OK);
    CHECK_MSG(same(a, c, NS) && same(a2, c2, NS), "completeness");
    Tensor n1, n3;
    CHECK(faith_linf_noise(&s.x, 0.1, 5, 2, &n1, 1) == SN_OK);
    CHECK(faith_linf_noise(&s.x, 0.1, 5, 2, &n3, 3) == SN_OK);
    CHECK_MSG(same(tensor_data(&n1), tensor_data(&n3), tensor_numel(&s.x)), "L-inf noise");
    double worst = 0;
    for (int64_t j = 0; j < tensor_numel(&s.x); j++) {
        double e = fabs((double)tensor_data(&n1)[j] - (double)tensor_data(&s.x)[j]);
        if (e > worst) worst = e;
    }
    CHECK_MSG(worst <= 0.1 + 1e-6 && worst > 0.09, "noise stays in the ball and fills it: max %g", worst);
    tensor_release(&n1), tensor_release(&n3);
    CHECK(complexity_sparseness(&s.maps, a, 1) == SN_OK && complexity_sparseness(&s.maps, c, 3) == SN_OK);
    CHECK(same(a, c, NS));
    CHECK(complexity_entropy(&s.maps, a, 1) == SN_OK && complexity_entropy(&s.maps, c, 3) == SN_OK);
    CHECK(same(a, c, NS));
    teardown(&s);
}

TEST(faith_bad_target_message) {
    Setup s;
    if (!setup(&s)) return;
    FaithBaseline b = {0};
    PerturbOptions p = {PERTURB_GAUSSIAN, 0.1, 1, 1, 0, 0, 3};
    s.targets[4] = 7;
    float out[NS];
    AttrRun r = run(s.m, 2, 5);
    CHECK(faith_infidelity(&r, &s.x, s.targets, &s.maps, &b, &p, 0, out) == SN_ERR);
    CHECK_MSG(strstr(sn_errmsg(), "target 7 (sample 5) out of range for 5 classes") != NULL, "%s", sn_errmsg());
    teardown(&s);
}

TEST(faith_perturbations_follow_their_definition) {
    int64_t shape[4] = {3, 2, 9, 10};
    Tensor x;
    tensor_init(&x, 4, shape);
    rng_uniform(tensor_data(&x), tensor_numel(&x), 2, 77, 0);
    FaithGeom g;
    faith_geom(&x, &g);
    CHECK(g.c == 2 && g.h == 9 && g.w == 10 && g.f == 90 && g.row == 180 && g.image);
    FaithBaseline b = {-1.0f, NULL, 0};
    float xp[180], I[180];
    /* square removal: exactly a side x side square, same in both channels, at the baseline */
    PerturbOptions sq = {PERTURB_SQUARE, 0, 2, 4, 0, 0, 1};
    int sides[5] = {0};
    for (int d = 0; d < 200; d++) {
        faith_perturb(&sq, &g, &b, 9, 1, d, tensor_data(&x) + 180, NULL, xp, I);
        int count = 0, y0 = 99, x0 = 99, y1 = -1, x1 = -1;
        for (int y = 0; y < 9; y++)
            for (int xx = 0; xx < 10; xx++) {
                int on = xp[y * 10 + xx] == -1.0f;
                CHECK(on == (xp[90 + y * 10 + xx] == -1.0f));
                if (on) {
                    count++;
                    if (y < y0) y0 = y;
                    if (y > y1) y1 = y;
                    if (xx < x0) x0 = xx;
                    if (xx > x1) x1 = xx;
                }
            }
        int side = y1 - y0 + 1;
        CHECK(side == x1 - x0 + 1 && count == side * side && side >= 2 && side <= 4);
        if (side >= 2 && side <= 4) sides[side]++;
        for (int j = 0; j < 180; j++) CHECK(I[j] == tensor_data(&x)[180 + j] - xp[j]);
    }
    CHECK(sides[2] > 40 && sides[3] > 40 && sides[4] > 40);
    /* masking: about `fraction` of the pixels, both channels */
    PerturbOptions mk = {PERTURB_MASKING, 0, 1, 1, 0.3, 1, 1};
    int masked = 0;
    for (int d = 0; d < 100; d++) {
        faith_perturb(&mk, &g, &b, 9, 0, d, tensor_data(&x), NULL, xp, I);
        for (int q = 0; q < 90; q++) {
            CHECK(I[q] == I[90 + q] && (I[q] == 0.0f || I[q] == 1.0f));
            masked += I[q] == 1.0f;
        }
    }
    CHECK_MSG(fabs(masked / 9000.0 - 0.3) < 0.02, "masked share %g", masked / 9000.0);
    /* gaussian: moments of sigma z */
    PerturbOptions ga = {PERTURB_GAUSSIAN, 0.5, 1, 1, 0, 0, 1};
    double s1 = 0, s2 = 0;
    for (int d = 0; d < 200; d++) {
        faith_perturb(&ga, &g, &b, 9, 2, d, tensor_data(&x) + 360, NULL, xp, I);
        for (int j = 0; j < 180; j++) {
            s1 += I[j], s2 += (double)I[j] * I[j];
            CHECK(xp[j] == tensor_data(&x)[360 + j] - I[j]);
        }
    }
    CHECK_MSG(fabs(s1 / 36000) < 0.01 && fabs(s2 / 36000 - 0.25) < 0.01, "mean %g var %g", s1 / 36000, s2 / 36000);
    tensor_release(&x);
}

TEST(complexity_closed_forms) {
    int64_t shape[2] = {4, 8};
    Tensor m;
    tensor_init(&m, 2, shape);
    float *p = tensor_data(&m);
    p[3] = -2;                                /* one-hot */
    for (int j = 8; j < 16; j++) p[j] = 0.5f; /* constant */
    /* row 2: all zero */
    for (int j = 24; j < 32; j++) p[j] = (float)(j - 24); /* 0..7 */
    float g[4], h[4];
    CHECK(complexity_sparseness(&m, g, 2) == SN_OK && complexity_entropy(&m, h, 2) == SN_OK);
    CHECK_NEAR(g[0], 7.0 / 8.0, 1e-7);
    CHECK_NEAR(g[1], 0, 1e-7);
    CHECK_NEAR(g[2], 0, 0);
    /* Gini of 0..7: sum (2k - 9) v_k / (8 * 28) with v_k = k - 1 */
    double num = 0;
    for (int k = 1; k <= 8; k++) num += (2.0 * k - 9) * (k - 1);
    CHECK_NEAR(g[3], num / (8 * 28), 1e-7);
    CHECK_NEAR(h[0], 0, 0);
    CHECK_NEAR(h[1], log(8.0), 1e-6);
    CHECK_NEAR(h[2], log(8.0), 1e-6);
    double e = 0;
    for (int k = 1; k < 8; k++) e -= k / 28.0 * log(k / 28.0);
    CHECK_NEAR(h[3], e, 1e-6);
    tensor_release(&m);
}

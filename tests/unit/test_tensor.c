/* test_tensor.c — storage ownership, views, shape errors, and the ops:
 * broadcasting, reductions, transpose, deterministic blocked matmul. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "rng.h"
#include "tensor.h"
#include "test.h"

static void fill_seq(Tensor *t) {
    for (int64_t i = 0; i < tensor_numel(t); i++) tensor_data(t)[i] = (float)i;
}

TEST(tensor_views_share_storage) {
    Tensor t, v, r, s;
    int64_t shape[3] = {4, 2, 3};
    CHECK(tensor_init(&t, 3, shape) == SN_OK);
    fill_seq(&t);
    CHECK(tensor_narrow(&v, &t, 1, 2) == SN_OK);
    CHECK_EQ_INT(v.shape[0], 2);
    CHECK_NEAR(tensor_data(&v)[0], 6, 0);
    CHECK(tensor_select(&s, &t, 3) == SN_OK);
    CHECK_EQ_INT(s.ndim, 2);
    CHECK_NEAR(tensor_data(&s)[5], 23, 0);
    int64_t flat[1] = {24};
    CHECK(tensor_reshape(&r, &t, 1, flat) == SN_OK);
    CHECK_EQ_INT(t.storage->refcount, 4);
    tensor_data(&r)[7] = -1;
    CHECK_NEAR(tensor_data(&t)[7], -1, 0);
    tensor_release(&t); /* views keep the storage alive */
    CHECK_NEAR(tensor_data(&v)[1], -1, 0);
    tensor_release(&v);
    tensor_release(&s);
    tensor_release(&r);
    tensor_release(&r); /* releasing twice is harmless */
}

TEST(tensor_shape_errors_name_both_shapes) {
    Tensor t, r;
    int64_t shape[2] = {3, 4}, bad[2] = {5, 2};
    CHECK(tensor_init(&t, 2, shape) == SN_OK);
    CHECK(tensor_reshape(&r, &t, 2, bad) == SN_ERR);
    CHECK(strstr(sn_errmsg(), "[3, 4]") && strstr(sn_errmsg(), "[5, 2]"));
    CHECK(tensor_narrow(&r, &t, 2, 2) == SN_ERR);
    CHECK(tensor_select(&r, &t, 3) == SN_ERR);
    int64_t neg[1] = {-1};
    CHECK(tensor_init(&r, 1, neg) == SN_ERR);
    int64_t huge[2] = {INT64_C(1) << 30, INT64_C(1) << 30};
    CHECK(tensor_init(&r, 2, huge) == SN_ERR);
    CHECK(tensor_init(&r, 9, shape) == SN_ERR);
    tensor_release(&t);
}

TEST(ops_broadcasting) {
    Tensor a, b, o;
    int64_t sa[3] = {2, 3, 4}, sb[2] = {1, 4};
    tensor_init(&a, 3, sa);
    tensor_init(&b, 2, sb);
    fill_seq(&a);
    fill_seq(&b);
    int nd;
    int64_t so[8];
    CHECK(ops_broadcast_shape(&a, &b, &nd, so) == SN_OK);
    CHECK_EQ_INT(nd, 3);
    tensor_init(&o, nd, so);
    ops_binary(OP_MUL, &o, &a, &b);
    for (int i = 0; i < 24; i++) CHECK_NEAR(tensor_data(&o)[i], (float)i * (float)(i % 4), 0);
    /* per-sample scale [2,1,1] * [2,3,4] */
    Tensor c, o2;
    int64_t sc[3] = {2, 1, 1};
    tensor_init(&c, 3, sc);
    tensor_data(&c)[0] = 10, tensor_data(&c)[1] = 100;
    CHECK(ops_broadcast_shape(&c, &a, &nd, so) == SN_OK);
    tensor_init(&o2, nd, so);
    ops_binary(OP_ADD, &o2, &c, &a);
    CHECK_NEAR(tensor_data(&o2)[0], 10, 0);
    CHECK_NEAR(tensor_data(&o2)[23], 123, 0);
    int64_t sd[1] = {3};
    Tensor d;
    tensor_init(&d, 1, sd);
    CHECK(ops_broadcast_shape(&a, &d, &nd, so) == SN_ERR);
    CHECK(strstr(sn_errmsg(), "[2, 3, 4]") && strstr(sn_errmsg(), "[3]"));
    tensor_release(&a), tensor_release(&b), tensor_release(&c), tensor_release(&d);
    tensor_release(&o), tensor_release(&o2);
}

TEST(ops_reductions) {
    Tensor a, o;
    int64_t sa[2] = {3, 4};
    tensor_init(&a, 2, sa);
    fill_seq(&a);
    tensor_data(&a)[5] = 100; /* row 1: 4 100 6 7 */
    int nd;
    int64_t so[8];
    ops_reduce_shape(&a, 1, 0, &nd, so);
    CHECK_EQ_INT(nd, 1);
    CHECK_EQ_INT(so[0], 3);
    tensor_init(&o, nd, so);
    ops_reduce(RED_SUM, &o, &a, 1, 1);
    CHECK_NEAR(tensor_data(&o)[1], 117, 0);
    ops_reduce(RED_ARGMAX, &o, &a, 1, 1);
    CHECK_NEAR(tensor_data(&o)[1], 1, 0);
    CHECK_NEAR(tensor_data(&o)[2], 3, 0);
    ops_reduce(RED_STD, &o, &a, 1, 1);
    CHECK_NEAR(tensor_data(&o)[0], 1.2909944, 1e-6); /* std(0,1,2,3), unbiased */
    tensor_release(&o);
    ops_reduce_shape(&a, 0, 1, &nd, so);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(so[0], 1);
    tensor_init(&o, nd, so);
    ops_reduce(RED_MAX, &o, &a, 0, 1);
    CHECK_NEAR(tensor_data(&o)[1], 100, 0);
    CHECK_NEAR(tensor_data(&o)[3], 11, 0);
    tensor_release(&o);
    tensor_release(&a);
}

TEST(ops_matmul_matches_reference_and_is_thread_invariant) {
    Tensor a, b, c1, c2;
    int64_t sa[2] = {150, 70}, sb[2] = {70, 33}, sc[2] = {150, 33};
    tensor_init(&a, 2, sa), tensor_init(&b, 2, sb), tensor_init(&c1, 2, sc), tensor_init(&c2, 2, sc);
    rng_normal(tensor_data(&a), tensor_numel(&a), 1, 1, 0);
    rng_normal(tensor_data(&b), tensor_numel(&b), 1, 2, 0);
    CHECK(ops_matmul(&c1, &a, &b, 1) == SN_OK);
    CHECK(ops_matmul(&c2, &a, &b, 3) == SN_OK);
    CHECK(memcmp(tensor_data(&c1), tensor_data(&c2), sizeof(float) * 150 * 33) == 0);
    double maxerr = 0;
    for (int i = 0; i < 150; i++)
        for (int j = 0; j < 33; j++) {
            double s = 0;
            for (int k = 0; k < 70; k++) s += (double)tensor_data(&a)[i * 70 + k] * tensor_data(&b)[k * 33 + j];
            double e = fabs(s - tensor_data(&c1)[i * 33 + j]);
            if (e > maxerr) maxerr = e;
        }
    CHECK(maxerr < 1e-4);
    tensor_release(&a), tensor_release(&b), tensor_release(&c1), tensor_release(&c2);
}

TEST(ops_transpose) {
    Tensor a, t;
    int64_t sa[2] = {37, 45}, st[2] = {45, 37};
    tensor_init(&a, 2, sa), tensor_init(&t, 2, st);
    fill_seq(&a);
    ops_transpose2d(&t, &a);
    int ok = 1;
    for (int i = 0; i < 37; i++)
        for (int j = 0; j < 45; j++) ok &= tensor_data(&t)[j * 37 + i] == tensor_data(&a)[i * 45 + j];
    CHECK(ok);
    tensor_release(&a), tensor_release(&t);
}

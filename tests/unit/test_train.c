/* test_train.c — train.c: the cross-entropy gradient against central
 * differences of the loss, SGD/Adam updates against their scalar
 * recurrences over several steps, schedules, the documented shuffle keying
 * (an epoch equals a hand-written loop over rng_permutation batches, bit
 * for bit), thread-count independence of a whole epoch with batch norm,
 * and label checks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "nn_test.h"
#include "rng.h"
#include "test.h"
#include "train.h"

TEST(train_cross_entropy_gradient_matches_differences) {
    int64_t shape[2] = {4, 5};
    Tensor z = nt_randn(2, shape, 11, 3.0f), dz;
    tensor_init(&dz, 2, shape);
    float y[4] = {0, 4, 2, 2};
    double loss;
    int64_t correct;
    train_cross_entropy(&z, y, &loss, &correct, &dz);
    float *zd = tensor_data(&z);
    for (int i = 0; i < 20; i++) {
        float keep = zd[i];
        double lp, lm, h = 1e-2;
        zd[i] = keep + (float)h;
        train_cross_entropy(&z, y, &lp, NULL, NULL);
        zd[i] = keep - (float)h;
        train_cross_entropy(&z, y, &lm, NULL, NULL);
        zd[i] = keep;
        CHECK_NEAR(tensor_data(&dz)[i], (lp - lm) / (2 * h), 2e-4);
    }
    /* correct counts rows whose first maximum is the label */
    int64_t want = 0;
    for (int i = 0; i < 4; i++) {
        int best = 0;
        for (int j = 1; j < 5; j++)
            if (zd[i * 5 + j] > zd[i * 5 + best]) best = j;
        want += best == (int)y[i];
    }
    CHECK_EQ_INT(correct, want);
    tensor_release(&z);
    tensor_release(&dz);
}

/* A one-layer model (linear 1 -> 1 without bias) whose single weight and
 * gradient the test sets by hand. */
static Model *scalar_model(float w) {
    Model *m = nt_model("{'nodes':[{'name':'fc','type':'linear','config':{'in_features':1,'out_features':1,"
                        "'bias':false}}]}");
    tensor_data(&m->nodes[0].param[0])[0] = w;
    return m;
}

TEST(train_sgd_momentum_and_adam_follow_their_recurrences) {
    const float g[4] = {0.5f, -1.0f, 2.0f, 0.25f};
    /* SGD, momentum 0.9, dampening 0.1, weight decay 0.01, Nesterov off */
    OptimConfig c;
    optim_config_default(&c, OPTIM_SGD);
    c.momentum = 0.9, c.dampening = 0.1, c.weight_decay = 0.01;
    CHECK(optim_check(&c) == SN_OK);
    Model *m = scalar_model(1.0f);
    Optimizer *o = optim_new(m, &c);
    double p = 1, buf = 0;
    for (int t = 0; t < 4; t++) {
        tensor_data(&m->nodes[0].grad[0])[0] = g[t];
        optim_step(o, m, 0.1);
        double d = g[t] + 0.01 * p;
        buf = t == 0 ? d : 0.9 * buf + 0.9 * d;
        p -= 0.1 * buf;
        CHECK_NEAR(tensor_data(&m->nodes[0].param[0])[0], p, 1e-6);
    }
    optim_free(o);
    model_free(m);
    /* Adam with L2 weight decay */
    optim_config_default(&c, OPTIM_ADAM);
    c.weight_decay = 0.1;
    m = scalar_model(-0.5f);
    o = optim_new(m, &c);
    double mm = 0, v = 0;
    p = -0.5;
    for (int t = 1; t <= 4; t++) {
        tensor_data(&m->nodes[0].grad[0])[0] = g[t - 1];
        optim_step(o, m, 0.01);
        double gg = g[t - 1] + 0.1 * p;
        mm = 0.9 * mm + 0.1 * gg;
        v = 0.999 * v + 0.001 * gg * gg;
        p -= 0.01 * (mm / (1 - pow(0.9, t))) / (sqrt(v / (1 - pow(0.999, t))) + 1e-8);
        CHECK_NEAR(tensor_data(&m->nodes[0].param[0])[0], p, 1e-6);
    }
    CHECK_EQ_INT(o->steps, 4);
    optim_free(o);
    model_free(m);
}

TEST(train_schedules_and_checks) {
    Schedule s = {SCHEDULE_STEP, 0.1, 2, 0.5, 0, 0};
    CHECK_NEAR(train_schedule_lr(&s, 0), 0.1, 0);
    CHECK_NEAR(train_schedule_lr(&s, 3), 0.05, 1e-15);
    CHECK_NEAR(train_schedule_lr(&s, 4), 0.025, 1e-15);
    s = (Schedule){SCHEDULE_COSINE, 1.0, 1, 0.1, 4, 0.0};
    CHECK_NEAR(train_schedule_lr(&s, 2), 0.5, 1e-15);
    CHECK_NEAR(train_schedule_lr(&s, 4), 0.0, 1e-15);
    OptimConfig c;
    optim_config_default(&c, OPTIM_SGD);
    c.nesterov = 1;
    CHECK(optim_check(&c) == SN_ERR && strstr(sn_errmsg(), "nesterov"));
    float y[3] = {0, 2, 3};
    CHECK(train_check_labels(y, 3, 4) == SN_OK);
    CHECK(train_check_labels(y, 3, 3) == SN_ERR && strstr(sn_errmsg(), "label 3 (sample 3) is not a class index 0..2"));
}

#define TINY_BN                                                                                                        \
    "{'input_shape':[1,6,6],'nodes':[{'name':'conv','type':'conv2d','config':{'in_channels':1,'out_channels':3,"       \
    "'kernel_size':3}},{'name':'bn','type':'batchnorm2d','config':{'num_features':3}},{'name':'relu','type':'relu'},"  \
    "{'name':'flatten','type':'flatten'},{'name':'fc','type':'linear','config':{'in_features':48,'out_features':4}}]}"

static void make_data(Tensor *x, float *y, int64_t n) {
    int64_t shape[4] = {n, 1, 6, 6};
    *x = nt_randn(4, shape, 5, 1.0f);
    for (int64_t i = 0; i < n; i++) y[i] = (float)((i * 7) % 4);
}

static int same_params(const Model *a, const Model *b) {
    for (int i = 0; i < a->nnodes; i++) {
        for (int k = 0; k < a->nodes[i].nparams; k++)
            if (!nt_bitwise_equal(&a->nodes[i].param[k], &b->nodes[i].param[k])) return 0;
        for (int k = 0; k < a->nodes[i].nbuffers; k++)
            if (!nt_bitwise_equal(&a->nodes[i].buffer[k], &b->nodes[i].buffer[k])) return 0;
    }
    return 1;
}

TEST(train_epoch_is_the_documented_keyed_loop) {
    enum { N = 40, BS = 16 };
    Tensor x;
    float y[N];
    make_data(&x, y, N);
    Model *a = nt_model(TINY_BN), *b = model_clone(a);
    OptimConfig c;
    optim_config_default(&c, OPTIM_SGD);
    c.momentum = 0.5;
    Optimizer *oa = optim_new(a, &c), *ob = optim_new(b, &c);
    TrainConfig tc = {BS, 0, 99, 1, 1};
    EpochStats st;
    for (int e = 0; e < 2; e++) CHECK(train_epoch(a, oa, &x, y, &tc, e, 0.05, NULL, NULL, &st) == SN_OK);
    CHECK_EQ_INT(st.samples, N);
    /* by hand: batches of the permutation keyed by (seed, "shuffle", epoch) */
    model_set_training(b, 1);
    for (int e = 0; e < 2; e++) {
        int64_t perm[N];
        rng_permutation(perm, N, 99, rng_stream("shuffle", (uint64_t)e, 0));
        for (int s0 = 0; s0 < N; s0 += BS) {
            int len = N - s0 < BS ? N - s0 : BS;
            int64_t shape[4] = {len, 1, 6, 6}, ls[2] = {len, 4};
            Tensor xb, out, dz;
            float yb[BS];
            tensor_init(&xb, 4, shape);
            tensor_init(&dz, 2, ls);
            for (int i = 0; i < len; i++) {
                memcpy(tensor_data(&xb) + i * 36, tensor_data(&x) + perm[s0 + i] * 36, 36 * sizeof(float));
                yb[i] = y[perm[s0 + i]];
            }
            CHECK(model_forward(b, &xb, &out, 1) == SN_OK);
            train_cross_entropy(&out, yb, NULL, NULL, &dz);
            model_zero_grad(b);
            CHECK(model_backward(b, &dz, NULL, 1, NULL, 1) == SN_OK);
            optim_step(ob, b, 0.05);
            tensor_release(&xb), tensor_release(&out), tensor_release(&dz);
        }
    }
    CHECK(same_params(a, b));
    /* two threads: the same bits */
    Model *c2 = nt_model(TINY_BN);
    Optimizer *oc = optim_new(c2, &c);
    tc.nthreads = 2;
    for (int e = 0; e < 2; e++) CHECK(train_epoch(c2, oc, &x, y, &tc, e, 0.05, NULL, NULL, &st) == SN_OK);
    CHECK(same_params(a, c2));
    /* evaluation does not depend on the chunk size and restores the mode */
    EpochStats e1, e2;
    model_set_training(c2, 1);
    CHECK(train_evaluate(c2, &x, y, 7, 1, &e1) == SN_OK && train_evaluate(c2, &x, y, 40, 2, &e2) == SN_OK);
    CHECK(e1.loss == e2.loss && e1.accuracy == e2.accuracy && c2->training == 1);
    optim_free(oa), optim_free(ob), optim_free(oc);
    model_free(a), model_free(b), model_free(c2);
    tensor_release(&x);
}

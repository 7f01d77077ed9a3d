/* test_lrp.c — the C side of attr/lrp.h and attr/deeplift.h: rule names,
 * applicability and parameter checks, composites, canonisation pairs, and a
 * hand-computed linear layer through attr_lrp (the Lua tests cover the
 * models against PyTorch). */
#include <string.h>

#include "attr/deeplift.h"
#include "attr/lrp.h"
#include "error.h"
#include "test.h"

static int has(const char *frag) {
    return strstr(sn_errmsg(), frag) != NULL;
}

/* linear 3 -> 2, W = [[1, -2, 0.5], [-1, 1, 2]], b = [0.5, -0.25] */
static Model *tiny(void) {
    Model *m = model_new(1);
    LayerConfig c;
    layer_config_default(&c, LAYER_LINEAR);
    c.in = 3, c.out = 2;
    model_set_input_shape(m, 1, (int64_t[]){3});
    model_add(m, "fc", LAYER_LINEAR, &c, 1, (int[]){MODEL_INPUT});
    model_finish(m);
    memcpy(tensor_data(&m->nodes[0].param[0]), (float[]){1, -2, 0.5f, -1, 1, 2}, sizeof(float) * 6);
    memcpy(tensor_data(&m->nodes[0].param[1]), (float[]){0.5f, -0.25f}, sizeof(float) * 2);
    return m;
}

TEST(lrp_names_and_checks) {
    LrpParams p;
    lrp_params_default(&p);
    LrpRule r;
    CHECK(lrp_rule_named("alpha2_beta1", &p, &r) == SN_OK && r.kind == LRP_ALPHA_BETA && r.alpha == 2 && r.beta == 1);
    CHECK(strcmp(lrp_rule_name(&r), "alpha2_beta1") == 0);
    CHECK(lrp_rule_named("epsilon", &p, &r) == SN_OK && r.epsilon == p.epsilon);
    CHECK(lrp_rule_named("gamma", &p, &r) == SN_OK && r.epsilon == p.stabilizer);
    CHECK(lrp_rule_named("nope", &p, &r) == SN_ERR && has("unknown LRP rule 'nope'") && has("w_square"));
    CHECK(lrp_composite_from_name("epsilon_gamma_box") == LRP_C_EPSILON_GAMMA_BOX);
    CHECK(lrp_composite_from_name("epsilon_box") == -1);
    CHECK(lrp_rule_applicable(LRP_PROPORTIONAL, LAYER_MAXPOOL2D) && !lrp_rule_applicable(LRP_EPSILON, LAYER_RELU));
    CHECK(lrp_rule_applicable(LRP_PASS, LAYER_BATCHNORM2D) && !lrp_rule_applicable(LRP_PASS, LAYER_ADD));

    Model *m = tiny();
    LrpRule rules[1];
    lrp_composite_rules(m, LRP_C_EPSILON_GAMMA_BOX, &p, rules);
    CHECK(rules[0].kind == LRP_ZBOX); /* the first (and only) layer */
    rules[0].low = 2;
    CHECK(lrp_check_rules(m, rules) == SN_ERR && has("low must not exceed high"));
    lrp_rule_named("winner_take_all", &p, &rules[0]);
    CHECK(lrp_check_rules(m, rules) == SN_ERR &&
          has("LRP rule 'winner_take_all' is not applicable to layer 'fc' (linear"));
    lrp_rule_named("alpha_beta", &p, &rules[0]);
    rules[0].alpha = 3;
    CHECK(lrp_check_rules(m, rules) == SN_ERR && has("alpha - beta = 1"));
    lrp_rule_named("epsilon", &p, &rules[0]);
    rules[0].epsilon = -1;
    CHECK(lrp_check_rules(m, rules) == SN_ERR && has("epsilon must be a non-negative number"));
    model_free(m);
}

TEST(lrp_linear_by_hand) {
    Model *m = tiny();
    Tensor x;
    tensor_init(&x, 2, (int64_t[]){2, 3});
    memcpy(tensor_data(&x), (float[]){1, 2, -3, 1, 2, -3}, sizeof(float) * 6);
    float targets[2] = {0, 0};
    AttrRun run = {m, 2, 0, 1, ATTR_LOGIT}; /* chunks of one row */
    LrpParams p;
    lrp_params_default(&p);
    p.stabilizer = 0;
    LrpRule rule;
    Tensor out;
    /* z = 1 - 4 - 1.5 + 0.5 = -4; alpha2_beta1: z+ = 1 + 0.5, z- = -5.5 */
    lrp_rule_named("alpha2_beta1", &p, &rule);
    CHECK(attr_lrp(&run, &x, targets, &rule, 0, &out) == SN_OK);
    const float want[3] = {-4 * 2 / 1.5f, -4 * -(-4 / -5.5f), -4 * -(-1.5f / -5.5f)};
    for (int i = 0; i < 6; i++) CHECK_NEAR(tensor_data(&out)[i], want[i % 3], 1e-6);
    tensor_release(&out);
    p.epsilon = 1; /* stab(-4) = -5 */
    lrp_rule_named("epsilon", &p, &rule);
    CHECK(attr_lrp(&run, &x, targets, &rule, 0, &out) == SN_OK);
    CHECK_NEAR(tensor_data(&out)[4], -4 * 0.8, 1e-6);
    tensor_release(&out);
    /* DeepLift of a linear model: (x - ref) * w */
    Tensor ref;
    tensor_init(&ref, 1, (int64_t[]){3});
    memcpy(tensor_data(&ref), (float[]){1, 1, 1}, sizeof(float) * 3);
    float delta[2];
    CHECK(attr_deeplift(&run, &x, targets, &ref, &out, delta) == SN_OK);
    CHECK_NEAR(tensor_data(&out)[1], -2, 1e-6);
    CHECK_NEAR(tensor_data(&out)[2], -2, 1e-6);
    CHECK_NEAR(delta[0], 0, 1e-6);
    tensor_release(&out);
    targets[1] = 2;
    CHECK(attr_lrp(&run, &x, targets, &rule, 0, &out) == SN_ERR && has("target 2 (sample 2) out of range"));
    tensor_release(&ref);
    tensor_release(&x);
    model_free(m);
}

TEST(lrp_canonize) {
    Model *m = model_new(1);
    LayerConfig c, b, r;
    layer_config_default(&c, LAYER_CONV2D);
    c.in = 1, c.out = 2, c.kernel[0] = c.kernel[1] = 3;
    layer_config_default(&b, LAYER_BATCHNORM2D);
    b.in = 2;
    layer_config_default(&r, LAYER_RELU);
    model_add(m, "conv", LAYER_CONV2D, &c, 1, (int[]){MODEL_INPUT});  /* 0 */
    model_add(m, "bn", LAYER_BATCHNORM2D, &b, 1, (int[]){0});         /* 1: merged */
    model_add(m, "conv2", LAYER_CONV2D, &c, 1, (int[]){MODEL_INPUT}); /* 2 */
    model_add(m, "bn2", LAYER_BATCHNORM2D, &b, 1, (int[]){2});        /* 3: conv2 also feeds add */
    model_add(m, "add", LAYER_ADD, &r, 2, (int[]){1, 2});             /* 4 */
    model_add(m, "add2", LAYER_ADD, &r, 2, (int[]){4, 3});            /* 5 */
    CHECK(model_finish(m) == SN_OK);
    int bn_of[6];
    CHECK_EQ_INT(lrp_canonize_pairs(m, bn_of), 1);
    CHECK_EQ_INT(bn_of[0], 1);
    CHECK_EQ_INT(bn_of[2], -1);
    model_free(m);
}

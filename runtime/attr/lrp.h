/* attr/lrp.h — layer-wise relevance propagation (Bach et al. 2015) as a
 * modified backward pass: every node of the model gets a BackwardRule
 * (model.h) that computes the relevance of its inputs from the relevance of
 * its output, running the layer kernels of runtime/nn with modified weights.
 *
 * Notation for a linear or conv2d node: input a, weights W, bias b, output
 * z = W a + b, output relevance R. stab(z) = z + s*sign(z) with sign(0) = +1
 * and stabiliser s (the rule's `epsilon` field); when s = 0 and z = 0 the
 * quotient R / stab(z) is taken as 0 (the division guard of the z-rule).
 * W+ = max(W, 0), W- = min(W, 0), likewise a+, a-, b+, b-.
 *
 *  rule          relevance of the input (linear and conv2d nodes)
 *  epsilon       a . W^T [R / stab(z)], z = W a + b (bias included, as
 *                zennit and iNNvestigate); epsilon = 0 is LRP-0 (z-rule)
 *  gamma         a . Wg^T [R / stab(Wg a + bg)], Wg = W + g W+, bg = b + g b+
 *                (Montavon et al. 2019; meant for non-negative inputs)
 *  zplus         a . (W+)^T [R / stab(W+ a)]: bias ignored (iNNvestigate's
 *                ZPlus, Montavon et al. 2017); equals alpha1_beta0 when
 *                a >= 0 and the layer has no positive bias
 *  alpha_beta    alpha * P - beta * N with P the relevance of the positive
 *                contributions a+ W+ + a- W- (+ b+) and N of the negative
 *                ones a+ W- + a- W+ (+ b-), each normalised by its own sum
 *                (zennit's AlphaBeta). alpha - beta = 1, beta >= 0.
 *                alpha1_beta0 and alpha2_beta1 are presets.
 *  zbox          [a . W^T q - l . (W+)^T q - h . (W-)^T q], q = R / stab(W a -
 *                W+ l - W- h): the bounded input layer (zB, Montavon et al.
 *                2017), l <= a <= h; no bias (it cancels, as in zennit)
 *  flat          1 . 1^T [R / stab(1 1)]: every input of the receptive field
 *                gets an equal share, independent of the input values
 *  w_square      (W^2)^T [R / stab(W^2 1)]: shares by squared weight
 * Other nodes:
 *  pass          relevance unchanged: relu, leaky_relu, tanh, sigmoid,
 *                identity, dropout (eval), flatten (reshaped), softmax and
 *                log_softmax (as if stripped, like iNNvestigate); batch norm
 *                when asked (rules = {batchnorm2d = "pass"})
 *  winner_take_all  maxpool2d: relevance to the window's argmax (as the
 *                gradient routes it)
 *  proportional  maxpool2d: relevance shared in proportion to the inputs of
 *                each window (the window treated as a sum pool, epsilon rule)
 *  epsilon       avgpool2d, adaptive_avgpool2d (linear layers with weights
 *                1/window), batchnorm (the eval affine map y = a*x + c per
 *                channel, c included in z as a bias) and add (relevance split
 *                in proportion to each input's contribution: a_k / stab(sum))
 * Other combinations are not applicable (lrp_check_rules says which).
 *
 * Composites (zennit's meaning) choose a rule per node by type: the first
 * linear/conv2d node in node order is the "first layer"; pooling, batch
 * norm and add nodes get `epsilon` with the stabiliser as epsilon, max
 * pooling winner_take_all, everything else pass:
 *  epsilon, zplus, gamma, alpha1_beta0, alpha2_beta1, w_square, flat:
 *                that rule on every linear and conv2d node
 *  epsilon_plus          conv2d zplus, linear epsilon
 *  epsilon_gamma_box     first layer zbox, conv2d gamma, linear epsilon
 *  epsilon_alpha2_beta1  conv2d alpha2_beta1, linear epsilon
 *  epsilon_plus_flat     first layer flat, conv2d zplus, linear epsilon
 *
 * The result is the relevance at the model input [N, ...] (no further
 * multiplication by x). The initial relevance is the explained score
 * (attr.h: the target logit by default; p_t for output = softmax, log p_t
 * for log_softmax) placed at the target class, zeros elsewhere. */
#ifndef SANITY_ATTR_LRP_H
#define SANITY_ATTR_LRP_H

#include "attr/attr.h"

typedef enum LrpRuleKind {
    LRP_PASS,
    LRP_EPSILON,
    LRP_GAMMA,
    LRP_ZPLUS,
    LRP_ALPHA_BETA,
    LRP_ZBOX,
    LRP_FLAT,
    LRP_W_SQUARE,
    LRP_WINNER_TAKE_ALL,
    LRP_PROPORTIONAL,
    LRP_RULE_COUNT
} LrpRuleKind;

/* One node's rule. Tensors are borrowed (the caller keeps them alive for
 * the call): zbox bounds shaped like one sample of the node's input. */
typedef struct LrpRule {
    LrpRuleKind kind;
    float epsilon;                /* epsilon rule: epsilon; every other rule: the stabiliser (>= 0) */
    float gamma;                  /* gamma >= 0 */
    float alpha, beta;            /* alpha - beta = 1, beta >= 0 */
    float low, high;              /* zbox bounds when low_t / high_t are NULL */
    const Tensor *low_t, *high_t; /* zbox per-element bounds, or NULL */
} LrpRule;

/* Parameters rules take when the caller does not set them per node. */
typedef struct LrpParams {
    float epsilon;     /* 1e-6 */
    float stabilizer;  /* 1e-6: denominators of the other rules, and pooling/bn/add under composites */
    float gamma;       /* 0.25 */
    float alpha, beta; /* 2, 1 (the general alpha_beta rule) */
    float low, high;   /* 0, 1 */
    const Tensor *low_t, *high_t;
} LrpParams;

typedef enum LrpComposite {
    LRP_C_EPSILON,
    LRP_C_ZPLUS,
    LRP_C_ALPHA1_BETA0,
    LRP_C_ALPHA2_BETA1,
    LRP_C_GAMMA,
    LRP_C_W_SQUARE,
    LRP_C_FLAT,
    LRP_C_EPSILON_PLUS,
    LRP_C_EPSILON_GAMMA_BOX,
    LRP_C_EPSILON_ALPHA2_BETA1,
    LRP_C_EPSILON_PLUS_FLAT,
    LRP_COMPOSITE_COUNT
} LrpComposite;

void lrp_params_default(LrpParams *p);

/* Rule names: "epsilon", ..., and the presets "alpha1_beta0", "alpha2_beta1".
 * lrp_rule_named fills r from p (alpha/beta from the preset); SN_ERR listing
 * the valid names when unknown. */
int lrp_rule_named(const char *name, const LrpParams *p, LrpRule *r);
/* The name of a rule as lrp_rule_named takes it (presets for alpha_beta
 * with (1, 0) and (2, 1)). */
const char *lrp_rule_name(const LrpRule *r);
/* "pass, epsilon, ..." (static storage). */
const char *lrp_rule_list(void);
/* Whether rule kind k can be applied to a node of this layer kind. */
int lrp_rule_applicable(LrpRuleKind k, LayerKind kind);

int lrp_composite_from_name(const char *name); /* -1 when unknown */
const char *lrp_composite_name(LrpComposite c);
const char *lrp_composite_list(void); /* "epsilon, zplus, ..." */
/* rules[i] for every node i of m under composite c. */
void lrp_composite_rules(const Model *m, LrpComposite c, const LrpParams *p, LrpRule *rules);

/* Checks every node's rule: applicable to the node's kind ("LRP rule
 * 'gamma' is not applicable to layer 'pool1' (maxpool2d)") and parameters in
 * their domains (epsilon >= 0, gamma >= 0, alpha - beta = 1, beta >= 0,
 * low <= high). */
int lrp_check_rules(const Model *m, const LrpRule *rules);

/* Canonisation (zennit's MergeBatchNorm): a batch norm whose input is a
 * linear/conv2d node feeding nothing else is folded into that layer
 * (W' = a W, b' = a b + c for the eval map y = a x + c): the layer's rule
 * then sees the merged weights and z = the batch norm's output, and the
 * batch norm passes relevance through. bn_of[i] = the batch norm merged into
 * node i, or -1; returns the number of pairs. */
int lrp_canonize_pairs(const Model *m, int *bn_of);

/* The input relevance (out: a new tensor shaped like x) with rules[i] at
 * node i (checked by lrp_check_rules), canonised when `canonize`. Chunked
 * as attr.h says; bit-identical for any chunk size and thread count. */
int attr_lrp(const AttrRun *r, const Tensor *x, const float *targets, const LrpRule *rules, int canonize, Tensor *out);

#endif

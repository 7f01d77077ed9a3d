/* test_nn.c — every layer kind's backward against central finite
 * differences (to the input and to every parameter), in both batch-norm
 * modes, plus closed-form checks of forward values, initializers and
 * running statistics. References here are independent of the kernels:
 * finite differences of the forward, and hand-computed numbers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn_test.h"
#include "rng.h"
#include "test.h"

/* Input values spread apart so that +-h never crosses a kink (relu at 0,
 * maxpool ties): a random permutation of a grid, plus small noise. */
static Tensor spread(int ndim, const int64_t *shape, uint64_t stream) {
    Tensor t;
    tensor_init(&t, ndim, shape);
    int64_t n = tensor_numel(&t);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)n);
    rng_permutation(perm, n, 99, stream);
    for (int64_t i = 0; i < n; i++) tensor_data(&t)[i] = ((float)perm[i] - (float)n / 2 + 0.5f) * (4.0f / (float)n);
    free(perm);
    return t;
}

static void check_model(const char *json, int ndim, const int64_t *shape, int spread_input, double h, const char *what,
                        int line) {
    Model *m = nt_model(json);
    CHECK_MSG(m != NULL, "%s: model did not build", what);
    if (!m) return;
    Tensor x = spread_input ? spread(ndim, shape, 5) : nt_randn(ndim, shape, 5, 1.0f);
    nt_gradcheck(m, &x, h, 1e-3, 2e-4, 300, 0, what, __FILE__, line);
    tensor_release(&x);
    model_free(m);
}

#define GC(json, shape, spread, h, what)                                                                               \
    do {                                                                                                               \
        int64_t s_[] = shape;                                                                                          \
        check_model(json, (int)(sizeof s_ / sizeof s_[0]), s_, spread, h, what, __LINE__);                             \
    } while (0)
#define S(...)                                                                                                         \
    { __VA_ARGS__ }

TEST(grad_linear) {
    GC("{'nodes':[{'name':'fc','type':'linear','config':{'in_features':7,'out_features':5}}]}", S(3, 7), 0, 1e-2,
       "linear");
    GC("{'nodes':[{'name':'fc','type':'linear','config':{'in_features':6,'out_features':4,'bias':false}}]}", S(2, 6), 0,
       1e-2, "linear without bias");
}

TEST(grad_conv2d) {
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':2,'out_channels':3,'kernel_size':3,'padding':1}}]"
       "}",
       S(2, 2, 5, 6), 0, 1e-2, "conv2d 3x3 pad 1");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':2,'out_channels':3,'kernel_size':3,'stride':2,"
       "'padding':1,'dilation':2}}]}",
       S(2, 2, 7, 8), 0, 1e-2, "conv2d stride 2 pad 1 dilation 2");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':4,'out_channels':6,'kernel_size':3,'groups':2,"
       "'padding':1}}]}",
       S(2, 4, 5, 5), 0, 1e-2, "conv2d groups 2");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':3,'out_channels':4,'kernel_size':1}}]}",
       S(2, 3, 4, 5), 0, 1e-2, "conv2d 1x1 (no im2col)");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':3,'out_channels':4,'kernel_size':1,'stride':2,"
       "'bias':false}}]}",
       S(2, 3, 5, 5), 0, 1e-2, "conv2d 1x1 stride 2");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':2,'out_channels':2,'kernel_size':[2,3],"
       "'stride':[1,2],'padding':[1,0]}}]}",
       S(3, 2, 4, 7), 0, 1e-2, "conv2d non-square");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':4,'out_channels':4,'kernel_size':3,'groups':4,"
       "'stride':2,'padding':2,'dilation':2}}]}",
       S(2, 4, 6, 6), 0, 1e-2, "conv2d depthwise, stride, padding, dilation");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':4,'out_channels':6,'kernel_size':[2,3],"
       "'groups':2}}]}",
       S(2, 4, 5, 6), 0, 1e-2, "conv2d groups 2, unpadded stride 1 (the input planes read in place)");
    /* strides other than 2 along columns: the per-phase path's strided writes */
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':2,'out_channels':3,'kernel_size':[4,3],"
       "'stride':[2,3],'padding':[1,2]}}]}",
       S(2, 2, 7, 8), 0, 1e-2, "conv2d stride [2,3] pad [1,2]");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':2,'out_channels':3,'kernel_size':[3,2],"
       "'stride':[3,1],'padding':[2,0]}}]}",
       S(2, 2, 8, 5), 0, 1e-2, "conv2d stride [3,1] pad [2,0]");
    /* two columns, padded by one: column phase 0 of stride 3 has no pixel,
     * phase 1 has a tap, phase 2 none */
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':2,'out_channels':2,'kernel_size':2,"
       "'stride':[2,3],'padding':1}}]}",
       S(2, 2, 5, 2), 0, 1e-2, "conv2d stride [2,3] on two columns");
}

/* Stride-1 layers whose padding is at most d(k-1) take the input-gradient
 * path "as a convolution of the output gradient" unless it would mostly
 * multiply padding (8+ output channels per group, little forward padding:
 * the last two cases below), which, like over-padding here, takes the grid
 * path through the padded planes; strided layers (above) take one GEMM per
 * phase. */
TEST(grad_conv2d_transposed_path) {
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':3,'out_channels':4,'kernel_size':1,"
       "'padding':1}}]}",
       S(2, 3, 4, 5), 0, 1e-2, "conv2d 1x1 padded (planes path at stride 1)");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':8,'out_channels':5,'kernel_size':3,"
       "'padding':1}}]}",
       S(2, 8, 5, 6), 0, 1e-2, "conv2d 3x3 same, 8 channels");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':16,'out_channels':4,'kernel_size':[3,5],"
       "'padding':[2,4],'dilation':2,'groups':2,'bias':false}}]}",
       S(2, 16, 4, 5), 0, 1e-2, "conv2d same, dilation 2, groups 2");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':8,'out_channels':3,'kernel_size':3,"
       "'padding':2}}]}",
       S(2, 8, 4, 4), 0, 1e-2, "conv2d padding larger than same");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':3,'out_channels':8,'kernel_size':4}}]}",
       S(2, 3, 9, 10), 0, 1e-2, "conv2d 4x4 unpadded, 8 channels (grid path straight into dx)");
    GC("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':4,'out_channels':16,'kernel_size':[5,3],"
       "'padding':[1,0],'dilation':[1,2],'groups':2}}]}",
       S(2, 4, 9, 11), 0, 1e-2, "conv2d 5x3 little padding, dilation, groups (grid path, planes)");
}

TEST(grad_pools) {
    GC("{'nodes':[{'name':'p','type':'maxpool2d','config':{'kernel_size':2}}]}", S(2, 2, 6, 6), 1, 1e-3, "maxpool 2");
    GC("{'nodes':[{'name':'p','type':'maxpool2d','config':{'kernel_size':3,'stride':2,'padding':1}}]}", S(2, 2, 7, 6),
       1, 1e-3, "maxpool 3 stride 2 pad 1");
    GC("{'nodes':[{'name':'p','type':'avgpool2d','config':{'kernel_size':3,'stride':2,'padding':1}}]}", S(2, 2, 7, 6),
       0, 1e-2, "avgpool pad, count_include_pad");
    GC("{'nodes':[{'name':'p','type':'avgpool2d','config':{'kernel_size':[3,2],'stride':[2,1],'padding':1,"
       "'count_include_pad':false}}]}",
       S(2, 2, 7, 6), 0, 1e-2, "avgpool pad, exclude pad");
    GC("{'nodes':[{'name':'p','type':'adaptive_avgpool2d','config':{'output_size':1}}]}", S(2, 3, 4, 5), 0, 1e-2,
       "global average pool");
    GC("{'nodes':[{'name':'p','type':'adaptive_avgpool2d','config':{'output_size':[3,2]}}]}", S(2, 2, 7, 5), 0, 1e-2,
       "adaptive average pool 3x2 from 7x5");
}

TEST(grad_activations) {
    GC("{'nodes':[{'name':'a','type':'relu'}]}", S(3, 10), 1, 1e-3, "relu");
    GC("{'nodes':[{'name':'a','type':'leaky_relu','config':{'negative_slope':0.1}}]}", S(3, 10), 1, 1e-3, "leaky_relu");
    GC("{'nodes':[{'name':'a','type':'leaky_relu','config':{'negative_slope':-0.3}}]}", S(3, 10), 1, 1e-3,
       "leaky_relu negative slope");
    GC("{'nodes':[{'name':'a','type':'tanh'}]}", S(3, 2, 4), 0, 1e-2, "tanh");
    GC("{'nodes':[{'name':'a','type':'sigmoid'}]}", S(3, 2, 4), 0, 1e-2, "sigmoid");
    GC("{'nodes':[{'name':'a','type':'softmax'}]}", S(3, 6), 0, 1e-2, "softmax");
    GC("{'nodes':[{'name':'a','type':'softmax'}]}", S(2, 4, 2, 3), 0, 1e-2, "softmax over channels");
    GC("{'nodes':[{'name':'a','type':'log_softmax'}]}", S(3, 6), 0, 1e-2, "log_softmax");
    GC("{'nodes':[{'name':'a','type':'log_softmax'}]}", S(2, 3, 5), 0, 1e-2, "log_softmax 3-d");
}

TEST(grad_structural) {
    GC("{'nodes':[{'name':'f','type':'flatten'},{'name':'fc','type':'linear','config':{'in_features':12,"
       "'out_features':3}}]}",
       S(2, 3, 2, 2), 0, 1e-2, "flatten + linear");
    GC("{'nodes':[{'name':'i','type':'identity'},{'name':'t','type':'tanh'}]}", S(2, 5), 0, 1e-2, "identity");
    /* the input feeds two layers: its gradient is a sum */
    GC("{'nodes':[{'name':'t','type':'tanh'},{'name':'s','type':'add','inputs':['t','input']}]}", S(2, 5), 0, 1e-2,
       "add (residual)");
    GC("{'nodes':[{'name':'t','type':'sigmoid'},{'name':'s','type':'add','inputs':['t','t']}]}", S(2, 5), 0, 1e-2,
       "add of one node with itself");
}

/* Batch norm: train mode is checked through the batch statistics. */
TEST(grad_batchnorm) {
    const char *bn1 = "{'nodes':[{'name':'bn','type':'batchnorm1d','config':{'num_features':4}}]}";
    const char *bn2 = "{'nodes':[{'name':'bn','type':'batchnorm2d','config':{'num_features':3}}]}";
    const char *jsons[3] = {bn1, bn1, bn2};
    int64_t shapes[3][4] = {{5, 4}, {3, 4, 3}, {2, 3, 3, 2}};
    int ndims[3] = {2, 3, 4};
    for (int c = 0; c < 3; c++)
        for (int train = 0; train < 2; train++) {
            Model *m = nt_model(jsons[c]);
            if (!m) continue;
            Node *n = &m->nodes[0];
            int64_t f = tensor_numel(&n->param[0]);
            nt_pattern_fill(tensor_data(&n->param[0]), f, 1, 1.0f);
            nt_pattern_fill(tensor_data(&n->param[1]), f, 2, 0.5f);
            nt_pattern_fill(tensor_data(&n->buffer[0]), f, 3, 0.5f);
            for (int64_t i = 0; i < f; i++) tensor_data(&n->buffer[1])[i] = 0.5f + 0.25f * (float)i;
            model_set_training(m, train);
            Tensor x = nt_randn(ndims[c], shapes[c], 11, 2.0f);
            char what[64];
            snprintf(what, sizeof what, "batchnorm %d-d input, %s", ndims[c], train ? "train" : "eval");
            nt_gradcheck(m, &x, 1e-2, 1e-3, 2e-4, 300, 0, what, __FILE__, __LINE__);
            tensor_release(&x);
            model_free(m);
        }
}

TEST(grad_dropout) {
    Model *m = nt_model("{'nodes':[{'name':'d','type':'dropout','config':{'p':0.3}},{'name':'t','type':'tanh'}]}");
    model_set_training(m, 1);
    int64_t s[] = {3, 20};
    Tensor x = nt_randn(2, s, 3, 1.0f);
    nt_gradcheck(m, &x, 1e-2, 1e-3, 2e-4, 300, 1, "dropout (train, fixed step)", __FILE__, __LINE__);
    model_set_training(m, 0);
    GRADCHECK(m, &x, 1e-2, 1e-3, 2e-4, "dropout (eval)");
    tensor_release(&x);
    model_free(m);
}

/* ---- forward values against hand-computed numbers ---- */

TEST(linear_forward_by_hand) {
    Model *m = nt_model("{'nodes':[{'name':'fc','type':'linear','config':{'in_features':3,'out_features':2}}]}");
    float w[6] = {1, 2, 3, -1, 0, 0.5f}, b[2] = {0.5f, -2};
    memcpy(tensor_data(&m->nodes[0].param[0]), w, sizeof w);
    memcpy(tensor_data(&m->nodes[0].param[1]), b, sizeof b);
    int64_t s[] = {2, 3};
    Tensor x, y;
    tensor_init(&x, 2, s);
    float xv[6] = {1, 1, 1, 2, 0, -2};
    memcpy(tensor_data(&x), xv, sizeof xv);
    CHECK(model_forward(m, &x, &y, 1) == SN_OK);
    float want[4] = {6.5f, -2.5f, -3.5f, -5};
    for (int i = 0; i < 4; i++) CHECK_NEAR(tensor_data(&y)[i], want[i], 1e-6);
    tensor_release(&x), tensor_release(&y);
    model_free(m);
}

TEST(conv_pool_forward_by_hand) {
    /* 1 channel 4x4 input 0..15, 2x2 kernel of ones, stride 2: window sums */
    Model *m = nt_model("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':1,'out_channels':1,"
                        "'kernel_size':2,'stride':2,'bias':false}},"
                        "{'name':'p','type':'maxpool2d','config':{'kernel_size':2}}]}");
    for (int i = 0; i < 4; i++) tensor_data(&m->nodes[0].param[0])[i] = 1;
    int64_t s[] = {1, 1, 4, 4};
    Tensor x, y;
    tensor_init(&x, 4, s);
    for (int i = 0; i < 16; i++) tensor_data(&x)[i] = (float)i;
    CHECK(model_forward(m, &x, &y, 1) == SN_OK);
    const Tensor *c = &m->nodes[0].output;
    CHECK_EQ_INT(c->shape[2], 2);
    float want[4] = {0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15};
    for (int i = 0; i < 4; i++) CHECK_NEAR(tensor_data(c)[i], want[i], 0);
    CHECK_NEAR(tensor_data(&y)[0], 50, 0);
    /* avgpool 3x3 stride 1 pad 1 at a corner: 4 of 9 cells inside */
    Model *a =
        nt_model("{'nodes':[{'name':'p','type':'avgpool2d','config':{'kernel_size':3,'stride':1,'padding':1}}]}");
    Model *b = nt_model("{'nodes':[{'name':'p','type':'avgpool2d','config':{'kernel_size':3,'stride':1,'padding':1,"
                        "'count_include_pad':false}}]}");
    Tensor ya, yb;
    CHECK(model_forward(a, &x, &ya, 1) == SN_OK && model_forward(b, &x, &yb, 1) == SN_OK);
    CHECK_NEAR(tensor_data(&ya)[0], (0 + 1 + 4 + 5) / 9.0, 1e-6);
    CHECK_NEAR(tensor_data(&yb)[0], (0 + 1 + 4 + 5) / 4.0, 1e-6);
    tensor_release(&x), tensor_release(&y), tensor_release(&ya), tensor_release(&yb);
    model_free(m), model_free(a), model_free(b);
}

/* The arithmetic conv2d.h and linear.h promise, written out: every output is
 * bias + one fmaf chain over (c, ki, kj) (conv) or over the inputs (linear),
 * in that order. Bitwise, so any dependence on the batch, the position or
 * the tiling would show. Window elements in the padding are skipped here:
 * fmaf(w, 0, s) == s for every s a chain from +0 can reach. */
TEST(conv2d_forward_is_one_fmaf_chain) {
    const char *cfgs[] = {
        "{'in_channels':3,'out_channels':7,'kernel_size':3,'padding':1}",
        "{'in_channels':4,'out_channels':6,'kernel_size':[3,2],'stride':[2,3],'padding':[2,1],'dilation':[1,2],"
        "'groups':2}",
        "{'in_channels':5,'out_channels':9,'kernel_size':1,'stride':2,'bias':false}",
        "{'in_channels':2,'out_channels':3,'kernel_size':5,'padding':4,'dilation':2}",
    };
    for (int t = 0; t < 4; t++) {
        char json[400];
        snprintf(json, sizeof json, "{'nodes':[{'name':'c','type':'conv2d','config':%s}]}", cfgs[t]);
        Model *m = nt_model(json);
        if (!m) continue;
        const Node *nd = &m->nodes[0];
        int64_t sh[] = {3, nd->cfg.in, 9, 11};
        Tensor x = nt_randn(4, sh, 61 + (uint64_t)t, 1.0f);
        Conv2dGeom g;
        Shape in = shape_of(&x);
        conv2d_geom(&g, &nd->cfg, &in);
        float *y = malloc(sizeof(float) * (size_t)(g.n * g.oc * g.oh * g.ow));
        const float *w = tensor_data(&nd->param[0]), *b = nd->nparams > 1 ? tensor_data(&nd->param[1]) : NULL;
        CHECK(conv2d_forward(y, tensor_data(&x), w, b, &g, 2) == SN_OK);
        const int cg = g.c / g.groups, ocg = g.oc / g.groups;
        int64_t bad = 0;
        for (int64_t n = 0; n < g.n; n++)
            for (int o = 0; o < g.oc; o++)
                for (int oh = 0; oh < g.oh; oh++)
                    for (int ow = 0; ow < g.ow; ow++) {
                        float s = 0;
                        for (int c = 0; c < cg; c++)
                            for (int ki = 0; ki < g.kh; ki++)
                                for (int kj = 0; kj < g.kw; kj++) {
                                    int yi = oh * g.sh - g.ph + ki * g.dh, xi = ow * g.sw - g.pw + kj * g.dw;
                                    if (yi < 0 || yi >= g.h || xi < 0 || xi >= g.w) continue;
                                    int ci = o / ocg * cg + c;
                                    s = fmaf(w[((o * cg + c) * g.kh + ki) * g.kw + kj],
                                             tensor_data(&x)[((n * g.c + ci) * g.h + yi) * g.w + xi], s);
                                }
                        float want = b ? b[o] + s : s;
                        bad += y[((n * g.oc + o) * g.oh + oh) * g.ow + ow] != want;
                    }
        CHECK_MSG(bad == 0, "%s: %lld outputs differ", cfgs[t], (long long)bad);
        free(y);
        tensor_release(&x);
        model_free(m);
    }
}

TEST(linear_forward_is_one_fmaf_chain) {
    const int64_t n = 9, in = 37, out = 21;
    int64_t sx[] = {n, in}, sw[] = {out, in}, sb[] = {out};
    Tensor x = nt_randn(2, sx, 71, 1.0f), w = nt_randn(2, sw, 72, 1.0f), b = nt_randn(1, sb, 73, 1.0f);
    float y[9 * 21], dx[9 * 37] = {0};
    CHECK(linear_forward(y, tensor_data(&x), tensor_data(&w), tensor_data(&b), n, in, out, 2) == SN_OK);
    CHECK(linear_backward_input(dx, y, tensor_data(&w), n, in, out, 3) == SN_OK);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t o = 0; o < out; o++) {
            float s = 0;
            for (int64_t k = 0; k < in; k++) s = fmaf(tensor_data(&x)[i * in + k], tensor_data(&w)[o * in + k], s);
            bad += y[i * out + o] != tensor_data(&b)[o] + s;
        }
        for (int64_t k = 0; k < in; k++) { /* dx = 0 + the chain over outputs */
            float s = 0;
            for (int64_t o = 0; o < out; o++) s = fmaf(y[i * out + o], tensor_data(&w)[o * in + k], s);
            bad += dx[i * in + k] != s;
        }
    }
    CHECK_MSG(bad == 0, "%lld values differ", (long long)bad);
    tensor_release(&x), tensor_release(&w), tensor_release(&b);
}

TEST(softmax_forward_by_hand) {
    Model *m = nt_model("{'nodes':[{'name':'s','type':'softmax'}]}");
    Model *l = nt_model("{'nodes':[{'name':'s','type':'log_softmax'}]}");
    int64_t s[] = {1, 3};
    Tensor x, y, z;
    tensor_init(&x, 2, s);
    float xv[3] = {1000, 1001, 1002}; /* stable for large logits */
    memcpy(tensor_data(&x), xv, sizeof xv);
    CHECK(model_forward(m, &x, &y, 1) == SN_OK && model_forward(l, &x, &z, 1) == SN_OK);
    double e = exp(1.0), sum = 1 + e + e * e;
    CHECK_NEAR(tensor_data(&y)[2], e * e / sum, 1e-6);
    CHECK_NEAR(tensor_data(&z)[0], -log(sum), 1e-5);
    tensor_release(&x), tensor_release(&y), tensor_release(&z);
    model_free(m), model_free(l);
}

TEST(batchnorm_running_stats) {
    Model *m = nt_model("{'nodes':[{'name':'bn','type':'batchnorm1d','config':{'num_features':1,'momentum':0.5}}]}");
    model_set_training(m, 1);
    int64_t s[] = {4, 1};
    Tensor x, y;
    tensor_init(&x, 2, s);
    float xv[4] = {1, 2, 3, 6}; /* mean 3, biased var 3.5, unbiased 14/3 */
    memcpy(tensor_data(&x), xv, sizeof xv);
    CHECK(model_forward(m, &x, &y, 1) == SN_OK);
    Node *n = &m->nodes[0];
    CHECK_NEAR(tensor_data(&n->buffer[0])[0], 0.5 * 3, 1e-6);
    CHECK_NEAR(tensor_data(&n->buffer[1])[0], 0.5 * 1 + 0.5 * 14.0 / 3, 1e-6);
    CHECK_NEAR(tensor_data(&n->buffer[2])[0], 1, 0);
    CHECK_NEAR(tensor_data(&y)[3], 3 / sqrt(3.5 + 1e-5), 1e-5);
    /* eval mode uses the running statistics and leaves them alone */
    model_set_training(m, 0);
    tensor_release(&y);
    CHECK(model_forward(m, &x, &y, 1) == SN_OK);
    CHECK_NEAR(tensor_data(&y)[0], (1 - 1.5) / sqrt(0.5 + 7.0 / 3 + 1e-5), 1e-5);
    CHECK_NEAR(tensor_data(&n->buffer[2])[0], 1, 0);
    /* one value per channel cannot be normalized in training */
    model_set_training(m, 1);
    int64_t s1[] = {1, 1};
    Tensor one;
    tensor_init(&one, 2, s1);
    CHECK(model_forward(m, &one, NULL, 1) == SN_ERR);
    CHECK(strstr(sn_errmsg(), "batchnorm1d 'bn'") && strstr(sn_errmsg(), "more than 1 value per channel"));
    tensor_release(&x), tensor_release(&y), tensor_release(&one);
    model_free(m);
}

TEST(dropout_mask) {
    Model *m = nt_model("{'nodes':[{'name':'d','type':'dropout','config':{'p':0.25}}]}");
    model_set_training(m, 1);
    int64_t s[] = {40, 100};
    Tensor x, y1, y2, dx;
    tensor_init(&x, 2, s);
    for (int64_t i = 0; i < 4000; i++) tensor_data(&x)[i] = 1;
    CHECK(model_forward(m, &x, &y1, 1) == SN_OK);
    int zeros = 0, bad = 0;
    for (int64_t i = 0; i < 4000; i++) {
        float v = tensor_data(&y1)[i];
        zeros += v == 0;
        bad += v != 0 && fabsf(v - 1 / 0.75f) > 1e-6f;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_MSG(zeros > 850 && zeros < 1150, "%d of 4000 dropped, expected about 1000", zeros);
    /* backward uses the same mask */
    CHECK(model_backward(m, &x, NULL, 0, &dx, 1) == SN_OK);
    CHECK(nt_bitwise_equal(&dx, &y1));
    /* the next training forward draws a new mask, reproducibly */
    CHECK(model_forward(m, &x, &y2, 3) == SN_OK);
    CHECK(!nt_bitwise_equal(&y1, &y2));
    Model *c = model_clone(m);
    c->step = 0;
    Tensor y3;
    CHECK(model_forward(c, &x, &y3, 2) == SN_OK);
    CHECK(nt_bitwise_equal(&y1, &y3));
    /* eval: identity */
    model_set_training(m, 0);
    tensor_release(&y2);
    CHECK(model_forward(m, &x, &y2, 1) == SN_OK && nt_bitwise_equal(&y2, &x));
    tensor_release(&x), tensor_release(&y1), tensor_release(&y2), tensor_release(&y3), tensor_release(&dx);
    model_free(m), model_free(c);
}

/* ---- initializers ---- */

TEST(init_defaults_and_reinit) {
    Model *m = nt_model("{'seed':7,'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':3,'out_channels':8,"
                        "'kernel_size':3}},{'name':'f','type':'flatten'},"
                        "{'name':'g','type':'linear','config':{'in_features':8,'out_features':50,"
                        "'init':'glorot_uniform'},'inputs':['f']},"
                        "{'name':'n','type':'linear','config':{'in_features':50,'out_features':400,'init':'normal',"
                        "'init_std':0.5}}]}");
    /* kaiming_uniform(a=sqrt(5)): U(+-1/sqrt(fan_in)), fan_in = 3*3*3 */
    const Tensor *w = &m->nodes[0].param[0], *b = &m->nodes[0].param[1];
    double bound = 1 / sqrt(27.0), mx = 0;
    for (int64_t i = 0; i < tensor_numel(w); i++) mx = fmax(mx, fabs(tensor_data(w)[i]));
    CHECK(mx <= bound && mx > 0.9 * bound);
    mx = 0;
    for (int64_t i = 0; i < tensor_numel(b); i++) mx = fmax(mx, fabs(tensor_data(b)[i]));
    CHECK(mx <= bound && mx > 0.3 * bound);
    /* glorot: U(+-sqrt(6/(8+50))), bias zero */
    const Tensor *gw = &m->nodes[2].param[0];
    double gb = sqrt(6.0 / 58), gmx = 0;
    for (int64_t i = 0; i < tensor_numel(gw); i++) gmx = fmax(gmx, fabs(tensor_data(gw)[i]));
    CHECK(gmx <= gb && gmx > 0.9 * gb);
    CHECK_NEAR(tensor_data(&m->nodes[2].param[1])[7], 0, 0);
    /* normal(0.5): sample std */
    const Tensor *nw = &m->nodes[3].param[0];
    double ss = 0;
    for (int64_t i = 0; i < tensor_numel(nw); i++) ss += (double)tensor_data(nw)[i] * tensor_data(nw)[i];
    CHECK_NEAR(sqrt(ss / (double)tensor_numel(nw)), 0.5, 0.01);
    /* reinit with ("init", model seed) reproduces creation, bit for bit;
     * another purpose gives other numbers and touches only that layer */
    Tensor keep, keep2;
    tensor_clone(&keep, w);
    tensor_clone(&keep2, gw);
    model_init_node(m, 0, 7, "mprt");
    CHECK(!nt_bitwise_equal(&keep, w));
    CHECK(nt_bitwise_equal(&keep2, gw));
    model_init_node(m, 0, 7, "init");
    CHECK(nt_bitwise_equal(&keep, w));
    /* the same layer name and seed in another model: the same numbers */
    Model *o = nt_model("{'seed':7,'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':3,'out_channels':8,"
                        "'kernel_size':3}}]}");
    CHECK(nt_bitwise_equal(&keep, &o->nodes[0].param[0]));
    tensor_release(&keep), tensor_release(&keep2);
    model_free(m), model_free(o);
}

TEST(conv_out_size_rule) {
    CHECK_EQ_INT(conv_out_size(28, 5, 1, 2, 1), 28);
    CHECK_EQ_INT(conv_out_size(14, 5, 1, 0, 1), 10);
    CHECK_EQ_INT(conv_out_size(7, 3, 2, 1, 2), 3);
    CHECK_EQ_INT(conv_out_size(3, 5, 1, 0, 1), 0);
    CHECK_EQ_INT(conv_out_size(4, 5, 2, 0, 1), 0);
}

/* test_model.c — the model graph: backward rules (a guided-backprop ReLU and
 * an LRP z+ rule, checked against hand-computed numbers), gradient sums at
 * residual joins, clone independence, determinism (bitwise, across thread
 * counts and batch positions), buffer reuse, JSON round trips, and the
 * error messages of bad graphs, configs, inputs and JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/linear.h"
#include "nn_test.h"
#include "test.h"

static void set(Tensor *t, const float *v) {
    memcpy(tensor_data(t), v, sizeof(float) * (size_t)tensor_numel(t));
}

static Tensor from(int ndim, const int64_t *shape, const float *v) {
    Tensor t;
    tensor_init(&t, ndim, shape);
    set(&t, v);
    return t;
}

/* fc1 (2->3, no bias) -> relu -> fc2 (3->1, no bias), weights by hand. */
static Model *tiny(void) {
    Model *m = nt_model("{'nodes':[{'name':'fc1','type':'linear','config':{'in_features':2,'out_features':3,"
                        "'bias':false}},{'name':'relu','type':'relu'},"
                        "{'name':'fc2','type':'linear','config':{'in_features':3,'out_features':1,'bias':false}}]}");
    set(&m->nodes[0].param[0], (float[]){1, -1, 2, 1, -1, -1});
    set(&m->nodes[2].param[0], (float[]){1, -2, 3});
    return m;
}

static int guided_relu(void *ctx, const Model *m, int node, const Tensor *const *in, const Tensor *out,
                       const Tensor *d_out, Tensor *const *d_in, int nthreads) {
    (void)m, (void)node, (void)out, (void)nthreads;
    (*(int *)ctx)++;
    const float *x = tensor_data(in[0]), *g = tensor_data(d_out);
    float *d = tensor_data(d_in[0]);
    for (int64_t i = 0; i < tensor_numel(d_out); i++) d[i] += x[i] > 0 && g[i] > 0 ? g[i] : 0;
    return SN_OK;
}

/* LRP z+ for a bias-free linear layer with positive inputs, written with
 * the layer kernels and modified weights W+ = max(W, 0):
 * R_in = x * (W+^T (R / (W+ x))). */
static int lrp_zplus(void *ctx, const Model *m, int node, const Tensor *const *in, const Tensor *out,
                     const Tensor *d_out, Tensor *const *d_in, int nthreads) {
    (void)ctx, (void)out;
    const Node *n = &m->nodes[node];
    int I = n->cfg.in, O = n->cfg.out;
    int64_t N = in[0]->shape[0];
    const float *w = tensor_data(&n->param[0]);
    float *wp = malloc(sizeof(float) * (size_t)(I * O)), *z = malloc(sizeof(float) * (size_t)(N * O));
    float *c = calloc((size_t)(N * I), sizeof(float));
    for (int i = 0; i < I * O; i++) wp[i] = w[i] > 0 ? w[i] : 0;
    int rc = linear_forward(z, tensor_data(in[0]), wp, NULL, N, I, O, nthreads);
    const float *r = tensor_data(d_out);
    for (int64_t i = 0; i < N * O; i++) z[i] = z[i] != 0 ? r[i] / z[i] : 0;
    if (rc == SN_OK) rc = linear_backward_input(c, z, wp, N, I, O, nthreads);
    float *d = tensor_data(d_in[0]);
    const float *x = tensor_data(in[0]);
    for (int64_t i = 0; i < N * I; i++) d[i] += x[i] * c[i];
    free(wp), free(z), free(c);
    return rc;
}

TEST(model_backward_rules) {
    Model *m = tiny();
    int64_t s[] = {1, 2}, so[] = {1, 1};
    Tensor x = from(2, s, (float[]){1, 0.5f}), g = from(2, so, (float[]){1}), y, dx;
    CHECK(model_forward(m, &x, &y, 1) == SN_OK);
    CHECK_NEAR(tensor_data(&y)[0], 0.5 - 5, 1e-6); /* h = [0.5, 2.5, -1.5] -> relu -> [0.5, 2.5, 0] */
    /* plain gradient: dh = [1, -2, 3] * [1, 1, 0]; dx = W1^T dh = [-3, -3] */
    CHECK(model_backward(m, &g, NULL, 0, &dx, 1) == SN_OK);
    CHECK_NEAR(tensor_data(&dx)[0], -3, 1e-6);
    CHECK_NEAR(tensor_data(&dx)[1], -3, 1e-6);
    tensor_release(&dx);
    /* guided backprop: also drop negative incoming gradients: dh = [1, 0, 0] */
    int calls = 0;
    BackwardRule rules[3] = {{NULL, NULL}, {guided_relu, &calls}, {NULL, NULL}};
    CHECK(model_backward(m, &g, rules, 0, &dx, 1) == SN_OK);
    CHECK_EQ_INT(calls, 1);
    CHECK_NEAR(tensor_data(&dx)[0], 1, 1e-6);
    CHECK_NEAR(tensor_data(&dx)[1], -1, 1e-6);
    /* the gradient at the relu's output is still readable (Grad-CAM) */
    CHECK_NEAR(tensor_data(&m->nodes[1].d_output)[1], -2, 0);
    tensor_release(&dx);
    /* z+ at fc1: r = [1, -2, 0], W+ x = [1, 2.5, 0], s = [1, -0.8, 0],
     * W+^T s = [-0.6, -0.8], R_in = x * that = [-0.6, -0.4] (sums to sum r) */
    BackwardRule lrp[3] = {{lrp_zplus, NULL}, {NULL, NULL}, {NULL, NULL}};
    CHECK(model_backward(m, &g, lrp, 1, &dx, 2) == SN_OK);
    CHECK_NEAR(tensor_data(&dx)[0], -0.6, 1e-6);
    CHECK_NEAR(tensor_data(&dx)[1], -0.4, 1e-6);
    /* a node with a rule gets no parameter gradient; the others do */
    CHECK_NEAR(tensor_data(&m->nodes[0].grad[0])[0], 0, 0);
    CHECK_NEAR(tensor_data(&m->nodes[2].grad[0])[1], 2.5, 1e-6);
    tensor_release(&x), tensor_release(&g), tensor_release(&y), tensor_release(&dx);
    model_free(m);
}

TEST(model_residual_gradient_sum) {
    Model *m = nt_model("{'nodes':[{'name':'r','type':'relu'},{'name':'a','type':'add','inputs':['r','input']},"
                        "{'name':'b','type':'add','inputs':['a','r']}]}");
    int64_t s[] = {2, 3};
    Tensor x = from(2, s, (float[]){1, -1, 2, -3, 0.5f, 0}), g = from(2, s, (float[]){1, 2, 3, 4, 5, 6}), dx;
    CHECK(model_forward(m, &x, NULL, 1) == SN_OK);
    CHECK(model_backward(m, &g, NULL, 1, &dx, 1) == SN_OK);
    /* y = 2 relu(x) + x: dx = g (2 [x > 0] + 1) */
    float want[6] = {3, 2, 9, 4, 15, 6};
    for (int i = 0; i < 6; i++) CHECK_NEAR(tensor_data(&dx)[i], want[i], 0);
    /* node r receives from a and b: 2 g */
    CHECK_NEAR(tensor_data(&m->nodes[0].d_output)[5], 12, 0);
    tensor_release(&x), tensor_release(&g), tensor_release(&dx);
    model_free(m);
}

static const char *NET =
    "{'seed':3,'input_shape':[3,12,12],'nodes':["
    "{'name':'c1','type':'conv2d','config':{'in_channels':3,'out_channels':16,'kernel_size':3,'padding':1}},"
    "{'name':'bn1','type':'batchnorm2d','config':{'num_features':16}},"
    "{'name':'r1','type':'relu'},"
    "{'name':'c2','type':'conv2d','config':{'in_channels':16,'out_channels':16,'kernel_size':3,'padding':1,'groups':2}}"
    ","
    "{'name':'add1','type':'add','inputs':['c2','r1']},"
    "{'name':'p1','type':'maxpool2d','config':{'kernel_size':3,'stride':2,'padding':1}},"
    "{'name':'c3','type':'conv2d','config':{'in_channels':16,'out_channels':16,'kernel_size':3,'stride':2,"
    "'padding':1,'bias':false}},"
    "{'name':'lr','type':'leaky_relu'},"
    "{'name':'ap','type':'avgpool2d','config':{'kernel_size':2,'stride':1}},"
    "{'name':'gap','type':'adaptive_avgpool2d','config':{'output_size':1}},"
    "{'name':'flat','type':'flatten'},"
    "{'name':'fc1','type':'linear','config':{'in_features':16,'out_features':13}},"
    "{'name':'bnf','type':'batchnorm1d','config':{'num_features':13}},"
    "{'name':'t','type':'tanh'},"
    "{'name':'fc2','type':'linear','config':{'in_features':13,'out_features':10}},"
    "{'name':'out','type':'log_softmax'}]}";

static Model *net(void) {
    Model *m = nt_model(NET);
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < 2 && i < m->nnodes && m->nodes[i].nbuffers; k++)
            nt_pattern_fill(tensor_data(&m->nodes[i].buffer[k]), tensor_numel(&m->nodes[i].buffer[k]),
                            (uint32_t)(i * 7 + k), 0.3f);
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].nbuffers)
            for (int64_t c = 0; c < tensor_numel(&m->nodes[i].buffer[1]); c++)
                tensor_data(&m->nodes[i].buffer[1])[c] += 1;
    return m;
}

typedef struct {
    Tensor y, dx;
    Tensor grads[32];
    int ngrads;
} Pass;

static void run_pass(Model *m, const Tensor *x, const Tensor *g, int nthreads, Pass *p) {
    model_zero_grad(m);
    CHECK(model_forward(m, x, &p->y, nthreads) == SN_OK);
    CHECK(model_backward(m, g, NULL, 1, &p->dx, nthreads) == SN_OK);
    p->ngrads = 0;
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nparams; k++) tensor_clone(&p->grads[p->ngrads++], &m->nodes[i].grad[k]);
}

static void pass_release(Pass *p) {
    tensor_release(&p->y), tensor_release(&p->dx);
    for (int i = 0; i < p->ngrads; i++) tensor_release(&p->grads[i]);
}

TEST(model_deterministic_threads_and_batch_position) {
    Model *m = net();
    CHECK(m != NULL);
    if (!m) return;
    int64_t s20[] = {20, 3, 12, 12}, g20[] = {20, 10};
    Tensor x = nt_randn(4, s20, 21, 1.0f), g = nt_randn(2, g20, 22, 1.0f);
    Pass a, b;
    run_pass(m, &x, &g, 1, &a);
    run_pass(m, &x, &g, 3, &b);
    CHECK(nt_bitwise_equal(&a.y, &b.y));
    CHECK(nt_bitwise_equal(&a.dx, &b.dx));
    for (int i = 0; i < a.ngrads; i++) CHECK_MSG(nt_bitwise_equal(&a.grads[i], &b.grads[i]), "param grad %d", i);
    /* samples 5..11 as a batch of 7: the same numbers as inside the 20 */
    Tensor x7, g7;
    tensor_narrow(&x7, &x, 5, 7);
    tensor_narrow(&g7, &g, 5, 7);
    Pass c;
    run_pass(m, &x7, &g7, 2, &c);
    Tensor ay, adx;
    tensor_narrow(&ay, &a.y, 5, 7);
    tensor_narrow(&adx, &a.dx, 5, 7);
    CHECK(nt_bitwise_equal(&c.y, &ay));
    CHECK(nt_bitwise_equal(&c.dx, &adx));
    /* and one sample alone */
    Tensor x1, g1, a1y, a1dx;
    tensor_narrow(&x1, &x, 19, 1);
    tensor_narrow(&g1, &g, 19, 1);
    Pass d;
    run_pass(m, &x1, &g1, 1, &d);
    tensor_narrow(&a1y, &a.y, 19, 1);
    tensor_narrow(&a1dx, &a.dx, 19, 1);
    CHECK(nt_bitwise_equal(&d.y, &a1y));
    CHECK(nt_bitwise_equal(&d.dx, &a1dx));
    /* the network is not degenerate: outputs differ between samples */
    CHECK(tensor_data(&a.y)[0] != tensor_data(&a.y)[10]);
    tensor_release(&x7), tensor_release(&g7), tensor_release(&ay), tensor_release(&adx);
    tensor_release(&x1), tensor_release(&g1), tensor_release(&a1y), tensor_release(&a1dx);
    pass_release(&a), pass_release(&b), pass_release(&c), pass_release(&d);
    tensor_release(&x), tensor_release(&g);
    model_free(m);
}

/* NET with smooth activations and average pooling: finite differences
 * across a deep stack of kinks would cross some of them. */
static Model *smooth_net(void) {
    char *j = strdup(NET), *p;
    while ((p = strstr(j, "'leaky_relu'"))) memcpy(p, "'sigmoid'   ", 12);
    while ((p = strstr(j, "'relu'"))) memcpy(p, "'tanh'", 6);
    while ((p = strstr(j, "'maxpool2d'"))) memcpy(p, "'avgpool2d'", 11);
    Model *m = nt_model(j);
    free(j);
    return m;
}

TEST(model_gradcheck_whole_net) {
    Model *m = smooth_net();
    int64_t s[] = {2, 3, 12, 12};
    Tensor x = nt_randn(4, s, 31, 1.0f);
    nt_gradcheck(m, &x, 1e-2, 2e-3, 5e-4, 60, 0, "mixed net", __FILE__, __LINE__);
    tensor_release(&x);
    model_free(m);
}

TEST(model_train_mode_parameter_grads_thread_independent) {
    Model *m = net();
    model_set_training(m, 1);
    int64_t s[] = {70, 3, 12, 12}, gs[] = {70, 10};
    Tensor x = nt_randn(4, s, 41, 1.0f), g = nt_randn(2, gs, 42, 1.0f);
    Model *c = model_clone(m);
    Pass a, b;
    run_pass(m, &x, &g, 1, &a);
    run_pass(c, &x, &g, 2, &b);
    CHECK(nt_bitwise_equal(&a.y, &b.y));
    CHECK(nt_bitwise_equal(&a.dx, &b.dx));
    for (int i = 0; i < a.ngrads; i++) CHECK_MSG(nt_bitwise_equal(&a.grads[i], &b.grads[i]), "param grad %d", i);
    CHECK(nt_bitwise_equal(&m->nodes[1].buffer[1], &c->nodes[1].buffer[1])); /* running_var */
    pass_release(&a), pass_release(&b);
    tensor_release(&x), tensor_release(&g);
    model_free(m), model_free(c);
}

/* Kinds that overwrite (LayerOps.overwrites) get the gradient buffers of the
 * previous pass unzeroed: poison them with NaN and check that the second
 * backward equals one on a fresh clone, bit for bit, for every kind and
 * every conv2d input-gradient path (as a convolution; on the grid, through
 * padded planes or straight into dx), a 2x2 max pool on an odd plane,
 * add(x, x) and a residual join. */
static void check_backward_overwrites(Model *m, const Tensor *x, int64_t nout, const char *what) {
    int64_t gs[] = {x->shape[0], nout};
    Tensor g1 = nt_randn(2, gs, 71, 1.0f), g2 = nt_randn(2, gs, 72, 1.0f), dx1, dx2, dxc;
    Model *c = model_clone(m);
    CHECK(model_forward(m, x, NULL, 2) == SN_OK);
    CHECK(model_backward(m, &g1, NULL, 0, &dx1, 2) == SN_OK);
    tensor_release(&dx1);
    for (int i = 0; i < m->nnodes; i++) {
        Tensor *t = &m->nodes[i].d_output;
        for (int64_t q = 0; t->storage && q < tensor_numel(t); q++) tensor_data(t)[q] = NAN;
    }
    for (int64_t q = 0; m->d_input.storage && q < tensor_numel(&m->d_input); q++) tensor_data(&m->d_input)[q] = NAN;
    CHECK(model_backward(m, &g2, NULL, 0, &dx2, 2) == SN_OK);
    CHECK(model_forward(c, x, NULL, 1) == SN_OK);
    CHECK(model_backward(c, &g2, NULL, 0, &dxc, 1) == SN_OK);
    CHECK_MSG(nt_bitwise_equal(&dx2, &dxc), "%s: input gradient after a reused pass", what);
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].d_output.storage)
            CHECK_MSG(nt_bitwise_equal(&m->nodes[i].d_output, &c->nodes[i].d_output), "%s: node '%s'", what,
                      m->nodes[i].name);
    tensor_release(&g1), tensor_release(&g2), tensor_release(&dx2), tensor_release(&dxc);
    model_free(c);
}

TEST(model_backward_overwrites_stale_gradients) {
    int64_t s[] = {5, 3, 12, 12};
    Tensor x = nt_randn(4, s, 73, 1.0f);
    Model *m = net();
    check_backward_overwrites(m, &x, 10, "NET");
    model_free(m);
    m = smooth_net();
    check_backward_overwrites(m, &x, 10, "smooth NET");
    model_free(m);
    m = nt_model("{'seed':5,'nodes':["
                 "{'name':'c','type':'conv2d','config':{'in_channels':3,'out_channels':8,'kernel_size':4}},"
                 "{'name':'p','type':'maxpool2d','config':{'kernel_size':2}},"
                 "{'name':'s','type':'sigmoid'},{'name':'i','type':'identity'},"
                 "{'name':'a','type':'add','inputs':['i','i']},{'name':'f','type':'flatten'},"
                 "{'name':'l','type':'linear','config':{'in_features':128,'out_features':6}},"
                 "{'name':'sm','type':'softmax'}]}");
    check_backward_overwrites(m, &x, 6, "conv2d 12x12 -> 9x9 on the grid, 2x2 pool of 9x9, add(x, x), softmax");
    model_free(m);
    /* stride 2 (one GEMM per phase): the 1x1 conv, run first, writes c1's
     * gradient (zeros in the three phases it has no taps for), the 3x3 adds */
    m = nt_model("{'seed':6,'nodes':["
                 "{'name':'c1','type':'conv2d','config':{'in_channels':3,'out_channels':4,'kernel_size':3,'padding':1}},"
                 "{'name':'c2','type':'conv2d','inputs':['c1'],'config':{'in_channels':4,'out_channels':8,"
                 "'kernel_size':3,'stride':2,'padding':1}},"
                 "{'name':'sc','type':'conv2d','inputs':['c1'],'config':{'in_channels':4,'out_channels':8,"
                 "'kernel_size':1,'stride':2}},"
                 "{'name':'a','type':'add','inputs':['c2','sc']},{'name':'f','type':'flatten'},"
                 "{'name':'l','type':'linear','config':{'in_features':288,'out_features':6}}]}");
    check_backward_overwrites(m, &x, 6, "stride-2 1x1 and 3x3 convs reading one input");
    model_free(m);
    tensor_release(&x);
}

/* A model with frozen parameters keeps its convs' input-gradient weights
 * (stride 1: flipped; strided: per phase) on the nodes: the same bits as a
 * model that derives them per call, on a second pass (kept) and after the
 * input size changes (rebuilt for the new geometry). */
TEST(model_frozen_params_keep_derived_weights) {
    Model *m = net(), *f = model_clone(m);
    f->frozen_params = 1;
    const int64_t xs[3][4] = {{4, 3, 12, 12}, {4, 3, 12, 12}, {3, 3, 16, 16}}, gs[3][2] = {{4, 10}, {4, 10}, {3, 10}};
    for (int round = 0; round < 3; round++) {
        Tensor x = nt_randn(4, xs[round], 40 + round, 1.0f), g = nt_randn(2, gs[round], 50 + round, 1.0f), dxa, dxb;
        CHECK(model_forward(m, &x, NULL, 2) == SN_OK && model_backward(m, &g, NULL, 0, &dxa, 2) == SN_OK);
        CHECK(model_forward(f, &x, NULL, 1) == SN_OK && model_backward(f, &g, NULL, 0, &dxb, 1) == SN_OK);
        CHECK_MSG(nt_bitwise_equal(&dxa, &dxb), "input gradient, pass %d", round + 1);
        tensor_release(&x), tensor_release(&g), tensor_release(&dxa), tensor_release(&dxb);
    }
    int kept = 0, unfrozen = 0;
    for (int i = 0; i < f->nnodes; i++) kept += f->nodes[i].derived != NULL, unfrozen += m->nodes[i].derived != NULL;
    CHECK_MSG(kept == 3 && unfrozen == 0, "derived weights kept on %d nodes (frozen), %d (not frozen)", kept, unfrozen);
    model_free(m), model_free(f);
}

static int has(const char *frag);

/* A copy with fold_relu_pool (attr/rows.c's per-thread copies) gives the
 * unfolded model's outputs, input gradient, parameter gradients and head
 * output gradient bit for bit: 2x2 and general pools, windows all <= 0
 * (argmax -1), a NaN input, a conv output that also feeds another branch
 * (the pool adds into its gradient) and a ReLU with two consumers (not
 * folded). */
static void check_folded(const char *json, int64_t c, int64_t hw, int64_t nout, const char *what) {
    Model *m = nt_model(json), *f = model_clone(m);
    f->fold_relu_pool = 1;
    int64_t s[] = {3, c, hw, hw}, gs[] = {3, nout};
    Tensor x = nt_randn(4, s, 91, 1.0f), g = nt_randn(2, gs, 92, 1.0f);
    tensor_data(&x)[tensor_numel(&x) - 5] = NAN;
    Pass a, b;
    run_pass(m, &x, &g, 1, &a);
    run_pass(f, &x, &g, 2, &b);
    CHECK_MSG(nt_bitwise_equal(&a.y, &b.y), "%s: output", what);
    CHECK_MSG(nt_bitwise_equal(&a.dx, &b.dx), "%s: input gradient", what);
    for (int k = 0; k < a.ngrads; k++) CHECK_MSG(nt_bitwise_equal(&a.grads[k], &b.grads[k]), "%s: grad %d", what, k);
    CHECK(model_backward_to(m, &g, 0, 1) == SN_OK && model_backward_to(f, &g, 0, 1) == SN_OK);
    CHECK_MSG(nt_bitwise_equal(&m->nodes[0].d_output, &f->nodes[0].d_output), "%s: head gradient", what);
    /* node 1 is a folded ReLU: no pass starts or stops there, and rules are refused */
    CHECK(model_forward_from(f, 1, &a.y, NULL, 1) != SN_OK);
    CHECK(has("cannot start the forward at 'r1': it is folded into its max-pool"));
    CHECK(model_backward_to(f, &g, 1, 1) != SN_OK);
    CHECK(has("cannot stop the backward at 'r1': it is folded into its max-pool"));
    BackwardRule rules[16] = {{0}};
    Tensor dx;
    CHECK(model_forward(f, &x, NULL, 1) == SN_OK && model_backward(f, &g, rules, 0, &dx, 1) != SN_OK);
    CHECK(has("backward rules need every layer"));
    pass_release(&a), pass_release(&b);
    tensor_release(&x), tensor_release(&g);
    model_free(m), model_free(f);
}

TEST(model_folded_relu_pool_same_bits) {
    check_folded("{'seed':7,'nodes':["
                 "{'name':'c1','type':'conv2d','config':{'in_channels':3,'out_channels':8,'kernel_size':3,'padding':1}},"
                 "{'name':'r1','type':'relu'},{'name':'p1','type':'maxpool2d','config':{'kernel_size':2}},"
                 "{'name':'c2','type':'conv2d','config':{'in_channels':8,'out_channels':8,'kernel_size':3}},"
                 "{'name':'r2','type':'relu'},"
                 "{'name':'p2','type':'maxpool2d','config':{'kernel_size':3,'stride':2,'padding':1}},"
                 "{'name':'f','type':'flatten'},{'name':'l','type':'linear','config':{'in_features':72,'out_features':5}}]}",
                 3, 14, 5, "conv-relu-pool twice (2x2, 3x3 stride 2 pad 1)");
    check_folded("{'seed':8,'nodes':["
                 "{'name':'c1','type':'conv2d','config':{'in_channels':2,'out_channels':4,'kernel_size':3,'padding':1}},"
                 "{'name':'r1','type':'relu'},{'name':'p1','type':'maxpool2d','config':{'kernel_size':2}},"
                 "{'name':'q','type':'maxpool2d','config':{'kernel_size':2},'inputs':['c1']},"
                 "{'name':'r2','type':'relu','inputs':['q']},{'name':'p2','type':'maxpool2d','config':{'kernel_size':1},"
                 "'inputs':['r2']},{'name':'a','type':'add','inputs':['p1','p2']},"
                 "{'name':'j','type':'add','inputs':['a','r2']},"
                 "{'name':'f','type':'flatten'},{'name':'l','type':'linear','config':{'in_features':100,'out_features':4}}]}",
                 2, 10, 4, "conv output read by a folded pool and another pool; a ReLU with two consumers");
    check_folded("{'seed':13,'nodes':["
                 "{'name':'c1','type':'conv2d','config':{'in_channels':2,'out_channels':4,'kernel_size':3,'padding':1}},"
                 "{'name':'r1','type':'relu'},{'name':'p1','type':'maxpool2d','config':{'kernel_size':2}},"
                 "{'name':'c2','type':'conv2d','config':{'in_channels':4,'out_channels':4,'kernel_size':3,'padding':1}},"
                 "{'name':'b2','type':'batchnorm2d','config':{'num_features':4}},{'name':'r2','type':'relu'},"
                 "{'name':'p2','type':'maxpool2d','config':{'kernel_size':2}},"
                 "{'name':'f','type':'flatten'},{'name':'l','type':'linear','config':{'in_features':16,'out_features':4}}]}",
                 2, 8, 4, "eval conv-bn-relu-pool: the pool runs the ReLU, the conv the batch norm");
}

/* Batch norms with statistics and affine parameters far from the identity
 * (negative gammas too), so a fold that skipped or reordered any operation
 * would show. */
static void scramble_batchnorms(Model *m) {
    for (int i = 0; i < m->nnodes; i++) {
        Node *n = &m->nodes[i];
        if (n->kind != LAYER_BATCHNORM2D) continue;
        int64_t c = n->cfg.in, s[] = {c};
        Tensor r = nt_randn(1, s, 300 + (uint64_t)i, 1.0f);
        for (int64_t k = 0; k < c; k++) {
            float v = tensor_data(&r)[k];
            tensor_data(&n->param[0])[k] = 1.5f * v;             /* gamma */
            tensor_data(&n->param[1])[k] = 0.3f - 0.5f * v;      /* beta */
            tensor_data(&n->buffer[0])[k] = 0.2f * v;            /* running mean */
            tensor_data(&n->buffer[1])[k] = 0.5f + fabsf(v);     /* running var */
        }
        tensor_release(&r);
    }
}

/* A copy with fold_conv_bn and fold_add_relu (and fold_relu_pool, as
 * attr's private copies) gives the eval model's outputs and input gradients
 * bit for bit; in training mode only the add's ReLU folds, and parameter
 * gradients match too. */
static void check_conv_bn_folded(const char *json, int64_t c, int64_t hw, int ndim_out, const int64_t *out_shape,
                                 const char *first_absorbed, const char *what) {
    Model *m = nt_model(json);
    if (!m) return;
    scramble_batchnorms(m);
    Model *f = model_clone(m);
    f->fold_relu_pool = 1, f->fold_conv_bn = 1, f->fold_add_relu = 1;
    int64_t s[] = {3, c, hw, hw};
    Tensor x = nt_randn(4, s, 93, 1.0f), g = nt_randn(ndim_out, out_shape, 94, 1.0f), ya, yb, da, db;
    tensor_data(&x)[7] = NAN;
    CHECK(model_forward(m, &x, &ya, 1) == SN_OK && model_backward(m, &g, NULL, 0, &da, 1) == SN_OK);
    CHECK(model_forward(f, &x, &yb, 2) == SN_OK && model_backward(f, &g, NULL, 0, &db, 2) == SN_OK);
    CHECK_MSG(nt_bitwise_equal(&ya, &yb), "%s: output", what);
    CHECK_MSG(nt_bitwise_equal(&da, &db), "%s: input gradient", what);
    tensor_release(&ya), tensor_release(&yb), tensor_release(&da), tensor_release(&db);
    /* absorbed nodes: no pass starts or stops there; no rules, no parameter gradients */
    int node = model_find(f, first_absorbed);
    CHECK(model_forward_from(f, node, &x, NULL, 1) != SN_OK);
    CHECK(has("this model copy runs it together with its neighbour"));
    CHECK(model_backward_to(f, &g, node, 1) != SN_OK);
    CHECK(has("this model copy runs it together with its neighbour"));
    CHECK(model_forward(f, &x, NULL, 1) == SN_OK && model_backward(f, &g, NULL, 1, NULL, 1) != SN_OK);
    CHECK(has("parameter gradients need every layer"));
    int add_relu = model_find(f, "r2");
    if (add_relu >= 0 && f->nodes[f->nodes[add_relu].inputs[0]].kind == LAYER_ADD) {
        CHECK(model_forward_from(f, add_relu, &x, NULL, 1) != SN_OK);
        CHECK(has("'r2': this model copy runs it together with its neighbour"));
        BackwardRule rules[32] = {{0}};
        CHECK(model_forward(f, &x, NULL, 1) == SN_OK && model_backward(f, &g, rules, 0, NULL, 1) != SN_OK);
        CHECK(has("backward rules need every layer"));
    }
    /* training mode: batch statistics, nothing folded, parameter gradients as the model's */
    model_set_training(m, 1), model_set_training(f, 1);
    Pass a, b;
    run_pass(m, &x, &g, 1, &a);
    run_pass(f, &x, &g, 1, &b);
    CHECK_MSG(nt_bitwise_equal(&a.dx, &b.dx), "%s: training input gradient", what);
    for (int k = 0; k < a.ngrads; k++) CHECK_MSG(nt_bitwise_equal(&a.grads[k], &b.grads[k]), "%s: grad %d", what, k);
    pass_release(&a), pass_release(&b);
    tensor_release(&x), tensor_release(&g);
    model_free(m), model_free(f);
}

TEST(model_folded_conv_bn_same_bits) {
    const int64_t logits[] = {3, 5};
    check_conv_bn_folded(
        "{'seed':9,'nodes':["
        "{'name':'c1','type':'conv2d','config':{'in_channels':3,'out_channels':8,'kernel_size':3,'padding':1,'bias':false}},"
        "{'name':'b1','type':'batchnorm2d','config':{'num_features':8}},{'name':'r1','type':'relu'},"
        "{'name':'c2','type':'conv2d','config':{'in_channels':8,'out_channels':8,'kernel_size':3,'padding':1}},"
        "{'name':'b2','type':'batchnorm2d','config':{'num_features':8}},"
        "{'name':'s','type':'conv2d','config':{'in_channels':3,'out_channels':8,'kernel_size':1,'bias':false},"
        "'inputs':['input']},"
        "{'name':'sb','type':'batchnorm2d','config':{'num_features':8}},"
        "{'name':'a','type':'add','inputs':['b2','sb']},{'name':'r2','type':'relu'},"
        "{'name':'c3','type':'conv2d','config':{'in_channels':8,'out_channels':4,'kernel_size':3,'stride':2,'padding':1}},"
        "{'name':'b3','type':'batchnorm2d','config':{'num_features':4}},{'name':'r3','type':'relu'},"
        "{'name':'p3','type':'maxpool2d','config':{'kernel_size':2}},"
        "{'name':'f','type':'flatten'},{'name':'l','type':'linear','config':{'in_features':36,'out_features':5}}]}",
        3, 12, 2, logits, "b1",
        "residual block (conv-bn-relu, conv(bias)-bn, 1x1 shortcut conv-bn), strided conv-bn-relu-maxpool");
    const int64_t planes[] = {3, 4, 10, 10};
    check_conv_bn_folded(
        "{'seed':10,'nodes':["
        "{'name':'c1','type':'conv2d','config':{'in_channels':2,'out_channels':4,'kernel_size':3,'padding':1}},"
        "{'name':'b1','type':'batchnorm2d','config':{'num_features':4}},{'name':'t','type':'tanh','inputs':['b1']},"
        "{'name':'r1','type':'relu','inputs':['b1']},{'name':'j','type':'add','inputs':['r1','t']},"
        "{'name':'c2','type':'conv2d','config':{'in_channels':4,'out_channels':4,'kernel_size':3,'padding':1}},"
        "{'name':'b2','type':'batchnorm2d','config':{'num_features':4}},{'name':'r2','type':'relu'},"
        "{'name':'k','type':'add','inputs':['r2','r2']},"
        "{'name':'c3','type':'conv2d','config':{'in_channels':4,'out_channels':4,'kernel_size':3,'padding':1}},"
        "{'name':'b3','type':'batchnorm2d','config':{'num_features':4}}]}",
        2, 10, 4, planes, "r2",
        "a batch norm with two consumers (kept), a ReLU read twice, a batch norm as the model output (kept)");
    Model *m = nt_model("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':1,'out_channels':2,"
                        "'kernel_size':3}},{'name':'b','type':'batchnorm2d','config':{'num_features':2}},"
                        "{'name':'r','type':'relu'}]}");
    CHECK(model_conv_absorbs_bn(m, 0) && !model_conv_absorbs_bn(m, 1) && !model_conv_absorbs_bn(m, 7));
    model_free(m);
}

/* An eval forward runs a conv's batch norm (and the ReLU after it) in the
 * conv's output copy but writes every activation: each equals, bit for bit,
 * the batch norm's and ReLU's own kernels applied to the activation before. */
static void check_kept(const char *json, int64_t c, int64_t hw, const char *what) {
    Model *m = nt_model(json);
    if (!m) return;
    scramble_batchnorms(m);
    int64_t s[] = {3, c, hw, hw};
    Tensor x = nt_randn(4, s, 95, 1.0f);
    tensor_data(&x)[3] = NAN;
    CHECK(model_forward(m, &x, NULL, 2) == SN_OK);
    int checked = 0;
    for (int i = 1; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i], *prev = &m->nodes[n->inputs[0] == MODEL_INPUT ? 0 : n->inputs[0]];
        if (n->inputs[0] == MODEL_INPUT || (n->kind != LAYER_BATCHNORM2D && n->kind != LAYER_RELU)) continue;
        Tensor want;
        CHECK(tensor_init(&want, n->output.ndim, n->output.shape) == SN_OK);
        const Tensor *in = &prev->output;
        if (n->kind == LAYER_RELU)
            CHECK(relu_forward(tensor_data(&want), tensor_data(in), tensor_numel(in), 1) == SN_OK);
        else
            CHECK(batchnorm_forward_eval(tensor_data(&want), tensor_data(in), tensor_data(&n->param[0]),
                                         tensor_data(&n->param[1]), tensor_data(&n->buffer[0]),
                                         tensor_data(&n->buffer[1]), in->shape[0], (int)in->shape[1],
                                         in->shape[2] * in->shape[3], n->cfg.eps, 1) == SN_OK);
        CHECK_MSG(nt_bitwise_equal(&n->output, &want), "%s: node '%s'", what, n->name);
        tensor_release(&want);
        checked++;
    }
    CHECK(checked >= 3);
    tensor_release(&x);
    model_free(m);
}

TEST(model_eval_conv_bn_relu_kept_same_bits) {
    check_kept("{'seed':11,'nodes':["
               "{'name':'c1','type':'conv2d','config':{'in_channels':3,'out_channels':8,'kernel_size':3,'padding':1}},"
               "{'name':'b1','type':'batchnorm2d','config':{'num_features':8}},{'name':'r1','type':'relu'},"
               "{'name':'c2','type':'conv2d','config':{'in_channels':8,'out_channels':6,'kernel_size':1,'bias':false}},"
               "{'name':'b2','type':'batchnorm2d','config':{'num_features':6}},{'name':'r2','type':'relu'}]}",
               3, 9, "conv(bias)-bn-relu; 1x1 conv-bn-relu as the model output");
    check_kept("{'seed':12,'nodes':["
               "{'name':'c1','type':'conv2d','config':{'in_channels':2,'out_channels':4,'kernel_size':3,'stride':2}},"
               "{'name':'b1','type':'batchnorm2d','config':{'num_features':4}},{'name':'t','type':'tanh','inputs':['b1']},"
               "{'name':'r1','type':'relu','inputs':['b1']},{'name':'j','type':'add','inputs':['r1','t']},"
               "{'name':'c2','type':'conv2d','config':{'in_channels':4,'out_channels':4,'kernel_size':3,'padding':1}},"
               "{'name':'b2','type':'batchnorm2d','config':{'num_features':4}},{'name':'r2','type':'relu'},"
               "{'name':'f','type':'flatten'}]}",
               2, 11, "strided conv-bn read by two nodes; conv-bn-relu before a flatten");
    /* a batch norm of the wrong width is named, as when it runs on its own */
    Model *m = nt_model("{'nodes':[{'name':'c','type':'conv2d','config':{'in_channels':1,'out_channels':3,"
                        "'kernel_size':3}},{'name':'b','type':'batchnorm2d','config':{'num_features':5}},"
                        "{'name':'r','type':'relu'}]}");
    int64_t s[] = {2, 1, 6, 6};
    Tensor x = nt_randn(4, s, 96, 1.0f);
    CHECK(model_forward(m, &x, NULL, 1) != SN_OK);
    CHECK(has("'b'") && has("input has 3 channels, layer expects 5"));
    m->fold_conv_bn = 1;
    CHECK(model_forward(m, &x, NULL, 1) != SN_OK);
    CHECK(has("'b'") && has("input has 3 channels, layer expects 5"));
    tensor_release(&x);
    model_free(m);
}

/* Starting the forward at a node's activation and stopping the backward at
 * a node's output give the numbers of the full passes, bit for bit. */
TEST(model_forward_from_and_backward_to) {
    Model *m = net(), *c = model_clone(m);
    int64_t s[] = {4, 3, 12, 12}, gs[] = {4, 10};
    Tensor x = nt_randn(4, s, 81, 1.0f), g = nt_randn(2, gs, 82, 1.0f), y, yc, z, dx;
    CHECK(model_forward(m, &x, &y, 1) == SN_OK);
    CHECK(model_backward(m, &g, NULL, 0, &dx, 1) == SN_OK);
    tensor_clone(&z, &m->nodes[2].output); /* r1: c2 and the residual add read it */
    CHECK(model_forward_from(c, 2, &z, &yc, 2) == SN_OK);
    CHECK(nt_bitwise_equal(&y, &yc));
    CHECK(model_backward_to(c, &g, 2, 2) == SN_OK);
    CHECK(nt_bitwise_equal(&m->nodes[2].d_output, &c->nodes[2].d_output));
    CHECK(c->nodes[1].d_output.storage == NULL); /* nothing below ran */
    tensor_release(&yc);
    /* bad starts: a wrong shape; a node whose later consumers read earlier activations */
    CHECK(model_forward_from(c, 5, &z, &yc, 1) != SN_OK);
    CHECK(has("the activation of 'p1' has shape [4, 16, 6, 6], got [4, 16, 12, 12]"));
    Model *r = nt_model("{'nodes':[{'name':'a','type':'relu'},{'name':'b','type':'tanh'},"
                        "{'name':'j','type':'add','inputs':['b','a']}]}");
    int64_t s2[] = {2, 3};
    Tensor x2 = nt_randn(2, s2, 83, 1.0f);
    CHECK(model_forward_from(r, 1, &x2, NULL, 1) != SN_OK);
    CHECK(has("cannot start the forward at 'b': 'j' reads an earlier activation"));
    CHECK(model_forward_from(r, 5, &x2, NULL, 1) != SN_OK);
    CHECK(model_backward_to(r, &x2, -1, 1) != SN_OK);
    model_free(r);
    tensor_release(&x2);
    tensor_release(&x), tensor_release(&g), tensor_release(&y), tensor_release(&z), tensor_release(&dx);
    model_free(m), model_free(c);
}

TEST(model_clone_independent) {
    Model *m = net();
    int64_t s[] = {4, 3, 12, 12};
    Tensor x = nt_randn(4, s, 51, 1.0f), y0, y1, yc;
    CHECK(model_forward(m, &x, &y0, 1) == SN_OK);
    Model *c = model_clone(m);
    CHECK(c->nodes[0].output.storage == NULL); /* no pass state */
    Tensor w0;
    tensor_clone(&w0, &m->nodes[0].param[0]);
    for (int i = 0; i < c->nnodes; i++) model_init_node(c, i, 99, "other");
    model_set_training(c, 1);
    CHECK(model_forward(c, &x, &yc, 1) == SN_OK);
    CHECK(model_backward(c, &yc, NULL, 1, NULL, 1) == SN_OK);
    CHECK(!nt_bitwise_equal(&yc, &y0));
    CHECK(nt_bitwise_equal(&w0, &m->nodes[0].param[0]));
    CHECK(m->training == 0);
    CHECK_NEAR(tensor_data(&m->nodes[0].grad[0])[0], 0, 0);
    CHECK(model_forward(m, &x, &y1, 1) == SN_OK);
    CHECK(nt_bitwise_equal(&y0, &y1));
    tensor_release(&x), tensor_release(&y0), tensor_release(&y1), tensor_release(&yc), tensor_release(&w0);
    model_free(m), model_free(c);
}

TEST(model_handed_out_tensors_never_change) {
    Model *m = net();
    int64_t s[] = {3, 3, 12, 12};
    Tensor x1 = nt_randn(4, s, 61, 1.0f), x2 = nt_randn(4, s, 62, 1.0f), y1, y2, keep;
    CHECK(model_forward(m, &x1, &y1, 1) == SN_OK);
    tensor_clone(&keep, &y1);
    float *buf = tensor_data(&m->nodes[2].output);
    CHECK(model_forward(m, &x2, &y2, 1) == SN_OK);
    CHECK(nt_bitwise_equal(&y1, &keep)); /* still the first result */
    CHECK(!nt_bitwise_equal(&y1, &y2));
    CHECK(tensor_data(&m->nodes[2].output) == buf); /* unshared buffers are reused */
    tensor_release(&x1), tensor_release(&x2), tensor_release(&y1), tensor_release(&y2), tensor_release(&keep);
    model_free(m);
}

static int has(const char *frag) {
    int ok = strstr(sn_errmsg(), frag) != NULL;
    if (!ok) fprintf(stderr, "  message was: %s\n", sn_errmsg());
    return ok;
}

TEST(model_forward_errors_name_the_layer) {
    Model *m = nt_model("{'nodes':[{'name':'conv1','type':'conv2d','config':{'in_channels':1,'out_channels':6,"
                        "'kernel_size':5}},{'name':'flat','type':'flatten'},"
                        "{'name':'fc1','type':'linear','config':{'in_features':400,'out_features':10}}]}");
    int64_t s3[] = {2, 3, 28, 28}, s1[] = {2, 1, 24, 24}, s0[] = {2, 1, 3, 3}, g[] = {2, 10};
    Tensor x3, x1, x0, d;
    tensor_init(&x3, 4, s3), tensor_init(&x1, 4, s1), tensor_init(&x0, 4, s0), tensor_init(&d, 2, g);
    CHECK(model_backward(m, &d, NULL, 0, NULL, 1) == SN_ERR && has("backward before forward"));
    CHECK(model_forward(m, &x3, NULL, 1) == SN_ERR && has("conv2d 'conv1': input has 3 channels, weight expects 1"));
    CHECK(model_forward(m, &x1, NULL, 1) == SN_ERR && has("linear 'fc1': input has 2400 features, weight expects 400"));
    CHECK(model_forward(m, &x0, NULL, 1) == SN_ERR && has("conv2d 'conv1': input [2, 1, 3, 3] is too small"));
    CHECK(model_backward(m, &d, NULL, 0, NULL, 1) == SN_ERR && has("backward before forward"));
    Tensor x2 = x1;
    tensor_reshape(&x2, &x1, 3, (int64_t[]){2, 24, 24});
    CHECK(model_forward(m, &x2, NULL, 1) == SN_ERR && has("expected a 4-d input [N, C, H, W], got [2, 24, 24]"));
    Model *l = nt_model("{'nodes':[{'name':'fc1','type':'linear','config':{'in_features':400,'out_features':10}}]}");
    CHECK(model_forward(l, &x1, NULL, 1) == SN_ERR && has("linear 'fc1': expected a 2-d input [N, 400]") &&
          has("flatten"));
    int64_t s5[] = {2, 400};
    Tensor x5, bad;
    tensor_init(&x5, 2, s5), tensor_init(&bad, 2, (int64_t[]){2, 9});
    CHECK(model_forward(l, &x5, NULL, 1) == SN_OK);
    CHECK(model_backward(l, &bad, NULL, 0, NULL, 1) == SN_ERR && has("[2, 9]") && has("[2, 10]"));
    tensor_release(&x3), tensor_release(&x1), tensor_release(&x0), tensor_release(&d), tensor_release(&x2);
    tensor_release(&x5), tensor_release(&bad);
    model_free(m), model_free(l);
}

TEST(model_build_errors) {
    Model *m = model_new(0);
    LayerConfig c;
    layer_config_default(&c, LAYER_CONV2D);
    c.in = 4, c.out = 6, c.kernel[0] = c.kernel[1] = 3, c.groups = 3;
    int in[2] = {MODEL_INPUT, MODEL_INPUT};
    CHECK(model_add(m, "c", LAYER_CONV2D, &c, 1, in) == SN_ERR &&
          has("conv2d 'c': in_channels (4) must be divisible by groups (3)"));
    c.groups = 1;
    CHECK(model_add(m, "bad name", LAYER_CONV2D, &c, 1, in) == SN_ERR && has("invalid layer name 'bad name'"));
    CHECK(model_add(m, "input", LAYER_CONV2D, &c, 1, in) == SN_ERR && has("reserved"));
    CHECK(model_add(m, "c", LAYER_CONV2D, &c, 2, in) == SN_ERR && has("takes 1 input, got 2"));
    CHECK(model_add(m, "c", LAYER_CONV2D, &c, 1, (int[]){3}) == SN_ERR && has("not an earlier layer"));
    CHECK(model_add(m, "c", LAYER_CONV2D, &c, 1, in) == 0);
    CHECK(model_add(m, "c", LAYER_RELU, &c, 1, (int[]){0}) == SN_ERR && has("a layer named 'c' already exists"));
    CHECK(model_set_input_shape(m, 3, (int64_t[]){4, 8, 8}) == SN_ERR && has("before the first layer"));
    CHECK(model_add(m, "r", LAYER_RELU, &c, 1, (int[]){0}) == 1);
    CHECK(model_add(m, "dangling", LAYER_RELU, &c, 1, (int[]){0}) == 2);
    CHECK(model_add(m, "last", LAYER_TANH, &c, 1, (int[]){1}) == 3);
    CHECK(model_finish(m) == SN_ERR && has("layer 'dangling' does not feed the output layer 'last'"));
    model_free(m);
    /* with an input shape, shapes are checked as layers are added */
    m = model_new(0);
    CHECK(model_set_input_shape(m, 3, (int64_t[]){4, 8, 8}) == SN_OK);
    CHECK(model_add(m, "c", LAYER_CONV2D, &c, 1, in) == 0);
    CHECK(m->nodes[0].out_shape.dim[2] == 6);
    LayerConfig a;
    layer_config_default(&a, LAYER_ADD);
    CHECK(model_add(m, "sum", LAYER_ADD, &a, 2, (int[]){0, MODEL_INPUT}) == SN_ERR &&
          has("add 'sum': inputs have different shapes [1, 6, 6, 6] and [1, 4, 8, 8]"));
    CHECK(m->nnodes == 1);
    LayerConfig l;
    layer_config_default(&l, LAYER_LINEAR);
    l.in = 10, l.out = 2;
    CHECK(model_add(m, "fc", LAYER_LINEAR, &l, 1, (int[]){0}) == SN_ERR && has("linear 'fc': expected a 2-d input"));
    CHECK(model_forward(m, NULL, NULL, 1) == SN_ERR && has("not built"));
    model_free(m);
    m = model_new(0);
    CHECK(model_finish(m) == SN_ERR && has("no layers"));
    model_free(m);
}

TEST(model_json_round_trip) {
    Model *m = net();
    char *j1 = model_to_json(m);
    Model *r = model_from_json(j1);
    CHECK(r != NULL);
    if (!r) {
        fprintf(stderr, "%s\n", sn_errmsg());
        free(j1);
        model_free(m);
        return;
    }
    char *j2 = model_to_json(r);
    CHECK(strcmp(j1, j2) == 0);
    CHECK(strstr(j1, "\"eps\":\t1e-05") != NULL);
    CHECK_EQ_INT(r->nnodes, m->nnodes);
    CHECK_EQ_INT(model_num_parameters(r), model_num_parameters(m));
    /* same seed: same initial weights */
    Model *fresh = nt_model(NET);
    CHECK(nt_bitwise_equal(&r->nodes[0].param[0], &fresh->nodes[0].param[0]));
    CHECK(r->in_shape.ndim == 4 && r->in_shape.dim[1] == 3);
    free(j1), free(j2);
    model_free(m), model_free(r), model_free(fresh);
}

TEST(model_json_defaults_and_errors) {
    /* inputs may be omitted (chain), pairs may be numbers, pool stride = kernel */
    Model *m = nt_model("{'nodes':[{'name':'p','type':'maxpool2d','config':{'kernel_size':3}}]}");
    CHECK(m && m->nodes[0].cfg.stride[1] == 3 && m->nodes[0].cfg.padding[0] == 0);
    model_free(m);
    struct {
        const char *json, *frag;
    } bad[] = {
        {"{", "not valid JSON"},
        {"[]", "top level must be an object"},
        {"{'nodes':[]}", "'nodes' must be a non-empty array"},
        {"{'format':'x','nodes':[{'name':'a','type':'relu'}]}", "'format'"},
        {"{'version':2,'nodes':[{'name':'a','type':'relu'}]}", "version"},
        {"{'nodes':[{'name':'a','type':'conv3d'}]}",
         "node 1 ('a'): unknown layer type 'conv3d' (known: linear, conv2d"},
        {"{'nodes':[{'name':'a','type':'relu','config':{'slope':1}}]}", "unknown config key 'slope' (valid: none)"},
        {"{'nodes':[{'name':'a','type':'leaky_relu','config':{'slope':1}}]}", "(valid: negative_slope)"},
        {"{'nodes':[{'name':'a','type':'linear','config':{'in_features':3}}]}", "missing config key 'out_features'"},
        {"{'nodes':[{'name':'a','type':'linear','config':{'in_features':3.5,'out_features':2}}]}",
         "'in_features' must be an integer"},
        {"{'nodes':[{'name':'a','type':'conv2d','config':{'in_channels':1,'out_channels':1,'kernel_size':[1,2,3]}}]}",
         "'kernel_size' must be an integer or a pair"},
        {"{'nodes':[{'name':'a','type':'linear','config':{'in_features':3,'out_features':2,'bias':1}}]}",
         "'bias' must be true or false"},
        {"{'nodes':[{'name':'a','type':'linear','config':{'in_features':3,'out_features':2,'init':'he'}}]}",
         "one of: kaiming_uniform, glorot_uniform, normal"},
        {"{'nodes':[{'name':'a','type':'relu','inputs':['nope']}]}", "input 'nope' is not an earlier layer"},
        {"{'nodes':[{'name':'a','type':'relu','oops':1}]}", "unknown key 'oops'"},
        {"{'nodes':[{'name':'a','type':'relu'},{'name':'a','type':'relu'}]}", "a layer named 'a' already exists"},
        {"{'nodes':[{'name':'a','type':'dropout','config':{'p':1.5}}]}", "dropout 'a': p must be in [0, 1]"},
        {"{'nodes':[{'name':'a','type':'maxpool2d','config':{'kernel_size':2,'padding':2}}]}",
         "padding (2) must be at most half the kernel size (2)"},
        {"{'input_shape':[1,4,4],'nodes':[{'name':'a','type':'conv2d','config':{'in_channels':2,'out_channels':1,"
         "'kernel_size':3}}]}",
         "conv2d 'a': input has 1 channels, weight expects 2"},
        {"{'seed':-1,'nodes':[{'name':'a','type':'relu'}]}", "'seed' must be a non-negative integer"},
        {"{'nodes':[{'name':'a','type':'add','inputs':['input']}]}", "add 'a': takes 2 inputs, got 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *s = strdup(bad[i].json);
        for (char *p = s; *p; p++)
            if (*p == '\'') *p = '"';
        Model *x = model_from_json(s);
        CHECK_MSG(x == NULL, "JSON case %zu built a model", i);
        CHECK_MSG(strstr(sn_errmsg(), bad[i].frag) != NULL && strncmp(sn_errmsg(), "model JSON: ", 12) == 0,
                  "JSON case %zu: message '%s' lacks '%s'", i, sn_errmsg(), bad[i].frag);
        model_free(x);
        free(s);
    }
}

TEST(model_summary_table) {
    Model *m = net();
    char *s = model_summary(m);
    CHECK(strstr(s, "Model: 16 layers") && strstr(s, "eval mode"));
    CHECK(strstr(s, "add1") && strstr(s, "c2, r1")); /* inputs column for graphs */
    CHECK(strstr(s, "[16, 3, 3]"));                  /* c3's output shape */
    char total[64];
    snprintf(total, sizeof total, "total parameters: %lld", (long long)model_num_parameters(m));
    CHECK(strstr(s, total));
    free(s);
    model_free(m);
}

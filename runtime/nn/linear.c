/* nn/linear.c — the fully connected layer (see linear.h): forward and input
 * gradient as row blocks of the position-independent GEMM (nn/gemm.h) on
 * weights packed once per call, weight gradient as one cblas_sgemm per block
 * of NN_GRAD_BLOCK samples, and the LayerOps of kind "linear".
 * Does not flatten: a 4-d input is an error naming the missing flatten. */
#include "nn/linear.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "nn/gemm.h"
#include "nn/layer.h"

typedef struct {
    float *out;
    const float *x, *w, *b, *dout;
    const float *pw; /* packed weights (gemm_pack_b) */
    int in, outf;
    int assign; /* input gradient: write dx instead of adding into it */
} LinearJob;

/* One row range per thread, a multiple of the microkernel's GEMM_MR rows:
 * smaller ranges only cut the GEMM into short tiles (4 rows use 8 of 12
 * accumulators), and the per-row cost is uniform. */
static int64_t grain_for(int64_t n, int nthreads) {
    int64_t t = nthreads > 0 ? nthreads : 1, g = (n + t - 1) / t;
    g = (g + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
    return g < 1 ? 1 : g;
}

static int forward_range(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    LinearJob *j = ctx;
    float *o = j->out + b * j->outf;
    if (j->b)
        for (int64_t i = b; i < e; i++) memcpy(j->out + i * j->outf, j->b, sizeof(float) * (size_t)j->outf);
    gemm_run(GEMM_AUTO, e - b, j->outf, j->in, j->x + b * j->in, j->in, 1, j->pw, o, j->outf, j->b != NULL);
    return SN_OK;
}

/* The weights as the packed B of a GEMM: W^T (forward) or W (input gradient). */
static float *pack_weights(const float *w, int in, int out_features, int transpose) {
    int64_t k = transpose ? in : out_features, n = transpose ? out_features : in;
    float *p = nn_scratch_alloc(1, gemm_packed_floats(n, k));
    if (p) gemm_pack_b(p, w, k, n, transpose ? 1 : in, transpose ? in : 1);
    return p;
}

/* Packs the weights for j (transposed for the forward), then runs fn over
 * the n rows. */
static int run_packed(LinearJob *j, int transpose, int64_t n, NNRangeFn fn, int nthreads) {
    float *pw = pack_weights(j->w, j->in, j->outf, transpose);
    if (!pw) return SN_ERR;
    j->pw = pw;
    int rc = nn_parallel(nthreads, n, grain_for(n, nthreads), fn, j);
    nn_scratch_free(pw);
    return rc;
}

int linear_forward(float *out, const float *x, const float *w, const float *b, int64_t n, int in, int out_features,
                   int nthreads) {
    LinearJob j = {.out = out, .x = x, .w = w, .b = b, .in = in, .outf = out_features};
    return run_packed(&j, 1, n, forward_range, nthreads);
}

static int backward_input_range(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    LinearJob *j = ctx;
    gemm_run(GEMM_AUTO, e - b, j->in, j->outf, j->dout + b * j->outf, j->outf, 1, j->pw, j->out + b * j->in, j->in,
             !j->assign);
    return SN_OK;
}

static int backward_input(float *dx, const float *dout, const float *w, int64_t n, int in, int out_features, int assign,
                          int nthreads) {
    LinearJob j = {.out = dx, .w = w, .dout = dout, .in = in, .outf = out_features, .assign = assign};
    return run_packed(&j, 0, n, backward_input_range, nthreads);
}

int linear_backward_input(float *dx, const float *dout, const float *w, int64_t n, int in, int out_features,
                          int nthreads) {
    return backward_input(dx, dout, w, n, in, out_features, 0, nthreads);
}

static int weight_block(void *ctx, int64_t s0, int64_t s1, float *acc, int slot) {
    (void)slot;
    LinearJob *j = ctx;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j->outf, j->in, (int)(s1 - s0), 1.0f, j->dout + s0 * j->outf,
                j->outf, j->x + s0 * j->in, j->in, 0.0f, acc, j->in);
    return SN_OK;
}

int linear_backward_params(float *dw, float *db, const float *dout, const float *x, int64_t n, int in, int out_features,
                           int nthreads) {
    if (db)
        for (int o = 0; o < out_features; o++) {
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += dout[i * out_features + o];
            db[o] += (float)s;
        }
    if (!dw) return SN_OK;
    LinearJob j = {.x = x, .dout = dout, .in = in, .outf = out_features};
    return nn_sum_blocks(nthreads, n, (int64_t)in * out_features, dw, weight_block, &j);
}

/* ---- LayerOps ---- */

static int lin_check(const LayerConfig *c) {
    if (c->in < 1) return sn_errorf("in_features must be at least 1, got %d", c->in);
    if (c->out < 1) return sn_errorf("out_features must be at least 1, got %d", c->out);
    if (!(c->init_std >= 0)) return sn_errorf("init_std must be non-negative, got %g", (double)c->init_std);
    return SN_OK;
}

static void lin_param_shapes(const LayerConfig *c, int *np, Shape *p, int *nb, Shape *b) {
    (void)b;
    *np = c->bias ? 2 : 1;
    p[0] = (Shape){2, {c->out, c->in}};
    p[1] = (Shape){1, {c->out}};
    *nb = 0;
}

static int lin_out_shape(const LayerConfig *c, const Shape *in, Shape *out) {
    char buf[160];
    if (in->ndim != 2)
        return sn_errorf("expected a 2-d input [N, %d], got %s%s", c->in, shape_fmt(in, buf, sizeof buf),
                         in->ndim > 2 ? " (add a flatten layer before it)" : "");
    if (in->dim[1] != c->in)
        return sn_errorf("input has %lld features, weight expects %d (input %s, weight [%d, %d])",
                         (long long)in->dim[1], c->in, shape_fmt(in, buf, sizeof buf), c->out, c->in);
    *out = (Shape){2, {in->dim[0], c->out}};
    return SN_OK;
}

static int lin_forward(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    return linear_forward(tensor_data(out), tensor_data(in[0]), tensor_data(&n->param[0]),
                          n->nparams > 1 ? tensor_data(&n->param[1]) : NULL, in[0]->shape[0], n->cfg.in, n->cfg.out,
                          run->nthreads);
}

static int lin_backward(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,
                        const LayerRun *run) {
    int64_t N = in[0]->shape[0];
    if (d_in[0] && backward_input(tensor_data(d_in[0]), tensor_data(d_out), tensor_data(&n->param[0]), N, n->cfg.in,
                                  n->cfg.out, run->fresh & 1, run->nthreads) != SN_OK)
        return SN_ERR;
    if (!run->want_param_grads) return SN_OK;
    return linear_backward_params(tensor_data(&n->grad[0]), n->nparams > 1 ? tensor_data(&n->grad[1]) : NULL,
                                  tensor_data(d_out), tensor_data(in[0]), N, n->cfg.in, n->cfg.out, run->nthreads);
}

static void lin_init(Node *n, uint64_t seed, const char *purpose) {
    const LayerConfig *c = &n->cfg;
    layer_init_fill(tensor_data(&n->param[0]), tensor_numel(&n->param[0]), c->init, c->in, c->out, c->init_std, seed,
                    layer_param_stream(purpose, n->name, "weight"));
    if (n->nparams > 1)
        layer_init_bias(tensor_data(&n->param[1]), tensor_numel(&n->param[1]), c->init, c->in, seed,
                        layer_param_stream(purpose, n->name, "bias"));
}

const LayerOps layer_linear_ops = {"linear",     1,       0, lin_check, lin_param_shapes, lin_out_shape, lin_forward,
                                   lin_backward, lin_init, 1};

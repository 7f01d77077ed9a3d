/* nn/structural.c — layers that move data but compute nothing: flatten and
 * identity (forward is a view of the input, no copy) and add (the join of a
 * residual connection, two inputs of equal shape, no broadcasting). */
#include <string.h>

#include "error.h"
#include "nn/layer.h"

static int flatten_shape(const LayerConfig *c, const Shape *in, Shape *out) {
    (void)c;
    if (in->ndim < 1) return sn_errorf("expected an input with a batch dimension, got a scalar");
    *out = (Shape){2, {in->dim[0], shape_numel(in->ndim - 1, in->dim + 1)}};
    return SN_OK;
}

/* Alias kinds: `out` is empty on entry and becomes a view of the input. */
static int view_forward(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    (void)run;
    Shape s = shape_of(in[0]);
    if (n->kind == LAYER_FLATTEN) s = (Shape){2, {in[0]->shape[0], tensor_row_numel(in[0])}};
    return tensor_reshape(out, in[0], s.ndim, s.dim);
}

typedef struct {
    float *y;
    const float *a, *b;
    int assign;
    int relu;              /* forward: y = relu(a + b) (LayerRun.post_relu) */
    const float *relu_out; /* backward: a is the gradient at a ReLU's output relu_out */
} SumJob;

/* y[i] = a[i] + b[i] (relu: then the ReLU's v > 0 ? v : 0), y[i] = a[i]
 * (b NULL, assign) or y[i] += a[i]; with relu_out, a[i] is first masked as
 * the ReLU's backward does (relu_out > 0 ? a : 0). */
NN_WIDE_LOOPS static int sum_range(void *ctx, int64_t lo, int64_t hi, int worker) {
    (void)worker;
    SumJob *j = ctx;
    float *restrict y = j->y;
    const float *restrict a = j->a, *restrict b = j->b, *restrict r = j->relu_out;
    if (b && j->relu)
        for (int64_t i = lo; i < hi; i++) {
            float v = a[i] + b[i];
            y[i] = v > 0 ? v : 0.0f;
        }
    else if (b)
        for (int64_t i = lo; i < hi; i++) y[i] = a[i] + b[i];
    else if (r && j->assign)
        for (int64_t i = lo; i < hi; i++) y[i] = r[i] > 0 ? a[i] : 0.0f;
    else if (r)
        for (int64_t i = lo; i < hi; i++) y[i] += r[i] > 0 ? a[i] : 0.0f;
    else if (j->assign)
        memcpy(y + lo, a + lo, sizeof(float) * (size_t)(hi - lo));
    else
        for (int64_t i = lo; i < hi; i++) y[i] += a[i];
    return SN_OK;
}

static int sum(float *y, const float *a, const float *b, int64_t n, int assign, int nthreads) {
    SumJob j = {y, a, b, assign, 0, NULL};
    return nn_parallel(nthreads, n, 65536, sum_range, &j);
}

static int copy_backward(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,
                         const LayerRun *run) {
    (void)n, (void)in;
    if (!d_in[0]) return SN_OK;
    return sum(tensor_data(d_in[0]), tensor_data(d_out), NULL, tensor_numel(d_out), run->fresh & 1, run->nthreads);
}

static int add_shape(const LayerConfig *c, const Shape *in, Shape *out) {
    (void)c;
    if (!shape_equal(&in[0], &in[1])) {
        char a[160], b[160];
        return sn_errorf("inputs have different shapes %s and %s", shape_fmt(&in[0], a, sizeof a),
                         shape_fmt(&in[1], b, sizeof b));
    }
    *out = in[0];
    return SN_OK;
}

/* With run->post_relu (model.h: fold_add_relu) the ReLU after the add runs
 * here: the activation is the ReLU's, and the gradient arrives at it. */
static int add_forward(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    (void)n;
    SumJob j = {tensor_data(out), tensor_data(in[0]), tensor_data(in[1]), 0, run->post_relu, NULL};
    return nn_parallel(run->nthreads, tensor_numel(out), 65536, sum_range, &j);
}

/* The two inputs may be the same tensor (add(x, x)): one after the other
 * (only the first is then fresh). */
static int add_backward(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,
                        const LayerRun *run) {
    (void)in;
    for (int k = 0; k < 2; k++) {
        if (!d_in[k]) continue;
        SumJob j = {tensor_data(d_in[k]), tensor_data(d_out), NULL, (run->fresh >> k) & 1, 0,
                    run->post_relu ? tensor_data(&n->output) : NULL};
        if (nn_parallel(run->nthreads, tensor_numel(d_out), 65536, sum_range, &j) != SN_OK) return SN_ERR;
    }
    return SN_OK;
}

const LayerOps layer_flatten_ops = {"flatten",     1,      1, layer_no_check, layer_no_params, flatten_shape, view_forward,
                                    copy_backward, layer_no_init, 1};
const LayerOps layer_identity_ops = {"identity",    1,      1, layer_no_check, layer_no_params, layer_same_shape, view_forward,
                                     copy_backward, layer_no_init, 1};
const LayerOps layer_add_ops = {"add", 2, 0, layer_no_check, layer_no_params, add_shape, add_forward, add_backward, layer_no_init, 1};

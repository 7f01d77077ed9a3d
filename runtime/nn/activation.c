/* nn/activation.c — relu, leaky_relu, tanh, sigmoid (elementwise, parallel
 * over fixed chunks) and softmax / log_softmax over dim 1 (parallel over
 * samples), with their LayerOps. Elementwise results do not depend on how
 * the array is split, so chunking is free to follow the thread count. */
#include "nn/activation.h"

#include <math.h>

#include "error.h"
#include "nn/layer.h"

#define CHUNK 16384 /* elements per task: large enough to hide thread start-up */

typedef enum { A_RELU, A_LEAKY, A_TANH, A_SIGMOID } Act;

typedef struct {
    Act act;
    float *y;
    const float *x, *dy;
    float slope;
    int assign; /* backward: write dx instead of adding into it */
} ActJob;

static int act_fwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    ActJob *j = ctx;
    float *restrict y = j->y;
    const float *restrict x = j->x;
    const float slope = j->slope;
    /* loads and selects written unconditionally so the loops vectorize */
    switch (j->act) {
    case A_RELU:
        for (int64_t i = b; i < e; i++) {
            float v = x[i];
            y[i] = v > 0 ? v : 0.0f;
        }
        break;
    case A_LEAKY:
        for (int64_t i = b; i < e; i++) {
            float v = x[i], n = v * slope;
            y[i] = v > 0 ? v : n;
        }
        break;
    case A_TANH:
        for (int64_t i = b; i < e; i++) y[i] = tanhf(x[i]);
        break;
    case A_SIGMOID:
        for (int64_t i = b; i < e; i++) {
            float v = x[i];
            y[i] = v >= 0 ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
        }
        break;
    }
    return SN_OK;
}

/* Backward: x holds the output y (relu, tanh, sigmoid) or the input (leaky).
 * dx = (assign ? 0 : dx) + the local gradient, as two loops that vectorize. */
#define BWD_LOOP(expr)                                                                                                 \
    do {                                                                                                               \
        if (j->assign)                                                                                                 \
            for (int64_t i = b; i < e; i++) dx[i] = (expr);                                                            \
        else                                                                                                           \
            for (int64_t i = b; i < e; i++) dx[i] += (expr);                                                           \
    } while (0)

/* The loads are function arguments, so they happen unconditionally and the
 * select vectorizes (a conditional load of dy would not). */
static inline float relu_grad(float v, float g) {
    return v > 0 ? g : 0.0f;
}
static inline float leaky_grad(float v, float g, float slope) {
    float n = g * slope;
    return v > 0 ? g : n;
}

static int act_bwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    ActJob *j = ctx;
    float *restrict dx = j->y;
    const float *restrict v = j->x, *restrict dy = j->dy;
    const float slope = j->slope;
    switch (j->act) {
    case A_RELU:
        BWD_LOOP(relu_grad(v[i], dy[i]));
        break;
    case A_LEAKY:
        BWD_LOOP(leaky_grad(v[i], dy[i], slope));
        break;
    case A_TANH:
        BWD_LOOP(dy[i] * (1.0f - v[i] * v[i]));
        break;
    case A_SIGMOID:
        BWD_LOOP(dy[i] * v[i] * (1.0f - v[i]));
        break;
    }
    return SN_OK;
}
#undef BWD_LOOP

static int run_fwd(Act a, float *y, const float *x, float slope, int64_t n, int nthreads) {
    ActJob j = {a, y, x, NULL, slope, 0};
    return nn_parallel(nthreads, n, CHUNK, act_fwd, &j);
}

static int run_bwd(Act a, float *dx, const float *dy, const float *v, float slope, int64_t n, int nthreads,
                   int assign) {
    ActJob j = {a, dx, v, dy, slope, assign};
    return nn_parallel(nthreads, n, CHUNK, act_bwd, &j);
}

int relu_forward(float *y, const float *x, int64_t n, int nthreads) {
    return run_fwd(A_RELU, y, x, 0, n, nthreads);
}
int relu_backward(float *dx, const float *dy, const float *y, int64_t n, int nthreads) {
    return run_bwd(A_RELU, dx, dy, y, 0, n, nthreads, 0);
}
int leaky_relu_forward(float *y, const float *x, float slope, int64_t n, int nthreads) {
    return run_fwd(A_LEAKY, y, x, slope, n, nthreads);
}
int leaky_relu_backward(float *dx, const float *dy, const float *x, float slope, int64_t n, int nthreads) {
    return run_bwd(A_LEAKY, dx, dy, x, slope, n, nthreads, 0);
}
int tanh_forward(float *y, const float *x, int64_t n, int nthreads) {
    return run_fwd(A_TANH, y, x, 0, n, nthreads);
}
int tanh_backward(float *dx, const float *dy, const float *y, int64_t n, int nthreads) {
    return run_bwd(A_TANH, dx, dy, y, 0, n, nthreads, 0);
}
int sigmoid_forward(float *y, const float *x, int64_t n, int nthreads) {
    return run_fwd(A_SIGMOID, y, x, 0, n, nthreads);
}
int sigmoid_backward(float *dx, const float *dy, const float *y, int64_t n, int nthreads) {
    return run_bwd(A_SIGMOID, dx, dy, y, 0, n, nthreads, 0);
}

/* ---- softmax over dim 1 ---- */

typedef struct {
    float *out;
    const float *x, *dy;
    int c;
    int64_t s;
    int log;
    int assign; /* backward: dx is uninitialized; zero each row first */
} SoftJob;

static int soft_fwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    SoftJob *j = ctx;
    for (int64_t i = b; i < e; i++)
        for (int64_t p = 0; p < j->s; p++) {
            const float *x = j->x + i * j->c * j->s + p;
            float *y = j->out + i * j->c * j->s + p;
            float mx = -INFINITY;
            for (int k = 0; k < j->c; k++) mx = x[k * j->s] > mx ? x[k * j->s] : mx;
            double sum = 0;
            for (int k = 0; k < j->c; k++) sum += exp((double)x[k * j->s] - mx);
            if (j->log) {
                float lse = (float)log(sum);
                for (int k = 0; k < j->c; k++) y[k * j->s] = x[k * j->s] - mx - lse;
            } else {
                for (int k = 0; k < j->c; k++) y[k * j->s] = (float)(exp((double)x[k * j->s] - mx) / sum);
            }
        }
    return SN_OK;
}

/* Here `out` is dx and `x` is the forward output y. */
static int soft_bwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    SoftJob *j = ctx;
    for (int64_t i = b; i < e; i++)
        for (int64_t p = 0; p < j->s; p++) {
            const float *y = j->x + i * j->c * j->s + p, *dy = j->dy + i * j->c * j->s + p;
            float *dx = j->out + i * j->c * j->s + p;
            double dot = 0;
            if (j->assign)
                for (int k = 0; k < j->c; k++) dx[k * j->s] = 0;
            if (j->log) {
                for (int k = 0; k < j->c; k++) dot += dy[k * j->s];
                for (int k = 0; k < j->c; k++) dx[k * j->s] += dy[k * j->s] - expf(y[k * j->s]) * (float)dot;
            } else {
                for (int k = 0; k < j->c; k++) dot += (double)dy[k * j->s] * y[k * j->s];
                for (int k = 0; k < j->c; k++) dx[k * j->s] += y[k * j->s] * (dy[k * j->s] - (float)dot);
            }
        }
    return SN_OK;
}

static int64_t sample_grain(int64_t n, int nthreads) {
    int64_t g = n / (4 * (int64_t)(nthreads > 0 ? nthreads : 1));
    return g < 1 ? 1 : g;
}

int softmax_forward(float *y, const float *x, int64_t n, int c, int64_t s, int nthreads) {
    SoftJob j = {y, x, NULL, c, s, 0, 0};
    return nn_parallel(nthreads, n, sample_grain(n, nthreads), soft_fwd, &j);
}
int log_softmax_forward(float *y, const float *x, int64_t n, int c, int64_t s, int nthreads) {
    SoftJob j = {y, x, NULL, c, s, 1, 0};
    return nn_parallel(nthreads, n, sample_grain(n, nthreads), soft_fwd, &j);
}
static int run_soft_bwd(float *dx, const float *dy, const float *y, int64_t n, int c, int64_t s, int log, int assign,
                        int nthreads) {
    SoftJob j = {dx, y, dy, c, s, log, assign};
    return nn_parallel(nthreads, n, sample_grain(n, nthreads), soft_bwd, &j);
}
int softmax_backward(float *dx, const float *dy, const float *y, int64_t n, int c, int64_t s, int nthreads) {
    return run_soft_bwd(dx, dy, y, n, c, s, 0, 0, nthreads);
}
int log_softmax_backward(float *dx, const float *dy, const float *y, int64_t n, int c, int64_t s, int nthreads) {
    return run_soft_bwd(dx, dy, y, n, c, s, 1, 0, nthreads);
}

/* ---- LayerOps ---- */

static int leaky_check(const LayerConfig *c) {
    if (!isfinite(c->slope)) return sn_errorf("negative_slope must be finite, got %g", (double)c->slope);
    return SN_OK;
}

static int soft_shape(const LayerConfig *c, const Shape *in, Shape *out) {
    (void)c;
    char buf[160];
    if (in->ndim < 2)
        return sn_errorf("expected an input [N, C, ...] with at least 2 dimensions, got %s",
                         shape_fmt(in, buf, sizeof buf));
    *out = in[0];
    return SN_OK;
}

#define ELEMENTWISE(kind, fwdcall, bwdcall)                                                                            \
    static int kind##_fwd_op(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {                     \
        (void)n;                                                                                                       \
        float *y = tensor_data(out);                                                                                   \
        const float *x = tensor_data(in[0]);                                                                           \
        int64_t cnt = tensor_numel(out);                                                                               \
        return fwdcall;                                                                                                \
    }                                                                                                                  \
    static int kind##_bwd_op(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,               \
                             const LayerRun *run) {                                                                    \
        (void)n;                                                                                                       \
        if (!d_in[0]) return SN_OK;                                                                                    \
        float *dx = tensor_data(d_in[0]);                                                                              \
        const float *dy = tensor_data(d_out), *x = tensor_data(in[0]), *y = tensor_data(&n->output);                   \
        (void)x, (void)y;                                                                                              \
        int64_t cnt = tensor_numel(d_out);                                                                             \
        return bwdcall;                                                                                                \
    }

ELEMENTWISE(relu, relu_forward(y, x, cnt, run->nthreads), run_bwd(A_RELU, dx, dy, y, 0, cnt, run->nthreads, run->fresh & 1))
ELEMENTWISE(leaky, leaky_relu_forward(y, x, n->cfg.slope, cnt, run->nthreads),
            run_bwd(A_LEAKY, dx, dy, x, n->cfg.slope, cnt, run->nthreads, run->fresh & 1))
ELEMENTWISE(tanh, tanh_forward(y, x, cnt, run->nthreads), run_bwd(A_TANH, dx, dy, y, 0, cnt, run->nthreads, run->fresh & 1))
ELEMENTWISE(sigmoid, sigmoid_forward(y, x, cnt, run->nthreads),
            run_bwd(A_SIGMOID, dx, dy, y, 0, cnt, run->nthreads, run->fresh & 1))
#undef ELEMENTWISE

/* [N, C, rest...] as (N, C, S). */
static void soft_dims(const Tensor *t, int64_t *n, int *c, int64_t *s) {
    *n = t->shape[0];
    *c = (int)t->shape[1];
    *s = shape_numel(t->ndim - 2, t->shape + 2);
}

static int softmax_fwd_op(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    int64_t N, S;
    int C;
    soft_dims(in[0], &N, &C, &S);
    return (n->kind == LAYER_SOFTMAX ? softmax_forward : log_softmax_forward)(tensor_data(out), tensor_data(in[0]), N,
                                                                              C, S, run->nthreads);
}

static int softmax_bwd_op(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,
                          const LayerRun *run) {
    if (!d_in[0]) return SN_OK;
    int64_t N, S;
    int C;
    soft_dims(in[0], &N, &C, &S);
    return run_soft_bwd(tensor_data(d_in[0]), tensor_data(d_out), tensor_data(&n->output), N, C, S,
                        n->kind == LAYER_LOG_SOFTMAX, run->fresh & 1, run->nthreads);
}

const LayerOps layer_relu_ops = {"relu", 1, 0, layer_no_check, layer_no_params, layer_same_shape, relu_fwd_op, relu_bwd_op, layer_no_init, 1};
const LayerOps layer_leaky_relu_ops = {"leaky_relu", 1,      0, leaky_check, layer_no_params, layer_same_shape, leaky_fwd_op,
                                       leaky_bwd_op, layer_no_init, 1};
const LayerOps layer_tanh_ops = {"tanh", 1, 0, layer_no_check, layer_no_params, layer_same_shape, tanh_fwd_op, tanh_bwd_op, layer_no_init, 1};
const LayerOps layer_sigmoid_ops = {"sigmoid",      1,      0, layer_no_check, layer_no_params, layer_same_shape, sigmoid_fwd_op,
                                    sigmoid_bwd_op, layer_no_init, 1};
const LayerOps layer_softmax_ops = {"softmax",      1,      0, layer_no_check, layer_no_params, soft_shape, softmax_fwd_op,
                                    softmax_bwd_op, layer_no_init, 1};
const LayerOps layer_log_softmax_ops = {"log_softmax",  1,      0, layer_no_check, layer_no_params, soft_shape, softmax_fwd_op,
                                        softmax_bwd_op, layer_no_init, 1};

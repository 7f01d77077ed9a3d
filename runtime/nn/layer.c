/* nn/layer.c — the registry of layer kinds, configuration defaults and
 * field tables, initializers, shapes, and the two parallel loops kernels
 * use (see layer.h). No layer arithmetic lives here; each kind has its own
 * file and exports its LayerOps table. */
#include "nn/layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "parallel.h"
#include "rng.h"

extern const LayerOps layer_linear_ops, layer_conv2d_ops, layer_maxpool2d_ops, layer_avgpool2d_ops,
    layer_adaptive_avgpool2d_ops, layer_relu_ops, layer_leaky_relu_ops, layer_tanh_ops, layer_sigmoid_ops,
    layer_softmax_ops, layer_log_softmax_ops, layer_flatten_ops, layer_batchnorm1d_ops, layer_batchnorm2d_ops,
    layer_dropout_ops, layer_add_ops, layer_identity_ops;

static const LayerOps *const registry[LAYER_KIND_COUNT] = {
    [LAYER_LINEAR] = &layer_linear_ops,
    [LAYER_CONV2D] = &layer_conv2d_ops,
    [LAYER_MAXPOOL2D] = &layer_maxpool2d_ops,
    [LAYER_AVGPOOL2D] = &layer_avgpool2d_ops,
    [LAYER_ADAPTIVE_AVGPOOL2D] = &layer_adaptive_avgpool2d_ops,
    [LAYER_RELU] = &layer_relu_ops,
    [LAYER_LEAKY_RELU] = &layer_leaky_relu_ops,
    [LAYER_TANH] = &layer_tanh_ops,
    [LAYER_SIGMOID] = &layer_sigmoid_ops,
    [LAYER_SOFTMAX] = &layer_softmax_ops,
    [LAYER_LOG_SOFTMAX] = &layer_log_softmax_ops,
    [LAYER_FLATTEN] = &layer_flatten_ops,
    [LAYER_BATCHNORM1D] = &layer_batchnorm1d_ops,
    [LAYER_BATCHNORM2D] = &layer_batchnorm2d_ops,
    [LAYER_DROPOUT] = &layer_dropout_ops,
    [LAYER_ADD] = &layer_add_ops,
    [LAYER_IDENTITY] = &layer_identity_ops,
};

const LayerOps *layer_ops(LayerKind kind) {
    return registry[kind];
}

const char *layer_kind_name(LayerKind kind) {
    return kind >= 0 && kind < LAYER_KIND_COUNT ? registry[kind]->name : "?";
}

int layer_kind_from_name(const char *name) {
    for (int k = 0; k < LAYER_KIND_COUNT; k++)
        if (strcmp(registry[k]->name, name) == 0) return k;
    return -1;
}

const char *layer_kind_list(void) {
    return "linear, conv2d, maxpool2d, avgpool2d, adaptive_avgpool2d, relu, leaky_relu, tanh, sigmoid, softmax, "
           "log_softmax, flatten, batchnorm1d, batchnorm2d, dropout, add, identity";
}

void layer_config_default(LayerConfig *c, LayerKind kind) {
    (void)kind;
    memset(c, 0, sizeof *c);
    c->stride[0] = c->stride[1] = 1;
    c->dilation[0] = c->dilation[1] = 1;
    c->groups = 1;
    c->bias = 1;
    c->output_size[0] = c->output_size[1] = 1;
    c->count_include_pad = 1;
    c->eps = 1e-5f;
    c->momentum = 0.1f;
    c->slope = 0.01f;
    c->p = 0.5f;
    c->init = INIT_KAIMING_UNIFORM;
    c->init_std = 0.01f;
}

/* ---- configuration fields ---- */

#define F(name, type, member, req)                                                                                     \
    { name, type, offsetof(LayerConfig, member), req }
static const LayerField f_linear[] = {F("in_features", FIELD_INT, in, 1), F("out_features", FIELD_INT, out, 1),
                                      F("bias", FIELD_BOOL, bias, 0), F("init", FIELD_INIT, init, 0),
                                      F("init_std", FIELD_FLOAT, init_std, 0)};
static const LayerField f_conv2d[] = {F("in_channels", FIELD_INT, in, 1),      F("out_channels", FIELD_INT, out, 1),
                                      F("kernel_size", FIELD_PAIR, kernel, 1), F("stride", FIELD_PAIR, stride, 0),
                                      F("padding", FIELD_PAIR, padding, 0),    F("dilation", FIELD_PAIR, dilation, 0),
                                      F("groups", FIELD_INT, groups, 0),       F("bias", FIELD_BOOL, bias, 0),
                                      F("init", FIELD_INIT, init, 0),          F("init_std", FIELD_FLOAT, init_std, 0)};
static const LayerField f_maxpool[] = {F("kernel_size", FIELD_PAIR, kernel, 1), F("stride", FIELD_PAIR, stride, 0),
                                       F("padding", FIELD_PAIR, padding, 0)};
static const LayerField f_avgpool[] = {F("kernel_size", FIELD_PAIR, kernel, 1), F("stride", FIELD_PAIR, stride, 0),
                                       F("padding", FIELD_PAIR, padding, 0),
                                       F("count_include_pad", FIELD_BOOL, count_include_pad, 0)};
static const LayerField f_adaptive[] = {F("output_size", FIELD_PAIR, output_size, 1)};
static const LayerField f_leaky[] = {F("negative_slope", FIELD_FLOAT, slope, 0)};
static const LayerField f_bn[] = {F("num_features", FIELD_INT, in, 1), F("eps", FIELD_FLOAT, eps, 0),
                                  F("momentum", FIELD_FLOAT, momentum, 0)};
static const LayerField f_dropout[] = {F("p", FIELD_FLOAT, p, 0)};
#undef F

const LayerField *layer_fields(LayerKind kind, int *n) {
#define RET(arr)                                                                                                       \
    do {                                                                                                               \
        *n = (int)(sizeof arr / sizeof arr[0]);                                                                        \
        return arr;                                                                                                    \
    } while (0)
    switch (kind) {
    case LAYER_LINEAR:
        RET(f_linear);
    case LAYER_CONV2D:
        RET(f_conv2d);
    case LAYER_MAXPOOL2D:
        RET(f_maxpool);
    case LAYER_AVGPOOL2D:
        RET(f_avgpool);
    case LAYER_ADAPTIVE_AVGPOOL2D:
        RET(f_adaptive);
    case LAYER_LEAKY_RELU:
        RET(f_leaky);
    case LAYER_BATCHNORM1D:
    case LAYER_BATCHNORM2D:
        RET(f_bn);
    case LAYER_DROPOUT:
        RET(f_dropout);
    default:
        *n = 0;
        return NULL;
    }
#undef RET
}

static const char *const init_names[INIT_KIND_COUNT] = {"kaiming_uniform", "glorot_uniform", "normal"};

const char *init_kind_name(InitKind k) {
    return k >= 0 && k < INIT_KIND_COUNT ? init_names[k] : "?";
}

int init_kind_from_name(const char *name) {
    for (int k = 0; k < INIT_KIND_COUNT; k++)
        if (strcmp(init_names[k], name) == 0) return k;
    return -1;
}

const char *init_kind_list(void) {
    return "kaiming_uniform, glorot_uniform, normal";
}

const char *layer_param_name(int k) {
    return k == 0 ? "weight" : "bias";
}

const char *layer_buffer_name(int k) {
    static const char *const names[NODE_MAX_BUFFERS] = {"running_mean", "running_var", "num_batches_tracked"};
    return k >= 0 && k < NODE_MAX_BUFFERS ? names[k] : "?";
}

int64_t node_num_parameters(const Node *n) {
    int64_t total = 0;
    for (int k = 0; k < n->nparams; k++) total += tensor_numel(&n->param[k]);
    return total;
}

/* ---- initializers ---- */

uint64_t layer_param_stream(const char *purpose, const char *node, const char *param) {
    return rng_stream(purpose, rng_hash_string(node), rng_hash_string(param));
}

void layer_init_uniform(float *w, int64_t n, float bound, uint64_t seed, uint64_t stream) {
    rng_uniform(w, n, seed, stream, 0);
    for (int64_t i = 0; i < n; i++) w[i] = (2.0f * w[i] - 1.0f) * bound;
}

void layer_init_fill(float *w, int64_t n, InitKind kind, double fan_in, double fan_out, float std, uint64_t seed,
                     uint64_t stream) {
    switch (kind) {
    case INIT_KAIMING_UNIFORM:
        /* gain sqrt(2/(1+a^2)) with a = sqrt(5), bound = gain*sqrt(3/fan_in) = 1/sqrt(fan_in) */
        layer_init_uniform(w, n, fan_in > 0 ? (float)(1.0 / sqrt(fan_in)) : 0.0f, seed, stream);
        break;
    case INIT_GLOROT_UNIFORM:
        layer_init_uniform(w, n, fan_in + fan_out > 0 ? (float)sqrt(6.0 / (fan_in + fan_out)) : 0.0f, seed, stream);
        break;
    case INIT_NORMAL:
        rng_normal(w, n, seed, stream, 0);
        for (int64_t i = 0; i < n; i++) w[i] *= std;
        break;
    default:
        break;
    }
}

void layer_init_bias(float *b, int64_t n, InitKind kind, double fan_in, uint64_t seed, uint64_t stream) {
    if (kind == INIT_KAIMING_UNIFORM)
        layer_init_uniform(b, n, fan_in > 0 ? (float)(1.0 / sqrt(fan_in)) : 0.0f, seed, stream);
    else
        memset(b, 0, sizeof(float) * (size_t)n);
}

/* ---- shapes ---- */

Shape shape_of(const Tensor *t) {
    Shape s;
    s.ndim = t->ndim;
    memcpy(s.dim, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    return s;
}

const char *shape_fmt(const Shape *s, char *buf, size_t n) {
    return shape_str(s->ndim, s->dim, buf, n);
}

int shape_equal(const Shape *a, const Shape *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i]) return 0;
    return 1;
}

int nn_ensure(Tensor *t, const Shape *s, int zero) {
    if (t->storage && t->storage->refcount == 1 && t->offset == 0 &&
        t->storage->numel == shape_numel(s->ndim, s->dim)) {
        t->ndim = s->ndim;
        memcpy(t->shape, s->dim, sizeof(int64_t) * (size_t)s->ndim);
        if (zero) memset(tensor_data(t), 0, sizeof(float) * (size_t)tensor_numel(t));
        return SN_OK;
    }
    tensor_release(t);
    return tensor_init(t, s->ndim, s->dim);
}

/* ---- parallel loops ---- */

typedef struct {
    NNRangeFn fn;
    void *ctx;
    int64_t n, grain;
} RangeJob;

static int range_task(void *ctx, int64_t task, int worker) {
    RangeJob *j = ctx;
    int64_t b = task * j->grain, e = b + j->grain < j->n ? b + j->grain : j->n;
    return j->fn(j->ctx, b, e, worker);
}

int nn_workers(int nthreads, int64_t n, int64_t grain) {
    if (grain < 1) grain = 1;
    int64_t tasks = (n + grain - 1) / grain;
    int w = nthreads < 1 ? 1 : nthreads > 64 ? 64 : nthreads;
    return tasks < w ? (int)(tasks > 0 ? tasks : 1) : w;
}

int nn_parallel(int nthreads, int64_t n, int64_t grain, NNRangeFn fn, void *ctx) {
    if (n <= 0) return SN_OK;
    if (grain < 1) grain = 1;
    RangeJob j = {fn, ctx, n, grain};
    int64_t tasks = (n + grain - 1) / grain;
    if (tasks == 1 || nthreads <= 1) { /* no thread start-up for small work */
        for (int64_t t = 0; t < tasks; t++)
            if (range_task(&j, t, 0) != SN_OK) return SN_ERR;
        return SN_OK;
    }
    return parallel_for(nn_workers(nthreads, n, grain), tasks, range_task, &j);
}

int64_t nn_scratch_stride(int64_t floats) {
    return (floats + 15) / 16 * 16;
}

float *nn_scratch_alloc(int nslots, int64_t floats) {
    int64_t stride = nn_scratch_stride(floats > 0 ? floats : 1);
    size_t bytes = (size_t)(nslots > 0 ? nslots : 1) * (size_t)stride * sizeof(float);
    float *p = aligned_alloc(64, bytes);
    if (!p) sn_errorf("out of memory allocating %.1f MB of scratch space", (double)bytes / 1e6);
    return p;
}

void nn_scratch_free(float *p) {
    free(p);
}

int nn_sum_slots(int nthreads, int64_t nsamples) {
    int64_t nblocks = (nsamples + NN_GRAD_BLOCK - 1) / NN_GRAD_BLOCK;
    int w = nthreads < 1 ? 1 : nthreads > 64 ? 64 : nthreads;
    return nblocks < w ? (int)(nblocks > 0 ? nblocks : 1) : w;
}

typedef struct {
    NNBlockFn fn;
    void *ctx;
    int64_t nsamples, size, stride, first_block;
    float *partial;
} BlockJob;

static int block_task(void *ctx, int64_t task, int worker) {
    (void)worker;
    BlockJob *j = ctx;
    int64_t s0 = (j->first_block + task) * NN_GRAD_BLOCK;
    int64_t s1 = s0 + NN_GRAD_BLOCK < j->nsamples ? s0 + NN_GRAD_BLOCK : j->nsamples;
    float *acc = j->partial + task * j->stride;
    memset(acc, 0, sizeof(float) * (size_t)j->size);
    return j->fn(j->ctx, s0, s1, acc, (int)task);
}

int nn_sum_blocks(int nthreads, int64_t nsamples, int64_t size, float *dst, NNBlockFn fn, void *ctx) {
    if (nsamples <= 0 || size <= 0) return SN_OK;
    int64_t nblocks = (nsamples + NN_GRAD_BLOCK - 1) / NN_GRAD_BLOCK;
    int slots = nn_sum_slots(nthreads, nsamples);
    BlockJob j = {fn, ctx, nsamples, size, nn_scratch_stride(size), 0, NULL};
    j.partial = nn_scratch_alloc(slots, size);
    if (!j.partial) return SN_ERR;
    int rc = SN_OK;
    /* Waves of `slots` blocks; partial sums are added in block order, so the
     * wave width (the thread count) does not change the result. */
    for (int64_t b0 = 0; b0 < nblocks && rc == SN_OK; b0 += slots) {
        int64_t wave = nblocks - b0 < slots ? nblocks - b0 : slots;
        j.first_block = b0;
        if (wave == 1 || nthreads <= 1) {
            for (int64_t t = 0; t < wave && rc == SN_OK; t++) rc = block_task(&j, t, 0);
        } else {
            rc = parallel_for((int)wave, wave, block_task, &j);
        }
        for (int64_t t = 0; t < wave && rc == SN_OK; t++) {
            const float *p = j.partial + t * j.stride;
            for (int64_t i = 0; i < size; i++) dst[i] += p[i];
        }
    }
    nn_scratch_free(j.partial);
    return rc;
}

int layer_no_check(const LayerConfig *c) {
    (void)c;
    return SN_OK;
}

void layer_no_params(const LayerConfig *c, int *nparams, Shape *params, int *nbuffers, Shape *buffers) {
    (void)c, (void)params, (void)buffers;
    *nparams = 0, *nbuffers = 0;
}

int layer_same_shape(const LayerConfig *c, const Shape *in, Shape *out) {
    (void)c;
    *out = in[0];
    return SN_OK;
}

void layer_no_init(Node *n, uint64_t seed, const char *purpose) {
    (void)n, (void)seed, (void)purpose;
}

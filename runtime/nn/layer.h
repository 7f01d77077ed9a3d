/* nn/layer.h — what every layer kind shares: the kinds, their configuration,
 * the Node a model is made of, the per-kind operation table, initializers
 * and the two parallel loops every kernel uses.
 *
 * Conventions of every kernel in runtime/nn/ (llm.c style):
 *  - plain functions on float pointers; shapes in a comment on each pointer;
 *    kernels validate nothing (the model and the bindings check shapes first);
 *  - `x_forward` overwrites its output; `x_backward*` ADD into every gradient
 *    they produce (+=), so callers zero buffers once and gradients from
 *    several consumers sum naturally;
 *  - weights are explicit arguments, never looked up in a model, so a
 *    backward rule (LRP, guided backprop, ...) can run a layer with modified
 *    weights (W+, W^2, ones) through the same kernel;
 *  - determinism: anything computed per sample (forward, input gradient) is
 *    computed with operations whose shapes and order depend only on the
 *    layer and one sample, never on the batch size or the sample's position
 *    in the batch, and is parallelized over samples. Sums over samples
 *    (parameter gradients) run in fixed blocks of NN_GRAD_BLOCK samples whose
 *    partial sums are added in block order. Results are therefore
 *    bit-identical for any thread count, and a sample's output and input
 *    gradient are bit-identical whatever batch it is part of (train-mode
 *    batch norm excepted: it depends on the batch by definition).
 * Returns: SN_OK, or SN_ERR with sn_errorf() (only allocation can fail in a
 * kernel). */
#ifndef SANITY_NN_LAYER_H
#define SANITY_NN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

typedef enum LayerKind {
    LAYER_LINEAR,
    LAYER_CONV2D,
    LAYER_MAXPOOL2D,
    LAYER_AVGPOOL2D,
    LAYER_ADAPTIVE_AVGPOOL2D,
    LAYER_RELU,
    LAYER_LEAKY_RELU,
    LAYER_TANH,
    LAYER_SIGMOID,
    LAYER_SOFTMAX,
    LAYER_LOG_SOFTMAX,
    LAYER_FLATTEN,
    LAYER_BATCHNORM1D,
    LAYER_BATCHNORM2D,
    LAYER_DROPOUT,
    LAYER_ADD,
    LAYER_IDENTITY,
    LAYER_KIND_COUNT
} LayerKind;

/* Weight initializers (biases: see layer_init_bias). */
typedef enum InitKind {
    INIT_KAIMING_UNIFORM, /* PyTorch default: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)) */
    INIT_GLOROT_UNIFORM,  /* U(+-sqrt(6/(fan_in+fan_out))), Keras default */
    INIT_NORMAL,          /* N(0, init_std^2) */
    INIT_KIND_COUNT
} InitKind;

/* One flat configuration for every kind; each kind reads only its fields
 * (layer_fields() lists them, with the PyTorch names used in JSON and Lua).
 * Pairs are {h, w}. layer_config_default() gives PyTorch's defaults. */
typedef struct LayerConfig {
    int in, out;           /* linear: in/out_features; conv2d: in/out_channels; batchnorm: num_features (in) */
    int kernel[2];         /* conv2d, pools: kernel_size */
    int stride[2];         /* conv2d (default 1), pools (default = kernel) */
    int padding[2];        /* conv2d, pools; pools pad with -inf (max) or 0 (avg) */
    int dilation[2];       /* conv2d */
    int groups;            /* conv2d: in and out channels are split in `groups` */
    int bias;              /* linear, conv2d: has a bias (default 1) */
    int output_size[2];    /* adaptive_avgpool2d */
    int count_include_pad; /* avgpool2d: divide by the padded window size (default 1) */
    float eps, momentum;   /* batchnorm (1e-5, 0.1): running = (1-momentum)*running + momentum*batch */
    float slope;           /* leaky_relu: negative_slope (0.01) */
    float p;               /* dropout: probability of zeroing (0.5) */
    InitKind init;         /* linear, conv2d: weight initializer */
    float init_std;        /* INIT_NORMAL's standard deviation (0.01) */
} LayerConfig;

/* A shape including the batch dimension (dim[0] = N). */
typedef struct Shape {
    int ndim;
    int64_t dim[TENSOR_MAX_DIMS];
} Shape;

#define NODE_NAME_MAX 64
#define NODE_MAX_INPUTS 2
#define NODE_MAX_PARAMS 2  /* weight, bias */
#define NODE_MAX_BUFFERS 3 /* running_mean, running_var, num_batches_tracked */
#define MODEL_INPUT (-1)   /* an input index meaning "the model's input" */

/* One node of a model graph. Tensors are empty (storage NULL) until used.
 * Parameters are allocated once when the node is created and never
 * reallocated, so views of them (Lua tensors, optimizer state) stay valid. */
typedef struct Node {
    char name[NODE_NAME_MAX];
    LayerKind kind;
    LayerConfig cfg;
    int ninputs;
    int inputs[NODE_MAX_INPUTS]; /* earlier node indices, or MODEL_INPUT */
    int nparams;                 /* trainable: param[0] = weight, param[1] = bias */
    Tensor param[NODE_MAX_PARAMS];
    Tensor grad[NODE_MAX_PARAMS]; /* same shapes; backward accumulates here */
    int nbuffers;                 /* batchnorm: running_mean, running_var, num_batches_tracked */
    Tensor buffer[NODE_MAX_BUFFERS];
    Tensor output;   /* activation of the last forward [N, ...] */
    Tensor d_output; /* gradient w.r.t. output after the last backward */
    Tensor saved;    /* what backward needs besides activations: maxpool argmax
                      * (as floats), dropout mask, train batchnorm mean/invstd */
    Shape out_shape; /* with N = 1, when the model's input shape is known; ndim -1 otherwise */
    /* What the layer derived from its parameters and keeps while they are
     * frozen (LayerRun.frozen; conv2d: its input gradient's weights), freed
     * with derived_free; NULL otherwise. Not copied by model_clone. */
    void *derived;
    void (*derived_free)(void *);
} Node;

/* What a forward/backward call needs besides the node and its tensors. */
typedef struct LayerRun {
    int training; /* batchnorm uses batch statistics, dropout draws */
    int nthreads;
    uint64_t seed;        /* the model's seed (dropout) */
    uint64_t step;        /* forward calls in training mode so far (dropout) */
    int want_param_grads; /* backward: accumulate into node->grad */
    unsigned fresh;       /* backward: bit k set = d_in[k] is uninitialized; write it, do not add */
    int relu_input;       /* maxpool2d only: in[0] is a folded ReLU's input (model.h: fold_relu_pool) */
    /* conv2d only: an eval batch norm, and a ReLU after it when post_relu,
     * run inside the conv; NULL otherwise. Their own outputs are written to
     * post_bn_out and post_relu_out (forward; model.c: every eval forward),
     * or, when those are NULL, the conv's output holds the last of them
     * (model.h: fold_conv_bn; backward too). */
    const Node *post_bn;
    int post_relu; /* also add: the ReLU after it runs inside (model.h: fold_add_relu) */
    float *post_bn_out, *post_relu_out;
    int frozen; /* the parameters never change (model.h: frozen_params): Node.derived may be kept */
} LayerRun;

/* The operations of one kind. model.c dispatches through these; it knows no
 * kind. The model allocates `out` with the shape out_shape() gave (contents
 * undefined; forward overwrites it) unless `alias` is set, in which case
 * forward makes `out` a view of its input (flatten, identity). Backward gets
 * d_in[k] pre-shaped, or NULL when input k needs no gradient, and adds into
 * it; it adds parameter gradients into node->grad when
 * run->want_param_grads. d_in[k] is zeroed, except for kinds that set
 * `overwrites`: when their node is the first consumer of input k, the model
 * skips the zeroing and sets bit k of run->fresh, and backward writes every
 * element instead of adding (zeroing a whole batch of gradients was a serial
 * memset that also pushed the activations backward needs out of cache). */
typedef struct LayerOps {
    const char *name; /* "conv2d": the type in JSON, Lua and messages */
    int ninputs;
    int alias;
    /* Config domain check, e.g. "kernel_size must be positive". */
    int (*check)(const LayerConfig *c);
    /* Parameter and buffer shapes implied by the config. */
    void (*param_shapes)(const LayerConfig *c, int *nparams, Shape *params, int *nbuffers, Shape *buffers);
    /* Output shape for these input shapes, or SN_ERR saying what does not fit
     * ("input has 3 channels, weight expects 1"); the caller adds the node. */
    int (*out_shape)(const LayerConfig *c, const Shape *in, Shape *out);
    int (*forward)(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run);
    int (*backward)(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in, const LayerRun *run);
    /* Fills parameters and resets buffers: defaults of the kind, draws keyed
     * by (seed, layer_param_stream(purpose, node name, param name)). */
    void (*init)(Node *n, uint64_t seed, const char *purpose);
    int overwrites; /* backward honours run->fresh (above) */
} LayerOps;

const LayerOps *layer_ops(LayerKind kind);

/* Ready-made LayerOps entries for kinds without configuration checks,
 * parameters or initialization, or whose output has the input's shape. */
int layer_no_check(const LayerConfig *c);
void layer_no_params(const LayerConfig *c, int *nparams, Shape *params, int *nbuffers, Shape *buffers);
int layer_same_shape(const LayerConfig *c, const Shape *in, Shape *out);
void layer_no_init(Node *n, uint64_t seed, const char *purpose);
const char *layer_kind_name(LayerKind kind);
/* The kind called `name`, or -1. */
int layer_kind_from_name(const char *name);
/* "linear, conv2d, ..." (static storage). */
const char *layer_kind_list(void);

/* PyTorch's defaults for `kind` (stride = kernel for pools is applied by
 * the constructors, which know the kernel). */
void layer_config_default(LayerConfig *c, LayerKind kind);

/* Configuration fields by kind, with their JSON/Lua names. */
typedef enum { FIELD_INT, FIELD_PAIR, FIELD_BOOL, FIELD_FLOAT, FIELD_INIT } FieldType;
typedef struct LayerField {
    const char *name; /* "kernel_size" */
    FieldType type;
    size_t offset; /* into LayerConfig */
    int required;  /* no sensible default (sizes) */
} LayerField;
/* The fields of `kind`; *n gets their count. */
const LayerField *layer_fields(LayerKind kind, int *n);
const char *init_kind_name(InitKind k);
int init_kind_from_name(const char *name); /* -1 if unknown */
const char *init_kind_list(void);

/* Names of parameters and buffers, by slot. */
const char *layer_param_name(int k);  /* "weight", "bias" */
const char *layer_buffer_name(int k); /* "running_mean", "running_var", "num_batches_tracked" */
/* Trainable scalars of a node. */
int64_t node_num_parameters(const Node *n);

/* The stream of one parameter's draws: (purpose, node name, parameter). */
uint64_t layer_param_stream(const char *purpose, const char *node, const char *param);
/* w[i] for i < n from the initializer `kind` with these fans, element i
 * being draw i of (seed, stream). */
void layer_init_fill(float *w, int64_t n, InitKind kind, double fan_in, double fan_out, float std, uint64_t seed,
                     uint64_t stream);
/* U(-bound, bound), draw i of (seed, stream) for element i. */
void layer_init_uniform(float *w, int64_t n, float bound, uint64_t seed, uint64_t stream);
/* The bias that goes with a weight initializer: PyTorch's U(+-1/sqrt(fan_in))
 * for kaiming_uniform, zeros for glorot_uniform and normal (as Keras). */
void layer_init_bias(float *b, int64_t n, InitKind kind, double fan_in, uint64_t seed, uint64_t stream);

/* ---- shapes ---- */
Shape shape_of(const Tensor *t);
/* "[256, 1, 28, 28]" into buf. */
const char *shape_fmt(const Shape *s, char *buf, size_t n);
int shape_equal(const Shape *a, const Shape *b);

/* Makes t a tensor of shape s that nobody else references: reuses t's
 * storage when it has that shape and t holds the only reference, else
 * drops t and allocates. Zeroes the data when `zero` (fresh storage is
 * always zeroed). Views handed out earlier therefore never change. */
int nn_ensure(Tensor *t, const Shape *s, int zero);

/* ---- wide loops ----
 * A function marked NN_WIDE_LOOPS also gets an AVX2 copy, chosen at load
 * time where the CPU has it (GCC target_clones on x86-64): plain loops run 8
 * wide with the same IEEE operations in the same order (ISO C mode: no
 * contraction into FMAs), so both copies give the same bits. */
#if defined(__x86_64__) && defined(__GNUC__)
#define NN_WIDE_LOOPS __attribute__((target_clones("avx2", "default")))
#else
#define NN_WIDE_LOOPS
#endif

/* ---- parallel loops for kernels ---- */
/* fn(ctx, begin, end, worker) over [0, n) in ranges of `grain` items, on up
 * to nthreads threads; `worker` < nn_workers(nthreads, n, grain) indexes
 * per-thread scratch. For work that is independent per item. */
typedef int (*NNRangeFn)(void *ctx, int64_t begin, int64_t end, int worker);
int nn_parallel(int nthreads, int64_t n, int64_t grain, NNRangeFn fn, void *ctx);
int nn_workers(int nthreads, int64_t n, int64_t grain);

/* dst[0..size) += sum over samples [0, nsamples), computed as: blocks of
 * NN_GRAD_BLOCK samples, fn(ctx, s0, s1, acc, slot) adding block [s0, s1)
 * into a zeroed acc[size], blocks in parallel, partial sums added to dst in
 * block order. `slot` < max(1, nthreads) indexes per-block scratch. The
 * result does not depend on nthreads. */
#define NN_GRAD_BLOCK 32
typedef int (*NNBlockFn)(void *ctx, int64_t s0, int64_t s1, float *acc, int slot);
int nn_sum_blocks(int nthreads, int64_t nsamples, int64_t size, float *dst, NNBlockFn fn, void *ctx);
/* Slots nn_sum_blocks uses for these arguments (for sizing scratch). */
int nn_sum_slots(int nthreads, int64_t nsamples);

/* Per-thread scratch: nslots buffers of `floats` floats each, 64-byte aligned.
 * NULL (with the error set) when out of memory. Free with nn_scratch_free. */
float *nn_scratch_alloc(int nslots, int64_t floats);
void nn_scratch_free(float *p);
/* Floats per slot after rounding up to the alignment. */
int64_t nn_scratch_stride(int64_t floats);

#endif

/* model.h — a model is a DAG of named layer nodes (nn/layer.h) in
 * topological order: every node's inputs are earlier nodes or the model
 * input, and every node feeds the last node, which is the output.
 * Sequential models are the chain case; residual blocks use `add` nodes.
 *
 * Life cycle:
 *   Model *m = model_new(seed);
 *   model_set_input_shape(m, 3, (int64_t[]){1, 28, 28});   optional: shapes
 *                                                         are then checked
 *                                                         as nodes are added
 *   int c1 = model_add(m, "conv1", LAYER_CONV2D, &cfg, 1, (int[]){MODEL_INPUT});
 *   ...
 *   model_finish(m);                                       checks the graph
 *   model_forward(m, x, &logits, nthreads);
 *   model_backward(m, d_logits, NULL, 1, &d_x, nthreads);
 *   model_free(m);
 *
 * State kept between calls: after a forward every node's activation
 * (node->output) and the input; after a backward every node's output
 * gradient (node->d_output) and the input gradient (m->d_input), plus the
 * accumulated parameter gradients (node->grad, zeroed by model_zero_grad).
 * Tensors handed out (forward output, activations, gradients, parameters)
 * share storage with the model. A later forward/backward never overwrites a
 * tensor someone else still references: it allocates a new one instead
 * (buffers nobody else holds are reused, so steady-state calls do not
 * allocate). Parameters are allocated once and updated in place.
 *
 * Determinism: see nn/layer.h. Outputs and input gradients of a sample are
 * bit-identical for any thread count, batch size or position in the batch
 * (train-mode batch norm aside); parameter gradients are bit-identical for
 * any thread count.
 *
 * Modes: a new model is in EVAL mode (unlike PyTorch): attribution, the main
 * use here, must not depend on the batch through batch-norm statistics.
 * Training code calls model_set_training(m, 1).
 *
 * Threads: all model functions are called from one thread at a time (they
 * take and drop storage references); nthreads says how many workers they may
 * start internally.
 *
 * Errors: SN_ERR with a message naming the node: "conv2d 'conv1': input has
 * 3 channels, weight expects 1". */
#ifndef SANITY_MODEL_H
#define SANITY_MODEL_H

#include <stdint.h>

#include "nn/layer.h"
#include "tensor.h"

typedef struct Model {
    int nnodes, cap;
    Node *nodes;
    uint64_t seed;    /* initializers at creation and dropout draws */
    int training;     /* 0 = eval (default), 1 = train */
    uint64_t step;    /* forward calls made in training mode (dropout stream) */
    Shape in_shape;   /* per-sample input shape with N = 1, ndim -1 when unknown */
    int finished;     /* model_finish succeeded; nodes can no longer be added */
    int has_forward;  /* activations are valid for backward */
    int fwd_training; /* the mode of the last forward */
    Tensor input;     /* the last forward's input (shared with the caller) */
    Tensor d_input;   /* the last backward's input gradient */
    /* A ReLU whose only consumer is a max-pool runs inside the pool, which
     * then reads the ReLU's input and passes gradients straight back to it
     * (same bits: relu(max) and its argmax are those of max(relu)); the
     * ReLU's activation and gradient are not kept. For private copies whose
     * passes nobody inspects (attr_worker_models); 0 otherwise. */
    int fold_relu_pool;
    /* In eval mode, a batch norm whose input is a conv2d that feeds only it
     * (and the ReLU after it, when that ReLU is the batch norm's only
     * consumer and not folded into a max-pool) run inside the conv: its
     * output copy applies x * scale + shift (and the ReLU), and its backward
     * maps the incoming gradient back through them in one pass (same bits
     * as the separate layers: the same operations on the same values). The
     * conv's activation then holds the batch norm's (or ReLU's) output; the
     * absorbed nodes keep no activation or gradient. Parameter gradients
     * are refused (the batch norm's would be lost). For private copies,
     * like fold_relu_pool. */
    int fold_conv_bn;
    /* A ReLU that is an add's only consumer runs inside the add (a residual
     * join: one pass over the sum and one over its gradient fewer; same
     * bits). In both modes; backward rules are refused. For private copies. */
    int fold_add_relu;
    /* The parameters never change while the model lives, so layers may keep
     * what they derive from them (Node.derived: a conv's transposed and
     * per-phase weights, built once instead of once per backward). For
     * private copies, like fold_relu_pool. */
    int frozen_params;
} Model;

/* ---- building ---- */

/* An empty model; NULL when out of memory (message set). */
Model *model_new(uint64_t seed);
/* Declares the per-sample input shape (e.g. {1, 28, 28}); only before the
 * first model_add. Nodes added afterwards are shape-checked immediately. */
int model_set_input_shape(Model *m, int ndim, const int64_t *sample_shape);
/* Appends a node and returns its index, or SN_ERR (nothing added) when the
 * name is taken or invalid, the config is out of range, an input index is
 * not an earlier node or MODEL_INPUT, the input count is wrong for the kind,
 * or (input shape known) the input shapes do not fit. Parameters are
 * allocated and initialized with the kind's default initializer keyed by
 * (m->seed, "init", name, parameter). Names: 1-63 characters of [A-Za-z0-9_.-],
 * not "input". */
int model_add(Model *m, const char *name, LayerKind kind, const LayerConfig *cfg, int ninputs, const int *inputs);
/* Checks the graph is complete: at least one node and every node feeds the
 * last one (the output). No nodes can be added afterwards. */
int model_finish(Model *m);
void model_free(Model *m);
/* A deep copy (parameters, gradients, buffers, config, mode, step counter);
 * no activations or gradients of passes: the clone starts without a
 * forward. NULL when out of memory. */
Model *model_clone(const Model *m);
void model_set_training(Model *m, int training);

/* ---- running ---- */

/* Runs the batch x [N, ...] through every node; *out (if not NULL) becomes
 * a reference to the output activation (release it). Errors when x does not
 * fit a node, naming the node and the shapes. x is kept by reference for
 * backward: do not modify it in place before backward. In training mode
 * batch norm updates its running statistics and dropout draws a new mask
 * (m->step advances). */
int model_forward(Model *m, const Tensor *x, Tensor *out, int nthreads);

/* The forward from the activation z [N, ...] of `node` on: z is kept by
 * reference as the node's output and only the nodes after it run (none of
 * them may read an earlier activation or the model input; error otherwise).
 * For methods whose rows differ only after an affine first layer
 * (integrated gradients: the head's output is affine in the step). */
int model_forward_from(Model *m, int node, const Tensor *z, Tensor *out, int nthreads);

/* A per-node backward rule, for attribution methods that replace the
 * gradient of some layers (guided backprop, deconvnet, LRP, DeepLift).
 * inputs: the activations of the node's inputs; output: its activation;
 * d_out: the incoming signal (same shape as output); d_in: one tensor per
 * input, zeroed and shaped like the input, to fill (add into). Return SN_OK
 * or SN_ERR with sn_errorf(). Rules may call the kernels in runtime/nn/ with
 * modified weights (e.g. conv2d_forward with W+). A node with a rule gets
 * no parameter gradients. Rules run on the calling thread; nthreads is what
 * they may pass on to kernels. Example, guided backprop at relu nodes:
 *   static int guided_relu(void *ctx, const Model *m, int node, const Tensor *const *in,
 *                          const Tensor *out, const Tensor *d_out, Tensor *const *d_in, int nthreads) {
 *       const float *x = tensor_data(in[0]), *g = tensor_data(d_out);
 *       float *d = tensor_data(d_in[0]);
 *       for (int64_t i = 0; i < tensor_numel(d_out); i++) d[i] = x[i] > 0 && g[i] > 0 ? g[i] : 0;
 *       return SN_OK;
 *   }
 *   rules[i] = (BackwardRule){guided_relu, NULL} for every relu node i.
 * An LRP z+ rule for linear layers is in tests/unit/test_model.c. */
typedef int (*BackwardRuleFn)(void *ctx, const Model *m, int node, const Tensor *const *inputs, const Tensor *output,
                              const Tensor *d_out, Tensor *const *d_in, int nthreads);
typedef struct BackwardRule {
    BackwardRuleFn fn; /* NULL: the node's own gradient */
    void *ctx;
} BackwardRule;

/* Propagates d_out (shaped like the output) back through the graph of the
 * last forward. rules: NULL (plain gradients) or an array of m->nnodes
 * entries. want_param_grads: accumulate parameter gradients (+=) into
 * node->grad; 0 skips them (the fast path for attribution). d_input: if not
 * NULL, receives a reference to the gradient w.r.t. the model input (release
 * it); when NULL, work needed only for it is skipped. Gradients from several
 * consumers of a node (residual connections) are summed. Each node's
 * d_output stays readable afterwards. Errors: "backward before forward",
 * d_out of the wrong shape. */
int model_backward(Model *m, const Tensor *d_out, const BackwardRule *rules, int want_param_grads, Tensor *d_input,
                   int nthreads);
/* The backward down to the output of `node` (left in nodes[node].d_output):
 * only the nodes after it run, no parameter gradients, no rules. */
int model_backward_to(Model *m, const Tensor *d_out, int node, int nthreads);

/* Zeroes every parameter gradient. */
void model_zero_grad(Model *m);

/* Re-initializes node `node`'s parameters (and resets its buffers) with the
 * kind's default initializer, draws keyed by (seed, purpose, node name,
 * parameter name). model_init_node(m, i, m->seed, "init") reproduces the
 * values the node got at creation; randomization tests use their own
 * purpose ("mprt", ...) and seed. */
void model_init_node(Model *m, int node, uint64_t seed, const char *purpose);

/* ---- introspection ---- */

/* Index of the node called `name`, or -1. */
int model_find(const Model *m, const char *name);
/* Trainable scalars in the whole model. */
int64_t model_num_parameters(const Model *m);
/* "conv1.weight" for parameter k of node i (buf of at least 2*NODE_NAME_MAX). */
const char *model_param_name(const Model *m, int node, int k, char *buf, size_t n);
/* Has parameters, i.e. a randomization test can randomize it. */
int model_node_randomizable(const Model *m, int node);
/* Per-sample output shape of node i if known (build-time shapes or the
 * last forward); 0 if unknown. */
int model_node_shape(const Model *m, int node, Shape *s);
/* Whether conv node i would run a batch norm inside it in eval mode if
 * fold_conv_bn were set (then its activation is not the conv's own). */
int model_conv_absorbs_bn(const Model *m, int node);
/* A printable summary table (name, type, output shape, parameters, total);
 * malloc'd, NULL when out of memory. */
char *model_summary(const Model *m);

/* ---- architecture as JSON (model_json.c) ----
 * The architecture without weights, so a weight file can store it and
 * rebuild the model:
 *   {
 *     "format": "sanity.model", "version": 1,
 *     "seed": 0,                         (optional, default 0)
 *     "input_shape": [1, 28, 28],        (optional: per-sample shape)
 *     "nodes": [
 *       {"name": "conv1", "type": "conv2d", "inputs": ["input"],
 *        "config": {"in_channels": 1, "out_channels": 6, "kernel_size": [5, 5],
 *                   "stride": [1, 1], "padding": [2, 2], "dilation": [1, 1],
 *                   "groups": 1, "bias": true, "init": "kaiming_uniform",
 *                   "init_std": 0.01}},
 *       {"name": "relu1", "type": "relu", "inputs": ["conv1"], "config": {}},
 *       ...
 *     ]
 *   }
 * "inputs" name earlier nodes or "input" (the model input); the last node
 * is the output. Config keys per type are those of layer_fields() (PyTorch's
 * names); pairs may also be given as one number; missing optional keys take
 * PyTorch's defaults, missing required keys (sizes) and unknown keys are
 * errors. "inputs" may be omitted for single-input nodes: the previous node
 * (or the input for the first). Types: layer_kind_list(). */
char *model_to_json(const Model *m);      /* malloc'd; NULL when out of memory */
Model *model_from_json(const char *json); /* finished model, initialized from its seed; NULL + message on error */

#endif

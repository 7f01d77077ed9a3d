/* model.c — the model graph: building and checking it, forward and backward
 * passes over the nodes in topological order (with per-node backward rules),
 * clone, re-initialization and the summary table (see model.h).
 * Knows no layer kind: everything kind-specific goes through LayerOps.
 * JSON is in model_json.c. */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static const LayerOps *ops_of(const Node *n) {
    return layer_ops(n->kind);
}

/* Prefixes the current message with "kind 'name': " and returns SN_ERR. */
static int node_error(const Node *n) {
    return sn_errprefix("%s '%s': ", layer_kind_name(n->kind), n->name);
}

Model *model_new(uint64_t seed) {
    Model *m = calloc(1, sizeof *m);
    if (!m) {
        sn_errorf("out of memory allocating a model");
        return NULL;
    }
    m->seed = seed;
    m->in_shape.ndim = -1;
    return m;
}

int model_set_input_shape(Model *m, int ndim, const int64_t *shape) {
    if (m->nnodes > 0) return sn_errorf("the input shape must be set before the first layer is added");
    if (ndim < 1 || ndim >= TENSOR_MAX_DIMS)
        return sn_errorf("input shape must have 1 to %d dimensions (without the batch), got %d", TENSOR_MAX_DIMS - 1,
                         ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1)
            return sn_errorf("input shape entry %d must be positive, got %lld", i + 1, (long long)shape[i]);
    m->in_shape.ndim = ndim + 1;
    m->in_shape.dim[0] = 1;
    memcpy(m->in_shape.dim + 1, shape, sizeof(int64_t) * (size_t)ndim);
    return SN_OK;
}

static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n >= NODE_NAME_MAX) return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int model_find(const Model *m, const char *name) {
    for (int i = 0; i < m->nnodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0) return i;
    return -1;
}

static void node_release(Node *n) {
    for (int k = 0; k < NODE_MAX_PARAMS; k++) tensor_release(&n->param[k]), tensor_release(&n->grad[k]);
    for (int k = 0; k < NODE_MAX_BUFFERS; k++) tensor_release(&n->buffer[k]);
    tensor_release(&n->output);
    tensor_release(&n->d_output);
    tensor_release(&n->saved);
    if (n->derived) n->derived_free(n->derived);
    n->derived = NULL;
}

static int alloc_params(Node *n) {
    Shape ps[NODE_MAX_PARAMS], bs[NODE_MAX_BUFFERS];
    ops_of(n)->param_shapes(&n->cfg, &n->nparams, ps, &n->nbuffers, bs);
    for (int k = 0; k < n->nparams; k++)
        if (tensor_init(&n->param[k], ps[k].ndim, ps[k].dim) != SN_OK ||
            tensor_init(&n->grad[k], ps[k].ndim, ps[k].dim) != SN_OK)
            return SN_ERR;
    for (int k = 0; k < n->nbuffers; k++)
        if (tensor_init(&n->buffer[k], bs[k].ndim, bs[k].dim) != SN_OK) return SN_ERR;
    return SN_OK;
}

int model_add(Model *m, const char *name, LayerKind kind, const LayerConfig *cfg, int ninputs, const int *inputs) {
    if ((int)kind < 0 || kind >= LAYER_KIND_COUNT) return sn_errorf("unknown layer kind %d", (int)kind);
    const LayerOps *ops = layer_ops(kind);
    if (m->finished) return sn_errorf("cannot add layer '%s': the model is already built", name);
    if (!valid_name(name))
        return sn_errorf("invalid layer name '%s' (1 to %d characters: letters, digits, '_', '.', '-')", name,
                         NODE_NAME_MAX - 1);
    if (strcmp(name, "input") == 0) return sn_errorf("layer name 'input' is reserved for the model input");
    if (model_find(m, name) >= 0) return sn_errorf("a layer named '%s' already exists", name);
    if (ninputs != ops->ninputs)
        return sn_errorf("%s '%s': takes %d input%s, got %d", ops->name, name, ops->ninputs,
                         ops->ninputs == 1 ? "" : "s", ninputs);
    for (int k = 0; k < ninputs; k++)
        if (inputs[k] != MODEL_INPUT && (inputs[k] < 0 || inputs[k] >= m->nnodes))
            return sn_errorf("%s '%s': input %d (node %d) is not an earlier layer", ops->name, name, k + 1, inputs[k]);
    if (ops->check(cfg) != SN_OK) return sn_errprefix("%s '%s': ", ops->name, name);
    Shape out = {.ndim = -1};
    if (m->in_shape.ndim > 0) {
        Shape in[NODE_MAX_INPUTS];
        for (int k = 0; k < ninputs; k++)
            in[k] = inputs[k] == MODEL_INPUT ? m->in_shape : m->nodes[inputs[k]].out_shape;
        if (ops->out_shape(cfg, in, &out) != SN_OK) return sn_errprefix("%s '%s': ", ops->name, name);
    }
    if (m->nnodes == m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        Node *nodes = realloc(m->nodes, sizeof(Node) * (size_t)cap);
        if (!nodes) return sn_errorf("out of memory adding layer '%s'", name);
        m->nodes = nodes, m->cap = cap;
    }
    Node *n = &m->nodes[m->nnodes];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    n->kind = kind;
    n->cfg = *cfg;
    n->ninputs = ninputs;
    for (int k = 0; k < ninputs; k++) n->inputs[k] = inputs[k];
    n->out_shape = out;
    if (alloc_params(n) != SN_OK) {
        node_release(n);
        return sn_errprefix("%s '%s': ", ops->name, name);
    }
    ops->init(n, m->seed, "init");
    return m->nnodes++;
}

int model_finish(Model *m) {
    if (m->finished) return SN_OK;
    if (m->nnodes == 0) return sn_errorf("the model has no layers");
    char *feeds = calloc((size_t)m->nnodes, 1);
    if (!feeds) return sn_errorf("out of memory");
    int reads_input = 0;
    feeds[m->nnodes - 1] = 1;
    for (int i = m->nnodes - 1; i >= 0; i--) {
        if (!feeds[i]) continue;
        for (int k = 0; k < m->nodes[i].ninputs; k++) {
            int j = m->nodes[i].inputs[k];
            if (j == MODEL_INPUT)
                reads_input = 1;
            else
                feeds[j] = 1;
        }
    }
    int bad = -1;
    for (int i = 0; i < m->nnodes && bad < 0; i++)
        if (!feeds[i]) bad = i;
    free(feeds);
    if (bad >= 0)
        return sn_errorf("layer '%s' does not feed the output layer '%s' (the last layer is the output)",
                         m->nodes[bad].name, m->nodes[m->nnodes - 1].name);
    if (!reads_input) return sn_errorf("no layer reads the model input");
    m->finished = 1;
    return SN_OK;
}

void model_free(Model *m) {
    if (!m) return;
    for (int i = 0; i < m->nnodes; i++) node_release(&m->nodes[i]);
    free(m->nodes);
    tensor_release(&m->input);
    tensor_release(&m->d_input);
    free(m);
}

Model *model_clone(const Model *m) {
    Model *c = model_new(m->seed);
    if (!c) return NULL;
    c->nodes = calloc((size_t)(m->nnodes > 0 ? m->nnodes : 1), sizeof(Node));
    if (!c->nodes) {
        free(c);
        sn_errorf("out of memory cloning a model");
        return NULL;
    }
    c->cap = m->nnodes;
    c->training = m->training;
    c->step = m->step;
    c->in_shape = m->in_shape;
    c->finished = m->finished;
    for (int i = 0; i < m->nnodes; i++) {
        const Node *s = &m->nodes[i];
        Node *d = &c->nodes[i];
        memcpy(d->name, s->name, sizeof d->name);
        d->kind = s->kind;
        d->cfg = s->cfg;
        d->ninputs = s->ninputs;
        memcpy(d->inputs, s->inputs, sizeof d->inputs);
        d->nparams = s->nparams;
        d->nbuffers = s->nbuffers;
        d->out_shape = s->out_shape;
        c->nnodes = i + 1;
        int ok = 1;
        for (int k = 0; k < s->nparams && ok; k++)
            ok = tensor_clone(&d->param[k], &s->param[k]) == SN_OK && tensor_clone(&d->grad[k], &s->grad[k]) == SN_OK;
        for (int k = 0; k < s->nbuffers && ok; k++) ok = tensor_clone(&d->buffer[k], &s->buffer[k]) == SN_OK;
        if (!ok) {
            model_free(c);
            return NULL;
        }
    }
    return c;
}

void model_set_training(Model *m, int training) {
    m->training = training != 0;
}

/* ---- forward ---- */

/* With m->fold_relu_pool: the ReLU folded into node i (a max-pool whose
 * only input is a ReLU that feeds nothing else), else -1. */
static int folded_relu(const Model *m, int i) {
    const Node *p = &m->nodes[i];
    if (!m->fold_relu_pool || p->kind != LAYER_MAXPOOL2D || p->ninputs != 1 || p->inputs[0] == MODEL_INPUT) return -1;
    int r = p->inputs[0];
    if (m->nodes[r].kind != LAYER_RELU) return -1;
    for (int j = r + 1; j < m->nnodes; j++)
        for (int k = 0; k < m->nodes[j].ninputs; k++)
            if (j != i && m->nodes[j].inputs[k] == r) return -1;
    return r;
}

/* Whether node i is a ReLU folded into its consumer (then it does not run). */
static int is_folded(const Model *m, int i) {
    if (!m->fold_relu_pool || m->nodes[i].kind != LAYER_RELU) return 0;
    for (int j = i + 1; j < m->nnodes; j++)
        for (int k = 0; k < m->nodes[j].ninputs; k++)
            if (m->nodes[j].inputs[k] == i) return folded_relu(m, j) == i;
    return 0;
}

/* The only consumer of node i (through a single input), or -1: none,
 * several, or node i is the model's output. */
static int sole_consumer(const Model *m, int i) {
    if (i == MODEL_INPUT || i == m->nnodes - 1) return -1;
    int c = -1;
    for (int j = i + 1; j < m->nnodes; j++)
        for (int k = 0; k < m->nodes[j].ninputs; k++)
            if (m->nodes[j].inputs[k] == i) {
                if (c >= 0) return -1;
                c = j;
            }
    return c >= 0 && m->nodes[c].ninputs == 1 ? c : -1;
}

/* The batch norm that is the only consumer of conv node c, or -1. */
static int conv_bn_pair(const Model *m, int c) {
    if (c == MODEL_INPUT || m->nodes[c].kind != LAYER_CONV2D) return -1;
    int b = sole_consumer(m, c);
    return b >= 0 && m->nodes[b].kind == LAYER_BATCHNORM2D && b != m->nnodes - 1 ? b : -1;
}

/* fold_conv_bn (model.h), for a forward in mode `training`: the batch norm
 * conv node c runs inside it, or -1. */
static int absorbed_bn(const Model *m, int c, int training) {
    return m->fold_conv_bn && !training ? conv_bn_pair(m, c) : -1;
}

/* ... and the ReLU after that batch norm it runs too, or -1. */
static int absorbed_relu(const Model *m, int c, int training) {
    int b = absorbed_bn(m, c, training), r = b >= 0 ? sole_consumer(m, b) : -1;
    if (r < 0 || m->nodes[r].kind != LAYER_RELU || r == m->nnodes - 1) return -1;
    int p = sole_consumer(m, r);
    return p >= 0 && folded_relu(m, p) == r ? -1 : r; /* a max-pool takes it */
}

/* fold_add_relu (model.h): the ReLU add node a runs inside it, or -1. */
static int absorbed_add_relu(const Model *m, int a) {
    if (!m->fold_add_relu || a == MODEL_INPUT || m->nodes[a].kind != LAYER_ADD) return -1;
    int r = sole_consumer(m, a);
    if (r < 0 || m->nodes[r].kind != LAYER_RELU || r == m->nnodes - 1) return -1;
    int p = sole_consumer(m, r);
    return p >= 0 && folded_relu(m, p) == r ? -1 : r; /* a max-pool takes it */
}

/* Whether node i (a batch norm or ReLU) runs inside a conv or an add. */
static int is_absorbed(const Model *m, int i, int training) {
    const Node *n = &m->nodes[i];
    if (n->ninputs != 1 || n->inputs[0] == MODEL_INPUT) return 0;
    if (n->kind == LAYER_RELU && absorbed_add_relu(m, n->inputs[0]) == i) return 1;
    if (!m->fold_conv_bn || training) return 0;
    if (n->kind == LAYER_BATCHNORM2D) return absorbed_bn(m, n->inputs[0], training) == i;
    if (n->kind != LAYER_RELU) return 0;
    const Node *b = &m->nodes[n->inputs[0]];
    return b->kind == LAYER_BATCHNORM2D && b->inputs[0] != MODEL_INPUT && absorbed_relu(m, b->inputs[0], training) == i;
}

/* Whether node i runs inside its neighbour or runs one inside it (then no
 * pass may start or stop there: its activation is not its own). */
static int runs_with_neighbour(const Model *m, int i, int training) {
    return is_absorbed(m, i, training) || absorbed_bn(m, i, training) >= 0 || absorbed_add_relu(m, i) >= 0;
}

int model_conv_absorbs_bn(const Model *m, int node) {
    return node >= 0 && node < m->nnodes && conv_bn_pair(m, node) >= 0;
}

/* Where input k of node i comes from: a node, or MODEL_INPUT; past a folded
 * ReLU and nodes absorbed into a conv. */
static int source_of(const Model *m, int i, int k, int training) {
    int r = folded_relu(m, i);
    int src = r >= 0 ? m->nodes[r].inputs[0] : m->nodes[i].inputs[k];
    while (src != MODEL_INPUT && is_absorbed(m, src, training)) src = m->nodes[src].inputs[0];
    return src;
}

static const Tensor *input_of(const Model *m, int i, int k, int training) {
    int src = source_of(m, i, k, training);
    return src == MODEL_INPUT ? &m->input : &m->nodes[src].output;
}

/* Every eval forward of a model without fold_conv_bn: the batch norm that
 * is conv node c's only consumer, and the ReLU that is that batch norm's
 * only consumer (or -1), run in the conv's output copy with all three
 * activations written: the same bits as running them apart, two passes over
 * the activations fewer. Backward runs them apart as usual. */
static int kept_bn(const Model *m, int c, int training) {
    return m->fold_conv_bn || training ? -1 : conv_bn_pair(m, c);
}

static int kept_relu(const Model *m, int c, int training) {
    int b = kept_bn(m, c, training), r = b >= 0 ? sole_consumer(m, b) : -1;
    if (r < 0 || m->nodes[r].kind != LAYER_RELU) return -1;
    int p = sole_consumer(m, r);
    return p >= 0 && folded_relu(m, p) == r ? -1 : r; /* a max-pool runs it */
}

/* What node i (a conv or an add) runs of the nodes after it (LayerRun),
 * given its output shape os: their shapes are checked as their own forward
 * would, and kept outputs allocated. *kept_b, *kept_r: the nodes this
 * forward computes (their own turn is then skipped), or -1. */
static int set_post(Model *m, int i, const Shape *os, LayerRun *run, int *kept_b, int *kept_r) {
    const int ab = absorbed_bn(m, i, m->training), absorbed = ab >= 0;
    int b = absorbed ? ab : kept_bn(m, i, m->training);
    int r = absorbed ? absorbed_relu(m, i, m->training) : kept_relu(m, i, m->training);
    run->post_bn = NULL, run->post_relu = absorbed_add_relu(m, i) >= 0;
    run->post_bn_out = run->post_relu_out = NULL;
    *kept_b = *kept_r = -1;
    if (b < 0) return SN_OK;
    Shape bs;
    for (int k = 0; k < 2; k++) {
        int node = k ? r : b;
        if (node < 0) continue;
        Node *n = &m->nodes[node];
        if (ops_of(n)->out_shape(&n->cfg, os, &bs) != SN_OK) return node_error(n);
        if (!absorbed && nn_ensure(&n->output, &bs, 0) != SN_OK) return node_error(n);
    }
    run->post_bn = &m->nodes[b], run->post_relu = r >= 0;
    if (!absorbed) {
        run->post_bn_out = tensor_data(&m->nodes[b].output);
        run->post_relu_out = r >= 0 ? tensor_data(&m->nodes[r].output) : NULL;
        *kept_b = b, *kept_r = r;
    }
    return SN_OK;
}

/* What node i (a conv or an add) runs of the nodes after it in backward
 * (LayerRun): only absorbed ones; kept ones run their own backward. */
static void set_absorbed(const Model *m, int i, int training, LayerRun *run) {
    int b = absorbed_bn(m, i, training);
    run->post_bn = b >= 0 ? &m->nodes[b] : NULL;
    run->post_relu = absorbed_relu(m, i, training) >= 0 || absorbed_add_relu(m, i) >= 0;
    run->post_bn_out = run->post_relu_out = NULL;
}

/* Runs nodes [first, nnodes) on what their inputs hold; model_forward and
 * model_forward_from set those up. */
static int forward_nodes(Model *m, int first, Tensor *out, int nthreads) {
    LayerRun run = {m->training, nthreads, m->seed, m->step, 0, 0, 0, NULL, 0, NULL, NULL, m->frozen_params};
    int kept_b = -1, kept_r = -1; /* computed by the conv before them */
    for (int i = first; i < m->nnodes; i++) {
        Node *n = &m->nodes[i];
        const LayerOps *ops = ops_of(n);
        const Tensor *in[NODE_MAX_INPUTS];
        Shape ins[NODE_MAX_INPUTS], os;
        if (i == kept_b || i == kept_r) continue;
        if (is_folded(m, i) || is_absorbed(m, i, m->training)) {
            tensor_release(&n->output);
            continue;
        }
        run.relu_input = folded_relu(m, i) >= 0;
        for (int k = 0; k < n->ninputs; k++) {
            in[k] = input_of(m, i, k, m->training);
            ins[k] = shape_of(in[k]);
        }
        if (ops->out_shape(&n->cfg, ins, &os) != SN_OK) return node_error(n);
        if (!ops->alias && nn_ensure(&n->output, &os, 0) != SN_OK) return node_error(n);
        if (set_post(m, i, &os, &run, &kept_b, &kept_r) != SN_OK) return SN_ERR;
        if (ops->forward(n, in, &n->output, &run) != SN_OK) return node_error(n);
    }
    if (m->training) m->step++;
    m->fwd_training = m->training;
    m->has_forward = 1;
    if (out) tensor_share(out, &m->nodes[m->nnodes - 1].output);
    return SN_OK;
}

/* Views first, so the buffers they pointed into have one owner again and
 * can be reused. */
static void release_views(Model *m) {
    for (int i = 0; i < m->nnodes; i++)
        if (ops_of(&m->nodes[i])->alias) tensor_release(&m->nodes[i].output);
}

int model_forward(Model *m, const Tensor *x, Tensor *out, int nthreads) {
    if (!m->finished) return sn_errorf("the model is not built yet");
    if (x->ndim < 1) return sn_errorf("the model input must have a batch dimension, got a scalar");
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] > INT32_MAX) return sn_errorf("the model input has a dimension above 2^31");
    m->has_forward = 0;
    release_views(m);
    tensor_release(&m->input);
    tensor_share(&m->input, x);
    return forward_nodes(m, 0, out, nthreads);
}

int model_forward_from(Model *m, int node, const Tensor *z, Tensor *out, int nthreads) {
    if (!m->finished) return sn_errorf("the model is not built yet");
    if (node < 0 || node >= m->nnodes) return sn_errorf("no node %d (the model has %d)", node, m->nnodes);
    if (is_folded(m, node)) /* its pool reads the node before it */
        return sn_errorf("cannot start the forward at '%s': it is folded into its max-pool", m->nodes[node].name);
    if (runs_with_neighbour(m, node, m->training))
        return sn_errorf("cannot start the forward at '%s': this model copy runs it together with its neighbour",
                         m->nodes[node].name);
    for (int i = node + 1; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].ninputs; k++)
            if (m->nodes[i].inputs[k] < node)
                return sn_errorf("cannot start the forward at '%s': '%s' reads an earlier activation",
                                 m->nodes[node].name, m->nodes[i].name);
    Node *n = &m->nodes[node];
    if (n->out_shape.ndim > 0) {
        Shape want = n->out_shape, got = shape_of(z);
        want.dim[0] = got.dim[0];
        if (!shape_equal(&want, &got)) {
            char a[160], b[160];
            return sn_errorf("the activation of '%s' has shape %s, got %s", n->name, shape_fmt(&want, a, sizeof a),
                             shape_fmt(&got, b, sizeof b));
        }
    }
    m->has_forward = 0;
    release_views(m);
    tensor_release(&m->input); /* nodes up to `node` have no valid activations now */
    tensor_release(&n->output);
    tensor_share(&n->output, z);
    return forward_nodes(m, node + 1, out, nthreads);
}

/* ---- backward ---- */

/* stop >= 0: only nodes after `stop` run, and node stop's output gradient
 * is the one wanted (d_input unused). */
static int backward_nodes(Model *m, const Tensor *d_out, const BackwardRule *rules, int want_param_grads,
                          Tensor *d_input, int stop, int nthreads) {
    if (!m->has_forward) return sn_errorf("backward before forward: run a forward pass first");
    if (rules && (m->fold_relu_pool || m->fold_add_relu)) /* a rule may be attached to a ReLU that does not run */
        return sn_errorf("backward rules need every layer: this model copy folds ReLUs into max-pools and adds");
    if ((rules || want_param_grads) && m->fold_conv_bn && !m->fwd_training)
        return sn_errorf("backward rules and parameter gradients need every layer: this model copy runs batch "
                         "norms inside convs");
    Node *last = &m->nodes[m->nnodes - 1];
    if (!tensor_same_shape(d_out, &last->output)) {
        char a[160], b[160];
        return sn_errorf("backward: the gradient has shape %s, the output of '%s' has shape %s",
                         tensor_shape_str(d_out, a, sizeof a), last->name,
                         tensor_shape_str(&last->output, b, sizeof b));
    }
    int nn = m->nnodes, rc = SN_OK;
    char *need = calloc((size_t)nn * 2, 1);
    if (!need) return sn_errorf("out of memory");
    char *have = need + nn;
    /* need[i]: node i's backward has something to compute (parameter
     * gradients, or a gradient some input needs). */
    for (int i = 0; i < nn; i++) {
        const Node *n = &m->nodes[i];
        int rule = rules && rules[i].fn;
        if (i <= stop) { /* not run; consumers of `stop` compute its gradient */
            need[i] = i == stop;
            continue;
        }
        if (is_folded(m, i) || is_absorbed(m, i, m->fwd_training)) continue; /* run by their pool or conv */
        need[i] = want_param_grads && n->nparams > 0 && !rule;
        for (int k = 0; k < n->ninputs && !need[i]; k++) {
            int src = source_of(m, i, k, m->fwd_training);
            need[i] = src == MODEL_INPUT ? d_input != NULL : need[src];
        }
    }
    int have_input = 0;
    for (int i = 0; i < nn; i++)
        if (!need[i]) tensor_release(&m->nodes[i].d_output); /* stale from an earlier pass */
    if (!d_input) tensor_release(&m->d_input);
    if (!need[nn - 1]) goto done;
    Shape os = shape_of(d_out);
    if (nn_ensure(&last->d_output, &os, 0) != SN_OK) {
        rc = SN_ERR;
        goto done;
    }
    memcpy(tensor_data(&last->d_output), tensor_data(d_out), sizeof(float) * (size_t)tensor_numel(d_out));
    have[nn - 1] = 1;
    LayerRun run = {m->fwd_training, nthreads, m->seed, m->step, 0, 0, 0, NULL, 0, NULL, NULL, m->frozen_params};
    for (int i = nn - 1; i > stop && rc == SN_OK; i--) {
        Node *n = &m->nodes[i];
        if (!need[i] || !have[i]) continue;
        int rule = rules && rules[i].fn;
        const Tensor *in[NODE_MAX_INPUTS];
        Tensor view[NODE_MAX_INPUTS] = {0}, tmp[NODE_MAX_INPUTS] = {0};
        Tensor *din[NODE_MAX_INPUTS] = {NULL, NULL};
        Tensor *target[NODE_MAX_INPUTS] = {NULL, NULL};
        run.fresh = 0;
        set_absorbed(m, i, m->fwd_training, &run);
        for (int k = 0; k < n->ninputs && rc == SN_OK; k++) {
            int src = source_of(m, i, k, m->fwd_training);
            in[k] = input_of(m, i, k, m->fwd_training);
            int wants = src == MODEL_INPUT ? d_input != NULL : need[src];
            if (!wants && !rule) continue;
            Shape is = shape_of(in[k]);
            char *hv = src == MODEL_INPUT ? (char *)&have_input : &have[src];
            Tensor *t = src == MODEL_INPUT ? &m->d_input : &m->nodes[src].d_output;
            if (!wants) { /* a rule fills every input; this one goes nowhere */
                rc = tensor_init(&tmp[k], is.ndim, is.dim);
                din[k] = &tmp[k];
            } else if (!*hv || !rule) {
                /* The first consumer writes the gradient: straight into it
                 * when its kind overwrites (LayerOps), else into it zeroed;
                 * later ones add into it directly. Rules may assign, so
                 * they get a zeroed temporary. */
                if (!*hv) {
                    int fresh = !rule && ops_of(n)->overwrites;
                    rc = nn_ensure(t, &is, !fresh);
                    if (fresh) run.fresh |= 1u << k;
                }
                if (rc == SN_OK) tensor_share(&view[k], t), din[k] = &view[k];
                *hv = 1;
            } else { /* a rule at a later consumer: into a temporary, then summed */
                rc = tensor_init(&tmp[k], is.ndim, is.dim);
                din[k] = &tmp[k], target[k] = t;
            }
        }
        if (rc == SN_OK) {
            if (rule) {
                rc = rules[i].fn(rules[i].ctx, m, i, in, &n->output, &n->d_output, din, nthreads);
            } else {
                run.want_param_grads = want_param_grads;
                rc = ops_of(n)->backward(n, in, &n->d_output, din, &run);
            }
            if (rc != SN_OK) node_error(n);
        }
        for (int k = 0; k < n->ninputs; k++) {
            if (rc == SN_OK && target[k]) {
                float *dst = tensor_data(target[k]);
                const float *src = tensor_data(&tmp[k]);
                for (int64_t q = 0, cnt = tensor_numel(&tmp[k]); q < cnt; q++) dst[q] += src[q];
            }
            tensor_release(&tmp[k]);
            tensor_release(&view[k]);
        }
    }
    if (rc == SN_OK && d_input) tensor_share(d_input, &m->d_input);
done:
    free(need);
    return rc;
}

int model_backward(Model *m, const Tensor *d_out, const BackwardRule *rules, int want_param_grads, Tensor *d_input,
                   int nthreads) {
    return backward_nodes(m, d_out, rules, want_param_grads, d_input, -1, nthreads);
}

int model_backward_to(Model *m, const Tensor *d_out, int node, int nthreads) {
    if (node < 0 || node >= m->nnodes) return sn_errorf("no node %d (the model has %d)", node, m->nnodes);
    if (is_folded(m, node)) /* it gets no gradient of its own */
        return sn_errorf("cannot stop the backward at '%s': it is folded into its max-pool", m->nodes[node].name);
    if (runs_with_neighbour(m, node, m->fwd_training))
        return sn_errorf("cannot stop the backward at '%s': this model copy runs it together with its neighbour",
                         m->nodes[node].name);
    return backward_nodes(m, d_out, NULL, 0, NULL, node, nthreads);
}

void model_zero_grad(Model *m) {
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nparams; k++) {
            Tensor *g = &m->nodes[i].grad[k];
            memset(tensor_data(g), 0, sizeof(float) * (size_t)tensor_numel(g));
        }
}

void model_init_node(Model *m, int node, uint64_t seed, const char *purpose) {
    Node *n = &m->nodes[node];
    ops_of(n)->init(n, seed, purpose);
}

/* ---- introspection ---- */

int64_t model_num_parameters(const Model *m) {
    int64_t total = 0;
    for (int i = 0; i < m->nnodes; i++) total += node_num_parameters(&m->nodes[i]);
    return total;
}

const char *model_param_name(const Model *m, int node, int k, char *buf, size_t n) {
    snprintf(buf, n, "%s.%s", m->nodes[node].name, layer_param_name(k));
    return buf;
}

int model_node_randomizable(const Model *m, int node) {
    return m->nodes[node].nparams > 0;
}

int model_node_shape(const Model *m, int node, Shape *s) {
    const Node *n = &m->nodes[node];
    if (n->out_shape.ndim > 0) {
        s->ndim = n->out_shape.ndim - 1;
        memcpy(s->dim, n->out_shape.dim + 1, sizeof(int64_t) * (size_t)s->ndim);
        return 1;
    }
    if (n->output.storage && n->output.ndim > 0) {
        s->ndim = n->output.ndim - 1;
        memcpy(s->dim, n->output.shape + 1, sizeof(int64_t) * (size_t)s->ndim);
        return 1;
    }
    return 0;
}

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} Buf;

static void bprintf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(Buf *b, const char *fmt, ...) {
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->len + (size_t)need + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)need;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

static int is_chain(const Model *m) {
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].ninputs != 1 || m->nodes[i].inputs[0] != i - 1) return 0; /* node 0: i - 1 == MODEL_INPUT */
    return 1;
}

char *model_summary(const Model *m) {
    int wname = 4, wtype = 4, winp = 6, wshape = 6;
    int chain = is_chain(m);
    char shp[160], inp[2 * NODE_NAME_MAX + 4];
    for (int i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        int l = (int)strlen(n->name);
        wname = l > wname ? l : wname;
        l = (int)strlen(layer_kind_name(n->kind));
        wtype = l > wtype ? l : wtype;
        Shape s;
        if (model_node_shape(m, i, &s)) {
            l = (int)strlen(shape_fmt(&s, shp, sizeof shp));
            wshape = l > wshape ? l : wshape;
        }
        if (!chain) {
            inp[0] = '\0';
            for (int k = 0; k < n->ninputs; k++) {
                strcat(inp, k ? ", " : "");
                strcat(inp, n->inputs[k] == MODEL_INPUT ? "input" : m->nodes[n->inputs[k]].name);
            }
            l = (int)strlen(inp);
            winp = l > winp ? l : winp;
        }
    }
    Buf b = {0};
    int64_t total = model_num_parameters(m);
    bprintf(&b, "Model: %d layers, %lld parameters, %s mode\n", m->nnodes, (long long)total,
            m->training ? "train" : "eval");
    bprintf(&b, "  %3s  %-*s  %-*s  ", "#", wname, "name", wtype, "type");
    if (!chain) bprintf(&b, "%-*s  ", winp, "inputs");
    bprintf(&b, "%-*s  %10s\n", wshape, "output", "params");
    for (int i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        Shape s;
        const char *sh = model_node_shape(m, i, &s) ? shape_fmt(&s, shp, sizeof shp) : "?";
        bprintf(&b, "  %3d  %-*s  %-*s  ", i + 1, wname, n->name, wtype, layer_kind_name(n->kind));
        if (!chain) {
            inp[0] = '\0';
            for (int k = 0; k < n->ninputs; k++) {
                strcat(inp, k ? ", " : "");
                strcat(inp, n->inputs[k] == MODEL_INPUT ? "input" : m->nodes[n->inputs[k]].name);
            }
            bprintf(&b, "%-*s  ", winp, inp);
        }
        bprintf(&b, "%-*s  %10lld\n", wshape, sh, (long long)node_num_parameters(n));
    }
    bprintf(&b, "  total parameters: %lld", (long long)total);
    if (b.oom) {
        free(b.p);
        sn_errorf("out of memory");
        return NULL;
    }
    return b.p;
}

/* rows.c — the chunked row engine of attr/rows.h: one reusable input buffer
 * of at most attr_chunk_rows() rows, forward, output gradients, backward, hand-over.
 * It knows no method; what the rows are and what is kept of them is the
 * caller's business. */
#include "attr/rows.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "parallel.h"

void attr_rows_init(AttrRows *s, const Tensor *x, int64_t per_sample) {
    memset(s, 0, sizeof *s);
    s->per_sample = per_sample;
    s->head = -1;
    s->nrows = x->shape[0] * per_sample;
    s->row_numel = tensor_row_numel(x);
    s->ndim = x->ndim - 1;
    memcpy(s->shape, x->shape + 1, sizeof(int64_t) * (size_t)s->ndim);
    s->source = tensor_data(x);
}

void attr_sample_range(const float *x, int64_t n, int64_t d, float *lo, float *hi) {
    for (int64_t i = 0; i < n; i++) {
        const float *p = x + i * d;
        float a = p[0], b = p[0];
        for (int64_t j = 1; j < d; j++) {
            if (p[j] < a) a = p[j];
            if (p[j] > b) b = p[j];
        }
        lo[i] = a, hi[i] = b;
    }
}

int attr_skip_rule(void *ctx, const Model *m, int node, const Tensor *const *inputs, const Tensor *output,
                   const Tensor *d_out, Tensor *const *d_in, int nthreads) {
    (void)ctx, (void)m, (void)node, (void)inputs, (void)output, (void)d_out, (void)d_in, (void)nthreads;
    return SN_OK;
}

int64_t attr_chunk_rows(const AttrRun *r, int64_t row_numel) {
    const Model *m = r->model;
    double floats = 2.0 * (double)row_numel, macs = 0; /* input and its gradient */
    for (int i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        Shape s;
        if (!model_node_shape(m, i, &s)) return r->chunk;
        double numel = (double)shape_numel(s.ndim, s.dim);
        if (!layer_ops(n->kind)->alias) floats += 2.0 * numel; /* activation and gradient */
        if (n->kind == LAYER_CONV2D) macs += (double)tensor_numel(&n->param[0]) * (numel / (double)s.dim[0]);
        if (n->kind == LAYER_LINEAR) macs += (double)tensor_numel(&n->param[0]);
    }
    double rows = ATTR_CHUNK_BYTES / (4.0 * floats);
    if (r->nthreads > 1 && macs > 0 && ATTR_CHUNK_MACS * r->nthreads / macs > rows)
        rows = ATTR_CHUNK_MACS * r->nthreads / macs;
    int64_t c = rows < 4 ? 4 : rows > (double)r->chunk ? r->chunk : (int64_t)rows;
    return c < r->chunk ? c : r->chunk;
}

/* One pass of rows [r0, r0+len) on model m, whose input (or head output,
 * from_head) is `in`: forward, output gradients, backward. grad then points
 * at d score / d input (or the head's output gradients), held by m or d_in. */
typedef struct {
    Tensor out, d_out, d_in;
    const float *grad;
    float *score;
} RowsPass;

static int rows_pass(Model *m, const AttrRun *r, const AttrRows *s, const float *targets, int64_t r0, int64_t len,
                     Tensor *in, int check_targets, int nthreads, RowsPass *p) {
    int rc = s->head >= 0 && s->fill_head ? model_forward_from(m, s->head, in, &p->out, nthreads)
                                          : model_forward(m, in, &p->out, nthreads);
    if (rc == SN_OK && p->out.ndim != 2) {
        char t[128];
        return sn_errorf("attribution needs a model whose output is [N, classes], got %s",
                         tensor_shape_str(&p->out, t, sizeof t));
    }
    int64_t k = rc == SN_OK ? p->out.shape[1] : 0;
    /* every target before work is wasted on a bad one (one pass), or, on
     * replicas, the pass's own (the lowest failing chunk names the first) */
    if (rc == SN_OK && check_targets)
        rc = attr_check_targets(targets, s->nrows / s->per_sample, k);
    else if (rc == SN_OK)
        rc = attr_check_target_range(targets, r0 / s->per_sample, (r0 + len - 1) / s->per_sample - r0 / s->per_sample + 1,
                                     k);
    if (rc == SN_OK) rc = tensor_init_like(&p->d_out, &p->out);
    for (int64_t i = 0; rc == SN_OK && i < len; i++) {
        int t = (int)targets[(r0 + i) / s->per_sample];
        attr_output_grad(r->output, tensor_data(&p->out) + i * k, k, t, tensor_data(&p->d_out) + i * k, &p->score[i]);
    }
    if (rc == SN_OK) /* with a head: down to its output (the head and what precedes it are linear) */
        rc = s->head >= 0 ? model_backward_to(m, &p->d_out, s->head, nthreads)
                          : model_backward(m, &p->d_out, s->rules, 0, &p->d_in, nthreads);
    if (rc == SN_OK) p->grad = tensor_data(s->head >= 0 ? &m->nodes[s->head].d_output : &p->d_in);
    return rc;
}

static void rows_pass_release(RowsPass *p) {
    tensor_release(&p->d_in);
    tensor_release(&p->d_out);
    tensor_release(&p->out);
}

/* The buffer one pass fills: [cap, row shape], or [cap, head shape]. */
static int rows_buffer(const AttrRun *r, const AttrRows *s, int64_t cap, Tensor *buf) {
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim = s->ndim;
    shape[0] = cap;
    memcpy(shape + 1, s->shape, sizeof(int64_t) * (size_t)s->ndim);
    if (s->head >= 0 && s->fill_head) {
        Shape hs;
        if (!model_node_shape(r->model, s->head, &hs))
            return sn_errorf("the shape of layer '%s' is unknown", r->model->nodes[s->head].name);
        ndim = hs.ndim;
        memcpy(shape + 1, hs.dim, sizeof(int64_t) * (size_t)hs.ndim);
    }
    return tensor_init(buf, ndim + 1, shape);
}

static int rows_fill(const AttrRows *s, int64_t r0, int64_t len, Tensor *in, int nthreads) {
    if (s->head >= 0 && s->fill_head) return s->fill_head(s->ctx, r0, len, tensor_data(in), nthreads);
    if (s->fill) return s->fill(s->ctx, r0, len, tensor_data(in), nthreads);
    for (int64_t q = 0; q < len; q++)
        memcpy(tensor_data(in) + q * s->row_numel, s->source + (r0 + q) / s->per_sample * s->row_numel,
               sizeof(float) * (size_t)s->row_numel);
    return SN_OK;
}

/* Per-thread replicas (rowwise rows): private model copies, which fold
 * each ReLU that feeds only a max-pool into it (model.h: fold_relu_pool; on
 * LeNet the two ReLUs' passes over the conv outputs and their gradients)
 * and eval batch norms (and their ReLUs) into convs (fold_conv_bn; on
 * ResNet8 seven batch norms' and four ReLUs' passes each way).
 * When one worker runs, or a chunk can hold whole samples, every chunk is a
 * task: a worker takes the next one, fills it, runs the pass on its own
 * model copy and consumes it. A sample's rows are then all consumed in row
 * order by one thread, so every per-sample sum is the one a single thread
 * makes; one thread start per call, nothing serial between chunks.
 * Otherwise (several workers, samples of more rows than a pass may hold),
 * rounds: one chunk per worker, the gradients copied into the round's
 * buffers and consumed on the calling thread in row order. */
typedef struct {
    const AttrRun *r;
    const AttrRows *s;
    const float *targets;
    Model **models;
    Tensor *bufs;
    float *grad, *score; /* [slots * cap, gd] (rounds only), [slots * cap] */
    int64_t r0, cap, gd;
    int direct; /* tasks consume their own chunks */
} ReplicaRun;

static int replica_task(void *ctx, int64_t t, int worker) {
    ReplicaRun *j = ctx;
    const AttrRows *s = j->s;
    int w = j->direct ? worker : (int)t; /* a round's chunk t has slot t */
    int64_t a = j->r0 + t * j->cap, len = s->nrows - a < j->cap ? s->nrows - a : j->cap;
    Tensor in;
    RowsPass p = {.score = j->score + w * j->cap};
    int rc = tensor_narrow(&in, &j->bufs[w], 0, len);
    if (rc == SN_OK) rc = rows_fill(s, a, len, &in, 1);
    if (rc == SN_OK) rc = rows_pass(j->models[w], j->r, s, j->targets, a, len, &in, 0, 1, &p);
    if (rc == SN_OK && j->direct) rc = s->consume(s->ctx, a, len, p.grad, p.score, 1);
    else if (rc == SN_OK) memcpy(j->grad + w * j->cap * j->gd, p.grad, sizeof(float) * (size_t)(len * j->gd));
    rows_pass_release(&p);
    tensor_release(&in);
    return rc;
}

static int rows_run_replicas(const AttrRun *r, const float *targets, const AttrRows *s, int workers) {
    AttrRun one = *r;
    one.nthreads = 1;
    int64_t chunk = attr_chunk_rows(&one, s->row_numel), ps = s->per_sample, gd = s->row_numel;
    /* A sample's rows may make a pass of up to 16 cache-sized ones (64 MB
     * of activations per worker), not more than the caller's rows per pass
     * (r->chunk): IG-32 on ResNet8 (1.7 MB rows, 4-row passes) ran 20-25%
     * faster at 2 threads this way than in rounds of one 4-row chunk per worker. */
    int direct = workers == 1 || ps <= chunk || (ps <= 16 * chunk && ps <= r->chunk);
    if (direct && workers > 1) chunk = ps <= chunk ? chunk / ps * ps : ps;
    int64_t cap = s->nrows < chunk ? s->nrows : chunk, ntasks = (s->nrows + cap - 1) / cap;
    if (workers > ntasks) workers = (int)ntasks;
    Shape hs;
    if (s->head >= 0) {
        if (!model_node_shape(r->model, s->head, &hs))
            return sn_errorf("the shape of layer '%s' is unknown", r->model->nodes[s->head].name);
        gd = shape_numel(hs.ndim, hs.dim);
    }
    Model *models[64] = {0};
    Tensor bufs[64] = {0};
    float *score = malloc(sizeof(float) * (size_t)(workers * cap)),
          *grad = direct ? NULL : malloc(sizeof(float) * (size_t)(workers * cap * gd));
    int rc = score && (direct || grad) ? SN_OK : sn_errorf("out of memory");
    if (rc == SN_OK) rc = attr_worker_models(r->model, workers, s->head, models);
    for (int w = 0; rc == SN_OK && w < workers; w++) rc = rows_buffer(r, s, cap, &bufs[w]);
    ReplicaRun job = {r, s, targets, models, bufs, grad, score, 0, cap, gd, direct};
    if (rc == SN_OK && direct) rc = parallel_for(workers, ntasks, replica_task, &job);
    for (int64_t r0 = 0; rc == SN_OK && !direct && r0 < s->nrows; r0 += workers * cap) {
        int64_t len = s->nrows - r0 < workers * cap ? s->nrows - r0 : workers * cap;
        int used = (int)((len + cap - 1) / cap);
        job.r0 = r0;
        rc = parallel_for(used, used, replica_task, &job);
        if (rc == SN_OK) rc = s->consume(s->ctx, r0, len, grad, score, r->nthreads);
    }
    attr_free_worker_models(models, workers);
    for (int w = 0; w < workers; w++) tensor_release(&bufs[w]);
    free(score), free(grad);
    return rc;
}

int attr_rows_run(const AttrRun *r, const float *targets, const AttrRows *s) {
    int workers = r->nthreads > 64 ? 64 : r->nthreads;
    if (s->rowwise && !s->rules) return rows_run_replicas(r, targets, s, workers < 1 ? 1 : workers);
    int64_t chunk = attr_chunk_rows(r, s->row_numel), cap = s->nrows < chunk ? s->nrows : chunk;
    Tensor buf;
    if (rows_buffer(r, s, cap, &buf) != SN_OK) return SN_ERR;
    float *score = malloc(sizeof(float) * (size_t)cap);
    int rc = score ? SN_OK : sn_errorf("out of memory");
    for (int64_t r0 = 0; rc == SN_OK && r0 < s->nrows; r0 += cap) {
        int64_t len = s->nrows - r0 < cap ? s->nrows - r0 : cap;
        Tensor in;
        RowsPass p = {.score = score};
        if (tensor_narrow(&in, &buf, 0, len) != SN_OK) {
            rc = SN_ERR;
            break;
        }
        rc = rows_fill(s, r0, len, &in, r->nthreads);
        if (rc == SN_OK) rc = rows_pass(r->model, r, s, targets, r0, len, &in, r0 == 0, r->nthreads, &p);
        if (rc == SN_OK) rc = s->consume(s->ctx, r0, len, p.grad, score, r->nthreads);
        rows_pass_release(&p);
        tensor_release(&in);
    }
    free(score);
    tensor_release(&buf);
    return rc;
}

int attr_node_shape(const AttrRun *r, const Tensor *x, int node, Shape *s) {
    if (model_node_shape(r->model, node, s)) return SN_OK;
    Tensor one;
    if (tensor_narrow(&one, x, 0, 1) != SN_OK) return SN_ERR;
    int rc = model_forward(r->model, &one, NULL, r->nthreads);
    tensor_release(&one);
    if (rc == SN_OK && !model_node_shape(r->model, node, s))
        rc = sn_errorf("the shape of layer '%s' is unknown", r->model->nodes[node].name);
    return rc;
}

int attr_linear_head(const AttrRun *r, const Tensor *x, double max_ratio, int64_t *numel) {
    const Model *m = r->model;
    int at = MODEL_INPUT, head = -1;
    for (;;) { /* follow the only consumer of `at` */
        int next = -1, consumers = 0;
        for (int i = 0; i < m->nnodes; i++)
            for (int k = 0; k < m->nodes[i].ninputs; k++)
                if (m->nodes[i].inputs[k] == at) consumers++, next = i;
        if (consumers != 1 || m->nodes[next].ninputs != 1) return -1;
        LayerKind kind = m->nodes[next].kind;
        if (kind == LAYER_CONV2D || kind == LAYER_LINEAR) {
            head = next;
            break;
        }
        if (kind != LAYER_FLATTEN && kind != LAYER_IDENTITY) return -1;
        at = next;
    }
    if (head == m->nnodes - 1) return -1; /* the whole model: nothing to gain */
    Shape s;
    if (attr_node_shape(r, x, head, &s) != SN_OK) {
        sn_errclear();
        return -1;
    }
    *numel = shape_numel(s.ndim, s.dim);
    return (double)*numel <= max_ratio * (double)tensor_row_numel(x) ? head : -1;
}

int attr_head_backward(const AttrRun *r, int head, const Tensor *x, const float *dz, float *dx) {
    const Node *n = &r->model->nodes[head];
    int64_t N = x->shape[0], d = tensor_row_numel(x);
    memset(dx, 0, sizeof(float) * (size_t)(N * d));
    if (n->kind == LAYER_LINEAR) return linear_backward_input(dx, dz, tensor_data(&n->param[0]), N, n->cfg.in, n->cfg.out, r->nthreads);
    Shape in = shape_of(x); /* reshapes before a conv keep [N, C, H, W] */
    Conv2dGeom g;
    conv2d_geom(&g, &n->cfg, &in);
    return conv2d_backward_input(dx, dz, tensor_data(&n->param[0]), &g, r->nthreads);
}

int attr_head_forward(const AttrRun *r, int head, const Tensor *x, float *z) {
    const Node *n = &r->model->nodes[head];
    int64_t N = x->shape[0];
    const float *b = n->nparams > 1 ? tensor_data(&n->param[1]) : NULL;
    if (n->kind == LAYER_LINEAR)
        return linear_forward(z, tensor_data(x), tensor_data(&n->param[0]), b, N, n->cfg.in, n->cfg.out, r->nthreads);
    Shape in = shape_of(x);
    Conv2dGeom g;
    conv2d_geom(&g, &n->cfg, &in);
    return conv2d_forward(z, tensor_data(x), tensor_data(&n->param[0]), b, &g, r->nthreads);
}

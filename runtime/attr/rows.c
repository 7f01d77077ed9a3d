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

void attr_rows_init(AttrRows *s, const Tensor *x, int64_t per_sample) {
    memset(s, 0, sizeof *s);
    s->per_sample = per_sample;
    s->head = -1;
    s->nrows = x->shape[0] * per_sample;
    s->row_numel = tensor_row_numel(x);
    s->ndim = x->ndim - 1;
    memcpy(s->shape, x->shape + 1, sizeof(int64_t) * (size_t)s->ndim);
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
    int64_t c = rows < 8 ? 8 : rows > (double)r->chunk ? r->chunk : (int64_t)rows;
    return c < r->chunk ? c : r->chunk;
}

int attr_rows_run(const AttrRun *r, const float *targets, const AttrRows *s) {
    int64_t chunk = attr_chunk_rows(r, s->row_numel), cap = s->nrows < chunk ? s->nrows : chunk;
    int from_head = s->head >= 0 && s->fill_head;
    Shape hs = {0};
    if (from_head && !model_node_shape(r->model, s->head, &hs))
        return sn_errorf("the shape of layer '%s' is unknown", r->model->nodes[s->head].name);
    int64_t shape[TENSOR_MAX_DIMS];
    shape[0] = cap;
    if (from_head)
        memcpy(shape + 1, hs.dim, sizeof(int64_t) * (size_t)hs.ndim);
    else
        memcpy(shape + 1, s->shape, sizeof(int64_t) * (size_t)s->ndim);
    Tensor buf;
    if (tensor_init(&buf, (from_head ? hs.ndim : s->ndim) + 1, shape) != SN_OK) return SN_ERR;
    float *score = malloc(sizeof(float) * (size_t)cap);
    int64_t k = 0; /* classes; 0 until the first forward */
    int rc = score ? SN_OK : sn_errorf("out of memory");
    for (int64_t r0 = 0; rc == SN_OK && r0 < s->nrows; r0 += cap) {
        int64_t len = s->nrows - r0 < cap ? s->nrows - r0 : cap;
        Tensor in, out = {0}, d_out = {0}, d_in = {0};
        if (tensor_narrow(&in, &buf, 0, len) != SN_OK) {
            rc = SN_ERR;
            break;
        }
        if (from_head) {
            rc = s->fill_head(s->ctx, r0, len, tensor_data(&in));
            if (rc == SN_OK) rc = model_forward_from(r->model, s->head, &in, &out, r->nthreads);
        } else {
            rc = s->fill(s->ctx, r0, len, tensor_data(&in));
            if (rc == SN_OK) rc = model_forward(r->model, &in, &out, r->nthreads);
        }
        if (rc == SN_OK && out.ndim != 2) {
            char t[128];
            rc = sn_errorf("attribution needs a model whose output is [N, classes], got %s",
                           tensor_shape_str(&out, t, sizeof t));
        }
        if (rc == SN_OK && k == 0) { /* every target, before work is wasted on a bad one */
            k = out.shape[1];
            rc = attr_check_targets(targets, s->nrows / s->per_sample, k);
        }
        if (rc == SN_OK) rc = tensor_init_like(&d_out, &out);
        for (int64_t i = 0; rc == SN_OK && i < len; i++) {
            int t = (int)targets[(r0 + i) / s->per_sample];
            attr_output_grad(r->output, tensor_data(&out) + i * k, k, t, tensor_data(&d_out) + i * k, &score[i]);
        }
        if (rc == SN_OK) /* with a head: down to its output (the head and what precedes it are linear) */
            rc = s->head >= 0 ? model_backward_to(r->model, &d_out, s->head, r->nthreads)
                              : model_backward(r->model, &d_out, s->rules, 0, &d_in, r->nthreads);
        if (rc == SN_OK) {
            const Tensor *g = s->head >= 0 ? &r->model->nodes[s->head].d_output : &d_in;
            rc = s->consume(s->ctx, r0, len, tensor_data(g), score);
        }
        tensor_release(&d_in);
        tensor_release(&d_out);
        tensor_release(&out);
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

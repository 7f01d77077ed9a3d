/* propagation.c — guided backprop and deconvnet (propagation.h): a
 * BackwardRule at each relu node, plain gradients elsewhere, one chunked
 * pass over the batch (attr_gradient_rows). */
#include "attr/propagation.h"

#include <stdlib.h>

#include "error.h"
#include "nn/layer.h"

typedef struct {
    float *dx;
    const float *dy, *y;
    int deconv;
} ReluCtx;

static int relu_rule_range(void *p, int64_t b, int64_t e, int worker) {
    (void)worker;
    ReluCtx *c = p;
    if (c->deconv) {
        for (int64_t k = b; k < e; k++) c->dx[k] += c->dy[k] > 0 ? c->dy[k] : 0.0f;
    } else {
        for (int64_t k = b; k < e; k++) c->dx[k] += c->y[k] > 0 && c->dy[k] > 0 ? c->dy[k] : 0.0f;
    }
    return SN_OK;
}

static int relu_rule(void *ctx, const Model *m, int node, const Tensor *const *inputs, const Tensor *output,
                     const Tensor *d_out, Tensor *const *d_in, int nthreads) {
    (void)m, (void)node, (void)inputs;
    ReluCtx c = {tensor_data(d_in[0]), tensor_data(d_out), tensor_data(output), ctx != NULL};
    return nn_parallel(nthreads, tensor_numel(d_out), 1 << 14, relu_rule_range, &c);
}

static BackwardRule *relu_rules(const Model *m, int deconv) {
    BackwardRule *rules = calloc((size_t)m->nnodes, sizeof *rules);
    if (!rules) {
        sn_errorf("out of memory");
        return NULL;
    }
    /* ctx is only a flag here: non-NULL = deconvnet */
    static const int deconv_flag = 1;
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].kind == LAYER_RELU) rules[i] = (BackwardRule){relu_rule, deconv ? (void *)&deconv_flag : NULL};
    return rules;
}

BackwardRule *attr_guided_rules(const Model *m) { return relu_rules(m, 0); }
BackwardRule *attr_deconvnet_rules(const Model *m) { return relu_rules(m, 1); }

static int run(const AttrRun *r, const Tensor *x, const float *targets, BackwardRule *rules, Tensor *out) {
    if (!rules) return SN_ERR;
    int rc = attr_gradient_rows(r, x, targets, rules, out, NULL);
    free(rules);
    return rc;
}

int attr_guided_backprop(const AttrRun *r, const Tensor *x, const float *targets, Tensor *out) {
    return run(r, x, targets, attr_guided_rules(r->model), out);
}

int attr_deconvnet(const AttrRun *r, const Tensor *x, const float *targets, Tensor *out) {
    return run(r, x, targets, attr_deconvnet_rules(r->model), out);
}

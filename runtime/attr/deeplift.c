/* attr/deeplift.c — DeepLift (rescale rule) through the model's backward
 * rules (deeplift.h): the baseline's activations of a chunk are kept by
 * reference in the rule context while the input's forward allocates its
 * own, and the nonlinear nodes' rules divide differences of the two.
 * Not here: the reveal-cancel rule, DeepLift-SHAP (averages over baselines). */
#include "attr/deeplift.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define DL_NEAR_ZERO 1e-7f

typedef struct {
    Tensor *ref; /* [nnodes] the baseline's activations */
    Tensor ref_in;
} DlCtx;

typedef struct {
    LayerKind kind;
    float slope;
    float *dx;
    const float *dy, *x, *xr, *y, *yr;
} DlJob;

static int dl_range(void *ctx, int64_t lo, int64_t hi, int worker) {
    (void)worker;
    const DlJob *j = ctx;
    for (int64_t i = lo; i < hi; i++) {
        float dxv = j->x[i] - j->xr[i], m;
        if (fabsf(dxv) >= DL_NEAR_ZERO) {
            m = (j->y[i] - j->yr[i]) / dxv;
        } else {
            float y = j->y[i];
            switch (j->kind) {
            case LAYER_RELU:
                m = y > 0 ? 1.0f : 0.0f;
                break;
            case LAYER_LEAKY_RELU:
                m = j->x[i] > 0 ? 1.0f : j->slope;
                break;
            case LAYER_TANH:
                m = 1 - y * y;
                break;
            default:
                m = y * (1 - y);
                break; /* sigmoid */
            }
        }
        j->dx[i] = j->dy[i] * m;
    }
    return SN_OK;
}

static int dl_rule(void *ctx, const Model *m, int node, const Tensor *const *in, const Tensor *output,
                   const Tensor *d_out, Tensor *const *d_in, int nthreads) {
    const DlCtx *c = ctx;
    const Node *n = &m->nodes[node];
    const Tensor *xr = n->inputs[0] == MODEL_INPUT ? &c->ref_in : &c->ref[n->inputs[0]];
    DlJob j = {n->kind,         n->cfg.slope,        tensor_data(d_in[0]),      tensor_data(d_out), tensor_data(in[0]),
               tensor_data(xr), tensor_data(output), tensor_data(&c->ref[node])};
    return nn_parallel(nthreads, tensor_numel(output), 16384, dl_range, &j);
}

static int nonlinear(LayerKind k) {
    return k == LAYER_RELU || k == LAYER_LEAKY_RELU || k == LAYER_TANH || k == LAYER_SIGMOID;
}

static int check_logits(const Tensor *logits) {
    if (logits->ndim == 2) return SN_OK;
    char b[128];
    return sn_errorf("attribution needs a model whose output is [N, classes], got %s",
                     tensor_shape_str(logits, b, sizeof b));
}

int attr_deeplift(const AttrRun *r, const Tensor *x, const float *targets, const Tensor *baseline, Tensor *out,
                  float *delta) {
    Model *m = r->model;
    int nn = m->nnodes, rc = SN_OK;
    int64_t n = x->shape[0], row = tensor_row_numel(x);
    int per_row = baseline && tensor_numel(baseline) == tensor_numel(x) && n > 1;
    memset(out, 0, sizeof *out);
    DlCtx ctx = {calloc((size_t)nn, sizeof(Tensor)), {0}};
    BackwardRule *br = calloc((size_t)nn, sizeof *br);
    float *d = NULL;
    if (!ctx.ref || !br) rc = sn_errorf("out of memory");
    for (int i = 0; i < nn && rc == SN_OK; i++)
        if (nonlinear(m->nodes[i].kind)) br[i] = (BackwardRule){dl_rule, &ctx};
    if (rc == SN_OK) rc = tensor_init_like(out, x);
    for (int64_t s = 0; s < n && rc == SN_OK; s += r->chunk) {
        int64_t len = n - s < r->chunk ? n - s : r->chunk;
        Tensor part, refx = {0}, lref = {0}, logits = {0}, g0 = {0}, gin = {0};
        if ((rc = tensor_narrow(&part, x, s, len)) != SN_OK) break;
        rc = tensor_init_like(&refx, &part);
        if (rc == SN_OK && baseline) {
            float *dst = tensor_data(&refx);
            const float *src = tensor_data(baseline);
            for (int64_t i = 0; i < len; i++)
                memcpy(dst + i * row, src + (per_row ? (s + i) * row : 0), sizeof(float) * (size_t)row);
        }
        /* the baseline's forward first: its activations stay referenced, so
         * the input's forward allocates new ones */
        if (rc == SN_OK) rc = model_forward(m, &refx, &lref, r->nthreads);
        if (rc == SN_OK) rc = check_logits(&lref);
        for (int i = 0; i < nn && rc == SN_OK; i++) tensor_share(&ctx.ref[i], &m->nodes[i].output);
        if (rc == SN_OK) tensor_share(&ctx.ref_in, &refx);
        if (rc == SN_OK) rc = model_forward(m, &part, &logits, r->nthreads);
        int64_t k = rc == SN_OK ? logits.shape[1] : 0;
        if (rc == SN_OK && s == 0) rc = attr_check_targets(targets, n, k); /* all at once: sample numbers as given */
        if (rc == SN_OK && !d && !(d = malloc(sizeof(float) * (size_t)k))) rc = sn_errorf("out of memory");
        if (rc == SN_OK) rc = tensor_init_like(&g0, &logits);
        float *score = NULL;
        if (rc == SN_OK && !(score = malloc(sizeof(float) * (size_t)len))) rc = sn_errorf("out of memory");
        for (int64_t i = 0; i < len && rc == SN_OK; i++) {
            float sref;
            int t = (int)targets[s + i];
            attr_output_grad(r->output, tensor_data(&lref) + i * k, k, t, d, &sref);
            attr_output_grad(r->output, tensor_data(&logits) + i * k, k, t, tensor_data(&g0) + i * k, &score[i]);
            score[i] -= sref;
        }
        if (rc == SN_OK) rc = model_backward(m, &g0, br, 0, &gin, r->nthreads);
        if (rc == SN_OK) {
            const float *xv = tensor_data(&part), *xr = tensor_data(&refx), *mv = tensor_data(&gin);
            float *o = tensor_data(out) + s * row;
            for (int64_t i = 0; i < len; i++) {
                double sum = 0;
                for (int64_t j = 0; j < row; j++) {
                    int64_t q = i * row + j;
                    o[q] = (xv[q] - xr[q]) * mv[q];
                    sum += o[q];
                }
                if (delta) delta[s + i] = (float)(sum - (double)score[i]);
            }
        }
        free(score);
        for (int i = 0; i < nn; i++) tensor_release(&ctx.ref[i]);
        tensor_release(&ctx.ref_in);
        tensor_release(&gin);
        tensor_release(&g0);
        tensor_release(&logits);
        tensor_release(&lref);
        tensor_release(&refx);
        tensor_release(&part);
    }
    free(d);
    free(ctx.ref);
    free(br);
    if (rc != SN_OK) tensor_release(out);
    return rc;
}

/* cam.c — Grad-CAM and guided Grad-CAM (cam.h) and the bilinear resize.
 * Rows are the samples themselves (attr/rows.h); the layer's activation and
 * output gradient are read from the model while each chunk is handed over.
 * Nodes that cannot carry the gradient from the layer to the output get a
 * rule that does nothing, so the pass does no work below the layer. */
#include "attr/cam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attr/propagation.h"
#include "attr/rows.h"
#include "error.h"

int attr_cam_default_layer(const Model *m) {
    for (int i = m->nnodes - 1; i >= 0; i--)
        if (m->nodes[i].kind == LAYER_CONV2D) return i;
    return -1;
}

/* PyTorch's source index computation for align_corners=False. */
static void src_coord(int64_t i, int64_t in, int64_t out, int64_t *i0, int64_t *i1, float *t) {
    float scale = (float)in / (float)out;
    float s = ((float)i + 0.5f) * scale - 0.5f;
    if (s < 0) s = 0;
    *i0 = (int64_t)s;
    if (*i0 > in - 1) *i0 = in - 1;
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *t = s - (float)*i0;
}

void attr_upsample_bilinear(float *out, const float *in, int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow) {
    for (int64_t y = 0; y < oh; y++) {
        int64_t y0, y1;
        float ty;
        src_coord(y, h, oh, &y0, &y1, &ty);
        for (int64_t x = 0; x < ow; x++) {
            int64_t x0, x1;
            float tx;
            src_coord(x, w, ow, &x0, &x1, &tx);
            for (int64_t p = 0; p < planes; p++) {
                const float *a = in + p * h * w;
                float top = (1 - tx) * a[y0 * w + x0] + tx * a[y0 * w + x1];
                float bot = (1 - tx) * a[y1 * w + x0] + tx * a[y1 * w + x1];
                out[p * oh * ow + y * ow + x] = (1 - ty) * top + ty * bot;
            }
        }
    }
}

typedef struct {
    const Model *m;
    int layer, relu;
    float *cam;  /* [N, h*w] */
    double *acc; /* [h*w] scratch */
    int64_t hw;
} CamCtx;

static int cam_consume(void *p, int64_t r0, int64_t len, const float *g, const float *score, int nthreads) {
    (void)nthreads;
    (void)g, (void)score;
    CamCtx *c = p;
    const Node *n = &c->m->nodes[c->layer];
    int64_t k = n->output.shape[1], hw = c->hw;
    const float *a = tensor_data(&n->output), *da = tensor_data(&n->d_output);
    for (int64_t i = 0; i < len; i++) {
        float *cam = c->cam + (r0 + i) * hw;
        double *acc = c->acc;
        memset(acc, 0, sizeof(double) * (size_t)hw);
        for (int64_t ch = 0; ch < k; ch++) {
            const float *ai = a + (i * k + ch) * hw, *gi = da + (i * k + ch) * hw;
            double wk = 0;
            for (int64_t q = 0; q < hw; q++) wk += gi[q];
            wk /= (double)hw;
            for (int64_t q = 0; q < hw; q++) acc[q] += wk * ai[q];
        }
        for (int64_t q = 0; q < hw; q++) cam[q] = (float)(c->relu && acc[q] < 0 ? 0 : acc[q]);
    }
    return SN_OK;
}

int attr_gradcam(const AttrRun *r, const Tensor *x, const float *targets, const AttrCamOptions *o, Tensor *out) {
    Model *m = r->model;
    int64_t n = x->shape[0];
    memset(out, 0, sizeof *out);
    Shape ls;
    if (attr_node_shape(r, x, o->layer, &ls) != SN_OK) return SN_ERR;
    if (ls.ndim != 3) return sn_errorf("Grad-CAM: layer '%s' has no [C, H, W] output", m->nodes[o->layer].name);
    int64_t h = ls.dim[1], w = ls.dim[2];
    /* rules: skip every node that cannot carry the gradient from the layer
     * to the output (nodes before it and side branches), and the layer */
    BackwardRule *rules = calloc((size_t)m->nnodes, sizeof *rules);
    char *from = calloc((size_t)m->nnodes, 1);
    float *cam = malloc(sizeof(float) * (size_t)(n * h * w));
    double *acc = malloc(sizeof(double) * (size_t)(h * w));
    int rc = rules && from && cam && acc ? SN_OK : sn_errorf("out of memory");
    if (rc == SN_OK) {
        for (int i = 0; i < m->nnodes; i++) {
            const Node *nd = &m->nodes[i];
            from[i] = i == o->layer;
            for (int k = 0; k < nd->ninputs && i > o->layer; k++)
                if (nd->inputs[k] != MODEL_INPUT && from[nd->inputs[k]]) from[i] = 1;
            if (!from[i] || i == o->layer) rules[i] = (BackwardRule){attr_skip_rule, NULL};
        }
        CamCtx c = {m, o->layer, o->relu, cam, acc, h * w};
        AttrRows s;
        attr_rows_init(&s, x, 1);
        s.rules = rules, s.consume = cam_consume, s.ctx = &c;
        rc = attr_rows_run(r, targets, &s);
    }
    if (rc == SN_OK) {
        int64_t oh = o->upsample ? x->shape[2] : h, ow = o->upsample ? x->shape[3] : w;
        int64_t shape[4] = {n, 1, oh, ow};
        if ((rc = tensor_init(out, 4, shape)) == SN_OK) {
            if (o->upsample)
                attr_upsample_bilinear(tensor_data(out), cam, n, h, w, oh, ow);
            else
                memcpy(tensor_data(out), cam, sizeof(float) * (size_t)(n * h * w));
        }
    }
    free(rules), free(from), free(cam), free(acc);
    return rc;
}

int attr_guided_gradcam(const AttrRun *r, const Tensor *x, const float *targets, const AttrCamOptions *o, Tensor *out) {
    AttrCamOptions up = *o;
    up.upsample = 1;
    Tensor cam;
    if (attr_gradcam(r, x, targets, &up, &cam) != SN_OK) return SN_ERR;
    if (attr_guided_backprop(r, x, targets, out) != SN_OK) {
        tensor_release(&cam);
        return SN_ERR;
    }
    int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    float *g = tensor_data(out);
    const float *m = tensor_data(&cam);
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t q = 0; q < hw; q++) g[(i * c + ch) * hw + q] *= m[i * hw + q];
    tensor_release(&cam);
    return SN_OK;
}

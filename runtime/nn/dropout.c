/* nn/dropout.c — inverted dropout with keyed draws (see dropout.h) and its
 * LayerOps: training draws a mask and keeps it for backward; eval copies. */
#include "nn/dropout.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "nn/layer.h"
#include "rng.h"

uint64_t dropout_stream(const char *node, uint64_t step) {
    return rng_stream("dropout", rng_hash_string(node), step);
}

typedef struct {
    float *y, *mask;
    const float *x, *dy;
    float p;
    uint64_t seed, stream;
} DropJob;

static int drop_fwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    DropJob *j = ctx;
    rng_uniform(j->mask + b, e - b, j->seed, j->stream, (uint64_t)b);
    float keep = 1.0f - j->p, scale = keep > 0 ? 1.0f / keep : 0.0f;
    for (int64_t i = b; i < e; i++) {
        j->mask[i] = j->mask[i] < keep ? scale : 0.0f;
        j->y[i] = j->x[i] * j->mask[i];
    }
    return SN_OK;
}

int dropout_forward(float *y, float *mask, const float *x, float p, int64_t n, uint64_t seed, uint64_t stream,
                    int nthreads) {
    DropJob j = {y, mask, x, NULL, p, seed, stream};
    return nn_parallel(nthreads, n, 16384, drop_fwd, &j);
}

static int drop_bwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    DropJob *j = ctx;
    for (int64_t i = b; i < e; i++) j->y[i] += j->dy[i] * j->mask[i];
    return SN_OK;
}

int dropout_backward(float *dx, const float *dy, const float *mask, int64_t n, int nthreads) {
    DropJob j = {dx, (float *)mask, NULL, dy, 0, 0, 0};
    return nn_parallel(nthreads, n, 16384, drop_bwd, &j);
}

/* ---- LayerOps ---- */

static int d_check(const LayerConfig *c) {
    if (!(c->p >= 0 && c->p <= 1)) return sn_errorf("p must be in [0, 1], got %g", (double)c->p);
    return SN_OK;
}

static int d_forward(Node *n, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    int64_t cnt = tensor_numel(out);
    if (!run->training) {
        memcpy(tensor_data(out), tensor_data(in[0]), sizeof(float) * (size_t)cnt);
        return SN_OK;
    }
    Shape s = shape_of(out);
    if (nn_ensure(&n->saved, &s, 0) != SN_OK) return SN_ERR;
    return dropout_forward(tensor_data(out), tensor_data(&n->saved), tensor_data(in[0]), n->cfg.p, cnt, run->seed,
                           dropout_stream(n->name, run->step), run->nthreads);
}

static int d_backward(Node *n, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in, const LayerRun *run) {
    (void)in;
    if (!d_in[0]) return SN_OK;
    int64_t cnt = tensor_numel(d_out);
    if (!run->training) {
        float *dx = tensor_data(d_in[0]);
        const float *dy = tensor_data(d_out);
        for (int64_t i = 0; i < cnt; i++) dx[i] += dy[i];
        return SN_OK;
    }
    return dropout_backward(tensor_data(d_in[0]), tensor_data(d_out), tensor_data(&n->saved), cnt, run->nthreads);
}

const LayerOps layer_dropout_ops = {"dropout", 1, 0, d_check, layer_no_params, layer_same_shape, d_forward, d_backward, layer_no_init, 0};

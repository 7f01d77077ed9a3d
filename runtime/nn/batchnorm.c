/* nn/batchnorm.c — batch normalization over channel 1 (see batchnorm.h) and
 * the LayerOps of batchnorm1d / batchnorm2d. Every per-channel sum runs in
 * double over samples in order, one channel per task, so statistics do not
 * depend on the thread count: element k of a sample's row goes to partial
 * sum k mod BN_LANES, and the partial sums are added in a fixed tree at the
 * end (independent chains vectorize; one serial chain of double additions
 * made batch norm ~17% of a ResNet-8 training step). The affine part is
 * applied as PyTorch does: y = x * (invstd * gamma) + (beta - mean * invstd * gamma). */
#include "nn/batchnorm.h"

#include <math.h>

#include "error.h"
#include "nn/layer.h"

typedef struct {
    float *y, *saved, *rm, *rv, *dx, *dgamma, *dbeta;
    const float *x, *gamma, *beta, *crm, *crv, *dy, *csaved;
    int64_t n, s;
    int c;
    float eps, momentum;
    int assign; /* backward: dx is uninitialized; write it instead of adding */
} BnJob;

#define AT(p, i, ch) ((p) + ((i)*j->c + (ch)) * j->s) /* start of sample i, channel ch */

#define BN_LANES 8

static double lanes_total(const double a[BN_LANES]) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* a[k % BN_LANES] += x[k] for k < s */
static inline void lanes_sum(double a[BN_LANES], const float *restrict x, int64_t s) {
    int64_t k = 0;
    for (; k + BN_LANES <= s; k += BN_LANES)
        for (int l = 0; l < BN_LANES; l++) a[l] += x[k + l];
    for (int l = 0; k + l < s; l++) a[l] += x[k + l];
}

/* a[k % BN_LANES] += (x[k] - mean)^2 */
static inline void lanes_sq(double a[BN_LANES], const float *restrict x, double mean, int64_t s) {
    int64_t k = 0;
    for (; k + BN_LANES <= s; k += BN_LANES)
        for (int l = 0; l < BN_LANES; l++) {
            double d = x[k + l] - mean;
            a[l] += d * d;
        }
    for (int l = 0; k + l < s; l++) {
        double d = x[k + l] - mean;
        a[l] += d * d;
    }
}

static int train_fwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    BnJob *j = ctx;
    double cnt = (double)j->n * (double)j->s;
    for (int64_t ch = b; ch < e; ch++) {
        double sum[BN_LANES] = {0}, ss[BN_LANES] = {0};
        for (int64_t i = 0; i < j->n; i++) lanes_sum(sum, AT(j->x, i, ch), j->s);
        double mean = lanes_total(sum) / cnt;
        for (int64_t i = 0; i < j->n; i++) lanes_sq(ss, AT(j->x, i, ch), mean, j->s);
        double var = lanes_total(ss) / cnt;
        float invstd = (float)(1.0 / sqrt(var + (double)j->eps));
        float alpha = invstd * j->gamma[ch], beta = j->beta[ch] - (float)mean * alpha;
        for (int64_t i = 0; i < j->n; i++) {
            const float *x = AT(j->x, i, ch);
            float *y = AT(j->y, i, ch);
            for (int64_t k = 0; k < j->s; k++) y[k] = x[k] * alpha + beta;
        }
        j->saved[ch] = (float)mean;
        j->saved[j->c + ch] = invstd;
        float m = j->momentum;
        j->rm[ch] = (1 - m) * j->rm[ch] + m * (float)mean;
        j->rv[ch] = (1 - m) * j->rv[ch] + m * (float)(var * cnt / (cnt - 1));
    }
    return SN_OK;
}

int batchnorm_forward_train(float *y, float *saved, float *running_mean, float *running_var, const float *x,
                            const float *gamma, const float *beta, int64_t n, int c, int64_t s, float eps,
                            float momentum, int nthreads) {
    BnJob j = {.y = y,
               .saved = saved,
               .rm = running_mean,
               .rv = running_var,
               .x = x,
               .gamma = gamma,
               .beta = beta,
               .n = n,
               .s = s,
               .c = c,
               .eps = eps,
               .momentum = momentum};
    return nn_parallel(nthreads, c, 1, train_fwd, &j);
}

/* Eval mode as y = x * scale + shift; scale is also dx/dy. */
static inline float eval_scale(float gamma, float running_var, float eps) {
    float invstd = (float)(1.0 / sqrt((double)running_var + (double)eps));
    return invstd * gamma;
}

void batchnorm_eval_affine(float *scale, float *shift, const float *gamma, const float *beta,
                           const float *running_mean, const float *running_var, int c, float eps) {
    for (int ch = 0; ch < c; ch++) {
        scale[ch] = eval_scale(gamma[ch], running_var[ch], eps);
        if (shift) shift[ch] = beta[ch] - running_mean[ch] * scale[ch];
    }
}

static int eval_fwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    BnJob *j = ctx;
    for (int64_t ch = b; ch < e; ch++) {
        float alpha = eval_scale(j->gamma[ch], j->crv[ch], j->eps), beta = j->beta[ch] - j->crm[ch] * alpha;
        for (int64_t i = 0; i < j->n; i++) {
            const float *x = AT(j->x, i, ch);
            float *y = AT(j->y, i, ch);
            for (int64_t k = 0; k < j->s; k++) y[k] = x[k] * alpha + beta;
        }
    }
    return SN_OK;
}

int batchnorm_forward_eval(float *y, const float *x, const float *gamma, const float *beta, const float *running_mean,
                           const float *running_var, int64_t n, int c, int64_t s, float eps, int nthreads) {
    BnJob j = {.y = y,
               .x = x,
               .gamma = gamma,
               .beta = beta,
               .crm = running_mean,
               .crv = running_var,
               .n = n,
               .s = s,
               .c = c,
               .eps = eps};
    return nn_parallel(nthreads, c, 1, eval_fwd, &j);
}

/* Shared by both modes: sums of dy and dy*xhat for one channel. */
static void channel_sums(const BnJob *j, int64_t ch, float mean, float invstd, double *sdy, double *sdyx) {
    double a[BN_LANES] = {0}, b[BN_LANES] = {0};
    for (int64_t i = 0; i < j->n; i++) {
        const float *restrict x = AT(j->x, i, ch), *restrict dy = AT(j->dy, i, ch);
        int64_t k = 0;
        for (; k + BN_LANES <= j->s; k += BN_LANES)
            for (int l = 0; l < BN_LANES; l++) {
                a[l] += dy[k + l];
                b[l] += (double)dy[k + l] * ((x[k + l] - mean) * invstd);
            }
        for (int l = 0; k + l < j->s; l++) {
            a[l] += dy[k + l];
            b[l] += (double)dy[k + l] * ((x[k + l] - mean) * invstd);
        }
    }
    *sdy = lanes_total(a), *sdyx = lanes_total(b);
}

static int train_bwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    BnJob *j = ctx;
    double cnt = (double)j->n * (double)j->s;
    for (int64_t ch = b; ch < e; ch++) {
        float mean = j->csaved[ch], invstd = j->csaved[j->c + ch];
        double sdy, sdyx;
        channel_sums(j, ch, mean, invstd, &sdy, &sdyx);
        if (j->dgamma) j->dgamma[ch] += (float)sdyx;
        if (j->dbeta) j->dbeta[ch] += (float)sdy;
        if (!j->dx) continue;
        float k = invstd * j->gamma[ch], mdy = (float)(sdy / cnt), mdyx = (float)(sdyx / cnt);
        for (int64_t i = 0; i < j->n; i++) {
            const float *x = AT(j->x, i, ch), *dy = AT(j->dy, i, ch);
            float *dx = AT(j->dx, i, ch);
            if (j->assign) /* 0 + v: the bits of adding into zeros */
                for (int64_t q = 0; q < j->s; q++) dx[q] = 0.0f + (dy[q] - mdy - (x[q] - mean) * invstd * mdyx) * k;
            else
                for (int64_t q = 0; q < j->s; q++) dx[q] += (dy[q] - mdy - (x[q] - mean) * invstd * mdyx) * k;
        }
    }
    return SN_OK;
}

int batchnorm_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *gamma, const float *saved, int64_t n, int c, int64_t s, int assign,
                             int nthreads) {
    BnJob j = {.dx = dx,
               .dgamma = dgamma,
               .dbeta = dbeta,
               .dy = dy,
               .x = x,
               .gamma = gamma,
               .csaved = saved,
               .n = n,
               .s = s,
               .c = c,
               .assign = assign};
    return nn_parallel(nthreads, c, 1, train_bwd, &j);
}

static int eval_bwd(void *ctx, int64_t b, int64_t e, int worker) {
    (void)worker;
    BnJob *j = ctx;
    for (int64_t ch = b; ch < e; ch++) {
        float mean = j->crm[ch], invstd = (float)(1.0 / sqrt((double)j->crv[ch] + (double)j->eps));
        if (j->dgamma || j->dbeta) {
            double sdy, sdyx;
            channel_sums(j, ch, mean, invstd, &sdy, &sdyx);
            if (j->dgamma) j->dgamma[ch] += (float)sdyx;
            if (j->dbeta) j->dbeta[ch] += (float)sdy;
        }
        if (!j->dx) continue;
        float k = eval_scale(j->gamma[ch], j->crv[ch], j->eps);
        for (int64_t i = 0; i < j->n; i++) {
            const float *dy = AT(j->dy, i, ch);
            float *dx = AT(j->dx, i, ch);
            if (j->assign)
                for (int64_t q = 0; q < j->s; q++) dx[q] = 0.0f + dy[q] * k;
            else
                for (int64_t q = 0; q < j->s; q++) dx[q] += dy[q] * k;
        }
    }
    return SN_OK;
}

int batchnorm_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
                            const float *running_mean, const float *running_var, int64_t n, int c, int64_t s, float eps,
                            int assign, int nthreads) {
    BnJob j = {.dx = dx,
               .dgamma = dgamma,
               .dbeta = dbeta,
               .dy = dy,
               .x = x,
               .gamma = gamma,
               .crm = running_mean,
               .crv = running_var,
               .n = n,
               .s = s,
               .c = c,
               .eps = eps,
               .assign = assign};
    return nn_parallel(nthreads, c, 1, eval_bwd, &j);
}
#undef AT

/* ---- LayerOps ---- */

static int bn_check(const LayerConfig *c) {
    if (c->in < 1) return sn_errorf("num_features must be at least 1, got %d", c->in);
    if (!(c->eps > 0)) return sn_errorf("eps must be positive, got %g", (double)c->eps);
    if (!(c->momentum >= 0 && c->momentum <= 1))
        return sn_errorf("momentum must be in [0, 1], got %g", (double)c->momentum);
    return SN_OK;
}

static void bn_param_shapes(const LayerConfig *c, int *np, Shape *p, int *nb, Shape *b) {
    *np = 2;
    p[0] = p[1] = (Shape){1, {c->in}};
    *nb = 3;
    b[0] = b[1] = (Shape){1, {c->in}};
    b[2] = (Shape){0, {0}};
}

static int bn_shape(const LayerConfig *c, const Shape *in, Shape *out, int two_d) {
    char buf[160];
    if (two_d && in->ndim != 4)
        return sn_errorf("expected a 4-d input [N, C, H, W], got %s", shape_fmt(in, buf, sizeof buf));
    if (!two_d && in->ndim != 2 && in->ndim != 3)
        return sn_errorf("expected a 2-d input [N, C] or a 3-d input [N, C, L], got %s",
                         shape_fmt(in, buf, sizeof buf));
    if (in->dim[1] != c->in)
        return sn_errorf("input has %lld %s, layer expects %d (input %s)", (long long)in->dim[1],
                         two_d || in->ndim == 3 ? "channels" : "features", c->in, shape_fmt(in, buf, sizeof buf));
    *out = in[0];
    return SN_OK;
}

static int bn1_shape(const LayerConfig *c, const Shape *in, Shape *out) {
    return bn_shape(c, in, out, 0);
}
static int bn2_shape(const LayerConfig *c, const Shape *in, Shape *out) {
    return bn_shape(c, in, out, 1);
}

static void dims(const Tensor *t, int64_t *n, int *c, int64_t *s) {
    *n = t->shape[0];
    *c = (int)t->shape[1];
    *s = shape_numel(t->ndim - 2, t->shape + 2);
}

static int bn_forward(Node *nd, const Tensor *const *in, Tensor *out, const LayerRun *run) {
    int64_t n, s;
    int c;
    dims(in[0], &n, &c, &s);
    float *gamma = tensor_data(&nd->param[0]), *beta = tensor_data(&nd->param[1]);
    float *rm = tensor_data(&nd->buffer[0]), *rv = tensor_data(&nd->buffer[1]);
    if (!run->training)
        return batchnorm_forward_eval(tensor_data(out), tensor_data(in[0]), gamma, beta, rm, rv, n, c, s, nd->cfg.eps,
                                      run->nthreads);
    if (n * s < 2) {
        char buf[160];
        return sn_errorf("expected more than 1 value per channel when training, got input %s",
                         tensor_shape_str(in[0], buf, sizeof buf));
    }
    Shape ss = {2, {2, c}};
    if (nn_ensure(&nd->saved, &ss, 0) != SN_OK) return SN_ERR;
    tensor_data(&nd->buffer[2])[0] += 1; /* num_batches_tracked */
    return batchnorm_forward_train(tensor_data(out), tensor_data(&nd->saved), rm, rv, tensor_data(in[0]), gamma, beta,
                                   n, c, s, nd->cfg.eps, nd->cfg.momentum, run->nthreads);
}

static int bn_backward(Node *nd, const Tensor *const *in, const Tensor *d_out, Tensor *const *d_in,
                       const LayerRun *run) {
    int64_t n, s;
    int c;
    dims(in[0], &n, &c, &s);
    float *dx = d_in[0] ? tensor_data(d_in[0]) : NULL;
    float *dg = run->want_param_grads ? tensor_data(&nd->grad[0]) : NULL;
    float *db = run->want_param_grads ? tensor_data(&nd->grad[1]) : NULL;
    if (!dx && !dg) return SN_OK;
    const float *gamma = tensor_data(&nd->param[0]);
    if (run->training)
        return batchnorm_backward_train(dx, dg, db, tensor_data(d_out), tensor_data(in[0]), gamma,
                                        tensor_data(&nd->saved), n, c, s, run->fresh & 1, run->nthreads);
    return batchnorm_backward_eval(dx, dg, db, tensor_data(d_out), tensor_data(in[0]), gamma,
                                   tensor_data(&nd->buffer[0]), tensor_data(&nd->buffer[1]), n, c, s, nd->cfg.eps,
                                   run->fresh & 1, run->nthreads);
}

/* PyTorch's reset_parameters(): weight 1, bias 0, and reset_running_stats(). */
static void bn_init(Node *nd, uint64_t seed, const char *purpose) {
    (void)seed, (void)purpose;
    int64_t c = nd->cfg.in;
    float *w = tensor_data(&nd->param[0]), *b = tensor_data(&nd->param[1]);
    float *rm = tensor_data(&nd->buffer[0]), *rv = tensor_data(&nd->buffer[1]);
    for (int64_t i = 0; i < c; i++) w[i] = 1, b[i] = 0, rm[i] = 0, rv[i] = 1;
    tensor_data(&nd->buffer[2])[0] = 0;
}

const LayerOps layer_batchnorm1d_ops = {"batchnorm1d", 1,          0,           bn_check, bn_param_shapes,
                                        bn1_shape,     bn_forward, bn_backward, bn_init, 1};
const LayerOps layer_batchnorm2d_ops = {"batchnorm2d", 1,          0,           bn_check, bn_param_shapes,
                                        bn2_shape,     bn_forward, bn_backward, bn_init, 1};

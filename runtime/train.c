/* train.c — cross-entropy loss, SGD/Adam/AdamW updates with PyTorch's
 * arithmetic, per-epoch learning-rate schedules and the mini-batch epoch
 * loop (keyed shuffling, gather, forward, loss, backward, step). See train.h.
 * Does not print (progress goes through a callback) and does not validate
 * shapes: the bindings do. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

/* ---- loss ---- */

/* Adds every row's loss to *sum (in row order, so sums over chunks of a
 * data set do not depend on the chunking) and its hit to *hits; dz: the
 * gradient of the mean over these n rows. */
static void ce_rows(const Tensor *logits, const float *labels, double *sum, int64_t *hits, Tensor *dlogits) {
    int64_t n = logits->shape[0], k = logits->shape[1];
    const float *z = tensor_data(logits);
    float *dz = dlogits ? tensor_data(dlogits) : NULL;
    for (int64_t i = 0; i < n; i++) {
        const float *zi = z + i * k;
        int64_t y = (int64_t)labels[i], best = 0;
        for (int64_t j = 1; j < k; j++)
            if (zi[j] > zi[best]) best = j;
        double mx = zi[best], s = 0;
        for (int64_t j = 0; j < k; j++) s += exp((double)zi[j] - mx);
        *sum += mx + log(s) - (double)zi[y];
        *hits += best == y;
        if (dz) {
            float *di = dz + i * k;
            for (int64_t j = 0; j < k; j++)
                di[j] = (float)((exp((double)zi[j] - mx) / s - (j == y ? 1.0 : 0.0)) / (double)n);
        }
    }
}

void train_cross_entropy(const Tensor *logits, const float *labels, double *loss, int64_t *correct, Tensor *dlogits) {
    double total = 0;
    int64_t hits = 0, n = logits->shape[0];
    ce_rows(logits, labels, &total, &hits, dlogits);
    if (loss) *loss = n > 0 ? total / (double)n : 0;
    if (correct) *correct = hits;
}

int train_check_labels(const float *labels, int64_t n, int64_t nclasses) {
    for (int64_t i = 0; i < n; i++) {
        float v = labels[i];
        if (!(v >= 0 && v < (float)nclasses && v == floorf(v)))
            return sn_errorf("label %g (sample %lld) is not a class index 0..%lld", (double)v, (long long)i + 1,
                             (long long)nclasses - 1);
    }
    return SN_OK;
}

/* ---- optimizers ---- */

static const char *const optim_names[] = {"sgd", "adam", "adamw"};

const char *optim_kind_name(OptimKind k) {
    return k >= 0 && k < OPTIM_KIND_COUNT ? optim_names[k] : "?";
}

void optim_config_default(OptimConfig *c, OptimKind kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->lr = kind == OPTIM_SGD ? 0.01 : 1e-3;
    c->weight_decay = kind == OPTIM_ADAMW ? 0.01 : 0;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
}

int optim_check(const OptimConfig *c) {
    if (c->kind < 0 || c->kind >= OPTIM_KIND_COUNT) return sn_errorf("unknown optimizer kind %d", (int)c->kind);
    if (!(c->lr >= 0 && isfinite(c->lr))) return sn_errorf("lr must be a non-negative number, got %g", c->lr);
    if (!(c->weight_decay >= 0 && isfinite(c->weight_decay)))
        return sn_errorf("weight_decay must be a non-negative number, got %g", c->weight_decay);
    if (c->kind == OPTIM_SGD) {
        if (!(c->momentum >= 0 && c->momentum < 1)) return sn_errorf("momentum must be in [0, 1), got %g", c->momentum);
        if (!(c->dampening >= 0 && c->dampening <= 1))
            return sn_errorf("dampening must be in [0, 1], got %g", c->dampening);
        if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
            return sn_errorf("nesterov needs momentum > 0 and dampening 0");
    } else {
        if (!(c->beta1 >= 0 && c->beta1 < 1)) return sn_errorf("beta1 must be in [0, 1), got %g", c->beta1);
        if (!(c->beta2 >= 0 && c->beta2 < 1)) return sn_errorf("beta2 must be in [0, 1), got %g", c->beta2);
        if (!(c->eps > 0 && isfinite(c->eps))) return sn_errorf("eps must be positive, got %g", c->eps);
    }
    return SN_OK;
}

static int count_slots(const Model *m) {
    int n = 0;
    for (int i = 0; i < m->nnodes; i++) n += m->nodes[i].nparams;
    return n;
}

Optimizer *optim_new(const Model *m, const OptimConfig *cfg) {
    Optimizer *o = calloc(1, sizeof *o);
    int n = count_slots(m);
    if (o) {
        o->shapes = calloc((size_t)(n ? n : 1), sizeof(Shape));
        o->buf1 = calloc((size_t)(n ? n : 1), sizeof(Tensor));
        o->buf2 = calloc((size_t)(n ? n : 1), sizeof(Tensor));
    }
    if (!o || !o->shapes || !o->buf1 || !o->buf2) {
        optim_free(o);
        sn_errorf("out of memory allocating an optimizer");
        return NULL;
    }
    o->cfg = *cfg;
    o->nslots = n;
    /* all state up front (zeroed), so a step cannot fail half-way */
    int need1 = cfg->kind != OPTIM_SGD || cfg->momentum != 0, need2 = cfg->kind != OPTIM_SGD;
    int s = 0;
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nparams; k++, s++) {
            const Tensor *p = &m->nodes[i].param[k];
            o->shapes[s] = shape_of(p);
            if ((need1 && tensor_init(&o->buf1[s], p->ndim, p->shape) != SN_OK) ||
                (need2 && tensor_init(&o->buf2[s], p->ndim, p->shape) != SN_OK)) {
                optim_free(o);
                return NULL;
            }
        }
    return o;
}

void optim_free(Optimizer *o) {
    if (!o) return;
    for (int s = 0; s < o->nslots; s++) {
        if (o->buf1) tensor_release(&o->buf1[s]);
        if (o->buf2) tensor_release(&o->buf2[s]);
    }
    free(o->shapes);
    free(o->buf1);
    free(o->buf2);
    free(o);
}

int optim_check_model(const Optimizer *o, const Model *m) {
    int n = count_slots(m);
    if (n != o->nslots)
        return sn_errorf("the optimizer was made for a model with %d parameter tensors, this one has %d", o->nslots, n);
    int s = 0;
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nparams; k++, s++) {
            Shape ps = shape_of(&m->nodes[i].param[k]);
            if (!shape_equal(&ps, &o->shapes[s])) {
                char a[160], b[160];
                return sn_errorf("the optimizer was made for a model whose parameter %d has shape %s; '%s.%s' has "
                                 "shape %s",
                                 s + 1, shape_fmt(&o->shapes[s], a, sizeof a), m->nodes[i].name, layer_param_name(k),
                                 shape_fmt(&ps, b, sizeof b));
            }
        }
    return SN_OK;
}

/* torch.optim.SGD (1.13, foreach=False):
 *   d = g + wd p;  buf = d (first step) or momentum buf + (1 - dampening) d;
 *   d = nesterov ? d + momentum buf : buf;  p -= lr d
 * Scalars are rounded to float as PyTorch does for float tensors. */
static void sgd_slot(const OptimConfig *c, float *p, const float *g, float *buf, int first, int64_t n, double lr) {
    float wd = (float)c->weight_decay, mom = (float)c->momentum, damp = (float)(1 - c->dampening);
    float nlr = (float)-lr;
    for (int64_t i = 0; i < n; i++) {
        float d = wd != 0 ? g[i] + wd * p[i] : g[i];
        if (buf) {
            buf[i] = first ? d : buf[i] * mom + damp * d;
            d = c->nesterov ? d + mom * buf[i] : buf[i];
        }
        p[i] += nlr * d;
    }
}

/* torch.optim.Adam / AdamW (1.13, single tensor):
 *   Adam: g += wd p;  AdamW: p *= 1 - lr wd
 *   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
static void adam_slot(const OptimConfig *c, float *p, const float *g, float *m1, float *m2, int64_t t, int64_t n,
                      double lr) {
    int decoupled = c->kind == OPTIM_ADAMW;
    float wd = (float)c->weight_decay, decay = (float)(1 - lr * c->weight_decay);
    float b1 = (float)c->beta1, b2 = (float)c->beta2, a1 = (float)(1 - c->beta1), a2 = (float)(1 - c->beta2);
    double bc1 = 1 - pow(c->beta1, (double)t), bc2 = 1 - pow(c->beta2, (double)t);
    float step = (float)-(lr / bc1), bc2s = (float)sqrt(bc2), eps = (float)c->eps;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        if (decoupled) {
            if (wd != 0) p[i] *= decay;
        } else if (wd != 0) {
            gi += wd * p[i];
        }
        m1[i] = m1[i] * b1 + a1 * gi;
        m2[i] = m2[i] * b2 + a2 * (gi * gi);
        float denom = sqrtf(m2[i]) / bc2s + eps;
        p[i] += step * (m1[i] / denom);
    }
}

void optim_step(Optimizer *o, Model *m, double lr) {
    int first = o->steps == 0;
    o->steps++;
    int s = 0;
    for (int i = 0; i < m->nnodes; i++) {
        Node *nd = &m->nodes[i];
        for (int k = 0; k < nd->nparams; k++, s++) {
            float *p = tensor_data(&nd->param[k]);
            const float *g = tensor_data(&nd->grad[k]);
            int64_t n = tensor_numel(&nd->param[k]);
            float *b1 = o->buf1[s].storage ? tensor_data(&o->buf1[s]) : NULL;
            if (o->cfg.kind == OPTIM_SGD)
                sgd_slot(&o->cfg, p, g, b1, first, n, lr);
            else
                adam_slot(&o->cfg, p, g, b1, tensor_data(&o->buf2[s]), o->steps, n, lr);
        }
    }
}

/* ---- schedules ---- */

static const char *const schedule_names[] = {"none", "step", "cosine"};

const char *schedule_kind_name(ScheduleKind k) {
    return k >= 0 && k < SCHEDULE_KIND_COUNT ? schedule_names[k] : "?";
}

double train_schedule_lr(const Schedule *s, int64_t epoch) {
    switch (s->kind) {
    case SCHEDULE_STEP:
        return s->lr * pow(s->gamma, (double)(epoch / (s->step_size > 0 ? s->step_size : 1)));
    case SCHEDULE_COSINE: {
        if (s->epochs <= 0) return s->lr;
        double e = (double)(epoch < s->epochs ? epoch : s->epochs);
        return s->lr_min + (s->lr - s->lr_min) * (1 + cos(M_PI * e / (double)s->epochs)) / 2;
    }
    default:
        return s->lr;
    }
}

/* ---- epochs ---- */

int64_t train_num_batches(int64_t n, const TrainConfig *c) {
    return c->drop_last ? n / c->batch_size : (n + c->batch_size - 1) / c->batch_size;
}

int train_epoch(Model *m, Optimizer *o, const Tensor *x, const float *y, const TrainConfig *c, int64_t epoch, double lr,
                TrainProgressFn progress, void *ctx, EpochStats *out) {
    int64_t n = x->shape[0], row = tensor_row_numel(x), bs = c->batch_size;
    int64_t nb = train_num_batches(n, c);
    memset(out, 0, sizeof *out);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    float *yb = malloc(sizeof(float) * (size_t)bs);
    Tensor xb = {0}, logits = {0}, dz = {0};
    int rc = SN_OK;
    if (!perm || !yb) {
        rc = sn_errorf("out of memory");
        goto done;
    }
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = bs < n ? bs : n;
    if (tensor_init(&xb, x->ndim, shape) != SN_OK) {
        rc = SN_ERR;
        goto done;
    }
    if (c->shuffle)
        rng_permutation(perm, n, c->seed, rng_stream("shuffle", (uint64_t)epoch, 0));
    else
        for (int64_t i = 0; i < n; i++) perm[i] = i;
    model_set_training(m, 1);
    const float *xs = tensor_data(x);
    double loss_sum = 0;
    int64_t hits = 0, seen = 0;
    for (int64_t b = 0; b < nb && rc == SN_OK; b++) {
        int64_t s0 = b * bs, len = n - s0 < bs ? n - s0 : bs;
        Tensor in = {0};
        if (len == xb.shape[0]) {
            tensor_share(&in, &xb);
        } else if (tensor_narrow(&in, &xb, 0, len) != SN_OK) {
            rc = SN_ERR;
            break;
        }
        float *dst = tensor_data(&in);
        for (int64_t i = 0; i < len; i++) {
            int64_t src = perm[s0 + i];
            memcpy(dst + i * row, xs + src * row, sizeof(float) * (size_t)row);
            yb[i] = y[src];
        }
        rc = model_forward(m, &in, &logits, c->nthreads);
        tensor_release(&in);
        if (rc != SN_OK) break;
        if (logits.ndim != 2) {
            char buf[160];
            rc = sn_errorf("training needs logits of shape [N, classes]; the model gives %s",
                           tensor_shape_str(&logits, buf, sizeof buf));
            break;
        }
        Shape ls = shape_of(&logits);
        if ((rc = nn_ensure(&dz, &ls, 0)) != SN_OK) break;
        ce_rows(&logits, yb, &loss_sum, &hits, &dz);
        tensor_release(&logits); /* so the next forward can reuse the buffer */
        model_zero_grad(m);
        if ((rc = model_backward(m, &dz, NULL, 1, NULL, c->nthreads)) != SN_OK) break;
        optim_step(o, m, lr);
        seen += len;
        if (progress) progress(ctx, b + 1, nb, loss_sum / (double)seen, (double)hits / (double)seen);
    }
    if (seen > 0) {
        out->loss = loss_sum / (double)seen;
        out->accuracy = (double)hits / (double)seen;
    }
    out->samples = seen;
done:
    tensor_release(&logits);
    tensor_release(&dz);
    tensor_release(&xb);
    free(perm);
    free(yb);
    return rc;
}

int train_evaluate(Model *m, const Tensor *x, const float *y, int64_t chunk, int nthreads, EpochStats *out) {
    int64_t n = x->shape[0];
    int was_training = m->training, rc = SN_OK;
    memset(out, 0, sizeof *out);
    model_set_training(m, 0);
    double total = 0;
    int64_t hits = 0;
    for (int64_t s0 = 0; s0 < n && rc == SN_OK; s0 += chunk) {
        int64_t len = n - s0 < chunk ? n - s0 : chunk;
        Tensor in = {0}, logits = {0};
        if ((rc = tensor_narrow(&in, x, s0, len)) != SN_OK) break;
        rc = model_forward(m, &in, &logits, nthreads);
        tensor_release(&in);
        if (rc == SN_OK && logits.ndim != 2) {
            char buf[160];
            rc = sn_errorf("evaluation needs logits of shape [N, classes]; the model gives %s",
                           tensor_shape_str(&logits, buf, sizeof buf));
        }
        if (rc == SN_OK) ce_rows(&logits, y + s0, &total, &hits, NULL);
        tensor_release(&logits);
    }
    model_set_training(m, was_training);
    if (rc == SN_OK && n > 0) {
        out->loss = total / (double)n;
        out->accuracy = (double)hits / (double)n;
        out->samples = n;
    }
    return rc;
}

int train_permute_labels(const float *y, int64_t n, uint64_t seed, float *out) {
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!perm) return sn_errorf("out of memory");
    rng_permutation(perm, n, seed, rng_stream("label_permutation", 0, 0));
    for (int64_t i = 0; i < n; i++) out[i] = y[perm[i]];
    free(perm);
    return SN_OK;
}

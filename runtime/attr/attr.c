/* attr.c — chunked scores and gradients, and post-processing (attr.h).
 * No attribution method lives here; they are built on these pieces. */
#include "attr/attr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attr/rows.h"
#include "error.h"
#include "parallel.h"

/* Runs rows [start, start+len) of x through the model; *logits refs the output. */
static int forward_rows(const AttrRun *r, const Tensor *x, int64_t start, int64_t len, Tensor *logits) {
    Tensor part;
    if (tensor_narrow(&part, x, start, len) != SN_OK) return SN_ERR;
    int rc = model_forward(r->model, &part, logits, r->nthreads);
    tensor_release(&part);
    if (rc == SN_OK && logits->ndim != 2) {
        char s[128];
        tensor_release(logits);
        return sn_errorf("attribution needs a model whose output is [N, classes], got %s",
                         tensor_shape_str(logits, s, sizeof s));
    }
    return rc;
}

int attr_logits(const AttrRun *r, const Tensor *x, Tensor *logits) {
    int64_t n = x->shape[0];
    memset(logits, 0, sizeof *logits);
    if (n < 1) return sn_errorf("attribution needs at least one sample");
    int64_t chunk = attr_chunk_rows(r, tensor_row_numel(x)); /* <= r->chunk */
    for (int64_t s = 0; s < n; s += chunk) {
        int64_t len = n - s < chunk ? n - s : chunk;
        Tensor out;
        if (forward_rows(r, x, s, len, &out) != SN_OK) {
            tensor_release(logits);
            return SN_ERR;
        }
        if (!logits->storage) {
            int64_t shape[2] = {n, out.shape[1]};
            if (tensor_init(logits, 2, shape) != SN_OK) {
                tensor_release(&out);
                return SN_ERR;
            }
        }
        memcpy(tensor_data(logits) + s * out.shape[1], tensor_data(&out), sizeof(float) * (size_t)(len * out.shape[1]));
        tensor_release(&out);
    }
    return SN_OK;
}

int attr_check_targets(const float *targets, int64_t n, int64_t nclasses) {
    return attr_check_target_range(targets, 0, n, nclasses);
}

int attr_check_target_range(const float *targets, int64_t first, int64_t count, int64_t nclasses) {
    for (int64_t i = first; i < first + count; i++) {
        float t = targets[i];
        if (!(t >= 0 && t < (float)nclasses) || t != floorf(t))
            return sn_errorf("target %g (sample %lld) out of range for %lld classes (targets are 0-based)", (double)t,
                             (long long)i + 1, (long long)nclasses);
    }
    return SN_OK;
}

void attr_output_grad(AttrOutput o, const float *logits, int64_t k, int target, float *d, float *score) {
    if (o == ATTR_LOGIT) {
        memset(d, 0, sizeof(float) * (size_t)k);
        d[target] = 1.0f;
        *score = logits[target];
        return;
    }
    /* softmax in double for a stable, exact-enough p */
    double mx = logits[0], sum = 0;
    for (int64_t j = 1; j < k; j++)
        if (logits[j] > mx) mx = logits[j];
    for (int64_t j = 0; j < k; j++) sum += exp((double)logits[j] - mx);
    double pt = exp((double)logits[target] - mx) / sum;
    for (int64_t j = 0; j < k; j++) {
        double p = exp((double)logits[j] - mx) / sum, e = j == target ? 1.0 : 0.0;
        d[j] = (float)(o == ATTR_SOFTMAX ? pt * (e - p) : e - p);
    }
    *score = (float)(o == ATTR_SOFTMAX ? pt : (double)logits[target] - mx - log(sum));
}

/* Scores run on private model copies, one per worker, each taking whole
 * chunks (forward only): the ReLUs that feed max-pools fold into them and
 * eval batch norms into their convs (model.h), a worker's activations stay in its own cache, and there is one
 * thread start per call instead of one per layer and chunk. Each score is
 * its row's alone, so nothing depends on which worker ran it. A worker
 * copies its rows into its own buffer: the model keeps a reference to its
 * input, and storage references must not be shared across threads
 * (tensor.h). */
typedef struct {
    const AttrRun *r;
    const Tensor *x;
    const float *targets;
    float *scores;
    Model **models;
    Tensor *bufs; /* per worker: [chunk, row shape] */
    int64_t chunk;
} ScoreJob;

static int score_task(void *p, int64_t t, int worker) {
    const ScoreJob *j = p;
    int64_t n = j->x->shape[0], s = t * j->chunk, len = n - s < j->chunk ? n - s : j->chunk,
            row = tensor_row_numel(j->x);
    AttrRun one = *j->r;
    one.model = j->models[worker], one.nthreads = 1;
    memcpy(tensor_data(&j->bufs[worker]), tensor_data(j->x) + s * row, sizeof(float) * (size_t)(len * row));
    Tensor out;
    if (forward_rows(&one, &j->bufs[worker], 0, len, &out) != SN_OK) return SN_ERR;
    int64_t k = out.shape[1];
    int rc = attr_check_target_range(j->targets, s, len, k); /* the lowest failing chunk names the first */
    float *d = rc == SN_OK ? malloc(sizeof(float) * (size_t)k) : NULL;
    if (rc == SN_OK && !d) rc = sn_errorf("out of memory");
    for (int64_t i = 0; rc == SN_OK && i < len; i++)
        attr_output_grad(j->r->output, tensor_data(&out) + i * k, k, (int)j->targets[s + i], d, &j->scores[s + i]);
    free(d);
    tensor_release(&out);
    return rc;
}

int attr_scores(const AttrRun *r, const Tensor *x, const float *targets, float *scores) {
    if (x->ndim < 1 || x->shape[0] < 1) return SN_OK; /* no rows, no scores */
    AttrRun one = *r;
    one.nthreads = 1;
    int64_t n = x->shape[0], chunk = attr_chunk_rows(&one, tensor_row_numel(x));
    if (chunk > n) chunk = n;
    int64_t nchunks = (n + chunk - 1) / chunk, shape[TENSOR_MAX_DIMS];
    int workers = r->nthreads < 1 ? 1 : r->nthreads > 64 ? 64 : r->nthreads;
    if (workers > nchunks) workers = (int)nchunks;
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = chunk;
    Model *models[64] = {0};
    Tensor bufs[64] = {0};
    int rc = attr_worker_models(r->model, workers, -1, models);
    for (int w = 0; rc == SN_OK && w < workers; w++) rc = tensor_init(&bufs[w], x->ndim, shape);
    ScoreJob job = {r, x, targets, scores, models, bufs, chunk};
    if (rc == SN_OK) rc = parallel_for(workers, nchunks, score_task, &job);
    attr_free_worker_models(models, workers); /* drops their references to bufs first */
    for (int w = 0; w < workers; w++) tensor_release(&bufs[w]);
    return rc;
}

int attr_worker_models(const Model *m, int n, int head, Model **out) {
    const int fold_bn = head < 0 || !model_conv_absorbs_bn(m, head);
    for (int w = 0; w < n; w++) {
        out[w] = model_clone(m);
        if (!out[w]) {
            attr_free_worker_models(out, w);
            return sn_errorf("out of memory copying the model");
        }
        out[w]->fold_relu_pool = 1;
        out[w]->fold_conv_bn = fold_bn;
        out[w]->fold_add_relu = 1;
        out[w]->frozen_params = 1;
    }
    return SN_OK;
}

void attr_free_worker_models(Model **models, int n) {
    for (int w = 0; w < n; w++) {
        model_free(models[w]);
        models[w] = NULL;
    }
}

int attr_predict(const AttrRun *r, const Tensor *x, float *targets) {
    Tensor logits;
    if (attr_logits(r, x, &logits) != SN_OK) return SN_ERR;
    int64_t n = logits.shape[0], k = logits.shape[1];
    const float *p = tensor_data(&logits);
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (p[i * k + j] > p[i * k + best]) best = j;
        targets[i] = (float)best;
    }
    tensor_release(&logits);
    return SN_OK;
}

/* Gradient rows through the row engine (attr/rows.h): one row per sample,
 * copied in and out, so that without rules they can run on per-thread
 * copies of the model. */
typedef struct {
    int64_t row;
    float *grad, *scores;
} GradientRows;

static int gradient_consume(void *p, int64_t r0, int64_t len, const float *g, const float *score, int nthreads) {
    (void)nthreads;
    GradientRows *c = p;
    memcpy(c->grad + r0 * c->row, g, sizeof(float) * (size_t)(len * c->row));
    if (c->scores) memcpy(c->scores + r0, score, sizeof(float) * (size_t)len);
    return SN_OK;
}

int attr_gradient_rows(const AttrRun *r, const Tensor *x, const float *targets, const BackwardRule *rules,
                       Tensor *grad, float *scores) {
    if (tensor_init_like(grad, x) != SN_OK) return SN_ERR;
    GradientRows c = {tensor_row_numel(x), tensor_data(grad), scores};
    AttrRows s;
    attr_rows_init(&s, x, 1);
    s.rules = rules, s.consume = gradient_consume, s.ctx = &c, s.rowwise = 1;
    int rc = attr_rows_run(r, targets, &s);
    if (rc != SN_OK) tensor_release(grad);
    return rc;
}

int attr_postprocess(const Tensor *map, const AttrPost *p, Tensor *out) {
    int64_t n = map->ndim ? map->shape[0] : 1;
    int reduce = p->reduce != ATTR_REDUCE_NONE && map->ndim >= 2;
    int64_t c = reduce ? map->shape[1] : 1;
    int64_t inner = reduce ? shape_numel(map->ndim - 2, map->shape + 2) : 0;
    if (reduce) {
        int64_t shape[TENSOR_MAX_DIMS];
        memcpy(shape, map->shape, sizeof shape);
        shape[1] = 1;
        if (tensor_init(out, map->ndim, shape) != SN_OK) return SN_ERR;
    } else if (tensor_clone(out, map) != SN_OK) {
        return SN_ERR;
    }
    const float *src = tensor_data(map);
    float *dst = tensor_data(out);
    int64_t row = tensor_numel(out) / (n ? n : 1);
    for (int64_t i = 0; i < n; i++) {
        float *o = dst + i * row;
        if (reduce) {
            const float *m = src + i * c * inner;
            for (int64_t j = 0; j < inner; j++) {
                double acc = 0;
                float best = 0;
                for (int64_t ch = 0; ch < c; ch++) {
                    float v = m[ch * inner + j];
                    if (p->abs) v = fabsf(v);
                    acc += v;
                    if (ch == 0 || (p->reduce == ATTR_REDUCE_MAX ? v > best : fabsf(v) > fabsf(best))) best = v;
                }
                o[j] = p->reduce == ATTR_REDUCE_SUM    ? (float)acc
                       : p->reduce == ATTR_REDUCE_MEAN ? (float)(acc / (double)c)
                                                       : best;
            }
        } else if (p->abs) {
            for (int64_t j = 0; j < row; j++) o[j] = fabsf(o[j]);
        }
        if (p->norm == ATTR_NORM_NONE) continue;
        double lo = o[0], hi = o[0], mx = 0, sum = 0, ss = 0;
        for (int64_t j = 0; j < row; j++) {
            double v = o[j];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            if (fabs(v) > mx) mx = fabs(v);
            sum += v;
        }
        if (p->norm == ATTR_NORM_MAX_ABS) {
            if (mx > 0)
                for (int64_t j = 0; j < row; j++) o[j] = (float)(o[j] / mx);
        } else if (p->norm == ATTR_NORM_MIN_MAX) {
            if (hi > lo)
                for (int64_t j = 0; j < row; j++) o[j] = (float)((o[j] - lo) / (hi - lo));
        } else if (p->norm == ATTR_NORM_RMS) {
            for (int64_t j = 0; j < row; j++) ss += (double)o[j] * o[j];
            double rms = row > 0 ? sqrt(ss / (double)row) : 0;
            if (rms > 0)
                for (int64_t j = 0; j < row; j++) o[j] = (float)(o[j] / rms);
        } else {
            double mean = sum / (double)row;
            for (int64_t j = 0; j < row; j++) ss += (o[j] - mean) * (o[j] - mean);
            double sd = row > 1 ? sqrt(ss / (double)(row - 1)) : 0;
            if (sd > 0)
                for (int64_t j = 0; j < row; j++) o[j] = (float)(o[j] / sd);
        }
    }
    return SN_OK;
}

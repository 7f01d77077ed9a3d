/* train.h — training a Model on a labelled batch of inputs: softmax
 * cross-entropy from logits, optimizers with PyTorch's semantics (SGD with
 * momentum/Nesterov and weight decay, Adam with bias correction and L2 weight
 * decay as torch.optim.Adam, AdamW), learning-rate schedules and one epoch of
 * shuffled mini-batches.
 *
 *   Optimizer *o = optim_new(m, &(OptimConfig){OPTIM_ADAM, .lr = 1e-3, ...});
 *   for (epoch = 0; epoch < epochs; epoch++) {
 *       double lr = train_schedule_lr(&sched, epoch);
 *       train_epoch(m, o, x, y, &(TrainConfig){...}, epoch, lr, NULL, NULL, &stats);
 *       train_evaluate(m, x_val, y_val, 256, nthreads, &val);
 *   }
 *   optim_free(o);
 *
 * Determinism: mini-batch order is the permutation keyed by (seed,
 * rng_stream("shuffle", epoch, 0)); gradients are bit-identical for any
 * thread count (model.h), and everything here is sequential arithmetic in a
 * fixed order, so a training run is bit-identical for any thread count.
 *
 * Labels are floats holding 0-based class indices (tensor.h). Kernels here
 * assume labels were checked with train_check_labels. */
#ifndef SANITY_TRAIN_H
#define SANITY_TRAIN_H

#include <stdint.h>

#include "model.h"
#include "tensor.h"

/* ---- loss ---- */

/* Mean softmax cross-entropy of logits [N, K] against labels[N] (0-based):
 *   loss = 1/N sum_i (logsumexp(z_i) - z_i[y_i])
 * computed per row in double. *loss gets the mean (NULL: not wanted),
 * *correct (NULL: not wanted) the number of rows whose argmax (first
 * maximum) equals the label. dlogits (NULL: not wanted) must be [N, K]; it is
 * overwritten with d loss / d logits = (softmax(z_i) - onehot(y_i)) / N. */
void train_cross_entropy(const Tensor *logits, const float *labels, double *loss, int64_t *correct, Tensor *dlogits);

/* SN_OK if every label is an integer in [0, nclasses); else an error naming
 * the first bad one ("label 12 (sample 38) is not a class index 0..9"). */
int train_check_labels(const float *labels, int64_t n, int64_t nclasses);

/* ---- optimizers ---- */

typedef enum OptimKind { OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW, OPTIM_KIND_COUNT } OptimKind;

typedef struct OptimConfig {
    OptimKind kind;
    double lr;
    double weight_decay; /* SGD, Adam: L2 (grad += wd * p); AdamW: decoupled (p *= 1 - lr * wd) */
    double momentum;     /* SGD (0 = plain SGD) */
    double dampening;    /* SGD */
    int nesterov;        /* SGD: needs momentum > 0 and dampening 0 */
    double beta1, beta2; /* Adam(W) (0.9, 0.999) */
    double eps;          /* Adam(W) (1e-8) */
} OptimConfig;

/* PyTorch's defaults for the kind (lr 0.01 for SGD, 1e-3 for Adam(W),
 * weight decay 0 for SGD and Adam and 0.01 for AdamW). */
void optim_config_default(OptimConfig *c, OptimKind kind);
/* "sgd", "adam", "adamw" */
const char *optim_kind_name(OptimKind k);
/* Domain check of every field; SN_ERR with a sentence naming the field. */
int optim_check(const OptimConfig *c);

/* Optimizer state for the parameters of one model: one slot per parameter
 * tensor, in model order (node by node, weight then bias). */
typedef struct Optimizer {
    OptimConfig cfg;
    int64_t steps; /* optim_step calls made */
    int nslots;
    Shape *shapes; /* [nslots]: the parameter shapes the state was made for */
    Tensor *buf1;  /* [nslots] SGD momentum buffer, Adam exp_avg (empty for SGD without momentum) */
    Tensor *buf2;  /* [nslots] Adam exp_avg_sq */
} Optimizer;

/* State for m's parameters (cfg must pass optim_check). NULL when out of
 * memory. The optimizer does not keep m: optim_step takes it. */
Optimizer *optim_new(const Model *m, const OptimConfig *cfg);
void optim_free(Optimizer *o);
/* SN_OK when m has the parameter shapes o was made for; else an error
 * naming the first parameter that differs. */
int optim_check_model(const Optimizer *o, const Model *m);
/* One update of every parameter of m from its accumulated gradient
 * (node->grad) with learning rate lr (cfg.lr is not used, so schedules need
 * not touch the config). m must pass optim_check_model. Gradients are left
 * as they are (zero them before the next backward). */
void optim_step(Optimizer *o, Model *m, double lr);

/* ---- learning-rate schedules (per epoch, as PyTorch's schedulers stepped
 * once per epoch) ---- */

typedef enum ScheduleKind { SCHEDULE_NONE, SCHEDULE_STEP, SCHEDULE_COSINE, SCHEDULE_KIND_COUNT } ScheduleKind;

typedef struct Schedule {
    ScheduleKind kind;
    double lr;         /* base rate */
    int64_t step_size; /* STEP: lr * gamma^floor(epoch / step_size) (StepLR) */
    double gamma;
    int64_t epochs; /* COSINE: T_max; lr_min + (lr - lr_min) (1 + cos(pi epoch / T_max)) / 2 */
    double lr_min;
} Schedule;

/* The rate for epoch `epoch` (0-based). */
double train_schedule_lr(const Schedule *s, int64_t epoch);
const char *schedule_kind_name(ScheduleKind k); /* "none", "step", "cosine" */

/* ---- epochs ---- */

typedef struct TrainConfig {
    int64_t batch_size;
    int drop_last; /* skip the last batch when it is smaller than batch_size */
    uint64_t seed; /* shuffle permutation of epoch e: (seed, rng_stream("shuffle", e, 0)) */
    int shuffle;   /* 0: batches in data order */
    int nthreads;
} TrainConfig;

typedef struct EpochStats {
    double loss;     /* mean over the samples seen */
    double accuracy; /* fraction of samples whose argmax equals the label */
    int64_t samples;
} EpochStats;

/* Called after each mini-batch: batches done of total, and the running
 * loss and accuracy of the epoch so far. */
typedef void (*TrainProgressFn)(void *ctx, int64_t done, int64_t total, double loss, double accuracy);

/* Batches in one epoch of n samples. */
int64_t train_num_batches(int64_t n, const TrainConfig *c);

/* One epoch of mini-batch training: for each batch (shuffled), forward in
 * training mode, mean cross-entropy, backward with parameter gradients,
 * optim_step(o, m, lr). x [N, ...] fits the model, y[N] labels checked with
 * train_check_labels against the model's outputs, N >= 1; o made for m. The
 * model is left in training mode. Stats are of the training-mode outputs
 * seen during the epoch (as Keras and most training loops report them). */
int train_epoch(Model *m, Optimizer *o, const Tensor *x, const float *y, const TrainConfig *c, int64_t epoch, double lr,
                TrainProgressFn progress, void *ctx, EpochStats *out);

/* Loss and accuracy of m in eval mode on (x, y), forwarding `chunk` samples
 * at a time (results do not depend on chunk: eval outputs are per sample).
 * The model's mode is restored afterwards. */
int train_evaluate(Model *m, const Tensor *x, const float *y, int64_t chunk, int nthreads, EpochStats *out);

/* labels permuted by the permutation keyed by (seed, rng_stream(
 * "label_permutation", 0, 0)): out[i] = y[perm[i]] (out may not alias y).
 * The class frequencies stay those of y; the pairing with images is random.
 * SN_ERR only when out of memory. */
int train_permute_labels(const float *y, int64_t n, uint64_t seed, float *out);

#endif

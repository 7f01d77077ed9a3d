/* nn/batchnorm.h — batch normalization over channel 1 of [N, C, S] (S = 1
 * for batchnorm1d on [N, C], L for [N, C, L], H*W for batchnorm2d).
 * Train: batch mean and biased variance per channel (sums in double, in
 * sample order, parallel over channels: independent of the thread count),
 * running stats updated with momentum and the unbiased variance, as PyTorch.
 * Eval: the running statistics. */
#ifndef SANITY_NN_BATCHNORM_H
#define SANITY_NN_BATCHNORM_H

#include <stdint.h>

/* y = (x - mean) * invstd * gamma + beta with batch statistics; writes
 * saved[0..C) = mean, saved[C..2C) = invstd (for backward) and updates
 * running_mean/running_var [C]. Needs N*S > 1 (checked by the caller).
 * y, x: [N, C, S]; gamma, beta: [C]. */
int batchnorm_forward_train(float *y, float *saved, float *running_mean, float *running_var, const float *x,
                            const float *gamma, const float *beta, int64_t n, int c, int64_t s, float eps,
                            float momentum, int nthreads);
/* y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta. */
int batchnorm_forward_eval(float *y, const float *x, const float *gamma, const float *beta, const float *running_mean,
                           const float *running_var, int64_t n, int c, int64_t s, float eps, int nthreads);
/* The eval forward per channel as y = x * scale + shift, the same float
 * operations batchnorm_forward_eval makes (x * scale + shift there too);
 * scale is also the eval backward's dx/dy. shift may be NULL. */
void batchnorm_eval_affine(float *scale, float *shift, const float *gamma, const float *beta,
                           const float *running_mean, const float *running_var, int c, float eps);
/* Backward of the train forward (through the batch statistics).
 * dx (may be NULL) += (or = 0 + when assign: dx uninitialized);
 * dgamma, dbeta (may be NULL) +=. saved from forward. */
int batchnorm_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *gamma, const float *saved, int64_t n, int c, int64_t s, int assign,
                             int nthreads);
/* Backward of the eval forward (an affine map per channel); dx as above. */
int batchnorm_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
                            const float *running_mean, const float *running_var, int64_t n, int c, int64_t s, float eps,
                            int assign, int nthreads);

#endif

/* nn/activation.h — elementwise activations and (log-)softmax over dim 1.
 * Elementwise kernels take flat arrays of n elements; backward takes what
 * the derivative is cheapest from (the output for relu, tanh and sigmoid,
 * the input for leaky_relu, whose slope may be negative) and adds into dx.
 * Softmax works on [N, C, S] (S = product of the dims after the second, 1 for
 * [N, C]) and normalizes over C. */
#ifndef SANITY_NN_ACTIVATION_H
#define SANITY_NN_ACTIVATION_H

#include <stdint.h>

int relu_forward(float *y, const float *x, int64_t n, int nthreads);
/* dx += dy * (y > 0) */
int relu_backward(float *dx, const float *dy, const float *y, int64_t n, int nthreads);

int leaky_relu_forward(float *y, const float *x, float slope, int64_t n, int nthreads);
/* dx += dy * (x > 0 ? 1 : slope) */
int leaky_relu_backward(float *dx, const float *dy, const float *x, float slope, int64_t n, int nthreads);

int tanh_forward(float *y, const float *x, int64_t n, int nthreads);
/* dx += dy * (1 - y^2) */
int tanh_backward(float *dx, const float *dy, const float *y, int64_t n, int nthreads);

int sigmoid_forward(float *y, const float *x, int64_t n, int nthreads);
/* dx += dy * y * (1 - y) */
int sigmoid_backward(float *dx, const float *dy, const float *y, int64_t n, int nthreads);

/* y, x: [N, C, S]. */
int softmax_forward(float *y, const float *x, int64_t n, int c, int64_t s, int nthreads);
/* dx += y * (dy - sum_c dy * y) */
int softmax_backward(float *dx, const float *dy, const float *y, int64_t n, int c, int64_t s, int nthreads);
int log_softmax_forward(float *y, const float *x, int64_t n, int c, int64_t s, int nthreads);
/* dx += dy - exp(y) * sum_c dy */
int log_softmax_backward(float *dx, const float *dy, const float *y, int64_t n, int c, int64_t s, int nthreads);

#endif

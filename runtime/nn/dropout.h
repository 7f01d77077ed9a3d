/* nn/dropout.h — inverted dropout: in training, element j of sample i is
 * kept with probability 1-p and scaled by 1/(1-p); the decision is draw
 * i*S + j of (seed, stream), the stream derived from the node's name and the
 * model's training-forward counter, so masks are reproducible for any thread
 * count. Identity in eval mode (the model handles that). */
#ifndef SANITY_NN_DROPOUT_H
#define SANITY_NN_DROPOUT_H

#include <stdint.h>

/* The stream of a dropout node's draws at training step `step`. */
uint64_t dropout_stream(const char *node, uint64_t step);
/* mask[k] = (draw k < 1-p) / (1-p) for k < n (p = 1: all zero); y = x * mask. */
int dropout_forward(float *y, float *mask, const float *x, float p, int64_t n, uint64_t seed, uint64_t stream,
                    int nthreads);
/* dx += dy * mask */
int dropout_backward(float *dx, const float *dy, const float *mask, int64_t n, int nthreads);

#endif

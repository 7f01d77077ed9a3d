/* attr/deeplift.h — DeepLift with the rescale rule (Shrikumar et al. 2017).
 * Each chunk runs two forwards, the baseline (reference) x_ref and the
 * input x, and one backward of the explained score in which every
 * elementwise nonlinearity (relu, leaky_relu, tanh, sigmoid) passes the
 * multiplier m_in = m_out * (y - y_ref) / (x - x_ref), falling back to the
 * gradient f'(x) where |x - x_ref| < 1e-7 (DeepLift's near-zero threshold).
 * Linear nodes (linear, conv2d, pools, batch norm, add, flatten) pass
 * multipliers as the gradient; max pooling routes them to the argmax at x
 * (the gradient, DeepLift's default for max pooling), softmax nodes take
 * their gradient.
 * Result: (x - x_ref) * multipliers. Summation to delta, sum of a sample's
 * attributions = score(x) - score(x_ref), holds exactly (up to rounding)
 * for the logit of networks without max pooling; delta[i] reports the gap. */
#ifndef SANITY_ATTR_DEEPLIFT_H
#define SANITY_ATTR_DEEPLIFT_H

#include "attr/attr.h"

/* baseline: NULL (zeros), one sample (numel = a row of x; used for every
 * sample) or a tensor shaped like x (row i for sample i). out: a new tensor
 * shaped like x; delta[N] (may be NULL): sum of attributions of sample i
 * minus (score(x_i) - score(x_ref,i)). */
int attr_deeplift(const AttrRun *r, const Tensor *x, const float *targets, const Tensor *baseline, Tensor *out,
                  float *delta);

#endif

/* attr/baseline.h — maps that ignore the model, the controls a sanity check
 * needs to mean anything: a method whose maps resemble these after the
 * model is randomized fails the test. Each takes the arguments of every
 * method (the model and targets are not used) and returns a map shaped like x:
 *   random    element j of sample i: rng_uniform(seed, rng_stream("random", i, 0)) in (0, 1)
 *   sobel     per [H, W] plane (the last two dims; x needs >= 3 dims):
 *             sqrt(gx^2 + gy^2) with the 3x3 Sobel kernels ([1 2 1]^T [-1 0 1]
 *             and its transpose), unnormalised, border mode "reflect" (the edge
 *             pixel repeated), as scipy.ndimage.sobel's default
 *   input     a copy of x
 *   constant  ones */
#ifndef SANITY_ATTR_BASELINE_H
#define SANITY_ATTR_BASELINE_H

#include "attr/attr.h"

int attr_random(const AttrRun *r, const Tensor *x, Tensor *out);
int attr_sobel(const Tensor *x, Tensor *out);
int attr_input(const Tensor *x, Tensor *out);
int attr_constant(const Tensor *x, Tensor *out);

#endif

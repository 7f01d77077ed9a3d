/* attr/gradient.h — the plain gradient family: saliency (the gradient of
 * the explained score w.r.t. the input, Simonyan et al. 2014) and
 * input x gradient (Shrikumar et al. 2016). Signatures follow attr.h. */
#ifndef SANITY_ATTR_GRADIENT_H
#define SANITY_ATTR_GRADIENT_H

#include "attr/attr.h"

int attr_gradient(const AttrRun *r, const Tensor *x, const float *targets, Tensor *out);
int attr_input_x_gradient(const AttrRun *r, const Tensor *x, const float *targets, Tensor *out);

#endif

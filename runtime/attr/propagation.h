/* attr/propagation.h — gradients with modified backward passes through ReLU
 * nodes (BackwardRule, model.h):
 *   guided backprop (Springenberg et al. 2015): d_in = d_out [y > 0] [d_out > 0]
 *   deconvnet (Zeiler & Fergus 2014):          d_in = max(d_out, 0)
 * Every other node (leaky_relu, tanh, max pooling, batch norm, ...) passes
 * its plain gradient, as Captum's GuidedBackprop and Deconvolution do (they
 * override nn.ReLU only); a model without relu nodes therefore gets the plain
 * gradient. Signatures follow attr.h. */
#ifndef SANITY_ATTR_PROPAGATION_H
#define SANITY_ATTR_PROPAGATION_H

#include "attr/attr.h"

int attr_guided_backprop(const AttrRun *r, const Tensor *x, const float *targets, Tensor *out);
int attr_deconvnet(const AttrRun *r, const Tensor *x, const float *targets, Tensor *out);

/* The rule arrays (model->nnodes entries, malloc'd; NULL + message when out
 * of memory): guided backprop / deconvnet at relu nodes, plain elsewhere. */
BackwardRule *attr_guided_rules(const Model *m);
BackwardRule *attr_deconvnet_rules(const Model *m);

#endif

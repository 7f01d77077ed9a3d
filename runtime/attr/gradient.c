/* gradient.c — saliency and input x gradient (gradient.h): one chunked
 * forward/backward over the batch, nothing else. */
#include "attr/gradient.h"

#include "error.h"

int attr_gradient(const AttrRun *r, const Tensor *x, const float *targets, Tensor *out) {
    return attr_gradient_rows(r, x, targets, NULL, out, NULL);
}

int attr_input_x_gradient(const AttrRun *r, const Tensor *x, const float *targets, Tensor *out) {
    if (attr_gradient_rows(r, x, targets, NULL, out, NULL) != SN_OK) return SN_ERR;
    float *g = tensor_data(out);
    const float *v = tensor_data(x);
    for (int64_t i = 0, n = tensor_numel(x); i < n; i++) g[i] *= v[i];
    return SN_OK;
}

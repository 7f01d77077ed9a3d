/* nn/linear.h — fully connected layer, weights in PyTorch layout [out, in].
 * Forward and input gradient are one GEMM over the batch whose every output
 * element is one fmaf chain over the inputs (nn/gemm.h), so a sample's
 * numbers never depend on its batch; parallel over row blocks. Parameter
 * gradients in fixed sample blocks (see layer.h). Forward overwrites `out`;
 * backward functions add (+=). */
#ifndef SANITY_NN_LINEAR_H
#define SANITY_NN_LINEAR_H

#include <stdint.h>

/* out[n, o] = b[o] + sum_i w[o, i] * x[n, i] (the sum in i order).
 * out: [N, OUT]; x: [N, IN]; w: [OUT, IN]; b: [OUT] or NULL. */
int linear_forward(float *out, const float *x, const float *w, const float *b, int64_t n, int in, int out_features,
                   int nthreads);
/* dx[n, i] += sum_o dout[n, o] * w[o, i].
 * dx: [N, IN]; dout: [N, OUT]; w: [OUT, IN]. */
int linear_backward_input(float *dx, const float *dout, const float *w, int64_t n, int in, int out_features,
                          int nthreads);
/* dw[o, i] += sum_n dout[n, o] * x[n, i]; db[o] += sum_n dout[n, o].
 * dw: [OUT, IN]; db: [OUT] or NULL; dout: [N, OUT]; x: [N, IN]. */
int linear_backward_params(float *dw, float *db, const float *dout, const float *x, int64_t n, int in, int out_features,
                           int nthreads);

#endif

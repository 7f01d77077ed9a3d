/* nn/conv2d.h — 2-d convolution (cross-correlation, as PyTorch) with
 * stride, padding (zeros), dilation and groups; weights [OC, C/groups, KH, KW].
 * Forward, per sample and group: the input padded (and split into stride
 * phases) once, then one position-independent GEMM (nn/gemm.h)
 * W_g[OC/g, K] x cols[K, pixels] that reads the im2col matrix in place in
 * the padded planes (no im2col copy); every output is b + one fmaf chain over
 * (c, ki, kj). Input gradient: the same GEMM as a transposed convolution
 * (stride 1) or W_g^T x dout added back into the planes (strides). Weight
 * gradients: the same planes' im2col rows read in place times dout
 * transposed onto the grid, summed in fixed sample blocks (layer.h).
 * Parallel over samples. Forward overwrites; backward adds. */
#ifndef SANITY_NN_CONV2D_H
#define SANITY_NN_CONV2D_H

#include <stdint.h>

#include "nn/layer.h"

/* Everything the kernels need, derived once from a config and input shape. */
typedef struct Conv2dGeom {
    int64_t n;      /* samples */
    int c, h, w;    /* input channels, height, width */
    int oc, oh, ow; /* output channels, height, width */
    int kh, kw, sh, sw, ph, pw, dh, dw;
    int groups;
} Conv2dGeom;

/* Geometry for input shape [N, C, H, W] (assumed to fit; see out_shape). */
void conv2d_geom(Conv2dGeom *g, const LayerConfig *c, const Shape *in);
/* Output size along one axis; < 1 when the input is too small. */
int64_t conv_out_size(int64_t in, int k, int s, int p, int d);

/* out: [N, OC, OH, OW]; x: [N, C, H, W]; w: [OC, C/g, KH, KW]; b: [OC] or NULL. */
int conv2d_forward(float *out, const float *x, const float *w, const float *b, const Conv2dGeom *g, int nthreads);
/* dx += conv2d^T(dout). dx: [N, C, H, W]; dout: [N, OC, OH, OW]. */
int conv2d_backward_input(float *dx, const float *dout, const float *w, const Conv2dGeom *g, int nthreads);
/* dw += sum_n dout_n (x) im2col(x_n); db += sum over n, pixels of dout.
 * dw: [OC, C/g, KH, KW]; db: [OC] or NULL. */
int conv2d_backward_params(float *dw, float *db, const float *dout, const float *x, const Conv2dGeom *g, int nthreads);

#endif

/* nn/pool.h — 2-d pooling over [N, C, H, W]: max (padding counts as -inf),
 * average (zero padding; divisor as PyTorch's count_include_pad) and
 * adaptive average (PyTorch's window rule: start = floor(i*H/OH), end =
 * ceil((i+1)*H/OH)). Planes (sample, channel) are independent; parallel over
 * them. No ceil_mode, no dilation. Forward overwrites; backward adds. */
#ifndef SANITY_NN_POOL_H
#define SANITY_NN_POOL_H

#include <stdint.h>

#include "nn/layer.h"

typedef struct PoolGeom {
    int64_t planes; /* N * C */
    int h, w, oh, ow;
    int kh, kw, sh, sw, ph, pw;
    int count_include_pad;
} PoolGeom;

/* For maxpool2d/avgpool2d/adaptive_avgpool2d configs and input [N, C, H, W]. */
void pool_geom(PoolGeom *g, const LayerConfig *c, LayerKind kind, const Shape *in);

/* out: [planes, OH, OW]; argmax: [planes, OH, OW], index h*W+w of the
 * maximum within its plane (first one on ties; NaN wins), may be NULL.
 * relu: pool relu(x) instead, a ReLU folded into the pooling (same values
 * and first-maximum indices as pooling the ReLU's output); a window whose
 * maximum is then 0 gets argmax -1, since the ReLU passes it no gradient. */
int maxpool2d_forward(float *out, float *argmax, const float *x, const PoolGeom *g, int relu, int nthreads);
/* dx[plane, argmax] += dout, where argmax >= 0. */
int maxpool2d_backward(float *dx, const float *dout, const float *argmax, const PoolGeom *g, int nthreads);

int avgpool2d_forward(float *out, const float *x, const PoolGeom *g, int nthreads);
int avgpool2d_backward(float *dx, const float *dout, const PoolGeom *g, int nthreads);

int adaptive_avgpool2d_forward(float *out, const float *x, const PoolGeom *g, int nthreads);
int adaptive_avgpool2d_backward(float *dx, const float *dout, const PoolGeom *g, int nthreads);

#endif

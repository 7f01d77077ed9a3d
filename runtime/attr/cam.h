/* attr/cam.h — Grad-CAM (Selvaraju et al. 2017) and guided Grad-CAM on a
 * conv2d node of the model. For the node's output A [N, K, h, w] and the
 * gradient G of the explained score with respect to it:
 *   w_k = mean over (h, w) of G_k,  cam = relu(sum_k w_k A_k)  [N, 1, h, w],
 * upsampled bilinearly to the input's [H, W] as PyTorch's F.interpolate
 * (mode="bilinear", align_corners=False). Guided Grad-CAM multiplies guided
 * backprop [N, C, H, W] by the upsampled map (broadcast over C). The backward
 * pass stops at the layer: nodes that do not lead from it to the output are
 * skipped. Signatures follow attr.h. */
#ifndef SANITY_ATTR_CAM_H
#define SANITY_ATTR_CAM_H

#include "attr/attr.h"

typedef struct AttrCamOptions {
    int layer;    /* node index of a conv2d node */
    int relu;     /* apply the relu (default 1) */
    int upsample; /* 1: [N, 1, H, W] at the input size; 0: [N, 1, h, w] at the layer's */
} AttrCamOptions;

/* x: [N, C, H, W]. */
int attr_gradcam(const AttrRun *r, const Tensor *x, const float *targets, const AttrCamOptions *o, Tensor *out);
/* out shaped like x; o->upsample is ignored (always upsampled). */
int attr_guided_gradcam(const AttrRun *r, const Tensor *x, const float *targets, const AttrCamOptions *o, Tensor *out);

/* The last conv2d node of m, or -1. */
int attr_cam_default_layer(const Model *m);

/* Bilinear resize of planes [P, h, w] to [P, oh, ow], align_corners=False
 * (source coordinate (i + 0.5) * h / oh - 0.5, clamped at 0, as PyTorch). */
void attr_upsample_bilinear(float *out, const float *in, int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow);

#endif

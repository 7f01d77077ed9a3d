/* attr/segment.h — segmentations of images into "features" for the
 * perturbation methods (feature ablation, LIME, KernelSHAP): a regular grid
 * of cells and SLIC superpixels (Achanta et al. 2012), plus turning
 * arbitrary user ids into consecutive labels.
 *
 * Labels are int32, 0-based and consecutive (0..count-1) in raster order of
 * each segment's first pixel; one label per pixel (position), shared by
 * every channel. Everything here is deterministic (no random draws) and
 * independent of the thread count (images are segmented one per task). */
#ifndef SANITY_ATTR_SEGMENT_H
#define SANITY_ATTR_SEGMENT_H

#include <stdint.h>

#include "tensor.h"

typedef struct SlicOptions {
    int64_t n_segments;     /* requested number (approximate), 1 <= n_segments <= H*W */
    double compactness;     /* m: weight of space against colour (skimage's meaning) */
    int max_iter;           /* k-means iterations (stops earlier when no label changes) */
    int connectivity;       /* make every segment 4-connected, merging fragments */
    double min_size_factor; /* fragments below this fraction of H*W/centres are merged */
} SlicOptions;

typedef enum { SEGMENT_GRID, SEGMENT_SLIC } SegmentKind;

typedef struct SegmentOptions {
    SegmentKind kind;
    int64_t cell[2]; /* grid: cell height and width, 1 <= cell <= image size */
    SlicOptions slic;
} SegmentOptions;

/* Grid cells of ch x cw pixels (the last row/column of cells may be
 * smaller). labels[h*w]; returns the number of cells. */
int64_t segment_grid(int64_t h, int64_t w, int64_t ch, int64_t cw, int32_t *labels);

/* SLIC on one image img[c][h][w] (colour = the c channel values, used as
 * they are: no Lab conversion). Distance of pixel to centre:
 * |colour diff|^2 / m^2 + |position diff|^2 / S^2 with S = sqrt(h*w/K).
 * labels[h*w]; *count receives the number of segments. SN_ERR only when out
 * of memory. */
int segment_slic(const float *img, int64_t c, int64_t h, int64_t w, const SlicOptions *o, int32_t *labels,
                 int64_t *count);

/* Segments every image of x [N, C, H, W] into out (a new tensor
 * [N, 1, H, W] of 0-based ids stored as floats), one image per task. */
int segment_batch(const Tensor *x, const SegmentOptions *o, int nthreads, Tensor *out);

/* Consecutive labels for arbitrary non-negative integer ids (floats):
 * labels[i] = rank of ids[i] among the distinct ids. Returns the number of
 * distinct ids, or SN_ERR when out of memory. */
int64_t segment_compact(const float *ids, int64_t n, int32_t *labels);

#endif

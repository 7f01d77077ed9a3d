/* datasets.h — selecting and converting samples of image classification sets
 * held as bytes (Fashion-MNIST): which indices to take (class filter, offset,
 * count, class balance) and the conversion to float tensors in [0, 1].
 * Files are read by idx.c; this part does no I/O. */
#ifndef SANITY_DATASETS_H
#define SANITY_DATASETS_H

#include <stdint.h>

#include "tensor.h"

typedef struct DatasetSelect {
    int64_t n;          /* samples wanted; -1 = all that match */
    int64_t offset;     /* matching samples skipped first */
    int nclasses;       /* 0 = all classes */
    int classes[256];   /* allowed labels when nclasses > 0 */
    int balanced;       /* equal count per class (n split round-robin) */
} DatasetSelect;

/* Fills idx (capacity `count`) with the selected sample indices in dataset
 * order; returns how many, or -1 with an error (e.g. not enough samples). */
int64_t dataset_select(const uint8_t *labels, int64_t count, const DatasetSelect *sel, int64_t *idx);

/* x[i] = images[idx[i]] / 255 as [n, 1, h, w]; y[i] = labels[idx[i]]. */
int dataset_gather(const uint8_t *images, const uint8_t *labels, int64_t h, int64_t w, const int64_t *idx, int64_t n,
                   Tensor *x, Tensor *y);

#endif

/* datasets.c — sample selection and byte-to-float conversion (datasets.h). */
#include "io/datasets.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

static int class_allowed(const DatasetSelect *sel, int label) {
    if (sel->nclasses == 0) return 1;
    for (int i = 0; i < sel->nclasses; i++)
        if (sel->classes[i] == label) return 1;
    return 0;
}

int64_t dataset_select(const uint8_t *labels, int64_t count, const DatasetSelect *sel, int64_t *idx) {
    int64_t matching = 0;
    for (int64_t i = 0; i < count; i++) matching += class_allowed(sel, labels[i]);
    if (sel->offset > matching)
        return sn_errorf("offset %lld is past the %lld matching samples", (long long)sel->offset, (long long)matching);
    int64_t avail = matching - sel->offset;
    int64_t want = sel->n < 0 ? avail : sel->n;
    if (want > avail)
        return sn_errorf("%lld samples requested but only %lld match (offset %lld)", (long long)want, (long long)avail,
                         (long long)sel->offset);
    if (!sel->balanced) {
        int64_t k = 0, skipped = 0;
        for (int64_t i = 0; i < count && k < want; i++) {
            if (!class_allowed(sel, labels[i])) continue;
            if (skipped++ < sel->offset) continue;
            idx[k++] = i;
        }
        return k;
    }
    /* Balanced: per class quota want/K (the first want%K classes, in sorted
     * label order, take one more), filled in dataset order after the offset. */
    int present[256] = {0}, order[256], K = 0;
    for (int64_t i = 0; i < count; i++)
        if (class_allowed(sel, labels[i])) present[labels[i]] = 1;
    for (int c = 0; c < 256; c++)
        if (present[c]) order[K++] = c;
    if (K == 0) return sn_errorf("no samples of the requested classes");
    int64_t quota[256] = {0}, have[256] = {0};
    for (int j = 0; j < K; j++) quota[order[j]] = want / K + (j < want % K);
    int64_t k = 0, skipped = 0;
    for (int64_t i = 0; i < count && k < want; i++) {
        int c = labels[i];
        if (!class_allowed(sel, c)) continue;
        if (skipped++ < sel->offset) continue;
        if (have[c] < quota[c]) {
            have[c]++;
            idx[k++] = i;
        }
    }
    if (k < want) {
        for (int j = 0; j < K; j++)
            if (have[order[j]] < quota[order[j]])
                return sn_errorf("balanced selection: class %d has only %lld samples after the offset, %lld needed",
                                 order[j], (long long)have[order[j]], (long long)quota[order[j]]);
    }
    return k;
}

int dataset_gather(const uint8_t *images, const uint8_t *labels, int64_t h, int64_t w, const int64_t *idx, int64_t n,
                   Tensor *x, Tensor *y) {
    int64_t xs[4] = {n, 1, h, w}, ys[1] = {n};
    if (tensor_init(x, 4, xs) != SN_OK) return SN_ERR;
    if (tensor_init(y, 1, ys) != SN_OK) {
        tensor_release(x);
        return SN_ERR;
    }
    float *px = tensor_data(x), *py = tensor_data(y);
    int64_t row = h * w;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *src = images + idx[i] * row;
        for (int64_t j = 0; j < row; j++) px[i * row + j] = (float)src[j] / 255.0f; /* as torchvision ToTensor */
        py[i] = labels[idx[i]];
    }
    return SN_OK;
}

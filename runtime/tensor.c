/* tensor.c — storage allocation, refcounts and views (see tensor.h).
 * No arithmetic here: that is ops.c. */
#include "tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

int64_t shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
    return buf;
}

const char *tensor_shape_str(const Tensor *t, char *buf, size_t n) {
    return shape_str(t->ndim, t->shape, buf, n);
}

static int check_shape(int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS)
        return sn_errorf("tensor: %d dimensions requested, at most %d supported", ndim, TENSOR_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return sn_errorf("tensor: dimension %d has negative size %lld", i + 1, (long long)shape[i]);
        if (shape[i] > 0 && n > (INT64_C(1) << 40) / shape[i])
            return sn_errorf("tensor: shape too large (more than 2^40 elements)");
        n *= shape[i];
    }
    return SN_OK;
}

int tensor_init(Tensor *t, int ndim, const int64_t *shape) {
    memset(t, 0, sizeof *t);
    if (check_shape(ndim, shape) != SN_OK) return SN_ERR;
    int64_t numel = shape_numel(ndim, shape);
    Storage *s = malloc(sizeof *s);
    size_t bytes = (size_t)(numel > 0 ? numel : 1) * sizeof(float);
    bytes = (bytes + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN;
    float *data = s ? aligned_alloc(TENSOR_ALIGN, bytes) : NULL;
    if (!data) {
        free(s);
        char buf[160];
        return sn_errorf("tensor: out of memory allocating %s (%.1f MB)", shape_str(ndim, shape, buf, sizeof buf),
                         (double)bytes / 1e6);
    }
    memset(data, 0, bytes);
    s->data = data;
    s->numel = numel;
    s->refcount = 1;
    t->storage = s;
    t->offset = 0;
    t->ndim = ndim;
    if (ndim > 0) memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim); /* shape may be NULL for scalars */
    return SN_OK;
}

int tensor_init_like(Tensor *t, const Tensor *like) { return tensor_init(t, like->ndim, like->shape); }

int tensor_clone(Tensor *dst, const Tensor *src) {
    if (tensor_init_like(dst, src) != SN_OK) return SN_ERR;
    memcpy(tensor_data(dst), tensor_data(src), sizeof(float) * (size_t)tensor_numel(src));
    return SN_OK;
}

void tensor_release(Tensor *t) {
    Storage *s = t->storage;
    if (s && --s->refcount == 0) {
        free(s->data);
        free(s);
    }
    t->storage = NULL;
}

void tensor_share(Tensor *dst, const Tensor *src) {
    *dst = *src;
    if (dst->storage) dst->storage->refcount++;
}

int tensor_reshape(Tensor *dst, const Tensor *src, int ndim, const int64_t *shape) {
    if (check_shape(ndim, shape) != SN_OK) return SN_ERR;
    if (shape_numel(ndim, shape) != tensor_numel(src)) {
        char a[160], b[160];
        return sn_errorf("reshape: cannot view %s (%lld elements) as %s (%lld elements)",
                         tensor_shape_str(src, a, sizeof a), (long long)tensor_numel(src),
                         shape_str(ndim, shape, b, sizeof b), (long long)shape_numel(ndim, shape));
    }
    tensor_share(dst, src);
    dst->ndim = ndim;
    memcpy(dst->shape, shape, sizeof(int64_t) * (size_t)ndim);
    return SN_OK;
}

int tensor_narrow(Tensor *dst, const Tensor *src, int64_t start, int64_t len) {
    if (src->ndim < 1) return sn_errorf("narrow: tensor has no dimensions");
    if (start < 0 || len < 0 || start + len > src->shape[0])
        return sn_errorf("narrow: rows [%lld, %lld) out of range for dimension 1 of size %lld", (long long)start,
                         (long long)(start + len), (long long)src->shape[0]);
    tensor_share(dst, src);
    dst->offset += start * tensor_row_numel(src);
    dst->shape[0] = len;
    return SN_OK;
}

int tensor_select(Tensor *dst, const Tensor *src, int64_t i) {
    if (src->ndim < 1) return sn_errorf("select: tensor has no dimensions");
    if (i < 0 || i >= src->shape[0])
        return sn_errorf("index %lld out of range for dimension 1 of size %lld", (long long)i + 1,
                         (long long)src->shape[0]);
    tensor_share(dst, src);
    dst->offset += i * tensor_row_numel(src);
    dst->ndim = src->ndim - 1;
    memmove(dst->shape, src->shape + 1, sizeof(int64_t) * (size_t)dst->ndim);
    return SN_OK;
}

int64_t tensor_numel(const Tensor *t) { return shape_numel(t->ndim, t->shape); }

int64_t tensor_row_numel(const Tensor *t) { return t->ndim < 1 ? 1 : shape_numel(t->ndim - 1, t->shape + 1); }

int tensor_same_shape(const Tensor *a, const Tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

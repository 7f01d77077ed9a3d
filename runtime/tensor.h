/* tensor.h — dense float32 N-d tensors (up to 8 dims) on refcounted storage.
 * A Tensor is always contiguous (row-major): a view shares storage and
 * differs only in offset and shape, which covers reshape and batch slicing.
 * Class labels are float32 too (exact for integers below 2^24), so every
 * kernel and file speaks one dtype. Refcounts are not atomic: a storage's
 * references are taken and dropped by one thread only. Workers read and
 * write shared data but never its references; a worker may hold references
 * only to storages no other thread touches (its own buffers and model copy,
 * as in attr/rows.c and attr_scores).
 * A Tensor is a value: whoever holds one owns one storage reference and calls
 * tensor_release() exactly once. */
#ifndef SANITY_TENSOR_H
#define SANITY_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define TENSOR_MAX_DIMS 8
#define TENSOR_ALIGN 64 /* bytes; storage data is aligned for SIMD and BLAS */

typedef struct Storage {
    float *data;
    int64_t numel;
    int refcount;
} Storage;

typedef struct Tensor {
    Storage *storage; /* NULL for an empty (released) tensor */
    int64_t offset;   /* in elements */
    int ndim;         /* 0 = scalar */
    int64_t shape[TENSOR_MAX_DIMS];
} Tensor;

/* Allocates zeroed storage. SN_ERR on bad shape or out of memory. */
int tensor_init(Tensor *t, int ndim, const int64_t *shape);
/* Same shape as `like`, zeroed. */
int tensor_init_like(Tensor *t, const Tensor *like);
/* A new tensor holding a copy of src's data. */
int tensor_clone(Tensor *dst, const Tensor *src);
/* Drops this tensor's storage reference; safe on a released tensor. */
void tensor_release(Tensor *t);
/* dst becomes another reference to src's storage (same offset and shape). */
void tensor_share(Tensor *dst, const Tensor *src);

/* Views (share storage). dst must not hold a reference yet. */
int tensor_reshape(Tensor *dst, const Tensor *src, int ndim, const int64_t *shape);
/* Rows [start, start+len) of dim 0; keeps the dimension. */
int tensor_narrow(Tensor *dst, const Tensor *src, int64_t start, int64_t len);
/* Row i of dim 0; drops the dimension. */
int tensor_select(Tensor *dst, const Tensor *src, int64_t i);

static inline float *tensor_data(const Tensor *t) { return t->storage->data + t->offset; }
int64_t tensor_numel(const Tensor *t);
/* Product of the dims after the first: elements per sample. */
int64_t tensor_row_numel(const Tensor *t);
int tensor_same_shape(const Tensor *a, const Tensor *b);
/* Writes "[256, 1, 28, 28]" into buf and returns buf. */
const char *tensor_shape_str(const Tensor *t, char *buf, size_t n);
const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
int64_t shape_numel(int ndim, const int64_t *shape);

#endif

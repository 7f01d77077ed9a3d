/* ops.h — arithmetic on tensors: elementwise (with NumPy broadcasting),
 * reductions, transpose and matrix products through cblas_sgemm.
 * Callers pass output tensors already shaped (ops_broadcast_shape,
 * ops_reduce_shape compute the shapes); functions here validate nothing the
 * binding has checked, except what only they can know. Reductions accumulate
 * in double, in index order, so sums are deterministic. */
#ifndef SANITY_OPS_H
#define SANITY_OPS_H

#include "tensor.h"

typedef enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MAX, OP_MIN } BinaryOp;
typedef enum { OP_ABS, OP_SQRT, OP_EXP, OP_LOG, OP_NEG, OP_SQUARE, OP_SIGN, OP_TANH, OP_SIGMOID } UnaryOp;
typedef enum { RED_SUM, RED_MEAN, RED_MAX, RED_MIN, RED_ARGMAX, RED_ARGMIN, RED_STD, RED_VAR } ReduceOp;

/* Output shape of a op b under NumPy broadcasting; SN_ERR (both shapes in the
 * message) when they do not broadcast. */
int ops_broadcast_shape(const Tensor *a, const Tensor *b, int *ndim, int64_t *shape);
/* out = a op b; out has the broadcast shape and may alias a or b. */
void ops_binary(BinaryOp op, Tensor *out, const Tensor *a, const Tensor *b);
/* out = a op s (or s op a when scalar_first). out may alias a. */
void ops_binary_scalar(BinaryOp op, Tensor *out, const Tensor *a, float s, int scalar_first);
void ops_unary(UnaryOp op, Tensor *out, const Tensor *a);
void ops_clamp(Tensor *out, const Tensor *a, float lo, float hi);
void ops_fill(Tensor *t, float v);

/* Shape after reducing `axis` (0-based; -1 = all elements). */
void ops_reduce_shape(const Tensor *a, int axis, int keepdim, int *ndim, int64_t *shape);
/* Reduction over `axis` or all elements; argmax/argmin give 0-based indices
 * (first occurrence); std/var use `correction` (1 = unbiased, as PyTorch). */
void ops_reduce(ReduceOp op, Tensor *out, const Tensor *a, int axis, int correction);

/* out[N,M] = a[M,N]^T */
void ops_transpose2d(Tensor *out, const Tensor *a);
/* out[M,N] = a[M,K] @ b[K,N]; rows are computed in fixed blocks of
 * OPS_MATMUL_BLOCK, one single-threaded sgemm each, spread over nthreads:
 * bit-identical results for any thread count. */
#define OPS_MATMUL_BLOCK 256
int ops_matmul(Tensor *out, const Tensor *a, const Tensor *b, int nthreads);

#endif

/* ops.c — elementwise, reductions, transpose, matmul (see ops.h). */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "parallel.h"

int ops_broadcast_shape(const Tensor *a, const Tensor *b, int *ndim, int64_t *shape) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = a->ndim - n + i, ib = b->ndim - n + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[160], sb[160];
            return sn_errorf("shapes %s and %s do not broadcast (dimension %d: %lld vs %lld)",
                             tensor_shape_str(a, sa, sizeof sa), tensor_shape_str(b, sb, sizeof sb), i + 1,
                             (long long)da, (long long)db);
        }
        shape[i] = da == 1 ? db : da;
    }
    *ndim = n;
    return SN_OK;
}

static inline float apply_binary(BinaryOp op, float x, float y) {
    switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    case OP_DIV: return x / y;
    case OP_POW: return powf(x, y);
    case OP_MAX: return x > y || isnan(x) ? x : y;
    case OP_MIN: return x < y || isnan(x) ? x : y;
    }
    return 0;
}

/* The common cases get their own loops so the compiler can vectorize them. */
static void binary_flat(BinaryOp op, float *o, const float *a, const float *b, int64_t n, int64_t sa, int64_t sb) {
    if (op == OP_ADD && sa && sb)
        for (int64_t i = 0; i < n; i++) o[i] = a[i] + b[i];
    else if (op == OP_MUL && sa && sb)
        for (int64_t i = 0; i < n; i++) o[i] = a[i] * b[i];
    else if (op == OP_SUB && sa && sb)
        for (int64_t i = 0; i < n; i++) o[i] = a[i] - b[i];
    else
        for (int64_t i = 0; i < n; i++) o[i] = apply_binary(op, a[i * sa], b[i * sb]);
}

void ops_binary(BinaryOp op, Tensor *out, const Tensor *a, const Tensor *b) {
    float *o = tensor_data(out);
    const float *pa = tensor_data(a), *pb = tensor_data(b);
    int64_t n = tensor_numel(out);
    if (tensor_numel(a) == n && tensor_numel(b) == n) {
        binary_flat(op, o, pa, pb, n, 1, 1);
        return;
    }
    /* General case: strides of a and b in the output's index space (0 where
     * broadcast), then walk rows of the last dimension. */
    int nd = out->ndim;
    int64_t stra[TENSOR_MAX_DIMS], strb[TENSOR_MAX_DIMS];
    int64_t ra = 1, rb = 1;
    for (int i = nd - 1; i >= 0; i--) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        stra[i] = da == 1 ? 0 : ra;
        strb[i] = db == 1 ? 0 : rb;
        ra *= da;
        rb *= db;
    }
    int64_t inner = nd ? out->shape[nd - 1] : 1, rows = inner ? n / inner : 0;
    int64_t idx[TENSOR_MAX_DIMS] = {0};
    for (int64_t r = 0; r < rows; r++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < nd - 1; d++) oa += idx[d] * stra[d], ob += idx[d] * strb[d];
        binary_flat(op, o + r * inner, pa + oa, pb + ob, inner, nd ? stra[nd - 1] : 0, nd ? strb[nd - 1] : 0);
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < out->shape[d]) break;
            idx[d] = 0;
        }
    }
}

void ops_binary_scalar(BinaryOp op, Tensor *out, const Tensor *a, float s, int scalar_first) {
    float *o = tensor_data(out);
    const float *pa = tensor_data(a);
    int64_t n = tensor_numel(a);
    if (scalar_first)
        for (int64_t i = 0; i < n; i++) o[i] = apply_binary(op, s, pa[i]);
    else if (op == OP_MUL)
        for (int64_t i = 0; i < n; i++) o[i] = pa[i] * s;
    else if (op == OP_ADD)
        for (int64_t i = 0; i < n; i++) o[i] = pa[i] + s;
    else
        for (int64_t i = 0; i < n; i++) o[i] = apply_binary(op, pa[i], s);
}

void ops_unary(UnaryOp op, Tensor *out, const Tensor *a) {
    float *o = tensor_data(out);
    const float *x = tensor_data(a);
    int64_t n = tensor_numel(a);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        switch (op) {
        case OP_ABS: v = fabsf(v); break;
        case OP_SQRT: v = sqrtf(v); break;
        case OP_EXP: v = expf(v); break;
        case OP_LOG: v = logf(v); break;
        case OP_NEG: v = -v; break;
        case OP_SQUARE: v = v * v; break;
        case OP_SIGN: v = (float)((v > 0) - (v < 0)); break;
        case OP_TANH: v = tanhf(v); break;
        case OP_SIGMOID: v = v >= 0 ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v)); break;
        }
        o[i] = v;
    }
}

void ops_clamp(Tensor *out, const Tensor *a, float lo, float hi) {
    float *o = tensor_data(out);
    const float *x = tensor_data(a);
    int64_t n = tensor_numel(a);
    for (int64_t i = 0; i < n; i++) o[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
}

void ops_fill(Tensor *t, float v) {
    float *o = tensor_data(t);
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++) o[i] = v;
}

void ops_reduce_shape(const Tensor *a, int axis, int keepdim, int *ndim, int64_t *shape) {
    if (axis < 0) {
        *ndim = 0;
        if (keepdim) {
            *ndim = a->ndim;
            for (int i = 0; i < a->ndim; i++) shape[i] = 1;
        }
        return;
    }
    int n = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (i != axis)
            shape[n++] = a->shape[i];
        else if (keepdim)
            shape[n++] = 1;
    }
    *ndim = n;
}

/* Reduces x[0], x[stride], ... x[(n-1)*stride]. */
static float reduce_run(ReduceOp op, const float *x, int64_t n, int64_t stride, int correction) {
    if (n == 0) return op == RED_SUM ? 0.0f : NAN;
    switch (op) {
    case RED_SUM:
    case RED_MEAN: {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += x[i * stride];
        return (float)(op == RED_MEAN ? s / (double)n : s);
    }
    case RED_MAX:
    case RED_MIN:
    case RED_ARGMAX:
    case RED_ARGMIN: {
        int64_t best = 0;
        int want_max = op == RED_MAX || op == RED_ARGMAX;
        for (int64_t i = 1; i < n; i++) {
            float v = x[i * stride], b = x[best * stride];
            if (isnan(b)) break; /* NaN wins, as in PyTorch */
            if (isnan(v) || (want_max ? v > b : v < b)) best = i;
        }
        return op == RED_MAX || op == RED_MIN ? x[best * stride] : (float)best;
    }
    case RED_STD:
    case RED_VAR: {
        double s = 0, ss = 0;
        for (int64_t i = 0; i < n; i++) s += x[i * stride];
        double mean = s / (double)n;
        for (int64_t i = 0; i < n; i++) {
            double d = x[i * stride] - mean;
            ss += d * d;
        }
        double denom = (double)(n - correction);
        double var = denom > 0 ? ss / denom : NAN;
        return (float)(op == RED_STD ? sqrt(var) : var);
    }
    }
    return 0;
}

void ops_reduce(ReduceOp op, Tensor *out, const Tensor *a, int axis, int correction) {
    const float *x = tensor_data(a);
    float *o = tensor_data(out);
    if (axis < 0) {
        o[0] = reduce_run(op, x, tensor_numel(a), 1, correction);
        return;
    }
    int64_t outer = shape_numel(axis, a->shape), n = a->shape[axis];
    int64_t inner = shape_numel(a->ndim - axis - 1, a->shape + axis + 1);
    for (int64_t i = 0; i < outer; i++)
        for (int64_t j = 0; j < inner; j++) o[i * inner + j] = reduce_run(op, x + i * n * inner + j, n, inner, correction);
}

void ops_transpose2d(Tensor *out, const Tensor *a) {
    int64_t m = a->shape[0], n = a->shape[1];
    const float *x = tensor_data(a);
    float *o = tensor_data(out);
    enum { TILE = 32 }; /* tiles keep both sides in cache */
    for (int64_t i0 = 0; i0 < m; i0 += TILE)
        for (int64_t j0 = 0; j0 < n; j0 += TILE)
            for (int64_t i = i0; i < m && i < i0 + TILE; i++)
                for (int64_t j = j0; j < n && j < j0 + TILE; j++) o[j * m + i] = x[i * n + j];
}

typedef struct {
    const float *a, *b;
    float *c;
    int64_t m, n, k;
} MatmulJob;

static int matmul_block(void *ctx, int64_t task, int worker) {
    (void)worker;
    MatmulJob *j = ctx;
    int64_t r0 = task * OPS_MATMUL_BLOCK, rows = j->m - r0 < OPS_MATMUL_BLOCK ? j->m - r0 : OPS_MATMUL_BLOCK;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)j->n, (int)j->k, 1.0f, j->a + r0 * j->k,
                (int)j->k, j->b, (int)j->n, 0.0f, j->c + r0 * j->n, (int)j->n);
    return SN_OK;
}

int ops_matmul(Tensor *out, const Tensor *a, const Tensor *b, int nthreads) {
    MatmulJob j = {tensor_data(a), tensor_data(b), tensor_data(out), a->shape[0], b->shape[1], a->shape[1]};
    if (j.m == 0 || j.n == 0) return SN_OK;
    if (j.k == 0) {
        ops_fill(out, 0.0f);
        return SN_OK;
    }
    if (j.m > INT32_MAX || j.n > INT32_MAX || j.k > INT32_MAX) return sn_errorf("matmul: dimension exceeds 2^31");
    return parallel_for(nthreads, (j.m + OPS_MATMUL_BLOCK - 1) / OPS_MATMUL_BLOCK, matmul_block, &j);
}

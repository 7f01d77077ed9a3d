/* complexity.c — Gini sparseness and entropy complexity of explanation maps
 * (complexity.h): one task per sample, no model, no randomness. */
#include "metric/complexity.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "parallel.h"

typedef struct {
    const float *maps;
    int64_t row;
    float *out;
} Ctx;

static int cmp_float(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

static int gini_task(void *ctx, int64_t i, int worker) {
    (void)worker;
    const Ctx *c = ctx;
    float *v = malloc(sizeof(float) * (size_t)c->row);
    if (!v) return sn_errorf("out of memory");
    for (int64_t j = 0; j < c->row; j++) v[j] = fabsf(c->maps[i * c->row + j]);
    qsort(v, (size_t)c->row, sizeof *v, cmp_float);
    double num = 0, sum = 0, n = (double)c->row;
    for (int64_t k = 1; k <= c->row; k++) {
        num += (2.0 * (double)k - n - 1.0) * (double)v[k - 1];
        sum += v[k - 1];
    }
    c->out[i] = sum > 0 ? (float)(num / (n * sum)) : 0.0f;
    free(v);
    return SN_OK;
}

static int entropy_task(void *ctx, int64_t i, int worker) {
    (void)worker;
    const Ctx *c = ctx;
    const float *m = c->maps + i * c->row;
    double sum = 0, h = 0;
    for (int64_t j = 0; j < c->row; j++) sum += fabsf(m[j]);
    if (!(sum > 0)) {
        c->out[i] = (float)log((double)c->row);
        return SN_OK;
    }
    for (int64_t j = 0; j < c->row; j++) {
        double p = fabsf(m[j]) / sum;
        if (p > 0) h -= p * log(p);
    }
    c->out[i] = (float)h;
    return SN_OK;
}

int complexity_sparseness(const Tensor *maps, float *out, int nthreads) {
    Ctx c = {tensor_data(maps), tensor_row_numel(maps), out};
    return parallel_for(nthreads, maps->shape[0], gini_task, &c);
}

int complexity_entropy(const Tensor *maps, float *out, int nthreads) {
    Ctx c = {tensor_data(maps), tensor_row_numel(maps), out};
    return parallel_for(nthreads, maps->shape[0], entropy_task, &c);
}

/* baseline.c — the model-free control maps of baseline.h. */
#include "attr/baseline.h"

#include <math.h>

#include "error.h"
#include "rng.h"

int attr_random(const AttrRun *r, const Tensor *x, Tensor *out) {
    if (tensor_init_like(out, x) != SN_OK) return SN_ERR;
    int64_t n = x->shape[0], d = tensor_row_numel(x);
    for (int64_t i = 0; i < n; i++)
        rng_uniform(tensor_data(out) + i * d, d, r->seed, rng_stream("random", (uint64_t)i, 0), 0);
    return SN_OK;
}

/* the border pixel repeated: index -1 -> 0, n -> n - 1 */
static inline int64_t clampi(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

int attr_sobel(const Tensor *x, Tensor *out) {
    if (tensor_init_like(out, x) != SN_OK) return SN_ERR;
    int64_t h = x->shape[x->ndim - 2], w = x->shape[x->ndim - 1], planes = tensor_numel(x) / (h * w);
    for (int64_t p = 0; p < planes; p++) {
        const float *a = tensor_data(x) + p * h * w;
        float *o = tensor_data(out) + p * h * w;
        for (int64_t y = 0; y < h; y++) {
            const float *up = a + clampi(y - 1, h) * w, *mid = a + y * w, *dn = a + clampi(y + 1, h) * w;
            for (int64_t xx = 0; xx < w; xx++) {
                int64_t l = clampi(xx - 1, w), rr = clampi(xx + 1, w);
                /* derivative along rows (y) smoothed along x, and vice versa */
                double gy = (dn[l] + 2.0 * dn[xx] + dn[rr]) - (up[l] + 2.0 * up[xx] + up[rr]);
                double gx = (up[rr] + 2.0 * mid[rr] + dn[rr]) - (up[l] + 2.0 * mid[l] + dn[l]);
                o[y * w + xx] = (float)sqrt(gx * gx + gy * gy);
            }
        }
    }
    return SN_OK;
}

int attr_input(const Tensor *x, Tensor *out) { return tensor_clone(out, x); }

int attr_constant(const Tensor *x, Tensor *out) {
    if (tensor_init_like(out, x) != SN_OK) return SN_ERR;
    float *o = tensor_data(out);
    for (int64_t i = 0, n = tensor_numel(x); i < n; i++) o[i] = 1.0f;
    return SN_OK;
}

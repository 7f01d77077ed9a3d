/* nn_test.c — helpers for the layer and model tests (see nn_test.h). */
#include "nn_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "test.h"

Model *nt_model(const char *json) {
    char *s = strdup(json);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    Model *m = model_from_json(s);
    if (!m) fprintf(stderr, "nt_model: %s\n", sn_errmsg());
    free(s);
    return m;
}

Tensor nt_randn(int ndim, const int64_t *shape, uint64_t stream, float scale) {
    Tensor t;
    if (tensor_init(&t, ndim, shape) != SN_OK) abort();
    rng_normal(tensor_data(&t), tensor_numel(&t), 1234, stream, 0);
    for (int64_t i = 0; i < tensor_numel(&t); i++) tensor_data(&t)[i] *= scale;
    return t;
}

double nt_loss(Model *m, const Tensor *x, const Tensor *g) {
    Tensor y;
    if (model_forward(m, x, &y, 1) != SN_OK) {
        fprintf(stderr, "nt_loss: %s\n", sn_errmsg());
        return NAN;
    }
    double s = 0;
    for (int64_t i = 0; i < tensor_numel(&y); i++) s += (double)tensor_data(&y)[i] * tensor_data(g)[i];
    tensor_release(&y);
    return s;
}

static void check_tensor(Model *m, const Tensor *x, const Tensor *g, float *data, const float *ana, int64_t n, double h,
                         double rtol, double atol, int max_checks, int fix_step, uint64_t step0, const char *what,
                         const char *tname, const char *file, int line) {
    int64_t stride = n > max_checks ? n / max_checks : 1;
    int fails = 0;
    for (int64_t i = 0; i < n; i += stride) {
        float keep = data[i];
        data[i] = keep + (float)h;
        double hp = (double)data[i] - keep;
        if (fix_step) m->step = step0;
        double lp = nt_loss(m, x, g);
        data[i] = keep - (float)h;
        double hm = keep - (double)data[i];
        if (fix_step) m->step = step0;
        double lm = nt_loss(m, x, g);
        data[i] = keep;
        double num = (lp - lm) / (hp + hm);
        if (!(fabs(num - ana[i]) <= atol + rtol * fabs(num)) && fails++ < 5)
            test_fail(file, line, "%s: d/d %s[%lld]: backward %.7g, finite difference %.7g", what, tname, (long long)i,
                      (double)ana[i], num);
    }
}

void nt_gradcheck(Model *m, const Tensor *x, double h, double rtol, double atol, int max_checks, int fix_step,
                  const char *what, const char *file, int line) {
    Tensor y, dx, g;
    uint64_t step0 = m->step;
    if (model_forward(m, x, &y, 1) != SN_OK) {
        test_fail(file, line, "%s: forward: %s", what, sn_errmsg());
        return;
    }
    g = nt_randn(y.ndim, y.shape, 77, 1.0f);
    model_zero_grad(m);
    if (model_backward(m, &g, NULL, 1, &dx, 1) != SN_OK) {
        test_fail(file, line, "%s: backward: %s", what, sn_errmsg());
        tensor_release(&y), tensor_release(&g);
        return;
    }
    Tensor dxc, xc;
    tensor_clone(&dxc, &dx);
    tensor_clone(&xc, x);
    check_tensor(m, &xc, &g, tensor_data(&xc), tensor_data(&dxc), tensor_numel(&xc), h, rtol, atol, max_checks,
                 fix_step, step0, what, "input", file, line);
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nparams; k++) {
            Tensor gc;
            tensor_clone(&gc, &m->nodes[i].grad[k]);
            char name[160];
            model_param_name(m, i, k, name, sizeof name);
            check_tensor(m, &xc, &g, tensor_data(&m->nodes[i].param[k]), tensor_data(&gc), tensor_numel(&gc), h, rtol,
                         atol, max_checks, fix_step, step0, what, name, file, line);
            tensor_release(&gc);
        }
    tensor_release(&xc), tensor_release(&dxc), tensor_release(&y), tensor_release(&dx), tensor_release(&g);
}

int nt_bitwise_equal(const Tensor *a, const Tensor *b) {
    return tensor_same_shape(a, b) &&
           memcmp(tensor_data(a), tensor_data(b), sizeof(float) * (size_t)tensor_numel(a)) == 0;
}

double nt_close_ratio(const Tensor *a, const Tensor *b, double rtol, double atol) {
    if (!tensor_same_shape(a, b)) return INFINITY;
    double worst = 0;
    for (int64_t i = 0; i < tensor_numel(a); i++) {
        double x = tensor_data(a)[i], y = tensor_data(b)[i];
        double r = fabs(x - y) / (atol + rtol * fabs(y));
        if (!(r <= worst)) worst = r; /* NaN propagates */
    }
    return worst;
}

static uint32_t mix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

void nt_pattern_fill(float *w, int64_t n, uint32_t salt, float bound) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t h = mix32((uint32_t)i * 0x9E3779B1u + mix32(salt));
        float u = (float)(h >> 8) * (1.0f / 16777216.0f); /* exact in float32 */
        w[i] = bound * (2.0f * u - 1.0f);
    }
}

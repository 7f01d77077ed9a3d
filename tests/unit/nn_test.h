/* nn_test.h — helpers shared by the layer and model tests: models from
 * compact JSON, keyed random tensors, finite-difference gradient checks,
 * and the weight pattern the PyTorch fixtures use. */
#ifndef SANITY_NN_TEST_H
#define SANITY_NN_TEST_H

#include "model.h"
#include "tensor.h"

/* model_from_json on `json` with ' turned into " (so tests can write JSON
 * in C strings); prints the error and returns NULL on failure. */
Model *nt_model(const char *json);
/* A tensor of N(0,1)*scale draws keyed by `stream`. */
Tensor nt_randn(int ndim, const int64_t *shape, uint64_t stream, float scale);
/* sum_i y_i g_i in double after a forward of x. */
double nt_loss(Model *m, const Tensor *x, const Tensor *g);

/* Compares backward (plain gradients) with central differences of
 * nt_loss for every input element and every parameter element (at most
 * `max_checks` per tensor, evenly spaced). Failures are reported with
 * `what`. If fix_step, m->step is reset before each forward (dropout). */
void nt_gradcheck(Model *m, const Tensor *x, double h, double rtol, double atol, int max_checks, int fix_step,
                  const char *what, const char *file, int line);
#define GRADCHECK(m, x, h, rtol, atol, what) nt_gradcheck(m, x, h, rtol, atol, 400, 0, what, __FILE__, __LINE__)

/* 1 if a and b have the same shape and bitwise equal data. */
int nt_bitwise_equal(const Tensor *a, const Tensor *b);
/* max |a - b| / (atol + rtol |b|) over elements: <= 1 means close. */
double nt_close_ratio(const Tensor *a, const Tensor *b, double rtol, double atol);

/* The fixtures' deterministic weights (same formula in
 * scripts/fixtures/make_nn_fixtures.py): element i of a parameter with salt
 * s is bound * (2u - 1), u from a murmur3-style hash of (i, s). */
void nt_pattern_fill(float *w, int64_t n, uint32_t salt, float bound);

#endif

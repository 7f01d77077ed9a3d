/* metric/complexity.h — how concentrated an explanation map is.
 *   sparseness: the Gini index of |Phi| (Chalasani et al. 2020): with the
 *     n values sorted ascending, G = sum_k (2k - n - 1) v_k / (n sum_k v_k),
 *     k = 1..n; 0 for a constant map, (n - 1) / n for a one-hot map.
 *   complexity: the entropy of p = |Phi| / sum |Phi| (Bhatt et al. 2020),
 *     -sum p log p (natural log, 0 log 0 = 0); log n for a constant map,
 *     0 for a one-hot map.
 * An all-zero map is taken as the limit of a constant map (|Phi| = eps,
 * eps -> 0): Gini 0 and entropy log n, never NaN.
 * maps: [N, ...] (every element of a row is one value); out[N]. Sums in
 * double; each sample independent, so results do not depend on nthreads. */
#ifndef SANITY_METRIC_COMPLEXITY_H
#define SANITY_METRIC_COMPLEXITY_H

#include "tensor.h"

int complexity_sparseness(const Tensor *maps, float *out, int nthreads);
int complexity_entropy(const Tensor *maps, float *out, int nthreads);

#endif

/* histogram.c — per-sample histogram entropy (histogram.h), parallel over
 * samples; the bin of each value follows numpy.histogram exactly. */
#include "metric/histogram.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "parallel.h"

typedef struct {
    float *out;
    const float *maps;
    int64_t d;
    int bins;
} HistJob;

static int hist_one(void *ctx, int64_t i, int worker) {
    (void)worker;
    const HistJob *j = ctx;
    const float *m = j->maps + i * j->d;
    double lo = m[0], hi = m[0];
    for (int64_t k = 1; k < j->d; k++) {
        if (m[k] < lo) lo = m[k];
        if (m[k] > hi) hi = m[k];
    }
    if (!(hi > lo)) { /* numpy widens to [v-0.5, v+0.5]: one bin holds everything */
        j->out[i] = 0.0f;
        return SN_OK;
    }
    int64_t *count = calloc((size_t)j->bins, sizeof(int64_t));
    if (!count) return sn_errorf("out of memory");
    double width = (hi - lo) / j->bins;
    for (int64_t k = 0; k < j->d; k++) {
        int64_t b = (int64_t)(((double)m[k] - lo) / width);
        if (b >= j->bins) b = j->bins - 1; /* the last bin includes hi */
        if (b < 0) b = 0;
        count[b]++;
    }
    double h = 0;
    for (int b = 0; b < j->bins; b++)
        if (count[b]) {
            double p = (double)count[b] / (double)j->d;
            h -= p * log(p);
        }
    free(count);
    j->out[i] = (float)h;
    return SN_OK;
}

int histogram_entropy(float *out, const float *maps, int64_t n, int64_t d, int bins, int nthreads) {
    HistJob j = {out, maps, d, bins};
    return parallel_for(nthreads, n, hist_one, &j);
}

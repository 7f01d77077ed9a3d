/* metric/histogram.h — the discrete (histogram) entropy of each sample's
 * map, the explanation complexity of eMPRT (Hedström et al. 2023, Quantus'
 * discrete_entropy): values binned into `bins` equal-width bins between the
 * map's own min and max (numpy.histogram's default range, last bin closed),
 * entropy of the bin frequencies in nats. A constant map has entropy 0. */
#ifndef SANITY_METRIC_HISTOGRAM_H
#define SANITY_METRIC_HISTOGRAM_H

#include <stdint.h>

/* out[i] = entropy of maps[i*d .. i*d+d) (n maps of d values), bins >= 1. */
int histogram_entropy(float *out, const float *maps, int64_t n, int64_t d, int bins, int nthreads);

#endif

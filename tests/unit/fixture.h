/* fixture.h — reads float arrays from the committed HDF5 fixtures in
 * tests/fixtures/ (written by the generator scripts in scripts/fixtures/). */
#ifndef SANITY_FIXTURE_H
#define SANITY_FIXTURE_H

#include "tensor.h"

/* Reads dataset `name` of tests/fixtures/<file> as float32 into a new tensor.
 * Returns SN_OK, or SN_ERR with the file and dataset in the message. */
int fixture_read(const char *file, const char *name, Tensor *out);
/* Reads a scalar attribute `attr` of dataset/group `obj` (as double). */
int fixture_attr(const char *file, const char *obj, const char *attr, double *out);
/* Reads a string attribute (as h5py writes them) into buf (truncated to n). */
int fixture_attr_string(const char *file, const char *obj, const char *attr, char *buf, size_t n);
/* 1 if the file has a dataset or group at `path`. */
int fixture_exists(const char *file, const char *path);

#endif

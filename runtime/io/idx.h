/* idx.h — reads IDX files (the MNIST / Fashion-MNIST format), gzipped or
 * not, into memory. Only unsigned-byte data (type 0x08) is supported, which
 * is what the image and label files use. Every size is checked against the
 * file: a wrong magic or a truncated file is an error, never a crash. */
#ifndef SANITY_IDX_H
#define SANITY_IDX_H

#include <stdint.h>

typedef struct IdxArray {
    int ndim;
    int64_t shape[4];
    uint8_t *data; /* owned; shape[0]*...*shape[ndim-1] bytes */
} IdxArray;

int idx_read(const char *path, IdxArray *out);
void idx_free(IdxArray *a);

#endif

/* idx.c — IDX reader through zlib's gzread (plain files pass through too).
 * Header: two zero bytes, a type byte, a rank byte, then one big-endian
 * uint32 per dimension, then the data in row-major order. */
#include "io/idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "error.h"

static int read_exact(gzFile f, void *buf, size_t n, const char *path, const char *what) {
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0) {
            int code;
            const char *msg = gzerror(f, &code);
            return sn_errorf("IDX file '%s': read error (%s)", path, msg);
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got < n)
        return sn_errorf("IDX file '%s' is truncated: %s needs %zu bytes, only %zu present", path, what, n, got);
    return SN_OK;
}

int idx_read(const char *path, IdxArray *out) {
    memset(out, 0, sizeof *out);
    gzFile f = gzopen(path, "rb");
    if (!f) return sn_errorf("cannot open IDX file '%s': %s", path, errno ? strerror(errno) : "out of memory");
    uint8_t hdr[4];
    int rc = read_exact(f, hdr, 4, path, "the header");
    if (rc == SN_OK && (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] < 1 || hdr[3] > 4))
        rc = sn_errorf("'%s' is not an unsigned-byte IDX file (magic %02x %02x %02x %02x; expected 00 00 08 <rank 1-4>)",
                       path, hdr[0], hdr[1], hdr[2], hdr[3]);
    int64_t total = 1;
    if (rc == SN_OK) {
        out->ndim = hdr[3];
        uint8_t dims[16];
        rc = read_exact(f, dims, 4 * (size_t)out->ndim, path, "the dimension sizes");
        for (int i = 0; rc == SN_OK && i < out->ndim; i++) {
            uint8_t *d = dims + 4 * i;
            out->shape[i] = ((int64_t)d[0] << 24) | ((int64_t)d[1] << 16) | ((int64_t)d[2] << 8) | d[3];
            total *= out->shape[i];
            if (total > (INT64_C(1) << 34)) rc = sn_errorf("IDX file '%s': implausible size (over 16 GB)", path);
        }
    }
    if (rc == SN_OK) {
        out->data = malloc((size_t)(total ? total : 1));
        if (!out->data) rc = sn_errorf("IDX file '%s': out of memory for %lld bytes", path, (long long)total);
    }
    if (rc == SN_OK) rc = read_exact(f, out->data, (size_t)total, path, "the data");
    gzclose(f);
    if (rc != SN_OK) idx_free(out);
    return rc;
}

void idx_free(IdxArray *a) {
    free(a->data);
    a->data = NULL;
}

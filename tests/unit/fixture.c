/* fixture.c — HDF5 fixture reading for the C tests (see fixture.h). */
#include "fixture.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "test.h"

int fixture_read(const char *file, const char *name, Tensor *out) {
    const char *path = test_fixture(file);
    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = SN_ERR;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = -1, s = -1;
    if (f < 0) {
        sn_errorf("fixture %s: cannot open", path);
        goto done;
    }
    d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) {
        sn_errorf("fixture %s: no dataset '%s'", path, name);
        goto done;
    }
    s = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(s);
    hsize_t dims[TENSOR_MAX_DIMS];
    if (nd < 0 || nd > TENSOR_MAX_DIMS) {
        sn_errorf("fixture %s/%s: rank %d unsupported", path, name, nd);
        goto done;
    }
    H5Sget_simple_extent_dims(s, dims, NULL);
    int64_t shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = (int64_t)dims[i];
    if (tensor_init(out, nd, shape) != SN_OK) goto done;
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, tensor_data(out)) < 0) {
        tensor_release(out);
        sn_errorf("fixture %s/%s: read failed", path, name);
        goto done;
    }
    rc = SN_OK;
done:
    if (s >= 0) H5Sclose(s);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    return rc;
}

int fixture_attr(const char *file, const char *obj, const char *attr, double *out) {
    const char *path = test_fixture(file);
    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = SN_ERR;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), a = -1;
    if (f >= 0) a = H5Aopen_by_name(f, obj, attr, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0 && H5Aread(a, H5T_NATIVE_DOUBLE, out) >= 0) rc = SN_OK;
    else sn_errorf("fixture %s: no attribute %s of %s", path, attr, obj);
    if (a >= 0) H5Aclose(a);
    if (f >= 0) H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    return rc;
}

int fixture_attr_string(const char *file, const char *obj, const char *attr, char *buf, size_t n) {
    const char *path = test_fixture(file);
    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = SN_ERR;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), a = -1, ft = -1, mt = -1;
    if (f >= 0) a = H5Aopen_by_name(f, obj, attr, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) ft = H5Aget_type(a);
    if (ft >= 0 && H5Tget_class(ft) == H5T_STRING) {
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mt, H5Tget_cset(ft)); /* h5py writes UTF-8 */
        if (H5Tis_variable_str(ft) > 0) {
            char *s = NULL;
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(buf, n, "%s", s);
                H5free_memory(s);
                rc = SN_OK;
            }
        } else {
            size_t len = H5Tget_size(ft);
            char *s = calloc(len + 1, 1);
            H5Tset_size(mt, len + 1);
            if (s && H5Aread(a, mt, s) >= 0) {
                snprintf(buf, n, "%s", s);
                rc = SN_OK;
            }
            free(s);
        }
    }
    if (rc != SN_OK) sn_errorf("fixture %s: no string attribute %s of %s", path, attr, obj);
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    if (f >= 0) H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    return rc;
}

int fixture_exists(const char *file, const char *path) {
    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(test_fixture(file), H5F_ACC_RDONLY, H5P_DEFAULT);
    int ok = f >= 0 && H5Lexists(f, path, H5P_DEFAULT) > 0 && H5Oexists_by_name(f, path, H5P_DEFAULT) > 0;
    if (f >= 0) H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    return ok;
}

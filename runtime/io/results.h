/* results.h — sanity's results files: HDF5 that h5py, xarray (h5netcdf) and
 * h5dump read without help.
 *
 * Writing. results_create(path) writes to "<path>.partial"; only
 * results_close(f, 1) renames it to <path> (after fsync), so a run killed at
 * any moment leaves at most the .partial file, never a half-written <path>.
 * Arrays (float32, float64, int64, UTF-8 strings; up to 8 dims) go to
 * datasets named like "mprt/ig" (groups made as needed). Named dimensions
 * become HDF5 dimension scales: a 1-d dataset named after the dimension in
 * the data's group, shared by every array of that group that uses the name
 * (netCDF semantics: one length per dimension name per group), holding the
 * coordinates given on first use or 0..n-1. Numeric arrays over 64 KiB are
 * chunked and compressed (shuffle + gzip 4); smaller ones are contiguous.
 *
 * Reading. Any numeric dataset reads as a float32 Tensor; strings as an
 * array of C strings; attributes as scalars or small arrays.
 *
 * Errors: every function returns SN_OK or SN_ERR after sn_errorf() with a
 * sentence naming the file and object. Nothing here prints (HDF5's own error
 * printing is switched off). HDF5 is not thread-safe here: call these from
 * the main thread only. Lua bindings live in lua/l_results.c. */
#ifndef SANITY_RESULTS_H
#define SANITY_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

typedef struct ResultsFile ResultsFile;

/* Element types. Writing takes the first four; reading any numeric dataset
 * as an array gives F32 (floats of <= 4 bytes), F64 (wider floats) or I64
 * (integers); OTHER marks what sanity cannot read (compound, enum, ...). */
typedef enum ResultsType { RESULTS_F32, RESULTS_F64, RESULTS_I64, RESULTS_STR, RESULTS_OTHER } ResultsType;

/* A typed N-d array in C (row-major) order. `data` points at float, double,
 * int64_t or `const char *` (NUL-terminated UTF-8) elements. Arrays passed
 * in are borrowed; arrays filled by results_read_array own their memory
 * (`owned`) and are released with results_array_free. */
typedef struct ResultsArray {
    ResultsType type;
    int ndim; /* 0 = scalar */
    int64_t shape[TENSOR_MAX_DIMS];
    const void *data;
    void *owned;
} ResultsArray;

/* A named dimension for results_write. coords: a 1-d array of the
 * dimension's length, or NULL (an existing scale is reused, else 0..n-1). */
typedef struct ResultsDim {
    const char *name;
    const ResultsArray *coords;
} ResultsDim;

/* A scalar attribute; INT and BOOL use `i`, NUM `num`, STR `str`. Booleans
 * are stored as h5py stores them (enum FALSE=0/TRUE=1 on int8), so h5py
 * reads numpy.bool_. Reading also yields NUMS/STRS for array attributes
 * written by other tools (n values in nums/strs). */
typedef enum ResultsAttrType {
    RESULTS_ATTR_INT,
    RESULTS_ATTR_NUM,
    RESULTS_ATTR_STR,
    RESULTS_ATTR_BOOL,
    RESULTS_ATTR_NUMS,
    RESULTS_ATTR_STRS
} ResultsAttrType;

typedef struct ResultsAttr {
    const char *key;
    ResultsAttrType type;
    int64_t i;
    double num;
    const char *str;
    int64_t n;
    const double *nums;
    const char *const *strs;
} ResultsAttr;

typedef struct ResultsWriteOpts {
    const ResultsDim *dims; /* NULL, or one per dimension of the array */
    const ResultsAttr *attrs;
    int nattrs;
    int overwrite; /* replace an existing dataset of that name */
    int reserve;   /* numbers only: create the dataset filled with zeros, ignoring
                      a->data (may be NULL); fill it with results_write_rows */
} ResultsWriteOpts;

#define RESULTS_MAX_RANK 32 /* HDF5's limit; info reports any rank */
#define RESULTS_NAME_MAX 1024

/* What `sanity info` shows about a dataset. */
typedef struct ResultsInfo {
    ResultsType type; /* what results_read_array would give */
    char dtype[24];   /* "float32", "int64", "uint8", "string", "compound", ... */
    int ndim;
    int64_t shape[RESULTS_MAX_RANK];
    int is_scale;                    /* this dataset is a dimension scale */
    int chunked;                     /* chunked layout */
    int compressed;                  /* gzip filter present */
    char dims[RESULTS_MAX_RANK][64]; /* label, else attached scale's name, else "" */
} ResultsInfo;

/* Owned lists returned by results_list / results_attrs. */
typedef struct ResultsNames {
    int64_t n;
    char **names; /* absolute paths, "/mprt/ig" */
} ResultsNames;

typedef struct ResultsAttrList {
    int n;
    ResultsAttr *items; /* keys, strings and arrays owned by the list */
} ResultsAttrList;

/* ---- files ----------------------------------------------------------- */

/* Creates "<path>.partial" for writing (an old .partial is truncated).
 * Errors name the directory when it does not exist or is not writable. */
int results_create(ResultsFile **out, const char *path);

typedef enum ResultsMode {
    RESULTS_READ,  /* open <path> read-only */
    RESULTS_RESUME /* reopen "<path>.partial" read-write (continue a killed run) */
} ResultsMode;
/* Errors: "cannot open results file 'x.h5': No such file or directory",
 * "...: not an HDF5 file", "...: corrupt or truncated HDF5 file". */
int results_open(ResultsFile **out, const char *path, ResultsMode mode);

/* Flushes and closes. For a file being written, complete=1 fsyncs and
 * renames "<path>.partial" to <path>; complete=0 leaves the .partial file.
 * Closing a closed file does nothing. The handle stays valid (for
 * results_path etc.) until results_free. */
int results_close(ResultsFile *f, int complete);
/* Closes (without completing) if still open and frees. NULL is fine. */
void results_free(ResultsFile *f);
int results_flush(ResultsFile *f);

int results_is_open(const ResultsFile *f);
int results_is_writable(const ResultsFile *f);
/* 1 once results_close(f, 1) renamed the file to its final name. */
int results_is_complete(const ResultsFile *f);
const char *results_path(const ResultsFile *f);      /* the final name */
const char *results_disk_path(const ResultsFile *f); /* the file on disk now (.partial while writing) */

/* "<realpath of dir>/<basename>": one key per file however it is spelled.
 * SN_ERR when the directory does not exist. */
int results_canonical_path(const char *path, char *buf, size_t n);

/* ---- writing ------------------------------------------------------- */

/* Writes array `a` as dataset `name` ("a/b/c"; a leading '/' is allowed).
 * Validates everything (dimension names and lengths, coordinates against
 * stored ones, string encoding) before touching the file; on a later HDF5
 * failure the new dataset is removed again. */
int results_write(ResultsFile *f, const char *name, const ResultsArray *a, const ResultsWriteOpts *o);

/* Overwrites rows [start, start + a->shape[0]) along dimension 0 of an
 * existing numeric dataset (same rank and trailing shape): for arrays
 * preallocated at the start of a run and filled as units complete. */
int results_write_rows(ResultsFile *f, const char *name, int64_t start, const ResultsArray *a);

/* Sets scalar attributes on `obj` (NULL or "/" = the root group), replacing
 * attributes of the same name. */
int results_set_attrs(ResultsFile *f, const char *obj, const ResultsAttr *attrs, int n);

/* Copies dataset `srcname` of src into dst as `dstname`: values, type,
 * dimension names, coordinates and attributes (what `sanity merge` needs). */
int results_copy(ResultsFile *dst, const char *dstname, ResultsFile *src, const char *srcname, int overwrite);

/* ---- reading ------------------------------------------------------- */

/* 1 if `name` is a dataset, 0 if not (also for groups and bad names). */
int results_has(ResultsFile *f, const char *name);
int results_info(ResultsFile *f, const char *name, ResultsInfo *out);
/* Any numeric dataset (rank <= 8) converted to float32, into a new tensor. */
int results_read_tensor(ResultsFile *f, const char *name, Tensor *out);
/* The same into an existing tensor of exactly the dataset's shape. */
int results_read_into(ResultsFile *f, const char *name, Tensor *dst);
/* Numbers (F32/F64/I64 as described above) or strings, in native form. */
int results_read_array(ResultsFile *f, const char *name, ResultsArray *out);
void results_array_free(ResultsArray *a);
/* Coordinates of the scale attached to dimension `dim` (0-based); SN_ERR
 * when that dimension has none. */
int results_dim_coords(ResultsFile *f, const char *name, int dim, ResultsArray *out);

/* Every dataset (dimension scales included), depth first, sorted by name. */
int results_list(ResultsFile *f, ResultsNames *out);
void results_names_free(ResultsNames *l);

/* Attributes of `obj` (NULL or "/" = root), sorted by name. Dimension-scale
 * bookkeeping (CLASS, NAME, REFERENCE_LIST, DIMENSION_LIST, ...) and types
 * sanity cannot show (references, compounds) are left out. */
int results_attrs(ResultsFile *f, const char *obj, ResultsAttrList *out);
void results_attrs_free(ResultsAttrList *l);

/* ---- misc ---------------------------------------------------------- */

/* "float32", "float64", "int64", "string", "other" */
const char *results_type_name(ResultsType t);
/* "1.10.8" */
const char *results_hdf5_version(char *buf, size_t n);
/* Number of HDF5 objects open in f, the file included (tests check it is 1
 * between calls, i.e. no handle leaks). */
int64_t results_open_objects(const ResultsFile *f);
/* 1 if s is valid UTF-8. */
int results_utf8_valid(const char *s, size_t len);

#endif

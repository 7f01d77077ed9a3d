/* results.c — HDF5 results files (see results.h): create/rename discipline,
 * datasets with dimension scales (H5DS), attributes, reading back, listing.
 * It does not know about Lua, provenance (io/provenance.c) or printing:
 * every failure is a sentence in sn_errorf(), HDF5's own printing is off.
 * Object times are not recorded, so two runs that write the same numbers
 * write the same objects (resumed and uninterrupted runs compare equal). */
#include "io/results.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define COMPRESS_OVER 65536   /* bytes: larger numeric arrays are compressed */
#define CHUNK_BYTES (1 << 20) /* chunk size target: HDF5's default chunk cache */
#define GZIP_LEVEL 4
#define DIMNAME_MAX 64

struct ResultsFile {
    hid_t fid; /* -1 once closed */
    int writable;
    int complete;
    char *path; /* final name */
    char *disk; /* file on disk: path.partial while writing */
};

/* HDF5 prints its error stack on every failure unless told not to; sanity
 * reports through sn_errorf instead. Cheap, so every entry point calls it. */
static void quiet(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void hclose(hid_t id) {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
    case H5I_FILE:
        H5Fclose(id);
        break;
    case H5I_GROUP:
        H5Gclose(id);
        break;
    case H5I_DATATYPE:
        H5Tclose(id);
        break;
    case H5I_DATASPACE:
        H5Sclose(id);
        break;
    case H5I_DATASET:
        H5Dclose(id);
        break;
    case H5I_ATTR:
        H5Aclose(id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(id);
        break;
    default:
        H5Idec_ref(id);
        break;
    }
}

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static int check_open(const ResultsFile *f) {
    if (!f || f->fid < 0) return sn_errorf("results file is closed");
    return SN_OK;
}

static int check_writable(const ResultsFile *f) {
    if (check_open(f) != SN_OK) return SN_ERR;
    if (!f->writable) return sn_errorf("results file '%s' is open read-only", f->path);
    return SN_OK;
}

int results_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p++;
        int more;
        unsigned min;
        if (c < 0x80) continue;
        if ((c & 0xE0) == 0xC0)
            more = 1, min = 0x80, c &= 0x1F;
        else if ((c & 0xF0) == 0xE0)
            more = 2, min = 0x800, c &= 0x0F;
        else if ((c & 0xF8) == 0xF0)
            more = 3, min = 0x10000, c &= 0x07;
        else
            return 0;
        if (end - p < more) return 0;
        for (int i = 0; i < more; i++) {
            if ((*p & 0xC0) != 0x80) return 0;
            c = (c << 6) | (*p++ & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    }
    return 1;
}

/* ---- files ---------------------------------------------------------- */

static hid_t file_access(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    /* 1.8 format or later: dense attribute storage (cfg_json may exceed the
     * 64 KiB of compact storage) while readable by every current tool. */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    /* Closing the file closes every object in it: the rename that follows
     * must see a closed file. */
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    return fapl;
}

/* Splits path into directory ("." when none) and base name. */
static int split_path(const char *path, char *dir, size_t n, const char **base) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, n, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, n, "/");
        *base = slash + 1;
    } else {
        if ((size_t)(slash - path) >= n) return sn_errorf("results file name '%s' is too long", path);
        snprintf(dir, n, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
    return SN_OK;
}

int results_canonical_path(const char *path, char *buf, size_t n) {
    char dir[PATH_MAX], real[PATH_MAX];
    const char *base;
    if (!path || !*path) return sn_errorf("results file name is empty");
    if (split_path(path, dir, sizeof dir, &base) != SN_OK) return SN_ERR;
    if (!*base) return sn_errorf("results file name '%s' ends with '/'; give a file name", path);
    if (!realpath(dir, real)) {
        if (errno == ENOENT)
            return sn_errorf("cannot create results file '%s': directory '%s' does not exist", path, dir);
        if (errno == ENOTDIR) return sn_errorf("cannot create results file '%s': '%s' is not a directory", path, dir);
        return sn_errorf("cannot create results file '%s': directory '%s': %s", path, dir, strerror(errno));
    }
    int len = snprintf(buf, n, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
    if (len < 0 || (size_t)len >= n) return sn_errorf("results file name '%s' is too long", path);
    return SN_OK;
}

static ResultsFile *file_new(const char *path, const char *disk, hid_t fid, int writable) {
    ResultsFile *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->path = dupstr(path);
    f->disk = dupstr(disk);
    if (!f->path || !f->disk) {
        free(f->path);
        free(f->disk);
        free(f);
        return NULL;
    }
    f->fid = fid;
    f->writable = writable;
    return f;
}

int results_create(ResultsFile **out, const char *path) {
    quiet();
    *out = NULL;
    char canon[PATH_MAX], dir[PATH_MAX], disk[PATH_MAX];
    const char *base;
    if (results_canonical_path(path, canon, sizeof canon) != SN_OK) return SN_ERR;
    split_path(path, dir, sizeof dir, &base);
    if (access(dir, W_OK) != 0)
        return sn_errorf("cannot create results file '%s': directory '%s' is not writable", path, dir);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return sn_errorf("cannot create results file '%s': it is a directory", path);
    if (snprintf(disk, sizeof disk, "%s.partial", path) >= (int)sizeof disk)
        return sn_errorf("results file name '%s' is too long", path);
    hid_t fapl = file_access();
    errno = 0; /* the stat above may have left ENOENT */
    hid_t fid = H5Fcreate(disk, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    int err = errno;
    hclose(fapl);
    if (fid < 0)
        return sn_errorf("cannot create results file '%s' (HDF5 could not create '%s'%s%s)", path, disk,
                         err ? ": " : "", err ? strerror(err) : "");
    *out = file_new(path, disk, fid, 1);
    if (!*out) {
        H5Fclose(fid);
        return sn_errorf("out of memory opening results file '%s'", path);
    }
    return SN_OK;
}

int results_open(ResultsFile **out, const char *path, ResultsMode mode) {
    quiet();
    *out = NULL;
    char disk[PATH_MAX];
    if (!path || !*path) return sn_errorf("results file name is empty");
    if (snprintf(disk, sizeof disk, mode == RESULTS_RESUME ? "%s.partial" : "%s", path) >= (int)sizeof disk)
        return sn_errorf("results file name '%s' is too long", path);
    struct stat st;
    if (stat(disk, &st) != 0) return sn_errorf("cannot open results file '%s': %s", disk, strerror(errno));
    if (S_ISDIR(st.st_mode)) return sn_errorf("cannot open results file '%s': it is a directory", disk);
    if (access(disk, mode == RESULTS_RESUME ? R_OK | W_OK : R_OK) != 0)
        return sn_errorf("cannot open results file '%s': %s", disk, strerror(errno));
    if (H5Fis_hdf5(disk) <= 0) return sn_errorf("cannot open results file '%s': not an HDF5 file", disk);
    hid_t fapl = file_access();
    hid_t fid = H5Fopen(disk, mode == RESULTS_RESUME ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
    hclose(fapl);
    if (fid < 0)
        return sn_errorf(
            "cannot open results file '%s': corrupt or truncated HDF5 file (or locked by a process writing it)", disk);
    *out = file_new(path, disk, fid, mode == RESULTS_RESUME);
    if (!*out) {
        H5Fclose(fid);
        return sn_errorf("out of memory opening results file '%s'", path);
    }
    return SN_OK;
}

/* Data and then the name must be on disk before the rename is: otherwise a
 * crash just after it could leave <path> naming an empty file. */
static void fsync_path(const char *p, int dir) {
    int fd = open(p, O_RDONLY | (dir ? O_DIRECTORY : 0));
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

int results_close(ResultsFile *f, int complete) {
    quiet();
    if (!f || f->fid < 0) return SN_OK;
    int rc = SN_OK;
    if (f->writable && H5Fflush(f->fid, H5F_SCOPE_GLOBAL) < 0)
        rc = sn_errorf("results file '%s': flushing to '%s' failed", f->path, f->disk);
    if (H5Fclose(f->fid) < 0 && rc == SN_OK) rc = sn_errorf("results file '%s': closing '%s' failed", f->path, f->disk);
    f->fid = -1;
    if (rc != SN_OK || !f->writable || !complete) return rc;
    fsync_path(f->disk, 0);
    if (rename(f->disk, f->path) != 0)
        return sn_errorf("results file '%s': cannot rename '%s' to it: %s", f->path, f->disk, strerror(errno));
    char dir[PATH_MAX];
    const char *base;
    if (split_path(f->path, dir, sizeof dir, &base) == SN_OK) fsync_path(dir, 1);
    f->complete = 1;
    char *d = dupstr(f->path);
    if (d) {
        free(f->disk);
        f->disk = d;
    }
    return SN_OK;
}

void results_free(ResultsFile *f) {
    if (!f) return;
    results_close(f, 0);
    free(f->path);
    free(f->disk);
    free(f);
}

int results_flush(ResultsFile *f) {
    quiet();
    if (check_open(f) != SN_OK) return SN_ERR;
    if (f->writable && H5Fflush(f->fid, H5F_SCOPE_GLOBAL) < 0)
        return sn_errorf("results file '%s': flushing failed", f->path);
    return SN_OK;
}

int results_is_open(const ResultsFile *f) {
    return f && f->fid >= 0;
}
int results_is_writable(const ResultsFile *f) {
    return f && f->writable;
}
int results_is_complete(const ResultsFile *f) {
    return f && f->complete;
}
const char *results_path(const ResultsFile *f) {
    return f->path;
}
const char *results_disk_path(const ResultsFile *f) {
    return f->disk;
}

int64_t results_open_objects(const ResultsFile *f) {
    if (!f || f->fid < 0) return 0;
    return (int64_t)H5Fget_obj_count(f->fid, H5F_OBJ_ALL);
}

const char *results_hdf5_version(char *buf, size_t n) {
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(buf, n, "%u.%u.%u", maj, min, rel);
    return buf;
}

/* ---- names ---------------------------------------------------------- */

/* Normalizes "a/b" or "/a/b" to "/a/b" in buf; rejects empty components,
 * "." and "..". */
static int norm_name(const ResultsFile *f, const char *name, char *buf, size_t n) {
    if (!name || !*name) return sn_errorf("results file '%s': empty dataset name", f->path);
    const char *p = name[0] == '/' ? name + 1 : name;
    if (!*p) return sn_errorf("results file '%s': '/' is the root group, not a dataset name", f->path);
    size_t len = strlen(p);
    if (len + 2 > n) return sn_errorf("results file '%s': name '%.64s...' is too long", f->path, name);
    buf[0] = '/';
    memcpy(buf + 1, p, len + 1);
    for (const char *c = buf + 1;;) {
        const char *e = strchr(c, '/');
        size_t clen = e ? (size_t)(e - c) : strlen(c);
        if (clen == 0) return sn_errorf("results file '%s': name '%s' has an empty path component", f->path, name);
        if ((clen == 1 && c[0] == '.') || (clen == 2 && c[0] == '.' && c[1] == '.'))
            return sn_errorf("results file '%s': name '%s' may not contain '.' or '..' components", f->path, name);
        if (!e) break;
        c = e + 1;
    }
    return SN_OK;
}

enum { KIND_NONE, KIND_GROUP, KIND_DATASET, KIND_OTHER };

/* Kind of the object at absolute path `abs`. When an intermediate component
 * exists but is not a group, returns KIND_OTHER and sets *blocked to the
 * length of that prefix; else *blocked = 0. Missing components: KIND_NONE. */
static int path_kind(hid_t fid, const char *abs, size_t *blocked) {
    char prefix[RESULTS_NAME_MAX + 2];
    size_t len = strlen(abs);
    *blocked = 0;
    if (len >= sizeof prefix) return KIND_NONE;
    for (size_t i = 1; i <= len; i++) {
        if (i < len && abs[i] != '/') continue;
        memcpy(prefix, abs, i);
        prefix[i] = '\0';
        if (H5Lexists(fid, prefix, H5P_DEFAULT) <= 0) return KIND_NONE;
        hid_t o = H5Oopen(fid, prefix, H5P_DEFAULT);
        H5I_type_t t = o >= 0 ? H5Iget_type(o) : H5I_BADID;
        hclose(o);
        int kind = t == H5I_GROUP ? KIND_GROUP : t == H5I_DATASET ? KIND_DATASET : KIND_OTHER;
        if (i == len) return kind;
        if (kind != KIND_GROUP) {
            *blocked = i;
            return KIND_OTHER;
        }
    }
    return KIND_NONE;
}

/* Creates the groups above `abs` that do not exist yet. */
static int make_parents(const ResultsFile *f, const char *abs) {
    char prefix[RESULTS_NAME_MAX + 2];
    size_t len = strlen(abs);
    for (size_t i = 1; i < len; i++) {
        if (abs[i] != '/') continue;
        memcpy(prefix, abs, i);
        prefix[i] = '\0';
        size_t blocked;
        int kind = path_kind(f->fid, prefix, &blocked);
        if (kind == KIND_GROUP) continue;
        if (kind != KIND_NONE) return sn_errorf("results file '%s': '%s' is not a group", f->path, prefix);
        hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
        H5Pset_obj_track_times(gcpl, 0);
        hid_t g = H5Gcreate2(f->fid, prefix, H5P_DEFAULT, gcpl, H5P_DEFAULT);
        hclose(gcpl);
        if (g < 0) return sn_errorf("results file '%s': cannot create group '%s'", f->path, prefix);
        H5Gclose(g);
    }
    return SN_OK;
}

/* ---- types ---------------------------------------------------------- */

static hid_t str_type(H5T_cset_t cset) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, cset);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    return t;
}

/* h5py's boolean: an int8 enum FALSE=0, TRUE=1. */
static hid_t bool_type(void) {
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t v = 0;
    H5Tenum_insert(t, "FALSE", &v);
    v = 1;
    H5Tenum_insert(t, "TRUE", &v);
    return t;
}

static hid_t mem_type(ResultsType t) {
    switch (t) {
    case RESULTS_F32:
        return H5Tcopy(H5T_NATIVE_FLOAT);
    case RESULTS_F64:
        return H5Tcopy(H5T_NATIVE_DOUBLE);
    case RESULTS_I64:
        return H5Tcopy(H5T_NATIVE_INT64);
    case RESULTS_STR:
        return str_type(H5T_CSET_UTF8);
    default:
        return -1;
    }
}

static hid_t file_type(ResultsType t) {
    switch (t) {
    case RESULTS_F32:
        return H5Tcopy(H5T_IEEE_F32LE);
    case RESULTS_F64:
        return H5Tcopy(H5T_IEEE_F64LE);
    case RESULTS_I64:
        return H5Tcopy(H5T_STD_I64LE);
    case RESULTS_STR:
        return str_type(H5T_CSET_UTF8);
    default:
        return -1;
    }
}

static size_t elem_size(ResultsType t) {
    return t == RESULTS_F32 ? 4 : t == RESULTS_STR ? sizeof(const char *) : 8;
}

static const char *type_name(ResultsType t) {
    static const char *const names[] = {"float32", "float64", "int64", "string", "other"};
    return names[t <= RESULTS_OTHER ? t : RESULTS_OTHER];
}

/* Describes a file datatype: dtype string and the type results_read_array
 * gives for it. */
static ResultsType describe_type(hid_t t, char *dtype, size_t n) {
    H5T_class_t c = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    switch (c) {
    case H5T_FLOAT:
        snprintf(dtype, n, "float%zu", size * 8);
        return size <= 4 ? RESULTS_F32 : RESULTS_F64;
    case H5T_INTEGER:
        snprintf(dtype, n, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", size * 8);
        return RESULTS_I64;
    case H5T_STRING:
        snprintf(dtype, n, "string");
        return RESULTS_STR;
    case H5T_ENUM: {
        int bool_like = H5Tget_nmembers(t) == 2;
        char *m0 = bool_like ? H5Tget_member_name(t, 0) : NULL, *m1 = bool_like ? H5Tget_member_name(t, 1) : NULL;
        bool_like = m0 && m1 && strcmp(m0, "FALSE") == 0 && strcmp(m1, "TRUE") == 0;
        H5free_memory(m0);
        H5free_memory(m1);
        snprintf(dtype, n, bool_like ? "bool" : "enum");
        return RESULTS_OTHER;
    }
    case H5T_COMPOUND:
        snprintf(dtype, n, "compound");
        break;
    case H5T_REFERENCE:
        snprintf(dtype, n, "reference");
        break;
    case H5T_OPAQUE:
        snprintf(dtype, n, "opaque");
        break;
    case H5T_BITFIELD:
        snprintf(dtype, n, "bitfield");
        break;
    case H5T_VLEN:
        snprintf(dtype, n, "vlen");
        break;
    case H5T_ARRAY:
        snprintf(dtype, n, "array");
        break;
    case H5T_TIME:
        snprintf(dtype, n, "time");
        break;
    default:
        snprintf(dtype, n, "unknown");
        break;
    }
    return RESULTS_OTHER;
}

static int64_t array_numel(const ResultsArray *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

/* has_data = 0: only the type and shape matter (results_write's reserve). */
static int check_array_data(const ResultsFile *f, const char *what, const ResultsArray *a, int has_data) {
    if (!a) return sn_errorf("results file '%s': %s: no array given", f->path, what);
    if (a->type > RESULTS_STR) return sn_errorf("results file '%s': %s: unsupported element type", f->path, what);
    if (a->ndim < 0 || a->ndim > TENSOR_MAX_DIMS)
        return sn_errorf("results file '%s': %s: rank %d is out of range (0..%d)", f->path, what, a->ndim,
                         TENSOR_MAX_DIMS);
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] < 0) return sn_errorf("results file '%s': %s: negative dimension", f->path, what);
    int64_t n = array_numel(a);
    if (!has_data) return SN_OK;
    if (n > 0 && !a->data) return sn_errorf("results file '%s': %s: no data", f->path, what);
    if (a->type == RESULTS_STR) {
        const char *const *s = a->data;
        for (int64_t i = 0; i < n; i++) {
            if (!s[i])
                return sn_errorf("results file '%s': %s: string element %lld is missing", f->path, what,
                                 (long long)i + 1);
            if (!results_utf8_valid(s[i], strlen(s[i])))
                return sn_errorf("results file '%s': %s: string element %lld is not valid UTF-8", f->path, what,
                                 (long long)i + 1);
        }
    }
    return SN_OK;
}

static int check_array(const ResultsFile *f, const char *what, const ResultsArray *a) {
    return check_array_data(f, what, a, 1);
}

/* ---- datasets -------------------------------------------------------- */

static void chunk_shape(int ndim, const int64_t *shape, size_t elsize, hsize_t *chunk) {
    int64_t budget = CHUNK_BYTES / (int64_t)elsize; /* elements; trailing dims first */
    for (int i = ndim - 1; i >= 0; i--) {
        int64_t c = shape[i] < budget ? shape[i] : budget;
        if (c < 1) c = 1;
        chunk[i] = (hsize_t)c;
        budget /= c;
        if (budget < 1) budget = 1;
    }
}

/* Creates dataset `abs` holding `a` (zeros when !write); returns the open
 * dataset or -1. */
static hid_t create_dataset_w(const ResultsFile *f, const char *abs, const ResultsArray *a, int write) {
    hsize_t dims[TENSOR_MAX_DIMS], chunk[TENSOR_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) dims[i] = (hsize_t)a->shape[i];
    hid_t space = a->ndim ? H5Screate_simple(a->ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t ftype = file_type(a->type), mtype = mem_type(a->type), did = -1;
    int64_t n = array_numel(a);
    H5Pset_obj_track_times(dcpl, 0);
    if (a->type != RESULTS_STR && a->ndim > 0 && (uint64_t)n * elem_size(a->type) > COMPRESS_OVER) {
        chunk_shape(a->ndim, a->shape, elem_size(a->type), chunk);
        H5Pset_chunk(dcpl, a->ndim, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, GZIP_LEVEL);
    }
    if (space >= 0 && dcpl >= 0 && ftype >= 0 && mtype >= 0)
        did = H5Dcreate2(f->fid, abs, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (did < 0) {
        sn_errorf("results file '%s': cannot create dataset '%s'", f->path, abs);
    } else if (write && n > 0 && H5Dwrite(did, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data) < 0) {
        sn_errorf("results file '%s': writing dataset '%s' failed", f->path, abs);
        H5Dclose(did);
        H5Ldelete(f->fid, abs, H5P_DEFAULT);
        did = -1;
    }
    hclose(space);
    hclose(dcpl);
    hclose(ftype);
    hclose(mtype);
    return did;
}

static hid_t create_dataset(const ResultsFile *f, const char *abs, const ResultsArray *a) {
    return create_dataset_w(f, abs, a, 1);
}

/* Read helpers that work for datasets and attributes alike. */
static herr_t read_id(hid_t id, hid_t mtype, void *buf) {
    if (H5Iget_type(id) == H5I_ATTR) return H5Aread(id, mtype, buf);
    return H5Dread(id, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

static hid_t space_of(hid_t id) {
    return H5Iget_type(id) == H5I_ATTR ? H5Aget_space(id) : H5Dget_space(id);
}
static hid_t type_of(hid_t id) {
    return H5Iget_type(id) == H5I_ATTR ? H5Aget_type(id) : H5Dget_type(id);
}

/* Reads n strings (variable or fixed length) from dataset/attribute id into
 * one malloc'd block: n pointers followed by the bytes. */
static char **read_strings(hid_t id, hid_t ftype, int64_t n) {
    H5T_cset_t cset = H5Tget_cset(ftype);
    char **block = NULL;
    if (n == 0) return calloc(1, sizeof(char *));
    if (H5Tis_variable_str(ftype) > 0) {
        hid_t mt = str_type(cset);
        char **tmp = calloc((size_t)n, sizeof *tmp);
        if (tmp && read_id(id, mt, tmp) >= 0) {
            size_t bytes = 0;
            for (int64_t i = 0; i < n; i++) bytes += (tmp[i] ? strlen(tmp[i]) : 0) + 1;
            block = malloc((size_t)n * sizeof(char *) + bytes);
            if (block) {
                char *p = (char *)(block + n);
                for (int64_t i = 0; i < n; i++) {
                    size_t l = tmp[i] ? strlen(tmp[i]) : 0;
                    memcpy(p, tmp[i] ? tmp[i] : "", l + 1);
                    block[i] = p;
                    p += l + 1;
                }
            }
            for (int64_t i = 0; i < n; i++) H5free_memory(tmp[i]);
        }
        free(tmp);
        hclose(mt);
        return block;
    }
    size_t size = H5Tget_size(ftype) + 1;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, size);
    H5Tset_strpad(mt, H5T_STR_NULLTERM);
    H5Tset_cset(mt, cset);
    block = malloc((size_t)n * (sizeof(char *) + size));
    if (block) {
        char *p = (char *)(block + n);
        if (read_id(id, mt, p) < 0) {
            free(block);
            block = NULL;
        } else {
            for (int64_t i = 0; i < n; i++) block[i] = p + (size_t)i * size, p[(size_t)i * size + size - 1] = '\0';
        }
    }
    hclose(mt);
    return block;
}

/* Reads the whole dataset/attribute `id` into a new owned array. */
static int read_native(const ResultsFile *f, const char *what, hid_t id, ResultsArray *out) {
    memset(out, 0, sizeof *out);
    hid_t ftype = type_of(id), space = space_of(id);
    char dtype[24];
    int rc = SN_ERR;
    ResultsType t = describe_type(ftype, dtype, sizeof dtype);
    int nd = H5Sget_simple_extent_ndims(space);
    hsize_t dims[RESULTS_MAX_RANK];
    if (t == RESULTS_OTHER) {
        sn_errorf("results file '%s': '%s' has type %s; only numbers and strings can be read", f->path, what, dtype);
        goto done;
    }
    if (nd < 0 || nd > TENSOR_MAX_DIMS) {
        sn_errorf("results file '%s': '%s' has rank %d; at most %d is supported", f->path, what, nd, TENSOR_MAX_DIMS);
        goto done;
    }
    H5Sget_simple_extent_dims(space, dims, NULL);
    out->type = t;
    out->ndim = nd;
    for (int i = 0; i < nd; i++) out->shape[i] = (int64_t)dims[i];
    int64_t n = H5Sget_simple_extent_type(space) == H5S_NULL ? 0 : array_numel(out);
    if (t == RESULTS_STR) {
        out->owned = read_strings(id, ftype, n);
    } else {
        out->owned = malloc(n ? (size_t)n * elem_size(t) : 1);
        hid_t mt = mem_type(t);
        if (out->owned && n > 0 && read_id(id, mt, out->owned) < 0) {
            free(out->owned);
            out->owned = NULL;
        }
        hclose(mt);
    }
    if (!out->owned) {
        sn_errorf("results file '%s': reading '%s' failed", f->path, what);
        goto done;
    }
    out->data = out->owned;
    rc = SN_OK;
done:
    hclose(ftype);
    hclose(space);
    return rc;
}

void results_array_free(ResultsArray *a) {
    if (!a) return;
    free(a->owned);
    a->owned = NULL;
    a->data = NULL;
}

/* ---- listing ---------------------------------------------------------- */

typedef struct {
    ResultsNames *l;
    int64_t cap;
    int failed;
} ListCtx;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    ListCtx *c = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    int is_ds = o >= 0 && H5Iget_type(o) == H5I_DATASET;
    hclose(o);
    if (!is_ds) return 0;
    if (c->l->n == c->cap) {
        int64_t cap = c->cap ? 2 * c->cap : 16;
        char **p = realloc(c->l->names, (size_t)cap * sizeof *p);
        if (!p) return c->failed = 1, -1;
        c->l->names = p;
        c->cap = cap;
    }
    size_t len = strlen(name);
    char *s = malloc(len + 2);
    if (!s) return c->failed = 1, -1;
    s[0] = '/';
    memcpy(s + 1, name, len + 1);
    c->l->names[c->l->n++] = s;
    return 0;
}

int results_list(ResultsFile *f, ResultsNames *out) {
    quiet();
    memset(out, 0, sizeof *out);
    if (check_open(f) != SN_OK) return SN_ERR;
    ListCtx c = {out, 0, 0};
    if (H5Lvisit(f->fid, H5_INDEX_NAME, H5_ITER_INC, list_cb, &c) < 0) {
        results_names_free(out);
        return sn_errorf("results file '%s': %s", f->path,
                         c.failed ? "out of memory listing datasets" : "listing datasets failed");
    }
    return SN_OK;
}

void results_names_free(ResultsNames *l) {
    if (!l) return;
    for (int64_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = 0;
}

/* "no dataset '/x' in results file 'f' (it has: /a, /b, ... and 3 more)" */
static int missing_error(ResultsFile *f, const char *abs) {
    size_t blocked;
    int kind = path_kind(f->fid, abs, &blocked);
    if (kind == KIND_GROUP) return sn_errorf("results file '%s': '%s' is a group, not a dataset", f->path, abs);
    ResultsNames l;
    char have[512] = "";
    if (results_list(f, &l) == SN_OK) {
        size_t used = 0;
        int64_t shown = 0;
        for (int64_t i = 0; i < l.n && shown < 6; i++, shown++) {
            int w = snprintf(have + used, sizeof have - used, "%s%s", i ? ", " : "", l.names[i]);
            if (w < 0 || (size_t)w >= sizeof have - used) break;
            used += (size_t)w;
        }
        if (l.n == 0)
            snprintf(have, sizeof have, "no datasets");
        else if (shown < l.n)
            snprintf(have + used, sizeof have - used, ", ... and %lld more", (long long)(l.n - shown));
        results_names_free(&l);
    }
    return sn_errorf("results file '%s': no dataset '%s' (it has: %s)", f->path, abs, have);
}

/* Opens dataset `name` for reading; SN_ERR with a helpful message. */
static hid_t open_dataset(ResultsFile *f, const char *name, char *abs, size_t n) {
    if (check_open(f) != SN_OK || norm_name(f, name, abs, n) != SN_OK) return -1;
    size_t blocked;
    if (path_kind(f->fid, abs, &blocked) != KIND_DATASET) {
        missing_error(f, abs);
        return -1;
    }
    hid_t d = H5Dopen2(f->fid, abs, H5P_DEFAULT);
    if (d < 0) sn_errorf("results file '%s': cannot open dataset '%s'", f->path, abs);
    return d;
}

/* ---- reading ----------------------------------------------------------- */

int results_has(ResultsFile *f, const char *name) {
    quiet();
    char abs[RESULTS_NAME_MAX + 2];
    size_t blocked;
    if (!results_is_open(f) || !name || norm_name(f, name, abs, sizeof abs) != SN_OK) return 0;
    return path_kind(f->fid, abs, &blocked) == KIND_DATASET;
}

typedef struct {
    char *buf;
    size_t n;
} NameBuf;

static herr_t scale_name_cb(hid_t dset, unsigned dim, hid_t scale, void *data) {
    (void)dset, (void)dim;
    NameBuf *b = data;
    if (H5DSget_scale_name(scale, b->buf, b->n) > 0) return 1;
    char full[RESULTS_NAME_MAX + 2];
    if (H5Iget_name(scale, full, sizeof full) > 0) {
        const char *s = strrchr(full, '/');
        snprintf(b->buf, b->n, "%s", s ? s + 1 : full);
    }
    return 1;
}

static herr_t scale_path_cb(hid_t dset, unsigned dim, hid_t scale, void *data) {
    (void)dset, (void)dim;
    NameBuf *b = data;
    if (H5Iget_name(scale, b->buf, b->n) <= 0) b->buf[0] = '\0';
    return 1;
}

static void fill_info(hid_t d, ResultsInfo *out) {
    memset(out, 0, sizeof *out);
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    out->type = describe_type(t, out->dtype, sizeof out->dtype);
    int nd = H5Sget_simple_extent_ndims(s);
    hsize_t dims[RESULTS_MAX_RANK];
    if (nd > 0 && nd <= RESULTS_MAX_RANK) {
        H5Sget_simple_extent_dims(s, dims, NULL);
        out->ndim = nd;
        for (int i = 0; i < nd; i++) out->shape[i] = (int64_t)dims[i];
    }
    out->is_scale = H5DSis_scale(d) > 0;
    out->chunked = H5Pget_layout(dcpl) == H5D_CHUNKED;
    int nf = H5Pget_nfilters(dcpl);
    for (int i = 0; i < nf; i++) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        char fname[64];
        if (H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, NULL) == H5Z_FILTER_DEFLATE)
            out->compressed = 1;
    }
    for (int i = 0; i < out->ndim && !out->is_scale; i++) {
        if (H5DSget_label(d, (unsigned)i, out->dims[i], sizeof out->dims[i]) > 0) continue;
        out->dims[i][0] = '\0';
        if (H5DSget_num_scales(d, (unsigned)i) > 0) {
            NameBuf b = {out->dims[i], sizeof out->dims[i]};
            H5DSiterate_scales(d, (unsigned)i, NULL, scale_name_cb, &b);
        }
    }
    hclose(t);
    hclose(s);
    hclose(dcpl);
}

int results_info(ResultsFile *f, const char *name, ResultsInfo *out) {
    quiet();
    char abs[RESULTS_NAME_MAX + 2];
    hid_t d = open_dataset(f, name, abs, sizeof abs);
    if (d < 0) return SN_ERR;
    fill_info(d, out);
    H5Dclose(d);
    return SN_OK;
}

int results_read_into(ResultsFile *f, const char *name, Tensor *dst) {
    quiet();
    char abs[RESULTS_NAME_MAX + 2];
    hid_t d = open_dataset(f, name, abs, sizeof abs);
    if (d < 0) return SN_ERR;
    ResultsInfo info;
    fill_info(d, &info);
    int rc = SN_ERR;
    char s1[128], s2[128];
    if (info.type == RESULTS_STR || info.type == RESULTS_OTHER) {
        sn_errorf("results file '%s': dataset '%s' holds %s values, not numbers", f->path, abs,
                  info.type == RESULTS_STR ? "string" : info.dtype);
    } else if (info.ndim > TENSOR_MAX_DIMS) {
        sn_errorf("results file '%s': dataset '%s' has rank %d; tensors have at most %d", f->path, abs, info.ndim,
                  TENSOR_MAX_DIMS);
    } else if (info.ndim != dst->ndim || shape_numel(info.ndim, info.shape) != tensor_numel(dst) ||
               memcmp(info.shape, dst->shape, sizeof(int64_t) * (size_t)info.ndim) != 0) {
        sn_errorf("results file '%s': dataset '%s' has shape %s, the tensor %s", f->path, abs,
                  shape_str(info.ndim, info.shape, s1, sizeof s1), tensor_shape_str(dst, s2, sizeof s2));
    } else if (tensor_numel(dst) > 0 &&
               H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, tensor_data(dst)) < 0) {
        sn_errorf("results file '%s': reading dataset '%s' failed", f->path, abs);
    } else {
        rc = SN_OK;
    }
    H5Dclose(d);
    return rc;
}

int results_read_tensor(ResultsFile *f, const char *name, Tensor *out) {
    ResultsInfo info;
    out->storage = NULL;
    if (results_info(f, name, &info) != SN_OK) return SN_ERR;
    if (info.ndim > TENSOR_MAX_DIMS)
        return sn_errorf("results file '%s': dataset '%s' has rank %d; tensors have at most %d", f->path, name,
                         info.ndim, TENSOR_MAX_DIMS);
    if (tensor_init(out, info.ndim, info.shape) != SN_OK) return SN_ERR;
    if (results_read_into(f, name, out) != SN_OK) {
        tensor_release(out);
        return SN_ERR;
    }
    return SN_OK;
}

int results_read_array(ResultsFile *f, const char *name, ResultsArray *out) {
    quiet();
    memset(out, 0, sizeof *out);
    char abs[RESULTS_NAME_MAX + 2];
    hid_t d = open_dataset(f, name, abs, sizeof abs);
    if (d < 0) return SN_ERR;
    int rc = read_native(f, abs, d, out);
    H5Dclose(d);
    return rc;
}

int results_dim_coords(ResultsFile *f, const char *name, int dim, ResultsArray *out) {
    quiet();
    memset(out, 0, sizeof *out);
    char abs[RESULTS_NAME_MAX + 2], scale[RESULTS_NAME_MAX + 2] = "";
    hid_t d = open_dataset(f, name, abs, sizeof abs);
    if (d < 0) return SN_ERR;
    hid_t s = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(s);
    hclose(s);
    if (dim < 0 || dim >= nd) {
        H5Dclose(d);
        return sn_errorf("results file '%s': dataset '%s' has %d dimensions, no dimension %d", f->path, abs, nd,
                         dim + 1);
    }
    NameBuf b = {scale, sizeof scale};
    if (H5DSget_num_scales(d, (unsigned)dim) > 0) H5DSiterate_scales(d, (unsigned)dim, NULL, scale_path_cb, &b);
    H5Dclose(d);
    if (!scale[0])
        return sn_errorf("results file '%s': dimension %d of '%s' has no coordinates (no dimension scale)", f->path,
                         dim + 1, abs);
    return results_read_array(f, scale, out);
}

/* ---- attributes ---------------------------------------------------------- */

static int reserved_attr(const char *key) {
    static const char *const names[] = {"CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST", "DIMENSION_LABELS", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], key) == 0) return 1;
    return 0;
}

/* Checks one attribute before anything is written. */
static int check_attr(const ResultsFile *f, const char *objname, const ResultsAttr *a) {
    if (!a->key || !*a->key) return sn_errorf("results file '%s': empty attribute name on '%s'", f->path, objname);
    if (reserved_attr(a->key))
        return sn_errorf("results file '%s': attribute name '%s' is reserved for dimension scales", f->path, a->key);
    if ((a->type == RESULTS_ATTR_STR && (!a->str || !results_utf8_valid(a->str, strlen(a->str)))))
        return sn_errorf("results file '%s': attribute '%s' of '%s' is not valid UTF-8", f->path, a->key, objname);
    if (a->type == RESULTS_ATTR_STRS)
        for (int64_t i = 0; i < a->n; i++)
            if (!a->strs[i] || !results_utf8_valid(a->strs[i], strlen(a->strs[i])))
                return sn_errorf("results file '%s': attribute '%s' of '%s' is not valid UTF-8", f->path, a->key,
                                 objname);
    if (a->type > RESULTS_ATTR_STRS ||
        ((a->type == RESULTS_ATTR_NUMS || a->type == RESULTS_ATTR_STRS) && a->n > 0 &&
         !(a->type == RESULTS_ATTR_NUMS ? (const void *)a->nums : (const void *)a->strs)))
        return sn_errorf("results file '%s': attribute '%s' of '%s' has no value", f->path, a->key, objname);
    return SN_OK;
}

static int write_attr(const ResultsFile *f, hid_t obj, const char *objname, const ResultsAttr *a) {
    if (check_attr(f, objname, a) != SN_OK) return SN_ERR;
    if (H5Aexists(obj, a->key) > 0 && H5Adelete(obj, a->key) < 0)
        return sn_errorf("results file '%s': cannot replace attribute '%s' of '%s'", f->path, a->key, objname);
    hsize_t n = (hsize_t)a->n;
    int array = a->type == RESULTS_ATTR_NUMS || a->type == RESULTS_ATTR_STRS;
    hid_t space = array ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t ftype = -1, mtype = -1;
    const void *buf = NULL;
    int8_t b = (int8_t)(a->i != 0);
    switch (a->type) {
    case RESULTS_ATTR_INT:
        ftype = H5Tcopy(H5T_STD_I64LE), mtype = H5Tcopy(H5T_NATIVE_INT64), buf = &a->i;
        break;
    case RESULTS_ATTR_NUM:
        ftype = H5Tcopy(H5T_IEEE_F64LE), mtype = H5Tcopy(H5T_NATIVE_DOUBLE), buf = &a->num;
        break;
    case RESULTS_ATTR_BOOL:
        ftype = bool_type(), mtype = bool_type(), buf = &b;
        break;
    case RESULTS_ATTR_STR:
        ftype = str_type(H5T_CSET_UTF8), mtype = str_type(H5T_CSET_UTF8), buf = &a->str;
        break;
    case RESULTS_ATTR_NUMS:
        ftype = H5Tcopy(H5T_IEEE_F64LE), mtype = H5Tcopy(H5T_NATIVE_DOUBLE), buf = a->nums;
        break;
    case RESULTS_ATTR_STRS:
        ftype = str_type(H5T_CSET_UTF8), mtype = str_type(H5T_CSET_UTF8), buf = a->strs;
        break;
    }
    hid_t attr = -1;
    if (space >= 0 && ftype >= 0 && mtype >= 0) attr = H5Acreate2(obj, a->key, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = SN_OK;
    if (attr < 0 || ((!array || n > 0) && H5Awrite(attr, mtype, buf) < 0))
        rc = sn_errorf("results file '%s': cannot write attribute '%s' of '%s'", f->path, a->key, objname);
    hclose(attr);
    hclose(space);
    hclose(ftype);
    hclose(mtype);
    return rc;
}

/* Opens an object by name ("/" or NULL = root group). */
static hid_t open_object(ResultsFile *f, const char *obj, char *abs, size_t n) {
    if (!obj || strcmp(obj, "/") == 0 || !*obj) {
        snprintf(abs, n, "/");
        return H5Oopen(f->fid, "/", H5P_DEFAULT);
    }
    if (norm_name(f, obj, abs, n) != SN_OK) return -1;
    size_t blocked;
    int kind = path_kind(f->fid, abs, &blocked);
    if (kind != KIND_GROUP && kind != KIND_DATASET) {
        if (kind == KIND_NONE)
            missing_error(f, abs);
        else
            sn_errorf("results file '%s': '%s' is neither a group nor a dataset", f->path, abs);
        return -1;
    }
    hid_t o = H5Oopen(f->fid, abs, H5P_DEFAULT);
    if (o < 0) sn_errorf("results file '%s': cannot open '%s'", f->path, abs);
    return o;
}

int results_set_attrs(ResultsFile *f, const char *obj, const ResultsAttr *attrs, int n) {
    quiet();
    if (check_writable(f) != SN_OK) return SN_ERR;
    char abs[RESULTS_NAME_MAX + 2];
    hid_t o = open_object(f, obj, abs, sizeof abs);
    if (o < 0) return SN_ERR;
    int rc = SN_OK;
    for (int i = 0; i < n && rc == SN_OK; i++) rc = write_attr(f, o, abs, &attrs[i]);
    H5Oclose(o);
    return rc;
}

static void attr_item_free(ResultsAttr *a) {
    free((void *)a->key);
    free((void *)a->str);
    free((void *)a->nums);
    free((void *)a->strs);
}

typedef struct {
    const ResultsFile *f;
    ResultsAttrList *l;
    int cap;
    int is_scale;
    int failed;
} AttrCtx;

/* Converts one attribute to a list item; skips what cannot be shown. */
static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *ainfo, void *data) {
    (void)ainfo;
    AttrCtx *c = data;
    if (reserved_attr(name) && (c->is_scale || (strcmp(name, "CLASS") != 0 && strcmp(name, "NAME") != 0))) return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    ResultsAttr item = {0};
    ResultsArray arr;
    hid_t t = H5Aget_type(a);
    char dtype[24];
    int ok = 0;
    if (describe_type(t, dtype, sizeof dtype) == RESULTS_OTHER) {
        if (strcmp(dtype, "bool") == 0) {
            hid_t s = H5Aget_space(a);
            int8_t v = 0;
            hid_t mt = bool_type();
            if (H5Sget_simple_extent_npoints(s) == 1 && H5Aread(a, mt, &v) >= 0) {
                item.type = RESULTS_ATTR_BOOL;
                item.i = v != 0;
                ok = 1;
            }
            hclose(mt);
            hclose(s);
        }
    } else if (read_native(c->f, name, a, &arr) == SN_OK) {
        int64_t n = array_numel(&arr);
        ok = 1;
        if (arr.type == RESULTS_STR) {
            if (n == 1) {
                item.type = RESULTS_ATTR_STR;
                item.str = dupstr(((const char *const *)arr.data)[0]);
                ok = item.str != NULL;
                results_array_free(&arr);
            } else {
                item.type = RESULTS_ATTR_STRS; /* keeps the block: pointers then bytes */
                item.n = n;
                item.strs = arr.owned;
            }
        } else if (n == 1 && arr.type == RESULTS_I64) {
            item.type = RESULTS_ATTR_INT;
            item.i = *(const int64_t *)arr.data;
            results_array_free(&arr);
        } else {
            double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
            for (int64_t i = 0; v && i < n; i++)
                v[i] = arr.type == RESULTS_F32   ? ((const float *)arr.data)[i]
                       : arr.type == RESULTS_F64 ? ((const double *)arr.data)[i]
                                                 : (double)((const int64_t *)arr.data)[i];
            results_array_free(&arr);
            ok = v != NULL;
            if (n == 1 && v) {
                item.type = RESULTS_ATTR_NUM;
                item.num = v[0];
                free(v);
            } else {
                item.type = RESULTS_ATTR_NUMS;
                item.n = n;
                item.nums = v;
            }
        }
    }
    hclose(t);
    hclose(a);
    if (!ok) return 0;
    item.key = dupstr(name);
    if (item.key && c->l->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        ResultsAttr *p = realloc(c->l->items, (size_t)cap * sizeof *p);
        if (p) c->l->items = p, c->cap = cap;
    }
    if (!item.key || c->l->n == c->cap) {
        attr_item_free(&item);
        c->failed = 1;
        return -1;
    }
    c->l->items[c->l->n++] = item;
    return 0;
}

int results_attrs(ResultsFile *f, const char *obj, ResultsAttrList *out) {
    quiet();
    memset(out, 0, sizeof *out);
    if (check_open(f) != SN_OK) return SN_ERR;
    char abs[RESULTS_NAME_MAX + 2];
    hid_t o = open_object(f, obj, abs, sizeof abs);
    if (o < 0) return SN_ERR;
    AttrCtx c = {f, out, 0, H5Iget_type(o) == H5I_DATASET && H5DSis_scale(o) > 0, 0};
    herr_t r = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, NULL, attr_cb, &c);
    H5Oclose(o);
    if (r < 0) {
        results_attrs_free(out);
        return sn_errorf("results file '%s': %s attributes of '%s'", f->path,
                         c.failed ? "out of memory reading" : "cannot read", abs);
    }
    return SN_OK;
}

void results_attrs_free(ResultsAttrList *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) attr_item_free(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* ---- dimension scales --------------------------------------------------- */

static int valid_dim_name(const char *s) {
    size_t n = strlen(s);
    return n > 0 && n < DIMNAME_MAX && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Compares given coordinates with those stored in scale dataset `sid`. */
static int coords_equal(const ResultsFile *f, const char *path, hid_t sid, const ResultsArray *c) {
    ResultsArray st;
    if (read_native(f, path, sid, &st) != SN_OK) return 0;
    int64_t n = array_numel(c);
    int eq = st.ndim == 1 && st.shape[0] == n && (st.type == RESULTS_STR) == (c->type == RESULTS_STR);
    for (int64_t i = 0; eq && i < n; i++) {
        if (c->type == RESULTS_STR) {
            eq = strcmp(((const char *const *)st.data)[i], ((const char *const *)c->data)[i]) == 0;
            continue;
        }
        double a, b;
        a = st.type == RESULTS_F32   ? ((const float *)st.data)[i]
            : st.type == RESULTS_F64 ? ((const double *)st.data)[i]
                                     : (double)((const int64_t *)st.data)[i];
        b = c->type == RESULTS_F32   ? ((const float *)c->data)[i]
            : c->type == RESULTS_F64 ? ((const double *)c->data)[i]
                                     : (double)((const int64_t *)c->data)[i];
        eq = a == b;
    }
    results_array_free(&st);
    return eq;
}

typedef struct {
    char path[RESULTS_NAME_MAX + 2];
    int exists;
    int created;
} DimPlan;

/* Detaches every scale from dataset d (before d is deleted, so no scale
 * keeps a reference to a dataset that is gone). */
static void detach_all(hid_t fid, hid_t d) {
    hid_t s = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(s);
    hclose(s);
    for (int i = 0; i < nd; i++) {
        for (int guard = 0; guard < 64 && H5DSget_num_scales(d, (unsigned)i) > 0; guard++) {
            char path[RESULTS_NAME_MAX + 2] = "";
            NameBuf b = {path, sizeof path};
            H5DSiterate_scales(d, (unsigned)i, NULL, scale_path_cb, &b);
            hid_t sc = path[0] ? H5Dopen2(fid, path, H5P_DEFAULT) : -1;
            herr_t r = sc >= 0 ? H5DSdetach_scale(d, sc, (unsigned)i) : -1;
            hclose(sc);
            if (r < 0) break;
        }
    }
}

static void delete_dataset(hid_t fid, const char *abs) {
    hid_t d = H5Dopen2(fid, abs, H5P_DEFAULT);
    if (d < 0) return;
    detach_all(fid, d);
    H5Dclose(d);
    H5Ldelete(fid, abs, H5P_DEFAULT);
}

/* Validates dims of `a` written at `abs` and fills one plan per dim. */
static int plan_dims(const ResultsFile *f, const char *abs, const ResultsArray *a, const ResultsDim *dims,
                     DimPlan *plan) {
    const char *leaf = strrchr(abs, '/') + 1;
    size_t plen = (size_t)(leaf - abs); /* parent with its trailing '/' */
    char sa[128];
    shape_str(a->ndim, a->shape, sa, sizeof sa);
    for (int i = 0; i < a->ndim; i++) {
        const char *name = dims[i].name;
        plan[i].exists = plan[i].created = 0;
        plan[i].path[0] = '\0';
        if (!name || !*name) {
            if (dims[i].coords)
                return sn_errorf("results file '%s': '%s': coordinates given for unnamed dimension %d", f->path, abs,
                                 i + 1);
            continue;
        }
        if (!valid_dim_name(name))
            return sn_errorf("results file '%s': '%s': bad dimension name '%s' (1-%d characters, no '/')", f->path, abs,
                             name, DIMNAME_MAX - 1);
        if (strcmp(name, leaf) == 0)
            return sn_errorf("results file '%s': '%s': dimension name '%s' is the dataset's own name", f->path, abs,
                             name);
        for (int j = 0; j < i; j++)
            if (dims[j].name && strcmp(dims[j].name, name) == 0)
                return sn_errorf(
                    "results file '%s': '%s': dimension '%s' appears twice (name each dimension differently, "
                    "e.g. '%s_row' and '%s_col')",
                    f->path, abs, name, name, name);
        const ResultsArray *c = dims[i].coords;
        if (c) {
            char what[128];
            snprintf(what, sizeof what, "coordinates for dimension '%s'", name);
            if (check_array(f, what, c) != SN_OK) return SN_ERR;
            if (c->ndim != 1)
                return sn_errorf("results file '%s': coordinates for dimension '%s' must be 1-d, got %d-d", f->path,
                                 name, c->ndim);
            if (c->shape[0] != a->shape[i])
                return sn_errorf(
                    "results file '%s': coordinates for dimension '%s' have %lld values but dimension %d of "
                    "'%s' (shape %s) has length %lld",
                    f->path, name, (long long)c->shape[0], i + 1, abs, sa, (long long)a->shape[i]);
        }
        snprintf(plan[i].path, sizeof plan[i].path, "%.*s%s", (int)plen, abs, name);
        size_t blocked;
        int kind = path_kind(f->fid, plan[i].path, &blocked);
        if (kind == KIND_NONE) continue;
        if (kind != KIND_DATASET)
            return sn_errorf("results file '%s': '%s' exists and is not a dimension scale; '%s' cannot be a dimension "
                             "name in this group",
                             f->path, plan[i].path, name);
        hid_t sid = H5Dopen2(f->fid, plan[i].path, H5P_DEFAULT);
        if (sid < 0) return sn_errorf("results file '%s': cannot open '%s'", f->path, plan[i].path);
        int rc = SN_OK;
        hid_t sp = H5Dget_space(sid);
        hsize_t len = 0;
        int nd = H5Sget_simple_extent_ndims(sp);
        if (nd == 1) H5Sget_simple_extent_dims(sp, &len, NULL);
        hclose(sp);
        if (H5DSis_scale(sid) <= 0 || nd != 1)
            rc = sn_errorf(
                "results file '%s': '%s' exists and is not a dimension scale; '%s' cannot be a dimension name "
                "in this group",
                f->path, plan[i].path, name);
        else if ((int64_t)len != a->shape[i])
            rc =
                sn_errorf("results file '%s': dimension '%s' has length %lld in group '%.*s' (from earlier arrays) but "
                          "dimension %d of '%s' (shape %s) has length %lld",
                          f->path, name, (long long)len, plen > 1 ? (int)plen - 1 : 1, abs, i + 1, abs, sa,
                          (long long)a->shape[i]);
        else if (c && !coords_equal(f, plan[i].path, sid, c))
            rc = sn_errorf("results file '%s': coordinates for dimension '%s' differ from those already stored in '%s' "
                           "(a group's arrays share each dimension; give coordinates on first use or rename the "
                           "dimension)",
                           f->path, name, plan[i].path);
        H5Dclose(sid);
        if (rc != SN_OK) return rc;
        plan[i].exists = 1;
    }
    return SN_OK;
}

/* Creates missing scales and attaches all of them to d. */
static int attach_dims(const ResultsFile *f, hid_t d, const ResultsArray *a, const ResultsDim *dims, DimPlan *plan) {
    for (int i = 0; i < a->ndim; i++) {
        if (!plan[i].path[0]) continue;
        hid_t sid;
        if (plan[i].exists) {
            sid = H5Dopen2(f->fid, plan[i].path, H5P_DEFAULT);
        } else {
            ResultsArray def = {.type = RESULTS_I64, .ndim = 1, .shape = {a->shape[i]}};
            int64_t *idx = NULL;
            if (!dims[i].coords) {
                idx = malloc((size_t)(a->shape[i] ? a->shape[i] : 1) * sizeof *idx);
                if (!idx) return sn_errorf("out of memory creating dimension '%s'", dims[i].name);
                for (int64_t k = 0; k < a->shape[i]; k++) idx[k] = k;
                def.data = idx;
            }
            sid = create_dataset(f, plan[i].path, dims[i].coords ? dims[i].coords : &def);
            free(idx);
            if (sid < 0) return SN_ERR;
            plan[i].created = 1;
            if (H5DSset_scale(sid, dims[i].name) < 0) {
                H5Dclose(sid);
                return sn_errorf("results file '%s': cannot make '%s' a dimension scale", f->path, plan[i].path);
            }
        }
        if (sid < 0) return sn_errorf("results file '%s': cannot open '%s'", f->path, plan[i].path);
        herr_t r = H5DSattach_scale(d, sid, (unsigned)i);
        H5Dclose(sid);
        if (r < 0 || H5DSset_label(d, (unsigned)i, dims[i].name) < 0)
            return sn_errorf("results file '%s': cannot attach dimension '%s'", f->path, plan[i].path);
    }
    return SN_OK;
}

int results_write(ResultsFile *f, const char *name, const ResultsArray *a, const ResultsWriteOpts *o) {
    quiet();
    static const ResultsWriteOpts none = {0};
    if (!o) o = &none;
    char abs[RESULTS_NAME_MAX + 2];
    if (check_writable(f) != SN_OK || norm_name(f, name, abs, sizeof abs) != SN_OK) return SN_ERR;
    char what[RESULTS_NAME_MAX + 16];
    snprintf(what, sizeof what, "dataset '%s'", abs);
    if (check_array_data(f, what, a, !o->reserve) != SN_OK) return SN_ERR;
    if (o->reserve && a->type == RESULTS_STR)
        return sn_errorf("results file '%s': %s: strings cannot be reserved (write them whole)", f->path, what);
    size_t blocked;
    int kind = path_kind(f->fid, abs, &blocked);
    if (blocked)
        return sn_errorf("results file '%s': cannot write '%s': '%.*s' is a dataset, not a group", f->path, abs,
                         (int)blocked, abs);
    if (kind == KIND_GROUP) return sn_errorf("results file '%s': cannot write '%s': it is a group", f->path, abs);
    if (kind == KIND_OTHER) return sn_errorf("results file '%s': cannot write '%s': the name is taken", f->path, abs);
    if (kind == KIND_DATASET) {
        hid_t d = H5Dopen2(f->fid, abs, H5P_DEFAULT);
        int scale = d >= 0 && H5DSis_scale(d) > 0;
        hclose(d);
        if (scale)
            return sn_errorf("results file '%s': '%s' holds the coordinates of dimension '%s'; choose another name",
                             f->path, abs, strrchr(abs, '/') + 1);
        if (!o->overwrite)
            return sn_errorf("results file '%s': dataset '%s' already exists (pass overwrite=true to replace it)",
                             f->path, abs);
    }
    for (int i = 0; i < o->nattrs; i++) /* attribute checks before any change */
        if (check_attr(f, abs, &o->attrs[i]) != SN_OK) return SN_ERR;
    DimPlan plan[TENSOR_MAX_DIMS];
    if (o->dims && plan_dims(f, abs, a, o->dims, plan) != SN_OK) return SN_ERR;
    if (make_parents(f, abs) != SN_OK) return SN_ERR;
    if (kind == KIND_DATASET) delete_dataset(f->fid, abs);

    hid_t d = create_dataset_w(f, abs, a, !o->reserve);
    if (d < 0) return SN_ERR;
    int rc = SN_OK;
    for (int i = 0; i < o->nattrs && rc == SN_OK; i++) rc = write_attr(f, d, abs, &o->attrs[i]);
    if (rc == SN_OK && o->dims) rc = attach_dims(f, d, a, o->dims, plan);
    if (rc != SN_OK) { /* leave the file as it was (apart from a replaced dataset) */
        char msg[SN_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", sn_errmsg());
        detach_all(f->fid, d);
        H5Dclose(d);
        H5Ldelete(f->fid, abs, H5P_DEFAULT);
        for (int i = 0; o->dims && i < a->ndim; i++)
            if (plan[i].created) H5Ldelete(f->fid, plan[i].path, H5P_DEFAULT);
        return sn_errorf("%s", msg);
    }
    H5Dclose(d);
    return SN_OK;
}

int results_write_rows(ResultsFile *f, const char *name, int64_t start, const ResultsArray *a) {
    quiet();
    char abs[RESULTS_NAME_MAX + 2];
    if (check_writable(f) != SN_OK) return SN_ERR;
    hid_t d = open_dataset(f, name, abs, sizeof abs);
    if (d < 0) return SN_ERR;
    ResultsInfo info;
    fill_info(d, &info);
    char sd[128], sa[128];
    int rc = SN_ERR;
    hid_t fs = -1, ms = -1, mt = -1;
    int same = a && a->ndim == info.ndim && a->ndim >= 1;
    for (int i = 1; same && i < a->ndim; i++) same = a->shape[i] == info.shape[i];
    if (check_array(f, abs, a) != SN_OK) goto done;
    shape_str(info.ndim, info.shape, sd, sizeof sd);
    shape_str(a->ndim, a->shape, sa, sizeof sa);
    if (a->type == RESULTS_STR || info.type == RESULTS_STR || info.type == RESULTS_OTHER) {
        sn_errorf("results file '%s': write_rows needs numbers, and '%s' or the rows hold something else", f->path,
                  abs);
    } else if (!same) {
        sn_errorf("results file '%s': rows of shape %s do not fit dataset '%s' of shape %s", f->path, sa, abs, sd);
    } else if (start < 0 || start + a->shape[0] > info.shape[0]) {
        sn_errorf("results file '%s': rows [%lld, %lld) are out of range for dataset '%s' of shape %s", f->path,
                  (long long)start, (long long)(start + a->shape[0]), abs, sd);
    } else {
        hsize_t off[TENSOR_MAX_DIMS] = {0}, cnt[TENSOR_MAX_DIMS];
        off[0] = (hsize_t)start;
        for (int i = 0; i < a->ndim; i++) cnt[i] = (hsize_t)a->shape[i];
        fs = H5Dget_space(d);
        ms = H5Screate_simple(a->ndim, cnt, NULL);
        mt = mem_type(a->type);
        if (a->shape[0] == 0 || (H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
                                 H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, a->data) >= 0))
            rc = SN_OK;
        else
            sn_errorf("results file '%s': writing rows of '%s' failed", f->path, abs);
    }
done:
    hclose(fs);
    hclose(ms);
    hclose(mt);
    H5Dclose(d);
    return rc;
}

int results_copy(ResultsFile *dst, const char *dstname, ResultsFile *src, const char *srcname, int overwrite) {
    ResultsArray data, coords[TENSOR_MAX_DIMS];
    ResultsDim dims[TENSOR_MAX_DIMS];
    ResultsAttrList attrs = {0};
    ResultsInfo info;
    int any_dim = 0, rc = SN_ERR;
    memset(coords, 0, sizeof coords);
    if (check_writable(dst) != SN_OK || results_info(src, srcname, &info) != SN_OK) return SN_ERR;
    if (results_read_array(src, srcname, &data) != SN_OK) return SN_ERR;
    for (int i = 0; i < data.ndim; i++) {
        dims[i].name = info.dims[i][0] ? info.dims[i] : NULL;
        dims[i].coords = NULL;
        any_dim |= dims[i].name != NULL;
        if (dims[i].name && results_dim_coords(src, srcname, i, &coords[i]) == SN_OK) dims[i].coords = &coords[i];
    }
    if (results_attrs(src, srcname, &attrs) == SN_OK) {
        int n = 0; /* CLASS/NAME on a plain dataset are someone's attributes, but reserved here */
        for (int i = 0; i < attrs.n; i++)
            if (!reserved_attr(attrs.items[i].key))
                attrs.items[n++] = attrs.items[i];
            else
                attr_item_free(&attrs.items[i]);
        attrs.n = n;
        ResultsWriteOpts o = {
            .dims = any_dim ? dims : NULL, .attrs = attrs.items, .nattrs = attrs.n, .overwrite = overwrite};
        rc = results_write(dst, dstname, &data, &o);
    }
    results_attrs_free(&attrs);
    for (int i = 0; i < TENSOR_MAX_DIMS; i++) results_array_free(&coords[i]);
    results_array_free(&data);
    return rc;
}

const char *results_type_name(ResultsType t) {
    return type_name(t);
}

/* h5model.c — sanity's HDF5 model files (architecture JSON + tensors) and
 * Keras 2 HDF5 weights with layout conversion (see h5model.h). Writing goes
 * through results.h (atomic rename, compression); reading uses plain HDF5
 * calls so messages can name the model file, the layer and both shapes.
 * No Lua here; no training state (optimizer moments) is stored. */
#include "io/h5model.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "io/weights.h"

#define FORMAT_NAME "sanity.model"
#define FORMAT_VERSION 1

/* ---- writing ---- */

int h5model_save(const Model *m, const char *path, const ResultsAttr *attrs, int nattrs) {
    char *json = model_to_json(m);
    if (!json) return SN_ERR;
    ResultsFile *f = NULL;
    int rc = results_create(&f, path);
    for (int i = 0; rc == SN_OK && i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        for (int b = 0; rc == SN_OK && b < 2; b++)
            for (int k = 0; rc == SN_OK && k < (b ? n->nbuffers : n->nparams); k++) {
                const Tensor *t = b ? &n->buffer[k] : &n->param[k];
                char name[2 * NODE_NAME_MAX];
                snprintf(name, sizeof name, "%s/%s", n->name, b ? layer_buffer_name(k) : layer_param_name(k));
                ResultsArray a = {RESULTS_F32, t->ndim, {0}, tensor_data(t), NULL};
                memcpy(a.shape, t->shape, sizeof a.shape);
                int64_t count;
                if (b && k == 2) { /* num_batches_tracked: int64, as PyTorch */
                    count = (int64_t)tensor_data(t)[0];
                    a = (ResultsArray){RESULTS_I64, 0, {0}, &count, NULL};
                }
                rc = results_write(f, name, &a, NULL);
            }
    }
    if (rc == SN_OK) {
        ResultsAttr base[] = {{.key = "format", .type = RESULTS_ATTR_STR, .str = FORMAT_NAME},
                              {.key = "format_version", .type = RESULTS_ATTR_INT, .i = FORMAT_VERSION},
                              {.key = "architecture", .type = RESULTS_ATTR_STR, .str = json}};
        rc = results_set_attrs(f, NULL, base, 3);
        if (rc == SN_OK && nattrs > 0) rc = results_set_attrs(f, NULL, attrs, nattrs);
    }
    if (rc == SN_OK) rc = results_close(f, 1);
    if (rc != SN_OK && f) { /* no half-written file left behind */
        results_close(f, 0);
        remove(results_disk_path(f));
    }
    results_free(f);
    free(json);
    return rc;
}

/* ---- reading helpers ---- */

static void h5quiet(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static int open_file(const char *path, const char *what, hid_t *fid) {
    h5quiet();
    struct stat st;
    if (stat(path, &st) != 0) return sn_errorf("cannot open %s '%s': %s", what, path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return sn_errorf("cannot open %s '%s': it is a directory", what, path);
    if (H5Fis_hdf5(path) <= 0) return sn_errorf("cannot open %s '%s': not an HDF5 file", what, path);
    *fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*fid < 0) return sn_errorf("cannot open %s '%s': corrupt or truncated HDF5 file", what, path);
    return SN_OK;
}

/* A scalar string attribute of obj, malloc'd into *out; 0 when absent, -1
 * (message set) when unreadable. */
static int read_str_attr(hid_t obj, const char *name, const char *file, char **out) {
    *out = NULL;
    htri_t has = H5Aexists(obj, name);
    if (has < 0) return sn_errorf("'%s': cannot read the attributes (corrupt file?)", file), -1;
    if (has == 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1, s = a >= 0 ? H5Aget_space(a) : -1;
    int rc = -1;
    if (t < 0 || s < 0 || H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(s) != 1) {
        sn_errorf("'%s': attribute '%s' is not a string", file, name);
    } else if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t)); /* HDF5 does not convert ASCII <-> UTF-8 */
        char *v = NULL;
        if (H5Aread(a, mt, &v) >= 0 && v) {
            *out = strdup(v);
            rc = *out ? 1 : (sn_errorf("out of memory"), -1);
            H5free_memory(v);
        } else {
            sn_errorf("'%s': reading attribute '%s' failed", file, name);
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        char *v = calloc(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n);
        H5Tset_cset(mt, H5Tget_cset(t));
        if (!v) {
            sn_errorf("out of memory");
        } else if (H5Aread(a, mt, v) >= 0) {
            *out = v, v = NULL, rc = 1;
        } else {
            sn_errorf("'%s': reading attribute '%s' failed", file, name);
        }
        free(v);
        H5Tclose(mt);
    }
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (a >= 0) H5Aclose(a);
    return rc;
}

/* A numeric dataset: open it and get its shape. Returns the dataset id, or
 * -1 (message set; `absent` = 1 when it does not exist). */
static hid_t open_numeric(hid_t loc, const char *name, const char *file, int *ndim, int64_t *shape, int *absent) {
    *absent = 0;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) {
        *absent = 1;
        sn_errorf("'%s' has no dataset '%s'", file, name);
        return -1;
    }
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) {
        sn_errorf("'%s': '%s' is not a readable dataset (corrupt file?)", file, name);
        return -1;
    }
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    int nd = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    int ok = 0;
    if (c != H5T_FLOAT && c != H5T_INTEGER) {
        sn_errorf("'%s': dataset '%s' does not hold numbers", file, name);
    } else if (nd < 0 || nd > TENSOR_MAX_DIMS) {
        sn_errorf("'%s': dataset '%s' has an unreadable or too large rank", file, name);
    } else {
        hsize_t dims[TENSOR_MAX_DIMS];
        H5Sget_simple_extent_dims(s, dims, NULL);
        *ndim = nd;
        for (int i = 0; i < nd; i++) shape[i] = (int64_t)dims[i];
        ok = 1;
    }
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (!ok) {
        H5Dclose(d);
        return -1;
    }
    return d;
}

static int read_floats(hid_t d, float *dst, const char *file, const char *name) {
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
        return sn_errorf("'%s': reading dataset '%s' failed (truncated or corrupt file?)", file, name);
    return SN_OK;
}

/* ---- sanity format ---- */

/* Reads every tensor of m's layers from the groups named after them. */
static int fill_from(hid_t fid, Model *m, const char *path) {
    WeightFill w;
    if (weights_fill_begin(&w, m, path) != SN_OK) return SN_ERR;
    int rc = SN_OK;
    for (int i = 0; rc == SN_OK && i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        for (int b = 0; rc == SN_OK && b < 2; b++)
            for (int k = 0; rc == SN_OK && k < (b ? n->nbuffers : n->nparams); k++) {
                WeightRef r = {i, b, k};
                char name[2 * NODE_NAME_MAX + 2];
                snprintf(name, sizeof name, "%s/%s", n->name, b ? layer_buffer_name(k) : layer_param_name(k));
                int ndim, absent;
                int64_t shape[TENSOR_MAX_DIMS];
                /* H5Lexists on "a/b" needs "a" to exist first */
                hid_t d = H5Lexists(fid, n->name, H5P_DEFAULT) > 0
                              ? open_numeric(fid, name, path, &ndim, shape, &absent)
                              : (absent = 1, -1);
                if (d < 0) {
                    if (!absent) rc = SN_ERR;
                    continue; /* missing: optional ones are fine, commit names the others */
                }
                Tensor *t;
                rc = weights_check_shape(&w, r, ndim, shape, name);
                if (rc == SN_OK) rc = weights_fill_target(&w, r, name, &t);
                if (rc == SN_OK) rc = read_floats(d, tensor_data(t), path, name);
                H5Dclose(d);
            }
    }
    if (rc == SN_OK) rc = weights_fill_commit(&w);
    weights_fill_end(&w);
    return rc;
}

static int check_format(hid_t fid, const char *path) {
    char *fmt = NULL;
    int r = read_str_attr(fid, "format", path, &fmt);
    if (r < 0) return SN_ERR;
    int ok = r == 0 || strcmp(fmt, FORMAT_NAME) == 0;
    free(fmt);
    if (!ok)
        return sn_errorf("'%s' is not a sanity model file (its 'format' attribute is not '%s')", path, FORMAT_NAME);
    if (H5Aexists(fid, "format_version") > 0) {
        hid_t a = H5Aopen(fid, "format_version", H5P_DEFAULT);
        long long v = -1;
        if (a < 0 || H5Aread(a, H5T_NATIVE_LLONG, &v) < 0) v = -1;
        if (a >= 0) H5Aclose(a);
        if (v != FORMAT_VERSION)
            return sn_errorf("'%s': model format version %lld is not supported (this sanity reads version %d)", path, v,
                             FORMAT_VERSION);
    }
    return SN_OK;
}

Model *h5model_load(const char *path) {
    hid_t fid;
    if (open_file(path, "model file", &fid) != SN_OK) return NULL;
    Model *m = NULL;
    char *json = NULL;
    int r = check_format(fid, path) == SN_OK ? read_str_attr(fid, "architecture", path, &json) : -1;
    if (r == 0)
        sn_errorf("'%s' is not a sanity model file: the root group has no 'architecture' attribute (PyTorch models: "
                  "scripts/export_torch.py; safetensors: model.load_safetensors; Keras: model.load_keras)",
                  path);
    if (r == 1) {
        m = model_from_json(json);
        if (!m) sn_errprefix("model file '%s': architecture: ", path);
    }
    if (m && fill_from(fid, m, path) != SN_OK) {
        model_free(m);
        m = NULL;
    }
    free(json);
    H5Fclose(fid);
    return m;
}

int h5model_load_into(Model *m, const char *path) {
    hid_t fid;
    if (open_file(path, "model file", &fid) != SN_OK) return SN_ERR;
    int rc = fill_from(fid, m, path);
    H5Fclose(fid);
    return rc;
}

/* ---- Keras ---- */

typedef struct {
    int n, cap;
    char **names;
} NameList;

static void names_free(NameList *l) {
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static int names_add(NameList *l, const char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **p = realloc(l->names, sizeof(char *) * (size_t)cap);
        if (!p) return sn_errorf("out of memory");
        l->names = p, l->cap = cap;
    }
    if (!(l->names[l->n] = strdup(s))) return sn_errorf("out of memory");
    l->n++;
    return SN_OK;
}

static herr_t visit_dataset(hid_t obj, const char *name, const H5O_info_t *info, void *data) {
    (void)obj;
    if (info->type != H5O_TYPE_DATASET) return 0;
    return names_add(data, name) == SN_OK ? 0 : -1;
}

static herr_t visit_group(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    H5O_info_t oi;
    if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_GROUP) return 0;
    return names_add(data, name) == SN_OK ? 0 : -1;
}

/* What a Keras weight name ("conv2d/kernel:0") is in sanity. */
typedef enum { KW_KERNEL, KW_BIAS, KW_GAMMA, KW_BETA, KW_MEAN, KW_VAR, KW_UNKNOWN } KerasWeight;

static KerasWeight keras_weight(const char *path) {
    static const char *const names[] = {"kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"};
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strcspn(base, ":");
    for (int i = 0; i < KW_UNKNOWN; i++)
        if (strlen(names[i]) == len && strncmp(base, names[i], len) == 0) return (KerasWeight)i;
    return KW_UNKNOWN;
}

/* Per-sample [C, H, W] feeding node i through a flatten, if that is how
 * node i is fed; 0 otherwise. */
static int flatten_source(const Model *m, int i, int64_t chw[3]) {
    const Node *n = &m->nodes[i];
    if (n->inputs[0] == MODEL_INPUT) return 0;
    const Node *f = &m->nodes[n->inputs[0]];
    if (f->kind != LAYER_FLATTEN) return 0;
    Shape s; /* per-sample */
    if (f->inputs[0] == MODEL_INPUT) {
        if (m->in_shape.ndim < 0) return -1;
        s.ndim = m->in_shape.ndim - 1;
        memcpy(s.dim, m->in_shape.dim + 1, sizeof(int64_t) * (size_t)s.ndim);
    } else if (!model_node_shape(m, f->inputs[0], &s)) {
        return -1;
    }
    if (s.ndim != 3) return 0;
    memcpy(chw, s.dim, 3 * sizeof(int64_t));
    return 1;
}

/* Reads one Keras weight dataset into the sanity tensor it maps to. */
static int keras_read(WeightFill *w, hid_t g, const char *dset, const char *layer, int node, KerasWeight kw,
                      int channels_last) {
    const Model *m = w->tmp;
    const Node *n = &m->nodes[node];
    int is_bn = n->kind == LAYER_BATCHNORM1D || n->kind == LAYER_BATCHNORM2D;
    int is_dense = n->kind == LAYER_LINEAR, is_conv = n->kind == LAYER_CONV2D;
    WeightRef r = {node, 0, 0};
    int ok = 1;
    switch (kw) {
    case KW_KERNEL:
        ok = is_dense || is_conv;
        break;
    case KW_BIAS:
        ok = (is_dense || is_conv) && n->nparams == 2, r.k = 1;
        break;
    case KW_GAMMA:
    case KW_BETA:
        ok = is_bn, r.k = kw == KW_BETA;
        break;
    case KW_MEAN:
    case KW_VAR:
        ok = is_bn, r = (WeightRef){node, 1, kw == KW_VAR};
        break;
    default:
        return sn_errorf("Keras layer '%s': weight '%s' is not one sanity reads (kernel, bias, gamma, beta, "
                         "moving_mean, moving_variance)",
                         layer, dset);
    }
    if (!ok)
        return sn_errorf("Keras layer '%s': weight '%s' does not fit sanity layer '%s' (%s%s)", layer, dset, n->name,
                         layer_kind_name(n->kind),
                         kw == KW_BIAS && (is_dense || is_conv) ? ", built without bias" : "");
    int ndim, absent;
    int64_t shape[TENSOR_MAX_DIMS];
    hid_t d = open_numeric(g, dset, w->file, &ndim, shape, &absent);
    if (d < 0) return SN_ERR;
    char what[600];
    snprintf(what, sizeof what, "Keras weight '%s/%s'", layer, dset);
    Tensor *t = weights_tensor(w->tmp, r);
    int rc = SN_OK;
    if (kw == KW_KERNEL) {
        /* expected Keras shape: conv HWIO [kh, kw, in/g, out], dense [in, out] */
        int64_t want[4];
        int wn = is_conv ? 4 : 2;
        if (is_conv)
            want[0] = t->shape[2], want[1] = t->shape[3], want[2] = t->shape[1], want[3] = t->shape[0];
        else
            want[0] = t->shape[1], want[1] = t->shape[0];
        if (ndim != wn || memcmp(shape, want, sizeof(int64_t) * (size_t)wn) != 0) {
            char a[160], b[160], c[160];
            rc = sn_errorf("layer '%s' (%s): %s in '%s' has shape %s, the model expects %s (%s of weight %s)", n->name,
                           layer_kind_name(n->kind), what, w->file, shape_str(ndim, shape, a, sizeof a),
                           shape_str(wn, want, b, sizeof b), is_conv ? "HWIO" : "[in, out]",
                           tensor_shape_str(t, c, sizeof c));
        }
    } else {
        rc = weights_check_shape(w, r, ndim, shape, what);
    }
    int64_t chw[3] = {0, 0, 0};
    int reorder = 0;
    if (rc == SN_OK && kw == KW_KERNEL && is_dense && channels_last) {
        reorder = flatten_source(m, node, chw);
        if (reorder < 0)
            rc = sn_errorf("Keras layer '%s': cannot tell the shape that '%s' flattens for '%s' (give the "
                           "architecture an input_shape, or channels_last=false)",
                           layer, m->nodes[n->inputs[0]].name, n->name);
        if (reorder > 0 && chw[1] * chw[2] == 1) reorder = 0; /* [C, 1, 1]: same order */
    }
    Tensor *dst = NULL;
    if (rc == SN_OK) rc = weights_fill_target(w, r, what, &dst);
    float *tmp = NULL;
    int64_t count = shape_numel(ndim, shape);
    if (rc == SN_OK && kw == KW_KERNEL && !(tmp = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1))))
        rc = sn_errorf("out of memory");
    if (rc == SN_OK) rc = read_floats(d, tmp ? tmp : tensor_data(dst), w->file, what);
    H5Dclose(d);
    if (rc == SN_OK && tmp) {
        float *o = tensor_data(dst);
        if (is_conv) { /* HWIO [kh][kw][i][o] -> OIHW [o][i][kh][kw] */
            int64_t O = t->shape[0], I = t->shape[1], KH = t->shape[2], KW = t->shape[3];
            for (int64_t a = 0; a < KH; a++)
                for (int64_t b = 0; b < KW; b++)
                    for (int64_t i = 0; i < I; i++)
                        for (int64_t oo = 0; oo < O; oo++)
                            o[((oo * I + i) * KH + a) * KW + b] = tmp[((a * KW + b) * I + i) * O + oo];
        } else { /* [in][out] -> [out][in]; Keras row (h, w, c) is sanity column (c, h, w) */
            int64_t O = t->shape[0], I = t->shape[1];
            for (int64_t i = 0; i < I; i++) {
                int64_t col = i;
                if (reorder) {
                    int64_t c = i % chw[0], hw = i / chw[0];
                    col = c * chw[1] * chw[2] + hw;
                }
                for (int64_t oo = 0; oo < O; oo++) o[oo * I + col] = tmp[i * O + oo];
            }
        }
    }
    free(tmp);
    return rc;
}

int h5model_load_keras(Model *m, const char *path, const KerasMap *map, int nmap, int channels_last) {
    hid_t fid;
    if (open_file(path, "Keras weight file", &fid) != SN_OK) return SN_ERR;
    int has_mw = H5Lexists(fid, "model_weights", H5P_DEFAULT) > 0;
    hid_t root = H5Gopen2(fid, has_mw ? "model_weights" : "/", H5P_DEFAULT);
    NameList layers = {0};
    WeightFill w = {0};
    int rc = SN_OK;
    if (root < 0) rc = sn_errorf("'%s': cannot open group '%s' (corrupt file?)", path, has_mw ? "model_weights" : "/");
    if (rc == SN_OK && H5Literate(root, H5_INDEX_NAME, H5_ITER_INC, NULL, visit_group, &layers) < 0)
        rc = sn_errorf("'%s': cannot list the layer groups (corrupt file?)", path);
    if (rc == SN_OK) rc = weights_fill_begin(&w, m, path);
    char *bn_seen = rc == SN_OK ? calloc((size_t)m->nnodes + 1, 1) : NULL;
    if (rc == SN_OK && !bn_seen) rc = sn_errorf("out of memory");
    for (int l = 0; rc == SN_OK && l < layers.n; l++) {
        const char *kname = layers.names[l];
        hid_t g = H5Gopen2(root, kname, H5P_DEFAULT);
        NameList ds = {0};
        if (g < 0 || H5Ovisit(g, H5_INDEX_NAME, H5_ITER_INC, visit_dataset, &ds) < 0) {
            rc = sn_errorf("'%s': cannot read Keras layer group '%s' (corrupt file?)", path, kname);
        } else if (ds.n > 0) {
            const char *sname = kname;
            for (int i = 0; i < nmap; i++)
                if (strcmp(map[i].keras, kname) == 0) sname = map[i].node;
            int node = model_find(m, sname);
            if (node < 0 || m->nodes[node].nparams == 0) {
                rc = sn_errorf("Keras layer '%s' has weights but the model has no %slayer '%s'%s", kname,
                               node < 0 ? "" : "trainable ", sname,
                               sname == kname ? " (map Keras names to sanity names with map={keras_name=\"layer\"})"
                                              : "");
            }
            for (int i = 0; rc == SN_OK && i < ds.n; i++)
                rc = keras_read(&w, g, ds.names[i], kname, node, keras_weight(ds.names[i]), channels_last);
            if (rc == SN_OK) bn_seen[node] = 1;
        }
        names_free(&ds);
        if (g >= 0) H5Gclose(g);
    }
    /* BatchNormalization(scale=False / center=False) stores no gamma / beta:
     * those are 1 and 0 */
    for (int i = 0; rc == SN_OK && i < m->nnodes; i++) {
        Node *n = &w.tmp->nodes[i];
        if (!bn_seen[i] || (n->kind != LAYER_BATCHNORM1D && n->kind != LAYER_BATCHNORM2D)) continue;
        for (int k = 0; k < 2; k++) {
            if (w.seen[i * (NODE_MAX_PARAMS + NODE_MAX_BUFFERS) + k]) continue;
            Tensor *t;
            weights_fill_target(&w, (WeightRef){i, 0, k}, NULL, &t);
            float v = k == 0 ? 1.0f : 0.0f;
            for (int64_t q = 0, c = tensor_numel(t); q < c; q++) tensor_data(t)[q] = v;
        }
    }
    if (rc == SN_OK) rc = weights_fill_commit(&w);
    if (w.tmp) weights_fill_end(&w);
    free(bn_seen);
    names_free(&layers);
    if (root >= 0) H5Gclose(root);
    H5Fclose(fid);
    return rc;
}

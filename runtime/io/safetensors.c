/* safetensors.c — .safetensors weight files: validated header parsing
 * (cJSON), dtype conversion to float32, writing (see safetensors.h). Bytes
 * are assembled explicitly as little-endian, so this also holds on a
 * big-endian host. No memory mapping: tensors are read one at a time. */
#include "io/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "io/weights.h"

#define MAX_HEADER (100u << 20) /* bytes; the format's own limit is 100 MB */

typedef enum { DT_F32, DT_F64, DT_F16, DT_BF16, DT_I64, DT_I32, DT_COUNT } DType;
static const char *const dtype_names[DT_COUNT] = {"F32", "F64", "F16", "BF16", "I64", "I32"};
static const int dtype_size[DT_COUNT] = {4, 8, 2, 2, 8, 4};

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static float half_to_float(uint16_t h) {
    int e = (h >> 10) & 31, f = h & 1023;
    float v = e == 0 ? ldexpf((float)f, -24) : e == 31 ? (f ? NAN : INFINITY) : ldexpf((float)(f | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

static float convert(const unsigned char *p, DType t) {
    uint64_t v = le(p, dtype_size[t]);
    switch (t) {
    case DT_F32: {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case DT_F64: {
        double d;
        memcpy(&d, &v, 8);
        return (float)d;
    }
    case DT_F16:
        return half_to_float((uint16_t)v);
    case DT_BF16: {
        uint32_t u = (uint32_t)v << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case DT_I64:
        return (float)(int64_t)v;
    case DT_I32:
        return (float)(int32_t)(uint32_t)v;
    default:
        return 0;
    }
}

/* A JSON number that is an integer in [0, 2^53]; -1 otherwise. */
static int64_t json_index(const cJSON *j) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return -1;
    return (int64_t)d;
}

typedef struct {
    const char *name;
    DType dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    uint64_t begin, end;
    WeightRef ref;
    int found;
} Entry;

/* Validates one header entry against the data buffer of `data_len` bytes. */
static int parse_entry(const cJSON *item, const char *path, uint64_t data_len, Entry *e) {
    e->name = item->string;
    if (!cJSON_IsObject(item)) return sn_errorf("'%s': header entry '%s' is not an object", path, e->name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt)) return sn_errorf("'%s': tensor '%s' has no \"dtype\" string", path, e->name);
    int t = 0;
    while (t < DT_COUNT && strcmp(dt->valuestring, dtype_names[t]) != 0) t++;
    if (t == DT_COUNT)
        return sn_errorf("'%s': tensor '%s' has dtype %s; sanity reads F32, F64, F16, BF16, I64 and I32", path, e->name,
                         dt->valuestring);
    e->dtype = (DType)t;
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > TENSOR_MAX_DIMS)
        return sn_errorf("'%s': tensor '%s' has no \"shape\" array of at most %d sizes", path, e->name,
                         TENSOR_MAX_DIMS);
    e->ndim = cJSON_GetArraySize(sh);
    uint64_t numel = 1;
    for (int i = 0; i < e->ndim; i++) {
        int64_t v = json_index(cJSON_GetArrayItem(sh, i));
        if (v < 0)
            return sn_errorf("'%s': tensor '%s': shape entry %d is not a non-negative integer", path, e->name, i + 1);
        e->shape[i] = v;
        if (v > 0 && numel > (UINT64_MAX / 8) / (uint64_t)v)
            return sn_errorf("'%s': tensor '%s': shape is too large", path, e->name);
        numel *= (uint64_t)v;
    }
    int64_t b, en;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || (b = json_index(cJSON_GetArrayItem(of, 0))) < 0 ||
        (en = json_index(cJSON_GetArrayItem(of, 1))) < 0 || en < b)
        return sn_errorf("'%s': tensor '%s' has no valid \"data_offsets\" [begin, end]", path, e->name);
    e->begin = (uint64_t)b, e->end = (uint64_t)en;
    if (e->end > data_len)
        return sn_errorf("'%s': tensor '%s': data_offsets [%llu, %llu] run past the end of the data (%llu bytes; "
                         "truncated file?)",
                         path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)data_len);
    uint64_t want = numel * (uint64_t)dtype_size[e->dtype];
    if (e->end - e->begin != want) {
        char s[160];
        return sn_errorf("'%s': tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, shape %s of %s needs %llu",
                         path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)(e->end - e->begin), shape_str(e->ndim, e->shape, s, sizeof s),
                         dtype_names[e->dtype], (unsigned long long)want);
    }
    return SN_OK;
}

int safetensors_load(Model *m, const char *path, int strict) {
    FILE *f = fopen(path, "rb");
    if (!f) return sn_errorf("cannot open safetensors file '%s': %s", path, strerror(errno));
    struct stat st;
    unsigned char head[8];
    char *hdr = NULL;
    cJSON *root = NULL;
    Entry *ents = NULL;
    unsigned char *bytes = NULL;
    WeightFill w = {0};
    int rc = SN_ERR, ne = 0;
    if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
        sn_errorf("cannot open safetensors file '%s': %s", path,
                  S_ISDIR(st.st_mode) ? "it is a directory" : strerror(errno));
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8 || fread(head, 1, 8, f) != 8) {
        sn_errorf("'%s' is not a safetensors file: %llu bytes, too short for the 8-byte header length", path,
                  (unsigned long long)size);
        goto done;
    }
    uint64_t hlen = le(head, 8);
    if (hlen > size - 8) {
        sn_errorf("'%s': header length %llu runs past the end of the file (%llu bytes; truncated, or not a "
                  "safetensors file)",
                  path, (unsigned long long)hlen, (unsigned long long)size);
        goto done;
    }
    if (hlen > MAX_HEADER || hlen < 2) {
        sn_errorf("'%s': header length %llu is outside 2..%u bytes (not a safetensors file?)", path,
                  (unsigned long long)hlen, MAX_HEADER);
        goto done;
    }
    if (!(hdr = malloc(hlen))) {
        sn_errorf("out of memory");
        goto done;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        sn_errorf("'%s': cannot read the %llu-byte header", path, (unsigned long long)hlen);
        goto done;
    }
    root = cJSON_ParseWithLength(hdr, hlen);
    if (!cJSON_IsObject(root)) {
        sn_errorf("'%s': the header is not a JSON object (corrupt file?)", path);
        goto done;
    }
    uint64_t data_len = size - 8 - hlen;
    int n = cJSON_GetArraySize(root);
    if (!(ents = calloc((size_t)(n > 0 ? n : 1), sizeof *ents))) {
        sn_errorf("out of memory");
        goto done;
    }
    if (weights_fill_begin(&w, m, path) != SN_OK) goto done;
    /* every entry is checked before any data is read */
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (!item->string) continue;
        if (strcmp(item->string, "__metadata__") == 0) continue;
        Entry *e = &ents[ne++];
        if (parse_entry(item, path, data_len, e) != SN_OK) goto done;
        e->found = weights_find(m, e->name, &e->ref);
        if (!e->found && strict) {
            char *names = weights_list(m);
            sn_errorf("'%s' holds tensor '%s', which is not a parameter or buffer of the model (the model has: %s; "
                      "strict=false skips such tensors)",
                      path, e->name, names ? names : "?");
            free(names);
            goto done;
        }
        if (e->found && weights_check_shape(&w, e->ref, e->ndim, e->shape, NULL) != SN_OK) goto done;
    }
    for (int i = 0; i < ne; i++) {
        Entry *e = &ents[i];
        if (!e->found) continue;
        Tensor *t;
        if (weights_fill_target(&w, e->ref, e->name, &t) != SN_OK) goto done;
        uint64_t nbytes = e->end - e->begin;
        unsigned char *p = realloc(bytes, nbytes ? nbytes : 1);
        if (!p) {
            sn_errorf("out of memory");
            goto done;
        }
        bytes = p;
        if (fseeko(f, (off_t)(8 + hlen + e->begin), SEEK_SET) != 0 || fread(bytes, 1, nbytes, f) != nbytes) {
            sn_errorf("'%s': reading tensor '%s' failed", path, e->name);
            goto done;
        }
        float *dst = tensor_data(t);
        int sz = dtype_size[e->dtype];
        for (uint64_t q = 0; q < nbytes / (uint64_t)sz; q++) dst[q] = convert(bytes + q * (uint64_t)sz, e->dtype);
    }
    rc = weights_fill_commit(&w);
done:
    if (w.tmp) weights_fill_end(&w);
    free(bytes);
    free(ents);
    cJSON_Delete(root);
    free(hdr);
    fclose(f);
    return rc;
}

/* ---- writing ---- */

int safetensors_save(const Model *m, const char *path) {
    cJSON *root = cJSON_CreateObject();
    char *hdr = NULL;
    FILE *f = NULL;
    int rc = SN_ERR;
    uint64_t off = 0;
    if (!root) goto oom;
    for (int i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < (b ? n->nbuffers : n->nparams); k++) {
                const Tensor *t = b ? &n->buffer[k] : &n->param[k];
                int counter = b && k == 2;
                char name[2 * NODE_NAME_MAX];
                weights_name(m, (WeightRef){i, b, k}, name, sizeof name);
                uint64_t nbytes = counter ? 8 : 4 * (uint64_t)tensor_numel(t);
                cJSON *e = cJSON_AddObjectToObject(root, name), *sh;
                if (!e || !cJSON_AddStringToObject(e, "dtype", counter ? "I64" : "F32") ||
                    !(sh = cJSON_AddArrayToObject(e, "shape")))
                    goto oom;
                for (int d = 0; d < t->ndim; d++)
                    if (!cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]))) goto oom;
                double offs[2] = {(double)off, (double)(off + nbytes)};
                cJSON *o = cJSON_CreateDoubleArray(offs, 2);
                if (!o || !cJSON_AddItemToObject(e, "data_offsets", o)) goto oom;
                off += nbytes;
            }
    }
    if (!(hdr = cJSON_PrintUnformatted(root))) goto oom;
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8; /* data 8-byte aligned, as the reference writer */
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    if (!(f = fopen(path, "wb"))) {
        sn_errorf("cannot create safetensors file '%s': %s", path, strerror(errno));
        goto done;
    }
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(hdr, 1, hl, f) == hl;
    for (size_t i = hl; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        for (int b = 0; ok && b < 2; b++)
            for (int k = 0; ok && k < (b ? n->nbuffers : n->nparams); k++) {
                const Tensor *t = b ? &n->buffer[k] : &n->param[k];
                const float *v = tensor_data(t);
                if (b && k == 2) {
                    uint64_t c = (uint64_t)(int64_t)v[0];
                    for (int q = 0; q < 8 && ok; q++) ok = fputc((int)(c >> (8 * q)) & 255, f) != EOF;
                    continue;
                }
                for (int64_t q = 0, cnt = tensor_numel(t); ok && q < cnt; q++) {
                    uint32_t u;
                    memcpy(&u, &v[q], 4);
                    unsigned char by[4] = {u & 255, (u >> 8) & 255, (u >> 16) & 255, u >> 24};
                    ok = fwrite(by, 1, 4, f) == 4;
                }
            }
    }
    if (fclose(f) != 0) ok = 0;
    f = NULL;
    if (!ok) {
        sn_errorf("writing safetensors file '%s' failed: %s", path, strerror(errno));
        remove(path);
        goto done;
    }
    rc = SN_OK;
    goto done;
oom:
    sn_errorf("out of memory writing '%s'", path);
done:
    if (f) fclose(f);
    free(hdr);
    cJSON_Delete(root);
    return rc;
}

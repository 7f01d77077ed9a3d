/* test_results.c — io/results and io/provenance: round trips of every type,
 * the .partial -> final rename, dimension scales (sharing, length clashes,
 * coordinates), the 64 KiB compression threshold, attributes, rows, copies,
 * reading what h5py wrote (tests/fixtures/results_h5py.h5, made by
 * scripts/fixtures/results_h5py.py), and the error messages. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "io/provenance.h"
#include "io/results.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

typedef struct {
    char dir[64];
    char buf[256];
} Tmp;

static void tmp_init(Tmp *t) {
    snprintf(t->dir, sizeof t->dir, "/tmp/sanity-results-XXXXXX");
    if (!mkdtemp(t->dir)) t->dir[0] = '\0';
}

static const char *tmp_path(Tmp *t, const char *name) {
    snprintf(t->buf, sizeof t->buf, "%s/%s", t->dir, name);
    return t->buf;
}

static void tmp_free(Tmp *t) {
    if (t->dir[0]) nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int has_text(const char *s, const char *frag) {
    return s && strstr(s, frag) != NULL;
}

#define CHECK_ERR(call, frag)                                                                                          \
    do {                                                                                                               \
        sn_errclear();                                                                                                 \
        int rc_ = (call);                                                                                              \
        CHECK_MSG(rc_ == SN_ERR, "%s succeeded, expected an error with '%s'", #call, frag);                            \
        CHECK_MSG(has_text(sn_errmsg(), frag), "error '%s' lacks '%s'", sn_errmsg(), frag);                            \
    } while (0)

/* A borrowed array; the pointer stays valid for the next 63 calls (tests
 * pass them straight to one call). */
static const ResultsArray *arr(ResultsType t, int ndim, const int64_t *shape, const void *data) {
    static ResultsArray ring[64];
    static int k;
    ResultsArray *a = &ring[k++ % 64];
    memset(a, 0, sizeof *a);
    a->type = t, a->ndim = ndim, a->data = data;
    for (int i = 0; i < ndim; i++) a->shape[i] = shape[i];
    return a;
}

/* ---- round trips ------------------------------------------------------- */

TEST(results_roundtrip_types) {
    Tmp t;
    tmp_init(&t);
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path(&t, "r.h5"));
    ResultsFile *f;
    CHECK(results_create(&f, path) == SN_OK);
    float f32[6] = {1, -2, 3.5f, 4, 5, 1e-7f};
    double f64[4] = {0.1, 1e300, -0.0, 3};
    int64_t i64[3] = {-5, 0, (int64_t)1 << 60};
    const char *strs[3] = {"alpha", "\xc3\xbc", ""};
    double scalar = 2.5;
    const char *sscalar = "hello";
    CHECK(results_write(f, "a/f32", &(ResultsArray){RESULTS_F32, 2, {2, 3}, f32, NULL}, NULL) == SN_OK);
    CHECK(results_write(f, "/a/b/f64", arr(RESULTS_F64, 1, (int64_t[]){4}, f64), NULL) == SN_OK);
    CHECK(results_write(f, "i64", arr(RESULTS_I64, 1, (int64_t[]){3}, i64), NULL) == SN_OK);
    CHECK(results_write(f, "strs", arr(RESULTS_STR, 1, (int64_t[]){3}, strs), NULL) == SN_OK);
    CHECK(results_write(f, "scalar", arr(RESULTS_F64, 0, NULL, &scalar), NULL) == SN_OK);
    CHECK(results_write(f, "sscalar", arr(RESULTS_STR, 0, NULL, &sscalar), NULL) == SN_OK);
    CHECK(results_write(f, "empty", arr(RESULTS_F32, 1, (int64_t[]){0}, NULL), NULL) == SN_OK);
    CHECK_EQ_INT(results_open_objects(f), 1); /* no leaked HDF5 handles */
    CHECK(results_has(f, "a/f32") && results_has(f, "/a/b/f64") && !results_has(f, "a") && !results_has(f, "nope"));

    /* read back through the open writer, then from the completed file */
    Tensor x;
    CHECK(results_read_tensor(f, "a/f32", &x) == SN_OK);
    CHECK(x.ndim == 2 && x.shape[0] == 2 && x.shape[1] == 3);
    for (int i = 0; i < 6; i++) CHECK(tensor_data(&x)[i] == f32[i]);
    tensor_release(&x);
    CHECK(results_close(f, 1) == SN_OK);
    CHECK(results_is_complete(f) && !results_is_open(f));
    results_free(f);

    CHECK(results_open(&f, path, RESULTS_READ) == SN_OK);
    ResultsArray a;
    CHECK(results_read_array(f, "a/b/f64", &a) == SN_OK);
    CHECK(a.type == RESULTS_F64 && a.ndim == 1 && a.shape[0] == 4);
    CHECK(memcmp(a.data, f64, sizeof f64) == 0);
    results_array_free(&a);
    CHECK(results_read_array(f, "i64", &a) == SN_OK);
    CHECK(a.type == RESULTS_I64 && memcmp(a.data, i64, sizeof i64) == 0);
    results_array_free(&a);
    CHECK(results_read_tensor(f, "i64", &x) == SN_OK); /* any numeric type converts to float32 */
    CHECK(tensor_data(&x)[0] == -5.0f && tensor_data(&x)[2] == (float)((int64_t)1 << 60));
    tensor_release(&x);
    CHECK(results_read_array(f, "strs", &a) == SN_OK);
    CHECK(a.type == RESULTS_STR && a.shape[0] == 3);
    for (int i = 0; i < 3; i++) CHECK(strcmp(((const char *const *)a.data)[i], strs[i]) == 0);
    results_array_free(&a);
    CHECK(results_read_array(f, "scalar", &a) == SN_OK);
    CHECK(a.ndim == 0 && *(const double *)a.data == 2.5);
    results_array_free(&a);
    CHECK(results_read_array(f, "sscalar", &a) == SN_OK);
    CHECK(a.ndim == 0 && strcmp(((const char *const *)a.data)[0], "hello") == 0);
    results_array_free(&a);
    CHECK(results_read_tensor(f, "empty", &x) == SN_OK);
    CHECK(x.ndim == 1 && x.shape[0] == 0);
    tensor_release(&x);

    ResultsInfo in;
    CHECK(results_info(f, "a/f32", &in) == SN_OK);
    CHECK(strcmp(in.dtype, "float32") == 0 && in.ndim == 2 && !in.is_scale && !in.compressed);
    CHECK(results_info(f, "strs", &in) == SN_OK && strcmp(in.dtype, "string") == 0);
    CHECK(results_info(f, "i64", &in) == SN_OK && strcmp(in.dtype, "int64") == 0);

    ResultsNames l;
    CHECK(results_list(f, &l) == SN_OK);
    const char *want[] = {"/a/b/f64", "/a/f32", "/empty", "/i64", "/scalar", "/sscalar", "/strs"};
    CHECK_EQ_INT(l.n, 7);
    for (int i = 0; i < 7 && i < l.n; i++) CHECK_MSG(strcmp(l.names[i], want[i]) == 0, "%s != %s", l.names[i], want[i]);
    results_names_free(&l);
    CHECK_EQ_INT(results_open_objects(f), 1);
    results_free(f);
    tmp_free(&t);
}

TEST(results_partial_then_rename) {
    Tmp t;
    tmp_init(&t);
    char path[256], partial[300];
    snprintf(path, sizeof path, "%s", tmp_path(&t, "run.h5"));
    snprintf(partial, sizeof partial, "%s.partial", path);
    ResultsFile *f;
    double v[2] = {1, 2};
    CHECK(results_create(&f, path) == SN_OK);
    CHECK(exists(partial) && !exists(path));
    CHECK(strcmp(results_disk_path(f), partial) == 0 && strcmp(results_path(f), path) == 0);
    CHECK(results_write(f, "first", arr(RESULTS_F64, 1, (int64_t[]){2}, v), NULL) == SN_OK);
    CHECK(results_flush(f) == SN_OK);
    CHECK(results_close(f, 0) == SN_OK); /* a failed run: stays .partial */
    CHECK(exists(partial) && !exists(path));
    CHECK(results_close(f, 1) == SN_OK); /* closing again does nothing */
    CHECK(!exists(path));
    results_free(f);

    /* resume the partial file, add to it, complete it */
    CHECK(results_open(&f, path, RESULTS_RESUME) == SN_OK);
    CHECK(results_has(f, "first"));
    CHECK(results_write(f, "second", arr(RESULTS_F64, 1, (int64_t[]){2}, v), NULL) == SN_OK);
    CHECK(results_close(f, 1) == SN_OK);
    CHECK(!exists(partial) && exists(path));
    CHECK(strcmp(results_disk_path(f), path) == 0);
    results_free(f);
    CHECK(results_open(&f, path, RESULTS_READ) == SN_OK);
    CHECK(results_has(f, "first") && results_has(f, "second"));
    results_free(f);

    /* creating again truncates an old .partial */
    CHECK(results_create(&f, path) == SN_OK);
    CHECK(!results_has(f, "first"));
    results_free(f); /* free without completing: the final file is untouched */
    CHECK(exists(partial) && exists(path));
    tmp_free(&t);
}

/* ---- dimension scales --------------------------------------------------- */

TEST(results_dims_scales) {
    Tmp t;
    tmp_init(&t);
    ResultsFile *f;
    CHECK(results_create(&f, tmp_path(&t, "d.h5")) == SN_OK);
    float a[6] = {1, 2, 3, 4, 5, 6}, b[10] = {0};
    const char *layers[2] = {"conv1", "fc1"}, *other[2] = {"conv1", "fc2"};
    ResultsArray lc = *arr(RESULTS_STR, 1, (int64_t[]){2}, layers), oc = *arr(RESULTS_STR, 1, (int64_t[]){2}, other);
    ResultsDim d1[2] = {{"layer", &lc}, {"sample", NULL}};
    ResultsWriteOpts o1 = {.dims = d1};
    CHECK(results_write(f, "g/a", arr(RESULTS_F32, 2, (int64_t[]){2, 3}, a), &o1) == SN_OK);
    ResultsDim d2[2] = {{"layer", NULL}, {"k", NULL}};
    ResultsWriteOpts o2 = {.dims = d2};
    CHECK(results_write(f, "g/b", arr(RESULTS_F32, 2, (int64_t[]){2, 5}, b), &o2) == SN_OK);

    ResultsInfo in;
    CHECK(results_info(f, "g/a", &in) == SN_OK);
    CHECK(strcmp(in.dims[0], "layer") == 0 && strcmp(in.dims[1], "sample") == 0);
    CHECK(results_info(f, "g/b", &in) == SN_OK);
    CHECK(strcmp(in.dims[0], "layer") == 0 && strcmp(in.dims[1], "k") == 0);
    CHECK(results_info(f, "g/layer", &in) == SN_OK && in.is_scale && strcmp(in.dtype, "string") == 0);
    CHECK(results_info(f, "g/sample", &in) == SN_OK && in.is_scale && strcmp(in.dtype, "int64") == 0);

    ResultsArray c;
    CHECK(results_dim_coords(f, "g/b", 0, &c) == SN_OK); /* shared scale: g/b sees g/a's coordinates */
    CHECK(c.type == RESULTS_STR && c.shape[0] == 2 && strcmp(((const char *const *)c.data)[1], "fc1") == 0);
    results_array_free(&c);
    CHECK(results_dim_coords(f, "g/a", 1, &c) == SN_OK); /* default 0..n-1 */
    CHECK(c.type == RESULTS_I64 && c.shape[0] == 3 && ((const int64_t *)c.data)[2] == 2);
    results_array_free(&c);
    CHECK_ERR(results_dim_coords(f, "g/a", 2, &c), "has 2 dimensions");

    /* a clash of lengths names both */
    ResultsDim d3[1] = {{"layer", NULL}};
    ResultsWriteOpts o3 = {.dims = d3};
    CHECK_ERR(results_write(f, "g/c", arr(RESULTS_F32, 1, (int64_t[]){3}, a), &o3), "has length 2");
    CHECK_MSG(has_text(sn_errmsg(), "has length 3"), "%s", sn_errmsg());
    CHECK(!results_has(f, "g/c")); /* nothing half-made */
    /* the same length in another group is another dimension */
    CHECK(results_write(f, "h/c", arr(RESULTS_F32, 1, (int64_t[]){3}, a), &o3) == SN_OK);

    /* coordinates must agree with the stored ones */
    ResultsDim d4[1] = {{"layer", &oc}};
    ResultsWriteOpts o4 = {.dims = d4};
    CHECK_ERR(results_write(f, "g/d", arr(RESULTS_F32, 1, (int64_t[]){2}, a), &o4), "differ from those already stored");
    ResultsDim d5[1] = {{"layer", &lc}};
    ResultsWriteOpts o5 = {.dims = d5};
    CHECK(results_write(f, "g/d", arr(RESULTS_F32, 1, (int64_t[]){2}, a), &o5) == SN_OK);
    double nums[2] = {0, 1};
    ResultsArray nc = *arr(RESULTS_F64, 1, (int64_t[]){2}, nums);
    ResultsDim d6[1] = {{"layer", &nc}}; /* numbers vs stored strings */
    ResultsWriteOpts o6 = {.dims = d6};
    CHECK_ERR(results_write(f, "g/e", arr(RESULTS_F32, 1, (int64_t[]){2}, a), &o6), "differ");
    ResultsDim d7[1] = {{"sample", &nc}}; /* numbers equal to stored int64 0..n-1? lengths differ first */
    ResultsWriteOpts o7 = {.dims = d7};
    CHECK_ERR(results_write(f, "g/e", arr(RESULTS_F32, 1, (int64_t[]){2}, a), &o7), "has length 3");
    double n3[3] = {0, 1, 2};
    ResultsArray n3c = *arr(RESULTS_F64, 1, (int64_t[]){3}, n3);
    ResultsDim d8[1] = {{"sample", &n3c}}; /* equal values in another type are equal */
    ResultsWriteOpts o8 = {.dims = d8};
    CHECK(results_write(f, "g/e", arr(RESULTS_F32, 1, (int64_t[]){3}, a), &o8) == SN_OK);

    /* bad dimension specs */
    ResultsDim twice[2] = {{"x", NULL}, {"x", NULL}};
    ResultsWriteOpts ot = {.dims = twice};
    CHECK_ERR(results_write(f, "g/f", arr(RESULTS_F32, 2, (int64_t[]){2, 3}, a), &ot), "appears twice");
    ResultsDim own[1] = {{"f", NULL}};
    ResultsWriteOpts oo = {.dims = own};
    CHECK_ERR(results_write(f, "g/f", arr(RESULTS_F32, 1, (int64_t[]){2}, a), &oo), "own name");
    ResultsDim slash[1] = {{"a/b", NULL}};
    ResultsWriteOpts os = {.dims = slash};
    CHECK_ERR(results_write(f, "g/f", arr(RESULTS_F32, 1, (int64_t[]){2}, a), &os), "bad dimension name");
    ResultsArray short_c = *arr(RESULTS_STR, 1, (int64_t[]){1}, layers);
    ResultsDim sc[1] = {{"new", &short_c}};
    ResultsWriteOpts osc = {.dims = sc};
    CHECK_ERR(results_write(f, "g/f", arr(RESULTS_F32, 1, (int64_t[]){2}, a), &osc), "have 1 values");
    ResultsDim isdata[1] = {{"a", NULL}}; /* g/a is data, not a scale */
    ResultsWriteOpts oi = {.dims = isdata};
    CHECK_ERR(results_write(f, "g/f", arr(RESULTS_F32, 1, (int64_t[]){2}, a), &oi), "not a dimension scale");
    CHECK_ERR(results_write(f, "g/layer", arr(RESULTS_F32, 1, (int64_t[]){2}, a), NULL), "coordinates of dimension");
    CHECK(!results_has(f, "g/f") && !results_has(f, "g/new"));

    /* overwrite keeps scales consistent */
    CHECK_ERR(results_write(f, "g/a", arr(RESULTS_F32, 2, (int64_t[]){2, 3}, a), &o1), "already exists");
    ResultsWriteOpts ow = {.dims = d1, .overwrite = 1};
    a[0] = 42;
    CHECK(results_write(f, "g/a", arr(RESULTS_F32, 2, (int64_t[]){2, 3}, a), &ow) == SN_OK);
    Tensor x;
    CHECK(results_read_tensor(f, "g/a", &x) == SN_OK && tensor_data(&x)[0] == 42);
    tensor_release(&x);
    CHECK(results_info(f, "g/a", &in) == SN_OK && strcmp(in.dims[0], "layer") == 0);
    CHECK_EQ_INT(results_open_objects(f), 1);
    results_free(f);
    tmp_free(&t);
}

/* ---- compression ------------------------------------------------------- */

TEST(results_compression_threshold) {
    Tmp t;
    tmp_init(&t);
    ResultsFile *f;
    CHECK(results_create(&f, tmp_path(&t, "c.h5")) == SN_OK);
    enum { N = 16385 };
    float *v = malloc(N * sizeof *v);
    double *w = malloc(N * sizeof *w);
    for (int i = 0; i < N; i++) v[i] = (float)(i % 97) * 0.25f, w[i] = i;
    CHECK(results_write(f, "f32_64k", arr(RESULTS_F32, 1, (int64_t[]){16384}, v), NULL) == SN_OK);
    CHECK(results_write(f, "f32_over", arr(RESULTS_F32, 2, (int64_t[]){5, 3277}, v), NULL) == SN_OK);
    CHECK(results_write(f, "f64_64k", arr(RESULTS_F64, 1, (int64_t[]){8192}, w), NULL) == SN_OK);
    CHECK(results_write(f, "f64_over", arr(RESULTS_F64, 1, (int64_t[]){8193}, w), NULL) == SN_OK);
    ResultsInfo in;
    CHECK(results_info(f, "f32_64k", &in) == SN_OK && !in.compressed && !in.chunked);
    CHECK(results_info(f, "f32_over", &in) == SN_OK && in.compressed && in.chunked);
    CHECK(results_info(f, "f64_64k", &in) == SN_OK && !in.compressed);
    CHECK(results_info(f, "f64_over", &in) == SN_OK && in.compressed);
    CHECK(results_close(f, 1) == SN_OK);
    results_free(f);
    CHECK(results_open(&f, tmp_path(&t, "c.h5"), RESULTS_READ) == SN_OK);
    Tensor x;
    CHECK(results_read_tensor(f, "f32_over", &x) == SN_OK);
    CHECK(x.shape[0] == 5 && x.shape[1] == 3277);
    CHECK(memcmp(tensor_data(&x), v, 5 * 3277 * sizeof(float)) == 0);
    tensor_release(&x);
    results_free(f);
    /* the compressed file is smaller than the raw numbers */
    struct stat st;
    CHECK(stat(tmp_path(&t, "c.h5"), &st) == 0);
    CHECK_MSG(st.st_size < 16384 * 4 + 8192 * 8 + 30000, "file is %lld bytes", (long long)st.st_size);
    free(v);
    free(w);
    tmp_free(&t);
}

/* ---- attributes, rows, copies ------------------------------------------- */

TEST(results_attributes) {
    Tmp t;
    tmp_init(&t);
    ResultsFile *f;
    CHECK(results_create(&f, tmp_path(&t, "a.h5")) == SN_OK);
    double v[2] = {1, 2};
    ResultsAttr da[2] = {{.key = "method", .type = RESULTS_ATTR_STR, .str = "ig"},
                         {.key = "steps", .type = RESULTS_ATTR_INT, .i = 32}};
    ResultsWriteOpts o = {.attrs = da, .nattrs = 2};
    CHECK(results_write(f, "x", arr(RESULTS_F64, 1, (int64_t[]){2}, v), &o) == SN_OK);
    ResultsAttr ra[4] = {{.key = "n", .type = RESULTS_ATTR_INT, .i = -7},
                         {.key = "lr", .type = RESULTS_ATTR_NUM, .num = 0.125},
                         {.key = "ok", .type = RESULTS_ATTR_BOOL, .i = 1},
                         {.key = "who", .type = RESULTS_ATTR_STR, .str = "r\xc3\xa9sum\xc3\xa9"}};
    CHECK(results_set_attrs(f, NULL, ra, 4) == SN_OK);
    ResultsAttr again = {.key = "n", .type = RESULTS_ATTR_STR, .str = "replaced"};
    CHECK(results_set_attrs(f, "/", &again, 1) == SN_OK);
    ResultsAttrList l;
    CHECK(results_attrs(f, NULL, &l) == SN_OK);
    CHECK_EQ_INT(l.n, 4); /* sorted: lr, n, ok, who */
    if (l.n == 4) {
        CHECK(strcmp(l.items[0].key, "lr") == 0 && l.items[0].type == RESULTS_ATTR_NUM && l.items[0].num == 0.125);
        CHECK(strcmp(l.items[1].key, "n") == 0 && l.items[1].type == RESULTS_ATTR_STR);
        CHECK(strcmp(l.items[1].str, "replaced") == 0);
        CHECK(strcmp(l.items[2].key, "ok") == 0 && l.items[2].type == RESULTS_ATTR_BOOL && l.items[2].i == 1);
        CHECK(strcmp(l.items[3].key, "who") == 0 && strcmp(l.items[3].str, "r\xc3\xa9sum\xc3\xa9") == 0);
    }
    results_attrs_free(&l);
    CHECK(results_attrs(f, "x", &l) == SN_OK);
    CHECK_EQ_INT(l.n, 2);
    if (l.n == 2) CHECK(l.items[1].type == RESULTS_ATTR_INT && l.items[1].i == 32);
    results_attrs_free(&l);
    CHECK_ERR(results_set_attrs(f, "nope", ra, 1), "no dataset '/nope'");
    ResultsAttr bad = {.key = "CLASS", .type = RESULTS_ATTR_INT};
    CHECK_ERR(results_set_attrs(f, NULL, &bad, 1), "reserved");
    ResultsAttr badutf = {.key = "s", .type = RESULTS_ATTR_STR, .str = "\xff"};
    CHECK_ERR(results_set_attrs(f, NULL, &badutf, 1), "not valid UTF-8");
    /* a bad attribute is found before an overwrite removes the old dataset */
    double w[2] = {9, 9};
    ResultsWriteOpts bad_o = {.attrs = &badutf, .nattrs = 1, .overwrite = 1};
    CHECK_ERR(results_write(f, "x", arr(RESULTS_F64, 1, (int64_t[]){2}, w), &bad_o), "not valid UTF-8");
    ResultsArray still;
    CHECK(results_read_array(f, "x", &still) == SN_OK && ((const double *)still.data)[0] == 1);
    results_array_free(&still);
    CHECK_EQ_INT(results_open_objects(f), 1);
    results_free(f);
    tmp_free(&t);
}

TEST(results_rows_and_copy) {
    Tmp t;
    tmp_init(&t);
    ResultsFile *f, *g;
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s", tmp_path(&t, "src.h5"));
    snprintf(p2, sizeof p2, "%s", tmp_path(&t, "dst.h5"));
    CHECK(results_create(&f, p1) == SN_OK);
    float z[12] = {0}, ones[6] = {1, 1, 1, 1, 1, 1};
    const char *names[4] = {"a", "b", "c", "d"};
    ResultsArray nc = *arr(RESULTS_STR, 1, (int64_t[]){4}, names);
    ResultsDim d[2] = {{"unit", &nc}, {NULL, NULL}};
    ResultsAttr at = {.key = "note", .type = RESULTS_ATTR_STR, .str = "kept"};
    ResultsWriteOpts o = {.dims = d, .attrs = &at, .nattrs = 1};
    CHECK(results_write(f, "m/rows", arr(RESULTS_F32, 2, (int64_t[]){4, 3}, z), &o) == SN_OK);
    CHECK(results_write_rows(f, "m/rows", 1, arr(RESULTS_F32, 2, (int64_t[]){2, 3}, ones)) == SN_OK);
    CHECK_ERR(results_write_rows(f, "m/rows", 3, arr(RESULTS_F32, 2, (int64_t[]){2, 3}, ones)), "out of range");
    CHECK_ERR(results_write_rows(f, "m/rows", 0, arr(RESULTS_F32, 2, (int64_t[]){3, 2}, ones)), "do not fit");
    Tensor x;
    CHECK(results_read_tensor(f, "m/rows", &x) == SN_OK);
    float sum = 0;
    for (int i = 0; i < 12; i++) sum += tensor_data(&x)[i];
    CHECK(sum == 6 && tensor_data(&x)[3] == 1 && tensor_data(&x)[9] == 0);
    tensor_release(&x);
    ResultsInfo in;
    CHECK(results_info(f, "m/rows", &in) == SN_OK && strcmp(in.dims[0], "unit") == 0 && in.dims[1][0] == '\0');

    CHECK(results_create(&g, p2) == SN_OK);
    CHECK(results_copy(g, "copied/rows", f, "m/rows", 0) == SN_OK);
    CHECK(results_info(g, "copied/rows", &in) == SN_OK && strcmp(in.dims[0], "unit") == 0);
    ResultsArray c;
    CHECK(results_dim_coords(g, "copied/rows", 0, &c) == SN_OK);
    CHECK(c.type == RESULTS_STR && strcmp(((const char *const *)c.data)[3], "d") == 0);
    results_array_free(&c);
    ResultsAttrList l;
    CHECK(results_attrs(g, "copied/rows", &l) == SN_OK);
    CHECK(l.n == 1 && strcmp(l.items[0].str, "kept") == 0);
    results_attrs_free(&l);
    CHECK(results_read_tensor(g, "copied/rows", &x) == SN_OK && tensor_data(&x)[3] == 1);
    tensor_release(&x);
    CHECK_ERR(results_copy(g, "copied/rows", f, "m/rows", 0), "already exists");
    CHECK_EQ_INT(results_open_objects(g), 1);
    results_free(f);
    results_free(g);
    tmp_free(&t);
}

/* ---- what other tools write ---------------------------------------------- */

TEST(results_reads_h5py_files) {
    ResultsFile *f;
    CHECK(results_open(&f, test_fixture("results_h5py.h5"), RESULTS_READ) == SN_OK);
    if (!f) return;
    Tensor x;
    CHECK(results_read_tensor(f, "i32", &x) == SN_OK);
    CHECK(x.ndim == 2 && tensor_data(&x)[0] == -2 && tensor_data(&x)[5] == 3);
    tensor_release(&x);
    CHECK(results_read_tensor(f, "u8", &x) == SN_OK && tensor_data(&x)[2] == 255);
    tensor_release(&x);
    CHECK(results_read_tensor(f, "f16", &x) == SN_OK && tensor_data(&x)[1] == -1.0f && tensor_data(&x)[2] == 2.0f);
    tensor_release(&x);
    CHECK(results_read_tensor(f, "f64", &x) == SN_OK && tensor_data(&x)[1] == 0.25f);
    tensor_release(&x);
    ResultsArray a;
    CHECK(results_read_array(f, "fixed_str", &a) == SN_OK);
    CHECK(a.type == RESULTS_STR && a.shape[0] == 3);
    if (a.data) {
        const char *const *s = a.data;
        CHECK(strcmp(s[0], "ab") == 0 && strcmp(s[1], "cde") == 0 && strcmp(s[2], "") == 0);
    }
    results_array_free(&a);
    CHECK(results_read_array(f, "vlen_str", &a) == SN_OK);
    if (a.data) CHECK(strcmp(((const char *const *)a.data)[1], "\xc3\xbc") == 0);
    results_array_free(&a);
    CHECK_ERR(results_read_tensor(f, "compound", &x), "compound");
    CHECK_ERR(results_read_tensor(f, "vlen_str", &x), "string");
    ResultsInfo in;
    CHECK(results_info(f, "u8", &in) == SN_OK && strcmp(in.dtype, "uint8") == 0);
    CHECK(results_info(f, "f16", &in) == SN_OK && strcmp(in.dtype, "float16") == 0);
    CHECK(results_info(f, "grp/temp", &in) == SN_OK && strcmp(in.dims[0], "time") == 0);
    CHECK(results_dim_coords(f, "grp/temp", 0, &a) == SN_OK && ((const double *)a.data)[2] == 30.0);
    results_array_free(&a);

    ResultsAttrList l;
    CHECK(results_attrs(f, NULL, &l) == SN_OK);
    int seen = 0;
    for (int i = 0; i < l.n; i++) {
        const ResultsAttr *t = &l.items[i];
        if (strcmp(t->key, "title") == 0) seen += t->type == RESULTS_ATTR_STR && strcmp(t->str, "made by h5py") == 0;
        if (strcmp(t->key, "fixed") == 0) seen += t->type == RESULTS_ATTR_STR && strcmp(t->str, "abc") == 0;
        if (strcmp(t->key, "flag") == 0) seen += t->type == RESULTS_ATTR_BOOL && t->i == 1;
        if (strcmp(t->key, "count") == 0) seen += t->type == RESULTS_ATTR_INT && t->i == 7;
        if (strcmp(t->key, "ratio") == 0) seen += t->type == RESULTS_ATTR_NUM && t->num == 0.5;
        if (strcmp(t->key, "vec") == 0) seen += t->type == RESULTS_ATTR_NUMS && t->n == 3 && t->nums[2] == 3.5;
        if (strcmp(t->key, "tags") == 0)
            seen += t->type == RESULTS_ATTR_STRS && t->n == 2 && strcmp(t->strs[1], "yz") == 0;
    }
    CHECK_EQ_INT(seen, 7);
    results_attrs_free(&l);
    CHECK(results_attrs(f, "grp/time", &l) == SN_OK); /* scale bookkeeping is hidden */
    CHECK_EQ_INT(l.n, 0);
    results_attrs_free(&l);
    CHECK_EQ_INT(results_open_objects(f), 1);
    results_free(f);
}

/* ---- errors ------------------------------------------------------------ */

TEST(results_error_messages) {
    Tmp t;
    tmp_init(&t);
    ResultsFile *f = NULL;
    char missing_dir[256];
    snprintf(missing_dir, sizeof missing_dir, "%s/no/such/dir/x.h5", t.dir);
    CHECK_ERR(results_create(&f, missing_dir), "/no/such/dir' does not exist");
    CHECK(f == NULL);
    CHECK_ERR(results_create(&f, t.dir), "it is a directory");
    CHECK_ERR(results_create(&f, "sub/"), "ends with '/'");
    CHECK_ERR(results_create(&f, ""), "empty");
    CHECK_ERR(results_open(&f, tmp_path(&t, "none.h5"), RESULTS_READ), "No such file");
    CHECK_MSG(has_text(sn_errmsg(), "none.h5"), "%s", sn_errmsg());
    FILE *fp = fopen(tmp_path(&t, "text.h5"), "w");
    if (fp) fputs("not hdf5 at all, just text\n", fp), fclose(fp);
    CHECK_ERR(results_open(&f, tmp_path(&t, "text.h5"), RESULTS_READ), "not an HDF5 file");

    /* a valid file cut short: signature intact, the rest gone */
    char good[256];
    snprintf(good, sizeof good, "%s", tmp_path(&t, "good.h5"));
    CHECK(results_create(&f, good) == SN_OK);
    float v[1000] = {0};
    CHECK(results_write(f, "a", arr(RESULTS_F32, 1, (int64_t[]){1000}, v), NULL) == SN_OK);
    CHECK(results_close(f, 1) == SN_OK);
    results_free(f);
    char buf[600];
    fp = fopen(good, "rb");
    size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    fp = fopen(tmp_path(&t, "cut.h5"), "wb");
    if (fp) fwrite(buf, 1, n, fp), fclose(fp);
    CHECK_ERR(results_open(&f, tmp_path(&t, "cut.h5"), RESULTS_READ), "corrupt or truncated");

    CHECK(results_open(&f, good, RESULTS_READ) == SN_OK);
    Tensor x;
    CHECK_ERR(results_read_tensor(f, "nope", &x), "no dataset '/nope'");
    CHECK_MSG(has_text(sn_errmsg(), "it has: /a"), "%s", sn_errmsg());
    CHECK_ERR(results_write(f, "b", arr(RESULTS_F32, 1, (int64_t[]){1}, v), NULL), "read-only");
    results_free(f);

    CHECK(results_create(&f, tmp_path(&t, "e.h5")) == SN_OK);
    CHECK(results_write(f, "g/d", arr(RESULTS_F32, 1, (int64_t[]){3}, v), NULL) == SN_OK);
    CHECK_ERR(results_write(f, "g/d/x", arr(RESULTS_F32, 1, (int64_t[]){3}, v), NULL),
              "'/g/d' is a dataset, not a group");
    CHECK_ERR(results_write(f, "g", arr(RESULTS_F32, 1, (int64_t[]){3}, v), NULL), "it is a group");
    CHECK_ERR(results_read_tensor(f, "g", &x), "is a group, not a dataset");
    CHECK_ERR(results_write(f, "a//b", arr(RESULTS_F32, 1, (int64_t[]){3}, v), NULL), "empty path component");
    CHECK_ERR(results_write(f, "a/", arr(RESULTS_F32, 1, (int64_t[]){3}, v), NULL), "empty path component");
    CHECK_ERR(results_write(f, "a/../b", arr(RESULTS_F32, 1, (int64_t[]){3}, v), NULL), "'..'");
    CHECK_ERR(results_write(f, "/", arr(RESULTS_F32, 1, (int64_t[]){3}, v), NULL), "root group");
    ResultsArray r9 = *arr(RESULTS_F32, 8, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1}, v);
    r9.ndim = 9;
    CHECK_ERR(results_write(f, "r9", &r9, NULL), "rank 9");
    const char *bad[1] = {"\xc3("};
    CHECK_ERR(results_write(f, "s", arr(RESULTS_STR, 1, (int64_t[]){1}, bad), NULL), "not valid UTF-8");
    CHECK_ERR(results_write(f, "nodata", arr(RESULTS_F32, 1, (int64_t[]){3}, NULL), NULL), "no data");
    CHECK(results_close(f, 0) == SN_OK);
    CHECK_ERR(results_write(f, "x", arr(RESULTS_F32, 1, (int64_t[]){3}, v), NULL), "results file is closed");
    CHECK_ERR(results_read_tensor(f, "g/d", &x), "results file is closed");
    CHECK_ERR(results_flush(f), "results file is closed");
    CHECK(!results_has(f, "g/d"));
    results_free(f);
    results_free(NULL);
    tmp_free(&t);
}

/* ---- provenance and helpers ------------------------------------------- */

TEST(results_provenance) {
    char hex[65];
    provenance_sha256("abc", 3, hex); /* FIPS 180-2 example */
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    provenance_sha256("", 0, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    char *argv[] = {"bin/sanity", "run", "a b", "it's", "x=1,2", "", "--out", "/tmp/r.h5", "$HOME"};
    char *s = provenance_shell_join(9, argv);
    CHECK_MSG(s && strcmp(s, "bin/sanity run 'a b' 'it'\\''s' x=1,2 '' --out /tmp/r.h5 '$HOME'") == 0, "%s", s);
    free(s);
    char ts[32];
    provenance_utc(0, ts);
    CHECK(strcmp(ts, "1970-01-01T00:00:00Z") == 0);
    provenance_utc(1700000000.7, ts);
    CHECK(strcmp(ts, "2023-11-14T22:13:20Z") == 0);

    Tmp t;
    tmp_init(&t);
    char script[256];
    snprintf(script, sizeof script, "%s", tmp_path(&t, "s.lua"));
    FILE *fp = fopen(script, "w");
    if (fp) fputs("abc", fp), fclose(fp);
    CHECK(provenance_sha256_file(script, hex) == SN_OK);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    CHECK_ERR(provenance_sha256_file(tmp_path(&t, "none.lua"), hex), "none.lua");

    ResultsFile *f;
    CHECK(results_create(&f, tmp_path(&t, "p.h5")) == SN_OK);
    Provenance p = {.script = script,
                    .command_line = "bin/sanity run s.lua \xff",
                    .cfg_json = "{\"a\":1}",
                    .seed = 42,
                    .threads = 3,
                    .lua_version = "Lua 5.4",
                    .sanity_version = "9.9",
                    .start_time = 0};
    CHECK(provenance_write(f, &p) == SN_OK);
    CHECK(provenance_finish(f) == SN_OK);
    ResultsAttrList l;
    CHECK(results_attrs(f, NULL, &l) == SN_OK);
    int found = 0;
    for (int i = 0; i < l.n; i++) {
        const ResultsAttr *a = &l.items[i];
        if (strcmp(a->key, "script_sha256") == 0) found += strncmp(a->str, "ba7816bf", 8) == 0;
        if (strcmp(a->key, "seed") == 0) found += a->type == RESULTS_ATTR_INT && a->i == 42;
        if (strcmp(a->key, "threads") == 0) found += a->i == 3;
        if (strcmp(a->key, "command_line") == 0) found += strcmp(a->str, "bin/sanity run s.lua ?") == 0;
        if (strcmp(a->key, "cfg_json") == 0) found += strcmp(a->str, "{\"a\":1}") == 0;
        if (strcmp(a->key, "hdf5_version") == 0) found += strncmp(a->str, "1.", 2) == 0;
        if (strcmp(a->key, "openblas_version") == 0) found += has_text(a->str, "OpenBLAS");
        if (strcmp(a->key, "start_time_utc") == 0) found += strlen(a->str) == 20 && a->str[19] == 'Z';
        if (strcmp(a->key, "end_time_utc") == 0) found += strlen(a->str) == 20;
        if (strcmp(a->key, "sanity_version") == 0) found += strcmp(a->str, "9.9") == 0;
        if (strcmp(a->key, "git_commit") == 0 || strcmp(a->key, "host") == 0 || strcmp(a->key, "lua_version") == 0 ||
            strcmp(a->key, "script") == 0)
            found += a->str[0] != '\0';
    }
    CHECK_EQ_INT(found, 14);
    CHECK_EQ_INT(l.n, 14);
    results_attrs_free(&l);
    results_free(f);
    tmp_free(&t);
}

TEST(results_utf8_check) {
    CHECK(results_utf8_valid("plain", 5));
    CHECK(results_utf8_valid("\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80", 9)); /* ü € 😀 */
    CHECK(!results_utf8_valid("\xff", 1));
    CHECK(!results_utf8_valid("\xc3", 1));         /* truncated */
    CHECK(!results_utf8_valid("\xc0\xaf", 2));     /* overlong */
    CHECK(!results_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
}

/* test_data.c — IDX parsing (plain, gzip, corrupt, truncated) and sample
 * selection (offset, class filter, balance). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "error.h"
#include "io/datasets.h"
#include "io/idx.h"
#include "test.h"

static const char *tmp_path(const char *name) {
    static char buf[256];
    snprintf(buf, sizeof buf, "/tmp/sanity_test_%d_%s", (int)getpid(), name);
    return buf;
}

static void write_file(const char *path, const uint8_t *bytes, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, bytes, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(bytes, 1, n, f);
        fclose(f);
    }
}

TEST(idx_reads_plain_and_gzip) {
    uint8_t file[4 + 12 + 24] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    for (int i = 0; i < 24; i++) file[16 + i] = (uint8_t)(i * 10);
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tmp_path(gz ? "a.gz" : "a.idx");
        write_file(p, file, sizeof file, gz);
        IdxArray a;
        CHECK(idx_read(p, &a) == SN_OK);
        CHECK_EQ_INT(a.ndim, 3);
        CHECK_EQ_INT(a.shape[0], 2);
        CHECK_EQ_INT(a.shape[2], 4);
        CHECK_EQ_INT(a.data[23], 230);
        idx_free(&a);
        unlink(p);
    }
}

TEST(idx_rejects_bad_magic_and_truncation) {
    IdxArray a;
    uint8_t bad[8] = {0, 0, 0x0D, 1, 0, 0, 0, 1}; /* float IDX: unsupported */
    const char *p = tmp_path("bad.idx");
    write_file(p, bad, sizeof bad, 0);
    CHECK(idx_read(p, &a) == SN_ERR);
    CHECK(strstr(sn_errmsg(), "not an unsigned-byte IDX file") != NULL);
    uint8_t trunc[4 + 4 + 5] = {0, 0, 8, 1, 0, 0, 0, 10, 1, 2, 3, 4, 5};
    write_file(p, trunc, sizeof trunc, 1);
    CHECK(idx_read(p, &a) == SN_ERR);
    CHECK_MSG(strstr(sn_errmsg(), "truncated") && strstr(sn_errmsg(), "10 bytes"), "%s", sn_errmsg());
    uint8_t hdr_only[3] = {0, 0, 8};
    write_file(p, hdr_only, sizeof hdr_only, 0);
    CHECK(idx_read(p, &a) == SN_ERR);
    CHECK(strstr(sn_errmsg(), "truncated") != NULL);
    unlink(p);
    CHECK(idx_read("/nonexistent/x.idx", &a) == SN_ERR);
    CHECK(strstr(sn_errmsg(), "/nonexistent/x.idx") != NULL);
}

TEST(dataset_select_offset_classes_balance) {
    uint8_t labels[12] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0};
    int64_t idx[12];
    DatasetSelect s = {.n = 3, .offset = 2};
    CHECK_EQ_INT(dataset_select(labels, 12, &s, idx), 3);
    CHECK_EQ_INT(idx[0], 2);
    DatasetSelect c = {.n = -1, .nclasses = 1, .classes = {2}};
    CHECK_EQ_INT(dataset_select(labels, 12, &c, idx), 3);
    CHECK_EQ_INT(idx[2], 8);
    DatasetSelect b = {.n = 6, .balanced = 1};
    CHECK_EQ_INT(dataset_select(labels, 12, &b, idx), 6);
    int per[3] = {0};
    for (int i = 0; i < 6; i++) per[labels[idx[i]]]++;
    CHECK(per[0] == 2 && per[1] == 2 && per[2] == 2);
    DatasetSelect too_many = {.n = 13};
    CHECK(dataset_select(labels, 12, &too_many, idx) < 0);
    CHECK(strstr(sn_errmsg(), "13 samples requested") != NULL);
    DatasetSelect unbalanced = {.n = 12, .balanced = 1}; /* 4 per class, only 3 of class 1 */
    CHECK(dataset_select(labels, 12, &unbalanced, idx) < 0);
    CHECK(strstr(sn_errmsg(), "class") != NULL);
}

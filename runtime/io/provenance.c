/* provenance.c — gathers and writes run provenance (see provenance.h).
 * Hashing goes through OpenSSL's EVP API; versions come from the libraries
 * themselves at run time where they say (OpenBLAS, HDF5). No printing, no
 * Lua: the binding passes in cfg and the command line. */
#include "io/provenance.h"

#include <cblas.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

#ifndef SANITY_GIT_REV
#define SANITY_GIT_REV "unknown"
#endif

static void to_hex(const unsigned char *md, unsigned n, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) hex[2 * i] = digits[md[i] >> 4], hex[2 * i + 1] = digits[md[i] & 15];
    hex[2 * n] = '\0';
}

void provenance_sha256(const void *data, size_t n, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    to_hex(md, len, hex);
}

int provenance_sha256_file(const char *path, char hex[65]) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return sn_errorf("cannot hash '%s': %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, fp)) > 0) ok = EVP_DigestUpdate(ctx, buf, n);
    ok = ok && !ferror(fp) && EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    fclose(fp);
    if (!ok) return sn_errorf("cannot hash '%s': read or digest failed", path);
    to_hex(md, len, hex);
    return SN_OK;
}

static int shell_safe(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-", *s)) return 0;
    return 1;
}

char *provenance_shell_join(int argc, char *const argv[]) {
    size_t cap = 1;
    for (int i = 0; i < argc; i++) cap += 4 * strlen(argv[i]) + 3;
    char *out = malloc(cap), *p = out;
    if (!out) return NULL;
    for (int i = 0; i < argc; i++) {
        if (i) *p++ = ' ';
        const char *a = argv[i];
        if (shell_safe(a)) {
            size_t l = strlen(a);
            memcpy(p, a, l);
            p += l;
            continue;
        }
        *p++ = '\'';
        for (; *a; a++) {
            if (*a == '\'') {
                memcpy(p, "'\\''", 4);
                p += 4;
            } else {
                *p++ = *a;
            }
        }
        *p++ = '\'';
    }
    *p = '\0';
    return out;
}

void provenance_utc(double t, char buf[32]) {
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static double now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* A copy of s with invalid UTF-8 bytes replaced by '?'. */
static char *utf8_clean(const char *s) {
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n + 1);
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        while (k <= 4 && i + k <= n && !results_utf8_valid(c + i, k)) k++;
        if (k > 4 || i + k > n)
            c[i++] = '?';
        else
            i += k;
    }
    return c;
}

static void trim(char *s) {
    char *b = s;
    while (*b == ' ') b++;
    memmove(s, b, strlen(b) + 1);
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n')) s[--n] = '\0';
}

enum { NSTR = 11 };

int provenance_write(ResultsFile *f, const Provenance *p) {
    char sha[65] = "", host[256] = "unknown", hdf5[32], start[32], blas[256];
    if (!p->script || provenance_sha256_file(p->script, sha) != SN_OK) snprintf(sha, sizeof sha, "unknown");
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    results_hdf5_version(hdf5, sizeof hdf5);
    provenance_utc(p->start_time > 0 ? p->start_time : now(), start);
    const char *cfg = openblas_get_config();
    snprintf(blas, sizeof blas, "%s", cfg ? cfg : "unknown");
    trim(blas);

    const char *keys[NSTR] = {"script",         "script_sha256", "command_line",  "cfg_json",
                              "sanity_version", "git_commit",    "lua_version",   "openblas_version",
                              "hdf5_version",   "host",          "start_time_utc"};
    const char *vals[NSTR] = {p->script ? p->script : "unknown",
                              sha,
                              p->command_line ? p->command_line : "",
                              p->cfg_json ? p->cfg_json : "{}",
                              p->sanity_version ? p->sanity_version : "unknown",
                              SANITY_GIT_REV,
                              p->lua_version ? p->lua_version : "unknown",
                              blas,
                              hdf5,
                              host,
                              start};
    ResultsAttr a[NSTR + 2];
    char *clean[NSTR] = {0};
    int rc = SN_OK;
    for (int i = 0; i < NSTR; i++) {
        clean[i] = utf8_clean(vals[i]);
        if (!clean[i]) rc = sn_errorf("out of memory writing provenance");
        a[i] = (ResultsAttr){.key = keys[i], .type = RESULTS_ATTR_STR, .str = clean[i]};
    }
    a[NSTR] = (ResultsAttr){.key = "seed", .type = RESULTS_ATTR_INT, .i = p->seed};
    a[NSTR + 1] = (ResultsAttr){.key = "threads", .type = RESULTS_ATTR_INT, .i = p->threads};
    if (rc == SN_OK) rc = results_set_attrs(f, "/", a, NSTR + 2);
    for (int i = 0; i < NSTR; i++) free(clean[i]);
    return rc;
}

int provenance_finish(ResultsFile *f) {
    char end[32];
    provenance_utc(now(), end);
    ResultsAttr a = {.key = "end_time_utc", .type = RESULTS_ATTR_STR, .str = end};
    return results_set_attrs(f, "/", &a, 1);
}

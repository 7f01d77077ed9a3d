/* units.c — the unit store beside a results file (see units.h): escaping
 * keys to file names, the store's fingerprint, atomic unit files through
 * results.c's .partial/rename discipline, and removal. No Lua, no printing. */
#include "io/units.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "io/provenance.h"

#define KEY_FILE_MAX 160 /* escaped bytes kept before the hash of a long key */
#define FINGERPRINT "store.json"

struct UnitStore {
    char dir[PATH_MAX];
    char *fingerprint;
    int ready; /* directory and store.json exist */
};

/* dir/name into buf; SN_ERR when it does not fit. */
static int join(char *buf, size_t n, const char *dir, const char *name) {
    int w = snprintf(buf, n, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= n) return sn_errorf("unit store '%s': file name too long", dir);
    return SN_OK;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void fsync_dir(const char *p) {
    int fd = open(p, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

static char *read_text(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = 2 * cap + 8192;
            char *p = realloc(buf, cap);
            if (!p) break;
            buf = p;
        }
        size_t r = fread(buf + n, 1, 4096, fp);
        n += r;
        if (r < 4096) break;
    }
    fclose(fp);
    if (buf) buf[n] = '\0';
    return buf;
}

/* Writes text to dir/name via a temporary file, fsync and rename. */
static int write_atomic(const char *dir, const char *name, const char *text) {
    char tmp[PATH_MAX], dst[PATH_MAX];
    if (join(dst, sizeof dst, dir, name) != SN_OK) return SN_ERR;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", dst) >= (int)sizeof tmp)
        return sn_errorf("unit store '%s': file name too long", dir);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return sn_errorf("unit store '%s': cannot write '%s': %s", dir, tmp, strerror(errno));
    size_t len = strlen(text);
    int ok = fwrite(text, 1, len, fp) == len && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    ok = fclose(fp) == 0 && ok;
    if (!ok || rename(tmp, dst) != 0) {
        int e = errno;
        remove(tmp);
        return sn_errorf("unit store '%s': cannot write '%s': %s", dir, dst, strerror(e));
    }
    fsync_dir(dir);
    return SN_OK;
}

/* "cfg differs in: noise (0.1 stored, 0.2 now), out (...)" for two JSON
 * objects; falls back to both texts when they are not objects. */
static void describe_difference(const char *stored, const char *now, char *buf, size_t n) {
    cJSON *a = cJSON_Parse(stored), *b = cJSON_Parse(now);
    size_t used = 0;
    buf[0] = '\0';
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        int shown = 0;
        for (int pass = 0; pass < 2; pass++) {
            cJSON *x = pass ? b : a, *y = pass ? a : b, *it;
            cJSON_ArrayForEach(it, x) {
                cJSON *other = cJSON_GetObjectItemCaseSensitive(y, it->string);
                if (pass && other) continue; /* compared in the first pass */
                if (other && cJSON_Compare(it, other, 1)) continue;
                char *sx = cJSON_PrintUnformatted(it), *so = other ? cJSON_PrintUnformatted(other) : NULL;
                char *st = pass ? so : sx, *nw = pass ? sx : so;
                int w = snprintf(buf + used, n - used, "%s%s (%s stored, %s now)", shown++ ? ", " : "", it->string,
                                 st ? st : "absent", nw ? nw : "absent");
                free(sx);
                free(so);
                if (w < 0 || (size_t)w >= n - used) {
                    used = n - 1;
                    break;
                }
                used += (size_t)w;
            }
        }
    }
    if (!buf[0]) snprintf(buf, n, "stored %.200s, now %.200s", stored, now);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

int units_open(UnitStore **out, const char *path, int resume, const char *fingerprint) {
    *out = NULL;
    UnitStore *s = calloc(1, sizeof *s);
    if (!s) return sn_errorf("out of memory opening the unit store of '%s'", path);
    if (snprintf(s->dir, sizeof s->dir, "%s.units", path) >= (int)sizeof s->dir) {
        free(s);
        return sn_errorf("results file name '%s' is too long", path);
    }
    s->fingerprint = strdup(fingerprint ? fingerprint : "{}");
    if (!s->fingerprint) {
        free(s);
        return sn_errorf("out of memory opening the unit store of '%s'", path);
    }
    if (!exists(s->dir)) {
        *out = s;
        return SN_OK;
    }
    if (!resume) {
        if (units_remove(s) != SN_OK) {
            units_free(s);
            return SN_ERR;
        }
        *out = s;
        return SN_OK;
    }
    char fp[PATH_MAX];
    char *stored = join(fp, sizeof fp, s->dir, FINGERPRINT) == SN_OK ? read_text(fp) : NULL;
    if (!stored) {
        /* killed between mkdir and store.json: no unit can exist yet */
        if (units_count(s) == 0) {
            *out = s;
            return SN_OK;
        }
        units_free(s);
        return sn_errorf("unit store '%s' has units but no %s; it was not made by this version of sanity (remove "
                         "it or run without --resume)",
                         fp, FINGERPRINT);
    }
    int same = strcmp(stored, s->fingerprint) == 0;
    if (!same) {
        char diff[1024];
        describe_difference(stored, s->fingerprint, diff, sizeof diff);
        free(stored);
        int rc = sn_errorf("cannot resume from unit store '%s': it holds units of another configuration (%s); run "
                           "without --resume to start over",
                           s->dir, diff);
        units_free(s);
        return rc;
    }
    free(stored);
    s->ready = 1;
    *out = s;
    return SN_OK;
}

void units_free(UnitStore *s) {
    if (!s) return;
    free(s->fingerprint);
    free(s);
}

const char *units_dir(const UnitStore *s) {
    return s->dir;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int units_count(const UnitStore *s) {
    DIR *d = opendir(s->dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += ends_with(e->d_name, ".h5");
    closedir(d);
    return n;
}

int units_file(const UnitStore *s, const char *key, char *buf, size_t n) {
    if (!key || !*key) return sn_errorf("unit key is empty");
    static const char hex[] = "0123456789ABCDEF";
    char name[KEY_FILE_MAX + 80];
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)key; *p && used < KEY_FILE_MAX; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                    *p == '-' || (*p == '.' && p != (const unsigned char *)key);
        if (plain) {
            name[used++] = (char)*p;
        } else {
            name[used++] = '%';
            name[used++] = hex[*p >> 4];
            name[used++] = hex[*p & 15];
        }
    }
    name[used] = '\0';
    if (used >= KEY_FILE_MAX) { /* long key: a prefix for people, a hash for uniqueness */
        char sha[65];
        provenance_sha256(key, strlen(key), sha);
        snprintf(name + KEY_FILE_MAX - 20, sizeof name - (KEY_FILE_MAX - 20), "~%.16s", sha);
    }
    if (snprintf(buf, n, "%s/%s.h5", s->dir, name) >= (int)n) return sn_errorf("unit file name is too long");
    return SN_OK;
}

int units_has(const UnitStore *s, const char *key) {
    char p[PATH_MAX];
    return units_file(s, key, p, sizeof p) == SN_OK && exists(p);
}

static int make_ready(UnitStore *s) {
    if (s->ready) return SN_OK;
    if (mkdir(s->dir, 0777) != 0 && errno != EEXIST)
        return sn_errorf("cannot create unit store '%s': %s", s->dir, strerror(errno));
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", s->dir);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *(slash == parent ? slash + 1 : slash) = '\0';
        fsync_dir(parent);
    } else {
        fsync_dir(".");
    }
    if (write_atomic(s->dir, FINGERPRINT, s->fingerprint) != SN_OK) return SN_ERR;
    s->ready = 1;
    return SN_OK;
}

int units_begin(UnitStore *s, const char *key, ResultsFile **out) {
    *out = NULL;
    char p[PATH_MAX];
    if (units_file(s, key, p, sizeof p) != SN_OK || make_ready(s) != SN_OK) return SN_ERR;
    return results_create(out, p);
}

int units_commit(ResultsFile *f) {
    int rc = results_close(f, 1);
    results_free(f);
    return rc;
}

int units_read(const UnitStore *s, const char *key, ResultsFile **out) {
    char p[PATH_MAX];
    *out = NULL;
    if (units_file(s, key, p, sizeof p) != SN_OK) return SN_ERR;
    return results_open(out, p, RESULTS_READ);
}

void units_drop(const UnitStore *s, const char *key) {
    char p[PATH_MAX];
    if (units_file(s, key, p, sizeof p) == SN_OK) remove(p);
}

int units_remove(UnitStore *s) {
    DIR *d = opendir(s->dir);
    if (!d) {
        s->ready = 0;
        return errno == ENOENT ? SN_OK : sn_errorf("cannot remove unit store '%s': %s", s->dir, strerror(errno));
    }
    char foreign[256] = "";
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        int ours = ends_with(e->d_name, ".h5") || ends_with(e->d_name, ".h5.partial") ||
                   strcmp(e->d_name, FINGERPRINT) == 0 || strcmp(e->d_name, FINGERPRINT ".tmp") == 0;
        if (!ours) {
            if (!foreign[0]) snprintf(foreign, sizeof foreign, "%s", e->d_name);
            continue;
        }
        char p[PATH_MAX];
        if (join(p, sizeof p, s->dir, e->d_name) == SN_OK) remove(p);
    }
    closedir(d);
    s->ready = 0;
    if (foreign[0])
        return sn_errorf("unit store '%s' holds a file sanity did not write ('%s'); remove it by hand", s->dir,
                         foreign);
    if (rmdir(s->dir) != 0) return sn_errorf("cannot remove unit store '%s': %s", s->dir, strerror(errno));
    return SN_OK;
}

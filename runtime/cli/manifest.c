/* manifest.c — reading, writing and comparing DIR/sweep.json (see
 * manifest.h). JSON through cJSON; values keep their canonical text (1.0
 * stays a float) by being written raw. No processes, no HDF5. */
#include "cli/manifest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "error.h"
#include "io/provenance.h"

#define FORMAT "sanity-sweep/1"

static int compute_ids(Manifest *m) {
    m->ids = calloc((size_t)(m->grid.nruns ? m->grid.nruns : 1), sizeof *m->ids);
    if (!m->ids) return sn_errorf("out of memory listing sweep runs");
    for (int64_t r = 0; r < m->grid.nruns; r++)
        if (grid_run_id(&m->grid, m->script_name, r, m->ids[r]) != SN_OK) return SN_ERR;
    return SN_OK;
}

int manifest_init(Manifest *m, const char *script, Grid *grid) {
    memset(m, 0, sizeof *m);
    m->grid = *grid;
    memset(grid, 0, sizeof *grid);
    const char *slash = strrchr(script, '/');
    char sha[65], utc[32];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    provenance_utc((double)tv.tv_sec, utc);
    if (provenance_sha256_file(script, sha) != SN_OK) return SN_ERR;
    m->script = strdup(script);
    m->script_name = strdup(slash ? slash + 1 : script);
    m->script_sha256 = strdup(sha);
    m->created_utc = strdup(utc);
    if (!m->script || !m->script_name || !m->script_sha256 || !m->created_utc)
        return sn_errorf("out of memory listing sweep runs");
    return compute_ids(m);
}

void manifest_free(Manifest *m) {
    free(m->script);
    free(m->script_name);
    free(m->script_sha256);
    free(m->created_utc);
    free(m->ids);
    grid_free(&m->grid);
    memset(m, 0, sizeof *m);
}

int manifest_path(const char *dir, const char *sub, const char *id, const char *suffix, char *buf, size_t n) {
    int w = sub ? snprintf(buf, n, "%s/%s/%s%s", dir, sub, id, suffix) : snprintf(buf, n, "%s/%s%s", dir, id, suffix);
    if (w < 0 || (size_t)w >= n) return sn_errorf("sweep directory name '%s' is too long", dir);
    return SN_OK;
}

char *manifest_label(const Manifest *m, int64_t r) {
    const Grid *g = &m->grid;
    int idx[GRID_MAX_KEYS], swept = 0;
    grid_run(g, r, idx);
    size_t len = 1;
    for (int i = 0; i < g->nkeys; i++) {
        swept += g->keys[i].n > 1;
        len += strlen(g->keys[i].name) + strlen(g->keys[i].values[idx[i]].text) + 2;
    }
    char *out = malloc(len), *p = out;
    if (!out) return NULL;
    *p = '\0';
    for (int i = 0; i < g->nkeys; i++) {
        if (swept && g->keys[i].n == 1) continue;
        p += sprintf(p, "%s%s=%s", p == out ? "" : " ", g->keys[i].name, g->keys[i].values[idx[i]].text);
    }
    return out;
}

static cJSON *to_json(const Manifest *m) {
    cJSON *root = cJSON_CreateObject(), *keys = cJSON_CreateArray(), *grid = cJSON_CreateObject(),
          *runs = cJSON_CreateArray();
    cJSON_AddItemToObject(root, "format", cJSON_CreateString(FORMAT));
    cJSON_AddItemToObject(root, "script", cJSON_CreateString(m->script));
    cJSON_AddItemToObject(root, "script_name", cJSON_CreateString(m->script_name));
    cJSON_AddItemToObject(root, "script_sha256", cJSON_CreateString(m->script_sha256));
    cJSON_AddItemToObject(root, "created_utc", cJSON_CreateString(m->created_utc));
    cJSON_AddItemToObject(root, "keys", keys);
    cJSON_AddItemToObject(root, "grid", grid);
    cJSON_AddItemToObject(root, "runs", runs);
    const Grid *g = &m->grid;
    for (int i = 0; i < g->nkeys; i++) {
        cJSON *k = cJSON_CreateObject(), *vals = cJSON_CreateArray();
        cJSON_AddItemToArray(keys, cJSON_CreateString(g->keys[i].name));
        cJSON_AddItemToObject(k, "spec", cJSON_CreateString(g->keys[i].spec));
        for (int j = 0; j < g->keys[i].n; j++) cJSON_AddItemToArray(vals, cJSON_CreateRaw(g->keys[i].values[j].canon));
        cJSON_AddItemToObject(k, "values", vals);
        cJSON_AddItemToObject(grid, g->keys[i].name, k);
    }
    int idx[GRID_MAX_KEYS];
    for (int64_t r = 0; r < g->nruns; r++) {
        cJSON *run = cJSON_CreateObject(), *args = cJSON_CreateArray(), *config = cJSON_CreateObject();
        grid_run(g, r, idx);
        cJSON_AddItemToObject(run, "index", cJSON_CreateNumber((double)r));
        cJSON_AddItemToObject(run, "id", cJSON_CreateString(m->ids[r]));
        for (int i = 0; i < g->nkeys; i++) {
            const GridValue *v = &g->keys[i].values[idx[i]];
            char *a = malloc(strlen(g->keys[i].name) + strlen(v->text) + 2);
            if (a) sprintf(a, "%s=%s", g->keys[i].name, v->text);
            cJSON_AddItemToArray(args, cJSON_CreateString(a ? a : ""));
            free(a);
            cJSON_AddItemToObject(config, g->keys[i].name, cJSON_CreateRaw(v->canon));
        }
        cJSON_AddItemToObject(run, "args", args);
        cJSON_AddItemToObject(run, "config", config);
        cJSON_AddItemToArray(runs, run);
    }
    return root;
}

static char *read_file(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(fp);
    return buf;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int manifest_load(Manifest *m, const char *dir) {
    memset(m, 0, sizeof *m);
    char path[PATH_MAX];
    if (manifest_path(dir, NULL, "sweep", ".json", path, sizeof path) != SN_OK) return SN_ERR;
    char *text = read_file(path);
    if (!text) {
        if (errno == ENOENT) return sn_errorf("'%s' is not a sweep directory (no %s)", dir, path);
        return sn_errorf("cannot read %s: %s", path, strerror(errno));
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    int rc = SN_ERR;
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(root, "grid");
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(root, "runs");
    const char *format = jstr(root, "format");
    if (!root || !format || strcmp(format, FORMAT) != 0 || !jstr(root, "script") || !jstr(root, "script_name") ||
        !cJSON_IsArray(keys) || !cJSON_IsObject(grid) || !cJSON_IsArray(runs)) {
        sn_errorf("%s is not a sanity sweep manifest (%s format or missing fields)", path,
                  root ? "unknown" : "not JSON, or a bad");
        goto done;
    }
    m->script = strdup(jstr(root, "script"));
    m->script_name = strdup(jstr(root, "script_name"));
    m->script_sha256 = strdup(jstr(root, "script_sha256") ? jstr(root, "script_sha256") : "unknown");
    m->created_utc = strdup(jstr(root, "created_utc") ? jstr(root, "created_utc") : "unknown");
    const cJSON *k;
    cJSON_ArrayForEach(k, keys) {
        const cJSON *entry = cJSON_IsString(k) ? cJSON_GetObjectItemCaseSensitive(grid, k->valuestring) : NULL;
        const char *spec = entry ? jstr(entry, "spec") : NULL;
        if (!spec) {
            sn_errorf("%s: key %s has no spec in \"grid\"", path, cJSON_IsString(k) ? k->valuestring : "?");
            goto done;
        }
        char *arg = malloc(strlen(k->valuestring) + strlen(spec) + 2);
        if (!arg) {
            sn_errorf("out of memory reading %s", path);
            goto done;
        }
        sprintf(arg, "%s=%s", k->valuestring, spec);
        int r = grid_add(&m->grid, arg);
        free(arg);
        if (r != SN_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", sn_errmsg());
            sn_errorf("%s: %s", path, msg);
            goto done;
        }
    }
    if (grid_finish(&m->grid) != SN_OK || compute_ids(m) != SN_OK) goto done;
    if (cJSON_GetArraySize(runs) != m->grid.nruns) {
        sn_errorf("%s lists %d runs but its grid has %lld", path, cJSON_GetArraySize(runs), (long long)m->grid.nruns);
        goto done;
    }
    int64_t r = 0;
    const cJSON *run;
    cJSON_ArrayForEach(run, runs) {
        const char *id = jstr(run, "id");
        if (!id || strcmp(id, m->ids[r]) != 0) {
            sn_errorf("%s: run %lld has id %s, but its grid gives %s (the manifest was edited, or written by "
                      "another version of sanity)",
                      path, (long long)r, id ? id : "(none)", m->ids[r]);
            goto done;
        }
        r++;
    }
    rc = SN_OK;
done:
    cJSON_Delete(root);
    if (rc != SN_OK) manifest_free(m);
    return rc;
}

int manifest_same(const Manifest *a, const Manifest *b, char *why, size_t n) {
    why[0] = '\0';
    if (strcmp(a->script_name, b->script_name) != 0) {
        snprintf(why, n, "script %s in the manifest, %s here", a->script_name, b->script_name);
        return 0;
    }
    int same = a->grid.nruns == b->grid.nruns;
    for (int64_t r = 0; same && r < a->grid.nruns; r++) same = strcmp(a->ids[r], b->ids[r]) == 0;
    if (same) return 1;
    size_t used = 0;
    for (int pass = 0; pass < 2; pass++) { /* keys on one side only */
        const Grid *x = pass ? &b->grid : &a->grid, *y = pass ? &a->grid : &b->grid;
        for (int i = 0; i < x->nkeys; i++)
            if (grid_find(y, x->keys[i].name) < 0 && used < n)
                used += (size_t)snprintf(why + used, n - used, "%skey %s only %s", used ? "; " : "", x->keys[i].name,
                                         pass ? "here" : "in the manifest");
    }
    for (int i = 0; i < a->grid.nkeys; i++) {
        int j = grid_find(&b->grid, a->grid.keys[i].name);
        if (j < 0 || used >= n) continue;
        const GridKey *ka = &a->grid.keys[i], *kb = &b->grid.keys[j];
        int eq = ka->n == kb->n;
        for (int v = 0; eq && v < ka->n; v++) eq = strcmp(ka->values[v].canon, kb->values[v].canon) == 0;
        if (!eq)
            used += (size_t)snprintf(why + used, n - used, "%s%s=%s in the manifest, %s=%s here", used ? "; " : "",
                                     ka->name, ka->spec, kb->name, kb->spec);
    }
    if (!used) snprintf(why, n, "the runs differ");
    return 0;
}

int manifest_write(const Manifest *m, const char *dir, int *created) {
    *created = 0;
    char path[PATH_MAX], tmp[PATH_MAX];
    if (manifest_path(dir, NULL, "sweep", ".json", path, sizeof path) != SN_OK) return SN_ERR;
    if (snprintf(tmp, sizeof tmp, "%s/.sweep.json.%ld.tmp", dir, (long)getpid()) >= (int)sizeof tmp)
        return sn_errorf("sweep directory name '%s' is too long", dir);
    cJSON *root = to_json(m);
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return sn_errorf("out of memory writing %s", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        free(text);
        return sn_errorf("cannot write to the sweep directory '%s': %s", dir, strerror(errno));
    }
    size_t len = strlen(text);
    int ok = fwrite(text, 1, len, fp) == len && fputc('\n', fp) != EOF && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    ok = fclose(fp) == 0 && ok;
    free(text);
    if (!ok) {
        int e = errno;
        unlink(tmp);
        return sn_errorf("cannot write %s: %s", tmp, strerror(e));
    }
    /* link(2) fails if the name exists: of shards starting together, one wins */
    int rc = SN_OK;
    if (link(tmp, path) == 0)
        *created = 1;
    else if (errno != EEXIST)
        rc = sn_errorf("cannot create %s: %s", path, strerror(errno));
    unlink(tmp);
    return rc;
}

/* merge.c — `sanity merge DIR -o MERGED.h5`: a sweep's run files joined in
 * one results file along a new leading `run` dimension.
 *
 *   /config/<key>    [run]  every grid key (numbers or strings), /config/id
 *                           and /config/index (position in the grid)
 *   /provenance/<a>  [run]  each run's provenance attributes (script_sha256,
 *                           start_time_utc, host, cfg_json, ...)
 *   /<array>         [run, ...]  every array of the runs, stacked, with the
 *                           runs' dimension names and coordinates; the `run`
 *                           dimension's coordinates are the run ids
 *   attributes       of arrays and groups: copied when all runs agree, else
 *                    one value per run (an array attribute)
 *   root attributes  the merge's own provenance, plus sweep_dir, runs_merged,
 *                    runs_skipped, script, script_sha256
 *
 * Runs come in grid order, so any shard split merges to the same file. Runs
 * not complete yet are skipped with a note; corrupt files are skipped with
 * a warning; arrays that differ across runs in shape, type, dimension names
 * or coordinates, and runs made by different versions of the script, stop
 * the merge with a report of which runs differ (nothing is written).
 * --pad joins arrays whose dimensions differ in length (a sweep over
 * stop_layer: 3 steps in one run, 5 in another) on their coordinates, an
 * outer join as xarray's: the merged dimension holds every coordinate in
 * order of first appearance, entries a run lacks are NaN ("" for strings). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "cli/cli.h"
#include "cli/manifest.h"
#include "error.h"
#include "host.h"
#include "io/provenance.h"
#include "io/results.h"

static const char *merge_usage = "usage: sanity merge DIR -o MERGED.h5 [--pad] [--any-script] [--quiet]\n"
                                 "  joins the runs of the sweep in DIR (DIR/sweep.json, DIR/runs/<id>.h5) into one\n"
                                 "  file with a leading 'run' dimension: /config/<key> [run] holds each run's\n"
                                 "  configuration, every array of the runs is stacked along 'run'\n"
                                 "  --pad          join arrays whose dimensions differ in length across runs on\n"
                                 "                 their coordinates (outer join); missing entries are NaN\n"
                                 "  --any-script   merge runs made by different versions of the script (their\n"
                                 "                 script_sha256 is kept in /provenance)\n"
                                 "  --quiet        no summary line\n";

#define MAX_LIST 8 /* runs named in one message */

typedef struct RunIn {
    int64_t index;
    const char *id;
    char path[PATH_MAX];
    char *label;
    ResultsAttrList root; /* provenance */
    const char *sha;      /* in root */
} RunIn;

/* Coordinates of one dimension, growing by union under --pad. Numbers are
 * kept as doubles and written back in their original type. */
typedef struct Coords {
    int has;
    ResultsType type;
    int64_t n;
    double *num;
    char **str;
} Coords;

typedef struct ArrayIn {
    char *name;
    ResultsInfo info; /* the first run's; shape becomes the union's under --pad */
    Coords co[TENSOR_MAX_DIMS];
    int padded[TENSOR_MAX_DIMS];
    ResultsAttrList *attrs; /* one per merged run */
    /* strings are stacked in memory: n per run */
    char **strs;
    int64_t per_run;
} ArrayIn;

typedef struct Merge {
    const char *dir, *out;
    int any_script, quiet, pad;
    Manifest m;
    RunIn *runs; /* merged ones, in grid order */
    int nruns;
    ArrayIn *arrays;
    int narrays;
    char **groups;            /* groups holding arrays, sorted, without "/" */
    ResultsAttrList **gattrs; /* [group][run] */
    int ngroups;
} Merge;

static const char *attr_value(const ResultsAttrList *l, const char *key) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i].key, key) == 0 && l->items[i].type == RESULTS_ATTR_STR) return l->items[i].str;
    return NULL;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static double num_at(const ResultsArray *a, int64_t i) {
    return a->type == RESULTS_F32   ? ((const float *)a->data)[i]
           : a->type == RESULTS_F64 ? ((const double *)a->data)[i]
                                    : (double)((const int64_t *)a->data)[i];
}

static int64_t coords_len(const ResultsArray *a) {
    return a->ndim ? a->shape[0] : 1;
}

static void coords_free(Coords *c) {
    for (int64_t i = 0; c->str && i < c->n; i++) free(c->str[i]);
    free(c->str);
    free(c->num);
    memset(c, 0, sizeof *c);
}

/* Index of a's element i in c, or -1. */
static int64_t coords_find(const Coords *c, const ResultsArray *a, int64_t i) {
    if ((c->type == RESULTS_STR) != (a->type == RESULTS_STR)) return -1;
    for (int64_t k = 0; k < c->n; k++) {
        if (a->type == RESULTS_STR ? strcmp(c->str[k], ((const char *const *)a->data)[i]) == 0
                                   : c->num[k] == num_at(a, i))
            return k;
    }
    return -1;
}

/* Appends a's values not in c yet (all of them when c is empty). */
static int coords_union(Coords *c, const ResultsArray *a) {
    int64_t n = coords_len(a);
    if (!c->has) c->type = a->type;
    c->has = 1;
    for (int64_t i = 0; i < n; i++) {
        if (c->n && coords_find(c, a, i) >= 0) continue;
        if (c->type == RESULTS_STR) {
            char **p = realloc(c->str, (size_t)(c->n + 1) * sizeof *p);
            if (!p) return sn_errorf("out of memory");
            c->str = p;
            if (!(c->str[c->n] = strdup(((const char *const *)a->data)[i]))) return sn_errorf("out of memory");
        } else {
            double *p = realloc(c->num, (size_t)(c->n + 1) * sizeof *p);
            if (!p) return sn_errorf("out of memory");
            c->num = p;
            c->num[c->n] = num_at(a, i);
        }
        c->n++;
    }
    return SN_OK;
}

static int coords_same(const Coords *c, const ResultsArray *a) {
    if (!c->has || (c->type == RESULTS_STR) != (a->type == RESULTS_STR) || c->n != coords_len(a)) return 0;
    for (int64_t i = 0; i < c->n; i++)
        if (coords_find(c, a, i) != i) return 0;
    return 1;
}

/* c as an array in its original element type; *buf is to be freed. */
static int coords_array(const Coords *c, ResultsArray *out, void **buf) {
    memset(out, 0, sizeof *out);
    out->type = c->type;
    out->ndim = 1;
    out->shape[0] = c->n;
    *buf = NULL;
    if (c->type == RESULTS_STR) {
        out->data = c->str;
        return SN_OK;
    }
    *buf = malloc((size_t)(c->n ? c->n : 1) * 8);
    if (!*buf) return sn_errorf("out of memory");
    for (int64_t i = 0; i < c->n; i++) {
        if (c->type == RESULTS_F32)
            ((float *)*buf)[i] = (float)c->num[i];
        else if (c->type == RESULTS_I64)
            ((int64_t *)*buf)[i] = (int64_t)c->num[i];
        else
            ((double *)*buf)[i] = c->num[i];
    }
    out->data = *buf;
    return SN_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The signature of the first run: its arrays (dimension scales excluded)
 * with coordinates. */
static int first_signature(Merge *g, ResultsFile *f, const ResultsNames *names) {
    g->arrays = calloc((size_t)(names->n ? names->n : 1), sizeof *g->arrays);
    if (!g->arrays) return sn_errorf("out of memory");
    for (int64_t i = 0; i < names->n; i++) {
        ResultsInfo info;
        if (results_info(f, names->names[i], &info) != SN_OK) return SN_ERR;
        if (info.is_scale) continue;
        ArrayIn *a = &g->arrays[g->narrays++];
        a->name = strdup(names->names[i]);
        a->info = info;
        if (!a->name) return sn_errorf("out of memory");
        if (info.type == RESULTS_OTHER)
            return sn_errorf("array %s has type %s, which merge cannot stack", a->name, info.dtype);
        if (info.ndim + 1 > TENSOR_MAX_DIMS)
            return sn_errorf("array %s has %d dimensions; stacked along 'run' it would exceed %d", a->name, info.ndim,
                             TENSOR_MAX_DIMS);
        for (int d = 0; d < info.ndim; d++) {
            if (strcmp(info.dims[d], "run") == 0)
                return sn_errorf("array %s already has a dimension named 'run'", a->name);
            ResultsArray c;
            if (info.dims[d][0] && results_dim_coords(f, a->name, d, &c) == SN_OK) {
                int rc = coords_union(&a->co[d], &c);
                results_array_free(&c);
                if (rc != SN_OK) return SN_ERR;
            }
        }
    }
    /* groups holding the arrays, for their attributes */
    g->groups = calloc((size_t)(g->narrays ? g->narrays : 1), sizeof *g->groups);
    if (!g->groups) return sn_errorf("out of memory");
    for (int i = 0; i < g->narrays; i++) {
        const char *slash = strrchr(g->arrays[i].name, '/');
        if (slash == g->arrays[i].name) continue;
        char *grp = strndup(g->arrays[i].name, (size_t)(slash - g->arrays[i].name));
        if (!grp) return sn_errorf("out of memory");
        int seen = 0;
        for (int k = 0; k < g->ngroups && !seen; k++) seen = strcmp(g->groups[k], grp) == 0;
        if (seen)
            free(grp);
        else
            g->groups[g->ngroups++] = grp;
    }
    qsort(g->groups, (size_t)g->ngroups, sizeof *g->groups, cmp_str);
    return SN_OK;
}

/* Compares run r's arrays with the first run's; appends to `report`. */
static int check_run(Merge *g, int r, ResultsFile *f, const ResultsNames *names, char *report, size_t n,
                     int *problems) {
    const RunIn *first = &g->runs[0], *run = &g->runs[r];
    size_t used = strlen(report);
#define PROBLEM(...)                                                                                                   \
    do {                                                                                                               \
        if (++*problems <= 20 && used < n) used += (size_t)snprintf(report + used, n - used, __VA_ARGS__);             \
    } while (0)
    int seen = 0;
    for (int64_t i = 0; i < names->n; i++) {
        ResultsInfo info;
        if (results_info(f, names->names[i], &info) != SN_OK) return SN_ERR;
        if (info.is_scale) continue;
        int k = -1;
        for (int j = 0; j < g->narrays && k < 0; j++)
            if (strcmp(g->arrays[j].name, names->names[i]) == 0) k = j;
        if (k < 0) {
            PROBLEM("  array %s is in run %s (%s) but not in run %s (%s)\n", names->names[i], run->id, run->label,
                    first->id, first->label);
            continue;
        }
        seen++;
        ArrayIn *a = &g->arrays[k];
        char s1[256], s2[256];
        shape_text(info.ndim, info.shape, s1, sizeof s1);
        shape_text(a->info.ndim, a->info.shape, s2, sizeof s2);
        if (strcmp(info.dtype, a->info.dtype) != 0) {
            PROBLEM("  array %s is %s in run %s (%s) but %s in run %s (%s)\n", a->name, info.dtype, run->id, run->label,
                    a->info.dtype, first->id, first->label);
        } else if (info.ndim != a->info.ndim || (!g->pad && strcmp(s1, s2) != 0)) {
            PROBLEM("  array %s has shape %s in run %s (%s) but %s in run %s (%s)\n", a->name, s1, run->id, run->label,
                    s2, first->id, first->label);
        } else {
            for (int d = 0; d < info.ndim; d++) {
                if (strcmp(info.dims[d], a->info.dims[d]) != 0) {
                    PROBLEM("  array %s: dimension %d is '%s' in run %s (%s) but '%s' in run %s (%s)\n", a->name, d + 1,
                            info.dims[d], run->id, run->label, a->info.dims[d], first->id, first->label);
                    break;
                }
                ResultsArray c;
                int has = info.dims[d][0] && results_dim_coords(f, a->name, d, &c) == SN_OK;
                int same = has == a->co[d].has && (!has || coords_same(&a->co[d], &c));
                if (!same && g->pad && has && a->co[d].has) {
                    int rc = coords_union(&a->co[d], &c); /* an outer join on this dimension */
                    results_array_free(&c);
                    if (rc != SN_OK) return SN_ERR;
                    a->padded[d] = 1;
                    continue;
                }
                if (has) results_array_free(&c);
                if (!same && g->pad)
                    PROBLEM("  array %s: dimension %d ('%s') differs between run %s (%s) and run %s (%s) and has no "
                            "coordinates to join on\n",
                            a->name, d + 1, info.dims[d][0] ? info.dims[d] : "unnamed", run->id, run->label, first->id,
                            first->label);
                else if (!same)
                    PROBLEM("  array %s: coordinates of dimension '%s' differ between run %s (%s) and run %s (%s)%s\n",
                            a->name, info.dims[d], run->id, run->label, first->id, first->label, " (--pad joins them)");
                if (!same) break;
            }
        }
    }
    if (seen < g->narrays)
        for (int j = 0; j < g->narrays; j++)
            if (!results_has(f, g->arrays[j].name))
                PROBLEM("  array %s is in run %s (%s) but not in run %s (%s)\n", g->arrays[j].name, first->id,
                        first->label, run->id, run->label);
#undef PROBLEM
    return SN_OK;
}

/* One attribute per run, or the common value: writes attributes of `obj`
 * from per-run lists l[0..nr). */
static int merge_attrs(ResultsFile *out, const char *obj, ResultsAttrList *const *l, int nr, int stride) {
    const ResultsAttrList *first = l[0];
    for (int i = 0; i < first->n; i++) {
        const ResultsAttr *a = &first->items[i];
        int same = 1, numeric = 1;
        for (int r = 0; r < nr; r++) {
            const ResultsAttrList *x = l[(size_t)r * (size_t)stride];
            const ResultsAttr *b = NULL;
            for (int k = 0; k < x->n && !b; k++)
                if (strcmp(x->items[k].key, a->key) == 0) b = &x->items[k];
            if (!b) {
                same = 0;
                continue;
            }
            numeric &= b->type == RESULTS_ATTR_INT || b->type == RESULTS_ATTR_NUM || b->type == RESULTS_ATTR_BOOL;
            if (b->type != a->type) {
                same = 0;
                continue;
            }
            switch (a->type) {
            case RESULTS_ATTR_INT:
            case RESULTS_ATTR_BOOL:
                same &= a->i == b->i;
                break;
            case RESULTS_ATTR_NUM:
                same &= memcmp(&a->num, &b->num, sizeof a->num) == 0;
                break;
            case RESULTS_ATTR_STR:
                same &= strcmp(a->str, b->str) == 0;
                break;
            default:
                same = 0; /* array attributes: kept from the first run only when all agree; rare */
                break;
            }
        }
        if (same) {
            if (results_set_attrs(out, obj, a, 1) != SN_OK) return SN_ERR;
            continue;
        }
        if (a->type == RESULTS_ATTR_NUMS || a->type == RESULTS_ATTR_STRS) continue;
        /* per run: numbers when all are numbers, else text ("" when absent) */
        double *nums = calloc((size_t)nr, sizeof *nums);
        char **strs = calloc((size_t)nr, sizeof *strs);
        int rc = nums && strs ? SN_OK : sn_errorf("out of memory");
        for (int r = 0; r < nr && rc == SN_OK; r++) {
            const ResultsAttrList *x = l[(size_t)r * (size_t)stride];
            const ResultsAttr *b = NULL;
            for (int k = 0; k < x->n && !b; k++)
                if (strcmp(x->items[k].key, a->key) == 0) b = &x->items[k];
            char buf[64] = "";
            if (!b)
                nums[r] = NAN;
            else if (b->type == RESULTS_ATTR_NUM)
                nums[r] = b->num, snprintf(buf, sizeof buf, "%.17g", b->num);
            else if (b->type == RESULTS_ATTR_INT || b->type == RESULTS_ATTR_BOOL)
                nums[r] = (double)b->i, snprintf(buf, sizeof buf, "%lld", (long long)b->i);
            strs[r] = strdup(b && b->type == RESULTS_ATTR_STR ? b->str : buf);
            if (!strs[r]) rc = sn_errorf("out of memory");
        }
        if (rc == SN_OK) {
            ResultsAttr per = {.key = a->key, .n = nr};
            if (numeric)
                per.type = RESULTS_ATTR_NUMS, per.nums = nums;
            else
                per.type = RESULTS_ATTR_STRS, per.strs = (const char *const *)strs;
            rc = results_set_attrs(out, obj, &per, 1);
        }
        for (int r = 0; strs && r < nr; r++) free(strs[r]);
        free(strs);
        free(nums);
        if (rc != SN_OK) return SN_ERR;
    }
    return SN_OK;
}

/* /config/<key>, /config/id, /config/index, each [run]. */
static int write_config(Merge *g, ResultsFile *out, const ResultsArray *ids, const ResultsDim *rundim) {
    const Grid *gr = &g->m.grid;
    int nr = g->nruns;
    int idx[GRID_MAX_KEYS];
    ResultsWriteOpts o = {.dims = rundim};
    for (int k = 0; k < gr->nkeys; k++) {
        const GridKey *key = &gr->keys[k];
        int all_int = 1, all_num = 1;
        for (int v = 0; v < key->n; v++) {
            all_int &= key->values[v].type == GRID_INT;
            all_num &= key->values[v].type == GRID_INT || key->values[v].type == GRID_NUM;
        }
        void *buf = malloc((size_t)(nr ? nr : 1) * 8);
        if (!buf) return sn_errorf("out of memory");
        for (int r = 0; r < nr; r++) {
            grid_run(gr, g->runs[r].index, idx);
            const GridValue *v = &key->values[idx[k]];
            if (all_int)
                ((int64_t *)buf)[r] = v->i;
            else if (all_num)
                ((double *)buf)[r] = v->type == GRID_INT ? (double)v->i : v->num;
            else
                ((const char **)buf)[r] = v->text;
        }
        ResultsArray a = {.type = all_int   ? RESULTS_I64
                                  : all_num ? RESULTS_F64
                                            : RESULTS_STR,
                          .ndim = 1,
                          .shape = {nr},
                          .data = buf};
        char name[RESULTS_NAME_MAX];
        snprintf(name, sizeof name, "config/%s", key->name);
        ResultsAttr spec = {.key = "spec", .type = RESULTS_ATTR_STR, .str = key->spec};
        ResultsWriteOpts ko = {.dims = rundim, .attrs = &spec, .nattrs = 1};
        int rc = results_write(out, name, &a, &ko);
        free(buf);
        if (rc != SN_OK) return SN_ERR;
    }
    if (results_write(out, "config/id", ids, &o) != SN_OK) return SN_ERR;
    int64_t *index = malloc((size_t)(nr ? nr : 1) * sizeof *index);
    if (!index) return sn_errorf("out of memory");
    for (int r = 0; r < nr; r++) index[r] = g->runs[r].index;
    ResultsArray ia = {.type = RESULTS_I64, .ndim = 1, .shape = {nr}, .data = index};
    int rc = results_write(out, "config/index", &ia, &o);
    free(index);
    return rc;
}

/* /provenance/<attr> [run]: integers stay integers, the rest as text. */
static int write_provenance(Merge *g, ResultsFile *out, const ResultsDim *rundim) {
    const ResultsAttrList *first = &g->runs[0].root;
    int nr = g->nruns;
    for (int i = 0; i < first->n; i++) {
        const char *key = first->items[i].key;
        int all_int = 1;
        const ResultsAttr **vals = calloc((size_t)nr, sizeof *vals);
        if (!vals) return sn_errorf("out of memory");
        for (int r = 0; r < nr; r++) {
            const ResultsAttrList *l = &g->runs[r].root;
            for (int k = 0; k < l->n && !vals[r]; k++)
                if (strcmp(l->items[k].key, key) == 0) vals[r] = &l->items[k];
            all_int &= vals[r] && vals[r]->type == RESULTS_ATTR_INT;
        }
        void *buf = calloc((size_t)nr, 8);
        char **texts = calloc((size_t)nr, sizeof *texts);
        int rc = buf && texts ? SN_OK : sn_errorf("out of memory");
        for (int r = 0; r < nr && rc == SN_OK; r++) {
            if (all_int) {
                ((int64_t *)buf)[r] = vals[r]->i;
                continue;
            }
            char tmp[64] = "";
            const ResultsAttr *v = vals[r];
            if (v && v->type == RESULTS_ATTR_INT) snprintf(tmp, sizeof tmp, "%lld", (long long)v->i);
            if (v && v->type == RESULTS_ATTR_NUM) snprintf(tmp, sizeof tmp, "%.17g", v->num);
            if (v && v->type == RESULTS_ATTR_BOOL) snprintf(tmp, sizeof tmp, "%s", v->i ? "true" : "false");
            texts[r] = strdup(v && v->type == RESULTS_ATTR_STR ? v->str : tmp);
            ((const char **)buf)[r] = texts[r];
            if (!texts[r]) rc = sn_errorf("out of memory");
        }
        if (rc == SN_OK) {
            ResultsArray a = {.type = all_int ? RESULTS_I64 : RESULTS_STR, .ndim = 1, .shape = {nr}, .data = buf};
            char name[RESULTS_NAME_MAX];
            snprintf(name, sizeof name, "provenance/%s", key);
            ResultsWriteOpts o = {.dims = rundim};
            rc = results_write(out, name, &a, &o);
        }
        for (int r = 0; texts && r < nr; r++) free(texts[r]);
        free(texts);
        free(buf);
        free(vals);
        if (rc != SN_OK) return SN_ERR;
    }
    return SN_OK;
}

/* Creates every stacked array (numbers reserved, filled run by run). */
static int create_arrays(Merge *g, ResultsFile *out, const ResultsArray *ids) {
    for (int i = 0; i < g->narrays; i++) {
        ArrayIn *a = &g->arrays[i];
        ResultsDim dims[TENSOR_MAX_DIMS];
        ResultsArray shape = {.type = a->info.type, .ndim = a->info.ndim + 1};
        shape.shape[0] = g->nruns;
        dims[0] = (ResultsDim){"run", ids};
        ResultsArray carr[TENSOR_MAX_DIMS];
        void *cbuf[TENSOR_MAX_DIMS] = {0};
        int rc = SN_OK;
        for (int d = 0; d < a->info.ndim; d++) {
            if (a->padded[d]) a->info.shape[d] = a->co[d].n;
            shape.shape[d + 1] = a->info.shape[d];
            dims[d + 1].name = a->info.dims[d][0] ? a->info.dims[d] : NULL;
            dims[d + 1].coords = NULL;
            if (a->co[d].has && rc == SN_OK && (rc = coords_array(&a->co[d], &carr[d], &cbuf[d])) == SN_OK)
                dims[d + 1].coords = &carr[d];
        }
        a->per_run = 1;
        for (int d = 0; d < a->info.ndim; d++) a->per_run *= a->info.shape[d];
        int padded = 0;
        for (int d = 0; d < a->info.ndim; d++) padded |= a->padded[d];
        if (rc == SN_OK && padded && a->info.type == RESULTS_I64)
            rc = sn_errorf("array %s holds integers and its runs differ in shape; --pad needs floats (NaN marks "
                           "missing entries)",
                           a->name);
        if (rc == SN_OK && a->info.type == RESULTS_STR) {
            a->strs = calloc((size_t)(a->per_run * g->nruns + 1), sizeof *a->strs);
            if (!a->strs) rc = sn_errorf("out of memory");
        } else if (rc == SN_OK) {
            ResultsWriteOpts o = {.dims = dims, .reserve = 1};
            rc = results_write(out, a->name, &shape, &o);
        }
        for (int d = 0; d < TENSOR_MAX_DIMS; d++) free(cbuf[d]);
        if (rc != SN_OK) return SN_ERR;
    }
    return SN_OK;
}

static int write_strings(Merge *g, ResultsFile *out, const ResultsArray *ids) {
    for (int i = 0; i < g->narrays; i++) {
        ArrayIn *a = &g->arrays[i];
        if (a->info.type != RESULTS_STR) continue;
        ResultsDim dims[TENSOR_MAX_DIMS];
        ResultsArray arr = {.type = RESULTS_STR, .ndim = a->info.ndim + 1, .data = a->strs};
        ResultsArray carr[TENSOR_MAX_DIMS];
        void *cbuf[TENSOR_MAX_DIMS] = {0};
        int rc = SN_OK;
        arr.shape[0] = g->nruns;
        dims[0] = (ResultsDim){"run", ids};
        for (int d = 0; d < a->info.ndim; d++) {
            arr.shape[d + 1] = a->info.shape[d];
            dims[d + 1].name = a->info.dims[d][0] ? a->info.dims[d] : NULL;
            dims[d + 1].coords = NULL;
            if (a->co[d].has && rc == SN_OK && (rc = coords_array(&a->co[d], &carr[d], &cbuf[d])) == SN_OK)
                dims[d + 1].coords = &carr[d];
        }
        for (int64_t k = 0; k < a->per_run * g->nruns && rc == SN_OK; k++) /* entries a padded run lacks */
            if (!a->strs[k] && !(a->strs[k] = strdup(""))) rc = sn_errorf("out of memory");
        ResultsWriteOpts o = {.dims = dims};
        if (rc == SN_OK) rc = results_write(out, a->name, &arr, &o);
        for (int d = 0; d < TENSOR_MAX_DIMS; d++) free(cbuf[d]);
        if (rc != SN_OK) return SN_ERR;
    }
    return SN_OK;
}

/* Spreads run array x (read from f) over the merged shape of a: each
 * padded dimension's entries go where their coordinates are in the union;
 * the rest is NaN (strings: NULL, filled with "" later). x is replaced. */
static int pad_run(ArrayIn *a, ResultsFile *f, ResultsArray *x) {
    int64_t *map[TENSOR_MAX_DIMS] = {0};
    int rc = SN_OK;
    for (int d = 0; d < x->ndim && rc == SN_OK; d++) {
        ResultsArray c;
        if (!a->padded[d]) continue;
        if ((rc = results_dim_coords(f, a->name, d, &c)) != SN_OK) break;
        map[d] = malloc((size_t)(x->shape[d] ? x->shape[d] : 1) * sizeof **map);
        for (int64_t i = 0; map[d] && i < x->shape[d]; i++) map[d][i] = coords_find(&a->co[d], &c, i);
        results_array_free(&c);
        if (!map[d]) rc = sn_errorf("out of memory");
    }
    size_t es = x->type == RESULTS_F32 ? 4 : 8; /* strings: pointers, 8 here too */
    char *buf = rc == SN_OK ? malloc((size_t)(a->per_run ? a->per_run : 1) * es) : NULL;
    if (rc == SN_OK && !buf) rc = sn_errorf("out of memory");
    if (rc == SN_OK) {
        for (int64_t k = 0; k < a->per_run; k++) {
            if (x->type == RESULTS_F32)
                ((float *)buf)[k] = NAN;
            else if (x->type == RESULTS_F64)
                ((double *)buf)[k] = NAN;
            else
                ((const char **)buf)[k] = NULL;
        }
        int64_t n = 1, idx[TENSOR_MAX_DIMS] = {0};
        for (int d = 0; d < x->ndim; d++) n *= x->shape[d];
        for (int64_t k = 0; k < n; k++) {
            int64_t dst = 0;
            for (int d = 0; d < x->ndim; d++) {
                int64_t j = a->padded[d] ? map[d][idx[d]] : idx[d];
                dst = dst * a->info.shape[d] + j;
            }
            memcpy(buf + (size_t)dst * es, (const char *)x->data + (size_t)k * es, es);
            for (int d = x->ndim - 1; d >= 0; d--) { /* next multi-index */
                if (++idx[d] < x->shape[d]) break;
                idx[d] = 0;
            }
        }
    }
    for (int d = 0; d < TENSOR_MAX_DIMS; d++) free(map[d]);
    if (rc != SN_OK) return rc;
    /* strings keep pointing into x's block: hand it over with the new layout */
    void *old = x->owned;
    x->owned = NULL;
    ResultsArray y = {.type = x->type, .ndim = x->ndim, .data = buf, .owned = buf};
    for (int d = 0; d < x->ndim; d++) y.shape[d] = a->info.shape[d];
    if (x->type == RESULTS_STR) {
        /* copy the strings out before the block goes */
        for (int64_t k = 0; k < a->per_run && rc == SN_OK; k++) {
            const char *s = ((const char **)buf)[k];
            if (s && !(((char **)buf)[k] = strdup(s))) rc = sn_errorf("out of memory");
        }
    }
    free(old);
    *x = y;
    return rc;
}

/* Copies run r's arrays into their rows. */
static int copy_run(Merge *g, ResultsFile *out, int r) {
    ResultsFile *f;
    if (results_open(&f, g->runs[r].path, RESULTS_READ) != SN_OK) return SN_ERR;
    int rc = SN_OK;
    for (int i = 0; i < g->narrays && rc == SN_OK; i++) {
        ArrayIn *a = &g->arrays[i];
        ResultsArray x;
        int padded = 0;
        for (int d = 0; d < a->info.ndim; d++) padded |= a->padded[d];
        if ((rc = results_read_array(f, a->name, &x)) != SN_OK) break;
        if (padded && (rc = pad_run(a, f, &x)) != SN_OK) {
            results_array_free(&x);
            break;
        }
        if (a->info.type == RESULTS_STR && padded) {
            for (int64_t k = 0; k < a->per_run; k++) /* already copies: take them over */
                a->strs[(int64_t)r * a->per_run + k] = ((char **)x.data)[k];
        } else if (a->info.type == RESULTS_STR) {
            for (int64_t k = 0; k < a->per_run && rc == SN_OK; k++) {
                char *s = strdup(((const char *const *)x.data)[k]);
                a->strs[(int64_t)r * a->per_run + k] = s;
                if (!s) rc = sn_errorf("out of memory");
            }
        } else {
            ResultsArray row = {.type = x.type, .ndim = x.ndim + 1, .data = x.data};
            row.shape[0] = 1;
            for (int d = 0; d < x.ndim; d++) row.shape[d + 1] = x.shape[d];
            rc = results_write_rows(out, a->name, r, &row);
        }
        results_array_free(&x);
    }
    results_free(f);
    if (rc != SN_OK) {
        char msg[SN_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", sn_errmsg());
        return sn_errorf("reading run %s: %s", g->runs[r].path, msg);
    }
    return SN_OK;
}

static void merge_free(Merge *g) {
    for (int r = 0; r < g->nruns; r++) {
        free(g->runs[r].label);
        results_attrs_free(&g->runs[r].root);
    }
    free(g->runs);
    for (int i = 0; i < g->narrays; i++) {
        ArrayIn *a = &g->arrays[i];
        free(a->name);
        for (int d = 0; d < TENSOR_MAX_DIMS; d++) coords_free(&a->co[d]);
        for (int r = 0; a->attrs && r < g->nruns; r++) results_attrs_free(&a->attrs[r]);
        free(a->attrs);
        for (int64_t k = 0; a->strs && k < a->per_run * g->nruns; k++) free(a->strs[k]);
        free(a->strs);
    }
    free(g->arrays);
    for (int k = 0; k < g->ngroups; k++) {
        for (int r = 0; g->gattrs && g->gattrs[k] && r < g->nruns; r++) results_attrs_free(&g->gattrs[k][r]);
        if (g->gattrs) free(g->gattrs[k]);
        free(g->groups[k]);
    }
    free(g->gattrs);
    free(g->groups);
    manifest_free(&g->m);
}

int cli_merge(int argc, char **argv) {
    Merge g = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(merge_usage, stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sanity merge: %s needs a file name\n%s", a, merge_usage);
                return 2;
            }
            g.out = argv[++i];
        } else if (strcmp(a, "--any-script") == 0) {
            g.any_script = 1;
        } else if (strcmp(a, "--pad") == 0) {
            g.pad = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            g.quiet = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "sanity merge: unknown option '%s'\n%s", a, merge_usage);
            return 2;
        } else if (!g.dir) {
            g.dir = a;
        } else {
            fprintf(stderr, "sanity merge: one sweep directory at a time ('%s' and '%s')\n", g.dir, a);
            return 2;
        }
    }
    if (!g.dir || !g.out) {
        fprintf(stderr, "sanity merge: needs a sweep directory and -o MERGED.h5\n%s", merge_usage);
        return 2;
    }
    if (manifest_load(&g.m, g.dir) != SN_OK) {
        fprintf(stderr, "sanity merge: %s\n", sn_errmsg());
        return 1;
    }
    int status = 1, nmissing = 0, ncorrupt = 0, problems = 0;
    char corrupt[1024] = "", report[8192] = "";
    ResultsFile *out = NULL;
    const char **idv = NULL;
    g.runs = calloc((size_t)(g.m.grid.nruns ? g.m.grid.nruns : 1), sizeof *g.runs);
    if (!g.runs) {
        fprintf(stderr, "sanity merge: out of memory\n");
        goto done;
    }

    /* pass 1: which runs, and do they agree */
    for (int64_t r = 0; r < g.m.grid.nruns; r++) {
        RunIn *run = &g.runs[g.nruns];
        memset(run, 0, sizeof *run);
        run->index = r;
        run->id = g.m.ids[r];
        if (manifest_path(g.dir, "runs", run->id, ".h5", run->path, sizeof run->path) != SN_OK) {
            fprintf(stderr, "sanity merge: %s\n", sn_errmsg());
            goto done;
        }
        if (!file_exists(run->path)) {
            nmissing++;
            continue;
        }
        ResultsFile *f;
        ResultsNames names = {0};
        if (results_open(&f, run->path, RESULTS_READ) != SN_OK || results_list(f, &names) != SN_OK ||
            results_attrs(f, "/", &run->root) != SN_OK) {
            fprintf(stderr, "sanity merge: warning: skipping corrupt run file %s: %s\n", run->path, sn_errmsg());
            size_t used = strlen(corrupt);
            int w = used < sizeof corrupt - 1
                        ? snprintf(corrupt + used, sizeof corrupt - used, "%s%s", ncorrupt ? ", " : "", run->path)
                        : 0;
            if (w < 0 || (size_t)w >= sizeof corrupt - used) snprintf(corrupt + sizeof corrupt - 5, 5, "...");
            ncorrupt++;
            results_attrs_free(&run->root);
            results_names_free(&names);
            results_free(f);
            continue;
        }
        run->label = manifest_label(&g.m, r);
        run->sha = attr_value(&run->root, "script_sha256");
        int rc = g.nruns == 0 ? first_signature(&g, f, &names)
                              : check_run(&g, g.nruns, f, &names, report, sizeof report, &problems);
        if (rc == SN_OK && g.nruns > 0 && !g.any_script) {
            const char *s0 = g.runs[0].sha ? g.runs[0].sha : "unknown", *s1 = run->sha ? run->sha : "unknown";
            if (strcmp(s0, s1) != 0) {
                problems++;
                size_t used = strlen(report);
                if (used < sizeof report)
                    snprintf(report + used, sizeof report - used,
                             "  run %s (%s) was made by a different script (script_sha256 %.12s...) than run %s (%s, "
                             "%.12s...)\n",
                             run->id, run->label, s1, g.runs[0].id, g.runs[0].label, s0);
            }
        }
        results_names_free(&names);
        results_free(f);
        if (rc != SN_OK) {
            fprintf(stderr, "sanity merge: run %s: %s\n", run->path, sn_errmsg());
            goto done;
        }
        g.nruns++;
    }
    if (problems) {
        fprintf(stderr, "sanity merge: the runs of %s cannot be stacked:\n%s", g.dir, report);
        if (problems > 20) fprintf(stderr, "  ... and %d more\n", problems - 20);
        fprintf(stderr,
                "nothing written. Arrays must have one shape, type, dimension names and coordinates in "
                "every run%s%s.\n",
                g.pad ? "" : " (--pad joins dimensions of different lengths on their coordinates)",
                g.any_script ? "" : ", and runs must come from one version of the script (or pass --any-script)");
        goto done;
    }
    if (g.nruns == 0) {
        fprintf(stderr, "sanity merge: no complete runs in %s/runs (%d not complete, %d corrupt)\n", g.dir, nmissing,
                ncorrupt);
        goto done;
    }

    /* attributes of arrays and groups, per run */
    for (int i = 0; i < g.narrays; i++) {
        g.arrays[i].attrs = calloc((size_t)g.nruns, sizeof *g.arrays[i].attrs);
        if (!g.arrays[i].attrs) goto oom;
    }
    g.gattrs = calloc((size_t)(g.ngroups ? g.ngroups : 1), sizeof *g.gattrs);
    if (!g.gattrs) goto oom;
    for (int k = 0; k < g.ngroups; k++)
        if (!(g.gattrs[k] = calloc((size_t)g.nruns, sizeof **g.gattrs))) goto oom;
    for (int r = 0; r < g.nruns; r++) {
        ResultsFile *f;
        int rc = results_open(&f, g.runs[r].path, RESULTS_READ);
        for (int i = 0; i < g.narrays && rc == SN_OK; i++)
            rc = results_attrs(f, g.arrays[i].name, &g.arrays[i].attrs[r]);
        for (int k = 0; k < g.ngroups && rc == SN_OK; k++) rc = results_attrs(f, g.groups[k], &g.gattrs[k][r]);
        results_free(f);
        if (rc != SN_OK) {
            fprintf(stderr, "sanity merge: run %s: %s\n", g.runs[r].path, sn_errmsg());
            goto done;
        }
    }

    /* pass 2: write */
    idv = calloc((size_t)(g.nruns > 0 ? g.nruns : 1), sizeof *idv);
    if (!idv) goto oom;
    for (int r = 0; r < g.nruns; r++) idv[r] = g.runs[r].id;
    ResultsArray ids = {.type = RESULTS_STR, .ndim = 1, .shape = {g.nruns}, .data = idv};
    ResultsDim rundim = {"run", &ids};
    if (results_create(&out, g.out) != SN_OK) goto fail;
    char *cmd = provenance_shell_join(argc, argv);
    char cfg[PATH_MAX * 2 + 64];
    snprintf(cfg, sizeof cfg, "{\"merge\":\"%s\",\"out\":\"%s\"}", g.dir, g.out);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char line[PATH_MAX + 64];
    snprintf(line, sizeof line, "sanity merge %s", cmd ? cmd : "");
    free(cmd);
    Provenance p = {.script = NULL,
                    .command_line = line,
                    .cfg_json = cfg,
                    .lua_version = LUA_RELEASE,
                    .sanity_version = SANITY_VERSION,
                    .start_time = (double)tv.tv_sec + tv.tv_usec * 1e-6,
                    .threads = 1};
    if (provenance_write(out, &p) != SN_OK) goto fail;
    const char *sha0 = g.runs[0].sha ? g.runs[0].sha : "unknown";
    int mixed = 0;
    for (int r = 1; r < g.nruns; r++) mixed |= strcmp(g.runs[r].sha ? g.runs[r].sha : "unknown", sha0) != 0;
    ResultsAttr root[] = {
        {.key = "script", .type = RESULTS_ATTR_STR, .str = g.m.script},
        {.key = "script_sha256",
         .type = RESULTS_ATTR_STR,
         .str = mixed ? "mixed (see /provenance/script_sha256)" : sha0},
        {.key = "sweep_dir", .type = RESULTS_ATTR_STR, .str = g.dir},
        {.key = "runs_merged", .type = RESULTS_ATTR_INT, .i = g.nruns},
        {.key = "runs_skipped", .type = RESULTS_ATTR_INT, .i = nmissing + ncorrupt},
        {.key = "runs_in_grid", .type = RESULTS_ATTR_INT, .i = g.m.grid.nruns},
    };
    if (results_set_attrs(out, "/", root, (int)(sizeof root / sizeof root[0])) != SN_OK) goto fail;
    if (write_config(&g, out, &ids, &rundim) != SN_OK || write_provenance(&g, out, &rundim) != SN_OK ||
        create_arrays(&g, out, &ids) != SN_OK)
        goto fail;
    for (int r = 0; r < g.nruns; r++)
        if (copy_run(&g, out, r) != SN_OK) goto fail;
    if (write_strings(&g, out, &ids) != SN_OK) goto fail;
    for (int i = 0; i < g.narrays; i++) {
        ResultsAttrList **l = malloc((size_t)(g.nruns > 0 ? g.nruns : 1) * sizeof *l);
        if (!l) goto oom;
        for (int r = 0; r < g.nruns; r++) l[r] = &g.arrays[i].attrs[r];
        int rc = merge_attrs(out, g.arrays[i].name, l, g.nruns, 1);
        free(l);
        if (rc != SN_OK) goto fail;
    }
    for (int k = 0; k < g.ngroups; k++) {
        ResultsAttrList **l = malloc((size_t)(g.nruns > 0 ? g.nruns : 1) * sizeof *l);
        if (!l) goto oom;
        for (int r = 0; r < g.nruns; r++) l[r] = &g.gattrs[k][r];
        int rc = merge_attrs(out, g.groups[k], l, g.nruns, 1);
        free(l);
        if (rc != SN_OK) goto fail;
    }
    if (provenance_finish(out) != SN_OK || results_close(out, 1) != SN_OK) goto fail;
    if (!g.quiet) {
        printf("merged %d run%s into %s", g.nruns, g.nruns == 1 ? "" : "s", g.out);
        if (nmissing || ncorrupt) {
            printf(", skipped %d (", nmissing + ncorrupt);
            if (ncorrupt) printf("corrupt: %s%s", corrupt, nmissing ? "; " : "");
            if (nmissing) printf("not complete: %d", nmissing);
            printf(")");
        }
        printf("\n");
    }
    status = 0;
    goto done;
oom:
    sn_errorf("out of memory");
fail:
    fprintf(stderr, "sanity merge: %s\n", sn_errmsg());
    if (out) {
        results_close(out, 0);
        remove(results_disk_path(out));
    }
done:
    results_free(out);
    free(idv);
    merge_free(&g);
    return status;
}

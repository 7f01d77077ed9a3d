/* diff.c — `sanity diff A.h5 B.h5`: what differs between two results files:
 * datasets present in one only, dtype, shape, dimension names, values
 * (bit for bit: a resumed run must equal an uninterrupted one exactly) and
 * attributes of the root, groups and datasets. Start/end times are ignored
 * by default. Prints to stdout; exit 0 equal, 1 different, 2 usage or
 * unreadable file. Reads through io/results.h only. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "error.h"
#include "io/results.h"

static const char *diff_usage =
    "usage: sanity diff A.h5 B.h5 [--ignore NAME ...] [--data-only] [--all] [--quiet]\n"
    "  compares two results files: datasets (dtype, shape, dimension names, values bit\n"
    "  for bit) and attributes; exit 0 when equal, 1 when they differ\n"
    "  --ignore NAME  skip attribute NAME everywhere, or (NAME starting with '/') the\n"
    "                 dataset or group NAME and everything under it; repeatable\n"
    "  --data-only    compare datasets only, no attributes\n"
    "  --all          do not ignore the times ignored by default (start_time_utc,\n"
    "                 end_time_utc, and /provenance/start_time_utc, /provenance/end_time_utc\n"
    "                 of merged files)\n"
    "  --quiet        print nothing; the exit status says\n";

#define MAX_IGNORE 64
#define MAX_SHOWN 50

typedef struct Diff {
    const char *ignore[MAX_IGNORE];
    int nignore;
    int data_only, quiet;
    int count;
    const char *a, *b;
} Diff;

static void report(Diff *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(Diff *d, const char *fmt, ...) {
    d->count++;
    if (d->quiet) return;
    if (d->count == MAX_SHOWN + 1) printf("... (more differences not shown)\n");
    if (d->count > MAX_SHOWN) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* Is object path `name` ("/a/b") ignored (itself or a group above it)? */
static int ignored_path(const Diff *d, const char *name) {
    for (int i = 0; i < d->nignore; i++) {
        const char *ig = d->ignore[i];
        if (ig[0] != '/') continue;
        size_t n = strlen(ig);
        while (n > 1 && ig[n - 1] == '/') n--;
        if (strncmp(name, ig, n) == 0 && (name[n] == '\0' || name[n] == '/' || n == 1)) return 1;
    }
    return 0;
}

static int ignored_attr(const Diff *d, const char *key) {
    for (int i = 0; i < d->nignore; i++)
        if (strcmp(d->ignore[i], key) == 0) return 1;
    return 0;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

static void index_text(int ndim, const int64_t *shape, int64_t flat, char *buf, size_t n) {
    int64_t idx[RESULTS_MAX_RANK];
    for (int i = ndim - 1; i >= 0; i--) {
        idx[i] = shape[i] ? flat % shape[i] : 0;
        flat = shape[i] ? flat / shape[i] : 0;
    }
    shape_text(ndim, idx, buf, n);
}

static double num_at(const ResultsArray *a, int64_t i) {
    return a->type == RESULTS_F32   ? ((const float *)a->data)[i]
           : a->type == RESULTS_F64 ? ((const double *)a->data)[i]
                                    : (double)((const int64_t *)a->data)[i];
}

static size_t elem_bytes(ResultsType t) {
    return t == RESULTS_F32 ? 4 : 8;
}

static void compare_values(Diff *d, const char *name, ResultsFile *fa, ResultsFile *fb) {
    ResultsArray a, b;
    if (results_read_array(fa, name, &a) != SN_OK) {
        report(d, "%s: unreadable in %s: %s", name, d->a, sn_errmsg());
        return;
    }
    if (results_read_array(fb, name, &b) != SN_OK) {
        report(d, "%s: unreadable in %s: %s", name, d->b, sn_errmsg());
        results_array_free(&a);
        return;
    }
    int64_t n = 1, ndiff = 0, first = -1;
    double maxabs = 0;
    for (int i = 0; i < a.ndim; i++) n *= a.shape[i];
    for (int64_t i = 0; i < n; i++) {
        int differ;
        if (a.type == RESULTS_STR) {
            differ = strcmp(((const char *const *)a.data)[i], ((const char *const *)b.data)[i]) != 0;
        } else {
            size_t es = elem_bytes(a.type);
            differ = memcmp((const char *)a.data + (size_t)i * es, (const char *)b.data + (size_t)i * es, es) != 0;
            if (differ) {
                double x = num_at(&a, i) - num_at(&b, i);
                x = x < 0 ? -x : x;
                if (x > maxabs || x != x) maxabs = x;
            }
        }
        if (differ && first < 0) first = i;
        ndiff += differ;
    }
    if (ndiff) {
        char at[128], va[128], vb[128];
        index_text(a.ndim, a.shape, first, at, sizeof at);
        if (a.type == RESULTS_STR) {
            snprintf(va, sizeof va, "\"%.50s\"", ((const char *const *)a.data)[first]);
            snprintf(vb, sizeof vb, "\"%.50s\"", ((const char *const *)b.data)[first]);
            report(d, "%s: %lld of %lld values differ (first at %s: %s vs %s)", name, (long long)ndiff, (long long)n,
                   at, va, vb);
        } else {
            snprintf(va, sizeof va, "%.9g", num_at(&a, first));
            snprintf(vb, sizeof vb, "%.9g", num_at(&b, first));
            report(d, "%s: %lld of %lld values differ (first at %s: %s vs %s; max |difference| %.3g)", name,
                   (long long)ndiff, (long long)n, at, va, vb, maxabs);
        }
    }
    results_array_free(&a);
    results_array_free(&b);
}

static void compare_dataset(Diff *d, const char *name, ResultsFile *fa, ResultsFile *fb) {
    ResultsInfo ia, ib;
    if (results_info(fa, name, &ia) != SN_OK || results_info(fb, name, &ib) != SN_OK) {
        report(d, "%s: %s", name, sn_errmsg());
        return;
    }
    if (strcmp(ia.dtype, ib.dtype) != 0) {
        report(d, "%s: dtype %s vs %s", name, ia.dtype, ib.dtype);
        return;
    }
    char sa[256], sb[256];
    shape_text(ia.ndim, ia.shape, sa, sizeof sa);
    shape_text(ib.ndim, ib.shape, sb, sizeof sb);
    if (strcmp(sa, sb) != 0) {
        report(d, "%s: shape %s vs %s", name, sa, sb);
        return;
    }
    for (int i = 0; i < ia.ndim; i++)
        if (strcmp(ia.dims[i], ib.dims[i]) != 0)
            report(d, "%s: dimension %d is named '%s' vs '%s'", name, i + 1, ia.dims[i], ib.dims[i]);
    if (ia.is_scale != ib.is_scale) report(d, "%s: a dimension scale in only one file", name);
    if (ia.type == RESULTS_OTHER) {
        if (!d->quiet) printf("note: %s has type %s; its values are not compared\n", name, ia.dtype);
        return;
    }
    compare_values(d, name, fa, fb);
}

static void attr_text(const ResultsAttr *a, char *buf, size_t n) {
    size_t used = 0;
    switch (a->type) {
    case RESULTS_ATTR_INT:
        snprintf(buf, n, "%lld", (long long)a->i);
        break;
    case RESULTS_ATTR_BOOL:
        snprintf(buf, n, "%s", a->i ? "true" : "false");
        break;
    case RESULTS_ATTR_NUM:
        snprintf(buf, n, "%.17g", a->num);
        break;
    case RESULTS_ATTR_STR:
        snprintf(buf, n, "\"%.100s%s\"", a->str, strlen(a->str) > 100 ? "..." : "");
        break;
    case RESULTS_ATTR_NUMS:
    case RESULTS_ATTR_STRS:
        used = (size_t)snprintf(buf, n, "[");
        for (int64_t i = 0; i < a->n && i < 8 && used < n; i++)
            used += a->type == RESULTS_ATTR_NUMS
                        ? (size_t)snprintf(buf + used, n - used, "%s%.9g", i ? ", " : "", a->nums[i])
                        : (size_t)snprintf(buf + used, n - used, "%s\"%.30s\"", i ? ", " : "", a->strs[i]);
        if (used < n) snprintf(buf + used, n - used, "%s]", a->n > 8 ? ", ..." : "");
        break;
    }
}

static int attr_equal(const ResultsAttr *a, const ResultsAttr *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case RESULTS_ATTR_INT:
    case RESULTS_ATTR_BOOL:
        return a->i == b->i;
    case RESULTS_ATTR_NUM:
        return memcmp(&a->num, &b->num, sizeof a->num) == 0;
    case RESULTS_ATTR_STR:
        return strcmp(a->str, b->str) == 0;
    case RESULTS_ATTR_NUMS:
        return a->n == b->n && (a->n == 0 || memcmp(a->nums, b->nums, (size_t)a->n * sizeof *a->nums) == 0);
    case RESULTS_ATTR_STRS:
        if (a->n != b->n) return 0;
        for (int64_t i = 0; i < a->n; i++)
            if (strcmp(a->strs[i], b->strs[i]) != 0) return 0;
        return 1;
    }
    return 0;
}

static void compare_attrs(Diff *d, const char *obj, ResultsFile *fa, ResultsFile *fb) {
    ResultsAttrList la, lb;
    if (results_attrs(fa, obj, &la) != SN_OK) {
        report(d, "%s: attributes unreadable in %s: %s", obj, d->a, sn_errmsg());
        return;
    }
    if (results_attrs(fb, obj, &lb) != SN_OK) {
        report(d, "%s: attributes unreadable in %s: %s", obj, d->b, sn_errmsg());
        results_attrs_free(&la);
        return;
    }
    int i = 0, j = 0;
    while (i < la.n || j < lb.n) {
        int c = i >= la.n ? 1 : j >= lb.n ? -1 : strcmp(la.items[i].key, lb.items[j].key);
        const char *key = c <= 0 ? la.items[i].key : lb.items[j].key;
        if (ignored_attr(d, key)) {
            i += c <= 0;
            j += c >= 0;
            continue;
        }
        if (c < 0) {
            report(d, "attribute %s @%s: only in %s", obj, key, d->a);
        } else if (c > 0) {
            report(d, "attribute %s @%s: only in %s", obj, key, d->b);
        } else if (!attr_equal(&la.items[i], &lb.items[j])) {
            char va[256], vb[256];
            attr_text(&la.items[i], va, sizeof va);
            attr_text(&lb.items[j], vb, sizeof vb);
            report(d, "attribute %s @%s: %s vs %s", obj, key, va, vb);
        }
        i += c <= 0;
        j += c >= 0;
    }
    results_attrs_free(&la);
    results_attrs_free(&lb);
}

/* Groups holding the datasets of l ("/" first), each once, sorted. */
static int collect_groups(const ResultsNames *l, char ***out, int *n) {
    int cap = 16, cnt = 0;
    char **g = malloc((size_t)cap * sizeof *g);
    if (!g) return SN_ERR;
    g[cnt++] = strdup("/");
    for (int64_t i = 0; i < l->n; i++) {
        char buf[RESULTS_NAME_MAX + 2];
        snprintf(buf, sizeof buf, "%s", l->names[i]);
        for (char *s = strrchr(buf, '/'); s && s != buf; s = strrchr(buf, '/')) {
            *s = '\0';
            int seen = 0;
            for (int k = 0; k < cnt && !seen; k++) seen = strcmp(g[k], buf) == 0;
            if (seen) continue;
            if (cnt == cap) {
                char **p = realloc(g, (size_t)(cap *= 2) * sizeof *g);
                if (!p) break;
                g = p;
            }
            g[cnt++] = strdup(buf);
        }
    }
    *out = g;
    *n = cnt;
    return SN_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cli_diff(int argc, char **argv) {
    Diff d = {.ignore = {"start_time_utc", "end_time_utc", "/provenance/start_time_utc", "/provenance/end_time_utc"},
              .nignore = 4};
    const char *files[2] = {NULL, NULL};
    int nfiles = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(diff_usage, stdout);
            return 0;
        } else if (strcmp(a, "--ignore") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sanity diff: --ignore needs a NAME\n%s", diff_usage);
                return 2;
            }
            if (d.nignore == MAX_IGNORE) {
                fprintf(stderr, "sanity diff: at most %d --ignore names\n", MAX_IGNORE - 4);
                return 2;
            }
            d.ignore[d.nignore++] = argv[++i];
        } else if (strcmp(a, "--data-only") == 0) {
            d.data_only = 1;
        } else if (strcmp(a, "--all") == 0) {
            memmove(d.ignore, d.ignore + 4, (size_t)(d.nignore - 4) * sizeof *d.ignore); /* drop the defaults */
            d.nignore -= 4;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            d.quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "sanity diff: unknown option '%s'\n%s", a, diff_usage);
            return 2;
        } else if (nfiles < 2) {
            files[nfiles++] = a;
        } else {
            fprintf(stderr, "sanity diff: needs exactly two results files\n%s", diff_usage);
            return 2;
        }
    }
    if (nfiles != 2) {
        fprintf(stderr, "sanity diff: needs exactly two results files\n%s", diff_usage);
        return 2;
    }
    d.a = files[0];
    d.b = files[1];
    ResultsFile *fa = NULL, *fb = NULL;
    ResultsNames la = {0}, lb = {0};
    char **groups = NULL;
    int ngroups = 0, status = 2;
    if (results_open(&fa, files[0], RESULTS_READ) != SN_OK || results_open(&fb, files[1], RESULTS_READ) != SN_OK ||
        results_list(fa, &la) != SN_OK || results_list(fb, &lb) != SN_OK) {
        fprintf(stderr, "sanity diff: %s\n", sn_errmsg());
        goto out;
    }
    int64_t i = 0, j = 0;
    while (i < la.n || j < lb.n) {
        int c = i >= la.n ? 1 : j >= lb.n ? -1 : strcmp(la.names[i], lb.names[j]);
        const char *name = c <= 0 ? la.names[i] : lb.names[j];
        if (!ignored_path(&d, name)) {
            if (c < 0)
                report(&d, "%s: only in %s", name, d.a);
            else if (c > 0)
                report(&d, "%s: only in %s", name, d.b);
            else {
                compare_dataset(&d, name, fa, fb);
                if (!d.data_only) compare_attrs(&d, name, fa, fb);
            }
        }
        i += c <= 0;
        j += c >= 0;
    }
    if (!d.data_only) {
        if (collect_groups(&la, &groups, &ngroups) != SN_OK) {
            fprintf(stderr, "sanity diff: out of memory\n");
            goto out;
        }
        qsort(groups, (size_t)ngroups, sizeof *groups, cmp_str);
        for (int k = 0; k < ngroups; k++) {
            if (!groups[k] || ignored_path(&d, groups[k])) continue;
            /* a group only in A shows up as its datasets "only in A" */
            ResultsAttrList tmp;
            if (results_attrs(fb, groups[k], &tmp) != SN_OK) continue;
            results_attrs_free(&tmp);
            compare_attrs(&d, groups[k], fa, fb);
        }
    }
    if (!d.quiet) {
        if (d.count)
            printf("%s and %s differ: %d difference%s\n", d.a, d.b, d.count, d.count == 1 ? "" : "s");
        else
            printf("%s and %s are equal\n", d.a, d.b);
    }
    status = d.count ? 1 : 0;
out:
    for (int k = 0; k < ngroups; k++) free(groups[k]);
    free(groups);
    results_names_free(&la);
    results_names_free(&lb);
    results_free(fa);
    results_free(fb);
    return status;
}

/* info.c — `sanity info FILE.h5`: prints a results file's root attributes
 * (the provenance) and every dataset, one line each:
 *   /mprt/ig     float32 [5, 256]  (layer, sample)
 * followed by the dataset's own attributes, indented. Reads through
 * io/results.h only; prints to stdout, errors to stderr. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "error.h"
#include "io/results.h"

static const char *info_usage = "usage: sanity info FILE.h5\n"
                                "  prints the provenance (root attributes) and every dataset of a results file\n"
                                "  with its dtype, shape and dimension names\n";

static void print_value(const ResultsAttr *a) {
    switch (a->type) {
    case RESULTS_ATTR_INT:
        printf("%lld", (long long)a->i);
        break;
    case RESULTS_ATTR_NUM:
        printf("%.10g", a->num);
        break;
    case RESULTS_ATTR_BOOL:
        printf("%s", a->i ? "true" : "false");
        break;
    case RESULTS_ATTR_STR:
        printf("%s", a->str);
        break;
    case RESULTS_ATTR_NUMS:
        printf("[");
        for (int64_t i = 0; i < a->n; i++) printf("%s%.10g", i ? ", " : "", a->nums[i]);
        printf("]");
        break;
    case RESULTS_ATTR_STRS:
        printf("[");
        for (int64_t i = 0; i < a->n; i++) printf("%s\"%s\"", i ? ", " : "", a->strs[i]);
        printf("]");
        break;
    }
}

static void print_attrs(const ResultsAttrList *l, const char *indent) {
    int w = 0;
    for (int i = 0; i < l->n; i++) {
        int n = (int)strlen(l->items[i].key);
        if (n > w) w = n;
    }
    for (int i = 0; i < l->n; i++) {
        printf("%s%-*s = ", indent, w, l->items[i].key);
        print_value(&l->items[i]);
        printf("\n");
    }
}

static void print_dataset(ResultsFile *f, const char *name, int width) {
    ResultsInfo in;
    if (results_info(f, name, &in) != SN_OK) {
        printf("  %-*s  (unreadable: %s)\n", width, name, sn_errmsg());
        return;
    }
    char shape[256] = "[";
    size_t used = 1;
    for (int i = 0; i < in.ndim && used < sizeof shape; i++)
        used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%lld", i ? ", " : "", (long long)in.shape[i]);
    if (used < sizeof shape) snprintf(shape + used, sizeof shape - used, "]");
    printf("  %-*s  %-7s %s", width, name, in.dtype, shape);
    if (in.is_scale) {
        printf("  dimension scale");
    } else {
        int named = 0;
        for (int i = 0; i < in.ndim; i++) named |= in.dims[i][0] != '\0';
        if (named) {
            printf("  (");
            for (int i = 0; i < in.ndim; i++) printf("%s%s", i ? ", " : "", in.dims[i][0] ? in.dims[i] : "-");
            printf(")");
        }
    }
    if (in.compressed) printf("  gzip");
    printf("\n");
    ResultsAttrList attrs;
    if (results_attrs(f, name, &attrs) == SN_OK) {
        print_attrs(&attrs, "      ");
        results_attrs_free(&attrs);
    }
}

int cli_info(int argc, char **argv) {
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(info_usage, stdout);
        return 0;
    }
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "sanity: info needs exactly one results file\n%s", info_usage);
        return 2;
    }
    ResultsFile *f;
    if (results_open(&f, argv[0], RESULTS_READ) != SN_OK) {
        fprintf(stderr, "sanity: %s\n", sn_errmsg());
        return 1;
    }
    ResultsAttrList root;
    ResultsNames names;
    if (results_attrs(f, "/", &root) != SN_OK || results_list(f, &names) != SN_OK) {
        fprintf(stderr, "sanity: %s\n", sn_errmsg());
        results_free(f);
        return 1;
    }
    printf("%s\n", argv[0]);
    printf("provenance:\n");
    if (root.n == 0) printf("  (none)\n");
    print_attrs(&root, "  ");
    printf("datasets:\n");
    if (names.n == 0) printf("  (none)\n");
    int width = 0;
    for (int64_t i = 0; i < names.n; i++) {
        int n = (int)strlen(names.names[i]);
        if (n > width) width = n;
    }
    for (int64_t i = 0; i < names.n; i++) print_dataset(f, names.names[i], width);
    results_attrs_free(&root);
    results_names_free(&names);
    results_free(f);
    return 0;
}

/* unit_main.c — runs every registered C test (optionally those whose name
 * contains argv[1]) and prints "N passed, N failed". Run from the repo root
 * or set SANITY_ROOT so fixtures are found. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define MAX_TESTS 1024

typedef struct {
    const char *name;
    TestFn fn;
} TestCase;

static TestCase tests[MAX_TESTS];
static int ntests;
static int current_failures;
static const char *current_name;

void test_register(const char *name, TestFn fn) {
    if (ntests < MAX_TESTS) tests[ntests].name = name, tests[ntests++].fn = fn;
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (current_failures < 10) fprintf(stderr, "FAIL %s (%s:%d): %s\n", current_name, file, line, msg);
    current_failures++;
}

const char *test_fixture(const char *name) {
    static char buf[4096];
    const char *root = getenv("SANITY_ROOT");
    snprintf(buf, sizeof buf, "%s/tests/fixtures/%s", root && *root ? root : ".", name);
    return buf;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const TestCase *)a)->name, ((const TestCase *)b)->name);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    qsort(tests, (size_t)ntests, sizeof tests[0], by_name);
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        current_name = tests[i].name;
        current_failures = 0;
        tests[i].fn();
        if (current_failures)
            failed++;
        else
            passed++;
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* test.h — a minimal C test harness. TEST(name) { ... } registers a test at
 * load time; CHECK* record failures with file:line and keep going. The runner
 * (unit_main.c) prints one line per failure and "N passed, N failed". */
#ifndef SANITY_TEST_H
#define SANITY_TEST_H

#include <math.h>
#include <stdio.h>

typedef void (*TestFn)(void);
void test_register(const char *name, TestFn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                         \
    static void name(void);                                                \
    __attribute__((constructor)) static void register_##name(void) {       \
        test_register(#name, name);                                        \
    }                                                                      \
    static void name(void)

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) test_fail(__FILE__, __LINE__, "%s", #cond);           \
    } while (0)

#define CHECK_MSG(cond, ...)                                               \
    do {                                                                   \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);           \
    } while (0)

/* |a-b| <= tol (absolute). */
#define CHECK_NEAR(a, b, tol)                                              \
    do {                                                                   \
        double a_ = (double)(a), b_ = (double)(b);                         \
        if (!(fabs(a_ - b_) <= (tol)))                                     \
            test_fail(__FILE__, __LINE__, "%s = %.9g, %s = %.9g, |diff| %.3g > %g", #a, a_, #b, b_, \
                      fabs(a_ - b_), (double)(tol));                       \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                 \
    do {                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                \
        if (a_ != b_) test_fail(__FILE__, __LINE__, "%s = %lld, expected %lld", #a, a_, b_); \
    } while (0)

/* Path of a committed fixture, relative to the repository root. */
const char *test_fixture(const char *name);

#endif

/* test_parallel.c — every task runs once, and errors come back with the
 * message of the lowest failing task whatever the thread count. */
#include <string.h>

#include "error.h"
#include "parallel.h"
#include "test.h"

static int mark(void *ctx, int64_t task, int worker) {
    (void)worker;
    ((int *)ctx)[task]++;
    return SN_OK;
}

static int fail_some(void *ctx, int64_t task, int worker) {
    (void)ctx, (void)worker;
    if (task == 17 || task == 40) return sn_errorf("task %lld failed", (long long)task);
    return SN_OK;
}

TEST(parallel_runs_each_task_once) {
    int hits[1000];
    for (int threads = 1; threads <= 4; threads++) {
        memset(hits, 0, sizeof hits);
        CHECK(parallel_for(threads, 1000, mark, hits) == SN_OK);
        int ok = 1;
        for (int i = 0; i < 1000; i++) ok &= hits[i] == 1;
        CHECK(ok);
    }
}

TEST(parallel_reports_lowest_failing_task) {
    for (int threads = 1; threads <= 3; threads++) {
        sn_errclear();
        CHECK(parallel_for(threads, 64, fail_some, NULL) == SN_ERR);
        CHECK_MSG(strcmp(sn_errmsg(), "task 17 failed") == 0, "got '%s'", sn_errmsg());
    }
}

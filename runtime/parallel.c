/* parallel.c — a fork-join loop over tasks with pthreads (see parallel.h).
 * Threads are created per call: a call costs ~20 us, far below the work of a
 * layer over a batch, and there is no pool to own, leak or shut down. */
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

typedef struct {
    ParallelFn fn;
    void *ctx;
    int64_t ntasks;
    atomic_llong next;
    pthread_mutex_t lock;
    int64_t failed_task; /* lowest failing task, or ntasks */
    char msg[SN_ERRMSG_MAX];
} Job;

typedef struct {
    Job *job;
    int worker;
} WorkerArg;

static void run_tasks(Job *job, int worker) {
    for (;;) {
        int64_t t = atomic_fetch_add(&job->next, 1);
        if (t >= job->ntasks) return;
        if (job->fn(job->ctx, t, worker) != SN_OK) {
            pthread_mutex_lock(&job->lock);
            if (t < job->failed_task) {
                job->failed_task = t;
                strncpy(job->msg, sn_errmsg(), sizeof job->msg - 1);
            }
            pthread_mutex_unlock(&job->lock);
        }
    }
}

static void *worker_main(void *p) {
    WorkerArg *a = p;
    run_tasks(a->job, a->worker);
    return NULL;
}

int parallel_for(int nthreads, int64_t ntasks, ParallelFn fn, void *ctx) {
    if (ntasks <= 0) return SN_OK;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > ntasks) nthreads = (int)ntasks;
    if (nthreads > 64) nthreads = 64;
    Job job = {.fn = fn, .ctx = ctx, .ntasks = ntasks, .failed_task = ntasks};
    atomic_init(&job.next, 0);
    pthread_mutex_init(&job.lock, NULL);
    pthread_t tid[64];
    WorkerArg args[64];
    int started = 0;
    for (int w = 1; w < nthreads; w++) {
        args[w] = (WorkerArg){&job, w};
        if (pthread_create(&tid[w], NULL, worker_main, &args[w]) != 0) break;
        started = w;
    }
    run_tasks(&job, 0); /* if thread creation failed, the caller does the rest */
    for (int w = 1; w <= started; w++) pthread_join(tid[w], NULL);
    pthread_mutex_destroy(&job.lock);
    if (job.failed_task < ntasks) return sn_errorf("%s", job.msg);
    return SN_OK;
}

int parallel_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

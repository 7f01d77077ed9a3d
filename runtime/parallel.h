/* parallel.h — run independent tasks on a few threads, deterministically.
 * Tasks must write disjoint outputs, so the result never depends on which
 * thread ran which task or in what order; that is how sanity stays
 * bit-identical for any --threads. OpenBLAS itself is kept single-threaded
 * (host.c) and called from inside tasks. */
#ifndef SANITY_PARALLEL_H
#define SANITY_PARALLEL_H

#include <stdint.h>

/* fn returns SN_OK or SN_ERR (with sn_errorf); `worker` is in [0, nthreads)
 * and indexes per-thread scratch space. */
typedef int (*ParallelFn)(void *ctx, int64_t task, int worker);

/* Runs fn(ctx, t, w) for t in [0, ntasks) on min(nthreads, ntasks) threads
 * (the caller is one of them). Returns SN_ERR with the first failing task's
 * message (lowest task index, so the message is deterministic too). */
int parallel_for(int nthreads, int64_t ntasks, ParallelFn fn, void *ctx);

/* Number of online CPUs (at least 1). */
int parallel_cpu_count(void);

#endif

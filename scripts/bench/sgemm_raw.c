/* sgemm_raw.c — the reference for scripts/bench/matmul.lua: GFLOP/s of one
 * raw cblas_sgemm call on M=N=K (default 512), OpenBLAS using T threads.
 * usage: bench_sgemm [size] [threads] [reps] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 512, threads = argc > 2 ? atoi(argv[2]) : 1, reps = argc > 3 ? atoi(argv[3]) : 50;
    float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n),
          *c = malloc(sizeof(float) * (size_t)n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = (float)(i % 7) - 3, b[i] = (float)(i % 5) - 2;
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        t = now() - t;
        if (t < best) best = t;
    }
    printf("%.2f\n", 2.0 * n * n * n / best / 1e9);
    free(a), free(b), free(c);
    return 0;
}

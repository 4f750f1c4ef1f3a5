/* fanout: 10,000 CPU tasks of uneven size over all P's with goroutines and a
 * waitgroup, timed with maxprocs=1 and maxprocs=<CPUs>;
 * speedup = t(1P) / t(all P). */
#include "bench_common.h"

static gmp_waitgroup wg;
static uint64_t *results;

/* xorshift64 for 1000 + (i*7919 % 50000) iterations: the same values as
 * bench/go/fanout. */
static uint64_t task(int64_t i) {
    int64_t iters = 1000 + (i * 7919) % 50000, k;
    uint64_t x = (uint64_t)(i + 1) * UINT64_C(0x9E3779B97F4A7C15);
    for (k = 0; k < iters; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

static void worker(void *arg) {
    int64_t i = (int64_t)(intptr_t)arg;
    results[i] = task(i);
    CHECK(gmp_waitgroup_done(&wg));
}

static int64_t round_(int64_t n, uint64_t *sum) {
    int64_t t0 = gmp_now(), el, i;
    uint64_t s = 0;
    CHECK(gmp_waitgroup_add(&wg, n));
    for (i = 0; i < n; i++) CHECK(gmp_go(worker, (void *)(intptr_t)i));
    CHECK(gmp_waitgroup_wait(&wg));
    el = gmp_now() - t0;
    for (i = 0; i < n; i++) s += results[i];
    *sum = s;
    return el;
}

static void run(void *unused) {
    int64_t n = bench_scaled(10000, 1), t1, tall;
    int ncpu = bench_ncpu();
    uint64_t sum1, sumall;
    double speedup;
    (void)unused;
    results = calloc((size_t)n, sizeof *results);
    if (results == NULL) bench_fail("out of memory");

    CHECK(gmp_maxprocs(1));
    t1 = round_(n, &sum1);
    CHECK(gmp_maxprocs(ncpu));
    if (gmp_maxprocs(0) != ncpu) bench_fail("gmp_maxprocs(0) = %d, want %d", gmp_maxprocs(0), ncpu);
    tall = round_(n, &sumall);
    if (sum1 != sumall)
        bench_fail("fanout: sums differ: %" PRIu64 " (1P) vs %" PRIu64 " (%dP)", sum1, sumall, ncpu);
    speedup = (double)t1 / (double)tall;
    fprintf(stderr, "fanout: %" PRId64 " tasks, 1P %.3f ms, %dP %.3f ms, speedup %.3f, sum %" PRIu64 "\n",
            n, t1 / 1e6, ncpu, tall / 1e6, speedup, sum1);
    fprintf(stderr, "INFO name=fanout tasks=%" PRId64 " procs=%d t1_ms=%.3f tall_ms=%.3f sum=%" PRIu64 "\n",
            n, ncpu, t1 / 1e6, tall / 1e6, sum1);
    free(results);
    bench_result("fanout", "speedup", speedup);
}

int main(void) {
    bench_main(run, NULL);
    return 0;
}

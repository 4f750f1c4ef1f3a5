/* yield: two goroutines alternating with gmp_gosched() on one P, 1,000,000
 * yields each; ns per switch (total time / total yields). */
#include "bench_common.h"

static gmp_waitgroup wg;
static int64_t n;

static void yielder(void *unused) {
    int64_t i;
    (void)unused;
    for (i = 0; i < n; i++) gmp_gosched();
    CHECK(gmp_waitgroup_done(&wg));
}

static void run(void *unused) {
    int64_t t0, el;
    (void)unused;
    n = bench_scaled(1000000, 1);
    CHECK(gmp_maxprocs(1));
    if (gmp_maxprocs(0) != 1) bench_fail("gmp_maxprocs(0) = %d after gmp_maxprocs(1)", gmp_maxprocs(0));
    CHECK(gmp_waitgroup_add(&wg, 2));
    t0 = gmp_now();
    CHECK(gmp_go(yielder, NULL));
    CHECK(gmp_go(yielder, NULL));
    CHECK(gmp_waitgroup_wait(&wg));
    el = gmp_now() - t0;
    fprintf(stderr, "yield: 2 x %" PRId64 " yields in %.3f ms\n", n, el / 1e6);
    bench_result("yield", "ns_per_op", (double)el / (double)(2 * n));
}

int main(void) {
    bench_main(run, NULL);
    return 0;
}

/* spawn: 1,000,000 goroutines that do nothing but gmp_waitgroup_done, spawned
 * from the main goroutine and joined by a waitgroup; ns per goroutine. */
#include "bench_common.h"

static gmp_waitgroup wg;

static void noop(void *arg) { CHECK(gmp_waitgroup_done((gmp_waitgroup *)arg)); }

static void run(void *unused) {
    int64_t n = bench_scaled(1000000, 1), t0, el, i;
    (void)unused;
    t0 = gmp_now();
    CHECK(gmp_waitgroup_add(&wg, n));
    for (i = 0; i < n; i++) CHECK(gmp_go(noop, &wg));
    CHECK(gmp_waitgroup_wait(&wg));
    el = gmp_now() - t0;
    fprintf(stderr, "spawn: %" PRId64 " goroutines in %.3f ms\n", n, el / 1e6);
    bench_result("spawn", "ns_per_op", (double)el / (double)n);
}

int main(void) {
    bench_main(run, NULL);
    return 0;
}

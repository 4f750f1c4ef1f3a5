/* handoff: the libgmp half of the syscall hand-off latency benchmark (bench/NET.md).
 *
 * Each iteration, every P's goroutine enters a 10 ms blocking call
 * (gmp_blocking(usleep(10000))). The last of them to arrive, with all the others
 * already in their calls, sends gmp_now() on an unbuffered channel to a parked
 * "measurer" and at once enters its own call. The measurer is now runnable (queued on
 * that P) but every P is in a syscall: it runs only once sysmon retakes a P and hands
 * it to another thread.
 * It records gmp_now() - sent: the hand-off latency. Go's equivalent
 * (bench/go/handoff) blocks in syscall.Select with a 10 ms timeout; there this is
 * about one sysmon tick (20 us) plus a thread wake-up.
 *
 * Prints RESULT name=handoff metric=us value=<median>, and INFO with p10/p90/max.
 * GMP_BENCH_SCALE scales the 200 iterations. */
#include "bench_common.h"

#include <stdatomic.h>

static int nprocs;
static atomic_int inside;  /* goroutines in (or about to enter) their call now */
static atomic_int arrived; /* goroutines of this iteration that have started */
static gmp_chan *ch;
static gmp_waitgroup wg = GMP_WAITGROUP_INIT;      /* the measurer */
static gmp_waitgroup iter_wg = GMP_WAITGROUP_INIT; /* one iteration's P goroutines */
static int64_t *lat;
/* The pause between iterations: long enough (> sysmon's longest back-off, 10 ms) for
 * sysmon to see every P idle and go to its deep sleep, from which entering a syscall
 * wakes it with its shortest tick. With a short pause the latency depends on where
 * sysmon's back-off happens to be (up to 10 ms), on both runtimes. */
static int64_t gap_ns = 20000000;

static void sleep_10ms(void *arg) {
    (void)arg;
    usleep(10000);
}

static void blocker(void *arg) {
    (void)arg;
    /* The last to arrive, with every other P's goroutine already in its call, readies
     * the measurer and enters its own call at once. */
    int in = atomic_fetch_add(&inside, 1) + 1;
    if (atomic_fetch_add(&arrived, 1) + 1 == nprocs) {
        /* When, and whether every other goroutine was still in its call then (else a P
         * may have been free, and the iteration is not counted). */
        int64_t m[2] = {gmp_now(), in == nprocs};
        CHECK(gmp_chan_send(ch, m));
    }
    CHECK(gmp_blocking(sleep_10ms, NULL));
    atomic_fetch_sub(&inside, 1);
    CHECK(gmp_waitgroup_done(&iter_wg));
}

static int64_t counted;
static void measurer(void *arg) {
    int64_t n = *(int64_t *)arg, m[2];
    for (int64_t i = 0; i < n; i++) {
        CHECK(gmp_chan_recv(ch, m));
        int64_t d = gmp_now() - m[0];
        if (m[1]) lat[counted++] = d;
    }
    CHECK(gmp_waitgroup_done(&wg));
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void run(void *arg) {
    (void)arg;
    int64_t n = bench_scaled(200, 5);
    const char *g = getenv("HANDOFF_GAP_US");
    if (g != NULL && *g != '\0') gap_ns = atoll(g) * 1000;
    nprocs = gmp_maxprocs(0);
    lat = calloc((size_t)n, sizeof *lat);
    if (lat == NULL) bench_fail("calloc");
    CHECK(gmp_chan_make(&ch, 2 * sizeof(int64_t), 0));
    CHECK(gmp_waitgroup_add(&wg, 1));
    CHECK(gmp_go(measurer, &n));
    CHECK(gmp_sleep(1000000)); /* the measurer parks in its receive */
    for (int64_t i = 0; i < n; i++) {
        CHECK(gmp_waitgroup_add(&iter_wg, nprocs));
        atomic_store(&arrived, 0);
        for (int k = 0; k < nprocs; k++) CHECK(gmp_go(blocker, NULL));
        /* Park (no timer that could compete for the retaken P) until every call of
         * this iteration is over; the measurer ran long before. */
        CHECK(gmp_waitgroup_wait(&iter_wg));
        CHECK(gmp_sleep(gap_ns));
    }
    CHECK(gmp_waitgroup_wait(&wg));
    if (counted < n / 2)
        bench_fail("only %lld of %lld iterations had every P in its call at once",
                   (long long)counted, (long long)n);
    n = counted;
    qsort(lat, (size_t)n, sizeof *lat, cmp64);
    double med = lat[n / 2] / 1e3, p10 = lat[n / 10] / 1e3, p90 = lat[n * 9 / 10] / 1e3,
           max = lat[n - 1] / 1e3;
    fprintf(stderr, "handoff: %d P's, %lld iterations counted: median %.1f us, p10 %.1f, p90 %.1f, max %.1f\n",
            nprocs, (long long)n, med, p10, p90, max);
    fprintf(stderr, "INFO name=handoff procs=%d iterations=%lld gap_us=%lld p10_us=%.1f p90_us=%.1f max_us=%.1f\n",
            nprocs, (long long)n, (long long)(gap_ns / 1000), p10, p90, max);
    bench_result("handoff", "us", med);
    gmp_chan_release(ch);
    free(lat);
}

int main(void) {
    bench_main(run, NULL);
    return 0;
}

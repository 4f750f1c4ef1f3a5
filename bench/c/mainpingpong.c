/* mainpingpong: the main goroutine (the function given to gmp_main) drives an
 * unbuffered ping-pong with one goroutine over a pair of int64 channels, on all P's;
 * ns per round trip. As a first program does its channel work in Go's main.
 * Argument "unlocked" (default; name pingpong_main: 1,000,000 round trips) or "locked"
 * (name pingpong_main_locked: gmp_lock_os_thread() before the first switch point,
 * Go's init + LockOSThread; every park is then a thread hand-off, so 20,000 round trips). */
#include "bench_common.h"

static int locked;
static int64_t n;
static gmp_chan *ping, *pong;
static gmp_waitgroup wg;

static void ponger(void *unused) {
    int64_t v;
    int rc;
    (void)unused;
    for (;;) {
        rc = gmp_chan_recv(ping, &v);
        if (rc == GMP_ECLOSED) break;
        CHECK(rc);
        CHECK(gmp_chan_send(pong, &v));
    }
    CHECK(gmp_waitgroup_done(&wg));
}

static void run(void *unused) {
    const char *name = locked ? "pingpong_main_locked" : "pingpong_main";
    int64_t i, v, t0, elapsed;
    (void)unused;
    if (locked) CHECK(gmp_lock_os_thread()); /* before any switch point */
    n = locked ? bench_scaled(20000, 1) : bench_scaled(1000000, 1);
    CHECK(gmp_chan_make(&ping, sizeof(int64_t), 0));
    CHECK(gmp_chan_make(&pong, sizeof(int64_t), 0));
    CHECK(gmp_waitgroup_add(&wg, 1));
    CHECK(gmp_go(ponger, NULL));
    t0 = gmp_now();
    for (i = 0; i < n; i++) {
        CHECK(gmp_chan_send(ping, &i));
        CHECK(gmp_chan_recv(pong, &v));
        if (v != i) bench_fail("%s: got %" PRId64 ", want %" PRId64, name, v, i);
    }
    elapsed = gmp_now() - t0;
    CHECK(gmp_chan_close(ping));
    CHECK(gmp_waitgroup_wait(&wg));
    gmp_chan_release(ping);
    gmp_chan_release(pong);
    fprintf(stderr, "%s: %" PRId64 " round trips from the main goroutine on %d P in %.3f ms\n",
            name, n, gmp_maxprocs(0), elapsed / 1e6);
    bench_result(name, "ns_per_roundtrip", (double)elapsed / (double)n);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "locked") == 0) locked = 1;
        else if (strcmp(argv[1], "unlocked") != 0)
            bench_fail("unknown mode \"%s\" (want unlocked or locked)", argv[1]);
    }
    CHECK(gmp_maxprocs(bench_ncpu()));
    bench_main(run, NULL);
    return 0;
}

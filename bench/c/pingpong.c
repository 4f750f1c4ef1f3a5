/* pingpong: two goroutines over a pair of unbuffered int64 channels,
 * 1,000,000 round trips; ns per round trip. Argument "1p" (maxprocs=1, name
 * pingpong_1p) or "allp" (maxprocs=<CPUs>, name pingpong_allp); without one,
 * both are run. */
#include "bench_common.h"

static const char *mode;
static int64_t n, elapsed;
static gmp_chan *ping, *pong;
static gmp_waitgroup wg;
static const char *cur_name;

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

static void pinger(void *unused) {
    int64_t i, v, t0 = gmp_now();
    (void)unused;
    for (i = 0; i < n; i++) {
        CHECK(gmp_chan_send(ping, &i));
        CHECK(gmp_chan_recv(pong, &v));
        if (v != i) bench_fail("%s: got %" PRId64 ", want %" PRId64, cur_name, v, i);
    }
    elapsed = gmp_now() - t0;
    CHECK(gmp_chan_close(ping));
    CHECK(gmp_waitgroup_done(&wg));
}

static void one(const char *name, int procs) {
    cur_name = name;
    CHECK(gmp_maxprocs(procs));
    if (gmp_maxprocs(0) != procs) bench_fail("gmp_maxprocs(0) = %d, want %d", gmp_maxprocs(0), procs);
    CHECK(gmp_chan_make(&ping, sizeof(int64_t), 0));
    CHECK(gmp_chan_make(&pong, sizeof(int64_t), 0));
    CHECK(gmp_waitgroup_add(&wg, 2));
    CHECK(bench_go(ponger, NULL));
    CHECK(bench_go(pinger, NULL));
    gmp_stats s0 = {sizeof s0}, s1 = {sizeof s1};
    CHECK(gmp_read_stats(&s0));
    CHECK(gmp_waitgroup_wait(&wg));
    CHECK(gmp_read_stats(&s1));
    fprintf(stderr, "INFO name=%s steals=%" PRIu64 " context_switches=%" PRIu64 "\n", name,
            s1.steals - s0.steals, s1.context_switches - s0.context_switches);
    gmp_chan_release(ping);
    gmp_chan_release(pong);
    fprintf(stderr, "%s: %" PRId64 " round trips on %d P in %.3f ms\n", name, n, procs, elapsed / 1e6);
    bench_result(name, "ns_per_roundtrip", (double)elapsed / (double)n);
}

static void run(void *unused) {
    (void)unused;
    n = bench_scaled(1000000, 1);
    if (mode == NULL || strcmp(mode, "1p") == 0) one("pingpong_1p", 1);
    if (mode == NULL || strcmp(mode, "allp") == 0) one("pingpong_allp", bench_ncpu());
}

int main(int argc, char **argv) {
    if (argc > 1) {
        mode = argv[1];
        if (strcmp(mode, "1p") != 0 && strcmp(mode, "allp") != 0)
            bench_fail("unknown mode \"%s\" (want 1p or allp)", mode);
    }
    bench_main(run, NULL);
    return 0;
}

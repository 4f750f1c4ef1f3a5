/* trace_overhead: what the execution trace costs. The pingpong workload (two goroutines
 * over a pair of unbuffered int64 channels, 1,000,000 round trips, ns per round trip),
 * run with tracing never started ("off": every trace hook is one load and a branch) and
 * with tracing on (gmp_trace_start before, gmp_trace_stop after; the file write is not
 * timed). Traced runs do a tenth of the round trips: each round trip records about six
 * events, and a million of them would buffer ~300 MB and write a 600 MB file. Argument: "off", "on", or "off-allp"/"on-allp" for all P's; default: off and
 * on at 1 P.
 *
 * The question "is the off cost within noise of no tracing code at all?" needs a
 * library without the hooks: docs/DEBUGGING.md ("What tracing costs") builds one from
 * the same source with `tracefile::on()` made a constant false, runs this program
 * against both libraries 5 times each, and compares the medians. */
#include "bench_common.h"

#include <time.h>

static int64_t n, elapsed, cpu;
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

/* CPU time of the whole process (every thread), in ns: unlike the wall clock it does not
 * count time the threads spent preempted by other processes on a busy machine. */
static int64_t cpu_now(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) bench_fail("clock_gettime");
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pinger(void *unused) {
    int64_t i, v, t0 = gmp_now(), c0 = cpu_now();
    (void)unused;
    for (i = 0; i < n; i++) {
        CHECK(gmp_chan_send(ping, &i));
        CHECK(gmp_chan_recv(pong, &v));
        if (v != i) bench_fail("got %" PRId64 ", want %" PRId64, v, i);
    }
    elapsed = gmp_now() - t0;
    cpu = cpu_now() - c0;
    CHECK(gmp_chan_close(ping));
    CHECK(gmp_waitgroup_done(&wg));
}

static void one(const char *name, int procs, int traced) {
    char path[64];
    n = bench_scaled(traced ? 100000 : 1000000, 1);
    CHECK(gmp_maxprocs(procs));
    CHECK(gmp_chan_make(&ping, sizeof(int64_t), 0));
    CHECK(gmp_chan_make(&pong, sizeof(int64_t), 0));
    if (traced) {
        snprintf(path, sizeof path, "/tmp/gmp-trace-overhead-%d.json", (int)getpid());
        CHECK(gmp_trace_start(path));
    }
    CHECK(gmp_waitgroup_add(&wg, 2));
    CHECK(gmp_go(ponger, NULL));
    CHECK(gmp_go(pinger, NULL));
    CHECK(gmp_waitgroup_wait(&wg));
    if (traced) {
        CHECK(gmp_trace_stop());
        unlink(path);
    }
    gmp_chan_release(ping);
    gmp_chan_release(pong);
    fprintf(stderr, "%s: %" PRId64 " round trips on %d P in %.3f ms (%.3f ms of CPU)\n", name,
            n, procs, elapsed / 1e6, cpu / 1e6);
    fprintf(stderr, "INFO name=%s cpu_ns_per_roundtrip=%.4f\n", name, (double)cpu / (double)n);
    bench_result(name, "ns_per_roundtrip", (double)elapsed / (double)n);
}

static const char *mode;

static void run(void *unused) {
    (void)unused;
    if (mode == NULL || strcmp(mode, "off") == 0) one("trace_off_1p", 1, 0);
    if (mode == NULL || strcmp(mode, "on") == 0) one("trace_on_1p", 1, 1);
    if (mode != NULL && strcmp(mode, "off-allp") == 0) one("trace_off_allp", bench_ncpu(), 0);
    if (mode != NULL && strcmp(mode, "on-allp") == 0) one("trace_on_allp", bench_ncpu(), 1);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        mode = argv[1];
        if (strcmp(mode, "off") != 0 && strcmp(mode, "on") != 0 &&
            strcmp(mode, "off-allp") != 0 && strcmp(mode, "on-allp") != 0)
            bench_fail("unknown mode \"%s\" (want off, on, off-allp or on-allp)", mode);
    }
    bench_main(run, NULL);
    return 0;
}

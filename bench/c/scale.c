/* scale: the libgmp half of the scaling table (bench/scale, BENCHMARKS.md). The Go
 * half is bench/go/scale; both do the same steps and print the same lines.
 *
 * Usage: scale MODE [N]     (N: argv[2], else GMP_SCALE_N, else 100,000 x GMP_BENCH_SCALE)
 *   spawn  N goroutines that only mark a waitgroup done, spawned from the main
 *          goroutine and joined: ns per goroutine (RESULT name=spawn).
 *   park   N goroutines that mark a waitgroup done and block at once in a receive
 *          on one channel of no element: ns per goroutine from the first spawn to
 *          the last done (RESULT name=park); the RSS they add (INFO name=park).
 *          Then they are released (close) and joined, untimed.
 *   wake   park as above, a 50 ms pause (the last ones reach the receive), then close
 *          the channel: ns per goroutine from the close to the last of them ended
 *          (RESULT name=wake; the park line is printed too).
 * INFO lines give the CPU time (user + system, every thread) of each timed part.
 * Every mode is one cold round in a fresh process: the stacks the goroutines use
 * are first touched here, as they are by a program that grows to N goroutines.
 *
 * GMP_SCALE_STACK (bytes, default 0: the runtime's 256 KiB) spawns through
 * gmp_go_ex with that stack size; bench/scale uses it where N parked goroutines at
 * the default size would not fit in memory. Go has no such knob (its stacks start
 * at a few KiB and grow by copying). */
#include "bench_common.h"

#include <sys/resource.h>

static gmp_waitgroup started, finished;
static gmp_chan *release_ch;
static gmp_go_attr attr = {.size = sizeof(gmp_go_attr)};

static void empty(void *unused) {
    (void)unused;
    CHECK(gmp_waitgroup_done(&finished));
}

static void parked(void *unused) {
    (void)unused;
    CHECK(gmp_waitgroup_done(&started));
    CHECK_EQ(gmp_chan_recv(release_ch, NULL), GMP_ECLOSED);
    CHECK(gmp_waitgroup_done(&finished));
}

/* CPU time of the whole process (every thread), user + system, in ns. */
static int64_t cpu_ns(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) bench_fail("getrusage");
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* Spawns n goroutines running fn; returns the ns it took until `until` is done. */
static int64_t spawn_all(int64_t n, gmp_fn fn, gmp_waitgroup *until) {
    int64_t t0 = gmp_now(), i;
    for (i = 0; i < n; i++) CHECK(gmp_go_ex(&attr, fn, NULL, NULL));
    CHECK(gmp_waitgroup_wait(until));
    return gmp_now() - t0;
}

static int64_t env_int(const char *name, int64_t dflt) {
    const char *s = getenv(name);
    char *end;
    long long v;
    if (s == NULL || *s == '\0') return dflt;
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < 0) bench_fail("bad %s \"%s\"", name, s);
    return v;
}

static const char *mode;
static int64_t n;

static void run(void *unused) {
    int64_t el, before, after, cpu = cpu_ns();
    (void)unused;
    attr.stack_size = (size_t)env_int("GMP_SCALE_STACK", 0);
    CHECK(gmp_waitgroup_add(&finished, n));
    if (strcmp(mode, "spawn") == 0) {
        el = spawn_all(n, empty, &finished);
        fprintf(stderr, "scale spawn: %" PRId64 " goroutines in %.3f ms\n", n, el / 1e6);
        fprintf(stderr, "INFO name=spawn cpu_ns=%" PRId64 "\n", cpu_ns() - cpu);
        bench_result("spawn", "ns_per_op", (double)el / (double)n);
        return;
    }
    CHECK(gmp_chan_make(&release_ch, 0, 0)); /* Go's chan struct{} */
    CHECK(gmp_waitgroup_add(&started, n));
    before = bench_rss();
    el = spawn_all(n, parked, &started);
    cpu = cpu_ns() - cpu;
    CHECK(gmp_sleep(50000000));
    after = bench_rss();
    fprintf(stderr, "scale park: %" PRId64 " goroutines in %.3f ms, RSS +%.1f bytes each\n", n,
            el / 1e6, (double)(after - before) / (double)n);
    fprintf(stderr, "INFO name=park n=%" PRId64 " rss_before=%" PRId64 " rss_after=%" PRId64
            " stack=%zu cpu_ns=%" PRId64 "\n", n, before, after, attr.stack_size, cpu);
    bench_result("park", "ns_per_op", (double)el / (double)n);
    cpu = cpu_ns();
    el = gmp_now();
    CHECK(gmp_chan_close(release_ch));
    CHECK(gmp_waitgroup_wait(&finished));
    el = gmp_now() - el;
    cpu = cpu_ns() - cpu;
    gmp_chan_release(release_ch);
    if (strcmp(mode, "wake") == 0) {
        fprintf(stderr, "scale wake: %" PRId64 " goroutines in %.3f ms\n", n, el / 1e6);
        fprintf(stderr, "INFO name=wake cpu_ns=%" PRId64 "\n", cpu);
        bench_result("wake", "ns_per_op", (double)el / (double)n);
    }
}

int main(int argc, char **argv) {
    char *end = NULL;
    if (argc < 2 || (strcmp(argv[1], "spawn") && strcmp(argv[1], "park") && strcmp(argv[1], "wake")))
        bench_fail("usage: scale spawn|park|wake [N]");
    mode = argv[1];
    n = argc > 2 ? strtoll(argv[2], &end, 10) : env_int("GMP_SCALE_N", bench_scaled(100000, 1));
    if ((end != NULL && *end != '\0') || n < 1) bench_fail("bad N (argv[2] or GMP_SCALE_N)");
    bench_main(run, NULL);
    return 0;
}

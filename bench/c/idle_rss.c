/* idle_rss: how much memory a program keeps after a burst of goroutines ends.
 * 1,000,000 goroutines (scaled by GMP_BENCH_SCALE) are all alive at once, parked in
 * gmp_chan_recv on one channel, so that when the channel is closed and they all end,
 * every free list (G's, stacks) is as full as it gets. Then the program idles 10 s.
 * RSS (/proc/self/statm) is printed at the peak (all parked), right after the last
 * one ended, and after 1 s, 5 s and 10 s of idling; the result is the RSS after 10 s,
 * in MB (10^6 bytes). The Go half is bench/go/idle_rss. */
#include "bench_common.h"

static gmp_waitgroup started, finished;
static gmp_chan *release_ch;

static void parked(void *unused) {
    (void)unused;
    CHECK(gmp_waitgroup_done(&started));
    CHECK_EQ(gmp_chan_recv(release_ch, NULL), GMP_ECLOSED);
    CHECK(gmp_waitgroup_done(&finished));
}

static double mb(int64_t bytes) { return (double)bytes / 1e6; }

static void run(void *unused) {
    int64_t n = bench_scaled(1000000, 1), base, peak, ended, at[3], i;
    static const int64_t marks_s[3] = {1, 5, 10};
    int64_t slept_s = 0;
    (void)unused;
    CHECK(gmp_chan_make(&release_ch, 0, 0)); /* Go's chan struct{} */
    CHECK(gmp_waitgroup_add(&started, n));
    CHECK(gmp_waitgroup_add(&finished, n));
    base = bench_rss();
    for (i = 0; i < n; i++) CHECK(gmp_go(parked, NULL));
    CHECK(gmp_waitgroup_wait(&started));
    peak = bench_rss();
    CHECK(gmp_chan_close(release_ch));
    CHECK(gmp_waitgroup_wait(&finished));
    ended = bench_rss();
    gmp_chan_release(release_ch);
    for (i = 0; i < 3; i++) {
        CHECK(gmp_sleep((marks_s[i] - slept_s) * 1000000000LL));
        slept_s = marks_s[i];
        at[i] = bench_rss();
    }
    fprintf(stderr,
            "idle_rss: %" PRId64 " goroutines, RSS %.1f MB at start, %.1f MB at the peak, "
            "%.1f MB when they ended, %.1f / %.1f / %.1f MB after 1 / 5 / 10 s idle\n",
            n, mb(base), mb(peak), mb(ended), mb(at[0]), mb(at[1]), mb(at[2]));
    fprintf(stderr,
            "INFO name=idle_rss goroutines=%" PRId64 " start_mb=%.1f peak_mb=%.1f ended_mb=%.1f "
            "idle1_mb=%.1f idle5_mb=%.1f idle10_mb=%.1f\n",
            n, mb(base), mb(peak), mb(ended), mb(at[0]), mb(at[1]), mb(at[2]));
    bench_result("idle_rss", "mb", mb(at[2]));
}

int main(void) {
    bench_main(run, NULL);
    return 0;
}

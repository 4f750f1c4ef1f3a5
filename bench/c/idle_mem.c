/* idle_mem: 100,000 goroutines parked in gmp_chan_recv on a channel that is
 * only closed at the end; RSS (/proc/self/statm) before and after creating
 * them; bytes per parked goroutine. Then close the channel and join them. */
#include "bench_common.h"

static gmp_waitgroup started, finished;
static gmp_chan *release_ch;

static void parked(void *unused) {
    (void)unused;
    CHECK(gmp_waitgroup_done(&started));
    CHECK_EQ(gmp_chan_recv(release_ch, NULL), GMP_ECLOSED);
    CHECK(gmp_waitgroup_done(&finished));
}

static void run(void *unused) {
    int64_t n = bench_scaled(100000, 1), before, after, i;
    double per;
    (void)unused;
    CHECK(gmp_chan_make(&release_ch, 0, 0)); /* Go's chan struct{} */
    CHECK(gmp_waitgroup_add(&started, n));
    CHECK(gmp_waitgroup_add(&finished, n));
    CHECK(gmp_sleep(50000000)); /* let the runtime settle */
    before = bench_rss();
    for (i = 0; i < n; i++) CHECK(gmp_go(parked, NULL));
    CHECK(gmp_waitgroup_wait(&started));
    CHECK(gmp_sleep(100000000)); /* let the last ones reach the receive */
    after = bench_rss();
    CHECK(gmp_chan_close(release_ch));
    CHECK(gmp_waitgroup_wait(&finished));
    gmp_chan_release(release_ch);
    per = (double)(after - before) / (double)n;
    fprintf(stderr, "idle_mem: %" PRId64 " goroutines, RSS %" PRId64 " -> %" PRId64 " bytes, %.1f bytes each\n",
            n, before, after, per);
    fprintf(stderr, "INFO name=idle_mem goroutines=%" PRId64 " rss_before=%" PRId64 " rss_after=%" PRId64 "\n",
            n, before, after);
    bench_result("idle_mem", "bytes_per_g", per);
}

int main(void) {
    bench_main(run, NULL);
    return 0;
}

/* buffered: 4 producers, 4 consumers, one channel of capacity 1024,
 * 10,000,000 int64 messages in total; the consumers sum them and the sum is
 * checked; producers done -> close -> consumers see GMP_ECLOSED; msgs per
 * second. */
#include "bench_common.h"

enum { PRODUCERS = 4, CONSUMERS = 4 };

static gmp_chan *ch;
static gmp_waitgroup pwg, cwg;
static int64_t per, sums[CONSUMERS], counts[CONSUMERS];

static void producer(void *arg) {
    int64_t k = (int64_t)(intptr_t)arg, j, v;
    for (j = 0; j < per; j++) {
        v = k * per + j;
        CHECK(gmp_chan_send(ch, &v));
    }
    CHECK(gmp_waitgroup_done(&pwg));
}

static void consumer(void *arg) {
    int64_t k = (int64_t)(intptr_t)arg, v, s = 0, n = 0;
    int rc;
    for (;;) {
        rc = gmp_chan_recv(ch, &v);
        if (rc == GMP_ECLOSED) break;
        CHECK(rc);
        s += v;
        n++;
    }
    sums[k] = s;
    counts[k] = n;
    CHECK(gmp_waitgroup_done(&cwg));
}

static void run(void *unused) {
    int64_t total, t0, el, sum = 0, count = 0, want, k;
    double rate;
    (void)unused;
    per = bench_scaled(10000000, PRODUCERS) / PRODUCERS;
    total = per * PRODUCERS;
    CHECK(gmp_chan_make(&ch, sizeof(int64_t), 1024));
    if (gmp_chan_cap(ch) != 1024) bench_fail("gmp_chan_cap = %" PRId64 ", want 1024", gmp_chan_cap(ch));
    t0 = gmp_now();
    CHECK(gmp_waitgroup_add(&cwg, CONSUMERS));
    for (k = 0; k < CONSUMERS; k++) CHECK(gmp_go(consumer, (void *)(intptr_t)k));
    CHECK(gmp_waitgroup_add(&pwg, PRODUCERS));
    for (k = 0; k < PRODUCERS; k++) CHECK(gmp_go(producer, (void *)(intptr_t)k));
    CHECK(gmp_waitgroup_wait(&pwg));
    CHECK(gmp_chan_close(ch));
    CHECK(gmp_waitgroup_wait(&cwg));
    el = gmp_now() - t0;
    gmp_chan_release(ch);
    for (k = 0; k < CONSUMERS; k++) {
        sum += sums[k];
        count += counts[k];
    }
    want = total * (total - 1) / 2;
    if (sum != want || count != total)
        bench_fail("buffered: sum %" PRId64 " count %" PRId64 ", want %" PRId64 " and %" PRId64,
                   sum, count, want, total);
    rate = (double)total / ((double)el / 1e9);
    fprintf(stderr, "buffered: %" PRId64 " messages in %.3f ms, %.0f msgs/s, sum %" PRId64 "\n",
            total, el / 1e6, rate, sum);
    bench_result("buffered", "msgs_per_s", rate);
}

int main(void) {
    bench_main(run, NULL);
    return 0;
}

/* ring: 10,000 goroutines in a ring, each with an unbuffered channel to the
 * next, passing a token 1,000,000 hops in total; ns per hop. GMP_RING_SIZE sets
 * the number of goroutines as is (bench/scale's ring sizes; GMP_BENCH_SCALE then
 * scales only the hops). */
#include "bench_common.h"

static int64_t size;
static gmp_chan **chans, *done_ch;
static gmp_waitgroup started, finished;

static void node(void *arg) {
    int64_t i = (int64_t)(intptr_t)arg, v;
    gmp_chan *in = chans[i], *out = chans[(i + 1) % size];
    int rc;
    CHECK(gmp_waitgroup_done(&started));
    for (;;) {
        rc = gmp_chan_recv(in, &v);
        if (rc == GMP_ECLOSED) break;
        CHECK(rc);
        if (v == 0) {
            CHECK(gmp_chan_send(done_ch, &v));
            continue;
        }
        v--;
        CHECK(gmp_chan_send(out, &v));
    }
    CHECK(gmp_waitgroup_done(&finished));
}

static void run(void *unused) {
    int64_t hops, i, t0, el, v;
    (void)unused;
    size = getenv("GMP_RING_SIZE") ? atoll(getenv("GMP_RING_SIZE")) : bench_scaled(10000, 2);
    if (size < 2) bench_fail("GMP_RING_SIZE must be at least 2");
    hops = bench_scaled(1000000, 1);
    chans = calloc((size_t)size, sizeof *chans);
    if (chans == NULL) bench_fail("out of memory");
    for (i = 0; i < size; i++) CHECK(gmp_chan_make(&chans[i], sizeof(int64_t), 0));
    CHECK(gmp_chan_make(&done_ch, sizeof(int64_t), 1));
    CHECK(gmp_waitgroup_add(&started, size));
    CHECK(gmp_waitgroup_add(&finished, size));
    for (i = 0; i < size; i++) CHECK(gmp_go(node, (void *)(intptr_t)i));
    CHECK(gmp_waitgroup_wait(&started));
    t0 = gmp_now();
    CHECK(gmp_chan_send(chans[0], &hops)); /* the token: hops left to make */
    CHECK(gmp_chan_recv(done_ch, &v));
    el = gmp_now() - t0;
    for (i = 0; i < size; i++) CHECK(gmp_chan_close(chans[i]));
    CHECK(gmp_waitgroup_wait(&finished));
    for (i = 0; i < size; i++) gmp_chan_release(chans[i]);
    gmp_chan_release(done_ch);
    free(chans);
    fprintf(stderr, "ring: %" PRId64 " goroutines, %" PRId64 " hops in %.3f ms\n", size, hops, el / 1e6);
    bench_result("ring", "ns_per_op", (double)el / (double)hops);
}

int main(void) {
    bench_main(run, NULL);
    return 0;
}

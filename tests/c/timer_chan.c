/* timer_chan.c: gmp_after and gmp_ticker through the C ABI (API.md "Channels"),
 * compactly: after fires once, never early; ticks come in order, never early, and a slow
 * reader finds no backlog; gmp_ticker_stop stops them (after a grace period); bad
 * arguments are GMP_EINVAL. "Never early" is the only timing check. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MS 1000000LL

static void test_after(void) {
    static const int64_t ns[] = {0, 1, 100000, MS, 5 * MS};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        int64_t start = gmp_now(), v = 0;
        gmp_chan *t = NULL;
        CHECK_RC(gmp_after(&t, ns[i]), 0);
        CHECK_RC(gmp_chan_cap(t), 1);
        CHECK_RC(gmp_chan_recv(t, &v), 0);
        CHECK(v >= start + ns[i]);
        CHECK(v <= gmp_now());
        CHECK_RC(gmp_chan_recv_timeout(t, &v, 2 * MS), GMP_ETIMEDOUT); /* once */
        gmp_chan_release(t);
    }
    /* Released before it fires: harmless. */
    for (int i = 0; i < 50; i++) {
        gmp_chan *t = NULL;
        CHECK_RC(gmp_after(&t, 100000), 0);
        gmp_chan_release(t);
    }
}

static void test_ticker(void) {
    const int64_t period = 2 * MS;
    int64_t start = gmp_now(), last = INT64_MIN;
    gmp_chan *t = NULL;
    CHECK_RC(gmp_ticker(&t, period), 0);
    for (int64_t j = 1; j <= 10; j++) {
        int64_t v = 0;
        CHECK_RC(gmp_chan_recv(t, &v), 0);
        CHECK(v > last);                  /* in order */
        CHECK(v >= start + j * period);   /* never early, even with drops */
        last = v;
    }
    /* A slow reader: after five missed periods there is no backlog. */
    gmp_sleep(5 * period + period / 2);
    int64_t woke = gmp_now(), v = 0;
    CHECK(gmp_chan_len(t) <= 1);
    CHECK_RC(gmp_chan_recv_timeout(t, &v, 0), 0);
    int rc = gmp_chan_recv_timeout(t, &v, 0);
    CHECK(rc == GMP_EAGAIN || (rc == 0 && v >= woke)); /* only a fresh tick, if any */
    /* Stop: after a grace period, no more ticks. */
    CHECK_RC(gmp_ticker_stop(t), 0);
    gmp_sleep(3 * period);
    (void)gmp_chan_recv_timeout(t, &v, 0);
    CHECK_RC(gmp_chan_recv_timeout(t, &v, 10 * period), GMP_ETIMEDOUT);
    gmp_chan_release(t);
}

static void test_bad_args(void) {
    gmp_chan *t = NULL;
    CHECK_RC(gmp_ticker(&t, 0), GMP_EINVAL);
    CHECK_RC(gmp_ticker(&t, -1), GMP_EINVAL);
    CHECK_RC(gmp_ticker(&t, INT64_MIN), GMP_EINVAL);
    CHECK_RC(gmp_ticker(NULL, MS), GMP_EINVAL);
    CHECK_RC(gmp_after(NULL, MS), GMP_EINVAL);
    CHECK_RC(gmp_ticker_stop(NULL), GMP_EINVAL);
    gmp_chan *plain = NULL;
    CHECK_RC(gmp_chan_make(&plain, sizeof(int64_t), 1), 0);
    CHECK_RC(gmp_ticker_stop(plain), GMP_EINVAL);
    gmp_chan_release(plain);
}

static void all(void) {
    test_after();
    test_ticker();
    test_bad_args();
}

int main(void) { return check_here_and_in_main("timer_chan", all); }

/* select.c: gmp_select through the C ABI (API.md "Channels"), compactly: ready send and
 * receive cases, NULL channels never fire, timeout (never early) and timeout 0
 * (GMP_EAGAIN), no cases, result GMP_ECLOSED for receive and send on closed channels,
 * bad arguments, a blocked select woken from a goroutine and from a foreign thread, and
 * fairness between two always-ready cases. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000LL
#define UNSET 0x5a5a

static gmp_chan *make(size_t cap) {
    gmp_chan *ch = NULL;
    CHECK_RC(gmp_chan_make(&ch, sizeof(int64_t), cap), 0);
    return ch;
}

static gmp_select_case sc(gmp_chan *ch, int op, void *elem) {
    gmp_select_case c;
    memset(&c, 0, sizeof c);
    c.chan = ch;
    c.op = op;
    c.elem = elem;
    c.result = UNSET;
    return c;
}

static void test_ready_cases(void) {
    gmp_chan *a = make(1), *b = make(1), *full = make(1);
    int64_t x = 0, y = 0, v = 10, one = 1;
    CHECK_RC(gmp_chan_send(b, &(int64_t){5}), 0);
    CHECK_RC(gmp_chan_send(full, &one), 0);
    /* Receive ready on b; a is empty; the send on full is blocked. */
    gmp_select_case cs[3] = {sc(a, GMP_RECV, &x), sc(b, GMP_RECV, &y), sc(full, GMP_SEND, &v)};
    CHECK_RC(gmp_select(cs, 3, -1), 1);
    CHECK(cs[1].result == 0 && y == 5);
    CHECK(cs[0].result == UNSET && cs[2].result == UNSET); /* only the fired one is written */
    /* Send ready on a (room). */
    gmp_select_case cs2[2] = {sc(full, GMP_SEND, &v), sc(a, GMP_SEND, &v)};
    CHECK_RC(gmp_select(cs2, 2, 0), 1);
    CHECK_RC(gmp_chan_recv(a, &x), 0);
    CHECK(x == 10);
    gmp_chan_release(a);
    gmp_chan_release(b);
    gmp_chan_release(full);
}

static void test_null_timeout_eagain(void) {
    gmp_chan *a = make(0);
    int64_t x = 0, v = 1;
    gmp_select_case cs[3] = {sc(NULL, GMP_RECV, &x), sc(NULL, GMP_SEND, &v), sc(a, GMP_RECV, &x)};
    CHECK_RC(gmp_select(cs, 3, 0), GMP_EAGAIN);
    int64_t t0 = gmp_now();
    CHECK_RC(gmp_select(cs, 3, 3 * MS), GMP_ETIMEDOUT);
    CHECK(gmp_now() - t0 >= 3 * MS);
    /* Only NULL channels, and no cases at all. */
    CHECK_RC(gmp_select(cs, 2, 0), GMP_EAGAIN);
    t0 = gmp_now();
    CHECK_RC(gmp_select(cs, 2, 2 * MS), GMP_ETIMEDOUT);
    CHECK(gmp_now() - t0 >= 2 * MS);
    t0 = gmp_now();
    CHECK_RC(gmp_select(NULL, 0, 2 * MS), GMP_ETIMEDOUT);
    CHECK(gmp_now() - t0 >= 2 * MS);
    CHECK_RC(gmp_select(NULL, 0, 0), GMP_EAGAIN);
    /* The timed-out select left nothing on a. */
    CHECK_RC(gmp_chan_send_timeout(a, &v, 0), GMP_EAGAIN);
    gmp_chan_release(a);
}

static void test_closed(void) {
    gmp_chan *a = make(0), *c = make(2);
    CHECK_RC(gmp_chan_close(c), 0);
    int64_t x = 0, y = -1, v = 3;
    gmp_select_case cs[2] = {sc(a, GMP_RECV, &x), sc(c, GMP_RECV, &y)};
    CHECK_RC(gmp_select(cs, 2, -1), 1);
    CHECK(cs[1].result == GMP_ECLOSED && y == 0);
    gmp_select_case cs2[2] = {sc(a, GMP_RECV, &x), sc(c, GMP_SEND, &v)};
    CHECK_RC(gmp_select(cs2, 2, -1), 1);
    CHECK(cs2[1].result == GMP_ECLOSED);
    gmp_chan_release(a);
    gmp_chan_release(c);
}

static void test_bad_args(void) {
    gmp_chan *a = make(1);
    int64_t x = 0;
    gmp_select_case cs[1] = {sc(a, 0, &x)};
    CHECK_RC(gmp_select(cs, 1, 0), GMP_EINVAL);
    cs[0].op = 3;
    CHECK_RC(gmp_select(cs, 1, 0), GMP_EINVAL);
    cs[0] = sc(a, GMP_SEND, NULL);
    CHECK_RC(gmp_select(cs, 1, 0), GMP_EINVAL);
    CHECK_RC(gmp_select(NULL, 1, 0), GMP_EINVAL);
    CHECK_RC(gmp_chan_len(a), 0);
    gmp_chan_release(a);
}

struct wake {
    gmp_chan *ch;
    int close;
};

static void waker(void *p) {
    struct wake *w = p;
    gmp_sleep(2 * MS);
    if (w->close) {
        CHECK_RC(gmp_chan_close(w->ch), 0);
    } else {
        int64_t v = 77;
        CHECK_RC(gmp_chan_send(w->ch, &v), 0);
    }
}

static void *waker_thread(void *p) {
    waker(p);
    return NULL;
}

static void done(void *p) { CHECK_RC(gmp_waitgroup_done(p), 0); }

struct job {
    struct wake *w;
    gmp_waitgroup *wg;
};

static void waker_go(void *p) {
    struct job *j = p;
    waker(j->w);
    done(j->wg);
}

static void test_blocked_select_woken(void) {
    for (int mode = 0; mode < 4; mode++) {
        gmp_chan *a = make(0), *b = make(0);
        struct wake w = {b, mode >= 2};
        gmp_waitgroup wg = GMP_WAITGROUP_INIT;
        struct job j = {&w, &wg};
        pthread_t t;
        if (mode % 2 == 0) {
            CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
            CHECK_RC(gmp_go(waker_go, &j), 0);
        } else {
            CHECK(pthread_create(&t, NULL, waker_thread, &w) == 0);
        }
        int64_t x = -1, y = -1;
        gmp_select_case cs[2] = {sc(a, GMP_RECV, &x), sc(b, GMP_RECV, &y)};
        CHECK_RC(gmp_select(cs, 2, -1), 1);
        if (w.close)
            CHECK(cs[1].result == GMP_ECLOSED && y == 0);
        else
            CHECK(cs[1].result == 0 && y == 77);
        if (mode % 2 == 0)
            CHECK_RC(gmp_waitgroup_wait(&wg), 0);
        else
            pthread_join(t, NULL);
        int64_t v = 1;
        CHECK_RC(gmp_chan_send_timeout(a, &v, 0), GMP_EAGAIN); /* no stale case left */
        gmp_chan_release(a);
        gmp_chan_release(b);
    }
}

static void test_fair(void) {
    gmp_chan *a = make(1), *b = make(1);
    int64_t x = 0, z = 0;
    CHECK_RC(gmp_chan_send(a, &z), 0);
    CHECK_RC(gmp_chan_send(b, &z), 0);
    long counts[2] = {0, 0};
    const long rounds = 100000;
    for (long i = 0; i < rounds; i++) {
        gmp_select_case cs[2] = {sc(a, GMP_RECV, &x), sc(b, GMP_RECV, &x)};
        int k = gmp_select(cs, 2, -1);
        CHECK(k == 0 || k == 1);
        counts[k]++;
        CHECK_RC(gmp_chan_send_timeout(k == 0 ? a : b, &z, 0), 0);
    }
    for (int k = 0; k < 2; k++) {
        if (counts[k] < rounds * 45 / 100 || counts[k] > rounds * 55 / 100) {
            fprintf(stderr, "unfair: %ld vs %ld\n", counts[0], counts[1]);
            exit(1);
        }
    }
    gmp_chan_release(a);
    gmp_chan_release(b);
}

static void all(void) {
    test_ready_cases();
    test_null_timeout_eagain();
    test_closed();
    test_bad_args();
    test_blocked_select_woken();
    test_fair();
}

int main(void) { return check_here_and_in_main("select", all); }

/* chan_basic.c: channels through the C ABI (API.md "Channels"), compactly: unbuffered
 * hand-off, element sizes and limits, buffered FIFO/len/cap/try, close on both sides,
 * timeouts (never early; a timed-out send is not consumed), the drop callback and
 * retain/release, and foreign threads <-> goroutines. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000LL

/* ---- running things on goroutines and threads ------------------------------------ */

struct job {
    void (*fn)(void *);
    void *arg;
    gmp_waitgroup *wg;
};

static void job_entry(void *p) {
    struct job *j = p;
    j->fn(j->arg);
    CHECK_RC(gmp_waitgroup_done(j->wg), 0);
    free(j);
}

/* Starts fn(arg) as a goroutine counted by wg. */
static void go(gmp_waitgroup *wg, void (*fn)(void *), void *arg) {
    struct job *j = malloc(sizeof *j);
    CHECK(j != NULL);
    j->fn = fn;
    j->arg = arg;
    j->wg = wg;
    CHECK_RC(gmp_waitgroup_add(wg, 1), 0);
    CHECK_RC(gmp_go(job_entry, j), 0);
}

static void *thread_entry(void *p) {
    struct job *j = p;
    j->fn(j->arg);
    free(j);
    return NULL;
}

/* Starts fn(arg) on a new foreign thread. */
static pthread_t thread(void (*fn)(void *), void *arg) {
    struct job *j = malloc(sizeof *j);
    CHECK(j != NULL);
    j->fn = fn;
    j->arg = arg;
    j->wg = NULL;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_entry, j) == 0);
    return t;
}

/* ---- unbuffered ------------------------------------------------------------------- */

struct xfer {
    gmp_chan *ch;
    size_t size;
    int n;
};

static unsigned char pat(size_t i, int k) { return (unsigned char)(i * 31u ^ (unsigned)k * 131u ^ (i >> 8)); }

static void sender(void *p) {
    struct xfer *x = p;
    unsigned char *buf = malloc(x->size + 1);
    CHECK(buf != NULL);
    for (int k = 0; k < x->n; k++) {
        for (size_t i = 0; i < x->size; i++) buf[i] = pat(i, k);
        CHECK_RC(gmp_chan_send(x->ch, x->size ? buf : NULL), 0);
    }
    free(buf);
}

static void receiver(void *p) {
    struct xfer *x = p;
    unsigned char *buf = malloc(x->size + 16);
    CHECK(buf != NULL);
    for (int k = 0; k < x->n; k++) {
        memset(buf, 0xcd, x->size + 16);
        CHECK_RC(gmp_chan_recv(x->ch, buf), 0);
        for (size_t i = 0; i < x->size; i++) CHECK(buf[i] == pat(i, k));
        for (size_t i = x->size; i < x->size + 16; i++) CHECK(buf[i] == 0xcd); /* no overrun */
    }
    free(buf);
}

static void test_unbuffered_sizes(void) {
    static const size_t sizes[] = {0, 1, 8, 24, 4096, 65536};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int mode = 0; mode < 3; mode++) {
            struct xfer x = {NULL, sizes[s], 3};
            CHECK_RC(gmp_chan_make(&x.ch, x.size, 0), 0);
            CHECK_RC(gmp_chan_cap(x.ch), 0);
            gmp_waitgroup wg = GMP_WAITGROUP_INIT;
            if (mode == 0) { /* goroutine -> goroutine */
                go(&wg, receiver, &x);
                go(&wg, sender, &x);
                CHECK_RC(gmp_waitgroup_wait(&wg), 0);
            } else if (mode == 1) { /* thread -> this (a goroutine or the main thread) */
                pthread_t t = thread(sender, &x);
                receiver(&x);
                pthread_join(t, NULL);
            } else { /* this -> goroutine */
                go(&wg, receiver, &x);
                sender(&x);
                CHECK_RC(gmp_waitgroup_wait(&wg), 0);
            }
            gmp_chan_release(x.ch);
        }
    }
}

static void test_limits(void) {
    gmp_chan *ch = NULL;
    CHECK_RC(gmp_chan_make(&ch, 65537, 0), GMP_EINVAL);
    CHECK_RC(gmp_chan_make(&ch, 2, SIZE_MAX / 2 + 1), GMP_EINVAL); /* overflow */
    CHECK_RC(gmp_chan_make(&ch, 65536, SIZE_MAX / 65536 + 1), GMP_EINVAL);
    CHECK_RC(gmp_chan_make(NULL, 8, 1), GMP_EINVAL);
    CHECK(ch == NULL);
    CHECK_RC(gmp_chan_make(&ch, 65536, 0), 0);
    gmp_chan_release(ch);
    int64_t v = 1;
    CHECK_RC(gmp_chan_send(NULL, &v), GMP_EINVAL);
    CHECK_RC(gmp_chan_recv(NULL, &v), GMP_EINVAL);
    CHECK_RC(gmp_chan_close(NULL), GMP_EINVAL);
    CHECK_RC(gmp_chan_len(NULL), GMP_EINVAL);
    CHECK(gmp_chan_retain(NULL) == NULL);
    gmp_chan_release(NULL);
    CHECK_RC(gmp_chan_make(&ch, sizeof(int64_t), 0), 0);
    CHECK_RC(gmp_chan_send(ch, NULL), GMP_EINVAL);
    CHECK_RC(gmp_chan_send_timeout(ch, &v, 0), GMP_EAGAIN); /* no receiver */
    CHECK_RC(gmp_chan_recv_timeout(ch, &v, 0), GMP_EAGAIN); /* no sender */
    gmp_chan_release(ch);
}

static void send_123(void *p) {
    gmp_chan *ch = p;
    for (int64_t v = 1; v <= 3; v++) CHECK_RC(gmp_chan_send(ch, &v), 0);
}

static void test_recv_null_discards(void) {
    gmp_chan *ch;
    CHECK_RC(gmp_chan_make(&ch, sizeof(int64_t), 0), 0);
    gmp_waitgroup wg = GMP_WAITGROUP_INIT;
    go(&wg, send_123, ch);
    int64_t v = 0;
    CHECK_RC(gmp_chan_recv(ch, NULL), 0);
    CHECK_RC(gmp_chan_recv(ch, NULL), 0);
    CHECK_RC(gmp_chan_recv(ch, &v), 0);
    CHECK(v == 3);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    gmp_chan_release(ch);
}

/* ---- buffered --------------------------------------------------------------------- */

static void send_10000(void *p) {
    gmp_chan *ch = p;
    for (int64_t i = 0; i < 10000; i++) CHECK_RC(gmp_chan_send(ch, &i), 0);
}

static void test_buffered(void) {
    gmp_chan *ch;
    CHECK_RC(gmp_chan_make(&ch, sizeof(int64_t), 7), 0);
    CHECK_RC(gmp_chan_cap(ch), 7);
    gmp_waitgroup wg = GMP_WAITGROUP_INIT;
    go(&wg, send_10000, ch);
    for (int64_t i = 0; i < 10000; i++) {
        int64_t v = -1;
        CHECK_RC(gmp_chan_recv(ch, &v), 0);
        CHECK(v == i);
    }
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    /* Same from a foreign thread. */
    pthread_t t = thread(send_10000, ch);
    for (int64_t i = 0; i < 10000; i++) {
        int64_t v = -1;
        CHECK_RC(gmp_chan_recv(ch, &v), 0);
        CHECK(v == i);
    }
    pthread_join(t, NULL);
    /* len and tries. */
    for (int64_t i = 0; i < 7; i++) {
        CHECK_RC(gmp_chan_send_timeout(ch, &i, 0), 0);
        CHECK_RC(gmp_chan_len(ch), i + 1);
    }
    int64_t x = 99;
    CHECK_RC(gmp_chan_send_timeout(ch, &x, 0), GMP_EAGAIN);
    CHECK_RC(gmp_chan_len(ch), 7);
    for (int64_t i = 0; i < 7; i++) {
        CHECK_RC(gmp_chan_recv_timeout(ch, &x, 0), 0);
        CHECK(x == i);
    }
    CHECK_RC(gmp_chan_recv_timeout(ch, &x, 0), GMP_EAGAIN);
    gmp_chan_release(ch);
}

/* ---- close ------------------------------------------------------------------------ */

static void recv_expect_closed(void *p) {
    gmp_chan *ch = p;
    int64_t v[3] = {-1, -1, -1};
    CHECK_RC(gmp_chan_recv(ch, v), GMP_ECLOSED);
    CHECK(v[0] == 0 && v[1] == 0 && v[2] == 0); /* zeroed */
}

static void send_expect_closed(void *p) {
    gmp_chan *ch = p;
    int64_t v[3] = {1, 2, 3};
    CHECK_RC(gmp_chan_send(ch, v), GMP_ECLOSED);
}

static void test_close(void) {
    for (int side = 0; side < 2; side++) {
        gmp_chan *ch;
        CHECK_RC(gmp_chan_make(&ch, 3 * sizeof(int64_t), 0), 0);
        gmp_waitgroup wg = GMP_WAITGROUP_INIT;
        pthread_t t[2];
        void (*fn)(void *) = side == 0 ? recv_expect_closed : send_expect_closed;
        for (int i = 0; i < 4; i++) go(&wg, fn, ch);
        for (int i = 0; i < 2; i++) t[i] = thread(fn, ch);
        gmp_sleep(5 * MS);
        CHECK_RC(gmp_chan_close(ch), 0);
        CHECK_RC(gmp_waitgroup_wait(&wg), 0);
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
        CHECK_RC(gmp_chan_close(ch), GMP_ECLOSED); /* double close */
        int64_t v[3] = {0};
        CHECK_RC(gmp_chan_send(ch, v), GMP_ECLOSED);
        CHECK_RC(gmp_chan_send_timeout(ch, v, 0), GMP_ECLOSED);
        gmp_chan_release(ch);
    }
    /* Drain, then closed. */
    gmp_chan *ch;
    CHECK_RC(gmp_chan_make(&ch, sizeof(int64_t), 4), 0);
    for (int64_t i = 1; i <= 3; i++) CHECK_RC(gmp_chan_send(ch, &i), 0);
    CHECK_RC(gmp_chan_close(ch), 0);
    for (int64_t i = 1; i <= 3; i++) {
        int64_t v = 0;
        CHECK_RC(gmp_chan_recv(ch, &v), 0);
        CHECK(v == i);
    }
    int64_t v = 7;
    CHECK_RC(gmp_chan_recv(ch, &v), GMP_ECLOSED);
    CHECK(v == 0);
    CHECK_RC(gmp_chan_recv_timeout(ch, &v, 0), GMP_ECLOSED);
    gmp_chan_release(ch);
}

/* ---- timeouts --------------------------------------------------------------------- */

static void recv_one_expect_43(void *p) {
    int64_t v = 0;
    CHECK_RC(gmp_chan_recv(p, &v), 0);
    CHECK(v == 43);
}

static void test_timeouts(void) {
    gmp_chan *ch;
    CHECK_RC(gmp_chan_make(&ch, sizeof(int64_t), 0), 0);
    static const int64_t ts[] = {1, 1000, 100000, MS, 5 * MS};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        int64_t v = 42, t0 = gmp_now();
        CHECK_RC(gmp_chan_recv_timeout(ch, &v, ts[i]), GMP_ETIMEDOUT);
        CHECK(gmp_now() - t0 >= ts[i]);
        t0 = gmp_now();
        CHECK_RC(gmp_chan_send_timeout(ch, &v, ts[i]), GMP_ETIMEDOUT);
        CHECK(gmp_now() - t0 >= ts[i]);
    }
    /* The timed-out 42 is not delivered: the next receiver gets 43. */
    int64_t v = 42;
    CHECK_RC(gmp_chan_send_timeout(ch, &v, 2 * MS), GMP_ETIMEDOUT);
    CHECK_RC(gmp_chan_recv_timeout(ch, &v, 0), GMP_EAGAIN);
    gmp_waitgroup wg = GMP_WAITGROUP_INIT;
    go(&wg, recv_one_expect_43, ch);
    v = 43;
    CHECK_RC(gmp_chan_send(ch, &v), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    gmp_chan_release(ch);
}

/* ---- drop ------------------------------------------------------------------------- */

static void count_drop(void *elem, void *ctx) {
    int64_t *sum = ctx;
    int64_t v;
    memcpy(&v, elem, sizeof v);
    sum[0] += 1;
    sum[1] += v;
}

static void test_drop(void) {
    int64_t log[2] = {0, 0};
    gmp_chan *ch;
    CHECK_RC(gmp_chan_make_ex(&ch, sizeof(int64_t), 8, count_drop, log), 0);
    for (int64_t i = 1; i <= 6; i++) CHECK_RC(gmp_chan_send(ch, &i), 0);
    int64_t v;
    CHECK_RC(gmp_chan_recv(ch, &v), 0); /* 1 is no longer buffered */
    CHECK(gmp_chan_retain(ch) == ch);
    gmp_chan_release(ch);
    CHECK(log[0] == 0); /* a reference remains */
    gmp_chan_release(ch);
    CHECK(log[0] == 5 && log[1] == 2 + 3 + 4 + 5 + 6);
}

/* ---- foreign threads ---------------------------------------------------------------- */

struct pp {
    gmp_chan *req, *resp;
};

static void echo_server(void *p) {
    struct pp *x = p;
    int64_t v;
    while (gmp_chan_recv(x->req, &v) == 0) {
        v = v * 2 + 1;
        CHECK_RC(gmp_chan_send(x->resp, &v), 0);
    }
}

static void test_foreign_ping_pong(void) {
    for (int server_on_thread = 0; server_on_thread < 2; server_on_thread++) {
        struct pp x;
        CHECK_RC(gmp_chan_make(&x.req, sizeof(int64_t), 0), 0);
        CHECK_RC(gmp_chan_make(&x.resp, sizeof(int64_t), 0), 0);
        gmp_waitgroup wg = GMP_WAITGROUP_INIT;
        pthread_t t;
        if (server_on_thread)
            t = thread(echo_server, &x);
        else
            go(&wg, echo_server, &x);
        for (int64_t i = 0; i < 2000; i++) {
            int64_t v = i;
            CHECK_RC(gmp_chan_send(x.req, &v), 0);
            CHECK_RC(gmp_chan_recv(x.resp, &v), 0);
            CHECK(v == i * 2 + 1);
        }
        CHECK_RC(gmp_chan_close(x.req), 0);
        if (server_on_thread)
            pthread_join(t, NULL);
        else
            CHECK_RC(gmp_waitgroup_wait(&wg), 0);
        gmp_chan_release(x.req);
        gmp_chan_release(x.resp);
    }
}

/* ---- main --------------------------------------------------------------------------- */

static void all(void) {
    test_unbuffered_sizes();
    test_limits();
    test_recv_null_discards();
    test_buffered();
    test_close();
    test_timeouts();
    test_drop();
    test_foreign_ping_pong();
}

static void in_main_goroutine(void *arg) {
    (void)arg;
    CHECK(gmp_self() != 0);
    all();
}

int main(void) {
    all(); /* from a foreign thread (this one) */
    CHECK_RC(gmp_main(in_main_goroutine, NULL), 0); /* and from a goroutine */
    /* After shutdown, channel calls report GMP_ESHUTDOWN; a channel made before it
     * can still be released. */
    gmp_chan *ch;
    int64_t v = 1;
    CHECK_RC(gmp_chan_make(&ch, sizeof v, 1), 0);
    CHECK_RC(gmp_shutdown(10000 * MS), 0);
    CHECK_RC(gmp_chan_send(ch, &v), GMP_ESHUTDOWN);
    CHECK_RC(gmp_chan_recv_timeout(ch, &v, 0), GMP_ESHUTDOWN);
    CHECK_RC(gmp_chan_close(ch), GMP_ESHUTDOWN);
    gmp_chan *ch2 = NULL;
    CHECK_RC(gmp_chan_make(&ch2, sizeof v, 1), GMP_ESHUTDOWN);
    gmp_chan_release(ch);
    printf("chan_basic: ok\n");
    return 0;
}

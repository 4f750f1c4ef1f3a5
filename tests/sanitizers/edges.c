/* edges.c: every happens-before edge the runtime creates, each carrying plain
 * (non-atomic) data between goroutines, so ThreadSanitizer must see the edge or report
 * a race: channel send -> receive (unbuffered, buffered, a pointer to heap data and the
 * data itself), close -> receive, select, mutex unlock -> lock, rwmutex, waitgroup
 * done -> wait, once, cond signal -> wake, spawn -> start, home post -> run, a
 * goroutine's end -> gmp_main's return, and gmp_blocking's function (run on another
 * context). Stacks are reused across many short goroutines (a stale stack history
 * would be a report). Built and run by tests/sanitizers/run.sh under TSan and
 * ASan+UBSan, where it must print no report at all; it passes unsanitized too. */
#define _POSIX_C_SOURCE 200809L
#include "../c/check.h"

#include <pthread.h>
#include <string.h>

enum { N = 200 };

struct box {
    int v[8];
};

/* --- channels ------------------------------------------------------------------ */

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;

static void chan_producer(void *arg) {
    gmp_chan *ch = arg;
    for (int i = 0; i < N; i++) {
        struct box *b = malloc(sizeof *b); /* plain writes, handed over by pointer */
        for (int k = 0; k < 8; k++) b->v[k] = i + k;
        CHECK_RC(gmp_chan_send(ch, &b), 0);
    }
    gmp_waitgroup_done(&wg);
}

static void chan_consumer(void *arg) {
    gmp_chan *ch = arg;
    for (int i = 0; i < N; i++) {
        struct box *b;
        CHECK_RC(gmp_chan_recv(ch, &b), 0);
        CHECK(b->v[7] == i + 7);
        b->v[0] = -1; /* and the receiver writes it before freeing it */
        free(b);
    }
    gmp_waitgroup_done(&wg);
}

static void channels(size_t cap) {
    gmp_chan *ch;
    CHECK_RC(gmp_chan_make(&ch, sizeof(struct box *), cap), 0);
    gmp_waitgroup_add(&wg, 2);
    CHECK_RC(gmp_go(chan_consumer, ch), 0);
    CHECK_RC(gmp_go(chan_producer, ch), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    gmp_chan_release(ch);
}

/* Unbuffered: the receive happens before the send completes (Go's memory model), so
 * the receiver may write what the sender reads after its send. */
static int ack_data;

static void acker(void *arg) {
    gmp_chan *ch = arg;
    int v;
    CHECK_RC(gmp_chan_recv(ch, &v), 0);
    ack_data = v + 1;
    CHECK_RC(gmp_chan_recv(ch, &v), 0);
    gmp_waitgroup_done(&wg);
}

static void unbuffered_ack(void) {
    gmp_chan *ch;
    CHECK_RC(gmp_chan_make(&ch, sizeof(int), 0), 0);
    gmp_waitgroup_add(&wg, 1);
    CHECK_RC(gmp_go(acker, ch), 0);
    int v = 41;
    CHECK_RC(gmp_chan_send(ch, &v), 0);
    CHECK_RC(gmp_chan_send(ch, &v), 0); /* the acker wrote ack_data before this recv */
    CHECK(ack_data == 42);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    gmp_chan_release(ch);
}

/* close -> a receive that sees it. */
static int closed_data;

static void closer(void *arg) {
    closed_data = 7;
    CHECK_RC(gmp_chan_close(arg), 0);
}

static void close_edge(void) {
    gmp_chan *ch;
    CHECK_RC(gmp_chan_make(&ch, sizeof(int), 0), 0);
    CHECK_RC(gmp_go(closer, ch), 0);
    int v;
    CHECK_RC(gmp_chan_recv(ch, &v), GMP_ECLOSED);
    CHECK(closed_data == 7);
    gmp_chan_release(ch);
}

/* select: the fired case's send -> receive. */
static int select_data[2];

static void select_sender(void *arg) {
    gmp_chan **chs = arg;
    int which = (int)(gmp_self() & 1);
    select_data[which] = 100 + which;
    CHECK_RC(gmp_chan_send(chs[which], &which), 0);
}

static void select_edge(void) {
    gmp_chan *chs[2];
    for (int i = 0; i < 2; i++) CHECK_RC(gmp_chan_make(&chs[i], sizeof(int), 0), 0);
    for (int round = 0; round < 20; round++) {
        CHECK_RC(gmp_go(select_sender, chs), 0);
        int got = -1;
        gmp_select_case cases[2] = {{chs[0], GMP_RECV, &got, 0}, {chs[1], GMP_RECV, &got, 0}};
        int i = gmp_select(cases, 2, -1);
        CHECK(i == 0 || i == 1);
        CHECK(got == i);
        CHECK(select_data[i] == 100 + i);
        select_data[i] = 0;
    }
    for (int i = 0; i < 2; i++) gmp_chan_release(chs[i]);
}

/* --- sync types -------------------------------------------------------------------- */

static gmp_mutex mu = GMP_MUTEX_INIT;
static gmp_rwmutex rw = GMP_RWMUTEX_INIT;
static long counter, rw_counter;

static void locker(void *arg) {
    (void)arg;
    for (int i = 0; i < 50; i++) {
        CHECK_RC(gmp_mutex_lock(&mu), 0);
        counter++;
        if (i % 10 == 0) gmp_gosched(); /* held across a switch point */
        CHECK_RC(gmp_mutex_unlock(&mu), 0);
        CHECK_RC(gmp_rwmutex_lock(&rw), 0);
        rw_counter++;
        CHECK_RC(gmp_rwmutex_unlock(&rw), 0);
        CHECK_RC(gmp_rwmutex_rlock(&rw), 0);
        CHECK(rw_counter > 0);
        CHECK_RC(gmp_rwmutex_runlock(&rw), 0);
    }
    gmp_waitgroup_done(&wg);
}

static void mutexes(void) {
    gmp_waitgroup_add(&wg, 8);
    for (int i = 0; i < 8; i++) CHECK_RC(gmp_go(locker, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK(counter == 8 * 50); /* done -> wait */
    CHECK(rw_counter == 8 * 50);
}

static gmp_once once = GMP_ONCE_INIT;
static int once_data;

static void once_fn(void *arg) {
    (void)arg;
    once_data = 99;
}

static void once_user(void *arg) {
    (void)arg;
    CHECK_RC(gmp_once_do(&once, once_fn, NULL), 0);
    CHECK(once_data == 99);
    gmp_waitgroup_done(&wg);
}

static void once_edge(void) {
    gmp_waitgroup_add(&wg, 6);
    for (int i = 0; i < 6; i++) CHECK_RC(gmp_go(once_user, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
}

static gmp_cond cv = GMP_COND_INIT;
static int cond_ready, cond_data;

static void cond_waiter(void *arg) {
    (void)arg;
    CHECK_RC(gmp_mutex_lock(&mu), 0);
    while (!cond_ready) CHECK_RC(gmp_cond_wait(&cv, &mu), 0);
    CHECK(cond_data == 5);
    CHECK_RC(gmp_mutex_unlock(&mu), 0);
    gmp_waitgroup_done(&wg);
}

static void cond_edge(void) {
    gmp_waitgroup_add(&wg, 3);
    for (int i = 0; i < 3; i++) CHECK_RC(gmp_go(cond_waiter, NULL), 0);
    CHECK_RC(gmp_sleep(1000000), 0);
    CHECK_RC(gmp_mutex_lock(&mu), 0);
    cond_data = 5;
    cond_ready = 1;
    CHECK_RC(gmp_cond_broadcast(&cv), 0);
    CHECK_RC(gmp_mutex_unlock(&mu), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
}

/* --- spawn, blocking, homes, many short goroutines ------------------------------------- */

static void spawned(void *arg) {
    struct box *b = arg; /* written by the spawner before gmp_go: spawn -> start */
    CHECK(b->v[3] == 3);
    b->v[3] = 0;
    free(b);
    gmp_waitgroup_done(&wg);
}

static void spawn_edge(void) {
    /* Many short goroutines: their stacks are reused, each by a goroutine that never
     * synchronised with the previous user. */
    for (int round = 0; round < 10; round++) {
        gmp_waitgroup_add(&wg, N);
        for (int i = 0; i < N; i++) {
            struct box *b = malloc(sizeof *b);
            memset(b, 0, sizeof *b);
            b->v[3] = 3;
            CHECK_RC(gmp_go(spawned, b), 0);
        }
        CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    }
}

static int blocking_data;

static void blocking_fn(void *arg) {
    int *p = arg;
    CHECK(*p == 1);
    blocking_data = *p + 1;
}

static void blocking_user(void *arg) {
    (void)arg;
    int x = 1;
    CHECK_RC(gmp_blocking(blocking_fn, &x), 0);
    CHECK(blocking_data == 2);
    blocking_data = 0;
    gmp_waitgroup_done(&wg);
}

static void blocking_edge(void) {
    for (int i = 0; i < 5; i++) {
        gmp_waitgroup_add(&wg, 1);
        CHECK_RC(gmp_go(blocking_user, NULL), 0);
        CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    }
}

static int home_data;

static void home_goroutine(void *arg) {
    struct box *b = arg;
    CHECK(b->v[1] == 11);
    home_data += b->v[1];
    free(b);
}

static void *home_thread(void *arg) {
    (void)arg;
    gmp_home *h;
    CHECK_RC(gmp_home_make(&h), 0);
    for (int i = 0; i < 20; i++) {
        struct box *b = malloc(sizeof *b);
        b->v[1] = 11;
        CHECK_RC(gmp_go_home(h, NULL, home_goroutine, b), 0); /* post -> run */
        CHECK(gmp_home_run(h, -1) >= 0);
    }
    CHECK_RC(gmp_home_close(h), 0);
    while (gmp_home_run(h, -1) != GMP_ECLOSED) gmp_home_wait(h, 1000000);
    CHECK_RC(gmp_home_free(h), 0);
    CHECK(home_data == 20 * 11);
    return NULL;
}

static void homes(void) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, home_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
}

/* --- the main goroutine ------------------------------------------------------------- */

static int main_result;

static void run(void *arg) {
    (void)arg;
    SAY("channel send -> receive (unbuffered, buffered), heap data by pointer");
    channels(0);
    channels(16);
    SAY("unbuffered receive -> send completes");
    unbuffered_ack();
    SAY("close -> receive");
    close_edge();
    SAY("select");
    select_edge();
    SAY("mutex and rwmutex unlock -> lock, waitgroup done -> wait");
    mutexes();
    SAY("once");
    once_edge();
    SAY("cond signal -> wake");
    cond_edge();
    SAY("spawn -> start, over reused stacks");
    spawn_edge();
    SAY("gmp_blocking's function");
    blocking_edge();
    main_result = 1; /* read by main after gmp_main returns */
}

int main(void) {
    CHECK_RC(gmp_main(run, NULL), 0);
    CHECK(main_result == 1);
    SAY("home post -> run (a home on a thread of ours)");
    homes();
    printf("edges: ok\n");
    return 0;
}

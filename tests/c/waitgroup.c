/* waitgroup.c: gmp_waitgroup through the C ABI: negative counts refused, many waiters
 * (goroutines and threads) released at once, reuse, and free right after wait. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

static gmp_waitgroup gate = GMP_WAITGROUP_INIT;
static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static atomic_long passed;

static void waiter(void *arg) {
    (void)arg;
    CHECK_RC(gmp_waitgroup_wait(&gate), 0);
    atomic_fetch_add(&passed, 1);
    gmp_waitgroup_done(&wg);
}

static void *thread_waiter(void *arg) {
    waiter(arg);
    return NULL;
}

static void done_it(void *arg) { CHECK_RC(gmp_waitgroup_done(arg), 0); }

static void free_after_wait(void *arg) {
    gmp_waitgroup *w = arg;
    CHECK_RC(gmp_waitgroup_wait(w), 0);
    free(w); /* only done() calls can still be running on it */
    gmp_waitgroup_done(&wg);
}

int main(void) {
    SAY("counting and GMP_EINVAL below zero");
    gmp_waitgroup w = GMP_WAITGROUP_INIT;
    CHECK_RC(gmp_waitgroup_wait(&w), 0);
    CHECK_RC(gmp_waitgroup_done(&w), GMP_EINVAL);
    CHECK_RC(gmp_waitgroup_add(&w, -1), GMP_EINVAL);
    CHECK_RC(gmp_waitgroup_add(&w, 2), 0);
    CHECK_RC(gmp_waitgroup_add(&w, -3), GMP_EINVAL);
    CHECK_RC(gmp_waitgroup_done(&w), 0);
    CHECK_RC(gmp_waitgroup_done(&w), 0);
    CHECK_RC(gmp_waitgroup_wait(&w), 0);
    CHECK_RC(gmp_waitgroup_add(NULL, 1), GMP_EINVAL);

    SAY("40 goroutines and 4 threads wait on one gate; one done releases all");
    CHECK_RC(gmp_waitgroup_add(&gate, 1), 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 44), 0);
    for (int i = 0; i < 40; i++) CHECK_RC(gmp_go(waiter, NULL), 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&th[i], NULL, thread_waiter, NULL) == 0);
    CHECK_RC(gmp_sleep(5000000), 0);
    CHECK(atomic_load(&passed) == 0);
    CHECK_RC(gmp_waitgroup_done(&gate), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CHECK(atomic_load(&passed) == 44);

    SAY("reuse across 100 rounds");
    for (int r = 0; r < 100; r++) {
        int n = 1 + r % 13;
        CHECK_RC(gmp_waitgroup_add(&w, n), 0);
        for (int i = 0; i < n; i++) CHECK_RC(gmp_go(done_it, &w), 0);
        CHECK_RC(gmp_waitgroup_wait(&w), 0);
    }

    SAY("free right after wait: 3000 heap waitgroups, 2 done-ers each");
    enum { OBJS = 3000 };
    CHECK_RC(gmp_waitgroup_add(&wg, OBJS), 0);
    for (int i = 0; i < OBJS; i++) {
        gmp_waitgroup *h = malloc(sizeof *h);
        CHECK(h != NULL);
        *h = (gmp_waitgroup)GMP_WAITGROUP_INIT;
        CHECK_RC(gmp_waitgroup_add(h, 2), 0);
        CHECK_RC(gmp_go(free_after_wait, h), 0);
        CHECK_RC(gmp_go(done_it, h), 0);
        CHECK_RC(gmp_go(done_it, h), 0);
    }
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    printf("waitgroup: ok\n");
    return 0;
}

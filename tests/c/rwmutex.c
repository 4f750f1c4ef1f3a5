/* rwmutex.c: gmp_rwmutex through the C ABI: try variants and error codes, readers
 * holding it together, writers exclusive against readers and each other. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

static gmp_rwmutex rw = GMP_RWMUTEX_INIT;
static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static gmp_waitgroup all_in = GMP_WAITGROUP_INIT;
static atomic_long state; /* readers inside, or -1 for a writer */

static void reader_together(void *arg) {
    (void)arg;
    CHECK_RC(gmp_rwmutex_rlock(&rw), 0);
    gmp_waitgroup_done(&all_in);
    CHECK_RC(gmp_waitgroup_wait(&all_in), 0); /* needs all readers inside at once */
    CHECK_RC(gmp_rwmutex_runlock(&rw), 0);
    gmp_waitgroup_done(&wg);
}

static void mixed(void *arg) {
    long who = (long)arg;
    for (int i = 0; i < 1000; i++) {
        if ((who + i) % 5 == 0) {
            CHECK_RC(gmp_rwmutex_lock(&rw), 0);
            CHECK(atomic_exchange(&state, -1) == 0);
            if (i % 4 == 0) gmp_gosched();
            CHECK(atomic_exchange(&state, 0) == -1);
            CHECK_RC(gmp_rwmutex_unlock(&rw), 0);
        } else {
            CHECK_RC(gmp_rwmutex_rlock(&rw), 0);
            CHECK(atomic_fetch_add(&state, 1) >= 0);
            if (i % 4 == 0) gmp_gosched();
            atomic_fetch_sub(&state, 1);
            CHECK_RC(gmp_rwmutex_runlock(&rw), 0);
        }
    }
    gmp_waitgroup_done(&wg);
}

static void *thread_mixed(void *arg) {
    mixed(arg);
    return NULL;
}

int main(void) {
    SAY("try variants and error codes");
    gmp_rwmutex r = GMP_RWMUTEX_INIT;
    CHECK_RC(gmp_rwmutex_unlock(&r), GMP_EINVAL);
    CHECK_RC(gmp_rwmutex_runlock(&r), GMP_EINVAL);
    CHECK_RC(gmp_rwmutex_tryrlock(&r), 0);
    CHECK_RC(gmp_rwmutex_tryrlock(&r), 0);
    CHECK_RC(gmp_rwmutex_trylock(&r), GMP_EAGAIN);
    CHECK_RC(gmp_rwmutex_unlock(&r), GMP_EINVAL);
    CHECK_RC(gmp_rwmutex_runlock(&r), 0);
    CHECK_RC(gmp_rwmutex_runlock(&r), 0);
    CHECK_RC(gmp_rwmutex_trylock(&r), 0);
    CHECK_RC(gmp_rwmutex_tryrlock(&r), GMP_EAGAIN);
    CHECK_RC(gmp_rwmutex_runlock(&r), GMP_EINVAL);
    CHECK_RC(gmp_rwmutex_unlock(&r), 0);
    CHECK_RC(gmp_rwmutex_rlock(NULL), GMP_EINVAL);

    SAY("30 readers hold the read lock at the same time");
    CHECK_RC(gmp_waitgroup_add(&all_in, 30), 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 30), 0);
    for (int i = 0; i < 30; i++) CHECK_RC(gmp_go(reader_together, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);

    SAY("readers and writers: 20 goroutines + 2 threads, writers exclusive");
    CHECK_RC(gmp_waitgroup_add(&wg, 22), 0);
    for (long i = 0; i < 20; i++) CHECK_RC(gmp_go(mixed, (void *)i), 0);
    pthread_t th[2];
    for (long i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, thread_mixed, (void *)(20 + i)) == 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK_RC(gmp_rwmutex_trylock(&rw), 0);
    CHECK_RC(gmp_rwmutex_unlock(&rw), 0);
    printf("rwmutex: ok\n");
    return 0;
}

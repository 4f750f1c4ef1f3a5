/* mutex.c: gmp_mutex through the C ABI: mutual exclusion between goroutines and
 * threads, trylock EAGAIN, unlock of an unlocked mutex EINVAL, unlock from another
 * goroutine, and the C idiom `unlock; if (last) free(obj)` under stress. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

static gmp_mutex mu = GMP_MUTEX_INIT;
static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static long counter;        /* only under mu */
static atomic_int inside;
#define ITERS 2000

static void worker(void *arg) {
    (void)arg;
    for (int i = 0; i < ITERS; i++) {
        CHECK_RC(gmp_mutex_lock(&mu), 0);
        CHECK(atomic_fetch_add(&inside, 1) == 0);
        counter++;
        if (i % 8 == 0) gmp_gosched();
        atomic_fetch_sub(&inside, 1);
        CHECK_RC(gmp_mutex_unlock(&mu), 0);
    }
    gmp_waitgroup_done(&wg);
}

static void *thread_worker(void *arg) {
    worker(arg);
    return NULL;
}

struct obj {
    gmp_mutex mu;
    int refs; /* under mu */
};

static atomic_long freed;

static void user(void *arg) {
    struct obj *o = arg;
    CHECK_RC(gmp_mutex_lock(&o->mu), 0);
    int last = --o->refs == 0;
    gmp_gosched();
    CHECK_RC(gmp_mutex_unlock(&o->mu), 0);
    if (last) {
        free(o);
        atomic_fetch_add(&freed, 1);
    }
    gmp_waitgroup_done(&wg);
}

static void unlocker(void *arg) {
    CHECK_RC(gmp_mutex_unlock(arg), 0);
    gmp_waitgroup_done(&wg);
}

int main(void) {
    SAY("trylock / unlock error codes");
    gmp_mutex m = GMP_MUTEX_INIT;
    CHECK_RC(gmp_mutex_unlock(&m), GMP_EINVAL);
    CHECK_RC(gmp_mutex_trylock(&m), 0);
    CHECK_RC(gmp_mutex_trylock(&m), GMP_EAGAIN);
    CHECK_RC(gmp_mutex_unlock(&m), 0);
    CHECK_RC(gmp_mutex_unlock(&m), GMP_EINVAL);
    CHECK_RC(gmp_mutex_lock(NULL), GMP_EINVAL);

    SAY("unlock by another goroutine");
    CHECK_RC(gmp_mutex_lock(&m), 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
    CHECK_RC(gmp_go(unlocker, &m), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK_RC(gmp_mutex_trylock(&m), 0);
    CHECK_RC(gmp_mutex_unlock(&m), 0);

    SAY("mutual exclusion: 16 goroutines + 2 threads x %d", ITERS);
    CHECK_RC(gmp_waitgroup_add(&wg, 18), 0);
    for (int i = 0; i < 16; i++) CHECK_RC(gmp_go(worker, NULL), 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, thread_worker, NULL) == 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK(counter == 18L * ITERS);

    SAY("unlock; if (last) free(obj): 5000 objects x 3 users");
    enum { OBJS = 5000, USERS = 3 };
    CHECK_RC(gmp_waitgroup_add(&wg, OBJS * USERS), 0);
    for (int i = 0; i < OBJS; i++) {
        struct obj *o = malloc(sizeof *o);
        CHECK(o != NULL);
        o->mu = (gmp_mutex)GMP_MUTEX_INIT;
        o->refs = USERS;
        for (int u = 0; u < USERS; u++) CHECK_RC(gmp_go(user, o), 0);
    }
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK(atomic_load(&freed) == OBJS);
    printf("mutex: ok\n");
    return 0;
}

/* once.c: gmp_once through the C ABI: 100 concurrent callers (goroutines and threads),
 * the function runs exactly once and every caller returns after it finished. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

static gmp_once once = GMP_ONCE_INIT;
static gmp_waitgroup gate = GMP_WAITGROUP_INIT;
static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static atomic_int calls, finished;

static void init_fn(void *arg) {
    CHECK(arg == &once);
    atomic_fetch_add(&calls, 1);
    CHECK_RC(gmp_sleep(20000000), 0); /* others pile up meanwhile */
    atomic_store(&finished, 1);
}

static void caller(void *arg) {
    (void)arg;
    CHECK_RC(gmp_waitgroup_wait(&gate), 0);
    CHECK_RC(gmp_once_do(&once, init_fn, &once), 0);
    CHECK(atomic_load(&finished) == 1);
    gmp_waitgroup_done(&wg);
}

static void *thread_caller(void *arg) {
    caller(arg);
    return NULL;
}

int main(void) {
    SAY("NULL arguments");
    gmp_once o = GMP_ONCE_INIT;
    CHECK_RC(gmp_once_do(NULL, init_fn, NULL), GMP_EINVAL);
    CHECK_RC(gmp_once_do(&o, NULL, NULL), GMP_EINVAL);

    SAY("90 goroutines + 10 threads call once_do together");
    CHECK_RC(gmp_waitgroup_add(&gate, 1), 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 100), 0);
    for (int i = 0; i < 90; i++) CHECK_RC(gmp_go(caller, NULL), 0);
    pthread_t th[10];
    for (int i = 0; i < 10; i++) CHECK(pthread_create(&th[i], NULL, thread_caller, NULL) == 0);
    CHECK_RC(gmp_waitgroup_done(&gate), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    for (int i = 0; i < 10; i++) pthread_join(th[i], NULL);
    CHECK(atomic_load(&calls) == 1);

    SAY("later calls do nothing");
    CHECK_RC(gmp_once_do(&once, init_fn, &once), 0);
    CHECK(atomic_load(&calls) == 1);
    printf("once: ok\n");
    return 0;
}

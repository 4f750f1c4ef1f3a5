/* thread_local.c: thread-local storage after a goroutine migrates (README "Thread-local
 * storage and goroutines").
 *
 * The hazard: a thread-local's address taken before a switch point and used after it
 * names the thread the goroutine ran on before, not the one it runs on now. Shown
 * deterministically with a goroutine that is made to migrate: it parks while a
 * goroutine of its own P spins without a switch point on its old thread, so it can only
 * resume on another (the P's queue is stolen or handed off by sysmon meanwhile).
 * Compilers take such addresses on their own too (one `__tls_get_addr` per function in
 * -fPIC code; glibc's `__errno_location` is const): `demo_compiler_cached` counts how
 * often that happened here, as a demonstration only (it depends on the compiler).
 *
 * The supported ways, each asserted after a real migration: a noinline accessor that
 * computes the address anew after the switch point; goroutine-local storage
 * (gmp_local_*: values follow the goroutine, destructors run at its end, keys work on
 * plain threads too); gmp_lock_os_thread (the goroutine stays on its thread). */
#define _GNU_SOURCE
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

/* Each thread's object: the id of the thread it belongs to (set on first use). */
static _Thread_local pid_t tl_owner;

/* The safe accessor: noinline, so every call computes the calling thread's address. */
__attribute__((noinline)) static pid_t *tl_addr(void) {
    pid_t *p = &tl_owner;
    __asm__ volatile("" : "+r"(p)); /* no caller may assume the result is constant */
    if (*p == 0) *p = tid();
    return p;
}

/* Parks the calling goroutine until it runs on another thread than `from`: a spinner
 * queued on its P holds the old thread meanwhile, so the P's other work (us, once the
 * sleep ends) is taken by another thread. Needs 2 P's; one migration at a time. */
static gmp_mutex migrate_mu = GMP_MUTEX_INIT;

static void spinner(void *arg) {
    atomic_int *stop = arg;
    while (!atomic_load_explicit(stop, memory_order_relaxed)) {
    }
    atomic_store(stop, 2);
}

static void migrate(pid_t from) {
    CHECK_RC(gmp_mutex_lock(&migrate_mu), 0);
    atomic_int stop = 0;
    CHECK_RC(gmp_go(spinner, &stop), 0); /* our P's next goroutine: runs when we park */
    long long t0 = check_ms();
    do {
        CHECK_RC(gmp_sleep(200000), 0);
        CHECK(check_ms() - t0 < 60000);
    } while (tid() == from);
    atomic_store(&stop, 1);
    while (atomic_load(&stop) != 2) { /* it is done with `stop` (no switch point here, */
    }                                 /* so we stay on the new thread) */
    CHECK_RC(gmp_mutex_unlock(&migrate_mu), 0);
}

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;

/* --- the hazard ------------------------------------------------------------------ */

static atomic_int hazard_seen;

static void hazard(void *arg) {
    (void)arg;
    pid_t before = tid();
    pid_t *cached = tl_addr(); /* this thread's object */
    migrate(before);
    pid_t now = tid();
    CHECK(now != before);
    /* The cached address still names the old thread's object... */
    CHECK(*cached == before);
    /* ...while the accessor, called after the switch point, names this thread's. */
    CHECK(tl_addr() != cached);
    CHECK(*tl_addr() == now);
    atomic_fetch_add(&hazard_seen, 1);
    gmp_waitgroup_done(&wg);
}

/* What compilers do on their own: one address for the whole function. */
static _Thread_local __attribute__((tls_model("global-dynamic"))) pid_t tl_gd;
static atomic_int compiler_cached, compiler_runs;

__attribute__((noinline)) static void demo_compiler_cached(void *arg) {
    (void)arg;
    pid_t before = tid();
    tl_gd = before; /* this thread's object */
    migrate(before);
    if (tl_gd == before) atomic_fetch_add(&compiler_cached, 1); /* read through the old address */
    atomic_fetch_add(&compiler_runs, 1);
    gmp_waitgroup_done(&wg);
}

/* --- goroutine-local storage ------------------------------------------------------- */

static gmp_local_key key, key2;
static atomic_int destroyed;

static void destroy(void *v) {
    CHECK(v != NULL);
    atomic_fetch_add(&destroyed, 1);
    free(v);
}

static void local_user(void *arg) {
    long me = (long)(size_t)arg;
    CHECK(gmp_local_get(key) == NULL); /* a new goroutine starts with none */
    long *v = malloc(sizeof *v);
    *v = me;
    CHECK_RC(gmp_local_set(key, v), 0);
    CHECK_RC(gmp_local_set(key2, (void *)(size_t)(me + 1000)), 0); /* no destructor */
    pid_t before = tid();
    if (me % 4 == 0) migrate(before);
    else CHECK_RC(gmp_sleep(100000), 0);
    long *got = gmp_local_get(key); /* the goroutine's value, wherever it runs now */
    CHECK(got == v && *got == me);
    CHECK(gmp_local_get(key2) == (void *)(size_t)(me + 1000));
    gmp_waitgroup_done(&wg);
}

/* --- gmp_lock_os_thread -------------------------------------------------------------- */

static void locked_user(void *arg) {
    (void)arg;
    CHECK_RC(gmp_lock_os_thread(), 0);
    pid_t before = tid();
    pid_t *cached = tl_addr();
    for (int i = 0; i < 5; i++) CHECK_RC(gmp_sleep(100000), 0);
    CHECK(tid() == before); /* never moved, so the cached address stays right */
    CHECK(cached == tl_addr() && *cached == before);
    CHECK_RC(gmp_unlock_os_thread(), 0);
    gmp_waitgroup_done(&wg);
}

/* --- on a plain thread -------------------------------------------------------------- */

static void *plain_thread(void *arg) {
    (void)arg;
    long *v = malloc(sizeof *v);
    *v = 7;
    CHECK(gmp_local_get(key) == NULL);
    CHECK_RC(gmp_local_set(key, v), 0);
    CHECK(gmp_local_get(key) == v);
    return NULL; /* the destructor runs at thread exit */
}

static void run(void *arg) {
    (void)arg;
    CHECK(gmp_maxprocs(2) >= 1);

    SAY("a thread-local address taken before a switch point names the old thread after");
    gmp_waitgroup_add(&wg, 4);
    for (int i = 0; i < 4; i++) CHECK_RC(gmp_go(hazard, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK(atomic_load(&hazard_seen) == 4);

    SAY("a noinline accessor and gmp_local_* follow the goroutine; destructors at its end");
    CHECK_RC(gmp_local_key_create(&key, destroy), 0);
    CHECK_RC(gmp_local_key_create(&key2, NULL), 0);
    CHECK(key != 0 && key2 != 0 && key != key2);
    enum { NL = 64 };
    gmp_waitgroup_add(&wg, NL);
    for (long i = 0; i < NL; i++) CHECK_RC(gmp_go(local_user, (void *)(size_t)i), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    long long t0 = check_ms();
    while (atomic_load(&destroyed) < NL) { /* the last ones end after their done */
        CHECK_RC(gmp_sleep(100000), 0);
        CHECK(check_ms() - t0 < 60000);
    }
    CHECK(atomic_load(&destroyed) == NL);

    SAY("gmp_local_* on a plain thread: its own value, destroyed at thread exit");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, plain_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(atomic_load(&destroyed) == NL + 1);

    SAY("bad keys: EINVAL; a deleted key reads NULL");
    CHECK_RC(gmp_local_set(0, NULL), GMP_EINVAL);
    CHECK(gmp_local_get(0) == NULL);
    CHECK(gmp_local_get(12345) == NULL);
    CHECK_RC(gmp_local_key_create(NULL, NULL), GMP_EINVAL);
    gmp_local_key k3;
    CHECK_RC(gmp_local_key_create(&k3, NULL), 0);
    CHECK_RC(gmp_local_set(k3, &k3), 0);
    CHECK(gmp_local_get(k3) == &k3);
    CHECK_RC(gmp_local_key_delete(k3), 0);
    CHECK(gmp_local_get(k3) == NULL);
    CHECK_RC(gmp_local_key_delete(k3), GMP_EINVAL);
    CHECK_RC(gmp_local_set(k3, &k3), GMP_EINVAL);
    gmp_local_key k4;
    CHECK_RC(gmp_local_key_create(&k4, NULL), 0); /* may reuse k3's slot: */
    CHECK(k4 != k3 && gmp_local_get(k4) == NULL); /* never sees k3's value */
    CHECK_RC(gmp_local_key_delete(k4), 0);

    SAY("gmp_lock_os_thread: the goroutine stays, a cached address stays right");
    gmp_waitgroup_add(&wg, 2);
    for (int i = 0; i < 2; i++) CHECK_RC(gmp_go(locked_user, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);

    gmp_waitgroup_add(&wg, 8);
    for (int i = 0; i < 8; i++) CHECK_RC(gmp_go(demo_compiler_cached, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    printf("  demonstration: the compiler's own cached address read the old thread's "
           "object in %d of %d migrations\n",
           atomic_load(&compiler_cached), atomic_load(&compiler_runs));
}

int main(void) {
    CHECK_RC(gmp_main(run, NULL), 0);
    printf("thread_local: ok\n");
    return 0;
}

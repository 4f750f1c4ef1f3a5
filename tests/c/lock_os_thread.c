/* lock_os_thread.c: a locked goroutine keeps its thread across 1000 parks while others
 * run; nesting; unlock without lock is a no-op; a goroutine that ends locked takes its
 * thread with it and the runtime goes on. */
#define _GNU_SOURCE
#include "check.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;      /* the goroutines under test */
static gmp_waitgroup busy_wg = GMP_WAITGROUP_INIT; /* the background load */
static atomic_int stop, moved, exited_tid;

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

static void busy(void *arg) {
    long i = (long)arg;
    while (!atomic_load(&stop)) {
        if (++i % 3 == 0) gmp_sleep(20000);
        else gmp_gosched();
    }
    gmp_waitgroup_done(&busy_wg);
}

static void helper_done(void *arg) { CHECK_RC(gmp_waitgroup_done(arg), 0); }

static void locked(void *arg) {
    (void)arg;
    CHECK_RC(gmp_lock_os_thread(), 0);
    pid_t me = tid();
    pthread_t pme = pthread_self();
    for (int i = 0; i < 1000; i++) {
        if (i % 3 == 0) {
            CHECK_RC(gmp_sleep(2000), 0);
        } else if (i % 3 == 1) {
            gmp_waitgroup w = GMP_WAITGROUP_INIT;
            CHECK_RC(gmp_waitgroup_add(&w, 1), 0);
            CHECK_RC(gmp_go(helper_done, &w), 0);
            CHECK_RC(gmp_waitgroup_wait(&w), 0);
        } else {
            gmp_gosched();
        }
        if (tid() != me || !pthread_equal(pthread_self(), pme)) atomic_fetch_add(&moved, 1);
    }
    CHECK_RC(gmp_unlock_os_thread(), 0);
    gmp_waitgroup_done(&wg);
}

static void nested(void *arg) {
    (void)arg;
    CHECK_RC(gmp_unlock_os_thread(), 0); /* without a lock: no-op */
    CHECK_RC(gmp_lock_os_thread(), 0);
    CHECK_RC(gmp_lock_os_thread(), 0);
    CHECK_RC(gmp_unlock_os_thread(), 0);
    pid_t me = tid();
    for (int i = 0; i < 300; i++) {
        if (i % 2) gmp_gosched();
        else CHECK_RC(gmp_sleep(2000), 0);
        if (tid() != me) atomic_fetch_add(&moved, 1);
    }
    CHECK_RC(gmp_unlock_os_thread(), 0);
    CHECK_RC(gmp_unlock_os_thread(), 0);
    gmp_waitgroup_done(&wg);
}

static void exits_locked(void *arg) {
    (void)arg;
    CHECK_RC(gmp_lock_os_thread(), 0);
    CHECK_RC(gmp_sleep(1000), 0);
    atomic_store(&exited_tid, tid());
    gmp_waitgroup_done(&wg);
}

static int task_exists(pid_t t) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)t);
    struct stat st;
    return stat(path, &st) == 0;
}

int main(void) {
    SAY("lock/unlock on the main (foreign) thread are no-ops returning 0");
    CHECK_RC(gmp_unlock_os_thread(), 0);
    CHECK_RC(gmp_lock_os_thread(), 0);
    CHECK_RC(gmp_unlock_os_thread(), 0);

    SAY("3 locked goroutines x 1000 parks keep their thread while 8 others run");
    CHECK_RC(gmp_waitgroup_add(&busy_wg, 8), 0);
    for (long i = 0; i < 8; i++) CHECK_RC(gmp_go(busy, (void *)i), 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 4), 0);
    for (int i = 0; i < 3; i++) CHECK_RC(gmp_go(locked, NULL), 0);
    SAY("nesting: lock twice, unlock once: still locked");
    CHECK_RC(gmp_go(nested, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    atomic_store(&stop, 1);
    CHECK_RC(gmp_waitgroup_wait(&busy_wg), 0);
    CHECK(atomic_load(&moved) == 0);

    SAY("a goroutine that ends locked takes its thread; the runtime goes on");
    for (int round = 0; round < 3; round++) {
        CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
        CHECK_RC(gmp_go(exits_locked, NULL), 0);
        CHECK_RC(gmp_waitgroup_wait(&wg), 0);
        pid_t t = atomic_load(&exited_tid);
        CHECK(t > 0);
        long long t0 = check_ms();
        while (task_exists(t)) {
            CHECK(check_ms() - t0 < 60000);
            gmp_sleep(1000000);
        }
        gmp_waitgroup w = GMP_WAITGROUP_INIT;
        CHECK_RC(gmp_waitgroup_add(&w, 100), 0);
        for (int i = 0; i < 100; i++) CHECK_RC(gmp_go(helper_done, &w), 0);
        CHECK_RC(gmp_waitgroup_wait(&w), 0);
    }
    printf("lock_os_thread: ok\n");
    return 0;
}

/* home.c: homes through the C ABI, driven the way an engine would: goroutines run only
 * on the home thread; gmp_home_run honours a budget; the eventfd is readable while work
 * is ready; gmp_home_wait reports work, wake and timeout; close cancels a blocked home
 * goroutine; a home thread blocked in a waitgroup keeps pumping its home. */
#define _GNU_SOURCE
#include "check.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

static gmp_home *home;
static pid_t home_tid;
static atomic_int wrong_thread, finished, switches;

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

static int readable(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, 0);
    CHECK(n >= 0);
    return n == 1 && (p.revents & POLLIN);
}

static void helper_done(void *arg) { CHECK_RC(gmp_waitgroup_done(arg), 0); }

static void bound(void *arg) {
    (void)arg;
    for (int k = 0; k < 20; k++) {
        if (tid() != home_tid) atomic_fetch_add(&wrong_thread, 1);
        if (k % 3 == 0) {
            CHECK_RC(gmp_sleep(10000), 0);
        } else if (k % 3 == 1) {
            gmp_waitgroup w = GMP_WAITGROUP_INIT;
            CHECK_RC(gmp_waitgroup_add(&w, 1), 0);
            CHECK_RC(gmp_go(helper_done, &w), 0); /* an ordinary goroutine wakes us */
            CHECK_RC(gmp_waitgroup_wait(&w), 0);
        } else {
            gmp_gosched();
        }
    }
    if (tid() != home_tid) atomic_fetch_add(&wrong_thread, 1);
    atomic_fetch_add(&finished, 1);
}

static void *spawner(void *arg) {
    (void)arg;
    for (int i = 0; i < 40; i++) CHECK_RC(gmp_go_home(home, NULL, bound, NULL), 0);
    return NULL;
}

static void yielder(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        atomic_fetch_add(&switches, 1);
        gmp_gosched();
    }
    atomic_fetch_add(&finished, 1);
}

static void *waker(void *arg) {
    usleep(20000);
    CHECK_RC(gmp_home_wake(arg), 0);
    return NULL;
}

static void nop(void *arg) { (void)arg; }

static void *late_spawner(void *arg) {
    usleep(20000);
    CHECK_RC(gmp_go_home(arg, NULL, nop, NULL), 0);
    return NULL;
}

static gmp_waitgroup never = GMP_WAITGROUP_INIT;
static atomic_int canceled_rc = 1;

static void blocked(void *arg) {
    (void)arg;
    atomic_store(&canceled_rc, gmp_waitgroup_wait(&never));
}

static void home_done(void *arg) {
    CHECK_RC(gmp_sleep(1000000), 0);
    CHECK_RC(gmp_waitgroup_done(arg), 0);
}

static void pump_until(int n) {
    long long t0 = check_ms();
    while (atomic_load(&finished) < n) {
        CHECK(check_ms() - t0 < 60000);
        int rc = gmp_home_wait(home, 10000000);
        CHECK(rc == 0 || rc == GMP_ETIMEDOUT || rc == GMP_EINTR);
        CHECK(gmp_home_run(home, -1) >= 0);
    }
}

int main(void) {
    home_tid = tid();
    SAY("make a home on the main thread; a second one is refused");
    CHECK_RC(gmp_home_make(&home), 0);
    gmp_home *other;
    CHECK_RC(gmp_home_make(&other), GMP_EALREADY);
    int fd = gmp_home_fd(home);
    CHECK(fd >= 0);
    CHECK(!readable(fd));

    SAY("40 home goroutines, spawned from another thread, run only on this thread");
    pthread_t th;
    CHECK(pthread_create(&th, NULL, spawner, NULL) == 0);
    pthread_join(th, NULL);
    CHECK(readable(fd));
    pump_until(40);
    CHECK(atomic_load(&wrong_thread) == 0);

    SAY("gmp_home_run(1 ms) returns with work still pending");
    atomic_store(&finished, 0);
    for (int i = 0; i < 8; i++) CHECK_RC(gmp_go_home(home, NULL, yielder, NULL), 0);
    CHECK(gmp_home_run(home, 1000000) > 0);
    CHECK(atomic_load(&finished) < 8);
    CHECK(atomic_load(&switches) < 8 * 20000);
    CHECK_RC(gmp_home_wait(home, 0), 0);
    CHECK(readable(fd));
    while (atomic_load(&finished) < 8) CHECK(gmp_home_run(home, -1) >= 0);
    CHECK(!readable(fd));

    SAY("gmp_home_wait: timeout, work from another thread, wake");
    CHECK_RC(gmp_home_wait(home, 0), GMP_ETIMEDOUT);
    CHECK_RC(gmp_home_wait(home, 10000000), GMP_ETIMEDOUT);
    CHECK(pthread_create(&th, NULL, late_spawner, home) == 0);
    CHECK_RC(gmp_home_wait(home, 60000000000LL), 0);
    pthread_join(th, NULL);
    CHECK_RC(gmp_home_run(home, -1), 1);
    CHECK(pthread_create(&th, NULL, waker, home) == 0);
    CHECK_RC(gmp_home_wait(home, 60000000000LL), GMP_EINTR);
    pthread_join(th, NULL);

    SAY("the home thread blocked in gmp_waitgroup_wait keeps running its home");
    gmp_waitgroup w = GMP_WAITGROUP_INIT;
    CHECK_RC(gmp_waitgroup_add(&w, 1), 0);
    CHECK_RC(gmp_go_home(home, NULL, home_done, &w), 0);
    CHECK_RC(gmp_waitgroup_wait(&w), 0);

    SAY("close: a blocked home goroutine gets GMP_ECANCELED; then GMP_ECLOSED; free");
    CHECK_RC(gmp_waitgroup_add(&never, 1), 0);
    CHECK_RC(gmp_go_home(home, NULL, blocked, NULL), 0);
    CHECK_RC(gmp_home_run(home, -1), 1);
    CHECK(atomic_load(&canceled_rc) == 1);
    CHECK_RC(gmp_home_free(home), GMP_EAGAIN);
    CHECK_RC(gmp_home_close(home), 0);
    CHECK_RC(gmp_home_close(home), GMP_ECLOSED);
    CHECK_RC(gmp_go_home(home, NULL, nop, NULL), GMP_ECLOSED);
    long long t0 = check_ms();
    int rc;
    while ((rc = gmp_home_run(home, -1)) != GMP_ECLOSED) {
        CHECK(rc >= 0);
        CHECK(check_ms() - t0 < 60000);
    }
    CHECK(atomic_load(&canceled_rc) == GMP_ECANCELED);
    CHECK_RC(gmp_home_free(home), 0);
    printf("home: ok\n");
    return 0;
}

/* cond.c: gmp_cond through the C ABI: signal wakes one, broadcast wakes all,
 * wait_timeout returns GMP_ETIMEDOUT with the mutex relocked, waiting with an unlocked
 * mutex is GMP_EINVAL, and a bounded producer/consumer queue. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

static gmp_mutex mu = GMP_MUTEX_INIT;
static gmp_cond cv = GMP_COND_INIT;
static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static int waiting, tokens;       /* under mu */
static atomic_int consumed;

static void consumer(void *arg) {
    (void)arg;
    CHECK_RC(gmp_mutex_lock(&mu), 0);
    waiting++;
    while (tokens == 0) CHECK_RC(gmp_cond_wait(&cv, &mu), 0);
    tokens--;
    waiting--;
    CHECK_RC(gmp_mutex_unlock(&mu), 0);
    atomic_fetch_add(&consumed, 1);
    gmp_waitgroup_done(&wg);
}

static void *thread_consumer(void *arg) {
    consumer(arg);
    return NULL;
}

static void wait_for_waiters(int n) {
    long long t0 = check_ms();
    for (;;) {
        CHECK_RC(gmp_mutex_lock(&mu), 0);
        int w = waiting;
        CHECK_RC(gmp_mutex_unlock(&mu), 0);
        if (w == n) return;
        CHECK(check_ms() - t0 < 60000);
        gmp_sleep(1000000);
    }
}

static void give(int n, int all) {
    CHECK_RC(gmp_mutex_lock(&mu), 0);
    tokens += n;
    if (all) CHECK_RC(gmp_cond_broadcast(&cv), 0);
    else for (int i = 0; i < n; i++) CHECK_RC(gmp_cond_signal(&cv), 0);
    CHECK_RC(gmp_mutex_unlock(&mu), 0);
}

/* Bounded queue. */
enum { CAP = 4, PER = 2000, PRODUCERS = 4 };
static gmp_mutex qmu = GMP_MUTEX_INIT;
static gmp_cond not_empty = GMP_COND_INIT, not_full = GMP_COND_INIT;
static long q[CAP];
static int qhead, qlen;
static atomic_long sum;

static void producer(void *arg) {
    long base = (long)arg * PER;
    for (long i = 0; i < PER; i++) {
        CHECK_RC(gmp_mutex_lock(&qmu), 0);
        while (qlen == CAP) CHECK_RC(gmp_cond_wait(&not_full, &qmu), 0);
        q[(qhead + qlen++) % CAP] = base + i;
        CHECK_RC(gmp_cond_signal(&not_empty), 0);
        CHECK_RC(gmp_mutex_unlock(&qmu), 0);
    }
    gmp_waitgroup_done(&wg);
}

static void qconsumer(void *arg) {
    (void)arg;
    for (long i = 0; i < PER; i++) {
        CHECK_RC(gmp_mutex_lock(&qmu), 0);
        while (qlen == 0) CHECK_RC(gmp_cond_wait(&not_empty, &qmu), 0);
        long v = q[qhead];
        qhead = (qhead + 1) % CAP;
        qlen--;
        CHECK_RC(gmp_cond_signal(&not_full), 0);
        CHECK_RC(gmp_mutex_unlock(&qmu), 0);
        atomic_fetch_add(&sum, v);
    }
    gmp_waitgroup_done(&wg);
}

static void *thread_producer(void *arg) {
    producer(arg);
    return NULL;
}

int main(void) {
    SAY("wait with an unlocked mutex: GMP_EINVAL");
    gmp_mutex m = GMP_MUTEX_INIT;
    gmp_cond c = GMP_COND_INIT;
    CHECK_RC(gmp_cond_wait(&c, &m), GMP_EINVAL);
    CHECK_RC(gmp_cond_wait(NULL, &m), GMP_EINVAL);
    CHECK_RC(gmp_cond_signal(NULL), GMP_EINVAL);

    SAY("wait_timeout: GMP_ETIMEDOUT, not early, mutex relocked");
    CHECK_RC(gmp_mutex_lock(&m), 0);
    int64_t before = gmp_now();
    CHECK_RC(gmp_cond_wait_timeout(&c, &m, 10000000), GMP_ETIMEDOUT);
    CHECK(gmp_now() - before >= 10000000);
    CHECK_RC(gmp_mutex_trylock(&m), GMP_EAGAIN);
    CHECK_RC(gmp_mutex_unlock(&m), 0);

    SAY("signal: one token per signal, 10 waiters (goroutines and a thread)");
    CHECK_RC(gmp_waitgroup_add(&wg, 10), 0);
    for (int i = 0; i < 9; i++) CHECK_RC(gmp_go(consumer, NULL), 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_consumer, NULL) == 0);
    wait_for_waiters(10);
    for (int k = 1; k <= 10; k++) {
        give(1, 0);
        long long t0 = check_ms();
        while (atomic_load(&consumed) != k) {
            CHECK(check_ms() - t0 < 60000);
            gmp_sleep(100000);
        }
    }
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    pthread_join(th, NULL);

    SAY("broadcast wakes all 30");
    atomic_store(&consumed, 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 30), 0);
    for (int i = 0; i < 30; i++) CHECK_RC(gmp_go(consumer, NULL), 0);
    wait_for_waiters(30);
    give(30, 1);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK(atomic_load(&consumed) == 30);

    SAY("bounded queue: %d producers (one a thread), %d consumers, %d items each", PRODUCERS, PRODUCERS, PER);
    CHECK_RC(gmp_waitgroup_add(&wg, 2 * PRODUCERS), 0);
    CHECK(pthread_create(&th, NULL, thread_producer, (void *)0L) == 0);
    for (long p = 1; p < PRODUCERS; p++) CHECK_RC(gmp_go(producer, (void *)p), 0);
    for (int p = 0; p < PRODUCERS; p++) CHECK_RC(gmp_go(qconsumer, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    pthread_join(th, NULL);
    long n = (long)PRODUCERS * PER;
    CHECK(atomic_load(&sum) == n * (n - 1) / 2);
    printf("cond: ok\n");
    return 0;
}

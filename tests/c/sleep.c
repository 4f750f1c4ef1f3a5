/* sleep.c: gmp_sleep never returns early (goroutines and the main thread), sleepers
 * wake in deadline order, ns <= 0 returns at once, gmp_now is monotonic. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static const int64_t durations[] = {1, 1000, 100000, 1000000, 3000000, 10000000};
#define ND (int)(sizeof durations / sizeof durations[0])

static void sleeper(void *arg) {
    int k = (int)(intptr_t)arg;
    for (int i = 0; i < ND; i++) {
        int64_t d = durations[(i + k) % ND];
        int64_t before = gmp_now();
        CHECK_RC(gmp_sleep(d), 0);
        CHECK(gmp_now() - before >= d);
    }
    gmp_waitgroup_done(&wg);
}

static int64_t t0;
static atomic_int next_rank;
static int rank_of[8];

static void ordered(void *arg) {
    int k = (int)(intptr_t)arg;
    int64_t deadline = t0 + (int64_t)(k + 1) * 15000000; /* 15 ms apart */
    CHECK_RC(gmp_sleep(deadline - gmp_now()), 0);
    CHECK(gmp_now() >= deadline);
    rank_of[k] = atomic_fetch_add(&next_rank, 1);
    gmp_waitgroup_done(&wg);
}

static void *thread_sleeper(void *arg) {
    sleeper(arg);
    return NULL;
}

int main(void) {
    SAY("gmp_now is monotonic");
    int64_t a = gmp_now(), b = gmp_now();
    CHECK(a > 0 && b >= a);

    SAY("sleep never returns early: 50 goroutines and 2 threads, %d durations each", ND);
    CHECK_RC(gmp_waitgroup_add(&wg, 52), 0);
    for (int i = 0; i < 50; i++) CHECK_RC(gmp_go(sleeper, (void *)(intptr_t)i), 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, thread_sleeper, (void *)(intptr_t)i) == 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);

    SAY("sleepers 15 ms apart wake in deadline order, whatever the start order");
    /* An OS that stops a runtime thread for over 15 ms can swap two neighbours: allow
     * three attempts; a real ordering bug fails every one. */
    static const int order[8] = {5, 2, 7, 0, 3, 6, 1, 4};
    int in_order = 0;
    for (int attempt = 0; attempt < 3 && !in_order; attempt++) {
        atomic_store(&next_rank, 0);
        t0 = gmp_now() + 2000000;
        CHECK_RC(gmp_waitgroup_add(&wg, 8), 0);
        for (int i = 0; i < 8; i++) CHECK_RC(gmp_go(ordered, (void *)(intptr_t)order[i]), 0);
        CHECK_RC(gmp_waitgroup_wait(&wg), 0);
        in_order = 1;
        for (int k = 0; k < 8; k++) {
            if (rank_of[k] != k) {
                fprintf(stderr, "attempt %d: sleeper %d woke as number %d\n", attempt, k, rank_of[k]);
                in_order = 0;
            }
        }
    }
    CHECK(in_order);

    SAY("sleep(0) and negative durations return 0 at once");
    CHECK_RC(gmp_sleep(0), 0);
    CHECK_RC(gmp_sleep(-1), 0);
    CHECK_RC(gmp_sleep(INT64_MIN), 0);
    printf("sleep: ok\n");
    return 0;
}

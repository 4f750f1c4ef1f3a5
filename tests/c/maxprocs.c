/* maxprocs.c: gmp_maxprocs queries and resizes (1 -> 4 -> 2 -> 1 -> 3) under load, and
 * gmp_read_stats agrees; gmp_init after start is GMP_EALREADY. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdatomic.h>
#include <string.h>

#define N 16
static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static atomic_int stop;
static atomic_long counters[N];

static void spinner(void *arg) {
    long i = (long)arg;
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&counters[i], 1);
        if (i % 4 == 0) gmp_sleep(10000);
        else gmp_gosched();
    }
    gmp_waitgroup_done(&wg);
}

static int stats_maxprocs(void) {
    gmp_stats s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    CHECK_RC(gmp_read_stats(&s), 0);
    CHECK(s.size == sizeof s);
    return s.maxprocs;
}

int main(void) {
    gmp_config cfg = {.size = sizeof cfg, .maxprocs = 2};
    SAY("gmp_init before first use");
    CHECK_RC(gmp_init(&cfg), 0);
    CHECK_RC(gmp_init(&cfg), GMP_EALREADY);
    SAY("the configured maxprocs is in effect; queries return it");
    CHECK_RC(gmp_maxprocs(0), 2);
    CHECK_RC(gmp_maxprocs(-1), 2);
    CHECK(stats_maxprocs() == 2);
    CHECK_RC(gmp_init(NULL), GMP_EALREADY);

    SAY("resize 1 -> 4 -> 2 -> 1 -> 3 under load; every goroutine progresses");
    CHECK_RC(gmp_waitgroup_add(&wg, N), 0);
    for (long i = 0; i < N; i++) CHECK_RC(gmp_go(spinner, (void *)i), 0);
    static const int sizes[] = {1, 4, 2, 1, 3};
    int prev = 2;
    for (int k = 0; k < 5; k++) {
        CHECK_RC(gmp_maxprocs(sizes[k]), prev);
        prev = sizes[k];
        CHECK_RC(gmp_maxprocs(0), prev);
        CHECK(stats_maxprocs() == prev);
        long snap[N];
        for (int i = 0; i < N; i++) snap[i] = atomic_load(&counters[i]);
        long long t0 = check_ms();
        for (int i = 0; i < N; i++) {
            while (atomic_load(&counters[i]) <= snap[i] + 2) {
                CHECK(check_ms() - t0 < 60000);
                gmp_sleep(1000000);
            }
        }
    }
    atomic_store(&stop, 1);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK_RC(gmp_maxprocs(2), 3);
    printf("maxprocs: ok\n");
    return 0;
}

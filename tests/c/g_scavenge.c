/* g_scavenge.c: goroutine records (G's) given back to the kernel by the scavenger and
 * reused, through the C ABI (src/sched/gslab.rs; tests/g_scavenge.rs checks the same
 * with the scavenger's counters). Wave 1: N goroutines wait in gmp_chan_recv_timeout
 * with a deadline a few seconds out, holding a goroutine-local value and (some) a name,
 * and end early when their channel closes: each leaves a stale timer pointing at its G.
 * The program idles while sysmon's scavenger gives their pages back (two passes, about
 * a second apart). Wave 2: N new goroutines, which reuse those G's, wait on another
 * channel with no deadline while wave 1's timers fire into their G's: none may wake
 * early, every id is new, the dump lists wave 2 by name and no wave 1, and each local
 * destructor ran once. Run plain, under ASan+UBSan and under TSan (tests/c/run.sh). No
 * wall-clock assertion: the waits are what the scavenger needs, and a scavenger that did
 * not run in time makes the test weaker, not red. */
#define _GNU_SOURCE
#include "check.h"

#include <stdatomic.h>
#include <string.h>

#define MS 1000000LL
#if defined(__SANITIZE_THREAD__)
#define N 4800 /* TSan: one fiber each, and slow */
#else
#define N 12000 /* more than the 4096 warm G's the scavenger keeps */
#endif

static gmp_chan *ch_a, *ch_b;
static gmp_waitgroup parked1, ended1, parked2, ended2;
static gmp_local_key key;
static atomic_long destructed, early, wrong;
static gmp_goid ids2[N];
static int64_t deadline_ns;

static void local_dtor(void *v) {
    (void)v;
    atomic_fetch_add(&destructed, 1);
}

static void wave1(void *arg) {
    (void)arg;
    CHECK_RC(gmp_local_set(key, &key), 0);
    CHECK_RC(gmp_waitgroup_done(&parked1), 0);
    int64_t v;
    int rc = gmp_chan_recv_timeout(ch_a, &v, deadline_ns);
    /* (A run slowed down a lot, as under TSan, may reach the deadline before the close:
     * that goroutine leaves no stale timer, which only makes the test weaker.) */
    CHECK(rc == GMP_ECLOSED || rc == GMP_ETIMEDOUT);
    CHECK_RC(gmp_waitgroup_done(&ended1), 0);
}

static void wave2(void *arg) {
    long i = (long)(intptr_t)arg;
    ids2[i] = gmp_self();
    CHECK_RC(gmp_waitgroup_done(&parked2), 0);
    int64_t v;
    int rc = gmp_chan_recv(ch_b, &v);
    if (rc != GMP_ECLOSED) atomic_fetch_add(&early, 1);
    CHECK_RC(gmp_waitgroup_done(&ended2), 0);
}

/* The dump as a malloc'd string, through a temporary file. */
static char *dump(void) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    CHECK_RC(gmp_dump_goroutines(fileno(f)), 0);
    long n = ftell(f);
    if (n <= 0) {
        fseek(f, 0, SEEK_END);
        n = ftell(f);
    }
    char *s = malloc((size_t)n + 1);
    CHECK(s != NULL);
    rewind(f);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static long count(const char *s, const char *what) {
    long n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what)) n++;
    return n;
}

static void run(void *arg) {
    (void)arg;
    char name[32];
    gmp_goid max1 = 0;
    CHECK_RC(gmp_local_key_create(&key, local_dtor), 0);
    CHECK_RC(gmp_chan_make(&ch_a, sizeof(int64_t), 0), 0);
    CHECK_RC(gmp_chan_make(&ch_b, sizeof(int64_t), 0), 0);

    SAY("wave 1: %d goroutines end early from a wait with a deadline", N);
    deadline_ns = 4000 * MS;
    CHECK_RC(gmp_waitgroup_add(&parked1, N), 0);
    CHECK_RC(gmp_waitgroup_add(&ended1, N), 0);
    for (long i = 0; i < N; i++) {
        gmp_go_attr attr = {sizeof attr, 0, NULL, NULL};
        gmp_goid id = 0;
        if (i % 7 == 0) {
            snprintf(name, sizeof name, "wave1-%ld", i);
            attr.name = name;
        }
        CHECK_RC(gmp_go_ex(&attr, wave1, NULL, &id), 0);
        if (id > max1) max1 = id;
    }
    CHECK_RC(gmp_waitgroup_wait(&parked1), 0);
    /* Every wave 1 timer is due by then (each armed after its goroutine marked parked1). */
    int64_t timers_due = gmp_now() + deadline_ns;
    CHECK_RC(gmp_chan_close(ch_a), 0);
    CHECK_RC(gmp_waitgroup_wait(&ended1), 0);

    SAY("idle while the scavenger gives wave 1's G's back");
    CHECK_RC(gmp_sleep(2500 * MS), 0);
    char *d = dump();
    CHECK(count(d, "\"wave1-") == 0);
    free(d);

    SAY("wave 2 reuses them while wave 1's stale timers fire");
    CHECK_RC(gmp_waitgroup_add(&parked2, N), 0);
    CHECK_RC(gmp_waitgroup_add(&ended2, N), 0);
    for (long i = 0; i < N; i++) {
        gmp_go_attr attr = {sizeof attr, 0, NULL, NULL};
        if (i % 5 == 0) {
            snprintf(name, sizeof name, "wave2-%ld", i);
            attr.name = name;
        }
        CHECK_RC(gmp_go_ex(&attr, wave2, (void *)(intptr_t)i, NULL), 0);
    }
    CHECK_RC(gmp_waitgroup_wait(&parked2), 0);
    while (gmp_now() < timers_due + 500 * MS) CHECK_RC(gmp_sleep(50 * MS), 0);
    CHECK(atomic_load(&early) == 0);
    d = dump();
    CHECK(count(d, "\"wave2-") == (N + 4) / 5);
    CHECK(count(d, "\"wave1-") == 0);
    free(d);
    for (long i = 0; i < N; i++) {
        if (ids2[i] <= max1) atomic_fetch_add(&wrong, 1);
    }
    CHECK(atomic_load(&wrong) == 0);

    SAY("wave 2 ends as its channel closes");
    CHECK_RC(gmp_chan_close(ch_b), 0);
    CHECK_RC(gmp_waitgroup_wait(&ended2), 0);
    CHECK(atomic_load(&early) == 0);
    CHECK(atomic_load(&destructed) == N);
    gmp_chan_release(ch_a);
    gmp_chan_release(ch_b);
}

int main(void) {
    CHECK_RC(gmp_main(run, NULL), 0);
    printf("g_scavenge: ok\n");
    return 0;
}

/* go.c: goroutines through the C ABI: gmp_go from the main thread and from goroutines,
 * 10000 joined with a waitgroup, gmp_go_ex ids and attributes, switch hooks in pairs,
 * gmp_self, gmp_set_name, gmp_main, gmp_num_goroutine. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define N 10000

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static atomic_long ran;
static gmp_goid ids[N];

static void count(void *arg) {
    (void)arg;
    atomic_fetch_add(&ran, 1);
    gmp_waitgroup_done(&wg);
}

static void record_id(void *arg) {
    gmp_goid *slot = arg;
    *slot = gmp_self();
    gmp_gosched();
    CHECK(*slot == gmp_self());
    gmp_waitgroup_done(&wg);
}

static void spawner(void *arg) {
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) CHECK_RC(gmp_go(count, NULL), 0);
    gmp_waitgroup_done(&wg);
}

struct hook_counts {
    atomic_long parks, resumes, inside;
};

static void on_park(void *ctx) {
    struct hook_counts *h = ctx;
    atomic_fetch_add(&h->parks, 1);
    CHECK(atomic_fetch_sub(&h->inside, 1) == 1);
}

static void on_resume(void *ctx) {
    struct hook_counts *h = ctx;
    atomic_fetch_add(&h->resumes, 1);
    CHECK(atomic_fetch_add(&h->inside, 1) == 0);
}

static void hooked(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++) {
        if (i % 2) gmp_gosched();
        else CHECK_RC(gmp_sleep(1000), 0);
    }
    gmp_waitgroup_done(&wg);
}

static void named(void *arg) {
    int *ok = arg;
    CHECK_RC(gmp_set_name("renamed"), 0);
    CHECK_RC(gmp_set_name(NULL), 0);
    char big[4096];
    memset(big, 'x', sizeof big);  /* touches the 64 KiB stack a little */
    big[sizeof big - 1] = 0;
    CHECK(strlen(big) == sizeof big - 1);
    *ok = 1;
    gmp_waitgroup_done(&wg);
}

static int cmp_id(const void *a, const void *b) {
    gmp_goid x = *(const gmp_goid *)a, y = *(const gmp_goid *)b;
    return x < y ? -1 : x > y;
}

static atomic_long main_self;

static void main_fn(void *arg) {
    (void)arg;
    atomic_store(&main_self, (long)gmp_self());
    CHECK_RC(gmp_waitgroup_add(&wg, 100), 0);
    for (int i = 0; i < 100; i++) CHECK_RC(gmp_go(count, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
}

int main(void) {
    SAY("gmp_self() == 0 on the main (foreign) thread");
    CHECK(gmp_self() == 0);

    SAY("%d goroutines from the main thread, joined with a waitgroup", N);
    CHECK_RC(gmp_waitgroup_add(&wg, N), 0);
    for (int i = 0; i < N; i++) CHECK_RC(gmp_go(count, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK(atomic_load(&ran) == N);

    SAY("goroutines spawning goroutines");
    atomic_store(&ran, 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 10 + 10 * 100), 0);
    for (int i = 0; i < 10; i++) CHECK_RC(gmp_go(spawner, (void *)(intptr_t)100), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK(atomic_load(&ran) == 1000);

    SAY("gmp_go_ex ids are unique, > 0, and what gmp_self says");
    static gmp_goid out[N];
    CHECK_RC(gmp_waitgroup_add(&wg, 2000), 0);
    for (int i = 0; i < 2000; i++) CHECK_RC(gmp_go_ex(NULL, record_id, &ids[i], &out[i]), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    for (int i = 0; i < 2000; i++) {
        CHECK(ids[i] > 0);
        CHECK(ids[i] == out[i]);
    }
    qsort(out, 2000, sizeof out[0], cmp_id);
    for (int i = 1; i < 2000; i++) CHECK(out[i] != out[i - 1]);

    SAY("attributes: name, 64 KiB stack, gmp_set_name");
    int ok = 0;
    gmp_go_attr attr = {sizeof attr, 64 * 1024, "worker", NULL};
    CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
    CHECK_RC(gmp_go_ex(&attr, named, &ok, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK(ok == 1);
    CHECK_RC(gmp_set_name("main"), GMP_ENOTGOROUTINE);

    SAY("switch hooks come in pairs around every switch");
    static struct hook_counts hc;
    atomic_store(&hc.inside, 1);
    gmp_switch_hooks hooks = {sizeof hooks, on_park, on_resume, &hc, 0, NULL};
    gmp_go_attr hattr = {sizeof hattr, 0, "hooked", &hooks};
    CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
    CHECK_RC(gmp_go_ex(&hattr, hooked, NULL, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    for (long long t0 = check_ms(); atomic_load(&hc.parks) != atomic_load(&hc.resumes);) {
        CHECK(check_ms() - t0 < 60000);
        gmp_sleep(1000000); /* the last pair may still be completing */
    }
    CHECK(atomic_load(&hc.parks) >= 100);

    SAY("gmp_main runs the main goroutine and returns");
    atomic_store(&ran, 0);
    CHECK_RC(gmp_main(main_fn, NULL), 0);
    CHECK(atomic_load(&main_self) > 0);
    CHECK(atomic_load(&ran) == 100);

    SAY("gmp_num_goroutine drops back to 0 after the joins");
    for (long long t0 = check_ms(); gmp_num_goroutine() != 0;) {
        CHECK(check_ms() - t0 < 60000);
        gmp_sleep(1000000);
    }
    printf("go: ok\n");
    return 0;
}

/* planted.c: real bugs in goroutine code, which the sanitizers must still report now
 * that they are told about goroutines (announcing switches and edges must not hide
 * them). tests/sanitizers/run.sh builds it and expects each mode to fail with its
 * report:
 *   race   (TSan): two goroutines write one global with no synchronisation between
 *          them; each is spawned by main and only then signals a wait group, so no
 *          edge orders the two writes -> "data race" in racer.
 *   uaf    (ASan): a goroutine frees a buffer, hands the pointer over a channel, and
 *          the receiving goroutine (maybe on another thread) reads it ->
 *          "heap-use-after-free" in reader.
 *   stack  (ASan): a goroutine reads past a local array after a switch point ->
 *          "stack-buffer-overflow" in overflow (goroutine stacks are poisoned and
 *          checked like thread stacks). */
#include "../c/check.h"

#include <string.h>

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static long shared;

__attribute__((noinline)) static void racer(void *arg) {
    shared += (long)(size_t)arg; /* the planted race */
    gmp_waitgroup_done(&wg);
}

static void race(void *arg) {
    (void)arg;
    gmp_waitgroup_add(&wg, 2);
    CHECK_RC(gmp_go(racer, (void *)1), 0);
    CHECK_RC(gmp_go(racer, (void *)2), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
}

__attribute__((noinline)) static void reader(void *arg) {
    gmp_chan *ch = arg;
    char *p;
    CHECK_RC(gmp_chan_recv(ch, &p), 0);
    printf("read %d\n", p[3]); /* the planted use after free */
    gmp_waitgroup_done(&wg);
}

static void uaf(void *arg) {
    (void)arg;
    gmp_chan *ch;
    CHECK_RC(gmp_chan_make(&ch, sizeof(char *), 0), 0);
    gmp_waitgroup_add(&wg, 1);
    CHECK_RC(gmp_go(reader, ch), 0);
    char *p = malloc(16);
    memset(p, 7, 16);
    free(p);
    CHECK_RC(gmp_chan_send(ch, &p), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
}

__attribute__((noinline)) static void overflow(void *arg) {
    volatile char local[16];
    volatile int i = 16 + (int)(size_t)arg;
    memset((char *)local, 1, sizeof local);
    CHECK_RC(gmp_sleep(1000), 0);
    volatile char *q = local; /* through a pointer: ASan's check, not UBSan's bounds */
    printf("read %d\n", q[i]); /* the planted overflow */
    gmp_waitgroup_done(&wg);
}

static void stack(void *arg) {
    (void)arg;
    gmp_waitgroup_add(&wg, 1);
    CHECK_RC(gmp_go(overflow, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    gmp_fn f = !strcmp(argv[1], "race") ? race
             : !strcmp(argv[1], "uaf")  ? uaf
             : !strcmp(argv[1], "stack") ? stack
                                          : NULL;
    CHECK(f != NULL);
    CHECK_RC(gmp_main(f, NULL), 0);
    printf("planted %s: no report\n", argv[1]);
    return 0;
}

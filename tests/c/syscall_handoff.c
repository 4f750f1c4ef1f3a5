/* syscall_handoff.c: the syscall hand-off through the C ABI (API.md "Network poller
 * and syscall-safe blocking"). On one P, four goroutines each block in a C call (usleep
 * until released) through gmp_blocking, then through gmp_syscall_enter/exit, while
 * another goroutine keeps counting: all four are inside their calls at once, the counter
 * moves while they are, and stats.syscall_handoffs grows. None of it depends on timing:
 * the four are released only after the counter has moved, which it can only do if the
 * one P was handed off. Also: gmp_blocking runs on the thread's own large stack, gmp
 * calls inside it act as on a foreign thread, a blocking pipe read takes the hand-off
 * and keeps the fd's mode, and a goroutine that calls gmp_preempt_point in a loop is
 * preempted. Exits 0 on success; a hand-off that never happens shows as a hang, which
 * the runner's per-test timeout reports. */
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS 1000000LL

static atomic_ulong counter;
static atomic_int stop_counter;
static atomic_int inside;
static atomic_int release_blockers;
static gmp_waitgroup wg = GMP_WAITGROUP_INIT;

static uint64_t handoffs(void) {
    gmp_stats s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    CHECK_RC(gmp_read_stats(&s), 0);
    return s.syscall_handoffs;
}

static void count_loop(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_counter)) {
        atomic_fetch_add(&counter, 1);
        gmp_gosched();
    }
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

/* A blocking C call that holds its thread until the main goroutine releases it. */
static void block_until_released(void *arg) {
    (void)arg;
    while (!atomic_load(&release_blockers)) usleep(1000);
}

static void via_blocking(void *arg) {
    (void)arg;
    atomic_fetch_add(&inside, 1);
    CHECK_RC(gmp_blocking(block_until_released, NULL), 0);
    atomic_fetch_sub(&inside, 1);
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

static void via_section(void *arg) {
    (void)arg;
    atomic_fetch_add(&inside, 1);
    gmp_syscall_enter();
    block_until_released(NULL);
    gmp_syscall_exit();
    atomic_fetch_sub(&inside, 1);
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

/* Runs from the main goroutine: it waits in gmp calls, so it never holds the P while
 * the others need it. */
static void four(const char *name, gmp_fn blocker) {
    uint64_t h0 = handoffs();
    atomic_store(&counter, 0);
    atomic_store(&stop_counter, 0);
    atomic_store(&release_blockers, 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
    CHECK_RC(gmp_go(count_loop, NULL), 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 4), 0);
    for (int i = 0; i < 4; i++) CHECK_RC(gmp_go(blocker, NULL), 0);
    /* All four inside their blocking calls at once, on one P: each call's thread gave
     * its P away, or the next goroutine could not have started. */
    while (atomic_load(&inside) < 4) CHECK_RC(gmp_sleep(MS), 0);
    /* And with all four still inside, the counter moves: the P serves the others. */
    unsigned long a = atomic_load(&counter);
    while (atomic_load(&counter) < a + 100) CHECK_RC(gmp_sleep(MS), 0);
    CHECK(atomic_load(&inside) == 4);
    unsigned long during = atomic_load(&counter) - a;
    atomic_store(&release_blockers, 1);
    while (atomic_load(&inside) > 0) CHECK_RC(gmp_sleep(MS), 0);
    atomic_store(&stop_counter, 1);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    uint64_t h = handoffs() - h0;
    printf("ok  %s: 4 blocked at once on 1 P; counter +%lu meanwhile; %llu hand-offs\n", name,
           during, (unsigned long long)h);
    CHECK(h > 0);
}

/* ---- gmp_blocking's stack and context -------------------------------------------- */

static void big_stack(void *arg) {
    volatile char buf[2 << 20]; /* 2 MiB: more than a goroutine stack */
    buf[0] = 1;
    buf[sizeof buf - 1] = 2;
    *(int *)arg = buf[0] + buf[sizeof buf - 1] + (gmp_self() == 0 ? 10 : 0);
}

/* ---- a blocking pipe -------------------------------------------------------------- */

static int pipe_fds[2];
static void pipe_reader(void *arg) {
    (void)arg;
    char b[8];
    CHECK_RC(gmp_read(pipe_fds[0], b, sizeof b, 5000 * MS), 3);
    CHECK(memcmp(b, "abc", 3) == 0);
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

/* ---- gmp_preempt_point ------------------------------------------------------------ */

static atomic_ulong bystander_runs;
static void bystander(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_counter)) {
        atomic_fetch_add(&bystander_runs, 1);
        gmp_gosched();
    }
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

static void hog(void *arg) {
    int *turns = arg;
    unsigned long seen = atomic_load(&bystander_runs);
    while (*turns < 3) {
        gmp_preempt_point();
        unsigned long b = atomic_load(&bystander_runs);
        if (b != seen) {
            seen = b;
            (*turns)++;
        }
    }
    atomic_store(&stop_counter, 1);
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

static void run(void *arg) {
    (void)arg;
    four("gmp_blocking", via_blocking);
    four("gmp_syscall_enter/exit", via_section);

    int r = 0;
    CHECK_RC(gmp_blocking(big_stack, &r), 0);
    CHECK(r == 13); /* 1 + 2, and gmp_self() == 0 inside */
    CHECK_RC(gmp_blocking(NULL, NULL), GMP_EINVAL);
    printf("ok  gmp_blocking: 2 MiB of stack, foreign-thread context inside\n");

    /* A blocking pipe: the reader takes the hand-off; the counter keeps running. */
    CHECK(pipe(pipe_fds) == 0);
    atomic_store(&counter, 0);
    atomic_store(&stop_counter, 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 2), 0);
    CHECK_RC(gmp_go(count_loop, NULL), 0);
    CHECK_RC(gmp_go(pipe_reader, NULL), 0);
    /* The reader blocks in read(2) until the write below, holding its thread: the
     * counter can only move on if that thread gave the one P away. */
    CHECK_RC(gmp_sleep(10 * MS), 0);
    unsigned long c1 = atomic_load(&counter);
    while (atomic_load(&counter) < c1 + 100) CHECK_RC(gmp_sleep(MS), 0);
    CHECK((fcntl(pipe_fds[0], F_GETFL) & O_NONBLOCK) == 0);
    CHECK(write(pipe_fds[1], "abc", 3) == 3);
    atomic_store(&stop_counter, 1);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK((fcntl(pipe_fds[0], F_GETFL) & O_NONBLOCK) == 0);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    printf("ok  blocking pipe: hand-off, mode untouched, others ran\n");
}

/* One P, the hog and the bystander only: the bystander runs only if the hog is
 * preempted at its gmp_preempt_point. */
static void run_preempt(void *arg) {
    (void)arg;
    int turns = 0;
    atomic_store(&stop_counter, 0);
    CHECK_RC(gmp_waitgroup_add(&wg, 2), 0);
    CHECK_RC(gmp_go(hog, &turns), 0);
    CHECK_RC(gmp_go(bystander, NULL), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK(turns == 3);
    printf("ok  gmp_preempt_point: the bystander ran %d times beside a hog\n", turns);
}

int main(void) {
    CHECK(gmp_maxprocs(1) >= 1);
    CHECK_RC(gmp_main(run, NULL), 0);
    CHECK_RC(gmp_main(run_preempt, NULL), 0);
    printf("syscall_handoff: all passed\n");
    return 0;
}

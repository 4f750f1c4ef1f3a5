/* syscall_exit_race.c: a goroutine leaves a blocking syscall section just as the M
 * that took its P (sysmon handed the P off during the call) goes idle. On one P: the
 * main goroutine wakes a reader blocked in read(2) by writing to its pipe and at once
 * waits for it, which sends the P-holder idle. Before the fix, exitsyscall found no
 * idle P, the P went idle, and only then was the reader queued: the P stayed idle and
 * every M asleep, with the reader runnable forever (a hang, reported by the runner's
 * per-test timeout; it happened in about half of the runs of this program). Go does
 * the P check and the queueing under one lock (exitsyscall0); so do we now. */
#define _GNU_SOURCE
#include "check.h"

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

enum { ROUNDS = 3000 };
static int fds[2];
static atomic_int inside;

static void reader(void *arg) {
    gmp_waitgroup *wg = arg;
    char c;
    atomic_store(&inside, 1);
    gmp_syscall_enter();
    ssize_t n = read(fds[0], &c, 1);
    gmp_syscall_exit();
    CHECK(n == 1);
    CHECK_RC(gmp_waitgroup_done(wg), 0);
}

static void run(void *arg) {
    (void)arg;
    CHECK(pipe(fds) == 0);
    for (int i = 0; i < ROUNDS; i++) {
        gmp_waitgroup wg = GMP_WAITGROUP_INIT;
        CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
        atomic_store(&inside, 0);
        CHECK_RC(gmp_go(reader, &wg), 0);
        while (!atomic_load(&inside)) gmp_gosched();
        /* Long enough, often, for sysmon to hand the reader's P to another M. */
        CHECK_RC(gmp_sleep(100000 + (i % 10) * 20000), 0);
        CHECK(write(fds[1], "x", 1) == 1);
        CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    }
    close(fds[0]);
    close(fds[1]);
}

int main(void) {
    CHECK(gmp_maxprocs(1) >= 1);
    CHECK_RC(gmp_main(run, NULL), 0);
    printf("syscall_exit_race: %d rounds passed\n", ROUNDS);
    return 0;
}

/* shutdown_race.c: gmp_shutdown returns although an M may be about to block in the
 * poller until a far timer (an hour-long ticker) just as shutdown wakes everyone.
 * Before the fix, shutdown woke the poller once and then joined every M: the wake-up
 * went to the M polling then, and an M that had passed its state check just before
 * blocked in the poller right after for the hour (3% of runs of the scenario; seen in
 * CI as a hang of tests/debug/shutdown_leaks.c under valgrind). Each round runs the
 * scenario in a forked child (a runtime cannot be started again after shutdown); the
 * parent never starts the runtime and reports a child that does not exit within
 * 60 s. */
#define _GNU_SOURCE
#include "check.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ROUNDS = 150, WORKERS = 8 };
static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static gmp_chan *tickers[WORKERS];

static void worker(void *arg) {
    long i = (long)arg;
    CHECK_RC(gmp_ticker(&tickers[i], 3600LL * 1000000000LL), 0);
    CHECK_RC(gmp_sleep(1000000), 0);
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

static int scenario(void) {
    for (long i = 0; i < WORKERS; i++) {
        CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
        CHECK_RC(gmp_go(worker, (void *)i), 0);
    }
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    CHECK_RC(gmp_shutdown(-1), 0);
    for (int i = 0; i < WORKERS; i++) gmp_chan_release(tickers[i]);
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
    for (int r = 0; r < ROUNDS; r++) {
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) _exit(scenario());
        int status = 0;
        double t0 = now_s();
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            CHECK(w >= 0);
            if (w == pid) break;
            if (now_s() - t0 > 60) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                fprintf(stderr, "round %d: gmp_shutdown did not return (child killed after 60 s)\n", r);
                return 1;
            }
            usleep(1000);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "round %d: child status %#x\n", r, status);
            return 1;
        }
    }
    printf("shutdown_race: %d rounds, every gmp_shutdown returned\n", ROUNDS);
    return 0;
}

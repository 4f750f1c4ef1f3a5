/* main_goroutine.c: gmp_main's goroutine is Go's main goroutine (API.md gmp_main).
 * Checked with gettid:
 *  - unlocked (the default): it starts on the calling thread, runs on other threads after
 *    its switch points, the calling thread runs no other goroutine meanwhile, and
 *    gmp_main returns on the calling thread although main ended elsewhere, also while
 *    other goroutines spin in C without switch points on every other P;
 *  - locked with gmp_lock_os_thread() before its first switch point: it stays on the
 *    calling thread across parks, yields, sleeps and spawns, for good;
 *  - locked, then unlocked: it leaves the calling thread after a later switch point;
 *  - locked after a switch point: locked to the thread it is on then (not the caller's),
 *    ends there, and gmp_main still returns on the calling thread;
 *  - a deadlocked main, unlocked or locked, still gets GMP_EDEADLK (each in a child
 *    process of its own, where no other thread may act).
 * No timing assertions. */
#define _GNU_SOURCE
#include "check.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 300

static pid_t caller; /* the thread that calls gmp_main */
static atomic_int others_on_caller, others_ran, main_elsewhere, main_on_caller;
static pid_t main_end_tid;

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

/* Echoes ints from `in` to `out` until `in` is closed. */
struct pipe2 {
    gmp_chan *in, *out;
    gmp_waitgroup *wg;
};

static void echo(void *arg) {
    struct pipe2 *p = arg;
    int v;
    while (gmp_chan_recv(p->in, &v) == 0) {
        if (tid() == caller) atomic_fetch_add(&others_on_caller, 1);
        atomic_fetch_add(&others_ran, 1);
        CHECK_RC(gmp_chan_send(p->out, &v), 0);
    }
    CHECK_RC(gmp_waitgroup_done(p->wg), 0);
}

static void note_other(void *arg) {
    if (tid() == caller) atomic_fetch_add(&others_on_caller, 1);
    atomic_fetch_add(&others_ran, 1);
    CHECK_RC(gmp_waitgroup_done(arg), 0);
}

/* ROUNDS switch points of every kind; `where` counts the rounds spent on the caller's
 * thread (after the switch point). */
static void switch_points(int *on_caller, int *elsewhere) {
    gmp_waitgroup wg = GMP_WAITGROUP_INIT;
    gmp_chan *ping, *pong;
    CHECK_RC(gmp_chan_make(&ping, sizeof(int), 0), 0);
    CHECK_RC(gmp_chan_make(&pong, sizeof(int), 0), 0);
    struct pipe2 p = {ping, pong, &wg};
    CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
    CHECK_RC(gmp_go(echo, &p), 0);
    for (int i = 0; i < ROUNDS; i++) {
        int v = i, got = -1;
        switch (i % 4) {
        case 0: /* an unbuffered round trip */
            CHECK_RC(gmp_chan_send(ping, &v), 0);
            CHECK_RC(gmp_chan_recv(pong, &got), 0);
            CHECK(got == i);
            break;
        case 1:
            gmp_gosched();
            break;
        case 2:
            CHECK_RC(gmp_sleep(20000), 0);
            break;
        default: { /* spawn one and wait for it */
            gmp_waitgroup w2 = GMP_WAITGROUP_INIT;
            CHECK_RC(gmp_waitgroup_add(&w2, 1), 0);
            CHECK_RC(gmp_go(note_other, &w2), 0);
            CHECK_RC(gmp_waitgroup_wait(&w2), 0);
        }
        }
        if (tid() == caller) ++*on_caller;
        else ++*elsewhere;
    }
    CHECK_RC(gmp_chan_close(ping), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    gmp_chan_release(ping);
    gmp_chan_release(pong);
}

/* --- unlocked main ------------------------------------------------------------------ */

static atomic_int spin_release, spinners_started;
static gmp_waitgroup spin_wg = GMP_WAITGROUP_INIT;

static void spinner(void *arg) {
    (void)arg;
    if (tid() == caller) atomic_fetch_add(&others_on_caller, 1);
    atomic_fetch_add(&spinners_started, 1);
    while (!atomic_load(&spin_release)) sched_yield(); /* C without a switch point */
    CHECK_RC(gmp_waitgroup_done(&spin_wg), 0);
}

static void unlocked_main(void *arg) {
    int on = 0, off = 0;
    (void)arg;
    CHECK(tid() == caller); /* it starts on the calling thread */
    switch_points(&on, &off);
    atomic_store(&main_on_caller, on);
    atomic_store(&main_elsewhere, off);
    /* Every other P busy in C code that never reaches a switch point when main ends. */
    int spinners = gmp_maxprocs(0) - 1;
    CHECK_RC(gmp_waitgroup_add(&spin_wg, spinners), 0);
    for (int i = 0; i < spinners; i++) CHECK_RC(gmp_go(spinner, NULL), 0);
    while (atomic_load(&spinners_started) < spinners) gmp_gosched();
    main_end_tid = tid();
}

/* --- locked main -------------------------------------------------------------------- */

static void locked_main(void *arg) {
    int on = 0, off = 0;
    (void)arg;
    CHECK(tid() == caller);
    CHECK_RC(gmp_lock_os_thread(), 0); /* before the first switch point */
    switch_points(&on, &off);
    CHECK(on == ROUNDS && off == 0);
    main_end_tid = tid();
}

static void lock_then_unlock_main(void *arg) {
    int on = 0, off = 0;
    (void)arg;
    CHECK_RC(gmp_lock_os_thread(), 0);
    CHECK_RC(gmp_lock_os_thread(), 0); /* nests */
    CHECK_RC(gmp_sleep(1000), 0);
    CHECK(tid() == caller);
    CHECK_RC(gmp_unlock_os_thread(), 0);
    gmp_gosched();
    CHECK(tid() == caller); /* still locked once */
    CHECK_RC(gmp_unlock_os_thread(), 0);
    switch_points(&on, &off);
    CHECK(off > 0); /* unlocked: it left the calling thread */
    main_end_tid = tid();
}

static void late_lock_main(void *arg) {
    (void)arg;
    CHECK_RC(gmp_sleep(1000), 0); /* the first switch point: unlocked, it migrates */
    CHECK_RC(gmp_lock_os_thread(), 0);
    pid_t mine = tid();
    CHECK(mine != caller);
    for (int i = 0; i < 50; i++) {
        if (i % 2) gmp_gosched();
        else CHECK_RC(gmp_sleep(1000), 0);
        CHECK(tid() == mine);
    }
    main_end_tid = mine; /* ends locked: its thread ends with it */
}

/* --- deadlock (child) --------------------------------------------------------------- */

static void deadlocked_main(void *arg) {
    gmp_chan *never;
    int v;
    (void)arg;
    CHECK_RC(gmp_chan_make(&never, sizeof(int), 0), 0);
    CHECK_RC(gmp_sleep(1000), 0); /* off the calling thread first */
    gmp_chan_recv(never, &v);     /* nobody sends */
    CHECK(0);
}

static void deadlocked_locked_main(void *arg) {
    gmp_chan *never;
    int v;
    (void)arg;
    CHECK_RC(gmp_lock_os_thread(), 0);
    CHECK_RC(gmp_chan_make(&never, sizeof(int), 0), 0);
    gmp_chan_recv(never, &v); /* nobody sends */
    CHECK(0);
}

/* Runs this program with `mode` in a fresh process (one thread besides the runtime's,
 * so checkdead may conclude); its exit status. */
static int deadlock_in_child(const char *mode) {
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "main_goroutine", mode, (char *)NULL);
        _exit(99);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    return WEXITSTATUS(st);
}

int main(int argc, char **argv) {
    caller = tid();
    if (argc > 1) {
        int locked = !strcmp(argv[1], "deadlock_locked");
        CHECK(locked || !strcmp(argv[1], "deadlock"));
        int rc = gmp_main(locked ? deadlocked_locked_main : deadlocked_main, NULL);
        return rc == GMP_EDEADLK ? 0 : 1;
    }
    if (gmp_maxprocs(0) < 2) gmp_maxprocs(2); /* spinners need another P */

    SAY("unlocked main: starts here, migrates, no other goroutine runs here");
    CHECK_RC(gmp_main(unlocked_main, NULL), 0);
    CHECK(tid() == caller);
    CHECK(atomic_load(&main_elsewhere) > 0);
    CHECK(atomic_load(&others_ran) > 0);
    CHECK(atomic_load(&others_on_caller) == 0);
    CHECK(main_end_tid != caller);
    SAY("gmp_main returned while %d goroutines spin without a switch point",
        gmp_maxprocs(0) - 1);
    CHECK(atomic_load(&spin_release) == 0); /* they are still spinning */
    atomic_store(&spin_release, 1);
    CHECK_RC(gmp_waitgroup_wait(&spin_wg), 0);
    CHECK(atomic_load(&others_on_caller) == 0);

    SAY("locked before the first switch point: stays on the calling thread");
    CHECK_RC(gmp_main(locked_main, NULL), 0);
    CHECK(main_end_tid == caller);

    SAY("locked, then unlocked: leaves the calling thread");
    atomic_store(&others_on_caller, 0);
    CHECK_RC(gmp_main(lock_then_unlock_main, NULL), 0);
    CHECK(atomic_load(&others_on_caller) == 0);

    SAY("locked after a switch point: to another thread; gmp_main returns here");
    CHECK_RC(gmp_main(late_lock_main, NULL), 0);
    CHECK(main_end_tid != caller && tid() == caller);

    SAY("a deadlocked main, unlocked and locked: GMP_EDEADLK");
    CHECK(deadlock_in_child("deadlock") == 0);
    CHECK(deadlock_in_child("deadlock_locked") == 0);
    return 0;
}

/* home_push_use_after_free.c: reproducer of a use-after-free in libgmp's homes (not run
 * by tests/c/run.sh; see docs/HARDENING.md). Found by fuzz/api_fuzz.c (SEGV in
 * ThreadWaiter::signal <- Home::push <- ready <- TimerAction::fire on a runtime thread).
 *
 * Home::push (src/home.rs) queues the goroutine under the queue lock, releases the lock,
 * and only then calls `self.waiter.signal(HOME_WORK)`. A waker that is not the home
 * thread (here a timer firing on an M) can be preempted between the unlock and the
 * signal; meanwhile the home thread pops the goroutine, runs it to its end (`live`
 * drops to 0), gmp_home_run returns GMP_ECLOSED after gmp_home_close, and gmp_home_free
 * frees the Home: the waker then reads `self.waiter` from freed memory. ("A home
 * outlives its goroutines" holds, but not the wakers still inside push.) Fix options:
 * signal while holding the queue lock (and make free take that lock once), or keep the
 * Home alive by reference count until every push has returned.
 *
 * The program re-executes itself with MALLOC_PERTURB_ set, so freed memory is scribbled
 * and the stale read crashes instead of reading a reused Home. It runs home
 * threads that each loop: make a home, start a goroutine that sleeps 20 us (a timer on
 * an M readies it), pump until it ended, close, pump to GMP_ECLOSED, free; busy threads
 * compete for the CPU to widen the window. Exits with a signal (SIGSEGV) when the bug
 * shows, 0 if it did not show within 60 s.
 *
 * Build: cc -std=c11 -O1 -g -I include tests/c-bugs/home_push_use_after_free.c \
 *          target/debug/libgmp.so -Wl,-rpath,$PWD/target/debug -lpthread -o /tmp/hpuaf */
#define _GNU_SOURCE
#include <gmp/gmp.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define US 1000LL

static atomic_int stop;
static atomic_long rounds;

static void sleeper(void *arg) {
    gmp_sleep(20 * US);
    atomic_store((atomic_int *)arg, 1);
}

static void *home_thread(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        gmp_home *h;
        atomic_int ended = 0;
        if (gmp_home_make(&h) != 0) abort();
        if (gmp_go_home(h, NULL, sleeper, &ended) != 0) abort();
        /* Pump, never waiting, until the goroutine ran to its end: its timer readied it
         * from an M (Home::push), and the window is right after that push's unlock. */
        while (!atomic_load(&ended))
            if (gmp_home_run(h, -1) < 0) abort();
        if (gmp_home_close(h) != 0) abort();
        while (gmp_home_run(h, -1) != GMP_ECLOSED) {
        }
        if (gmp_home_free(h) != 0) abort();
        atomic_fetch_add(&rounds, 1);
    }
    return NULL;
}

static void *busy(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
    }
    return NULL;
}

int main(int argc, char **argv) {
    (void)argc;
    if (!getenv("MALLOC_PERTURB_")) {
        setenv("MALLOC_PERTURB_", "165", 1);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 2;
    }
    gmp_config cfg = {sizeof cfg, 2, 0, 0};
    if (gmp_init(&cfg) != 0) return 2;
    pthread_t t[4];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, home_thread, NULL);
    for (int i = 2; i < 4; i++) pthread_create(&t[i], NULL, busy, NULL);
    for (int s = 0; s < 60; s++) sleep(1);
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    printf("not reproduced in 60 s (%ld homes made and freed)\n", atomic_load(&rounds));
    return 0;
}

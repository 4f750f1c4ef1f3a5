/* fault_exit.c: exit() and return from main while goroutines run, park, sleep, sit in
 * gmp_blocking calls and in fd reads (API.md "gmp_shutdown ... a program may simply
 * exit"). Each scenario runs in a child process (this program re-executed with the
 * scenario's name); the parent checks that the child exits promptly (under 5 s; a hang
 * is killed at 20 s) with the right status, no signal, and nothing from the runtime on
 * stderr ("gmp: fatal", "panicked", "internal error"). Exits 0 on success. */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL

static atomic_int started; /* goroutines and threads in place */
static gmp_chan *gate;      /* never sent on: receivers park forever */
static gmp_mutex held = GMP_MUTEX_INIT;
static gmp_waitgroup never = GMP_WAITGROUP_INIT;
static int quiet[2];        /* a socketpair nobody writes to */

static void ready(void) { atomic_fetch_add(&started, 1); }

/* Sleeps without holding the P when called from a goroutine (gmp_main's scenarios):
 * with GMP_MAXPROCS=1 a usleep there would keep the goroutines it waits for from
 * running (C code is not preempted). */
static void nap(long us) {
    if (gmp_self() != 0)
        CHECK_RC(gmp_sleep((int64_t)us * 1000), 0);
    else
        usleep((useconds_t)us);
}

static void wait_started(int n) {
    long long t0 = check_ms();
    while (atomic_load(&started) < n) {
        CHECK(check_ms() - t0 < 10000);
        nap(1000);
    }
    nap(20000); /* let them reach their blocking call */
}

/* ---- the goroutines and threads each scenario leaves behind ---------------------- */

static void busy(void *arg) {
    (void)arg;
    ready();
    volatile uint64_t x = 0;
    for (;;) {
        x += 1;
        if ((x & 0xfff) == 0) gmp_preempt_point();
        if ((x & 0xffff) == 0) gmp_gosched();
    }
}

static void parked_chan(void *arg) {
    (void)arg;
    ready();
    int64_t v;
    gmp_chan_recv(gate, &v);
}

static void parked_mutex(void *arg) {
    (void)arg;
    ready();
    gmp_mutex_lock(&held); /* held by main: parks */
}

static void parked_wg(void *arg) {
    (void)arg;
    ready();
    gmp_waitgroup_wait(&never);
}

static void sleeper(void *arg) {
    (void)arg;
    ready();
    gmp_sleep(60000 * MS);
}

static void long_call(void *arg) {
    (void)arg;
    struct timespec ts = {60, 0};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void in_blocking(void *arg) {
    (void)arg;
    ready();
    gmp_blocking(long_call, NULL);
}

static void fd_reader(void *arg) {
    (void)arg;
    ready();
    char b[8];
    gmp_read(quiet[0], b, sizeof b, -1);
}

static void *foreign_reader(void *arg) {
    (void)arg;
    ready();
    char b[8];
    gmp_read(quiet[0], b, sizeof b, -1);
    return NULL;
}

static void *foreign_recv(void *arg) {
    (void)arg;
    ready();
    int64_t v;
    gmp_chan_recv(gate, &v);
    return NULL;
}

/* Everything at once; returns how many report ready. */
static int leave_everything(void) {
    CHECK_RC(gmp_chan_make(&gate, sizeof(int64_t), 0), 0);
    CHECK_RC(gmp_mutex_lock(&held), 0);
    CHECK_RC(gmp_waitgroup_add(&never, 1), 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, quiet) == 0);
    int n = 0;
    for (int i = 0; i < 2; i++, n++) CHECK_RC(gmp_go(busy, NULL), 0);
    for (int i = 0; i < 4; i++, n++) CHECK_RC(gmp_go(parked_chan, NULL), 0);
    for (int i = 0; i < 2; i++, n++) CHECK_RC(gmp_go(parked_mutex, NULL), 0);
    for (int i = 0; i < 2; i++, n++) CHECK_RC(gmp_go(parked_wg, NULL), 0);
    for (int i = 0; i < 4; i++, n++) CHECK_RC(gmp_go(sleeper, NULL), 0);
    for (int i = 0; i < 3; i++, n++) CHECK_RC(gmp_go(in_blocking, NULL), 0);
    for (int i = 0; i < 2; i++, n++) CHECK_RC(gmp_go(fd_reader, NULL), 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, foreign_reader, NULL) == 0);
    CHECK(pthread_detach(t) == 0);
    n++;
    CHECK(pthread_create(&t, NULL, foreign_recv, NULL) == 0);
    CHECK(pthread_detach(t) == 0);
    n++;
    return n;
}

/* ---- scenarios (run in the child) ------------------------------------------------ */

static int exit_code;

static void exit_from_goroutine(void *arg) {
    (void)arg;
    exit(exit_code);
}

static void exit_in_blocking_fn(void *arg) {
    (void)arg;
    exit(exit_code);
}

static void exit_from_blocking(void *arg) {
    (void)arg;
    gmp_blocking(exit_in_blocking_fn, NULL);
}

static void *exit_from_thread(void *arg) {
    (void)arg;
    usleep(20000);
    exit(exit_code);
}

static void main_goroutine_exits(void *arg) {
    (void)arg;
    wait_started(leave_everything());
    exit(exit_code);
}

static void main_goroutine_returns(void *arg) {
    (void)arg;
    wait_started(leave_everything());
}

static int scenario(const char *name) {
    if (!strcmp(name, "exit_running")) {
        for (int i = 0; i < 4; i++) CHECK_RC(gmp_go(busy, NULL), 0);
        wait_started(4);
        exit(21);
    }
    if (!strcmp(name, "exit_parked")) {
        CHECK_RC(gmp_chan_make(&gate, sizeof(int64_t), 0), 0);
        CHECK_RC(gmp_mutex_lock(&held), 0);
        CHECK_RC(gmp_waitgroup_add(&never, 1), 0);
        for (int i = 0; i < 8; i++) CHECK_RC(gmp_go(parked_chan, NULL), 0);
        for (int i = 0; i < 4; i++) CHECK_RC(gmp_go(parked_mutex, NULL), 0);
        for (int i = 0; i < 4; i++) CHECK_RC(gmp_go(parked_wg, NULL), 0);
        wait_started(16);
        exit(22);
    }
    if (!strcmp(name, "exit_sleeping")) {
        for (int i = 0; i < 8; i++) CHECK_RC(gmp_go(sleeper, NULL), 0);
        wait_started(8);
        exit(23);
    }
    if (!strcmp(name, "exit_blocking")) {
        for (int i = 0; i < 4; i++) CHECK_RC(gmp_go(in_blocking, NULL), 0);
        wait_started(4);
        exit(24);
    }
    if (!strcmp(name, "exit_fd_read")) {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, quiet) == 0);
        for (int i = 0; i < 4; i++) CHECK_RC(gmp_go(fd_reader, NULL), 0);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, foreign_reader, NULL) == 0);
        wait_started(5);
        exit(25);
    }
    if (!strcmp(name, "exit_everything")) {
        wait_started(leave_everything());
        exit(26);
    }
    if (!strcmp(name, "return_from_main")) {
        wait_started(leave_everything());
        return 27;
    }
    if (!strcmp(name, "exit_from_goroutine")) {
        int n = leave_everything();
        wait_started(n);
        exit_code = 28;
        CHECK_RC(gmp_go(exit_from_goroutine, NULL), 0);
        for (;;) pause();
    }
    if (!strcmp(name, "exit_from_blocking_fn")) {
        wait_started(leave_everything());
        exit_code = 29;
        CHECK_RC(gmp_go(exit_from_blocking, NULL), 0);
        for (;;) pause();
    }
    if (!strcmp(name, "exit_from_thread")) {
        /* main blocks in a gmp call on a foreign thread while another thread exits */
        int n = leave_everything();
        wait_started(n);
        exit_code = 30;
        pthread_t t;
        CHECK(pthread_create(&t, NULL, exit_from_thread, NULL) == 0);
        int64_t v;
        gmp_chan_recv(gate, &v);
        return 99;
    }
    if (!strcmp(name, "exit_in_gmp_main")) {
        exit_code = 31;
        gmp_main(main_goroutine_exits, NULL);
        return 99;
    }
    if (!strcmp(name, "return_after_gmp_main")) {
        CHECK_RC(gmp_main(main_goroutine_returns, NULL), 0);
        return 32;
    }
    if (!strcmp(name, "exit_traced")) {
        /* GMP_TRACE is set by the parent: the trace file is written at exit while
         * goroutines run */
        wait_started(leave_everything());
        exit(33);
    }
    if (!strcmp(name, "exit_after_shutdown_timeout")) {
        wait_started(leave_everything());
        CHECK_RC(gmp_shutdown(10 * MS), GMP_ETIMEDOUT);
        exit(34);
    }
    if (!strcmp(name, "exit_before_start")) {
        return 35; /* never started: nothing to stop */
    }
    fprintf(stderr, "unknown scenario %s\n", name);
    return 100;
}

/* ---- the parent ------------------------------------------------------------------ */

struct run {
    const char *name;
    int code;
    const char *env; /* "NAME=value" or NULL */
};

static const struct run runs[] = {
    {"exit_running", 21, NULL},
    {"exit_parked", 22, NULL},
    {"exit_sleeping", 23, NULL},
    {"exit_blocking", 24, NULL},
    {"exit_fd_read", 25, NULL},
    {"exit_everything", 26, NULL},
    {"return_from_main", 27, NULL},
    {"exit_from_goroutine", 28, NULL},
    {"exit_from_blocking_fn", 29, NULL},
    {"exit_from_thread", 30, NULL},
    {"exit_in_gmp_main", 31, NULL},
    {"return_after_gmp_main", 32, NULL},
    {"exit_traced", 33, "GMP_TRACE"},
    {"exit_after_shutdown_timeout", 34, NULL},
    {"exit_before_start", 35, NULL},
    {"exit_everything", 26, "GMP_DEBUG=schedtrace=5"},
};

static char trace_path[64];

static void run_one(const struct run *r) {
    int errp[2];
    CHECK(pipe2(errp, O_CLOEXEC) == 0);
    long long t0 = check_ms();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(errp[1], 2);
        if (r->env && !strcmp(r->env, "GMP_TRACE"))
            setenv("GMP_TRACE", trace_path, 1);
        else if (r->env)
            putenv((char *)r->env);
        execl("/proc/self/exe", "fault_exit", r->name, (char *)NULL);
        _exit(127);
    }
    close(errp[1]);
    CHECK(fcntl(errp[0], F_SETFL, O_NONBLOCK) == 0);
    static char err[1 << 16];
    size_t len = 0;
    int status = 0;
    for (;;) {
        ssize_t n = read(errp[0], err + len, sizeof err - 1 - len);
        if (n > 0) len += (size_t)n;
        pid_t w = waitpid(pid, &status, WNOHANG);
        CHECK(w >= 0);
        if (w == pid) break;
        if (check_ms() - t0 > 20000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "%s: the child hung at exit (killed after 20 s)\n", r->name);
            exit(1);
        }
        usleep(1000);
    }
    for (;;) {
        ssize_t n = read(errp[0], err + len, sizeof err - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    err[len] = 0;
    close(errp[0]);
    long long took = check_ms() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != r->code) {
        fprintf(stderr, "%s%s%s: status %#x (signal %d, exit %d), want exit %d\n%s\n", r->name,
                r->env ? " with " : "", r->env ? r->env : "", status,
                WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                WIFEXITED(status) ? WEXITSTATUS(status) : -1, r->code, err);
        exit(1);
    }
    if (strstr(err, "gmp: fatal") || strstr(err, "panicked") || strstr(err, "internal error")) {
        fprintf(stderr, "%s: the runtime complained at exit:\n%s\n", r->name, err);
        exit(1);
    }
    SAY("%-28s %s exit %d in %lld ms", r->name, r->env ? r->env : "", r->code, took);
}

int main(int argc, char **argv) {
    if (argc > 1) return scenario(argv[1]);
    snprintf(trace_path, sizeof trace_path, "/tmp/gmp-fault-exit-%d.json", (int)getpid());
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) run_one(&runs[i]);
    /* The trace written at exit is complete JSON (ends with its closing bracket). */
    FILE *f = fopen(trace_path, "r");
    if (f) {
        char tail[16] = {0};
        fseek(f, -4, SEEK_END);
        size_t n = fread(tail, 1, sizeof tail - 1, f);
        fclose(f);
        unlink(trace_path);
        SAY("trace written at exit: tail \"%.*s\"", (int)n, tail);
        CHECK(n > 0 && strchr(tail, ']') != NULL);
    } else {
        SAY("no trace file written at exit (GMP_TRACE)");
    }
    printf("fault_exit: ok\n");
    return 0;
}

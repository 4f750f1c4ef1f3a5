/* Helpers shared by the C halves of the libgmp benchmarks (bench/c/ *.c):
 * return-code checking, GMP_BENCH_SCALE, CPU count, RSS, result printing.
 * The Go halves have the same in bench/go/internal/benchutil. */
#ifndef GMP_BENCH_COMMON_H
#define GMP_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <gmp/gmp.h>

#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void bench_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void bench_fail(const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fputs("FAIL: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* Abort with a message unless the call returned >= 0. */
#define CHECK(call)                                                                  \
    do {                                                                             \
        long long check_rc_ = (long long)(call);                                     \
        if (check_rc_ < 0)                                                           \
            bench_fail("%s:%d: %s returned %lld (%s)", __FILE__, __LINE__, #call,    \
                       check_rc_, gmp_strerror((int)check_rc_));                      \
    } while (0)

/* Abort unless the call returned exactly `want` (e.g. GMP_ECLOSED). */
#define CHECK_EQ(call, want)                                                         \
    do {                                                                             \
        long long check_rc_ = (long long)(call);                                     \
        if (check_rc_ != (long long)(want))                                          \
            bench_fail("%s:%d: %s returned %lld (%s), expected %s", __FILE__,        \
                       __LINE__, #call, check_rc_, gmp_strerror((int)check_rc_),      \
                       #want);                                                       \
    } while (0)

/* Starts a benchmark's goroutine. Built with -DGMP_BENCH_EMPTY_HOOKS (bench/cpp/run's
 * c-hooks variant), it gives the goroutine a pair of switch hooks that do nothing
 * (GMP_HOOKS_LAZY_RESUME over a record that stays zero, as the C++ binding's are when
 * no exception is caught or in flight), so that c-hooks/c is what the runtime's hooked
 * switch path costs, apart from what the C++ binding's hooks and wrappers do. */
#ifdef GMP_BENCH_EMPTY_HOOKS
static void bench_no_hook(void *ctx) { (void)ctx; }
static const uint64_t bench_zero_record[2] __attribute__((aligned(16)));
static inline int bench_go(gmp_fn fn, void *arg) {
    gmp_switch_hooks h;
    gmp_go_attr a;
    memset(&h, 0, sizeof h);
    h.size = sizeof h;
    h.on_park = bench_no_hook;
    h.on_resume = bench_no_hook;
    h.ctx = (void *)bench_zero_record;
    h.flags = GMP_HOOKS_LAZY_RESUME;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.hooks = &h;
    return gmp_go_ex(&a, fn, arg, NULL);
}
#else
#define bench_go(fn, arg) gmp_go((fn), (arg))
#endif

/* GMP_BENCH_SCALE (default 1): scales iteration counts down for smoke runs. */
static inline double bench_scale(void) {
    const char *s = getenv("GMP_BENCH_SCALE");
    char *end;
    double v;
    if (s == NULL || *s == '\0') return 1.0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0) || v > 1e9)
        bench_fail("bad GMP_BENCH_SCALE \"%s\"", s);
    return v;
}

/* n * scale rounded to nearest, at least min (same as benchutil.Scaled). */
static inline int64_t bench_scaled(int64_t n, int64_t min) {
    int64_t v = (int64_t)((double)n * bench_scale() + 0.5);
    return v < min ? min : v;
}

/* The "all P's" count: CPUs in this process's affinity mask, as Go's
 * runtime.NumCPU(). */
static inline int bench_ncpu(void) {
    cpu_set_t set;
    long n;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Resident set size in bytes, from /proc/self/statm. */
static inline int64_t bench_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long size, resident;
    if (f == NULL) bench_fail("open /proc/self/statm");
    if (fscanf(f, "%lld %lld", &size, &resident) != 2) bench_fail("parse /proc/self/statm");
    fclose(f);
    return (int64_t)resident * (int64_t)sysconf(_SC_PAGESIZE);
}

/* The one machine-readable line, on stdout. */
static inline void bench_result(const char *name, const char *metric, double value) {
    printf("RESULT name=%s metric=%s value=%.4f\n", name, metric, value);
    fflush(stdout);
}

/* Run fn as the main goroutine; abort if gmp_main fails. */
static inline void bench_main(gmp_fn fn, void *arg) {
    CHECK(gmp_main(fn, arg));
}

#endif

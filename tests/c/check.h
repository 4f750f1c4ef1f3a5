/* check.h: the tiny assertion kit of the C tests (tests/c/CMakeLists.txt builds them, and
 * ctest runs them: tests/c/run.sh).
 * CHECK(cond) and CHECK_RC(expr, want) print file:line and exit(1) on failure;
 * SAY(...) prints what is being checked. */
#ifndef GMP_TESTS_CHECK_H
#define GMP_TESTS_CHECK_H

#include <gmp/gmp.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

#define CHECK_RC(expr, want)                                                        \
    do {                                                                            \
        long long rc_ = (long long)(expr);                                          \
        if (rc_ != (long long)(want)) {                                             \
            fprintf(stderr, "%s:%d: %s returned %lld (%s), want %lld (%s)\n",       \
                    __FILE__, __LINE__, #expr, rc_, gmp_strerror((int)rc_),         \
                    (long long)(want), gmp_strerror((int)(want)));                  \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

#define SAY(...)                      \
    do {                              \
        printf("  check: ");          \
        printf(__VA_ARGS__);          \
        printf("\n");                 \
        fflush(stdout);               \
    } while (0)

/* Monotonic milliseconds, for hang detection only (never a timing assertion). */
static inline long long check_ms(void) { return (long long)(gmp_now() / 1000000); }

struct check_fn_ {
    void (*fn)(void);
};

static inline void check_call_(void *arg) { ((struct check_fn_ *)arg)->fn(); }

/* Runs `all` on the calling thread (a foreign thread to the runtime), then again as
 * gmp_main's goroutine, and prints "NAME: ok". The main() of a test that checks both. */
static inline int check_here_and_in_main(const char *name, void (*all)(void)) {
    all();
    struct check_fn_ f = {all};
    CHECK_RC(gmp_main(check_call_, &f), 0);
    printf("%s: ok\n", name);
    return 0;
}

#endif

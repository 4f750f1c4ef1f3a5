/* check.h: the tiny assertion kit of the C tests (tests/c/run.sh builds and runs them).
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

#endif

/* switch_regs.c: the registers a C call preserves (rbx, rbp, r12-r15 on x86-64; x19-x28
 * and d8-d15 on aarch64) survive every kind of switch: yields that switch directly to
 * another goroutine, parks on channels, and gmp_blocking (to the thread's stack and
 * back). Six values are forced into registers around each call (an empty asm with "+r"
 * operands), which at -O1 puts them in callee-saved registers across it; the result is
 * compared with the same arithmetic done without switches. Exits 0 on success. */
#include "check.h"

#include <stdint.h>

enum { G = 8, ROUNDS = 4000 };

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static gmp_chan *ch;
static unsigned long results[G];

static void nothing(void *arg) { (void)arg; }

static void pass(long k, long i) {
    switch ((k + i) % 3) {
    case 0:
        gmp_gosched();
        break;
    case 1: {
        /* a park: hand a value through the shared channel (buffered, so it may or may
         * not block) and take one back */
        long v = k;
        CHECK_RC(gmp_chan_send(ch, &v), 0);
        CHECK_RC(gmp_chan_recv(ch, &v), 0);
        break;
    }
    default:
        CHECK_RC(gmp_blocking(nothing, NULL), 0);
    }
}

static unsigned long mix(unsigned long seed, int with_switches) {
    unsigned long a = seed * 3, b = seed * 5, c = seed * 7, d = seed * 11, e = seed * 13,
                  f = seed * 17;
    for (unsigned long i = 0; i < ROUNDS; i++) {
        __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d), "+r"(e), "+r"(f));
        if (with_switches) pass((long)seed, (long)i);
        __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d), "+r"(e), "+r"(f));
        a = a * 31 + b;
        b ^= c + i;
        c = c * 7 + d;
        d ^= e << 1;
        e = e * 13 + f;
        f ^= a >> 3;
    }
    return a ^ b ^ c ^ d ^ e ^ f;
}

static void worker(void *arg) {
    long k = (long)(intptr_t)arg;
    results[k] = mix(k + 1, 1);
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

static void run(void *arg) {
    (void)arg;
    CHECK_RC(gmp_chan_make(&ch, sizeof(long), G), 0);
    CHECK_RC(gmp_waitgroup_add(&wg, G), 0);
    for (long k = 0; k < G; k++) CHECK_RC(gmp_go(worker, (void *)(intptr_t)k), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    for (long k = 0; k < G; k++) {
        if (results[k] != mix(k + 1, 0)) {
            fprintf(stderr, "goroutine %ld: %lu, want %lu\n", k, results[k], mix(k + 1, 0));
            exit(1);
        }
    }
    gmp_chan_release(ch);
}

int main(void) {
    CHECK_RC(gmp_main(run, NULL), 0);
    printf("switch_regs: %d goroutines x %d switches kept their registers\n", G, ROUNDS);
    return 0;
}

/* libgmp and GNU MP in one C program: ours first this time, then GNU MP's <gmp.h>.
 * A goroutine computes 2^1000 with mpz; main waits for it and checks the digits. */
#include <gmp/gmp.h>

#include <gmp.h>

#include <stdio.h>
#include <string.h>

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static char digits[400];

static void compute(void *arg) {
    (void)arg;
    mpz_t p;
    mpz_init(p);
    mpz_ui_pow_ui(p, 2, 1000);
    gmp_gosched(); /* a switch point while the mpz is live */
    mpz_get_str(digits, 10, p);
    mpz_clear(p);
    gmp_waitgroup_done(&wg);
}

int main(void) {
    gmp_waitgroup_add(&wg, 1);
    if (gmp_go(compute, NULL) != 0) return 1;
    gmp_waitgroup_wait(&wg); /* main is a foreign thread: this blocks it */
    int sum = 0;
    for (const char *c = digits; *c; c++) sum += *c - '0';
    int ok = strlen(digits) == 302 && sum == 1366 && strncmp(digits, "1071508607", 10) == 0;
    printf("GNU MP %s + libgmp %s: 2^1000 has %zu digits, digit sum %d: %s\n", gmp_version,
           gmp_lib_version(), strlen(digits), sum, ok ? "right" : "WRONG");
    return ok ? 0 : 1;
}

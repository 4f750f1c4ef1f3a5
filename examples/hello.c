/* hello.c: ten goroutines greet, main waits for them with a waitgroup.
 * Build: cc -I include examples/hello.c target/release/libgmp.so \
 *           -Wl,-rpath,$PWD/target/release -o hello */
#include <gmp/gmp.h>
#include <stdint.h>
#include <stdio.h>

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;

static void greet(void *arg) {
    printf("hello from goroutine %llu (job %d)\n", (unsigned long long)gmp_self(),
           (int)(intptr_t)arg);
    gmp_waitgroup_done(&wg);
}

static void run(void *arg) {
    (void)arg;
    for (int i = 0; i < 10; i++) {
        gmp_waitgroup_add(&wg, 1);
        gmp_go(greet, (void *)(intptr_t)i);
    }
    gmp_waitgroup_wait(&wg);
    printf("all greeted; %d P's\n", gmp_maxprocs(0));
}

int main(void) {
    int rc = gmp_main(run, NULL);
    if (rc != 0) fprintf(stderr, "gmp_main: %s\n", gmp_strerror(rc));
    return rc == 0 ? 0 : 1;
}

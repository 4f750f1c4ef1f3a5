/* The C consumer: a producer goroutine, a buffered channel, select with a timeout. */
#include <gmp/gmp.h>

#include <stdint.h>
#include <stdio.h>

static gmp_chan *numbers;

static void produce(void *arg) {
    (void)arg;
    for (int64_t i = 1; i <= 100; i++) gmp_chan_send(numbers, &i);
    gmp_chan_close(numbers);
}

static void run(void *arg) {
    int64_t *sum = arg;
    gmp_go(produce, NULL);
    for (;;) {
        int64_t v = 0;
        gmp_select_case c = {numbers, GMP_RECV, &v, 0};
        int i = gmp_select(&c, 1, 5000000000LL);
        if (i != 0 || c.result == GMP_ECLOSED) break;
        *sum += v;
    }
}

int main(void) {
    if (gmp_chan_make(&numbers, sizeof(int64_t), 8) != 0) return 1;
    int64_t sum = 0;
    int rc = gmp_main(run, &sum);
    gmp_chan_release(numbers);
    printf("C consumer: libgmp %s (header %d.%d.%d), sum %lld\n", gmp_lib_version(),
           GMP_VERSION_MAJOR, GMP_VERSION_MINOR, GMP_VERSION_PATCH, (long long)sum);
    return rc == 0 && sum == 5050 ? 0 : 1;
}

/* prime_sieve.c: the concurrent prime sieve from the Go tour, one goroutine per prime.
 * Each filter receives numbers from the previous stage and passes on those its prime
 * does not divide. Usage: prime_sieve [count] (default 100). */
#include <gmp/gmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct filter { gmp_chan *in, *out; int64_t prime; };

static void generate(void *arg) {
    gmp_chan *ch = arg;
    for (int64_t i = 2;; i++)
        if (gmp_chan_send(ch, &i) != 0) break; /* closed: the sieve is done */
    gmp_chan_release(ch);
}

static void filter(void *arg) {
    struct filter *f = arg;
    int64_t v;
    while (gmp_chan_recv(f->in, &v) == 0)
        if (v % f->prime != 0 && gmp_chan_send(f->out, &v) != 0) break;
    gmp_chan_close(f->in); /* tell the stage before us to stop */
    gmp_chan_release(f->in);
    gmp_chan_release(f->out);
    free(f);
}

static void run(void *arg) {
    int count = *(int *)arg;
    gmp_chan *ch;
    gmp_chan_make(&ch, sizeof(int64_t), 0);
    gmp_go(generate, gmp_chan_retain(ch));
    for (int i = 0; i < count; i++) {
        int64_t prime;
        gmp_chan_recv(ch, &prime);
        printf("%lld\n", (long long)prime);
        struct filter *f = malloc(sizeof *f);
        gmp_chan *next;
        gmp_chan_make(&next, sizeof(int64_t), 0);
        f->in = ch;
        f->out = gmp_chan_retain(next);
        f->prime = prime;
        gmp_go(filter, f);
        ch = next;
    }
    gmp_chan_close(ch); /* unwinds the pipeline stage by stage */
    gmp_chan_release(ch);
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 100;
    return gmp_main(run, &count) == 0 ? 0 : 1;
}

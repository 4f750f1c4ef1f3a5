/* worker_pool.c: a fixed pool of worker goroutines takes jobs from a buffered channel,
 * sends results back on another; a waitgroup closes the results when all workers end.
 * Usage: worker_pool [jobs] [workers] (default 1000 jobs, 8 workers). */
#include <gmp/gmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static gmp_chan *jobs, *results;
static gmp_waitgroup workers = GMP_WAITGROUP_INIT;

static int64_t collatz_steps(int64_t n) {
    int64_t s = 0;
    while (n != 1) { n = n % 2 ? 3 * n + 1 : n / 2; s++; }
    return s;
}

static void worker(void *arg) {
    (void)arg;
    int64_t n;
    while (gmp_chan_recv(jobs, &n) == 0) { /* GMP_ECLOSED once drained */
        int64_t r = collatz_steps(n);
        gmp_chan_send(results, &r);
    }
    gmp_waitgroup_done(&workers);
}

static void closer(void *arg) {
    (void)arg;
    gmp_waitgroup_wait(&workers);
    gmp_chan_close(results);
}

static void feeder(void *arg) {
    int64_t njobs = *(int64_t *)arg;
    for (int64_t i = 1; i <= njobs; i++) gmp_chan_send(jobs, &i);
    gmp_chan_close(jobs);
}

static void run(void *arg) {
    int64_t *cfg = arg, njobs = cfg[0], nworkers = cfg[1], r, total = 0, count = 0;
    gmp_chan_make(&jobs, sizeof(int64_t), 64);
    gmp_chan_make(&results, sizeof(int64_t), 64);
    gmp_waitgroup_add(&workers, nworkers);
    for (int64_t i = 0; i < nworkers; i++) gmp_go(worker, NULL);
    gmp_go(closer, NULL);
    gmp_go(feeder, &njobs);
    while (gmp_chan_recv(results, &r) == 0) { total += r; count++; }
    printf("%lld jobs done by %lld workers: %lld collatz steps in all\n", (long long)count,
           (long long)nworkers, (long long)total);
    gmp_chan_release(jobs);
    gmp_chan_release(results);
}

int main(int argc, char **argv) {
    int64_t cfg[2] = { argc > 1 ? atoll(argv[1]) : 1000, argc > 2 ? atoll(argv[2]) : 8 };
    return gmp_main(run, cfg) == 0 ? 0 : 1;
}

/* gmp_shutdown frees what it says it frees: run under valgrind's leak checker
 * (tests/debug/run.sh) after goroutines that leave timers pending (a ticker never
 * stopped, an after never fired, a sleeping timeout that went stale) and channels with
 * buffered elements. Definite and possible leaks fail the check. */
#include <gmp/gmp.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(e)                                                   \
    do {                                                           \
        int rc_ = (e);                                             \
        if (rc_ != 0) {                                            \
            fprintf(stderr, "%s:%d: %s = %d\n", __FILE__, __LINE__, #e, rc_); \
            abort();                                               \
        }                                                          \
    } while (0)

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
enum { N = 50 };
static gmp_chan *tickers[N];

static void worker(void *arg) {
    long i = (long)arg;
    gmp_chan *t = NULL, *a = NULL, *c = NULL;
    CHECK(gmp_ticker(&t, 3600LL * 1000000000LL));
    CHECK(gmp_after(&a, 3600LL * 1000000000LL));
    CHECK(gmp_chan_make(&c, sizeof(long), 4));
    long v = 7;
    CHECK(gmp_chan_send(c, &v));
    /* A timeout that goes stale: its timer stays in the heap until swept. */
    CHECK(gmp_chan_recv_timeout(c, &v, 3600LL * 1000000000LL));
    gmp_sleep(1000000);
    /* The ticker is neither stopped nor released: main keeps it across shutdown, whose
     * end must drop the timer's own reference. The after and c are released here. */
    tickers[i] = t;
    gmp_chan_release(a);
    gmp_chan_release(c);
    gmp_waitgroup_done(&wg);
}

int main(void) {
    for (long i = 0; i < N; i++) {
        gmp_waitgroup_add(&wg, 1);
        int rc = gmp_go(worker, (void *)i);
        if (rc != 0) {
            fprintf(stderr, "gmp_go: %d\n", rc);
            return 1;
        }
    }
    int rc = gmp_waitgroup_wait(&wg);
    if (rc != 0) {
        fprintf(stderr, "gmp_waitgroup_wait: %d\n", rc);
        return 2;
    }
    rc = gmp_shutdown(-1);
    if (rc != 0) {
        fprintf(stderr, "gmp_shutdown: %d\n", rc);
        return 3;
    }
    /* The last references: the channels go now that their timers are gone. */
    for (int i = 0; i < N; i++) gmp_chan_release(tickers[i]);
    puts("shutdown_leaks: ok");
    return 0;
}

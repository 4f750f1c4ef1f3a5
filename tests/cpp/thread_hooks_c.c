/* gmp_config's on_thread_start / on_thread_stop from C (its own process), and
 * gmp_home_set_reentrant: with it off, a blocking call on the home thread does not run
 * the home's goroutines; gmp_home_run still does. */
#include <gmp/gmp.h>

#include <stdatomic.h>
#include <stdio.h>

static atomic_int starts[4];
static atomic_int stops[4];
static int failures;

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAIL: %s\n", what);
    failures++;
  }
}

static void on_start(int role, int index, void *ctx) {
  (void)index;
  if (ctx == (void *)starts && role >= 1 && role <= 3) atomic_fetch_add(&starts[role], 1);
}

static void on_stop(int role, int index, void *ctx) {
  (void)index;
  (void)ctx;
  if (role >= 1 && role <= 3) atomic_fetch_add(&stops[role], 1);
}

static void set_flag(void *arg) { atomic_store((atomic_int *)arg, 1); }

static void send_one(void *arg) {
  int one = 1;
  gmp_chan_send((gmp_chan *)arg, &one);
}

int main(void) {
  gmp_config cfg = {0};
  cfg.size = sizeof cfg;
  cfg.maxprocs = 2;
  cfg.on_thread_start = on_start;
  cfg.on_thread_stop = on_stop;
  cfg.thread_ctx = (void *)starts;
  check(gmp_init(&cfg) == 0, "gmp_init");

  /* This thread owns a home; its goroutine may run only when the home is pumped. */
  gmp_home *h = NULL;
  check(gmp_home_make(&h) == 0, "gmp_home_make");
  check(gmp_home_set_reentrant(h, 0) == 1, "reentrant by default");
  atomic_int ran = 0;
  check(gmp_go_home(h, NULL, set_flag, &ran) == 0, "gmp_go_home");
  gmp_chan *never = NULL;
  check(gmp_chan_make(&never, sizeof(int), 0) == 0, "gmp_chan_make");
  int v = 0;
  /* A blocking call on the home thread: with re-entry off it runs nothing of the home. */
  check(gmp_chan_recv_timeout(never, &v, 20000000) == GMP_ETIMEDOUT, "recv times out");
  check(atomic_load(&ran) == 0, "the home's goroutine did not run inside the blocking call");
  check(gmp_home_run(h, -1) == 1, "gmp_home_run runs it");
  check(atomic_load(&ran) == 1, "it ran in gmp_home_run");

  /* Back on: the next blocking call pumps the home. */
  check(gmp_home_set_reentrant(h, 1) == 0, "was off");
  atomic_int ran2 = 0;
  check(gmp_go_home(h, NULL, set_flag, &ran2) == 0, "gmp_go_home 2");
  check(gmp_chan_recv_timeout(never, &v, 20000000) == GMP_ETIMEDOUT, "recv times out 2");
  check(atomic_load(&ran2) == 1, "re-entry on: the blocking call ran the home's goroutine");
  check(gmp_home_set_reentrant(NULL, 0) == GMP_EINVAL, "NULL home");

  gmp_chan_release(never);
  gmp_home_close(h);
  while (gmp_home_run(h, -1) != GMP_ECLOSED) gmp_home_wait(h, 1000000);
  gmp_home_free(h);

  /* A plain goroutine runs on a worker M. */
  gmp_chan *done = NULL;
  check(gmp_chan_make(&done, sizeof(int), 1) == 0, "gmp_chan_make done");
  check(gmp_go(send_one, done) == 0, "gmp_go");
  check(gmp_chan_recv(done, &v) == 0 && v == 1, "the goroutine ran");
  gmp_chan_release(done);

  check(atomic_load(&starts[GMP_THREAD_WORKER]) >= 1, "a worker started");
  check(atomic_load(&starts[GMP_THREAD_SYSMON]) == 1, "sysmon started");
  check(gmp_shutdown(10000000000LL) == 0, "gmp_shutdown");
  check(atomic_load(&stops[GMP_THREAD_WORKER]) == atomic_load(&starts[GMP_THREAD_WORKER]),
        "every worker stopped");
  check(atomic_load(&stops[GMP_THREAD_SYSMON]) == 1, "sysmon stopped");
  printf("workers %d/%d, sysmon %d/%d\n", atomic_load(&starts[GMP_THREAD_WORKER]),
         atomic_load(&stops[GMP_THREAD_WORKER]), atomic_load(&starts[GMP_THREAD_SYSMON]),
         atomic_load(&stops[GMP_THREAD_SYSMON]));
  return failures == 0 ? 0 : 1;
}

/* A goroutine parked a few frames deep, for the gdb extension test (tests/debug/run.sh). */
#include <gmp/gmp.h>
#include <stdio.h>
#include <signal.h>
static gmp_chan *c;
__attribute__((noinline)) static void deep_wait(int n) { if (n) { deep_wait(n - 1); return; } int64_t v; gmp_chan_recv(c, &v); }
static void waiter(void *a) { gmp_set_name("deep"); deep_wait(3); }
static void run(void *x) { gmp_chan_make(&c, 8, 0); gmp_go(waiter, NULL); gmp_sleep(50000000); raise(SIGTRAP); int64_t v = 1; gmp_chan_send(c, &v); gmp_sleep(10000000); }
int main(void) { return gmp_main(run, NULL); }

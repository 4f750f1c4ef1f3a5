/* echo_client: a libgmp load generator for the echo benchmark (bench/NET.md), the
 * same protocol and output as bench/go/echoclient (the default generator, used for
 * both servers): -conns connections, one goroutine each, all connected before any
 * starts; then -rounds round trips of -size bytes each (write, read the whole echo
 * back, check it). Prints RESULT name=<name> metric=req_per_s and INFO with p50/p99.
 * A cross-check (bench/run_net --client c): the load generator's runtime should not
 * decide the comparison.
 *
 * Usage: echo_client -addr 127.0.0.1:PORT [-conns N] [-rounds R] [-size B] [-name S]
 * GMP_BENCH_SCALE scales -rounds (at least 1). Every call has a 60 s time-out. */
#include "bench_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define T 60000000000LL

static struct sockaddr_in addr;
static int conns = 1000, size = 64;
static int64_t rounds = 200;
static const char *name = "echo";
static int *fds;
static int64_t *lat; /* conns x rounds */
static gmp_waitgroup connected = GMP_WAITGROUP_INIT, done = GMP_WAITGROUP_INIT;
static gmp_chan *start;

static void dial(void *arg) {
    int i = (int)(intptr_t)arg, one = 1;
    int fd = gmp_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd);
    CHECK(gmp_connect(fd, (struct sockaddr *)&addr, sizeof addr, 10000000000LL));
    CHECK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    fds[i] = fd;
    CHECK(gmp_waitgroup_done(&connected));
}

static void conn(void *arg) {
    int ci = (int)(intptr_t)arg, fd = fds[ci];
    unsigned char *out = malloc((size_t)size), *in = malloc((size_t)size);
    if (!out || !in) bench_fail("malloc");
    CHECK_EQ(gmp_chan_recv(start, NULL), GMP_ECLOSED);
    for (int64_t i = 0; i < rounds; i++) {
        for (int k = 0; k < size; k++) out[k] = (unsigned char)(ci * 31 ^ (int)i * 7 ^ k);
        int64_t t = gmp_now();
        CHECK_EQ(gmp_write(fd, out, (size_t)size, T), size);
        for (int off = 0; off < size;) {
            ssize_t n = gmp_read(fd, in + off, (size_t)(size - off), T);
            if (n <= 0) bench_fail("conn %d round %lld: read %zd", ci, (long long)i, n);
            off += (int)n;
        }
        lat[(int64_t)ci * rounds + i] = gmp_now() - t;
        if (memcmp(in, out, (size_t)size) != 0)
            bench_fail("conn %d round %lld: echoed bytes differ", ci, (long long)i);
    }
    gmp_close_fd(fd);
    free(out);
    free(in);
    CHECK(gmp_waitgroup_done(&done));
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void run(void *arg) {
    (void)arg;
    fds = calloc((size_t)conns, sizeof *fds);
    lat = calloc((size_t)conns * (size_t)rounds, sizeof *lat);
    if (!fds || !lat) bench_fail("calloc");
    CHECK(gmp_chan_make(&start, 0, 0));
    /* Connect in batches of 64, so the dials do not overflow the accept queue. */
    for (int i = 0; i < conns; i += 64) {
        int m = conns - i < 64 ? conns - i : 64;
        CHECK(gmp_waitgroup_add(&connected, m));
        for (int k = 0; k < m; k++) CHECK(gmp_go(dial, (void *)(intptr_t)(i + k)));
        CHECK(gmp_waitgroup_wait(&connected));
    }
    CHECK(gmp_waitgroup_add(&done, conns));
    for (int i = 0; i < conns; i++) CHECK(gmp_go(conn, (void *)(intptr_t)i));
    int64_t t0 = gmp_now();
    CHECK(gmp_chan_close(start));
    CHECK(gmp_waitgroup_wait(&done));
    double el = (double)(gmp_now() - t0) / 1e9;
    int64_t n = (int64_t)conns * rounds;
    qsort(lat, (size_t)n, sizeof *lat, cmp64);
    double rps = (double)n / el, p50 = lat[n / 2] / 1e3, p99 = lat[(n - 1) * 99 / 100] / 1e3,
           p999 = lat[(n - 1) * 999 / 1000] / 1e3, max = lat[n - 1] / 1e3;
    fprintf(stderr, "%s: %d conns x %lld round trips of %d B in %.3f s: %.0f req/s, p50 %.1f us, p99 %.1f us\n",
            name, conns, (long long)rounds, size, el, rps, p50, p99);
    fprintf(stderr, "INFO name=%s p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f conns=%d rounds=%lld size=%d elapsed_ms=%.0f\n",
            name, p50, p99, p999, max, conns, (long long)rounds, size, el * 1e3);
    bench_result(name, "req_per_s", rps);
    gmp_chan_release(start);
    free(fds);
    free(lat);
}

int main(int argc, char **argv) {
    const char *a = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-addr")) a = argv[i + 1];
        else if (!strcmp(argv[i], "-conns")) conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-rounds")) rounds = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "-size")) size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-name")) name = argv[i + 1];
        else bench_fail("unknown flag %s", argv[i]);
    }
    rounds = bench_scaled(rounds, 1);
    if (a == NULL || conns < 1 || size < 1) bench_fail("usage: echo_client -addr host:port [-conns N] [-rounds R] [-size B]");
    char host[64];
    const char *colon = strrchr(a, ':');
    if (colon == NULL || (size_t)(colon - a) >= sizeof host) bench_fail("bad -addr %s", a);
    memcpy(host, a, (size_t)(colon - a));
    host[colon - a] = '\0';
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) bench_fail("bad host %s", host);
    bench_main(run, NULL);
    return 0;
}

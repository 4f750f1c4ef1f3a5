/* echo_server: the libgmp half of the echo benchmark (bench/NET.md). A TCP echo
 * server on 127.0.0.1, one goroutine per connection, on the netpoller: each reads up
 * to 4 KiB and writes back what it read until EOF. The Go half is bench/go/echo; both
 * are driven by the same load generator (bench/go/echoclient).
 *
 * Usage: echo_server [port]   (default 0: an ephemeral port)
 * Prints "PORT <n>" on stdout once listening, then serves until killed. */
#include "bench_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

static void serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = gmp_read(fd, buf, sizeof buf, GMP_FOREVER);
        if (n <= 0) break; /* EOF, or the client reset */
        if (gmp_write(fd, buf, (size_t)n, GMP_FOREVER) != n) break;
    }
    gmp_close_fd(fd);
}

static void run(void *arg) {
    int port = *(int *)arg, one = 1;
    int ln = gmp_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(ln);
    CHECK(setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ln, (struct sockaddr *)&sa, sizeof sa) < 0) bench_fail("bind: port %d", port);
    CHECK(listen(ln, 4096));
    socklen_t len = sizeof sa;
    CHECK(getsockname(ln, (struct sockaddr *)&sa, &len));
    printf("PORT %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int c = gmp_accept(ln, NULL, NULL, GMP_FOREVER);
        if (c < 0) {
            /* EMFILE and the like: say so, back off, go on (as Go's http server). */
            fprintf(stderr, "echo_server: accept: %s\n", gmp_strerror(c));
            gmp_sleep(5000000);
            continue;
        }
        /* As Go does for every TCP connection. */
        CHECK(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
        CHECK(gmp_go(serve, (void *)(intptr_t)c));
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    signal(SIGPIPE, SIG_IGN);
    bench_main(run, &port);
    return 0;
}

/* echo_server.c: a TCP echo server, one goroutine per connection, on the netpoller.
 * Usage: echo_server [port] (default 7777); then: nc 127.0.0.1 7777 */
#include <gmp/gmp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = gmp_read(fd, buf, sizeof buf, GMP_FOREVER); /* parks, not blocks */
        if (n <= 0) break;                                      /* EOF or error */
        if (gmp_write(fd, buf, (size_t)n, GMP_FOREVER) < 0) break;
    }
    gmp_close_fd(fd);
}

static void run(void *arg) {
    int port = *(int *)arg, one = 1;
    int ln = gmp_socket(AF_INET, SOCK_STREAM, 0);
    if (ln < 0) { fprintf(stderr, "socket: %s\n", gmp_strerror(ln)); return; }
    setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(ln, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ln, 1024) < 0) {
        perror("bind/listen");
        return;
    }
    printf("echo server on 127.0.0.1:%d (try: nc 127.0.0.1 %d)\n", port, port);
    fflush(stdout);
    for (;;) {
        int c = gmp_accept(ln, NULL, NULL, GMP_FOREVER);
        if (c < 0) { fprintf(stderr, "accept: %s\n", gmp_strerror(c)); continue; }
        gmp_go(serve, (void *)(intptr_t)c);
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 7777;
    return gmp_main(run, &port) == 0 ? 0 : 1;
}

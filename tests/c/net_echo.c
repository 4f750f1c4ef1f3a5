/* net_echo.c: the network poller through the C ABI (API.md "Network poller and
 * syscall-safe blocking"): a goroutine-per-connection echo server with many goroutine
 * clients over TCP on 127.0.0.1 and over an AF_UNIX stream socket (content checked),
 * gmp_send/gmp_recv (MSG_PEEK) and gmp_sendmsg/gmp_recvmsg, time-outs, gmp_close_fd
 * waking a parked reader, gmp_wait_fd masks, a write to a closed peer (EPIPE, and no
 * SIGPIPE: this program keeps SIGPIPE's default action, as C programs do), and a
 * foreign thread as a client. Exits 0 on success. */
#define _GNU_SOURCE
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define MS 1000000LL
#define T (10000 * MS) /* per-call time-out: a hang detector */

enum { CLIENTS = 100, ROUNDS = 20 };

static gmp_waitgroup wg = GMP_WAITGROUP_INIT;
static int listen_fd = -1;
static struct sockaddr_storage server_addr;
static socklen_t server_len;
static int64_t echoed_total;
static gmp_mutex total_mu = GMP_MUTEX_INIT;

/* ---- helpers ---------------------------------------------------------------------- */

static void read_full(int fd, void *buf, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t r = gmp_read(fd, (char *)buf + off, n - off, T);
        if (r <= 0) {
            fprintf(stderr, "read_full: %zd (%s)\n", r, gmp_strerror((int)r));
            exit(1);
        }
        off += (size_t)r;
    }
}

static int tcp_listener(int backlog) {
    int fd = gmp_socket(AF_INET, SOCK_STREAM, 0), one = 1;
    CHECK(fd >= 0);
    CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(fd, backlog) == 0);
    server_len = sizeof server_addr;
    CHECK(getsockname(fd, (struct sockaddr *)&server_addr, &server_len) == 0);
    return fd;
}

static int unix_listener(const char *path, int backlog) {
    int fd = gmp_socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    CHECK(strlen(path) < sizeof sa.sun_path);
    strcpy(sa.sun_path, path);
    unlink(path);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(fd, backlog) == 0);
    memcpy(&server_addr, &sa, sizeof sa);
    server_len = sizeof sa;
    return fd;
}

static int dial(void) {
    int fd = gmp_socket(server_addr.ss_family, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK_RC(gmp_connect(fd, (struct sockaddr *)&server_addr, server_len, T), 0);
    return fd;
}

static unsigned char pat(int c, int i, int k) { return (unsigned char)(c * 31 ^ i * 7 ^ k); }

/* ---- echo ------------------------------------------------------------------------- */

static void serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[1024];
    int64_t total = 0;
    for (;;) {
        ssize_t n = gmp_read(fd, buf, sizeof buf, T);
        CHECK(n >= 0);
        if (n == 0) break;
        CHECK_RC(gmp_write(fd, buf, (size_t)n, T), n);
        total += n;
    }
    CHECK_RC(gmp_close_fd(fd), 0);
    CHECK_RC(gmp_mutex_lock(&total_mu), 0);
    echoed_total += total;
    CHECK_RC(gmp_mutex_unlock(&total_mu), 0);
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

static void acceptor(void *arg) {
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++) {
        int c = gmp_accept(listen_fd, NULL, NULL, T);
        CHECK(c >= 0);
        CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
        CHECK_RC(gmp_go(serve, (void *)(intptr_t)c), 0);
    }
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

static size_t msg_len(int c, int i) { return 1 + (size_t)((c * 13 + i * 29) % 300); }

static void client(void *arg) {
    int id = (int)(intptr_t)arg, fd = dial();
    unsigned char out[512], back[512];
    for (int i = 0; i < ROUNDS; i++) {
        size_t len = msg_len(id, i);
        for (size_t k = 0; k < len; k++) out[k] = pat(id, i, (int)k);
        CHECK_RC(gmp_write(fd, out, len, T), (long long)len);
        read_full(fd, back, len);
        CHECK(memcmp(out, back, len) == 0);
    }
    CHECK_RC(gmp_close_fd(fd), 0);
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

static void *thread_client(void *arg) {
    CHECK(gmp_self() == 0);
    client(arg);
    return NULL;
}

static void echo_round(const char *what, int threads) {
    int64_t want = 0;
    for (int c = 0; c < CLIENTS + threads; c++)
        for (int i = 0; i < ROUNDS; i++) want += (int64_t)msg_len(c, i);
    echoed_total = 0;
    CHECK_RC(gmp_waitgroup_add(&wg, 1 + CLIENTS + threads), 0);
    CHECK_RC(gmp_go(acceptor, (void *)(intptr_t)(CLIENTS + threads)), 0);
    for (int c = 0; c < CLIENTS; c++) CHECK_RC(gmp_go(client, (void *)(intptr_t)c), 0);
    pthread_t th[4];
    CHECK(threads <= 4);
    for (int t = 0; t < threads; t++)
        CHECK(pthread_create(&th[t], NULL, thread_client, (void *)(intptr_t)(CLIENTS + t)) == 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);
    for (int t = 0; t < threads; t++) CHECK(pthread_join(th[t], NULL) == 0);
    if (echoed_total != want) {
        fprintf(stderr, "%s: echoed %lld bytes, want %lld\n", what, (long long)echoed_total,
                (long long)want);
        exit(1);
    }
    CHECK_RC(gmp_close_fd(listen_fd), 0);
    printf("ok  %s echo: %d clients x %d round trips\n", what, CLIENTS + threads, ROUNDS);
}

/* ---- single-call semantics -------------------------------------------------------- */

static void pair(int *c, int *s) {
    listen_fd = tcp_listener(4);
    *c = dial();
    *s = gmp_accept(listen_fd, NULL, NULL, T);
    CHECK(*s >= 0);
    CHECK_RC(gmp_close_fd(listen_fd), 0);
}

static int cancel_fd;
static void cancel_reader(void *arg) {
    (void)arg;
    char b[4];
    CHECK_RC(gmp_read(cancel_fd, b, sizeof b, GMP_FOREVER), GMP_ECANCELED);
    CHECK_RC(gmp_waitgroup_done(&wg), 0);
}

static void semantics(void *arg) {
    (void)arg;
    int c, s;
    char b[64];
    pair(&c, &s);

    /* Time-outs: never early. */
    int64_t t0 = gmp_now();
    CHECK_RC(gmp_read(c, b, sizeof b, 30 * MS), GMP_ETIMEDOUT);
    CHECK(gmp_now() - t0 >= 30 * MS);
    CHECK_RC(gmp_wait_fd(c, GMP_POLLIN, 10 * MS), GMP_ETIMEDOUT);
    CHECK_RC(gmp_wait_fd(c, GMP_POLLOUT, T), GMP_POLLOUT);

    /* send / recv with MSG_PEEK. */
    CHECK_RC(gmp_send(s, "peekaboo", 8, 0, T), 8);
    CHECK_RC(gmp_wait_fd(c, GMP_POLLIN, T), GMP_POLLIN);
    CHECK_RC(gmp_recv(c, b, 4, MSG_PEEK, T), 4);
    CHECK(memcmp(b, "peek", 4) == 0);
    CHECK_RC(gmp_recv(c, b, 8, MSG_WAITALL, T), 8);
    CHECK(memcmp(b, "peekaboo", 8) == 0);

    /* sendmsg / recvmsg with two iovecs each. */
    struct iovec out[2] = {{.iov_base = "hello ", .iov_len = 6}, {.iov_base = "world", .iov_len = 5}};
    struct msghdr m = {.msg_iov = out, .msg_iovlen = 2};
    CHECK_RC(gmp_sendmsg(c, &m, 0, T), 11);
    char x[5], y[6];
    struct iovec in[2] = {{.iov_base = x, .iov_len = 5}, {.iov_base = y, .iov_len = 6}};
    struct msghdr mi = {.msg_iov = in, .msg_iovlen = 2};
    CHECK_RC(gmp_recvmsg(s, &mi, MSG_WAITALL, T), 11);
    CHECK(memcmp(x, "hello", 5) == 0 && memcmp(y, " world", 6) == 0);

    /* gmp_close_fd wakes a parked reader with GMP_ECANCELED. */
    cancel_fd = c;
    CHECK_RC(gmp_waitgroup_add(&wg, 1), 0);
    CHECK_RC(gmp_go(cancel_reader, NULL), 0);
    CHECK_RC(gmp_sleep(20 * MS), 0);
    CHECK_RC(gmp_close_fd(c), 0);
    CHECK_RC(gmp_waitgroup_wait(&wg), 0);

    /* A write to a closed peer: the first may succeed (the peer answers RST), a later
     * one fails with -EPIPE or -ECONNRESET, and SIGPIPE (default action: die) is not
     * raised. */
    CHECK_RC(gmp_close_fd(s), 0);
    pair(&c, &s);
    CHECK_RC(gmp_close_fd(s), 0);
    CHECK_RC(gmp_read(c, b, sizeof b, T), 0); /* EOF */
    ssize_t w = 0;
    for (int i = 0; i < 50 && w >= 0; i++) {
        w = gmp_write(c, "x", 1, T);
        if (w >= 0) CHECK_RC(gmp_sleep(2 * MS), 0);
    }
    CHECK(w == -EPIPE || w == -ECONNRESET);
    CHECK_RC(gmp_send(c, "y", 1, 0, T), -EPIPE);
    CHECK_RC(gmp_write(c, "y", 1, T), -EPIPE);
    CHECK_RC(gmp_close_fd(c), 0);

    /* NULL buffers with n > 0: EINVAL, no crash. */
    CHECK_RC(gmp_read(0, NULL, 1, 0), GMP_EINVAL);
    CHECK_RC(gmp_write(1, NULL, 1, 0), GMP_EINVAL);
    CHECK_RC(gmp_connect(0, NULL, 0, 0), GMP_EINVAL);
    CHECK_RC(gmp_recvmsg(0, NULL, 0, 0), GMP_EINVAL);
    CHECK_RC(gmp_read(-1, b, 1, 0), -EBADF);
    printf("ok  single calls: time-outs, send/recv, sendmsg/recvmsg, close_fd, EPIPE\n");
}

static void run(void *arg) {
    (void)arg;
    listen_fd = tcp_listener(256);
    echo_round("tcp", 0);

    char path[108];
    snprintf(path, sizeof path, "/tmp/gmp-net-echo-%d.sock", (int)getpid());
    listen_fd = unix_listener(path, 256);
    echo_round("unix", 0);
    unlink(path);

    listen_fd = tcp_listener(256);
    echo_round("tcp + foreign threads", 4);

    semantics(NULL);
}

/* The same write to a closed peer from a foreign thread (main, outside gmp_main): the
 * runtime's threads block signals, this one does not, so a write(2) here would raise
 * SIGPIPE and kill the process. */
static void epipe_on_foreign_thread(void) {
    int c, s;
    char b[8];
    pair(&c, &s);
    CHECK_RC(gmp_close_fd(s), 0);
    CHECK_RC(gmp_read(c, b, sizeof b, T), 0);
    ssize_t w = 0;
    for (int i = 0; i < 50 && w >= 0; i++) {
        w = gmp_write(c, "x", 1, T);
        if (w >= 0) usleep(2000);
    }
    CHECK(w == -EPIPE || w == -ECONNRESET);
    /* Once the reset is consumed, the socket is dead for writing: EPIPE, where write(2)
     * raises SIGPIPE unless MSG_NOSIGNAL is used. */
    CHECK_RC(gmp_write(c, "x", 1, T), -EPIPE);
    CHECK_RC(gmp_close_fd(c), 0);
    printf("ok  EPIPE on a foreign thread, no SIGPIPE\n");
}

int main(void) {
    CHECK_RC(gmp_main(run, NULL), 0);
    epipe_on_foreign_thread();
    printf("net_echo: all passed\n");
    return 0;
}

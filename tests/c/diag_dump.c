/* diag_dump.c: the goroutine dump and the statistics through the C ABI (API.md
 * "Diagnostics"): goroutines parked in a receive, a send, a mutex, a wait group and a
 * sleep, named through gmp_go_attr.name and gmp_set_name, appear in gmp_dump_goroutines
 * with Go's header line `goroutine <id> [<wait reason>] "<name>":`; the dump's own header
 * counts them; gmp_read_stats agrees; a bad fd is an error. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define MS 1000000LL

/* The dump as a malloc'd string, through a temporary file. */
static char *dump(void) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    CHECK_RC(gmp_dump_goroutines(fileno(f)), 0);
    /* The runtime wrote through the fd, behind stdio's back: seek to learn the size. */
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    CHECK(n > 0);
    char *s = malloc((size_t)n + 1);
    CHECK(s != NULL);
    rewind(f);
    CHECK(fread(s, 1, (size_t)n, f) == (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Whether `d` has exactly the line `line` (without its newline). */
static int has_line(const char *d, const char *line) {
    size_t len = strlen(line);
    for (const char *p = d; (p = strstr(p, line)) != NULL; p += len)
        if ((p == d || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0')) return 1;
    return 0;
}

/* The line of goroutine `id` (the dump's header for it), copied into buf. */
static const char *line_of(const char *d, gmp_goid id, char *buf, size_t size) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "goroutine %" PRIu64 " [", id);
    for (const char *p = d; (p = strstr(p, prefix)) != NULL; p++) {
        if (p != d && p[-1] != '\n') continue;
        size_t n = strcspn(p, "\n");
        if (n >= size) n = size - 1;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return buf;
    }
    return NULL;
}

static gmp_chan *recv_ch, *send_ch;
static gmp_mutex mu = GMP_MUTEX_INIT;
static gmp_waitgroup gate = GMP_WAITGROUP_INIT, all = GMP_WAITGROUP_INIT;

static void receiver(void *a) {
    (void)a;
    int64_t v;
    CHECK_RC(gmp_chan_recv(recv_ch, &v), 0);
    CHECK_RC(gmp_waitgroup_done(&all), 0);
}

static void sender(void *a) {
    (void)a;
    int64_t v = 1;
    CHECK_RC(gmp_chan_send(send_ch, &v), 0);
    CHECK_RC(gmp_waitgroup_done(&all), 0);
}

static void locker(void *a) {
    (void)a;
    CHECK_RC(gmp_set_name("c-locker"), 0);
    CHECK_RC(gmp_mutex_lock(&mu), 0);
    CHECK_RC(gmp_mutex_unlock(&mu), 0);
    CHECK_RC(gmp_waitgroup_done(&all), 0);
}

static void gate_waiter(void *a) {
    (void)a;
    CHECK_RC(gmp_set_name("c-wg"), 0);
    CHECK_RC(gmp_waitgroup_wait(&gate), 0);
    CHECK_RC(gmp_waitgroup_done(&all), 0);
}

static void sleeper(void *a) {
    (void)a;
    CHECK_RC(gmp_sleep(300 * MS), 0);
    CHECK_RC(gmp_waitgroup_done(&all), 0);
}

static gmp_goid spawn(const char *name, gmp_fn fn) {
    gmp_go_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.name = name;
    gmp_goid id = 0;
    CHECK_RC(gmp_waitgroup_add(&all, 1), 0);
    CHECK_RC(gmp_go_ex(&attr, fn, NULL, &id), 0);
    CHECK(id > 0);
    return id;
}

static void run(void *arg) {
    (void)arg;
    CHECK_RC(gmp_chan_make(&recv_ch, sizeof(int64_t), 0), 0);
    CHECK_RC(gmp_chan_make(&send_ch, sizeof(int64_t), 0), 0);
    CHECK_RC(gmp_mutex_lock(&mu), 0);
    CHECK_RC(gmp_waitgroup_add(&gate, 1), 0);
    gmp_goid g[5];
    char want[5][128];
    g[0] = spawn("c-receiver", receiver);
    g[1] = spawn("c-sender", sender);
    g[2] = spawn(NULL, locker);
    g[3] = spawn(NULL, gate_waiter);
    g[4] = spawn("c-sleeper", sleeper);
    snprintf(want[0], sizeof want[0], "goroutine %" PRIu64 " [chan receive] \"c-receiver\":", g[0]);
    snprintf(want[1], sizeof want[1], "goroutine %" PRIu64 " [chan send] \"c-sender\":", g[1]);
    snprintf(want[2], sizeof want[2], "goroutine %" PRIu64 " [sync.Mutex.Lock] \"c-locker\":", g[2]);
    snprintf(want[3], sizeof want[3], "goroutine %" PRIu64 " [sync.WaitGroup.Wait] \"c-wg\":", g[3]);
    snprintf(want[4], sizeof want[4], "goroutine %" PRIu64 " [sleep] \"c-sleeper\":", g[4]);
    /* Wait (at most 5 s) until every goroutine shows its wait. */
    char *d = NULL;
    for (int tries = 0;; tries++) {
        free(d);
        d = dump();
        int ok = 1;
        for (int i = 0; i < 5; i++) ok &= has_line(d, want[i]);
        if (ok) break;
        if (tries == 2500) {
            fprintf(stderr, "dump never showed every wait:\n%s\n", d);
            exit(1);
        }
        gmp_sleep(2 * MS);
    }
    /* The header counts the goroutines listed, and agrees with the statistics. */
    long long n = -1;
    CHECK(sscanf(d, "gmp: %lld goroutines, gomaxprocs=", &n) == 1);
    long long entries = 0;
    for (const char *p = d; (p = strstr(p, "\ngoroutine ")) != NULL; p++) entries++;
    CHECK(n == entries);
    CHECK(n == gmp_num_goroutine());
    gmp_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    CHECK_RC(gmp_read_stats(&st), 0);
    CHECK(st.size == sizeof st);
    CHECK(st.goroutines == n);
    CHECK(st.goroutines_created >= 6);
    CHECK(st.maxprocs == gmp_maxprocs(0));
    /* The main goroutine is the one running the dump; as Go's main it is not locked. */
    char buf[256];
    CHECK(line_of(d, gmp_self(), buf, sizeof buf) != NULL);
    CHECK(strstr(buf, "[running] \"main\"") != NULL);
    CHECK(strstr(buf, "locked to M") == NULL);
    free(d);
    CHECK_RC(gmp_dump_goroutines(-1), -EBADF);

    /* Release everyone. */
    int64_t v = 1;
    CHECK_RC(gmp_chan_send(recv_ch, &v), 0);
    CHECK_RC(gmp_chan_recv(send_ch, &v), 0);
    CHECK_RC(gmp_mutex_unlock(&mu), 0);
    CHECK_RC(gmp_waitgroup_done(&gate), 0);
    CHECK_RC(gmp_waitgroup_wait(&all), 0);
    gmp_chan_release(recv_ch);
    gmp_chan_release(send_ch);
}

int main(void) {
    CHECK_RC(gmp_main(run, NULL), 0);
    /* From a plain thread, after gmp_main. The other goroutines called done on `all`
     * before they returned, so the last of them may still be on its way out: wait for
     * the count to reach 0 (a hang guard, not a time bound), then every one has ended. */
    for (int i = 0; gmp_num_goroutine() > 0; i++) {
        CHECK(i < 20000);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    char *d = dump();
    CHECK(strncmp(d, "gmp: 0 goroutines, gomaxprocs=", 30) == 0);
    CHECK(strstr(d, "\ngoroutine ") == NULL);
    free(d);
    printf("diag_dump: ok\n");
    return 0;
}

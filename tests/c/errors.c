/* errors.c: bad input through the C ABI returns GMP_EINVAL (never a crash), the struct
 * size rule (EINVAL, E2BIG, short stats), gmp_strerror for every code, and versions. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static void nop(void *arg) { (void)arg; }

static gmp_home *other_home;
static gmp_waitgroup made = GMP_WAITGROUP_INIT, checked = GMP_WAITGROUP_INIT;

static void *home_thread(void *arg) {
    (void)arg;
    CHECK_RC(gmp_home_make(&other_home), 0);
    CHECK_RC(gmp_waitgroup_done(&made), 0);
    CHECK_RC(gmp_waitgroup_wait(&checked), 0);
    CHECK_RC(gmp_home_close(other_home), 0);
    CHECK_RC(gmp_home_run(other_home, -1), GMP_ECLOSED);
    CHECK_RC(gmp_home_free(other_home), 0);
    return NULL;
}

static void check_names(int code, const char *name) {
    const char *s = gmp_strerror(code);
    CHECK(s != NULL);
    if (!strstr(s, name)) {
        fprintf(stderr, "gmp_strerror(%d) = \"%s\" does not mention %s\n", code, s, name);
        exit(1);
    }
}

int main(void) {
    SAY("version: gmp_lib_version_number() matches the header's macros");
    CHECK(gmp_lib_version_number() ==
          ((uint32_t)GMP_VERSION_MAJOR << 16 | (uint32_t)GMP_VERSION_MINOR << 8 | (uint32_t)GMP_VERSION_PATCH));
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", GMP_VERSION_MAJOR, GMP_VERSION_MINOR, GMP_VERSION_PATCH);
    CHECK(strcmp(gmp_lib_version(), want) == 0);

    SAY("gmp_strerror names every code");
    check_names(GMP_EINVAL, "EINVAL");
    check_names(GMP_ENOMEM, "ENOMEM");
    check_names(GMP_EAGAIN, "EAGAIN");
    check_names(GMP_ETIMEDOUT, "ETIMEDOUT");
    check_names(GMP_ECANCELED, "ECANCELED");
    check_names(GMP_EDEADLK, "EDEADLK");
    check_names(GMP_EALREADY, "EALREADY");
    check_names(GMP_EINTR, "EINTR");
    check_names(GMP_E2BIG, "E2BIG");
    check_names(GMP_ECLOSED, "ECLOSED");
    check_names(GMP_ENOTGOROUTINE, "ENOTGOROUTINE");
    check_names(GMP_ESHUTDOWN, "ESHUTDOWN");
    CHECK(gmp_strerror(0) != NULL);
    CHECK(gmp_strerror(-EPIPE) != NULL && gmp_strerror(-EPIPE)[0] != 0);
    CHECK(gmp_strerror(12345) != NULL);
    CHECK(gmp_strerror(-2147483647 - 1) != NULL);
    SAY("each GMP_E* is the negative errno");
    CHECK(GMP_EINVAL == -EINVAL && GMP_ENOMEM == -ENOMEM && GMP_EAGAIN == -EAGAIN);
    CHECK(GMP_ETIMEDOUT == -ETIMEDOUT && GMP_ECANCELED == -ECANCELED && GMP_EDEADLK == -EDEADLK);
    CHECK(GMP_EALREADY == -EALREADY && GMP_EINTR == -EINTR && GMP_E2BIG == -E2BIG);

    SAY("NULL arguments: GMP_EINVAL");
    CHECK_RC(gmp_go(NULL, NULL), GMP_EINVAL);
    CHECK_RC(gmp_go_ex(NULL, NULL, NULL, NULL), GMP_EINVAL);
    CHECK_RC(gmp_main(NULL, NULL), GMP_EINVAL);
    CHECK_RC(gmp_mutex_lock(NULL), GMP_EINVAL);
    CHECK_RC(gmp_mutex_trylock(NULL), GMP_EINVAL);
    CHECK_RC(gmp_mutex_unlock(NULL), GMP_EINVAL);
    CHECK_RC(gmp_rwmutex_rlock(NULL), GMP_EINVAL);
    CHECK_RC(gmp_rwmutex_lock(NULL), GMP_EINVAL);
    CHECK_RC(gmp_rwmutex_unlock(NULL), GMP_EINVAL);
    CHECK_RC(gmp_rwmutex_runlock(NULL), GMP_EINVAL);
    CHECK_RC(gmp_waitgroup_add(NULL, 1), GMP_EINVAL);
    CHECK_RC(gmp_waitgroup_done(NULL), GMP_EINVAL);
    CHECK_RC(gmp_waitgroup_wait(NULL), GMP_EINVAL);
    CHECK_RC(gmp_once_do(NULL, nop, NULL), GMP_EINVAL);
    CHECK_RC(gmp_cond_signal(NULL), GMP_EINVAL);
    CHECK_RC(gmp_cond_broadcast(NULL), GMP_EINVAL);
    CHECK_RC(gmp_cond_wait(NULL, NULL), GMP_EINVAL);
    CHECK_RC(gmp_home_make(NULL), GMP_EINVAL);
    CHECK_RC(gmp_go_home(NULL, NULL, nop, NULL), GMP_EINVAL);
    CHECK_RC(gmp_home_run(NULL, 0), GMP_EINVAL);
    CHECK_RC(gmp_home_wait(NULL, 0), GMP_EINVAL);
    CHECK_RC(gmp_home_wake(NULL), GMP_EINVAL);
    CHECK_RC(gmp_home_fd(NULL), GMP_EINVAL);
    CHECK_RC(gmp_home_close(NULL), GMP_EINVAL);
    CHECK_RC(gmp_home_free(NULL), GMP_EINVAL);
    CHECK_RC(gmp_read_stats(NULL), GMP_EINVAL);

    SAY("cond_wait with an unlocked mutex: GMP_EINVAL");
    gmp_mutex m = GMP_MUTEX_INIT;
    gmp_cond c = GMP_COND_INIT;
    CHECK_RC(gmp_cond_wait(&c, &m), GMP_EINVAL);

    SAY("struct size rule: attr.size 3 -> EINVAL, non-zero trailing bytes -> E2BIG");
    gmp_go_attr a = {3, 0, NULL, NULL};
    CHECK_RC(gmp_go_ex(&a, nop, NULL, NULL), GMP_EINVAL);
    struct {
        gmp_go_attr attr;
        uint64_t extra;
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.attr.size = sizeof newer;
    CHECK_RC(gmp_go_ex(&newer.attr, nop, NULL, NULL), 0);
    newer.extra = 1;
    CHECK_RC(gmp_go_ex(&newer.attr, nop, NULL, NULL), GMP_E2BIG);
    gmp_go_attr big = {sizeof big, ((size_t)1 << 30) + 1, NULL, NULL};
    CHECK_RC(gmp_go_ex(&big, nop, NULL, NULL), GMP_EINVAL);

    SAY("stats: a short size gets only that many bytes");
    unsigned char buf[sizeof(gmp_stats) + 16];
    memset(buf, 0xAA, sizeof buf);
    size_t small = 16;
    memcpy(buf, &small, sizeof small);
    CHECK_RC(gmp_read_stats((gmp_stats *)(void *)buf), 0);
    size_t got;
    memcpy(&got, buf, sizeof got);
    CHECK(got == 16);
    for (size_t i = 16; i < sizeof buf; i++) CHECK(buf[i] == 0xAA);
    size_t tiny = 4;
    memcpy(buf, &tiny, sizeof tiny);
    CHECK_RC(gmp_read_stats((gmp_stats *)(void *)buf), GMP_EINVAL);

    SAY("gmp_init after start: GMP_EALREADY");
    CHECK_RC(gmp_init(NULL), GMP_EALREADY);

    SAY("another thread's home: run, wait and free from here are GMP_EINVAL");
    CHECK_RC(gmp_waitgroup_add(&made, 1), 0);
    CHECK_RC(gmp_waitgroup_add(&checked, 1), 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, home_thread, NULL) == 0);
    CHECK_RC(gmp_waitgroup_wait(&made), 0);
    CHECK_RC(gmp_home_run(other_home, -1), GMP_EINVAL);
    CHECK_RC(gmp_home_wait(other_home, 0), GMP_EINVAL);
    CHECK_RC(gmp_home_free(other_home), GMP_EINVAL);
    CHECK_RC(gmp_home_wake(other_home), 0); /* any thread may wake or close */
    CHECK_RC(gmp_waitgroup_done(&checked), 0);
    pthread_join(th, NULL);
    printf("errors: ok\n");
    return 0;
}

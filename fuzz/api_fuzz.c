/* api_fuzz.c: a libFuzzer harness that drives random sequences of libgmp C API calls.
 *
 * Each input is a small concurrent program: its first bytes choose how many goroutine
 * actors (0-3) and foreign-thread actors (0-2) run, and the rest is split among them;
 * each actor decodes its bytes into calls (channel make/send/recv/select/close/len/
 * release, time-outs of 0 or a few microseconds, timers and tickers, mutex, rwmutex,
 * waitgroup, once and cond use and misuse, sleeps, socket reads and writes, fd calls on
 * bad descriptors, gmp_blocking, nested goroutines, homes on foreign threads, NULL
 * pointers and bad sizes). Every call's return value is checked against the set of
 * codes the API (include/gmp/gmp.h, docs API.md) allows for that call in that state;
 * anything else aborts with a message (a libFuzzer finding). Build with clang
 * -fsanitize=fuzzer,address,undefined (fuzz/run.sh).
 *
 * Rules that keep the harness itself correct (a finding must be the library's):
 * - Shared objects live for the whole input and are freed only after every actor ended;
 *   a channel handle is never used after its release (a released channel is freed
 *   memory: there is no stale-channel error to test). "Stale" handles are only those
 *   the API promises an error for: closed channels (GMP_ECLOSED), a closed home
 *   (GMP_ECLOSED), descriptors that are not open (-EBADF).
 * - No call can block forever: channel, select, cond and fd calls carry time-outs; a
 *   blocking mutex/rwmutex lock is only taken by an actor that holds nothing else, and
 *   holders only make bounded calls, so every holder releases; waitgroup waits only
 *   where the counter is known to be zero.
 * - Misuse is checked on private objects whose state the actor knows exactly (unlock of
 *   an unlocked mutex -> GMP_EINVAL, waitgroup below zero -> GMP_EINVAL, ...). */
#define _GNU_SOURCE
#include <gmp/gmp.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define US 1000LL
#define MS 1000000LL

/* ---- checking --------------------------------------------------------------------- */

enum {
    A_ZERO = 1 << 0,     /* 0 */
    A_POS = 1 << 1,      /* > 0 */
    A_EINVAL = 1 << 2,
    A_ENOMEM = 1 << 3,
    A_EAGAIN = 1 << 4,
    A_ETIMEDOUT = 1 << 5,
    A_ECANCELED = 1 << 6,
    A_EALREADY = 1 << 7,
    A_ECLOSED = 1 << 8,
    A_ENOTGOROUTINE = 1 << 9,
    A_E2BIG = 1 << 10,
    A_EBADF = 1 << 11,
    A_EINTR = 1 << 12,
};

static int allowed(long long rc, unsigned set) {
    if (rc == 0) return (set & A_ZERO) != 0;
    if (rc > 0) return (set & A_POS) != 0;
    switch (rc) {
    case GMP_EINVAL: return (set & A_EINVAL) != 0;
    case GMP_ENOMEM: return (set & A_ENOMEM) != 0;
    case GMP_EAGAIN: return (set & A_EAGAIN) != 0;
    case GMP_ETIMEDOUT: return (set & A_ETIMEDOUT) != 0;
    case GMP_ECANCELED: return (set & A_ECANCELED) != 0;
    case GMP_EALREADY: return (set & A_EALREADY) != 0;
    case GMP_ECLOSED: return (set & A_ECLOSED) != 0;
    case GMP_ENOTGOROUTINE: return (set & A_ENOTGOROUTINE) != 0;
    case GMP_E2BIG: return (set & A_E2BIG) != 0;
    case -EBADF: return (set & A_EBADF) != 0;
    case GMP_EINTR: return (set & A_EINTR) != 0;
    default: return 0;
    }
}

#define FAIL(...)                                      \
    do {                                               \
        fprintf(stderr, "api_fuzz:%d: ", __LINE__);    \
        fprintf(stderr, __VA_ARGS__);                  \
        fprintf(stderr, "\n");                         \
        abort();                                       \
    } while (0)

/* Evaluates `call` once; aborts unless its result is in `set`. */
#define CK(call, set)                                                                  \
    ({                                                                                 \
        long long rc_ = (long long)(call);                                             \
        if (!allowed(rc_, (set)))                                                      \
            FAIL("%s returned %lld (%s), not allowed here", #call, rc_,                \
                 gmp_strerror((int)rc_));                                              \
        rc_;                                                                           \
    })

#define REQUIRE(cond)                                 \
    do {                                              \
        if (!(cond)) FAIL("requirement: %s", #cond);  \
    } while (0)

/* ---- the input -------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n, i;
} stream;

static uint8_t next(stream *s) { return s->i < s->n ? s->p[s->i++] : 0; }

/* A short time-out: 0 (a try), 10 us, 100 us or 1 ms. */
static int64_t timeout(stream *s) {
    static const int64_t t[4] = {0, 10 * US, 100 * US, 1 * MS};
    return t[next(s) & 3];
}

/* ---- the world one input shares ------------------------------------------------- */

#define NSHARED 4
#define MAXELEM 64
#define FILL 0xA5
#define SFILL 0x5A
#define MAX_ACTORS 16

typedef struct world {
    gmp_chan *ch[NSHARED];
    size_t esz[NSHARED], cap[NSHARED];
    gmp_mutex mu[2];
    gmp_rwmutex rw;
    gmp_once once;
    atomic_int once_runs;
    atomic_int once_calls;
    gmp_cond cond;
    gmp_mutex cond_mu;
    gmp_waitgroup actors; /* goroutine actors and their children */
    int sock[2];
    atomic_int spawned;   /* nested goroutines so far (budget) */
    atomic_int maxprocs_set;
} world;

typedef struct actor {
    world *w;
    stream s;
    int goroutine;   /* runs as a goroutine (else a foreign thread) */
    int in_home;     /* a goroutine of a home (blocking calls may be GMP_ECANCELED) */
    int depth;
    /* what this actor holds of the shared locks */
    int held[2], cond_held, rheld, wheld;
    /* private objects: their state is known exactly */
    gmp_mutex pmu;
    int pmu_locked;
    gmp_rwmutex prw;
    int prw_r, prw_w;
    gmp_waitgroup pwg;
    int64_t pwg_count;
    gmp_cond pcond;
    gmp_chan *priv[2];
    size_t priv_esz[2];
    int os_locked;
    gmp_home *home;
    int home_closed;
} actor;

static unsigned cancel(const actor *a) { return a->in_home ? A_ECANCELED : 0; }

static int holds_any(const actor *a) {
    return a->held[0] || a->held[1] || a->cond_held || a->rheld || a->wheld;
}

/* A channel for an op: shared, private (if any) or NULL. */
static gmp_chan *pick_chan(actor *a, uint8_t b, size_t *esz) {
    unsigned k = b % (NSHARED + 3);
    if (k < NSHARED) {
        *esz = a->w->esz[k];
        return a->w->ch[k];
    }
    if (k < NSHARED + 2 && a->priv[k - NSHARED]) {
        *esz = a->priv_esz[k - NSHARED];
        return a->priv[k - NSHARED];
    }
    *esz = 0;
    return NULL;
}

static void check_elem(const uint8_t *buf, size_t esz, long long rc) {
    for (size_t i = 0; i < esz; i++) {
        uint8_t want = rc == 0 ? FILL : 0;
        if (buf[i] != want)
            FAIL("received byte %zu = %#x, want %#x (rc %lld, elem %zu)", i, buf[i], want, rc,
                 esz);
    }
}

static void once_fn(void *arg) {
    world *w = arg;
    atomic_fetch_add(&w->once_runs, 1);
}

static void blocking_fn(void *arg) {
    atomic_int *x = arg;
    atomic_fetch_add(x, 1);
}

static void run_actor(actor *a);

static void goroutine_actor(void *arg) {
    actor *a = arg;
    world *w = a->w;
    run_actor(a);
    free(a);
    CK(gmp_waitgroup_done(&w->actors), A_ZERO);
}

static void *thread_actor(void *arg) {
    run_actor(arg);
    free(arg);
    return NULL;
}

/* A goroutine body for calls that must fail: never runs if the library is right. */
static void must_not_run(void *arg) {
    (void)arg;
    FAIL("a goroutine started by a call that returned an error ran");
}

static actor *new_actor(world *w, const uint8_t *p, size_t n, int goroutine, int depth) {
    actor *a = calloc(1, sizeof *a);
    REQUIRE(a);
    a->w = w;
    a->s.p = p;
    a->s.n = n;
    a->goroutine = goroutine;
    a->depth = depth;
    return a;
}

/* ---- homes (foreign actors) -------------------------------------------------------- */

typedef struct {
    gmp_chan *ch; /* private channel of the home goroutine, released by it */
    int64_t t;
} home_job;

static void home_goroutine(void *arg) {
    home_job *j = arg;
    CK(gmp_sleep(j->t), A_ZERO | A_ECANCELED);
    uint8_t buf[8] = {0};
    CK(gmp_chan_recv_timeout(j->ch, buf, j->t), A_EAGAIN | A_ETIMEDOUT | A_ECANCELED);
    CK(gmp_chan_send_timeout(j->ch, buf, 0), A_ZERO | A_ECANCELED);
    CK(gmp_chan_recv_timeout(j->ch, buf, 0), A_ZERO | A_ECANCELED);
    gmp_chan_release(j->ch);
    free(j);
}

static void home_op(actor *a, stream *s) {
    switch (next(s) % 6) {
    case 0:
        if (!a->home) {
            CK(gmp_home_make(&a->home), A_ZERO);
            gmp_home *h2;
            CK(gmp_home_make(&h2), A_EALREADY);
            CK(gmp_home_fd(a->home), A_POS);
        }
        break;
    case 1:
        if (a->home) {
            home_job *j = malloc(sizeof *j);
            REQUIRE(j);
            CK(gmp_chan_make(&j->ch, 8, 1), A_ZERO);
            j->t = timeout(s);
            long long rc = CK(gmp_go_home(a->home, NULL, home_goroutine, j),
                              a->home_closed ? A_ECLOSED : A_ZERO);
            if (rc != 0) {
                gmp_chan_release(j->ch);
                free(j);
            }
        }
        break;
    case 2:
        if (a->home) CK(gmp_home_run(a->home, timeout(s)), A_ZERO | A_POS | A_ECLOSED);
        break;
    case 3:
        if (a->home) CK(gmp_home_wait(a->home, timeout(s) / 10), A_ZERO | A_EINTR | A_ETIMEDOUT);
        break;
    case 4:
        if (a->home) CK(gmp_home_wake(a->home), A_ZERO);
        break;
    case 5:
        if (a->home) {
            CK(gmp_home_close(a->home), A_ZERO | A_ECLOSED);
            a->home_closed = 1;
            CK(gmp_go_home(a->home, NULL, must_not_run, NULL), A_ECLOSED);
        }
        break;
    }
}

static void home_finish(actor *a) {
    if (!a->home) return;
    CK(gmp_home_close(a->home), A_ZERO | A_ECLOSED);
    for (int i = 0;; i++) {
        long long rc = CK(gmp_home_run(a->home, -1), A_ZERO | A_POS | A_ECLOSED);
        if (rc == GMP_ECLOSED) break;
        if (i > 100000) FAIL("a closed home's goroutines never finished");
        if (rc == 0) CK(gmp_home_wait(a->home, 1 * MS), A_ZERO | A_EINTR | A_ETIMEDOUT);
    }
    CK(gmp_home_free(a->home), A_ZERO);
    a->home = NULL;
}

/* ---- one op ------------------------------------------------------------------------ */

/* GMP_FUZZ_NO_HOME=1 leaves homes out (to look past a known home bug in long runs). */
static int no_home;

static void op(actor *a) {
    stream *s = &a->s;
    world *w = a->w;
    uint8_t buf[MAXELEM + 8];
    uint8_t code = next(s);
    unsigned c = cancel(a);
    switch (code % 40) {
    case 0: { /* send */
        size_t esz;
        gmp_chan *ch = pick_chan(a, next(s), &esz);
        memset(buf, FILL, sizeof buf);
        int64_t t = timeout(s);
        if (!ch) {
            CK(gmp_chan_send_timeout(ch, buf, t), A_EINVAL);
        } else {
            CK(gmp_chan_send_timeout(ch, buf, t),
               A_ZERO | A_ECLOSED | (t == 0 ? A_EAGAIN : A_ETIMEDOUT) | c);
        }
        break;
    }
    case 1: { /* receive */
        size_t esz;
        gmp_chan *ch = pick_chan(a, next(s), &esz);
        memset(buf, 0x11, sizeof buf);
        int64_t t = timeout(s);
        if (!ch) {
            CK(gmp_chan_recv_timeout(ch, buf, t), A_EINVAL);
        } else {
            long long rc = CK(gmp_chan_recv_timeout(ch, buf, t),
                              A_ZERO | A_ECLOSED | (t == 0 ? A_EAGAIN : A_ETIMEDOUT) | c);
            if (rc == 0 || rc == GMP_ECLOSED) check_elem(buf, esz, rc);
        }
        break;
    }
    case 2: { /* receive, discarding */
        size_t esz;
        gmp_chan *ch = pick_chan(a, next(s), &esz);
        if (ch)
            CK(gmp_chan_recv_timeout(ch, NULL, 0), A_ZERO | A_ECLOSED | A_EAGAIN | c);
        break;
    }
    case 3: { /* send of NULL: only for empty elements */
        size_t esz;
        gmp_chan *ch = pick_chan(a, next(s), &esz);
        if (ch && esz > 0) CK(gmp_chan_send_timeout(ch, NULL, 0), A_EINVAL);
        if (ch && esz == 0)
            CK(gmp_chan_send_timeout(ch, NULL, 0), A_ZERO | A_ECLOSED | A_EAGAIN | c);
        break;
    }
    case 4: { /* close */
        size_t esz;
        gmp_chan *ch = pick_chan(a, next(s), &esz);
        CK(gmp_chan_close(ch), ch ? A_ZERO | A_ECLOSED : A_EINVAL);
        break;
    }
    case 5: { /* len / cap */
        size_t esz;
        uint8_t b = next(s);
        gmp_chan *ch = pick_chan(a, b, &esz);
        if (!ch) {
            REQUIRE(gmp_chan_len(ch) == GMP_EINVAL);
            REQUIRE(gmp_chan_cap(ch) == GMP_EINVAL);
            break;
        }
        int64_t cap = gmp_chan_cap(ch);
        int64_t len = gmp_chan_len(ch);
        REQUIRE(cap >= 0 && len >= 0 && len <= cap);
        if (b % (NSHARED + 3) < NSHARED) REQUIRE((size_t)cap == w->cap[b % (NSHARED + 3)]);
        break;
    }
    case 6: { /* select */
        gmp_select_case cases[4];
        uint8_t bufs[4][MAXELEM + 8];
        size_t esz[4];
        size_t n = next(s) % 5;
        int invalid = 0, maybe_invalid = 0;
        for (size_t i = 0; i < n; i++) {
            uint8_t b = next(s);
            cases[i].chan = pick_chan(a, b, &esz[i]);
            uint8_t o = next(s);
            cases[i].op = (o & 15) == 15 ? 3 : (o & 1) ? GMP_SEND : GMP_RECV;
            memset(bufs[i], cases[i].op == GMP_SEND ? FILL : 0x11, sizeof bufs[i]);
            cases[i].elem = bufs[i];
            if ((o & 6) == 6) {
                cases[i].elem = NULL;
                if (cases[i].op == GMP_SEND && esz[i] > 0) {
                    if (cases[i].chan) invalid = 1;
                    else maybe_invalid = 1;
                }
            }
            if (cases[i].op == 3) {
                if (cases[i].chan) invalid = 1;
                else maybe_invalid = 1;
            }
            cases[i].result = 12345;
        }
        int64_t t = timeout(s);
        if (n == 0 && t != 0) t = 10 * US;
        long long rc = gmp_select(n ? cases : NULL, n, t);
        if (invalid) {
            if (rc != GMP_EINVAL) FAIL("select with an invalid case returned %lld", rc);
            break;
        }
        if (rc >= 0) {
            if ((size_t)rc >= n) FAIL("select returned case %lld of %zu", rc, n);
            gmp_select_case *k = &cases[rc];
            if (!k->chan) FAIL("select fired a NULL channel's case");
            if (k->result != 0 && k->result != GMP_ECLOSED)
                FAIL("select case result %d", k->result);
            if (k->op == GMP_RECV && k->elem) check_elem(k->elem, esz[rc], k->result);
        } else if (!allowed(rc, (t == 0 ? A_EAGAIN : A_ETIMEDOUT) | c |
                                    (maybe_invalid ? A_EINVAL : 0))) {
            FAIL("select returned %lld (%s)", rc, gmp_strerror((int)rc));
        }
        break;
    }
    case 7: { /* select misuse */
        switch (next(s) % 3) {
        case 0: CK(gmp_select(NULL, 2, 0), A_EINVAL); break;
        case 1: CK(gmp_select(NULL, 65537, 0), A_EINVAL); break;
        case 2: CK(gmp_select(NULL, 0, 0), A_EAGAIN); break;
        }
        break;
    }
    case 8: { /* private channel make / release */
        int k = next(s) & 1;
        if (a->priv[k]) {
            if (next(s) & 1) CK(gmp_chan_close(a->priv[k]), A_ZERO | A_ECLOSED);
            gmp_chan_release(a->priv[k]);
            a->priv[k] = NULL;
            break;
        }
        static const size_t sizes[6] = {0, 1, 8, 64, 65536, 65537};
        static const size_t caps[6] = {0, 1, 4, 64, (size_t)1 << 40, SIZE_MAX / 2};
        size_t es = sizes[next(s) % 6], cp = caps[next(s) % 6];
        if (es > MAXELEM && es != 65537) es = MAXELEM;
        int bad = es > 65536 || (es && cp > SIZE_MAX / es);
        /* The header promises GMP_EINVAL for an overflowing size; the library also
         * refuses (GMP_EINVAL) a capacity over INT64_MAX and a buffer over
         * PTRDIFF_MAX / 2 bytes, where GMP_ENOMEM would do as well. */
        int huge = !bad && ((es && cp > (size_t)PTRDIFF_MAX / 2 / es) || cp > INT64_MAX);
        gmp_chan *ch = NULL;
        long long rc = CK(gmp_chan_make(&ch, es, cp),
                          bad ? A_EINVAL : A_ZERO | A_ENOMEM | (huge ? A_EINVAL : 0));
        if (rc == 0) {
            REQUIRE(ch != NULL);
            a->priv[k] = ch;
            a->priv_esz[k] = es;
        }
        break;
    }
    case 9: /* make with NULL out */
        CK(gmp_chan_make(NULL, 8, 1), A_EINVAL);
        CK(gmp_chan_make_ex(NULL, 8, 1, NULL, NULL), A_EINVAL);
        break;
    case 10: { /* retain / release a shared channel */
        gmp_chan *ch = w->ch[next(s) % NSHARED];
        REQUIRE(gmp_chan_retain(ch) == ch);
        gmp_chan_release(ch);
        REQUIRE(gmp_chan_retain(NULL) == NULL);
        gmp_chan_release(NULL);
        break;
    }
    case 11: { /* gmp_after */
        gmp_chan *t = NULL;
        int64_t ns = timeout(s);
        CK(gmp_after(&t, ns), A_ZERO);
        int64_t v = 0;
        long long rc = CK(gmp_chan_recv_timeout(t, &v, ns + 200 * US),
                          A_ZERO | A_ETIMEDOUT | c);
        if (rc == 0) REQUIRE(v > 0);
        gmp_chan_release(t);
        CK(gmp_after(NULL, ns), A_EINVAL);
        break;
    }
    case 12: { /* tickers */
        gmp_chan *t = NULL;
        uint8_t b = next(s);
        int64_t period = (b & 3) == 0 ? 0 : (b & 3) == 1 ? -5 : 50 * US;
        long long rc = CK(gmp_ticker(&t, period), period <= 0 ? A_EINVAL : A_ZERO);
        if (rc == 0) {
            int64_t v = 0;
            CK(gmp_chan_recv_timeout(t, &v, timeout(s)), A_ZERO | A_EAGAIN | A_ETIMEDOUT | c);
            CK(gmp_ticker_stop(t), A_ZERO);
            gmp_chan_release(t);
        }
        CK(gmp_ticker_stop(w->ch[b % NSHARED]), A_EINVAL);
        CK(gmp_ticker_stop(NULL), A_EINVAL);
        break;
    }
    case 13: { /* shared mutex: trylock */
        int k = next(s) & 1;
        long long rc = CK(gmp_mutex_trylock(&w->mu[k]), a->held[k] ? A_EAGAIN : A_ZERO | A_EAGAIN);
        if (rc == 0) a->held[k] = 1;
        break;
    }
    case 14: { /* shared mutex: lock, only when holding nothing */
        int k = next(s) & 1;
        if (holds_any(a)) break;
        long long rc = CK(gmp_mutex_lock(&w->mu[k]), A_ZERO | c);
        if (rc == 0) a->held[k] = 1;
        break;
    }
    case 15: { /* shared mutex: unlock what we hold */
        int k = next(s) & 1;
        if (a->held[k]) {
            CK(gmp_mutex_unlock(&w->mu[k]), A_ZERO);
            a->held[k] = 0;
        }
        break;
    }
    case 16: /* private mutex: exact state machine, misuse included */
        switch (next(s) % 4) {
        case 0:
            CK(gmp_mutex_unlock(&a->pmu), a->pmu_locked ? A_ZERO : A_EINVAL);
            a->pmu_locked = 0;
            break;
        case 1:
            CK(gmp_mutex_trylock(&a->pmu), a->pmu_locked ? A_EAGAIN : A_ZERO);
            a->pmu_locked = 1;
            break;
        case 2:
            if (!a->pmu_locked) {
                CK(gmp_mutex_lock(&a->pmu), A_ZERO);
                a->pmu_locked = 1;
            }
            break;
        case 3:
            CK(gmp_mutex_lock(NULL), A_EINVAL);
            CK(gmp_mutex_trylock(NULL), A_EINVAL);
            CK(gmp_mutex_unlock(NULL), A_EINVAL);
            break;
        }
        break;
    case 17: /* shared rwmutex */
        switch (next(s) % 6) {
        case 0:
            if (!a->wheld) {
                long long rc = CK(gmp_rwmutex_tryrlock(&w->rw), A_ZERO | A_EAGAIN);
                if (rc == 0) a->rheld++;
            }
            break;
        case 1:
            if (!holds_any(a) && CK(gmp_rwmutex_rlock(&w->rw), A_ZERO | c) == 0) a->rheld++;
            break;
        case 2:
            if (a->rheld) {
                CK(gmp_rwmutex_runlock(&w->rw), A_ZERO);
                a->rheld--;
            }
            break;
        case 3:
            if (!a->wheld && !a->rheld &&
                CK(gmp_rwmutex_trylock(&w->rw), A_ZERO | A_EAGAIN) == 0)
                a->wheld = 1;
            break;
        case 4:
            if (!holds_any(a) && CK(gmp_rwmutex_lock(&w->rw), A_ZERO | c) == 0) a->wheld = 1;
            break;
        case 5:
            if (a->wheld) {
                CK(gmp_rwmutex_unlock(&w->rw), A_ZERO);
                a->wheld = 0;
            }
            break;
        }
        break;
    case 18: /* private rwmutex misuse */
        switch (next(s) % 5) {
        case 0:
            CK(gmp_rwmutex_runlock(&a->prw), a->prw_r ? A_ZERO : A_EINVAL);
            if (a->prw_r) a->prw_r--;
            break;
        case 1:
            CK(gmp_rwmutex_unlock(&a->prw), a->prw_w ? A_ZERO : A_EINVAL);
            a->prw_w = 0;
            break;
        case 2:
            if (CK(gmp_rwmutex_tryrlock(&a->prw), a->prw_w ? A_EAGAIN : A_ZERO) == 0) a->prw_r++;
            break;
        case 3:
            if (CK(gmp_rwmutex_trylock(&a->prw), a->prw_w || a->prw_r ? A_EAGAIN : A_ZERO) == 0)
                a->prw_w = 1;
            break;
        case 4:
            CK(gmp_rwmutex_rlock(NULL), A_EINVAL);
            CK(gmp_rwmutex_lock(NULL), A_EINVAL);
            CK(gmp_rwmutex_runlock(NULL), A_EINVAL);
            CK(gmp_rwmutex_unlock(NULL), A_EINVAL);
            CK(gmp_rwmutex_tryrlock(NULL), A_EINVAL);
            CK(gmp_rwmutex_trylock(NULL), A_EINVAL);
            break;
        }
        break;
    case 19: { /* private waitgroup: negative counts are GMP_EINVAL */
        uint8_t b = next(s);
        int64_t delta = (int64_t)(int8_t)next(s);
        switch (b % 4) {
        case 0:
            CK(gmp_waitgroup_add(&a->pwg, delta), a->pwg_count + delta < 0 ? A_EINVAL : A_ZERO);
            if (a->pwg_count + delta >= 0) a->pwg_count += delta;
            break;
        case 1:
            CK(gmp_waitgroup_done(&a->pwg), a->pwg_count > 0 ? A_ZERO : A_EINVAL);
            if (a->pwg_count > 0) a->pwg_count--;
            break;
        case 2:
            if (a->pwg_count == 0) CK(gmp_waitgroup_wait(&a->pwg), A_ZERO | c);
            break;
        case 3:
            CK(gmp_waitgroup_add(NULL, 1), A_EINVAL);
            CK(gmp_waitgroup_done(NULL), A_EINVAL);
            CK(gmp_waitgroup_wait(NULL), A_EINVAL);
            CK(gmp_waitgroup_add(&a->pwg, INT64_MIN), A_EINVAL);
            break;
        }
        break;
    }
    case 20: /* once */
        atomic_fetch_add(&w->once_calls, 1);
        CK(gmp_once_do(&w->once, once_fn, w), A_ZERO | c);
        if (atomic_load(&w->once_runs) != 1) FAIL("once ran %d times", atomic_load(&w->once_runs));
        CK(gmp_once_do(&w->once, NULL, NULL), A_EINVAL);
        CK(gmp_once_do(NULL, once_fn, w), A_EINVAL);
        break;
    case 21: { /* private cond: wait with and without the mutex */
        int64_t t = timeout(s);
        if (t == 0) t = 10 * US;
        if (!a->pmu_locked) {
            CK(gmp_cond_wait_timeout(&a->pcond, &a->pmu, t), A_EINVAL);
        } else {
            CK(gmp_cond_wait_timeout(&a->pcond, &a->pmu, t), A_ETIMEDOUT | A_ZERO | c);
            /* relocked in every case */
            CK(gmp_mutex_trylock(&a->pmu), A_EAGAIN);
        }
        CK(gmp_cond_signal(&a->pcond), A_ZERO);
        CK(gmp_cond_broadcast(&a->pcond), A_ZERO);
        CK(gmp_cond_wait_timeout(NULL, &a->pmu, t), A_EINVAL);
        CK(gmp_cond_wait_timeout(&a->pcond, NULL, t), A_EINVAL);
        CK(gmp_cond_signal(NULL), A_EINVAL);
        CK(gmp_cond_broadcast(NULL), A_EINVAL);
        break;
    }
    case 22: { /* shared cond, under its mutex (taken only when holding nothing) */
        if (holds_any(a)) break;
        if (CK(gmp_mutex_lock(&w->cond_mu), A_ZERO | c) != 0) break;
        int64_t t = timeout(s);
        if (t == 0) t = 10 * US;
        CK(gmp_cond_wait_timeout(&w->cond, &w->cond_mu, t), A_ZERO | A_ETIMEDOUT | c);
        CK(gmp_mutex_unlock(&w->cond_mu), A_ZERO);
        break;
    }
    case 23:
        CK(next(s) & 1 ? gmp_cond_signal(&w->cond) : gmp_cond_broadcast(&w->cond), A_ZERO);
        break;
    case 24: { /* sleep */
        int64_t t = timeout(s);
        if (next(s) & 1) t = -t;
        CK(gmp_sleep(t), A_ZERO | c);
        break;
    }
    case 25:
        gmp_gosched();
        gmp_preempt_point();
        if (a->goroutine && !a->in_home) REQUIRE(gmp_self() > 0);
        if (!a->goroutine) REQUIRE(gmp_self() == 0);
        break;
    case 26: { /* socket write */
        uint8_t n = (uint8_t)(next(s) % 64 + 1);
        memset(buf, SFILL, sizeof buf);
        int64_t t = timeout(s);
        long long rc = gmp_write(w->sock[0], buf, n, t);
        if (!(rc == n || (rc >= 0 && rc < n) || allowed(rc, A_EAGAIN | A_ETIMEDOUT | c)))
            FAIL("gmp_write(%u) returned %lld (%s)", n, rc, gmp_strerror((int)rc));
        break;
    }
    case 27: { /* socket read */
        int64_t t = timeout(s);
        memset(buf, 0, sizeof buf);
        long long rc = gmp_read(w->sock[1], buf, 64, t);
        if (rc > 0) {
            if (rc > 64) FAIL("gmp_read returned %lld of 64", rc);
            for (long long i = 0; i < rc; i++)
                if (buf[i] != SFILL) FAIL("socket byte %lld = %#x", i, buf[i]);
        } else if (!allowed(rc, A_EAGAIN | A_ETIMEDOUT | c)) {
            FAIL("gmp_read returned %lld (%s)", rc, gmp_strerror((int)rc));
        }
        break;
    }
    case 28: { /* wait_fd */
        int64_t t = timeout(s);
        uint8_t b = next(s);
        int ev = (b & 1 ? GMP_POLLIN : 0) | (b & 2 ? GMP_POLLOUT : 0);
        long long rc = gmp_wait_fd(w->sock[b & 4 ? 0 : 1], ev, t);
        if (rc > 0) {
            if (rc & ~(GMP_POLLIN | GMP_POLLOUT | GMP_POLLERR | GMP_POLLHUP))
                FAIL("gmp_wait_fd mask %#llx", rc);
        } else if (!allowed(rc, A_EAGAIN | A_ETIMEDOUT | A_EINVAL | c | (ev ? 0 : A_ZERO))) {
            FAIL("gmp_wait_fd(%d) returned %lld (%s)", ev, rc, gmp_strerror((int)rc));
        }
        break;
    }
    case 29: { /* descriptors that are not open: -EBADF (or GMP_EINVAL for negative) */
        int fd = next(s) & 1 ? -1 : (1 << 20) + next(s);
        unsigned bad = A_EBADF | A_EINVAL;
        CK(gmp_read(fd, buf, 8, 0), bad);
        CK(gmp_write(fd, buf, 8, 0), bad);
        CK(gmp_recv(fd, buf, 8, 0, 0), bad);
        CK(gmp_send(fd, buf, 8, 0, 0), bad);
        CK(gmp_wait_fd(fd, GMP_POLLIN, 0), bad);
        CK(gmp_accept(fd, NULL, NULL, 0), bad);
        CK(gmp_close_fd(fd), bad);
        CK(gmp_fd_adopt(fd), bad);
        break;
    }
    case 30: { /* gmp_blocking */
        atomic_int x = 0;
        CK(gmp_blocking(blocking_fn, &x), A_ZERO);
        REQUIRE(atomic_load(&x) == 1);
        CK(gmp_blocking(NULL, NULL), A_EINVAL);
        break;
    }
    case 31: { /* a nested goroutine running the next bytes */
        size_t len = next(s) % 32;
        if (len > s->n - s->i) len = s->n - s->i;
        if (a->depth < 2 && atomic_fetch_add(&w->spawned, 1) < 8) {
            actor *b = new_actor(w, s->p + s->i, len, 1, a->depth + 1);
            CK(gmp_waitgroup_add(&w->actors, 1), A_ZERO);
            CK(gmp_go(goroutine_actor, b), A_ZERO);
        }
        s->i += len;
        break;
    }
    case 32: { /* spawn misuse */
        CK(gmp_go(NULL, NULL), A_EINVAL);
        gmp_go_attr at;
        memset(&at, 0, sizeof at);
        at.size = 3;
        CK(gmp_go_ex(&at, must_not_run, NULL, NULL), A_EINVAL);
        struct {
            gmp_go_attr a;
            uint64_t extra;
        } big;
        memset(&big, 0, sizeof big);
        big.a.size = sizeof big;
        big.extra = 1;
        CK(gmp_go_ex(&big.a, must_not_run, NULL, NULL), A_E2BIG);
        at.size = sizeof at;
        at.stack_size = (size_t)1 << 31;
        CK(gmp_go_ex(&at, must_not_run, NULL, NULL), A_EINVAL);
        CK(gmp_go_ex(NULL, NULL, NULL, NULL), A_EINVAL);
        break;
    }
    case 33: { /* diagnostics */
        gmp_stats st;
        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        CK(gmp_read_stats(&st), A_ZERO);
        REQUIRE(st.size == sizeof st && st.maxprocs >= 1 && st.goroutines >= 0);
        st.size = 4;
        CK(gmp_read_stats(&st), A_EINVAL);
        CK(gmp_read_stats(NULL), A_EINVAL);
        REQUIRE(gmp_num_goroutine() >= 0);
        int32_t code = (int32_t)((uint32_t)next(s) << 24 | (uint32_t)next(s) << 8 | next(s));
        const char *e = gmp_strerror(code);
        REQUIRE(e && e[0]);
        REQUIRE(gmp_now() > 0);
        break;
    }
    case 34: /* thread locking (nests) */
        if (next(s) & 1) {
            CK(gmp_lock_os_thread(), A_ZERO);
            a->os_locked++;
        } else {
            CK(gmp_unlock_os_thread(), A_ZERO);
            if (a->os_locked) a->os_locked--;
        }
        break;
    case 35:
        CK(gmp_set_name(next(s) & 1 ? "fuzz" : NULL),
           a->goroutine ? A_ZERO | A_EINVAL : A_ENOTGOROUTINE | A_EINVAL);
        if (a->goroutine) CK(gmp_main(must_not_run, NULL), A_EALREADY);
        break;
    case 36: /* maxprocs: query, or set 1..3 (restored at the end of the input) */
        if (next(s) & 1) {
            REQUIRE(gmp_maxprocs(0) >= 1);
        } else {
            REQUIRE(gmp_maxprocs(1 + next(s) % 3) >= 1);
            atomic_store(&w->maxprocs_set, 1);
        }
        break;
    case 37:
        if (!a->goroutine && !no_home) home_op(a, s);
        break;
    case 38: /* syscall sections */
        gmp_syscall_enter();
        gmp_syscall_exit();
        gmp_syscall_exit(); /* unbalanced: a no-op */
        break;
    case 39: /* init after start */
        CK(gmp_init(NULL), A_EALREADY);
        CK(gmp_main(NULL, NULL), A_EINVAL | A_EALREADY);
        break;
    }
}

static void run_actor(actor *a) {
    for (int n = 0; n < 96 && a->s.i < a->s.n; n++) op(a);
    /* Give back everything. */
    for (int k = 0; k < 2; k++)
        if (a->held[k]) CK(gmp_mutex_unlock(&a->w->mu[k]), A_ZERO);
    while (a->rheld--) CK(gmp_rwmutex_runlock(&a->w->rw), A_ZERO);
    if (a->wheld) CK(gmp_rwmutex_unlock(&a->w->rw), A_ZERO);
    if (a->pmu_locked) CK(gmp_mutex_unlock(&a->pmu), A_ZERO);
    CK(gmp_mutex_unlock(&a->pmu), A_EINVAL);
    while (a->prw_r--) CK(gmp_rwmutex_runlock(&a->prw), A_ZERO);
    if (a->prw_w) CK(gmp_rwmutex_unlock(&a->prw), A_ZERO);
    if (a->pwg_count) CK(gmp_waitgroup_add(&a->pwg, -a->pwg_count), A_ZERO);
    CK(gmp_waitgroup_wait(&a->pwg), A_ZERO);
    for (int k = 0; k < 2; k++)
        if (a->priv[k]) gmp_chan_release(a->priv[k]);
    while (a->os_locked--) CK(gmp_unlock_os_thread(), A_ZERO);
    home_finish(a);
}

/* ---- one input --------------------------------------------------------------------- */

static int initial_maxprocs;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    gmp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.size = sizeof cfg;
    cfg.maxprocs = 2;
    if (gmp_init(&cfg) != 0) FAIL("gmp_init");
    initial_maxprocs = gmp_maxprocs(0);
    const char *nh = getenv("GMP_FUZZ_NO_HOME");
    no_home = nh && strcmp(nh, "0") != 0;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    world *w = calloc(1, sizeof *w);
    REQUIRE(w);
    static const size_t esz[NSHARED] = {8, 0, 1, 64};
    stream hdr = {data, size, 0};
    uint8_t h = next(&hdr);
    for (int k = 0; k < NSHARED; k++) {
        static const size_t caps[4] = {0, 1, 4, 64};
        w->esz[k] = esz[k];
        w->cap[k] = caps[(h >> (2 * k)) & 3];
        CK(gmp_chan_make(&w->ch[k], w->esz[k], w->cap[k]), A_ZERO);
    }
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, w->sock) == 0);
    uint8_t mix = next(&hdr);
    int ngo = mix % 4, nth = (mix >> 2) % 3;
    if (ngo + nth == 0) ngo = 1;
    int nact = ngo + nth;
    /* Split the rest into chunks, dealt to the actors in turn. */
    const uint8_t *rest = data + hdr.i;
    size_t nrest = size - hdr.i;
    size_t share = nrest / (size_t)nact;
    pthread_t th[2];
    CK(gmp_waitgroup_add(&w->actors, ngo), A_ZERO);
    for (int i = 0; i < nact; i++) {
        size_t len = i == nact - 1 ? nrest - share * (size_t)i : share;
        actor *a = new_actor(w, rest + share * (size_t)i, len, i < ngo, 0);
        if (i < ngo) {
            CK(gmp_go(goroutine_actor, a), A_ZERO);
        } else {
            REQUIRE(pthread_create(&th[i - ngo], NULL, thread_actor, a) == 0);
        }
    }
    for (int i = 0; i < nth; i++) {
        void *r;
        REQUIRE(pthread_join(th[i], &r) == 0);
    }
    CK(gmp_waitgroup_wait(&w->actors), A_ZERO);
    /* Everything was given back. */
    for (int k = 0; k < 2; k++) {
        CK(gmp_mutex_trylock(&w->mu[k]), A_ZERO);
        CK(gmp_mutex_unlock(&w->mu[k]), A_ZERO);
    }
    CK(gmp_rwmutex_trylock(&w->rw), A_ZERO);
    CK(gmp_rwmutex_unlock(&w->rw), A_ZERO);
    CK(gmp_mutex_trylock(&w->cond_mu), A_ZERO);
    CK(gmp_mutex_unlock(&w->cond_mu), A_ZERO);
    if (atomic_load(&w->once_runs) > 1) FAIL("once ran %d times", atomic_load(&w->once_runs));
    if (atomic_load(&w->once_calls) > 0 && atomic_load(&w->once_runs) != 1) FAIL("once never ran");
    for (int k = 0; k < NSHARED; k++) {
        CK(gmp_chan_close(w->ch[k]), A_ZERO | A_ECLOSED);
        CK(gmp_chan_close(w->ch[k]), A_ECLOSED);
        uint8_t buf[MAXELEM];
        for (;;) { /* drain: values, then GMP_ECLOSED */
            long long rc = CK(gmp_chan_recv_timeout(w->ch[k], buf, 0), A_ZERO | A_ECLOSED);
            check_elem(buf, w->esz[k], rc);
            if (rc == GMP_ECLOSED) break;
        }
        CK(gmp_chan_send_timeout(w->ch[k], buf, 0), A_ECLOSED);
        gmp_chan_release(w->ch[k]);
    }
    CK(gmp_close_fd(w->sock[0]), A_ZERO);
    CK(gmp_close_fd(w->sock[1]), A_ZERO);
    if (atomic_load(&w->maxprocs_set)) gmp_maxprocs(initial_maxprocs);
    free(w);
    return 0;
}

/* The per-goroutine part of a CPython PyThreadState (3.11, 3.12 and 3.13, GIL builds),
 * saved and restored at every park and resume of a Python goroutine.
 *
 * Many Python goroutines share one home thread and its one PyThreadState. CPython keeps
 * the running frame chain, the recursion counters, the frame data stack, the handled
 * exception and the contextvars context in that thread state, so each goroutine carries
 * its own copy of those fields: `on_park` moves them from the thread state into the
 * goroutine's `gmpy_g` and puts back the home loop's own ("base") values; `on_resume`
 * does the reverse. Fields not listed are per thread for every goroutine of a home:
 * `threading.local` (dict), trace/profile functions and `tracing`/`what_event`,
 * gilstate_counter, async_exc, 3.13's eval_breaker and _status.
 *
 * Each version's list was audited against that version's Include/cpython/pystate.h and
 * against greenlet's TPythonState.cpp (which swaps the same fields for its greenlets; we
 * follow it except where said). 3.11's list was shown necessary field by field
 * (PYTHON.md); the 3.12 and 3.13 lists are the same state at its new places.
 *
 * 3.11
 * | field                                   | left out, this broke (PYTHON.md)         |
 * |-----------------------------------------|------------------------------------------|
 * | cframe, cframe->current_frame           | segfaults; tracebacks of other frames    |
 * | cframe->use_tracing (carried over)      | tracing is per thread: keep it going     |
 * | recursion depth (limit - remaining)     | spurious RecursionError                  |
 * | datastack_chunk/top/limit               | silent corruption, segfault              |
 * | exc_info (NULL for &exc_state), exc_state | wrong sys.exc_info(); generator crashes |
 * | context (owned), context_ver++          | ContextVar values leak between goroutines|
 * | trash_delete_nesting                    | nested garbage not freed promptly        |
 * | curexc_type/value/traceback             | (belt and braces: none in flight at a switch) |
 *
 * 3.12 (frames still chained through a _PyCFrame, which lost use_tracing: tracing is
 * sys.monitoring's instrumentation, per interpreter)
 * | cframe, cframe->current_frame           | as 3.11                                   |
 * | Python depth (py_recursion_limit - py_recursion_remaining), restored against the
 * |   limit in force (sys.setrecursionlimit rewrites every thread's pair)              |
 * | c_recursion_remaining (raw: its limit C_RECURSION_LIMIT is a constant); a new
 * |   goroutine starts with the budget its C stack holds (gmpy_g_init), never more than
 * |   the constant, so deep C recursion raises RecursionError before the guard page  |
 * | datastack_chunk/top/limit, exc_info/exc_state, context + context_ver++  | as 3.11 |
 * | trash.delete_nesting (moved into struct _py_trashcan); trash.delete_later is not
 * |   swapped (as greenlet): a shared list of dead objects any goroutine may free     |
 * | current_exception (replaced curexc_*)   | belt and braces                           |
 *
 * 3.13 (no _PyCFrame: the frame chain hangs off the thread state itself)
 * | current_frame                           | as cframe->current_frame                  |
 * | Python depth, c_recursion_remaining     | as 3.12 (Py_C_RECURSION_LIMIT)            |
 * | datastack_*, exc_info/exc_state, context + context_ver++, current_exception | as 3.12 |
 * | delete_later (the trashcan now nests on c_recursion_remaining, so its pending list
 * |   follows the goroutine, as greenlet does; a plain pointer: its objects have no
 * |   references, unlike greenlet we take none; a goroutine that ends with a pending
 * |   list frees it before it goes)                                                  |
 * | critical_section (0 on GIL builds; swapped as greenlet does)                       |
 * previous_executor (the tier-2 optimizer, off by default in 3.13) is not swapped.
 *
 * Outside 3.11-3.13, or on a free-threaded build, this file does not compile (#error):
 * another version needs its own audit (3.14 checks C-stack bounds and adds
 * current_executor).
 */
#define Py_BUILD_CORE_MODULE 1
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030E0000
#error "gmp supports CPython 3.11, 3.12 and 3.13 only: its per-goroutine thread-state swap (csrc/pystate.c) has not been audited for this version"
#endif
#ifdef Py_GIL_DISABLED
#error "gmp supports the default (GIL) builds of CPython only, not free-threaded ones"
#endif

#include <internal/pycore_frame.h>
#include <internal/pycore_code.h>
#include <internal/pycore_ceval.h>
#include <internal/pycore_interp.h>
#if PY_VERSION_HEX >= 0x030D0000
#include <opcode_ids.h>
#elif PY_VERSION_HEX >= 0x030C0000
#include <opcode.h>
#endif
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define GMPY_PY312 (PY_VERSION_HEX >= 0x030C0000)
#define GMPY_PY313 (PY_VERSION_HEX >= 0x030D0000)

#if GMPY_PY313
#define GMPY_C_LIMIT Py_C_RECURSION_LIMIT
#elif GMPY_PY312
#define GMPY_C_LIMIT C_RECURSION_LIMIT
#endif

/* CPython's DATA_STACK_CHUNK_SIZE (Python/pystate.c): what it allocates when a frame
 * does not fit the current chunk. */
#define CHUNK_SIZE (16 * 1024)
/* A goroutine's root data-stack chunk lives in gmpy_run's frame, at the top of its own C
 * stack: a parked goroutine's few Python frames then share the stack's first page with
 * its C frames, instead of costing a 16 KiB chunk of its own (one more resident page
 * each; measured: 11.6 -> 7.6 KiB per parked goroutine, 3.11). Deeper calls spill into
 * CPython's 16 KiB chunks, which the arena cache below keeps cheap. */
#define ROOT_CHUNK_BYTES 768
/* 16 KiB chunks kept for reuse (their resident pages stay: at most 1 MiB). */
#define CHUNK_CACHE 64

typedef struct gmpy_state {
#if !GMPY_PY313
    _PyCFrame *cframe;
#endif
    struct _PyInterpreterFrame *current_frame;
    int py_depth;               /* Python recursion depth */
#if GMPY_PY312
    int c_remaining;            /* c_recursion_remaining, raw */
#endif
#if GMPY_PY313
    PyObject *delete_later;     /* borrowed: dead objects awaiting the trashcan */
    uintptr_t critical_section;
#else
    int trash_delete_nesting;
#endif
    _PyStackChunk *datastack_chunk;
    PyObject **datastack_top;
    PyObject **datastack_limit;
    _PyErr_StackItem *exc_info; /* NULL: the thread's own &tstate->exc_state */
    _PyErr_StackItem exc_state;
    PyObject *context;          /* owned */
#if GMPY_PY312
    PyObject *current_exception; /* owned */
#else
    PyObject *curexc_type, *curexc_value, *curexc_traceback; /* owned */
#endif
} gmpy_state;

typedef struct gmpy_g gmpy_g;

typedef struct gmpy_home {
    PyThreadState *ts;  /* the home thread's one thread state */
    gmpy_g *cur;        /* the goroutine whose state is in ts, or NULL (read racily by
                         * the preemption watchdog: atomic stores) */
    uint64_t epoch;     /* bumped at each start and resume of a goroutine (atomic) */
    uint64_t want;      /* the epoch a preemption was asked for, 0: none (atomic) */
#if !GMPY_PY312
    Py_tracefunc user_trace;   /* 3.11: the trace function ours stands in for */
    PyObject *user_traceobj;   /* owned while armed */
    int armed;
#endif
    gmpy_state base;    /* the home loop's values while a goroutine runs */
} gmpy_home;

struct gmpy_g {
    gmpy_home *home;
    gmpy_state saved;   /* valid while the goroutine is parked */
    int budget;         /* 3.11: the Python depth its C stack holds (a cap on the limit);
                         * 3.12+: the c_recursion_remaining it starts with */
    PyObject *context;  /* owned: the contextvars context it starts in, or NULL */
    int took_gil;       /* parked without the GIL: on_park took it for the others */
    int running;        /* between the start and the end of gmpy_run */
    int on_cpu;         /* its state is in the thread state, not in `saved` */
};

/* The storage home.rs's Task keeps for a gmpy_g (its G_STORAGE). */
#define GMPY_G_STORAGE 160
_Static_assert(sizeof(struct gmpy_g) <= GMPY_G_STORAGE,
               "struct gmpy_g outgrew Task::g: raise G_STORAGE in src/home.rs and here");

size_t gmpy_g_size(void) { return sizeof(gmpy_g); }

/* ---- exit guard ----
 * Once the interpreter finalizes, CPython ends any other thread that asks for the GIL
 * with pthread_exit(), a forced unwind of its stack. That unwind cannot pass Rust frames
 * (they abort on a foreign unwind) nor leave a goroutine's stack. So every place where
 * this extension's threads may wait for the GIL (calls into Python from a goroutine or
 * a runtime thread, PyGILState_Ensure, PyEval_RestoreThread) is a C frame holding a
 * guard variable whose cleanup runs during that unwind (this file is compiled with
 * -fexceptions) and parks the thread for good: the daemon-thread ending CPython meant,
 * without the unwind. On a normal return the guard is disarmed first. */
static void park_forever(int *armed)
{
    if (!*armed)
        return;
    for (;;)
        sleep(3600);
}
#define EXIT_GUARD int exit_guard_ __attribute__((cleanup(park_forever))) = 1
#define EXIT_GUARD_OFF (exit_guard_ = 0)

/* PyObject_Call, guarded (above). GIL held. */
PyObject *gmpy_call(PyObject *callable, PyObject *args, PyObject *kwargs)
{
    EXIT_GUARD;
    PyObject *r = PyObject_Call(callable, args, kwargs);
    EXIT_GUARD_OFF;
    return r;
}

/* PyGILState_Ensure, guarded. */
int gmpy_gil_ensure(void)
{
    EXIT_GUARD;
    int s = (int)PyGILState_Ensure();
    EXIT_GUARD_OFF;
    return s;
}

/* PyEval_RestoreThread, guarded. */
void gmpy_restore_thread(PyThreadState *ts)
{
    EXIT_GUARD;
    PyEval_RestoreThread(ts);
    EXIT_GUARD_OFF;
}

/* The frame chain's head: on 3.11 and 3.12 in the current _PyCFrame, on 3.13 in ts. */
#if GMPY_PY313
#define CUR_FRAME(ts) ((ts)->current_frame)
#else
#define CUR_FRAME(ts) ((ts)->cframe->current_frame)
#endif

#if !GMPY_PY312
/* 3.11: the limit a goroutine's depth counts against, capped at what its stack holds
 * (cap 0: the home loop's own state, no cap). */
static int eff_limit(PyThreadState *ts, int cap)
{
    return cap > 0 && cap < ts->recursion_limit ? cap : ts->recursion_limit;
}
#endif

static void save(PyThreadState *ts, gmpy_state *s, int cap)
{
#if !GMPY_PY313
    s->cframe = ts->cframe;
#endif
    s->current_frame = CUR_FRAME(ts);
#if GMPY_PY312
    s->py_depth = ts->py_recursion_limit - ts->py_recursion_remaining;
    s->c_remaining = ts->c_recursion_remaining;
#else
    s->py_depth = eff_limit(ts, cap) - ts->recursion_remaining;
    /* A limit changed from another thread while this goroutine ran without the GIL
     * moved remaining past the cap: count that as depth 0, never less. */
    if (s->py_depth < 0)
        s->py_depth = 0;
#endif
    (void)cap;
#if GMPY_PY313
    s->delete_later = ts->delete_later;
    s->critical_section = ts->critical_section;
    ts->delete_later = NULL;
#elif GMPY_PY312
    s->trash_delete_nesting = ts->trash.delete_nesting;
#else
    s->trash_delete_nesting = ts->trash_delete_nesting;
#endif
    s->datastack_chunk = ts->datastack_chunk;
    s->datastack_top = ts->datastack_top;
    s->datastack_limit = ts->datastack_limit;
    s->exc_info = ts->exc_info == &ts->exc_state ? NULL : ts->exc_info;
    s->exc_state = ts->exc_state;
    s->context = ts->context;
#if GMPY_PY312
    s->current_exception = ts->current_exception;
    ts->current_exception = NULL;
#else
    s->curexc_type = ts->curexc_type;
    s->curexc_value = ts->curexc_value;
    s->curexc_traceback = ts->curexc_traceback;
    ts->curexc_type = ts->curexc_value = ts->curexc_traceback = NULL;
#endif
    /* The references moved into s. */
    ts->context = NULL;
    ts->exc_state.exc_value = NULL;
}

static void restore(PyThreadState *ts, gmpy_state *s, int cap)
{
    (void)cap;
#if GMPY_PY312
    /* 3.12's _PyCFrame has no use_tracing (3.13 has no _PyCFrame). */
#if !GMPY_PY313
    ts->cframe = s->cframe;
#endif
    CUR_FRAME(ts) = s->current_frame;
    ts->py_recursion_remaining = ts->py_recursion_limit - s->py_depth;
    ts->c_recursion_remaining = s->c_remaining;
#else
    /* Tracing belongs to the thread: carry the flag over to the new cframe. */
    uint8_t use_tracing = ts->cframe->use_tracing;
    ts->cframe = s->cframe;
    ts->cframe->use_tracing = use_tracing;
    ts->cframe->current_frame = s->current_frame;
    ts->recursion_remaining = eff_limit(ts, cap) - s->py_depth;
#endif
#if GMPY_PY313
    ts->delete_later = s->delete_later;
    ts->critical_section = s->critical_section;
    s->delete_later = NULL;
#elif GMPY_PY312
    ts->trash.delete_nesting = s->trash_delete_nesting;
#else
    ts->trash_delete_nesting = s->trash_delete_nesting;
#endif
    ts->datastack_chunk = s->datastack_chunk;
    ts->datastack_top = s->datastack_top;
    ts->datastack_limit = s->datastack_limit;
    ts->exc_info = s->exc_info ? s->exc_info : &ts->exc_state;
    ts->exc_state = s->exc_state;
    ts->context = s->context;
    /* Invalidates the ContextVar caches, which key on (context, version). */
    ts->context_ver++;
#if GMPY_PY312
    ts->current_exception = s->current_exception;
    s->current_exception = NULL;
#else
    ts->curexc_type = s->curexc_type;
    ts->curexc_value = s->curexc_value;
    ts->curexc_traceback = s->curexc_traceback;
    s->curexc_type = s->curexc_value = s->curexc_traceback = NULL;
#endif
    s->context = NULL;
    s->exc_state.exc_value = NULL;
}

static void install_arena_cache(void);

/* The home thread calls this once, holding the GIL, with its own thread state. */
gmpy_home *gmpy_home_new(PyThreadState *ts)
{
    install_arena_cache();
    gmpy_home *h = PyMem_RawCalloc(1, sizeof(gmpy_home));
    if (h)
        h->ts = ts;
    return h;
}

static __thread gmpy_home *tl_home; /* the home this thread runs, if any */

/* On the home thread, before its goroutines run. */
void gmpy_home_set_ts(gmpy_home *h, PyThreadState *ts)
{
    h->ts = ts;
    tl_home = h;
}

#define SET_CUR(h, g) __atomic_store_n(&(h)->cur, (g), __ATOMIC_RELAXED)
#define BUMP_EPOCH(h) \
    __atomic_store_n(&(h)->epoch, __atomic_load_n(&(h)->epoch, __ATOMIC_RELAXED) + 1, \
                     __ATOMIC_RELAXED)

/* The goroutine whose state is in the home's thread state (running), or NULL. */
gmpy_g *gmpy_home_cur(gmpy_home *h) { return h->cur; }

/* stack_size: the goroutine's C stack in bytes. On 3.12 and 3.13, CPython counts C-level
 * recursion (c_recursion_remaining) against a constant made for an 8 MiB thread stack;
 * a goroutine starts with the share of it that its own stack holds, so deep recursion
 * through C raises RecursionError before it reaches the guard page. */
void gmpy_g_init(gmpy_g *g, gmpy_home *home, size_t stack_size)
{
    memset(g, 0, sizeof(*g));
    g->home = home;
    /* Keep 64 KiB back for whatever runs at the bottom (error reporting, __del__). */
    size_t usable = stack_size > (128u << 10) ? stack_size - (64u << 10) : stack_size / 2;
#if GMPY_PY312
    /* C stack per counted level, measured on x86-64: recursion through map() costs about
     * 570-600 bytes a Python level on 3.12 and 3.13, which CPython counts as 2 levels;
     * list.sort's merge state makes a level cost about 5 KiB. Budget 1 KiB a level. */
    size_t levels = usable / 1024;
    if (levels > (size_t)GMPY_C_LIMIT)
        levels = GMPY_C_LIMIT;
#else
    /* 3.11 counts only Python depth, C or not; recursion through C (map, repr) costs
     * 510-540 bytes a level, measured on x86-64. Budget 800 bytes: a 1 MiB stack holds
     * 1,228 levels, above the default limit, and the stack is sized from the limit in
     * force at the spawn; raising the limit inside a goroutine beyond what its stack
     * holds gives RecursionError at this cap instead of a stack overflow. */
    size_t levels = usable / 800;
    if (levels > (size_t)INT_MAX)
        levels = INT_MAX;
#endif
    g->budget = (int)levels;
}

/* 3.11: sys.setrecursionlimit on a goroutine of h. CPython reads the depth as
 * limit - remaining and moves every thread's remaining by new - old, so around that call
 * the goroutine's remaining is put back in those terms (capped = 0) and the cap applied
 * again afterwards (capped = 1). GIL held, on the home thread. 3.12+: nothing to do (C
 * levels have a budget of their own). */
void gmpy_home_recap(gmpy_home *h, int capped)
{
#if !GMPY_PY312
    gmpy_g *g = h->cur;
    if (g == NULL)
        return;
    PyThreadState *ts = h->ts;
    int eff = eff_limit(ts, g->budget);
    if (capped) {
        int depth = ts->recursion_limit - ts->recursion_remaining;
        ts->recursion_remaining = eff - depth;
    } else {
        int depth = eff - ts->recursion_remaining;
        ts->recursion_remaining = ts->recursion_limit - depth;
    }
#else
    (void)h;
    (void)capped;
#endif
}

/* The contextvars context g starts in (steals the reference): a copy of its spawner's,
 * as asyncio.create_task does. Called before gmpy_run, GIL held. */
void gmpy_g_set_context(gmpy_g *g, PyObject *context)
{
    Py_XSETREF(g->context, context);
}

/* A copy of the calling thread's contextvars context for a goroutine it spawns, or NULL
 * (no error) when that context is missing or empty: an empty copy is what a NULL
 * context becomes on first use, and skipping it saves an allocation (a GC-tracked
 * object) per spawn, most of a spawn's extra cost when measured. NULL with an
 * exception set on failure. GIL held. */
PyObject *gmpy_copy_context(void)
{
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (ts == NULL || ts->context == NULL)
        return NULL;
    Py_ssize_t n = PyObject_Length(ts->context);
    if (n == 0)
        return NULL;
    if (n < 0)
        PyErr_Clear();
    return PyContext_CopyCurrent();
}

/* Whether the calling thread holds the GIL with the home's thread state. */
static int holds_gil(PyThreadState *ts)
{
    return _PyThreadState_UncheckedGet() == ts;
}

/* gmp_switch_hooks.on_park: on the goroutine's stack, before a switch point. */
void gmpy_on_park(void *ctx)
{
    gmpy_g *g = ctx;
    gmpy_home *h = g->home;
    PyThreadState *ts = h->ts;
    if (!holds_gil(ts)) {
        /* Parked inside Py_BEGIN_ALLOW_THREADS (C code that released the GIL and then
         * called a blocking gmp function): the other goroutines of this home need the
         * GIL, so take it for them and give it back in on_resume. */
        gmpy_restore_thread(ts);
        g->took_gil = 1;
    }
    save(ts, &g->saved, g->budget);
    restore(ts, &h->base, 0);
    g->on_cpu = 0;
    SET_CUR(h, NULL);
}

/* gmp_switch_hooks.on_resume: on the goroutine's stack, after the switch point. */
void gmpy_on_resume(void *ctx)
{
    gmpy_g *g = ctx;
    gmpy_home *h = g->home;
    PyThreadState *ts = h->ts;
    save(ts, &h->base, 0);
    restore(ts, &g->saved, g->budget);
    g->on_cpu = 1;
    SET_CUR(h, g);
    BUMP_EPOCH(h);
    if (g->took_gil) {
        g->took_gil = 0;
        PyEval_SaveThread();
    }
}

/* ---- the arena cache ----
 * CPython allocates a 16 KiB data-stack chunk whenever a frame does not fit the current
 * one, and frees it as soon as the call returns below it (_PyThreadState_PopFrame), each
 * time through the object arena allocator (an mmap and a munmap). With small root chunks
 * (above) a goroutine whose calls go back and forth across that edge would pay that
 * every time, so 16 KiB blocks freed through the arena allocator are kept (up to
 * CHUNK_CACHE) and handed out again; every other size passes through. Installed once,
 * when the first home is made. The arena allocator is only used with the GIL held in GIL
 * builds (pymalloc's arenas, data-stack chunks); the lock is for safety, uncontended. */
static PyObjectArenaAllocator orig_arena;
static void *spare_chunks[CHUNK_CACHE];
static int nspare;
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;

static void *arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size == CHUNK_SIZE) {
        void *p = NULL;
        pthread_mutex_lock(&spare_lock);
        if (nspare > 0)
            p = spare_chunks[--nspare];
        pthread_mutex_unlock(&spare_lock);
        if (p != NULL)
            return p;
    }
    return orig_arena.alloc(orig_arena.ctx, size);
}

static void arena_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    if (size == CHUNK_SIZE && p != NULL) {
        pthread_mutex_lock(&spare_lock);
        if (nspare < CHUNK_CACHE) {
            spare_chunks[nspare++] = p;
            p = NULL;
        }
        pthread_mutex_unlock(&spare_lock);
        if (p == NULL)
            return;
    }
    orig_arena.free(orig_arena.ctx, p, size);
}

static void install_arena_cache(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    PyObject_GetArenaAllocator(&orig_arena);
    PyObjectArenaAllocator a = {NULL, arena_alloc, arena_free};
    PyObject_SetArenaAllocator(&a);
}

/* Runs body(arg) as a Python goroutine: called first thing on the goroutine's own stack
 * (gmp calls no hook before a goroutine first runs nor after it ends), with the GIL held
 * by the home thread. Installs a fresh per-goroutine state (its own _PyCFrame on this
 * stack, depth 0, a root data-stack chunk, no handled exception, the context that
 * gmpy_g_set_context gave it), runs body,
 * then frees that state and puts the home loop's values back. */
void gmpy_run(gmpy_g *g, void (*body)(void *), void *arg)
{
    gmpy_home *h = g->home;
    PyThreadState *ts = h->ts;
#if !GMPY_PY313
    _PyCFrame cframe;
#endif
#if !GMPY_PY312
    uint8_t use_tracing = ts->cframe->use_tracing;
#endif

    save(ts, &h->base, 0);
#if !GMPY_PY313
#if !GMPY_PY312
    cframe.use_tracing = use_tracing;
#endif
    cframe.current_frame = NULL;
    cframe.previous = &ts->root_cframe;
    ts->cframe = &cframe;
#else
    ts->current_frame = NULL;
#endif
#if GMPY_PY312
    ts->py_recursion_remaining = ts->py_recursion_limit;
    ts->c_recursion_remaining = g->budget;
#else
    ts->recursion_remaining = eff_limit(ts, g->budget);
#endif
#if GMPY_PY313
    ts->delete_later = NULL;
    ts->critical_section = 0;
#elif GMPY_PY312
    ts->trash.delete_nesting = 0;
#else
    ts->trash_delete_nesting = 0;
#endif
    /* The root chunk, in this frame (see ROOT_CHUNK_BYTES). */
    _Alignas(16) char root[ROOT_CHUNK_BYTES];
    _PyStackChunk *c = (_PyStackChunk *)root;
    c->previous = NULL;
    c->size = sizeof(root);
    c->top = 0;
    ts->datastack_chunk = c;
    /* As CPython's push_chunk lays out a root chunk: data[0] is never used, so
     * _PyThreadState_PopFrame can never pop (free) the root chunk. */
    ts->datastack_top = &c->data[1];
    ts->datastack_limit = (PyObject **)(root + sizeof(root));
    ts->exc_info = &ts->exc_state;
    ts->exc_state.exc_value = NULL;
    ts->exc_state.previous_item = NULL;
    ts->context = g->context; /* the reference moves into ts */
    g->context = NULL;
    ts->context_ver++;
    g->running = 1;
    g->on_cpu = 1;
    SET_CUR(h, g);
    BUMP_EPOCH(h);

    body(arg);

    /* These may run __del__, which may park: the state is still this goroutine's. */
    Py_CLEAR(ts->context);
    Py_CLEAR(ts->exc_state.exc_value);
    if (PyErr_Occurred())
        PyErr_Clear();
#if GMPY_PY313
    /* Dead objects the trashcan deferred on this goroutine: free them now, while the
     * state is still this goroutine's (they may run __del__). */
    while (ts->delete_later)
        _PyTrash_thread_destroy_chain(ts);
#endif
    g->running = 0;
    g->on_cpu = 0;
    SET_CUR(h, NULL);
    /* Every frame has been popped, so only the root chunk (ours, in this frame) is left;
     * anything above it is CPython's to free, through the arena allocator. */
    _PyStackChunk *chunk = ts->datastack_chunk;
    while (chunk != NULL && chunk != c) {
        _PyStackChunk *prev = chunk->previous;
        PyObjectArenaAllocator a;
        PyObject_GetArenaAllocator(&a);
        a.free(a.ctx, chunk, chunk->size);
        chunk = prev;
    }
    ts->datastack_chunk = NULL;
    restore(ts, &h->base, 0);
}

/* ---- goroutine dumps: the Python frames of a parked goroutine ---- */

/* frame_code: the code object of frame f on every version. shown_code: the same, or
 * NULL for a frame that frame walks skip (as tracebacks do): 3.12+'s entry frames of
 * the C stack (3.13's _PyFrame_IsIncomplete checks that too) and frames not started
 * yet. Shared by the goroutine dump, the spawn site and the preemption's lock check. */
static inline PyCodeObject *frame_code(struct _PyInterpreterFrame *f)
{
#if GMPY_PY313
    return _PyFrame_GetCode(f);
#else
    return f->f_code;
#endif
}

static inline PyCodeObject *shown_code(struct _PyInterpreterFrame *f)
{
#if GMPY_PY312
    if (f->owner == FRAME_OWNED_BY_CSTACK)
        return NULL;
#endif
    if (_PyFrame_IsIncomplete(f))
        return NULL;
    return frame_code(f);
}

/* Appends (filename, line, name) tuples for g's frames, innermost first, to the list
 * `out`: from its saved state if parked, else from its home's thread state (that thread
 * does not hold the GIL, which we do, so it runs no Python). Returns 0, or -1 with an
 * exception set. GIL held. */
int gmpy_g_frames(gmpy_g *g, PyObject *out)
{
    if (!g->running)
        return 0;
    struct _PyInterpreterFrame *f =
        g->on_cpu ? CUR_FRAME(g->home->ts) : g->saved.current_frame;
    for (; f != NULL; f = f->previous) {
        PyCodeObject *code = shown_code(f);
        if (code == NULL)
            continue;
        int line = PyCode_Addr2Line(code, _PyInterpreterFrame_LASTI(f) * sizeof(_Py_CODEUNIT));
        PyObject *t = Py_BuildValue("(OiO)", code->co_filename, line, code->co_name);
        if (t == NULL)
            return -1;
        int r = PyList_Append(out, t);
        Py_DECREF(t);
        if (r < 0)
            return -1;
    }
    return 0;
}

/* Where a goroutine is spawned: the innermost complete Python frame of the calling
 * thread whose file is not under `prefix` (the gmp package's directory), as a new
 * reference to its code object, with its instruction offset in *lasti; NULL if none.
 * Cheap (no frame objects; the line is computed only when shown). GIL held. */
PyObject *gmpy_spawn_site(PyObject *prefix, int *lasti)
{
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (ts == NULL)
        return NULL;
    struct _PyInterpreterFrame *f = CUR_FRAME(ts);
    for (; f != NULL; f = f->previous) {
        PyCodeObject *code = shown_code(f);
        if (code == NULL)
            continue;
        if (prefix != NULL &&
            PyUnicode_Tailmatch(code->co_filename, prefix, 0, PY_SSIZE_T_MAX, -1) == 1)
            continue;
        *lasti = _PyInterpreterFrame_LASTI(f);
        Py_INCREF(code);
        return (PyObject *)code;
    }
    return NULL;
}

/* (filename, line) of a site from gmpy_spawn_site, as a new tuple. GIL held. */
PyObject *gmpy_site_tuple(PyObject *code, int lasti)
{
    PyCodeObject *c = (PyCodeObject *)code;
    int line = PyCode_Addr2Line(c, lasti * (int)sizeof(_Py_CODEUNIT));
    return Py_BuildValue("(Oi)", c->co_filename, line);
}

/* Runtime check that the running interpreter is the one this file was built for. */
unsigned long gmpy_built_hexversion(void) { return PY_VERSION_HEX; }

/* ---- preemption: a goroutine that runs Python code for too long yields ----
 *
 * The watchdog thread (home.rs) sees a home whose current goroutine has not changed
 * (same epoch) for a whole tick and calls gmpy_home_preempt without the GIL. The request
 * must reach the eval loop of the home thread at an instruction boundary inside that
 * goroutine, and nowhere costs anything when no request is made:
 *
 * - 3.12 and 3.13: a pending call for any thread (_PyEval_AddPendingCall with
 *   mainthreadonly / flags 0, exported though private; Py_AddPendingCall targets the
 *   main thread only). The thread holding the GIL runs it at its next eval-breaker
 *   check (3.13 signals exactly the GIL holder). It runs inside CPython's
 *   make_pending_calls, which marks the queue as being handled (3.12 `busy`, 3.13
 *   `handling_thread`) for the duration: the mark is lifted around the yield, so other
 *   goroutines' requests and other threads' calls are not held up while this one is
 *   parked.
 * - 3.11: pending calls run on the main thread only, so that route is closed. The
 *   watchdog takes the GIL (the busy thread hands it over at its next eval-breaker check
 *   after the switch interval) and, with the home thread stopped at an instruction
 *   boundary, installs a C trace function on the home's thread state (tracing is per
 *   thread in 3.11: the flag is the running frame's cframe->use_tracing, which we set as
 *   _PyThreadState_UpdateTracingState does, without sys.settrace's audit event). At the
 *   next line or backward jump, the trace function puts the user's trace function back
 *   (passing the event on to it) and yields, outside the tracing bookkeeping
 *   (PyThreadState_LeaveTracing/EnterTracing around the yield).
 *
 * Not tried or rejected: PyThreadState_SetAsyncExc (an exception unwinds the frames);
 * profile functions (no event in a loop without calls); a trace function on 3.12/3.13
 * (sys.monitoring instruments code interpreter-wide, and 3.13 no longer exports
 * _PyEval_SetTrace).
 *
 * A goroutine is never made to yield where yielding is unsafe: with an exception in
 * flight, inside a trace/profile function, during a garbage collection, or with an
 * importlib frame on its stack (module locks are keyed by thread id, which every
 * goroutine of a home shares: another goroutine would see a half-imported module), or
 * inside `with <threading lock>:` (holds_lock). */

extern void gmp_gosched(void);

static PyObject *importlib_prefix; /* "<frozen importlib", made on first use */

/* The stack depth of the exception-table entry covering instruction `index` of code,
 * or -1: the bottom `depth` slots of the frame's value stack are live there (they were
 * pushed before the protected range began). The table's format (3.11-3.13,
 * Objects/exception_handling_notes.txt): per entry, varints start, size, target,
 * depth << 1 | lasti, in 6-bit big-endian chunks with 64 as the continuation bit. */
static const unsigned char *read_varint(const unsigned char *p, const unsigned char *end,
                                        int *out)
{
    if (p >= end)
        return NULL;
    unsigned b = *p++;
    int v = b & 63;
    while (b & 64) {
        if (p >= end)
            return NULL;
        b = *p++;
        v = (v << 6) | (b & 63);
    }
    *out = v;
    return p;
}

static int handler_depth(PyCodeObject *code, int index, int *end_out)
{
    PyObject *t = code->co_exceptiontable;
    if (t == NULL || !PyBytes_Check(t))
        return -1;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(t);
    const unsigned char *end = p + PyBytes_GET_SIZE(t);
    while (p != NULL && p < end) {
        int start, size, target, dl;
        p = read_varint(p, end, &start);
        if (p == NULL || index < start)
            return -1;
        p = read_varint(p, end, &size);
        if (p != NULL)
            p = read_varint(p, end, &target);
        if (p != NULL)
            p = read_varint(p, end, &dl);
        if (p != NULL && index < start + size) {
            if (end_out != NULL)
                *end_out = start + size;
            return dl >> 1;
        }
    }
    return -1;
}

/* Whether a lock type: _thread's, multiprocessing's, or a class of the threading module
 * (Condition, Semaphore, the Python RLock). */
static int is_lock_type(PyTypeObject *t)
{
    const char *n = t->tp_name;
    if (strcmp(n, "_thread.lock") == 0 || strcmp(n, "_thread.RLock") == 0 ||
        strcmp(n, "_multiprocessing.SemLock") == 0)
        return 1;
    if (!PyType_HasFeature(t, Py_TPFLAGS_HEAPTYPE) || t->tp_dict == NULL)
        return 0;
    PyObject *m = PyDict_GetItemString(t->tp_dict, "__module__"); /* borrowed */
    return m != NULL && PyUnicode_Check(m) &&
           (PyUnicode_CompareWithASCIIString(m, "threading") == 0 ||
            PyUnicode_CompareWithASCIIString(m, "multiprocessing.synchronize") == 0);
}

/* Whether o is the bound __exit__ of a lock: what `with lock:` keeps on the value stack
 * for the length of its body. */
static int is_lock_exit(PyObject *o)
{
    if (o == NULL)
        return 0;
    PyObject *self = NULL;
    if (PyCFunction_Check(o)) {
        PyCFunctionObject *f = (PyCFunctionObject *)o;
        if (f->m_ml == NULL || strcmp(f->m_ml->ml_name, "__exit__") != 0)
            return 0;
        self = f->m_self;
    } else if (PyMethod_Check(o)) {
        PyObject *fn = PyMethod_GET_FUNCTION(o);
        if (!PyFunction_Check(fn) ||
            PyUnicode_CompareWithASCIIString(((PyFunctionObject *)fn)->func_name, "__exit__") != 0)
            return 0;
        self = PyMethod_GET_SELF(o);
    }
    return self != NULL && is_lock_type(Py_TYPE(self));
}

/* Whether the running goroutine is inside `with <lock>:` in any of its frames. A home's
 * goroutines share one OS thread: another goroutine that then blocks on the lock would
 * block the thread, and with it the holder, for good (an RLock would let it in, as the
 * same thread). Threads do not have this problem; goroutines yielding on their own
 * (parking in gmp calls) inside such a block have it already, preemption must not add
 * it. Explicit acquire()/release() pairs are not seen (use `with`, gmp.Lock, or
 * gmp.patch()). */
static int holds_lock(PyThreadState *ts)
{
    for (struct _PyInterpreterFrame *f = CUR_FRAME(ts); f != NULL; f = f->previous) {
        PyCodeObject *code = shown_code(f);
        if (code == NULL)
            continue;
        int index = _PyInterpreterFrame_LASTI(f);
        int depth = handler_depth(code, index, NULL);
#if GMPY_PY312
        /* 3.12 and 3.13 run pending calls at a loop's JUMP_BACKWARD, which the table
         * leaves out of the range just before it (it cannot raise). The jump moves no
         * stack slot, so that range's bottom slots are live. */
        if (depth < 0 && index > 0) {
            int op = _PyCode_CODE(code)[index].op.code;
            int end = -1;
            if (op == JUMP_BACKWARD || op == INSTRUMENTED_JUMP_BACKWARD) {
                depth = handler_depth(code, index - 1, &end);
                if (end != index)
                    depth = -1;
            }
        }
#endif
        if (depth <= 0 || depth > code->co_stacksize)
            continue;
        PyObject **base = _PyFrame_Stackbase(f);
        for (int i = 0; i < depth; i++)
            if (is_lock_exit(base[i]))
                return 1;
    }
    return 0;
}

static int may_yield(gmpy_home *h, PyThreadState *ts)
{
    if (ts != h->ts || h->cur == NULL || PyErr_Occurred() || ts->tracing != 0 ||
        ts->interp->gc.collecting)
        return 0;
    if (importlib_prefix == NULL) {
        importlib_prefix = PyUnicode_InternFromString("<frozen importlib");
        if (importlib_prefix == NULL) {
            PyErr_Clear();
            return 0;
        }
    }
    for (struct _PyInterpreterFrame *f = CUR_FRAME(ts); f != NULL; f = f->previous) {
#if GMPY_PY312
        if (f->owner == FRAME_OWNED_BY_CSTACK)
            continue;
#endif
        PyCodeObject *code = frame_code(f);
        if (PyUnicode_Tailmatch(code->co_filename, importlib_prefix, 0, PY_SSIZE_T_MAX, -1) == 1)
            return 0;
    }
    return !holds_lock(ts);
}

/* Whether the goroutine of epoch `want` is still the one running on h. */
static int still_running(gmpy_home *h, uint64_t want)
{
    return want != 0 && __atomic_load_n(&h->epoch, __ATOMIC_RELAXED) == want;
}

#if GMPY_PY312
static int preempt_call(void *arg)
{
    gmpy_home *h = arg;
    uint64_t want = __atomic_exchange_n(&h->want, 0, __ATOMIC_RELAXED);
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (tl_home != h || !still_running(h, want) || !may_yield(h, ts))
        return 0;
    struct _pending_calls *p = &ts->interp->ceval.pending;
#if GMPY_PY313
    PyMutex_Lock(&p->mutex);
    int was = p->handling_thread == ts;
    if (was)
        p->handling_thread = NULL;
    PyMutex_Unlock(&p->mutex);
#else
    PyThread_acquire_lock(p->lock, WAIT_LOCK);
    int was = p->busy;
    p->busy = 0;
    PyThread_release_lock(p->lock);
#endif
    gmp_gosched();
#if GMPY_PY313
    PyMutex_Lock(&p->mutex);
    if (was && p->handling_thread == NULL)
        p->handling_thread = ts;
    PyMutex_Unlock(&p->mutex);
#else
    PyThread_acquire_lock(p->lock, WAIT_LOCK);
    if (was)
        p->busy = 1;
    PyThread_release_lock(p->lock);
#endif
    return 0;
}
#else
static int preempt_trace(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)obj;
    gmpy_home *h = tl_home;
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (h == NULL || ts == NULL || ts->c_tracefunc != preempt_trace)
        return 0;
    /* Disarm: the user's trace function (usually none) back in place. */
    Py_tracefunc uf = h->user_trace;
    PyObject *uo = h->user_traceobj;
    h->user_trace = NULL;
    h->user_traceobj = NULL;
    h->armed = 0;
    PyObject *ours = ts->c_traceobj;
    ts->c_tracefunc = uf;
    ts->c_traceobj = uo;
    Py_XDECREF(ours);
    uint64_t want = __atomic_exchange_n(&h->want, 0, __ATOMIC_RELAXED);
    int r = 0;
    if (uf != NULL)
        r = uf(uo, frame, what, arg);
    if (r == 0 && still_running(h, want)) {
        /* call_trace entered tracing (tracing = 1, use_tracing = 0): leave it around the
         * yield, as if the goroutine yielded from its own code. */
        PyThreadState_LeaveTracing(ts);
        if (may_yield(h, ts))
            gmp_gosched();
        PyThreadState_EnterTracing(ts);
    }
    return r;
}
#endif

/* The epoch of h's running goroutine and whether one runs (any thread, no GIL). */
uint64_t gmpy_home_epoch(gmpy_home *h, int *busy)
{
    *busy = __atomic_load_n(&h->cur, __ATOMIC_RELAXED) != NULL;
    return __atomic_load_n(&h->epoch, __ATOMIC_RELAXED);
}

/* Asks the goroutine of `epoch`, running on h for a whole watchdog tick, to yield at
 * its next instruction boundary (the watchdog thread, without the GIL). 3.11 takes the
 * GIL here (guarded: see the exit guard). */
void gmpy_home_preempt(gmpy_home *h, uint64_t epoch)
{
#if GMPY_PY312
    uint64_t none = 0;
    if (!__atomic_compare_exchange_n(&h->want, &none, epoch, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return; /* the previous request is still queued */
#if GMPY_PY313
    if (_PyEval_AddPendingCall(h->ts->interp, preempt_call, h, 0) != _Py_ADD_PENDING_SUCCESS)
#else
    if (_PyEval_AddPendingCall(h->ts->interp, preempt_call, h, 0) != 0)
#endif
        __atomic_store_n(&h->want, 0, __ATOMIC_RELAXED); /* queue full: next tick */
#else
    uint64_t w = __atomic_load_n(&h->want, __ATOMIC_RELAXED);
    if (w != 0 && w == epoch)
        return; /* armed for this very run already */
    int st = gmpy_gil_ensure();
    PyThreadState *ts = h->ts;
    if (h->armed && ts->c_tracefunc != preempt_trace) {
        /* sys.settrace replaced ours meanwhile: what we kept is stale. */
        Py_CLEAR(h->user_traceobj);
        h->user_trace = NULL;
        h->armed = 0;
    }
    if (__atomic_load_n(&h->epoch, __ATOMIC_RELAXED) == epoch && h->cur != NULL) {
        if (!h->armed) {
            h->user_trace = ts->c_tracefunc;
            h->user_traceobj = ts->c_traceobj; /* the reference moves here */
            ts->c_tracefunc = preempt_trace;
            ts->c_traceobj = NULL;
            h->armed = 1;
        }
        __atomic_store_n(&h->want, epoch, __ATOMIC_RELAXED);
        /* As _PyThreadState_UpdateTracingState, on the running frame's cframe. */
        ts->cframe->use_tracing = ts->tracing == 0 ? 255 : 0;
    }
    PyGILState_Release((PyGILState_STATE)st);
#endif
}

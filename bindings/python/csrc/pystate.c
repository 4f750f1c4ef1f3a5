/* The per-goroutine part of a CPython 3.11 PyThreadState, saved and restored at every
 * park and resume of a Python goroutine (PYTHON.md has the study behind this list).
 *
 * Many Python goroutines share one home thread and its one PyThreadState. CPython keeps
 * the running frame chain, the recursion depth, the frame data stack, the handled
 * exception and the contextvars context in that thread state, so each goroutine carries
 * its own copy of those fields: `on_park` moves them from the thread state into the
 * goroutine's `gmpy_g` and puts back the home loop's own ("base") values; `on_resume`
 * does the reverse. Fields not listed here are per thread for every goroutine of a
 * home: `threading.local` (tstate->dict), trace/profile functions, gilstate_counter.
 *
 * | field                                   | left out, this broke (PYTHON.md)         |
 * |-----------------------------------------|------------------------------------------|
 * | cframe, cframe->current_frame           | segfaults; tracebacks of other frames    |
 * | cframe->use_tracing (carried over)      | tracing is per thread: keep it going     |
 * | recursion depth (limit - remaining)     | spurious RecursionError                  |
 * | datastack_chunk/top/limit               | silent corruption, segfault              |
 * | exc_info (NULL for &exc_state), exc_state | wrong sys.exc_info(); generator crashes |
 * | context (owned), context_ver++          | ContextVar values leak between goroutines|
 * | trash_delete_nesting                    | nested garbage not freed promptly        |
 * | curexc_* (belt and braces: no exception should be in flight at a switch) |      |
 *
 * This file is for 3.11 only: 3.12 drops use_tracing and adds a C recursion counter,
 * 3.13 removes cframe. Another version needs its own file and its own audit.
 */
#define Py_BUILD_CORE_MODULE 1
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_code.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "pystate311.c is for CPython 3.11 only"
#endif

/* CPython's DATA_STACK_CHUNK_SIZE (Python/pystate.c). */
#define CHUNK_SIZE (16 * 1024)
/* Root data-stack chunks kept per home for reuse (each is 16 KiB). */
#define CHUNK_CACHE 128

typedef struct gmpy_state {
    _PyCFrame *cframe;
    struct _PyInterpreterFrame *current_frame;
    int recursion_depth;
    int trash_delete_nesting;
    _PyStackChunk *datastack_chunk;
    PyObject **datastack_top;
    PyObject **datastack_limit;
    _PyErr_StackItem *exc_info; /* NULL: the thread's own &tstate->exc_state */
    _PyErr_StackItem exc_state;
    PyObject *context;          /* owned */
    PyObject *curexc_type, *curexc_value, *curexc_traceback; /* owned */
} gmpy_state;

typedef struct gmpy_home {
    PyThreadState *ts;  /* the home thread's one thread state */
    gmpy_state base;    /* the home loop's values while a goroutine runs */
    int nchunks;
    _PyStackChunk *chunks[CHUNK_CACHE];
} gmpy_home;

typedef struct gmpy_g {
    gmpy_home *home;
    gmpy_state saved;   /* valid while the goroutine is parked */
    int took_gil;       /* parked without the GIL: on_park took it for the others */
    int running;        /* between the start and the end of gmpy_run */
    int on_cpu;         /* its state is in the thread state, not in `saved` */
} gmpy_g;

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

static void save(PyThreadState *ts, gmpy_state *s)
{
    s->cframe = ts->cframe;
    s->current_frame = ts->cframe->current_frame;
    s->recursion_depth = ts->recursion_limit - ts->recursion_remaining;
    s->trash_delete_nesting = ts->trash_delete_nesting;
    s->datastack_chunk = ts->datastack_chunk;
    s->datastack_top = ts->datastack_top;
    s->datastack_limit = ts->datastack_limit;
    s->exc_info = ts->exc_info == &ts->exc_state ? NULL : ts->exc_info;
    s->exc_state = ts->exc_state;
    s->context = ts->context;
    s->curexc_type = ts->curexc_type;
    s->curexc_value = ts->curexc_value;
    s->curexc_traceback = ts->curexc_traceback;
    /* The references moved into s. */
    ts->context = NULL;
    ts->exc_state.exc_value = NULL;
    ts->curexc_type = ts->curexc_value = ts->curexc_traceback = NULL;
}

static void restore(PyThreadState *ts, gmpy_state *s)
{
    /* Tracing belongs to the thread: carry the flag over to the new cframe. */
    uint8_t use_tracing = ts->cframe->use_tracing;
    ts->cframe = s->cframe;
    ts->cframe->use_tracing = use_tracing;
    ts->cframe->current_frame = s->current_frame;
    ts->recursion_remaining = ts->recursion_limit - s->recursion_depth;
    ts->trash_delete_nesting = s->trash_delete_nesting;
    ts->datastack_chunk = s->datastack_chunk;
    ts->datastack_top = s->datastack_top;
    ts->datastack_limit = s->datastack_limit;
    ts->exc_info = s->exc_info ? s->exc_info : &ts->exc_state;
    ts->exc_state = s->exc_state;
    ts->context = s->context;
    /* Invalidates the ContextVar caches, which key on (context, version). */
    ts->context_ver++;
    ts->curexc_type = s->curexc_type;
    ts->curexc_value = s->curexc_value;
    ts->curexc_traceback = s->curexc_traceback;
    s->context = NULL;
    s->exc_state.exc_value = NULL;
    s->curexc_type = s->curexc_value = s->curexc_traceback = NULL;
}

/* The home thread calls this once, holding the GIL, with its own thread state. */
gmpy_home *gmpy_home_new(PyThreadState *ts)
{
    gmpy_home *h = PyMem_RawCalloc(1, sizeof(gmpy_home));
    if (h)
        h->ts = ts;
    return h;
}

void gmpy_home_set_ts(gmpy_home *h, PyThreadState *ts) { h->ts = ts; }

void gmpy_g_init(gmpy_g *g, gmpy_home *home)
{
    memset(g, 0, sizeof(*g));
    g->home = home;
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
    save(ts, &g->saved);
    restore(ts, &h->base);
    g->on_cpu = 0;
}

/* gmp_switch_hooks.on_resume: on the goroutine's stack, after the switch point. */
void gmpy_on_resume(void *ctx)
{
    gmpy_g *g = ctx;
    gmpy_home *h = g->home;
    PyThreadState *ts = h->ts;
    save(ts, &h->base);
    restore(ts, &g->saved);
    g->on_cpu = 1;
    if (g->took_gil) {
        g->took_gil = 0;
        PyEval_SaveThread();
    }
}

static _PyStackChunk *chunk_get(gmpy_home *h)
{
    if (h->nchunks > 0)
        return h->chunks[--h->nchunks];
    PyObjectArenaAllocator a;
    PyObject_GetArenaAllocator(&a);
    _PyStackChunk *c = a.alloc(a.ctx, CHUNK_SIZE);
    if (c) {
        c->previous = NULL;
        c->size = CHUNK_SIZE;
        c->top = 0;
    }
    return c;
}

static void chunk_put(gmpy_home *h, _PyStackChunk *c)
{
    if (c->size == CHUNK_SIZE && c->previous == NULL && h->nchunks < CHUNK_CACHE) {
        c->top = 0;
        h->chunks[h->nchunks++] = c;
        return;
    }
    PyObjectArenaAllocator a;
    PyObject_GetArenaAllocator(&a);
    a.free(a.ctx, c, c->size);
}

/* Runs body(arg) as a Python goroutine: called first thing on the goroutine's own stack
 * (gmp calls no hook before a goroutine first runs nor after it ends), with the GIL held
 * by the home thread. Installs a fresh per-goroutine state (its own _PyCFrame on this
 * stack, depth 0, a root data-stack chunk, no handled exception, no context), runs body,
 * then frees that state and puts the home loop's values back. */
void gmpy_run(gmpy_g *g, void (*body)(void *), void *arg)
{
    gmpy_home *h = g->home;
    PyThreadState *ts = h->ts;
    _PyCFrame cframe;
    uint8_t use_tracing = ts->cframe->use_tracing;

    save(ts, &h->base);
    cframe.use_tracing = use_tracing;
    cframe.current_frame = NULL;
    cframe.previous = &ts->root_cframe;
    ts->cframe = &cframe;
    ts->recursion_remaining = ts->recursion_limit;
    ts->trash_delete_nesting = 0;
    _PyStackChunk *c = chunk_get(h);
    ts->datastack_chunk = c;
    if (c) {
        /* As CPython's push_chunk lays out a root chunk: data[0] is never used, so
         * _PyThreadState_PopFrame can never pop (free) the root chunk. */
        ts->datastack_top = &c->data[1];
        ts->datastack_limit = (PyObject **)((char *)c + c->size);
    } else {
        ts->datastack_top = NULL;
        ts->datastack_limit = NULL;
    }
    ts->exc_info = &ts->exc_state;
    ts->exc_state.exc_value = NULL;
    ts->exc_state.previous_item = NULL;
    ts->context = NULL;
    ts->context_ver++;
    g->running = 1;
    g->on_cpu = 1;

    body(arg);

    /* These may run __del__, which may park: the state is still this goroutine's. */
    Py_CLEAR(ts->context);
    Py_CLEAR(ts->exc_state.exc_value);
    if (ts->curexc_type || ts->curexc_value || ts->curexc_traceback)
        PyErr_Clear();
    g->running = 0;
    g->on_cpu = 0;
    /* Every frame has been popped, so only the root chunk is left (CPython never frees
     * it: that is ours to do). */
    _PyStackChunk *chunk = ts->datastack_chunk;
    while (chunk) {
        _PyStackChunk *prev = chunk->previous;
        chunk_put(h, chunk);
        chunk = prev;
    }
    ts->datastack_chunk = NULL;
    restore(ts, &h->base);
}

/* ---- goroutine dumps: the Python frames of a parked goroutine ---- */

/* Appends (filename, line, name) tuples for g's frames, innermost first, to the list
 * `out`: from its saved state if parked, else from its home's thread state (that thread
 * does not hold the GIL, which we do, so it runs no Python). Returns 0, or -1 with an
 * exception set. GIL held. */
int gmpy_g_frames(gmpy_g *g, PyObject *out)
{
    if (!g->running)
        return 0;
    struct _PyInterpreterFrame *f =
        g->on_cpu ? g->home->ts->cframe->current_frame : g->saved.current_frame;
    for (; f != NULL; f = f->previous) {
        if (_PyFrame_IsIncomplete(f))
            continue;
        PyCodeObject *code = f->f_code;
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

/* Runtime check that the running interpreter is the one this file was built for. */
unsigned long gmpy_built_hexversion(void) { return PY_VERSION_HEX; }

//! AddressSanitizer and ThreadSanitizer support: the library itself is plain Rust (not
//! instrumented), but a C or C++ program built with `-fsanitize=address` or
//! `-fsanitize=thread` runs its code on our goroutine stacks, so the sanitizer runtime
//! loaded into that program must hear about every stack switch and about the
//! happens-before edges our (invisible to it) atomics create.
//!
//! The runtime entry points are looked up once with `dlsym(RTLD_DEFAULT, ..)`: the one
//! `libgmp.so` serves plain and sanitized programs. With no sanitizer loaded every hook
//! costs one load of a cached byte and a predictable branch ([`on`]).
//!
//! ## What each sanitizer is told
//! - ASan (`common_interface_defs.h`): before each switch
//!   `__sanitizer_start_switch_fiber(save, bottom, size)` with the destination stack,
//!   after it `__sanitizer_finish_switch_fiber(saved, ..)` on the destination; a
//!   goroutine's last switch passes a NULL save so its fake stack is freed. Without
//!   this ASan takes a goroutine stack for a wild one ("ignoring requested
//!   __asan_handle_no_return") and reports false stack-buffer-underflows after a C++
//!   throw/catch. The bounds of a thread's own stack are the ones ASan hands back
//!   (`bottom_old`/`size_old`) the first time a thread's scheduler loop switches to a
//!   goroutine: exactly what ASan itself believes.
//! - TSan (`tsan_interface.h`): each goroutine is a TSan fiber. It is created by the
//!   spawner (`__tsan_create_fiber` gives the new fiber the creator's clock: the
//!   spawn->start edge), switched to with `__tsan_switch_to_fiber(.., no_sync)` (the
//!   order in which goroutines happen to share a thread is not synchronisation; Go's
//!   race detector gives no such edge either) and destroyed once it has switched away
//!   for good. Two kinds of switch do synchronise: to and from `gmp_blocking`'s
//!   function, which runs on the thread's own TSan context, and between a home's
//!   goroutines and its thread's loop (they run as parts of that thread's program).
//! - TSan does not see our atomics, so the sync calls announce their edges with
//!   `__tsan_release`/`__tsan_acquire` on the object's address, as Go's runtime does
//!   with `racerelease`/`raceacquire` (`chan.go`, `sync/mutex.go`, `sync/waitgroup.go`).
//!   We differ from Go on channels: one sync address per channel (Go uses one per buffer
//!   slot), released at the start of every operation and acquired at its end. That is
//!   every edge the Go memory model promises and a few more (two operations on one
//!   channel that overlap in time are ordered), so it can hide a race, never invent one.
//! - TSan does see the library's calls of intercepted functions (malloc, free, memcpy),
//!   on whichever goroutine or thread they happen, with none of our synchronisation
//!   between them: that is where most of the false reports came from. So the library
//!   runs with TSan's accesses ignored (`__tsan_ignore_thread_begin`): its own threads
//!   for their whole life, a C call into it for its duration (`ffi::guard`), a
//!   goroutine except while it runs its entry function. Synchronisation calls still
//!   count while accesses are ignored.
//!
//! Boost.Context (`fiber_fcontext.hpp`) and folly fibers make the same ASan calls around
//! their switches; marl and folly create one TSan fiber per task the same way.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// Not looked up yet.
const UNKNOWN: u8 = 0;
/// Looked up: no sanitizer in the process.
const NONE: u8 = 1;
const ASAN: u8 = 2;
pub(crate) const TSAN: u8 = 4;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

type StartSwitch = unsafe extern "C" fn(*mut *mut c_void, *const c_void, usize);
type FinishSwitch = unsafe extern "C" fn(*mut c_void, *mut *const c_void, *mut usize);
type VoidToPtr = unsafe extern "C" fn() -> *mut c_void;
type CreateFiber = unsafe extern "C" fn(u32) -> *mut c_void;
type PtrFn = unsafe extern "C" fn(*mut c_void);
type SwitchFiber = unsafe extern "C" fn(*mut c_void, u32);
type SetName = unsafe extern "C" fn(*mut c_void, *const libc::c_char);
type VoidFn = unsafe extern "C" fn();

/// `__tsan_switch_to_fiber_no_sync`.
pub(crate) const TSAN_NO_SYNC: u32 = 1;

pub(crate) struct Api {
    pub(crate) start_switch: StartSwitch,
    pub(crate) finish_switch: FinishSwitch,
    pub(crate) current_fiber: VoidToPtr,
    pub(crate) create_fiber: CreateFiber,
    pub(crate) destroy_fiber: PtrFn,
    pub(crate) switch_fiber: SwitchFiber,
    pub(crate) set_fiber_name: Option<SetName>,
    pub(crate) acquire: PtrFn,
    pub(crate) release: PtrFn,
    pub(crate) ignore_begin: VoidFn,
    pub(crate) ignore_end: VoidFn,
}

static API: OnceLock<Api> = OnceLock::new();

fn lookup(name: &std::ffi::CStr) -> usize {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) as usize }
}

#[cold]
#[inline(never)]
fn resolve() -> u8 {
    // SAFETY (all transmutes below): each address is the named sanitizer entry point,
    // whose C signature (common_interface_defs.h, tsan_interface.h) is the type it is
    // transmuted to; a null address is never transmuted.
    unsafe fn f<T: Copy>(a: usize) -> T {
        debug_assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<usize>());
        // SAFETY: the caller's contract above.
        unsafe { std::mem::transmute_copy(&a) }
    }
    let start = lookup(c"__sanitizer_start_switch_fiber");
    let finish = lookup(c"__sanitizer_finish_switch_fiber");
    let mut tsan = [
        lookup(c"__tsan_get_current_fiber"),
        lookup(c"__tsan_create_fiber"),
        lookup(c"__tsan_destroy_fiber"),
        lookup(c"__tsan_switch_to_fiber"),
        lookup(c"__tsan_acquire"),
        lookup(c"__tsan_release"),
        lookup(c"__tsan_ignore_thread_begin"),
        lookup(c"__tsan_ignore_thread_end"),
    ];
    if tsan[6] == 0 && tsan[7] == 0 {
        // clang's runtime (LLVM 14 here) has no __tsan_ignore_thread_*: its dynamic
        // annotations begin and end the same per-thread ignore (ThreadIgnoreBegin/End).
        // Without this, a clang-built program ran with TSan unannounced (no fibers, no
        // edges) and reported every goroutine stack reused on another thread as a race.
        let begin = lookup(c"AnnotateIgnoreWritesBegin");
        let end = lookup(c"AnnotateIgnoreWritesEnd");
        if begin != 0 && end != 0 {
            ANNOTATE_IGNORE.0.store(begin, Ordering::Relaxed);
            ANNOTATE_IGNORE.1.store(end, Ordering::Relaxed);
            tsan[6] = annotate_ignore_begin as *const () as usize;
            tsan[7] = annotate_ignore_end as *const () as usize;
        }
    }
    let mut state = 0;
    if start != 0 && finish != 0 {
        state |= ASAN;
    }
    if tsan.iter().all(|&a| a != 0) {
        state |= TSAN;
    }
    if state == 0 {
        state = NONE;
    } else {
        let name = lookup(c"__tsan_set_fiber_name");
        // SAFETY: see above; a placeholder fills what is absent and its flag is clear.
        let api = unsafe {
            Api {
                start_switch: if state & ASAN != 0 {
                    f(start)
                } else {
                    noop_start
                },
                finish_switch: if state & ASAN != 0 {
                    f(finish)
                } else {
                    noop_finish
                },
                current_fiber: if state & TSAN != 0 {
                    f(tsan[0])
                } else {
                    noop_current
                },
                create_fiber: if state & TSAN != 0 {
                    f(tsan[1])
                } else {
                    noop_create
                },
                destroy_fiber: if state & TSAN != 0 {
                    f(tsan[2])
                } else {
                    noop_ptr
                },
                switch_fiber: if state & TSAN != 0 {
                    f(tsan[3])
                } else {
                    noop_switch
                },
                set_fiber_name: (state & TSAN != 0 && name != 0).then(|| f(name)),
                acquire: if state & TSAN != 0 {
                    f(tsan[4])
                } else {
                    noop_ptr
                },
                release: if state & TSAN != 0 {
                    f(tsan[5])
                } else {
                    noop_ptr
                },
                ignore_begin: if state & TSAN != 0 { f(tsan[6]) } else { noop },
                ignore_end: if state & TSAN != 0 { f(tsan[7]) } else { noop },
            }
        };
        let _ = API.set(api);
    }
    // Racing first callers compute the same value.
    STATE.store(state, Ordering::Release);
    state
}

unsafe extern "C" fn noop_start(_: *mut *mut c_void, _: *const c_void, _: usize) {}
unsafe extern "C" fn noop_finish(_: *mut c_void, _: *mut *const c_void, _: *mut usize) {}
unsafe extern "C" fn noop_current() -> *mut c_void {
    std::ptr::null_mut()
}
unsafe extern "C" fn noop_create(_: u32) -> *mut c_void {
    std::ptr::null_mut()
}
unsafe extern "C" fn noop_ptr(_: *mut c_void) {}
unsafe extern "C" fn noop_switch(_: *mut c_void, _: u32) {}
unsafe extern "C" fn noop() {}

/// clang's `AnnotateIgnoreWritesBegin`/`End(file, line)`, when the runtime has no
/// `__tsan_ignore_thread_begin`/`end` (see `resolve`).
static ANNOTATE_IGNORE: (AtomicUsize, AtomicUsize) = (AtomicUsize::new(0), AtomicUsize::new(0));

type AnnotateFn = unsafe extern "C" fn(*const libc::c_char, libc::c_int);

unsafe extern "C" fn annotate_ignore_begin() {
    // SAFETY: set by `resolve` to AnnotateIgnoreWritesBegin before this is reachable.
    let f: AnnotateFn = unsafe { std::mem::transmute(ANNOTATE_IGNORE.0.load(Ordering::Relaxed)) };
    // SAFETY: the annotation takes a file name (may be NULL) and a line.
    unsafe { f(std::ptr::null(), 0) }
}

unsafe extern "C" fn annotate_ignore_end() {
    // SAFETY: as above, AnnotateIgnoreWritesEnd.
    let f: AnnotateFn = unsafe { std::mem::transmute(ANNOTATE_IGNORE.1.load(Ordering::Relaxed)) };
    // SAFETY: as above.
    unsafe { f(std::ptr::null(), 0) }
}

/// Whether a sanitizer runtime is loaded (also true before the one look-up, which the
/// cold paths then do). The only cost on the hot paths: one byte load and a branch.
#[inline(always)]
pub(crate) fn on() -> bool {
    STATE.load(Ordering::Relaxed) != NONE
}

/// Threads a loaded sanitizer runtime runs of its own (TSan's background thread), which
/// deadlock detection must not take for foreign threads that might still act.
pub(crate) fn own_threads() -> i32 {
    i32::from(state() & TSAN != 0)
}

/// The sanitizers present, looking them up on first use.
#[cold]
pub(crate) fn state() -> u8 {
    match STATE.load(Ordering::Acquire) {
        UNKNOWN => resolve(),
        s => s,
    }
}

pub(crate) fn api() -> Option<&'static Api> {
    if state() == NONE { None } else { API.get() }
}

pub(crate) fn tsan() -> Option<&'static Api> {
    if state() & TSAN != 0 { API.get() } else { None }
}

// ---------------------------------------------------------------------------------------
// Per-goroutine and per-thread state.

/// A goroutine's sanitizer state (in its `GInner`: owner-only, like the rest there),
/// boxed on first use so that a G costs one word for it when no sanitizer is loaded.
pub(crate) struct GState {
    /// ASan's fake stack, saved while the goroutine is switched out.
    pub(crate) fake: Cell<*mut c_void>,
    /// Its TSan fiber, from spawn to its last switch.
    pub(crate) fiber: Cell<*mut c_void>,
    /// It has run (its stack is its own, see `fresh_stack` in `sched/sanitizer.rs`).
    pub(crate) ran: Cell<bool>,
}

/// A thread's own context (its scheduler loop, on the thread's stack).
pub(crate) struct ThreadState {
    pub(crate) fake: Cell<*mut c_void>,
    /// The thread's stack as ASan knows it (bottom, size); 0 until learnt.
    pub(crate) lo: Cell<usize>,
    pub(crate) size: Cell<usize>,
    /// The thread's own TSan context.
    pub(crate) fiber: Cell<*mut c_void>,
}

thread_local! {
    pub(crate) static THREAD: ThreadState = const {
        ThreadState {
            fake: Cell::new(std::ptr::null_mut()),
            lo: Cell::new(0),
            size: Cell::new(0),
            fiber: Cell::new(std::ptr::null_mut()),
        }
    };
}

/// The sync key every goroutine releases as it ends and `gmp_main` acquires as it
/// returns: the main goroutine's end happens before `gmp_main`'s return, wherever it
/// ended. (Others that ended before are ordered before it too: it can hide a race with
/// them, never invent one.)
pub(crate) static EXITED: u8 = 0;

/// `gmp_main` returns: see [`EXITED`].
pub(crate) fn main_returned() {
    acquire(&EXITED);
}

// ---------------------------------------------------------------------------------------
// Accesses ignored in library code; the program's code is checked.

/// While alive, TSan ignores the current context's accesses: a C call into the
/// library (`ffi::guard`), a thread of the runtime's own (`m::spawn_thread`).
pub(crate) struct Ignore(bool);

impl Ignore {
    #[inline(always)]
    pub(crate) fn new() -> Ignore {
        Ignore(on() && ignore_begin())
    }
}

#[cold]
#[inline(never)]
fn ignore_begin() -> bool {
    match tsan() {
        Some(a) => {
            // SAFETY: TSan's entry point, on the current context.
            unsafe { (a.ignore_begin)() };
            true
        }
        None => false,
    }
}

impl Drop for Ignore {
    #[inline(always)]
    fn drop(&mut self) {
        if self.0 {
            ignore_end();
        }
    }
}

#[cold]
#[inline(never)]
fn ignore_end() {
    if let Some(a) = tsan() {
        // SAFETY: pairs with the begin in `Ignore::new` on this same context (a C call
        // into the library ends on the goroutine or thread it began on).
        unsafe { (a.ignore_end)() };
    }
}

/// Runs the program's code `f` from library code with TSan's checks on (a goroutine's
/// entry function, `gmp_once_do`'s function, `gmp_blocking`'s).
#[inline(always)]
pub(crate) fn program<R>(f: impl FnOnce() -> R) -> R {
    if !on() {
        return f();
    }
    let t = tsan();
    if let Some(a) = t {
        // SAFETY: TSan's entry point; we are inside an ignored section of this context.
        unsafe { (a.ignore_end)() };
    }
    let r = f();
    if let Some(a) = t {
        // SAFETY: as above, restoring it.
        unsafe { (a.ignore_begin)() };
    }
    r
}

// ---------------------------------------------------------------------------------------
// Happens-before edges.

/// `__tsan_release(addr)`: what this context did so far happens before whatever
/// acquires `addr` later.
#[inline(always)]
pub(crate) fn release<T>(addr: *const T) {
    if on() {
        release_slow(addr as usize);
    }
}

/// `__tsan_acquire(addr)`: everything released on `addr` so far happens before what
/// this context does next.
#[inline(always)]
pub(crate) fn acquire<T>(addr: *const T) {
    if on() {
        acquire_slow(addr as usize);
    }
}

#[cold]
#[inline(never)]
fn release_slow(addr: usize) {
    if let Some(a) = tsan() {
        // SAFETY: TSan's entry point; any address is a valid sync key.
        unsafe { (a.release)(addr as *mut c_void) };
    }
}

#[cold]
#[inline(never)]
fn acquire_slow(addr: usize) {
    if let Some(a) = tsan() {
        // SAFETY: as above.
        unsafe { (a.acquire)(addr as *mut c_void) };
    }
}

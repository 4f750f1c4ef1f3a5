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
use std::sync::atomic::{AtomicU8, Ordering};

/// Not looked up yet.
const UNKNOWN: u8 = 0;
/// Looked up: no sanitizer in the process.
const NONE: u8 = 1;
const ASAN: u8 = 2;
const TSAN: u8 = 4;

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
const TSAN_NO_SYNC: u32 = 1;

struct Api {
    start_switch: StartSwitch,
    finish_switch: FinishSwitch,
    current_fiber: VoidToPtr,
    create_fiber: CreateFiber,
    destroy_fiber: PtrFn,
    switch_fiber: SwitchFiber,
    set_fiber_name: Option<SetName>,
    acquire: PtrFn,
    release: PtrFn,
    ignore_begin: VoidFn,
    ignore_end: VoidFn,
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
    let tsan = [
        lookup(c"__tsan_get_current_fiber"),
        lookup(c"__tsan_create_fiber"),
        lookup(c"__tsan_destroy_fiber"),
        lookup(c"__tsan_switch_to_fiber"),
        lookup(c"__tsan_acquire"),
        lookup(c"__tsan_release"),
        lookup(c"__tsan_ignore_thread_begin"),
        lookup(c"__tsan_ignore_thread_end"),
    ];
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
fn state() -> u8 {
    match STATE.load(Ordering::Acquire) {
        UNKNOWN => resolve(),
        s => s,
    }
}

fn api() -> Option<&'static Api> {
    if state() == NONE { None } else { API.get() }
}

fn tsan() -> Option<&'static Api> {
    if state() & TSAN != 0 { API.get() } else { None }
}

// ---------------------------------------------------------------------------------------
// Per-goroutine and per-thread state.

/// A goroutine's sanitizer state (in its `GInner`: owner-only, like the rest there),
/// boxed on first use so that a G costs one word for it when no sanitizer is loaded.
pub(crate) struct GState {
    /// ASan's fake stack, saved while the goroutine is switched out.
    fake: Cell<*mut c_void>,
    /// Its TSan fiber, from spawn to its last switch.
    fiber: Cell<*mut c_void>,
    /// It has run (its stack is its own, see [`fresh_stack`]).
    ran: Cell<bool>,
}

/// A thread's own context (its scheduler loop, on the thread's stack).
struct ThreadState {
    fake: Cell<*mut c_void>,
    /// The thread's stack as ASan knows it (bottom, size); 0 until learnt.
    lo: Cell<usize>,
    size: Cell<usize>,
    /// The thread's own TSan context.
    fiber: Cell<*mut c_void>,
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState {
            fake: Cell::new(std::ptr::null_mut()),
            lo: Cell::new(0),
            size: Cell::new(0),
            fiber: Cell::new(std::ptr::null_mut()),
        }
    };
}

/// A goroutine's stack (lowest address, size): the usable pages above its guard page.
/// Its context starts at `base()`, the top less a cache colour of under a page.
fn g_stack(g: crate::sched::g::GRef) -> (usize, usize) {
    // SAFETY: the caller owns g (it is switching to it or is it).
    match unsafe { &g.inner().stack } {
        Some(s) => {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
            let top = (s.base() + page - 1) & !(page - 1);
            (top - s.size(), s.size())
        }
        None => (0, 0),
    }
}

/// Before goroutine `g` first runs: under TSan its stack must not remember the
/// accesses of the goroutine that used it before (stacks are reused from a cache, and
/// two goroutines that never synchronised would race on every frame). TSan forgets a
/// range only when it is mapped anew, so map the stack's pages anew (`MAP_FIXED`
/// replaces them; the guard page below is not touched) and lay out the start frame
/// again. Go's race runtime does the same for its stacks (`racemalloc` in stackalloc).
fn fresh_stack(a: &Api, g: crate::sched::g::GRef) {
    let st = g_state(g);
    if st.ran.replace(true) || state() & TSAN == 0 {
        return;
    }
    let (lo, size) = g_stack(g);
    if size == 0 {
        return;
    }
    // SAFETY: [lo, lo + size) is g's own stack, which nothing uses before g runs (we own
    // g); TSan's mmap interceptor resets the range's shadow while our accesses are
    // ignored. The start frame is rewritten at the same place (`init` is deterministic).
    unsafe {
        (a.ignore_begin)();
        let p = libc::mmap(
            lo as *mut c_void,
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
            -1,
            0,
        );
        (a.ignore_end)();
        if p as usize != lo {
            crate::fatal("cannot map a goroutine stack anew for ThreadSanitizer");
        }
        libc::madvise(p, size, libc::MADV_NOHUGEPAGE);
        let inner = g.inner();
        let base = inner.stack.as_ref().map_or(0, |s| s.base());
        let sp = crate::sched::cswitch::init(base, g.as_ptr());
        if sp != inner.sp {
            crate::fatal("a goroutine's start frame moved");
        }
    }
}

fn g_state(g: crate::sched::g::GRef) -> &'static GState {
    // SAFETY: the caller owns g; the G and its boxed state outlive the runtime (g.rs:
    // G's are never freed, and the box is never replaced once made).
    unsafe {
        let b = g.inner().san.get_or_insert_with(|| {
            Box::new(GState {
                fake: Cell::new(std::ptr::null_mut()),
                fiber: Cell::new(std::ptr::null_mut()),
                ran: Cell::new(false),
            })
        });
        &*(&**b as *const GState)
    }
}

// ---------------------------------------------------------------------------------------
// Goroutine life cycle.

/// A goroutine was made (`newproc`), on the spawner: its TSan fiber inherits the
/// spawner's clock, which is the spawn->start edge.
#[cold]
pub(crate) fn g_created(g: crate::sched::g::GRef) {
    let Some(a) = tsan() else { return };
    let st = g_state(g);
    if st.fiber.get().is_null() {
        // SAFETY: TSan's entry points, called as documented.
        unsafe {
            let f = (a.create_fiber)(0);
            if let Some(set) = a.set_fiber_name {
                let name = format!("goroutine {}\0", g.id());
                set(f, name.as_ptr() as *const libc::c_char);
            }
            st.fiber.set(f);
        }
    }
}

/// A home's goroutines run one at a time on its thread, between pieces of that
/// thread's own code (`gmp_home_run` returns, the program reads what they did, posts
/// more): their switches to and from the thread's loop are ordered, as on one thread.
fn is_home(g: crate::sched::g::GRef) -> bool {
    !g.get()
        .home
        .load(std::sync::atomic::Ordering::Relaxed)
        .is_null()
}

fn fiber_of(a: &Api, g: crate::sched::g::GRef) -> *mut c_void {
    let st = g_state(g);
    if st.fiber.get().is_null() {
        // Made without `g_created` (gmp_main's goroutine): from the current context.
        // SAFETY: TSan's entry point.
        st.fiber.set(unsafe { (a.create_fiber)(0) });
    }
    st.fiber.get()
}

/// A thread's scheduler loop is about to switch to goroutine `g` (`sync`: the switch
/// back from a `gmp_blocking` call, which is ordered).
#[cold]
#[inline(never)]
pub(crate) fn thread_to_g(g: crate::sched::g::GRef, sync: bool) {
    let Some(a) = api() else { return };
    fresh_stack(a, g);
    let (lo, size) = g_stack(g);
    THREAD.with(|t| {
        if state() & TSAN != 0 && t.fiber.get().is_null() {
            // SAFETY: TSan's entry point, on the thread's own context.
            t.fiber.set(unsafe { (a.current_fiber)() });
        }
        // SAFETY: the sanitizers' entry points with the destination stack's bounds.
        unsafe {
            (a.start_switch)(t.fake.as_ptr(), lo as *const c_void, size);
            if state() & TSAN != 0 {
                let flags = if sync || is_home(g) { 0 } else { TSAN_NO_SYNC };
                (a.switch_fiber)(fiber_of(a, g), flags);
            }
        }
    });
}

/// Back on a thread's scheduler loop after a goroutine switched to it with `arg`.
#[cold]
#[inline(never)]
pub(crate) fn back_on_thread(arg: usize) {
    let Some(a) = api() else { return };
    THREAD.with(|t| {
        let (mut lo, mut size) = (std::ptr::null(), 0usize);
        // SAFETY: ASan's entry point with the fake stack saved when we left.
        unsafe { (a.finish_switch)(t.fake.get(), &mut lo, &mut size) };
    });
    left_for_good(a, arg);
}

/// Goroutine `g1` is about to switch to `g2` (or to its thread's loop) with `arg`.
#[cold]
#[inline(never)]
pub(crate) fn g_to(g1: crate::sched::g::GRef, g2: Option<crate::sched::g::GRef>, arg: usize) {
    let Some(a) = api() else { return };
    if let Some(g2) = g2 {
        fresh_stack(a, g2);
    }
    let why = crate::sched::g::decode(arg).map(|(_, w)| w);
    let exit = why == Some(crate::sched::g::Switch::Exit);
    let st = g_state(g1);
    // A goroutine that ends frees its fake stack: NULL save. Its fiber ends with the
    // ignore `in_g` began on its first run closed, as TSan requires.
    let save = if exit {
        if state() & TSAN != 0 {
            // SAFETY: TSan's entry points, on the ending goroutine's fiber.
            unsafe {
                (a.ignore_end)();
                (a.release)(&EXITED as *const u8 as *mut c_void);
            }
        }
        st.fake.set(std::ptr::null_mut());
        st.ran.set(false);
        std::ptr::null_mut()
    } else {
        st.fake.as_ptr()
    };
    // SAFETY: the sanitizers' entry points with the destination's bounds and context;
    // the thread's bounds were learnt when its loop first switched to a goroutine.
    unsafe {
        match g2 {
            Some(g2) => {
                let (lo, size) = g_stack(g2);
                (a.start_switch)(save, lo as *const c_void, size);
                if state() & TSAN != 0 {
                    (a.switch_fiber)(fiber_of(a, g2), TSAN_NO_SYNC);
                }
            }
            None => THREAD.with(|t| {
                (a.start_switch)(save, t.lo.get() as *const c_void, t.size.get());
                if state() & TSAN != 0 {
                    // gmp_blocking's call runs on the thread's context: ordered.
                    let flags = if why == Some(crate::sched::g::Switch::Call) || is_home(g1) {
                        0
                    } else {
                        TSAN_NO_SYNC
                    };
                    (a.switch_fiber)(t.fiber.get(), flags);
                }
            }),
        }
    }
}

/// Goroutine `g` runs again (or for the first time: `first`) after a switch to it with
/// `arg` (0: from its thread's loop).
#[cold]
#[inline(never)]
pub(crate) fn in_g(g: crate::sched::g::GRef, arg: usize, first: bool) {
    let Some(a) = api() else { return };
    let st = g_state(g);
    let (mut lo, mut size) = (std::ptr::null(), 0usize);
    let fake = if first {
        std::ptr::null_mut()
    } else {
        st.fake.get()
    };
    // SAFETY: ASan's entry point with our saved fake stack (none on a first run).
    unsafe { (a.finish_switch)(fake, &mut lo, &mut size) };
    if arg == 0 && !lo.is_null() {
        // From the thread's loop: ASan told us where the thread's stack is.
        THREAD.with(|t| {
            t.lo.set(lo as usize);
            t.size.set(size);
        });
    }
    if first && state() & TSAN != 0 {
        // The library's own code on this goroutine is not the program's (see above).
        // SAFETY: TSan's entry point, on this goroutine's fiber.
        unsafe { (a.ignore_begin)() };
    }
    left_for_good(a, arg);
}

/// The context that switched to us handed over a goroutine that ended: its TSan fiber
/// goes (it can not while it is the current one).
fn left_for_good(a: &Api, arg: usize) {
    if state() & TSAN == 0 {
        return;
    }
    if let Some((g1, crate::sched::g::Switch::Exit)) = crate::sched::g::decode(arg) {
        let st = g_state(g1);
        let f = st.fiber.replace(std::ptr::null_mut());
        if !f.is_null() {
            // SAFETY: g1's fiber, no longer current anywhere: it switched away for good.
            unsafe { (a.destroy_fiber)(f) };
        }
    }
}

/// The sync key every goroutine releases as it ends and `gmp_main` acquires as it
/// returns: the main goroutine's end happens before `gmp_main`'s return, wherever it
/// ended. (Others that ended before are ordered before it too: it can hide a race with
/// them, never invent one.)
static EXITED: u8 = 0;

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

//! The goroutine half of the sanitizer support: what ASan and TSan must hear at each
//! goroutine switch, spawn and end (`sys/sanitizer.rs` has the entry points, the
//! per-thread state and the sync annotations, and the design notes). It reads G's (their
//! stacks, their boxed `GState`, the switch word), so it lives with the scheduler and
//! `sys/` stays below it. Go's race hooks sit in `proc.go` the same way
//! (`racegostart`, `racegoend`).

use std::cell::Cell;
use std::ffi::c_void;

use crate::sys::sanitizer::{Api, EXITED, GState, THREAD, TSAN, TSAN_NO_SYNC, api, state, tsan};

/// A goroutine's stack (lowest address, size): the usable pages above its guard page.
/// Its context starts at `base()`, the top less a cache colour of under a page.
fn g_stack(g: super::g::GRef) -> (usize, usize) {
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
fn fresh_stack(a: &Api, g: super::g::GRef) {
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
        let sp = super::cswitch::init(base, g.as_ptr());
        if sp != inner.sp {
            crate::fatal("a goroutine's start frame moved");
        }
    }
}

fn g_state(g: super::g::GRef) -> &'static GState {
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
pub(crate) fn g_created(g: super::g::GRef) {
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
fn is_home(g: super::g::GRef) -> bool {
    !g.get()
        .home
        .load(std::sync::atomic::Ordering::Relaxed)
        .is_null()
}

fn fiber_of(a: &Api, g: super::g::GRef) -> *mut c_void {
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
pub(crate) fn thread_to_g(g: super::g::GRef, sync: bool) {
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
pub(crate) fn g_to(g1: super::g::GRef, g2: Option<super::g::GRef>, arg: usize) {
    let Some(a) = api() else { return };
    if let Some(g2) = g2 {
        fresh_stack(a, g2);
    }
    let why = super::g::decode(arg).map(|(_, w)| w);
    let exit = why == Some(super::g::Switch::Exit);
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
                    let flags = if why == Some(super::g::Switch::Call) || is_home(g1) {
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
pub(crate) fn in_g(g: super::g::GRef, arg: usize, first: bool) {
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
    if let Some((g1, super::g::Switch::Exit)) = super::g::decode(arg) {
        let st = g_state(g1);
        let f = st.fiber.replace(std::ptr::null_mut());
        if !f.is_null() {
            // SAFETY: g1's fiber, no longer current anywhere: it switched away for good.
            unsafe { (a.destroy_fiber)(f) };
        }
    }
}

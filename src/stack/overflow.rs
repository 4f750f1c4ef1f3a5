//! The stack overflow report: a lock-free registry of slabs the signal handler can read,
//! the SIGSEGV/SIGBUS handler that turns a fault in a guard page into
//! `gmp: goroutine 17 "name": stack overflow (stack 256 KiB)` and aborts (any other
//! fault goes to the previous handler), and the alternate signal stack each thread that
//! runs goroutines needs for it (see `mod.rs`, "Overflow report").

use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use libc::{c_int, c_void};

use super::*;

// ---------------------------------------------------------------------------------------
// Signal-safe slab registry
// ---------------------------------------------------------------------------------------

struct RegEntry {
    /// 0: free (never used, or the slab was unmapped).
    base: AtomicUsize,
    len: AtomicUsize,
    slot_size: AtomicUsize,
}

static REGISTRY: [RegEntry; MAX_SLABS] = [const {
    RegEntry {
        base: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        slot_size: AtomicUsize::new(0),
    }
}; MAX_SLABS];
/// Entries `..REG_COUNT` have been used.
static REG_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Adds a slab (called with the global lock held: one writer). `None` when full.
pub(super) fn registry_add(base: usize, len: usize, slot_size: usize) -> Option<usize> {
    let n = REG_COUNT.load(Ordering::Relaxed);
    let i = (0..n)
        .find(|&i| REGISTRY[i].base.load(Ordering::Relaxed) == 0)
        .or((n < MAX_SLABS).then_some(n))?;
    let e = &REGISTRY[i];
    e.len.store(len, Ordering::Relaxed);
    e.slot_size.store(slot_size, Ordering::Relaxed);
    e.base.store(base, Ordering::Release);
    if i == n {
        REG_COUNT.store(n + 1, Ordering::Release);
    }
    Some(i)
}

pub(super) fn registry_remove(i: usize) {
    REGISTRY[i].base.store(0, Ordering::Release);
}

/// If `addr` is in the guard page of a slot, that slot's usable stack size.
/// Async-signal-safe: atomics only.
fn guard_fault_stack_size(addr: usize) -> Option<usize> {
    let page = crate::sys::PAGE_SIZE.load(Ordering::Relaxed);
    if page == 0 {
        return None;
    }
    let n = REG_COUNT.load(Ordering::Acquire).min(MAX_SLABS);
    for e in &REGISTRY[..n] {
        let base = e.base.load(Ordering::Acquire);
        if base == 0 || addr < base {
            continue;
        }
        let len = e.len.load(Ordering::Relaxed);
        let slot = e.slot_size.load(Ordering::Relaxed);
        if slot <= page || addr - base >= len {
            continue;
        }
        // The entry may have been reused while we read it.
        if e.base.load(Ordering::Acquire) != base {
            continue;
        }
        return ((addr - base) % slot < page).then_some(slot - page);
    }
    None
}

// ---------------------------------------------------------------------------------------
// Overflow handler
// ---------------------------------------------------------------------------------------

/// The scheduler's describer of the current goroutine (a `fn(&mut [u8]) -> usize`).
pub(super) static DESCRIBER: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Registers `f` to describe the current goroutine in an overflow report: it writes e.g.
/// `goroutine 17 "name"` or `goroutine 17` into the buffer and returns the length. It runs
/// in a signal handler: no allocation, no locks, no `std::fmt`; if it panics, the
/// process aborts.
pub(crate) fn set_fault_describer(f: fn(&mut [u8]) -> usize) {
    DESCRIBER.store(f as *mut (), Ordering::Release);
}

/// The scheduler's reader of the running goroutine's stack bounds (a `fn() -> (usize,
/// usize)`: the slot's lowest address and its usable size, or (0, 0)). Signal handler
/// only: atomics and plain reads.
static BOUNDS: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Registers `f` to give the running goroutine's stack (see [`BOUNDS`]).
pub(crate) fn set_fault_bounds(f: fn() -> (usize, usize)) {
    BOUNDS.store(f as *mut (), Ordering::Release);
}

/// How far below its stack a frame may move the stack pointer and still be reported as
/// an overflow of that stack (a C frame of up to this size).
const MAX_FRAME: usize = 64 << 20;

/// A fault taken while the stack pointer lies in the running goroutine's guard page or
/// below it (a frame larger than the guard page jumped over it): that stack's usable
/// size. The fault itself may be anywhere: in the guard, below it, or where the frame's
/// first store landed.
fn sp_overflow_stack_size(ctx: *mut c_void) -> Option<usize> {
    let f = BOUNDS.load(Ordering::Acquire);
    if f.is_null() || ctx.is_null() {
        return None;
    }
    // SAFETY: BOUNDS only ever holds a `fn() -> (usize, usize)` (set_fault_bounds).
    let f = unsafe { std::mem::transmute::<*mut (), fn() -> (usize, usize)>(f) };
    let (lo, size) = f();
    if lo == 0 {
        return None;
    }
    // SAFETY: the kernel passes the interrupted context as a ucontext_t.
    let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
    #[cfg(target_arch = "x86_64")]
    let sp = uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize;
    #[cfg(target_arch = "aarch64")]
    let sp = uc.uc_mcontext.sp as usize;
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let sp = {
        let _ = uc;
        usize::MAX
    };
    let guard_top = lo + crate::sys::PAGE_SIZE.load(Ordering::Relaxed);
    (sp < guard_top && sp.saturating_add(MAX_FRAME) > lo).then_some(size)
}

fn report_overflow(stack_size: usize) -> ! {
    let mut buf = [0u8; 256];
    let mut w = crate::util::BufWriter::new(&mut buf);
    w.put(b"gmp: ");
    let d = DESCRIBER.load(Ordering::Acquire);
    if d.is_null() {
        w.put(b"goroutine ?");
    } else {
        // SAFETY: DESCRIBER only ever holds a `fn(&mut [u8]) -> usize` stored by
        // set_fault_describer.
        let f = unsafe { std::mem::transmute::<*mut (), fn(&mut [u8]) -> usize>(d) };
        let room = &mut w.spare()[..160];
        let k = f(room).min(160);
        w.advance(k);
    }
    w.put(b": stack overflow (stack ");
    w.put_u64((stack_size / 1024) as u64);
    w.put(b" KiB)\n");
    crate::util::write_stderr(w.as_bytes());
    // SAFETY: abort is async-signal-safe and does not return.
    unsafe { libc::abort() }
}

/// The previous disposition of SIGSEGV / SIGBUS.
struct PrevAction {
    set: AtomicBool,
    act: UnsafeCell<MaybeUninit<libc::sigaction>>,
}

// SAFETY: `act` is written once (in install_handlers, inside the Once of
// install_overflow_handler) before `set` is stored with Release, and read only after `set`
// is loaded with Acquire.
unsafe impl Sync for PrevAction {}

static PREV: [PrevAction; 2] = [const {
    PrevAction {
        set: AtomicBool::new(false),
        act: UnsafeCell::new(MaybeUninit::uninit()),
    }
}; 2];

extern "C" fn on_fault(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    if !info.is_null() {
        // SAFETY: the kernel passes a valid siginfo_t; si_addr is meaningful for a
        // kernel-generated SIGSEGV/SIGBUS (si_code > 0), which we check first.
        let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
        if code > 0 {
            if let Some(size) = guard_fault_stack_size(addr) {
                report_overflow(size);
            }
            if let Some(size) = sp_overflow_stack_size(ctx) {
                report_overflow(size);
            }
        }
    }
    chain(sig, info, ctx);
}

/// Passes a fault that is not a stack overflow to the previous handler.
fn chain(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let prev = match sig {
        libc::SIGSEGV => &PREV[0],
        libc::SIGBUS => &PREV[1],
        _ => return,
    };
    let (handler, flags) = if prev.set.load(Ordering::Acquire) {
        // SAFETY: initialized before `set` was released (see PrevAction).
        let act = unsafe { (*prev.act.get()).assume_init_ref() };
        (act.sa_sigaction, act.sa_flags)
    } else {
        (libc::SIG_DFL, 0)
    };
    if handler == libc::SIG_IGN {
        // A real fault re-executes, and the kernel forces the default action when the
        // signal is ignored; a sent signal is ignored as asked.
        return;
    }
    if handler == libc::SIG_DFL {
        // SAFETY: resets the disposition with a zeroed (valid) sigaction; both calls are
        // async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, ptr::null_mut());
            // A fault re-faults on return; a signal someone sent is raised again
            // (pending until the handler returns, as it is blocked in the handler).
            if info.is_null() || (*info).si_code <= 0 {
                libc::raise(sig);
            }
        }
        return;
    }
    if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous action declared SA_SIGINFO, so its handler has this type.
        let f = unsafe {
            std::mem::transmute::<usize, extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void)>(
                handler,
            )
        };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler is a plain `void (*)(int)`.
        let f = unsafe { std::mem::transmute::<usize, extern "C" fn(c_int)>(handler) };
        f(sig);
    }
}

/// Installs the SIGSEGV/SIGBUS handler that reports guard-page faults as stack overflows
/// (once per process; later calls do nothing but [`ensure_altstack`] for the caller).
pub(crate) fn install_overflow_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(install_handlers);
    ensure_altstack();
}

/// The body of [`install_overflow_handler`]'s once (tests run it again in a forked,
/// single-threaded child). A previous action that is our own handler is not recorded,
/// so chaining can never loop.
pub(super) fn install_handlers() {
    page_size();
    let handler: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = on_fault;
    let ours = handler as usize;
    for (sig, prev) in [(libc::SIGSEGV, &PREV[0]), (libc::SIGBUS, &PREV[1])] {
        // SAFETY: a zeroed sigaction is valid; we fill in handler, flags and mask. The
        // previous action is stored before `set` is released; it is written only here,
        // once per process (or in a single-threaded child), so no handler reads it while
        // it is written.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = ours;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &sa, &mut old) == 0 && old.sa_sigaction != ours {
                (*prev.act.get()).write(old);
                prev.set.store(true, Ordering::Release);
            }
        }
    }
}

/// This thread's alternate signal stack, if we mapped it.
struct AltStack {
    checked: Cell<bool>,
    map: Cell<usize>,
    len: Cell<usize>,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let map = self.map.get();
        if map == 0 {
            return;
        }
        let page = page_size();
        // SAFETY: query then disable the altstack only if it is still ours, then unmap
        // our mapping; this thread is exiting and runs no more goroutines.
        unsafe {
            let mut cur: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(ptr::null(), &mut cur) == 0 && cur.ss_sp as usize == map + page {
                let off = libc::stack_t {
                    ss_sp: ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: ALTSTACK_SIZE,
                };
                libc::sigaltstack(&off, ptr::null_mut());
            } else if cur.ss_sp as usize == map + page {
                return; // could not disable it: keep the memory mapped
            }
            libc::munmap(map as *mut c_void, self.len.get());
        }
    }
}

thread_local! {
    static ALTSTACK: AltStack = const {
        AltStack { checked: Cell::new(false), map: Cell::new(0), len: Cell::new(0) }
    };
}

/// Gives the calling thread an alternate signal stack (64 KiB, with a guard page) unless
/// it has one already; idempotent. Call on every thread that runs goroutines, before the
/// first one: a stack overflow leaves no room on the goroutine stack for the handler.
pub(crate) fn ensure_altstack() {
    let _ = ALTSTACK.try_with(|a| {
        if a.checked.get() {
            return;
        }
        a.checked.set(true);
        // SAFETY: queries the current altstack into a valid stack_t.
        let has = unsafe {
            let mut cur: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(ptr::null(), &mut cur) == 0 && cur.ss_flags & libc::SS_DISABLE == 0
        };
        if has {
            return;
        }
        let page = page_size();
        let len = ALTSTACK_SIZE + page;
        // SAFETY: a fresh private anonymous mapping.
        let map = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return;
        }
        // SAFETY: the lowest page of our own mapping becomes its guard; then the rest is
        // registered as this thread's altstack; on failure we unmap what we mapped.
        unsafe {
            if libc::madvise(map, page, MADV_GUARD_INSTALL) != 0 {
                libc::mprotect(map, page, libc::PROT_NONE);
            }
            let st = libc::stack_t {
                ss_sp: map.cast::<u8>().add(page).cast(),
                ss_flags: 0,
                ss_size: ALTSTACK_SIZE,
            };
            if libc::sigaltstack(&st, ptr::null_mut()) != 0 {
                libc::munmap(map, len);
                return;
            }
        }
        a.map.set(map as usize);
        a.len.set(len);
    });
}

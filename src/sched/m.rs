//! M: an OS thread that runs goroutines when it holds a P. Runtime-created M's are named
//! `gmp-mN` and block asynchronous signals (API.md "Signals"); the thread that calls
//! `gmp_main` becomes an M for its main goroutine only, while that runs there or is locked
//! there (Go's m0, which serves any goroutine: see `proc::serve_main`).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

use super::g::{G, GRef};
use super::p::P;
use crate::sys::futex;

pub(crate) struct M {
    pub(crate) id: i64,
    /// Go's `m.park` note: 1 once woken; the M sleeps while it is 0.
    note: AtomicU32,
    /// The P it holds, or null. Written only by this M (acquirep/releasep); read by
    /// others for dumps.
    pub(crate) p: AtomicPtr<P>,
    /// A P handed to it by `startm`/`startlockedm` before waking it.
    pub(crate) nextp: AtomicPtr<P>,
    pub(crate) spinning: AtomicBool,
    /// The G it runs now, or null (dumps).
    pub(crate) curg: AtomicPtr<G>,
    /// The G locked to it (LockOSThread), or null.
    pub(crate) lockedg: AtomicPtr<G>,
    /// The gmp_main caller: not created by the runtime, never exits through the runtime.
    pub(crate) foreign: bool,
    /// Sleeping in `sleep` (schedtrace's `blocked`).
    pub(crate) blocked: AtomicBool,
    /// Tracing: when the current goroutine's slice on this M's P began (0: no slice
    /// open, e.g. inside a syscall section, whose P may run others meanwhile).
    pub(crate) trace_t0: std::sync::atomic::AtomicI64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct MRef(pub(crate) NonNull<M>);
// SAFETY: M's are leaked and live until shutdown; shared fields are atomics.
unsafe impl Send for MRef {}
// SAFETY: as above.
unsafe impl Sync for MRef {}

impl MRef {
    pub(crate) fn get(&self) -> &'static M {
        // SAFETY: M's are leaked boxes, never freed while the runtime runs.
        unsafe { &*self.0.as_ptr() }
    }
}

impl M {
    pub(crate) fn alloc(id: i64, foreign: bool) -> MRef {
        let m = Box::new(M {
            id,
            note: AtomicU32::new(0),
            p: AtomicPtr::new(std::ptr::null_mut()),
            nextp: AtomicPtr::new(std::ptr::null_mut()),
            spinning: AtomicBool::new(false),
            curg: AtomicPtr::new(std::ptr::null_mut()),
            lockedg: AtomicPtr::new(std::ptr::null_mut()),
            foreign,
            blocked: AtomicBool::new(false),
            trace_t0: std::sync::atomic::AtomicI64::new(0),
        });
        MRef(NonNull::from(Box::leak(m)))
    }

    /// Go's `notesleep(&m.park)` + `noteclear`: sleeps until [`M::wakeup`].
    pub(crate) fn sleep(&self) {
        self.blocked.store(true, Ordering::Relaxed);
        while self.note.load(Ordering::Acquire) == 0 {
            futex::wait(&self.note, 0, -1);
        }
        self.blocked.store(false, Ordering::Relaxed);
        self.note.store(0, Ordering::Relaxed);
    }

    /// Go's `notewakeup(&m.park)`.
    pub(crate) fn wakeup(&self) {
        self.note.store(1, Ordering::Release);
        futex::wake(&self.note, 1);
    }

    pub(crate) fn p(&self) -> Option<&'static P> {
        // SAFETY: P's live until shutdown (allp never frees them).
        unsafe { self.p.load(Ordering::Relaxed).as_ref() }
    }

    pub(crate) fn lockedg(&self) -> Option<GRef> {
        NonNull::new(self.lockedg.load(Ordering::Relaxed)).map(GRef)
    }
}

/// The M of this thread, or None on a foreign thread. Read again after switch points.
#[inline]
pub(crate) fn current() -> Option<MRef> {
    NonNull::new(super::g::ctx().m.get()).map(MRef)
}

pub(crate) fn set_current(m: Option<MRef>) {
    super::g::ctx()
        .m
        .set(m.map_or(std::ptr::null_mut(), |m| m.0.as_ptr()));
}

/// What a thread the runtime starts does (`gmp_config.on_thread_start`'s role).
#[derive(Clone, Copy)]
pub(crate) enum ThreadRole {
    /// An M (GMP_THREAD_WORKER).
    Worker = 1,
    /// sysmon (GMP_THREAD_SYSMON).
    Sysmon = 2,
}

/// The program's thread callbacks from `gmp_init` (`ctx` as an address, so the static
/// is Sync).
#[derive(Clone, Copy)]
pub(crate) struct ThreadHooks {
    pub(crate) start: gmp_sys::types::gmp_thread_fn,
    pub(crate) stop: gmp_sys::types::gmp_thread_fn,
    pub(crate) ctx: usize,
}

static THREAD_HOOKS: crate::sys::mutex::Mutex<Option<ThreadHooks>> =
    crate::sys::mutex::Mutex::new(crate::sys::mutex::Rank::ThreadHooks, None);

/// Records the thread callbacks (`gmp_init`, before the runtime starts threads).
pub(crate) fn set_thread_hooks(h: ThreadHooks) {
    *THREAD_HOOKS.lock() = Some(h);
}

fn call_thread_hook(
    which: fn(&ThreadHooks) -> gmp_sys::types::gmp_thread_fn,
    role: ThreadRole,
    index: i32,
) {
    let hooks = *THREAD_HOOKS.lock();
    if let Some(h) = hooks {
        if let Some(f) = which(&h) {
            // SAFETY: the program's callback with its own context (API.md: it returns
            // and does not unwind).
            unsafe { f(role as libc::c_int, index, h.ctx as *mut libc::c_void) }
        }
    }
}

/// Starts an OS thread for `m` that runs `body`. Asynchronous signals are blocked in the
/// new thread (it inherits the mask set around the spawn). The program's
/// `on_thread_start` runs on it first and `on_thread_stop` last.
pub(crate) fn spawn_thread(
    role: ThreadRole,
    index: i32,
    name: String,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // SAFETY: sigset_t is plain data; the calls only read/write the sets we pass.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        for s in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGABRT,
        ] {
            libc::sigdelset(&mut all, s);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    };
    let r = std::thread::Builder::new()
        .name(name)
        .stack_size(8 << 20)
        .spawn(move || {
            // The runtime's own code, not the program's (sys/sanitizer.rs).
            let _tsan = crate::sys::sanitizer::Ignore::new();
            call_thread_hook(|h| h.start, role, index);
            body();
            call_thread_hook(|h| h.stop, role, index);
        });
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    r
}

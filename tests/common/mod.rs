//! Helpers shared by the integration tests: thin `Sync` wrappers over the C sync types,
//! a file-wide serialisation lock, a hang detector, and goroutine spawn shortcuts.
//!
//! Every test *file* is its own process with its own runtime; the tests inside one file
//! share it, so most files take [`serial`] first (gmp_main allows one caller at a time,
//! and goroutine counts would mix).

#![allow(dead_code)]

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::time::{Duration, Instant};

use gmp::ffi::goroutine::*;
use gmp::ffi::home::*;
use gmp::ffi::runtime::*;
use gmp::ffi::sync::*;
use gmp::ffi::*;

mod watchdog;
pub use watchdog::*;

/// Whether the long variants run (GMP_STRESS=1).
pub fn stress() -> bool {
    std::env::var("GMP_STRESS").is_ok_and(|v| v != "0" && !v.is_empty())
}

/// `normal` normally, `long` under GMP_STRESS=1.
pub fn scale(normal: usize, long: usize) -> usize {
    if stress() { long } else { normal }
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held by a running test: the file-wide lock, and a hang detector that aborts the
/// process if the test runs for more than 120 s (600 s under GMP_STRESS).
pub struct Serial {
    _wd: Watchdog,
    _g: std::sync::MutexGuard<'static, ()>,
}

/// Makes a panic inside a goroutine (or on a runtime thread) print its message straight
/// to fd 2. By default libtest captures what a panic prints on threads a test spawned,
/// the runtime's M threads included, and the runtime then aborts ("a goroutine
/// panicked"), so the assertion message would be lost.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let runtime_thread = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("gmp-"));
            if gmp_self() != 0 || runtime_thread {
                let msg = format!("goroutine {} {info}\n", gmp_self());
                // SAFETY: writes our own buffer to stderr.
                unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
            } else {
                default(info);
            }
        }));
    });
}

/// Serialises the tests of one file (they share the process-global runtime), and
/// aborts the process with a message if the test hangs.
pub fn serial() -> Serial {
    install_panic_hook();
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = std::thread::current().name().unwrap_or("test").to_owned();
    let limit = Duration::from_secs(if stress() { 600 } else { 120 });
    Serial {
        _wd: Watchdog::new(Box::leak(name.into_boxed_str()), limit),
        _g: g,
    }
}

/// Runs `f` as the main goroutine (gmp_main) on this thread; asserts it returned 0.
pub fn gmain(f: impl FnOnce() + Send + 'static) {
    let rc = gmp::rt::main(f);
    assert_eq!(rc, 0, "gmp_main returned {rc}");
}

/// Starts a goroutine; panics if it cannot.
pub fn go(f: impl FnOnce() + Send + 'static) -> u64 {
    install_panic_hook();
    gmp::rt::go(f).unwrap_or_else(|e| panic!("gmp go failed: {e}"))
}

pub fn now() -> i64 {
    gmp_now()
}

pub fn sleep_ns(ns: i64) {
    assert_eq!(gmp_sleep(ns), 0);
}

pub fn ms(n: i64) -> i64 {
    n * 1_000_000
}

pub fn gettid() -> i64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Polls `cond` every millisecond (from a goroutine: a gmp sleep; from a thread: an OS
/// sleep) until it holds. A hang detector, not a timing assertion: panics after 60 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > Duration::from_secs(60) {
            panic!("hang: still waiting for {what} after 60 s");
        }
        if gmp_self() != 0 {
            gmp_sleep(1_000_000);
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sync wrappers: the C structs in an UnsafeCell (the library mutates them through the
// pointer), shareable across goroutines and threads.

macro_rules! wrapper {
    ($name:ident, $c:ident, $n:expr) => {
        #[repr(transparent)]
        pub struct $name(UnsafeCell<$c>);
        // SAFETY: the library accesses the struct only atomically; sharing it is the point.
        unsafe impl Sync for $name {}
        // SAFETY: as above.
        unsafe impl Send for $name {}
        impl $name {
            pub fn new() -> Self {
                $name(UnsafeCell::new($c { _opaque: [0; $n] }))
            }
            pub fn ptr(&self) -> *mut $c {
                self.0.get()
            }
            /// The raw state words (for checking that nothing wrote to a dead object).
            pub fn words(&self) -> [u64; $n] {
                // SAFETY: a plain read of our own memory; tests call it when quiescent.
                unsafe { std::ptr::read_volatile(self.0.get()) }._opaque
            }
            pub fn set_words(&self, w: [u64; $n]) {
                // SAFETY: as above.
                unsafe { std::ptr::write_volatile(self.0.get(), $c { _opaque: w }) }
            }
        }
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

wrapper!(Mutex, gmp_mutex, 2);
wrapper!(RwMutex, gmp_rwmutex, 4);
wrapper!(WaitGroup, gmp_waitgroup, 4);
wrapper!(Once, gmp_once, 2);
wrapper!(Cond, gmp_cond, 4);

impl Mutex {
    pub fn lock(&self) -> i32 {
        // SAFETY: a live mutex.
        unsafe { gmp_mutex_lock(self.ptr()) }
    }
    pub fn trylock(&self) -> i32 {
        // SAFETY: a live mutex.
        unsafe { gmp_mutex_trylock(self.ptr()) }
    }
    pub fn unlock(&self) -> i32 {
        // SAFETY: a live mutex.
        unsafe { gmp_mutex_unlock(self.ptr()) }
    }
}

impl RwMutex {
    pub fn rlock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_rlock(self.ptr()) }
    }
    pub fn tryrlock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_tryrlock(self.ptr()) }
    }
    pub fn runlock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_runlock(self.ptr()) }
    }
    pub fn lock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_lock(self.ptr()) }
    }
    pub fn trylock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_trylock(self.ptr()) }
    }
    pub fn unlock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_unlock(self.ptr()) }
    }
}

impl WaitGroup {
    pub fn with(n: i64) -> Self {
        let w = WaitGroup::new();
        assert_eq!(w.add(n), 0);
        w
    }
    pub fn add(&self, n: i64) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_add(self.ptr(), n) }
    }
    pub fn done(&self) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_done(self.ptr()) }
    }
    pub fn wait(&self) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_wait(self.ptr()) }
    }
}

impl Cond {
    pub fn wait(&self, mu: &Mutex) -> i32 {
        // SAFETY: live objects.
        unsafe { gmp_cond_wait(self.ptr(), mu.ptr()) }
    }
    pub fn wait_timeout(&self, mu: &Mutex, ns: i64) -> i32 {
        // SAFETY: live objects.
        unsafe { gmp_cond_wait_timeout(self.ptr(), mu.ptr(), ns) }
    }
    pub fn signal(&self) -> i32 {
        // SAFETY: a live cond.
        unsafe { gmp_cond_signal(self.ptr()) }
    }
    pub fn broadcast(&self) -> i32 {
        // SAFETY: a live cond.
        unsafe { gmp_cond_broadcast(self.ptr()) }
    }
}

type BoxedFn = Box<dyn FnOnce() + Send + 'static>;

unsafe extern "C" fn call_boxed(arg: *mut c_void) {
    // SAFETY: `arg` is a Box<BoxedFn> leaked by `into_arg`, called exactly once.
    let f = unsafe { Box::from_raw(arg as *mut BoxedFn) };
    f()
}

/// A C entry point and argument that run `f` once.
pub fn c_closure(f: impl FnOnce() + Send + 'static) -> (gmp_fn, *mut c_void) {
    let b: Box<BoxedFn> = Box::new(Box::new(f));
    (Some(call_boxed), Box::into_raw(b) as *mut c_void)
}

/// `gmp_go_home` with a closure; returns the code (the closure leaks on failure).
pub fn go_home(h: *mut gmp_home, f: impl FnOnce() + Send + 'static) -> i32 {
    let (fnp, arg) = c_closure(f);
    // SAFETY: a live home (or NULL, which the library rejects).
    let rc = unsafe { gmp_go_home(h, std::ptr::null(), fnp, arg) };
    if rc != 0 {
        // SAFETY: the closure was not taken by the library; free it.
        drop(unsafe { Box::from_raw(arg as *mut BoxedFn) });
    }
    rc
}

/// A home handle that can be sent to other threads (the library allows that).
#[derive(Clone, Copy)]
pub struct HomePtr(pub *mut gmp_home);
// SAFETY: gmp_go_home, gmp_home_wake and gmp_home_close may be called from any thread.
unsafe impl Send for HomePtr {}
// SAFETY: as above.
unsafe impl Sync for HomePtr {}

/// Whether `fd` is readable right now (poll with a zero timeout).
pub fn readable(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    assert!(n >= 0, "poll failed");
    n == 1 && p.revents & libc::POLLIN != 0
}

/// Thread ids of this process (/proc/self/task).
pub fn task_ids() -> Vec<i64> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// gmp_read_stats with the full struct.
pub fn stats() -> gmp_stats {
    let mut s = gmp_stats {
        size: std::mem::size_of::<gmp_stats>(),
        ..Default::default()
    };
    // SAFETY: a writable struct with its size set.
    assert_eq!(unsafe { gmp_read_stats(&mut s) }, 0);
    s
}

/// Keeps the borrow checker out of the way of a shared raw counter (tests use it under a
/// gmp mutex, to check mutual exclusion).
pub struct Racy<T>(pub UnsafeCell<T>);
// SAFETY: accesses are serialised by the lock under test; a failure of that lock is
// exactly what the test looks for.
unsafe impl<T> Sync for Racy<T> {}
impl<T> Racy<T> {
    pub fn new(v: T) -> Self {
        Racy(UnsafeCell::new(v))
    }
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get(&self) -> &mut T {
        // SAFETY: the caller holds the lock that serialises access.
        unsafe { &mut *self.0.get() }
    }
}

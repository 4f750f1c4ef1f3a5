//! The helpers of the integration tests, one copy for all of them. Every test file
//! starts with `mod support; use support::*;` (cargo's convention: a directory under
//! `tests/` is not a test target of its own). The sanity tests of these helpers live in
//! `tests/support_selftest.rs`.
//!
//! - this file: environment knobs (GMP_STRESS, GMP_SOAK), the per-file [`serial`] lock
//!   with its hang detector, goroutine shortcuts, time units, polling, stats, small
//!   shared-state types ([`Racy`], [`Flag`], [`Rng`], [`Bitmap`]);
//! - [`sync`]: `Sync` wrappers over the C sync types (mutex, rwmutex, waitgroup, once, cond);
//! - [`join`]: goroutines and threads whose panic reaches their joiner;
//! - [`watchdog`]: the hang detector;
//! - [`child`]: re-running this test binary as a child process in a role;
//! - [`chan`]: channel handles and select cases;
//! - [`net`]: sockets, pipes and the gmp fd calls;
//! - [`fault`]: rlimits, descriptor exhaustion, /proc;
//! - [`diag`]: the goroutine dump as a string, busy-waiting, runtime init.
//!
//! Every test *file* is its own process with its own runtime (under `cargo nextest`
//! every test is); the tests inside one file may share it, so most take [`serial`] first
//! (gmp_main allows one caller at a time, and goroutine counts would mix).

#![allow(dead_code, unused_imports)]

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use gmp::ffi::chan::*;
pub use gmp::ffi::goroutine::*;
pub use gmp::ffi::home::*;
pub use gmp::ffi::netpoll::*;
pub use gmp::ffi::runtime::*;
pub use gmp::ffi::sync::*;
pub use gmp::ffi::types::*;

pub mod chan;
pub mod child;
pub mod diag;
pub mod fault;
pub mod hooks;
pub mod join;
pub mod net;
pub mod sync;
pub mod watchdog;

pub use chan::*;
pub use child::*;
pub use diag::*;
pub use fault::*;
pub use hooks::*;
pub use join::*;
pub use net::*;
pub use sync::*;
pub use watchdog::*;

pub const MS: i64 = 1_000_000;
pub const US: i64 = 1_000;

/// Whether the long variants run (GMP_STRESS=1).
pub fn stress() -> bool {
    flag_env("GMP_STRESS")
}

/// Whether the long soak variants run (GMP_SOAK=1).
pub fn soak() -> bool {
    flag_env("GMP_SOAK")
}

fn flag_env(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
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

/// Starts a goroutine with a name (shown by the dump); panics if it cannot.
pub fn go_named(name: &str, f: impl FnOnce() + Send + 'static) -> u64 {
    install_panic_hook();
    let c = std::ffi::CString::new(name).unwrap();
    gmp::rt::go_named(&c, 0, f).unwrap_or_else(|e| panic!("gmp go failed: {e}"))
}

/// Whether the caller is a goroutine.
pub fn in_goroutine() -> bool {
    gmp_self() != 0
}

pub fn now() -> i64 {
    gmp_now()
}

/// Sleeps the caller: a gmp sleep in a goroutine, an OS sleep on a foreign thread (both
/// through gmp_sleep).
pub fn sleep(ns: i64) {
    assert_eq!(gmp_sleep(ns), 0);
}

pub fn ms(n: i64) -> i64 {
    n * MS
}

pub fn gettid() -> i64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Polls `cond` every millisecond (from a goroutine: a gmp sleep; from a thread: an OS
/// sleep) until it holds. A hang detector, not a timing assertion: panics after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            panic!("hang: still waiting for {what} after {limit:?}");
        }
        if gmp_self() != 0 {
            gmp_sleep(MS);
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// [`wait_until`] with a 60 s limit.
pub fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_until(what, Duration::from_secs(60), cond)
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

/// Thread ids of this process (/proc/self/task).
pub fn task_ids() -> Vec<i64> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Closures through the C entry points

type BoxedFn = Box<dyn FnOnce() + Send + 'static>;

unsafe extern "C" fn call_boxed(arg: *mut c_void) {
    // SAFETY: `arg` is a Box<BoxedFn> leaked by `c_closure`, called exactly once.
    let f = unsafe { Box::from_raw(arg as *mut BoxedFn) };
    f()
}

/// A C entry point and argument that run `f` once (for gmp_go_home, gmp_blocking...).
pub fn c_closure(f: impl FnOnce() + Send + 'static) -> (gmp_fn, *mut c_void) {
    let b: Box<BoxedFn> = Box::new(Box::new(f));
    (Some(call_boxed), Box::into_raw(b) as *mut c_void)
}

/// `gmp_blocking` with a closure; returns its code.
#[must_use]
pub fn blocking(f: impl FnOnce() + Send + 'static) -> i32 {
    let (fnp, arg) = c_closure(f);
    gmp_blocking(fnp, arg)
}

/// `gmp_go_home` with a closure; returns the code (the closure is freed on failure).
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

// ---------------------------------------------------------------------------------------
// Shared state

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

/// A flag for "this happened", readable from anywhere.
#[derive(Default)]
pub struct Flag(AtomicBool);

impl Flag {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A small deterministic PRNG (xorshift64*) for test variety, seeded per test.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A fixed-size bitmap of atomics: `set` reports whether the bit was already set.
pub struct Bitmap(Vec<AtomicU64>, usize);

impl Bitmap {
    pub fn new(bits: usize) -> Bitmap {
        Bitmap(
            (0..bits.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            bits,
        )
    }
    /// The number of bits.
    pub fn bits(&self) -> usize {
        self.1
    }
    /// Sets bit `i`; true if it was already set.
    pub fn set(&self, i: usize) -> bool {
        let m = 1u64 << (i % 64);
        self.0[i / 64].fetch_or(m, Ordering::Relaxed) & m != 0
    }
    pub fn get(&self, i: usize) -> bool {
        self.0[i / 64].load(Ordering::Relaxed) & (1u64 << (i % 64)) != 0
    }
    pub fn count(&self) -> usize {
        self.0
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones() as usize)
            .sum()
    }
    /// The first index where the two differ.
    pub fn first_diff(&self, o: &Bitmap) -> Option<usize> {
        for (k, (a, b)) in self.0.iter().zip(&o.0).enumerate() {
            let d = a.load(Ordering::Relaxed) ^ b.load(Ordering::Relaxed);
            if d != 0 {
                return Some(k * 64 + d.trailing_zeros() as usize);
            }
        }
        None
    }
}

//! Helpers shared by the channel, select and timer-channel tests (`tests/chan_*.rs`,
//! `tests/select_*.rs`, `tests/timer_chan.rs`), included by each of them with
//! `#[path = "chan_util.rs"] mod util;`. Cargo also builds this file as a test target of
//! its own, which has a single sanity test.
//!
//! - [`Ch`]: a `Send + Sync` handle over `*mut gmp_chan` with typed send/recv.
//! - [`spawn`] / [`Joiner`]: a goroutine whose panic is carried back to whoever joins it
//!   (a panicking goroutine otherwise aborts the process with no message of ours).
//! - [`thread`]: a foreign (non-runtime) OS thread, joined the same way.
//! - [`Watchdog`]: aborts the process, with a message, if a test hangs (a hang detector;
//!   nothing here asserts on elapsed time except "not earlier than").

#![allow(dead_code)]

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use gmp::ffi::chan::*;
pub use gmp::ffi::goroutine::*;
pub use gmp::ffi::runtime::*;
#[allow(unused_imports)] // for the tests that include this file
pub use gmp::ffi::sync::*;
pub use gmp::ffi::types::*;

#[path = "common/join.rs"]
mod join;
pub use join::*;

/// Whether the long variants run (GMP_STRESS=1).
pub fn stress() -> bool {
    std::env::var("GMP_STRESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `normal` normally, `long` under GMP_STRESS=1.
pub fn scale(normal: usize, long: usize) -> usize {
    if stress() { long } else { normal }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests of one file: they share the process-global runtime, and the
/// machine is small; timing checks ("never early") do not care, but CPU does.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn now() -> i64 {
    gmp_now()
}

pub const MS: i64 = 1_000_000;
pub const US: i64 = 1_000;

/// Sleeps the caller: a gmp sleep in a goroutine, an OS sleep on a foreign thread (both
/// work through gmp_sleep, which this uses everywhere).
pub fn sleep(ns: i64) {
    assert_eq!(gmp_sleep(ns), 0);
}

/// Whether the caller is a goroutine.
pub fn in_goroutine() -> bool {
    gmp_self() != 0
}

// ---------------------------------------------------------------------------------------
// Channels

/// A channel handle that may cross goroutines and threads (the library allows any
/// thread to use a channel it holds a reference to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ch(pub *mut gmp_chan);
// SAFETY: every gmp_chan_* call may be made from any thread.
unsafe impl Send for Ch {}
// SAFETY: as above.
unsafe impl Sync for Ch {}

impl Ch {
    pub const NULL: Ch = Ch(std::ptr::null_mut());

    /// The raw handle. Use this rather than `.0` inside closures: edition 2024 closures
    /// capture the field alone, and a raw pointer is not `Send`.
    pub fn p(self) -> *mut gmp_chan {
        self.0
    }

    /// `gmp_chan_make`, asserting success.
    pub fn new(elem_size: usize, cap: usize) -> Ch {
        let mut c = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        let rc = unsafe { gmp_chan_make(&mut c, elem_size, cap) };
        assert_eq!(rc, 0, "gmp_chan_make({elem_size}, {cap})");
        assert!(!c.is_null());
        Ch(c)
    }

    /// A channel of `T` (its size) with capacity `cap`.
    pub fn of<T>(cap: usize) -> Ch {
        Ch::new(std::mem::size_of::<T>(), cap)
    }

    pub fn send<T: Copy>(self, v: T) -> i32 {
        // SAFETY: a live channel of T; the value lives across the call.
        unsafe { gmp_chan_send(self.0, (&v as *const T).cast()) }
    }

    pub fn send_t<T: Copy>(self, v: T, timeout: i64) -> i32 {
        // SAFETY: as above.
        unsafe { gmp_chan_send_timeout(self.0, (&v as *const T).cast(), timeout) }
    }

    pub fn try_send<T: Copy>(self, v: T) -> i32 {
        self.send_t(v, 0)
    }

    /// Receives a `T`; the value is `fill` when nothing was written.
    pub fn recv_fill<T: Copy>(self, fill: T, timeout: i64) -> (i32, T) {
        let mut v = fill;
        // SAFETY: a live channel of T; `v` is writable for size_of::<T>() bytes.
        let rc = unsafe { gmp_chan_recv_timeout(self.0, (&mut v as *mut T).cast(), timeout) };
        (rc, v)
    }

    pub fn recv<T: Copy + Default>(self) -> (i32, T) {
        self.recv_fill(T::default(), -1)
    }

    pub fn recv_t<T: Copy + Default>(self, timeout: i64) -> (i32, T) {
        self.recv_fill(T::default(), timeout)
    }

    pub fn try_recv<T: Copy + Default>(self) -> (i32, T) {
        self.recv_fill(T::default(), 0)
    }

    /// Receive, asserting success.
    pub fn get<T: Copy + Default>(self) -> T {
        let (rc, v) = self.recv::<T>();
        assert_eq!(rc, 0, "recv");
        v
    }

    /// Send, asserting success.
    pub fn put<T: Copy>(self, v: T) {
        assert_eq!(self.send(v), 0, "send");
    }

    pub fn close(self) -> i32 {
        gmp_chan_close(self.0)
    }

    pub fn len(self) -> i64 {
        gmp_chan_len(self.0)
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn cap(self) -> i64 {
        gmp_chan_cap(self.0)
    }

    pub fn retain(self) -> Ch {
        Ch(gmp_chan_retain(self.0))
    }

    pub fn release(self) {
        gmp_chan_release(self.0)
    }
}

/// A select case.
pub fn case_recv<T>(c: Ch, elem: *mut T) -> gmp_select_case {
    gmp_select_case {
        chan: c.0,
        op: GMP_RECV,
        elem: elem.cast(),
        result: RESULT_UNSET,
    }
}

pub fn case_send<T>(c: Ch, elem: *const T) -> gmp_select_case {
    gmp_select_case {
        chan: c.0,
        op: GMP_SEND,
        elem: elem as *mut c_void,
        result: RESULT_UNSET,
    }
}

/// What the tests put in `result` before a select, to see that only the case that fired
/// was written.
pub const RESULT_UNSET: i32 = 0x5a5a;

pub fn select(cases: &mut [gmp_select_case], timeout: i64) -> i32 {
    // SAFETY: `cases` is a valid array of cases whose channels and buffers are live.
    unsafe { gmp_select(cases.as_mut_ptr(), cases.len(), timeout) }
}

// ---------------------------------------------------------------------------------------
// Goroutines and threads

/// Where a side of a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    Go,
    Thread,
}

pub fn start(on: On, f: impl FnOnce() + Send + 'static) -> Joiner {
    match on {
        On::Go => spawn(f),
        On::Thread => thread(f),
    }
}

/// Runs `f` on `on` and waits for it.
pub fn run_on(on: On, f: impl FnOnce() + Send + 'static) {
    start(on, f).join()
}

/// Polls `cond` (sleeping 1 ms between polls) until it holds; panics after 60 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > Duration::from_secs(60) {
            panic!("hang: still waiting for {what} after 60 s");
        }
        sleep(MS);
    }
}

/// A hang detector: aborts the process (after a message) if it is not dropped within
/// `limit`. Every test takes one, so a lost wake-up shows up as a named failure instead
/// of a CI timeout.
pub struct Watchdog {
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn new(name: &'static str) -> Watchdog {
        Self::with_limit(name, Duration::from_secs(if stress() { 600 } else { 60 }))
    }

    pub fn with_limit(name: &'static str, limit: Duration) -> Watchdog {
        let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let (m, cv) = &*s;
            let g = m.lock().unwrap_or_else(|e| e.into_inner());
            let (g, _) = cv
                .wait_timeout_while(g, limit, |stopped| !*stopped)
                .unwrap_or_else(|e| e.into_inner());
            if !*g {
                eprintln!(
                    "watchdog: {name} still running after {limit:?} (goroutines = {}): \
                     probably a lost wake-up; goroutines follow, then abort",
                    gmp_num_goroutine()
                );
                gmp_dump_goroutines(2);
                std::process::abort();
            }
        });
        Watchdog {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (m, cv) = &*self.stop;
        *m.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
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
pub struct Bitmap(Vec<std::sync::atomic::AtomicU64>, usize);

impl Bitmap {
    pub fn new(bits: usize) -> Bitmap {
        Bitmap(
            (0..bits.div_ceil(64))
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
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

#[test]
fn util_sanity() {
    let _s = serial();
    let c = Ch::of::<u64>(1);
    c.put(7u64);
    assert_eq!(c.get::<u64>(), 7);
    in_go(move || {
        assert!(in_goroutine());
        c.put(8u64);
    });
    assert_eq!(c.get::<u64>(), 8);
    c.release();
    let r = std::panic::catch_unwind(|| in_go(|| panic!("carried")));
    assert!(r.is_err(), "a goroutine's panic reaches the joiner");
}

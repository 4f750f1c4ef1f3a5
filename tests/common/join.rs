//! Goroutines and threads whose panic reaches whoever joins them, and the waitgroup
//! they use. One copy for the helper modules that include it with
//! `#[path = "common/join.rs"] mod join; pub use join::*;` (`tests/chan_util.rs`,
//! `tests/net_util.rs`).
//!
//! - [`spawn`] / [`Joiner`]: a goroutine whose panic is carried back to its joiner (a
//!   panicking goroutine otherwise aborts the process with no message of ours).
//! - [`thread`]: a foreign (non-runtime) OS thread, joined the same way.
//! - Joining works from a goroutine (a gmp waitgroup parks it) or from a thread.

#![allow(dead_code)]

use std::any::Any;
use std::sync::{Arc, Mutex};

use gmp::ffi::sync::*;
use gmp::ffi::types::*;

pub type Payload = Box<dyn Any + Send + 'static>;

/// A gmp waitgroup (all-zero is ready) that can be shared; calls return the library's code.
#[repr(transparent)]
pub struct WaitGroup(std::cell::UnsafeCell<gmp_waitgroup>);
// SAFETY: the library accesses the struct atomically; sharing it is the point.
unsafe impl Sync for WaitGroup {}
// SAFETY: as above.
unsafe impl Send for WaitGroup {}

impl WaitGroup {
    pub fn new() -> Self {
        WaitGroup(std::cell::UnsafeCell::new(gmp_waitgroup {
            _opaque: [0; 4],
        }))
    }
    pub fn add(&self, n: i64) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_add(self.0.get(), n) }
    }
    pub fn done(&self) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_done(self.0.get()) }
    }
    pub fn wait(&self) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_wait(self.0.get()) }
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

/// Waits for a goroutine or thread started by [`spawn`] / [`thread`]; re-raises its
/// panic in the joiner.
pub enum Joiner {
    Go(Arc<GoDone>),
    Thread(std::thread::JoinHandle<()>),
}

pub struct GoDone {
    wg: WaitGroup,
    panic: Mutex<Option<Payload>>,
}

impl Joiner {
    pub fn join(self) {
        match self {
            Joiner::Go(d) => {
                assert_eq!(d.wg.wait(), 0);
                let p = d.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(p) = p {
                    std::panic::resume_unwind(p);
                }
            }
            Joiner::Thread(h) => {
                if let Err(p) = h.join() {
                    std::panic::resume_unwind(p);
                }
            }
        }
    }
}

/// Joins every handle, re-raising the first panic after all have ended.
pub fn join_all(v: Vec<Joiner>) {
    let mut first = None;
    for j in v {
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| j.join())) {
            first.get_or_insert(p);
        }
    }
    if let Some(p) = first {
        std::panic::resume_unwind(p);
    }
}

/// Starts a goroutine running `f`.
pub fn spawn(f: impl FnOnce() + Send + 'static) -> Joiner {
    let d = Arc::new(GoDone {
        wg: WaitGroup::new(),
        panic: Mutex::new(None),
    });
    assert_eq!(d.wg.add(1), 0);
    let d2 = d.clone();
    gmp::rt::go(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        if let Err(p) = r {
            *d2.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
        }
        assert_eq!(d2.wg.done(), 0);
    })
    .expect("gmp go");
    Joiner::Go(d)
}

/// Starts a foreign OS thread running `f`.
pub fn thread(f: impl FnOnce() + Send + 'static) -> Joiner {
    Joiner::Thread(std::thread::spawn(f))
}

/// Runs `f` in a goroutine and waits for it (from the test's thread).
pub fn in_go(f: impl FnOnce() + Send + 'static) {
    spawn(f).join()
}

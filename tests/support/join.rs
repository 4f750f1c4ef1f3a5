//! Goroutines and threads whose panic reaches whoever joins them.
//!
//! - [`spawn`] / [`Joiner`]: a goroutine whose panic is carried back to its joiner (a
//!   panicking goroutine otherwise aborts the process with no message of ours).
//! - [`thread`]: a foreign (non-runtime) OS thread, joined the same way.
//! - Joining works from a goroutine (a gmp waitgroup parks it) or from a thread.

use std::any::Any;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::sync::WaitGroup;

pub type Payload = Box<dyn Any + Send + 'static>;

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
        wg: WaitGroup::with(1),
        panic: Mutex::new(None),
    });
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

/// Where a side of a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    Go,
    Thread,
}

/// Every pairing of sides (sender, receiver), goroutines and foreign threads.
pub const SIDES: [(On, On); 4] = [
    (On::Go, On::Go),
    (On::Go, On::Thread),
    (On::Thread, On::Go),
    (On::Thread, On::Thread),
];

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

/// Runs `f` (returning a code) in a goroutine and waits; returns (code, elapsed ns).
pub fn timed(f: impl FnOnce() -> i64 + Send + 'static) -> (i64, i64) {
    let out = Arc::new((AtomicI64::new(0), AtomicI64::new(0)));
    let o2 = out.clone();
    in_go(move || {
        let t = gmp::ffi::runtime::gmp_now();
        let r = f();
        o2.0.store(r, Ordering::Relaxed);
        o2.1.store(gmp::ffi::runtime::gmp_now() - t, Ordering::Relaxed);
    });
    (out.0.load(Ordering::Relaxed), out.1.load(Ordering::Relaxed))
}

/// Goroutines and foreign threads whose bodies each mark one waitgroup done: started
/// with [`Mixed::start`], waited for with [`Mixed::wait`].
#[derive(Default)]
pub struct Mixed(Vec<std::thread::JoinHandle<()>>);

impl Mixed {
    /// Starts `f` on a foreign thread if `on_thread`, else as a goroutine.
    pub fn start(&mut self, on_thread: bool, f: impl FnOnce() + Send + 'static) {
        if on_thread {
            self.0.push(std::thread::spawn(f));
        } else {
            super::go(f);
        }
    }
    /// Waits on `done` (which each body marks done when it ends), then joins the threads.
    pub fn wait(self, done: &WaitGroup) {
        assert_eq!(done.wait(), 0);
        for t in self.0 {
            t.join().unwrap();
        }
    }
}

/// Runs `body(who)` on `goroutines` goroutines (who = 0, 1, ...) and on `threads` foreign
/// threads (who = `thread_base`, ...), then waits on `done` (which each body marks done
/// when it ends) and joins the threads.
pub fn run_mixed(
    goroutines: usize,
    threads: usize,
    thread_base: usize,
    done: &WaitGroup,
    body: impl Fn(usize) + Clone + Send + 'static,
) {
    let mut m = Mixed::default();
    for who in 0..goroutines {
        let b = body.clone();
        m.start(false, move || b(who));
    }
    for who in 0..threads {
        let b = body.clone();
        m.start(true, move || b(thread_base + who));
    }
    m.wait(done);
}

//! gmp_once: runs its function exactly once; concurrent callers return only after it
//! has returned; later calls do nothing.

mod support;

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use gmp::ffi::sync::gmp_once_do;
use support::*;

struct Shared {
    once: Once,
    calls: AtomicUsize,
    finished: AtomicBool,
    /// The function parks (sleeps) when true, so callers pile up behind it.
    slow: bool,
}

unsafe extern "C" fn init(arg: *mut c_void) {
    // SAFETY: arg is the Shared the test keeps alive.
    let s = unsafe { &*(arg as *const Shared) };
    s.calls.fetch_add(1, Ordering::SeqCst);
    if s.slow {
        // Parks a goroutine, blocks a thread: either way others must wait for us.
        gmp::ffi::runtime::gmp_sleep(20_000_000);
    }
    s.finished.store(true, Ordering::SeqCst);
}

fn call(s: &Shared) -> i32 {
    // SAFETY: a live once and our own function and argument.
    unsafe { gmp_once_do(s.once.ptr(), Some(init), s as *const Shared as *mut c_void) }
}

#[test]
fn runs_once_and_later_calls_do_nothing() {
    let _s = serial();
    let s = Shared {
        once: Once::new(),
        calls: AtomicUsize::new(0),
        finished: AtomicBool::new(false),
        slow: false,
    };
    for _ in 0..10 {
        assert_eq!(call(&s), 0);
        assert!(s.finished.load(Ordering::SeqCst));
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

fn concurrent(callers: usize, thread_every: usize) {
    let s = Arc::new(Shared {
        once: Once::new(),
        calls: AtomicUsize::new(0),
        finished: AtomicBool::new(false),
        slow: true,
    });
    let gate = Arc::new(WaitGroup::with(1));
    let done = Arc::new(WaitGroup::with(callers as i64));
    let mut ts = Vec::new();
    for i in 0..callers {
        let (s, g, d) = (s.clone(), gate.clone(), done.clone());
        let body = move || {
            assert_eq!(g.wait(), 0);
            assert_eq!(call(&s), 0);
            assert!(
                s.finished.load(Ordering::SeqCst),
                "once_do returned before the function did"
            );
            assert_eq!(d.done(), 0);
        };
        if thread_every > 0 && i % thread_every == 0 {
            ts.push(std::thread::spawn(body));
        } else {
            go(body);
        }
    }
    assert_eq!(gate.done(), 0);
    assert_eq!(done.wait(), 0);
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn hundred_concurrent_goroutines() {
    let _s = serial();
    concurrent(100, 0);
}

#[test]
fn hundred_concurrent_goroutines_and_threads() {
    let _s = serial();
    concurrent(100, 10);
}

#[test]
fn stress_many_onces() {
    let _s = serial();
    let wd = Watchdog::new("once stress", Duration::from_secs(60));
    let objects = scale(2000, 20000);
    let per = 5;
    let all: Arc<Vec<Shared>> = Arc::new(
        (0..objects)
            .map(|i| Shared {
                once: Once::new(),
                calls: AtomicUsize::new(0),
                finished: AtomicBool::new(false),
                slow: i % 100 == 0,
            })
            .collect(),
    );
    let done = Arc::new(WaitGroup::with((objects * per) as i64));
    for k in 0..objects * per {
        let (a, d, p) = (all.clone(), done.clone(), wd.progress.clone());
        go(move || {
            let s = &a[k % objects];
            assert_eq!(call(s), 0);
            assert!(s.finished.load(Ordering::SeqCst));
            p.fetch_add(1, Ordering::Relaxed);
            assert_eq!(d.done(), 0);
        });
    }
    assert_eq!(done.wait(), 0);
    assert!(all.iter().all(|s| s.calls.load(Ordering::SeqCst) == 1));
}

#[test]
fn null_arguments() {
    let _s = serial();
    let once = Once::new();
    // SAFETY: NULL arguments are rejected without being touched.
    unsafe {
        assert_eq!(
            gmp_once_do(std::ptr::null_mut(), Some(init), std::ptr::null_mut()),
            GMP_EINVAL
        );
        assert_eq!(
            gmp_once_do(once.ptr(), None, std::ptr::null_mut()),
            GMP_EINVAL
        );
    }
    assert_eq!(
        once.words(),
        [0, 0],
        "a refused call does not mark the once done"
    );
}

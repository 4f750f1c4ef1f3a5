//! gmp_lock_os_thread: a locked goroutine keeps its OS thread across parks while others
//! run; nesting; unlock without lock; a goroutine that ends locked takes its thread.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use support::*;

fn thread_identity() -> (libc::pthread_t, i64) {
    // SAFETY: pthread_self has no preconditions.
    (unsafe { libc::pthread_self() }, gettid())
}

/// Background goroutines that keep every P busy with short sleeps and yields, so a
/// locked goroutine's thread is asked to run other work if the lock were ignored.
fn background(stop: &Arc<AtomicBool>, n: usize) -> Arc<WaitGroup> {
    let wg = Arc::new(WaitGroup::with(n as i64));
    for i in 0..n {
        let (s, w) = (stop.clone(), wg.clone());
        go(move || {
            let mut k = 0u64;
            while !s.load(Ordering::Relaxed) {
                k += 1;
                if (k + i as u64) % 3 == 0 {
                    gmp_sleep(20_000);
                } else {
                    gmp_gosched();
                }
            }
            assert_eq!(w.done(), 0);
        });
    }
    wg
}

#[test]
fn locked_goroutine_keeps_its_thread_across_parks() {
    let _s = serial();
    let stop = Arc::new(AtomicBool::new(false));
    let bg = background(&stop, 8);
    let moved = Arc::new(AtomicU64::new(0));
    let parks = Arc::new(AtomicU64::new(0));
    let fin = Arc::new(WaitGroup::with(3));
    for _ in 0..3 {
        let (m, p, f) = (moved.clone(), parks.clone(), fin.clone());
        go(move || {
            assert_eq!(gmp_lock_os_thread(), 0);
            let me = thread_identity();
            for i in 0..1000 {
                match i % 3 {
                    0 => assert_eq!(gmp_sleep(1_000 + (i % 7) * 1000), 0),
                    1 => {
                        // Park on a waitgroup another goroutine releases.
                        let wg = Arc::new(WaitGroup::with(1));
                        let w = wg.clone();
                        go(move || assert_eq!(w.done(), 0));
                        assert_eq!(wg.wait(), 0);
                    }
                    _ => gmp_gosched(),
                }
                p.fetch_add(1, Ordering::Relaxed);
                let now = thread_identity();
                // SAFETY: pthread_equal has no preconditions.
                if unsafe { libc::pthread_equal(now.0, me.0) } == 0 || now.1 != me.1 {
                    m.fetch_add(1, Ordering::Relaxed);
                }
            }
            assert_eq!(gmp_unlock_os_thread(), 0);
            assert_eq!(f.done(), 0);
        });
    }
    assert_eq!(fin.wait(), 0);
    stop.store(true, Ordering::Relaxed);
    assert_eq!(bg.wait(), 0);
    assert_eq!(parks.load(Ordering::SeqCst), 3000);
    assert_eq!(
        moved.load(Ordering::SeqCst),
        0,
        "a locked goroutine changed threads"
    );
}

#[test]
fn lock_nests() {
    let _s = serial();
    let stop = Arc::new(AtomicBool::new(false));
    let bg = background(&stop, 4);
    let moved = Arc::new(AtomicU64::new(0));
    let fin = Arc::new(WaitGroup::with(1));
    let (m, f) = (moved.clone(), fin.clone());
    go(move || {
        assert_eq!(gmp_lock_os_thread(), 0);
        assert_eq!(gmp_lock_os_thread(), 0);
        assert_eq!(gmp_unlock_os_thread(), 0);
        // Still locked once.
        let me = gettid();
        for i in 0..300 {
            if i % 2 == 0 {
                gmp_sleep(2_000);
            } else {
                gmp_gosched();
            }
            if gettid() != me {
                m.fetch_add(1, Ordering::Relaxed);
            }
        }
        assert_eq!(gmp_unlock_os_thread(), 0);
        // Fully unlocked now; extra unlocks are no-ops.
        assert_eq!(gmp_unlock_os_thread(), 0);
        assert_eq!(gmp_unlock_os_thread(), 0);
        for _ in 0..100 {
            gmp_sleep(1_000);
        }
        assert_eq!(f.done(), 0);
    });
    assert_eq!(fin.wait(), 0);
    stop.store(true, Ordering::Relaxed);
    assert_eq!(bg.wait(), 0);
    assert_eq!(
        moved.load(Ordering::SeqCst),
        0,
        "still locked once, but changed threads"
    );
}

#[test]
fn unlock_without_lock_and_on_foreign_thread() {
    let _s = serial();
    // Foreign thread: both are no-ops returning 0.
    assert_eq!(gmp_unlock_os_thread(), 0);
    assert_eq!(gmp_lock_os_thread(), 0);
    assert_eq!(gmp_unlock_os_thread(), 0);
    assert_eq!(gmp_unlock_os_thread(), 0);
    let fin = Arc::new(WaitGroup::with(1));
    let f = fin.clone();
    go(move || {
        assert_eq!(gmp_unlock_os_thread(), 0);
        assert_eq!(gmp_unlock_os_thread(), 0);
        gmp_sleep(1000);
        assert_eq!(f.done(), 0);
    });
    assert_eq!(fin.wait(), 0);
}

#[test]
fn goroutine_ending_locked_takes_its_thread() {
    let _s = serial();
    let before = task_ids();
    let tid = Arc::new(AtomicI64::new(0));
    for round in 0..3 {
        let fin = Arc::new(WaitGroup::with(1));
        let (t, f) = (tid.clone(), fin.clone());
        go(move || {
            assert_eq!(gmp_lock_os_thread(), 0);
            gmp_sleep(1_000);
            t.store(gettid(), Ordering::SeqCst);
            assert_eq!(f.done(), 0);
            // Returns while locked: its thread must end.
        });
        assert_eq!(fin.wait(), 0);
        let t = tid.load(Ordering::SeqCst);
        assert!(t > 0);
        wait_for("the locked goroutine's thread to exit", || {
            !task_ids().contains(&t)
        });
        // The runtime keeps working (it starts another M where it needs one).
        let n = 200;
        let wg = Arc::new(WaitGroup::with(n));
        let count = Arc::new(AtomicU64::new(0));
        for _ in 0..n {
            let (w, c) = (wg.clone(), count.clone());
            go(move || {
                gmp_sleep(1_000);
                gmp_gosched();
                c.fetch_add(1, Ordering::Relaxed);
                assert_eq!(w.done(), 0);
            });
        }
        assert_eq!(wg.wait(), 0);
        assert_eq!(count.load(Ordering::SeqCst), n as u64, "round {round}");
    }
    // Threads do not pile up: every ended thread is gone (the count may differ by the
    // M's started since).
    let after = task_ids();
    let gone: Vec<_> = before.iter().filter(|t| !after.contains(t)).collect();
    let _ = gone;
    assert!(
        after.len() <= before.len() + 8,
        "threads leak: {} -> {}",
        before.len(),
        after.len()
    );
}

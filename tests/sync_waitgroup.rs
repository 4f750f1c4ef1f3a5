//! gmp_waitgroup: counting, negative counts refused, many waiters, reuse, threads and
//! goroutines on either side, stress, and free-right-after-wait.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gmp::ffi::goroutine::gmp_gosched;
use support::*;

#[test]
fn counting_and_negative_einval() {
    let _s = serial();
    let wg = WaitGroup::new();
    assert_eq!(wg.wait(), 0, "wait on zero returns at once");
    assert_eq!(wg.done(), GMP_EINVAL, "done below zero");
    assert_eq!(wg.add(-1), GMP_EINVAL);
    assert_eq!(wg.add(i64::MIN), GMP_EINVAL);
    assert_eq!(
        wg.words(),
        [0, 0, 0, 0],
        "a refused add leaves the counter alone"
    );
    assert_eq!(wg.add(0), 0);
    assert_eq!(wg.add(3), 0);
    assert_eq!(wg.add(-4), GMP_EINVAL);
    assert_eq!(wg.add(-2), 0);
    assert_eq!(wg.add(i64::MAX), GMP_EINVAL, "overflow");
    assert_eq!(wg.done(), 0);
    assert_eq!(wg.done(), GMP_EINVAL);
    assert_eq!(wg.wait(), 0);
    assert_eq!(wg.words(), [0, 0, 0, 0]);
}

#[test]
fn all_waiters_wake() {
    let _s = serial();
    let wg = Arc::new(WaitGroup::with(1));
    let woke = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(WaitGroup::with(60));
    let mut ts = Vec::new();
    for i in 0..60 {
        let (w, k, d) = (wg.clone(), woke.clone(), done.clone());
        let body = move || {
            assert_eq!(w.wait(), 0);
            k.fetch_add(1, Ordering::SeqCst);
            assert_eq!(d.done(), 0);
        };
        if i % 12 == 0 {
            ts.push(std::thread::spawn(body));
        } else {
            go(body);
        }
    }
    gmp::ffi::runtime::gmp_sleep(5_000_000);
    assert_eq!(
        woke.load(Ordering::SeqCst),
        0,
        "a waiter passed a non-zero count"
    );
    // The last done comes from a goroutine.
    let w = wg.clone();
    go(move || assert_eq!(w.done(), 0));
    assert_eq!(done.wait(), 0);
    assert_eq!(woke.load(Ordering::SeqCst), 60);
    for t in ts {
        t.join().unwrap();
    }
}

#[test]
fn reuse_across_rounds() {
    let _s = serial();
    let wg = Arc::new(WaitGroup::new());
    let count = Arc::new(AtomicUsize::new(0));
    for round in 0..200 {
        let n = 1 + round % 17;
        assert_eq!(wg.add(n as i64), 0);
        for _ in 0..n {
            let (w, c) = (wg.clone(), count.clone());
            go(move || {
                c.fetch_add(1, Ordering::Relaxed);
                assert_eq!(w.done(), 0);
            });
        }
        assert_eq!(wg.wait(), 0);
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        (0..200).map(|r| 1 + r % 17).sum::<usize>()
    );
}

#[test]
fn goroutine_waits_for_threads() {
    let _s = serial();
    let wg = Arc::new(WaitGroup::with(8));
    let fin = Arc::new(WaitGroup::with(1));
    let (w, f) = (wg.clone(), fin.clone());
    go(move || {
        assert_eq!(w.wait(), 0);
        assert_eq!(f.done(), 0);
    });
    let ts: Vec<_> = (0..8)
        .map(|i| {
            let w = wg.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(i));
                assert_eq!(w.done(), 0);
            })
        })
        .collect();
    assert_eq!(fin.wait(), 0);
    for t in ts {
        t.join().unwrap();
    }
}

#[test]
fn stress_many_groups() {
    let _s = serial();
    let wd = Watchdog::new("waitgroup stress", Duration::from_secs(60));
    let groups = scale(300, 3000);
    let per = 10;
    let done = Arc::new(WaitGroup::with(groups as i64));
    for g in 0..groups {
        let (d, p) = (done.clone(), wd.progress.clone());
        go(move || {
            let wg = Arc::new(WaitGroup::with(per));
            for k in 0..per {
                let w = wg.clone();
                go(move || {
                    if (g as i64 + k) % 3 == 0 {
                        gmp_gosched();
                    }
                    assert_eq!(w.done(), 0);
                });
            }
            assert_eq!(wg.wait(), 0);
            p.fetch_add(1, Ordering::Relaxed);
            assert_eq!(d.done(), 0);
        });
    }
    assert_eq!(done.wait(), 0);
}

const POISON: u64 = 0x0bad_f00d_dead_c0de;

/// A heap waitgroup that `workers` parties `done`, while the waiter frees (or poisons)
/// it as soon as `wait` returns: `done` must not touch it after its decrement.
fn free_after_wait(objects: usize, workers: usize, thread_every: usize, poison: bool) {
    let wd = Watchdog::new("waitgroup free-after-wait", Duration::from_secs(60));
    let all = Arc::new(WaitGroup::with(objects as i64));
    let quarantine = Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let mut ts = Vec::new();
    for i in 0..objects {
        let obj = Box::into_raw(Box::new(WaitGroup::with(workers as i64))) as usize;
        for k in 0..workers {
            let body = move || {
                // SAFETY: the waiter frees it only after the last done's decrement.
                let w = unsafe { &*(obj as *const WaitGroup) };
                if k % 2 == 1 {
                    gmp_gosched();
                }
                assert_eq!(w.done(), 0);
            };
            if thread_every > 0 && (i * workers + k) % thread_every == 0 {
                ts.push(std::thread::spawn(body));
            } else {
                go(body);
            }
        }
        let (a, q, p) = (all.clone(), quarantine.clone(), wd.progress.clone());
        let waiter = move || {
            // SAFETY: alive until this waiter frees it.
            let w = unsafe { &*(obj as *const WaitGroup) };
            assert_eq!(w.wait(), 0);
            if poison {
                w.set_words([POISON; 4]);
                q.lock().unwrap().push(obj);
            } else {
                // SAFETY: the count is zero and only done() calls can still be running.
                drop(unsafe { Box::from_raw(obj as *mut WaitGroup) });
            }
            p.fetch_add(1, Ordering::Relaxed);
            assert_eq!(a.done(), 0);
        };
        if thread_every > 0 && i % 7 == 3 {
            ts.push(std::thread::spawn(waiter));
        } else {
            go(waiter);
        }
        if ts.len() >= 16 {
            for t in ts.drain(..) {
                t.join().unwrap();
            }
        }
    }
    assert_eq!(all.wait(), 0);
    for t in ts {
        t.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    for &obj in quarantine.lock().unwrap().iter() {
        // SAFETY: quarantined, never freed before.
        let w = unsafe { Box::from_raw(obj as *mut WaitGroup) };
        assert_eq!(
            w.words(),
            [POISON; 4],
            "the library wrote to a waitgroup after done"
        );
    }
}

#[test]
fn free_right_after_wait_goroutines() {
    let _s = serial();
    free_after_wait(scale(5000, 50000), 3, 0, false);
}

#[test]
fn free_right_after_wait_threads() {
    let _s = serial();
    free_after_wait(scale(500, 5000), 2, 3, false);
}

#[test]
fn poison_right_after_wait() {
    let _s = serial();
    free_after_wait(scale(5000, 50000), 3, 0, true);
    free_after_wait(scale(500, 5000), 2, 3, true);
}

/// A refused `done` (the count would go below zero) must leave the count unchanged for
/// everyone: a concurrent `wait` on the zero count must never see a transient -1, park,
/// and be left there with nobody to wake it.
#[test]
fn refused_done_does_not_strand_a_waiter() {
    let _s = serial();
    let wg = Arc::new(WaitGroup::new());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let waits = Arc::new(AtomicUsize::new(0));
    let mut hammers = Vec::new();
    for _ in 0..2 {
        let (w, s) = (wg.clone(), stop.clone());
        hammers.push(std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                assert_eq!(w.done(), GMP_EINVAL);
            }
        }));
    }
    let rounds = scale(300_000, 3_000_000);
    let (w, n) = (wg.clone(), waits.clone());
    let waiter = std::thread::spawn(move || {
        for _ in 0..rounds {
            assert_eq!(w.wait(), 0);
            n.fetch_add(1, Ordering::Relaxed);
        }
    });
    // A stalled waiter is the bug: report it instead of hanging.
    let mut last = 0;
    let mut still = std::time::Instant::now();
    while waits.load(Ordering::Relaxed) < rounds {
        std::thread::sleep(Duration::from_millis(10));
        let v = waits.load(Ordering::Relaxed);
        if v != last {
            last = v;
            still = std::time::Instant::now();
        } else if still.elapsed() > Duration::from_secs(5) {
            stop.store(true, Ordering::Relaxed);
            panic!(
                "a wait on a zero waitgroup is stuck after {v} rounds (it saw a refused done's transient -1)"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    waiter.join().unwrap();
    for h in hammers {
        h.join().unwrap();
    }
    assert_eq!(wg.words(), [0, 0, 0, 0]);
}

//! gmp_sleep: never returns early, wakes sleepers in deadline order, returns at once for
//! ns <= 0, and works on a foreign thread.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use support::*;

const DURATIONS: [i64; 8] = [
    1, 1_000, 50_000, 100_000, 1_000_000, 2_500_000, 5_000_000, 12_000_000,
];

fn sleep_checked(ns: i64) {
    let before = gmp_now();
    assert_eq!(gmp_sleep(ns), 0);
    let after = gmp_now();
    assert!(
        after - before >= ns,
        "gmp_sleep({ns}) returned early: after {} ns",
        after - before
    );
}

#[test]
fn sleep_never_returns_early_in_goroutines() {
    let _s = serial();
    let n = 64;
    let wg = Arc::new(WaitGroup::with(n));
    for i in 0..n {
        let w = wg.clone();
        go(move || {
            for k in 0..DURATIONS.len() {
                sleep_checked(DURATIONS[(i as usize + k) % DURATIONS.len()]);
            }
            assert_eq!(w.done(), 0);
        });
    }
    assert_eq!(wg.wait(), 0);
}

#[test]
fn sleep_never_returns_early_on_foreign_threads() {
    let _s = serial();
    let ts: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                for k in 0..DURATIONS.len() {
                    sleep_checked(DURATIONS[(i + k) % DURATIONS.len()]);
                }
            })
        })
        .collect();
    // Goroutines sleep at the same time, sharing the timer heaps.
    let wg = Arc::new(WaitGroup::with(16));
    for _ in 0..16 {
        let w = wg.clone();
        go(move || {
            for &d in DURATIONS.iter().rev() {
                sleep_checked(d);
            }
            assert_eq!(w.done(), 0);
        });
    }
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(wg.wait(), 0);
}

/// One round of 8 sleepers started in a shuffled order with deadlines `STEP` apart;
/// returns the wake order as (k, rank, ns after t0), sorted by rank.
fn sleepers_round(threads_too: bool) -> Vec<(usize, u64, i64)> {
    const STEP: i64 = 15_000_000;
    // A fixed shuffle of 0..8.
    let start_order = [5usize, 2, 7, 0, 3, 6, 1, 4];
    let order = Arc::new(StdMutex::new(Vec::new()));
    let seq = Arc::new(AtomicU64::new(0));
    let wg = Arc::new(WaitGroup::with(start_order.len() as i64));
    let t0 = gmp_now() + 2_000_000;
    for &k in &start_order {
        let (o, s, w) = (order.clone(), seq.clone(), wg.clone());
        let body = move || {
            let deadline = t0 + (k as i64 + 1) * STEP;
            assert_eq!(gmp_sleep(deadline - gmp_now()), 0);
            let woke = gmp_now();
            assert!(woke >= deadline, "woke before its deadline");
            let n = s.fetch_add(1, Ordering::SeqCst);
            o.lock().unwrap().push((k, n, woke - t0));
            assert_eq!(w.done(), 0);
        };
        if threads_too && k % 2 == 1 {
            std::thread::spawn(body);
        } else {
            go(body);
        }
    }
    assert_eq!(wg.wait(), 0);
    let mut got = order.lock().unwrap().clone();
    got.sort_by_key(|&(_, n, _)| n);
    got
}

/// Sleepers whose deadlines differ by 15 ms (well over the 5 ms the contract needs) wake
/// in deadline order, whatever order they were started in. An OS that stops a runtime
/// thread for over 15 ms can swap two neighbours, so a round may be retried twice; a
/// real ordering bug fails every time.
#[test]
fn sleepers_wake_in_deadline_order() {
    let _s = serial();
    for round in 0..3 {
        let mut attempts = Vec::new();
        loop {
            // The last round mixes foreign threads in.
            let got = sleepers_round(round == 2);
            let ks: Vec<usize> = got.iter().map(|&(k, _, _)| k).collect();
            if ks == (0..8).collect::<Vec<_>>() {
                break;
            }
            attempts.push(got);
            assert!(
                attempts.len() < 3,
                "round {round}: sleepers woke out of deadline order 3 times; \
                 (k, rank, ns after t0): {attempts:?}"
            );
        }
    }
}

#[test]
fn sleep_zero_and_negative_return_at_once() {
    let _s = serial();
    // On a foreign thread.
    for ns in [0, -1, -1_000_000_000, i64::MIN] {
        assert_eq!(gmp_sleep(ns), 0);
    }
    // In a goroutine: a gate that nobody opens until every call returned shows that
    // none of them parked for long (a hang here would be caught by wait_for).
    let returned = Arc::new(AtomicU64::new(0));
    let r = returned.clone();
    let wg = Arc::new(WaitGroup::with(1));
    let w = wg.clone();
    go(move || {
        for _ in 0..10_000 {
            for ns in [0, -1, i64::MIN] {
                assert_eq!(gmp_sleep(ns), 0);
            }
            r.fetch_add(1, Ordering::Relaxed);
        }
        assert_eq!(w.done(), 0);
    });
    wait_for("10000 rounds of sleep(<= 0)", || {
        returned.load(Ordering::Relaxed) == 10_000
    });
    assert_eq!(wg.wait(), 0);
}

#[test]
fn many_sleepers_all_wake() {
    let _s = serial();
    let n = scale(10_000, 100_000);
    let wg = Arc::new(WaitGroup::with(n as i64));
    for i in 0..n {
        let w = wg.clone();
        go(move || {
            sleep_checked(((i * 7919) % 20_000) as i64 * 1000);
            assert_eq!(w.done(), 0);
        });
    }
    assert_eq!(wg.wait(), 0);
}

#[test]
fn long_sleep_on_foreign_thread_while_goroutines_sleep_short() {
    let _s = serial();
    let t = std::thread::spawn(|| sleep_checked(30_000_000));
    let wg = Arc::new(WaitGroup::with(100));
    for _ in 0..100 {
        let w = wg.clone();
        go(move || {
            for _ in 0..10 {
                sleep_checked(100_000);
            }
            assert_eq!(w.done(), 0);
        });
    }
    assert_eq!(wg.wait(), 0);
    t.join().unwrap();
}

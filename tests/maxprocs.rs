//! gmp_maxprocs: query, and resizing under load without stopping the world.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use support::*;

#[test]
fn query_returns_the_current_value() {
    let _s = serial();
    let cur = gmp_maxprocs(0);
    assert!(cur >= 1, "maxprocs {cur}");
    assert_eq!(gmp_maxprocs(-1), cur);
    assert_eq!(gmp_maxprocs(i32::MIN), cur);
    assert_eq!(stats().maxprocs, cur);
    // Setting returns the previous value.
    assert_eq!(gmp_maxprocs(cur), cur);
    assert_eq!(gmp_maxprocs(cur + 1), cur);
    assert_eq!(gmp_maxprocs(0), cur + 1);
    assert_eq!(gmp_maxprocs(cur), cur + 1);
    // Capped at 1024.
    assert_eq!(gmp_maxprocs(100_000), cur);
    assert_eq!(gmp_maxprocs(0), 1024);
    assert_eq!(gmp_maxprocs(cur), 1024);
    assert_eq!(gmp_maxprocs(0), cur);
}

#[test]
fn resize_under_load() {
    let _s = serial();
    let orig = gmp_maxprocs(0);
    let stop = Arc::new(AtomicBool::new(false));
    let n = 32;
    let counters: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(WaitGroup::with(n as i64));
    for i in 0..n {
        let (s, c, d) = (stop.clone(), counters.clone(), done.clone());
        go(move || {
            while !s.load(Ordering::Relaxed) {
                c[i].fetch_add(1, Ordering::Relaxed);
                if i % 4 == 0 {
                    gmp_sleep(10_000);
                } else {
                    gmp_gosched();
                }
            }
            assert_eq!(d.done(), 0);
        });
    }
    let total = || {
        counters
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let mut prev = gmp_maxprocs(0);
    for &k in &[1, 4, 2, 1, 3] {
        assert_eq!(gmp_maxprocs(k), prev);
        prev = k;
        assert_eq!(gmp_maxprocs(0), k);
        assert_eq!(stats().maxprocs, k);
        // Every goroutine keeps making progress at this size.
        let snap: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        wait_for("every goroutine to progress after a resize", || {
            counters
                .iter()
                .zip(&snap)
                .all(|(c, &s)| c.load(Ordering::Relaxed) > s + 2)
        });
        assert!(total() > 0);
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(done.wait(), 0);
    assert_eq!(gmp_maxprocs(orig), 3);
    assert_eq!(stats().maxprocs, orig);
}

#[test]
fn resize_from_goroutines_and_threads_concurrently() {
    let _s = serial();
    let orig = gmp_maxprocs(0);
    let rounds = scale(100, 1000);
    let done = Arc::new(WaitGroup::with(4));
    let mut ts = Vec::new();
    for i in 0..4 {
        let d = done.clone();
        let body = move || {
            for r in 0..rounds {
                let k = 1 + ((r + i) % 4) as i32;
                let prev = gmp_maxprocs(k);
                assert!((1..=4).contains(&prev) || prev == orig, "prev {prev}");
                if r % 3 == 0 {
                    gmp_sleep(5_000);
                } else {
                    gmp_gosched();
                }
            }
            assert_eq!(d.done(), 0);
        };
        if i % 2 == 0 {
            go(body);
        } else {
            ts.push(std::thread::spawn(body));
        }
    }
    assert_eq!(done.wait(), 0);
    for t in ts {
        t.join().unwrap();
    }
    gmp_maxprocs(orig);
    assert_eq!(stats().maxprocs, orig);
    // Still schedules: a burst of goroutines all run.
    let wg = Arc::new(WaitGroup::with(1000));
    for _ in 0..1000 {
        let w = wg.clone();
        go(move || {
            gmp_gosched();
            assert_eq!(w.done(), 0);
        });
    }
    assert_eq!(wg.wait(), 0);
}

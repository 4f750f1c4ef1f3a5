//! A million goroutines parked at once, on the default stack size (DESIGN.md "Stacks":
//! slabs with guard regions that do not split the mapping, so this stays far below
//! vm.max_map_count), then released and joined. A debug build parks 200k by default;
//! `cargo test --release --test million` or GMP_STRESS=1 parks the full million.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use support::*;

/// How many to park: 1M in release builds and under GMP_STRESS=1; 200k in a debug build
/// (1M takes 7-45 s there, with 4+ GB of RSS, depending on the machine's load).
/// GMP_MILLION_N overrides both.
fn count() -> usize {
    if let Some(n) = std::env::var("GMP_MILLION_N")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    if cfg!(debug_assertions) && !stress() {
        200_000
    } else {
        1_000_000
    }
}

fn park_all_on(n: usize, on_mutex: bool) {
    let wd = Watchdog::new("million", std::time::Duration::from_secs(60));
    let t0 = std::time::Instant::now();
    let gate = Arc::new(WaitGroup::with(1));
    let mu = Arc::new(Mutex::new());
    let started = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    let done = Arc::new(WaitGroup::with(n as i64));
    if on_mutex {
        assert_eq!(mu.lock(), 0);
    }
    for i in 0..n {
        let (g, m, s, f, d) = (
            gate.clone(),
            mu.clone(),
            started.clone(),
            finished.clone(),
            done.clone(),
        );
        go(move || {
            s.fetch_add(1, Ordering::Relaxed);
            if on_mutex {
                assert_eq!(m.lock(), 0);
                assert_eq!(m.unlock(), 0);
            } else {
                assert_eq!(g.wait(), 0);
            }
            f.fetch_add(1, Ordering::Relaxed);
            assert_eq!(d.done(), 0);
        });
        if i % 10_000 == 0 {
            wd.tick();
        }
    }
    // Every one of them has run up to its park (none can pass the gate).
    wait_for("all goroutines started", || {
        wd.tick();
        started.load(Ordering::Relaxed) == n as u64
    });
    assert!(gmp_num_goroutine() >= n as i64);
    // Guarded stacks must not cost a mapping each (vm.max_map_count is 65530).
    let maps = std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count();
    assert!(maps < 60_000, "{maps} mappings with {n} parked goroutines");
    eprintln!("million: parked {n} in {:?}", t0.elapsed());
    assert_eq!(finished.load(Ordering::Relaxed), 0, "passed a closed gate");
    if on_mutex {
        assert_eq!(mu.unlock(), 0);
    } else {
        assert_eq!(gate.done(), 0);
    }
    let f2 = finished.clone();
    let p = wd.progress.clone();
    // The watchdog sees progress while the finished count moves.
    let ticker = std::thread::spawn(move || {
        while f2.load(Ordering::Relaxed) < n as u64 {
            p.store(1 << 40 | f2.load(Ordering::Relaxed), Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    assert_eq!(done.wait(), 0);
    ticker.join().unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), n as u64);
    eprintln!("million: joined {n} in {:?}", t0.elapsed());
    wait_for("goroutines to end", || gmp_num_goroutine() == 0);
    eprintln!("million: ended {n} in {:?}", t0.elapsed());
}

#[test]
fn million_parked_on_a_waitgroup() {
    let _s = serial();
    park_all_on(count(), false);
}

#[test]
fn many_parked_on_a_mutex_held_by_the_test() {
    let _s = serial();
    // FIFO hand-off through 50k waiters (the full count under GMP_STRESS).
    park_all_on(scale(50_000, count()), true);
}

//! Lost wake-ups: pairs ping-ponging through mutex + cond and through waitgroups for
//! many rounds, goroutine <-> goroutine and foreign thread <-> goroutine, on 2 P's. A
//! watchdog aborts the process after 60 s without progress (a hang detector; nothing
//! here asserts on time).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use support::*;

fn setup() -> Serial {
    let g = serial();
    let prev = gmp_maxprocs(2);
    assert!(prev >= 1);
    g
}

/// One ping-pong pair: `turn` says whose move it is; each side waits on the cond for its
/// turn, flips it and signals.
struct Pair {
    mu: Mutex,
    cv: Cond,
    turn: Racy<u32>,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            mu: Mutex::new(),
            cv: Cond::new(),
            turn: Racy::new(0),
        }
    }

    /// Plays `rounds` moves as side `me` (0 or 1).
    fn play(&self, me: u32, rounds: usize, progress: &AtomicU64) {
        for _ in 0..rounds {
            assert_eq!(self.mu.lock(), 0);
            // SAFETY: `turn` is only touched under `mu`.
            while unsafe { *self.turn.get() } != me {
                assert_eq!(self.cv.wait(&self.mu), 0);
            }
            // SAFETY: as above.
            unsafe { *self.turn.get() = 1 - me };
            assert_eq!(self.cv.signal(), 0);
            assert_eq!(self.mu.unlock(), 0);
            progress.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn ping_pong_cond(pairs: usize, rounds: usize, thread_side: bool) {
    let wd = Watchdog::new("ping_pong_cond", Duration::from_secs(60));
    let done = Arc::new(WaitGroup::with(pairs as i64 * 2));
    let mut threads = Mixed::default();
    for _ in 0..pairs {
        let pair = Arc::new(Pair::new());
        for side in 0..2u32 {
            let (p, d, prog) = (pair.clone(), done.clone(), wd.progress.clone());
            let body = move || {
                p.play(side, rounds, &prog);
                assert_eq!(d.done(), 0);
            };
            threads.start(thread_side && side == 1, body);
        }
    }
    threads.wait(&done);
    assert_eq!(
        wd.progress.load(Ordering::Relaxed),
        (pairs * 2 * rounds) as u64
    );
}

#[test]
fn goroutine_pairs_ping_pong_mutex_cond() {
    let _s = setup();
    ping_pong_cond(scale(16, 64), scale(2000, 20000), false);
}

#[test]
fn thread_goroutine_pairs_ping_pong_mutex_cond() {
    let _s = setup();
    ping_pong_cond(scale(4, 8), scale(2000, 20000), true);
}

/// A relay of `len` links through fresh waitgroups each round: link k waits for gate k,
/// then opens gate k+1. The test opens gate 0 and waits for the last gate. Links
/// alternate between goroutines and (optionally) foreign threads.
fn relay(len: usize, rounds: usize, threads_every: usize) {
    let wd = Watchdog::new("relay", Duration::from_secs(60));
    for _ in 0..rounds {
        let gates: Arc<Vec<WaitGroup>> = Arc::new((0..=len).map(|_| WaitGroup::with(1)).collect());
        let mut ts = Vec::new();
        for k in 0..len {
            let g = gates.clone();
            let body = move || {
                assert_eq!(g[k].wait(), 0);
                assert_eq!(g[k + 1].done(), 0);
            };
            if threads_every > 0 && k % threads_every == threads_every - 1 {
                ts.push(std::thread::spawn(body));
            } else {
                go(body);
            }
        }
        // Sometimes open the relay before the links park, sometimes after.
        if wd.progress.load(Ordering::Relaxed) % 2 == 0 {
            gmp_sleep(10_000);
        }
        assert_eq!(gates[0].done(), 0);
        assert_eq!(gates[len].wait(), 0);
        for t in ts {
            t.join().unwrap();
        }
        wd.tick();
    }
}

#[test]
fn goroutine_relay_through_waitgroups() {
    let _s = setup();
    relay(scale(200, 1000), scale(200, 2000), 0);
}

#[test]
fn mixed_relay_through_waitgroups() {
    let _s = setup();
    relay(scale(24, 48), scale(60, 600), 4);
}

/// Waitgroup ping-pong between a fixed pair without fresh objects: each side owns a
/// waitgroup the other side signals; `add` re-arms it before the other side can see the
/// ball (Go's rule: Add before the event it waits for).
fn wg_ping_pong(rounds: usize, thread_side: bool) {
    let wd = Watchdog::new("wg_ping_pong", Duration::from_secs(60));
    let a = Arc::new(WaitGroup::with(1));
    let b = Arc::new(WaitGroup::with(1));
    let fin = Arc::new(WaitGroup::with(1));
    let (a2, b2, f2, p2) = (a.clone(), b.clone(), fin.clone(), wd.progress.clone());
    let other = move || {
        for _ in 0..rounds {
            assert_eq!(b2.wait(), 0);
            assert_eq!(b2.add(1), 0);
            assert_eq!(a2.done(), 0);
            p2.fetch_add(1, Ordering::Relaxed);
        }
        assert_eq!(f2.done(), 0);
    };
    let t = if thread_side {
        Some(std::thread::spawn(other))
    } else {
        go(other);
        None
    };
    let (a3, b3, p3) = (a.clone(), b.clone(), wd.progress.clone());
    let fin2 = Arc::new(WaitGroup::with(1));
    let f3 = fin2.clone();
    go(move || {
        for _ in 0..rounds {
            assert_eq!(b3.done(), 0);
            assert_eq!(a3.wait(), 0);
            assert_eq!(a3.add(1), 0);
            p3.fetch_add(1, Ordering::Relaxed);
        }
        assert_eq!(f3.done(), 0);
    });
    assert_eq!(fin.wait(), 0);
    assert_eq!(fin2.wait(), 0);
    if let Some(t) = t {
        t.join().unwrap();
    }
}

#[test]
fn goroutine_waitgroup_ping_pong() {
    let _s = setup();
    for _ in 0..8 {
        wg_ping_pong(scale(5000, 50000), false);
    }
}

#[test]
fn thread_goroutine_waitgroup_ping_pong() {
    let _s = setup();
    for _ in 0..2 {
        wg_ping_pong(scale(5000, 50000), true);
    }
}

/// Many goroutines sleeping tiny amounts and waking each other through a mutex they all
/// hammer: timers, sema hand-off and run queues at once.
#[test]
fn sleepers_and_mutex_churn() {
    let _s = setup();
    let wd = Watchdog::new("churn", Duration::from_secs(60));
    let n = scale(64, 256);
    let iters = scale(300, 3000);
    let mu = Arc::new(Mutex::new());
    let counter = Arc::new(Racy::new(0u64));
    let done = Arc::new(WaitGroup::with(n as i64));
    for i in 0..n {
        let (m, c, d, p) = (
            mu.clone(),
            counter.clone(),
            done.clone(),
            wd.progress.clone(),
        );
        go(move || {
            for j in 0..iters {
                assert_eq!(m.lock(), 0);
                // SAFETY: under the lock.
                unsafe { *c.get() += 1 };
                if (i + j) % 5 == 0 {
                    gmp::ffi::goroutine::gmp_gosched();
                }
                assert_eq!(m.unlock(), 0);
                if (i + j) % 7 == 0 {
                    gmp_sleep(((i + j) % 50) as i64 * 1000);
                }
                p.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(d.done(), 0);
        });
    }
    assert_eq!(done.wait(), 0);
    // SAFETY: every writer has finished (the waitgroup orders their writes before us).
    assert_eq!(unsafe { *counter.get() }, (n * iters) as u64);
}

//! A goroutine left in `runnext` of a P whose goroutine keeps running is taken by
//! another P (Go's `runqsteal` of `runnext`, in the last stealing round), and stealing
//! never hands a goroutine out twice: the main goroutine spawns a child and spins in
//! user code until it ran (only a steal can run it), and ping-pong pairs whose P's take
//! `runnext` all the time run beside spawners whose children idle P's steal; every
//! message arrives once and in order, every goroutine runs once. (Written for an
//! experiment with a plain owner's take of `runnext`, branch exp/runnext-plain-take,
//! which did not pay; the behaviour it checks holds either way.) A watchdog
//! (support::serial) aborts a hang; nothing asserts on time.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use support::*;

fn setup() -> Serial {
    let g = serial();
    assert!(gmp_maxprocs(2) >= 1);
    g
}

/// The main goroutine spawns a child (it goes into our P's `runnext`) and then spins
/// in user code until the child has run: only another P can run it, by stealing it.
#[test]
fn spinning_owner_loses_runnext() {
    let _g = setup();
    let rounds = scale(100, 2000);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    gmain(move || {
        for i in 0..rounds {
            let r2 = r.clone();
            go(move || {
                r2.fetch_add(1, Ordering::Release);
            });
            while r.load(Ordering::Acquire) != i + 1 {
                std::hint::spin_loop();
            }
        }
    });
    assert_eq!(ran.load(Ordering::Relaxed), rounds);
}

/// Ping-pong pairs over unbuffered channels on 2 P's (each hand-off goes through
/// `runnext`, taken by its owner), while spawners on the same P's feed short goroutines
/// that idle P's steal: every message arrives once and in order, every spawned
/// goroutine runs once.
#[test]
fn pairs_and_stealers() {
    let _g = setup();
    let pairs = 4;
    let trips = scale(20_000, 400_000) as u64;
    let spawns = scale(2_000, 40_000);
    let ran = Arc::new(AtomicUsize::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let (ran2, sum2) = (ran.clone(), sum.clone());
    gmain(move || {
        let wg = Arc::new(WaitGroup::with(pairs as i64 * 2 + 1));
        let mut chans = Vec::new();
        for _ in 0..pairs {
            let (ping, pong) = (Ch::of::<u64>(0), Ch::of::<u64>(0));
            chans.extend([ping, pong]);
            let (w, s) = (wg.clone(), sum2.clone());
            go(move || {
                for i in 0..trips {
                    ping.put(i);
                    assert_eq!(pong.get::<u64>(), i);
                }
                s.fetch_add(trips, Ordering::Relaxed);
                assert_eq!(w.done(), 0);
            });
            let w = wg.clone();
            go(move || {
                for i in 0..trips {
                    assert_eq!(ping.get::<u64>(), i);
                    pong.put(i);
                }
                assert_eq!(w.done(), 0);
            });
        }
        let w = wg.clone();
        let r = ran2.clone();
        go(move || {
            for k in 0..spawns {
                let r2 = r.clone();
                go(move || {
                    r2.fetch_add(1, Ordering::Relaxed);
                });
                if k % 64 == 0 {
                    // Spin a little in user code so a stealer finds our runnext.
                    for _ in 0..2000 {
                        std::hint::spin_loop();
                    }
                }
            }
            assert_eq!(w.done(), 0);
        });
        assert_eq!(wg.wait(), 0);
        for c in chans {
            c.release();
        }
        wait_for("the spawned goroutines", || {
            ran2.load(Ordering::Relaxed) == spawns
        });
    });
    assert_eq!(ran.load(Ordering::Relaxed), spawns);
    assert_eq!(sum.load(Ordering::Relaxed), trips * pairs as u64);
}

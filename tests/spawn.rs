//! Spawning goroutines: from a goroutine, from a foreign thread, many at once; ids;
//! gmp_self on a foreign thread; gmp_num_goroutine after joins.

mod support;

use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use support::*;

#[test]
fn spawn_from_goroutine() {
    let _s = serial();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    gmain(move || {
        let wg = Arc::new(WaitGroup::with(1));
        let w = wg.clone();
        let parent = gmp_self();
        go(move || {
            assert_ne!(gmp_self(), 0);
            assert_ne!(gmp_self(), parent);
            r.store(true, Ordering::SeqCst);
            assert_eq!(w.done(), 0);
        });
        assert_eq!(wg.wait(), 0);
    });
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn spawn_from_foreign_thread() {
    let _s = serial();
    let t = std::thread::spawn(|| {
        assert_eq!(gmp_self(), 0, "gmp_self on a foreign thread");
        let wg = Arc::new(WaitGroup::with(10));
        let n = Arc::new(AtomicU64::new(0));
        for _ in 0..10 {
            let (w, n) = (wg.clone(), n.clone());
            go(move || {
                // A goroutine spawned from a foreign thread spawns another.
                let w2 = w.clone();
                let n2 = n.clone();
                assert_eq!(w.add(1), 0);
                go(move || {
                    n2.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(w2.done(), 0);
                });
                n.fetch_add(1, Ordering::SeqCst);
                assert_eq!(w.done(), 0);
            });
        }
        assert_eq!(wg.wait(), 0);
        assert_eq!(n.load(Ordering::SeqCst), 20);
    });
    t.join().unwrap();
    assert_eq!(gmp_self(), 0, "gmp_self on the test thread");
}

#[test]
fn hundred_thousand_goroutines_joined() {
    let _s = serial();
    const N: usize = 100_000;
    let wg = Arc::new(WaitGroup::with(N as i64));
    let count = Arc::new(AtomicU64::new(0));
    for _ in 0..N {
        let (w, c) = (wg.clone(), count.clone());
        go(move || {
            c.fetch_add(1, Ordering::Relaxed);
            assert_eq!(w.done(), 0);
        });
    }
    assert_eq!(wg.wait(), 0);
    assert_eq!(count.load(Ordering::SeqCst), N as u64);
}

#[test]
fn hundred_thousand_goroutines_from_a_goroutine() {
    let _s = serial();
    const N: usize = 100_000;
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    gmain(move || {
        let wg = Arc::new(WaitGroup::with(N as i64));
        for i in 0..N {
            let (w, c) = (wg.clone(), c.clone());
            go(move || {
                if i % 7 == 0 {
                    gmp_gosched();
                }
                c.fetch_add(1, Ordering::Relaxed);
                assert_eq!(w.done(), 0);
            });
        }
        assert_eq!(wg.wait(), 0);
    });
    assert_eq!(count.load(Ordering::SeqCst), N as u64);
}

#[test]
fn goroutine_ids_unique_and_positive() {
    let _s = serial();
    const N: usize = 2000;
    let seen = Arc::new(Mutex::new(Vec::with_capacity(N)));
    let wg = Arc::new(WaitGroup::with(N as i64));
    let mut returned = Vec::with_capacity(N);
    for _ in 0..N {
        let (w, s) = (wg.clone(), seen.clone());
        let id = go(move || {
            let me = gmp_self();
            gmp_gosched();
            assert_eq!(gmp_self(), me, "a goroutine's id changed across a switch");
            s.lock().unwrap().push(me);
            assert_eq!(w.done(), 0);
        });
        returned.push(id);
    }
    assert_eq!(wg.wait(), 0);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), N);
    assert!(seen.iter().all(|&id| id > 0), "an id of 0");
    let set: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(set.len(), N, "duplicate goroutine ids");
    let ret: HashSet<u64> = returned.iter().copied().collect();
    assert_eq!(
        set, ret,
        "ids seen by gmp_self differ from the ids go returned"
    );
}

unsafe extern "C" fn record_self(arg: *mut c_void) {
    // SAFETY: arg is the (id slot, waitgroup) pair the test keeps alive until wait.
    let (slot, wg) = unsafe { &*(arg as *const (AtomicU64, WaitGroup)) };
    slot.store(gmp_self(), Ordering::SeqCst);
    assert_eq!(wg.done(), 0);
}

#[test]
fn go_ex_out_id_matches_gmp_self() {
    let _s = serial();
    for _ in 0..100 {
        let pair = Box::new((AtomicU64::new(0), WaitGroup::with(1)));
        let mut id: gmp_goid = 0;
        let attr = gmp_go_attr {
            size: std::mem::size_of::<gmp_go_attr>(),
            stack_size: 0,
            name: c"ided".as_ptr(),
            hooks: std::ptr::null(),
        };
        // SAFETY: attr and the pair outlive the goroutine (we wait for it).
        let rc = unsafe {
            gmp_go_ex(
                &attr,
                Some(record_self),
                &*pair as *const _ as *mut c_void,
                &mut id,
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(pair.1.wait(), 0);
        assert!(id > 0);
        assert_eq!(pair.0.load(Ordering::SeqCst), id);
    }
}

#[test]
fn num_goroutine_drops_back_after_joins() {
    let _s = serial();
    const N: i64 = 1000;
    let gate = Arc::new(WaitGroup::with(1));
    let done = Arc::new(WaitGroup::with(N));
    let before = gmp_num_goroutine();
    for _ in 0..N {
        let (g, d) = (gate.clone(), done.clone());
        go(move || {
            assert_eq!(g.wait(), 0);
            assert_eq!(d.done(), 0);
        });
    }
    // All N are parked on the gate now (or about to be): they exist.
    wait_for("N blocked goroutines counted", || gmp_num_goroutine() >= N);
    assert!(stats().goroutines >= N);
    assert_eq!(gate.done(), 0);
    assert_eq!(done.wait(), 0);
    // Each goroutine calls done just before it returns: poll until they have ended.
    wait_for("gmp_num_goroutine to drop back", || {
        gmp_num_goroutine() <= before
    });
    assert!(gmp_num_goroutine() >= 0);
}

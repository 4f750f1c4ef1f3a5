//! gmp_main's goroutine is Go's main goroutine (API.md `gmp_main`, DESIGN.md
//! "LockOSThread"): it starts on the calling thread, is not locked to it and migrates
//! after its switch points; `gmp_lock_os_thread` before its first switch point keeps it
//! on the calling thread for good; gmp_main returns on the calling thread when it ends,
//! wherever it ended and also while other goroutines spin without switch points; the
//! calling thread runs no other goroutine meanwhile. Threads are told apart by gettid.
//! The deadlock cases (checkdead needs a process without the harness's threads) are in
//! tests/c/main_goroutine.c and diag_deadlock.rs.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use support::*;

const ROUNDS: u64 = 300;

/// ROUNDS switch points of several kinds (a channel round trip with another goroutine,
/// a yield, a sleep, a spawn and wait); returns (rounds after which it ran on `caller`,
/// rounds after which it ran elsewhere). Every other goroutine counts in `others_here`
/// the times it ran on `caller`.
fn switch_points(caller: i64, others_here: &Arc<AtomicU64>) -> (u64, u64) {
    let (ping, pong) = (Ch::of::<i64>(0), Ch::of::<i64>(0));
    let done = Arc::new(WaitGroup::with(1));
    {
        let (done, oh) = (done.clone(), others_here.clone());
        go(move || {
            loop {
                let (rc, v) = ping.recv::<i64>();
                if rc != 0 {
                    break; // closed
                }
                if gettid() == caller {
                    oh.fetch_add(1, Ordering::Relaxed);
                }
                pong.put(v);
            }
            assert_eq!(done.done(), 0);
        });
    }
    let (mut here, mut elsewhere) = (0, 0);
    for i in 0..ROUNDS {
        match i % 4 {
            0 => {
                ping.put(i as i64);
                assert_eq!(pong.get::<i64>(), i as i64);
            }
            1 => gmp_gosched(),
            2 => assert_eq!(gmp_sleep(20_000), 0),
            _ => {
                let wg = Arc::new(WaitGroup::with(1));
                let (w, oh) = (wg.clone(), others_here.clone());
                go(move || {
                    if gettid() == caller {
                        oh.fetch_add(1, Ordering::Relaxed);
                    }
                    assert_eq!(w.done(), 0);
                });
                assert_eq!(wg.wait(), 0);
            }
        }
        if gettid() == caller {
            here += 1;
        } else {
            elsewhere += 1;
        }
    }
    assert_eq!(ping.close(), 0);
    assert_eq!(done.wait(), 0);
    support::gmp_chan_release(ping.p());
    support::gmp_chan_release(pong.p());
    (here, elsewhere)
}

#[test]
fn unlocked_main_starts_on_the_caller_then_migrates() {
    let _s = serial();
    let caller = gettid();
    let others_here = Arc::new(AtomicU64::new(0));
    let seen = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicI64::new(0)));
    let (oh, sn) = (others_here.clone(), seen.clone());
    gmain(move || {
        assert_eq!(
            gettid(),
            caller,
            "the main goroutine starts on the calling thread"
        );
        let (here, elsewhere) = switch_points(caller, &oh);
        sn.0.store(here, Ordering::SeqCst);
        sn.1.store(elsewhere, Ordering::SeqCst);
        sn.2.store(gettid(), Ordering::SeqCst);
    });
    assert_eq!(gettid(), caller);
    assert!(
        seen.1.load(Ordering::SeqCst) > 0,
        "unlocked, it never ran on another thread ({} rounds on the caller's)",
        seen.0.load(Ordering::SeqCst)
    );
    assert_ne!(
        seen.2.load(Ordering::SeqCst),
        caller,
        "it ended on another thread"
    );
    assert_eq!(
        others_here.load(Ordering::SeqCst),
        0,
        "the calling thread ran other goroutines"
    );
}

#[test]
fn locked_before_first_switch_point_main_stays_for_good() {
    let _s = serial();
    let caller = gettid();
    let others_here = Arc::new(AtomicU64::new(0));
    let oh = others_here.clone();
    gmain(move || {
        assert_eq!(gmp_lock_os_thread(), 0);
        let (here, elsewhere) = switch_points(caller, &oh);
        assert_eq!(
            (here, elsewhere),
            (ROUNDS, 0),
            "locked main left the thread"
        );
    });
    assert_eq!(others_here.load(Ordering::SeqCst), 0);
}

#[test]
fn main_unlocked_after_a_lock_leaves_the_caller() {
    let _s = serial();
    let caller = gettid();
    let others_here = Arc::new(AtomicU64::new(0));
    let oh = others_here.clone();
    gmain(move || {
        assert_eq!(gmp_lock_os_thread(), 0);
        assert_eq!(gmp_sleep(1_000), 0);
        assert_eq!(gettid(), caller);
        assert_eq!(gmp_unlock_os_thread(), 0);
        let (_, elsewhere) = switch_points(caller, &oh);
        assert!(elsewhere > 0, "unlocked main stayed on the calling thread");
    });
    assert_eq!(others_here.load(Ordering::SeqCst), 0);
}

#[test]
fn main_locked_later_ends_on_its_thread_and_gmp_main_returns_here() {
    let _s = serial();
    let caller = gettid();
    let ended_on = Arc::new(AtomicI64::new(0));
    let e = ended_on.clone();
    gmain(move || {
        assert_eq!(gmp_sleep(1_000), 0);
        assert_eq!(gmp_lock_os_thread(), 0);
        let mine = gettid();
        for i in 0..50 {
            if i % 2 == 0 {
                assert_eq!(gmp_sleep(1_000), 0);
            } else {
                gmp_gosched();
            }
            assert_eq!(gettid(), mine, "locked goroutine moved");
        }
        e.store(mine, Ordering::SeqCst); // ends locked: its thread ends with it
    });
    assert_eq!(gettid(), caller);
    assert_ne!(ended_on.load(Ordering::SeqCst), caller);
}

/// gmp_main returns although every other P runs a goroutine that spins in code without
/// a switch point: the calling thread is not one of the threads running them.
#[test]
fn gmp_main_returns_while_other_goroutines_spin() {
    let _s = serial();
    let before = gmp_maxprocs(4);
    let release = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicU64::new(0));
    let spinners = Arc::new(WaitGroup::with(3));
    let (r, st, sp) = (release.clone(), started.clone(), spinners.clone());
    gmain(move || {
        for _ in 0..3 {
            let (r, st, sp) = (r.clone(), st.clone(), sp.clone());
            go(move || {
                st.fetch_add(1, Ordering::SeqCst);
                while !r.load(Ordering::Relaxed) {
                    std::thread::yield_now(); // not a gmp switch point
                }
                assert_eq!(sp.done(), 0);
            });
        }
        while st.load(Ordering::SeqCst) < 3 {
            gmp_gosched();
        }
    });
    assert!(
        !release.load(Ordering::SeqCst),
        "returned while they still spin"
    );
    release.store(true, Ordering::SeqCst);
    assert_eq!(spinners.wait(), 0);
    gmp_maxprocs(before);
}

/// The goroutine count no longer includes the main goroutine once gmp_main returned,
/// wherever it ended.
#[test]
fn main_goroutine_is_not_counted_after_gmp_main() {
    let _s = serial();
    wait_for("no goroutines", || gmp_num_goroutine() == 0);
    for locked in [false, true] {
        gmain(move || {
            if locked {
                assert_eq!(gmp_lock_os_thread(), 0);
            }
            assert_eq!(gmp_sleep(1_000), 0);
        });
        assert_eq!(gmp_num_goroutine(), 0, "locked = {locked}");
    }
}

/// `GMP_HOOKS_LAZY_RESUME` does not apply to gmp_main's goroutine: it may run on the
/// caller's thread, whose resting state the hook cannot assume, so every resume is
/// called although the record (the first 16 bytes at ctx) stays zero.
#[test]
fn lazy_resume_is_ignored_for_the_main_goroutine() {
    let _s = serial();
    let rec = CountingHooks::new(false);
    let hooks = rec.hooks(GMP_HOOKS_LAZY_RESUME);
    let attr = attr_with_hooks(&hooks);
    let (f, arg) = c_closure(|| {
        for _ in 0..5 {
            assert_eq!(gmp_sleep(100_000), 0);
        }
    });
    // SAFETY: valid attributes (copied) and entry; rec outlives the call.
    assert_eq!(unsafe { gmp_main_ex(&attr, f, arg) }, 0);
    let (parks, resumes) = rec.counts();
    assert!(parks >= 5, "only {parks} parks");
    assert_eq!(resumes, parks, "a resume of the main goroutine was skipped");
}

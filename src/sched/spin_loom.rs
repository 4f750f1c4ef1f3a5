//! A loom model of the spinning/idle re-check protocol (step 3 of "Worker parking and
//! unparking" in `sched/mod.rs`): an abstract model of those lines, not the code itself
//! (the real ones live in `findrunnable`, `wakep` and `runqput_wake`, which need a
//! whole scheduler around them). Each step below names the line it stands for, with the
//! same orderings.
//!
//! Two M's, two P's. M1 is spinning and found nothing: it gives up
//! (`findrunnable.rs`, the `releasep`/`pidleput` then `was_spinning` block): it puts its
//! P on the idle list under the sched lock (`pidleput`: `npidle += 1`), drops
//! `nmspinning`, fences, and looks at every P's run queue once more
//! (`p2.runq.is_empty()`), taking an idle P back if it finds work. M0 runs a goroutine
//! on P0 that readies another (`queue::runqput_wake`): it puts the G into P0's `runnext`
//! (`RunQueue::put`'s `runnext.swap(.., SeqCst)`), then reads `npidle` and `nmspinning`
//! (SeqCst) and calls `wakep` if there is an idle P and no spinning M (`wakep`: the
//! `nmspinning` CAS 0 -> 1, `pidleget` under the lock).
//!
//! The claim of `sched/mod.rs` checked here: the ready G is never left with nobody but
//! its own M to notice it — either M1's re-check sees it, or M0's check sees the idle P
//! and no spinner and wakes an M.
//!
//! Go states the protocol with a StoreLoad barrier on both sides (proc.go, "Worker
//! thread parking/unparking": submit work, barrier, check `nmspinning`). M1 has its
//! `fence(SeqCst)`. M0's side is the SeqCst `runnext` swap followed by SeqCst loads:
//! by C++20 [atomics.order] (a SeqCst fence X sequenced before a load B: B sees the
//! last SeqCst store to its object before X in the order S, or a later one), either the
//! swap precedes M1's fence in S and M1's re-check sees the G, or M1's `nmspinning`
//! decrement precedes the swap, hence M0's loads, and M0 sees it and wakes an M. (The
//! swap was AcqRel until this model was written, which promises neither; it is the same
//! instruction on x86 and arm64.) Loom models SeqCst accesses as acquire/release, so it
//! cannot check that argument: [`with_fence`] puts a `fence(SeqCst)` between M0's put and
//! its checks (the protocol as Go states it, which loom can check), and [`as_written`]
//! keeps the code's orderings and is `#[ignore]`d (run it with `--ignored` to see loom's
//! counterexample, which needs the weaker SeqCst loom gives). On M0's side a miss would
//! cost parallelism, not liveness: the G is in M0's own P, which M0 runs at its next
//! `schedule`.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib loom::spin_loom`.

use loom::sync::atomic::{AtomicI32, AtomicUsize, Ordering::*, fence};
use loom::sync::{Arc, Mutex};
use loom::thread;

struct Sched {
    /// Idle P's on the list (`Locked::pidle`), under the sched lock.
    pidle: Mutex<u32>,
    npidle: AtomicI32,
    nmspinning: AtomicI32,
    /// P0's `runnext` (0: empty).
    p0_runnext: AtomicUsize,
}

/// `pidleget` (sched lock held): an idle P, if any.
fn pidleget(s: &Sched) -> bool {
    let mut idle = s.pidle.lock().unwrap();
    if *idle == 0 {
        return false;
    }
    *idle -= 1;
    s.npidle.fetch_sub(1, SeqCst);
    true
}

/// M1, spinning, gives up: true if its re-check found the G (and took a P back).
fn spinner_gives_up(s: &Sched) -> bool {
    {
        // releasep + pidleput (under the sched lock).
        let mut idle = s.pidle.lock().unwrap();
        *idle += 1;
        s.npidle.fetch_add(1, SeqCst);
    }
    // was_spinning: nmspinning -= 1; fence(SeqCst).
    s.nmspinning.fetch_sub(1, SeqCst);
    fence(SeqCst);
    // Re-check every P's queue (`RunQueue::is_empty` reads runnext with Acquire).
    if s.p0_runnext.load(Acquire) != 0 {
        if pidleget(s) {
            s.nmspinning.fetch_add(1, SeqCst);
        }
        return true;
    }
    false
}

/// M0 readies a G on P0 (`runqput_wake`): true if it woke an M (`wakep` got a P).
fn ready(s: &Sched, barrier: bool) -> bool {
    s.p0_runnext.swap(1, SeqCst);
    if barrier {
        fence(SeqCst);
    }
    if s.npidle.load(SeqCst) != 0 && s.nmspinning.load(SeqCst) == 0 {
        // wakep
        if s.npidle.load(SeqCst) == 0 {
            return false;
        }
        if s.nmspinning.load(SeqCst) != 0
            || s.nmspinning.compare_exchange(0, 1, SeqCst, SeqCst).is_err()
        {
            return false;
        }
        if pidleget(s) {
            return true; // startm(p, spinning): the new M will find the G
        }
        s.nmspinning.fetch_sub(1, SeqCst);
    }
    false
}

fn run(barrier: bool) {
    let s = Arc::new(Sched {
        pidle: Mutex::new(0),
        npidle: AtomicI32::new(0),
        nmspinning: AtomicI32::new(1), // M1
        p0_runnext: AtomicUsize::new(0),
    });
    let s1 = s.clone();
    let m1 = thread::spawn(move || spinner_gives_up(&s1));
    let woke = ready(&s, barrier);
    let found = m1.join().unwrap();
    assert!(
        found || woke,
        "the ready G is seen by neither M1's re-check nor M0's wakep"
    );
}

/// The protocol as Go states it: a StoreLoad barrier on both sides.
#[test]
fn with_fence() {
    crate::loom::model("spinning re-check vs ready (fence on both sides)", || {
        run(true)
    });
}

/// The orderings exactly as written (no fence after the put on M0's side).
#[test]
#[ignore = "loom models the SeqCst swap and loads as acquire/release; see the module docs"]
fn as_written() {
    crate::loom::model("spinning re-check vs ready (as written)", || run(false));
}

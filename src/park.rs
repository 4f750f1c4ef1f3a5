//! One way to wait, for everyone: a parked goroutine or a blocked foreign thread.
//!
//! Channels, select, the sema table, sleep and (later) the netpoller all block through
//! this module, which is what lets every gmp call work from any thread (API.md
//! "Conventions"). A wait is named by a [`WaitRef`]: who waits (a G, or a foreign thread's
//! [`ThreadWaiter`]) and which of its waits (a sequence number). The waiter's wait word
//! packs `seq << 8 | outcome`; `outcome == WAITING` while the wait is open.
//!
//! ## The protocol
//! 1. The waiter calls [`prepare`], which opens a new wait (seq + 1, WAITING) and returns its
//!    `WaitRef`, and publishes the `WaitRef` where a waker will find it (a channel's queue,
//!    a sema bucket), under that structure's lock.
//! 2. It calls [`park`] with a `commit` closure that releases that lock. A goroutine runs
//!    `commit` on the scheduler stack *after* switching away (Go's `gopark` + `unlockf`),
//!    so no waker can ready it while it is still running; a thread runs it and then sleeps
//!    on its futex. Timers that end the wait must be armed inside `commit` for the same
//!    reason ([`park_deadline`] does that).
//! 3. A waker (or a timer, or a home being closed) ends the wait with
//!    [`WaitRef::claim`], a CAS from WAITING to its outcome. Exactly one claim succeeds;
//!    only the winner calls [`WaitRef::wake`], exactly once. Losers leave the waiter alone:
//!    it was already woken, and it removes its own stale entries when it runs (Go's
//!    `selectDone` CAS plays this role for select).
//! 4. `park` returns the outcome. Whoever claimed with `OK` may first have written a result
//!    into the waiter's memory (a channel hand-off): the claim precedes the wake, and the
//!    wake happens-before the waiter's return.
//!
//! A stale `WaitRef` (a timer of a wait that already ended) fails its claim because the
//! sequence number moved on; G structs are never freed while the runtime runs (Go keeps
//! them in `gFree` too), so a stale `WaitRef` to a G always points at valid memory.

use std::sync::atomic::Ordering;

use crate::sched::g::{GRef, WaitReason};
pub(crate) use crate::sched::wait::{
    CANCELED, CLOSED, HOME_WAKE, HOME_WORK, OK, SHUTDOWN, TIMEDOUT, WaitRef, thread_waiter,
};
use crate::sched::wait::{PERMIT, open, outcome_of};

/// Opens a new wait for the caller: the current goroutine, else this thread.
pub(crate) fn prepare() -> WaitRef {
    prepare_ex(false)
}

/// [`prepare`] for a wait that only its queue entry can end: no deadline, no select.
/// It is `sole` (a plain-store claim) unless the goroutine has a home, whose close may
/// cancel it.
pub(crate) fn prepare_sole() -> WaitRef {
    prepare_ex(true)
}

#[inline]
fn prepare_ex(sole: bool) -> WaitRef {
    match crate::sched::g::current() {
        Some(g) => {
            let seq = open(&g.get().wait);
            let sole = sole && g.get().home.load(Ordering::Relaxed).is_null();
            WaitRef::for_g(g, seq, sole)
        }
        None => {
            let t = thread_waiter();
            let seq = open(&t.wait);
            WaitRef::for_thread(t, seq, sole)
        }
    }
}

/// Blocks the caller of [`prepare`] until its wait is claimed; returns the outcome.
/// `commit` runs once, after the caller can no longer miss a wake-up (see the protocol).
pub(crate) fn park(w: &WaitRef, reason: WaitReason, commit: impl FnOnce()) -> u8 {
    park_deadline(w, reason, -1, commit)
}

/// [`park`] with a deadline (`gmp_now` ns; < 0: none). On the deadline the wait is
/// claimed with TIMEDOUT, unless something else claimed it first.
#[inline(always)]
pub(crate) fn park_deadline(
    w: &WaitRef,
    reason: WaitReason,
    deadline: i64,
    commit: impl FnOnce(),
) -> u8 {
    if let Some(g) = w.g() {
        if crate::sched::home::canceled(g) {
            // A closed home's goroutines never block again: they finish.
            commit();
            if w.claim(CANCELED) {
                return CANCELED;
            }
            return wait_claimed_g(g, w, reason);
        }
        let mut commit = Some(commit);
        let wr = w.clone();
        // This closure runs after we switched away (on the scheduler's stack or the next
        // goroutine's) but lives on ours. Once `c` releases the lock, a waker may resume
        // us elsewhere and reuse this frame: so first move everything off our stack, arm
        // the timer (it may fire at once: we are already WAITING), and let `c` be the
        // last act.
        let mut f = move || {
            let c = commit.take();
            if deadline >= 0 {
                crate::sched::timers::add_timer(
                    deadline,
                    crate::sched::timers::TimerAction::Wake(wr.clone()),
                );
            }
            if let Some(c) = c {
                c();
            }
        };
        crate::sched::g::gopark(g, reason, &mut f);
        outcome_of(&g.get().wait, w.seq())
    } else {
        commit();
        park_thread(w, deadline)
    }
}

/// A wait that was claimed before the goroutine parked: the claimer will `ready` it, so
/// it parks with nothing to commit and returns the outcome when readied.
fn wait_claimed_g(g: GRef, w: &WaitRef, reason: WaitReason) -> u8 {
    crate::sched::g::gopark(g, reason, &mut || {});
    outcome_of(&g.get().wait, w.seq())
}

fn park_thread(w: &WaitRef, deadline: i64) -> u8 {
    let t = w
        .thread()
        .unwrap_or_else(|| crate::fatal("park_thread on a goroutine's wait"));
    let home = crate::sched::home::thread_home();
    let mask = if home.is_some() {
        PERMIT | HOME_WORK
    } else {
        PERMIT
    };
    loop {
        // A home thread keeps running its goroutines while it waits (API.md), but only
        // until its own wake-up or deadline comes: a busy home must not starve the call.
        if let Some(h) = home {
            crate::sched::home::pump_until(h, || {
                t.word.load(Ordering::Acquire) & PERMIT != 0
                    || (deadline >= 0 && crate::sys::clock::now() >= deadline)
            });
        }
        if t.word.load(Ordering::Acquire) & PERMIT != 0 {
            t.word.fetch_and(!PERMIT, Ordering::Acquire);
            return outcome_of(&t.wait, w.seq());
        }
        if deadline >= 0 && crate::sys::clock::now() >= deadline {
            if w.claim(TIMEDOUT) {
                return TIMEDOUT;
            }
            // Claimed by someone else just now: its PERMIT is on the way.
            t.sleep(PERMIT, -1);
            return outcome_of(&t.wait, w.seq());
        }
        // Sleep until PERMIT or home work, without consuming PERMIT (checked at the top);
        // the home-work bit is only a hint, consumed here.
        t.wait_any(mask, deadline);
        t.word.fetch_and(!HOME_WORK, Ordering::AcqRel);
    }
}

/// A loom model of the wait-word claim protocol (the lock-free heart of every channel,
/// select, sema and timer wake-up). This file uses `std` atomics directly, so the model
/// re-implements [`open`], [`WaitRef::claim`], [`WaitRef::is_open`], [`outcome_of`],
/// [`ThreadWaiter::signal`]/[`ThreadWaiter::sleep`] and the deadline branch of
/// [`park_thread`] line for line on loom's atomics: same bit layout (`seq << 8 |
/// outcome`), same constants (taken from this module), same orderings. **It mirrors the
/// code; keep the two in step when either changes.** The futex sleep is a yield loop; a
/// parked goroutine's `ready` is modelled by the same release/acquire flag as a thread's
/// PERMIT (the run queue gives the same happens-before). The channel lock around claims
/// is left out, which only adds interleavings. `sole` waits (claimed with a plain store)
/// are not modelled: they have one claimer by construction (no deadline, no select, no
/// home), so there is no race to explore. Run with
/// `RUSTFLAGS="--cfg loom" cargo test --release --lib park::loom_tests`.
#[cfg(all(test, loom))]
mod loom_tests {
    use crate::sched::wait::{CLOSED, IDLE, OK, PERMIT, TIMEDOUT, WAITING};
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
    use loom::thread;

    /// Iterations explored, for the report (a std atomic: it outlives loom's executions).
    static ITERATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Runs a model. Bounded to 3 preemptions by default (as Tokio's CI bounds its
    /// models; every bug these models target needs at most two); `GMP_STRESS=1` explores
    /// every interleaving (minutes), `LOOM_MAX_PREEMPTIONS` sets the bound explicitly.
    fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
        ITERATIONS.store(0, std::sync::atomic::Ordering::Relaxed);
        let t0 = std::time::Instant::now();
        let mut b = loom::model::Builder::new();
        let exhaustive = std::env::var("GMP_STRESS").is_ok_and(|v| !v.is_empty() && v != "0");
        if b.preemption_bound.is_none() && !exhaustive {
            b.preemption_bound = Some(3);
        }
        let bound = b.preemption_bound;
        b.check(move || {
            ITERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            f()
        });
        eprintln!(
            "loom {name}: {} iterations in {:?} (preemption bound {bound:?})",
            ITERATIONS.load(std::sync::atomic::Ordering::Relaxed),
            t0.elapsed()
        );
    }

    /// `ThreadWaiter` plus what wakers write into the waiter's memory: a receive buffer
    /// per select case, and select's `fired`.
    struct Waiter {
        wait: AtomicU64,
        word: AtomicU32,
        slot: [UnsafeCell<u64>; 2],
        fired: AtomicUsize,
    }

    impl Waiter {
        fn new() -> Arc<Waiter> {
            Arc::new(Waiter {
                wait: AtomicU64::new(IDLE as u64),
                word: AtomicU32::new(0),
                slot: [UnsafeCell::new(0), UnsafeCell::new(0)],
                fired: AtomicUsize::new(usize::MAX),
            })
        }

        /// `park::open`.
        fn open(&self) -> u64 {
            let seq = (self.wait.load(Ordering::Relaxed) >> 8) + 1;
            self.wait
                .store(seq << 8 | WAITING as u64, Ordering::Release);
            seq
        }

        /// `WaitRef::claim`.
        fn claim(&self, seq: u64, outcome: u8) -> bool {
            self.wait
                .compare_exchange(
                    seq << 8 | WAITING as u64,
                    seq << 8 | outcome as u64,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        }

        /// `WaitRef::is_open`.
        fn is_open(&self, seq: u64) -> bool {
            self.wait.load(Ordering::Relaxed) == seq << 8 | WAITING as u64
        }

        /// `park::outcome_of`.
        fn outcome_of(&self, seq: u64) -> u8 {
            let v = self.wait.load(Ordering::Acquire);
            assert_eq!(v >> 8, seq, "the outcome read belongs to another wait");
            (v & 0xff) as u8
        }

        /// `WaitRef::wake` of a thread: `ThreadWaiter::signal(PERMIT)` (the futex wake
        /// is the yield loop's business).
        fn wake(&self) {
            self.word.fetch_or(PERMIT, Ordering::Release);
        }

        /// `ThreadWaiter::sleep(PERMIT, -1)`: until the PERMIT bit is set; clears it.
        fn sleep_forever(&self) -> u32 {
            loop {
                let w = self.word.load(Ordering::Acquire);
                if w & PERMIT != 0 {
                    return self.word.fetch_and(!PERMIT, Ordering::Acquire) & PERMIT;
                }
                thread::yield_now();
            }
        }

        /// `ThreadWaiter::sleep(PERMIT, deadline)` once the deadline has passed: the
        /// PERMIT bit if set (cleared), else 0.
        fn sleep_expired(&self) -> u32 {
            let w = self.word.load(Ordering::Acquire);
            if w & PERMIT != 0 {
                return self.word.fetch_and(!PERMIT, Ordering::Acquire) & PERMIT;
            }
            0
        }

        /// `park_thread` (no home) whose deadline has passed: the waiter claims its own
        /// wait with TIMEDOUT, unless a waker got there first.
        fn park_expired(&self, seq: u64) -> u8 {
            loop {
                let got = self.sleep_expired();
                if got & PERMIT != 0 {
                    return self.outcome_of(seq);
                }
                if got == 0 && self.claim(seq, TIMEDOUT) {
                    return TIMEDOUT;
                }
                if got == 0 && !self.is_open(seq) {
                    self.sleep_forever();
                    return self.outcome_of(seq);
                }
                thread::yield_now();
            }
        }

        /// `park` with no deadline (a timer, if any, is another claimer).
        fn park(&self, seq: u64) -> u8 {
            self.sleep_forever();
            self.outcome_of(seq)
        }

        /// A channel waker (`Chan::dequeue` + the copy + `Sudog::record` + `wake`):
        /// claims; only the winner writes the value into the waiter's case slot,
        /// records the case and wakes.
        fn hand_off(&self, seq: u64, outcome: u8, case: usize, value: u64) -> bool {
            if !self.claim(seq, outcome) {
                return false;
            }
            if outcome == OK {
                // SAFETY: the claim gives this waker the waiter's slot until the wake.
                self.slot[case].with_mut(|p| unsafe { *p = value });
            }
            self.fired.store(case, Ordering::Release);
            self.wake();
            true
        }

        /// A timer (`TimerAction::Wake`): `claim_and_wake(TIMEDOUT)`.
        fn timer(&self, seq: u64) -> bool {
            if self.claim(seq, TIMEDOUT) {
                self.wake();
                true
            } else {
                false
            }
        }

        fn read_slot(&self, case: usize) -> u64 {
            // SAFETY: read by the woken waiter; loom reports a race if the write is not
            // ordered before it.
            self.slot[case].with(|p| unsafe { *p })
        }
    }

    /// (1) A select parked on two channels: a sender on one (OK, writes case 0's slot)
    /// and a closer of the other (CLOSED, case 1) race. Exactly one claim wins; the
    /// waiter sees that winner's outcome and case, and the winner's value.
    #[test]
    fn select_wakeup_race_send_vs_close() {
        model("select send vs close", || {
            let w = Waiter::new();
            let seq = w.open();
            let (w1, w2) = (w.clone(), w.clone());
            let a = thread::spawn(move || w1.hand_off(seq, OK, 0, 11));
            let b = thread::spawn(move || w2.hand_off(seq, CLOSED, 1, 0));
            let out = w.park(seq);
            let fired = w.fired.load(Ordering::Acquire);
            if out == OK {
                assert_eq!(fired, 0);
                assert_eq!(w.read_slot(0), 11);
            } else {
                assert_eq!((out, fired), (CLOSED, 1));
            }
            let (ra, rb) = (a.join().unwrap(), b.join().unwrap());
            assert!(ra ^ rb, "exactly one claim succeeds: {ra} {rb}");
            assert_eq!(ra, out == OK);
        });
    }

    /// (1b) Two senders on the two channels of one select: only the winner writes its
    /// case's slot (the loser must not touch the waiter's memory: loom would see the
    /// race with the waiter's read).
    #[test]
    fn select_wakeup_race_two_senders() {
        model("select two senders", || {
            let w = Waiter::new();
            let seq = w.open();
            let (w1, w2) = (w.clone(), w.clone());
            let a = thread::spawn(move || w1.hand_off(seq, OK, 0, 100));
            let b = thread::spawn(move || w2.hand_off(seq, OK, 1, 200));
            assert_eq!(w.park(seq), OK);
            let fired = w.fired.load(Ordering::Acquire);
            assert!(fired < 2);
            assert_eq!(w.read_slot(fired), [100, 200][fired]);
            let (ra, rb) = (a.join().unwrap(), b.join().unwrap());
            assert!(ra ^ rb);
            assert_eq!(ra, fired == 0);
        });
    }

    /// (2) A stale claimer from wait N racing the waiter opening wait N+1: wait N ends by
    /// a sender or its timer (whichever claims first); the loser may try its claim at
    /// any point afterwards, even after wait N+1 opened, and must never succeed there.
    #[test]
    fn stale_claimer_never_ends_the_next_wait() {
        model("stale claimer vs next wait", || {
            let w = Waiter::new();
            let seq1 = w.open();
            let (wx, wt) = (w.clone(), w.clone());
            let x = thread::spawn(move || wx.hand_off(seq1, OK, 0, 1));
            let t = thread::spawn(move || wt.timer(seq1));
            let out1 = w.park(seq1);
            if out1 == OK {
                assert_eq!(w.read_slot(0), 1);
            }
            let seq2 = w.open();
            assert_eq!(seq2, seq1 + 1);
            let wy = w.clone();
            let y = thread::spawn(move || wy.hand_off(seq2, CLOSED, 1, 0));
            let out2 = w.park(seq2);
            assert_eq!(out2, CLOSED, "wait 2 ended by a claimer of wait 1");
            let (rx, rt, ry) = (x.join().unwrap(), t.join().unwrap(), y.join().unwrap());
            assert!(rx ^ rt, "exactly one claimer of wait 1 wins: {rx} {rt}");
            assert_eq!(rx, out1 == OK);
            assert_eq!(rt, out1 == TIMEDOUT);
            assert!(ry);
        });
    }

    /// (2b) The thread path: a foreign thread's own deadline claim (`park_thread`)
    /// races a sender of wait N; then wait N+1 is ended by another sender. The sender of
    /// wait N, if it lost, never touches wait N+1, and its PERMIT (if it won) is consumed
    /// by wait N, never mistaken for wait N+1's.
    #[test]
    fn thread_deadline_vs_sender_then_next_wait() {
        model("thread deadline vs sender, next wait", || {
            let w = Waiter::new();
            let seq1 = w.open();
            let wx = w.clone();
            let x = thread::spawn(move || wx.hand_off(seq1, OK, 0, 7));
            let out1 = w.park_expired(seq1);
            if out1 == OK {
                assert_eq!(w.read_slot(0), 7);
            } else {
                assert_eq!(out1, TIMEDOUT);
            }
            let seq2 = w.open();
            let wy = w.clone();
            let y = thread::spawn(move || wy.hand_off(seq2, OK, 1, 8));
            assert_eq!(w.park(seq2), OK);
            assert_eq!(w.fired.load(Ordering::Acquire), 1);
            assert_eq!(w.read_slot(1), 8);
            let (rx, ry) = (x.join().unwrap(), y.join().unwrap());
            assert_eq!(rx, out1 == OK, "the sender's result matches the waiter's");
            assert!(ry);
        });
    }

    /// (3) A receiver parked with a timeout: a sender, a closer and its timer race.
    /// Exactly one wins; the sender reports success iff the receiver got its value
    /// (never both a timeout and a delivered value, never a lost value).
    #[test]
    fn close_vs_send_vs_timeout() {
        model("close vs send vs timer", || {
            let w = Waiter::new();
            let seq = w.open();
            let (ws, wc, wt) = (w.clone(), w.clone(), w.clone());
            let s = thread::spawn(move || ws.hand_off(seq, OK, 0, 42));
            let c = thread::spawn(move || wc.hand_off(seq, CLOSED, 0, 0));
            let t = thread::spawn(move || wt.timer(seq));
            let out = w.park(seq);
            if out == OK {
                assert_eq!(w.read_slot(0), 42);
            }
            let (rs, rc, rt) = (s.join().unwrap(), c.join().unwrap(), t.join().unwrap());
            assert_eq!(rs as u8 + rc as u8 + rt as u8, 1, "exactly one claim wins");
            assert_eq!(rs, out == OK);
            assert_eq!(rc, out == CLOSED);
            assert_eq!(rt, out == TIMEDOUT);
        });
    }

    /// (3b) The same three-way race where the timeout is the foreign thread's own
    /// deadline (`park_thread` claims TIMEDOUT itself).
    #[test]
    fn close_vs_send_vs_own_deadline() {
        model("close vs send vs own deadline", || {
            let w = Waiter::new();
            let seq = w.open();
            let (ws, wc) = (w.clone(), w.clone());
            let s = thread::spawn(move || ws.hand_off(seq, OK, 0, 42));
            let c = thread::spawn(move || wc.hand_off(seq, CLOSED, 0, 0));
            let out = w.park_expired(seq);
            if out == OK {
                assert_eq!(w.read_slot(0), 42);
            }
            let (rs, rc) = (s.join().unwrap(), c.join().unwrap());
            assert!(!(rs && rc));
            assert_eq!(rs, out == OK);
            assert_eq!(rc, out == CLOSED);
            assert_eq!(!rs && !rc, out == TIMEDOUT);
            // No PERMIT is left over for the next wait.
            assert_eq!(w.word.load(Ordering::Acquire) & PERMIT, 0);
        });
    }
}

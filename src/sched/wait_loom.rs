//! The loom model of the wait-word claim protocol (the lock-free heart of every channel,
//! select, sema and timer wake-up), checking the real code: every step on the two words
//! is a call into [`super::proto`], the same generic functions `WaitRef`, `ThreadWaiter`,
//! `cancel_g`, `shutdown_thread_waits` and `park_thread` run, here instantiated with
//! loom's atomics. What the model adds is the glue it cannot share: the futex sleep is a
//! `yield_now` loop (the `block` of [`super::proto::wait_bits`]); a parked goroutine's
//! `ready` is the same Release/Acquire PERMIT flag as a thread's (the run queue gives the
//! same happens-before); `park_thread`'s loop without a home is rebuilt from its two
//! steps ([`super::proto::take_permit`], then [`super::proto::expire`] once the deadline
//! has passed); and the channel side of a wake-up (claim, write the value, record the
//! case, wake) is written out in [`Waiter::hand_off`] as `Chan` does it. The channel lock
//! around claims is left out, which only adds interleavings.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib sched::wait::loom_tests`.

use super::proto;
use super::{CLOSED, IDLE, OK, PERMIT, SHUTDOWN, TIMEDOUT};
use crate::loom::model;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use loom::thread;

/// `ThreadWaiter` (its `wait` and `word`) plus what wakers write into the waiter's
/// memory: a receive buffer per select case, and select's `fired`.
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

    fn open(&self) -> u64 {
        proto::open(&self.wait)
    }

    /// `WaitRef::claim` of a non-sole wait.
    fn claim(&self, seq: u64, outcome: u8) -> bool {
        proto::claim(&self.wait, seq, outcome, false)
    }

    /// `WaitRef::wake`: `ThreadWaiter::signal(PERMIT)` without the futex wake (the
    /// sleeper's yield loop sees the bit).
    fn wake(&self) {
        proto::set_bits(&self.word, PERMIT);
    }

    /// `ThreadWaiter::wait_any(PERMIT, -1)`: the futex sleep is a yield.
    fn wait_permit(&self) {
        proto::wait_bits(&self.word, PERMIT, |_| {
            thread::yield_now();
            true
        });
    }

    /// `park_thread` (no home, no deadline): check for PERMIT, else sleep, and again.
    fn park(&self, seq: u64) -> u8 {
        loop {
            if let Some(out) = proto::take_permit(&self.wait, &self.word, seq) {
                return out;
            }
            self.wait_permit();
        }
    }

    /// `park_thread` (no home) whose deadline has passed by its first check: PERMIT if
    /// it is there, else the waiter's own TIMEDOUT claim (`wait::expire`).
    fn park_expired(&self, seq: u64) -> u8 {
        if let Some(out) = proto::take_permit(&self.wait, &self.word, seq) {
            return out;
        }
        proto::expire(&self.wait, &self.word, seq, false, || self.wait_permit())
    }

    /// A channel waker (`Chan::dequeue` + the copy + `Sudog::record` + `wake`): claims;
    /// only the winner writes the value into the waiter's case slot, records the case
    /// and wakes.
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

    /// A timer (`TimerAction::Wake`), a home close (`cancel_g`) or `gmp_shutdown`
    /// (`shutdown_thread_waits`): `claim_and_wake(outcome)`. With `seq == None` the
    /// claimer reads the open wait's number from the word first, as the last two do.
    fn end(&self, seq: Option<u64>, outcome: u8) -> bool {
        let Some(seq) = seq.or_else(|| proto::open_seq(&self.wait)) else {
            return false;
        };
        if self.claim(seq, outcome) {
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

/// (1) A select parked on two channels: a sender on one (OK, writes case 0's slot) and a
/// closer of the other (CLOSED, case 1) race. Exactly one claim wins; the waiter sees
/// that winner's outcome and case, and the winner's value.
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
/// case's slot (the loser must not touch the waiter's memory: loom would see the race
/// with the waiter's read).
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

/// (2) A stale claimer from wait N racing the waiter opening wait N+1: wait N ends by a
/// sender or its timer (whichever claims first); the loser may try its claim at any
/// point afterwards, even after wait N+1 opened, and must never succeed there.
#[test]
fn stale_claimer_never_ends_the_next_wait() {
    model("stale claimer vs next wait", || {
        let w = Waiter::new();
        let seq1 = w.open();
        let (wx, wt) = (w.clone(), w.clone());
        let x = thread::spawn(move || wx.hand_off(seq1, OK, 0, 1));
        let t = thread::spawn(move || wt.end(Some(seq1), TIMEDOUT));
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

/// (2b) The thread path: a foreign thread's own deadline claim (`park_thread`) races a
/// sender of wait N; then wait N+1 is ended by another sender. The sender of wait N, if
/// it lost, never touches wait N+1, and its PERMIT (if it won) is consumed by wait N,
/// never mistaken for wait N+1's.
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

/// (3) A receiver parked with a timeout: a sender, a closer and its timer race. Exactly
/// one wins; the sender reports success iff the receiver got its value (never both a
/// timeout and a delivered value, never a lost value).
#[test]
fn close_vs_send_vs_timeout() {
    model("close vs send vs timer", || {
        let w = Waiter::new();
        let seq = w.open();
        let (ws, wc, wt) = (w.clone(), w.clone(), w.clone());
        let s = thread::spawn(move || ws.hand_off(seq, OK, 0, 42));
        let c = thread::spawn(move || wc.hand_off(seq, CLOSED, 0, 0));
        let t = thread::spawn(move || wt.end(Some(seq), TIMEDOUT));
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

/// (3b) The same three-way race where the timeout is the foreign thread's own deadline
/// (`park_thread` claims TIMEDOUT itself).
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

/// (4) `gmp_shutdown` or a home close (`shutdown_thread_waits`, `cancel_g`: they read
/// the open wait's number from the word, then claim it with SHUTDOWN or CANCELED) racing
/// a sender: exactly one of the two ends the wait, the waiter sees that one's outcome
/// (and the sender's value if it won), and the next wait opens untouched.
#[test]
fn shutdown_vs_sender() {
    model("shutdown/cancel vs sender", || {
        let w = Waiter::new();
        let seq = w.open();
        let (ws, wd) = (w.clone(), w.clone());
        let s = thread::spawn(move || ws.hand_off(seq, OK, 0, 5));
        let d = thread::spawn(move || wd.end(None, SHUTDOWN));
        let out = w.park(seq);
        let (rs, rd) = (s.join().unwrap(), d.join().unwrap());
        assert!(rs ^ rd);
        if rs {
            assert_eq!((out, w.read_slot(0)), (OK, 5));
        } else {
            assert_eq!(out, SHUTDOWN);
        }
        // The next wait is untouched by either.
        let seq2 = w.open();
        assert!(proto::is_open(&w.wait, seq2));
    });
}

/// (5) A `sole` wait (no deadline, no select, no home: one possible claimer, whose
/// claim is a plain Release store, no CAS): the waiter reads the claimer's outcome and
/// the value it wrote before waking it.
#[test]
fn sole_claim_hands_off() {
    model("sole claim", || {
        let w = Waiter::new();
        let seq = w.open();
        let ws = w.clone();
        let s = thread::spawn(move || {
            assert!(proto::claim(&ws.wait, seq, OK, true));
            // SAFETY: the sole claim gives this waker the slot until the wake.
            ws.slot[0].with_mut(|p| unsafe { *p = 9 });
            ws.wake();
        });
        assert_eq!(w.park(seq), OK);
        assert_eq!(w.read_slot(0), 9);
        s.join().unwrap();
    });
}

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

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::sched::g::{GRef, WaitReason};
use crate::sys::futex;

/// The wait is open.
pub(crate) const WAITING: u8 = 0;
/// Woken by the event it waited for.
pub(crate) const OK: u8 = 1;
/// Its deadline passed.
pub(crate) const TIMEDOUT: u8 = 2;
/// Canceled: its home was closed (later: its fd was closed).
pub(crate) const CANCELED: u8 = 3;
/// Woken because what it waited on was closed (a channel).
pub(crate) const CLOSED: u8 = 4;
/// No wait open.
const IDLE: u8 = 0xff;

/// Bit of [`ThreadWaiter::word`]: a claimed wait's wake-up arrived.
const PERMIT: u32 = 1;
/// Bit of [`ThreadWaiter::word`]: the thread's home has runnable goroutines.
pub(crate) const HOME_WORK: u32 = 2;
/// Bit of [`ThreadWaiter::word`]: `gmp_home_wake` was called.
pub(crate) const HOME_WAKE: u32 = 4;

/// The waiting half of a foreign thread (or a home thread): its wait word and the futex
/// word it sleeps on. One per thread, created on first use, shared by `Arc` with wakers
/// and timers that may outlive the thread.
pub(crate) struct ThreadWaiter {
    wait: AtomicU64,
    /// PERMIT | HOME_WORK | HOME_WAKE bits; the thread sleeps while it is 0.
    pub(crate) word: AtomicU32,
}

impl ThreadWaiter {
    fn new() -> Self {
        ThreadWaiter {
            wait: AtomicU64::new(IDLE as u64),
            word: AtomicU32::new(0),
        }
    }

    /// Sets `bits` and wakes the thread. Async-signal-safe (an atomic and a syscall).
    pub(crate) fn signal(&self, bits: u32) {
        self.word.fetch_or(bits, Ordering::Release);
        futex::wake(&self.word, 1);
    }

    /// Sleeps until a bit in `mask` is set or `deadline` (gmp_now ns, < 0: none) passes;
    /// clears and returns the bits of `mask` that were set (0 on time-out).
    pub(crate) fn sleep(&self, mask: u32, deadline: i64) -> u32 {
        loop {
            let w = self.word.load(Ordering::Acquire);
            if w & mask != 0 {
                return self.word.fetch_and(!mask, Ordering::Acquire) & mask;
            }
            let timeout = if deadline < 0 {
                -1
            } else {
                let left = deadline - crate::time::now();
                if left <= 0 {
                    return 0;
                }
                left
            };
            futex::wait(&self.word, w, timeout);
        }
    }
}

thread_local! {
    static THREAD_WAITER: Arc<ThreadWaiter> = {
        // A thread that waits in gmp outside a goroutine may act later: checkdead
        // cannot prove a deadlock any more (sched/sysmon.rs).
        crate::sched::sysmon::FOREIGN_SEEN.store(true, std::sync::atomic::Ordering::Relaxed);
        Arc::new(ThreadWaiter::new())
    };
}

/// This thread's waiter (foreign threads and home threads).
pub(crate) fn thread_waiter() -> Arc<ThreadWaiter> {
    THREAD_WAITER.with(Arc::clone)
}

#[derive(Clone)]
enum Who {
    G(GRef),
    Thread(Arc<ThreadWaiter>),
}

/// One wait of one waiter. Cheap to clone (a pointer, or an `Arc` for threads).
#[derive(Clone)]
pub(crate) struct WaitRef {
    who: Who,
    seq: u64,
}

impl WaitRef {
    fn word(&self) -> &AtomicU64 {
        match &self.who {
            Who::G(g) => &g.get().wait,
            Who::Thread(t) => &t.wait,
        }
    }

    /// Ends the wait with `outcome` if it is still open. True for exactly one caller.
    pub(crate) fn claim(&self, outcome: u8) -> bool {
        debug_assert!(outcome != WAITING);
        self.word()
            .compare_exchange(
                self.seq << 8 | WAITING as u64,
                self.seq << 8 | outcome as u64,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Whether the wait is still open (for sweeping stale timers; racy by nature).
    pub(crate) fn is_open(&self) -> bool {
        self.word().load(Ordering::Relaxed) == self.seq << 8 | WAITING as u64
    }

    /// Wakes the waiter. Only the winner of [`claim`](Self::claim) may call it, once.
    pub(crate) fn wake(self) {
        match self.who {
            Who::G(g) => crate::sched::schedule::ready(g),
            Who::Thread(t) => t.signal(PERMIT),
        }
    }

    /// `claim` then `wake`; true if this call ended the wait.
    pub(crate) fn claim_and_wake(&self, outcome: u8) -> bool {
        if self.claim(outcome) {
            self.clone().wake();
            true
        } else {
            false
        }
    }

    /// Whether both name the same wait.
    pub(crate) fn same_wait(&self, o: &WaitRef) -> bool {
        self.seq == o.seq && std::ptr::eq(self.word(), o.word())
    }
}

fn open(word: &AtomicU64) -> u64 {
    let seq = (word.load(Ordering::Relaxed) >> 8) + 1;
    word.store(seq << 8 | WAITING as u64, Ordering::Release);
    seq
}

/// Opens a new wait for the caller: the current goroutine, else this thread.
pub(crate) fn prepare() -> WaitRef {
    match crate::sched::g::current() {
        Some(g) => {
            let seq = open(&g.get().wait);
            WaitRef {
                who: Who::G(g),
                seq,
            }
        }
        None => {
            let t = thread_waiter();
            let seq = open(&t.wait);
            WaitRef {
                who: Who::Thread(t),
                seq,
            }
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
pub(crate) fn park_deadline(
    w: &WaitRef,
    reason: WaitReason,
    deadline: i64,
    commit: impl FnOnce(),
) -> u8 {
    match &w.who {
        Who::G(g) => {
            if crate::home::canceled(*g) {
                // A closed home's goroutines never block again: they finish.
                commit();
                if w.claim(CANCELED) {
                    return CANCELED;
                }
                return wait_claimed_g(*g, w, reason);
            }
            let mut commit = Some(commit);
            let wr = w.clone();
            // This closure runs on the scheduler's stack but lives on ours. Once `c`
            // releases the lock, a waker may resume us elsewhere and reuse this frame:
            // so first move everything onto the scheduler's stack, arm the timer (it may
            // fire at once: we are already WAITING), and let `c` be the last act.
            let mut f = move || {
                let c = commit.take();
                if deadline >= 0 {
                    crate::time::add_timer(deadline, crate::time::TimerAction::Wake(wr.clone()));
                }
                if let Some(c) = c {
                    c();
                }
            };
            crate::sched::g::gopark(*g, reason, &mut f);
            outcome_of(&g.get().wait, w.seq)
        }
        Who::Thread(t) => {
            commit();
            park_thread(t, w, deadline)
        }
    }
}

/// A wait that was claimed before the goroutine parked: the claimer will `ready` it, so
/// it parks with nothing to commit and returns the outcome when readied.
fn wait_claimed_g(g: GRef, w: &WaitRef, reason: WaitReason) -> u8 {
    crate::sched::g::gopark(g, reason, &mut || {});
    outcome_of(&g.get().wait, w.seq)
}

fn outcome_of(word: &AtomicU64, seq: u64) -> u8 {
    let v = word.load(Ordering::Acquire);
    debug_assert_eq!(v >> 8, seq);
    (v & 0xff) as u8
}

fn park_thread(t: &Arc<ThreadWaiter>, w: &WaitRef, deadline: i64) -> u8 {
    let home = crate::home::thread_home();
    loop {
        // A home thread keeps running its goroutines while it waits (API.md).
        if let Some(h) = home {
            crate::home::pump(h);
        }
        let mask = if home.is_some() {
            PERMIT | HOME_WORK
        } else {
            PERMIT
        };
        let got = t.sleep(mask, deadline);
        if got & PERMIT != 0 {
            return outcome_of(&t.wait, w.seq);
        }
        if got == 0 && deadline >= 0 && crate::time::now() >= deadline && w.claim(TIMEDOUT) {
            return TIMEDOUT;
        }
        // Claimed by someone else just now, or home work: go round; the PERMIT will come.
        if got == 0 && !w.is_open() {
            t.sleep(PERMIT, -1);
            return outcome_of(&t.wait, w.seq);
        }
    }
}

/// Ends g's open wait, if any, with CANCELED and readies it (home close). Only for a G
/// that cannot be running (the caller runs on its home thread, outside its goroutines).
pub(crate) fn cancel_g(g: GRef) -> bool {
    let word = &g.get().wait;
    let v = word.load(Ordering::Acquire);
    if v & 0xff != WAITING as u64 || g.status() != crate::sched::g::WAITING {
        return false;
    }
    let w = WaitRef {
        who: Who::G(g),
        seq: v >> 8,
    };
    w.claim_and_wake(CANCELED)
}

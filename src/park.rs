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
//!    on its futex. (A channel's sole wait, [`park_sole_g`], hands the scheduler the lock
//!    itself instead of a closure, released at the same point: `gopark_unlock`.) Timers
//!    that end the wait must be armed inside `commit` for the same reason
//!    ([`park_deadline`] does that).
//! 3. A waker (or a timer, or a home being closed) ends the wait with
//!    [`WaitRef::claim`], a CAS from WAITING to its outcome. Exactly one claim succeeds;
//!    only the winner calls [`WaitRef::wake`], exactly once. Losers leave the waiter alone:
//!    it was already woken, and it removes its own stale entries when it runs (Go's
//!    `selectDone` CAS plays this role for select).
//! 4. `park` returns the outcome. Whoever claimed with `OK` may first have written a result
//!    into the waiter's memory (a channel hand-off): the claim precedes the wake, and the
//!    wake happens-before the waiter's return.
//!
//! The atomic steps of this protocol are `sched::wait::proto`, which the loom model in
//! `sched/wait_loom.rs` checks as they are (on loom's atomics).
//!
//! A stale `WaitRef` (a timer of a wait that already ended) fails its claim because the
//! sequence number moved on; G memory is never freed nor reused for anything but a G
//! (Go keeps G's in `gFree` too; here the scavenger may give an idle G's page back, which
//! then reads as zeros, and a reused G's sequence starts above every old one:
//! `sched/gslab.rs`), so a stale `WaitRef` to a G always points at a valid G.

use std::sync::atomic::Ordering;

use crate::sched::g::{GRef, WaitReason};
pub(crate) use crate::sched::wait::{
    CANCELED, CLOSED, HOME_WAKE, HOME_WORK, OK, SHUTDOWN, TIMEDOUT, WaitRef, thread_waiter,
};
use crate::sched::wait::{PERMIT, expire, open, outcome_of, take_permit};

/// Opens a new wait for the caller: the current goroutine, else this thread.
#[inline]
pub(crate) fn prepare() -> WaitRef {
    prepare_ex(false)
}

/// [`prepare`] for a wait that only its queue entry can end: no deadline, no select.
/// It is `sole` (a plain-store claim) unless the goroutine has a home, whose close may
/// cancel it.
#[inline]
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

/// The running goroutine, if a wait of it that has no deadline and is not a select can
/// be `sole` ([`prepare_sole`]): it has no home. None on a thread, or with a home.
#[inline(always)]
pub(crate) fn sole_g() -> Option<GRef> {
    let g = crate::sched::g::current()?;
    g.get().home.load(Ordering::Relaxed).is_null().then_some(g)
}

/// Opens a sole wait of g (from [`sole_g`]): [`prepare_sole`] without its tests. Its
/// `WaitRef` is `WaitRef::for_g(g, seq, true)`; park with [`park_sole_g`].
#[inline(always)]
pub(crate) fn open_sole_g(g: GRef) -> u64 {
    open(&g.get().wait)
}

/// [`park`] for a sole wait of a goroutine ([`open_sole_g`]) whose commit is to release
/// the lock `guard` holds (a channel's): no deadline to arm, no home to cancel it, no
/// thread to sleep, and no commit closure: the scheduler releases the lock after the
/// switch (`gopark_unlock`).
#[inline(always)]
pub(crate) fn park_sole_g<T>(
    g: GRef,
    seq: u64,
    reason: WaitReason,
    guard: crate::sys::lock::Guard<'_, T>,
) -> u8 {
    crate::sched::g::gopark_unlock(g, reason, guard.into_raw());
    outcome_of(&g.get().wait, seq)
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
        // A sole wait's goroutine has no home (prepare_sole), so nothing to cancel it.
        if !w.is_sole() && crate::sched::home::canceled(g) {
            // A closed home's goroutines never block again: they finish.
            commit();
            if w.claim(CANCELED) {
                return CANCELED;
            }
            return wait_claimed_g(g, w, reason);
        }
        let mut commit = Some(commit);
        // This closure runs after we switched away (on the scheduler's stack or the next
        // goroutine's) but lives on ours, as does `w`. Once `c` releases the lock, or the
        // timer fires, a waker may resume us elsewhere and reuse this frame: so first move
        // everything off our stack (the timer's copy of `w` is made before it is armed),
        // arm the timer (it may fire at once: we are already WAITING), and let `c` be the
        // last act. A wait without a deadline copies nothing.
        let mut f = move || {
            let c = commit.take();
            if deadline >= 0 {
                crate::sched::timers::add_timer(
                    deadline,
                    crate::sched::timers::TimerAction::Wake(w.clone()),
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
        if let Some(out) = take_permit(t, w.seq()) {
            return out;
        }
        if deadline >= 0 && crate::sys::clock::now() >= deadline {
            // Claims TIMEDOUT, or, if someone else claimed just now, waits for their
            // PERMIT (loom-checked: sched/wait_loom.rs).
            return expire(t, w.seq(), w.is_sole());
        }
        // Sleep until PERMIT or home work, without consuming PERMIT (checked at the top);
        // the home-work bit is only a hint, consumed here.
        t.wait_any(mask, deadline);
        t.word.fetch_and(!HOME_WORK, Ordering::AcqRel);
    }
}

//! Run queues seen from the scheduler: the global queue (Go's `globrunqput`,
//! `globrunqget`), a P's local queue with its `runnext` slot (`runqput`, the ring in
//! `runq.rs`), and [`ready`], the one way back up from parked waits (park.rs), timers
//! and the poller into the scheduler.

use super::SCHED;
use super::g::{GRef, RUNNABLE, WAITING};
use super::idle::wakep;
use super::m::{self};
use super::p::P;
use std::sync::atomic::Ordering;

pub(super) fn globrunqput(l: &mut super::Locked, g: GRef) {
    l.runq.push_back(g);
    SCHED.runqsize.store(l.runq.len(), Ordering::Release);
}

/// Go's `globrunqget`: takes a batch for P (its fair share, at most half the local ring)
/// and returns one to run. `max == 0`: no extra limit.
pub(super) fn globrunqget(l: &mut super::Locked, p: &P, max: usize) -> Option<GRef> {
    let sz = l.runq.len();
    if sz == 0 {
        return None;
    }
    let procs = SCHED.procs().max(1);
    let mut n = (sz / procs + 1).min(sz);
    if max > 0 {
        n = n.min(max);
    }
    n = n.min(super::runq::LOCAL_QUEUE_CAP / 2);
    let g = l.runq.pop_front();
    for _ in 1..n {
        if let Some(x) = l.runq.pop_front() {
            runqput(p, x, false, Some(l));
        }
    }
    SCHED.runqsize.store(l.runq.len(), Ordering::Release);
    g
}

/// Puts g on p's local queue; on overflow half of the ring moves to the global queue
/// (Go's runqputslow). `locked`: the sched lock if the caller holds it. Inline: the put
/// is a few instructions (every `ready` and spawn), the overflow is out of line.
#[inline]
pub(super) fn runqput(p: &P, g: GRef, next: bool, locked: Option<&mut super::Locked>) {
    p.runq
        .put_or_spill(g.0, next, |batch| runqput_overflow(batch, locked));
}

#[cold]
#[inline(never)]
fn runqput_overflow(batch: super::runq::Overflow<super::g::G>, locked: Option<&mut super::Locked>) {
    match locked {
        Some(l) => {
            for x in batch {
                globrunqput(l, GRef(x));
            }
        }
        None => {
            let mut l = SCHED.locked();
            for x in batch {
                globrunqput(&mut l, GRef(x));
            }
        }
    }
}

/// Makes a waiting goroutine runnable (Go's `goready`), from any thread. Inline in every
/// waker (`WaitRef::wake`): a goroutine readied onto our P's `runnext` is a dozen
/// instructions, every other case is a call out of line, and the call and return cost
/// as much (a channel hand-off's, once a round trip: 20 instructions less, 1-2% of
/// pingpong's time).
#[inline(always)]
pub(crate) fn ready(g: GRef) {
    if let Some(p) = ready_begin(g) {
        runqput_wake(p, g);
    }
}

/// `ready` for the channel calls' first steps (chan.rs, `Chan::send_fast`): the same,
/// but the put on a P among several is out of line too, so that the caller's frame
/// holds nothing across a call. (In `ready` it stays inline: out of line it cost
/// `gmp_go` 10 instructions on one P, whose put there kicks `runnext` into the ring.)
#[inline(always)]
pub(crate) fn ready_lean(g: GRef) {
    if let Some(p) = ready_begin(g) {
        runqput_wake_via(p, g, |p, g| runqput_next_wake(p, g));
    }
}

/// `ready` up to its put: Some(the caller's P, if it has one) when the put is the
/// caller's to do; None when `ready_other` did it (tracing, or a goroutine with a home).
#[inline(always)]
fn ready_begin(g: GRef) -> Option<Option<&'static P>> {
    // Only the one claimer of its wait readies a G (park.rs), so a check and a store do;
    // the check catches a broken protocol rather than a race.
    if g.status() != WAITING {
        crate::fatal("ready of a goroutine that is not waiting");
    }
    g.set_status(RUNNABLE);
    g.get().since.store(0, Ordering::Relaxed);
    let home = g.get().home.load(Ordering::Acquire);
    if super::trace::on() || !home.is_null() {
        // Nothing here is live across this call, so no register to save.
        ready_other(g, home);
        return None;
    }
    Some(m::current().and_then(|m| m.get().p()))
}

/// `ready` when tracing, or for a goroutine with a home.
#[cold]
#[inline(never)]
fn ready_other(g: GRef, home: *mut super::home::Home) {
    if super::trace::on() {
        trace_ready(g);
    }
    if !home.is_null() {
        // SAFETY: a home outlives its goroutines (gmp_home_free refuses while any lives).
        unsafe { (*home).push(g) };
        return;
    }
    runqput_wake(m::current().and_then(|m| m.get().p()), g);
}

/// Queues a runnable g as the next to run on `p` (the caller's P), or globally from a
/// thread without one, and wakes an idle P if nobody spins (Go's `ready` and `newproc`
/// tails).
#[inline]
pub(super) fn runqput_wake(p: Option<&P>, g: GRef) {
    runqput_wake_via(p, g, runqput_next_wake_inline);
}

/// `runqput_wake`, with `next_wake` for the put on a P among several (inline, or out of
/// line for `ready_lean`).
#[inline(always)]
fn runqput_wake_via(p: Option<&P>, g: GRef, next_wake: impl FnOnce(&P, GRef)) {
    match p {
        Some(p) => {
            if SCHED.gomaxprocs.load(Ordering::Relaxed) == 1 && p.runq.put_next_alone(g.0) {
                // Ours is the only P: no idle P to wake, so no handshake with a
                // spinning M (whose step 3 needs the put's SeqCst swap) and no wakep.
                // If gomaxprocs grows meanwhile, a missed wake costs parallelism only:
                // the G is in our runnext, and we run it at our next switch.
                return;
            }
            next_wake(p, g);
        }
        None => runqput_global_wake(g),
    }
}

/// `runqput_wake` on a P among several: into `runnext`, and a wake-up if an idle P and
/// no spinning M.
#[inline(always)]
fn runqput_next_wake_inline(p: &P, g: GRef) {
    runqput(p, g, true, None);
    if SCHED.npidle.load(Ordering::SeqCst) != 0 && SCHED.nmspinning.load(Ordering::SeqCst) == 0 {
        wakep();
    }
}

/// `runqput_next_wake_inline` out of line, for `ready_lean`. `extern "C"`: it cannot
/// unwind (a panic here would leave the queues half-done, so it aborts), and so the FFI
/// functions that call it need no landing pad around the call.
#[inline(never)]
extern "C" fn runqput_next_wake(p: &P, g: GRef) {
    runqput_next_wake_inline(p, g);
}

/// `runqput_wake` from a thread without a P: the global queue. Out of line, so that
/// the put on a P's queue saves no registers for it.
#[cold]
#[inline(never)]
fn runqput_global_wake(g: GRef) {
    let mut l = SCHED.locked();
    globrunqput(&mut l, g);
    drop(l);
    wakep();
}

/// Queues goroutines on the global queue (sysmon moving a hog's queue).
pub(crate) fn globrunqput_batch(gs: Vec<GRef>) {
    let mut l = SCHED.locked();
    for g in gs {
        globrunqput(&mut l, g);
    }
}

#[cold]
pub(super) fn trace_ready(g: GRef) {
    let p = m::current().and_then(|m| m.get().p());
    // SAFETY: the claimer of g's wait owns it until it is queued, which is now.
    unsafe { g.inner() }.flow_pending = true;
    super::trace::emit(
        p,
        super::trace::Ev::Flow {
            tid: p.map_or(0, |p| p.id as i64),
            id: super::trace::flow_id(g),
            ts: super::trace::now(),
            start: true,
        },
    );
}

/// Puts G's from the poller on p's queue, returns one to run.
pub(super) fn injectglist(p: &P, list: Vec<GRef>) -> Option<GRef> {
    let mut it = list.into_iter();
    let first = it.next()?;
    for g in it {
        runqput(p, g, false, None);
    }
    if SCHED.npidle.load(Ordering::SeqCst) != 0 {
        wakep();
    }
    Some(first)
}

//! `gmp_select`: Go's `selectgo` (`runtime/select.go`).
//!
//! 1. Shuffle the cases into a random poll order (so no ready case starves), and sort
//!    the distinct channels by address into the lock order (so two selects over the
//!    same channels can never deadlock).
//! 2. Lock every channel; poll the cases in poll order; the first that can proceed runs.
//! 3. Otherwise (and with a non-zero timeout) enqueue one sudog per case, all sharing the
//!    caller's single `WaitRef`, and park; the commit unlocks all the channels.
//! 4. The first waker to claim the wait records its case index in `fired` and does that
//!    case's transfer; the other sudogs go stale (their claims fail). On waking, lock
//!    everything again and remove our stale sudogs.
//!
//! Differences from Go: receive on a closed channel and send on a closed channel both
//! fire with result GMP_ECLOSED (Go panics on the latter); a deadline replaces the
//! timer-channel idiom; NULL channels never fire (Go's nil channels).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::chan::{Chan, Sudog};
use crate::error::{self, Code};
use crate::park;
use crate::sched::g::WaitReason;

/// One case as the FFI hands it in: channel (null = never), op, element.
#[derive(Clone, Copy)]
pub(crate) struct Case {
    pub(crate) chan: *const Chan,
    pub(crate) send: bool,
    pub(crate) elem: *mut u8,
}

/// Returns (index, result code) of the case that fired, or Err(EAGAIN / ETIMEDOUT /
/// ECANCELED). `deadline`: < 0 forever; `try_only`: select with default.
pub(crate) fn select(cases: &[Case], deadline: i64, try_only: bool) -> Result<(usize, Code), Code> {
    let n = cases.len();
    // Poll order: a Fisher-Yates shuffle of the live cases.
    let mut order: Vec<usize> = (0..n).filter(|&i| !cases[i].chan.is_null()).collect();
    for i in (1..order.len()).rev() {
        let j = crate::sched::findrunnable::fastrand() as usize % (i + 1);
        order.swap(i, j);
    }
    if order.is_empty() {
        if try_only {
            crate::sched::proc::preempt_check();
            return Err(error::EAGAIN);
        }
        // Go's `select {}` blocks forever; here until the deadline (or a cancel).
        let w = park::prepare();
        let outcome = park::park_deadline(&w, WaitReason::SelectNoCases, deadline, || {});
        return Err(crate::sema::outcome_code(outcome));
    }
    // Lock order: distinct channels by address.
    let mut lockorder: Vec<*const Chan> = order.iter().map(|&i| cases[i].chan).collect();
    lockorder.sort_unstable();
    lockorder.dedup();
    // SAFETY: the caller keeps a reference to every channel for the whole call.
    let chans: Vec<&Chan> = lockorder.iter().map(|&c| unsafe { &*c }).collect();
    let idx_of = |c: *const Chan| lockorder.binary_search(&c).unwrap_or(0);

    // TSan's edges (sys/sanitizer.rs, as in Chan::op): released on every case's channel
    // before, acquired on the one that fired after.
    for c in &chans {
        crate::sys::sanitizer::release(*c);
    }
    let r = selectgo(cases, &order, &chans, idx_of, deadline, try_only);
    if let Ok((i, _)) = r {
        crate::sys::sanitizer::acquire(cases[i].chan);
    }
    r
}

/// Passes 1-3 of `select` (Go's `selectgo`): locks the channels in lock order, then
/// goes over the live cases in poll order.
fn selectgo(
    cases: &[Case],
    order: &[usize],
    chans: &[&Chan],
    idx_of: impl Fn(*const Chan) -> usize,
    deadline: i64,
    try_only: bool,
) -> Result<(usize, Code), Code> {
    let n = cases.len();
    let mut guards: Vec<_> = chans.iter().map(|c| c.locked()).collect();

    // Pass 1: anything ready?
    for &i in order {
        let c = &cases[i];
        let k = idx_of(c.chan);
        let inner = &mut *guards[k];
        let r = if c.send {
            chans[k].try_send_locked(inner, c.elem)
        } else {
            chans[k].try_recv_locked(inner, c.elem)
        };
        if let Some((rc, woken)) = r {
            drop(guards);
            if let Some(w) = woken {
                w.wake();
            }
            return Ok((i, rc));
        }
    }
    if try_only {
        drop(guards);
        // A select with default that finds nothing is a preemption point (see chan.rs).
        crate::sched::proc::preempt_check();
        return Err(error::EAGAIN);
    }

    // Pass 2: enqueue on every channel, in lock order of cases.
    let fired = AtomicUsize::new(usize::MAX);
    let w = park::prepare();
    for &i in order {
        let c = &cases[i];
        let k = idx_of(c.chan);
        let sg = Sudog {
            w: w.clone(),
            elem: c.elem,
            fired: &fired,
            case: i,
        };
        if c.send {
            guards[k].sendq.push_back(sg);
        } else {
            guards[k].recvq.push_back(sg);
        }
    }
    let outcome = park::park_deadline(&w, WaitReason::Select, deadline, move || drop(guards));

    // Pass 3: dequeue our stale sudogs from every channel.
    for c in chans {
        let mut inner = c.locked();
        inner.recvq.retain(|sg| !sg.w.same_wait(&w));
        inner.sendq.retain(|sg| !sg.w.same_wait(&w));
    }
    match outcome {
        park::OK | park::CLOSED => {
            let i = fired.load(Ordering::Acquire);
            if i >= n {
                crate::fatal("select woke without a case");
            }
            if outcome == park::CLOSED {
                let c = &cases[i];
                if !c.send && !c.elem.is_null() {
                    // SAFETY: the caller's receive buffer of elem_size bytes.
                    let size = unsafe { (*c.chan).elem_size };
                    // SAFETY: as above.
                    unsafe { std::ptr::write_bytes(c.elem, 0, size) };
                }
                Ok((i, error::ECLOSED))
            } else {
                Ok((i, 0))
            }
        }
        other => Err(crate::sema::outcome_code(other)),
    }
}

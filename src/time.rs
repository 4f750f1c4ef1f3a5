//! User-facing time: `gmp_now`, sleep, and the timer channels of `gmp_after` and
//! `gmp_ticker` (Go's `time.Sleep`, `time.After`, `time.Ticker`). They sit above the
//! parking layer; the per-P timer heaps they arm are the scheduler's (`sched/timers.rs`),
//! and the clocks are `sys/clock.rs`.

use std::sync::Arc;

use crate::sched::timers::{ChanFire, ChanTimer, TimerAction, add_timer};
pub(crate) use crate::sys::clock::{deadline_after, now};

/// Sleeps the caller (goroutine or thread) for `ns` (API.md `gmp_sleep`).
pub(crate) fn sleep(ns: i64) -> crate::error::Code {
    if ns <= 0 {
        crate::sched::proc::preempt_check();
        return 0;
    }
    let deadline = deadline_after(ns);
    let w = crate::park::prepare();
    match crate::park::park_deadline(&w, crate::sched::g::WaitReason::Sleep, deadline, || {}) {
        crate::park::CANCELED => crate::error::ECANCELED,
        crate::park::SHUTDOWN => crate::error::ESHUTDOWN,
        _ => 0,
    }
}

/// `gmp_after`: a channel (int64 elements, capacity 1) that receives `gmp_now()` once,
/// `ns` from now. The timer holds its own reference until it fires or is stopped (by
/// the release of the last other reference).
pub(crate) fn after(ns: i64) -> Result<*mut crate::chan::Chan, crate::error::Code> {
    chan_timer(0, deadline_after(ns.max(0)))
}

/// `gmp_ticker`: a channel (int64, capacity 1) receiving `gmp_now()` every period;
/// ticks a slow reader misses are dropped, as Go's Ticker does.
pub(crate) fn ticker(period: i64) -> Result<*mut crate::chan::Chan, crate::error::Code> {
    if period <= 0 {
        return Err(crate::error::EINVAL);
    }
    chan_timer(period, now().saturating_add(period))
}

fn chan_timer(period: i64, when: i64) -> Result<*mut crate::chan::Chan, crate::error::Code> {
    let t = Arc::new(ChanTimer::new(period, chan_send_now, chan_release));
    let c = crate::chan::Chan::make(8, 1, None, Some(t.clone()))?;
    // SAFETY: fresh channel; the extra reference belongs to the timer's firing.
    unsafe { (*c).retain() };
    add_timer(when, TimerAction::Chan(ChanFire::new(t, c.cast())));
    Ok(c)
}

/// A timer channel's send: `now`, without blocking (capacity 1; a tick nobody took yet
/// makes this one drop, as Go's Ticker does).
unsafe fn chan_send_now(ch: *mut (), now: i64) {
    // SAFETY: the caller's firing holds a reference to this channel.
    unsafe { (*ch.cast::<crate::chan::Chan>()).send((&now as *const i64).cast(), -1, true) };
}

/// Drops the timer's reference to its channel.
unsafe fn chan_release(ch: *mut ()) {
    // SAFETY: the caller owns one reference to this channel.
    unsafe { crate::chan::Chan::release(ch.cast()) };
}

//! `gmp_waitgroup`: a 64-bit counter; waiters and their count live in the sema table, so
//! `done` touches the struct once (its decrement) and only uses the address afterwards.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::error::{self, Code};
use crate::sched::g::WaitReason;
use crate::sema;

pub(crate) fn add(c: &AtomicI64, delta: i64) -> Code {
    let addr = c as *const AtomicI64 as usize;
    if delta < 0 {
        // TSan's edge done -> wait (sys/sanitizer.rs), before the store that may let a
        // waiter return.
        crate::sys::sanitizer::release(c);
    }
    // A CAS, not fetch_add + undo: a refused add must never be visible (a waiter that
    // saw a transient -1 would park with nobody left to wake it).
    let mut old = c.load(Ordering::Relaxed);
    let new = loop {
        let new = match old.checked_add(delta) {
            Some(n) if n >= 0 => n,
            _ => return error::EINVAL,
        };
        match c.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => break new,
            Err(v) => old = v,
        }
    };
    // The CAS above was the last touch of the struct; from here only its address.
    if new == 0 && delta != 0 {
        sema::wake_all(addr);
    }
    0
}

pub(crate) fn wait(c: &AtomicI64) -> Code {
    wait_deadline(c, -1)
}

/// `gmp_waitgroup_wait_timeout`: `deadline` < 0 waits forever.
pub(crate) fn wait_deadline(c: &AtomicI64, deadline: i64) -> Code {
    if c.load(Ordering::Acquire) == 0 {
        crate::sys::sanitizer::acquire(c);
        return 0;
    }
    if deadline >= 0 && crate::sys::clock::now() >= deadline {
        return crate::error::ETIMEDOUT;
    }
    let addr = c as *const AtomicI64 as usize;
    let outcome = sema::wait_until(addr, WaitReason::WaitGroupWait, deadline, || {
        c.load(Ordering::Acquire) == 0
    });
    if outcome == crate::park::OK {
        crate::sys::sanitizer::acquire(c);
    }
    sema::outcome_code(outcome)
}

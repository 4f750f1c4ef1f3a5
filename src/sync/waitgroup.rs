//! `gmp_waitgroup`: a 64-bit counter; waiters and their count live in the sema table, so
//! `done` touches the struct once (its decrement) and only uses the address afterwards.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::error::{self, Code};
use crate::sched::g::WaitReason;
use crate::sema;

pub(crate) fn add(c: &AtomicI64, delta: i64) -> Code {
    let addr = c as *const AtomicI64 as usize;
    let old = c.fetch_add(delta, Ordering::AcqRel);
    let Some(new) = old.checked_add(delta) else {
        c.fetch_sub(delta, Ordering::AcqRel);
        return error::EINVAL;
    };
    if new < 0 {
        c.fetch_sub(delta, Ordering::AcqRel);
        return error::EINVAL;
    }
    if new == 0 && delta != 0 {
        sema::wake_all(addr);
    }
    0
}

pub(crate) fn wait(c: &AtomicI64) -> Code {
    if c.load(Ordering::Acquire) == 0 {
        return 0;
    }
    let addr = c as *const AtomicI64 as usize;
    let outcome = sema::wait_until(addr, WaitReason::WaitGroupWait, -1, || {
        c.load(Ordering::Acquire) == 0
    });
    sema::outcome_code(outcome)
}

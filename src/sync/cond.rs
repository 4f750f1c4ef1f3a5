//! `gmp_cond`: a FIFO of waiters in the sema table; word 0 counts them so a signal with
//! nobody waiting costs one load. Unlike Go's ticket-based `notifyList`, a waiter that
//! times out removes itself, so a later signal is never spent on it.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{self, Code};
use crate::park;
use crate::sched::g::WaitReason;
use crate::sema;

pub(crate) fn wait(c: &AtomicU32, mu: &AtomicU32, deadline: i64) -> Code {
    if mu.load(Ordering::Relaxed) & 1 == 0 {
        return error::EINVAL;
    }
    let addr = c as *const AtomicU32 as usize;
    // TSan's edge for the unlock below, which runs on whatever context commits our
    // park, not on ours (sys/sanitizer.rs).
    crate::sys::sanitizer::release(mu);
    let mut q = sema::lock(addr);
    let w = sema::enqueue(&mut q, addr, 0);
    c.fetch_add(1, Ordering::Relaxed);
    // Release the bucket, then the mutex, only once we cannot miss a signal.
    let outcome = park::park_deadline(&w, WaitReason::CondWait, deadline, move || {
        drop(q);
        super::mutex::unlock(mu);
    });
    if outcome != park::OK {
        let mut q = sema::lock(addr);
        let before = q.get(&addr).map_or(0, |l| l.len());
        sema::remove(&mut q, addr, &w);
        let after = q.get(&addr).map_or(0, |l| l.len());
        if after < before {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let rc = super::mutex::lock(mu);
    if rc != 0 {
        return rc;
    }
    // TSan's edge signal -> wake (sys/sanitizer.rs); the mutex gives its own.
    crate::sys::sanitizer::acquire(c);
    sema::outcome_code(outcome)
}

pub(crate) fn signal(c: &AtomicU32, all: bool) -> Code {
    crate::sys::sanitizer::release(c);
    if c.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    let addr = c as *const AtomicU32 as usize;
    let mut q = sema::lock(addr);
    let mut woken = Vec::new();
    loop {
        // Stale nodes (timed out, not yet removed) are skipped by claim_one.
        let before = q.get(&addr).map_or(0, |l| l.len());
        let node = sema::claim_one(&mut q, addr);
        let after = q.get(&addr).map_or(0, |l| l.len());
        let removed = before - after;
        if removed > 0 {
            c.fetch_sub(removed as u32, Ordering::Relaxed);
        }
        match node {
            Some(n) => {
                woken.push(n);
                if !all {
                    break;
                }
            }
            None => break,
        }
    }
    drop(q);
    for n in woken {
        n.w.wake();
    }
    0
}

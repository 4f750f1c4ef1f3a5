//! `gmp_mutex`: a word with LOCKED and WAITERS bits.
//!
//! Unlike Go's (normal mode + starvation mode), an unlock that finds waiters hands the
//! lock straight to the first one (Go's starvation mode, always): the struct keeps
//! LOCKED, so the unlocker never stores to it after another goroutine could own it, and
//! the handoff is FIFO-fair. Contended throughput is lower than Go's barging; short
//! spinning before parking recovers most of it.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{self, Code};
use crate::park;
use crate::sched::g::WaitReason;
use crate::sema;
use crate::sys::sanitizer;

const LOCKED: u32 = 1;
const WAITERS: u32 = 2;

pub(crate) fn trylock(s: &AtomicU32) -> Code {
    match s.compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed) {
        Ok(_) => {
            sanitizer::acquire(s);
            0
        }
        Err(_) => error::EAGAIN,
    }
}

/// TSan's edge unlock -> lock (sys/sanitizer.rs) for a lock taken on a slow path.
#[inline(always)]
fn acquired(s: &AtomicU32, rc: Code) -> Code {
    if rc == 0 {
        sanitizer::acquire(s);
    }
    rc
}

pub(crate) fn lock(s: &AtomicU32) -> Code {
    if trylock(s) == 0 {
        return 0;
    }
    acquired(s, lock_slow(s, -1))
}

/// `gmp_mutex_lock_timeout`: `deadline` < 0 waits forever.
pub(crate) fn lock_deadline(s: &AtomicU32, deadline: i64) -> Code {
    if trylock(s) == 0 {
        return 0;
    }
    if deadline >= 0 && crate::sys::clock::now() >= deadline {
        return error::ETIMEDOUT;
    }
    acquired(s, lock_slow(s, deadline))
}

#[cold]
fn lock_slow(s: &AtomicU32, deadline: i64) -> Code {
    let addr = s as *const AtomicU32 as usize;
    let mut i = 0;
    while super::spin_round(i) {
        let v = s.load(Ordering::Relaxed);
        if v & LOCKED == 0
            && s.compare_exchange(v, v | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return 0;
        }
        i += 1;
    }
    let mut q = sema::lock(addr);
    loop {
        let v = s.load(Ordering::Relaxed);
        if v & LOCKED == 0 {
            if s.compare_exchange(v, v | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return 0;
            }
            continue;
        }
        if v & WAITERS != 0
            || s.compare_exchange(v, v | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            break;
        }
    }
    let w = sema::enqueue(&mut q, addr, 0);
    let outcome = park::park_deadline(&w, WaitReason::MutexLock, deadline, move || drop(q));
    if outcome == park::OK {
        // Handed off: we own the lock.
        return 0;
    }
    // Timed out or canceled (home closed): the timer/canceller only claimed our wait, so our node is still
    // queued (stale); take it out, then clear WAITERS if nobody else waits.
    let mut q = sema::lock(addr);
    sema::remove(&mut q, addr, &w);
    if !q.contains_key(&addr) {
        s.fetch_and(!WAITERS, Ordering::Relaxed);
    }
    sema::outcome_code(outcome)
}

pub(crate) fn unlock(s: &AtomicU32) -> Code {
    let v = s.load(Ordering::Relaxed);
    if v & LOCKED == 0 {
        return error::EINVAL;
    }
    sanitizer::release(s);
    if v == LOCKED
        && s.compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    {
        return 0;
    }
    unlock_slow(s)
}

#[cold]
fn unlock_slow(s: &AtomicU32) -> Code {
    let addr = s as *const AtomicU32 as usize;
    let mut q = sema::lock(addr);
    match sema::claim_one(&mut q, addr) {
        Some(node) => {
            // Hand off: stays LOCKED, now owned by the waiter.
            let more = q.contains_key(&addr);
            s.store(
                if more { LOCKED | WAITERS } else { LOCKED },
                Ordering::Release,
            );
            drop(q);
            node.w.wake();
        }
        None => {
            // The releasing store: the last touch of the struct.
            s.store(0, Ordering::Release);
        }
    }
    0
}

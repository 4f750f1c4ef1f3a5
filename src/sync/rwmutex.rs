//! `gmp_rwmutex`: one 64-bit word: reader count (low 32 bits), WRITER (held), and two
//! hint bits saying the sema queue holds writers / readers.
//!
//! Fast paths are single CASes. Every slow path runs under the bucket lock and ends in
//! [`dispatch`], which grants the lock to the queue's front in FIFO order: a writer when
//! no one holds the lock, or every reader at the front when no writer holds it. A reader
//! arriving while anyone is queued queues too (writer preference, as Go's RWMutex).
//! Grants are hand-offs (the waker updates the word for the waiter), so no waker stores
//! to the struct after a waiter could own it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{self, Code};
use crate::park;
use crate::sched::g::WaitReason;
use crate::sema::{self, Queues};
use crate::sys::sanitizer;

const READERS: u64 = 0xffff_ffff;
const WRITER: u64 = 1 << 32;
const WWAIT: u64 = 1 << 33;
const RWAIT: u64 = 1 << 34;
const QUEUED: u64 = WWAIT | RWAIT;

const K_READER: u8 = 1;
const K_WRITER: u8 = 2;

fn addr(s: &AtomicU64) -> usize {
    s as *const AtomicU64 as usize
}

/// TSan's edges (sys/sanitizer.rs), as Go's RWMutex: unlock releases the word's address,
/// which readers and writers acquire; runlock releases the next word's, which a writer
/// acquires as well.
fn readers_done(s: &AtomicU64) -> *const u8 {
    (addr(s) + 8) as *const u8
}

#[inline(always)]
fn acquired(s: &AtomicU64, writer: bool, rc: Code) -> Code {
    if rc == 0 {
        sanitizer::acquire(s);
        if writer {
            sanitizer::acquire(readers_done(s));
        }
    }
    rc
}

pub(crate) fn tryrlock(s: &AtomicU64) -> Code {
    let v = s.load(Ordering::Relaxed);
    if v & (WRITER | QUEUED) == 0
        && v & READERS < READERS
        && s.compare_exchange(v, v + 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    {
        return acquired(s, false, 0);
    }
    error::EAGAIN
}

pub(crate) fn trylock(s: &AtomicU64) -> Code {
    match s.compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed) {
        Ok(_) => acquired(s, true, 0),
        Err(_) => error::EAGAIN,
    }
}

pub(crate) fn rlock(s: &AtomicU64) -> Code {
    for _ in 0..4 {
        if tryrlock(s) == 0 {
            return 0;
        }
        let v = s.load(Ordering::Relaxed);
        if v & (WRITER | QUEUED) != 0 {
            break;
        }
    }
    acquired(s, false, slow_acquire(s, K_READER))
}

pub(crate) fn lock(s: &AtomicU64) -> Code {
    if trylock(s) == 0 {
        return 0;
    }
    acquired(s, true, slow_acquire(s, K_WRITER))
}

fn slow_acquire(s: &AtomicU64, kind: u8) -> Code {
    let a = addr(s);
    let mut q = sema::lock(a);
    let bit = if kind == K_READER { RWAIT } else { WWAIT };
    // One CAS decides: either we take the lock, or our queued bit is visible to the
    // releaser's CAS on the same word (no lost wake-up).
    loop {
        let v = s.load(Ordering::Relaxed);
        if v & QUEUED == 0 {
            let granted = if kind == K_READER {
                (v & WRITER == 0 && v & READERS < READERS).then_some(v + 1)
            } else {
                (v == 0).then_some(WRITER)
            };
            if let Some(nv) = granted {
                if s.compare_exchange(v, nv, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return 0;
                }
                continue;
            }
        }
        if s.compare_exchange(v, v | bit, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            break;
        }
    }
    let w = sema::enqueue(&mut q, a, kind);
    let reason = if kind == K_READER {
        WaitReason::RwMutexRLock
    } else {
        WaitReason::RwMutexLock
    };
    let outcome = park::park(&w, reason, move || drop(q));
    if outcome == park::OK {
        return 0;
    }
    // Canceled: our node is gone (park_on semantics); let others in if we blocked them.
    let mut q = sema::lock(a);
    sema::remove(&mut q, a, &w);
    let wake = dispatch(s, &mut q, a);
    drop(q);
    wake_nodes(wake);
    sema::outcome_code(outcome)
}

pub(crate) fn runlock(s: &AtomicU64) -> Code {
    sanitizer::release(readers_done(s));
    let mut v = s.load(Ordering::Relaxed);
    loop {
        if v & READERS == 0 {
            return error::EINVAL;
        }
        match s.compare_exchange(v, v - 1, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(x) => v = x,
        }
    }
    if (v - 1) & READERS == 0 && v & QUEUED != 0 {
        // Last reader out with waiters queued: they keep the struct alive.
        let a = addr(s);
        let mut q = sema::lock(a);
        let wake = dispatch(s, &mut q, a);
        drop(q);
        wake_nodes(wake);
    }
    0
}

pub(crate) fn unlock(s: &AtomicU64) -> Code {
    let v = s.load(Ordering::Relaxed);
    if v & WRITER == 0 {
        return error::EINVAL;
    }
    sanitizer::release(s);
    if v == WRITER
        && s.compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    {
        return 0;
    }
    let a = addr(s);
    let mut q = sema::lock(a);
    s.fetch_and(!WRITER, Ordering::Release);
    let wake = dispatch(s, &mut q, a);
    drop(q);
    wake_nodes(wake);
    0
}

/// Grants the lock to the queue's front while possible; fixes the hint bits. Bucket
/// lock held. Returns the claimed nodes to wake after unlocking.
fn dispatch(s: &AtomicU64, q: &mut Queues, a: usize) -> Vec<sema::Node> {
    let mut wake = Vec::new();
    loop {
        let v = s.load(Ordering::Relaxed);
        if v & WRITER != 0 {
            break;
        }
        match sema::front_kind(q, a) {
            Some(K_WRITER) if v & READERS == 0 => {
                if let Some(n) = sema::claim_first(q, a, |k| k == K_WRITER) {
                    s.fetch_or(WRITER, Ordering::Relaxed);
                    wake.push(n);
                }
                break;
            }
            Some(K_READER) if v & READERS < READERS => {
                if let Some(n) = sema::claim_first(q, a, |k| k == K_READER) {
                    s.fetch_add(1, Ordering::Relaxed);
                    wake.push(n);
                }
            }
            _ => break,
        }
    }
    let mut bits = 0;
    if sema::any_kind(q, a, K_WRITER) {
        bits |= WWAIT;
    }
    if sema::any_kind(q, a, K_READER) {
        bits |= RWAIT;
    }
    let mut v = s.load(Ordering::Relaxed);
    loop {
        let nv = (v & !QUEUED) | bits;
        match s.compare_exchange(v, nv, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(x) => v = x,
        }
    }
    wake
}

fn wake_nodes(nodes: Vec<sema::Node>) {
    for n in nodes {
        n.w.wake();
    }
}

//! P's: acquire and release by an M, and resizing the set (Go's `acquirep`,
//! `releasep`, `procresize` in `runtime/proc.go`). Resizing does not stop the world
//! (C code cannot be preempted): a P past gomaxprocs retires when its holder lets go.

use super::SCHED;
use super::g::GRef;
use super::idle::{pidleput, retire_idle, wakep};
use super::m::M;
use super::p::{self, P, PRef};
use super::queue::globrunqput;
use std::sync::atomic::Ordering;

pub(crate) fn acquirep(m: &M, p: &'static P) {
    // Work may start here without a wakep (a timer or fd woke the poller): sysmon must
    // not sleep through it.
    if super::sysmon::SYSMON_SLEEPING.load(Ordering::Relaxed) {
        super::sysmon::wake_sysmon();
    }
    p.m.store(m as *const M as *mut M, Ordering::Relaxed);
    p.status.store(p::RUNNING, Ordering::Release);
    m.p.store(p as *const P as *mut P, Ordering::Release);
}

pub(super) fn releasep(m: &M) -> Option<&'static P> {
    let p = m.p()?;
    p.m.store(std::ptr::null_mut(), Ordering::Relaxed);
    m.p.store(std::ptr::null_mut(), Ordering::Release);
    Some(p)
}

/// Changes the number of P's (`gmp_maxprocs`). Growing adds idle P's and wakes M's for
/// them; shrinking lets each surplus P retire at its next schedule (module docs).
pub(crate) fn procresize(n: usize) -> usize {
    let n = n.clamp(1, super::MAX_PROCS);
    let mut l = SCHED.locked();
    let old = SCHED.procs();
    let stack = SCHED.stack_size.load(Ordering::Relaxed);
    for i in SCHED.nallp.load(Ordering::Acquire)..n {
        let p = P::new(i, stack);
        SCHED.allp[i].store(p as *const P as *mut P, Ordering::Release);
        p.status.store(p::DEAD, Ordering::Relaxed);
        SCHED.nallp.store(i + 1, Ordering::Release);
    }
    SCHED.gomaxprocs.store(n as i32, Ordering::SeqCst);
    // Drop idle P's past n; revive dead P's below n.
    let idle = std::mem::take(&mut l.pidle);
    for PRef(p) in idle {
        if p.id < n {
            l.pidle.push(PRef(p));
        } else {
            SCHED.npidle.fetch_sub(1, Ordering::SeqCst);
            retire_idle(&mut l, p);
        }
    }
    for i in 0..n {
        let p = SCHED.p(i).unwrap_or_else(|| crate::fatal("allp hole"));
        if p.status.load(Ordering::Acquire) == p::DEAD {
            p.status.store(p::IDLE, Ordering::Release);
            l.pidle.push(PRef(p));
            SCHED.npidle.fetch_add(1, Ordering::SeqCst);
        }
    }
    drop(l);
    if n > old {
        for _ in old..n {
            if SCHED.runqsize.load(Ordering::Relaxed) == 0 {
                break;
            }
            wakep();
        }
    }
    old
}

/// A P being retired (id >= gomaxprocs) hands its goroutines and timers on.
pub(super) fn retire_p(m: &M, p: &'static P) {
    let mut gs = Vec::new();
    p.runq.drain(|g| gs.push(GRef(g)));
    // SAFETY: this M holds p.
    let local = unsafe { p.local() };
    let free: Vec<GRef> = std::mem::take(&mut local.gfree);
    SCHED.gfree.lock().extend(free);
    local.stacks.flush();
    if let Some(p0) = SCHED.p(0) {
        p.timers.move_all_to(&p0.timers);
    }
    releasep(m);
    let mut l = SCHED.locked();
    for g in gs {
        globrunqput(&mut l, g);
    }
    pidleput(&mut l, p);
    drop(l);
    wakep();
}

//! Idle P's and M's, and the worker-parking protocol (Go's `pidleput`/`pidleget`,
//! `wakep`, `startm`/`newm`/`mstart`/`stopm`, `handoffp`, `stoplockedm`/`startlockedm`
//! in `runtime/proc.go`): spinning M's bounded to half the busy P's, one more woken on
//! new work when there is an idle P and none spins, and the thread cap.

use super::findrunnable::wakenetpoller;
use super::g::GRef;
use super::m::{self, M, MRef};
use super::p::{self, P, PRef};
use super::procresize::{acquirep, releasep};
use super::queue::globrunqput;
use super::schedule::schedule;
use super::{SCHED, ST_SHUTDOWN};
use crate::error::{self, Code};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

/// Puts `p` on the idle list (sched lock held). A P past gomaxprocs becomes DEAD.
pub(super) fn pidleput(l: &mut super::Locked, p: &'static P) {
    if p.id >= SCHED.procs() {
        retire_idle(l, p);
        return;
    }
    p.status.store(p::IDLE, Ordering::Release);
    l.pidle.push(PRef(p));
    SCHED.npidle.fetch_add(1, Ordering::SeqCst);
}

/// Marks a P past gomaxprocs DEAD, handing its timers to P0 and any queued goroutines to
/// the global queue (sched lock held; the timer locks come after it in the lock order).
pub(super) fn retire_idle(l: &mut super::Locked, p: &'static P) {
    p.status.store(p::DEAD, Ordering::Release);
    p.runq.drain(|g| globrunqput(l, GRef(g)));
    if let Some(p0) = SCHED.p(0) {
        if !std::ptr::eq(p0, p) && p.timers.next_when() != crate::sched::timers::NONE {
            p.timers.move_all_to(&p0.timers);
            // The poller may sleep past the moved timers: let it recompute.
            super::netpoll::wake();
        }
    }
}

/// Takes an idle P (sched lock held).
pub(super) fn pidleget(l: &mut super::Locked) -> Option<&'static P> {
    let procs = SCHED.procs();
    while let Some(PRef(p)) = l.pidle.pop() {
        SCHED.npidle.fetch_sub(1, Ordering::SeqCst);
        if p.id < procs {
            return Some(p);
        }
        retire_idle(l, p);
    }
    None
}

/// checkdead found the main goroutine deadlocked: wake gmp_main's M without a P so it
/// returns GMP_EDEADLK. The main goroutine stays parked forever (its C frames cannot be
/// unwound); its stack is leaked.
pub(crate) fn abandon_main() {
    let mp = SCHED.main_m.load(Ordering::Acquire);
    if mp.is_null() {
        return;
    }
    SCHED.main_deadlocked.store(true, Ordering::SeqCst);
    // SAFETY: M's are never freed while the runtime runs.
    let m = unsafe { &*mp };
    m.wakeup();
}

/// For sysmon and exitsyscall: an idle P, taking the scheduler lock.
pub(crate) fn pidleget_lock() -> Option<&'static P> {
    let mut l = SCHED.locked();
    pidleget(&mut l)
}

/// Tries to add one more spinning M to run goroutines, if there is an idle P and no
/// spinning M (Go's `wakep`).
pub(crate) fn wakep() {
    if SCHED.npidle.load(Ordering::SeqCst) == 0 {
        return;
    }
    if super::sysmon::SYSMON_SLEEPING.load(Ordering::Relaxed) {
        super::sysmon::wake_sysmon();
    }
    if SCHED.nmspinning.load(Ordering::SeqCst) != 0
        || SCHED
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return;
    }
    let p = {
        let mut l = SCHED.locked();
        pidleget(&mut l)
    };
    match p {
        Some(p) => startm(Some(p), true),
        None => {
            SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Runs some M with p (or an idle P), creating a thread if no M is idle (Go's `startm`).
/// With `spinning`, the caller already counted the M in `nmspinning`.
pub(super) fn startm(p: Option<&'static P>, spinning: bool) {
    let mut l = SCHED.locked();
    let p = match p.or_else(|| pidleget(&mut l)) {
        Some(p) => p,
        None => {
            drop(l);
            if spinning {
                SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        }
    };
    if let Some(mm) = l.midle.pop() {
        SCHED.nmidle.fetch_sub(1, Ordering::Relaxed);
        drop(l);
        let m = mm.get();
        m.spinning.store(spinning, Ordering::Relaxed);
        m.nextp.store(p as *const P as *mut P, Ordering::Release);
        m.wakeup();
        return;
    }
    drop(l);
    if newm(p, spinning).is_err() {
        // Past max_threads or out of threads: give the P back; running M's will find
        // the work at their next schedule.
        let mut l = SCHED.locked();
        pidleput(&mut l, p);
        drop(l);
        if spinning {
            SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

pub(super) static THREAD_CAP_WARNED: AtomicBool = AtomicBool::new(false);

/// Creates a new M (an OS thread) that starts with `p`.
pub(super) fn newm(p: &'static P, spinning: bool) -> Result<(), Code> {
    let max = SCHED.max_threads.load(Ordering::Relaxed);
    if SCHED.mcount.fetch_add(1, Ordering::SeqCst) - SCHED.nmidlelocked.load(Ordering::SeqCst)
        >= max
    {
        SCHED.mcount.fetch_sub(1, Ordering::SeqCst);
        if !THREAD_CAP_WARNED.swap(true, Ordering::Relaxed) {
            eprintln!("gmp: thread limit reached (max_threads = {max}); not starting another M");
        }
        return Err(error::EAGAIN);
    }
    let id = SCHED.mnext.fetch_add(1, Ordering::Relaxed) + 1;
    let mm = M::alloc(id, false);
    SCHED.allm.lock().push(mm);
    mm.get().spinning.store(spinning, Ordering::Relaxed);
    mm.get()
        .nextp
        .store(p as *const P as *mut P, Ordering::Release);
    let index = i32::try_from(id).unwrap_or(i32::MAX);
    match m::spawn_thread(
        m::ThreadRole::Worker,
        index,
        format!("gmp-m{id}"),
        move || mstart(mm),
    ) {
        Ok(h) => {
            SCHED.threads.lock().push(h);
            Ok(())
        }
        Err(e) => {
            SCHED.mcount.fetch_sub(1, Ordering::SeqCst);
            eprintln!("gmp: cannot create a thread: {e}");
            Err(error::EAGAIN)
        }
    }
}

/// Body of a runtime-created M.
pub(super) fn mstart(mm: MRef) {
    m::set_current(Some(mm));
    crate::stack::ensure_altstack();
    let m = mm.get();
    let p = NonNull::new(m.nextp.swap(std::ptr::null_mut(), Ordering::Acquire));
    if let Some(p) = p {
        // SAFETY: P's are never freed.
        acquirep(m, unsafe { &*p.as_ptr() });
    }
    if m.spinning.load(Ordering::Relaxed) && m.p().is_none() {
        m.spinning.store(false, Ordering::Relaxed);
        SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst);
    }
    schedule(mm);
    SCHED.mcount.fetch_sub(1, Ordering::SeqCst);
    m::set_current(None);
}

/// Parks this M until `startm` hands it a P (Go's `stopm`). False on shutdown.
pub(super) fn stopm(mm: MRef) -> bool {
    let m = mm.get();
    {
        let mut l = SCHED.locked();
        if SCHED.state.load(Ordering::Acquire) == ST_SHUTDOWN {
            return false;
        }
        l.midle.push(mm);
        SCHED.nmidle.fetch_add(1, Ordering::Relaxed);
    }
    m.sleep();
    take_nextp(m)
}

/// Hands off P from an M that is about to block or stop (Go's `handoffp`).
pub(crate) fn handoffp(p: &'static P) {
    // Local work, or global work: start an M right away.
    if !p.runq.is_empty() || SCHED.runqsize.load(Ordering::Acquire) != 0 {
        startm(Some(p), false);
        return;
    }
    // No spinning or idle M's: this P's M must look for work.
    if SCHED.nmspinning.load(Ordering::SeqCst) + SCHED.npidle.load(Ordering::SeqCst) == 0
        && SCHED
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        startm(Some(p), true);
        return;
    }
    let mut l = SCHED.locked();
    if SCHED.runqsize.load(Ordering::Acquire) != 0 {
        drop(l);
        startm(Some(p), false);
        return;
    }
    // A timer on this P must still fire: the poller covers every P's timers.
    let when = p.timers.next_when();
    pidleput(&mut l, p);
    drop(l);
    if when != crate::sched::timers::NONE {
        wakenetpoller(when);
    }
}

/// Stops the M a locked G belongs to until its G is runnable again (Go's `stoplockedm`).
pub(super) fn stoplockedm(mm: MRef) -> bool {
    let m = mm.get();
    // Counted before the P goes: handoffp may need a new M, and this one must not
    // hold a place under the thread cap while it sleeps (Go's `checkmcount` leaves
    // `nmidlelocked` out too), or locked goroutines that sleep at the cap would leave
    // no M to run timers and everything else. gmp_main's thread (foreign) is not in
    // mcount, so it is not taken out of it either.
    let counted = !m.foreign;
    if counted {
        SCHED.nmidlelocked.fetch_add(1, Ordering::SeqCst);
    }
    if let Some(p) = releasep(m) {
        handoffp(p);
    }
    m.sleep();
    if counted {
        SCHED.nmidlelocked.fetch_sub(1, Ordering::SeqCst);
    }
    take_nextp(m)
}

/// Gives our P to the M `g` is locked to, wakes it, and stops (Go's `startlockedm`).
pub(super) fn startlockedm(mm: MRef, g: GRef) -> bool {
    let m = mm.get();
    let target = g.get().lockedm.load(Ordering::Acquire);
    // SAFETY: M's are never freed while the runtime runs.
    let target = unsafe { &*target };
    let p = releasep(m).unwrap_or_else(|| crate::fatal("startlockedm without a P"));
    target
        .nextp
        .store(p as *const P as *mut P, Ordering::Release);
    target.wakeup();
    stopm(mm)
}

pub(super) fn resetspinning(m: &M) {
    m.spinning.store(false, Ordering::Relaxed);
    let n = SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst) - 1;
    if n < 0 {
        crate::fatal("negative nmspinning");
    }
    // Go: the last spinning M to find work wakes another, so ramp-up continues.
    wakep();
}

/// After an M's sleep: takes the P its waker left in `nextp`, if any (false: woken
/// without one, to exit).
fn take_nextp(m: &M) -> bool {
    let p = m.nextp.swap(std::ptr::null_mut(), Ordering::Acquire);
    match NonNull::new(p) {
        Some(p) => {
            // SAFETY: P's are never freed.
            acquirep(m, unsafe { &*p.as_ptr() });
            true
        }
        None => false,
    }
}

//! The scheduling loop and the worker-parking protocol (see `sched/mod.rs` for the
//! model): `schedule`, `find_runnable`, `steal_work`, `execute`, `ready`, `wakep`,
//! `startm`/`stopm`/`handoffp`, `newproc`/`goexit0`, LockOSThread, `gmp_main`, resizing.
//! Names follow `runtime/proc.go` so the two read side by side.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering, fence};

use super::cswitch;
use super::g::{self, DEAD, Entry, G, GRef, RUNNABLE, RUNNING, Switch, WAITING};
use super::m::{self, M, MRef};
use super::p::{self, P, PRef};
use super::{SCHED, ST_RUNNING, ST_SHUTDOWN};
use crate::error::{self, Code};

// ---------------------------------------------------------------------------------------
// P's: acquire, release, idle list, resize.

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

fn releasep(m: &M) -> Option<&'static P> {
    let p = m.p()?;
    p.m.store(std::ptr::null_mut(), Ordering::Relaxed);
    m.p.store(std::ptr::null_mut(), Ordering::Release);
    Some(p)
}

/// Puts `p` on the idle list (sched lock held). A P past gomaxprocs becomes DEAD.
fn pidleput(l: &mut super::Locked, p: &'static P) {
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
fn retire_idle(l: &mut super::Locked, p: &'static P) {
    p.status.store(p::DEAD, Ordering::Release);
    p.runq.drain(|g| globrunqput(l, GRef(g)));
    if let Some(p0) = SCHED.p(0) {
        if !std::ptr::eq(p0, p) && p.timers.next_when() != crate::time::NONE {
            p.timers.move_all_to(&p0.timers);
            // The poller may sleep past the moved timers: let it recompute.
            crate::netpoll::wake();
        }
    }
}

/// Takes an idle P (sched lock held).
fn pidleget(l: &mut super::Locked) -> Option<&'static P> {
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
fn retire_p(m: &M, p: &'static P) {
    let mut gs = Vec::new();
    p.runq.drain(|g| gs.push(GRef(g)));
    // SAFETY: this M holds p.
    let local = unsafe { p.local() };
    let free: Vec<GRef> = std::mem::take(&mut local.gfree);
    SCHED
        .gfree
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(free);
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

// ---------------------------------------------------------------------------------------
// Run queues.

fn globrunqput(l: &mut super::Locked, g: GRef) {
    l.runq.push_back(g);
    SCHED.runqsize.store(l.runq.len(), Ordering::Release);
}

/// Go's `globrunqget`: takes a batch for P (its fair share, at most half the local ring)
/// and returns one to run. `max == 0`: no extra limit.
fn globrunqget(l: &mut super::Locked, p: &P, max: usize) -> Option<GRef> {
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
/// (Go's runqputslow). `locked`: the sched lock if the caller holds it.
fn runqput(p: &P, g: GRef, next: bool, locked: Option<&mut super::Locked>) {
    if let Some(batch) = p.runq.put(g.0, next) {
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
}

/// Makes a waiting goroutine runnable (Go's `goready`), from any thread.
pub(crate) fn ready(g: GRef) {
    // Only the one claimer of its wait readies a G (park.rs), so a check and a store do;
    // the check catches a broken protocol rather than a race.
    if g.status() != WAITING {
        crate::fatal("ready of a goroutine that is not waiting");
    }
    g.set_status(RUNNABLE);
    g.get().since.store(0, Ordering::Relaxed);
    if crate::tracefile::on() {
        trace_ready(g);
    }
    let home = g.get().home.load(Ordering::Acquire);
    if !home.is_null() {
        // SAFETY: a home outlives its goroutines (gmp_home_free refuses while any lives).
        unsafe { (*home).push(g) };
        return;
    }
    match m::current().and_then(|m| m.get().p()) {
        Some(p) => {
            runqput(p, g, true, None);
            if SCHED.npidle.load(Ordering::SeqCst) != 0
                && SCHED.nmspinning.load(Ordering::SeqCst) == 0
            {
                wakep();
            }
        }
        None => {
            let mut l = SCHED.locked();
            globrunqput(&mut l, g);
            drop(l);
            wakep();
        }
    }
}

// ---------------------------------------------------------------------------------------
// M's: wakep, startm, stopm, handoffp.

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
pub(crate) fn pidleget_locked() -> Option<&'static P> {
    let mut l = SCHED.locked();
    pidleget(&mut l)
}

/// Queues goroutines on the global queue (sysmon moving a hog's queue).
pub(crate) fn globrunqput_batch(gs: Vec<GRef>) {
    let mut l = SCHED.locked();
    for g in gs {
        globrunqput(&mut l, g);
    }
}

#[cold]
fn trace_ready(g: GRef) {
    let p = m::current().and_then(|m| m.get().p());
    // SAFETY: the claimer of g's wait owns it until it is queued, which is now.
    unsafe { g.inner() }.flow_pending = true;
    crate::tracefile::emit(
        p,
        crate::tracefile::Ev::Flow {
            tid: p.map_or(0, |p| p.id as i64),
            id: crate::tracefile::flow_id(g),
            ts: crate::tracefile::now(),
            start: true,
        },
    );
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
fn startm(p: Option<&'static P>, spinning: bool) {
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

static THREAD_CAP_WARNED: AtomicBool = AtomicBool::new(false);

/// Creates a new M (an OS thread) that starts with `p`.
fn newm(p: &'static P, spinning: bool) -> Result<(), Code> {
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
    SCHED
        .allm
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(mm);
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
            SCHED
                .threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(h);
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
fn mstart(mm: MRef) {
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
fn stopm(mm: MRef) -> bool {
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
    if when != crate::time::NONE {
        wake_netpoller(when);
    }
}

/// Stops the M a locked G belongs to until its G is runnable again (Go's `stoplockedm`).
fn stoplockedm(mm: MRef) -> bool {
    let m = mm.get();
    // Counted before the P goes: handoffp may need a new M, and this one must not
    // hold a place under the thread cap while it sleeps (Go's `checkmcount` leaves
    // `nmidlelocked` out too), or locked goroutines that sleep at the cap would leave
    // no M to run timers and everything else.
    SCHED.nmidlelocked.fetch_add(1, Ordering::SeqCst);
    if let Some(p) = releasep(m) {
        handoffp(p);
    }
    m.sleep();
    SCHED.nmidlelocked.fetch_sub(1, Ordering::SeqCst);
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

/// Gives our P to the M `g` is locked to, wakes it, and stops (Go's `startlockedm`).
fn startlockedm(mm: MRef, g: GRef) -> bool {
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

// ---------------------------------------------------------------------------------------
// Finding work.

fn resetspinning(m: &M) {
    m.spinning.store(false, Ordering::Relaxed);
    let n = SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst) - 1;
    if n < 0 {
        crate::fatal("negative nmspinning");
    }
    // Go: the last spinning M to find work wakes another, so ramp-up continues.
    wakep();
}

static FASTRAND: AtomicU32 = AtomicU32::new(0x9e37_79b9);

pub(crate) fn fastrand() -> u32 {
    thread_local! { static STATE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) }; }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = (FASTRAND.fetch_add(0x9e37_79b9, Ordering::Relaxed) as u64) << 1 | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 32) as u32
    })
}

/// Runs `p`'s expired timers.
fn check_timers(p: &P, now: i64) -> bool {
    p.timers.run_expired(now) > 0
}

/// Spinning M: steal from other P's, in random order, four rounds; the last round also
/// runs their timers and may take their `runnext` (Go's `stealWork`).
fn steal_work(m: &M, p: &'static P, now: i64) -> Option<GRef> {
    let n = SCHED.procs();
    if n <= 1 {
        return None;
    }
    for round in 0..4 {
        let last = round == 3;
        let start = fastrand() as usize % n;
        for k in 0..n {
            if SCHED.runqsize.load(Ordering::Relaxed) != 0 {
                let mut l = SCHED.locked();
                if let Some(g) = globrunqget(&mut l, p, 0) {
                    return Some(g);
                }
            }
            let i = (start + k) % n;
            let Some(p2) = SCHED.p(i) else { continue };
            if std::ptr::eq(p2, p) {
                continue;
            }
            if last
                && p2.timers.next_when() != crate::time::NONE
                && check_timers(p2, if now == 0 { crate::time::now() } else { now })
            {
                if let Some((g, _)) = p.runq.get() {
                    return Some(GRef(g));
                }
            }
            if p2.status.load(Ordering::Relaxed) == p::IDLE && p2.runq.is_empty() {
                continue;
            }
            if last && p2.status.load(Ordering::Relaxed) == p::RUNNING {
                // Go sleeps 3us before taking a running P's runnext, which it is about
                // to run itself; with the default timer slack that is ~50us, and so it
                // is here. A 3us spin-wait (tried) stole hand-offs from running P's
                // and kept a second M waking and spinning: pingpong on 2 P took 246 ns
                // per round trip instead of 208 (1 P: 205).
                std::thread::sleep(std::time::Duration::from_micros(3));
            }
            if let Some(g) = p.runq.steal_from(&p2.runq, last) {
                bump64(&p.steals);
                if crate::tracefile::on() {
                    trace_instant(Some(p), "steal", GRef(g));
                }
                return Some(GRef(g));
            }
        }
        let _ = m;
    }
    None
}

/// The earliest timer over every P, or NONE.
pub(crate) fn earliest_timer() -> i64 {
    let mut t = crate::time::NONE;
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            t = t.min(p.timers.next_when());
        }
    }
    t
}

/// Runs expired timers of every P (from an M without a P: their G's go to the global
/// queue).
fn run_all_timers(now: i64) {
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            p.timers.run_expired(now);
        }
    }
}

/// Finds a runnable goroutine, blocking until there is one (Go's `findRunnable`).
/// Returns None when the M must exit (shutdown).
fn find_runnable(mm: MRef) -> Option<(GRef, bool)> {
    let m = mm.get();
    'top: loop {
        if SCHED.state.load(Ordering::Acquire) == ST_SHUTDOWN {
            if let Some(p) = releasep(m) {
                let mut l = SCHED.locked();
                pidleput(&mut l, p);
            }
            return None;
        }
        let Some(p) = m.p() else {
            if !stopm(mm) {
                return None;
            }
            continue 'top;
        };
        if p.id >= SCHED.procs() {
            if m.spinning.swap(false, Ordering::Relaxed) {
                SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            retire_p(m, p);
            continue 'top;
        }
        // Go's checkTimers: read the clock only when this P has timers.
        let now = if p.timers.next_when() != crate::time::NONE {
            let now = crate::time::now();
            check_timers(p, now);
            now
        } else {
            0
        };

        if global_queue_turn(p) {
            let mut l = SCHED.locked();
            if let Some(g) = globrunqget(&mut l, p, 1) {
                return Some((g, false));
            }
        }
        if let Some((g, inherit)) = p.runq.get() {
            return Some((GRef(g), inherit));
        }
        if SCHED.runqsize.load(Ordering::Relaxed) != 0 {
            let mut l = SCHED.locked();
            if let Some(g) = globrunqget(&mut l, p, 0) {
                return Some((g, false));
            }
        }
        // Go's rule: a non-blocking poll only while nobody blocks in the poller
        // (lastpoll != 0); that one gets the events, and we must not hold it up.
        if crate::netpoll::has_waiters() && SCHED.lastpoll.load(Ordering::Relaxed) != 0 {
            let list = crate::netpoll::poll(0);
            if let Some(g) = inject_list(p, list) {
                return Some((g, false));
            }
        }

        // Spin: steal from other P's, if not too many M's already do.
        let procs = SCHED.procs() as i32;
        if m.spinning.load(Ordering::Relaxed)
            || 2 * SCHED.nmspinning.load(Ordering::SeqCst)
                < procs - SCHED.npidle.load(Ordering::SeqCst)
        {
            if !m.spinning.load(Ordering::Relaxed) {
                m.spinning.store(true, Ordering::Relaxed);
                SCHED.nmspinning.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(g) = steal_work(m, p, now) {
                return Some((g, false));
            }
        }

        // Nothing to do: give up the P.
        let mut l = SCHED.locked();
        if SCHED.runqsize.load(Ordering::Relaxed) != 0 {
            if let Some(g) = globrunqget(&mut l, p, 0) {
                return Some((g, false));
            }
        }
        if !p.runq.is_empty() {
            drop(l);
            continue 'top;
        }
        releasep(m);
        pidleput(&mut l, p);
        drop(l);

        let was_spinning = m.spinning.swap(false, Ordering::Relaxed);
        if was_spinning {
            SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            // Re-check every P's queue (step 3 of the protocol in sched/mod.rs).
            for i in 0..SCHED.procs() {
                if let Some(p2) = SCHED.p(i) {
                    if !p2.runq.is_empty() {
                        let mut l = SCHED.locked();
                        if let Some(pp) = pidleget(&mut l) {
                            drop(l);
                            acquirep(m, pp);
                            m.spinning.store(true, Ordering::Relaxed);
                            SCHED.nmspinning.fetch_add(1, Ordering::SeqCst);
                            continue 'top;
                        }
                        break;
                    }
                }
            }
        }
        if SCHED.runqsize.load(Ordering::SeqCst) != 0 {
            let mut l = SCHED.locked();
            if let Some(pp) = pidleget(&mut l) {
                drop(l);
                acquirep(m, pp);
                continue 'top;
            }
        }

        // Block in the poller until the next timer, if no one else does; else sleep.
        let when = earliest_timer();
        if (when != crate::time::NONE || crate::netpoll::has_waiters())
            && SCHED.lastpoll.swap(0, Ordering::SeqCst) != 0
        {
            // The delay is computed again inside the poller (see netpoll::poll_until).
            let delay = || {
                let when = earliest_timer();
                let now = crate::time::now();
                let delay = if when == crate::time::NONE {
                    -1
                } else {
                    (when - now).max(0)
                };
                SCHED
                    .poll_until
                    .store(if delay < 0 { 0 } else { now + delay }, Ordering::SeqCst);
                delay
            };
            let list = crate::netpoll::poll_until(&delay);
            SCHED.poll_until.store(0, Ordering::SeqCst);
            let now = crate::time::now();
            SCHED.lastpoll.store(now, Ordering::SeqCst);
            run_all_timers(now);
            let mut l = SCHED.locked();
            let pp = pidleget(&mut l);
            match pp {
                Some(pp) => {
                    drop(l);
                    acquirep(m, pp);
                    if let Some(g) = inject_list(pp, list) {
                        return Some((g, false));
                    }
                    continue 'top;
                }
                None => {
                    for g in list {
                        globrunqput(&mut l, g);
                    }
                    drop(l);
                    wakep();
                }
            }
        }
        if !stopm(mm) {
            return None;
        }
    }
}

/// Fairness: whether p takes its next G from the global queue, once in a while.
/// Go counts schedticks, which do not advance while goroutines hand the P on through
/// runnext (they inherit the time slice); Go's async preemption ends such a chain, ours
/// cannot (C code), so count every execution instead, or a runnext ping-pong starves the
/// global queue. Both find_runnable and next_direct (which skips find_runnable) ask.
#[inline]
fn global_queue_turn(p: &P) -> bool {
    p.context_switches.load(Ordering::Relaxed) % 61 == 0
        && SCHED.runqsize.load(Ordering::Relaxed) > 0
}

/// Puts G's from the poller on p's queue, returns one to run.
fn inject_list(p: &P, list: Vec<GRef>) -> Option<GRef> {
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

/// Interrupts the M blocked in the poller if `when` is earlier than its wake-up, or
/// wakes an M to look at timers (Go's `wakeNetPoller`).
pub(crate) fn wake_netpoller(when: i64) {
    if SCHED.lastpoll.load(Ordering::SeqCst) == 0 {
        let until = SCHED.poll_until.load(Ordering::SeqCst);
        if until == 0 || until > when {
            crate::netpoll::wake();
        }
    } else {
        wakep();
    }
}

/// Makes sure some M polls the network soon: if nobody is blocked in the poller, wake
/// an M (which, finding no other work, blocks there since fd waiters exist).
pub(crate) fn ensure_poller() {
    if SCHED.lastpoll.load(Ordering::SeqCst) != 0 {
        wakep();
    }
}

/// The P whose heap a new timer goes on: ours, else one picked at random.
/// Timers in every P's heap (stale ones not yet swept included).
pub(crate) fn pending_timers() -> usize {
    (0..SCHED.nallp.load(Ordering::Acquire))
        .filter_map(|i| SCHED.p(i))
        .map(|p| p.timers.len())
        .sum()
}

pub(crate) fn timer_p() -> &'static P {
    if let Some(p) = m::current().and_then(|m| m.get().p()) {
        return p;
    }
    let n = SCHED.procs().max(1);
    SCHED
        .p(fastrand() as usize % n)
        .or_else(|| SCHED.p(0))
        .unwrap_or_else(|| crate::fatal("no P for a timer"))
}

// ---------------------------------------------------------------------------------------
// Running goroutines.

/// The scheduler loop of an M. Returns when the M must end: shutdown, or its locked G
/// ended (Go: a G that exits locked takes its thread with it), or, for the gmp_main
/// thread, when its main goroutine ended.
fn schedule(mm: MRef) {
    let m = mm.get();
    loop {
        if let Some(lg) = m.lockedg() {
            // Our locked G parked, yielded or waits in a queue: give the P away and sleep
            // until an M that dequeued the G hands us a P (Go's `stoplockedm`).
            if !stoplockedm(mm) {
                return;
            }
            if execute(mm, lg, false) {
                return;
            }
            continue;
        }
        let Some((g, inherit)) = find_runnable(mm) else {
            return;
        };
        if m.spinning.load(Ordering::Relaxed) {
            resetspinning(m);
        }
        let lm = g.get().lockedm.load(Ordering::Acquire);
        if !lm.is_null() && !std::ptr::eq(lm, m) {
            // Hand our P to the M this G is locked to, and stop.
            if !startlockedm(mm, g) {
                return;
            }
            continue;
        }
        if execute(mm, g, inherit) {
            return;
        }
    }
}

/// Runs g on this M until it switches back. True when the M must end (its locked G
/// ended).
fn execute(mm: MRef, g: GRef, inherit: bool) -> bool {
    let m = mm.get();
    let p = m.p().unwrap_or_else(|| crate::fatal("execute without a P"));
    begin_run(m, p, g, inherit);
    // SAFETY: we dequeued g, so we own it.
    if unsafe { g.inner() }.stack.is_none() && !start_stack(g, Some(p)) {
        // No memory for a stack now: try again later, and refuse new goroutines until a
        // stack can be had again.
        g.set_status(RUNNABLE);
        let mut l = SCHED.locked();
        globrunqput(&mut l, g);
        drop(l);
        // Not a hot loop while memory is short: give it a millisecond to come back.
        std::thread::sleep(std::time::Duration::from_millis(1));
        return false;
    }
    let traced = crate::tracefile::on();
    if traced {
        m.trace_t0.store(trace_run_start(p, g), Ordering::Relaxed);
    }
    // execute runs on the M's own stack, so this context stays ours across the switch.
    let ctx = g::ctx();
    ctx.g.set(g.as_ptr());
    let (gl, why) = run_until_back(ctx, g);
    ctx.g.set(std::ptr::null_mut());
    m.curg.store(std::ptr::null_mut(), Ordering::Relaxed);
    if traced {
        let t0 = m.trace_t0.swap(0, Ordering::Relaxed);
        if t0 != 0 {
            if let Some(now_p) = m.p() {
                trace_run_end(Some(now_p), now_p, gl, t0);
            }
        }
    }
    // The P may have changed while the G ran (a syscall section can lose it and take
    // another): read it again.
    match why {
        Switch::Gosched => {
            gl.set_status(RUNNABLE);
            match m.p() {
                Some(p) if m.lockedg().is_none() => runqput(p, gl, false, None),
                _ => {
                    let mut l = SCHED.locked();
                    globrunqput(&mut l, gl);
                }
            }
            false
        }
        Switch::Park => {
            park_commit(gl);
            false
        }
        Switch::Requeue => {
            gl.set_status(RUNNABLE);
            let mut l = SCHED.locked();
            globrunqput(&mut l, gl);
            drop(l);
            false
        }
        Switch::Exit => goexit0(mm, gl),
        Switch::Call => unreachable!(),
    }
}

/// From a thread's scheduler loop (an M's execute, a home's run_one): switches to g,
/// which the caller dequeued and made current, and returns when a goroutine switches
/// back to the loop: g, or one that g (or a successor) switched to directly
/// (switch_from_g), with why. `gmp_blocking` calls (Switch::Call) are run here, on the
/// thread's stack, and their goroutine resumed.
pub(crate) fn run_until_back(ctx: &g::Ctx, g: GRef) -> (GRef, Switch) {
    // SAFETY: the caller dequeued g, so we own it and its saved context until it
    // switches back; our own context is saved in this thread's ctx.
    let mut arg = unsafe { cswitch::switch_to_g(ctx.sched_sp.as_ptr(), g, false) };
    loop {
        let Some((gl, why)) = g::decode(arg) else {
            crate::fatal("a goroutine switched to its scheduler without a reason");
        };
        if why != Switch::Call {
            return (gl, why);
        }
        // SAFETY: gl is suspended in its call, so it owns nothing it could touch, and
        // it is ours to resume on this thread.
        unsafe {
            let (f, a) = gl
                .inner()
                .call
                .take()
                .unwrap_or_else(|| crate::fatal("a blocking switch without a call"));
            crate::sys::sanitizer::program(|| f(a));
            arg = cswitch::switch_to_g(ctx.sched_sp.as_ptr(), gl, true);
        }
    }
}

/// Switches away from the running goroutine g1, on its stack: straight to the next G
/// of our P when one is at hand (`next_direct`), else to this thread's scheduler loop;
/// either way the context switched to is told what to do for g1 once off its stack.
/// Returns when g1 is resumed, after doing what the context that resumed it left.
#[inline(always)]
pub(crate) fn switch_from_g(g1: GRef, why: Switch) {
    let c = g::ctx();
    // SAFETY: g1 is running here, so it owns its inner state; its context is saved in
    // `sp` and stays untouched until someone resumes it.
    let save = unsafe { &mut g1.inner().sp as *mut usize };
    let arg = g::pending(g1, why);
    let got = match next_direct(c, g1, why) {
        // SAFETY: next_direct made g2 ours (dequeued, RUNNING), with a context.
        Some(g2) => unsafe { cswitch::switch_g(save, g1, Some(g2), g2.inner().sp, arg) },
        // SAFETY: the scheduler loop saved its context in ctx before switching to us.
        None => unsafe { cswitch::switch_g(save, g1, None, c.sched_sp.get(), arg) },
    };
    // `c` may be another thread's now: not used past the switch.
    after_switch_in_g(got);
}

/// The G to switch to directly from g1, which is leaving for `why`: our P's next G, if
/// the scheduler loop has nothing else to look at first. Does for it what `execute`
/// does before a switch. None: switch to the scheduler loop.
#[inline]
fn next_direct(c: &g::Ctx, g1: GRef, why: Switch) -> Option<GRef> {
    if !matches!(why, Switch::Park | Switch::Gosched | Switch::Exit) {
        return None;
    }
    let mp = c.m.get();
    if mp.is_null() || !g1.get().home.load(Ordering::Relaxed).is_null() {
        return None; // a home thread, or a foreign one
    }
    // SAFETY: M's are never freed while the runtime runs; this is our own.
    let m = unsafe { &*mp };
    // A locked M waits for its G (and a locked G that ends takes the M with it); the
    // tracer records every run; the loop checks shutdown, a shrunk gomaxprocs, timers
    // and the global queue's turn (find_runnable).
    if !m.lockedg.load(Ordering::Relaxed).is_null() || crate::tracefile::on() {
        return None;
    }
    let p = m.p()?;
    if SCHED.state.load(Ordering::Acquire) == ST_SHUTDOWN
        || p.id >= SCHED.procs()
        || p.timers.next_when() != crate::time::NONE
        || global_queue_turn(p)
    {
        return None;
    }
    let (g2, inherit) = p.runq.get()?;
    let g2 = GRef(g2);
    // SAFETY: we dequeued g2, so we own it.
    let no_stack = unsafe { g2.inner() }.stack.is_none();
    if !g2.get().lockedm.load(Ordering::Acquire).is_null()
        || (no_stack && !start_stack(g2, Some(p)))
    {
        // Locked to an M, or no stack to be had: the scheduler loop deals with it.
        runqput(p, g2, true, None);
        return None;
    }
    begin_run(m, p, g2, inherit);
    c.g.set(g2.as_ptr());
    Some(g2)
}

/// What comes before running a G we dequeued on m, which holds p (execute, next_direct).
#[inline(always)]
fn begin_run(m: &M, p: &P, g: GRef, inherit: bool) {
    // Only the holder of p writes these counters: plain load + store, no atomic RMW.
    if !inherit {
        bump(&p.schedtick);
    }
    bump64(&p.context_switches);
    // We dequeued g: it is ours, RUNNABLE. A check, not an RMW, on the hot path.
    if g.status() != RUNNABLE {
        crate::fatal("execute of a goroutine that is not runnable");
    }
    g.set_status(RUNNING);
    m.curg.store(g.as_ptr(), Ordering::Relaxed);
}

/// In a G just switched to: what the context that switched to us left to do for the G
/// it left (`switch_from_g`); nothing when it was the scheduler loop. Only what
/// next_direct allows comes here: Park, Gosched, Exit of an unlocked G on an M.
pub(crate) fn after_switch_in_g(arg: usize) {
    let Some((g1, why)) = g::decode(arg) else {
        return;
    };
    let p = m::current().and_then(|m| m.get().p());
    match why {
        Switch::Park => park_commit(g1),
        Switch::Gosched => {
            g1.set_status(RUNNABLE);
            match p {
                Some(p) => runqput(p, g1, false, None),
                None => {
                    let mut l = SCHED.locked();
                    globrunqput(&mut l, g1);
                }
            }
        }
        Switch::Exit => gfree(g1, p),
        Switch::Requeue | Switch::Call => crate::fatal("a switch the scheduler must handle"),
    }
}

#[cold]
fn trace_run_start(p: &P, g: GRef) -> i64 {
    let ts = crate::tracefile::now();
    // SAFETY: we own g (just dequeued).
    let inner = unsafe { g.inner() };
    if inner.flow_pending {
        inner.flow_pending = false;
        crate::tracefile::emit(
            Some(p),
            crate::tracefile::Ev::Flow {
                tid: p.id as i64,
                id: crate::tracefile::flow_id(g),
                ts,
                start: false,
            },
        );
    }
    ts
}

#[cold]
pub(crate) fn trace_run_end(now_p: Option<&'static P>, ran_on: &P, g: GRef, t0: i64) {
    let name = g.get().name().map(|n| n.to_string_lossy().into_owned());
    crate::tracefile::emit(
        now_p,
        crate::tracefile::Ev::Run {
            p: ran_on.id as u32,
            gid: g.id(),
            name,
            ts: t0,
            dur: crate::tracefile::now() - t0,
        },
    );
}

#[cold]
fn trace_instant(p: Option<&'static P>, what: &'static str, g: GRef) {
    crate::tracefile::emit(
        p,
        crate::tracefile::Ev::Instant {
            p: p.map_or(0, |p| p.id as u32),
            what,
            gid: g.id(),
            ts: crate::tracefile::now(),
        },
    );
}

#[inline]
fn bump(c: &std::sync::atomic::AtomicU32) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

#[inline]
fn bump64(c: &std::sync::atomic::AtomicU64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// After a G switched out to park: mark it WAITING, then run its commit closure.
pub(crate) fn park_commit(g: GRef) {
    g.get()
        .since
        .store(crate::time::tick_now(), Ordering::Relaxed);
    g.set_status(WAITING);
    // SAFETY: the G has switched out and is not yet visible to any waker (its commit
    // closure publishes it), so we still own it; the closure lives on its stack.
    unsafe {
        if let Some(c) = g.inner().park_commit.take() {
            (*c)();
        }
    }
}

/// A G finished: return its stack and the G itself to the caches. True when the M must
/// end with it (it was locked).
fn goexit0(mm: MRef, g: GRef) -> bool {
    let m = mm.get();
    let locked = std::ptr::eq(g.get().lockedm.load(Ordering::Relaxed), m);
    let p = m.p();
    gfree(g, p);
    if locked {
        m.lockedg.store(std::ptr::null_mut(), Ordering::Relaxed);
        if let Some(p) = releasep(m) {
            handoffp(p);
        }
        return true;
    }
    false
}

/// Frees a finished G's stack and puts the G on a free list (p's, else global).
pub(crate) fn gfree(g: GRef, p: Option<&'static P>) {
    let main = g.as_ptr() == SCHED.main_g.load(Ordering::Relaxed);
    // SAFETY: the G finished; we own it.
    let inner = unsafe { g.inner() };
    let stack = inner
        .stack
        .take()
        .unwrap_or_else(|| crate::fatal("dead G without a stack"));
    inner.sp = 0;
    inner.hooks = None;
    inner.lock_count = 0;
    g.get().set_name(None);
    g.get().home.store(std::ptr::null_mut(), Ordering::Relaxed);
    g.get()
        .lockedm
        .store(std::ptr::null_mut(), Ordering::Relaxed);
    g.get().preempt.store(false, Ordering::Relaxed);
    g.set_status(DEAD);
    count_ended(p);
    match p {
        Some(p) => {
            // SAFETY: our M holds p.
            let local = unsafe { p.local() };
            local.stacks.put(stack);
            local.gfree.push(g);
            if local.gfree.len() > 64 {
                let mut gl = SCHED.gfree.lock().unwrap_or_else(|e| e.into_inner());
                gl.extend(local.gfree.drain(32..));
            }
        }
        None => {
            crate::stack::free(stack);
            SCHED
                .gfree
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(g);
        }
    }
    if main {
        main_ended(g);
    }
}

/// Undoes a spawn that was refused before the G was published (no stack yet).
fn unspawn(g: GRef) {
    // SAFETY: the G was never queued: still ours.
    let inner = unsafe { g.inner() };
    inner.entry = None;
    inner.hooks = None;
    g.get().set_name(None);
    g.set_status(DEAD);
    count_ended(None);
    SCHED
        .gfree
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(g);
}

fn gfget(p: Option<&'static P>) -> GRef {
    if let Some(p) = p {
        // SAFETY: our M holds p.
        let local = unsafe { p.local() };
        if let Some(g) = local.gfree.pop() {
            return g;
        }
        let mut gl = SCHED.gfree.lock().unwrap_or_else(|e| e.into_inner());
        let k = gl.len().saturating_sub(32);
        local.gfree.extend(gl.drain(k..));
        drop(gl);
        if let Some(g) = local.gfree.pop() {
            return g;
        }
    } else if let Some(g) = SCHED.gfree.lock().unwrap_or_else(|e| e.into_inner()).pop() {
        return g;
    }
    let g = G::alloc();
    let mut all = SCHED.allgs.lock().unwrap_or_else(|e| e.into_inner());
    all.push(g);
    crate::ffi::debug::publish(&all);
    g
}

/// Set while stacks cannot be allocated; `gmp_go` returns GMP_ENOMEM meanwhile.
static STACK_OOM: AtomicBool = AtomicBool::new(false);
static STACK_OOM_WARNED: AtomicBool = AtomicBool::new(false);

/// Gives a G that has never run its stack and start context. False when no stack could
/// be had (the G is left as it was).
pub(crate) fn start_stack(g: GRef, p: Option<&'static P>) -> bool {
    // SAFETY: the caller owns g (it just dequeued it).
    let inner = unsafe { g.inner() };
    let size = inner.stack_size;
    let stack = match p {
        Some(p) if size == SCHED.stack_size.load(Ordering::Relaxed) => {
            // SAFETY: our M holds p.
            unsafe { p.local() }.stacks.get()
        }
        _ => crate::stack::alloc(size),
    };
    match stack {
        Ok(stack) => {
            if STACK_OOM.load(Ordering::Relaxed) {
                STACK_OOM.store(false, Ordering::Relaxed);
            }
            // SAFETY: a fresh stack of ours, not in use.
            inner.sp = unsafe { cswitch::init(stack.base(), g.as_ptr()) };
            inner.stack = Some(stack);
            true
        }
        Err(e) => {
            STACK_OOM.store(true, Ordering::Relaxed);
            if !STACK_OOM_WARNED.swap(true, Ordering::Relaxed) {
                eprintln!("gmp: cannot allocate a goroutine stack ({e}); goroutines wait to start");
            }
            false
        }
    }
}

/// What a new goroutine gets besides its entry.
#[derive(Default)]
pub(crate) struct Spawn<'a> {
    pub(crate) stack_size: usize,
    pub(crate) name: Option<&'a std::ffi::CStr>,
    pub(crate) hooks: Option<g::Hooks>,
    pub(crate) home: Option<&'a crate::home::Home>,
    pub(crate) spawn_pc: u64,
}

/// Ids come in batches per P (Go's `_GoidCacheBatch`), so spawns on different P's do
/// not fight over `sched.goidgen`. Ids stay unique, not ordered across P's.
const GOID_BATCH: u64 = 16;

/// A new goroutine id. `p`: the P our M holds, if any.
fn new_goid(p: Option<&P>) -> u64 {
    let Some(p) = p else {
        return SCHED.goidgen.fetch_add(1, Ordering::Relaxed) + 1;
    };
    // SAFETY: our M holds p.
    let local = unsafe { p.local() };
    if local.goid_next == local.goid_end {
        local.goid_next = SCHED.goidgen.fetch_add(GOID_BATCH, Ordering::Relaxed) + 1;
        local.goid_end = local.goid_next + GOID_BATCH;
    }
    let id = local.goid_next;
    local.goid_next += 1;
    id
}

/// Counts a new goroutine: on the P our M holds (holder-only stores, no RMW), else on
/// the global counters.
fn count_created(p: Option<&P>) {
    match p {
        Some(p) => {
            p.live
                .store(p.live.load(Ordering::Relaxed) + 1, Ordering::Release);
            p.created
                .store(p.created.load(Ordering::Relaxed) + 1, Ordering::Release);
        }
        None => {
            SCHED.ngoroutines.fetch_add(1, Ordering::SeqCst);
            SCHED.goroutines_created.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Counts an ended goroutine (see count_created).
fn count_ended(p: Option<&P>) {
    match p {
        Some(p) => p
            .live
            .store(p.live.load(Ordering::Relaxed) - 1, Ordering::Release),
        None => {
            SCHED.ngoroutines.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Goroutines created so far (all P's and the global counter).
pub(crate) fn created_count() -> u64 {
    let mut n = SCHED.goroutines_created.load(Ordering::SeqCst);
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            n += p.created.load(Ordering::Acquire);
        }
    }
    n
}

/// Live goroutines. The per-P counts are read one after the other while goroutines
/// come, go and move, so a plain sum could miss a creation whose end it saw elsewhere;
/// the sum is taken again until no goroutine was created meanwhile. Then it can only
/// over-count (an end it did not see yet), never report 0 while one lives: shutdown and
/// checkdead rely on that. Ends seen without their creation imply the creation is
/// visible too (the G moved between P's through a run queue's release/acquire).
pub(crate) fn goroutine_count() -> i64 {
    stable_sum(created_count, || {
        let mut n = SCHED.ngoroutines.load(Ordering::SeqCst);
        for i in 0..SCHED.nallp.load(Ordering::Acquire) {
            if let Some(p) = SCHED.p(i) {
                n += p.live.load(Ordering::Acquire);
            }
        }
        n
    })
}

/// `live()` taken until `created()` (monotonic) did not move across it (see
/// goroutine_count; loom-checked in `count_loom`).
fn stable_sum(created: impl Fn() -> u64, live: impl Fn() -> i64) -> i64 {
    loop {
        let c1 = created();
        let n = live();
        if created() == c1 {
            return n.max(0);
        }
        std::hint::spin_loop();
    }
}

/// A loom model of `stable_sum` over per-P counters: one goroutine X lives throughout
/// (counted on P1); meanwhile A is created on P0, moves to P1 and ends there. A plain
/// sum of P0 then P1 can read 0 (P0 before A's creation, P1 after its end); the stable
/// sum never reads less than 1. Run with
/// `RUSTFLAGS="--cfg loom" cargo test --release --lib sched::schedule::count_loom`.
#[cfg(all(test, loom))]
mod count_loom {
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicI64, AtomicU64, Ordering};

    #[test]
    fn stable_sum_never_undercounts() {
        loom::model(|| {
            let live0 = Arc::new(AtomicI64::new(0));
            let live1 = Arc::new(AtomicI64::new(1)); // X
            let created0 = Arc::new(AtomicU64::new(0));
            let created1 = Arc::new(AtomicU64::new(1));
            let moved = Arc::new(AtomicU64::new(0));
            let t = {
                let (live0, live1, created0, moved) = (
                    live0.clone(),
                    live1.clone(),
                    created0.clone(),
                    moved.clone(),
                );
                loom::thread::spawn(move || {
                    // P0's holder creates A (count_created)...
                    live0.store(live0.load(Ordering::Relaxed) + 1, Ordering::Release);
                    created0.store(created0.load(Ordering::Relaxed) + 1, Ordering::Release);
                    // ...A moves to P1 through a run queue (release/acquire)...
                    moved.store(1, Ordering::Release);
                })
            };
            let t2 = {
                let (live1, moved) = (live1.clone(), moved.clone());
                loom::thread::spawn(move || {
                    // ...and P1's holder ends it (count_ended).
                    if moved.load(Ordering::Acquire) == 1 {
                        live1.store(live1.load(Ordering::Relaxed) - 1, Ordering::Release);
                    }
                })
            };
            let n = super::stable_sum(
                || created0.load(Ordering::Acquire) + created1.load(Ordering::Acquire),
                || {
                    let a = live0.load(Ordering::Acquire);
                    // Others run between two P's reads. Without this explicit point
                    // loom 0.7 never scheduled them there; with it, the model fails
                    // for a plain sum (checked) and passes for stable_sum.
                    loom::thread::yield_now();
                    a + live1.load(Ordering::Acquire)
                },
            );
            assert!(n >= 1, "read {n} while X lived");
            t.join().unwrap();
            t2.join().unwrap();
        });
    }
}

/// Creates a goroutine running `entry` and makes it runnable (Go's `newproc`).
///
/// Returns the new goroutine's id, read before the G is published: once queued it may
/// run to its end and be reused by another spawn before this returns.
pub(crate) fn newproc(entry: Entry, sp: Spawn<'_>) -> Result<u64, Code> {
    super::ensure_started()?;
    let p = m::current().and_then(|m| m.get().p());
    let default = SCHED.stack_size.load(Ordering::Relaxed);
    let size = if sp.stack_size == 0 {
        default
    } else {
        crate::stack::round_size(sp.stack_size).map_err(|_| error::EINVAL)?
    };
    // The stack is taken when the goroutine first runs (`start_stack`), not here: a
    // burst of spawns then queues only G's, and each one that runs to completion hands
    // its (cache-hot) stack to the next. Go must allocate at spawn; we need not.
    if STACK_OOM.load(Ordering::Relaxed) {
        return Err(error::ENOMEM);
    }
    let g = gfget(p);
    // SAFETY: a fresh G from the free list is owned by us until we queue it.
    let inner = unsafe { g.inner() };
    inner.entry = Some(entry);
    inner.hooks = sp.hooks;
    inner.lock_count = 0;
    inner.stack_size = size;
    let id = new_goid(p);
    let gs = g.get();
    gs.id.store(id, Ordering::Relaxed);
    gs.set_name(sp.name);
    gs.spawn_pc.store(sp.spawn_pc, Ordering::Relaxed);
    gs.since.store(0, Ordering::Relaxed);
    if crate::sys::sanitizer::on() {
        crate::sys::sanitizer::g_created(g);
    }
    count_created(p);
    if p.is_none() && DRAINING.load(Ordering::SeqCst) && g::current().is_none() {
        // A spawn from outside the runtime while gmp_shutdown drains: refused, so
        // shutdown cannot end with it queued and never run. (The count above and this
        // load pair with shutdown's store and count: one of the two sees the other.)
        unspawn(g);
        return Err(error::ESHUTDOWN);
    }
    if let Some(h) = sp.home {
        gs.home
            .store(h as *const _ as *mut crate::home::Home, Ordering::Release);
        g.set_status(RUNNABLE);
        // A member before it is queued: the home thread may run it to its end at once.
        h.push_new(g);
        return Ok(id);
    }
    g.set_status(RUNNABLE);
    if crate::tracefile::on() {
        trace_instant(p, "create", g);
    }
    match p {
        Some(p) => {
            runqput(p, g, true, None);
            if SCHED.npidle.load(Ordering::SeqCst) != 0
                && SCHED.nmspinning.load(Ordering::SeqCst) == 0
            {
                wakep();
            }
        }
        None => {
            super::sysmon::FOREIGN_SEEN.store(true, Ordering::Relaxed);
            let mut l = SCHED.locked();
            globrunqput(&mut l, g);
            drop(l);
            wakep();
        }
    }
    Ok(id)
}

/// `gmp_gosched`: yield the P to other goroutines. No-op on a foreign thread.
pub(crate) fn gosched() {
    if is_forked_child() {
        return; // the child has none of the M's that would run the others
    }
    if let Some(g) = g::current() {
        g.get().preempt.store(false, Ordering::Relaxed);
        g::switch_out(g, Switch::Gosched);
    }
}

/// `gmp_preempt_point`: yield if sysmon asked this goroutine to.
#[inline]
pub(crate) fn preempt_check() {
    if let Some(g) = g::current() {
        if g.get().preempt.load(Ordering::Relaxed) {
            gosched();
        }
    }
}

/// `gmp_lock_os_thread`: wire the calling goroutine to its M (nests).
pub(crate) fn lock_os_thread() {
    let Some(g) = g::current() else { return };
    let Some(mm) = m::current() else {
        // A home goroutine is bound to its thread already.
        return;
    };
    // SAFETY: the running goroutine owns its inner state.
    let inner = unsafe { g.inner() };
    inner.lock_count += 1;
    g.get().lockedm.store(mm.0.as_ptr(), Ordering::Release);
    mm.get().lockedg.store(g.as_ptr(), Ordering::Release);
}

/// `gmp_unlock_os_thread`: undo one lock; unlocked when the count reaches zero.
pub(crate) fn unlock_os_thread() {
    let Some(g) = g::current() else { return };
    let Some(mm) = m::current() else { return };
    // SAFETY: the running goroutine owns its inner state.
    let inner = unsafe { g.inner() };
    if inner.lock_count == 0 {
        return;
    }
    inner.lock_count -= 1;
    if inner.lock_count == 0 {
        g.get()
            .lockedm
            .store(std::ptr::null_mut(), Ordering::Release);
        // gmp_main's thread keeps its lockedg: it runs no other goroutine, and leaves
        // the main one to the runtime's M's at its next switch (serve_main).
        if !mm.get().foreign {
            mm.get()
                .lockedg
                .store(std::ptr::null_mut(), Ordering::Release);
        }
    }
}

// ---------------------------------------------------------------------------------------
// gmp_main: the main goroutine starts on the calling thread, as Go's runtime.main on m0.
//
// Go (runtime/proc.go): rt0_go queues runtime.main and runs `mstart` on m0, an ordinary
// M from then on; runtime.main locks itself to m0 while package inits run and unlocks
// afterwards, unless an init called LockOSThread: then main.main stays on the main
// thread for good. Here likewise the main goroutine is an ordinary, unlocked goroutine
// that starts on the calling thread, and a `gmp_lock_os_thread` before its first switch
// point keeps it there for good (the lock is taken while it still runs there).
//
// Where we differ: the calling thread serves as an M for the main goroutine only. It
// runs the goroutine's first slice (up to its first switch point) and, if the goroutine
// stays locked, every later slice (Go's stoplockedm); once the goroutine is unlocked
// and switches out, the thread hands its P off and sleeps until the goroutine ends, on
// whichever M, and the M that frees it wakes the thread (`main_ended`). Why not serve as
// an ordinary M meanwhile, as m0 does: gmp_main must return on this thread soon after
// fn returns, and a thread that runs other goroutines may at that moment be inside one
// that computes in C without a switch point for as long as it likes (C is not
// preempted); a thread that only waits returns one futex wake-up after the goroutine
// ends. Go has no such need (the process exits when main returns). It also keeps the
// caller's thread-locals, signal mask and thread name out of other goroutines. The cost
// is one P hand-off at the main goroutine's first park and a sleeping thread.

/// Runs `entry` as the main goroutine, starting on the calling thread (API.md
/// `gmp_main`), and returns here once it has ended.
pub(crate) fn run_main(entry: Entry) -> Code {
    if let Err(e) = super::ensure_started() {
        return e;
    }
    if g::current().is_some() || m::current().is_some() || crate::home::thread_home().is_some() {
        return error::EALREADY;
    }
    if SCHED.main_running.swap(true, Ordering::SeqCst) {
        return error::EALREADY;
    }
    let id = SCHED.mnext.fetch_add(1, Ordering::Relaxed) + 1;
    let mm = M::alloc(id, true);
    SCHED
        .allm
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(mm);
    m::set_current(Some(mm));
    crate::stack::ensure_altstack();
    SCHED.main_deadlocked.store(false, Ordering::SeqCst);
    let g = match newproc_main(entry, mm) {
        Ok(g) => g,
        Err(e) => {
            m::set_current(None);
            SCHED.main_running.store(false, Ordering::SeqCst);
            return e;
        }
    };
    let m = mm.get();
    SCHED.main_m.store(mm.0.as_ptr(), Ordering::Release);
    SCHED.main_g.store(g.as_ptr(), Ordering::Release);
    // Take an idle P directly if there is one, else queue the G (held for this M until it
    // starts: the M that dequeues it hands us its P, as for a locked G).
    let p = {
        let mut l = SCHED.locked();
        let p = pidleget(&mut l);
        if p.is_none() {
            globrunqput(&mut l, g);
        }
        p
    };
    let started = match p {
        Some(p) => {
            acquirep(m, p);
            true
        }
        None => {
            wakep();
            stoplockedm(mm)
        }
    };
    if started {
        serve_main(mm, g);
    }
    SCHED.main_m.store(std::ptr::null_mut(), Ordering::Release);
    if let Some(p) = releasep(m) {
        handoffp(p);
    }
    m.lockedg.store(std::ptr::null_mut(), Ordering::Release);
    m::set_current(None);
    let dead = SCHED.main_deadlocked.swap(false, Ordering::SeqCst);
    if dead {
        // It stays parked for good (abandon_main): no longer counted, nor waited for.
        SCHED.main_g.store(std::ptr::null_mut(), Ordering::Release);
        SCHED.ngoroutines.fetch_sub(1, Ordering::SeqCst);
    }
    SCHED.main_running.store(false, Ordering::SeqCst);
    if dead { error::EDEADLK } else { 0 }
}

/// The calling thread's part in gmp_main, holding a P: runs the main goroutine g while it
/// is locked here (or has not yet switched out), then waits for it to end or for
/// checkdead to give up on it. `m.lockedg` stays g meanwhile, so the goroutine's
/// switches come back here (next_direct runs no other G on this M).
fn serve_main(mm: MRef, g: GRef) {
    let m = mm.get();
    // Held for us only until it runs here (run_main): from now on it is locked only if
    // it locks itself.
    g.get()
        .lockedm
        .store(std::ptr::null_mut(), Ordering::Release);
    loop {
        if execute(mm, g, false) || SCHED.main_g.load(Ordering::Acquire) != g.as_ptr() {
            return; // it ended, here or (after a park) already on another M
        }
        if std::ptr::eq(g.get().lockedm.load(Ordering::Acquire), m) {
            // Locked to this thread: sleep until it is runnable and we get a P for it.
            if !stoplockedm(mm) {
                return; // checkdead gave up on it
            }
            continue;
        }
        // Unlocked (and maybe running elsewhere already): an ordinary goroutine now.
        m.lockedg.store(std::ptr::null_mut(), Ordering::Release);
        if let Some(p) = releasep(m) {
            handoffp(p);
        }
        while SCHED.main_g.load(Ordering::Acquire) == g.as_ptr()
            && !SCHED.main_deadlocked.load(Ordering::SeqCst)
        {
            m.sleep();
        }
        return;
    }
}

/// Called by gfree for the main goroutine, after it is counted as ended: tells
/// gmp_main's thread, wherever the goroutine ended.
#[cold]
fn main_ended(g: GRef) {
    if SCHED
        .main_g
        .compare_exchange(
            g.as_ptr(),
            std::ptr::null_mut(),
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .is_ok()
    {
        let mp = SCHED.main_m.load(Ordering::Acquire);
        if !mp.is_null() {
            // SAFETY: M's are never freed while the runtime runs.
            unsafe { &*mp }.wakeup();
        }
    }
}

/// A G for gmp_main, not queued: held for mm (`lockedm`, with no lock count) until it
/// first runs there, so that it starts on the calling thread.
fn newproc_main(entry: Entry, mm: MRef) -> Result<GRef, Code> {
    let size = SCHED.stack_size.load(Ordering::Relaxed);
    let stack = crate::stack::alloc(size).map_err(|_| error::ENOMEM)?;
    let g = gfget(None);
    // SAFETY: a fresh stack of ours, not in use.
    let sp = unsafe { cswitch::init(stack.base(), g.as_ptr()) };
    // SAFETY: a fresh G is ours until queued.
    let inner = unsafe { g.inner() };
    inner.sp = sp;
    inner.stack = Some(stack);
    inner.entry = Some(entry);
    inner.hooks = None;
    inner.lock_count = 0;
    inner.stack_size = size;
    g.get().id.store(new_goid(None), Ordering::Relaxed);
    g.get().set_name(Some(c"main"));
    g.get().lockedm.store(mm.0.as_ptr(), Ordering::Release);
    mm.get().lockedg.store(g.as_ptr(), Ordering::Release);
    count_created(None);
    g.set_status(RUNNABLE);
    Ok(g)
}

// ---------------------------------------------------------------------------------------
// Diagnostics hooks, fork, shutdown.

/// The running goroutine's stack (slot low address, usable size), or (0, 0): for the
/// overflow handler, in a signal handler (a TLS read and plain reads of our own G).
pub(crate) fn current_stack_bounds() -> (usize, usize) {
    match g::current() {
        // SAFETY: the running G is ours; its stack does not change while it runs.
        Some(g) => unsafe { g.inner() }
            .stack
            .as_ref()
            .map_or((0, 0), |s| s.bounds()),
        None => (0, 0),
    }
}

/// Writes `goroutine N "name"` of the running goroutine for the overflow message.
/// Runs in a signal handler: no allocation, no locks (try_lock on the name only).
pub(crate) fn describe_current(buf: &mut [u8]) -> usize {
    let mut w = crate::util::BufWriter::new(buf);
    match g::current() {
        Some(g) => {
            w.put(b"goroutine ");
            w.put_u64(g.id());
            if let Ok(name) = g.get().name.try_lock() {
                if let Some(n) = name.as_ref() {
                    w.put(b" \"");
                    w.put(n.to_bytes());
                    w.put(b"\"");
                }
            }
        }
        None => w.put(b"goroutine ?"),
    }
    w.len()
}

static FORKED: AtomicBool = AtomicBool::new(false);

extern "C" fn atfork_child() {
    FORKED.store(true, Ordering::Relaxed);
}

/// A forked child has none of the parent's threads: every call there returns
/// GMP_ESHUTDOWN (API.md leaves the choice to the implementation; documented in gmp.h).
/// `pthread_atfork` marks the child, so the check is one load.
pub(crate) fn install_fork_handler() {
    // SAFETY: registers a handler that only stores to an atomic.
    unsafe { libc::pthread_atfork(None, None, Some(atfork_child)) };
}

#[inline]
pub(crate) fn is_forked_child() -> bool {
    FORKED.load(Ordering::Relaxed)
}

/// gmp_shutdown is waiting for the goroutines to end: spawns from outside the runtime
/// (foreign threads, homes pumped by them) are refused with GMP_ESHUTDOWN; goroutines
/// may still spawn, since their work is what shutdown waits for.
static DRAINING: AtomicBool = AtomicBool::new(false);

/// `gmp_shutdown`: wait for every goroutine to end, then stop the M's.
pub(crate) fn shutdown(timeout_ns: i64) -> Code {
    match SCHED.state.load(Ordering::Acquire) {
        ST_RUNNING => {}
        super::ST_UNINIT => {
            // Never started: nothing to stop, but later calls are refused all the same.
            SCHED.state.store(ST_SHUTDOWN, Ordering::Release);
            return 0;
        }
        _ => return error::ESHUTDOWN,
    }
    if g::current().is_some() || m::current().is_some() {
        return error::EALREADY;
    }
    let deadline = crate::time::deadline_after(timeout_ns);
    DRAINING.store(true, Ordering::SeqCst);
    while goroutine_count() > 0 {
        if deadline >= 0 && crate::time::now() >= deadline {
            // Nothing stopped: the runtime goes on as before.
            DRAINING.store(false, Ordering::SeqCst);
            return error::ETIMEDOUT;
        }
        if let Some(h) = crate::home::thread_home() {
            crate::home::pump(h);
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    {
        let _l = SCHED.locked();
        SCHED.state.store(ST_SHUTDOWN, Ordering::Release);
    }
    // Wake every M: idle ones see the state and exit; the poller is interrupted.
    for mm in SCHED.allm.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        mm.get().wakeup();
    }
    crate::netpoll::wake();
    let threads: Vec<_> =
        std::mem::take(&mut *SCHED.threads.lock().unwrap_or_else(|e| e.into_inner()));
    // (pthread ids, not std::thread::current(): that would allocate this thread a
    // handle that lives until it exits, a leak in valgrind's eyes.)
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    for t in threads {
        use std::os::unix::thread::JoinHandleExt;
        if t.as_pthread_t() != me {
            let _ = t.join();
        }
    }
    // Foreign threads still blocked in a call return GMP_ESHUTDOWN: nothing else
    // could end their waits now.
    crate::park::shutdown_thread_waits();
    // Free the pending timers (and the timer channels only they referenced) and the
    // stack caches; G's and P's are small and stay reachable (a late stale pointer to
    // them must stay valid).
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            p.timers.clear();
        }
    }
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            // SAFETY: every M has exited, so nobody holds any P.
            unsafe { p.local() }.stacks.flush();
        }
    }
    crate::stack::release_all();
    0
}

/// Snapshot for `gmp_read_stats`.
pub(crate) struct Snapshot {
    pub(crate) maxprocs: i32,
    pub(crate) idle_procs: i32,
    pub(crate) threads: i32,
    pub(crate) spinning: i32,
    pub(crate) idle_threads: i32,
    pub(crate) goroutines: i64,
    pub(crate) global_runqueue: i64,
    pub(crate) created: u64,
    pub(crate) context_switches: u64,
    pub(crate) steals: u64,
    pub(crate) syscall_handoffs: u64,
    pub(crate) preempt_requests: u64,
}

pub(crate) fn snapshot() -> Snapshot {
    let mut cs = 0;
    let mut st = 0;
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            cs += p.context_switches.load(Ordering::Relaxed);
            st += p.steals.load(Ordering::Relaxed);
        }
    }
    Snapshot {
        maxprocs: SCHED.gomaxprocs.load(Ordering::Relaxed),
        idle_procs: SCHED.npidle.load(Ordering::Relaxed),
        threads: SCHED.mcount.load(Ordering::Relaxed)
            + SCHED.main_running.load(Ordering::Relaxed) as i32,
        spinning: SCHED.nmspinning.load(Ordering::Relaxed),
        idle_threads: SCHED.nmidle.load(Ordering::Relaxed),
        goroutines: goroutine_count(),
        global_runqueue: SCHED.runqsize.load(Ordering::Relaxed) as i64,
        created: created_count(),
        context_switches: cs,
        steals: st,
        syscall_handoffs: super::sysmon::SYSCALL_HANDOFFS.load(Ordering::Relaxed),
        preempt_requests: super::sysmon::PREEMPT_REQUESTS.load(Ordering::Relaxed),
    }
}

//! The run loop (Go's `schedule`/`execute`/`goexit0` in `runtime/proc.go`): an M's
//! loop, running a G until it comes back, and the direct G-to-G switch of a parking or
//! yielding goroutine (`switch_from_g`, `next_direct`), with the trace hooks of a run.
//! The concepts around it live beside it: `procresize.rs` (P's), `idle.rs` (idle P's
//! and M's, spinning, hand-offs), `queue.rs` (run queues and `ready`),
//! `findrunnable.rs` (finding work: timers, the global queue, the poller, stealing),
//! `proc.rs` (goroutines: spawn, free, ids, counts, LockOSThread, the main goroutine),
//! `lifecycle.rs` (fork, shutdown, stats). Names follow `runtime/proc.go`.

use super::cswitch;
use super::findrunnable::{findrunnable, global_queue_turn};
use super::g::{self, GRef, RUNNABLE, RUNNING, Switch, WAITING};
use super::idle::{handoffp, pidleget, resetspinning, startlockedm, stoplockedm};
use super::m::{self, M, MRef};
use super::p::P;
use super::proc::{gfree, start_stack};
use super::procresize::{acquirep, releasep};
use super::queue::{globrunqput, runqput};
use super::{SCHED, ST_SHUTDOWN};
use std::ptr::NonNull;
use std::sync::atomic::Ordering;

/// The scheduler loop of an M. Returns when the M must end: shutdown, or its locked G
/// ended (Go: a G that exits locked takes its thread with it), or, for the gmp_main
/// thread, when its main goroutine ended.
pub(super) fn schedule(mm: MRef) {
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
        let Some((g, inherit)) = findrunnable(mm) else {
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
pub(super) fn execute(mm: MRef, g: GRef, inherit: bool) -> bool {
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
    let traced = super::trace::on();
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
            // exitsyscall found no idle P. Queue the G and look for an idle P again under
            // the same lock (Go's `exitsyscall0`): a P that went idle since that look
            // would otherwise stay idle with the G queued and no M to run it (all M's
            // asleep: seen as a hang in tests/c/syscall_handoff.c). A P-holder that goes
            // idle later sees the queued G under this lock first.
            gl.set_status(RUNNABLE);
            let mut l = SCHED.locked();
            globrunqput(&mut l, gl);
            if m.p().is_none() {
                if let Some(pp) = pidleget(&mut l) {
                    drop(l);
                    acquirep(m, pp);
                }
            }
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
    let g2 = next_direct(c, g1, why);
    let to = match g2 {
        // SAFETY: next_direct made g2 ours (dequeued, RUNNING), with a context.
        Some(g2) => unsafe { g2.inner().sp },
        // The scheduler loop saved its context in ctx before switching to us.
        None => c.sched_sp.get(),
    };
    // One test of the sanitizer flag for the switch: it never goes from off to on (it is
    // looked up once, and `on` is true until then), so the side that found it off needs
    // no hook after the switch either.
    let got = if crate::sys::sanitizer::on() {
        // SAFETY: as below.
        unsafe { switch_announced(save, g1, g2, to, arg) }
    } else {
        // SAFETY: `to` is g2's saved context or the loop's (above); `save` is g1's.
        unsafe { cswitch::switch(save, to, arg) }
    };
    // `c` may be another thread's now: not used past the switch.
    after_switch_in_g(got);
}

/// `switch_from_g`'s switch with the sanitizer hooks (`cswitch::switch_g`).
///
/// # Safety
/// As `cswitch::switch_g`.
#[cold]
#[inline(never)]
unsafe fn switch_announced(
    save: *mut usize,
    g1: GRef,
    g2: Option<GRef>,
    to: usize,
    arg: usize,
) -> usize {
    // SAFETY: the caller's contract.
    unsafe { cswitch::switch_g(save, g1, g2, to, arg) }
}

/// The G to switch to directly from g1, which is leaving for `why`: our P's next G, if
/// the scheduler loop has nothing else to look at first. Does for it what `execute`
/// does before a switch. None: switch to the scheduler loop. Not `inline(always)`:
/// that saved 15-20 instructions a switch (callgrind) but made the ring benchmark 38%
/// slower on one CPU (a bigger `gmp_chan_*` in the instruction cache, presumably).
/// The checks here call nothing, so they save no registers; the dequeue, which calls,
/// is `take_direct`, a tail call.
#[inline]
pub(super) fn next_direct(c: &g::Ctx, g1: GRef, why: Switch) -> Option<GRef> {
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
    // and the global queue's turn (findrunnable).
    if !m.lockedg.load(Ordering::Relaxed).is_null() || super::trace::on() {
        return None;
    }
    let p = m.p()?;
    if SCHED.state.load(Ordering::Acquire) == ST_SHUTDOWN
        || p.id >= SCHED.procs()
        || p.timers.next_when() != crate::sched::timers::NONE
        || global_queue_turn(p)
    {
        return None;
    }
    take_direct(c, m, p)
}

/// `next_direct`'s dequeue: p's next G, made ours to run on m. The rare cases are a
/// tail call, so that nothing here is live across a call (no registers to save).
#[inline(never)]
fn take_direct(c: &g::Ctx, m: &M, p: &'static P) -> Option<GRef> {
    let (g2, inherit) = p.runq.get()?;
    let g2 = GRef(g2);
    // SAFETY: we dequeued g2, so we own it.
    if !g2.get().lockedm.load(Ordering::Acquire).is_null() || unsafe { g2.inner() }.stack.is_none()
    {
        return take_direct_slow(c, m, p, g2, inherit);
    }
    begin_run(m, p, g2, inherit);
    c.g.set(g2.as_ptr());
    Some(g2)
}

/// `take_direct` for a G that is locked to an M or has no stack yet: it runs here if it
/// can get a stack now; else it goes back to p's queue for the scheduler loop.
#[cold]
#[inline(never)]
fn take_direct_slow(c: &g::Ctx, m: &M, p: &'static P, g2: GRef, inherit: bool) -> Option<GRef> {
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
pub(super) fn begin_run(m: &M, p: &P, g: GRef, inherit: bool) {
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
/// Out of line: inlined (`inline(always)`) it saved about 25 instructions a round trip
/// but made the ring benchmark slower on one CPU, as `next_direct` did. A park (the
/// common switch) is tested first and needs no register saved: its commit closure is a
/// tail call; the rest is `after_switch_other`.
pub(crate) fn after_switch_in_g(arg: usize) {
    if arg & SWITCH_MASK == Switch::Park as usize {
        // SAFETY: a switch word with a reason carries its G (`g::pending`; G's are
        // 8-aligned and never null).
        let g1 = GRef(unsafe { NonNull::new_unchecked((arg & !SWITCH_MASK) as *mut g::G) });
        debug_assert!(
            matches!(g::decode(arg), Some((g, Switch::Park)) if g.as_ptr() == g1.as_ptr())
        );
        park_commit(g1);
        return;
    }
    after_switch_other(arg);
}

/// `g::pending`'s mask of the reason bits (`g::SWITCH_MASK`, 8-aligned G's); checked
/// against `g::decode` in `after_switch_other`.
const SWITCH_MASK: usize = 7;

#[inline(never)]
fn after_switch_other(arg: usize) {
    let Some((g1, why)) = g::decode(arg) else {
        return;
    };
    debug_assert_eq!(g1.as_ptr() as usize, arg & !SWITCH_MASK);
    // Our P, read only where it is used.
    let p = || m::current().and_then(|m| m.get().p());
    match why {
        Switch::Park => park_commit(g1),
        Switch::Gosched => {
            g1.set_status(RUNNABLE);
            match p() {
                Some(p) => runqput(p, g1, false, None),
                None => {
                    let mut l = SCHED.locked();
                    globrunqput(&mut l, g1);
                }
            }
        }
        Switch::Exit => gfree(g1, p()),
        Switch::Requeue | Switch::Call => crate::fatal("a switch the scheduler must handle"),
    }
}

#[cold]
pub(super) fn trace_run_start(p: &P, g: GRef) -> i64 {
    let ts = super::trace::now();
    // SAFETY: we own g (just dequeued).
    let inner = unsafe { g.inner() };
    if inner.flow_pending {
        inner.flow_pending = false;
        super::trace::emit(
            Some(p),
            super::trace::Ev::Flow {
                tid: p.id as i64,
                id: super::trace::flow_id(g),
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
    super::trace::emit(
        now_p,
        super::trace::Ev::Run {
            p: ran_on.id as u32,
            gid: g.id(),
            name,
            ts: t0,
            dur: super::trace::now() - t0,
        },
    );
}

#[cold]
pub(super) fn trace_instant(p: Option<&'static P>, what: &'static str, g: GRef) {
    super::trace::emit(
        p,
        super::trace::Ev::Instant {
            p: p.map_or(0, |p| p.id as u32),
            what,
            gid: g.id(),
            ts: super::trace::now(),
        },
    );
}

#[inline]
pub(super) fn bump(c: &std::sync::atomic::AtomicU32) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

#[inline]
pub(super) fn bump64(c: &std::sync::atomic::AtomicU64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// After a G switched out to park: mark it WAITING, then run its commit closure.
#[inline(always)]
pub(crate) fn park_commit(g: GRef) {
    // `clock::tick_now`, with its rare clock_gettime out of line: inline it gives
    // `after_switch_in_g` a stack frame, and the commit call is then no tail call.
    let now = match crate::sys::clock::TICK_NOW.load(Ordering::Relaxed) {
        0 => tick_now_slow(),
        t => t,
    };
    g.get().since.store(now, Ordering::Relaxed);
    g.set_status(WAITING);
    // SAFETY: the G has switched out and is not yet visible to any waker (its commit
    // publishes it), so we still own it; a closure lives on its stack, a lock is held
    // for it (`gopark_unlock`).
    unsafe {
        let inner = g.inner();
        let lock = inner.park_unlock;
        if !lock.is_null() {
            inner.park_unlock = std::ptr::null();
            (*lock).unlock();
        } else if let Some(c) = inner.park_commit.take() {
            (*c)();
        }
    }
}

#[cold]
#[inline(never)]
fn tick_now_slow() -> i64 {
    crate::sys::clock::tick_now()
}

/// A G finished: return its stack and the G itself to the caches. True when the M must
/// end with it (it was locked).
pub(super) fn goexit0(mm: MRef, g: GRef) -> bool {
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

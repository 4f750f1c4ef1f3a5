//! Finding work (Go's `findRunnable`, `stealWork`, `checkTimers` in
//! `runtime/proc.go`): the local queue, the global queue every 61st turn, timers, the
//! poller's ready list, stealing half of a random victim's queue, and blocking in the
//! poller until the earliest timer when nothing is runnable.

use super::g::GRef;
use super::idle::{pidleget, pidleput, stopm, wakep};
use super::m::{self, M, MRef};
use super::p::{self, P};
use super::procresize::{acquirep, releasep, retire_p};
use super::queue::{globrunqget, globrunqput, injectglist};
use super::schedule::{bump64, trace_instant};
use super::{SCHED, ST_SHUTDOWN};
use std::sync::atomic::{AtomicU32, Ordering, fence};

pub(super) static FASTRAND: AtomicU32 = AtomicU32::new(0x9e37_79b9);

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
pub(super) fn checktimers(p: &P, now: i64) -> bool {
    p.timers.run_expired(now) > 0
}

/// Spinning M: steal from other P's, in random order, four rounds; the last round also
/// runs their timers and may take their `runnext` (Go's `stealWork`).
pub(super) fn stealwork(m: &M, p: &'static P, now: i64) -> Option<GRef> {
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
                && p2.timers.next_when() != crate::sched::timers::NONE
                && checktimers(
                    p2,
                    if now == 0 {
                        crate::sys::clock::now()
                    } else {
                        now
                    },
                )
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
                if super::trace::on() {
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
    let mut t = crate::sched::timers::NONE;
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            t = t.min(p.timers.next_when());
        }
    }
    t
}

/// Runs expired timers of every P (from an M without a P: their G's go to the global
/// queue).
pub(super) fn run_all_timers(now: i64) {
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            p.timers.run_expired(now);
        }
    }
}

/// Finds a runnable goroutine, blocking until there is one (Go's `findRunnable`).
/// Returns None when the M must exit (shutdown).
pub(super) fn findrunnable(mm: MRef) -> Option<(GRef, bool)> {
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
        let now = if p.timers.next_when() != crate::sched::timers::NONE {
            let now = crate::sys::clock::now();
            checktimers(p, now);
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
        if super::netpoll::has_waiters() && SCHED.lastpoll.load(Ordering::Relaxed) != 0 {
            let list = super::netpoll::poll(0);
            if let Some(g) = injectglist(p, list) {
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
            if let Some(g) = stealwork(m, p, now) {
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
        if (when != crate::sched::timers::NONE || super::netpoll::has_waiters())
            && SCHED.lastpoll.swap(0, Ordering::SeqCst) != 0
        {
            // The delay is computed again inside the poller (see netpoll::poll_until).
            let delay = || {
                let when = earliest_timer();
                let now = crate::sys::clock::now();
                let delay = if when == crate::sched::timers::NONE {
                    -1
                } else {
                    (when - now).max(0)
                };
                SCHED
                    .poll_until
                    .store(if delay < 0 { 0 } else { now + delay }, Ordering::SeqCst);
                delay
            };
            let list = super::netpoll::poll_until(&delay);
            SCHED.poll_until.store(0, Ordering::SeqCst);
            let now = crate::sys::clock::now();
            SCHED.lastpoll.store(now, Ordering::SeqCst);
            run_all_timers(now);
            let mut l = SCHED.locked();
            let pp = pidleget(&mut l);
            match pp {
                Some(pp) => {
                    drop(l);
                    acquirep(m, pp);
                    if let Some(g) = injectglist(pp, list) {
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
/// global queue. Both findrunnable and next_direct (which skips findrunnable) ask.
#[inline]
pub(super) fn global_queue_turn(p: &P) -> bool {
    p.context_switches.load(Ordering::Relaxed) % 61 == 0
        && SCHED.runqsize.load(Ordering::Relaxed) > 0
}

/// Interrupts the M blocked in the poller if `when` is earlier than its wake-up, or
/// wakes an M to look at timers (Go's `wakeNetPoller`).
pub(crate) fn wakenetpoller(when: i64) {
    if SCHED.lastpoll.load(Ordering::SeqCst) == 0 {
        let until = SCHED.poll_until.load(Ordering::SeqCst);
        if until == 0 || until > when {
            super::netpoll::wake();
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

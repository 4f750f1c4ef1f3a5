//! Time: `gmp_now`, per-P timer heaps, and the timers behind sleep and timeouts.
//!
//! Follows Go's `time.go` in shape: every P owns a min-heap of timers under a small lock,
//! with the earliest `when` mirrored in an atomic so `find_runnable` can skip the lock;
//! the scheduler runs a P's expired timers (`check_timers`) at schedule time, a spinning
//! M runs other P's when stealing, and an idle M blocks in the poller until the earliest
//! timer of all P's (`wake_netpoller` interrupts it when an earlier one is added).
//!
//! Differences: a timer here is one-shot and carries its action; there is no `modtimer`.
//! A timeout whose wait already ended is not deleted but goes stale (its `WaitRef` claim
//! fails when it fires), and a heap sweeps its stale entries once they are more than
//! half of it, so a loop of short waits with long timeouts stays bounded. Goroutines of a
//! home, which have no P, put their timers on some P's heap; a timer's action readies a G
//! wherever it fires (`ready` works without a P).

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crate::park::WaitRef;

/// Monotonic nanoseconds (CLOCK_MONOTONIC), `gmp_now`.
pub(crate) fn now() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// `now()` as sysmon last saw it (it ticks at least once a second while the runtime
/// lives); 0 before sysmon ran.
pub(crate) static TICK_NOW: AtomicI64 = AtomicI64::new(0);

/// A clock good to about a second, for "waiting since" in dumps (which show minutes, as
/// Go's): one load instead of a clock read on every park. Go's `waitsince` is as
/// coarse (set lazily by the garbage collector).
#[inline]
pub(crate) fn tick_now() -> i64 {
    match TICK_NOW.load(Ordering::Relaxed) {
        0 => coarse_now(),
        t => t,
    }
}

/// A cheap monotonic clock with tick resolution (CLOCK_MONOTONIC_COARSE), for
/// bookkeeping such as how long a goroutine has waited.
pub(crate) fn coarse_now() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// `now + ns`, saturating (a huge timeout is forever in practice).
pub(crate) fn deadline_after(ns: i64) -> i64 {
    if ns < 0 { -1 } else { now().saturating_add(ns) }
}

/// What a timer does when it fires. Runs with no timer lock held, maybe without a P.
pub(crate) enum TimerAction {
    /// End a wait with TIMEDOUT (sleep, timeouts).
    Wake(WaitRef),
    /// Anything else (timer channels).
    Call(Box<dyn FnOnce(i64) + Send>),
}

impl TimerAction {
    fn is_stale(&self) -> bool {
        match self {
            TimerAction::Wake(w) => !w.is_open(),
            TimerAction::Call(_) => false,
        }
    }
    fn fire(self, now: i64) {
        match self {
            TimerAction::Wake(w) => {
                w.claim_and_wake(crate::park::TIMEDOUT);
            }
            TimerAction::Call(f) => f(now),
        }
    }
}

struct Entry {
    when: i64,
    seq: u64,
    action: TimerAction,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.when == o.when && self.seq == o.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (then oldest) first.
    fn cmp(&self, o: &Self) -> CmpOrdering {
        o.when.cmp(&self.when).then(o.seq.cmp(&self.seq))
    }
}

/// One P's timers. Invariant: `next` equals the earliest `when` in `heap`, or NONE.
pub(crate) struct Timers {
    heap: Mutex<BinaryHeap<Entry>>,
    next: AtomicI64,
    swept_len: AtomicUsize,
}

/// `next` of an empty heap.
pub(crate) const NONE: i64 = i64::MAX;
static SEQ: AtomicU64 = AtomicU64::new(0);

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            heap: Mutex::new(BinaryHeap::new()),
            next: AtomicI64::new(NONE),
            swept_len: AtomicUsize::new(0),
        }
    }

    /// The earliest deadline, or NONE.
    pub(crate) fn next_when(&self) -> i64 {
        self.next.load(Ordering::Acquire)
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Adds a timer; true when it became this heap's earliest.
    fn add(&self, when: i64, action: TimerAction) -> bool {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let mut h = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        let n = h.len();
        if n >= 64 && n > 2 * self.swept_len.load(Ordering::Relaxed) {
            h.retain(|e| !e.action.is_stale());
            self.swept_len.store(h.len(), Ordering::Relaxed);
        }
        h.push(Entry { when, seq, action });
        let earliest = h.peek().map_or(NONE, |e| e.when);
        let became = earliest == when;
        self.next.store(earliest, Ordering::Release);
        became
    }

    /// Runs every timer due at `now`; returns how many fired.
    pub(crate) fn run_expired(&self, now: i64) -> usize {
        if self.next_when() > now {
            return 0;
        }
        let mut due = Vec::new();
        {
            let mut h = self.heap.lock().unwrap_or_else(|p| p.into_inner());
            while h.peek().is_some_and(|e| e.when <= now) {
                if let Some(e) = h.pop() {
                    due.push(e);
                }
            }
            self.next
                .store(h.peek().map_or(NONE, |e| e.when), Ordering::Release);
        }
        let n = due.len();
        for e in due {
            e.action.fire(now);
        }
        n
    }

    /// Moves every timer to `to` (a P being destroyed hands its timers on).
    pub(crate) fn move_all_to(&self, to: &Timers) {
        let all: Vec<Entry> = {
            let mut h = self.heap.lock().unwrap_or_else(|p| p.into_inner());
            self.next.store(NONE, Ordering::Release);
            std::mem::take(&mut *h).into_vec()
        };
        for e in all {
            to.add(e.when, e.action);
        }
    }
}

/// Arms a timer on the current P (or, without one, on some P) and makes sure an idle M
/// wakes up for it.
pub(crate) fn add_timer(when: i64, action: TimerAction) {
    let p = crate::sched::schedule::timer_p();
    if p.timers.add(when, action) {
        crate::sched::schedule::wake_netpoller(when);
    }
}

/// Sleeps the caller (goroutine or thread) for `ns` (API.md `gmp_sleep`).
pub(crate) fn sleep(ns: i64) -> crate::error::Code {
    if ns <= 0 {
        crate::sched::schedule::preempt_check();
        return 0;
    }
    let deadline = deadline_after(ns);
    let w = crate::park::prepare();
    match crate::park::park_deadline(&w, crate::sched::g::WaitReason::Sleep, deadline, || {}) {
        crate::park::CANCELED => crate::error::ECANCELED,
        _ => 0,
    }
}

/// `gmp_after`: a channel (int64 elements, capacity 1) that receives `gmp_now()` once,
/// `ns` from now. The timer holds its own reference until it fires.
pub(crate) fn after(ns: i64) -> Result<*mut crate::chan::Chan, crate::error::Code> {
    let c = crate::chan::Chan::make(8, 1, None, None)?;
    // SAFETY: c is a fresh live channel; the extra reference belongs to the timer.
    unsafe { (*c).retain() };
    let cp = c as usize;
    add_timer(
        deadline_after(ns.max(0)),
        TimerAction::Call(Box::new(move |now| {
            let ch = cp as *mut crate::chan::Chan;
            // SAFETY: the timer's reference keeps the channel alive until released here.
            unsafe {
                (*ch).send((&now as *const i64).cast(), -1, true);
                crate::chan::Chan::release(ch);
            }
        })),
    );
    Ok(c)
}

/// `gmp_ticker`: a channel (int64, capacity 1) receiving `gmp_now()` every period;
/// ticks a slow reader misses are dropped, as Go's Ticker does.
pub(crate) fn ticker(period: i64) -> Result<*mut crate::chan::Chan, crate::error::Code> {
    if period <= 0 {
        return Err(crate::error::EINVAL);
    }
    let t = std::sync::Arc::new(crate::chan::Ticker {
        stopped: std::sync::atomic::AtomicBool::new(false),
        period,
    });
    let c = crate::chan::Chan::make(8, 1, None, Some(t.clone()))?;
    // SAFETY: fresh channel; the extra reference belongs to the ticker's timer.
    unsafe { (*c).retain() };
    arm_ticker(c as usize, t, now().saturating_add(period));
    Ok(c)
}

fn arm_ticker(cp: usize, t: std::sync::Arc<crate::chan::Ticker>, when: i64) {
    add_timer(
        when,
        TimerAction::Call(Box::new(move |now| {
            let ch = cp as *mut crate::chan::Chan;
            if t.stopped.load(Ordering::Acquire) {
                // SAFETY: the timer's reference, released once.
                unsafe { crate::chan::Chan::release(ch) };
                return;
            }
            // SAFETY: the timer's reference keeps the channel alive.
            unsafe { (*ch).send((&now as *const i64).cast(), -1, true) };
            let p = t.period;
            let mut next = when.saturating_add(p);
            if next <= now {
                // Behind (a slow M): skip the missed ticks, stay on the period's grid.
                next = now.saturating_add(p - (now - when) % p);
            }
            arm_ticker(cp, t, next);
        })),
    );
}

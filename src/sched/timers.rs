//! The per-P timer heaps (Go's `time.go` timer half: `addtimer`, `runtimer`,
//! `checkTimers`); the user-facing timers (sleep, after, ticker) are in `time.rs` above.
//!
//! Follows Go's `time.go` in shape: every P owns a min-heap of timers under a small lock,
//! with the earliest `when` mirrored in an atomic so `findrunnable` can skip the lock;
//! the scheduler runs a P's expired timers (`checktimers`) at schedule time, a spinning
//! M runs other P's when stealing, and an idle M blocks in the poller until the earliest
//! timer of all P's (`wakenetpoller` interrupts it when an earlier one is added).
//!
//! Differences: a timer here is one-shot and carries its action; there is no `modtimer`.
//! A timeout whose wait already ended is not deleted but goes stale (its `WaitRef` claim
//! fails when it fires), and a heap sweeps its stale entries once they are more than
//! half of it, so a loop of short waits with long timeouts stays bounded. Goroutines of a
//! home, which have no P, put their timers on some P's heap; a timer's action readies a G
//! wherever it fires (`ready` works without a P).

use crate::sys::mutex::{Mutex, Rank};
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use super::wait::WaitRef;

/// What a timer does when it fires. Runs with no timer lock held, maybe without a P.
pub(crate) enum TimerAction {
    /// End a wait with TIMEDOUT (sleep, timeouts).
    Wake(WaitRef),
    /// Send `now` on a timer channel (`gmp_after`, `gmp_ticker`).
    Chan(ChanFire),
}

impl TimerAction {
    fn is_stale(&self) -> bool {
        match self {
            TimerAction::Wake(w) => !w.is_open(),
            TimerAction::Chan(f) => f.t.stopped.load(Ordering::Acquire),
        }
    }
    fn fire(self, now: i64, when: i64) {
        match self {
            TimerAction::Wake(w) => {
                w.claim_and_wake(super::wait::TIMEDOUT);
            }
            TimerAction::Chan(f) => f.fire(now, when),
        }
    }
}

/// The timer of a timer channel, shared by the channel and its pending heap entry.
///
/// Go's `Ticker.Stop` promises that no tick is sent once it returns, and Go 1.23 frees
/// the timer of a channel nobody references. Here `lock` serialises a firing (check
/// `stopped`, send, re-arm) with `stop`, so a stop that returned has seen every send
/// end; and a stopped timer's entry is stale, counted in its heap's `stale`, so the
/// heap sweeps it out (dropping the channel reference it holds) once stale entries are
/// half of it, instead of at its deadline.
///
/// The heap knows channels only through `send` and `release` (given by `time.rs`, the
/// layer above that makes timer channels), so the scheduler does not import `chan`.
pub(crate) struct ChanTimer {
    lock: Mutex<()>,
    stopped: AtomicBool,
    /// 0: one-shot (`gmp_after`); else the ticker's period.
    period: i64,
    /// The heap the pending entry is on (P's heaps are never freed).
    heap: AtomicPtr<Timers>,
    /// Sends `now` on the channel without blocking (the channel's `send`).
    send: unsafe fn(*mut (), i64),
    /// Drops one reference to the channel.
    release: unsafe fn(*mut ()),
}

impl ChanTimer {
    /// A timer for the channel that `send` and `release` operate on.
    pub(crate) fn new(
        period: i64,
        send: unsafe fn(*mut (), i64),
        release: unsafe fn(*mut ()),
    ) -> Self {
        ChanTimer {
            lock: Mutex::new(Rank::ChanTimer, ()),
            stopped: AtomicBool::new(false),
            period,
            heap: AtomicPtr::new(std::ptr::null_mut()),
            send,
            release,
        }
    }

    pub(crate) fn is_ticker(&self) -> bool {
        self.period > 0
    }

    /// Stops the timer: no send happens after this returns. Idempotent.
    pub(crate) fn stop(&self) {
        let first = {
            let _l = self.lock.lock();
            !self.stopped.swap(true, Ordering::AcqRel)
        };
        if first {
            let h = self.heap.load(Ordering::Acquire);
            if !h.is_null() {
                // SAFETY: heaps belong to P's, which are never freed.
                unsafe { &*h }.note_stale();
            }
        }
    }
}

/// A pending firing of a timer channel: owns one reference to the channel, released
/// when the firing is dropped (fired for the last time, or swept out stale).
pub(crate) struct ChanFire {
    t: Arc<ChanTimer>,
    ch: *mut (),
}

// SAFETY: the channel pointer is a counted reference; channels are thread-safe.
unsafe impl Send for ChanFire {}

impl Drop for ChanFire {
    fn drop(&mut self) {
        // SAFETY: this firing owns one reference to the channel.
        unsafe { (self.t.release)(self.ch) };
    }
}

impl ChanFire {
    /// A pending firing owning one reference to `ch`, the channel of `t`.
    pub(crate) fn new(t: Arc<ChanTimer>, ch: *mut ()) -> Self {
        ChanFire { t, ch }
    }

    /// Sends `now`; a ticker re-arms. The channel reference is dropped (maybe freeing
    /// the channel, which may call `stop`) only after `lock` is released.
    fn fire(self, now: i64, when: i64) {
        let t = self.t.clone();
        let l = t.lock.lock();
        if t.stopped.load(Ordering::Acquire) {
            drop(l);
            return; // dropping self releases the channel
        }
        // SAFETY: our reference keeps the channel alive.
        unsafe { (t.send)(self.ch, now) };
        let p = t.period;
        if p <= 0 {
            // A one-shot that fired is done: a later stop (the channel's release) has
            // nothing to sweep.
            t.stopped.store(true, Ordering::Release);
            drop(l);
            return;
        }
        let mut next = when.saturating_add(p);
        if next <= now {
            // Behind (a slow M): skip the missed ticks, stay on the period's grid.
            next = now.saturating_add(p - (now - when) % p);
        }
        // Re-armed under the lock, so a stop either sees the new heap or makes the
        // next firing return above.
        add_timer(next, TimerAction::Chan(self));
        drop(l);
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
    /// Entries in `heap` now (kept under the heap lock, read without it).
    len: AtomicUsize,
    /// Timer-channel entries stopped since the last sweep.
    stale: AtomicUsize,
}

/// `next` of an empty heap.
pub(crate) const NONE: i64 = i64::MAX;
static SEQ: AtomicU64 = AtomicU64::new(0);

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            heap: Mutex::new(Rank::Timers, BinaryHeap::new()),
            next: AtomicI64::new(NONE),
            swept_len: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            stale: AtomicUsize::new(0),
        }
    }

    /// The earliest deadline, or NONE.
    pub(crate) fn next_when(&self) -> i64 {
        self.next.load(Ordering::Acquire)
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.lock().len()
    }

    /// Adds a timer; true when it became this heap's earliest.
    fn add(&self, when: i64, action: TimerAction) -> bool {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        if let TimerAction::Chan(f) = &action {
            f.t.heap
                .store(self as *const Timers as *mut Timers, Ordering::Release);
        }
        let mut h = self.heap.lock();
        let n = h.len();
        let dead = if n >= 64 && n > 2 * self.swept_len.load(Ordering::Relaxed) {
            self.sweep_locked(&mut h)
        } else {
            Vec::new()
        };
        h.push(Entry { when, seq, action });
        self.len.store(h.len(), Ordering::Relaxed);
        let earliest = h.peek().map_or(NONE, |e| e.when);
        let became = earliest == when;
        self.next.store(earliest, Ordering::Release);
        drop(h);
        drop(dead); // releases swept timer channels, with no timer lock held
        became
    }

    /// Removes stale entries (heap lock held); returns them to be dropped unlocked.
    fn sweep_locked(&self, h: &mut BinaryHeap<Entry>) -> Vec<Entry> {
        let (live, dead): (Vec<Entry>, Vec<Entry>) = std::mem::take(h)
            .into_vec()
            .into_iter()
            .partition(|e| !e.action.is_stale());
        *h = BinaryHeap::from(live);
        self.swept_len.store(h.len(), Ordering::Relaxed);
        self.len.store(h.len(), Ordering::Relaxed);
        self.stale.store(0, Ordering::Relaxed);
        self.next
            .store(h.peek().map_or(NONE, |e| e.when), Ordering::Release);
        dead
    }

    /// A timer channel's entry here went stale: sweep once stale ones are half the heap
    /// (so each stop costs amortised O(log n), and a stopped timer's memory comes back
    /// long before its deadline).
    fn note_stale(&self) {
        let s = self.stale.fetch_add(1, Ordering::Relaxed) + 1;
        if s * 2 < self.len.load(Ordering::Relaxed) {
            return;
        }
        let mut h = self.heap.lock();
        let dead = self.sweep_locked(&mut h);
        drop(h);
        drop(dead);
    }

    /// Runs every timer due at `now`; returns how many fired.
    pub(crate) fn run_expired(&self, now: i64) -> usize {
        if self.next_when() > now {
            return 0;
        }
        let mut due = Vec::new();
        {
            let mut h = self.heap.lock();
            while h.peek().is_some_and(|e| e.when <= now) {
                if let Some(e) = h.pop() {
                    due.push(e);
                }
            }
            self.len.store(h.len(), Ordering::Relaxed);
            self.next
                .store(h.peek().map_or(NONE, |e| e.when), Ordering::Release);
        }
        let n = due.len();
        for e in due {
            e.action.fire(now, e.when);
        }
        n
    }

    /// Empties the heap; the timers are the caller's (to drop or to move, unlocked).
    fn take_all(&self) -> Vec<Entry> {
        let mut h = self.heap.lock();
        self.next.store(NONE, Ordering::Release);
        self.len.store(0, Ordering::Relaxed);
        self.stale.store(0, Ordering::Relaxed);
        std::mem::take(&mut *h).into_vec()
    }

    /// Drops every timer without firing it (shutdown).
    pub(crate) fn clear(&self) {
        drop(self.take_all());
    }

    /// Moves every timer to `to` (a P being destroyed hands its timers on).
    pub(crate) fn move_all_to(&self, to: &Timers) {
        for e in self.take_all() {
            to.add(e.when, e.action);
        }
    }
}

/// Arms a timer on the current P (or, without one, on some P) and makes sure an idle M
/// wakes up for it.
pub(crate) fn add_timer(when: i64, action: TimerAction) {
    let p = crate::sched::findrunnable::timer_p();
    if p.timers.add(when, action) {
        crate::sched::findrunnable::wakenetpoller(when);
    }
}

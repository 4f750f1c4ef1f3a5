//! The wait word: one way to name a wait, for a parked goroutine or a blocked foreign
//! thread. A wait is named by a [`WaitRef`]: who waits (a G, or a foreign thread's
//! [`ThreadWaiter`]) and which of its waits (a sequence number). The waiter's wait word
//! packs `seq << 8 | outcome`; `outcome == WAITING` while the wait is open. Whoever ends
//! a wait claims it (one CAS, exactly one winner) and the winner wakes it: `ready` for a
//! goroutine, a futex wake for a thread. This is the scheduler's half of Go's
//! `gopark`/`goready` pair (with the `selectDone` CAS folded into the claim); timers,
//! the poller and homes end waits through it without calling up into the parking layer.
//! The protocol (prepare, park with a commit, claim, wake) is in `park.rs`, above, with
//! the loom model of this word.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::g::GRef;
use crate::sys::futex;

/// The wait is open.
pub(crate) const WAITING: u8 = 0;
/// Woken by the event it waited for.
pub(crate) const OK: u8 = 1;
/// Its deadline passed.
pub(crate) const TIMEDOUT: u8 = 2;
/// Canceled: its home was closed (later: its fd was closed).
pub(crate) const CANCELED: u8 = 3;
/// Woken because what it waited on was closed (a channel).
pub(crate) const CLOSED: u8 = 4;
/// Ended by `gmp_shutdown`: a foreign thread still blocked when the runtime stopped.
pub(crate) const SHUTDOWN: u8 = 5;
/// No wait open.
pub(crate) const IDLE: u8 = 0xff;

/// Bit of [`ThreadWaiter::word`]: a claimed wait's wake-up arrived.
pub(crate) const PERMIT: u32 = 1;
/// Bit of [`ThreadWaiter::word`]: the thread's home has runnable goroutines.
pub(crate) const HOME_WORK: u32 = 2;
/// Bit of [`ThreadWaiter::word`]: `gmp_home_wake` was called.
pub(crate) const HOME_WAKE: u32 = 4;

/// The waiting half of a foreign thread (or a home thread): its wait word and the futex
/// word it sleeps on. One per thread, created on first use, shared by `Arc` with wakers
/// and timers that may outlive the thread.
pub(crate) struct ThreadWaiter {
    pub(crate) wait: AtomicU64,
    /// PERMIT | HOME_WORK | HOME_WAKE bits; the thread sleeps while it is 0.
    pub(crate) word: AtomicU32,
}

impl ThreadWaiter {
    fn new() -> Self {
        ThreadWaiter {
            wait: AtomicU64::new(IDLE as u64),
            word: AtomicU32::new(0),
        }
    }

    /// Sets `bits` and wakes the thread. Async-signal-safe (an atomic and a syscall).
    pub(crate) fn signal(&self, bits: u32) {
        self.word.fetch_or(bits, Ordering::Release);
        futex::wake(&self.word, 1);
    }

    /// Sleeps until a bit in `mask` is set or `deadline` passes, consuming nothing.
    pub(crate) fn wait_any(&self, mask: u32, deadline: i64) {
        loop {
            let w = self.word.load(Ordering::Acquire);
            if w & mask != 0 {
                return;
            }
            let timeout = if deadline < 0 {
                -1
            } else {
                let left = deadline - crate::sys::clock::now();
                if left <= 0 {
                    return;
                }
                left
            };
            futex::wait(&self.word, w, timeout);
        }
    }

    /// Sleeps until a bit in `mask` is set or `deadline` (gmp_now ns, < 0: none) passes;
    /// clears and returns the bits of `mask` that were set (0 on time-out).
    pub(crate) fn sleep(&self, mask: u32, deadline: i64) -> u32 {
        self.wait_any(mask, deadline);
        self.word.fetch_and(!mask, Ordering::Acquire) & mask
    }
}

thread_local! {
    static THREAD_WAITER: Arc<ThreadWaiter> = {
        // A thread that waits in gmp outside a goroutine may act later: checkdead
        // cannot prove a deadlock any more (sched/sysmon.rs).
        super::sysmon::FOREIGN_SEEN.store(true, std::sync::atomic::Ordering::Relaxed);
        let t = Arc::new(ThreadWaiter::new());
        let mut all = ALL_THREAD_WAITERS.lock();
        if all.len() >= 64 && all.len().is_power_of_two() {
            all.retain(|w| w.strong_count() > 0); // threads that ended
        }
        all.push(Arc::downgrade(&t));
        t
    };
}

/// Every foreign thread's waiter, for `gmp_shutdown` to end their open waits.
static ALL_THREAD_WAITERS: crate::sys::mutex::Mutex<Vec<std::sync::Weak<ThreadWaiter>>> =
    crate::sys::mutex::Mutex::new(crate::sys::mutex::Rank::ThreadWaiters, Vec::new());

/// Ends every foreign thread's open wait with SHUTDOWN (`gmp_shutdown`, once no
/// goroutine is left): nothing could end them any more but another foreign thread, and
/// the contract says they return `GMP_ESHUTDOWN`. A sole wait (claimed with a plain
/// store) could race a foreign waker here; the CAS makes us lose to one that came first.
pub(crate) fn shutdown_thread_waits() {
    let all: Vec<Arc<ThreadWaiter>> = ALL_THREAD_WAITERS
        .lock()
        .iter()
        .filter_map(|w| w.upgrade())
        .collect();
    for t in all {
        let v = t.wait.load(Ordering::Acquire);
        if v & 0xff == WAITING as u64 {
            WaitRef::for_thread(t, v >> 8, false).claim_and_wake(SHUTDOWN);
        }
    }
}

/// This thread's waiter (foreign threads and home threads).
pub(crate) fn thread_waiter() -> Arc<ThreadWaiter> {
    THREAD_WAITER.with(Arc::clone)
}

/// One wait of one waiter: who waits (a G, or a thread's [`ThreadWaiter`]) and which of
/// its waits. Two words, so a channel's queue entry (`Sudog`) is five: `who` is a
/// `*const G`, or with bit 0 set a `*const ThreadWaiter` that owns one `Arc` count;
/// `tag` is `seq << 1 | sole`. Cheap to clone (a copy, or an `Arc` count for threads).
pub(crate) struct WaitRef {
    who: usize,
    /// `seq << 1 | sole`. A wait is `sole` when only one party can ever end it: it has
    /// no deadline, is not a select, and its waiter has no home that could cancel it, so
    /// the one queue entry that names it (taken under its structure's lock) is the only
    /// claimer. Its claim is a plain store, not a CAS.
    tag: u64,
}

const THREAD_BIT: usize = 1;

// SAFETY: `who` is a G (never freed while the runtime runs, park.rs module docs) or a
// ThreadWaiter kept alive by the Arc count this WaitRef owns; both are Sync.
unsafe impl Send for WaitRef {}
// SAFETY: as above.
unsafe impl Sync for WaitRef {}

impl Clone for WaitRef {
    #[inline]
    fn clone(&self) -> Self {
        if let Some(t) = self.thread() {
            // SAFETY: we own one count of this Arc, so it is alive.
            unsafe { Arc::increment_strong_count(t) };
        }
        WaitRef {
            who: self.who,
            tag: self.tag,
        }
    }
}

impl Drop for WaitRef {
    #[inline]
    fn drop(&mut self) {
        if let Some(t) = self.thread() {
            // SAFETY: gives back the count this WaitRef owns.
            unsafe { Arc::decrement_strong_count(t) };
        }
    }
}

impl WaitRef {
    #[inline]
    pub(crate) fn for_g(g: GRef, seq: u64, sole: bool) -> WaitRef {
        WaitRef {
            who: g.as_ptr() as usize,
            tag: seq << 1 | sole as u64,
        }
    }

    #[inline]
    pub(crate) fn for_thread(t: Arc<ThreadWaiter>, seq: u64, sole: bool) -> WaitRef {
        WaitRef {
            who: Arc::into_raw(t) as usize | THREAD_BIT,
            tag: seq << 1 | sole as u64,
        }
    }

    #[inline]
    pub(crate) fn seq(&self) -> u64 {
        self.tag >> 1
    }

    #[inline]
    fn sole(&self) -> bool {
        self.tag & 1 != 0
    }

    #[inline]
    fn word(&self) -> &AtomicU64 {
        match (self.g(), self.thread()) {
            (Some(g), _) => &g.get().wait,
            (None, Some(t)) => &t.wait,
            (None, None) => unreachable!(),
        }
    }

    /// Ends the wait with `outcome` if it is still open. True for exactly one caller.
    #[inline]
    pub(crate) fn claim(&self, outcome: u8) -> bool {
        debug_assert!(outcome != WAITING);
        let seq = self.seq();
        if self.sole() {
            // The only possible claimer (see `tag`): the wait is open.
            let word = self.word();
            debug_assert_eq!(word.load(Ordering::Relaxed), seq << 8 | WAITING as u64);
            word.store(seq << 8 | outcome as u64, Ordering::Release);
            return true;
        }
        self.word()
            .compare_exchange(
                seq << 8 | WAITING as u64,
                seq << 8 | outcome as u64,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Whether the wait is still open (for sweeping stale timers; racy by nature).
    pub(crate) fn is_open(&self) -> bool {
        self.word().load(Ordering::Relaxed) == self.seq() << 8 | WAITING as u64
    }

    /// Wakes the waiter. Only the winner of [`claim`](Self::claim) may call it, once.
    #[inline]
    pub(crate) fn wake(self) {
        match (self.g(), self.thread()) {
            (Some(g), _) => super::queue::ready(g),
            // Our Arc count keeps the thread's waiter alive until self drops.
            (None, Some(t)) => t.signal(PERMIT),
            (None, None) => unreachable!(),
        }
    }

    /// `claim` then `wake`; true if this call ended the wait.
    pub(crate) fn claim_and_wake(&self, outcome: u8) -> bool {
        if self.claim(outcome) {
            self.clone().wake();
            true
        } else {
            false
        }
    }

    /// Whether both name the same wait.
    pub(crate) fn same_wait(&self, o: &WaitRef) -> bool {
        self.seq() == o.seq() && std::ptr::eq(self.word(), o.word())
    }

    /// The waiting goroutine, if a goroutine waits.
    #[inline]
    pub(crate) fn g(&self) -> Option<GRef> {
        if self.who & THREAD_BIT == 0 {
            std::ptr::NonNull::new(self.who as *mut super::g::G).map(GRef)
        } else {
            None
        }
    }

    /// The waiting thread, if a thread waits.
    #[inline]
    pub(crate) fn thread(&self) -> Option<&ThreadWaiter> {
        if self.who & THREAD_BIT != 0 {
            // SAFETY: kept alive by our Arc count.
            Some(unsafe { &*((self.who & !THREAD_BIT) as *const ThreadWaiter) })
        } else {
            None
        }
    }
}

pub(crate) fn open(word: &AtomicU64) -> u64 {
    let seq = (word.load(Ordering::Relaxed) >> 8) + 1;
    word.store(seq << 8 | WAITING as u64, Ordering::Release);
    seq
}

#[inline]
pub(crate) fn outcome_of(word: &AtomicU64, seq: u64) -> u8 {
    let v = word.load(Ordering::Acquire);
    debug_assert_eq!(v >> 8, seq);
    (v & 0xff) as u8
}

/// Ends g's open wait, if any, with CANCELED and readies it (home close). Only for a G
/// that cannot be running (the caller runs on its home thread, outside its goroutines).
pub(crate) fn cancel_g(g: GRef) -> bool {
    let word = &g.get().wait;
    let v = word.load(Ordering::Acquire);
    if v & 0xff != WAITING as u64 || g.status() != super::g::WAITING {
        return false;
    }
    WaitRef::for_g(g, v >> 8, false).claim_and_wake(CANCELED)
}

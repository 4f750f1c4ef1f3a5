//! The wait word: one way to name a wait, for a parked goroutine or a blocked foreign
//! thread. A wait is named by a [`WaitRef`]: who waits (a G, or a foreign thread's
//! [`ThreadWaiter`]) and which of its waits (a sequence number). The waiter's wait word
//! packs `seq << 8 | outcome`; `outcome == WAITING` while the wait is open. Whoever ends
//! a wait claims it (one CAS, exactly one winner) and the winner wakes it: `ready` for a
//! goroutine, a futex wake for a thread. This is the scheduler's half of Go's
//! `gopark`/`goready` pair (with the `selectDone` CAS folded into the claim); timers,
//! the poller and homes end waits through it without calling up into the parking layer.
//! The protocol (prepare, park with a commit, claim, wake) is described in `park.rs`,
//! above. Its atomic steps on the two words (the wait word, and a thread's PERMIT word)
//! are the generic functions of [`proto`], which the real code calls on `std` atomics and
//! the loom model (`loom_tests`, in `wait_loom.rs`) calls on loom's: the model checks
//! these lines themselves, not a copy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64};

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
    /// No syscall when `bits` were all set already: a sleeper never sleeps on a word that
    /// holds a bit it waits for (`wait_bits`), so only a change of the word can end a
    /// sleep, and whoever set them wakes (or woke) the thread. A busy home thread's
    /// HOME_WORK stays set, so readying its goroutines costs no futex wake each.
    pub(crate) fn signal(&self, bits: u32) {
        if proto::set_bits(&self.word, bits) & bits != bits {
            futex::wake(&self.word, 1);
        }
    }

    /// Sleeps until a bit in `mask` is set or `deadline` passes, consuming nothing.
    pub(crate) fn wait_any(&self, mask: u32, deadline: i64) {
        proto::wait_bits(&self.word, mask, |w| {
            let timeout = if deadline < 0 {
                -1
            } else {
                let left = deadline - crate::sys::clock::now();
                if left <= 0 {
                    return false;
                }
                left
            };
            futex::wait(&self.word, w, timeout);
            true
        })
    }

    /// Sleeps until a bit in `mask` is set or `deadline` (gmp_now ns, < 0: none) passes;
    /// clears and returns the bits of `mask` that were set (0 on time-out).
    pub(crate) fn sleep(&self, mask: u32, deadline: i64) -> u32 {
        self.wait_any(mask, deadline);
        proto::take_bits(&self.word, mask)
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
        if let Some(seq) = proto::open_seq(&t.wait) {
            WaitRef::for_thread(t, seq, false).claim_and_wake(SHUTDOWN);
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
    pub(crate) fn is_sole(&self) -> bool {
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
        proto::claim(self.word(), self.seq(), outcome, self.is_sole())
    }

    /// Whether the wait is still open (for sweeping stale timers; racy by nature).
    pub(crate) fn is_open(&self) -> bool {
        proto::is_open(self.word(), self.seq())
    }

    /// Wakes the waiter. Only the winner of [`claim`](Self::claim) may call it, once.
    /// Inline: a test and a call (`ready` is out of line).
    #[inline(always)]
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
            // SAFETY: `who` is never 0: a G's address (`for_g`, from a `GRef`) or an
            // `Arc`'s with bit 0 set (`for_thread`). So no null test in every claim and
            // wake.
            Some(GRef(unsafe {
                std::ptr::NonNull::new_unchecked(self.who as *mut super::g::G)
            }))
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

/// Opens the next wait on `word` (see [`proto::open`]); returns its sequence number.
#[inline]
pub(crate) fn open(word: &AtomicU64) -> u64 {
    proto::open(word)
}

/// The outcome of wait `seq` on `word`, once it was claimed and its waiter woken.
#[inline]
pub(crate) fn outcome_of(word: &AtomicU64, seq: u64) -> u8 {
    proto::outcome_of(word, seq)
}

/// A thread's wake-up check (`park_thread`, each round): if a claimer's PERMIT arrived,
/// consumes it and returns the outcome of wait `seq`.
#[inline]
pub(crate) fn take_permit(t: &ThreadWaiter, seq: u64) -> Option<u8> {
    proto::take_permit(&t.wait, &t.word, seq)
}

/// A thread whose deadline passed ends its own wait `seq` (`park_thread`); see
/// [`proto::expire`].
pub(crate) fn expire(t: &ThreadWaiter, seq: u64, sole: bool) -> u8 {
    proto::expire(&t.wait, &t.word, seq, sole, || t.wait_any(PERMIT, -1))
}

/// Ends g's open wait, if any, with CANCELED and readies it (home close). Only for a G
/// that cannot be running (the caller runs on its home thread, outside its goroutines).
pub(crate) fn cancel_g(g: GRef) -> bool {
    let Some(seq) = proto::open_seq(&g.get().wait) else {
        return false;
    };
    if g.status() != super::g::WAITING {
        return false;
    }
    WaitRef::for_g(g, seq, false).claim_and_wake(CANCELED)
}

/// The wait word's atomic protocol, on any atomics with the `std` interface: `std`'s for
/// the real words (`G::wait`, [`ThreadWaiter`]'s two), loom's for the model
/// (`loom_tests`). Everything here is `#[inline]` and monomorphizes, on `std`'s types, to
/// exactly the loads, stores and CASes the callers made before it was factored out.
/// What is not here is not model-checked: the futex calls, the clock, the run queue
/// behind `ready`, and the home pump in `park_thread`.
pub(crate) mod proto {
    use std::sync::atomic::Ordering;

    use super::{PERMIT, TIMEDOUT, WAITING};

    /// The operations on a wait word (`seq << 8 | outcome`).
    pub(crate) trait Word64 {
        fn load(&self, o: Ordering) -> u64;
        fn store(&self, v: u64, o: Ordering);
        fn compare_exchange(
            &self,
            cur: u64,
            new: u64,
            s: Ordering,
            f: Ordering,
        ) -> Result<u64, u64>;
    }

    /// The operations on a thread's PERMIT | HOME_WORK | HOME_WAKE word.
    pub(crate) trait Word32 {
        fn load(&self, o: Ordering) -> u32;
        fn fetch_or(&self, v: u32, o: Ordering) -> u32;
        fn fetch_and(&self, v: u32, o: Ordering) -> u32;
    }

    macro_rules! words {
        ($a64:ty, $a32:ty) => {
            impl Word64 for $a64 {
                #[inline(always)]
                fn load(&self, o: Ordering) -> u64 {
                    <$a64>::load(self, o)
                }
                #[inline(always)]
                fn store(&self, v: u64, o: Ordering) {
                    <$a64>::store(self, v, o)
                }
                #[inline(always)]
                fn compare_exchange(
                    &self,
                    cur: u64,
                    new: u64,
                    s: Ordering,
                    f: Ordering,
                ) -> Result<u64, u64> {
                    <$a64>::compare_exchange(self, cur, new, s, f)
                }
            }
            impl Word32 for $a32 {
                #[inline(always)]
                fn load(&self, o: Ordering) -> u32 {
                    <$a32>::load(self, o)
                }
                #[inline(always)]
                fn fetch_or(&self, v: u32, o: Ordering) -> u32 {
                    <$a32>::fetch_or(self, v, o)
                }
                #[inline(always)]
                fn fetch_and(&self, v: u32, o: Ordering) -> u32 {
                    <$a32>::fetch_and(self, v, o)
                }
            }
        };
    }
    words!(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU32);
    #[cfg(loom)]
    words!(loom::sync::atomic::AtomicU64, loom::sync::atomic::AtomicU32);

    /// Opens the next wait (seq + 1, WAITING). Only the waiter writes its word here, and
    /// only while no wait is open; the Release pairs with a claimer's CAS.
    #[inline]
    pub(crate) fn open<W: Word64>(word: &W) -> u64 {
        let seq = (word.load(Ordering::Relaxed) >> 8) + 1;
        word.store(seq << 8 | WAITING as u64, Ordering::Release);
        seq
    }

    /// Ends wait `seq` with `outcome` if it is still open: true for exactly one caller.
    /// A `sole` wait has one possible claimer (`WaitRef::tag`), so its claim is a plain
    /// store; any other is a CAS from `seq << 8 | WAITING`, which a claimer of an older
    /// wait (a stale timer) always fails.
    #[inline]
    pub(crate) fn claim<W: Word64>(word: &W, seq: u64, outcome: u8, sole: bool) -> bool {
        debug_assert!(outcome != WAITING);
        if sole {
            debug_assert_eq!(word.load(Ordering::Relaxed), seq << 8 | WAITING as u64);
            word.store(seq << 8 | outcome as u64, Ordering::Release);
            return true;
        }
        word.compare_exchange(
            seq << 8 | WAITING as u64,
            seq << 8 | outcome as u64,
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .is_ok()
    }

    /// Whether wait `seq` is still open (racy by nature: for sweeping stale timers).
    #[inline]
    pub(crate) fn is_open<W: Word64>(word: &W, seq: u64) -> bool {
        word.load(Ordering::Relaxed) == seq << 8 | WAITING as u64
    }

    /// The sequence number of the open wait, if one is open (home close, shutdown: the
    /// claim that follows fails if the wait ends in between).
    #[inline]
    pub(crate) fn open_seq<W: Word64>(word: &W) -> Option<u64> {
        let v = word.load(Ordering::Acquire);
        (v & 0xff == WAITING as u64).then_some(v >> 8)
    }

    /// The outcome of wait `seq`, read by its waiter once woken (the Acquire pairs with
    /// the claim's Release, so what the claimer wrote before claiming is visible).
    #[inline]
    pub(crate) fn outcome_of<W: Word64>(word: &W, seq: u64) -> u8 {
        let v = word.load(Ordering::Acquire);
        debug_assert_eq!(v >> 8, seq);
        (v & 0xff) as u8
    }

    /// Sets `bits` in a thread's word (the futex wake follows, outside); returns the
    /// word before.
    #[inline]
    pub(crate) fn set_bits<W: Word32>(bits_word: &W, bits: u32) -> u32 {
        bits_word.fetch_or(bits, Ordering::Release)
    }

    /// Clears the bits of `mask` and returns those that were set.
    #[inline]
    pub(crate) fn take_bits<W: Word32>(bits_word: &W, mask: u32) -> u32 {
        bits_word.fetch_and(!mask, Ordering::Acquire) & mask
    }

    /// Returns once a bit of `mask` is set (consuming nothing), or once `block` returns
    /// false. `block(w)` sleeps while the word is still `w` (a futex wait; a yield in the
    /// model) and returns false when the caller's deadline has passed.
    #[inline]
    pub(crate) fn wait_bits<W: Word32>(
        bits_word: &W,
        mask: u32,
        mut block: impl FnMut(u32) -> bool,
    ) {
        loop {
            let w = bits_word.load(Ordering::Acquire);
            if w & mask != 0 || !block(w) {
                return;
            }
        }
    }

    /// A thread's wake-up check: if PERMIT is set, consumes it and returns the outcome
    /// of wait `seq`.
    #[inline]
    pub(crate) fn take_permit<W: Word64, B: Word32>(
        word: &W,
        bits_word: &B,
        seq: u64,
    ) -> Option<u8> {
        if bits_word.load(Ordering::Acquire) & PERMIT == 0 {
            return None;
        }
        bits_word.fetch_and(!PERMIT, Ordering::Acquire);
        Some(outcome_of(word, seq))
    }

    /// A thread whose deadline passed (and whose PERMIT was not set) ends its own wait
    /// `seq` with TIMEDOUT, unless a waker claimed it first: then that waker's PERMIT is
    /// on its way, and `sleep_permit` waits for it (without consuming it); we consume it
    /// here so that it is never mistaken for the next wait's.
    #[inline]
    pub(crate) fn expire<W: Word64, B: Word32>(
        word: &W,
        bits_word: &B,
        seq: u64,
        sole: bool,
        sleep_permit: impl FnOnce(),
    ) -> u8 {
        if claim(word, seq, TIMEDOUT, sole) {
            return TIMEDOUT;
        }
        sleep_permit();
        take_bits(bits_word, PERMIT);
        outcome_of(word, seq)
    }
}

#[cfg(all(test, loom))]
#[path = "wait_loom.rs"]
mod loom_tests;

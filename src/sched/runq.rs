//! Go's per-P local run queue: `p.runq` + `p.runnext` from `runtime/proc.go`
//! (`runqput`, `runqputslow`, `runqget`, `runqgrab`, `runqsteal`, `runqempty`,
//! `runqdrain`), rewritten in Rust for a generic item pointer `NonNull<T>`.
//!
//! # Shape
//!
//! A fixed ring of [`LOCAL_QUEUE_CAP`] slots addressed by two free-running `u32`
//! counters, `head` and `tail` (slot index = counter % CAP, all arithmetic
//! wrapping), plus one extra slot, `runnext`, for the item that should run next.
//! The queue never dereferences an item: a `NonNull<T>` is an opaque token that
//! is handed out exactly once for every time it was put in.
//!
//! # Invariants
//!
//! - Only the owner stores `tail`, and only the owner stores into `slots` (a steal
//!   writes into the *thief's* slots, and the thief is the owner of those).
//! - `head` only moves forward, and only by CAS, done by any consumer: the owner
//!   (`get`, `put`'s overflow, `drain`) and stealers (`runqgrab`).
//! - `head <= tail` and `tail - head <= CAP` (in wrapping `u32` arithmetic).
//!   Slots `head..tail` hold the live items in FIFO order; any other slot may hold
//!   a stale pointer that must never be handed out.
//! - A consumer may read a slot that the owner is overwriting at the same moment
//!   (its `head` snapshot was stale). Its CAS on `head` then fails and it throws
//!   the value away, as Go's comments explain. That is why the slots are
//!   `AtomicPtr` (accessed `Relaxed`): in Rust a plain racing read would be UB.
//! - `runnext`: only the owner stores a non-null pointer (`put` with `next`);
//!   anyone may CAS it back to null (owner `get`/`drain`, a stealer).
//!   At least one of `runnext` and the ring holds every item that was put and
//!   not yet taken; an item is never in both.
//!
//! # Roles
//!
//! - Owner handle (`put`, `get`, `drain`, and `steal_from` as the thief `self`):
//!   may only be used from a single thread at a time (the M holding the P).
//! - Stealer handle (`victim` in another queue's `steal_from`): any thread, any
//!   number at once.
//! - Observer (`len`, `is_empty`): any thread; the answers are snapshots.
//!
//! # Memory orderings (as Go's)
//!
//! - The owner load-acquires `head` before reusing slots (synchronises with the
//!   consumers' CAS-release, so their slot reads happen before the overwrite),
//!   and store-releases `tail` after filling slots (publishes the items and
//!   everything the producer wrote into them).
//! - Stealers load-acquire `head` and `tail`; every consumer commits with a
//!   CAS-release on `head`.
//! - `runnext` is changed with acquire-release RMWs (publish the item to a
//!   stealer, and order the owner's preceding `tail` store before it, which
//!   [`RunQueue::is_empty`]'s snapshot loop relies on).
//!
//! # Where this follows Go and where it differs
//!
//! Follows Go: ring size 256, steal half (rounded up), overflow moves half the
//! ring plus the new item to the global queue, `runnext` runs first and inherits
//! the time slice, `runqempty`'s head/tail/runnext/tail snapshot, the orderings
//! above. Differs:
//! - Slots are `AtomicPtr` with `Relaxed` accesses instead of plain words.
//! - `put` does not touch the global queue: the overflow batch comes back as an
//!   [`Overflow`] for the caller to push (under its own lock). No
//!   `randomizeScheduler` shuffling, no "no sysmon → no runnext" rule: the
//!   caller passes `next = false` if it wants that.
//! - `steal_from` never sleeps. Go's `runqgrab` sleeps ~3us before taking the
//!   `runnext` of a running P so that P gets a chance to run it; here that policy
//!   belongs to the caller (e.g. `steal_from(v, false)`, back off, then
//!   `steal_from(v, true)` only on the last steal round, as Go's `stealWork`).
//! - `steal_from` clamps the batch to the thief's free space instead of
//!   throwing "runq overflow", and refuses to steal from itself.
//! - Go's `throw`s on broken invariants are `debug_assert!`s.
//! - `drain` hands items to a closure (runnext first, then the ring in FIFO
//!   order) instead of building a `gQueue`.
//! - Under `cfg(loom)` the ring has 4 slots so the model checker reaches the
//!   full/wrap-around edges (as Tokio shrinks its queue).

use core::fmt;
use core::iter::FusedIterator;
use core::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

use crate::loom::{AtomicPtr, AtomicU32};

/// Number of slots in a P's local ring (Go: `len(p.runq)` = 256).
#[cfg(not(loom))]
pub(crate) const LOCAL_QUEUE_CAP: usize = 256;
/// Number of slots in a P's local ring, shrunk so loom reaches the edges.
#[cfg(loom)]
pub(crate) const LOCAL_QUEUE_CAP: usize = 4;

/// Largest [`Overflow`] batch: half the ring plus the item being put.
pub(crate) const OVERFLOW_CAP: usize = LOCAL_QUEUE_CAP / 2 + 1;

const CAP: u32 = LOCAL_QUEUE_CAP as u32;
const MASK: u32 = CAP - 1;

// The slot index is `counter & MASK`; that equals `counter % CAP` across the
// `u32` wrap only if CAP is a power of two.
const _: () = assert!(LOCAL_QUEUE_CAP.is_power_of_two() && LOCAL_QUEUE_CAP >= 2);

/// A P's local run queue: a bounded lock-free ring plus a `runnext` slot.
///
/// See the module docs for who may call what. The queue does not own its items:
/// dropping a non-empty queue simply forgets the pointers (call
/// [`RunQueue::drain`] first when destroying a P).
pub(crate) struct RunQueue<T> {
    /// Next slot to consume. Advanced by CAS, by the owner and by stealers.
    head: AtomicU32,
    /// Next slot to fill. Stored only by the owner.
    tail: AtomicU32,
    /// The item to run next, ahead of the ring (Go's `p.runnext`). Null if none.
    runnext: AtomicPtr<T>,
    /// The ring. Written only by the owner; read by every consumer.
    slots: [AtomicPtr<T>; LOCAL_QUEUE_CAP],
}

// SAFETY: the queue only stores and hands back `NonNull<T>` values; it never
// dereferences them, and all of its shared state is atomics. Moving an item to
// another thread is exactly the queue's job; whether the pointee may be used
// there is the contract between the caller that put it and the one that takes
// it (the scheduler only queues Gs that it hands off between Ms).
unsafe impl<T> Send for RunQueue<T> {}
// SAFETY: as for `Send`: every method takes `&self` and touches only atomics,
// with the single-owner methods documented as such.
unsafe impl<T> Sync for RunQueue<T> {}

impl<T> Default for RunQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for RunQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunQueue")
            .field("head", &self.head.load(Relaxed))
            .field("tail", &self.tail.load(Relaxed))
            .field("runnext", &self.runnext.load(Relaxed))
            .finish_non_exhaustive()
    }
}

/// Asks for the first two cache lines of an item, for writing (`prefetchw`), ahead of
/// its run: for a G, what running it reads and writes first (g.rs, `G`'s layout),
/// last written by the P that spawned it. Measured (bench spawn and skynet, 2 P's,
/// alternated runs): spawn 111 -> 88 ns median, skynet 376 -> 333 ms; the consumer's
/// first reads of a G spawned on the other P were most of `goexit`'s and
/// `next_direct`'s samples. A hint: never faults, changes nothing else.
#[cfg(not(loom))]
#[inline(always)]
fn prefetch_item<T>(p: *mut T) {
    crate::sys::cpu::prefetch_write2(p);
}

/// Converts a pointer that the invariants say is non-null (a live slot, or a
/// `runnext` value that was checked) without `unsafe`.
#[inline]
fn live<T>(p: *mut T) -> NonNull<T> {
    match NonNull::new(p) {
        Some(p) => p,
        None => unreachable!("runq: null pointer in a live slot"),
    }
}

impl<T> RunQueue<T> {
    /// An empty queue.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        RunQueue {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            runnext: AtomicPtr::new(ptr::null_mut()),
            slots: [const { AtomicPtr::new(ptr::null_mut()) }; LOCAL_QUEUE_CAP],
        }
    }

    /// An empty queue (loom's atomics have no `const fn new`).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        RunQueue {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            runnext: AtomicPtr::new(ptr::null_mut()),
            slots: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    #[inline]
    fn slot(&self, counter: u32) -> &AtomicPtr<T> {
        &self.slots[(counter & MASK) as usize]
    }

    /// Go's `runqput`. **Owner only.**
    ///
    /// With `next == false` the item goes to the tail of the ring. With
    /// `next == true` it goes into `runnext` and the previous `runnext` (if any)
    /// is kicked to the tail of the ring instead.
    ///
    /// If the ring is full, half of it (the oldest `CAP/2` items) plus the item
    /// being queued are moved out and returned, in FIFO order, for the caller to
    /// push onto the global queue (Go's `runqputslow`). `None` means everything
    /// fit locally.
    #[cfg(any(test, loom))]
    #[must_use = "an overflow batch must be pushed onto the global run queue"]
    pub(crate) fn put(&self, item: NonNull<T>, next: bool) -> Option<Overflow<T>> {
        let mut out = None;
        self.put_or_spill(item, next, |b| out = Some(b));
        out
    }

    /// [`put`](Self::put) for the scheduler's hot callers: an overflow batch is handed
    /// to `spill` inside the out-of-line slow path, so the batch (about 1 KiB) is never
    /// in the caller's stack frame. It was, through `put`'s return value, in every
    /// function that inlines a run-queue put (`next_direct`, `execute`, the switch-in
    /// path): a kilobyte of goroutine stack under every parked goroutine, which took a
    /// parked goroutine's stack to a second page when one more such frame was inlined
    /// (bench idle_mem 4.4 -> 8.5 KB, `tests/park_depth.rs`).
    #[inline]
    pub(crate) fn put_or_spill(
        &self,
        item: NonNull<T>,
        next: bool,
        spill: impl FnOnce(Overflow<T>),
    ) {
        let mut item = item;
        let mut spill = spill;
        if next {
            // Go loops on a CAS here; since only the owner stores non-null, a swap
            // is the same thing. A null result means there was none (or a stealer
            // just took it). SeqCst: the caller (`runqput_wake`) reads `nmspinning`
            // next, and a spinning M gives up with `nmspinning -= 1; fence(SeqCst)`
            // before reading this word; with the swap in the SeqCst order one of the
            // two sees the other (C++20 [atomics.order], the fence rule), where AcqRel
            // gives no such promise (`sched/spin_loom.rs`). Same instruction as AcqRel
            // on x86 (xchg) and arm64 (swpal).
            let old = self.runnext.swap(item.as_ptr(), SeqCst);
            match NonNull::new(old) {
                Some(o) => item = o,
                None => return,
            }
        }
        loop {
            // Acquire: the consumers' slot reads happen before we reuse slots.
            let h = self.head.load(Acquire);
            let t = self.tail.load(Relaxed); // we are its only writer
            if t.wrapping_sub(h) < CAP {
                self.slot(t).store(item.as_ptr(), Relaxed);
                // Release: makes the slot (and the item's contents) visible.
                self.tail.store(t.wrapping_add(1), Release);
                return;
            }
            match self.put_slow(item, h, t, spill) {
                Ok(()) => return,
                // Stealers took items meanwhile, so the ring is no longer full and
                // the fast path above must succeed now.
                Err(s) => spill = s,
            }
        }
    }

    /// `put_or_spill(item, true, ..)` for an owner whose P is the only one, so that
    /// no spinning M reads `runnext` against `nmspinning` (see `put_or_spill`): an empty
    /// `runnext` takes the item with a plain store instead of a locked swap. Only the
    /// owner makes `runnext` non-null; a stealer (sysmon moving a hog's queue) can only
    /// take it, so an empty one stays empty until this store. **Owner only.**
    /// False (nothing done) if `runnext` is taken: then the caller puts as usual.
    #[inline]
    pub(crate) fn put_next_alone(&self, item: NonNull<T>) -> bool {
        if !self.runnext.load(Relaxed).is_null() {
            return false;
        }
        // Release: a stealer that takes it (Acquire CAS) sees the item's contents.
        self.runnext.store(item.as_ptr(), Release);
        true
    }

    /// Go's `runqputslow`: claims the oldest half of a full ring and hands it, with
    /// `item`, to `spill`. Gives `spill` back if a stealer moved `head` first (the
    /// caller retries the fast path). Out of line: the batch lives in this frame only.
    #[cold]
    #[inline(never)]
    fn put_slow<F: FnOnce(Overflow<T>)>(
        &self,
        item: NonNull<T>,
        h: u32,
        t: u32,
        spill: F,
    ) -> Result<(), F> {
        let n = t.wrapping_sub(h) / 2;
        debug_assert_eq!(n, CAP / 2, "runq put_slow: queue is not full");
        let mut batch = Overflow::new();
        for i in 0..n {
            // Slots h..t are live and only we write slots, so these are items.
            batch.buf[i as usize] = live(self.slot(h.wrapping_add(i)).load(Relaxed));
        }
        // CAS-release commits the consume, as in `get`.
        if self
            .head
            .compare_exchange(h, h.wrapping_add(n), Release, Relaxed)
            .is_err()
        {
            return Err(spill);
        }
        batch.buf[n as usize] = item;
        batch.end = n as usize + 1;
        spill(batch);
        Ok(())
    }

    /// Go's `runqget`. **Owner only.**
    ///
    /// Returns `runnext` first, with `true` ("inherit the current time slice"),
    /// else the head of the ring with `false`. `None` if the queue is empty.
    #[inline]
    pub(crate) fn get(&self) -> Option<(NonNull<T>, bool)> {
        let next = self.runnext.load(Relaxed); // only we store non-null
        // If the CAS fails, a stealer took it: only we can make it non-null
        // again, so there is nothing to retry (Go's comment).
        if !next.is_null()
            && self
                .runnext
                .compare_exchange(next, ptr::null_mut(), AcqRel, Relaxed)
                .is_ok()
        {
            return Some((live(next), true));
        }
        loop {
            let h = self.head.load(Acquire); // synchronise with other consumers
            let t = self.tail.load(Relaxed);
            if t == h {
                return None;
            }
            let p = self.slot(h).load(Relaxed);
            if self
                .head
                .compare_exchange(h, h.wrapping_add(1), Release, Relaxed)
                .is_ok()
            {
                // The item after it most likely runs next, here: ask for its first
                // lines now. (Only we write the slots; a stale pointer is harmless.)
                #[cfg(not(loom))]
                if h.wrapping_add(1) != t {
                    prefetch_item(self.slot(h.wrapping_add(1)).load(Relaxed));
                }
                return Some((live(p), false));
            }
        }
    }

    /// Go's `runqsteal`. Called by the **owner of `self`** (the thief), whose
    /// queue should be empty, as in Go's `findRunnable`.
    ///
    /// Moves half (rounded up) of `victim`'s ring into `self`'s ring and returns
    /// one of the moved items (the newest) to run now; the rest become visible
    /// in `self`. If `self` is not empty the batch is clamped to its free space
    /// (plus the returned item), so nothing is overwritten.
    ///
    /// If `victim`'s ring is empty and `steal_runnext` is true, `victim`'s
    /// `runnext` may be taken instead. This never sleeps: Go backs off ~3us
    /// before taking the `runnext` of a *running* P, and that policy is the
    /// caller's (see the module docs). `None` if nothing was stolen, or if
    /// `victim` is `self`.
    pub(crate) fn steal_from(
        &self,
        victim: &RunQueue<T>,
        steal_runnext: bool,
    ) -> Option<NonNull<T>> {
        if ptr::eq(self, victim) {
            return None;
        }
        let t = self.tail.load(Relaxed); // we are its only writer
        // Acquire: our own stealers' slot reads happen before we write slots.
        let h = self.head.load(Acquire);
        let free = CAP - t.wrapping_sub(h);
        let (n, last) = victim.grab(self, t, free + 1, steal_runnext)?;
        let n = n - 1; // `last` is returned, not queued
        if n > 0 {
            debug_assert!(t.wrapping_sub(h) + n <= CAP, "runq steal: overflow");
            // Release: publishes the stolen items in our ring.
            self.tail.store(t.wrapping_add(n), Release);
        }
        Some(last)
    }

    /// Go's `runqgrab`, on the victim `self`: claims up to half its ring, at most
    /// `max` items; all but the last are written into `dst`'s slots from
    /// `dst_tail` on (not yet published), and the last is returned with the count.
    fn grab(
        &self,
        dst: &RunQueue<T>,
        dst_tail: u32,
        max: u32,
        steal_runnext: bool,
    ) -> Option<(u32, NonNull<T>)> {
        loop {
            let h = self.head.load(Acquire); // synchronise with other consumers
            let t = self.tail.load(Acquire); // synchronise with the producer
            let avail = t.wrapping_sub(h);
            let half = avail - avail / 2;
            if half == 0 {
                if steal_runnext {
                    let next = self.runnext.load(Acquire);
                    if !next.is_null() {
                        if self
                            .runnext
                            .compare_exchange(next, ptr::null_mut(), AcqRel, Relaxed)
                            .is_err()
                        {
                            // The owner ran it or kicked it into the ring: look again.
                            continue;
                        }
                        return Some((1, live(next)));
                    }
                }
                return None;
            }
            if half > CAP / 2 {
                continue; // read an inconsistent head and tail
            }
            let n = half.min(max);
            let mut last = ptr::null_mut();
            for i in 0..n {
                // May race with the owner reusing the slot if `h` is already
                // stale; then the CAS below fails and all of this is discarded.
                let p = self.slot(h.wrapping_add(i)).load(Relaxed);
                if i + 1 == n {
                    last = p;
                } else {
                    // Beyond dst's published tail: invisible until the thief
                    // stores its tail, and rewritten if we retry.
                    dst.slot(dst_tail.wrapping_add(i)).store(p, Relaxed);
                }
            }
            if self
                .head
                .compare_exchange(h, h.wrapping_add(n), Release, Relaxed)
                .is_ok()
            {
                return Some((n, live(last)));
            }
        }
    }

    /// Approximate number of queued items (ring + `runnext`). Any thread; exact
    /// only when called by the owner with no stealers about.
    pub(crate) fn len(&self) -> u32 {
        let h = self.head.load(Acquire);
        let t = self.tail.load(Acquire);
        let ring = t.wrapping_sub(h).min(CAP);
        ring + u32::from(!self.runnext.load(Acquire).is_null())
    }

    /// Go's `runqempty`: whether there is nothing in the ring nor in `runnext`.
    /// Any thread.
    ///
    /// Reading `head == tail` and then `runnext == null` is not enough: between
    /// the two reads the owner may kick the old `runnext` into the ring and then
    /// `get` the new one. So, as Go, it re-reads `tail` and retries until it saw
    /// a consistent snapshot. It is still only a snapshot: a caller that needs
    /// store→load ordering against a concurrent `put` (Go's spinning-M
    /// handshake) must add `fence(SeqCst)` on both sides itself.
    pub(crate) fn is_empty(&self) -> bool {
        loop {
            let h = self.head.load(Acquire);
            let t = self.tail.load(Acquire);
            let next = self.runnext.load(Acquire);
            if t == self.tail.load(Acquire) {
                return h == t && next.is_null();
            }
        }
    }

    /// Go's `runqdrain`. **Owner only.** Takes everything out of the queue and
    /// calls `f` on each item: `runnext` first, then the ring in FIFO order. For
    /// when a P is destroyed. All items are claimed before `f` first runs, so `f`
    /// may put onto this queue again (those items are not drained).
    pub(crate) fn drain(&self, mut f: impl FnMut(NonNull<T>)) {
        let next = NonNull::new(self.runnext.swap(ptr::null_mut(), AcqRel));
        let mut ring = [ptr::null_mut::<T>(); LOCAL_QUEUE_CAP];
        let mut n = 0;
        loop {
            let h = self.head.load(Acquire); // synchronise with other consumers
            let t = self.tail.load(Relaxed);
            let qn = t.wrapping_sub(h);
            if qn == 0 {
                break;
            }
            debug_assert!(qn <= CAP, "runq drain: inconsistent head and tail");
            if self.head.compare_exchange(h, t, Release, Relaxed).is_ok() {
                // Claimed: stealers no longer read these slots and only we
                // write them, so copying them out after the CAS is fine (Go
                // does the same).
                for (i, out) in ring.iter_mut().take(qn as usize).enumerate() {
                    *out = self.slot(h.wrapping_add(i as u32)).load(Relaxed);
                }
                n = qn as usize;
                break;
            }
        }
        if let Some(next) = next {
            f(next);
        }
        for &p in &ring[..n] {
            f(live(p));
        }
    }
}

/// The batch that [`RunQueue::put`] moves out of a full ring: the oldest
/// `LOCAL_QUEUE_CAP / 2` items of the ring followed by the item being put, in
/// FIFO order, at most [`OVERFLOW_CAP`] pointers held inline (no heap).
///
/// It is an iterator over the items (and offers [`Overflow::as_slice`]); the
/// caller appends them, in order, to the global run queue. Dropping it without
/// consuming it loses those items (the pointers are only forgotten, nothing is
/// freed).
#[must_use = "an overflow batch must be pushed onto the global run queue"]
pub(crate) struct Overflow<T> {
    buf: [NonNull<T>; OVERFLOW_CAP],
    /// Next item `next()` yields.
    start: usize,
    /// One past the last item.
    end: usize,
}

impl<T> Overflow<T> {
    fn new() -> Self {
        Overflow {
            buf: [NonNull::dangling(); OVERFLOW_CAP],
            start: 0,
            end: 0,
        }
    }

    /// The items not yet yielded, oldest first.
    pub(crate) fn as_slice(&self) -> &[NonNull<T>] {
        &self.buf[self.start..self.end]
    }
}

impl<T> Iterator for Overflow<T> {
    type Item = NonNull<T>;

    fn next(&mut self) -> Option<NonNull<T>> {
        if self.start == self.end {
            return None;
        }
        let p = self.buf[self.start];
        self.start += 1;
        Some(p)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.start;
        (n, Some(n))
    }
}

impl<T> ExactSizeIterator for Overflow<T> {}

impl<T> FusedIterator for Overflow<T> {}

impl<T> fmt::Debug for Overflow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize};
    use std::time::{Duration, Instant};

    /// A fake, never-dereferenced item pointer for id `i`.
    fn item(i: usize) -> NonNull<u64> {
        live(ptr::without_provenance_mut::<u64>((i + 1) * 8))
    }

    fn id(p: NonNull<u64>) -> usize {
        p.as_ptr().addr() / 8 - 1
    }

    fn get_id(q: &RunQueue<u64>) -> Option<(usize, bool)> {
        q.get().map(|(p, inherit)| (id(p), inherit))
    }

    fn put_ok(q: &RunQueue<u64>, i: usize, next: bool) {
        assert!(q.put(item(i), next).is_none(), "unexpected overflow at {i}");
    }

    #[test]
    fn smoke_fifo() {
        let q = RunQueue::<u64>::new();
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
        assert_eq!(get_id(&q), None);
        for i in 0..10 {
            put_ok(&q, i, false);
        }
        assert_eq!(q.len(), 10);
        assert!(!q.is_empty());
        for i in 0..10 {
            assert_eq!(get_id(&q), Some((i, false)));
        }
        assert_eq!(get_id(&q), None);
        assert!(q.is_empty());
    }

    #[test]
    fn runnext_runs_first_and_kicks_old_to_tail() {
        let q = RunQueue::<u64>::new();
        put_ok(&q, 0, false);
        put_ok(&q, 1, true);
        assert_eq!(q.len(), 2);
        assert_eq!(get_id(&q), Some((1, true)));
        assert_eq!(get_id(&q), Some((0, false)));

        // runnext only: not empty.
        put_ok(&q, 2, true);
        assert!(!q.is_empty());
        assert_eq!(q.len(), 1);

        // A second `next` put kicks the first runnext to the tail of the ring.
        put_ok(&q, 3, false);
        put_ok(&q, 4, true);
        assert_eq!(get_id(&q), Some((4, true)));
        assert_eq!(get_id(&q), Some((3, false)));
        assert_eq!(get_id(&q), Some((2, false)));
        assert_eq!(get_id(&q), None);
        assert!(q.is_empty());
    }

    #[test]
    fn overflow_moves_half_plus_one_in_order() {
        let q = RunQueue::<u64>::new();
        let mut batches = Vec::new();
        for i in 0..300 {
            if let Some(b) = q.put(item(i), false) {
                assert_eq!(b.len(), OVERFLOW_CAP);
                assert_eq!(b.as_slice().len(), OVERFLOW_CAP);
                batches.push(b.map(id).collect::<Vec<_>>());
            }
        }
        assert_eq!(batches.len(), 1);
        // The oldest half of the ring, then the item being put.
        let expect: Vec<usize> = (0..128).chain([256]).collect();
        assert_eq!(batches[0], expect);
        assert_eq!(batches[0].len(), 129);
        assert_eq!(q.len(), 171);
        let rest: Vec<usize> = std::iter::from_fn(|| get_id(&q).map(|(i, _)| i)).collect();
        let expect: Vec<usize> = (128..256).chain(257..300).collect();
        assert_eq!(rest, expect);
        assert_eq!(batches[0].len() + rest.len(), 300);
    }

    #[test]
    fn overflow_through_runnext_kick() {
        let q = RunQueue::<u64>::new();
        for i in 0..256 {
            put_ok(&q, i, false);
        }
        put_ok(&q, 1000, true); // runnext, ring still full
        // Kicks 1000 to the full ring → overflow of 0..128 + 1000.
        let b: Vec<usize> = q.put(item(1001), true).expect("overflow").map(id).collect();
        assert_eq!(b, (0..128).chain([1000]).collect::<Vec<_>>());
        assert_eq!(get_id(&q), Some((1001, true)));
        assert_eq!(get_id(&q), Some((128, false)));
        assert_eq!(q.len(), 127);
    }

    #[test]
    fn overflow_iterator_and_debug() {
        let q = RunQueue::<u64>::new();
        for i in 0..LOCAL_QUEUE_CAP {
            put_ok(&q, i, false);
        }
        let mut b = q.put(item(999), false).expect("overflow");
        assert_eq!(b.size_hint(), (OVERFLOW_CAP, Some(OVERFLOW_CAP)));
        assert_eq!(b.next().map(id), Some(0));
        assert_eq!(b.as_slice().len(), OVERFLOW_CAP - 1);
        assert_eq!(id(*b.as_slice().last().unwrap()), 999);
        assert!(format!("{b:?}").starts_with('['));
        assert_eq!(b.by_ref().count(), OVERFLOW_CAP - 1);
        assert_eq!(b.next(), None);
        assert!(format!("{q:?}").contains("RunQueue"));
    }

    #[test]
    fn steal_takes_half_rounded_up() {
        let victim = RunQueue::<u64>::new();
        let thief = RunQueue::<u64>::new();
        for i in 0..10 {
            put_ok(&victim, i, false);
        }
        // 5 taken: 0..=3 queued in the thief, 4 returned to run now.
        assert_eq!(thief.steal_from(&victim, false).map(id), Some(4));
        assert_eq!(thief.len(), 4);
        assert_eq!(victim.len(), 5);
        for i in 0..4 {
            assert_eq!(get_id(&thief), Some((i, false)));
        }
        assert!(thief.is_empty());
        // 5 left → take 3 (5..=7), then 2 → 1, then 1 → 1 (rounded up).
        assert_eq!(thief.steal_from(&victim, false).map(id), Some(7));
        assert_eq!(thief.len(), 2);
        assert_eq!(victim.len(), 2);
        assert_eq!(RunQueue::new().steal_from(&victim, false).map(id), Some(8));
        assert_eq!(RunQueue::new().steal_from(&victim, false).map(id), Some(9));
        assert_eq!(RunQueue::new().steal_from(&victim, false), None);
        assert!(victim.is_empty());
        // Stealing from yourself is refused.
        assert_eq!(thief.steal_from(&thief, true), None);
        assert_eq!(thief.len(), 2);
    }

    #[test]
    fn steal_full_ring_takes_128() {
        let victim = RunQueue::<u64>::new();
        let thief = RunQueue::<u64>::new();
        for i in 0..LOCAL_QUEUE_CAP {
            put_ok(&victim, i, false);
        }
        assert_eq!(thief.steal_from(&victim, false).map(id), Some(127));
        assert_eq!(thief.len(), 127);
        assert_eq!(victim.len(), 128);
        assert_eq!(get_id(&thief), Some((0, false)));
        assert_eq!(get_id(&victim), Some((128, false)));
    }

    #[test]
    fn steal_runnext_only_when_allowed_and_ring_empty() {
        let victim = RunQueue::<u64>::new();
        let thief = RunQueue::<u64>::new();
        put_ok(&victim, 7, true);
        assert_eq!(thief.steal_from(&victim, false), None);
        assert_eq!(victim.len(), 1);
        assert_eq!(thief.steal_from(&victim, true).map(id), Some(7));
        assert!(victim.is_empty());
        assert!(thief.is_empty());
        // With a non-empty ring, the ring is stolen and runnext stays.
        put_ok(&victim, 1, false);
        put_ok(&victim, 2, true);
        assert_eq!(thief.steal_from(&victim, true).map(id), Some(1));
        assert_eq!(get_id(&victim), Some((2, true)));
    }

    #[test]
    fn steal_clamps_to_thief_free_space() {
        let victim = RunQueue::<u64>::new();
        let thief = RunQueue::<u64>::new();
        for i in 0..LOCAL_QUEUE_CAP {
            put_ok(&victim, i, false);
        }
        for i in 0..LOCAL_QUEUE_CAP - 2 {
            put_ok(&thief, 1000 + i, false);
        }
        // 2 free slots: 2 queued + 1 returned.
        assert_eq!(thief.steal_from(&victim, false).map(id), Some(2));
        assert_eq!(thief.len(), CAP);
        assert_eq!(victim.len(), CAP - 3);
        // Full thief: can still take one to run now, queues nothing.
        assert_eq!(thief.steal_from(&victim, false).map(id), Some(3));
        assert_eq!(thief.len(), CAP);
        for i in 0..LOCAL_QUEUE_CAP - 2 {
            assert_eq!(get_id(&thief), Some((1000 + i, false)));
        }
        assert_eq!(get_id(&thief), Some((0, false)));
        assert_eq!(get_id(&thief), Some((1, false)));
        assert_eq!(get_id(&thief), None);
    }

    #[test]
    fn drain_takes_runnext_then_ring() {
        let q = RunQueue::<u64>::new();
        for i in 0..5 {
            put_ok(&q, i, false);
        }
        put_ok(&q, 99, true);
        let mut out = Vec::new();
        q.drain(|p| out.push(id(p)));
        assert_eq!(out, [99, 0, 1, 2, 3, 4]);
        assert!(q.is_empty());
        // Draining an empty queue calls nothing.
        q.drain(|_| panic!("empty"));
        // `f` may refill the queue; those items stay.
        put_ok(&q, 1, false);
        q.drain(|p| put_ok(&q, id(p) + 1, false));
        assert_eq!(get_id(&q), Some((2, false)));
        assert!(q.is_empty());
    }

    #[test]
    fn counters_wrap_around_u32() {
        let q = RunQueue::<u64>::new();
        let thief = RunQueue::<u64>::new();
        let start = u32::MAX - 100;
        q.head.store(start, Relaxed);
        q.tail.store(start, Relaxed);
        thief.head.store(start + 50, Relaxed);
        thief.tail.store(start + 50, Relaxed);
        let mut next_in = 0;
        let mut next_out = 0;
        for round in 0..50 {
            for _ in 0..33 {
                if let Some(b) = q.put(item(next_in), false) {
                    panic!("overflow in round {round}: {b:?}");
                }
                next_in += 1;
            }
            for _ in 0..30 {
                assert_eq!(get_id(&q), Some((next_out, false)));
                next_out += 1;
            }
        }
        assert!(q.tail.load(Relaxed) < start, "tail did not wrap");
        assert_eq!(q.len(), (next_in - next_out) as u32);
        // Steal across the wrap too.
        let n = q.len() as usize;
        let got = thief.steal_from(&q, false).map(id);
        let taken = n - n / 2;
        assert_eq!(got, Some(next_out + taken - 1));
        for i in 0..taken - 1 {
            assert_eq!(get_id(&thief), Some((next_out + i, false)));
        }
        for i in next_out + taken..next_in {
            assert_eq!(get_id(&q), Some((i, false)));
        }
        assert!(q.is_empty() && thief.is_empty());
    }

    /// Owner putting/getting 1,000,000 items (bursts that overflow, runnext
    /// puts), 3 stealers stealing into their own queues and from one another,
    /// an overflow "global queue". Every item must be taken exactly once.
    #[test]
    fn stress_owner_and_three_stealers() {
        const N: usize = 1_000_000;
        const STEALERS: usize = 3;
        const WORK: u32 = 64;
        // Distinct values; an item is a pointer to its value, value == index.
        let values: Vec<u64> = (0..N as u64).collect();
        let seen: Vec<AtomicU8> = (0..N).map(|_| AtomicU8::new(0)).collect();
        let queues: Vec<RunQueue<u64>> = (0..=STEALERS).map(|_| RunQueue::new()).collect();
        let global: Mutex<VecDeque<usize>> = Mutex::new(VecDeque::new());
        let taken = AtomicUsize::new(0);
        let checksum = AtomicU64::new(0);
        let duplicates = AtomicUsize::new(0);
        let overflows = AtomicUsize::new(0);
        let steals = AtomicUsize::new(0);
        let give_up = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_secs(60);

        let consume = |p: NonNull<u64>| {
            // SAFETY: every item points into `values`, which outlives the
            // scope and is never written.
            let v = unsafe { p.as_ptr().read() };
            if seen[v as usize].fetch_add(1, Relaxed) != 0 {
                duplicates.fetch_add(1, Relaxed);
            }
            checksum.fetch_add(v, Relaxed);
            taken.fetch_add(1, Relaxed);
            // "Run" the item for a moment so the others get to steal.
            for _ in 0..WORK {
                std::hint::spin_loop();
            }
        };
        let pop_global = || {
            let i = global.lock().unwrap().pop_front()?;
            Some(NonNull::from(&values[i]))
        };
        let done = || {
            taken.load(Relaxed) >= N || give_up.load(Relaxed) || {
                let late = Instant::now() > deadline;
                if late {
                    give_up.store(true, Relaxed);
                }
                late
            }
        };

        std::thread::scope(|s| {
            for me in 1..=STEALERS {
                let (queues, consume, pop_global, done, steals) =
                    (&queues, &consume, &pop_global, &done, &steals);
                s.spawn(move || {
                    let mine = &queues[me];
                    let mut victim = me;
                    let mut spins = 0u32;
                    while !done() {
                        if let Some((p, _)) = mine.get() {
                            consume(p);
                            continue;
                        }
                        // Mostly the owner, sometimes a sibling.
                        victim = (victim + 1) % queues.len();
                        let v = if victim % 2 == 0 { 0 } else { victim };
                        if let Some(p) = mine.steal_from(&queues[v], spins % 4 == 3) {
                            steals.fetch_add(1, Relaxed);
                            consume(p);
                            continue;
                        }
                        if let Some(p) = pop_global() {
                            consume(p);
                            continue;
                        }
                        spins = spins.wrapping_add(1);
                        std::thread::yield_now();
                    }
                });
            }

            // The owner.
            let owner = &queues[0];
            let push_overflow = |b: Overflow<u64>| {
                overflows.fetch_add(1, Relaxed);
                let mut g = global.lock().unwrap();
                g.extend(b.map(|p| (p.as_ptr() as usize - values.as_ptr() as usize) / 8));
            };
            for (i, value) in values.iter().enumerate() {
                // Per 4096 items: a burst of 300 puts without gets (fills the
                // ring, overflows), then one get per put plus an extra get
                // every 8th put, so the ring slowly drains while stealers work.
                let burst = i % 4096 < 300;
                let next = i % 7 == 0 || (!burst && i % 4096 > 3000 && i % 2 == 0);
                if let Some(b) = owner.put(NonNull::from(value), next) {
                    push_overflow(b);
                }
                let gets = match (burst, i % 8) {
                    (true, _) => 0,
                    (false, 0) => 2,
                    (false, _) => 1,
                };
                for _ in 0..gets {
                    if let Some((p, _)) = owner.get() {
                        consume(p);
                    }
                }
                let from_global = if i % 1024 == 0 { pop_global() } else { None };
                if let Some(p) = from_global {
                    consume(p);
                }
                if i % 256 == 0 {
                    // Two cores for four threads: let the stealers in.
                    std::thread::yield_now();
                }
            }
            while !done() {
                if let Some((p, _)) = owner.get() {
                    consume(p);
                } else if let Some(p) = pop_global() {
                    consume(p);
                } else {
                    std::thread::yield_now();
                }
            }
        });

        assert!(
            !give_up.load(Relaxed),
            "timed out: {} of {N} taken",
            taken.load(Relaxed)
        );
        assert_eq!(duplicates.load(Relaxed), 0);
        assert_eq!(taken.load(Relaxed), N);
        assert!(
            seen.iter().all(|c| c.load(Relaxed) == 1),
            "an item was lost"
        );
        assert_eq!(checksum.load(Relaxed), (N as u64) * (N as u64 - 1) / 2);
        assert!(queues.iter().all(RunQueue::is_empty));
        assert!(global.lock().unwrap().is_empty());
        eprintln!(
            "runq stress: {N} items, {} steals, {} overflows",
            steals.load(Relaxed),
            overflows.load(Relaxed)
        );
    }
}

/// Loom models (run with `RUSTFLAGS="--cfg loom" cargo test --release`), as
/// Tokio's `loom_queue.rs`. `LOCAL_QUEUE_CAP` is 4 here. Each checks that
/// every item is handed out exactly once.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    fn item(i: usize) -> NonNull<u64> {
        live(ptr::without_provenance_mut::<u64>((i + 1) * 8))
    }

    fn id(p: NonNull<u64>) -> usize {
        p.as_ptr().addr() / 8 - 1
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        // `LOOM_MAX_PREEMPTIONS` overrides; 3 keeps each model to seconds.
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(3);
        }
        b.check(f);
    }

    /// Steal once from `victim` into a fresh queue, then take everything.
    fn steal_all(victim: &RunQueue<u64>, steal_runnext: bool) -> Vec<usize> {
        let mine = RunQueue::new();
        let mut seen = Vec::new();
        if let Some(p) = mine.steal_from(victim, steal_runnext) {
            seen.push(id(p));
        }
        while let Some((p, inherit)) = mine.get() {
            assert!(!inherit, "a stolen batch never lands in runnext");
            seen.push(id(p));
        }
        seen
    }

    fn get_all(q: &RunQueue<u64>, seen: &mut Vec<usize>) {
        while let Some((p, _)) = q.get() {
            seen.push(id(p));
        }
    }

    fn check_once(mut seen: Vec<usize>, n: usize) {
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "lost or duplicated");
    }

    #[test]
    fn basic() {
        model(|| {
            let q = Arc::new(RunQueue::<u64>::new());
            let stealer = {
                let q = q.clone();
                thread::spawn(move || steal_all(&q, true))
            };
            let mut seen = Vec::new();
            for i in 0..3 {
                assert!(q.put(item(i), false).is_none());
            }
            if let Some((p, _)) = q.get() {
                seen.push(id(p));
            }
            assert!(q.put(item(3), true).is_none());
            get_all(&q, &mut seen);
            seen.extend(stealer.join().unwrap());
            assert!(q.is_empty());
            check_once(seen, 4);
        });
    }

    #[test]
    fn steal_overflow() {
        model(|| {
            let q = Arc::new(RunQueue::<u64>::new());
            let stealer = {
                let q = q.clone();
                thread::spawn(move || steal_all(&q, false))
            };
            let mut seen = Vec::new();
            let mut overflowed = 0;
            for i in 0..6 {
                if let Some(b) = q.put(item(i), false) {
                    assert_eq!(b.len(), OVERFLOW_CAP);
                    let ids: Vec<usize> = b.map(id).collect();
                    // FIFO: ascending, ending with the item being put.
                    assert!(ids.windows(2).all(|w| w[0] < w[1]));
                    assert_eq!(*ids.last().unwrap(), i);
                    seen.extend(ids);
                    overflowed += 1;
                }
            }
            assert!(overflowed <= 1);
            get_all(&q, &mut seen);
            seen.extend(stealer.join().unwrap());
            check_once(seen, 6);
        });
    }

    #[test]
    fn multi_stealer() {
        model(|| {
            let q = Arc::new(RunQueue::<u64>::new());
            for i in 0..3 {
                assert!(q.put(item(i), false).is_none());
            }
            let stealers: Vec<_> = (0..2)
                .map(|_| {
                    let q = q.clone();
                    thread::spawn(move || steal_all(&q, false))
                })
                .collect();
            let mut seen = Vec::new();
            assert!(q.put(item(3), false).is_none());
            if let Some((p, _)) = q.get() {
                seen.push(id(p));
            }
            get_all(&q, &mut seen);
            for s in stealers {
                seen.extend(s.join().unwrap());
            }
            assert!(q.is_empty());
            check_once(seen, 4);
        });
    }

    #[test]
    fn runnext_race() {
        model(|| {
            let q = Arc::new(RunQueue::<u64>::new());
            assert!(q.put(item(0), true).is_none());
            let stealer = {
                let q = q.clone();
                thread::spawn(move || steal_all(&q, true))
            };
            let mut seen = Vec::new();
            // Kicks item 0 (if still there) from runnext into the ring.
            assert!(q.put(item(1), true).is_none());
            if let Some((p, inherit)) = q.get() {
                assert!(inherit || id(p) == 0);
                seen.push(id(p));
            }
            get_all(&q, &mut seen);
            seen.extend(stealer.join().unwrap());
            check_once(seen, 2);
        });
    }

    /// `put_next_alone` (the one-P put, a plain store into an empty `runnext`) against a
    /// stealer that may take `runnext`: two puts in a row (the second finds `runnext`
    /// empty only if the stealer took the first item, else falls back to the swap, as
    /// `queue::runqput_wake` does), then a put after a take; every item runs once.
    #[test]
    fn runnext_alone_race() {
        model(|| {
            let q = Arc::new(RunQueue::<u64>::new());
            let stealer = {
                let q = q.clone();
                thread::spawn(move || steal_all(&q, true))
            };
            let put = |i| {
                if !q.put_next_alone(item(i)) {
                    assert!(q.put(item(i), true).is_none());
                }
            };
            let mut seen = Vec::new();
            put(0);
            put(1);
            if let Some((p, _)) = q.get() {
                seen.push(id(p));
            }
            put(2);
            get_all(&q, &mut seen);
            seen.extend(stealer.join().unwrap());
            check_once(seen, 3);
        });
    }

    /// Go's `runqempty` race: the queue always holds an item while the owner
    /// kicks runnext into the ring and takes the new runnext, so an observer
    /// must never see it empty.
    #[test]
    fn is_empty_snapshot() {
        model(|| {
            let q = Arc::new(RunQueue::<u64>::new());
            assert!(q.put(item(0), true).is_none());
            let observer = {
                let q = q.clone();
                thread::spawn(move || {
                    assert!(!q.is_empty());
                })
            };
            assert!(q.put(item(1), true).is_none());
            assert_eq!(q.get().map(|(p, i)| (id(p), i)), Some((1, true)));
            observer.join().unwrap();
            assert_eq!(q.get().map(|(p, i)| (id(p), i)), Some((0, false)));
            assert!(q.is_empty());
        });
    }
}

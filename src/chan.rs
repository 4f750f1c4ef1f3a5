//! Channels: Go's `hchan` (`runtime/chan.go`), for elements of any size up to 64 KiB.
//!
//! A channel is a lock, a ring buffer of `cap` slots of `elem_size` bytes, and two FIFO
//! queues of waiters (`sudog`s: a [`WaitRef`] plus a pointer to the waiter's element).
//! An unbuffered send that finds a parked receiver copies the value straight into the
//! receiver's memory; a receive that finds a parked sender on a full buffer takes the
//! head and moves the sender's value into the freed slot, as in Go.
//!
//! Invariants (Go's, plus two of ours):
//! - At least one of `sendq` and `recvq` holds no live waiter, unless the channel is
//!   unbuffered and a single select is blocked on both sides of it.
//! - For buffered channels: `qcount > 0` implies `recvq` has no live waiter;
//!   `qcount < cap` implies `sendq` has no live waiter.
//! - A sudog is live iff its wait is still open. A waker claims (park.rs) before it
//!   touches the waiter's element, and skips sudogs whose claim fails (the waiter timed
//!   out, was canceled, or a select of it fired elsewhere); such a waiter removes its own
//!   stale sudogs when it runs again.
//! - Wake-ups happen after the channel lock is released, and nothing touches the channel
//!   after that: a woken waiter may release the last reference at once.
//!
//! Differences from Go: send on a closed channel returns GMP_ECLOSED (C has no panic);
//! waiters may be foreign threads; every blocking operation takes a deadline (Go uses
//! select with a timer channel for that); the channel is reference counted, and a `drop`
//! callback disposes of elements still buffered when the last reference goes. The wait
//! queues are rings of sudogs held by value ([`WaitQ`]), where Go links sudogs taken
//! from a per-P cache (`acquireSudog`): no allocation per wait once a ring has grown,
//! and a push is a few stores into it.
//!
//! `gmp_chan_send` and `gmp_chan_recv` begin with a first step of their own
//! ([`Chan::send_fast`], [`Chan::recv_fast`]): one compare-exchange for the lock, then
//! the cases that complete with no call that returns (a word-sized element to or from a
//! parked goroutine outside a select, or through the buffer), and the unlock. Every
//! other case leaves the first step holding what it got (the lock or nothing), and the
//! C entry goes on with it in a tail call (ffi/chan.rs). So the entry saves few
//! registers, and the full path is unchanged. Go has no such split (its `chansend`
//! is one function, whose lock-free fast path is only for a failing non-blocking send):
//! Go's calls are cheaper than a C ABI entry, which saves every callee-saved register
//! it uses. Measured: a buffered message 178 -> 153 instructions, a skynet goroutine
//! 1,381 -> 1,370; the rest within 2 (bench/perop.sh).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sys::lock::{Guard, Lock};

use crate::error::{self, Code};
use crate::park::{self, WaitRef};
use crate::sched::g::{GRef, WaitReason};
use std::mem::MaybeUninit;

pub(crate) const MAX_ELEM: usize = 65536;

/// A waiter on a channel (Go's `sudog`).
pub(crate) struct Sudog {
    pub(crate) w: WaitRef,
    /// Sender: the value to send. Receiver: where to put it (may be null: discard).
    pub(crate) elem: *mut u8,
    /// For select: where the claimer records which case fired, and this case's index.
    pub(crate) fired: *const AtomicUsize,
    pub(crate) case: usize,
}

// SAFETY: the pointers refer to memory of a parked waiter, valid until its wait is
// claimed and it is woken; only the claimer dereferences them, before waking it.
unsafe impl Send for Sudog {}

impl Sudog {
    /// Records which select case fired (after a successful claim).
    fn record(&self) {
        if !self.fired.is_null() {
            // SAFETY: the select's `fired` lives on its parked stack until it is woken.
            unsafe { (*self.fired).store(self.case, Ordering::Release) };
        }
    }
}

/// A FIFO of sudogs (Go's `waitq`): a ring that grows by doubling. Not `VecDeque`: its
/// `push_back` stayed out of line and copied the sudog, built by 8-byte stores, with
/// 16-byte loads that could not be forwarded from those stores (a store-forwarding
/// stall on every blocking send and receive: 10% of the cycles of an unbuffered
/// ping-pong, perf). Here the push is inline and writes the fields in place; only
/// growing is out of line.
pub(crate) struct WaitQ {
    buf: Box<[MaybeUninit<Sudog>]>,
    /// Slot of the first sudog; `len` live ones follow it, wrapping.
    head: usize,
    len: usize,
}

impl WaitQ {
    fn new() -> WaitQ {
        WaitQ {
            buf: Box::new([]),
            head: 0,
            len: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn push_back(&mut self, sg: Sudog) {
        if self.len == self.buf.len() {
            self.grow();
        }
        // The capacity is a power of two (grow), at least 4 here.
        let i = (self.head + self.len) & (self.buf.len() - 1);
        // SAFETY: i is masked below the capacity: no bounds test on every wait.
        unsafe { self.buf.get_unchecked_mut(i) }.write(sg);
        self.len += 1;
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first sudog, left in place.
    #[inline(always)]
    pub(crate) fn front(&self) -> Option<&Sudog> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: as in `pop_front`: slot `head` holds the first live sudog.
        Some(unsafe { self.buf.get_unchecked(self.head).assume_init_ref() })
    }

    #[inline(always)]
    pub(crate) fn pop_front(&mut self) -> Option<Sudog> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        self.head = (i + 1) & (self.buf.len() - 1);
        self.len -= 1;
        // SAFETY: head is always masked below the capacity (non-zero while len > 0);
        // slot i held the first of the live sudogs; head moved past it, so it is read
        // out once.
        Some(unsafe { self.buf.get_unchecked(i).assume_init_read() })
    }

    /// Keeps the sudogs for which `keep` is true, in order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Sudog) -> bool) {
        for _ in 0..self.len {
            let Some(sg) = self.pop_front() else { break };
            if keep(&sg) {
                self.push_back(sg);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = (self.buf.len() * 2).max(4);
        let mut buf: Box<[MaybeUninit<Sudog>]> = (0..cap).map(|_| MaybeUninit::uninit()).collect();
        for (k, slot) in buf.iter_mut().enumerate().take(self.len) {
            let i = (self.head + k) & (self.buf.len() - 1);
            // SAFETY: slots head..head+len (wrapping) are live; each is moved out once
            // and the old buffer is then dropped as MaybeUninit (no drops run).
            slot.write(unsafe { self.buf[i].assume_init_read() });
        }
        self.buf = buf;
        self.head = 0;
    }
}

impl Drop for WaitQ {
    fn drop(&mut self) {
        while self.pop_front().is_some() {}
    }
}

pub(crate) struct Inner {
    qcount: usize,
    sendx: usize,
    recvx: usize,
    pub(crate) closed: bool,
    pub(crate) recvq: WaitQ,
    pub(crate) sendq: WaitQ,
}

/// How far [`Chan::recv_fast`] or [`Chan::send_fast`] got.
pub(crate) enum Fast<'a> {
    /// Done: the result.
    Done(Code),
    /// Locked, with nothing to take or give: the operation waits.
    Wait(Guard<'a, Inner>),
    /// Locked, but not a case of the first step: the full path goes on from here.
    Locked(Guard<'a, Inner>),
    /// The lock was taken: nothing done.
    Busy,
}

/// The element sizes the first steps copy with one move, without a memcpy call.
#[inline(always)]
fn word_size(n: usize) -> bool {
    matches!(n, 0 | 4 | 8 | 16)
}

/// `copy` for a [`word_size`] element.
///
/// # Safety
/// As for `copy`, and `word_size(n)`.
#[inline(always)]
unsafe fn copy_word(src: *const u8, dst: *mut u8, n: usize) {
    if src.is_null() || dst.is_null() {
        return;
    }
    // SAFETY: the caller's contract.
    unsafe {
        match n {
            0 => {}
            4 => dst
                .cast::<u32>()
                .write_unaligned(src.cast::<u32>().read_unaligned()),
            8 => dst
                .cast::<u64>()
                .write_unaligned(src.cast::<u64>().read_unaligned()),
            16 => dst
                .cast::<u128>()
                .write_unaligned(src.cast::<u128>().read_unaligned()),
            _ => std::hint::unreachable_unchecked(),
        }
    }
}

/// What [`handoff`] found at the head of a wait queue.
enum Handoff {
    /// Nobody waits.
    Empty,
    /// A goroutine waited, not in a select: its wait is claimed (OK) and the sudog gone;
    /// its element.
    Claimed(GRef, *mut u8),
    /// A thread or a select waits first, or a stale sudog was first (dropped): the
    /// full path's `dequeue` takes it from here.
    Other,
}

/// The first steps' `dequeue`: only a goroutine at the head, whose `WaitRef` owns
/// nothing (a thread's drops an `Arc` count, a call).
#[inline(always)]
fn handoff(q: &mut WaitQ) -> Handoff {
    let Some(first) = q.front() else {
        return Handoff::Empty;
    };
    let Some(g) = first.w.g() else {
        return Handoff::Other;
    };
    if !first.fired.is_null() {
        return Handoff::Other; // a select's case: the full path records which fired
    }
    // SAFETY: `front` found one.
    let sg = std::mem::ManuallyDrop::new(unsafe { q.pop_front().unwrap_unchecked() });
    if !sg.w.claim(park::OK) {
        // The wait ended otherwise (its deadline): this sudog is stale, and dropped as
        // `dequeue` drops it.
        return Handoff::Other;
    }
    Handoff::Claimed(g, sg.elem)
}

/// Unlocks a first step's channel and readies `g`, the goroutine it completed with.
#[inline(always)]
fn unlock_fast(inner: Guard<'_, Inner>, g: Option<GRef>) -> Fast<'_> {
    let raw = inner.into_raw();
    // SAFETY: `inner` held the lock; given up just above.
    if !unsafe { raw.unlock_no_wake() } {
        return Fast::Done(wake_sleeper_then_ready(raw, g));
    }
    if let Some(g) = g {
        crate::sched::queue::ready_lean(g);
    }
    Fast::Done(0)
}

/// `unlock_fast` when a thread sleeps on the lock: out of line, so that `g` is not live
/// across the futex call in the first step's frame. `extern "C"`: it cannot unwind (a
/// panic aborts), so its caller needs no landing pad and may jump to it.
#[inline(never)]
extern "C" fn wake_sleeper_then_ready(raw: &crate::sys::lock::RawLock, g: Option<GRef>) -> Code {
    raw.wake_sleeper();
    if let Some(g) = g {
        crate::sched::queue::ready(g);
    }
    0
}

pub(crate) type DropFn = unsafe extern "C" fn(elem: *mut libc::c_void, ctx: *mut libc::c_void);

pub(crate) struct Chan {
    refs: AtomicUsize,
    pub(crate) lock: Lock<Inner>,
    pub(crate) elem_size: usize,
    pub(crate) cap: usize,
    buf: *mut u8,
    drop_fn: Option<(DropFn, *mut libc::c_void)>,
    /// The timer of a timer channel (`gmp_after`, `gmp_ticker`).
    pub(crate) timer: Option<Arc<crate::sched::timers::ChanTimer>>,
}

// SAFETY: `buf` is only accessed under `lock`; the drop context is the caller's and is
// only used when the last reference goes.
unsafe impl Send for Chan {}
// SAFETY: as above.
unsafe impl Sync for Chan {}

/// Copies one element (no-op for size 0 or a null side).
///
/// # Safety
/// Both pointers, when non-null, must be valid for `n` bytes and not overlap.
#[inline]
unsafe fn copy(src: *const u8, dst: *mut u8, n: usize) {
    if n == 0 || src.is_null() || dst.is_null() {
        return;
    }
    // SAFETY: the caller's contract; the common word sizes skip the memcpy call.
    unsafe {
        match n {
            8 => dst
                .cast::<u64>()
                .write_unaligned(src.cast::<u64>().read_unaligned()),
            4 => dst
                .cast::<u32>()
                .write_unaligned(src.cast::<u32>().read_unaligned()),
            16 => dst
                .cast::<u128>()
                .write_unaligned(src.cast::<u128>().read_unaligned()),
            _ => std::ptr::copy_nonoverlapping(src, dst, n),
        }
    }
}

impl Chan {
    /// `gmp_chan_make_ex`. The new channel has one reference.
    pub(crate) fn make(
        elem_size: usize,
        cap: usize,
        drop_fn: Option<(DropFn, *mut libc::c_void)>,
        timer: Option<Arc<crate::sched::timers::ChanTimer>>,
    ) -> Result<*mut Chan, Code> {
        if elem_size > MAX_ELEM {
            return Err(error::EINVAL);
        }
        // gmp_chan_cap reports the capacity as an int64_t.
        if cap > i64::MAX as usize {
            return Err(error::EINVAL);
        }
        let bytes = elem_size.checked_mul(cap).ok_or(error::EINVAL)?;
        if bytes > isize::MAX as usize / 2 {
            return Err(error::EINVAL);
        }
        let buf = if bytes == 0 {
            std::ptr::null_mut()
        } else {
            // SAFETY: plain allocation, checked below.
            let p = unsafe { libc::malloc(bytes) } as *mut u8;
            if p.is_null() {
                return Err(error::ENOMEM);
            }
            p
        };
        let c = Box::new(Chan {
            refs: AtomicUsize::new(1),
            lock: Lock::new(
                crate::sys::lockrank::Rank::Chan,
                Inner {
                    qcount: 0,
                    sendx: 0,
                    recvx: 0,
                    closed: false,
                    recvq: WaitQ::new(),
                    sendq: WaitQ::new(),
                },
            ),
            elem_size,
            cap,
            buf,
            drop_fn,
            timer,
        });
        Ok(Box::into_raw(c))
    }

    pub(crate) fn retain(&self) {
        self.refs.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops a reference; the last one frees the channel after running `drop` on each
    /// buffered element (no lock held).
    ///
    /// # Safety
    /// `c` must be a live channel and the caller's reference is consumed.
    pub(crate) unsafe fn release(c: *mut Chan) {
        // SAFETY: the caller holds a reference, so c is alive.
        let ch = unsafe { &*c };
        match ch.refs.fetch_sub(1, Ordering::Release) {
            1 => {}
            2 => {
                // A timer channel whose pending timer holds the only other reference:
                // nobody can receive from it any more, so stop the timer now (its heap
                // sweeps it out and drops that reference), as Go 1.23 collects
                // unreferenced timers. Harmless when the timer has already finished.
                if let Some(t) = ch.timer.as_ref() {
                    t.stop();
                }
                return;
            }
            _ => return,
        }
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: the last reference: nobody else can reach the channel.
        let ch = unsafe { Box::from_raw(c) };
        let inner = ch.lock.lock();
        let (qcount, recvx) = (inner.qcount, inner.recvx);
        drop(inner);
        if let Some((f, ctx)) = ch.drop_fn {
            for i in 0..qcount {
                let slot = ch.slot((recvx + i) % ch.cap);
                // SAFETY: the user's callback on a buffered element it sent.
                unsafe { f(slot as *mut libc::c_void, ctx) };
            }
        }
        if !ch.buf.is_null() {
            // SAFETY: allocated with malloc in make.
            unsafe { libc::free(ch.buf as *mut libc::c_void) };
        }
    }

    /// The ring index after i (no division: this is the hot path of buffered channels).
    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.cap { 0 } else { i + 1 }
    }

    #[inline]
    fn slot(&self, i: usize) -> *mut u8 {
        // SAFETY: i < cap, so the offset stays inside the buffer.
        unsafe { self.buf.add(i * self.elem_size) }
    }

    pub(crate) fn locked(&self) -> Guard<'_, Inner> {
        self.lock.lock()
    }

    pub(crate) fn len(&self) -> usize {
        self.locked().qcount
    }

    /// Takes the first live waiter of `q` and claims it with `outcome`.
    /// The first waiter is inline (a parked partner's hand-off, once a send or receive
    /// on an unbuffered channel): only stale sudogs take the loop out of line.
    #[inline(always)]
    pub(crate) fn dequeue(q: &mut WaitQ, outcome: u8) -> Option<Sudog> {
        let sg = q.pop_front()?;
        if sg.w.claim(outcome) {
            sg.record();
            return Some(sg);
        }
        drop(sg);
        Self::dequeue_slow(q, outcome)
    }

    #[inline(never)]
    fn dequeue_slow(q: &mut WaitQ, outcome: u8) -> Option<Sudog> {
        while let Some(sg) = q.pop_front() {
            if sg.w.claim(outcome) {
                sg.record();
                return Some(sg);
            }
        }
        None
    }

    /// Tries to send without blocking, with the lock held. Some(code) when the send
    /// completed (0, or ECLOSED) and a waiter to wake; None when it would block.
    /// Inlined into `op` (where `send` is a constant) and select: out of line its call,
    /// prologue and result in memory were about 30 instructions of a blocking receive.
    #[inline(always)]
    pub(crate) fn try_send_locked(
        &self,
        inner: &mut Inner,
        elem: *const u8,
    ) -> Option<(Code, Option<WaitRef>)> {
        if inner.closed {
            return Some((error::ECLOSED, None));
        }
        if let Some(sg) = Self::dequeue(&mut inner.recvq, park::OK) {
            // SAFETY: the claimed receiver's slot is valid until we wake it.
            unsafe { copy(elem, sg.elem, self.elem_size) };
            return Some((0, Some(sg.w)));
        }
        if inner.qcount < self.cap {
            let dst = self.slot(inner.sendx);
            // SAFETY: the slot is inside our buffer; elem is the caller's value.
            unsafe { copy(elem, dst, self.elem_size) };
            inner.sendx = self.next(inner.sendx);
            inner.qcount += 1;
            return Some((0, None));
        }
        None
    }

    /// Tries to receive without blocking, with the lock held. See try_send_locked.
    #[inline(always)]
    pub(crate) fn try_recv_locked(
        &self,
        inner: &mut Inner,
        elem: *mut u8,
    ) -> Option<(Code, Option<WaitRef>)> {
        if inner.qcount > 0 {
            let src = self.slot(inner.recvx);
            // SAFETY: the slot holds a buffered value; elem is the caller's buffer.
            unsafe { copy(src, elem, self.elem_size) };
            // A parked sender refills the freed slot (Go's recv on a full buffer).
            let woken = Self::dequeue(&mut inner.sendq, park::OK);
            if let Some(sg) = &woken {
                // SAFETY: the claimed sender's value is valid until we wake it.
                unsafe { copy(sg.elem, src, self.elem_size) };
                inner.recvx = self.next(inner.recvx);
                inner.sendx = inner.recvx;
            } else {
                inner.recvx = self.next(inner.recvx);
                inner.qcount -= 1;
            }
            return Some((0, woken.map(|sg| sg.w)));
        }
        if let Some(sg) = Self::dequeue(&mut inner.sendq, park::OK) {
            // Unbuffered: straight from the sender.
            // SAFETY: as above.
            unsafe { copy(sg.elem, elem, self.elem_size) };
            return Some((0, Some(sg.w)));
        }
        if inner.closed {
            if !elem.is_null() && self.elem_size != 0 {
                // SAFETY: the caller's buffer of elem_size bytes.
                unsafe { std::ptr::write_bytes(elem, 0, self.elem_size) };
            }
            return Some((error::ECLOSED, None));
        }
        None
    }

    /// `gmp_chan_send[_timeout]`. `deadline`: < 0 forever; `try_only`: never block.
    #[inline(always)]
    pub(crate) fn send(&self, elem: *const u8, deadline: i64, try_only: bool) -> Code {
        self.op(true, elem as *mut u8, deadline, try_only)
    }

    /// `gmp_chan_recv[_timeout]`.
    #[inline(always)]
    pub(crate) fn recv(&self, elem: *mut u8, deadline: i64, try_only: bool) -> Code {
        self.op(false, elem, deadline, try_only)
    }

    /// `send` with no deadline, for a caller that found no sanitizer loaded
    /// (`sanitizer::on` false, which it stays): without `op`'s test of it.
    #[inline(always)]
    pub(crate) fn send_plain(&self, elem: *const u8) -> Code {
        debug_assert!(!crate::sys::sanitizer::on());
        self.op_inner(true, elem as *mut u8, -1, false)
    }

    /// `recv` with no deadline; see `send_plain`.
    #[inline(always)]
    pub(crate) fn recv_plain(&self, elem: *mut u8) -> Code {
        debug_assert!(!crate::sys::sanitizer::on());
        self.op_inner(false, elem, -1, false)
    }

    /// A send (`elem` is read) or a receive (`elem` is written; may be null): done at
    /// once if it can be, else parked on the channel's queue of that side (Go's
    /// `chansend`/`chanrecv`). Inlined into both, so `send` is a constant there.
    #[inline(always)]
    fn op(&self, send: bool, elem: *mut u8, deadline: i64, try_only: bool) -> Code {
        if crate::sys::sanitizer::on() {
            return self.op_announced(send, elem, deadline, try_only);
        }
        self.op_inner(send, elem, deadline, try_only)
    }

    /// `op` with TSan's edges (sys/sanitizer.rs): what came before this operation
    /// happens before the end of every later one on this channel, and so its partner's.
    /// Out of line: the plain path pays one branch.
    #[cold]
    #[inline(never)]
    fn op_announced(&self, send: bool, elem: *mut u8, deadline: i64, try_only: bool) -> Code {
        crate::sys::sanitizer::release(self);
        let rc = self.op_inner(send, elem, deadline, try_only);
        crate::sys::sanitizer::acquire(self);
        rc
    }

    /// `gmp_chan_recv`'s first step (module docs), with no call that returns: the
    /// receive completes here from the buffer or from a goroutine parked in a send (Go's
    /// `chanrecv` up to its `recv`), else it stops with what it holds for the caller to
    /// go on with out of line, in a tail call: [`Fast::Wait`] to park (`recv_wait`),
    /// [`Fast::Locked`] for the full path (a thread or a select waiting, a stale sudog, a
    /// closed channel, a parked sender refilling the buffer, an element that is not
    /// word-sized: `recv_locked`), or [`Fast::Busy`] when the lock was taken (the full
    /// path from its start).
    #[inline(always)]
    pub(crate) fn recv_fast(&self, elem: *mut u8) -> Fast<'_> {
        let Some(mut inner) = self.lock.try_lock() else {
            return Fast::Busy;
        };
        let size = self.elem_size;
        if !word_size(size) {
            return Fast::Locked(inner);
        }
        if inner.qcount > 0 {
            if !inner.sendq.is_empty() {
                return Fast::Locked(inner); // a parked sender refills the slot
            }
            let i = inner.recvx;
            // SAFETY: the slot holds a buffered value; elem is the caller's buffer.
            unsafe { copy_word(self.slot(i), elem, size) };
            inner.recvx = self.next(i);
            inner.qcount -= 1;
            return unlock_fast(inner, None);
        }
        match handoff(&mut inner.sendq) {
            Handoff::Claimed(g, from) => {
                // SAFETY: the claimed sender's value is valid until we wake it.
                unsafe { copy_word(from, elem, size) };
                unlock_fast(inner, Some(g))
            }
            Handoff::Empty if !inner.closed => Fast::Wait(inner),
            _ => Fast::Locked(inner),
        }
    }

    /// `gmp_chan_send`'s first step; see [`recv_fast`](Self::recv_fast). Completes to a
    /// goroutine parked in a receive or into the buffer (Go's `chansend` up to its
    /// `send`). `elem` is not null unless the element size is 0.
    #[inline(always)]
    pub(crate) fn send_fast(&self, elem: *const u8) -> Fast<'_> {
        let Some(mut inner) = self.lock.try_lock() else {
            return Fast::Busy;
        };
        let size = self.elem_size;
        if inner.closed || !word_size(size) {
            return Fast::Locked(inner);
        }
        match handoff(&mut inner.recvq) {
            Handoff::Claimed(g, to) => {
                // SAFETY: the claimed receiver's slot is valid until we wake it.
                unsafe { copy_word(elem, to, size) };
                unlock_fast(inner, Some(g))
            }
            Handoff::Empty if inner.qcount < self.cap => {
                let i = inner.sendx;
                // SAFETY: the slot is inside our buffer; elem is the caller's value.
                unsafe { copy_word(elem, self.slot(i), size) };
                inner.sendx = self.next(i);
                inner.qcount += 1;
                unlock_fast(inner, None)
            }
            Handoff::Empty => Fast::Wait(inner),
            _ => Fast::Locked(inner),
        }
    }

    #[inline(always)]
    fn op_inner(&self, send: bool, elem: *mut u8, deadline: i64, try_only: bool) -> Code {
        self.op_locked(self.locked(), send, elem, deadline, try_only)
    }

    /// `op` with the lock held: also the continuation of a first step that stopped
    /// with the lock ([`Fast::Locked`], ffi/chan.rs).
    #[inline(always)]
    pub(crate) fn op_locked(
        &self,
        mut inner: Guard<'_, Inner>,
        send: bool,
        elem: *mut u8,
        deadline: i64,
        try_only: bool,
    ) -> Code {
        let done = if send {
            self.try_send_locked(&mut inner, elem)
        } else {
            self.try_recv_locked(&mut inner, elem)
        };
        if let Some((rc, woken)) = done {
            drop(inner);
            if let Some(w) = woken {
                w.wake();
            }
            return rc;
        }
        self.wait_locked(inner, send, elem, deadline, try_only)
    }

    /// `op_locked` past the try: nothing to take or give now. Also the continuation of
    /// a first step that found nothing to take or give ([`Fast::Wait`], ffi/chan.rs).
    #[inline(always)]
    pub(crate) fn wait_locked(
        &self,
        mut inner: Guard<'_, Inner>,
        send: bool,
        elem: *mut u8,
        deadline: i64,
        try_only: bool,
    ) -> Code {
        if try_only {
            drop(inner);
            // A would-block try is a preemption point (Go's `for { select { default: } }`
            // loops rely on it): a goroutine polling a channel must let the timers and
            // goroutines it waits for run on its P.
            crate::sched::proc::preempt_check();
            return error::EAGAIN;
        }
        if deadline < 0 {
            // The common wait, inline: a goroutine without a home, no deadline. Its wait
            // is sole (park.rs): only this queue entry can end it.
            if let Some(g) = park::sole_g() {
                let seq = park::open_sole_g(g);
                let (q, reason) = if send {
                    (&mut inner.sendq, WaitReason::ChanSend)
                } else {
                    (&mut inner.recvq, WaitReason::ChanReceive)
                };
                q.push_back(Sudog {
                    w: WaitRef::for_g(g, seq, true),
                    elem,
                    fired: std::ptr::null(),
                    case: 0,
                });
                let out = park::park_sole_g(g, seq, reason, inner);
                return self.waited(out, send, elem, || WaitRef::for_g(g, seq, true));
            }
        }
        self.block(inner, send, elem, deadline)
    }

    /// `op_inner`'s wait for a thread, a goroutine with a home, or with a deadline.
    #[inline(never)]
    fn block(&self, mut inner: Guard<'_, Inner>, send: bool, elem: *mut u8, deadline: i64) -> Code {
        let w = if deadline < 0 {
            park::prepare_sole()
        } else {
            park::prepare()
        };
        let (q, reason) = if send {
            (&mut inner.sendq, WaitReason::ChanSend)
        } else {
            (&mut inner.recvq, WaitReason::ChanReceive)
        };
        q.push_back(Sudog {
            w: w.clone(),
            elem,
            fired: std::ptr::null(),
            case: 0,
        });
        let out = park::park_deadline(&w, reason, deadline, move || drop(inner));
        self.waited(out, send, elem, || w.clone())
    }

    /// The result of a send or receive that waited with outcome `out`; `w` names the wait
    /// (made only when its stale sudogs must go).
    #[inline(always)]
    fn waited(&self, out: u8, send: bool, elem: *mut u8, w: impl FnOnce() -> WaitRef) -> Code {
        match out {
            park::OK => 0,
            park::CLOSED => {
                if !send && !elem.is_null() && self.elem_size != 0 {
                    // SAFETY: the caller's buffer of elem_size bytes.
                    unsafe { std::ptr::write_bytes(elem, 0, self.elem_size) };
                }
                error::ECLOSED
            }
            other => {
                self.forget(&w());
                crate::sema::outcome_code(other)
            }
        }
    }

    /// Removes the (stale) sudogs of wait `w` from both queues.
    pub(crate) fn forget(&self, w: &WaitRef) {
        let mut inner = self.locked();
        inner.recvq.retain(|sg| !sg.w.same_wait(w));
        inner.sendq.retain(|sg| !sg.w.same_wait(w));
    }

    /// `gmp_chan_close`: wakes every waiter (receivers get a zero value and ECLOSED,
    /// senders ECLOSED). GMP_ECLOSED if already closed.
    pub(crate) fn close(&self) -> Code {
        crate::sys::sanitizer::release(self);
        let mut inner = self.locked();
        if inner.closed {
            return error::ECLOSED;
        }
        inner.closed = true;
        let mut woken = Vec::new();
        while let Some(sg) = Self::dequeue(&mut inner.recvq, park::CLOSED) {
            woken.push(sg);
        }
        while let Some(sg) = Self::dequeue(&mut inner.sendq, park::CLOSED) {
            woken.push(sg);
        }
        drop(inner);
        for sg in woken {
            sg.w.wake();
        }
        0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Sudog, WaitQ};
    use crate::park::{WaitRef, thread_waiter};
    use std::sync::Arc;

    fn sudog(seq: u64) -> Sudog {
        Sudog {
            w: WaitRef::for_thread(thread_waiter(), seq, false),
            elem: std::ptr::null_mut(),
            fired: std::ptr::null(),
            case: seq as usize,
        }
    }

    /// FIFO order across wrap-arounds and growth, retain keeps order, and every sudog
    /// is dropped exactly once (each holds one count of the thread waiter's Arc).
    #[test]
    fn waitq_fifo_grow_retain_drop() {
        let t = thread_waiter();
        let base = Arc::strong_count(&t);
        let mut q = WaitQ::new();
        let (mut next_in, mut next_out) = (0u64, 0u64);
        // Interleave pushes and pops so head wraps at each capacity (4, 8, 16, 32).
        for round in 1..=40 {
            for _ in 0..round % 7 + 1 {
                q.push_back(sudog(next_in));
                next_in += 1;
            }
            for _ in 0..round % 5 {
                match q.pop_front() {
                    Some(sg) => {
                        assert_eq!(sg.case as u64, next_out);
                        next_out += 1;
                    }
                    None => assert_eq!(next_out, next_in),
                }
            }
        }
        assert_eq!(Arc::strong_count(&t), base + (next_in - next_out) as usize);
        // Drop the odd ones; the even ones stay in order.
        q.retain(|sg| sg.case % 2 == 0);
        let kept: Vec<u64> = (next_out..next_in).filter(|i| i % 2 == 0).collect();
        assert_eq!(Arc::strong_count(&t), base + kept.len());
        for &want in &kept[..kept.len() / 2] {
            assert_eq!(q.pop_front().map(|sg| sg.case as u64), Some(want));
        }
        drop(q);
        assert_eq!(Arc::strong_count(&t), base);
    }
}

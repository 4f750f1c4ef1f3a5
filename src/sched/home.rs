//! The scheduler's half of homes (`home.rs` has the API): the `Home` itself, its run
//! queue, and the loop that runs its goroutines on the home thread (`run_one`, `pump`),
//! which the parking layer calls while a home thread waits in a blocking call and
//! `ready` feeds wherever the waker runs.
//!
//! Homes: run queues bound to a thread the runtime does not own (an engine's main
//! thread, a UI or GL thread, the Python interpreter's thread). A home's goroutines only
//! ever run on its thread, when that thread pumps (`gmp_home_run`), or while it waits in
//! any blocking gmp call (so `gmp_go(producer); gmp_chan_recv(...)` on it cannot
//! deadlock). LockOSThread is the 1:1 case; a home is N:1.
//!
//! A home has no P: its goroutines run on the home thread's own stack loop, take stacks
//! from the global pool, put timers on some P's heap, and are readied into the home's
//! queue by `ready` wherever the waker runs. Nothing here exists in Go (its closest
//! relative is the main thread's `LockOSThread` in `init`).
//!
//! Invariants: `queue` holds only RUNNABLE goroutines of this home; once `gmp_home_fd`
//! was called, the eventfd is readable iff `queue` is non-empty (both changed under the
//! queue lock); `live` counts
//! goroutines spawned and not ended. Closing sets `closed`; the home thread then cancels
//! every parked goroutine of the home at its next pump (only the home thread may: no home
//! goroutine runs concurrently with it, so none can be half-way into a park).

use crate::sys::mutex::Mutex;
use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use super::g::{self, GRef, RUNNABLE, RUNNING, Switch};
use super::wait::{HOME_WORK, ThreadWaiter};

pub(crate) struct Home {
    pub(crate) owner: libc::pthread_t,
    pub(crate) waiter: Arc<ThreadWaiter>,
    pub(crate) queue: Mutex<VecDeque<GRef>>,
    pub(crate) efd: i32,
    /// `gmp_home_fd` was called: only then does the eventfd follow the queue (two
    /// syscalls per empty -> non-empty -> empty cycle that a home run by gmp_home_run /
    /// gmp_home_wait alone never needs). Changed under the queue lock.
    pub(crate) fd_used: AtomicBool,
    pub(crate) closed: AtomicBool,
    pub(crate) swept: AtomicBool,
    pub(crate) live: AtomicI64,
    pub(crate) members: Mutex<HashSet<GRef>>,
    /// `gmp_home_close` calls still touching the home: `free` waits for them to leave,
    /// since the home thread may see `closed` before close's wake-ups are done.
    pub(crate) closers: AtomicUsize,
    /// False: blocking calls on the home thread do not run the home's goroutines (only
    /// `gmp_home_run` does): frame code that must not be re-entered
    /// (`gmp_home_set_reentrant`).
    pub(crate) reentrant: AtomicBool,
}

thread_local! {
    static HOME: Cell<*const Home> = const { Cell::new(std::ptr::null()) };
}

/// The home owned by this thread, if any.
pub(crate) fn thread_home() -> Option<&'static Home> {
    // SAFETY: the pointer is set by make() and cleared by free(), both on this thread;
    // between them the Home is alive.
    HOME.with(|h| unsafe { h.get().as_ref() })
}

/// Makes h this thread's home (`make`), or none (`free`, when h is the current one).
pub(crate) fn set_thread_home(h: *const Home, on: bool) {
    HOME.with(|c| {
        if on {
            c.set(h);
        } else if std::ptr::eq(c.get(), h) {
            c.set(std::ptr::null());
        }
    });
}

/// Whether g belongs to a closed home (it must not block any more).
pub(crate) fn canceled(g: GRef) -> bool {
    let h = g.get().home.load(Ordering::Acquire);
    // SAFETY: a home outlives its goroutines.
    !h.is_null() && unsafe { (*h).closed.load(Ordering::Acquire) }
}

pub(crate) fn is_owner(h: &Home) -> bool {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_equal(h.owner, libc::pthread_self()) != 0 }
}

impl Home {
    /// Queues a runnable goroutine of this home and wakes the home thread.
    pub(crate) fn push(&self, g: GRef) {
        let mut q = self.queue.lock();
        q.push_back(g);
        if q.len() == 1 && self.fd_used.load(Ordering::Relaxed) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes to our own eventfd; failure (counter full) is harmless.
            unsafe { libc::write(self.efd, (&one as *const u64).cast(), 8) };
        }
        // Signal through our own reference to the waiter: once the queue lock is
        // released the home thread may run g to its end and free the Home (the fuzzer
        // caught a timer's push reading `self.waiter` from a freed Home).
        let w = self.waiter.clone();
        drop(q);
        w.signal(HOME_WORK);
    }

    /// Queues a goroutine just spawned into this home, a member from before it can run.
    pub(crate) fn push_new(&self, g: GRef) {
        self.members.lock().insert(g);
        self.push(g);
    }

    pub(crate) fn pop(&self) -> Option<GRef> {
        let mut q = self.queue.lock();
        let g = q.pop_front();
        if q.is_empty() && self.fd_used.load(Ordering::Relaxed) {
            let mut v: u64 = 0;
            // SAFETY: reads 8 bytes from our own non-blocking eventfd into v.
            unsafe { libc::read(self.efd, (&mut v as *mut u64).cast(), 8) };
        }
        g
    }

    pub(crate) fn has_work(&self) -> bool {
        !self.queue.lock().is_empty()
    }

    /// Cancels every parked goroutine once after close (home thread only).
    pub(crate) fn sweep(&self) {
        if !self.closed.load(Ordering::Acquire) || self.swept.swap(true, Ordering::AcqRel) {
            return;
        }
        let members: Vec<GRef> = self.members.lock().iter().copied().collect();
        for g in members {
            super::wait::cancel_g(g);
        }
    }

    /// Runs one goroutine until it switches back.
    pub(crate) fn run_one(&self, g: GRef) {
        // SAFETY: we dequeued g from our own queue, so we own it.
        if unsafe { g.inner() }.stack.is_none() && !super::proc::start_stack(g, None) {
            self.push(g);
            return;
        }
        g.set_status(RUNNING);
        g::set_current(Some(g));
        // Home G's never switch to another G directly, so the one that comes back is g.
        let (gl, why) = super::schedule::run_until_back(g::ctx(), g);
        if gl != g {
            crate::fatal("another goroutine came back to a home's loop");
        }
        g::set_current(None);
        match why {
            // (A home goroutine has no P to lose in a syscall, so no Requeue comes; treat
            // one as a yield all the same.)
            Switch::Gosched | Switch::Requeue => {
                g.set_status(RUNNABLE);
                self.push(g);
            }
            Switch::Park => {
                super::schedule::park_commit(g);
            }
            Switch::Exit => {
                self.members.lock().remove(&g);
                super::proc::gfree(g, None);
                self.live.fetch_sub(1, Ordering::SeqCst);
            }
            Switch::Call => unreachable!(),
        }
    }
}

/// Runs every ready goroutine of h (a home thread waiting in a blocking call).
pub(crate) fn pump(h: &Home) {
    pump_until(h, || false)
}

/// Runs ready goroutines of h until none is ready or `stop()` (checked between them).
/// Nothing when h is not reentrant (`gmp_home_set_reentrant(h, 0)`).
pub(crate) fn pump_until(h: &Home, mut stop: impl FnMut() -> bool) {
    if g::current().is_some() || !h.reentrant.load(Ordering::Acquire) {
        return;
    }
    h.sweep();
    while !stop() {
        let Some(g) = h.pop() else { break };
        h.run_one(g);
        h.sweep();
    }
}

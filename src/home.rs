//! The home API (`gmp_home_*`): make, run, wait, wake, close, free. The `Home`, its
//! queue and the loop that runs its goroutines are the scheduler's (`sched/home.rs`).
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
//! Invariants: `queue` holds only RUNNABLE goroutines of this home; the eventfd is
//! readable iff `queue` is non-empty (both changed under the queue lock); `live` counts
//! goroutines spawned and not ended. Closing sets `closed`; the home thread then cancels
//! every parked goroutine of the home at its next pump (only the home thread may: no home
//! goroutine runs concurrently with it, so none can be half-way into a park).

use crate::sys::mutex::{Mutex, Rank};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use crate::error::{self, Code};
use crate::park::{HOME_WAKE, HOME_WORK};
use crate::sched::g;
pub(crate) use crate::sched::home::Home;
use crate::sched::home::{is_owner, set_thread_home, thread_home};

/// `gmp_home_make`: a home bound to the calling thread (one per thread).
pub(crate) fn make() -> Result<*mut Home, Code> {
    crate::start::ensure_started()?;
    if thread_home().is_some() || crate::sched::m::current().is_some() {
        return Err(error::EALREADY);
    }
    // SAFETY: eventfd with valid flags; the result is checked.
    let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(-std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::ENOMEM));
    }
    crate::stack::ensure_altstack();
    let h = Box::into_raw(Box::new(Home {
        // SAFETY: pthread_self has no preconditions.
        owner: unsafe { libc::pthread_self() },
        waiter: crate::park::thread_waiter(),
        queue: Mutex::new(Rank::HomeQueue, VecDeque::new()),
        efd,
        fd_used: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        swept: AtomicBool::new(false),
        live: AtomicI64::new(0),
        members: Mutex::new(Rank::HomeMembers, HashSet::new()),
        closers: AtomicUsize::new(0),
        reentrant: AtomicBool::new(true),
    }));
    set_thread_home(h, true);
    Ok(h)
}

impl Home {
    /// `gmp_go_home`: the new goroutine's id.
    pub(crate) fn spawn(
        &self,
        entry: g::Entry,
        sp: crate::sched::proc::Spawn<'_>,
    ) -> Result<u64, Code> {
        if self.closed.load(Ordering::Acquire) {
            return Err(error::ECLOSED);
        }
        self.live.fetch_add(1, Ordering::SeqCst);
        let sp = crate::sched::proc::Spawn {
            home: Some(self),
            ..sp
        };
        match crate::sched::proc::newproc(entry, sp) {
            Ok(id) => Ok(id),
            Err(e) => {
                self.live.fetch_sub(1, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// `gmp_home_set_reentrant`: returns the previous setting.
    pub(crate) fn set_reentrant(&self, on: bool) -> bool {
        self.reentrant.swap(on, Ordering::AcqRel)
    }

    /// `gmp_home_run`: runs ready goroutines until none is ready or the budget passed.
    pub(crate) fn run(&self, budget_ns: i64) -> Code {
        if !is_owner(self) || g::current().is_some() {
            return error::EINVAL;
        }
        let deadline = crate::sys::clock::deadline_after(budget_ns.max(0));
        let mut ran: i64 = 0;
        loop {
            self.sweep();
            let Some(g) = self.pop() else { break };
            self.run_one(g);
            ran += 1;
            if budget_ns >= 0 && crate::sys::clock::now() >= deadline {
                break;
            }
        }
        self.sweep();
        if ran == 0 && self.closed.load(Ordering::Acquire) && self.live.load(Ordering::SeqCst) == 0
        {
            return error::ECLOSED;
        }
        ran.min(i32::MAX as i64) as i32
    }

    /// `gmp_home_wait`.
    pub(crate) fn wait(&self, timeout_ns: i64) -> Code {
        if !is_owner(self) || g::current().is_some() {
            return error::EINVAL;
        }
        let deadline = crate::sys::clock::deadline_after(timeout_ns);
        loop {
            if self.has_work()
                || (self.closed.load(Ordering::Acquire) && !self.swept.load(Ordering::Acquire))
            {
                return 0;
            }
            if timeout_ns == 0 {
                return error::ETIMEDOUT;
            }
            let got = self.waiter.sleep(HOME_WORK | HOME_WAKE, deadline);
            if got & HOME_WAKE != 0 {
                return error::EINTR;
            }
            if got == 0 {
                return if self.has_work() { 0 } else { error::ETIMEDOUT };
            }
        }
    }

    /// `gmp_home_wake`: async-signal-safe.
    pub(crate) fn wake(&self) {
        self.waiter.signal(HOME_WAKE);
    }

    pub(crate) fn fd(&self) -> i32 {
        let q = self.queue.lock();
        if !self.fd_used.swap(true, Ordering::Relaxed) && !q.is_empty() {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes to our own eventfd: readable, as the queue is not empty.
            unsafe { libc::write(self.efd, (&one as *const u64).cast(), 8) };
        }
        self.efd
    }

    /// `gmp_home_close`.
    ///
    /// The home thread may see `closed`, finish and free the home while this call still
    /// wakes it (the eventfd write and the signal come after the store, or a wake-up
    /// could be lost). So the call registers in `closers` first and `free` waits until
    /// it has left: after its final decrement this function touches nothing.
    pub(crate) fn close(&self) -> Code {
        self.closers.fetch_add(1, Ordering::SeqCst);
        let rc = if self.closed.swap(true, Ordering::AcqRel) {
            error::ECLOSED
        } else {
            // The home thread cancels the parked goroutines when it next pumps.
            let one: u64 = 1;
            // SAFETY: writes 8 bytes to our own eventfd (free has not closed it: it
            // waits for `closers`), so an fd-driven loop wakes too.
            unsafe { libc::write(self.efd, (&one as *const u64).cast(), 8) };
            self.waiter.signal(HOME_WORK);
            0
        };
        // The last touch of the home: free may run as soon as this is seen.
        self.closers.fetch_sub(1, Ordering::Release);
        rc
    }

    /// `gmp_home_free`: home thread, after run returned GMP_ECLOSED.
    ///
    /// # Safety
    /// `h` must come from `make` and not be used again after success.
    pub(crate) unsafe fn free(h: *mut Home) -> Code {
        // SAFETY: the caller passes a live home.
        let home = unsafe { &*h };
        if !is_owner(home) {
            return error::EINVAL;
        }
        if !home.closed.load(Ordering::Acquire) || home.live.load(Ordering::SeqCst) != 0 {
            return error::EAGAIN;
        }
        // A close that let us see `closed` may still be waking us: wait until it left
        // (two syscalls' time).
        while home.closers.load(Ordering::Acquire) != 0 {
            std::thread::yield_now();
        }
        set_thread_home(h, false);
        // SAFETY: closing our own eventfd; then the box is dropped once.
        unsafe {
            libc::close(home.efd);
            drop(Box::from_raw(h));
        }
        0
    }
}

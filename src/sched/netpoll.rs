//! The poller core (Go's `netpoll.go` + `netpoll_epoll.go` poller half): the epoll
//! instance, the poll descriptors with their waiter lists, and [`poll`], which an idle M
//! blocks in from `findrunnable` with the next timer as its time-out, and which spinning
//! M's and sysmon call without blocking. Waiters are `WaitRef`s; an event claims and
//! wakes them (`ready` for a goroutine), so this sits inside the scheduler's layer and
//! never calls up. The fd calls that park on these descriptors (read, write, accept,
//! connect, close...) are `netpoll.rs`, above the parking layer.
//!
//! Differences from Go, and why: see `netpoll.rs` (waiter lists, one-shot re-armed
//! registrations with generations, readiness latches).
//!
//! Lock order: a descriptor's lock is taken with no other gmp lock held, and `ready`
//! (which may take the scheduler lock) runs after it is released.

use crate::sys::mutex::{Mutex, Rank, RwLock};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use polling::{Event, PollMode};

use super::wait::WaitRef;
use crate::error::{self, Code};
use crate::sched::g::GRef;

static POLLER: OnceLock<polling::Poller> = OnceLock::new();
static POLLER_WARNED: AtomicBool = AtomicBool::new(false);

/// The poller, created on first use; a creation that fails (EMFILE) is retried on the
/// next use rather than remembered.
pub(crate) fn poller() -> Option<&'static polling::Poller> {
    if let Some(p) = POLLER.get() {
        return Some(p);
    }
    match polling::Poller::new() {
        Ok(p) => {
            let _ = POLLER.set(p);
            POLLER.get()
        }
        Err(e) => {
            if !POLLER_WARNED.swap(true, Ordering::Relaxed) {
                eprintln!("gmp: cannot create the poller: {e} (retrying on next use)");
            }
            None
        }
    }
}

/// Goroutines and threads parked on fds now (Go's `netpollWaiters`).
pub(crate) static WAITERS: AtomicI64 = AtomicI64::new(0);
static GEN: AtomicU64 = AtomicU64::new(1);

pub(crate) const READ: usize = 0;
pub(crate) const WRITE: usize = 1;

/// What the poller knows of one fd. Invariants: `queues[d]` holds the open waits on
/// direction d (plus stale ones their owners will remove); the registration is armed
/// for d while `queues[d]` is non-empty (re-armed by every parking waiter).
pub(crate) struct PollDesc {
    pub(crate) fd: i32,
    /// A socket: its calls pass MSG_DONTWAIT, so they never block even if the number
    /// was closed with close(2) and reused by a blocking socket.
    pub(crate) socket: bool,
    /// Made by gmp_socket/gmp_accept: registered once, edge-triggered, as Go registers
    /// its fds (no epoll_ctl per wait). Others (adopted or found by fstat) use one-shot
    /// registrations re-armed by each waiter, which survives close(2) and reuse.
    /// Cleared when the number turns out to be reused by another file (see `arm`).
    pub(crate) owned: AtomicBool,
    /// The file's inode (fstat) when an owned descriptor was made: a parking waiter
    /// compares it, since an edge-triggered registration dies silently with close(2).
    pub(crate) ino: (u64, u64),
    pub(crate) inner: Mutex<PdInner>,
    /// Calls inside the descriptor now (Go's fdMutex reference count).
    pub(crate) inflight: AtomicU32,
    pub(crate) closing: AtomicBool,
}

pub(crate) struct PdInner {
    pub(crate) generation: u64,
    pub(crate) registered: bool,
    pub(crate) latch: [bool; 2],
    pub(crate) queues: [VecDeque<WaitRef>; 2],
}

static TABLE: RwLock<Option<HashMap<i32, Arc<PollDesc>>>> = RwLock::new(Rank::PollTable, None);

pub(crate) fn lookup(fd: i32) -> Option<Arc<PollDesc>> {
    TABLE.read().as_ref().and_then(|t| t.get(&fd).cloned())
}

pub(crate) fn insert(fd: i32, socket: bool) -> Arc<PollDesc> {
    insert_as(fd, socket, false)
}

pub(crate) fn insert_as(fd: i32, socket: bool, owned: bool) -> Arc<PollDesc> {
    let ino = if owned { file_id(fd) } else { (0, 0) };
    let mut t = TABLE.write();
    t.get_or_insert_with(HashMap::new)
        .entry(fd)
        .or_insert_with(|| {
            Arc::new(PollDesc {
                fd,
                socket,
                owned: AtomicBool::new(owned),
                ino,
                inner: Mutex::new(
                    Rank::PollDesc,
                    PdInner {
                        generation: 0,
                        registered: false,
                        latch: [false; 2],
                        queues: [VecDeque::new(), VecDeque::new()],
                    },
                ),
                inflight: AtomicU32::new(0),
                closing: AtomicBool::new(false),
            })
        })
        .clone()
}

/// (device, inode) of the file behind fd; (0, 0) if fstat fails.
pub(crate) fn file_id(fd: i32) -> (u64, u64) {
    // SAFETY: fstat fills a stat buffer on our stack.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return (0, 0);
    }
    (st.st_dev, st.st_ino)
}

pub(crate) fn remove(fd: i32) {
    let mut t = TABLE.write();
    if let Some(t) = t.as_mut() {
        t.remove(&fd);
    }
}

/// Arms the one-shot registration for the directions that have waiters (pd lock held).
pub(crate) fn arm(pd: &PollDesc, inner: &mut PdInner) -> Result<(), Code> {
    let Some(p) = poller() else {
        return Err(error::ENOMEM);
    };
    if pd.owned.load(Ordering::Relaxed) {
        if inner.registered {
            // Edge-triggered for both directions since registration, unless the number
            // was closed with close(2) (the kernel dropped the registration with the
            // file) and reused by a file made outside the library: one fstat per park
            // tells. Such a number is then treated as any foreign fd: one-shot
            // registrations, re-armed by each waiter.
            if file_id(pd.fd) == pd.ino {
                return Ok(());
            }
            pd.owned.store(false, Ordering::Relaxed);
            inner.registered = false;
            return arm(pd, inner);
        }
        inner.generation = GEN.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
        let ev = Event::all(key(pd.fd, inner.generation));
        // SAFETY: registers our own open fd; deleted on gmp_close_fd.
        return match unsafe { p.add_with_mode(pd.fd, ev, PollMode::Edge) } {
            Ok(()) => {
                inner.registered = true;
                Ok(())
            }
            Err(e) => Err(-e.raw_os_error().unwrap_or(libc::EIO)),
        };
    }
    let want_r = !inner.queues[READ].is_empty();
    let want_w = !inner.queues[WRITE].is_empty();
    if inner.registered {
        let ev = Event::new(key(pd.fd, inner.generation), want_r, want_w);
        // SAFETY: the fd is the caller's, open for the duration of its call.
        let bfd = unsafe { BorrowedFd::borrow_raw(pd.fd) };
        match p.modify_with_mode(bfd, ev, PollMode::Oneshot) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                // The number was closed and reused: register the new file afresh.
                inner.registered = false;
            }
            Err(e) => return Err(-e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }
    inner.generation = GEN.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
    let ev = Event::new(key(pd.fd, inner.generation), want_r, want_w);
    // SAFETY: registers the caller's open fd; it is deleted on gmp_close_fd (or
    // dropped by the kernel when the file is closed).
    match unsafe { p.add_with_mode(pd.fd, ev, PollMode::Oneshot) } {
        Ok(()) => {
            inner.registered = true;
            Ok(())
        }
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            inner.registered = true;
            // SAFETY: as above.
            let bfd = unsafe { BorrowedFd::borrow_raw(pd.fd) };
            p.modify_with_mode(bfd, ev, PollMode::Oneshot)
                .map_err(|e| -e.raw_os_error().unwrap_or(libc::EIO))
        }
        Err(e) => Err(-e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

fn key(fd: i32, generation: u64) -> usize {
    ((generation << 32) | fd as u32 as u64) as usize
}

/// Whether any goroutine waits on an fd.
pub(crate) fn has_waiters() -> bool {
    WAITERS.load(Ordering::SeqCst) > 0
}

thread_local! {
    static EVENTS: RefCell<Option<polling::Events>> = const { RefCell::new(None) };
}

/// Waits up to `delay_ns` (< 0: until woken; 0: just look) for fd events and wakes their
/// waiters (they go to the caller's P, or the global queue). Returns nothing: waking
/// through `WaitRef::wake` already queued them (Go returns a gList; `ready` here works
/// from any M, with or without a P).
pub(crate) fn poll(delay_ns: i64) -> Vec<GRef> {
    poll_until(&|| delay_ns)
}

/// [`poll`] whose time-out is computed by `delay()` once this thread is the only one in
/// the poller: a timer added meanwhile, whose wake-up a non-blocking poll may have
/// swallowed (polling's `wait` consumes `notify` even with a zero time-out; Go only
/// consumes `netpollBreak` in a blocking poll), is then already counted in.
pub(crate) fn poll_until(delay: &dyn Fn() -> i64) -> Vec<GRef> {
    let delay_ns = delay();
    let Some(p) = poller() else {
        if delay_ns > 0 {
            std::thread::sleep(Duration::from_nanos(delay_ns as u64));
        }
        return Vec::new();
    };
    let timeout = if delay_ns < 0 {
        None
    } else {
        Some(Duration::from_nanos(delay_ns as u64))
    };
    // `Poller::wait` returns at once, empty, while another thread is inside it. A quick
    // non-blocking poll (a spinning M, sysmon) must therefore never make the M that wants
    // to block in the poller return at once and go to sleep with nobody left polling:
    // non-blocking polls only try the gate, the blocking poll waits for it.
    if delay_ns == 0 {
        if POLLING.swap(true, Ordering::Acquire) {
            return Vec::new();
        }
    } else {
        while POLLING.swap(true, Ordering::Acquire) {
            std::thread::yield_now();
        }
    }
    let _gate = Gate;
    let timeout = if delay_ns == 0 {
        timeout
    } else {
        let d = delay();
        if d < 0 {
            None
        } else {
            Some(Duration::from_nanos(d as u64))
        }
    };
    let mut woken: Vec<WaitRef> = Vec::new();
    EVENTS.with(|cell| {
        let mut slot = cell.borrow_mut();
        let events = slot.get_or_insert_with(polling::Events::new);
        events.clear();
        if p.wait(events, timeout).is_err() {
            return;
        }
        for ev in events.iter() {
            let fd = (ev.key as u64 & 0xffff_ffff) as u32 as i32;
            let generation = (ev.key as u64) >> 32;
            let Some(pd) = lookup(fd) else { continue };
            let mut inner = pd.inner.lock();
            if inner.generation != generation {
                continue; // an old registration of a reused number
            }
            for (d, ready) in [(READ, ev.readable), (WRITE, ev.writable)] {
                if ready {
                    let before = woken.len();
                    while let Some(w) = inner.queues[d].pop_front() {
                        if w.claim(super::wait::OK) {
                            woken.push(w);
                        }
                    }
                    // Latch the edge only if nobody took it: a woken waiter retries its
                    // call anyway, and a stale latch costs the next call an EAGAIN.
                    if woken.len() == before {
                        inner.latch[d] = true;
                    }
                }
            }
            // A one-shot fired for both directions: re-arm for the ones still waited.
            if !pd.owned.load(Ordering::Relaxed)
                && (!inner.queues[READ].is_empty() || !inner.queues[WRITE].is_empty())
            {
                let _ = arm(&pd, &mut inner);
            }
        }
    });
    for w in woken {
        w.wake();
    }
    Vec::new()
}

/// Held by the one thread inside `Poller::wait` (see `poll`).
static POLLING: AtomicBool = AtomicBool::new(false);

struct Gate;

impl Drop for Gate {
    fn drop(&mut self) {
        POLLING.store(false, Ordering::Release);
    }
}

/// Interrupts a blocked [`poll`] (or makes the next one return at once).
pub(crate) fn wake() {
    if let Some(p) = poller() {
        let _ = p.notify();
    }
}

//! The runtime's life around the scheduler: the fork handler (a forked child gets
//! `GMP_ESHUTDOWN`), `gmp_shutdown`, the stats snapshot, and what the overflow handler
//! asks about the running goroutine.

use super::g::{self};
use super::m::{self};
use super::proc::{created_count, goroutine_count};
use super::{SCHED, ST_FORKED, ST_RUNNING, ST_SHUTDOWN};
use crate::error::{self, Code};
use std::sync::atomic::{AtomicBool, Ordering};

/// The running goroutine's stack (slot low address, usable size), or (0, 0): for the
/// overflow handler, in a signal handler (a TLS read and plain reads of our own G).
pub(crate) fn current_stack_bounds() -> (usize, usize) {
    match g::current() {
        // SAFETY: the running G is ours; its stack does not change while it runs.
        Some(g) => unsafe { g.inner() }
            .stack
            .as_ref()
            .map_or((0, 0), |s| s.bounds()),
        None => (0, 0),
    }
}

/// Writes `goroutine N "name"` of the running goroutine for the overflow message.
/// Runs in a signal handler: no allocation, no locks (try_lock on the name only).
pub(crate) fn describe_current(buf: &mut [u8]) -> usize {
    let mut w = crate::util::BufWriter::new(buf);
    match g::current() {
        Some(g) => {
            w.put(b"goroutine ");
            w.put_u64(g.id());
            if let Some(name) = g.get().name.try_lock() {
                if let Some(n) = name.as_ref() {
                    w.put(b" \"");
                    w.put(n.to_bytes());
                    w.put(b"\"");
                }
            }
        }
        None => w.put(b"goroutine ?"),
    }
    w.len()
}

pub(super) static FORKED: AtomicBool = AtomicBool::new(false);

pub(super) extern "C" fn atfork_child() {
    FORKED.store(true, Ordering::Relaxed);
    // A running runtime reads as ST_FORKED, so `ensure_started` refuses the child with
    // its one state load. The child has one thread: nothing races this. A runtime not
    // started yet stays ST_UNINIT (the child may start its own, as before); one shut
    // down stays ST_SHUTDOWN.
    if SCHED.state.load(Ordering::Relaxed) == ST_RUNNING {
        SCHED.state.store(ST_FORKED, Ordering::Relaxed);
    }
}

/// A forked child has none of the parent's threads: every call there returns
/// GMP_ESHUTDOWN (API.md leaves the choice to the implementation; documented in gmp.h).
/// `pthread_atfork` marks the child, so the check is one load (`ensure_started`'s state
/// load, which reads ST_FORKED in the child of a running runtime).
pub(crate) fn install_fork_handler() {
    // SAFETY: registers a handler that only stores to an atomic.
    unsafe { libc::pthread_atfork(None, None, Some(atfork_child)) };
}

#[inline]
pub(crate) fn is_forked_child() -> bool {
    FORKED.load(Ordering::Relaxed)
}

/// gmp_shutdown is waiting for the goroutines to end: spawns from outside the runtime
/// (foreign threads, homes pumped by them) are refused with GMP_ESHUTDOWN; goroutines
/// may still spawn, since their work is what shutdown waits for.
pub(super) static DRAINING: AtomicBool = AtomicBool::new(false);

/// `gmp_shutdown`: wait for every goroutine to end, then stop the M's.
pub(crate) fn shutdown(timeout_ns: i64) -> Code {
    match SCHED.state.load(Ordering::Acquire) {
        ST_RUNNING => {}
        super::ST_UNINIT => {
            // Never started: nothing to stop, but later calls are refused all the same.
            SCHED.state.store(ST_SHUTDOWN, Ordering::Release);
            return 0;
        }
        _ => return error::ESHUTDOWN,
    }
    if g::current().is_some() || m::current().is_some() {
        return error::EALREADY;
    }
    let deadline = crate::sys::clock::deadline_after(timeout_ns);
    DRAINING.store(true, Ordering::SeqCst);
    while goroutine_count() > 0 {
        if deadline >= 0 && crate::sys::clock::now() >= deadline {
            // Nothing stopped: the runtime goes on as before.
            DRAINING.store(false, Ordering::SeqCst);
            return error::ETIMEDOUT;
        }
        if let Some(h) = super::home::thread_home() {
            super::home::pump(h);
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    {
        let _l = SCHED.locked();
        SCHED.state.store(ST_SHUTDOWN, Ordering::Release);
    }
    // Wake every M until it has exited: idle ones see the state and exit; the poller is
    // interrupted. One round of wake-ups is not enough: the poller's notification is
    // taken by the M blocked in it then, and an M that passed findrunnable's state
    // check just before the store can block in the poller right after, until its next
    // timer (an hour in tests/debug/shutdown_leaks.c, which hung in 3% of its runs).
    let wake_all = || {
        for mm in SCHED.allm.lock().iter() {
            mm.get().wakeup();
        }
        super::netpoll::wake();
        super::sysmon::wake_sysmon();
    };
    wake_all();
    let threads: Vec<_> = std::mem::take(&mut *SCHED.threads.lock());
    // (pthread ids, not std::thread::current(): that would allocate this thread a
    // handle that lives until it exits, a leak in valgrind's eyes.)
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    for t in threads {
        use std::os::unix::thread::JoinHandleExt;
        if t.as_pthread_t() != me {
            while !t.is_finished() {
                std::thread::sleep(std::time::Duration::from_millis(1));
                wake_all();
            }
            let _ = t.join();
        }
    }
    // Foreign threads still blocked in a call return GMP_ESHUTDOWN: nothing else
    // could end their waits now.
    super::wait::shutdown_thread_waits();
    // Free the pending timers (and the timer channels only they referenced) and the
    // stack caches; G's and P's are small and stay reachable (a late stale pointer to
    // them must stay valid).
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            p.timers.clear();
        }
    }
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            // SAFETY: every M has exited, so nobody holds any P.
            unsafe { p.local() }.stacks.flush();
        }
    }
    crate::stack::release_all();
    0
}

/// Snapshot for `gmp_read_stats`.
pub(crate) struct Snapshot {
    pub(crate) maxprocs: i32,
    pub(crate) idle_procs: i32,
    pub(crate) threads: i32,
    pub(crate) spinning: i32,
    pub(crate) idle_threads: i32,
    pub(crate) goroutines: i64,
    pub(crate) global_runqueue: i64,
    pub(crate) created: u64,
    pub(crate) context_switches: u64,
    pub(crate) steals: u64,
    pub(crate) syscall_handoffs: u64,
    pub(crate) preempt_requests: u64,
}

pub(crate) fn snapshot() -> Snapshot {
    let mut cs = 0;
    let mut st = 0;
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            cs += p.context_switches.load(Ordering::Relaxed);
            st += p.steals.load(Ordering::Relaxed);
        }
    }
    Snapshot {
        maxprocs: SCHED.gomaxprocs.load(Ordering::Relaxed),
        idle_procs: SCHED.npidle.load(Ordering::Relaxed),
        threads: SCHED.mcount.load(Ordering::Relaxed)
            + SCHED.main_running.load(Ordering::Relaxed) as i32,
        spinning: SCHED.nmspinning.load(Ordering::Relaxed),
        idle_threads: SCHED.nmidle.load(Ordering::Relaxed),
        goroutines: goroutine_count(),
        global_runqueue: SCHED.runqsize.load(Ordering::Relaxed) as i64,
        created: created_count(),
        context_switches: cs,
        steals: st,
        syscall_handoffs: super::syscall::SYSCALL_HANDOFFS.load(Ordering::Relaxed),
        preempt_requests: super::sysmon::PREEMPT_REQUESTS.load(Ordering::Relaxed),
    }
}

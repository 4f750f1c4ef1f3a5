//! The execution trace's recording half: the events the scheduler emits, buffered per P
//! by the P's holder without locks (a Vec in the P's local state); only events from
//! contexts without a P take a lock. With tracing off, each hook is one load and a
//! branch. Turning it on and off, and writing the file, is `diag/tracefile.rs`.

use crate::sys::mutex::{Mutex, Rank};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::SCHED;
use super::g::GRef;
use super::p::P;

pub(crate) static ON: AtomicBool = AtomicBool::new(false);
static EPOCH: AtomicU64 = AtomicU64::new(0);
static START: AtomicU64 = AtomicU64::new(0);
/// Events flushed from P's, and events from contexts without a P.
static GLOBAL: Mutex<Vec<Ev>> = Mutex::new(Rank::TraceBuf, Vec::new());

#[derive(Clone)]
pub(crate) enum Ev {
    /// A goroutine ran on a P from ts for dur.
    Run {
        p: u32,
        gid: u64,
        name: Option<String>,
        ts: i64,
        dur: i64,
    },
    /// Instant on a P track.
    Instant {
        p: u32,
        what: &'static str,
        gid: u64,
        ts: i64,
    },
    /// A syscall section of an M.
    Syscall { m: i64, gid: u64, ts: i64, dur: i64 },
    /// Flow start (made ready) / end (started running).
    Flow {
        tid: i64,
        id: u64,
        ts: i64,
        start: bool,
    },
}

/// Whether tracing is on: the one branch on the hot path.
#[inline]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

pub(crate) fn rel(ts: i64) -> i64 {
    ts - START.load(Ordering::Relaxed) as i64
}

/// Records an event from the holder of p (no lock), or from elsewhere (a lock).
pub(crate) fn emit(p: Option<&P>, ev: Ev) {
    match p {
        Some(p) => {
            // SAFETY: callers pass the P their M holds.
            let local = unsafe { p.local() };
            local.trace.push(ev);
            if local.trace.len() >= 4096 || local.trace_epoch != EPOCH.load(Ordering::Relaxed) {
                local.trace_epoch = EPOCH.load(Ordering::Relaxed);
                let mut g = GLOBAL.lock();
                g.append(&mut local.trace);
            }
        }
        None => GLOBAL.lock().push(ev),
    }
}

/// A flow id naming one wake-up of g (its id and wait sequence).
pub(crate) fn flow_id(g: GRef) -> u64 {
    g.id() << 24 | ((g.get().wait.load(Ordering::Relaxed) >> 8) & 0xff_ffff)
}

pub(crate) fn now() -> i64 {
    crate::sys::clock::now()
}

/// Starts recording (`gmp_trace_start`, after the file was created): a new epoch, so
/// every P's buffer starts afresh.
pub(crate) fn begin() {
    GLOBAL.lock().clear();
    START.store(crate::sys::clock::now() as u64, Ordering::Relaxed);
    EPOCH.fetch_add(1, Ordering::Relaxed);
    ON.store(true, Ordering::Release);
}

/// Stops recording and collects every P's buffer: our own P's at once, the others'
/// at their holders' next event (asked by a new epoch; waited for up to 100 ms), idle
/// P's under the scheduler lock.
pub(crate) fn end() -> Vec<Ev> {
    ON.store(false, Ordering::Release);
    // Our own P, if we hold one (a goroutine stopping the trace): we are its holder.
    if let Some(p) = super::m::current().and_then(|m| m.get().p()) {
        // SAFETY: this M holds p.
        let local = unsafe { p.local() };
        GLOBAL.lock().append(&mut local.trace);
    }
    // Ask every other P's holder to flush at its next event; idle P's we flush ourselves
    // under the scheduler lock (no M holds them then).
    EPOCH.fetch_add(1, Ordering::Relaxed);
    let deadline = crate::sys::clock::now() + 100_000_000;
    loop {
        let mut pending = false;
        {
            let _l = SCHED.locked();
            for i in 0..SCHED.nallp.load(Ordering::Acquire) {
                let Some(p) = SCHED.p(i) else { continue };
                if p.status.load(Ordering::Acquire) == super::p::RUNNING {
                    let mine = super::m::current()
                        .and_then(|m| m.get().p())
                        .is_some_and(|q| std::ptr::eq(q, p));
                    if !mine {
                        pending = true;
                    }
                    continue;
                }
                // SAFETY: an idle or dead P is owned by the scheduler lock we hold.
                let local = unsafe { p.local() };
                GLOBAL.lock().append(&mut local.trace);
            }
        }
        if !pending || crate::sys::clock::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::mem::take(&mut *GLOBAL.lock())
}

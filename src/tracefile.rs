//! The execution trace (`GMP_TRACE=path.json`, `gmp_trace_start`/`gmp_trace_stop`), in
//! the Chrome trace event format that Perfetto and chrome://tracing open.
//!
//! One track per P (a slice per goroutine run, named by the goroutine's name or id;
//! instants for creations and steals) and one per M (its syscall sections), and flow
//! arrows from the place a goroutine was made ready to where it next runs. Go's own
//! tracer (`trace.go`) is far richer; this keeps its structure: events are buffered per
//! P by the P's holder without locks (a Vec in the P's local state), and only events
//! from contexts without a P take a lock. With tracing off, each hook is one load and a
//! branch.

use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::sched::SCHED;
use crate::sched::g::GRef;
use crate::sched::p::P;

pub(crate) static ON: AtomicBool = AtomicBool::new(false);
static EPOCH: AtomicU64 = AtomicU64::new(0);
static START: AtomicU64 = AtomicU64::new(0);
static PATH: Mutex<Option<String>> = Mutex::new(None);
/// Events flushed from P's, and events from contexts without a P.
static GLOBAL: Mutex<Vec<Ev>> = Mutex::new(Vec::new());

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

fn rel(ts: i64) -> i64 {
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
                let mut g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
                g.append(&mut local.trace);
            }
        }
        None => GLOBAL.lock().unwrap_or_else(|e| e.into_inner()).push(ev),
    }
}

/// A flow id naming one wake-up of g (its id and wait sequence).
pub(crate) fn flow_id(g: GRef) -> u64 {
    g.id() << 24 | ((g.get().wait.load(Ordering::Relaxed) >> 8) & 0xff_ffff)
}

pub(crate) fn now() -> i64 {
    crate::sys::clock::now()
}

/// `gmp_trace_start`: GMP_EALREADY if a trace is running.
pub(crate) fn start(path: &str) -> i32 {
    let mut p = PATH.lock().unwrap_or_else(|e| e.into_inner());
    if p.is_some() {
        return crate::error::EALREADY;
    }
    if let Err(e) = std::fs::File::create(path) {
        return -e.raw_os_error().unwrap_or(libc::EIO);
    }
    *p = Some(path.to_owned());
    GLOBAL.lock().unwrap_or_else(|e| e.into_inner()).clear();
    START.store(crate::sys::clock::now() as u64, Ordering::Relaxed);
    EPOCH.fetch_add(1, Ordering::Relaxed);
    ON.store(true, Ordering::Release);
    0
}

/// `gmp_trace_stop`: stops tracing, collects every P's buffer and writes the file.
pub(crate) fn stop() -> i32 {
    let path = PATH.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(path) = path else {
        return crate::error::EINVAL;
    };
    ON.store(false, Ordering::Release);
    // Our own P, if we hold one (a goroutine stopping the trace): we are its holder.
    if let Some(p) = crate::sched::m::current().and_then(|m| m.get().p()) {
        // SAFETY: this M holds p.
        let local = unsafe { p.local() };
        GLOBAL
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(&mut local.trace);
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
                if p.status.load(Ordering::Acquire) == crate::sched::p::RUNNING {
                    let mine = crate::sched::m::current()
                        .and_then(|m| m.get().p())
                        .is_some_and(|q| std::ptr::eq(q, p));
                    if !mine {
                        pending = true;
                    }
                    continue;
                }
                // SAFETY: an idle or dead P is owned by the scheduler lock we hold.
                let local = unsafe { p.local() };
                GLOBAL
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .append(&mut local.trace);
            }
        }
        if !pending || crate::sys::clock::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let evs = std::mem::take(&mut *GLOBAL.lock().unwrap_or_else(|e| e.into_inner()));
    match write(&path, &evs) {
        Ok(()) => 0,
        Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
    }
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

fn us(ns: i64) -> String {
    format!("{}.{:03}", ns / 1000, (ns % 1000).abs())
}

const M_TID: i64 = 100_000;

fn write(path: &str, evs: &[Ev]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "{{\"displayTimeUnit\":\"ns\",\"traceEvents\":[")?;
    let mut first = true;
    let mut sep = |f: &mut std::io::BufWriter<std::fs::File>| -> std::io::Result<()> {
        if !first {
            writeln!(f, ",")?;
        }
        first = false;
        Ok(())
    };
    sep(&mut f)?;
    write!(
        f,
        "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{{\"name\":\"libgmp\"}}}}"
    )?;
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        sep(&mut f)?;
        write!(
            f,
            "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{i},\"args\":{{\"name\":\"P{i}\"}}}}"
        )?;
    }
    let ms: Vec<i64> = SCHED
        .allm
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|m| m.get().id)
        .collect();
    for id in ms {
        sep(&mut f)?;
        write!(
            f,
            "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{},\"args\":{{\"name\":\"M{id}\"}}}}",
            M_TID + id
        )?;
    }
    for ev in evs {
        sep(&mut f)?;
        match ev {
            Ev::Run {
                p,
                gid,
                name,
                ts,
                dur,
            } => {
                let n = name.clone().unwrap_or_else(|| format!("G{gid}"));
                write!(
                    f,
                    "{{\"name\":\"{}\",\"cat\":\"goroutine\",\"ph\":\"X\",\"pid\":1,\"tid\":{p},\"ts\":{},\"dur\":{},\"args\":{{\"goid\":{gid}}}}}",
                    esc(&n),
                    us(rel(*ts)),
                    us((*dur).max(1))
                )?;
            }
            Ev::Instant { p, what, gid, ts } => write!(
                f,
                "{{\"name\":\"{what} G{gid}\",\"cat\":\"sched\",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":{p},\"ts\":{}}}",
                us(rel(*ts))
            )?,
            Ev::Syscall { m, gid, ts, dur } => write!(
                f,
                "{{\"name\":\"syscall G{gid}\",\"cat\":\"syscall\",\"ph\":\"X\",\"pid\":1,\"tid\":{},\"ts\":{},\"dur\":{}}}",
                M_TID + m,
                us(rel(*ts)),
                us((*dur).max(1))
            )?,
            Ev::Flow { tid, id, ts, start } => write!(
                f,
                "{{\"name\":\"unblock\",\"cat\":\"flow\",\"ph\":\"{}\",\"bp\":\"e\",\"id\":{id},\"pid\":1,\"tid\":{tid},\"ts\":{}}}",
                if *start { "s" } else { "f" },
                us(rel(*ts))
            )?,
        }
    }
    writeln!(f, "\n]}}")?;
    f.flush()
}

extern "C" fn at_exit() {
    if ON.load(Ordering::Acquire) {
        let _ = stop();
    }
}

/// GMP_TRACE=path: start tracing with the runtime and write the file at exit.
pub(crate) fn start_from_env() {
    if let Ok(path) = std::env::var("GMP_TRACE") {
        if !path.is_empty() && start(&path) == 0 {
            // SAFETY: registers a plain extern "C" function.
            unsafe { libc::atexit(at_exit) };
        }
    }
}

//! The execution trace (`GMP_TRACE=path.json`, `gmp_trace_start`/`gmp_trace_stop`), in
//! the Chrome trace event format that Perfetto and chrome://tracing open.
//!
//! One track per P (a slice per goroutine run, named by the goroutine's name or id;
//! instants for creations and steals) and one per M (its syscall sections), and flow
//! arrows from the place a goroutine was made ready to where it next runs. Go's own
//! tracer (`trace.go`) is far richer; this keeps its structure: events are buffered per
//! P by the P's holder without locks (a Vec in the P's local state), and only events
//! from contexts without a P take a lock. With tracing off, each hook is one load and a
//! branch. The recording half is the scheduler's (`sched/trace.rs`); this file turns it
//! on and off and writes the file.

use crate::sys::mutex::{Mutex, Rank};
use std::io::Write as _;
use std::sync::atomic::Ordering;

use crate::sched::SCHED;
use crate::sched::trace::{self, Ev};

static PATH: Mutex<Option<String>> = Mutex::new(Rank::TracePath, None);

/// `gmp_trace_start`: GMP_EALREADY if a trace is running.
pub(crate) fn start(path: &str) -> i32 {
    let mut p = PATH.lock();
    if p.is_some() {
        return crate::error::EALREADY;
    }
    if let Err(e) = std::fs::File::create(path) {
        return -e.raw_os_error().unwrap_or(libc::EIO);
    }
    *p = Some(path.to_owned());
    trace::begin();
    0
}

/// `gmp_trace_stop`: stops tracing, collects every P's buffer and writes the file.
pub(crate) fn stop() -> i32 {
    let path = PATH.lock().take();
    let Some(path) = path else {
        return crate::error::EINVAL;
    };
    let evs = trace::end();
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
    let ms: Vec<i64> = SCHED.allm.lock().iter().map(|m| m.get().id).collect();
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
                    us(trace::rel(*ts)),
                    us((*dur).max(1))
                )?;
            }
            Ev::Instant { p, what, gid, ts } => write!(
                f,
                "{{\"name\":\"{what} G{gid}\",\"cat\":\"sched\",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":{p},\"ts\":{}}}",
                us(trace::rel(*ts))
            )?,
            Ev::Syscall { m, gid, ts, dur } => write!(
                f,
                "{{\"name\":\"syscall G{gid}\",\"cat\":\"syscall\",\"ph\":\"X\",\"pid\":1,\"tid\":{},\"ts\":{},\"dur\":{}}}",
                M_TID + m,
                us(trace::rel(*ts)),
                us((*dur).max(1))
            )?,
            Ev::Flow { tid, id, ts, start } => write!(
                f,
                "{{\"name\":\"unblock\",\"cat\":\"flow\",\"ph\":\"{}\",\"bp\":\"e\",\"id\":{id},\"pid\":1,\"tid\":{tid},\"ts\":{}}}",
                if *start { "s" } else { "f" },
                us(trace::rel(*ts))
            )?,
        }
    }
    writeln!(f, "\n]}}")?;
    f.flush()
}

extern "C" fn at_exit() {
    if trace::ON.load(Ordering::Acquire) {
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

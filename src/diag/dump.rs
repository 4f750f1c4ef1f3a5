//! Looking inside: the goroutine dump (`gmp_dump_goroutines`). Go's `traceback.go`
//! prints `goroutine 17 [chan receive, 3 minutes]:`; we print the same header line per
//! goroutine, with its name, home/lock state and stack, but no frames (C frames cannot be
//! walked safely from another thread; a gdb extension can, from the saved context).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::sched::SCHED;
use crate::sched::g::{self, GRef};

fn status_name(g: GRef) -> &'static str {
    match g.status() {
        g::IDLE => "idle",
        g::RUNNABLE => "runnable",
        g::RUNNING => "running",
        g::SYSCALL => "syscall",
        g::WAITING => "waiting",
        _ => "dead",
    }
}

/// Formats every live goroutine, one header line each, as Go's traceback does.
pub(crate) fn dump() -> String {
    let gs: Vec<GRef> = SCHED.allgs.lock().clone();
    let now = crate::sys::clock::coarse_now();
    let mut out = String::new();
    let s = crate::sched::lifecycle::snapshot();
    let st = crate::stack::stats();
    let _ = writeln!(
        out,
        "gmp: {} goroutines, gomaxprocs={} threads={} idleprocs={} runqueue={} stacks: {} in use, {} free, {} slabs",
        s.goroutines,
        s.maxprocs,
        s.threads,
        s.idle_procs,
        s.global_runqueue,
        st.slots_in_use,
        st.slots_free,
        st.slabs
    );
    for g in gs {
        let status = g.status();
        if status == g::DEAD || status == g::IDLE {
            continue;
        }
        let gg = g.get();
        let _ = write!(out, "\ngoroutine {} [", g.id());
        if status == g::WAITING {
            out.push_str(g.wait_reason().as_str());
            let since = gg.since.load(Ordering::Relaxed);
            if since > 0 && now > since {
                let mins = (now - since) / 60_000_000_000;
                if mins > 0 {
                    let _ = write!(out, ", {mins} minutes");
                }
            }
        } else {
            out.push_str(status_name(g));
        }
        out.push(']');
        if let Some(name) = gg.name() {
            let _ = write!(out, " \"{}\"", name.to_string_lossy().escape_default());
        }
        if !gg.home.load(Ordering::Relaxed).is_null() {
            out.push_str(" (home)");
        }
        let lm = gg.lockedm.load(Ordering::Relaxed);
        if !lm.is_null() {
            // SAFETY: M's are never freed while the runtime runs.
            let _ = write!(out, " (locked to M{})", unsafe { (*lm).id });
        }
        out.push_str(":\n");
        let pc = gg.spawn_pc.load(Ordering::Relaxed);
        if pc != 0 {
            let _ = writeln!(out, "created by {}", symbolize(pc));
        }
    }
    out
}

/// `symbol+0xoff (object)` for a code address, through dladdr.
pub(crate) fn symbolize(pc: u64) -> String {
    // SAFETY: dladdr fills a Dl_info for any address; its strings live as long as the
    // object stays loaded.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(pc as *const libc::c_void, &mut info) == 0 {
            return format!("{pc:#x}");
        }
        let obj = if info.dli_fname.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(info.dli_fname)
                .to_string_lossy()
                .into_owned()
        };
        if info.dli_sname.is_null() {
            let off = pc - info.dli_fbase as u64;
            return format!("{pc:#x} ({obj}+{off:#x})");
        }
        let name = std::ffi::CStr::from_ptr(info.dli_sname).to_string_lossy();
        let off = pc - info.dli_saddr as u64;
        format!("{name}+{off:#x} ({obj})")
    }
}

/// Writes the dump to `fd`. 0, or a negative errno.
pub(crate) fn dump_to_fd(fd: i32) -> i32 {
    let text = dump();
    let mut b = text.as_bytes();
    while !b.is_empty() {
        // SAFETY: writes from a live buffer to the caller's fd.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            if e == libc::EINTR {
                continue;
            }
            return -e;
        }
        b = &b[n as usize..];
    }
    0
}

/// Go's schedtrace line (and, with `detail`, its P/M/G lines).
pub(crate) fn schedtrace(detail: bool) -> String {
    let start = SCHED.start_time.load(Ordering::Relaxed);
    let ms = (crate::sys::clock::now() - start) / 1_000_000;
    let procs = SCHED.procs();
    let s = crate::sched::lifecycle::snapshot();
    let mut out = String::new();
    let _ = write!(
        out,
        "SCHED {ms}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} needspinning=0 idlethreads={} runqueue={}",
        s.maxprocs, s.idle_procs, s.threads, s.spinning, s.idle_threads, s.global_runqueue
    );
    if !detail {
        out.push_str(" [");
        for i in 0..procs {
            if let Some(p) = SCHED.p(i) {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{}", p.runq.len());
            }
        }
        out.push_str("]\n");
        return out;
    }
    out.push('\n');
    for i in 0..procs {
        let Some(p) = SCHED.p(i) else { continue };
        let m = p.m.load(Ordering::Relaxed);
        // SAFETY: M's are never freed while the runtime runs.
        let mid = if m.is_null() { -1 } else { unsafe { (*m).id } };
        let _ = writeln!(
            out,
            "  P{i}: status={} schedtick={} syscalltick={} m={mid} runqsize={} timerslen={}",
            p.status.load(Ordering::Relaxed),
            p.schedtick.load(Ordering::Relaxed),
            p.syscalltick.load(Ordering::Relaxed),
            p.runq.len(),
            p.timers.len()
        );
    }
    let ms_list: Vec<_> = SCHED.allm.lock().clone();
    for mm in &ms_list {
        let m = mm.get();
        let pid = m.p().map_or(-1, |p| p.id as i64);
        let curg = m.curg.load(Ordering::Relaxed);
        let gid = if curg.is_null() {
            -1
        } else {
            // SAFETY: G's are never freed while the runtime runs.
            unsafe { (*curg).id.load(Ordering::Relaxed) as i64 }
        };
        let lg = m.lockedg.load(Ordering::Relaxed);
        let lgid = if lg.is_null() {
            -1
        } else {
            // SAFETY: as above.
            unsafe { (*lg).id.load(Ordering::Relaxed) as i64 }
        };
        let _ = writeln!(
            out,
            "  M{}: p={pid} curg={gid} spinning={} blocked={} lockedg={lgid}",
            m.id,
            m.spinning.load(Ordering::Relaxed),
            m.blocked.load(Ordering::Relaxed)
        );
    }
    let gs: Vec<GRef> = SCHED.allgs.lock().clone();
    for g in gs {
        let st = g.status();
        if st == g::DEAD || st == g::IDLE {
            continue;
        }
        let mut mid = -1;
        for mm in &ms_list {
            if mm.get().curg.load(Ordering::Relaxed) == g.as_ptr() {
                mid = mm.get().id;
            }
        }
        let lm = g.get().lockedm.load(Ordering::Relaxed);
        let lockedm = if lm.is_null() {
            "nil".to_string()
        } else {
            // SAFETY: M's are never freed while the runtime runs.
            unsafe { (*lm).id.to_string() }
        };
        let reason = if st == g::WAITING {
            g.wait_reason().as_str()
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  G{}: status={st}({reason}) m={mid} lockedm={lockedm}",
            g.id()
        );
    }
    out
}

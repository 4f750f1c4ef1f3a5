//! `GMP_DEBUG`: comma-separated `key=value` settings, read once (Go's GODEBUG).
//! - `schedtrace=N`: every N ms, sysmon prints Go's `SCHED` line to stderr.
//! - `scheddetail=1`: with schedtrace, also a line per P, M and G.
//! - `checkdead=0`: turn off deadlock detection in `gmp_main` (on by default).
//! - `dumpsignal=SIGQUIT` (or a number): dump every goroutine to stderr on that signal
//!   (off by default: the host program owns its signals).

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Debug {
    pub(crate) schedtrace_ms: i64,
    pub(crate) scheddetail: bool,
    pub(crate) checkdead: bool,
    pub(crate) dumpsignal: i32,
}

static CFG: OnceLock<Debug> = OnceLock::new();

pub(crate) fn parse(s: &str) -> Debug {
    let mut d = Debug {
        schedtrace_ms: 0,
        scheddetail: false,
        checkdead: true,
        dumpsignal: 0,
    };
    for kv in s.split(',') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "schedtrace" => d.schedtrace_ms = v.parse().unwrap_or(0).max(0),
            "scheddetail" => d.scheddetail = v == "1",
            "checkdead" => d.checkdead = v != "0",
            "dumpsignal" => d.dumpsignal = signal_number(v),
            _ => {}
        }
    }
    d
}

fn signal_number(v: &str) -> i32 {
    if let Ok(n) = v.parse::<i32>() {
        return n;
    }
    match v.trim_start_matches("SIG") {
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "HUP" => libc::SIGHUP,
        "TERM" => libc::SIGTERM,
        "INT" => libc::SIGINT,
        _ => 0,
    }
}

pub(crate) fn cfg() -> &'static Debug {
    CFG.get_or_init(|| parse(&std::env::var("GMP_DEBUG").unwrap_or_default()))
}

/// What sysmon acts on (the scheduler's `hooks::Debug`).
pub(crate) fn sysmon_settings() -> crate::sched::hooks::Debug {
    let d = cfg();
    crate::sched::hooks::Debug {
        schedtrace_ms: d.schedtrace_ms,
        scheddetail: d.scheddetail,
        checkdead: d.checkdead,
    }
}

extern "C" fn on_dump_signal(_: libc::c_int) {
    crate::sched::sysmon::request_dump();
}

/// Installs the dump signal handler if GMP_DEBUG asks for one.
pub(crate) fn install() {
    let sig = cfg().dumpsignal;
    if sig <= 0 {
        return;
    }
    // SAFETY: installs a handler that only stores to an atomic and makes a futex call.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_dump_signal as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses() {
        let d = parse("schedtrace=1000,scheddetail=1,checkdead=0,dumpsignal=SIGQUIT");
        assert_eq!(d.schedtrace_ms, 1000);
        assert!(d.scheddetail);
        assert!(!d.checkdead);
        assert_eq!(d.dumpsignal, libc::SIGQUIT);
        let d = parse("");
        assert!(d.checkdead);
        assert_eq!(d.schedtrace_ms, 0);
    }
}

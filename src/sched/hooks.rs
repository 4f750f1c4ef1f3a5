//! The scheduler's ways up, besides `ready(g)`: what the diagnostics layer (`diag/`) and
//! the debugger exports give it when the runtime starts (`start.rs` passes them to
//! `ensure_started_with`). The scheduler calls these and never imports the modules that
//! implement them, so the layers above it stay out of its import graph. None of them is
//! on a hot path: sysmon's tick, a deadlock, a new G record.

use std::sync::OnceLock;

use super::g::GRef;

/// What sysmon does with `GMP_DEBUG` (parsed by `diag/debug.rs`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Debug {
    /// Print Go's `SCHED` line every this many ms (0: never).
    pub(crate) schedtrace_ms: i64,
    /// With schedtrace, a line per P, M and G too.
    pub(crate) scheddetail: bool,
    /// Deadlock detection in `gmp_main`.
    pub(crate) checkdead: bool,
}

impl Default for Debug {
    fn default() -> Self {
        Debug {
            schedtrace_ms: 0,
            scheddetail: false,
            checkdead: true,
        }
    }
}

pub(crate) struct Hooks {
    /// Runs once the scheduler runs, before sysmon starts (dump signal, GMP_TRACE).
    pub(crate) on_start: fn(),
    /// sysmon's `GMP_DEBUG` settings.
    pub(crate) debug: fn() -> Debug,
    /// The goroutine dump (deadlock, dump signal).
    pub(crate) dump: fn() -> String,
    /// Go's `SCHED` line (and with `detail`, the per P, M and G lines).
    pub(crate) schedtrace: fn(detail: bool) -> String,
    /// allgs grew (called with the allgs lock held): publish it to debuggers.
    pub(crate) allgs_grew: fn(&[GRef]),
}

static HOOKS: OnceLock<&'static Hooks> = OnceLock::new();

/// Installs the hooks (the first call wins; they never change).
pub(crate) fn install(h: &'static Hooks) {
    let _ = HOOKS.set(h);
}

/// The hooks, once installed. A runtime started without them (only through a path that
/// bypasses `start.rs`, which no public entry does) runs without diagnostics.
#[inline]
pub(crate) fn get() -> Option<&'static Hooks> {
    HOOKS.get().copied()
}

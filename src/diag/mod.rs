//! Diagnostics: looking inside the running scheduler from above it.
//! - `debug.rs`: `GMP_DEBUG` (Go's GODEBUG) and the dump signal.
//! - `dump.rs`: the goroutine dump and Go's `schedtrace` lines.
//! - `tracefile.rs`: the execution trace file (the recording half is `sched/trace.rs`).
//!
//! The scheduler never imports this layer: it calls it through the hooks `start.rs`
//! gives it at start (`sched/hooks.rs`), so these modules read scheduler state without
//! forming an import circle with it. The debugger exports (`gmp_debug_*`) are in
//! `ffi/debug.rs`, fed through the same hooks.

pub(crate) mod debug;
pub(crate) mod dump;
pub(crate) mod tracefile;

/// Runs once the scheduler runs, before sysmon starts: the dump signal's handler, and
/// the trace GMP_TRACE asks for.
pub(crate) fn on_start() {
    debug::install();
    tracefile::start_from_env();
}

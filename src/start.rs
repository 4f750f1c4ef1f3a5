//! Starting the runtime (Go's `rt0_go` + `schedinit`): the one place that wires the
//! layers. The scheduler starts itself on first use, and this gives it the ways up it
//! may call (`sched/hooks.rs`): the diagnostics of `diag/` and the debugger exports of
//! `ffi/debug.rs`. Every public entry (the `ffi/` prologue, `rt`, homes) starts the
//! runtime through here.

use crate::sched::hooks::Hooks;

static HOOKS: Hooks = Hooks {
    on_start: crate::diag::on_start,
    debug: crate::diag::debug::sysmon_settings,
    dump: crate::diag::dump::dump,
    schedtrace: crate::diag::dump::schedtrace,
    allgs_grew: crate::ffi::debug::publish,
};

/// Starts the runtime on first use. Err(GMP_ESHUTDOWN) after shutdown or in a fork
/// child. On the running path: one state load and the fork flag's, as before.
#[inline]
pub(crate) fn ensure_started() -> Result<(), crate::error::Code> {
    crate::sched::ensure_started_with(Some(&HOOKS))
}

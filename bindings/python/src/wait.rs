//! How Python code blocks in gmp, by where it runs (`home::Where`):
//!
//! - a Python goroutine calls the gmp function directly, GIL held: the goroutine parks,
//!   its home runs the others, and the home releases the GIL only when none is ready;
//! - any other thread releases the GIL and waits in slices of at most 50 ms, taking the
//!   GIL back between slices to run `PyErr_CheckSignals`, so Ctrl-C raises
//!   KeyboardInterrupt in the main thread;
//! - a C goroutine that called into Python does the same, locked to its OS thread for the
//!   time it has released the GIL (its thread state belongs to that thread).

use std::ffi::c_int;
use std::sync::atomic::{AtomicI64, Ordering};

use pyo3::prelude::*;

use crate::ffi::*;
use crate::home::{EXITING, Where, where_am_i};

pub const SLICE_NS: i64 = 50_000_000;

/// Threads on their way back to the GIL (see `reacquire`).
pub static REACQUIRING: AtomicI64 = AtomicI64::new(0);

pub fn now() -> i64 {
    // SAFETY: no preconditions.
    unsafe { gmp_now() }
}

/// A timeout in seconds (None: forever) as an absolute `gmp_now` deadline.
pub fn deadline(timeout: Option<f64>) -> PyResult<Option<i64>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() || t < 0.0 => Err(pyo3::exceptions::PyValueError::new_err(
            "timeout must be a non-negative number or None",
        )),
        Some(t) => {
            let ns = (t * 1e9).min(4e18) as i64;
            Ok(Some(now().saturating_add(ns)))
        }
    }
}

/// `gmp.timeout` scopes open now, on any goroutine or thread (their Python side counts
/// them through `_scope_enter`/`_scope_exit`): while none is, a wait that has no
/// `timeout=` of its own asks Python nothing.
pub static SCOPES: AtomicI64 = AtomicI64::new(0);

/// The timeout a native wait uses given its own (seconds; None: forever) inside the
/// calling goroutine's innermost `gmp.timeout` scope, and whether the scope set it (a
/// time-out then raises the scope's `gmp.Timeout`): `gmp._handles._effective`.
pub fn scoped(py: Python<'_>, timeout: Option<f64>) -> PyResult<(Option<f64>, bool)> {
    if SCOPES.load(Ordering::Relaxed) <= 0 {
        return Ok((timeout, false));
    }
    let f = py.import("gmp._handles")?.getattr("_effective")?;
    f.call1((timeout,))?.extract()
}

/// The error of a wait that a `gmp.timeout` scope ended.
pub fn scope_expired() -> PyErr {
    crate::Timeout::new_err("gmp.timeout: the deadline passed")
}

/// Nanoseconds left until `d` (-1: forever), never negative otherwise.
pub fn remaining(d: Option<i64>) -> i64 {
    match d {
        None => -1,
        Some(d) => (d - now()).max(0),
    }
}

fn is_main_thread() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::gettid() == libc::getpid() }
}

/// Releases the GIL around `f` (the calling thread's own state is saved and restored).
/// After the interpreter began to exit, a thread other than the main one never takes
/// the GIL back: it sleeps until the process ends (taking it during finalization would
/// end the thread with `pthread_exit`, which cannot unwind through these frames).
pub fn without_gil<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: called with the GIL held by this thread (every caller is a pyfunction).
    let ts = unsafe { pyo3::ffi::PyEval_SaveThread() };
    let r = f();
    reacquire(ts);
    r
}

fn reacquire(ts: *mut pyo3::ffi::PyThreadState) {
    REACQUIRING.fetch_add(1, Ordering::SeqCst);
    if EXITING.load(Ordering::SeqCst) && !is_main_thread() {
        REACQUIRING.fetch_sub(1, Ordering::SeqCst);
        crate::home::sleep_forever();
    }
    // SAFETY: the state this thread saved.
    unsafe { crate::ffi::gmpy_restore_thread(ts) };
    REACQUIRING.fetch_sub(1, Ordering::SeqCst);
}

/// Runs the blocking gmp call `op(timeout_ns)` until it returns something other than
/// a time-out of a slice, in the way `where_am_i` calls for. `op` must have no effect
/// when it times out (every gmp call with a timeout is so).
pub fn block(py: Python<'_>, dl: Option<i64>, mut op: impl FnMut(i64) -> isize) -> PyResult<isize> {
    match where_am_i() {
        Where::HomeGoroutine | Where::HomeThread => Ok(op(remaining(dl))),
        Where::ForeignGoroutine => {
            // SAFETY: no preconditions; balanced below.
            unsafe { gmp_lock_os_thread() };
            let r = sliced(py, dl, &mut op);
            // SAFETY: as above.
            unsafe { gmp_unlock_os_thread() };
            r
        }
        Where::Thread => sliced(py, dl, &mut op),
    }
}

fn sliced(py: Python<'_>, dl: Option<i64>, op: &mut impl FnMut(i64) -> isize) -> PyResult<isize> {
    loop {
        let left = remaining(dl);
        let t = if left < 0 {
            SLICE_NS
        } else {
            left.min(SLICE_NS)
        };
        let r = without_gil(|| op(t));
        let timed_out = r == GMP_ETIMEDOUT as isize || r == GMP_EAGAIN as isize && t > 0;
        if timed_out && (dl.is_none() || remaining(dl) > 0) {
            py.check_signals()?;
            continue;
        }
        return Ok(r);
    }
}

/// `block` for calls returning c_int.
pub fn block_int(
    py: Python<'_>,
    dl: Option<i64>,
    mut op: impl FnMut(i64) -> c_int,
) -> PyResult<c_int> {
    block(py, dl, |t| op(t) as isize).map(|r| r as c_int)
}

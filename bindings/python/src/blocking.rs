//! `gmp.blocking(fn, *args, **kwargs)`: runs a call that blocks in C with the GIL
//! released (file I/O, `time.sleep`, hashing, DNS) on a runtime thread while only the
//! calling goroutine parks.
//!
//! A C goroutine (free to run on any runtime thread) runs `gmp_blocking`, which calls
//! our function between `gmp_syscall_enter/exit` on the M's own thread stack; that
//! function takes the GIL with `PyGILState_Ensure` (a thread state for that thread),
//! calls fn, stores the result and lets the GIL go; the goroutine then closes a channel
//! the Python goroutine waits on. From a plain thread there is nothing to gain: fn is
//! just called.
//!
//! At interpreter exit, calls in flight are let finish before the homes stop
//! (`_atexit`), as `concurrent.futures` joins its workers.

use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::error_from_code;
use crate::ffi::*;
use crate::home::{EXITING, Where, where_am_i};

pub static INFLIGHT: AtomicI64 = AtomicI64::new(0);

/// A callable with its arguments.
type Call = (Py<PyAny>, Py<PyTuple>, Option<Py<PyDict>>);

struct Job {
    call: Mutex<Option<Call>>,
    result: Mutex<Option<PyResult<Py<PyAny>>>>,
    /// The C goroutine's own reference to the channel the waiter parks on.
    done: *mut gmp_chan,
}

unsafe extern "C" fn job_goroutine(arg: *mut c_void) {
    // SAFETY: `arg` is the Job, alive until the waiter has seen `done` closed.
    let job = unsafe { &*(arg as *const Job) };
    // SAFETY: our function and the job.
    unsafe { gmp_blocking(Some(job_call), arg) };
    INFLIGHT.fetch_sub(1, Ordering::SeqCst);
    // After the close the waiter may free the job: copy the handle out first.
    let done = job.done;
    // SAFETY: our own reference to the channel.
    unsafe {
        gmp_chan_close(done);
        gmp_chan_release(done);
    }
}

unsafe extern "C" fn job_call(arg: *mut c_void) {
    // SAFETY: as in job_goroutine.
    let job = unsafe { &*(arg as *const Job) };
    if EXITING.load(Ordering::SeqCst) {
        return;
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Ensure/Release pair on this (stable) thread.
        let st = crate::gil_ensure();
        {
            // SAFETY: Ensure gave us the GIL.
            let py = unsafe { Python::assume_attached() };
            let call = job.call.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some((f, a, k)) = call {
                let r =
                    crate::guarded_call(py, f.bind(py), a.bind(py), k.as_ref().map(|k| k.bind(py)))
                        .map(|v| v.unbind());
                drop((f, a, k));
                *job.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            }
        }
        // SAFETY: the matching release.
        unsafe { pyo3::ffi::PyGILState_Release(st) };
    }));
    if r.is_err() {
        crate::fatal("a Rust panic in gmp.blocking");
    }
}

/// Runs `func(*args, **kwargs)` on a runtime thread while the calling goroutine parks;
/// returns its result or raises its exception.
#[pyfunction]
#[pyo3(signature = (func, /, *args, **kwargs))]
pub fn blocking(
    py: Python<'_>,
    func: Py<PyAny>,
    args: Py<PyTuple>,
    kwargs: Option<Py<PyDict>>,
) -> PyResult<Py<PyAny>> {
    crate::fork_check()?;
    if where_am_i() != Where::HomeGoroutine {
        return crate::guarded_call(
            py,
            func.bind(py),
            args.bind(py),
            kwargs.as_ref().map(|k| k.bind(py)),
        )
        .map(|v| v.unbind());
    }
    if EXITING.load(Ordering::SeqCst) {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "gmp.blocking: the interpreter is shutting down",
        ));
    }
    let mut done = std::ptr::null_mut();
    // SAFETY: out-pointer to a local.
    let r = unsafe { gmp_chan_make(&mut done, 0, 0) };
    if r < 0 {
        return Err(error_from_code(py, r));
    }
    let job = Box::new(Job {
        call: Mutex::new(Some((func, args, kwargs))),
        result: Mutex::new(None),
        // SAFETY: a live channel; one more reference, for the C goroutine.
        done: unsafe { gmp_chan_retain(done) },
    });
    let jp = &*job as *const Job as *mut c_void;
    INFLIGHT.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the job outlives the goroutine's use of it (we wait for `done` below).
    let r = unsafe { gmp_go(Some(job_goroutine), jp) };
    if r < 0 {
        INFLIGHT.fetch_sub(1, Ordering::SeqCst);
        // SAFETY: both references are ours: the goroutine never started.
        unsafe {
            gmp_chan_release(job.done);
            gmp_chan_release(done);
        }
        return Err(error_from_code(py, r));
    }
    // A Python goroutine: park until closed (uninterruptible, so the job stays ours).
    // SAFETY: a live channel.
    unsafe { gmp_chan_recv(done, std::ptr::null_mut()) };
    // SAFETY: our reference; the C goroutine no longer touches the job or the channel
    // after closing it.
    unsafe { gmp_chan_release(done) };
    let res = job.result.lock().unwrap_or_else(|e| e.into_inner()).take();
    match res {
        Some(r) => r,
        None => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "gmp.blocking: the interpreter is shutting down",
        )),
    }
}

//! `gmp.blocking(fn, *args, **kwargs)`: runs a call that blocks in C with the GIL
//! released (file I/O, `time.sleep`, hashing, DNS) on a worker thread while only the
//! calling goroutine parks.
//!
//! The workers are a bounded pool of our own threads (default `min(32, cpus + 4)`, as
//! asyncio's `to_thread` executor; `gmp.configure(blocking_threads=N)`), started on
//! demand and ended after [`IDLE`] without work, so an idle program keeps none. A call
//! finding every worker busy waits in the queue (its goroutine stays parked). A worker
//! takes the GIL with `PyGILState_Ensure` (a thread state for that thread), calls fn,
//! stores the result and lets the GIL go, then closes a channel the goroutine waits on.
//! From a plain thread there is nothing to gain: fn is just called. (Before: a C
//! goroutine per call ran fn through `gmp_blocking`, so every concurrent call became a
//! runtime thread, kept for good.)
//!
//! At interpreter exit, calls in flight are let finish before the homes stop
//! (`_atexit`), as `concurrent.futures` joins its workers, unless the program ends on
//! Ctrl-C.

use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::error_from_code;
use crate::ffi::*;
use crate::home::{EXITING, Where, where_am_i};

pub static INFLIGHT: AtomicI64 = AtomicI64::new(0);

/// A worker with nothing to do for this long ends.
const IDLE: Duration = Duration::from_secs(2);

/// The pool's size; 0 until configured or first used (then the default).
pub static MAX_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Workers alive (for tests: `gmp.stats()["blocking_threads"]`).
pub static THREADS: AtomicUsize = AtomicUsize::new(0);

/// A callable with its arguments.
type Call = (Py<PyAny>, Py<PyTuple>, Option<Py<PyDict>>);

struct Job {
    call: Mutex<Option<Call>>,
    result: Mutex<Option<PyResult<Py<PyAny>>>>,
    /// The worker's own reference to the channel the waiter parks on.
    done: *mut gmp_chan,
}

/// A queued job (the waiter keeps it alive until `done` is closed).
struct JobPtr(*const Job);
// SAFETY: the Job is only touched by the worker that pops it, then by its waiter after
// `done` closes.
unsafe impl Send for JobPtr {}

struct PoolState {
    jobs: VecDeque<JobPtr>,
    threads: usize,
    idle: usize,
}

static POOL: (Mutex<PoolState>, Condvar) = (
    Mutex::new(PoolState {
        jobs: VecDeque::new(),
        threads: 0,
        idle: 0,
    }),
    Condvar::new(),
);

/// min(32, cpus + 4), as asyncio's default executor.
fn default_max() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus + 4).min(32)
}

pub fn max_threads() -> usize {
    match MAX_THREADS.load(Ordering::Relaxed) {
        0 => default_max(),
        n => n,
    }
}

fn submit(job: *const Job) -> PyResult<()> {
    let mut st = POOL.0.lock().unwrap_or_else(|e| e.into_inner());
    st.jobs.push_back(JobPtr(job));
    // Idle workers count themselves out only once they wake: while the queue is no
    // longer than their number, one of them will take this job; else start one more.
    if st.jobs.len() <= st.idle {
        POOL.1.notify_one();
    } else if st.threads < max_threads() {
        st.threads += 1;
        THREADS.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("gmp-blocking".into())
            .spawn(worker);
        if let Err(e) = spawned {
            st.threads -= 1;
            THREADS.fetch_sub(1, Ordering::Relaxed);
            if st.threads == 0 {
                st.jobs.pop_back();
                return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "gmp.blocking: cannot start a worker thread: {e}"
                )));
            }
            // The others will get to it.
        }
    }
    Ok(())
}

fn worker() {
    let mut st = POOL.0.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let Some(JobPtr(job)) = st.jobs.pop_front() else {
            st.idle += 1;
            let (g, to) = POOL
                .1
                .wait_timeout(st, IDLE)
                .unwrap_or_else(|e| e.into_inner());
            st = g;
            st.idle -= 1;
            if to.timed_out() && st.jobs.is_empty() {
                st.threads -= 1;
                THREADS.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            continue;
        };
        drop(st);
        // SAFETY: a queued job, alive until we close `done`.
        unsafe { job_call(job as *mut c_void) };
        INFLIGHT.fetch_sub(1, Ordering::SeqCst);
        // After the close the waiter may free the job: copy the handle out first.
        // SAFETY: as above.
        let done = unsafe { (*job).done };
        // SAFETY: our own reference to the channel.
        unsafe {
            gmp_chan_close(done);
            gmp_chan_release(done);
        }
        st = POOL.0.lock().unwrap_or_else(|e| e.into_inner());
    }
}

unsafe extern "C" fn job_call(arg: *mut c_void) {
    // SAFETY: a queued job, alive until its `done` is closed.
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

/// Runs `func(*args, **kwargs)` on a pool worker thread while the calling goroutine parks;
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
    if let Err(e) = submit(jp as *const Job) {
        INFLIGHT.fetch_sub(1, Ordering::SeqCst);
        // SAFETY: both references are ours: no worker took the job.
        unsafe {
            gmp_chan_release(job.done);
            gmp_chan_release(done);
        }
        return Err(e);
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

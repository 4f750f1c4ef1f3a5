//! `gmp.WaitGroup`, `gmp.Mutex`, and the helper that lets a plain thread wait on them
//! interruptibly.
//!
//! A Python goroutine calls the runtime's untimed waits directly (it parks). A plain
//! thread cannot: `gmp_waitgroup_wait` and `gmp_mutex_lock` have no timeout form, and a
//! thread must wake every 50 ms to see Ctrl-C. So it starts a small C goroutine that
//! does the untimed wait and then closes a channel, and waits on that channel in slices.
//! The sync object lives in an `Arc` the helper shares, so it outlives an interrupted
//! waiter.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use pyo3::prelude::*;

use crate::error_from_code;
use crate::ffi::*;
use crate::home::{Where, where_am_i};
use crate::wait::block_int;

struct Helper {
    f: Box<dyn FnOnce() + Send>,
    done: *mut gmp_chan,
}

unsafe extern "C" fn helper_entry(arg: *mut c_void) {
    // SAFETY: the box made by `in_c_goroutine`, ours alone now.
    let h = unsafe { Box::from_raw(arg as *mut Helper) };
    (h.f)();
    // SAFETY: the helper's own reference to the done channel.
    unsafe {
        gmp_chan_close(h.done);
        gmp_chan_release(h.done);
    }
}

/// Runs `f` in a new C goroutine and waits (interruptibly, GIL released) until it
/// returns. If the wait is interrupted, `f` still runs to its end.
pub fn in_c_goroutine(py: Python<'_>, f: Box<dyn FnOnce() + Send>) -> PyResult<()> {
    let mut done = std::ptr::null_mut();
    // SAFETY: out-pointer to a local; a raw channel.
    let r = unsafe { gmp_chan_make(&mut done, 0, 0) };
    if r < 0 {
        return Err(error_from_code(py, r));
    }
    // SAFETY: one more reference for the helper.
    let theirs = unsafe { gmp_chan_retain(done) };
    let h = Box::into_raw(Box::new(Helper { f, done: theirs }));
    // SAFETY: entry and its box.
    let r = unsafe { gmp_go(Some(helper_entry), h as *mut c_void) };
    if r < 0 {
        // SAFETY: not started: both references and the box are still ours.
        unsafe {
            drop(Box::from_raw(h));
            gmp_chan_release(theirs);
            gmp_chan_release(done);
        }
        return Err(error_from_code(py, r));
    }
    // SAFETY: our reference is alive until released below.
    let w = block_int(py, None, |t| unsafe {
        gmp_chan_recv_timeout(done, std::ptr::null_mut(), t)
    });
    // SAFETY: our reference.
    unsafe { gmp_chan_release(done) };
    w.map(|_| ())
}

struct WgCell(UnsafeCell<gmp_waitgroup>);
// SAFETY: the runtime's sync types are made for concurrent use through a pointer.
unsafe impl Send for WgCell {}
// SAFETY: as above.
unsafe impl Sync for WgCell {}
impl WgCell {
    fn p(&self) -> *mut gmp_waitgroup {
        self.0.get()
    }
}

/// Go's sync.WaitGroup: add(n), done(), wait().
#[pyclass(module = "gmp", frozen)]
pub struct WaitGroup {
    wg: Arc<WgCell>,
}

#[pymethods]
impl WaitGroup {
    #[new]
    fn new() -> Self {
        WaitGroup {
            wg: Arc::new(WgCell(UnsafeCell::new(gmp_waitgroup::default()))),
        }
    }

    /// Adds delta (may be negative) to the counter; ValueError if it would go below 0.
    #[pyo3(signature = (delta = 1))]
    fn add(&self, py: Python<'_>, delta: i64) -> PyResult<()> {
        // SAFETY: a live waitgroup.
        let r = unsafe { gmp_waitgroup_add(self.wg.p(), delta) };
        if r == GMP_EINVAL {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "negative WaitGroup counter",
            ));
        }
        if r < 0 {
            return Err(error_from_code(py, r));
        }
        Ok(())
    }

    /// add(-1).
    fn done(&self, py: Python<'_>) -> PyResult<()> {
        self.add(py, -1)
    }

    /// Blocks until the counter is zero.
    fn wait(&self, py: Python<'_>) -> PyResult<()> {
        match where_am_i() {
            Where::HomeGoroutine | Where::HomeThread => {
                // SAFETY: a live waitgroup.
                let r = unsafe { gmp_waitgroup_wait(self.wg.p()) };
                if r < 0 {
                    return Err(error_from_code(py, r));
                }
                Ok(())
            }
            _ => {
                let wg = self.wg.clone();
                in_c_goroutine(
                    py,
                    Box::new(move || {
                        // SAFETY: the Arc keeps it alive.
                        unsafe { gmp_waitgroup_wait(wg.p()) };
                    }),
                )
            }
        }
    }
}

struct MuCell(UnsafeCell<gmp_mutex>);
// SAFETY: as WgCell.
unsafe impl Send for MuCell {}
// SAFETY: as WgCell.
unsafe impl Sync for MuCell {}
impl MuCell {
    fn p(&self) -> *mut gmp_mutex {
        self.0.get()
    }
}

const PENDING: u8 = 0;
const GRANTED: u8 = 1;
const ABANDONED: u8 = 2;

/// Go's sync.Mutex (not reentrant; may be unlocked by another goroutine). A context
/// manager; `acquire`/`release` are aliases of `lock`/`unlock`.
#[pyclass(module = "gmp", frozen)]
pub struct Mutex {
    mu: Arc<MuCell>,
}

#[pymethods]
impl Mutex {
    #[new]
    fn new() -> Self {
        Mutex {
            mu: Arc::new(MuCell(UnsafeCell::new(gmp_mutex::default()))),
        }
    }

    fn lock(&self, py: Python<'_>) -> PyResult<()> {
        let p = self.mu.p();
        match where_am_i() {
            Where::HomeGoroutine | Where::HomeThread => {
                // SAFETY: a live mutex.
                let r = unsafe { gmp_mutex_lock(p) };
                if r < 0 {
                    return Err(error_from_code(py, r));
                }
                Ok(())
            }
            _ => {
                // SAFETY: a live mutex.
                if unsafe { gmp_mutex_trylock(p) } == 0 {
                    return Ok(());
                }
                let state = Arc::new(AtomicU8::new(PENDING));
                let (mu, st) = (self.mu.clone(), state.clone());
                let r = in_c_goroutine(
                    py,
                    Box::new(move || {
                        // SAFETY: the Arc keeps it alive.
                        unsafe { gmp_mutex_lock(mu.p()) };
                        if st
                            .compare_exchange(PENDING, GRANTED, Ordering::AcqRel, Ordering::Acquire)
                            .is_err()
                        {
                            // The waiter gave up: do not keep the lock for nobody.
                            // SAFETY: we hold it.
                            unsafe { gmp_mutex_unlock(mu.p()) };
                        }
                    }),
                );
                if let Err(e) = r {
                    if state
                        .compare_exchange(PENDING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        // Granted just as we were interrupted: give it back.
                        // SAFETY: the helper locked it for us.
                        unsafe { gmp_mutex_unlock(p) };
                    }
                    return Err(e);
                }
                Ok(())
            }
        }
    }

    fn acquire(&self, py: Python<'_>) -> PyResult<bool> {
        self.lock(py).map(|_| true)
    }

    /// Locks if free: True, else False at once.
    fn try_lock(&self) -> bool {
        // SAFETY: a live mutex.
        unsafe { gmp_mutex_trylock(self.mu.p()) == 0 }
    }

    fn unlock(&self) -> PyResult<()> {
        // SAFETY: a live mutex.
        let r = unsafe { gmp_mutex_unlock(self.mu.p()) };
        if r < 0 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "unlock of unlocked Mutex",
            ));
        }
        Ok(())
    }

    fn release(&self) -> PyResult<()> {
        self.unlock()
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<()> {
        self.lock(py)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.unlock()?;
        Ok(false)
    }
}

//! `gmp.WaitGroup` and `gmp.Mutex`.
//!
//! A Python goroutine on a home waits with the runtime's untimed calls (it parks). Any
//! other caller waits in slices of the timed forms (`gmp_waitgroup_wait_timeout`,
//! `gmp_mutex_lock_timeout`), releasing the GIL, so Ctrl-C is seen between slices
//! (`wait::block`). A slice that times out has no effect, so an interrupted lock leaves
//! nothing held.

use std::cell::UnsafeCell;

use pyo3::prelude::*;

use crate::error_from_code;
use crate::ffi::*;
use crate::wait::block_int;

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
    wg: WgCell,
}

#[pymethods]
impl WaitGroup {
    #[new]
    fn new() -> Self {
        WaitGroup {
            wg: WgCell(UnsafeCell::new(gmp_waitgroup::default())),
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
        let p = self.wg.p();
        // Inside a gmp.timeout scope the wait ends at its deadline.
        let (t, scoped) = crate::wait::scoped(py, None)?;
        let dl = crate::wait::deadline(t)?;
        // SAFETY: a live waitgroup (self is borrowed for the call).
        let r = block_int(py, dl, |t| unsafe { gmp_waitgroup_wait_timeout(p, t) })?;
        if r < 0 {
            if scoped && (r == GMP_ETIMEDOUT || r == GMP_EAGAIN) {
                return Err(crate::wait::scope_expired());
            }
            return Err(error_from_code(py, r));
        }
        Ok(())
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

/// Go's sync.Mutex (not reentrant; may be unlocked by another goroutine). A context
/// manager; `acquire`/`release` are aliases of `lock`/`unlock`.
#[pyclass(module = "gmp", frozen)]
pub struct Mutex {
    mu: MuCell,
}

#[pymethods]
impl Mutex {
    #[new]
    fn new() -> Self {
        Mutex {
            mu: MuCell(UnsafeCell::new(gmp_mutex::default())),
        }
    }

    fn lock(&self, py: Python<'_>) -> PyResult<()> {
        let p = self.mu.p();
        // SAFETY: a live mutex.
        if unsafe { gmp_mutex_trylock(p) } == 0 {
            return Ok(());
        }
        // Inside a gmp.timeout scope the wait ends at its deadline.
        let (t, scoped) = crate::wait::scoped(py, None)?;
        let dl = crate::wait::deadline(t)?;
        // SAFETY: a live mutex (self is borrowed for the call).
        let r = block_int(py, dl, |t| unsafe { gmp_mutex_lock_timeout(p, t) })?;
        if r < 0 {
            if scoped && (r == GMP_ETIMEDOUT || r == GMP_EAGAIN) {
                return Err(crate::wait::scope_expired());
            }
            return Err(error_from_code(py, r));
        }
        Ok(())
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

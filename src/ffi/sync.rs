//! Sync: mutex, rwmutex, waitgroup, once, cond. Zero-initialised structs are ready; no
//! destroy; freeable as soon as the last call on them returned. Blocking calls park a
//! goroutine (its thread runs others) or block a foreign thread; all are switch points.

use std::ffi::c_int;
use std::ffi::c_void;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64};

use super::{entry, gmp_cond, gmp_fn, gmp_mutex, gmp_once, gmp_rwmutex, gmp_waitgroup};
use crate::error;
use crate::sync as s;

macro_rules! word {
    ($p:expr, $t:ty) => {{
        if $p.is_null() {
            return error::EINVAL;
        }
        // SAFETY: a non-NULL pointer to the caller's live, 8-byte aligned struct whose
        // first word is only ever accessed atomically by this library.
        unsafe { &*($p as *const $t) }
    }};
}

/// Locks `mu`, parking while another holds it. Waiters are served in FIFO order.
/// Returns 0; `GMP_EINVAL` (NULL); `GMP_ECANCELED` (the goroutine's home closed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_mutex_lock(mu: *mut gmp_mutex) -> c_int {
    entry!(Runtime, { s::mutex::lock(word!(mu, AtomicU32)) })
}

/// `gmp_mutex_lock` that gives up after `timeout_ns` (< 0: forever; 0: a trylock).
/// Returns 0 (locked), `GMP_ETIMEDOUT`, `GMP_EAGAIN` (timeout 0 and held), `GMP_EINVAL`
/// or `GMP_ECANCELED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_mutex_lock_timeout(mu: *mut gmp_mutex, timeout_ns: i64) -> c_int {
    entry!(Runtime, {
        crate::error::try_code(
            timeout_ns,
            s::mutex::lock_deadline(
                word!(mu, AtomicU32),
                crate::time::deadline_after(timeout_ns),
            ),
        )
    })
}

/// Locks `mu` if it is free. Returns 0, `GMP_EAGAIN` (held), or `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_mutex_trylock(mu: *mut gmp_mutex) -> c_int {
    entry!(Runtime, { s::mutex::trylock(word!(mu, AtomicU32)) })
}

/// Unlocks `mu` (any goroutine or thread may, as in Go). The struct is not touched after
/// the unlock takes effect, so it may be freed right after. Returns 0, or `GMP_EINVAL`
/// (NULL, or not locked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_mutex_unlock(mu: *mut gmp_mutex) -> c_int {
    entry!(Runtime, { s::mutex::unlock(word!(mu, AtomicU32)) })
}

/// Read-locks `rw`; parks while a writer holds it or waits (writers are not starved).
/// Returns 0, `GMP_EINVAL`, or `GMP_ECANCELED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_rwmutex_rlock(rw: *mut gmp_rwmutex) -> c_int {
    entry!(Runtime, { s::rwmutex::rlock(word!(rw, AtomicU64)) })
}

/// Read-locks `rw` if no writer holds or waits for it. 0, `GMP_EAGAIN` or `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_rwmutex_tryrlock(rw: *mut gmp_rwmutex) -> c_int {
    entry!(Runtime, { s::rwmutex::tryrlock(word!(rw, AtomicU64)) })
}

/// Drops one read lock. 0, or `GMP_EINVAL` (NULL, or not read-locked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_rwmutex_runlock(rw: *mut gmp_rwmutex) -> c_int {
    entry!(Runtime, { s::rwmutex::runlock(word!(rw, AtomicU64)) })
}

/// Write-locks `rw`. Returns 0, `GMP_EINVAL`, or `GMP_ECANCELED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_rwmutex_lock(rw: *mut gmp_rwmutex) -> c_int {
    entry!(Runtime, { s::rwmutex::lock(word!(rw, AtomicU64)) })
}

/// Write-locks `rw` if it is free. 0, `GMP_EAGAIN` or `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_rwmutex_trylock(rw: *mut gmp_rwmutex) -> c_int {
    entry!(Runtime, { s::rwmutex::trylock(word!(rw, AtomicU64)) })
}

/// Drops the write lock. 0, or `GMP_EINVAL` (NULL, or not write-locked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_rwmutex_unlock(rw: *mut gmp_rwmutex) -> c_int {
    entry!(Runtime, { s::rwmutex::unlock(word!(rw, AtomicU64)) })
}

/// Adds `delta` (may be negative) to the counter; at zero, every waiter wakes.
/// Returns 0, or `GMP_EINVAL` (NULL, or the counter would go below zero: unchanged).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_waitgroup_add(wg: *mut gmp_waitgroup, delta: i64) -> c_int {
    entry!(Runtime, { s::waitgroup::add(word!(wg, AtomicI64), delta) })
}

/// `gmp_waitgroup_add(wg, -1)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_waitgroup_done(wg: *mut gmp_waitgroup) -> c_int {
    entry!(Runtime, { s::waitgroup::add(word!(wg, AtomicI64), -1) })
}

/// Waits until the counter is zero. Returns 0, `GMP_EINVAL`, or `GMP_ECANCELED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_waitgroup_wait(wg: *mut gmp_waitgroup) -> c_int {
    entry!(Runtime, { s::waitgroup::wait(word!(wg, AtomicI64)) })
}

/// `gmp_waitgroup_wait` that gives up after `timeout_ns` (< 0: forever; 0: a check).
/// Returns 0 (the counter is zero), `GMP_ETIMEDOUT`, `GMP_EAGAIN` (timeout 0 and not
/// zero), `GMP_EINVAL` or `GMP_ECANCELED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_waitgroup_wait_timeout(
    wg: *mut gmp_waitgroup,
    timeout_ns: i64,
) -> c_int {
    entry!(Runtime, {
        crate::error::try_code(
            timeout_ns,
            s::waitgroup::wait_deadline(
                word!(wg, AtomicI64),
                crate::time::deadline_after(timeout_ns),
            ),
        )
    })
}

/// Runs `fn(arg)` if no call on `once` has run it yet; concurrent callers wait until it
/// has returned. Returns 0, or `GMP_EINVAL` (NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_once_do(once: *mut gmp_once, fn_: gmp_fn, arg: *mut c_void) -> c_int {
    entry!(Runtime, {
        let Some(f) = fn_ else { return error::EINVAL };
        let w = word!(once, AtomicU32);
        // SAFETY: the caller's function and argument.
        s::once::call(w, || unsafe { f(arg) })
    })
}

/// Atomically unlocks `mu` and waits for a signal, then relocks `mu` before returning.
/// Returns 0; `GMP_EINVAL` (NULL, or `mu` not locked); `GMP_ECANCELED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_cond_wait(c: *mut gmp_cond, mu: *mut gmp_mutex) -> c_int {
    entry!(Runtime, cond_wait(c, mu, -1))
}

/// `gmp_cond_wait` with a timeout (< 0: forever; 0: never blocks, returns `GMP_EAGAIN`
/// unless a signal was already pending). `mu` is relocked in every case.
/// Returns 0, `GMP_ETIMEDOUT`, `GMP_EAGAIN`, `GMP_EINVAL` or `GMP_ECANCELED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_cond_wait_timeout(
    c: *mut gmp_cond,
    mu: *mut gmp_mutex,
    timeout_ns: i64,
) -> c_int {
    entry!(Runtime, cond_wait(c, mu, timeout_ns))
}

fn cond_wait(c: *mut gmp_cond, mu: *mut gmp_mutex, timeout_ns: i64) -> c_int {
    if mu.is_null() {
        return error::EINVAL;
    }
    let cw = word!(c, AtomicU32);
    // SAFETY: non-NULL pointer to the caller's mutex.
    let mw = unsafe { &*(mu as *const AtomicU32) };
    crate::error::try_code(
        timeout_ns,
        s::cond::wait(cw, mw, crate::time::deadline_after(timeout_ns)),
    )
}

/// Wakes one waiter of `c`, if any. Returns 0 or `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_cond_signal(c: *mut gmp_cond) -> c_int {
    entry!(Runtime, { s::cond::signal(word!(c, AtomicU32), false) })
}

/// Wakes every waiter of `c`. Returns 0 or `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_cond_broadcast(c: *mut gmp_cond) -> c_int {
    entry!(Runtime, { s::cond::signal(word!(c, AtomicU32), true) })
}

//! Goroutine-local storage: pthread-style keys whose values belong to the goroutine
//! (`src/local.rs` has the design and why keys).

use std::ffi::{c_int, c_void};

use super::entry;
use super::types::gmp_local_key;
use crate::error;

/// Creates a key for goroutine-local values, as `pthread_key_create` does for threads:
/// every goroutine has its own value under it (NULL until it sets one). When a
/// goroutine's function returns, each of its non-NULL values whose key has a
/// `destructor` is set to NULL and `destructor(value)` is called on that goroutine;
/// this repeats (up to 4 rounds) while destructors set values again. On a thread that
/// is not running a goroutine the key gives that thread's own value, and the
/// destructors run when the thread exits.
///
/// Use it instead of `thread_local`/`__thread` for per-goroutine state: a goroutine may
/// resume on another thread after any switch point (a blocking call, `gmp_gosched`).
///
/// Returns 0 and the key in `*out`; `GMP_EINVAL` (NULL `out`); `GMP_EAGAIN` (1024 keys
/// exist already).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_local_key_create(
    out: *mut gmp_local_key,
    destructor: Option<unsafe extern "C" fn(value: *mut c_void)>,
) -> c_int {
    entry!(Runtime, {
        if out.is_null() {
            return error::EINVAL;
        }
        match crate::sched::local::key_create(destructor) {
            Ok(k) => {
                // SAFETY: checked non-NULL, writable by the caller's contract.
                unsafe { *out = k };
                0
            }
            Err(e) => e,
        }
    })
}

/// Deletes a key. Values set under it are not destroyed (as `pthread_key_delete`) and
/// read as NULL from now on; a key created later never sees them.
///
/// Returns 0, or `GMP_EINVAL` (not a live key).
#[unsafe(no_mangle)]
pub extern "C" fn gmp_local_key_delete(key: gmp_local_key) -> c_int {
    entry!(NoStart, crate::sched::local::key_delete(key))
}

/// The calling goroutine's value under `key` (on a thread not running a goroutine, the
/// thread's), or NULL when none was set or `key` is not a live key. Never blocks, never
/// switches; a few loads.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_local_get(key: gmp_local_key) -> *mut c_void {
    entry!(NoStart, crate::sched::local::get(key))
}

/// Sets the calling goroutine's value under `key` (on a thread not running a goroutine,
/// the thread's). Never switches.
///
/// Returns 0, or `GMP_EINVAL` (not a live key, or called while the thread exits).
#[unsafe(no_mangle)]
pub extern "C" fn gmp_local_set(key: gmp_local_key, value: *mut c_void) -> c_int {
    entry!(NoStart, crate::sched::local::set(key, value))
}

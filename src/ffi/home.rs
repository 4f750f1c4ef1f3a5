//! Homes: thread-bound run queues (engines, UI and GL threads, Python).

use std::ffi::c_int;
use std::ffi::c_void;

use super::{entry, gmp_fn, gmp_go_attr, gmp_goid, gmp_home};
use crate::error;
use crate::home::Home;
use crate::sched::g::Entry;
use crate::sched::proc::Spawn;

fn home<'a>(h: *mut gmp_home) -> Option<&'a Home> {
    // SAFETY: a non-NULL handle came from gmp_home_make and is alive until
    // gmp_home_free (the caller's contract).
    unsafe { (h as *const Home).as_ref() }
}

/// Makes a home bound to the calling thread: goroutines started with `gmp_go_home` run
/// only on this thread, when it calls `gmp_home_run` (or while it waits in any blocking
/// gmp call). One home per thread.
///
/// Returns 0 and the handle in `*out`; `GMP_EINVAL` (NULL `out`); `GMP_EALREADY` (this
/// thread has a home, or is a runtime thread); `GMP_ESHUTDOWN`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_home_make(out: *mut *mut gmp_home) -> c_int {
    entry!(Runtime, {
        if out.is_null() {
            return error::EINVAL;
        }
        match crate::home::make() {
            Ok(h) => {
                // SAFETY: checked non-NULL; the caller passes a writable pointer.
                unsafe { *out = h as *mut gmp_home };
                0
            }
            Err(e) => e,
        }
    })
}

fn go_home(
    h: *mut gmp_home,
    attr: *const gmp_go_attr,
    fn_: gmp_fn,
    arg: *mut c_void,
) -> Result<u64, c_int> {
    let (Some(h), Some(f)) = (home(h), fn_) else {
        return Err(error::EINVAL);
    };
    // SAFETY: forwarded caller contract.
    let (sp, name) = unsafe { super::goroutine::spawn_opts(attr) }?;
    h.spawn(
        Entry::C(f, arg),
        Spawn {
            name: name.as_deref(),
            ..sp
        },
    )
}

/// Starts a goroutine in home `h` (from any thread). `attr` may be NULL.
///
/// Returns 0; `GMP_EINVAL` (NULL `h` or `fn`); `GMP_ECLOSED` once the home is closed;
/// `GMP_E2BIG`; `GMP_ENOMEM`; `GMP_ESHUTDOWN`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_go_home(
    h: *mut gmp_home,
    attr: *const gmp_go_attr,
    fn_: gmp_fn,
    arg: *mut c_void,
) -> c_int {
    entry!(NoStart, {
        match go_home(h, attr, fn_, arg) {
            Ok(_) => 0,
            Err(e) => e,
        }
    })
}

/// `gmp_go_home` that also stores the new goroutine's id in `*out_id` (if not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_go_home_ex(
    h: *mut gmp_home,
    attr: *const gmp_go_attr,
    fn_: gmp_fn,
    arg: *mut c_void,
    out_id: *mut gmp_goid,
) -> c_int {
    entry!(NoStart, {
        match go_home(h, attr, fn_, arg) {
            Ok(id) => {
                if !out_id.is_null() {
                    // SAFETY: the caller passes a writable gmp_goid.
                    unsafe { *out_id = id };
                }
                0
            }
            Err(e) => e,
        }
    })
}

/// Home thread only; never waits: runs ready goroutines of `h` until none is ready or
/// `budget_ns` has passed (< 0: no budget).
///
/// Returns how many ran (saturating at INT_MAX); `GMP_ECLOSED` when the home is closed
/// and every goroutine has ended; `GMP_EINVAL` (NULL, not the home thread, or called
/// from a goroutine).
#[unsafe(no_mangle)]
pub extern "C" fn gmp_home_run(h: *mut gmp_home, budget_ns: i64) -> c_int {
    entry!(
        NoStart,
        match home(h) {
            Some(h) => h.run(budget_ns),
            None => error::EINVAL,
        }
    )
}

/// Home thread only: waits until a goroutine of `h` is ready, `gmp_home_wake`, or the
/// timeout (< 0: forever; 0: just check).
///
/// Returns 0 (work is ready), `GMP_EINTR` (woken), `GMP_ETIMEDOUT`, or `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_home_wait(h: *mut gmp_home, timeout_ns: i64) -> c_int {
    entry!(
        NoStart,
        match home(h) {
            Some(h) => h.wait(timeout_ns),
            None => error::EINVAL,
        }
    )
}

/// Sets whether blocking gmp calls made on the home's thread run the home's goroutines
/// while they wait (`reentrant` non-zero: the default, so `gmp_go_home(h, producer);
/// gmp_chan_recv(...)` on the home thread cannot deadlock) or not (0: only
/// `gmp_home_run` runs them, for frame code that must not be re-entered; a blocking call
/// that waits for one of the home's own goroutines then waits until the next
/// `gmp_home_run` after it, i.e. forever if made from the home thread). Any thread.
///
/// Returns the previous setting (1 or 0), or `GMP_EINVAL`.
///
/// ```c
/// gmp_home_set_reentrant(h, 0);   // frame code: gmp calls block without pumping h
/// simulate_frame();
/// gmp_home_run(h, 2000000);       // the home's goroutines run here, and only here
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gmp_home_set_reentrant(h: *mut gmp_home, reentrant: c_int) -> c_int {
    entry!(
        NoStart,
        match home(h) {
            Some(h) => c_int::from(h.set_reentrant(reentrant != 0)),
            None => error::EINVAL,
        }
    )
}

/// Makes a `gmp_home_wait` of `h` return `GMP_EINTR`. Any thread; async-signal-safe.
/// Returns 0 or `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_home_wake(h: *mut gmp_home) -> c_int {
    entry!(SignalSafe, {
        match home(h) {
            Some(h) => {
                h.wake();
                0
            }
            None => error::EINVAL,
        }
    })
}

/// An eventfd that is readable while goroutines of `h` are ready to run, for an
/// engine's or UI's own event loop (poll it, then call `gmp_home_run`). Owned by the
/// home: do not close it. Returns the fd or `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_home_fd(h: *mut gmp_home) -> c_int {
    entry!(NoStart, {
        match home(h) {
            Some(h) => h.fd(),
            None => error::EINVAL,
        }
    })
}

/// Closes `h` (any thread): no new goroutines; blocking calls of its goroutines return
/// `GMP_ECANCELED` from then on (the parked ones when the home thread next runs), so
/// they can finish. Keep calling `gmp_home_run` until it returns `GMP_ECLOSED`.
///
/// Returns 0; `GMP_ECLOSED` if already closed; `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_home_close(h: *mut gmp_home) -> c_int {
    entry!(
        NoStart,
        match home(h) {
            Some(h) => h.close(),
            None => error::EINVAL,
        }
    )
}

/// Frees `h`: home thread only, after `gmp_home_run` returned `GMP_ECLOSED`.
///
/// Returns 0; `GMP_EAGAIN` if it is not closed or goroutines remain; `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_home_free(h: *mut gmp_home) -> c_int {
    entry!(NoStart, {
        if h.is_null() {
            return error::EINVAL;
        }
        // SAFETY: the caller passes a live home and never uses it after success.
        unsafe { Home::free(h as *mut Home) }
    })
}

//! Operating-system primitives, one small module each (STYLE.md 10: backends behind one
//! contract): the futex the parkers sleep on, the clocks, the CPU count the default `maxprocs` comes
//! from, and thread naming. Everything here is Linux; nothing above this module calls
//! `libc` for these.

pub(crate) mod clock;
pub(crate) mod cpu;

use std::sync::atomic::{AtomicUsize, Ordering};

/// `__errno_location`, behind an atomic so the compiler cannot treat the call as
/// constant: glibc marks it `const`, and LLVM then computes the address once per
/// function. A goroutine that parks in between resumes maybe on another thread and would
/// read that thread's errno (DESIGN.md "Thread-locals move"; the netpoll tests caught it).
static ERRNO_LOCATION: AtomicUsize = AtomicUsize::new(0);

/// The calling thread's errno, read through an opaque call (see above).
#[inline(never)]
pub(crate) fn errno() -> i32 {
    let mut f = ERRNO_LOCATION.load(Ordering::Relaxed);
    if f == 0 {
        f = libc::__errno_location as *const () as usize;
        ERRNO_LOCATION.store(f, Ordering::Relaxed);
    }
    // SAFETY: f is __errno_location (stored above), which returns this thread's errno.
    unsafe {
        let loc: extern "C" fn() -> *mut libc::c_int = std::mem::transmute(f);
        *loc()
    }
}
pub(crate) mod futex;
pub(crate) mod lock;
pub(crate) mod lockrank;
pub(crate) mod mutex;
pub(crate) mod sanitizer;
pub(crate) mod valgrind;

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
/// [`page_size`]'s cache: 0 until its first call. Signal handlers read it directly
/// (a load is async-signal-safe; `sysconf` is not promised to be).
pub(crate) static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The system page size (cached; 4096 if `sysconf` gives nothing sensible).
pub(crate) fn page_size() -> usize {
    let p = PAGE_SIZE.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: sysconf has no preconditions.
    let r = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = match usize::try_from(r) {
        Ok(p) if p.is_power_of_two() && p >= 4096 => p,
        _ => 4096,
    };
    PAGE_SIZE.store(p, Ordering::Relaxed);
    p
}

/// A fresh private anonymous read-write mapping of `len` bytes (`MAP_NORESERVE`: pages
/// are backed on first touch) at an address the kernel picks; `None` when the kernel
/// refuses it (errno says why). The runtime's own memory that must not come from
/// `malloc`: stack slabs, G chunks, the scavengers' scratch lists.
pub(crate) fn map_anon(len: usize) -> Option<*mut libc::c_void> {
    // SAFETY: a new mapping at an address the kernel picks; nothing is overwritten.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p)
}

pub(crate) mod futex;
pub(crate) mod lock;
pub(crate) mod lockrank;
pub(crate) mod mutex;
pub(crate) mod sanitizer;
pub(crate) mod valgrind;

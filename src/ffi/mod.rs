//! The C ABI: every `extern "C"` item of libgmp lives under this module, and nothing
//! else does (hyper's C API is the model). Each function is a thin skin: check the
//! arguments (NULL or out of range: `GMP_EINVAL`, never a crash), call into the crate,
//! map the result to a code, and catch any Rust panic so it never crosses the ABI.
//! cbindgen turns these items and their doc comments into `include/gmp/gmp.h`.

#![allow(non_camel_case_types)]

pub mod chan;
pub mod debug;
pub mod goroutine;
pub mod home;
pub mod local;
pub mod netpoll;
pub mod runtime;
pub mod rust;
pub mod sync;
pub mod types;

pub use types::*;

// The ABI's codes are the crate's (error.rs, which knows nothing of the ABI) and errno's, and the sync structs keep their frozen sizes.
const _: () = {
    assert!(types::GMP_EINVAL == -libc::EINVAL);
    assert!(types::GMP_ENOMEM == -libc::ENOMEM);
    assert!(types::GMP_EAGAIN == -libc::EAGAIN);
    assert!(types::GMP_ETIMEDOUT == -libc::ETIMEDOUT);
    assert!(types::GMP_ECANCELED == -libc::ECANCELED);
    assert!(types::GMP_EDEADLK == -libc::EDEADLK);
    assert!(types::GMP_EALREADY == -libc::EALREADY);
    assert!(types::GMP_EINTR == -libc::EINTR);
    assert!(types::GMP_E2BIG == -libc::E2BIG);
    assert!(types::GMP_ECLOSED == crate::error::ECLOSED);
    assert!(types::GMP_ENOTGOROUTINE == crate::error::ENOTGOROUTINE);
    assert!(types::GMP_ESHUTDOWN == crate::error::ESHUTDOWN);
    assert!(std::mem::size_of::<types::gmp_mutex>() == 16);
    assert!(std::mem::size_of::<types::gmp_rwmutex>() == 32);
    assert!(std::mem::size_of::<types::gmp_waitgroup>() == 32);
    assert!(std::mem::size_of::<types::gmp_once>() == 16);
    assert!(std::mem::size_of::<types::gmp_cond>() == 32);
};

use crate::error::Code;

/// Runs `f`, turning a Rust panic into `fallback` after a message on stderr.
#[inline]
pub(crate) fn guard<R>(name: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    // Under TSan the library's own accesses are not the program's (sys/sanitizer.rs).
    let _tsan = crate::sys::sanitizer::Ignore::new();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(e) => {
            let msg = e
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!("gmp: internal error in {name}: {msg}");
            fallback
        }
    }
}

/// Reads a caller's struct under the `size` rule (API.md "Conventions"): the first
/// `size_t` is the caller's sizeof; read min(size, known) bytes, zero the rest; trailing
/// unknown bytes must be zero (else GMP_E2BIG). NULL gives None (defaults).
///
/// # Safety
/// `ptr` is NULL or points at `size` readable bytes whose first field is `size`.
pub(crate) unsafe fn read_sized<T: Copy>(ptr: *const T) -> Result<Option<T>, Code> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller promises at least the leading size_t is readable.
    let size = unsafe { std::ptr::read_unaligned(ptr as *const usize) };
    let known = std::mem::size_of::<T>();
    if size < std::mem::size_of::<usize>() {
        return Err(crate::error::EINVAL);
    }
    if size == known {
        // The common case (a caller built against this header): one plain read.
        // SAFETY: the caller's struct is exactly `known` bytes of a T.
        return Ok(Some(unsafe { std::ptr::read_unaligned(ptr) }));
    }
    if size > 4096 {
        // Linux's copy_struct_from_user refuses more than a page likewise: a garbage
        // size must not make us scan the caller's memory.
        return Err(crate::error::E2BIG);
    }
    if size > known {
        // SAFETY: the caller's struct is `size` bytes long.
        let extra =
            unsafe { std::slice::from_raw_parts((ptr as *const u8).add(known), size - known) };
        if extra.iter().any(|&b| b != 0) {
            return Err(crate::error::E2BIG);
        }
    }
    // SAFETY: T is a plain repr(C) struct for which all-zero is valid; we copy at most
    // min(size, known) bytes from the caller's readable struct.
    unsafe {
        let mut out: T = std::mem::zeroed();
        std::ptr::copy_nonoverlapping(
            ptr as *const u8,
            &mut out as *mut T as *mut u8,
            size.min(known),
        );
        Ok(Some(out))
    }
}

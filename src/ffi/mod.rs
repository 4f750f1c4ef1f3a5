//! The C ABI: every `extern "C"` item of libgmp lives under this module, and nothing
//! else does (hyper's C API is the model). Each function is a thin skin: its body is
//! `entry!(Needs, ...)` (below: the runtime check its class needs, and a panic guard so
//! no Rust panic crosses the ABI), which checks the arguments (NULL or out of range:
//! `GMP_EINVAL`, never a crash), calls into the crate and maps the result to a code.
//! cbindgen turns these items and their doc comments into `include/gmp/gmp.h`; the C
//! types and constants are gmp-sys's (`gmp-sys/src/types.rs`), which also declares
//! every function for Rust callers of `libgmp.so` (the ABI test checks the three agree).

#![allow(non_camel_case_types)]

pub mod chan;
pub mod debug;
pub mod goroutine;
pub mod home;
pub mod local;
pub mod netpoll;
pub mod runtime;
pub mod sync;

/// The C types and constants, declared once in gmp-sys (shared with the Python binding
/// and checked against the header by the ABI test).
pub use gmp_sys::types;
pub use types::*;

// Every function at `gmp::ffi::NAME` too: the ABI test matches each against its
// declaration in gmp-sys by that path.
pub use chan::*;
pub use goroutine::*;
pub use home::*;
pub use local::*;
pub use netpoll::*;
pub use runtime::*;
pub use sync::*;

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
    // The header's GMP_VERSION_* (gmp-sys's literals) are this package's version.
    assert!(types::GMP_VERSION_MAJOR == gmp_sys::parse_u32(env!("CARGO_PKG_VERSION_MAJOR")));
    assert!(types::GMP_VERSION_MINOR == gmp_sys::parse_u32(env!("CARGO_PKG_VERSION_MINOR")));
    assert!(types::GMP_VERSION_PATCH == gmp_sys::parse_u32(env!("CARGO_PKG_VERSION_PATCH")));
};

use crate::error::Code;

/// The one prologue of every `extern "C"` function: its body is
/// `entry!(Needs, { ... })` (or `entry!(Needs, on_panic = value, { ... })`). It
///
/// 1. checks the runtime state the function needs ([`Needs`]): starts the runtime on
///    first use, or refuses in a forked child, or nothing;
/// 2. runs the body under `catch_unwind`, so a Rust panic never crosses the ABI: it
///    becomes `gmp: internal error in gmp_xxx: <message>` on stderr and the function's
///    failure value ([`Ret::fail`]`(GMP_EINVAL)` unless `on_panic` says otherwise);
/// 3. under TSan, marks the library's own accesses as not the program's
///    (`sys/sanitizer.rs`).
///
/// The macro sits inside the body, not around the item (hyper's `ffi_fn!` wraps the
/// whole item, which cbindgen then sees only through macro expansion), so cbindgen and
/// the ABI test read every signature and doc comment as plain Rust. `return x` in the body
/// returns `x` from the function (the body is a closure). A function that only forwards
/// to another one calls that one's inner Rust function, never its `extern "C"` entry, so
/// no call pays the prologue twice.
///
/// Cost on the fast path: `catch_unwind` is free when nothing unwinds (the landing pad
/// is off the path); `Runtime` is `ensure_started`'s one state load (a forked child's
/// reads `ST_FORKED`); `NoStart` the fork flag's load; TSan's marker one byte load.
macro_rules! entry {
    ($needs:ident, $body:expr) => {
        entry!(
            $needs,
            on_panic = $crate::ffi::Ret::fail($crate::error::EINVAL),
            $body
        )
    };
    ($needs:ident, on_panic = $on_panic:expr, $body:expr) => {{
        // Names the enclosing function in the panic message (its path, through
        // `type_name`, read only when a panic happened).
        fn here() {}
        $crate::ffi::enter($crate::ffi::Needs::$needs, here, || $on_panic, || $body)
    }};
}
pub(crate) use entry;

/// What an `extern "C"` function needs of the runtime, checked by its prologue.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Starts the runtime on first use (with the `gmp_init` config or the defaults);
    /// fails with `GMP_ESHUTDOWN` after `gmp_shutdown` and in a forked child. Every call
    /// that blocks, spawns or makes an object.
    Runtime,
    /// Never starts the runtime; fails with `GMP_ESHUTDOWN` in a forked child (whose
    /// parent's threads may have held any runtime lock at the fork, and are gone): calls
    /// on existing objects, and the ones that have nothing to do before the start.
    NoStart,
    /// No check: pure functions (time, versions, `gmp_strerror`), `gmp_self`,
    /// `gmp_chan_retain` (one atomic increment), and `gmp_preempt_point`, whose rare slow
    /// path (`gosched`) checks the fork itself.
    Anywhere,
    /// As `NoStart`, for an async-signal-safe function (`gmp_home_wake`): it skips the
    /// sanitizer marker, whose first use may look the sanitizer up (not signal-safe).
    SignalSafe,
}

/// A return type of the ABI: the value a call returns when it fails with `code`.
pub(crate) trait Ret {
    fn fail(code: Code) -> Self;
}

impl Ret for i32 {
    #[inline(always)]
    fn fail(code: Code) -> Self {
        code
    }
}

impl Ret for i64 {
    #[inline(always)]
    fn fail(code: Code) -> Self {
        code as i64
    }
}

impl Ret for isize {
    #[inline(always)]
    fn fail(code: Code) -> Self {
        code as isize
    }
}

/// No room for a code: the call just returns.
impl Ret for () {
    #[inline(always)]
    fn fail(_: Code) -> Self {}
}

/// NULL.
impl<T> Ret for *mut T {
    #[inline(always)]
    fn fail(_: Code) -> Self {
        std::ptr::null_mut()
    }
}

/// NULL.
impl<T> Ret for *const T {
    #[inline(always)]
    fn fail(_: Code) -> Self {
        std::ptr::null()
    }
}

/// 0: no goroutine (`gmp_self`), no version.
impl Ret for u64 {
    #[inline(always)]
    fn fail(_: Code) -> Self {
        0
    }
}

/// 0.
impl Ret for u32 {
    #[inline(always)]
    fn fail(_: Code) -> Self {
        0
    }
}

/// The prologue behind [`entry!`]; `here` is a function item local to the caller, whose
/// type names it.
#[inline(always)]
pub(crate) fn enter<R: Ret, H>(
    needs: Needs,
    _here: H,
    on_panic: impl FnOnce() -> R,
    body: impl FnOnce() -> R,
) -> R {
    // Under TSan the library's own accesses are not the program's (sys/sanitizer.rs).
    let _tsan = (needs != Needs::SignalSafe).then(crate::sys::sanitizer::Ignore::new);
    let run = || {
        match needs {
            Needs::Runtime => {
                if let Err(e) = crate::start::ensure_started() {
                    return R::fail(e);
                }
            }
            Needs::NoStart | Needs::SignalSafe => {
                if crate::sched::lifecycle::is_forked_child() {
                    return R::fail(crate::error::ESHUTDOWN);
                }
            }
            Needs::Anywhere => {}
        }
        body()
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(r) => r,
        Err(e) => {
            report_panic(std::any::type_name::<H>(), &*e);
            on_panic()
        }
    }
}

/// `gmp: internal error in gmp_xxx: <panic message>` on stderr.
#[cold]
#[inline(never)]
fn report_panic(here: &str, e: &(dyn std::any::Any + Send)) {
    let msg = e
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| e.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("");
    eprintln!("gmp: internal error in {}: {msg}", function_name(here));
}

/// `gmp::ffi::chan::gmp_chan_close::here` -> `gmp_chan_close`.
fn function_name(here: &str) -> &str {
    let f = here.strip_suffix("::here").unwrap_or(here);
    f.rsplit("::").next().unwrap_or(f)
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

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn gmp_test_panics(code: i32) -> i32 {
        entry!(Anywhere, {
            if code < 0 {
                panic!("planted");
            }
            code
        })
    }

    extern "C" fn gmp_test_panics_void() {
        entry!(Anywhere, panic!("planted"))
    }

    extern "C" fn gmp_test_panics_ptr() -> *const std::ffi::c_char {
        entry!(Anywhere, on_panic = c"fallback".as_ptr(), panic!("planted"))
    }

    #[test]
    fn a_panic_becomes_the_failure_value() {
        assert_eq!(gmp_test_panics(7), 7);
        assert_eq!(gmp_test_panics(-1), crate::error::EINVAL);
        gmp_test_panics_void();
        // SAFETY: the fallback is a static C string.
        let s = unsafe { std::ffi::CStr::from_ptr(gmp_test_panics_ptr()) };
        assert_eq!(s, c"fallback");
    }

    #[test]
    fn the_message_names_the_function() {
        fn here() {}
        let name = std::any::type_name_of_val(&here);
        assert!(
            name.ends_with("::tests::the_message_names_the_function::here"),
            "{name}"
        );
        assert_eq!(function_name(name), "the_message_names_the_function");
        assert_eq!(
            function_name("gmp::ffi::chan::gmp_chan_close::here"),
            "gmp_chan_close"
        );
    }
}

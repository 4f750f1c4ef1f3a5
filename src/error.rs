//! Error codes: negative errno values where one fits (so I/O errors pass through
//! unchanged), plus three of gmp's own. API.md "Conventions" is the contract.

/// A negative `GMP_E*` code or a negative errno.
pub(crate) type Code = i32;

pub(crate) const EINVAL: Code = -libc::EINVAL;
pub(crate) const ENOMEM: Code = -libc::ENOMEM;
pub(crate) const EAGAIN: Code = -libc::EAGAIN;
pub(crate) const ETIMEDOUT: Code = -libc::ETIMEDOUT;
pub(crate) const ECANCELED: Code = -libc::ECANCELED;
pub(crate) const EDEADLK: Code = -libc::EDEADLK;
pub(crate) const EALREADY: Code = -libc::EALREADY;
pub(crate) const EINTR: Code = -libc::EINTR;
pub(crate) const E2BIG: Code = -libc::E2BIG;
pub(crate) const ECLOSED: Code = -4097;
pub(crate) const ENOTGOROUTINE: Code = -4098;
pub(crate) const ESHUTDOWN: Code = -4099;

/// A static, NUL-terminated description of `code` (API.md: `gmp_strerror`).
pub(crate) fn strerror(code: i32) -> &'static std::ffi::CStr {
    match code {
        0 => c"success",
        ECLOSED => c"GMP_ECLOSED: channel or home closed",
        ENOTGOROUTINE => c"GMP_ENOTGOROUTINE: the call needs a goroutine",
        ESHUTDOWN => c"GMP_ESHUTDOWN: the runtime is shut down (or this is a forked child)",
        EINVAL => c"GMP_EINVAL: invalid argument",
        ENOMEM => c"GMP_ENOMEM: out of memory",
        EAGAIN => c"GMP_EAGAIN: operation would block",
        ETIMEDOUT => c"GMP_ETIMEDOUT: timed out",
        ECANCELED => c"GMP_ECANCELED: canceled",
        EDEADLK => c"GMP_EDEADLK: deadlock",
        EALREADY => c"GMP_EALREADY: already done or already running",
        EINTR => c"GMP_EINTR: interrupted",
        E2BIG => c"GMP_E2BIG: unknown non-zero trailing bytes in a struct",
        c if c < 0 && c > -4096 => errno_name(-c),
        _ => c"unknown gmp error code",
    }
}

/// The C library's text for errno `e`, interned so the pointer stays valid forever.
fn errno_name(e: i32) -> &'static std::ffi::CStr {
    use crate::sys::mutex::Mutex;
    use std::collections::HashMap;
    use std::ffi::CString;
    static NAMES: Mutex<Option<HashMap<i32, &'static std::ffi::CStr>>> =
        Mutex::new(crate::sys::mutex::Rank::ErrorNames, None);
    let mut g = NAMES.lock();
    let map = g.get_or_insert_with(HashMap::new);
    if let Some(s) = map.get(&e) {
        return s;
    }
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: the buffer is 128 bytes and its length is passed; the XSI strerror_r that
    // libc exposes writes a NUL-terminated string into it or returns an error.
    let rc = unsafe { libc::strerror_r(e, buf.as_mut_ptr(), buf.len()) };
    let text = if rc == 0 {
        // SAFETY: strerror_r succeeded, so buf holds a NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    } else {
        format!("errno {e}")
    };
    let leaked: &'static std::ffi::CStr =
        Box::leak(CString::new(text).unwrap_or_default().into_boxed_c_str());
    map.insert(e, leaked);
    leaked
}

/// Timeout 0 means "try" (API.md): a call that would have blocked returns `GMP_EAGAIN`,
/// not `GMP_ETIMEDOUT`.
#[inline]
pub(crate) fn try_code(timeout_ns: i64, rc: Code) -> Code {
    if timeout_ns == 0 && rc == ETIMEDOUT {
        EAGAIN
    } else {
        rc
    }
}

/// [`try_code`] for byte counts.
#[inline]
pub(crate) fn try_len(timeout_ns: i64, rc: isize) -> isize {
    if timeout_ns == 0 && rc == ETIMEDOUT as isize {
        EAGAIN as isize
    } else {
        rc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names() {
        assert!(strerror(ECLOSED).to_str().unwrap().contains("ECLOSED"));
        assert!(strerror(-libc::ECONNRESET).to_str().unwrap().len() > 3);
        assert_eq!(
            strerror(-libc::EPIPE).as_ptr(),
            strerror(-libc::EPIPE).as_ptr()
        );
        assert!(strerror(12345678).to_str().unwrap().contains("unknown"));
    }
}

//! `futex(2)` wait and wake on a 32-bit word: the primitive behind every parker (an idle
//! M, a foreign thread blocked in a channel call, a home thread waiting for work). Go's
//! `lock_futex.go` uses the same two calls for its `note`s.

use std::sync::atomic::AtomicU32;

/// Sleeps while `*word == expected`, at most `timeout_ns` (< 0: no limit). Returns early on
/// a wake, a signal or a spurious wake-up: callers always re-check their condition.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout_ns: i64) {
    let ts;
    let tsp = if timeout_ns < 0 {
        std::ptr::null()
    } else {
        ts = libc::timespec {
            tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
        };
        &ts as *const libc::timespec
    };
    // SAFETY: `word` is a live AtomicU32 (same layout as u32) for the whole call; the
    // kernel only reads it and the optional timespec, which outlives the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            tsp,
        );
    }
}

/// Wakes up to `n` threads sleeping in [`wait`] on `word`.
pub(crate) fn wake(word: &AtomicU32, n: i32) {
    // SAFETY: FUTEX_WAKE only uses the address as a key; it never dereferences freed
    // memory, and `word` is live here anyway.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
        );
    }
}

//! Clocks: `gmp_now` (CLOCK_MONOTONIC), a coarse clock for bookkeeping, and the tick
//! sysmon publishes (`TICK_NOW`). Leaf module: every layer reads time from here.

use std::sync::atomic::{AtomicI64, Ordering};

/// Monotonic nanoseconds (CLOCK_MONOTONIC), `gmp_now`.
pub(crate) fn now() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// `now()` as sysmon last saw it (it ticks at least once a second while the runtime
/// lives); 0 before sysmon ran.
pub(crate) static TICK_NOW: AtomicI64 = AtomicI64::new(0);

/// A clock good to about a second, for "waiting since" in dumps (which show minutes, as
/// Go's): one load instead of a clock read on every park. Go's `waitsince` is as
/// coarse (set lazily by the garbage collector).
#[inline]
pub(crate) fn tick_now() -> i64 {
    match TICK_NOW.load(Ordering::Relaxed) {
        0 => coarse_now(),
        t => t,
    }
}

/// A cheap monotonic clock with tick resolution (CLOCK_MONOTONIC_COARSE), for
/// bookkeeping such as how long a goroutine has waited.
pub(crate) fn coarse_now() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// `now + ns`, saturating (a huge timeout is forever in practice).
pub(crate) fn deadline_after(ns: i64) -> i64 {
    if ns < 0 { -1 } else { now().saturating_add(ns) }
}

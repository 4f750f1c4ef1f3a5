//! `gmp::rt`: a small Rust API over the same machinery, for the integration tests and
//! benchmarks. Not a stable interface, and not part of the C ABI (which is `ffi/`): it
//! calls the scheduler directly, with Rust closures, and sits beside `ffi/` at the top of
//! the layers.

use crate::sched::g::Entry;
use crate::sched::proc::{self, Spawn};

/// Starts a goroutine running `f`.
pub fn go(f: impl FnOnce() + Send + 'static) -> Result<u64, i32> {
    crate::start::ensure_started()?;
    proc::newproc(Entry::Rust(Box::new(f)), Spawn::default())
}

/// Starts a goroutine with a name and stack size.
pub fn go_named(
    name: &std::ffi::CStr,
    stack_size: usize,
    f: impl FnOnce() + Send + 'static,
) -> Result<u64, i32> {
    crate::start::ensure_started()?;
    proc::newproc(
        Entry::Rust(Box::new(f)),
        Spawn {
            name: Some(name),
            stack_size,
            ..Spawn::default()
        },
    )
}

/// Runs `f` as the main goroutine on this thread (gmp_main).
pub fn main(f: impl FnOnce() + Send + 'static) -> i32 {
    if let Err(e) = crate::start::ensure_started() {
        return e;
    }
    proc::run_main(Entry::Rust(Box::new(f)), Spawn::default())
}

/// Timers in every P's heap now (a released or stopped timer channel's timer leaves at
/// the next sweep of its heap, not at its deadline).
pub fn pending_timers() -> usize {
    crate::sched::findrunnable::pending_timers()
}

/// The running goroutine's stack: (lowest address of its slot, which starts with the
/// guard page; usable bytes above the guard). (0, 0) outside a goroutine. For tests.
pub fn current_stack_bounds() -> (usize, usize) {
    crate::sched::lifecycle::current_stack_bounds()
}

pub use crate::sched::gslab::GSlabStats;

/// The G slabs' counters (`sched/gslab.rs`): what the scavenger gave back. For tests.
pub fn g_slab_stats() -> GSlabStats {
    crate::sched::gslab::stats()
}

/// Runs one pass of the G scavenger now (sysmon runs one about once a second); returns
/// the pages it gave back. For tests.
pub fn scavenge_gs() -> usize {
    crate::sched::gslab::scavenge()
}

//! Goroutine-aware sync types over the sema table (`sema.rs`): they park a G, never its
//! M, and block a foreign thread on its own futex. All-zero is the ready state; the
//! struct holds only state words, and no call touches it after its releasing store, so
//! C may free it as soon as the last call on it returned (DESIGN.md "Sync and freeing").

pub(crate) mod cond;
pub(crate) mod mutex;
pub(crate) mod once;
pub(crate) mod rwmutex;
pub(crate) mod waitgroup;

/// Spins briefly before parking, as Go's `sync_runtime_canSpin` allows: only with more
/// than one P, and only a few rounds.
pub(crate) fn spin_round(i: u32) -> bool {
    if i >= 4 || crate::sched::SCHED.procs() <= 1 {
        return false;
    }
    for _ in 0..30 {
        std::hint::spin_loop();
    }
    true
}

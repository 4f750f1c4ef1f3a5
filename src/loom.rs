//! One place that picks `std` or `loom` primitives, as Tokio does: the lock-free parts
//! (`sched::runq`) import their atomics from here, so `RUSTFLAGS="--cfg loom"`
//! model-checks them without touching the rest of the crate. The wait word
//! (`sched::wait::proto`) is generic over its atomics instead, and `sys::lock` switches
//! its word and futex on `cfg(loom)` itself; [`model`] runs the models of those two.

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, fence};
#[cfg(not(loom))]
#[allow(unused_imports)] // the full set, for lock-free code yet to come
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, fence};

/// Runs a loom model (`sched::runq`'s keep their own runner). Bounded to 3 preemptions
/// by default (as Tokio's CI bounds its models; every bug these models target needs at
/// most two); `GMP_STRESS=1` explores every interleaving (minutes),
/// `LOOM_MAX_PREEMPTIONS` sets the bound explicitly. Prints the iterations explored.
#[cfg(all(test, loom))]
pub(crate) fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize as StdUsize, Ordering::Relaxed};
    // A std atomic (it outlives loom's executions), one per model: tests run in parallel.
    let iterations = std::sync::Arc::new(StdUsize::new(0));
    let count = iterations.clone();
    let t0 = std::time::Instant::now();
    let mut b = loom::model::Builder::new();
    let exhaustive = std::env::var("GMP_STRESS").is_ok_and(|v| !v.is_empty() && v != "0");
    if b.preemption_bound.is_none() && !exhaustive {
        b.preemption_bound = Some(3);
    }
    let bound = b.preemption_bound;
    b.check(move || {
        count.fetch_add(1, Relaxed);
        f()
    });
    eprintln!(
        "loom {name}: {} iterations in {:?} (preemption bound {bound:?})",
        iterations.load(Relaxed),
        t0.elapsed()
    );
}

#[cfg(all(test, loom))]
#[path = "sched/spin_loom.rs"]
mod spin_loom;

//! One place that picks `std` or `loom` primitives, as Tokio does: the lock-free parts
//! (`sched::runq`, `park::Parker`) import their atomics from here, so `RUSTFLAGS="--cfg loom"`
//! model-checks them without touching the rest of the crate.

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, fence};
#[cfg(not(loom))]
#[allow(unused_imports)] // the full set, for lock-free code yet to come
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, fence};

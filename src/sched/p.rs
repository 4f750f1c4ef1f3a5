//! P: a processor, the right to run Go code (here: goroutines). Holds the local run
//! queue, the timers and the caches an M uses without locks while it holds the P.
//!
//! ## Status (Go's numbers), and who owns the P in each
//! - `IDLE` (0): on the idle list (`sched.pidle`), owned by the scheduler lock.
//! - `RUNNING` (1): held by exactly one M, which alone may touch `local`, put to `runq`
//!   and pop from it (others may only steal).
//! - `SYSCALL` (2): its M is in a blocking call; sysmon may retake it (netpoll issue).
//! - `DEAD` (4): beyond `gomaxprocs`; its queue and timers were handed on. P's are never
//!   freed (Go keeps them too), so a stealer holding an old pointer stays safe.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, AtomicU64};

use super::g::{G, GRef};
use super::m::M;
use super::runq::RunQueue;
use crate::stack::StackCache;

pub(crate) const IDLE: u32 = 0;
pub(crate) const RUNNING: u32 = 1;
pub(crate) const SYSCALL: u32 = 2;
pub(crate) const DEAD: u32 = 4;

pub(crate) struct P {
    pub(crate) id: usize,
    pub(crate) status: AtomicU32,
    pub(crate) runq: RunQueue<G>,
    pub(crate) schedtick: AtomicU32,
    pub(crate) syscalltick: AtomicU32,
    pub(crate) m: AtomicPtr<M>,
    pub(crate) timers: crate::sched::timers::Timers,
    pub(crate) context_switches: AtomicU64,
    pub(crate) steals: AtomicU64,
    /// Goroutines created here, and created minus ended here (either may run on
    /// different P's, so `live` alone may be negative). Written by the holder only, so a
    /// spawn touches no shared line: a global counter cost a third of `gmp_go` on 2 P.
    /// Summed by `proc::goroutine_count`.
    pub(crate) created: AtomicU64,
    pub(crate) live: AtomicI64,
    pub(crate) local: UnsafeCell<PLocal>,
}

/// What only the holder of the P touches.
pub(crate) struct PLocal {
    pub(crate) stacks: StackCache,
    pub(crate) gfree: Vec<GRef>,
    /// Trace events not yet flushed (tracefile.rs).
    pub(crate) trace: Vec<super::trace::Ev>,
    pub(crate) trace_epoch: u64,
    /// Goroutine ids handed out from a batch taken from `sched.goidgen` (Go's
    /// `goidcache`): the next one, and the end of the batch.
    pub(crate) goid_next: u64,
    pub(crate) goid_end: u64,
}

// SAFETY: shared fields are atomics or internally locked; `local` is touched only by the
// M that holds the P (status RUNNING), which the scheduler lock hands over.
unsafe impl Sync for P {}
// SAFETY: as above.
unsafe impl Send for P {}

impl P {
    pub(crate) fn new(id: usize, stack_size: usize) -> &'static P {
        Box::leak(Box::new(P {
            id,
            status: AtomicU32::new(IDLE),
            runq: RunQueue::new(),
            schedtick: AtomicU32::new(0),
            syscalltick: AtomicU32::new(0),
            m: AtomicPtr::new(std::ptr::null_mut()),
            timers: crate::sched::timers::Timers::new(),
            context_switches: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            created: AtomicU64::new(0),
            live: AtomicI64::new(0),
            local: UnsafeCell::new(PLocal {
                stacks: StackCache::new(stack_size),
                gfree: Vec::new(),
                trace: Vec::new(),
                trace_epoch: 0,
                goid_next: 0,
                goid_end: 0,
            }),
        }))
    }

    /// The holder-only part.
    ///
    /// # Safety
    /// The caller must be the M holding this P.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn local(&self) -> &mut PLocal {
        // SAFETY: exclusive by the caller's obligation.
        unsafe { &mut *self.local.get() }
    }
}

/// A `&'static P` that can live in the scheduler's lists.
#[derive(Clone, Copy)]
pub(crate) struct PRef(pub(crate) &'static P);

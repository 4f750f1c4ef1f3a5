//! Lock ranks: the runtime's lock order as data (Go's `lockrank.go`). Every runtime lock
//! is made with its rank; in debug builds the lock wrappers (`sys::mutex`, `sys::lock`)
//! check at each acquisition that every lock the thread already holds has a lower rank
//! (outermost first), or the same rank when that rank may be held several at a time
//! (channels, which select locks in address order). A violation is a fatal error naming
//! both locks. Release builds carry no rank and pay nothing.
//!
//! Differences from Go: one total order instead of a partial order with explicit
//! edges (the runtime has few locks, and a total order is easier to read); `try_lock`
//! is not checked (it cannot deadlock, and the fault describer calls it from a signal
//! handler, where the thread's list could be half-updated).

/// The ranks, outermost first. A lock may be taken while holding only locks above it in
/// this list.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[repr(u8)]
pub(crate) enum Rank {
    /// Test-only locks, taken around whole tests (several may be held).
    #[cfg_attr(not(test), allow(dead_code))]
    Test,
    /// `gmp_init` / first start (sched/mod.rs INIT): held across the whole start.
    Init,
    /// The configuration `gmp_init` recorded.
    Config,
    /// The thread start/stop callbacks (sched/m.rs).
    ThreadHooks,
    /// The trace file's path (diag/tracefile.rs), held while a trace starts.
    TracePath,
    /// Which onces run now (sync/once.rs).
    Once,
    /// A timer channel's fire/stop lock (sched/timers.rs `ChanTimer`): held across the
    /// send on its channel and the re-arm.
    ChanTimer,
    /// A sema bucket (sema.rs): held across enqueue and the park's commit.
    Sema,
    /// A channel (chan.rs, `sys::Lock`); select holds several, in address order.
    Chan,
    /// A poll descriptor (sched/netpoll.rs).
    PollDesc,
    /// The poll descriptor table.
    PollTable,
    /// `Sched::lock`: the global run queue, idle P's and M's.
    Sched,
    /// A home's members (sched/home.rs).
    HomeMembers,
    /// A home's run queue.
    HomeQueue,
    /// A P's timer heap (sched/timers.rs).
    Timers,
    /// Dead G's without a P (`Sched::gfree`).
    GFree,
    /// Every G (`Sched::allgs`).
    AllGs,
    /// Every M (`Sched::allm`).
    AllM,
    /// Runtime threads' join handles.
    Threads,
    /// Stack slabs and free lists (stack/mod.rs).
    Stacks,
    /// Goroutine-local keys (sched/local.rs).
    LocalKeys,
    /// Foreign threads' waiters (sched/wait.rs).
    ThreadWaiters,
    /// The trace's shared buffer (sched/trace.rs).
    TraceBuf,
    /// The G slabs' carving state (sched/gslab.rs).
    GSlab,
    /// A G's name.
    GName,
    /// Error names (error.rs).
    ErrorNames,
}

impl Rank {
    /// Whether a thread may hold several locks of this rank at once.
    fn multi(self) -> bool {
        matches!(self, Rank::Chan | Rank::Test)
    }
}

/// The held lock that taking `r` would violate the order against, if any.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn violation<'a>(held: impl Iterator<Item = &'a Rank>, r: Rank) -> Option<Rank> {
    held.copied().find(|&h| h > r || (h == r && !r.multi()))
}

#[cfg(debug_assertions)]
mod check {
    use std::cell::Cell;

    use super::Rank;

    const MAX_HELD: usize = 32;

    thread_local! {
        static HELD: Cell<[Option<Rank>; MAX_HELD]> = const { Cell::new([None; MAX_HELD]) };
        static N: Cell<usize> = const { Cell::new(0) };
    }

    /// Checks `r` against the locks this thread holds and records it.
    pub(crate) fn acquire(r: Rank) {
        let held = HELD.with(Cell::get);
        let n = N.with(Cell::get);
        if let Some(h) = super::violation(held[..n.min(MAX_HELD)].iter().flatten(), r) {
            crate::fatal(&format!(
                "lock rank: acquiring {r:?} while holding {h:?} (sys/lockrank.rs)"
            ));
        }
        if n < MAX_HELD {
            let mut held = held;
            held[n] = Some(r);
            HELD.with(|c| c.set(held));
        }
        N.with(|c| c.set(n + 1));
    }

    /// Forgets one held lock of rank `r` (guards may drop out of order).
    pub(crate) fn release(r: Rank) {
        let mut held = HELD.with(Cell::get);
        let n = N.with(Cell::get);
        if n == 0 {
            return;
        }
        if n <= MAX_HELD {
            if let Some(i) = held[..n].iter().rposition(|h| *h == Some(r)) {
                held.copy_within(i + 1..n, i);
                held[n - 1] = None;
                HELD.with(|c| c.set(held));
            }
        }
        N.with(|c| c.set(n - 1));
    }
}

#[cfg(debug_assertions)]
pub(crate) use check::{acquire, release};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order() {
        assert_eq!(violation([Rank::Sched].iter(), Rank::Timers), None);
        assert_eq!(
            violation([Rank::Timers].iter(), Rank::Sched),
            Some(Rank::Timers)
        );
        assert_eq!(
            violation([Rank::Sched].iter(), Rank::Sched),
            Some(Rank::Sched)
        );
        // select holds several channels.
        assert_eq!(violation([Rank::Chan, Rank::Chan].iter(), Rank::Chan), None);
        assert_eq!(
            violation([Rank::Sema, Rank::Chan].iter(), Rank::Sched),
            None
        );
        assert_eq!(
            violation([Rank::Stacks].iter(), Rank::AllGs),
            Some(Rank::Stacks)
        );
    }

    #[cfg(debug_assertions)]
    #[test]
    fn held_list_forgets_out_of_order() {
        check::acquire(Rank::Sched);
        check::acquire(Rank::Timers);
        check::release(Rank::Sched);
        // Sched is no longer held: taking it again is fine, under Config it is not.
        check::acquire(Rank::AllGs);
        check::release(Rank::AllGs);
        check::release(Rank::Timers);
        check::acquire(Rank::Config);
        check::acquire(Rank::Sched);
        check::release(Rank::Sched);
        check::release(Rank::Config);
    }
}

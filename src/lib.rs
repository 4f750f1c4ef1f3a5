//! # libgmp: Go's scheduler for every language
//!
//! Goroutines, channels, select, timers and goroutine-aware sync for C, C++ and Python,
//! on Go's G/M/P scheduler, behind a stable C ABI (`include/gmp/gmp.h`).
//!
//! ## The model in one page
//! A **G** (goroutine) is a saved context on its own fixed-size stack (`stack/`: slabs of
//! guarded, lazily committed stacks; C code holds pointers into its stack, so stacks
//! never move or grow by copying as Go's do). An **M** is an OS thread; it runs G's only
//! while it holds a **P**, one of `gomaxprocs` processors. Each P has a local run queue
//! (`sched/runq.rs`, Go's 256-slot ring plus `runnext`); there is a global queue too.
//! An M runs its scheduler loop on its own thread stack and switches into a G
//! (`sched/cswitch.rs`); a G that parks, yields or ends switches straight to its P's
//! next G when one is at hand, else back to the loop. Idle M's spin a
//! little (stealing half of another P's queue), then sleep on a futex; one idle M sleeps
//! in the poller until the next timer. `sched/mod.rs` has the parking protocol.
//!
//! Blocking goes through one [`park`] protocol whose waiter is either a G (readied onto a
//! run queue) or a foreign thread (woken on its futex), which is what lets every call work
//! from any thread. Channels, select, the sema table behind the sync types, and timers
//! all block that way. A **home** (`home.rs`, `sched/home.rs`) is a run queue bound to a
//! thread the runtime does not own (an engine's main thread, a Python thread): its
//! goroutines run only there, when it pumps.
//!
//! ## Layers (each imports only the ones below it)
//! 1. `sys/` (futex, the `Lock` word, the non-poisoning `Mutex`, clocks, CPU count,
//!    valgrind, the sanitizer entry points), `util`, `error`, `loom`: leaves.
//! 2. `stack/`: slabs and guards (`mod.rs`), the per-P cache (`cache.rs`), the overflow
//!    handler and alternate signal stacks (`overflow.rs`), the scavengers' scratch lists
//!    (`scratch.rs`).
//! 3. `sched/`, the scheduler, one concept a file: `g.rs` `m.rs` `p.rs` (the structs),
//!    `gslab.rs` (the type-stable pages G's live in, and the G scavenger),
//!    `runq.rs` (the local ring), `schedule.rs` (the run loop and direct switches),
//!    `procresize.rs` (acquire, release, resize P's), `idle.rs` (idle P's and M's,
//!    spinning, `wakep`, hand-offs, the thread cap), `queue.rs` (global queue, `runqput`,
//!    `ready`), `findrunnable.rs` (timers, poller, stealing), `proc.rs` (spawn, G free
//!    lists, ids, counts, LockOSThread, `gmp_main`), `lifecycle.rs` (fork, shutdown,
//!    stats), `syscall.rs` (entersyscall/exitsyscall, syscall sections,
//!    `gmp_blocking`), `sysmon.rs` (retake, preemption marks, checkdead), `cswitch.rs`
//!    (the stack switch), and what the scheduler owns
//!    because it must act on it without calling up: `wait.rs` (the wait word: `WaitRef`,
//!    the thread waiter, claim and wake), `timers.rs` (per-P timer heaps), `netpoll.rs`
//!    (the poller core: epoll, poll descriptors, `poll`), `home.rs` (a home's queue and
//!    run loop), `local.rs` (goroutine-local values), `trace.rs` (the execution trace's
//!    per-P recording), `sanitizer.rs` (what ASan/TSan hear at a switch). Its files import
//!    each other freely; nothing in it imports a layer above. Its only ways up are
//!    `ready(g)` (a G's waker runs it) and `hooks.rs`: the diagnostics and debugger
//!    exports it is handed at start.
//! 4. `park.rs`: the parking protocol (prepare, park with a commit, deadlines, a foreign
//!    thread's sleep while its home pumps) on the wait word.
//! 5. On park: `chan.rs`, `select.rs`, `sema.rs` and `sync/` (mutex, rwmutex, waitgroup,
//!    once, cond); `time.rs` (sleep, after, ticker); `netpoll.rs` (the fd calls: read,
//!    write, accept, connect, close); `home.rs` (the `gmp_home_*` API). Beside them
//!    `diag/` reads the scheduler from above: the goroutine dump and schedtrace
//!    (`dump.rs`), `GMP_DEBUG` (`debug.rs`), the trace file (`tracefile.rs`).
//! 6. `start.rs` wires the layers (the hooks) and starts the runtime (Go's `rt0_go` +
//!    `schedinit`); `ffi/` (the only `extern "C"` items) and `rt` (the Rust API for tests
//!    and benchmarks) are the top.
//!
//! Check with `modgraph src`: its one strongly connected component is `sched::*`.
//!
//! ## What was tried and dropped
//! - `crossbeam-deque` for the local queue: Go's fixed ring with `runnext` keeps the
//!   just-readied G on the same P (the hand-off pattern of channels) and needs no
//!   allocation; crossbeam's Worker has no `runnext` and allocates its buffer.
//! - A stop-the-world `gomaxprocs` change: C code cannot be preempted, so STW could wait
//!   forever behind one busy goroutine; P's retire lazily instead.

#![allow(clippy::missing_safety_doc)]

pub(crate) mod chan;
pub(crate) mod diag;
pub(crate) mod error;
pub mod ffi;
pub(crate) mod home;
pub(crate) mod loom;
pub(crate) mod netpoll;
pub(crate) mod park;
pub(crate) mod sched;
pub(crate) mod select;
pub(crate) mod sema;
pub(crate) mod stack;
pub(crate) mod start;
pub(crate) mod sync;
pub(crate) mod sys;
pub(crate) mod time;
pub(crate) mod util;

/// Prints `gmp: fatal error: msg` and aborts: for broken invariants inside the
/// scheduler, where unwinding is impossible (we may be between two stacks).
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    util::write_stderr(b"gmp: fatal error: ");
    util::write_stderr(msg.as_bytes());
    util::write_stderr(b"\n");
    std::process::abort()
}

pub mod rt;

//! The scheduler: Go's G/M/P model (`runtime/proc.go`), in Rust.
//!
//! - **G** (`g.rs`): a goroutine: a context on its own fixed-size stack.
//! - **M** (`m.rs`): an OS thread. It runs goroutines only while it holds a P.
//! - **P** (`p.rs`): a processor, one of `gomaxprocs`. It owns a local run queue (a
//!   256-slot ring plus `runnext`, `runq.rs`), timers and caches.
//!
//! The scheduler loop runs on the M's own thread stack (Go's g0) and switches to the next
//! G (`cswitch.rs`); a G switches back with a [`g::Switch`] that says why. A G that parks
//! or yields while its P has a G ready next switches straight to it, handing over what
//! must be done for the one that left (`schedule::switch_from_g`): one switch instead
//! of two.
//!
//! ## Worker parking and unparking (Go's protocol, followed as written in proc.go)
//! We want enough running M's to use the P's, but not so many that they burn CPU
//! looking for work. An M is *spinning* when it is out of local work and looking in the
//! global queue, the timers and other P's queues. There is at most one spinning M per
//! busy P's half (`2 * nmspinning < gomaxprocs - npidle`).
//! 1. When a goroutine is made ready (`ready`, `newproc`) and there is an idle P and no
//!    spinning M, `wakep` unparks an M with an idle P and makes it spinning.
//! 2. A spinning M that finds work stops spinning; if it was the last spinning one it
//!    calls `wakep` again, so a burst of work ramps M's up one at a time.
//! 3. A spinning M that finds nothing puts its P on the idle list *first*, then drops
//!    `nmspinning`, then looks at every P's run queue once more (with a full fence
//!    between): a `ready` that raced with it either saw `nmspinning > 0` and skipped
//!    `wakep` (then this re-check finds its G), or saw the idle P and woke someone.
//! 4. When nothing is runnable, one M blocks in the poller with the earliest timer as
//!    its time-out (`sched.lastpoll == 0` while it does); the others sleep on their
//!    futex (`stopm`). An earlier new timer interrupts the poller (`wakenetpoller`).
//!
//! ## Where this differs from Go
//! - `gomaxprocs` changes without stopping the world: C code cannot be preempted, so a
//!   stop-the-world could wait forever. Growing adds idle P's; shrinking marks the P's
//!   past the new count, and each one's M hands its queue and timers on and idles the P
//!   as `DEAD` at its next schedule.
//! - `gmp_gosched` puts the G on its P's local queue tail, not the global queue (a local
//!   put is lock-free; the 61-tick global check keeps the global queue from starving).
//! - Goroutines of a home never enter these queues: `ready` sends them to their home.
//! - No GC, no async preemption (see `sysmon` in the netpoll issue).
//!
//! Lock order (outermost first): `Sched::lock` -> a P's timer lock. Channel and sema
//! locks are taken before `ready`, which may take `Sched::lock`; nothing under
//! `Sched::lock` takes a channel or sema lock.

pub(crate) mod cswitch;
pub(crate) mod findrunnable;
pub(crate) mod g;
pub(crate) mod gslab;
pub(crate) mod home;
pub(crate) mod hooks;
pub(crate) mod idle;
pub(crate) mod lifecycle;
pub(crate) mod local;
pub(crate) mod m;
pub(crate) mod netpoll;
pub(crate) mod p;
pub(crate) mod proc;
pub(crate) mod procresize;
pub(crate) mod queue;
pub(crate) mod runq;
pub(crate) mod sanitizer;
pub(crate) mod schedule;
pub(crate) mod syscall;
pub(crate) mod sysmon;
pub(crate) mod timers;
pub(crate) mod trace;
pub(crate) mod wait;

use crate::sys::mutex::{Mutex, Rank};
use std::collections::VecDeque;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering,
};

use g::GRef;
use m::MRef;
use p::{P, PRef};

/// The most P's there can ever be (allp is a fixed array so stealers never see it move).
pub(crate) const MAX_PROCS: usize = 1024;
pub(crate) const DEFAULT_STACK: usize = 256 << 10;
pub(crate) const DEFAULT_MAX_THREADS: i32 = 10_000;

pub(crate) const ST_UNINIT: u8 = 0;
pub(crate) const ST_RUNNING: u8 = 2;
pub(crate) const ST_SHUTDOWN: u8 = 3;
/// A forked child of a running runtime (`lifecycle::atfork_child`): refused as after
/// shutdown, but the M's loops never see it (the child has none of them), and only the
/// calls that start the runtime read it: `ensure_started`'s one load then covers the
/// fork as well (`lifecycle::FORKED` stays for the calls that never start it).
pub(crate) const ST_FORKED: u8 = 4;

/// Everything behind `Sched::lock` (Go's `sched.lock`).
pub(crate) struct Locked {
    pub(crate) runq: VecDeque<GRef>,
    pub(crate) pidle: Vec<PRef>,
    pub(crate) midle: Vec<MRef>,
}

pub(crate) struct Sched {
    pub(crate) state: AtomicU8,
    pub(crate) lock: Mutex<Locked>,
    /// Mirror of `Locked::runq.len()` for lock-free checks.
    pub(crate) runqsize: AtomicUsize,
    pub(crate) npidle: AtomicI32,
    pub(crate) nmspinning: AtomicI32,
    pub(crate) gomaxprocs: AtomicI32,
    pub(crate) allp: [AtomicPtr<P>; MAX_PROCS],
    /// How many allp slots have a P (only grows).
    pub(crate) nallp: AtomicUsize,
    /// M's alive (runtime threads; the gmp_main caller is not counted).
    pub(crate) mcount: AtomicI32,
    pub(crate) nmidle: AtomicI32,
    /// M's asleep in `stoplockedm` until their locked G runs again (Go's
    /// `nmidlelocked`): they do not count against `max_threads`.
    pub(crate) nmidlelocked: AtomicI32,
    pub(crate) max_threads: AtomicI32,
    pub(crate) stack_size: AtomicUsize,
    pub(crate) goidgen: AtomicU64,
    pub(crate) mnext: AtomicI64,
    /// Live goroutines created or ended without a P (homes, gmp_main); the rest are
    /// counted per P (`P::live`). Read the total with `proc::goroutine_count`.
    pub(crate) ngoroutines: AtomicI64,
    /// gmp_now() of the last poll, or 0 while an M blocks in the poller.
    pub(crate) lastpoll: AtomicI64,
    /// When the blocked poller wakes by itself (0: never).
    pub(crate) poll_until: AtomicI64,
    pub(crate) main_running: AtomicBool,
    /// The M of the running gmp_main (for checkdead), or null.
    pub(crate) main_m: AtomicPtr<m::M>,
    /// gmp_main's goroutine until it ends (cleared by whoever frees it, which then
    /// wakes `main_m`), or null.
    pub(crate) main_g: AtomicPtr<g::G>,
    /// Set when checkdead gave up on the main goroutine.
    pub(crate) main_deadlocked: AtomicBool,
    pub(crate) goroutines_created: AtomicU64,
    pub(crate) start_time: AtomicI64,
    pub(crate) allm: Mutex<Vec<MRef>>,
    pub(crate) allgs: Mutex<Vec<GRef>>,
    /// Dead G's without a P to cache them (Go's `sched.gFree`).
    pub(crate) gfree: Mutex<Vec<GRef>>,
    pub(crate) threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

pub(crate) static SCHED: Sched = Sched {
    state: AtomicU8::new(ST_UNINIT),
    lock: Mutex::new(
        Rank::Sched,
        Locked {
            runq: VecDeque::new(),
            pidle: Vec::new(),
            midle: Vec::new(),
        },
    ),
    runqsize: AtomicUsize::new(0),
    npidle: AtomicI32::new(0),
    nmspinning: AtomicI32::new(0),
    gomaxprocs: AtomicI32::new(0),
    allp: [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_PROCS],
    nallp: AtomicUsize::new(0),
    mcount: AtomicI32::new(0),
    nmidle: AtomicI32::new(0),
    nmidlelocked: AtomicI32::new(0),
    max_threads: AtomicI32::new(DEFAULT_MAX_THREADS),
    stack_size: AtomicUsize::new(DEFAULT_STACK),
    goidgen: AtomicU64::new(0),
    mnext: AtomicI64::new(0),
    ngoroutines: AtomicI64::new(0),
    lastpoll: AtomicI64::new(1),
    poll_until: AtomicI64::new(0),
    main_running: AtomicBool::new(false),
    main_m: AtomicPtr::new(std::ptr::null_mut()),
    main_g: AtomicPtr::new(std::ptr::null_mut()),
    main_deadlocked: AtomicBool::new(false),
    goroutines_created: AtomicU64::new(0),
    start_time: AtomicI64::new(0),
    allm: Mutex::new(Rank::AllM, Vec::new()),
    allgs: Mutex::new(Rank::AllGs, Vec::new()),
    gfree: Mutex::new(Rank::GFree, Vec::new()),
    threads: Mutex::new(Rank::Threads, Vec::new()),
};

impl Sched {
    pub(crate) fn locked(&self) -> crate::sys::mutex::MutexGuard<'_, Locked> {
        self.lock.lock()
    }

    pub(crate) fn procs(&self) -> usize {
        self.gomaxprocs.load(Ordering::Acquire).max(0) as usize
    }

    /// allp[i], if allocated.
    pub(crate) fn p(&self, i: usize) -> Option<&'static P> {
        // SAFETY: P's are leaked and never freed while the runtime runs.
        unsafe { self.allp[i].load(Ordering::Acquire).as_ref() }
    }
}

/// The runtime's configuration, from `gmp_init` or defaults and the environment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) maxprocs: i32,
    pub(crate) stack_size: usize,
    pub(crate) max_threads: i32,
}

static CONFIG: Mutex<Option<Config>> = Mutex::new(Rank::Config, None);
static INIT: Mutex<()> = Mutex::new(Rank::Init, ());

fn env_config() -> Config {
    let mut c = Config {
        maxprocs: 0,
        stack_size: 0,
        max_threads: 0,
    };
    if let Some(n) = std::env::var("GMP_MAXPROCS")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
    {
        c.maxprocs = n;
    }
    if let Some(n) = std::env::var("GMP_STACK_SIZE")
        .ok()
        .and_then(|v| parse_size(v.trim()))
    {
        c.stack_size = n;
    }
    c
}

/// "262144", "256k", "1M" -> bytes.
pub(crate) fn parse_size(s: &str) -> Option<usize> {
    let (num, mul) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1024),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    num.trim().parse::<usize>().ok()?.checked_mul(mul)
}

/// `gmp_init`: records the configuration; GMP_EALREADY once the runtime started.
pub(crate) fn init(cfg: Config) -> crate::error::Code {
    if lifecycle::is_forked_child() {
        return crate::error::ESHUTDOWN;
    }
    let _g = INIT.lock();
    if SCHED.state.load(Ordering::Acquire) != ST_UNINIT {
        return if SCHED.state.load(Ordering::Acquire) == ST_SHUTDOWN {
            crate::error::ESHUTDOWN
        } else {
            crate::error::EALREADY
        };
    }
    let mut c = CONFIG.lock();
    if c.is_some() {
        return crate::error::EALREADY;
    }
    *c = Some(cfg);
    0
}

/// Starts the runtime on first use, without diagnostics hooks unless they were installed
/// before (every public entry goes through `start::ensure_started`, which passes them).
/// Err(GMP_ESHUTDOWN) after shutdown or in a fork child.
#[inline]
pub(crate) fn ensure_started() -> Result<(), crate::error::Code> {
    ensure_started_with(None)
}

/// [`ensure_started`], installing `hooks` (the ways up, `hooks.rs`) if this call starts
/// the runtime. The same one load and branch as before when it runs.
#[inline]
pub(crate) fn ensure_started_with(
    hooks: Option<&'static hooks::Hooks>,
) -> Result<(), crate::error::Code> {
    // One load and one compare on the running path (a forked child's running runtime
    // reads ST_FORKED); every other state is out of line.
    if SCHED.state.load(Ordering::Acquire) == ST_RUNNING {
        return Ok(());
    }
    not_running(hooks)
}

/// Whether the runtime runs here (not before its start, after its shutdown or in a
/// forked child): `ensure_started`'s running path, for a caller with a slow path of
/// its own.
#[inline(always)]
pub(crate) fn running() -> bool {
    SCHED.state.load(Ordering::Acquire) == ST_RUNNING
}

/// [`ensure_started_with`] when the state is not `ST_RUNNING`: refused after shutdown
/// and in a forked child, else the start.
#[cold]
#[inline(never)]
fn not_running(hooks: Option<&'static hooks::Hooks>) -> Result<(), crate::error::Code> {
    match SCHED.state.load(Ordering::Acquire) {
        ST_RUNNING => Ok(()),
        ST_SHUTDOWN | ST_FORKED => Err(crate::error::ESHUTDOWN),
        _ => start_slow(hooks),
    }
}

#[cold]
fn start_slow(hooks: Option<&'static hooks::Hooks>) -> Result<(), crate::error::Code> {
    // The fork handler is installed below, before the state reads ST_RUNNING: a child
    // forked in between has FORKED set and ST_UNINIT (and maybe INIT held by a thread
    // it does not have).
    if lifecycle::is_forked_child() {
        return Err(crate::error::ESHUTDOWN);
    }
    let _g = INIT.lock();
    match SCHED.state.load(Ordering::Acquire) {
        ST_RUNNING => return Ok(()),
        ST_SHUTDOWN | ST_FORKED => return Err(crate::error::ESHUTDOWN),
        _ => {}
    }
    if let Some(h) = hooks {
        hooks::install(h);
    }
    let user = *CONFIG.lock();
    let env = env_config();
    let mut cfg = user.unwrap_or(env);
    // The environment fills what the program left at its default.
    if cfg.maxprocs <= 0 {
        cfg.maxprocs = env.maxprocs;
    }
    if cfg.stack_size == 0 {
        cfg.stack_size = env.stack_size;
    }
    if cfg.maxprocs <= 0 {
        cfg.maxprocs = crate::sys::cpu::default_procs() as i32;
    }
    cfg.maxprocs = cfg.maxprocs.clamp(1, MAX_PROCS as i32);
    if cfg.stack_size == 0 {
        cfg.stack_size = DEFAULT_STACK;
    }
    cfg.stack_size = crate::stack::round_size(cfg.stack_size).unwrap_or(DEFAULT_STACK);
    if cfg.max_threads <= 0 {
        cfg.max_threads = DEFAULT_MAX_THREADS;
    }
    SCHED.stack_size.store(cfg.stack_size, Ordering::Relaxed);
    SCHED.max_threads.store(cfg.max_threads, Ordering::Relaxed);
    SCHED
        .start_time
        .store(crate::sys::clock::now(), Ordering::Relaxed);
    crate::stack::install_overflow_handler();
    crate::stack::set_fault_describer(lifecycle::describe_current);
    crate::stack::set_fault_bounds(lifecycle::current_stack_bounds);
    lifecycle::install_fork_handler();
    procresize::procresize(cfg.maxprocs as usize);
    SCHED.state.store(ST_RUNNING, Ordering::Release);
    if let Some(h) = hooks::get() {
        (h.on_start)();
    }
    sysmon::start();
    Ok(())
}

//! The C types and constants of the ABI. Layouts are frozen: the header checks their
//! sizes with static asserts. This file is self-contained (no `crate::` or `libc`
//! paths) so that the ABI test (abi-test/, ctest) can parse it on its own. The library
//! (`src/ffi/`) and the Python binding both use these types.

use std::ffi::{c_char, c_int, c_void};

/// A goroutine's entry point: `void fn(void *arg)`.
pub type gmp_fn = Option<unsafe extern "C" fn(arg: *mut c_void)>;

/// A goroutine id (unique for the life of the process, starting at 1).
pub type gmp_goid = u64;

/// `gmp_go_inline`'s writer of the goroutine's argument: `init(arg, id, ctx)`.
pub type gmp_go_init_fn =
    Option<unsafe extern "C" fn(arg: *mut c_void, id: gmp_goid, ctx: *mut c_void)>;

/// The bytes `gmp_go_inline` keeps for a goroutine's argument (8-byte aligned).
pub const GMP_GO_INLINE_SIZE: usize = 64;

/// A key for goroutine-local values (`gmp_local_key_create`). 0 is never a valid key.
pub type gmp_local_key = u32;

/// Runtime configuration for `gmp_init`. Zero fields take their defaults.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct gmp_config {
    /// sizeof(gmp_config)
    pub size: usize,
    /// P's; <= 0: automatic (CPU affinity count and cgroup quota), or GMP_MAXPROCS
    pub maxprocs: i32,
    /// default goroutine stack in bytes; 0: 256 KiB, or GMP_STACK_SIZE
    pub stack_size: usize,
    /// cap on M's (OS threads); 0: 10000 (Go's SetMaxThreads default)
    pub max_threads: i32,
    /// Called first on every thread the runtime starts, before it runs anything, with
    /// the thread's role (`GMP_THREAD_WORKER`, `GMP_THREAD_SYSMON`), its index (the M's
    /// number for a worker, 0 for sysmon) and `thread_ctx`: set its priority, affinity
    /// or name, register it with a profiler. NULL: none. It must return, must not
    /// unwind, and may call only `gmp_self` and `gmp_now` (the thread is not a goroutine).
    pub on_thread_start: gmp_thread_fn,
    /// Called last on a runtime thread that exits (a worker whose locked goroutine ended,
    /// every thread at `gmp_shutdown`), with the same arguments. Threads still running
    /// when the process exits get no call. NULL: none. Same rules as `on_thread_start`.
    pub on_thread_stop: gmp_thread_fn,
    /// Passed to `on_thread_start` and `on_thread_stop`.
    pub thread_ctx: *mut c_void,
}

impl Default for gmp_config {
    /// Every field at its default, `size` set (Rust callers: `..Default::default()`).
    fn default() -> Self {
        gmp_config {
            size: std::mem::size_of::<gmp_config>(),
            maxprocs: 0,
            stack_size: 0,
            max_threads: 0,
            on_thread_start: None,
            on_thread_stop: None,
            thread_ctx: std::ptr::null_mut(),
        }
    }
}

/// `on_thread_start` / `on_thread_stop` of `gmp_config`: `fn(role, index, ctx)`.
pub type gmp_thread_fn = Option<unsafe extern "C" fn(role: c_int, index: c_int, ctx: *mut c_void)>;

/// Thread role: an M, a thread that runs goroutines. Blocking calls (`gmp_blocking`,
/// syscall sections, the fd hand-off) run on these too, so a worker may block.
pub const GMP_THREAD_WORKER: c_int = 1;
/// Thread role: sysmon, the runtime's monitor (Go's sysmon): retakes P's from blocked
/// threads, preempts, polls the network. Short bursts, mostly asleep.
pub const GMP_THREAD_SYSMON: c_int = 2;
/// Thread role: any other thread the runtime may start (none today).
pub const GMP_THREAD_OTHER: c_int = 3;

/// Hooks called around every potential switch of a goroutine (API.md).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct gmp_switch_hooks {
    /// sizeof(gmp_switch_hooks)
    pub size: usize,
    /// On the goroutine's stack, before a switch point.
    pub on_park: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    /// On the goroutine's stack, after it, maybe on another thread. Called in pairs
    /// around every potential switch (a pair may come with no switch), outside every
    /// runtime lock; they may call only gmp_self and gmp_now.
    pub on_resume: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    pub ctx: *mut c_void,
    /// 0, or `GMP_HOOKS_LAZY_RESUME`, or both it and `GMP_HOOKS_LAZY_PARK`. Other bits:
    /// `GMP_EINVAL`. A caller built against an older header (a smaller `size`) has 0.
    pub flags: u64,
    /// With `GMP_HOOKS_LAZY_PARK`: returns the calling thread's 16-byte record (8-byte
    /// aligned, at the same address for the thread's whole life). Called at most once
    /// per thread, outside every runtime lock. NULL otherwise.
    pub thread_record: Option<unsafe extern "C" fn() -> *mut c_void>,
}

/// `gmp_switch_hooks::flags`: after a switch, `on_resume` is not called when the 16
/// bytes at `ctx` (8-byte aligned) are all zero, for a goroutine that runs on the
/// runtime's threads only (it is ignored for a home's goroutines and gmp_main's, which
/// run on threads the program owns). For a hook that carries per-thread state whose
/// resting value on the runtime's threads is zero: `on_park` saves the goroutine's
/// state at `ctx` and puts the thread's back, so that a goroutine with nothing saved
/// resumes without a call (C++ exception state: `<gmp/gmp.hpp>`). `on_park` is always
/// called, unless `GMP_HOOKS_LAZY_PARK`.
pub const GMP_HOOKS_LAZY_RESUME: u64 = 1;

/// `gmp_switch_hooks::flags`, with `GMP_HOOKS_LAZY_RESUME` and a `thread_record`: before
/// a switch, `on_park` is not called when the 16 bytes at `thread_record()` (this
/// thread's record, asked once per thread) are all zero, for a goroutine that runs on
/// the runtime's threads only (ignored for a home's goroutines and gmp_main's). For
/// per-thread state whose resting value on the runtime's threads is zero: a goroutine
/// that parks while its thread's state is zero has nothing to save, provided
/// `on_resume`, once it has installed the state at `ctx`, leaves those 16 bytes zero
/// (so a park that was not called leaves them right). One `thread_record` function per
/// process is honoured (the first spawn's): hooks that name another get every
/// `on_park` call. Without `GMP_HOOKS_LAZY_RESUME` or `thread_record`: `GMP_EINVAL`.
pub const GMP_HOOKS_LAZY_PARK: u64 = 2;

/// Attributes of a new goroutine (`gmp_go_ex`, `gmp_go_home`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct gmp_go_attr {
    /// sizeof(gmp_go_attr)
    pub size: usize,
    /// 0: the runtime default
    pub stack_size: usize,
    /// copied; shown in dumps and traces; may be NULL
    pub name: *const c_char,
    /// copied; NULL: none, and no cost
    pub hooks: *const gmp_switch_hooks,
}

/// Scheduler statistics (`gmp_read_stats`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct gmp_stats {
    pub size: usize,
    pub maxprocs: i32,
    pub idle_procs: i32,
    pub threads: i32,
    pub spinning_threads: i32,
    pub idle_threads: i32,
    pub _pad: i32,
    pub goroutines: i64,
    pub global_runqueue: i64,
    pub goroutines_created: u64,
    pub context_switches: u64,
    pub steals: u64,
    pub syscall_handoffs: u64,
    pub preempt_requests: u64,
}

/// A goroutine-aware mutex. All-zero (`GMP_MUTEX_INIT`) is unlocked; no destroy.
#[repr(C)]
#[derive(Default)]
pub struct gmp_mutex {
    pub _opaque: [u64; 2],
}

/// A goroutine-aware reader/writer mutex. All-zero (`GMP_RWMUTEX_INIT`) is unlocked.
#[repr(C)]
#[derive(Default)]
pub struct gmp_rwmutex {
    pub _opaque: [u64; 4],
}

/// A wait group. All-zero (`GMP_WAITGROUP_INIT`) has count 0.
#[repr(C)]
#[derive(Default)]
pub struct gmp_waitgroup {
    pub _opaque: [u64; 4],
}

/// Runs a function once. All-zero (`GMP_ONCE_INIT`) has not run.
#[repr(C)]
#[derive(Default)]
pub struct gmp_once {
    pub _opaque: [u64; 2],
}

/// A condition variable. All-zero (`GMP_COND_INIT`) has no waiters.
#[repr(C)]
#[derive(Default)]
pub struct gmp_cond {
    pub _opaque: [u64; 4],
}

/// A thread-bound run queue (opaque).
pub struct gmp_home {
    _private: [u8; 0],
}

/// Success.
pub const GMP_OK: i32 = 0;
/// Invalid argument (NULL, out of range, wrong thread).
pub const GMP_EINVAL: i32 = -22;
/// Out of memory (or of stack address space).
pub const GMP_ENOMEM: i32 = -12;
/// Would block (a try operation, a trylock, or a full resource).
pub const GMP_EAGAIN: i32 = -11;
/// The timeout passed.
pub const GMP_ETIMEDOUT: i32 = -110;
/// Canceled (home closed, fd closed).
pub const GMP_ECANCELED: i32 = -125;
/// Deadlock detected.
pub const GMP_EDEADLK: i32 = -35;
/// Already done, or already running.
pub const GMP_EALREADY: i32 = -114;
/// Interrupted (gmp_home_wake).
pub const GMP_EINTR: i32 = -4;
/// A struct has unknown non-zero trailing bytes.
pub const GMP_E2BIG: i32 = -7;
/// Channel or home closed.
pub const GMP_ECLOSED: i32 = -4097;
/// The call needs a goroutine.
pub const GMP_ENOTGOROUTINE: i32 = -4098;
/// The runtime is shut down, or this is a forked child.
pub const GMP_ESHUTDOWN: i32 = -4099;
/// A timeout that never expires.
pub const GMP_FOREVER: i64 = -1;

pub const GMP_VERSION_MAJOR: u32 = 0;
pub const GMP_VERSION_MINOR: u32 = 1;
pub const GMP_VERSION_PATCH: u32 = 0;

/// A channel (opaque, reference counted).
pub struct gmp_chan {
    _private: [u8; 0],
}

/// `gmp_select_case.op`: send `elem` on `chan`.
pub const GMP_SEND: c_int = 1;
/// `gmp_select_case.op`: receive from `chan` into `elem` (NULL: discard).
pub const GMP_RECV: c_int = 2;

/// One case of `gmp_select`.
#[repr(C)]
pub struct gmp_select_case {
    /// NULL: never fires (Go's nil channel)
    pub chan: *mut gmp_chan,
    /// GMP_SEND or GMP_RECV
    pub op: c_int,
    /// value to send, or where to receive (NULL: discard)
    pub elem: *mut c_void,
    /// out, for the case that fired only: 0, or GMP_ECLOSED (a receive on a closed
    /// channel, or a send on one)
    pub result: c_int,
}

/// `gmp_wait_fd` events: readable.
pub const GMP_POLLIN: c_int = 1;
/// Writable.
pub const GMP_POLLOUT: c_int = 4;
/// An error condition (output only).
pub const GMP_POLLERR: c_int = 8;
/// Hang-up (output only).
pub const GMP_POLLHUP: c_int = 16;

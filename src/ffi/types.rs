//! The C types of the ABI. Layouts are frozen: the header checks their sizes with static
//! asserts.

use std::ffi::{c_char, c_void};

/// A goroutine's entry point: `void fn(void *arg)`.
pub type gmp_fn = Option<unsafe extern "C" fn(arg: *mut c_void)>;

/// A goroutine id (unique for the life of the process, starting at 1).
pub type gmp_goid = u64;

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
}

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
}

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
pub struct gmp_mutex {
    pub _opaque: [u64; 2],
}

/// A goroutine-aware reader/writer mutex. All-zero (`GMP_RWMUTEX_INIT`) is unlocked.
#[repr(C)]
pub struct gmp_rwmutex {
    pub _opaque: [u64; 4],
}

/// A wait group. All-zero (`GMP_WAITGROUP_INIT`) has count 0.
#[repr(C)]
pub struct gmp_waitgroup {
    pub _opaque: [u64; 4],
}

/// Runs a function once. All-zero (`GMP_ONCE_INIT`) has not run.
#[repr(C)]
pub struct gmp_once {
    pub _opaque: [u64; 2],
}

/// A condition variable. All-zero (`GMP_COND_INIT`) has no waiters.
#[repr(C)]
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

const _: () = {
    assert!(GMP_EINVAL == -libc::EINVAL);
    assert!(GMP_ENOMEM == -libc::ENOMEM);
    assert!(GMP_EAGAIN == -libc::EAGAIN);
    assert!(GMP_ETIMEDOUT == -libc::ETIMEDOUT);
    assert!(GMP_ECANCELED == -libc::ECANCELED);
    assert!(GMP_EDEADLK == -libc::EDEADLK);
    assert!(GMP_EALREADY == -libc::EALREADY);
    assert!(GMP_EINTR == -libc::EINTR);
    assert!(GMP_E2BIG == -libc::E2BIG);
    assert!(GMP_ECLOSED == crate::error::ECLOSED);
    assert!(GMP_ENOTGOROUTINE == crate::error::ENOTGOROUTINE);
    assert!(GMP_ESHUTDOWN == crate::error::ESHUTDOWN);
    assert!(std::mem::size_of::<gmp_mutex>() == 16);
    assert!(std::mem::size_of::<gmp_rwmutex>() == 32);
    assert!(std::mem::size_of::<gmp_waitgroup>() == 32);
    assert!(std::mem::size_of::<gmp_once>() == 16);
    assert!(std::mem::size_of::<gmp_cond>() == 32);
};

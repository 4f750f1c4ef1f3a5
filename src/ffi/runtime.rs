//! Runtime: init, main, maxprocs, shutdown, versions, time, stats, errors.

use std::ffi::c_int;
use std::ffi::{c_char, c_void};
use std::sync::atomic::Ordering;

use super::{entry, gmp_config, gmp_fn, gmp_stats, read_sized};
use crate::error;
use crate::sched::{self, Config, SCHED};

/// Configures the runtime before its first use (optional).
///
/// Returns 0; `GMP_EALREADY` once the runtime has started (any other gmp call starts
/// it) or after a previous `gmp_init`; `GMP_EINVAL` for a negative `max_threads` or a
/// `stack_size` over the maximum (a `maxprocs` <= 0 means automatic, not an error);
/// `GMP_E2BIG` for unknown non-zero trailing bytes; `GMP_ESHUTDOWN` after shutdown.
/// `cfg` NULL: defaults. Zero fields fall back to GMP_MAXPROCS / GMP_STACK_SIZE from
/// the environment, then to the defaults.
///
/// `on_thread_start` / `on_thread_stop` (with `thread_ctx`) are called on every thread
/// the runtime starts, first and last, with its role (`GMP_THREAD_WORKER`,
/// `GMP_THREAD_SYSMON`): an engine sets priorities, affinity, names or profiler
/// registration there. They take effect only when `gmp_init` returns 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_init(cfg: *const gmp_config) -> c_int {
    entry!(NoStart, {
        // SAFETY: the caller passes NULL or a gmp_config of its own size.
        let c = match unsafe { read_sized(cfg) } {
            Ok(c) => c,
            Err(e) => return e,
        };
        let c = c.unwrap_or_default();
        if c.max_threads < 0 || c.stack_size > crate::stack::MAX_STACK_SIZE {
            return error::EINVAL;
        }
        let rc = sched::init(Config {
            maxprocs: c.maxprocs.max(0),
            stack_size: c.stack_size,
            max_threads: c.max_threads,
        });
        if rc == 0 && (c.on_thread_start.is_some() || c.on_thread_stop.is_some()) {
            sched::m::set_thread_hooks(sched::m::ThreadHooks {
                start: c.on_thread_start,
                stop: c.on_thread_stop,
                ctx: c.thread_ctx as usize,
            });
        }
        rc
    })
}

/// Runs `fn(arg)` as the main goroutine, as Go runs `main`, and returns on the calling
/// thread when it returns (other goroutines go on running, unlike Go where the process
/// exits).
///
/// The main goroutine is an ordinary goroutine: it starts on the calling thread and is
/// NOT locked to it, so after a switch point it may run on any of the runtime's threads.
/// If it calls `gmp_lock_os_thread()` before its first switch point it stays on the
/// calling thread for good (Go's `init` + `LockOSThread` idiom, for GUI and engine main
/// threads); each of its parks is then a thread hand-off (~10 us). Meanwhile the calling
/// thread runs no other goroutine: it runs the main goroutine while it is there, else
/// sleeps. So `gmp_main` returns one thread wake-up after `fn` returns, wherever `fn`
/// ended and whatever the other goroutines do.
///
/// Returns 0; `GMP_EDEADLK` when every goroutine is asleep (Go's "all goroutines are
/// asleep - deadlock!", printed with a dump; the main goroutine stays parked and is no
/// longer counted; `GMP_DEBUG=checkdead=0` turns this off); `GMP_EINVAL` if `fn` is
/// NULL; `GMP_EALREADY` from a goroutine, from a thread that owns a home, or while
/// another `gmp_main` runs; `GMP_ENOMEM`; `GMP_ESHUTDOWN`.
///
/// ```c
/// static void run(void *arg) {
///     gmp_lock_os_thread();   // optional, before any switch point: stay on this thread
///     gmp_go(worker, NULL);
/// }
/// int main(void) { return gmp_main(run, NULL) == 0 ? 0 : 1; }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn gmp_main(fn_: gmp_fn, arg: *mut c_void) -> c_int {
    entry!(Runtime, {
        let Some(f) = fn_ else { return error::EINVAL };
        run_main_c(f, arg, crate::sched::proc::Spawn::default())
    })
}

/// The main goroutine of `gmp_main`/`gmp_main_ex`, and its end for the sanitizers.
fn run_main_c(
    f: unsafe extern "C" fn(*mut c_void),
    arg: *mut c_void,
    sp: crate::sched::proc::Spawn<'_>,
) -> c_int {
    let rc = sched::proc::run_main(crate::sched::g::Entry::C(f, arg), sp);
    crate::sys::sanitizer::main_returned();
    rc
}

/// `gmp_main` with attributes for the main goroutine (`attr` may be NULL): a stack size
/// (0: the default), a name (default "main") and switch hooks, as `gmp_go_ex` gives any
/// goroutine. The hooks let a language runtime carry per-goroutine state across the
/// main goroutine's migrations too (the C++ binding carries its exception state this
/// way); as for every goroutine, they are called around switch points, not at its start
/// and end.
///
/// Returns as `gmp_main`; also `GMP_EINVAL` for a bad `attr` (a stack size over the
/// maximum) and `GMP_E2BIG` for unknown non-zero trailing bytes of it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_main_ex(
    attr: *const super::gmp_go_attr,
    fn_: gmp_fn,
    arg: *mut c_void,
) -> c_int {
    entry!(Runtime, {
        let Some(f) = fn_ else { return error::EINVAL };
        // SAFETY: the caller passes NULL or a gmp_go_attr of its own size.
        let (sp, name) = match unsafe { super::goroutine::spawn_opts(attr) } {
            Ok(x) => x,
            Err(e) => return e,
        };
        let sp = crate::sched::proc::Spawn {
            name: name.as_deref(),
            ..sp
        };
        run_main_c(f, arg, sp)
    })
}

/// Sets the number of P's (GOMAXPROCS) to `n` when `n > 0` (capped at 1024); returns the
/// previous value. `n <= 0` only queries. Takes effect without stopping goroutines.
/// Returns `GMP_ESHUTDOWN` after shutdown.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_maxprocs(n: c_int) -> c_int {
    entry!(Runtime, {
        if n <= 0 {
            return SCHED.gomaxprocs.load(Ordering::Relaxed);
        }
        sched::procresize::procresize(n as usize) as i32
    })
}

/// The number of goroutines that exist now (running, runnable or parked).
#[unsafe(no_mangle)]
pub extern "C" fn gmp_num_goroutine() -> i64 {
    entry!(NoStart, crate::sched::proc::goroutine_count())
}

/// Waits up to `timeout_ns` (< 0: forever) for every goroutine to end, then stops the
/// runtime's threads and frees its stack caches and pending timers (with the timer
/// channels only a timer still referenced). Later calls return `GMP_ESHUTDOWN`; the
/// runtime cannot be restarted. For tests and leak checkers: a program may simply exit.
/// The goroutine and P structs stay allocated and reachable (a late stale pointer to
/// them must stay valid); valgrind reports no definite or possible leak.
///
/// While it waits, spawns from outside the runtime (foreign threads, and so homes
/// pumped by them) return `GMP_ESHUTDOWN`; goroutines may still spawn, since their work
/// is what it waits for. So a `gmp_go` that returned 0 always runs. A foreign thread
/// still blocked in a call (a channel, a sync wait, an fd) when the goroutines are gone
/// returns `GMP_ESHUTDOWN` from it.
///
/// Returns 0; `GMP_ETIMEDOUT` (nothing stopped) if goroutines remain at the deadline;
/// `GMP_EALREADY` from a goroutine; `GMP_ESHUTDOWN` if already shut down.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_shutdown(timeout_ns: i64) -> c_int {
    entry!(NoStart, sched::lifecycle::shutdown(timeout_ns))
}

/// The library version as a string, e.g. "0.1.0". Never starts the runtime.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_lib_version() -> *const c_char {
    entry!(Anywhere, VERSION.as_ptr())
}

/// Cargo.toml's version, NUL-terminated.
const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(v) => v,
    Err(_) => panic!("a version with a NUL"),
};

/// `major << 16 | minor << 8 | patch` of the library (compare with the
/// `GMP_VERSION_*` macros of the header you compiled against). Never starts the runtime.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_lib_version_number() -> u32 {
    entry!(
        Anywhere,
        super::GMP_VERSION_MAJOR << 16 | super::GMP_VERSION_MINOR << 8 | super::GMP_VERSION_PATCH
    )
}

/// A static description of any `GMP_E*` code or negative errno. Never NULL; never
/// starts the runtime.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_strerror(code: i32) -> *const c_char {
    entry!(
        Anywhere,
        on_panic = c"unknown".as_ptr(),
        error::strerror(code).as_ptr()
    )
}

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC). Never starts the runtime.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_now() -> i64 {
    entry!(Anywhere, crate::time::now())
}

/// Sleeps `ns` nanoseconds: parks the goroutine (its M runs others), or blocks a
/// foreign thread (a home thread keeps running its home meanwhile). `ns <= 0` returns at
/// once (a preempt point), as Go's time.Sleep. A switch point.
///
/// Returns 0; `GMP_ECANCELED` if the goroutine's home was closed; `GMP_ESHUTDOWN`.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_sleep(ns: i64) -> c_int {
    entry!(Runtime, crate::time::sleep(ns))
}

/// Fills `out` with scheduler statistics under the `size` rule (set `out->size` to
/// `sizeof(gmp_stats)`; at most that many bytes are written, and `size` is set to the
/// number written). Returns 0; `GMP_EINVAL` for NULL or a size below `sizeof(size_t)`;
/// `GMP_ESHUTDOWN` after `gmp_shutdown` (and in a forked child).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_read_stats(out: *mut gmp_stats) -> c_int {
    entry!(Runtime, {
        if out.is_null() {
            return error::EINVAL;
        }
        // SAFETY: the caller passes a writable struct starting with its size.
        let size = unsafe { std::ptr::read_unaligned(out as *const usize) };
        if size < std::mem::size_of::<usize>() {
            return error::EINVAL;
        }
        let s = sched::lifecycle::snapshot();
        let st = gmp_stats {
            size: 0,
            maxprocs: s.maxprocs,
            idle_procs: s.idle_procs,
            threads: s.threads,
            spinning_threads: s.spinning,
            idle_threads: s.idle_threads,
            _pad: 0,
            goroutines: s.goroutines,
            global_runqueue: s.global_runqueue,
            goroutines_created: s.created,
            context_switches: s.context_switches,
            steals: s.steals,
            syscall_handoffs: s.syscall_handoffs,
            preempt_requests: s.preempt_requests,
        };
        let n = size.min(std::mem::size_of::<gmp_stats>());
        let st = gmp_stats { size: n, ..st };
        // SAFETY: the caller's struct has at least `size` >= n writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(&st as *const gmp_stats as *const u8, out as *mut u8, n);
        }
        0
    })
}

/// Writes every goroutine (id, name, state, wait reason and how long, home or locked)
/// to `fd`, in the style of Go's traceback headers. Returns 0; `GMP_ESHUTDOWN` after
/// `gmp_shutdown` (and in a forked child); or a negative errno from write(2).
#[unsafe(no_mangle)]
pub extern "C" fn gmp_dump_goroutines(fd: c_int) -> c_int {
    entry!(Runtime, crate::diag::dump::dump_to_fd(fd))
}

/// Whether every goroutine is asleep with nothing inside the runtime left to wake one:
/// `gmp_main`'s deadlock check for a thread outside the runtime that waits for
/// goroutines (a language binding's `run`), which only it can complete, since only it
/// knows whether some other thread of the process may still act.
///
/// Returns 1 when each goroutine is blocked on a channel, select or sync object (none
/// running, runnable, ready in a home, in a syscall or `gmp_blocking`, sleeping or
/// waiting on an fd) and no timer is pending, and then stores in `*stamp` (if not NULL)
/// a value that changes whenever a goroutine is created, parks or is woken; 0 otherwise;
/// `GMP_ESHUTDOWN`. Two calls returning 1 with the same stamp some time apart (checkdead
/// waits 200 ms) mean nothing ran in between: a deadlock, unless a thread outside the
/// runtime acts.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_all_asleep(stamp: *mut u64) -> c_int {
    entry!(Runtime, {
        match crate::sched::sysmon::all_asleep() {
            Some(s) => {
                if !stamp.is_null() {
                    // SAFETY: the caller passes NULL or a writable uint64_t.
                    unsafe { *stamp = s };
                }
                1
            }
            None => 0,
        }
    })
}

/// Starts writing an execution trace to `path` (Chrome trace event JSON: open it in
/// Perfetto or chrome://tracing): one track per P with a slice per goroutine run, one per
/// M with its syscalls, and arrows from where a goroutine was made ready to where it ran.
/// `GMP_TRACE=path` does the same from the start and writes the file at exit.
/// Returns 0; `GMP_EALREADY` if a trace runs; `GMP_EINVAL` (NULL); a negative errno if
/// the file cannot be created.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_trace_start(path: *const std::ffi::c_char) -> c_int {
    entry!(Runtime, {
        if path.is_null() {
            return error::EINVAL;
        }
        // SAFETY: the caller passes a NUL-terminated path.
        let p = unsafe { std::ffi::CStr::from_ptr(path) }
            .to_string_lossy()
            .into_owned();
        crate::diag::tracefile::start(&p)
    })
}

/// Stops the trace and writes the file. Returns 0; `GMP_EINVAL` if no trace runs; a
/// negative errno from writing.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_trace_stop() -> c_int {
    entry!(NoStart, crate::diag::tracefile::stop())
}

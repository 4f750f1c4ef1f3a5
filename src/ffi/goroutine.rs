//! Goroutines: spawn, yield, identity, names, LockOSThread.

use std::ffi::c_int;
use std::ffi::{CStr, c_void};

use super::{
    GMP_GO_INLINE_SIZE, GMP_HOOKS_LAZY_PARK, GMP_HOOKS_LAZY_RESUME, entry, gmp_fn, gmp_go_attr,
    gmp_go_init_fn, gmp_goid, gmp_switch_hooks, read_sized,
};
use crate::error::{self, Code};
use crate::sched::g::{Entry, Hooks};
use crate::sched::proc::{self, Spawn};

/// Starts a goroutine running `fn(arg)`. It may run on any runtime thread, moving
/// between them at switch points; it ends when `fn` returns.
///
/// Returns 0; `GMP_EINVAL` if `fn` is NULL; `GMP_ENOMEM` if no stack could be had;
/// `GMP_ESHUTDOWN`.
#[unsafe(no_mangle)]
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
pub extern "C" fn gmp_go(fn_: gmp_fn, arg: *mut c_void) -> c_int {
    // A trampoline that passes the caller's return address (the spawn site shown in
    // goroutine dumps) as a third argument: Rust has no stable return-address intrinsic.
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!("mov rdx, [rsp]", "jmp {0}", sym gmp_go_impl);
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!("mov x2, x30", "b {0}", sym gmp_go_impl);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    gmp_go_impl(fn_, arg, 0)
}

/// `gmp_go` with the spawn site (named so for the panic message).
extern "C" fn gmp_go_impl(fn_: gmp_fn, arg: *mut c_void, pc: u64) -> c_int {
    entry!(Runtime, {
        let Some(f) = fn_ else { return error::EINVAL };
        let sp = Spawn {
            spawn_pc: pc,
            ..Spawn::default()
        };
        match proc::newproc(Entry::C(f, arg), sp) {
            Ok(_) => 0,
            Err(e) => e,
        }
    })
}

/// Converts an attr (size rule) into spawn options; the name and hooks are copied.
/// Inlined into its callers: out of line, the options went through memory twice, about
/// 28 instructions a `gmp_go_ex` (every C++ `gmp::go`; bench/cpp skynet).
#[inline(always)]
pub(crate) unsafe fn spawn_opts(
    attr: *const gmp_go_attr,
) -> Result<(Spawn<'static>, Option<std::ffi::CString>), Code> {
    // SAFETY: the caller passes NULL or a gmp_go_attr of its own size.
    let Some(a) = (unsafe { read_sized(attr) })? else {
        return Ok((Spawn::default(), None));
    };
    if a.stack_size > crate::stack::MAX_STACK_SIZE {
        return Err(error::EINVAL);
    }
    let name = if a.name.is_null() {
        None
    } else {
        // SAFETY: the caller passes a NUL-terminated string.
        Some(unsafe { CStr::from_ptr(a.name) }.to_owned())
    };
    // SAFETY: NULL or a gmp_switch_hooks of its own size.
    let hooks = unsafe { read_hooks(a.hooks, false) }?;
    Ok((
        Spawn {
            stack_size: a.stack_size,
            name: None,
            hooks,
            home: None,
            spawn_pc: 0,
            init: None,
        },
        name,
    ))
}

/// `gmp_go` with attributes (stack size, name, switch hooks); `attr` may be NULL. The
/// new goroutine's id goes to `*out_id` when `out_id` is not NULL.
///
/// Returns 0; `GMP_EINVAL` (NULL `fn`, stack size over 1 GiB); `GMP_E2BIG` (unknown
/// non-zero trailing bytes in `attr`); `GMP_ENOMEM`; `GMP_ESHUTDOWN`.
#[unsafe(no_mangle)]
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
pub unsafe extern "C" fn gmp_go_ex(
    attr: *const gmp_go_attr,
    fn_: gmp_fn,
    arg: *mut c_void,
    out_id: *mut gmp_goid,
) -> c_int {
    // As gmp_go: the caller's return address becomes a fifth argument.
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!("mov r8, [rsp]", "jmp {0}", sym gmp_go_ex_impl);
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!("mov x4, x30", "b {0}", sym gmp_go_ex_impl);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    // SAFETY: forwarded.
    unsafe {
        gmp_go_ex_impl(attr, fn_, arg, out_id, 0)
    }
}

/// `gmp_go_ex` with the spawn site.
unsafe extern "C" fn gmp_go_ex_impl(
    attr: *const gmp_go_attr,
    fn_: gmp_fn,
    arg: *mut c_void,
    out_id: *mut gmp_goid,
    pc: u64,
) -> c_int {
    entry!(Runtime, {
        let Some(f) = fn_ else { return error::EINVAL };
        // SAFETY: forwarded caller contract.
        let (sp, name) = match unsafe { spawn_opts(attr) } {
            Ok(x) => x,
            Err(e) => return e,
        };
        let sp = Spawn {
            name: name.as_deref(),
            spawn_pc: pc,
            ..sp
        };
        match proc::newproc(Entry::C(f, arg), sp) {
            Ok(id) => {
                if !out_id.is_null() {
                    // SAFETY: the caller passes a writable gmp_goid.
                    unsafe { *out_id = id };
                }
                0
            }
            Err(e) => e,
        }
    })
}

/// The runtime's copy of a caller's `gmp_switch_hooks` (read by its size rule): `None`
/// for NULL or neither hook; `GMP_EINVAL` for a bad size, an unknown flag, or
/// `GMP_HOOKS_LAZY_RESUME` with a `ctx` that is not 8-byte aligned, or NULL unless
/// `null_ctx` (gmp_go_inline: the argument's bytes); `GMP_E2BIG` as `read_sized`.
///
/// # Safety
/// `p` is NULL or points to a `gmp_switch_hooks` of its own `size`.
unsafe fn read_hooks(p: *const gmp_switch_hooks, null_ctx: bool) -> Result<Option<Hooks>, Code> {
    // SAFETY: the caller's contract.
    let Some(h) = (unsafe { read_sized::<gmp_switch_hooks>(p) })? else {
        return Ok(None);
    };
    if h.flags & !(GMP_HOOKS_LAZY_RESUME | GMP_HOOKS_LAZY_PARK) != 0 {
        return Err(error::EINVAL);
    }
    let lazy = h.flags & GMP_HOOKS_LAZY_RESUME != 0;
    if lazy && ((h.ctx.is_null() && !null_ctx) || h.ctx as usize % 8 != 0) {
        return Err(error::EINVAL);
    }
    let lazy_park = match (h.flags & GMP_HOOKS_LAZY_PARK != 0, h.thread_record) {
        (false, _) => false,
        (true, Some(f)) if lazy => crate::sched::g::lazy_park_for(f),
        (true, _) => return Err(error::EINVAL),
    };
    Ok(Hooks::new(h.on_park, h.on_resume, h.ctx, lazy, lazy_park))
}

const _: () = assert!(GMP_GO_INLINE_SIZE == crate::sched::g::INLINE_ARG);

/// Starts a goroutine whose argument lives in the runtime's own record of it, for a
/// language binding's small closures (C++ `gmp::go`): no allocation per spawn.
/// `init(arg, id, ctx)` runs once, on the calling thread before the goroutine can run,
/// to write up to `GMP_GO_INLINE_SIZE` bytes at `arg` (8-byte aligned; `id` is the new
/// goroutine's); then `fn(arg)` runs as the goroutine, with `arg` at the same address
/// until `fn` returns (the runtime never moves, copies or reads those bytes). `init`
/// must not unwind nor call into the runtime; it does not run when the spawn fails.
/// `hooks` as `gmp_go_attr`'s (copied; NULL: none), except that a NULL `ctx` gives
/// them `arg`. Once `fn` has returned, the same bytes may hold a later goroutine's
/// argument; they stay mapped for the life of the process, so a late read of them is
/// safe (it sees what was last written there, or zeros).
///
/// Returns 0; `GMP_EINVAL` (NULL `fn` or `init`, bad `hooks` size); `GMP_E2BIG`
/// (unknown non-zero trailing bytes in `hooks`); `GMP_ENOMEM`; `GMP_ESHUTDOWN`.
#[unsafe(no_mangle)]
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
pub unsafe extern "C" fn gmp_go_inline(
    fn_: gmp_fn,
    init: gmp_go_init_fn,
    ctx: *mut c_void,
    hooks: *const gmp_switch_hooks,
) -> c_int {
    // As gmp_go: the caller's return address becomes a fifth argument.
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!("mov r8, [rsp]", "jmp {0}", sym gmp_go_inline_impl);
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!("mov x4, x30", "b {0}", sym gmp_go_inline_impl);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    // SAFETY: forwarded.
    unsafe {
        gmp_go_inline_impl(fn_, init, ctx, hooks, 0)
    }
}

/// `gmp_go_inline` with the spawn site.
unsafe extern "C" fn gmp_go_inline_impl(
    fn_: gmp_fn,
    init: gmp_go_init_fn,
    ctx: *mut c_void,
    hooks: *const gmp_switch_hooks,
    pc: u64,
) -> c_int {
    entry!(Runtime, {
        let (Some(f), Some(init)) = (fn_, init) else {
            return error::EINVAL;
        };
        // SAFETY: NULL or a gmp_switch_hooks of its own size.
        let hooks = match unsafe { read_hooks(hooks, true) } {
            Ok(h) => h,
            Err(e) => return e,
        };
        let sp = Spawn {
            hooks,
            spawn_pc: pc,
            init: Some((init, ctx)),
            ..Spawn::default()
        };
        match proc::newproc(Entry::Inline(f), sp) {
            Ok(_) => 0,
            Err(e) => e,
        }
    })
}

/// Yields the processor: the goroutine goes to the back of its run queue and others
/// run. A switch point. No-op on a foreign thread.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_gosched() {
    entry!(NoStart, proc::gosched())
}

/// The calling goroutine's id, or 0 on a foreign thread.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_self() -> gmp_goid {
    entry!(Anywhere, crate::sched::g::current().map_or(0, |g| g.id()))
}

/// Sets the calling goroutine's name (copied; NULL clears it), shown in dumps.
/// Returns 0, or `GMP_ENOTGOROUTINE` on a foreign thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_set_name(name: *const std::ffi::c_char) -> c_int {
    entry!(NoStart, {
        let Some(g) = crate::sched::g::current() else {
            return error::ENOTGOROUTINE;
        };
        let n = if name.is_null() {
            None
        } else {
            // SAFETY: the caller passes a NUL-terminated string.
            Some(unsafe { CStr::from_ptr(name) })
        };
        g.get().set_name(n);
        0
    })
}

/// Wires the calling goroutine to its current OS thread (Go's LockOSThread): until the
/// matching unlock it runs only there, and that thread runs nothing else. Nests. A
/// goroutine that ends while locked takes its thread with it (the main goroutine locked
/// to `gmp_main`'s thread: `gmp_main` returns there). Returns 0 (also a no-op
/// returning 0 on a foreign thread and in a home, whose goroutines are bound already).
#[unsafe(no_mangle)]
pub extern "C" fn gmp_lock_os_thread() -> c_int {
    entry!(NoStart, {
        proc::lock_os_thread();
        0
    })
}

/// Undoes one `gmp_lock_os_thread`. Without a lock: no-op, 0.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_unlock_os_thread() -> c_int {
    entry!(NoStart, {
        proc::unlock_os_thread();
        0
    })
}

/// Yields if the runtime asked this goroutine to (it ran too long); otherwise one
/// load. Put it in long loops of C code, which cannot be preempted. A switch point.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_preempt_point() {
    entry!(Anywhere, proc::preempt_check())
}

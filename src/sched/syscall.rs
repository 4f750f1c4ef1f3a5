//! Syscall hand-off: `entersyscall`/`exitsyscall`, `gmp_syscall_enter`/`exit` sections
//! and `gmp_blocking` (Go's `entersyscall`, `exitsyscall`, `exitsyscall0` in
//! `runtime/proc.go`; cgo's calls for `gmp_blocking`).
//!
//! Go's protocol: a goroutine about to block in the kernel marks its P `SYSCALL` and
//! keeps it; if the call returns quickly, `exitsyscall` takes the P back with one CAS.
//! sysmon (`sysmon.rs`) retakes a P that sat in a syscall too long and hands it to
//! another M. The slow `exitsyscall` then takes any idle P, or queues the goroutine and
//! parks its M; the queueing and the second look for an idle P happen under one lock
//! (`schedule.rs`, `Switch::Requeue`), as in Go's `exitsyscall0`.
//!
//! Differences from Go: during a syscall section the thread's goroutine context is
//! cleared, so gmp calls made inside it (from `gmp_blocking`'s function, say) behave as
//! on a foreign thread: they block the thread, which is what a syscall section is for.
//! `gmp_blocking` runs its function on the thread's own stack (the M's, or a home
//! thread's), as cgo runs C: a stable thread and a large stack.

use std::sync::atomic::{AtomicU64, Ordering};

use super::g::{self, GRef, RUNNING, SYSCALL, Switch};
use super::idle;
use super::m;
use super::p::{self, P};
use super::procresize;
use super::schedule;
use super::sysmon::{SYSMON_BACKED_OFF, SYSMON_SLEEPING, wake_sysmon};

pub(crate) static SYSCALL_HANDOFFS: AtomicU64 = AtomicU64::new(0);
/// Goroutines inside a syscall section now (checkdead counts them as running, as Go does).
pub(crate) static IN_SYSCALL: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
/// What entersyscall saved, for exitsyscall.
pub(crate) struct InSyscall {
    g: GRef,
    m: m::MRef,
    p: &'static P,
    /// When it entered, if tracing.
    t0: i64,
}

/// Go's `entersyscall`: this goroutine may block in the kernel; its P may be handed
/// off. None on a foreign thread or in a home (nothing to hand off: just block).
pub(crate) fn entersyscall() -> Option<InSyscall> {
    let ctx = g::ctx();
    let gp = std::ptr::NonNull::new(ctx.g.get()).map(GRef)?;
    let mm = m::current()?;
    let p = mm.get().p()?;
    gp.set_status(SYSCALL);
    IN_SYSCALL.fetch_add(1, Ordering::SeqCst);
    p.syscalltick.store(
        p.syscalltick.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
    p.status.store(p::SYSCALL, Ordering::Release);
    // Inside the section, gmp calls act as on a foreign thread (module docs).
    ctx.g.set(std::ptr::null_mut());
    ctx.m.set(std::ptr::null_mut());
    // sysmon must look at this P within a tick, not after a backed-off 10 ms (or from
    // its deep sleep): back-to-back syscalls would otherwise starve the P's queue.
    if SYSMON_SLEEPING.load(Ordering::Relaxed) || SYSMON_BACKED_OFF.load(Ordering::Relaxed) {
        wake_sysmon();
    }
    let t0 = if super::trace::on() {
        // Close the goroutine's slice on this P: sysmon may hand the P to another M.
        let start = mm.get().trace_t0.swap(0, Ordering::Relaxed);
        if start != 0 {
            schedule::trace_run_end(Some(p), p, gp, start);
        }
        super::trace::now()
    } else {
        0
    };
    Some(InSyscall {
        g: gp,
        m: mm,
        p,
        t0,
    })
}

/// Go's `exitsyscall`: take the old P back with one CAS, else any idle P, else queue
/// the goroutine and let this M park (a switch point).
pub(crate) fn exitsyscall(s: InSyscall) {
    let ctx = g::ctx();
    ctx.g.set(s.g.as_ptr());
    ctx.m.set(s.m.0.as_ptr());
    IN_SYSCALL.fetch_sub(1, Ordering::SeqCst);
    let m = s.m.get();
    if s.t0 != 0 && super::trace::on() {
        super::trace::emit(
            None,
            super::trace::Ev::Syscall {
                m: m.id,
                gid: s.g.id(),
                ts: s.t0,
                dur: super::trace::now() - s.t0,
            },
        );
    }
    if s.p
        .status
        .compare_exchange(p::SYSCALL, p::RUNNING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        s.g.set_status(RUNNING);
        trace_reopen(m);
        return;
    }
    // sysmon took the P: it belongs to another M now; forget it without touching it.
    m.p.store(std::ptr::null_mut(), Ordering::Release);
    if let Some(pp) = idle::pidleget_lock() {
        procresize::acquirep(m, pp);
        s.g.set_status(RUNNING);
        trace_reopen(m);
        return;
    }
    // No P: switch to the scheduler, which queues us globally and parks this M.
    g::switch_out(s.g, Switch::Requeue);
}

/// Tracing: the goroutine runs on a P again after a syscall: open a new slice.
fn trace_reopen(m: &m::M) {
    if super::trace::on() {
        m.trace_t0.store(super::trace::now(), Ordering::Relaxed);
    }
}

/// Runs `f` inside a syscall section.
pub(crate) fn in_syscall<R>(f: impl FnOnce() -> R) -> R {
    let s = entersyscall();
    let r = f();
    if let Some(s) = s {
        exitsyscall(s);
    }
    r
}

thread_local! {
    /// Sections opened by `gmp_syscall_enter` on this thread (the goroutine cannot move
    /// while in one: no switch happens inside).
    static SECTIONS: std::cell::RefCell<Vec<Option<InSyscall>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `gmp_syscall_enter`.
pub(crate) fn enter_section() {
    let s = entersyscall();
    SECTIONS.with(|v| v.borrow_mut().push(s));
}

/// `gmp_syscall_exit` (unbalanced: no-op).
pub(crate) fn exit_section() {
    let s = SECTIONS.with(|v| v.borrow_mut().pop());
    if let Some(Some(s)) = s {
        exitsyscall(s);
    }
}

/// `gmp_blocking`: runs `f(arg)` in a syscall section on the thread's own stack (the
/// M's, or a home thread's), as cgo runs C: a stable thread and a large stack.
pub(crate) fn blocking(f: unsafe extern "C" fn(*mut libc::c_void), arg: *mut libc::c_void) {
    let Some(gp) = g::current() else {
        // SAFETY: the caller's function, on the caller's own thread.
        unsafe { f(arg) };
        return;
    };
    in_syscall(move || {
        // The scheduler loop of this thread runs the call on its stack and resumes us
        // on the same thread (Switch::Call in execute and run_one).
        // SAFETY: the running goroutine owns its inner state.
        unsafe { gp.inner().call = Some((f, arg)) };
        schedule::switch_from_g(gp, Switch::Call);
    });
}

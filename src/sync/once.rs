//! `gmp_once`: 0 = not run, 1 = running, 2 = done. Late callers park until done.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::Code;
use crate::sched::g::WaitReason;
use crate::sema;
use crate::sys::sanitizer;

pub(crate) fn call(s: &AtomicU32, f: impl FnOnce()) -> Code {
    if s.load(Ordering::Acquire) == 2 {
        sanitizer::acquire(s);
        return 0;
    }
    let addr = s as *const AtomicU32 as usize;
    if s.compare_exchange(0, 1, Ordering::Acquire, Ordering::Acquire)
        .is_ok()
    {
        let _running = Running::enter(addr);
        sanitizer::program(f);
        // TSan's edge: the function's effects happen before every return of `call`.
        sanitizer::release(s);
        s.store(2, Ordering::Release);
        sema::wake_all(addr);
        return 0;
    }
    if Running::is_mine(addr) {
        // `f` called gmp_once_do on its own once: it would wait for itself forever.
        return crate::error::EDEADLK;
    }
    let outcome = sema::wait_until(addr, WaitReason::OnceDo, -1, || {
        s.load(Ordering::Acquire) == 2
    });
    sanitizer::acquire(s);
    sema::outcome_code(outcome)
}

/// Who runs which once now (the caller of `f`): a recursive call on the same once
/// returns GMP_EDEADLK instead of waiting for itself. Only the running and contended
/// paths look at it; a done once costs one load as before.
static RUNNING: crate::sys::mutex::Mutex<Vec<(usize, u64)>> =
    crate::sys::mutex::Mutex::new(crate::sys::mutex::Rank::Once, Vec::new());

struct Running(usize);

/// The caller: its goroutine id, or its thread id with the top bit set.
fn me() -> u64 {
    match crate::sched::g::current() {
        Some(g) => g.id(),
        // SAFETY: gettid has no preconditions.
        None => (1 << 63) | unsafe { libc::gettid() } as u64,
    }
}

impl Running {
    fn enter(addr: usize) -> Running {
        RUNNING.lock().push((addr, me()));
        Running(addr)
    }

    fn is_mine(addr: usize) -> bool {
        let me = me();
        RUNNING
            .lock()
            .iter()
            .any(|&(a, who)| a == addr && who == me)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut r = RUNNING.lock();
        if let Some(i) = r.iter().position(|&(a, _)| a == self.0) {
            r.swap_remove(i);
        }
    }
}

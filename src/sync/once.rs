//! `gmp_once`: 0 = not run, 1 = running, 2 = done. Late callers park until done.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::Code;
use crate::sched::g::WaitReason;
use crate::sema;

pub(crate) fn call(s: &AtomicU32, f: impl FnOnce()) -> Code {
    if s.load(Ordering::Acquire) == 2 {
        return 0;
    }
    let addr = s as *const AtomicU32 as usize;
    if s.compare_exchange(0, 1, Ordering::Acquire, Ordering::Acquire)
        .is_ok()
    {
        f();
        s.store(2, Ordering::Release);
        sema::wake_all(addr);
        return 0;
    }
    let outcome = sema::wait_until(addr, WaitReason::OnceDo, -1, || {
        s.load(Ordering::Acquire) == 2
    });
    sema::outcome_code(outcome)
}

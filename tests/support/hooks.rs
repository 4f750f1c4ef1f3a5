//! Switch hooks that count their calls, over a `GMP_HOOKS_LAZY_RESUME` record: the 16
//! bytes the runtime reads at `ctx` come first (`rec`), then the counters.

use std::ffi::c_void;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use gmp::ffi::types::{gmp_go_attr, gmp_switch_hooks};

/// A hook context: `on_park` leaves `rec` zero, or makes it non-zero when `keep`.
#[repr(C, align(16))]
pub struct CountingHooks {
    pub rec: [AtomicU64; 2],
    pub keep: bool,
    pub parks: AtomicI64,
    pub resumes: AtomicI64,
}

impl CountingHooks {
    pub fn new(keep: bool) -> Self {
        CountingHooks {
            rec: [AtomicU64::new(0), AtomicU64::new(0)],
            keep,
            parks: AtomicI64::new(0),
            resumes: AtomicI64::new(0),
        }
    }

    /// Hooks over this record with `flags` (it must outlive the goroutines given them).
    pub fn hooks(&self, flags: u64) -> gmp_switch_hooks {
        gmp_switch_hooks {
            size: std::mem::size_of::<gmp_switch_hooks>(),
            on_park: Some(counting_park),
            on_resume: Some(counting_resume),
            ctx: self as *const _ as *mut c_void,
            flags,
            thread_record: None,
        }
    }

    /// `hooks(flags)` with a `thread_record` (for `GMP_HOOKS_LAZY_PARK`) whose record
    /// is always zero.
    pub fn hooks_with_zero_thread_record(&self, flags: u64) -> gmp_switch_hooks {
        gmp_switch_hooks {
            thread_record: Some(zero_thread_record),
            ..self.hooks(flags)
        }
    }

    /// (parks, resumes) so far.
    pub fn counts(&self) -> (i64, i64) {
        (
            self.parks.load(Ordering::Relaxed),
            self.resumes.load(Ordering::Relaxed),
        )
    }
}

/// Spawn attributes with `hooks` and nothing else (the runtime copies both at spawn).
pub fn attr_with_hooks(hooks: &gmp_switch_hooks) -> gmp_go_attr {
    gmp_go_attr {
        size: std::mem::size_of::<gmp_go_attr>(),
        stack_size: 0,
        name: std::ptr::null(),
        hooks,
    }
}

unsafe extern "C" fn counting_park(ctx: *mut c_void) {
    // SAFETY: ctx is a CountingHooks that outlives the goroutine (`hooks`).
    let r = unsafe { &*(ctx as *const CountingHooks) };
    r.parks.fetch_add(1, Ordering::Relaxed);
    r.rec[1].store(r.keep as u64, Ordering::Relaxed);
}

unsafe extern "C" fn counting_resume(ctx: *mut c_void) {
    // SAFETY: as above.
    let r = unsafe { &*(ctx as *const CountingHooks) };
    r.resumes.fetch_add(1, Ordering::Relaxed);
}

/// A thread record that stays zero.
static ZERO_RECORD: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

unsafe extern "C" fn zero_thread_record() -> *mut c_void {
    ZERO_RECORD.as_ptr() as *mut c_void
}

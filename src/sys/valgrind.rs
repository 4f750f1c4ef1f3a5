//! Valgrind client requests (`valgrind.h`'s magic instruction sequence), so memcheck
//! knows goroutine stacks (`VALGRIND_STACK_REGISTER`) and does not report every switch
//! as a wild stack change. A no-op (one cached check) when not running under valgrind.

use std::sync::atomic::{AtomicU8, Ordering};

const RUNNING_ON_VALGRIND: usize = 0x1001;
const STACK_REGISTER: usize = 0x1501;

/// Issues a client request; returns `default` when not under valgrind.
#[cfg(target_arch = "x86_64")]
fn request(default: usize, args: [usize; 6]) -> usize {
    let mut result = default;
    // SAFETY: the rotations of rdi add up to 128 bits (no change) and `xchg rbx, rbx`
    // is a no-op on real hardware; valgrind recognizes the sequence and reads the
    // argument block pointed to by rax. Nothing else is touched.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") result,
            in("rax") args.as_ptr(),
            inout("rdi") 0usize => _,
            options(nostack, preserves_flags),
        );
    }
    result
}

#[cfg(not(target_arch = "x86_64"))]
fn request(default: usize, _args: [usize; 6]) -> usize {
    default
}

static UNDER: AtomicU8 = AtomicU8::new(2);

/// Whether the process runs under valgrind (asked once).
pub(crate) fn running() -> bool {
    match UNDER.load(Ordering::Relaxed) {
        0 => false,
        1 => true,
        _ => {
            let on = request(0, [RUNNING_ON_VALGRIND, 0, 0, 0, 0, 0]) != 0;
            UNDER.store(on as u8, Ordering::Relaxed);
            on
        }
    }
}

/// Tells valgrind that [lo, hi) is a stack.
pub(crate) fn stack_register(lo: usize, hi: usize) {
    if running() {
        request(0, [STACK_REGISTER, lo, hi, 0, 0, 0]);
    }
}

//! The stack switch: one routine that saves the callee-saved registers of the running
//! context on its stack, stores its stack pointer, loads another context's and returns
//! there, handing over one word. Go's `gogo`/`mcall` in `asm_amd64.s`/`asm_arm64.s`
//! play this role; we differ in two ways:
//! - C code runs on goroutine stacks, so the switch saves the registers the C ABI says
//!   a call preserves (Go's own ABI has none and saves only SP, PC and BP).
//! - The word handed over (`arg`) tells the context we switch *to* what to do for the
//!   one we leave, once we are off its stack (`g::pending`, a [`g::Switch`] in the low
//!   bits of the G's address): park it, queue it, free it. Go does that on g0
//!   (`park_m`, `goschedImpl`, `goexit0`), which costs a second switch; with the action
//!   travelling with the switch, a goroutine that parks can switch straight to the next
//!   one (`schedule::switch_from_g`), and g0 only runs when the P has nothing cheap to
//!   run next.
//!
//! A new goroutine's stack gets a frame that the first switch to it "returns" into:
//! `gmp_ctx_start` then calls `g::g_entry(arg, g)`, which never returns. Its CFI marks
//! the end of the call chain, so unwinders stop there.
//!
//! Every switch is announced to the sanitizers when one is loaded (`sys/sanitizer.rs`):
//! [`switch_to_g`] and [`switch_g`] wrap the routine with those hooks, each behind one
//! cached-flag branch on either side, and `g::g_entry` finishes a goroutine's first one.
//!
//! What the switch does not save: the x87 control word and MXCSR (rounding modes and
//! exception masks). Code that changes them inside a goroutine must restore them before
//! it can switch (any gmp call), as for any cooperative thread library.

use super::g::{G, GRef};
use crate::sys::sanitizer;

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".pushsection .text.gmp_ctx_switch,\"ax\",@progbits",
    ".globl gmp_ctx_switch",
    ".hidden gmp_ctx_switch",
    ".type gmp_ctx_switch,@function",
    ".p2align 4",
    // rdi: where to save our stack pointer; rsi: the stack pointer to resume; rdx: the
    // word for the resumed side, which gets it in rax (the return value of its own call
    // of gmp_ctx_switch, or gmp_ctx_start's first argument).
    "gmp_ctx_switch:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov [rdi], rsp",
    "mov rsp, rsi",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "mov rax, rdx",
    "ret",
    ".size gmp_ctx_switch, .-gmp_ctx_switch",
    "",
    ".globl gmp_ctx_start",
    ".hidden gmp_ctx_start",
    ".type gmp_ctx_start,@function",
    ".p2align 4",
    "gmp_ctx_start:",
    ".cfi_startproc",
    ".cfi_undefined rip",
    "mov rdi, rax",
    "mov rsi, rbx",
    "call {entry}",
    "ud2",
    ".cfi_endproc",
    ".size gmp_ctx_start, .-gmp_ctx_start",
    ".popsection",
    entry = sym super::g::g_entry,
);

#[cfg(target_arch = "aarch64")]
std::arch::global_asm!(
    ".pushsection .text.gmp_ctx_switch,\"ax\",@progbits",
    ".globl gmp_ctx_switch",
    ".hidden gmp_ctx_switch",
    ".type gmp_ctx_switch,%function",
    ".p2align 4",
    // x0: where to save our sp; x1: the sp to resume; x2: the word handed over (x0 of
    // the resumed side).
    "gmp_ctx_switch:",
    "sub sp, sp, #176",
    "stp x19, x20, [sp, #0]",
    "stp x21, x22, [sp, #16]",
    "stp x23, x24, [sp, #32]",
    "stp x25, x26, [sp, #48]",
    "stp x27, x28, [sp, #64]",
    "stp x29, x30, [sp, #80]",
    "stp d8, d9, [sp, #96]",
    "stp d10, d11, [sp, #112]",
    "stp d12, d13, [sp, #128]",
    "stp d14, d15, [sp, #144]",
    "mov x9, sp",
    "str x9, [x0]",
    "mov sp, x1",
    "ldp x19, x20, [sp, #0]",
    "ldp x21, x22, [sp, #16]",
    "ldp x23, x24, [sp, #32]",
    "ldp x25, x26, [sp, #48]",
    "ldp x27, x28, [sp, #64]",
    "ldp x29, x30, [sp, #80]",
    "ldp d8, d9, [sp, #96]",
    "ldp d10, d11, [sp, #112]",
    "ldp d12, d13, [sp, #128]",
    "ldp d14, d15, [sp, #144]",
    "add sp, sp, #176",
    "mov x0, x2",
    "ret",
    ".size gmp_ctx_switch, .-gmp_ctx_switch",
    "",
    ".globl gmp_ctx_start",
    ".hidden gmp_ctx_start",
    ".type gmp_ctx_start,%function",
    ".p2align 4",
    "gmp_ctx_start:",
    ".cfi_startproc",
    ".cfi_undefined x30",
    "mov x1, x19",
    "bl {entry}",
    "brk #0",
    ".cfi_endproc",
    ".size gmp_ctx_start, .-gmp_ctx_start",
    ".popsection",
    entry = sym super::g::g_entry,
);

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("libgmp's stack switch (src/sched/cswitch.rs) exists for x86-64 and aarch64");

unsafe extern "C" {
    fn gmp_ctx_switch(save: *mut usize, to: usize, arg: usize) -> usize;
    fn gmp_ctx_start();
}

/// Saves the running context's stack pointer in `*save` and resumes the context whose
/// stack pointer is `to`, handing it `arg`. Returns the word handed to us when some
/// context switches back to this one.
///
/// # Safety
/// `to` must be a context saved by `switch` or made by [`init`] whose stack is not in
/// use, and `*save` must stay valid until this context is resumed.
#[inline(always)]
pub(crate) unsafe fn switch(save: *mut usize, to: usize, arg: usize) -> usize {
    // SAFETY: the caller's contract; the routine preserves what the C ABI requires of a
    // call.
    unsafe { gmp_ctx_switch(save, to, arg) }
}

/// From a thread's scheduler loop (an M's `execute`, a home's `run_one`) to goroutine
/// `g`, which the caller owns: saves the loop's context in `*save` and returns the word
/// handed back when a goroutine switches to the loop. `sync`: the switch back after a
/// `gmp_blocking` call (`Switch::Call`), an ordering TSan must see.
///
/// # Safety
/// As [`switch`], with `g`'s saved context as the one resumed.
#[inline(always)]
pub(crate) unsafe fn switch_to_g(save: *mut usize, g: GRef, sync: bool) -> usize {
    if sanitizer::on() {
        super::sanitizer::thread_to_g(g, sync);
    }
    // SAFETY: the caller's contract; the caller owns g, so its saved context is ours.
    let arg = unsafe { switch(save, g.inner().sp, 0) };
    if sanitizer::on() {
        super::sanitizer::back_on_thread(arg);
    }
    arg
}

/// From the running goroutine `g1` (context saved in `*save`) to `g2`, or to its
/// thread's loop when `g2` is None; `to` is the context resumed, `arg` the word handed
/// over (`g::pending`). Returns the word handed to `g1` when it is resumed.
///
/// # Safety
/// As [`switch`].
#[inline(always)]
pub(crate) unsafe fn switch_g(
    save: *mut usize,
    g1: GRef,
    g2: Option<GRef>,
    to: usize,
    arg: usize,
) -> usize {
    if sanitizer::on() {
        super::sanitizer::g_to(g1, g2, arg);
    }
    // SAFETY: the caller's contract.
    let got = unsafe { switch(save, to, arg) };
    if sanitizer::on() {
        super::sanitizer::in_g(g1, got, false);
    }
    got
}

/// Lays out a fresh context at the top of a stack (`base`, its highest address): the
/// first switch to it enters `g::g_entry(arg, g)`. Returns its stack pointer.
///
/// # Safety
/// `base` must be the top of a writable stack of at least a page that nothing else
/// uses.
pub(crate) unsafe fn init(base: usize, g: *mut G) -> usize {
    let top = base & !15;
    let start = gmp_ctx_start as *const () as usize;
    #[cfg(target_arch = "x86_64")]
    {
        // Popped in order: r15 r14 r13 r12 rbx rbp, then the return address; then two
        // zero words (the end of the chain for frame-pointer walkers). After the `ret`
        // rsp is 16-aligned at gmp_ctx_start's call, as the ABI requires.
        let sp = top - 72;
        let frame: [usize; 9] = [0, 0, 0, 0, g as usize, 0, start, 0, 0];
        // SAFETY: the caller's stack has room for these 72 bytes below its top.
        unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), sp as *mut usize, 9) };
        sp
    }
    #[cfg(target_arch = "aarch64")]
    {
        // x19 (= g) .. x28, x29 = 0 and x30 = gmp_ctx_start, d8..d15, 16 bytes of
        // padding; then two zero words above for frame-pointer walkers.
        let sp = top - 176 - 16;
        // SAFETY: the caller's stack has room for these 192 bytes below its top.
        unsafe {
            std::ptr::write_bytes(sp as *mut u8, 0, 192);
            *(sp as *mut usize) = g as usize;
            *((sp + 88) as *mut usize) = start;
        }
        sp
    }
}

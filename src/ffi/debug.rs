//! Symbols for debuggers (not in the header): the gdb extension `gdb/gmp-gdb.py` finds
//! every goroutine through `gmp_debug_allgs`/`gmp_debug_nallgs` and reads its fields at
//! the offsets in `gmp_debug_layout`, so it needs no Rust debug info.

use std::mem::offset_of;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::sched::g::G;

/// Field offsets of a goroutine record, for debuggers.
#[repr(C)]
pub struct gmp_debug_layout_t {
    pub version: u32,
    pub g_id: u32,
    pub g_status: u32,
    pub g_wait_reason: u32,
    pub g_saved_sp: u32,
    pub g_saved_bp: u32,
    pub g_saved_pc: u32,
    pub g_name_ptr: u32,
    pub g_lockedm: u32,
}

#[unsafe(no_mangle)]
#[used]
pub static gmp_debug_layout: gmp_debug_layout_t = gmp_debug_layout_t {
    version: 1,
    g_id: offset_of!(G, id) as u32,
    g_status: offset_of!(G, status) as u32,
    g_wait_reason: offset_of!(G, wait_reason) as u32,
    g_saved_sp: offset_of!(G, saved_sp) as u32,
    g_saved_bp: offset_of!(G, saved_bp) as u32,
    g_saved_pc: offset_of!(G, saved_pc) as u32,
    g_name_ptr: offset_of!(G, name_ptr) as u32,
    g_lockedm: offset_of!(G, lockedm) as u32,
};

/// The array of every goroutine record (pointers), and its length: every G allocated,
/// less those on pages the scavenger gave back (`sched/gslab.rs`) until they are reused.
#[unsafe(no_mangle)]
pub static gmp_debug_allgs: AtomicPtr<*mut std::ffi::c_void> = AtomicPtr::new(std::ptr::null_mut());
#[unsafe(no_mangle)]
pub static gmp_debug_nallgs: AtomicUsize = AtomicUsize::new(0);

/// Publishes allgs after a push (called with the allgs lock held).
pub(crate) fn publish(all: &[crate::sched::g::GRef]) {
    // GRef is a transparent NonNull<G>, so the Vec's buffer is an array of G pointers.
    gmp_debug_nallgs.store(0, Ordering::Release);
    gmp_debug_allgs.store(
        all.as_ptr() as *mut *mut std::ffi::c_void,
        Ordering::Release,
    );
    gmp_debug_nallgs.store(all.len(), Ordering::Release);
}

//! The libgmp C ABI and the thread-state shim this extension calls.
//!
//! libgmp's types, constants and functions come from gmp-sys (`../../gmp-sys`), the one
//! Rust declaration of `<gmp/gmp.h>`, which the ABI test checks against the header and
//! against the library's own definitions: nothing of the ABI is copied here. The
//! extension links `libgmp.so.0` dynamically (one runtime per process; see build.rs).
//! Below: the declarations of csrc/pystate.c, the per-goroutine thread-state shim.
#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_int, c_void};

pub use gmp_sys::*;

/// Opaque C-side state (csrc/pystate.c).
#[repr(C)]
pub struct gmpy_home {
    _p: [u8; 0],
}
#[repr(C)]
pub struct gmpy_g {
    _p: [u8; 0],
}

unsafe extern "C" {
    /// CPython's (not in pyo3-ffi's public set).
    pub fn _PyBytes_Resize(bytes: *mut *mut pyo3::ffi::PyObject, newsize: isize) -> c_int;
}

unsafe extern "C" {
    pub fn gmpy_g_size() -> usize;
    pub fn gmpy_home_new(ts: *mut pyo3::ffi::PyThreadState) -> *mut gmpy_home;
    pub fn gmpy_g_init(g: *mut gmpy_g, home: *mut gmpy_home, stack_size: usize);
    pub fn gmpy_spawn_site(
        prefix: *mut pyo3::ffi::PyObject,
        lasti: *mut c_int,
    ) -> *mut pyo3::ffi::PyObject;
    pub fn gmpy_site_tuple(
        code: *mut pyo3::ffi::PyObject,
        lasti: c_int,
    ) -> *mut pyo3::ffi::PyObject;
    pub fn gmpy_copy_context() -> *mut pyo3::ffi::PyObject;
    pub fn gmpy_home_cur(h: *mut gmpy_home) -> *mut gmpy_g;
    pub fn gmpy_home_recap(h: *mut gmpy_home, capped: c_int);
    pub fn gmpy_g_set_context(g: *mut gmpy_g, context: *mut pyo3::ffi::PyObject);
    pub fn gmpy_on_park(ctx: *mut c_void);
    pub fn gmpy_on_resume(ctx: *mut c_void);
    pub fn gmpy_run(g: *mut gmpy_g, body: unsafe extern "C" fn(*mut c_void), arg: *mut c_void);
    pub fn gmpy_g_frames(g: *mut gmpy_g, out: *mut pyo3::ffi::PyObject) -> c_int;
    pub fn gmpy_built_hexversion() -> std::ffi::c_ulong;
    pub fn gmpy_call(
        callable: *mut pyo3::ffi::PyObject,
        args: *mut pyo3::ffi::PyObject,
        kwargs: *mut pyo3::ffi::PyObject,
    ) -> *mut pyo3::ffi::PyObject;
    pub fn gmpy_gil_ensure() -> c_int;
    pub fn gmpy_restore_thread(ts: *mut pyo3::ffi::PyThreadState);
}

unsafe extern "C" {
    /// csrc/pystate.c, preemption: the epoch of the home's running goroutine (and whether
    /// one runs), and the request that it yield.
    pub fn gmpy_home_epoch(h: *mut gmpy_home, busy: *mut c_int) -> u64;
    pub fn gmpy_home_preempt(h: *mut gmpy_home, epoch: u64);
}

//! The libgmp C ABI (include/gmp/gmp.h) as this extension uses it, linked dynamically
//! against `libgmp.so.0` (one runtime per process), and the 3.11 thread-state shim
//! (csrc/pystate.c).
#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_int, c_void};

pub type gmp_fn = Option<unsafe extern "C" fn(arg: *mut c_void)>;
pub type gmp_goid = u64;

#[repr(C)]
pub struct gmp_chan {
    _p: [u8; 0],
}
#[repr(C)]
pub struct gmp_home {
    _p: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct gmp_switch_hooks {
    pub size: usize,
    pub on_park: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    pub on_resume: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    pub ctx: *mut c_void,
}

#[repr(C)]
pub struct gmp_go_attr {
    pub size: usize,
    pub stack_size: usize,
    pub name: *const c_char,
    pub hooks: *const gmp_switch_hooks,
}

#[repr(C)]
pub struct gmp_config {
    pub size: usize,
    pub maxprocs: c_int,
    pub stack_size: usize,
    pub max_threads: c_int,
}

#[repr(C)]
pub struct gmp_select_case {
    pub chan: *mut gmp_chan,
    pub op: c_int,
    pub elem: *mut c_void,
    pub result: c_int,
}

#[repr(C)]
#[derive(Default)]
pub struct gmp_stats {
    pub size: usize,
    pub maxprocs: i32,
    pub idle_procs: i32,
    pub threads: i32,
    pub spinning_threads: i32,
    pub idle_threads: i32,
    pub _pad: i32,
    pub goroutines: i64,
    pub global_runqueue: i64,
    pub goroutines_created: u64,
    pub context_switches: u64,
    pub steals: u64,
    pub syscall_handoffs: u64,
    pub preempt_requests: u64,
}

#[repr(C)]
#[derive(Default)]
pub struct gmp_mutex {
    pub _opaque: [u64; 2],
}
#[repr(C)]
#[derive(Default)]
pub struct gmp_waitgroup {
    pub _opaque: [u64; 4],
}

pub const GMP_SEND: c_int = 1;
pub const GMP_RECV: c_int = 2;

pub const GMP_POLLIN: c_int = 1;
pub const GMP_POLLOUT: c_int = 4;

pub const GMP_EINVAL: c_int = -22;
pub const GMP_ENOMEM: c_int = -12;
pub const GMP_EAGAIN: c_int = -11;
pub const GMP_ETIMEDOUT: c_int = -110;
pub const GMP_ECANCELED: c_int = -125;
pub const GMP_EALREADY: c_int = -114;
pub const GMP_EINTR: c_int = -4;
pub const GMP_ECLOSED: c_int = -4097;
pub const GMP_ENOTGOROUTINE: c_int = -4098;
pub const GMP_ESHUTDOWN: c_int = -4099;

unsafe extern "C" {
    pub fn gmp_init(cfg: *const gmp_config) -> c_int;
    pub fn gmp_maxprocs(n: c_int) -> c_int;
    pub fn gmp_num_goroutine() -> i64;
    pub fn gmp_lib_version() -> *const c_char;
    pub fn gmp_strerror(code: i32) -> *const c_char;
    pub fn gmp_now() -> i64;
    pub fn gmp_sleep(ns: i64) -> c_int;
    pub fn gmp_read_stats(out: *mut gmp_stats) -> c_int;
    pub fn gmp_dump_goroutines(fd: c_int) -> c_int;

    pub fn gmp_go(f: gmp_fn, arg: *mut c_void) -> c_int;
    pub fn gmp_gosched();
    pub fn gmp_self() -> gmp_goid;
    pub fn gmp_set_name(name: *const c_char) -> c_int;
    pub fn gmp_lock_os_thread() -> c_int;
    pub fn gmp_unlock_os_thread() -> c_int;

    pub fn gmp_home_make(out: *mut *mut gmp_home) -> c_int;
    pub fn gmp_go_home(
        h: *mut gmp_home,
        attr: *const gmp_go_attr,
        f: gmp_fn,
        arg: *mut c_void,
    ) -> c_int;
    pub fn gmp_home_run(h: *mut gmp_home, budget_ns: i64) -> c_int;
    pub fn gmp_home_wait(h: *mut gmp_home, timeout_ns: i64) -> c_int;
    pub fn gmp_home_wake(h: *mut gmp_home) -> c_int;

    pub fn gmp_chan_make(out: *mut *mut gmp_chan, elem_size: usize, cap: usize) -> c_int;
    pub fn gmp_chan_make_ex(
        out: *mut *mut gmp_chan,
        elem_size: usize,
        cap: usize,
        drop: Option<unsafe extern "C" fn(elem: *mut c_void, ctx: *mut c_void)>,
        drop_ctx: *mut c_void,
    ) -> c_int;
    pub fn gmp_chan_retain(ch: *mut gmp_chan) -> *mut gmp_chan;
    pub fn gmp_chan_release(ch: *mut gmp_chan);
    pub fn gmp_chan_send(ch: *mut gmp_chan, elem: *const c_void) -> c_int;
    pub fn gmp_chan_recv(ch: *mut gmp_chan, elem: *mut c_void) -> c_int;
    pub fn gmp_chan_send_timeout(ch: *mut gmp_chan, elem: *const c_void, t: i64) -> c_int;
    pub fn gmp_chan_recv_timeout(ch: *mut gmp_chan, elem: *mut c_void, t: i64) -> c_int;
    pub fn gmp_chan_close(ch: *mut gmp_chan) -> c_int;
    pub fn gmp_chan_len(ch: *mut gmp_chan) -> i64;
    pub fn gmp_chan_cap(ch: *mut gmp_chan) -> i64;
    pub fn gmp_select(cases: *mut gmp_select_case, n: usize, timeout_ns: i64) -> c_int;
    pub fn gmp_after(out: *mut *mut gmp_chan, ns: i64) -> c_int;
    pub fn gmp_ticker(out: *mut *mut gmp_chan, period_ns: i64) -> c_int;
    pub fn gmp_ticker_stop(ticker: *mut gmp_chan) -> c_int;

    pub fn gmp_mutex_lock(mu: *mut gmp_mutex) -> c_int;
    pub fn gmp_mutex_lock_timeout(mu: *mut gmp_mutex, timeout_ns: i64) -> c_int;
    pub fn gmp_mutex_trylock(mu: *mut gmp_mutex) -> c_int;
    pub fn gmp_mutex_unlock(mu: *mut gmp_mutex) -> c_int;
    pub fn gmp_waitgroup_add(wg: *mut gmp_waitgroup, delta: i64) -> c_int;
    pub fn gmp_waitgroup_done(wg: *mut gmp_waitgroup) -> c_int;
    pub fn gmp_waitgroup_wait(wg: *mut gmp_waitgroup) -> c_int;
    pub fn gmp_waitgroup_wait_timeout(wg: *mut gmp_waitgroup, timeout_ns: i64) -> c_int;

    pub fn gmp_wait_fd(fd: c_int, events: c_int, timeout_ns: i64) -> c_int;
    pub fn gmp_recv(fd: c_int, buf: *mut c_void, n: usize, flags: c_int, t: i64) -> isize;
    pub fn gmp_send(fd: c_int, buf: *const c_void, n: usize, flags: c_int, t: i64) -> isize;
    pub fn gmp_sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int, t: i64) -> isize;
    pub fn gmp_accept(
        fd: c_int,
        addr: *mut libc::sockaddr,
        len: *mut libc::socklen_t,
        t: i64,
    ) -> c_int;
    pub fn gmp_connect(
        fd: c_int,
        addr: *const libc::sockaddr,
        len: libc::socklen_t,
        t: i64,
    ) -> c_int;
    pub fn gmp_close_fd(fd: c_int) -> c_int;
    pub fn gmp_blocking(f: gmp_fn, arg: *mut c_void) -> c_int;
}

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
    /// Whether every goroutine is asleep with nothing in the runtime left to wake one
    /// (1, with a progress stamp), for `gmp.run`'s deadlock check.
    pub fn gmp_all_asleep(stamp: *mut u64) -> c_int;
}

//! The functions of `<gmp/gmp.h>`, declared for Rust callers that link `libgmp.so`
//! (the Python binding). Their documentation is the header's (from the doc comments of
//! the definitions in `src/ffi/`). Kept in the header's order; the ABI test fails if a
//! function is missing here, extra here, or declared with another type than its
//! definition or its prototype (see the crate's top comment).

// `gmp_chan` and `gmp_home` are opaque without `#[repr(C)]` (so cbindgen writes them as
// incomplete struct types); only pointers to them cross the ABI.
#![allow(improper_ctypes)]

use std::ffi::{c_char, c_int, c_void};

use crate::types::*;

unsafe extern "C" {
    // Channels and select (src/ffi/chan.rs)
    pub fn gmp_chan_make(out: *mut *mut gmp_chan, elem_size: usize, capacity: usize) -> c_int;
    pub fn gmp_chan_make_ex(
        out: *mut *mut gmp_chan,
        elem_size: usize,
        capacity: usize,
        drop: Option<unsafe extern "C" fn(elem: *mut c_void, ctx: *mut c_void)>,
        drop_ctx: *mut c_void,
    ) -> c_int;
    pub fn gmp_chan_retain(ch: *mut gmp_chan) -> *mut gmp_chan;
    pub fn gmp_chan_release(ch: *mut gmp_chan);
    pub fn gmp_chan_send(ch: *mut gmp_chan, elem: *const c_void) -> c_int;
    pub fn gmp_chan_recv(ch: *mut gmp_chan, elem: *mut c_void) -> c_int;
    pub fn gmp_chan_send_timeout(ch: *mut gmp_chan, elem: *const c_void, timeout_ns: i64) -> c_int;
    pub fn gmp_chan_recv_timeout(ch: *mut gmp_chan, elem: *mut c_void, timeout_ns: i64) -> c_int;
    pub fn gmp_chan_close(ch: *mut gmp_chan) -> c_int;
    pub fn gmp_chan_len(ch: *mut gmp_chan) -> i64;
    pub fn gmp_chan_cap(ch: *mut gmp_chan) -> i64;
    pub fn gmp_select(cases: *mut gmp_select_case, n: usize, timeout_ns: i64) -> c_int;
    pub fn gmp_after(out: *mut *mut gmp_chan, ns: i64) -> c_int;
    pub fn gmp_ticker(out: *mut *mut gmp_chan, period_ns: i64) -> c_int;
    pub fn gmp_ticker_stop(ticker: *mut gmp_chan) -> c_int;

    // Goroutines (src/ffi/goroutine.rs)
    pub fn gmp_go(fn_: gmp_fn, arg: *mut c_void) -> c_int;
    pub fn gmp_go_ex(
        attr: *const gmp_go_attr,
        fn_: gmp_fn,
        arg: *mut c_void,
        out_id: *mut gmp_goid,
    ) -> c_int;
    pub fn gmp_go_inline(
        fn_: gmp_fn,
        init: gmp_go_init_fn,
        ctx: *mut c_void,
        hooks: *const gmp_switch_hooks,
    ) -> c_int;
    pub fn gmp_gosched();
    pub fn gmp_self() -> gmp_goid;
    pub fn gmp_set_name(name: *const c_char) -> c_int;
    pub fn gmp_lock_os_thread() -> c_int;
    pub fn gmp_unlock_os_thread() -> c_int;
    pub fn gmp_preempt_point();

    // Homes (src/ffi/home.rs)
    pub fn gmp_home_make(out: *mut *mut gmp_home) -> c_int;
    pub fn gmp_go_home(
        h: *mut gmp_home,
        attr: *const gmp_go_attr,
        fn_: gmp_fn,
        arg: *mut c_void,
    ) -> c_int;
    pub fn gmp_go_home_ex(
        h: *mut gmp_home,
        attr: *const gmp_go_attr,
        fn_: gmp_fn,
        arg: *mut c_void,
        out_id: *mut gmp_goid,
    ) -> c_int;
    pub fn gmp_home_run(h: *mut gmp_home, budget_ns: i64) -> c_int;
    pub fn gmp_home_wait(h: *mut gmp_home, timeout_ns: i64) -> c_int;
    pub fn gmp_home_set_reentrant(h: *mut gmp_home, reentrant: c_int) -> c_int;
    pub fn gmp_home_wake(h: *mut gmp_home) -> c_int;
    pub fn gmp_home_fd(h: *mut gmp_home) -> c_int;
    pub fn gmp_home_close(h: *mut gmp_home) -> c_int;
    pub fn gmp_home_free(h: *mut gmp_home) -> c_int;

    // Goroutine-local storage (src/ffi/local.rs)
    pub fn gmp_local_key_create(
        out: *mut gmp_local_key,
        destructor: Option<unsafe extern "C" fn(value: *mut c_void)>,
    ) -> c_int;
    pub fn gmp_local_key_delete(key: gmp_local_key) -> c_int;
    pub fn gmp_local_get(key: gmp_local_key) -> *mut c_void;
    pub fn gmp_local_set(key: gmp_local_key, value: *mut c_void) -> c_int;

    // The network poller and blocking calls (src/ffi/netpoll.rs)
    pub fn gmp_wait_fd(fd: c_int, events: c_int, timeout_ns: i64) -> c_int;
    pub fn gmp_socket(domain: c_int, type_: c_int, protocol: c_int) -> c_int;
    pub fn gmp_fd_adopt(fd: c_int) -> c_int;
    pub fn gmp_read(fd: c_int, buf: *mut c_void, n: usize, timeout_ns: i64) -> libc::ssize_t;
    pub fn gmp_write(fd: c_int, buf: *const c_void, n: usize, timeout_ns: i64) -> libc::ssize_t;
    pub fn gmp_recv(
        fd: c_int,
        buf: *mut c_void,
        n: usize,
        flags: c_int,
        timeout_ns: i64,
    ) -> libc::ssize_t;
    pub fn gmp_send(
        fd: c_int,
        buf: *const c_void,
        n: usize,
        flags: c_int,
        timeout_ns: i64,
    ) -> libc::ssize_t;
    pub fn gmp_recvmsg(
        fd: c_int,
        msg: *mut libc::msghdr,
        flags: c_int,
        timeout_ns: i64,
    ) -> libc::ssize_t;
    pub fn gmp_sendmsg(
        fd: c_int,
        msg: *const libc::msghdr,
        flags: c_int,
        timeout_ns: i64,
    ) -> libc::ssize_t;
    pub fn gmp_accept(
        fd: c_int,
        addr: *mut libc::sockaddr,
        len: *mut libc::socklen_t,
        timeout_ns: i64,
    ) -> c_int;
    pub fn gmp_connect(
        fd: c_int,
        addr: *const libc::sockaddr,
        len: libc::socklen_t,
        timeout_ns: i64,
    ) -> c_int;
    pub fn gmp_close_fd(fd: c_int) -> c_int;
    pub fn gmp_syscall_enter();
    pub fn gmp_syscall_exit();
    pub fn gmp_blocking(fn_: gmp_fn, arg: *mut c_void) -> c_int;

    // Runtime (src/ffi/runtime.rs)
    pub fn gmp_init(cfg: *const gmp_config) -> c_int;
    pub fn gmp_main(fn_: gmp_fn, arg: *mut c_void) -> c_int;
    pub fn gmp_main_ex(attr: *const gmp_go_attr, fn_: gmp_fn, arg: *mut c_void) -> c_int;
    pub fn gmp_maxprocs(n: c_int) -> c_int;
    pub fn gmp_num_goroutine() -> i64;
    pub fn gmp_shutdown(timeout_ns: i64) -> c_int;
    pub fn gmp_lib_version() -> *const c_char;
    pub fn gmp_lib_version_number() -> u32;
    pub fn gmp_strerror(code: i32) -> *const c_char;
    pub fn gmp_now() -> i64;
    pub fn gmp_sleep(ns: i64) -> c_int;
    pub fn gmp_read_stats(out: *mut gmp_stats) -> c_int;
    pub fn gmp_dump_goroutines(fd: c_int) -> c_int;
    pub fn gmp_all_asleep(stamp: *mut u64) -> c_int;
    pub fn gmp_trace_start(path: *const c_char) -> c_int;
    pub fn gmp_trace_stop() -> c_int;

    // Sync (src/ffi/sync.rs)
    pub fn gmp_mutex_lock(mu: *mut gmp_mutex) -> c_int;
    pub fn gmp_mutex_lock_timeout(mu: *mut gmp_mutex, timeout_ns: i64) -> c_int;
    pub fn gmp_mutex_trylock(mu: *mut gmp_mutex) -> c_int;
    pub fn gmp_mutex_unlock(mu: *mut gmp_mutex) -> c_int;
    pub fn gmp_rwmutex_rlock(rw: *mut gmp_rwmutex) -> c_int;
    pub fn gmp_rwmutex_tryrlock(rw: *mut gmp_rwmutex) -> c_int;
    pub fn gmp_rwmutex_runlock(rw: *mut gmp_rwmutex) -> c_int;
    pub fn gmp_rwmutex_lock(rw: *mut gmp_rwmutex) -> c_int;
    pub fn gmp_rwmutex_trylock(rw: *mut gmp_rwmutex) -> c_int;
    pub fn gmp_rwmutex_unlock(rw: *mut gmp_rwmutex) -> c_int;
    pub fn gmp_waitgroup_add(wg: *mut gmp_waitgroup, delta: i64) -> c_int;
    pub fn gmp_waitgroup_done(wg: *mut gmp_waitgroup) -> c_int;
    pub fn gmp_waitgroup_wait(wg: *mut gmp_waitgroup) -> c_int;
    pub fn gmp_waitgroup_wait_timeout(wg: *mut gmp_waitgroup, timeout_ns: i64) -> c_int;
    pub fn gmp_once_do(once: *mut gmp_once, fn_: gmp_fn, arg: *mut c_void) -> c_int;
    pub fn gmp_cond_wait(c: *mut gmp_cond, mu: *mut gmp_mutex) -> c_int;
    pub fn gmp_cond_wait_timeout(c: *mut gmp_cond, mu: *mut gmp_mutex, timeout_ns: i64) -> c_int;
    pub fn gmp_cond_signal(c: *mut gmp_cond) -> c_int;
    pub fn gmp_cond_broadcast(c: *mut gmp_cond) -> c_int;
}

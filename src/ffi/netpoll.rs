//! The network poller and syscall-safe blocking.

use std::ffi::{c_int, c_void};

use super::types::{GMP_POLLERR, GMP_POLLHUP, GMP_POLLIN, GMP_POLLOUT};
use super::{entry, gmp_fn};
use crate::error;
use crate::netpoll as np;
use crate::time::deadline_after;

const _: () = {
    assert!(GMP_POLLIN == np::POLLIN && GMP_POLLOUT == np::POLLOUT);
    assert!(GMP_POLLERR == np::POLLERR && GMP_POLLHUP == np::POLLHUP);
};

/// Waits until `fd` is ready for `events` (GMP_POLLIN and/or GMP_POLLOUT) or the
/// timeout passes (< 0: forever; 0: just check, `GMP_EAGAIN` if not ready). A goroutine parks (sockets and
/// non-blocking fds go through the poller; other fds through a syscall hand-off); a
/// foreign thread blocks.
///
/// Returns the ready mask (GMP_POLLIN | GMP_POLLOUT | GMP_POLLERR | GMP_POLLHUP);
/// `GMP_ETIMEDOUT`; `GMP_ECANCELED` (gmp_close_fd, or the home closed); `GMP_EINVAL`
/// (no event asked); a negative errno (`-EBADF`).
#[unsafe(no_mangle)]
pub extern "C" fn gmp_wait_fd(fd: c_int, events: c_int, timeout_ns: i64) -> c_int {
    entry!(
        Runtime,
        crate::error::try_code(
            timeout_ns,
            np::wait_fd(fd, events, deadline_after(timeout_ns))
        )
    )
}

/// `socket(2)`, made non-blocking, close-on-exec and netpolled. Returns the fd or a
/// negative errno.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_socket(domain: c_int, type_: c_int, protocol: c_int) -> c_int {
    entry!(Runtime, np::socket(domain, type_, protocol))
}

/// Makes any pollable fd (pipe, tty, eventfd, socket) non-blocking and netpolled.
/// O_NONBLOCK changes the open file description, which other processes may share.
/// Returns 0; `GMP_EINVAL` for a regular file or a directory (not pollable: calls on
/// them take the syscall hand-off, and the fd is left as it was); or a negative errno.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_fd_adopt(fd: c_int) -> c_int {
    entry!(Runtime, np::adopt(fd))
}

/// Reads up to `n` bytes, parking until data, EOF or the timeout. EINTR is retried.
/// Returns the bytes read (0 at EOF), `GMP_ETIMEDOUT`, `GMP_ECANCELED`, or a negative
/// errno (`-ECONNRESET`, ...). A switch point.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_read(
    fd: c_int,
    buf: *mut c_void,
    n: usize,
    timeout_ns: i64,
) -> libc::ssize_t {
    entry!(Runtime, {
        if buf.is_null() && n > 0 {
            return error::EINVAL as isize;
        }
        crate::error::try_len(
            timeout_ns,
            np::read(fd, buf.cast(), n, deadline_after(timeout_ns)),
        )
    })
}

/// Writes all `n` bytes (several writes if the kernel takes less), parking while the fd
/// is full. Returns `n`; when the timeout passes after some bytes went out, that
/// partial count (the stream stays recoverable: write the rest later); else the error
/// that stopped it (`GMP_ETIMEDOUT` with nothing written, `GMP_EAGAIN` for timeout 0,
/// `GMP_ECANCELED`, a negative errno). SIGPIPE is not raised for sockets.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_write(
    fd: c_int,
    buf: *const c_void,
    n: usize,
    timeout_ns: i64,
) -> libc::ssize_t {
    entry!(Runtime, {
        if buf.is_null() && n > 0 {
            return error::EINVAL as isize;
        }
        crate::error::try_len(
            timeout_ns,
            np::write_all(fd, buf.cast(), n, None, deadline_after(timeout_ns)),
        )
    })
}

/// `recv(2)` with parking. Returns bytes received, 0 at EOF, or a code.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_recv(
    fd: c_int,
    buf: *mut c_void,
    n: usize,
    flags: c_int,
    timeout_ns: i64,
) -> libc::ssize_t {
    entry!(Runtime, {
        if buf.is_null() && n > 0 {
            return error::EINVAL as isize;
        }
        crate::error::try_len(
            timeout_ns,
            np::recv(fd, buf.cast(), n, flags, deadline_after(timeout_ns)),
        )
    })
}

/// `send(2)` of all `n` bytes with parking (MSG_NOSIGNAL added). Returns `n`, a partial
/// count or a code, as `gmp_write`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_send(
    fd: c_int,
    buf: *const c_void,
    n: usize,
    flags: c_int,
    timeout_ns: i64,
) -> libc::ssize_t {
    entry!(Runtime, {
        if buf.is_null() && n > 0 {
            return error::EINVAL as isize;
        }
        crate::error::try_len(
            timeout_ns,
            np::write_all(fd, buf.cast(), n, Some(flags), deadline_after(timeout_ns)),
        )
    })
}

/// `recvmsg(2)` with parking.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_recvmsg(
    fd: c_int,
    msg: *mut libc::msghdr,
    flags: c_int,
    timeout_ns: i64,
) -> libc::ssize_t {
    entry!(Runtime, {
        if msg.is_null() {
            return error::EINVAL as isize;
        }
        crate::error::try_len(
            timeout_ns,
            np::recvmsg(fd, msg, flags, deadline_after(timeout_ns)),
        )
    })
}

/// `sendmsg(2)` with parking (one call: a short send is returned as is).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_sendmsg(
    fd: c_int,
    msg: *const libc::msghdr,
    flags: c_int,
    timeout_ns: i64,
) -> libc::ssize_t {
    entry!(Runtime, {
        if msg.is_null() {
            return error::EINVAL as isize;
        }
        crate::error::try_len(
            timeout_ns,
            np::sendmsg(fd, msg, flags, deadline_after(timeout_ns)),
        )
    })
}

/// Accepts a connection, parking until one arrives. The new fd is non-blocking,
/// close-on-exec and netpolled. `addr`/`len` may be NULL. Returns the fd or a code.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_accept(
    fd: c_int,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
    timeout_ns: i64,
) -> c_int {
    entry!(
        Runtime,
        crate::error::try_code(
            timeout_ns,
            np::accept(fd, addr, len, deadline_after(timeout_ns))
        )
    )
}

/// Connects, parking until the connection is made (a non-blocking connect finished in
/// the poller). Returns 0, `GMP_ETIMEDOUT`, or a negative errno (`-ECONNREFUSED`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_connect(
    fd: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
    timeout_ns: i64,
) -> c_int {
    entry!(Runtime, {
        if addr.is_null() {
            return error::EINVAL;
        }
        crate::error::try_code(
            timeout_ns,
            np::connect(fd, addr, len, deadline_after(timeout_ns)),
        )
    })
}

/// Closes `fd`: its waiters return `GMP_ECANCELED`, the close waits for calls in flight
/// to return (Go's fdMutex), then close(2). Returns 0 or a negative errno.
///
/// Plain close(2) of an fd that goroutines wait on does NOT wake them (the kernel
/// silently drops the poller's registration): only `gmp_close_fd` cancels waiters.
/// Plain close(2) of an idle fd is fine, also when its number is reused at once by a
/// file made outside the library: calls on the new file work as on any other fd (if
/// the old fd came from `gmp_socket` or `gmp_accept`, the first wait on the new file
/// may take up to about 0.1 s longer: the library notices the new file lazily).
#[unsafe(no_mangle)]
pub extern "C" fn gmp_close_fd(fd: c_int) -> c_int {
    entry!(Runtime, np::close(fd))
}

/// `entersyscall`: the calling goroutine is about to block in the kernel; its P may be
/// handed to another thread meanwhile. Until `gmp_syscall_exit`, gmp calls on this
/// thread act as on a foreign thread. No-op on a foreign thread.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_syscall_enter() {
    entry!(NoStart, crate::sched::syscall::enter_section())
}

/// `exitsyscall`: take a P back (the old one with one CAS when nobody took it), or queue
/// the goroutine and wait for one. A switch point.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_syscall_exit() {
    entry!(NoStart, crate::sched::syscall::exit_section())
}

/// Runs `fn(arg)` between `gmp_syscall_enter` and `gmp_syscall_exit`, on the thread's
/// own stack (as cgo runs C): a stable thread and a large stack for getaddrinfo,
/// OpenSSL and the like. Other goroutines keep running on the other P's (and on this
/// one, once sysmon hands it off). `fn` must not call blocking gmp functions expecting
/// goroutine behaviour: inside, they block the thread.
/// Returns 0, `GMP_EINVAL` (NULL fn), or `GMP_ESHUTDOWN`.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_blocking(fn_: gmp_fn, arg: *mut c_void) -> c_int {
    entry!(Runtime, {
        let Some(f) = fn_ else { return error::EINVAL };
        crate::sched::syscall::blocking(f, arg);
        0
    })
}

//! The fd calls behind `gmp.socket`: each parks only the calling goroutine (the
//! runtime's netpoller wakes it), or, on a plain thread, waits in interruptible slices.
//! The Python side (`gmp/__init__.py`, class `socket`) keeps the `socket.socket` object
//! and passes its fd here.

use std::ffi::{c_int, c_void};

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;

use crate::Timeout;
use crate::ffi::*;
use crate::wait::{block, deadline};

fn io_error(py: Python<'_>, r: isize) -> PyErr {
    let r = r as c_int;
    match r {
        GMP_ETIMEDOUT | GMP_EAGAIN => Timeout::new_err("timed out"),
        GMP_ECANCELED => pyo3::exceptions::PyOSError::new_err((libc::EBADF, "socket closed")),
        _ => crate::error_from_code(py, r),
    }
}

#[pyfunction]
#[pyo3(signature = (fd, n, timeout = None))]
pub fn sock_recv(py: Python<'_>, fd: c_int, n: usize, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
    crate::fork_check()?;
    let dl = deadline(timeout)?;
    // SAFETY: a new bytes object of n (uninitialised) bytes, ours alone until returned.
    let mut obj = unsafe { pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), n as isize) };
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: obj is a bytes object of n bytes.
    let buf = unsafe { pyo3::ffi::PyBytes_AsString(obj) } as usize;
    let r = block(py, dl, |t| {
        // SAFETY: buf has n writable bytes and lives as long as obj.
        unsafe { gmp_recv(fd, buf as *mut c_void, n, 0, t) }
    });
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            // SAFETY: our reference.
            unsafe { pyo3::ffi::Py_DECREF(obj) };
            return Err(e);
        }
    };
    if r < 0 {
        // SAFETY: our reference.
        unsafe { pyo3::ffi::Py_DECREF(obj) };
        return Err(io_error(py, r));
    }
    if (r as usize) != n {
        // SAFETY: obj is ours alone (refcount 1), as _PyBytes_Resize requires.
        if unsafe { _PyBytes_Resize(&mut obj, r) } < 0 {
            return Err(PyErr::fetch(py));
        }
    }
    // SAFETY: a new reference we own.
    Ok(unsafe { Bound::from_owned_ptr(py, obj) }.unbind())
}

#[pyfunction]
#[pyo3(signature = (fd, buffer, nbytes = 0, timeout = None))]
pub fn sock_recv_into(
    py: Python<'_>,
    fd: c_int,
    buffer: PyBuffer<u8>,
    nbytes: usize,
    timeout: Option<f64>,
) -> PyResult<usize> {
    crate::fork_check()?;
    if buffer.readonly() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "buffer is read-only",
        ));
    }
    if !buffer.is_c_contiguous() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "buffer must be contiguous",
        ));
    }
    let len = buffer.len_bytes();
    let n = if nbytes == 0 { len } else { nbytes.min(len) };
    let dl = deadline(timeout)?;
    let p = buffer.buf_ptr() as usize;
    // SAFETY: the exported buffer stays valid and writable while `buffer` lives.
    let r = block(py, dl, |t| unsafe {
        gmp_recv(fd, p as *mut c_void, n, 0, t)
    })?;
    if r < 0 {
        return Err(io_error(py, r));
    }
    Ok(r as usize)
}

fn send_once(py: Python<'_>, fd: c_int, p: usize, n: usize, dl: Option<i64>) -> PyResult<usize> {
    let r = block(py, dl, |t| {
        let mut iov = libc::iovec {
            iov_base: p as *mut c_void,
            iov_len: n,
        };
        // SAFETY: a zeroed msghdr is valid; we fill one iovec.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: msg and the buffer are valid for the call.
        unsafe { gmp_sendmsg(fd, &msg, 0, t) }
    })?;
    if r < 0 {
        return Err(io_error(py, r));
    }
    Ok(r as usize)
}

#[pyfunction]
#[pyo3(signature = (fd, data, timeout = None))]
pub fn sock_send(
    py: Python<'_>,
    fd: c_int,
    data: PyBuffer<u8>,
    timeout: Option<f64>,
) -> PyResult<usize> {
    crate::fork_check()?;
    if !data.is_c_contiguous() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "data must be contiguous",
        ));
    }
    let dl = deadline(timeout)?;
    send_once(py, fd, data.buf_ptr() as usize, data.len_bytes(), dl)
}

#[pyfunction]
#[pyo3(signature = (fd, data, timeout = None))]
pub fn sock_sendall(
    py: Python<'_>,
    fd: c_int,
    data: PyBuffer<u8>,
    timeout: Option<f64>,
) -> PyResult<()> {
    crate::fork_check()?;
    if !data.is_c_contiguous() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "data must be contiguous",
        ));
    }
    let dl = deadline(timeout)?;
    let base = data.buf_ptr() as usize;
    let n = data.len_bytes();
    if dl.is_none() && crate::home::where_am_i() == crate::home::Where::HomeGoroutine {
        // SAFETY: the exported buffer stays valid while `data` lives; gmp_send writes all.
        let r = unsafe { gmp_send(fd, base as *const c_void, n, 0, -1) };
        if r < 0 {
            return Err(io_error(py, r));
        }
        return Ok(());
    }
    let mut off = 0;
    while off < n {
        off += send_once(py, fd, base + off, n - off, dl)?;
    }
    Ok(())
}

/// Accepts a connection: the new fd (non-blocking, close-on-exec, netpolled).
#[pyfunction]
#[pyo3(signature = (fd, timeout = None))]
pub fn sock_accept(py: Python<'_>, fd: c_int, timeout: Option<f64>) -> PyResult<c_int> {
    crate::fork_check()?;
    let dl = deadline(timeout)?;
    // SAFETY: NULL address buffers are allowed.
    let r = block(py, dl, |t| unsafe {
        gmp_accept(fd, std::ptr::null_mut(), std::ptr::null_mut(), t) as isize
    })?;
    if r < 0 {
        return Err(io_error(py, r));
    }
    Ok(r as c_int)
}

/// Waits until fd is ready for `events` (POLLIN 1, POLLOUT 4); returns the ready mask.
#[pyfunction]
#[pyo3(signature = (fd, events, timeout = None))]
pub fn wait_fd(py: Python<'_>, fd: c_int, events: c_int, timeout: Option<f64>) -> PyResult<c_int> {
    crate::fork_check()?;
    let dl = deadline(timeout)?;
    // SAFETY: no memory is passed.
    let r = block(py, dl, |t| unsafe { gmp_wait_fd(fd, events, t) as isize })?;
    if r < 0 {
        return Err(io_error(py, r));
    }
    Ok(r as c_int)
}

/// Closes fd, waking goroutines parked on it (they see OSError EBADF).
#[pyfunction]
pub fn close_fd(py: Python<'_>, fd: c_int) -> PyResult<()> {
    // SAFETY: no memory is passed.
    let r = unsafe { gmp_close_fd(fd) };
    if r < 0 {
        return Err(crate::error_from_code(py, r));
    }
    Ok(())
}

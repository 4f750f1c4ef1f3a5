//! The fd calls behind `gmp.socket`: each parks only the calling goroutine, or, on a
//! plain thread, waits in interruptible slices. The Python side (`gmp/__init__.py`,
//! class `socket`) keeps the `socket.socket` object and passes its fd here.
//!
//! Two ways to wait for a socket:
//!
//! - **The home's own poller** (a Python goroutine on a home, `gmp.socket`'s calls): each
//!   home has an epoll set of its own. A socket is registered there once, edge-triggered,
//!   the first time a goroutine of that home uses it; a goroutine that gets EAGAIN parks
//!   on the socket's token channel, and the home thread, once none of its goroutines is
//!   ready, polls the set (without blocking first, then blocking with the GIL released,
//!   together with the home's eventfd) and sends a token to each socket that has waiters.
//!   This is gevent's shape (one thread, one poller) inside a home: a request costs the
//!   home thread its syscalls and nothing on other threads, where the runtime's poller
//!   (below) woke an M per event, which woke the home thread (futex) and sysmon, each
//!   on its own core, and re-armed its eventfd and timer per wait (measured on the echox
//!   benchmark with the clients in another process: 8.2 syscalls, 0.86 context switches
//!   and 0.47 epoll_waits per request before, see bench/python/README.md).
//! - **The runtime's netpoller** (`gmp_recv`, `gmp_wait_fd`...) everywhere else: plain
//!   threads, C goroutines, a socket first registered by another home, `wait_fd` (TLS,
//!   connect, `gmp.patch()`'s sockets, whose fds may be closed behind our back).
//!
//! A registration is found by fd number; `gmp.socket()` checks at wrap time (one fstat,
//! only when the number is already known) that it still names the same file, since a
//! number closed with close(2) and reused is no longer in the epoll set; `accept` forgets
//! the new number's old entry. `close_fd` deletes the registration and wakes the parked
//! goroutines (OSError EBADF). The registration table and its counters are guarded by the
//! GIL (every caller holds it).

use std::cell::{Cell, UnsafeCell};
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;

use crate::Timeout;
use crate::ffi::*;
use crate::home::{Home, Where, this_home, where_am_i};
use crate::wait::{block, deadline, remaining};

fn io_error(py: Python<'_>, r: isize) -> PyErr {
    let r = r as c_int;
    match r {
        GMP_ETIMEDOUT | GMP_EAGAIN => Timeout::new_err("timed out"),
        GMP_ECANCELED => pyo3::exceptions::PyOSError::new_err((libc::EBADF, "socket closed")),
        _ => crate::error_from_code(py, r),
    }
}

// ---------------------------------------------------------------------------------------
// The homes' own pollers (module docs).

const READ: usize = 0;
const WRITE: usize = 1;
/// Tokens a socket's channel holds at most: one per parked waiter of a direction.
const TOKENS: usize = 64;
/// epoll keys of a home's own wake-up fds (a socket's key is `generation << 32 | fd`, with
/// generations below 2^32).
pub const KEY_HOME_EFD: u64 = u64::MAX - 1;
pub const KEY_WAKE: u64 = u64::MAX;

/// Goroutines parked on the homes' own pollers now: `gmp.run`'s deadlock check counts
/// them as still wakeable.
pub static SOCK_WAITERS: AtomicI64 = AtomicI64::new(0);
static GEN: AtomicU64 = AtomicU64::new(1);

/// One socket in a home's epoll set (edge-triggered, both directions).
struct Reg {
    /// In the epoll key: an event of an older registration of the same number is ignored.
    generation: u64,
    home: &'static Home,
    /// The file (st_dev, st_ino) it was registered for.
    ino: (u64, u64),
    /// Goroutines parked per direction.
    waiting: [Cell<u32>; 2],
    /// Per direction, a raw channel of 1-byte tokens the home thread sends to wake them.
    chans: [*mut gmp_chan; 2],
    closed: Cell<bool>,
}
// SAFETY: the Cells are touched only with the GIL held (module docs); the channels are
// thread-safe runtime handles.
unsafe impl Send for Reg {}
// SAFETY: as above.
unsafe impl Sync for Reg {}

impl Drop for Reg {
    fn drop(&mut self) {
        if crate::home::EXITING.load(Ordering::Acquire) {
            return; // as Chan: no runtime calls while the interpreter exits
        }
        for ch in self.chans {
            // SAFETY: our own reference, made in `own_reg`.
            unsafe { gmp_chan_release(ch) };
        }
    }
}

impl Reg {
    /// Marks it closed and wakes every goroutine parked on it (they raise EBADF).
    fn shut(&self) {
        self.closed.set(true);
        for ch in self.chans {
            // SAFETY: a live channel of ours; closing wakes its receivers.
            unsafe { gmp_chan_close(ch) };
        }
    }
}

struct Table(UnsafeCell<Option<HashMap<c_int, Arc<Reg>>>>);
// SAFETY: every access holds the GIL (the `Python` token of `with_table`).
unsafe impl Sync for Table {}
static TABLE: Table = Table(UnsafeCell::new(None));

/// Runs `f` on the registration table. `f` must not park or call Python (no other
/// access may interleave).
fn with_table<R>(_py: Python<'_>, f: impl FnOnce(&mut HashMap<c_int, Arc<Reg>>) -> R) -> R {
    // SAFETY: the GIL is held (py) and f neither parks nor runs Python code, so this is
    // the only reference for its duration.
    f(unsafe { (*TABLE.0.get()).get_or_insert_with(HashMap::new) })
}

fn file_id(fd: c_int) -> Option<(u64, u64)> {
    // SAFETY: fstat fills a buffer on our stack.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return None;
    }
    Some((st.st_dev, st.st_ino))
}

fn errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The registration the calling goroutine's home uses for fd, made on first use. None
/// when the runtime's poller serves the call: not a goroutine of a home, a socket
/// registered by another home, or an fd epoll refuses.
fn own_reg(py: Python<'_>, fd: c_int) -> Option<Arc<Reg>> {
    let home = this_home()?;
    if fd < 0 || where_am_i() != Where::HomeGoroutine {
        return None;
    }
    let epfd = home.epfd.load(Ordering::Relaxed);
    if epfd < 0 || !home.start_polling() {
        return None;
    }
    if let Some(r) = with_table(py, |t| t.get(&fd).cloned()) {
        return std::ptr::eq(r.home, home).then_some(r);
    }
    let ino = file_id(fd)?;
    let generation = GEN.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        u64: generation << 32 | fd as u32 as u64,
    };
    // SAFETY: our epoll fd and the caller's open fd; ev lives across the call.
    if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        // EEXIST: an older registration of this file (its number was forgotten while the
        // file stayed open): take it over with the new key.
        if errno() != libc::EEXIST {
            return None;
        }
        // SAFETY: as above.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_MOD, fd, &mut ev) } < 0 {
            return None;
        }
    }
    let mut chans = [std::ptr::null_mut(); 2];
    for ch in chans.iter_mut() {
        // SAFETY: an out-pointer to our array.
        if unsafe { gmp_chan_make(ch, 1, TOKENS) } < 0 {
            for c in chans.iter().filter(|c| !c.is_null()) {
                // SAFETY: made just above.
                unsafe { gmp_chan_release(*c) };
            }
            // SAFETY: removes the registration made above.
            unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
            return None;
        }
    }
    let reg = Arc::new(Reg {
        generation,
        home,
        ino,
        waiting: [Cell::new(0), Cell::new(0)],
        chans,
        closed: Cell::new(false),
    });
    with_table(py, |t| t.insert(fd, reg.clone()));
    Some(reg)
}

fn closed_error() -> PyErr {
    pyo3::exceptions::PyOSError::new_err((libc::EBADF, "socket closed"))
}

/// Parks the calling goroutine until `reg`'s socket may be ready in direction d (a
/// token), its deadline passes (Timeout), or it is closed (OSError EBADF).
fn own_wait(py: Python<'_>, reg: &Reg, d: usize, dl: Option<i64>) -> PyResult<()> {
    if reg.closed.get() {
        return Err(closed_error());
    }
    reg.waiting[d].set(reg.waiting[d].get() + 1);
    SOCK_WAITERS.fetch_add(1, Ordering::SeqCst);
    let mut token = 0u8;
    // SAFETY: a live channel of reg (which the caller keeps alive); a 1-byte slot.
    let r = unsafe {
        gmp_chan_recv_timeout(reg.chans[d], (&mut token as *mut u8).cast(), remaining(dl))
    };
    SOCK_WAITERS.fetch_sub(1, Ordering::SeqCst);
    reg.waiting[d].set(reg.waiting[d].get() - 1);
    match r {
        0 if !reg.closed.get() => Ok(()),
        0 | GMP_ECLOSED => Err(closed_error()),
        GMP_ETIMEDOUT | GMP_EAGAIN => Err(Timeout::new_err("timed out")),
        _ => Err(crate::error_from_code(py, r)),
    }
}

/// Runs the non-blocking socket call `op` (>= 0, or -1 with errno set) until it does not
/// report EAGAIN, parking on `reg` for direction d in between.
fn own_io(
    py: Python<'_>,
    reg: &Reg,
    d: usize,
    dl: Option<i64>,
    mut op: impl FnMut() -> isize,
) -> PyResult<isize> {
    loop {
        let r = op();
        if r >= 0 {
            return Ok(r);
        }
        let e = errno();
        if e == libc::EINTR {
            continue;
        }
        if e != libc::EAGAIN && e != libc::EWOULDBLOCK {
            return Err(io_error(py, -(e as isize)));
        }
        own_wait(py, reg, d, dl)?;
    }
}

/// Drops the registration of fd, waking its parked goroutines (EBADF): the number now
/// names another file, or is about to be closed (`del`: delete it from the epoll set
/// first, while fd still names the registered file).
fn forget(py: Python<'_>, fd: c_int, del: bool) {
    if let Some(reg) = with_table(py, |t| t.remove(&fd)) {
        if del {
            // SAFETY: fd is still open and names the registered file.
            unsafe {
                libc::epoll_ctl(
                    reg.home.epfd.load(Ordering::Relaxed),
                    libc::EPOLL_CTL_DEL,
                    fd,
                    std::ptr::null_mut(),
                )
            };
        }
        reg.shut();
    }
}

/// `gmp.socket(sock)`: a registration left under sock's fd number from a file closed
/// behind our back (with close(2)) is forgotten, since the kernel dropped it from the
/// epoll set with that file.
#[pyfunction]
pub fn sock_adopt(py: Python<'_>, fd: c_int) {
    let known = with_table(py, |t| t.get(&fd).map(|r| r.ino));
    if let Some(ino) = known
        && file_id(fd) != Some(ino)
    {
        forget(py, fd, false);
    }
}

/// Sends tokens to the goroutines parked on `reg` for direction d; how many woke.
fn wake_dir(reg: &Reg, d: usize) -> usize {
    let waiting = reg.waiting[d].get() as i64;
    if waiting == 0 || reg.closed.get() {
        return 0;
    }
    let ch = reg.chans[d];
    // SAFETY: a live channel of reg.
    let queued = unsafe { gmp_chan_len(ch) };
    let mut n = 0;
    let token = 1u8;
    for _ in queued..waiting.min(TOKENS as i64) {
        // SAFETY: as above; a 1-byte element; timeout 0 never blocks.
        if unsafe { gmp_chan_send_timeout(ch, (&token as *const u8).cast(), 0) } != 0 {
            break;
        }
        n += 1;
    }
    n
}

/// The home thread, GIL held: wakes the goroutines the events in `evs` are for; returns
/// how many woke.
pub fn dispatch(py: Python<'_>, home: &Home, evs: &[libc::epoll_event]) -> usize {
    let mut woke = 0;
    for ev in evs {
        let (key, bits) = (ev.u64, ev.events as i32);
        if key == KEY_WAKE {
            let mut v = 0u64;
            // SAFETY: reads 8 bytes from the home's own non-blocking eventfd into v.
            unsafe {
                libc::read(
                    home.wakefd.load(Ordering::Relaxed),
                    (&mut v as *mut u64).cast(),
                    8,
                )
            };
            continue;
        }
        if key == KEY_HOME_EFD {
            continue; // only wakes us: the goroutines it announces are in the home's queue
        }
        let fd = (key & 0xffff_ffff) as u32 as c_int;
        let Some(reg) = with_table(py, |t| t.get(&fd).cloned()) else {
            continue;
        };
        if reg.generation != key >> 32 || !std::ptr::eq(reg.home, home) {
            continue;
        }
        if bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
            woke += wake_dir(&reg, READ);
        }
        if bits & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
            woke += wake_dir(&reg, WRITE);
        }
    }
    woke
}

/// The home thread: waits for events of its own poller (`timeout_ms` as epoll_wait's;
/// call it without the GIL when it may block), into `buf`; returns how many.
pub fn poll(home: &Home, buf: &mut [libc::epoll_event], timeout_ms: c_int) -> usize {
    loop {
        // SAFETY: our epoll fd; buf is writable for buf.len() events.
        let n = unsafe {
            libc::epoll_wait(
                home.epfd.load(Ordering::Relaxed),
                buf.as_mut_ptr(),
                buf.len() as c_int,
                timeout_ms,
            )
        };
        if n >= 0 {
            return n as usize;
        }
        if errno() != libc::EINTR {
            return 0;
        }
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
    let r = match own_reg(py, fd) {
        Some(reg) => own_io(py, &reg, READ, dl, || {
            // SAFETY: buf has n writable bytes and lives as long as obj.
            unsafe { libc::recv(fd, buf as *mut c_void, n, libc::MSG_DONTWAIT) }
        }),
        None => block(py, dl, |t| {
            // SAFETY: buf has n writable bytes and lives as long as obj.
            unsafe { gmp_recv(fd, buf as *mut c_void, n, 0, t) }
        })
        .and_then(|r| if r < 0 { Err(io_error(py, r)) } else { Ok(r) }),
    };
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            // SAFETY: our reference.
            unsafe { pyo3::ffi::Py_DECREF(obj) };
            return Err(e);
        }
    };
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
    if let Some(reg) = own_reg(py, fd) {
        // SAFETY: the exported buffer stays valid and writable while `buffer` lives.
        let r = own_io(py, &reg, READ, dl, || unsafe {
            libc::recv(fd, p as *mut c_void, n, libc::MSG_DONTWAIT)
        })?;
        return Ok(r as usize);
    }
    // SAFETY: the exported buffer stays valid and writable while `buffer` lives.
    let r = block(py, dl, |t| unsafe {
        gmp_recv(fd, p as *mut c_void, n, 0, t)
    })?;
    if r < 0 {
        return Err(io_error(py, r));
    }
    Ok(r as usize)
}

/// One non-blocking send of the whole buffer (a goroutine of a home, `own`).
fn own_send(
    py: Python<'_>,
    reg: &Reg,
    fd: c_int,
    p: usize,
    n: usize,
    dl: Option<i64>,
) -> PyResult<usize> {
    let r = own_io(py, reg, WRITE, dl, || {
        // SAFETY: the caller's buffer is valid for n bytes during the call.
        unsafe {
            libc::send(
                fd,
                p as *const c_void,
                n,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        }
    })?;
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
    if let Some(reg) = own_reg(py, fd) {
        return own_send(py, &reg, fd, data.buf_ptr() as usize, data.len_bytes(), dl);
    }
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
    if let Some(reg) = own_reg(py, fd) {
        let mut off = 0;
        while off < n {
            off += own_send(py, &reg, fd, base + off, n - off, dl)?;
        }
        return Ok(());
    }
    if dl.is_none() && where_am_i() == Where::HomeGoroutine {
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
    let r = match own_reg(py, fd) {
        Some(reg) => own_io(py, &reg, READ, dl, || {
            let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            // SAFETY: NULL address buffers are allowed.
            unsafe { libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), flags) as isize }
        })?,
        None => {
            // SAFETY: NULL address buffers are allowed.
            let r = block(py, dl, |t| unsafe {
                gmp_accept(fd, std::ptr::null_mut(), std::ptr::null_mut(), t) as isize
            })?;
            if r < 0 {
                return Err(io_error(py, r));
            }
            r
        }
    };
    // A registration under the new number is of a file closed behind our back.
    forget(py, r as c_int, false);
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
    forget(py, fd, true);
    // SAFETY: no memory is passed.
    let r = unsafe { gmp_close_fd(fd) };
    if r < 0 {
        return Err(crate::error_from_code(py, r));
    }
    Ok(())
}

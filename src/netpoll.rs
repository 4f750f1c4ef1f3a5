//! The network poller's fd calls: goroutines block on file descriptors without blocking
//! threads (Go's `internal/poll` over `netpoll.go`).
//!
//! The poller core is the scheduler's (`sched/netpoll.rs`, epoll driven directly): an
//! idle M blocks in `poll` (in `findrunnable`, with the next timer as its time-out);
//! `wake` interrupts a blocked poll through an eventfd (Go's `netpollBreak`); spinning
//! M's and sysmon poll without blocking. Every fd the poller knows has a `PollDesc`.
//! This file is the layer above the parking protocol: classify an fd, park on its
//! descriptor ([`wait`]), and the calls (read, write, accept, connect, close...).
//!
//! Differences from Go, and why:
//! - A waiter *list* per direction (Go's `pollDesc` has one `rg`/`wg` slot): C code puts
//!   many accepters on one listener. An event wakes every waiter of its direction; each
//!   retries its syscall and re-parks on EAGAIN.
//! - One-shot registrations, re-armed (`EPOLL_CTL_MOD`) by each waiter as it parks,
//!   under the descriptor's lock. Go registers edge-triggered once; we re-arm because C
//!   programs close fds behind our back: if the fd number was closed and reused, MOD
//!   fails with ENOENT and we register the new file afresh with a new generation.
//!   Events carry `generation << 32 | fd`, so an event for an old registration of the same
//!   number is ignored: a reused fd never gets a stale wake-up.
//! - A readiness latch per direction (set by an event, consumed by the next waiter
//!   before it parks) closes the window between a waiter's EAGAIN and its park.
//! - A short `gmp_read` on a TCP socket we registered edge-triggered marks the receive
//!   queue empty (`PollDesc::rd_empty`), and the next read parks without trying recv(2)
//!   unless a readable event came since: one syscall less per request-response round
//!   trip than Go, which always tries the read first (tokio's mio driver does the same
//!   on a short read). Urgent data, a hang-up or an error end it for that socket.
//! - Only sockets (and fds already non-blocking, or adopted with `gmp_fd_adopt`) are
//!   netpolled. Other fds keep their blocking mode (O_NONBLOCK would change an open file
//!   description other processes share, such as a shell's stdin) and take the syscall
//!   hand-off, with poll(2) for a time-out; regular files always do.
//! - Deadlines are per call (`timeout_ns`), through `park_deadline`'s timers.
//!
//! Lock order: a descriptor's lock is taken with no other gmp lock held, and `ready`
//! (which may take the scheduler lock) runs after it is released.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{self, Code};
use crate::park::{self, WaitRef};
use crate::sched::g::WaitReason;
use crate::sched::netpoll::{
    PollDesc, READ, WAITERS, WRITE, arm, clear_unchecked, insert, insert_as, lookup, poller, remove,
};

/// GMP_POLLIN etc. (API.md).
pub(crate) const POLLIN: i32 = 1;
pub(crate) const POLLOUT: i32 = 4;
pub(crate) const POLLERR: i32 = 8;
pub(crate) const POLLHUP: i32 = 16;

use crate::sys::errno;

fn set_nonblock(fd: i32) -> Result<(), Code> {
    // SAFETY: fcntl on a caller's fd; failures are reported.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl < 0 {
        return Err(-errno());
    }
    if fl & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) } < 0 {
            return Err(-errno());
        }
    }
    Ok(())
}

/// How calls on an fd block.
enum Kind {
    Polled(Arc<PollDesc>),
    Blocking { regular: bool },
}

/// Classifies fd: known to the poller; a socket (made non-blocking, registered); an fd
/// that is already non-blocking and pollable (registered); else the blocking path.
fn classify(fd: i32) -> Result<Kind, Code> {
    if fd < 0 {
        return Err(-libc::EBADF);
    }
    if let Some(pd) = lookup(fd) {
        if pd.socket {
            return Ok(Kind::Polled(pd));
        }
        // A pipe or tty: a number reused after close(2) may now be a blocking file: check
        // (one fcntl) and forget the stale descriptor if so.
        // SAFETY: fcntl on the caller's fd.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if fl >= 0 && fl & libc::O_NONBLOCK != 0 {
            return Ok(Kind::Polled(pd));
        }
        remove(fd);
    }
    // SAFETY: fstat fills a stat buffer for the caller's fd.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(-errno());
    }
    let fmt = st.st_mode & libc::S_IFMT;
    if fmt == libc::S_IFSOCK {
        set_nonblock(fd)?;
        return Ok(Kind::Polled(insert(fd, true)));
    }
    if fmt == libc::S_IFREG || fmt == libc::S_IFDIR {
        return Ok(Kind::Blocking { regular: true });
    }
    // SAFETY: fcntl on the caller's fd.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl >= 0 && fl & libc::O_NONBLOCK != 0 {
        return Ok(Kind::Polled(insert(fd, false)));
    }
    Ok(Kind::Blocking { regular: false })
}

/// `gmp_fd_adopt`: make fd non-blocking and netpolled.
pub(crate) fn adopt(fd: i32) -> Code {
    if fd < 0 {
        return -libc::EBADF;
    }
    // SAFETY: fstat fills a buffer on our stack.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return -errno();
    }
    let fmt = st.st_mode & libc::S_IFMT;
    if fmt == libc::S_IFREG || fmt == libc::S_IFDIR {
        // Not pollable (epoll refuses regular files): calls on it take the syscall
        // hand-off as they are; O_NONBLOCK would change nothing but the caller's flags.
        return error::EINVAL;
    }
    if let Err(e) = set_nonblock(fd) {
        return e;
    }
    let sock = fmt == libc::S_IFSOCK;
    let pd = insert(fd, sock);
    pd.closing.store(false, Ordering::Release);
    0
}

/// Parks the caller until fd is ready in one of `dirs` (or the deadline, or close).
/// Returns the park outcome; OK means "try the syscall again".
/// `rd_seen`: the `rd_seq` a reader saw before it found the receive queue empty; a
/// readable event since then means "try again" instead of parking.
fn wait(pd: &PollDesc, dirs: [bool; 2], deadline: i64, rd_seen: Option<u32>) -> u8 {
    let mut inner = pd.inner.lock();
    if pd.closing.load(Ordering::Acquire) {
        return park::CANCELED;
    }
    if let Some(seen) = rd_seen {
        // A readable event since the reader's look: try again. Else a latch on READ is
        // from an event before it, whose data that read already found gone: stale.
        inner.latch[READ] = false;
        if pd.rd_seq.load(Ordering::Acquire) != seen {
            return park::OK;
        }
    }
    for d in [READ, WRITE] {
        if dirs[d] && inner.latch[d] {
            inner.latch[d] = false;
            return park::OK;
        }
    }
    if deadline >= 0 && crate::sys::clock::now() >= deadline {
        return park::TIMEDOUT;
    }
    let w = park::prepare();
    for d in [READ, WRITE] {
        if dirs[d] {
            inner.queues[d].push_back(w.clone());
        }
    }
    if let Err(_e) = arm(pd, &mut inner) {
        for d in [READ, WRITE] {
            inner.queues[d].retain(|x| !x.same_wait(&w));
        }
        // Not pollable after all (or closed): let the caller retry the syscall, which
        // reports the real error; avoid a hot loop on a persistent failure.
        drop(inner);
        return park::CLOSED;
    }
    WAITERS.fetch_add(1, Ordering::SeqCst);
    if crate::sched::m::current().is_none() {
        // A foreign or home thread: no M of ours goes on to block in the poller for it,
        // so make sure one does (an idle runtime would otherwise look only at sysmon's
        // next tick).
        crate::sched::findrunnable::ensure_poller();
    }
    let outcome = park::park_deadline(&w, WaitReason::IoWait, deadline, move || drop(inner));
    WAITERS.fetch_sub(1, Ordering::SeqCst);
    // Remove our (now stale) entries, in both directions.
    let mut inner = pd.inner.lock();
    for d in [READ, WRITE] {
        inner.queues[d].retain(|x| !x.same_wait(&w));
    }
    clear_unchecked(&mut inner);
    outcome
}

// ---------------------------------------------------------------------------------------
// The fd calls.

/// A guard for one call inside a descriptor (Go's fdMutex incref/decref).
struct InFlight<'a>(&'a PollDesc);

impl<'a> InFlight<'a> {
    fn enter(pd: &'a PollDesc) -> Result<Self, Code> {
        pd.inflight.fetch_add(1, Ordering::AcqRel);
        if pd.closing.load(Ordering::Acquire) {
            pd.inflight.fetch_sub(1, Ordering::AcqRel);
            return Err(error::ECANCELED);
        }
        Ok(InFlight(pd))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `op` (a syscall returning >= 0 or -errno; its argument says "a netpolled
/// socket: pass MSG_DONTWAIT") on fd until it does not report EAGAIN/EINTR, parking on
/// `dir` readiness in between. `deadline` < 0: forever.
pub(crate) fn io(fd: i32, dir: usize, deadline: i64, op: impl FnMut(bool) -> isize) -> isize {
    io_len(fd, dir, deadline, 0, op)
}

/// [`io`] for a plain read of `len` bytes (`len` > 0; 0: not such a read): on an owned
/// TCP socket a short read means the receive queue is empty, so the next read parks
/// at once unless a readable event came since, instead of paying a syscall for the
/// EAGAIN (tokio's mio driver clears readiness on a short read the same way; Go always
/// tries the read). Why that is sound is at `PollDesc::rd_empty`.
fn io_len(
    fd: i32,
    dir: usize,
    deadline: i64,
    len: usize,
    mut op: impl FnMut(bool) -> isize,
) -> isize {
    'classify: loop {
        let kind = match classify(fd) {
            Ok(k) => k,
            Err(e) => return e as isize,
        };
        let pd = match kind {
            Kind::Polled(pd) => pd,
            Kind::Blocking { regular } => {
                return blocking_io(fd, dir, deadline, regular, || op(false));
            }
        };
        let _g = match InFlight::enter(&pd) {
            Ok(g) => g,
            Err(e) => return e as isize,
        };
        let track = len > 0 && dir == READ;
        loop {
            let seen = pd.rd_seq.load(Ordering::Acquire);
            if track
                && pd.rd_empty.load(Ordering::Acquire) == seen.wrapping_add(1)
                && pd.skip_ok.load(Ordering::Relaxed)
            {
                // Empty since the last read and nothing arrived since: park now.
                match wait(&pd, [true, false], deadline, Some(seen)) {
                    park::OK | park::CLOSED => {
                        pd.rd_empty.store(0, Ordering::Relaxed);
                        continue;
                    }
                    park::TIMEDOUT => return error::ETIMEDOUT as isize,
                    park::CANCELED => return error::ECANCELED as isize,
                    park::SHUTDOWN => return error::ESHUTDOWN as isize,
                    _ => return error::EINVAL as isize,
                }
            }
            let r = op(pd.socket);
            if r >= 0 {
                if track && r > 0 && (r as usize) < len {
                    pd.rd_empty.store(seen.wrapping_add(1), Ordering::Release);
                }
                return r;
            }
            let e = -r as i32;
            if e == libc::EINTR {
                continue;
            }
            if e == libc::ENOTSOCK && pd.socket {
                // The number was closed with close(2) and reused by something else.
                remove(fd);
                continue 'classify;
            }
            if e != libc::EAGAIN && e != libc::EWOULDBLOCK {
                return r;
            }
            let mut dirs = [false; 2];
            dirs[dir] = true;
            let rd_seen = if dir == READ {
                if track {
                    pd.rd_empty.store(seen.wrapping_add(1), Ordering::Release);
                }
                Some(seen)
            } else {
                None
            };
            match wait(&pd, dirs, deadline, rd_seen) {
                park::OK => continue,
                park::TIMEDOUT => return error::ETIMEDOUT as isize,
                park::CANCELED => return error::ECANCELED as isize,
                park::SHUTDOWN => return error::ESHUTDOWN as isize,
                park::CLOSED => {
                    // Could not arm: retry once, then report what the syscall says.
                    let r = op(pd.socket);
                    if r == -(libc::EAGAIN as isize) {
                        crate::time::sleep(50_000);
                        continue;
                    }
                    return r;
                }
                _ => return error::EINVAL as isize,
            }
        }
    }
}

/// The syscall hand-off path: poll(2) for the time-out, then the call, each inside
/// `entersyscall`/`exitsyscall` so the P can run other goroutines meanwhile.
fn blocking_io(
    fd: i32,
    dir: usize,
    deadline: i64,
    regular: bool,
    mut op: impl FnMut() -> isize,
) -> isize {
    loop {
        if deadline >= 0 && !regular {
            let left = deadline - crate::sys::clock::now();
            let ev = if dir == READ {
                libc::POLLIN
            } else {
                libc::POLLOUT
            };
            let mut pfd = libc::pollfd {
                fd,
                events: ev,
                revents: 0,
            };
            let ms = if left <= 0 {
                0
            } else {
                (left.saturating_add(999_999) / 1_000_000).min(i32::MAX as i64) as i32
            };
            // errno is read inside the section: exitsyscall may move us to another thread.
            let n = crate::sched::syscall::in_syscall(|| {
                // SAFETY: polls one pollfd on our stack.
                let n = unsafe { libc::poll(&mut pfd, 1, ms) };
                if n < 0 { -errno() } else { n }
            });
            if n < 0 {
                if n == -libc::EINTR {
                    continue;
                }
                return n as isize;
            }
            if n == 0 {
                return error::ETIMEDOUT as isize;
            }
        }
        let r = crate::sched::syscall::in_syscall(&mut op);
        if r == -(libc::EINTR as isize) {
            continue;
        }
        return r;
    }
}

fn ret(r: isize) -> isize {
    if r < 0 { -(errno() as isize) } else { r }
}

/// `gmp_read`.
pub(crate) fn read(fd: i32, buf: *mut u8, n: usize, deadline: i64) -> isize {
    io_len(fd, READ, deadline, n, |sock| {
        // SAFETY: the caller's buffer of n bytes.
        ret(unsafe {
            if sock {
                libc::recv(fd, buf.cast(), n, libc::MSG_DONTWAIT)
            } else {
                libc::read(fd, buf.cast(), n)
            }
        })
    })
}

/// `gmp_recv`.
pub(crate) fn recv(fd: i32, buf: *mut u8, n: usize, flags: i32, deadline: i64) -> isize {
    io(fd, READ, deadline, |sock| {
        let f = if sock {
            flags | libc::MSG_DONTWAIT
        } else {
            flags
        };
        // SAFETY: the caller's buffer of n bytes.
        ret(unsafe { libc::recv(fd, buf.cast(), n, f) })
    })
}

/// `gmp_recvmsg`.
pub(crate) fn recvmsg(fd: i32, msg: *mut libc::msghdr, flags: i32, deadline: i64) -> isize {
    io(fd, READ, deadline, |sock| {
        let f = if sock {
            flags | libc::MSG_DONTWAIT
        } else {
            flags
        };
        // SAFETY: the caller's msghdr.
        ret(unsafe { libc::recvmsg(fd, msg, f) })
    })
}

/// `gmp_sendmsg` (one call; a short send is returned as is).
pub(crate) fn sendmsg(fd: i32, msg: *const libc::msghdr, flags: i32, deadline: i64) -> isize {
    io(fd, WRITE, deadline, |sock| {
        let f = if sock {
            flags | libc::MSG_DONTWAIT
        } else {
            flags
        };
        // SAFETY: the caller's msghdr.
        ret(unsafe { libc::sendmsg(fd, msg, f | libc::MSG_NOSIGNAL) })
    })
}

/// `gmp_write` / `gmp_send`: writes all `n` bytes (several calls if needed). Returns
/// n; when the deadline passes after a partial write, the bytes written (as Go's
/// `Write` returns them alongside its error), so the stream stays recoverable: the
/// caller learns how much of its buffer went out and can go on; else the error of the
/// call that failed (a reset or canceled stream is over: its error says so).
pub(crate) fn write_all(
    fd: i32,
    buf: *const u8,
    n: usize,
    flags: Option<i32>,
    deadline: i64,
) -> isize {
    let mut off = 0usize;
    while off < n {
        let r = io(fd, WRITE, deadline, |sock| {
            // SAFETY: the caller's buffer; off < n.
            let p = unsafe { buf.add(off) };
            let dw = if sock { libc::MSG_DONTWAIT } else { 0 };
            ret(match flags {
                // SAFETY: as above.
                Some(f) => unsafe {
                    libc::send(fd, p.cast(), n - off, f | dw | libc::MSG_NOSIGNAL)
                },
                // SAFETY: as above.
                None if sock => unsafe {
                    libc::send(fd, p.cast(), n - off, dw | libc::MSG_NOSIGNAL)
                },
                // SAFETY: as above.
                None => unsafe { libc::write(fd, p.cast(), n - off) },
            })
        });
        if r < 0 {
            // A time-out after a partial write: the count, so the stream stays usable.
            // Any other error ends the stream (reset, canceled): that error.
            return if off > 0 && r == error::ETIMEDOUT as isize {
                off as isize
            } else {
                r
            };
        }
        if r == 0 && n > 0 {
            return -(libc::EIO as isize);
        }
        off += r as usize;
    }
    n as isize
}

/// `gmp_accept`: the new fd is non-blocking, close-on-exec and netpolled.
pub(crate) fn accept(
    fd: i32,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
    deadline: i64,
) -> i32 {
    // A listener number reused after close(2) may be a blocking socket: sockets are
    // made non-blocking on first use (API.md), and accept4 has no per-call flag.
    if let Some(pd) = lookup(fd) {
        if pd.socket {
            let _ = set_nonblock(fd);
        }
    }
    let r = io(fd, READ, deadline, |_| {
        // SAFETY: the caller's address buffer (may be NULL).
        ret(
            unsafe { libc::accept4(fd, addr, len, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) }
                as isize,
        )
    });
    if r >= 0 {
        let nfd = r as i32;
        remove(nfd); // a stale descriptor of a number closed with close(2)
        insert_as(nfd, true, true);
    }
    r as i32
}

/// `gmp_connect`: a non-blocking connect finished in the poller.
pub(crate) fn connect(
    fd: i32,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
    deadline: i64,
) -> i32 {
    let pd = match classify(fd) {
        Ok(Kind::Polled(pd)) => pd,
        Ok(Kind::Blocking { .. }) => return -libc::ENOTSOCK,
        Err(e) => return e,
    };
    if let Err(e) = set_nonblock(fd) {
        return e;
    }
    let _g = match InFlight::enter(&pd) {
        Ok(g) => g,
        Err(e) => return e,
    };
    // SAFETY: the caller's address.
    let r = unsafe { libc::connect(fd, addr, len) };
    if r == 0 {
        return 0;
    }
    let e = errno();
    if e != libc::EINPROGRESS && e != libc::EINTR && e != libc::EALREADY {
        return -e;
    }
    loop {
        match wait(&pd, [false, true], deadline, None) {
            park::OK | park::CLOSED => {}
            park::TIMEDOUT => return error::ETIMEDOUT,
            park::CANCELED => return error::ECANCELED,
            park::SHUTDOWN => return error::ESHUTDOWN,
            _ => return error::EINVAL,
        }
        let mut err: libc::c_int = 0;
        let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: reads SO_ERROR into a local int.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut l,
            )
        };
        if r < 0 {
            return -errno();
        }
        if err == 0 {
            // Writable and no error: connected (or still in progress if spurious).
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: polls one pollfd without blocking.
            let n = unsafe { libc::poll(&mut pfd, 1, 0) };
            if n > 0 {
                return 0;
            }
            continue;
        }
        return -err;
    }
}

/// `gmp_wait_fd`: the ready mask (GMP_POLLIN | GMP_POLLOUT | GMP_POLLERR | GMP_POLLHUP).
pub(crate) fn wait_fd(fd: i32, events: i32, deadline: i64) -> i32 {
    if events & (POLLIN | POLLOUT) == 0 {
        return error::EINVAL;
    }
    let mut want: libc::c_short = 0;
    if events & POLLIN != 0 {
        want |= libc::POLLIN;
    }
    if events & POLLOUT != 0 {
        want |= libc::POLLOUT;
    }
    let check = || -> i32 {
        let mut pfd = libc::pollfd {
            fd,
            events: want,
            revents: 0,
        };
        // SAFETY: polls one pollfd without blocking.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n < 0 {
            return -errno();
        }
        let mut m = 0;
        if pfd.revents & libc::POLLIN != 0 {
            m |= POLLIN;
        }
        if pfd.revents & libc::POLLOUT != 0 {
            m |= POLLOUT;
        }
        if pfd.revents & libc::POLLERR != 0 {
            m |= POLLERR;
        }
        if pfd.revents & libc::POLLHUP != 0 {
            m |= POLLHUP;
        }
        if pfd.revents & libc::POLLNVAL != 0 {
            return -libc::EBADF;
        }
        m
    };
    match classify(fd) {
        Err(e) => e,
        Ok(Kind::Blocking { .. }) => {
            let ms = if deadline < 0 {
                -1
            } else {
                ((deadline - crate::sys::clock::now())
                    .max(0)
                    .saturating_add(999_999)
                    / 1_000_000)
                    .min(i32::MAX as i64) as i32
            };
            loop {
                let mut pfd = libc::pollfd {
                    fd,
                    events: want,
                    revents: 0,
                };
                let n = crate::sched::syscall::in_syscall(|| {
                    // SAFETY: polls one pollfd on our stack.
                    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
                    if n < 0 { -errno() } else { n }
                });
                if n == -libc::EINTR {
                    continue;
                }
                if n < 0 {
                    return n;
                }
                if n == 0 {
                    return error::ETIMEDOUT;
                }
                return check();
            }
        }
        Ok(Kind::Polled(pd)) => {
            let _g = match InFlight::enter(&pd) {
                Ok(g) => g,
                Err(e) => return e,
            };
            loop {
                let m = check();
                if m != 0 {
                    return m;
                }
                match wait(
                    &pd,
                    [events & POLLIN != 0, events & POLLOUT != 0],
                    deadline,
                    None,
                ) {
                    park::OK | park::CLOSED => continue,
                    park::TIMEDOUT => return error::ETIMEDOUT,
                    park::CANCELED => return error::ECANCELED,
                    park::SHUTDOWN => return error::ESHUTDOWN,
                    _ => return error::EINVAL,
                }
            }
        }
    }
}

/// `gmp_socket`: non-blocking, close-on-exec, netpolled.
pub(crate) fn socket(domain: i32, ty: i32, protocol: i32) -> i32 {
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            domain,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return -errno();
    }
    remove(fd); // a stale descriptor of a number closed with close(2)
    insert_as(fd, true, true);
    fd
}

/// `gmp_close_fd`: cancels the fd's waiters (GMP_ECANCELED), waits for calls in flight
/// to return, then closes it.
pub(crate) fn close(fd: i32) -> i32 {
    if fd < 0 {
        return -libc::EBADF;
    }
    if let Some(pd) = lookup(fd) {
        pd.closing.store(true, Ordering::Release);
        let woken: Vec<WaitRef> = {
            let mut inner = pd.inner.lock();
            let mut v = Vec::new();
            for d in [READ, WRITE] {
                while let Some(w) = inner.queues[d].pop_front() {
                    if w.claim(park::CANCELED) {
                        v.push(w);
                    }
                }
            }
            v
        };
        for w in woken {
            w.wake();
        }
        // Wait for the calls in flight to leave (they see `closing` or were canceled).
        while pd.inflight.load(Ordering::Acquire) > 0 {
            crate::time::sleep(20_000);
        }
        if let Some(p) = poller() {
            // The fd is still open (we close it just below).
            let _ = p.delete(fd);
        }
        remove(fd);
    }
    // SAFETY: closes the caller's fd once.
    if unsafe { libc::close(fd) } < 0 {
        let e = errno();
        if e != libc::EINTR {
            return -e;
        }
    }
    0
}

//! Sockets on loopback and Unix paths, pipes, and read/write helpers over the gmp fd
//! calls; fcntl flags; a rescuer that unblocks a call a regression would leave blocked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gmp::ffi::netpoll::*;

use super::errno;

/// Runs `f` on a thread after `ms` unless dropped first: unblocks a call that a
/// regression would leave blocked, so the test fails instead of hanging.
pub struct Rescuer {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub fn rescuer(ms: u64, f: impl FnOnce() + Send + 'static) -> Rescuer {
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let thread = std::thread::spawn(move || {
        let start = Instant::now();
        while !d2.load(Ordering::Relaxed) {
            if start.elapsed() >= Duration::from_millis(ms) {
                f();
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    Rescuer {
        done,
        thread: Some(thread),
    }
}

impl Drop for Rescuer {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn sockaddr_in(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    }
}

pub fn sockaddr_un(path: &str) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let b = path.as_bytes();
    assert!(b.len() < sa.sun_path.len(), "unix path too long: {path}");
    for (i, &c) in b.iter().enumerate() {
        sa.sun_path[i] = c as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + b.len() + 1;
    (sa, len as libc::socklen_t)
}

fn setsockopt_int(fd: i32, level: i32, opt: i32, v: i32) {
    // SAFETY: an int option on a valid socket.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&v as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "setsockopt({level}, {opt}) errno {}", errno());
}

/// A gmp socket listening on 127.0.0.1 (an ephemeral port); returns (fd, port).
pub fn tcp_listener(backlog: i32) -> (i32, u16) {
    let fd = gmp_socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    assert!(fd >= 0, "gmp_socket: {fd}");
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    let sa = sockaddr_in(0);
    // SAFETY: a valid address of the right length.
    let r = unsafe {
        libc::bind(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "bind errno {}", errno());
    // SAFETY: a bound socket.
    assert_eq!(unsafe { libc::listen(fd, backlog) }, 0);
    (fd, local_port(fd))
}

pub fn local_port(fd: i32) -> u16 {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a buffer of the given length.
    let r = unsafe { libc::getsockname(fd, (&mut sa as *mut libc::sockaddr_in).cast(), &mut len) };
    assert_eq!(r, 0);
    u16::from_be(sa.sin_port)
}

/// gmp_connect to 127.0.0.1:port on a new gmp socket; returns the fd or the code (of
/// gmp_socket, or of gmp_connect: the socket is then closed).
pub fn tcp_connect(port: u16, timeout: i64) -> i32 {
    let fd = gmp_socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    if fd < 0 {
        return fd;
    }
    let sa = sockaddr_in(port);
    // SAFETY: a valid address of the right length.
    let r = unsafe {
        gmp_connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            timeout,
        )
    };
    if r != 0 {
        gmp_close_fd(fd);
        return r;
    }
    fd
}

/// A connected pair of gmp TCP sockets over loopback: (client, accepted server side).
/// `timeout` bounds the connect and the accept (a hang detector).
pub fn tcp_pair(timeout: i64) -> (i32, i32) {
    let (ln, port) = tcp_listener(4);
    let c = tcp_connect(port, timeout);
    assert!(c >= 0, "connect: {c}");
    let s = accept(ln, timeout);
    assert!(s >= 0, "accept: {s}");
    assert_eq!(gmp_close_fd(ln), 0);
    (c, s)
}

/// A fresh Unix socket path in a per-process temp directory (removed first if present).
pub fn unix_path(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("gmp-net-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p.to_str().expect("utf-8 temp path").to_owned()
}

/// A gmp AF_UNIX stream socket listening on `path`.
pub fn unix_listener(path: &str, backlog: i32) -> i32 {
    let fd = gmp_socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
    assert!(fd >= 0, "gmp_socket(AF_UNIX): {fd}");
    let (sa, len) = sockaddr_un(path);
    // SAFETY: a valid address of the given length.
    let r = unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_un).cast(), len) };
    assert_eq!(r, 0, "bind {path}: errno {}", errno());
    // SAFETY: a bound socket.
    assert_eq!(unsafe { libc::listen(fd, backlog) }, 0);
    fd
}

pub fn unix_connect(path: &str, timeout: i64) -> i32 {
    let fd = gmp_socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
    assert!(fd >= 0);
    let (sa, len) = sockaddr_un(path);
    // SAFETY: a valid address of the given length.
    let r = unsafe { gmp_connect(fd, (&sa as *const libc::sockaddr_un).cast(), len, timeout) };
    if r != 0 {
        gmp_close_fd(fd);
        return r;
    }
    fd
}

pub fn accept(fd: i32, timeout: i64) -> i32 {
    // SAFETY: NULL address buffers are allowed.
    unsafe { gmp_accept(fd, std::ptr::null_mut(), std::ptr::null_mut(), timeout) }
}

pub fn read(fd: i32, buf: &mut [u8], timeout: i64) -> isize {
    // SAFETY: a writable buffer of buf.len() bytes.
    unsafe { gmp_read(fd, buf.as_mut_ptr().cast(), buf.len(), timeout) }
}

/// gmp_write: writes all of `buf` or fails.
pub fn write(fd: i32, buf: &[u8], timeout: i64) -> isize {
    // SAFETY: a readable buffer of buf.len() bytes.
    unsafe { gmp_write(fd, buf.as_ptr().cast(), buf.len(), timeout) }
}

/// Reads exactly buf.len() bytes (gmp_read until full); returns 0, or the first code
/// (or -1 at a premature EOF).
pub fn read_full(fd: i32, buf: &mut [u8], timeout: i64) -> isize {
    let mut off = 0;
    while off < buf.len() {
        let r = read(fd, &mut buf[off..], timeout);
        if r < 0 {
            return r;
        }
        if r == 0 {
            return -1;
        }
        off += r as usize;
    }
    0
}

pub fn fd_flags(fd: i32) -> i32 {
    // SAFETY: fcntl on our fd.
    let f = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(f >= 0, "F_GETFL({fd}) errno {}", errno());
    f
}

pub fn is_nonblocking(fd: i32) -> bool {
    fd_flags(fd) & libc::O_NONBLOCK != 0
}

/// A pipe (blocking, close-on-exec): (read end, write end).
pub fn pipe() -> (i32, i32) {
    let mut p = [0i32; 2];
    // SAFETY: a two-int array.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (p[0], p[1])
}

pub fn raw_close(fd: i32) {
    // SAFETY: closes our own fd once.
    unsafe { libc::close(fd) };
}

/// A connected pair of plain (blocking, not gmp) AF_UNIX stream sockets (close-on-exec).
pub fn socketpair() -> (i32, i32) {
    let mut p = [0i32; 2];
    // SAFETY: a two-int array.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            p.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0);
    (p[0], p[1])
}

/// Sets SO_LINGER {1, 0}: close(2) then sends a RST.
pub fn set_linger_zero(fd: i32) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a linger struct on a valid socket.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
}

pub fn set_sndbuf(fd: i32, n: i32) {
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, n);
}

pub fn set_rcvbuf(fd: i32, n: i32) {
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, n);
}

/// The bytes of message `i` of client `c` (`len` bytes, content checked by the peer).
pub fn pattern(c: usize, i: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|k| (c.wrapping_mul(31) ^ i.wrapping_mul(7) ^ k) as u8)
        .collect()
}

/// Whether `fd` is readable right now (poll with a zero timeout).
pub fn readable(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    assert!(n >= 0, "poll failed");
    n == 1 && p.revents & libc::POLLIN != 0
}

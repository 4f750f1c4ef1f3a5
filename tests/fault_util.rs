//! Helpers of the fault-injection tests (`tests/fault_*.rs`), included by each of them
//! with `#[path = "fault_util.rs"] mod fu;`. Cargo also builds this file as a test
//! target of its own (one sanity test of the child-process machinery).
//!
//! A fault that would poison the test process (a lowered rlimit, a signal storm, a
//! fork) runs in a child: the test re-executes its own binary (`current_exe()`) with
//! `--exact NAME --nocapture` and `GMP_FAULT_ROLE=role`; the same test function, seeing
//! the role, runs the child body instead. The parent checks the child's exit status and
//! output, and kills it if it hangs.

#![allow(dead_code, unused_imports)]

use std::ffi::c_void;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use gmp::ffi::chan::*;
pub use gmp::ffi::goroutine::*;
pub use gmp::ffi::netpoll::*;
pub use gmp::ffi::runtime::*;
pub use gmp::ffi::sync::*;
pub use gmp::ffi::types::*;

pub const MS: i64 = 1_000_000;
pub const US: i64 = 1_000;

/// The environment variable that names a child's role.
pub const ROLE: &str = "GMP_FAULT_ROLE";

/// This process's role, if it is a child started by [`run_child`].
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok().filter(|r| !r.is_empty())
}

/// Whether the long (soak) variants run: `GMP_SOAK=1`.
pub fn soak() -> bool {
    std::env::var("GMP_SOAK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// What a child did.
pub struct ChildOut {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl ChildOut {
    /// Panics (with the child's output) unless it exited with status 0.
    pub fn assert_ok(&self, what: &str) {
        if self.code != Some(0) {
            panic!(
                "{what}: child failed (exit code {:?}, signal {:?}, after {:?})\n\
                 --- child stdout ---\n{}\n--- child stderr ---\n{}",
                self.code, self.signal, self.elapsed, self.stdout, self.stderr
            );
        }
    }
}

/// Re-executes this test binary to run only test `name` with `GMP_FAULT_ROLE=role`
/// and the extra environment `env`; kills it after `limit` (a hang detector).
pub fn run_child(name: &str, role: &str, env: &[(&str, &str)], limit: Duration) -> ChildOut {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        name,
        "--exact",
        "--nocapture",
        "--include-ignored",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .env_remove("RUST_TEST_THREADS")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn child");
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t1 = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = so.read_to_end(&mut s);
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = se.read_to_end(&mut s);
        s
    });
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(st) => break st,
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let st = child.wait().expect("wait");
                let out = String::from_utf8_lossy(&t1.join().unwrap_or_default()).into_owned();
                let err = String::from_utf8_lossy(&t2.join().unwrap_or_default()).into_owned();
                panic!(
                    "child {name}/{role} hung: killed after {limit:?} ({st:?})\n\
                     --- child stdout ---\n{out}\n--- child stderr ---\n{err}"
                );
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let elapsed = start.elapsed();
    use std::os::unix::process::ExitStatusExt;
    ChildOut {
        code: status.code(),
        signal: status.signal(),
        stdout: String::from_utf8_lossy(&t1.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&t2.join().unwrap_or_default()).into_owned(),
        elapsed,
    }
}

// ---------------------------------------------------------------------------------------
// rlimits and /proc

pub fn getrlimit(res: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: writes the struct we pass.
    assert_eq!(unsafe { libc::getrlimit(res, &mut r) }, 0);
    (r.rlim_cur, r.rlim_max)
}

/// Sets the soft limit (the hard one stays, so the soft limit can be raised again).
pub fn set_soft_rlimit(res: libc::__rlimit_resource_t, soft: u64) -> i32 {
    let (_, hard) = getrlimit(res);
    let r = libc::rlimit {
        rlim_cur: soft.min(hard),
        rlim_max: hard,
    };
    // SAFETY: reads the struct we pass.
    unsafe { libc::setrlimit(res, &r) }
}

/// A field of /proc/self/status in kB (VmSize, VmRSS, Threads...).
pub fn proc_status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            if let Some(rest) = rest.strip_prefix(':') {
                let v = rest.split_whitespace().next().unwrap_or("0");
                return v.parse().unwrap_or(0);
            }
        }
    }
    0
}

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Lowers `RLIMIT_NOFILE` and fills every free descriptor number below it with
/// `/dev/null`, then closes `free` of those: exactly `free` descriptors are left (the
/// limit bounds numbers, and there may be gaps below the highest open one). Returns the
/// filler descriptors (close them to give the numbers back).
pub fn exhaust_fds(free: usize) -> Vec<i32> {
    let highest = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
        .max()
        .unwrap_or(2);
    assert_eq!(
        set_soft_rlimit(libc::RLIMIT_NOFILE, highest + 1 + free as u64),
        0
    );
    let mut fill = Vec::new();
    loop {
        // SAFETY: opening /dev/null; the result is checked.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            assert_eq!(errno(), libc::EMFILE);
            break;
        }
        fill.push(fd);
    }
    for _ in 0..free {
        let fd = fill.pop().expect("a filler to free");
        // SAFETY: our own filler fd.
        unsafe { libc::close(fd) };
    }
    fill
}

/// Closes the fillers of [`exhaust_fds`].
pub fn close_fds(fds: Vec<i32>) {
    for fd in fds {
        // SAFETY: our own filler fds.
        unsafe { libc::close(fd) };
    }
}

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Goroutines and sync

/// A gmp waitgroup shareable across goroutines and threads.
#[repr(transparent)]
pub struct WaitGroup(std::cell::UnsafeCell<gmp_waitgroup>);
// SAFETY: the library accesses the struct atomically; sharing it is the point.
unsafe impl Sync for WaitGroup {}
// SAFETY: as above.
unsafe impl Send for WaitGroup {}

impl WaitGroup {
    pub fn new(n: i64) -> Self {
        let w = WaitGroup(std::cell::UnsafeCell::new(gmp_waitgroup {
            _opaque: [0; 4],
        }));
        if n != 0 {
            assert_eq!(w.add(n), 0);
        }
        w
    }
    pub fn ptr(&self) -> *mut gmp_waitgroup {
        self.0.get()
    }
    pub fn add(&self, n: i64) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_add(self.ptr(), n) }
    }
    pub fn done(&self) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_done(self.ptr()) }
    }
    pub fn wait(&self) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_wait(self.ptr()) }
    }
}

/// A gmp channel handle owning one reference.
pub struct Chan(pub *mut gmp_chan);
// SAFETY: channels are made for sharing across threads; the handle owns a reference.
unsafe impl Send for Chan {}
// SAFETY: as above.
unsafe impl Sync for Chan {}

impl Chan {
    pub fn new(elem: usize, cap: usize) -> Chan {
        let mut c = std::ptr::null_mut();
        // SAFETY: out-pointer to a local.
        let rc = unsafe { gmp_chan_make(&mut c, elem, cap) };
        assert_eq!(rc, 0, "gmp_chan_make: {rc}");
        Chan(c)
    }
    pub fn share(&self) -> Chan {
        Chan(gmp_chan_retain(self.0))
    }
    pub fn send_u64(&self, v: u64) -> i32 {
        // SAFETY: a live channel of 8-byte elements (or 0-byte: v ignored).
        unsafe { gmp_chan_send(self.0, (&v as *const u64).cast()) }
    }
    pub fn recv_u64(&self) -> (i32, u64) {
        let mut v = 0u64;
        // SAFETY: a live channel of 8-byte elements.
        let rc = unsafe { gmp_chan_recv(self.0, (&mut v as *mut u64).cast()) };
        (rc, v)
    }
    pub fn recv_timeout_u64(&self, t: i64) -> (i32, u64) {
        let mut v = 0u64;
        // SAFETY: as above.
        let rc = unsafe { gmp_chan_recv_timeout(self.0, (&mut v as *mut u64).cast(), t) };
        (rc, v)
    }
    pub fn close(&self) -> i32 {
        gmp_chan_close(self.0)
    }
}

impl Drop for Chan {
    fn drop(&mut self) {
        gmp_chan_release(self.0)
    }
}

/// Starts a goroutine; panics if it cannot.
pub fn go(f: impl FnOnce() + Send + 'static) -> u64 {
    gmp::rt::go(f).unwrap_or_else(|e| panic!("gmp go failed: {e}"))
}

/// Polls `cond` every millisecond until it holds; panics after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            panic!("hang: still waiting for {what} after {limit:?}");
        }
        if gmp_self() != 0 {
            gmp_sleep(MS);
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sockets

/// A connected pair of AF_UNIX stream sockets made outside the library (close-on-exec).
pub fn socketpair() -> (i32, i32) {
    let mut sv = [0i32; 2];
    // SAFETY: writes two fds into sv.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0);
    (sv[0], sv[1])
}

/// A TCP listener on 127.0.0.1 (an ephemeral port) made with gmp_socket; returns the fd
/// and the address.
pub fn tcp_listener(backlog: i32) -> (i32, libc::sockaddr_in) {
    let fd = gmp_socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    assert!(fd >= 0, "gmp_socket: {fd}");
    let one: libc::c_int = 1;
    // SAFETY: plain socket calls on our fd with valid pointers and lengths.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        );
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as u16;
        a.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        assert_eq!(
            libc::bind(
                fd,
                (&a as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32
            ),
            0
        );
        assert_eq!(libc::listen(fd, backlog), 0);
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        assert_eq!(
            libc::getsockname(fd, (&mut a as *mut libc::sockaddr_in).cast(), &mut len),
            0
        );
        (fd, a)
    }
}

/// Connects a new gmp socket to `addr`; the fd, or a negative code.
pub fn tcp_connect(addr: &libc::sockaddr_in, timeout: i64) -> i32 {
    let fd = gmp_socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    if fd < 0 {
        return fd;
    }
    // SAFETY: a valid sockaddr_in and its length.
    let rc = unsafe {
        gmp_connect(
            fd,
            (addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
            timeout,
        )
    };
    if rc < 0 {
        gmp_close_fd(fd);
        return rc;
    }
    fd
}

/// Writes all of `buf` (gmp_write writes all or fails).
pub fn write_all(fd: i32, buf: &[u8], timeout: i64) -> isize {
    // SAFETY: our buffer.
    unsafe { gmp_write(fd, buf.as_ptr().cast(), buf.len(), timeout) }
}

/// Reads exactly `buf.len()` bytes; the count, or a negative code / short count on EOF.
pub fn read_full(fd: i32, buf: &mut [u8], timeout: i64) -> isize {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the rest of our buffer.
        let n = unsafe { gmp_read(fd, buf[off..].as_mut_ptr().cast(), buf.len() - off, timeout) };
        if n <= 0 {
            return if n < 0 { n } else { off as isize };
        }
        off += n as usize;
    }
    off as isize
}

/// The libtest harness's own sanity check of the child machinery (this file is also a
/// test target).
#[test]
fn child_machinery() {
    if role().as_deref() == Some("echo") {
        println!("child says hi");
        eprintln!("child stderr");
        return;
    }
    // Included as a module elsewhere, this test's name carries the module path.
    let name = match module_path!().split_once("::") {
        Some((_, m)) => format!("{m}::child_machinery"),
        None => "child_machinery".to_owned(),
    };
    let out = run_child(&name, "echo", &[], Duration::from_secs(30));
    out.assert_ok("echo child");
    assert!(out.stdout.contains("child says hi"), "{}", out.stdout);
    assert!(out.stderr.contains("child stderr"), "{}", out.stderr);
}

/// Silences the unused warning when a file uses none of the pointer helpers.
pub fn _unused(_: *mut c_void, _: &AtomicU64, _: &AtomicBool, _: &Arc<Mutex<()>>) {}

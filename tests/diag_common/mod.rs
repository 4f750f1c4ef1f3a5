//! Helpers shared by the diagnostics tests (`tests/diag_*.rs`): running this test binary
//! again as a child process with its own runtime and environment (the runtime reads
//! GMP_DEBUG and GMP_TRACE once, at start), small `Sync` wrappers over the C sync types,
//! and stderr parsing.

#![allow(dead_code)]

use std::cell::UnsafeCell;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gmp::ffi::runtime::*;
use gmp::ffi::sync::*;
use gmp::ffi::*;

/// The variable that tells a re-executed test binary which child role to play.
pub const ROLE: &str = "GMP_DIAG_CHILD";

/// What a child process did.
#[derive(Debug)]
pub struct ChildOut {
    /// The exit code; None when it was killed (by us at the deadline, or by a signal).
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// Whether we killed it at the deadline.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// True in the child process started for `test` (call it first thing in the test).
pub fn is_child(test: &str) -> bool {
    std::env::var(ROLE).is_ok_and(|r| r == test)
}

/// Runs this test binary again with only `test` selected, `ROLE=test` and `env` (GMP_DEBUG
/// and GMP_TRACE are removed unless given), and kills it after `timeout`.
pub fn run_child(test: &str, env: &[(&str, &str)], timeout: Duration) -> ChildOut {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        test,
        "--nocapture",
        "--test-threads=1",
        "--include-ignored",
    ])
    .env(ROLE, test)
    .env_remove("GMP_DEBUG")
    .env_remove("GMP_TRACE")
    .env_remove("GMP_MAXPROCS")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn().expect("spawn child test process");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let ro = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let re = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if t0.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = t0.elapsed();
    let stdout = String::from_utf8_lossy(&ro.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&re.join().unwrap()).into_owned();
    ChildOut {
        code: status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        timed_out,
        stdout,
        stderr,
        elapsed,
    }
}

impl ChildOut {
    /// Panics with the child's output unless it exited with code 0 through `child_exit`
    /// (so a child that ran no test at all does not pass).
    pub fn expect_ok(&self, what: &str) {
        assert!(
            self.code == Some(0) && !self.timed_out && self.marks("exit") == ["0"],
            "{what}: child failed ({:?}, timed out: {}, {:?})\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.timed_out,
            self.elapsed,
            self.stdout,
            self.stderr
        );
    }

    /// The values of `DIAG key value` lines the child printed to stderr.
    pub fn marks(&self, key: &str) -> Vec<String> {
        self.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("DIAG "))
            .filter_map(|l| l.split_once(' '))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.to_owned())
            .collect()
    }

    /// The one value of `DIAG key value`.
    pub fn mark(&self, key: &str) -> String {
        let v = self.marks(key);
        assert_eq!(
            v.len(),
            1,
            "want one `DIAG {key}` line\n--- stderr\n{}",
            self.stderr
        );
        v[0].clone()
    }
}

/// A marker line on stderr, written with one write(2) so it never interleaves with the
/// runtime's own lines (which are written the same way).
pub fn mark(key: &str, value: impl std::fmt::Display) {
    let s = format!("DIAG {key} {value}\n");
    // SAFETY: writes from a live buffer to fd 2.
    unsafe { libc::write(2, s.as_ptr().cast(), s.len()) };
}

/// Ends a child process: flushes and exits with `code` without unwinding the test harness
/// (goroutines may still be parked; the runtime needs no shutdown).
pub fn child_exit(code: i32) -> ! {
    mark("exit", code);
    std::process::exit(code)
}

/// gmp_init with `maxprocs` P's (before anything else starts the runtime).
pub fn init(maxprocs: i32) {
    let cfg = gmp_config {
        size: std::mem::size_of::<gmp_config>(),
        maxprocs,
        stack_size: 0,
        max_threads: 0,
        ..Default::default()
    };
    // SAFETY: a valid config with its size.
    let rc = unsafe { gmp_init(&cfg) };
    assert_eq!(rc, 0, "gmp_init: {rc}");
}

pub fn ms(n: i64) -> i64 {
    n * 1_000_000
}

pub fn go(f: impl FnOnce() + Send + 'static) -> u64 {
    gmp::rt::go(f).unwrap_or_else(|e| panic!("gmp go failed: {e}"))
}

pub fn go_named(name: &str, f: impl FnOnce() + Send + 'static) -> u64 {
    let c = std::ffi::CString::new(name).unwrap();
    gmp::rt::go_named(&c, 0, f).unwrap_or_else(|e| panic!("gmp go failed: {e}"))
}

/// Busy-waits `ns` without any switch point (the goroutine keeps its P).
pub fn spin(ns: i64) {
    let end = gmp_now() + ns;
    while gmp_now() < end {
        std::hint::spin_loop();
    }
}

/// gmp_read_stats with the full struct.
pub fn stats() -> gmp_stats {
    let mut s = gmp_stats {
        size: std::mem::size_of::<gmp_stats>(),
        ..Default::default()
    };
    // SAFETY: a writable struct with its size set.
    assert_eq!(unsafe { gmp_read_stats(&mut s) }, 0);
    s
}

/// The goroutine dump as a string (through a pipe drained by a thread, so a dump larger
/// than the pipe buffer cannot block).
pub fn dump() -> String {
    let mut fds = [0i32; 2];
    // SAFETY: a two-int array for pipe2.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let rd = fds[0];
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reads into a live buffer from our pipe.
            let n = unsafe { libc::read(rd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        // SAFETY: our fd.
        unsafe { libc::close(rd) };
        out
    });
    let rc = gmp_dump_goroutines(fds[1]);
    // SAFETY: our fd.
    unsafe { libc::close(fds[1]) };
    assert_eq!(rc, 0, "gmp_dump_goroutines");
    String::from_utf8(reader.join().unwrap()).expect("dump is UTF-8")
}

/// Polls `cond` every 2 ms (a gmp sleep on a goroutine, an OS sleep elsewhere) until it
/// holds; panics with `what` after 5 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "still waiting for {what} after 5 s"
        );
        if gmp::ffi::goroutine::gmp_self() != 0 {
            gmp_sleep(ms(2));
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The dump's header line of goroutine `id` (`goroutine 7 [chan receive] "name":`).
pub fn dump_line(dump: &str, id: u64) -> Option<String> {
    let p = format!("goroutine {id} [");
    dump.lines().find(|l| l.starts_with(&p)).map(str::to_owned)
}

// ---------------------------------------------------------------------------------------
// The C sync types in an UnsafeCell (the library mutates them through the pointer).

macro_rules! wrapper {
    ($name:ident, $c:ident, $n:expr) => {
        #[repr(transparent)]
        pub struct $name(UnsafeCell<$c>);
        // SAFETY: the library accesses the struct only atomically; sharing it is the point.
        unsafe impl Sync for $name {}
        // SAFETY: as above.
        unsafe impl Send for $name {}
        impl $name {
            pub fn new() -> Self {
                $name(UnsafeCell::new($c { _opaque: [0; $n] }))
            }
            pub fn ptr(&self) -> *mut $c {
                self.0.get()
            }
        }
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

wrapper!(Mutex, gmp_mutex, 2);
wrapper!(RwMutex, gmp_rwmutex, 4);
wrapper!(WaitGroup, gmp_waitgroup, 4);
wrapper!(Once, gmp_once, 2);
wrapper!(Cond, gmp_cond, 4);

impl Mutex {
    pub fn lock(&self) {
        // SAFETY: a live mutex.
        assert_eq!(unsafe { gmp_mutex_lock(self.ptr()) }, 0);
    }
    pub fn unlock(&self) {
        // SAFETY: a live mutex.
        assert_eq!(unsafe { gmp_mutex_unlock(self.ptr()) }, 0);
    }
}

impl RwMutex {
    pub fn rlock(&self) {
        // SAFETY: a live rwmutex.
        assert_eq!(unsafe { gmp_rwmutex_rlock(self.ptr()) }, 0);
    }
    pub fn runlock(&self) {
        // SAFETY: a live rwmutex.
        assert_eq!(unsafe { gmp_rwmutex_runlock(self.ptr()) }, 0);
    }
    pub fn lock(&self) {
        // SAFETY: a live rwmutex.
        assert_eq!(unsafe { gmp_rwmutex_lock(self.ptr()) }, 0);
    }
    pub fn unlock(&self) {
        // SAFETY: a live rwmutex.
        assert_eq!(unsafe { gmp_rwmutex_unlock(self.ptr()) }, 0);
    }
}

impl WaitGroup {
    pub fn add(&self, n: i64) {
        // SAFETY: a live waitgroup.
        assert_eq!(unsafe { gmp_waitgroup_add(self.ptr(), n) }, 0);
    }
    pub fn done(&self) {
        // SAFETY: a live waitgroup.
        assert_eq!(unsafe { gmp_waitgroup_done(self.ptr()) }, 0);
    }
    pub fn wait(&self) {
        // SAFETY: a live waitgroup.
        assert_eq!(unsafe { gmp_waitgroup_wait(self.ptr()) }, 0);
    }
}

impl Cond {
    pub fn wait(&self, mu: &Mutex) {
        // SAFETY: live objects.
        assert_eq!(unsafe { gmp_cond_wait(self.ptr(), mu.ptr()) }, 0);
    }
    pub fn broadcast(&self) {
        // SAFETY: a live cond.
        assert_eq!(unsafe { gmp_cond_broadcast(self.ptr()) }, 0);
    }
}

/// An owned channel handle that may cross goroutines (channels are thread-safe).
#[derive(Clone, Copy)]
pub struct Chan(pub *mut gmp::ffi::gmp_chan);
// SAFETY: every channel operation may be called from any thread or goroutine.
unsafe impl Send for Chan {}
// SAFETY: as above.
unsafe impl Sync for Chan {}

impl Chan {
    /// A channel of i64 with `cap` slots.
    pub fn new(cap: usize) -> Chan {
        let mut c = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp::ffi::chan::gmp_chan_make(&mut c, 8, cap) }, 0);
        Chan(c)
    }
    pub fn send(&self, v: i64) -> i32 {
        // SAFETY: a live channel of i64.
        unsafe { gmp::ffi::chan::gmp_chan_send(self.0, (&v as *const i64).cast()) }
    }
    pub fn recv(&self) -> (i32, i64) {
        let mut v = 0i64;
        // SAFETY: a live channel of i64.
        let rc = unsafe { gmp::ffi::chan::gmp_chan_recv(self.0, (&mut v as *mut i64).cast()) };
        (rc, v)
    }
    pub fn close(&self) {
        assert_eq!(gmp::ffi::chan::gmp_chan_close(self.0), 0);
    }
}

/// gmp_select receiving from each of `chans` (values discarded); the index that fired or
/// a code.
pub fn select_recv(chans: &[Chan], timeout_ns: i64) -> i32 {
    let mut cases: Vec<gmp::ffi::gmp_select_case> = chans
        .iter()
        .map(|c| gmp::ffi::gmp_select_case {
            chan: c.0,
            op: gmp::ffi::GMP_RECV,
            elem: std::ptr::null_mut(),
            result: 0,
        })
        .collect();
    // SAFETY: live cases.
    unsafe { gmp::ffi::chan::gmp_select(cases.as_mut_ptr(), cases.len(), timeout_ns) }
}

/// A connected AF_UNIX stream socket pair (close-on-exec).
pub fn socketpair() -> (i32, i32) {
    let mut sv = [0i32; 2];
    // SAFETY: a two-int array.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "socketpair");
    (sv[0], sv[1])
}

type BoxedFn = Box<dyn FnOnce() + Send + 'static>;

unsafe extern "C" fn call_boxed(arg: *mut std::ffi::c_void) {
    // SAFETY: `arg` is a Box<BoxedFn> leaked by `c_closure`, called exactly once.
    let f = unsafe { Box::from_raw(arg as *mut BoxedFn) };
    f()
}

/// A C entry point and argument that run `f` once (for gmp_go_home, gmp_blocking).
pub fn c_closure(f: impl FnOnce() + Send + 'static) -> (gmp_fn, *mut std::ffi::c_void) {
    let b: Box<BoxedFn> = Box::new(Box::new(f));
    (Some(call_boxed), Box::into_raw(b) as *mut std::ffi::c_void)
}

/// gmp_blocking with a closure.
pub fn blocking(f: impl FnOnce() + Send + 'static) {
    let (fp, arg) = c_closure(f);
    assert_eq!(gmp::ffi::netpoll::gmp_blocking(fp, arg), 0);
}

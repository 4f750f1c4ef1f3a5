//! Thread exhaustion: many goroutines sit in `gmp_blocking` calls past the thread cap.
//! Go aborts the process ("program exceeds 10000-thread limit"); libgmp must do better:
//! the calls past the cap wait (for an M to come back from its call) after a clear
//! message on stderr, every call completes, and the other goroutines keep running.
//!
//! - `max_threads_cap`: `gmp_config.max_threads = 4` (the runtime's own cap): stderr says
//!   `gmp: thread limit reached`, no more than 4 blocking calls ever run at once.
//! - `rlimit_nproc_as_nobody`: the kernel's cap. `RLIMIT_NPROC` is not enforced for root,
//!   so the child drops to `nobody` (setuid) and sets the limit to the threads it has:
//!   `pthread_create` fails with EAGAIN, stderr says `gmp: cannot create a thread`.
//!   Skipped (with a note) where setuid is not permitted.
//!
//! Each runs in a child process (the limits would poison this one).

mod support;

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::*;

static IN_CALL: AtomicI64 = AtomicI64::new(0);
static MAX_IN_CALL: AtomicI64 = AtomicI64::new(0);
static CALLS_DONE: AtomicU64 = AtomicU64::new(0);
static BEATS: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// The blocking call: 30 ms in the kernel (nanosleep), counting how many run at once.
unsafe extern "C" fn blocking_fn(_: *mut c_void) {
    let n = IN_CALL.fetch_add(1, Ordering::SeqCst) + 1;
    MAX_IN_CALL.fetch_max(n, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(30));
    IN_CALL.fetch_sub(1, Ordering::SeqCst);
}

unsafe extern "C" fn heartbeat(_: *mut c_void) {
    while !STOP.load(Ordering::Relaxed) {
        assert_eq!(gmp_sleep(MS), 0);
        BEATS.fetch_add(1, Ordering::Relaxed);
    }
}

fn init(max_threads: i32) {
    let cfg = gmp_config {
        size: std::mem::size_of::<gmp_config>(),
        maxprocs: 2,
        stack_size: 0,
        max_threads,
        ..Default::default()
    };
    // SAFETY: a valid config.
    assert_eq!(unsafe { gmp_init(&cfg) }, 0);
}

/// Starts `n` goroutines that each make `calls` blocking calls; waits for all of them
/// while checking that the heartbeat goroutine keeps beating between calls.
fn storm(n: u64, calls: u64) {
    assert_eq!(gmp_go(Some(heartbeat), std::ptr::null_mut()), 0);
    wait_until("the heartbeat", Duration::from_secs(10), || {
        BEATS.load(Ordering::Relaxed) > 3
    });
    let wg = Box::leak(Box::new(WaitGroup::with(n as i64)));
    let wgp = wg as *const WaitGroup as usize;
    for _ in 0..n {
        go(move || {
            for _ in 0..calls {
                assert_eq!(gmp_blocking(Some(blocking_fn), std::ptr::null_mut()), 0);
                CALLS_DONE.fetch_add(1, Ordering::SeqCst);
            }
            // SAFETY: leaked above: lives for the whole child.
            assert_eq!(unsafe { &*(wgp as *const WaitGroup) }.done(), 0);
        });
    }
    let b0 = BEATS.load(Ordering::Relaxed);
    let t0 = Instant::now();
    // The hang detector is the child's time limit; wait from this (foreign) thread.
    assert_eq!(wg.wait(), 0);
    let took = t0.elapsed();
    assert_eq!(CALLS_DONE.load(Ordering::SeqCst), n * calls);
    wait_until(
        "the heartbeat after the storm",
        Duration::from_secs(10),
        || BEATS.load(Ordering::Relaxed) > b0 + 5,
    );
    STOP.store(true, Ordering::Relaxed);
    println!(
        "{} blocking calls of 30 ms by {n} goroutines in {took:?}; at most {} at once; \
         heartbeat {} beats during the storm",
        n * calls,
        MAX_IN_CALL.load(Ordering::SeqCst),
        BEATS.load(Ordering::Relaxed) - b0
    );
}

#[test]
fn max_threads_cap() {
    if role().as_deref() == Some("cap") {
        init(4);
        storm(24, 3);
        let s = stats();
        assert!(s.threads <= 4, "threads = {} over the cap", s.threads);
        assert!(
            MAX_IN_CALL.load(Ordering::SeqCst) <= 4,
            "more blocking calls at once than threads"
        );
        return;
    }
    let out = run_child("max_threads_cap", "cap", &[], Duration::from_secs(60));
    out.assert_ok("max_threads child");
    print!("{}", out.stdout);
    assert!(
        out.stderr.contains("gmp: thread limit reached"),
        "no clear message on stderr: {}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("gmp: thread limit reached").count(),
        1,
        "the message comes once"
    );
}

/// Threads of every process of `uid` (RLIMIT_NPROC counts them all).
fn threads_of_uid(uid: u32) -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in dir.flatten() {
        let Ok(s) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let mut mine = false;
        let mut threads = 0;
        for line in s.lines() {
            if let Some(r) = line.strip_prefix("Uid:") {
                mine = r.split_whitespace().next() == Some(&uid.to_string());
            }
            if let Some(r) = line.strip_prefix("Threads:") {
                threads = r.trim().parse().unwrap_or(0);
            }
        }
        if mine {
            total += threads;
        }
    }
    total
}

#[test]
fn rlimit_nproc_as_nobody() {
    if role().as_deref() == Some("nproc") {
        init(0);
        // Start the runtime (sysmon and a first M) before dropping privileges.
        assert_eq!(gmp_sleep(MS), 0);
        // SAFETY: plain credential calls of this single-purpose child.
        let ok = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setgid(65534) == 0
                && libc::setuid(65534) == 0
        };
        if !ok {
            println!(
                "SKIP: setuid(nobody) not permitted here (errno {})",
                errno()
            );
            return;
        }
        // SAFETY: no preconditions.
        assert_eq!(unsafe { libc::getuid() }, 65534);
        let have = threads_of_uid(65534);
        assert_eq!(set_soft_rlimit(libc::RLIMIT_NPROC, have + 1), 0);
        println!(
            "running as nobody with RLIMIT_NPROC = {} (threads now: {have})",
            have + 1
        );
        storm(16, 2);
        return;
    }
    let out = run_child(
        "rlimit_nproc_as_nobody",
        "nproc",
        &[],
        Duration::from_secs(60),
    );
    out.assert_ok("RLIMIT_NPROC child");
    print!("{}", out.stdout);
    if out.stdout.contains("SKIP") {
        return;
    }
    assert!(
        out.stderr.contains("gmp: cannot create a thread"),
        "no clear message on stderr: {}",
        out.stderr
    );
}

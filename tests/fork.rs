//! fork(2) in a process that runs goroutines: the child has none of the runtime's
//! threads, so every call there returns GMP_ESHUTDOWN at once (no hang); the parent's
//! runtime goes on.

mod support;

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::*;

unsafe extern "C" fn nop(_: *mut c_void) {}

/// Runs in the forked child: only async-signal-safe work besides the gmp calls under
/// test; exits with a code saying which check failed.
fn child() -> ! {
    let mut code = 0;
    if gmp_go(Some(nop), std::ptr::null_mut()) != GMP_ESHUTDOWN {
        code = 10;
    }
    let mut mu = gmp_mutex { _opaque: [0; 2] };
    // SAFETY: a live, zeroed mutex on our stack.
    if code == 0 && unsafe { gmp_mutex_lock(&mut mu) } != GMP_ESHUTDOWN {
        code = 11;
    }
    let mut wg = gmp_waitgroup { _opaque: [0; 4] };
    // SAFETY: as above.
    if code == 0 && unsafe { gmp_waitgroup_wait(&mut wg) } != GMP_ESHUTDOWN {
        code = 12;
    }
    if code == 0 && gmp_sleep(1_000_000) != GMP_ESHUTDOWN {
        code = 13;
    }
    if code == 0 && gmp_maxprocs(0) != GMP_ESHUTDOWN {
        code = 14;
    }
    if code == 0 && gmp_main(Some(nop), std::ptr::null_mut()) != GMP_ESHUTDOWN {
        code = 15;
    }
    if code == 0 && gmp_now() <= 0 {
        code = 16;
    }
    // SAFETY: _exit is async-signal-safe and skips atexit handlers and test harness state.
    unsafe { libc::_exit(code) }
}

fn fork_and_check() {
    // SAFETY: the child only runs `child`, which ends in _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        child();
    }
    // Poll, so a hung child fails the test instead of hanging it.
    let start = Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid failed");
        if r == pid {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            // SAFETY: killing our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the forked child hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "child check failed (code = which call)"
    );
}

#[test]
fn fork_child_gets_eshutdown() {
    let _s = serial();
    // Busy runtime: goroutines spinning, sleeping and holding locks while we fork.
    let stop = Arc::new(AtomicBool::new(false));
    let mu = Arc::new(Mutex::new());
    let n = 16;
    let done = Arc::new(WaitGroup::with(n));
    for i in 0..n {
        let (s, m, d) = (stop.clone(), mu.clone(), done.clone());
        go(move || {
            while !s.load(Ordering::Relaxed) {
                assert_eq!(m.lock(), 0);
                if i % 2 == 0 {
                    gmp_gosched();
                }
                assert_eq!(m.unlock(), 0);
                gmp_sleep(10_000);
            }
            assert_eq!(d.done(), 0);
        });
    }
    for _ in 0..5 {
        fork_and_check();
    }
    // The parent's runtime goes on.
    stop.store(true, Ordering::Relaxed);
    assert_eq!(done.wait(), 0);
    let wg = Arc::new(WaitGroup::with(100));
    for _ in 0..100 {
        let w = wg.clone();
        go(move || {
            assert_eq!(w.done(), 0);
        });
    }
    assert_eq!(wg.wait(), 0);
}

#[test]
fn fork_from_a_goroutine() {
    let _s = serial();
    let ok = Arc::new(AtomicBool::new(false));
    let o = ok.clone();
    let wg = Arc::new(WaitGroup::with(1));
    let w = wg.clone();
    go(move || {
        // Lock the thread: fork from a goroutine is still a fork of this thread.
        assert_eq!(gmp_lock_os_thread(), 0);
        fork_and_check();
        assert_eq!(gmp_unlock_os_thread(), 0);
        o.store(true, Ordering::SeqCst);
        assert_eq!(w.done(), 0);
    });
    assert_eq!(wg.wait(), 0);
    assert!(ok.load(Ordering::SeqCst));
}

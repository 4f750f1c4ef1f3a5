//! The prologue of every C function (`entry!` in src/ffi/mod.rs), in a forked child:
//! calls on objects the parent made (a home, a channel) and the calls that never start
//! the runtime refuse with `GMP_ESHUTDOWN` (API.md: "After fork(), every call in the
//! child returns GMP_ESHUTDOWN"); the home calls used to say `GMP_EINVAL` there. The
//! calls with no code just return, and the pure ones (`gmp_now`, `gmp_self`, versions)
//! keep working. The child runs only the calls under test and `_exit`s with the number
//! of the first check that failed.

use std::ffi::c_void;

use gmp::ffi::*;

unsafe extern "C" fn nop(_: *mut c_void) {}

const E: i64 = GMP_ESHUTDOWN as i64;

/// In the forked child: 0, or 1 + the index of the first failing check.
fn child(h: *mut gmp_home, ch: *mut gmp_chan) -> i32 {
    // SAFETY: live objects of the parent (copied into the child), valid arguments.
    let got: [i64; 17] = unsafe {
        [
            gmp_home_run(h, 0) as i64,
            gmp_home_wait(h, 0) as i64,
            gmp_home_wake(h) as i64,
            gmp_home_fd(h) as i64,
            gmp_home_set_reentrant(h, 1) as i64,
            gmp_go_home(h, std::ptr::null(), Some(nop), std::ptr::null_mut()) as i64,
            gmp_home_close(h) as i64,
            gmp_home_free(h) as i64,
            gmp_chan_len(ch),
            gmp_chan_cap(ch),
            gmp_ticker_stop(ch) as i64,
            gmp_num_goroutine(),
            gmp_set_name(c"child".as_ptr()) as i64,
            gmp_lock_os_thread() as i64,
            gmp_trace_stop() as i64,
            gmp_local_set(1, std::ptr::null_mut()) as i64,
            gmp_local_key_delete(1) as i64,
        ]
    };
    if let Some(i) = got.iter().position(|&v| v != E) {
        return 1 + i as i32;
    }
    // No code to return: they must just return.
    gmp_gosched();
    gmp_syscall_enter();
    gmp_syscall_exit();
    gmp_chan_release(ch);
    // Pure: they work in the child too.
    if gmp_now() <= 0 || gmp_self() != 0 || gmp_lib_version().is_null() {
        return 100;
    }
    0
}

#[test]
fn forked_child_gets_eshutdown_from_calls_on_parent_objects() {
    let mut h: *mut gmp_home = std::ptr::null_mut();
    let mut ch: *mut gmp_chan = std::ptr::null_mut();
    // SAFETY: valid out-pointers.
    unsafe {
        assert_eq!(gmp_home_make(&mut h), 0);
        assert_eq!(gmp_chan_make(&mut ch, 8, 4), 0);
    }
    // SAFETY: the child runs only `child`, then _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let rc = child(h, ch);
        // SAFETY: leaves the child without running the harness's or atexit's code.
        unsafe { libc::_exit(rc) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status),
        "the child died: status {status:#x}"
    );
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "check number {} failed in the child (1-based; 100: a pure call)",
        libc::WEXITSTATUS(status)
    );
    // The parent's objects still work.
    assert_eq!(gmp_home_close(h), 0);
    assert_eq!(gmp_home_run(h, -1), GMP_ECLOSED);
    // SAFETY: closed and drained, on its own thread.
    assert_eq!(unsafe { gmp_home_free(h) }, 0);
    assert_eq!(gmp_chan_cap(ch), 4);
    gmp_chan_release(ch);
}

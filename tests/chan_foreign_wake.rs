//! A foreign thread that only ever makes non-blocking channel calls (a send that finds a
//! parked receiver, a close) must be able to wake the main goroutine of `gmp_main`:
//! gmp_main's deadlock detection (Go's checkdead, on by default) must not call the
//! runtime deadlocked while such a thread exists.
//!
//! A process of its own, with no other test and no shared helpers: any thread that once
//! blocks in gmp (a join on a gmp waitgroup, say) sets the "foreign thread seen" flag
//! that turns the detection off for the rest of the process, which would hide the bug.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use gmp::ffi::chan::*;
use gmp::ffi::types::*;

#[derive(Clone, Copy)]
struct Ch(*mut gmp_chan);
// SAFETY: channel calls may be made from any thread.
unsafe impl Send for Ch {}

impl Ch {
    fn p(self) -> *mut gmp_chan {
        self.0
    }
}

/// The main goroutine waits on an unbuffered channel; a plain OS thread, which never
/// blocks in gmp, hands it a value after 400 ms (then, second round, closes it). The
/// detector's quiet period is 200 ms, so a detector that ignores such threads fires
/// first and gmp_main returns GMP_EDEADLK.
#[test]
fn a_foreign_thread_that_never_blocks_can_wake_the_main_goroutine() {
    for close in [false, true] {
        let mut raw = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp_chan_make(&mut raw, 8, 0) }, 0);
        let c = Ch(raw);
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            if close {
                assert_eq!(gmp_chan_close(c.p()), 0);
            } else {
                let v = 7u64;
                // Timeout 0: the receiver is parked, so this hands off without blocking
                // (it would return GMP_EAGAIN otherwise).
                // SAFETY: a live channel of u64.
                let rc = unsafe { gmp_chan_send_timeout(c.p(), (&v as *const u64).cast(), 0) };
                assert_eq!(rc, 0);
            }
        });
        let got = Arc::new(AtomicI32::new(i32::MIN));
        let g2 = got.clone();
        let rc = gmp::rt::main(move || {
            let mut v = 0u64;
            // SAFETY: a live channel of u64; v is writable.
            let rc = unsafe { gmp_chan_recv(c.p(), (&mut v as *mut u64).cast()) };
            g2.store(if rc == 0 { v as i32 } else { rc }, Ordering::SeqCst);
        });
        waker.join().unwrap();
        assert_eq!(rc, 0, "gmp_main (close = {close}): {rc}, 0 expected");
        let want = if close { GMP_ECLOSED } else { 7 };
        assert_eq!(got.load(Ordering::SeqCst), want);
        gmp_chan_release(c.p());
    }
}

//! Unbounded recursion in a goroutine hits its guard region and dies with a clear
//! message and SIGABRT, not a bare segfault. The overflow runs in a child process: this
//! test binary re-executed, filtered to the child test, with an environment variable
//! telling it to overflow.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

const CHILD_ENV: &str = "GMP_TEST_STACK_OVERFLOW_CHILD";

#[inline(never)]
#[allow(unconditional_recursion)] // on purpose: it ends in the guard region
fn recurse(depth: u64, sink: &mut [u8; 64]) -> u64 {
    // A frame that cannot be optimised into a loop: a local buffer whose address escapes.
    let mut buf = [0u8; 512];
    buf[(depth % 512) as usize] = depth as u8;
    sink[(depth % 64) as usize] ^= std::hint::black_box(&buf)[(depth % 512) as usize];
    let r = recurse(depth + 1, sink);
    std::hint::black_box(&mut buf);
    r + buf[0] as u64
}

/// The child: a no-op unless the parent set CHILD_ENV.
#[test]
fn overflow_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let wg = std::sync::Arc::new(common::WaitGroup::with(1));
    let w = wg.clone();
    gmp::rt::go_named(c"deep", 64 * 1024, move || {
        let mut sink = [0u8; 64];
        let n = recurse(0, &mut sink);
        std::hint::black_box(n);
        w.done();
    })
    .expect("spawn");
    wg.wait();
    // Not reached: the process aborts.
    eprintln!("child: recursion returned?!");
    std::process::exit(3);
}

#[test]
fn stack_overflow_aborts_with_a_message() {
    let _s = common::serial();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "overflow_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "child status {:?}, stderr:\n{stderr}",
        out.status
    );
    assert!(stderr.contains("gmp: goroutine "), "stderr:\n{stderr}");
    assert!(
        stderr.contains("\"deep\": stack overflow (stack 64 KiB)"),
        "stderr:\n{stderr}"
    );
}

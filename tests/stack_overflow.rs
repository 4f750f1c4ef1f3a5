//! Unbounded recursion in a goroutine hits its guard region and dies with a clear
//! message and SIGABRT, not a bare segfault. The overflow runs in a child process: this
//! test binary re-executed, filtered to the child test, with an environment variable
//! telling it to overflow.

mod support;

use std::time::Duration;

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

/// The child: a no-op unless run in the role "overflow".
#[test]
fn overflow_child() {
    if !support::is_child("overflow") {
        return;
    }
    let wg = std::sync::Arc::new(support::WaitGroup::with(1));
    let w = wg.clone();
    gmp::rt::go_named(c"deep", 64 * 1024, move || {
        let mut sink = [0u8; 64];
        let n = recurse(0, &mut sink);
        std::hint::black_box(n);
        assert_eq!(w.done(), 0);
    })
    .expect("spawn");
    assert_eq!(wg.wait(), 0);
    // Not reached: the process aborts.
    eprintln!("child: recursion returned?!");
    std::process::exit(3);
}

#[test]
fn stack_overflow_aborts_with_a_message() {
    let _s = support::serial();
    let out = support::child("overflow_child", "overflow")
        .env("RUST_BACKTRACE", "0")
        .limit(Duration::from_secs(60))
        .run_no_hang();
    let stderr = &out.stderr;
    assert_eq!(
        out.signal,
        Some(libc::SIGABRT),
        "child status {:?}, stderr:\n{stderr}",
        out.code
    );
    assert!(stderr.contains("gmp: goroutine "), "stderr:\n{stderr}");
    assert!(
        stderr.contains("\"deep\": stack overflow (stack 64 KiB)"),
        "stderr:\n{stderr}"
    );
}

//! Sanity tests of the shared helpers in `tests/support/`: the child-process machinery,
//! the socket helpers, channel handles and goroutine joining.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn child_machinery() {
    if role().as_deref() == Some("echo") {
        println!("child says hi");
        eprintln!("child stderr");
        child_exit(0);
    }
    let out = run_child("child_machinery", "echo", &[], Duration::from_secs(30));
    out.assert_exited_ok("echo child");
    assert!(out.stdout.contains("child says hi"), "{}", out.stdout);
    assert!(out.stderr.contains("child stderr"), "{}", out.stderr);
}

#[test]
fn child_stdin_and_deadline() {
    match role().as_deref() {
        Some("cat") => {
            let mut s = String::new();
            std::io::stdin().read_line(&mut s).unwrap();
            mark("line", s.trim());
            child_exit(0);
        }
        Some("hang") => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        _ => {}
    }
    let out = child("child_stdin_and_deadline", "cat")
        .stdin_after(Duration::from_millis(10), b"hello\n")
        .run();
    out.assert_exited_ok("cat child");
    assert_eq!(out.mark("line"), "hello");
    let out = child("child_stdin_and_deadline", "hang")
        .limit(Duration::from_millis(300))
        .run();
    assert!(out.timed_out && out.code.is_none(), "{out:?}");
}

#[test]
fn net_helpers() {
    let _s = serial();
    let (fd, port) = tcp_listener(4);
    assert!(port > 0);
    assert!(is_nonblocking(fd), "gmp_socket is non-blocking");
    // SAFETY: fcntl on our fd.
    let fdfl = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(fdfl & libc::FD_CLOEXEC != 0, "gmp_socket is close-on-exec");
    assert_eq!(gmp_close_fd(fd), 0);
    assert_eq!(pattern(1, 2, 3).len(), 3);
}

#[test]
fn chan_and_join() {
    let _s = serial();
    let c = Ch::of::<u64>(1);
    c.put(7u64);
    assert_eq!(c.get::<u64>(), 7);
    in_go(move || {
        assert!(in_goroutine());
        c.put(8u64);
    });
    assert_eq!(c.get::<u64>(), 8);
    c.release();
    let r = std::panic::catch_unwind(|| in_go(|| panic!("carried")));
    assert!(r.is_err(), "a goroutine's panic reaches the joiner");
}

//! Deadlock detection in `gmp_main` (Go's `checkdead`): when every goroutine is blocked on
//! a channel, sync or select and nothing else can wake one (no timer, no fd in the
//! poller, no syscall, no foreign thread), `gmp_main` prints Go's message and the dump
//! and returns GMP_EDEADLK. Each case runs in a child process: a deadlocked runtime keeps
//! its parked goroutines, and GMP_DEBUG is read once. The child runs the case in a forked
//! copy of itself that has a single thread, so that the process holds no thread besides
//! the runtime's and gmp_main's (the test harness's own main thread would otherwise be a
//! thread that might still act, which checkdead may rightly refuse to ignore).

mod support;

use std::sync::Arc;
use std::time::Duration;

use gmp::ffi::GMP_EDEADLK;
use support::*;

const FATAL: &str = "fatal error: all goroutines are asleep - deadlock!";

/// Runs gmp_main(f), prints `DIAG rc <code>` and `DIAG ms <elapsed>`, and after a
/// deadlock checks that the runtime is still usable (`DIAG rc2 <code>` of a second
/// gmp_main), then exits.
fn main_and_exit(f: impl FnOnce() + Send + 'static) -> ! {
    let t0 = gmp_now();
    let rc = gmp::rt::main(f);
    mark("ms", (gmp_now() - t0) / 1_000_000);
    mark("rc", rc);
    if rc == GMP_EDEADLK {
        mark("rc2", gmp::rt::main(|| assert_eq!(gmp_sleep(ms(1)), 0)));
    }
    child_exit(0)
}

fn child(case: &str) -> ! {
    match case {
        // The main goroutine waits on a channel nobody sends to; two goroutines wait on
        // each other's channels; one waits for a mutex the main goroutine holds.
        "chan" => main_and_exit(|| {
            let (a, b) = (Ch::of::<i64>(0), Ch::of::<i64>(0));
            go_named("ab", move || {
                let _ = a.recv::<i64>();
                let _ = b.send::<i64>(1);
            });
            go_named("ba", move || {
                let _ = b.recv::<i64>();
                let _ = a.send::<i64>(1);
            });
            let mu = Arc::new(Mutex::new());
            assert_eq!(mu.lock(), 0);
            let m2 = mu.clone();
            go_named("locker", move || assert_eq!(m2.lock(), 0));
            let never = Ch::of::<i64>(0);
            let _ = never.recv::<i64>();
            unreachable!("nobody sends");
        }),
        "select_nocases" => main_and_exit(|| {
            let _ = select_recv(&[], -1);
            unreachable!("select with no cases never returns");
        }),
        // A pending timer: the main goroutine sleeps 500 ms, then returns.
        "timer" => main_and_exit(|| assert_eq!(gmp_sleep(ms(500)), 0)),
        // The main goroutine waits on a channel that a sleeping goroutine sends to.
        "timer_goroutine" => main_and_exit(|| {
            let ch = Ch::of::<i64>(0);
            go(move || {
                assert_eq!(gmp_sleep(ms(500)), 0);
                assert_eq!(ch.send::<i64>(7), 0);
            });
            assert_eq!(ch.recv::<i64>(), (0, 7));
        }),
        // The main goroutine waits in the poller for a socket that another *process*
        // writes to after 600 ms: nothing inside this process can wake it, only the fd.
        "fd" => {
            let (mine, theirs) = socketpair();
            // SAFETY: the child only calls async-signal-safe functions, then _exits.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork");
            if pid == 0 {
                // SAFETY: async-signal-safe calls in the forked child.
                unsafe {
                    libc::close(1);
                    libc::close(2);
                    libc::usleep(600_000);
                    libc::write(theirs, b"!".as_ptr().cast(), 1);
                    libc::_exit(0);
                }
            }
            // SAFETY: our copy of the other end.
            unsafe { libc::close(theirs) };
            main_and_exit(move || {
                assert_eq!(gmp::ffi::netpoll::gmp_fd_adopt(mine), 0);
                let mut b = [0u8; 1];
                // SAFETY: a live buffer.
                let n = unsafe { gmp::ffi::netpoll::gmp_read(mine, b.as_mut_ptr().cast(), 1, -1) };
                assert_eq!(n, 1);
            })
        }
        // The main goroutine is in a blocking call (a syscall section) for 600 ms.
        "syscall" => main_and_exit(|| {
            assert_eq!(
                blocking(|| std::thread::sleep(Duration::from_millis(600))),
                0
            );
        }),
        // A goroutine is in a 600 ms blocking call, then sends to the main goroutine.
        "syscall_goroutine" => main_and_exit(|| {
            let ch = Ch::of::<i64>(0);
            go(move || {
                assert_eq!(
                    blocking(|| std::thread::sleep(Duration::from_millis(600))),
                    0
                );
                assert_eq!(ch.send::<i64>(7), 0);
            });
            assert_eq!(ch.recv::<i64>(), (0, 7));
        }),
        // A foreign thread that has used gmp (and so may act again) sends after 700 ms.
        "foreign" => {
            let ch = Ch::of::<i64>(0);
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                assert_eq!(gmp_sleep(ms(1)), 0);
                tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(700));
                assert_eq!(ch.send::<i64>(7), 0);
            });
            rx.recv().unwrap();
            main_and_exit(move || assert_eq!(ch.recv::<i64>(), (0, 7)))
        }
        other => panic!("unknown case {other}"),
    }
}

/// Runs `f` in a forked copy of this process (one thread: the caller's) and exits with
/// its status. The runtime must not have started before (it has not, in a child).
fn in_single_threaded_fork(f: impl FnOnce()) -> ! {
    // SAFETY: the fork child runs on the only thread it has; glibc's malloc and stdio are
    // fork-safe, and nothing else held a lock across the fork (the harness's main thread
    // waits on a channel).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: plain prctl; dies with the parent (which the test kills at its deadline).
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        // SAFETY: ends the fork child without running the harness again.
        unsafe { libc::_exit(if r.is_ok() { 0 } else { 101 }) };
    }
    let mut st = 0;
    // SAFETY: waits for our own child.
    while unsafe { libc::waitpid(pid, &mut st, 0) } < 0 {}
    if libc::WIFEXITED(st) {
        std::process::exit(libc::WEXITSTATUS(st));
    }
    std::process::exit(128 + libc::WTERMSIG(st));
}

fn run(test: &str, case: &str, debug: Option<&str>, timeout: Duration) -> ChildOut {
    if is_child(test) {
        in_single_threaded_fork(|| child(&std::env::var("DIAG_CASE").unwrap()));
    }
    let mut env = vec![("DIAG_CASE", case)];
    if let Some(d) = debug {
        env.push(("GMP_DEBUG", d));
    }
    rerun(test, &env, timeout)
}

/// Asserts the child returned 0 from gmp_main and printed no deadlock.
fn assert_no_deadlock(out: &ChildOut, case: &str) {
    out.assert_exited_ok(case);
    assert_eq!(out.mark("rc"), "0", "{case}\n{}", out.stderr);
    assert!(
        !out.stderr.contains(FATAL),
        "{case}: false deadlock\n{}",
        out.stderr
    );
}

#[test]
fn deadlock_main_waits_on_channel_nobody_sends_to() {
    let out = run(
        "deadlock_main_waits_on_channel_nobody_sends_to",
        "chan",
        None,
        Duration::from_secs(10),
    );
    out.assert_exited_ok("chan");
    assert_eq!(out.mark("rc"), GMP_EDEADLK.to_string(), "{}", out.stderr);
    let ms: i64 = out.mark("ms").parse().unwrap();
    assert!(
        (150..3000).contains(&ms),
        "declared after {ms} ms (quiet period 200 ms)"
    );
    let err = &out.stderr;
    let at = err
        .find(FATAL)
        .unwrap_or_else(|| panic!("no message:\n{err}"));
    let dump = &err[at + FATAL.len()..];
    assert!(dump.starts_with("\n\ngmp: "), "the dump follows:\n{err}");
    assert!(
        dump.contains("\ngoroutine 1 [chan receive] \"main\":\n"),
        "{err}"
    );
    for l in [
        "[chan receive] \"ab\":",
        "[chan receive] \"ba\":",
        "[sync.Mutex.Lock] \"locker\":",
    ] {
        assert!(dump.contains(l), "{l} in\n{err}");
    }
    assert_eq!(err.matches(FATAL).count(), 1, "{err}");
    // gmp_main returned: the program goes on, and the runtime still works.
    assert_eq!(out.mark("rc2"), "0", "{err}");
}

#[test]
fn deadlock_select_with_no_cases() {
    let out = run(
        "deadlock_select_with_no_cases",
        "select_nocases",
        None,
        Duration::from_secs(10),
    );
    out.assert_exited_ok("select_nocases");
    assert_eq!(out.mark("rc"), GMP_EDEADLK.to_string(), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("\ngoroutine 1 [select (no cases)] \"main\""),
        "{}",
        out.stderr
    );
}

#[test]
fn no_deadlock_with_pending_timer() {
    for case in ["timer", "timer_goroutine"] {
        let out = run(
            "no_deadlock_with_pending_timer",
            case,
            None,
            Duration::from_secs(10),
        );
        assert_no_deadlock(&out, case);
        let ms: i64 = out.mark("ms").parse().unwrap();
        assert!(ms >= 490, "{case}: returned after {ms} ms");
    }
}

#[test]
fn no_deadlock_with_fd_waiter() {
    let out = run(
        "no_deadlock_with_fd_waiter",
        "fd",
        None,
        Duration::from_secs(10),
    );
    assert_no_deadlock(&out, "fd");
    let ms: i64 = out.mark("ms").parse().unwrap();
    assert!(ms >= 500, "the read returned after {ms} ms");
}

#[test]
fn no_deadlock_with_foreign_thread() {
    let out = run(
        "no_deadlock_with_foreign_thread",
        "foreign",
        None,
        Duration::from_secs(10),
    );
    assert_no_deadlock(&out, "foreign");
}

#[test]
fn no_deadlock_with_goroutine_in_syscall() {
    for case in ["syscall", "syscall_goroutine"] {
        let out = run(
            "no_deadlock_with_goroutine_in_syscall",
            case,
            None,
            Duration::from_secs(10),
        );
        assert_no_deadlock(&out, case);
    }
}

#[test]
fn checkdead_0_turns_detection_off() {
    let out = run(
        "checkdead_0_turns_detection_off",
        "chan",
        Some("checkdead=0"),
        Duration::from_millis(1000),
    );
    assert!(out.timed_out, "the deadlocked child hangs: {out:?}");
    assert!(!out.stderr.contains(FATAL), "{}", out.stderr);
    assert!(out.marks("rc").is_empty(), "{}", out.stderr);
}

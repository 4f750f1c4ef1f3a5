//! Running this test binary again as a child process, for what would poison the test
//! process (a lowered rlimit, a signal storm, a fork, an abort) or needs a runtime of
//! its own (GMP_DEBUG and GMP_TRACE are read once, at start).
//!
//! The parent re-executes `current_exe()` with `--exact TEST --nocapture` and
//! `GMP_TEST_ROLE=role`; the same test function, seeing the role ([`role`],
//! [`is_child`]), runs the child body instead. The parent checks the child's exit status
//! and output ([`ChildOut`]) and kills it at the deadline. A child may print
//! `DIAG key value` lines ([`mark`]) for the parent to read ([`ChildOut::marks`]).

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that names a child's role.
pub const ROLE: &str = "GMP_TEST_ROLE";

/// This process's role, if it is a child started by [`run_child`].
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok().filter(|r| !r.is_empty())
}

/// True in the child process started with role `role` (call it first thing in the test).
pub fn is_child(role: &str) -> bool {
    self::role().as_deref() == Some(role)
}

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

/// A child run of test `test` in role `role`; [`Child::run`] starts it.
pub struct Child {
    test: String,
    role: String,
    cmd: Command,
    limit: Duration,
    stdin: Option<(Duration, Vec<u8>)>,
}

/// A child of this test binary that runs only `test` (exactly), with `GMP_TEST_ROLE=role`,
/// and GMP_DEBUG, GMP_TRACE and GMP_MAXPROCS removed from its environment unless given.
pub fn child(test: &str, role: &str) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        test,
        "--exact",
        "--nocapture",
        "--include-ignored",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .env_remove("RUST_TEST_THREADS")
    .env_remove("GMP_DEBUG")
    .env_remove("GMP_TRACE")
    .env_remove("GMP_MAXPROCS")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    Child {
        test: test.to_owned(),
        role: role.to_owned(),
        cmd,
        limit: Duration::from_secs(60),
        stdin: None,
    }
}

impl Child {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.cmd.env(k, v);
        self
    }
    pub fn envs(mut self, env: &[(&str, &str)]) -> Self {
        for (k, v) in env {
            self.cmd.env(k, v);
        }
        self
    }
    /// The deadline: the child is killed after `limit` (default 60 s).
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }
    /// Writes `data` to the child's stdin after `delay`, then closes it (default: no
    /// stdin at all).
    pub fn stdin_after(mut self, delay: Duration, data: &[u8]) -> Self {
        self.stdin = Some((delay, data.to_vec()));
        self
    }

    /// Runs the child to its end or its deadline (see [`ChildOut::timed_out`]).
    pub fn run(mut self) -> ChildOut {
        self.cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let t0 = Instant::now();
        let mut child = self.cmd.spawn().expect("spawn child test process");
        let feeder = self.stdin.take().map(|(delay, data)| {
            let mut w = child.stdin.take().expect("stdin");
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let _ = w.write_all(&data);
            })
        });
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut s = Vec::new();
                let _ = r.read_to_end(&mut s);
                String::from_utf8_lossy(&s).into_owned()
            })
        };
        let ro = drain(Box::new(child.stdout.take().expect("stdout")));
        let re = drain(Box::new(child.stderr.take().expect("stderr")));
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break st;
            }
            if t0.elapsed() > self.limit {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = t0.elapsed();
        if let Some(f) = feeder {
            let _ = f.join();
        }
        ChildOut {
            code: status.code(),
            signal: status.signal(),
            timed_out,
            stdout: ro.join().unwrap_or_default(),
            stderr: re.join().unwrap_or_default(),
            elapsed,
        }
    }

    /// Runs the child; panics (with its output) if it hung past the deadline.
    pub fn run_no_hang(self) -> ChildOut {
        let (test, role, limit) = (self.test.clone(), self.role.clone(), self.limit);
        let out = self.run();
        if out.timed_out {
            panic!(
                "child {test}/{role} hung: killed after {limit:?}\n\
                 --- child stdout ---\n{}\n--- child stderr ---\n{}",
                out.stdout, out.stderr
            );
        }
        out
    }
}

/// Runs test `test` again in a child in role `role` with the extra environment `env`;
/// kills it after `limit` and panics if it hung.
pub fn run_child(test: &str, role: &str, env: &[(&str, &str)], limit: Duration) -> ChildOut {
    child(test, role).envs(env).limit(limit).run_no_hang()
}

impl ChildOut {
    /// Panics (with the child's output) unless it exited with status 0.
    pub fn assert_ok(&self, what: &str) {
        if self.code != Some(0) {
            panic!(
                "{what}: child failed (exit code {:?}, signal {:?}, timed out: {}, after {:?})\n\
                 --- child stdout ---\n{}\n--- child stderr ---\n{}",
                self.code, self.signal, self.timed_out, self.elapsed, self.stdout, self.stderr
            );
        }
    }

    /// [`ChildOut::assert_ok`], and the child ended through [`child_exit`]`(0)` (so a
    /// child that ran no test at all does not pass).
    pub fn assert_exited_ok(&self, what: &str) {
        self.assert_ok(what);
        assert!(
            self.marks("exit") == ["0"],
            "{what}: the child did not end through child_exit(0)\n--- stderr\n{}",
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

/// Runs test `test` again in a child whose role is the test's own name ([`is_child`]`(test)`),
/// with the extra environment `env`; kills it after `limit` and returns (a hang is
/// [`ChildOut::timed_out`], for the tests that expect one).
pub fn rerun(test: &str, env: &[(&str, &str)], limit: Duration) -> ChildOut {
    child(test, test).envs(env).limit(limit).run()
}

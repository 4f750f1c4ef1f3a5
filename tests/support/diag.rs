//! For the diagnostics tests: the goroutine dump as a string, busy-waiting without a
//! switch point, and runtime init with a P count.

use gmp::ffi::runtime::*;
use gmp::ffi::types::*;

/// A config with `maxprocs` P's and defaults for the rest.
pub fn config(maxprocs: i32) -> gmp_config {
    gmp_config {
        size: std::mem::size_of::<gmp_config>(),
        maxprocs,
        ..Default::default()
    }
}

/// gmp_init with `maxprocs` P's (before anything else starts the runtime).
pub fn init(maxprocs: i32) {
    // SAFETY: a valid config with its size.
    let rc = unsafe { gmp_init(&config(maxprocs)) };
    assert_eq!(rc, 0, "gmp_init: {rc}");
}

/// Busy-waits `ns` without any switch point (the goroutine keeps its P).
pub fn spin(ns: i64) {
    let end = gmp_now() + ns;
    while gmp_now() < end {
        std::hint::spin_loop();
    }
}

/// The goroutine dump as a string (through a pipe drained by a thread, so a dump larger
/// than the pipe buffer cannot block).
pub fn dump() -> String {
    let (rd, wr) = super::net::pipe();
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
        super::net::raw_close(rd);
        out
    });
    let rc = gmp_dump_goroutines(wr);
    super::net::raw_close(wr);
    assert_eq!(rc, 0, "gmp_dump_goroutines");
    String::from_utf8(reader.join().unwrap()).expect("dump is UTF-8")
}

/// The dump's header line of goroutine `id` (`goroutine 7 [chan receive] "name":`).
pub fn dump_line(dump: &str, id: u64) -> Option<String> {
    let p = format!("goroutine {id} [");
    dump.lines().find(|l| l.starts_with(&p)).map(str::to_owned)
}

/// Runs `f` as gmp_main's goroutine in a child process (test `test` run again, see
/// [`super::rerun`]) whose runtime has `procs` P's from the start and the extra
/// environment `env`; checks that the child passed (ended through `child_exit(0)` within
/// `limit`) and returns what it did. In the child it does not return.
pub fn main_in_child(
    test: &str,
    procs: i32,
    env: &[(&str, &str)],
    limit: std::time::Duration,
    f: impl FnOnce() + Send + 'static,
) -> super::ChildOut {
    if super::is_child(test) {
        init(procs);
        let rc = gmp::rt::main(f);
        assert_eq!(rc, 0, "gmp_main returned {rc}");
        super::child_exit(0);
    }
    let out = super::rerun(test, env, limit);
    out.assert_exited_ok(test);
    out
}

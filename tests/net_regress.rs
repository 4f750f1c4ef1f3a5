//! Regression tests for netpoller bugs these tests found (fixed in 445889a, "Netpoll:
//! read errno through an opaque call, poll for foreign waiters, survive fd reuse after
//! close(2)"). The errno one shows only in the release build (it needs LLVM's
//! inlining): `cargo test --release --test net_regress`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use std::time::Instant;

use support::*;

/// The fd calls read errno through `std::io::Error::last_os_error()`, whose
/// `__errno_location()` is `ffi_const`: in the release build LLVM computed the errno
/// address once in `netpoll::io` (inlined into gmp_read, gmp_accept, ...) and reused it
/// after `wait()` parked the goroutine, which may resume on another M. A retried syscall
/// that failed there (EAGAIN after a wake-up whose data someone else took) read the
/// errno of the thread the goroutine *used to* run on, and returned whatever that
/// thread last stored: -EBADF here; -EINPROGRESS from a neighbour's connect among 64
/// accepters; 0 (EOF) instead of -ECONNRESET for a reader that migrated.
///
/// Two readers park in gmp_read on one socket, each after starting a hog that stays
/// on the reader's M setting errno = EBADF (close(-1)) in a loop; with 3 P's both are
/// woken by one byte and run on the third M: one gets the byte, the other finds nothing
/// and must go back to waiting (and time out), never return an error.
#[test]
fn errno_is_read_on_the_thread_that_failed() {
    let _s = serial();
    let prev = gmp_maxprocs(3);
    let _wd = Watchdog::new("errno", Duration::from_secs(30));
    let rounds = scale(10, 100);
    let mut bad = Vec::new();
    for _ in 0..rounds {
        let (a, b) = socketpair();
        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        let mut codes = Vec::new();
        for _ in 0..2 {
            let code = Arc::new(AtomicI64::new(i64::MIN));
            codes.push(code.clone());
            let stop = stop.clone();
            readers.push(spawn(move || {
                // The hog goes to this P's run queue and runs on this M once we park.
                let s3 = stop.clone();
                let hog = spawn(move || {
                    let t = now();
                    while !s3.load(Ordering::Relaxed) && now() - t < 300 * MS {
                        // SAFETY: close(-1) only sets errno = EBADF.
                        unsafe { libc::close(-1) };
                    }
                });
                let mut x = [0u8; 1];
                let r = read(a, &mut x, 100 * MS);
                code.store(r as i64, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
                hog.join();
            }));
        }
        std::thread::sleep(Duration::from_millis(10));
        // SAFETY: one byte to our own socket.
        assert_eq!(unsafe { libc::write(b, [7u8].as_ptr().cast(), 1) }, 1);
        join_all(readers);
        let mut got: Vec<i64> = codes.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        got.sort_unstable();
        if got != [GMP_ETIMEDOUT as i64, 1] {
            bad.push(got);
        }
        assert_eq!(gmp_close_fd(a), 0);
        raw_close(b);
    }
    gmp_maxprocs(prev);
    assert!(
        bad.is_empty(),
        "two readers, one byte: expected [ETIMEDOUT, 1] each round, got {bad:?}"
    );
}

/// A foreign thread that blocked in a netpolled fd call while every P was idle waited
/// up to a second for its event: nobody was blocked in the poller (idle M's sleep on
/// their futex, sysmon in its 1 s deep sleep), and parking on the fd woke neither.
/// Goroutines do not see this: the M that parks one goes on to block in the poller.
/// Expected: the read returns about 10 ms after the write (it took ~950 ms).
#[test]
fn foreign_thread_read_on_idle_runtime_is_prompt() {
    let _s = serial();
    let _wd = Watchdog::new("foreign_idle", Duration::from_secs(30));
    let mut lat = Vec::new();
    for _ in 0..scale(5, 20) {
        // Let the runtime go idle (M's parked, sysmon in its deep sleep).
        std::thread::sleep(Duration::from_millis(50));
        let (a, b) = socketpair();
        let w = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            // SAFETY: one byte into our socket.
            unsafe { libc::write(b, [1u8].as_ptr().cast(), 1) };
        });
        let t = Instant::now();
        assert_eq!(read(a, &mut [0u8; 4], 5_000 * MS), 1);
        lat.push(t.elapsed().as_millis());
        w.join().unwrap();
        assert_eq!(gmp_close_fd(a), 0);
        raw_close(b);
    }
    assert!(
        lat.iter().all(|&ms| ms < 300),
        "foreign-thread gmp_read latencies (ms) for data written after 10 ms: {lat:?}"
    );
}

/// An fd number that the poller knew (a socket), closed with close(2) and reused by a
/// plain *blocking* pipe: `classify` found the stale PollDesc by number, so the pipe
/// was treated as netpolled without being made non-blocking: read(2) blocked the M
/// outright (no hand-off, the time-out ignored) until data came. Expected: like any
/// blocking pipe, the hand-off path with poll(2) for the 50 ms time-out.
#[test]
fn fd_reuse_by_blocking_pipe() {
    let _s = serial();
    let (a, b) = socketpair();
    let (r, _) = timed(move || read(a, &mut [0u8; 4], 20 * MS) as i64);
    assert_eq!(
        r, GMP_ETIMEDOUT as i64,
        "the socket is known to the poller now"
    );
    raw_close(a);
    let (pr, pw) = pipe();
    if pr != a {
        eprintln!("fd_reuse_by_blocking_pipe: number {a} not reused ({pr}); skipped");
        for fd in [pr, pw, b] {
            raw_close(fd);
        }
        return;
    }
    assert!(!is_nonblocking(pr));
    // A rescuer writes after 2 s so that a bug shows as a failed assertion, not a hang.
    let rescue = rescuer(2000, move || {
        // SAFETY: one byte into our pipe.
        unsafe { libc::write(pw, [1u8].as_ptr().cast(), 1) };
    });
    let (res, el) = timed(move || read(pr, &mut [0u8; 4], 50 * MS) as i64);
    drop(rescue);
    assert_eq!(
        res,
        GMP_ETIMEDOUT as i64,
        "read on a reused number (now a blocking pipe) with a 50 ms time-out: {res} after {} ms",
        el / MS
    );
    assert!(!is_nonblocking(pr), "the pipe got O_NONBLOCK");
    for fd in [pr, pw, b] {
        raw_close(fd);
    }
}

/// The same with a plain *blocking* socket (a socketpair) taking the number of a
/// closed gmp socket, and a plain blocking listener taking the number of a closed gmp
/// listener: a read and an accept with a 50 ms time-out time out (they would block the
/// M on a blocking socket) and other goroutines keep running on the one P.
#[test]
fn fd_reuse_by_blocking_socket_and_listener() {
    let _s = serial();
    let prev = gmp_maxprocs(1);
    let ticks = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (t2, s2) = (ticks.clone(), stop.clone());
    let ticker = spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            t2.fetch_add(1, Ordering::Relaxed);
            assert_eq!(gmp_sleep(MS), 0);
        }
    });
    // A socket.
    let (a, b) = socketpair();
    let (r, _) = timed(move || read(a, &mut [0u8; 4], 10 * MS) as i64);
    assert_eq!(r, GMP_ETIMEDOUT as i64);
    raw_close(a);
    let (c, d) = socketpair();
    // A rescuer writes after 2 s so that a regression fails instead of hanging.
    let rescue = rescuer(2000, move || {
        // SAFETY: one byte into our socket.
        unsafe { libc::write(d, [1u8].as_ptr().cast(), 1) };
    });
    if c == a {
        let before = ticks.load(Ordering::Relaxed);
        let (r, el) = timed(move || read(c, &mut [0u8; 4], 50 * MS) as i64);
        assert_eq!(
            r,
            GMP_ETIMEDOUT as i64,
            "read on a reused number: {r} after {} ms",
            el / MS
        );
        assert!(ticks.load(Ordering::Relaxed) > before, "the one P stalled");
    } else {
        eprintln!("fd_reuse_by_blocking_socket: number {a} not reused ({c}); skipped");
    }
    drop(rescue);
    for fd in [b, c, d] {
        raw_close(fd);
    }
    // A listener.
    let (ln, _) = tcp_listener(4);
    let (r, _) = timed(move || accept(ln, 10 * MS) as i64);
    assert_eq!(r, GMP_ETIMEDOUT as i64);
    raw_close(ln);
    // SAFETY: a plain blocking socket, bound to loopback and listening.
    let ln2 = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    let sa = sockaddr_in(0);
    // SAFETY: a valid address.
    unsafe {
        assert_eq!(
            libc::bind(
                ln2,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
            ),
            0
        );
        assert_eq!(libc::listen(ln2, 4), 0);
    }
    let port = local_port(ln2);
    let rescue = rescuer(2000, move || {
        let _ = std::net::TcpStream::connect(("127.0.0.1", port));
    });
    if ln2 == ln {
        let (r, el) = timed(move || accept(ln2, 50 * MS) as i64);
        assert_eq!(
            r,
            GMP_ETIMEDOUT as i64,
            "accept on a reused number: {r} after {} ms",
            el / MS
        );
    } else {
        eprintln!("fd_reuse_by_blocking_listener: number {ln} not reused ({ln2}); skipped");
    }
    drop(rescue);
    raw_close(ln2);
    stop.store(true, Ordering::Relaxed);
    ticker.join();
    gmp_maxprocs(prev);
}

//! The fd calls one by one: time-outs (accept, connect, read, write), gmp_close_fd
//! cancelling waiters, a peer reset, pipes (blocking, non-blocking, adopted) and regular
//! files through the same calls, a blocking fd's mode left alone (a child's stdin
//! included), gmp_wait_fd's masks, and fd numbers reused after a plain close(2).
//!
//! Time checks are "never early" plus loose upper bounds (a hang detector, not a
//! benchmark): the machine is small and shared.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use support::*;

const T: i64 = 10_000 * MS;

fn assert_timed_out(what: &str, (r, el): (i64, i64), timeout: i64) {
    assert_eq!(r, GMP_ETIMEDOUT as i64, "{what}: expected GMP_ETIMEDOUT");
    assert!(
        el >= timeout,
        "{what}: timed out early ({el} ns < {timeout} ns)"
    );
    // No upper bound (a time-out that never fires is a hang, which the runner's
    // per-test time-out reports); how late it fires is a benchmark's business.
    eprintln!("{what}: timed out after {} ms", el / MS);
}

// ---------------------------------------------------------------------------------------
// Time-outs

#[test]
fn accept_timeout() {
    let _s = serial();
    let (ln, _) = tcp_listener(4);
    assert_timed_out("accept", timed(move || accept(ln, 50 * MS) as i64), 50 * MS);
    // Timeout 0 never blocks: a try, GMP_EAGAIN.
    assert_eq!(accept(ln, 0), GMP_EAGAIN);
    assert_eq!(gmp_close_fd(ln), 0);
}

#[test]
fn read_timeout_then_data() {
    let _s = serial();
    let (c, s) = tcp_pair(T);
    assert_timed_out(
        "read",
        timed(move || read(c, &mut [0u8; 16], 50 * MS) as i64),
        50 * MS,
    );
    // The fd still works after a time-out.
    assert_eq!(write(s, b"abc", T), 3);
    let (r, _) = timed(move || read(c, &mut [0u8; 16], T) as i64);
    assert_eq!(r, 3);
    // From a foreign thread too.
    let t = now();
    assert_eq!(read(c, &mut [0u8; 16], 30 * MS), GMP_ETIMEDOUT as isize);
    assert!(now() - t >= 30 * MS);
    assert_eq!(gmp_close_fd(c), 0);
    assert_eq!(gmp_close_fd(s), 0);
}

/// The peer never reads: gmp_write fills the socket buffers and then times out.
#[test]
fn write_timeout_when_peer_never_reads() {
    let _s = serial();
    let (c, s) = tcp_pair(T);
    set_sndbuf(c, 4096);
    set_rcvbuf(s, 4096);
    // The kernel takes what fits in the buffers, then the write times out: it reports
    // that partial count (the stream stays usable), after the full timeout.
    let (n, el) = timed(move || {
        let big = vec![0x5au8; 8 << 20];
        write(c, &big, 100 * MS) as i64
    });
    assert!(
        n > 0 && n < 8 << 20,
        "write: partial count expected, got {n}"
    );
    assert!(el >= 100 * MS, "write: timed out early ({el} ns)");
    // Nothing more fits now: gmp_send times out with nothing written, GMP_ETIMEDOUT.
    let r = timed(move || {
        let big = vec![0x5au8; 1 << 20];
        // SAFETY: a readable buffer.
        unsafe { gmp_send(c, big.as_ptr().cast(), big.len(), 0, 50 * MS) as i64 }
    });
    assert_timed_out("send", r, 50 * MS);
    assert_eq!(gmp_close_fd(c), 0);
    assert_eq!(gmp_close_fd(s), 0);
}

/// A listener with backlog 0 that is never accepted from: once its queue is full, new
/// SYNs are dropped and a connect stays in progress until its time-out. (Linux may
/// still complete a handshake into a full queue in some configurations: then 0 is
/// accepted too, and the test says so on stderr.)
#[test]
fn connect_timeout_on_full_backlog() {
    let _s = serial();
    let (ln, port) = tcp_listener(0);
    // Fill the accept queue with plain non-blocking connects (bounded).
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let fd = gmp_socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let sa = sockaddr_in(port);
        // SAFETY: a valid address.
        unsafe {
            libc::connect(
                fd,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        fillers.push(fd);
    }
    std::thread::sleep(Duration::from_millis(20));
    let (r, el) = timed(move || tcp_connect(port, 200 * MS) as i64);
    if r >= 0 {
        eprintln!("connect_timeout_on_full_backlog: Linux completed the connect (fd {r})");
        assert_eq!(gmp_close_fd(r as i32), 0);
    } else {
        assert_eq!(r, GMP_ETIMEDOUT as i64, "connect into a full backlog");
        assert!(el >= 200 * MS, "connect timed out early: {el} ns");
    }
    for fd in fillers {
        assert_eq!(gmp_close_fd(fd), 0);
    }
    assert_eq!(gmp_close_fd(ln), 0);
}

#[test]
fn connect_refused() {
    let _s = serial();
    let (ln, port) = tcp_listener(1);
    assert_eq!(gmp_close_fd(ln), 0);
    let (r, _) = timed(move || tcp_connect(port, T) as i64);
    assert_eq!(r, -libc::ECONNREFUSED as i64);
}

// ---------------------------------------------------------------------------------------
// gmp_close_fd and peer resets

/// A goroutine parked in gmp_read is woken with GMP_ECANCELED by gmp_close_fd from
/// another goroutine; the close returns after the reader has left, with the fd closed.
#[test]
fn close_fd_wakes_blocked_reader() {
    let _s = serial();
    let (c, s) = tcp_pair(T);
    let parked = Arc::new(AtomicBool::new(false));
    let p2 = parked.clone();
    let reader = spawn(move || {
        p2.store(true, Ordering::SeqCst);
        let r = read(c, &mut [0u8; 8], GMP_FOREVER);
        assert_eq!(r, GMP_ECANCELED as isize, "reader woken by gmp_close_fd");
    });
    in_go(move || {
        while !parked.load(Ordering::SeqCst) {
            gmp_gosched();
        }
        assert_eq!(gmp_sleep(30 * MS), 0); // let it park in the poller
        assert_eq!(gmp_close_fd(c), 0);
    });
    reader.join();
    // SAFETY: fcntl on a closed number (serial test: nobody reuses it meanwhile).
    assert_eq!(unsafe { libc::fcntl(c, libc::F_GETFD) }, -1, "fd closed");
    assert_eq!(gmp_close_fd(s), 0);
}

/// Every kind of waiter is cancelled: accept, write (full buffer), wait_fd, and a
/// foreign thread in gmp_read.
#[test]
fn close_fd_wakes_every_kind_of_waiter() {
    let _s = serial();
    let (ln, _) = tcp_listener(4);
    let (c, s) = tcp_pair(T);
    let (c2, s2) = tcp_pair(T);
    let (c3, s3) = tcp_pair(T);
    set_sndbuf(c, 4096);
    set_rcvbuf(s, 4096);
    let mut js = vec![
        spawn(move || assert_eq!(accept(ln, GMP_FOREVER), GMP_ECANCELED)),
        spawn(move || {
            let big = vec![1u8; 8 << 20];
            assert_eq!(write(c, &big, GMP_FOREVER), GMP_ECANCELED as isize);
        }),
        spawn(move || assert_eq!(gmp_wait_fd(c2, GMP_POLLIN, GMP_FOREVER), GMP_ECANCELED)),
        thread(move || {
            assert_eq!(read(c3, &mut [0u8; 4], GMP_FOREVER), GMP_ECANCELED as isize);
        }),
    ];
    std::thread::sleep(Duration::from_millis(100));
    for fd in [ln, c, c2, c3] {
        assert_eq!(gmp_close_fd(fd), 0);
    }
    for j in js.drain(..) {
        j.join();
    }
    for fd in [s, s2, s3] {
        assert_eq!(gmp_close_fd(fd), 0);
    }
    // The numbers are closed: a call now reports EBADF (not a hang, not a crash).
    assert_eq!(read(ln, &mut [0u8; 1], 0), -libc::EBADF as isize);
}

/// The peer sets SO_LINGER {1, 0} and closes: a reset. A parked reader and a later
/// reader both see -ECONNRESET; a write after it fails with -EPIPE or -ECONNRESET and
/// no SIGPIPE.
#[test]
fn peer_reset_is_econnreset() {
    let _s = serial();
    // Reader parked before the reset.
    let (c, s) = tcp_pair(T);
    let reader = spawn(move || {
        let r = read(c, &mut [0u8; 8], T);
        assert_eq!(r, -libc::ECONNRESET as isize, "parked reader after RST");
    });
    std::thread::sleep(Duration::from_millis(30));
    set_linger_zero(s);
    assert_eq!(gmp_close_fd(s), 0);
    reader.join();
    assert_eq!(gmp_close_fd(c), 0);

    // Reset before the read, and then a write.
    let (c, s) = tcp_pair(T);
    set_linger_zero(s);
    assert_eq!(gmp_close_fd(s), 0);
    std::thread::sleep(Duration::from_millis(20));
    in_go(move || {
        assert_eq!(read(c, &mut [0u8; 8], T), -libc::ECONNRESET as isize);
        let w = write(c, b"x", T);
        assert!(
            w == -libc::EPIPE as isize || w == -libc::ECONNRESET as isize,
            "write after reset: {w}"
        );
        assert_eq!(gmp_close_fd(c), 0);
    });
}

// ---------------------------------------------------------------------------------------
// Pipes and regular files

/// A regular file through gmp_write / gmp_read (the hand-off path; time-outs allowed).
#[test]
fn regular_file_read_write() {
    let _s = serial();
    let path = std::env::temp_dir().join(format!("gmp-net-file-{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("temp file");
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    in_go(move || {
        let data = pattern(3, 4, 100_000);
        assert_eq!(write(fd, &data, T), data.len() as isize);
        assert_eq!(write(fd, b"tail", 50 * MS), 4);
        // SAFETY: lseek on our file.
        assert_eq!(unsafe { libc::lseek(fd, 0, libc::SEEK_SET) }, 0);
        let mut back = vec![0u8; data.len() + 4];
        assert_eq!(read_full(fd, &mut back, 50 * MS), 0);
        assert!(back[..data.len()] == data[..] && &back[data.len()..] == b"tail");
        // At EOF: 0, not a time-out and not a hang.
        assert_eq!(read(fd, &mut [0u8; 8], 50 * MS), 0);
        assert_eq!(read(fd, &mut [0u8; 8], GMP_FOREVER), 0);
        // A ready mask for a regular file: readable and writable.
        let m = gmp_wait_fd(fd, GMP_POLLIN | GMP_POLLOUT, 0);
        assert!(
            m >= 0 && m & GMP_POLLIN != 0 && m & GMP_POLLOUT != 0,
            "mask {m}"
        );
    });
    assert!(!is_nonblocking(fd), "a regular file keeps its mode");
    drop(f);
    let _ = std::fs::remove_file(&path);
}

/// gmp_read on a *blocking* pipe: the fd stays blocking (O_NONBLOCK would change the
/// open file description others share) and the call takes the syscall hand-off, so with
/// one P another goroutine keeps running while the reader waits.
#[test]
fn blocking_pipe_keeps_mode_and_does_not_stall() {
    let _s = serial();
    let prev = gmp_maxprocs(1);
    let (r, w) = pipe();
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (c2, s2) = (counter.clone(), stop.clone());
    let ticker = spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            c2.fetch_add(1, Ordering::Relaxed);
            assert_eq!(gmp_sleep(MS), 0);
        }
    });
    let got = Arc::new(AtomicI64::new(0));
    let g2 = got.clone();
    let reader = spawn(move || {
        let mut buf = [0u8; 16];
        let n = read(r, &mut buf, T);
        assert_eq!(n, 5, "pipe read");
        assert_eq!(&buf[..5], b"hello");
        g2.store(n as i64, Ordering::Relaxed);
    });
    std::thread::sleep(Duration::from_millis(150));
    let during = counter.load(Ordering::Relaxed);
    assert!(
        during >= 5,
        "the ticker ran only {during} times while the reader blocked"
    );
    assert_eq!(got.load(Ordering::Relaxed), 0, "nothing to read yet");
    assert!(
        !is_nonblocking(r),
        "gmp_read set O_NONBLOCK on a blocking pipe"
    );
    // SAFETY: writes 5 bytes to our pipe.
    assert_eq!(unsafe { libc::write(w, b"hello".as_ptr().cast(), 5) }, 5);
    reader.join();
    stop.store(true, Ordering::Relaxed);
    ticker.join();
    assert!(!is_nonblocking(r) && !is_nonblocking(w));

    // A time-out on a blocking pipe (poll(2) before the call), mode still untouched.
    assert_timed_out(
        "blocking pipe read",
        timed(move || read(r, &mut [0u8; 4], 40 * MS) as i64),
        40 * MS,
    );
    // gmp_write on the blocking write end, read back.
    in_go(move || {
        assert_eq!(write(w, b"xyz", T), 3);
        let mut b = [0u8; 3];
        assert_eq!(read_full(r, &mut b, T), 0);
        assert_eq!(&b, b"xyz");
        // gmp_wait_fd on a blocking pipe takes the hand-off path too.
        assert_eq!(gmp_wait_fd(r, GMP_POLLIN, 20 * MS), GMP_ETIMEDOUT);
        assert_eq!(gmp_wait_fd(w, GMP_POLLOUT, T), GMP_POLLOUT);
    });
    assert!(!is_nonblocking(r) && !is_nonblocking(w));
    raw_close(w);
    in_go(move || assert_eq!(read(r, &mut [0u8; 4], T), 0, "EOF"));
    raw_close(r);
    gmp_maxprocs(prev);
}

/// A pipe the caller made non-blocking, and one adopted with gmp_fd_adopt: both are
/// netpolled (the reader parks; data from a goroutine and from a thread wakes it).
#[test]
fn nonblocking_and_adopted_pipes_are_polled() {
    let _s = serial();
    for adopt in [false, true] {
        let (r, w) = pipe();
        if adopt {
            assert_eq!(gmp_fd_adopt(r), 0);
            assert_eq!(gmp_fd_adopt(w), 0);
            assert!(
                is_nonblocking(r) && is_nonblocking(w),
                "adopt sets O_NONBLOCK"
            );
        } else {
            for fd in [r, w] {
                // SAFETY: fcntl on our pipe.
                unsafe { libc::fcntl(fd, libc::F_SETFL, fd_flags(fd) | libc::O_NONBLOCK) };
            }
        }
        let reader = spawn(move || {
            for round in 0..50u8 {
                let mut b = [0u8; 1];
                assert_eq!(read(r, &mut b, T), 1, "adopt={adopt} round {round}");
                assert_eq!(b[0], round);
            }
            assert_eq!(read(r, &mut [0u8; 1], 20 * MS), GMP_ETIMEDOUT as isize);
        });
        let writer = spawn(move || {
            for round in 0..25u8 {
                assert_eq!(write(w, &[round], T), 1);
                assert_eq!(gmp_sleep(100 * US), 0);
            }
        });
        writer.join();
        for round in 25..50u8 {
            assert_eq!(write(w, &[round], T), 1); // a foreign thread
            std::thread::sleep(Duration::from_micros(100));
        }
        reader.join();
        // A full pipe: gmp_write parks, then times out with what it wrote (a pipe
        // takes 64 KiB of the 1 MiB).
        let (res, _) = timed(move || write(w, &vec![0u8; 1 << 20], 30 * MS) as i64);
        assert!(res > 0 && res < 1 << 20, "partial count: {res}");
        assert_eq!(gmp_close_fd(w), 0);
        assert_eq!(gmp_close_fd(r), 0);
    }
}

// ---------------------------------------------------------------------------------------
// gmp_wait_fd masks

#[test]
fn wait_fd_masks() {
    let _s = serial();
    let (a, b) = socketpair();
    in_go(move || {
        // Nothing to read: time-out; a fresh socket is writable.
        assert_eq!(gmp_wait_fd(a, GMP_POLLIN, 20 * MS), GMP_ETIMEDOUT);
        assert_eq!(gmp_wait_fd(a, GMP_POLLIN, 0), GMP_EAGAIN);
        assert_eq!(gmp_wait_fd(a, GMP_POLLOUT, T), GMP_POLLOUT);
        assert_eq!(
            gmp_wait_fd(a, GMP_POLLIN | GMP_POLLOUT, T),
            GMP_POLLOUT,
            "writable only"
        );
        // No event asked: EINVAL. A bad fd: EBADF.
        assert_eq!(gmp_wait_fd(a, 0, 0), GMP_EINVAL);
        assert_eq!(gmp_wait_fd(-1, GMP_POLLIN, 0), -libc::EBADF);
        // A parked waiter is woken by data written later (by another goroutine).
        let w = spawn(move || {
            assert_eq!(gmp_sleep(20 * MS), 0);
            assert_eq!(write(b, b"hi", T), 2);
        });
        assert_eq!(gmp_wait_fd(a, GMP_POLLIN, T), GMP_POLLIN);
        w.join();
        assert_eq!(
            gmp_wait_fd(a, GMP_POLLIN | GMP_POLLOUT, T),
            GMP_POLLIN | GMP_POLLOUT
        );
        let mut x = [0u8; 2];
        assert_eq!(read(a, &mut x, T), 2);
        // The peer closes: readable (EOF) and hung up. A waiter parked before the close.
        let w = spawn(move || {
            assert_eq!(gmp_sleep(20 * MS), 0);
            assert_eq!(gmp_close_fd(b), 0);
        });
        let m = gmp_wait_fd(a, GMP_POLLIN, T);
        w.join();
        assert!(m > 0 && m & GMP_POLLHUP != 0, "mask after peer close: {m}");
        assert!(m & GMP_POLLIN != 0, "EOF reads as readable: {m}");
        assert_eq!(read(a, &mut x, T), 0);
        assert_eq!(gmp_close_fd(a), 0);
    });

    // A pipe: the read end hangs up once the write end is closed.
    let (r, w) = pipe();
    in_go(move || {
        assert_eq!(gmp_wait_fd(w, GMP_POLLOUT, T), GMP_POLLOUT);
        raw_close(w);
        let m = gmp_wait_fd(r, GMP_POLLIN, T);
        assert!(
            m > 0 && m & GMP_POLLHUP != 0,
            "pipe mask after writer close: {m}"
        );
    });
    raw_close(r);

    // A TCP peer that resets: POLLIN with POLLERR or POLLHUP.
    let (c, s) = tcp_pair(T);
    set_linger_zero(s);
    assert_eq!(gmp_close_fd(s), 0);
    in_go(move || {
        let m = gmp_wait_fd(c, GMP_POLLIN, T);
        assert!(
            m > 0 && m & (GMP_POLLHUP | GMP_POLLERR) != 0,
            "mask after RST: {m}"
        );
        assert_eq!(gmp_close_fd(c), 0);
    });
}

// ---------------------------------------------------------------------------------------
// fd numbers reused after a plain close(2)

/// Closes `fd` with close(2) and opens a connected socket that takes the same number
/// (the lowest free one): a plain socketpair, or a gmp socket connected over loopback.
/// Returns (new fd, its peer), or None if the number went elsewhere.
fn reuse_number(fd: i32, via_gmp: bool) -> Option<(i32, i32)> {
    raw_close(fd);
    if !via_gmp {
        let (c, d) = socketpair();
        if c != fd {
            raw_close(c);
            raw_close(d);
            return None;
        }
        return Some((c, d));
    }
    let c = gmp_socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    assert!(c >= 0);
    if c != fd {
        assert_eq!(gmp_close_fd(c), 0);
        return None;
    }
    let (ln, port) = tcp_listener(1);
    let sa = sockaddr_in(port);
    // SAFETY: a valid address.
    let r = unsafe {
        gmp_connect(
            c,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            T,
        )
    };
    assert_eq!(r, 0, "connect on the reused number");
    let d = accept(ln, T);
    assert!(d >= 0);
    assert_eq!(gmp_close_fd(ln), 0);
    Some((c, d))
}

/// Register fd N (a reader parked with a time-out), close it with close(2) while the
/// file stays open through a dup, reuse the number: the old file's events never wake a
/// reader of the new one, and the new fd works.
#[test]
fn fd_reuse_no_stale_wakeup() {
    let _s = serial();
    for via_gmp in [false, true] {
        let (a, b) = socketpair();
        // SAFETY: dup of our fd: keeps the old file (and its epoll item) alive.
        let a_dup = unsafe { libc::dup(a) };
        assert!(a_dup >= 0);
        // Park a reader on a (registers it with the poller), then let it time out.
        let r = timed(move || read(a, &mut [0u8; 4], 60 * MS) as i64);
        assert_timed_out("old reader", r, 60 * MS);
        let Some((c, d)) = reuse_number(a, via_gmp) else {
            eprintln!("fd_reuse: number {a} was taken by someone else; skipped");
            raw_close(a_dup);
            raw_close(b);
            continue;
        };
        let got = Arc::new(AtomicI64::new(i64::MIN));
        let g2 = got.clone();
        let reader = spawn(move || {
            let mut x = [0u8; 8];
            let n = read(c, &mut x, T);
            g2.store(
                if n == 1 { x[0] as i64 } else { n as i64 },
                Ordering::Relaxed,
            );
        });
        std::thread::sleep(Duration::from_millis(30));
        // Activity on the *old* file (still open via the dup).
        // SAFETY: a byte into our old socket's peer.
        assert_eq!(unsafe { libc::write(b, [0xEEu8].as_ptr().cast(), 1) }, 1);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            got.load(Ordering::Relaxed),
            i64::MIN,
            "the new fd's reader returned on the old file's event"
        );
        // Now data on the new one.
        // SAFETY: a byte into the new socket's peer.
        assert_eq!(unsafe { libc::write(d, [0x42u8].as_ptr().cast(), 1) }, 1);
        reader.join();
        assert_eq!(got.load(Ordering::Relaxed), 0x42, "via_gmp={via_gmp}");
        // The old file's byte is still there, unread by anyone.
        let mut x = [0u8; 1];
        // SAFETY: a plain read on the dup (made non-blocking through the shared file).
        assert_eq!(unsafe { libc::read(a_dup, x.as_mut_ptr().cast(), 1) }, 1);
        assert_eq!(x[0], 0xEE);
        assert_eq!(gmp_close_fd(c), 0);
        raw_close(d);
        raw_close(a_dup);
        raw_close(b);
    }
}

// ---------------------------------------------------------------------------------------
// A child process's stdin (a shared open file description)

/// The child's half of `child_stdin_keeps_blocking_mode`: reads its stdin (a pipe the
/// parent holds too) with gmp_read on one P while a goroutine counts, and reports. In
/// the ordinary test run (no role) it does nothing.
#[test]
fn child_stdin_reader_entry() {
    if !is_child("stdin-reader") {
        return;
    }
    gmp_maxprocs(1);
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (c2, s2) = (counter.clone(), stop.clone());
    let ticker = spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            c2.fetch_add(1, Ordering::Relaxed);
            assert_eq!(gmp_sleep(MS), 0);
        }
    });
    let out = Arc::new(std::sync::Mutex::new(String::new()));
    let o2 = out.clone();
    in_go(move || {
        let mut buf = [0u8; 64];
        let n = read(0, &mut buf, 10_000 * MS);
        let nb = is_nonblocking(0);
        *o2.lock().unwrap() = format!(
            "n={n} data={} nonblock={nb}",
            String::from_utf8_lossy(&buf[..n.max(0) as usize]).trim()
        );
    });
    stop.store(true, Ordering::Relaxed);
    ticker.join();
    println!(
        "CHILD {} ticks={}",
        out.lock().unwrap(),
        counter.load(Ordering::Relaxed)
    );
}

#[test]
fn child_stdin_keeps_blocking_mode() {
    let _s = serial();
    if role().is_some() {
        return;
    }
    let out = child("child_stdin_reader_entry", "stdin-reader")
        .stdin_after(Duration::from_millis(300), b"hello\n")
        .limit(Duration::from_secs(20))
        .run_no_hang();
    // The pipe's write end shares nothing with the read end's flags; the child's view
    // is checked by the child itself (after its read) and reported.
    out.assert_ok("stdin child");
    let out = out.stdout;
    let line = out
        .lines()
        .find_map(|l| l.find("CHILD ").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no CHILD line in: {out}"));
    assert!(line.contains("n=6 data=hello nonblock=false"), "{line}");
    let ticks: u64 = line.rsplit("ticks=").next().unwrap().parse().unwrap();
    assert!(ticks >= 20, "the child's other goroutine stalled: {line}");
}

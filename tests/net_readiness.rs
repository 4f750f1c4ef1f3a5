//! The read-readiness shortcut of the netpoller (`netpoll.rs`, `PollDesc::rd_empty`): on
//! a TCP socket made by gmp_socket/gmp_accept (edge-triggered), a short gmp_read means
//! the receive queue is empty, so the next gmp_read parks without trying recv(2) until
//! a readable event comes. These tests cover what a short read can leave behind that no
//! later event announces -- an EOF or an error that came with the data, urgent data's
//! mark -- and the ordinary paths (data after the park, a zero time-out, several readers,
//! gmp_close_fd of a reader parked through the shortcut). Each would hang (caught as a
//! time-out, never a hang: every call has one) if the shortcut trusted a stale state.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::*;

const T: i64 = 20_000 * MS; // per-call time-out: a hang detector, not a timing check

/// A plain send(2) on a gmp socket from a foreign thread or goroutine (no parking:
/// the buffers are far from full).
fn send(fd: i32, b: &[u8], flags: i32) {
    // SAFETY: a readable buffer of b.len() bytes.
    let n = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), flags | libc::MSG_NOSIGNAL) };
    assert_eq!(n, b.len() as isize, "send errno {}", errno());
}

/// The server's first read parks (registering the socket) and returns a short read;
/// then, while the server sleeps (the poller takes the next event with nobody
/// waiting), the client sends `then`; the server's next reads must return all of it
/// and then `end` (0 at EOF, or an error) without waiting for an event that never comes.
fn short_read_then(then: impl FnOnce(i32) + Send + 'static, want: &'static [u8], eof: bool) {
    let (c, s) = tcp_pair(T);
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let g2 = got.clone();
    let end = Arc::new(AtomicUsize::new(usize::MAX));
    let e2 = end.clone();
    let server = spawn(move || {
        let mut buf = [0u8; 4096];
        let n = read(s, &mut buf, T);
        assert_eq!(n, 1, "first read");
        // The client's next bytes arrive and are polled while we sleep.
        sleep(50 * MS);
        loop {
            let n = read(s, &mut buf, 2_000 * MS);
            if n <= 0 {
                e2.store(n as usize, Ordering::SeqCst);
                break;
            }
            g2.lock().unwrap().extend_from_slice(&buf[..n as usize]);
        }
        assert_eq!(gmp_close_fd(s), 0);
    });
    sleep(10 * MS);
    send(c, b"x", 0);
    sleep(10 * MS);
    then(c);
    server.join();
    let e = end.load(Ordering::SeqCst) as isize;
    assert_ne!(
        e, GMP_ETIMEDOUT as isize,
        "a read after a short read waited for an event that never came"
    );
    if eof {
        assert_eq!(e, 0, "expected EOF");
    }
    assert_eq!(&got.lock().unwrap()[..], want);
    let _ = gmp_close_fd(c);
}

/// Data and FIN polled together: the read that returns the data is short, and the next
/// one must see the EOF (no event follows the FIN).
#[test]
fn eof_with_data_after_a_short_read() {
    let _s = serial();
    short_read_then(
        |c| {
            send(c, b"hello", 0);
            // SAFETY: our socket.
            assert_eq!(unsafe { libc::shutdown(c, libc::SHUT_WR) }, 0);
        },
        b"hello",
        true,
    );
}

/// Urgent data: a read stops short at the urgent mark with data after it; the next
/// read must return that data (no event follows).
#[test]
fn urgent_mark_after_a_short_read() {
    let _s = serial();
    short_read_then(
        |c| {
            send(c, b"ab", 0);
            send(c, b"U", libc::MSG_OOB);
            send(c, b"de", 0);
            // SAFETY: our socket.
            assert_eq!(unsafe { libc::shutdown(c, libc::SHUT_WR) }, 0);
        },
        b"abde",
        true,
    );
}

/// A reset polled with the data: the read after the data must report it.
#[test]
fn reset_with_data_after_a_short_read() {
    let _s = serial();
    let (c, s) = tcp_pair(T);
    let server = spawn(move || {
        let mut buf = [0u8; 4096];
        assert_eq!(read(s, &mut buf, T), 1);
        sleep(50 * MS);
        let mut total = 0;
        let last = loop {
            let n = read(s, &mut buf, 2_000 * MS);
            if n <= 0 {
                break n;
            }
            total += n;
        };
        assert!(total <= 3);
        assert_ne!(last, GMP_ETIMEDOUT as isize, "the reset was never seen");
        assert_eq!(gmp_close_fd(s), 0);
    });
    sleep(10 * MS);
    send(c, b"x", 0);
    sleep(10 * MS);
    send(c, b"abc", 0);
    set_linger_zero(c);
    assert_eq!(gmp_close_fd(c), 0); // RST
    server.join();
}

/// Ordinary echo: every request is a short read, every next read parks through the
/// shortcut and is woken by the next request's event.
#[test]
fn echo_round_trips_with_short_reads() {
    let _s = serial();
    let (c, s) = tcp_pair(T);
    let rounds = scale(2_000, 50_000);
    let server = spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let n = read(s, &mut buf, T);
            assert!(n >= 0, "server read {n}");
            if n == 0 {
                break;
            }
            assert_eq!(write(s, &buf[..n as usize], T), n);
        }
        assert_eq!(gmp_close_fd(s), 0);
    });
    let client = spawn(move || {
        let mut buf = [0u8; 64];
        for i in 0..rounds {
            let msg = pattern(1, i, 1 + i % 64);
            assert_eq!(write(c, &msg, T), msg.len() as isize);
            assert_eq!(read_full(c, &mut buf[..msg.len()], T), 0, "round {i}");
            assert_eq!(&buf[..msg.len()], &msg[..], "round {i}");
        }
        assert_eq!(gmp_close_fd(c), 0);
    });
    client.join();
    server.join();
}

/// After a short read, a zero time-out says GMP_EAGAIN without data, and a later read
/// gets data that came after it.
#[test]
fn zero_timeout_after_a_short_read() {
    let _s = serial();
    let (c, s) = tcp_pair(T);
    in_go(move || {
        let mut buf = [0u8; 4096];
        send(c, b"a", 0);
        assert_eq!(read(s, &mut buf, T), 1);
        assert_eq!(read(s, &mut buf, 0), GMP_EAGAIN as isize);
        assert_eq!(read(s, &mut buf, MS), GMP_ETIMEDOUT as isize);
        send(c, b"bc", 0);
        let mut got = 0;
        while got < 2 {
            let n = read(s, &mut buf, T);
            assert!(n > 0, "read {n}");
            got += n;
        }
        assert_eq!(got, 2);
    });
    assert_eq!(gmp_close_fd(s), 0);
    assert_eq!(gmp_close_fd(c), 0);
}

/// Several goroutines read one socket (each short read marks it empty for all): every
/// byte sent is read by someone, and all of them end at EOF.
#[test]
fn several_readers_on_one_socket() {
    let _s = serial();
    let (c, s) = tcp_pair(T);
    let n_readers = 4;
    let total = scale(20_000, 200_000);
    let got = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..n_readers {
        let got = got.clone();
        readers.push(spawn(move || {
            let mut buf = [0u8; 7];
            loop {
                let n = read(s, &mut buf, T);
                assert!(n >= 0, "reader: {n}");
                if n == 0 {
                    break;
                }
                got.fetch_add(n as usize, Ordering::SeqCst);
            }
        }));
    }
    let writer = spawn(move || {
        let mut sent = 0;
        let mut i = 0;
        while sent < total {
            let len = (1 + i % 13).min(total - sent);
            assert_eq!(write(c, &pattern(2, i, len), T), len as isize);
            sent += len;
            i += 1;
            if i % 64 == 0 {
                sleep(100 * US);
            }
        }
        // SAFETY: our socket.
        assert_eq!(unsafe { libc::shutdown(c, libc::SHUT_WR) }, 0);
    });
    writer.join();
    join_all(readers);
    assert_eq!(got.load(Ordering::SeqCst), total);
    assert_eq!(gmp_close_fd(s), 0);
    assert_eq!(gmp_close_fd(c), 0);
}

/// gmp_close_fd cancels a reader parked through the shortcut.
#[test]
fn close_cancels_a_reader_parked_after_a_short_read() {
    let _s = serial();
    let (c, s) = tcp_pair(T);
    let r = spawn(move || {
        let mut buf = [0u8; 4096];
        send(c, b"a", 0);
        assert_eq!(read(s, &mut buf, T), 1);
        let n = read(s, &mut buf, T);
        assert_eq!(n, GMP_ECANCELED as isize, "parked reader after close: {n}");
    });
    sleep(50 * MS);
    assert_eq!(gmp_close_fd(s), 0);
    r.join();
    assert_eq!(gmp_close_fd(c), 0);
}

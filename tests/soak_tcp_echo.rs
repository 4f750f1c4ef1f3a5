//! Soak: TCP connections on loopback against a goroutine-per-connection echo server,
//! all open at the same time. Short form (the test command): 500 connections; long form
//! (`GMP_SOAK=1`): 10,000 (`GMP_SOAK_CONNS` overrides).
//!
//! The echo server runs in the test process and the clients in a child process (this
//! binary re-executed), each with its own runtime: so each side needs one descriptor
//! per connection, and 10,000 connections fit where the hard `RLIMIT_NOFILE` is 20,000
//! and may not be raised (a container without CAP_SYS_RESOURCE). Both sides raise their
//! soft limit (and the hard one where permitted) to fit.
//!
//! Each client goroutine connects (at most 256 connects in flight, so the listen backlog
//! does not overflow into SYN retries), echoes 4 numbered 64-byte messages, reports
//! itself open, waits until every client is open (so all connections exist at once),
//! echoes once more, and closes. Checked: every byte comes back in order, the server had
//! every connection open at once and saw each end with EOF, no call fails, nothing
//! hangs (watchdogs on both sides).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::*;

const ROUNDS: u64 = 4;
const MSG: usize = 64;
const T: i64 = 60_000 * MS;

/// Raises RLIMIT_NOFILE to at least `need` if it can; returns the soft limit now.
fn raise_nofile(need: u64) -> u64 {
    let (soft, hard) = getrlimit(libc::RLIMIT_NOFILE);
    if soft >= need {
        return soft;
    }
    let r = libc::rlimit {
        rlim_cur: need,
        rlim_max: hard.max(need),
    };
    // SAFETY: reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } == 0 {
        return need;
    }
    println!(
        "note: cannot raise RLIMIT_NOFILE to {need} (errno {}); using the hard limit {hard}",
        errno()
    );
    assert_eq!(set_soft_rlimit(libc::RLIMIT_NOFILE, hard), 0);
    hard
}

fn message(client: u64, round: u64) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    for (i, b) in m.iter_mut().enumerate() {
        *b = (client as u8)
            .wrapping_mul(31)
            .wrapping_add(round as u8 * 7)
            .wrapping_add(i as u8);
    }
    m[..8].copy_from_slice(&client.to_le_bytes());
    m[8..16].copy_from_slice(&round.to_le_bytes());
    m
}

fn echo_round(fd: i32, client: u64, round: u64) {
    let m = message(client, round);
    assert_eq!(write(fd, &m, T), MSG as isize, "client {client} write");
    let mut b = [0u8; MSG];
    let n = read_full(fd, &mut b, T);
    assert_eq!(n, 0, "client {client} read: {n}");
    assert_eq!(b, m, "client {client} round {round}: echo differs");
}

/// Whether the long form runs, or the connection count asked for.
fn connections() -> u64 {
    std::env::var("GMP_SOAK_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if soak() { 10_000 } else { 500 })
}

/// The client side (a child process): n connections to 127.0.0.1:port.
fn clients(n: u64, port: u16) {
    raise_nofile(n + 256);
    let t0 = Instant::now();
    let tokens = Arc::new(Chan::new(0, 256));
    for _ in 0..256 {
        assert_eq!(tokens.send_u64(0), 0);
    }
    let open = Arc::new(WaitGroup::with(n as i64));
    let gate = Arc::new(Chan::new(0, 0));
    let done = Arc::new(WaitGroup::with(n as i64));
    let wd = Watchdog::new(
        "soak_tcp_echo clients",
        Duration::from_secs(if soak() { 300 } else { 60 }),
    );
    let progress = wd.counter();
    for c in 0..n {
        let (tk, op, g, d, pr) = (
            tokens.clone(),
            open.clone(),
            gate.clone(),
            done.clone(),
            progress.clone(),
        );
        go(move || {
            assert_eq!(tk.recv_u64().0, 0);
            let fd = tcp_connect(port, T);
            assert!(fd >= 0, "client {c} connect: {fd}");
            assert_eq!(tk.send_u64(0), 0);
            for r in 0..ROUNDS {
                echo_round(fd, c, r);
            }
            pr.fetch_add(1, Ordering::Relaxed);
            assert_eq!(op.done(), 0);
            assert_eq!(g.recv_u64().0, GMP_ECLOSED);
            echo_round(fd, c, ROUNDS);
            assert_eq!(gmp_close_fd(fd), 0);
            pr.fetch_add(1, Ordering::Relaxed);
            assert_eq!(d.done(), 0);
        });
    }
    assert_eq!(open.wait(), 0);
    let all_open = t0.elapsed();
    let fds = open_fds();
    assert!(
        fds as u64 >= n,
        "{fds} descriptors open with {n} connections"
    );
    assert_eq!(gate.close(), 0);
    assert_eq!(done.wait(), 0);
    drop(wd);
    println!(
        "clients: {n} connections open at once ({fds} descriptors) after {all_open:?}; \
         done in {:?}; peak RSS {} MiB",
        t0.elapsed(),
        proc_status_kb("VmHWM") / 1024
    );
}

#[test]
fn tcp_echo_connections_all_open_at_once() {
    let n = connections();
    if role().as_deref() == Some("clients") {
        let port: u16 = std::env::var("GMP_SOAK_PORT").unwrap().parse().unwrap();
        clients(n, port);
        return;
    }
    let limit = raise_nofile(n + 256);
    assert!(
        n + 256 <= limit,
        "{n} connections do not fit in RLIMIT_NOFILE {limit}"
    );
    let t0 = Instant::now();
    let (lfd, port) = tcp_listener(4096);
    let accepted = Arc::new(AtomicU64::new(0));
    let echoed = Arc::new(AtomicU64::new(0));
    let eofs = Arc::new(AtomicU64::new(0));
    let live = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let server_done = Arc::new(WaitGroup::with(1));
    {
        let (acc, ech, eof, lv, pk, sd) = (
            accepted.clone(),
            echoed.clone(),
            eofs.clone(),
            live.clone(),
            peak.clone(),
            server_done.clone(),
        );
        go(move || {
            loop {
                // SAFETY: NULL address out-pointers are allowed.
                let fd = unsafe { gmp_accept(lfd, std::ptr::null_mut(), std::ptr::null_mut(), -1) };
                if fd == GMP_ECANCELED || fd == -libc::EBADF {
                    break; // the listener was closed
                }
                assert!(fd >= 0, "accept: {fd}");
                acc.fetch_add(1, Ordering::Relaxed);
                let now = lv.fetch_add(1, Ordering::Relaxed) + 1;
                pk.fetch_max(now, Ordering::Relaxed);
                let (ech, eof, lv) = (ech.clone(), eof.clone(), lv.clone());
                go(move || {
                    let mut b = [0u8; 4096];
                    loop {
                        // SAFETY: our buffer.
                        let r = unsafe { gmp_read(fd, b.as_mut_ptr().cast(), b.len(), T) };
                        if r == 0 {
                            eof.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        assert!(r > 0, "server read: {r}");
                        assert_eq!(write(fd, &b[..r as usize], T), r, "server write");
                        ech.fetch_add(r as u64, Ordering::Relaxed);
                    }
                    lv.fetch_sub(1, Ordering::Relaxed);
                    assert_eq!(gmp_close_fd(fd), 0);
                });
            }
            assert_eq!(sd.done(), 0);
        });
    }
    let port = port.to_string();
    let conns = n.to_string();
    let out = run_child(
        "tcp_echo_connections_all_open_at_once",
        "clients",
        &[("GMP_SOAK_PORT", &port), ("GMP_SOAK_CONNS", &conns)],
        Duration::from_secs(if soak() { 900 } else { 120 }),
    );
    out.assert_ok("echo clients");
    print!("{}", out.stdout);
    wait_until(
        "every server connection to see EOF",
        Duration::from_secs(60),
        || eofs.load(Ordering::Relaxed) == n,
    );
    assert_eq!(accepted.load(Ordering::Relaxed), n);
    assert_eq!(
        peak.load(Ordering::Relaxed),
        n,
        "not every connection was open at once"
    );
    assert_eq!(
        echoed.load(Ordering::Relaxed),
        n * (ROUNDS + 1) * MSG as u64
    );
    assert_eq!(gmp_close_fd(lfd), 0);
    assert_eq!(server_done.wait(), 0);
    println!(
        "server: {n} TCP connections, all open at once; {} bytes echoed; all closed \
         cleanly; {:?} in all; peak RSS {} MiB",
        echoed.load(Ordering::Relaxed),
        t0.elapsed(),
        proc_status_kb("VmHWM") / 1024
    );
}

//! File-descriptor exhaustion (`RLIMIT_NOFILE` lowered in a child process).
//!
//! - `accept_loop_survives_emfile`: an accept loop on `gmp_accept` meets `EMFILE`:
//!   accept returns `-EMFILE` (a code, not a crash or a hang), the server goroutine
//!   sleeps a little and retries, the runtime goes on (a heartbeat goroutine beats, new
//!   sockets fail cleanly with `-EMFILE`), and once connections close the server accepts
//!   again and every client is served.
//! - `poller_created_under_emfile`: the poller (epoll) is made on first use; if that use
//!   comes while no descriptor is free, the runtime must recover once descriptors are
//!   free again (timers on time, sockets woken by the poller).

mod support;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::*;

static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static EMFILES: AtomicU64 = AtomicU64::new(0);
static ECHOED: AtomicU64 = AtomicU64::new(0);
static BEATS: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

const CLIENTS: usize = 40;
const FREE_FDS: u64 = 8;

/// A blocking client socket connected to `addr` (plain libc: it must exist before the
/// limit comes down, and the kernel completes the handshake into the backlog).
fn plain_connect(addr: &libc::sockaddr_in) -> i32 {
    // SAFETY: plain socket calls with a valid address.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let rc = libc::connect(
            fd,
            (addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        assert_eq!(rc, 0, "connect: errno {}", errno());
        fd
    }
}

fn child_accept() {
    let (lfd, port) = tcp_listener(128);
    let addr = sockaddr_in(port);
    // Make the poller and register the listener before the limit comes down.
    // SAFETY: NULL address out-pointers are allowed.
    let rc = unsafe { gmp_accept(lfd, std::ptr::null_mut(), std::ptr::null_mut(), 0) };
    assert!(rc == GMP_EAGAIN || rc == GMP_ETIMEDOUT, "accept try: {rc}");
    go(|| {
        while !STOP.load(Ordering::Relaxed) {
            gmp_sleep(MS);
            BEATS.fetch_add(1, Ordering::Relaxed);
        }
    });
    let clients: Vec<i32> = (0..CLIENTS).map(|_| plain_connect(&addr)).collect();
    // The release gate: handlers keep their connection open until it closes.
    let gate = Chan::new(0, 0);
    let (soft0, _) = getrlimit(libc::RLIMIT_NOFILE);
    let fill = exhaust_fds(FREE_FDS as usize);
    let (limit, _) = getrlimit(libc::RLIMIT_NOFILE);
    println!("RLIMIT_NOFILE = {limit} ({FREE_FDS} descriptors free), {CLIENTS} clients");

    let g = gate.share();
    go(move || {
        let mut served = 0;
        while served < CLIENTS {
            // SAFETY: NULL address out-pointers are allowed.
            let fd =
                unsafe { gmp_accept(lfd, std::ptr::null_mut(), std::ptr::null_mut(), 10_000 * MS) };
            if fd == -libc::EMFILE || fd == -libc::ENFILE {
                EMFILES.fetch_add(1, Ordering::Relaxed);
                assert_eq!(gmp_sleep(MS), 0);
                continue;
            }
            assert!(fd >= 0, "gmp_accept: {fd}");
            ACCEPTED.fetch_add(1, Ordering::Relaxed);
            served += 1;
            let gate = g.share();
            go(move || {
                let mut b = [0u8; 8];
                assert_eq!(read_full(fd, &mut b, 10_000 * MS), 0);
                assert_eq!(write(fd, &b, 10_000 * MS), 8);
                ECHOED.fetch_add(1, Ordering::Relaxed);
                // Hold the descriptor until released.
                let (rc, _) = gate.recv_u64();
                assert_eq!(rc, GMP_ECLOSED);
                assert_eq!(gmp_close_fd(fd), 0);
            });
        }
    });
    for (i, &c) in clients.iter().enumerate() {
        let msg = (i as u64).to_le_bytes();
        // SAFETY: our buffer on a blocking socket.
        assert_eq!(unsafe { libc::write(c, msg.as_ptr().cast(), 8) }, 8);
    }
    // The server fills the free descriptors, then meets EMFILE and keeps retrying.
    wait_until("EMFILE retries", Duration::from_secs(10), || {
        EMFILES.load(Ordering::Relaxed) >= 5
    });
    let stuck = ACCEPTED.load(Ordering::Relaxed);
    assert!(
        stuck <= FREE_FDS && stuck < CLIENTS as u64,
        "accepted {stuck} with {FREE_FDS} free descriptors"
    );
    // The runtime goes on meanwhile; a new socket fails cleanly.
    let b0 = BEATS.load(Ordering::Relaxed);
    wait_until("heartbeat under EMFILE", Duration::from_secs(10), || {
        BEATS.load(Ordering::Relaxed) > b0 + 10
    });
    let s = gmp_socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    assert!(s == -libc::EMFILE || s == -libc::ENFILE, "gmp_socket: {s}");
    let e0 = EMFILES.load(Ordering::Relaxed);
    println!("accepted {stuck}, then {e0} EMFILE returns while stuck");

    // Release: the handlers close their connections, and the server accepts the rest.
    assert_eq!(gate.close(), 0);
    let t0 = Instant::now();
    wait_until("every client accepted", Duration::from_secs(20), || {
        ACCEPTED.load(Ordering::Relaxed) == CLIENTS as u64
    });
    for (i, &c) in clients.iter().enumerate() {
        let mut b = [0u8; 8];
        // SAFETY: our buffer on a blocking socket.
        let n = unsafe { libc::read(c, b.as_mut_ptr().cast(), 8) };
        assert_eq!(n, 8);
        assert_eq!(u64::from_le_bytes(b), i as u64);
        // SAFETY: our fd.
        unsafe { libc::close(c) };
    }
    assert_eq!(ECHOED.load(Ordering::Relaxed), CLIENTS as u64);
    println!(
        "all {CLIENTS} served {:?} after the release; {} EMFILE returns in all",
        t0.elapsed(),
        EMFILES.load(Ordering::Relaxed)
    );
    close_fds(fill);
    assert_eq!(set_soft_rlimit(libc::RLIMIT_NOFILE, soft0), 0);
    STOP.store(true, Ordering::Relaxed);
    assert_eq!(gmp_close_fd(lfd), 0);
}

#[test]
fn accept_loop_survives_emfile() {
    if role().as_deref() == Some("accept") {
        child_accept();
        return;
    }
    let out = run_child(
        "accept_loop_survives_emfile",
        "accept",
        &[],
        Duration::from_secs(60),
    );
    out.assert_ok("EMFILE child");
    print!("{}", out.stdout);
}

/// Times a 2 ms goroutine sleep made while another goroutine's 3 s sleep has an M
/// waiting in the poller.
/// A 2 ms sleep started while every M is idle and one waits in the poller for a 3 s
/// timer: returns whether the 2 ms sleeper woke before the 3 s timer's time (the poller
/// was interrupted for the earlier timer, rather than both waking when the 3 s one
/// fires), and how long the 2 ms sleep took.
fn short_sleep_wakes_first() -> (bool, Duration) {
    static LONG_DEADLINE: AtomicI64 = AtomicI64::new(0);
    static SHORT_WOKE: AtomicI64 = AtomicI64::new(0);
    let long = WaitGroup::with(1);
    let lp = &long as *const WaitGroup as usize;
    go(move || {
        LONG_DEADLINE.store(gmp_now() + 3_000 * MS, Ordering::SeqCst);
        assert_eq!(gmp_sleep(3_000 * MS), 0);
        // SAFETY: the waitgroup outlives this goroutine (waited for below).
        assert_eq!(unsafe { &*(lp as *const WaitGroup) }.done(), 0);
    });
    // Let every M go idle: one waits in the poller until the 3 s timer.
    std::thread::sleep(Duration::from_millis(100));
    let done = WaitGroup::with(1);
    let dp = &done as *const WaitGroup as usize;
    let t0 = Instant::now();
    go(move || {
        assert_eq!(gmp_sleep(2 * MS), 0);
        SHORT_WOKE.store(gmp_now(), Ordering::SeqCst);
        // SAFETY: as above.
        assert_eq!(unsafe { &*(dp as *const WaitGroup) }.done(), 0);
    });
    assert_eq!(done.wait(), 0);
    let took = t0.elapsed();
    assert_eq!(long.wait(), 0);
    let first = SHORT_WOKE.load(Ordering::SeqCst) < LONG_DEADLINE.load(Ordering::SeqCst);
    (first, took)
}

fn child_poller(exhaust: bool) {
    init(2);
    let (soft0, _) = getrlimit(libc::RLIMIT_NOFILE);
    // No descriptor free at the runtime's first idle moment with a timer (which makes
    // the poller).
    let fill = if exhaust { exhaust_fds(0) } else { Vec::new() };
    let wg = WaitGroup::with(1);
    let wp = &wg as *const WaitGroup as usize;
    go(move || {
        assert_eq!(gmp_sleep(5 * MS), 0);
        // SAFETY: the waitgroup outlives this goroutine.
        assert_eq!(unsafe { &*(wp as *const WaitGroup) }.done(), 0);
    });
    assert_eq!(wg.wait(), 0);
    let s = gmp_socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    if exhaust {
        assert!(s < 0, "gmp_socket with no descriptor free: {s}");
    } else {
        assert!(s >= 0 && gmp_close_fd(s) == 0);
    }
    // Descriptors are free again.
    close_fds(fill);
    assert_eq!(set_soft_rlimit(libc::RLIMIT_NOFILE, soft0), 0);
    let (first, took) = short_sleep_wakes_first();
    println!("2 ms sleep beside a 3 s one took {took:?}");
    assert!(
        first,
        "a 2 ms sleep woke only after a 3 s one ({took:?}): the poller made under EMFILE \
         was never retried, so the M waiting for the 3 s timer cannot be interrupted"
    );
}

#[test]
fn poller_created_under_emfile() {
    if role().as_deref() == Some("poller") {
        child_poller(true);
        return;
    }
    let out = run_child(
        "poller_created_under_emfile",
        "poller",
        &[],
        Duration::from_secs(60),
    );
    print!("{}", out.stdout);
    out.assert_ok("poller child");
}

/// The control of `poller_created_under_emfile`: the same measure with descriptors to
/// spare (the poller interrupts its wait for the earlier timer at once).
#[test]
fn timer_interrupts_the_poller() {
    if role().as_deref() == Some("poller-control") {
        child_poller(false);
        return;
    }
    let out = run_child(
        "timer_interrupts_the_poller",
        "poller-control",
        &[],
        Duration::from_secs(60),
    );
    out.assert_ok("poller control child");
    print!("{}", out.stdout);
}

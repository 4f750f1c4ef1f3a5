//! A lost timer wake-up, found by the signal storm (`fault_signals.rs`, where about one
//! run in 30 stalled ~9 s with every remaining goroutine in `[sleep]`, both P's idle and
//! no M spinning, until a stale 10 s read deadline fired).
//!
//! Diagnosis: a non-blocking poll eats the wake-up meant for the blocking poller.
//! `wakenetpoller` (sched/schedule.rs) interrupts the M that took the poller role
//! (`lastpoll == 0`) with `netpoll::wake()` -> `polling::Poller::notify()`, which sets
//! the crate's `notified` flag and writes its eventfd once. But while goroutines or
//! threads wait on fds, every M that looks for work calls `netpoll::poll(0)`
//! (`findrunnable`: `if netpoll::ready_any() { poll(0) }`; sysmon does too), and
//! `Poller::wait` with a zero timeout consumes the notification like any other wait:
//! it drains the eventfd and clears `notified`. If that happens after the poller M swapped
//! `lastpoll` to 0 but before it entered `epoll_wait` (it computed its time-out from the
//! timers it saw before the new one was added), the poller then sleeps until its old
//! deadline, and no other M looks: they see `lastpoll == 0` and `stopm`; sysmon does not
//! look at timers. Go avoids exactly this in `netpoll` (netpoll_epoll.go): "netpollBreak
//! could be picked up by a nonblocking poll. Only call netpollBreak and reset
//! netpollWakeSig if blocking" (`if delay != 0`). Fix options: do not consume the
//! notification in non-blocking polls (gmp's own eventfd registered in the epoll set, read
//! only by the blocking poller, as Go does), or re-check the earliest timer after
//! `poll(0)` and notify again; as a backstop, let sysmon start an M for an overdue timer
//! as Go's sysmon does (`timeSleepUntil() < now`).
//!
//! The test: four goroutines park on sockets that never get data (fd waiters: every idle
//! M polls with `poll(0)`), one goroutine sleeps 3 s in a loop (the poller's far deadline),
//! and one goroutine sleeps 20-200 us in a loop (at most one short timer at a time), with
//! busy threads competing for the CPU. Any short sleep over 1 s is a lost wake-up. Seen
//! here with the working tree of the morning (another session's schedule.rs edit in
//! progress): 2 of 3 runs overslept by 2.0-2.8 s within 6 s, and without the fd waiters
//! no run overslept more than 60 ms. On HEAD 8346984 it did not trigger in 8 runs (nor
//! the signal storm in 40): the windows below are still there by reading, but their
//! timing evidently changed, so this stays an ignored stress test, not a proof.

mod support;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use support::*;

const FD_WAITERS: usize = 4;
static WORST: AtomicI64 = AtomicI64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

fn child(seconds: u64) {
    init(2);
    let busy: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(|| {
                while !STOP.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    // Goroutines parked on sockets that never get data: with fd waiters present, every
    // M that looks for work also makes a non-blocking poll (`ready_any` -> `poll(0)`).
    let mut quiet = Vec::new();
    for _ in 0..FD_WAITERS {
        let mut sv = [0i32; 2];
        // SAFETY: writes two fds into sv.
        let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()) };
        assert_eq!(rc, 0);
        quiet.push(sv);
        let fd = sv[0];
        go(move || {
            let mut b = [0u8; 1];
            // SAFETY: our buffer; returns when the socket is closed at the end.
            let n = unsafe { gmp_read(fd, b.as_mut_ptr().cast(), 1, -1) };
            assert!(n == 0 || n == GMP_ECANCELED as isize, "quiet read: {n}");
        });
    }
    let t0 = Instant::now();
    let wg = Box::leak(Box::new(WaitGroup::with(2)));
    let wp = wg as *const WaitGroup as usize;
    // The far timer the poller sleeps towards when no short one is pending.
    go(move || {
        while t0.elapsed() < Duration::from_secs(seconds) {
            assert_eq!(gmp_sleep(3_000 * MS), 0);
        }
        // SAFETY: leaked: lives for the whole child.
        assert_eq!(unsafe { &*(wp as *const WaitGroup) }.done(), 0);
    });
    let rounds = Box::leak(Box::new(AtomicI64::new(0)));
    let rp = rounds as *const AtomicI64 as usize;
    // One goroutine sleeping short times in a loop: at most one short timer exists, so
    // a lost one shows as an oversleep until the far timer.
    go(move || {
        let mut i = 0i64;
        while t0.elapsed() < Duration::from_secs(seconds) {
            let ns = (20 + (i * 53) % 180) * US;
            let s = gmp_now();
            assert_eq!(gmp_sleep(ns), 0);
            let over = gmp_now() - s - ns;
            WORST.fetch_max(over, Ordering::Relaxed);
            if over > 1_000 * MS {
                eprintln!("lost wake-up: a {ns} ns sleep took {} ms", (over + ns) / MS);
            }
            i += 1;
        }
        // SAFETY: leaked.
        unsafe { &*(rp as *const AtomicI64) }.store(i, Ordering::Relaxed);
        // SAFETY: as above.
        assert_eq!(unsafe { &*(wp as *const WaitGroup) }.done(), 0);
    });
    assert_eq!(wg.wait(), 0);
    for sv in quiet {
        assert_eq!(gmp_close_fd(sv[0]), 0);
        // SAFETY: our fd.
        unsafe { libc::close(sv[1]) };
    }
    STOP.store(true, Ordering::Relaxed);
    for b in busy {
        b.join().unwrap();
    }
    let worst = WORST.load(Ordering::Relaxed);
    println!(
        "{} sleeps in {:?}; worst oversleep of a 20-200 us sleep: {:.3} ms",
        rounds.load(Ordering::Relaxed),
        t0.elapsed(),
        worst as f64 / 1e6
    );
    assert!(
        worst < 1_000 * MS,
        "a short sleep overslept by {} ms: lost timer wake-up",
        worst / MS
    );
}

#[test]
fn short_sleep_beside_long_timer_is_not_lost() {
    if role().as_deref() == Some("timer") {
        child(if soak() { 120 } else { 6 });
        return;
    }
    let out = run_child(
        "short_sleep_beside_long_timer_is_not_lost",
        "timer",
        &[],
        Duration::from_secs(300),
    );
    print!("{}", out.stdout);
    out.assert_ok("lost timer child");
}

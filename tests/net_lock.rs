//! LockOSThread across the fd calls and the hand-off: a locked goroutine that parks in
//! socket reads, accepts, wait_fd, time-outs and blocking calls keeps its OS thread
//! (gettid) across every park, and the others keep running on one P meanwhile.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::*;

const T: i64 = 10_000 * MS;

#[test]
fn locked_goroutine_keeps_its_thread_across_fd_parks() {
    let _s = serial();
    let prev = gmp_maxprocs(1);
    let _wd = Watchdog::new("locked", Duration::from_secs(30));
    let rounds = scale(50, 1000);
    // A bystander on the one P: it must keep running while the locked goroutine waits.
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (c2, s2) = (counter.clone(), stop.clone());
    let bystander = spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            c2.fetch_add(1, Ordering::Relaxed);
            assert_eq!(gmp_sleep(200 * US), 0);
        }
    });
    let (ln, port) = tcp_listener(4);
    in_go(move || {
        // The peer: connects, then answers each request after a short sleep, so that
        // every read of the locked goroutine parks.
        let peer = spawn(move || {
            let fd = tcp_connect(port, T);
            assert!(fd >= 0);
            let mut b = [0u8; 8];
            for _ in 0..rounds {
                assert_eq!(read_full(fd, &mut b, T), 0);
                assert_eq!(gmp_sleep(300 * US), 0);
                assert_eq!(write(fd, &b, T), 8);
            }
            assert_eq!(gmp_close_fd(fd), 0);
        });
        let locked = spawn(move || {
            assert_eq!(gmp_lock_os_thread(), 0);
            let tid = gettid();
            let c = accept(ln, T);
            assert!(c >= 0, "accept: {c}");
            assert_eq!(gettid(), tid, "thread changed across gmp_accept");
            let mut b = [0u8; 8];
            for i in 0..rounds as u64 {
                assert_eq!(write(c, &i.to_le_bytes(), T), 8);
                assert_eq!(gmp_wait_fd(c, GMP_POLLIN, T), GMP_POLLIN);
                assert_eq!(gettid(), tid, "thread changed across gmp_wait_fd");
                assert_eq!(read_full(c, &mut b, T), 0);
                assert_eq!(u64::from_le_bytes(b), i);
                assert_eq!(gettid(), tid, "thread changed across gmp_read, round {i}");
                if i == 0 {
                    // A time-out while locked.
                    assert_eq!(read(c, &mut b, 5 * MS), GMP_ETIMEDOUT as isize);
                    assert_eq!(gettid(), tid, "thread changed across a read time-out");
                }
            }
            // The hand-off while locked: gmp_blocking and a syscall section.
            assert_eq!(
                blocking(|| std::thread::sleep(Duration::from_millis(20))),
                0
            );
            assert_eq!(gettid(), tid, "thread changed across gmp_blocking");
            gmp_syscall_enter();
            std::thread::sleep(Duration::from_millis(20));
            gmp_syscall_exit();
            assert_eq!(gettid(), tid, "thread changed across gmp_syscall_exit");
            assert_eq!(read(c, &mut b, T), 0, "EOF once the peer is done");
            assert_eq!(gettid(), tid);
            assert_eq!(gmp_close_fd(c), 0);
            assert_eq!(gmp_unlock_os_thread(), 0);
        });
        peer.join();
        locked.join();
    });
    // The bystander ran while the locked goroutine waited (its P was handed on).
    let during = counter.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    bystander.join();
    assert!(during > 10, "the bystander ran only {during} times");
    assert_eq!(gmp_close_fd(ln), 0);
    gmp_maxprocs(prev);
}

/// Several locked goroutines echoing at once on 2 P's, each checking its thread after
/// every park, and each on a distinct thread.
#[test]
fn many_locked_readers() {
    let _s = serial();
    let prev = gmp_maxprocs(2);
    let _wd = Watchdog::new("many_locked", Duration::from_secs(30));
    let n = 8;
    let rounds = scale(100, 2000);
    let tids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut js = Vec::new();
    for k in 0..n {
        let (a, b) = socketpair();
        let tids = tids.clone();
        js.push(spawn(move || {
            assert_eq!(gmp_lock_os_thread(), 0);
            let tid = gettid();
            tids.lock().unwrap().push(tid);
            let mut x = [0u8; 4];
            for i in 0..rounds as u32 {
                assert_eq!(read_full(a, &mut x, T), 0);
                assert_eq!(u32::from_le_bytes(x), i ^ k);
                assert_eq!(gettid(), tid, "locked reader {k} moved at round {i}");
                assert_eq!(write(a, &x, T), 4);
            }
            assert_eq!(gmp_unlock_os_thread(), 0);
            assert_eq!(gmp_close_fd(a), 0);
        }));
        js.push(spawn(move || {
            let mut x = [0u8; 4];
            for i in 0..rounds as u32 {
                assert_eq!(write(b, &(i ^ k).to_le_bytes(), T), 4);
                assert_eq!(read_full(b, &mut x, T), 0);
            }
            assert_eq!(gmp_close_fd(b), 0);
        }));
    }
    join_all(js);
    let mut t = tids.lock().unwrap().clone();
    t.sort_unstable();
    t.dedup();
    assert_eq!(
        t.len(),
        n as usize,
        "each locked goroutine had a thread of its own"
    );
    gmp_maxprocs(prev);
}

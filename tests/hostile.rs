//! Regressions for the defects that hostile use of the C API found (issue 12). Each test
//! failed before its fix; the races run in a stress form under `GMP_STRESS=1`.
//!
//! - `home_close_races_free`: `gmp_home_close` from another thread while the home thread
//!   pumps until `GMP_ECLOSED` and frees: close must touch nothing after the home thread
//!   can see it (a freed home's eventfd number, reused at once, gets no stray write).
//! - `go_home_ids_and_members`: ids from `gmp_go_home_ex` name the goroutine spawned;
//!   closing a home cancels only its own goroutines.
//! - `fd_reuse_after_plain_close`: a gmp socket closed with close(2) whose number a
//!   foreign `socketpair` reuses: `gmp_read` on the new socket wakes.
//! - `locked_goroutines_at_max_threads`: locked goroutines that sleep at the thread cap
//!   do not stop timers or other goroutines.
//! - `go_racing_shutdown`: every `gmp_go` that returned 0 ran; later ones say
//!   `GMP_ESHUTDOWN`.
//! - `no_tick_after_ticker_stop`: no tick arrives after `gmp_ticker_stop` returned.
//! - `released_timer_channels_free_their_timers`: stopped/released tickers and released
//!   `gmp_after` channels leave the timer heaps.
//! - `shutdown_releases_blocked_foreign_callers`: a foreign thread blocked in a channel
//!   call when shutdown ends returns `GMP_ESHUTDOWN`.

mod support;

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use support::*;

unsafe extern "C" fn nothing(_: *mut c_void) {}

// ---------------------------------------------------------------------------------------
// 1. gmp_home_close racing the home thread's free.

#[test]
fn home_close_races_free() {
    let _s = serial();
    let rounds = scale(3_000, 50_000);
    let mut stray = 0;
    for _ in 0..rounds {
        let mut h: *mut gmp_home = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp_home_make(&mut h) }, 0);
        let hp = h as usize;
        let closer = std::thread::spawn(move || {
            let rc = gmp_home_close(hp as *mut gmp_home);
            assert!(rc == 0, "close: {rc}");
        });
        loop {
            let rc = gmp_home_run(h, -1);
            if rc == GMP_ECLOSED {
                break;
            }
            assert!(rc >= 0, "run: {rc}");
            std::hint::spin_loop();
        }
        // SAFETY: run returned GMP_ECLOSED on the home thread.
        assert_eq!(unsafe { gmp_home_free(h) }, 0);
        // The freed home's eventfd number is the lowest free one: take it at once. A
        // close still running after the free would write into it.
        // SAFETY: plain eventfd.
        let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(efd >= 0);
        closer.join().expect("closer");
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into v from our own eventfd.
        let n = unsafe { libc::read(efd, (&mut v as *mut u64).cast(), 8) };
        if n == 8 {
            stray += 1;
        }
        // SAFETY: our own fd.
        unsafe { libc::close(efd) };
    }
    assert_eq!(
        stray, 0,
        "close wrote into a freed home's eventfd {stray} times"
    );
}

// ---------------------------------------------------------------------------------------
// 2. gmp_go_home from another thread: ids and members.

struct Slot(AtomicU64);

unsafe extern "C" fn record_self(arg: *mut c_void) {
    // SAFETY: the spawner keeps the slots alive until every goroutine ran.
    let s = unsafe { &*(arg as *const Slot) };
    s.0.store(gmp_self(), Ordering::SeqCst);
}

#[test]
fn go_home_ids_and_members() {
    let _s = serial();
    let n = scale(100_000, 300_000);
    let slots: Arc<Vec<Slot>> = Arc::new((0..n).map(|_| Slot(AtomicU64::new(0))).collect());
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    // The home thread pumps as fast as it can, so it often runs a goroutine to its end
    // before the spawner's call returns.
    let home_thread = std::thread::spawn(move || {
        let mut h: *mut gmp_home = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp_home_make(&mut h) }, 0);
        tx.send(h as usize).unwrap();
        while !d2.load(Ordering::Acquire) {
            assert!(gmp_home_run(h, -1) >= 0);
        }
        assert_eq!(gmp_home_close(h), 0);
        loop {
            let rc = gmp_home_run(h, -1);
            if rc == GMP_ECLOSED {
                break;
            }
            gmp_home_wait(h, MS);
        }
        // SAFETY: run returned GMP_ECLOSED on this, the home thread.
        assert_eq!(unsafe { gmp_home_free(h) }, 0);
    });
    let h = rx.recv().unwrap() as *mut gmp_home;
    // Meanwhile another foreign thread spawns ordinary goroutines that park on a
    // channel: they reuse the G's that home goroutines finished with, so a G left in
    // the home's member set by mistake would be canceled when the home closes.
    let plain = scale(4_000, 20_000);
    let ch = Arc::new(Chan::new(8, plain));
    let canceled = Arc::new(AtomicI64::new(0));
    let received = Arc::new(AtomicI64::new(0));
    let (ch2, c2, r2) = (ch.clone(), canceled.clone(), received.clone());
    let plain_spawner = std::thread::spawn(move || {
        for _ in 0..plain {
            let (ch, c, r) = (ch2.clone(), c2.clone(), r2.clone());
            go(move || {
                let (rc, _) = ch.recv_u64();
                if rc == GMP_ECANCELED {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                r.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    // Two threads spawn into the home, so a G that ends early is soon reused.
    let hp = h as usize;
    let spawners: Vec<_> = (0..2)
        .map(|k| {
            let slots = slots.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for s in slots.iter().skip(k).step_by(2) {
                    let mut id: gmp_goid = 0;
                    // SAFETY: slots outlive the goroutines (we wait for all of them).
                    let rc = unsafe {
                        gmp_go_home_ex(
                            hp as *mut gmp_home,
                            std::ptr::null(),
                            Some(record_self),
                            s as *const Slot as *mut c_void,
                            &mut id,
                        )
                    };
                    assert_eq!(rc, 0);
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let per: Vec<Vec<u64>> = spawners.into_iter().map(|t| t.join().unwrap()).collect();
    let mut ids = vec![0u64; n];
    for (k, v) in per.into_iter().enumerate() {
        for (i, id) in v.into_iter().enumerate() {
            ids[k + 2 * i] = id;
        }
    }
    plain_spawner.join().expect("plain spawner");
    wait_until("every home goroutine ran", Duration::from_secs(60), || {
        slots.iter().all(|s| s.0.load(Ordering::SeqCst) != 0)
    });
    let wrong = ids
        .iter()
        .zip(slots.iter())
        .filter(|(id, s)| **id != s.0.load(Ordering::SeqCst))
        .count();
    done.store(true, Ordering::Release);
    home_thread.join().expect("home thread");
    // The home is closed and freed; the plain goroutines still wait, then receive.
    for i in 0..plain {
        assert_eq!(ch.send_u64(i as u64), 0);
    }
    wait_until("the plain receivers", Duration::from_secs(60), || {
        received.load(Ordering::SeqCst) == plain as i64
    });
    assert_eq!(wrong, 0, "{wrong} of {n} ids name another goroutine");
    assert_eq!(
        canceled.load(Ordering::SeqCst),
        0,
        "closing the home canceled goroutines that were never in it"
    );
}

// ---------------------------------------------------------------------------------------
// 3. fd reuse after plain close(2).

#[test]
fn fd_reuse_after_plain_close() {
    let _s = serial();
    for round in 0..scale(20, 500) {
        let (lfd, _addr) = tcp_listener(16);
        // A park on the listener registers it with the poller.
        let (tx, rx) = std::sync::mpsc::channel();
        go(move || {
            // SAFETY: NULL address out-pointers are allowed.
            let rc = unsafe { gmp_accept(lfd, std::ptr::null_mut(), std::ptr::null_mut(), MS) };
            tx.send(rc).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), GMP_ETIMEDOUT);
        // SAFETY: plain close of our own fd, behind the library's back.
        unsafe { libc::close(lfd) };
        let (a, b) = socketpair();
        let sv = [a, b];
        let reused = if sv[0] == lfd { sv[0] } else { sv[1] };
        let other = if reused == sv[0] { sv[1] } else { sv[0] };
        assert_eq!(reused, lfd, "round {round}: the number was not reused");
        let (tx, rx) = std::sync::mpsc::channel();
        go(move || {
            let mut b = [0u8; 4];
            // SAFETY: a 4-byte buffer.
            let n = unsafe { gmp_read(reused, b.as_mut_ptr().cast(), 4, 20_000 * MS) };
            tx.send((n, b)).unwrap();
        });
        std::thread::sleep(Duration::from_millis(5));
        // SAFETY: 4 bytes from a static buffer.
        assert_eq!(unsafe { libc::write(other, b"ping".as_ptr().cast(), 4) }, 4);
        let (n, b) = rx.recv().unwrap();
        assert_eq!(n, 4, "round {round}: gmp_read on the reused number: {n}");
        assert_eq!(&b, b"ping");
        // SAFETY: our own fds.
        unsafe {
            libc::close(sv[0]);
            libc::close(sv[1]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. Locked goroutines at max_threads.

static LOCKED_DONE: AtomicI64 = AtomicI64::new(0);
static TICKS: AtomicI64 = AtomicI64::new(0);

#[test]
fn locked_goroutines_at_max_threads() {
    if role().as_deref() == Some("locked") {
        let cfg = gmp_config {
            size: std::mem::size_of::<gmp_config>(),
            maxprocs: 2,
            stack_size: 0,
            max_threads: 6,
            ..Default::default()
        };
        // SAFETY: a valid config.
        assert_eq!(unsafe { gmp_init(&cfg) }, 0);
        let wg = Arc::new(WaitGroup::with(6));
        for _ in 0..6 {
            let wg = wg.clone();
            go(move || {
                assert_eq!(gmp_lock_os_thread(), 0);
                for _ in 0..3 {
                    assert_eq!(gmp_sleep(50 * MS), 0);
                }
                LOCKED_DONE.fetch_add(1, Ordering::SeqCst);
                assert_eq!(wg.done(), 0);
            });
        }
        // An unlocked goroutine keeps ticking meanwhile.
        go(|| {
            for _ in 0..20 {
                assert_eq!(gmp_sleep(5 * MS), 0);
                TICKS.fetch_add(1, Ordering::SeqCst);
            }
        });
        // SAFETY: a live waitgroup.
        let rc = unsafe { gmp_waitgroup_wait_timeout(wg.ptr(), 30_000 * MS) };
        assert_eq!(rc, 0, "locked goroutines never finished");
        assert_eq!(LOCKED_DONE.load(Ordering::SeqCst), 6);
        wait_until("the unlocked ticker", Duration::from_secs(30), || {
            TICKS.load(Ordering::SeqCst) == 20
        });
        println!("ok");
        return;
    }
    let out = run_child(
        "locked_goroutines_at_max_threads",
        "locked",
        &[],
        Duration::from_secs(90),
    );
    out.assert_ok("locked goroutines at max_threads");
}

// ---------------------------------------------------------------------------------------
// 5. gmp_go racing gmp_shutdown(-1).

static RAN: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn count_run(_: *mut c_void) {
    RAN.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn go_racing_shutdown() {
    if role().as_deref() == Some("race") {
        assert_eq!(gmp_go(Some(nothing), std::ptr::null_mut()), 0);
        RAN.fetch_add(1, Ordering::SeqCst); // the one above
        let ok = Arc::new(AtomicU64::new(1));
        let stop = Arc::new(AtomicBool::new(false));
        let spawners: Vec<_> = (0..2)
            .map(|_| {
                let ok = ok.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    loop {
                        match gmp_go(Some(count_run), std::ptr::null_mut()) {
                            0 => {
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                            GMP_ESHUTDOWN => break,
                            rc => panic!("gmp_go: {rc}"),
                        }
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(gmp_shutdown(-1), 0);
        // Every spawn from now on is refused.
        assert_eq!(gmp_go(Some(count_run), std::ptr::null_mut()), GMP_ESHUTDOWN);
        stop.store(true, Ordering::Relaxed);
        for s in spawners {
            s.join().unwrap();
        }
        let ran = RAN.load(Ordering::SeqCst);
        let ok = ok.load(Ordering::SeqCst);
        assert_eq!(
            ran, ok,
            "gmp_go returned 0 {ok} times but {ran} goroutines ran"
        );
        println!("ok: {ok} spawns, all ran");
        return;
    }
    for i in 0..scale(12, 100) {
        let out = run_child("go_racing_shutdown", "race", &[], Duration::from_secs(60));
        out.assert_ok(&format!("go racing shutdown, run {i}"));
    }
}

// ---------------------------------------------------------------------------------------
// 6. No tick after gmp_ticker_stop.

#[test]
fn no_tick_after_ticker_stop() {
    let _s = serial();
    let rounds = scale(4_000, 20_000);
    let mut late = 0;
    for i in 0..rounds {
        let mut t: *mut gmp_chan = std::ptr::null_mut();
        let period = 1_000 + (i as i64 % 5) * 1_000;
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp_ticker(&mut t, period) }, 0);
        let mut v: i64 = 0;
        // SAFETY: an int64 element.
        assert_eq!(unsafe { gmp_chan_recv(t, (&mut v as *mut i64).cast()) }, 0);
        assert_eq!(gmp_ticker_stop(t), 0);
        // Drain what was sent before stop returned.
        // SAFETY: as above.
        while unsafe { gmp_chan_recv_timeout(t, (&mut v as *mut i64).cast(), 0) } == 0 {}
        // SAFETY: as above.
        let rc = unsafe { gmp_chan_recv_timeout(t, (&mut v as *mut i64).cast(), 30 * US) };
        if rc == 0 {
            late += 1;
        } else {
            assert_eq!(rc, GMP_ETIMEDOUT);
        }
        gmp_chan_release(t);
    }
    assert_eq!(
        late, 0,
        "{late} ticks in {rounds} rounds arrived after stop returned"
    );
}

// ---------------------------------------------------------------------------------------
// 7. Stopped tickers and released afters free their timers.

#[test]
fn released_timer_channels_free_their_timers() {
    let _s = serial();
    let n = scale(50_000, 200_000);
    let base = gmp::rt::pending_timers();
    for _ in 0..n {
        let mut t: *mut gmp_chan = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp_ticker(&mut t, 3_600_000 * MS) }, 0);
        assert_eq!(gmp_ticker_stop(t), 0);
        gmp_chan_release(t);
    }
    let after_tickers = gmp::rt::pending_timers();
    for _ in 0..n {
        let mut t: *mut gmp_chan = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp_after(&mut t, 3_600_000 * MS) }, 0);
        gmp_chan_release(t);
    }
    let after_afters = gmp::rt::pending_timers();
    // A timer whose channel is gone may wait for the next sweep (at most half of a
    // heap is stale), never for its deadline.
    assert!(
        after_tickers <= base + 1_000,
        "{n} stopped tickers: {after_tickers} timers pending (was {base})"
    );
    assert!(
        after_afters <= base + 1_000,
        "{n} released afters: {after_afters} timers pending (was {base})"
    );
    // A kept ticker still ticks, a kept after still fires.
    let mut t: *mut gmp_chan = std::ptr::null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { gmp_after(&mut t, MS) }, 0);
    let mut v: i64 = 0;
    // SAFETY: an int64 element.
    assert_eq!(unsafe { gmp_chan_recv(t, (&mut v as *mut i64).cast()) }, 0);
    gmp_chan_release(t);
}

// ---------------------------------------------------------------------------------------
// 8. Shutdown and foreign threads blocked in calls.

#[test]
fn shutdown_releases_blocked_foreign_callers() {
    if role().as_deref() == Some("blocked") {
        let ch = Chan::new(8, 0);
        let raw = ch.0 as usize;
        let wg = WaitGroup::with(1);
        let wgp = wg.ptr() as usize;
        let t1 = std::thread::spawn(move || {
            let mut v = 0u64;
            // SAFETY: the channel outlives this thread (joined below).
            unsafe { gmp_chan_recv(raw as *mut gmp_chan, (&mut v as *mut u64).cast()) }
        });
        let t2 = std::thread::spawn(move || {
            // SAFETY: the waitgroup outlives this thread (joined below).
            unsafe { gmp_waitgroup_wait(wgp as *mut gmp_waitgroup) }
        });
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(gmp_shutdown(-1), 0);
        assert_eq!(t1.join().unwrap(), GMP_ESHUTDOWN, "blocked chan_recv");
        assert_eq!(t2.join().unwrap(), GMP_ESHUTDOWN, "blocked waitgroup_wait");
        std::mem::forget(ch);
        println!("ok");
        return;
    }
    let out = run_child(
        "shutdown_releases_blocked_foreign_callers",
        "blocked",
        &[],
        Duration::from_secs(30),
    );
    out.assert_ok("blocked foreign callers at shutdown");
}

// ---------------------------------------------------------------------------------------
// Semantics (issue 12): try-operations, partial writes, once, sizes, shutdown, adopt.

static POLLED_FIRE: AtomicI64 = AtomicI64::new(0);

/// At one P, a goroutine that polls a `gmp_after` channel with try-receives (Go's
/// `for { select { default: } }`) sees it fire: a would-block try is a preemption point.
#[test]
fn try_receive_loop_lets_timers_fire() {
    if role().as_deref() == Some("poll") {
        let wg = Arc::new(WaitGroup::with(1));
        let w2 = wg.clone();
        go(move || {
            let mut t: *mut gmp_chan = std::ptr::null_mut();
            // SAFETY: a valid out pointer.
            assert_eq!(unsafe { gmp_after(&mut t, 20 * MS) }, 0);
            let mut v: i64 = 0;
            let mut tries: u64 = 0;
            loop {
                // SAFETY: an int64 element of a live channel.
                let rc = unsafe { gmp_chan_recv_timeout(t, (&mut v as *mut i64).cast(), 0) };
                if rc == 0 {
                    break;
                }
                tries += 1;
            }
            POLLED_FIRE.store(tries as i64 + 1, Ordering::SeqCst);
            // A select with a default case is a preemption point too.
            let mut t2: *mut gmp_chan = std::ptr::null_mut();
            // SAFETY: a valid out pointer.
            assert_eq!(unsafe { gmp_after(&mut t2, 20 * MS) }, 0);
            let mut c = gmp_select_case {
                chan: t2,
                op: GMP_RECV,
                elem: (&mut v as *mut i64).cast(),
                result: 0,
            };
            loop {
                // SAFETY: one valid case.
                let rc = unsafe { gmp_select(&mut c, 1, 0) };
                if rc == 0 {
                    break;
                }
                assert_eq!(rc, GMP_EAGAIN);
            }
            gmp_chan_release(t);
            gmp_chan_release(t2);
            assert_eq!(w2.done(), 0);
        });
        // SAFETY: a live waitgroup.
        let rc = unsafe { gmp_waitgroup_wait_timeout(wg.ptr(), 30_000 * MS) };
        assert_eq!(rc, 0, "the polling goroutine never saw its timer fire");
        println!("fired after {} tries", POLLED_FIRE.load(Ordering::SeqCst));
        return;
    }
    let out = run_child(
        "try_receive_loop_lets_timers_fire",
        "poll",
        &[("GMP_MAXPROCS", "1")],
        Duration::from_secs(60),
    );
    out.assert_ok("try-receive loop at one P");
}

/// Timeout 0 means "try": every call that would block returns GMP_EAGAIN.
#[test]
fn timeout_zero_is_a_try_everywhere() {
    let _s = serial();
    let wg = Arc::new(WaitGroup::with(0));
    let w2 = wg.clone();
    let done = Arc::new(WaitGroup::with(1));
    let d2 = done.clone();
    go(move || {
        let mu = Box::new(gmp_mutex { _opaque: [0; 2] });
        let mp = &*mu as *const gmp_mutex as *mut gmp_mutex;
        // SAFETY: live sync objects and fds of this test.
        unsafe {
            assert_eq!(gmp_mutex_lock(mp), 0);
            assert_eq!(gmp_mutex_lock_timeout(mp, 0), GMP_EAGAIN, "mutex");
            let cv = Box::new(gmp_cond { _opaque: [0; 4] });
            let cp = &*cv as *const gmp_cond as *mut gmp_cond;
            assert_eq!(gmp_cond_wait_timeout(cp, mp, 0), GMP_EAGAIN, "cond");
            assert_eq!(gmp_mutex_unlock(mp), 0);
            assert_eq!(w2.add(1), 0);
            assert_eq!(
                gmp_waitgroup_wait_timeout(w2.ptr(), 0),
                GMP_EAGAIN,
                "waitgroup"
            );
            assert_eq!(w2.done(), 0);
            let mut sv = [0i32; 2];
            assert_eq!(
                libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()),
                0
            );
            let mut b = [0u8; 8];
            assert_eq!(
                gmp_read(sv[0], b.as_mut_ptr().cast(), 8, 0),
                GMP_EAGAIN as isize
            );
            assert_eq!(gmp_wait_fd(sv[0], GMP_POLLIN, 0), GMP_EAGAIN, "wait_fd");
            let (lfd, _) = tcp_listener(4);
            assert_eq!(
                gmp_accept(lfd, std::ptr::null_mut(), std::ptr::null_mut(), 0),
                GMP_EAGAIN,
                "accept"
            );
            libc::close(lfd);
            libc::close(sv[0]);
            libc::close(sv[1]);
        }
        assert_eq!(d2.done(), 0);
    });
    assert_eq!(done.wait(), 0);
}

/// A timed write that cannot finish reports the bytes it wrote.
#[test]
fn timed_write_reports_a_partial_count() {
    let _s = serial();
    let (tx, rx) = std::sync::mpsc::channel();
    go(move || {
        let mut sv = [0i32; 2];
        // SAFETY: socketpair into a 2-int array.
        let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()) };
        assert_eq!(rc, 0);
        let buf = vec![7u8; 16 << 20];
        // Nobody reads: the kernel takes a few hundred KiB, then the write times out.
        // SAFETY: a live buffer of that length.
        let n = unsafe { gmp_write(sv[0], buf.as_ptr().cast(), buf.len(), 20 * MS) };
        // The stream is recoverable: read what was written, exactly.
        let mut got = 0usize;
        let mut rb = vec![0u8; 1 << 16];
        if n > 0 {
            while got < n as usize {
                // SAFETY: a live buffer.
                let r = unsafe { gmp_read(sv[1], rb.as_mut_ptr().cast(), rb.len(), 0) };
                if r <= 0 {
                    break;
                }
                got += r as usize;
            }
        }
        // SAFETY: our own fds.
        unsafe {
            libc::close(sv[0]);
            libc::close(sv[1]);
        }
        tx.send((n, buf.len(), got)).unwrap();
    });
    let (n, len, got) = rx.recv().unwrap();
    assert!(
        n > 0 && (n as usize) < len,
        "gmp_write with a timeout returned {n} (of {len}): not a partial count"
    );
    assert_eq!(
        got, n as usize,
        "the reader saw another count than the writer"
    );
}

static ONCE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static INNER_RC: AtomicI64 = AtomicI64::new(1);

unsafe extern "C" fn recurse_once(arg: *mut c_void) {
    // SAFETY: the same once as the outer call.
    let rc = unsafe { gmp_once_do(arg.cast(), Some(nothing), std::ptr::null_mut()) };
    INNER_RC.store(rc as i64, Ordering::SeqCst);
}

/// A once whose function calls gmp_once_do on itself gets GMP_EDEADLK, not a hang.
#[test]
fn recursive_once_is_edeadlk() {
    let _s = serial();
    let _g = ONCE.lock().unwrap();
    let once = Box::new(gmp_once { _opaque: [0; 2] });
    let op = &*once as *const gmp_once as *mut gmp_once;
    // From a foreign thread...
    // SAFETY: a live once.
    assert_eq!(unsafe { gmp_once_do(op, Some(recurse_once), op.cast()) }, 0);
    assert_eq!(INNER_RC.load(Ordering::SeqCst), GMP_EDEADLK as i64);
    // ...and from a goroutine.
    INNER_RC.store(1, Ordering::SeqCst);
    let once2 = Box::new(gmp_once { _opaque: [0; 2] });
    let p2 = &*once2 as *const gmp_once as usize;
    let (tx, rx) = std::sync::mpsc::channel();
    go(move || {
        let op = p2 as *mut gmp_once;
        // SAFETY: a live once (the test waits for this goroutine).
        tx.send(unsafe { gmp_once_do(op, Some(recurse_once), op.cast()) })
            .unwrap();
    });
    assert_eq!(rx.recv().unwrap(), 0);
    assert_eq!(INNER_RC.load(Ordering::SeqCst), GMP_EDEADLK as i64);
}

/// A `size` over one page is GMP_E2BIG, without reading the caller's memory past it.
#[test]
fn size_over_a_page_is_e2big() {
    let _s = serial();
    // The struct ends exactly where a page ends and nothing is mapped after it: a
    // library that scanned past it for non-zero bytes would fault.
    let page = 4096usize;
    // SAFETY: a fresh anonymous mapping of two pages; the second is unmapped at once.
    let mem = unsafe {
        let m = libc::mmap(
            std::ptr::null_mut(),
            2 * page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(m, libc::MAP_FAILED);
        assert_eq!(libc::munmap(m.cast::<u8>().add(page).cast(), page), 0);
        m.cast::<u8>()
    };
    let at = page - std::mem::size_of::<gmp_go_attr>();
    // SAFETY: the struct fits in the mapped page, at an aligned offset.
    let attr = unsafe {
        let a = mem.add(at).cast::<gmp_go_attr>();
        a.write(gmp_go_attr {
            size: 1 << 40, // a lie: would scan far past the struct
            stack_size: 0,
            name: std::ptr::null(),
            hooks: std::ptr::null(),
        });
        a
    };
    let mut id: gmp_goid = 0;
    // SAFETY: attr is a valid struct whose size field lies.
    let rc = unsafe { gmp_go_ex(attr, Some(nothing), std::ptr::null_mut(), &mut id) };
    assert_eq!(rc, GMP_E2BIG);
    // SAFETY: the page mapped above.
    unsafe { libc::munmap(mem.cast(), page) };
}

/// gmp_fd_adopt refuses a regular file (not pollable) and leaves its flags alone.
#[test]
fn adopt_regular_file_is_einval() {
    let _s = serial();
    let path = std::ffi::CString::new(format!("/tmp/gmp-adopt-{}", std::process::id())).unwrap();
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600) };
    assert!(fd >= 0);
    assert_eq!(gmp_fd_adopt(fd), GMP_EINVAL);
    // SAFETY: our own fd.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert_eq!(fl & libc::O_NONBLOCK, 0, "the file was made non-blocking");
    // SAFETY: our own fd and path.
    unsafe {
        libc::close(fd);
        libc::unlink(path.as_ptr());
    }
}

/// After gmp_shutdown, stats and dumps say GMP_ESHUTDOWN.
#[test]
fn stats_and_dump_after_shutdown() {
    if role().as_deref() == Some("after") {
        assert_eq!(gmp_go(Some(nothing), std::ptr::null_mut()), 0);
        assert_eq!(gmp_shutdown(-1), 0);
        let mut s = gmp_stats {
            size: std::mem::size_of::<gmp_stats>(),
            ..Default::default()
        };
        // SAFETY: a writable struct with its size.
        assert_eq!(unsafe { gmp_read_stats(&mut s) }, GMP_ESHUTDOWN);
        assert_eq!(gmp_dump_goroutines(2), GMP_ESHUTDOWN);
        println!("ok");
        return;
    }
    let out = run_child(
        "stats_and_dump_after_shutdown",
        "after",
        &[],
        Duration::from_secs(30),
    );
    out.assert_ok("stats and dump after shutdown");
}

/// A frame larger than the guard page (C code with a big local array, no stack-clash
/// probes) moves the stack pointer past the guard; its first store lands below it. The
/// report names the goroutine, as for a fault in the guard itself.
#[cfg(target_arch = "x86_64")]
#[test]
fn frame_past_the_guard_is_reported() {
    if role().as_deref() == Some("bigframe") {
        let name = c"bigframe";
        gmp::rt::go_named(name, 64 * 1024, || {
            let (lo, size) = gmp::rt::current_stack_bounds();
            assert!(lo != 0);
            // The frame: one stack slot and half a page below our guard page's top,
            // as `sub rsp, N` with N > the guard would move it, then a store there.
            let target = lo - size - 2048;
            // SAFETY: not safe at all: this is the overflow under test; the store
            // faults and the handler aborts the process.
            unsafe {
                std::arch::asm!(
                    "mov rsp, {t}",
                    "mov qword ptr [rsp], 1",
                    t = in(reg) target,
                    options(noreturn)
                );
            }
        })
        .expect("spawn");
        std::thread::sleep(Duration::from_secs(20));
        eprintln!("child: the frame did not fault?!");
        std::process::exit(3);
    }
    let out = run_child(
        "frame_past_the_guard_is_reported",
        "bigframe",
        &[("RUST_BACKTRACE", "0")],
        Duration::from_secs(60),
    );
    assert_eq!(
        out.signal,
        Some(libc::SIGABRT),
        "child: {:?} {:?}\n{}",
        out.code,
        out.signal,
        out.stderr
    );
    assert!(
        out.stderr
            .contains("\"bigframe\": stack overflow (stack 64 KiB)"),
        "stderr:\n{}",
        out.stderr
    );
}

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

#[path = "fault_util.rs"]
mod fu;

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use fu::*;
use gmp::ffi::home::*;

fn stress() -> bool {
    std::env::var("GMP_STRESS").is_ok_and(|v| v != "0" && !v.is_empty())
}

fn scale(normal: usize, long: usize) -> usize {
    if stress() { long } else { normal }
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

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
        let mut sv = [0i32; 2];
        // SAFETY: socketpair into a 2-int array.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0);
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
        let wg = Arc::new(WaitGroup::new(6));
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
        let wg = WaitGroup::new(1);
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

//! Homes: run queues bound to a foreign thread. Their goroutines run only there; run
//! honours a budget; the fd and wait report ready work; close cancels blocked home
//! goroutines; a home thread blocked as a foreign thread keeps pumping its home.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use support::*;

fn make_home() -> *mut gmp_home {
    let mut h: *mut gmp_home = std::ptr::null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { gmp_home_make(&mut h) }, 0);
    assert!(!h.is_null());
    h
}

/// Closes h, pumps until run reports GMP_ECLOSED, frees it (home thread only).
fn close_and_free(h: *mut gmp_home) {
    let rc = gmp_home_close(h);
    assert!(rc == 0 || rc == GMP_ECLOSED, "close: {rc}");
    let start = std::time::Instant::now();
    loop {
        let rc = gmp_home_run(h, -1);
        if rc == GMP_ECLOSED {
            break;
        }
        assert!(rc >= 0, "run: {rc}");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "hang: home goroutines never ended"
        );
        gmp_home_wait(h, 1_000_000);
    }
    // SAFETY: run returned GMP_ECLOSED on this, the home thread.
    assert_eq!(unsafe { gmp_home_free(h) }, 0);
}

/// Pumps h until `cond` holds (a hang detector after 60 s).
fn pump_until(h: *mut gmp_home, what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "hang: pumping until {what}"
        );
        let rc = gmp_home_wait(h, 10_000_000);
        assert!(
            rc == 0 || rc == GMP_ETIMEDOUT || rc == GMP_EINTR,
            "wait: {rc}"
        );
        assert!(gmp_home_run(h, -1) >= 0);
    }
}

/// Runs `f` on a fresh thread that owns a fresh home, then closes and frees the home.
fn on_home_thread(f: impl FnOnce(*mut gmp_home) + Send + 'static) {
    std::thread::spawn(move || {
        let h = make_home();
        f(h);
        close_and_free(h);
    })
    .join()
    .unwrap();
}

#[test]
fn home_goroutines_run_only_on_the_home_thread() {
    let _s = serial();
    on_home_thread(|h| {
        let me = gettid();
        let n = 50;
        let wrong = Arc::new(AtomicU64::new(0));
        let finished = Arc::new(AtomicU64::new(0));
        let hp = HomePtr(h);
        let (w, f) = (wrong.clone(), finished.clone());
        // Spawned from another thread, woken by timers and by ordinary goroutines.
        let spawner = std::thread::spawn(move || {
            let hp = hp;
            for i in 0..n {
                let (w, f) = (w.clone(), f.clone());
                let rc = go_home(hp.0, move || {
                    for k in 0..20 {
                        if gettid() != me {
                            w.fetch_add(1, Ordering::SeqCst);
                        }
                        match (i + k) % 3 {
                            0 => assert_eq!(gmp_sleep(10_000), 0),
                            1 => {
                                let wg = Arc::new(WaitGroup::with(1));
                                let w2 = wg.clone();
                                go(move || assert_eq!(w2.done(), 0));
                                assert_eq!(wg.wait(), 0);
                            }
                            _ => gmp_gosched(),
                        }
                    }
                    // lock_os_thread is a no-op in a home (already bound).
                    assert_eq!(gmp_lock_os_thread(), 0);
                    assert_eq!(gmp_unlock_os_thread(), 0);
                    if gettid() != me {
                        w.fetch_add(1, Ordering::SeqCst);
                    }
                    f.fetch_add(1, Ordering::SeqCst);
                });
                assert_eq!(rc, 0);
            }
        });
        pump_until(h, "all home goroutines finish", || {
            finished.load(Ordering::SeqCst) == n
        });
        spawner.join().unwrap();
        assert_eq!(
            wrong.load(Ordering::SeqCst),
            0,
            "a home goroutine ran on another thread"
        );
    });
}

#[test]
fn run_respects_its_budget() {
    let _s = serial();
    on_home_thread(|h| {
        let n = 10u64;
        let per = 20_000u64;
        let switches = Arc::new(AtomicU64::new(0));
        let finished = Arc::new(AtomicU64::new(0));
        for _ in 0..n {
            let (s, f) = (switches.clone(), finished.clone());
            assert_eq!(
                go_home(h, move || {
                    for _ in 0..per {
                        s.fetch_add(1, Ordering::Relaxed);
                        gmp_gosched();
                    }
                    f.fetch_add(1, Ordering::SeqCst);
                }),
                0
            );
        }
        let rc = gmp_home_run(h, 1_000_000);
        assert!(rc > 0, "run ran nothing: {rc}");
        // It returned at the budget with work still ready, not after all of it.
        assert!(
            finished.load(Ordering::SeqCst) < n,
            "a 1 ms budget ran everything"
        );
        assert!(switches.load(Ordering::SeqCst) < n * per);
        assert_eq!(gmp_home_wait(h, 0), 0, "work is still ready");
        assert!(readable(gmp_home_fd(h)), "the fd shows the pending work");
        // A budget of 0 still runs at least one goroutine (never waits, though).
        let before = switches.load(Ordering::SeqCst);
        assert!(gmp_home_run(h, 0) >= 1);
        assert!(switches.load(Ordering::SeqCst) > before);
        // No budget: runs until nothing is ready, i.e. all finish (they only yield).
        while finished.load(Ordering::SeqCst) < n {
            assert!(gmp_home_run(h, -1) >= 0);
        }
        assert_eq!(switches.load(Ordering::SeqCst), n * per);
        assert!(!readable(gmp_home_fd(h)));
        assert_eq!(gmp_home_wait(h, 0), GMP_ETIMEDOUT);
    });
}

#[test]
fn fd_readable_only_while_work_is_ready() {
    let _s = serial();
    on_home_thread(|h| {
        let fd = gmp_home_fd(h);
        assert!(fd >= 0);
        assert_eq!(gmp_home_fd(h), fd, "one fd per home");
        assert!(!readable(fd), "idle home: fd not readable");
        let step = Arc::new(AtomicI32::new(0));
        let s = step.clone();
        assert_eq!(
            go_home(h, move || {
                s.store(1, Ordering::SeqCst);
                assert_eq!(gmp_sleep(5_000_000), 0);
                s.store(2, Ordering::SeqCst);
            }),
            0
        );
        assert!(readable(fd), "a new goroutine makes the fd readable");
        assert_eq!(gmp_home_run(h, -1), 1);
        assert_eq!(step.load(Ordering::SeqCst), 1);
        assert!(!readable(fd), "the goroutine sleeps: nothing ready");
        // The timer readies it from another thread: the fd turns readable by itself.
        wait_for("the sleeper to become ready", || readable(fd));
        assert_eq!(gmp_home_run(h, -1), 1);
        assert_eq!(step.load(Ordering::SeqCst), 2);
        assert!(!readable(fd));
    });
}

#[test]
fn wait_returns_work_wake_or_timeout() {
    let _s = serial();
    on_home_thread(|h| {
        let hp = HomePtr(h);
        // Timeout.
        let before = gmp_now();
        assert_eq!(gmp_home_wait(h, 10_000_000), GMP_ETIMEDOUT);
        assert!(gmp_now() - before >= 10_000_000, "wait timed out early");
        assert_eq!(gmp_home_wait(h, 0), GMP_ETIMEDOUT);
        // Work arriving from another thread.
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let t = std::thread::spawn(move || {
            let hp = hp;
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(go_home(hp.0, move || r.store(true, Ordering::SeqCst)), 0);
        });
        assert_eq!(gmp_home_wait(h, 60_000_000_000), 0);
        t.join().unwrap();
        assert_eq!(gmp_home_run(h, -1), 1);
        assert!(ran.load(Ordering::SeqCst));
        // Woken from another thread.
        let t = std::thread::spawn(move || {
            let hp = hp;
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(gmp_home_wake(hp.0), 0);
        });
        assert_eq!(gmp_home_wait(h, 60_000_000_000), GMP_EINTR);
        t.join().unwrap();
        // A wake that came before the wait is not lost.
        assert_eq!(gmp_home_wake(h), 0);
        assert_eq!(gmp_home_wait(h, 60_000_000_000), GMP_EINTR);
        // And is consumed: the next wait times out.
        assert_eq!(gmp_home_wait(h, 1_000_000), GMP_ETIMEDOUT);
    });
}

#[test]
fn close_cancels_blocked_home_goroutines() {
    let _s = serial();
    std::thread::spawn(|| {
        let h = make_home();
        let never = Arc::new(WaitGroup::with(1));
        let held = Arc::new(Mutex::new());
        assert_eq!(held.lock(), 0);
        let results = Arc::new(std::sync::Mutex::new(Vec::new()));
        let ended = Arc::new(AtomicU64::new(0));
        {
            let (nv, r, e) = (never.clone(), results.clone(), ended.clone());
            assert_eq!(
                go_home(h, move || {
                    let rc = nv.wait();
                    r.lock().unwrap().push(("waitgroup", rc));
                    // A closed home's goroutines never block again.
                    r.lock().unwrap().push(("sleep", gmp_sleep(60_000_000_000)));
                    e.fetch_add(1, Ordering::SeqCst);
                }),
                0
            );
            let (m, r, e) = (held.clone(), results.clone(), ended.clone());
            assert_eq!(
                go_home(h, move || {
                    let rc = m.lock();
                    r.lock().unwrap().push(("mutex", rc));
                    e.fetch_add(1, Ordering::SeqCst);
                }),
                0
            );
        }
        assert_eq!(gmp_home_run(h, -1), 2);
        assert_eq!(ended.load(Ordering::SeqCst), 0, "both are blocked");
        // SAFETY: not closed yet: refused.
        assert_eq!(unsafe { gmp_home_free(h) }, GMP_EAGAIN);
        // Close from another thread.
        let hp = HomePtr(h);
        std::thread::spawn(move || {
            let hp = hp;
            assert_eq!(gmp_home_close(hp.0), 0);
        })
        .join()
        .unwrap();
        assert_eq!(gmp_home_close(h), GMP_ECLOSED, "second close");
        assert_eq!(go_home(h, || {}), GMP_ECLOSED, "go_home after close");
        // SAFETY: closed but goroutines remain: refused.
        assert_eq!(unsafe { gmp_home_free(h) }, GMP_EAGAIN);
        // The next run cancels them; they finish.
        let mut spins = 0;
        loop {
            let rc = gmp_home_run(h, -1);
            if rc == GMP_ECLOSED {
                break;
            }
            assert!(rc >= 0);
            spins += 1;
            assert!(spins < 100_000, "hang: run never returned GMP_ECLOSED");
        }
        assert_eq!(ended.load(Ordering::SeqCst), 2);
        let mut got = results.lock().unwrap().clone();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("mutex", GMP_ECANCELED),
                ("sleep", GMP_ECANCELED),
                ("waitgroup", GMP_ECANCELED)
            ]
        );
        assert_eq!(gmp_home_run(h, -1), GMP_ECLOSED, "stays closed");
        // SAFETY: run returned GMP_ECLOSED on the home thread.
        assert_eq!(unsafe { gmp_home_free(h) }, 0);
        // The mutex was never taken by the canceled goroutine.
        assert_eq!(held.unlock(), 0);
        assert_eq!(held.trylock(), 0);
        assert_eq!(held.unlock(), 0);
        // After free, this thread may make a new home.
        let h2 = make_home();
        close_and_free(h2);
    })
    .join()
    .unwrap();
}

#[test]
fn blocked_home_thread_keeps_pumping() {
    let _s = serial();
    on_home_thread(|h| {
        // A waitgroup only a home goroutine can release: without pumping, a deadlock.
        let wg = Arc::new(WaitGroup::with(1));
        let w = wg.clone();
        assert_eq!(
            go_home(h, move || {
                assert_eq!(gmp_sleep(1_000_000), 0);
                assert_eq!(w.done(), 0);
            }),
            0
        );
        assert_eq!(wg.wait(), 0);
        // A mutex a home goroutine holds across a sleep.
        let mu = Arc::new(Mutex::new());
        let locked = Arc::new(WaitGroup::with(1));
        let (m, l) = (mu.clone(), locked.clone());
        assert_eq!(
            go_home(h, move || {
                assert_eq!(m.lock(), 0);
                assert_eq!(l.done(), 0);
                assert_eq!(gmp_sleep(2_000_000), 0);
                assert_eq!(m.unlock(), 0);
            }),
            0
        );
        assert_eq!(locked.wait(), 0);
        assert_eq!(mu.lock(), 0);
        assert_eq!(mu.unlock(), 0);
        // A cond signalled by a home goroutine.
        let cv = Arc::new(Cond::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (m, c, f) = (mu.clone(), cv.clone(), flag.clone());
        assert_eq!(
            go_home(h, move || {
                assert_eq!(m.lock(), 0);
                f.store(true, Ordering::SeqCst);
                assert_eq!(c.signal(), 0);
                assert_eq!(m.unlock(), 0);
            }),
            0
        );
        assert_eq!(mu.lock(), 0);
        while !flag.load(Ordering::SeqCst) {
            assert_eq!(cv.wait(&mu), 0);
        }
        assert_eq!(mu.unlock(), 0);
        // A plain sleep on the home thread runs home goroutines meanwhile.
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        assert_eq!(go_home(h, move || r.store(true, Ordering::SeqCst)), 0);
        assert_eq!(gmp_sleep(5_000_000), 0);
        assert!(
            ran.load(Ordering::SeqCst),
            "sleep on the home thread did not pump"
        );
        // Chains: home goroutine -> ordinary goroutine -> home goroutine -> done.
        let wg = Arc::new(WaitGroup::with(1));
        let (w, hp) = (wg.clone(), HomePtr(h));
        assert_eq!(
            go_home(h, move || {
                let hp = hp;
                go(move || {
                    let hp = hp;
                    assert_eq!(go_home(hp.0, move || assert_eq!(w.done(), 0)), 0);
                });
            }),
            0
        );
        assert_eq!(wg.wait(), 0);
    });
}

#[test]
fn misuse_is_refused() {
    let _s = serial();
    on_home_thread(|h| {
        // One home per thread.
        let mut h2: *mut gmp_home = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp_home_make(&mut h2) }, GMP_EALREADY);
        // Run / wait / free from another thread.
        let hp = HomePtr(h);
        std::thread::spawn(move || {
            let hp = hp;
            assert_eq!(gmp_home_run(hp.0, -1), GMP_EINVAL);
            assert_eq!(gmp_home_wait(hp.0, 0), GMP_EINVAL);
            // SAFETY: refused before any use of the home.
            assert_eq!(unsafe { gmp_home_free(hp.0) }, GMP_EINVAL);
        })
        .join()
        .unwrap();
        // From a goroutine (ordinary or of this home): refused too, and a goroutine
        // cannot make a home.
        let rcs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let wg = Arc::new(WaitGroup::with(1));
        let (r, w) = (rcs.clone(), wg.clone());
        go(move || {
            let hp = hp;
            r.lock().unwrap().push(gmp_home_run(hp.0, -1));
            r.lock().unwrap().push(gmp_home_wait(hp.0, 0));
            let mut x: *mut gmp_home = std::ptr::null_mut();
            // SAFETY: a valid out pointer.
            r.lock().unwrap().push(unsafe { gmp_home_make(&mut x) });
            assert_eq!(w.done(), 0);
        });
        assert_eq!(wg.wait(), 0);
        assert_eq!(
            *rcs.lock().unwrap(),
            vec![GMP_EINVAL, GMP_EINVAL, GMP_EALREADY]
        );
        let inner = Arc::new(AtomicI64::new(1));
        let i = inner.clone();
        assert_eq!(
            go_home(h, move || {
                let hp = hp;
                i.store(gmp_home_run(hp.0, -1) as i64, Ordering::SeqCst);
            }),
            0
        );
        assert_eq!(gmp_home_run(h, -1), 1);
        assert_eq!(
            inner.load(Ordering::SeqCst),
            GMP_EINVAL as i64,
            "run from a home goroutine"
        );
        // gmp_main from a home thread.
        assert_eq!(gmp::rt::main(|| {}), GMP_EALREADY);
    });
}

#[test]
fn go_home_with_attributes() {
    let _s = serial();
    on_home_thread(|h| {
        let ran = Arc::new(AtomicBool::new(false));
        let (f, arg) = c_closure({
            let r = ran.clone();
            move || r.store(true, Ordering::SeqCst)
        });
        let attr = gmp_go_attr {
            size: std::mem::size_of::<gmp_go_attr>(),
            stack_size: 64 << 10,
            name: c"home-worker".as_ptr(),
            hooks: std::ptr::null(),
        };
        // SAFETY: a live home, a valid attr, our own closure.
        assert_eq!(unsafe { gmp_go_home(h, &attr, f, arg) }, 0);
        // SAFETY: NULL fn is refused.
        let rc = unsafe { gmp_go_home(h, &attr, None, std::ptr::null_mut()) };
        assert_eq!(rc, GMP_EINVAL);
        assert_eq!(gmp_home_run(h, -1), 1);
        assert!(ran.load(Ordering::SeqCst));
    });
}

/// A goroutine on a home thread, with a fresh counting record's hooks of `flags` (and
/// a thread record that stays zero when `thread_record`), sleeps five times; returns
/// its (parks, resumes).
fn home_goroutine_hook_calls(flags: u64, thread_record: bool) -> (i64, i64) {
    let rec: &'static CountingHooks = Box::leak(Box::new(CountingHooks::new(false)));
    on_home_thread(move |h| {
        let done = Arc::new(AtomicBool::new(false));
        let d2 = done.clone();
        let hooks = if thread_record {
            rec.hooks_with_zero_thread_record(flags)
        } else {
            rec.hooks(flags)
        };
        let attr = attr_with_hooks(&hooks);
        let (f, arg) = c_closure(move || {
            for _ in 0..5 {
                assert_eq!(gmp_sleep(100_000), 0);
            }
            d2.store(true, Ordering::Release);
        });
        // SAFETY: valid attributes (copied) and entry.
        assert_eq!(unsafe { gmp_go_home(h, &attr, f, arg) }, 0);
        pump_until(h, "the goroutine's five sleeps", || {
            done.load(Ordering::Acquire)
        });
    });
    rec.counts()
}

/// `GMP_HOOKS_LAZY_RESUME` does not apply to a home's goroutines: their thread is the
/// program's, whose resting state the hook cannot assume, so every resume is called
/// even though the record (the first 16 bytes at ctx) stays zero.
#[test]
fn lazy_resume_is_ignored_for_home_goroutines() {
    let (parks, resumes) = home_goroutine_hook_calls(GMP_HOOKS_LAZY_RESUME, false);
    assert!(parks >= 5, "only {parks} parks");
    assert_eq!(resumes, parks, "a home goroutine's resume was skipped");
}

/// Nor does `GMP_HOOKS_LAZY_PARK`: a home goroutine's park is called even while its
/// thread's record is zero, to give the program's thread its own state back.
#[test]
fn lazy_park_is_ignored_for_home_goroutines() {
    let (parks, resumes) =
        home_goroutine_hook_calls(GMP_HOOKS_LAZY_RESUME | GMP_HOOKS_LAZY_PARK, true);
    assert!(
        parks >= 5,
        "only {parks} parks: a home goroutine's park was skipped"
    );
    assert_eq!(resumes, parks);
}

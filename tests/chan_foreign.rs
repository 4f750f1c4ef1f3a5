//! Channels between foreign threads (threads the runtime did not create) and goroutines
//! (API.md "Conventions": any thread may call any function; a blocking call blocks that
//! OS thread): both directions, unbuffered and buffered, ping-pong, fan-in and fan-out,
//! and thread <-> thread with no goroutine involved.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use support::*;

fn stream(tx_on: On, rx_on: On, cap: usize, n: u64) {
    let c = Ch::of::<u64>(cap);
    let tx = start(tx_on, move || {
        assert_eq!(in_goroutine(), tx_on == On::Go);
        for i in 0..n {
            c.put(i * 3 + 1);
        }
        assert_eq!(c.close(), 0);
    });
    let rx = start(rx_on, move || {
        assert_eq!(in_goroutine(), rx_on == On::Go);
        for i in 0..n {
            assert_eq!(c.get::<u64>(), i * 3 + 1);
        }
        assert_eq!(c.recv::<u64>().0, GMP_ECLOSED);
    });
    join_all(vec![tx, rx]);
    c.release();
}

#[test]
fn thread_to_goroutine() {
    let _s = serial();
    for cap in [0, 1, 16] {
        stream(On::Thread, On::Go, cap, 5_000);
    }
}

#[test]
fn goroutine_to_thread() {
    let _s = serial();
    for cap in [0, 1, 16] {
        stream(On::Go, On::Thread, cap, 5_000);
    }
}

#[test]
fn thread_to_thread() {
    let _s = serial();
    for cap in [0, 1, 16] {
        stream(On::Thread, On::Thread, cap, 5_000);
    }
}

#[test]
fn the_test_thread_itself_is_a_foreign_thread() {
    let _s = serial();
    assert!(!in_goroutine());
    for cap in [0, 4] {
        let c = Ch::of::<u64>(cap);
        let tx = spawn(move || {
            for i in 0..1000u64 {
                c.put(i);
            }
        });
        for i in 0..1000u64 {
            assert_eq!(c.get::<u64>(), i);
        }
        tx.join();
        c.release();
    }
}

/// Request/response between two sides: every step wakes the other side.
fn ping_pong(a: On, b: On, cap: usize, rounds: u64) {
    let req = Ch::of::<u64>(cap);
    let resp = Ch::of::<u64>(cap);
    let server = start(b, move || {
        loop {
            match req.recv::<u64>() {
                (0, v) => resp.put(v * 2 + 1),
                (GMP_ECLOSED, _) => break,
                (rc, _) => panic!("recv {rc}"),
            }
        }
    });
    let client = start(a, move || {
        for i in 0..rounds {
            req.put(i);
            assert_eq!(resp.get::<u64>(), i * 2 + 1);
        }
        assert_eq!(req.close(), 0);
    });
    join_all(vec![client, server]);
    req.release();
    resp.release();
}

#[test]
fn ping_pong_every_pairing() {
    let _s = serial();
    let n = scale(2_000, 100_000) as u64;
    for (a, b) in [
        (On::Thread, On::Go),
        (On::Go, On::Thread),
        (On::Thread, On::Thread),
        (On::Go, On::Go),
    ] {
        for cap in [0, 1] {
            ping_pong(a, b, cap, n);
        }
    }
}

#[test]
fn fan_in_from_threads_and_goroutines_to_one_thread() {
    let _s = serial();
    for cap in [0usize, 8] {
        let c = Ch::of::<u64>(cap);
        let per = 2_000u64;
        let mut js = Vec::new();
        for k in 0..6u64 {
            let on = if k % 2 == 0 { On::Thread } else { On::Go };
            js.push(start(on, move || {
                for i in 0..per {
                    c.put(k << 32 | i);
                }
            }));
        }
        let mut next = [0u64; 6];
        for _ in 0..6 * per {
            let v = c.get::<u64>();
            let (k, i) = ((v >> 32) as usize, v & 0xffff_ffff);
            assert_eq!(i, next[k], "producer {k}: out of order");
            next[k] += 1;
        }
        join_all(js);
        c.release();
    }
}

#[test]
fn fan_out_from_one_thread_to_threads_and_goroutines() {
    let _s = serial();
    for cap in [0usize, 8] {
        let c = Ch::of::<u64>(cap);
        let n = 10_000u64;
        let sum = Arc::new(AtomicU64::new(0));
        let got = Arc::new(Bitmap::new(n as usize));
        let mut js = Vec::new();
        for k in 0..6 {
            let on = if k % 2 == 0 { On::Thread } else { On::Go };
            let (sum, got) = (sum.clone(), got.clone());
            js.push(start(on, move || {
                loop {
                    match c.recv::<u64>() {
                        (0, v) => {
                            assert!(!got.set(v as usize), "{v} twice");
                            sum.fetch_add(v, Ordering::Relaxed);
                        }
                        (GMP_ECLOSED, _) => break,
                        (rc, _) => panic!("recv {rc}"),
                    }
                }
            }));
        }
        for i in 0..n {
            c.put(i);
        }
        assert_eq!(c.close(), 0);
        join_all(js);
        assert_eq!(got.count(), n as usize);
        assert_eq!(sum.load(Ordering::Relaxed), n * (n - 1) / 2);
        c.release();
    }
}

#[test]
fn a_blocked_thread_does_not_stall_goroutines() {
    // While a foreign thread is blocked in recv, goroutines keep running and can be the
    // ones that eventually wake it.
    let _s = serial();
    let c = Ch::of::<u64>(0);
    let rx = thread(move || assert_eq!(c.get::<u64>(), 1234));
    let work = Ch::of::<u64>(0);
    let mut js = Vec::new();
    for k in 0..4u64 {
        js.push(spawn(move || {
            let mut x = k;
            for _ in 0..1000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                gmp_gosched();
            }
            work.put(x | 1);
        }));
    }
    for _ in 0..4 {
        assert_ne!(work.get::<u64>(), 0);
    }
    join_all(js);
    spawn(move || c.put(1234u64)).join();
    rx.join();
    c.release();
    work.release();
}

// ---------------------------------------------------------------------------------------
// Home threads: a foreign thread that owns a home keeps running its home's goroutines
// while it blocks in a channel call (API.md "Conventions"), and a closed home's
// goroutines get GMP_ECANCELED from channel calls.

type BoxedFn = Box<dyn FnOnce() + Send + 'static>;

unsafe extern "C" fn call_boxed(arg: *mut std::ffi::c_void) {
    // SAFETY: a Box<BoxedFn> leaked by go_home, called once.
    let f = unsafe { Box::from_raw(arg as *mut BoxedFn) };
    f()
}

fn go_home(h: *mut gmp_home, f: impl FnOnce() + Send + 'static) {
    let b: Box<BoxedFn> = Box::new(Box::new(f));
    let arg = Box::into_raw(b) as *mut std::ffi::c_void;
    // SAFETY: a live home; the closure is taken by the goroutine.
    let rc = unsafe { gmp_go_home(h, std::ptr::null(), Some(call_boxed), arg) };
    assert_eq!(rc, 0);
}

fn make_home() -> *mut gmp_home {
    let mut h = std::ptr::null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { gmp_home_make(&mut h) }, 0);
    h
}

/// Closes the home, pumps it until its goroutines have ended, and frees it.
fn finish_home(h: *mut gmp_home) {
    assert_eq!(gmp_home_close(h), 0);
    let start = std::time::Instant::now();
    loop {
        match gmp_home_run(h, 10 * MS) {
            GMP_ECLOSED => break,
            rc => assert!(rc >= 0, "home_run {rc}"),
        }
        assert!(
            start.elapsed().as_secs() < 60,
            "home goroutines never ended"
        );
        gmp_home_wait(h, MS);
    }
    // SAFETY: the home thread, after run returned GMP_ECLOSED.
    assert_eq!(unsafe { gmp_home_free(h) }, 0);
}

#[test]
fn home_thread_blocked_in_recv_runs_its_own_producer() {
    let _s = serial();
    for cap in [0usize, 2] {
        run_on(On::Thread, move || {
            let h = make_home();
            let c = Ch::of::<u64>(cap);
            // The producer can only run on this thread: if recv did not pump the home,
            // this would deadlock.
            go_home(h, move || {
                for i in 0..200u64 {
                    c.put(i);
                }
            });
            for i in 0..200u64 {
                assert_eq!(c.get::<u64>(), i);
            }
            // The same through select, and the other direction (home goroutine receives).
            go_home(h, move || {
                for i in 0..50u64 {
                    assert_eq!(c.get::<u64>(), i);
                }
            });
            for i in 0..50u64 {
                let mut cs = [case_send(c, &i)];
                assert_eq!(select(&mut cs, -1), 0);
            }
            finish_home(h);
            c.release();
        });
    }
}

#[test]
fn home_goroutine_woken_by_a_goroutine_elsewhere() {
    let _s = serial();
    run_on(On::Thread, || {
        let h = make_home();
        let c = Ch::of::<u64>(0);
        let done = Ch::of::<u64>(1);
        go_home(h, move || {
            let mut sum = 0;
            for _ in 0..100 {
                sum += c.get::<u64>();
            }
            done.put(sum);
        });
        let tx = spawn(move || {
            for i in 0..100u64 {
                c.put(i);
            }
        });
        // Pump until the home goroutine reports (try: the thread must keep pumping).
        let sum = loop {
            assert!(gmp_home_run(h, MS) >= 0);
            if let (0, v) = done.try_recv::<u64>() {
                break v;
            }
            gmp_home_wait(h, MS);
        };
        assert_eq!(sum, 99 * 100 / 2);
        tx.join();
        finish_home(h);
        c.release();
        done.release();
    });
}

#[test]
fn home_close_cancels_channel_waits_and_leaves_no_stale_waiter() {
    let _s = serial();
    run_on(On::Thread, || {
        let h = make_home();
        let r = Ch::of::<u64>(0);
        let s = Ch::of::<u64>(0);
        let results = Ch::of::<i32>(8);
        go_home(h, move || results.put(r.recv::<u64>().0));
        go_home(h, move || results.put(s.send(5u64)));
        // A select over two more channels with no partners (not r and s: it would
        // match the sender above).
        let (r2, s2) = (Ch::of::<u64>(0), Ch::of::<u64>(0));
        go_home(h, move || {
            let mut x = 0u64;
            let v = 1u64;
            let mut cs = [case_recv(r2, &mut x), case_send(s2, &v)];
            results.put(select(&mut cs, -1));
        });
        // Let them park.
        for _ in 0..5 {
            gmp_home_run(h, MS);
        }
        assert_eq!(results.len(), 0, "nothing has returned yet");
        finish_home(h);
        for _ in 0..3 {
            assert_eq!(results.try_recv::<i32>(), (0, GMP_ECANCELED));
        }
        // The canceled waiters are gone from the channels.
        assert_eq!(
            r.try_send(1u64),
            GMP_EAGAIN,
            "a canceled receiver took a value"
        );
        assert_eq!(
            s.try_recv::<u64>().0,
            GMP_EAGAIN,
            "a canceled sender still offers"
        );
        assert_eq!(
            r2.try_send(1u64),
            GMP_EAGAIN,
            "a canceled select took a value"
        );
        assert_eq!(
            s2.try_recv::<u64>().0,
            GMP_EAGAIN,
            "a canceled select still offers"
        );
        for c in [r, s, r2, s2, results] {
            c.release();
        }
    });
}

/// Starts two goroutines on home `h` that ping-pong until `stop` is set, so the home
/// always has a ready goroutine; returns their round counter and channels.
fn busy_home(h: *mut gmp_home, stop: Arc<Flag>) -> (Arc<AtomicU64>, [Ch; 2]) {
    let (a, b) = (Ch::of::<u64>(0), Ch::of::<u64>(0));
    let rounds = Arc::new(AtomicU64::new(0));
    let r1 = rounds.clone();
    go_home(h, move || {
        let mut i = 0u64;
        // The home may be closed while this goroutine is mid-round (the test stops the
        // ping-pong with a flag and then closes the home): a cancelled call ends it.
        while !stop.get() {
            if a.send(i) != 0 {
                break;
            }
            let (rc, v) = b.recv::<u64>();
            if rc != 0 {
                break;
            }
            i = v + 1;
            r1.fetch_add(1, Ordering::Relaxed);
        }
        a.close();
    });
    go_home(h, move || {
        while let (0, v) = a.recv::<u64>() {
            if b.send(v) != 0 {
                break;
            }
        }
    });
    (rounds, [a, b])
}

/// Runs `wait` on a home thread whose home is kept busy (see [`busy_home`]) until another
/// thread sets the stop flag 2 s later (a liveness bound, far above what `wait` needs);
/// asserts `wait` returned while the home was still busy.
fn on_a_busy_home_thread(what: &'static str, wait: impl FnOnce() + Send + 'static) {
    let stop = Arc::new(Flag::default());
    let st = stop.clone();
    let stopper = thread(move || {
        std::thread::sleep(std::time::Duration::from_secs(2));
        st.set();
    });
    run_on(On::Thread, move || {
        let h = make_home();
        let (rounds, chans) = busy_home(h, stop.clone());
        let t0 = now();
        wait();
        let returned_while_busy = !stop.get();
        let took = (now() - t0) / MS;
        assert!(
            rounds.load(Ordering::Relaxed) > 0,
            "the home goroutines ran meanwhile"
        );
        // Let the ping-pong end before finishing the home.
        while !stop.get() {
            gmp_home_run(h, MS);
        }
        finish_home(h);
        for c in chans {
            c.release();
        }
        assert!(
            returned_while_busy,
            "{what}: returned only after the home went idle ({took} ms)"
        );
    });
    stopper.join();
}

/// A home thread blocked in a channel call pumps its home meanwhile; the call's timeout
/// must still end it while the home stays busy.
#[test]
fn home_thread_timeout_fires_while_its_home_is_busy() {
    let _s = serial();
    on_a_busy_home_thread("recv_timeout(5 ms)", || {
        let idle = Ch::of::<u64>(0);
        let t0 = now();
        assert_eq!(idle.recv_t::<u64>(5 * MS).0, GMP_ETIMEDOUT);
        assert!(now() - t0 >= 5 * MS);
        idle.release();
    });
}

/// The same with a wake-up instead of a timeout: a goroutine elsewhere sends the value
/// after 5 ms; the home thread's receive must return with it while its home stays busy.
#[test]
fn home_thread_recv_returns_when_woken_while_its_home_is_busy() {
    let _s = serial();
    on_a_busy_home_thread("recv woken by a sender", || {
        let c = Ch::of::<u64>(0);
        let tx = spawn(move || {
            sleep(5 * MS);
            c.put(99u64);
        });
        assert_eq!(c.get::<u64>(), 99);
        tx.join();
        c.release();
    });
}

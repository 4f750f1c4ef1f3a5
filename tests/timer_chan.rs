//! Timer channels (API.md "Channels"): `gmp_after` delivers one `gmp_now()` value, never
//! before `start + ns`, and only one; `gmp_ticker` ticks in order, never early (tick j is
//! at or after `start + j * period`), drops ticks a slow reader misses instead of queueing
//! them, and stops after `gmp_ticker_stop` (past a grace period for a tick in flight);
//! a period <= 0 is GMP_EINVAL. "Never early" is the only timing assertion.

mod support;

use support::*;

fn after(ns: i64) -> Ch {
    let mut c = std::ptr::null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { gmp_after(&mut c, ns) }, 0);
    Ch(c)
}

fn ticker(period: i64) -> Ch {
    let mut c = std::ptr::null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { gmp_ticker(&mut c, period) }, 0);
    Ch(c)
}

#[test]
fn after_fires_once_never_early() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            for ns in [0, 1, 100 * US, MS, 5 * MS] {
                let start = now();
                let c = after(ns);
                assert_eq!(c.cap(), 1);
                let (rc, v) = c.recv::<i64>();
                let got_at = now();
                assert_eq!(rc, 0);
                assert!(
                    v >= start + ns,
                    "after({ns}) delivered {} ns early",
                    start + ns - v
                );
                assert!(v <= got_at, "the value is the time it fired, not later");
                // Once only.
                assert_eq!(
                    c.recv_t::<i64>(ns.max(MS) * 2).0,
                    GMP_ETIMEDOUT,
                    "after({ns}) fired twice"
                );
                assert_eq!(c.len(), 0);
                c.release();
            }
        });
    }
}

#[test]
fn after_with_a_negative_duration_fires_at_once() {
    let _s = serial();
    let start = now();
    let c = after(-5 * MS);
    let (rc, v) = c.recv::<i64>();
    assert_eq!(rc, 0);
    assert!(v >= start);
    c.release();
}

#[test]
fn after_in_a_select_is_a_timeout() {
    // The Go idiom: select { case v := <-data: ...; case <-time.After(d): ... }.
    let _s = serial();
    in_go(|| {
        let data = Ch::of::<u64>(0);
        let start = now();
        let t = after(3 * MS);
        let (mut x, mut when) = (0u64, 0i64);
        let mut cs = [case_recv(data, &mut x), case_recv(t, &mut when)];
        assert_eq!(select(&mut cs, -1), 1);
        assert_eq!(cs[1].result, 0);
        assert!(when >= start + 3 * MS);
        t.release();
        data.release();
    });
}

#[test]
fn many_afters_each_fire_once_never_early() {
    let _s = serial();
    let mut js = Vec::new();
    for k in 0..64i64 {
        let on = if k % 8 == 7 { On::Thread } else { On::Go };
        js.push(start(on, move || {
            let ns = (k * 37 % 10) * 300 * US;
            let start = now();
            let c = after(ns);
            let v = c.get::<i64>();
            assert!(v >= start + ns, "after #{k} early");
            assert_eq!(
                c.recv_t::<i64>(2 * MS).0,
                GMP_ETIMEDOUT,
                "after #{k} fired twice"
            );
            c.release();
        }));
    }
    join_all(js);
}

#[test]
fn after_released_before_it_fires_is_harmless() {
    // The timer holds its own reference: releasing ours first must not crash or leak
    // into another channel.
    let _s = serial();
    for _ in 0..200 {
        after(200 * US).release();
    }
    for _ in 0..50 {
        after(0).release();
    }
    sleep(5 * MS);
    // Channels made now are not written by the old timers.
    let cs: Vec<Ch> = (0..20).map(|_| Ch::of::<i64>(1)).collect();
    sleep(2 * MS);
    for c in cs {
        assert_eq!(c.len(), 0);
        c.release();
    }
}

#[test]
fn ticker_ticks_in_order_never_early() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            let period = 2 * MS;
            let start = now();
            let t = ticker(period);
            assert_eq!(t.cap(), 1);
            let mut last = i64::MIN;
            for j in 1..=15i64 {
                let (rc, v) = t.recv::<i64>();
                assert_eq!(rc, 0);
                assert!(v > last, "tick {j} not after the previous one");
                // Ticks sit on the grid start' + k * period (start' >= start), k >= j
                // for the j-th received tick even when some were dropped.
                assert!(
                    v >= start + j * period,
                    "tick {j} early by {} ns",
                    start + j * period - v
                );
                last = v;
            }
            assert_eq!(gmp_ticker_stop(t.p()), 0);
            t.release();
        });
    }
}

#[test]
fn ticker_drops_ticks_for_a_slow_reader() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            let period = 10 * MS;
            let start = now();
            let t = ticker(period);
            // Miss five periods.
            sleep(5 * period + period / 2);
            let woke = now();
            assert!(t.len() <= 1, "more than one tick buffered");
            let (rc, first) = t.try_recv::<i64>();
            assert_eq!(rc, 0, "a tick is buffered");
            assert!(first >= start + period);
            // The missed ticks were dropped, not queued: anything available now is a
            // fresh tick (fired after we woke), never a backlog.
            match t.try_recv::<i64>() {
                (GMP_EAGAIN, _) => {}
                (0, v) => assert!(
                    v >= woke,
                    "a backlog tick from {} ns before waking",
                    woke - v
                ),
                (rc, _) => panic!("try_recv {rc}"),
            }
            // And the ticker keeps going.
            let (rc, next) = t.recv::<i64>();
            assert_eq!(rc, 0);
            assert!(next > first);
            assert_eq!(gmp_ticker_stop(t.p()), 0);
            t.release();
        });
    }
}

#[test]
fn ticker_stop_stops_ticks() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            let period = MS;
            let t = ticker(period);
            for _ in 0..3 {
                assert_eq!(t.recv::<i64>().0, 0);
            }
            assert_eq!(gmp_ticker_stop(t.p()), 0);
            // Grace period: one tick may have been in flight.
            sleep(3 * period);
            let _ = t.try_recv::<i64>();
            assert_eq!(
                t.recv_t::<i64>(10 * period).0,
                GMP_ETIMEDOUT,
                "a tick after stop"
            );
            // Stopping twice is harmless.
            assert_eq!(gmp_ticker_stop(t.p()), 0);
            t.release();
        });
    }
}

#[test]
fn ticker_stopped_and_released_at_once() {
    let _s = serial();
    for _ in 0..100 {
        let t = ticker(100 * US);
        assert_eq!(gmp_ticker_stop(t.p()), 0);
        t.release();
    }
    sleep(2 * MS);
}

#[test]
fn bad_arguments_are_einval() {
    let _s = serial();
    let mut c = std::ptr::null_mut();
    for p in [0, -1, -MS, i64::MIN] {
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp_ticker(&mut c, p) }, GMP_EINVAL, "period {p}");
    }
    assert!(c.is_null());
    // SAFETY: NULL out is rejected.
    unsafe {
        assert_eq!(gmp_ticker(std::ptr::null_mut(), MS), GMP_EINVAL);
        assert_eq!(gmp_after(std::ptr::null_mut(), MS), GMP_EINVAL);
    }
    assert_eq!(gmp_ticker_stop(std::ptr::null_mut()), GMP_EINVAL);
    let plain = Ch::of::<i64>(1);
    assert_eq!(gmp_ticker_stop(plain.p()), GMP_EINVAL, "not a ticker");
    plain.release();
    let a = after(i64::MAX);
    assert_eq!(
        gmp_ticker_stop(a.p()),
        GMP_EINVAL,
        "an after channel is not a ticker"
    );
    a.release();
}

#[test]
fn after_on_a_closed_channel_is_harmless() {
    // The user may close a timer channel; the timer's send then fails quietly.
    let _s = serial();
    let c = after(MS);
    assert_eq!(c.close(), 0);
    sleep(3 * MS);
    assert_eq!(c.recv::<i64>(), (GMP_ECLOSED, 0));
    c.release();
    let t = ticker(MS);
    assert_eq!(t.close(), 0);
    sleep(3 * MS);
    assert_eq!(t.recv::<i64>().0, GMP_ECLOSED);
    assert_eq!(gmp_ticker_stop(t.p()), 0);
    t.release();
}

#[test]
fn a_very_fast_ticker_stays_in_order_and_stops() {
    let _s = serial();
    for period in [1, 1_000] {
        let start = now();
        let t = ticker(period);
        let mut last = i64::MIN;
        for j in 1..=200 {
            let v = t.get::<i64>();
            assert!(v > last, "out of order");
            assert!(v >= start + j * period, "early");
            last = v;
        }
        assert_eq!(gmp_ticker_stop(t.p()), 0);
        sleep(MS);
        let _ = t.try_recv::<i64>();
        assert_eq!(t.recv_t::<i64>(3 * MS).0, GMP_ETIMEDOUT, "ticks after stop");
        t.release();
    }
}

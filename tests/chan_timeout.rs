//! Channel timeouts (API.md "Channels", "Conventions"): send and receive with a timeout
//! return GMP_ETIMEDOUT, never before the timeout has passed on gmp_now's clock; a
//! timed-out send has not consumed its value, and a timed-out receive leaves nothing
//! behind that could take a later value; timeouts racing a partner never lose or
//! duplicate a value. "Never early" is the only timing assertion here.

mod support;

use std::sync::Arc;

use support::*;

const TIMEOUTS: [i64; 6] = [1, US, 100 * US, MS, 5 * MS, 20 * MS];

#[test]
fn recv_timeout_is_never_early() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            for cap in [0usize, 1] {
                let c = Ch::of::<u64>(cap);
                for t in TIMEOUTS {
                    let t0 = now();
                    let (rc, _) = c.recv_t::<u64>(t);
                    let dt = now() - t0;
                    assert_eq!(rc, GMP_ETIMEDOUT, "cap {cap} timeout {t}");
                    assert!(dt >= t, "cap {cap}: timed out after {dt} ns < {t} ns");
                }
                assert_eq!(c.len(), 0);
                c.release();
            }
        });
    }
}

#[test]
fn send_timeout_is_never_early() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            for cap in [0usize, 2] {
                let c = Ch::of::<u64>(cap);
                for i in 0..cap as u64 {
                    c.put(i);
                }
                for t in TIMEOUTS {
                    let t0 = now();
                    let rc = c.send_t(77u64, t);
                    let dt = now() - t0;
                    assert_eq!(rc, GMP_ETIMEDOUT, "cap {cap} timeout {t}");
                    assert!(dt >= t, "cap {cap}: timed out after {dt} ns < {t} ns");
                }
                assert_eq!(c.len(), cap as i64);
                for i in 0..cap as u64 {
                    assert_eq!(c.try_recv::<u64>(), (0, i), "no timed-out value got in");
                }
                assert_eq!(c.try_recv::<u64>().0, GMP_EAGAIN);
                c.release();
            }
        });
    }
}

#[test]
fn timed_out_send_has_not_consumed_the_value() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        // Unbuffered: no receiver sees the value of a send that timed out.
        let c = Ch::of::<u64>(0);
        run_on(on, move || {
            assert_eq!(c.send_t(42u64, 5 * MS), GMP_ETIMEDOUT)
        });
        assert_eq!(
            c.try_recv::<u64>().0,
            GMP_EAGAIN,
            "a stale sender is still offering"
        );
        let rx = start(on, move || {
            assert_eq!(c.get::<u64>(), 43, "the timed-out 42 arrived")
        });
        sleep(2 * MS);
        c.put(43u64);
        rx.join();
        c.release();
        // Buffered and full: the value never enters the buffer.
        let c = Ch::of::<u64>(1);
        c.put(1u64);
        run_on(on, move || {
            assert_eq!(c.send_t(2u64, 2 * MS), GMP_ETIMEDOUT)
        });
        assert_eq!(c.get::<u64>(), 1);
        assert_eq!(
            c.try_recv::<u64>().0,
            GMP_EAGAIN,
            "the timed-out 2 was buffered"
        );
        c.release();
    }
}

#[test]
fn timed_out_recv_leaves_no_receiver_behind() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        let c = Ch::of::<u64>(0);
        run_on(on, move || {
            assert_eq!(c.recv_t::<u64>(2 * MS).0, GMP_ETIMEDOUT)
        });
        // A stale receiver would take this hand-off and lose the value.
        assert_eq!(
            c.try_send(5u64),
            GMP_EAGAIN,
            "a stale receiver accepted a value"
        );
        let tx = start(on, move || c.put(6u64));
        assert_eq!(c.get::<u64>(), 6);
        tx.join();
        c.release();
    }
}

#[test]
fn many_waiters_time_out_and_the_channel_still_works() {
    let _s = serial();
    let c = Ch::of::<u64>(0);
    let mut js = Vec::new();
    for k in 0..40i64 {
        let on = if k % 5 == 4 { On::Thread } else { On::Go };
        js.push(start(on, move || {
            let t = (k % 8 + 1) * 500 * US;
            let t0 = now();
            let rc = if k % 2 == 0 {
                c.recv_t::<u64>(t).0
            } else {
                c.send_t(k as u64, t)
            };
            let dt = now() - t0;
            // Receivers and senders on one unbuffered channel may meet each other.
            if rc == GMP_ETIMEDOUT {
                assert!(dt >= t, "waiter {k}: {dt} < {t}");
            } else {
                assert_eq!(rc, 0, "waiter {k}");
            }
        }));
    }
    join_all(js);
    assert_eq!(c.try_send(1u64), GMP_EAGAIN);
    assert_eq!(c.try_recv::<u64>().0, GMP_EAGAIN);
    let tx = spawn(move || c.put(2u64));
    assert_eq!(c.get::<u64>(), 2);
    tx.join();
    c.release();
}

#[test]
fn negative_and_huge_timeouts_wait_for_the_partner() {
    let _s = serial();
    for t in [-1, -5, i64::MIN, i64::MAX, i64::MAX - 1] {
        let c = Ch::of::<u64>(0);
        let tx = spawn(move || {
            sleep(2 * MS);
            assert_eq!(c.send_t(11u64, t), 0, "send timeout {t}");
        });
        assert_eq!(c.recv_t::<u64>(t), (0, 11), "recv timeout {t}");
        tx.join();
        c.release();
    }
}

/// Timeouts racing a partner: every value whose send returned 0 is received exactly
/// once, and no value whose send timed out is ever received.
fn race(tx_on: On, rx_on: On, cap: usize, rounds: usize, seed: u64) {
    let c = Ch::of::<u64>(cap);
    let sent = Arc::new(Bitmap::new(rounds));
    let got = Arc::new(Bitmap::new(rounds));
    let (s2, g2) = (sent.clone(), got.clone());
    let tx = start(tx_on, move || {
        let mut rng = Rng::new(seed);
        for v in 0..rounds {
            let t = [0, 1, 2 * US, 10 * US, 50 * US][rng.below(5) as usize];
            match c.send_t(v as u64, t) {
                0 => assert!(!s2.set(v)),
                GMP_ETIMEDOUT => assert!(t > 0),
                GMP_EAGAIN => assert_eq!(t, 0),
                rc => panic!("send {rc}"),
            }
        }
        assert_eq!(c.close(), 0);
    });
    let rx = start(rx_on, move || {
        let mut rng = Rng::new(seed ^ 0xabcdef);
        loop {
            let t = [0, 1, 3 * US, 20 * US, 80 * US][rng.below(5) as usize];
            match c.recv_t::<u64>(t) {
                (0, v) => assert!(!g2.set(v as usize), "value {v} received twice"),
                (GMP_ETIMEDOUT, _) => assert!(t > 0),
                (GMP_EAGAIN, _) => assert_eq!(t, 0),
                (GMP_ECLOSED, _) => break,
                (rc, _) => panic!("recv {rc}"),
            }
        }
    });
    join_all(vec![tx, rx]);
    if let Some(v) = sent.first_diff(&got) {
        panic!(
            "{tx_on:?} -> {rx_on:?} cap {cap}: value {v}: send said {}, receiver {}",
            if sent.get(v) { "sent" } else { "failed" },
            if got.get(v) { "got it" } else { "never got it" }
        );
    }
    assert!(sent.count() > 0, "nothing got through at all");
    eprintln!(
        "{tx_on:?} -> {rx_on:?} cap {cap}: {} of {rounds} sent",
        sent.count()
    );
    c.release();
}

#[test]
fn timeout_racing_a_partner_never_loses_or_duplicates() {
    let _s = serial();
    let rounds = scale(20_000, 1_000_000);
    for (i, (tx_on, rx_on)) in [
        (On::Go, On::Go),
        (On::Go, On::Thread),
        (On::Thread, On::Go),
        (On::Thread, On::Thread),
    ]
    .into_iter()
    .enumerate()
    {
        let n = if i == 0 { rounds } else { rounds / 4 };
        for cap in [0usize, 1] {
            race(tx_on, rx_on, cap, n, i as u64 * 2 + cap as u64);
        }
    }
}

#[test]
fn recv_timeout_racing_close_never_returns_a_value() {
    let _s = serial();
    for round in 0..scale(300, 10_000) {
        let c = Ch::of::<u64>(round % 2);
        let on = if round % 3 == 0 { On::Thread } else { On::Go };
        let t = (round % 7) as i64 * 10 * US + 1;
        let rx = start(on, move || {
            let t0 = now();
            match c.recv_fill(9u64, t) {
                (GMP_ECLOSED, v) => assert_eq!(v, 0),
                (GMP_ETIMEDOUT, _) => assert!(now() - t0 >= t),
                other => panic!("recv {other:?}"),
            }
        });
        if round % 2 == 0 {
            sleep((round % 5) as i64 * 10 * US);
        }
        assert_eq!(c.close(), 0);
        rx.join();
        c.release();
    }
}

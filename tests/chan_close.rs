//! Closing channels (API.md "Channels"): close wakes every waiter on both sides
//! (receivers get GMP_ECLOSED with a zeroed element, senders GMP_ECLOSED); a send on a
//! closed channel fails, tries and timeouts included; a receive drains the buffer first,
//! then fails; a second close returns GMP_ECLOSED. Waiters are goroutines and threads.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::*;

const N: usize = 8;

fn side(k: usize) -> On {
    if k % 2 == 0 { On::Go } else { On::Thread }
}

#[test]
fn close_wakes_every_parked_receiver_with_a_zeroed_elem() {
    let _s = serial();
    for cap in [0usize, 4] {
        for closer in [On::Go, On::Thread] {
            let c = Ch::of::<[u64; 3]>(cap);
            let woken = Arc::new(AtomicUsize::new(0));
            let mut js = Vec::new();
            for k in 0..N {
                let woken = woken.clone();
                js.push(start(side(k), move || {
                    // Prefilled: the receive must zero it.
                    let (rc, v) =
                        c.recv_fill([u64::MAX; 3], if k % 4 < 2 { -1 } else { 60_000 * MS });
                    assert_eq!(rc, GMP_ECLOSED, "receiver {k}");
                    assert_eq!(v, [0; 3], "receiver {k}: elem not zeroed");
                    woken.fetch_add(1, Ordering::SeqCst);
                }));
            }
            sleep(10 * MS);
            assert_eq!(
                woken.load(Ordering::SeqCst),
                0,
                "a receiver returned before close"
            );
            run_on(closer, move || assert_eq!(c.close(), 0));
            join_all(js);
            assert_eq!(woken.load(Ordering::SeqCst), N);
            c.release();
        }
    }
}

#[test]
fn close_wakes_every_parked_sender() {
    let _s = serial();
    for cap in [0usize, 3] {
        for closer in [On::Go, On::Thread] {
            let c = Ch::of::<u64>(cap);
            for i in 0..cap as u64 {
                c.put(100 + i);
            }
            let mut js = Vec::new();
            for k in 0..N {
                js.push(start(side(k), move || {
                    let rc = if k % 4 < 2 {
                        c.send(k as u64)
                    } else {
                        c.send_t(k as u64, 60_000 * MS)
                    };
                    assert_eq!(rc, GMP_ECLOSED, "sender {k}");
                }));
            }
            sleep(10 * MS);
            run_on(closer, move || assert_eq!(c.close(), 0));
            join_all(js);
            // The buffered values are still there, in order; no parked sender's value.
            for i in 0..cap as u64 {
                assert_eq!(c.recv::<u64>(), (0, 100 + i));
            }
            assert_eq!(c.recv::<u64>().0, GMP_ECLOSED);
            c.release();
        }
    }
}

#[test]
fn unbuffered_close_drops_a_parked_senders_value() {
    let _s = serial();
    let c = Ch::of::<u64>(0);
    let tx = spawn(move || assert_eq!(c.send(9u64), GMP_ECLOSED));
    sleep(5 * MS);
    assert_eq!(c.close(), 0);
    tx.join();
    assert_eq!(
        c.recv_fill(5u64, -1),
        (GMP_ECLOSED, 0),
        "the failed send's value"
    );
    c.release();
}

#[test]
fn send_on_closed_fails_every_way() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            for cap in [0usize, 2] {
                let c = Ch::of::<u64>(cap);
                assert_eq!(c.close(), 0);
                assert_eq!(c.send(1u64), GMP_ECLOSED);
                assert_eq!(
                    c.try_send(1u64),
                    GMP_ECLOSED,
                    "a try on closed is not EAGAIN"
                );
                assert_eq!(c.send_t(1u64, MS), GMP_ECLOSED);
                assert_eq!(c.len(), 0, "nothing was buffered");
                assert_eq!(c.recv::<u64>().0, GMP_ECLOSED);
                c.release();
            }
            // Size 0.
            let c = Ch::new(0, 1);
            assert_eq!(c.close(), 0);
            // SAFETY: size-0 elements may be NULL.
            let rc = unsafe { gmp_chan_send(c.p(), std::ptr::null()) };
            assert_eq!(rc, GMP_ECLOSED);
            c.release();
        });
    }
}

#[test]
fn recv_drains_the_buffer_then_reports_closed() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            let c = Ch::of::<u64>(5);
            for i in 1..=4u64 {
                c.put(i);
            }
            assert_eq!(c.close(), 0);
            assert_eq!(c.len(), 4);
            assert_eq!(c.try_recv::<u64>(), (0, 1));
            assert_eq!(c.recv_t::<u64>(MS), (0, 2));
            assert_eq!(c.recv::<u64>(), (0, 3));
            // SAFETY: NULL discards.
            assert_eq!(unsafe { gmp_chan_recv(c.p(), std::ptr::null_mut()) }, 0);
            assert_eq!(c.len(), 0);
            for t in [-1, 0, MS] {
                assert_eq!(c.recv_fill(7u64, t), (GMP_ECLOSED, 0), "timeout {t}");
            }
            // SAFETY: as above.
            let rc = unsafe { gmp_chan_recv(c.p(), std::ptr::null_mut()) };
            assert_eq!(rc, GMP_ECLOSED);
            c.release();
        });
    }
}

#[test]
fn double_close_reports_closed() {
    let _s = serial();
    let c = Ch::of::<u64>(1);
    assert_eq!(c.close(), 0);
    assert_eq!(c.close(), GMP_ECLOSED);
    in_go(move || assert_eq!(c.close(), GMP_ECLOSED));
    c.release();
    // Racing closers: exactly one wins.
    for round in 0..200 {
        let c = Ch::of::<u64>(round % 2);
        let wins = Arc::new(AtomicUsize::new(0));
        let mut js = Vec::new();
        for k in 0..4 {
            let wins = wins.clone();
            js.push(start(
                if k == 3 { On::Thread } else { On::Go },
                move || match c.close() {
                    0 => {
                        wins.fetch_add(1, Ordering::SeqCst);
                    }
                    GMP_ECLOSED => {}
                    rc => panic!("close {rc}"),
                },
            ));
        }
        join_all(js);
        assert_eq!(wins.load(Ordering::SeqCst), 1, "round {round}");
        c.release();
    }
}

#[test]
fn close_vs_parked_receivers_of_a_buffered_channel_with_values_in_flight() {
    // Receivers parked, then a burst of sends and a close: each value sent with rc 0 is
    // received exactly once; every receiver ends with GMP_ECLOSED.
    let _s = serial();
    for round in 0..scale(50, 1000) {
        let c = Ch::of::<u64>(round % 3);
        let got = Arc::new(Bitmap::new(64));
        let mut js = Vec::new();
        for k in 0..4 {
            let got = got.clone();
            js.push(start(side(k), move || {
                loop {
                    match c.recv::<u64>() {
                        (0, v) => assert!(!got.set(v as usize), "value {v} twice"),
                        (GMP_ECLOSED, v) => {
                            assert_eq!(v, 0);
                            break;
                        }
                        (rc, _) => panic!("recv {rc}"),
                    }
                }
            }));
        }
        let sent = Bitmap::new(64);
        for v in 0..64u64 {
            if v == 40 {
                assert_eq!(c.close(), 0);
            }
            match c.try_send(v) {
                0 => assert!(!sent.set(v as usize)),
                GMP_EAGAIN | GMP_ECLOSED => {}
                rc => panic!("send {rc}"),
            }
        }
        join_all(js);
        assert_eq!(
            sent.first_diff(&got),
            None,
            "round {round}: sent != received"
        );
        c.release();
    }
}

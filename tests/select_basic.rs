//! `gmp_select` (API.md "Channels"): send and receive cases mixed; NULL channels never
//! fire; a timeout returns GMP_ETIMEDOUT (never early) and timeout 0 with nothing ready
//! GMP_EAGAIN; no cases waits for the timeout; the fired case's `result` is GMP_ECLOSED for
//! a receive or a send on a closed channel (and only that case's `result` is written);
//! bad arguments are GMP_EINVAL; a select's other cases leave nothing behind once it
//! fires. From goroutines and foreign threads.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::*;

fn both(f: fn()) {
    for on in [On::Go, On::Thread] {
        run_on(on, f);
    }
}

#[test]
fn a_ready_recv_case_fires() {
    let _s = serial();
    both(|| {
        let a = Ch::of::<u64>(1);
        let b = Ch::of::<u64>(1);
        b.put(5u64);
        let (mut x, mut y) = (0u64, 0u64);
        let mut cs = [case_recv(a, &mut x), case_recv(b, &mut y)];
        assert_eq!(select(&mut cs, -1), 1);
        assert_eq!(cs[1].result, 0);
        assert_eq!(
            cs[0].result, RESULT_UNSET,
            "only the fired case's result is written"
        );
        assert_eq!((x, y), (0, 5));
        assert_eq!(b.len(), 0);
        a.release();
        b.release();
    });
}

#[test]
fn a_ready_send_case_fires() {
    let _s = serial();
    both(|| {
        let full = Ch::of::<u64>(1);
        full.put(1u64);
        let room = Ch::of::<u64>(1);
        let (v1, v2) = (10u64, 20u64);
        let mut cs = [case_send(full, &v1), case_send(room, &v2)];
        assert_eq!(select(&mut cs, 0), 1);
        assert_eq!(cs[1].result, 0);
        assert_eq!(cs[0].result, RESULT_UNSET);
        assert_eq!(room.try_recv::<u64>(), (0, 20));
        assert_eq!(
            full.try_recv::<u64>(),
            (0, 1),
            "the full channel got nothing"
        );
        assert_eq!(full.try_recv::<u64>().0, GMP_EAGAIN);
        full.release();
        room.release();
    });
}

#[test]
fn mixed_send_and_recv_cases() {
    let _s = serial();
    both(|| {
        let inbox = Ch::of::<u64>(2);
        let outbox = Ch::of::<u64>(1);
        outbox.put(0u64); // full: its send case is not ready
        let mut got = 0u64;
        let val = 99u64;
        // Only the receive is ready.
        inbox.put(7u64);
        let mut cs = [case_send(outbox, &val), case_recv(inbox, &mut got)];
        assert_eq!(select(&mut cs, 0), 1);
        assert_eq!(got, 7);
        // Only the send is ready.
        assert_eq!(outbox.get::<u64>(), 0);
        let mut cs = [case_send(outbox, &val), case_recv(inbox, &mut got)];
        assert_eq!(select(&mut cs, 0), 0);
        assert_eq!(outbox.get::<u64>(), 99);
        // Neither.
        outbox.put(0u64);
        let mut cs = [case_send(outbox, &val), case_recv(inbox, &mut got)];
        assert_eq!(select(&mut cs, 0), GMP_EAGAIN);
        assert_eq!(cs[0].result, RESULT_UNSET);
        assert_eq!(cs[1].result, RESULT_UNSET);
        inbox.release();
        outbox.release();
    });
}

#[test]
fn a_blocked_select_is_woken_by_either_side() {
    let _s = serial();
    for sel_on in [On::Go, On::Thread] {
        for partner in [On::Go, On::Thread] {
            for cap in [0usize, 1] {
                // Woken by a sender: the recv case fires with its value.
                let a = Ch::of::<u64>(cap);
                let b = Ch::of::<u64>(cap);
                let s = start(sel_on, move || {
                    let (mut x, mut y) = (0u64, 0u64);
                    let mut cs = [case_recv(a, &mut x), case_recv(b, &mut y)];
                    assert_eq!(select(&mut cs, -1), 1);
                    assert_eq!(cs[1].result, 0);
                    assert_eq!(y, 31);
                });
                sleep(2 * MS);
                run_on(partner, move || b.put(31u64));
                s.join();
                // Woken by a receiver: the send case fires.
                let full = Ch::of::<u64>(cap);
                if cap > 0 {
                    full.put(1u64);
                }
                let s = start(sel_on, move || {
                    let (v, mut x) = (77u64, 0u64);
                    let mut cs = [case_recv(a, &mut x), case_send(full, &v)];
                    assert_eq!(select(&mut cs, -1), 1);
                    assert_eq!(cs[1].result, 0);
                });
                sleep(2 * MS);
                run_on(partner, move || {
                    if cap > 0 {
                        assert_eq!(full.get::<u64>(), 1);
                    }
                    assert_eq!(full.get::<u64>(), 77);
                });
                s.join();
                // Nothing is left waiting on the other channels.
                assert_eq!(a.try_send(1u64), if cap > 0 { 0 } else { GMP_EAGAIN });
                assert_eq!(b.try_send(1u64), if cap > 0 { 0 } else { GMP_EAGAIN });
                for c in [a, b, full] {
                    c.release();
                }
            }
        }
    }
}

#[test]
fn null_channels_never_fire() {
    let _s = serial();
    both(|| {
        let real = Ch::of::<u64>(1);
        let mut x = 0u64;
        let v = 1u64;
        let mut cs = [
            case_recv(Ch::NULL, &mut x),
            case_send(Ch::NULL, &v),
            case_recv(real, &mut x),
        ];
        assert_eq!(select(&mut cs, 0), GMP_EAGAIN);
        let t0 = now();
        assert_eq!(select(&mut cs, 3 * MS), GMP_ETIMEDOUT);
        assert!(now() - t0 >= 3 * MS);
        // Among ready cases, only the real one ever fires.
        for i in 0..200u64 {
            real.put(i);
            let mut cs = [
                case_recv(Ch::NULL, &mut x),
                case_send(Ch::NULL, &v),
                case_recv(real, &mut x),
                case_send(Ch::NULL, std::ptr::null::<u64>()),
            ];
            assert_eq!(select(&mut cs, -1), 2);
            assert_eq!(x, i);
        }
        // Only NULL channels: nothing can ever fire.
        let mut cs = [case_recv(Ch::NULL, &mut x), case_send(Ch::NULL, &v)];
        assert_eq!(select(&mut cs, 0), GMP_EAGAIN);
        let t0 = now();
        assert_eq!(select(&mut cs, 2 * MS), GMP_ETIMEDOUT);
        assert!(now() - t0 >= 2 * MS);
        real.release();
    });
}

#[test]
fn timeout_is_never_early() {
    let _s = serial();
    both(|| {
        let a = Ch::of::<u64>(0);
        let b = Ch::of::<u64>(1);
        b.put(0u64); // full
        let mut x = 0u64;
        let v = 3u64;
        for t in [1, US, 100 * US, MS, 5 * MS] {
            let mut cs = [case_recv(a, &mut x), case_send(b, &v), case_send(a, &v)];
            let t0 = now();
            assert_eq!(select(&mut cs, t), GMP_ETIMEDOUT, "timeout {t}");
            let dt = now() - t0;
            assert!(dt >= t, "select timed out after {dt} < {t}");
            assert!(cs.iter().all(|c| c.result == RESULT_UNSET));
        }
        // The timed-out select left nothing behind on either channel.
        assert_eq!(a.try_send(1u64), GMP_EAGAIN);
        assert_eq!(a.try_recv::<u64>().0, GMP_EAGAIN);
        assert_eq!(b.len(), 1);
        a.release();
        b.release();
    });
}

#[test]
fn timeout_zero_with_nothing_ready_is_eagain() {
    let _s = serial();
    both(|| {
        let a = Ch::of::<u64>(0);
        let mut x = 0u64;
        let mut cs = [case_recv(a, &mut x)];
        assert_eq!(select(&mut cs, 0), GMP_EAGAIN);
        let v = 1u64;
        let mut cs = [case_send(a, &v)];
        assert_eq!(select(&mut cs, 0), GMP_EAGAIN);
        a.release();
    });
}

#[test]
fn no_cases_waits_for_the_timeout() {
    let _s = serial();
    both(|| {
        for t in [1, MS, 3 * MS] {
            let t0 = now();
            // SAFETY: n = 0; the pointer is never read.
            let rc = unsafe { gmp_select(std::ptr::null_mut(), 0, t) };
            assert_eq!(rc, GMP_ETIMEDOUT);
            assert!(now() - t0 >= t);
        }
        // SAFETY: as above.
        let rc = unsafe { gmp_select(std::ptr::null_mut(), 0, 0) };
        assert_eq!(rc, GMP_EAGAIN);
        let mut none: [gmp_select_case; 0] = [];
        assert_eq!(select(&mut none, MS), GMP_ETIMEDOUT);
    });
}

#[test]
fn closed_channels_fire_with_result_eclosed() {
    let _s = serial();
    both(|| {
        for cap in [0usize, 2] {
            let c = Ch::of::<[u64; 2]>(cap);
            let open = Ch::of::<[u64; 2]>(0);
            assert_eq!(c.close(), 0);
            // Receive on closed: result GMP_ECLOSED, elem zeroed.
            let mut x = [u64::MAX; 2];
            let mut y = [u64::MAX; 2];
            let mut cs = [case_recv(open, &mut y), case_recv(c, &mut x)];
            assert_eq!(select(&mut cs, -1), 1);
            assert_eq!(cs[1].result, GMP_ECLOSED);
            assert_eq!(x, [0, 0], "elem zeroed");
            assert_eq!(y, [u64::MAX; 2]);
            // Send on closed: result GMP_ECLOSED.
            let v = [1u64, 2];
            let mut cs = [case_recv(open, &mut y), case_send(c, &v)];
            assert_eq!(select(&mut cs, 0), 1);
            assert_eq!(cs[1].result, GMP_ECLOSED);
            assert_eq!(cs[0].result, RESULT_UNSET);
            // A closed channel with buffered values delivers them first.
            let d = Ch::of::<[u64; 2]>(2);
            d.put([4u64, 5]);
            assert_eq!(d.close(), 0);
            let mut cs = [case_recv(d, &mut x)];
            assert_eq!(select(&mut cs, 0), 0);
            assert_eq!((cs[0].result, x), (0, [4, 5]));
            let mut cs = [case_recv(d, &mut x)];
            assert_eq!(select(&mut cs, 0), 0);
            assert_eq!((cs[0].result, x), (GMP_ECLOSED, [0, 0]));
            for ch in [c, open, d] {
                ch.release();
            }
        }
    });
}

#[test]
fn close_wakes_a_blocked_select() {
    let _s = serial();
    for sel_on in [On::Go, On::Thread] {
        for send_case in [false, true] {
            let other = Ch::of::<u64>(0);
            let c = Ch::of::<u64>(0);
            let s = start(sel_on, move || {
                let mut x = 5u64;
                let mut y = 6u64;
                let v = 9u64;
                let mut cs = [
                    case_recv(other, &mut y),
                    if send_case {
                        case_send(c, &v)
                    } else {
                        case_recv(c, &mut x)
                    },
                ];
                assert_eq!(select(&mut cs, -1), 1);
                assert_eq!(cs[1].result, GMP_ECLOSED);
                assert_eq!(cs[0].result, RESULT_UNSET);
                if !send_case {
                    assert_eq!(x, 0, "elem zeroed");
                }
                assert_eq!(y, 6);
            });
            sleep(3 * MS);
            assert_eq!(c.close(), 0);
            s.join();
            assert_eq!(
                other.try_send(1u64),
                GMP_EAGAIN,
                "a stale case on the other channel"
            );
            other.release();
            c.release();
        }
    }
}

#[test]
fn bad_arguments_are_einval() {
    let _s = serial();
    let c = Ch::of::<u64>(1);
    let mut x = 0u64;
    for op in [0, 3, -1, GMP_SEND | GMP_RECV, i32::MAX] {
        let mut cs = [case_recv(c, &mut x)];
        cs[0].op = op;
        assert_eq!(select(&mut cs, 0), GMP_EINVAL, "op {op}");
        // Also on a NULL channel, and with a valid case beside it.
        let mut cs = [case_recv(c, &mut x), case_recv(Ch::NULL, &mut x)];
        cs[1].op = op;
        assert_eq!(select(&mut cs, -1), GMP_EINVAL, "op {op} on NULL");
    }
    // NULL element to send on a non-empty type.
    let mut cs = [case_send(c, std::ptr::null::<u64>())];
    assert_eq!(select(&mut cs, 0), GMP_EINVAL);
    // NULL cases with n > 0; too many cases.
    // SAFETY: rejected before any access.
    let rc = unsafe { gmp_select(std::ptr::null_mut(), 1, 0) };
    assert_eq!(rc, GMP_EINVAL);
    let mut many: Vec<gmp_select_case> = (0..65537).map(|_| case_recv(Ch::NULL, &mut x)).collect();
    assert_eq!(select(&mut many, 0), GMP_EINVAL);
    // Nothing was consumed by the rejected calls.
    assert_eq!(c.try_send(1u64), 0);
    assert_eq!(c.len(), 1);
    c.release();
}

#[test]
fn size_zero_send_case_takes_a_null_elem() {
    let _s = serial();
    let c = Ch::new(0, 1);
    let mut cs = [case_send(c, std::ptr::null::<u8>())];
    assert_eq!(select(&mut cs, 0), 0);
    let mut cs = [case_recv(c, std::ptr::null_mut::<u8>())];
    assert_eq!(select(&mut cs, 0), 0);
    c.release();
}

#[test]
fn select_with_both_sides_of_one_unbuffered_channel() {
    // Go allows it: a select never matches itself, but two such selects match each
    // other (one sends, the other receives).
    let _s = serial();
    let c = Ch::of::<u64>(0);
    let mut x = 0u64;
    let v = 1u64;
    let mut cs = [case_send(c, &v), case_recv(c, &mut x)];
    assert_eq!(
        select(&mut cs, 2 * MS),
        GMP_ETIMEDOUT,
        "a select matched itself"
    );
    let rounds = scale(2_000, 100_000);
    let sent = Arc::new(AtomicUsize::new(0));
    let recvd = Arc::new(AtomicUsize::new(0));
    let mut js = Vec::new();
    for k in 0..2u64 {
        let (sent, recvd) = (sent.clone(), recvd.clone());
        js.push(start(if k == 0 { On::Go } else { On::Thread }, move || {
            for i in 0..rounds as u64 {
                let mine = k << 32 | i;
                let mut got = u64::MAX;
                let mut cs = [case_send(c, &mine), case_recv(c, &mut got)];
                match select(&mut cs, -1) {
                    0 => {
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                    1 => {
                        assert_eq!(got >> 32, 1 - k, "received its own value");
                        assert_eq!(got & 0xffff_ffff, i, "pairs stay in lockstep");
                        recvd.fetch_add(1, Ordering::SeqCst);
                    }
                    rc => panic!("select {rc}"),
                }
            }
        }));
    }
    join_all(js);
    assert_eq!(sent.load(Ordering::SeqCst), rounds);
    assert_eq!(recvd.load(Ordering::SeqCst), rounds);
    c.release();
}

#[test]
fn the_same_channel_in_two_cases() {
    let _s = serial();
    let c = Ch::of::<u64>(0);
    let s = spawn(move || {
        let (mut x, mut y) = (0u64, 0u64);
        let mut cs = [case_recv(c, &mut x), case_recv(c, &mut y)];
        let i = select(&mut cs, -1);
        assert!(i == 0 || i == 1);
        assert_eq!(if i == 0 { (x, y) } else { (y, x) }, (8, 0));
    });
    sleep(2 * MS);
    c.put(8u64);
    s.join();
    // The second case's entry is stale: it must not take a value now.
    assert_eq!(c.try_send(9u64), GMP_EAGAIN);
    c.release();
}

#[test]
fn a_fired_select_leaves_no_stale_receiver_behind() {
    // After a select over many channels fires on one, sends on the others find no
    // receiver (a stale case that took a value would lose it).
    let _s = serial();
    for round in 0..scale(300, 10_000) {
        let chans: Vec<Ch> = (0..4).map(|_| Ch::of::<u64>(0)).collect();
        let cs2 = chans.clone();
        let on = if round % 4 == 3 { On::Thread } else { On::Go };
        let s = start(on, move || {
            let mut bufs = [0u64; 4];
            let p = bufs.as_mut_ptr();
            // SAFETY: four distinct elements of `bufs`.
            let mut cs: Vec<_> = (0..4)
                .map(|i| case_recv(cs2[i], unsafe { p.add(i) }))
                .collect();
            let i = select(&mut cs, -1);
            assert!((0..4).contains(&i));
            assert_eq!(bufs[i as usize], 100 + i as u64);
        });
        let k = round % 4;
        wait_for("the select to park", || {
            chans[k].try_send(100 + k as u64) == 0
        });
        s.join();
        for (j, c) in chans.iter().enumerate() {
            assert_eq!(
                c.try_send(5u64),
                GMP_EAGAIN,
                "round {round}: stale case {j}"
            );
            c.release();
        }
    }
}

#[test]
fn a_select_parked_on_both_sides_pairs_with_plain_partners() {
    // The one case where a channel has live waiters on both queues: a single select
    // blocked on the send and the receive side of one unbuffered channel. A plain
    // receiver takes its send case; a plain sender fills its receive case.
    let _s = serial();
    for partner in [On::Go, On::Thread] {
        for plain_recv in [true, false] {
            let c = Ch::of::<[u64; 4]>(0);
            let s = spawn(move || {
                let v = [1u64, 2, 3, 4];
                let mut got = [0u64; 4];
                let mut cs = [case_send(c, &v), case_recv(c, &mut got)];
                let i = select(&mut cs, -1);
                if plain_recv {
                    assert_eq!(i, 0, "the plain receiver took the send case");
                } else {
                    assert_eq!(i, 1);
                    assert_eq!(got, [5, 6, 7, 8]);
                }
            });
            sleep(3 * MS);
            run_on(partner, move || {
                if plain_recv {
                    assert_eq!(c.get::<[u64; 4]>(), [1, 2, 3, 4]);
                } else {
                    c.put([5u64, 6, 7, 8]);
                }
            });
            s.join();
            assert_eq!(c.try_send([0u64; 4]), GMP_EAGAIN, "stale receive case");
            assert_eq!(c.try_recv::<[u64; 4]>().0, GMP_EAGAIN, "stale send case");
            c.release();
        }
    }
}

#[test]
fn large_elements_through_select() {
    let _s = serial();
    for size in [1usize, 24, 4096, 65536] {
        for cap in [0usize, 1] {
            let c = Ch::new(size, cap);
            // Each side's other case is on a channel nobody else uses.
            let (other, other2) = (Ch::new(size, 0), Ch::new(size, 0));
            let tx = spawn(move || {
                let v: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
                let mut cs = [case_send(other2, v.as_ptr()), case_send(c, v.as_ptr())];
                assert_eq!(select(&mut cs, -1), 1);
            });
            let mut buf = vec![0xcdu8; size + 32];
            let mut junk = vec![0u8; size];
            let mut cs = [
                case_recv(other, junk.as_mut_ptr()),
                case_recv(c, buf.as_mut_ptr()),
            ];
            assert_eq!(select(&mut cs, -1), 1);
            tx.join();
            assert!(
                (0..size).all(|i| buf[i] == (i * 7 + size) as u8),
                "size {size}"
            );
            assert!(
                buf[size..].iter().all(|&b| b == 0xcd),
                "wrote past the element"
            );
            c.release();
            other.release();
            other2.release();
        }
    }
}

//! Buffered channels (API.md "Channels"): FIFO order, len/cap, tries (timeout 0) that
//! return GMP_EAGAIN when full or empty, the ring wrapping around, and a receive on a full
//! buffer that lets a parked sender refill the freed slot behind the buffered values.

mod support;

use support::*;

#[test]
fn fifo_10000_values_capacity_7() {
    let _s = serial();
    for (tx_on, rx_on) in SIDES {
        let n = 10_000u64;
        let c = Ch::of::<u64>(7);
        assert_eq!(c.cap(), 7);
        let tx = start(tx_on, move || {
            for i in 0..n {
                c.put(i);
                let l = c.len();
                assert!((0..=7).contains(&l), "len {l} outside 0..=cap");
            }
        });
        let rx = start(rx_on, move || {
            for i in 0..n {
                assert_eq!(c.get::<u64>(), i, "{tx_on:?} -> {rx_on:?}: out of order");
            }
        });
        join_all(vec![tx, rx]);
        assert_eq!(c.len(), 0);
        assert_eq!(c.try_recv::<u64>().0, GMP_EAGAIN);
        c.release();
    }
}

#[test]
fn len_and_cap_follow_the_buffer() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            let c = Ch::of::<u32>(7);
            assert_eq!((c.len(), c.cap()), (0, 7));
            for i in 0..7u32 {
                assert_eq!(c.try_send(i), 0);
                assert_eq!(c.len(), i as i64 + 1);
            }
            for i in 0..7u32 {
                assert_eq!(c.try_recv::<u32>(), (0, i));
                assert_eq!(c.len(), 6 - i as i64);
            }
            assert_eq!(c.cap(), 7, "cap never changes");
            c.release();
        });
    }
}

#[test]
fn try_returns_eagain_when_full_or_empty() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            let c = Ch::of::<u64>(3);
            assert_eq!(c.recv_fill(0xdead_beefu64, 0), (GMP_EAGAIN, 0xdead_beef));
            for i in 0..3u64 {
                assert_eq!(c.try_send(i), 0);
            }
            for _ in 0..3 {
                assert_eq!(c.try_send(99u64), GMP_EAGAIN, "full");
                assert_eq!(c.len(), 3, "a failed try did not enqueue");
            }
            for i in 0..3u64 {
                assert_eq!(c.try_recv::<u64>(), (0, i), "no 99 was queued");
            }
            assert_eq!(c.try_recv::<u64>().0, GMP_EAGAIN, "empty");
            c.release();
        });
    }
}

#[test]
fn ring_wraps_around() {
    let _s = serial();
    in_go(|| {
        let c = Ch::of::<[u8; 24]>(5);
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        let val = |i: u64| {
            let mut a = [0u8; 24];
            a[..8].copy_from_slice(&i.to_le_bytes());
            a[8..16].copy_from_slice(&(!i).to_le_bytes());
            a[16..].copy_from_slice(&i.wrapping_mul(7).to_le_bytes());
            a
        };
        let mut rng = Rng::new(5);
        for _ in 0..2_000 {
            // Push a few, pull a few, so the ring's indices pass every slot and wrap.
            for _ in 0..rng.below(6) {
                match c.try_send(val(next_in)) {
                    0 => next_in += 1,
                    GMP_EAGAIN => assert_eq!(c.len(), 5),
                    rc => panic!("try_send {rc}"),
                }
            }
            for _ in 0..rng.below(6) {
                match c.try_recv::<[u8; 24]>() {
                    (0, v) => {
                        assert_eq!(v, val(next_out));
                        next_out += 1;
                    }
                    (GMP_EAGAIN, _) => assert_eq!(c.len(), 0),
                    (rc, _) => panic!("try_recv {rc}"),
                }
            }
            assert_eq!(c.len() as u64, next_in - next_out);
        }
        c.release();
    });
}

#[test]
fn recv_on_full_buffer_takes_the_parked_senders_value_last() {
    let _s = serial();
    for (tx_on, rx_on) in SIDES {
        let c = Ch::of::<u64>(4);
        for i in 0..4u64 {
            c.put(i);
        }
        // This one parks (buffer full); the first receive moves its value into the
        // freed slot, behind 1, 2, 3.
        let tx = start(tx_on, move || c.put(4u64));
        sleep(5 * MS);
        assert_eq!(c.len(), 4);
        run_on(rx_on, move || {
            for i in 0..5u64 {
                assert_eq!(c.get::<u64>(), i);
            }
        });
        tx.join();
        assert_eq!(c.len(), 0);
        c.release();
    }
}

#[test]
fn parked_senders_on_full_buffer_all_get_through() {
    let _s = serial();
    let c = Ch::of::<u64>(2);
    c.put(1000u64);
    c.put(1001u64);
    let mut js = Vec::new();
    for k in 0..8u64 {
        let on = if k % 2 == 0 { On::Go } else { On::Thread };
        js.push(start(on, move || c.put(k)));
    }
    sleep(5 * MS);
    // The buffered values come first, in order; then each parked sender's value once.
    assert_eq!(c.get::<u64>(), 1000);
    assert_eq!(c.get::<u64>(), 1001);
    let mut seen = [false; 8];
    for _ in 0..8 {
        let v = c.get::<u64>() as usize;
        assert!(v < 8 && !seen[v], "value {v} twice or unknown");
        seen[v] = true;
    }
    join_all(js);
    assert_eq!(c.try_recv::<u64>().0, GMP_EAGAIN);
    c.release();
}

#[test]
fn blocked_receivers_on_empty_buffer_each_get_one() {
    let _s = serial();
    let c = Ch::of::<u64>(3);
    let out = Ch::of::<u64>(16);
    let mut js = Vec::new();
    for k in 0..8 {
        let on = if k % 2 == 0 { On::Go } else { On::Thread };
        js.push(start(on, move || out.put(c.get::<u64>())));
    }
    sleep(5 * MS);
    for v in 0..8u64 {
        c.put(v);
    }
    join_all(js);
    let mut seen = [false; 8];
    for _ in 0..8 {
        let v = out.get::<u64>() as usize;
        assert!(!seen[v]);
        seen[v] = true;
    }
    assert_eq!(c.len(), 0);
    c.release();
    out.release();
}

#[test]
fn size_zero_elements_count_tokens() {
    let _s = serial();
    // chan struct{} with a buffer: a counting semaphore.
    let c = Ch::new(0, 3);
    for _ in 0..3 {
        // SAFETY: size-0 elements may be NULL.
        let rc = unsafe { gmp_chan_send_timeout(c.p(), std::ptr::null(), 0) };
        assert_eq!(rc, 0);
    }
    // SAFETY: as above.
    let rc = unsafe { gmp_chan_send_timeout(c.p(), std::ptr::null(), 0) };
    assert_eq!(rc, GMP_EAGAIN);
    assert_eq!(c.len(), 3);
    for _ in 0..3 {
        // SAFETY: NULL discards.
        let rc = unsafe { gmp_chan_recv_timeout(c.p(), std::ptr::null_mut(), 0) };
        assert_eq!(rc, 0);
    }
    assert_eq!(c.len(), 0);
    c.release();
}

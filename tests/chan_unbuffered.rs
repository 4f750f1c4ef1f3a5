//! Unbuffered channels (API.md "Channels"): a send hands its value to a receiver
//! directly and blocks until one takes it; values of every element size arrive intact
//! (and nothing is written past the element); size and overflow limits; a receive with a
//! NULL element discards the value. Each side runs in a goroutine or on a foreign thread.

mod support;

use std::ffi::c_void;
use std::sync::Arc;

use support::*;

#[test]
fn send_blocks_until_a_receiver_takes_it() {
    let _s = serial();
    for (tx_on, rx_on) in SIDES {
        let c = Ch::of::<u64>(0);
        let sent = Arc::new(Flag::default());
        let s2 = sent.clone();
        let tx = start(tx_on, move || {
            assert_eq!(c.send(42u64), 0);
            s2.set();
        });
        // A correct send never returns here; the sleep only gives a broken one the time
        // to show it.
        sleep(20 * MS);
        assert!(!sent.get(), "{tx_on:?}: send returned with no receiver");
        assert_eq!(c.len(), 0, "an unbuffered channel buffers nothing");
        assert_eq!(c.cap(), 0);
        let rx = start(rx_on, move || assert_eq!(c.get::<u64>(), 42));
        rx.join();
        tx.join();
        assert!(sent.get());
        c.release();
    }
}

#[test]
fn recv_blocks_until_a_sender_comes() {
    let _s = serial();
    for (tx_on, rx_on) in SIDES {
        let c = Ch::of::<u64>(0);
        let got = Arc::new(Flag::default());
        let g2 = got.clone();
        let rx = start(rx_on, move || {
            assert_eq!(c.get::<u64>(), 7);
            g2.set();
        });
        sleep(20 * MS);
        assert!(!got.get(), "{rx_on:?}: recv returned with no sender");
        start(tx_on, move || c.put(7u64)).join();
        rx.join();
        assert!(got.get());
        c.release();
    }
}

/// The byte pattern of value `k` of an element of `size` bytes.
fn pattern(size: usize, k: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i.wrapping_mul(31) ^ k.wrapping_mul(131) ^ (i >> 8)) as u8)
        .collect()
}

const CANARY: u8 = 0xcd;
const SLACK: usize = 64;

/// Sends `n` values of `size` bytes from one side to the other over a channel of
/// capacity `cap`; the receiver parks first (`recv_first`) or the sender does. Checks
/// every byte and the canary after it.
fn transfer(size: usize, cap: usize, tx_on: On, rx_on: On, recv_first: bool, n: usize) {
    let c = Ch::new(size, cap);
    let rx = move || {
        for k in 0..n {
            let mut buf = vec![CANARY; size + SLACK];
            // SAFETY: buf holds size + SLACK bytes.
            let rc = unsafe { gmp_chan_recv(c.p(), buf.as_mut_ptr().cast()) };
            assert_eq!(rc, 0, "recv size {size}");
            assert!(
                buf[..size] == pattern(size, k)[..],
                "size {size} value {k}: bytes differ ({tx_on:?} -> {rx_on:?})"
            );
            assert!(
                buf[size..].iter().all(|&b| b == CANARY),
                "size {size}: recv wrote past the element"
            );
        }
    };
    let tx = move || {
        for k in 0..n {
            let v = pattern(size, k);
            let p: *const c_void = if size == 0 {
                std::ptr::null()
            } else {
                v.as_ptr().cast()
            };
            // SAFETY: v holds size bytes (a size-0 channel accepts NULL).
            assert_eq!(unsafe { gmp_chan_send(c.p(), p) }, 0, "send size {size}");
        }
    };
    let first = if recv_first {
        start(rx_on, rx)
    } else {
        start(tx_on, tx)
    };
    // Lets the first side park, so both paths (parked receiver, parked sender) run.
    sleep(2 * MS);
    let other = if recv_first {
        start(tx_on, tx)
    } else {
        start(rx_on, rx)
    };
    join_all(vec![first, other]);
    c.release();
}

/// Every size, and through a buffer too: the channel calls' first step copies sizes 0,
/// 4, 8 and 16 itself (chan.rs, `Chan::send_fast`), every other size goes the full
/// path's way.
#[test]
fn values_arrive_intact_for_every_size() {
    let _s = serial();
    for size in [0usize, 1, 4, 8, 12, 16, 24, 4096, 65536] {
        for cap in [0, 2] {
            for (tx_on, rx_on) in SIDES {
                for recv_first in [true, false] {
                    transfer(size, cap, tx_on, rx_on, recv_first, 5);
                }
            }
        }
    }
}

#[test]
fn size_zero_accepts_null_elements() {
    let _s = serial();
    let c = Ch::new(0, 0);
    let tx = spawn(move || {
        for _ in 0..100 {
            // SAFETY: a size-0 channel; NULL is allowed.
            assert_eq!(unsafe { gmp_chan_send(c.p(), std::ptr::null()) }, 0);
        }
    });
    for i in 0..100 {
        let mut canary = [CANARY; 8];
        let p: *mut c_void = if i % 2 == 0 {
            std::ptr::null_mut()
        } else {
            canary.as_mut_ptr().cast()
        };
        // SAFETY: NULL or a writable buffer; nothing is written for size 0.
        assert_eq!(unsafe { gmp_chan_recv(c.p(), p) }, 0);
        assert_eq!(canary, [CANARY; 8], "a size-0 receive wrote bytes");
    }
    tx.join();
    c.release();
}

#[test]
fn make_rejects_bad_sizes() {
    let _s = serial();
    let mut c: *mut gmp_chan = std::ptr::null_mut();
    let make = |out: *mut *mut gmp_chan, e: usize, n: usize| {
        // SAFETY: `out` is NULL or writable.
        unsafe { gmp_chan_make(out, e, n) }
    };
    assert_eq!(make(&mut c, 65537, 0), GMP_EINVAL);
    assert_eq!(make(&mut c, 65537, 1), GMP_EINVAL);
    assert_eq!(make(&mut c, usize::MAX, 0), GMP_EINVAL);
    // elem_size * capacity overflows size_t.
    assert_eq!(make(&mut c, 2, usize::MAX / 2 + 1), GMP_EINVAL);
    assert_eq!(make(&mut c, 65536, usize::MAX / 65536 + 1), GMP_EINVAL);
    assert_eq!(make(&mut c, 3, usize::MAX), GMP_EINVAL);
    assert!(c.is_null(), "a failed make wrote *out");
    // Absurd but not overflowing: refused, never a crash.
    let rc = make(&mut c, 65536, usize::MAX / 65536);
    assert!(rc == GMP_EINVAL || rc == GMP_ENOMEM, "rc {rc}");
    assert_eq!(make(std::ptr::null_mut(), 8, 0), GMP_EINVAL);
    // SAFETY: as above.
    let rc = unsafe { gmp_chan_make_ex(std::ptr::null_mut(), 8, 0, None, std::ptr::null_mut()) };
    assert_eq!(rc, GMP_EINVAL);
    // The limits themselves are fine; size 0 with any capacity needs no memory.
    for (e, n) in [(65536, 0), (65536, 2), (0, 1 << 40), (0, 0), (1, 0)] {
        let mut c = std::ptr::null_mut();
        assert_eq!(make(&mut c, e, n), 0, "make({e}, {n})");
        assert_eq!(gmp_chan_cap(c), n as i64);
        gmp_chan_release(c);
    }
}

/// Capacity is reported as an `int64_t`, where negative values are error codes; a
/// size-0 channel needs no buffer, so `gmp_chan_make` accepts any capacity, and one above
/// INT64_MAX comes back from `gmp_chan_cap` as a negative "error" (usize::MAX as -1,
/// which reads as -EPERM). Either the make should refuse it (GMP_EINVAL) or cap should
/// report it as non-negative.
#[test]
fn capacity_above_int64_max_is_refused_or_reported_non_negative() {
    let _s = serial();
    for n in [usize::MAX, 1usize << 63] {
        let mut c = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        let rc = unsafe { gmp_chan_make(&mut c, 0, n) };
        if rc == 0 {
            let cap = gmp_chan_cap(c);
            gmp_chan_release(c);
            assert!(cap >= 0, "capacity {n} reported as {cap}");
        } else {
            assert_eq!(rc, GMP_EINVAL);
        }
    }
}

#[test]
fn null_arguments_are_einval() {
    let _s = serial();
    let n = std::ptr::null_mut();
    let v = 1u64;
    // SAFETY: NULL channels and elements are rejected before any access.
    unsafe {
        assert_eq!(gmp_chan_send(n, (&v as *const u64).cast()), GMP_EINVAL);
        assert_eq!(
            gmp_chan_send_timeout(n, (&v as *const u64).cast(), 0),
            GMP_EINVAL
        );
        assert_eq!(gmp_chan_recv(n, std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(
            gmp_chan_recv_timeout(n, std::ptr::null_mut(), 5),
            GMP_EINVAL
        );
    }
    assert_eq!(gmp_chan_close(n), GMP_EINVAL);
    assert_eq!(gmp_chan_len(n), GMP_EINVAL as i64);
    assert_eq!(gmp_chan_cap(n), GMP_EINVAL as i64);
    assert!(gmp_chan_retain(n).is_null());
    gmp_chan_release(n);
    // A NULL element to send on a non-empty type.
    let c = Ch::of::<u64>(0);
    // SAFETY: rejected before any access.
    unsafe {
        assert_eq!(gmp_chan_send(c.p(), std::ptr::null()), GMP_EINVAL);
        assert_eq!(
            gmp_chan_send_timeout(c.p(), std::ptr::null(), 0),
            GMP_EINVAL
        );
        assert_eq!(
            gmp_chan_send_timeout(c.p(), std::ptr::null(), MS),
            GMP_EINVAL
        );
    }
    c.release();
}

#[test]
fn recv_with_null_elem_discards() {
    let _s = serial();
    for (tx_on, rx_on) in SIDES {
        for recv_first in [true, false] {
            let c = Ch::of::<u64>(0);
            let rx = move || {
                // SAFETY: NULL discards.
                assert_eq!(unsafe { gmp_chan_recv(c.p(), std::ptr::null_mut()) }, 0);
                // SAFETY: as above, with a timeout.
                let rc = unsafe { gmp_chan_recv_timeout(c.p(), std::ptr::null_mut(), -1) };
                assert_eq!(rc, 0);
                assert_eq!(c.get::<u64>(), 3, "the discarded values were consumed");
            };
            let tx = move || {
                for v in 1..=3u64 {
                    c.put(v);
                }
            };
            let a = if recv_first {
                start(rx_on, rx)
            } else {
                start(tx_on, tx)
            };
            sleep(MS);
            let b = if recv_first {
                start(tx_on, tx)
            } else {
                start(rx_on, rx)
            };
            join_all(vec![a, b]);
            c.release();
        }
    }
}

#[test]
fn try_ops_need_a_parked_partner() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        let c = Ch::of::<u64>(0);
        assert_eq!(c.try_send(1u64), GMP_EAGAIN, "no receiver");
        assert_eq!(c.try_recv::<u64>().0, GMP_EAGAIN, "no sender");
        // A parked receiver makes a try-send succeed (it hands the value over).
        let rx = start(on, move || assert_eq!(c.get::<u64>(), 5));
        wait_for("a parked receiver", || match c.try_send(5u64) {
            0 => true,
            GMP_EAGAIN => false,
            rc => panic!("try_send: {rc}"),
        });
        rx.join();
        // A parked sender makes a try-receive succeed.
        let tx = start(on, move || c.put(6u64));
        let mut got = 0u64;
        wait_for("a parked sender", || match c.try_recv::<u64>() {
            (0, v) => {
                got = v;
                true
            }
            (GMP_EAGAIN, _) => false,
            (rc, _) => panic!("try_recv: {rc}"),
        });
        assert_eq!(got, 6);
        tx.join();
        c.release();
    }
}

#[test]
fn many_handoffs_keep_order_per_sender() {
    let _s = serial();
    let n = scale(20_000, 1_000_000) as u64;
    for (tx_on, rx_on) in SIDES {
        let n = if tx_on == On::Thread || rx_on == On::Thread {
            n / 4
        } else {
            n
        };
        let c = Ch::of::<[u64; 3]>(0);
        let tx = start(tx_on, move || {
            for i in 0..n {
                c.put([i, !i, i.wrapping_mul(0x9e37_79b9)]);
            }
        });
        let rx = start(rx_on, move || {
            for i in 0..n {
                let v = c.get::<[u64; 3]>();
                assert_eq!(v, [i, !i, i.wrapping_mul(0x9e37_79b9)]);
            }
        });
        join_all(vec![tx, rx]);
        c.release();
    }
}

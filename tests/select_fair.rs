//! `gmp_select` chooses uniformly among the ready cases (API.md "Channels"): with every
//! case kept ready for 100,000 rounds, each is picked within 45%..55% for two cases (the
//! bound is statistical: 100,000 fair coin flips stay within 50% +- 0.6% with overwhelming
//! probability, so 5% only catches a real bias), and proportionally for more. No time
//! bounds.

mod support;

use support::*;

const ROUNDS: usize = 100_000;

fn assert_fair(counts: &[usize], what: &str) {
    let total: usize = counts.iter().sum();
    let k = counts.len() as f64;
    for (i, &c) in counts.iter().enumerate() {
        let share = c as f64 / total as f64;
        let (lo, hi) = (0.9 / k, 1.1 / k);
        assert!(
            (lo..=hi).contains(&share),
            "{what}: case {i} picked {c} of {total} ({:.2}%), outside {:.1}%..{:.1}%; all: {counts:?}",
            share * 100.0,
            lo * 100.0,
            hi * 100.0
        );
    }
}

#[test]
fn two_full_channels_each_picked_about_half() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        run_on(on, || {
            let a = Ch::of::<u64>(4);
            let b = Ch::of::<u64>(4);
            for i in 0..4u64 {
                a.put(i);
                b.put(i);
            }
            let mut counts = [0usize; 2];
            let (mut x, mut y) = (0u64, 0u64);
            for _ in 0..ROUNDS {
                let mut cs = [case_recv(a, &mut x), case_recv(b, &mut y)];
                let i = select(&mut cs, -1);
                assert!(i == 0 || i == 1, "select {i}");
                assert_eq!(cs[i as usize].result, 0);
                counts[i as usize] += 1;
                // Keep both full.
                let c = if i == 0 { a } else { b };
                assert_eq!(c.try_send(0u64), 0);
            }
            assert_fair(&counts, "two receives");
            a.release();
            b.release();
        });
    }
}

#[test]
fn a_ready_send_and_a_ready_recv_each_picked_about_half() {
    let _s = serial();
    in_go(|| {
        let full = Ch::of::<u64>(2);
        full.put(1u64);
        full.put(2u64);
        let room = Ch::of::<u64>(2);
        let mut counts = [0usize; 2];
        let mut x = 0u64;
        let v = 5u64;
        for _ in 0..ROUNDS {
            let mut cs = [case_recv(full, &mut x), case_send(room, &v)];
            let i = select(&mut cs, 0);
            assert!(i == 0 || i == 1, "select {i}");
            counts[i as usize] += 1;
            if i == 0 {
                assert_eq!(full.try_send(3u64), 0);
            } else {
                assert_eq!(room.try_recv::<u64>(), (0, 5));
            }
        }
        assert_fair(&counts, "recv vs send");
        full.release();
        room.release();
    });
}

#[test]
fn four_ready_among_null_and_blocked_cases() {
    let _s = serial();
    in_go(|| {
        let ready: Vec<Ch> = (0..4).map(|_| Ch::of::<u64>(1)).collect();
        let empty = Ch::of::<u64>(1);
        for c in &ready {
            c.put(0u64);
        }
        let mut counts = [0usize; 4];
        let mut sink = [0u64; 8];
        let p = sink.as_mut_ptr();
        for _ in 0..ROUNDS {
            // SAFETY: eight distinct slots of `sink`.
            let mut cs = unsafe {
                [
                    case_recv(Ch::NULL, p),
                    case_recv(ready[0], p.add(1)),
                    case_recv(empty, p.add(2)),
                    case_recv(ready[1], p.add(3)),
                    case_recv(Ch::NULL, p.add(4)),
                    case_recv(ready[2], p.add(5)),
                    case_recv(ready[3], p.add(6)),
                    case_recv(empty, p.add(7)),
                ]
            };
            let i = select(&mut cs, -1);
            let k = match i {
                1 => 0,
                3 => 1,
                5 => 2,
                6 => 3,
                _ => panic!("case {i} fired: a NULL or empty channel"),
            };
            counts[k] += 1;
            assert_eq!(ready[k].try_send(0u64), 0);
        }
        assert_fair(&counts, "four of eight");
        for c in ready {
            c.release();
        }
        empty.release();
    });
}

#[test]
fn closed_channels_are_picked_fairly_too() {
    // Two closed channels are both always ready (GMP_ECLOSED): neither starves.
    let _s = serial();
    in_go(|| {
        let a = Ch::of::<u64>(0);
        let b = Ch::of::<u64>(3);
        assert_eq!(a.close(), 0);
        assert_eq!(b.close(), 0);
        let mut counts = [0usize; 2];
        let mut x = 0u64;
        for _ in 0..ROUNDS / 2 {
            let mut cs = [case_recv(a, &mut x), case_recv(b, &mut x)];
            let i = select(&mut cs, 0);
            assert!(i == 0 || i == 1, "select {i}");
            assert_eq!(cs[i as usize].result, GMP_ECLOSED);
            counts[i as usize] += 1;
        }
        assert_fair(&counts, "two closed");
        a.release();
        b.release();
    });
}

//! Many producers x many consumers over channels of capacity 0, 1 and 64, goroutines and
//! foreign threads mixed: every value is received exactly once (count + checksum + a
//! bitmap). Then with close racing the last sends (producers stop at GMP_ECLOSED; the
//! values whose send returned 0 are exactly the values received), and the same through
//! select (consumers select over two channels; producers too, in one variant).
//!
//! About 200,000 messages in all by default; 10 million under GMP_STRESS=1.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use support::*;

const CAPS: [usize; 3] = [0, 1, 64];

/// Messages per (variant, capacity): the default total is ~200k, the stress one ~10M.
fn msgs(default: usize) -> usize {
    scale(default, default * 50)
}

/// A value's contribution to the checksum (a substitution changes it).
fn mix(v: u64) -> u64 {
    (v ^ 0x5555_5555)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(17)
}

/// What the consumers saw.
struct Tally {
    got: Bitmap,
    count: AtomicUsize,
    sum: AtomicU64,
}

impl Tally {
    fn new(n: usize) -> Arc<Tally> {
        Arc::new(Tally {
            got: Bitmap::new(n),
            count: AtomicUsize::new(0),
            sum: AtomicU64::new(0),
        })
    }
    /// Records a received value; returns the count so far (this one included).
    fn take(&self, v: u64, ctx: &str) -> usize {
        assert!(!self.got.set(v as usize), "{ctx}: value {v} received twice");
        self.sum.fetch_add(mix(v), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed) + 1
    }
    /// Checks that every value 0..n was received once.
    fn check_all(&self, n: usize, ctx: &str) {
        let all = Bitmap::new(n);
        for v in 0..n {
            all.set(v);
        }
        self.check(&all, ctx);
    }
    /// Checks the tally against the set of values that were sent.
    fn check(&self, sent: &Bitmap, ctx: &str) {
        if let Some(v) = sent.first_diff(&self.got) {
            panic!(
                "{ctx}: value {v} was {} but {}",
                if sent.get(v) { "sent" } else { "not sent" },
                if self.got.get(v) {
                    "received"
                } else {
                    "not received"
                }
            );
        }
        assert_eq!(
            self.count.load(Ordering::Relaxed),
            sent.count(),
            "{ctx}: count"
        );
        let want = (0..sent.bits())
            .filter(|&v| sent.get(v))
            .fold(0u64, |s, v| s.wrapping_add(mix(v as u64)));
        assert_eq!(self.sum.load(Ordering::Relaxed), want, "{ctx}: checksum");
    }
}

/// Who runs the producers and consumers: mostly goroutines, one foreign thread each.
fn sides(n: usize) -> Vec<On> {
    (0..n)
        .map(|k| if k == n - 1 { On::Thread } else { On::Go })
        .collect()
}

/// Producer `p` of `np`: sends its share of 0..n (p, p + np, ...) on `c`; the last
/// producer of `left` to finish closes `c`.
fn produce(c: Ch, p: usize, np: usize, n: usize, left: &AtomicUsize) {
    let mut v = p;
    while v < n {
        c.put(v as u64);
        v += np;
    }
    if left.fetch_sub(1, Ordering::AcqRel) == 1 {
        assert_eq!(c.close(), 0);
    }
}

/// Every value 0..n through one channel; producers close it when the last one is done.
fn plain(cap: usize, np: usize, nc: usize, n: usize) {
    let ctx = format!("plain cap {cap} {np}x{nc} n {n}");
    let c = Ch::of::<u64>(cap);
    let tally = Tally::new(n);
    let left = Arc::new(AtomicUsize::new(np));
    let mut js = Vec::new();
    for (p, on) in sides(np).into_iter().enumerate() {
        let left = left.clone();
        js.push(start(on, move || produce(c, p, np, n, &left)));
    }
    for on in sides(nc) {
        let (tally, ctx) = (tally.clone(), ctx.clone());
        js.push(start(on, move || {
            loop {
                match c.recv::<u64>() {
                    (0, v) => {
                        tally.take(v, &ctx);
                    }
                    (GMP_ECLOSED, _) => break,
                    (rc, _) => panic!("{ctx}: recv {rc}"),
                }
            }
        }));
    }
    join_all(js);
    tally.check_all(n, &ctx);
    c.release();
}

#[test]
fn producers_consumers_every_value_once() {
    let _s = serial();
    for cap in CAPS {
        plain(cap, 4, 4, msgs(30_000));
    }
}

/// Close racing the last sends: the consumer that takes the `target`-th value closes
/// the channel while producers are still sending (some parked).
fn close_race(cap: usize, np: usize, nc: usize, n: usize, target: usize) {
    let ctx = format!("close race cap {cap} {np}x{nc}");
    let c = Ch::of::<u64>(cap);
    let tally = Tally::new(n);
    let sent = Arc::new(Bitmap::new(n));
    let mut js = Vec::new();
    for (p, on) in sides(np).into_iter().enumerate() {
        let (sent, ctx) = (sent.clone(), ctx.clone());
        js.push(start(on, move || {
            let mut v = p;
            while v < n {
                match c.send(v as u64) {
                    0 => assert!(!sent.set(v)),
                    GMP_ECLOSED => return,
                    rc => panic!("{ctx}: send {rc}"),
                }
                v += np;
            }
        }));
    }
    for on in sides(nc) {
        let (tally, ctx) = (tally.clone(), ctx.clone());
        js.push(start(on, move || {
            loop {
                match c.recv::<u64>() {
                    (0, v) => {
                        if tally.take(v, &ctx) == target {
                            assert_eq!(c.close(), 0);
                        }
                    }
                    (GMP_ECLOSED, v) => {
                        assert_eq!(v, 0);
                        break;
                    }
                    (rc, _) => panic!("{ctx}: recv {rc}"),
                }
            }
        }));
    }
    join_all(js);
    tally.check(&sent, &ctx);
    assert!(sent.count() >= target);
    eprintln!("{ctx}: {} of {n} sent, target {target}", sent.count());
    c.release();
}

#[test]
fn close_racing_the_last_sends() {
    let _s = serial();
    let per = msgs(15_000);
    for cap in CAPS {
        // Several shorter rounds: more closes, each racing parked and running senders.
        let rounds = 10;
        for r in 0..rounds {
            let n = per / rounds;
            close_race(cap, 4, 3, n, n / 2 + r * 7);
        }
    }
}

/// Consumers select over two channels; each channel has its own producers and is closed
/// by its last one; a consumer drops a closed channel's case (sets it NULL) and goes on
/// until both are closed.
fn select_consumers(cap: usize, np: usize, nc: usize, n: usize) {
    let ctx = format!("select consumers cap {cap} {np}x{nc}");
    let chans = [Ch::of::<u64>(cap), Ch::of::<u64>(cap)];
    let tally = Tally::new(n);
    let left = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    for p in 0..np {
        left[p % 2].fetch_add(1, Ordering::Relaxed);
    }
    let mut js = Vec::new();
    for (p, on) in sides(np).into_iter().enumerate() {
        let left = left.clone();
        let c = chans[p % 2];
        js.push(start(on, move || produce(c, p, np, n, &left[p % 2])));
    }
    for on in sides(nc) {
        let (tally, ctx) = (tally.clone(), ctx.clone());
        js.push(start(on, move || {
            let mut live = chans;
            let mut bufs = [u64::MAX; 2];
            while live != [Ch::NULL, Ch::NULL] {
                let p = bufs.as_mut_ptr();
                // SAFETY: two distinct slots of `bufs`.
                let mut cs = unsafe { [case_recv(live[0], p), case_recv(live[1], p.add(1))] };
                let i = select(&mut cs, -1);
                assert!(i == 0 || i == 1, "{ctx}: select {i}");
                let i = i as usize;
                match cs[i].result {
                    0 => {
                        tally.take(bufs[i], &ctx);
                    }
                    GMP_ECLOSED => {
                        assert_eq!(bufs[i], 0, "{ctx}: elem not zeroed");
                        live[i] = Ch::NULL;
                    }
                    rc => panic!("{ctx}: result {rc}"),
                }
            }
        }));
    }
    join_all(js);
    tally.check_all(n, &ctx);
    for c in chans {
        c.release();
    }
}

#[test]
fn select_consumers_over_two_channels() {
    let _s = serial();
    for cap in CAPS {
        select_consumers(cap, 4, 4, msgs(15_000));
    }
}

/// Both sides select over the same two channels; the consumer that takes the
/// `target`-th value closes both, racing the producers' select-sends. A producer whose
/// send case reports GMP_ECLOSED drops that case and offers the same value on the other
/// channel; values whose send case fired with 0 are exactly the values received.
fn select_both_sides_close_race(cap: usize, np: usize, nc: usize, n: usize, target: usize) {
    let ctx = format!("select both sides cap {cap} {np}x{nc}");
    let chans = [Ch::of::<u64>(cap), Ch::of::<u64>(cap)];
    let tally = Tally::new(n);
    let sent = Arc::new(Bitmap::new(n));
    let mut js = Vec::new();
    for (p, on) in sides(np).into_iter().enumerate() {
        let (sent, ctx) = (sent.clone(), ctx.clone());
        js.push(start(on, move || {
            let mut live = chans;
            let mut v = p;
            while v < n && live != [Ch::NULL, Ch::NULL] {
                let val = v as u64;
                let mut cs = [case_send(live[0], &val), case_send(live[1], &val)];
                let i = select(&mut cs, -1);
                assert!(i == 0 || i == 1, "{ctx}: select {i}");
                match cs[i as usize].result {
                    0 => {
                        assert!(!sent.set(v));
                        v += np;
                    }
                    GMP_ECLOSED => live[i as usize] = Ch::NULL,
                    rc => panic!("{ctx}: result {rc}"),
                }
            }
        }));
    }
    for on in sides(nc) {
        let (tally, ctx) = (tally.clone(), ctx.clone());
        js.push(start(on, move || {
            let mut live = chans;
            let mut bufs = [u64::MAX; 2];
            while live != [Ch::NULL, Ch::NULL] {
                let p = bufs.as_mut_ptr();
                // SAFETY: two distinct slots of `bufs`.
                let mut cs = unsafe { [case_recv(live[0], p), case_recv(live[1], p.add(1))] };
                let i = select(&mut cs, -1);
                assert!(i == 0 || i == 1, "{ctx}: select {i}");
                let i = i as usize;
                match cs[i].result {
                    0 => {
                        if tally.take(bufs[i], &ctx) == target {
                            assert_eq!(chans[0].close(), 0);
                            assert_eq!(chans[1].close(), 0);
                        }
                    }
                    GMP_ECLOSED => live[i] = Ch::NULL,
                    rc => panic!("{ctx}: result {rc}"),
                }
            }
        }));
    }
    join_all(js);
    tally.check(&sent, &ctx);
    for c in chans {
        c.release();
    }
}

#[test]
fn select_on_both_sides_with_close_racing() {
    let _s = serial();
    let per = msgs(7_000);
    for cap in CAPS {
        let rounds = 5;
        for r in 0..rounds {
            let n = per / rounds;
            select_both_sides_close_race(cap, 3, 3, n, n * 3 / 4 + r);
        }
    }
}

/// Selects over random permutations of four channels (mixed capacities), each case a
/// random send or receive, some with timeouts, from goroutines and a thread: no deadlock
/// (selects lock channels in address order, whatever the case order), and values are
/// conserved: every value whose send fired is received once, or still buffered at the
/// end; nothing else is ever received.
fn select_random_mix(workers: usize, rounds: usize, seed: u64) {
    let chans: Vec<Ch> = [0usize, 1, 3, 0]
        .iter()
        .map(|&c| Ch::of::<u64>(c))
        .collect();
    let n = workers * rounds;
    let sent = Arc::new(Bitmap::new(n));
    let tally = Tally::new(n);
    let mut js = Vec::new();
    for w in 0..workers {
        let (chans, sent, tally) = (chans.clone(), sent.clone(), tally.clone());
        let on = if w == workers - 1 { On::Thread } else { On::Go };
        js.push(start(on, move || {
            let mut rng = Rng::new(seed * 1000 + w as u64);
            let mut next = w; // values this worker may send: w, w + workers, ...
            let mut bufs = [u64::MAX; 4];
            let p = bufs.as_mut_ptr();
            for _ in 0..rounds {
                let mut order = [0usize, 1, 2, 3];
                for i in (1..4).rev() {
                    order.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let val = next as u64;
                let sends: Vec<bool> = (0..4).map(|_| rng.below(2) == 0).collect();
                let mut cs: Vec<gmp_select_case> = order
                    .iter()
                    .enumerate()
                    .map(|(k, &ci)| {
                        if sends[k] && next < n {
                            case_send(chans[ci], &val)
                        } else {
                            // SAFETY: slot k of `bufs`.
                            case_recv(chans[ci], unsafe { p.add(k) })
                        }
                    })
                    .collect();
                let t = [0, 20 * US, 200 * US][rng.below(3) as usize];
                let i = select(&mut cs, t);
                if i < 0 {
                    assert!(i == GMP_EAGAIN || i == GMP_ETIMEDOUT, "select {i}");
                    continue;
                }
                let k = i as usize;
                assert_eq!(cs[k].result, 0);
                if cs[k].op == GMP_SEND {
                    assert!(!sent.set(next), "value {next} sent twice");
                    next += workers;
                } else {
                    tally.take(bufs[k], "random mix");
                }
            }
        }));
    }
    join_all(js);
    // Drain what is still buffered.
    for c in &chans {
        while let (0, v) = c.try_recv::<u64>() {
            tally.take(v, "random mix drain");
        }
        c.release();
    }
    tally.check(&sent, "random mix");
    eprintln!("random mix: {} values sent of {} rounds", sent.count(), n);
}

#[test]
fn select_random_mix_conserves_values() {
    let _s = serial();
    for seed in 0..3 {
        select_random_mix(6, msgs(3_000), seed);
    }
}

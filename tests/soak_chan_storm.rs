//! Soak: channel messages across 64 goroutines (32 producers, 32 consumers) with random
//! closes. Short form (the test command): 200,000 messages; long form (`GMP_SOAK=1`):
//! 10,000,000 (`GMP_SOAK_MSGS` overrides).
//!
//! The work runs in rounds. Each round makes 8 channels of random capacity (0, 1, 16 or
//! 128); producers send unique ids, by `gmp_select` over every channel still open to
//! them or by a direct send with a time-out to one; consumers receive by `gmp_select`
//! over every channel not yet drained, or directly. The driver closes the channels one
//! by one at random points of the round; a send that meets a closed channel drops that
//! channel (the id was not sent), a receive that meets one closed and drained drops it
//! too. A round ends when every channel is closed and drained. Checked per round: the
//! ids received are exactly the ids whose send returned 0 (count, sum and xor: none
//! lost, none duplicated), select results are 0 or GMP_ECLOSED only for the case that
//! fired, and nothing hangs (a watchdog).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::*;

const K: usize = 8;
const PRODUCERS: u64 = 32;
const CONSUMERS: u64 = 32;

/// xorshift64*, one per goroutine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[derive(Default)]
struct Tally {
    count: AtomicU64,
    sum: AtomicU64,
    xor: AtomicU64,
}

impl Tally {
    fn add(&self, count: u64, sum: u64, xor: u64) {
        self.count.fetch_add(count, Ordering::Relaxed);
        self.sum.fetch_add(sum, Ordering::Relaxed);
        self.xor.fetch_xor(xor, Ordering::Relaxed);
    }
    fn get(&self) -> (u64, u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.sum.load(Ordering::Relaxed),
            self.xor.load(Ordering::Relaxed),
        )
    }
}

struct Round {
    chans: Vec<Chan>,
    stop: AtomicBool,
    sent: Tally,
    recvd: Tally,
}

fn producer(r: Arc<Round>, p: u64, seed: u64) {
    let mut rng = Rng(seed | 1);
    let mut open: Vec<bool> = vec![true; K];
    let (mut n, mut sum, mut xor) = (0u64, 0u64, 0u64);
    let mut seq = 0u64;
    while !r.stop.load(Ordering::Relaxed) && open.iter().any(|&o| o) {
        let id = (seed << 48) ^ (p << 40) ^ seq;
        seq += 1;
        let mut v = id;
        if rng.next() % 4 != 0 {
            // select over every channel still open to us
            let mut cases = cases_on(&r, &open, GMP_SEND, &mut v);
            // SAFETY: K live cases; elem points at v for the whole call.
            let rc = unsafe { gmp_select(cases.as_mut_ptr(), K, 50 * MS) };
            if rc == GMP_ETIMEDOUT {
                continue;
            }
            assert!((0..K as i32).contains(&rc), "send select returned {rc}");
            let k = rc as usize;
            match cases[k].result {
                0 => {
                    n += 1;
                    sum = sum.wrapping_add(id);
                    xor ^= id;
                }
                GMP_ECLOSED => open[k] = false,
                e => panic!("send case result {e}"),
            }
        } else {
            let k = (rng.next() % K as u64) as usize;
            if !open[k] {
                continue;
            }
            // SAFETY: a live channel of u64.
            let rc = unsafe { gmp_chan_send_timeout(r.chans[k].0, (&v as *const u64).cast(), MS) };
            match rc {
                0 => {
                    n += 1;
                    sum = sum.wrapping_add(id);
                    xor ^= id;
                }
                GMP_ECLOSED => open[k] = false,
                GMP_ETIMEDOUT => {}
                e => panic!("send returned {e}"),
            }
        }
        if n % 64 == 0 && n > 0 {
            r.sent.add(n, sum, xor);
            (n, sum, xor) = (0, 0, 0);
        }
    }
    r.sent.add(n, sum, xor);
}

/// One select case per channel of the round, all on `v`; a NULL channel (which never
/// fires) where `open[k]` is false.
fn cases_on(r: &Round, open: &[bool], op: i32, v: *mut u64) -> Vec<gmp_select_case> {
    (0..K)
        .map(|k| gmp_select_case {
            chan: if open[k] {
                r.chans[k].0
            } else {
                std::ptr::null_mut()
            },
            op,
            elem: v.cast(),
            result: 0,
        })
        .collect()
}

fn consumer(r: Arc<Round>, seed: u64) {
    let mut rng = Rng(seed | 1);
    let mut live: Vec<bool> = vec![true; K];
    let (mut n, mut sum, mut xor) = (0u64, 0u64, 0u64);
    while live.iter().any(|&l| l) {
        let mut v = 0u64;
        let (k, rc) = if rng.next() % 4 != 0 {
            let mut cases = cases_on(&r, &live, GMP_RECV, &mut v);
            // SAFETY: K live cases; elem points at v.
            let rc = unsafe { gmp_select(cases.as_mut_ptr(), K, 50 * MS) };
            if rc == GMP_ETIMEDOUT {
                continue;
            }
            assert!((0..K as i32).contains(&rc), "recv select returned {rc}");
            (rc as usize, cases[rc as usize].result)
        } else {
            let k = (rng.next() % K as u64) as usize;
            if !live[k] {
                continue;
            }
            let (rc, val) = r.chans[k].recv_timeout_u64(MS);
            v = val;
            (k, rc)
        };
        match rc {
            0 => {
                n += 1;
                sum = sum.wrapping_add(v);
                xor ^= v;
            }
            GMP_ECLOSED => {
                assert_eq!(v, 0, "a receive on a closed channel zeroes the element");
                live[k] = false;
            }
            GMP_ETIMEDOUT => {}
            e => panic!("receive returned {e}"),
        }
        if n % 64 == 0 && n > 0 {
            r.recvd.add(n, sum, xor);
            (n, sum, xor) = (0, 0, 0);
        }
    }
    r.recvd.add(n, sum, xor);
}

#[test]
fn channel_storm_with_random_closes() {
    let target: u64 = std::env::var("GMP_SOAK_MSGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if soak() { 10_000_000 } else { 200_000 });
    let per_round = (target / 10).clamp(20_000, 1_000_000);
    let t0 = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ t0.elapsed().as_nanos() as u64);
    let (mut delivered, mut rounds) = (0u64, 0u64);
    while delivered < target {
        rounds += 1;
        let caps = [0usize, 1, 16, 128];
        let r = Arc::new(Round {
            chans: (0..K)
                .map(|_| Chan::new(8, caps[(rng.next() % 4) as usize]))
                .collect(),
            stop: AtomicBool::new(false),
            sent: Tally::default(),
            recvd: Tally::default(),
        });
        let wg = Arc::new(WaitGroup::with((PRODUCERS + CONSUMERS) as i64));
        for p in 0..PRODUCERS {
            let (r, wg, seed) = (r.clone(), wg.clone(), rng.next());
            go(move || {
                producer(r, p, seed);
                assert_eq!(wg.done(), 0);
            });
        }
        for _ in 0..CONSUMERS {
            let (r, wg, seed) = (r.clone(), wg.clone(), rng.next());
            go(move || {
                consumer(r, seed);
                assert_eq!(wg.done(), 0);
            });
        }
        // Close the channels one by one, in random order, at random points of the round.
        let mut order: Vec<usize> = (0..K).collect();
        for i in (1..K).rev() {
            order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        for (j, &k) in order.iter().enumerate() {
            let at = per_round * (j as u64 + 1) / K as u64;
            let at = at - at / 4 + rng.next() % (at / 4 + 1);
            let tw = Instant::now();
            while r.recvd.get().0 < at {
                assert!(
                    tw.elapsed() < Duration::from_secs(if soak() { 600 } else { 60 }),
                    "round {rounds}: no progress (received {} of {at})",
                    r.recvd.get().0
                );
                std::thread::sleep(Duration::from_micros(200));
            }
            assert_eq!(r.chans[k].close(), 0);
        }
        r.stop.store(true, Ordering::Relaxed);
        assert_eq!(wg.wait(), 0);
        let (sn, ss, sx) = r.sent.get();
        let (rn, rs, rx) = r.recvd.get();
        assert_eq!(
            (rn, rs, rx),
            (sn, ss, sx),
            "round {rounds}: received (count, sum, xor) differs from sent"
        );
        for c in &r.chans {
            assert_eq!(c.close(), GMP_ECLOSED);
            assert_eq!(gmp_chan_len(c.0), 0);
        }
        delivered += rn;
    }
    let took = t0.elapsed();
    println!(
        "{delivered} messages in {rounds} rounds ({} closes) across {} goroutines in \
         {took:?} ({:.0} ns per message)",
        rounds * K as u64,
        PRODUCERS + CONSUMERS,
        took.as_nanos() as f64 / delivered as f64
    );
}

//! Scale: goroutines parked, woken and parked again in waves. Short form (the test
//! command): 100,000 goroutines, 3 waves. Long form (`GMP_SOAK=1`, run it with
//! `--release`): 1,000,000 goroutines, 10 waves. `GMP_SOAK_N` / `GMP_SOAK_WAVES`
//! override.
//!
//! Each goroutine, each wave: says it arrived (a waitgroup the driver waits on), then
//! parks: even ones on the wave's waitgroup gate (a sema broadcast wakes them), odd ones
//! on the wave's channel (a close wakes them). The driver waits until all arrived, checks
//! the goroutine count, opens both gates, and the next wave begins. Every wake-up is
//! counted (none lost, none doubled); a watchdog aborts on a stall.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::*;

fn env_or(name: &str, short: usize, long: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if soak() { long } else { short })
}

struct Wave {
    arrived: WaitGroup,
    gate: WaitGroup,
    chan: Chan,
}

#[test]
fn park_wake_repark_in_waves() {
    let n = env_or("GMP_SOAK_N", 100_000, 1_000_000);
    let waves = env_or("GMP_SOAK_WAVES", 3, 10);
    let t0 = Instant::now();
    let base = gmp_num_goroutine();
    let ws: Arc<Vec<Wave>> = Arc::new(
        (0..waves)
            .map(|_| Wave {
                arrived: WaitGroup::with(n as i64),
                gate: WaitGroup::with(1),
                chan: Chan::new(0, 0),
            })
            .collect(),
    );
    let woken = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(WaitGroup::with(n as i64));

    // The watchdog: no wave may stall for long.
    let progress = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let wd = {
        let (p, s, w) = (progress.clone(), stop.clone(), woken.clone());
        let limit = Duration::from_secs(if soak() { 600 } else { 120 });
        std::thread::spawn(move || {
            let mut last = (0, 0);
            let mut since = Instant::now();
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let now = (p.load(Ordering::Relaxed), w.load(Ordering::Relaxed));
                if now != last {
                    last = now;
                    since = Instant::now();
                } else if since.elapsed() > limit {
                    eprintln!(
                        "soak_park_waves: no progress for {limit:?} (wave {}, woken {}, \
                         goroutines {}): aborting",
                        now.0,
                        now.1,
                        gmp_num_goroutine()
                    );
                    gmp_dump_goroutines(2);
                    std::process::abort();
                }
            }
        })
    };

    for i in 0..n {
        let (ws, wk, f) = (ws.clone(), woken.clone(), finished.clone());
        go(move || {
            for w in ws.iter() {
                assert_eq!(w.arrived.done(), 0);
                if i % 2 == 0 {
                    assert_eq!(w.gate.wait(), 0);
                } else {
                    let (rc, _) = w.chan.recv_u64();
                    assert_eq!(rc, GMP_ECLOSED);
                }
                wk.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(f.done(), 0);
        });
    }
    let spawned = t0.elapsed();
    let mut times = Vec::new();
    for (k, w) in ws.iter().enumerate() {
        let tw = Instant::now();
        assert_eq!(w.arrived.wait(), 0);
        let parked = tw.elapsed();
        let g = gmp_num_goroutine() - base;
        assert_eq!(g, n as i64, "goroutines alive in wave {k}");
        let before = woken.load(Ordering::Relaxed);
        assert_eq!(before, (k * n) as u64, "wake-ups before wave {k} opened");
        let tr = Instant::now();
        assert_eq!(w.gate.done(), 0);
        assert_eq!(w.chan.close(), 0);
        progress.fetch_add(1, Ordering::Relaxed);
        times.push((parked, tr));
    }
    assert_eq!(finished.wait(), 0);
    let total = t0.elapsed();
    assert_eq!(woken.load(Ordering::Relaxed), (n * waves) as u64);
    wait_until("goroutines to end", Duration::from_secs(60), || {
        gmp_num_goroutine() == base
    });
    stop.store(true, Ordering::Relaxed);
    wd.join().unwrap();
    let per_wave: Vec<String> = times
        .iter()
        .map(|(p, _)| format!("{:.0}ms", p.as_secs_f64() * 1e3))
        .collect();
    println!(
        "{n} goroutines x {waves} waves: spawned in {spawned:?}, {} wake-ups in {total:?} \
         ({:.0} ns per park+wake); all parked per wave after [{}]; peak RSS {} MiB",
        n * waves,
        total.as_nanos() as f64 / (n * waves) as f64,
        per_wave.join(" "),
        proc_status_kb("VmHWM") / 1024
    );
}

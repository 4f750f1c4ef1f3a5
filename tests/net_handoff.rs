//! The syscall hand-off and sysmon: goroutines blocked in the kernel through
//! `gmp_blocking` or `gmp_syscall_enter`/`exit` give their P away so others run (one P);
//! a goroutine that never yields does not starve 1,000 others (two P's), and one that
//! calls `gmp_preempt_point` is preempted.
//!
//! Time bounds are loose (the machine is small and shared): "well under serial", not
//! "close to parallel".

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use gmp::ffi::chan::*;
use support::*;

fn usleep(us: u32) {
    // SAFETY: plain usleep.
    unsafe { libc::usleep(us) };
}

/// What the four blocking goroutines and the counter saw.
struct Run {
    total_ns: i64,
    counted_during: u64,
    handoffs: u64,
}

/// On one P: a counter goroutine loops on gosched while four goroutines each block
/// 300 ms in the kernel through `block`. Returns the wall time of the four and how far
/// the counter moved while all four were inside their calls.
fn four_blockers(block: fn()) -> Run {
    let prev = gmp_maxprocs(1);
    let before = stats().syscall_handoffs;
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let inside = Arc::new(AtomicI64::new(0));
    let (c2, s2) = (counter.clone(), stop.clone());
    let ticker = spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            c2.fetch_add(1, Ordering::Relaxed);
            gmp_gosched();
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    let t0 = now();
    let mut js = Vec::new();
    for _ in 0..4 {
        let inside = inside.clone();
        js.push(spawn(move || {
            inside.fetch_add(1, Ordering::SeqCst);
            block();
            inside.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    // Sample the counter while all four are in their calls (bounded wait for them to
    // get there; if they never overlap, the time bound below fails anyway).
    let mut counted_during = 0;
    let mut waited = 0;
    while inside.load(Ordering::SeqCst) < 4 && waited < 250 {
        std::thread::sleep(Duration::from_millis(1));
        waited += 1;
    }
    if inside.load(Ordering::SeqCst) == 4 {
        let a = counter.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(50));
        let b = counter.load(Ordering::Relaxed);
        if inside.load(Ordering::SeqCst) == 4 {
            counted_during = b - a;
        }
    }
    join_all(js);
    let total_ns = now() - t0;
    stop.store(true, Ordering::Relaxed);
    ticker.join();
    let handoffs = stats().syscall_handoffs - before;
    gmp_maxprocs(prev);
    Run {
        total_ns,
        counted_during,
        handoffs,
    }
}

fn check(name: &str, r: &Run) {
    eprintln!(
        "{name}: 4 x 300 ms in {} ms, counter +{} in 50 ms during the calls, {} hand-offs",
        r.total_ns / MS,
        r.counted_during,
        r.handoffs
    );
    assert!(
        r.total_ns < 900 * MS,
        "{name}: four 300 ms blocking calls on 1 P took {} ms (serial: 1200)",
        r.total_ns / MS
    );
    assert!(
        r.counted_during > 0,
        "{name}: the counter goroutine did not run while all four were blocked"
    );
    assert!(
        r.handoffs > 0,
        "{name}: stats.syscall_handoffs did not move"
    );
}

#[test]
fn blocking_hands_off_the_p() {
    let _s = serial();
    let r = four_blockers(|| assert_eq!(blocking(|| usleep(300_000)), 0));
    check("gmp_blocking", &r);
}

#[test]
fn syscall_enter_exit_hands_off_the_p() {
    let _s = serial();
    let r = four_blockers(|| {
        gmp_syscall_enter();
        usleep(300_000);
        gmp_syscall_exit();
    });
    check("gmp_syscall_enter/exit", &r);
}

/// `gmp_blocking` runs its function on the M's own thread stack (8 MiB), not the
/// goroutine's (256 KiB): a function using 2 MiB of stack works; inside it the thread
/// acts as a foreign thread (gmp_self() == 0); gmp_blocking returns 0, and EINVAL for
/// a NULL function. From a foreign thread it just calls the function.
#[test]
fn blocking_runs_on_the_thread_stack() {
    let _s = serial();
    in_go(|| {
        let tid = gettid();
        let seen = Arc::new(AtomicI64::new(0));
        let s2 = seen.clone();
        assert_eq!(
            blocking(move || {
                let mut big = [0u8; 2 << 20];
                big[0] = 1;
                big[(2 << 20) - 1] = 2;
                let big = std::hint::black_box(&mut big);
                s2.store(
                    big.iter().map(|&b| b as i64).sum::<i64>() * 1000 + gmp_self() as i64,
                    Ordering::Relaxed,
                );
                assert_eq!(
                    gettid(),
                    tid,
                    "gmp_blocking stays on the goroutine's thread"
                );
            }),
            0
        );
        assert_eq!(seen.load(Ordering::Relaxed), 3000, "gmp_self() inside is 0");
        assert_eq!(gmp_blocking(None, std::ptr::null_mut()), GMP_EINVAL);
    });
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    assert_eq!(blocking(move || r2.store(true, Ordering::Relaxed)), 0);
    assert!(
        ran.load(Ordering::Relaxed),
        "on a foreign thread it runs the function"
    );
    // Unbalanced exit: a no-op.
    gmp_syscall_exit();
}

/// Many goroutines in short blocking calls at once on 2 P's, with sockets in use
/// alongside: everything completes (a hang detector, no timing).
#[test]
fn many_short_blocking_calls_with_network() {
    let _s = serial();
    let prev = gmp_maxprocs(2);
    let wd = Watchdog::new("short_blocking", Duration::from_secs(30));
    let n = scale(200, 2000);
    let (a, b) = socketpair();
    let prog = wd.counter();
    in_go(move || {
        let echo = spawn(move || {
            let mut buf = [0u8; 64];
            for _ in 0..n {
                assert_eq!(read_full(b, &mut buf[..8], 10_000 * MS), 0);
                assert_eq!(write(b, &buf[..8], 10_000 * MS), 8);
            }
        });
        let mut js = Vec::new();
        for i in 0..n {
            let prog = prog.clone();
            js.push(spawn(move || {
                assert_eq!(blocking(move || usleep(200 + (i as u32 % 7) * 100)), 0);
                gmp_syscall_enter();
                usleep(100);
                gmp_syscall_exit();
                prog.fetch_add(1, Ordering::Relaxed);
            }));
        }
        for i in 0..n as u64 {
            assert_eq!(write(a, &i.to_le_bytes(), 10_000 * MS), 8);
            let mut back = [0u8; 8];
            assert_eq!(read_full(a, &mut back, 10_000 * MS), 0);
            assert_eq!(u64::from_le_bytes(back), i);
        }
        join_all(js);
        echo.join();
    });
    assert_eq!(gmp_close_fd(a), 0);
    assert_eq!(gmp_close_fd(b), 0);
    gmp_maxprocs(prev);
}

// ---------------------------------------------------------------------------------------
// Hogs

/// Two P's: one goroutine spins calling only gmp_now (no switch point) for 1 s, while
/// 1,000 goroutines ping-pong over unbuffered channels (500 pairs x 50 round trips),
/// started from a goroutine so that some are queued on the hog's P. They all finish
/// while the hog still spins, and sysmon asked the hog to yield
/// (stats.preempt_requests).
#[test]
fn hog_does_not_starve_others() {
    let _s = serial();
    let prev = gmp_maxprocs(2);
    let wd = Watchdog::new("hog", Duration::from_secs(30));
    let before = stats().preempt_requests;
    let done = Arc::new(AtomicBool::new(false));
    let done_in_time = Arc::new(AtomicBool::new(false));
    let (d2, t2) = (done.clone(), done_in_time.clone());
    let hog_started = Arc::new(AtomicBool::new(false));
    let hs = hog_started.clone();
    let pairs = scale(500, 5000);
    let rounds = scale(50, 1000) as u64;
    let prog = wd.counter();
    let t0 = Arc::new(AtomicI64::new(0));
    let took = Arc::new(AtomicI64::new(0));
    let (t0b, tookb) = (t0.clone(), took.clone());
    in_go(move || {
        // The hog: spawned first, from here, so it shares this P's queue with the others.
        let hog = spawn(move || {
            hs.store(true, Ordering::SeqCst);
            let t = gmp_now();
            while gmp_now() - t < 1_000 * MS {}
            t2.store(d2.load(Ordering::SeqCst), Ordering::SeqCst);
        });
        t0b.store(now(), Ordering::Relaxed);
        let mut v = Vec::new();
        for _ in 0..pairs {
            let (ping, pong) = (Ch::of::<u64>(0), Ch::of::<u64>(0));
            v.push(spawn(move || {
                for i in 0..rounds {
                    assert_eq!(ping.send::<u64>(i), 0);
                    assert_eq!(pong.recv::<u64>(), (0, i + 1));
                }
            }));
            let prog = prog.clone();
            v.push(spawn(move || {
                for _ in 0..rounds {
                    let (r, i) = ping.recv::<u64>();
                    assert_eq!(r, 0);
                    assert_eq!(pong.send::<u64>(i + 1), 0);
                    prog.fetch_add(1, Ordering::Relaxed);
                }
                gmp_chan_release(ping.0);
                gmp_chan_release(pong.0);
            }));
        }
        join_all(v);
        tookb.store(now() - t0b.load(Ordering::Relaxed), Ordering::Relaxed);
        done.store(true, Ordering::SeqCst);
        hog.join();
    });
    let took = took.load(Ordering::Relaxed);
    let requests = stats().preempt_requests - before;
    eprintln!(
        "hog: 1,000 ping-pong goroutines ({} round trips) done in {} ms beside a 1 s hog; \
         {} preempt requests",
        pairs as u64 * rounds,
        took / MS,
        requests
    );
    assert!(hog_started.load(Ordering::SeqCst));
    assert!(
        done_in_time.load(Ordering::SeqCst),
        "the others finished only after the hog stopped ({} ms)",
        took / MS
    );
    assert!(requests > 0, "sysmon never asked the hog to yield");
    gmp_maxprocs(prev);
}

/// One P: a hog that calls gmp_preempt_point() in its loop is preempted by sysmon
/// (about every 10 ms), and the goroutine waiting behind it gets to run: the hog sees
/// its counter move, and time pass across the preemption.
#[test]
fn preempt_point_yields_to_others() {
    let _s = serial();
    let prev = gmp_maxprocs(1);
    let _wd = Watchdog::new("preempt_point", Duration::from_secs(30));
    let before = stats().preempt_requests;
    let other = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let result = Arc::new((AtomicU64::new(0), AtomicI64::new(0), AtomicI64::new(0)));
    let (o2, s2, r2) = (other.clone(), stop.clone(), result.clone());
    in_go(move || {
        let (o3, s3) = (o2.clone(), s2.clone());
        // Queued behind us on our (only) P.
        let bystander = spawn(move || {
            while !s3.load(Ordering::Relaxed) {
                o3.fetch_add(1, Ordering::Relaxed);
                gmp_gosched();
            }
        });
        let start = gmp_now();
        let mut seen = 0u64;
        let mut max_gap = 0i64;
        let mut last = gmp_now();
        // Spin (bounded: 3 s) until the bystander has run in at least 5 separate turns.
        let mut turns = 0;
        while turns < 5 && gmp_now() - start < 3_000 * MS {
            gmp_preempt_point();
            let t = gmp_now();
            max_gap = max_gap.max(t - last);
            last = t;
            let o = o2.load(Ordering::Relaxed);
            if o != seen {
                seen = o;
                turns += 1;
            }
        }
        r2.0.store(turns, Ordering::Relaxed);
        r2.1.store(gmp_now() - start, Ordering::Relaxed);
        r2.2.store(max_gap, Ordering::Relaxed);
        s2.store(true, Ordering::Relaxed);
        bystander.join();
    });
    let turns = result.0.load(Ordering::Relaxed);
    let spun = result.1.load(Ordering::Relaxed);
    let gap = result.2.load(Ordering::Relaxed);
    let requests = stats().preempt_requests - before;
    eprintln!(
        "preempt_point: bystander ran {turns} turns in {} ms of spinning; longest pause {} us; {requests} requests",
        spun / MS,
        gap / US
    );
    assert_eq!(
        turns, 5,
        "the bystander never ran beside a hog calling gmp_preempt_point"
    );
    assert!(gap > 0, "no time passed across a preemption");
    assert!(requests > 0);
    gmp_maxprocs(prev);
}

/// Back-to-back blocking calls on every P (2 P's, 30 rounds of 10 ms calls, no pause
/// between rounds): each round, the last goroutine to enter its call readies a parked
/// measurer and enters its own. The measurer can run only once sysmon retakes a P from
/// a call (tens of us here; Go 1.26: a median of 0.2-0.6 ms in bench/go/handoff with no
/// pause), so it runs while both calls of its round are still inside. The bug this
/// guards: sysmon, backed off to its 10 ms tick between rounds, was woken by
/// `entersyscall` only from its deep sleep, and each 10 ms look found a new syscalltick
/// (a new call), so it never retook a P; the measurer ran when a call ended, ~10 ms late,
/// every round. (`entersyscall` now wakes a backed-off sysmon, sched/syscall.rs.) The
/// test asserts that order, not a time: in at least half the rounds the measurer ran
/// while both calls of that round were inside (with the bug, in none). The wait itself is
/// a benchmark's: `HANDOFF_GAP_US=0 bench/out/net/handoff`.
#[test]
fn readied_goroutine_gets_a_p_during_back_to_back_calls() {
    let _s = serial();
    let prev = gmp_maxprocs(2);
    let _wd = Watchdog::new("back_to_back", Duration::from_secs(30));
    let rounds = 30;
    let ch = Ch::of::<u64>(0);
    let inside = Arc::new(AtomicI64::new(0));
    let round = Arc::new(AtomicI64::new(-1));
    // Per round the measurer ran in: whether both calls of that round were inside.
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (inside2, round2, seen2) = (inside.clone(), round.clone(), seen.clone());
    let measurer = spawn(move || {
        for _ in 0..rounds {
            let (r, sent) = ch.recv::<u64>();
            assert_eq!(r, 0);
            if sent != u64::MAX {
                let both = inside2.load(Ordering::SeqCst) == 2
                    && round2.load(Ordering::SeqCst) == sent as i64;
                seen2.lock().unwrap().push(both);
            }
        }
    });
    std::thread::sleep(Duration::from_millis(5));
    let (inside3, round3) = (inside.clone(), round.clone());
    in_go(move || {
        for k in 0..rounds {
            round3.store(k as i64, Ordering::SeqCst);
            let arrived = Arc::new(AtomicI64::new(0));
            let mut js = Vec::new();
            for _ in 0..2 {
                let (inside, arrived) = (inside3.clone(), arrived.clone());
                js.push(spawn(move || {
                    let now_in = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    if arrived.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
                        // Both in (or entering) their calls: this round counts.
                        let v = if now_in == 2 { k as u64 } else { u64::MAX };
                        assert_eq!(ch.send::<u64>(v), 0);
                    }
                    assert_eq!(blocking(|| usleep(10_000)), 0);
                    inside.fetch_sub(1, Ordering::SeqCst);
                }));
            }
            join_all(js);
        }
    });
    measurer.join();
    gmp_chan_release(ch.0);
    gmp_maxprocs(prev);
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.len() >= rounds / 2,
        "too few rounds overlapped: {}",
        seen.len()
    );
    let during = seen.iter().filter(|&&b| b).count();
    assert!(
        2 * during >= seen.len(),
        "the measurer ran while both calls were inside in {during} of {} rounds: no P was \
         retaken from a call",
        seen.len()
    );
}

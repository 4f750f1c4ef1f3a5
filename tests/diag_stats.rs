//! `gmp_read_stats`: the fields are consistent with each other and with the runtime's
//! other views, the counters move when they should (context switches, syscall hand-offs
//! on one P, preemption requests for a hog, steals), the `size` rule holds; and the
//! runtime's threads carry names (`gmp-mN`, `gmp-sysmon`) for top -H, gdb and perf.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::*;

/// Runs `f` as gmp_main's goroutine in a child process whose runtime has `procs` P's
/// from the start (changing gomaxprocs under running goroutines has known bugs: see
/// `blocking_on_a_retired_p_hands_off_its_queue`), and checks that the child passed.
fn in_child(test: &str, procs: i32, f: impl FnOnce() + Send + 'static) {
    main_in_child(test, procs, &[], Duration::from_secs(10), f);
}

fn check_consistent(s: &gmp::ffi::gmp_stats) {
    assert_eq!(s.size, std::mem::size_of::<gmp::ffi::gmp_stats>());
    assert!(s.maxprocs >= 1);
    assert!(
        (0..=s.maxprocs).contains(&s.idle_procs),
        "idle_procs {}",
        s.idle_procs
    );
    assert!(s.threads >= 1, "threads {}", s.threads);
    assert!(
        (0..=s.threads).contains(&s.spinning_threads),
        "spinning {}",
        s.spinning_threads
    );
    assert!(
        (0..=s.threads).contains(&s.idle_threads),
        "idle {}",
        s.idle_threads
    );
    assert_eq!(s._pad, 0);
    assert!(s.goroutines >= 0 && s.global_runqueue >= 0);
    assert!(s.goroutines_created >= s.goroutines as u64);
}

#[test]
fn stats_follow_goroutines_and_switches() {
    in_child("stats_follow_goroutines_and_switches", 1, || {
        let s0 = stats();
        check_consistent(&s0);
        assert_eq!(s0.maxprocs, gmp_maxprocs(0));
        assert_eq!(s0.goroutines, 1, "the main goroutine counts");
        assert_eq!(s0.goroutines, gmp_num_goroutine());

        // 100 goroutines parked in a receive: counted while they live.
        let ch = Ch::of::<i64>(0);
        for _ in 0..100 {
            go(move || assert_eq!(ch.recv::<i64>().0, gmp::ffi::GMP_ECLOSED));
        }
        let s1 = stats();
        check_consistent(&s1);
        assert_eq!(s1.goroutines_created - s0.goroutines_created, 100);
        assert_eq!(s1.goroutines - s0.goroutines, 100);
        wait_for("all 100 parked", || {
            dump().matches("[chan receive]").count() >= 100
        });
        ch.close();
        wait_for("all 100 ended", || stats().goroutines == s0.goroutines);

        // Two goroutines yielding to each other on the one P: a switch per yield at least.
        let before = stats().context_switches;
        {
            let wg = Arc::new(WaitGroup::new());
            for _ in 0..2 {
                let wg = wg.clone();
                assert_eq!(wg.add(1), 0);
                go(move || {
                    for _ in 0..100 {
                        gmp_gosched();
                    }
                    assert_eq!(wg.done(), 0);
                });
            }
            assert_eq!(wg.wait(), 0);
        }
        let after = stats().context_switches;
        assert!(after - before >= 200, "{before} -> {after}");
        check_consistent(&stats());
    });
}

#[test]
fn stats_size_rule() {
    let _s = serial();
    let full = std::mem::size_of::<gmp::ffi::gmp_stats>();
    assert_eq!(full, 88, "gmp_stats layout is frozen");
    // A caller that knows only the first 16 bytes gets those, and nothing past them.
    let mut buf = [0xa5u8; 128];
    buf[..8].copy_from_slice(&16usize.to_ne_bytes());
    // SAFETY: 128 writable bytes starting with the size.
    assert_eq!(unsafe { gmp_read_stats(buf.as_mut_ptr().cast()) }, 0);
    assert_eq!(usize::from_ne_bytes(buf[..8].try_into().unwrap()), 16);
    let maxprocs = i32::from_ne_bytes(buf[8..12].try_into().unwrap());
    assert_eq!(maxprocs, gmp_maxprocs(0));
    assert!(buf[16..].iter().all(|&b| b == 0xa5), "wrote past size");
    // A newer caller with a bigger struct: the known part is written, size says how much.
    let mut buf = [0xa5u8; 128];
    buf[..8].copy_from_slice(&128usize.to_ne_bytes());
    // SAFETY: as above.
    assert_eq!(unsafe { gmp_read_stats(buf.as_mut_ptr().cast()) }, 0);
    assert_eq!(usize::from_ne_bytes(buf[..8].try_into().unwrap()), full);
    assert!(
        buf[full..].iter().all(|&b| b == 0xa5),
        "wrote past the struct"
    );
    // Too small to hold the size, and NULL.
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&4usize.to_ne_bytes());
    // SAFETY: as above.
    let rc = unsafe { gmp_read_stats(buf.as_mut_ptr().cast()) };
    assert_eq!(rc, gmp::ffi::GMP_EINVAL);
    // SAFETY: NULL is rejected.
    let rc = unsafe { gmp_read_stats(std::ptr::null_mut()) };
    assert_eq!(rc, gmp::ffi::GMP_EINVAL);
}

/// On one P, a goroutine in a 30 ms blocking call loses its P to sysmon when another
/// goroutine is runnable; that goroutine runs meanwhile.
#[test]
fn syscall_handoffs_count_blocking_calls_on_one_p() {
    in_child("syscall_handoffs_count_blocking_calls_on_one_p", 1, || {
        let before = stats().syscall_handoffs;
        let stop = Arc::new(AtomicBool::new(false));
        let ticks = Arc::new(AtomicU64::new(0));
        let wg = Arc::new(WaitGroup::new());
        let (st, tk, w2) = (stop.clone(), ticks.clone(), wg.clone());
        assert_eq!(wg.add(1), 0);
        go(move || {
            while !st.load(Ordering::Relaxed) {
                tk.fetch_add(1, Ordering::Relaxed);
                gmp_gosched();
            }
            assert_eq!(w2.done(), 0);
        });
        let mut during = Vec::new();
        for _ in 0..3 {
            let t = ticks.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            assert_eq!(
                blocking(move || {
                    let a = t.load(Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(30));
                    tx.send(t.load(Ordering::Relaxed) - a).unwrap();
                }),
                0
            );
            during.push(rx.recv().unwrap());
        }
        stop.store(true, Ordering::Relaxed);
        assert_eq!(wg.wait(), 0);
        let after = stats().syscall_handoffs;
        assert!(after > before, "handoffs {before} -> {after}");
        assert!(
            during.iter().all(|&d| d > 0),
            "the other goroutine ran during each blocking call: {during:?}"
        );
    });
}

/// On one P, a goroutine that runs 100 ms without blocking is asked to yield (sysmon,
/// after 10 ms); it honours the request at gmp_preempt_point, and the goroutine queued
/// behind it runs before it ends.
#[test]
fn preempt_requests_count_hogs() {
    in_child("preempt_requests_count_hogs", 1, || {
        // Entering a syscall section wakes sysmon if it deep-sleeps (the runtime may
        // just have been idle; see preempt_requests_after_the_runtime_was_idle).
        assert_eq!(blocking(|| {}), 0);
        let before = stats().preempt_requests;
        let other_ran = Arc::new(AtomicBool::new(false));
        let seen_by_hog = Arc::new(AtomicBool::new(false));
        let wg = Arc::new(WaitGroup::new());
        assert_eq!(wg.add(2), 0);
        // The other goroutine first, then the hog: the hog takes runnext and runs
        // first, the other waits in the queue behind it.
        let (o, w) = (other_ran.clone(), wg.clone());
        go(move || {
            o.store(true, Ordering::SeqCst);
            assert_eq!(w.done(), 0);
        });
        let (o, s, w) = (other_ran.clone(), seen_by_hog.clone(), wg.clone());
        go(move || {
            let end = gmp_now() + ms(100);
            while gmp_now() < end {
                gmp_preempt_point();
            }
            s.store(o.load(Ordering::SeqCst), Ordering::SeqCst);
            assert_eq!(w.done(), 0);
        });
        assert_eq!(wg.wait(), 0);
        let after = stats().preempt_requests;
        assert!(after > before, "preempt_requests {before} -> {after}");
        assert!(
            seen_by_hog.load(Ordering::SeqCst),
            "the queued goroutine ran while the hog was still running"
        );
    });
}

/// sysmon's voluntary context switches (each tick is one), from /proc; None until the
/// thread exists and has named itself.
fn sysmon_switches() -> Option<u64> {
    for t in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let dir = t.expect("a task").path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if comm.trim_end() != "gmp-sysmon" {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).expect("its status");
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("voluntary_ctxt_switches:") {
                return Some(v.trim().parse().expect("a count"));
            }
        }
    }
    None
}

/// A goroutine that computes for 300 ms (honouring gmp_preempt_point) is asked to yield
/// every 10 ms, and sysmon still backs off from its 20 us tick toward 10 ms, as Go's
/// does: only taking a P back from a syscall counts as work that keeps it ticking fast.
/// When a request to yield counted too, every request restarted 50 ticks of 20 us, over
/// 1,500 wake-ups in 300 ms (about 4,000 a second); backed off it is under 150.
#[test]
fn sysmon_backs_off_while_a_goroutine_computes() {
    in_child("sysmon_backs_off_while_a_goroutine_computes", 1, || {
        // Wakes sysmon if it deep-sleeps, so it watches the hog from the start.
        assert_eq!(blocking(|| {}), 0);
        // The thread names itself once it runs.
        wait_for("the gmp-sysmon thread", || sysmon_switches().is_some());
        let before = stats().preempt_requests;
        let s0 = sysmon_switches().expect("sysmon");
        let end = gmp_now() + ms(300);
        while gmp_now() < end {
            gmp_preempt_point();
        }
        let ticks = sysmon_switches().expect("sysmon") - s0;
        let requests = stats().preempt_requests - before;
        assert!(requests >= 5, "only {requests} requests to yield in 300 ms");
        assert!(
            ticks < 500,
            "sysmon woke {ticks} times in 300 ms of one computing goroutine"
        );
    });
}

/// On 2 P's, goroutines queued on one P are stolen by the other's M.
#[test]
fn steals_count_work_stealing() {
    in_child("steals_count_work_stealing", 2, || {
        let before = stats().steals;
        let wg = Arc::new(WaitGroup::new());
        // 200 fit in the spawner's local queue (256), so the other P gets them by
        // stealing, not from the global queue.
        for _ in 0..200 {
            let wg = wg.clone();
            assert_eq!(wg.add(1), 0);
            go(move || {
                spin(200_000);
                assert_eq!(wg.done(), 0);
            });
        }
        assert_eq!(wg.wait(), 0);
        let after = stats().steals;
        assert!(after > before, "steals {before} -> {after}");
    });
}

/// /proc/self/task/*/comm of the runtime's threads: `gmp-m<N>` and `gmp-sysmon`.
#[test]
fn runtime_threads_are_named() {
    let _s = serial();
    gmain(|| {
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..8 {
            let wg = wg.clone();
            assert_eq!(wg.add(1), 0);
            go(move || {
                spin(1_000_000);
                assert_eq!(wg.done(), 0);
            });
        }
        assert_eq!(wg.wait(), 0);
    });
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim_end().to_owned())
        .collect();
    assert!(names.iter().any(|n| n == "gmp-sysmon"), "{names:?}");
    let ms: Vec<&String> = names
        .iter()
        .filter(|n| {
            n.strip_prefix("gmp-m")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    assert!(!ms.is_empty(), "no gmp-mN thread in {names:?}");
}

/// Two goroutines, each holding one of 2 P's; gomaxprocs drops to 1, so one of them now
/// runs on a retired P. Each starts a goroutine (queued on its own P) and enters a 100 ms
/// blocking call: on the live P sysmon hands the P off and the queued goroutine runs;
/// on the retired P it should too (P0 is idle), but it waits for the whole call.
#[test]
fn blocking_on_a_retired_p_hands_off_its_queue() {
    const NAME: &str = "blocking_on_a_retired_p_hands_off_its_queue";
    let out = main_in_child(NAME, 2, &[], Duration::from_secs(10), child_retired_p);
    assert_eq!(
        out.mark("ran_during"),
        "2",
        "a goroutine queued behind a blocking call ran during it, on both P's"
    );
}

fn child_retired_p() {
    {
        let arrived = Arc::new(AtomicU64::new(0));
        let ran_during = Arc::new(AtomicU64::new(0));
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..2 {
            let (arrived, ran_during, wg) = (arrived.clone(), ran_during.clone(), wg.clone());
            assert_eq!(wg.add(1), 0);
            go(move || {
                // Both running at once, so on different P's (no switch point here).
                arrived.fetch_add(1, Ordering::SeqCst);
                while arrived.load(Ordering::SeqCst) < 2 {
                    std::hint::spin_loop();
                }
                gmp_maxprocs(1);
                let ran = Arc::new(AtomicBool::new(false));
                let (r2, w2) = (ran.clone(), wg.clone());
                assert_eq!(w2.add(1), 0);
                go(move || {
                    r2.store(true, Ordering::SeqCst);
                    assert_eq!(w2.done(), 0);
                });
                let r3 = ran.clone();
                let rd = ran_during.clone();
                assert_eq!(
                    blocking(move || {
                        std::thread::sleep(Duration::from_millis(100));
                        if r3.load(Ordering::SeqCst) {
                            rd.fetch_add(1, Ordering::SeqCst);
                        }
                    }),
                    0
                );
                assert_eq!(wg.done(), 0);
            });
        }
        assert_eq!(wg.wait(), 0);
        mark("ran_during", ran_during.load(Ordering::SeqCst));
    }
}

/// The hog of `preempt_requests_count_hogs`, right after the whole runtime (1 P) was idle
/// for 200 ms (sysmon deep-sleeps then) and woke by a timer; in a child process.
#[test]
fn preempt_requests_after_the_runtime_was_idle() {
    let out = main_in_child(
        "preempt_requests_after_the_runtime_was_idle",
        1,
        &[],
        Duration::from_secs(60),
        || {
            for round in 0..5 {
                assert_eq!(gmp_sleep(ms(200)), 0);
                let before = stats().preempt_requests;
                let other_ran = Arc::new(AtomicBool::new(false));
                let seen_by_hog = Arc::new(AtomicBool::new(false));
                let wg = Arc::new(WaitGroup::new());
                assert_eq!(wg.add(2), 0);
                let (o, w) = (other_ran.clone(), wg.clone());
                go(move || {
                    o.store(true, Ordering::SeqCst);
                    assert_eq!(w.done(), 0);
                });
                let (o, s, w) = (other_ran.clone(), seen_by_hog.clone(), wg.clone());
                go(move || {
                    // Spins until the queued goroutine has run, which on 1 P it can
                    // only do if sysmon preempts this one at a preempt point (no time
                    // bound: a preemption that never comes is a hang, which the
                    // child's timeout reports).
                    while !o.load(Ordering::SeqCst) {
                        gmp_preempt_point();
                    }
                    s.store(true, Ordering::SeqCst);
                    assert_eq!(w.done(), 0);
                });
                assert_eq!(wg.wait(), 0);
                let after = stats().preempt_requests;
                let seen = seen_by_hog.load(Ordering::SeqCst);
                mark("round", format!("{round} {before} {after} {seen}"));
            }
        },
    );
    for r in out.marks("round") {
        let f: Vec<&str> = r.split(' ').collect();
        assert!(
            f[2].parse::<u64>().unwrap() > f[1].parse::<u64>().unwrap() && f[3] == "true",
            "round {}: preempt_requests {} -> {}, the queued goroutine ran during the hog: {}",
            f[0],
            f[1],
            f[2],
            f[3]
        );
    }
}

/// gmp_num_goroutine is a sum of per-P counts read while goroutines are created on one
/// P and end on another. It must never report fewer than the goroutines that surely
/// live (here: the main goroutine, alive throughout), and it comes back to exactly that
/// when the others are gone.
#[test]
fn goroutine_count_never_drops_below_the_live_ones() {
    in_child("goroutine_count_never_drops_below_the_live_ones", 2, || {
        fn chain(left: u32, wg: Arc<WaitGroup>) {
            if left == 0 {
                assert_eq!(wg.done(), 0);
                return;
            }
            // Two children, so the chains spread over both P's (one is stolen).
            let w2 = wg.clone();
            assert_eq!(wg.add(1), 0);
            go(move || chain(left - 1, w2));
            go(move || chain(left - 1, wg));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let low = Arc::new(AtomicU64::new(u64::MAX));
        let reads = Arc::new(AtomicU64::new(0));
        let watcher = {
            let (stop, low, reads) = (stop.clone(), low.clone(), reads.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let n = gmp_num_goroutine();
                    low.fetch_min(n.max(0) as u64, Ordering::Relaxed);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        for _ in 0..20 {
            let wg = Arc::new(WaitGroup::new());
            assert_eq!(wg.add(1), 0);
            chain(14, wg.clone());
            assert_eq!(wg.wait(), 0);
        }
        // The chains' last goroutines may still be ending after their done().
        while gmp_num_goroutine() != 1 {
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap();
        assert!(reads.load(Ordering::Relaxed) > 0);
        let low = low.load(Ordering::Relaxed);
        assert!(low >= 1, "gmp_num_goroutine read {low} while main lived");
        let created = stats().goroutines_created;
        assert!(created >= 20 * ((1 << 15) - 2), "created {created}");
    });
}

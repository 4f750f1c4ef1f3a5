//! `GMP_DEBUG=schedtrace=N` and `scheddetail=1`: the lines sysmon prints to stderr, with
//! Go's field names and order, parsed strictly; the per-P queue lengths plus the global
//! queue add up to the goroutines known to be runnable; scheddetail names every wait
//! reason. Each test runs in a child process (the runtime reads GMP_DEBUG once).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::*;

/// One `SCHED` line, with Go's fields in Go's order.
#[derive(Debug, Clone, PartialEq)]
struct Sched {
    ms: u64,
    gomaxprocs: u64,
    idleprocs: u64,
    threads: u64,
    spinningthreads: u64,
    needspinning: u64,
    idlethreads: u64,
    runqueue: u64,
    /// The bracket of per-P run queue lengths (absent with scheddetail).
    queues: Option<Vec<u64>>,
}

const FIELDS: [&str; 7] = [
    "gomaxprocs",
    "idleprocs",
    "threads",
    "spinningthreads",
    "needspinning",
    "idlethreads",
    "runqueue",
];

/// Parses `SCHED <N>ms: gomaxprocs=.. idleprocs=.. threads=.. spinningthreads=..
/// needspinning=.. idlethreads=.. runqueue=.. [a b ...]` exactly (the regex
/// `^SCHED (\d+)ms: gomaxprocs=(\d+) idleprocs=(\d+) threads=(\d+) spinningthreads=(\d+)
/// needspinning=(\d+) idlethreads=(\d+) runqueue=(\d+)( \[\d+( \d+)*\])?$`).
fn parse_sched(line: &str) -> Result<Sched, String> {
    let bad = |why: &str| format!("{why}: {line:?}");
    let rest = line.strip_prefix("SCHED ").ok_or_else(|| bad("no SCHED"))?;
    let (ms, rest) = rest.split_once("ms: ").ok_or_else(|| bad("no `<N>ms: `"))?;
    let num = |s: &str| -> Result<u64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!("not a number {s:?}")));
        }
        s.parse().map_err(|_| bad("number"))
    };
    let ms = num(ms)?;
    let (fields, bracket) = match rest.split_once(" [") {
        Some((f, b)) => (
            f,
            Some(b.strip_suffix(']').ok_or_else(|| bad("unclosed bracket"))?),
        ),
        None => (rest, None),
    };
    let kv: Vec<&str> = fields.split(' ').collect();
    if kv.len() != FIELDS.len() {
        return Err(bad("wrong number of fields"));
    }
    let mut v = [0u64; 7];
    for (i, (item, want)) in kv.iter().zip(FIELDS).enumerate() {
        let (k, val) = item.split_once('=').ok_or_else(|| bad("no `=`"))?;
        if k != want {
            return Err(bad(&format!("field {i} is {k:?}, Go's is {want:?}")));
        }
        v[i] = num(val)?;
    }
    let queues = match bracket {
        Some(b) => Some(b.split(' ').map(num).collect::<Result<Vec<_>, _>>()?),
        None => None,
    };
    Ok(Sched {
        ms,
        gomaxprocs: v[0],
        idleprocs: v[1],
        threads: v[2],
        spinningthreads: v[3],
        needspinning: v[4],
        idlethreads: v[5],
        runqueue: v[6],
        queues,
    })
}

#[test]
fn parser_accepts_gos_line_and_rejects_others() {
    let go = "SCHED 1003ms: gomaxprocs=8 idleprocs=0 threads=12 spinningthreads=0 \
              needspinning=0 idlethreads=4 runqueue=0 [3 2 4 3 5 4 2 3]";
    let s = parse_sched(go).unwrap();
    assert_eq!(s.ms, 1003);
    assert_eq!(s.gomaxprocs, 8);
    assert_eq!(s.threads, 12);
    assert_eq!(s.idlethreads, 4);
    assert_eq!(s.queues, Some(vec![3, 2, 4, 3, 5, 4, 2, 3]));
    let detail = "SCHED 5ms: gomaxprocs=2 idleprocs=1 threads=3 spinningthreads=0 \
                  needspinning=0 idlethreads=1 runqueue=0";
    assert_eq!(parse_sched(detail).unwrap().queues, None);
    for bad in [
        "SCHED 5ms: gomaxprocs=2 idleprocs=1 threads=3",
        "SCHED 5ms: idleprocs=1 gomaxprocs=2 threads=3 spinningthreads=0 needspinning=0 idlethreads=1 runqueue=0",
        "SCHED 5ms: gomaxprocs=2 idleprocs=1 threads=3 spinningthreads=0 needspinning=0 idlethreads=1 runqueue=0 [1 2",
        "SCHED x: gomaxprocs=2 idleprocs=1 threads=3 spinningthreads=0 needspinning=0 idlethreads=1 runqueue=0",
        "SCHED 5ms: gomaxprocs=-2 idleprocs=1 threads=3 spinningthreads=0 needspinning=0 idlethreads=1 runqueue=0",
    ] {
        assert!(parse_sched(bad).is_err(), "accepted {bad:?}");
    }
}

/// The SCHED lines of `stderr` between the `DIAG <key> begin` and `DIAG <key> end`
/// markers (all of them when `key` is None), parsed; panics on a malformed one.
fn sched_lines(stderr: &str, key: Option<&str>) -> Vec<Sched> {
    let mut inside = key.is_none();
    let mut out = Vec::new();
    for l in stderr.lines() {
        if let Some(k) = key {
            if l == format!("DIAG {k} begin") {
                inside = true;
            } else if l == format!("DIAG {k} end") {
                inside = false;
            }
        }
        if l.starts_with("SCHED") {
            let s = parse_sched(l).unwrap_or_else(|e| panic!("{e}\n--- stderr\n{stderr}"));
            if inside {
                out.push(s);
            }
        }
    }
    out
}

const QUEUED: usize = 7;

/// Child: 1 P; the main goroutine starts QUEUED goroutines without yielding, then
/// spins 300 ms without a switch point, so they stay runnable and never run while
/// sysmon prints a line every 50 ms. They then run and end.
fn child_add_up() {
    init(1);
    let rc = gmp::rt::main(|| {
        let wg = std::sync::Arc::new(WaitGroup::new());
        assert_eq!(wg.add(QUEUED as i64), 0);
        for _ in 0..QUEUED {
            let wg = wg.clone();
            go(move || assert_eq!(wg.done(), 0));
        }
        mark("spin", "begin");
        spin(ms(300));
        mark("spin", "end");
        assert_eq!(wg.wait(), 0);
    });
    assert_eq!(rc, 0);
    child_exit(0);
}

#[test]
fn schedtrace_lines_add_up() {
    if is_child("schedtrace_lines_add_up") {
        child_add_up();
    }
    let out = rerun(
        "schedtrace_lines_add_up",
        &[("GMP_DEBUG", "schedtrace=50")],
        Duration::from_secs(10),
    );
    out.assert_exited_ok("schedtrace child");
    // Every SCHED line of the run parses, with one bracket entry per P.
    for s in sched_lines(&out.stderr, None) {
        assert_eq!(s.gomaxprocs, 1, "{s:?}");
        assert_eq!(s.queues.as_ref().map(Vec::len), Some(1), "{s:?}");
        assert!(
            s.idleprocs <= s.gomaxprocs && s.idlethreads <= s.threads,
            "{s:?}"
        );
    }
    // During the spin the only P is held by the spinner and exactly QUEUED goroutines
    // are runnable: in P0's queue (runnext included) or, once sysmon moved a hog's queue
    // to the global one, there. The first line may have been computed before the
    // spawns finished, so it is skipped.
    let during = sched_lines(&out.stderr, Some("spin"));
    assert!(
        during.len() >= 4,
        "want >= 4 lines in 300 ms at 50 ms, got {}\n{}",
        during.len(),
        out.stderr
    );
    for s in &during[1..] {
        let local: u64 = s.queues.as_ref().unwrap().iter().sum();
        assert_eq!(
            local + s.runqueue,
            QUEUED as u64,
            "per-P queues + runqueue != runnable goroutines in {s:?}\n{}",
            out.stderr
        );
        assert_eq!(s.idleprocs, 0, "{s:?}");
    }
    // The timestamps go forward at about the period.
    let all = sched_lines(&out.stderr, None);
    for w in all.windows(2) {
        assert!(w[1].ms >= w[0].ms, "time went back: {w:?}");
    }
    let span = all.last().unwrap().ms - all[0].ms;
    let avg = span as f64 / (all.len() - 1) as f64;
    assert!(
        (40.0..=150.0).contains(&avg),
        "average interval {avg} ms, want about 50"
    );
}

/// Busy goroutines (1 ms of work, 2 ms of sleep, in a loop) until `stop`; each counts
/// its rounds in `progress`.
fn start_workers(
    n: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    wg: &std::sync::Arc<WaitGroup>,
) -> Vec<std::sync::Arc<std::sync::atomic::AtomicU64>> {
    (0..n)
        .map(|_| {
            let (stop, wg) = (stop.clone(), wg.clone());
            let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let p2 = progress.clone();
            assert_eq!(wg.add(1), 0);
            go(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    spin(ms(1));
                    gmp_sleep(ms(2));
                    p2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                assert_eq!(wg.done(), 0);
            });
            progress
        })
        .collect()
}

/// Child: 2 P's, then 3, with goroutines sleeping and computing; then, once they have
/// stopped, 1. The changes are made by an ordinary goroutine while the main goroutine
/// waits in a receive. (Shrinking while goroutines sleep on the P's being retired, or
/// from gmp_main's locked goroutine, can hang the runtime: see
/// `goroutines_keep_running_after_gomaxprocs_shrink` and
/// `sleep_survives_gomaxprocs_shrink`.)
fn child_gomaxprocs() {
    init(2);
    let rc = gmp::rt::main(|| {
        let done = Ch::of::<i64>(0);
        go(move || {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let wg = std::sync::Arc::new(WaitGroup::new());
            start_workers(3, &stop, &wg);
            for (n, key) in [(2, "p2"), (3, "p3")] {
                gmp_maxprocs(n);
                mark(key, "begin");
                gmp_sleep(ms(180));
                mark(key, "end");
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            assert_eq!(wg.wait(), 0);
            gmp_maxprocs(1);
            mark("p1", "begin");
            gmp_sleep(ms(180));
            mark("p1", "end");
            assert_eq!(done.send::<i64>(1), 0);
        });
        assert_eq!(done.recv::<i64>().0, 0);
    });
    assert_eq!(rc, 0);
    child_exit(0);
}

#[test]
fn schedtrace_bracket_has_gomaxprocs_entries() {
    if is_child("schedtrace_bracket_has_gomaxprocs_entries") {
        child_gomaxprocs();
    }
    let out = rerun(
        "schedtrace_bracket_has_gomaxprocs_entries",
        &[("GMP_DEBUG", "schedtrace=50")],
        Duration::from_secs(10),
    );
    out.assert_exited_ok("schedtrace child");
    for s in sched_lines(&out.stderr, None) {
        let q = s.queues.as_ref().expect("bracket");
        assert_eq!(q.len() as u64, s.gomaxprocs, "{s:?}");
        assert!(s.idleprocs <= s.gomaxprocs, "{s:?}");
        assert!(
            s.spinningthreads <= s.threads && s.idlethreads <= s.threads,
            "{s:?}"
        );
        assert_eq!(s.needspinning, 0, "{s:?}");
    }
    for (key, n) in [("p2", 2), ("p3", 3), ("p1", 1)] {
        let lines = sched_lines(&out.stderr, Some(key));
        assert!(
            lines.len() >= 2,
            "{key}: {} lines\n{}",
            lines.len(),
            out.stderr
        );
        for s in &lines[1..] {
            assert_eq!(s.gomaxprocs, n, "{key}: {s:?}");
        }
    }
}

/// Child: goroutines blocked in every kind of wait, named; the main goroutine sleeps
/// while sysmon prints detailed blocks.
fn child_detail() {
    init(2);
    let rc = gmp::rt::main(|| {
        // Locked (Go's init-time LockOSThread idiom), so the M and G lines show a lock.
        assert_eq!(gmp::ffi::goroutine::gmp_lock_os_thread(), 0);
        let recv_ch = Ch::of::<i64>(0);
        let send_ch = Ch::of::<i64>(0);
        let sel_a = Ch::of::<i64>(0);
        let sel_b = Ch::of::<i64>(0);
        let mu = std::sync::Arc::new(Mutex::new());
        let wg = std::sync::Arc::new(WaitGroup::new());
        let cmu = std::sync::Arc::new(Mutex::new());
        let cond = std::sync::Arc::new(Cond::new());
        let rw = std::sync::Arc::new(RwMutex::new());
        let (sock, _peer) = socketpair();
        assert_eq!(gmp::ffi::netpoll::gmp_fd_adopt(sock), 0);
        assert_eq!(mu.lock(), 0);
        assert_eq!(wg.add(1), 0);
        assert_eq!(rw.rlock(), 0);
        let mut ids: Vec<(&str, u64)> = Vec::new();
        ids.push((
            "chan receive",
            go(move || {
                let _ = recv_ch.recv::<i64>();
            }),
        ));
        ids.push((
            "chan send",
            go(move || {
                let _ = send_ch.send::<i64>(1);
            }),
        ));
        ids.push((
            "select",
            go(move || {
                let _ = select_recv(&[sel_a, sel_b], -1);
            }),
        ));
        ids.push((
            "sleep",
            go(|| {
                let _ = gmp_sleep(ms(10_000));
            }),
        ));
        let m2 = mu.clone();
        ids.push((
            "sync.Mutex.Lock",
            go(move || {
                assert_eq!(m2.lock(), 0);
                assert_eq!(m2.unlock(), 0);
            }),
        ));
        let w2 = wg.clone();
        ids.push(("sync.WaitGroup.Wait", go(move || assert_eq!(w2.wait(), 0))));
        let (c2, cm2) = (cond.clone(), cmu.clone());
        ids.push((
            "sync.Cond.Wait",
            go(move || {
                assert_eq!(cm2.lock(), 0);
                assert_eq!(c2.wait(&cm2), 0);
                assert_eq!(cm2.unlock(), 0);
            }),
        ));
        let r2 = rw.clone();
        ids.push((
            "sync.RWMutex.Lock",
            go(move || {
                assert_eq!(r2.lock(), 0);
                assert_eq!(r2.unlock(), 0);
            }),
        ));
        ids.push((
            "IO wait",
            go(move || {
                let mut b = [0u8; 1];
                // SAFETY: a live buffer.
                unsafe { gmp::ffi::netpoll::gmp_read(sock, b.as_mut_ptr().cast(), 1, -1) };
            }),
        ));
        for (reason, id) in &ids {
            mark("g", format!("{id} {reason}"));
        }
        mark("main", gmp::ffi::goroutine::gmp_self());
        // Wait until all are parked, then let sysmon print a few blocks.
        wait_for("every goroutine parked", || {
            let d = dump();
            ids.iter()
                .all(|(r, id)| dump_line(&d, *id).is_some_and(|l| l.contains(&format!("[{r}]"))))
        });
        mark("parked", "begin");
        gmp_sleep(ms(400));
        mark("parked", "end");
        child_exit(0);
    });
    panic!("gmp_main returned {rc}");
}

#[test]
fn scheddetail_names_each_wait_reason() {
    if is_child("scheddetail_names_each_wait_reason") {
        child_detail();
    }
    let out = rerun(
        "scheddetail_names_each_wait_reason",
        &[("GMP_DEBUG", "schedtrace=50,scheddetail=1")],
        Duration::from_secs(10),
    );
    out.assert_exited_ok("scheddetail child");
    let want: Vec<(u64, String)> = out
        .marks("g")
        .iter()
        .map(|v| {
            let (id, reason) = v.split_once(' ').unwrap();
            (id.parse().unwrap(), reason.to_owned())
        })
        .collect();
    let main_id: u64 = out.mark("main").parse().unwrap();
    // The last block printed while everything, the main goroutine too, was parked. Not
    // simply the last block before the end marker: under load sysmon can print one after
    // main's sleep timer fired and before main ran again (G1 status=1, one timer left).
    let text = &out.stderr;
    let begin = text.find("DIAG parked begin").expect("marker");
    let end = text.find("DIAG parked end").expect("marker");
    let window = &text[begin..end];
    let main_asleep = format!("  G{main_id}: status=4(sleep) ");
    let blocks: Vec<Vec<&str>> = window
        .split("\nSCHED ")
        .skip(1)
        .map(|b| {
            let mut lines = vec![b.lines().next().unwrap_or("")];
            lines.extend(b.lines().skip(1).take_while(|l| l.starts_with("  ")));
            lines
        })
        .collect();
    let block: Vec<String> = blocks
        .iter()
        .rev()
        .find(|b| b.iter().any(|l| l.starts_with(&main_asleep)))
        .unwrap_or_else(|| panic!("no SCHED block while main slept:\n{window}"))
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("SCHED {l}")
            } else {
                (*l).to_owned()
            }
        })
        .collect();
    let block: Vec<&str> = block.iter().map(String::as_str).collect();
    let head = parse_sched(block[0]).unwrap();
    assert_eq!(
        head.queues, None,
        "scheddetail has no bracket: {}",
        block[0]
    );
    assert_eq!(head.gomaxprocs, 2);
    // P lines: `  P0: status=1 schedtick=.. syscalltick=.. m=.. runqsize=.. timerslen=..`
    let p_lines: Vec<&&str> = block.iter().filter(|l| l.starts_with("  P")).collect();
    assert_eq!(p_lines.len(), 2, "one line per P:\n{}", block.join("\n"));
    for (i, l) in p_lines.iter().enumerate() {
        let f = fields(l, &format!("P{i}"));
        assert_eq!(
            keys(&f),
            [
                "status",
                "schedtick",
                "syscalltick",
                "m",
                "runqsize",
                "timerslen"
            ],
            "{l}"
        );
        assert!(
            ["0", "1", "2", "3", "4"].contains(&f["status"].as_str()),
            "{l}"
        );
    }
    // The sleeping goroutine and the main goroutine's sleep are timers.
    let timers: u64 = p_lines
        .iter()
        .map(|l| fields(l, "")["timerslen"].parse::<u64>().unwrap())
        .sum();
    assert!(
        timers >= 2,
        "two sleeps pending, timerslen sum {timers}:\n{}",
        block.join("\n")
    );
    // M lines: `  M1: p=0 curg=1 spinning=false blocked=false lockedg=1`
    let m_lines: Vec<&&str> = block.iter().filter(|l| l.starts_with("  M")).collect();
    assert!(!m_lines.is_empty(), "M lines:\n{}", block.join("\n"));
    let mut main_locked = false;
    for l in &m_lines {
        let f = fields(l, "");
        assert_eq!(
            keys(&f),
            ["p", "curg", "spinning", "blocked", "lockedg"],
            "{l}"
        );
        assert!(["true", "false"].contains(&f["spinning"].as_str()), "{l}");
        main_locked |= f["lockedg"] == main_id.to_string();
    }
    assert!(
        main_locked,
        "an M shows lockedg={main_id} (gmp_main's goroutine)"
    );
    // G lines: `  G7: status=4(chan receive) m=-1 lockedm=nil`
    let g_lines: HashMap<u64, &str> = block
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("  G")?;
            let (id, _) = rest.split_once(':')?;
            Some((id.parse().ok()?, *l))
        })
        .collect();
    for (id, reason) in &want {
        let l = g_lines
            .get(id)
            .unwrap_or_else(|| panic!("no G{id} line:\n{}", block.join("\n")));
        assert_eq!(
            *l,
            format!("  G{id}: status=4({reason}) m=-1 lockedm=nil"),
            "goroutine blocked in {reason}"
        );
    }
    let ml = g_lines[&main_id];
    assert!(
        ml.starts_with(&format!("  G{main_id}: status=4(sleep) m=-1 lockedm=")),
        "main goroutine: {ml}"
    );
    assert!(!ml.ends_with("lockedm=nil"), "main is locked: {ml}");
}

/// `  X3: a=1 b=2` -> {a: 1, b: 2} in order (checks the `X3:` prefix if given).
fn fields(line: &str, prefix: &str) -> indexmap_lite::Map {
    let (head, rest) = line.trim_start().split_once(": ").expect("`X: `");
    if !prefix.is_empty() {
        assert_eq!(head, prefix, "{line}");
    }
    let mut m = indexmap_lite::Map::default();
    for kv in rest.split(' ') {
        let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{line}"));
        m.push(k, v);
    }
    m
}

fn keys(m: &indexmap_lite::Map) -> Vec<&str> {
    m.0.iter().map(|(k, _)| k.as_str()).collect()
}

mod indexmap_lite {
    /// An ordered map of a few string pairs.
    #[derive(Default, Debug)]
    pub struct Map(pub Vec<(String, String)>);
    impl Map {
        pub fn push(&mut self, k: &str, v: &str) {
            self.0.push((k.to_owned(), v.to_owned()));
        }
    }
    impl std::ops::Index<&str> for Map {
        type Output = String;
        fn index(&self, k: &str) -> &String {
            &self
                .0
                .iter()
                .find(|(kk, _)| kk == k)
                .unwrap_or_else(|| panic!("no field {k}"))
                .1
        }
    }
}

/// Child: busy goroutines on 3 P's (1 ms of work, 2 ms of sleep, in a loop) so that
/// gmp_main's goroutine (locked to its thread) wakes on any P; it shrinks gomaxprocs to
/// 1 and sleeps, 20 times.
fn child_shrink_sleep() {
    init(3);
    let rc = gmp::rt::main(|| {
        assert_eq!(gmp::ffi::goroutine::gmp_lock_os_thread(), 0);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for _ in 0..3 {
            let stop = stop.clone();
            go(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    spin(ms(1));
                    gmp_sleep(ms(2));
                }
            });
        }
        for round in 0..20 {
            gmp_maxprocs(3);
            assert_eq!(gmp_sleep(ms(10)), 0);
            gmp_maxprocs(1);
            mark("round", round);
            assert_eq!(gmp_sleep(ms(5)), 0);
            mark("woke", round);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(rc, 0);
    child_exit(0);
}

#[test]
fn sleep_survives_gomaxprocs_shrink() {
    if is_child("sleep_survives_gomaxprocs_shrink") {
        child_shrink_sleep();
    }
    let out = rerun(
        "sleep_survives_gomaxprocs_shrink",
        &[],
        Duration::from_secs(5),
    );
    assert!(
        !out.timed_out,
        "hung: slept in round {:?}, woke in {:?}",
        out.marks("round").last(),
        out.marks("woke").last()
    );
    out.assert_exited_ok("shrink child");
}

/// Child: busy goroutines on 3 P's; an ordinary goroutine shrinks gomaxprocs to 1 and
/// grows it back to 3, 10 times, sleeping 30 ms after each change.
fn child_shrink_busy() {
    init(3);
    let rc = gmp::rt::main(|| {
        let done = Ch::of::<i64>(0);
        go(move || {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let wg = std::sync::Arc::new(WaitGroup::new());
            let progress = start_workers(3, &stop, &wg);
            for round in 0..10 {
                gmp_maxprocs(1);
                mark("round", round);
                assert_eq!(gmp_sleep(ms(30)), 0);
                gmp_maxprocs(3);
                assert_eq!(gmp_sleep(ms(30)), 0);
            }
            let before: Vec<u64> = progress
                .iter()
                .map(|p| p.load(std::sync::atomic::Ordering::Relaxed))
                .collect();
            assert_eq!(gmp_sleep(ms(50)), 0);
            for (i, p) in progress.iter().enumerate() {
                let now = p.load(std::sync::atomic::Ordering::Relaxed);
                mark("progress", format!("{i} {} {now}", before[i]));
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            assert_eq!(wg.wait(), 0);
            assert_eq!(done.send::<i64>(1), 0);
        });
        assert_eq!(done.recv::<i64>().0, 0);
    });
    assert_eq!(rc, 0);
    child_exit(0);
}

#[test]
fn goroutines_keep_running_after_gomaxprocs_shrink() {
    if is_child("goroutines_keep_running_after_gomaxprocs_shrink") {
        child_shrink_busy();
    }
    let out = rerun(
        "goroutines_keep_running_after_gomaxprocs_shrink",
        &[],
        Duration::from_secs(6),
    );
    assert!(
        !out.timed_out,
        "hung after shrinking in round {:?}",
        out.marks("round").last()
    );
    out.assert_exited_ok("shrink child");
    for p in out.marks("progress") {
        let v: Vec<u64> = p.split(' ').map(|x| x.parse().unwrap()).collect();
        assert!(v[2] > v[1], "worker {} made no progress in 50 ms", v[0]);
    }
}

//! The execution trace (`GMP_TRACE=path`, `gmp_trace_start`/`gmp_trace_stop`): valid JSON
//! in the Chrome trace event format, one track per P with a slice per goroutine run, one
//! per M with its syscalls, flow arrows from unblock to run. The file is read back with
//! Python's json module (there is no JSON crate among the dependencies).

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use support::*;

/// Loads the trace strictly with json.load and prints one tab-separated line per event:
/// ph, tid, ts, dur, cat, id, goid, name (`-` for absent), after a first line with the
/// top-level keys.
const SUMMARIZE: &str = r#"
import json, sys
def bad_constant(c):
    raise ValueError("non-JSON constant " + c)
with open(sys.argv[1]) as f:
    d = json.load(f, parse_constant=bad_constant)
assert isinstance(d, dict), "top level is an object"
print("keys\t" + ",".join(sorted(d)))
evs = d["traceEvents"]
assert isinstance(evs, list), "traceEvents is a list"
for e in evs:
    assert isinstance(e, dict) and "ph" in e and "name" in e and e.get("pid") == 1, e
    ph = e["ph"]
    name = e["args"]["name"] if ph == "M" else e["name"]
    goid = e.get("args", {}).get("goid", "-") if ph != "M" else "-"
    f = [ph, e.get("tid", "-"), e.get("ts", "-"), e.get("dur", "-"), e.get("cat", "-"),
         e.get("id", "-"), goid, e["name"] + ":" + name if ph == "M" else name]
    for x in (e.get("ts"), e.get("dur")):
        assert x is None or isinstance(x, (int, float)), e
    print("\t".join(str(x) for x in f))
"#;

#[derive(Debug, Clone)]
struct Ev {
    ph: String,
    tid: Option<i64>,
    ts: f64,
    dur: f64,
    cat: String,
    id: Option<u64>,
    goid: Option<u64>,
    name: String,
}

/// The events of the trace at `path`, through Python's json module.
fn load(path: &str) -> (Vec<String>, Vec<Ev>) {
    let out = std::process::Command::new("python3")
        .args(["-c", SUMMARIZE, path])
        .output()
        .expect("python3 is needed to validate the trace JSON");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the trace is not valid: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .chars()
            .take(2000)
            .collect::<String>()
    );
    let mut lines = text.lines();
    let keys = lines
        .next()
        .unwrap()
        .strip_prefix("keys\t")
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    fn opt(s: &str) -> Option<&str> {
        if s == "-" { None } else { Some(s) }
    }
    let evs = lines
        .map(|l| {
            let f: Vec<&str> = l.splitn(8, '\t').collect();
            Ev {
                ph: f[0].to_owned(),
                tid: opt(f[1]).map(|s| s.parse().unwrap()),
                ts: opt(f[2]).map_or(0.0, |s| s.parse().unwrap()),
                dur: opt(f[3]).map_or(0.0, |s| s.parse().unwrap()),
                cat: f[4].to_owned(),
                id: opt(f[5]).map(|s| s.parse().unwrap()),
                goid: opt(f[6]).map(|s| s.parse().unwrap()),
                name: f[7].to_owned(),
            }
        })
        .collect();
    (keys, evs)
}

const M_TID: i64 = 100_000;

fn tmp_path(tag: &str) -> String {
    let dir = std::env::temp_dir().join(format!("gmp-diag-trace-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("t.json").to_string_lossy().into_owned()
}

/// Removes the directory of a trace made by `tmp_path` (after the test passed).
fn cleanup(path: &str) {
    if let Some(dir) = std::path::Path::new(path).parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Child: a worker pool over channels on 2 P's, a goroutine that sleeps, one in a
/// 20 ms gmp_blocking call; the trace is written at exit (GMP_TRACE).
fn child_program() {
    init(2);
    let rc = gmp::rt::main(|| {
        let jobs = Ch::of::<i64>(8);
        let results = Ch::of::<i64>(8);
        let wg = Arc::new(WaitGroup::new());
        for w in 0..4 {
            let wg = wg.clone();
            assert_eq!(wg.add(1), 0);
            go_named(&format!("worker-{w}"), move || {
                while let (0, n) = jobs.recv::<i64>() {
                    spin(200_000);
                    assert_eq!(results.send::<i64>(n * 2), 0);
                }
                assert_eq!(wg.done(), 0);
            });
        }
        go_named("feeder", move || {
            for i in 0..200 {
                assert_eq!(jobs.send::<i64>(i), 0);
            }
            jobs.close();
        });
        let wg2 = wg.clone();
        assert_eq!(wg2.add(1), 0);
        go_named("sleeper", move || {
            for _ in 0..5 {
                assert_eq!(gmp_sleep(ms(2)), 0);
            }
            assert_eq!(wg2.done(), 0);
        });
        let wg3 = wg.clone();
        assert_eq!(wg3.add(1), 0);
        let sys = go_named("sys", move || {
            assert_eq!(
                blocking(|| std::thread::sleep(Duration::from_millis(20))),
                0
            );
            assert_eq!(wg3.done(), 0);
        });
        mark("sys", sys);
        let mut sum = 0;
        for _ in 0..200 {
            let (rc, v) = results.recv::<i64>();
            assert_eq!(rc, 0);
            sum += v;
        }
        assert_eq!(sum, 199 * 200);
        assert_eq!(wg.wait(), 0);
    });
    assert_eq!(rc, 0);
    child_exit(0); // exit(3) runs the atexit hook that writes the file
}

#[test]
fn gmp_trace_env_writes_chrome_trace() {
    if is_child("gmp_trace_env_writes_chrome_trace") {
        child_program();
    }
    let path = tmp_path("env");
    let out = rerun(
        "gmp_trace_env_writes_chrome_trace",
        &[("GMP_TRACE", path.as_str())],
        Duration::from_secs(10),
    );
    out.assert_exited_ok("traced child");
    let sys: u64 = out.mark("sys").parse().unwrap();
    let (keys, evs) = load(&path);
    assert!(keys.contains(&"traceEvents".to_owned()), "{keys:?}");
    assert!(keys.contains(&"displayTimeUnit".to_owned()), "{keys:?}");

    // Metadata: the process, one track per P (tids 0 and 1), one per M.
    let meta: Vec<&Ev> = evs.iter().filter(|e| e.ph == "M").collect();
    assert!(meta.iter().any(|e| e.name == "process_name:libgmp"));
    let threads: BTreeMap<i64, String> = meta
        .iter()
        .filter_map(|e| Some((e.tid?, e.name.strip_prefix("thread_name:")?.to_owned())))
        .collect();
    assert_eq!(
        threads.get(&0).map(String::as_str),
        Some("P0"),
        "{threads:?}"
    );
    assert_eq!(
        threads.get(&1).map(String::as_str),
        Some("P1"),
        "{threads:?}"
    );
    for (tid, name) in &threads {
        if *tid >= M_TID {
            assert_eq!(*name, format!("M{}", tid - M_TID));
        } else {
            assert!(*tid < 2, "P track beyond gomaxprocs: {tid} {name}");
        }
    }

    // Goroutine slices: on the P tracks only, on both P's, named by name (or G<id>),
    // one goroutine id per name, never negative.
    let runs: Vec<&Ev> = evs
        .iter()
        .filter(|e| e.ph == "X" && e.cat == "goroutine")
        .collect();
    let mut by_name: HashMap<&str, BTreeSet<u64>> = HashMap::new();
    for e in &runs {
        let tid = e.tid.unwrap();
        assert!(
            (0..2).contains(&tid),
            "goroutine slice off the P tracks: {e:?}"
        );
        assert!(e.ts >= 0.0 && e.dur > 0.0, "{e:?}");
        by_name.entry(&e.name).or_default().insert(e.goid.unwrap());
    }
    for tid in 0..2 {
        assert!(
            runs.iter().any(|e| e.tid == Some(tid)),
            "no goroutine ran on P{tid}"
        );
    }
    for name in [
        "main", "feeder", "sleeper", "sys", "worker-0", "worker-1", "worker-2", "worker-3",
    ] {
        let ids = by_name
            .get(name)
            .unwrap_or_else(|| panic!("no slice named {name}: {:?}", by_name.keys()));
        assert_eq!(ids.len(), 1, "{name}: {ids:?}");
    }
    assert_eq!(by_name["sys"], BTreeSet::from([sys]));
    // The sleeper ran at least 6 times (start, and after each of 5 sleeps).
    assert!(runs.iter().filter(|e| e.name == "sleeper").count() >= 6);

    // Creations are instants on the P tracks.
    let creates = evs
        .iter()
        .filter(|e| e.ph == "i" && e.name.starts_with("create G"))
        .count();
    assert!(creates >= 7, "create instants: {creates}");

    // Flow arrows: each end has its start, earlier, with the same id.
    let starts: HashMap<u64, &Ev> = evs
        .iter()
        .filter(|e| e.ph == "s")
        .map(|e| (e.id.unwrap(), e))
        .collect();
    let ends: Vec<&Ev> = evs.iter().filter(|e| e.ph == "f").collect();
    assert!(!ends.is_empty(), "no flow events");
    for f in &ends {
        let s = starts
            .get(&f.id.unwrap())
            .unwrap_or_else(|| panic!("flow end without start: {f:?}"));
        assert!(s.ts <= f.ts, "flow goes back in time: {s:?} -> {f:?}");
        assert!((0..2).contains(&f.tid.unwrap()), "{f:?}");
    }

    // The 20 ms gmp_blocking call is a syscall slice on an M track.
    let sc: Vec<&Ev> = evs
        .iter()
        .filter(|e| e.ph == "X" && e.cat == "syscall")
        .collect();
    let mine: Vec<&&Ev> = sc
        .iter()
        .filter(|e| e.name == format!("syscall G{sys}"))
        .collect();
    assert_eq!(mine.len(), 1, "{sc:?}");
    assert!(mine[0].tid.unwrap() >= M_TID && threads.contains_key(&mine[0].tid.unwrap()));
    assert!(mine[0].dur >= 19_000.0, "{:?}", mine[0]);
    cleanup(&path);
}

/// Goroutine slices on one P track never overlap: a P runs one goroutine at a time.
fn overlaps(evs: &[Ev]) -> Vec<(Ev, Ev)> {
    let mut per: BTreeMap<i64, Vec<&Ev>> = BTreeMap::new();
    for e in evs.iter().filter(|e| e.ph == "X" && e.cat == "goroutine") {
        per.entry(e.tid.unwrap()).or_default().push(e);
    }
    let mut bad = Vec::new();
    for v in per.values_mut() {
        v.sort_by(|a, b| a.ts.partial_cmp(&b.ts).unwrap());
        for w in v.windows(2) {
            // Timestamps are µs with ns precision (3 decimals).
            if w[0].ts + w[0].dur > w[1].ts + 0.0015 {
                bad.push((w[0].clone(), w[1].clone()));
            }
        }
    }
    bad
}

/// Runs `f` as gmp_main's goroutine in a child with `procs` P's and GMP_TRACE, and checks
/// that no two slices on one P's track overlap.
fn no_overlaps_in_child(test: &str, procs: i32, tag: &str, f: impl FnOnce() + Send + 'static) {
    // In the child the path is not used (the parent sets GMP_TRACE): make no directory.
    let path = if is_child(test) {
        String::new()
    } else {
        tmp_path(tag)
    };
    let env = [("GMP_TRACE", path.as_str())];
    main_in_child(test, procs, &env, Duration::from_secs(10), f);
    let (_, evs) = load(&path);
    let bad = overlaps(&evs);
    assert!(
        bad.is_empty(),
        "{} overlaps, first: {:?}",
        bad.len(),
        bad.first()
    );
    cleanup(&path);
}

#[test]
fn trace_slices_on_a_p_do_not_overlap_without_syscalls() {
    no_overlaps_in_child(
        "trace_slices_on_a_p_do_not_overlap_without_syscalls",
        2,
        "nooverlap",
        || {
            let (ping, pong) = (Ch::of::<i64>(0), Ch::of::<i64>(0));
            go_named("ponger", move || {
                while let (0, v) = ping.recv::<i64>() {
                    spin(20_000);
                    assert_eq!(pong.send::<i64>(v), 0);
                }
            });
            let wg = Arc::new(WaitGroup::new());
            for i in 0..4 {
                let wg = wg.clone();
                assert_eq!(wg.add(1), 0);
                go_named(&format!("sleeper-{i}"), move || {
                    for _ in 0..20 {
                        spin(100_000);
                        assert_eq!(gmp_sleep(ms(1)), 0);
                    }
                    assert_eq!(wg.done(), 0);
                });
            }
            for i in 0..500 {
                assert_eq!(ping.send::<i64>(i), 0);
                assert_eq!(pong.recv::<i64>(), (0, i));
            }
            ping.close();
            assert_eq!(wg.wait(), 0);
        },
    );
}

#[test]
fn trace_slices_on_a_p_do_not_overlap_with_syscalls() {
    no_overlaps_in_child(
        "trace_slices_on_a_p_do_not_overlap_with_syscalls",
        1,
        "syscall-overlap",
        || {
            let wg = Arc::new(WaitGroup::new());
            let w2 = wg.clone();
            assert_eq!(w2.add(1), 0);
            go_named("sys", move || {
                assert_eq!(
                    blocking(|| std::thread::sleep(Duration::from_millis(30))),
                    0
                );
                assert_eq!(w2.done(), 0);
            });
            for i in 0..3 {
                let wg = wg.clone();
                assert_eq!(wg.add(1), 0);
                go_named(&format!("busy-{i}"), move || {
                    for _ in 0..10 {
                        spin(1_000_000);
                        gmp_gosched();
                    }
                    assert_eq!(wg.done(), 0);
                });
            }
            assert_eq!(wg.wait(), 0);
        },
    );
}

/// Child: gmp_trace_start/stop around the middle of three phases.
fn child_start_stop(path: &str) {
    init(2);
    let path = std::ffi::CString::new(path).unwrap();
    let rc = gmp::rt::main(move || {
        let phase = |tag: &str| {
            let wg = Arc::new(WaitGroup::new());
            let ch = Ch::of::<i64>(0);
            for i in 0..3 {
                let wg = wg.clone();
                assert_eq!(wg.add(1), 0);
                go_named(&format!("{tag}-{i}"), move || {
                    for _ in 0..20 {
                        assert_eq!(ch.send::<i64>(i), 0);
                    }
                    assert_eq!(wg.done(), 0);
                });
            }
            for _ in 0..60 {
                assert_eq!(ch.recv::<i64>().0, 0);
            }
            assert_eq!(wg.wait(), 0);
        };
        phase("before");
        // SAFETY: NULL is rejected.
        let rc = unsafe { gmp_trace_start(std::ptr::null()) };
        assert_eq!(rc, gmp::ffi::GMP_EINVAL);
        assert_eq!(
            gmp_trace_stop(),
            gmp::ffi::GMP_EINVAL,
            "stop without a trace"
        );
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { gmp_trace_start(path.as_ptr()) }, 0);
        // SAFETY: as above.
        let rc = unsafe { gmp_trace_start(path.as_ptr()) };
        assert_eq!(rc, gmp::ffi::GMP_EALREADY);
        phase("during");
        // Stopped from a thread of our own while this goroutine waits (stopping from a
        // goroutine loses its P's events: see the ignored test below).
        let done = Ch::of::<i64>(0);
        std::thread::spawn(move || {
            let t0 = gmp_now();
            assert_eq!(gmp_trace_stop(), 0);
            mark("stop_ms", (gmp_now() - t0) / 1_000_000);
            assert_eq!(gmp_trace_stop(), gmp::ffi::GMP_EINVAL, "stopped twice");
            assert_eq!(done.send::<i64>(1), 0);
        });
        assert_eq!(done.recv::<i64>(), (0, 1));
        phase("after");
        // SAFETY: a NUL-terminated path in a directory that does not exist.
        let rc = unsafe { gmp_trace_start(c"/nonexistent-dir/t.json".as_ptr()) };
        assert_eq!(rc, -libc::ENOENT);
    });
    assert_eq!(rc, 0);
    child_exit(0);
}

#[test]
fn gmp_trace_start_stop_around_part_of_a_run() {
    if is_child("gmp_trace_start_stop_around_part_of_a_run") {
        child_start_stop(&std::env::var("DIAG_PATH").unwrap());
    }
    let path = tmp_path("startstop");
    let out = rerun(
        "gmp_trace_start_stop_around_part_of_a_run",
        &[("DIAG_PATH", path.as_str())],
        Duration::from_secs(10),
    );
    out.assert_exited_ok("start/stop child");
    let (_, evs) = load(&path);
    let names: BTreeSet<&str> = evs
        .iter()
        .filter(|e| e.ph == "X" && e.cat == "goroutine")
        .map(|e| e.name.as_str())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("before") || n.starts_with("after")),
        "slices from outside the traced part: {names:?}"
    );
    for i in 0..3 {
        assert!(
            names.contains(format!("during-{i}").as_str()),
            "during-{i} missing from {names:?}"
        );
    }
    cleanup(&path);
}

#[test]
fn gmp_trace_stop_from_a_goroutine_keeps_its_ps_events() {
    if is_child("gmp_trace_stop_from_a_goroutine_keeps_its_ps_events") {
        init(1);
        let path = std::ffi::CString::new(std::env::var("DIAG_PATH").unwrap()).unwrap();
        let rc = gmp::rt::main(move || {
            // SAFETY: a NUL-terminated path.
            assert_eq!(unsafe { gmp_trace_start(path.as_ptr()) }, 0);
            let wg = Arc::new(WaitGroup::new());
            let w2 = wg.clone();
            assert_eq!(wg.add(1), 0);
            go_named("yielder", move || {
                for _ in 0..100 {
                    gmp_gosched();
                }
                assert_eq!(w2.done(), 0);
            });
            assert_eq!(wg.wait(), 0);
            let t0 = gmp_now();
            assert_eq!(gmp_trace_stop(), 0);
            mark("stop_ms", (gmp_now() - t0) / 1_000_000);
        });
        assert_eq!(rc, 0);
        child_exit(0);
    }
    let path = tmp_path("stop-from-goroutine");
    let out = rerun(
        "gmp_trace_stop_from_a_goroutine_keeps_its_ps_events",
        &[("DIAG_PATH", path.as_str())],
        Duration::from_secs(10),
    );
    out.assert_exited_ok("child");
    let (_, evs) = load(&path);
    let n = evs
        .iter()
        .filter(|e| e.ph == "X" && e.name == "yielder")
        .count();
    assert!(
        n >= 100,
        "100 yields, {n} slices of the yielder in the file"
    );
    let stop_ms: i64 = out.mark("stop_ms").parse().unwrap();
    assert!(stop_ms < 50, "gmp_trace_stop took {stop_ms} ms");
    cleanup(&path);
}

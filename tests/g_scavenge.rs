//! Idle G's go back to the kernel and come back safely (`src/sched/gslab.rs`): the G
//! scavenger gives back pages whose every G sat unused on the global free list, and a G
//! on such a page is rebuilt when it is carved again. What must hold:
//! - a goroutine that ended early from a wait with a deadline leaves a stale timer that
//!   points at its G; when that timer fires into a G that was given back and reused by a
//!   new goroutine, its claim must fail (the new goroutine's wait sequence starts above
//!   every old one) and the new goroutine keeps waiting;
//! - released G's leave the dump; reused ones show their new id and name;
//! - a page that still holds a live goroutine is never given back.
//!
//! Progress checks with hang detectors only; no wall-clock assertion.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;

/// Runs the G scavenger until `cond` holds (sysmon runs it too, about once a second; a
/// pass only takes G's that were idle since the previous pass, so it takes two).
fn scavenge_until(what: &str, mut cond: impl FnMut() -> bool) {
    wait_until(what, Duration::from_secs(60), || {
        gmp::rt::scavenge_gs();
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
        false
    });
}

#[test]
fn stale_timers_fire_into_released_and_reused_gs() {
    let _s = serial();
    let n = scale(20_000, 200_000) as u64;
    // Wave 1: every goroutine waits with a deadline, then ends early (the channel is
    // closed), leaving a stale timer that points at its G.
    let a = Chan::new(8, 0);
    let parked = Arc::new(AtomicU64::new(0));
    let ended = Arc::new(AtomicU64::new(0));
    let deadline_ns = 5_000 * MS;
    let timers_due = now() + deadline_ns;
    let mut ids1 = Vec::new();
    for i in 0..n {
        let (a, p, e) = (a.share(), parked.clone(), ended.clone());
        let f = move || {
            p.fetch_add(1, Ordering::SeqCst);
            let (rc, _) = a.recv_timeout_u64(deadline_ns);
            assert_eq!(rc, GMP_ECLOSED);
            e.fetch_add(1, Ordering::SeqCst);
        };
        ids1.push(if i % 7 == 0 {
            go_named(&format!("wave1-{i}"), f)
        } else {
            go(f)
        });
    }
    wait_for("wave 1 to park", || parked.load(Ordering::SeqCst) == n);
    assert_eq!(a.close(), 0);
    wait_for("wave 1 to end", || ended.load(Ordering::SeqCst) == n);
    wait_for("wave 1 to be freed", || stats().goroutines == 0);
    let before = gmp::rt::g_slab_stats();
    scavenge_until("the scavenger to give wave 1's G's back", || {
        gmp::rt::g_slab_stats().gs_released as u64 >= before.gs_released as u64 + n / 2
    });
    let released = gmp::rt::g_slab_stats();
    let d = dump();
    assert!(
        !d.contains("wave1-"),
        "a released goroutine is still in the dump:\n{}",
        &d[..d.len().min(2000)]
    );

    // Wave 2 reuses them: it waits on a channel with no deadline, while wave 1's stale
    // timers fire into its G's.
    let b = Chan::new(8, 0);
    let parked2 = Arc::new(AtomicU64::new(0));
    let early = Arc::new(AtomicU64::new(0));
    let ended2 = Arc::new(AtomicU64::new(0));
    let ids2 = Arc::new(Mutex::new(HashSet::new()));
    for i in 0..n {
        let (b, p, e, x, ids) = (
            b.share(),
            parked2.clone(),
            ended2.clone(),
            early.clone(),
            ids2.clone(),
        );
        let f = move || {
            ids.lock().unwrap().insert(gmp_self());
            p.fetch_add(1, Ordering::SeqCst);
            let (rc, _) = b.recv_u64();
            if rc != GMP_ECLOSED {
                x.fetch_add(1, Ordering::SeqCst);
            }
            e.fetch_add(1, Ordering::SeqCst);
        };
        if i % 5 == 0 {
            go_named(&format!("wave2-{i}"), f);
        } else {
            go(f);
        }
    }
    wait_for("wave 2 to park", || parked2.load(Ordering::SeqCst) == n);
    let reused = gmp::rt::g_slab_stats();
    assert!(
        reused.gs_released < released.gs_released,
        "wave 2 did not reuse released G's: {released:?} then {reused:?}"
    );
    // Let every stale timer of wave 1 fire (they wake M's; nothing else runs).
    while now() < timers_due + 200 * MS {
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for("wave 1's timers to fire", || gmp::rt::pending_timers() == 0);
    assert_eq!(
        early.load(Ordering::SeqCst),
        0,
        "a stale timer of an ended goroutine woke a new one on its reused G"
    );
    assert_eq!(ended2.load(Ordering::SeqCst), 0, "wave 2 ended early");
    // The dump lists wave 2 with its names and new ids, and no wave 1.
    let d = dump();
    let named = d.lines().filter(|l| l.contains("\"wave2-")).count() as u64;
    assert_eq!(named, n.div_ceil(5), "named wave 2 goroutines in the dump");
    assert!(!d.contains("wave1-"));
    let ids2 = ids2.lock().unwrap().clone();
    assert_eq!(ids2.len() as u64, n, "ids are unique");
    let max1 = *ids1.iter().max().unwrap();
    assert!(ids2.iter().all(|&id| id > max1), "ids are never reused");
    for &id in ids2.iter().take(100) {
        let line = dump_line(&d, id).unwrap_or_else(|| panic!("goroutine {id} not in the dump"));
        assert!(line.contains("[chan receive"), "{line}");
    }
    assert_eq!(b.close(), 0);
    wait_for("wave 2 to end", || ended2.load(Ordering::SeqCst) == n);
    assert_eq!(early.load(Ordering::SeqCst), 0, "a wave 2 receive failed");
}

#[test]
fn pages_with_a_live_goroutine_stay() {
    let _s = serial();
    let n = scale(20_000, 200_000) as u64;
    // Neighbouring G's (spawned one after the other) wait on different channels, so when
    // one channel closes, half of every page's G's end and the other half stay parked.
    let (a, b) = (Chan::new(8, 0), Chan::new(8, 0));
    let parked = Arc::new(AtomicU64::new(0));
    let ended_a = Arc::new(AtomicU64::new(0));
    let ended_b = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let mut ids_b = Vec::new();
    for i in 0..n {
        let on_a = i % 2 == 0;
        let ch = if on_a { a.share() } else { b.share() };
        let (p, e, x) = (
            parked.clone(),
            if on_a {
                ended_a.clone()
            } else {
                ended_b.clone()
            },
            bad.clone(),
        );
        let f = move || {
            let me = gmp_self();
            p.fetch_add(1, Ordering::SeqCst);
            let (rc, _) = ch.recv_u64();
            // A G zeroed under a live goroutine would lose its id (and much else).
            if rc != GMP_ECLOSED || gmp_self() != me {
                x.fetch_add(1, Ordering::SeqCst);
            }
            e.fetch_add(1, Ordering::SeqCst);
        };
        if on_a {
            go(f);
        } else {
            ids_b.push(go_named(&format!("live-{i}"), f));
        }
    }
    wait_for("all to park", || parked.load(Ordering::SeqCst) == n);
    assert_eq!(a.close(), 0);
    wait_for("half to end", || ended_a.load(Ordering::SeqCst) == n / 2);
    // Several passes over the fragmented free list (each needs the list idle since the
    // previous one; after a pass that frees nothing the scavenger backs off, so these
    // direct calls may do nothing, which is fine).
    for _ in 0..5 {
        gmp::rt::scavenge_gs();
        std::thread::sleep(Duration::from_millis(20));
    }
    let d = dump();
    let lines: std::collections::HashMap<u64, &str> = d
        .lines()
        .filter_map(|l| {
            let id = l
                .strip_prefix("goroutine ")?
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            Some((id, l))
        })
        .collect();
    for &id in &ids_b {
        let line = lines
            .get(&id)
            .unwrap_or_else(|| panic!("live goroutine {id} lost"));
        assert!(
            line.contains("[chan receive") && line.contains("\"live-"),
            "{line}"
        );
    }
    assert_eq!(b.close(), 0);
    wait_for("the other half to end", || {
        ended_b.load(Ordering::SeqCst) == n / 2
    });
    assert_eq!(bad.load(Ordering::SeqCst), 0);
}

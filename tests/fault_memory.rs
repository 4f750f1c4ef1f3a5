//! Memory exhaustion: with `RLIMIT_AS` low (set in a child process before the runtime
//! takes stacks), `gmp_go` eventually returns `GMP_ENOMEM` and `gmp_chan_make` with a
//! huge buffer returns `GMP_ENOMEM`; goroutines already running go on; and once memory
//! is freed (goroutines end; then the limit is raised) the runtime recovers: `gmp_go`
//! succeeds again and new goroutines run.
//!
//! Stacks are taken lazily, when a goroutine first runs (`start_coro` in
//! `sched/schedule.rs`): a goroutine that cannot get one waits in the run queue, and
//! meanwhile the runtime refuses new goroutines with `GMP_ENOMEM`. So the child spawns
//! parked goroutines in small batches, letting each batch start, until `gmp_go` refuses.

mod support;

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::*;

static STARTED: AtomicU64 = AtomicU64::new(0);
static ENDED: AtomicU64 = AtomicU64::new(0);
static BEATS: AtomicU64 = AtomicU64::new(0);
static PINGS: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// A parked goroutine: waits on the gate channel (arg) until it is closed.
unsafe extern "C" fn parked(arg: *mut c_void) {
    STARTED.fetch_add(1, Ordering::Relaxed);
    let gate = arg as *mut gmp_chan;
    // SAFETY: the gate outlives every goroutine parked on it (the child never frees it
    // before they ended).
    let rc = unsafe { gmp_chan_recv(gate, std::ptr::null_mut()) };
    assert_eq!(rc, GMP_ECLOSED);
    ENDED.fetch_add(1, Ordering::Relaxed);
}

unsafe extern "C" fn heartbeat(_: *mut c_void) {
    while !STOP.load(Ordering::Relaxed) {
        assert_eq!(gmp_sleep(MS), 0);
        BEATS.fetch_add(1, Ordering::Relaxed);
    }
}

/// One side of a ping-pong over an unbuffered channel (arg).
unsafe extern "C" fn ping(arg: *mut c_void) {
    let ch = arg as *mut gmp_chan;
    let mut v = 0u64;
    while !STOP.load(Ordering::Relaxed) {
        // SAFETY: the channel lives for the whole child (leaked).
        let rc = unsafe { gmp_chan_send_timeout(ch, (&v as *const u64).cast(), 100 * MS) };
        if rc == 0 {
            v += 1;
        }
    }
}

unsafe extern "C" fn pong(arg: *mut c_void) {
    let ch = arg as *mut gmp_chan;
    while !STOP.load(Ordering::Relaxed) {
        let mut v = 0u64;
        // SAFETY: as above.
        let rc = unsafe { gmp_chan_recv_timeout(ch, (&mut v as *mut u64).cast(), 100 * MS) };
        if rc == 0 {
            PINGS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

unsafe extern "C" fn nop(_: *mut c_void) {}

fn chan_make(elem: usize, cap: usize) -> (i32, *mut gmp_chan) {
    let mut c = std::ptr::null_mut();
    // SAFETY: out-pointer to a local.
    let rc = unsafe { gmp_chan_make(&mut c, elem, cap) };
    (rc, c)
}

/// Spawns parked goroutines in batches of 16 until gmp_go says GMP_ENOMEM (or `max`
/// were spawned); returns (spawned, saw_enomem).
fn spawn_until_enomem(gate: *mut gmp_chan, max: u64) -> (u64, bool) {
    let mut spawned = 0;
    while spawned < max {
        let rc = gmp_go(Some(parked), gate.cast());
        if rc == GMP_ENOMEM {
            return (spawned, true);
        }
        assert_eq!(rc, 0, "gmp_go: {}", rc);
        spawned += 1;
        if spawned % 16 == 0 {
            // Let the batch run (and take its stacks) before spawning more.
            let t0 = Instant::now();
            while STARTED.load(Ordering::Relaxed) + 16 < spawned
                && t0.elapsed() < Duration::from_millis(20)
            {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    (spawned, false)
}

fn child() {
    init(2);
    // Warm up: the runtime's threads exist and the background goroutines run before the
    // limit comes down.
    let (rc, pp) = chan_make(8, 0);
    assert_eq!(rc, 0);
    assert_eq!(gmp_go(Some(heartbeat), std::ptr::null_mut()), 0);
    assert_eq!(gmp_go(Some(ping), pp.cast()), 0);
    assert_eq!(gmp_go(Some(pong), pp.cast()), 0);
    wait_until("warm-up", Duration::from_secs(10), || {
        BEATS.load(Ordering::Relaxed) > 5 && PINGS.load(Ordering::Relaxed) > 5
    });

    let (gate, _) = {
        let (rc, c) = chan_make(0, 0);
        assert_eq!(rc, 0);
        (c, ())
    };
    let vm = proc_status_kb("VmSize") * 1024;
    // A few hundred 256 KiB stacks (GMP_FAULT_MARGIN_MB overrides, for experiments).
    let margin: u64 = std::env::var("GMP_FAULT_MARGIN_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(96)
        << 20;
    let (soft0, _) = getrlimit(libc::RLIMIT_AS);
    assert_eq!(set_soft_rlimit(libc::RLIMIT_AS, vm + margin), 0);
    println!(
        "VmSize {} MiB; RLIMIT_AS set to VmSize + {} MiB",
        vm >> 20,
        margin >> 20
    );

    // 1. gmp_go eventually refuses with GMP_ENOMEM.
    let (spawned, enomem) = spawn_until_enomem(gate, 200_000);
    assert!(enomem, "no GMP_ENOMEM after {spawned} parked goroutines");
    println!(
        "gmp_go returned GMP_ENOMEM after {spawned} goroutines ({} started)",
        STARTED.load(Ordering::Relaxed)
    );
    assert!(
        spawned >= 16,
        "the limit left room for only {spawned} stacks"
    );

    // 2. A huge channel buffer: GMP_ENOMEM, not a crash (1 TiB; and 256 MiB, which fits
    // once the limit is raised).
    let (rc, _) = chan_make(65536, 1 << 24);
    assert_eq!(rc, GMP_ENOMEM, "1 TiB channel");
    let (rc, _) = chan_make(4096, 65536);
    assert_eq!(rc, GMP_ENOMEM, "256 MiB channel under the limit");
    // Overflowing sizes stay GMP_EINVAL.
    let (rc, _) = chan_make(65536, usize::MAX / 2);
    assert_eq!(rc, GMP_EINVAL);
    // A small channel still works.
    let (rc, small) = chan_make(8, 16);
    assert_eq!(rc, 0);
    gmp_chan_release(small);

    // 3. Goroutines already running go on while memory is short.
    let (b0, p0) = (BEATS.load(Ordering::Relaxed), PINGS.load(Ordering::Relaxed));
    wait_until("progress under the limit", Duration::from_secs(10), || {
        BEATS.load(Ordering::Relaxed) > b0 + 10 && PINGS.load(Ordering::Relaxed) > p0 + 10
    });
    // Still short, normally; but any address space freed meanwhile (glibc trimming a
    // freed buffer, say) lets a waiting goroutine start, which ends the refusal: both
    // answers are right.
    let rc = gmp_go(Some(nop), std::ptr::null_mut());
    assert!(rc == GMP_ENOMEM || rc == 0, "gmp_go under the limit: {rc}");
    // gmp_main needs a stack at once: it refuses too (or runs, if a stack was free).
    let rc = gmp_main(Some(nop), std::ptr::null_mut());
    assert!(
        rc == GMP_ENOMEM || rc == 0,
        "gmp_main under the limit: {rc}"
    );
    println!(
        "gmp_main under the limit: {}",
        if rc == 0 { "ran" } else { "GMP_ENOMEM" }
    );

    // 4. Recovery by freeing: the parked goroutines end (the limit stays), their stacks
    // go back to the caches, the goroutine that waited for a stack starts, and gmp_go
    // succeeds again.
    assert_eq!(gmp_chan_close(gate), 0);
    wait_until("parked goroutines to end", Duration::from_secs(20), || {
        ENDED.load(Ordering::Relaxed) == spawned
    });
    let t0 = Instant::now();
    wait_until("gmp_go to succeed again", Duration::from_secs(10), || {
        gmp_go(Some(nop), std::ptr::null_mut()) == 0
    });
    println!(
        "recovered under the same limit {:?} after the goroutines ended",
        t0.elapsed()
    );
    let (rc, gate2) = chan_make(0, 0);
    assert_eq!(rc, 0);
    let half = spawned / 2;
    let s0 = STARTED.load(Ordering::Relaxed);
    let (n, enomem) = spawn_until_enomem(gate2, half);
    assert!(!enomem && n == half, "only {n} of {half} after recovery");
    wait_until("the new batch to start", Duration::from_secs(10), || {
        STARTED.load(Ordering::Relaxed) == s0 + half
    });

    // 5. Recovery by raising the limit: more goroutines than ever fit, and the 256 MiB
    // channel can be made.
    assert_eq!(set_soft_rlimit(libc::RLIMIT_AS, soft0), 0);
    let (rc, big) = chan_make(4096, 65536);
    assert_eq!(rc, 0, "256 MiB channel after raising the limit");
    gmp_chan_release(big);
    let more = 2 * spawned;
    let (n, enomem) = spawn_until_enomem(gate2, more);
    assert!(
        !enomem && n == more,
        "only {n} of {more} after raising the limit"
    );
    wait_until("every goroutine to start", Duration::from_secs(20), || {
        STARTED.load(Ordering::Relaxed) == s0 + half + more
    });
    let e0 = ENDED.load(Ordering::Relaxed);
    assert_eq!(gmp_chan_close(gate2), 0);
    wait_until("all to end", Duration::from_secs(20), || {
        ENDED.load(Ordering::Relaxed) == e0 + half + more
    });
    STOP.store(true, Ordering::Relaxed);
    wait_until(
        "background goroutines to end",
        Duration::from_secs(10),
        || gmp_num_goroutine() == 0,
    );
    println!(
        "after raising the limit: {more} more goroutines ran; {} beats, {} pings in all",
        BEATS.load(Ordering::Relaxed),
        PINGS.load(Ordering::Relaxed)
    );
}

#[test]
fn rlimit_as_enomem_and_recovery() {
    if role().as_deref() == Some("memory") {
        child();
        return;
    }
    let margin = std::env::var("GMP_FAULT_MARGIN_MB").unwrap_or_default();
    let out = run_child(
        "rlimit_as_enomem_and_recovery",
        "memory",
        &[("GMP_FAULT_MARGIN_MB", &margin)],
        Duration::from_secs(90),
    );
    out.assert_ok("RLIMIT_AS child");
    print!("{}", out.stdout);
    assert!(
        out.stderr
            .contains("gmp: cannot allocate a goroutine stack"),
        "the runtime should say why goroutines wait: {}",
        out.stderr
    );
}

//! Idle stack memory goes back to the kernel (issue 18's idle-memory target, in a
//! test-sized form): after many goroutines that touched their stacks end and the
//! program idles, sysmon's scavenger gives the pages of idle free stacks back, past the
//! warm ones it keeps. The check is on progress (RSS falls under a bound), with a hang
//! detector; no wall-clock assertion.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::*;

fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[inline(never)]
fn touch(depth_bytes: usize) -> u64 {
    // A frame that really uses its stack: `depth_bytes` of it, written.
    let mut buf = vec![0u8; 0];
    let mut arr = [0u8; 24 * 1024];
    let n = depth_bytes.min(arr.len());
    for (i, b) in arr[..n].iter_mut().enumerate().step_by(512) {
        *b = i as u8;
    }
    buf.push(std::hint::black_box(&arr)[n / 2]);
    buf[0] as u64
}

#[test]
fn idle_stacks_are_given_back() {
    let _s = serial();
    let n = scale(8_000, 50_000) as u64;
    let base = rss();
    let mut ch: *mut gmp_chan = std::ptr::null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { gmp_chan_make(&mut ch, 0, 0) }, 0);
    let chp = ch as usize;
    let parked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(WaitGroup::with(n as i64));
    for _ in 0..n {
        let (p, d) = (parked.clone(), done.clone());
        gmp::rt::go(move || {
            std::hint::black_box(touch(24 * 1024));
            p.fetch_add(1, Ordering::SeqCst);
            // SAFETY: the channel lives until every goroutine received its close.
            let rc = unsafe { gmp_chan_recv(chp as *mut gmp_chan, std::ptr::null_mut()) };
            assert_eq!(rc, GMP_ECLOSED);
            assert_eq!(d.done(), 0);
        })
        .unwrap();
    }
    let start = Instant::now();
    while parked.load(Ordering::SeqCst) < n {
        assert!(start.elapsed() < Duration::from_secs(120), "hang: spawning");
        std::thread::sleep(Duration::from_millis(5));
    }
    let peak = rss();
    assert_eq!(gmp_chan_close(ch), 0);
    assert_eq!(done.wait(), 0);
    gmp_chan_release(ch);
    let grown = peak.saturating_sub(base);
    assert!(
        grown > n * 16 * 1024,
        "the goroutines did not touch their stacks: RSS grew {grown} bytes"
    );
    // Idle: within a few scavenge periods most of it is back (the warm stacks the
    // scavenger keeps are far less than a quarter of it).
    let bound = base + grown / 4;
    let start = Instant::now();
    loop {
        let now = rss();
        if now < bound {
            println!(
                "RSS {} MiB at rest, {} MiB with {n} goroutines parked, {} MiB after {:?} idle",
                base >> 20,
                peak >> 20,
                now >> 20,
                start.elapsed()
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "hang: RSS still {} MiB (peak {} MiB, at rest {} MiB) after 60 s idle",
            now >> 20,
            peak >> 20,
            base >> 20
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

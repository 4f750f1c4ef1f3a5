//! The hang detector of the integration tests: one copy, used by `tests/common` and
//! (`#[path]`-included) by `tests/net_util.rs`.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gmp::ffi::runtime::{gmp_dump_goroutines, gmp_num_goroutine};

/// A hang detector: a thread that aborts the process (after a message) when the
/// progress counter has not moved for `limit`. Dropping it stops the thread.
pub struct Watchdog {
    pub progress: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn new(name: &'static str, limit: Duration) -> Watchdog {
        let progress = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (progress.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut last = p.load(Ordering::Relaxed);
            let mut since = Instant::now();
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                let v = p.load(Ordering::Relaxed);
                if v != last {
                    last = v;
                    since = Instant::now();
                } else if since.elapsed() > limit {
                    // Straight to fd 2: libtest captures eprintln! in threads a test spawns,
                    // and the capture is lost when we abort.
                    let msg = format!(
                        "watchdog: {name}: no progress for {limit:?} (progress = {v}, \
                         goroutines = {}); probably a lost wake-up: aborting\n",
                        gmp_num_goroutine()
                    );
                    // SAFETY: writes our own buffer to stderr.
                    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                    // Every goroutine's state and wait reason, for the post-mortem.
                    gmp_dump_goroutines(2);
                    std::process::abort();
                }
            }
        });
        Watchdog {
            progress,
            stop,
            thread: Some(thread),
        }
    }

    pub fn tick(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    pub fn counter(&self) -> Arc<AtomicU64> {
        self.progress.clone()
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

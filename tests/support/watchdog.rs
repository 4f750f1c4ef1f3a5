//! The hang detector of the integration tests (one copy for all of them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use gmp::ffi::runtime::{gmp_dump_goroutines, gmp_num_goroutine};

/// A hang detector: a thread that aborts the process (after a message and a goroutine
/// dump) when the progress counter has not moved for `limit`; a test that never ticks
/// gets a plain deadline. Dropping it stops the thread at once.
pub struct Watchdog {
    pub progress: Arc<AtomicU64>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn new(name: &'static str, limit: Duration) -> Watchdog {
        let progress = Arc::new(AtomicU64::new(0));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (p, s) = (progress.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let (m, cv) = &*s;
            let mut last = p.load(Ordering::Relaxed);
            let mut since = Instant::now();
            let mut stopped = m.lock().unwrap_or_else(|e| e.into_inner());
            while !*stopped {
                stopped = cv
                    .wait_timeout(stopped, Duration::from_millis(50))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                let v = p.load(Ordering::Relaxed);
                if v != last {
                    last = v;
                    since = Instant::now();
                } else if !*stopped && since.elapsed() > limit {
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
        let (m, cv) = &*self.stop;
        *m.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

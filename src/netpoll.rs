//! The network poller's owner side: one M at a time blocks in [`poll`] with the next
//! timer as its time-out, and [`wake`] interrupts it (`polling::Poller::notify`, Go's
//! `netpollBreak`). Poll descriptors, fd readiness and the fd calls come with the
//! netpoll issue; today the poller only sleeps and wakes, which is what timers need.

use std::sync::OnceLock;
use std::time::Duration;

use crate::sched::g::GRef;

static POLLER: OnceLock<Option<polling::Poller>> = OnceLock::new();

fn poller() -> Option<&'static polling::Poller> {
    POLLER
        .get_or_init(|| match polling::Poller::new() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("gmp: cannot create the poller: {e}");
                None
            }
        })
        .as_ref()
}

/// Whether any goroutine waits on an fd (none yet).
pub(crate) fn has_waiters() -> bool {
    false
}

/// Whether a non-blocking poll could find ready goroutines (none yet).
pub(crate) fn ready_any() -> bool {
    false
}

/// Blocks up to `delay_ns` (< 0: until woken) and returns the goroutines made ready.
pub(crate) fn poll(delay_ns: i64) -> Vec<GRef> {
    let Some(p) = poller() else {
        if delay_ns > 0 {
            std::thread::sleep(Duration::from_nanos(delay_ns as u64));
        }
        return Vec::new();
    };
    let mut events = polling::Events::new();
    let timeout = if delay_ns < 0 {
        None
    } else {
        Some(Duration::from_nanos(delay_ns as u64))
    };
    let _ = p.wait(&mut events, timeout);
    Vec::new()
}

/// Interrupts a blocked [`poll`] (or makes the next one return at once).
pub(crate) fn wake() {
    if let Some(p) = poller() {
        let _ = p.notify();
    }
}

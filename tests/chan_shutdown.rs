//! The blocking gmp_chan_send/gmp_chan_recv return GMP_ESHUTDOWN after gmp_shutdown,
//! also once earlier calls (from a thread and from goroutines, through a hand-off) ran
//! their entry's fast path: a guard for any entry test that caches "the runtime runs"
//! (issue 18 tried a one-byte flag for it, cleared by the shutdown after the state; this
//! test fails if that clear is left out). tests/shutdown.rs covers the other calls. One
//! test, since shutdown is final for the process.

mod support;

use std::sync::Arc;

use support::*;

#[test]
fn chan_calls_after_shutdown() {
    let _s = serial();
    let ch = Chan::new(8, 1);
    // From this thread (not a goroutine) and from goroutines, through an unbuffered
    // hand-off: the calls take their plain path from here on.
    assert_eq!(ch.send_u64(1), 0);
    assert_eq!(ch.recv_u64(), (0, 1));
    let un = Arc::new(Chan::new(8, 0));
    let wg = Arc::new(WaitGroup::with(2));
    let (u, w) = (un.clone(), wg.clone());
    go(move || {
        for i in 0..100 {
            assert_eq!(u.send_u64(i), 0);
        }
        assert_eq!(w.done(), 0);
    });
    let (u, w) = (un.clone(), wg.clone());
    go(move || {
        for i in 0..100 {
            assert_eq!(u.recv_u64(), (0, i));
        }
        assert_eq!(w.done(), 0);
    });
    assert_eq!(wg.wait(), 0);
    drop(wg);

    assert_eq!(gmp_shutdown(-1), 0);
    assert_eq!(ch.send_u64(2), GMP_ESHUTDOWN);
    assert_eq!(ch.recv_u64().0, GMP_ESHUTDOWN);
    assert_eq!(un.send_u64(3), GMP_ESHUTDOWN);
    assert_eq!(un.recv_u64().0, GMP_ESHUTDOWN);
}

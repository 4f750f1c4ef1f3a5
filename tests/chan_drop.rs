//! `gmp_chan_make_ex`'s drop callback (API.md "Channels"): it runs once per element
//! still buffered when the last reference goes, on exactly those elements, and never
//! while a reference remains; retain/release balance; it runs with no lock held (it may
//! use other channels, even from the goroutine that dropped the last reference).

mod support;

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::*;

/// What the callback saw.
#[derive(Default)]
struct Log {
    calls: AtomicUsize,
    values: Mutex<Vec<u64>>,
    /// When set, the callback also sends each value here (a channel op inside it).
    forward: Mutex<Option<Ch>>,
}

impl Log {
    fn values(&self) -> Vec<u64> {
        self.values.lock().unwrap().clone()
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Elements are a u64; the callback records it.
unsafe extern "C" fn drop_u64(elem: *mut c_void, ctx: *mut c_void) {
    // SAFETY: ctx is a &Log the test keeps alive; elem a buffered u64.
    let (log, v) = unsafe { (&*(ctx as *const Log), (elem as *const u64).read_unaligned()) };
    log.calls.fetch_add(1, Ordering::SeqCst);
    log.values.lock().unwrap().push(v);
    let fwd = *log.forward.lock().unwrap();
    if let Some(f) = fwd {
        assert_eq!(f.try_send(v), 0, "a channel op inside the drop callback");
    }
}

fn make_logged(elem_size: usize, cap: usize, log: &Arc<Log>) -> Ch {
    let mut c = std::ptr::null_mut();
    // SAFETY: valid out pointer; the log outlives the channel (the tests hold it).
    let rc = unsafe {
        gmp_chan_make_ex(
            &mut c,
            elem_size,
            cap,
            Some(drop_u64),
            Arc::as_ptr(log) as *mut c_void,
        )
    };
    assert_eq!(rc, 0);
    Ch(c)
}

#[test]
fn drop_runs_once_per_buffered_element() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        let log = Arc::new(Log::default());
        let l2 = log.clone();
        run_on(on, move || {
            let c = make_logged(8, 8, &l2);
            for v in 10..15u64 {
                c.put(v);
            }
            c.release();
        });
        assert_eq!(log.calls(), 5);
        assert_eq!(log.values(), vec![10, 11, 12, 13, 14], "in buffer order");
    }
}

#[test]
fn received_elements_are_not_dropped() {
    let _s = serial();
    let log = Arc::new(Log::default());
    let c = make_logged(8, 8, &log);
    for v in 0..8u64 {
        c.put(v);
    }
    for v in 0..3u64 {
        assert_eq!(c.get::<u64>(), v);
    }
    c.release();
    assert_eq!(log.values(), vec![3, 4, 5, 6, 7]);
}

#[test]
fn drop_sees_exactly_the_elements_of_a_wrapped_ring() {
    let _s = serial();
    for (recvd, more) in [(3usize, 3usize), (4, 2), (1, 1), (4, 4), (2, 0)] {
        let log = Arc::new(Log::default());
        let c = make_logged(8, 4, &log);
        let mut next = 0u64;
        let mut head = 0u64;
        for _ in 0..4 {
            c.put(next);
            next += 1;
        }
        for _ in 0..recvd {
            assert_eq!(c.get::<u64>(), head);
            head += 1;
        }
        for _ in 0..more {
            c.put(next);
            next += 1;
        }
        c.release();
        assert_eq!(
            log.values(),
            (head..next).collect::<Vec<_>>(),
            "recvd {recvd} more {more}"
        );
    }
}

#[test]
fn empty_unbuffered_and_drained_channels_drop_nothing() {
    let _s = serial();
    let log = Arc::new(Log::default());
    make_logged(8, 4, &log).release();
    make_logged(8, 0, &log).release();
    let c = make_logged(8, 2, &log);
    c.put(1u64);
    c.put(2u64);
    c.get::<u64>();
    c.get::<u64>();
    c.release();
    // An unbuffered channel whose hand-off completed.
    let c = make_logged(8, 0, &log);
    let tx = spawn(move || c.put(5u64));
    assert_eq!(c.get::<u64>(), 5);
    tx.join();
    c.release();
    assert_eq!(log.calls(), 0);
}

#[test]
fn closed_channels_still_drop_their_buffered_elements() {
    let _s = serial();
    let log = Arc::new(Log::default());
    let c = make_logged(8, 4, &log);
    c.put(1u64);
    c.put(2u64);
    assert_eq!(c.close(), 0);
    c.release();
    assert_eq!(log.values(), vec![1, 2]);
}

#[test]
fn size_zero_elements_are_counted() {
    let _s = serial();
    let log = Arc::new(Log::default());
    let mut c = std::ptr::null_mut();
    unsafe extern "C" fn count(_elem: *mut c_void, ctx: *mut c_void) {
        // SAFETY: ctx is the test's Log.
        unsafe { &*(ctx as *const Log) }
            .calls
            .fetch_add(1, Ordering::SeqCst);
    }
    // SAFETY: valid out pointer; the log outlives the channel.
    let rc =
        unsafe { gmp_chan_make_ex(&mut c, 0, 5, Some(count), Arc::as_ptr(&log) as *mut c_void) };
    assert_eq!(rc, 0);
    for _ in 0..3 {
        // SAFETY: size-0 elements may be NULL.
        assert_eq!(unsafe { gmp_chan_send(c, std::ptr::null()) }, 0);
    }
    gmp_chan_release(c);
    assert_eq!(log.calls(), 3);
}

#[test]
fn nothing_drops_while_a_reference_remains() {
    let _s = serial();
    let log = Arc::new(Log::default());
    let c = make_logged(8, 4, &log);
    c.put(1u64);
    c.put(2u64);
    assert_eq!(c.retain(), c, "retain returns its argument");
    assert_eq!(c.retain(), c);
    c.release();
    c.release();
    assert_eq!(log.calls(), 0, "dropped with one reference left");
    // The channel is fully alive on its last reference.
    assert_eq!(c.len(), 2);
    assert_eq!(c.get::<u64>(), 1);
    c.put(3u64);
    c.release();
    assert_eq!(log.values(), vec![2, 3]);
}

#[test]
fn concurrent_retain_release_drops_exactly_once() {
    let _s = serial();
    for round in 0..scale(200, 5000) {
        let log = Arc::new(Log::default());
        let c = make_logged(8, 4, &log);
        c.put(round as u64);
        c.put(round as u64 + 1);
        let mut js = Vec::new();
        let n = 6;
        for k in 0..n {
            let on = if k == 0 { On::Thread } else { On::Go };
            // Each side owns one reference, taken here, and plays with more.
            let mine = c.retain();
            js.push(start(on, move || {
                for _ in 0..20 {
                    mine.retain();
                    assert_eq!(mine.len(), 2);
                    mine.release();
                }
                mine.release();
            }));
        }
        c.release();
        join_all(js);
        assert_eq!(log.calls(), 2, "round {round}");
        assert_eq!(log.values(), vec![round as u64, round as u64 + 1]);
    }
}

#[test]
fn last_release_on_a_foreign_thread_or_a_goroutine() {
    let _s = serial();
    for on in [On::Go, On::Thread] {
        let log = Arc::new(Log::default());
        let c = make_logged(8, 3, &log);
        c.put(7u64);
        run_on(on, move || c.release());
        assert_eq!(log.values(), vec![7]);
    }
}

#[test]
fn drop_callback_may_use_other_channels() {
    // "Drop runs with no lock held": the callback sends on another channel, from a
    // goroutine and from a thread.
    let _s = serial();
    for on in [On::Go, On::Thread] {
        let log = Arc::new(Log::default());
        let out = Ch::of::<u64>(8);
        *log.forward.lock().unwrap() = Some(out);
        let c = make_logged(8, 4, &log);
        for v in 0..4u64 {
            c.put(v);
        }
        run_on(on, move || c.release());
        for v in 0..4u64 {
            assert_eq!(out.try_recv::<u64>(), (0, v));
        }
        out.release();
    }
}

#[test]
fn drop_frees_owned_pointers() {
    // The use case: elements that own memory (here a Box<u64> as a raw pointer).
    let _s = serial();
    static FREED: AtomicUsize = AtomicUsize::new(0);
    unsafe extern "C" fn free_box(elem: *mut c_void, _ctx: *mut c_void) {
        // SAFETY: each element is a pointer from Box::into_raw, dropped once.
        let p = unsafe { (elem as *const *mut u64).read_unaligned() };
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(p) });
        FREED.fetch_add(1, Ordering::SeqCst);
    }
    let mut c = std::ptr::null_mut();
    // SAFETY: valid out pointer.
    let rc = unsafe {
        gmp_chan_make_ex(
            &mut c,
            std::mem::size_of::<*mut u64>(),
            16,
            Some(free_box),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0);
    let c = Ch(c);
    for i in 0..10u64 {
        c.put(Box::into_raw(Box::new(i)) as usize);
    }
    for i in 0..4u64 {
        let p = c.get::<usize>() as *mut u64;
        // SAFETY: received ownership of the box.
        assert_eq!(*unsafe { Box::from_raw(p) }, i);
    }
    c.release();
    assert_eq!(FREED.load(Ordering::SeqCst), 6);
}

//! A goroutine parked in a channel receive keeps one page of stack resident (release
//! builds): the parked stack is the goroutine's frames plus the park path's (`Chan`'s
//! receive, `park`, `next_direct`), and every KiB of scheduler frame on that path is a
//! KiB under every parked goroutine. At be1fc7f an inlined run-queue put brought a 1 KiB
//! overflow buffer into `next_direct`'s frame and took parked goroutines to two pages
//! (bench idle_mem 4.4 -> 8.5 KB per goroutine); `RunQueue::put_or_spill` keeps the
//! buffer in the out-of-line slow path.
//!
//! Measured with mincore(2) over each goroutine's own stack slot while it is parked: the
//! pages resident in it. Fresh slots only hold what their goroutine touched; a recycled
//! slot may hold more, so the check is on the median of many goroutines. Debug builds
//! have far larger frames; there the bound is a sanity one. scripts/test.sh runs this
//! file in release too.

mod support;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use support::*;

const PAGE: usize = 4096;

/// Pages of [lo, hi) resident now.
fn resident_pages(lo: usize, hi: usize) -> usize {
    let n = (hi - lo).div_ceil(PAGE);
    let mut v = vec![0u8; n];
    // SAFETY: [lo, hi) is a mapped, page-aligned range (a goroutine's stack slot) and v
    // has one byte per page.
    let rc = unsafe { libc::mincore(lo as *mut libc::c_void, hi - lo, v.as_mut_ptr()) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    v.iter().filter(|b| **b & 1 != 0).count()
}

#[test]
fn a_parked_goroutine_keeps_one_page_of_stack() {
    let _s = serial();
    let n = 64u64;
    let mut ch: *mut gmp_chan = std::ptr::null_mut();
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { gmp_chan_make(&mut ch, 0, 0) }, 0);
    let chp = ch as usize;
    let bounds = Arc::new(Mutex::new(Vec::new()));
    let parked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(WaitGroup::with(n as i64));
    for _ in 0..n {
        let (b, p, d) = (bounds.clone(), parked.clone(), done.clone());
        gmp::rt::go(move || {
            let (lo, size) = gmp::rt::current_stack_bounds();
            assert!(lo != 0 && size != 0, "no stack bounds inside a goroutine");
            // The usable part: above the guard page.
            b.lock().unwrap().push((lo + PAGE, lo + PAGE + size));
            p.fetch_add(1, Ordering::SeqCst);
            // SAFETY: the channel lives until every goroutine received its close.
            let rc = unsafe { gmp_chan_recv(chp as *mut gmp_chan, std::ptr::null_mut()) };
            assert_eq!(rc, GMP_ECLOSED);
            assert_eq!(d.done(), 0);
        })
        .unwrap();
    }
    wait_until("every goroutine parked", Duration::from_secs(60), || {
        parked.load(Ordering::SeqCst) == n
    });
    // Let the last one reach its park (counted before its receive).
    std::thread::sleep(Duration::from_millis(50));
    let mut pages: Vec<usize> = bounds
        .lock()
        .unwrap()
        .iter()
        .map(|&(lo, hi)| resident_pages(lo, hi))
        .collect();
    pages.sort_unstable();
    let median = pages[pages.len() / 2];
    assert_eq!(gmp_chan_close(ch), 0);
    assert_eq!(done.wait(), 0);
    gmp_chan_release(ch);
    let bound = if cfg!(debug_assertions) { 8 } else { 1 };
    assert!(
        median <= bound,
        "a parked goroutine keeps {median} pages of stack resident (bound {bound}); all: {pages:?}"
    );
}

//! gmp_shutdown: refuses (GMP_ETIMEDOUT, nothing stopped) while goroutines are blocked;
//! succeeds once they end; afterwards every call returns GMP_ESHUTDOWN. One test, in
//! order, since shutdown is final for the process.

mod support;

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use support::*;

unsafe extern "C" fn nop(_: *mut c_void) {}

#[test]
fn shutdown_sequence() {
    let _s = serial();
    // Goroutines blocked on a gate nobody has opened yet.
    let gate = Arc::new(WaitGroup::with(1));
    let ended = Arc::new(AtomicU64::new(0));
    let n = 100;
    for _ in 0..n {
        let (g, e) = (gate.clone(), ended.clone());
        go(move || {
            assert_eq!(g.wait(), 0);
            gmp_sleep(1_000);
            e.fetch_add(1, Ordering::SeqCst);
        });
    }
    // From a goroutine: refused.
    let from_go = Arc::new(AtomicI32::new(1));
    let wg = Arc::new(WaitGroup::with(1));
    let (f, w) = (from_go.clone(), wg.clone());
    go(move || {
        f.store(gmp_shutdown(0), Ordering::SeqCst);
        assert_eq!(w.done(), 0);
    });
    assert_eq!(wg.wait(), 0);
    assert_eq!(from_go.load(Ordering::SeqCst), GMP_EALREADY);

    // Blocked goroutines: time out, and nothing is stopped.
    assert_eq!(gmp_shutdown(0), GMP_ETIMEDOUT);
    assert_eq!(gmp_shutdown(20_000_000), GMP_ETIMEDOUT);
    assert!(gmp_num_goroutine() >= n as i64);
    let wg = Arc::new(WaitGroup::with(1));
    let w = wg.clone();
    go(move || {
        assert_eq!(w.done(), 0);
    });
    assert_eq!(
        wg.wait(),
        0,
        "the runtime still works after a timed-out shutdown"
    );

    // Release them; shutdown(-1) waits for them and stops the runtime.
    assert_eq!(gate.done(), 0);
    let wd = Watchdog::new("gmp_shutdown(-1)", std::time::Duration::from_secs(60));
    assert_eq!(gmp_shutdown(-1), 0);
    drop(wd);
    assert_eq!(ended.load(Ordering::SeqCst), n);
    assert_eq!(gmp_num_goroutine(), 0);

    // Every call now returns GMP_ESHUTDOWN.
    assert_eq!(gmp_go(Some(nop), std::ptr::null_mut()), GMP_ESHUTDOWN);
    assert_eq!(gmp::rt::go(|| {}).err(), Some(GMP_ESHUTDOWN));
    // SAFETY: valid or NULL pointers throughout.
    unsafe {
        assert_eq!(
            gmp_go_ex(
                std::ptr::null(),
                Some(nop),
                std::ptr::null_mut(),
                std::ptr::null_mut()
            ),
            GMP_ESHUTDOWN
        );
        let mu = Mutex::new();
        assert_eq!(gmp_mutex_lock(mu.ptr()), GMP_ESHUTDOWN);
        assert_eq!(gmp_mutex_trylock(mu.ptr()), GMP_ESHUTDOWN);
        let wg = WaitGroup::new();
        assert_eq!(gmp_waitgroup_add(wg.ptr(), 1), GMP_ESHUTDOWN);
        assert_eq!(gmp_waitgroup_wait(wg.ptr()), GMP_ESHUTDOWN);
        let rw = RwMutex::new();
        assert_eq!(gmp_rwmutex_lock(rw.ptr()), GMP_ESHUTDOWN);
        let cv = Cond::new();
        assert_eq!(gmp_cond_signal(cv.ptr()), GMP_ESHUTDOWN);
        let once = Once::new();
        assert_eq!(
            gmp_once_do(once.ptr(), Some(nop), std::ptr::null_mut()),
            GMP_ESHUTDOWN
        );
        let mut h: *mut gmp_home = std::ptr::null_mut();
        assert_eq!(gmp_home_make(&mut h), GMP_ESHUTDOWN);
        assert_eq!(gmp_init(std::ptr::null()), GMP_ESHUTDOWN);
    }
    assert_eq!(gmp_maxprocs(0), GMP_ESHUTDOWN);
    assert_eq!(gmp_maxprocs(4), GMP_ESHUTDOWN);
    assert_eq!(gmp_main(Some(nop), std::ptr::null_mut()), GMP_ESHUTDOWN);
    assert_eq!(gmp::rt::main(|| {}), GMP_ESHUTDOWN);
    assert_eq!(gmp_sleep(1_000_000), GMP_ESHUTDOWN);
    assert_eq!(gmp_shutdown(-1), GMP_ESHUTDOWN, "second shutdown");
    assert_eq!(gmp_shutdown(0), GMP_ESHUTDOWN);
    // These never start the runtime, so they still work.
    assert!(gmp_now() > 0);
    assert!(!gmp_strerror(GMP_ESHUTDOWN).is_null());
    assert_eq!(
        gmp_lib_version_number(),
        GMP_VERSION_MAJOR << 16 | GMP_VERSION_MINOR << 8 | GMP_VERSION_PATCH
    );
    assert_eq!(gmp_self(), 0);
    // The runtime's threads are gone: only this process's own threads remain.
    wait_for("the runtime's threads to exit", || {
        std::fs::read_dir("/proc/self/task").unwrap().all(|e| {
            let p = e.unwrap().path().join("comm");
            let name = std::fs::read_to_string(p).unwrap_or_default();
            !name.starts_with("gmp-")
        })
    });
}

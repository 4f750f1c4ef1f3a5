//! NULL and out-of-range arguments return GMP_EINVAL (never a crash); the struct size
//! rule (EINVAL below a size_t, E2BIG for non-zero unknown trailing bytes, short stats);
//! init/main misuse; gmp_strerror names every code.

mod support;

use std::ffi::{CStr, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use support::*;

unsafe extern "C" fn nop(_: *mut c_void) {}

fn attr() -> gmp_go_attr {
    gmp_go_attr {
        size: std::mem::size_of::<gmp_go_attr>(),
        stack_size: 0,
        name: std::ptr::null(),
        hooks: std::ptr::null(),
    }
}

#[test]
fn go_family() {
    let _s = serial();
    let null = std::ptr::null_mut();
    assert_eq!(gmp_go(None, null), GMP_EINVAL);
    // SAFETY: every pointer passed is NULL or valid for its stated size.
    unsafe {
        assert_eq!(
            gmp_go_ex(std::ptr::null(), None, null, std::ptr::null_mut()),
            GMP_EINVAL
        );
        let mut id = 0;
        assert_eq!(
            gmp_go_ex(std::ptr::null(), Some(nop), null, &mut id),
            0,
            "NULL attr: defaults"
        );
        assert!(id > 0);
        // size below a size_t.
        let mut a = attr();
        a.size = 3;
        assert_eq!(
            gmp_go_ex(&a, Some(nop), null, std::ptr::null_mut()),
            GMP_EINVAL
        );
        a.size = 0;
        assert_eq!(
            gmp_go_ex(&a, Some(nop), null, std::ptr::null_mut()),
            GMP_EINVAL
        );
        // A smaller, older struct (only size and stack_size) is fine.
        a.size = 16;
        assert_eq!(gmp_go_ex(&a, Some(nop), null, std::ptr::null_mut()), 0);
        // A bigger struct from a newer header: zero trailing bytes are fine, others E2BIG.
        #[repr(C)]
        struct Newer {
            a: gmp_go_attr,
            extra: [u64; 2],
        }
        let mut n = Newer {
            a: attr(),
            extra: [0, 0],
        };
        n.a.size = std::mem::size_of::<Newer>();
        assert_eq!(gmp_go_ex(&n.a, Some(nop), null, std::ptr::null_mut()), 0);
        n.extra[1] = 1;
        assert_eq!(
            gmp_go_ex(&n.a, Some(nop), null, std::ptr::null_mut()),
            GMP_E2BIG
        );
        // The same rule for the hooks struct inside.
        let mut hooks = gmp_switch_hooks {
            size: 3,
            on_park: None,
            on_resume: None,
            ctx: null,
            flags: 0,
            thread_record: None,
        };
        let mut a = attr();
        a.hooks = &hooks;
        assert_eq!(
            gmp_go_ex(&a, Some(nop), null, std::ptr::null_mut()),
            GMP_EINVAL
        );
        hooks.size = std::mem::size_of::<gmp_switch_hooks>();
        let a2 = gmp_go_attr {
            hooks: &hooks,
            ..attr()
        };
        assert_eq!(gmp_go_ex(&a2, Some(nop), null, std::ptr::null_mut()), 0);
        // Hook flags: an unknown bit; GMP_HOOKS_LAZY_RESUME without 16 aligned bytes
        // at ctx (NULL, or not 8-byte aligned). Refused before anything runs.
        unsafe extern "C" fn hook(_: *mut c_void) {}
        let mut record = [0u64; 3];
        let base = record.as_mut_ptr() as *mut c_void;
        for (flags, ctx) in [
            (2, base),
            (GMP_HOOKS_LAZY_RESUME | 4, base),
            (GMP_HOOKS_LAZY_RESUME, null),
            (GMP_HOOKS_LAZY_RESUME, base.wrapping_byte_add(4)),
        ] {
            let h = gmp_switch_hooks {
                size: std::mem::size_of::<gmp_switch_hooks>(),
                on_park: Some(hook),
                on_resume: Some(hook),
                ctx,
                flags,
                thread_record: None,
            };
            let a = gmp_go_attr {
                hooks: &h,
                ..attr()
            };
            assert_eq!(
                gmp_go_ex(&a, Some(nop), null, std::ptr::null_mut()),
                GMP_EINVAL,
                "flags {flags:#x}, ctx {ctx:p}"
            );
        }
        // Stack size over 1 GiB.
        let mut a = attr();
        a.stack_size = (1 << 30) + 1;
        assert_eq!(
            gmp_go_ex(&a, Some(nop), null, std::ptr::null_mut()),
            GMP_EINVAL
        );
        a.stack_size = usize::MAX;
        assert_eq!(
            gmp_go_ex(&a, Some(nop), null, std::ptr::null_mut()),
            GMP_EINVAL
        );
        // Home variant.
        let mut a = attr();
        a.size = 3;
        assert_eq!(
            gmp_go_home(std::ptr::null_mut(), &a, Some(nop), null),
            GMP_EINVAL
        );
        // gmp_set_name needs a goroutine.
        assert_eq!(gmp_set_name(c"x".as_ptr()), GMP_ENOTGOROUTINE);
    }
}

#[test]
fn sync_family_null() {
    let _s = serial();
    let mu = Mutex::new();
    // SAFETY: NULL pointers are rejected before any use.
    unsafe {
        assert_eq!(gmp_mutex_lock(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_mutex_trylock(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_mutex_unlock(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_rwmutex_rlock(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_rwmutex_tryrlock(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_rwmutex_runlock(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_rwmutex_lock(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_rwmutex_trylock(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_rwmutex_unlock(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_waitgroup_add(std::ptr::null_mut(), 1), GMP_EINVAL);
        assert_eq!(gmp_waitgroup_done(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_waitgroup_wait(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(
            gmp_once_do(std::ptr::null_mut(), Some(nop), std::ptr::null_mut()),
            GMP_EINVAL
        );
        assert_eq!(gmp_cond_wait(std::ptr::null_mut(), mu.ptr()), GMP_EINVAL);
        assert_eq!(
            gmp_cond_wait_timeout(std::ptr::null_mut(), mu.ptr(), 0),
            GMP_EINVAL
        );
        assert_eq!(gmp_cond_signal(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_cond_broadcast(std::ptr::null_mut()), GMP_EINVAL);
        let cv = Cond::new();
        assert_eq!(gmp_cond_wait(cv.ptr(), std::ptr::null_mut()), GMP_EINVAL);
        // Waiting with an unlocked mutex.
        assert_eq!(gmp_cond_wait(cv.ptr(), mu.ptr()), GMP_EINVAL);
        assert_eq!(gmp_cond_wait_timeout(cv.ptr(), mu.ptr(), -1), GMP_EINVAL);
    }
    assert_eq!(mu.words(), [0, 0]);
}

#[test]
fn home_family_null() {
    let _s = serial();
    let null = std::ptr::null_mut();
    // SAFETY: NULL pointers are rejected before any use.
    unsafe {
        assert_eq!(gmp_home_make(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(
            gmp_go_home(null, std::ptr::null(), Some(nop), null as *mut c_void),
            GMP_EINVAL
        );
        assert_eq!(gmp_home_free(null), GMP_EINVAL);
    }
    assert_eq!(gmp_home_run(null, 0), GMP_EINVAL);
    assert_eq!(gmp_home_run(null, -1), GMP_EINVAL);
    assert_eq!(gmp_home_wait(null, 0), GMP_EINVAL);
    assert_eq!(gmp_home_wake(null), GMP_EINVAL);
    assert_eq!(gmp_home_fd(null), GMP_EINVAL);
    assert_eq!(gmp_home_close(null), GMP_EINVAL);
}

#[test]
fn home_run_from_another_thread() {
    let _s = serial();
    let hp = std::thread::spawn(|| {
        let mut h: *mut gmp_home = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp_home_make(&mut h) }, 0);
        let hp = HomePtr(h);
        std::thread::spawn(move || {
            let hp = hp;
            assert_eq!(gmp_home_run(hp.0, -1), GMP_EINVAL);
            assert_eq!(gmp_home_wait(hp.0, 0), GMP_EINVAL);
        })
        .join()
        .unwrap();
        assert_eq!(gmp_home_close(h), 0);
        assert_eq!(gmp_home_run(h, -1), GMP_ECLOSED);
        // SAFETY: closed and drained, on its thread.
        assert_eq!(unsafe { gmp_home_free(h) }, 0);
    });
    hp.join().unwrap();
}

#[test]
fn stats_size_rule() {
    let _s = serial();
    // The runtime runs and has an M (this test may be the process's first: nextest runs
    // each test in a process of its own).
    in_go(|| {});
    // SAFETY: NULL is rejected.
    assert_eq!(unsafe { gmp_read_stats(std::ptr::null_mut()) }, GMP_EINVAL);
    let full = std::mem::size_of::<gmp_stats>();
    // A buffer bigger than the struct, filled with a pattern.
    let mut buf = vec![0xAAu8; full + 32];
    let put_size = |buf: &mut Vec<u8>, n: usize| buf[..8].copy_from_slice(&n.to_ne_bytes());
    let get_size = |buf: &Vec<u8>| usize::from_ne_bytes(buf[..8].try_into().unwrap());
    for bad in [0usize, 1, 7] {
        put_size(&mut buf, bad);
        // SAFETY: the buffer holds at least `full` bytes.
        let rc = unsafe { gmp_read_stats(buf.as_mut_ptr().cast()) };
        assert_eq!(rc, GMP_EINVAL);
        assert!(
            buf[8..].iter().all(|&b| b == 0xAA),
            "size {bad}: wrote past size"
        );
    }
    // Smaller (an older header): only that many bytes are written.
    for small in [8usize, 12, 16, 20, 40] {
        buf.fill(0xAA);
        put_size(&mut buf, small);
        // SAFETY: the buffer holds at least `small` bytes.
        assert_eq!(unsafe { gmp_read_stats(buf.as_mut_ptr().cast()) }, 0);
        assert_eq!(get_size(&buf), small, "size is set to the bytes written");
        assert!(
            buf[small..].iter().all(|&b| b == 0xAA),
            "size {small}: wrote past it"
        );
        if small >= 12 {
            let maxprocs = i32::from_ne_bytes(buf[8..12].try_into().unwrap());
            assert_eq!(maxprocs, gmp_maxprocs(0));
        }
    }
    // Bigger (a newer header): the known part is written and size says how much.
    buf.fill(0xAA);
    put_size(&mut buf, full + 32);
    // SAFETY: the buffer holds full + 32 bytes.
    assert_eq!(unsafe { gmp_read_stats(buf.as_mut_ptr().cast()) }, 0);
    assert_eq!(get_size(&buf), full);
    assert!(
        buf[full..].iter().all(|&b| b == 0xAA),
        "wrote past the known struct"
    );
    let s = stats();
    assert_eq!(s.size, full);
    assert!(s.maxprocs >= 1);
    assert!(s.threads >= 1);
}

#[test]
fn init_after_start_is_ealready() {
    let _s = serial();
    // Make sure the runtime runs.
    assert!(gmp_maxprocs(0) >= 1);
    // SAFETY: NULL or a valid config.
    unsafe {
        assert_eq!(gmp_init(std::ptr::null()), GMP_EALREADY);
        assert_eq!(gmp_init(&config(2)), GMP_EALREADY);
        // The size rule applies to the config too.
        let mut c2 = config(2);
        c2.size = 3;
        assert_eq!(gmp_init(&c2), GMP_EINVAL);
    }
}

#[test]
fn main_misuse() {
    let _s = serial();
    assert_eq!(gmp_main(None, std::ptr::null_mut()), GMP_EINVAL);
    // From inside a goroutine: GMP_EALREADY (and from inside the main goroutine).
    let from_go = Arc::new(AtomicI32::new(1));
    let from_main = Arc::new(AtomicI32::new(1));
    let (g, m) = (from_go.clone(), from_main.clone());
    gmain(move || {
        m.store(gmp_main(Some(nop), std::ptr::null_mut()), Ordering::SeqCst);
        let wg = Arc::new(WaitGroup::with(1));
        let w = wg.clone();
        go(move || {
            g.store(gmp_main(Some(nop), std::ptr::null_mut()), Ordering::SeqCst);
            assert_eq!(w.done(), 0);
        });
        assert_eq!(wg.wait(), 0);
    });
    assert_eq!(from_main.load(Ordering::SeqCst), GMP_EALREADY);
    assert_eq!(from_go.load(Ordering::SeqCst), GMP_EALREADY);
    // While another gmp_main runs on another thread.
    let inside = Arc::new(WaitGroup::with(1));
    let release = Arc::new(WaitGroup::with(1));
    let (i, r) = (inside.clone(), release.clone());
    let t = std::thread::spawn(move || {
        gmain(move || {
            assert_eq!(i.done(), 0);
            assert_eq!(r.wait(), 0);
        })
    });
    assert_eq!(inside.wait(), 0);
    assert_eq!(gmp_main(Some(nop), std::ptr::null_mut()), GMP_EALREADY);
    assert_eq!(release.done(), 0);
    t.join().unwrap();
    // And afterwards a new gmp_main works again.
    gmain(|| {});
}

#[test]
fn strerror_names_every_code() {
    let _s = serial();
    let codes = [
        (GMP_EINVAL, "EINVAL"),
        (GMP_ENOMEM, "ENOMEM"),
        (GMP_EAGAIN, "EAGAIN"),
        (GMP_ETIMEDOUT, "ETIMEDOUT"),
        (GMP_ECANCELED, "ECANCELED"),
        (GMP_EDEADLK, "EDEADLK"),
        (GMP_EALREADY, "EALREADY"),
        (GMP_EINTR, "EINTR"),
        (GMP_E2BIG, "E2BIG"),
        (GMP_ECLOSED, "ECLOSED"),
        (GMP_ENOTGOROUTINE, "ENOTGOROUTINE"),
        (GMP_ESHUTDOWN, "ESHUTDOWN"),
    ];
    for (code, name) in codes {
        let p = gmp_strerror(code);
        assert!(!p.is_null(), "strerror({code}) is NULL");
        // SAFETY: a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap();
        assert!(
            s.contains(name),
            "strerror({code}) = {s:?} does not name {name}"
        );
    }
    // Success, any negative errno, and nonsense all get some text.
    for code in [
        0,
        -libc::EPIPE,
        -libc::ECONNRESET,
        -4096,
        -5000,
        1,
        12345,
        i32::MIN,
        i32::MAX,
    ] {
        let p = gmp_strerror(code);
        assert!(!p.is_null());
        // SAFETY: as above.
        let text = unsafe { CStr::from_ptr(p) };
        assert!(!text.to_bytes().is_empty(), "empty text for {code}");
    }
    // The same pointer every time (static, safe to keep).
    assert_eq!(gmp_strerror(-libc::EPIPE), gmp_strerror(-libc::EPIPE));
    // Versions.
    let v = gmp_lib_version_number();
    assert_eq!(
        v,
        GMP_VERSION_MAJOR << 16 | GMP_VERSION_MINOR << 8 | GMP_VERSION_PATCH
    );
    // SAFETY: a static string.
    let s = unsafe { CStr::from_ptr(gmp_lib_version()) }
        .to_str()
        .unwrap();
    assert_eq!(
        s,
        format!("{GMP_VERSION_MAJOR}.{GMP_VERSION_MINOR}.{GMP_VERSION_PATCH}")
    );
}

#[test]
fn foreign_thread_noops_and_odd_values() {
    let _s = serial();
    assert_eq!(gmp_self(), 0);
    gmp_gosched();
    gmp_preempt_point();
    assert_eq!(gmp_lock_os_thread(), 0);
    assert_eq!(gmp_unlock_os_thread(), 0);
    assert_eq!(gmp_sleep(-5), 0);
    assert_eq!(gmp_sleep(i64::MIN), 0);
    // Waitgroup with extreme deltas.
    let wg = WaitGroup::new();
    assert_eq!(wg.add(i64::MIN), GMP_EINVAL);
    assert_eq!(wg.add(i64::MAX), 0);
    assert_eq!(wg.add(1), GMP_EINVAL, "overflow");
    assert_eq!(wg.add(-i64::MAX), 0);
    assert_eq!(wg.wait(), 0);
    // Home wait/run budgets of any sign on a real home.
    std::thread::spawn(|| {
        let mut h: *mut gmp_home = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { gmp_home_make(&mut h) }, 0);
        assert_eq!(gmp_home_run(h, i64::MIN), 0);
        assert_eq!(gmp_home_run(h, i64::MAX), 0);
        assert_eq!(gmp_home_wait(h, 0), GMP_ETIMEDOUT);
        assert_eq!(gmp_home_wake(h), 0);
        assert_eq!(gmp_home_wait(h, i64::MAX), GMP_EINTR);
        assert_eq!(gmp_home_close(h), 0);
        assert_eq!(gmp_home_run(h, 0), GMP_ECLOSED);
        // SAFETY: closed and drained, on its thread.
        assert_eq!(unsafe { gmp_home_free(h) }, 0);
    })
    .join()
    .unwrap();
}

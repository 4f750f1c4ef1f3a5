//! `GMP_HOOKS_LAZY_PARK`: with `GMP_HOOKS_LAZY_RESUME` and a `thread_record`, a park
//! whose thread's record is all zero does not call `on_park` (the C++ binding's
//! exception state, `<gmp/gmp.hpp>`: most parks happen outside every catch block). The
//! hooks here carry a per-thread 16-byte record with a goroutine as the C++ binding
//! carries its exception state: `on_park` saves the thread's record into the
//! goroutine's and zeroes the thread's; `on_resume` installs the goroutine's and zeroes
//! it. A goroutine sets its thread's record, parks, and must find it again wherever it
//! resumes; after it clears it, its parks make no call.

mod support;

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use gmp::ffi::types::{GMP_HOOKS_LAZY_PARK, GMP_HOOKS_LAZY_RESUME};
use support::*;

thread_local! {
    /// The thread's record (its "exception state").
    static RECORD: [AtomicU64; 2] = const { [AtomicU64::new(0), AtomicU64::new(0)] };
    /// How often the runtime asked this thread for its record.
    static ASKED: Cell<u32> = const { Cell::new(0) };
}

/// Threads asked for their record more than once (the runtime keeps the address).
static ASKED_TWICE: AtomicI64 = AtomicI64::new(0);
/// Threads asked at all.
static THREADS_ASKED: AtomicI64 = AtomicI64::new(0);

unsafe extern "C" fn thread_record() -> *mut c_void {
    ASKED.with(|a| {
        a.set(a.get() + 1);
        if a.get() == 1 {
            THREADS_ASKED.fetch_add(1, Ordering::Relaxed);
        } else {
            ASKED_TWICE.fetch_add(1, Ordering::Relaxed);
        }
    });
    RECORD.with(|r| r.as_ptr() as *mut c_void)
}

/// Another `thread_record` function: the process honours only the first one it sees.
unsafe extern "C" fn other_thread_record() -> *mut c_void {
    RECORD.with(|r| r.as_ptr() as *mut c_void)
}

fn thread_rec() -> (u64, u64) {
    RECORD.with(|r| (r[0].load(Ordering::Relaxed), r[1].load(Ordering::Relaxed)))
}

fn set_thread_rec(v: (u64, u64)) {
    RECORD.with(|r| {
        r[0].store(v.0, Ordering::Relaxed);
        r[1].store(v.1, Ordering::Relaxed);
    });
}

/// A goroutine's side: its saved record first (what LAZY_RESUME reads at ctx), then
/// counters.
#[repr(C, align(16))]
struct Slot {
    rec: [AtomicU64; 2],
    parks: AtomicI64,
    resumes: AtomicI64,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            rec: [AtomicU64::new(0), AtomicU64::new(0)],
            parks: AtomicI64::new(0),
            resumes: AtomicI64::new(0),
        }
    }
}

unsafe extern "C" fn save_record(ctx: *mut c_void) {
    // SAFETY: ctx is the goroutine's Slot, alive until it ends.
    let s = unsafe { &*(ctx as *const Slot) };
    s.parks.fetch_add(1, Ordering::Relaxed);
    let (a, b) = thread_rec();
    s.rec[0].store(a, Ordering::Relaxed);
    s.rec[1].store(b, Ordering::Relaxed);
    set_thread_rec((0, 0));
}

unsafe extern "C" fn install_record(ctx: *mut c_void) {
    // SAFETY: as above.
    let s = unsafe { &*(ctx as *const Slot) };
    s.resumes.fetch_add(1, Ordering::Relaxed);
    set_thread_rec((
        s.rec[0].load(Ordering::Relaxed),
        s.rec[1].load(Ordering::Relaxed),
    ));
    s.rec[0].store(0, Ordering::Relaxed);
    s.rec[1].store(0, Ordering::Relaxed);
}

fn hooks(slot: &Slot, flags: u64, rec: RecordFn) -> gmp_switch_hooks {
    gmp_switch_hooks {
        size: std::mem::size_of::<gmp_switch_hooks>(),
        on_park: Some(save_record),
        on_resume: Some(install_record),
        ctx: slot as *const Slot as *mut c_void,
        flags,
        thread_record: rec,
    }
}

type RecordFn = Option<unsafe extern "C" fn() -> *mut c_void>;

const LAZY: u64 = GMP_HOOKS_LAZY_RESUME | GMP_HOOKS_LAZY_PARK;

/// Spawns `n` goroutines with `hooks_of(slot)`, each running `body(i)`; waits for them
/// and returns their slots.
fn run(
    n: usize,
    hooks_of: impl Fn(&Slot) -> gmp_switch_hooks,
    body: impl Fn(usize) + Send + Sync + 'static,
) -> Vec<Arc<Slot>> {
    let body = Arc::new(body);
    let slots: Vec<Arc<Slot>> = (0..n).map(|_| Arc::new(Slot::new())).collect();
    let wg = Arc::new(WaitGroup::new());
    for (i, slot) in slots.iter().enumerate() {
        let (wg2, body2) = (wg.clone(), body.clone());
        assert_eq!(wg.add(1), 0);
        let h = hooks_of(slot);
        let attr = attr_with_hooks(&h);
        let (f, arg) = c_closure(move || {
            body2(i);
            assert_eq!(wg2.done(), 0);
        });
        // SAFETY: valid attributes (copied by the call) and entry; the slot outlives the
        // goroutine (we wait for it below).
        assert_eq!(unsafe { gmp_go_ex(&attr, f, arg, std::ptr::null_mut()) }, 0);
    }
    assert_eq!(wg.wait(), 0);
    slots
}

/// Goroutines that never set their thread's record park and resume with no hook call at
/// all, on two P's.
#[test]
fn parks_make_no_call_while_the_thread_record_is_zero() {
    let _s = serial();
    gmain(|| {
        gmp_maxprocs(2);
        let slots = run(
            50,
            |s| hooks(s, LAZY, Some(thread_record)),
            |_| {
                for _ in 0..20 {
                    gmp_gosched();
                    assert_eq!(gmp_sleep(10_000), 0);
                }
            },
        );
        for s in &slots {
            assert_eq!(
                s.parks.load(Ordering::Relaxed),
                0,
                "a park with a zero record"
            );
            assert_eq!(s.resumes.load(Ordering::Relaxed), 0);
        }
        assert!(THREADS_ASKED.load(Ordering::Relaxed) >= 1);
        assert_eq!(
            ASKED_TWICE.load(Ordering::Relaxed),
            0,
            "a thread asked twice"
        );
    });
}

/// Each goroutine sets its thread's record to its own value and parks (the park is
/// called and saves it; the resume installs it, maybe on another thread), checks it is
/// back, clears it and parks again (no call): the record travels with the goroutine,
/// and only the parks with a record set make a call.
#[test]
fn a_set_record_travels_with_its_goroutine() {
    let _s = serial();
    gmain(|| {
        gmp_maxprocs(2);
        const N: usize = 100;
        const ROUNDS: u64 = 10;
        let wrong = Arc::new(AtomicI64::new(0));
        let moved = Arc::new(AtomicBool::new(false));
        let (w2, m2) = (wrong.clone(), moved.clone());
        let slots = run(
            N,
            |s| hooks(s, LAZY, Some(thread_record)),
            move |i| {
                for r in 0..ROUNDS {
                    let mine = (i as u64 + 1, r + 1);
                    set_thread_rec(mine);
                    let before = std::thread::current().id();
                    assert_eq!(gmp_sleep(20_000), 0);
                    if std::thread::current().id() != before {
                        m2.store(true, Ordering::Relaxed);
                    }
                    if thread_rec() != mine {
                        w2.fetch_add(1, Ordering::Relaxed);
                    }
                    set_thread_rec((0, 0));
                    gmp_gosched();
                    assert_eq!(gmp_sleep(1_000), 0);
                    if thread_rec() != (0, 0) {
                        w2.fetch_add(1, Ordering::Relaxed);
                    }
                }
            },
        );
        assert_eq!(wrong.load(Ordering::Relaxed), 0, "a record went astray");
        for s in &slots {
            assert_eq!(s.parks.load(Ordering::Relaxed), ROUNDS as i64);
            assert_eq!(s.resumes.load(Ordering::Relaxed), ROUNDS as i64);
        }
        // Not asserted (scheduling decides), but the point of two P's.
        if !moved.load(Ordering::Relaxed) {
            eprintln!("no goroutine resumed on another thread in this run");
        }
        assert_eq!(
            ASKED_TWICE.load(Ordering::Relaxed),
            0,
            "a thread asked twice"
        );
    });
}

/// A second `thread_record` function is not the process's: its goroutines get every
/// park call (correct, as without the flag), while the first function's still skip.
#[test]
fn another_thread_record_function_gets_every_park() {
    let _s = serial();
    gmain(|| {
        let work = |_| {
            for _ in 0..5 {
                gmp_gosched();
            }
        };
        let first = run(4, |s| hooks(s, LAZY, Some(thread_record)), work);
        let other = run(4, |s| hooks(s, LAZY, Some(other_thread_record)), work);
        for s in &first {
            assert_eq!(s.parks.load(Ordering::Relaxed), 0);
        }
        for s in &other {
            assert!(s.parks.load(Ordering::Relaxed) >= 5, "a park was skipped");
        }
    });
}

/// `GMP_HOOKS_LAZY_PARK` needs `GMP_HOOKS_LAZY_RESUME` (a skipped park relies on the
/// resume having zeroed ctx) and a `thread_record`: `GMP_EINVAL` otherwise.
#[test]
fn lazy_park_without_its_conditions_is_refused() {
    let _s = serial();
    gmain(|| {
        let slot = Slot::new();
        for h in [
            hooks(&slot, GMP_HOOKS_LAZY_PARK, Some(thread_record)),
            hooks(&slot, LAZY, None),
        ] {
            let attr = attr_with_hooks(&h);
            let (f, arg) = c_closure(|| {});
            // SAFETY: valid attributes and entry; a refused spawn does not run f, whose
            // closure leaks (a test).
            let rc = unsafe { gmp_go_ex(&attr, f, arg, std::ptr::null_mut()) };
            assert_eq!(rc, gmp::ffi::types::GMP_EINVAL);
        }
    });
}

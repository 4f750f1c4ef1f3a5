//! A goroutine that ends hands its stack to its P's next goroutine when that one never
//! ran, and the new one runs in place, in the same frame, with no switch
//! (`proc::goexit`). Whatever path a goroutine takes, it must see only its own state:
//! its own id, a stack of the size it asked for, no goroutine-local value of the one
//! before it, its own switch hooks and no others. Bursts of goroutines that end at
//! once (the path's common case) with mixed stack sizes, names, hooks and locals.

mod support;

use std::ffi::{CString, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use gmp::ffi::local::*;
use support::*;

/// What goroutine `i` of a burst asks for, and what it saw.
struct Slot {
    stack: usize,
    hooked: bool,
    saw_id: AtomicU64,
    saw_stack: AtomicUsize,
    saw_local: AtomicUsize,
}

struct Burst {
    slots: Vec<Slot>,
    key: gmp_local_key,
    parks: AtomicI64,
    resumes: AtomicI64,
    wg: WaitGroup,
}

struct Arg {
    burst: Arc<Burst>,
    i: usize,
}

unsafe extern "C" fn on_park(ctx: *mut c_void) {
    // SAFETY: ctx is the Burst, alive until every goroutine of it ended.
    unsafe { &*(ctx as *const Burst) }
        .parks
        .fetch_add(1, Ordering::Relaxed);
}

unsafe extern "C" fn on_resume(ctx: *mut c_void) {
    // SAFETY: as above.
    unsafe { &*(ctx as *const Burst) }
        .resumes
        .fetch_add(1, Ordering::Relaxed);
}

unsafe extern "C" fn body(p: *mut c_void) {
    // SAFETY: made by Box::into_raw below, for this goroutine only.
    let a = unsafe { Box::from_raw(p as *mut Arg) };
    let b = &*a.burst;
    let s = &b.slots[a.i];
    s.saw_id.store(gmp_self(), Ordering::Relaxed);
    s.saw_stack
        .store(gmp::rt::current_stack_bounds().1, Ordering::Relaxed);
    s.saw_local
        .store(gmp_local_get(b.key) as usize, Ordering::Relaxed);
    // A value of its own, left for the next goroutine to (not) see.
    assert_eq!(gmp_local_set(b.key, (a.i + 1) as *mut c_void), 0);
    if s.hooked {
        // One more switch point: the hooks run around it.
        gmp_gosched();
    }
    assert_eq!(b.wg.done(), 0);
}

fn burst(n: usize) {
    let mut key = 0;
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { gmp_local_key_create(&mut key, None) }, 0);
    let slots = (0..n)
        .map(|i| Slot {
            stack: [0, 64 << 10, 0, 512 << 10, 0][i % 5],
            hooked: i % 7 == 3,
            saw_id: AtomicU64::new(0),
            saw_stack: AtomicUsize::new(0),
            saw_local: AtomicUsize::new(usize::MAX),
        })
        .collect();
    let b = Arc::new(Burst {
        slots,
        key,
        parks: AtomicI64::new(0),
        resumes: AtomicI64::new(0),
        wg: WaitGroup::with(n as i64),
    });
    let hooks = gmp_switch_hooks {
        size: std::mem::size_of::<gmp_switch_hooks>(),
        on_park: Some(on_park),
        on_resume: Some(on_resume),
        ctx: Arc::as_ptr(&b) as *mut c_void,
        flags: 0,
        thread_record: None,
    };
    let name = CString::new("in-place").unwrap();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let s = &b.slots[i];
        let attr = gmp_go_attr {
            size: std::mem::size_of::<gmp_go_attr>(),
            stack_size: s.stack,
            name: if i % 3 == 0 {
                name.as_ptr()
            } else {
                std::ptr::null()
            },
            hooks: if s.hooked { &hooks } else { std::ptr::null() },
        };
        let arg = Box::into_raw(Box::new(Arg {
            burst: b.clone(),
            i,
        }));
        let mut id = 0;
        // SAFETY: a valid attr, function and out pointer; arg is the goroutine's.
        let rc = unsafe { gmp_go_ex(&attr, Some(body), arg as *mut c_void, &mut id) };
        assert_eq!(rc, 0);
        ids.push(id);
    }
    assert_eq!(b.wg.wait(), 0);
    let hooked = b.slots.iter().filter(|s| s.hooked).count() as i64;
    // Slot 0 asked for the default size, whatever it is (GMP_STACK_SIZE).
    let default = b.slots[0].saw_stack.load(Ordering::Relaxed);
    assert!(default > 0);
    for (i, s) in b.slots.iter().enumerate() {
        assert_eq!(
            s.saw_id.load(Ordering::Relaxed),
            ids[i],
            "goroutine {i}: id"
        );
        let want = if s.stack == 0 { default } else { s.stack };
        assert_eq!(
            s.saw_stack.load(Ordering::Relaxed),
            want,
            "goroutine {i}: stack size"
        );
        assert_eq!(
            s.saw_local.load(Ordering::Relaxed),
            0,
            "goroutine {i}: saw another goroutine's local value"
        );
    }
    // Each hooked goroutine parks at least at its gosched (the waitgroup may add one);
    // an unhooked one never calls them. The pairs always match.
    let parks = b.parks.load(Ordering::Relaxed);
    assert!(
        parks >= hooked,
        "{parks} on_park calls for {hooked} hooked goroutines"
    );
    assert!(
        parks <= 2 * hooked,
        "{parks} on_park calls: hooks ran for goroutines without them"
    );
    assert_eq!(parks, b.resumes.load(Ordering::Relaxed));
    assert_eq!(gmp_local_key_delete(key), 0);
}

#[test]
fn bursts_that_end_at_once_see_only_their_own_state() {
    let _s = serial();
    gmain(|| {
        for _ in 0..20 {
            burst(1000);
        }
    });
}

#[test]
fn bursts_from_a_foreign_thread() {
    let _s = serial();
    // Spawned from outside the runtime: they go to the global queue and are run by
    // the M's, in place one after the other.
    for _ in 0..5 {
        burst(500);
    }
}

//! The stack switch (`src/sched/cswitch.rs`) and the direct G -> G switch of
//! `switch_from_g`: a goroutine that parks, yields or ends switches straight to its P's
//! next goroutine. These tests run many such switches and check what must survive them:
//! the registers C code keeps across a call, the switch hooks (in pairs, on the right
//! goroutine), `gmp_blocking` (which goes to the thread's own stack and back to the same
//! goroutine) and LockOSThread (a locked goroutine never runs elsewhere).

mod support;

use std::ffi::c_void;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use gmp::ffi::netpoll::gmp_blocking;
use support::*;

/// One side of an unbuffered ping-pong of `n` round trips: the pinger sends on `ping`
/// and waits for the echo on `pong`; the other side echoes. Every value is checked.
fn pingpong_side(pinger: bool, ping: Ch, pong: Ch, n: u64) {
    for i in 0..n {
        if pinger {
            assert_eq!(ping.send(i), 0);
            assert_eq!(pong.recv(), (0, i));
        } else {
            assert_eq!(ping.recv(), (0, i));
            assert_eq!(pong.send(i), 0);
        }
    }
}

/// Sixteen goroutines on a P each keep a dozen live values across 20,000 yields, most
/// of them direct switches to one another; every value must come back intact. The
/// values are mixed with black_box so the compiler keeps them in registers (the
/// callee-saved ones across the call) or in the goroutine's own frame.
#[test]
fn live_values_survive_direct_switches() {
    let _s = serial();
    gmain(|| {
        let wg = Arc::new(WaitGroup::new());
        let bad = Arc::new(AtomicUsize::new(0));
        for k in 0..16u64 {
            let (wg, bad) = (wg.clone(), bad.clone());
            assert_eq!(wg.add(1), 0);
            go(move || {
                let mut v: [u64; 12] = std::array::from_fn(|i| k * 1000 + i as u64);
                let mut f = k as f64 * 0.5;
                for round in 0..20_000u64 {
                    let (a, b, c, d, e, g) = (
                        black_box(v[0]),
                        black_box(v[1]),
                        black_box(v[2]),
                        black_box(v[3]),
                        black_box(v[4]),
                        black_box(v[5]),
                    );
                    gmp_gosched();
                    let sum = a ^ b.rotate_left(3) ^ c.rotate_left(7) ^ d ^ e ^ g;
                    let want =
                        v[0] ^ v[1].rotate_left(3) ^ v[2].rotate_left(7) ^ v[3] ^ v[4] ^ v[5];
                    if sum != want || f != black_box(f) {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                    for x in v.iter_mut() {
                        *x = x.wrapping_mul(6364136223846793005).wrapping_add(round);
                    }
                    f += 1.0;
                }
                if f != k as f64 * 0.5 + 20_000.0 {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
                assert_eq!(wg.done(), 0);
            });
        }
        assert_eq!(wg.wait(), 0);
        assert_eq!(
            bad.load(Ordering::Relaxed),
            0,
            "values changed across a switch"
        );
    });
}

struct HookState {
    me: AtomicU64,
    parks: AtomicI64,
    resumes: AtomicI64,
    wrong: AtomicI64,
}

unsafe extern "C" fn on_park(ctx: *mut c_void) {
    // SAFETY: ctx is the test's HookState, alive until the goroutine ends.
    let s = unsafe { &*(ctx as *const HookState) };
    if gmp_self() != s.me.load(Ordering::Relaxed) {
        s.wrong.fetch_add(1, Ordering::Relaxed);
    }
    s.parks.fetch_add(1, Ordering::Relaxed);
}

unsafe extern "C" fn on_resume(ctx: *mut c_void) {
    // SAFETY: as above.
    let s = unsafe { &*(ctx as *const HookState) };
    if gmp_self() != s.me.load(Ordering::Relaxed) {
        s.wrong.fetch_add(1, Ordering::Relaxed);
    }
    s.resumes.fetch_add(1, Ordering::Relaxed);
}

/// Two goroutines, each with the hooks `hooks(k)` gives it (`k` 0 or 1) over its own
/// [`HookState`], ping-pong `n` times (every park a direct switch to the other one, on
/// one P or two). Returns the two states once both have ended.
fn hooked_pingpong(
    n: u64,
    hooks: impl Fn(usize, *mut c_void) -> gmp_switch_hooks,
) -> Vec<Arc<HookState>> {
    let (ping, pong) = (Ch::of::<u64>(0), Ch::of::<u64>(0));
    let states: Vec<Arc<HookState>> = (0..2)
        .map(|_| {
            Arc::new(HookState {
                me: AtomicU64::new(0),
                parks: AtomicI64::new(0),
                resumes: AtomicI64::new(0),
                wrong: AtomicI64::new(0),
            })
        })
        .collect();
    let wg = Arc::new(WaitGroup::new());
    for (k, st) in states.iter().enumerate() {
        let (st2, wg2) = (st.clone(), wg.clone());
        assert_eq!(wg.add(1), 0);
        let body = move || {
            st2.me.store(gmp_self(), Ordering::Relaxed);
            pingpong_side(k == 0, ping, pong, n);
            assert_eq!(wg2.done(), 0);
        };
        let hooks = hooks(k, Arc::as_ptr(st) as *mut c_void);
        let attr = attr_with_hooks(&hooks);
        let (f, arg) = c_closure(body);
        // SAFETY: valid attributes (copied by the call) and entry.
        assert_eq!(unsafe { gmp_go_ex(&attr, f, arg, std::ptr::null_mut()) }, 0);
    }
    assert_eq!(wg.wait(), 0);
    ping.release();
    pong.release();
    for st in &states {
        assert_eq!(
            st.wrong.load(Ordering::Relaxed),
            0,
            "a hook ran on another goroutine"
        );
    }
    states
}

/// Two goroutines with switch hooks ping-pong 50,000 times: each hook runs on its own
/// goroutine, and parks and resumes pair up.
#[test]
fn hooks_pair_up_around_direct_switches() {
    let _s = serial();
    gmain(|| {
        const N: u64 = 50_000;
        let states = hooked_pingpong(N, |_, ctx| gmp_switch_hooks {
            size: std::mem::size_of::<gmp_switch_hooks>(),
            on_park: Some(on_park),
            on_resume: Some(on_resume),
            ctx,
            flags: 0,
            thread_record: None,
        });
        let mut parks = 0;
        for st in &states {
            let (p, r) = (
                st.parks.load(Ordering::Relaxed),
                st.resumes.load(Ordering::Relaxed),
            );
            assert_eq!(p, r, "on_park {p} times, on_resume {r} times");
            parks += p;
        }
        // Each of the 2N unbuffered exchanges parks whichever side came first.
        assert!(
            parks >= 2 * N as i64,
            "only {parks} parks for {} exchanges",
            2 * N
        );
    });
}

/// A goroutine given only one of the two hooks (the other NULL) gets that one at every
/// switch, and nothing else runs in the other's place: one side has only `on_park`, the
/// other only `on_resume`.
#[test]
fn a_single_hook_runs_alone() {
    let _s = serial();
    gmain(|| {
        const N: u64 = 20_000;
        let states = hooked_pingpong(N, |k, ctx| gmp_switch_hooks {
            size: std::mem::size_of::<gmp_switch_hooks>(),
            on_park: if k == 0 { Some(on_park) } else { None },
            on_resume: if k == 0 { None } else { Some(on_resume) },
            ctx,
            flags: 0,
            thread_record: None,
        });
        let (p0, r0) = (
            states[0].parks.load(Ordering::Relaxed),
            states[0].resumes.load(Ordering::Relaxed),
        );
        let (p1, r1) = (
            states[1].parks.load(Ordering::Relaxed),
            states[1].resumes.load(Ordering::Relaxed),
        );
        assert!(p0 >= N as i64 / 2, "only {p0} on_park calls");
        assert!(r1 >= N as i64 / 2, "only {r1} on_resume calls");
        assert_eq!((r0, p1), (0, 0), "a hook that was not given ran");
    });
}

/// `GMP_HOOKS_LAZY_RESUME`: every park calls `on_park`; a resume calls `on_resume` only
/// when the 16 bytes at ctx are not all zero. One side of a ping-pong parks with a zero
/// record (no resume hook at all), the other with a non-zero one (every resume).
#[test]
fn lazy_resume_runs_only_for_a_nonzero_record() {
    let _s = serial();
    gmain(|| {
        const N: u64 = 20_000;
        let recs: Vec<Arc<CountingHooks>> = (0..2)
            .map(|k| Arc::new(CountingHooks::new(k == 1)))
            .collect();
        let r2 = recs.clone();
        hooked_pingpong(N, move |k, _| r2[k].hooks(GMP_HOOKS_LAZY_RESUME));
        let ((p0, r0), (p1, r1)) = (recs[0].counts(), recs[1].counts());
        assert!(p0 >= N as i64 / 2 && p1 >= N as i64 / 2, "parks {p0}, {p1}");
        assert_eq!(r0, 0, "a resume hook ran for a zero record");
        assert_eq!(r1, p1, "a resume of a non-zero record was skipped");
    });
}

unsafe extern "C" fn on_thread_stack(arg: *mut c_void) {
    // SAFETY: arg is the caller's (goroutine stack address, result) pair.
    let io = unsafe { &mut *(arg as *mut (usize, usize)) };
    let here = &io as *const _ as usize;
    io.1 = here.abs_diff(io.0);
}

/// gmp_blocking switches to the thread's own stack and back to the same goroutine, in
/// the middle of goroutines that switch directly to one another.
#[test]
fn blocking_returns_to_its_goroutine_amid_direct_switches() {
    let _s = serial();
    gmain(|| {
        let (a, b) = (Ch::of::<u64>(0), Ch::of::<u64>(0));
        let wg = Arc::new(WaitGroup::new());
        for k in 0..2 {
            let wg = wg.clone();
            assert_eq!(wg.add(1), 0);
            go(move || {
                pingpong_side(k == 0, a, b, 20_000);
                assert_eq!(wg.done(), 0);
            });
        }
        let far = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let (wg, far) = (wg.clone(), far.clone());
            assert_eq!(wg.add(1), 0);
            go(move || {
                let me = gmp_self();
                for _ in 0..2_000 {
                    let mut io = (0usize, 0usize);
                    io.0 = &io as *const _ as usize;
                    // SAFETY: a valid function and argument for the call's duration.
                    assert_eq!(
                        gmp_blocking(Some(on_thread_stack), &mut io as *mut _ as *mut c_void),
                        0
                    );
                    assert_eq!(
                        gmp_self(),
                        me,
                        "gmp_blocking came back to another goroutine"
                    );
                    // The call ran on another stack: far from our frame (goroutine stacks
                    // are 256 KiB slots; the thread's stack is elsewhere).
                    if io.1 > 64 * 1024 {
                        far.fetch_add(1, Ordering::Relaxed);
                    }
                    gmp_gosched();
                }
                assert_eq!(wg.done(), 0);
            });
        }
        assert_eq!(wg.wait(), 0);
        assert_eq!(
            far.load(Ordering::Relaxed),
            3 * 2_000,
            "a blocking call ran near the goroutine's frame"
        );
        a.release();
        b.release();
    });
}

/// A goroutine locked to its thread exchanges messages with unlocked ones that switch
/// directly among themselves: it always runs on its own thread, and every message
/// arrives.
#[test]
fn locked_goroutine_stays_on_its_thread_amid_direct_switches() {
    let _s = serial();
    gmain(|| {
        let to_locked = Ch::of::<u64>(0);
        let from_locked = Ch::of::<u64>(0);
        let wg = Arc::new(WaitGroup::new());
        {
            let wg = wg.clone();
            assert_eq!(wg.add(1), 0);
            go(move || {
                assert_eq!(gmp_lock_os_thread(), 0);
                let tid = gettid();
                let mut sum = 0u64;
                loop {
                    let (rc, v) = to_locked.recv::<u64>();
                    if rc != 0 {
                        break;
                    }
                    assert_eq!(gettid(), tid, "a locked goroutine ran on another thread");
                    sum += v;
                    assert_eq!(from_locked.send(v), 0);
                }
                assert_eq!(sum, 4 * (0..5_000u64).sum::<u64>());
                assert_eq!(gmp_unlock_os_thread(), 0);
                assert_eq!(wg.done(), 0);
            });
        }
        let senders = Arc::new(WaitGroup::new());
        for _ in 0..4 {
            let senders = senders.clone();
            assert_eq!(senders.add(1), 0);
            go(move || {
                for i in 0..5_000u64 {
                    assert_eq!(to_locked.send(i), 0);
                    gmp_gosched();
                }
                assert_eq!(senders.done(), 0);
            });
        }
        let drained = Arc::new(WaitGroup::new());
        {
            let drained = drained.clone();
            assert_eq!(drained.add(1), 0);
            go(move || {
                for _ in 0..4 * 5_000 {
                    assert_eq!(from_locked.recv::<u64>().0, 0);
                }
                assert_eq!(drained.done(), 0);
            });
        }
        assert_eq!(senders.wait(), 0);
        assert_eq!(drained.wait(), 0);
        assert_eq!(to_locked.close(), 0);
        assert_eq!(wg.wait(), 0);
        to_locked.release();
        from_locked.release();
    });
}

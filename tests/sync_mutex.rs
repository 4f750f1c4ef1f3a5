//! gmp_mutex: mutual exclusion, trylock, unlock errors, unlock by another goroutine or
//! thread, stress, and unlock-then-free (no touch of the struct after the releasing
//! store, DESIGN.md "Sync and freeing").

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use gmp::ffi::goroutine::gmp_gosched;
use support::*;

#[test]
fn trylock_and_unlock_errors() {
    let _s = serial();
    let mu = Mutex::new();
    assert_eq!(mu.unlock(), GMP_EINVAL, "unlock of an unlocked mutex");
    assert_eq!(mu.trylock(), 0);
    assert_eq!(mu.trylock(), GMP_EAGAIN);
    assert_eq!(mu.unlock(), 0);
    assert_eq!(mu.unlock(), GMP_EINVAL);
    assert_eq!(mu.lock(), 0);
    assert_eq!(mu.trylock(), GMP_EAGAIN);
    assert_eq!(mu.unlock(), 0);
    assert_eq!(mu.words(), [0, 0], "an unlocked mutex is all-zero again");
    // Same from a goroutine.
    let m = Arc::new(Mutex::new());
    let m2 = m.clone();
    let wg = Arc::new(WaitGroup::with(1));
    let w = wg.clone();
    go(move || {
        assert_eq!(m2.unlock(), GMP_EINVAL);
        assert_eq!(m2.trylock(), 0);
        assert_eq!(m2.trylock(), GMP_EAGAIN);
        assert_eq!(w.done(), 0);
    });
    assert_eq!(wg.wait(), 0);
    // Held by the goroutine (which ended): trylock fails here too.
    assert_eq!(m.trylock(), GMP_EAGAIN);
    assert_eq!(m.unlock(), 0);
}

#[test]
fn unlock_by_another_goroutine_or_thread() {
    let _s = serial();
    let mu = Arc::new(Mutex::new());
    assert_eq!(mu.lock(), 0);
    // A goroutine blocks on it; another goroutine unlocks for us.
    let got = Arc::new(WaitGroup::with(1));
    let (m, g) = (mu.clone(), got.clone());
    go(move || {
        assert_eq!(m.lock(), 0);
        assert_eq!(g.done(), 0);
    });
    let m = mu.clone();
    go(move || assert_eq!(m.unlock(), 0));
    assert_eq!(got.wait(), 0);
    // Now held by the first goroutine (ended); a foreign thread unlocks.
    let m = mu.clone();
    std::thread::spawn(move || assert_eq!(m.unlock(), 0))
        .join()
        .unwrap();
    assert_eq!(mu.trylock(), 0);
    assert_eq!(mu.unlock(), 0);
}

fn exclusion(goroutines: usize, threads: usize, iters: usize, yield_inside: bool) {
    let wd = Watchdog::new("mutex exclusion", Duration::from_secs(60));
    let mu = Arc::new(Mutex::new());
    let counter = Arc::new(Racy::new(0u64));
    let inside = Arc::new(AtomicU32::new(0));
    let done = Arc::new(WaitGroup::with((goroutines + threads) as i64));
    let body = {
        let (mu, counter, inside, done, p) = (
            mu.clone(),
            counter.clone(),
            inside.clone(),
            done.clone(),
            wd.progress.clone(),
        );
        move |who: usize| {
            for i in 0..iters {
                if (i + who) % 3 == 0 {
                    while mu.trylock() != 0 {
                        gmp_gosched();
                        std::hint::spin_loop();
                    }
                } else {
                    assert_eq!(mu.lock(), 0);
                }
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                // SAFETY: under the lock.
                unsafe { *counter.get() += 1 };
                if yield_inside && i % 4 == 0 {
                    gmp_gosched();
                }
                inside.fetch_sub(1, Ordering::SeqCst);
                assert_eq!(mu.unlock(), 0);
                p.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(done.done(), 0);
        }
    };
    run_mixed(goroutines, threads, 1000, &done, body);
    // SAFETY: every holder has finished.
    let total = unsafe { *counter.get() };
    assert_eq!(total, ((goroutines + threads) * iters) as u64);
    assert_eq!(mu.words(), [0, 0]);
}

#[test]
fn mutual_exclusion_goroutines() {
    let _s = serial();
    exclusion(16, 0, 2000, true);
}

#[test]
fn mutual_exclusion_goroutines_and_threads() {
    let _s = serial();
    exclusion(8, 3, 2000, true);
}

#[test]
fn stress_contended_mutex() {
    let _s = serial();
    exclusion(scale(200, 1000), scale(2, 4), scale(300, 3000), false);
}

/// An object shared by `users` parties; each does `lock; last = --refs == 0; unlock;
/// if (last) free(obj)`: the C idiom API.md promises is safe.
struct Obj {
    mu: Mutex,
    refs: Racy<u32>,
}

/// How the last user disposes of the object.
#[derive(Clone, Copy)]
enum Dispose {
    /// Really free it (drop the Box): a later touch is a use-after-free (ASan sees it).
    Free,
    /// Overwrite its words with a poison pattern and keep it: a later store by the
    /// library changes the pattern, which the test checks at the end.
    Poison,
}

const POISON: u64 = 0xdead_beef_f00d_cafe;

fn unlock_then_free(objects: usize, users: usize, thread_every: usize, how: Dispose) {
    let wd = Watchdog::new("unlock-then-free", Duration::from_secs(60));
    let done = Arc::new(WaitGroup::with((objects * users) as i64));
    let quarantine = Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let freed = Arc::new(AtomicUsize::new(0));
    let mut ts = Vec::new();
    let mut n = 0usize;
    for _ in 0..objects {
        let obj = Box::into_raw(Box::new(Obj {
            mu: Mutex::new(),
            refs: Racy::new(users as u32),
        })) as usize;
        for u in 0..users {
            n += 1;
            let (d, q, f, p) = (
                done.clone(),
                quarantine.clone(),
                freed.clone(),
                wd.progress.clone(),
            );
            let body = move || {
                // SAFETY: the object lives until the last user frees it, below.
                let o = unsafe { &*(obj as *const Obj) };
                assert_eq!(o.mu.lock(), 0);
                // SAFETY: under the lock.
                let last = unsafe {
                    *o.refs.get() -= 1;
                    *o.refs.get() == 0
                };
                if u % 2 == 0 {
                    // Stay a little inside so others queue up behind us.
                    gmp_gosched();
                }
                assert_eq!(o.mu.unlock(), 0);
                if last {
                    match how {
                        // SAFETY: we were the last user; nobody touches it again.
                        Dispose::Free => drop(unsafe { Box::from_raw(obj as *mut Obj) }),
                        Dispose::Poison => {
                            o.mu.set_words([POISON, POISON]);
                            q.lock().unwrap().push(obj);
                        }
                    }
                    f.fetch_add(1, Ordering::Relaxed);
                }
                p.fetch_add(1, Ordering::Relaxed);
                assert_eq!(d.done(), 0);
            };
            if thread_every > 0 && n % thread_every == 0 {
                ts.push(std::thread::spawn(body));
                if ts.len() >= 8 {
                    for t in ts.drain(..) {
                        t.join().unwrap();
                    }
                }
            } else {
                go(body);
            }
        }
    }
    assert_eq!(done.wait(), 0);
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(freed.load(Ordering::SeqCst), objects);
    // Let any late (buggy) store land before checking.
    std::thread::sleep(Duration::from_millis(20));
    for &obj in quarantine.lock().unwrap().iter() {
        // SAFETY: quarantined objects are never freed until here.
        let o = unsafe { Box::from_raw(obj as *mut Obj) };
        assert_eq!(
            o.mu.words(),
            [POISON, POISON],
            "the library wrote to a mutex after its last unlock"
        );
    }
}

#[test]
fn unlock_then_free_goroutines() {
    let _s = serial();
    unlock_then_free(scale(5000, 50000), 3, 0, Dispose::Free);
}

#[test]
fn unlock_then_free_with_threads() {
    let _s = serial();
    unlock_then_free(scale(600, 6000), 3, 5, Dispose::Free);
}

#[test]
fn unlock_then_poison_no_late_store() {
    let _s = serial();
    unlock_then_free(scale(5000, 50000), 4, 0, Dispose::Poison);
    unlock_then_free(scale(600, 6000), 3, 4, Dispose::Poison);
}

#[test]
fn many_mutexes_many_goroutines() {
    let _s = serial();
    // Distinct mutexes share sema buckets (251 of them): waiters of one must never be
    // woken for another.
    let k = 1000;
    let per = 8;
    let iters = scale(50, 500);
    let mus: Arc<Vec<Mutex>> = Arc::new((0..k).map(|_| Mutex::new()).collect());
    let counts: Arc<Vec<Racy<u64>>> = Arc::new((0..k).map(|_| Racy::new(0)).collect());
    let total = Arc::new(AtomicU64::new(0));
    let done = Arc::new(WaitGroup::with((k * per) as i64));
    for i in 0..k * per {
        let (m, c, t, d) = (mus.clone(), counts.clone(), total.clone(), done.clone());
        go(move || {
            let j = i % k;
            for _ in 0..iters {
                assert_eq!(m[j].lock(), 0);
                // SAFETY: under mutex j.
                unsafe { *c[j].get() += 1 };
                gmp_gosched();
                assert_eq!(m[j].unlock(), 0);
                t.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(d.done(), 0);
        });
    }
    assert_eq!(done.wait(), 0);
    for j in 0..k {
        // SAFETY: all done.
        assert_eq!(unsafe { *counts[j].get() }, (per * iters) as u64);
    }
}

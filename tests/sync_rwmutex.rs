//! gmp_rwmutex: readers share, writers exclude, try variants, unlock errors, writer
//! preference, stress, and unlock-then-free.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use gmp::ffi::goroutine::gmp_gosched;
use support::*;

#[test]
fn try_variants_and_unlock_errors() {
    let _s = serial();
    let rw = RwMutex::new();
    assert_eq!(rw.unlock(), GMP_EINVAL, "unlock of an unlocked rwmutex");
    assert_eq!(rw.runlock(), GMP_EINVAL, "runlock of an unlocked rwmutex");
    assert_eq!(rw.tryrlock(), 0);
    assert_eq!(rw.tryrlock(), 0);
    assert_eq!(rw.trylock(), GMP_EAGAIN, "trylock while read-locked");
    assert_eq!(rw.unlock(), GMP_EINVAL, "unlock while only read-locked");
    assert_eq!(rw.runlock(), 0);
    assert_eq!(rw.runlock(), 0);
    assert_eq!(rw.runlock(), GMP_EINVAL);
    assert_eq!(rw.trylock(), 0);
    assert_eq!(rw.tryrlock(), GMP_EAGAIN, "tryrlock while write-locked");
    assert_eq!(rw.trylock(), GMP_EAGAIN);
    assert_eq!(rw.runlock(), GMP_EINVAL, "runlock while write-locked");
    assert_eq!(rw.unlock(), 0);
    assert_eq!(rw.unlock(), GMP_EINVAL);
    assert_eq!(rw.rlock(), 0);
    assert_eq!(rw.runlock(), 0);
    assert_eq!(rw.lock(), 0);
    assert_eq!(rw.unlock(), 0);
    assert_eq!(rw.words(), [0, 0, 0, 0]);
}

#[test]
fn readers_hold_it_together() {
    let _s = serial();
    // Each reader takes the read lock and then waits until all N hold it: only possible
    // if readers share it (else this hangs and wait_for reports it).
    let n = 50;
    let rw = Arc::new(RwMutex::new());
    let all_in = Arc::new(WaitGroup::with(n));
    let done = Arc::new(WaitGroup::with(n));
    let mut ts = Mixed::default();
    for i in 0..n {
        let (r, a, d) = (rw.clone(), all_in.clone(), done.clone());
        let body = move || {
            assert_eq!(r.rlock(), 0);
            assert_eq!(a.done(), 0);
            assert_eq!(a.wait(), 0);
            assert_eq!(r.runlock(), 0);
            assert_eq!(d.done(), 0);
        };
        ts.start(i % 10 == 9, body);
    }
    ts.wait(&done);
    assert_eq!(rw.trylock(), 0);
    assert_eq!(rw.unlock(), 0);
}

#[test]
fn waiting_writer_blocks_new_readers_then_gets_in() {
    let _s = serial();
    let rw = Arc::new(RwMutex::new());
    assert_eq!(rw.rlock(), 0);
    let got = Arc::new(WaitGroup::with(1));
    let (r, g) = (rw.clone(), got.clone());
    go(move || {
        assert_eq!(r.lock(), 0);
        assert_eq!(g.done(), 0);
    });
    // Once the writer queues, new readers are refused (writers are not starved).
    wait_for("the writer to queue", || match rw.tryrlock() {
        0 => {
            assert_eq!(rw.runlock(), 0);
            false
        }
        rc => {
            assert_eq!(rc, GMP_EAGAIN);
            true
        }
    });
    // A blocking reader queues behind the writer and gets in after it.
    let reader_in = Arc::new(WaitGroup::with(1));
    let (r, ri) = (rw.clone(), reader_in.clone());
    go(move || {
        assert_eq!(r.rlock(), 0);
        assert_eq!(ri.done(), 0);
    });
    assert_eq!(rw.runlock(), 0);
    assert_eq!(got.wait(), 0);
    // The writer holds it now (its goroutine ended without unlocking).
    assert_eq!(rw.tryrlock(), GMP_EAGAIN);
    assert_eq!(rw.unlock(), 0);
    assert_eq!(reader_in.wait(), 0);
    assert_eq!(rw.runlock(), 0);
    assert_eq!(rw.trylock(), 0);
    assert_eq!(rw.unlock(), 0);
}

fn readers_writers(goroutines: usize, threads: usize, iters: usize) {
    let wd = Watchdog::new("rwmutex stress", Duration::from_secs(60));
    let rw = Arc::new(RwMutex::new());
    // > 0: that many readers in; -1: one writer in.
    let state = Arc::new(AtomicI64::new(0));
    let data = Arc::new(Racy::new(0u64));
    let writes = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(WaitGroup::with((goroutines + threads) as i64));
    let body = {
        let (rw, state, data, writes, done, p) = (
            rw.clone(),
            state.clone(),
            data.clone(),
            writes.clone(),
            done.clone(),
            wd.progress.clone(),
        );
        move |who: usize| {
            for i in 0..iters {
                let writer = (who + i) % 5 == 0;
                if writer {
                    if i % 3 == 0 {
                        while rw.trylock() != 0 {
                            gmp_gosched();
                        }
                    } else {
                        assert_eq!(rw.lock(), 0);
                    }
                    assert_eq!(
                        state.swap(-1, Ordering::SeqCst),
                        0,
                        "writer shares the lock"
                    );
                    // SAFETY: write-locked.
                    unsafe { *data.get() += 1 };
                    if i % 4 == 0 {
                        gmp_gosched();
                    }
                    assert_eq!(state.swap(0, Ordering::SeqCst), -1);
                    writes.fetch_add(1, Ordering::Relaxed);
                    assert_eq!(rw.unlock(), 0);
                } else {
                    if i % 3 == 0 {
                        while rw.tryrlock() != 0 {
                            gmp_gosched();
                        }
                    } else {
                        assert_eq!(rw.rlock(), 0);
                    }
                    assert!(
                        state.fetch_add(1, Ordering::SeqCst) >= 0,
                        "reader while a writer holds it"
                    );
                    // SAFETY: read-locked: no writer runs.
                    let _ = unsafe { std::ptr::read_volatile(data.0.get()) };
                    if i % 4 == 0 {
                        gmp_gosched();
                    }
                    state.fetch_sub(1, Ordering::SeqCst);
                    assert_eq!(rw.runlock(), 0);
                }
                p.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(done.done(), 0);
        }
    };
    run_mixed(goroutines, threads, goroutines, &done, body);
    // SAFETY: everyone finished.
    assert_eq!(unsafe { *data.get() }, writes.load(Ordering::SeqCst) as u64);
    assert_eq!(rw.words(), [0, 0, 0, 0], "unlocked and no queued bits left");
}

#[test]
fn readers_and_writers_exclusion() {
    let _s = serial();
    readers_writers(24, 0, 1000);
}

#[test]
fn readers_and_writers_with_threads() {
    let _s = serial();
    readers_writers(12, 3, 1000);
}

#[test]
fn stress_rwmutex() {
    let _s = serial();
    readers_writers(scale(200, 500), scale(2, 4), scale(200, 1000));
}

const POISON: u64 = 0x5a5a_a5a5_dead_beef;

/// Objects shared by two writers and some readers, each counted in `refs` while it holds
/// the lock. Whoever brings `refs` to 0 disposes of the object: a writer right after its
/// unlock; a reader (which cannot know the other readers are out) after `runlock; lock;
/// unlock`. Either way only the library's own calls can still be running on it, and
/// those must not touch it after their releasing store.
fn unlock_then_free(objects: usize, readers: usize, poison: bool) {
    struct Obj {
        rw: RwMutex,
        refs: AtomicUsize,
    }
    let wd = Watchdog::new("rwmutex unlock-then-free", Duration::from_secs(60));
    let users = readers + 2;
    let done = Arc::new(WaitGroup::with((objects * users) as i64));
    let quarantine = Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    for _ in 0..objects {
        let obj = Box::into_raw(Box::new(Obj {
            rw: RwMutex::new(),
            refs: AtomicUsize::new(users),
        })) as usize;
        for u in 0..users {
            let (d, q, p) = (done.clone(), quarantine.clone(), wd.progress.clone());
            go(move || {
                // SAFETY: alive until the last user disposes of it.
                let o = unsafe { &*(obj as *const Obj) };
                let last;
                if u < 2 {
                    assert_eq!(o.rw.lock(), 0);
                    last = o.refs.fetch_sub(1, Ordering::AcqRel) == 1;
                    gmp_gosched();
                    assert_eq!(o.rw.unlock(), 0);
                } else {
                    assert_eq!(o.rw.rlock(), 0);
                    last = o.refs.fetch_sub(1, Ordering::AcqRel) == 1;
                    if u % 2 == 0 {
                        gmp_gosched();
                    }
                    assert_eq!(o.rw.runlock(), 0);
                    if last {
                        // Wait until every other reader has released.
                        assert_eq!(o.rw.lock(), 0);
                        assert_eq!(o.rw.unlock(), 0);
                    }
                }
                if last {
                    if poison {
                        o.rw.set_words([POISON; 4]);
                        q.lock().unwrap().push(obj);
                    } else {
                        // SAFETY: the last user; nobody touches it again.
                        drop(unsafe { Box::from_raw(obj as *mut Obj) });
                    }
                }
                p.fetch_add(1, Ordering::Relaxed);
                assert_eq!(d.done(), 0);
            });
        }
    }
    assert_eq!(done.wait(), 0);
    std::thread::sleep(Duration::from_millis(20));
    for &obj in quarantine.lock().unwrap().iter() {
        // SAFETY: quarantined objects stay allocated until here.
        let o = unsafe { Box::from_raw(obj as *mut Obj) };
        assert_eq!(
            o.rw.words(),
            [POISON; 4],
            "the library wrote to an rwmutex after its last unlock"
        );
    }
}

#[test]
fn unlock_then_free_rwmutex() {
    let _s = serial();
    unlock_then_free(scale(3000, 30000), 3, false);
}

#[test]
fn unlock_then_poison_rwmutex() {
    let _s = serial();
    unlock_then_free(scale(3000, 30000), 3, true);
}

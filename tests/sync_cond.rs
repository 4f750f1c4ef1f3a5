//! gmp_cond: signal wakes one, broadcast wakes all, wait_timeout times out and relocks,
//! waiting with an unlocked mutex is refused, and a producer/consumer stress.

mod support;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::*;

struct Shared {
    mu: Mutex,
    cv: Cond,
    /// Under `mu`: how many are inside cond_wait, and tokens to consume.
    waiting: Racy<usize>,
    tokens: Racy<usize>,
    /// Returns from cond_wait (spurious ones included).
    wakeups: AtomicUsize,
    consumed: AtomicUsize,
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            mu: Mutex::new(),
            cv: Cond::new(),
            waiting: Racy::new(0),
            tokens: Racy::new(0),
            wakeups: AtomicUsize::new(0),
            consumed: AtomicUsize::new(0),
        })
    }

    /// Waits for a token.
    fn consume(&self) {
        assert_eq!(self.mu.lock(), 0);
        // SAFETY: all Racy fields are under `mu`.
        unsafe {
            *self.waiting.get() += 1;
            while *self.tokens.get() == 0 {
                assert_eq!(self.cv.wait(&self.mu), 0);
                self.wakeups.fetch_add(1, Ordering::SeqCst);
            }
            *self.tokens.get() -= 1;
            *self.waiting.get() -= 1;
        }
        self.consumed.fetch_add(1, Ordering::SeqCst);
        // cond_wait returned with the mutex held: unlocking it must succeed.
        assert_eq!(self.mu.unlock(), 0);
    }

    fn waiting(&self) -> usize {
        assert_eq!(self.mu.lock(), 0);
        // SAFETY: under `mu`.
        let n = unsafe { *self.waiting.get() };
        assert_eq!(self.mu.unlock(), 0);
        n
    }

    fn give(&self, n: usize, all: bool) {
        assert_eq!(self.mu.lock(), 0);
        // SAFETY: under `mu`.
        unsafe { *self.tokens.get() += n };
        if all {
            assert_eq!(self.cv.broadcast(), 0);
        } else {
            for _ in 0..n {
                assert_eq!(self.cv.signal(), 0);
            }
        }
        assert_eq!(self.mu.unlock(), 0);
    }
}

fn spawn_consumers(
    s: &Arc<Shared>,
    n: usize,
    thread_every: usize,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut ts = Vec::new();
    for i in 0..n {
        let s = s.clone();
        if thread_every > 0 && i % thread_every == 0 {
            ts.push(std::thread::spawn(move || s.consume()));
        } else {
            go(move || s.consume());
        }
    }
    // A waiter counts itself under the mutex, which cond_wait releases only once it
    // waits: when we see all N under the mutex, all N wait.
    wait_for("consumers to wait", || s.waiting() == n);
    ts
}

#[test]
fn signal_wakes_one() {
    let _s = serial();
    let s = Shared::new();
    let ts = spawn_consumers(&s, 10, 3);
    // Signal without a token first: exactly one waiter returns from cond_wait (and
    // waits again).
    assert_eq!(s.mu.lock(), 0);
    assert_eq!(s.cv.signal(), 0);
    assert_eq!(s.mu.unlock(), 0);
    wait_for("one wake-up", || s.wakeups.load(Ordering::SeqCst) >= 1);
    gmp_sleep(30_000_000);
    assert_eq!(
        s.wakeups.load(Ordering::SeqCst),
        1,
        "a signal woke more than one waiter"
    );
    wait_for("the woken waiter to wait again", || s.waiting() == 10);
    // One token per signal: one consumer each time.
    for k in 1..=10 {
        s.give(1, false);
        wait_for("a consumer", || s.consumed.load(Ordering::SeqCst) == k);
    }
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(s.waiting(), 0);
}

#[test]
fn broadcast_wakes_all() {
    let _s = serial();
    let s = Shared::new();
    let ts = spawn_consumers(&s, 40, 8);
    s.give(40, true);
    wait_for("all consumers", || s.consumed.load(Ordering::SeqCst) == 40);
    for t in ts {
        t.join().unwrap();
    }
    // Nobody waits: signal and broadcast are no-ops.
    assert_eq!(s.cv.signal(), 0);
    assert_eq!(s.cv.broadcast(), 0);
}

#[test]
fn wait_timeout_times_out_and_relocks() {
    let _s = serial();
    let check = |on_thread: bool| {
        let mu = Mutex::new();
        let cv = Cond::new();
        assert_eq!(mu.lock(), 0);
        let before = gmp_now();
        assert_eq!(cv.wait_timeout(&mu, 10_000_000), GMP_ETIMEDOUT);
        assert!(gmp_now() - before >= 10_000_000, "timed out early");
        // Relocked: trylock fails, unlock succeeds.
        assert_eq!(mu.trylock(), GMP_EAGAIN);
        assert_eq!(mu.unlock(), 0);
        // Timeout 0 never blocks (a try: GMP_EAGAIN) but still relocks.
        assert_eq!(mu.lock(), 0);
        assert_eq!(cv.wait_timeout(&mu, 0), GMP_EAGAIN);
        assert_eq!(mu.unlock(), 0);
        // The timed-out waiter is gone: a signal has no one to wake, and a later waiter
        // gets the next signal.
        assert_eq!(cv.signal(), 0);
        let _ = on_thread;
    };
    check(true);
    let wg = Arc::new(WaitGroup::with(4));
    for _ in 0..4 {
        let w = wg.clone();
        go(move || {
            check(false);
            assert_eq!(w.done(), 0);
        });
    }
    assert_eq!(wg.wait(), 0);
}

#[test]
fn wait_timeout_woken_before_deadline() {
    let _s = serial();
    let s = Shared::new();
    let s2 = s.clone();
    let fin = Arc::new(WaitGroup::with(1));
    let f = fin.clone();
    go(move || {
        assert_eq!(s2.mu.lock(), 0);
        // SAFETY: under mu.
        unsafe { *s2.waiting.get() += 1 };
        let rc = s2.cv.wait_timeout(&s2.mu, 60_000_000_000);
        assert_eq!(rc, 0, "a signalled timed wait returns 0");
        assert_eq!(s2.mu.unlock(), 0);
        assert_eq!(f.done(), 0);
    });
    wait_for("the waiter", || s.waiting() == 1);
    assert_eq!(s.cv.signal(), 0);
    assert_eq!(fin.wait(), 0);
}

#[test]
fn wait_with_unlocked_mutex_is_einval() {
    let _s = serial();
    let mu = Mutex::new();
    let cv = Cond::new();
    assert_eq!(cv.wait(&mu), GMP_EINVAL);
    assert_eq!(cv.wait_timeout(&mu, 1000), GMP_EINVAL);
    assert_eq!(mu.words(), [0, 0], "a refused wait does not lock the mutex");
    // SAFETY: NULLs are rejected without being touched.
    unsafe {
        assert_eq!(gmp_cond_wait(std::ptr::null_mut(), mu.ptr()), GMP_EINVAL);
        assert_eq!(gmp_cond_wait(cv.ptr(), std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_cond_signal(std::ptr::null_mut()), GMP_EINVAL);
        assert_eq!(gmp_cond_broadcast(std::ptr::null_mut()), GMP_EINVAL);
    }
}

#[test]
fn timed_waiters_mixed_with_signals() {
    let _s = serial();
    // Waiters with short timeouts come and go while signals fly: a signal must never be
    // lost on a waiter that already timed out (each consumer eventually gets a token).
    let wd = Watchdog::new("timed waiters", Duration::from_secs(60));
    let s = Shared::new();
    let n = 50;
    let done = Arc::new(WaitGroup::with(n));
    for _ in 0..n {
        let (s, d, p) = (s.clone(), done.clone(), wd.progress.clone());
        go(move || {
            assert_eq!(s.mu.lock(), 0);
            // SAFETY: under mu.
            unsafe {
                while *s.tokens.get() == 0 {
                    let rc = s.cv.wait_timeout(&s.mu, 200_000);
                    assert!(rc == 0 || rc == GMP_ETIMEDOUT, "rc {rc}");
                    p.fetch_add(1, Ordering::Relaxed);
                }
                *s.tokens.get() -= 1;
            }
            assert_eq!(s.mu.unlock(), 0);
            assert_eq!(d.done(), 0);
        });
    }
    for _ in 0..n {
        s.give(1, false);
        gmp_sleep(100_000);
    }
    assert_eq!(done.wait(), 0);
}

#[test]
fn producer_consumer_stress() {
    let _s = serial();
    let wd = Watchdog::new("cond stress", Duration::from_secs(60));
    struct Q {
        mu: Mutex,
        not_empty: Cond,
        not_full: Cond,
        items: Racy<VecDeque<u64>>,
    }
    let q = Arc::new(Q {
        mu: Mutex::new(),
        not_empty: Cond::new(),
        not_full: Cond::new(),
        items: Racy::new(VecDeque::new()),
    });
    const CAP: usize = 8;
    let producers = 8;
    let consumers = 8;
    let per = scale(2000, 20000);
    let sum = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(WaitGroup::with((producers + consumers) as i64));
    let mut ts = Mixed::default();
    for p in 0..producers {
        let (q, d) = (q.clone(), done.clone());
        let body = move || {
            for i in 0..per {
                assert_eq!(q.mu.lock(), 0);
                // SAFETY: under mu.
                unsafe {
                    while q.items.get().len() == CAP {
                        assert_eq!(q.not_full.wait(&q.mu), 0);
                    }
                    q.items.get().push_back((p * per + i) as u64);
                }
                assert_eq!(q.not_empty.signal(), 0);
                assert_eq!(q.mu.unlock(), 0);
            }
            assert_eq!(d.done(), 0);
        };
        ts.start(p == 0, body);
    }
    for c in 0..consumers {
        let (q, d, s, pr) = (q.clone(), done.clone(), sum.clone(), wd.progress.clone());
        let body = move || {
            for _ in 0..per {
                assert_eq!(q.mu.lock(), 0);
                // SAFETY: under mu.
                let v = unsafe {
                    while q.items.get().is_empty() {
                        assert_eq!(q.not_empty.wait(&q.mu), 0);
                    }
                    q.items.get().pop_front().unwrap()
                };
                assert_eq!(q.not_full.signal(), 0);
                assert_eq!(q.mu.unlock(), 0);
                s.fetch_add(v as usize, Ordering::Relaxed);
                pr.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(d.done(), 0);
        };
        ts.start(c == 0, body);
    }
    ts.wait(&done);
    let n = producers * per;
    assert_eq!(sum.load(Ordering::SeqCst), n * (n - 1) / 2);
}

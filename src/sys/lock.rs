//! A small mutex for the runtime's short critical sections (channels), after Go's
//! `lock_futex.go`: spin a little with PAUSE, then yield, then sleep on a futex. Unlike
//! `std::sync::Mutex` (which spins 100 rounds then sleeps), a waiter looks at the word
//! only every few microseconds, so it does not steal the line from a holder that is
//! busy, and yields once before it sleeps, which on a machine with few cores lets a
//! preempted holder finish; its unlock is one swap that wakes a sleeper only if one
//! registered.
//!
//! Under `cfg(loom)` the same code runs on loom's atomics, with the futex replaced by a
//! loom mutex and condition variable that keep its contract (sleep only while the word
//! still holds the expected value, checked atomically with respect to wakes), one
//! spinning round, and no-op pauses and yield; `loom_tests` below checks mutual
//! exclusion and that no wake-up is lost (a lost one leaves a waiter asleep forever:
//! loom reports a deadlock).

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;

#[cfg(not(loom))]
use std::sync::atomic::AtomicU32 as State;

/// Spinning rounds before the passive round, and PAUSEs between two looks at the word.
#[cfg(not(loom))]
const SPIN_ROUNDS: u32 = 3;
#[cfg(not(loom))]
const SPIN_PAUSES: u32 = 200;
#[cfg(loom)]
const SPIN_ROUNDS: u32 = 1;
#[cfg(loom)]
const SPIN_PAUSES: u32 = 1;
const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
/// Locked, and someone may sleep on the futex.
const SLEEPING: u32 = 2;

pub(crate) struct Lock<T> {
    raw: RawLock,
    value: UnsafeCell<T>,
}

/// The lock itself, apart from the value it guards: what a goroutine's park commit
/// releases without knowing `T` ([`Guard::into_raw`], `sched::g::gopark_unlock`).
pub(crate) struct RawLock {
    state: State,
    /// Its rank (`sys/lockrank.rs`), checked at each acquisition in debug builds.
    #[cfg(debug_assertions)]
    rank: super::lockrank::Rank,
}

// SAFETY: the lock serializes all access to `value`.
unsafe impl<T: Send> Sync for Lock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Lock<T> {}

/// One pointer (`repr(transparent)`): the channel calls pass it to their `extern "C"`
/// continuations (ffi/chan.rs).
#[repr(transparent)]
pub(crate) struct Guard<'a, T> {
    lock: &'a Lock<T>,
}

impl<T> Lock<T> {
    #[cfg(not(loom))]
    #[cfg_attr(not(debug_assertions), allow(unused_variables))]
    pub(crate) const fn new(rank: super::lockrank::Rank, value: T) -> Self {
        Lock {
            raw: RawLock {
                state: State::new(UNLOCKED),
                #[cfg(debug_assertions)]
                rank,
            },
            value: UnsafeCell::new(value),
        }
    }

    /// Loom's atomics cannot be built in a `const fn`.
    #[cfg(loom)]
    #[cfg_attr(not(debug_assertions), allow(unused_variables))]
    pub(crate) fn new(rank: super::lockrank::Rank, value: T) -> Self {
        Lock {
            raw: RawLock {
                state: State::new(UNLOCKED),
                #[cfg(debug_assertions)]
                rank,
            },
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        self.raw.lock();
        Guard { lock: self }
    }

    /// The lock if it is free now: one compare-exchange (which may fail spuriously where
    /// the hardware allows: a caller's slow path then takes the lock), no spinning, no
    /// call (a caller that must keep its frame free of calls takes its slow path on None).
    #[inline(always)]
    pub(crate) fn try_lock(&self) -> Option<Guard<'_, T>> {
        if !self.raw.try_acquire() {
            return None;
        }
        #[cfg(debug_assertions)]
        super::lockrank::acquire(self.raw.rank);
        Some(Guard { lock: self })
    }
}

impl RawLock {
    #[inline]
    fn lock(&self) {
        #[cfg(debug_assertions)]
        super::lockrank::acquire(self.rank);
        if !self.try_acquire() {
            self.lock_slow();
        }
    }

    /// One attempt at the free lock: `lock`'s fast path, and all of `Lock::try_lock`.
    #[inline(always)]
    fn try_acquire(&self) -> bool {
        self.state
            .compare_exchange_weak(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[cold]
    fn lock_slow(&self) {
        // Go (lock_futex.go): 4 rounds of active spinning (30 PAUSEs), 1 passive
        // (osyield), then sleep. We look at the word far less often: every look pulls the
        // line away from the holder, and between two M's hammering one channel the holder
        // gets most done while the other keeps off the line. Measured on 2 cores
        // (bench/c/buffered.c, 4x4 on 2 P): a look after every PAUSE gave 3.3M msgs/s,
        // every 30 PAUSEs 15M, every 200 PAUSEs (about 2 us here) 27M; 1 P does 32M.
        for round in 0..=SPIN_ROUNDS {
            let s = self.state.load(Ordering::Relaxed);
            if s == UNLOCKED
                && self
                    .state
                    .compare_exchange_weak(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
            if round == SPIN_ROUNDS {
                os::yield_now();
            } else {
                for _ in 0..SPIN_PAUSES {
                    os::spin_loop();
                }
            }
        }
        loop {
            if self.state.swap(SLEEPING, Ordering::Acquire) == UNLOCKED {
                return;
            }
            os::futex_wait(&self.state, SLEEPING);
        }
    }

    /// Releases the lock (and, in debug builds, its rank on this thread).
    ///
    /// # Safety
    /// The lock is held, by a guard given up with [`Guard::into_raw`] (or being
    /// dropped), on this thread as far as the rank check goes.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        // SAFETY: the caller's contract.
        if !unsafe { self.unlock_no_wake() } {
            self.wake_sleeper();
        }
    }

    /// [`unlock`](Self::unlock) without its wake-up call: false when a waiter may sleep
    /// on the lock, and the caller must then call [`wake_sleeper`](Self::wake_sleeper)
    /// (so that a caller can make that call a tail call).
    ///
    /// # Safety
    /// As for `unlock`.
    #[inline(always)]
    pub(crate) unsafe fn unlock_no_wake(&self) -> bool {
        let sleeper = self.state.swap(UNLOCKED, Ordering::Release) == SLEEPING;
        #[cfg(debug_assertions)]
        super::lockrank::release(self.rank);
        !sleeper
    }

    /// Wakes one waiter asleep on the lock, after `unlock_no_wake` returned false.
    #[inline]
    pub(crate) fn wake_sleeper(&self) {
        os::futex_wake(&self.state);
    }
}

/// What the lock asks of the system: the real calls.
#[cfg(not(loom))]
mod os {
    use super::super::futex;
    use super::State;

    #[inline]
    pub(super) fn futex_wait(state: &State, expected: u32) {
        futex::wait(state, expected, -1);
    }

    #[inline]
    pub(super) fn futex_wake(state: &State) {
        futex::wake(state, 1);
    }

    #[inline]
    pub(super) fn yield_now() {
        std::thread::yield_now();
    }

    #[inline]
    pub(super) fn spin_loop() {
        std::hint::spin_loop();
    }
}

#[cfg(loom)]
use os::State;

/// What the lock asks of the system, under loom: the word is a loom atomic, and the
/// futex a loom mutex + condition variable. `futex_wait` compares the word under the
/// mutex and sleeps on the condition variable (releasing the mutex atomically);
/// `futex_wake` notifies under the mutex. A waker changes the word before it takes the
/// mutex, so a waiter either sees the change or is already asleep when the notify comes:
/// the kernel's guarantee, and nothing stronger (the word's own accesses keep the
/// lock's orderings; the model's mutex adds order only between a wait and a wake).
#[cfg(loom)]
mod os {
    use loom::sync::atomic::AtomicU32;
    use loom::sync::{Condvar, Mutex};
    use std::sync::atomic::Ordering;

    pub(crate) struct State {
        word: AtomicU32,
        futex: Mutex<()>,
        sleepers: Condvar,
    }

    impl State {
        pub(super) fn new(v: u32) -> Self {
            State {
                word: AtomicU32::new(v),
                futex: Mutex::new(()),
                sleepers: Condvar::new(),
            }
        }
    }

    impl std::ops::Deref for State {
        type Target = AtomicU32;
        fn deref(&self) -> &AtomicU32 {
            &self.word
        }
    }

    pub(super) fn futex_wait(state: &State, expected: u32) {
        let g = state.futex.lock().unwrap();
        if state.word.load(Ordering::Relaxed) == expected {
            drop(state.sleepers.wait(g).unwrap());
        }
    }

    pub(super) fn futex_wake(state: &State) {
        let _g = state.futex.lock().unwrap();
        state.sleepers.notify_one();
    }

    /// Nothing: loom's `yield_now` runs the other threads first, so a waiter that
    /// yields while the holder holds the lock would never reach the futex sleep (the
    /// 2-thread model would not cover it). Every atomic step is a preemption point
    /// anyway.
    pub(super) fn yield_now() {}

    pub(super) fn spin_loop() {}
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the lock, exclusively.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<'a, T> Guard<'a, T> {
    /// Gives the guard up without unlocking: the caller unlocks the returned lock later
    /// (`RawLock::unlock`), as a goroutine's park commit does.
    #[inline]
    pub(crate) fn into_raw(self) -> &'a RawLock {
        let raw = &self.lock.raw;
        std::mem::forget(self);
        raw
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock.
        unsafe { self.lock.raw.unlock() };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    #[test]
    fn counts() {
        let l = std::sync::Arc::new(Lock::new(crate::sys::lockrank::Rank::Test, 0u64));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        *l.lock() += 1;
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*l.lock(), 400_000);
    }
}

/// Loom models of the lock (`RUSTFLAGS="--cfg loom" cargo test --release --lib
/// sys::lock::loom_tests`): the real `lock`/`lock_slow`/`unlock` above on loom's atomics
/// and futex stand-in. Each thread adds to a loom `UnsafeCell` under the lock: loom
/// reports any two accesses not ordered by the lock (mutual exclusion, and the
/// Acquire/Release hand-off of the data), and a wake-up that is lost leaves a thread
/// asleep on the condition variable forever, which loom reports as a deadlock.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::Lock;
    use crate::loom::model;
    use crate::sys::lockrank::Rank;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    fn add(l: &Lock<UnsafeCell<u64>>, n: u64) {
        let g = l.lock();
        // SAFETY: under the lock (loom checks that it really excludes the others).
        g.with_mut(|p| unsafe { *p += n });
    }

    fn run(threads: u64) {
        let l = Arc::new(Lock::new(Rank::Test, UnsafeCell::new(0u64)));
        let hs: Vec<_> = (1..threads)
            .map(|i| {
                let l = l.clone();
                thread::spawn(move || add(&l, 1 << i))
            })
            .collect();
        add(&l, 1);
        for h in hs {
            h.join().unwrap();
        }
        let g = l.lock();
        // SAFETY: under the lock.
        assert_eq!(g.with(|p| unsafe { *p }), (1 << threads) - 1);
    }

    /// Two threads: the holder's unlock races the waiter's spin, swap to SLEEPING and
    /// futex sleep at every point.
    #[test]
    fn two_threads() {
        model("sys::Lock, 2 threads", || run(2));
    }

    /// Three threads: two waiters, one of which may find SLEEPING set by the other (the
    /// swap-to-SLEEPING re-arm after a wake), so each unlock must wake the next sleeper.
    #[test]
    fn three_threads() {
        model("sys::Lock, 3 threads", || run(3));
    }

    /// The channel calls' first step (chan.rs `Chan::send_fast`): `try_lock`, and on
    /// success `unlock_no_wake` with `wake_sleeper` when it says so, against a thread
    /// that takes the lock the usual way (and may sleep on it). Excludes, and loses no
    /// wake-up: a sleeper left asleep is a deadlock to loom.
    #[test]
    fn try_lock_and_unlock_no_wake() {
        model("sys::Lock, try_lock + unlock_no_wake", || {
            let l = Arc::new(Lock::new(Rank::Test, UnsafeCell::new(0u64)));
            let l2 = l.clone();
            let h = thread::spawn(move || add(&l2, 2));
            let added = match l.try_lock() {
                Some(g) => {
                    // SAFETY: under the lock.
                    g.with_mut(|p| unsafe { *p += 1 });
                    let raw = g.into_raw();
                    // SAFETY: the guard held the lock and was given up just above.
                    if !unsafe { raw.unlock_no_wake() } {
                        raw.wake_sleeper();
                    }
                    1
                }
                None => 0,
            };
            h.join().unwrap();
            let g = l.lock();
            // SAFETY: under the lock.
            assert_eq!(g.with(|p| unsafe { *p }), 2 + added);
        });
    }
}

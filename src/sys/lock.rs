//! A small mutex for the runtime's short critical sections (channels), after Go's
//! `lock_futex.go`: spin a little with PAUSE, then yield, then sleep on a futex. Unlike
//! `std::sync::Mutex` (which spins 100 rounds then sleeps), a waiter looks at the word
//! only every few microseconds, so it does not steal the line from a holder that is
//! busy, and yields once before it sleeps, which on a machine with few cores lets a
//! preempted holder finish; its unlock is one swap that wakes a sleeper only if one
//! registered.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};

use super::futex;

/// Spinning rounds before the passive round, and PAUSEs between two looks at the word.
const SPIN_ROUNDS: u32 = 3;
const SPIN_PAUSES: u32 = 200;
const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
/// Locked, and someone may sleep on the futex.
const SLEEPING: u32 = 2;

pub(crate) struct Lock<T> {
    state: AtomicU32,
    /// Its rank (`sys/lockrank.rs`), checked at each acquisition in debug builds.
    #[cfg(debug_assertions)]
    rank: super::lockrank::Rank,
    value: UnsafeCell<T>,
}

// SAFETY: the lock serializes all access to `value`.
unsafe impl<T: Send> Sync for Lock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Lock<T> {}

pub(crate) struct Guard<'a, T> {
    lock: &'a Lock<T>,
}

impl<T> Lock<T> {
    #[cfg_attr(not(debug_assertions), allow(unused_variables))]
    pub(crate) const fn new(rank: super::lockrank::Rank, value: T) -> Self {
        Lock {
            state: AtomicU32::new(UNLOCKED),
            #[cfg(debug_assertions)]
            rank,
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        #[cfg(debug_assertions)]
        super::lockrank::acquire(self.rank);
        if self
            .state
            .compare_exchange_weak(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
        Guard { lock: self }
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
                std::thread::yield_now();
            } else {
                for _ in 0..SPIN_PAUSES {
                    std::hint::spin_loop();
                }
            }
        }
        loop {
            if self.state.swap(SLEEPING, Ordering::Acquire) == UNLOCKED {
                return;
            }
            futex::wait(&self.state, SLEEPING, -1);
        }
    }

    fn unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == SLEEPING {
            futex::wake(&self.state, 1);
        }
    }
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

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock();
        #[cfg(debug_assertions)]
        super::lockrank::release(self.lock.rank);
    }
}

#[cfg(test)]
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

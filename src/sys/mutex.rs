//! `Mutex` and `RwLock` that ignore poisoning: thin wrappers over `std::sync`'s whose
//! `lock`/`read`/`write` return the guard. A panic while one is held is not something
//! the runtime recovers from by refusing the lock (a goroutine's panic is fatal, an FFI
//! call's panic is caught at the boundary and the data stays consistent by
//! construction), so every caller used to write `.lock().unwrap_or_else(|e|
//! e.into_inner())`; this is that, once.
//!
//! Each lock has a rank (`sys/lockrank.rs`): in debug builds every acquisition is checked
//! against the locks the thread holds, and the guard is a wrapper that forgets the rank
//! when dropped. In release builds the rank is not stored and the guards are
//! `std::sync`'s own.

use std::sync::{PoisonError, TryLockError};

pub(crate) use super::lockrank::Rank;

/// A mutex whose `lock` ignores poisoning.
pub(crate) struct Mutex<T: ?Sized> {
    #[cfg(debug_assertions)]
    rank: Rank,
    inner: std::sync::Mutex<T>,
}

#[cfg(not(debug_assertions))]
pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

/// The guard of a ranked lock (debug builds): forgets the rank when dropped.
#[cfg(debug_assertions)]
pub(crate) struct MutexGuard<'a, T: ?Sized> {
    inner: std::sync::MutexGuard<'a, T>,
    /// None for a `try_lock` guard (not ranked).
    rank: Option<Rank>,
}

#[cfg(debug_assertions)]
impl<T: ?Sized> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

#[cfg(debug_assertions)]
impl<T: ?Sized> std::ops::DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

#[cfg(debug_assertions)]
impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(r) = self.rank {
            super::lockrank::release(r);
        }
    }
}

impl<T> Mutex<T> {
    /// A lock of rank `rank` (`sys/lockrank.rs`).
    #[cfg_attr(not(debug_assertions), allow(unused_variables))]
    pub(crate) const fn new(rank: Rank, t: T) -> Self {
        Mutex {
            #[cfg(debug_assertions)]
            rank,
            inner: std::sync::Mutex::new(t),
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, blocking the thread; a poisoned lock is taken as it is.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(debug_assertions)]
        super::lockrank::acquire(self.rank);
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        #[cfg(debug_assertions)]
        let g = MutexGuard {
            inner: g,
            rank: Some(self.rank),
        };
        g
    }

    /// Locks if free; None if another thread holds it. Not rank-checked (it cannot
    /// deadlock, and a signal handler calls it).
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let g = match self.inner.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        #[cfg(debug_assertions)]
        let g = MutexGuard {
            inner: g,
            rank: None,
        };
        Some(g)
    }
}

/// A reader-writer lock whose `read` and `write` ignore poisoning.
pub(crate) struct RwLock<T: ?Sized> {
    #[cfg(debug_assertions)]
    rank: Rank,
    inner: std::sync::RwLock<T>,
}

/// The guards of a ranked `RwLock` (debug builds): forget the rank when dropped.
#[cfg(debug_assertions)]
pub(crate) struct Ranked<G> {
    inner: G,
    rank: Rank,
}

#[cfg(debug_assertions)]
impl<G: std::ops::Deref> std::ops::Deref for Ranked<G> {
    type Target = G::Target;
    #[inline]
    fn deref(&self) -> &G::Target {
        &self.inner
    }
}

#[cfg(debug_assertions)]
impl<G: std::ops::DerefMut> std::ops::DerefMut for Ranked<G> {
    #[inline]
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.inner
    }
}

#[cfg(debug_assertions)]
impl<G> Drop for Ranked<G> {
    fn drop(&mut self) {
        super::lockrank::release(self.rank);
    }
}

#[cfg(debug_assertions)]
pub(crate) type RwLockReadGuard<'a, T> = Ranked<std::sync::RwLockReadGuard<'a, T>>;
#[cfg(debug_assertions)]
pub(crate) type RwLockWriteGuard<'a, T> = Ranked<std::sync::RwLockWriteGuard<'a, T>>;
#[cfg(not(debug_assertions))]
pub(crate) type RwLockReadGuard<'a, T> = std::sync::RwLockReadGuard<'a, T>;
#[cfg(not(debug_assertions))]
pub(crate) type RwLockWriteGuard<'a, T> = std::sync::RwLockWriteGuard<'a, T>;

impl<T> RwLock<T> {
    /// A lock of rank `rank` (`sys/lockrank.rs`).
    #[cfg_attr(not(debug_assertions), allow(unused_variables))]
    pub(crate) const fn new(rank: Rank, t: T) -> Self {
        RwLock {
            #[cfg(debug_assertions)]
            rank,
            inner: std::sync::RwLock::new(t),
        }
    }
}

impl<T: ?Sized> RwLock<T> {
    #[inline]
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        #[cfg(debug_assertions)]
        super::lockrank::acquire(self.rank);
        let g = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        #[cfg(debug_assertions)]
        let g = Ranked {
            inner: g,
            rank: self.rank,
        };
        g
    }

    #[inline]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        #[cfg(debug_assertions)]
        super::lockrank::acquire(self.rank);
        let g = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        #[cfg(debug_assertions)]
        let g = Ranked {
            inner: g,
            rank: self.rank,
        };
        g
    }
}

//! The C sync types in an `UnsafeCell` (the library mutates them through the pointer),
//! shareable across goroutines and threads. Every call returns the library's code
//! (`#[must_use]`: a test checks it).

use std::cell::UnsafeCell;

use gmp::ffi::sync::*;
use gmp::ffi::types::*;

macro_rules! wrapper {
    ($name:ident, $c:ident, $n:expr) => {
        #[repr(transparent)]
        pub struct $name(UnsafeCell<$c>);
        // SAFETY: the library accesses the struct only atomically; sharing it is the point.
        unsafe impl Sync for $name {}
        // SAFETY: as above.
        unsafe impl Send for $name {}
        impl $name {
            /// All-zero: the ready state.
            pub fn new() -> Self {
                $name(UnsafeCell::new($c { _opaque: [0; $n] }))
            }
            pub fn ptr(&self) -> *mut $c {
                self.0.get()
            }
            /// The raw state words (for checking that nothing wrote to a dead object).
            pub fn words(&self) -> [u64; $n] {
                // SAFETY: a plain read of our own memory; tests call it when quiescent.
                unsafe { std::ptr::read_volatile(self.0.get()) }._opaque
            }
            pub fn set_words(&self, w: [u64; $n]) {
                // SAFETY: as above.
                unsafe { std::ptr::write_volatile(self.0.get(), $c { _opaque: w }) }
            }
        }
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

wrapper!(Mutex, gmp_mutex, 2);
wrapper!(RwMutex, gmp_rwmutex, 4);
wrapper!(WaitGroup, gmp_waitgroup, 4);
wrapper!(Once, gmp_once, 2);
wrapper!(Cond, gmp_cond, 4);

impl Mutex {
    #[must_use]
    pub fn lock(&self) -> i32 {
        // SAFETY: a live mutex.
        unsafe { gmp_mutex_lock(self.ptr()) }
    }
    #[must_use]
    pub fn trylock(&self) -> i32 {
        // SAFETY: a live mutex.
        unsafe { gmp_mutex_trylock(self.ptr()) }
    }
    #[must_use]
    pub fn unlock(&self) -> i32 {
        // SAFETY: a live mutex.
        unsafe { gmp_mutex_unlock(self.ptr()) }
    }
}

impl RwMutex {
    #[must_use]
    pub fn rlock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_rlock(self.ptr()) }
    }
    #[must_use]
    pub fn tryrlock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_tryrlock(self.ptr()) }
    }
    #[must_use]
    pub fn runlock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_runlock(self.ptr()) }
    }
    #[must_use]
    pub fn lock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_lock(self.ptr()) }
    }
    #[must_use]
    pub fn trylock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_trylock(self.ptr()) }
    }
    #[must_use]
    pub fn unlock(&self) -> i32 {
        // SAFETY: a live rwmutex.
        unsafe { gmp_rwmutex_unlock(self.ptr()) }
    }
}

impl WaitGroup {
    /// A waitgroup with counter `n`.
    pub fn with(n: i64) -> Self {
        let w = WaitGroup::new();
        if n != 0 {
            assert_eq!(w.add(n), 0);
        }
        w
    }
    #[must_use]
    pub fn add(&self, n: i64) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_add(self.ptr(), n) }
    }
    #[must_use]
    pub fn done(&self) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_done(self.ptr()) }
    }
    #[must_use]
    pub fn wait(&self) -> i32 {
        // SAFETY: a live waitgroup.
        unsafe { gmp_waitgroup_wait(self.ptr()) }
    }
}

impl Cond {
    #[must_use]
    pub fn wait(&self, mu: &Mutex) -> i32 {
        // SAFETY: live objects.
        unsafe { gmp_cond_wait(self.ptr(), mu.ptr()) }
    }
    #[must_use]
    pub fn wait_timeout(&self, mu: &Mutex, ns: i64) -> i32 {
        // SAFETY: live objects.
        unsafe { gmp_cond_wait_timeout(self.ptr(), mu.ptr(), ns) }
    }
    #[must_use]
    pub fn signal(&self) -> i32 {
        // SAFETY: a live cond.
        unsafe { gmp_cond_signal(self.ptr()) }
    }
    #[must_use]
    pub fn broadcast(&self) -> i32 {
        // SAFETY: a live cond.
        unsafe { gmp_cond_broadcast(self.ptr()) }
    }
}

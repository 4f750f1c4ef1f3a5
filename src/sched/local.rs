//! Goroutine-local storage (`gmp_local_*`): pthread keys, per goroutine.
//!
//! Why keys and not one `void*` slot per goroutine (Go's `g` has fields, not a slot
//! API): a slot has one owner per program, while a C program links several libraries
//! that each want their own per-goroutine state (a logger's context, an allocator's
//! arena, a request id); keys let each create its own, and destructors let each clean
//! up when a goroutine ends, which is what C programmers know from
//! `pthread_key_create`/`pthread_getspecific`.
//!
//! The model, as pthread's: a process-wide table of up to [`KEYS_MAX`] keys, each with
//! an optional destructor; every goroutine has its own value per key (NULL until set).
//! When a goroutine's function returns, each non-NULL value whose key has a destructor
//! is set to NULL and the destructor called with it, on the goroutine, in rounds until
//! none is left set (at most [`DESTRUCTOR_ROUNDS`], `PTHREAD_DESTRUCTOR_ITERATIONS`).
//! On a thread that is not running a goroutine (main, a thread of the program's own)
//! the same calls use a table of that thread, cleaned up the same way at its exit, so a
//! library can call them without knowing where it runs.
//!
//! Differences from pthread: a key carries a generation, so a deleted key reads NULL and
//! a key recreated in the same table slot never sees the values of its predecessor.
//!
//! Why this exists: a goroutine may resume on another OS thread after any switch point,
//! and compilers cache a `thread_local`'s address within a function (README
//! "Thread-local storage and goroutines").
//!
//! Ownership: a goroutine's values live in its `GInner` (touched by that goroutine
//! only); the key table is atomics (read lock-free by get/set) plus a mutex for create
//! and delete.

use crate::sys::mutex::{Mutex, Rank};
use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::error::{self, Code};

/// How many keys may exist at once (pthread's `PTHREAD_KEYS_MAX` is 1024 too).
pub(crate) const KEYS_MAX: usize = 1024;
/// Destructor rounds at goroutine (or thread) exit.
pub(crate) const DESTRUCTOR_ROUNDS: usize = 4;

const INDEX_BITS: u32 = 11;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;

pub(crate) type Dtor = unsafe extern "C" fn(*mut c_void);

/// `LIVE[i]`: the key that owns slot i, or 0.
static LIVE: [AtomicU32; KEYS_MAX] = [const { AtomicU32::new(0) }; KEYS_MAX];
/// `DTORS[i]`: slot i's destructor (a function address) or 0.
static DTORS: [AtomicUsize; KEYS_MAX] = [const { AtomicUsize::new(0) }; KEYS_MAX];
/// Generations per slot; create and delete hold it.
static GENS: Mutex<[u32; KEYS_MAX]> = Mutex::new(Rank::LocalKeys, [0; KEYS_MAX]);

/// The slot of a key that is live now.
#[inline]
fn index(key: u32) -> Option<usize> {
    let i = (key & INDEX_MASK) as usize;
    if i == 0 || i > KEYS_MAX {
        return None;
    }
    (LIVE[i - 1].load(Ordering::Acquire) == key).then_some(i - 1)
}

/// `gmp_local_key_create`.
pub(crate) fn key_create(dtor: Option<Dtor>) -> Result<u32, Code> {
    let mut gens = GENS.lock();
    let Some(i) = (0..KEYS_MAX).find(|&i| LIVE[i].load(Ordering::Relaxed) == 0) else {
        return Err(error::EAGAIN);
    };
    gens[i] = gens[i].wrapping_add(1) & (u32::MAX >> INDEX_BITS);
    if gens[i] == 0 {
        gens[i] = 1;
    }
    let key = (gens[i] << INDEX_BITS) | (i as u32 + 1);
    DTORS[i].store(dtor.map_or(0, |f| f as usize), Ordering::Relaxed);
    LIVE[i].store(key, Ordering::Release);
    Ok(key)
}

/// `gmp_local_key_delete`: values set under the key stay where they are (their
/// destructor is not run, as pthread's), and read as NULL from now on.
pub(crate) fn key_delete(key: u32) -> Code {
    let _gens = GENS.lock();
    let Some(i) = index(key) else {
        return error::EINVAL;
    };
    LIVE[i].store(0, Ordering::Release);
    DTORS[i].store(0, Ordering::Relaxed);
    0
}

/// One goroutine's (or foreign thread's) values: slot i holds (key, value).
#[derive(Default)]
pub(crate) struct Locals {
    slots: Vec<(u32, *mut c_void)>,
}

impl Locals {
    fn get(&self, i: usize, key: u32) -> *mut c_void {
        match self.slots.get(i) {
            Some(&(k, v)) if k == key => v,
            _ => std::ptr::null_mut(),
        }
    }

    fn set(&mut self, i: usize, key: u32, v: *mut c_void) {
        if self.slots.len() <= i {
            self.slots.resize(i + 1, (0, std::ptr::null_mut()));
        }
        self.slots[i] = (key, v);
    }

    /// Takes out one value that a destructor is due for: (destructor, value).
    fn take_due(&mut self) -> Option<(Dtor, *mut c_void)> {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let (k, v) = *slot;
            if v.is_null() || k == 0 {
                continue;
            }
            if LIVE[i].load(Ordering::Acquire) != k {
                *slot = (0, std::ptr::null_mut());
                continue;
            }
            let d = DTORS[i].load(Ordering::Relaxed);
            if d == 0 {
                continue;
            }
            *slot = (k, std::ptr::null_mut());
            // SAFETY: DTORS holds only addresses of `Dtor`s stored by key_create.
            return Some((unsafe { std::mem::transmute::<usize, Dtor>(d) }, v));
        }
        None
    }
}

/// Runs the due destructors of the values `with` reaches, pthread's way: rounds until
/// none is set (a destructor may set values again), at most DESTRUCTOR_ROUNDS.
/// `with` is called anew each time, never across a destructor call.
fn run_destructors(mut with: impl FnMut(&mut dyn FnMut(&mut Locals))) {
    for _ in 0..DESTRUCTOR_ROUNDS {
        let mut ran = false;
        loop {
            let mut due = None;
            with(&mut |l: &mut Locals| due = l.take_due());
            let Some((d, v)) = due else { break };
            ran = true;
            // SAFETY: the program's destructor with the value it stored under its key.
            crate::sys::sanitizer::program(|| unsafe { d(v) });
        }
        if !ran {
            break;
        }
    }
}

/// Values of threads that are not running a goroutine.
struct ThreadLocals(RefCell<Locals>);

impl Drop for ThreadLocals {
    fn drop(&mut self) {
        let cell = &self.0;
        run_destructors(|f| f(&mut cell.borrow_mut()));
    }
}

thread_local! {
    static FOREIGN: ThreadLocals = ThreadLocals(RefCell::new(Locals::default()));
}

/// `gmp_local_get`: the caller's value for `key`, NULL if unset or not a live key.
pub(crate) fn get(key: u32) -> *mut c_void {
    let Some(i) = index(key) else {
        return std::ptr::null_mut();
    };
    match super::g::current() {
        // SAFETY: the running goroutine owns its inner state.
        Some(g) => match unsafe { &g.inner().locals } {
            Some(l) => l.get(i, key),
            None => std::ptr::null_mut(),
        },
        None => FOREIGN
            .try_with(|t| t.0.borrow().get(i, key))
            .unwrap_or(std::ptr::null_mut()),
    }
}

/// `gmp_local_set`.
pub(crate) fn set(key: u32, v: *mut c_void) -> Code {
    let Some(i) = index(key) else {
        return error::EINVAL;
    };
    match super::g::current() {
        Some(g) => {
            // SAFETY: the running goroutine owns its inner state.
            let inner = unsafe { g.inner() };
            inner
                .locals
                .get_or_insert_with(Default::default)
                .set(i, key, v);
            0
        }
        None => FOREIGN
            .try_with(|t| t.0.borrow_mut().set(i, key, v))
            .map_or(error::EINVAL, |_| 0),
    }
}

/// A goroutine's function returned: run its destructors, then drop its values (the G
/// is reused).
pub(crate) fn goroutine_exit(g: super::g::GRef) {
    run_destructors(|f| {
        // SAFETY: the ending goroutine owns its inner state; no borrow is held across a
        // destructor call (run_destructors calls us anew each time).
        if let Some(l) = unsafe { g.inner() }.locals.as_mut() {
            f(l);
        }
    });
    // SAFETY: as above.
    unsafe { g.inner() }.locals = None;
}

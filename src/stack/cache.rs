//! The per-P stack cache (Go's `stackcache`: `stackcacherefill`/`stackcacherelease` in
//! `runtime/stack.go`): default-size stacks used by the P's holder without a lock,
//! refilled from and drained to the global free list in batches (see `mod.rs`, "Caches").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A per-P cache of default-size stacks (Go's `p.mcache.stackcache`). Used by its owner
/// only, without a lock; dropping it returns its stacks to the global list.
pub(crate) struct StackCache {
    /// Rounded stack size, or 0 if the requested default was too large.
    pub(super) size: usize,
    requested: usize,
    pub(super) stacks: Vec<GStack>,
    /// Mirror of `stacks.len()` for [`stats`] (plain stores by the owner).
    count: Arc<AtomicUsize>,
}

impl StackCache {
    /// A cache of stacks of `default_size` bytes (rounded as by [`round_size`]; a size
    /// past [`MAX_STACK_SIZE`] makes every `get` fail with [`StackError::TooLarge`]).
    pub(crate) fn new(default_size: usize) -> StackCache {
        let count = Arc::new(AtomicUsize::new(0));
        global().caches.push(Arc::clone(&count));
        StackCache {
            size: round_size(default_size).unwrap_or(0),
            requested: default_size,
            stacks: Vec::with_capacity(CACHE_MAX + 1),
            count,
        }
    }

    /// A stack of the cache's size: from the cache, else after a refill of up to 16.
    /// Inline: a cached stack that was handed out before (the common case) is a pop and
    /// one store; a refill, or a stack that needs its guard, goes out of line.
    #[inline]
    pub(crate) fn get(&mut self) -> Result<GStack, StackError> {
        match self.stacks.pop() {
            Some(s) if s.ready() => {
                self.count.store(self.stacks.len(), Ordering::Relaxed);
                Ok(s)
            }
            s => self.get_slow(s),
        }
    }

    /// A cached stack that is ready as it is (no guard to install), or None: the
    /// inline part of [`StackCache::get`], for a caller that has its own slow path.
    #[inline]
    pub(crate) fn pop_ready(&mut self) -> Option<GStack> {
        match self.stacks.last() {
            Some(s) if s.ready() => {
                let s = self.stacks.pop();
                self.count.store(self.stacks.len(), Ordering::Relaxed);
                s
            }
            _ => None,
        }
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&mut self, s: Option<GStack>) -> Result<GStack, StackError> {
        let mut s = match s {
            Some(s) => s,
            None => self.refill()?,
        };
        if let Err(e) = s.prepare() {
            self.stacks.push(s);
            self.count.store(self.stacks.len(), Ordering::Relaxed);
            return Err(e);
        }
        self.count.store(self.stacks.len(), Ordering::Relaxed);
        Ok(s)
    }

    /// Takes back a stack. A stack of another size goes to the global list; past 64
    /// cached stacks, the oldest half goes there too (Go's `stackcacherelease`).
    #[inline]
    pub(crate) fn put(&mut self, s: GStack) {
        if s.size != self.size || self.stacks.len() >= CACHE_MAX {
            self.put_slow(s);
            return;
        }
        self.stacks.push(s);
        self.count.store(self.stacks.len(), Ordering::Relaxed);
    }

    #[cold]
    #[inline(never)]
    fn put_slow(&mut self, s: GStack) {
        if s.size != self.size {
            free(s);
            return;
        }
        self.stacks.push(s);
        if self.stacks.len() > CACHE_MAX {
            self.release(CACHE_MAX / 2);
        }
        self.count.store(self.stacks.len(), Ordering::Relaxed);
    }

    /// Returns every cached stack to the global list (e.g. when a P is destroyed).
    pub(crate) fn flush(&mut self) {
        self.release(0);
        self.count.store(0, Ordering::Relaxed);
    }

    /// Moves all but the `keep` most recently freed stacks to the global list (no
    /// syscall: see the module docs on lazy release).
    fn release(&mut self, keep: usize) {
        if self.stacks.len() <= keep {
            return;
        }
        let n = self.stacks.len() - keep;
        let size = self.size;
        {
            let mut g = global();
            let dirty = &mut g.class(size).dirty;
            dirty.extend(self.stacks.drain(..n).map(GStack::into_entry));
        }
        maybe_scavenge();
    }

    /// Takes a batch from the global list into the cache and returns one of it.
    fn refill(&mut self) -> Result<GStack, StackError> {
        if self.size == 0 {
            return Err(StackError::TooLarge {
                requested: self.requested,
            });
        }
        let mut g = global();
        let class = g.class(self.size);
        for i in 0..CACHE_REFILL {
            match class.take() {
                Ok(e) => self.stacks.push(GStack::from_entry(e, self.size)),
                Err(e) if i == 0 => return Err(e),
                Err(_) => break,
            }
        }
        drop(g);
        // Hand out the lowest address first: carved slots then go out in address order.
        self.stacks.reverse();
        match self.stacks.pop() {
            Some(s) => Ok(s),
            None => Err(StackError::OutOfMemory {
                errno: libc::ENOMEM,
            }),
        }
    }
}

impl Drop for StackCache {
    fn drop(&mut self) {
        self.flush();
        let mut g = global();
        g.caches.retain(|c| !Arc::ptr_eq(c, &self.count));
    }
}

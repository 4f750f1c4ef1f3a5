//! Scratch lists for the scavengers (this module's [`super::scavenge`] and the G
//! scavenger, `sched/gslab.rs`), each in its own anonymous mapping and unmapped when
//! dropped.
//!
//! Why not a `Vec`: after a million goroutines end, a scavenger pass needs lists of a
//! million words (8 MB each). From `malloc` they come out of the calling thread's glibc
//! arena once glibc's dynamic mmap threshold has risen (it follows the largest block
//! freed, up to 32 MB), and when freed they stay in that arena's top chunk: `free` trims
//! a thread arena only past a threshold that rose with it, and `malloc_trim` does not
//! trim a thread arena's top. Measured: 27 MB of RSS left after idling with
//! `glibc.malloc.mmap_threshold` fixed, 40-95 MB without. A mapping of its own goes back
//! whole at `munmap`.

use std::ops::{Deref, DerefMut};

/// A fixed-capacity list of words in its own mapping (empty ones map nothing).
pub(crate) struct Scratch {
    ptr: *mut usize,
    cap: usize,
    len: usize,
}

impl Scratch {
    /// An empty list with no room (maps nothing).
    pub(crate) fn empty() -> Scratch {
        Scratch {
            ptr: std::ptr::NonNull::dangling().as_ptr(),
            cap: 0,
            len: 0,
        }
    }

    /// Room for `cap` words; None when the kernel refuses the mapping (the caller gives
    /// back less this time).
    pub(crate) fn with_capacity(cap: usize) -> Option<Scratch> {
        if cap == 0 {
            return Some(Scratch::empty());
        }
        let bytes = cap.checked_mul(std::mem::size_of::<usize>())?;
        let p = crate::sys::map_anon(bytes)?;
        Some(Scratch {
            ptr: p.cast(),
            cap,
            len: 0,
        })
    }

    /// How many words it has room for.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Appends `v`. The caller sized the list: a push past its capacity is a bug.
    #[inline]
    pub(crate) fn push(&mut self, v: usize) {
        if self.len == self.cap {
            crate::fatal("scavenger scratch list overflow");
        }
        // SAFETY: len < cap, inside our mapping.
        unsafe { self.ptr.add(self.len).write(v) };
        self.len += 1;
    }
}

impl Deref for Scratch {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        // SAFETY: the first `len` words are written; ptr is valid (or dangling for 0).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [usize] {
        // SAFETY: as above, and we own the mapping exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.cap != 0 {
            // SAFETY: our own mapping, of this size; nothing refers to it past here.
            unsafe {
                libc::munmap(self.ptr.cast(), self.cap * std::mem::size_of::<usize>());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_push_sort_drop() {
        let mut s = Scratch::with_capacity(3000).expect("map");
        for i in (0..3000).rev() {
            s.push(i);
        }
        s.sort_unstable();
        assert_eq!(s.len(), 3000);
        assert!(s.iter().enumerate().all(|(i, &v)| i == v));
        let e = Scratch::with_capacity(0).expect("empty");
        assert!(e.is_empty());
    }
}

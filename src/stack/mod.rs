//! Goroutine stacks: slabs, guard regions, per-P caches, lazy release, overflow report.
//!
//! # Why not Go's stacks
//!
//! Go starts a goroutine on a 2-8 KiB stack and grows it by copying (`newstack` and
//! `copystack` in `runtime/stack.go`), fixing up every pointer into it, which only works
//! because the compiler knows where all of them are. Here C code holds raw pointers into
//! its goroutine's stack, so a stack can neither move nor grow: each one is a fixed
//! virtual range (default 256 KiB, any size from `gmp_go_ex`) that the kernel commits page
//! by page on first touch. A goroutine that never goes deep costs one or two pages of RSS.
//!
//! # Slabs and slots
//!
//! Stacks are carved from slabs: large anonymous mappings (`PROT_READ|PROT_WRITE`,
//! `MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE`, `MADV_NOHUGEPAGE` so transparent huge pages
//! never turn a touched stack page into 2 MiB of RSS). A slab is an array of slots of one
//! size class, `slot_size = page + stack size`:
//!
//! ```text
//!  slab base                                                         slab end
//!  | guard | stack 0 .......... | guard | stack 1 .......... | ... |
//!  ^ limit()                    ^ base() of stack 0 (grows down towards its guard)
//! ```
//!
//! The first slab of a class has 64 slots; each next one doubles up to 4096 slots or
//! 1 GiB, so a million 256 KiB stacks take about 260 slabs (each one line of
//! `/proc/self/maps`, far below `vm.max_map_count` = 65530) and a program with a handful
//! of goroutines reserves (but does not commit) 16 MiB. Slots are never returned to the
//! kernel one by one; [`release_all`] unmaps whole slabs whose every slot is free.
//!
//! # Guard pages
//!
//! Under every stack there is one guard page, installed once per slot, when the slot is
//! first handed out (a recycled slot keeps its guard; `fresh` marks a carved slot that
//! has not been handed out yet; a slot given back whole by the scavenger loses its guard
//! so that the kernel can free its page tables, and gets it again when reused). It is
//! installed with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which writes a marker into the page table without splitting the VMA, so
//! a million guarded stacks are still one mapping per slab. On older kernels (`EINVAL`)
//! the guard is `mprotect(PROT_NONE)`, which splits the mapping in up to three: that
//! works up to a cap (30,000 guards, less when `vm.max_map_count` is lower), after which
//! stacks get no guard and a one-time note goes to stderr. Go needs no guard page: its
//! function prologues compare the stack pointer against `g.stackguard0`. C code has no
//! such check, and C compiled without `-fstack-clash-protection` can step over a single
//! guard page with a frame larger than a page (Rust probes every page of a large frame).
//!
//! # Caches
//!
//! Following Go's `stackcache` (`stackcacherefill`/`stackcacherelease`,
//! `runtime/stack.go`), each P owns a [`StackCache`] of default-size stacks, used without
//! a lock. An empty cache takes a batch of 16 from the global free list (or carves new
//! slots, which is arithmetic until a slot's guard is installed); a cache that grows past
//! 64 moves its oldest half back. Go keeps one cache per order of 2-16 KiB stacks and
//! takes larger ones from a global pool (`stackLarge`); here only the default size is cached per P, and
//! every other size has its own global free list (a small map keyed by size: non-default
//! sizes are rare). Allocation and free outside a cache ([`alloc`], [`free`], dropping a
//! [`GStack`]) take one global mutex.
//!
//! # Lazy release
//!
//! A reused stack costs nothing (its pages are already committed), while giving memory
//! back costs about 100 times a reuse and faulting it in again about 2 us a page. So no
//! free, cache or batch move makes a syscall. Memory is given back only for stacks that
//! sat unused on a global free list for a whole scavenge period, by [`scavenge`] (Go's
//! background scavenger returns idle spans in the same spirit; Go also shrinks stacks at
//! GC, which needs copying). For each such stack one `mincore` on the page 32 KiB below
//! the top tells whether it went deep; only then the part below the top 16 KiB is given
//! back with `MADV_DONTNEED`, so RSS really drops (a stack idle for a period is not
//! about to be reused, so the cheaper `MADV_FREE`, whose pages stay in RSS until memory
//! pressure, buys nothing here). Checking at each batch move out of a cache, as first
//! planned, was measured at 376 ns a `mincore`, paid by every goroutine whose stack
//! crosses P's (spawned on one P, finished on another): 30-50 times a cache hit.
//!
//! Past the [`KEEP_WARM`] warmest free stacks of a size class, a stack idle for a whole
//! period is given back whole (every page above its guard), with one `madvise` per run
//! of adjacent slots, no `mincore`: after a million goroutines end that is a few hundred
//! calls, and RSS falls from 4.2 GB to the G structs' 0.3 GB within two periods
//! (measured with 1M parked goroutines of the default size). The guard markers survive
//! `MADV_DONTNEED`. Reusing such a stack costs its first touch again (about 2 us a
//! page), the price of an idle program's memory: Go's scavenger makes the same trade.
//! sysmon scavenges through its deep sleeps too (they wake once a second).
//!
//! "Unused for a whole period" costs no per-stack bookkeeping: the global lists are LIFO,
//! so the entries below the lowest length a list had since the previous scavenge were
//! not touched in between (`dirty_low`). [`scavenge`] is meant to be called by sysmon
//! about once a second; as a fallback the batch move out of a cache runs a bounded
//! scavenge itself when none ran for a second.
//!
//! # Overflow report
//!
//! [`install_overflow_handler`] installs one SIGSEGV/SIGBUS handler (`SA_SIGINFO |
//! SA_ONSTACK`), and [`ensure_altstack`] gives each thread that runs goroutines an
//! alternate signal stack (an overflowed stack has no room for a signal frame). The
//! handler looks the fault address up in a lock-free registry of slabs (a fixed array of
//! atomics, appended under the global lock); a fault in a guard page is reported with
//! `write(2)` only, as `gmp: goroutine 17 "name": stack overflow (stack 256 KiB)`, and the
//! process aborts. The goroutine's description comes from the scheduler through
//! [`set_fault_describer`]. Any other fault goes to the previous handler (or to the
//! default action). Go reports `goroutine stack exceeds limit` from `newstack` instead,
//! before any fault.

use crate::sys::mutex::{Mutex, MutexGuard, Rank};
use std::fmt;
use std::io::Write as _;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::Instant;

#[cfg(test)]
use corosensei::stack::{Stack, StackPointer};
use libc::{c_int, c_void};

mod cache;
mod overflow;
mod scratch;

pub(crate) use cache::StackCache;
pub(crate) use overflow::{
    ensure_altstack, install_overflow_handler, set_fault_bounds, set_fault_describer,
};
use overflow::{registry_add, registry_remove};
pub(crate) use scratch::Scratch;

/// Smallest stack handed out; smaller requests are rounded up to it.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest stack that may be requested; larger requests fail with [`StackError::TooLarge`].
pub(crate) const MAX_STACK_SIZE: usize = 1 << 30;

/// `MADV_GUARD_INSTALL` (Linux 6.13+); not in every `libc` release.
const MADV_GUARD_INSTALL: c_int = 102;
/// The advice used to give back the deep part of a stack (see the module docs).
const RELEASE_ADVICE: c_int = libc::MADV_DONTNEED;
/// A batch move out of a cache runs [`scavenge`] itself if none ran for this long.
const SCAVENGE_PERIOD_MS: u64 = 1000;
/// Most stacks one such fallback scavenge checks (about 0.4 ms of `mincore`).
const SCAVENGE_FALLBACK_BUDGET: usize = 1024;
/// Bytes at the top of a stack that are never released.
const RELEASE_KEEP: usize = 16 * 1024;
/// Depth below the top whose page tells whether a stack "went deep".
const RELEASE_PROBE: usize = 32 * 1024;
/// Free stacks per size class that stay warm however long they sit idle (about 4-8 MiB
/// of default stacks): a burst that follows an idle spell reuses them without a fault.
/// Idle ones beyond them are given back whole.
const KEEP_WARM: usize = 1024;

/// Stacks an empty [`StackCache`] takes at once (Go refills to `_StackCacheSize / 2`
/// bytes of one order).
const CACHE_REFILL: usize = 16;
/// A [`StackCache`] holding more than this moves half of them to the global list.
const CACHE_MAX: usize = 64;

/// Slots in the first slab of a size class; each further slab doubles.
const FIRST_SLAB_SLOTS: usize = 64;
/// Most slots in one slab.
const MAX_SLAB_SLOTS: usize = 4096;
/// Most bytes in one slab (a slab always has at least one slot).
const MAX_SLAB_BYTES: usize = 1 << 30;
/// Capacity of the signal-safe slab registry.
const MAX_SLABS: usize = 8192;

/// Cap on `mprotect` guards (each one splits a mapping) on kernels without guard regions.
const MPROTECT_GUARD_CAP: usize = 30_000;
/// Usable size of the alternate signal stack [`ensure_altstack`] maps.
const ALTSTACK_SIZE: usize = 64 * 1024;

/// Low bit of a free-list entry: the slot was carved but never handed out (no guard yet).
const FRESH: usize = 1;
/// Bit of a free-list entry: the scavenger removed the slot's guard (to let the kernel
/// free its page tables, see [`release_whole`]); it is installed again on reuse.
const UNGUARDED: usize = 2;
/// The flag bits of a free-list entry (slots are page aligned).
const ENTRY_BITS: usize = FRESH | UNGUARDED;
/// `MADV_GUARD_REMOVE` (Linux 6.13+).
const MADV_GUARD_REMOVE: c_int = 103;

// ---------------------------------------------------------------------------------------
// Sizes and errors
// ---------------------------------------------------------------------------------------

use crate::sys::page_size;

use crate::sys::errno;

/// Why a stack could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StackError {
    /// The requested size is over [`MAX_STACK_SIZE`].
    TooLarge { requested: usize },
    /// The kernel refused memory (`mmap` or the guard install failed) or the slab registry
    /// is full; `errno` is the error number (`ENOMEM` for a full registry).
    OutOfMemory { errno: i32 },
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            StackError::TooLarge { requested } => write!(
                f,
                "stack size {requested} is over the maximum of {MAX_STACK_SIZE} bytes"
            ),
            StackError::OutOfMemory { errno } => write!(
                f,
                "cannot allocate a goroutine stack: {}",
                std::io::Error::from_raw_os_error(errno)
            ),
        }
    }
}

impl std::error::Error for StackError {}

/// The usable size a request for `size` bytes gets: at least [`MIN_STACK_SIZE`], rounded
/// up to a page multiple; an error past [`MAX_STACK_SIZE`].
pub(crate) fn round_size(size: usize) -> Result<usize, StackError> {
    if size > MAX_STACK_SIZE {
        return Err(StackError::TooLarge { requested: size });
    }
    let page = page_size();
    Ok((size.max(MIN_STACK_SIZE) + page - 1) & !(page - 1))
}

// ---------------------------------------------------------------------------------------
// GStack
// ---------------------------------------------------------------------------------------

/// One goroutine stack: owns one slot of a slab until it is freed (or dropped, which
/// frees it to the global list of its size).
#[derive(Debug)]
pub(crate) struct GStack {
    /// Lowest address of the slot: the start of its guard page.
    lo: usize,
    /// Usable bytes above the guard page.
    size: usize,
    /// The slot was never handed out: its guard is not installed yet.
    fresh: bool,
    /// The scavenger removed its guard: installed again before it is used.
    unguarded: bool,
}

impl GStack {
    /// Usable bytes of the stack (the guard page not included).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// (lowest address of the slot, i.e. of its guard page; usable bytes above it).
    pub(crate) fn bounds(&self) -> (usize, usize) {
        (self.lo, self.size)
    }

    /// Cache colouring: slots are a multiple of the page size apart, so without an
    /// offset the hottest lines of every goroutine (the top of its stack, where it is
    /// parked) would fall into the same few L1/L2 sets. Shift each stack's top down by
    /// 0..15 cache lines (at most 960 bytes), chosen by slot address, so they spread
    /// over the sets while a parked goroutine still touches one page. A Python goroutine
    /// parks 2.6-2.8 KiB below its top (its interpreter and binding frames), so 0..31
    /// lines (up to 1,984 bytes) pushed a third of them over a page boundary: 1.33
    /// resident pages each (bench/python/README.md, "Where a parked goroutine's memory
    /// goes").
    #[inline]
    fn color(&self) -> usize {
        ((self.lo >> 12) % 16) * 64
    }

    fn top(&self) -> usize {
        self.lo + page_size() + self.size
    }

    /// Where a context starts on this stack: its top, less the colour offset.
    #[inline]
    pub(crate) fn base(&self) -> usize {
        self.top() - self.color()
    }

    fn from_entry(entry: usize, size: usize) -> GStack {
        GStack {
            lo: entry & !ENTRY_BITS,
            size,
            fresh: entry & FRESH != 0,
            unguarded: entry & UNGUARDED != 0,
        }
    }

    fn entry(&self) -> usize {
        self.lo | if self.fresh { FRESH } else { 0 } | if self.unguarded { UNGUARDED } else { 0 }
    }

    /// The free-list entry for this stack, without running its `Drop`.
    fn into_entry(self) -> usize {
        ManuallyDrop::new(self).entry()
    }

    /// Ready to be used as it is: its guard is in place ([`GStack::prepare`] has nothing
    /// to do).
    #[inline]
    fn ready(&self) -> bool {
        !(self.fresh | self.unguarded)
    }

    /// Installs the guard page if this slot is handed out for the first time, or again
    /// after the scavenger took it away.
    fn prepare(&mut self) -> Result<(), StackError> {
        if self.fresh {
            install_guard(self.lo)?;
            self.fresh = false;
            self.unguarded = false;
            crate::sys::valgrind::stack_register(self.lo + page_size(), self.top());
        } else if self.unguarded {
            install_guard(self.lo)?;
            self.unguarded = false;
        }
        Ok(())
    }
}

impl Drop for GStack {
    fn drop(&mut self) {
        let entry = self.entry();
        let mut g = global();
        g.class(self.size).dirty.push(entry);
    }
}

// For the tests that run code on GStacks with corosensei (a dev-dependency).
// SAFETY: `base()` is the top of a slot of a live, writable slab mapping that this GStack
// owns exclusively; `limit()` is the bottom of the slot, i.e. it includes the guard page,
// as the trait requires. Both are page aligned, hence aligned to STACK_ALIGNMENT, and the
// usable part is at least MIN_STACK_SIZE (16 KiB) > corosensei's MIN_STACK_SIZE. The guard
// page is installed before the stack is handed out, except past the mprotect cap on old
// kernels, which is reported on stderr (see the module docs).
#[cfg(test)]
unsafe impl Stack for GStack {
    #[inline]
    fn base(&self) -> StackPointer {
        StackPointer::new(GStack::base(self)).unwrap_or(StackPointer::MIN)
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.lo).unwrap_or(StackPointer::MIN)
    }

    #[cfg(windows)]
    fn teb_fields(&self) -> corosensei::stack::StackTebFields {
        corosensei::stack::StackTebFields {
            StackBase: self.top(),
            StackLimit: self.lo + page_size(),
            DeallocationStack: self.lo,
            GuaranteedStackBytes: 0,
        }
    }

    #[cfg(windows)]
    fn update_teb_fields(&mut self, _stack_limit: usize, _guaranteed_stack_bytes: usize) {}
}

// ---------------------------------------------------------------------------------------
// Global state: size classes, slabs, free lists
// ---------------------------------------------------------------------------------------

struct Slab {
    base: usize,
    len: usize,
    nslots: usize,
    /// Slots handed out at least once (`base + i * slot_size` for `i < carved`).
    carved: usize,
    /// Index in [`REGISTRY`].
    reg: usize,
}

struct Class {
    /// Usable stack size.
    size: usize,
    slot_size: usize,
    /// Free slots not checked for depth since they were freed (warmest last).
    dirty: Vec<usize>,
    /// `dirty[..dirty_low]` has not been touched since the previous [`scavenge`].
    dirty_low: usize,
    /// Checked by [`scavenge`]: shallow, or given back below the top.
    clean: Vec<usize>,
    /// `clean[..clean_low]` has not been touched since the previous [`scavenge`].
    clean_low: usize,
    /// Given back whole (every page above the guard) after idling past [`KEEP_WARM`].
    cold: Vec<usize>,
    /// Creation order; every slab but the last is fully carved.
    slabs: Vec<Slab>,
    next_slots: usize,
}

impl Class {
    fn new(size: usize) -> Class {
        let slot_size = size + page_size();
        Class {
            size,
            slot_size,
            dirty: Vec::new(),
            dirty_low: 0,
            clean: Vec::new(),
            clean_low: 0,
            cold: Vec::new(),
            slabs: Vec::new(),
            next_slots: FIRST_SLAB_SLOTS.min(max_slab_slots(slot_size)),
        }
    }

    /// A free-list entry: a recycled slot (warmest first), else a newly carved one.
    fn take(&mut self) -> Result<usize, StackError> {
        if let Some(e) = self.dirty.pop() {
            self.dirty_low = self.dirty_low.min(self.dirty.len());
            return Ok(e);
        }
        if let Some(e) = self.clean.pop() {
            self.clean_low = self.clean_low.min(self.clean.len());
            return Ok(e);
        }
        if let Some(e) = self.cold.pop() {
            return Ok(e);
        }
        self.carve().map(|lo| lo | FRESH)
    }

    fn carve(&mut self) -> Result<usize, StackError> {
        let need_slab = match self.slabs.last() {
            Some(s) => s.carved == s.nslots,
            None => true,
        };
        if need_slab {
            self.new_slab()?;
        }
        let slot_size = self.slot_size;
        match self.slabs.last_mut() {
            Some(s) if s.carved < s.nslots => {
                let lo = s.base + s.carved * slot_size;
                s.carved += 1;
                Ok(lo)
            }
            _ => Err(StackError::OutOfMemory {
                errno: libc::ENOMEM,
            }),
        }
    }

    fn new_slab(&mut self) -> Result<(), StackError> {
        let mut nslots = self.next_slots.max(1);
        loop {
            // Cannot overflow: slot_size <= 1 GiB + page and nslots * slot_size <= 1 GiB
            // unless nslots == 1.
            let len = nslots * self.slot_size;
            match map_slab(len) {
                Ok(base) => {
                    let Some(reg) = registry_add(base, len, self.slot_size) else {
                        // SAFETY: `base..base+len` is the mapping just made, not yet shared.
                        unsafe { libc::munmap(base as *mut c_void, len) };
                        return Err(StackError::OutOfMemory {
                            errno: libc::ENOMEM,
                        });
                    };
                    self.slabs.push(Slab {
                        base,
                        len,
                        nslots,
                        carved: 0,
                        reg,
                    });
                    self.next_slots = (nslots * 2).min(max_slab_slots(self.slot_size));
                    return Ok(());
                }
                Err(_) if nslots > 1 => nslots /= 2,
                Err(e) => return Err(e),
            }
        }
    }
}

fn max_slab_slots(slot_size: usize) -> usize {
    (MAX_SLAB_BYTES / slot_size).clamp(1, MAX_SLAB_SLOTS)
}

fn map_slab(len: usize) -> Result<usize, StackError> {
    let Some(p) = crate::sys::map_anon(len) else {
        return Err(StackError::OutOfMemory { errno: errno() });
    };
    // Failure (a kernel without THP) is harmless.
    // SAFETY: `p..p+len` is the mapping just made.
    unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
    Ok(p as usize)
}

struct Global {
    classes: Vec<Class>,
    /// One counter per live [`StackCache`]: how many stacks it holds (for [`stats`]).
    caches: Vec<Arc<AtomicUsize>>,
}

impl Global {
    fn class(&mut self, size: usize) -> &mut Class {
        let i = match self.classes.iter().position(|c| c.size == size) {
            Some(i) => i,
            None => {
                self.classes.push(Class::new(size));
                self.classes.len() - 1
            }
        };
        &mut self.classes[i]
    }
}

static GLOBAL: Mutex<Global> = Mutex::new(
    Rank::Stacks,
    Global {
        classes: Vec::new(),
        caches: Vec::new(),
    },
);

/// Memory given back by the lazy release so far.
static RELEASES: AtomicU64 = AtomicU64::new(0);

fn global() -> MutexGuard<'static, Global> {
    // Nothing panics while holding the lock but allocation failure; the state stays
    // consistent between statements, so a poisoned lock is still usable.
    GLOBAL.lock()
}

// ---------------------------------------------------------------------------------------
// Guard pages
// ---------------------------------------------------------------------------------------

const GUARD_MADVISE: u8 = 0;
const GUARD_MPROTECT: u8 = 1;
const GUARD_NONE: u8 = 2;

static GUARD_MODE: AtomicU8 = AtomicU8::new(GUARD_MADVISE);
static MPROTECT_GUARDS: AtomicUsize = AtomicUsize::new(0);
/// 0 until computed from `vm.max_map_count`.
static MPROTECT_CAP: AtomicUsize = AtomicUsize::new(0);
static GUARD_NOTE: Once = Once::new();

fn mprotect_cap() -> usize {
    let cap = MPROTECT_CAP.load(Ordering::Relaxed);
    if cap != 0 {
        return cap;
    }
    // Each guard can cost two map entries; leave room for the rest of the program.
    let cap = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .map_or(MPROTECT_GUARD_CAP, |max| {
            (max.saturating_sub(5000) / 2).clamp(1, MPROTECT_GUARD_CAP)
        });
    MPROTECT_CAP.store(cap, Ordering::Relaxed);
    cap
}

fn guards_exhausted(guarded: usize) {
    GUARD_MODE.store(GUARD_NONE, Ordering::Relaxed);
    GUARD_NOTE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "gmp: stack guard pages unavailable past {guarded} stacks (vm.max_map_count); \
             overflow is no longer detected"
        );
    });
}

/// Makes the page at `lo` a guard page (once per slot).
fn install_guard(lo: usize) -> Result<(), StackError> {
    let page = page_size();
    let mut retries = 0;
    loop {
        match GUARD_MODE.load(Ordering::Relaxed) {
            GUARD_MADVISE => {
                // SAFETY: `lo` is the page-aligned first page of a slot of a live slab,
                // owned by the caller and not in use as a stack yet.
                let r = unsafe { libc::madvise(lo as *mut c_void, page, MADV_GUARD_INSTALL) };
                if r == 0 {
                    return Ok(());
                }
                match errno() {
                    libc::EINVAL => {
                        let _ = GUARD_MODE.compare_exchange(
                            GUARD_MADVISE,
                            GUARD_MPROTECT,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    libc::EINTR | libc::EAGAIN if retries < 16 => retries += 1,
                    e => return Err(StackError::OutOfMemory { errno: e }),
                }
            }
            GUARD_MPROTECT => {
                let cap = mprotect_cap();
                let n = MPROTECT_GUARDS.fetch_add(1, Ordering::Relaxed);
                if n >= cap {
                    guards_exhausted(cap);
                    return Ok(());
                }
                // SAFETY: as above; the page is the guard and never used as stack.
                let r = unsafe { libc::mprotect(lo as *mut c_void, page, libc::PROT_NONE) };
                if r != 0 {
                    // ENOMEM: the map count limit came first.
                    guards_exhausted(n);
                }
                return Ok(());
            }
            _ => return Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Lazy release
// ---------------------------------------------------------------------------------------

/// Gives back the part of the stack below the top [`RELEASE_KEEP`] bytes if the page
/// [`RELEASE_PROBE`] bytes below the top is resident (the stack went deep). Returns
/// whether it did.
fn release_if_deep(entry: usize, size: usize) -> bool {
    if entry & FRESH != 0 || size <= RELEASE_PROBE {
        return false;
    }
    let page = page_size();
    let lo = entry & !ENTRY_BITS;
    let top = lo + page + size;
    let probe = (top - RELEASE_PROBE - 1) & !(page - 1);
    let mut resident = 0u8;
    // SAFETY: `probe` is a page-aligned page of a live slab; mincore writes one byte.
    let r = unsafe { libc::mincore(probe as *mut c_void, page, &mut resident) };
    if r != 0 || resident & 1 == 0 {
        return false;
    }
    let start = lo + page;
    let end = top - RELEASE_KEEP;
    // SAFETY: the range is the unused (freed) stack of a slot we own, above its guard.
    let r = unsafe { libc::madvise(start as *mut c_void, end - start, RELEASE_ADVICE) };
    if r == 0 {
        RELEASES.fetch_add(1, Ordering::Relaxed);
    }
    r == 0
}

/// Milliseconds since [`scavenge_clock`] was first read, at the last [`scavenge`].
static LAST_SCAVENGE_MS: AtomicU64 = AtomicU64::new(0);

fn scavenge_clock() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let ms = EPOCH.get_or_init(Instant::now).elapsed().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// Gives back every page above the guard of the slots in `batch` (free, on no list),
/// one `madvise` per run of adjacent slots: after a million goroutines end that is a few
/// hundred calls, not a million. With guard regions (`MADV_GUARD_INSTALL`), the run's
/// guard markers go first, in one `MADV_GUARD_REMOVE` over the run, and the slots are
/// marked [`UNGUARDED`] (the guard comes back on reuse, about 1 us): a guard marker is a
/// page-table entry, so while one is left in a page table the kernel cannot free that
/// table, and a million 256 KiB stacks' tables are 0.5 GB (VmPTE, measured after bench
/// idle_rss: 509 MB kept with the markers). Kernels that free empty page tables at
/// `MADV_DONTNEED` (Linux 6.14+ with `CONFIG_PT_RECLAIM`; this machine's 6.18 does) then
/// give them back. An `mprotect` guard stays (removing it would cost a syscall per
/// slot). Sorts `batch`; returns how many slots gave memory back (never-used, fresh
/// slots have none).
fn release_whole(batch: &mut [usize], slot_size: usize) -> usize {
    let page = page_size();
    let unguard = GUARD_MODE.load(Ordering::Relaxed) == GUARD_MADVISE;
    batch.sort_unstable();
    let mut n = 0;
    let mut i = 0;
    while i < batch.len() {
        if batch[i] & FRESH != 0 {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < batch.len()
            && batch[j] & FRESH == 0
            && batch[j] & !ENTRY_BITS == (batch[j - 1] & !ENTRY_BITS) + slot_size
        {
            j += 1;
        }
        let lo = batch[i] & !ENTRY_BITS;
        let mut start = lo + page;
        let end = (batch[j - 1] & !ENTRY_BITS) + slot_size;
        if unguard {
            // Marked first: whatever the call did, the guard is installed again on reuse
            // (installing over a guard that is still there is harmless).
            batch[i..j].iter_mut().for_each(|e| *e |= UNGUARDED);
            // SAFETY: slots of live slabs that no GStack owns (taken off every list by
            // the caller); removing guard markers leaves every other page as it is.
            if unsafe { libc::madvise(lo as *mut c_void, end - lo, MADV_GUARD_REMOVE) } == 0 {
                start = lo;
            }
        }
        // SAFETY: slots of live slabs that no GStack owns (taken off every list by the
        // caller), from above the first one's guard (or from it, once it is no guard) to
        // the last one's top.
        if unsafe { libc::madvise(start as *mut c_void, end - start, RELEASE_ADVICE) } == 0 {
            n += j - i;
        }
        i = j;
    }
    n
}

/// Gives back the memory of free stacks that have not been reused since the previous
/// call (see the module docs): past the [`KEEP_WARM`] warmest of a size class, idle
/// stacks are given back whole (coalesced, no per-stack check); of the rest, at most
/// `max` are checked for depth and given back below their top if they went deep. Meant
/// for sysmon, about once a second (`scavenge(usize::MAX)`, or a budget to bound the
/// pause: each checked stack costs about 0.4 us). Returns how many stacks gave memory
/// back.
pub(crate) fn scavenge(max: usize) -> usize {
    LAST_SCAVENGE_MS.store(scavenge_clock(), Ordering::Relaxed);
    let mut released = 0;
    let mut budget = max;
    let mut batch = Vec::new();
    let nclasses = global().classes.len();
    // Classes are never removed, so indexes stay valid between lock holds.
    for ci in 0..nclasses {
        let (size, slot_size, mut whole) = {
            let mut g = global();
            let Some(c) = g.classes.get_mut(ci) else {
                break;
            };
            // The oldest idle ones (a list's front is its coldest end) past KEEP_WARM:
            // clean ones first, then dirty ones.
            let idle_clean = c.clean_low.min(c.clean.len());
            let excess_clean = idle_clean.saturating_sub(KEEP_WARM);
            let keep = KEEP_WARM.saturating_sub(idle_clean - excess_clean);
            let idle_dirty = c.dirty_low.min(c.dirty.len());
            let mut excess_dirty = idle_dirty.saturating_sub(keep);
            // (A mapping of its own, see scratch.rs; none: nothing goes back whole now.)
            let mut whole =
                Scratch::with_capacity(excess_clean + excess_dirty).unwrap_or_else(Scratch::empty);
            if whole.capacity() == excess_clean + excess_dirty {
                c.clean.drain(..excess_clean).for_each(|e| whole.push(e));
                c.dirty.drain(..excess_dirty).for_each(|e| whole.push(e));
            } else {
                excess_dirty = 0;
            }
            let n = (idle_dirty - excess_dirty).min(budget);
            batch.extend(c.dirty.drain(..n));
            c.dirty_low = c.dirty.len();
            c.clean_low = c.clean.len();
            // A list that a burst grew and the scavenger emptied gives its buffer back
            // (8 MB for a million stacks).
            shrink(&mut c.dirty);
            shrink(&mut c.clean);
            (c.size, c.slot_size, whole)
        };
        // Outside the lock: these slots are on no list for now, so nobody can take them
        // (and release_all will not unmap their slab).
        if !whole.is_empty() {
            let n = release_whole(&mut whole, slot_size);
            RELEASES.fetch_add(n as u64, Ordering::Relaxed);
            released += n;
            global().class(size).cold.extend_from_slice(&whole);
        }
        if batch.is_empty() {
            continue;
        }
        budget -= batch.len();
        for &e in &batch {
            released += usize::from(release_if_deep(e, size));
        }
        global().class(size).clean.append(&mut batch);
    }
    released
}

/// Gives a free list's buffer back when it holds far fewer entries than it has room for.
fn shrink(v: &mut Vec<usize>) {
    if v.capacity() > 4 * v.len().max(1024) {
        v.shrink_to(2 * v.len().max(1024));
    }
}

/// The fallback for a runtime whose sysmon does not call [`scavenge`]: at most once a
/// period, from a batch move out of a cache.
fn maybe_scavenge() {
    let now = scavenge_clock();
    let last = LAST_SCAVENGE_MS.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= SCAVENGE_PERIOD_MS
        && LAST_SCAVENGE_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        scavenge(SCAVENGE_FALLBACK_BUDGET);
    }
}

// ---------------------------------------------------------------------------------------
// Allocation API
// ---------------------------------------------------------------------------------------

/// A stack of at least `size` usable bytes (see [`round_size`]) from the global free list
/// of its size, else a new slot.
pub(crate) fn alloc(size: usize) -> Result<GStack, StackError> {
    let size = round_size(size)?;
    let entry = global().class(size).take()?;
    let mut s = GStack::from_entry(entry, size);
    // On failure `s` drops back onto the free list, still fresh.
    s.prepare()?;
    Ok(s)
}

/// Returns a stack to the global free list of its size (the same as dropping it).
pub(crate) fn free(stack: GStack) {
    drop(stack);
}

/// Counters for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StackStats {
    /// Mapped slabs.
    pub slabs: usize,
    /// Slots handed out and not freed (stacks of live goroutines).
    pub slots_in_use: usize,
    /// Carved slots on the global free lists or in per-P caches.
    pub slots_free: usize,
    /// Virtual bytes of all slabs (reserved, not committed).
    pub bytes_reserved: usize,
    /// Times a freed stack's deep part was given back to the kernel.
    pub releases: u64,
}

/// Current counters (a snapshot; the per-P cache counts are read without their owners).
pub(crate) fn stats() -> StackStats {
    let g = global();
    let mut st = StackStats {
        releases: RELEASES.load(Ordering::Relaxed),
        ..StackStats::default()
    };
    let mut carved = 0;
    for c in &g.classes {
        st.slabs += c.slabs.len();
        st.bytes_reserved += c.slabs.iter().map(|s| s.len).sum::<usize>();
        carved += c.slabs.iter().map(|s| s.carved).sum::<usize>();
        st.slots_free += c.dirty.len() + c.clean.len() + c.cold.len();
    }
    st.slots_free += g
        .caches
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum::<usize>();
    st.slots_in_use = carved.saturating_sub(st.slots_free);
    st
}

/// Unmaps every slab whose slots are all on the global free lists (runtime shutdown;
/// flush or drop the per-P caches first). Slabs with a slot in use stay.
pub(crate) fn release_all() {
    let mut g = global();
    for c in &mut g.classes {
        let mut free: Vec<usize> = c
            .dirty
            .iter()
            .chain(&c.clean)
            .chain(&c.cold)
            .map(|e| e & !ENTRY_BITS)
            .collect();
        free.sort_unstable();
        let mut gone: Vec<(usize, usize)> = Vec::new();
        let slot_size = c.slot_size;
        c.slabs.retain(|s| {
            let end = s.base + s.carved * slot_size;
            let n = free.partition_point(|&a| a < end) - free.partition_point(|&a| a < s.base);
            if n != s.carved {
                return true;
            }
            registry_remove(s.reg);
            // SAFETY: no slot of this slab is owned by a GStack (all carved slots are on
            // the free lists, which are pruned below under the same lock).
            unsafe { libc::munmap(s.base as *mut c_void, s.len) };
            gone.push((s.base, s.base + s.len));
            false
        });
        if gone.is_empty() {
            continue;
        }
        gone.sort_unstable();
        let alive = |e: &usize| {
            let a = e & !ENTRY_BITS;
            let i = gone.partition_point(|&(b, _)| b <= a);
            i == 0 || a >= gone[i - 1].1
        };
        c.dirty.retain(alive);
        c.clean.retain(alive);
        c.cold.retain(alive);
        c.clean_low = c.clean_low.min(c.clean.len());
        c.dirty_low = c.dirty_low.min(c.dirty.len());
        if c.slabs.is_empty() {
            c.next_slots = FIRST_SLAB_SLOTS.min(max_slab_slots(slot_size));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::overflow::{DESCRIBER, install_handlers};
    use super::*;
    use corosensei::{Coroutine, CoroutineResult};
    use std::hint::black_box;
    use std::ptr;

    const DEFAULT_STACK_SIZE: usize = 256 * 1024;
    use crate::sys::mutex::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    /// Tests that fork, count maps or look at global counters run alone.
    static SERIAL: RwLock<()> = RwLock::new(Rank::Test, ());

    fn shared() -> RwLockReadGuard<'static, ()> {
        SERIAL.read()
    }

    fn exclusive() -> RwLockWriteGuard<'static, ()> {
        SERIAL.write()
    }

    fn class_slabs(size: usize) -> usize {
        global().class(size).slabs.len()
    }

    fn maps_lines() -> usize {
        std::fs::read_to_string("/proc/self/maps")
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn rss_bytes() -> usize {
        let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let pages: usize = s
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        pages * page_size()
    }

    fn vm_pte_bytes() -> usize {
        let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmPTE:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
            .unwrap_or(0)
            * 1024
    }

    #[test]
    fn alloc_free_reuse() {
        let _g = exclusive();
        let size = 40 * 1024;
        let a = alloc(size).expect("alloc");
        assert_eq!(a.size(), size);
        let (base, limit) = (a.base(), a.limit().get());
        // The top is shifted down by the slot's cache colour (0..15 lines).
        assert!(base - limit <= size + page_size());
        assert!(base - limit >= size + page_size() - 15 * 64);
        assert_eq!(base % 16, 0);
        free(a);
        let slabs = class_slabs(size);
        let b = alloc(size).expect("alloc again");
        assert_eq!(b.base(), base, "a freed slot is reused first");
        assert_eq!(class_slabs(size), slabs, "no new slab for a reuse");
        // Two live stacks never overlap.
        let c = alloc(size).expect("alloc third");
        assert!(c.base() <= b.limit().get() || c.limit().get() >= b.base());
        drop(b);
        drop(c);
    }

    #[test]
    fn coroutine_runs_on_stack() {
        let _g = shared();
        let stack = alloc(DEFAULT_STACK_SIZE).expect("alloc");
        let (lo, hi) = (stack.limit().get() + page_size(), stack.base());
        let mut co = Coroutine::with_stack(stack, move |y, x: usize| {
            let local = 0u8;
            let sp = black_box(&local) as *const u8 as usize;
            assert!(sp >= lo && sp < hi, "runs on its own stack");
            let mut big = [0u8; 100 * 1024];
            big[0] = 1;
            black_box(&mut big);
            let a = y.suspend(x + 1);
            a * 2
        });
        assert!(matches!(co.resume(1), CoroutineResult::Yield(2)));
        assert!(matches!(co.resume(21), CoroutineResult::Return(42)));
        let stack = co.into_stack();
        assert_eq!(stack.size(), DEFAULT_STACK_SIZE);
        free(stack);
    }

    #[test]
    fn odd_sizes_and_too_large() {
        let _g = shared();
        let page = page_size();
        assert_eq!(round_size(0), Ok(MIN_STACK_SIZE));
        assert_eq!(round_size(1), Ok(MIN_STACK_SIZE));
        assert_eq!(round_size(MIN_STACK_SIZE + 1), Ok(MIN_STACK_SIZE + page));
        assert_eq!(round_size(100_000), Ok(100_000usize.div_ceil(page) * page));
        assert_eq!(round_size(MAX_STACK_SIZE), Ok(MAX_STACK_SIZE));
        let e = alloc(MAX_STACK_SIZE + 1).err();
        assert_eq!(
            e,
            Some(StackError::TooLarge {
                requested: MAX_STACK_SIZE + 1
            })
        );
        assert!(alloc(usize::MAX).is_err());
        for req in [
            1,
            16 * 1024 + 1,
            100_000,
            3 * 1024 * 1024 + 5,
            MAX_STACK_SIZE,
        ] {
            let s = alloc(req).expect("alloc odd size");
            assert_eq!(Ok(s.size()), round_size(req));
            // The whole usable range is writable.
            let lo = s.limit().get() + page;
            let hi = s.base();
            // SAFETY: both bytes are inside the usable part of the stack we own.
            unsafe {
                ptr::write_volatile(lo as *mut u8, 1);
                ptr::write_volatile((hi - 1) as *mut u8, 1);
            }
            free(s);
        }
        // A too-large default makes the cache fail, not panic.
        let mut c = StackCache::new(MAX_STACK_SIZE * 2);
        assert!(matches!(c.get(), Err(StackError::TooLarge { .. })));
    }

    #[test]
    fn cache_churn() {
        let _g = shared();
        let size = 48 * 1024;
        let mut cache = StackCache::new(size);
        assert_eq!(cache.size, size);
        let mut live: Vec<GStack> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if live.len() < 300 && (seed % 3 > 0 || live.is_empty()) {
                live.push(cache.get().expect("get"));
            } else {
                let i = (seed as usize / 3) % live.len();
                cache.put(live.swap_remove(i));
            }
            assert!(cache.stacks.len() <= CACHE_MAX);
        }
        let mut bases: Vec<usize> = live.iter().map(|s| s.base()).collect();
        bases.sort_unstable();
        bases.dedup();
        assert_eq!(bases.len(), live.len(), "no slot handed out twice");
        // A foreign-size stack goes to its own global list.
        cache.put(alloc(size + page_size()).expect("alloc"));
        for s in live {
            cache.put(s);
        }
        drop(cache);
        // All back on the global lists (a concurrent scavenge may hold a batch briefly).
        let all_back = || {
            let mut g = global();
            let c = g.class(size);
            let carved: usize = c.slabs.iter().map(|s| s.carved).sum();
            c.dirty.len() + c.clean.len() + c.cold.len() == carved
        };
        let mut tries = 0;
        while !all_back() && tries < 100 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            tries += 1;
        }
        assert!(all_back(), "all back after drop");
    }

    #[test]
    fn many_stacks_one_mapping_per_slab() {
        let _g = exclusive();
        let n = 100_000;
        let before_maps = maps_lines();
        let before = stats();
        let t = Instant::now();
        let mut stacks: Vec<GStack> = (0..n)
            .map(|_| alloc(DEFAULT_STACK_SIZE).expect("alloc"))
            .collect();
        let alloc_time = t.elapsed();
        let mut coros = Vec::new();
        for s in stacks.drain(..1000) {
            let mut co = Coroutine::with_stack(s, |y, x: u32| {
                let mut buf = [0u8; 512];
                buf[0] = x as u8;
                black_box(&mut buf);
                y.suspend(x);
                buf[0] as u32
            });
            assert!(matches!(co.resume(7), CoroutineResult::Yield(7)));
            coros.push(co);
        }
        let after_maps = maps_lines();
        let after = stats();
        let new_slabs = after.slabs - before.slabs;
        eprintln!(
            "{n} stacks: {new_slabs} new slabs, maps {before_maps} -> {after_maps}, \
             alloc {alloc_time:?}"
        );
        // Other modules' tests may map thread stacks meanwhile: allow some slack.
        assert!(
            after_maps <= before_maps + new_slabs + 256,
            "maps grew by {} for {new_slabs} slabs",
            after_maps - before_maps
        );
        assert!(new_slabs < 100, "{new_slabs} slabs for {n} stacks");
        for mut co in coros {
            assert!(matches!(co.resume(0), CoroutineResult::Return(7)));
            stacks.push(co.into_stack());
        }
        for s in stacks {
            free(s);
        }
        release_all();
        let end = stats();
        assert!(end.slabs < after.slabs, "release_all unmapped free slabs");
        assert!(maps_lines() <= after_maps);
    }

    fn touch(s: &GStack, deep: bool) {
        let page = page_size();
        let lo = if deep {
            s.limit().get() + page
        } else {
            s.base() - page
        };
        for a in (lo..s.base()).step_by(page) {
            // SAFETY: inside the usable part of a stack we own.
            unsafe { ptr::write_volatile(a as *mut u8, 1) };
        }
    }

    fn resident(addr: usize) -> bool {
        let page = page_size();
        let mut v = 0u8;
        // SAFETY: a page of a live slab; mincore writes one byte.
        let r = unsafe { libc::mincore((addr & !(page - 1)) as *mut c_void, page, &mut v) };
        r == 0 && v & 1 != 0
    }

    #[test]
    fn lazy_release_only_idle_deep_stacks() {
        let _g = exclusive();
        let size = 128 * 1024;
        let page = page_size();
        // Check what other tests left free and start a period now, so that no fallback
        // scavenge runs during the test.
        scavenge(usize::MAX);
        scavenge(usize::MAX);
        let r0 = stats().releases;
        let mut cache = StackCache::new(size);
        let shallow: Vec<GStack> = (0..40).map(|_| cache.get().expect("get")).collect();
        let deep: Vec<GStack> = (0..40).map(|_| cache.get().expect("get")).collect();
        shallow.iter().for_each(|s| touch(s, false));
        deep.iter().for_each(|s| touch(s, true));
        // (bottom page, top page) of each.
        let ends = |v: &[GStack]| -> Vec<(usize, usize)> {
            let ends = v.iter().map(|s| (s.limit().get() + page, s.base() - page));
            ends.collect()
        };
        let (shallow_ends, mut deep_ends) = (ends(&shallow), ends(&deep));
        for s in shallow.into_iter().chain(deep) {
            cache.put(s);
        }
        cache.flush();
        // A stack freed outside a cache goes the same way (it takes and gives back the
        // last deep one of the 80 on the global list).
        let lone = alloc(size).expect("alloc");
        touch(&lone, true);
        free(lone);
        assert!(
            deep_ends.iter().all(|&(lo, _)| resident(lo)),
            "no release on free or batch move"
        );
        // The first scavenge marks what is free now; a stack reused after it is not idle
        // and is not checked (that is `lone`, so 39 deep stacks are left idle).
        scavenge(usize::MAX);
        let reused = alloc(size).expect("alloc");
        let reused_lo = reused.limit().get() + page;
        deep_ends.retain(|&(lo, _)| lo != reused_lo);
        assert_eq!(deep_ends.len(), 39);
        let rss1 = rss_bytes();
        let released = scavenge(usize::MAX);
        let rss2 = rss_bytes();
        eprintln!(
            "scavenge released {released} stacks, RSS {} KiB less",
            rss1.saturating_sub(rss2) / 1024
        );
        assert!(released >= 39, "released {released}");
        assert!(stats().releases - r0 >= 39);
        for &(lo, top) in &deep_ends {
            assert!(
                !resident(lo),
                "the deep part of an idle stack is given back"
            );
            assert!(
                !resident(top - RELEASE_KEEP),
                "given back up to the top 16 KiB"
            );
            assert!(resident(top), "the top 16 KiB stay");
        }
        assert!(resident(reused_lo), "a stack in use keeps its memory");
        for &(_, top) in &shallow_ends {
            assert!(resident(top), "a shallow stack is not touched");
        }
        free(reused);
        drop(cache);
    }

    /// Whether the page at `addr` is a guard region marker (`/proc/self/pagemap` bit 58,
    /// Linux 6.14+); None when the kernel cannot tell.
    fn is_guard(addr: usize) -> Option<bool> {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open("/proc/self/pagemap").ok()?;
        let mut b = [0u8; 8];
        f.read_exact_at(&mut b, (addr / page_size() * 8) as u64)
            .ok()?;
        Some(u64::from_ne_bytes(b) >> 58 & 1 == 1)
    }

    #[test]
    fn whole_release_drops_guards_and_reuse_restores_them() {
        let _g = exclusive();
        let size = 72 * 1024;
        let n = KEEP_WARM + 300;
        scavenge(usize::MAX);
        let stacks: Vec<GStack> = (0..n).map(|_| alloc(size).expect("alloc")).collect();
        let guarded = is_guard(stacks[0].lo);
        for s in &stacks {
            // SAFETY: the top byte of a stack we own.
            unsafe { ptr::write_volatile((s.top() - 1) as *mut u8, 1) };
        }
        drop(stacks);
        // Two passes: the first marks them, the second finds them idle for a period and
        // gives back all but KEEP_WARM of them whole.
        scavenge(usize::MAX);
        scavenge(usize::MAX);
        let cold: Vec<usize> = global().class(size).cold.clone();
        assert!(cold.len() >= 300, "{} given back whole", cold.len());
        if GUARD_MODE.load(Ordering::Relaxed) == GUARD_MADVISE {
            assert!(cold.iter().all(|e| e & UNGUARDED != 0));
            if guarded == Some(true) {
                let lo = cold[0] & !ENTRY_BITS;
                assert_eq!(is_guard(lo), Some(false), "the guard marker went");
            }
        }
        // Reuse takes the warm ones first, then the cold ones, each guarded again.
        let again: Vec<GStack> = (0..n).map(|_| alloc(size).expect("alloc")).collect();
        assert!(again.iter().all(|s| !s.unguarded && !s.fresh));
        if guarded == Some(true) {
            for s in &again {
                assert_eq!(is_guard(s.lo), Some(true), "slot {:#x} has its guard", s.lo);
            }
        }
        drop(again);
    }

    #[test]
    fn altstack_is_idempotent() {
        std::thread::spawn(|| {
            ensure_altstack();
            ensure_altstack();
            // SAFETY: queries into a valid stack_t.
            let cur = unsafe {
                let mut cur: libc::stack_t = std::mem::zeroed();
                assert_eq!(libc::sigaltstack(ptr::null(), &mut cur), 0);
                cur
            };
            assert_eq!(cur.ss_flags & libc::SS_DISABLE, 0);
            assert!(cur.ss_size >= 4096);
        })
        .join()
        .expect("thread");
    }

    /// What a describer writes: `goroutine <id> "<name>"`, or `goroutine <id>`.
    fn describe_goroutine(buf: &mut [u8], id: u64, name: &[u8]) -> usize {
        let mut w = crate::util::BufWriter::new(buf);
        w.put(b"goroutine ");
        w.put_u64(id);
        if !name.is_empty() {
            w.put(b" \"");
            w.put(name);
            w.put(b"\"");
        }
        w.len()
    }

    #[test]
    fn describe_formats() {
        let mut buf = [0u8; 64];
        let n = describe_goroutine(&mut buf, 17, b"name");
        assert_eq!(&buf[..n], b"goroutine 17 \"name\"");
        let n = describe_goroutine(&mut buf, 0, b"");
        assert_eq!(&buf[..n], b"goroutine 0");
        let n = describe_goroutine(&mut buf, u64::MAX, b"");
        assert_eq!(&buf[..n], b"goroutine 18446744073709551615");
        let mut small = [0u8; 12];
        let n = describe_goroutine(&mut small, 123_456, b"x");
        assert_eq!(&small[..n], b"goroutine 12");
    }

    // ---- fork tests ------------------------------------------------------------------

    /// Runs `child` in a forked child with stderr on a pipe; returns (wait status, stderr).
    fn run_child(child: fn()) -> (c_int, String) {
        let _g = exclusive();
        let mut fds = [0 as c_int; 2];
        // SAFETY: pipe writes two fds into the array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // Hold the stack lock across the fork, so that no other thread (of other
        // modules' tests) holds it in the child; both sides unlock their copy.
        let held = global();
        // SAFETY: the child runs only this module's code and leaves with _exit; an alarm
        // ends it should it block on a lock some other thread held at the fork.
        let pid = unsafe { libc::fork() };
        drop(held);
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: in the child: redirect stderr, no core file, a time limit, run,
            // never return.
            unsafe {
                libc::dup2(fds[1], 2);
                libc::close(fds[0]);
                let no_core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                libc::alarm(20);
                let r = std::panic::catch_unwind(child);
                libc::_exit(if r.is_ok() { 100 } else { 101 });
            }
        }
        // SAFETY: close our write end; read the child's stderr; reap it.
        unsafe {
            libc::close(fds[1]);
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let r = libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
                if r <= 0 {
                    break;
                }
                out.extend_from_slice(&buf[..r as usize]);
            }
            libc::close(fds[0]);
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
            (status, String::from_utf8_lossy(&out).into_owned())
        }
    }

    fn killed_by(status: c_int) -> Option<c_int> {
        libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status))
    }

    #[inline(never)]
    fn recurse(n: usize) -> usize {
        let mut buf = [0u8; 1024];
        buf[n % 1024] = n as u8;
        black_box(&mut buf);
        if black_box(n) == usize::MAX {
            return 0;
        }
        recurse(n + 1) + buf[black_box(7)] as usize
    }

    fn describe_deep(buf: &mut [u8]) -> usize {
        describe_goroutine(buf, 7, b"deep")
    }

    fn overflow_on(size: usize) {
        install_handlers();
        ensure_altstack();
        let stack = alloc(size).expect("alloc");
        let mut co = Coroutine::with_stack(stack, |_y: &corosensei::Yielder<(), ()>, ()| {
            black_box(recurse(0))
        });
        co.resume(());
    }

    #[test]
    fn overflow_is_reported_on_recycled_slot() {
        // The slot was guarded before the fork and recycled in the child.
        {
            let _g = shared();
            drop(alloc(64 * 1024).expect("alloc"));
        }
        let (status, err) = run_child(|| {
            set_fault_describer(describe_deep);
            overflow_on(64 * 1024);
        });
        assert_eq!(killed_by(status), Some(libc::SIGABRT), "stderr: {err}");
        assert!(
            err.contains("gmp: goroutine 7 \"deep\": stack overflow (stack 64 KiB)\n"),
            "stderr: {err}"
        );
    }

    #[test]
    fn overflow_is_reported_on_fresh_slot_without_describer() {
        let (status, err) = run_child(|| {
            // The runtime may have registered its describer in the parent.
            DESCRIBER.store(ptr::null_mut(), Ordering::Release);
            overflow_on(72 * 1024)
        });
        assert_eq!(killed_by(status), Some(libc::SIGABRT), "stderr: {err}");
        assert!(
            err.contains("gmp: goroutine ?: stack overflow (stack 72 KiB)\n"),
            "stderr: {err}"
        );
    }

    #[test]
    fn mprotect_fallback_and_cap_note() {
        let (status, err) = run_child(|| {
            GUARD_MODE.store(GUARD_MPROTECT, Ordering::Relaxed);
            MPROTECT_CAP.store(3, Ordering::Relaxed);
            set_fault_describer(describe_deep);
            let held: Vec<GStack> = (0..2).map(|_| alloc(88 * 1024).expect("alloc")).collect();
            // The third guard is the last one under the cap; the fourth slot has none.
            let third = alloc(92 * 1024).expect("alloc");
            assert_eq!(GUARD_MODE.load(Ordering::Relaxed), GUARD_MPROTECT);
            let fourth = alloc(92 * 1024).expect("alloc");
            assert_eq!(GUARD_MODE.load(Ordering::Relaxed), GUARD_NONE);
            drop((held, third, fourth));
            overflow_on(88 * 1024);
        });
        assert!(
            err.contains(
                "gmp: stack guard pages unavailable past 3 stacks (vm.max_map_count); \
                 overflow is no longer detected\n"
            ),
            "stderr: {err}"
        );
        assert_eq!(killed_by(status), Some(libc::SIGABRT), "stderr: {err}");
        assert!(
            err.contains("gmp: goroutine 7 \"deep\": stack overflow (stack 88 KiB)\n"),
            "stderr: {err}"
        );
    }

    /// Sets SIGSEGV to `handler` (SIG_DFL or a function) before our handler goes on top.
    fn set_prev_segv(handler: usize, flags: c_int) {
        // SAFETY: installs a valid disposition with a zeroed (valid) sigaction.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler;
            sa.sa_flags = flags;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGSEGV, &sa, ptr::null_mut()), 0);
        }
    }

    /// Writes to an inaccessible page outside any slab.
    fn fault_outside_slabs() -> usize {
        // SAFETY: maps one inaccessible page and writes to it: a SIGSEGV outside any
        // slab, which must go where it would go without us.
        unsafe {
            let p = libc::mmap(
                ptr::null_mut(),
                4096,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            ptr::write_volatile(p.cast::<u8>(), 1);
            p as usize
        }
    }

    #[test]
    fn other_faults_reach_the_previous_handler() {
        // The test binary's previous handler is std's stack-overflow handler, which
        // resets to SIG_DFL for faults outside its guard: the fault kills by SIGSEGV.
        let (status, err) = run_child(|| {
            install_handlers();
            fault_outside_slabs();
        });
        assert_eq!(killed_by(status), Some(libc::SIGSEGV), "stderr: {err}");
        assert!(!err.contains("stack overflow"), "stderr: {err}");
    }

    #[test]
    fn other_faults_reach_the_default_action() {
        // Previous disposition SIG_DFL: a real fault and a sent SIGSEGV both kill.
        let (status, err) = run_child(|| {
            set_prev_segv(libc::SIG_DFL, 0);
            install_handlers();
            fault_outside_slabs();
        });
        assert_eq!(killed_by(status), Some(libc::SIGSEGV), "stderr: {err}");
        let (status, err) = run_child(|| {
            set_prev_segv(libc::SIG_DFL, 0);
            install_handlers();
            // SAFETY: sends ourselves a SIGSEGV (si_code <= 0: not a fault).
            unsafe { libc::raise(libc::SIGSEGV) };
        });
        assert_eq!(killed_by(status), Some(libc::SIGSEGV), "stderr: {err}");
    }

    static FAULT_ADDR: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn prev_siginfo(sig: c_int, info: *mut libc::siginfo_t, _ctx: *mut c_void) {
        // SAFETY: called by our chain with the kernel's siginfo.
        let addr = unsafe { (*info).si_addr() as usize };
        let code = if sig == libc::SIGSEGV && addr == FAULT_ADDR.load(Ordering::Relaxed) {
            42
        } else {
            43
        };
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(code) }
    }

    extern "C" fn prev_plain(sig: c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(if sig == libc::SIGSEGV { 44 } else { 45 }) }
    }

    #[test]
    fn other_faults_reach_a_previous_function() {
        let (status, err) = run_child(|| {
            let h: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = prev_siginfo;
            set_prev_segv(h as usize, libc::SA_SIGINFO);
            install_handlers();
            // The mapping is made before the fault; remember where it will be.
            // SAFETY: one inaccessible page, written below.
            let p = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    4096,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            FAULT_ADDR.store(p as usize, Ordering::Relaxed);
            // SAFETY: faults into the previous handler, which exits.
            unsafe { ptr::write_volatile(p.cast::<u8>(), 1) };
        });
        assert!(libc::WIFEXITED(status), "stderr: {err}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            42,
            "SA_SIGINFO handler got the args"
        );
        let (status, err) = run_child(|| {
            let h: extern "C" fn(c_int) = prev_plain;
            set_prev_segv(h as usize, 0);
            install_handlers();
            fault_outside_slabs();
        });
        assert!(libc::WIFEXITED(status), "stderr: {err}");
        assert_eq!(libc::WEXITSTATUS(status), 44, "plain handler called");
    }

    // ---- measurements (cargo test --release -- --ignored --nocapture) ---------------

    #[test]
    #[ignore]
    fn measure() {
        let _g = exclusive();
        let mut cache = StackCache::new(DEFAULT_STACK_SIZE);
        // Warm up.
        let warm: Vec<GStack> = (0..32).map(|_| cache.get().expect("get")).collect();
        for s in warm {
            cache.put(s);
        }
        let iters = 10_000_000u32;
        let t = Instant::now();
        for _ in 0..iters {
            let s = cache.get().expect("get");
            cache.put(black_box(s));
        }
        let per = t.elapsed().as_nanos() as f64 / f64::from(iters);
        eprintln!("cache get+put: {per:.1} ns");

        // Cross-P flow: taken from one cache, given back to another (refill from and
        // batch moves to the global list every 16 / 32 stacks).
        let mut other = StackCache::new(DEFAULT_STACK_SIZE);
        let iters = 10_000_000u32;
        let t = Instant::now();
        for _ in 0..iters {
            let s = cache.get().expect("get");
            other.put(black_box(s));
        }
        let per = t.elapsed().as_nanos() as f64 / f64::from(iters);
        eprintln!("cache A get + cache B put: {per:.1} ns");
        drop(other);

        let iters = 1_000_000u32;
        let t = Instant::now();
        for _ in 0..iters {
            free(black_box(alloc(DEFAULT_STACK_SIZE).expect("alloc")));
        }
        let per = t.elapsed().as_nanos() as f64 / f64::from(iters);
        eprintln!("global alloc+free: {per:.1} ns");

        let t = Instant::now();
        let n = 10_000;
        let fresh: Vec<GStack> = (0..n).map(|_| alloc(200 * 1024).expect("alloc")).collect();
        let per = t.elapsed().as_nanos() as f64 / n as f64;
        eprintln!("fresh slot (guard install) alloc: {per:.0} ns");
        drop(fresh);

        let n = 20_000;
        let r0 = rss_bytes();
        let p0 = vm_pte_bytes();
        let stacks: Vec<GStack> = (0..n).map(|_| cache.get().expect("get")).collect();
        let mut coros = Vec::with_capacity(n);
        for s in stacks {
            let mut co = Coroutine::with_stack(s, |y, ()| {
                y.suspend(());
            });
            co.resume(());
            coros.push(co);
        }
        let r1 = rss_bytes();
        let p1 = vm_pte_bytes();
        eprintln!(
            "per suspended coroutine: RSS {} bytes, page tables {} bytes",
            (r1 - r0) / n,
            p1.saturating_sub(p0) / n
        );
        let t = Instant::now();
        for mut co in coros {
            co.resume(());
            cache.put(co.into_stack());
        }
        eprintln!(
            "finish + put: {:.0} ns",
            t.elapsed().as_nanos() as f64 / n as f64
        );
        let s = stats();
        eprintln!("{s:?}");
    }
}

//! Where G's live: page-packed slabs whose pages go back to the kernel when every G on
//! them has sat unused on the global free list (issue 18's idle-memory target), and the
//! G half of the scavenger that does it.
//!
//! # Why not Go's way, and why not `free`
//!
//! Go never frees a G: a dead one waits on `sched.gFree` for reuse, stack and all (Go
//! frees the stack of a dead G at GC, `gfput`'s "stack is not the default size"
//! branch and `markroot`'s `gcFreeStack`; the G stays). A burst of a million goroutines
//! keeps a million G's forever: 0.3 GB here. Freeing a G with `free` is not an option
//! either: pointers to a dead G may stay around long after it ended, and may be used:
//! - a timer of a wait that ended early (`TimerAction::Wake`) keeps its `WaitRef` until
//!   its deadline, then claims the wait: a CAS on the G's wait word, which fails because
//!   the sequence number moved on (`park.rs`);
//! - sysmon's `retake` reads an M's `curg` and may set `preempt` on a G that ended just
//!   then; `gmp_dump_goroutines`, `gmp_all_asleep` and the trace read `status`, `id`,
//!   `wait` and the name of every G in `allgs`, from a copy taken under its lock;
//! - the gdb extension reads G records through `gmp_debug_allgs`.
//!
//! All of these touch only atomics (and the name's mutex) of the G, and only to read, or
//! to CAS a wait word that is no longer open.
//!
//! # Type-stable memory
//!
//! So a G's memory is never given to anything but a G (the kernel's
//! `SLAB_TYPESAFE_BY_RCU` idea): G's are carved from chunks that are never freed, each
//! page holding `page / size_of::<G>()` whole G's. What goes back to the kernel is the
//! *content* of a page, with `madvise(MADV_DONTNEED)`: the page reads as zeros from
//! then on, until it is written. A stale reader of a released G therefore reads either
//! what it read before or zeros, and
//! - `status` 0 is `IDLE`, which the dump, the trace and `all_asleep` skip (as DEAD);
//! - the wait word 0 is `seq 0, WAITING`, and no wait ever has sequence 0 (`open` starts
//!   at 1), so a stale claim still fails; a write (a failed CAS, `preempt`) only brings
//!   back a zero page;
//! - the name's mutex zeroed is an unlocked mutex holding `None`.
//!
//! A G on a released page is rebuilt in place (`ptr::write`, never a read or a drop of
//! the zeros) before it is handed out again. Its wait sequence then starts above every
//! sequence any released G ever used ([`SEQ_FLOOR`]), so a stale `WaitRef` of an older
//! goroutine that lived at the same address can never match a new wait: the test
//! `tests/g_scavenge.rs` makes stale timers fire into reused G's.
//!
//! # Which G's, when
//!
//! Only G's on the global free list (`Sched::gfree`) are taken: they are dead, their
//! stack is gone, nobody will run them, and taking them off the list under its lock
//! makes the scavenger their only owner. Of those, only the ones that sat unused for a
//! whole scavenge period (about a second, sysmon's tick): the list is LIFO, so the
//! entries below the lowest length it had since the previous scavenge were not touched
//! in between (`GFREE_LOW`, updated where `gfget` takes from the list), the same trick
//! as the stack free lists (`stack/mod.rs`, "Lazy release"). The [`KEEP_WARM`] warmest
//! of them stay, so a burst after an idle spell starts without page faults. A page goes
//! back only when every G on it is among the idle ones; the others return to the cold
//! end of the list. Their heap parts (sanitizer state, locals) are dropped first, and
//! they leave `allgs` (so the dump and the debugger no longer list them) until reused.
//! Go's scavenger (`mgcscavenge.go`) returns free pages of the heap in the background,
//! paced to a CPU budget and a retained-memory goal; this one is simpler: a whole pass
//! once a second from sysmon, only over memory idle for that long, and it backs off
//! when a pass frees nothing (a free list whose G's are spread over pages that still
//! hold live G's).
//!
//! Nothing here runs on the spawn or exit path: `gfget` pays one compare on a batch
//! refill from the global list, and G's are carved with a bump pointer under a lock,
//! a batch of up to a page's worth at a time, only when every free list is empty.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::SCHED;
use super::g::{G, GRef};
use crate::stack::Scratch;
use crate::sys::mutex::{Mutex, Rank};

/// Pages faulted in at a time, ahead of the carving (`populate`).
const POPULATE_PAGES: usize = 16;
/// Pages per chunk (1 MiB with 4 KiB pages, about 3,300 G's). Chunks are never freed.
const CHUNK_PAGES: usize = 256;
/// Idle G's on the global free list that stay resident (about 1.2 MB).
const KEEP_WARM: usize = 4096;
/// Most scavenge ticks skipped after passes that freed nothing (doubling from 1).
const MAX_BACKOFF: u32 = 64;

/// The lowest length of `Sched::gfree` since the previous scavenge (see the module
/// docs); written under the gfree lock.
static GFREE_LOW: AtomicUsize = AtomicUsize::new(0);
/// Every wait sequence number a released G ever used is at most this.
static SEQ_FLOOR: AtomicU64 = AtomicU64::new(0);
/// Pages given back so far, and G's on pages given back now.
static PAGES_RELEASED: AtomicU64 = AtomicU64::new(0);
static GS_RELEASED: AtomicUsize = AtomicUsize::new(0);
/// Ticks to skip before the next pass, and the current back-off.
static SKIP: AtomicU32 = AtomicU32::new(0);
static BACKOFF: AtomicU32 = AtomicU32::new(0);
/// A pass is running (a test may call [`scavenge`] while sysmon does).
static BUSY: AtomicBool = AtomicBool::new(false);

struct Slab {
    /// Next free slot of the page being carved, and the end of that page's slots.
    next: usize,
    end: usize,
    /// Next untouched page of the newest chunk, and that chunk's end.
    chunk_next: usize,
    chunk_end: usize,
    /// Released pages, every slot free, carved again before new pages are.
    cold: Vec<usize>,
    /// Bytes of chunks allocated.
    reserved: usize,
}

static SLAB: Mutex<Slab> = Mutex::new(
    Rank::GSlab,
    Slab {
        next: 0,
        end: 0,
        chunk_next: 0,
        chunk_end: 0,
        cold: Vec::new(),
        reserved: 0,
    },
);

use crate::sys::page_size;

// A page must hold at least one G (G's are about 300 bytes).
const _: () = assert!(std::mem::size_of::<G>() <= 4096);
const _: () = assert!(std::mem::align_of::<G>() <= 4096);

/// G's per page: whole G's only, so a page's G's are exactly those whose address is in
/// it, and a page can be given back without touching a neighbour.
fn per_page() -> usize {
    page_size() / std::mem::size_of::<G>()
}

/// Memory for up to `max` G's (at least one): `n` adjacent slots from `first` on, of one
/// page, that no live or free G uses, in a chunk that is never freed. The caller must
/// `ptr::write` a whole G into each before anything reads it. One lock for a batch:
/// `gfget` carves a P's worth at a time.
pub(super) fn alloc_slots(max: usize) -> (NonNull<G>, usize) {
    let size = std::mem::size_of::<G>();
    let mut s = SLAB.lock();
    let first = next_slot(&mut s);
    let n = ((s.end - s.next) / size).min(max.max(1));
    s.next = first.as_ptr() as usize + n * size;
    (first, n)
}

/// The next slot of the page being carved (a new page when it is used up), not yet
/// taken: the caller advances `next` past what it takes.
fn next_slot(s: &mut Slab) -> NonNull<G> {
    let size = std::mem::size_of::<G>();
    let page = page_size();
    if s.next == s.end {
        let p = match s.cold.pop() {
            Some(p) => {
                GS_RELEASED.fetch_sub(per_page(), Ordering::Relaxed);
                p
            }
            None => {
                if s.chunk_next == s.chunk_end {
                    let bytes = CHUNK_PAGES * page;
                    let c = map_chunk(bytes);
                    s.chunk_next = c;
                    s.chunk_end = c + bytes;
                    s.reserved += bytes;
                }
                let p = s.chunk_next;
                let base = s.chunk_end - CHUNK_PAGES * page;
                if (p - base) % (POPULATE_PAGES * page) == 0 {
                    populate(p, (POPULATE_PAGES * page).min(s.chunk_end - p));
                }
                s.chunk_next += page;
                p
            }
        };
        s.next = p;
        s.end = p + per_page() * size;
    }
    // SAFETY: next is inside a live chunk, hence not null.
    unsafe { NonNull::new_unchecked(s.next as *mut G) }
}

/// A new chunk of `bytes` for G's, never unmapped. A mapping of its own, not `malloc`'s:
/// a megabyte block from malloc lands in a glibc arena once its dynamic mmap threshold
/// has risen, and live chunks there pin the arena's free top (which `malloc_trim` does
/// not give back for thread arenas). LeakSanitizer does not scan anonymous mappings, so
/// the chunk is registered as a root region when it runs: the boxes a G owns (its
/// sanitizer state, its locals) stay reachable.
fn map_chunk(bytes: usize) -> usize {
    let Some(p) = crate::sys::map_anon(bytes) else {
        // As Box::new did: out of memory for a G is fatal.
        std::alloc::handle_alloc_error(
            Layout::from_size_align(bytes, page_size()).unwrap_or(Layout::new::<G>()),
        );
    };
    // Huge pages would turn one warm G into 2 MiB of RSS and split at every release.
    // SAFETY: our own fresh mapping; failure (no THP) is harmless.
    unsafe { libc::madvise(p, bytes, libc::MADV_NOHUGEPAGE) };
    register_lsan_root(p as usize, bytes);
    p as usize
}

/// Faults in `len` bytes of a chunk at `p` with one `madvise(MADV_POPULATE_WRITE)`
/// (Linux 5.14+) instead of a page fault per page as the G's on it are first written.
/// Failure (an older kernel) is harmless: the pages then fault in one by one.
fn populate(p: usize, len: usize) {
    const MADV_POPULATE_WRITE: libc::c_int = 23;
    // SAFETY: whole pages of our own chunk, not yet handed out.
    unsafe { libc::madvise(p as *mut libc::c_void, len, MADV_POPULATE_WRITE) };
}

/// `__lsan_register_root_region`, when LeakSanitizer is in the process.
fn register_lsan_root(p: usize, bytes: usize) {
    type Register = unsafe extern "C" fn(*const libc::c_void, usize);
    static REGISTER: AtomicUsize = AtomicUsize::new(1);
    let mut f = REGISTER.load(Ordering::Relaxed);
    if f == 1 {
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads.
        f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__lsan_register_root_region".as_ptr()) }
            as usize;
        REGISTER.store(f, Ordering::Relaxed);
    }
    if f != 0 {
        // SAFETY: the sanitizer runtime's entry point, with a region we own.
        unsafe { std::mem::transmute::<usize, Register>(f)(p as *const libc::c_void, bytes) };
    }
}

/// The wait word a G starts with: no wait open, and a sequence number above every one a
/// released G used (see the module docs).
pub(super) fn initial_wait() -> u64 {
    SEQ_FLOOR.load(Ordering::Acquire) << 8 | crate::sched::wait::IDLE as u64
}

/// `gfget` took from the global free list, which now holds `len`: keeps the low-water
/// mark (caller holds the gfree lock).
#[inline]
pub(super) fn note_gfree_len(len: usize) {
    if len < GFREE_LOW.load(Ordering::Relaxed) {
        GFREE_LOW.store(len, Ordering::Relaxed);
    }
}

/// Counters, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default)]
pub struct GSlabStats {
    /// Bytes of G chunks allocated (virtual; never freed).
    pub reserved: usize,
    /// Pages given back to the kernel so far.
    pub pages_released: u64,
    /// G's on released pages now (not yet carved again).
    pub gs_released: usize,
}

pub(crate) fn stats() -> GSlabStats {
    GSlabStats {
        reserved: SLAB.lock().reserved,
        pages_released: PAGES_RELEASED.load(Ordering::Relaxed),
        gs_released: GS_RELEASED.load(Ordering::Relaxed),
    }
}

/// One pass of the G scavenger (sysmon, about once a second): gives back the pages
/// whose every G sat unused on the global free list since the previous pass, past the
/// [`KEEP_WARM`] warmest. Returns how many pages it gave back.
pub(crate) fn scavenge() -> usize {
    if BUSY.swap(true, Ordering::Acquire) {
        return 0;
    }
    let n = scavenge_pass();
    BUSY.store(false, Ordering::Release);
    n
}

fn scavenge_pass() -> usize {
    let skip = SKIP.load(Ordering::Relaxed);
    if skip > 0 {
        SKIP.store(skip - 1, Ordering::Relaxed);
        return 0;
    }
    let per = per_page();
    let page = page_size();
    // The scratch lists are mappings of their own (`stack/scratch.rs`: from malloc they
    // would stay resident in a glibc arena after the pass).
    let mut cand = {
        let mut gl = SCHED.gfree.lock();
        let idle = GFREE_LOW.load(Ordering::Relaxed).min(gl.len());
        let n = idle.saturating_sub(KEEP_WARM);
        let taken = if n >= per {
            Scratch::with_capacity(n).map(|mut c| {
                gl.drain(..n).for_each(|g| c.push(g.as_ptr() as usize));
                c
            })
        } else {
            None
        };
        GFREE_LOW.store(gl.len(), Ordering::Relaxed);
        match taken {
            Some(c) => c,
            None => return 0,
        }
    };
    // Outside the lock: these G's are on no list, so nobody else can take them.
    cand.sort_unstable();
    let n = cand.len();
    let (Some(mut keep), Some(mut gone), Some(mut pages)) = (
        Scratch::with_capacity(n),
        Scratch::with_capacity(n),
        Scratch::with_capacity(n / per + 1),
    ) else {
        put_back(&cand);
        return 0;
    };
    let mut seq_max = 0u64;
    let mut i = 0;
    while i < n {
        let pg = cand[i] & !(page - 1);
        let mut j = i + 1;
        while j < n && cand[j] & !(page - 1) == pg {
            j += 1;
        }
        if j - i == per {
            for &a in &cand[i..j] {
                let g = gref(a);
                seq_max = seq_max.max(g.get().wait.load(Ordering::Acquire) >> 8);
                // SAFETY: g is dead and on no list: the scavenger owns it. Its heap parts
                // go now, since its memory is about to read as zeros.
                let inner = unsafe { g.inner() };
                inner.san = None;
                inner.locals = None;
                inner.entry = None;
                inner.call = None;
                if let Some(s) = inner.stack.take() {
                    crate::stack::free(s);
                }
                g.get().set_name(None);
                gone.push(a);
            }
            pages.push(pg);
        } else {
            cand[i..j].iter().for_each(|&a| keep.push(a));
        }
        i = j;
    }
    drop(cand);
    if !pages.is_empty() {
        // Before any of these G's can be carved again (they reach SLAB below).
        SEQ_FLOOR.fetch_max(seq_max, Ordering::AcqRel);
        // They leave allgs first, so the dump and debuggers stop listing them.
        {
            let mut all = SCHED.allgs.lock();
            all.retain(|g| gone.binary_search(&(g.as_ptr() as usize)).is_err());
            shrink(&mut all);
            if let Some(h) = super::hooks::get() {
                (h.allgs_grew)(&all);
            }
        }
        release_pages(&pages, page);
        PAGES_RELEASED.fetch_add(pages.len() as u64, Ordering::Relaxed);
        GS_RELEASED.fetch_add(gone.len(), Ordering::Relaxed);
        let mut s = SLAB.lock();
        s.cold.extend_from_slice(&pages);
    }
    put_back(&keep);
    if pages.is_empty() {
        let b = (BACKOFF.load(Ordering::Relaxed) * 2).clamp(1, MAX_BACKOFF);
        BACKOFF.store(b, Ordering::Relaxed);
        SKIP.store(b, Ordering::Relaxed);
    } else {
        BACKOFF.store(0, Ordering::Relaxed);
    }
    pages.len()
}

/// A G address from a scratch list (which holds only G's taken off the free list).
fn gref(a: usize) -> GRef {
    // SAFETY: every scratch entry is the address of a G (non-null).
    GRef(unsafe { NonNull::new_unchecked(a as *mut G) })
}

/// Returns idle G's to the cold end of the global free list (they stay idle), and lets
/// the list's buffer shrink if a burst grew it.
fn put_back(gs: &[usize]) {
    let mut gl = SCHED.gfree.lock();
    if !gs.is_empty() {
        gl.splice(0..0, gs.iter().map(|&a| gref(a)));
    }
    shrink(&mut gl);
    GFREE_LOW.store(gl.len(), Ordering::Relaxed);
}

/// After a scavenge gave memory back: returns the free memory of the C heap too.
/// The scavengers' own scratch lists and the free lists and allgs they shrank (8 MB each
/// for a million entries) were freed to glibc's per-thread arenas, which keep freed
/// memory resident (measured: 55-75 MB of them after a million goroutines ended).
/// `malloc_trim(0)` gives back every whole free page of every arena. Not on any hot path:
/// only after a pass that released something, about once a second at most.
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it takes the arenas' own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Gives back the content of `pages` (sorted), one `madvise` per run of adjacent ones.
fn release_pages(pages: &[usize], page: usize) {
    let mut i = 0;
    while i < pages.len() {
        let mut j = i + 1;
        while j < pages.len() && pages[j] == pages[j - 1] + page {
            j += 1;
        }
        // SAFETY: whole pages of live chunks holding only G's that the scavenger owns
        // (off every list, out of allgs); stale readers of them are fine with zeros
        // (module docs). Failure leaves the memory as it was, which is harmless.
        unsafe {
            libc::madvise(
                pages[i] as *mut libc::c_void,
                (j - i) * page,
                libc::MADV_DONTNEED,
            )
        };
        i = j;
    }
}

/// A vector that shrank a lot gives its buffer back (the free list and allgs of a
/// million G's are 8 MB each).
fn shrink(v: &mut Vec<GRef>) {
    if v.capacity() > 4 * v.len().max(1024) {
        v.shrink_to(2 * v.len().max(1024));
    }
}

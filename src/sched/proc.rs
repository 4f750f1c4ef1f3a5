//! Goroutines (Go's `newproc`, `gfput`/`gfget`, `goidcache`, `LockOSThread`,
//! `runtime.main` in `runtime/proc.go`): spawning, the free lists of G's, ids in
//! batches per P, live counts that never under-count, yielding, thread locking, and
//! the main goroutine of `gmp_main`.

use super::SCHED;
use super::cswitch;
use super::g::{self, DEAD, Entry, G, GRef, RUNNABLE, Switch};
use super::idle::{handoffp, pidleget, stoplockedm, wakep};
use super::lifecycle::{DRAINING, is_forked_child};
use super::m::{self, M, MRef};
use super::p::P;
use super::procresize::{acquirep, releasep};
use super::queue::{globrunqput, runqput_wake};
use super::schedule::{begin_run, execute, trace_instant};
use crate::error::{self, Code};
use std::sync::atomic::{AtomicBool, Ordering};

/// Frees a finished G's stack and puts the G on a free list (p's, else global).
pub(crate) fn gfree(g: GRef, p: Option<&'static P>) {
    // SAFETY: the G finished; we own it.
    let stack = unsafe { g.inner() }
        .stack
        .take()
        .unwrap_or_else(|| crate::fatal("dead G without a stack"));
    match p {
        // SAFETY: our M holds p.
        Some(p) => unsafe { p.local() }.stacks.put(stack),
        None => crate::stack::free(stack),
    }
    gput_dead(g, p);
}

/// Puts a finished G whose stack is gone (freed, or handed on by [`goexit`]) on a free
/// list (p's, else global). Only what a later spawn or a reader of dead G's relies on is
/// reset, and a field already right is not written again. Inline in `goexit`, where
/// it is the end of every goroutine run in place.
#[inline(always)]
fn gput_dead(g: GRef, p: Option<&'static P>) {
    let gs = g.get();
    let main = g.as_ptr() == SCHED.main_g.load(Ordering::Relaxed);
    // Only line 0 of the G is read (see G's layout): the hooks and the lock count
    // (line 2 and 3) are looked at only when `hooked` or `lockedm` say they are set.
    if gs.hooked.load(Ordering::Relaxed) {
        // SAFETY: the G finished; we own it.
        unsafe { g.inner() }.hooks = None;
        gs.hooked.store(false, Ordering::Relaxed);
    }
    gs.set_name(None);
    if gs.since.load(Ordering::Relaxed) != 0 {
        gs.since.store(0, Ordering::Relaxed);
    }
    if !gs.home.load(Ordering::Relaxed).is_null() {
        gs.home.store(std::ptr::null_mut(), Ordering::Relaxed);
    }
    if !gs.lockedm.load(Ordering::Relaxed).is_null() {
        // SAFETY: as above.
        unsafe { g.inner() }.lock_count = 0;
        gs.lockedm.store(std::ptr::null_mut(), Ordering::Relaxed);
    }
    if gs.preempt.load(Ordering::Relaxed) {
        gs.preempt.store(false, Ordering::Relaxed);
    }
    g.set_status(DEAD);
    count_ended(p);
    match p {
        Some(p) => {
            // SAFETY: our M holds p.
            let local = unsafe { p.local() };
            local.gfree.push(g);
            if local.gfree.len() > 64 {
                gfree_spill(local);
            }
        }
        None => SCHED.gfree.lock().push(g),
    }
    if main {
        main_ended(g);
    }
}

/// Moves half of a P's free G's to the global list (past 64 of them).
#[cold]
#[inline(never)]
fn gfree_spill(local: &mut super::p::PLocal) {
    let mut gl = SCHED.gfree.lock();
    gl.extend(local.gfree.drain(32..));
}

/// The end of a goroutine that ran on an M, on its own stack (`g::g_entry`), when
/// nothing stands in the way of the direct switch (`schedule::next_direct`'s
/// conditions, checked the same way): takes our P's next G. If that G never ran and
/// wants a stack of our size, it gets ours, with no switch at all: g is freed and
/// the new one is returned to be run in place, on the frame g ran in. Otherwise we
/// switch straight to it (as `switch_from_g` does), and it frees g. None: the caller
/// switches away with `Switch::Exit` as usual (a home, a locked G or M, the tracer, the
/// sanitizers, timers, the global queue's turn, or an empty queue).
///
/// Go ends every goroutine on g0 (`goexit0` -> `schedule`) and starts the next with a
/// `gogo`; a finished goroutine's stack then goes to the next one through `gfput` /
/// `gfget` at its spawn. Here the stack is taken at first run (`start_stack`), so a
/// burst of spawns queues only G's; handing the stack over at exit keeps that, and
/// makes create + run + finish of a fresh goroutine cost no stack switch and no trip
/// through the stack cache (callgrind: see the commit that added this).
#[inline(never)]
pub(super) fn goexit(g: GRef) -> Option<GRef> {
    if crate::sys::sanitizer::on() {
        return None;
    }
    let c = g::ctx();
    let mp = c.m.get();
    let gs = g.get();
    if mp.is_null()
        || !gs.home.load(Ordering::Relaxed).is_null()
        || !gs.lockedm.load(Ordering::Relaxed).is_null()
    {
        return None;
    }
    // SAFETY: M's are never freed while the runtime runs; this is our own.
    let m = unsafe { &*mp };
    if !m.lockedg.load(Ordering::Relaxed).is_null() || super::trace::on() {
        return None;
    }
    let p = m.p()?;
    if SCHED.state.load(Ordering::Acquire) == super::ST_SHUTDOWN
        || p.id >= SCHED.procs()
        || p.timers.next_when() != super::timers::NONE
        || super::findrunnable::global_queue_turn(p)
    {
        return None;
    }
    let (g2, inherit) = p.runq.get()?;
    let g2 = GRef(g2);
    if !g2.get().lockedm.load(Ordering::Acquire).is_null() {
        // For its own M: the scheduler loop hands it over.
        super::queue::runqput(p, g2, true, None);
        return None;
    }
    // SAFETY: we own g (it ran here and finished) and g2 (dequeued).
    let (inner, inner2) = unsafe { (g.inner(), g2.inner()) };
    let in_place = inner2.stack.is_none()
        && inner
            .stack
            .as_ref()
            .is_some_and(|s| s.size() == inner2.stack_size);
    if inner2.stack.is_none() && !in_place && !start_stack(g2, Some(p)) {
        // No memory for a stack now: the scheduler loop deals with it.
        super::queue::runqput(p, g2, true, None);
        return None;
    }
    begin_run(m, p, g2, inherit);
    c.g.set(g2.as_ptr());
    if in_place {
        inner2.stack = inner.stack.take();
        gput_dead(g, Some(p));
        return Some(g2);
    }
    // SAFETY: as `switch_from_g`'s direct case: g2 is ours with a saved context; g's
    // context is never resumed (it is dead once g2 has freed it).
    unsafe {
        cswitch::switch_g(
            &mut inner.sp,
            g,
            Some(g2),
            inner2.sp,
            g::pending(g, g::Switch::Exit),
        )
    };
    crate::fatal("a finished goroutine was resumed");
}

/// Undoes a spawn that was refused before the G was published (no stack yet).
pub(super) fn unspawn(g: GRef) {
    // SAFETY: the G was never queued: still ours.
    let inner = unsafe { g.inner() };
    inner.entry = None;
    inner.hooks = None;
    g.get().hooked.store(false, Ordering::Relaxed);
    g.get().set_name(None);
    g.set_status(DEAD);
    count_ended(None);
    SCHED.gfree.lock().push(g);
}

/// A G for a spawn (Go's `gfget`): from p's free list, inline; the rest out of line.
#[inline]
pub(super) fn gfget(p: Option<&'static P>) -> GRef {
    if let Some(p) = p {
        // SAFETY: our M holds p.
        let free = &mut unsafe { p.local() }.gfree;
        if let Some(g) = free.pop() {
            // The next spawn's G was most likely freed on another P (a batch through
            // the global list): ask for its lines now, for writing.
            if let Some(&next) = free.last() {
                g::prefetch_for_spawn(next);
            }
            return g;
        }
    }
    gfget_slow(p)
}

/// G's per batch carved into a P's empty free list (a page holds about 13).
const GCARVE_BATCH: usize = 16;

/// p's free list is empty: a batch from the global list, else new G's carved in a batch
/// (one slab lock and one allgs lock for up to a page of them). Without a P: one G from
/// the global list, else a new one.
#[cold]
#[inline(never)]
fn gfget_slow(p: Option<&'static P>) -> GRef {
    let mut one = Vec::new();
    let fresh = match p {
        Some(p) => {
            // SAFETY: our M holds p.
            let local = unsafe { p.local() };
            {
                let mut gl = SCHED.gfree.lock();
                let k = gl.len().saturating_sub(32);
                local.gfree.extend(gl.drain(k..));
                super::gslab::note_gfree_len(k);
            }
            if let Some(g) = local.gfree.pop() {
                return g;
            }
            G::alloc_batch(&mut local.gfree, GCARVE_BATCH);
            &local.gfree[..]
        }
        None => {
            let mut gl = SCHED.gfree.lock();
            if let Some(g) = gl.pop() {
                super::gslab::note_gfree_len(gl.len());
                return g;
            }
            drop(gl);
            G::alloc_batch(&mut one, 1);
            &one[..]
        }
    };
    let mut all = SCHED.allgs.lock();
    all.extend_from_slice(fresh);
    if let Some(h) = super::hooks::get() {
        (h.allgs_grew)(&all);
    }
    drop(all);
    match p {
        // SAFETY: our M holds p; alloc_batch pushed at least one.
        Some(p) => unsafe { p.local() }
            .gfree
            .pop()
            .unwrap_or_else(|| unreachable!()),
        None => one[0],
    }
}

/// Set while stacks cannot be allocated; `gmp_go` returns GMP_ENOMEM meanwhile.
pub(super) static STACK_OOM: AtomicBool = AtomicBool::new(false);

pub(super) static STACK_OOM_WARNED: AtomicBool = AtomicBool::new(false);

/// Gives a G that has never run its stack and start context. False when no stack could
/// be had (the G is left as it was). A stack of the default size from our P's cache is
/// the inline case; the rest (a refill, a first guard, another size, no memory) is out
/// of line.
#[inline]
pub(crate) fn start_stack(g: GRef, p: Option<&'static P>) -> bool {
    // SAFETY: the caller owns g (it just dequeued it).
    let inner = unsafe { g.inner() };
    if let Some(p) = p {
        if inner.stack_size == SCHED.stack_size.load(Ordering::Relaxed) {
            // SAFETY: our M holds p.
            if let Some(stack) = unsafe { p.local() }.stacks.pop_ready() {
                give_stack(g, stack);
                return true;
            }
        }
    }
    start_stack_slow(g, p)
}

#[cold]
#[inline(never)]
fn start_stack_slow(g: GRef, p: Option<&'static P>) -> bool {
    // SAFETY: the caller owns g (it just dequeued it).
    let size = unsafe { g.inner() }.stack_size;
    let stack = match p {
        Some(p) if size == SCHED.stack_size.load(Ordering::Relaxed) => {
            // SAFETY: our M holds p.
            unsafe { p.local() }.stacks.get()
        }
        _ => crate::stack::alloc(size),
    };
    match stack {
        Ok(stack) => {
            give_stack(g, stack);
            true
        }
        Err(e) => {
            STACK_OOM.store(true, Ordering::Relaxed);
            if !STACK_OOM_WARNED.swap(true, Ordering::Relaxed) {
                eprintln!("gmp: cannot allocate a goroutine stack ({e}); goroutines wait to start");
            }
            false
        }
    }
}

/// Makes `stack` g's, with the start frame on it (g owned by the caller, never run).
#[inline(always)]
fn give_stack(g: GRef, stack: crate::stack::GStack) {
    if STACK_OOM.load(Ordering::Relaxed) {
        STACK_OOM.store(false, Ordering::Relaxed);
    }
    // SAFETY: the caller owns g.
    let inner = unsafe { g.inner() };
    // SAFETY: a stack of ours, not in use.
    inner.sp = unsafe { cswitch::init(stack.base(), g.as_ptr()) };
    inner.stack = Some(stack);
}

/// What a new goroutine gets besides its entry.
#[derive(Default)]
pub(crate) struct Spawn<'a> {
    pub(crate) stack_size: usize,
    pub(crate) name: Option<&'a std::ffi::CStr>,
    pub(crate) hooks: Option<g::Hooks>,
    pub(crate) home: Option<&'a super::home::Home>,
    pub(crate) spawn_pc: u64,
    /// `Entry::Inline`'s writer: `init(arg, id, ctx)` fills the G's argument bytes just
    /// before the G is queued (a spawn that fails never calls it); hooks without a
    /// context get the argument as theirs (`gmp_go_inline`).
    pub(crate) init: Option<(InlineInit, *mut libc::c_void)>,
}

/// See [`Spawn::init`].
pub(crate) type InlineInit = unsafe extern "C" fn(*mut libc::c_void, u64, *mut libc::c_void);

/// Ids come in batches per P (Go's `_GoidCacheBatch`), so spawns on different P's do
/// not fight over `sched.goidgen`. Ids stay unique, not ordered across P's.
pub(super) const GOID_BATCH: u64 = 16;

/// A new goroutine id. `p`: the P our M holds, if any.
pub(super) fn new_goid(p: Option<&P>) -> u64 {
    let Some(p) = p else {
        return SCHED.goidgen.fetch_add(1, Ordering::Relaxed) + 1;
    };
    // SAFETY: our M holds p.
    let local = unsafe { p.local() };
    if local.goid_next == local.goid_end {
        local.goid_next = SCHED.goidgen.fetch_add(GOID_BATCH, Ordering::Relaxed) + 1;
        local.goid_end = local.goid_next + GOID_BATCH;
    }
    let id = local.goid_next;
    local.goid_next += 1;
    id
}

/// Counts a new goroutine: on the P our M holds (holder-only stores, no RMW), else on
/// the global counters.
pub(super) fn count_created(p: Option<&P>) {
    match p {
        Some(p) => {
            p.live
                .store(p.live.load(Ordering::Relaxed) + 1, Ordering::Release);
            p.created
                .store(p.created.load(Ordering::Relaxed) + 1, Ordering::Release);
        }
        None => {
            SCHED.ngoroutines.fetch_add(1, Ordering::SeqCst);
            SCHED.goroutines_created.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Counts an ended goroutine (see count_created).
pub(super) fn count_ended(p: Option<&P>) {
    match p {
        Some(p) => p
            .live
            .store(p.live.load(Ordering::Relaxed) - 1, Ordering::Release),
        None => {
            SCHED.ngoroutines.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Goroutines created so far (all P's and the global counter).
pub(crate) fn created_count() -> u64 {
    let mut n = SCHED.goroutines_created.load(Ordering::SeqCst);
    for i in 0..SCHED.nallp.load(Ordering::Acquire) {
        if let Some(p) = SCHED.p(i) {
            n += p.created.load(Ordering::Acquire);
        }
    }
    n
}

/// Live goroutines. The per-P counts are read one after the other while goroutines
/// come, go and move, so a plain sum could miss a creation whose end it saw elsewhere;
/// the sum is taken again until no goroutine was created meanwhile. Then it can only
/// over-count (an end it did not see yet), never report 0 while one lives: shutdown and
/// checkdead rely on that. Ends seen without their creation imply the creation is
/// visible too (the G moved between P's through a run queue's release/acquire).
pub(crate) fn goroutine_count() -> i64 {
    stable_sum(created_count, || {
        let mut n = SCHED.ngoroutines.load(Ordering::SeqCst);
        for i in 0..SCHED.nallp.load(Ordering::Acquire) {
            if let Some(p) = SCHED.p(i) {
                n += p.live.load(Ordering::Acquire);
            }
        }
        n
    })
}

/// `live()` taken until `created()` (monotonic) did not move across it (see
/// goroutine_count; loom-checked in `count_loom`).
pub(super) fn stable_sum(created: impl Fn() -> u64, live: impl Fn() -> i64) -> i64 {
    loop {
        let c1 = created();
        let n = live();
        if created() == c1 {
            return n.max(0);
        }
        std::hint::spin_loop();
    }
}

/// A loom model of `stable_sum` over per-P counters: one goroutine X lives throughout
/// (counted on P1); meanwhile A is created on P0, moves to P1 and ends there. A plain
/// sum of P0 then P1 can read 0 (P0 before A's creation, P1 after its end); the stable
/// sum never reads less than 1. Run with
/// `RUSTFLAGS="--cfg loom" cargo test --release --lib sched::proc::count_loom`.
#[cfg(all(test, loom))]
mod count_loom {
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicI64, AtomicU64, Ordering};

    #[test]
    fn stable_sum_never_undercounts() {
        loom::model(|| {
            let live0 = Arc::new(AtomicI64::new(0));
            let live1 = Arc::new(AtomicI64::new(1)); // X
            let created0 = Arc::new(AtomicU64::new(0));
            let created1 = Arc::new(AtomicU64::new(1));
            let moved = Arc::new(AtomicU64::new(0));
            let t = {
                let (live0, live1, created0, moved) = (
                    live0.clone(),
                    live1.clone(),
                    created0.clone(),
                    moved.clone(),
                );
                loom::thread::spawn(move || {
                    // P0's holder creates A (count_created)...
                    live0.store(live0.load(Ordering::Relaxed) + 1, Ordering::Release);
                    created0.store(created0.load(Ordering::Relaxed) + 1, Ordering::Release);
                    // ...A moves to P1 through a run queue (release/acquire)...
                    moved.store(1, Ordering::Release);
                })
            };
            let t2 = {
                let (live1, moved) = (live1.clone(), moved.clone());
                loom::thread::spawn(move || {
                    // ...and P1's holder ends it (count_ended).
                    if moved.load(Ordering::Acquire) == 1 {
                        live1.store(live1.load(Ordering::Relaxed) - 1, Ordering::Release);
                    }
                })
            };
            let n = super::stable_sum(
                || created0.load(Ordering::Acquire) + created1.load(Ordering::Acquire),
                || {
                    let a = live0.load(Ordering::Acquire);
                    // Others run between two P's reads. Without this explicit point
                    // loom 0.7 never scheduled them there; with it, the model fails
                    // for a plain sum (checked) and passes for stable_sum.
                    loom::thread::yield_now();
                    a + live1.load(Ordering::Acquire)
                },
            );
            assert!(n >= 1, "read {n} while X lived");
            t.join().unwrap();
            t2.join().unwrap();
        });
    }
}

/// Creates a goroutine running `entry` and makes it runnable (Go's `newproc`).
///
/// Returns the new goroutine's id, read before the G is published: once queued it may
/// run to its end and be reused by another spawn before this returns.
pub(crate) fn newproc(entry: Entry, sp: Spawn<'_>) -> Result<u64, Code> {
    super::ensure_started()?;
    let p = m::current().and_then(|m| m.get().p());
    let default = SCHED.stack_size.load(Ordering::Relaxed);
    let size = if sp.stack_size == 0 {
        default
    } else {
        crate::stack::round_size(sp.stack_size).map_err(|_| error::EINVAL)?
    };
    // The stack is taken when the goroutine first runs (`start_stack`), not here: a
    // burst of spawns then queues only G's, and each one that runs to completion hands
    // its (cache-hot) stack to the next. Go must allocate at spawn; we need not.
    if STACK_OOM.load(Ordering::Relaxed) {
        return Err(error::ENOMEM);
    }
    let g = gfget(p);
    // SAFETY: a fresh G from the free list is owned by us until we queue it.
    let inner = unsafe { g.inner() };
    // A G from a free list has no entry, hooks nor name, lock count 0 and `since` 0
    // (`gput_dead`, `unspawn`, `G::init`): only what a spawn sets is written, so that a
    // spawn touches only the G's first two lines (see G's layout), which gfget asked
    // for ahead (last written by the P that freed it, most of the time).
    debug_assert!(inner.entry.is_none() && inner.hooks.is_none() && inner.lock_count == 0);
    // SAFETY: the old value is None (above): nothing to drop.
    unsafe { std::ptr::write(&mut inner.entry, Some(entry)) };
    if let Some(h) = sp.hooks {
        // A home's goroutines run on a thread the program owns, whose resting state
        // may not be zero: every resume calls (gmp_switch_hooks' contract).
        inner.hooks = Some(if sp.home.is_some() { h.always() } else { h });
        g.get().hooked.store(true, Ordering::Relaxed);
    }
    inner.stack_size = size;
    let id = new_goid(p);
    let gs = g.get();
    gs.id.store(id, Ordering::Relaxed);
    if sp.name.is_some() {
        gs.set_name(sp.name);
    }
    gs.spawn_pc.store(sp.spawn_pc, Ordering::Relaxed);
    if crate::sys::sanitizer::on() {
        super::sanitizer::g_created(g);
    }
    count_created(p);
    if p.is_none() && DRAINING.load(Ordering::SeqCst) && g::current().is_none() {
        // A spawn from outside the runtime while gmp_shutdown drains: refused, so
        // shutdown cannot end with it queued and never run. (The count above and this
        // load pair with shutdown's store and count: one of the two sees the other.)
        unspawn(g);
        return Err(error::ESHUTDOWN);
    }
    if let Some((init, ctx)) = sp.init {
        let arg = gs.arg.get().cast::<libc::c_void>();
        // SAFETY: the spawner's writer, given the argument bytes of a G still ours.
        unsafe { init(arg, id, ctx) };
        if let Some(h) = inner.hooks.as_mut() {
            if h.ctx.is_null() {
                h.ctx = arg;
            }
            if h.rec.is_null() {
                h.rec = arg as *const [u64; 2]; // lazy with the argument as ctx
            }
        }
    }
    if let Some(h) = sp.home {
        gs.home
            .store(h as *const _ as *mut super::home::Home, Ordering::Release);
        g.set_status(RUNNABLE);
        // A member before it is queued: the home thread may run it to its end at once.
        h.push_new(g);
        return Ok(id);
    }
    g.set_status(RUNNABLE);
    if super::trace::on() {
        trace_instant(p, "create", g);
    }
    if p.is_none() {
        super::sysmon::FOREIGN_SEEN.store(true, Ordering::Relaxed);
    }
    runqput_wake(p, g);
    Ok(id)
}

/// `gmp_gosched`: yield the P to other goroutines. No-op on a foreign thread.
pub(crate) fn gosched() {
    if is_forked_child() {
        return; // the child has none of the M's that would run the others
    }
    if let Some(g) = g::current() {
        g.get().preempt.store(false, Ordering::Relaxed);
        g::switch_out(g, Switch::Gosched);
    }
}

/// `gmp_preempt_point`: yield if sysmon asked this goroutine to.
#[inline]
pub(crate) fn preempt_check() {
    if let Some(g) = g::current() {
        if g.get().preempt.load(Ordering::Relaxed) {
            gosched();
        }
    }
}

/// `gmp_lock_os_thread`: wire the calling goroutine to its M (nests).
pub(crate) fn lock_os_thread() {
    let Some(g) = g::current() else { return };
    let Some(mm) = m::current() else {
        // A home goroutine is bound to its thread already.
        return;
    };
    // SAFETY: the running goroutine owns its inner state.
    let inner = unsafe { g.inner() };
    inner.lock_count += 1;
    g.get().lockedm.store(mm.0.as_ptr(), Ordering::Release);
    mm.get().lockedg.store(g.as_ptr(), Ordering::Release);
}

/// `gmp_unlock_os_thread`: undo one lock; unlocked when the count reaches zero.
pub(crate) fn unlock_os_thread() {
    let Some(g) = g::current() else { return };
    let Some(mm) = m::current() else { return };
    // SAFETY: the running goroutine owns its inner state.
    let inner = unsafe { g.inner() };
    if inner.lock_count == 0 {
        return;
    }
    inner.lock_count -= 1;
    if inner.lock_count == 0 {
        g.get()
            .lockedm
            .store(std::ptr::null_mut(), Ordering::Release);
        // gmp_main's thread keeps its lockedg: it runs no other goroutine, and leaves
        // the main one to the runtime's M's at its next switch (serve_main).
        if !mm.get().foreign {
            mm.get()
                .lockedg
                .store(std::ptr::null_mut(), Ordering::Release);
        }
    }
}

/// Runs `entry` as the main goroutine, starting on the calling thread (API.md
/// `gmp_main`), and returns here once it has ended.
pub(crate) fn run_main(entry: Entry, sp: Spawn<'_>) -> Code {
    if let Err(e) = super::ensure_started() {
        return e;
    }
    if g::current().is_some() || m::current().is_some() || super::home::thread_home().is_some() {
        return error::EALREADY;
    }
    if SCHED.main_running.swap(true, Ordering::SeqCst) {
        return error::EALREADY;
    }
    let id = SCHED.mnext.fetch_add(1, Ordering::Relaxed) + 1;
    let mm = M::alloc(id, true);
    SCHED.allm.lock().push(mm);
    m::set_current(Some(mm));
    crate::stack::ensure_altstack();
    SCHED.main_deadlocked.store(false, Ordering::SeqCst);
    let g = match newproc_main(entry, sp, mm) {
        Ok(g) => g,
        Err(e) => {
            m::set_current(None);
            SCHED.main_running.store(false, Ordering::SeqCst);
            return e;
        }
    };
    let m = mm.get();
    SCHED.main_m.store(mm.0.as_ptr(), Ordering::Release);
    SCHED.main_g.store(g.as_ptr(), Ordering::Release);
    // Take an idle P directly if there is one, else queue the G (held for this M until it
    // starts: the M that dequeues it hands us its P, as for a locked G).
    let p = {
        let mut l = SCHED.locked();
        let p = pidleget(&mut l);
        if p.is_none() {
            globrunqput(&mut l, g);
        }
        p
    };
    let started = match p {
        Some(p) => {
            acquirep(m, p);
            true
        }
        None => {
            wakep();
            stoplockedm(mm)
        }
    };
    if started {
        serve_main(mm, g);
    }
    SCHED.main_m.store(std::ptr::null_mut(), Ordering::Release);
    if let Some(p) = releasep(m) {
        handoffp(p);
    }
    m.lockedg.store(std::ptr::null_mut(), Ordering::Release);
    m::set_current(None);
    let dead = SCHED.main_deadlocked.swap(false, Ordering::SeqCst);
    if dead {
        // It stays parked for good (abandon_main): no longer counted, nor waited for.
        SCHED.main_g.store(std::ptr::null_mut(), Ordering::Release);
        SCHED.ngoroutines.fetch_sub(1, Ordering::SeqCst);
    }
    SCHED.main_running.store(false, Ordering::SeqCst);
    if dead { error::EDEADLK } else { 0 }
}

/// The calling thread's part in gmp_main, holding a P: runs the main goroutine g while it
/// is locked here (or has not yet switched out), then waits for it to end or for
/// checkdead to give up on it. `m.lockedg` stays g meanwhile, so the goroutine's
/// switches come back here (next_direct runs no other G on this M).
pub(super) fn serve_main(mm: MRef, g: GRef) {
    let m = mm.get();
    // Held for us only until it runs here (run_main): from now on it is locked only if
    // it locks itself.
    g.get()
        .lockedm
        .store(std::ptr::null_mut(), Ordering::Release);
    loop {
        if execute(mm, g, false) || SCHED.main_g.load(Ordering::Acquire) != g.as_ptr() {
            return; // it ended, here or (after a park) already on another M
        }
        if std::ptr::eq(g.get().lockedm.load(Ordering::Acquire), m) {
            // Locked to this thread: sleep until it is runnable and we get a P for it.
            if !stoplockedm(mm) {
                return; // checkdead gave up on it
            }
            continue;
        }
        // Unlocked (and maybe running elsewhere already): an ordinary goroutine now.
        m.lockedg.store(std::ptr::null_mut(), Ordering::Release);
        if let Some(p) = releasep(m) {
            handoffp(p);
        }
        while SCHED.main_g.load(Ordering::Acquire) == g.as_ptr()
            && !SCHED.main_deadlocked.load(Ordering::SeqCst)
        {
            m.sleep();
        }
        return;
    }
}

/// Called by gfree for the main goroutine, after it is counted as ended: tells
/// gmp_main's thread, wherever the goroutine ended.
#[cold]
pub(super) fn main_ended(g: GRef) {
    if SCHED
        .main_g
        .compare_exchange(
            g.as_ptr(),
            std::ptr::null_mut(),
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .is_ok()
    {
        let mp = SCHED.main_m.load(Ordering::Acquire);
        if !mp.is_null() {
            // SAFETY: M's are never freed while the runtime runs.
            unsafe { &*mp }.wakeup();
        }
    }
}

/// A G for gmp_main, not queued: held for mm (`lockedm`, with no lock count) until it
/// first runs there, so that it starts on the calling thread.
pub(super) fn newproc_main(entry: Entry, opts: Spawn<'_>, mm: MRef) -> Result<GRef, Code> {
    let size = if opts.stack_size == 0 {
        SCHED.stack_size.load(Ordering::Relaxed)
    } else {
        crate::stack::round_size(opts.stack_size).map_err(|_| error::EINVAL)?
    };
    let stack = crate::stack::alloc(size).map_err(|_| error::ENOMEM)?;
    let g = gfget(None);
    // SAFETY: a fresh stack of ours, not in use.
    let sp = unsafe { cswitch::init(stack.base(), g.as_ptr()) };
    // SAFETY: a fresh G is ours until queued.
    let inner = unsafe { g.inner() };
    inner.sp = sp;
    inner.stack = Some(stack);
    inner.entry = Some(entry);
    // gmp_main's goroutine may run on the caller's thread, whose resting state may not
    // be zero: every resume calls (gmp_switch_hooks' contract).
    inner.hooks = opts.hooks.map(g::Hooks::always);
    g.get()
        .hooked
        .store(opts.hooks.is_some(), Ordering::Relaxed);
    inner.lock_count = 0;
    inner.stack_size = size;
    g.get().id.store(new_goid(None), Ordering::Relaxed);
    g.get().set_name(Some(opts.name.unwrap_or(c"main")));
    g.get().lockedm.store(mm.0.as_ptr(), Ordering::Release);
    mm.get().lockedg.store(g.as_ptr(), Ordering::Release);
    count_created(None);
    g.set_status(RUNNABLE);
    Ok(g)
}

//! G: a goroutine. Its fields, its status protocol, creation (`newproc`), parking
//! (`gopark`) and the switch to and from the scheduler.
//!
//! ## Status (Go's numbers, `runtime2.go`), and who owns the G in each
//! - `IDLE` (0): just allocated, not yet initialised. Owned by the allocator.
//! - `RUNNABLE` (1): on a run queue (a P's, the global one, or a home's). Not running;
//!   the stack is not owned by anyone; whoever dequeues it owns it.
//! - `RUNNING` (2): running on an M (or a home thread), which owns the stack.
//! - `WAITING` (4): parked. It is recorded somewhere (a channel queue, the sema table, a
//!   timer) as a `WaitRef`; the one claimer of that wait will `ready` it. The stack is not
//!   owned, but may be written by the claimer (a channel hand-off into its slot).
//! - `DEAD` (6): finished; on a free list, its stack returned.
//!
//! Differences from Go: no `_Gsyscall` transitions yet (the syscall issue), no
//! `_Gcopystack` (stacks never move: C code holds pointers into them).

use crate::sys::mutex::{Mutex, Rank};
use std::cell::{Cell, UnsafeCell};
use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

use crate::stack::GStack;

pub(crate) const IDLE: u32 = 0;
pub(crate) const RUNNABLE: u32 = 1;
pub(crate) const RUNNING: u32 = 2;
pub(crate) const SYSCALL: u32 = 3;
pub(crate) const WAITING: u32 = 4;
pub(crate) const DEAD: u32 = 6;

/// Why a goroutine waits: Go's `waitReason` strings, shown in dumps and traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
// Syscall and Preempted are Go's names, never set here (a goroutine in a syscall keeps
// its running status; a preempted one is runnable): kept so that the numbering that
// gdb/gmp-gdb.py reads stays as it is.
#[allow(dead_code)]
pub(crate) enum WaitReason {
    None = 0,
    ChanReceive,
    ChanSend,
    Select,
    SelectNoCases,
    Sleep,
    IoWait,
    MutexLock,
    RwMutexRLock,
    RwMutexLock,
    WaitGroupWait,
    CondWait,
    OnceDo,
    Syscall,
    Preempted,
    LockedThread,
}

impl WaitReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitReason::None => "",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Select => "select",
            WaitReason::SelectNoCases => "select (no cases)",
            WaitReason::Sleep => "sleep",
            WaitReason::IoWait => "IO wait",
            WaitReason::MutexLock => "sync.Mutex.Lock",
            WaitReason::RwMutexRLock => "sync.RWMutex.RLock",
            WaitReason::RwMutexLock => "sync.RWMutex.Lock",
            WaitReason::WaitGroupWait => "sync.WaitGroup.Wait",
            WaitReason::CondWait => "sync.Cond.Wait",
            WaitReason::OnceDo => "sync.Once.Do",
            WaitReason::Syscall => "syscall",
            WaitReason::Preempted => "preempted",
            WaitReason::LockedThread => "locked thread",
        }
    }

    fn from_u8(v: u8) -> WaitReason {
        if v <= WaitReason::LockedThread as u8 {
            // SAFETY: repr(u8) enum with contiguous discriminants 0..=LockedThread.
            unsafe { std::mem::transmute::<u8, WaitReason>(v) }
        } else {
            WaitReason::None
        }
    }
}

/// What a goroutine tells the scheduler when it switches away. Travels with the switch
/// (`cswitch.rs`) in the low bits of the G's address: the context switched to acts on it
/// once it runs on its own stack.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(usize)]
pub(crate) enum Switch {
    /// `gmp_gosched`: put me back on a run queue.
    Gosched = 1,
    /// `gopark`: run the commit closure set in `GInner::park_commit`, I am waiting.
    Park = 2,
    /// `exitsyscall` found no P: queue me on the global queue and park this M.
    Requeue = 3,
    /// I finished: free my stack and me.
    Exit = 4,
    /// `gmp_blocking`: run `GInner::call` on the thread's own stack, then resume me.
    Call = 5,
}

const SWITCH_MASK: usize = 7;

/// A G and why it switched away, as one word (G's are 8-aligned); 0 is "nothing".
#[inline]
pub(crate) fn pending(g: GRef, why: Switch) -> usize {
    g.as_ptr() as usize | why as usize
}

/// Decodes [`pending`]: None for 0.
#[inline]
pub(crate) fn decode(arg: usize) -> Option<(GRef, Switch)> {
    let g = NonNull::new((arg & !SWITCH_MASK) as *mut G)?;
    let why = match arg & SWITCH_MASK {
        1 => Switch::Gosched,
        2 => Switch::Park,
        3 => Switch::Requeue,
        4 => Switch::Exit,
        5 => Switch::Call,
        _ => crate::fatal("bad switch word"),
    };
    Some((GRef(g), why))
}

/// A function to run on the thread's own stack (`gmp_blocking`).
pub(crate) type Call = (unsafe extern "C" fn(*mut libc::c_void), *mut libc::c_void);

/// The C entry point of a goroutine.
pub(crate) type GFn = unsafe extern "C" fn(*mut libc::c_void);

/// Bytes of a goroutine's argument kept in its G (`Entry::Inline`, `gmp_go_inline`): a
/// language binding's small closure, written by the spawner (`Spawn::init`) and used in
/// place, so that such a spawn allocates nothing besides the G (issue 14, C++ `gmp::go`).
pub(crate) const INLINE_ARG: usize = 64;

/// [`G::arg`]: a cache line of its own, so that an argument of up to 64 bytes costs a
/// goroutine one line (a spawn writes it, the start reads it).
#[repr(C, align(64))]
pub(crate) struct InlineArg(pub(crate) [u64; INLINE_ARG / 8]);

/// A switch hook: `on_park` or `on_resume` of `gmp_switch_hooks`.
pub(crate) type HookFn = unsafe extern "C" fn(*mut libc::c_void);

/// Switch hooks (API.md `gmp_switch_hooks`), copied at spawn. Both functions are always
/// set (a hook the caller left NULL is [`no_hook`]), so that a switch tests one word,
/// `Option<Hooks>`'s niche in `on_park`, and calls: issue 14's C++ ping-pong, where the
/// runtime's side of each hook call was a tag test, a null test and a spill of the
/// copy kept across the switch.
#[derive(Clone, Copy)]
pub(crate) struct Hooks {
    pub(crate) on_park: HookFn,
    pub(crate) on_resume: HookFn,
    pub(crate) ctx: *mut libc::c_void,
    /// The 16 bytes a resume looks at: `on_resume` is skipped while they are zero.
    /// `ctx` for `GMP_HOOKS_LAZY_RESUME`, else [`ALWAYS`] (never zero), so that the
    /// test after a switch is two loads and a branch with no flag to read first. Set to
    /// `ALWAYS` at spawn for a home's goroutine and gmp_main's (`proc.rs`); null only
    /// until `gmp_go_inline`'s spawn gives it the argument's address.
    pub(crate) rec: *const [u64; 2],
    /// `GMP_HOOKS_LAZY_PARK` (and its `thread_record` is the process's, [`LAZY_PARK`]):
    /// `on_park` is skipped while this thread's record is zero ([`Hooks::park_needed`]).
    pub(crate) lazy_park: bool,
}

/// The `thread_record` function of `GMP_HOOKS_LAZY_PARK`, the first spawn's (0: none
/// yet). One per process, so that a thread keeps one record's address (`Ctx::record`)
/// with no key to compare: the C++ binding is the one user.
static LAZY_PARK: AtomicUsize = AtomicUsize::new(0);

/// A `thread_record` function.
pub(crate) type RecordFn = unsafe extern "C" fn() -> *mut libc::c_void;

/// Whether hooks with `GMP_HOOKS_LAZY_PARK` and this `thread_record` may skip parks:
/// it is the process's (the first one seen becomes it). Every C++ spawn asks: a load
/// answers once the function is set, so the compare-exchange (a locked instruction on
/// a line every P's spawns share) runs only for the first.
pub(crate) fn lazy_park_for(f: RecordFn) -> bool {
    let f = f as usize;
    match LAZY_PARK.load(Ordering::Acquire) {
        0 => match LAZY_PARK.compare_exchange(0, f, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(cur) => cur == f,
        },
        cur => cur == f,
    }
}

/// This thread's record of `GMP_HOOKS_LAZY_PARK`, asked for the first time here.
#[cold]
#[inline(never)]
fn learn_record(c: &Ctx) -> *const [u64; 2] {
    let f = LAZY_PARK.load(Ordering::Acquire);
    // SAFETY: non-zero once a lazy-park goroutine exists (we run one): a RecordFn the
    // spawner gave, callable on any thread (gmp_switch_hooks' contract).
    let p = unsafe { std::mem::transmute::<usize, RecordFn>(f)() };
    // A null or misaligned record: every park calls (ALWAYS is never zero).
    let r = if p.is_null() || p as usize % 8 != 0 {
        &ALWAYS as *const [u64; 2]
    } else {
        p as *const [u64; 2]
    };
    c.record.set(r);
    r
}

/// The record of hooks without `GMP_HOOKS_LAZY_RESUME`: never zero, so every resume calls.
pub(crate) static ALWAYS: [u64; 2] = [1, 1];

/// The hook that does nothing, for the one of a pair the caller did not give.
unsafe extern "C" fn no_hook(_: *mut libc::c_void) {}

impl Hooks {
    /// The hooks of a `gmp_switch_hooks`, or `None` if it has neither. `lazy`:
    /// `GMP_HOOKS_LAZY_RESUME`; `lazy_park`: `GMP_HOOKS_LAZY_PARK` with the process's
    /// `thread_record` ([`lazy_park_for`]).
    pub(crate) fn new(
        on_park: Option<HookFn>,
        on_resume: Option<HookFn>,
        ctx: *mut libc::c_void,
        lazy: bool,
        lazy_park: bool,
    ) -> Option<Hooks> {
        let rec = if lazy {
            ctx as *const [u64; 2]
        } else {
            &ALWAYS
        };
        if on_park.is_none() && on_resume.is_none() {
            return None;
        }
        Some(Hooks {
            on_park: on_park.unwrap_or(no_hook),
            on_resume: on_resume.unwrap_or(no_hook),
            ctx,
            rec,
            lazy_park,
        })
    }

    /// Whether a park must call `on_park`: always, unless `lazy_park` and this thread's
    /// record is all zero.
    #[inline(always)]
    fn park_needed(&self) -> bool {
        if !self.lazy_park {
            return true;
        }
        let c = ctx();
        let mut r = c.record.get();
        if r.is_null() {
            r = learn_record(c);
        }
        // SAFETY: ALWAYS, or the thread's record: 16 readable, 8-aligned bytes for the
        // thread's life (gmp_switch_hooks' contract).
        let r = unsafe { &*r };
        r[0] | r[1] != 0
    }

    /// Whether a resume must call `on_resume` (see [`Hooks::rec`]).
    #[inline(always)]
    fn resume_needed(&self) -> bool {
        // SAFETY: `ALWAYS`, or the 16 readable, 8-aligned bytes at ctx the spawner
        // promised for the goroutine's life (gmp_switch_hooks' contract).
        let r = unsafe { &*self.rec };
        r[0] | r[1] != 0
    }

    /// Every resume calls `on_resume` (a home's goroutine, gmp_main's).
    pub(crate) fn always(self) -> Hooks {
        Hooks {
            rec: &ALWAYS,
            lazy_park: false,
            ..self
        }
    }
}

/// A goroutine. Its memory only ever holds a G (`gslab.rs`: type-stable slabs whose
/// idle pages may read as zeros), so a `GRef` never dangles; see `park.rs` for why that
/// matters. `repr(C)` so the gdb extension can read it through the offsets in
/// `gmp_debug_layout` (ffi/debug.rs).
///
/// Laid out by cache line (64-aligned, so a G never shares a line with another): a
/// spawn and a goroutine's run to its end touch only the first two lines, which is what
/// crosses between P's when goroutines are spawned on one and run on another (a G
/// freed on P1 comes back to P0's spawns through the global free list). Line 0: the
/// atomics every path reads (status, wait word, home, lockedm) and what a spawn writes
/// (id, spawn_pc); line 1: `GInner`'s first line (entry, stack, its size, locals); line
/// 2: the park path's (saved context, commit closure, hooks); then what is rare. A
/// line not touched for a while is a miss too: measured (perf, 2 P's, bench spawn), the
/// `locals` check after the entry returned took most of `g_entry`'s samples when it sat
/// on line 3.
#[repr(C, align(64))]
pub(crate) struct G {
    pub(crate) id: AtomicU64,
    /// `seq << 8 | outcome` of its current wait (park.rs).
    pub(crate) wait: AtomicU64,
    /// gmp_now() when it last changed status (for dumps).
    pub(crate) since: AtomicI64,
    /// The home it belongs to (runs only on that home's thread), or null.
    pub(crate) home: AtomicPtr<super::home::Home>,
    /// The M it is locked to (LockOSThread), or null.
    pub(crate) lockedm: AtomicPtr<super::m::M>,
    /// Return address of the `gmp_go` caller.
    pub(crate) spawn_pc: AtomicU64,
    /// The name's bytes (NUL-terminated) or null: a mirror of `name` for debuggers.
    pub(crate) name_ptr: AtomicPtr<libc::c_char>,
    pub(crate) status: AtomicU32,
    pub(crate) wait_reason: AtomicU8,
    /// Set by sysmon: yield at the next preempt point.
    pub(crate) preempt: AtomicBool,
    /// `inner.hooks` is set (owner only, like `inner`): the end of a goroutine reads
    /// this line, not the hooks' (see [`G`]).
    pub(crate) hooked: AtomicBool,
    pub(crate) inner: UnsafeCell<GInner>,
    /// Where it parked: stack, frame pointer and pc inside `switch_out`, for debuggers.
    pub(crate) saved_sp: AtomicU64,
    pub(crate) saved_bp: AtomicU64,
    pub(crate) saved_pc: AtomicU64,
    /// Name (copied), for dumps and traces.
    pub(crate) name: Mutex<Option<CString>>,
    /// `Entry::Inline`'s argument, owned as `inner` is: written at spawn, in place until
    /// the entry returns. Last: a goroutine that does not use it never touches it.
    pub(crate) arg: UnsafeCell<InlineArg>,
}

// The hot fields of the outer G fill line 0, and `inner` starts line 1 with its own.
const _: () = assert!(std::mem::offset_of!(G, inner) == 64);
const _: () = assert!(std::mem::size_of::<G>() == 384);
const _: () = assert!(std::mem::offset_of!(GInner, locals) + 8 <= 64);

/// The parts only the G's current owner touches (the M running it, or the creator
/// before it is first queued). Never read by other threads. `repr(C)`: the first line
/// holds what a spawn and a run to the end touch (see [`G`]).
#[repr(C)]
pub(crate) struct GInner {
    pub(crate) entry: Option<Entry>,
    /// Its stack, from its first run to its end.
    pub(crate) stack: Option<GStack>,
    pub(crate) stack_size: usize,
    /// Its goroutine-local values (`gmp_local_set`), made on first use.
    pub(crate) locals: Option<Box<super::local::Locals>>,
    /// Its saved context (a stack pointer, `cswitch.rs`) while it is not running.
    pub(crate) sp: usize,
    /// The commit closure of the park in progress (lives on the G's own stack).
    pub(crate) park_commit: Option<*mut dyn FnMut()>,
    /// Or, when the commit is only to release a lock (a channel's, `gopark_unlock`),
    /// that lock: released inline, with no closure to build and call.
    pub(crate) park_unlock: *const crate::sys::lock::RawLock,
    /// Set at spawn only (then `G::hooked` too).
    pub(crate) hooks: Option<Hooks>,
    /// LockOSThread nesting depth (non-zero only while `G::lockedm` is set).
    pub(crate) lock_count: u32,
    /// A trace flow (made ready) waits for its end (runs again).
    pub(crate) flow_pending: bool,
    /// `Switch::Call`'s function.
    pub(crate) call: Option<Call>,
    /// What ASan and TSan know of it (`sys/sanitizer.rs`), made when one is loaded.
    pub(crate) san: Option<Box<crate::sys::sanitizer::GState>>,
}

/// What the goroutine runs.
pub(crate) enum Entry {
    C(GFn, *mut libc::c_void),
    Rust(Box<dyn FnOnce() + Send>),
    /// `fn(arg)` with `arg` the G's own [`G::arg`] bytes.
    Inline(GFn),
}

/// A shared reference to a G that can cross threads (G's are never freed while running).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(transparent)]
pub(crate) struct GRef(pub(crate) NonNull<G>);
// SAFETY: G memory is never freed nor used for anything but G's (gslab.rs); every field
// other threads read is atomic or behind a Mutex, and `inner` is only touched by the G's
// owner as defined by its status (module docs).
unsafe impl Send for GRef {}
// SAFETY: as above.
unsafe impl Sync for GRef {}

impl GRef {
    pub(crate) fn get(&self) -> &'static G {
        // SAFETY: G slabs are never freed and hold only G's (gslab.rs, "Type-stable
        // memory"); a G given back by the scavenger reads as zeros, a valid state for
        // every field but `inner`, which only its owner touches.
        unsafe { &*self.0.as_ptr() }
    }
    pub(crate) fn as_ptr(&self) -> *mut G {
        self.0.as_ptr()
    }
    /// The owner-only part.
    ///
    /// # Safety
    /// The caller must own the G (be its running M, or hold it off every queue).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn inner(&self) -> &mut GInner {
        // SAFETY: exclusive ownership is the caller's obligation (above).
        unsafe { &mut *self.get().inner.get() }
    }
    pub(crate) fn id(&self) -> u64 {
        self.get().id.load(Ordering::Relaxed)
    }
    pub(crate) fn status(&self) -> u32 {
        self.get().status.load(Ordering::Acquire)
    }
    pub(crate) fn set_status(&self, s: u32) {
        let g = self.get();
        g.status.store(s, Ordering::Release);
    }
    pub(crate) fn wait_reason(&self) -> WaitReason {
        WaitReason::from_u8(self.get().wait_reason.load(Ordering::Relaxed))
    }
}

impl G {
    /// New G's in slots of the G slabs (`gslab.rs`), up to `max` of them (at least
    /// one), pushed on `out`: fresh ones, or ones on a page the scavenger gave back,
    /// rebuilt whole. They are IDLE; the caller publishes them in `allgs`.
    pub(crate) fn alloc_batch(out: &mut Vec<GRef>, max: usize) {
        let (first, n) = super::gslab::alloc_slots(max);
        let wait = super::gslab::initial_wait();
        for i in 0..n {
            // SAFETY: alloc_slots gave n adjacent G slots from first on.
            let slot = unsafe { first.add(i) };
            G::init(slot, wait);
            out.push(GRef(slot));
        }
    }

    /// Writes a whole new G into `slot`.
    #[inline]
    fn init(slot: NonNull<G>, wait: u64) {
        let g = G {
            id: AtomicU64::new(0),
            status: AtomicU32::new(IDLE),
            wait: AtomicU64::new(wait),
            wait_reason: AtomicU8::new(0),
            since: AtomicI64::new(0),
            preempt: AtomicBool::new(false),
            hooked: AtomicBool::new(false),
            home: AtomicPtr::new(std::ptr::null_mut()),
            lockedm: AtomicPtr::new(std::ptr::null_mut()),
            name: Mutex::new(Rank::GName, None),
            spawn_pc: AtomicU64::new(0),
            saved_sp: AtomicU64::new(0),
            saved_bp: AtomicU64::new(0),
            saved_pc: AtomicU64::new(0),
            name_ptr: AtomicPtr::new(std::ptr::null_mut()),
            inner: UnsafeCell::new(GInner {
                stack: None,
                sp: 0,
                call: None,
                entry: None,
                hooks: None,
                lock_count: 0,
                park_commit: None,
                park_unlock: std::ptr::null(),
                stack_size: 0,
                flow_pending: false,
                san: None,
                locals: None,
            }),
            arg: UnsafeCell::new(InlineArg([0; INLINE_ARG / 8])),
        };
        // SAFETY: the slot is G-sized and aligned, and no G lives there (it was never
        // carved, or it is on a page the scavenger gave back, whose G's are on no list
        // and out of allgs): written whole, its old content (maybe zeros) never read.
        unsafe { slot.as_ptr().write(g) };
    }

    pub(crate) fn name(&self) -> Option<CString> {
        self.name.lock().clone()
    }

    /// Only the G's owner calls this (its spawner, itself, gfree), so the owner's own
    /// last store to `name_ptr` tells whether a name is set: no name to clear nor to set
    /// skips the lock (two atomic RMWs on a line the spawner and the runner share, twice
    /// a spawn).
    #[inline]
    pub(crate) fn set_name(&self, name: Option<&CStr>) {
        if name.is_none() && self.name_ptr.load(Ordering::Relaxed).is_null() {
            return;
        }
        self.set_name_locked(name);
    }

    #[inline(never)]
    fn set_name_locked(&self, name: Option<&CStr>) {
        let mut n = self.name.lock();
        if n.is_none() && name.is_none() {
            return;
        }
        self.name_ptr.store(std::ptr::null_mut(), Ordering::Release);
        *n = name.map(CStr::to_owned);
        if let Some(c) = n.as_ref() {
            self.name_ptr
                .store(c.as_ptr() as *mut libc::c_char, Ordering::Release);
        }
    }
}

/// Asks the cache for the two lines of `g` that a spawn writes (`proc::newproc`; see
/// [`G`]'s layout), for writing (`prefetchw`): a G from a free list was most likely last written by another
/// P, and its lines would otherwise arrive one miss at a time during the spawn. A hint
/// only: no fault, no effect on what is read or written.
#[inline(always)]
pub(crate) fn prefetch_for_spawn(g: GRef) {
    crate::sys::cpu::prefetch_write2(g.as_ptr());
}

/// This thread's scheduling context: the goroutine running on it (an M's current G, or
/// a home's) and its M. One thread-local for both.
#[repr(C)]
pub(crate) struct Ctx {
    pub(crate) g: Cell<*mut G>,
    pub(crate) m: Cell<*mut super::m::M>,
    /// The saved context of this thread's scheduler loop (an M's `execute`, a home's
    /// `run_one`) while a goroutine runs on the thread: where a G switches back to.
    pub(crate) sched_sp: Cell<usize>,
    /// This thread's record of `GMP_HOOKS_LAZY_PARK` (null until a park asks).
    pub(crate) record: Cell<*const [u64; 2]>,
}

const _: () = assert!(std::mem::size_of::<Ctx>() == 32);

// On x86-64 Linux the context is a thread-local of the initial-exec model, defined here
// in assembly: reaching it is two instructions (the thread pointer plus an offset from
// the GOT), where a Rust `thread_local!` in a shared library is general-dynamic, a call
// to `__tls_get_addr` (about 20 instructions) on every scheduler step. The cost is 32
// bytes of the static TLS surplus glibc keeps for libraries loaded with dlopen (as
// Python loads us); the linker marks the library DF_STATIC_TLS. Hidden: not exported.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
std::arch::global_asm!(
    ".pushsection .tbss.gmp_tls_ctx,\"awT\",@nobits",
    ".p2align 4",
    ".globl gmp_tls_ctx",
    ".hidden gmp_tls_ctx",
    ".type gmp_tls_ctx, @object",
    ".size gmp_tls_ctx, 32",
    "gmp_tls_ctx:",
    ".zero 32",
    ".popsection",
);

/// This thread's context. Valid while the caller stays on this thread: never keep it
/// across a switch point (DESIGN.md "Thread-locals move"). Inline (the two instructions
/// instead of a call): the asm is not `pure`, so the compiler may neither merge two
/// calls' asm nor move one across other code with side effects (a switch is one), and
/// every call computes the address anew: a call after a switch sees the new thread's
/// context.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
#[inline(always)]
pub(crate) fn ctx() -> &'static Ctx {
    let p: *const Ctx;
    // SAFETY: reads the thread pointer and the GOT entry of our TLS block's offset; the
    // result is this thread's 32-byte, 16-aligned, zero-initialised `gmp_tls_ctx`, which
    // has Ctx's layout (pointer-sized cells, null/0 = none; size asserted above).
    unsafe {
        std::arch::asm!(
            "mov {p}, qword ptr fs:[0]",
            "add {p}, qword ptr [rip + gmp_tls_ctx@GOTTPOFF]",
            p = out(reg) p,
            options(nostack, preserves_flags, readonly),
        );
        &*p
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(loom))))]
thread_local! {
    static CTX: Ctx = const {
        Ctx {
            g: Cell::new(std::ptr::null_mut()),
            m: Cell::new(std::ptr::null_mut()),
            sched_sp: Cell::new(0),
            record: Cell::new(std::ptr::null()),
        }
    };
}

/// This thread's context (see the x86-64 version).
#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(loom))))]
#[inline(never)]
pub(crate) fn ctx() -> &'static Ctx {
    // SAFETY: the reference is used only on this thread and not kept past its life
    // (see above); the 'static only spares every caller a closure.
    CTX.with(|c| unsafe { &*(c as *const Ctx) })
}

/// The goroutine running on this thread. Read it again after every switch point: a
/// goroutine may resume on another thread (DESIGN.md "Thread-locals move").
#[inline]
pub(crate) fn current() -> Option<GRef> {
    NonNull::new(ctx().g.get()).map(GRef)
}

#[inline]
pub(crate) fn set_current(g: Option<GRef>) {
    ctx().g.set(g.map_or(std::ptr::null_mut(), |g| g.as_ptr()));
}

/// Where every goroutine starts (from `cswitch`'s start frame, on its own stack): do
/// what the context that switched to us left to do, run the entry, then end: when our
/// P's next goroutine has never run, it takes over this stack and runs here, in this
/// frame (`proc::goexit`); else switch away for good with `Exit`.
pub(crate) extern "C" fn g_entry(arg: usize, g: *mut G) -> ! {
    // SAFETY: the start frame carries the G it was made for (`cswitch::init`).
    let mut g = GRef(unsafe { NonNull::new_unchecked(g) });
    if crate::sys::sanitizer::on() {
        super::sanitizer::in_g(g, arg, true);
    }
    super::schedule::after_switch_in_g(arg);
    loop {
        goroutine_main(g);
        match super::proc::goexit(g) {
            Some(next) => g = next,
            None => break,
        }
    }
    super::schedule::switch_from_g(g, Switch::Exit);
    crate::fatal("a finished goroutine was resumed");
}

/// Runs the goroutine's entry.
fn goroutine_main(g: GRef) {
    // SAFETY: the running goroutine owns itself.
    let entry = unsafe { g.inner().entry.take() };
    match entry {
        Some(Entry::C(f, arg)) => {
            // A C function cannot unwind into us (API.md: unwinding out of a callback
            // aborts); the extern "C" boundary already aborts on a foreign unwind.
            // SAFETY: f is the caller-supplied goroutine function with its argument.
            crate::sys::sanitizer::program(|| unsafe { f(arg) })
        }
        Some(Entry::Inline(f)) => {
            // The G's own bytes, in place while it runs (a G is never freed, nor reused
            // before it ends).
            let arg = g.get().arg.get().cast::<libc::c_void>();
            // SAFETY: as Entry::C: the spawner's function with the argument it wrote.
            crate::sys::sanitizer::program(|| unsafe { f(arg) })
        }
        Some(Entry::Rust(f)) => {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
            if !ok {
                crate::fatal("a goroutine panicked");
            }
        }
        None => {}
    }
    // SAFETY: as above.
    if unsafe { g.inner().locals.is_some() } {
        super::local::goroutine_exit(g);
    }
}

/// Switches from the running goroutine to the next one or to its scheduler, calling the
/// switch hooks around it. Returns when the goroutine is resumed (maybe on another
/// thread).
#[inline(always)]
pub(crate) fn switch_out(g: GRef, why: Switch) {
    // SAFETY: the running goroutine owns its inner state until it switches.
    // By reference: a copy of the hooks loaded all 40 bytes before the test (5 more
    // instructions a switch for goroutines without hooks, bench/perop.sh's yield).
    // `called`: on_park ran. A park that LAZY_PARK skipped leaves ctx as the last resume
    // left it, zero (the flag's contract), so its resume has nothing to install either:
    // no look at ctx's 16 bytes (in the hooks' own memory, the C++ goroutine object: a
    // line that a ping-pong of two C++ goroutines touched on every switch for nothing).
    let called = if let Some(h) = unsafe { g.inner().hooks.as_ref() } {
        let needed = h.park_needed();
        if needed {
            // SAFETY: the user's hook with its own context, on the goroutine's stack.
            unsafe { (h.on_park)(h.ctx) };
        }
        needed
    } else {
        false
    };
    save_context(g);
    super::schedule::switch_from_g(g, why);
    if called {
        // SAFETY: resumed, the goroutine owns its inner state again; its hooks are set
        // at spawn only, so they are still there.
        let h = unsafe { g.inner().hooks.as_ref().unwrap_unchecked() };
        if h.resume_needed() {
            // SAFETY: as above.
            unsafe { (h.on_resume)(h.ctx) }
        }
    }
}

/// Records sp, fp and pc here, so a debugger can unwind a parked goroutine from
/// `switch_out` (the gdb extension's `goroutine N bt`). Three stores per switch.
#[inline(always)]
fn save_context(g: GRef) {
    #[cfg(target_arch = "x86_64")]
    {
        let (sp, bp, pc): (u64, u64, u64);
        // SAFETY: reads three registers; no memory, stack or flags are touched.
        unsafe {
            std::arch::asm!(
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                "lea {pc}, [rip]",
                sp = out(reg) sp,
                bp = out(reg) bp,
                pc = out(reg) pc,
                options(nomem, nostack, preserves_flags),
            );
        }
        let gg = g.get();
        gg.saved_sp.store(sp, Ordering::Relaxed);
        gg.saved_bp.store(bp, Ordering::Relaxed);
        gg.saved_pc.store(pc, Ordering::Relaxed);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = g;
}

/// [`gopark`] whose commit is to release `lock`, which the caller holds through a
/// guard it gave up (`Guard::into_raw`): the scheduler releases it after the switch.
#[inline(always)]
pub(crate) fn gopark_unlock(g: GRef, reason: WaitReason, lock: &crate::sys::lock::RawLock) {
    g.get().wait_reason.store(reason as u8, Ordering::Relaxed);
    // SAFETY: we own ourselves while running. The lock outlives the park: its owner (a
    // channel) is kept alive by our caller's reference until we return.
    unsafe { g.inner().park_unlock = lock };
    switch_out(g, Switch::Park);
}

/// Parks the running goroutine (Go's `gopark`): switches to the scheduler, which sets
/// it WAITING and then runs `commit`. Returns once someone `ready`s it.
#[inline(always)]
pub(crate) fn gopark(g: GRef, reason: WaitReason, commit: &mut dyn FnMut()) {
    g.get().wait_reason.store(reason as u8, Ordering::Relaxed);
    // SAFETY: we own ourselves while running. The closure lives on this stack until we
    // are resumed, and the scheduler calls it before anyone can resume us. The transmute
    // only erases the borrow's lifetime, which that ordering makes sound.
    unsafe {
        g.inner().park_commit = Some(std::mem::transmute::<
            *mut (dyn FnMut() + '_),
            *mut (dyn FnMut() + 'static),
        >(commit as *mut dyn FnMut()));
    }
    switch_out(g, Switch::Park);
}

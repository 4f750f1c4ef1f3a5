//! Home threads: where Python goroutines run.
//!
//! A Python goroutine is a real libgmp goroutine on its own stack, started with
//! `gmp_go_home` in one of our homes and pinned there for life. Each home is a thread we
//! create, which owns one ordinary `PyThreadState` and loops:
//!
//! ```text
//!   hold the GIL:      gmp_home_run (runs ready goroutines; each park/resume swaps the
//!                      per-goroutine PyThreadState fields through the switch hooks)
//!   none is ready:     release the GIL, gmp_home_wait, take the GIL back
//! ```
//!
//! So the GIL is held while the home switches between its goroutines and released only
//! when none is ready. The GIL serialises Python anyway, so one home (the default) loses
//! nothing; `gmp.configure(python_threads=N)` starts N for code that blocks in C.
//!
//! Exit: an `atexit` hook sets [`EXITING`]; each home thread, the next time it is outside
//! its goroutines, releases the GIL for good, acknowledges, and sleeps until the process
//! ends. Parked goroutines stay parked (never dropped: unwinding a suspended coroutine
//! would run through CPython's C frames). No home thread ever waits for the GIL once the
//! interpreter finalizes (a thread that does is ended by `pthread_exit`, which cannot
//! unwind through Rust frames).

use std::cell::Cell;
use std::ffi::{CString, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::ffi::*;

/// Set by the atexit hook: homes stop taking the GIL, channel drops leak.
pub static EXITING: AtomicBool = AtomicBool::new(false);

pub struct Home {
    pub h: AtomicPtr<gmp_home>,
    pub py: *mut gmpy_home,
    pub acked: AtomicBool,
    ready: (Mutex<bool>, Condvar),
    /// The home's own poller (net.rs): an epoll set with its goroutines' sockets, the
    /// home's eventfd (readable while goroutines are ready) and `wakefd`; -1 if none.
    pub epfd: AtomicI32,
    pub wakefd: AtomicI32,
    /// A socket was registered in `epfd`: the home waits there, not in gmp_home_wait.
    pub polling: AtomicBool,
}
// SAFETY: `py` is only dereferenced by C code on the home thread (or before it starts);
// the rest is atomics and a mutex.
unsafe impl Send for Home {}
// SAFETY: as above.
unsafe impl Sync for Home {}

pub struct Config {
    pub python_threads: usize,
}

pub static CONFIG: Mutex<Config> = Mutex::new(Config { python_threads: 1 });
static HOMES: OnceLock<Vec<&'static Home>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// The process that started the homes: a fork()ed child has none of their threads.
static HOME_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Whether the homes (if any) belong to this process (false in a fork()ed child). One
/// load unless this process is a fork()ed child (getpid is a syscall: one per spawn).
pub fn homes_are_ours() -> bool {
    // SAFETY: getpid has no preconditions.
    !crate::FORKED.load(Ordering::Relaxed)
        || HOME_PID.load(Ordering::Acquire) == unsafe { libc::getpid() }
}
static G_SIZE: OnceLock<usize> = OnceLock::new();

thread_local! {
    static THIS_HOME: Cell<*const Home> = const { Cell::new(std::ptr::null()) };
}

/// Where the calling Python code runs, which decides how it may block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Where {
    /// A Python goroutine on a home: park it, keep the GIL (the home runs the others).
    HomeGoroutine,
    /// A home thread outside its goroutines (a destructor run by the home loop): block
    /// with the GIL held (the home's goroutines are pumped meanwhile).
    HomeThread,
    /// A C goroutine that called into Python (a ctypes callback): release the GIL and
    /// stay on this thread while parked.
    ForeignGoroutine,
    /// Any other thread (main, `threading`): release the GIL, wait in slices.
    Thread,
}

#[inline]
pub fn this_home() -> Option<&'static Home> {
    // SAFETY: set once on the home thread to a leaked &'static Home.
    THIS_HOME.with(|c| unsafe { c.get().as_ref() })
}

#[inline]
pub fn where_am_i() -> Where {
    // SAFETY: gmp_self has no preconditions.
    let g = unsafe { gmp_self() };
    match (this_home().is_some(), g != 0) {
        (true, true) => Where::HomeGoroutine,
        (true, false) => Where::HomeThread,
        (false, true) => Where::ForeignGoroutine,
        (false, false) => Where::Thread,
    }
}

pub fn homes_started() -> bool {
    HOMES.get().is_some()
}

pub fn homes() -> &'static [&'static Home] {
    HOMES.get().map(|v| v.as_slice()).unwrap_or(&[])
}

fn g_size() -> usize {
    // SAFETY: a pure function of the C shim.
    *G_SIZE.get_or_init(|| unsafe { gmpy_g_size() })
}

/// Starts the homes on first use (python_threads of them).
pub fn ensure_homes(_py: Python<'_>) -> PyResult<&'static [&'static Home]> {
    if let Some(v) = HOMES.get() {
        if !homes_are_ours() {
            return Err(crate::fork_error());
        }
        return Ok(v);
    }
    static START: Mutex<()> = Mutex::new(());
    let _guard = START.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = HOMES.get() {
        return Ok(v);
    }
    if EXITING.load(Ordering::Acquire) {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "gmp: the interpreter is shutting down",
        ));
    }
    let n = CONFIG
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .python_threads
        .max(1);
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: the thread state is filled in by the home thread before any of its
        // goroutines runs.
        let py = unsafe { gmpy_home_new(std::ptr::null_mut()) };
        if py.is_null() {
            return Err(pyo3::exceptions::PyMemoryError::new_err("gmp: home state"));
        }
        let home: &'static Home = Box::leak(Box::new(Home {
            h: AtomicPtr::new(std::ptr::null_mut()),
            py,
            acked: AtomicBool::new(false),
            ready: (Mutex::new(false), Condvar::new()),
            epfd: AtomicI32::new(-1),
            wakefd: AtomicI32::new(-1),
            polling: AtomicBool::new(false),
        }));
        std::thread::Builder::new()
            .name(format!("gmp-python-{i}"))
            .spawn(move || home_main(home))
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        // The home makes its gmp_home before it asks for the GIL, so this wait is short
        // and needs no GIL release.
        let (m, cv) = &home.ready;
        let mut ok = m.lock().unwrap_or_else(|e| e.into_inner());
        while !*ok {
            ok = cv.wait(ok).unwrap_or_else(|e| e.into_inner());
        }
        if home.h.load(Ordering::Acquire).is_null() {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "gmp: could not make a home for Python goroutines",
            ));
        }
        v.push(home);
    }
    // SAFETY: getpid has no preconditions.
    HOME_PID.store(unsafe { libc::getpid() }, Ordering::Release);
    let _ = HOMES.set(v);
    start_watchdog();
    Ok(HOMES.get().unwrap())
}

/// Blocks asynchronous signals on a home thread, so SIGINT reaches the main thread.
fn block_signals() {
    // SAFETY: plain sigset manipulation on a local, then pthread_sigmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for s in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGABRT,
        ] {
            libc::sigdelset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

const RUN_BUDGET_NS: i64 = 20_000_000;

fn home_main(home: &'static Home) {
    block_signals();
    let mut h: *mut gmp_home = std::ptr::null_mut();
    // SAFETY: out-pointer to a local.
    let r = unsafe { gmp_home_make(&mut h) };
    if r == 0 {
        home.h.store(h, Ordering::Release);
        THIS_HOME.with(|c| c.set(home as *const Home));
        make_poller(home);
    }
    {
        let (m, cv) = &home.ready;
        *m.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }
    if r != 0 {
        return;
    }
    // SAFETY: this thread has no thread state yet; Ensure creates one (registered for
    // PyGILState, so ctypes callbacks in our goroutines find it) and takes the GIL.
    unsafe {
        crate::gil_ensure();
        let ts = pyo3::ffi::PyThreadState_Get();
        crate::set_home_ts(home.py, ts);
    }
    // Events of the home's own poller (net.rs), read without the GIL, handled with it.
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    'outer: loop {
        // GIL held here.
        wake_watchdog();
        loop {
            // SAFETY: our own home, on its thread, outside any goroutine.
            let n = unsafe { gmp_home_run(h, RUN_BUDGET_NS) };
            if EXITING.load(Ordering::Acquire) {
                break 'outer;
            }
            if n > 0 {
                continue;
            }
            // None is ready: sockets that became ready meanwhile first (no wait).
            if !home.polling.load(Ordering::Relaxed) {
                break;
            }
            let k = crate::net::poll(home, &mut evs, 0);
            // SAFETY: the home thread holds the GIL.
            let py = unsafe { Python::assume_attached() };
            if crate::net::dispatch(py, home, &evs[..k]) == 0 {
                break;
            }
        }
        let polling = home.polling.load(Ordering::Relaxed);
        // SAFETY: we hold the GIL with this thread's state; released around the wait.
        let ts = unsafe { pyo3::ffi::PyEval_SaveThread() };
        let k = if polling {
            // The home's eventfd is in the set: goroutines made ready by other threads
            // (channels, timers, the runtime's poller) wake this wait too.
            crate::net::poll(home, &mut evs, -1)
        } else {
            // SAFETY: our own home, on its thread.
            unsafe { gmp_home_wait(h, -1) };
            0
        };
        if EXITING.load(Ordering::Acquire) {
            // Never take the GIL again (see the module docs).
            home.acked.store(true, Ordering::Release);
            sleep_forever();
        }
        // SAFETY: the state saved above, on its own thread.
        unsafe { gmpy_restore_thread(ts) };
        if k > 0 {
            // SAFETY: the home thread holds the GIL again.
            crate::net::dispatch(unsafe { Python::assume_attached() }, home, &evs[..k]);
        }
    }
    // EXITING seen while holding the GIL: let it go for good.
    // SAFETY: we hold the GIL with this thread's state.
    unsafe { pyo3::ffi::PyEval_SaveThread() };
    home.acked.store(true, Ordering::Release);
    sleep_forever();
}

/// Makes the home's own poller (net.rs): an epoll set holding a wake-up eventfd of ours
/// (and, from its first socket on, the home's eventfd: `start_polling`). Without it (an
/// error), sockets use the runtime's poller.
fn make_poller(home: &Home) {
    // SAFETY: plain fd creation and registration of an fd we own.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        if ep < 0 {
            return;
        }
        let wfd = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: crate::net::KEY_WAKE,
        };
        if wfd < 0 || libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, wfd, &mut ev) < 0 {
            libc::close(ep);
            if wfd >= 0 {
                libc::close(wfd);
            }
            return;
        }
        home.wakefd.store(wfd, Ordering::Relaxed);
        home.epfd.store(ep, Ordering::Release);
    }
}

impl Home {
    /// The home's first socket: from now on the home thread waits in its own epoll set,
    /// which then needs the home's eventfd (readable while goroutines are ready). The
    /// runtime keeps that eventfd in step with the queue only once asked for it
    /// (gmp_home_fd), so a home without sockets pays no syscalls for it. Home thread.
    pub fn start_polling(&self) -> bool {
        if self.polling.load(Ordering::Relaxed) {
            return true;
        }
        // SAFETY: our live home; its eventfd lives as long as it.
        let efd = unsafe { gmp_home_fd(self.h.load(Ordering::Acquire)) };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: crate::net::KEY_HOME_EFD,
        };
        let ep = self.epfd.load(Ordering::Relaxed);
        // SAFETY: our epoll set and the home's eventfd.
        if efd < 0 || unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, efd, &mut ev) } < 0 {
            return false;
        }
        self.polling.store(true, Ordering::Relaxed);
        true
    }

    /// Wakes the home thread's wait (gmp_home_wait, or its own poller's). Any thread.
    pub fn wake(&self) {
        // SAFETY: a live home; the eventfd is ours and never closed.
        unsafe {
            gmp_home_wake(self.h.load(Ordering::Acquire));
            let wfd = self.wakefd.load(Ordering::Relaxed);
            if wfd >= 0 {
                let one: u64 = 1;
                libc::write(wfd, (&one as *const u64).cast(), 8);
            }
        }
    }
}

/// The watchdog's tick. A goroutine seen running at PREEMPT_TICKS + 1 ticks in a row with
/// no switch in between has run for 10-15 ms and is asked to yield (Go's sysmon asks
/// after 10 ms).
const PREEMPT_TICK: std::time::Duration = std::time::Duration::from_millis(5);
const PREEMPT_TICKS: u32 = 2;
/// Ticks with no goroutine running on any home before the watchdog sleeps until a home
/// runs goroutines again.
const WATCHDOG_IDLE_TICKS: u32 = 40;

static WATCHDOG: OnceLock<std::thread::Thread> = OnceLock::new();
static WATCHDOG_ASLEEP: AtomicBool = AtomicBool::new(false);

/// Preemption of CPU-bound Python code: a thread that looks at every home each tick and
/// asks a goroutine that has been running for a whole tick (same epoch, see
/// csrc/pystate.c) to yield at its next instruction boundary (gmpy_home_preempt: a
/// pending call on 3.12/3.13, a one-shot trace function on 3.11). It holds no GIL except
/// for that request on 3.11, and sleeps while no home runs goroutines, so an idle or
/// cooperative program pays nothing.
fn start_watchdog() {
    let t = std::thread::Builder::new()
        .name("gmp-python-preempt".into())
        .spawn(watchdog);
    if let Ok(h) = t {
        let _ = WATCHDOG.set(h.thread().clone());
    }
}

/// A home is about to run goroutines: make sure the watchdog watches.
#[inline]
fn wake_watchdog() {
    if WATCHDOG_ASLEEP.load(Ordering::Relaxed)
        && WATCHDOG_ASLEEP.swap(false, Ordering::AcqRel)
        && let Some(t) = WATCHDOG.get()
    {
        t.unpark();
    }
}

fn watchdog() {
    block_signals();
    let homes = homes();
    // Per home: the epoch last seen and for how many ticks since it has not changed.
    let mut last = vec![(0u64, 0u32); homes.len()];
    let mut idle = 0u32;
    loop {
        std::thread::sleep(PREEMPT_TICK);
        if EXITING.load(Ordering::Acquire) {
            return;
        }
        let mut any = false;
        for (i, h) in homes.iter().enumerate() {
            let mut busy = 0;
            // SAFETY: a live home's C state; atomics only.
            let epoch = unsafe { gmpy_home_epoch(h.py, &mut busy) };
            let (seen, ticks) = &mut last[i];
            if busy == 0 || epoch != *seen {
                *seen = epoch;
                *ticks = 0;
            } else {
                *ticks += 1;
                if *ticks >= PREEMPT_TICKS {
                    // SAFETY: as above; takes the GIL on 3.11 (guarded).
                    unsafe { gmpy_home_preempt(h.py, epoch) };
                }
            }
            any |= busy != 0;
        }
        idle = if any { 0 } else { idle + 1 };
        if idle >= WATCHDOG_IDLE_TICKS {
            WATCHDOG_ASLEEP.store(true, Ordering::SeqCst);
            // A home that started after the flag was set unparks us (or has its token
            // waiting): park returns at once.
            let started = homes.iter().any(|h| {
                let mut busy = 0;
                // SAFETY: as above.
                unsafe { gmpy_home_epoch(h.py, &mut busy) };
                busy != 0
            });
            if !started {
                // (A home that began between our last look and the flag is caught within
                // a second.)
                std::thread::park_timeout(std::time::Duration::from_secs(1));
            }
            WATCHDOG_ASLEEP.store(false, Ordering::SeqCst);
            idle = WATCHDOG_IDLE_TICKS - 1;
        }
    }
}

pub fn sleep_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// What `gmp.run` waits for.
pub struct RunResult {
    pub done: *mut gmp_chan,
    pub value: Mutex<Option<PyResult<Py<PyAny>>>>,
}
// SAFETY: the channel handle is thread-safe (reference counted, any thread may call);
// the value is behind a mutex.
unsafe impl Send for RunResult {}
// SAFETY: as above.
unsafe impl Sync for RunResult {}

impl Drop for RunResult {
    fn drop(&mut self) {
        // SAFETY: we own one reference (raw channel: no drop callback).
        unsafe { gmp_chan_release(self.done) };
    }
}

/// Bytes of a Task's gmpy_g storage: sizeof(struct gmpy_g) is 136-144 on 3.11-3.13;
/// csrc/pystate.c checks it against this at compile time (GMPY_G_STORAGE).
const G_STORAGE: usize = 160;

/// One Python goroutine: its callable and the C-side saved thread state. Every parked
/// goroutine holds one, so it is kept small (bench/python/README.md, "Where a parked
/// goroutine's memory goes": 496 bytes, a 512-byte malloc chunk, until the storage was
/// cut from 384 bytes to what gmpy_g needs and the switch hooks, which gmp_go_home
/// copies, moved out of it). repr(C) with `g` first: the C shim's current gmpy_g* is
/// its Task*.
#[repr(C)]
struct Task {
    /// gmpy_g storage (the C shim's per-goroutine state), 16-byte aligned.
    g: [u128; G_STORAGE / 16],
    func: Option<Py<PyAny>>,
    args: Option<Py<PyTuple>>,
    kwargs: Option<Py<PyDict>>,
    result: Option<Arc<RunResult>>,
    /// A copy of the spawner's contextvars context, the goroutine's own from its start.
    context: Option<Py<PyAny>>,
    /// Where it was spawned: the code object and instruction offset of the innermost
    /// frame outside the gmp package (the line is computed when shown).
    site: Option<(Py<PyAny>, i32)>,
    /// Its goroutine id, once it has started (0 before).
    id: u64,
    /// Links of the list of live Python goroutines (for `gmp.goroutines()`).
    prev: *mut Task,
    next: *mut Task,
}

/// The live Python goroutines: an intrusive list touched only with the GIL held (at
/// spawn, at the end of a goroutine on its home thread, and by `goroutines`).
struct LiveList(std::cell::UnsafeCell<*mut Task>);
// SAFETY: every access holds the GIL (above), which serialises them.
unsafe impl Sync for LiveList {}
static LIVE: LiveList = LiveList(std::cell::UnsafeCell::new(std::ptr::null_mut()));

/// # Safety
/// GIL held; t is a live task not on the list.
unsafe fn live_insert(t: *mut Task) {
    // SAFETY: the caller holds the GIL, which guards LIVE and the links.
    unsafe {
        let head = LIVE.0.get();
        (*t).prev = std::ptr::null_mut();
        (*t).next = *head;
        if !(*head).is_null() {
            (**head).prev = t;
        }
        *head = t;
    }
}

/// # Safety
/// GIL held; t is on the list.
unsafe fn live_remove(t: *mut Task) {
    // SAFETY: the caller holds the GIL, which guards LIVE and the links.
    unsafe {
        let head = LIVE.0.get();
        if (*t).prev.is_null() {
            *head = (*t).next;
        } else {
            (*(*t).prev).next = (*t).next;
        }
        if !(*t).next.is_null() {
            (*(*t).next).prev = (*t).prev;
        }
    }
}

/// `gmp.goroutines()`: (id, frames innermost first) of every live Python goroutine;
/// id 0 for one that has not started yet.
pub fn live_goroutines(py: Python<'_>) -> PyResult<Vec<(u64, Py<pyo3::types::PyList>)>> {
    let mut out = Vec::new();
    // SAFETY: we hold the GIL (py), which guards the list; tasks on it are alive.
    unsafe {
        let mut t = *LIVE.0.get();
        while !t.is_null() {
            let frames = pyo3::types::PyList::empty(py);
            let gp = (*t).g.as_mut_ptr() as *mut gmpy_g;
            if gmpy_g_frames(gp, frames.as_ptr()) < 0 {
                return Err(PyErr::fetch(py));
            }
            out.push(((*t).id, frames.unbind()));
            t = (*t).next;
        }
    }
    Ok(out)
}

/// The gmp package's directory (with a trailing separator): frames there are not a
/// goroutine's spawn site.
pub static PACKAGE_DIR: OnceLock<Py<pyo3::types::PyString>> = OnceLock::new();

fn spawn_site(py: Python<'_>) -> Option<(Py<PyAny>, i32)> {
    let prefix = PACKAGE_DIR
        .get()
        .map_or(std::ptr::null_mut(), |p| p.as_ptr());
    let mut lasti = 0;
    // SAFETY: GIL held; a new reference or NULL (no exception set).
    let code = unsafe { gmpy_spawn_site(prefix, &mut lasti) };
    if code.is_null() {
        return None;
    }
    // SAFETY: a new reference.
    Some((unsafe { Bound::from_owned_ptr(py, code) }.unbind(), lasti))
}

/// `(filename, line)` where each live Python goroutine was spawned, by id.
pub fn spawn_sites(py: Python<'_>) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    // SAFETY: we hold the GIL (py), which guards the list; tasks on it are alive.
    unsafe {
        let mut t = *LIVE.0.get();
        while !t.is_null() {
            if let (id, Some((code, lasti))) = ((*t).id, (*t).site.as_ref())
                && id != 0
            {
                let tup = Bound::from_owned_ptr_or_err(py, gmpy_site_tuple(code.as_ptr(), *lasti))?;
                d.set_item(id, tup)?;
            }
            t = (*t).next;
        }
    }
    Ok(d.unbind())
}

/// `(filename, line)` where the calling Python goroutine was spawned, or None.
pub fn current_spawn_site(py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
    let Some(h) = this_home() else {
        return Ok(None);
    };
    // SAFETY: on the home thread with the GIL: cur is the running goroutine's gmpy_g,
    // the first field of its live Task (repr(C)), or NULL.
    unsafe {
        let g = gmpy_home_cur(h.py);
        if g.is_null() {
            return Ok(None);
        }
        let t = g as *const Task;
        match (*t).site.as_ref() {
            Some((code, lasti)) => Ok(Some(
                Bound::from_owned_ptr_or_err(py, gmpy_site_tuple(code.as_ptr(), *lasti))?.unbind(),
            )),
            None => Ok(None),
        }
    }
}

/// The C stack of a Python goroutine: 3.11 has no C-stack guard and recursion through C
/// costs about 800 bytes a level, so size it from the recursion limit (1 MiB at the
/// default limit of 1000); the runtime's guard page turns an overflow into a clear fatal
/// message rather than silent corruption.
fn stack_size() -> usize {
    // SAFETY: reading the recursion limit needs the GIL, which every caller holds.
    let limit = unsafe { pyo3::ffi::Py_GetRecursionLimit() }.max(1000) as usize;
    let want = limit.saturating_mul(1024);
    let mib = 1 << 20;
    want.div_ceil(mib).max(1) * mib
}

/// `gmp.go` / `gmp.run`: starts `func(*args, **kwargs)` as a Python goroutine.
pub fn spawn(
    py: Python<'_>,
    func: Py<PyAny>,
    args: Py<PyTuple>,
    kwargs: Option<Py<PyDict>>,
    result: Option<Arc<RunResult>>,
) -> PyResult<()> {
    let homes = ensure_homes(py)?;
    // Round robin over the homes wherever the spawn happens (a goroutine's children
    // too), so configure(python_threads=N) spreads the goroutines over N threads.
    let home = if homes.len() == 1 {
        homes[0]
    } else {
        homes[NEXT.fetch_add(1, Ordering::Relaxed) % homes.len()]
    };
    assert!(g_size() <= G_STORAGE);
    let stack_size = stack_size();
    // As asyncio.create_task: the goroutine starts in a copy of the spawner's context
    // (none when that is empty: the same thing, without an allocation).
    // SAFETY: GIL held; a new reference, or NULL (with an exception set on failure).
    let context = unsafe {
        let c = gmpy_copy_context();
        if c.is_null() {
            if let Some(e) = PyErr::take(py) {
                return Err(e);
            }
            None
        } else {
            Some(Bound::from_owned_ptr(py, c).unbind())
        }
    };
    let site = spawn_site(py);
    let task = Box::into_raw(Box::new(Task {
        g: [0; G_STORAGE / 16],
        func: Some(func),
        args: Some(args),
        kwargs,
        result,
        context,
        site,
        id: 0,
        prev: std::ptr::null_mut(),
        next: std::ptr::null_mut(),
    }));
    // SAFETY: task is a fresh, exclusively owned box; g lies inside it, so its address is
    // stable until the goroutine frees the box.
    let gp = unsafe {
        let gp = (*task).g.as_mut_ptr() as *mut gmpy_g;
        gmpy_g_init(gp, home.py, stack_size);
        live_insert(task);
        gp
    };
    // gmp_go_home copies the hooks (API.md, gmp_go_attr): a local will do.
    let hooks = gmp_switch_hooks {
        size: std::mem::size_of::<gmp_switch_hooks>(),
        on_park: Some(gmpy_on_park),
        on_resume: Some(gmpy_on_resume),
        ctx: gp as *mut c_void,
        flags: 0,
        thread_record: None,
    };
    let attr = gmp_go_attr {
        size: std::mem::size_of::<gmp_go_attr>(),
        stack_size,
        name: std::ptr::null(),
        hooks: &hooks,
    };
    // SAFETY: a live home; entry and arg as documented; attr and hooks copied.
    let r = unsafe {
        gmp_go_home(
            home.h.load(Ordering::Acquire),
            &attr,
            Some(goroutine_entry),
            task as *mut c_void,
        )
    };
    if r < 0 {
        // SAFETY: not started, so still ours; GIL held.
        unsafe { live_remove(task) };
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(task) });
        return Err(crate::error_from_code(py, r));
    }
    Ok(())
}

unsafe extern "C" fn goroutine_entry(arg: *mut c_void) {
    let task = arg as *mut Task;
    // SAFETY: the box from spawn, ours until we free it here; gmpy_run installs the
    // goroutine's own thread-state fields around body.
    unsafe {
        let gp = (*task).g.as_mut_ptr() as *mut gmpy_g;
        (*task).id = gmp_self();
        if let Some(c) = (*task).context.take() {
            gmpy_g_set_context(gp, c.into_ptr());
        }
        gmpy_run(gp, goroutine_body, arg);
        // The GIL is held (the home runs goroutines with it).
        live_remove(task);
        // Every Python reference was dropped inside body (with the goroutine's state).
        drop(Box::from_raw(task));
    }
}

unsafe extern "C" fn goroutine_body(arg: *mut c_void) {
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the Task is alive for the whole goroutine (goroutine_entry).
        let task = unsafe { &mut *(arg as *mut Task) };
        // SAFETY: the home thread holds the GIL while it runs goroutines.
        let py = unsafe { Python::assume_attached() };
        run_task(py, task);
    }));
    if ok.is_err() {
        crate::fatal("a Rust panic in a Python goroutine");
    }
}

fn run_task(py: Python<'_>, task: &mut Task) {
    // Bound, not Py: a goroutine runs outside pyo3's own GIL bookkeeping (its count is
    // 0 here), so dropping a Py would queue the decref for pyo3's next call, a mutex and
    // a drain per goroutine (about 2,300 instructions a spawn, callgrind); a Bound
    // decrefs at once.
    let func = task.func.take().expect("goroutine callable").into_bound(py);
    let args = task.args.take().expect("goroutine args").into_bound(py);
    let kwargs = task.kwargs.take().map(|k| k.into_bound(py));
    let r = crate::guarded_call(py, &func, &args, kwargs.as_ref());
    drop(func);
    drop(args);
    drop(kwargs);
    // Its spawn site is shown while it lives, which ends here.
    if let Some((code, _)) = task.site.take() {
        code.drop_ref(py);
    }
    let result = task.result.take();
    match result {
        Some(res) => {
            *res.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(r.map(|v| v.unbind()));
            // SAFETY: our reference to the done channel is alive (res holds it).
            unsafe { gmp_chan_close(res.done) };
            drop(res);
        }
        None => {
            if let Err(e) = r {
                crate::report_exception(py, e);
            }
        }
    }
}

/// `gmp.set_name`: names the calling goroutine (shown in dumps).
pub fn set_name(name: &str) -> i32 {
    let c = CString::new(name.replace('\0', "")).unwrap_or_default();
    // SAFETY: a NUL-terminated string, copied by the runtime.
    unsafe { gmp_set_name(c.as_ptr()) }
}

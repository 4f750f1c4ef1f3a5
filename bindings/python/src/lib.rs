//! `gmp._gmp`: the native half of `import gmp` (goroutines, channels, select, sync,
//! sleep and sockets for CPython 3.11, 3.12 and 3.13 on the libgmp runtime). The public names and the
//! docs live in `gmp/__init__.py` and `gmp/__init__.pyi`.
//!
//! ## Map
//! - `home.rs`: home threads (where Python goroutines run), spawning, exit.
//! - `csrc/pystate.c`: the per-goroutine PyThreadState fields, swapped by the switch
//!   hooks at every park and resume.
//! - `wait.rs`: how each kind of caller blocks (park, or GIL-released slices).
//! - `chan.rs`: Chan, select, after, ticker. `sync.rs`: WaitGroup, Mutex.
//! - `net.rs`: the fd calls behind `gmp.socket`. `blocking.rs`: `gmp.blocking`.
//! - `ffi.rs`: the libgmp C ABI, linked dynamically (one runtime per process).

use std::ffi::{CStr, c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

mod blocking;
mod chan;
mod ffi;
mod home;
mod net;
mod sync;
mod wait;

use ffi::*;
use home::{Where, where_am_i};

pyo3::create_exception!(
    gmp,
    ChannelClosed,
    pyo3::exceptions::PyException,
    "Raised by a receive on a closed and drained channel, a send on a closed channel, and close() of a closed channel."
);
pyo3::create_exception!(
    gmp,
    Deadlock,
    pyo3::exceptions::PyRuntimeError,
    "Raised by gmp.run when every goroutine is asleep for good (Go's \"all goroutines are asleep - deadlock!\"), with the goroutine dump."
);
pyo3::create_exception!(
    gmp,
    Timeout,
    pyo3::exceptions::PyTimeoutError,
    "Raised when a timeout given to a blocking call passes."
);

pub(crate) fn fatal(msg: &str) -> ! {
    eprintln!("gmp (python): fatal error: {msg}");
    std::process::abort()
}

pub(crate) fn set_home_ts(h: *mut gmpy_home, ts: *mut pyo3::ffi::PyThreadState) {
    unsafe extern "C" {
        fn gmpy_home_set_ts(h: *mut gmpy_home, ts: *mut pyo3::ffi::PyThreadState);
    }
    // SAFETY: h from gmpy_home_new; set on the home thread before its goroutines run.
    unsafe { gmpy_home_set_ts(h, ts) }
}

/// `func(*args, **kwargs)` through the C shim's guarded call: if this thread must wait
/// for the GIL after the interpreter began to finalize, it parks for good in a C frame
/// instead of being unwound through these Rust frames (csrc/pystate.c, exit guard).
pub(crate) fn guarded_call<'py>(
    py: Python<'py>,
    func: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: GIL held (py); borrowed pointers of live objects; a new reference or NULL
    // with an exception set comes back.
    unsafe {
        let r = gmpy_call(
            func.as_ptr(),
            args.as_ptr(),
            kwargs.map_or(std::ptr::null_mut(), |k| k.as_ptr()),
        );
        Bound::from_owned_ptr_or_err(py, r)
    }
}

/// PyGILState_Ensure through the guarded shim (see `guarded_call`).
pub(crate) fn gil_ensure() -> pyo3::ffi::PyGILState_STATE {
    // SAFETY: the shim returns PyGILState_Ensure's value.
    let s = unsafe { gmpy_gil_ensure() };
    if s == 0 {
        pyo3::ffi::PyGILState_STATE::PyGILState_LOCKED
    } else {
        pyo3::ffi::PyGILState_STATE::PyGILState_UNLOCKED
    }
}

/// A gmp error code as a Python exception.
/// Set in a fork()ed child (our pthread_atfork handler, installed at import).
pub(crate) static FORKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn atfork_child() {
    FORKED.store(true, Ordering::Relaxed);
}

/// The one error every gmp call raises in a fork()ed child of a process whose runtime
/// had started (its threads did not survive the fork).
pub(crate) fn fork_error() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err(
        "gmp: goroutines do not survive fork(); this process was fork()ed from one that \
         used gmp. Start it with multiprocessing's 'spawn' start method \
         (multiprocessing.set_start_method('spawn') or get_context('spawn')), or exec a \
         new interpreter",
    )
}

/// Err(fork_error()) in a fork()ed child whose parent had started the runtime (the
/// runtime then answers every call with GMP_ESHUTDOWN; a probe asks it once). One load
/// otherwise.
pub(crate) fn fork_check() -> PyResult<()> {
    if !FORKED.load(Ordering::Relaxed) {
        return Ok(());
    }
    static POISONED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let poisoned = *POISONED.get_or_init(|| {
        let mut ch = std::ptr::null_mut();
        // SAFETY: out-pointer to a local; released at once if made.
        let r = unsafe { gmp_chan_make(&mut ch, 0, 0) };
        if r >= 0 && !ch.is_null() {
            // SAFETY: our one reference.
            unsafe { gmp_chan_release(ch) };
        }
        r == GMP_ESHUTDOWN
    });
    if poisoned { Err(fork_error()) } else { Ok(()) }
}

pub(crate) fn error_from_code(_py: Python<'_>, code: c_int) -> PyErr {
    if code == GMP_ESHUTDOWN && FORKED.load(Ordering::Relaxed) {
        return fork_error();
    }
    match code {
        GMP_ECLOSED => ChannelClosed::new_err("channel closed"),
        GMP_ETIMEDOUT => Timeout::new_err("timed out"),
        GMP_EINVAL => pyo3::exceptions::PyValueError::new_err("invalid argument"),
        GMP_ENOMEM => pyo3::exceptions::PyMemoryError::new_err("gmp: out of memory"),
        GMP_ESHUTDOWN => pyo3::exceptions::PyRuntimeError::new_err("gmp: runtime shut down"),
        _ => {
            // SAFETY: gmp_strerror returns a static string for any code.
            let msg = unsafe { CStr::from_ptr(gmp_strerror(code)) }
                .to_string_lossy()
                .into_owned();
            if code < 0 && code > -4096 {
                pyo3::exceptions::PyOSError::new_err((-code, msg))
            } else {
                pyo3::exceptions::PyRuntimeError::new_err(format!("gmp: {msg} ({code})"))
            }
        }
    }
}

/// An exception escaped a goroutine: hand it to `gmp.excepthook` (SystemExit is
/// ignored, as `threading` does).
pub(crate) fn report_exception(py: Python<'_>, e: PyErr) {
    if e.is_instance_of::<pyo3::exceptions::PySystemExit>(py) {
        return;
    }
    let hook = py.import("gmp").and_then(|m| m.getattr("excepthook"));
    let r = match hook {
        Ok(h) => {
            let v = e.value(py);
            let no_tb = v
                .getattr("__traceback__")
                .map(|t| t.is_none())
                .unwrap_or(true);
            if let (true, Some(tb)) = (no_tb, e.traceback(py)) {
                let _ = v.setattr("__traceback__", tb);
            }
            let args = PyTuple::new(py, [v]).expect("a 1-tuple");
            guarded_call(py, &h, &args, None).map(|_| ())
        }
        Err(e2) => Err(e2),
    };
    if let Err(e2) = r {
        // The hook itself failed: print both, as the interpreter would.
        e.print(py);
        e2.print(py);
    }
}

/// Runs `func(*args, **kwargs)` as a new goroutine.
#[pyfunction]
#[pyo3(signature = (func, /, *args, **kwargs))]
fn go(
    py: Python<'_>,
    func: Py<PyAny>,
    args: Py<PyTuple>,
    kwargs: Option<Py<PyDict>>,
) -> PyResult<()> {
    fork_check()?;
    home::spawn(py, func, args, kwargs, None)
}

/// Runs `main(*args, **kwargs)` as a goroutine and waits for it; returns its result or
/// raises its exception. Called from a goroutine, just calls main.
#[pyfunction]
#[pyo3(signature = (main, /, *args, **kwargs))]
fn run(
    py: Python<'_>,
    main: Py<PyAny>,
    args: Py<PyTuple>,
    kwargs: Option<Py<PyDict>>,
) -> PyResult<Py<PyAny>> {
    fork_check()?;
    if where_am_i() == Where::HomeGoroutine {
        return guarded_call(
            py,
            main.bind(py),
            args.bind(py),
            kwargs.as_ref().map(|k| k.bind(py)),
        )
        .map(|v| v.unbind());
    }
    let mut done = std::ptr::null_mut();
    // SAFETY: out-pointer to a local.
    let r = unsafe { gmp_chan_make(&mut done, 0, 0) };
    if r < 0 {
        return Err(error_from_code(py, r));
    }
    let res = Arc::new(home::RunResult {
        done,
        value: std::sync::Mutex::new(None),
    });
    home::spawn(py, main, args, kwargs, Some(res.clone()))?;
    // Closed when main returns (or raises).
    if where_am_i() == Where::Thread {
        wait_main(py, done)?;
    } else {
        // SAFETY: res keeps the channel alive.
        wait::block_int(py, None, |t| unsafe {
            gmp_chan_recv_timeout(done, std::ptr::null_mut(), t)
        })?;
    }
    let v = res.value.lock().unwrap_or_else(|e| e.into_inner()).take();
    match v {
        Some(r) => r,
        None => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "gmp.run: main did not finish",
        )),
    }
}

/// How long every goroutine must stay asleep, with nothing run in between, before
/// `gmp.run` calls it a deadlock (as gmp_main's checkdead).
const DEAD_QUIET_NS: i64 = 200_000_000;

/// `gmp.run` on a plain thread: waits for `done` to close in GIL-released slices (Ctrl-C
/// raises between them), and raises `Deadlock` when every goroutine is asleep for good:
/// the runtime sees all of them parked on channels, select or sync objects with no
/// timer, fd wait or syscall pending (`gmp_all_asleep`), for DEAD_QUIET_NS with nothing
/// run in between, no `gmp.blocking` call is in flight, and no other Python thread runs
/// (one could still send: `sys._current_frames()` shows only the caller; homes waiting
/// for work have no frames). The main goroutine then stays parked for good, as
/// gmp_main's does.
fn wait_main(py: Python<'_>, done: *mut gmp_chan) -> PyResult<()> {
    let mut quiet: Option<(u64, i64)> = None;
    loop {
        // SAFETY: the caller's RunResult keeps the channel alive.
        let r = wait::without_gil(|| unsafe {
            gmp_chan_recv_timeout(done, std::ptr::null_mut(), wait::SLICE_NS)
        });
        if r != GMP_ETIMEDOUT && r != GMP_EAGAIN {
            return Ok(());
        }
        py.check_signals()?;
        if deadlocked(py, &mut quiet)? {
            let dump = runtime_dump();
            return Err(Deadlock::new_err(format!(
                "all goroutines are asleep - deadlock!\n\n{dump}"
            )));
        }
    }
}

/// One deadlock observation for `wait_main`: true once the quiet state has held with the
/// same stamp for DEAD_QUIET_NS.
fn deadlocked(py: Python<'_>, quiet: &mut Option<(u64, i64)>) -> PyResult<bool> {
    let mut stamp = 0u64;
    // SAFETY: an out-pointer to a local.
    let asleep = unsafe { gmp_all_asleep(&mut stamp) } == 1
        && blocking::INFLIGHT.load(Ordering::SeqCst) == 0
        && net::SOCK_WAITERS.load(Ordering::SeqCst) == 0
        && py
            .import("sys")?
            .getattr("_current_frames")?
            .call0()?
            .len()?
            <= 1;
    if !asleep {
        *quiet = None;
        return Ok(false);
    }
    let now = wait::now();
    match *quiet {
        Some((s, t0)) if s == stamp => Ok(now - t0 >= DEAD_QUIET_NS),
        _ => {
            *quiet = Some((stamp, now));
            Ok(false)
        }
    }
}

/// The runtime's goroutine dump (gmp_dump_goroutines) as text.
fn runtime_dump() -> String {
    // SAFETY: a memfd of our own, written by the runtime, read back and closed here.
    unsafe {
        let fd = libc::memfd_create(c"gmp-dump".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return String::new();
        }
        let mut out = Vec::new();
        if gmp_dump_goroutines(fd) == 0 && libc::lseek(fd, 0, libc::SEEK_SET) == 0 {
            let mut buf = [0u8; 4096];
            loop {
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                if n <= 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n as usize]);
            }
        }
        libc::close(fd);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Pauses the calling goroutine (or thread) for `seconds`; 0 yields.
#[pyfunction]
fn sleep(py: Python<'_>, seconds: f64) -> PyResult<()> {
    fork_check()?;
    if seconds.is_nan() || seconds < 0.0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "sleep length must be non-negative",
        ));
    }
    if seconds == 0.0 {
        return gosched(py);
    }
    let dl = wait::deadline(Some(seconds))?;
    wait::block(py, dl, |t| {
        // SAFETY: no preconditions.
        unsafe { gmp_sleep(t) };
        GMP_ETIMEDOUT as isize
    })?;
    Ok(())
}

/// Yields: other goroutines run, then the caller goes on.
#[pyfunction]
fn gosched(py: Python<'_>) -> PyResult<()> {
    fork_check()?;
    match where_am_i() {
        // SAFETY: no preconditions.
        Where::HomeGoroutine => unsafe { gmp_gosched() },
        Where::HomeThread => {}
        Where::ForeignGoroutine => {
            // SAFETY: balanced lock/unlock; the GIL is released only on this thread.
            unsafe { gmp_lock_os_thread() };
            // SAFETY: no preconditions.
            wait::without_gil(|| unsafe { gmp_gosched() });
            // SAFETY: as above.
            unsafe { gmp_unlock_os_thread() };
        }
        Where::Thread => {
            wait::without_gil(std::thread::yield_now);
            py.check_signals()?;
        }
    }
    Ok(())
}

/// The calling goroutine's id (0 outside goroutines).
#[pyfunction]
fn self_id() -> u64 {
    // SAFETY: no preconditions.
    unsafe { gmp_self() }
}

/// Goroutines alive in the runtime (Python and C ones).
#[pyfunction]
fn num_goroutine() -> i64 {
    // SAFETY: no preconditions.
    unsafe { gmp_num_goroutine() }
}

/// GOMAXPROCS: with n, sets it and returns the previous value; without, queries.
#[pyfunction]
#[pyo3(signature = (n = None))]
fn maxprocs(py: Python<'_>, n: Option<i32>) -> PyResult<i32> {
    if n.is_some_and(|n| n <= 0) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "maxprocs must be > 0",
        ));
    }
    // SAFETY: no preconditions.
    let r = unsafe { gmp_maxprocs(n.unwrap_or(0)) };
    if r < 0 {
        return Err(error_from_code(py, r));
    }
    Ok(r)
}

/// Before the first goroutine: how many home threads run Python goroutines, and the
/// runtime's P count. At any time: the size of gmp.blocking's worker pool.
#[pyfunction]
#[pyo3(signature = (python_threads = None, maxprocs = None, blocking_threads = None))]
fn configure(
    py: Python<'_>,
    python_threads: Option<usize>,
    maxprocs: Option<i32>,
    blocking_threads: Option<usize>,
) -> PyResult<()> {
    if let Some(n) = blocking_threads {
        if n == 0 || n > 4096 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "blocking_threads must be between 1 and 4096",
            ));
        }
        blocking::MAX_THREADS.store(n, Ordering::Relaxed);
    }
    if let Some(n) = python_threads {
        if n == 0 || n > 256 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "python_threads must be between 1 and 256",
            ));
        }
        if home::homes_started() {
            if n != home::homes().len() {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "gmp.configure(python_threads=...) must come before the first goroutine",
                ));
            }
        } else {
            home::CONFIG
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .python_threads = n;
        }
    }
    if let Some(m) = maxprocs {
        if m <= 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "maxprocs must be > 0",
            ));
        }
        let cfg = gmp_config {
            maxprocs: m,
            ..Default::default()
        };
        // SAFETY: a config of our own size.
        let r = unsafe { gmp_init(&cfg) };
        if r == GMP_EALREADY {
            // SAFETY: no preconditions.
            let r = unsafe { gmp_maxprocs(m) };
            if r < 0 {
                return Err(error_from_code(py, r));
            }
        } else if r < 0 {
            return Err(error_from_code(py, r));
        }
    }
    Ok(())
}

/// Names the calling goroutine (shown in goroutine dumps).
#[pyfunction]
fn set_name(py: Python<'_>, name: &str) -> PyResult<()> {
    let r = home::set_name(name);
    if r == GMP_ENOTGOROUTINE {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "gmp.set_name: not called from a goroutine",
        ));
    }
    if r < 0 {
        return Err(error_from_code(py, r));
    }
    Ok(())
}

/// The path of the shared object whose gmp_* symbols are this process's runtime.
#[pyfunction]
fn library_path() -> PyResult<String> {
    // SAFETY: dladdr on the address of a function of the loaded libgmp.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let f = gmp_lib_version as *const c_void;
        if libc::dladdr(f, &mut info) == 0 || info.dli_fname.is_null() {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "gmp: cannot locate the runtime library",
            ));
        }
        let p = CStr::from_ptr(info.dli_fname)
            .to_string_lossy()
            .into_owned();
        Ok(std::fs::canonicalize(&p)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or(p))
    }
}

/// The runtime's version string.
#[pyfunction]
fn lib_version() -> String {
    // SAFETY: a static string.
    unsafe { CStr::from_ptr(gmp_lib_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Scheduler statistics (gmp_read_stats) as a dict.
#[pyfunction]
fn stats(py: Python<'_>) -> PyResult<Py<PyDict>> {
    let mut s = gmp_stats {
        size: std::mem::size_of::<gmp_stats>(),
        ..Default::default()
    };
    // SAFETY: a stats struct of our own size.
    let r = unsafe { gmp_read_stats(&mut s) };
    if r < 0 {
        return Err(error_from_code(py, r));
    }
    let d = PyDict::new(py);
    d.set_item("maxprocs", s.maxprocs)?;
    d.set_item("idle_procs", s.idle_procs)?;
    d.set_item("threads", s.threads)?;
    d.set_item("spinning_threads", s.spinning_threads)?;
    d.set_item("idle_threads", s.idle_threads)?;
    d.set_item("goroutines", s.goroutines)?;
    d.set_item("global_runqueue", s.global_runqueue)?;
    d.set_item("goroutines_created", s.goroutines_created)?;
    d.set_item("context_switches", s.context_switches)?;
    d.set_item("steals", s.steals)?;
    d.set_item("syscall_handoffs", s.syscall_handoffs)?;
    d.set_item("preempt_requests", s.preempt_requests)?;
    d.set_item(
        "blocking_threads",
        blocking::THREADS.load(Ordering::Relaxed),
    )?;
    d.set_item("blocking_max_threads", blocking::max_threads())?;
    Ok(d.unbind())
}

/// Writes the runtime's goroutine dump (id, name, state, wait reason) to fd.
#[pyfunction]
#[pyo3(signature = (fd = 2))]
fn dump_goroutines(py: Python<'_>, fd: c_int) -> PyResult<()> {
    // SAFETY: no memory is passed.
    let r = unsafe { gmp_dump_goroutines(fd) };
    if r < 0 {
        return Err(error_from_code(py, r));
    }
    Ok(())
}

/// The atexit hook: stop the homes (parked goroutines stay parked), after letting
/// `gmp.blocking` calls in flight finish.
#[pyfunction]
fn _atexit(py: Python<'_>) -> PyResult<()> {
    if home::EXITING.swap(true, Ordering::SeqCst) || !home::homes_are_ours() {
        return Ok(());
    }
    // Blocking calls in flight run Python on runtime threads: let them finish while
    // the interpreter is whole (as concurrent.futures joins its workers), unless the
    // program is ending on Ctrl-C (an uncaught KeyboardInterrupt), or Ctrl-C comes
    // while we wait: a call that never returns must not hold the exit up (its thread
    // parks for good if it later wants the GIL: the exit guard in csrc/pystate.c).
    let interrupted = py
        .import("sys")
        .and_then(|s| s.getattr("last_type"))
        .is_ok_and(|t| t.is(py.get_type::<pyo3::exceptions::PyKeyboardInterrupt>()));
    while !interrupted && blocking::INFLIGHT.load(Ordering::SeqCst) > 0 {
        wait::without_gil(|| std::thread::sleep(std::time::Duration::from_millis(1)));
        if py.check_signals().is_err() {
            break;
        }
    }
    for h in home::homes() {
        h.wake();
    }
    // Wait (GIL released) until every home has let the GIL go for good, and no thread
    // is on its way back to it. A goroutine that never parks would keep its home
    // busy: give up on it after a second (its thread then parks for good when it next
    // wants the GIL: the exit guard in csrc/pystate.c).
    let start = wait::now();
    wait::without_gil(|| {
        loop {
            let all = home::homes()
                .iter()
                .all(|h| h.acked.load(Ordering::Acquire));
            if all && wait::REACQUIRING.load(Ordering::SeqCst) == 0 {
                break;
            }
            if wait::now() - start > 1_000_000_000 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    });
    Ok(())
}

/// Around `sys.setrecursionlimit` (3.11): `_recap(0)` before lifts the calling
/// goroutine's cap, `_recap(1)` after applies it at the new limit (csrc/pystate.c,
/// gmpy_home_recap).
#[pyfunction]
fn _recap(capped: c_int) {
    if where_am_i() == Where::HomeGoroutine
        && let Some(h) = home::this_home()
    {
        // SAFETY: on the home thread, with the GIL, inside one of its goroutines.
        unsafe { gmpy_home_recap(h.py, capped) };
    }
}

/// `{id: (filename, line)}`: where each live Python goroutine was spawned.
#[pyfunction]
fn _spawn_sites(py: Python<'_>) -> PyResult<Py<PyDict>> {
    home::spawn_sites(py)
}

/// `(filename, line)` where the calling goroutine was spawned, or None.
#[pyfunction]
fn _spawn_site(py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
    home::current_spawn_site(py)
}

/// Frames in files under `prefix` (the gmp package) are never a spawn site.
#[pyfunction]
fn _set_package_dir(prefix: Bound<'_, pyo3::types::PyString>) {
    let _ = home::PACKAGE_DIR.set(prefix.unbind());
}

/// The live Python goroutines as (id, frames innermost first); see gmp.goroutines.
#[pyfunction]
fn _goroutines(py: Python<'_>) -> PyResult<Vec<(u64, Py<pyo3::types::PyList>)>> {
    home::live_goroutines(py)
}

/// Whether the running interpreter is the minor version the C shim was built for.
fn _python_version_ok() -> bool {
    // SAFETY: a pure function of the C shim.
    let built = unsafe { gmpy_built_hexversion() } as u32;
    // SAFETY: reading an exported constant.
    let running = unsafe { pyo3::ffi::Py_Version } as u32;
    built >> 16 == running >> 16
}

/// A `gmp.timeout` scope opens (see `wait::SCOPES`).
#[pyfunction]
fn _scope_enter() {
    wait::SCOPES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// A `gmp.timeout` scope closes.
#[pyfunction]
fn _scope_exit() {
    wait::SCOPES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

#[pymodule]
fn _gmp(m: &Bound<'_, PyModule>) -> PyResult<()> {
    if !_python_version_ok() {
        // SAFETY: pure functions of the C shim and an exported constant.
        let (built, running) =
            unsafe { (gmpy_built_hexversion() as u32, pyo3::ffi::Py_Version as u32) };
        return Err(pyo3::exceptions::PyImportError::new_err(format!(
            "gmp: this build is for CPython {}.{} but runs on {}.{}; reinstall gmp-runtime \
             for this interpreter (supported: 3.11, 3.12, 3.13)",
            built >> 24,
            (built >> 16) & 0xff,
            running >> 24,
            (running >> 16) & 0xff
        )));
    }
    let py = m.py();
    // SAFETY: registers a handler that only stores to an atomic.
    unsafe { libc::pthread_atfork(None, None, Some(atfork_child)) };
    m.add("ChannelClosed", py.get_type::<ChannelClosed>())?;
    m.add("Timeout", py.get_type::<Timeout>())?;
    m.add("Deadlock", py.get_type::<Deadlock>())?;
    m.add_class::<chan::Chan>()?;
    m.add_class::<chan::Ticker>()?;
    m.add_class::<chan::SelectCase>()?;
    m.add_class::<sync::WaitGroup>()?;
    m.add_class::<sync::Mutex>()?;
    m.add_function(wrap_pyfunction!(_scope_enter, m)?)?;
    m.add_function(wrap_pyfunction!(_scope_exit, m)?)?;
    m.add_function(wrap_pyfunction!(go, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(sleep, m)?)?;
    m.add_function(wrap_pyfunction!(gosched, m)?)?;
    m.add_function(wrap_pyfunction!(self_id, m)?)?;
    m.add_function(wrap_pyfunction!(num_goroutine, m)?)?;
    m.add_function(wrap_pyfunction!(maxprocs, m)?)?;
    m.add_function(wrap_pyfunction!(configure, m)?)?;
    m.add_function(wrap_pyfunction!(set_name, m)?)?;
    m.add_function(wrap_pyfunction!(library_path, m)?)?;
    m.add_function(wrap_pyfunction!(lib_version, m)?)?;
    m.add_function(wrap_pyfunction!(stats, m)?)?;
    m.add_function(wrap_pyfunction!(dump_goroutines, m)?)?;
    m.add_function(wrap_pyfunction!(chan::select, m)?)?;
    m.add_function(wrap_pyfunction!(chan::after, m)?)?;
    m.add_function(wrap_pyfunction!(chan::ticker, m)?)?;
    m.add_function(wrap_pyfunction!(blocking::blocking, m)?)?;
    m.add_function(wrap_pyfunction!(net::sock_recv, m)?)?;
    m.add_function(wrap_pyfunction!(net::sock_recv_into, m)?)?;
    m.add_function(wrap_pyfunction!(net::sock_send, m)?)?;
    m.add_function(wrap_pyfunction!(net::sock_sendall, m)?)?;
    m.add_function(wrap_pyfunction!(net::sock_accept, m)?)?;
    m.add_function(wrap_pyfunction!(net::wait_fd, m)?)?;
    m.add_function(wrap_pyfunction!(net::close_fd, m)?)?;
    m.add_function(wrap_pyfunction!(net::sock_adopt, m)?)?;
    m.add_function(wrap_pyfunction!(_atexit, m)?)?;
    m.add_function(wrap_pyfunction!(_goroutines, m)?)?;
    m.add_function(wrap_pyfunction!(_recap, m)?)?;
    m.add_function(wrap_pyfunction!(_spawn_sites, m)?)?;
    m.add_function(wrap_pyfunction!(_spawn_site, m)?)?;
    m.add_function(wrap_pyfunction!(_set_package_dir, m)?)?;
    m.add("POLLIN", GMP_POLLIN)?;
    m.add("POLLOUT", GMP_POLLOUT)?;
    Ok(())
}

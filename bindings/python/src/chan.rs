//! `gmp.Chan`, `gmp.select`, `gmp.after`, `gmp.ticker`.
//!
//! An object channel's elements are `PyObject*` (elem_size 8) whose reference is owned
//! by the channel while in flight: `send` gives one, `recv` takes it. If the channel goes
//! with items still buffered, the drop callback releases them (with the GIL). A raw
//! channel (`Chan(raw=True)`, and what `after`/`ticker` return) carries int64 values: the
//! form to share with C goroutines through `Chan.handle`.

use std::ffi::{c_int, c_void};

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::ffi::*;
use crate::home::EXITING;
use crate::wait::{block_int, deadline};
use crate::{ChannelClosed, Timeout, error_from_code};

#[pyclass(module = "gmp", subclass, frozen, weakref)]
pub struct Chan {
    pub ch: *mut gmp_chan,
    pub raw: bool,
}
// SAFETY: a gmp_chan handle may be used from any thread (reference counted, locked).
unsafe impl Send for Chan {}
// SAFETY: as above.
unsafe impl Sync for Chan {}

/// The raw channels Python holds, with how many `Chan` objects hold each: the handles
/// `Chan.from_handle` accepts. A handle is an address C code can forge or keep past the
/// channel's end; looking it up here (never dereferencing an unknown one) turns a bad
/// handle into ValueError instead of a crash.
static RAW_HANDLES: std::sync::Mutex<Option<std::collections::HashMap<usize, usize>>> =
    std::sync::Mutex::new(None);

fn raw_handles() -> std::sync::MutexGuard<'static, Option<std::collections::HashMap<usize, usize>>>
{
    RAW_HANDLES.lock().unwrap_or_else(|e| e.into_inner())
}

fn raw_register(ch: *mut gmp_chan) {
    *raw_handles()
        .get_or_insert_with(Default::default)
        .entry(ch as usize)
        .or_insert(0) += 1;
}

impl Drop for Chan {
    fn drop(&mut self) {
        if self.raw && !self.ch.is_null() {
            let mut g = raw_handles();
            if let Some(m) = g.as_mut()
                && let Some(n) = m.get_mut(&(self.ch as usize))
            {
                *n -= 1;
                if *n == 0 {
                    m.remove(&(self.ch as usize));
                }
            }
        }
        if !self.ch.is_null() {
            // SAFETY: we own one reference; the drop callback may run here (GIL held by
            // this thread, which PyGILState_Ensure in the callback accepts).
            unsafe { gmp_chan_release(self.ch) };
        }
    }
}

/// Releases the references of objects still buffered when an object channel goes.
unsafe extern "C" fn drop_object(elem: *mut c_void, _ctx: *mut c_void) {
    // SAFETY: elem points at one element slot of the channel: a PyObject* we own.
    let obj = unsafe { *(elem as *const *mut pyo3::ffi::PyObject) };
    if obj.is_null() {
        return;
    }
    // SAFETY: PyGILState_Check is safe on any thread.
    let holds = unsafe { pyo3::ffi::PyGILState_Check() } != 0;
    if EXITING.load(std::sync::atomic::Ordering::Acquire) && !holds {
        // Taking the GIL during finalization could end this thread: leak instead.
        return;
    }
    // SAFETY: Ensure/Release pair around the decref of our reference.
    unsafe {
        let st = crate::gil_ensure();
        pyo3::ffi::Py_DECREF(obj);
        pyo3::ffi::PyGILState_Release(st);
    }
}

pub fn make_chan(py: Python<'_>, capacity: usize, raw: bool) -> PyResult<Chan> {
    let mut ch: *mut gmp_chan = std::ptr::null_mut();
    // SAFETY: out-pointer to a local.
    let r = unsafe {
        if raw {
            gmp_chan_make(&mut ch, 8, capacity)
        } else {
            gmp_chan_make_ex(
                &mut ch,
                8,
                capacity,
                Some(drop_object),
                std::ptr::null_mut(),
            )
        }
    };
    if r < 0 {
        return Err(error_from_code(py, r));
    }
    if raw {
        raw_register(ch);
    }
    Ok(Chan { ch, raw })
}

impl Chan {
    /// An element for this channel from a Python value (a new reference, or an int64).
    fn to_elem(&self, v: &Bound<'_, PyAny>) -> PyResult<u64> {
        if self.raw {
            Ok(v.extract::<i64>()? as u64)
        } else {
            Ok(v.clone().into_ptr() as u64)
        }
    }

    /// Undoes `to_elem` for an element that was not sent.
    fn unsent(&self, elem: u64) {
        if !self.raw && elem != 0 {
            // SAFETY: the reference to_elem took; GIL held.
            unsafe { pyo3::ffi::Py_DECREF(elem as *mut pyo3::ffi::PyObject) };
        }
    }

    /// A received element as a Python value (taking its reference).
    fn elem_value(&self, py: Python<'_>, elem: u64) -> Py<PyAny> {
        if self.raw {
            (elem as i64).into_pyobject(py).unwrap().into_any().unbind()
        } else {
            // SAFETY: the channel gave us its reference.
            unsafe { Bound::from_owned_ptr(py, elem as *mut pyo3::ffi::PyObject) }.unbind()
        }
    }

    pub fn do_send(
        &self,
        py: Python<'_>,
        v: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let (timeout, scoped) = crate::wait::scoped(py, timeout)?;
        let elem = self.to_elem(v)?;
        let dl = match deadline(timeout) {
            Ok(d) => d,
            Err(e) => {
                self.unsent(elem);
                return Err(e);
            }
        };
        let ch = self.ch;
        let p = &elem as *const u64 as *const c_void;
        let r = if dl.is_none() && crate::home::where_am_i() == crate::home::Where::HomeGoroutine {
            // SAFETY: a live channel; elem lives on this stack until send returns.
            unsafe { gmp_chan_send(ch, p) }
        } else {
            match block_int(py, dl, |t| {
                // SAFETY: as above.
                unsafe { gmp_chan_send_timeout(ch, p, t) }
            }) {
                Ok(r) => r,
                Err(e) => {
                    self.unsent(elem);
                    return Err(e);
                }
            }
        };
        if r < 0 {
            self.unsent(elem);
            return Err(match r {
                GMP_ECLOSED => ChannelClosed::new_err("send on closed channel"),
                GMP_ETIMEDOUT | GMP_EAGAIN if scoped => crate::wait::scope_expired(),
                GMP_ETIMEDOUT | GMP_EAGAIN => Timeout::new_err("send timed out"),
                _ => error_from_code(py, r),
            });
        }
        Ok(())
    }

    pub fn do_recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let (timeout, scoped) = crate::wait::scoped(py, timeout)?;
        let dl = deadline(timeout)?;
        let mut elem: u64 = 0;
        let ch = self.ch;
        let p = &mut elem as *mut u64 as *mut c_void;
        let r = if dl.is_none() && crate::home::where_am_i() == crate::home::Where::HomeGoroutine {
            // SAFETY: a live channel; elem lives on this stack until recv returns.
            unsafe { gmp_chan_recv(ch, p) }
        } else {
            // SAFETY: as above.
            block_int(py, dl, |t| unsafe { gmp_chan_recv_timeout(ch, p, t) })?
        };
        match r {
            0 => Ok(self.elem_value(py, elem)),
            GMP_ECLOSED => Err(ChannelClosed::new_err("receive on closed channel")),
            GMP_ETIMEDOUT | GMP_EAGAIN if scoped => Err(crate::wait::scope_expired()),
            GMP_ETIMEDOUT | GMP_EAGAIN => Err(Timeout::new_err("receive timed out")),
            _ => Err(error_from_code(py, r)),
        }
    }
}

#[pymethods]
impl Chan {
    #[new]
    #[pyo3(signature = (capacity = 0, *, raw = false))]
    fn new(py: Python<'_>, capacity: i64, raw: bool) -> PyResult<Self> {
        if capacity < 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "capacity must be >= 0",
            ));
        }
        make_chan(py, capacity as usize, raw)
    }

    /// Another `Chan` object for the raw channel whose `handle` this is; takes a new
    /// reference of its own. Only handles of live raw channels (`Chan(raw=True)`) of
    /// this process are accepted; anything else (a forged or stale address, an object
    /// channel, `raw=False`) raises ValueError.
    #[classmethod]
    #[pyo3(signature = (handle, *, raw = true))]
    fn from_handle(
        _cls: &Bound<'_, pyo3::types::PyType>,
        handle: usize,
        raw: bool,
    ) -> PyResult<Self> {
        if !raw {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "only raw (int64) channels have handles: from_handle(raw=False) is refused",
            ));
        }
        let mut g = raw_handles();
        let Some(n) = g.as_mut().and_then(|m| m.get_mut(&handle)) else {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "{handle:#x} is not the handle of a live gmp.Chan(raw=True) of this process"
            )));
        };
        // SAFETY: a live raw channel: a Chan object holds a reference (the registry
        // lock keeps it from dropping meanwhile).
        let ch = unsafe { gmp_chan_retain(handle as *mut gmp_chan) };
        *n += 1;
        Ok(Chan { ch, raw })
    }

    /// `gmp.Chan[int]` in annotations.
    #[classmethod]
    fn __class_getitem__(
        cls: &Bound<'_, pyo3::types::PyType>,
        item: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let py = cls.py();
        let ga = py.import("types")?.getattr("GenericAlias")?;
        Ok(ga.call1((cls, item))?.unbind())
    }

    /// Sends v, blocking until a receiver takes it or there is buffer room.
    #[pyo3(signature = (v, timeout = None))]
    fn send(&self, py: Python<'_>, v: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        self.do_send(py, v, timeout)
    }

    /// Receives a value; raises ChannelClosed once the channel is closed and drained.
    #[pyo3(signature = (timeout = None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        self.do_recv(py, timeout)
    }

    /// Sends without blocking: True if sent, False if it would block.
    fn try_send(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<bool> {
        let elem = self.to_elem(v)?;
        // SAFETY: a live channel; timeout 0 never blocks.
        let r = unsafe { gmp_chan_send_timeout(self.ch, &elem as *const u64 as *const c_void, 0) };
        if r < 0 {
            self.unsent(elem);
        }
        match r {
            0 => Ok(true),
            GMP_EAGAIN | GMP_ETIMEDOUT => Ok(false),
            GMP_ECLOSED => Err(ChannelClosed::new_err("send on closed channel")),
            _ => Err(error_from_code(py, r)),
        }
    }

    /// Receives without blocking: (value, True), or (None, False) if none is ready.
    /// Raises ChannelClosed once the channel is closed and drained.
    fn try_recv(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, bool)> {
        let mut elem: u64 = 0;
        // SAFETY: a live channel; timeout 0 never blocks.
        let r = unsafe { gmp_chan_recv_timeout(self.ch, &mut elem as *mut u64 as *mut c_void, 0) };
        match r {
            0 => Ok((self.elem_value(py, elem), true)),
            GMP_EAGAIN | GMP_ETIMEDOUT => Ok((py.None(), false)),
            GMP_ECLOSED => Err(ChannelClosed::new_err("receive on closed channel")),
            _ => Err(error_from_code(py, r)),
        }
    }

    /// Closes the channel: receivers drain what is buffered, then get ChannelClosed.
    /// Raises ChannelClosed if it was already closed.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        // SAFETY: a live channel.
        let r = unsafe { gmp_chan_close(self.ch) };
        match r {
            0 => Ok(()),
            GMP_ECLOSED => Err(ChannelClosed::new_err("close of closed channel")),
            _ => Err(error_from_code(py, r)),
        }
    }

    /// Number of buffered items.
    fn len(&self) -> i64 {
        // SAFETY: a live channel.
        unsafe { gmp_chan_len(self.ch) }.max(0)
    }

    fn __len__(&self) -> usize {
        self.len() as usize
    }

    fn __bool__(&self) -> bool {
        true
    }

    /// Buffer capacity.
    fn cap(&self) -> i64 {
        // SAFETY: a live channel.
        unsafe { gmp_chan_cap(self.ch) }.max(0)
    }

    #[getter]
    fn capacity(&self) -> i64 {
        self.cap()
    }

    #[getter(raw)]
    fn get_raw(&self) -> bool {
        self.raw
    }

    /// The `gmp_chan*` as an int (borrowed: valid while this object lives).
    #[getter]
    fn handle(&self) -> usize {
        self.ch as usize
    }

    fn send_case(slf: &Bound<'_, Self>, v: Py<PyAny>) -> SelectCase {
        SelectCase {
            chan: Some(slf.clone().unbind()),
            op: GMP_SEND,
            value: Some(v),
        }
    }

    fn recv_case(slf: &Bound<'_, Self>) -> SelectCase {
        SelectCase {
            chan: Some(slf.clone().unbind()),
            op: GMP_RECV,
            value: None,
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.do_recv(py, None) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_instance_of::<ChannelClosed>(py) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn __repr__(&self) -> String {
        // SAFETY: a live channel.
        let (len, cap) = unsafe { (gmp_chan_len(self.ch), gmp_chan_cap(self.ch)) };
        format!(
            "<gmp.Chan{} len={} cap={} at {:#x}>",
            if self.raw { " raw" } else { "" },
            len,
            cap,
            self.ch as usize
        )
    }
}

/// `gmp.ticker(seconds)`: a raw channel receiving `gmp_now()` ticks; call `stop()`.
#[pyclass(module = "gmp", extends = Chan, frozen)]
pub struct Ticker {}

#[pymethods]
impl Ticker {
    /// Stops the ticks (buffered ones may still be received).
    fn stop(slf: &Bound<'_, Self>, py: Python<'_>) -> PyResult<()> {
        let ch = slf.as_super().get().ch;
        // SAFETY: a live ticker channel.
        let r = unsafe { gmp_ticker_stop(ch) };
        if r < 0 {
            return Err(error_from_code(py, r));
        }
        Ok(())
    }
}

fn seconds_to_ns(s: f64) -> PyResult<i64> {
    if s.is_nan() || s < 0.0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "duration must be a non-negative number",
        ));
    }
    Ok((s * 1e9).min(4e18) as i64)
}

#[pyfunction]
pub fn after(py: Python<'_>, seconds: f64) -> PyResult<Chan> {
    let ns = seconds_to_ns(seconds)?;
    let mut ch = std::ptr::null_mut();
    // SAFETY: out-pointer to a local.
    let r = unsafe { gmp_after(&mut ch, ns) };
    if r < 0 {
        return Err(error_from_code(py, r));
    }
    Ok(Chan { ch, raw: true })
}

#[pyfunction]
pub fn ticker(py: Python<'_>, seconds: f64) -> PyResult<Py<Ticker>> {
    let ns = seconds_to_ns(seconds)?;
    if ns <= 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "ticker period must be > 0",
        ));
    }
    let mut ch = std::ptr::null_mut();
    // SAFETY: out-pointer to a local.
    let r = unsafe { gmp_ticker(&mut ch, ns) };
    if r < 0 {
        return Err(error_from_code(py, r));
    }
    Py::new(py, (Ticker {}, Chan { ch, raw: true }))
}

/// A case of `gmp.select`, made by `Chan.send_case(v)` or `Chan.recv_case()`.
#[pyclass(module = "gmp", frozen)]
pub struct SelectCase {
    chan: Option<Py<Chan>>,
    op: c_int,
    value: Option<Py<PyAny>>,
}

#[pymethods]
impl SelectCase {
    #[getter]
    fn chan(&self, py: Python<'_>) -> Option<Py<Chan>> {
        self.chan.as_ref().map(|c| c.clone_ref(py))
    }
    #[getter]
    fn is_send(&self) -> bool {
        self.op == GMP_SEND
    }
    fn __repr__(&self) -> String {
        format!(
            "<gmp.SelectCase {}>",
            if self.op == GMP_SEND { "send" } else { "recv" }
        )
    }
}

/// `gmp.select(*cases, timeout=None, default=False) -> (index, value, ok)`.
#[pyfunction]
#[pyo3(signature = (*cases, timeout = None, default = false))]
pub fn select(
    py: Python<'_>,
    cases: &Bound<'_, PyTuple>,
    timeout: Option<f64>,
    default: bool,
) -> PyResult<(Py<PyAny>, Py<PyAny>, bool)> {
    let n = cases.len();
    let mut refs: Vec<Option<Py<SelectCase>>> = Vec::with_capacity(n);
    for c in cases.iter() {
        if c.is_none() {
            refs.push(None);
        } else {
            refs.push(Some(c.cast_into::<SelectCase>()?.unbind()));
        }
    }
    let dl = if default {
        Some(crate::wait::now())
    } else {
        deadline(timeout)?
    };
    let mut slots: Vec<u64> = vec![0; n];
    let mut cs: Vec<gmp_select_case> = Vec::with_capacity(n);
    // Build the cases; send values take a reference (or become int64s) now.
    let mut err: Option<PyErr> = None;
    for (i, r) in refs.iter().enumerate() {
        let (chan, op) = match r {
            None => (std::ptr::null_mut(), GMP_RECV),
            Some(sc) => {
                let sc = sc.get();
                let ch = sc.chan.as_ref().map(|c| c.get()).unwrap();
                if sc.op == GMP_SEND && err.is_none() {
                    match ch.to_elem(sc.value.as_ref().unwrap().bind(py)) {
                        Ok(e) => slots[i] = e,
                        Err(e) => err = Some(e),
                    }
                }
                (ch.ch, sc.op)
            }
        };
        cs.push(gmp_select_case {
            chan,
            op,
            elem: std::ptr::null_mut(),
            result: 0,
        });
    }
    let release_unsent = |slots: &[u64], except: Option<usize>| {
        for (i, r) in refs.iter().enumerate() {
            if Some(i) == except {
                continue;
            }
            if let Some(sc) = r {
                let sc = sc.get();
                if sc.op == GMP_SEND {
                    sc.chan.as_ref().unwrap().get().unsent(slots[i]);
                }
            }
        }
    };
    if let Some(e) = err {
        release_unsent(&slots, None);
        return Err(e);
    }
    for (i, c) in cs.iter_mut().enumerate() {
        c.elem = &mut slots[i] as *mut u64 as *mut c_void;
    }
    let csp = cs.as_mut_ptr();
    let r = if dl.is_none() && crate::home::where_am_i() == crate::home::Where::HomeGoroutine {
        // SAFETY: cases and slots live on this stack until select returns.
        unsafe { gmp_select(csp, n, -1) }
    } else {
        // SAFETY: as above.
        match block_int(py, dl, |t| unsafe { gmp_select(csp, n, t) }) {
            Ok(r) => r,
            Err(e) => {
                release_unsent(&slots, None);
                return Err(e);
            }
        }
    };
    if r < 0 {
        release_unsent(&slots, None);
        return match r {
            GMP_ETIMEDOUT | GMP_EAGAIN => Ok((py.None(), py.None(), false)),
            _ => Err(error_from_code(py, r)),
        };
    }
    let i = r as usize;
    let sc = refs[i].as_ref().unwrap().get();
    let ch = sc.chan.as_ref().unwrap().get();
    let res = cs[i].result;
    if sc.op == GMP_SEND {
        if res < 0 {
            release_unsent(&slots, None);
            return Err(ChannelClosed::new_err("send on closed channel"));
        }
        release_unsent(&slots, Some(i));
        Ok((i.into_pyobject(py)?.into_any().unbind(), py.None(), true))
    } else {
        release_unsent(&slots, None);
        let idx = i.into_pyobject(py)?.into_any().unbind();
        if res < 0 {
            Ok((idx, py.None(), false))
        } else {
            Ok((idx, ch.elem_value(py, slots[i]), true))
        }
    }
}

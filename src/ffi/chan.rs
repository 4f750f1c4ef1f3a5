//! Channels and select.

use std::ffi::{c_int, c_void};

use super::entry;
use super::types::{GMP_RECV, GMP_SEND, gmp_chan, gmp_select_case};
use crate::chan::{Chan, DropFn, Fast, Inner};
use crate::error;
use crate::sys::lock::Guard;

fn chan<'a>(c: *mut gmp_chan) -> Option<&'a Chan> {
    // SAFETY: a non-NULL handle is a live channel the caller holds a reference to.
    unsafe { (c as *const Chan).as_ref() }
}

/// Makes a channel of `capacity` elements of `elem_size` bytes (0..65536; 0 is Go's
/// `chan struct{}`: elements may be NULL). Capacity 0 is unbuffered: a send waits for a
/// receiver and hands the value over directly.
///
/// Returns 0 and the channel (one reference) in `*out`; `GMP_EINVAL` (NULL `out`,
/// `elem_size` over 65536, or `elem_size * capacity` overflows); `GMP_ENOMEM`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_chan_make(
    out: *mut *mut gmp_chan,
    elem_size: usize,
    capacity: usize,
) -> c_int {
    entry!(
        Runtime,
        make(out, elem_size, capacity, None, std::ptr::null_mut())
    )
}

/// `gmp_chan_make` with an element destructor: `drop(elem, drop_ctx)` runs, with no
/// lock held, on each element still buffered when the last reference goes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_chan_make_ex(
    out: *mut *mut gmp_chan,
    elem_size: usize,
    capacity: usize,
    drop: Option<unsafe extern "C" fn(elem: *mut c_void, ctx: *mut c_void)>,
    drop_ctx: *mut c_void,
) -> c_int {
    entry!(Runtime, make(out, elem_size, capacity, drop, drop_ctx))
}

fn make(
    out: *mut *mut gmp_chan,
    elem_size: usize,
    capacity: usize,
    drop: Option<DropFn>,
    drop_ctx: *mut c_void,
) -> c_int {
    if out.is_null() {
        return error::EINVAL;
    }
    let d: Option<(DropFn, *mut c_void)> = drop.map(|f| (f, drop_ctx));
    match Chan::make(elem_size, capacity, d, None) {
        Ok(c) => {
            // SAFETY: checked non-NULL, writable by the caller's contract.
            unsafe { *out = c as *mut gmp_chan };
            0
        }
        Err(e) => e,
    }
}

/// Adds a reference to `ch` and returns it (NULL stays NULL).
#[unsafe(no_mangle)]
pub extern "C" fn gmp_chan_retain(ch: *mut gmp_chan) -> *mut gmp_chan {
    entry!(Anywhere, on_panic = ch, {
        if let Some(c) = chan(ch) {
            c.retain();
        }
        ch
    })
}

/// Drops a reference; the last one frees the channel (after `drop` on buffered
/// elements). NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_chan_release(ch: *mut gmp_chan) {
    // NoStart: in a forked child a parent thread may have held the channel's lock, so
    // the channel leaks there instead.
    entry!(NoStart, {
        if !ch.is_null() {
            // SAFETY: the caller gives up one reference to a live channel.
            unsafe { Chan::release(ch as *mut Chan) }
        }
    })
}

/// Sends a copy of `elem_size` bytes at `elem` (may be NULL when elem_size is 0),
/// waiting for room or a receiver. A switch point.
///
/// Returns 0; `GMP_ECLOSED` (closed; Go panics, C cannot); `GMP_EINVAL` (NULL channel,
/// or NULL `elem` with a non-zero element size); `GMP_ECANCELED` (home closed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_chan_send(ch: *mut gmp_chan, elem: *const c_void) -> c_int {
    // The send that completes at once runs here with no call that returns
    // (`Chan::send_fast`); each other case goes on out of line, in a tail call.
    if !crate::sys::sanitizer::on() && crate::sched::running() {
        if let Some(c) = chan(ch) {
            if !elem.is_null() || c.elem_size == 0 {
                return match c.send_fast(elem.cast()) {
                    Fast::Done(rc) => rc,
                    Fast::Wait(inner) => send_wait(c, inner, elem),
                    Fast::Locked(inner) => send_locked(c, inner, elem),
                    Fast::Busy => send_entry(ch, elem),
                };
            }
        }
    }
    send_entry(ch, elem)
}

/// `gmp_chan_send` from its start: the sanitizer, the runtime's start, the arguments.
/// `extern "C"`, as the continuations below: it catches panics itself, and a callee
/// that cannot unwind is one the C entry can jump to (a tail call) instead of calling.
#[inline(never)]
extern "C" fn send_entry(ch: *mut gmp_chan, elem: *const c_void) -> c_int {
    fn here() {}
    if crate::sys::sanitizer::on() {
        return announced(here, move || send(ch, elem, -1));
    }
    enter_plain(here, || {
        let Some(c) = chan(ch) else {
            return error::EINVAL;
        };
        if elem.is_null() && c.elem_size != 0 {
            return error::EINVAL;
        }
        c.send_plain(elem.cast())
    })
}

/// A send past its first step, with the channel locked: the full path.
#[inline(never)]
extern "C" fn send_locked(c: &Chan, inner: Guard<'_, Inner>, elem: *const c_void) -> c_int {
    fn here() {}
    catch(here, || {
        c.op_locked(inner, true, elem.cast_mut().cast(), -1, false)
    })
}

/// A send whose first step found nobody to take its value and no room: it waits.
#[inline(never)]
extern "C" fn send_wait(c: &Chan, inner: Guard<'_, Inner>, elem: *const c_void) -> c_int {
    fn here() {}
    catch(here, || {
        c.wait_locked(inner, true, elem.cast_mut().cast(), -1, false)
    })
}

/// A receive past its first step, with the channel locked: the full path.
#[inline(never)]
extern "C" fn recv_locked(c: &Chan, inner: Guard<'_, Inner>, elem: *mut c_void) -> c_int {
    fn here() {}
    catch(here, || c.op_locked(inner, false, elem.cast(), -1, false))
}

/// A receive whose first step found nothing to take: it waits.
#[inline(never)]
extern "C" fn recv_wait(c: &Chan, inner: Guard<'_, Inner>, elem: *mut c_void) -> c_int {
    fn here() {}
    catch(here, || c.wait_locked(inner, false, elem.cast(), -1, false))
}

#[cold]
#[inline(never)]
fn announced<H>(here: H, body: impl FnOnce() -> c_int) -> c_int {
    super::enter(super::Needs::Runtime, here, || error::EINVAL, body)
}

/// `entry!(Runtime, ..)` for the blocking send and receive once no sanitizer is loaded
/// (the caller tested `sanitizer::on`, which never turns true again once false):
/// without the TSan marker, which is then a no-op that still costs a test and a flag
/// kept across the call. Otherwise the same: start the runtime on first use, refuse
/// after shutdown and in a forked child, report a panic as `entry!` does.
#[inline(always)]
fn enter_plain<H>(here: H, body: impl FnOnce() -> c_int) -> c_int {
    catch(here, || {
        if let Err(e) = crate::start::ensure_started() {
            return e;
        }
        body()
    })
}

/// `body`, with a panic reported and turned into `GMP_EINVAL` (the FFI entries' rule).
#[inline(always)]
fn catch<H>(_here: H, body: impl FnOnce() -> c_int) -> c_int {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(e) => {
            super::report_panic(std::any::type_name::<H>(), &*e);
            error::EINVAL
        }
    }
}

/// Receives into `elem` (NULL: discard the value). A switch point.
///
/// Returns 0 with a value; `GMP_ECLOSED` once the channel is closed and drained (elem
/// zeroed); `GMP_EINVAL`; `GMP_ECANCELED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_chan_recv(ch: *mut gmp_chan, elem: *mut c_void) -> c_int {
    // As gmp_chan_send: the receive that completes at once runs here (`Chan::recv_fast`).
    if !crate::sys::sanitizer::on() && crate::sched::running() {
        if let Some(c) = chan(ch) {
            return match c.recv_fast(elem.cast()) {
                Fast::Done(rc) => rc,
                Fast::Wait(inner) => recv_wait(c, inner, elem),
                Fast::Locked(inner) => recv_locked(c, inner, elem),
                Fast::Busy => recv_entry(ch, elem),
            };
        }
    }
    recv_entry(ch, elem)
}

/// `gmp_chan_recv` from its start: the sanitizer, the runtime's start, the arguments.
#[inline(never)]
extern "C" fn recv_entry(ch: *mut gmp_chan, elem: *mut c_void) -> c_int {
    fn here() {}
    if crate::sys::sanitizer::on() {
        return announced(here, move || recv(ch, elem, -1));
    }
    enter_plain(here, || {
        let Some(c) = chan(ch) else {
            return error::EINVAL;
        };
        c.recv_plain(elem.cast())
    })
}

/// `gmp_chan_send` with a timeout: 0 is a try (`GMP_EAGAIN` where it would block), < 0
/// waits forever; `GMP_ETIMEDOUT` when it passes. A send that fails or times out has
/// not consumed `elem`. A try that would block is a preemption point: if the runtime
/// asked the goroutine to yield (it ran over 10 ms), it yields there, so a loop of tries
/// lets the goroutines and timers it polls for run (Go's `for { select { default: } }`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_chan_send_timeout(
    ch: *mut gmp_chan,
    elem: *const c_void,
    timeout_ns: i64,
) -> c_int {
    entry!(Runtime, send(ch, elem, timeout_ns))
}

#[inline(always)]
fn send(ch: *mut gmp_chan, elem: *const c_void, timeout_ns: i64) -> c_int {
    let Some(c) = chan(ch) else {
        return error::EINVAL;
    };
    if elem.is_null() && c.elem_size != 0 {
        return error::EINVAL;
    }
    c.send(
        elem.cast(),
        crate::time::deadline_after(timeout_ns),
        timeout_ns == 0,
    )
}

/// `gmp_chan_recv` with a timeout: 0 is a try (`GMP_EAGAIN`), < 0 forever;
/// `GMP_ETIMEDOUT` when it passes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_chan_recv_timeout(
    ch: *mut gmp_chan,
    elem: *mut c_void,
    timeout_ns: i64,
) -> c_int {
    entry!(Runtime, recv(ch, elem, timeout_ns))
}

#[inline(always)]
fn recv(ch: *mut gmp_chan, elem: *mut c_void, timeout_ns: i64) -> c_int {
    let Some(c) = chan(ch) else {
        return error::EINVAL;
    };
    c.recv(
        elem.cast(),
        crate::time::deadline_after(timeout_ns),
        timeout_ns == 0,
    )
}

/// Closes `ch`: every waiting receiver drains the buffer and then gets `GMP_ECLOSED`
/// with a zeroed element; every waiting sender gets `GMP_ECLOSED`.
/// Returns 0; `GMP_ECLOSED` if already closed; `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_chan_close(ch: *mut gmp_chan) -> c_int {
    entry!(Runtime, chan(ch).map_or(error::EINVAL, Chan::close))
}

/// Elements buffered now, or `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_chan_len(ch: *mut gmp_chan) -> i64 {
    entry!(
        NoStart,
        chan(ch).map_or(error::EINVAL as i64, |c| c.len() as i64)
    )
}

/// Capacity, or `GMP_EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_chan_cap(ch: *mut gmp_chan) -> i64 {
    entry!(
        NoStart,
        chan(ch).map_or(error::EINVAL as i64, |c| c.cap as i64)
    )
}

/// Waits until one of `n` cases can proceed and runs it; the choice among ready cases
/// is uniformly random, so none starves. NULL channels never fire. Timeout 0 is select
/// with default (`GMP_EAGAIN` when nothing is ready: a preemption point, as a try of
/// `gmp_chan_send_timeout`); < 0 waits forever. A switch point.
///
/// Returns the index of the case that fired (its `result` is 0, or `GMP_ECLOSED` for a
/// receive on a closed channel or a send on one); `GMP_ETIMEDOUT`; `GMP_EAGAIN`;
/// `GMP_EINVAL` (NULL `cases` with n > 0, a bad op, a NULL send element of a non-empty
/// type, n over 65536); `GMP_ECANCELED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_select(
    cases: *mut gmp_select_case,
    n: usize,
    timeout_ns: i64,
) -> c_int {
    entry!(Runtime, {
        if (cases.is_null() && n > 0) || n > 65536 {
            return error::EINVAL;
        }
        let cs: &mut [gmp_select_case] = if n == 0 {
            &mut []
        } else {
            // SAFETY: the caller passes n cases.
            unsafe { std::slice::from_raw_parts_mut(cases, n) }
        };
        let mut v = Vec::with_capacity(n);
        for c in cs.iter() {
            if c.op != GMP_SEND && c.op != GMP_RECV {
                return error::EINVAL;
            }
            if let Some(ch) = chan(c.chan) {
                if c.op == GMP_SEND && c.elem.is_null() && ch.elem_size != 0 {
                    return error::EINVAL;
                }
            }
            v.push(crate::select::Case {
                chan: c.chan as *const Chan,
                send: c.op == GMP_SEND,
                elem: c.elem.cast(),
            });
        }
        match crate::select::select(&v, crate::time::deadline_after(timeout_ns), timeout_ns == 0) {
            Ok((i, rc)) => {
                cs[i].result = rc;
                i as c_int
            }
            Err(e) => e,
        }
    })
}

/// Go's `time.After`: a channel of `int64_t` (capacity 1) that receives `gmp_now()` once,
/// `ns` from now (ns <= 0: at once). Release it as any channel.
/// Returns 0 and the channel in `*out`, or `GMP_EINVAL`/`GMP_ENOMEM`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_after(out: *mut *mut gmp_chan, ns: i64) -> c_int {
    entry!(Runtime, {
        if out.is_null() {
            return error::EINVAL;
        }
        match crate::time::after(ns) {
            Ok(c) => {
                // SAFETY: checked non-NULL.
                unsafe { *out = c as *mut gmp_chan };
                0
            }
            Err(e) => e,
        }
    })
}

/// Go's `time.Ticker`: a channel of `int64_t` (capacity 1) that receives `gmp_now()`
/// every `period_ns`; ticks a slow reader misses are dropped. Stop it with
/// `gmp_ticker_stop`, then release it. Returns 0, or `GMP_EINVAL` (period <= 0, NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmp_ticker(out: *mut *mut gmp_chan, period_ns: i64) -> c_int {
    entry!(Runtime, {
        if out.is_null() {
            return error::EINVAL;
        }
        match crate::time::ticker(period_ns) {
            Ok(c) => {
                // SAFETY: checked non-NULL.
                unsafe { *out = c as *mut gmp_chan };
                0
            }
            Err(e) => e,
        }
    })
}

/// Stops a ticker: no tick is sent after it returns, from any thread (Go's
/// `Ticker.Stop`); a tick sent before may still be buffered. Its timer is freed promptly
/// (releasing a ticker or a `gmp_after` channel without stopping it frees its timer
/// too). Stopping twice is allowed. Returns 0, `GMP_EINVAL` (NULL, or not a ticker), or
/// `GMP_ESHUTDOWN` in a forked child.
#[unsafe(no_mangle)]
pub extern "C" fn gmp_ticker_stop(ticker: *mut gmp_chan) -> c_int {
    // NoStart: in a forked child a parent thread may have held the timer's or a heap's
    // lock.
    entry!(NoStart, {
        match chan(ticker).and_then(|c| c.timer.as_ref()) {
            Some(t) if t.is_ticker() => {
                t.stop();
                0
            }
            _ => error::EINVAL,
        }
    })
}

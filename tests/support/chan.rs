//! Channel handles: [`Ch`], a `Copy` handle with typed send/recv (the test releases it),
//! and [`Chan`], one that owns a reference (released on drop); select cases.

use std::ffi::c_void;

use gmp::ffi::chan::*;
use gmp::ffi::types::*;

/// A channel handle that may cross goroutines and threads (the library allows any
/// thread to use a channel it holds a reference to). The element type of each call must
/// be the channel's: name it (`recv::<i64>()`, `send(7i64)`), never leave a literal to
/// default to i32 on a channel of 8-byte elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ch(pub *mut gmp_chan);
// SAFETY: every gmp_chan_* call may be made from any thread.
unsafe impl Send for Ch {}
// SAFETY: as above.
unsafe impl Sync for Ch {}

impl Ch {
    pub const NULL: Ch = Ch(std::ptr::null_mut());

    /// The raw handle. Use this rather than `.0` inside closures: edition 2024 closures
    /// capture the field alone, and a raw pointer is not `Send`.
    pub fn p(self) -> *mut gmp_chan {
        self.0
    }

    /// `gmp_chan_make`, asserting success.
    pub fn new(elem_size: usize, cap: usize) -> Ch {
        let mut c = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        let rc = unsafe { gmp_chan_make(&mut c, elem_size, cap) };
        assert_eq!(rc, 0, "gmp_chan_make({elem_size}, {cap})");
        assert!(!c.is_null());
        Ch(c)
    }

    /// A channel of `T` (its size) with capacity `cap`.
    pub fn of<T>(cap: usize) -> Ch {
        Ch::new(std::mem::size_of::<T>(), cap)
    }

    pub fn send<T: Copy>(self, v: T) -> i32 {
        // SAFETY: a live channel of T; the value lives across the call.
        unsafe { gmp_chan_send(self.0, (&v as *const T).cast()) }
    }

    pub fn send_t<T: Copy>(self, v: T, timeout: i64) -> i32 {
        // SAFETY: as above.
        unsafe { gmp_chan_send_timeout(self.0, (&v as *const T).cast(), timeout) }
    }

    pub fn try_send<T: Copy>(self, v: T) -> i32 {
        self.send_t(v, 0)
    }

    /// Receives a `T`; the value is `fill` when nothing was written.
    pub fn recv_fill<T: Copy>(self, fill: T, timeout: i64) -> (i32, T) {
        let mut v = fill;
        // SAFETY: a live channel of T; `v` is writable for size_of::<T>() bytes.
        let rc = unsafe { gmp_chan_recv_timeout(self.0, (&mut v as *mut T).cast(), timeout) };
        (rc, v)
    }

    pub fn recv<T: Copy + Default>(self) -> (i32, T) {
        self.recv_fill(T::default(), -1)
    }

    pub fn recv_t<T: Copy + Default>(self, timeout: i64) -> (i32, T) {
        self.recv_fill(T::default(), timeout)
    }

    pub fn try_recv<T: Copy + Default>(self) -> (i32, T) {
        self.recv_fill(T::default(), 0)
    }

    /// Receive, asserting success.
    pub fn get<T: Copy + Default>(self) -> T {
        let (rc, v) = self.recv::<T>();
        assert_eq!(rc, 0, "recv");
        v
    }

    /// Send, asserting success.
    pub fn put<T: Copy>(self, v: T) {
        assert_eq!(self.send(v), 0, "send");
    }

    pub fn close(self) -> i32 {
        gmp_chan_close(self.0)
    }

    pub fn len(self) -> i64 {
        gmp_chan_len(self.0)
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn cap(self) -> i64 {
        gmp_chan_cap(self.0)
    }

    pub fn retain(self) -> Ch {
        Ch(gmp_chan_retain(self.0))
    }

    pub fn release(self) {
        gmp_chan_release(self.0)
    }
}

/// A channel handle owning one reference (released on drop); u64 elements (or none).
pub struct Chan(pub *mut gmp_chan);
// SAFETY: channels are made for sharing across threads; the handle owns a reference.
unsafe impl Send for Chan {}
// SAFETY: as above.
unsafe impl Sync for Chan {}

impl Chan {
    pub fn new(elem: usize, cap: usize) -> Chan {
        Chan(Ch::new(elem, cap).0)
    }
    /// The unowned handle.
    pub fn ch(&self) -> Ch {
        Ch(self.0)
    }
    /// Another owning handle to the same channel.
    pub fn share(&self) -> Chan {
        Chan(self.ch().retain().0)
    }
    /// Sends `v` (ignored by a channel of 0-byte elements).
    pub fn send_u64(&self, v: u64) -> i32 {
        self.ch().send(v)
    }
    pub fn recv_u64(&self) -> (i32, u64) {
        self.ch().recv()
    }
    pub fn recv_timeout_u64(&self, t: i64) -> (i32, u64) {
        self.ch().recv_t(t)
    }
    pub fn close(&self) -> i32 {
        self.ch().close()
    }
}

impl Drop for Chan {
    fn drop(&mut self) {
        self.ch().release()
    }
}

/// What the tests put in `result` before a select, to see that only the case that fired
/// was written.
pub const RESULT_UNSET: i32 = 0x5a5a;

/// A select case receiving into `elem`.
pub fn case_recv<T>(c: Ch, elem: *mut T) -> gmp_select_case {
    gmp_select_case {
        chan: c.0,
        op: GMP_RECV,
        elem: elem.cast(),
        result: RESULT_UNSET,
    }
}

/// A select case sending `*elem`.
pub fn case_send<T>(c: Ch, elem: *const T) -> gmp_select_case {
    gmp_select_case {
        chan: c.0,
        op: GMP_SEND,
        elem: elem as *mut c_void,
        result: RESULT_UNSET,
    }
}

pub fn select(cases: &mut [gmp_select_case], timeout: i64) -> i32 {
    // SAFETY: `cases` is a valid array of cases whose channels and buffers are live.
    unsafe { gmp_select(cases.as_mut_ptr(), cases.len(), timeout) }
}

/// gmp_select receiving from each of `chans` (values discarded); the index that fired or
/// a code.
pub fn select_recv(chans: &[Ch], timeout: i64) -> i32 {
    let mut cases: Vec<gmp_select_case> = chans
        .iter()
        .map(|&c| case_recv(c, std::ptr::null_mut::<u8>()))
        .collect();
    select(&mut cases, timeout)
}

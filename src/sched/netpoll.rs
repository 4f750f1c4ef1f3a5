//! The poller core (Go's `netpoll.go` + `netpoll_epoll.go` poller half): the epoll
//! instance, the poll descriptors with their waiter lists, and [`poll`], which an idle M
//! blocks in from `findrunnable` with the next timer as its time-out, and which spinning
//! M's and sysmon call without blocking. Waiters are `WaitRef`s; an event claims and
//! wakes them (`ready` for a goroutine), so this sits inside the scheduler's layer and
//! never calls up. The fd calls that park on these descriptors (read, write, accept,
//! connect, close...) are `netpoll.rs`, above the parking layer.
//!
//! The epoll instance is driven directly (Go's `netpoll_epoll.go`): one `epoll_pwait2` per
//! poll, an eventfd for `wake` (Go's `netpollBreak`, coalesced by a flag and consumed only
//! by a blocking poll), and any number of threads may poll at once (the kernel hands each
//! event to one of them). An earlier version went through the `polling` crate, whose
//! `wait` costs five syscalls (timerfd_settime, two epoll_ctl re-arms, an eventfd read,
//! the epoll_wait) and returns at once, empty, while another thread is inside it: the M
//! about to block had to spin with sched_yield while a spinning M or sysmon did a
//! non-blocking poll (0.19 sched_yield per request of the echo benchmark, bench/NET.md).
//!
//! Differences from Go, and why: see `netpoll.rs` (waiter lists, one-shot re-armed
//! registrations with generations, readiness latches). Go rounds the poll time-out to
//! milliseconds (`epoll_pwait`); `epoll_pwait2` takes nanoseconds, so a timer due in
//! 50 us is not run 1 ms late (falling back to milliseconds, rounded up, before Linux 5.11).
//!
//! Lock order: a descriptor's lock is taken with no other gmp lock held, and `ready`
//! (which may take the scheduler lock) runs after it is released.

use crate::sys::mutex::{Mutex, Rank, RwLock};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::wait::WaitRef;
use crate::error::{self, Code};
use crate::sched::g::GRef;

/// The epoll instance and its wake-up eventfd. Read-only once made, on a cache line of
/// its own: `poller()` is on every park, and sharing a line with a counter written on
/// every park (`WAITERS`) or the wake-up flag made it 1.4% of the echo server's profile.
#[repr(align(64))]
pub(crate) struct Poller {
    epfd: i32,
    evfd: i32,
    /// A wake-up is pending in the eventfd (Go's `netpollWakeSig`): `wake` writes only
    /// when it sets this, a blocking poll that sees the eventfd reads it and clears this.
    wake_sig: Padded<AtomicBool>,
}

/// A value alone on its cache line.
#[repr(align(64))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The eventfd's key; registrations use `generation << 32 | fd` with generation >= 1.
const WAKE_KEY: u64 = u64::MAX;
/// What a readable event is (Go's netpoll: EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR).
const EV_READ: u32 =
    (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) as u32;
/// After these a short read may leave something (urgent data's mark, an EOF, an error)
/// that no later event announces: the descriptor stops trusting `rd_empty`.
const EV_STICKY: u32 = (libc::EPOLLPRI | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
const EV_WRITE: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// Edge-triggered registration of both directions, as Go registers every fd.
pub(crate) const REG_EDGE: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET) as u32;
/// One-shot registration for the directions asked.
pub(crate) fn reg_oneshot(read: bool, write: bool) -> u32 {
    let mut f = libc::EPOLLONESHOT as u32;
    if read {
        f |= (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32;
    }
    if write {
        f |= libc::EPOLLOUT as u32;
    }
    f
}

impl Poller {
    fn new() -> Result<Poller, i32> {
        // SAFETY: plain syscalls; the fds are owned by the Poller from here on.
        unsafe {
            let epfd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if epfd < 0 {
                return Err(crate::sys::errno());
            }
            let evfd = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
            if evfd < 0 {
                let e = crate::sys::errno();
                libc::close(epfd);
                return Err(e);
            }
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: WAKE_KEY,
            };
            if libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, evfd, &mut ev) < 0 {
                let e = crate::sys::errno();
                libc::close(evfd);
                libc::close(epfd);
                return Err(e);
            }
            Ok(Poller {
                epfd,
                evfd,
                wake_sig: Padded(AtomicBool::new(false)),
            })
        }
    }

    fn ctl(&self, op: i32, fd: i32, key: u64, events: u32) -> Result<(), i32> {
        let mut ev = libc::epoll_event { events, u64: key };
        // SAFETY: epoll_ctl on our epoll fd with an event on our stack.
        if unsafe { libc::epoll_ctl(self.epfd, op, fd, &mut ev) } < 0 {
            return Err(crate::sys::errno());
        }
        Ok(())
    }

    /// EPOLL_CTL_ADD; Err(errno).
    pub(crate) fn add(&self, fd: i32, key: u64, events: u32) -> Result<(), i32> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, key, events)
    }

    /// EPOLL_CTL_MOD; Err(errno) (ENOENT: the file is no longer registered).
    pub(crate) fn modify(&self, fd: i32, key: u64, events: u32) -> Result<(), i32> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, key, events)
    }

    /// EPOLL_CTL_DEL; Err(errno).
    pub(crate) fn delete(&self, fd: i32) -> Result<(), i32> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits up to `delay_ns` (< 0: forever; 0: just look) and fills `buf`; returns the
    /// number of events (0 on EINTR or an error).
    fn wait(&self, buf: &mut Vec<libc::epoll_event>, delay_ns: i64) -> usize {
        buf.clear();
        let cap = buf.capacity() as i32;
        let ptr = buf.as_mut_ptr();
        let n = if delay_ns > 0 && PWAIT2.load(Ordering::Relaxed) {
            let ts = libc::timespec {
                tv_sec: (delay_ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (delay_ns % 1_000_000_000) as _,
            };
            // SAFETY: epoll_pwait2 writes at most `cap` events into buf's spare capacity.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.epfd,
                    ptr,
                    cap,
                    &ts as *const libc::timespec,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            } as i32;
            if n < 0 && crate::sys::errno() == libc::ENOSYS {
                PWAIT2.store(false, Ordering::Relaxed);
                return self.wait(buf, delay_ns);
            }
            n
        } else {
            let ms = if delay_ns < 0 {
                -1
            } else {
                // Rounded up: a timer is never run early.
                (delay_ns.saturating_add(999_999) / 1_000_000).min(i32::MAX as i64) as i32
            };
            // SAFETY: epoll_wait writes at most `cap` events into buf's spare capacity.
            unsafe { libc::epoll_wait(self.epfd, ptr, cap, ms) }
        };
        if n <= 0 {
            return 0;
        }
        // SAFETY: the kernel initialised the first n entries.
        unsafe { buf.set_len(n as usize) };
        n as usize
    }

    /// Interrupts a blocked poll, or makes the next blocking one return at once (Go's
    /// `netpollBreak`).
    pub(crate) fn notify(&self) {
        if self
            .wake_sig
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        let one: u64 = 1;
        loop {
            // SAFETY: 8 bytes into our eventfd.
            let n = unsafe { libc::write(self.evfd, (&one as *const u64).cast(), 8) };
            if n == 8 || crate::sys::errno() != libc::EINTR {
                // EAGAIN: the counter is saturated, so a wake-up is pending anyway.
                return;
            }
        }
    }

    /// A blocking poll saw the eventfd: consume the wake-up.
    fn clear_wake(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes from our eventfd (non-blocking).
        let _ = unsafe { libc::read(self.evfd, (&mut v as *mut u64).cast(), 8) };
        self.wake_sig.store(false, Ordering::SeqCst);
    }
}

/// epoll_pwait2 (Linux 5.11) is there until it says ENOSYS.
static PWAIT2: AtomicBool = AtomicBool::new(true);
static POLLER: OnceLock<Poller> = OnceLock::new();
static POLLER_INIT: Mutex<()> = Mutex::new(Rank::PollTable, ());
static POLLER_WARNED: AtomicBool = AtomicBool::new(false);

/// The poller, created on first use; a creation that fails (EMFILE) is retried on the
/// next use rather than remembered.
pub(crate) fn poller() -> Option<&'static Poller> {
    if let Some(p) = POLLER.get() {
        return Some(p);
    }
    let _g = POLLER_INIT.lock();
    if let Some(p) = POLLER.get() {
        return Some(p);
    }
    match Poller::new() {
        Ok(p) => {
            let _ = POLLER.set(p);
            POLLER.get()
        }
        Err(e) => {
            if !POLLER_WARNED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "gmp: cannot create the poller: {} (retrying on next use)",
                    std::io::Error::from_raw_os_error(e)
                );
            }
            None
        }
    }
}

/// Goroutines and threads parked on fds now (Go's `netpollWaiters`).
pub(crate) static WAITERS: Padded<AtomicI64> = Padded(AtomicI64::new(0));
static GEN: AtomicU64 = AtomicU64::new(1);

pub(crate) const READ: usize = 0;
pub(crate) const WRITE: usize = 1;

/// What the poller knows of one fd. Invariants: `queues[d]` holds the open waits on
/// direction d (plus stale ones their owners will remove); the registration is armed
/// for d while `queues[d]` is non-empty (re-armed by every parking waiter).
pub(crate) struct PollDesc {
    pub(crate) fd: i32,
    /// A socket: its calls pass MSG_DONTWAIT, so they never block even if the number
    /// was closed with close(2) and reused by a blocking socket.
    pub(crate) socket: bool,
    /// Made by gmp_socket/gmp_accept: registered once, edge-triggered, as Go registers
    /// its fds (no epoll_ctl per wait). Others (adopted or found by fstat) use one-shot
    /// registrations re-armed by each waiter, which survives close(2) and reuse.
    /// Cleared when the number turns out to be reused by another file (see `sweep`).
    pub(crate) owned: AtomicBool,
    /// The file's inode (fstat) when an owned descriptor was made: the sweep compares
    /// it, since an edge-triggered registration dies silently with close(2).
    pub(crate) ino: (u64, u64),
    pub(crate) inner: Mutex<PdInner>,
    /// Readable events seen for this descriptor (bumped under `inner`'s lock by the
    /// poller, whatever the waiters).
    pub(crate) rd_seq: AtomicU32,
    /// `rd_seq + 1` as a reader saw it before a read that left the receive queue empty
    /// (EAGAIN, or a short read on a TCP socket); 0: not known empty. While it still
    /// equals `rd_seq + 1`, no data came since (each arrival on an edge-triggered
    /// registration is a new event), so `gmp_read` parks without the EAGAIN syscall.
    pub(crate) rd_empty: AtomicU32,
    /// Whether `rd_empty` may be trusted: an owned (edge-triggered) TCP socket that has
    /// not yet reported urgent data, a hang-up or an error (after those a short read
    /// can leave data or an EOF behind that no new event will announce).
    pub(crate) skip_ok: AtomicBool,
    /// Calls inside the descriptor now (Go's fdMutex reference count).
    pub(crate) inflight: AtomicU32,
    pub(crate) closing: AtomicBool,
}

pub(crate) struct PdInner {
    pub(crate) generation: u64,
    pub(crate) registered: bool,
    /// The sweep epoch of the oldest park on an owned registration whose file has not
    /// been checked since (0: none). See [`sweep`].
    pub(crate) unchecked: u64,
    pub(crate) latch: [bool; 2],
    pub(crate) queues: [VecDeque<WaitRef>; 2],
}

/// The descriptors by fd number, in shards by `fd % SHARDS` (each on its own cache line),
/// hashed by the number itself: every fd call and every event looks its descriptor up
/// (three times per echo request), and one `RwLock<HashMap>` with SipHash was 2.8% of
/// the echo server's profile, its reader count bouncing between the M's. (Go keeps the
/// `pollDesc` pointer in the `netFD` and in the epoll event instead: C callers hand us
/// bare numbers.)
const SHARDS: usize = 64;

#[repr(align(64))]
struct Shard(RwLock<Option<FdMap>>);

type FdMap = HashMap<i32, Arc<PollDesc>, std::hash::BuildHasherDefault<FdHasher>>;

static TABLE: [Shard; SHARDS] = [const { Shard(RwLock::new(Rank::PollTable, None)) }; SHARDS];

fn shard(fd: i32) -> &'static RwLock<Option<FdMap>> {
    &TABLE[fd as u32 as usize % SHARDS].0
}

/// The hash of an fd number: the number times a large odd constant (a shard holds every
/// 64th number, so the low bits alone would collide).
#[derive(Default)]
struct FdHasher(u64);

impl std::hash::Hasher for FdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_i32(&mut self, n: i32) {
        self.0 = (n as u32 as u64 / SHARDS as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) fn lookup(fd: i32) -> Option<Arc<PollDesc>> {
    shard(fd).read().as_ref().and_then(|t| t.get(&fd).cloned())
}

pub(crate) fn insert(fd: i32, socket: bool) -> Arc<PollDesc> {
    insert_as(fd, socket, false)
}

pub(crate) fn insert_as(fd: i32, socket: bool, owned: bool) -> Arc<PollDesc> {
    let ino = if owned { file_id(fd) } else { (0, 0) };
    let tcp = owned && is_tcp(fd);
    let mut t = shard(fd).write();
    t.get_or_insert_with(FdMap::default)
        .entry(fd)
        .or_insert_with(|| {
            Arc::new(PollDesc {
                fd,
                socket,
                owned: AtomicBool::new(owned),
                ino,
                inner: Mutex::new(
                    Rank::PollDesc,
                    PdInner {
                        generation: 0,
                        registered: false,
                        unchecked: 0,
                        latch: [false; 2],
                        queues: [VecDeque::new(), VecDeque::new()],
                    },
                ),
                rd_seq: AtomicU32::new(0),
                rd_empty: AtomicU32::new(0),
                skip_ok: AtomicBool::new(tcp),
                inflight: AtomicU32::new(0),
                closing: AtomicBool::new(false),
            })
        })
        .clone()
}

/// Whether fd is a TCP socket (SO_PROTOCOL): its short reads leave the receive queue
/// empty (unlike datagrams, records, or AF_UNIX streams that stop at a change of
/// credentials).
fn is_tcp(fd: i32) -> bool {
    let mut proto: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: reads one int into a local.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PROTOCOL,
            (&mut proto as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    r == 0 && proto == libc::IPPROTO_TCP
}

/// (device, inode) of the file behind fd; (0, 0) if fstat fails.
pub(crate) fn file_id(fd: i32) -> (u64, u64) {
    // SAFETY: fstat fills a stat buffer on our stack.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return (0, 0);
    }
    (st.st_dev, st.st_ino)
}

pub(crate) fn remove(fd: i32) {
    let mut t = shard(fd).write();
    if let Some(t) = t.as_mut() {
        t.remove(&fd);
    }
}

/// Arms the one-shot registration for the directions that have waiters (pd lock held).
pub(crate) fn arm(pd: &PollDesc, inner: &mut PdInner) -> Result<(), Code> {
    let owned = pd.owned.load(Ordering::Relaxed);
    if owned && inner.registered {
        // The common park: edge-triggered since registration. Unless the number was
        // closed with close(2) (the kernel dropped the registration with the file) and
        // reused by a file made outside the library: the next sweep checks (an fstat
        // here cost 4-6% of the echo server's CPU, one syscall per request).
        mark_unchecked(inner);
        return Ok(());
    }
    let Some(p) = poller() else {
        return Err(error::ENOMEM);
    };
    if owned {
        inner.generation = GEN.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
        return match p.add(pd.fd, key(pd.fd, inner.generation), REG_EDGE) {
            Ok(()) => {
                inner.registered = true;
                Ok(())
            }
            Err(e) => Err(-e),
        };
    }
    let want_r = !inner.queues[READ].is_empty();
    let want_w = !inner.queues[WRITE].is_empty();
    let flags = reg_oneshot(want_r, want_w);
    if inner.registered {
        match p.modify(pd.fd, key(pd.fd, inner.generation), flags) {
            Ok(()) => return Ok(()),
            Err(libc::ENOENT) => {
                // The number was closed and reused: register the new file afresh.
                inner.registered = false;
            }
            Err(e) => return Err(-e),
        }
    }
    inner.generation = GEN.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
    let k = key(pd.fd, inner.generation);
    // The fd is deleted on gmp_close_fd (or dropped by the kernel when the file is closed).
    match p.add(pd.fd, k, flags) {
        Ok(()) => {
            inner.registered = true;
            Ok(())
        }
        Err(libc::EEXIST) => {
            inner.registered = true;
            p.modify(pd.fd, k, flags).map_err(|e| -e)
        }
        Err(e) => Err(-e),
    }
}

fn key(fd: i32, generation: u64) -> u64 {
    (generation << 32) | fd as u32 as u64
}

// ---------------------------------------------------------------------------------------
// The lazy identity check of owned registrations.
//
// An owned fd (gmp_socket, gmp_accept) is registered edge-triggered once. If the caller
// closes it with close(2) and a file made outside the library takes the number, the
// registration died with the old file and a waiter on the new one would never be
// woken. Parks used to fstat the fd to tell (one syscall per park, 4-6% of the echo
// server's CPU); now a park only marks its descriptor unchecked, and every SWEEP_NS,
// while any descriptor is marked, a poller checks those whose mark is older than one
// sweep (a park that lasted that long): same file, mark cleared; another file, the
// descriptor becomes a foreign one (one-shot registrations) and its waiters retry. A
// wake-up clears the mark, so a busy server fstats almost nothing. The price: the first
// wait on such a reused number can take up to two sweeps (about 0.1 s) longer; the
// blocking poller never sleeps past a due sweep while marks exist.

const SWEEP_NS: i64 = 50_000_000;
static SWEEP_EPOCH: AtomicU64 = AtomicU64::new(1);
static NEXT_SWEEP: AtomicI64 = AtomicI64::new(0);
static SWEEPING: AtomicBool = AtomicBool::new(false);
/// Some descriptor may be marked unchecked (set by a park, cleared by a sweep that
/// found none left).
static UNCHECKED_ANY: Padded<AtomicBool> = Padded(AtomicBool::new(false));

/// A park on an owned registration (pd lock held): mark it for the sweep.
fn mark_unchecked(inner: &mut PdInner) {
    if inner.unchecked == 0 {
        inner.unchecked = SWEEP_EPOCH.load(Ordering::Relaxed);
    }
    if !UNCHECKED_ANY.load(Ordering::SeqCst) {
        let now = crate::sys::clock::now();
        if NEXT_SWEEP.load(Ordering::Relaxed) < now {
            NEXT_SWEEP.store(now + SWEEP_NS, Ordering::Relaxed);
        }
        UNCHECKED_ANY.store(true, Ordering::SeqCst);
        // A poller may be blocked with a time-out computed before: it must come back
        // for the sweep.
        wake();
    }
}

/// The wait queues of a descriptor emptied (pd lock held): nothing left to check.
pub(crate) fn clear_unchecked(inner: &mut PdInner) {
    if inner.queues[READ].is_empty() && inner.queues[WRITE].is_empty() {
        inner.unchecked = 0;
    }
}

/// The longest a poll may block now: until the next sweep while marks exist.
fn sweep_cap(delay_ns: i64) -> i64 {
    if !UNCHECKED_ANY.load(Ordering::SeqCst) {
        return delay_ns;
    }
    let left = (NEXT_SWEEP.load(Ordering::Relaxed) - crate::sys::clock::now()).max(0);
    if delay_ns < 0 {
        left
    } else {
        delay_ns.min(left)
    }
}

/// Runs a sweep if one is due (any poller calls this; one sweeps at a time).
fn sweep_if_due() {
    if !UNCHECKED_ANY.load(Ordering::SeqCst) {
        return;
    }
    let now = crate::sys::clock::now();
    if now < NEXT_SWEEP.load(Ordering::Relaxed) || SWEEPING.swap(true, Ordering::Acquire) {
        return;
    }
    NEXT_SWEEP.store(now + SWEEP_NS, Ordering::Relaxed);
    sweep();
    SWEEPING.store(false, Ordering::Release);
}

/// Checks the descriptors marked before the previous sweep (see above).
fn sweep() {
    let epoch = SWEEP_EPOCH.fetch_add(1, Ordering::Relaxed);
    // Cleared first: a park that marks after this sets it again, and one that marked
    // before is seen by the scan below (it marked under the descriptor's lock).
    UNCHECKED_ANY.store(false, Ordering::SeqCst);
    let mut left = false;
    let mut woken: Vec<WaitRef> = Vec::new();
    for sh in TABLE.iter() {
        // The descriptor locks rank above the table's: collect, then look.
        let pds: Vec<Arc<PollDesc>> = match sh.0.read().as_ref() {
            Some(t) => t.values().cloned().collect(),
            None => continue,
        };
        for pd in pds {
            let mut inner = pd.inner.lock();
            if inner.unchecked == 0 {
                continue;
            }
            if inner.unchecked >= epoch || pd.closing.load(Ordering::Acquire) {
                left = true; // too young to check: the next sweep
                continue;
            }
            inner.unchecked = 0;
            if !pd.owned.load(Ordering::Relaxed) || file_id(pd.fd) == pd.ino {
                continue;
            }
            // Another file under this number: treat it as a foreign fd from now on, and
            // let its waiters retry (on EAGAIN they park again, arming a one-shot
            // registration of the new file).
            pd.owned.store(false, Ordering::Relaxed);
            pd.skip_ok.store(false, Ordering::Relaxed);
            inner.registered = false;
            for d in [READ, WRITE] {
                while let Some(w) = inner.queues[d].pop_front() {
                    if w.claim(super::wait::OK) {
                        woken.push(w);
                    }
                }
            }
        }
    }
    if left {
        UNCHECKED_ANY.store(true, Ordering::SeqCst);
    }
    for w in woken {
        w.wake();
    }
}

/// Whether any goroutine waits on an fd.
pub(crate) fn has_waiters() -> bool {
    WAITERS.load(Ordering::SeqCst) > 0
}

thread_local! {
    static EVENTS: RefCell<Vec<libc::epoll_event>> = const { RefCell::new(Vec::new()) };
}

/// Events taken from the kernel per poll (Go's netpoll: 128).
const EVENTS_PER_POLL: usize = 128;

/// Waits up to `delay_ns` (< 0: until woken; 0: just look) for fd events and wakes their
/// waiters (they go to the caller's P, or the global queue). Returns nothing: waking
/// through `WaitRef::wake` already queued them (Go returns a gList; `ready` here works
/// from any M, with or without a P).
pub(crate) fn poll(delay_ns: i64) -> Vec<GRef> {
    poll_until(&|| delay_ns)
}

/// [`poll`] with the time-out computed by `delay()` (which also publishes the wake-up
/// time for `wakenetpoller`) just before the thread blocks. Several threads may poll at
/// once; only a blocking poll consumes a `wake`, so a non-blocking one (a spinning M,
/// sysmon) never swallows the wake-up meant for the M that blocks.
pub(crate) fn poll_until(delay: &dyn Fn() -> i64) -> Vec<GRef> {
    let Some(p) = poller() else {
        let delay_ns = delay();
        if delay_ns > 0 {
            std::thread::sleep(Duration::from_nanos(delay_ns as u64));
        }
        return Vec::new();
    };
    let mut woken: Vec<WaitRef> = Vec::new();
    EVENTS.with(|cell| {
        let Ok(mut events) = cell.try_borrow_mut() else {
            return;
        };
        if events.capacity() < EVENTS_PER_POLL {
            events.reserve_exact(EVENTS_PER_POLL);
        }
        let delay_ns = sweep_cap(delay());
        let n = p.wait(&mut events, delay_ns);
        for i in 0..n {
            let ev = events[i];
            let (bits, k) = (ev.events, ev.u64);
            if k == WAKE_KEY {
                if delay_ns != 0 {
                    p.clear_wake();
                }
                continue;
            }
            let fd = (k & 0xffff_ffff) as u32 as i32;
            let generation = k >> 32;
            let Some(pd) = lookup(fd) else { continue };
            let mut inner = pd.inner.lock();
            if inner.generation != generation {
                continue; // an old registration of a reused number
            }
            if bits & EV_READ != 0 {
                pd.rd_seq.fetch_add(1, Ordering::AcqRel);
                if bits & EV_STICKY != 0 {
                    pd.skip_ok.store(false, Ordering::Relaxed);
                }
            }
            for (d, ready) in [(READ, bits & EV_READ != 0), (WRITE, bits & EV_WRITE != 0)] {
                if ready {
                    let before = woken.len();
                    while let Some(w) = inner.queues[d].pop_front() {
                        if w.claim(super::wait::OK) {
                            woken.push(w);
                        }
                    }
                    // Latch the edge only if nobody took it: a woken waiter retries its
                    // call anyway, and a stale latch costs the next call an EAGAIN.
                    if woken.len() == before {
                        inner.latch[d] = true;
                    }
                }
            }
            clear_unchecked(&mut inner);
            // A one-shot fired for both directions: re-arm for the ones still waited.
            if !pd.owned.load(Ordering::Relaxed)
                && (!inner.queues[READ].is_empty() || !inner.queues[WRITE].is_empty())
            {
                let _ = arm(&pd, &mut inner);
            }
        }
    });
    for w in woken {
        w.wake();
    }
    sweep_if_due();
    Vec::new()
}

/// Interrupts a blocked [`poll`] (or makes the next one return at once).
pub(crate) fn wake() {
    // No poller yet: nobody can be blocked in it (and creating one here could take a
    // lock below the caller's, e.g. from retire_idle under the scheduler lock).
    if let Some(p) = POLLER.get() {
        p.notify();
    }
}

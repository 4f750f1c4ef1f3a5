//! The sema table: wait queues keyed by address, behind every zero-value sync type.
//!
//! Go's `sema.go` keeps a 251-bucket table of treaps keyed by address, so a
//! `sync.Mutex` needs no pointer to a wait queue and is ready when zeroed. Same here,
//! with one difference that C forces: Go's `Mutex.Unlock` and `WaitGroup.Add` touch the
//! struct after the store that lets another goroutine return and free it (Go's GC keeps
//! it alive); C frees at once (`unlock; if (last) free(obj)`). So the structs hold only
//! state words, waiter lists *and their counts* live here, and every releasing store is
//! the last touch of the struct; after it only the address is used, as a key.
//!
//! Invariants:
//! - A node is in the queue of `addr` iff its waiter is parked (or about to park) on
//!   `addr`, or its wait was claimed by a timer/cancel and the waiter has not yet removed
//!   it. Wakers skip nodes whose claim fails; waiters remove their own stale nodes.
//! - Every change to a queue happens under its bucket's lock; a waiter publishes its
//!   node and releases the bucket lock only in `park`'s commit (park.rs protocol).
//! - Because addresses are reused after `free`, a wake-up may reach a waiter of a new
//!   object at the same address: every waiter re-checks its condition after waking.

use crate::sys::mutex::{Mutex, MutexGuard, Rank};
use std::collections::{BTreeMap, VecDeque};

use crate::park::{self, WaitRef};
use crate::sched::g::WaitReason;

/// One waiter in a queue. `kind` is for the sync type's use (reader or writer).
pub(crate) struct Node {
    pub(crate) w: WaitRef,
    pub(crate) kind: u8,
}

pub(crate) type Queues = BTreeMap<usize, VecDeque<Node>>;

const BUCKETS: usize = 251;
static TABLE: [Mutex<Queues>; BUCKETS] =
    [const { Mutex::new(Rank::Sema, BTreeMap::new()) }; BUCKETS];

/// The locked bucket of `addr`.
pub(crate) fn lock(addr: usize) -> MutexGuard<'static, Queues> {
    TABLE[(addr >> 3) % BUCKETS].lock()
}

/// Appends a node for the caller's new wait to `addr`'s queue (bucket lock held).
pub(crate) fn enqueue(q: &mut Queues, addr: usize, kind: u8) -> WaitRef {
    let w = park::prepare();
    q.entry(addr)
        .or_default()
        .push_back(Node { w: w.clone(), kind });
    w
}

/// Parks after [`enqueue`]; releases the bucket lock in the commit. On a time-out or
/// cancel, removes the node again. Returns the outcome.
pub(crate) fn park_on(
    guard: MutexGuard<'static, Queues>,
    addr: usize,
    w: &WaitRef,
    reason: WaitReason,
    deadline: i64,
) -> u8 {
    let outcome = park::park_deadline(w, reason, deadline, move || drop(guard));
    if outcome != park::OK {
        let mut q = lock(addr);
        remove(&mut q, addr, w);
    }
    outcome
}

/// Removes w's node from addr's queue if it is still there.
pub(crate) fn remove(q: &mut Queues, addr: usize, w: &WaitRef) {
    if let Some(list) = q.get_mut(&addr) {
        list.retain(|n| !same(&n.w, w));
        if list.is_empty() {
            q.remove(&addr);
        }
    }
}

fn same(a: &WaitRef, b: &WaitRef) -> bool {
    // Two refs name the same wait iff they claim the same word with the same seq.
    std::ptr::eq(a as *const WaitRef, b as *const WaitRef) || a.same_wait(b)
}

/// Pops nodes of `addr` until one is claimed with OK; returns it (not yet woken: wake
/// it after releasing the bucket lock, or under it: `wake` never takes a sema lock).
pub(crate) fn claim_one(q: &mut Queues, addr: usize) -> Option<Node> {
    claim_first(q, addr, |_| true)
}

/// Like [`claim_one`] but takes the first node whose kind passes `pick`; stale nodes
/// met on the way are dropped.
pub(crate) fn claim_first(q: &mut Queues, addr: usize, pick: impl Fn(u8) -> bool) -> Option<Node> {
    let list = q.get_mut(&addr)?;
    let mut i = 0;
    let mut found = None;
    while i < list.len() {
        if !list[i].w.is_open() {
            list.remove(i);
            continue;
        }
        if pick(list[i].kind) {
            if list[i].w.claim(park::OK) {
                found = list.remove(i);
                break;
            }
            list.remove(i);
            continue;
        }
        i += 1;
    }
    if list.is_empty() {
        q.remove(&addr);
    }
    found
}

/// The kind of the first live node of addr, if any.
pub(crate) fn front_kind(q: &mut Queues, addr: usize) -> Option<u8> {
    let list = q.get_mut(&addr)?;
    while let Some(n) = list.front() {
        if n.w.is_open() {
            return Some(n.kind);
        }
        list.pop_front();
    }
    q.remove(&addr);
    None
}

/// Whether any live node of `kind` waits on addr.
pub(crate) fn any_kind(q: &Queues, addr: usize, kind: u8) -> bool {
    q.get(&addr)
        .is_some_and(|l| l.iter().any(|n| n.kind == kind && n.w.is_open()))
}

/// Claims every node of addr; returns them to wake.
pub(crate) fn claim_all(q: &mut Queues, addr: usize) -> Vec<Node> {
    let Some(list) = q.remove(&addr) else {
        return Vec::new();
    };
    list.into_iter().filter(|n| n.w.claim(park::OK)).collect()
}

/// Wakes every waiter of addr (locks the bucket itself).
pub(crate) fn wake_all(addr: usize) -> usize {
    let nodes = claim_all(&mut lock(addr), addr);
    let n = nodes.len();
    for node in nodes {
        node.w.wake();
    }
    n
}

/// Blocks until `ready()` (evaluated under the bucket lock) holds; re-checks after every
/// wake-up. Returns 0, or the outcome code of a time-out/cancel.
pub(crate) fn wait_until(
    addr: usize,
    reason: WaitReason,
    deadline: i64,
    mut ready: impl FnMut() -> bool,
) -> u8 {
    loop {
        let mut q = lock(addr);
        if ready() {
            return park::OK;
        }
        let w = enqueue(&mut q, addr, 0);
        let outcome = park_on(q, addr, &w, reason, deadline);
        if outcome != park::OK {
            return outcome;
        }
    }
}

/// Maps a non-OK outcome to the API's code.
pub(crate) fn outcome_code(outcome: u8) -> crate::error::Code {
    match outcome {
        park::OK => 0,
        park::TIMEDOUT => crate::error::ETIMEDOUT,
        park::CANCELED => crate::error::ECANCELED,
        park::CLOSED => crate::error::ECLOSED,
        park::SHUTDOWN => crate::error::ESHUTDOWN,
        _ => crate::error::EINVAL,
    }
}

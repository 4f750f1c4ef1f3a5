//! sysmon (Go's `sysmon` in `runtime/proc.go`): a thread without a P that looks at
//! every P each tick (20 us, backing off to 10 ms after 50 ticks without a P to take
//! back from a syscall, as Go's). It
//! *retakes* a P that has sat in a syscall (`syscall.rs`) for over a tick when it has
//! work queued or nobody else could run new work (or after 10 ms regardless), handing
//! it to another M.
//!
//! sysmon also marks goroutines that have run 10 ms without a schedule for preemption
//! (`gmp_preempt_point` and the switch-point calls honour the flag: C cannot be
//! preempted asynchronously), moves a hog's queued goroutines to the global queue so
//! other M's run them, polls the network when nobody has for 10 ms, returns the memory
//! of stacks that went deep and then sat unused and of G's that sat unused (`gslab.rs`),
//! and runs `checkdead` for `gmp_main`.
//!
//! Differences from Go: sysmon deep-sleeps (futex, no time-out) when every P is idle and
//! no goroutine is in a syscall, and `wakep` wakes it.

use crate::sched::{findrunnable, idle, lifecycle, proc, queue};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::g::{self, GRef};
use super::m;
use super::p;
use super::runq::RunQueue;
use super::syscall::{IN_SYSCALL, SYSCALL_HANDOFFS};
use super::{SCHED, ST_SHUTDOWN};
use crate::sys::futex;

pub(crate) static PREEMPT_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Per-P observations of sysmon (Go's `sysmontick`).
#[derive(Clone, Copy, Default)]
struct Seen {
    schedtick: u32,
    schedwhen: i64,
    syscalltick: u32,
    syscallwhen: i64,
    preempted_at: i64,
}

static SYSMON_NOTE: AtomicU32 = AtomicU32::new(0);
pub(crate) static SYSMON_SLEEPING: AtomicBool = AtomicBool::new(false);
/// sysmon's tick has backed off past 20 us.
pub(super) static SYSMON_BACKED_OFF: AtomicBool = AtomicBool::new(false);
static STARTED: AtomicBool = AtomicBool::new(false);

/// Set by the dump signal's handler (`diag/debug.rs`); sysmon prints the dump.
static DUMP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks sysmon to print the goroutine dump at its next tick. Async-signal-safe (an
/// atomic store and a futex wake).
pub(crate) fn request_dump() {
    DUMP_REQUESTED.store(true, Ordering::Release);
    wake_sysmon();
}

/// Wakes sysmon from its deep sleep.
pub(crate) fn wake_sysmon() {
    SYSMON_NOTE.store(1, Ordering::Release);
    futex::wake(&SYSMON_NOTE, 1);
}

/// Starts the sysmon thread (once).
pub(crate) fn start() {
    if STARTED.swap(true, Ordering::SeqCst) {
        return;
    }
    match m::spawn_thread(m::ThreadRole::Sysmon, 0, "gmp-sysmon".into(), sysmon) {
        Ok(h) => SCHED.threads.lock().push(h),
        Err(e) => eprintln!("gmp: cannot start sysmon: {e}"),
    }
}

const FORCE_PREEMPT_NS: i64 = 10_000_000;

fn sysmon() {
    // SAFETY: prctl on this thread only: timer slack 1 us so 20 us sleeps are 20 us.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1_000u64, 0, 0, 0) };
    let mut seen: Vec<Seen> = Vec::new();
    let mut idle = 0u32;
    let mut delay_us = 20i64;
    let mut last_scavenge = crate::sys::clock::now();
    let scratch: RunQueue<g::G> = RunQueue::new();
    let dbg = super::hooks::get().map_or_else(Default::default, |h| (h.debug)());
    let mut next_trace = crate::sys::clock::now() + dbg.schedtrace_ms * 1_000_000;
    let mut dead = DeadState::default();
    loop {
        if SCHED.state.load(Ordering::Acquire) == ST_SHUTDOWN {
            return;
        }
        if idle == 0 {
            delay_us = 20;
        } else if idle > 50 {
            delay_us = (delay_us * 2).min(10_000);
        }
        if dbg.schedtrace_ms > 0 {
            delay_us = delay_us.min(dbg.schedtrace_ms * 1000);
        }
        SYSMON_BACKED_OFF.store(delay_us > 20, Ordering::Relaxed);
        futex::wait(&SYSMON_NOTE, 0, delay_us * 1000);
        if SYSMON_NOTE.swap(0, Ordering::Relaxed) != 0 {
            // Woken on purpose (a syscall, new work): look closely again.
            idle = 0;
            delay_us = 20;
        }
        let now = crate::sys::clock::now();
        crate::sys::clock::TICK_NOW.store(now, Ordering::Relaxed);
        if DUMP_REQUESTED.swap(false, Ordering::AcqRel) {
            if let Some(h) = super::hooks::get() {
                crate::util::write_stderr((h.dump)().as_bytes());
            }
        }
        if dbg.schedtrace_ms > 0 && now >= next_trace {
            next_trace = now + dbg.schedtrace_ms * 1_000_000;
            if let Some(h) = super::hooks::get() {
                crate::util::write_stderr((h.schedtrace)(dbg.scheddetail).as_bytes());
            }
        }
        if dbg.checkdead && checkdead(now, &mut dead) {
            continue;
        }
        // Backstop (Go's sysmon does the same): a timer overdue by a millisecond means no
        // M is about to run it; interrupt the poller or wake an M.
        let next_timer = findrunnable::earliest_timer();
        if next_timer != crate::sched::timers::NONE && now - next_timer > 1_000_000 {
            if SCHED.lastpoll.load(Ordering::SeqCst) == 0 {
                super::netpoll::wake();
            } else {
                idle::wakep();
            }
        }
        // Give idle stack memory back about once a second, also through deep sleeps
        // (which wake at least once a second): an idle program is when it matters.
        if now - last_scavenge > 1_000_000_000 {
            last_scavenge = now;
            let stacks = crate::stack::scavenge(4096);
            // After a burst's memory went back (not for a few deep stacks of a busy
            // program: the trim takes every malloc arena's lock in turn).
            if super::gslab::scavenge() > 0 || stacks >= 1024 {
                super::gslab::trim_heap();
            }
        }
        let procs = SCHED.procs();
        let nallp = SCHED.nallp.load(Ordering::Acquire);
        if seen.len() < nallp {
            seen.resize(nallp, Seen::default());
        }
        // Deep sleep: nothing runs and nothing is in a syscall (not while a schedtrace
        // or a deadlock check wants regular ticks).
        // (fd waiters do not keep it awake while an M blocks in the poller for them.)
        // A goroutine in a syscall on a P past gomaxprocs (one that was running when
        // gomaxprocs shrank) leaves every counted P idle: without IN_SYSCALL here sysmon
        // slept, never retook that P, and the goroutines queued on it waited for the
        // whole call (blocking_on_a_retired_p_hands_off_its_queue, 1 run in 10).
        if SCHED.npidle.load(Ordering::SeqCst) as usize >= procs
            && IN_SYSCALL.load(Ordering::SeqCst) == 0
            && (!super::netpoll::has_waiters() || SCHED.lastpoll.load(Ordering::SeqCst) == 0)
            && dbg.schedtrace_ms == 0
            && dead.since == 0
        {
            SYSMON_SLEEPING.store(true, Ordering::SeqCst);
            if SCHED.npidle.load(Ordering::SeqCst) as usize >= SCHED.procs() {
                // At most until the next timer (plus the backstop's slack), as Go's.
                let until = if next_timer == crate::sched::timers::NONE {
                    1_000_000_000
                } else {
                    (next_timer - now + 2_000_000).clamp(20_000, 1_000_000_000)
                };
                futex::wait(&SYSMON_NOTE, 0, until);
            }
            SYSMON_SLEEPING.store(false, Ordering::SeqCst);
            idle = 0;
            continue;
        }
        // Poll the network if nobody has for 10 ms (Go's sysmon does).
        let lastpoll = SCHED.lastpoll.load(Ordering::SeqCst);
        if super::netpoll::has_waiters()
            && lastpoll != 0
            && lastpoll + 10_000_000 < now
            && SCHED
                .lastpoll
                .compare_exchange(lastpoll, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            super::netpoll::poll(0);
        }
        if retake(now, &mut seen, &scratch) {
            idle = 0;
        } else {
            idle += 1;
        }
    }
}

/// Go's `retake`: hands off P's stuck in syscalls and asks long runners to yield.
/// True if it handed off a P: as Go's count, only that keeps sysmon's tick at 20 us.
/// A request to yield is not counted (it was, until a single goroutine that computes
/// kept sysmon waking about 4,000 times a second, where Go's backs off to 100): a long
/// runner is asked again 10 ms later, which a 10 ms tick still sees in time.
fn retake(now: i64, seen: &mut [Seen], scratch: &RunQueue<g::G>) -> bool {
    let mut acted = false;
    // Every allocated P: one past gomaxprocs may still be held through a syscall or a hog.
    for (i, pd) in seen.iter_mut().enumerate() {
        let Some(p) = SCHED.p(i) else { continue };
        match p.status.load(Ordering::Acquire) {
            p::SYSCALL => {
                let t = p.syscalltick.load(Ordering::Relaxed);
                if pd.syscalltick != t {
                    pd.syscalltick = t;
                    pd.syscallwhen = now;
                    continue;
                }
                // On one tick's notice only if it has work or nobody else can take new
                // work; after 10 ms in any case.
                if p.runq.is_empty()
                    && SCHED.nmspinning.load(Ordering::SeqCst) + SCHED.npidle.load(Ordering::SeqCst)
                        > 0
                    && pd.syscallwhen + 10_000_000 > now
                {
                    continue;
                }
                if p.status
                    .compare_exchange(p::SYSCALL, p::IDLE, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    SYSCALL_HANDOFFS.fetch_add(1, Ordering::Relaxed);
                    idle::handoffp(p);
                    acted = true;
                }
            }
            p::RUNNING => {
                let t = p.schedtick.load(Ordering::Relaxed);
                if pd.schedtick != t {
                    pd.schedtick = t;
                    pd.schedwhen = now;
                    pd.preempted_at = 0;
                    continue;
                }
                if pd.schedwhen + FORCE_PREEMPT_NS > now {
                    continue;
                }
                let mp = p.m.load(Ordering::Acquire);
                if mp.is_null() {
                    continue;
                }
                // SAFETY: M's are never freed while the runtime runs.
                let gp = unsafe { (*mp).curg.load(Ordering::Acquire) };
                if gp.is_null() {
                    continue;
                }
                if pd.preempted_at == 0 {
                    // SAFETY: G's are never freed while the runtime runs.
                    unsafe { (*gp).preempt.store(true, Ordering::Release) };
                    PREEMPT_REQUESTS.fetch_add(1, Ordering::Relaxed);
                    pd.preempted_at = now;
                } else if pd.preempted_at + FORCE_PREEMPT_NS <= now && !p.runq.is_empty() {
                    // A hog that does not yield: move the goroutines queued behind it
                    // to the global queue, and wake M's for them.
                    let mut moved = Vec::new();
                    if let Some(first) = scratch.steal_from(&p.runq, true) {
                        moved.push(GRef(first));
                    }
                    scratch.drain(|g| moved.push(GRef(g)));
                    let n = moved.len();
                    queue::globrunqput_batch(moved);
                    for _ in 0..n.min(SCHED.procs()) {
                        idle::wakep();
                    }
                }
            }
            _ => {}
        }
    }
    acted
}

/// Observations for Go's `checkdead`, inside `gmp_main`.
#[derive(Default)]
struct DeadState {
    /// When the quiet state was first seen (0: not quiet).
    since: i64,
    switches: u64,
    created: u64,
}

/// Set once a thread that is not an M (nor the gmp_main thread) blocks in gmp or spawns
/// goroutines: such a thread may act later, so a quiet runtime is not proof of a
/// deadlock (Go turns checkdead off for c-shared builds for this reason).
pub(crate) static FOREIGN_SEEN: AtomicBool = AtomicBool::new(false);

/// How long the runtime must stay quiet before it is called deadlocked.
const DEAD_QUIET_NS: i64 = 200_000_000;

/// Go's `checkdead`, from sysmon: every goroutine blocked on a channel, sync or select,
/// no timer pending, nothing in the poller or a syscall, no foreign thread involved, and
/// nothing scheduled for DEAD_QUIET_NS. Then print Go's message and the dump, and make
/// `gmp_main` return GMP_EDEADLK. True when it fired.
fn checkdead(now: i64, st: &mut DeadState) -> bool {
    let main = SCHED.main_m.load(Ordering::Acquire);
    if main.is_null() || FOREIGN_SEEN.load(Ordering::Relaxed) {
        st.since = 0;
        return false;
    }
    let procs = SCHED.procs();
    // Go's first test: no M running (or started and about to run, or in the poller).
    // Without it a slow start of a woken M (seen under callgrind: two goroutines queued
    // for an M that had not run yet for the whole quiet interval) read as a deadlock.
    let running_ms = SCHED.mcount.load(Ordering::SeqCst)
        - SCHED.nmidle.load(Ordering::SeqCst)
        - SCHED.nmidlelocked.load(Ordering::SeqCst);
    let quiet = running_ms <= 0
        && SCHED.npidle.load(Ordering::SeqCst) as usize >= procs
        && SCHED.runqsize.load(Ordering::SeqCst) == 0
        && proc::goroutine_count() > 0
        && IN_SYSCALL.load(Ordering::SeqCst) == 0
        && !super::netpoll::has_waiters()
        && findrunnable::earliest_timer() == crate::sched::timers::NONE
        && (0..procs).all(|i| {
            SCHED
                .p(i)
                .is_none_or(|p| p.runq.is_empty() && p.status.load(Ordering::Relaxed) != p::SYSCALL)
        });
    if !quiet {
        st.since = 0;
        return false;
    }
    let s = lifecycle::snapshot();
    if st.since == 0 || s.context_switches != st.switches || s.created != st.created {
        st.since = now;
        st.switches = s.context_switches;
        st.created = s.created;
        return false;
    }
    if now - st.since < DEAD_QUIET_NS {
        return false;
    }
    st.since = 0;
    // A thread the runtime did not make (besides gmp_main's) may act at any time, even
    // one that never called gmp yet: then a quiet runtime proves nothing. Count them.
    if foreign_threads_exist() {
        return false;
    }
    let mut msg = String::from("fatal error: all goroutines are asleep - deadlock!\n\n");
    if let Some(h) = super::hooks::get() {
        msg.push_str(&(h.dump)());
    }
    crate::util::write_stderr(msg.as_bytes());
    idle::abandon_main();
    true
}

/// Whether the process has threads besides the runtime's M's, sysmon and gmp_main's.
fn foreign_threads_exist() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return true;
    };
    let tasks = dir.count() as i32 - crate::sys::sanitizer::own_threads();
    tasks > SCHED.mcount.load(Ordering::SeqCst) + 2
}

/// `gmp_all_asleep`: checkdead's quiet state, for a thread outside the runtime that
/// waits for goroutines (a language binding's `run`, whose waits make FOREIGN_SEEN
/// true). Some(stamp) when every live goroutine is parked on a channel, select or sync
/// object (none running, runnable, ready in a home, in a syscall, asleep on a timer or
/// waiting on an fd) and no timer is pending; the stamp mixes the creation count with
/// each goroutine's id and wait word, which moves at each park and each wake-up, so
/// equal stamps some time apart mean nothing ran in between. Foreign threads are the
/// caller's to rule out.
pub(crate) fn all_asleep() -> Option<u64> {
    use g::WaitReason as W;
    if IN_SYSCALL.load(Ordering::SeqCst) != 0
        || SCHED.runqsize.load(Ordering::SeqCst) != 0
        || super::netpoll::has_waiters()
        // (i64::MAX: no timer, the timers' NONE)
        || findrunnable::earliest_timer() != i64::MAX
    {
        return None;
    }
    let mut stamp = proc::created_count();
    let gs = SCHED.allgs.lock();
    for gp in gs.iter() {
        let st = gp.status();
        if st == g::DEAD || st == g::IDLE {
            continue;
        }
        if st != g::WAITING {
            return None;
        }
        match gp.wait_reason() {
            W::ChanReceive
            | W::ChanSend
            | W::Select
            | W::SelectNoCases
            | W::MutexLock
            | W::RwMutexRLock
            | W::RwMutexLock
            | W::WaitGroupWait
            | W::CondWait
            | W::OnceDo => {}
            _ => return None,
        }
        let w = gp.get().wait.load(Ordering::Acquire);
        stamp = (stamp ^ gp.id().rotate_left(32) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    Some(stamp)
}

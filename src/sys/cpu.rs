//! The default number of P's: the CPU affinity count, capped by a cgroup v2 `cpu.max`
//! quota rounded up, as Go 1.25 computes its default GOMAXPROCS.

/// CPUs this thread may run on (`sched_getaffinity`), at least 1.
pub(crate) fn affinity_count() -> usize {
    // SAFETY: cpu_set_t is plain data; zeroed is a valid empty set, and the kernel writes
    // at most size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let n = libc::CPU_COUNT(&set);
            if n > 0 {
                return n as usize;
            }
        }
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Parses a cgroup v2 `cpu.max` line (`"max 100000"` or `"150000 100000"`) into a CPU
/// limit rounded up, or None when unlimited or unreadable.
pub(crate) fn parse_cpu_max(text: &str) -> Option<usize> {
    let mut it = text.split_whitespace();
    let quota = it.next()?;
    let period: u64 = it.next()?.parse().ok()?;
    if quota == "max" || period == 0 {
        return None;
    }
    let quota: u64 = quota.parse().ok()?;
    Some(quota.div_ceil(period).max(1) as usize)
}

/// The cgroup v2 quota of this process, walking from its cgroup up to the root as Go
/// does (the tightest limit on the path wins).
fn cgroup_limit() -> Option<usize> {
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cg
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim()
        .to_owned();
    let mut best: Option<usize> = None;
    let mut dir = std::path::PathBuf::from("/sys/fs/cgroup");
    dir.push(path.trim_start_matches('/'));
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("cpu.max")) {
            if let Some(n) = parse_cpu_max(&text) {
                best = Some(best.map_or(n, |b| b.min(n)));
            }
        }
        if dir.as_os_str() == "/sys/fs/cgroup" || !dir.pop() {
            break;
        }
    }
    best
}

/// Go 1.25's default GOMAXPROCS: min(affinity count, cgroup quota rounded up).
pub(crate) fn default_procs() -> usize {
    let n = affinity_count();
    cgroup_limit().map_or(n, |q| q.min(n)).max(1)
}

/// Asks the cache for the first two lines at `p` for writing (`prefetchw`): for a G,
/// what a spawn writes and what running it touches first (`sched/g.rs`, `G`'s layout).
/// A hint only: it never faults and changes nothing that is read or written (a NOP
/// where the CPU lacks it; nothing off x86_64).
#[inline(always)]
pub(crate) fn prefetch_write2<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetchw never faults and changes no architectural state.
    unsafe {
        std::arch::asm!(
            "prefetchw [{p}]",
            "prefetchw [{p} + 64]",
            p = in(reg) p,
            options(nostack, preserves_flags, readonly),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_parsing() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(2));
        assert_eq!(parse_cpu_max("100000 100000"), Some(1));
        assert_eq!(parse_cpu_max("1000 100000"), Some(1));
        assert_eq!(parse_cpu_max("garbage"), None);
        assert!(default_procs() >= 1);
    }
}

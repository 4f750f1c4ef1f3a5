//! Fault injection: rlimits, descriptor exhaustion, /proc readings. Run such a fault in a
//! child process ([`super::child`]): it would poison the test process.

use super::errno;

pub fn getrlimit(res: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: writes the struct we pass.
    assert_eq!(unsafe { libc::getrlimit(res, &mut r) }, 0);
    (r.rlim_cur, r.rlim_max)
}

/// Sets the soft limit (the hard one stays, so the soft limit can be raised again).
pub fn set_soft_rlimit(res: libc::__rlimit_resource_t, soft: u64) -> i32 {
    let (_, hard) = getrlimit(res);
    let r = libc::rlimit {
        rlim_cur: soft.min(hard),
        rlim_max: hard,
    };
    // SAFETY: reads the struct we pass.
    unsafe { libc::setrlimit(res, &r) }
}

/// A field of /proc/self/status in kB (VmSize, VmRSS, Threads...).
pub fn proc_status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            if let Some(rest) = rest.strip_prefix(':') {
                let v = rest.split_whitespace().next().unwrap_or("0");
                return v.parse().unwrap_or(0);
            }
        }
    }
    0
}

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Lowers `RLIMIT_NOFILE` and fills every free descriptor number below it with
/// `/dev/null`, then closes `free` of those: exactly `free` descriptors are left (the
/// limit bounds numbers, and there may be gaps below the highest open one). Returns the
/// filler descriptors (close them to give the numbers back).
pub fn exhaust_fds(free: usize) -> Vec<i32> {
    let highest = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
        .max()
        .unwrap_or(2);
    assert_eq!(
        set_soft_rlimit(libc::RLIMIT_NOFILE, highest + 1 + free as u64),
        0
    );
    let mut fill = Vec::new();
    loop {
        // SAFETY: opening /dev/null; the result is checked.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            assert_eq!(errno(), libc::EMFILE);
            break;
        }
        fill.push(fd);
    }
    for _ in 0..free {
        let fd = fill.pop().expect("a filler to free");
        // SAFETY: our own filler fd.
        unsafe { libc::close(fd) };
    }
    fill
}

/// Closes the fillers of [`exhaust_fds`].
pub fn close_fds(fds: Vec<i32>) {
    for fd in fds {
        // SAFETY: our own filler fds.
        unsafe { libc::close(fd) };
    }
}

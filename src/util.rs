//! Small helpers shared across modules.

/// Formats into a fixed buffer without allocating (usable in a signal handler).
pub(crate) struct BufWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> BufWriter<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        BufWriter { buf, len: 0 }
    }
    pub(crate) fn put(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }
    pub(crate) fn put_u64(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&tmp[i..]);
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    /// The unwritten rest of the buffer, for a writer that fills a part of it; then
    /// [`advance`](Self::advance) by what it wrote.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }
    pub(crate) fn advance(&mut self, k: usize) {
        self.len = (self.len + k).min(self.buf.len());
    }
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Writes all of `s` to fd 2 with write(2), retrying on EINTR (async-signal-safe: the
/// one formatter and writer of the signal handlers and of fatal messages).
pub(crate) fn write_stderr(s: &[u8]) {
    let mut off = 0;
    while off < s.len() {
        // SAFETY: writes from a live slice; fd 2 may be closed, which only fails.
        let n = unsafe { libc::write(2, s[off..].as_ptr().cast(), s.len() - off) };
        if n < 0 && crate::sys::errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        off += n as usize;
    }
}

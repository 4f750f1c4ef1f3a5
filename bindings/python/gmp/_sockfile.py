"""File objects over a :class:`gmp.socket` (``gmp.socket.makefile``): buffered (and
text) I/O whose reads and writes park the calling goroutine, so ``http.client``-style
line protocols work on goroutines without ``gmp.patch()``.

Follows ``socket.socket.makefile`` in the standard library (modes "r", "w", "b",
buffering, the text wrapper's arguments); differs in that closing the file never closes
the socket (close the socket yourself), and the raw layer calls the gmp socket's
``recv_into``/``send``, which honour its ``settimeout``.
"""

import io


class _SocketRaw(io.RawIOBase):
    def __init__(self, sock, reading, writing):
        super().__init__()
        self._sock = sock
        self._reading = reading
        self._writing = writing

    def readable(self):
        return self._reading

    def writable(self):
        return self._writing

    def readinto(self, b):
        self._checkClosed()
        return self._sock.recv_into(b)

    def write(self, b):
        self._checkClosed()
        return self._sock.send(b)

    def fileno(self):
        return self._sock.fileno()


def makefile(sock, mode="r", buffering=None, encoding=None, errors=None, newline=None):
    if not set(mode) <= {"r", "w", "b"}:
        raise ValueError("invalid mode %r (only r, w, b allowed)" % (mode,))
    reading = "r" in mode
    writing = "w" in mode
    if not reading and not writing:
        raise ValueError("mode must include 'r' or 'w'")
    binary = "b" in mode
    raw = _SocketRaw(sock, reading, writing)
    if buffering is None:
        buffering = -1
    if buffering < 0:
        buffering = io.DEFAULT_BUFFER_SIZE
    if buffering == 0:
        if not binary:
            raise ValueError("unbuffered streams must be binary")
        return raw
    if reading and writing:
        buf = io.BufferedRWPair(raw, raw, buffering)
    elif reading:
        buf = io.BufferedReader(raw, buffering)
    else:
        buf = io.BufferedWriter(raw, buffering)
    if binary:
        return buf
    text = io.TextIOWrapper(buf, encoding, errors, newline)
    text.mode = mode
    return text

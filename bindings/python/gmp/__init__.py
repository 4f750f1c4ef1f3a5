"""Goroutines, channels, select, sleep and sockets for Python on the libgmp runtime.

libgmp is Go's G/M/P scheduler as a native library. ``import gmp`` runs Python callables
as real libgmp goroutines, each on its own stack, so any Python code (deep calls,
generators, ``with`` blocks, C extensions calling back into Python) can block in the
middle and let the others run, without ``async``/``await`` and without monkey patching::

    import gmp

    def producer(ch):
        for i in range(3):
            ch.send(i)
        ch.close()

    def main():
        ch = gmp.Chan()
        gmp.go(producer, ch)
        return [v for v in ch]          # iterates until the channel is closed

    print(gmp.run(main))                # [0, 1, 2]

How it runs
-----------
Python goroutines run on a *home* thread that owns one Python thread state and holds
the GIL while it switches between them; each goroutine's own interpreter state (frames,
recursion depth, handled exception, contextvars context) is saved and restored at every
park and resume. A blocking gmp call in a goroutine parks only that goroutine. Python
code on any other thread (the main thread, ``threading`` threads) that blocks in gmp
releases the GIL and waits in slices of at most 50 ms, so Ctrl-C raises
KeyboardInterrupt there. One home is the default (the GIL serialises Python anyway);
``gmp.configure(python_threads=N)`` starts N, for code that blocks in C: new goroutines
(wherever they are spawned) go to the homes in turn and stay there.

A new goroutine starts in a copy of its spawner's ``contextvars`` context, as
``asyncio.create_task`` does: it sees the values set before ``gmp.go``, and what it sets
stays its own.

Goroutines never migrate between threads, so ``threading.local``, ``current_thread()``
and trace functions are shared by the goroutines of a home. Plain blocking calls
(``time.sleep``, ``socket.socket.recv``, file I/O) block the whole home: use
``gmp.sleep``, ``gmp.socket`` and ``gmp.blocking(fn, ...)`` instead.

``gmp.run`` raises ``gmp.Deadlock`` (with the goroutine dump) when every goroutine is
asleep for good, as Go's "all goroutines are asleep - deadlock!": all parked on
channels, select or sync objects for 200 ms with no timer, socket wait or
``gmp.blocking`` call pending, and no other Python thread running that could still wake
one. The goroutines stay parked (main too), as in Go's ``gmp_main``.

At interpreter exit, goroutines still parked are abandoned (as daemon threads are);
``gmp.blocking`` calls in flight are let finish first.

C interop: ``gmp.library_path()`` names the shared object whose ``gmp_*`` symbols are
this process's runtime (load it with ``ctypes.CDLL`` or link C code against it), and
``Chan(raw=True).handle`` is a ``gmp_chan*`` with 8-byte int64 elements that C
goroutines can use directly.
"""

import sys as _sys

if (
    _sys.implementation.name != "cpython"
    or _sys.version_info[:2] not in ((3, 11), (3, 12), (3, 13))
    or getattr(_sys, "_is_gil_enabled", lambda: True)() is False
):
    raise ImportError(
        "gmp supports CPython 3.11, 3.12 and 3.13 (GIL builds) only (this is %s %d.%d): "
        "its per-goroutine interpreter-state swap is audited version by version"
        % (_sys.implementation.name, _sys.version_info[0], _sys.version_info[1])
    )

import atexit as _atexit
import errno as _errno
import ipaddress as _ipaddress
import socket as _socket
import traceback as _traceback

from . import _gmp, _handles
from ._gmp import (
    Chan,
    ChannelClosed,
    Deadlock,
    Mutex,
    SelectCase,
    Ticker,
    Timeout,
    WaitGroup,
    after,
    configure,
    dump_goroutines,
    go,
    gosched,
    library_path,
    lib_version,
    maxprocs,
    num_goroutine,
    run,
    select,
    self_id,
    set_name,
    sleep,
    stats,
    ticker,
    blocking,
)

__all__ = [
    "Chan",
    "ChannelClosed",
    "Deadlock",
    "Mutex",
    "Once",
    "SelectCase",
    "Ticker",
    "Timeout",
    "WaitGroup",
    "after",
    "blocking",
    "configure",
    "dump_goroutines",
    "excepthook",
    "go",
    "goroutines",
    "gosched",
    "library_path",
    "lib_version",
    "maxprocs",
    "num_goroutine",
    "print_goroutines",
    "run",
    "select",
    "self_id",
    "set_name",
    "sleep",
    "socket",
    "stats",
    "ticker",
]

# Goroutine handles, groups, deadline scopes and the sync types beyond Mutex/WaitGroup
# (pure Python: _handles.py, _sync.py). go/run/sleep/select replace the native ones
# with wrappers that return a handle / honour gmp.timeout scopes.
from ._handles import Goroutine, Group, current, go, remaining, run, select, sleep, timeout
from ._sync import BoundedSemaphore, Cond, Condition, Event, Lock, RLock, RWMutex, Semaphore
from .patch import PatchWarning, patch, patched

__all__ += [
    "BoundedSemaphore", "Cond", "Condition", "Event", "Goroutine", "Group", "Lock",
    "PatchWarning", "RLock", "RWMutex", "Semaphore", "current", "patch", "patched",
    "remaining", "timeout",
]

__version__ = "0.1.0"


def _describe(gid, site):
    """``goroutine 5 [name] (created at file:line)``: its handle's name, where it was
    spawned (the innermost frame outside this package)."""
    text = "goroutine %d" % gid
    h = getattr(_handles, "_live", {}).get(gid)
    name = getattr(h, "name", None)
    if name:
        text += " [%s]" % name
    if site is not None:
        text += " (created at %s:%d)" % site
    return text


def _default_excepthook(exc):
    """Prints an exception that escaped a goroutine, as ``threading.excepthook`` does,
    naming the goroutine and where it was spawned."""
    stderr = _sys.stderr
    if stderr is None:
        return
    print("Exception in %s:" % _describe(self_id(), _gmp._spawn_site()), file=stderr, flush=True)
    _traceback.print_exception(type(exc), exc, exc.__traceback__, file=stderr)
    stderr.flush()


#: Called with each exception that escapes a goroutine started by :func:`go`
#: (``SystemExit`` is ignored). Reassign it to log elsewhere; the other goroutines go on.
excepthook = _default_excepthook


def goroutines():
    """The live Python goroutines (parked, ready or running) as a list of
    ``(id, frames)``, frames outermost first as ``(filename, line, function)`` like
    ``traceback.extract_stack``. A goroutine that has not started yet has id 0 and no
    frames. For the runtime's view of every goroutine (C ones too, with states and
    wait reasons) see :func:`dump_goroutines`."""
    hidden = _handles.__file__
    return [
        (gid, [f for f in frames[::-1] if not (f[0] == hidden and f[2] == "_body")])
        for gid, frames in _gmp._goroutines()
    ]


def print_goroutines(file=None):
    """Prints the stack of every live Python goroutine, as ``goroutines()`` sees it: the
    place to look when a program seems stuck."""
    file = _sys.stderr if file is None else file
    gs = goroutines()
    sites = _gmp._spawn_sites()
    print("%d Python goroutine(s):" % len(gs), file=file)
    for gid, frames in sorted(gs):
        if gid:
            print("\n%s:" % _describe(gid, sites.get(gid)), file=file)
        else:
            print("\ngoroutine (not started):", file=file)
        for filename, line, name in frames:
            print('  File "%s", line %d, in %s' % (filename, line, name), file=file)
    file.flush()


class Once:
    """Go's sync.Once: ``do(fn, *args)`` calls fn the first time only; concurrent
    callers wait until that first call has returned. If fn raises, the exception goes
    to its caller and the Once still counts as done (as Go's does on a panic)."""

    __slots__ = ("_mu", "_done")

    def __init__(self):
        self._mu = Mutex()
        self._done = False

    def do(self, fn, /, *args, **kwargs):
        if self._done:
            return
        with self._mu:
            if not self._done:
                try:
                    fn(*args, **kwargs)
                finally:
                    self._done = True

    @property
    def done(self):
        return self._done


_POLLIN = _gmp.POLLIN
_POLLOUT = _gmp.POLLOUT


def _is_ip_literal(host):
    try:
        _ipaddress.ip_address(host.split("%", 1)[0])
        return True
    except ValueError:
        return False


class socket:
    """Wraps a ``socket.socket`` so that ``accept``, ``recv``, ``recv_into``, ``send``,
    ``sendall`` and ``connect`` park only the calling goroutine (the runtime's netpoller
    wakes it). Other attributes are those of the wrapped socket. The fd is switched to
    non-blocking mode. ``settimeout(t)`` bounds each call (raising ``gmp.Timeout``, a
    ``TimeoutError``); ``close()`` wakes goroutines parked on the socket (they get
    ``OSError(EBADF)``).

    ``gmp.socket(family=AF_INET, type=SOCK_STREAM)`` with no socket makes a new one.
    Host names given to ``connect`` are resolved with :func:`blocking`.

    TLS: wrap the plain socket with ``ssl`` first and give the ``ssl.SSLSocket`` to
    ``gmp.socket``: its handshake, reads and writes then park on the fd (OpenSSL runs
    non-blocking; ``SSLWantReadError``/``SSLWantWriteError`` mean "wait"). Pass
    ``do_handshake_on_connect=False`` when wrapping a connected socket, so the handshake
    happens here (``do_handshake()``, or at ``connect``/``accept``). The other way round,
    ``ctx.wrap_socket(gmp.socket(...))``, would make an ordinary blocking SSLSocket that
    stalls every goroutine: it raises TypeError.
    """

    __slots__ = ("_sock", "_fd", "_timeout", "_tls", "__weakref__")

    def __init__(self, sock=None, family=_socket.AF_INET, type=_socket.SOCK_STREAM, proto=0):
        if sock is None:
            sock = _socket.socket(family, type, proto)
        elif isinstance(sock, socket):
            sock = sock._sock
        timeout = sock.gettimeout()
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        _gmp.sock_adopt(self._fd)
        self._timeout = timeout
        ssl = _sys.modules.get("ssl")  # an SSLSocket means ssl is imported
        self._tls = ssl is not None and isinstance(sock, ssl.SSLSocket)

    # -- the calls that park --------------------------------------------------------
    def accept(self):
        """Waits for a connection: ``(gmp.socket, address)`` (for a TLS listener, a TLS
        connection whose handshake is done here, parking)."""
        fd = _gmp.sock_accept(self._fd, self._timeout)
        s = _socket.socket(fileno=fd)
        try:
            addr = s.getpeername()
        except OSError:
            addr = None
        if self._tls:
            lst = self._sock
            conn = socket(
                lst.context.wrap_socket(
                    s,
                    server_side=True,
                    do_handshake_on_connect=False,
                    suppress_ragged_eofs=lst.suppress_ragged_eofs,
                )
            )
            if lst.do_handshake_on_connect:
                try:
                    conn.do_handshake()
                except BaseException:
                    conn.close()
                    raise
            return conn, addr
        return socket(s), addr

    def do_handshake(self):
        """The TLS handshake, parking while it waits for the peer."""
        if not self._tls:
            raise TypeError("do_handshake: not a TLS socket")
        self._tls_call(self._sock.do_handshake)

    def _tls_call(self, call, *args):
        # OpenSSL on a non-blocking fd: WantRead/WantWrite say which way to wait.
        ssl = _sys.modules["ssl"]
        while True:
            try:
                return call(*args)
            except ssl.SSLWantReadError:
                _gmp.wait_fd(self._fd, _POLLIN, self._timeout)
            except ssl.SSLWantWriteError:
                _gmp.wait_fd(self._fd, _POLLOUT, self._timeout)

    def recv(self, bufsize, flags=0):
        if self._tls:
            return self._tls_call(self._sock.recv, bufsize, flags)
        if flags:
            return self._flagged(self._sock.recv, _POLLIN, bufsize, flags)
        return _gmp.sock_recv(self._fd, bufsize, self._timeout)

    def recv_into(self, buffer, nbytes=0, flags=0):
        if self._tls:
            return self._tls_call(self._sock.recv_into, buffer, nbytes, flags)
        if flags:
            return self._flagged(self._sock.recv_into, _POLLIN, buffer, nbytes, flags)
        return _gmp.sock_recv_into(self._fd, buffer, nbytes, self._timeout)

    def send(self, data, flags=0):
        if self._tls:
            return self._tls_call(self._sock.send, data, flags)
        if flags:
            return self._flagged(self._sock.send, _POLLOUT, data, flags)
        return _gmp.sock_send(self._fd, data, self._timeout)

    def sendall(self, data, flags=0):
        if self._tls:
            view = memoryview(data).cast("B")
            while view:
                view = view[self._tls_call(self._sock.send, view, flags) :]
            return None
        if flags:
            view = memoryview(data).cast("B")
            while view:
                n = self._flagged(self._sock.send, _POLLOUT, view, flags)
                view = view[n:]
            return None
        _gmp.sock_sendall(self._fd, data, self._timeout)

    def recvfrom(self, bufsize, flags=0):
        if self._tls:
            raise TypeError("recvfrom on a TLS socket")
        return self._flagged(self._sock.recvfrom, _POLLIN, bufsize, flags)

    def sendto(self, data, *args):
        if self._tls:
            raise TypeError("sendto on a TLS socket")
        return self._flagged(self._sock.sendto, _POLLOUT, data, *args)

    def connect(self, address):
        if (
            isinstance(address, tuple)
            and self._sock.family in (_socket.AF_INET, _socket.AF_INET6)
            and isinstance(address[0], str)
            and not _is_ip_literal(address[0])
        ):
            infos = blocking(
                _socket.getaddrinfo, address[0], address[1], self._sock.family, self._sock.type
            )
            address = infos[0][4]
        if self._tls and self._sock.do_handshake_on_connect:
            # SSLSocket.connect_ex makes the TLS object, and would run the handshake
            # itself (raising SSLWantReadError on this non-blocking fd): do it below.
            self._sock.do_handshake_on_connect = False
            try:
                self._connect(address)
            finally:
                self._sock.do_handshake_on_connect = True
            self.do_handshake()
            return
        self._connect(address)

    def _connect(self, address):
        err = self._sock.connect_ex(address)
        if err in (0, _errno.EISCONN):
            return
        if err not in (_errno.EINPROGRESS, _errno.EALREADY, _errno.EWOULDBLOCK, _errno.EAGAIN):
            raise OSError(err, _errno.errorcode.get(err, "connect failed"))
        _gmp.wait_fd(self._fd, _POLLOUT, self._timeout)
        err = self._sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if err:
            raise OSError(err, _errno.errorcode.get(err, "connect failed"))

    def connect_ex(self, address):
        try:
            self.connect(address)
            return 0
        except OSError as e:
            return e.errno or _errno.EIO

    def _flagged(self, call, events, *args):
        # The general path: try the non-blocking call, park until ready, retry.
        while True:
            try:
                return call(*args)
            except (BlockingIOError, InterruptedError):
                pass
            _gmp.wait_fd(self._fd, events, self._timeout)

    # -- plumbing ---------------------------------------------------------------------
    def settimeout(self, timeout):
        if timeout is not None and timeout < 0:
            raise ValueError("Timeout value out of range")
        self._timeout = timeout

    def gettimeout(self):
        return self._timeout

    def setblocking(self, flag):
        self._timeout = None if flag else 0.0

    def fileno(self):
        return self._sock.fileno()

    def detach(self):
        return self._sock.detach()

    def getsockopt(self, *args):
        # ssl.SSLSocket._create asks this first when ctx.wrap_socket(gmp.socket(...)):
        # the result would be a blocking SSLSocket that stalls every goroutine.
        if _sys._getframe(1).f_globals.get("__name__") == "ssl":
            raise TypeError(
                "ssl cannot wrap a gmp.socket (the SSLSocket would block every goroutine): "
                "wrap the plain socket first and give the SSLSocket to gmp.socket, e.g. "
                "gmp.socket(ctx.wrap_socket(socket.socket(), server_hostname=host))"
            )
        return self._sock.getsockopt(*args)

    def close(self):
        """Closes the socket, waking goroutines parked on it."""
        if self._sock.fileno() < 0:
            return
        fd = self._sock.detach()
        _gmp.close_fd(fd)

    def makefile(self, mode="r", buffering=None, *, encoding=None, errors=None, newline=None):
        """A file object over the socket, as ``socket.socket.makefile``, whose reads
        and writes park the calling goroutine (gmp/_sockfile.py). Closing the file does
        not close the socket."""
        from ._sockfile import makefile

        return makefile(self, mode, buffering, encoding, errors, newline)

    @property
    def sock(self):
        """The wrapped ``socket.socket``."""
        return self._sock

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<gmp.socket %r>" % (self._sock,)


_atexit.register(_gmp._atexit)
# Frames in this package are never a goroutine's spawn site.
_gmp._set_package_dir(__file__.rpartition("/")[0] + "/")


if _sys.version_info[:2] == (3, 11):
    # CPython 3.11 has no C-stack guard: deep recursion through C past what a goroutine's
    # stack holds would overflow it. Its stack is sized from the recursion limit at its
    # spawn; when a goroutine raises the limit beyond that, its own limit is capped at
    # what its stack holds (RecursionError there, never a crash). 3.12 and 3.13 count C
    # levels against a budget of their own (csrc/pystate.c) and need no wrapper.
    def _wrap_setrecursionlimit(orig):
        def setrecursionlimit(limit, /):
            _gmp._recap(0)
            try:
                orig(limit)
            finally:
                _gmp._recap(1)

        setrecursionlimit.__doc__ = orig.__doc__
        setrecursionlimit.__wrapped__ = orig
        return setrecursionlimit

    if not hasattr(_sys.setrecursionlimit, "__wrapped__"):
        _sys.setrecursionlimit = _wrap_setrecursionlimit(_sys.setrecursionlimit)

"""``gmp.patch()``: makes the blocking parts of the standard library park goroutines,
so unmodified libraries (``urllib``, ``http.client``, ``requests``, ``redis``, database
drivers written over ``socket``) run concurrently on goroutines.

Opt-in, like gevent's ``monkey.patch_all()``: call it once, first thing, before
importing the libraries to run; each module is selectable
(``gmp.patch(socket=True, thread=False)``) and ``gmp.patched()`` reports what is done.

What each switch replaces (module attributes; code that imported a name before the
patch keeps the original, hence "call it first" and the warning when it was not):

- ``socket``: ``socket.socket`` (a subclass of the original whose fd is non-blocking
  at the OS level and whose calls park on the runtime's netpoller, honouring
  ``settimeout``; ``makefile``, ``sendfile``, ``dup``, ``accept``, ``connect``,
  ``create_connection`` follow), and the resolver functions (``getaddrinfo``,
  ``gethostbyname``, ``gethostbyname_ex``, ``gethostbyaddr``, ``getnameinfo``), which
  run through ``gmp.blocking`` (a runtime thread) unless the host is a literal address.
- ``ssl``: ``SSLContext.sslsocket_class``, so every ``wrap_socket`` makes an
  ``SSLSocket`` whose handshake, reads, writes and shutdown retry on
  ``SSLWantReadError``/``SSLWantWriteError`` after parking on the fd.
- ``select``: ``select.select``, ``select.poll`` and ``selectors`` (``DefaultSelector``,
  ``EpollSelector``, ``PollSelector``, ``SelectSelector``): a goroutine parks on an
  epoll fd holding the fds asked for, then collects with a zero timeout.
- ``time``: ``time.sleep``.
- ``thread``: ``threading.Lock``/``RLock``/``Condition``/``Semaphore``/
  ``BoundedSemaphore``/``Event``/``Timer``/``local``, ``threading.current_thread`` and
  ``get_ident`` (a per-goroutine identity, as gevent gives each greenlet one), and
  ``_thread.allocate_lock``/``RLock``/``get_ident`` (so ``importlib``'s module locks
  park too). ``threading.Thread`` stays a real thread; its ``join`` from a goroutine
  waits through ``gmp.blocking``. ``logging``'s module lock and existing handlers'
  locks become per-goroutine RLocks (handlers made later get them anyway).
- ``queue``: ``Queue``, ``LifoQueue``, ``PriorityQueue``, ``SimpleQueue`` (built on
  the gmp sync types whether or not ``thread`` is patched).
- ``subprocess``/``os``: ``os.waitpid``/``os.wait`` without ``WNOHANG`` run through
  ``gmp.blocking``; ``subprocess``'s selector parks (``communicate``); its timed waits
  use the patched ``time.sleep``.

Every replacement works from plain threads too: on a thread it behaves as the original
(a patched wait blocks the thread, with the GIL released). Goroutine waits honour
``gmp.timeout`` scopes.

Follows gevent's monkey patching (gevent/monkey, gevent/_socket3.py, gevent/ssl.py,
gevent/thread.py, gevent/local.py, gevent/queue.py) in what is replaced and in warning
about late patching; differs in that threads are not turned into goroutines, sockets
park on libgmp's netpoller instead of a libev/libuv loop, ``select`` parks on a
temporary epoll fd, and ``threading.local`` is the standard library's pure-Python
``_threading_local.local`` keyed by our per-goroutine ``current_thread()``.
"""

import errno as _errno
import os as _os
import queue as _queue
import select as _select
import selectors as _selectors
import socket as _socket_mod
import sys as _sys
import threading as _threading
import time as _time
import warnings as _warnings
import weakref as _weakref
import _socket
import _thread

from . import _gmp, _handles, _sync  # type: ignore[attr-defined]
from ._handles import _effective, _scope_expired, _self_id

_Timeout = _gmp.Timeout
_POLLIN = _gmp.POLLIN
_POLLOUT = _gmp.POLLOUT
_wait_fd = _gmp.wait_fd
_blocking = _gmp.blocking

MODULES = ("socket", "ssl", "select", "time", "thread", "queue", "subprocess", "os")

_patched = dict.fromkeys(MODULES, False)
_saved: dict = {}  # (module name, attribute) -> original


class PatchWarning(RuntimeWarning):
    """gmp.patch() was called twice, or after modules it patches were already used."""


def patched():
    """Which modules ``gmp.patch()`` has patched: ``{name: bool}``."""
    return dict(_patched)


def original(module, name):
    """The original of an attribute gmp.patch() replaced (or the current one)."""
    try:
        return _saved[(module, name)]
    except KeyError:
        return getattr(_sys.modules[module], name)


def _set(mod, name, value):
    key = (mod.__name__, name)
    if key not in _saved:
        _saved[key] = getattr(mod, name, None)
    setattr(mod, name, value)


# -- time ---------------------------------------------------------------------------

_orig_sleep = _time.sleep


def sleep(secs):
    """``time.sleep``: parks a goroutine (honouring gmp.timeout scopes); a plain thread
    sleeps as before."""
    if _self_id():
        if secs < 0:
            raise ValueError("sleep length must be non-negative")
        _handles.sleep(secs)
    else:
        _orig_sleep(secs)


# -- socket -------------------------------------------------------------------------

_OrigSocket = _socket_mod.socket
_orig_getaddrinfo = _socket_mod.getaddrinfo
_orig_gethostbyname = _socket_mod.gethostbyname
_orig_gethostbyname_ex = _socket_mod.gethostbyname_ex
_orig_gethostbyaddr = _socket_mod.gethostbyaddr
_orig_getnameinfo = _socket_mod.getnameinfo
_ss = _socket.socket


def _is_literal(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        try:
            host = host.decode("ascii")
        except UnicodeDecodeError:
            return False
    if not isinstance(host, str):
        return True
    try:
        _socket.inet_pton(_socket.AF_INET, host)
        return True
    except (OSError, ValueError):
        pass
    try:
        _socket.inet_pton(_socket.AF_INET6, host.split("%", 1)[0])
        return True
    except (OSError, ValueError):
        return False


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    if _self_id() and not _is_literal(host):
        return _blocking(_orig_getaddrinfo, host, port, family, type, proto, flags)
    return _orig_getaddrinfo(host, port, family, type, proto, flags)


def gethostbyname(hostname):
    if _self_id() and not _is_literal(hostname):
        return _blocking(_orig_gethostbyname, hostname)
    return _orig_gethostbyname(hostname)


def gethostbyname_ex(hostname):
    if _self_id():
        return _blocking(_orig_gethostbyname_ex, hostname)
    return _orig_gethostbyname_ex(hostname)


def gethostbyaddr(ip):
    if _self_id():
        return _blocking(_orig_gethostbyaddr, ip)
    return _orig_gethostbyaddr(ip)


def getnameinfo(sockaddr, flags):
    if _self_id():
        return _blocking(_orig_getnameinfo, sockaddr, flags)
    return _orig_getnameinfo(sockaddr, flags)


def _timeout_error():
    return _socket_mod.timeout("timed out")


class socket(_OrigSocket):
    """``socket.socket`` whose blocking calls park the calling goroutine (a plain thread
    waits, GIL released). The OS-level fd is always non-blocking; ``settimeout`` /
    ``setblocking`` set the Python-level timeout the calls honour."""

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        _OrigSocket.__init__(self, family, type, proto, fileno)
        self._gmp_timeout = _ss.gettimeout(self)
        _ss.setblocking(self, False)

    # -- timeouts ----------------------------------------------------------------------
    def settimeout(self, timeout):
        if timeout is not None:
            timeout = float(timeout)
            if timeout < 0 or timeout != timeout:
                raise ValueError("Timeout value out of range")
        self._gmp_timeout = timeout

    def gettimeout(self):
        return self._gmp_timeout

    def setblocking(self, flag):
        self._gmp_timeout = None if flag else 0.0

    def getblocking(self):
        return self._gmp_timeout != 0.0

    def _wait(self, events, timeout):
        """Parks until the fd is ready for events; socket.timeout when it does not."""
        t, scoped = _effective(timeout)
        try:
            _wait_fd(_ss.fileno(self), events, t)
        except _Timeout:
            if scoped:
                _scope_expired()
            raise _timeout_error() from None

    def _io(self, call, events, *args):
        timeout = self._gmp_timeout
        if timeout == 0.0:
            return call(self, *args)
        while True:
            try:
                return call(self, *args)
            except BlockingIOError:
                pass
            self._wait(events, timeout)

    # -- the calls that park -------------------------------------------------------------
    def recv(self, bufsize, flags=0):
        return self._io(_ss.recv, _POLLIN, bufsize, flags)

    def recv_into(self, buffer, nbytes=0, flags=0):
        return self._io(_ss.recv_into, _POLLIN, buffer, nbytes, flags)

    def recvfrom(self, bufsize, flags=0):
        return self._io(_ss.recvfrom, _POLLIN, bufsize, flags)

    def recvfrom_into(self, buffer, nbytes=0, flags=0):
        return self._io(_ss.recvfrom_into, _POLLIN, buffer, nbytes, flags)

    if hasattr(_ss, "recvmsg"):

        def recvmsg(self, *args):
            return self._io(_ss.recvmsg, _POLLIN, *args)

        def recvmsg_into(self, *args):
            return self._io(_ss.recvmsg_into, _POLLIN, *args)

        def sendmsg(self, *args):
            return self._io(_ss.sendmsg, _POLLOUT, *args)

    def send(self, data, flags=0):
        return self._io(_ss.send, _POLLOUT, data, flags)

    def sendto(self, data, *args):
        return self._io(_ss.sendto, _POLLOUT, data, *args)

    def sendall(self, data, flags=0):
        timeout = self._gmp_timeout
        if timeout == 0.0:
            return _ss.sendall(self, data, flags)
        view = memoryview(data).cast("B")
        deadline = None if timeout is None else _time.monotonic() + timeout
        while view:
            try:
                n = _ss.send(self, view, flags)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            left = None
            if deadline is not None:
                left = deadline - _time.monotonic()
                if left <= 0:
                    raise _timeout_error()
            self._wait(_POLLOUT, left)
        return None

    def accept(self):
        fd, addr = self._io(_ss._accept, _POLLIN)
        sock = socket(self.family, self.type, self.proto, fileno=fd)
        if _socket_mod.getdefaulttimeout() is None and self.gettimeout():
            sock.setblocking(True)
        return sock, addr

    def connect(self, address):
        timeout = self._gmp_timeout
        if (
            isinstance(address, tuple)
            and self.family in (_socket.AF_INET, _socket.AF_INET6)
            and not _is_literal(address[0])
            and _self_id()
        ):
            info = getaddrinfo(address[0], address[1], self.family, self.type, self.proto)
            address = info[0][4]
        err = _ss.connect_ex(self, address)
        if err in (0, _errno.EISCONN):
            return
        if err not in (_errno.EINPROGRESS, _errno.EALREADY, _errno.EWOULDBLOCK):
            raise OSError(err, _os.strerror(err))
        if timeout == 0.0:
            raise BlockingIOError(err, _os.strerror(err))
        self._wait(_POLLOUT, timeout)
        err = _ss.getsockopt(self, _socket.SOL_SOCKET, _socket.SO_ERROR)
        if err:
            raise OSError(err, _os.strerror(err))

    def connect_ex(self, address):
        try:
            self.connect(address)
            return 0
        except _socket_mod.timeout:
            return _errno.EAGAIN
        except OSError as e:
            if e.errno:
                return e.errno
            raise

    def sendfile(self, file, offset=0, count=None):
        # The send() path parks; os.sendfile's own path waits in a selector.
        return self._sendfile_use_send(file, offset, count)

    def _real_close(self, _ss=_ss):
        fd = _ss.fileno(self)
        if fd < 0:
            return
        # gmp_close_fd wakes goroutines parked on the fd before closing it.
        fd = _ss.detach(self)
        try:
            _gmp.close_fd(fd)
        except OSError:
            pass


def _patch_socket():
    m = _socket_mod
    _set(m, "socket", socket)
    _set(m, "SocketType", socket)
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
                 "getnameinfo"):
        _set(m, name, globals()[name])


# -- ssl ------------------------------------------------------------------------------


class _SSLParking:
    """Mixed in before ``ssl.SSLSocket`` (see ``_make_ssl_socket_class``): its
    handshake, reads, writes and shutdown park on the fd (OpenSSL runs non-blocking;
    SSLWantRead/WriteError mean "wait")."""

    _ssl_base = None  # ssl.SSLSocket
    _want_read = _want_write = None  # ssl.SSLWantReadError, ssl.SSLWantWriteError

    def _ssl_retry(self, call, *args):
        timeout = self._gmp_timeout
        if timeout == 0.0:
            return call(*args)
        while True:
            try:
                return call(*args)
            except self._want_read:
                self._wait(_POLLIN, timeout)
            except self._want_write:
                self._wait(_POLLOUT, timeout)

    def do_handshake(self, block=False):
        self._check_connected()
        return self._ssl_retry(self._sslobj.do_handshake)

    def read(self, len=1024, buffer=None):
        return self._ssl_retry(self._ssl_base.read, self, len, buffer)

    def write(self, data):
        return self._ssl_retry(self._ssl_base.write, self, data)

    def send(self, data, flags=0):
        if self._sslobj is not None:
            if flags != 0:
                raise ValueError("non-zero flags not allowed in calls to send() on %s"
                                 % self.__class__)
            return self._ssl_retry(self._sslobj.write, data)
        return socket.send(self, data, flags)

    def sendall(self, data, flags=0):
        if self._sslobj is not None:
            if flags != 0:
                raise ValueError("non-zero flags not allowed in calls to sendall() on %s"
                                 % self.__class__)
            view = memoryview(data).cast("B")
            while view:
                n = self.send(view)
                view = view[n:]
            return None
        return socket.sendall(self, data, flags)

    def unwrap(self):
        if self._sslobj is None:
            raise ValueError("No SSL wrapper around " + str(self))
        s = self._ssl_retry(self._sslobj.shutdown)
        self._sslobj = None
        return s


def _make_ssl_socket_class(ssl):
    # MRO: _SSLParking, ssl.SSLSocket, our socket, the original socket: ssl.py's own
    # super(SSLSocket, self) calls reach our socket class whether ssl was imported
    # before the patch or after it.
    return type("SSLSocket", (_SSLParking, ssl.SSLSocket, socket), {
        "__module__": "ssl",
        "__doc__": _SSLParking.__doc__,
        "_ssl_base": ssl.SSLSocket,
        "_want_read": ssl.SSLWantReadError,
        "_want_write": ssl.SSLWantWriteError,
    })


def _patch_ssl():
    import ssl

    cls = _make_ssl_socket_class(ssl)
    # ssl.SSLSocket itself stays: ssl.py's own methods name it in super() calls.
    _set(ssl.SSLContext, "sslsocket_class", cls)


# -- select / selectors ------------------------------------------------------------------

_orig_select = _select.select
_orig_poll = getattr(_select, "poll", None)
_orig_epoll = _select.epoll
_EPOLL_IN = _select.EPOLLIN
_EPOLL_OUT = _select.EPOLLOUT


def _fd(obj):
    return obj if isinstance(obj, int) else obj.fileno()


def _park_on_epoll(ep_fd, timeout):
    """Parks until the epoll fd is readable (one of its fds is ready): False when the
    timeout (seconds, None: forever) passed first."""
    t, scoped = _effective(timeout)
    try:
        _wait_fd(ep_fd, _POLLIN, t)
        return True
    except _Timeout:
        if scoped:
            _scope_expired()
        return False


def select(rlist, wlist, xlist, timeout=None):
    """``select.select`` that parks a goroutine until one of the fds is ready."""
    if not _self_id() or timeout == 0:
        return _orig_select(rlist, wlist, xlist, timeout)
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be non-negative")
    r = _orig_select(rlist, wlist, xlist, 0)
    if r[0] or r[1] or r[2]:
        return r
    masks = {}
    for o in rlist:
        masks[_fd(o)] = masks.get(_fd(o), 0) | _EPOLL_IN
    for o in wlist:
        masks[_fd(o)] = masks.get(_fd(o), 0) | _EPOLL_OUT
    for o in xlist:
        masks[_fd(o)] = masks.get(_fd(o), 0) | _select.EPOLLPRI
    ep = _orig_epoll()
    try:
        _os.set_blocking(ep.fileno(), False)
        for fd, m in masks.items():
            try:
                ep.register(fd, m)
            except PermissionError:  # a regular file: always ready
                return _orig_select(rlist, wlist, xlist, 0)
        if not _park_on_epoll(ep.fileno(), timeout):
            return [], [], []
    finally:
        ep.close()
    return _orig_select(rlist, wlist, xlist, 0)


class poll:
    """``select.poll`` that parks a goroutine in ``poll(timeout_ms)`` (an epoll set
    underneath; the POLL* and EPOLL* bits are the same on Linux)."""

    def __init__(self):
        self._ep = _orig_epoll()
        _os.set_blocking(self._ep.fileno(), False)
        self._fds = {}

    def register(self, fd, eventmask=_select.POLLIN | _select.POLLPRI | _select.POLLOUT):
        fd = _fd(fd)
        if fd in self._fds:
            self._ep.modify(fd, eventmask)
        else:
            self._ep.register(fd, eventmask)
        self._fds[fd] = eventmask

    def modify(self, fd, eventmask):
        fd = _fd(fd)
        if fd not in self._fds:
            raise FileNotFoundError(_errno.ENOENT, "No such file or directory")
        self._ep.modify(fd, eventmask)
        self._fds[fd] = eventmask

    def unregister(self, fd):
        fd = _fd(fd)
        del self._fds[fd]
        try:
            self._ep.unregister(fd)
        except OSError:
            pass

    def poll(self, timeout=None):
        if timeout is not None and timeout < 0:
            timeout = None
        secs = None if timeout is None else timeout / 1000.0
        r = self._ep.poll(0)
        if r or secs == 0 or not _self_id():
            return r if (r or secs == 0) else self._ep.poll(-1 if secs is None else secs)
        if not _park_on_epoll(self._ep.fileno(), secs):
            return []
        return self._ep.poll(0)

    def __del__(self):
        try:
            self._ep.close()
        except Exception:
            pass


class GmpSelector(_selectors.EpollSelector):
    """``selectors.EpollSelector`` whose ``select`` parks a goroutine."""

    def __init__(self):
        super().__init__()
        # Non-blocking, so the runtime's poller watches it (see _park_on_epoll).
        _os.set_blocking(self._selector.fileno(), False)

    def select(self, timeout=None):
        if _self_id() and (timeout is None or timeout > 0) and self._fd_to_key:
            ready = super().select(0)
            if ready:
                return ready
            if not _park_on_epoll(self._selector.fileno(), timeout):
                return []
            return super().select(0)
        return super().select(timeout)


def _patch_select():
    _set(_select, "select", select)
    if _orig_poll is not None:
        _set(_select, "poll", poll)
    for name in ("DefaultSelector", "EpollSelector", "PollSelector", "SelectSelector"):
        if hasattr(_selectors, name):
            _set(_selectors, name, GmpSelector)
    sp = _sys.modules.get("subprocess")
    if sp is not None and hasattr(sp, "_PopenSelector"):
        _set(sp, "_PopenSelector", GmpSelector)


# -- thread ------------------------------------------------------------------------------

_orig_current_thread = _threading.current_thread


class _GoroutineThread(_threading.Thread):
    """What ``threading.current_thread()`` returns in a goroutine: a Thread whose
    ident is the goroutine's (see ``gmp._sync.get_ident``) and whose name is
    ``goroutine-<id>``; ``join``/``is_alive`` follow the goroutine."""

    def __init__(self, gid, handle):
        _threading.Thread.__init__(self, name="goroutine-%d" % gid, daemon=True)
        self._ident = _sync._GOROUTINE_IDENT | gid
        self._gmp_handle = _weakref.ref(handle) if handle is not None else None
        self._gmp_gid = gid

    def start(self):
        raise RuntimeError("a goroutine's Thread object cannot be started")

    def is_alive(self):
        h = self._gmp_handle() if self._gmp_handle is not None else None
        if h is None:
            return self._gmp_gid == _self_id()
        return not h.done()

    def join(self, timeout=None):
        h = self._gmp_handle() if self._gmp_handle is not None else None
        if h is not None:
            h.join(timeout)

    @property
    def native_id(self):
        return _threading.get_native_id()

    def __repr__(self):
        return "<_GoroutineThread(%s)>" % self._name


_untracked: dict = {}  # gid -> _GoroutineThread for goroutines without a handle


def current_thread():
    """``threading.current_thread()``: a per-goroutine Thread object in a goroutine,
    the real thread's elsewhere."""
    gid = _self_id()
    if not gid:
        return _orig_current_thread()
    h = _handles._live.get(gid)
    if h is not None:
        t = h._thread
        if t is None:
            t = h._thread = _GoroutineThread(gid, h)
        return t
    t = _untracked.get(gid)
    if t is None:
        if len(_untracked) > 1000:
            _untracked.clear()
        t = _untracked[gid] = _GoroutineThread(gid, None)
    return t


class Timer:
    """``threading.Timer`` on a goroutine: calls ``function(*args, **kwargs)`` after
    ``interval`` seconds unless ``cancel()`` came first."""

    def __init__(self, interval, function, args=None, kwargs=None):
        self.interval = interval
        self.function = function
        self.args = args if args is not None else []
        self.kwargs = kwargs if kwargs is not None else {}
        self.finished = _sync.Event()
        self.name = "Timer"
        self.daemon = True
        self._g = None

    def start(self):
        if self._g is not None:
            raise RuntimeError("threads can only be started once")
        self._g = _handles.go(self.run)

    def run(self):
        self.finished.wait(self.interval)
        if not self.finished.is_set():
            self.function(*self.args, **self.kwargs)
        self.finished.set()

    def cancel(self):
        self.finished.set()

    def join(self, timeout=None):
        if self._g is None:
            raise RuntimeError("cannot join thread before it is started")
        self._g.join(timeout)

    def is_alive(self):
        return self._g is not None and not self._g.done()


def _allocate_lock():
    return _sync.Lock()


_orig_thread_join = _threading.Thread.join


def _thread_join(self, timeout=None):
    """``Thread.join`` of a real thread from a goroutine waits on a runtime thread
    (``gmp.blocking``) while the goroutine parks: the thread may be waiting for another
    goroutine of the same home."""
    if _self_id() and not isinstance(self, _GoroutineThread):
        if self is _orig_current_thread():
            raise RuntimeError("cannot join current thread")
        if not self._started.is_set():
            raise RuntimeError("cannot join thread before it is started")
        return _blocking(_orig_thread_join, self, timeout)
    return _orig_thread_join(self, timeout)


def _patch_thread():
    import _threading_local

    th = _threading
    _set(_thread, "allocate_lock", _allocate_lock)
    _set(_thread, "get_ident", _sync.get_ident)
    _set(_thread, "RLock", _sync.RLock)
    _set(th, "Lock", _sync.Lock)
    _set(th, "RLock", _sync.RLock)
    _set(th, "Condition", _sync.Condition)
    _set(th, "Semaphore", _sync.Semaphore)
    _set(th, "BoundedSemaphore", _sync.BoundedSemaphore)
    _set(th, "Event", _sync.Event)
    _set(th, "Timer", Timer)
    _set(th, "get_ident", _sync.get_ident)
    _set(th, "current_thread", current_thread)
    if hasattr(th, "currentThread"):
        _set(th, "currentThread", current_thread)
    _set(_threading_local, "current_thread", current_thread)
    _set(_threading_local, "RLock", _sync.RLock)
    _set(th, "local", _threading_local.local)
    _set(th.Thread, "join", _thread_join)
    logging = _sys.modules.get("logging")
    if logging is not None:
        # Locks logging made before the patch (its module lock, existing handlers'):
        # per-goroutine RLocks, so a handler that parks in emit excludes the others.
        if hasattr(logging, "_lock"):
            _set(logging, "_lock", _sync.RLock())
        for ref in list(getattr(logging, "_handlerList", ())):
            h = ref() if callable(ref) else ref
            if h is not None and getattr(h, "lock", None) is not None:
                h.lock = _sync.RLock()


# -- queue ---------------------------------------------------------------------------------


def _init_queue_sync(q):
    q.mutex = _sync.Lock()
    q.not_empty = _sync.Condition(q.mutex)
    q.not_full = _sync.Condition(q.mutex)
    q.all_tasks_done = _sync.Condition(q.mutex)


class Queue(_queue.Queue):
    __doc__ = _queue.Queue.__doc__

    def __init__(self, maxsize=0):
        super().__init__(maxsize)
        _init_queue_sync(self)


class LifoQueue(_queue.LifoQueue):
    __doc__ = _queue.LifoQueue.__doc__

    def __init__(self, maxsize=0):
        super().__init__(maxsize)
        _init_queue_sync(self)


class PriorityQueue(_queue.PriorityQueue):
    __doc__ = _queue.PriorityQueue.__doc__

    def __init__(self, maxsize=0):
        super().__init__(maxsize)
        _init_queue_sync(self)


_PySimpleQueue: type = getattr(_queue, "_PySimpleQueue")  # the pure-Python SimpleQueue


class SimpleQueue(_PySimpleQueue):
    __doc__ = _PySimpleQueue.__doc__

    def __init__(self):
        super().__init__()
        self._count = _sync.Semaphore(0)


def _patch_queue():
    for cls in (Queue, LifoQueue, PriorityQueue, SimpleQueue):
        _set(_queue, cls.__name__, cls)


# -- os / subprocess ----------------------------------------------------------------------

_orig_waitpid = _os.waitpid
_orig_wait = _os.wait


def waitpid(pid, options):
    """``os.waitpid``: a goroutine's blocking wait runs on a runtime thread."""
    if _self_id() and not options & _os.WNOHANG:
        return _blocking(_orig_waitpid, pid, options)
    return _orig_waitpid(pid, options)


def wait():
    if _self_id():
        return _blocking(_orig_wait)
    return _orig_wait()


def _patch_os():
    _set(_os, "waitpid", waitpid)
    _set(_os, "wait", wait)


def _patch_subprocess():
    import subprocess

    if hasattr(subprocess, "_PopenSelector"):
        _set(subprocess, "_PopenSelector", GmpSelector)


# -- the entry point -------------------------------------------------------------------------

_PATCHERS = {
    "time": lambda: _set(_time, "sleep", sleep),
    "socket": _patch_socket,
    "ssl": _patch_ssl,
    "select": _patch_select,
    "thread": _patch_thread,
    "queue": _patch_queue,
    "os": _patch_os,
    "subprocess": _patch_subprocess,
}

# Which original objects other modules may have bound at import time, per switch.
_ORIGINALS = {
    "socket": lambda: [_OrigSocket, _orig_getaddrinfo, _orig_gethostbyname],
    "time": lambda: [_orig_sleep],
    "thread": lambda: [_threading.Lock, _threading.RLock, _threading.Condition,
                       _threading.Event, _threading.Semaphore, _threading.local],
    "select": lambda: [_orig_select],
}
# Modules whose bindings of the originals are the standard library's own business (or
# ours): not reported.
_IGNORED_MODULES = (
    "gmp", "_thread", "_socket", "socket", "ssl", "threading", "_threading_local", "queue",
    "selectors", "select", "subprocess", "time", "os", "importlib", "_pytest", "pytest",
    "pluggy", "concurrent", "multiprocessing", "asyncio", "logging", "_weakrefset",
    "weakref", "functools", "reprlib", "socketserver", "zipimport", "site", "builtins",
    "posixpath", "faulthandler",
)


def _late_refs(names):
    """Modules already imported that bound an original we are about to replace (they
    keep the blocking version)."""
    targets = {}
    for n in names:
        f = _ORIGINALS.get(n)
        if f is not None:
            for o in f():
                targets[id(o)] = o
    found = []
    for modname, mod in list(_sys.modules.items()):
        if mod is None or modname.split(".")[0] in _IGNORED_MODULES:
            continue
        try:
            items = list(vars(mod).items())
        except TypeError:
            continue
        for attr, v in items:
            if id(v) in targets and targets[id(v)] is v and not attr.startswith("__"):
                found.append("%s.%s" % (modname, attr))
    return sorted(found)


def patch(*, socket=True, ssl=True, select=True, time=True, thread=True, queue=True,
          subprocess=True, os=True):
    """Replaces the blocking parts of the standard library with versions that park
    goroutines (see the module docstring for the list). Call it once, first thing,
    before importing the libraries to run. Returns ``gmp.patched()``.

    Warns (``gmp.patch.PatchWarning``) when called again (the union of the switches is
    patched) or when modules already imported hold an original that stays blocking."""
    want = dict(socket=socket, ssl=ssl, select=select, time=time, thread=thread,
                queue=queue, subprocess=subprocess, os=os)
    if ssl and not socket:
        raise ValueError("gmp.patch(ssl=True) needs socket=True")
    todo = [n for n in MODULES if want[n] and not _patched[n]]
    if any(_patched.values()):
        _warnings.warn(
            "gmp.patch() called again: already patched %s; now also %s"
            % (sorted(n for n, v in _patched.items() if v), todo or "nothing"),
            PatchWarning, stacklevel=2)
    late = _late_refs(todo)
    if "ssl" in todo and "ssl" in _sys.modules:
        late.append("ssl (imported before gmp.patch(): SSLSocket subclasses made "
                    "before the patch stay blocking)")
    if late:
        _warnings.warn(
            "gmp.patch() after these modules were imported; the names they bound keep "
            "the blocking originals (call gmp.patch() before importing them): %s"
            % ", ".join(late), PatchWarning, stacklevel=2)
    for n in todo:
        _PATCHERS[n]()
        _patched[n] = True
    return patched()

"""Goroutine handles, groups and deadline scopes: ``gmp.go`` returning a
:class:`Goroutine`, :class:`Group` (Go's errgroup), :func:`timeout` (like
``asyncio.timeout``), and the Python-level waits that honour it.

Pure Python over the native ``gmp._gmp`` module, version-neutral. The handle is made
by wrapping the callable in a small trampoline (``Goroutine._body``) that records the
result or exception and wakes joiners; the trampoline's frame is hidden from
``gmp.goroutines()`` and from tracebacks printed by ``gmp.excepthook``.

Internal short critical sections use the interpreter's own lock type
(``_thread.allocate_lock`` captured at import, before any patching): it is held only
around a few bytecodes and never across a park, so it cannot block a home for longer
than another thread's few bytecodes.

Follows Go's ``golang.org/x/sync/errgroup`` for :class:`Group` (first error cancels,
``wait`` returns it, optional limit) and asyncio's ``timeout`` for the scope; differs
from asyncio in that the wait that runs past the deadline raises :class:`gmp.Timeout`
itself (there is no task cancellation to convert).
"""

import _thread
import contextvars as _contextvars
import sys as _sys
import time as _time

from . import _gmp  # type: ignore[attr-defined]  # the native module has no stub

_RealLock = _thread.allocate_lock
_real_get_ident = _thread.get_ident
_monotonic = _time.monotonic
_self_id = _gmp.self_id
_Chan = _gmp.Chan
_ChannelClosed = _gmp.ChannelClosed
_Timeout = _gmp.Timeout

# -- deadline scopes ------------------------------------------------------------------

_deadline = _contextvars.ContextVar("gmp_deadline", default=None)


def _effective(timeout):
    """(timeout to pass to a wait, whether the scope's deadline set it). ``timeout`` is
    None (forever) or seconds; a negative one means forever (threading's -1)."""
    if timeout is not None and timeout < 0:
        timeout = None
    dl = _deadline.get()
    if dl is None:
        return timeout, False
    left = dl - _monotonic()
    if left < 0:
        left = 0.0
    if timeout is None or left < timeout:
        return left, True
    return timeout, False


def _scope_expired():
    raise _Timeout("gmp.timeout: the deadline passed")


def remaining():
    """Seconds left in the innermost :func:`timeout` scope of the calling goroutine
    (None outside any), for waits outside gmp (a C library's own timeout argument)."""
    dl = _deadline.get()
    if dl is None:
        return None
    left = dl - _monotonic()
    return left if left > 0 else 0.0


class timeout:
    """``with gmp.timeout(seconds):`` bounds the gmp waits inside the block (on the
    calling goroutine or thread; scopes nest, the earliest deadline wins). A wait still
    blocked when the deadline passes raises :class:`gmp.Timeout` (a ``TimeoutError``);
    afterwards ``expired`` tells whether the deadline was reached. ``None`` means no
    deadline (a scope that only nests).

    Honoured by every gmp wait: ``gmp.sleep``, ``gmp.select``, ``Chan.send``/``recv``
    (the earlier of their own ``timeout=`` and the scope's), ``WaitGroup.wait``,
    ``Mutex.lock``, ``Goroutine.join``/``result``, ``Group.wait``, ``Event``, ``Cond``,
    ``Semaphore``, ``RWMutex``, ``Lock``, ``RLock``, and everything ``gmp.patch()``
    installs (sockets, ``time.sleep``, ``threading``, ``queue``)."""

    __slots__ = ("_seconds", "_when", "_token", "expired")

    def __init__(self, seconds):
        if seconds is not None:
            seconds = float(seconds)
            if seconds != seconds or seconds < 0:
                raise ValueError("timeout must be a non-negative number or None")
        self._seconds = seconds
        self._when = None
        self._token = None
        self.expired = False

    def __enter__(self):
        if self._token is not None:
            raise RuntimeError("gmp.timeout scope entered twice")
        dl = None if self._seconds is None else _monotonic() + self._seconds
        self._when = dl
        outer = _deadline.get()
        if outer is not None and (dl is None or outer < dl):
            dl = outer
        self._token = _deadline.set(dl)
        _gmp._scope_enter()  # the native waits look at scopes only while one is open
        return self

    def __exit__(self, et, ev, tb):
        _gmp._scope_exit()
        _deadline.reset(self._token)
        if self._when is not None and _monotonic() >= self._when:
            self.expired = True
        return False

    @property
    def when(self):
        """The deadline on the ``time.monotonic()`` clock (None: none)."""
        return self._when

    def remaining(self):
        if self._when is None:
            return None
        left = self._when - _monotonic()
        return left if left > 0 else 0.0

    def __repr__(self):
        return "<gmp.timeout %s%s>" % (self._seconds, " expired" if self.expired else "")


def sleep(seconds):
    """Parks the calling goroutine (or waits on a plain thread) for ``seconds``; 0
    yields. Inside a :func:`timeout` scope that ends first: sleeps until the deadline,
    then raises :class:`gmp.Timeout`."""
    dl = _deadline.get()
    if dl is not None and seconds > 0:
        left = dl - _monotonic()
        if left < seconds:
            if left > 0:
                _gmp.sleep(left)
            _scope_expired()
    _gmp.sleep(seconds)


def select(*cases, timeout=None, default=False):
    """Waits for one case: ``(index, value, ok)`` (see ``gmp._gmp.select``). Inside a
    :func:`timeout` scope, a select still waiting at the deadline raises
    :class:`gmp.Timeout`."""
    if default or _deadline.get() is None:
        return _gmp.select(*cases, timeout=timeout, default=default)
    t, scoped = _effective(timeout)
    r = _gmp.select(*cases, timeout=t)
    if scoped and r[0] is None:
        _scope_expired()
    return r


# -- goroutine handles ------------------------------------------------------------------

_live: dict = {}  # goroutine id -> Goroutine, while its body runs
_getrefcount = _sys.getrefcount
_BODY_REFS = 4  # see Goroutine._body; tests/python/test_handles_name.py checks it
_state_lock = _RealLock()

_PENDING, _RUNNING, _DONE = 0, 1, 2


def _excepthook():
    mod = _sys.modules.get("gmp")
    hook = getattr(mod, "excepthook", None)
    return hook


class Goroutine:
    """A handle on a goroutine started by :func:`gmp.go` (or :meth:`Group.go`).

    ``join(timeout=None)`` waits for it to end (True, or False if the timeout passed);
    ``result(timeout=None)`` waits and returns its return value or re-raises its
    exception; ``done()`` says whether it has ended; ``exception()`` is the exception
    it raised (None if none). ``id`` is the runtime's goroutine id, None until it
    starts; ``name`` defaults to the callable's qualified name.

    An exception escaping a goroutine started by ``gmp.go`` still goes to
    ``gmp.excepthook`` (as before handles existed); one in a :class:`Group` goes to the
    group's ``wait`` instead."""

    # Slots, not a __dict__: a handle per spawn, and a dict made, grown, traversed by
    # the GC and freed for each cost about 1,300 instructions of a spawn (callgrind).
    __slots__ = (
        "_fn", "_args", "_kwargs", "_group", "_state", "_value", "_exc", "_ch", "_id",
        "_thread", "_locals", "_name", "__weakref__",
    )  # fmt: skip

    def __init__(self, fn, args, kwargs, group=None):
        self._fn = fn
        self._args = args
        # None for no keywords: the empty dict of every **kwargs call would otherwise
        # stay referenced by the goroutine's frame for its whole life (64 bytes under
        # each parked goroutine).
        self._kwargs = kwargs or None
        self._group = group
        self._state = _PENDING
        self._value = self._exc = self._ch = self._id = None
        self._thread = self._locals = self._name = None

    @property
    def name(self):
        """The callable's qualified name unless set."""
        n = self._name
        if n is None:
            fn = self._fn
            n = getattr(fn, "__qualname__", None) or type(fn).__name__
            self._name = n
        return n

    @name.setter
    def name(self, value):
        self._name = value

    def _body(self):
        gid = _self_id()
        self._id = gid
        self._state = _RUNNING
        # Goroutines start in a copy of the spawner's contextvars context; a gmp.timeout
        # scope stays its own goroutine's (as asyncio.timeout's).
        if _deadline.get() is not None:
            _deadline.set(None)
        outer = _live.get(gid)  # set when gmp._gmp.run called this from a goroutine
        _live[gid] = self
        fn, args, kwargs = self._fn, self._args, self._kwargs
        self._args = self._kwargs = None
        try:
            # A plain call where there are no keyword arguments: CPython 3.11 runs f(*a)
            # through C (one more interpreter frame on the goroutine's C stack, about
            # 1 KiB, often one more resident page per parked goroutine); f(), f(x) and
            # f(x, y) stay in the interpreter's own loop.
            if kwargs:
                self._value = fn(*args, **kwargs)
            else:
                n = len(args)
                if n == 0:
                    self._value = fn()
                elif n == 1:
                    self._value = fn(args[0])
                elif n == 2:
                    self._value = fn(args[0], args[1])
                else:
                    self._value = fn(*args)
        except BaseException as e:  # noqa: B036 - every exception is the goroutine's result
            tb = e.__traceback__
            if tb is not None and tb.tb_frame.f_code is _BODY_CODE:
                e = e.with_traceback(tb.tb_next)
            self._exc = e
            group = self._group
            if group is not None:
                group._failed(e)
            elif not isinstance(e, SystemExit):
                _report(e)
            del e
        finally:
            # The name outlives the callable (dropped below) only if someone else holds
            # this handle and may ask for it: besides them, the references are _live's,
            # this frame's, the bound method the runtime is calling, and getrefcount's
            # argument (_BODY_REFS). A qualname can cost a string format (a bound
            # builtin method's), which most spawns, whose handle is dropped, skip.
            if self._name is None and _getrefcount(self) > _BODY_REFS:
                self._name = getattr(fn, "__qualname__", None) or type(fn).__name__
            self._fn = None
            del fn, args, kwargs
            if outer is None:
                _live.pop(gid, None)
            else:
                _live[gid] = outer
            self._thread = None
            self._locals = None
            # Lock-free on this side: a joiner publishes its channel under
            # _state_lock and then re-checks _state (see join).
            self._state = _DONE
            ch = self._ch
            if ch is not None:
                ch.close()
            if self._group is not None:
                self._group._ended()

    @property
    def id(self):
        return self._id

    def done(self):
        """Whether the goroutine has ended (returned or raised)."""
        return self._state == _DONE

    def join(self, timeout=None):
        """Waits until the goroutine ends: True, or False if ``timeout`` seconds passed
        first. Inside a :func:`timeout` scope whose deadline passes: raises Timeout."""
        if self._state == _DONE:
            return True
        if self._id is not None and self._id == _self_id() and self._state == _RUNNING:
            raise RuntimeError("a goroutine cannot join itself")
        with _state_lock:  # one channel however many joiners race
            ch = self._ch
            if ch is None:
                ch = self._ch = _Chan()
        if self._state == _DONE:  # ended before it could see the channel
            return True
        t, scoped = _effective(timeout)
        try:
            ch.recv(timeout=t)
        except _ChannelClosed:
            return True
        except _Timeout:
            if self._state == _DONE:
                return True
            if scoped:
                _scope_expired()
            return False
        return True  # pragma: no cover - nothing is ever sent

    def result(self, timeout=None):
        """Waits for the goroutine, then returns what it returned or re-raises what it
        raised. Raises Timeout if ``timeout`` passes first."""
        if not self.join(timeout):
            raise _Timeout("goroutine %r did not end within %s s" % (self.name, timeout))
        if self._exc is not None:
            raise self._exc
        return self._value

    def exception(self, timeout=None):
        """Waits like ``result``; returns the goroutine's exception, or None."""
        if not self.join(timeout):
            raise _Timeout("goroutine %r did not end within %s s" % (self.name, timeout))
        return self._exc

    def is_alive(self):
        return self._state != _DONE

    def __repr__(self):
        st = ("pending", "running", "done")[self._state]
        return "<gmp.Goroutine %s id=%s %s>" % (self.name, self._id, st)


_BODY_CODE = Goroutine._body.__code__
HIDDEN_CODE = (_BODY_CODE,)


def _report(e):
    hook = _excepthook()
    try:
        if hook is None:
            raise RuntimeError("gmp.excepthook is unset")
        hook(e)
    except BaseException as e2:  # the hook itself failed: print both
        import traceback

        err = _sys.stderr
        if err is not None:
            traceback.print_exception(type(e), e, e.__traceback__, file=err)
            traceback.print_exception(type(e2), e2, e2.__traceback__, file=err)


def go(func, /, *args, **kwargs):
    """Runs ``func(*args, **kwargs)`` as a new goroutine; returns its :class:`Goroutine`
    handle. An exception escaping it goes to ``gmp.excepthook`` (the other goroutines go
    on) and is kept for ``result()``."""
    if not callable(func):
        raise TypeError("gmp.go: %r is not callable" % (func,))
    g = Goroutine(func, args, kwargs)
    _gmp.go(g._body)
    return g


def current():
    """The :class:`Goroutine` handle of the calling goroutine, or None (a plain thread,
    or a goroutine not started by ``gmp.go``/``Group.go``/``gmp.run``)."""
    return _live.get(_self_id())


def run(main, /, *args, **kwargs):
    """Runs ``main(*args, **kwargs)`` as a goroutine and waits for it; returns its result
    or raises its exception. Called from a goroutine, just calls main. Raises
    :class:`gmp.Deadlock` with the goroutine dump when every goroutine is asleep for good
    (main then stays parked, as Go's gmp_main leaves it)."""
    if _self_id() in _live:
        return main(*args, **kwargs)
    g = Goroutine(main, args, kwargs, group=_RUN_GROUP)
    try:
        _gmp.run(g._body)
    except _gmp.Deadlock as dead:
        # The runtime's dump names states and wait reasons; add where each Python
        # goroutine is parked.
        import io

        from . import print_goroutines

        out = io.StringIO()
        print_goroutines(file=out)
        first = dead.args[0] if dead.args else ""
        raise _gmp.Deadlock("%s\n%s" % (first, out.getvalue())) from None
    if g._exc is not None:
        e = g._exc
        g._exc = None
        raise e
    return g._value


class _RunGroup:
    """Marks the goroutine of ``gmp.run``: its exception goes to run's caller."""

    @staticmethod
    def _failed(e):
        pass

    @staticmethod
    def _ended():
        pass


_RUN_GROUP = _RunGroup()


# -- groups --------------------------------------------------------------------------


class Group:
    """Go's errgroup: ``g.go(fn, *args)`` starts a goroutine in the group; ``g.wait()``
    waits until all have ended and raises the first exception one of them raised
    (others are available as ``errors``). The first exception also *cancels* the group:
    ``cancelled`` turns True and the channel ``done`` is closed, so members can stop
    early (``gmp.select(work.recv_case(), group.done.recv_case())`` or checking
    ``group.cancelled``). ``cancel()`` does the same by hand.

    ``limit=n`` allows at most n members running at once: ``go`` waits for a slot.
    As a context manager, leaving the block waits (and raises the first exception)::

        with gmp.Group() as g:
            for url in urls:
                g.go(fetch, url)
    """

    def __init__(self, limit=None):
        if limit is not None and limit < 1:
            raise ValueError("limit must be >= 1 or None")
        from ._sync import Event, Semaphore

        self._mu = _RealLock()
        self._count = 0
        self._idle = Event()
        self._idle.set()
        self._sem = Semaphore(limit) if limit is not None else None
        self._first = None
        self.errors = []
        self._done = _Chan()
        self._cancelled = False
        self.goroutines = []

    @property
    def done(self):
        """A channel closed when the group is cancelled (receive: ChannelClosed)."""
        return self._done

    @property
    def cancelled(self):
        return self._cancelled

    def cancel(self):
        with self._mu:
            if self._cancelled:
                return
            self._cancelled = True
        self._done.close()

    def go(self, fn, /, *args, **kwargs):
        """Starts ``fn(*args, **kwargs)`` as a member; returns its Goroutine."""
        if not callable(fn):
            raise TypeError("Group.go: %r is not callable" % (fn,))
        if self._sem is not None:
            self._sem.acquire()
        g = Goroutine(fn, args, kwargs, group=self)
        with self._mu:
            self._count += 1
            if self._count == 1:
                self._idle.clear()
        self.goroutines.append(g)
        try:
            _gmp.go(g._body)
        except BaseException:
            self._ended()
            raise
        return g

    def _failed(self, e):
        with self._mu:
            self.errors.append(e)
            if self._first is None:
                self._first = e
        self.cancel()

    def _ended(self):
        if self._sem is not None:
            self._sem.release()
        with self._mu:
            self._count -= 1
            idle = self._count == 0
        if idle:
            self._idle.set()

    def wait(self, timeout=None):
        """Waits until every member has ended; raises the first exception a member
        raised. Timeout if ``timeout`` passes first (members keep running)."""
        if not self._idle.wait(timeout):
            raise _Timeout("gmp.Group.wait: members still running after %s s" % timeout)
        if self._first is not None:
            raise self._first

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None and not self._cancelled:
            self.cancel()
        try:
            self.wait()
        except BaseException:
            if et is None:
                raise
        return False

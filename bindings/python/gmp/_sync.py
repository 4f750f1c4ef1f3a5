"""Sync types that park a goroutine (and block a plain thread, GIL released): the
ones Go has beyond Mutex and WaitGroup (``RWMutex``, ``Cond``), the ones Python code
expects (``Event``, ``Semaphore``, ``BoundedSemaphore``, ``Lock`` and ``RLock`` with
``acquire(blocking, timeout)``, ``Condition``), usable both directly and as the
``threading`` replacements ``gmp.patch()`` installs.

Built in Python over ``gmp.Chan``: each waiter parks on its own 1-slot channel and is
woken by a send (one waiter) or by a close (all of them); the state is guarded by the
interpreter's own lock, held for a few bytecodes only and never across a park. A waiter
whose timeout passes takes itself off the queue under that lock; if it is no longer
there it was granted concurrently and keeps what it was given (no lost wake-ups, no
barging: a released permit or lock is handed straight to the first waiter).

The semantics follow ``threading`` (CPython's pure-Python Condition, Semaphore and
Event are the reference for behaviour) and Go's ``sync`` (RWMutex: a waiting writer
blocks new readers); the code is our own.
"""

from collections import deque as _deque

from . import _gmp  # type: ignore[attr-defined]  # the native module has no stub
from ._handles import _RealLock, _effective, _real_get_ident, _scope_expired, _self_id

_Chan = _gmp.Chan
_Timeout = _gmp.Timeout

_GOROUTINE_IDENT = 1 << 62


def get_ident():
    """A per-goroutine identity (a plain thread's ``threading.get_ident()`` outside
    goroutines): what RLock owners and the patched ``threading.get_ident`` use."""
    gid = _self_id()
    if gid:
        return _GOROUTINE_IDENT | gid
    return _real_get_ident()


def _park(w, timeout):
    """Parks on waiter channel w: True if woken, False if the timeout passed."""
    try:
        w.recv(timeout=timeout)
        return True
    except _Timeout:
        return False


def _wait_granted(mu, queue, w, timeout, undo=None):
    """Parks on w (queued in ``queue``); True once granted. On a timeout takes w off
    the queue and returns False, unless it was granted meanwhile (then True). The
    deadline of a ``gmp.timeout`` scope raises Timeout instead of returning False.
    Interrupted (KeyboardInterrupt in a plain thread's wait): w leaves the queue, and
    what was granted meanwhile is given back with ``undo()``."""
    t, scoped = _effective(timeout)
    try:
        if _park(w, t):
            return True
    except BaseException:
        with mu:
            try:
                queue.remove(w)
                granted = False
            except ValueError:
                granted = True
        if granted and undo is not None:
            undo()
        raise
    with mu:
        try:
            queue.remove(w)
        except ValueError:
            granted = True
        else:
            granted = False
    if granted:
        w.try_recv()
        return True
    if scoped:
        _scope_expired()
    return False


class Lock:
    """A lock that parks goroutines: ``acquire(blocking=True, timeout=-1)``,
    ``release()`` (by anyone, as ``threading.Lock``; RuntimeError if unlocked),
    ``locked()``, a context manager. Works from goroutines and plain threads."""

    __slots__ = ("_ch", "__weakref__")

    def __init__(self):
        self._ch = _Chan(1)

    def acquire(self, blocking=True, timeout=-1):
        ch = self._ch
        if ch.try_send(None):
            return True
        if not blocking:
            if timeout != -1:
                raise ValueError("can't specify a timeout for a non-blocking call")
            return False
        if timeout is not None and timeout != -1 and timeout < 0:
            raise ValueError("timeout value must be a non-negative number")
        t, scoped = _effective(None if timeout == -1 else timeout)
        try:
            ch.send(None, timeout=t)
            return True
        except _Timeout:
            if scoped:
                _scope_expired()
            return False

    def release(self):
        if not self._ch.try_recv()[1]:
            raise RuntimeError("release unlocked lock")

    def locked(self):
        return len(self._ch) > 0

    def _at_fork_reinit(self):
        self._ch = _Chan(1)

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return "<gmp Lock %s>" % ("locked" if self.locked() else "unlocked")


class RLock:
    """A reentrant lock whose owner is the calling *goroutine* (a plain thread outside
    goroutines): two goroutines on one home thread exclude each other, unlike
    ``threading.RLock``. Same API as ``threading.RLock``."""

    __slots__ = ("_lock", "_owner", "_count", "__weakref__")

    def __init__(self):
        self._lock = Lock()
        self._owner = None
        self._count = 0

    def acquire(self, blocking=True, timeout=-1):
        me = get_ident()
        if self._owner == me:
            self._count += 1
            return True
        if not self._lock.acquire(blocking, timeout):
            return False
        self._owner = me
        self._count = 1
        return True

    __enter__ = acquire

    def release(self):
        if self._owner != get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if self._count == 0:
            self._owner = None
            self._lock.release()

    def __exit__(self, *exc):
        self.release()

    def locked(self):
        return self._lock.locked()

    # The protocol threading.Condition uses with an RLock.
    def _is_owned(self):
        return self._owner == get_ident()

    def _release_save(self):
        if self._owner != get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        state = (self._count, self._owner)
        self._count = 0
        self._owner = None
        self._lock.release()
        return state

    def _acquire_restore(self, state):
        self._lock.acquire()
        self._count, self._owner = state

    def _at_fork_reinit(self):
        self._lock = Lock()
        self._owner = None
        self._count = 0

    def __repr__(self):
        return "<gmp RLock owner=%r count=%d>" % (self._owner, self._count)


class Condition:
    """A condition variable over a lock (default: a new :class:`RLock`), with
    ``threading.Condition``'s API (``wait(timeout)``, ``wait_for(pred, timeout)``,
    ``notify(n=1)``, ``notify_all()``) and Go's names (``signal``, ``broadcast``).
    The lock may be any object with ``acquire``/``release`` (``gmp.Mutex`` too)."""

    def __init__(self, lock=None):
        if lock is None:
            lock = RLock()
        self._lock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        self._waiters = _deque()
        self._mu = _RealLock()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)

    def _release_save(self):
        f = getattr(self._lock, "_release_save", None)
        if f is not None:
            return f()
        self._lock.release()
        return None

    def _acquire_restore(self, state):
        f = getattr(self._lock, "_acquire_restore", None)
        if f is not None:
            f(state)
        else:
            self._lock.acquire()

    def _is_owned(self):
        f = getattr(self._lock, "_is_owned", None)
        if f is not None:
            return f()
        # As threading.Condition: a lock we can take right now is not held.
        try_lock = getattr(self._lock, "try_lock", None)
        if try_lock is not None:
            if try_lock():
                self._lock.release()
                return False
            return True
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def wait(self, timeout=None):
        """Releases the lock, waits for a notify (or the timeout), takes the lock back:
        True if notified, False on timeout."""
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        w = _Chan(1)
        with self._mu:
            self._waiters.append(w)
        state = self._release_save()
        try:
            return _wait_granted(self._mu, self._waiters, w, timeout)
        finally:
            self._acquire_restore(state)

    def wait_for(self, predicate, timeout=None):
        from ._handles import _monotonic

        end = None
        result = predicate()
        while not result:
            if timeout is not None:
                if end is None:
                    end = _monotonic() + timeout
                left = end - _monotonic()
                if left <= 0:
                    break
                self.wait(left)
            else:
                self.wait()
            result = predicate()
        return result

    def notify(self, n=1):
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        self._wake(n)

    def notify_all(self):
        self.notify(len(self._waiters) or 1)

    notifyAll = notify_all

    def _wake(self, n):
        ws = []
        with self._mu:
            q = self._waiters
            while q and n > 0:
                ws.append(q.popleft())
                n -= 1
        for w in ws:
            w.try_send(True)

    # Go's names (sync.Cond): signal/broadcast do not require holding the lock.
    def signal(self):
        self._wake(1)

    def broadcast(self):
        self._wake(len(self._waiters))

    def __repr__(self):
        return "<gmp Condition(%r, %d waiters)>" % (self._lock, len(self._waiters))


class Cond(Condition):
    """Go's sync.Cond: ``Cond(L)`` over a lock (``gmp.Mutex``, ``gmp.Lock``...);
    ``wait()`` (with L held), ``signal()``, ``broadcast()``. Also has Condition's
    ``notify``/``wait_for`` and accepts ``wait(timeout)``."""

    def __init__(self, lock):
        super().__init__(lock)

    @property
    def L(self):
        return self._lock


class Semaphore:
    """A counting semaphore (``threading.Semaphore``'s API: ``acquire(blocking=True,
    timeout=None)``, ``release(n=1)``, a context manager). Released permits go straight
    to waiters in arrival order."""

    def __init__(self, value=1):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._value = value
        self._waiters = _deque()
        self._mu = _RealLock()

    def acquire(self, blocking=True, timeout=None):
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        with self._mu:
            if self._value > 0 and not self._waiters:
                self._value -= 1
                return True
            if not blocking:
                return False
            w = _Chan(1)
            self._waiters.append(w)
        return _wait_granted(self._mu, self._waiters, w, timeout, self.release)

    __enter__ = acquire

    def release(self, n=1):
        if n < 1:
            raise ValueError("n must be one or more")
        ws = []
        with self._mu:
            self._check_release(n)
            q = self._waiters
            while n and q:
                ws.append(q.popleft())
                n -= 1
            self._value += n
        for w in ws:
            w.try_send(True)

    def _check_release(self, n):
        pass

    def __exit__(self, *exc):
        self.release()

    @property
    def value(self):
        return self._value

    def __repr__(self):
        return "<gmp %s value=%d waiters=%d>" % (
            type(self).__name__, self._value, len(self._waiters))


class BoundedSemaphore(Semaphore):
    """A Semaphore whose ``release`` raises ValueError past the initial value."""

    def __init__(self, value=1):
        super().__init__(value)
        self._initial = value

    def _check_release(self, n):
        # Permits held = initial - value (a permit handed to a waiter stays held).
        if self._value + n > self._initial:
            raise ValueError("Semaphore released too many times")


class Event:
    """``threading.Event``'s API: ``set()``, ``clear()``, ``is_set()``,
    ``wait(timeout=None)`` (True once set, False on timeout)."""

    def __init__(self):
        self._flag = False
        self._waiters = []
        self._mu = _RealLock()

    def is_set(self):
        return self._flag

    isSet = is_set

    def set(self):
        with self._mu:
            self._flag = True
            ws, self._waiters = self._waiters, []
        for w in ws:
            w.close()

    def clear(self):
        with self._mu:
            self._flag = False

    def wait(self, timeout=None):
        if self._flag:
            return True
        with self._mu:
            if self._flag:
                return True
            w = _Chan()
            self._waiters.append(w)
        t, scoped = _effective(timeout)
        try:
            w.recv(timeout=t)
        except _gmp.ChannelClosed:
            return True
        except BaseException as e:
            with self._mu:
                try:
                    self._waiters.remove(w)
                except ValueError:
                    pass
            if not isinstance(e, _Timeout):
                raise
            if self._flag:
                return True
            if scoped:
                _scope_expired()
            return False
        return True  # pragma: no cover

    def __repr__(self):
        return "<gmp Event %s>" % ("set" if self._flag else "unset")


class RWMutex:
    """Go's sync.RWMutex: ``rlock``/``runlock`` for readers (any number at once),
    ``lock``/``unlock`` for one writer. A waiting writer keeps new readers out, so
    writers are not starved. ``rlocker()`` is a context manager for the read side;
    the object itself is one for the write side."""

    def __init__(self):
        self._mu = _RealLock()
        self._readers = 0
        self._writer = False
        self._rq = _deque()  # waiting readers
        self._wq = _deque()  # waiting writers

    def rlock(self):
        with self._mu:
            if not self._writer and not self._wq:
                self._readers += 1
                return
            w = _Chan(1)
            self._rq.append(w)
        _wait_granted(self._mu, self._rq, w, None, self.runlock)

    def try_rlock(self):
        with self._mu:
            if not self._writer and not self._wq:
                self._readers += 1
                return True
            return False

    def runlock(self):
        grant = None
        with self._mu:
            if self._readers <= 0:
                raise RuntimeError("runlock of unlocked RWMutex")
            self._readers -= 1
            if self._readers == 0 and self._wq:
                grant = self._wq.popleft()
                self._writer = True
        if grant is not None:
            grant.try_send(True)

    def lock(self):
        with self._mu:
            if not self._writer and self._readers == 0:
                self._writer = True
                return
            w = _Chan(1)
            self._wq.append(w)
        try:
            _wait_granted(self._mu, self._wq, w, None, self.unlock)
        except BaseException:
            self._writer_left()
            raise

    def _writer_left(self):
        # A waiting writer gave up (a gmp.timeout deadline): readers it kept out may go.
        grants = []
        with self._mu:
            if not self._writer and not self._wq and self._rq:
                grants = list(self._rq)
                self._rq.clear()
                self._readers += len(grants)
        for w in grants:
            w.try_send(True)

    def try_lock(self):
        with self._mu:
            if not self._writer and self._readers == 0:
                self._writer = True
                return True
            return False

    def unlock(self):
        grants = []
        with self._mu:
            if not self._writer:
                raise RuntimeError("unlock of unlocked RWMutex")
            self._writer = False
            if self._rq:
                grants = list(self._rq)
                self._rq.clear()
                self._readers += len(grants)
            elif self._wq:
                grants = [self._wq.popleft()]
                self._writer = True
        for w in grants:
            w.try_send(True)

    def __enter__(self):
        self.lock()
        return self

    def __exit__(self, *exc):
        self.unlock()

    def rlocker(self):
        """A context manager taking the read side."""
        return _RLocker(self)

    def __repr__(self):
        return "<gmp RWMutex readers=%d writer=%s>" % (self._readers, self._writer)


class _RLocker:
    __slots__ = ("_rw",)

    def __init__(self, rw):
        self._rw = rw

    def __enter__(self):
        self._rw.rlock()
        return self._rw

    def __exit__(self, *exc):
        self._rw.runlock()

    # sync.Locker shape
    def lock(self):
        self._rw.rlock()

    def unlock(self):
        self._rw.runlock()

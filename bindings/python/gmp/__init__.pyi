"""Type stubs for gmp: goroutines, channels, select, sync, sleep and sockets for
CPython 3.11, 3.12 and 3.13 on the libgmp runtime."""

import socket as _socket
import types
from typing import Any, Callable, Generic, Iterator, Optional, ParamSpec, Tuple, TypeVar, Union, final

from typing_extensions import disjoint_base


_T = TypeVar("_T")
_R = TypeVar("_R")
_P = ParamSpec("_P")

__version__: str

__all__ = [
    "BoundedSemaphore",
    "Chan",
    "ChannelClosed",
    "Cond",
    "Condition",
    "Deadlock",
    "Event",
    "Goroutine",
    "Group",
    "Lock",
    "Mutex",
    "Once",
    "PatchWarning",
    "RLock",
    "RWMutex",
    "SelectCase",
    "Semaphore",
    "Ticker",
    "Timeout",
    "WaitGroup",
    "after",
    "blocking",
    "configure",
    "current",
    "dump_goroutines",
    "excepthook",
    "go",
    "goroutines",
    "gosched",
    "library_path",
    "lib_version",
    "maxprocs",
    "num_goroutine",
    "patch",
    "patched",
    "print_goroutines",
    "remaining",
    "run",
    "select",
    "self_id",
    "set_name",
    "sleep",
    "socket",
    "stats",
    "ticker",
    "timeout",
]

class ChannelClosed(Exception):
    """A receive on a closed and drained channel, a send on a closed channel, or
    close() of a closed channel."""

class Timeout(TimeoutError):
    """A timeout given to a blocking call passed."""

class Deadlock(RuntimeError):
    """Raised by gmp.run when every goroutine is asleep for good (Go's "all goroutines
    are asleep - deadlock!"); the message holds the goroutine dump."""

def go(func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> Goroutine[_R]:
    """Runs func(*args, **kwargs) as a new goroutine; returns its handle. An exception
    escaping it goes to gmp.excepthook (the other goroutines go on) and is kept for
    Goroutine.result()."""

def run(main: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Runs main(*args, **kwargs) as a goroutine and waits for it (interruptibly, GIL
    released); returns its result or raises its exception. From a goroutine: calls main.
    Deadlock when every goroutine is asleep for good (main then stays parked)."""

def sleep(seconds: float) -> None:
    """Parks the calling goroutine (or waits on a plain thread) for `seconds`; 0 yields.
    ValueError if negative."""

def gosched() -> None:
    """Yields to the other ready goroutines."""

def self_id() -> int:
    """The calling goroutine's id; 0 outside goroutines."""

def num_goroutine() -> int:
    """Goroutines alive in the runtime (Python and C ones)."""

def maxprocs(n: Optional[int] = None) -> int:
    """GOMAXPROCS: with n, sets it and returns the previous value; without, queries."""

def configure(
    python_threads: Optional[int] = None,
    maxprocs: Optional[int] = None,
    blocking_threads: Optional[int] = None,
) -> None:
    """Before the first goroutine: the number of home threads that run Python goroutines
    (default 1; new goroutines, wherever spawned, go to them in turn), and the runtime's
    P count. At any time: the most worker threads gmp.blocking uses (default
    min(32, cpus + 4); idle ones end after 2 s)."""

def set_name(name: str) -> None:
    """Names the calling goroutine (shown in dumps). RuntimeError outside goroutines."""

def library_path() -> str:
    """The shared object whose gmp_* symbols are this process's runtime: load it with
    ctypes.CDLL or link C code against it to drive the same runtime."""

def lib_version() -> str: ...
def stats() -> dict[str, int]:
    """Scheduler statistics (gmp_read_stats)."""

def dump_goroutines(fd: int = 2) -> None:
    """Writes the runtime's goroutine dump (id, name, state, wait reason) to fd."""

def goroutines() -> list[Tuple[int, list[Tuple[str, int, str]]]]:
    """The live Python goroutines as (id, frames), frames innermost last as
    (filename, line, function)."""

def print_goroutines(file: Any = ...) -> None:
    """Prints every live Python goroutine's stack (parked ones included)."""

excepthook: Callable[[BaseException], Any]
"""Called with each exception escaping a goroutine started by go() (SystemExit is
ignored). The default prints the traceback to stderr like threading.excepthook."""

@final
class SelectCase:
    @property
    def chan(self) -> Optional[Chan[Any]]: ...
    @property
    def is_send(self) -> bool: ...

@disjoint_base
class Chan(Generic[_T]):
    """A Go channel carrying any Python object (a reference is owned while in flight),
    or int64 values with raw=True (the form C goroutines can share through `handle`)."""

    def __new__(cls, capacity: int = 0, *, raw: bool = False) -> Chan[_T]: ...
    @classmethod
    def from_handle(cls, handle: int, *, raw: bool = True) -> Chan[Any]:
        """Another Chan for the live raw channel whose ``handle`` this is (takes a
        reference); ValueError for anything else."""
    def __class_getitem__(cls, item: Any) -> types.GenericAlias: ...
    def send(self, v: _T, timeout: Optional[float] = None) -> None:
        """Blocks until received or buffered. ChannelClosed if closed; Timeout."""
    def recv(self, timeout: Optional[float] = None) -> _T:
        """ChannelClosed once closed and drained; Timeout."""
    def try_send(self, v: _T) -> bool: ...
    def try_recv(self) -> Tuple[Optional[_T], bool]:
        """(value, True), or (None, False) if nothing is ready; ChannelClosed once
        closed and drained."""
    def close(self) -> None: ...
    def len(self) -> int: ...
    def cap(self) -> int: ...
    def __len__(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def raw(self) -> bool: ...
    @property
    def handle(self) -> int:
        """The gmp_chan* as an int, valid while this object lives."""
    def send_case(self, v: _T) -> SelectCase: ...
    def recv_case(self) -> SelectCase: ...
    def __iter__(self) -> Iterator[_T]: ...
    def __next__(self) -> _T: ...

@final
class Ticker(Chan[int]):
    def stop(self) -> None: ...

def select(
    *cases: Optional[SelectCase], timeout: Optional[float] = None, default: bool = False
) -> Tuple[Optional[int], Any, bool]:
    """Waits for one case: (index, value, ok). ok is False for a receive on a closed
    channel; (None, None, False) when the timeout passes or, with default=True, nothing
    is ready. A None case never fires."""

def after(seconds: float) -> Chan[int]:
    """A raw channel that receives one gmp_now() value after `seconds`."""

def ticker(seconds: float) -> Ticker:
    """A raw channel receiving a gmp_now() value every `seconds` (buffer 1); stop()."""

@final
class WaitGroup:
    def __init__(self) -> None: ...
    def add(self, delta: int = 1) -> None: ...
    def done(self) -> None: ...
    def wait(self) -> None: ...

@final
class Mutex:
    def __init__(self) -> None: ...
    def lock(self) -> None: ...
    def unlock(self) -> None: ...
    def try_lock(self) -> bool: ...
    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def __enter__(self) -> None: ...
    def __exit__(self, *args: Any) -> bool: ...

class Once:
    def __init__(self) -> None: ...
    def do(self, fn: Callable[_P, Any], /, *args: _P.args, **kwargs: _P.kwargs) -> None: ...
    @property
    def done(self) -> bool: ...

def blocking(func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Runs func on a worker thread while only the calling goroutine parks (for calls
    that block in C with the GIL released); returns its result or raises its exception.
    The workers are a bounded pool (gmp.configure(blocking_threads=N)); calls beyond it
    wait their turn."""

class socket:
    """Wraps a socket.socket so accept/recv/recv_into/send/sendall/connect park only the
    calling goroutine. Other attributes are the wrapped socket's. Given an ssl.SSLSocket,
    its handshake, reads and writes park too (ssl cannot wrap a gmp.socket: TypeError)."""

    def __init__(
        self,
        sock: Optional[Union[_socket.socket, "socket"]] = None,
        family: int = ...,
        type: int = ...,
        proto: int = 0,
    ) -> None: ...
    def accept(self) -> Tuple["socket", Any]: ...
    def recv(self, bufsize: int, flags: int = 0) -> bytes: ...
    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int: ...
    def send(self, data: Any, flags: int = 0) -> int: ...
    def sendall(self, data: Any, flags: int = 0) -> None: ...
    def recvfrom(self, bufsize: int, flags: int = 0) -> Tuple[bytes, Any]: ...
    def sendto(self, data: Any, *args: Any) -> int: ...
    def connect(self, address: Any) -> None: ...
    def connect_ex(self, address: Any) -> int: ...
    def do_handshake(self) -> None:
        """The TLS handshake of a wrapped ssl.SSLSocket, parking; TypeError otherwise."""
    def getsockopt(self, *args: Any) -> Any: ...
    def settimeout(self, timeout: Optional[float]) -> None: ...
    def gettimeout(self) -> Optional[float]: ...
    def setblocking(self, flag: bool) -> None: ...
    def fileno(self) -> int: ...
    def detach(self) -> int: ...
    def close(self) -> None: ...
    def makefile(
        self,
        mode: str = "r",
        buffering: Optional[int] = None,
        *,
        encoding: Optional[str] = None,
        errors: Optional[str] = None,
        newline: Optional[str] = None,
    ) -> Any:
        """A file object over the socket whose reads and writes park the goroutine."""
    @property
    def sock(self) -> _socket.socket: ...
    def __getattr__(self, name: str) -> Any: ...
    def __enter__(self) -> "socket": ...
    def __exit__(self, *exc: Any) -> None: ...

# -- goroutine handles, groups, deadline scopes (gmp/_handles.py) --------------------

class Goroutine(Generic[_R]):
    """The handle gmp.go() returns."""

    name: str
    def __init__(
        self, fn: Callable[..., _R], args: Tuple[Any, ...], kwargs: dict[str, Any], group: Any = None
    ) -> None: ...
    @property
    def id(self) -> Optional[int]:
        """The runtime's goroutine id; None until the goroutine starts."""
    def done(self) -> bool: ...
    def is_alive(self) -> bool: ...
    def join(self, timeout: Optional[float] = None) -> bool:
        """Waits for the end: True, or False if timeout passed first."""
    def result(self, timeout: Optional[float] = None) -> _R:
        """Waits; returns the goroutine's return value or re-raises its exception.
        Timeout if timeout passes first."""
    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]: ...

def current() -> Optional[Goroutine[Any]]:
    """The calling goroutine's handle (None on a plain thread)."""

class Group:
    """Go's errgroup: go() members, wait() for all; the first exception cancels the
    group (cancelled, done closed) and is raised by wait()."""

    errors: list[BaseException]
    goroutines: list[Goroutine[Any]]
    def __init__(self, limit: Optional[int] = None) -> None: ...
    def go(self, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> Goroutine[_R]: ...
    def wait(self, timeout: Optional[float] = None) -> None: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...
    @property
    def done(self) -> Chan[Any]:
        """Closed when the group is cancelled."""
    def __enter__(self) -> Group: ...
    def __exit__(self, et: Any, ev: Any, tb: Any) -> bool: ...

class timeout:
    """with gmp.timeout(seconds): gmp waits inside the block raise Timeout once the
    deadline passes (scopes nest; the earliest wins)."""

    expired: bool
    def __init__(self, seconds: Optional[float]) -> None: ...
    def __enter__(self) -> timeout: ...
    def __exit__(self, et: Any, ev: Any, tb: Any) -> bool: ...
    @property
    def when(self) -> Optional[float]: ...
    def remaining(self) -> Optional[float]: ...

def remaining() -> Optional[float]:
    """Seconds left in the innermost timeout scope (None outside any)."""

# -- sync types beyond Mutex/WaitGroup (gmp/_sync.py) --------------------------------

class Lock:
    def __init__(self) -> None: ...
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...
    def release(self) -> None: ...
    def locked(self) -> bool: ...
    def __enter__(self, blocking: bool = True, timeout: float = -1) -> bool: ...
    def __exit__(self, *exc: Any) -> None: ...

class RLock:
    """Reentrant; owned by the calling goroutine (or plain thread)."""

    def __init__(self) -> None: ...
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...
    def release(self) -> None: ...
    def locked(self) -> bool: ...
    def __enter__(self, blocking: bool = True, timeout: float = -1) -> bool: ...
    def __exit__(self, *exc: Any) -> None: ...

class Condition:
    acquire: Callable[..., Any]
    release: Callable[..., Any]
    def __init__(self, lock: Any = None) -> None: ...
    def wait(self, timeout: Optional[float] = None) -> bool: ...
    def wait_for(self, predicate: Callable[[], _T], timeout: Optional[float] = None) -> _T: ...
    def notify(self, n: int = 1) -> None: ...
    def notify_all(self) -> None: ...
    def notifyAll(self) -> None: ...
    def signal(self) -> None: ...
    def broadcast(self) -> None: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> Any: ...

class Cond(Condition):
    """Go's sync.Cond over a lock L (gmp.Mutex, gmp.Lock, ...)."""

    def __init__(self, lock: Any) -> None: ...
    @property
    def L(self) -> Any: ...

class Semaphore:
    def __init__(self, value: int = 1) -> None: ...
    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool: ...
    def release(self, n: int = 1) -> None: ...
    @property
    def value(self) -> int: ...
    def __enter__(self, blocking: bool = True, timeout: Optional[float] = None) -> bool: ...
    def __exit__(self, *exc: Any) -> None: ...

class BoundedSemaphore(Semaphore):
    """release() past the initial value raises ValueError."""

class Event:
    def __init__(self) -> None: ...
    def is_set(self) -> bool: ...
    def isSet(self) -> bool: ...
    def set(self) -> None: ...
    def clear(self) -> None: ...
    def wait(self, timeout: Optional[float] = None) -> bool: ...

class _RLocker:
    def __enter__(self) -> RWMutex: ...
    def __exit__(self, *exc: Any) -> None: ...
    def lock(self) -> None: ...
    def unlock(self) -> None: ...

class RWMutex:
    """Go's sync.RWMutex (a waiting writer keeps new readers out)."""

    def __init__(self) -> None: ...
    def rlock(self) -> None: ...
    def runlock(self) -> None: ...
    def try_rlock(self) -> bool: ...
    def lock(self) -> None: ...
    def unlock(self) -> None: ...
    def try_lock(self) -> bool: ...
    def rlocker(self) -> _RLocker: ...
    def __enter__(self) -> RWMutex: ...
    def __exit__(self, *exc: Any) -> None: ...

# -- gmp.patch (gmp/patch.py) ----------------------------------------------------------

class PatchWarning(RuntimeWarning):
    """gmp.patch() called twice, or after modules it patches were already imported."""

def patch(
    *,
    socket: bool = True,
    ssl: bool = True,
    select: bool = True,
    time: bool = True,
    thread: bool = True,
    queue: bool = True,
    subprocess: bool = True,
    os: bool = True,
) -> dict[str, bool]:
    """Makes the blocking parts of the standard library park goroutines (opt-in, like
    gevent.monkey.patch_all): call once, before importing the libraries to run."""

def patched() -> dict[str, bool]:
    """Which modules gmp.patch() has patched."""

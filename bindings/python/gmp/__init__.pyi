"""Type stubs for gmp: goroutines, channels, select, sync, sleep and sockets for
CPython 3.11 on the libgmp runtime."""

import socket as _socket
import types
from typing import Any, Callable, Generic, Iterator, Optional, ParamSpec, Tuple, TypeVar, Union


_T = TypeVar("_T")
_R = TypeVar("_R")
_P = ParamSpec("_P")

__version__: str

POLLIN: int
POLLOUT: int

class ChannelClosed(Exception):
    """A receive on a closed and drained channel, a send on a closed channel, or
    close() of a closed channel."""

class Timeout(TimeoutError):
    """A timeout given to a blocking call passed."""

def go(func: Callable[_P, Any], /, *args: _P.args, **kwargs: _P.kwargs) -> None:
    """Runs func(*args, **kwargs) as a new goroutine. An exception escaping it goes to
    gmp.excepthook; the other goroutines go on."""

def run(main: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Runs main(*args, **kwargs) as a goroutine and waits for it (interruptibly, GIL
    released); returns its result or raises its exception. From a goroutine: calls main."""

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

def configure(python_threads: Optional[int] = None, maxprocs: Optional[int] = None) -> None:
    """Before the first goroutine: the number of home threads that run Python goroutines
    (default 1), and the runtime's P count."""

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

class SelectCase:
    @property
    def chan(self) -> Optional[Chan[Any]]: ...
    @property
    def is_send(self) -> bool: ...

class Chan(Generic[_T]):
    """A Go channel carrying any Python object (a reference is owned while in flight),
    or int64 values with raw=True (the form C goroutines can share through `handle`)."""

    def __init__(self, capacity: int = 0, *, raw: bool = False) -> None: ...
    @classmethod
    def from_handle(cls, handle: int, *, raw: bool = True) -> Chan[Any]:
        """Wraps a gmp_chan* with 8-byte elements made elsewhere (takes a reference)."""
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

class WaitGroup:
    def __init__(self) -> None: ...
    def add(self, delta: int = 1) -> None: ...
    def done(self) -> None: ...
    def wait(self) -> None: ...

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
    """Runs func on a runtime thread while only the calling goroutine parks (for calls
    that block in C with the GIL released); returns its result or raises its exception."""

class socket:
    """Wraps a socket.socket so accept/recv/recv_into/send/sendall/connect park only the
    calling goroutine. Other attributes are the wrapped socket's."""

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
    def settimeout(self, timeout: Optional[float]) -> None: ...
    def gettimeout(self) -> Optional[float]: ...
    def setblocking(self, flag: bool) -> None: ...
    def fileno(self) -> int: ...
    def detach(self) -> int: ...
    def close(self) -> None: ...
    @property
    def sock(self) -> _socket.socket: ...
    def __getattr__(self, name: str) -> Any: ...
    def __enter__(self) -> "socket": ...
    def __exit__(self, *exc: Any) -> None: ...

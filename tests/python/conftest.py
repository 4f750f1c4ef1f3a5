"""Shared helpers for the gmp (Python binding) tests.

Every test runs under a watchdog: a hang dumps all threads' stacks and exits instead of
stalling CI. Tests that exercise process-wide behaviour (signals, interpreter exit,
excepthook output) run a fresh interpreter through `run_python`.
"""

import faulthandler
import os
import signal
import subprocess
import sys
import textwrap

import pytest

WATCHDOG_SECONDS = 120

# A run started in the background by a non-interactive shell (`cmd &`, `nohup cmd &`)
# inherits SIGINT ignored, and so would every interpreter the tests start: CPython then
# keeps SIGINT ignored, a test's os.kill(SIGINT) is discarded, and a wait that expects
# KeyboardInterrupt blocks for good (two such children were found hung). Catching SIGINT
# here instead makes exec give the children the default disposition, so they install
# their KeyboardInterrupt handler as under an interactive shell.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _watchdog():
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def run_python(code, timeout=60, env=None):
    """Runs `code` in a new interpreter; returns the CompletedProcess (text output)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=e,
    )


def gmp_listener():
    """A listening gmp.socket on 127.0.0.1 (a free port, backlog 128): (socket, port)."""
    import socket

    import gmp

    ls = gmp.socket(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(128)
    return ls, ls.getsockname()[1]

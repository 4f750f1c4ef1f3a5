"""Shared helpers for the gmp (Python binding) tests.

Every test runs under a watchdog: a hang dumps all threads' stacks and exits instead of
stalling CI. Tests that exercise process-wide behaviour (signals, interpreter exit,
excepthook output) run a fresh interpreter through `run_python`.
"""

import faulthandler
import os
import subprocess
import sys
import textwrap

import pytest

WATCHDOG_SECONDS = 120


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

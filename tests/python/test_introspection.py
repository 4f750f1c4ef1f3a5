"""gmp.goroutines / print_goroutines / dump_goroutines, generic Chan annotations, and the
C stack of a goroutine sized from the recursion limit."""

import io
import os
import sys

import gmp
from conftest import run_python


def test_goroutines_lists_parked_frames():
    def parked_inner(ch):
        ch.recv()

    def parked_outer(ch):
        parked_inner(ch)

    def main():
        ch = gmp.Chan()
        for _ in range(3):
            gmp.go(parked_outer, ch)
        gmp.sleep(0.01)
        gs = gmp.goroutines()
        buf = io.StringIO()
        gmp.print_goroutines(buf)
        ch.close()
        return gs, buf.getvalue()

    gmp.excepthook, saved = (lambda e: None), gmp.excepthook
    try:
        gs, text = gmp.run(main)
    finally:
        gmp.excepthook = saved
    stacks = [[f[2] for f in frames] for _, frames in gs]
    assert stacks.count(["parked_outer", "parked_inner"]) == 3
    me = [s for s in stacks if "main" in s]
    assert me and me[0][-1] == "goroutines"
    assert "in parked_inner" in text


def test_dump_goroutines_writes_runtime_view():
    r, w = os.pipe()
    try:
        gmp.dump_goroutines(w)
        os.close(w)
        data = os.read(r, 1 << 16)
    finally:
        os.close(r)
    assert data  # the runtime's text dump


def test_chan_generic_alias():
    assert str(gmp.Chan[int]) == "gmp.Chan[int]"


def test_deep_c_recursion_at_a_raised_recursion_limit():
    # Each level recurses through C (map). On 3.11 that is about 540 bytes of C stack a
    # level and nothing counts it: the goroutine stack is sized from the recursion limit
    # (2500 levels are far past 1 MiB). On 3.12 and 3.13 CPython counts C levels against a
    # constant (1500 and 10000); a goroutine gets the share its stack holds. Either way
    # a goroutine ends as a thread does (both succeed, or both raise RecursionError),
    # never with a crash.
    r = run_python(
        """
        import sys, threading, gmp
        sys.setrecursionlimit(6000)
        def f(n):
            if n == 0:
                gmp.gosched()
                return 0
            return 1 + next(map(f, [n - 1]))
        def g(n):
            if n == 0:
                return 0
            return 1 + next(map(g, [n - 1]))
        def outcome(fn, n):
            try:
                return str(fn(n))
            except RecursionError:
                return "RecursionError"
        res = []
        t = threading.Thread(target=lambda: res.append(outcome(g, 2500)))
        t.start()
        t.join()
        print(res[0], gmp.run(outcome, f, 2500))
        """
    )
    assert r.returncode == 0, r.stderr[-2000:]
    thread, goroutine = r.stdout.split()
    assert goroutine == thread
    if sys.version_info[:2] != (3, 12):
        assert goroutine == "2500"


def test_raising_the_recursion_limit_inside_a_goroutine_never_overflows_its_stack():
    # The goroutine's stack was sized at spawn for the default limit; the limit is raised
    # inside it and the recursion goes through C, far deeper than that stack holds.
    # RecursionError comes first (3.11: the goroutine's limit is capped at what its stack
    # holds; 3.12+: C levels count against the stack's budget); the process lives on.
    r = run_python(
        """
        import sys, gmp
        def f(n):
            if n == 0:
                return 0
            return 1 + next(map(f, [n - 1]))
        def main():
            sys.setrecursionlimit(200000)
            gmp.gosched()
            try:
                return str(f(100000))
            except RecursionError:
                return "RecursionError"
            finally:
                sys.setrecursionlimit(1000)
        print(gmp.run(main))
        print(gmp.run(f, 400))
        """
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["RecursionError", "400"]


def test_go_validates_at_the_call_and_reports_name_and_spawn_site():
    # gmp.go(42) raises TypeError at the call; an exception escaping a goroutine and
    # print_goroutines name the goroutine and the file:line that spawned it.
    import pytest

    with pytest.raises(TypeError, match="not callable"):
        gmp.go(42)
    with pytest.raises(TypeError, match="not callable"):
        gmp.Group().go("nope")

    r = run_python(
        """
        import io, gmp
        def boom():
            raise ValueError("boom")
        def parked(ch):
            ch.recv()
        def main():
            ch = gmp.Chan()
            gmp.go(boom)                 # line 9
            gmp.go(parked, ch)           # line 10
            gmp.sleep(0.05)
            buf = io.StringIO()
            gmp.print_goroutines(buf)
            print(buf.getvalue())
            ch.close()
        gmp.run(main)
        """
    )
    assert r.returncode == 0, r.stderr
    assert "Exception in goroutine" in r.stderr and "[boom]" in r.stderr, r.stderr
    assert '(created at <string>:9)' in r.stderr, r.stderr
    assert "[parked] (created at <string>:10):" in r.stdout, r.stdout

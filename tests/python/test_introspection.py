"""gmp.goroutines / print_goroutines / dump_goroutines, generic Chan annotations, and the
C stack of a goroutine sized from the recursion limit."""

import io
import os

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
    # Each level recurses through C (map), about 1 KiB of C stack a level on 3.11,
    # far past 1 MiB: the goroutine stack is sized from the recursion limit.
    r = run_python(
        """
        import sys, gmp
        sys.setrecursionlimit(6000)
        def f(n):
            if n == 0:
                gmp.gosched()
                return 0
            return 1 + next(map(f, [n - 1]))
        print(gmp.run(f, 2500))
        """
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "2500"

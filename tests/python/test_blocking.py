"""gmp.blocking: a GIL-releasing call runs on a runtime thread while only the calling
goroutine parks."""

import threading
import time

import pytest

import gmp


def test_blocking_sleep_lets_other_goroutines_run():
    def main():
        ticks = []
        stop = []

        def ticker():
            while not stop:
                ticks.append(1)
                gmp.sleep(0.005)

        gmp.go(ticker)
        t = time.monotonic()
        r = gmp.blocking(time.sleep, 0.2)
        elapsed = time.monotonic() - t
        stop.append(1)
        return r, elapsed, len(ticks)

    r, elapsed, ticks = gmp.run(main)
    assert r is None
    assert elapsed >= 0.19
    assert ticks >= 10


def test_blocking_runs_on_another_thread_and_returns_value():
    def main():
        return threading.get_ident(), gmp.blocking(threading.get_ident)

    home, other = gmp.run(main)
    assert home != other


def test_blocking_many_in_parallel():
    # Four calls are in flight at once: each waits at a barrier for the other three (in
    # sequence, the first would wait alone until the barrier's timeout broke it).
    barrier = threading.Barrier(4)

    def call():
        return barrier.wait(timeout=60)

    def main():
        out = gmp.Chan(4)
        for _ in range(4):
            gmp.go(lambda: out.send(gmp.blocking(call)))
        return sorted(out.recv() for _ in range(4))

    assert gmp.run(main) == [0, 1, 2, 3]


def test_blocking_propagates_exceptions_and_kwargs():
    def f(a, *, b):
        raise ValueError(a + b)

    def main():
        with pytest.raises(ValueError) as ei:
            gmp.blocking(f, 1, b=2)
        return ei.value.args

    assert gmp.run(main) == (3,)


def test_blocking_outside_goroutine_just_calls():
    assert gmp.blocking(lambda x: x * 2, 21) == 42

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
    def main():
        t = time.monotonic()
        wg = gmp.WaitGroup()
        wg.add(8)
        for _ in range(8):
            gmp.go(lambda: (gmp.blocking(time.sleep, 0.2), wg.done()))
        wg.wait()
        return time.monotonic() - t

    assert gmp.run(main) < 1.2  # not 8 x 0.2 in sequence


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

"""gmp.blocking: a GIL-releasing call runs on a pool worker thread while only the calling
goroutine parks."""

import threading
import time

import pytest

import gmp
from conftest import run_python


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


def test_blocking_pool_is_bounded_and_shrinks_when_idle():
    # configure(blocking_threads=2): six slow calls run two at a time on two threads;
    # once idle the workers end (no thread kept for good).
    r = run_python(
        """
        import gmp, threading, time
        gmp.configure(blocking_threads=2)
        lock = threading.Lock()
        running = [0, 0]            # now, most at once
        idents = set()
        def call():
            with lock:
                running[0] += 1
                running[1] = max(running[1], running[0])
                idents.add(threading.get_ident())
            time.sleep(0.05)
            with lock:
                running[0] -= 1
        def main():
            wg = gmp.WaitGroup()
            wg.add(6)
            for _ in range(6):
                gmp.go(lambda: (gmp.blocking(call), wg.done()))
            wg.wait()
        gmp.run(main)
        print(running[1], len(idents), gmp.stats()["blocking_max_threads"])
        while gmp.stats()["blocking_threads"] > 0:   # ends by itself (idle timeout)
            time.sleep(0.1)
        print("shrunk")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2", "2", "2", "shrunk"]


def test_blocking_default_pool_size_is_like_asyncio():
    # min(32, cpus + 4), with cpus as the runtime sees them (affinity, cgroup quota).
    assert 5 <= gmp.stats()["blocking_max_threads"] <= 32

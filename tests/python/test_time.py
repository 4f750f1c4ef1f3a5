"""gmp.sleep, gmp.after, gmp.ticker."""

import time

import pytest

import gmp


def test_sleep_parks_only_the_goroutine():
    # 100 goroutines sleep at once: every one starts before any wakes (a sleep that
    # blocked the home would interleave start, end, start, end).
    order = []

    def main():
        t = time.monotonic()
        wg = gmp.WaitGroup()
        wg.add(100)

        def s():
            order.append("start")
            gmp.sleep(0.3)
            order.append("end")
            wg.done()

        for _ in range(100):
            gmp.go(s)
        wg.wait()
        return time.monotonic() - t

    assert gmp.run(main) > 0.29
    assert order == ["start"] * 100 + ["end"] * 100


def test_sleep_on_main_thread_and_errors():
    t = time.monotonic()
    gmp.sleep(0.03)
    assert time.monotonic() - t >= 0.025
    gmp.sleep(0)
    with pytest.raises(ValueError):
        gmp.sleep(-1)


def test_after_delivers_once():
    t = time.monotonic()
    ch = gmp.after(0.03)
    v = ch.recv(timeout=5)
    assert isinstance(v, int)
    assert time.monotonic() - t >= 0.025
    with pytest.raises(gmp.Timeout):
        ch.recv(timeout=0.05)


def test_ticker_ticks_then_stops():
    def main():
        tk = gmp.ticker(0.01)
        ticks = [tk.recv() for _ in range(3)]
        tk.stop()
        gmp.sleep(0.03)
        tk.try_recv()  # at most one buffered tick
        gmp.sleep(0.03)
        return ticks, tk.try_recv()

    ticks, after_stop = gmp.run(main)
    assert ticks == sorted(ticks) and len(set(ticks)) == 3
    assert after_stop == (None, False)
    t = gmp.ticker(1)
    assert isinstance(t, gmp.Chan)
    t.stop()
    with pytest.raises(ValueError):
        gmp.ticker(0)

"""gmp.go and gmp.run: starting goroutines, results, identity, many at once."""

import threading

import pytest

import gmp


def test_run_returns_result():
    assert gmp.run(lambda: 42) == 42


def test_run_passes_args_and_kwargs():
    def f(a, b, *, c):
        return (a, b, c)

    assert gmp.run(f, 1, 2, c=3) == (1, 2, 3)


def test_run_raises_main_exception():
    def main():
        gmp.sleep(0.001)
        raise KeyError("x")

    with pytest.raises(KeyError):
        gmp.run(main)


def test_go_args_and_kwargs():
    out = gmp.Chan(1)

    def f(a, *, b):
        out.send(a + b)

    gmp.go(f, 1, b=2)
    assert out.recv(timeout=5) == 3


def test_self_id_distinct_and_zero_outside():
    assert gmp.self_id() == 0
    ids = gmp.Chan(10)

    def f():
        ids.send(gmp.self_id())

    for _ in range(10):
        gmp.go(f)
    got = {ids.recv(timeout=5) for _ in range(10)}
    assert len(got) == 10 and 0 not in got


def test_run_inside_goroutine_calls_directly():
    def inner():
        return gmp.self_id()

    def main():
        return (gmp.self_id(), gmp.run(inner))

    a, b = gmp.run(main)
    assert a == b != 0


def test_gosched_interleaves():
    order = []

    def worker(name):
        for i in range(3):
            order.append((name, i))
            gmp.gosched()

    def main():
        wg = gmp.WaitGroup()
        wg.add(2)
        for n in "ab":
            gmp.go(lambda n=n: (worker(n), wg.done()))
        wg.wait()

    gmp.run(main)
    assert sorted(order) == [(n, i) for n in "ab" for i in range(3)]
    # Both made progress before either finished.
    first_done = min(order.index(("a", 2)), order.index(("b", 2)))
    assert {n for n, _ in order[:first_done]} == {"a", "b"}


def test_num_goroutine_counts_parked():
    ch = gmp.Chan()
    base = gmp.num_goroutine()
    for _ in range(50):
        gmp.go(ch.recv)
    gmp.sleep(0.05)
    assert gmp.num_goroutine() >= base + 50
    for _ in range(50):
        ch.send(None)
    gmp.sleep(0.05)


def test_set_name_and_outside_goroutine():
    def main():
        gmp.set_name("worker-x")
        return True

    assert gmp.run(main)
    with pytest.raises(RuntimeError):
        gmp.set_name("main")


def test_ten_thousand_goroutines_parked_at_once():
    n = 10_000

    def main():
        start = gmp.Chan()
        out = gmp.Chan(n)
        wg = gmp.WaitGroup()
        wg.add(n)

        def worker(i):
            try:
                start.recv()  # all parked here at once
            except gmp.ChannelClosed:
                pass
            out.send(i * 2)
            wg.done()

        for i in range(n):
            gmp.go(worker, i)
        gmp.sleep(0.01)
        assert gmp.num_goroutine() >= n
        start.close()
        wg.wait()
        assert out.len() == n
        return sum(out.recv() for _ in range(n))

    assert gmp.run(main) == sum(i * 2 for i in range(n))


def test_go_from_threading_thread():
    out = gmp.Chan(1)

    def t():
        gmp.go(lambda: out.send(gmp.self_id()))

    th = threading.Thread(target=t)
    th.start()
    th.join()
    assert out.recv(timeout=5) != 0


def test_maxprocs_query_and_set():
    n = gmp.maxprocs()
    assert n >= 1
    assert gmp.maxprocs(n) == n
    with pytest.raises(ValueError):
        gmp.maxprocs(0)


def test_configure_after_start_rejects_other_thread_count():
    gmp.run(lambda: None)
    with pytest.raises(RuntimeError):
        gmp.configure(python_threads=7)
    with pytest.raises(ValueError):
        gmp.configure(python_threads=0)


def test_stats_and_version():
    s = gmp.stats()
    assert s["goroutines_created"] > 0
    assert isinstance(gmp.lib_version(), str)

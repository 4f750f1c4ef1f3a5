"""gmp.WaitGroup, gmp.Mutex, gmp.Once, from goroutines and from plain threads."""

import threading

import pytest

import gmp


def test_waitgroup_from_goroutine_and_main_thread():
    wg = gmp.WaitGroup()
    wg.add(20)
    done = []

    def w(i):
        gmp.sleep(0.001 * (i % 5))
        done.append(i)
        wg.done()

    for i in range(20):
        gmp.go(w, i)
    wg.wait()  # main thread: helper goroutine + interruptible wait
    assert sorted(done) == list(range(20))
    wg.wait()  # zero: returns at once

    def main():
        wg2 = gmp.WaitGroup()
        wg2.add(3)
        for _ in range(3):
            gmp.go(wg2.done)
        wg2.wait()
        return True

    assert gmp.run(main)


def test_waitgroup_negative():
    wg = gmp.WaitGroup()
    with pytest.raises(ValueError):
        wg.done()


def test_mutex_serialises_goroutines_across_parks():
    mu = gmp.Mutex()
    state = {"in": 0, "max": 0, "n": 0}

    def w():
        for _ in range(20):
            with mu:
                state["in"] += 1
                state["max"] = max(state["max"], state["in"])
                gmp.gosched()  # park while holding it
                state["n"] += 1
                state["in"] -= 1

    def main():
        wg = gmp.WaitGroup()
        wg.add(5)
        for _ in range(5):
            gmp.go(lambda: (w(), wg.done()))
        wg.wait()

    gmp.run(main)
    assert state == {"in": 0, "max": 1, "n": 100}


def test_mutex_try_lock_unlock_and_main_thread_wait():
    mu = gmp.Mutex()
    assert mu.try_lock()
    assert not mu.try_lock()

    def unlock_later():
        gmp.sleep(0.02)
        mu.unlock()

    gmp.go(unlock_later)
    mu.lock()  # main thread waits for a goroutine to unlock
    mu.unlock()
    with pytest.raises(RuntimeError):
        mu.unlock()
    assert mu.acquire()
    mu.release()


def test_mutex_between_threads_and_goroutines():
    mu = gmp.Mutex()
    count = [0]

    def bump(n):
        for _ in range(n):
            with mu:
                c = count[0]
                gmp.sleep(0) if gmp.self_id() else None
                count[0] = c + 1

    ts = [threading.Thread(target=bump, args=(200,)) for _ in range(2)]
    for t in ts:
        t.start()
    wg = gmp.WaitGroup()
    wg.add(2)
    for _ in range(2):
        gmp.go(lambda: (bump(200), wg.done()))
    for t in ts:
        t.join()
    wg.wait()
    assert count[0] == 800


def test_once():
    once = gmp.Once()
    calls = []

    def init():
        gmp.sleep(0.01)  # others wait for it
        calls.append(1)

    def main():
        wg = gmp.WaitGroup()
        wg.add(10)
        seen = []

        def w():
            once.do(init)
            seen.append(len(calls))
            wg.done()

        for _ in range(10):
            gmp.go(w)
        wg.wait()
        return seen

    assert gmp.run(main) == [1] * 10
    assert once.done


def test_once_raising_counts_as_done():
    once = gmp.Once()
    with pytest.raises(ZeroDivisionError):
        once.do(lambda: 1 / 0)
    once.do(lambda: 1 / 0)  # not called again

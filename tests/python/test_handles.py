"""Goroutine handles (gmp.go's return value), gmp.Group, gmp.timeout scopes, and the
sync types beyond Mutex/WaitGroup: Lock, RLock, Condition/Cond, Event, Semaphore,
BoundedSemaphore, RWMutex (gmp/_handles.py, gmp/_sync.py)."""

import threading
import traceback

import pytest

import gmp


@pytest.fixture
def quiet_hook():
    got = []
    saved = gmp.excepthook
    gmp.excepthook = got.append
    yield got
    gmp.excepthook = saved


# -- handles -----------------------------------------------------------------------


def test_go_returns_a_handle_with_result_name_id():
    def double(x):
        gmp.sleep(0.001)
        return 2 * x

    def main():
        g = gmp.go(double, 21)
        assert isinstance(g, gmp.Goroutine)
        assert g.name == "test_go_returns_a_handle_with_result_name_id.<locals>.double"
        assert not g.done()
        assert g.result() == 42
        assert g.done() and not g.is_alive()
        assert isinstance(g.id, int) and g.id > 0 and g.id != gmp.self_id()
        assert g.join() is True
        return g

    g = gmp.run(main)
    assert g.result() == 42


def test_id_is_none_until_the_goroutine_starts():
    def main():
        g = gmp.go(lambda: None)
        before = g.id  # the new goroutine has not run yet: this one has not parked
        g.join()
        return before, g.id

    before, after = gmp.run(main)
    assert before is None and after > 0


def test_result_reraises_and_go_still_reports_to_excepthook(quiet_hook):
    def fails():
        gmp.sleep(0.001)
        raise KeyError("boom")

    def main():
        g = gmp.go(fails)
        with pytest.raises(KeyError) as ei:
            g.result()
        assert isinstance(g.exception(), KeyError)
        return ei.value

    e = gmp.run(main)
    assert quiet_hook == [e]
    tb = "".join(traceback.format_tb(e.__traceback__))
    assert "in fails" in tb and "_body" not in tb


def test_join_timeout_while_running_then_true():
    def main():
        ch = gmp.Chan()
        g = gmp.go(ch.recv)
        assert g.join(timeout=0.01) is False
        assert not g.done()
        with pytest.raises(gmp.Timeout):
            g.result(timeout=0.0)
        ch.send("v")
        assert g.join() is True
        return g.result()

    assert gmp.run(main) == "v"


def test_join_from_a_plain_thread_and_many_joiners():
    gate = gmp.Chan()
    g = gmp.go(lambda: gate.recv() + 1)
    out = []

    def joiner():
        out.append(g.result())

    ts = [threading.Thread(target=joiner) for _ in range(3)]
    for t in ts:
        t.start()

    def waiters():
        hs = [gmp.go(g.result) for _ in range(5)]
        gate.send(41)
        return [h.result() for h in hs]

    assert gmp.run(waiters) == [42] * 5
    for t in ts:
        t.join()
    assert out == [42] * 3


def test_current_is_the_handle_and_none_outside():
    assert gmp.current() is None

    def main():
        seen = gmp.Chan(1)
        g = gmp.go(lambda: seen.send(gmp.current()))
        return g, seen.recv()

    g, seen = gmp.run(main)
    assert seen is g


def test_a_goroutine_cannot_join_itself():
    def main():
        box = []

        def me():
            gmp.sleep(0.001)
            with pytest.raises(RuntimeError):
                box[0].join()

        box.append(gmp.go(me))
        return box[0].result()

    gmp.run(main)


# -- groups ------------------------------------------------------------------------


def test_group_waits_for_all_and_returns_nothing_on_success():
    def main():
        done = []
        g = gmp.Group()
        for i in range(20):
            g.go(lambda i=i: (gmp.sleep(0.001 * (i % 3)), done.append(i)))
        g.wait()
        return sorted(done)

    assert gmp.run(main) == list(range(20))


def test_group_first_exception_cancels_and_is_raised(quiet_hook):
    def main():
        g = gmp.Group()
        stopped = []

        def worker(n):
            # Runs until the group is cancelled by the failing member.
            idx, _, _ = gmp.select(g.done.recv_case(), gmp.after(30).recv_case())
            stopped.append((n, idx, g.cancelled))

        for n in range(5):
            g.go(worker, n)

        def fails():
            gmp.sleep(0.005)
            raise ValueError("first")

        def fails_later():
            gmp.sleep(0.05)
            raise OSError("second")

        g.go(fails)
        g.go(fails_later)
        with pytest.raises(ValueError, match="first"):
            g.wait()
        return stopped, g.errors

    stopped, errors = gmp.run(main)
    assert sorted(stopped) == [(n, 0, True) for n in range(5)]
    assert [type(e) for e in errors] == [ValueError, OSError]
    assert quiet_hook == []  # group members report to wait(), not to excepthook


def test_group_as_context_manager_and_limit():
    def main():
        running = [0]
        peak = [0]

        def work():
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            gmp.sleep(0.002)
            running[0] -= 1

        with gmp.Group(limit=3) as g:
            for _ in range(12):
                g.go(work)
        assert all(h.done() for h in g.goroutines)
        return peak[0]

    assert gmp.run(main) == 3


def test_group_context_manager_raises_member_exception(quiet_hook):
    def main():
        with pytest.raises(ZeroDivisionError):
            with gmp.Group() as g:
                g.go(lambda: 1 / 0)
        return g.cancelled

    assert gmp.run(main) is True


def test_group_wait_timeout_then_wait():
    def main():
        ch = gmp.Chan()
        g = gmp.Group()
        g.go(ch.recv)
        with pytest.raises(gmp.Timeout):
            g.wait(timeout=0.01)
        ch.send(1)
        g.wait()

    gmp.run(main)


def test_group_from_a_plain_thread():
    g = gmp.Group()
    res = [g.go(lambda i=i: i * i) for i in range(10)]
    g.wait()
    assert [r.result() for r in res] == [i * i for i in range(10)]


# -- timeout scopes ----------------------------------------------------------------


def test_timeout_bounds_sleep_and_marks_expired():
    def main():
        with pytest.raises(gmp.Timeout):
            with gmp.timeout(0.02) as t:
                gmp.sleep(30)
        assert t.expired
        with gmp.timeout(30) as t2:
            gmp.sleep(0.001)
            assert 0 < gmp.remaining() <= 30
        assert not t2.expired
        assert gmp.remaining() is None

    gmp.run(main)


def test_timeout_bounds_joins_events_selects_and_locks():
    def main():
        ch = gmp.Chan()
        g = gmp.go(ch.recv)
        ev = gmp.Event()
        lk = gmp.Lock()
        lk.acquire()
        sem = gmp.Semaphore(0)
        cases = [
            lambda: g.join(),
            lambda: g.result(),
            lambda: ev.wait(),
            lambda: gmp.select(ch.recv_case()),
            lambda: lk.acquire(),
            lambda: sem.acquire(),
        ]
        for c in cases:
            with pytest.raises(gmp.Timeout):
                with gmp.timeout(0.005):
                    c()
        # An explicit shorter timeout still returns False rather than raising.
        with gmp.timeout(30):
            assert ev.wait(0.001) is False
            assert g.join(0.001) is False
        ch.send(None)
        g.join()

    gmp.run(main)


def test_timeout_bounds_the_native_waits():
    # Chan.send/recv, WaitGroup.wait and Mutex.lock are native: a scope reaches them too,
    # and a shorter timeout of their own still gives their own Timeout message.
    def main():
        ch = gmp.Chan()
        wg = gmp.WaitGroup()
        wg.add(1)
        mu = gmp.Mutex()
        mu.lock()
        for c in (ch.recv, lambda: ch.send(1), wg.wait, mu.lock):
            with pytest.raises(gmp.Timeout, match="gmp.timeout"):
                with gmp.timeout(0.005) as t:
                    c()
            assert t.expired
        with gmp.timeout(30):
            with pytest.raises(gmp.Timeout, match="receive timed out"):
                ch.recv(timeout=0.001)
        # Outside any scope they wait as before: here until the value comes.
        gmp.go(ch.send, 7)
        assert ch.recv() == 7
        wg.done()
        wg.wait()
        mu.unlock()

    gmp.run(main)


def test_timeout_scopes_nest_earliest_wins():
    def main():
        with gmp.timeout(30):
            with pytest.raises(gmp.Timeout):
                with gmp.timeout(0.01) as inner:
                    gmp.sleep(30)
            assert inner.expired
            with gmp.timeout(60):
                assert gmp.remaining() <= 30

    gmp.run(main)


def test_timeout_is_per_goroutine():
    def main():
        with gmp.timeout(0.01):
            g = gmp.go(gmp.sleep, 0.05)  # not bounded by the spawner's scope
            with pytest.raises(gmp.Timeout):
                g.join()
        g.join()
        return g.exception()

    assert gmp.run(main) is None


def test_timeout_rejects_bad_values():
    with pytest.raises(ValueError):
        gmp.timeout(-1)
    with pytest.raises(ValueError):
        gmp.timeout(float("nan"))


# -- sync types --------------------------------------------------------------------


def test_lock_held_across_a_park_excludes_other_goroutines():
    def main():
        lk = gmp.Lock()
        log = []

        def crit(n):
            with lk:
                log.append(("in", n))
                gmp.sleep(0.002)  # parks while holding the lock
                log.append(("out", n))

        with gmp.Group() as g:
            for n in range(4):
                g.go(crit, n)
        return log

    log = gmp.run(main)
    for i in range(0, len(log), 2):
        assert log[i][0] == "in" and log[i + 1] == ("out", log[i][1])


def test_lock_api():
    lk = gmp.Lock()
    assert lk.acquire() and lk.locked()
    assert lk.acquire(False) is False
    assert lk.acquire(timeout=0.01) is False
    with pytest.raises(ValueError):
        lk.acquire(False, 1)
    lk.release()
    assert not lk.locked()
    with pytest.raises(RuntimeError):
        lk.release()


def test_lock_handed_between_goroutine_and_thread():
    lk = gmp.Lock()
    lk.acquire()
    got = []

    def thread():
        got.append(lk.acquire(timeout=30))
        lk.release()

    t = threading.Thread(target=thread)
    t.start()

    def main():
        gmp.sleep(0.01)
        lk.release()  # released by another party than the acquirer, as threading.Lock
        gmp.sleep(0.01)
        with lk:
            return "goroutine got it"

    assert gmp.run(main) == "goroutine got it"
    t.join()
    assert got == [True]


def test_rlock_is_owned_per_goroutine():
    def main():
        rl = gmp.RLock()
        log = []

        def user(n):
            with rl:
                with rl:  # reentrant for its owner
                    log.append(("in", n))
                    gmp.sleep(0.002)
                    log.append(("out", n))

        with gmp.Group() as g:
            g.go(user, 1)
            g.go(user, 2)
        return log

    log = gmp.run(main)
    assert log in (
        [("in", 1), ("out", 1), ("in", 2), ("out", 2)],
        [("in", 2), ("out", 2), ("in", 1), ("out", 1)],
    )


def test_rlock_release_by_non_owner_fails():
    def main():
        rl = gmp.RLock()
        rl.acquire()
        g = gmp.go(rl.release)
        with pytest.raises(RuntimeError):
            g.result()
        rl.release()

    saved = gmp.excepthook
    gmp.excepthook = lambda e: None
    try:
        gmp.run(main)
    finally:
        gmp.excepthook = saved


def test_condition_producer_consumer_and_timeout():
    def main():
        cv = gmp.Condition()
        items = []
        got = []

        def consumer():
            for _ in range(10):
                with cv:
                    cv.wait_for(lambda: items)
                    got.append(items.pop(0))

        c = gmp.go(consumer)
        for i in range(10):
            with cv:
                items.append(i)
                cv.notify()
            gmp.sleep(0)
        c.result()
        with cv:
            assert cv.wait(0.005) is False
            assert cv.wait_for(lambda: False, timeout=0.005) is False
        with pytest.raises(RuntimeError):
            cv.wait()
        return got

    assert gmp.run(main) == list(range(10))


def test_cond_over_gmp_mutex_broadcast():
    def main():
        mu = gmp.Mutex()
        cond = gmp.Cond(mu)
        ready = [False]
        woke = []

        def waiter(n):
            with mu:
                while not ready[0]:
                    cond.wait()
                woke.append(n)

        hs = [gmp.go(waiter, n) for n in range(5)]
        gmp.sleep(0.005)
        with mu:
            ready[0] = True
        cond.broadcast()
        for h in hs:
            h.result()
        assert cond.L is mu
        return sorted(woke)

    assert gmp.run(main) == list(range(5))


def test_event_wakes_every_waiter_goroutines_and_threads():
    ev = gmp.Event()
    thread_got = []
    t = threading.Thread(target=lambda: thread_got.append(ev.wait(30)))
    t.start()

    def main():
        hs = [gmp.go(ev.wait) for _ in range(10)]
        assert ev.wait(0.001) is False
        gmp.sleep(0.005)
        ev.set()
        assert ev.is_set()
        r = [h.result() for h in hs]
        ev.clear()
        assert not ev.is_set()
        return r

    assert gmp.run(main) == [True] * 10
    t.join()
    assert thread_got == [True]


def test_semaphore_bounds_concurrency_and_hands_off_in_order():
    def main():
        sem = gmp.Semaphore(2)
        running = [0]
        peak = [0]
        order = []

        def work(n):
            with sem:
                order.append(n)
                running[0] += 1
                peak[0] = max(peak[0], running[0])
                gmp.sleep(0.002)
                running[0] -= 1

        with gmp.Group() as g:
            for n in range(8):
                g.go(work, n)
        assert sem.acquire(False) and sem.acquire(False)
        assert sem.acquire(False) is False
        assert sem.acquire(timeout=0.002) is False
        sem.release(2)
        return peak[0], order

    peak, order = gmp.run(main)
    assert peak == 2
    assert order == list(range(8))


def test_bounded_semaphore_over_release():
    bs = gmp.BoundedSemaphore(2)
    bs.acquire()
    bs.release()
    with pytest.raises(ValueError):
        bs.release()
    with pytest.raises(ValueError):
        gmp.Semaphore(-1)


def test_rwmutex_readers_share_writer_excludes_and_is_not_starved():
    def main():
        rw = gmp.RWMutex()
        log = []
        readers_in = [0]
        peak_readers = [0]

        def reader(n):
            with rw.rlocker():
                readers_in[0] += 1
                peak_readers[0] = max(peak_readers[0], readers_in[0])
                log.append(("r", n))
                gmp.sleep(0.005)
                readers_in[0] -= 1

        def writer():
            with rw:
                assert readers_in[0] == 0
                log.append(("w", 0))
                gmp.sleep(0.002)

        g = gmp.Group()
        for n in range(3):
            g.go(reader, n)
        gmp.sleep(0.001)  # three readers hold it
        g.go(writer)
        gmp.sleep(0.001)  # the writer waits; a new reader must queue behind it
        g.go(reader, 99)
        g.wait()
        assert rw.try_lock() and not rw.try_rlock()
        rw.unlock()
        assert rw.try_rlock() and not rw.try_lock()
        rw.runlock()
        with pytest.raises(RuntimeError):
            rw.unlock()
        with pytest.raises(RuntimeError):
            rw.runlock()
        return log, peak_readers[0]

    log, peak = gmp.run(main)
    assert peak == 3
    assert log.index(("w", 0)) < log.index(("r", 99))
    assert log.index(("w", 0)) == 3

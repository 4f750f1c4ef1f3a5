"""gmp.Chan: unbuffered and buffered hand-off, close, try forms, timeouts, iteration,
reference counts of objects in flight, raw int64 channels and handles."""

import gc
import sys
import threading
import time

import pytest

import gmp


def test_unbuffered_handoff_between_goroutines():
    def main():
        ch = gmp.Chan()
        gmp.go(lambda: [ch.send(i) for i in range(100)])
        return [ch.recv() for _ in range(100)]

    assert gmp.run(main) == list(range(100))


def test_buffered_does_not_block_until_full():
    ch = gmp.Chan(3)
    for i in range(3):
        ch.send(i)
    assert ch.len() == 3 and len(ch) == 3 and ch.cap() == 3 and ch.capacity == 3
    assert not ch.try_send(99)
    assert [ch.recv() for _ in range(3)] == [0, 1, 2]


def test_carries_any_object_including_none():
    ch = gmp.Chan(4)
    objs = [None, {"a": 1}, [1, 2], object()]
    for o in objs:
        ch.send(o)
    for o in objs:
        assert ch.recv() is o


def test_close_drains_then_raises():
    ch = gmp.Chan(2)
    ch.send(1)
    ch.send(2)
    ch.close()
    assert ch.recv() == 1
    assert ch.recv() == 2
    with pytest.raises(gmp.ChannelClosed):
        ch.recv()
    with pytest.raises(gmp.ChannelClosed):
        ch.send(3)
    with pytest.raises(gmp.ChannelClosed):
        ch.close()


def test_close_wakes_parked_receivers():
    def main():
        ch = gmp.Chan()
        res = gmp.Chan(5)

        def r():
            try:
                ch.recv()
            except gmp.ChannelClosed:
                res.send("closed")

        for _ in range(5):
            gmp.go(r)
        gmp.sleep(0.01)
        ch.close()
        return [res.recv(timeout=5) for _ in range(5)]

    assert gmp.run(main) == ["closed"] * 5


def test_try_send_try_recv():
    ch = gmp.Chan(1)
    assert ch.try_recv() == (None, False)
    assert ch.try_send("x")
    assert not ch.try_send("y")
    assert ch.try_recv() == ("x", True)
    ch.close()
    with pytest.raises(gmp.ChannelClosed):
        ch.try_recv()
    with pytest.raises(gmp.ChannelClosed):
        ch.try_send(1)


def test_iteration_until_closed():
    def main():
        ch = gmp.Chan()

        def p():
            for i in range(5):
                ch.send(i)
            ch.close()

        gmp.go(p)
        return list(ch)

    assert gmp.run(main) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("in_goroutine", [False, True])
def test_timeouts(in_goroutine):
    def body():
        ch = gmp.Chan()
        t = time.monotonic()
        with pytest.raises(gmp.Timeout):
            ch.recv(timeout=0.05)
        assert 0.04 < time.monotonic() - t
        with pytest.raises(TimeoutError):  # gmp.Timeout is a TimeoutError
            ch.send(1, timeout=0.01)
        with pytest.raises(ValueError):
            ch.recv(timeout=-1)
        with pytest.raises(ValueError):
            ch.send(1, timeout=-0.5)
        return True

    assert (gmp.run(body) if in_goroutine else body())


def test_recv_zero_timeout_is_a_try():
    ch = gmp.Chan(1)
    with pytest.raises(gmp.Timeout):
        ch.recv(timeout=0)
    ch.send(5)
    assert ch.recv(timeout=0) == 5


def test_main_thread_blocks_while_goroutine_produces():
    ch = gmp.Chan()

    def p():
        gmp.sleep(0.05)
        ch.send("late")

    gmp.go(p)
    assert ch.recv() == "late"


def test_threading_threads_and_goroutines_share_channels():
    ch = gmp.Chan()
    out = []

    def consumer():
        for v in ch:
            out.append(v)

    t = threading.Thread(target=consumer)
    t.start()

    def producer():
        for i in range(200):
            ch.send(i)
        ch.close()

    gmp.go(producer)
    t.join(10)
    assert out == list(range(200))


def test_refcounts_return_to_start():
    obj = object()
    start = sys.getrefcount(obj)

    def main():
        ch = gmp.Chan()
        buf = gmp.Chan(100)
        gmp.go(lambda: [ch.send(obj) for _ in range(1000)])
        for _ in range(1000):
            assert ch.recv() is obj
        for _ in range(100):
            buf.send(obj)
        for _ in range(50):
            buf.recv()
        assert not buf.try_send(obj) or True
        # select send cases that do not fire keep no reference
        full = gmp.Chan(0)
        gmp.select(full.send_case(obj), default=True)
        try:
            gmp.Chan(0).send(obj, timeout=0.001)
        except gmp.Timeout:
            pass
        closed = gmp.Chan(1)
        closed.close()
        with pytest.raises(gmp.ChannelClosed):
            closed.send(obj)
        # 50 still buffered in buf, dropped with it
        del buf

    gmp.run(main)
    gc.collect()
    assert sys.getrefcount(obj) == start


def test_buffered_objects_released_when_channel_goes():
    class Tracked:
        alive = 0

        def __init__(self):
            Tracked.alive += 1

        def __del__(self):
            Tracked.alive -= 1

    ch = gmp.Chan(10)
    for _ in range(10):
        ch.send(Tracked())
    assert Tracked.alive == 10
    del ch
    gc.collect()
    assert Tracked.alive == 0


def test_raw_channel_carries_int64_and_handle_roundtrip():
    ch = gmp.Chan(4, raw=True)
    assert ch.raw
    ch.send(-5)
    ch.send(2**63 - 1)
    assert ch.recv() == -5
    assert ch.recv() == 2**63 - 1
    with pytest.raises(TypeError):
        ch.send("not an int")
    h = ch.handle
    assert isinstance(h, int) and h != 0
    alias = gmp.Chan.from_handle(h)
    alias.send(7)
    assert ch.recv() == 7
    del alias
    ch.send(8)
    assert ch.recv() == 8


def test_from_handle_refuses_what_is_not_a_live_raw_channel():
    # A forged address, an object channel's address, a channel gone, raw=False: all
    # ValueError, never a dereference.
    with pytest.raises(ValueError):
        gmp.Chan.from_handle(0)
    with pytest.raises(ValueError):
        gmp.Chan.from_handle(0x12345678)
    with pytest.raises(ValueError):
        gmp.Chan.from_handle(2**64 - 8)
    ch = gmp.Chan(1, raw=True)
    h = ch.handle
    with pytest.raises(ValueError):
        gmp.Chan.from_handle(h, raw=False)
    alias = gmp.Chan.from_handle(h)
    del ch
    alias.send(3)  # the alias keeps the channel (and its handle) alive
    assert gmp.Chan.from_handle(h).recv() == 3
    del alias
    import gc

    gc.collect()
    with pytest.raises(ValueError):
        gmp.Chan.from_handle(h)


def test_negative_capacity_rejected():
    with pytest.raises(ValueError):
        gmp.Chan(-1)


def test_repr():
    assert "gmp.Chan" in repr(gmp.Chan(2))

"""gmp.select: ready cases, send cases, closed channels, default and timeout."""

import pytest

import gmp


def test_select_picks_ready_recv():
    a, b = gmp.Chan(1), gmp.Chan(1)
    b.send("B")
    assert gmp.select(a.recv_case(), b.recv_case()) == (1, "B", True)


def test_select_send_case():
    a = gmp.Chan(1)
    assert gmp.select(a.send_case("v")) == (0, None, True)
    assert a.recv() == "v"


def test_select_closed_recv_is_not_ok():
    a = gmp.Chan()
    a.close()
    assert gmp.select(a.recv_case()) == (0, None, False)


def test_select_send_on_closed_raises():
    a = gmp.Chan(1)
    a.close()
    with pytest.raises(gmp.ChannelClosed):
        gmp.select(a.send_case(1))


def test_select_default_and_timeout():
    a = gmp.Chan()
    assert gmp.select(a.recv_case(), default=True) == (None, None, False)
    assert gmp.select(a.recv_case(), timeout=0.02) == (None, None, False)
    with pytest.raises(ValueError):
        gmp.select(a.recv_case(), timeout=-1)


def test_select_none_case_never_fires():
    a = gmp.Chan(1)
    a.send(1)
    assert gmp.select(None, a.recv_case()) == (1, 1, True)


def test_select_blocks_in_goroutine_until_ready():
    def main():
        a, b = gmp.Chan(), gmp.Chan()

        def later():
            gmp.sleep(0.02)
            b.send("late")

        gmp.go(later)
        return gmp.select(a.recv_case(), b.recv_case())

    assert gmp.run(main) == (1, "late", True)


def test_select_fair_among_ready():
    a, b = gmp.Chan(1000), gmp.Chan(1000)
    for i in range(1000):
        a.send(i)
        b.send(i)
    hits = [0, 0]
    for _ in range(1000):
        i, _, ok = gmp.select(a.recv_case(), b.recv_case())
        hits[i] += 1
    assert min(hits) > 350


def test_select_with_after_as_timeout():
    def main():
        never = gmp.Chan()
        i, v, ok = gmp.select(never.recv_case(), gmp.after(0.01).recv_case())
        return i, isinstance(v, int), ok

    assert gmp.run(main) == (1, True, True)

"""Per-goroutine interpreter state across parks: frames and tracebacks, the handled
exception, contextvars, generators, recursion depth, tracing."""

import contextvars
import sys
import traceback

import pytest

import gmp


def _spawn_all(fns):
    wg = gmp.WaitGroup()
    wg.add(len(fns))

    def wrap(f):
        try:
            f()
        finally:
            wg.done()

    for f in fns:
        gmp.go(wrap, f)
    wg.wait()


def test_exception_raised_after_park_has_own_traceback():
    def level2(i):
        gmp.sleep(0.001 * (i % 3))
        raise ValueError(i)

    def level1(i):
        gmp.gosched()
        level2(i)

    results = {}

    def worker(i):
        try:
            level1(i)
        except ValueError as e:
            names = [f.name for f in traceback.extract_tb(e.__traceback__)]
            results[i] = (e.args[0], names)

    def main():
        _spawn_all([lambda i=i: worker(i) for i in range(10)])

    gmp.run(main)
    assert len(results) == 10
    for i, (arg, names) in results.items():
        assert arg == i
        assert names == ["worker", "level1", "level2"]


def test_stack_shows_only_the_goroutine_frames():
    def inner():
        gmp.gosched()
        return [f.name for f in traceback.extract_stack()]

    def outer():
        return inner()

    names = gmp.run(outer)
    assert names[-2:] == ["outer", "inner"]
    assert "test_stack_shows_only_the_goroutine_frames" not in names


def test_handled_exception_isolated_across_parks():
    seen = {}

    def worker(i):
        try:
            raise KeyError(i)
        except KeyError:
            for _ in range(5):
                gmp.gosched()
                assert sys.exc_info()[1].args == (i,)
            try:
                raise RuntimeError("inner")
            except RuntimeError:
                gmp.gosched()
                assert sys.exc_info()[0] is RuntimeError
            gmp.gosched()
            seen[i] = sys.exc_info()[1].args[0]
            raise  # bare raise after parks re-raises our own exception

    def guarded(i):
        try:
            worker(i)
        except KeyError as e:
            assert e.args == (i,)
        assert sys.exc_info() == (None, None, None)

    def main():
        assert sys.exc_info() == (None, None, None)
        _spawn_all([lambda i=i: guarded(i) for i in range(8)])

    gmp.run(main)
    assert seen == {i: i for i in range(8)}


def test_exception_chaining_context_not_crossed():
    def a():
        try:
            raise ValueError("a")
        except ValueError:
            gmp.gosched()
            gmp.gosched()

    def b():
        gmp.gosched()
        try:
            raise TypeError("b")
        except TypeError as e:
            return e.__context__

    out = {}

    def main():
        _spawn_all([a, lambda: out.setdefault("ctx", b())])

    gmp.run(main)
    assert out["ctx"] is None


VAR = contextvars.ContextVar("VAR", default="unset")


def test_contextvars_isolated_per_goroutine():
    seen = {}

    def worker(i):
        # Each goroutine starts in a copy of its spawner's context (main's, which is a
        # copy of the main thread's); what it sets stays its own.
        assert VAR.get() == "main-thread"
        VAR.set(i)
        for _ in range(5):
            gmp.gosched()
            assert VAR.get() == i
        ctx = contextvars.copy_context()

        def in_ctx():
            VAR.set(("ctx", i))
            gmp.gosched()
            return VAR.get()

        assert ctx.run(in_ctx) == ("ctx", i)
        assert VAR.get() == i
        seen[i] = VAR.get()

    def main():
        _spawn_all([lambda i=i: worker(i) for i in range(10)])

    VAR.set("main-thread")
    gmp.run(main)
    assert seen == {i: i for i in range(10)}
    assert VAR.get() == "main-thread"


def test_generator_suspended_across_park():
    def gen(ch):
        yield "first"
        v = ch.recv()  # the generator's frame parks with the goroutine
        yield v
        try:
            raise ValueError("in gen")
        except ValueError:
            yield "handling"
            assert sys.exc_info()[0] is ValueError
        yield "end"

    def main():
        ch = gmp.Chan()
        g = gen(ch)
        assert next(g) == "first"
        out = gmp.Chan(10)

        def consume():
            for v in g:
                out.send(v)
                gmp.gosched()
            out.close()

        gmp.go(consume)
        gmp.sleep(0.01)
        ch.send("second")
        return list(out)

    assert gmp.run(main) == ["second", "handling", "end"]


def test_deep_recursion_while_others_run():
    def rec(n):
        if n == 0:
            gmp.gosched()
            return 0
        if n % 100 == 0:
            gmp.gosched()
        return 1 + rec(n - 1)

    ticks = []

    def ticker():
        for i in range(50):
            ticks.append(i)
            gmp.gosched()

    res = {}

    def main():
        limit = sys.getrecursionlimit()
        _spawn_all(
            [
                lambda: res.setdefault("deep", rec(limit - 50)),
                ticker,
                lambda: res.setdefault("deep2", rec(limit // 2)),
            ]
        )

    gmp.run(main)
    assert res["deep"] == sys.getrecursionlimit() - 50
    assert res["deep2"] == sys.getrecursionlimit() // 2
    assert ticks == list(range(50))


def test_recursion_error_stays_in_its_goroutine():
    def boom(n=0):
        if n % 200 == 0:
            gmp.gosched()
        return boom(n + 1)

    out = {}

    def a():
        try:
            boom()
        except RecursionError:
            out["a"] = "RecursionError"

    def b():
        depth = 0

        def f(n):
            gmp.gosched()
            return n if n == 0 else f(n - 1)

        out["b"] = f(100)

    gmp.run(lambda: _spawn_all([a, b]))
    assert out == {"a": "RecursionError", "b": 0}


def test_settrace_survives_switches():
    calls = []

    def tracer(frame, event, arg):
        if event == "call":
            calls.append(frame.f_code.co_name)
        return None

    def traced_fn():
        gmp.gosched()
        return 1

    def main():
        sys.settrace(tracer)
        try:
            _spawn_all([traced_fn, traced_fn])
            traced_fn()
        finally:
            sys.settrace(None)

    gmp.run(main)
    assert "traced_fn" in calls


def test_many_exceptions_do_not_leak_frames_between_goroutines():
    def main():
        errs = gmp.Chan(100)

        def w(i):
            try:
                gmp.gosched()
                {}[i]
            except KeyError as e:
                gmp.gosched()
                errs.send(e.args[0])

        for i in range(100):
            gmp.go(w, i)
        return sorted(errs.recv() for _ in range(100))

    assert gmp.run(main) == list(range(100))


def test_c_recursion_counter_is_per_goroutine():
    # Two goroutines recurse through C (map: 3.12 and 3.13 count these levels in
    # c_recursion_remaining). B waits at the top while A goes deep and parks at the
    # bottom; then B goes as deep. Each depth fits a goroutine's budget, both together
    # would not: with a shared counter B raises RecursionError.
    def rec(n, ch_in, ch_out):
        if n == 0:
            ch_out.send(1)
            ch_in.recv()
            return 0
        return 1 + next(map(lambda k: rec(k, ch_in, ch_out), [n - 1]))

    depth = 300

    def main():
        out = []
        for _round in range(2):
            a_in, b_in, at_bottom = gmp.Chan(), gmp.Chan(), gmp.Chan(2)
            wg = gmp.WaitGroup()
            wg.add(2)

            def one(ch_in):
                try:
                    at_bottom.send(0)  # started (both run before either goes deep)
                    ch_in.recv()  # the go-ahead
                    out.append(rec(depth, ch_in, at_bottom))
                except RecursionError:
                    out.append("RecursionError")
                    at_bottom.try_send(1)
                finally:
                    wg.done()

            gmp.go(one, a_in)
            gmp.go(one, b_in)
            at_bottom.recv()
            at_bottom.recv()
            a_in.send(None)
            at_bottom.recv()  # A is parked at the bottom
            b_in.send(None)
            at_bottom.recv()  # and B too (or failed)
            a_in.send(None)
            b_in.try_send(None)
            wg.wait()
        return out

    assert gmp.run(main) == [depth] * 4


def test_trashcan_while_goroutines_park_inside_del():
    # Freeing a deeply nested structure goes through CPython's trashcan (3.11/3.12: a
    # nesting counter; 3.13: c_recursion_remaining and a pending delete_later list). An
    # object at the bottom parks in __del__, in the middle of that deallocation, while
    # other goroutines free their own nested chains: every object is freed exactly once.
    freed = []

    class Leaf:
        def __init__(self, tag):
            self.tag = tag

        def __del__(self):
            gmp.gosched()
            freed.append(self.tag)

    def build(tag, depth=20000):
        x = [Leaf(tag)]
        for _ in range(depth):
            x = [x, Leaf(tag)]
        return x

    def worker(tag):
        x = build(tag)
        gmp.gosched()
        del x
        gmp.gosched()

    def main():
        _spawn_all([lambda t=t: worker(t) for t in range(4)])

    gmp.run(main)
    import gc

    gc.collect()
    assert sorted(freed) == sorted(t for t in range(4) for _ in range(20001))


def test_frame_chain_of_a_goroutine_across_parks():
    # sys._getframe's f_back chain and the frames' lines, taken after parks, name only
    # this goroutine's functions (the frame chain is swapped with the goroutine).
    def inner(tag):
        gmp.gosched()
        f = sys._getframe()
        names = []
        while f is not None:
            names.append(f.f_code.co_name)
            f = f.f_back
        gmp.gosched()
        return tag, names

    def outer_a():
        return inner("a")

    def outer_b():
        return inner("b")

    res = {}

    def main():
        _spawn_all(
            [
                lambda: res.setdefault("a", outer_a()),
                lambda: res.setdefault("b", outer_b()),
            ]
        )

    gmp.run(main)
    assert res["a"][1][:3] == ["inner", "outer_a", "<lambda>"]
    assert res["b"][1][:3] == ["inner", "outer_b", "<lambda>"]
    assert "main" not in res["a"][1] and "main" not in res["b"][1]


def test_goroutine_starts_in_a_copy_of_the_spawner_context():
    # As asyncio.create_task: values set before gmp.go are seen by the new goroutine,
    # and what it sets is not seen by the spawner (nor by its siblings).
    var = contextvars.ContextVar("spawn_ctx", default="unset")
    seen = []

    def child(tag):
        seen.append((tag, var.get()))
        var.set("child-" + tag)
        gmp.gosched()
        seen.append((tag, var.get()))

    def main():
        wg = gmp.WaitGroup()
        wg.add(2)
        var.set("parent-1")
        gmp.go(lambda: (child("a"), wg.done()))
        var.set("parent-2")
        gmp.go(lambda: (child("b"), wg.done()))
        wg.wait()
        return var.get()

    assert gmp.run(main) == "parent-2"
    assert sorted(seen) == [
        ("a", "child-a"),
        ("a", "parent-1"),
        ("b", "child-b"),
        ("b", "parent-2"),
    ]
    assert var.get() == "unset"

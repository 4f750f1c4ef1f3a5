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
        assert VAR.get() == "unset"
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

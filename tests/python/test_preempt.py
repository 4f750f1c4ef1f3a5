"""Preemption of CPU-bound Python code: a goroutine that runs Python code without parking
is asked to yield at its next instruction boundary once it has run for a watchdog tick
(10-20 ms), so the other goroutines of its home thread make progress meanwhile.

Every check is about progress and ordering: a busy loop runs until a ticker goroutine on
the same home has ticked and set a flag; without preemption the ticker could not run
until the loop had ended at its bound, and the loop would never see the flag. Each case
runs in a fresh interpreter with one home thread (the default), so both goroutines share
it whatever other tests configured.
"""

from conftest import run_python

PRELUDE = """
import sys, threading
import gmp

LIMIT = 50_000_000   # a loop bound no machine runs within one preemption tick

def busy_and_ticker(loop, ticker_body=None, ticks=5):
    state = {"stop": False, "ticks": 0, "saw_stop": None}

    def busy():
        state["saw_stop"] = loop(state)

    def ticker():
        for _ in range(ticks):
            gmp.sleep(0.001)
            if ticker_body is not None:
                ticker_body(state)
            state["ticks"] += 1
        state["stop"] = True

    def main():
        b = gmp.go(busy)
        t = gmp.go(ticker)
        b.join()
        t.join()

    gmp.run(main)
    return state
"""


def check(body):
    r = run_python(PRELUDE + body)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_pure_loop_without_calls_is_preempted():
    out = check(
        """
def loop(state):
    n = 0
    while not state["stop"] and n < LIMIT:
        n += 1
    return state["stop"]

st = busy_and_ticker(loop)
print(st["saw_stop"], st["ticks"])
"""
    )
    assert out.split() == ["True", "5"]


def test_loop_with_calls_is_preempted():
    out = check(
        """
def loop(state):
    n = 0
    items = []
    while not state["stop"] and n < LIMIT:
        n = abs(n) + 1
        items.append(n)
        if len(items) > 1000:
            items.clear()
    return state["stop"]

st = busy_and_ticker(loop)
print(st["saw_stop"], st["ticks"])
"""
    )
    assert out.split() == ["True", "5"]


def test_not_preempted_inside_with_lock():
    # Inside `with lock:` the busy goroutine must not be made to yield: the ticker's
    # acquire would block the one home thread, holder included. It is preempted once out.
    for make in ("threading.Lock()", "threading.RLock()", "threading.Condition()"):
        out = check(
            """
lock = %s
events = []

def loop(state):
    with lock:
        n = 0
        while n < 3_000_000:          # well over a preemption tick
            n += 1
        events.append("left")
    n = 0
    while not state["stop"] and n < LIMIT:
        n += 1
    return state["stop"]

def ticker_body(state):
    got = lock.acquire(timeout=5)
    events.append("tick" if got else "stuck")
    if got:
        lock.release()

st = busy_and_ticker(loop, ticker_body, ticks=3)
print(st["saw_stop"], events)
"""
            % make
        )
        assert out.strip() == "True ['left', 'tick', 'tick', 'tick']", (make, out)


def test_a_trace_function_keeps_working_across_preemption():
    out = check(
        """
lines = [0]

def tracer(frame, event, arg):
    if event == "line":
        lines[0] += 1
    return tracer

def loop(state):
    sys.settrace(tracer)
    n = 0
    while not state["stop"] and n < LIMIT:
        n += 1
    still = sys.gettrace() is tracer
    sys.settrace(None)
    return state["stop"] and still

st = busy_and_ticker(loop)
print(st["saw_stop"], st["ticks"], lines[0] > 0)
"""
    )
    assert out.split() == ["True", "5", "True"]

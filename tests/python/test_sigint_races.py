"""Ctrl-C (SIGINT) and the patched waits of the main thread, under stress.

The main thread of a patched interpreter blocks in queue.Queue.get,
threading.Semaphore.acquire and threading.Event.wait in slices (bindings/python/src/
wait.rs, `sliced`), running PyErr_CheckSignals between them. These tests send SIGINT
at random small delays, 0 included, so it lands before, while and after the wait
begins, and check that every one of them raises KeyboardInterrupt and that the objects
keep working. The subprocess timeouts are only hang guards.

Two children of a CI run were found hung in such a wait: that run had been started in
the background (`nohup ... &`), so SIGINT was inherited ignored, CPython kept it so, and
the test's os.kill(SIGINT) was discarded. conftest.py now gives the children the default
disposition; the last test starts pytest with SIGINT ignored to check that.
"""

import os
import signal
import subprocess
import sys

from servers import run_child

STRESS = """
import gmp
gmp.patch()
import os, queue, random, signal, threading, time

# An ignored SIGINT would make every round below hang: fail at once instead.
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, \\
    "SIGINT disposition %%r (inherited ignored?)" %% (signal.getsignal(signal.SIGINT),)

rng = random.Random(%(seed)d)
ROUNDS = %(rounds)d

def delay():
    k = rng.randrange(4)
    if k == 0:
        return 0.0                          # before (or while) the wait begins
    if k == 1:
        return rng.uniform(0, 0.0005)       # around the first slice's start
    if k == 2:
        return rng.uniform(0, 0.005)
    return rng.uniform(0, 0.06)             # inside a slice, or across a slice boundary

def interrupted(wait):
    # One SIGINT per round, sent by a thread started inside the try: the interrupt may
    # surface anywhere in it (even in start()), never outside.
    d = delay()
    def kill():
        if d:
            time.sleep(d)
        os.kill(os.getpid(), signal.SIGINT)
    k = threading.Thread(target=kill, daemon=True)
    try:
        k.start()
        wait()
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the wait returned without KeyboardInterrupt")
    k.join()

q = queue.Queue()
sem = threading.Semaphore(0)
ev = threading.Event()
for i in range(ROUNDS):
    interrupted(q.get)
    q.put(i)                                # the interrupted getter left the queue
    assert q.get(timeout=30) == i and q.empty()

    interrupted(sem.acquire)
    sem.release()                           # nothing granted to it was lost or leaked
    assert sem.acquire(timeout=30) and not sem.acquire(blocking=False)

    interrupted(ev.wait)
    assert not ev._waiters
print("ok", ROUNDS)
"""


def _stress(seed, rounds, timeout=100):
    r = run_child(STRESS, timeout=timeout, seed=seed, rounds=rounds)
    assert r.returncode == 0, "child failed (%d)\nstdout:\n%s\nstderr:\n%s" % (
        r.returncode, r.stdout, r.stderr)
    assert r.stdout.strip() == "ok %d" % rounds, r.stdout


def test_sigint_at_random_delays_always_interrupts_patched_main_thread_waits():
    _stress(seed=int.from_bytes(os.urandom(4), "little"), rounds=40)


def test_children_get_a_default_sigint_when_the_run_was_started_in_the_background():
    # What `nohup pytest ... &` does to the run: SIGINT ignored from the start. Ignoring
    # it here briefly is what the child inherits (exec keeps an ignored signal ignored).
    here = os.path.dirname(os.path.abspath(__file__))
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        p = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             os.path.join(here, "test_sigint_races.py") + "::test_sigint_few_rounds_fixed_seed"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=os.getcwd())
    finally:
        signal.signal(signal.SIGINT, old)
    try:
        out, _ = p.communicate(timeout=100)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, out
    assert "1 passed" in out, out


def test_sigint_few_rounds_fixed_seed():
    # Also the case the background-run test above runs in a nested pytest, whose
    # timeout it stays below.
    _stress(seed=1, rounds=5, timeout=60)

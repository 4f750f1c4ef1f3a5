"""Process-wide behaviour, each in a fresh interpreter: Ctrl-C in the main thread,
interpreter exit with goroutines parked, excepthook output, several homes, the version
check at import."""

import signal

from conftest import run_python


def test_keyboard_interrupt_in_main_thread_blocked_in_recv():
    r = run_python(
        """
        import gmp, os, signal, threading, time
        ch = gmp.Chan()
        gmp.go(lambda: gmp.sleep(0.05))          # the runtime and a home are running
        def killer():
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=killer).start()
        t = time.monotonic()
        try:
            ch.recv()
        except KeyboardInterrupt:
            print("interrupted after %.2f" % (time.monotonic() - t))
        # and the runtime still works afterwards
        out = gmp.Chan(1)
        gmp.go(lambda: out.send("alive"))
        print(out.recv(timeout=5))
        """
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "interrupted"
    assert 0.25 < float(lines[2])
    assert lines[-1] == "alive"


def test_one_ctrl_c_ends_a_program_stuck_in_a_blocking_call():
    # gmp.blocking(fn) where fn never returns: the first Ctrl-C ends the program (exit
    # does not wait for the call, and prints no "Exception ignored in atexit").
    r = run_python(
        """
        import gmp, os, signal, threading, time
        started = threading.Event()
        def forever():
            started.set()
            time.sleep(1000)
        def killer():
            started.wait()
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGINT)   # once
        threading.Thread(target=killer, daemon=True).start()
        gmp.run(lambda: gmp.blocking(forever))
        """
    )
    assert "KeyboardInterrupt" in r.stderr, r.stderr
    assert "Exception ignored" not in r.stderr, r.stderr
    assert r.returncode != 0


def test_keyboard_interrupt_in_waitgroup_wait_and_run():
    r = run_python(
        """
        import gmp, os, signal, threading, time
        def killer(d):
            time.sleep(d)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=killer, args=(0.2,)).start()
        wg = gmp.WaitGroup(); wg.add(1)
        try:
            wg.wait()
        except KeyboardInterrupt:
            print("wg")
        threading.Thread(target=killer, args=(0.2,)).start()
        try:
            gmp.run(gmp.sleep, 30)
        except KeyboardInterrupt:
            print("run")
        threading.Thread(target=killer, args=(0.2,)).start()
        try:
            gmp.sleep(30)
        except KeyboardInterrupt:
            print("sleep")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["wg", "run", "sleep"]


def test_keyboard_interrupt_in_mutex_lock_leaves_it_unheld():
    r = run_python(
        """
        import gmp, os, signal, threading, time
        mu = gmp.Mutex()
        mu.lock()                                 # held by the main thread
        def other():
            try:
                mu.lock()                         # waits in timed slices
                print("locked")
            except KeyboardInterrupt:
                print("never: signals go to the main thread")
        def killer():
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=killer).start()
        mu2 = gmp.Mutex(); mu2.lock()
        try:
            mu2.lock()                            # the main thread blocks here
        except KeyboardInterrupt:
            print("interrupted")
        # the interrupted lock left nothing held: unlock once and lock again at once
        mu2.unlock()
        print("relock", mu2.try_lock())
        t = threading.Thread(target=other); t.start()
        time.sleep(0.1)
        mu.unlock()                               # the waiting thread gets it
        t.join(5)
        mu.unlock()
        print("free", mu.try_lock())
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["interrupted", "relock", "True", "locked", "free", "True"]


def test_exit_with_goroutines_parked_does_not_hang_or_crash():
    r = run_python(
        """
        import gmp, threading, time
        ch = gmp.Chan()
        for i in range(1000):
            gmp.go(ch.recv)                      # parked forever
        def sleeper():
            while True:
                gmp.sleep(0.001)
        gmp.go(sleeper)                          # runnable at exit
        def yielder():
            while True:
                gmp.gosched()
        gmp.go(yielder)                          # always ready
        gmp.go(gmp.blocking, time.sleep, 0.2)    # a blocking call in flight
        # a daemon thread blocked in a gmp wait at exit
        threading.Thread(target=ch.recv, daemon=True).start()
        time.sleep(0.05)
        print("bye")
        """,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "bye"


def test_exit_with_a_goroutine_that_never_parks():
    # A CPU-bound goroutine (or one stuck in a plain blocking C call) keeps its home
    # busy: exit waits about a second, then the home thread is left parked for good
    # when it next asks for the GIL (no pthread_exit unwind through Rust frames).
    r = run_python(
        """
        import gmp, time
        def spin():
            x = 0
            while True:
                x += 1
        gmp.go(spin)
        gmp.go(time.sleep, 1.3)                  # blocks the home thread in C
        time.sleep(0.05)
        print("bye")
        """,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "bye"


def test_exit_while_main_goroutine_still_running_in_background():
    r = run_python(
        """
        import gmp, time
        buf = gmp.Chan(10)
        for i in range(10):
            buf.send([i])                        # objects still buffered at exit
        gmp.go(lambda: [gmp.sleep(0.01) for _ in range(1000)])
        print("done")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "done"


def test_default_excepthook_prints_traceback_and_others_go_on():
    r = run_python(
        """
        import gmp
        def failing():
            gmp.sleep(0.01)
            raise ValueError("boom from goroutine")
        def main():
            gmp.go(failing)
            out = gmp.Chan(1)
            def ok():
                gmp.sleep(0.05)
                out.send("still running")
            gmp.go(ok)
            return out.recv()
        print(gmp.run(main))
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "still running"
    assert "Exception in goroutine" in r.stderr
    assert "Traceback (most recent call last):" in r.stderr
    assert "in failing" in r.stderr
    assert "ValueError: boom from goroutine" in r.stderr


def test_custom_excepthook_and_system_exit_ignored():
    r = run_python(
        """
        import gmp, sys
        got = gmp.Chan(2)
        gmp.excepthook = lambda exc: got.send(repr(exc))
        gmp.go(lambda: 1 / 0)
        gmp.go(sys.exit, 3)
        gmp.go(lambda: {}["k"])
        print(sorted(got.recv(timeout=5) for _ in range(2)))
        """
    )
    assert r.returncode == 0, r.stderr
    assert "ZeroDivisionError" in r.stdout and "KeyError" in r.stdout
    assert r.stderr == ""


def test_several_python_threads():
    r = run_python(
        """
        import gmp, threading
        gmp.configure(python_threads=3, maxprocs=2)
        idents = gmp.Chan(100)
        def w():
            gmp.sleep(0.001)
            idents.send(threading.get_ident())
        for _ in range(60):
            gmp.go(w)
        print(len({idents.recv() for _ in range(60)}))
        def main():
            # goroutines started from a goroutine are spread over the homes too
            c = gmp.Chan(30)
            for _ in range(30):
                gmp.go(lambda: c.send(threading.get_ident()))
            return len({c.recv() for _ in range(30)})
        print(gmp.run(main))
        print(gmp.maxprocs())
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["3", "3", "2"]


def test_other_python_versions_fail_at_import_with_a_clear_message():
    r = run_python(
        """
        import sys
        for v in [(3, 10, 13, "final", 0), (3, 14, 0, "final", 0)]:
            sys.version_info = v
            try:
                import gmp
            except ImportError as e:
                print("ImportError:", e)
        """
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stdout
    for line, v in zip(lines, ["3.10", "3.14"]):
        assert "supports CPython 3.11, 3.12 and 3.13" in line and v in line


def test_forked_child_fails_cleanly_and_exits_fast():
    r = run_python(
        """
        import gmp, os, time
        gmp.run(lambda: None)
        ch = gmp.Chan(1)
        pid = os.fork()
        if pid == 0:
            calls = [
                lambda: gmp.go(lambda: None),
                lambda: gmp.run(lambda: None),
                lambda: gmp.Chan(1),
                lambda: ch.send(1),
                lambda: ch.try_recv(),
                lambda: gmp.sleep(0.01),
                lambda: gmp.gosched(),
                lambda: gmp.WaitGroup().add(1),
                lambda: gmp.Mutex().lock(),
                lambda: gmp.after(0.01),
                lambda: gmp.blocking(lambda: 1),
                lambda: gmp.socket().recv(1),
            ]
            for i, f in enumerate(calls):
                try:
                    f()
                    print("child: call %d worked?!" % i, flush=True)
                except RuntimeError as e:
                    print("child:", e, flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        t = time.monotonic()
        pid = os.fork()
        if pid == 0:
            import sys
            sys.exit(0)          # runs atexit in the child: must not wait for homes
        _, status = os.waitpid(pid, 0)
        print("child exit status %d" % os.waitstatus_to_exitcode(status))
        print(gmp.run(lambda: "parent ok"))
        """
    )
    assert r.returncode == 0, r.stderr
    child = [l for l in r.stdout.splitlines() if l.startswith("child:")]
    assert len(child) == 12, r.stdout
    # Every call raises the same error, which names the way out.
    assert len(set(child)) == 1, child
    assert "goroutines do not survive fork()" in child[0] and "'spawn'" in child[0]
    assert "child exit status 0" in r.stdout
    assert "parent ok" in r.stdout

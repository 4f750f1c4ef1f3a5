"""gmp.run detects a deadlock as Go's runtime does ("all goroutines are asleep -
deadlock!"): it raises gmp.Deadlock with the goroutine dump instead of hanging, and only
when nothing could ever wake a goroutine again (a timer, a socket, a gmp.blocking call or
another Python thread still can).

Each case runs in a fresh interpreter: a deadlocked main goroutine stays parked for good,
which must not show up in the other tests' goroutine counts.
"""

from conftest import run_python


def test_run_raises_deadlock_with_the_dump():
    r = run_python(
        """
        import gmp

        def main():
            gmp.Chan().recv()          # nobody will ever send

        try:
            gmp.run(main)
        except gmp.Deadlock as e:
            print("DEADLOCK")
            print(e)
        # The process goes on: gmp works after a deadlock.
        print("after", gmp.run(lambda: 7))
        """
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "DEADLOCK" in out
    assert "all goroutines are asleep - deadlock!" in out
    assert "[chan receive]" in out  # the runtime's dump: state and wait reason
    assert "in main" in out  # the Python frames of the parked goroutine
    assert "after 7" in out


def test_deadlock_is_a_runtime_error():
    import gmp

    assert issubclass(gmp.Deadlock, RuntimeError)


def test_lambda_from_the_issue():
    r = run_python(
        """
        import gmp
        try:
            gmp.run(lambda: gmp.Chan().recv())
        except gmp.Deadlock:
            print("DEADLOCK")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "DEADLOCK"


def test_deadlock_among_several_goroutines():
    r = run_python(
        """
        import gmp

        def main():
            a, b = gmp.Chan(), gmp.Chan()
            mu = gmp.Mutex()
            wg = gmp.WaitGroup()
            wg.add(3)

            def left():
                a.recv()
                b.send(1)
                wg.done()

            def right():
                b.recv()
                a.send(1)
                wg.done()

            def locker():
                mu.lock()                # main holds it and never unlocks
                wg.done()

            mu.lock()
            gmp.go(left)
            gmp.go(right)
            gmp.go(locker)
            wg.wait()

        try:
            gmp.run(main)
        except gmp.Deadlock as e:
            print(e)
        """
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "all goroutines are asleep - deadlock!" in out
    assert "4 goroutines" in out
    assert "chan receive" in out and "sync.WaitGroup.Wait" in out
    assert "in left" in out and "in right" in out and "in locker" in out


def test_waits_that_can_still_end_are_not_deadlocks():
    # Each wait lasts well past the quiet time after which a deadlock is called (0.2 s):
    # a pending timer, a socket waiting for another process, a gmp.blocking call and a
    # threading.Thread that will send all keep gmp.run waiting for the real result.
    r = run_python(
        """
        import subprocess, sys, threading, time
        import gmp

        def timer_wakes():
            ch = gmp.Chan()
            def later():
                gmp.sleep(0.5)
                ch.send("timer")
            gmp.go(later)
            return ch.recv()

        def socket_wakes():
            srv = gmp.socket()
            srv.bind(("127.0.0.1", 0))
            srv.listen(1)
            port = srv.getsockname()[1]
            code = ("import socket, time; time.sleep(0.5); "
                    "socket.create_connection(('127.0.0.1', %d)).sendall(b'socket')" % port)
            p = subprocess.Popen([sys.executable, "-c", code])
            conn, _ = srv.accept()
            data = conn.recv(16)
            conn.close()
            srv.close()
            gmp.blocking(p.wait)
            return data.decode()

        def blocking_wakes():
            return gmp.blocking(lambda: (time.sleep(0.5), "blocking")[1])

        def thread_wakes():
            ch = gmp.Chan()
            def feed():
                time.sleep(0.5)
                ch.send("thread")
            t = threading.Thread(target=feed)
            t.start()
            v = ch.recv()
            t.join()
            return v

        for f in (timer_wakes, socket_wakes, blocking_wakes, thread_wakes):
            print(gmp.run(f))
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["timer", "socket", "blocking", "thread"]

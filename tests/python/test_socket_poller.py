"""gmp.socket on a home's own poller (bindings/python/src/net.rs): registrations by fd
number that stay right when a number is closed behind gmp's back and reused, several
goroutines parked on one socket, sockets shared by two homes, and parked socket waits
that are not a deadlock."""

import os
import socket

import gmp

from conftest import gmp_listener as _listener
from conftest import run_python


def _pair(ls, port):
    """A connected (client, server-side) pair of gmp.sockets."""
    c = gmp.socket()
    c.connect(("127.0.0.1", port))
    s, _ = ls.accept()
    return c, s


def test_number_closed_behind_our_back_and_reused_still_wakes():
    # The first socket's fd is registered in the home's epoll set, then closed with
    # close(2) (the plain socket's close, not gmp's), which drops it from the set. A new
    # connection is put on the same number: a goroutine parked on it must be woken.
    def main():
        ls, port = _listener()
        c1, s1 = _pair(ls, port)
        c1.sendall(b"a")
        assert s1.recv(1) == b"a"  # s1's number is now registered
        old = s1.fileno()
        c2, s2 = _pair(ls, port)
        s1._sock.close()  # behind gmp's back
        os.dup2(s2.fileno(), old)
        s2._sock.close()
        reused = gmp.socket(socket.socket(fileno=old))
        got = gmp.Chan(1)
        gmp.go(lambda: got.send(reused.recv(10)))
        gmp.sleep(0.02)  # parked by now
        c2.sendall(b"b")
        out = got.recv(timeout=5)
        for s in (c1, c2, reused, ls):
            s.close()
        return out

    assert gmp.run(main) == b"b"


def test_goroutines_parked_on_one_listener_are_all_served():
    def main():
        ls, port = _listener()
        accepted = gmp.Chan(10)

        def acceptor():
            conn, _ = ls.accept()
            accepted.send(1)
            conn.close()

        for _ in range(5):
            gmp.go(acceptor)
        gmp.sleep(0.02)
        clients = []
        for _ in range(5):
            c = gmp.socket()
            c.connect(("127.0.0.1", port))
            clients.append(c)
        n = sum(accepted.recv(timeout=5) for _ in range(5))
        for c in clients:
            c.close()
        ls.close()
        return n

    assert gmp.run(main) == 5


def test_close_wakes_goroutine_parked_in_recv():
    def main():
        ls, port = _listener()
        c, s = _pair(ls, port)
        res = gmp.Chan(1)

        def reader():
            try:
                s.recv(10)
                res.send("data")
            except OSError as e:
                res.send(e.errno)

        gmp.go(reader)
        gmp.sleep(0.02)
        s.close()
        out = res.recv(timeout=5)
        c.close()
        ls.close()
        return out

    assert gmp.run(main) == 9  # EBADF


def test_parked_on_a_socket_is_not_a_deadlock():
    # Only another process can wake main here: gmp.run must not call it a deadlock
    # (every goroutine parked for longer than the 200 ms quiet time). A fresh
    # interpreter: a wrongly detected deadlock leaves main parked for good.
    r = run_python(
        """
        import socket, subprocess, sys, gmp

        def main():
            ls = gmp.socket(socket.socket())
            ls.bind(("127.0.0.1", 0))
            ls.listen(8)
            code = (
                "import socket, time\\n"
                "s = socket.create_connection(('127.0.0.1', %d))\\n"
                "time.sleep(0.8)\\n"
                "s.sendall(b'late')\\n"
                "s.recv(1)\\n" % ls.getsockname()[1]
            )
            p = subprocess.Popen([sys.executable, "-c", code])
            conn, _ = ls.accept()
            got = conn.recv(10)
            conn.close()
            ls.close()
            p.wait()
            return got

        print(gmp.run(main))
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "b'late'"


def test_sockets_shared_by_two_homes():
    r = run_python(
        """
        import socket, gmp
        gmp.configure(python_threads=2)

        def main():
            ls = gmp.socket(socket.socket())
            ls.bind(("127.0.0.1", 0))
            ls.listen(64)
            port = ls.getsockname()[1]

            def handle(conn):
                while True:
                    data = conn.recv(100)
                    if not data:
                        break
                    conn.sendall(data)
                conn.close()

            def server():
                for _ in range(8):
                    conn, _ = ls.accept()
                    gmp.go(handle, conn)   # the homes in turn

            def client(i):
                c = gmp.socket()
                c.connect(("127.0.0.1", port))
                for j in range(20):
                    msg = b"%d-%d" % (i, j)
                    c.sendall(msg)
                    got = b""
                    while len(got) < len(msg):
                        got += c.recv(len(msg) - len(got))
                    assert got == msg
                c.close()
                return i

            gmp.go(server)
            hs = [gmp.go(client, i) for i in range(8)]
            total = sum(h.result(timeout=30) for h in hs)
            ls.close()
            return total

        print(gmp.run(main))
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "28"

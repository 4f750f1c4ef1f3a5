"""gmp.socket: accept/recv/sendall/connect park only the goroutine (loopback only)."""

import threading
import time

import pytest

import gmp

from conftest import gmp_listener as _listener


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def test_echo_server_and_clients_in_goroutines():
    nclients, rounds = 50, 20

    def main():
        ls, port = _listener()

        def handle(conn):
            with conn:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        return
                    conn.sendall(data)

        def server():
            while True:
                try:
                    conn, _ = ls.accept()
                except OSError:
                    return
                gmp.go(handle, conn)

        gmp.go(server)
        wg = gmp.WaitGroup()
        wg.add(nclients)
        errors = []

        def client(i):
            try:
                with gmp.socket() as c:
                    c.connect(("127.0.0.1", port))
                    for r in range(rounds):
                        msg = b"%d:%d:" % (i, r) + b"x" * (i % 7 * 100)
                        c.sendall(msg)
                        got = _recv_exact(c, len(msg))
                        if got != msg:
                            errors.append((i, r, got))
            except Exception as e:  # noqa: BLE001
                errors.append((i, repr(e)))
            finally:
                wg.done()

        for i in range(nclients):
            gmp.go(client, i)
        wg.wait()
        ls.close()  # wakes the parked accept
        return errors

    assert gmp.run(main) == []


def test_large_transfer_both_ways():
    payload = bytes(range(256)) * 20000  # 5 MB: many partial sends

    def main():
        ls, port = _listener()
        got = gmp.Chan(1)

        def server():
            conn, _ = ls.accept()
            with conn:
                got.send(_recv_exact(conn, len(payload)))
                conn.sendall(payload)

        gmp.go(server)
        c = gmp.socket()
        c.connect(("localhost", port))  # a name: resolved through gmp.blocking
        c.sendall(payload)
        back = _recv_exact(c, len(payload))
        c.close()
        ls.close()
        return got.recv() == payload, back == payload

    assert gmp.run(main) == (True, True)


def test_timeouts_and_close_wakes_parked():
    def main():
        ls, port = _listener()
        ls.settimeout(0.05)
        with pytest.raises(TimeoutError):
            ls.accept()
        ls.settimeout(None)
        res = gmp.Chan(1)

        def acceptor():
            try:
                ls.accept()
                res.send("accepted")
            except OSError as e:
                res.send("woken: %s" % type(e).__name__)

        gmp.go(acceptor)
        gmp.sleep(0.02)
        ls.close()
        return res.recv(timeout=5)

    assert gmp.run(main) == "woken: OSError"


def test_recv_into_send_and_connect_refused():
    def main():
        ls, port = _listener()

        def server():
            conn, _ = ls.accept()
            conn.send(b"hello")
            conn.close()

        gmp.go(server)
        c = gmp.socket()
        c.connect(("127.0.0.1", port))
        buf = bytearray(16)
        n = c.recv_into(buf)
        eof = c.recv(10)
        c.close()
        ls.close()
        dead, dead_port = _listener()
        dead.close()
        try:
            gmp.socket().connect(("127.0.0.1", dead_port))
            refused = False
        except ConnectionRefusedError:
            refused = True
        return bytes(buf[:n]), eof, refused

    assert gmp.run(main) == (b"hello", b"", True)


def test_socket_from_plain_thread_interoperates():
    ls, port = _listener()

    def server():
        conn, _ = ls.accept()
        conn.sendall(conn.recv(100).upper())
        conn.close()

    gmp.go(server)
    out = []

    def thread_client():
        c = gmp.socket()
        c.connect(("127.0.0.1", port))
        c.sendall(b"abc")
        out.append(_recv_exact(c, 3))
        c.close()

    t = threading.Thread(target=thread_client)
    t.start()
    t.join(10)
    ls.close()
    assert out == [b"ABC"]

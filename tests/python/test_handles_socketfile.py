"""gmp.socket.makefile: buffered and text file objects whose reads and writes park the
goroutine (gmp/_sockfile.py), so line protocols and http.client-style code run on
goroutines without gmp.patch()."""

import socket

import pytest

import gmp


def test_makefile_line_protocol_between_goroutines():
    def server(lst, n):
        for _ in range(n):
            c, _ = lst.accept()
            gmp.go(echo_upper, c)

    def echo_upper(c):
        with c:
            f = c.makefile("rwb")
            for line in f:
                f.write(line.upper())
                f.flush()
            f.close()

    def client(port, i):
        s = gmp.socket()
        s.connect(("127.0.0.1", port))
        with s:
            r = s.makefile("r", encoding="utf-8", newline="\n")
            w = s.makefile("w", encoding="utf-8")
            out = []
            for j in range(3):
                w.write("hello %d.%d\n" % (i, j))
                w.flush()
                out.append(r.readline())
            r.close()
            w.close()
            return out

    def main():
        lst = gmp.socket(socket.create_server(("127.0.0.1", 0)))
        port = lst.getsockname()[1]
        gmp.go(server, lst, 5)
        hs = [gmp.go(client, port, i) for i in range(5)]
        res = [h.result() for h in hs]
        lst.close()
        return res

    res = gmp.run(main)
    assert res == [["HELLO %d.%d\n" % (i, j) for j in range(3)] for i in range(5)]


def test_makefile_modes_and_timeouts():
    def main():
        a, b = socket.socketpair()
        ga, gb = gmp.socket(a), gmp.socket(b)
        raw = ga.makefile("rb", buffering=0)
        gb.sendall(b"xyz")
        assert raw.read(3) == b"xyz"
        ga.settimeout(0.01)
        f = ga.makefile("rb")
        with pytest.raises(gmp.Timeout):
            f.read(1)
        with pytest.raises(ValueError):
            ga.makefile("r", buffering=0)
        with pytest.raises(ValueError):
            ga.makefile("x")
        ga.close()
        gb.close()

    gmp.run(main)

"""TLS through gmp.socket: an ssl.SSLSocket given to gmp.socket has its handshake, reads
and writes park the goroutine (never plaintext, never a blocking call that stalls the
home); ssl cannot wrap a gmp.socket (a clear TypeError instead of a blocking SSLSocket).
The certificate in data/ is self-signed for localhost (openssl req -x509, 100 years)."""

import os
import socket
import ssl

import pytest

import gmp

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CERT = os.path.join(DATA, "localhost-cert.pem")
KEY = os.path.join(DATA, "localhost-key.pem")


def _contexts():
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(CERT, KEY)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(CERT)
    return server, client


def _listener(server_ctx):
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    raw.bind(("127.0.0.1", 0))
    raw.listen(16)
    port = raw.getsockname()[1]
    return gmp.socket(server_ctx.wrap_socket(raw, server_side=True)), port


def test_tls_echo_between_goroutines_parks_and_encrypts():
    server_ctx, client_ctx = _contexts()
    ticks = []

    def ticker(stop):
        # Runs while handshakes and reads park: proof that nothing blocks the home.
        while not stop.try_recv()[1]:
            ticks.append(1)
            gmp.sleep(0.001)

    def serve_one(conn):
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data.upper())

    def server(lst, n):
        for _ in range(n):
            conn, _addr = lst.accept()
            gmp.go(serve_one, conn)

    def client(port, i, out):
        raw = socket.socket()
        s = gmp.socket(client_ctx.wrap_socket(raw, server_hostname="localhost"))
        s.connect(("127.0.0.1", port))
        assert s.version() is not None  # a TLS session, not plaintext
        msg = (b"hello %d " % i) * 5000  # several TLS records
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            chunk = s.recv(65536)
            assert chunk
            got += chunk
        out.append(got == msg.upper())
        s.close()

    def main():
        lst, port = _listener(server_ctx)
        stop = gmp.Chan(1)
        gmp.go(ticker, stop)
        gmp.go(server, lst, 4)
        out = []
        wg = gmp.WaitGroup()
        wg.add(4)
        for i in range(4):
            gmp.go(lambda i=i: (client(port, i, out), wg.done()))
        wg.wait()
        stop.send(True)
        lst.close()
        return out

    assert gmp.run(main) == [True] * 4
    assert ticks  # the ticker ran while TLS traffic parked


def test_ssl_cannot_wrap_a_gmp_socket():
    _server_ctx, client_ctx = _contexts()
    s = gmp.socket()
    with pytest.raises(TypeError, match="gmp.socket"):
        client_ctx.wrap_socket(s, server_hostname="localhost")
    # The gmp.socket is left usable.
    assert s.fileno() >= 0
    s.close()


def test_tls_write_puts_a_tls_record_on_the_wire_not_plaintext():
    # The old bug: gmp.socket(SSLSocket).sendall wrote the raw bytes past TLS. Here the
    # peer is a raw socket: what arrives is the ClientHello record (0x16), no plaintext.
    _server_ctx, client_ctx = _contexts()
    a, b = socket.socketpair()

    def main():
        tls = gmp.socket(
            client_ctx.wrap_socket(a, server_hostname="localhost", do_handshake_on_connect=False)
        )
        peer = gmp.socket(b)
        errs = gmp.Chan(1)

        def writer():
            try:
                tls.sendall(b"SECRET-PLAINTEXT")
            except (OSError, ssl.SSLError) as e:
                errs.send(e)

        gmp.go(writer)
        data = peer.recv(65536)
        peer.close()  # the handshake cannot finish: the writer fails, it does not hang
        errs.recv()
        tls.close()
        return data

    data = gmp.run(main)
    assert data[:1] == b"\x16"
    assert b"SECRET" not in data

"""Real servers for the gmp.patch() tests, started on 127.0.0.1 on a free port by the
test itself and stopped at the end: a threaded HTTP(S) server (in the pytest process,
which is never patched), redis-server and PostgreSQL (child processes). A server the
machine lacks is a test FAILURE naming the Debian package that provides it."""

import contextlib
import http.server
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(binary, package, extra_paths=()):
    """The path of `binary`, or a test failure naming the Debian package."""
    p = shutil.which(binary)
    if p is None:
        for d in extra_paths:
            cand = os.path.join(d, binary)
            if os.path.exists(cand):
                return cand
        pytest.fail("%s not found: install the Debian package %r (.ci/run does)"
                    % (binary, package))
    return p


def run_child(code, timeout=110, **fmt):
    """Runs `code` (dedented, then %-formatted with fmt) in a new interpreter; returns
    the CompletedProcess. The child patches itself; this process stays unpatched.
    The timeout stays below conftest's 120 s watchdog: a hung child is then killed by
    subprocess.run and the test fails, instead of the watchdog ending pytest with
    os._exit and leaving the child running with no parent."""
    src = textwrap.dedent(code)
    if fmt:
        src = src % fmt
    return subprocess.run([sys.executable, "-X", "faulthandler", "-c", src],
                          capture_output=True, text=True, timeout=timeout)


# -- HTTP(S) --------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.inflight = 0
        self.peak = 0
        self.requests = 0
        self.barrier = None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for requests.Session

    def log_message(self, *args):
        pass

    def do_GET(self):
        st = self.server.stats
        with st.lock:
            st.inflight += 1
            st.requests += 1
            st.peak = max(st.peak, st.inflight)
        try:
            status = 200
            if self.path.startswith("/barrier"):
                # Answers only once `parties` requests are in flight at the same time:
                # clients that do not overlap time out here (and fail).
                try:
                    st.barrier.wait()
                except threading.BrokenBarrierError:
                    status = 504
            elif self.path.startswith("/sleep"):
                time.sleep(0.005)
            body = ("ok %s" % self.path).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with st.lock:
                st.inflight -= 1


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


@contextlib.contextmanager
def http_server(parties=1, certfile=None, keyfile=None):
    """A threaded HTTP server (HTTPS with certfile/keyfile) on 127.0.0.1: yields
    (base url, Stats). GET /barrier returns once `parties` such requests are in flight
    together; /sleep takes 5 ms; anything else answers at once."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.stats = Stats()
    srv.stats.barrier = threading.Barrier(parties, timeout=60)
    scheme = "http"
    if certfile:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield "%s://127.0.0.1:%d" % (scheme, srv.server_address[1]), srv.stats
    finally:
        srv.shutdown()
        srv.server_close()
        t.join()


def self_signed_cert(directory):
    """A self-made certificate for 127.0.0.1/localhost (openssl CLI): (cert, key)."""
    openssl = need("openssl", "openssl")
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    return cert, key


# -- redis ---------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server():
    """A throwaway redis-server on 127.0.0.1: yields its port."""
    exe = need("redis-server", "redis-server")
    port = free_port()
    d = tempfile.mkdtemp(prefix="gmp-redis-")
    p = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", d, "--maxclients", "1000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, p, "redis-server")
        yield port
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(d, ignore_errors=True)


def _wait_port(port, proc, what):
    for _ in range(600):
        if proc.poll() is not None:
            pytest.fail("%s exited with %s at start" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("%s did not listen on port %d" % (what, port))


# -- PostgreSQL -----------------------------------------------------------------------


def _pg_bin():
    import glob

    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    initdb = need("initdb", "postgresql", dirs)
    return os.path.dirname(initdb)


@contextlib.contextmanager
def postgres_server():
    """A throwaway PostgreSQL cluster (initdb in a temporary directory, trust auth, user
    "gmp", database "postgres") on 127.0.0.1: yields its port. As root, the server runs
    as the "postgres" user (initdb refuses root)."""
    bindir = _pg_bin()
    d = tempfile.mkdtemp(prefix="gmp-pg-")
    data = os.path.join(d, "data")
    port = free_port()
    pre = []
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root and no 'postgres' user: install the Debian "
                        "package 'postgresql'")
        os.chown(d, pw.pw_uid, pw.pw_gid)
        pre = [need("runuser", "util-linux"), "-u", "postgres", "--"]
    subprocess.run(pre + [os.path.join(bindir, "initdb"), "-D", data, "-U", "gmp",
                          "-A", "trust", "--no-sync"],
                   check=True, capture_output=True)
    p = subprocess.Popen(
        pre + [os.path.join(bindir, "postgres"), "-D", data, "-p", str(port),
               "-h", "127.0.0.1", "-k", d, "-c", "fsync=off", "-c", "max_connections=200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, p, "postgres")
        time.sleep(0.2)
        yield port
    finally:
        p.terminate()
        p.wait(60)
        shutil.rmtree(d, ignore_errors=True)

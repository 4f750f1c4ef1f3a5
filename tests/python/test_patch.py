"""gmp.patch(): unmodified libraries on goroutines, against real servers started by the
tests on 127.0.0.1 (tests/python/servers.py). Each client runs in a fresh interpreter
that patches itself; this pytest process stays unpatched and runs the HTTP servers.

Overlap is shown by the servers, not by the clock: the HTTP server's /barrier answers
only once N requests are in flight together, redis BLPOPs wait for pushes made by other
goroutines, PostgreSQL advisory-lock waiters are counted while all of them are parked."""

import tempfile

from servers import (
    http_server,
    postgres_server,
    redis_server,
    run_child,
    self_signed_cert,
)


def _ok(r):
    assert r.returncode == 0, "child failed (%d)\nstdout:\n%s\nstderr:\n%s" % (
        r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_patch_is_selectable_reports_and_warns():
    out = _ok(run_child(
        """
        import sys, types, warnings
        import gmp
        assert not any(gmp.patched().values())
        # A module that bound the original socket class before the patch.
        m = types.ModuleType("early_binder")
        import socket
        m.sock_cls = socket.socket
        sys.modules["early_binder"] = m
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            got = gmp.patch(socket=True, ssl=False, thread=False, queue=False,
                            select=False, subprocess=False, os=False, time=True)
        assert [str(x.message) for x in w if "early_binder.sock_cls" in str(x.message)], w
        assert got == gmp.patched()
        assert got["socket"] and got["time"] and not got["thread"] and not got["ssl"]
        import threading, time
        assert threading.Lock is not gmp.Lock and time.sleep.__module__ == "gmp.patch"
        assert socket.socket.__module__ == "gmp.patch"
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            gmp.patch(thread=True, socket=False, ssl=False)
        msgs = [str(x.message) for x in w if issubclass(x.category, gmp.PatchWarning)]
        assert any("called again" in s for s in msgs), msgs
        assert gmp.patched()["thread"] and threading.Lock is gmp.Lock
        try:
            gmp.patch(socket=False, ssl=True)
        except ValueError:
            pass
        else:
            raise AssertionError("ssl without socket accepted")
        print("ok")
        """))
    assert out.strip().endswith("ok")


_HTTP_CLIENT = """
import gmp
gmp.patch()
import sys
%(imports)s

URL = %(url)r
N, M = %(n)d, %(m)d

def client(i):
%(client)s

def main():
    with gmp.Group() as g:
        hs = [g.go(client, i) for i in range(N)]
    bodies = [b for h in hs for b in h.result()]
    assert len(bodies) == N * M, len(bodies)
    assert all(b.startswith("ok /") for b in bodies), bodies[:3]
    print("done", len(bodies))

gmp.run(main)
"""


def _http_run(client_body, imports, n=100, m=20, tls=False):
    certs = {}
    with tempfile.TemporaryDirectory() as d:
        if tls:
            certs["certfile"], certs["keyfile"] = self_signed_cert(d)
        with http_server(parties=n, **certs) as (url, stats):
            r = run_child(_HTTP_CLIENT, url=url, n=n, m=m, imports=imports,
                          client=client_body.replace("CERT", repr(certs.get("certfile"))))
            out = _ok(r)
            assert "done %d" % (n * m) in out
            # Every client was in flight at once at the barrier (else it would have
            # timed out with 504 and the child would have failed).
            assert stats.peak >= n
            assert stats.requests == n * m
            return stats


def test_urllib_request_100_goroutines_x_20():
    _http_run(
        """
    import urllib.request
    out = []
    for j in range(M):
        path = "/barrier" if j == 0 else "/sleep?%d.%d" % (i, j)
        with urllib.request.urlopen(URL + path, timeout=120) as r:
            assert r.status == 200
            out.append(r.read().decode())
    return out
""",
        imports="import urllib.request",
    )


def test_requests_100_sessions_x_20():
    _http_run(
        """
    s = requests.Session()
    out = []
    for j in range(M):
        path = "/barrier" if j == 0 else "/sleep?%d.%d" % (i, j)
        r = s.get(URL + path, timeout=120)
        assert r.status_code == 200, r.status_code
        out.append(r.text)
    s.close()
    return out
""",
        imports="import requests",
    )


def test_requests_over_https_with_a_self_made_certificate():
    _http_run(
        """
    s = requests.Session()
    out = []
    for j in range(M):
        path = "/barrier" if j == 0 else "/x?%d.%d" % (i, j)
        # verify= per request: REQUESTS_CA_BUNDLE in the environment beats Session.verify
        r = s.get(URL + path, timeout=120, verify=CERT)
        assert r.status_code == 200, r.status_code
        out.append(r.text)
    s.close()
    return out
""",
        imports="import requests",
        n=50,
        m=5,
        tls=True,
    )


def test_redis_py_100_goroutines_get_set_pipeline_and_blocking_pops():
    with redis_server() as port:
        out = _ok(run_child(
            """
            import gmp
            gmp.patch()
            import redis

            r = redis.Redis(host="127.0.0.1", port=%(port)d, socket_timeout=120)
            N = 100

            def worker(i):
                for j in range(20):
                    r.set("k:%%d:%%d" %% (i, j), "v%%d" %% j)
                    assert r.get("k:%%d:%%d" %% (i, j)) == b"v%%d" %% j
                p = r.pipeline()
                for j in range(20):
                    p.incr("count:%%d" %% i)
                p.get("count:%%d" %% i)
                res = p.execute()
                assert res[-1] == b"20", res
                # Pairs: odd goroutines wait in BLPOP (parked on their socket) for a push
                # by their even partner, which first waits for the odd one's push.
                if i %% 2:
                    r.rpush("to:%%d" %% (i - 1), "hi")
                    got = r.blpop("to:%%d" %% i, timeout=60)
                else:
                    got = r.blpop("to:%%d" %% i, timeout=60)
                    r.rpush("to:%%d" %% (i + 1), "hi")
                assert got is not None and got[1] == b"hi", (i, got)
                return i

            def main():
                with gmp.Group() as g:
                    hs = [g.go(worker, i) for i in range(N)]
                assert [h.result() for h in hs] == list(range(N))
                pool = r.connection_pool
                n = len(pool._available_connections) + len(pool._in_use_connections)
                print("done connections", n)

            gmp.run(main)
            """, port=port))
        assert "done connections" in out
        # The goroutines overlapped on their sockets, so the pool opened many connections.
        assert int(out.split()[-1]) >= 10


def test_pg8000_against_a_real_postgresql():
    with postgres_server() as port:
        out = _ok(run_child(
            """
            import gmp
            gmp.patch()
            import time
            import pg8000.dbapi

            def connect():
                for _ in range(200):
                    try:
                        return pg8000.dbapi.connect(user="gmp", host="127.0.0.1",
                                                    port=%(port)d, database="postgres")
                    except Exception as e:  # starting up
                        last = e
                        time.sleep(0.05)
                raise last

            N = 20

            def waiter(i, ready):
                c = connect()
                cur = c.cursor()
                ready.send(i)
                cur.execute("SELECT pg_advisory_lock(42)")  # parks until released
                cur.execute("SELECT pg_advisory_unlock(42)")
                cur.execute("SELECT %%s::int * 2", (i,))
                (v,), = cur.fetchall()
                c.close()
                return v

            def main():
                boss = connect()
                cur = boss.cursor()
                cur.execute("SELECT pg_advisory_lock(42)")
                ready = gmp.Chan(N)
                g = gmp.Group()
                hs = [g.go(waiter, i, ready) for i in range(N)]
                for _ in range(N):
                    ready.recv()
                # All N goroutines must be parked in their lock queries at once.
                for _ in range(2000):
                    cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                " AND NOT granted")
                    (waiting,), = cur.fetchall()
                    if waiting == N:
                        break
                    time.sleep(0.01)
                assert waiting == N, waiting
                cur.execute("SELECT pg_advisory_unlock(42)")
                g.wait()
                boss.close()
                print("done", sum(h.result() for h in hs), waiting)

            gmp.run(main)
            """, port=port))
        assert out.split()[-2:] == [str(2 * sum(range(20))), "20"]

#!/usr/bin/env python3
"""Unmodified client libraries on green threads, side by side in one run: the same
client code under `gmp.patch()`, under `gevent.monkey.patch_all()`, and asyncio's own
client where one exists.

    python bench/python/ecosystem.py                  # both workloads, 5 runs each
    python bench/python/ecosystem.py --only redis --repeat 3 --ops 20000
    python bench/python/ecosystem.py --json out.json

Workloads (asyncio peer in brackets):
- redis: 100 concurrent clients sharing one redis-py client (its connection pool), each
  doing SET then GET; ops/s counts both [redis.asyncio].
- http: 100 concurrent requests.Session objects doing GET against a local keep-alive
  HTTP server (its own process, an asyncio protocol, not the bottleneck) [none: aiohttp
  is not used].

Each (workload, implementation) runs in its own process (patching is process-wide):
one warm-up, then N timed runs; the median is printed with gmp's ratio to gevent.
Needs redis-server on PATH and, in the interpreter running this, gmp, gevent, redis and
requests (`pip install -r tests/python/requirements.txt`). Target: gmp at least gevent's
throughput on both.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
IMPLS = ["gmp", "gevent", "asyncio"]
WORKLOADS = ["redis", "http"]
CLIENTS = 100


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    for _ in range(400):
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen on %d" % port)


# -- the HTTP server (its own process) -----------------------------------------------

def serve_http(port):
    import asyncio

    body = b"ok"
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
            % len(body)) + body

    class Proto(asyncio.Protocol):
        def connection_made(self, t):
            self.t = t
            self.buf = b""

        def data_received(self, data):
            self.buf += data
            n = self.buf.count(b"\r\n\r\n")
            if n:
                self.buf = self.buf[self.buf.rindex(b"\r\n\r\n") + 4:]
                self.t.write(resp * n)

    async def main():
        srv = await asyncio.get_running_loop().create_server(
            Proto, "127.0.0.1", port, backlog=1024)
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


# -- the clients ---------------------------------------------------------------------

def redis_sync_worker(r, n, i):
    key = "k%d" % i
    for j in range(n):
        r.set(key, j)
        assert int(r.get(key)) == j


def http_sync_worker(url, n):
    import requests

    s = requests.Session()
    for _ in range(n):
        r = s.get(url)
        assert r.status_code == 200
    s.close()


def child(workload, impl, port, ops, repeat):
    if impl == "gmp":
        import gmp

        gmp.patch()
    elif impl == "gevent":
        from gevent import monkey

        monkey.patch_all()
    per = max(1, ops // CLIENTS)
    if workload == "redis":
        per = max(1, per // 2)  # SET + GET per iteration

    if workload == "redis" and impl == "asyncio":
        import asyncio
        import redis.asyncio as aredis

        async def worker(r, n, i):
            key = "k%d" % i
            for j in range(n):
                await r.set(key, j)
                assert int(await r.get(key)) == j

        async def once(n):
            r = aredis.Redis(host="127.0.0.1", port=port, max_connections=CLIENTS)
            await asyncio.gather(*[worker(r, n, i) for i in range(CLIENTS)])
            await r.aclose()

        def run_once(n):
            asyncio.run(once(n))
    elif workload == "redis":
        import redis

        r = redis.Redis(host="127.0.0.1", port=port, max_connections=CLIENTS)

        def body(n):
            return [(redis_sync_worker, (r, n, i)) for i in range(CLIENTS)]
    elif workload == "http" and impl != "asyncio":
        url = "http://127.0.0.1:%d/" % port

        def body(n):
            return [(http_sync_worker, (url, n)) for _ in range(CLIENTS)]
    else:
        print(json.dumps({"skipped": "no asyncio client for %s" % workload}))
        return

    if impl == "gmp":
        def run_once(n):
            def main():
                with gmp.Group() as g:
                    for fn, args in body(n):
                        g.go(fn, *args)
            gmp.run(main)
    elif impl == "gevent":
        import gevent

        def run_once(n):
            gs = [gevent.spawn(fn, *args) for fn, args in body(n)]
            gevent.joinall(gs, raise_error=True)

    run_once(max(1, per // 5))  # warm-up: connections, imports
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run_once(per)
        times.append(time.perf_counter() - t)
    n_ops = per * CLIENTS * (2 if workload == "redis" else 1)
    print(json.dumps({"times": times, "ops": n_ops}))


# -- the driver -------------------------------------------------------------------------

def available(impl):
    import importlib.util

    return impl == "asyncio" or importlib.util.find_spec(impl) is not None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--ops", type=int, default=40000, help="operations per timed run")
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", nargs=3, metavar=("WORKLOAD", "IMPL", "PORT"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--serve-http", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve_http is not None:
        return serve_http(a.serve_http)
    if a.child:
        return child(a.child[0], a.child[1], int(a.child[2]), a.ops, a.repeat)

    servers = []
    ports = {}
    tmp = tempfile.mkdtemp(prefix="gmp-bench-")
    try:
        workloads = [w for w in a.only.split(",") if w]
        if "redis" in workloads:
            exe = shutil.which("redis-server")
            if exe is None:
                sys.exit("redis-server not found (Debian package redis-server)")
            port = free_port()
            p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save",
                                  "", "--appendonly", "no", "--dir", tmp],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            servers.append(p)
            wait_port(port, p)
            ports["redis"] = port
        if "http" in workloads:
            port = free_port()
            p = subprocess.Popen([sys.executable, HERE, "--serve-http", str(port)])
            servers.append(p)
            wait_port(port, p)
            ports["http"] = port

        results = {}
        print("%-6s %-8s %12s" % ("work", "impl", "ops/s"))
        for w in workloads:
            for impl in IMPLS:
                if not available(impl):
                    results[(w, impl)] = None
                    print("%-6s %-8s %12s" % (w, impl, "not installed"))
                    continue
                cmd = [sys.executable, HERE, "--child", w, impl, str(ports[w]),
                       "--ops", str(a.ops), "--repeat", str(a.repeat)]
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
                if p.returncode != 0:
                    sys.exit("%s/%s failed:\n%s" % (w, impl, p.stderr))
                r = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1])
                if "skipped" in r:
                    results[(w, impl)] = None
                    print("%-6s %-8s %12s" % (w, impl, "n/a"))
                    continue
                rate = r["ops"] / statistics.median(r["times"])
                results[(w, impl)] = {"ops_per_s": rate, "times": r["times"], "ops": r["ops"]}
                print("%-6s %-8s %12.0f" % (w, impl, rate))
            gm, ge = results.get((w, "gmp")), results.get((w, "gevent"))
            if gm and ge:
                print("%-6s gmp/gevent = %.2fx" % (w, gm["ops_per_s"] / ge["ops_per_s"]))
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"%s/%s" % k: v for k, v in results.items()}, f, indent=1)
    finally:
        for p in servers:
            p.terminate()
            p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The Python benchmark workloads, each written for gmp, gevent and asyncio with the same
shape. Run one with

    python bench/python/workloads.py WORKLOAD IMPL [--repeat N] [--scale S]

It does one warm-up run, then N timed runs, checks each result, and prints one JSON
line: {"workload": ..., "impl": ..., "times": [seconds, ...]}.

| workload | work |
| --- | --- |
| spawn    | 100,000 goroutines/greenlets/tasks, each doing nothing but signal completion, started from one goroutine and all joined |
| pingpong | two goroutines exchange a value over a pair of unbuffered channels 100,000 times (asyncio: two Queue(maxsize=1)) |
| echo     | a TCP echo server and 500 client connections in one process on 127.0.0.1, each client doing 200 round trips of a 64-byte message |
| echox    | the same echo server, its 500 clients in another process (the same implementation's client code, started before the timed window); timed from the first accept to the last connection's end |

Besides the time of each run, the driver records the CPU time (user + system, all threads
of the measuring process) of each run: for echo that is server and clients together, for
echox the server alone, over the same window as the time.

gevent runs on its own (not monkey patched) API: gevent.spawn/joinall, gevent.queue.Channel,
gevent.socket. asyncio uses create_task/gather, asyncio.Queue and loop.sock_* calls.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time

N_SPAWN = 100_000
N_PING = 100_000
N_CONN = 500
N_ROUNDS = 200
MSG = b"x" * 64


def _raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# echox: the server's measuring window (first accept to last connection end), set by
# each *_echox server for the driver.
WINDOW = {}


def _client_process(impl, port, nconn, rounds):
    """Starts the echox clients: this file in another process, `--client`."""
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "echox", impl, "--client",
                             "%d,%d,%d" % (port, nconn, rounds)])


def _listener(mod=socket):
    ls = mod.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4096)
    return ls


def _echo_handle(conn, count):
    """The echo server's connection handler, the same for gmp's and gevent's sockets:
    echoes until the client closes, adding the bytes echoed to count[0]."""
    while True:
        data = conn.recv(4096)
        if not data:
            break
        count[0] += len(data)
        conn.sendall(data)
    conn.close()


# --------------------------------------------------------------------------- gmp

def gmp_spawn(n):
    import gmp

    def main():
        wg = gmp.WaitGroup()
        wg.add(n)
        done = wg.done
        for _ in range(n):
            gmp.go(done)
        wg.wait()
        return n

    return gmp.run(main)


def gmp_pingpong(n):
    import gmp

    def main():
        a, b = gmp.Chan(), gmp.Chan()

        def pong():
            for _ in range(n):
                b.send(a.recv())

        gmp.go(pong)
        total = 0
        for i in range(n):
            a.send(i)
            total += b.recv()
        return total

    return gmp.run(main)


def gmp_echo(nconn, rounds):
    import gmp

    def main():
        ls = gmp.socket(_listener())
        port = ls.getsockname()[1]
        echoed = [0]

        def server():
            for _ in range(nconn):
                conn, _ = ls.accept()
                gmp.go(_echo_handle, conn, echoed)

        gmp.go(server)
        wg = gmp.WaitGroup()
        wg.add(nconn)
        count = [0]

        def client():
            c = gmp.socket()
            c.connect(("127.0.0.1", port))
            for _ in range(rounds):
                c.sendall(MSG)
                got = c.recv(64)
                while len(got) < 64:
                    got += c.recv(64 - len(got))
                count[0] += 1
            c.close()
            wg.done()

        for _ in range(nconn):
            gmp.go(client)
        wg.wait()
        ls.close()
        return count[0]

    return gmp.run(main)


def gmp_echox(nconn, rounds):
    import gmp

    def main():
        ls = gmp.socket(_listener())
        port = ls.getsockname()[1]
        wg = gmp.WaitGroup()
        wg.add(nconn)
        count = [0]

        def handle(conn):
            _echo_handle(conn, count)
            wg.done()

        p = _client_process("gmp", port, nconn, rounds)
        for i in range(nconn):
            conn, _ = ls.accept()
            if i == 0:
                t0, c0 = time.perf_counter(), _cpu()
            gmp.go(handle, conn)
        wg.wait()
        WINDOW.update(wall=time.perf_counter() - t0, cpu=_cpu() - c0)
        ls.close()
        gmp.blocking(p.wait)
        return count[0] // len(MSG)

    return gmp.run(main)


def gmp_client(port, nconn, rounds):
    import gmp

    def main():
        wg = gmp.WaitGroup()
        wg.add(nconn)

        def client():
            c = gmp.socket()
            c.connect(("127.0.0.1", port))
            for _ in range(rounds):
                c.sendall(MSG)
                got = c.recv(64)
                while len(got) < 64:
                    got += c.recv(64 - len(got))
            c.close()
            wg.done()

        for _ in range(nconn):
            gmp.go(client)
        wg.wait()

    gmp.run(main)


# ------------------------------------------------------------------------ gevent

def gevent_spawn(n):
    import gevent

    def main():
        gs = [gevent.spawn(int) for _ in range(n)]
        gevent.joinall(gs)
        return len(gs)

    return gevent.spawn(main).get()


def gevent_pingpong(n):
    import gevent
    from gevent.queue import Channel

    def main():
        a, b = Channel(), Channel()

        def pong():
            for _ in range(n):
                b.put(a.get())

        gevent.spawn(pong)
        total = 0
        for i in range(n):
            a.put(i)
            total += b.get()
        return total

    return gevent.spawn(main).get()


def gevent_echo(nconn, rounds):
    import gevent
    import gevent.socket as gsocket

    def main():
        ls = _listener(gsocket)
        port = ls.getsockname()[1]
        echoed = [0]

        def server():
            for _ in range(nconn):
                conn, _ = ls.accept()
                gevent.spawn(_echo_handle, conn, echoed)

        gevent.spawn(server)
        count = [0]

        def client():
            c = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.connect(("127.0.0.1", port))
            for _ in range(rounds):
                c.sendall(MSG)
                got = c.recv(64)
                while len(got) < 64:
                    got += c.recv(64 - len(got))
                count[0] += 1
            c.close()

        gevent.joinall([gevent.spawn(client) for _ in range(nconn)])
        ls.close()
        return count[0]

    return gevent.spawn(main).get()


def gevent_echox(nconn, rounds):
    import gevent
    import gevent.socket as gsocket

    def main():
        ls = _listener(gsocket)
        port = ls.getsockname()[1]
        count = [0]
        p = _client_process("gevent", port, nconn, rounds)
        gs = []
        for i in range(nconn):
            conn, _ = ls.accept()
            if i == 0:
                t0, c0 = time.perf_counter(), _cpu()
            gs.append(gevent.spawn(_echo_handle, conn, count))
        gevent.joinall(gs)
        WINDOW.update(wall=time.perf_counter() - t0, cpu=_cpu() - c0)
        ls.close()
        while p.poll() is None:
            gevent.sleep(0.001)
        return count[0] // len(MSG)

    return gevent.spawn(main).get()


def gevent_client(port, nconn, rounds):
    import gevent
    import gevent.socket as gsocket

    def client():
        c = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.connect(("127.0.0.1", port))
        for _ in range(rounds):
            c.sendall(MSG)
            got = c.recv(64)
            while len(got) < 64:
                got += c.recv(64 - len(got))
        c.close()

    gevent.joinall([gevent.spawn(client) for _ in range(nconn)])


# ----------------------------------------------------------------------- asyncio

def asyncio_spawn(n):
    import asyncio

    async def nothing():
        return None

    async def main():
        tasks = [asyncio.create_task(nothing()) for _ in range(n)]
        await asyncio.gather(*tasks)
        return len(tasks)

    return asyncio.run(main())


def asyncio_pingpong(n):
    import asyncio

    async def main():
        a, b = asyncio.Queue(1), asyncio.Queue(1)

        async def pong():
            for _ in range(n):
                await b.put(await a.get())

        t = asyncio.create_task(pong())
        total = 0
        for i in range(n):
            await a.put(i)
            total += await b.get()
        await t
        return total

    return asyncio.run(main())


def asyncio_echo(nconn, rounds):
    import asyncio

    async def main():
        loop = asyncio.get_running_loop()
        ls = _listener()
        ls.setblocking(False)
        port = ls.getsockname()[1]

        async def handle(conn):
            while True:
                data = await loop.sock_recv(conn, 4096)
                if not data:
                    break
                await loop.sock_sendall(conn, data)
            conn.close()

        async def server():
            for _ in range(nconn):
                conn, _ = await loop.sock_accept(ls)
                conn.setblocking(False)
                asyncio.create_task(handle(conn))

        srv = asyncio.create_task(server())
        count = [0]

        async def client():
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            await loop.sock_connect(c, ("127.0.0.1", port))
            for _ in range(rounds):
                await loop.sock_sendall(c, MSG)
                got = await loop.sock_recv(c, 64)
                while len(got) < 64:
                    got += await loop.sock_recv(c, 64 - len(got))
                count[0] += 1
            c.close()

        await asyncio.gather(*(client() for _ in range(nconn)))
        await srv
        ls.close()
        return count[0]

    return asyncio.run(main())


def asyncio_echox(nconn, rounds):
    import asyncio

    async def main():
        loop = asyncio.get_running_loop()
        ls = _listener()
        ls.setblocking(False)
        port = ls.getsockname()[1]
        count = [0]

        async def handle(conn):
            while True:
                data = await loop.sock_recv(conn, 4096)
                if not data:
                    break
                count[0] += len(data)
                await loop.sock_sendall(conn, data)
            conn.close()

        p = _client_process("asyncio", port, nconn, rounds)
        ts = []
        for i in range(nconn):
            conn, _ = await loop.sock_accept(ls)
            if i == 0:
                t0, c0 = time.perf_counter(), _cpu()
            conn.setblocking(False)
            ts.append(asyncio.create_task(handle(conn)))
        await asyncio.gather(*ts)
        WINDOW.update(wall=time.perf_counter() - t0, cpu=_cpu() - c0)
        ls.close()
        while p.poll() is None:
            await asyncio.sleep(0.001)
        return count[0] // len(MSG)

    return asyncio.run(main())


def asyncio_client(port, nconn, rounds):
    import asyncio

    async def main():
        loop = asyncio.get_running_loop()

        async def client():
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            await loop.sock_connect(c, ("127.0.0.1", port))
            for _ in range(rounds):
                await loop.sock_sendall(c, MSG)
                got = await loop.sock_recv(c, 64)
                while len(got) < 64:
                    got += await loop.sock_recv(c, 64 - len(got))
            c.close()

        await asyncio.gather(*(client() for _ in range(nconn)))

    asyncio.run(main())


# ------------------------------------------------------------------------ driver

def workload(name, impl, scale):
    f = globals()["%s_%s" % (impl, name)]
    if name == "spawn":
        n = max(1, int(N_SPAWN * scale))
        return (lambda: f(n)), n
    if name == "pingpong":
        n = max(1, int(N_PING * scale))
        return (lambda: f(n)), sum(range(n))
    if name in ("echo", "echox"):
        c, r = max(1, int(N_CONN * min(1.0, scale))), max(1, int(N_ROUNDS * scale))
        return (lambda: f(c, r)), c * r
    raise SystemExit("unknown workload %s" % name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=["spawn", "pingpong", "echo", "echox"])
    ap.add_argument("impl", choices=["gmp", "gevent", "asyncio"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--client", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    _raise_fd_limit()
    if a.client:
        port, nconn, rounds = (int(x) for x in a.client.split(","))
        globals()["%s_client" % a.impl](port, nconn, rounds)
        return
    run, want = workload(a.workload, a.impl, a.scale)
    got = run()  # warm-up
    if got != want:
        print("FAIL: %s/%s returned %r, want %r" % (a.workload, a.impl, got, want), file=sys.stderr)
        sys.exit(1)
    times, cpus = [], []
    for _ in range(a.repeat):
        WINDOW.clear()
        t, c = time.perf_counter(), _cpu()
        got = run()
        t, c = time.perf_counter() - t, _cpu() - c
        if WINDOW:
            t, c = WINDOW["wall"], WINDOW["cpu"]
        times.append(t)
        cpus.append(c)
        if got != want:
            print("FAIL: %s/%s returned %r" % (a.workload, a.impl, got), file=sys.stderr)
            sys.exit(1)
    print(json.dumps({"workload": a.workload, "impl": a.impl, "times": times, "cpu": cpus,
                      "ops": want}))


if __name__ == "__main__":
    main()

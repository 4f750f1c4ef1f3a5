#!/usr/bin/env python3
"""Memory of parked goroutines, side by side: gmp, gevent (greenlets) and asyncio (tasks).

    python bench/python/memory.py [--n 100000] [--idle 3]

Each implementation runs in its own process: it parks N goroutines (each waiting on one
shared event), reads RSS (/proc/self/statm), lets them all end, reads RSS again at once
and after `--idle` seconds with nothing to do (is memory given back to the OS?).
Prints a table: KiB per parked goroutine, and MiB still above the start once they ended.
The issue's targets: gmp <= gevent per goroutine; idle stack memory returned within
seconds. Run it with an interpreter that has gmp and gevent (bench/python/run-versions.sh
installs gevent; build/python-venv-3.X from scripts/test-python.sh has gmp).
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def run_gmp(n, idle):
    import gmp

    out = {}

    def main():
        ch = gmp.Chan()
        wg = gmp.WaitGroup()
        wg.add(n)

        def parked():
            try:
                ch.recv()
            except gmp.ChannelClosed:
                pass
            wg.done()

        gmp.sleep(0.01)
        out["start"] = rss()
        for _ in range(n):
            gmp.go(parked)
        while gmp.num_goroutine() < n + 1:
            gmp.sleep(0.01)
        gmp.sleep(0.05)
        out["parked"] = rss()
        ch.close()
        wg.wait()
        gmp.sleep(0.05)
        out["ended"] = rss()
        gmp.sleep(idle)
        out["idle"] = rss()

    gmp.run(main)
    return out


def run_gevent(n, idle):
    import gevent
    import gevent.event

    out = {}
    ev = gevent.event.Event()
    gevent.sleep(0.01)
    out["start"] = rss()
    gs = [gevent.spawn(ev.wait) for _ in range(n)]
    gevent.sleep(0.05)
    out["parked"] = rss()
    ev.set()
    gevent.joinall(gs)
    del gs
    gevent.sleep(0.05)
    out["ended"] = rss()
    gevent.sleep(idle)
    out["idle"] = rss()
    return out


def run_asyncio(n, idle):
    import asyncio

    out = {}

    async def main():
        ev = asyncio.Event()
        await asyncio.sleep(0.01)
        out["start"] = rss()
        ts = [asyncio.create_task(ev.wait()) for _ in range(n)]
        await asyncio.sleep(0.05)
        out["parked"] = rss()
        ev.set()
        await asyncio.gather(*ts)
        del ts
        await asyncio.sleep(0.05)
        out["ended"] = rss()
        await asyncio.sleep(idle)
        out["idle"] = rss()

    asyncio.run(main())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--idle", type=float, default=3.0)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        r = {"gmp": run_gmp, "gevent": run_gevent, "asyncio": run_asyncio}[a.one](a.n, a.idle)
        print(json.dumps(r))
        return
    print("| impl | KiB per parked goroutine | MiB above start once ended | after %gs idle |" % a.idle)
    print("| --- | --- | --- | --- |")
    for impl in ("gmp", "gevent", "asyncio"):
        if impl != "asyncio" and importlib.util.find_spec(impl) is None:
            print("| %s | skipped (not installed) | | |" % impl)
            continue
        p = subprocess.run([sys.executable, __file__, "--one", impl, "--n", str(a.n), "--idle", str(a.idle)],
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            print("| %s | failed: %s | | |" % (impl, p.stderr.strip().splitlines()[-1:]))
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        per = (r["parked"] - r["start"]) / a.n / 1024
        print("| %s | %.1f | %.0f | %.0f |" % (impl, per, (r["ended"] - r["start"]) / 2**20,
                                              (r["idle"] - r["start"]) / 2**20))


if __name__ == "__main__":
    main()

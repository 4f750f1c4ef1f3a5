#!/usr/bin/env python3
"""Runs the Python benchmarks (workloads.py) for gmp, gevent and asyncio and prints the
median of N runs of each, and how many times faster (or leaner) gmp is than each of the
others: time of spawn, pingpong, echo (clients in the same process) and echox (clients
in another process), CPU time per echo request (echo: server and clients; echox: the
server alone), and RSS per parked goroutine (memory.py, 100,000 parked).

    python bench/python/run.py                       # all workloads, 5 runs each
    python bench/python/run.py --only spawn,echo --repeat 3
    python bench/python/run.py --scale 0.05 --repeat 1    # smoke run
    python bench/python/run.py --json out.json

Run it with an interpreter that has `gmp` installed (bash scripts/test-python.sh builds
one per version in build/python-venv-3.X) and gevent (`pip install gevent`); an implementation whose
package is missing is reported as skipped. Each (workload, implementation) runs in its
own process: one warm-up, then N timed runs. Target: gmp faster than gevent on all three.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ["spawn", "pingpong", "echo", "echox", "memory"]
IMPLS = ["gmp", "gevent", "asyncio"]


def available(impl):
    return impl == "asyncio" or importlib.util.find_spec(impl) is not None


def run_one(workload, impl, repeat, scale):
    """{"times": [...], "cpu": [...], "ops": n} of one workload, or for "memory"
    {"kib": [KiB per parked goroutine, one per run]}."""
    if workload == "memory":
        n = max(1000, int(100_000 * scale))
        kib = []
        for _ in range(max(1, min(repeat, 3))):
            cmd = [sys.executable, os.path.join(HERE, "memory.py"), "--one", impl, "--n", str(n),
                   "--idle", "0"]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            if p.returncode != 0:
                raise RuntimeError("memory/%s failed (%d):\n%s" % (impl, p.returncode, p.stderr))
            r = json.loads(p.stdout.strip().splitlines()[-1])
            kib.append((r["parked"] - r["start"]) / n / 1024)
        return {"kib": kib}
    cmd = [sys.executable, os.path.join(HERE, "workloads.py"), workload, impl,
           "--repeat", str(repeat), "--scale", str(scale)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError("%s/%s failed (%d):\n%s" % (workload, impl, p.returncode, p.stderr))
    line = [l for l in p.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def rows(w, r):
    """(label, {impl: median}) rows of one workload's results."""
    if w == "memory":
        return [("RSS per parked goroutine (KiB)", {i: statistics.median(v["kib"]) for i, v in r.items()})]
    out = [("%s (s)" % w, {i: statistics.median(v["times"]) for i, v in r.items()})]
    if w in ("echo", "echox"):
        who = "server + clients" if w == "echo" else "server"
        out.append(("%s CPU per request, %s (us)" % (w, who),
                    {i: statistics.median(v["cpu"]) / v["ops"] * 1e6 for i, v in r.items()}))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--json", default=None, help="write all timings here")
    a = ap.parse_args()
    workloads = [w for w in a.only.split(",") if w]
    results = {}
    failed = False
    for w in workloads:
        results[w] = {}
        for impl in IMPLS:
            if not available(impl):
                print("%-9s %-8s skipped (%s not installed)" % (w, impl, impl), file=sys.stderr)
                continue
            try:
                res = run_one(w, impl, a.repeat, a.scale)
            except Exception as e:  # noqa: BLE001
                print(str(e), file=sys.stderr)
                failed = True
                continue
            results[w][impl] = res
            print("%-9s %-8s %s" % (w, impl, json.dumps(res)), file=sys.stderr, flush=True)

    print()
    print("| measure | gmp | gevent | asyncio | gevent / gmp | asyncio / gmp |")
    print("| --- | --- | --- | --- | --- | --- |")
    ratios = {}
    for w in workloads:
        for label, med in rows(w, results[w]):
            cells = [("%.4f" if label.endswith("(s)") else "%.1f") % med[i] if i in med else "-"
                     for i in IMPLS]
            rs = []
            for other in ("gevent", "asyncio"):
                if "gmp" in med and other in med and med["gmp"] > 0:
                    r = med[other] / med["gmp"]
                    ratios.setdefault(label, {})[other] = r
                    rs.append("%.2fx" % r)
                else:
                    rs.append("-")
            print("| %s | %s | %s |" % (label, " | ".join(cells), " | ".join(rs)))
    print()
    print("(medians of %d runs, memory of %d; ratios > 1: gmp is that many times faster or "
          "leaner)" % (a.repeat, max(1, min(a.repeat, 3))))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"repeat": a.repeat, "scale": a.scale, "results": results, "ratios": ratios}, f, indent=2)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs the Python benchmarks (workloads.py) for gmp, gevent and asyncio and prints the
median of N runs of each, and how many times faster gmp is than each of the others.

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
WORKLOADS = ["spawn", "pingpong", "echo"]
IMPLS = ["gmp", "gevent", "asyncio"]


def available(impl):
    return impl == "asyncio" or importlib.util.find_spec(impl) is not None


def run_one(workload, impl, repeat, scale):
    cmd = [sys.executable, os.path.join(HERE, "workloads.py"), workload, impl,
           "--repeat", str(repeat), "--scale", str(scale)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError("%s/%s failed (%d):\n%s" % (workload, impl, p.returncode, p.stderr))
    line = [l for l in p.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)["times"]


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
                times = run_one(w, impl, a.repeat, a.scale)
            except Exception as e:  # noqa: BLE001
                print(str(e), file=sys.stderr)
                failed = True
                continue
            results[w][impl] = times
            print("%-9s %-8s median %.4f s  (runs: %s)"
                  % (w, impl, statistics.median(times), ", ".join("%.4f" % t for t in times)),
                  file=sys.stderr, flush=True)

    print()
    print("| workload | gmp (s) | gevent (s) | asyncio (s) | gevent / gmp | asyncio / gmp |")
    print("| --- | --- | --- | --- | --- | --- |")
    ratios = {}
    for w in workloads:
        med = {i: statistics.median(t) for i, t in results[w].items()}
        cells = ["%.4f" % med[i] if i in med else "-" for i in IMPLS]
        rs = []
        for other in ("gevent", "asyncio"):
            if "gmp" in med and other in med:
                r = med[other] / med["gmp"]
                ratios.setdefault(w, {})[other] = r
                rs.append("%.2fx" % r)
            else:
                rs.append("-")
        print("| %s | %s | %s |" % (w, " | ".join(cells), " | ".join(rs)))
    print()
    print("(ratios > 1: gmp is that many times faster; medians of %d runs)" % a.repeat)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"repeat": a.repeat, "scale": a.scale, "times": results, "ratios": ratios}, f, indent=2)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

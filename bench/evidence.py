#!/usr/bin/env python3
"""Runs every benchmark of libgmp against its peers in one go and publishes the evidence.

  bench/run --all        (or: python3 bench/evidence.py [--repeat N] [--quick])

- bench/run           C on libgmp vs Go: spawn, yield, fanout, idle memory, pingpong,
                      ring, skynet, buffered channel throughput
- bench/run_net       TCP echo server (libgmp vs Go under one Go load generator) and
                      syscall hand-off latency
- bench/cpp/run       the same pingpong and skynet through the C++ binding vs C
- bench/python/run.py Python goroutines vs gevent and asyncio: spawn, pingpong, echo

It writes BENCHMARKS.md (tables of medians and ratios, the machine and versions) and
bench/chart.svg (libgmp against each peer per workload, as "peer time / libgmp time":
above 1 means libgmp is faster). Standard library only.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


def run(cmd, env=None):
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, cwd=ROOT, env=env)
    return r.returncode


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def python_for_bench():
    """The venv scripts/test-python.sh made (with the gmp wheel), plus gevent."""
    venv = os.path.join(ROOT, "build", "python-venv", "bin", "python")
    if not os.path.exists(venv):
        if run(["bash", "scripts/test-python.sh", "-q"]) != 0:
            return None
    ok = subprocess.run([venv, "-c", "import gevent"], capture_output=True).returncode == 0
    if not ok:
        subprocess.run([venv, "-m", "pip", "install", "-q", "gevent"])
    return venv


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def bar_chart(rows, path):
    """rows: (label, peer, speedup) with speedup = peer cost / libgmp cost."""
    w, rowh, left, right = 980, 22, 330, 90
    top = 60
    h = top + rowh * len(rows) + 60
    maxv = max([r[2] for r in rows] + [2.0])
    scale = (w - left - right) / maxv
    colors = {"Go": "#00add8", "gevent": "#8e6bbf", "asyncio": "#f2a33a", "C API": "#6b8e23"}
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (w, h),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="24" font-size="16" font-weight="bold">libgmp vs peers: peer time / libgmp time (above 1: libgmp faster)</text>' % 10]
    x1 = left + scale * 1.0
    out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c00" stroke-dasharray="4,3"/>' % (x1, top - 10, x1, top + rowh * len(rows)))
    out.append('<text x="%.1f" y="%d" fill="#c00" text-anchor="middle">1x</text>' % (x1, top - 14))
    x2 = left + scale * 2.0
    if 2.0 <= maxv:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#888" stroke-dasharray="2,3"/>' % (x2, top - 10, x2, top + rowh * len(rows)))
        out.append('<text x="%.1f" y="%d" fill="#888" text-anchor="middle">2x (target vs Go)</text>' % (x2, top - 14))
    for i, (label, peer, v) in enumerate(rows):
        y = top + i * rowh
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y + 15, label.replace("&", "&amp;")))
        wpx = max(1.0, scale * v)
        out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (left, y + 3, wpx, rowh - 6, colors.get(peer, "#999")))
        out.append('<text x="%.1f" y="%d">%.2fx</text>' % (left + wpx + 4, y + 15, v))
    ly = top + rowh * len(rows) + 25
    lx = left
    for peer, c in colors.items():
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">vs %s</text>' % (lx, ly, c, lx + 16, ly + 11, peer))
        lx += 120
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run, not evidence)")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gmp-evidence-")
    rep = str(a.repeat)
    if not a.no_build:
        run(["cargo", "build", "--release", "--quiet"])
    quick_c = ["--scale", "0.05"] if a.quick else []
    run([os.path.join(BENCH, "run"), "--no-build", "--repeat", rep, "--json", os.path.join(tmp, "c.json")] + quick_c)
    net_args = ["--conns", "100", "--rounds", "50"] if a.quick else []
    run([os.path.join(BENCH, "run_net"), "--no-build", "--repeat", rep, "--json", os.path.join(tmp, "net.json")] + net_args)
    run([os.path.join(BENCH, "cpp", "run"), "--no-build", "--repeat", rep, "--json", os.path.join(tmp, "cpp.json")] + quick_c)
    py = python_for_bench()
    if py:
        run([py, os.path.join(BENCH, "python", "run.py"), "--repeat", rep, "--json", os.path.join(tmp, "py.json")]
            + (["--scale", "0.1"] if a.quick else []))

    def load(name):
        p = os.path.join(tmp, name)
        if not os.path.exists(p):
            return None
        with open(p) as f:
            return json.load(f)

    c, net, cpp, pyj = load("c.json"), load("net.json"), load("cpp.json"), load("py.json")
    chart = []
    md = ["# Benchmarks", "",
          "Produced by `bench/run --all` on %s%s. Every table: medians of %s runs of each side, "
          "alternated, in one run. Ratios below 1 in a *time* column and above 1 in a *speed-up* "
          "column favour libgmp." % (time.strftime("%Y-%m-%d"), " (quick sizes: not evidence)" if a.quick else "", rep),
          ""]
    sysinfo = (c or {}).get("system", {})
    md += ["## Machine", "",
           "| | |", "|---|---|",
           "| CPU | %s, %s cores (nproc) |" % (sysinfo.get("cpu", platform.processor()), sysinfo.get("nproc", os.cpu_count())),
           "| kernel | %s |" % sysinfo.get("kernel", platform.release()),
           "| Go | %s |" % sysinfo.get("go_version", sh(["go", "version"])),
           "| C compiler | %s |" % sysinfo.get("cc", ""),
           "| Rust | %s |" % sh(["rustc", "--version"]),
           "| Python | %s |" % sh([sys.executable, "--version"]),
           "| libgmp | commit %s |" % sh(["git", "rev-parse", "--short", "HEAD"]),
           ""]
    if c:
        md += ["## C on libgmp vs the same program in Go (`bench/run`)", "",
               "| workload | metric | libgmp | Go | libgmp/Go | target | met |", "|---|---|---|---|---|---|---|"]
        for n, w in c["workloads"].items():
            lg, go, ratio = w.get("libgmp"), w.get("go"), w.get("ratio")
            fmt = lambda v: "FAILED" if v is None else ("%.4g" % v)
            md.append("| %s | %s | %s | %s | %s | %s | %s |" % (n, w["metric"], fmt(lg), fmt(go),
                      "-" if ratio is None else "%.2f" % ratio, w.get("target", ""), "yes" if w.get("met") else "no"))
            if lg and go:
                speed = go / lg if w.get("better") == "lower" else lg / go
                chart.append((n, "Go", speed))
        md.append("")
    if net:
        md += ["## Network (`bench/run_net`)", ""]
        e = net.get("echo", {})
        lg = median([r.get("req_per_s") for r in e.get("libgmp", [])])
        go = median([r.get("req_per_s") for r in e.get("go", [])])
        lp = median([r.get("p99_us") for r in e.get("libgmp", [])])
        gp = median([r.get("p99_us") for r in e.get("go", [])])
        md += ["| echo (%s conns x %s round trips, 64 B; one Go load generator) | libgmp | Go | libgmp/Go |" % (net["args"]["conns"], net["args"]["rounds"]),
               "|---|---|---|---|"]
        if lg and go:
            md.append("| requests/s (higher is better; target >= 1x) | %.0f | %.0f | %.2f |" % (lg, go, lg / go))
            chart.append(("echo req/s", "Go", lg / go))
        if lp and gp:
            md.append("| p99 latency (us) | %.0f | %.0f | %.2f |" % (lp, gp, lp / gp))
        md.append("")
        ho = net.get("handoff", {})
        if ho:
            md += ["| syscall hand-off: wait of a ready goroutine while every P's goroutine blocks 10 ms | libgmp median (us) | Go median (us) |", "|---|---|---|"]
            for gap, r in ho.items():
                l = median([x.get("median_us") for x in r.get("libgmp", [])])
                g = median([x.get("median_us") for x in r.get("go", [])])
                label = "after an idle pause" if gap != "0" else "back to back"
                md.append("| %s (gap %s us) | %s | %s |" % (label, gap, "-" if l is None else "%.0f" % l, "-" if g is None else "%.0f" % g))
            md.append("")
    if cpp:
        md += ["## C++ binding vs C (`bench/cpp/run`; target: the wrapper adds at most 10%)", "",
               "| workload | C | C++ | C++/C |", "|---|---|---|---|"]
        for n, w in cpp["workloads"].items():
            m = w.get("median", {})
            r = w.get("cpp_over_c")
            md.append("| %s (%s) | %s | %s | %s |" % (n, w.get("metric", ""), m.get("c"), m.get("cpp"), "-" if r is None else "%.3f" % r))
            if r:
                chart.append(("C++ " + n, "C API", 1 / r))
        md.append("")
    if pyj:
        md += ["## Python goroutines vs gevent and asyncio (`bench/python/run.py`; target: faster than gevent)", "",
               "| workload | gmp (s) | gevent (s) | asyncio (s) | gevent/gmp | asyncio/gmp |", "|---|---|---|---|---|---|"]
        for n, t in pyj["times"].items():
            g, ge, ai = median(t.get("gmp", [])), median(t.get("gevent", [])), median(t.get("asyncio", []))
            r = pyj.get("ratios", {}).get(n, {})
            md.append("| %s | %s | %s | %s | %s | %s |" % (n, "%.3f" % g if g else "-", "%.3f" % ge if ge else "-",
                      "%.3f" % ai if ai else "-", "%.2f" % r["gevent"] if "gevent" in r else "-", "%.2f" % r["asyncio"] if "asyncio" in r else "-"))
            if "gevent" in r:
                chart.append(("py " + n, "gevent", r["gevent"]))
            if "asyncio" in r:
                chart.append(("py " + n, "asyncio", r["asyncio"]))
        md.append("")
    bar_chart(chart, os.path.join(BENCH, "chart.svg"))
    md += ["## Chart", "", "![libgmp vs peers](bench/chart.svg)", "",
           "Each bar is peer time / libgmp time (or libgmp throughput / peer throughput): above 1, "
           "libgmp is faster. Go's targets are 2x (half of Go's time) for spawn, yield, pingpong, "
           "ring and skynet; 1x for buffered throughput and echo.", ""]
    path = os.path.join(ROOT, "BENCHMARKS.md")
    old = open(path).read() if os.path.exists(path) else ""
    begin, end = "<!-- bench/scale: begin -->", "<!-- bench/scale: end -->"
    if begin in old and end in old:  # bench/scale's section is written by bench/scale: keep it
        md += [old[old.index(begin):old.index(end) + len(end)], ""]
    with open(path, "w") as f:
        f.write("\n".join(md))
    print("wrote BENCHMARKS.md and bench/chart.svg (raw JSON in %s)" % tmp)


if __name__ == "__main__":
    main()

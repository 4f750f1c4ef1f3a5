#!/usr/bin/env python3
"""Where a parked gmp Python goroutine's memory goes: memory.py's gmp case, broken down.

    python bench/python/breakdown.py [--n 50000] [--objects 20000]

Parks N goroutines as memory.py does (each counts itself, then waits in Chan.recv; the
reading is taken once all N have started and parked), and prints per parked goroutine:
- RSS in all (/proc/self/statm), and by kind of mapping (/proc/self/smaps, growth of
  each mapping's Rss): the stack slabs (large mappings marked MADV_NOHUGEPAGE, "nh",
  src/stack/mod.rs), the malloc heaps, the rest (pymalloc arenas, G chunks, the
  channel's wait ring);
- bytes in use by malloc (mallinfo2: every arena; Task boxes and runtime records);
- how deep below its slot's end each stack was written (the lowest non-zero byte of the
  slot's top 16 KiB; a colour offset of up to 960 bytes is part of it, so the spread
  is the colour, the minimum the goroutine's own depth);
- with --objects M, in a second process: the Python allocations per goroutine
  (tracemalloc, by source line), M goroutines.
"""

import argparse
import collections
import ctypes
import gc
import json
import os
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")


def smaps():
    """{(lo, hi, name): (rss, flags)} of every mapping."""
    out = {}
    cur = None
    rss = 0
    with open("/proc/self/smaps") as f:
        for line in f:
            p = line.split()
            if "-" in p[0] and not p[0].endswith(":"):
                lo, hi = (int(x, 16) for x in p[0].split("-"))
                cur = (lo, hi, p[5] if len(p) > 5 else "")
            elif p[0] == "Rss:":
                rss = int(p[1]) * 1024
            elif p[0] == "VmFlags:":
                out[cur] = (rss, set(p[1:]))
    return out


def statm():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def malloc_in_use():
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    m = libc.mallinfo2()
    return m.uordblks + m.hblkhd


def is_slab(k, flags):
    return "nh" in flags and k[1] - k[0] >= 32 << 20


def depths(s0, s1, n):
    """Written depth below the slot's end of each stack slot that grew (1 MiB + a page
    slots, the default Python goroutine stack)."""
    slot = (1 << 20) + PAGE
    out = []
    # Read through /proc/self/mem: a guard page there is an error, not a SIGSEGV.
    fd = os.open("/proc/self/mem", os.O_RDONLY)
    try:
        for k, (rss, flags) in s1.items():
            if not is_slab(k, flags) or rss - s0.get(k, (0, ()))[0] < n * PAGE // 2:
                continue
            for i in range((k[1] - k[0]) // slot):
                top = k[0] + (i + 1) * slot
                try:
                    raw = os.pread(fd, 16384, top - 16384)
                except OSError:
                    continue
                j = len(raw) - len(raw.lstrip(b"\0"))
                if j < len(raw):
                    out.append(len(raw) - j)
    finally:
        os.close(fd)
    return out


def parked_case(n, measure):
    """measure() before the spawns, measure(before) once all n goroutines have parked, in
    memory.py's gmp case (its park_gmp)."""
    from memory import park_gmp

    res = {}

    def at_start():
        gc.collect()
        res["before"] = measure()

    def at_parked(_started):
        res["out"] = measure(res["before"])

    park_gmp(n, at_start, at_parked)
    return res["out"]


def rss_breakdown(n):
    def measure(before=None):
        now = (statm(), smaps(), malloc_in_use())
        if before is None:
            return now
        (r0, s0, m0), (r1, s1, m1) = before, now
        kinds = collections.Counter()
        for k, (rss, flags) in s1.items():
            d = rss - s0.get(k, (0, ()))[0]
            kind = "stack slabs" if is_slab(k, flags) else "[heap]" if k[2] == "[heap]" else \
                "named: " + os.path.basename(k[2]) if k[2] else "other anonymous"
            kinds[kind] += d
        d = depths(s0, s1, n)
        d.sort()
        return {"rss": (r1 - r0) / n, "malloc": (m1 - m0) / n,
                "kinds": {k: v / n for k, v in kinds.items() if abs(v) >= n * 4},
                "depth": [d[0], d[len(d) // 2], d[-1]] if d else None}

    return parked_case(n, measure)


def objects_breakdown(n):
    import tracemalloc

    def measure(before=None):
        if before is None:
            tracemalloc.start(1)
            return tracemalloc.take_snapshot()
        now = tracemalloc.take_snapshot()
        tracemalloc.stop()
        rows = [(st.size_diff / n, st.count_diff / n, str(st.traceback))
                for st in now.compare_to(before, "lineno") if st.size_diff >= n * 4]
        return rows[:8]

    return parked_case(n, measure)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--objects", type=int, default=20_000, help="0: skip the tracemalloc pass")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        r = rss_breakdown(a.n) if a.one == "rss" else objects_breakdown(a.n)
        print(json.dumps(r))
        return
    run = lambda what, n: json.loads(subprocess.run(
        [sys.executable, __file__, "--one", what, "--n", str(n)], capture_output=True, text=True,
        check=True, timeout=600).stdout.strip().splitlines()[-1])
    r = run("rss", a.n)
    print("CPython %s, %d parked goroutines, per goroutine:" % (sys.version.split()[0], a.n))
    print("  RSS %.0f B" % r["rss"])
    for k, v in sorted(r["kinds"].items(), key=lambda kv: -kv[1]):
        print("    %-16s %6.0f B" % (k, v))
    print("  malloc in use %.0f B" % r["malloc"])
    if r["depth"]:
        print("  stack written below the slot's end: min %d, median %d, max %d B" % tuple(r["depth"]))
    if a.objects:
        print("  Python allocations (tracemalloc, %d goroutines):" % a.objects)
        for size, count, where in run("objects", a.objects):
            print("    %6.1f B %5.2f blocks  %s" % (size, count, where))


if __name__ == "__main__":
    main()

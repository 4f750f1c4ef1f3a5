#!/usr/bin/env python3
"""Render a libgmp execution trace (Chrome trace event JSON, from GMP_TRACE=path or
gmp_trace_start) to an SVG timeline and a PNG picture of it.

One row per P (the goroutine slices it ran, coloured by goroutine and labelled with the
goroutine's name or id, creations and steals as small marks) and one per M that has
events (its syscall slices), a time axis, the unblock -> run flow arrows, and a legend of
goroutines. Standard library only. For the PNG it tries, in order, rsvg-convert
(Debian: librsvg2-bin), ImageMagick's convert, and a headless Chromium screenshot; with
none of them it writes the SVG alone and says so.

    scripts/trace2png.py trace.json                  # trace.svg and trace.png
    scripts/trace2png.py trace.json -o docs/img/trace --start-us 500 --end-us 900
    scripts/trace2png.py trace.json --no-flows --width 2400 --no-png

The interactive view is Perfetto (https://ui.perfetto.dev, "Open trace file") or
chrome://tracing; this script makes a picture for documents and bug reports.
"""

import argparse
import colorsys
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from xml.sax.saxutils import escape

M_TID = 100_000

LABEL_W = 64  # the track names column
ROW_H = 30
ROW_GAP = 6
AXIS_H = 28
TITLE_H = 44
LEGEND_ROW_H = 18
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, monospace"


def load(path):
    with open(path) as f:
        doc = json.load(f)
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise SystemExit(f"{path}: no traceEvents list")
    return events


def goid_color(goid, light=False):
    """A stable, well-spread colour per goroutine id (golden-ratio hues)."""
    h = (goid * 0.618033988749895) % 1.0
    s, l = (0.55, 0.80) if light else (0.62, 0.55)
    r, g, b = colorsys.hls_to_rgb(h, l, s)
    return "#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255))


def nice_step(span, target=10):
    """A 1-2-5 step giving about `target` ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def fmt_us(v, step):
    """A tick label: µs below 1 ms steps, ms above."""
    if step >= 1000:
        digits = 0 if step >= 10_000 or step % 1000 == 0 else 1
        return f"{v / 1000:.{digits}f} ms"
    if step >= 1:
        return f"{v:.0f} µs"
    return f"{v:.2f} µs"


def text_w(s, size):
    """Rough width of s in px at font size `size` (DejaVu Sans averages ~0.6 em)."""
    return len(s) * size * 0.6


def fit(s, width, size):
    """s, or a prefix of it with an ellipsis, that fits `width` px; None if nothing does."""
    if text_w(s, size) <= width:
        return s
    n = int(width / (size * 0.6)) - 1
    if n < 2:
        return None
    return s[:n] + "…"


class Trace:
    def __init__(self, events):
        self.names = {}  # tid -> track name
        self.slices = []  # (tid, ts, dur, name, goid, cat)
        self.instants = []  # (tid, ts, name)
        self.flow_s = {}  # id -> (tid, ts)
        self.flow_f = {}  # id -> (tid, ts)
        self.gonames = {}  # goid -> name
        for e in events:
            ph = e.get("ph")
            tid = e.get("tid")
            if ph == "M":
                if e.get("name") == "thread_name" and tid is not None:
                    self.names[tid] = e["args"]["name"]
            elif ph == "X":
                name = e.get("name", "")
                goid = (e.get("args") or {}).get("goid")
                if goid is None and " G" in name:
                    try:
                        goid = int(name.rsplit(" G", 1)[1])
                    except ValueError:
                        goid = None
                self.slices.append((tid, float(e["ts"]), float(e.get("dur", 0)), name, goid,
                                    e.get("cat", "")))
                if goid is not None and e.get("cat") == "goroutine":
                    self.gonames.setdefault(goid, name)
            elif ph == "i":
                self.instants.append((tid, float(e["ts"]), e.get("name", "")))
            elif ph == "s":
                self.flow_s[e["id"]] = (tid, float(e["ts"]))
            elif ph == "f":
                self.flow_f[e["id"]] = (tid, float(e["ts"]))

    def span(self):
        ts = [s[1] for s in self.slices] + [s[1] + s[2] for s in self.slices]
        ts += [i[1] for i in self.instants]
        return (min(ts), max(ts)) if ts else (0.0, 1.0)


def render(tr, t0, t1, width, flows, title, all_m):
    span = max(t1 - t0, 1e-3)
    plot_w = width - LABEL_W - 16
    x_of = lambda t: LABEL_W + (t - t0) / span * plot_w  # noqa: E731

    def visible(ts, dur):
        return ts + dur >= t0 and ts <= t1

    p_tids = sorted(t for t in tr.names if t < M_TID)
    p_tids += sorted({s[0] for s in tr.slices if s[0] < M_TID} - set(p_tids))
    busy_m = {s[0] for s in tr.slices if s[0] >= M_TID and visible(s[1], s[2])}
    m_tids = sorted(t for t in tr.names if t >= M_TID and (all_m or t in busy_m))
    m_tids += sorted(busy_m - set(m_tids))
    rows = p_tids + m_tids
    row_y = {}
    y = TITLE_H + AXIS_H
    for i, t in enumerate(rows):
        if i == len(p_tids) and m_tids:
            y += 10  # a gap between the P and the M tracks
        row_y[t] = y
        y += ROW_H + ROW_GAP
    rows_end = y

    vis = [s for s in tr.slices if s[0] in row_y and visible(s[1], s[2])]
    gids = sorted({s[4] for s in vis if s[4] is not None and s[5] == "goroutine"})
    per_row = max(1, (width - 40) // 150)
    legend_rows = (math.ceil(len(gids) / per_row) if gids else 0) + 1
    height = rows_end + 16 + legend_rows * LEGEND_ROW_H + 10

    out = []
    w = out.append
    w(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
      f'viewBox="0 0 {width} {height}" font-family="{FONT}">')
    w('<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" '
      'markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" '
      'fill="#333" fill-opacity="0.75"/></marker>'
      f'<clipPath id="plot"><rect x="{LABEL_W}" y="0" width="{plot_w}" '
      f'height="{height}"/></clipPath></defs>')
    w(f'<rect width="{width}" height="{height}" fill="#ffffff"/>')
    nslices = sum(1 for s in vis if s[5] == "goroutine")
    nsys = sum(1 for s in vis if s[5] == "syscall")
    w(f'<text x="12" y="20" font-size="15" font-weight="bold">{escape(title)}</text>')
    w(f'<text x="12" y="37" font-size="11" fill="#555">{len(p_tids)} P tracks, '
      f'{len(m_tids)} M tracks with syscalls · {nslices} goroutine runs, {nsys} syscalls, '
      f'{len(gids)} goroutines · window {fmt_us(t0, 1)} – {fmt_us(t1, 1)} '
      f'({fmt_us(span, nice_step(span))})</text>')

    # Time axis and grid.
    step = nice_step(span)
    first = math.ceil(t0 / step) * step
    ax_y = TITLE_H + AXIS_H - 8
    w(f'<line x1="{LABEL_W}" y1="{ax_y}" x2="{LABEL_W + plot_w}" y2="{ax_y}" '
      f'stroke="#888"/>')
    k = 0
    while first + k * step <= t1 + 1e-9:
        t = first + k * step
        x = x_of(t)
        w(f'<line x1="{x:.1f}" y1="{ax_y - 4}" x2="{x:.1f}" y2="{rows_end - ROW_GAP}" '
          f'stroke="#e4e4e4"/>')
        w(f'<text x="{x:.1f}" y="{ax_y - 7}" font-size="10" fill="#444" '
          f'text-anchor="middle">{escape(fmt_us(t, step))}</text>')
        k += 1

    # Track backgrounds and names.
    for t in rows:
        y = row_y[t]
        name = tr.names.get(t, (f"M{t - M_TID}" if t >= M_TID else f"P{t}"))
        bg = "#f4f6fa" if t < M_TID else "#faf6f0"
        w(f'<rect x="{LABEL_W}" y="{y}" width="{plot_w}" height="{ROW_H}" fill="{bg}"/>')
        w(f'<text x="{LABEL_W - 8}" y="{y + ROW_H / 2 + 4}" font-size="12" '
          f'text-anchor="end" font-weight="bold" fill="#333">{escape(name)}</text>')
    if m_tids:
        y = row_y[m_tids[0]] - 7
        w(f'<text x="{LABEL_W + 2}" y="{y}" font-size="9" fill="#8a6d3b">'
          f'OS threads (M) in syscalls</text>')

    # Slices.
    w('<g clip-path="url(#plot)">')
    for tid, ts, dur, name, goid, cat in vis:
        y = row_y[tid]
        x0 = max(x_of(ts), LABEL_W)
        x1 = min(x_of(ts + dur), LABEL_W + plot_w)
        sw = max(x1 - x0, 0.8)
        if cat == "syscall":
            fill, stroke = goid_color(goid or 0, light=True), goid_color(goid or 0)
            w(f'<rect x="{x0:.2f}" y="{y + 5}" width="{sw:.2f}" height="{ROW_H - 10}" '
              f'fill="{fill}" stroke="{stroke}" stroke-width="1" stroke-dasharray="3,2">'
              f'<title>{escape(name)} {dur:.1f} µs</title></rect>')
            label = fit(name, sw - 6, 10)
            if label:
                w(f'<text x="{x0 + 3:.2f}" y="{y + ROW_H / 2 + 3.5}" font-size="10" '
                  f'fill="#5a3d10">{escape(label)}</text>')
            continue
        fill = goid_color(goid or 0)
        w(f'<rect x="{x0:.2f}" y="{y + 2}" width="{sw:.2f}" height="{ROW_H - 4}" '
          f'fill="{fill}" stroke="#ffffff" stroke-width="0.6">'
          f'<title>{escape(name)} (G{goid}) {dur:.1f} µs</title></rect>')
        label = fit(name, sw - 4, 10)
        if label:
            w(f'<text x="{x0 + 2:.2f}" y="{y + ROW_H / 2 + 3.5}" font-size="10" '
              f'fill="#ffffff">{escape(label)}</text>')
    # Instants: creations (green) and steals (purple), as marks on the track's top edge.
    for tid, ts, name in tr.instants:
        if tid not in row_y or not (t0 <= ts <= t1):
            continue
        x, y = x_of(ts), row_y[tid]
        color = "#2e7d32" if name.startswith("create") else "#6a1b9a"
        w(f'<path d="M{x - 3.5:.2f},{y - 4} L{x + 3.5:.2f},{y - 4} L{x:.2f},{y + 2} z" '
          f'fill="{color}"><title>{escape(name)}</title></path>')
    # Flows: from where a goroutine was made ready to where it next ran.
    if flows:
        for fid, (ftid, fts) in tr.flow_f.items():
            s = tr.flow_s.get(fid)
            if s is None or s[0] not in row_y or ftid not in row_y:
                continue
            stid, sts = s
            if not (t0 <= sts <= t1 and t0 <= fts <= t1):
                continue
            x0, x1 = x_of(sts), x_of(fts)
            if x1 - x0 < 2 and stid == ftid:
                continue
            y0 = row_y[stid] + ROW_H / 2
            y1 = row_y[ftid] + ROW_H / 2
            if stid == ftid:
                cy = y0 - ROW_H * 0.9
                d = f"M{x0:.2f},{y0:.1f} Q{(x0 + x1) / 2:.2f},{cy:.1f} {x1:.2f},{y1:.1f}"
            else:
                d = f"M{x0:.2f},{y0:.1f} L{x1:.2f},{y1:.1f}"
            w(f'<path d="{d}" fill="none" stroke="#333" stroke-opacity="0.45" '
              f'stroke-width="0.9" marker-end="url(#arrow)"/>')
    w('</g>')

    # Legend: goroutine colours.
    y = rows_end + 14
    for i, g in enumerate(gids):
        col, row = i % per_row, i // per_row
        x = 16 + col * 150
        yy = y + row * LEGEND_ROW_H
        name = tr.gonames.get(g, f"G{g}")
        label = name if name == f"G{g}" else f"{name} (G{g})"
        w(f'<rect x="{x}" y="{yy - 9}" width="12" height="12" fill="{goid_color(g)}"/>')
        w(f'<text x="{x + 17}" y="{yy + 1}" font-size="11" fill="#333">'
          f'{escape(fit(label, 128, 11) or "")}</text>')
    # Legend: the marks.
    yy = y + (math.ceil(len(gids) / per_row) if gids else 0) * LEGEND_ROW_H
    x = 16
    marks = (("#2e7d32", "goroutine created"), ("#6a1b9a", "this P stole a goroutine"))
    for color, label in marks:
        w(f'<path d="M{x},{yy - 8} L{x + 10},{yy - 8} L{x + 5},{yy + 1} z" fill="{color}"/>')
        w(f'<text x="{x + 15}" y="{yy + 1}" font-size="11" fill="#333">{label}</text>')
        x += 30 + int(text_w(label, 11))
    if flows:
        w(f'<path d="M{x},{yy - 3} L{x + 22},{yy - 3}" stroke="#333" stroke-opacity="0.6" '
          f'marker-end="url(#arrow)"/>')
        w(f'<text x="{x + 28}" y="{yy + 1}" font-size="11" fill="#333">made ready → '
          f'runs (flow)</text>')
        x += 60 + int(text_w("made ready → runs (flow)", 11))
    w(f'<rect x="{x}" y="{yy - 9}" width="22" height="11" fill="#f0e0c0" stroke="#a07020" '
      f'stroke-dasharray="3,2"/>')
    w(f'<text x="{x + 28}" y="{yy + 1}" font-size="11" fill="#333">syscall on an M '
      f'(gmp_blocking, fd hand-off)</text>')
    w('</svg>')
    return "\n".join(out) + "\n", width, height


def real_imagemagick():
    exe = shutil.which("convert")
    if not exe:
        return None
    try:
        v = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if "ImageMagick" in v.stdout else None


def to_png(svg, png, width, height):
    """Converts svg to png with the first tool that works; returns its name or None."""
    tools = []
    if shutil.which("rsvg-convert"):
        tools.append(("rsvg-convert", ["rsvg-convert", "-b", "white", "-o", png, svg]))
    im = real_imagemagick()
    if im:
        tools.append(("convert", [im, "-background", "white", "-density", "96", svg, png]))
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        exe = shutil.which(name)
        if exe:
            tools.append((name, [exe, "--headless", "--no-sandbox", "--disable-gpu",
                                 "--hide-scrollbars", f"--screenshot={os.path.abspath(png)}",
                                 f"--window-size={width},{height}",
                                 "file://" + os.path.abspath(svg)]))
            break
    for name, cmd in tools:
        try:
            if os.path.exists(png):
                os.unlink(png)
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            print(f"trace2png: {name} failed: {e}", file=sys.stderr)
            continue
        if r.returncode == 0 and os.path.exists(png) and os.path.getsize(png) > 0:
            return name
        print(f"trace2png: {name} failed: {r.stderr.strip()[:300]}", file=sys.stderr)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trace", help="trace JSON file (GMP_TRACE=path)")
    ap.add_argument("-o", "--out", help="output path without extension (default: the "
                    "trace's path without .json)")
    ap.add_argument("--start-us", type=float, help="window start, µs from the trace start")
    ap.add_argument("--end-us", type=float, help="window end, µs from the trace start")
    ap.add_argument("--width", type=int, default=1600, help="picture width in px")
    ap.add_argument("--title", help="title line (default: the file name)")
    ap.add_argument("--no-flows", action="store_true", help="leave out the flow arrows")
    ap.add_argument("--all-m", action="store_true",
                    help="show every M track, also those without a syscall")
    ap.add_argument("--no-png", action="store_true", help="write the SVG only")
    a = ap.parse_args()

    tr = Trace(load(a.trace))
    lo, hi = tr.span()
    t0 = lo if a.start_us is None else a.start_us
    t1 = hi if a.end_us is None else a.end_us
    if t1 <= t0:
        raise SystemExit("trace2png: empty window")
    title = a.title or f"libgmp trace: {os.path.basename(a.trace)}"
    svg, w, h = render(tr, t0, t1, a.width, not a.no_flows, title, a.all_m)
    base = a.out or (a.trace[:-5] if a.trace.endswith(".json") else a.trace)
    svg_path, png_path = base + ".svg", base + ".png"
    with open(svg_path, "w") as f:
        f.write(svg)
    print(f"wrote {svg_path} ({w}x{h})")
    if a.no_png:
        return 0
    tool = to_png(svg_path, png_path, w, h)
    if tool is None:
        print("trace2png: no SVG to PNG converter worked; install one of: librsvg2-bin "
              "(rsvg-convert), imagemagick, chromium", file=sys.stderr)
        return 3
    print(f"wrote {png_path} (with {tool})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

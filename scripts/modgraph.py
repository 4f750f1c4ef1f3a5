#!/usr/bin/env python3
"""Module import graph of the crate's src/ (issue 17's layering check).

Edges come from every `crate::a::b` and `super::a` path in a module's code (comments and
`#[cfg(test)] mod tests` left out), with `use` trees such as `crate::{a, b::{c, d}}`
expanded. Prints each strongly connected component of more than one module (Tarjan),
largest first; `-v` also prints every module's edges.

Usage: scripts/modgraph.py [src] [-v]
"""
import collections
import os
import re
import sys

args = [a for a in sys.argv[1:] if a != "-v"]
root = args[0] if args else "src"
mods = {}
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith(".rs"):
            continue
        p = os.path.join(dp, f)
        rel = os.path.relpath(p, root)[:-3].split(os.sep)
        if rel[-1] in ("mod", "lib"):
            rel = rel[:-1]
        with open(p) as fh:
            mods["::".join(rel) or "crate"] = fh.read()
names = set(mods)


def resolve(path):
    parts = path.split("::")
    for k in range(len(parts), 0, -1):
        cand = "::".join(parts[:k])
        if cand in names:
            return cand
    return None


def expand(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e'] (a use tree, no spaces)."""
    m = re.match(r"^([^{]*)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, body = m.group(1), m.group(2)
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    out = []
    for it in items:
        it = it.split(" as ")[0].strip()
        if it in ("", "self"):
            out.append(prefix.rstrip(":"))
        elif it != "*":
            out.extend(expand(prefix + it))
    return out


edges = collections.defaultdict(set)
for m, src in mods.items():
    src = re.sub(r"//[^\n]*", "", src)
    src = re.split(r"#\[cfg\(test\)\]\s*mod tests", src)[0]
    paths = []
    for u in re.finditer(r"\buse\s+([^;]+);", src):
        tree = re.sub(r"\s+", "", u.group(1)).replace("as", " as ")
        paths.extend(expand(tree))
    paths.extend(re.findall(r"(?:crate|super)(?:::[A-Za-z_0-9]+)+", src))
    parent = m.rsplit("::", 1)[0] if "::" in m else ""
    for path in paths:
        if path.startswith("crate::"):
            t = resolve(path[len("crate::"):])
        elif path.startswith("super::"):
            t = resolve((parent + "::" if parent else "") + path[len("super::"):])
        else:
            continue
        if t and t != m and not m.startswith(t + "::") and t != "crate":
            edges[m].add(t)

idx, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)


def strongconnect(v):
    idx[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in idx:
            strongconnect(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        comps.append(comp)


for v in sorted(names):
    if v not in idx:
        strongconnect(v)
for comp in sorted(comps, key=len, reverse=True):
    if len(comp) > 1:
        print(len(comp), sorted(comp))
if "-v" in sys.argv:
    for m in sorted(edges):
        print(m, "->", sorted(edges[m]))

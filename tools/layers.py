#!/usr/bin/env python3
"""Checks that src/ reads bottom-up: no layer imports one above it (the
order of LAYERS), no files import each other in a circle, and at every
depth no sibling modules import each other in a circle (a module's files
taken as one: `domain::rules::load` and `domain::rules::correlation` are
siblings under `domain::rules`).

A module's own files may use its parent's items (the parent declares it):
an import of an ancestor is not an edge. Test code (`#[cfg(test)] mod`
blocks and files named tests.rs or *_tests.rs), the binaries and the
fuzzing checks are left out: tests may reach anywhere. Exit status 1 lists
every circle and every upward import; `-v` prints the graph."""
import os, re, sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
# Lower layers first: each may import only those before it and itself.
LAYERS = ["domain", "render", "intake", "adapters", "config", "app", "lambda"]

def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return rel

def strip_comments(text):
    # Doc links name modules too, but a mention is not an import.
    return re.sub(r"//[^\n]*", "", text)

def strip_tests(text):
    # Drop everything from the first inline `#[cfg(test)] mod … {` on: by
    # convention test modules sit at the end of a file.
    m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([a-z]+\))? )?mod \w+\s*\{", text)
    return text if m is None else text[:m.start()]

def files():
    for root, _, names in os.walk(SRC):
        for n in names:
            if n.endswith(".rs") and n != "tests.rs" and not n.endswith("_tests.rs"):
                p = os.path.join(root, n)
                if "/bin/" in p or p.endswith("fuzzing.rs"):
                    continue
                yield p

USE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")

def resolve(mod, known, prefix, rest, is_dir):
    base = [] if prefix == "crate" else (mod[:-1] if prefix == "super" and not is_dir else mod[:-1] if prefix == "super" else mod)
    if prefix == "super" and is_dir:
        base = mod[:-1]
    if prefix == "self":
        base = mod
    parts = base + [p for p in rest.split("::") if p]
    # The longest prefix that names a known module.
    for k in range(len(parts), 0, -1):
        if tuple(parts[:k]) in known:
            return tuple(parts[:k])
    return None

def main():
    mods = {}
    for p in files():
        m = module_of(p)
        mods[tuple(m)] = (p, os.path.basename(p) == "mod.rs")
    known = set(mods)
    edges = {m: set() for m in mods}
    for m, (p, is_dir) in mods.items():
        text = strip_comments(strip_tests(open(p).read()))
        # Handle `use crate::x::{a, b::c}` groups by expanding one level.
        for g in re.finditer(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^}]*)\}", text):
            for item in g.group(3).split(","):
                item = item.strip().split(" as ")[0]
                if item:
                    t = resolve(list(m), known, g.group(1), g.group(2) + "::" + item.replace("{", ""), is_dir)
                    if t and t != m and not (len(t) < len(m) and m[:len(t)] == t):
                        edges[m].add(t)
        for u in USE.finditer(text):
            t = resolve(list(m), known, u.group(1), u.group(2), is_dir)
            if t and t != m and not (len(t) < len(m) and m[:len(t)] == t):
                edges[m].add(t)
    bad = 0
    # Upward imports across layers.
    for m, ts in edges.items():
        for t in ts:
            if m[0] in LAYERS and t[0] in LAYERS and LAYERS.index(t[0]) > LAYERS.index(m[0]):
                print(f"upward: {'::'.join(m)} imports {'::'.join(t)}")
                bad += 1
    # Circles, among files and among each layer's modules (a module's
    # files taken as one): Tarjan's strongly connected components.
    def circles(graph):
        index, low, stack, on, found, n = {}, {}, [], set(), [], [0]
        def visit(v):
            index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
            for w in graph[v]:
                if w not in index:
                    visit(w); low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v: break
                if len(comp) > 1:
                    found.append(comp)
        for v in graph:
            if v not in index:
                visit(v)
        return found
    sys.setrecursionlimit(10000)
    # Siblings at every depth: modules grouped by their first `depth` names,
    # edges kept between groups under one parent.
    groupings = []
    for depth in range(2, max(len(m) for m in edges) + 1):
        grouped = {}
        for m, ts in edges.items():
            if len(m) < depth:
                continue
            g = grouped.setdefault(m[:depth], set())
            for t in ts:
                if len(t) >= depth and t[:depth] != m[:depth] and t[: depth - 1] == m[: depth - 1]:
                    g.add(t[:depth])
        for targets in list(grouped.values()):
            for t in targets:
                grouped.setdefault(t, set())
        groupings.append(grouped)
    seen = set()
    found = circles(edges)
    for grouped in groupings:
        found += circles(grouped)
    for comp in found:
        names = tuple(sorted("::".join(c) for c in comp))
        if names not in seen:
            seen.add(names)
            bad += 1
            print("circle: " + ", ".join(names))
    if "-v" in sys.argv:
        for m in sorted(edges):
            print("::".join(m), "->", ", ".join(sorted("::".join(t) for t in edges[m])))
    sys.exit(1 if bad else 0)

main()

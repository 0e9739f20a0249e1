#!/usr/bin/env python3
"""The crate's module graph: which top-level module of src/ uses which other.

    python3 tools/module_graph.py            # prints the floors; exit 1 on a cycle
    python3 tools/module_graph.py --dot      # Graphviz of the graph

A module A uses B when a `use crate::B…` line or a `crate::B::` path appears in A's files outside
doc comments, comments and `#[cfg(test)]` modules. The binaries (src/bin) are above everything.
A cycle (A uses B and B uses A, directly or through others) is an error: each module should be
learnable from the floors below it.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
# Items lib.rs re-exports at the crate root, and the module each comes from.
REEXPORTS = {"Backend": "backend", "Error": "error", "Result": "error", "Predictor": "predictor", "RunConfig": "run"}


def top_modules():
    mods = {}
    for entry in sorted(os.listdir(ROOT)):
        path = os.path.join(ROOT, entry)
        if entry in ("lib.rs", "bin"):
            continue
        if entry.endswith(".rs"):
            mods[entry[:-3]] = [path]
        elif os.path.isdir(path):
            mods[entry] = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")]
    return mods


def code_lines(path):
    """Source lines without comments and without `#[cfg(test)] mod … { … }` blocks."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out, skip_depth, pending_cfg_test = [], None, False
    for line in lines:
        stripped = line.strip()
        if skip_depth is not None:
            skip_depth += line.count("{") - line.count("}")
            if skip_depth <= 0:
                skip_depth = None
            continue
        if stripped.startswith("#[cfg(test)]"):
            pending_cfg_test = True
            continue
        if pending_cfg_test and stripped.startswith("mod "):
            pending_cfg_test = False
            depth = line.count("{") - line.count("}")
            skip_depth = depth if depth > 0 else None
            continue
        pending_cfg_test = False
        if stripped.startswith("//"):
            continue
        out.append(re.sub(r"//.*$", "", line))
    return out


def graph():
    mods = top_modules()
    names = set(mods)
    edges = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            text = "\n".join(code_lines(f))
            for used in re.findall(r"crate::([A-Za-z_]+)", text):
                used = REEXPORTS.get(used, used)
                if used in names and used != m:
                    edges[m].add(used)
            # `use crate::{a, b::c}` groups
            for group in re.findall(r"use crate::\{([^}]*)\}", text, re.S):
                for used in re.findall(r"(?:^|[,\s{])([a-z_]+)(?:::|\s*[,}]|$)", group):
                    if used in names and used != m:
                        edges[m].add(used)
    return edges


def floors(edges):
    """Longest-path layering; None when there is a cycle."""
    level, visiting = {}, set()

    def depth(m, path):
        if m in level:
            return level[m]
        if m in visiting:
            raise ValueError(" → ".join(path + [m]))
        visiting.add(m)
        d = 1 + max((depth(u, path + [m]) for u in edges[m]), default=0)
        visiting.discard(m)
        level[m] = d
        return d

    for m in edges:
        depth(m, [])
    return level


def main():
    edges = graph()
    if "--dot" in sys.argv:
        print("digraph trajrnn {\n  rankdir=BT;")
        for m, us in sorted(edges.items()):
            for u in sorted(us):
                print(f'  "{m}" -> "{u}";')
        print("}")
        return 0
    try:
        level = floors(edges)
    except ValueError as cycle:
        print(f"cycle: {cycle}")
        return 1
    for f in range(1, max(level.values()) + 1):
        row = sorted(m for m, l in level.items() if l == f)
        print(f"floor {f}: " + ", ".join(f"{m} (uses {', '.join(sorted(edges[m])) or 'nothing'})" for m in row))
    print("no cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())

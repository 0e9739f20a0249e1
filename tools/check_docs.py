#!/usr/bin/env python3
"""Checks that the README and docs/ cannot go stale silently:

    python3 tools/check_docs.py      # exit 1 with the problems listed

- the README's "Layout" table names exactly the top-level modules of src/ (each once);
- every repository path the README and docs/*.md mention in backticks (src/…, tests/…, docs/…,
  examples/…, tools/…, datasets/…, kernels/…, .ci/…) exists;
- the README states no test count (counts went stale; `cargo test` prints the real one);
- the README's table against PyTorch is, line for line, the one `tools/bench_vs_pytorch.py` last
  wrote to `docs/records/bench/vs_pytorch.md` (beside its raw record).
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PREFIXES = ("src/", "tests/", "docs/", "examples/", "tools/", "datasets/", "kernels/", "python/", ".ci/")


def modules():
    src = os.path.join(ROOT, "src")
    out = set()
    for entry in os.listdir(src):
        if entry in ("lib.rs", "bin"):
            continue
        if entry.endswith(".rs"):
            out.add(entry[:-3])
        elif os.path.isdir(os.path.join(src, entry)):
            out.add(entry)
    return out


def layout_modules(readme):
    section = readme.split("\n## Layout", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in section.splitlines():
        if line.startswith("| `") and not line.startswith(("| `kernels/", "| `python/")):
            first = line.split("|")[1]
            names += re.findall(r"`([a-z_]+)`", first)
    return names


def main():
    problems = []
    readme = open(os.path.join(ROOT, "README.md")).read()
    listed = layout_modules(readme)
    dupes = {m for m in listed if listed.count(m) > 1}
    have = modules()
    if dupes:
        problems.append(f"README Layout lists {sorted(dupes)} more than once")
    if set(listed) != have:
        missing, extra = sorted(have - set(listed)), sorted(set(listed) - have)
        problems.append(f"README Layout: modules missing {missing}, not in src/ {extra}")
    docs = ["README.md"] + [os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md")]
    for doc in docs:
        text = open(os.path.join(ROOT, doc)).read()
        for path in set(re.findall(r"`([^`\s]+)`", text)):
            path = path.split(":")[0].rstrip("/.,")
            if path.startswith(PREFIXES) and "*" not in path and "<" not in path and not os.path.exists(os.path.join(ROOT, path)):
                problems.append(f"{doc}: `{path}` does not exist")
    if re.search(r"\b\d+ tests\b", readme):
        problems.append("README states a test count; `cargo test` prints the real one")
    table = os.path.join(ROOT, "docs/records/bench/vs_pytorch.md")
    if os.path.exists(table):
        for line in open(table).read().splitlines():
            if line.strip() and line not in readme.splitlines():
                problems.append(f"README lacks this line of docs/records/bench/vs_pytorch.md: {line[:80]}…")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

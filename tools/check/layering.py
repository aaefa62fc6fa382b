#!/usr/bin/env python3
"""Checks that includes inside include/mir/ only run down the layers of
docs/architecture.md and that there is no include cycle. Exit 1 with the
offending includes listed. Usage: layering.py [include_dir]"""
import pathlib
import re
import sys

# Rank of each part; an include must go to a part of the same or a lower rank.
# Same-rank parts that must not see each other are listed in FORBIDDEN.
RANKS = {
    "detail": 0, "config.hpp": 0, "error.hpp": 0, "element.hpp": 0, "precision.hpp": 0, "mask.hpp": 0,
    "progress.hpp": 0,
    "backend": 1,
    "adapters": 2,
    "stats": 3,
    "linalg": 4,
    "metric": 5,
    "io": 2,       # beside the numerics: file formats only (base + nlohmann_json + libzip)
    "moca": 6,     # beside source: consumes stats and metric
    "source": 6,
    "cuda": 7,
    "mpi.hpp": 7,
    "mir.hpp": 8,  # the umbrella
}
FORBIDDEN = {("io", "adapters"), ("adapters", "io"), ("moca", "source"), ("source", "moca"),
             ("stats", "linalg"), ("io", "stats"), ("io", "linalg"), ("io", "metric")}


def part(rel):
    first = rel.split("/")[0]
    return first if first in RANKS else None


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "include") / "mir"
    graph, bad = {}, []
    for f in sorted(root.rglob("*.hpp")):
        rel = f.relative_to(root).as_posix()
        p = part(rel)
        if p is None:
            bad.append(f"{rel}: not in a known layer (add it to tools/check/layering.py and docs/architecture.md)")
            continue
        deps = re.findall(r'^\s*#\s*include\s+"mir/([^"]+)"', f.read_text(), re.M)
        graph[rel] = deps
        for d in deps:
            q = part(d)
            if q is None:
                bad.append(f"{rel}: includes mir/{d}, which is in no known layer")
            elif q != p and (RANKS[q] > RANKS[p] or (p, q) in FORBIDDEN):
                bad.append(f"{rel} ({p}) includes mir/{d} ({q}): an include running upward or sideways")
    # Cycles (depth-first search over header files).
    state = {}

    def visit(n, stack):
        state[n] = 1
        for m in graph.get(n, []):
            if state.get(m) == 1:
                bad.append("include cycle: " + " -> ".join(stack[stack.index(m):] + [m]) if m in stack else m)
            elif state.get(m) is None and m in graph:
                visit(m, stack + [m])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [n])
    for b in bad:
        print(b)
    print(f"layering: {len(graph)} headers, {sum(len(v) for v in graph.values())} includes, {len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

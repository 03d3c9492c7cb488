#!/usr/bin/env python3
"""The house check: every #include of the C code runs down or sideways, never up, and no
modules include each other in a circle.

The layer order is the file src/LAYERS (one folder or file per line, from the ground up).
A module is a .c file and the .h of the same path (fork.c and fork.h are one module).
Includes are resolved as the build resolves them: beside the including file, then in
include/, src/, guest/runtime and bench/. An include that resolves to no file of the tree
(a system header) is not the tree's business.

    tests/layers.py [ROOT]      exit 0: the house is right; 1: each problem printed

Prints the layers with their modules' count and, on failure, every upward include
(file:line -> header, with both layers) and every circle (its modules in order).
"""
import os
import re
import sys

INCLUDE_DIRS = ["include", "src", "guest/runtime", "bench"]
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def read_layers(root):
    layers = []
    with open(os.path.join(root, "src", "LAYERS")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                layers.append(line.rstrip("/"))
    return layers


def layer_of(path, layers):
    """The index of the layer holding path (relative to root), the longest match; None if
    none does."""
    best, best_len = None, -1
    for i, layer in enumerate(layers):
        if (path == layer or path.startswith(layer + "/")) and len(layer) > best_len:
            best, best_len = i, len(layer)
    return best


def sources(root, layers):
    for layer in layers:
        top = os.path.join(root, layer)
        if os.path.isfile(top):
            yield layer
            continue
        for d, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                if name.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(d, name), root)


def resolve(root, including, target):
    for base in [os.path.dirname(including)] + INCLUDE_DIRS:
        p = os.path.normpath(os.path.join(base, target))
        if os.path.isfile(os.path.join(root, p)):
            return p
    return None


def module(path):
    return os.path.splitext(path)[0]


def find_circles(edges):
    """Strongly connected components of more than one module (Tarjan), each as a sorted
    list, plus modules that include themselves through another of their files."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def check(root):
    layers = read_layers(root)
    problems = []
    edges = {}
    counts = [set() for _ in layers]
    for path in sources(root, layers):
        li = layer_of(path, layers)
        counts[li].add(module(path))
        with open(os.path.join(root, path), errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                target = resolve(root, path, m.group(1))
                if target is None:
                    continue
                ti = layer_of(target, layers)
                if ti is None:
                    problems.append("%s:%d: includes %s, which is in no layer of src/LAYERS"
                                    % (path, n, target))
                    continue
                if ti > li:
                    problems.append("%s:%d: includes %s: upward, from layer %s to layer %s"
                                    % (path, n, target, layers[li], layers[ti]))
                a, b = module(path), module(target)
                if a != b:
                    edges.setdefault(a, set()).add(b)
    for comp in find_circles(edges):
        problems.append("circle: " + " -> ".join(comp) + " (each includes another of them)")
    return layers, counts, problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    root = os.path.abspath(root)
    layers, counts, problems = check(root)
    print("layers (src/LAYERS, from the ground up): " +
          ", ".join("%s %d" % (l, len(c)) for l, c in zip(layers, counts)))
    for p in problems:
        print("FAIL " + p)
    if problems:
        print("layers: %d problem(s): an include runs upward or files include each other "
              "in a circle" % len(problems))
        return 1
    print("layers: every include runs down or sideways, no circles")
    return 0


if __name__ == "__main__":
    sys.exit(main())

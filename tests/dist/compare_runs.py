"""Compares two vbpr-train runs: model files (doc/model-format.md) equal to
a float tolerance, and every metric of every evaluation in their --json
files equal. Usage: compare_runs.py A.vbm B.vbm A.json B.json"""
import json
import struct
import sys

import numpy as np


def tables(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:8] != b"VBPRMODL":
        sys.exit(f"{path}: not a libvbpr model file")
    dim, = struct.unpack_from("<i", raw, 24)
    users, items = struct.unpack_from("<qq", raw, 32)
    payload = np.frombuffer(raw, dtype="<f4", count=(users + items) * dim, offset=64)
    return payload.reshape(users + items, dim), users


def metrics(path):
    with open(path) as f:
        doc = json.load(f)
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            for k in sorted(node):
                walk(node[k], f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")
        elif isinstance(node, float) and "second" not in where:
            found.append((where, node))

    walk(doc.get("runs", doc), "")
    return found


def main():
    a, nu = tables(sys.argv[1])
    b, _ = tables(sys.argv[2])
    if a.shape != b.shape:
        sys.exit(f"shapes differ: {a.shape} vs {b.shape}")
    rel = np.abs(a - b) / (1e-3 + np.abs(b))
    worst = float(rel.max())
    print(f"parameters: {a.shape[0]} rows x {a.shape[1]}, largest relative difference "
          f"{worst:.2e} (bound 1e-3)")
    if not worst < 1e-3:
        sys.exit("parameters differ")
    ma, mb = metrics(sys.argv[3]), metrics(sys.argv[4])
    if [k for k, _ in ma] != [k for k, _ in mb] or not ma:
        sys.exit("the result files list different values")
    bad = [(k, x, y) for (k, x), (_, y) in zip(ma, mb) if abs(x - y) > 1e-4]
    print(f"metrics: {len(ma)} values compared, {len(bad)} differ by more than 1e-4")
    for k, x, y in bad[:10]:
        print(f"  {k}: {x} vs {y}")
    if bad:
        sys.exit("metrics differ")


main()

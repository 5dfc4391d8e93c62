#!/usr/bin/env python3
"""Accuracy reproduction on the shared data sets with vbpr-train.

    bench/reproduce/reproduce.py VBPR_TRAIN DATA_DIR OUT_DIR TASK [--jobs 2]

TASK is one of: ml100k-grid-c, ml100k-grid-mn, ml100k-seeds (uses the best
grid point for the paper's estimator), gowalla.
Each run writes OUT_DIR/<name>.json (vbpr-train --json); existing results
are reused, so an interrupted task resumes. TASK `summarize` prints Markdown
tables of what OUT_DIR holds; `heatmaps` writes the grids as PNG files into
the folder given as DATA_DIR.
"""
import argparse
import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys

SEEDS = [1, 2, 3, 4, 5]
ML_COMMON = ["--dim", "64", "--lr", "1e-3", "--batch", "1024", "--epochs", "100",
             "--eval-every", "5", "--k", "20", "--quiet"]
ML_L2 = {"mf": ["--encoder", "mf", "--l2", "1e-5"],
         "lightgcn": ["--encoder", "lightgcn", "--layers", "1", "--l2", "1e-6"]}
BEST = ["--estimator", "elbo", "--neg-attention", "easy", "--prior-good", "1",
        "--prior-bad", "0.5", "--neg-hardness", "0.5", "--c", "4", "-M", "2", "-N", "4"]
GRID_C = [0.1, 0.5, 1, 2, 5, 10]
GRID_MN = [1, 2, 3, 4, 5, 6]


def ml_data(data):
    d = os.path.join(data, "ml-100k")
    return ["--train", f"{d}/train.tsv", "--test", f"{d}/test.tsv",
            "--items-from", f"{d}/ratings.tsv"]


def paper_args(c_pos=4, c_neg=4, m=2, n=4):
    return ["--loss", "variational", "--estimator", "prototype", "--neg-attention", "hard",
            "--c-pos", str(c_pos), "--c-neg", str(c_neg), "-M", str(m), "-N", str(n)]


def jobs_for(task, data, best_c=(4, 4), epochs=100):
    jobs = []
    if task == "ml100k-seeds":
        for enc in ("mf", "lightgcn"):
            for label, extra in (("bpr", ["--loss", "bpr"]),
                                 ("paper", paper_args(*best_c)),
                                 ("best", ["--loss", "variational"] + BEST)):
                for s in SEEDS:
                    jobs.append((f"ml100k-{enc}-{label}-s{s}",
                                 ml_data(data) + ML_COMMON + ML_L2[enc] + extra + ["--seed", str(s)]))
    elif task == "ml100k-grid-c":
        for cp in GRID_C:
            for cn in GRID_C:
                jobs.append((f"ml100k-grid-c-{cp}-{cn}",
                             ml_data(data) + ML_COMMON + ML_L2["mf"] + paper_args(cp, cn) + ["--seed", "1"]))
    elif task == "ml100k-grid-mn":
        for m in GRID_MN:
            for n in GRID_MN:
                jobs.append((f"ml100k-grid-mn-{m}-{n}",
                             ml_data(data) + ML_COMMON + ML_L2["mf"] + paper_args(best_c[0], best_c[1], m, n)
                             + ["--seed", "1"]))
    elif task == "gowalla":
        g = os.path.join(data, "gowalla")
        common = ["--train", f"{g}/train.txt", "--test", f"{g}/test.txt", "--dim", "128",
                  "--lr", "1e-3", "--batch", "2048", "--epochs", str(epochs), "--eval-every", "10",
                  "--k", "20", "--quiet", "--optimizer", "lazy-adam", "--seed", "1"]
        vb = ["--loss", "variational", "-M", "2", "-N", "16", "--c", "8"]
        for enc, l2 in (("mf", ["--encoder", "mf", "--l2", "1e-6"]),
                        ("lgcn1", ["--encoder", "lightgcn", "--layers", "1", "--l2", "5e-7"]),
                        ("lgcn2", ["--encoder", "lightgcn", "--layers", "2", "--l2", "5e-7"])):
            for label, extra in (("bpr", ["--loss", "bpr"]), ("vbpr", vb)):
                jobs.append((f"gowalla-{enc}-{label}", common + l2 + extra))
    else:
        raise SystemExit(f"unknown task {task}")
    return jobs


def run(binary, out, name, args, threads):
    path = os.path.join(out, name + ".json")
    if os.path.exists(path):
        return name, "cached"
    env = dict(os.environ, VBPR_NUM_THREADS=str(threads))
    r = subprocess.run([binary] + args + ["--json", path], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return name, f"failed ({r.returncode}): {r.stderr.strip()[-300:]}"
    return name, "ok"


def load(out, name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.load(f)["runs"][-1]


def best(run, metric="recall"):
    return run["best"][metric]["20"]["value"]


def best_grid(out, prefix, keys):
    top = None
    for a in keys:
        for b in keys:
            name = f"{prefix}-{a}-{b}"
            if os.path.exists(os.path.join(out, name + ".json")):
                r = best(load(out, name))
                if top is None or r > top[0]:
                    top = (r, a, b)
    return top


def summarize(out):
    lines = []
    for enc in ("mf", "lightgcn"):
        for label in ("bpr", "paper", "best"):
            rec, ndcg, sec = [], [], []
            for s in SEEDS:
                name = f"ml100k-{enc}-{label}-s{s}"
                if os.path.exists(os.path.join(out, name + ".json")):
                    r = load(out, name)
                    rec.append(best(r))
                    ndcg.append(best(r, "ndcg"))
                    sec.append(r["train_seconds"] / max(1, r["epochs"]))
            if rec:
                sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
                lines.append(f"| {enc} | {label} | {len(rec)} | {statistics.mean(rec):.4f} ± {sd(rec):.4f} "
                             f"| {statistics.mean(ndcg):.4f} ± {sd(ndcg):.4f} | {statistics.median(sec)*1000:.0f} |")
    if lines:
        print("| encoder | loss | seeds | Recall@20 | NDCG@20 | ms/epoch |")
        print("| --- | --- | --- | --- | --- | --- |")
        print("\n".join(lines))
    for prefix, keys, title in (("ml100k-grid-c", GRID_C, "c_pos \\ c_neg"),
                                ("ml100k-grid-mn", GRID_MN, "M \\ N")):
        rows = []
        for a in keys:
            cells = []
            for b in keys:
                name = f"{prefix}-{a}-{b}"
                p = os.path.join(out, name + ".json")
                cells.append(f"{best(load(out, name)):.4f}" if os.path.exists(p) else "")
            rows.append(f"| {a} | " + " | ".join(cells) + " |")
        if any(c.strip("| ") for c in rows):
            print(f"\nRecall@20, {prefix}:\n")
            print(f"| {title} | " + " | ".join(str(k) for k in keys) + " |")
            print("|" + " --- |" * (len(keys) + 1))
            print("\n".join(rows))
    gl = []
    for enc in ("mf", "lgcn1", "lgcn2"):
        for label in ("bpr", "vbpr"):
            name = f"gowalla-{enc}-{label}"
            if os.path.exists(os.path.join(out, name + ".json")):
                r = load(out, name)
                be = r["best"]["recall"]["20"]
                gl.append(f"| {enc} | {label} | {be['value']:.4f} (epoch {be['epoch']}) | "
                          f"{best(r, 'ndcg'):.4f} | {r['train_seconds']/max(1,r['epochs']):.2f} |")
    if gl:
        print("\n| gowalla encoder | loss | Recall@20 (epoch) | NDCG@20 | s/epoch |")
        print("| --- | --- | --- | --- | --- |")
        print("\n".join(gl))


def write_png(path, grid, cell=48):
    """A heat map of grid (rows of floats or None) as a PNG, stdlib only:
    dark blue for the lowest value, yellow for the highest, grey if absent."""
    import struct
    import zlib
    vals = [v for row in grid for v in row if v is not None]
    lo, hi = min(vals), max(vals)

    def colour(v):
        if v is None:
            return (128, 128, 128)
        t = (v - lo) / (hi - lo) if hi > lo else 1.0
        return (int(40 + 215 * t), int(30 + 190 * t), int(120 - 90 * t))

    raw = bytearray()
    for row in grid:
        line = bytearray([0])
        for v in row:
            line += bytes(colour(v)) * cell
        raw += bytes(line) * cell
    h, w = len(grid) * cell, len(grid[0]) * cell

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def heatmaps(out, dest):
    for prefix, keys in (("ml100k-grid-c", GRID_C), ("ml100k-grid-mn", GRID_MN)):
        grid = []
        for a in keys:
            row = []
            for b in keys:
                name = f"{prefix}-{a}-{b}"
                p = os.path.join(out, name + ".json")
                row.append(best(load(out, name)) if os.path.exists(p) else None)
            grid.append(row)
        if any(v is not None for r in grid for v in r):
            write_png(os.path.join(dest, prefix + ".png"), grid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("task")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=100, help="gowalla only")
    ap.add_argument("--only", default="", help="gowalla: comma-separated run names")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.task == "summarize":
        summarize(a.out)
        return 0
    if a.task == "heatmaps":  # binary is ignored, data is the destination folder
        heatmaps(a.out, a.data)
        return 0
    best_c = (4, 4)
    if a.task in ("ml100k-grid-mn", "ml100k-seeds"):
        top = best_grid(a.out, "ml100k-grid-c", GRID_C)
        if top:
            best_c = (top[1], top[2])
    if a.task == "ml100k-seeds":
        top = best_grid(a.out, "ml100k-grid-mn", GRID_MN)
        jobs = jobs_for(a.task, a.data, best_c)
        if top:  # the paper's estimator at its best grid point
            jobs = [(n, [x for x in args]) for n, args in jobs]
            jobs = [(n, args[:args.index("-M")] + ["-M", str(top[1]), "-N", str(top[2])]
                     + args[args.index("-M") + 4:]) if "-paper-" in n else (n, args)
                    for n, args in jobs]
    else:
        jobs = jobs_for(a.task, a.data, best_c, a.epochs)
    if a.only:
        keep = set(a.only.split(","))
        jobs = [j for j in jobs if j[0] in keep]
    failed = 0
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        for name, status in ex.map(lambda j: run(a.binary, a.out, j[0], j[1], a.threads), jobs):
            print(f"{name}: {status}", flush=True)
            failed += status.startswith("failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The runs behind doc/results.md's paper-split sections: ml-100k ablation,
gowalla-paper (the paper's own Gowalla split) and LightGCN at depth.

    paper_runs.py VBPR_TRAIN DATA_DIR OUT_DIR run GROUP[,GROUP...] [--jobs 2]
    paper_runs.py - - OUT_DIR list GROUP        # the commands, one a line
    paper_runs.py - - OUT_DIR summarize         # Markdown tables of OUT_DIR
    paper_runs.py - - OUT_DIR plot DEST_DIR     # learning curves as PNG

Every run is a named `vbpr-train` command; it writes OUT_DIR/<name>.json
(vbpr-train --json), OUT_DIR/<name>.log and OUT_DIR/<name>.cmd (the
command with the data folder written as $D). Existing results are reused,
so a group resumes where it stopped. Runs are single-threaded
(VBPR_NUM_THREADS=1) and run at a lower priority (nice 10).
"""
import argparse
import concurrent.futures as cf
import json
import os
import shlex
import statistics
import subprocess
import sys

SEEDS = [1, 2, 3, 4, 5]
EVAL = ["--eval-every", "5", "--k", "20", "--quiet"]

# ---- ml-100k (the paper's split and protocol, as in reproduce.py) ----------
ML = ["--train", "$D/ml-100k/train.tsv", "--test", "$D/ml-100k/test.tsv",
      "--items-from", "$D/ml-100k/ratings.tsv", "--dim", "64", "--lr", "1e-3",
      "--batch", "1024", "--epochs", "100"] + EVAL
ML_ENC = {"mf": ["--encoder", "mf", "--l2", "1e-5"],
          "lgcn": ["--encoder", "lightgcn", "--layers", "1", "--l2", "1e-6"]}

# The four ingredients of the later reference code, on top of the paper's
# estimator (prototype, hard attention, c 4, M 2, N 4, no priors).
ING = {"elbo": [("--estimator", "elbo")],
       "easy": [("--neg-attention", "easy")],
       "priors": [("--prior-good", "1"), ("--prior-bad", "0.5")],
       "hard": [("--neg-hardness", "0.5")],
       # easy attention at c 4 with hardness 0.5 (tau 0.5) has the logits
       # s (1/tau * 0.5 - 1/4) = 0.75 s: hard attention at c_neg 4/3
       "T": [("--c-neg", "1.3333333")]}
PAPER = ["--loss", "variational", "--estimator", "prototype", "--neg-attention", "hard",
         "--c-pos", "4", "--c-neg", "4", "-M", "2", "-N", "4"]
ABLATION = [("bpr", None), ("paper", []), ("+elbo", ["elbo"]), ("+easy", ["easy"]),
            ("+priors", ["priors"]), ("+hardness", ["hard"]),
            ("all-elbo", ["easy", "priors", "hard"]), ("all-easy", ["elbo", "priors", "hard"]),
            ("all-priors", ["elbo", "easy", "hard"]), ("all-hardness", ["elbo", "easy", "priors"]),
            ("all", ["elbo", "easy", "priors", "hard"]), ("all-as-hard", ["elbo", "priors", "T"])]


def override(args, flag, value):
    """args with the value after flag replaced (one flag, one value)."""
    i = args.index(flag)
    return args[:i + 1] + [value] + args[i + 2:]


def ablation_args(parts):
    if parts is None:
        return ["--loss", "bpr"]
    args = list(PAPER)
    for p in parts:
        for flag, v in ING[p]:
            args = override(args, flag, v) if flag in args else args + [flag, v]
    return args


def ml100k_ablation(enc):
    return [(f"ml-{enc}-{label}-s{s}", ML + ML_ENC[enc] + ablation_args(parts) + ["--seed", str(s)])
            for label, parts in ABLATION for s in SEEDS]


# Settings are chosen on a validation split of ml-100k's training file
# (split_validation.py: half of each user's items rated >= 4, as the test
# set was made), one factor at a time around "all", seeds 1 and 2.
MLV = ["--train", "$V/train.tsv", "--test", "$V/valid.tsv", "--items-from",
       "$D/ml-100k/ratings.tsv"] + ML[6:]
ALL = ablation_args(["elbo", "easy", "priors", "hard"])
ML_VARIANTS = [("base", [])] + [
    (f"{flag.strip('-')}{v}", [(flag, v)]) for flag, vs in (
        ("-N", ("2", "8")), ("-M", ("1", "3")), ("--neg-hardness", ("0.25", "1")),
        ("--prior-good", ("0.5", "2")), ("--prior-bad", ("0.25", "1"))) for v in vs] + [
    (f"c{v}", [("--c-pos", v), ("--c-neg", v)]) for v in ("2", "8")]


# Round 2: the changes that helped, combined.
ML_VARIANTS2 = [
    ("h0.25-N8", [("--neg-hardness", "0.25"), ("-N", "8")]),
    ("h0.25-M3", [("--neg-hardness", "0.25"), ("-M", "3")]),
    ("h0.25-good2", [("--neg-hardness", "0.25"), ("--prior-good", "2")]),
    ("h0.25-cpos2", [("--neg-hardness", "0.25"), ("--c-pos", "2")]),
    ("h0.375", [("--neg-hardness", "0.375")]),
    ("cpos2", [("--c-pos", "2")]),
    ("h0.25-N8-M3-good2", [("--neg-hardness", "0.25"), ("-N", "8"), ("-M", "3"),
                           ("--prior-good", "2")]),
]


ML_TUNED = [("--neg-hardness", "0.25")]


def variant(args, changes):
    for flag, v in changes:
        args = override(args, flag, v)
    return args


def ml100k_valid(enc, variants=None):
    return [(f"mlv-{enc}-{label}-s{s}", MLV + ML_ENC[enc] + variant(ALL, ch) + ["--seed", str(s)])
            for label, ch in (variants or ML_VARIANTS) for s in (1, 2)]


# ---- gowalla-paper -----------------------------------------------------------
GP = ["--train", "$D/gowalla-paper/train.tsv", "--test", "$D/gowalla-paper/test.tsv",
      "--dim", "128", "--seed", "1"] + EVAL
GP_MF = ["--encoder", "mf", "--l2", "1e-6", "--optimizer", "lazy-adam", "--lr", "1e-3",
         "--batch", "2048"]
GP_VB = ["--loss", "variational", "-M", "2", "-N", "16", "--c", "8", "--estimator", "elbo",
         "--neg-attention", "easy", "--neg-hardness", "0.5"]


# Long runs print every epoch and evaluation to their log (no --quiet), so a
# run cut short still has its last measured evaluation.
GP_LONG = [a for a in GP if a != "--quiet"]


def gp_lgcn(layers, batch=8192, lr="2e-3", l2="5e-7"):
    return ["--encoder", "lightgcn", "--layers", str(layers), "--l2", l2, "--optimizer", "adam",
            "--lr", lr, "--batch", str(batch)]


def ep(n):
    return ["--epochs", str(n)]



def vb(est, c_neg, n=16, c_pos=10, m=2, attention="hard"):
    return ["--loss", "variational", "--estimator", est, "--neg-attention", attention,
            "-M", str(m), "-N", str(n), "--c-pos", str(c_pos), "--c-neg", str(c_neg)]


def gp_sweep_estimator():
    """Why the paper's estimator loses on Gowalla: estimator x c_neg, hard
    attention, N 16, 20 epochs (most telling first); then the paper's own
    Gowalla setting (N 15)."""
    grid = [("prototype", "0.1"), ("detached", "0.1"), ("elbo", "0.1"), ("elbo", "1"),
            ("prototype", "1"), ("prototype", "8"), ("detached", "1"), ("detached", "8"),
            ("elbo", "8")]
    jobs = [(f"gp-sweep-{est}-c{c}", GP + GP_MF + vb(est, c) + ep(20)) for est, c in grid]
    jobs.append(("gp-sweep-paper-n15", GP + GP_MF + vb("prototype", "0.1", n=15) + ep(20)))
    return jobs


def gp_sweep_n():
    """The paper's estimator and setting (c_pos 10, c_neg 0.1) at N 4 and 64."""
    return [(f"gp-sweep-prototype-c0.1-n{n}", GP + GP_MF + vb("prototype", "0.1", n=n) + ep(20))
            for n in (4, 64)]


def gp_fused(optim="sparse-adam", lr="1e-3", l2="1e-6"):
    """MF on the fused per-tuple path: the learning rate and L2 apply to each
    tuple's gradient (doc/train.md), so they are chosen anew."""
    return ["--encoder", "mf", "--fused", "--optimizer", optim, "--lr", lr, "--l2", l2,
            "--batch", "2048"]


def gp_fused_check():
    """The fused path against the batched path's gp-sweep-elbo-c0.1 (same
    loss, 20 epochs): does it reach the same accuracy per epoch?"""
    loss = vb("elbo", "0.1")
    return [(f"gp-fused-{o}-lr{lr}-l2{l2}", GP + gp_fused(o, lr, l2) + loss + ep(10))
            for o, lr, l2 in (("sparse-adam", "1e-3", "1e-6"), ("sparse-adam", "1e-3", "2e-3"),
                              ("adagrad", "0.05", "1e-6"))]


# The ablation on gowalla-paper (1 seed, 20 epochs), around GP_VB: the
# paper's estimator at c 8 plus ELBO, easy attention and the hardness prior
# (the good/bad priors are constant without ratings, so they are left out).
GP_PAPER = ["--loss", "variational", "--estimator", "prototype", "--neg-attention", "hard",
            "--c", "8", "-M", "2", "-N", "16"]
GP_ABLATION = [("paper", []), ("all", ["elbo", "easy", "hard"]), ("all-elbo", ["easy", "hard"]),
               ("all-easy", ["elbo", "hard"]), ("all-hardness", ["elbo", "easy"]),
               ("+elbo", ["elbo"]), ("+easy", ["easy"]), ("+hardness", ["hard"])]


def gp_ablation():
    jobs = []
    for label, parts in GP_ABLATION:
        args = list(GP_PAPER)
        for p in parts:
            for flag, v in ING[p]:
                args = override(args, flag, v) if flag in args else args + [flag, v]
        jobs.append((f"gp-abl-{label}", GP + GP_MF + args + ep(20)))
    return jobs


GROUPS = {
    "ml100k-ablation-mf": lambda: ml100k_ablation("mf"),
    "ml100k-ablation-lgcn": lambda: ml100k_ablation("lgcn"),
    "gp-lgcn": lambda: [(f"gp-lgcn{k}-vbpr", GP + gp_lgcn(k) + GP_VB + ep(100)) for k in (1, 2, 3)],
    "gp-bpr-lgcn": lambda: [("gp-lgcn1-bpr", GP + gp_lgcn(1) + ["--loss", "bpr"] + ep(100))],
    "gp-bpr-mf": lambda: [
        ("gp-mf-bpr", GP + GP_MF + ["--loss", "bpr"] + ep(100))],
    "gp-bpr-mf-tune": lambda: [
        ("gp-mf-bpr-l2-1e-5", GP + override(GP_MF, "--l2", "1e-5") + ["--loss", "bpr"] + ep(100)),
        ("gp-mf-bpr-lr3e-3", GP + override(GP_MF, "--lr", "3e-3") + ["--loss", "bpr"] + ep(100))],
    "gp-sweep-estimator": gp_sweep_estimator,
    "gp-sweep-n": gp_sweep_n,
    "gp-fused-check": gp_fused_check,
    "gp-ablation": gp_ablation,
    # depth at equal (few) epochs, where 100 epochs do not fit the time available
    "gp-lgcn-short": lambda: [(f"gp-lgcn{k}-vbpr-e5", GP_LONG + gp_lgcn(k) + GP_VB + ep(5))
                              for k in (2, 3)],
    # the paper's estimator's best loss (ELBO, hard, c_neg 0.1) over 100 epochs
    "gp-mf-elbo-hard": lambda: [
        ("gp-mf-elbo-hard-c0.1", GP_LONG + GP_MF + vb("elbo", "0.1") + ep(100))],
    "gp-mf-vbpr": lambda: [("gp-mf-vbpr", GP_LONG + GP_MF + GP_VB + ep(100))],
    "ml100k-valid-mf": lambda: ml100k_valid("mf"),
    "ml100k-valid2-mf": lambda: ml100k_valid("mf", ML_VARIANTS2),
    # the validation split's choice, on the test set
    "ml100k-tuned": lambda: [
        (f"ml-{enc}-tuned-s{s}", ML + ML_ENC[enc] + variant(ALL, ML_TUNED) + ["--seed", str(s)])
        for enc in ("mf", "lgcn") for s in SEEDS],
}


def command(args):
    """The command as the docs show it: $D (the data folder) left unquoted."""
    return "vbpr-train " + " ".join(a if a.startswith(("$D/", "$V/")) else shlex.quote(a) for a in args)


def expand(cmd, data, out):
    return [a.replace("$D", data).replace("$V", os.path.join(out, "ml-valid")) for a in cmd]


def run_one(binary, data, out, name, args):
    path = os.path.join(out, name + ".json")
    if os.path.exists(path):
        return name, "cached"
    with open(os.path.join(out, name + ".cmd"), "w") as f:
        f.write(command(args) + "\n")
    env = dict(os.environ, VBPR_NUM_THREADS="1")
    save = []
    if name.startswith(("gp-", "gw-")):  # kept for bench/attention/attention_stats
        os.makedirs(os.path.join(out, "models"), exist_ok=True)
        save = ["--save", os.path.join(out, "models", name + ".vbpr")]
    with open(os.path.join(out, name + ".log"), "w") as log:
        r = subprocess.run(["nice", "-n", "10", binary] + expand(args, data, out) + save + ["--json", path],
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    return name, "ok" if r.returncode == 0 else f"failed ({r.returncode})"


def jobs_of(groups):
    jobs = []
    for g in groups.split(","):
        if g not in GROUPS:
            raise SystemExit(f"unknown group {g}; known: {', '.join(GROUPS)}")
        jobs += GROUPS[g]()
    return jobs


def load(out, name):
    p = os.path.join(out, name + ".json")
    if not os.path.exists(p):
        return load_partial(out, name)
    with open(p) as f:
        return json.load(f)["runs"][-1]


def load_partial(out, name):
    """A run cut short (no JSON): its evaluations as its log printed them
    ("epoch  5  loss ...  recall@20 R  ndcg@20 N"), marked partial."""
    p = os.path.join(out, name + ".log")
    if not os.path.exists(p):
        return None
    history = []
    with open(p) as f:
        for line in f:
            w = line.split()
            if len(w) >= 8 and w[0] == "epoch" and w[4] == "recall@20" and w[6] == "ndcg@20":
                history.append({"epoch": int(w[1]), "recall": {"20": float(w[5])},
                                "ndcg": {"20": float(w[7])}})
    if not history:
        return None
    best = {m: {"20": max(({"value": h[m]["20"], "epoch": h["epoch"]} for h in history),
                          key=lambda b: b["value"])} for m in ("recall", "ndcg")}
    return {"epochs": history[-1]["epoch"], "history": history, "best": best,
            "partial": True, "train_seconds": float("nan")}


def best(run, metric):
    b = run["best"][metric]["20"]
    return b["value"], b["epoch"]


def mean_sd(v):
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)


def summarize_ablation(out, enc):
    rows = []
    base = None
    for label, _ in ABLATION + [("tuned", None)]:
        rs = [load(out, f"ml-{enc}-{label}-s{s}") for s in SEEDS]
        rs = [r for r in rs if r]
        if not rs:
            continue
        rec = mean_sd([best(r, "recall")[0] for r in rs])
        ndcg = mean_sd([best(r, "ndcg")[0] for r in rs])
        if label == "paper":
            base = rec[0]
        delta = f"{rec[0] - base:+.4f}" if base is not None and label != "bpr" else ""
        rows.append(f"| {label} | {len(rs)} | {rec[0]:.4f} ± {rec[1]:.4f} | {ndcg[0]:.4f} ± {ndcg[1]:.4f} | {delta} |")
    if rows:
        print(f"\nml-100k ablation, {enc}:\n")
        print("| configuration | seeds | Recall@20 | NDCG@20 | Recall vs paper |")
        print("| --- | --- | --- | --- | --- |")
        print("\n".join(rows))


def summarize_single(out, prefix):
    names = sorted({n.rsplit(".", 1)[0] for n in os.listdir(out)
                    if n.startswith(prefix) and n.endswith((".json", ".log"))})
    runs = [(n, load(out, n)) for n in names]
    runs = [(n, r) for n, r in runs if r]
    if not runs:
        return
    print(f"\n| run | epochs | Recall@20 (epoch) | NDCG@20 (epoch) | s/epoch |")
    print("| --- | --- | --- | --- | --- |")
    for n, r in runs:
        (rv, re), (nv, ne) = best(r, "recall"), best(r, "ndcg")
        epochs = f"{r['epochs']} (cut short)" if r.get("partial") else r["epochs"]
        print(f"| {n} | {epochs} | {rv:.4f} ({re}) | {nv:.4f} ({ne}) | "
              f"{r['train_seconds'] / max(1, r['epochs']):.1f} |")


def summarize_valid(out, enc):
    rows = []
    for label, _ in ML_VARIANTS + ML_VARIANTS2:
        rs = [load(out, f"mlv-{enc}-{label}-s{s}") for s in (1, 2)]
        rs = [r for r in rs if r]
        if rs:
            rec = statistics.mean(best(r, "recall")[0] for r in rs)
            ndcg = statistics.mean(best(r, "ndcg")[0] for r in rs)
            rows.append(f"| {label} | {len(rs)} | {rec:.4f} | {ndcg:.4f} |")
    if rows:
        print(f"\nml-100k validation split, {enc}, one change at a time from 'all':\n")
        print("| change | seeds | Recall@20 | NDCG@20 |")
        print("| --- | --- | --- | --- |")
        print("\n".join(rows))


def summarize_gp_ablation(out):
    rows, base = [], None
    for label, _ in [("bpr", None)] + GP_ABLATION:
        r = load(out, "gp-mf-bpr" if label == "bpr" else f"gp-abl-{label}")
        if not r:
            continue
        h20 = [h for h in r["history"] if h["epoch"] <= 20]
        rec = max(h["recall"]["20"] for h in h20)
        ndcg = max(h["ndcg"]["20"] for h in h20)
        base = rec if label == "paper" else base
        delta = f"{rec - base:+.4f}" if base is not None and label != "bpr" else ""
        rows.append(f"| {label} | {rec:.4f} | {ndcg:.4f} | {delta} |")
    if rows:
        print("\ngowalla-paper ablation, MF, seed 1, best of epochs 5-20:\n")
        print("| configuration | Recall@20 | NDCG@20 | Recall vs paper |")
        print("| --- | --- | --- | --- |")
        print("\n".join(rows))


def summarize(out):
    for enc in ML_ENC:
        summarize_ablation(out, enc)
        summarize_valid(out, enc)
    summarize_gp_ablation(out)
    for prefix in ("gp-", "gw-"):
        summarize_single(out, prefix)


def curve(run):
    return [h["epoch"] for h in run["history"]], [h["recall"]["20"] for h in run["history"]]


def plot(out, path, panels):
    """Recall@20 per evaluation, one panel per (title, [(run, label)], [(value, label)])."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), dpi=100)
    for ax, (title, series, refs) in zip(axes, panels):
        for name, label in series:
            r = load(out, name)
            if r:
                x, y = curve(r)
                label += " (cut short)" if r.get("partial") else ""
                ax.plot(x, y, marker="o", markersize=2.5, linewidth=1.2, label=label)
        for value, label in refs:
            ax.axhline(value, linestyle="--", linewidth=0.8, color="grey")
            ax.annotate(label, (0.01, value), xycoords=("axes fraction", "data"),
                        xytext=(0, 2), textcoords="offset points", fontsize=7, color="dimgrey")
        ax.set_xlabel("epoch")
        ax.set_ylabel("Recall@20")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# The learning curves doc/results.md shows (seed 1 for ml-100k).
PANELS = [
    ("ml-100k, MF d 64", [("ml-mf-bpr-s1", "BPR"), ("ml-mf-paper-s1", "paper's estimator (c 4)"),
                          ("ml-mf-all-s1", "ELBO + easy + priors + hardness")],
     [(0.3226, "paper BPR"), (0.3389, "paper VBPR")]),
    ("gowalla-paper, MF d 128", [("gp-mf-bpr", "BPR"),
                                 ("gp-sweep-prototype-c8", "paper's estimator, c_neg 8"),
                                 ("gp-sweep-prototype-c0.1", "paper's estimator, c_neg 0.1"),
                                 ("gp-mf-elbo-hard-c0.1", "ELBO, hard, c_neg 0.1"),
                                 ("gp-mf-vbpr", "ELBO, easy, hardness 0.5")],
     [(0.1408, "paper BPR"), (0.1974, "paper VBPR")]),
    ("gowalla-paper, LightGCN d 128", [("gp-lgcn1-bpr", "BPR, 1 layer")] +
     [(f"gp-lgcn{k}-vbpr", f"Variational BPR, {k} layer{'s' if k > 1 else ''}") for k in (1, 2, 3)] +
     [(f"gp-lgcn{k}-vbpr-e5", f"Variational BPR, {k} layers, 5 epochs") for k in (2, 3)],
     [(0.1756, "paper BPR"), (0.2151, "paper VBPR")]),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("task", choices=["run", "list", "summarize", "plot"])
    ap.add_argument("arg", nargs="?", default="")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated run names of the groups")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.task == "summarize":
        summarize(a.out)
        return 0
    if a.task == "plot":
        plot(a.out, a.arg, PANELS)
        return 0
    jobs = jobs_of(a.arg)
    if a.only:
        keep = set(a.only.split(","))
        jobs = [j for j in jobs if j[0] in keep]
    if a.task == "list":
        for name, args in jobs:
            print(f"{name}: {command(args)}")
        return 0
    failed = 0
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        for name, status in ex.map(lambda j: run_one(a.binary, a.data, a.out, *j), jobs):
            print(f"{name}: {status}", flush=True)
            failed += status.startswith("failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

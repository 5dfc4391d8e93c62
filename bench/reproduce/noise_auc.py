#!/usr/bin/env python3
"""How well a noise report (vbpr-train --noise-report) ranks the suspicious
interactions first, where the truth is known from the rating column.

    bench/reproduce/noise_auc.py REPORT [--below 4] [--label NAME]

An interaction counts as suspicious when its rating is below --below: 0.5
for the built-in synthetic data (rating 0 marks an injected false positive,
1 a true preference), 4 for ml-100k (the paper treats ratings below 4 as
likely false positives). Prints the share of suspicious interactions, the
ROC AUC of the ranking (the chance that a random suspicious interaction is
ranked before a random other one; 0.5 is chance) and the share of
suspicious interactions among the first 1%, 5% and 10% of the ranking, as
one Markdown table row.
"""
import argparse
import sys


def read(path):
    ratings = []
    with open(path) as f:
        header = None
        for line in f:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if header is None:
                header = cols
                continue
            ratings.append(float(cols[header.index("rating")]))
    return ratings  # in ranked order, most suspicious first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--below", type=float, default=0.5)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    ratings = read(a.report)
    bad = [r < a.below for r in ratings]
    n, nb = len(bad), sum(bad)
    if nb == 0 or nb == n:
        sys.exit("noise_auc: every interaction has the same label")
    seen_bad = pairs = 0
    for b in bad:  # pairs (suspicious, other) with the suspicious one first
        if b:
            seen_bad += 1
        else:
            pairs += seen_bad
    auc = pairs / (nb * (n - nb))
    tops = [sum(bad[: max(1, int(n * q))]) / max(1, int(n * q)) for q in (0.01, 0.05, 0.10)]
    print(f"| {a.label} | {n} | {nb / n:.3f} | {auc:.4f} | "
          + " | ".join(f"{t:.3f}" for t in tops) + " |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Holds out a validation set from a training file, so that settings are
chosen without looking at the test set.

    split_validation.py TRAIN.tsv OUT_DIR [--fraction 0.5] [--min-rating 4] [--seed 1]

Reads a `user item rating` table (header line, tab-separated) and writes
OUT_DIR/train.tsv and OUT_DIR/valid.tsv. Like ml-100k's test set (half of
each user's items rated >= 4, the rest of the data in training), the
validation set takes `fraction` of each user's training items rated
>= min-rating (at least one item stays in training). With --min-rating 0
every item qualifies (implicit data such as Gowalla).
"""
import argparse
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("out")
    ap.add_argument("--fraction", type=float, default=0.5)
    ap.add_argument("--min-rating", type=float, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    with open(a.train) as f:
        header = f.readline()
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    by_user = {}
    for r in rows:
        by_user.setdefault(int(r[0]), []).append(r)
    rng = random.Random(a.seed)
    train, valid = [], []
    for u in sorted(by_user):
        items = by_user[u]
        good = [r for r in items if float(r[2]) >= a.min_rating]
        k = min(int(round(a.fraction * len(good))), len(items) - 1)
        held = set(id(r) for r in rng.sample(good, k)) if k > 0 else set()
        for r in items:
            (valid if id(r) in held else train).append(r)
    os.makedirs(a.out, exist_ok=True)
    for name, part in (("train.tsv", train), ("valid.tsv", valid)):
        with open(os.path.join(a.out, name), "w") as f:
            f.write(header)
            f.writelines("\t".join(r) + "\n" for r in part)
    print(f"{len(train)} training, {len(valid)} validation interactions, {len(by_user)} users")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What a Python host pays per tuple on the fused path
(vbpr.Optimizer.step_tuples) as a function of the tuples per call: the
argument checks and the ctypes call are paid once per call, the C loop
once per tuple. The same tuples are fed in calls of T = 1, 4, 16, 64, 256
and 4096 tuples, in interleaved rounds; printed: the median over the
rounds of ns per tuple, and its ratio to the T = 4096 row measured in the
same round (the C loop's own cost).

usage: fused_calls.py [--loss bpr|variational|infonce] [-M 1] [-N 1]
                      [-d 64] [--tuples 16384] [--rounds 7] [--threads 1]
"""
import argparse
import statistics
import time

import numpy as np

import vbpr

SIZES = (1, 4, 16, 64, 256, 4096)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loss", default="bpr")
    ap.add_argument("-M", type=int, default=1)
    ap.add_argument("-N", type=int, default=1)
    ap.add_argument("-d", type=int, default=64)
    ap.add_argument("--users", type=int, default=30000)
    ap.add_argument("--items", type=int, default=40000)
    ap.add_argument("--tuples", type=int, default=16384)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    vbpr.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    loss = vbpr.Loss(a.loss) if a.loss == "bpr" else \
        vbpr.Loss(a.loss, **({"num_pos": a.M} if a.loss == "variational" else {}),
                  num_neg=a.N)
    m, n = loss.M, loss.N
    ut = (0.01 * rng.standard_normal((a.users, a.d))).astype(np.float32)
    it = (0.01 * rng.standard_normal((a.items, a.d))).astype(np.float32)
    users = rng.integers(0, a.users, a.tuples, dtype=np.int32)
    pos = rng.integers(0, a.items, (a.tuples, m), dtype=np.int32)
    neg = rng.integers(0, a.items, (a.tuples, n), dtype=np.int32)
    opt = vbpr.Optimizer("sgd", lr=0.01)
    ns = {t: [] for t in SIZES}
    for _ in range(a.rounds):
        for t in SIZES:
            start = time.perf_counter_ns()
            for b in range(0, a.tuples, t):
                opt.step_tuples(loss, ut, it, users[b:b + t], pos[b:b + t], neg[b:b + t])
            ns[t].append((time.perf_counter_ns() - start) / a.tuples)
    base = [x for x in ns[SIZES[-1]]]
    print(f"# {a.loss} M={m} N={n} d={a.d} tables {a.users}x{a.items}, {a.tuples} tuples, "
          f"{a.rounds} rounds, {vbpr.get_num_threads()} thread(s)")
    print(f"{'T per call':>10} {'ns/tuple':>10} {'x T=4096':>9}")
    for t in SIZES:
        ratio = statistics.median(x / y for x, y in zip(ns[t], base))
        print(f"{t:>10} {statistics.median(ns[t]):>10.0f} {ratio:>9.2f}")


if __name__ == "__main__":
    main()
